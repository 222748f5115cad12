#include "common/json_writer.h"

#include <charconv>
#include <cmath>

namespace evs {

namespace {
// 1 for bytes that must be escaped inside a JSON string.
struct EscapeTable {
  bool needs[256] = {};
  constexpr EscapeTable() {
    for (int c = 0; c < 0x20; ++c) needs[c] = true;
    needs[static_cast<unsigned char>('"')] = true;
    needs[static_cast<unsigned char>('\\')] = true;
  }
};
constexpr EscapeTable kEscape;
}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!kEscape.needs[c]) continue;
    out->append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + start, s.size() - start);
  out->push_back('"');
}

void AppendJsonNumber(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  char buf[32];
  std::to_chars_result r;
  if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(d));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, d);
  }
  out->append(buf, r.ptr - buf);
}

void AppendJsonValue(const Value& v, std::string* out) {
  switch (v.type()) {
    case ValueType::kNull: out->append("null"); break;
    case ValueType::kBool: out->append(v.as_bool() ? "true" : "false"); break;
    case ValueType::kNumber: AppendJsonNumber(v.as_number(), out); break;
    case ValueType::kString: AppendJsonString(v.as_string(), out); break;
    case ValueType::kRaw: out->append(v.as_string()); break;
  }
}

void AppendRecordJson(const Record& r, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const Field& f : r.fields()) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(f.name, out);
    out->push_back(':');
    AppendJsonValue(f.value, out);
  }
  out->push_back('}');
}

}  // namespace evs
