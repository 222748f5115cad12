#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evs::pmml {

// PMML dataType. Dates are held as numbers: kDate = days since 1970-01-01,
// kTime = seconds since midnight, kDateTime = seconds since 1970-01-01T00:00;
// the "...Since<year>" types are numbers relative to their own epoch.
enum class DataType : uint8_t {
  kString,
  kInteger,
  kFloat,
  kDouble,
  kBoolean,
  kDate,
  kTime,
  kDateTime,
  kDateDaysSince0,
  kDateDaysSince1960,
  kDateDaysSince1970,
  kDateDaysSince1980,
  kTimeSeconds,
  kDateTimeSecondsSince0,
  kDateTimeSecondsSince1960,
  kDateTimeSecondsSince1970,
  kDateTimeSecondsSince1980,
};

enum class OpType : uint8_t { kCategorical, kOrdinal, kContinuous };

absl::StatusOr<DataType> ParseDataType(std::string_view name);
absl::StatusOr<OpType> ParseOpType(std::string_view name);
std::string_view DataTypeName(DataType t);
// True for every type whose values are held in Value::num.
bool IsNumeric(DataType t);

// One PMML value. Numbers of every numeric type (and dates, times, booleans)
// live in `num` with their DataType; strings in `str`. Assigning into an
// existing Value reuses the string's capacity, so slots that are reused across
// records do not allocate. kInvalid only appears in raw input slots: the text
// could not be parsed as the field's type; the MiningField's
// invalidValueTreatment decides what happens to it. kCollection is a set of
// items (an AssociationModel basket) held in `items`.
struct Value {
  enum class Kind : uint8_t { kMissing, kNumber, kString, kBool, kInvalid, kCollection };

  Kind kind = Kind::kMissing;
  DataType type = DataType::kDouble;
  double num = 0;
  std::string str;
  std::vector<std::string> items;

  bool missing() const { return kind == Kind::kMissing; }
  bool is_number() const { return kind == Kind::kNumber; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_bool() const { return kind == Kind::kBool; }

  void SetMissing() { kind = Kind::kMissing; }
  void SetNumber(double v, DataType t = DataType::kDouble) {
    kind = Kind::kNumber;
    type = t;
    num = v;
  }
  void SetBool(bool b) {
    kind = Kind::kBool;
    type = DataType::kBoolean;
    num = b ? 1 : 0;
  }
  void SetString(std::string_view s) {
    kind = Kind::kString;
    type = DataType::kString;
    str.assign(s.data(), s.size());
  }

  static Value Number(double v, DataType t = DataType::kDouble) {
    Value x;
    x.SetNumber(v, t);
    return x;
  }
  static Value String(std::string_view s) {
    Value x;
    x.SetString(s);
    return x;
  }
  static Value Bool(bool b) {
    Value x;
    x.SetBool(b);
    return x;
  }
};

// Parses `text` as a value of `type` ("1" as kInteger, "1.5e3" as kDouble,
// "true"/"false" as kBoolean, ISO dates...). kFloat values are rounded to
// float32 precision. Error when the text is not a value of that type.
absl::Status ParseValue(std::string_view text, DataType type, Value* out);

// Casts a value to `type` (number <-> string, integer truncation per PMML,
// boolean <-> number). Missing stays missing. Error when not convertible.
absl::Status ConvertValue(const Value& in, DataType type, Value* out);

// Canonical text of a value: integers without a fraction ("3"), doubles in
// the shortest form that parses back to the same double, booleans
// "true"/"false", strings as is, dates ISO-8601. Missing gives "".
void FormatValue(const Value& v, std::string* out);
std::string FormatValue(const Value& v);

// PMML equality: numerically when both sides are numbers or booleans (a
// string side that parses as a number is compared numerically too), else
// string equality on the canonical text. Missing equals nothing.
bool ValuesEqual(const Value& a, const Value& b);

// Ordering for ordinal/continuous comparisons: numbers numerically, strings
// lexicographically. Precondition: neither side is missing.
int CompareValues(const Value& a, const Value& b);

}  // namespace evs::pmml
