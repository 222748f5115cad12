#include "service/protocol.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "common/json_writer.h"
#include "simdjson.h"

namespace evs::service {

namespace dom = simdjson::dom;

namespace {

// For accessors whose type was checked just before.
void Ignore(simdjson::error_code) {}

// String building for messages (Debian's abseil predates std::string_view
// in absl::StrCat).
template <typename T>
void AppendPiece(std::string* s, const T& v) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    s->append(std::string_view(v));
  } else if constexpr (requires { std::string_view(v.data(), v.size()); }) {
    s->append(v.data(), v.size());  // absl::string_view
  } else if constexpr (std::is_same_v<T, bool>) {
    s->append(v ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    s->append(std::to_string(v));
  } else {
    static_assert(std::is_floating_point_v<T>);
    AppendJsonNumber(v, s);
  }
}
template <typename... Args>
void Append(std::string* s, const Args&... args) {
  (AppendPiece(s, args), ...);
}
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string s;
  Append(&s, args...);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// Data types

namespace {

struct DTypeInfo {
  DType type;
  const char* v2;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kBool, "BOOL"},     {DType::kInt8, "INT8"},     {DType::kInt16, "INT16"},
    {DType::kInt32, "INT32"},   {DType::kInt64, "INT64"},   {DType::kUint8, "UINT8"},
    {DType::kUint16, "UINT16"}, {DType::kUint32, "UINT32"}, {DType::kUint64, "UINT64"},
    {DType::kFp16, "FP16"},     {DType::kFp32, "FP32"},     {DType::kFp64, "FP64"},
    {DType::kBytes, "BYTES"},
};

// TensorFlow spellings (lower case, after an optional "dt_" prefix).
struct TfAlias {
  const char* name;
  DType type;
};
constexpr TfAlias kTfAliases[] = {
    {"float16", DType::kFp16}, {"half", DType::kFp16},    {"float32", DType::kFp32},
    {"float", DType::kFp32},   {"float64", DType::kFp64}, {"double", DType::kFp64},
    {"string", DType::kBytes}, {"bytes", DType::kBytes},
};

bool IsFloat(DType t) { return t == DType::kFp16 || t == DType::kFp32 || t == DType::kFp64; }

// Inclusive range of an integer dtype, as doubles (exact: all are powers of
// two or small). The upper bounds of the 64-bit types are exclusive: 2^63
// and 2^64 are representable doubles but not values of the type.
struct IntRange {
  double lo;
  double hi;
  bool hi_exclusive;
};
bool IntegerRange(DType t, IntRange* r) {
  switch (t) {
    case DType::kInt8:
      *r = {-128.0, 127.0, false};
      return true;
    case DType::kInt16:
      *r = {-32768.0, 32767.0, false};
      return true;
    case DType::kInt32:
      *r = {-2147483648.0, 2147483647.0, false};
      return true;
    case DType::kInt64:
      *r = {-9223372036854775808.0, 9223372036854775808.0, true};
      return true;
    case DType::kUint8:
      *r = {0, 255.0, false};
      return true;
    case DType::kUint16:
      *r = {0, 65535.0, false};
      return true;
    case DType::kUint32:
      *r = {0, 4294967295.0, false};
      return true;
    case DType::kUint64:
      *r = {0, 18446744073709551616.0, true};
      return true;
    default:
      return false;
  }
}

}  // namespace

bool ParseDType(std::string_view name, DType* out) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  for (const DTypeInfo& d : kDTypes) {
    if (lower == absl::AsciiStrToLower(d.v2)) {
      *out = d.type;
      return true;
    }
  }
  std::string_view tf = lower;
  if (tf.substr(0, 3) == "dt_") tf.remove_prefix(3);
  for (const DTypeInfo& d : kDTypes) {
    // TF's integer and bool names are the v2 names in lower case.
    if (d.type != DType::kBytes && !IsFloat(d.type) && tf == absl::AsciiStrToLower(d.v2)) {
      *out = d.type;
      return true;
    }
  }
  for (const TfAlias& a : kTfAliases) {
    if (tf == a.name) {
      *out = a.type;
      return true;
    }
  }
  return false;
}

const char* DTypeName(DType t) {
  for (const DTypeInfo& d : kDTypes)
    if (d.type == t) return d.v2;
  return "?";
}

// ---------------------------------------------------------------------------
// URLs

namespace {

// Percent-encodes a path segment; model names and versions are normally
// unreserved characters only and come out unchanged.
void AppendSegment(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

std::string_view TrimBase(std::string_view base) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return base;
}

// <base>/v1/models/<m>[/versions/<v>] or <base>/v2/models/<m>[/versions/<v>].
std::string ModelPath(Protocol p, const ModelRef& m) {
  std::string url(TrimBase(m.base_url));
  url.append(p == Protocol::kV2 ? "/v2/models/" : "/v1/models/");
  AppendSegment(m.model, &url);
  if (!m.version.empty()) {
    url.append("/versions/");
    AppendSegment(m.version, &url);
  }
  return url;
}

}  // namespace

std::string InferUrl(Protocol p, const ModelRef& m) {
  return ModelPath(p, m) + (p == Protocol::kV2 ? "/infer" : ":predict");
}

std::string ModelReadyUrl(Protocol p, const ModelRef& m) {
  return p == Protocol::kV2 ? ModelPath(p, m) + "/ready" : ModelPath(p, m);
}

std::string MetadataUrl(Protocol p, const ModelRef& m) {
  return p == Protocol::kV2 ? ModelPath(p, m) : ModelPath(p, m) + "/metadata";
}

std::string ServerReadyUrl(Protocol p, const ModelRef& m) {
  if (p == Protocol::kV2) return std::string(TrimBase(m.base_url)) + "/v2/health/ready";
  return ModelReadyUrl(p, m);
}

// ---------------------------------------------------------------------------
// JSON reading helpers

namespace {

// Offset of the first byte at which s stops being JSON (s.size() when it
// ends early), or npos when its grammar is fine and simdjson objected to
// something else (UTF-8, nesting depth, number range). Iterative: nesting
// costs one byte of stack per level.
size_t JsonSyntaxErrorOffset(std::string_view s) {
  enum State { kValue, kValueOrClose, kKeyOrClose, kKey, kColon, kCommaOrClose, kEnd };
  constexpr size_t npos = std::string_view::npos;
  const size_t n = s.size();
  std::string stack;  // '{' or '[' per open container
  State state = kValue;
  size_t i = 0;
  auto after_value = [&] { state = stack.empty() ? kEnd : kCommaOrClose; };
  // Returns npos on success (i past the closing quote), else the bad offset.
  auto skip_string = [&]() -> size_t {
    for (++i; i < n; ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '"') {
        ++i;
        return npos;
      }
      if (c < 0x20) return i;
      if (c == '\\') {
        if (++i >= n) return n;
        const char e = s[i];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (++i >= n) return n;
            if (!absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) return i;
          }
        } else if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') {
          return i;
        }
      }
    }
    return n;
  };
  auto digits = [&]() -> bool {
    const size_t start = i;
    while (i < n && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > start;
  };
  while (true) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    if (i >= n) return state == kEnd ? npos : n;
    const char c = s[i];
    switch (state) {
      case kEnd:
        return i;
      case kColon:
        if (c != ':') return i;
        ++i;
        state = kValue;
        continue;
      case kCommaOrClose:
        if (c == ',') {
          ++i;
          state = stack.back() == '{' ? kKey : kValue;
        } else if ((c == '}' && stack.back() == '{') || (c == ']' && stack.back() == '[')) {
          ++i;
          stack.pop_back();
          after_value();
        } else {
          return i;
        }
        continue;
      case kKeyOrClose:
      case kKey:
        if (c == '}' && state == kKeyOrClose) {
          ++i;
          stack.pop_back();
          after_value();
          continue;
        }
        if (c != '"') return i;
        if (size_t bad = skip_string(); bad != npos) return bad;
        state = kColon;
        continue;
      case kValueOrClose:
        if (c == ']') {
          ++i;
          stack.pop_back();
          after_value();
          continue;
        }
        [[fallthrough]];
      case kValue:
        if (c == '{' || c == '[') {
          stack.push_back(c);
          ++i;
          state = c == '{' ? kKeyOrClose : kValueOrClose;
        } else if (c == '"') {
          if (size_t bad = skip_string(); bad != npos) return bad;
          after_value();
        } else if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
          if (c == '-') ++i;
          if (i < n && s[i] == '0') {
            ++i;
          } else if (!digits()) {
            return i;
          }
          if (i < n && s[i] == '.') {
            ++i;
            if (!digits()) return i;
          }
          if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            ++i;
            if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
            if (!digits()) return i;
          }
          after_value();
        } else {
          const char* lit = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : nullptr;
          if (lit == nullptr) return i;
          for (const char* p = lit; *p != '\0'; ++p, ++i) {
            if (i >= n) return n;
            if (s[i] != *p) return i;
          }
          after_value();
        }
        continue;
    }
  }
}

// Nesting limit for answers: far beyond any tensor's rank, and it bounds the
// recursion of the writers below.
constexpr size_t kMaxJsonDepth = 128;
// Rank limit of a per-row shape (AppendNested recurses once per dim).
constexpr size_t kMaxRank = 64;

// Parses body into *doc (which owns the padded copy and the DOM).
struct ParsedJson {
  simdjson::padded_string padded;
  dom::parser parser;
  dom::element root;
};

absl::Status ParseJson(std::string_view body, std::string_view what, ParsedJson* p) {
  p->padded = simdjson::padded_string(body);
  simdjson::error_code code = p->parser.allocate(std::max<size_t>(body.size(), 64), kMaxJsonDepth);
  if (code == simdjson::SUCCESS) code = p->parser.parse(p->padded).get(p->root);
  if (code == simdjson::SUCCESS) return absl::OkStatus();
  std::string msg = Cat(what, " is not JSON: ", simdjson::error_message(code));
  if (code == simdjson::EMPTY) {
    msg = Cat(what, " is not JSON: the body is empty");
  } else if (code == simdjson::DEPTH_ERROR) {
    msg = Cat(what, " nests arrays/objects deeper than ", kMaxJsonDepth, " levels");
  } else if (const size_t at = JsonSyntaxErrorOffset(body); at != std::string_view::npos) {
    Append(&msg, " at byte ", at);
  }
  return absl::InvalidArgumentError(msg);
}

const char* JsonTypeName(dom::element e) {
  switch (e.type()) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a bool";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "?";
}

// The text of an {"error": ...} answer (a string, or any JSON value
// minified), if the root is an object with an "error" key.
bool ErrorAnswer(dom::element root, std::string* text) {
  dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) return false;
  dom::element err;
  if (obj.at_key("error").get(err) != simdjson::SUCCESS) return false;
  std::string_view s;
  if (err.get(s) == simdjson::SUCCESS) {
    *text = std::string(s);
  } else {
    *text = simdjson::minify(err);
  }
  return true;
}

absl::Status ServerError(const std::string& text) {
  return absl::InvalidArgumentError(Cat("model server answered an error: ", text));
}

void AppendInt64(int64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr - buf);
}
void AppendUint64(uint64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr - buf);
}

// Re-serializes a decoded value: integers stay integers (exactly, also past
// 2^53), other numbers in their shortest round-tripping form, strings
// escaped. Recursion depth is bounded by simdjson's nesting limit.
void AppendElement(dom::element e, std::string* out) {
  switch (e.type()) {
    case dom::element_type::INT64: {
      int64_t v = 0;
      Ignore(e.get(v));
      if (v > -(int64_t{1} << 53) && v < (int64_t{1} << 53)) {
        AppendJsonNumber(static_cast<double>(v), out);
      } else {
        AppendInt64(v, out);
      }
      return;
    }
    case dom::element_type::UINT64: {
      uint64_t v = 0;
      Ignore(e.get(v));
      AppendUint64(v, out);
      return;
    }
    case dom::element_type::DOUBLE: {
      double v = 0;
      Ignore(e.get(v));
      AppendJsonNumber(v, out);
      return;
    }
    case dom::element_type::STRING: {
      std::string_view v;
      Ignore(e.get(v));
      AppendJsonString(v, out);
      return;
    }
    case dom::element_type::BOOL: {
      bool v = false;
      Ignore(e.get(v));
      out->append(v ? "true" : "false");
      return;
    }
    case dom::element_type::NULL_VALUE:
      out->append("null");
      return;
    case dom::element_type::ARRAY: {
      dom::array a;
      Ignore(e.get(a));
      out->push_back('[');
      bool first = true;
      for (dom::element x : a) {
        if (!first) out->push_back(',');
        first = false;
        AppendElement(x, out);
      }
      out->push_back(']');
      return;
    }
    case dom::element_type::OBJECT: {
      dom::object o;
      Ignore(e.get(o));
      out->push_back('{');
      bool first = true;
      for (dom::key_value_pair kv : o) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(kv.key, out);
        out->push_back(':');
        AppendElement(kv.value, out);
      }
      out->push_back('}');
      return;
    }
  }
}

bool IsArray(dom::element e) { return e.type() == dom::element_type::ARRAY; }

// Appends the scalar leaves of nested arrays to *out in row-major order;
// false when a leaf is an object (v2 tensor data holds scalars only).
bool Flatten(dom::element e, std::vector<dom::element>* out) {
  if (!IsArray(e)) {
    if (e.type() == dom::element_type::OBJECT) return false;
    out->push_back(e);
    return true;
  }
  dom::array a;
  Ignore(e.get(a));
  for (dom::element x : a)
    if (!Flatten(x, out)) return false;
  return true;
}

// Writes values[0..product(dims)) as arrays nested by dims (a scalar for
// empty dims). Returns the number of values consumed.
template <typename T, typename WriteOne>
size_t AppendNested(const T* values, const int64_t* dims, size_t ndims, const WriteOne& write_one,
                    std::string* out) {
  if (ndims == 0) {
    write_one(values[0], out);
    return 1;
  }
  out->push_back('[');
  size_t used = 0;
  for (int64_t k = 0; k < dims[0]; ++k) {
    if (k > 0) out->push_back(',');
    used += AppendNested(values + used, dims + 1, ndims - 1, write_one, out);
  }
  out->push_back(']');
  return used;
}

// Shape products are computed up to this bound (far beyond any real tensor)
// and reported as "more than" it beyond.
constexpr uint64_t kCountLimit = uint64_t{1} << 40;

// Product of dims, saturating at limit+1 (so huge or overflowing shapes
// compare unequal to any real count). Negative dims count as 0 (checked
// before by the callers).
uint64_t ShapeProduct(const int64_t* dims, size_t ndims, uint64_t limit) {
  uint64_t p = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint64_t d = dims[i] < 0 ? 0 : static_cast<uint64_t>(dims[i]);
    if (d == 0) return 0;
    if (p > (limit + 1) / d) {
      p = limit + 1;
    } else {
      p *= d;
    }
  }
  return p > limit + 1 ? limit + 1 : p;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return Cat("[", absl::StrJoin(shape, ","), "]");
}

std::string Quoted(std::string_view s) { return Cat("'", s, "'"); }

// Reads a JSON array of integers into *out.
bool ReadShape(dom::element e, std::vector<int64_t>* out) {
  dom::array a;
  if (e.get(a) != simdjson::SUCCESS) return false;
  out->clear();
  for (dom::element x : a) {
    int64_t v = 0;
    if (x.get(v) != simdjson::SUCCESS) {
      // Some servers write dims as floats (2.0).
      double d = 0;
      if (x.get(d) != simdjson::SUCCESS || d != std::trunc(d) || std::fabs(d) > 9.0e15) {
        return false;
      }
      v = static_cast<int64_t>(d);
    }
    out->push_back(v);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Readiness and metadata

bool IsReadyResponse(Protocol p, int status, std::string_view body) {
  if (status != 200) return false;
  if (p == Protocol::kV2) return true;
  ParsedJson json;
  if (!ParseJson(body, "status", &json).ok()) return false;
  dom::object root;
  if (json.root.get(root) != simdjson::SUCCESS) return false;
  dom::element ready;
  if (root.at_key("ready").get(ready) == simdjson::SUCCESS) {
    bool b = false;
    std::string_view s;
    if (ready.get(b) == simdjson::SUCCESS) return b;
    if (ready.get(s) == simdjson::SUCCESS) return absl::AsciiStrToLower(std::string(s)) == "true";
    return false;
  }
  dom::array versions;
  if (root.at_key("model_version_status").get(versions) != simdjson::SUCCESS) return false;
  for (dom::element v : versions) {
    std::string_view state;
    if (v.at_key("state").get(state) == simdjson::SUCCESS && state == "AVAILABLE") return true;
  }
  return false;
}

namespace {

absl::Status ParseTensorMetas(dom::object root, const char* key, std::vector<TensorMeta>* out) {
  dom::element e;
  if (root.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return absl::OkStatus();
  dom::array a;
  if (e.get(a) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("metadata: \"", key, "\" is ", JsonTypeName(e), ", not an array"));
  }
  size_t i = 0;
  for (dom::element t : a) {
    const std::string where = Cat("metadata: ", key, "[", i++, "]");
    dom::object o;
    if (t.get(o) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(Cat(where, " is ", JsonTypeName(t), ", not an object"));
    }
    TensorMeta m;
    dom::element f;
    std::string_view s;
    if (o.at_key("name").get(f) == simdjson::SUCCESS) {
      if (f.get(s) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(Cat(where, ".name is not a string"));
      }
      m.name = std::string(s);
    }
    if (o.at_key("datatype").get(f) == simdjson::SUCCESS) {
      if (f.get(s) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(Cat(where, ".datatype is not a string"));
      }
      m.datatype = std::string(s);
    }
    if (o.at_key("shape").get(f) == simdjson::SUCCESS && !f.is_null() && !ReadShape(f, &m.shape)) {
      return absl::InvalidArgumentError(Cat(where, ".shape is not an array of integers"));
    }
    out->push_back(std::move(m));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelMetadata> ParseV2Metadata(std::string_view body) {
  ParsedJson json;
  if (absl::Status s = ParseJson(body, "metadata", &json); !s.ok()) return s;
  std::string err;
  if (ErrorAnswer(json.root, &err)) return ServerError(err);
  dom::object root;
  if (json.root.get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("metadata is ", JsonTypeName(json.root), ", not an object"));
  }
  ModelMetadata md;
  dom::element e;
  std::string_view s;
  if (root.at_key("name").get(e) == simdjson::SUCCESS) {
    if (e.get(s) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("metadata: \"name\" is not a string");
    }
    md.name = std::string(s);
  }
  if (root.at_key("versions").get(e) == simdjson::SUCCESS && !e.is_null()) {
    dom::array a;
    if (e.get(a) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("metadata: \"versions\" is not an array");
    }
    for (dom::element v : a) {
      if (v.get(s) == simdjson::SUCCESS) {
        md.versions.emplace_back(s);
      } else if (v.is_number()) {
        std::string num;
        AppendElement(v, &num);
        md.versions.push_back(std::move(num));
      } else {
        return absl::InvalidArgumentError(
            "metadata: \"versions\" holds something other than strings");
      }
    }
  }
  if (absl::Status st = ParseTensorMetas(root, "inputs", &md.inputs); !st.ok()) return st;
  if (absl::Status st = ParseTensorMetas(root, "outputs", &md.outputs); !st.ok()) return st;
  return md;
}

// ---------------------------------------------------------------------------
// Codec: construction

absl::StatusOr<Codec> Codec::Create(Protocol protocol, TfFormat tf_format,
                                    std::vector<InputTensor> inputs,
                                    std::vector<OutputMapping> outputs) {
  if (inputs.empty()) return absl::InvalidArgumentError("inputs: at least one input is required");
  // TF Serving's single-input formats carry no input name on the wire.
  const bool name_optional = protocol == Protocol::kTfServing && inputs.size() == 1;
  size_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const InputTensor& in = inputs[i];
    const std::string where = Cat("inputs[", i, "]");
    if (in.name.empty() && !name_optional) {
      return absl::InvalidArgumentError(Cat(where, ".name: empty"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (inputs[j].name == in.name) {
        return absl::InvalidArgumentError(
            Cat(where, ".name: ", Quoted(in.name), " is already used by inputs[", j, "]"));
      }
    }
    if (in.fields.empty()) return absl::InvalidArgumentError(Cat(where, ".fields: empty"));
    for (size_t f = 0; f < in.fields.size(); ++f) {
      if (in.fields[f].empty()) {
        return absl::InvalidArgumentError(Cat(where, ".fields[", f, "]: empty"));
      }
    }
    if (in.shape.size() > kMaxRank) {
      return absl::InvalidArgumentError(
          Cat(where, ".shape: ", in.shape.size(), " dimensions (at most ", kMaxRank, ")"));
    }
    for (size_t d = 0; d < in.shape.size(); ++d) {
      if (in.shape[d] < 1) {
        return absl::InvalidArgumentError(
            Cat(where, ".shape: dimension ", d, " is ", in.shape[d], " (dims must be >= 1)"));
      }
    }
    const uint64_t product = ShapeProduct(in.shape.data(), in.shape.size(), kCountLimit);
    if (product != in.fields.size()) {
      std::string holds = product > kCountLimit ? Cat("more than ", kCountLimit) : Cat(product);
      return absl::InvalidArgumentError(
          Cat(where, ".shape: ", in.shape.empty() ? "a scalar" : ShapeString(in.shape), " holds ",
              holds, in.shape.empty() ? " value" : " values", " but ", in.fields.size(),
              in.fields.size() == 1 ? " field is" : " fields are", " listed"));
    }
    total += in.fields.size();
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const OutputMapping& o = outputs[i];
    const std::string where = Cat("outputs[", i, "]");
    if (o.field.empty()) return absl::InvalidArgumentError(Cat(where, ".field: empty"));
    for (size_t j = 0; j < i; ++j) {
      if (outputs[j].field == o.field) {
        return absl::InvalidArgumentError(
            Cat(where, ".field: ", Quoted(o.field), " is already written by outputs[", j, "]"));
      }
    }
    if (protocol == Protocol::kV2 && o.tensor.empty()) {
      return absl::InvalidArgumentError(Cat(where, ".tensor: empty (v2 output tensors are named)"));
    }
  }
  Codec c;
  c.protocol_ = protocol;
  c.tf_format_ = tf_format;
  c.inputs_ = std::move(inputs);
  c.outputs_ = std::move(outputs);
  c.values_per_row_ = total;
  return c;
}

// ---------------------------------------------------------------------------
// Codec: requests

namespace {

// v for a message, shortened: values can be long strings or JSON.
std::string Shown(const Value& v) {
  std::string s = v.is_string() ? v.as_string() : v.DebugString();
  if (s.size() > 40) {
    s.resize(40);
    s.append("...");
  }
  return v.is_string() ? Cat("\"", s, "\"") : s;
}

// Why v does not fit dtype t, or empty if it does.
std::string Misfit(const Value& v, DType t) {
  switch (v.type()) {
    case ValueType::kNull:
      return "null is not a value";
    case ValueType::kRaw:
      return Cat(Shown(v), " is a JSON object or array");
    default:
      break;
  }
  if (t == DType::kBytes) {
    if (v.is_string()) return "";
    return Cat(Shown(v), " is not a string");
  }
  if (t == DType::kBool) {
    if (v.is_bool()) return "";
    if (v.is_number() && (v.as_number() == 0 || v.as_number() == 1)) return "";
    if (v.is_number()) return Cat(Shown(v), " is not a bool (nor 0 or 1)");
    return Cat(Shown(v), " is not a bool");
  }
  if (!v.is_number()) return Cat(Shown(v), " is not a number");
  const double d = v.as_number();
  if (!std::isfinite(d))
    return std::isnan(d) ? "NaN is not a finite number" : "infinity is not a finite number";
  if (IsFloat(t)) {
    const double max = t == DType::kFp16 ? 65504.0 : t == DType::kFp32 ? FLT_MAX : DBL_MAX;
    if (std::fabs(d) > max) return Cat(v.DebugString(), " is out of range");
    return "";
  }
  if (d != std::trunc(d)) return Cat(v.DebugString(), " is not an integer");
  IntRange r{0, 0, false};
  IntegerRange(t, &r);
  if (d < r.lo || d > r.hi || (r.hi_exclusive && d == r.hi)) {
    return Cat(v.DebugString(), " is out of range");
  }
  return "";
}

// Writes a value already checked by Misfit.
void AppendTyped(const Value& v, DType t, std::string* out) {
  if (t == DType::kBytes) {
    AppendJsonString(v.as_string(), out);
  } else if (t == DType::kBool) {
    out->append((v.is_bool() ? v.as_bool() : v.as_number() != 0) ? "true" : "false");
  } else if (IsFloat(t)) {
    AppendJsonNumber(v.as_number(), out);
  } else if (t == DType::kUint64 && v.as_number() >= 9223372036854775808.0) {
    AppendUint64(static_cast<uint64_t>(v.as_number()), out);
  } else {
    AppendInt64(static_cast<int64_t>(v.as_number()), out);
  }
}

}  // namespace

absl::Status Codec::CheckRow(const RowValues& row) const {
  if (row.size() != values_per_row_) {
    return absl::InvalidArgumentError(
        Cat("row has ", row.size(), " values, expected ", values_per_row_));
  }
  size_t k = 0;
  for (const InputTensor& in : inputs_) {
    for (const std::string& field : in.fields) {
      const std::string why = Misfit(row[k++], in.dtype);
      if (!why.empty()) {
        return absl::InvalidArgumentError(Cat("field ", Quoted(field), " (input ", Quoted(in.name),
                                              ", ", DTypeName(in.dtype), "): ", why));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Codec::EncodeRequest(const std::vector<const RowValues*>& rows,
                                  std::string* body) const {
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] == nullptr) return absl::InvalidArgumentError(Cat("row ", r, ": null"));
    if (rows[r]->size() != values_per_row_) {
      return absl::InvalidArgumentError(
          Cat("row ", r, " has ", rows[r]->size(), " values, expected ", values_per_row_));
    }
    if (absl::Status s = CheckRow(*rows[r]); !s.ok()) {
      return absl::InvalidArgumentError(Cat("row ", r, ", ", s.message()));
    }
  }
  // Offset of each input's first value within a row.
  std::vector<size_t> offset(inputs_.size());
  for (size_t i = 1; i < inputs_.size(); ++i)
    offset[i] = offset[i - 1] + inputs_[i - 1].fields.size();
  // Writes input i of row r: a scalar, or lists nested by its shape.
  auto append_input = [&](size_t r, size_t i) {
    const InputTensor& in = inputs_[i];
    const DType t = in.dtype;
    AppendNested(
        rows[r]->data() + offset[i], in.shape.data(), in.shape.size(),
        [t](const Value& v, std::string* out) { AppendTyped(v, t, out); }, body);
  };
  const size_t n = rows.size();
  if (protocol_ == Protocol::kV2) {
    body->append("{\"inputs\":[");
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const InputTensor& in = inputs_[i];
      if (i > 0) body->push_back(',');
      body->append("{\"name\":");
      AppendJsonString(in.name, body);
      body->append(",\"datatype\":\"");
      body->append(DTypeName(in.dtype));
      body->append("\",\"shape\":[");
      body->append(Cat(n));
      for (int64_t d : in.shape) Append(body, ",", d);
      body->append("],\"data\":[");
      bool first = true;
      for (size_t r = 0; r < n; ++r) {
        for (size_t f = 0; f < in.fields.size(); ++f) {
          if (!first) body->push_back(',');
          first = false;
          AppendTyped((*rows[r])[offset[i] + f], in.dtype, body);
        }
      }
      body->append("]}");
    }
    body->append("]}");
    return absl::OkStatus();
  }
  const bool single = inputs_.size() == 1;
  if (tf_format_ == TfFormat::kInstances) {
    // {"instances":[v,...]} or {"instances":[{"a":v,"b":v},...]}
    body->append("{\"instances\":[");
    for (size_t r = 0; r < n; ++r) {
      if (r > 0) body->push_back(',');
      if (single) {
        append_input(r, 0);
        continue;
      }
      body->push_back('{');
      for (size_t i = 0; i < inputs_.size(); ++i) {
        if (i > 0) body->push_back(',');
        AppendJsonString(inputs_[i].name, body);
        body->push_back(':');
        append_input(r, i);
      }
      body->push_back('}');
    }
    body->append("]}");
    return absl::OkStatus();
  }
  // {"inputs":[v,...]} or {"inputs":{"a":[v,...],"b":[v,...]}}
  body->append("{\"inputs\":");
  if (!single) body->push_back('{');
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (i > 0) body->push_back(',');
    if (!single) {
      AppendJsonString(inputs_[i].name, body);
      body->push_back(':');
    }
    body->push_back('[');
    for (size_t r = 0; r < n; ++r) {
      if (r > 0) body->push_back(',');
      append_input(r, i);
    }
    body->push_back(']');
  }
  if (!single) body->push_back('}');
  body->push_back('}');
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Codec: responses

namespace {

void AppendFieldName(std::string_view field, std::string* row) {
  if (!row->empty()) row->push_back(',');
  AppendJsonString(field, row);
  row->push_back(':');
}

// Writes a TF prediction value: the scalar itself when the nested arrays
// hold exactly one scalar ([0.7] or [[0.7]] gives 0.7), else the value as
// given.
void AppendTfValue(dom::element e, std::string* out) {
  dom::element leaf = e;
  while (IsArray(leaf)) {
    dom::array a;
    Ignore(leaf.get(a));
    if (a.size() != 1) break;
    Ignore(a.at(0).get(leaf));
  }
  if (!IsArray(leaf) && leaf.type() != dom::element_type::OBJECT) {
    AppendElement(leaf, out);
  } else {
    AppendElement(e, out);
  }
}

// The keys of o for a message: the first 20, then how many more.
std::string KeyList(dom::object o) {
  std::string s;
  size_t i = 0;
  for (dom::key_value_pair kv : o) {
    if (i++ == 20) {
      Append(&s, ", ... (", o.size(), " in all)");
      break;
    }
    if (!s.empty()) s.append(", ");
    s.append(kv.key);
  }
  return s.empty() ? "none" : s;
}

// Names seen so far, for skipping repeats: a scan while few (the usual
// case), a hash set once many, so a hostile answer with 10^5 keys stays
// linear.
class KeySet {
 public:
  // False if k was inserted before.
  bool Insert(std::string_view k) {
    if (!set_.empty()) return set_.insert(k).second;
    for (std::string_view x : few_)
      if (x == k) return false;
    few_.push_back(k);
    if (few_.size() > 16) set_.insert(few_.begin(), few_.end());
    return true;
  }

 private:
  std::vector<std::string_view> few_;
  std::unordered_set<std::string_view> set_;
};

// A v2 output tensor checked against the batch.
struct V2Tensor {
  std::string_view name;
  std::vector<dom::element> data;  // flattened
  std::vector<int64_t> row_shape;  // shape without the batch dimension
  size_t per_row = 0;
};

absl::Status ReadV2Tensor(dom::object o, std::string_view name, size_t n, V2Tensor* t) {
  t->name = name;
  const std::string what = Cat("output ", Quoted(name));
  dom::element e;
  std::vector<int64_t> shape;
  if (o.at_key("shape").get(e) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(Cat(what, " has no shape"));
  }
  if (!ReadShape(e, &shape)) {
    return absl::InvalidArgumentError(Cat(what, " has a shape that is not a list of integers"));
  }
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          Cat(what, " has shape ", ShapeString(shape), " with a negative dimension"));
    }
  }
  if (shape.empty() || static_cast<uint64_t>(shape[0]) != n) {
    return absl::InvalidArgumentError(
        Cat(what, " has shape ", ShapeString(shape), " for a batch of ", n));
  }
  if (o.at_key("data").get(e) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat(what, " has no \"data\" (binary tensor data is not supported)"));
  }
  if (!IsArray(e)) {
    return absl::InvalidArgumentError(
        Cat(what, " has data that is ", JsonTypeName(e), ", not an array"));
  }
  t->data.clear();
  if (!Flatten(e, &t->data)) {
    return absl::InvalidArgumentError(Cat(what, " has an object inside its data"));
  }
  const uint64_t product = ShapeProduct(shape.data(), shape.size(), kCountLimit);
  if (product != t->data.size()) {
    return absl::InvalidArgumentError(
        Cat(what, " has shape ", ShapeString(shape), " (",
            product > kCountLimit ? Cat("more than ", kCountLimit) : Cat(product), " values) but ",
            t->data.size(), " data values"));
  }
  if (shape.size() - 1 > kMaxRank) {
    return absl::InvalidArgumentError(
        Cat(what, " has ", shape.size(), " dimensions (at most ", kMaxRank + 1, ")"));
  }
  t->row_shape.assign(shape.begin() + 1, shape.end());
  t->per_row = n == 0 ? 0 : t->data.size() / n;
  return absl::OkStatus();
}

// Writes row r of a checked v2 tensor: a scalar when a row holds one
// value, else arrays nested by the per-row shape.
void AppendV2Row(const V2Tensor& t, size_t r, std::string* out) {
  const dom::element* v = t.data.data() + r * t.per_row;
  if (t.per_row == 1) {
    AppendElement(v[0], out);
    return;
  }
  if (t.per_row == 0) {
    // A shape with a 0 dim: [] (nesting by shape could write 10^12 of them).
    out->append("[]");
    return;
  }
  AppendNested(
      v, t.row_shape.data(), t.row_shape.size(),
      [](dom::element e, std::string* o) { AppendElement(e, o); }, out);
}

// Open Inference Protocol v2 answers: {"outputs":[{"name","shape","data"}]}
// with the batch as the first dimension; data flat or nested (flattened).
absl::Status DecodeV2(dom::object root, size_t n, const std::vector<OutputMapping>& mapping,
                      std::vector<std::string>* rows) {
  dom::element e;
  if (root.at_key("outputs").get(e) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("response has no \"outputs\" (keys: ", KeyList(root), ")"));
  }
  dom::array outputs;
  if (e.get(outputs) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("response \"outputs\" is ", JsonTypeName(e), ", not an array"));
  }
  // The response's tensors by name, in order (a repeated name keeps its first).
  std::vector<std::pair<std::string_view, dom::object>> tensors;
  KeySet names_seen;
  size_t i = 0;
  for (dom::element t : outputs) {
    dom::object o;
    std::string_view name;
    if (t.get(o) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          Cat("response outputs[", i, "] is ", JsonTypeName(t), ", not an object"));
    }
    if (o.at_key("name").get(name) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(Cat("response outputs[", i, "] has no \"name\" string"));
    }
    if (names_seen.Insert(name)) tensors.emplace_back(name, o);
    ++i;
  }
  auto tensor_names = [&tensors] {
    std::string s;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (i == 20) {
        Append(&s, ", ... (", tensors.size(), " in all)");
        break;
      }
      Append(&s, i == 0 ? "" : ", ", tensors[i].first);
    }
    return s.empty() ? std::string("none") : s;
  };
  // (field, tensor) pairs to write.
  std::vector<std::pair<std::string_view, V2Tensor>> plan;
  if (mapping.empty()) {
    if (tensors.empty()) return absl::InvalidArgumentError("response has no output tensors");
    for (const auto& [name, o] : tensors) {
      plan.emplace_back(tensors.size() == 1 ? std::string_view("prediction") : name, V2Tensor{});
      if (absl::Status s = ReadV2Tensor(o, name, n, &plan.back().second); !s.ok()) return s;
    }
  } else {
    for (const OutputMapping& m : mapping) {
      const dom::object* found = nullptr;
      for (const auto& [name, o] : tensors)
        if (name == m.tensor) found = &o;
      if (found == nullptr) {
        return absl::InvalidArgumentError(
            Cat("output ", Quoted(m.tensor),
                " is missing from the response (outputs: ", tensor_names(), ")"));
      }
      plan.emplace_back(m.field, V2Tensor{});
      if (absl::Status s = ReadV2Tensor(*found, m.tensor, n, &plan.back().second); !s.ok()) {
        return s;
      }
    }
  }
  for (size_t r = 0; r < n; ++r) {
    std::string* row = &(*rows)[r];
    for (const auto& [field, t] : plan) {
      AppendFieldName(field, row);
      AppendV2Row(t, r, row);
    }
  }
  return absl::OkStatus();
}

// Collects a JSON array of exactly n elements into *out.
absl::Status ReadRows(dom::element e, size_t n, std::string_view what, std::string_view unit,
                      std::vector<dom::element>* out) {
  dom::array a;
  if (e.get(a) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(Cat(what, " is ", JsonTypeName(e), ", not an array"));
  }
  if (a.size() != n) {
    return absl::InvalidArgumentError(
        Cat(what, " has ", a.size(), " ", unit, " for a batch of ", n));
  }
  out->assign(a.begin(), a.end());
  return absl::OkStatus();
}

// The one tensor name all named mappings ask for, or empty when they ask for
// several (or none). TF Serving drops the name of a model's only output, so
// an unnamed answer stands for that name.
std::string_view SoleTensor(const std::vector<OutputMapping>& mapping) {
  std::string_view sole;
  for (const OutputMapping& m : mapping) {
    if (m.tensor.empty()) continue;
    if (!sole.empty() && sole != m.tensor) return {};
    sole = m.tensor;
  }
  return sole;
}

// TF answers with one prediction per row (row format).
absl::Status DecodeTfRows(const std::vector<dom::element>& preds,
                          const std::vector<OutputMapping>& mapping, std::string_view unit,
                          std::vector<std::string>* rows) {
  const std::string_view sole = SoleTensor(mapping);
  for (size_t r = 0; r < preds.size(); ++r) {
    std::string* row = &(*rows)[r];
    const dom::element pred = preds[r];
    dom::object obj;
    const bool named = pred.get(obj) == simdjson::SUCCESS;
    if (mapping.empty()) {
      if (!named) {
        AppendFieldName("prediction", row);
        AppendTfValue(pred, row);
        continue;
      }
      KeySet seen;
      for (dom::key_value_pair kv : obj) {
        if (!seen.Insert(kv.key)) continue;
        AppendFieldName(kv.key, row);
        AppendTfValue(kv.value, row);
      }
      continue;
    }
    for (const OutputMapping& m : mapping) {
      dom::element v = pred;
      if (!m.tensor.empty()) {
        if (named) {
          if (obj.at_key(m.tensor).get(v) != simdjson::SUCCESS) {
            return absl::InvalidArgumentError(Cat("output ", Quoted(m.tensor), " is missing from ",
                                                  unit, " ", r, " (outputs: ", KeyList(obj), ")"));
          }
        } else if (m.tensor != sole) {
          return absl::InvalidArgumentError(Cat("output ", Quoted(m.tensor),
                                                " is missing from the response (", unit, " ", r,
                                                " is an unnamed value)"));
        }
      }
      AppendFieldName(m.field, row);
      AppendTfValue(v, row);
    }
  }
  return absl::OkStatus();
}

// TF Serving / KServe v1 answers. Either answer format is taken whatever
// the request format was: {"predictions":[...]} (one per row; an object per
// row when outputs are named) or {"outputs":...} (a list over rows, or an
// object name -> list over rows). A mapping with tensor "" takes the whole
// prediction (an object as it is); a named tensor also takes an unnamed
// answer when it is the only tensor mapped, since TF Serving drops the name
// of a model's only output.
absl::Status DecodeTf(dom::object root, size_t n, const std::vector<OutputMapping>& mapping,
                      std::vector<std::string>* rows) {
  dom::element e;
  std::vector<dom::element> preds;
  if (root.at_key("predictions").get(e) == simdjson::SUCCESS) {
    if (absl::Status s = ReadRows(e, n, "response", "predictions", &preds); !s.ok()) return s;
    return DecodeTfRows(preds, mapping, "prediction", rows);
  }
  if (root.at_key("outputs").get(e) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("response has neither \"predictions\" nor \"outputs\" (keys: ", KeyList(root), ")"));
  }
  dom::object columns;
  if (e.get(columns) != simdjson::SUCCESS) {
    // The columnar answer of a model with one output: a list over rows.
    if (absl::Status s = ReadRows(e, n, "response \"outputs\"", "rows", &preds); !s.ok()) {
      return s;
    }
    return DecodeTfRows(preds, mapping, "output row", rows);
  }
  // Named columns: name -> list over rows (a repeated name keeps its first).
  std::vector<std::pair<std::string_view, std::vector<dom::element>>> cols;
  KeySet seen;
  for (dom::key_value_pair kv : columns) {
    if (seen.Insert(kv.key)) cols.emplace_back(kv.key, std::vector<dom::element>{});
  }
  auto read_col = [&](size_t c) -> absl::Status {
    auto& [name, values] = cols[c];
    if (!values.empty()) return absl::OkStatus();
    dom::element col;
    Ignore(columns.at_key(name).get(col));
    return ReadRows(col, n, Cat("output ", Quoted(name)), "rows", &values);
  };
  // (field, column index or npos for the whole row as an object)
  constexpr size_t kAll = static_cast<size_t>(-1);
  std::vector<std::pair<std::string_view, size_t>> plan;
  if (mapping.empty()) {
    for (size_t c = 0; c < cols.size(); ++c) plan.emplace_back(cols[c].first, c);
  } else {
    for (const OutputMapping& m : mapping) {
      size_t found = kAll;
      for (size_t c = 0; c < cols.size(); ++c)
        if (cols[c].first == m.tensor) found = c;
      if (found == kAll && !m.tensor.empty()) {
        return absl::InvalidArgumentError(
            Cat("output ", Quoted(m.tensor),
                " is missing from the response (outputs: ", KeyList(columns), ")"));
      }
      plan.emplace_back(m.field, found);
    }
  }
  for (const auto& [field, c] : plan) {
    for (size_t k = 0; k < cols.size(); ++k) {
      if (c != kAll && c != k) continue;
      if (absl::Status s = read_col(k); !s.ok()) return s;
    }
  }
  for (size_t r = 0; r < n; ++r) {
    std::string* row = &(*rows)[r];
    for (const auto& [field, c] : plan) {
      AppendFieldName(field, row);
      if (c != kAll) {
        AppendTfValue(cols[c].second[r], row);
        continue;
      }
      row->push_back('{');
      for (size_t k = 0; k < cols.size(); ++k) {
        if (k > 0) row->push_back(',');
        AppendJsonString(cols[k].first, row);
        row->push_back(':');
        AppendTfValue(cols[k].second[r], row);
      }
      row->push_back('}');
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Codec::DecodeResponse(std::string_view body, size_t n,
                                   std::vector<std::string>* row_outputs) const {
  row_outputs->clear();
  ParsedJson json;
  if (absl::Status s = ParseJson(body, "response", &json); !s.ok()) return s;
  std::string err;
  if (ErrorAnswer(json.root, &err)) return ServerError(err);
  dom::object root;
  if (json.root.get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        Cat("response is ", JsonTypeName(json.root), ", not an object"));
  }
  row_outputs->resize(n);
  absl::Status status = protocol_ == Protocol::kV2 ? DecodeV2(root, n, outputs_, row_outputs)
                                                   : DecodeTf(root, n, outputs_, row_outputs);
  if (!status.ok()) row_outputs->clear();
  return status;
}

}  // namespace evs::service
