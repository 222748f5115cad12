#include "pmml/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace evs::pmml {
namespace {

struct TypeName {
  std::string_view name;
  DataType type;
};

constexpr TypeName kTypeNames[] = {
    {"string", DataType::kString},
    {"integer", DataType::kInteger},
    {"float", DataType::kFloat},
    {"double", DataType::kDouble},
    {"boolean", DataType::kBoolean},
    {"date", DataType::kDate},
    {"time", DataType::kTime},
    {"dateTime", DataType::kDateTime},
    {"dateDaysSince[0]", DataType::kDateDaysSince0},
    {"dateDaysSince[1960]", DataType::kDateDaysSince1960},
    {"dateDaysSince[1970]", DataType::kDateDaysSince1970},
    {"dateDaysSince[1980]", DataType::kDateDaysSince1980},
    {"timeSeconds", DataType::kTimeSeconds},
    {"dateTimeSecondsSince[0]", DataType::kDateTimeSecondsSince0},
    {"dateTimeSecondsSince[1960]", DataType::kDateTimeSecondsSince1960},
    {"dateTimeSecondsSince[1970]", DataType::kDateTimeSecondsSince1970},
    {"dateTimeSecondsSince[1980]", DataType::kDateTimeSecondsSince1980},
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Parses a double: decimal/scientific notation, an optional leading '+',
// and NaN / INF / -INF / Infinity spellings (case-insensitive; from_chars
// accepts those itself).
bool ParseDouble(std::string_view s, double* out) {
  s = Trim(s);
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') {
    ++b;
    if (b != e && (*b == '+' || *b == '-')) return false;
  }
  if (b == e) return false;
  double v = 0;
  auto [ptr, ec] = std::from_chars(b, e, v);
  if (ptr != e) return false;
  if (ec == std::errc::result_out_of_range) {
    // Overflow to +-inf, underflow to 0, as Java's Double.parseDouble does.
    v = std::strtod(std::string(b, e).c_str(), nullptr);
  } else if (ec != std::errc()) {
    return false;
  }
  *out = v;
  return true;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yy + (*m <= 2);
}

bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "YYYY-MM-DD" -> days since 1970-01-01.
bool ParseDate(std::string_view s, int64_t* days) {
  int y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!ParseDigits(s, 0, 4, &y) || !ParseDigits(s, 5, 2, &m) || !ParseDigits(s, 8, 2, &d))
    return false;
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// "HH:MM:SS" (optionally with a fraction, ignored) -> seconds since midnight.
bool ParseTime(std::string_view s, double* secs) {
  int h, mi, se;
  if (s.size() < 8 || s[2] != ':' || s[5] != ':') return false;
  if (!ParseDigits(s, 0, 2, &h) || !ParseDigits(s, 3, 2, &mi) || !ParseDigits(s, 6, 2, &se))
    return false;
  if (h > 24 || mi > 59 || se > 60) return false;
  double frac = 0;
  if (s.size() > 8) {
    if (s[8] != '.') return false;
    if (!ParseDouble(absl::StrCat("0", std::string(s.substr(8))), &frac)) return false;
  }
  *secs = h * 3600.0 + mi * 60.0 + se + frac;
  return true;
}

bool ParseDateTime(std::string_view s, double* secs) {
  if (s.size() < 19 || (s[10] != 'T' && s[10] != ' ')) return false;
  int64_t days;
  double t;
  if (!ParseDate(s.substr(0, 10), &days) || !ParseTime(s.substr(11), &t)) return false;
  *secs = static_cast<double>(days) * 86400.0 + t;
  return true;
}

// Epoch of each "Since" type in days relative to 1970-01-01.
int64_t EpochDays(DataType t) {
  switch (t) {
    case DataType::kDateDaysSince0:
    case DataType::kDateTimeSecondsSince0:
      return DaysFromCivil(0, 1, 1);
    case DataType::kDateDaysSince1960:
    case DataType::kDateTimeSecondsSince1960:
      return DaysFromCivil(1960, 1, 1);
    case DataType::kDateDaysSince1980:
    case DataType::kDateTimeSecondsSince1980:
      return DaysFromCivil(1980, 1, 1);
    default:
      return 0;
  }
}

bool IsDateDays(DataType t) {
  return t == DataType::kDate || t == DataType::kDateDaysSince0 ||
         t == DataType::kDateDaysSince1960 || t == DataType::kDateDaysSince1970 ||
         t == DataType::kDateDaysSince1980;
}
bool IsDateTimeSeconds(DataType t) {
  return t == DataType::kDateTime || t == DataType::kDateTimeSecondsSince0 ||
         t == DataType::kDateTimeSecondsSince1960 || t == DataType::kDateTimeSecondsSince1970 ||
         t == DataType::kDateTimeSecondsSince1980;
}
bool IsTime(DataType t) { return t == DataType::kTime || t == DataType::kTimeSeconds; }

// Number in the unit of `from` -> number in the unit of `to` (dates between
// epochs, date <-> dateTime); other numeric types pass through.
double ConvertNumber(double v, DataType from, DataType to) {
  if (from == to) return v;
  if (IsDateDays(from) && IsDateDays(to))
    return v + static_cast<double>(EpochDays(from) - EpochDays(to));
  if (IsDateTimeSeconds(from) && IsDateTimeSeconds(to))
    return v + static_cast<double>(EpochDays(from) - EpochDays(to)) * 86400.0;
  if (IsDateDays(from) && IsDateTimeSeconds(to))
    return (v + static_cast<double>(EpochDays(from) - EpochDays(to))) * 86400.0;
  if (IsDateTimeSeconds(from) && IsDateDays(to))
    return std::floor(v / 86400.0) + static_cast<double>(EpochDays(from) - EpochDays(to));
  if (IsDateTimeSeconds(from) && IsTime(to)) {
    double r = std::fmod(v, 86400.0);
    return r < 0 ? r + 86400.0 : r;
  }
  return v;
}

void AppendShortest(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "INF" : "-INF");
    return;
  }
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, ptr);
}

void AppendShortestFloat(double v, std::string* out) {
  if (std::isnan(v) || std::isinf(v)) {
    AppendShortest(v, out);
    return;
  }
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v));
  out->append(buf, ptr);
}

void Append2(int v, std::string* out) {
  out->push_back(static_cast<char>('0' + v / 10));
  out->push_back(static_cast<char>('0' + v % 10));
}

void AppendDate(int64_t days, std::string* out) {
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  out->append(buf, static_cast<size_t>(n));
}

void AppendTime(double secs, std::string* out) {
  int64_t s = static_cast<int64_t>(std::floor(secs));
  Append2(static_cast<int>(s / 3600), out);
  out->push_back(':');
  Append2(static_cast<int>((s / 60) % 60), out);
  out->push_back(':');
  Append2(static_cast<int>(s % 60), out);
}

// Integer part of a finite double as text (no exponent).
void AppendInteger(double v, std::string* out) {
  if (std::isnan(v) || std::isinf(v)) {
    AppendShortest(v, out);
    return;
  }
  if (std::fabs(v) < 9.2e18) {
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<long long>(v));
    out->append(buf, ptr);
  } else {
    char buf[400];
    int n = std::snprintf(buf, sizeof(buf), "%.0f", v);
    out->append(buf, static_cast<size_t>(n));
  }
}

absl::Status NotA(std::string_view text, DataType type) {
  return absl::InvalidArgumentError(absl::StrCat("'", std::string(text), "' is not a valid ",
                                                 std::string(DataTypeName(type)), " value"));
}

}  // namespace

absl::StatusOr<DataType> ParseDataType(std::string_view name) {
  for (const auto& t : kTypeNames)
    if (t.name == name) return t.type;
  return absl::InvalidArgumentError(absl::StrCat("unknown dataType '", std::string(name), "'"));
}

absl::StatusOr<OpType> ParseOpType(std::string_view name) {
  if (name == "categorical") return OpType::kCategorical;
  if (name == "ordinal") return OpType::kOrdinal;
  if (name == "continuous") return OpType::kContinuous;
  return absl::InvalidArgumentError(absl::StrCat("unknown optype '", std::string(name), "'"));
}

std::string_view DataTypeName(DataType t) {
  for (const auto& n : kTypeNames)
    if (n.type == t) return n.name;
  return "?";
}

bool IsNumeric(DataType t) { return t != DataType::kString; }

absl::Status ParseValue(std::string_view text, DataType type, Value* out) {
  switch (type) {
    case DataType::kString:
      out->SetString(text);
      return absl::OkStatus();
    case DataType::kInteger: {
      std::string_view s = Trim(text);
      if (!s.empty() && s.front() == '+') s.remove_prefix(1);
      long long iv = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), iv);
      if (!s.empty() && ec == std::errc() && ptr == s.data() + s.size()) {
        out->SetNumber(static_cast<double>(iv), DataType::kInteger);
        return absl::OkStatus();
      }
      // "3.0" and "1e3" are integers too; "3.5" is not.
      double d;
      if (ParseDouble(text, &d) && std::isfinite(d) && d == std::trunc(d)) {
        out->SetNumber(d + 0.0, DataType::kInteger);
        return absl::OkStatus();
      }
      if (EqualsIgnoreCase(s, "true") || EqualsIgnoreCase(s, "false")) {  // flags count as 1/0
        out->SetNumber(EqualsIgnoreCase(s, "true") ? 1 : 0, DataType::kInteger);
        return absl::OkStatus();
      }
      return NotA(text, type);
    }
    case DataType::kFloat:
    case DataType::kDouble: {
      double d;
      if (!ParseDouble(text, &d)) {
        std::string_view s = Trim(text);
        if (!EqualsIgnoreCase(s, "true") && !EqualsIgnoreCase(s, "false")) return NotA(text, type);
        d = EqualsIgnoreCase(s, "true") ? 1 : 0;  // flags count as 1/0
      }
      if (type == DataType::kFloat) d = static_cast<double>(static_cast<float>(d));
      out->SetNumber(d + 0.0, type);  // -0 -> 0
      return absl::OkStatus();
    }
    case DataType::kBoolean: {
      std::string_view s = Trim(text);
      if (EqualsIgnoreCase(s, "true") || s == "1") {
        out->SetBool(true);
        return absl::OkStatus();
      }
      if (EqualsIgnoreCase(s, "false") || s == "0") {
        out->SetBool(false);
        return absl::OkStatus();
      }
      double d;
      if (ParseDouble(s, &d) && (d == 0 || d == 1)) {  // only 0 and 1 are booleans
        out->SetBool(d != 0);
        return absl::OkStatus();
      }
      return NotA(text, type);
    }
    case DataType::kDate:
    case DataType::kDateDaysSince0:
    case DataType::kDateDaysSince1960:
    case DataType::kDateDaysSince1970:
    case DataType::kDateDaysSince1980: {
      std::string_view s = Trim(text);
      int64_t days;
      if (ParseDate(s.substr(0, std::min<size_t>(s.size(), 10)), &days) &&
          (s.size() == 10 || (s.size() >= 19 && (s[10] == 'T' || s[10] == ' ')))) {
        out->SetNumber(static_cast<double>(days - EpochDays(type)), type);
        return absl::OkStatus();
      }
      double d;
      if (type != DataType::kDate && ParseDouble(s, &d) && std::isfinite(d)) {
        out->SetNumber(d, type);
        return absl::OkStatus();
      }
      return NotA(text, type);
    }
    case DataType::kTime:
    case DataType::kTimeSeconds: {
      std::string_view s = Trim(text);
      double secs;
      if (ParseTime(s, &secs)) {
        out->SetNumber(secs, type);
        return absl::OkStatus();
      }
      if (type == DataType::kTimeSeconds && ParseDouble(s, &secs) && std::isfinite(secs)) {
        out->SetNumber(secs, type);
        return absl::OkStatus();
      }
      return NotA(text, type);
    }
    case DataType::kDateTime:
    case DataType::kDateTimeSecondsSince0:
    case DataType::kDateTimeSecondsSince1960:
    case DataType::kDateTimeSecondsSince1970:
    case DataType::kDateTimeSecondsSince1980: {
      std::string_view s = Trim(text);
      double secs;
      if (ParseDateTime(s, &secs)) {
        out->SetNumber(secs - static_cast<double>(EpochDays(type)) * 86400.0, type);
        return absl::OkStatus();
      }
      int64_t days;
      if (ParseDate(s, &days)) {
        out->SetNumber(static_cast<double>(days - EpochDays(type)) * 86400.0, type);
        return absl::OkStatus();
      }
      if (type != DataType::kDateTime && ParseDouble(s, &secs) && std::isfinite(secs)) {
        out->SetNumber(secs, type);
        return absl::OkStatus();
      }
      return NotA(text, type);
    }
  }
  return NotA(text, type);
}

absl::Status ConvertValue(const Value& in, DataType type, Value* out) {
  switch (in.kind) {
    case Value::Kind::kMissing:
      out->SetMissing();
      return absl::OkStatus();
    case Value::Kind::kInvalid:
      return absl::InvalidArgumentError(absl::StrCat("invalid value '", in.str, "'"));
    case Value::Kind::kCollection:
      if (&in != out) *out = in;
      return absl::OkStatus();
    case Value::Kind::kString:
      if (type == DataType::kString) {
        if (&in != out) out->SetString(in.str);
        return absl::OkStatus();
      }
      // Parsing a non-string type only writes kind/type/num, so in == out is fine.
      return ParseValue(in.str, type, out);
    case Value::Kind::kBool:
    case Value::Kind::kNumber:
      break;
  }
  const double v = in.num;
  const DataType from = in.kind == Value::Kind::kBool ? DataType::kBoolean : in.type;
  switch (type) {
    case DataType::kString: {
      if (&in == out) {
        Value tmp = in;
        FormatValue(tmp, &out->str);
      } else {
        out->str.clear();
        FormatValue(in, &out->str);
      }
      out->kind = Value::Kind::kString;
      out->type = DataType::kString;
      return absl::OkStatus();
    }
    case DataType::kBoolean:
      if (v != 0 && v != 1) {
        std::string t;
        AppendShortest(v, &t);
        return NotA(t, type);
      }
      out->SetBool(v != 0);
      return absl::OkStatus();
    case DataType::kInteger:
      if (!std::isfinite(v)) {
        std::string t;
        AppendShortest(v, &t);
        return NotA(t, type);
      }
      out->SetNumber(std::trunc(v), DataType::kInteger);
      return absl::OkStatus();
    case DataType::kFloat:
      out->SetNumber(static_cast<double>(static_cast<float>(v)), DataType::kFloat);
      return absl::OkStatus();
    case DataType::kDouble:
      out->SetNumber(v, DataType::kDouble);
      return absl::OkStatus();
    default:
      out->SetNumber(ConvertNumber(v, from, type), type);
      return absl::OkStatus();
  }
}

void FormatValue(const Value& v, std::string* out) {
  switch (v.kind) {
    case Value::Kind::kMissing:
      return;
    case Value::Kind::kString:
    case Value::Kind::kInvalid:
      out->append(v.str);
      return;
    case Value::Kind::kBool:
      out->append(v.num != 0 ? "true" : "false");
      return;
    case Value::Kind::kCollection:
      out->push_back('[');
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out->append(", ");
        out->append(v.items[i]);
      }
      out->push_back(']');
      return;
    case Value::Kind::kNumber:
      break;
  }
  switch (v.type) {
    case DataType::kInteger:
    case DataType::kDateDaysSince0:
    case DataType::kDateDaysSince1960:
    case DataType::kDateDaysSince1970:
    case DataType::kDateDaysSince1980:
    case DataType::kDateTimeSecondsSince0:
    case DataType::kDateTimeSecondsSince1960:
    case DataType::kDateTimeSecondsSince1970:
    case DataType::kDateTimeSecondsSince1980:
    case DataType::kTimeSeconds:
      if (v.num == std::trunc(v.num)) {
        AppendInteger(v.num, out);
      } else {
        AppendShortest(v.num, out);
      }
      return;
    case DataType::kFloat:
      AppendShortestFloat(v.num, out);
      return;
    case DataType::kBoolean:
      out->append(v.num != 0 ? "true" : "false");
      return;
    case DataType::kDate:
      if (!std::isfinite(v.num)) return AppendShortest(v.num, out);
      AppendDate(static_cast<int64_t>(std::floor(v.num)), out);
      return;
    case DataType::kTime:
      if (!std::isfinite(v.num)) return AppendShortest(v.num, out);
      AppendTime(v.num, out);
      return;
    case DataType::kDateTime: {
      if (!std::isfinite(v.num)) return AppendShortest(v.num, out);
      double days = std::floor(v.num / 86400.0);
      AppendDate(static_cast<int64_t>(days), out);
      out->push_back('T');
      AppendTime(v.num - days * 86400.0, out);
      return;
    }
    case DataType::kDouble:
    case DataType::kString:
      AppendShortest(v.num, out);
      return;
  }
}

std::string FormatValue(const Value& v) {
  std::string s;
  FormatValue(v, &s);
  return s;
}

namespace {

bool IsNumberLike(const Value& v) {
  return v.kind == Value::Kind::kNumber || v.kind == Value::Kind::kBool;
}
bool IsText(const Value& v) {
  return v.kind == Value::Kind::kString || v.kind == Value::Kind::kInvalid;
}

// Numeric view of a value for mixed comparisons: a string that parses as a
// number (or "true"/"false" against a boolean) counts as that number.
bool NumericView(const Value& text, const Value& other, double* out) {
  if (other.kind == Value::Kind::kBool || other.type == DataType::kBoolean) {
    Value b;
    if (ParseValue(text.str, DataType::kBoolean, &b).ok()) {
      *out = b.num;
      return true;
    }
    return false;
  }
  if (other.type != DataType::kDouble && other.type != DataType::kFloat &&
      other.type != DataType::kInteger && IsNumeric(other.type)) {
    Value d;
    if (ParseValue(text.str, other.type, &d).ok()) {
      *out = d.num;
      return true;
    }
    return false;
  }
  return ParseDouble(text.str, out);
}

}  // namespace

bool ValuesEqual(const Value& a, const Value& b) {
  if (a.missing() || b.missing()) return false;
  if (IsNumberLike(a) && IsNumberLike(b)) return a.num == b.num;
  if (IsText(a) && IsText(b)) return a.str == b.str;
  if (a.kind == Value::Kind::kCollection || b.kind == Value::Kind::kCollection) {
    return a.kind == b.kind && a.items == b.items;
  }
  const Value& text = IsText(a) ? a : b;
  const Value& num = IsText(a) ? b : a;
  double d;
  if (NumericView(text, num, &d)) return d == num.num;
  return text.str == FormatValue(num);
}

int CompareValues(const Value& a, const Value& b) {
  auto cmp = [](double x, double y) { return x < y ? -1 : (x > y ? 1 : 0); };
  if (IsNumberLike(a) && IsNumberLike(b)) return cmp(a.num, b.num);
  if (IsText(a) && IsText(b)) {
    int c = a.str.compare(b.str);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (IsText(a) != IsText(b) && (IsNumberLike(a) || IsNumberLike(b))) {
    const Value& text = IsText(a) ? a : b;
    const Value& num = IsText(a) ? b : a;
    double d;
    if (NumericView(text, num, &d)) return IsText(a) ? cmp(d, num.num) : cmp(num.num, d);
  }
  int c = FormatValue(a).compare(FormatValue(b));
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace evs::pmml
