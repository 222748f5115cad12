#pragma once

#include <string>
#include <string_view>

#include "common/value.h"

namespace evs {

// Appends `s` as a JSON string literal (quotes, escapes; input must be UTF-8).
void AppendJsonString(std::string_view s, std::string* out);
// Appends a finite number: integers up to 2^53 without a fraction, other
// values in the shortest form that parses back to the same double. Non-finite
// numbers are written as null (JSON has no NaN).
void AppendJsonNumber(double d, std::string* out);
void AppendJsonValue(const Value& v, std::string* out);
// {"name":value,...} in field order.
void AppendRecordJson(const Record& r, std::string* out);
inline std::string RecordToJson(const Record& r) {
  std::string s;
  AppendRecordJson(r, &s);
  return s;
}

}  // namespace evs
