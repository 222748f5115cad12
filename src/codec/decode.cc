#include "codec/decode.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>
#include <utility>

#include "common/json_writer.h"
#include "fmt/core.h"
#include "simdjson.h"

namespace evs::codec {
namespace {

constexpr size_t kInitialCapacity = 4096;
// Up to this many fields duplicates are found by a quadratic scan (no
// allocation); above it by sorting, so huge objects cannot cost O(n^2).
constexpr size_t kLinearDuplicateScanMax = 32;
// Longest key or token quoted in an error message.
constexpr size_t kMaxQuotedBytes = 64;

bool Fail(EventError* err, const char* code, std::string message) {
  err->stage = "decode";
  err->code = code;
  err->message = std::move(message);
  return false;
}

// Offset of the first byte that does not start a valid UTF-8 sequence
// (overlongs, surrogates and code points above U+10FFFF are invalid), or
// s.size() if all is valid. Only used to explain a failure.
size_t FirstInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return n;
}

bool FailUtf8(std::string_view bytes, EventError* err) {
  const size_t at = FirstInvalidUtf8(bytes);
  if (at < bytes.size()) {
    return Fail(err, "invalid_utf8",
                fmt::format("value is not valid UTF-8: bad byte 0x{:02x} at offset {}",
                            static_cast<unsigned char>(bytes[at]), at));
  }
  return Fail(err, "invalid_utf8", "value is not valid UTF-8");
}

// `s` as a JSON string literal for a message, cut to kMaxQuotedBytes on a
// UTF-8 boundary. `s` may be arbitrary bytes (tokens of invalid documents).
std::string Quote(std::string_view s) {
  bool cut = false;
  if (s.size() > kMaxQuotedBytes) {
    size_t end = kMaxQuotedBytes;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    s = s.substr(0, end);
    cut = true;
  }
  std::string out;
  if (FirstInvalidUtf8(s) == s.size()) {
    AppendJsonString(s, &out);
  } else {
    out = fmt::format("<{} bytes>", s.size());
  }
  if (cut) out += "...";
  return out;
}

std::string_view StripNewline(std::string_view s) {
  if (!s.empty() && s.back() == '\n') {
    s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  }
  return s;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Ends an atom (number, literal, or garbage) in the lexical scans below.
bool EndsAtom(char c) {
  return IsJsonSpace(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' ||
         c == '"';
}

// Index just past the string literal whose opening quote is at s[i], or
// npos if it is unterminated.
size_t SkipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// A lexical pass over a document simdjson rejected, to tell error kinds
// apart. Iterative: nesting costs a counter, not stack.
struct LexicalScan {
  size_t max_depth = 0;
  // End of the first complete top-level value, or npos.
  size_t first_end = std::string_view::npos;
};

LexicalScan ScanJson(std::string_view s) {
  LexicalScan r;
  size_t depth = 0;
  size_t i = 0;
  const size_t n = s.size();
  auto value_ended = [&](size_t end) {
    if (depth == 0 && r.first_end == std::string_view::npos) r.first_end = end;
  };
  while (i < n) {
    const char c = s[i];
    if (c == '"') {
      i = SkipString(s, i);
      if (i == std::string_view::npos) break;
      value_ended(i);
    } else if (c == '{' || c == '[') {
      // Like simdjson, an empty {} or [] is a leaf and adds no level.
      size_t next = i + 1;
      while (next < n && IsJsonSpace(s[next])) ++next;
      if (next < n && s[next] == (c == '{' ? '}' : ']')) {
        i = next + 1;
        value_ended(i);
      } else {
        r.max_depth = std::max(r.max_depth, ++depth);
        ++i;
      }
    } else if (c == '}' || c == ']') {
      ++i;
      if (depth > 0) {
        --depth;
        value_ended(i);
      }
    } else if (IsJsonSpace(c) || c == ',' || c == ':') {
      ++i;
    } else {
      while (i < n && !EndsAtom(s[i])) ++i;
      value_ended(i);
    }
  }
  return r;
}

// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumberSyntax(std::string_view t) {
  size_t i = 0;
  const size_t n = t.size();
  auto digits = [&] {
    const size_t start = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && t[i] == '-') ++i;
  if (i < n && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

// Calls f(offset, token) for each atom outside string literals (numbers,
// literals, garbage) in order, until f returns false.
template <typename F>
void ForEachAtom(std::string_view doc, F f) {
  size_t i = 0;
  while (i < doc.size()) {
    if (doc[i] == '"') {
      i = SkipString(doc, i);
      if (i == std::string_view::npos) return;
    } else if (EndsAtom(doc[i])) {
      ++i;
    } else {
      const size_t start = i;
      while (i < doc.size() && !EndsAtom(doc[i])) ++i;
      if (!f(start, doc.substr(start, i - start))) return;
    }
  }
}

bool StartsNumber(std::string_view token) {
  return !token.empty() && (token[0] == '-' || (token[0] >= '0' && token[0] <= '9'));
}

// A well-formed integer literal outside [INT64_MIN, UINT64_MAX], which
// simdjson 3.0 rejects (NUMBER_ERROR) although JSON allows it.
bool IsBigInteger(std::string_view token) {
  if (!IsJsonNumberSyntax(token) || token.find_first_of(".eE") != std::string_view::npos) {
    return false;
  }
  const char* end = token.data() + token.size();
  std::errc ec;
  if (token[0] == '-') {
    int64_t v;
    ec = std::from_chars(token.data(), end, v).ec;
  } else {
    uint64_t v;
    ec = std::from_chars(token.data(), end, v).ec;
  }
  return ec == std::errc::result_out_of_range;
}

// Copies doc to *out with ".0" after every big integer so that simdjson reads
// them as doubles, like all other numbers. False (and *out unspecified) if
// doc has none.
bool WidenBigIntegers(std::string_view doc, std::string* out) {
  out->clear();
  size_t copied = 0;
  ForEachAtom(doc, [&](size_t start, std::string_view token) {
    if (StartsNumber(token) && IsBigInteger(token)) {
      const size_t end = start + token.size();
      out->append(doc.substr(copied, end - copied));
      out->append(".0");
      copied = end;
    }
    return true;
  });
  if (copied == 0) return false;
  out->append(doc.substr(copied));
  return true;
}

}  // namespace

struct JsonDecoder::State {
  simdjson::dom::parser parser;
  size_t parser_depth = 0;  // simdjson counts the document itself as a level
  std::unique_ptr<char[]> buf;
  size_t buf_cap = 0;
  std::vector<std::string_view> keys;  // scratch for duplicate detection
  std::string widened;                 // scratch for WidenBigIntegers

  // Copies bytes into the reusable buffer followed by SIMDJSON_PADDING zeros.
  void Pad(std::string_view bytes) {
    const size_t need = bytes.size() + simdjson::SIMDJSON_PADDING;
    if (need > buf_cap) {
      buf_cap = std::max(need, 2 * buf_cap);
      buf.reset(new char[buf_cap]);
    }
    std::memcpy(buf.get(), bytes.data(), bytes.size());
    std::memset(buf.get() + bytes.size(), 0, simdjson::SIMDJSON_PADDING);
  }

  // Parses doc; integers beyond 64 bits are read as doubles (a second parse
  // of a rewritten copy, only for documents that have them).
  simdjson::error_code Parse(std::string_view doc, simdjson::dom::element* root) {
    Pad(doc);
    simdjson::error_code code =
        parser.parse(buf.get(), doc.size(), /*realloc_if_needed=*/false).get(*root);
    if (code == simdjson::error_code::NUMBER_ERROR && WidenBigIntegers(doc, &widened)) {
      Pad(widened);
      code = parser.parse(buf.get(), widened.size(), /*realloc_if_needed=*/false).get(*root);
    }
    return code;
  }

  // Explains why simdjson rejected doc.
  bool Diagnose(simdjson::error_code code, std::string_view doc, uint32_t max_depth,
                EventError* err);
  // For NUMBER_ERROR: fills *err from the first number token that is
  // malformed or out of range; false if there is none.
  bool DiagnoseNumber(std::string_view doc, EventError* err);
};

bool JsonDecoder::State::Diagnose(simdjson::error_code code, std::string_view doc,
                                  uint32_t max_depth, EventError* err) {
  using simdjson::error_code;
  switch (code) {
    case error_code::UTF8_ERROR: return FailUtf8(doc, err);
    case error_code::EMPTY:
      return Fail(err, "empty_value", "value contains only whitespace, no JSON");
    case error_code::CAPACITY:
    case error_code::MEMALLOC:
      return Fail(err, "internal_error",
                  fmt::format("JSON parser could not allocate for {} bytes: {}", doc.size(),
                              simdjson::error_message(code)));
    default: break;
  }
  // simdjson reports unclosed deep nesting as a structure error, so depth is
  // judged lexically first.
  const LexicalScan scan = ScanJson(doc);
  if (code == error_code::DEPTH_ERROR || scan.max_depth > max_depth) {
    return Fail(err, "too_deep",
                fmt::format("JSON nests objects/arrays deeper than the limit of {}", max_depth));
  }
  if (scan.first_end != std::string_view::npos) {
    size_t rest = scan.first_end;
    while (rest < doc.size() && IsJsonSpace(doc[rest])) ++rest;
    simdjson::dom::element ignored;
    if (rest < doc.size() &&
        Parse(doc.substr(0, scan.first_end), &ignored) == error_code::SUCCESS) {
      return Fail(err, "trailing_bytes",
                  fmt::format("{} unexpected byte(s) after the JSON value, starting at offset {}",
                              doc.size() - rest, rest));
    }
  }
  if (code == error_code::NUMBER_ERROR && DiagnoseNumber(doc, err)) return false;
  return Fail(err, "invalid_json",
              fmt::format("invalid JSON: {}", simdjson::error_message(code)));
}

bool JsonDecoder::State::DiagnoseNumber(std::string_view doc, EventError* err) {
  bool found = false;
  ForEachAtom(doc, [&](size_t start, std::string_view token) {
    if (!StartsNumber(token)) return true;  // a literal such as true
    if (!IsJsonNumberSyntax(token)) {
      Fail(err, "invalid_json",
           fmt::format("invalid JSON: malformed number {} at offset {}", Quote(token), start));
      found = true;
      return false;
    }
    // Well-formed: ask simdjson alone whether it can represent it (as a
    // double, for big integers).
    simdjson::padded_string alone(std::string(token) + (IsBigInteger(token) ? ".0" : ""));
    simdjson::dom::element ignored;
    if (parser.parse(alone).get(ignored) == simdjson::error_code::NUMBER_ERROR) {
      Fail(err, "number_out_of_range",
           fmt::format("number {} at offset {} is outside the range of a double", Quote(token),
                       start));
      found = true;
      return false;
    }
    return true;
  });
  return found;
}

JsonDecoder::JsonDecoder(uint32_t max_depth)
    : max_depth_(std::max<uint32_t>(max_depth, 1)), state_(std::make_unique<State>()) {
  state_->parser_depth = size_t{max_depth_} + 1;
  // On failure max_depth() stays unset; Decode retries and reports it.
  const simdjson::error_code ignored =
      state_->parser.allocate(kInitialCapacity, state_->parser_depth);
  static_cast<void>(ignored);
}

JsonDecoder::~JsonDecoder() = default;
JsonDecoder::JsonDecoder(JsonDecoder&&) noexcept = default;
JsonDecoder& JsonDecoder::operator=(JsonDecoder&&) noexcept = default;

namespace {

Value ElementToValue(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    // The type was just checked, so the accessors cannot fail.
    case element_type::INT64:
      return Value::Number(static_cast<double>(e.get_int64().value_unsafe()));
    case element_type::UINT64:
      return Value::Number(static_cast<double>(e.get_uint64().value_unsafe()));
    case element_type::DOUBLE: return Value::Number(e.get_double().value_unsafe());
    case element_type::STRING: return Value::String(std::string(e.get_string().value_unsafe()));
    case element_type::BOOL: return Value::Bool(e.get_bool().value_unsafe());
    case element_type::NULL_VALUE: return Value::Null();
    case element_type::ARRAY:
    case element_type::OBJECT: return Value::Raw(simdjson::to_string(e));
  }
  return Value::Null();
}

const char* JsonTypeName(simdjson::dom::element_type t) {
  using simdjson::dom::element_type;
  switch (t) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
    default: return "a number";
  }
}

}  // namespace

namespace {

// Fills *out from obj's fields in document order (only the names in `only`,
// if given) and refuses duplicate keys among all of obj's keys. `keys` is
// scratch.
bool ObjectToRecord(simdjson::dom::object obj, Record* out, const std::vector<std::string>* only,
                    std::vector<std::string_view>* keys, EventError* err) {
  keys->clear();
  for (simdjson::dom::key_value_pair kv : obj) {
    keys->push_back(kv.key);
    if (only != nullptr && std::find(only->begin(), only->end(), kv.key) == only->end()) continue;
    out->Append(std::string(kv.key), ElementToValue(kv.value));
  }
  if (keys->size() <= kLinearDuplicateScanMax) {
    for (size_t j = 1; j < keys->size(); ++j) {
      for (size_t i = 0; i < j; ++i) {
        if ((*keys)[i] == (*keys)[j]) {
          return Fail(err, "duplicate_key",
                      fmt::format("key {} appears more than once", Quote((*keys)[j])));
        }
      }
    }
  } else {
    std::sort(keys->begin(), keys->end());
    auto dup = std::adjacent_find(keys->begin(), keys->end());
    if (dup != keys->end()) {
      return Fail(err, "duplicate_key", fmt::format("key {} appears more than once", Quote(*dup)));
    }
  }
  return true;
}

}  // namespace

bool JsonDecoder::ParseObject(std::string_view bytes, void* obj_out, EventError* err) {
  if (bytes.empty()) return Fail(err, "empty_value", "value is empty (0 bytes)");
  State& st = *state_;
  if (st.parser.max_depth() != st.parser_depth) {
    // Only after a failed allocation: without one simdjson would fall back
    // to its default depth limit.
    const auto code =
        st.parser.allocate(std::max(bytes.size(), kInitialCapacity), st.parser_depth);
    if (code != simdjson::error_code::SUCCESS) return st.Diagnose(code, bytes, max_depth_, err);
  }
  simdjson::dom::element root;
  const simdjson::error_code code = st.Parse(bytes, &root);
  if (code != simdjson::error_code::SUCCESS) return st.Diagnose(code, bytes, max_depth_, err);
  auto* obj = static_cast<simdjson::dom::object*>(obj_out);
  if (root.get(*obj) != simdjson::error_code::SUCCESS) {
    return Fail(err, "not_an_object",
                fmt::format("top-level JSON value is {}, expected an object",
                            JsonTypeName(root.type())));
  }
  return true;
}

bool JsonDecoder::Decode(std::string_view bytes, Record* out, EventError* err,
                         const std::vector<std::string>* only) {
  out->Clear();
  simdjson::dom::object obj;
  if (!ParseObject(bytes, &obj, err)) return false;
  // Every key takes part in the duplicate check; only the wanted ones (all
  // without `only`) are materialized.
  return ObjectToRecord(obj, out, only, &state_->keys, err);
}

bool JsonDecoder::DecodeMembers(std::string_view bytes, Member* members, size_t n,
                                EventError* err) {
  for (size_t i = 0; i < n; ++i) {
    members[i].out->Clear();
    members[i].found = false;
  }
  simdjson::dom::object obj;
  if (!ParseObject(bytes, &obj, err)) return false;
  std::vector<std::string_view>& keys = state_->keys;
  // Top-level duplicates first (nothing materialized): a repeated member
  // name must not be decoded from whichever copy comes first.
  static const std::vector<std::string> kNoFields;
  Record none;
  if (!ObjectToRecord(obj, &none, &kNoFields, &keys, err)) return false;
  for (size_t i = 0; i < n; ++i) {
    simdjson::dom::object sub;
    if (obj.at_key(members[i].name).get(sub) != simdjson::error_code::SUCCESS) continue;
    members[i].found = true;
    if (!ObjectToRecord(sub, members[i].out, members[i].only, &keys, err)) return false;
  }
  return true;
}

namespace {

// An unquoted CSV cell: empty is Null, a whole finite number is Number.
Value CsvCellValue(std::string_view cell) {
  if (cell.empty()) return Value::Null();
  double d = 0;
  const char* end = cell.data() + cell.size();
  auto [ptr, ec] = std::from_chars(cell.data(), end, d);
  if (ec == std::errc() && ptr == end && std::isfinite(d)) return Value::Number(d);
  return Value::String(std::string(cell));
}

}  // namespace

bool DecodeCsv(std::string_view line, const std::vector<std::string>& columns, char delimiter,
               Record* out, EventError* err) {
  out->Clear();
  if (line.empty()) return Fail(err, "empty_value", "value is empty (0 bytes)");
  if (!simdjson::validate_utf8(line.data(), line.size())) return FailUtf8(line, err);
  line = StripNewline(line);

  const size_t n = line.size();
  size_t cells = 0;
  size_t i = 0;
  while (true) {
    if (i < n && line[i] == '"') {
      const size_t start = i;
      std::string cell;
      ++i;
      while (true) {
        const size_t q = line.find('"', i);
        if (q == std::string_view::npos) {
          return Fail(err, "invalid_csv",
                      fmt::format("CSV cell {} has an unterminated quote starting at offset {}",
                                  cells + 1, start));
        }
        cell.append(line.substr(i, q - i));
        if (q + 1 < n && line[q + 1] == '"') {  // "" is an escaped quote
          cell.push_back('"');
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < n && line[i] != delimiter) {
        return Fail(err, "invalid_csv",
                    fmt::format("CSV cell {} has unexpected text after its closing quote at "
                                "offset {}",
                                cells + 1, i));
      }
      if (cells < columns.size()) out->Append(columns[cells], Value::String(std::move(cell)));
    } else {
      size_t end = line.find(delimiter, i);
      if (end == std::string_view::npos) end = n;
      if (cells < columns.size()) {
        out->Append(columns[cells], CsvCellValue(line.substr(i, end - i)));
      }
      i = end;
    }
    ++cells;
    if (i >= n) break;
    ++i;  // past the delimiter; one at the very end starts a final empty cell
  }
  if (cells != columns.size()) {
    return Fail(err, "csv_columns",
                fmt::format("CSV record has the wrong number of cells: expected {} (one per "
                            "column), got {}",
                            columns.size(), cells));
  }
  return true;
}

bool DecodeText(std::string_view bytes, const std::string& field, Record* out, EventError* err) {
  out->Clear();
  if (bytes.empty()) return Fail(err, "empty_value", "value is empty (0 bytes)");
  if (!simdjson::validate_utf8(bytes.data(), bytes.size())) return FailUtf8(bytes, err);
  out->Append(field, Value::String(std::string(StripNewline(bytes))));
  return true;
}

}  // namespace evs::codec
