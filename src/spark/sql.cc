// SQLTransformer: the column-expression SELECTs Spark pipelines use
// (`SELECT *, <expr> AS <name> FROM __THIS__`, column lists, IN/BETWEEN on a
// column, an optional WHERE), compiled at load time into a small expression
// tree.
//
// Semantics follow Spark SQL (non-ANSI mode): nulls propagate, integer
// arithmetic stays integer (32/64-bit wrapping), `/` is always a double
// division, division or remainder by zero is null, round() is HALF_UP on the
// decimal form of the double, comparisons treat NaN as equal to itself and
// larger than any number. Decimal literals (`1.5`) are evaluated as doubles.
// Anything outside this subset is a load-time error
// "SQLTransformer <uid>: unsupported SQL ...".
//
// Evaluation is allocation-free for numeric expressions: numbers are passed
// by value; a node that makes a new string (concat, lower, casts) writes it
// into its own scratch cell of the Row.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spark/stage.h"

namespace evs::spark {
namespace {

// ---------------------------------------------------------------------------
// Types and values

// Static type of an expression. kNull: the NULL literal (adopts the other
// operand's type); kOther: vectors and arrays (only passed through).
enum class Ty : uint8_t { kNull, kBool, kInt, kLong, kDouble, kString, kOther };

bool IsNum(Ty t) { return t == Ty::kInt || t == Ty::kLong || t == Ty::kDouble; }

Ty FromDataType(DataType t) {
  switch (t) {
    case DataType::kBoolean: return Ty::kBool;
    case DataType::kInteger: return Ty::kInt;
    case DataType::kLong: return Ty::kLong;
    case DataType::kFloat:
    case DataType::kDouble: return Ty::kDouble;
    case DataType::kString: return Ty::kString;
    default: return Ty::kOther;
  }
}

DataType ToDataType(Ty t) {
  switch (t) {
    case Ty::kBool: return DataType::kBoolean;
    case Ty::kInt: return DataType::kInteger;
    case Ty::kLong: return DataType::kLong;
    case Ty::kString: return DataType::kString;
    default: return DataType::kDouble;
  }
}

absl::string_view TyName(Ty t) {
  switch (t) {
    case Ty::kNull: return "null";
    case Ty::kBool: return "boolean";
    case Ty::kInt: return "int";
    case Ty::kLong: return "bigint";
    case Ty::kDouble: return "double";
    case Ty::kString: return "string";
    case Ty::kOther: return "vector/array";
  }
  return "?";
}

// Wider numeric type (int < bigint < double).
Ty WiderNum(Ty a, Ty b) {
  if (a == Ty::kDouble || b == Ty::kDouble) return Ty::kDouble;
  if (a == Ty::kLong || b == Ty::kLong) return Ty::kLong;
  return Ty::kInt;
}

// The value of an expression for one row. Numbers (booleans 0/1, integers
// exact) in `num`; strings by pointer into the row or the expression tree;
// `cell` for vectors and arrays passed through.
struct V {
  bool null = true;
  double num = 0;
  const std::string* str = nullptr;
  const Cell* cell = nullptr;
};

V Null() { return V{}; }
V Num(double d) { return V{false, d, nullptr, nullptr}; }
V Str(const std::string* s) { return V{false, 0, s, nullptr}; }

double WrapInt(double v) {  // 32-bit two's complement wrap of an integral value
  int64_t i = static_cast<int64_t>(v);
  return static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(i))));
}
int64_t ToLong(double v) {  // JVM double -> long: saturating, NaN -> 0
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}
int32_t ToInt(double v) {  // JVM double -> int: saturating, NaN -> 0
  if (std::isnan(v)) return 0;
  if (v >= 2147483647.0) return std::numeric_limits<int32_t>::max();
  if (v <= -2147483648.0) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(v);
}

// Spark's ordering of doubles: NaN equals NaN and is above everything.
int CompareDoubles(double a, double b) {
  const bool an = std::isnan(a), bn = std::isnan(b);
  if (an || bn) return an == bn ? 0 : (an ? 1 : -1);
  return a < b ? -1 : (a > b ? 1 : 0);
}

// Java's Double.parseDouble as Spark's string -> double cast uses it:
// surrounding blanks trimmed, "NaN", "Infinity" (case-insensitive in Spark 3),
// trailing d/f suffix. False when the text is not a number.
bool ParseNumber(absl::string_view s, double* out) {
  s = absl::StripAsciiWhitespace(s);
  if (s.empty()) return false;
  std::string lower = absl::AsciiStrToLower(s);
  absl::string_view l = lower;
  bool neg = false;
  absl::string_view body = l;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (body == "infinity" || body == "inf") {
    *out = neg ? -HUGE_VAL : HUGE_VAL;
    return true;
  }
  if (!l.empty() && (l.back() == 'd' || l.back() == 'f')) l.remove_suffix(1);
  if (l.empty() || l.find_first_not_of("+-.0123456789e") != absl::string_view::npos) return false;
  const char* b = l.data();
  if (*b == '+') ++b;
  double v = 0;
  auto [p, ec] = std::from_chars(b, l.data() + l.size(), v);
  if (ec != std::errc() && ec != std::errc::result_out_of_range) return false;
  if (p != l.data() + l.size()) return false;
  *out = v;
  return true;
}

// Spark's string -> integral cast: optional sign, digits, an optional
// fraction that is truncated; out of range or anything else is null.
bool ParseIntegral(absl::string_view s, bool is_long, double* out) {
  s = absl::StripAsciiWhitespace(s);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i >= s.size()) return false;
  __int128 v = 0;
  size_t digits = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
    v = v * 10 + (s[i] - '0');
    if (v > (static_cast<__int128>(1) << 64)) return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) ++digits;
  }
  if (i != s.size() || digits == 0) return false;
  if (neg) v = -v;
  const __int128 lo = is_long ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int32_t>::min();
  const __int128 hi = is_long ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int32_t>::max();
  if (v < lo || v > hi) return false;
  *out = static_cast<double>(static_cast<int64_t>(v));
  return true;
}

// round(x, d) HALF_UP on the decimal form of x (Spark: BigDecimal(x), which
// reads Double.toString), or HALF_EVEN for bround.
double RoundDecimal(double x, int scale, bool half_even) {
  if (std::isnan(x) || std::isinf(x)) return x;
  // Shortest round-trip digits of x: d1 d2 ... dn * 10^(exp10 - n).
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::scientific);
  absl::string_view sci(buf, r.ptr - buf);
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits.push_back(c);
  int exp10 = std::atoi(std::string(sci.substr(e + 1)).c_str());  // value = 0.d1d2.. * 10^(exp10+1)
  // Number of digits kept: those with position >= 10^-scale.
  int keep = exp10 + 1 + scale;
  if (keep >= static_cast<int>(digits.size())) return x;  // already exact at this scale
  bool up;
  std::string kept;
  if (keep < 0) {
    up = false;
  } else {
    kept = digits.substr(0, keep);
    const char next = digits[keep];
    bool rest_nonzero = digits.find_first_not_of('0', keep + 1) != std::string::npos;
    if (next > '5' || (next == '5' && (rest_nonzero || !half_even))) {
      up = true;
    } else if (next == '5' && half_even) {
      up = !kept.empty() && ((kept.back() - '0') % 2 == 1);
    } else {
      up = false;
    }
  }
  // Increment `kept` as a decimal integer.
  int shift = 0;
  if (up) {
    int i = static_cast<int>(kept.size()) - 1;
    while (i >= 0 && kept[i] == '9') kept[i--] = '0';
    if (i >= 0) {
      kept[i]++;
    } else {
      kept.insert(kept.begin(), '1');
      shift = 1;
    }
  }
  if (kept.empty() || kept.find_first_not_of('0') == std::string::npos) return std::signbit(x) ? -0.0 : 0.0;
  // kept * 10^(exp10 + 1 - keep + shift - shift...) : the last kept digit has weight 10^-scale.
  std::string text = absl::StrCat(x < 0 ? "-" : "", kept, "e", -scale);
  (void)shift;
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

// ---------------------------------------------------------------------------
// Expression tree

struct Expr {
  Ty ty = Ty::kNull;
  std::string sql;  // Spark's generated column name for an unaliased item
  virtual ~Expr() = default;
  virtual V Eval(Row& row) const = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Literal : Expr {
  V v;
  std::string s;
  V Eval(Row&) const override {
    V r = v;
    if (ty == Ty::kString && !r.null) r.str = &s;
    return r;
  }
};

struct ColumnRef : Expr {
  int slot = -1;
  V Eval(Row& row) const override {
    const Cell& c = row.cells[slot];
    switch (c.kind) {
      case Cell::Kind::kNull: return Null();
      case Cell::Kind::kNumber: return Num(c.num);
      case Cell::Kind::kString: return Str(&c.str);
      default: {
        V r;
        r.null = false;
        r.cell = &c;
        return r;
      }
    }
  }
};

// Writes numbers as Spark's cast to string does.
void AppendAsString(const V& v, Ty ty, std::string* out) {
  if (v.str) {
    out->append(*v.str);
    return;
  }
  switch (ty) {
    case Ty::kBool: out->append(v.num != 0 ? "true" : "false"); return;
    case Ty::kInt:
    case Ty::kLong: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v.num));
      out->append(buf, r.ptr);
      return;
    }
    default: out->append(JavaDoubleToString(v.num)); return;
  }
}

struct Cast : Expr {
  ExprPtr arg;
  int scratch = -1;  // string results
  V Eval(Row& row) const override {
    V a = arg->Eval(row);
    if (a.null) return a;
    const Ty from = arg->ty;
    switch (ty) {
      case Ty::kString: {
        if (from == Ty::kString) return a;
        std::string& s = row.cells[scratch].str;
        s.clear();
        AppendAsString(a, from, &s);
        return Str(&s);
      }
      case Ty::kDouble: {
        if (from == Ty::kString) {
          double d;
          return ParseNumber(*a.str, &d) ? Num(d) : Null();
        }
        return Num(a.num);
      }
      case Ty::kInt:
      case Ty::kLong: {
        const bool is_long = ty == Ty::kLong;
        if (from == Ty::kString) {
          double d;
          return ParseIntegral(*a.str, is_long, &d) ? Num(d) : Null();
        }
        if (from == Ty::kDouble) return Num(is_long ? static_cast<double>(ToLong(a.num)) : ToInt(a.num));
        return Num(is_long ? a.num : WrapInt(a.num));
      }
      case Ty::kBool: {
        if (from == Ty::kString) {
          std::string l = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*a.str));
          if (l == "t" || l == "true" || l == "y" || l == "yes" || l == "1") return Num(1);
          if (l == "f" || l == "false" || l == "n" || l == "no" || l == "0") return Num(0);
          return Null();
        }
        return Num(a.num != 0 ? 1 : 0);
      }
      default: return a;
    }
  }
};

enum class Op : uint8_t { kAdd, kSub, kMul, kDiv, kMod, kIntDiv, kEq, kNe, kLt, kLe, kGt, kGe, kEqNullSafe, kAnd, kOr };

struct Binary : Expr {
  Op op;
  ExprPtr l, r;
  Ty operand = Ty::kDouble;  // common type of the operands (arithmetic, comparisons)
  V Eval(Row& row) const override {
    if (op == Op::kAnd || op == Op::kOr) {
      V a = l->Eval(row);
      const bool is_and = op == Op::kAnd;
      // Short circuit: false AND x = false, true OR x = true, even for a null x.
      if (!a.null && (a.num != 0) != is_and) return Num(is_and ? 0 : 1);
      V b = r->Eval(row);
      if (!b.null && (b.num != 0) != is_and) return Num(is_and ? 0 : 1);
      if (a.null || b.null) return Null();
      return Num(is_and ? 1 : 0);
    }
    V a = l->Eval(row);
    V b = r->Eval(row);
    if (op == Op::kEqNullSafe) {
      if (a.null || b.null) return Num(a.null && b.null ? 1 : 0);
      return Num(Compare(a, b) == 0 ? 1 : 0);
    }
    if (a.null || b.null) return Null();
    switch (op) {
      case Op::kEq: return Num(Compare(a, b) == 0);
      case Op::kNe: return Num(Compare(a, b) != 0);
      case Op::kLt: return Num(Compare(a, b) < 0);
      case Op::kLe: return Num(Compare(a, b) <= 0);
      case Op::kGt: return Num(Compare(a, b) > 0);
      case Op::kGe: return Num(Compare(a, b) >= 0);
      default: break;
    }
    const double x = a.num, y = b.num;
    if (operand == Ty::kDouble) {
      switch (op) {
        case Op::kAdd: return Num(x + y);
        case Op::kSub: return Num(x - y);
        case Op::kMul: return Num(x * y);
        case Op::kDiv: return y == 0 ? Null() : Num(x / y);
        case Op::kMod: return y == 0 ? Null() : Num(std::fmod(x, y));
        default: return Null();
      }
    }
    // Integral operands: exact 64-bit arithmetic, wrapped to the result type.
    const int64_t i = static_cast<int64_t>(x), j = static_cast<int64_t>(y);
    auto wrap = [&](uint64_t u) {
      int64_t v = static_cast<int64_t>(u);
      return Num(operand == Ty::kInt ? WrapInt(static_cast<double>(static_cast<int32_t>(static_cast<uint32_t>(v))))
                                     : static_cast<double>(v));
    };
    switch (op) {
      case Op::kAdd: return wrap(static_cast<uint64_t>(i) + static_cast<uint64_t>(j));
      case Op::kSub: return wrap(static_cast<uint64_t>(i) - static_cast<uint64_t>(j));
      case Op::kMul: return wrap(static_cast<uint64_t>(i) * static_cast<uint64_t>(j));
      case Op::kDiv: return j == 0 ? Null() : Num(static_cast<double>(i) / static_cast<double>(j));
      case Op::kMod:
        if (j == 0) return Null();
        if (j == -1) return Num(0);
        return Num(static_cast<double>(i % j));
      case Op::kIntDiv:
        if (j == 0) return Null();
        if (j == -1) return wrap(0 - static_cast<uint64_t>(i));
        return Num(static_cast<double>(i / j));
      default: return Null();
    }
  }
  int Compare(const V& a, const V& b) const {
    if (operand == Ty::kString) {
      const int c = a.str->compare(*b.str);  // byte order, as UTF8String
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    return CompareDoubles(a.num, b.num);
  }
};

struct Unary : Expr {
  enum Kind : uint8_t { kNeg, kNot, kIsNull, kIsNotNull } kind;
  ExprPtr arg;
  V Eval(Row& row) const override {
    V a = arg->Eval(row);
    switch (kind) {
      case kIsNull: return Num(a.null ? 1 : 0);
      case kIsNotNull: return Num(a.null ? 0 : 1);
      default: break;
    }
    if (a.null) return a;
    if (kind == kNot) return Num(a.num != 0 ? 0 : 1);
    if (ty == Ty::kInt) return Num(WrapInt(-a.num));
    if (ty == Ty::kLong) {
      int64_t i = static_cast<int64_t>(a.num);
      return Num(static_cast<double>(static_cast<int64_t>(0 - static_cast<uint64_t>(i))));
    }
    return Num(-a.num);
  }
};

// CASE WHEN / IF: the first branch whose condition is true, else `otherwise`.
struct CaseWhen : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> branches;  // (condition, value)
  ExprPtr otherwise;                                  // may be null
  V Eval(Row& row) const override {
    for (const auto& [cond, value] : branches) {
      V c = cond->Eval(row);
      if (!c.null && c.num != 0) return value->Eval(row);
    }
    return otherwise ? otherwise->Eval(row) : Null();
  }
};

enum class Fn : uint8_t {
  kAbs, kSqrt, kExp, kLn, kLog, kLog10, kLog2, kLog1p, kExpm1, kPow, kFloor, kCeil, kRound, kBround, kSignum,
  kGreatest, kLeast, kCoalesce, kLower, kUpper, kLength, kConcat, kTrim, kNanvl
};

struct Call : Expr {
  Fn fn;
  std::vector<ExprPtr> args;
  int scale = 0;      // round/bround
  int scratch = -1;   // string results
  V Eval(Row& row) const override {
    switch (fn) {
      case Fn::kCoalesce:
        for (const auto& a : args) {
          V v = a->Eval(row);
          if (!v.null) return v;
        }
        return Null();
      case Fn::kGreatest:
      case Fn::kLeast: {
        V best;
        for (const auto& a : args) {
          V v = a->Eval(row);
          if (v.null) continue;
          if (best.null) {
            best = v;
            continue;
          }
          int c = ty == Ty::kString ? v.str->compare(*best.str) : CompareDoubles(v.num, best.num);
          if (fn == Fn::kGreatest ? c > 0 : c < 0) best = v;
        }
        return best;
      }
      case Fn::kConcat: {
        std::string& s = row.cells[scratch].str;
        s.clear();
        for (const auto& a : args) {
          V v = a->Eval(row);
          if (v.null) return Null();
          AppendAsString(v, a->ty, &s);
        }
        return Str(&s);
      }
      default: break;
    }
    V a = args[0]->Eval(row);
    if (a.null) return a;
    const double x = a.num;
    switch (fn) {
      case Fn::kAbs:
        if (ty == Ty::kInt) return Num(WrapInt(std::fabs(x)));
        return Num(std::fabs(x));
      case Fn::kSqrt: return Num(std::sqrt(x));
      case Fn::kExp: return Num(std::exp(x));
      case Fn::kExpm1: return Num(std::expm1(x));
      case Fn::kLn: return x <= 0 ? Null() : Num(std::log(x));
      case Fn::kLog10: return x <= 0 ? Null() : Num(std::log10(x));
      case Fn::kLog2: return x <= 0 ? Null() : Num(std::log(x) / std::log(2.0));
      case Fn::kLog1p: return x <= -1 ? Null() : Num(std::log1p(x));
      case Fn::kLog: {  // log(base, x)
        V b = args[1]->Eval(row);
        if (b.null || x <= 0 || b.num <= 0) return Null();
        return Num(std::log(b.num) / std::log(x));
      }
      case Fn::kPow: {
        V b = args[1]->Eval(row);
        return b.null ? Null() : Num(std::pow(x, b.num));
      }
      case Fn::kNanvl: {
        if (!std::isnan(x)) return a;
        return args[1]->Eval(row);
      }
      case Fn::kFloor:
        return args[0]->ty == Ty::kDouble ? Num(static_cast<double>(ToLong(std::floor(x)))) : a;
      case Fn::kCeil:
        return args[0]->ty == Ty::kDouble ? Num(static_cast<double>(ToLong(std::ceil(x)))) : a;
      case Fn::kSignum: return Num(std::isnan(x) ? x : (x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0)));
      case Fn::kRound:
      case Fn::kBround: {
        if (args[0]->ty == Ty::kDouble) return Num(RoundDecimal(x, scale, fn == Fn::kBround));
        if (scale >= 0) return a;
        // Integral input, negative scale: round to 10^-scale.
        double p = std::pow(10.0, -scale);
        double q = std::trunc(x / p), rem = x - q * p;
        double half = p / 2;
        double r = q * p;
        if (std::fabs(rem) > half || (std::fabs(rem) == half && (fn == Fn::kRound || std::fmod(std::fabs(q), 2) == 1)))
          r += (x < 0 ? -p : p);
        return Num(ty == Ty::kInt ? WrapInt(r) : r);
      }
      case Fn::kLower:
      case Fn::kUpper:
      case Fn::kTrim: {
        std::string& s = row.cells[scratch].str;
        s.clear();
        AppendAsString(a, args[0]->ty, &s);
        if (fn == Fn::kLower) absl::AsciiStrToLower(&s);
        else if (fn == Fn::kUpper) absl::AsciiStrToUpper(&s);
        else {
          size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
          if (b == std::string::npos) s.clear();
          else s = s.substr(b, e - b + 1);
        }
        return Str(&s);
      }
      case Fn::kLength: {
        std::string& s = row.cells[scratch].str;
        s.clear();
        AppendAsString(a, args[0]->ty, &s);
        int64_t n = 0;
        for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // UTF-8 code points
        return Num(static_cast<double>(n));
      }
      default: return Null();
    }
  }
};

// ---------------------------------------------------------------------------
// Tokenizer and parser

struct Token {
  enum Kind : uint8_t { kEnd, kIdent, kQuotedIdent, kNumber, kString, kSymbol } kind = kEnd;
  std::string text;  // identifier / symbol / number text / string value
  size_t pos = 0;
};

class Parser {
 public:
  Parser(const StageMeta& meta, Schema& schema, absl::string_view sql)
      : meta_(meta), schema_(schema), sql_(sql) {}

  absl::Status Tokenize();
  absl::StatusOr<std::unique_ptr<Stage>> Compile();

 private:
  // Errors.
  absl::Status Unsupported(absl::string_view what) const {
    return meta_.Error(absl::StrCat("unsupported SQL: ", what, " (statement: ", Abbrev(), ")"));
  }
  std::string Abbrev() const {
    std::string s;
    bool space = false;
    for (char c : sql_) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        space = !s.empty();
        continue;
      }
      if (space) s.push_back(' ');
      space = false;
      s.push_back(c);
    }
    if (s.size() > 160) s = s.substr(0, 157) + "...";
    return s;
  }
  std::string Near() const {
    const Token& t = Peek();
    if (t.kind == Token::kEnd) return "at the end";
    return absl::StrCat("near '", t.kind == Token::kString ? "'" + t.text + "'" : t.text, "'");
  }

  const Token& Peek(size_t k = 0) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  Token Take() {
    Token t = Peek();
    if (i_ < toks_.size() - 1) ++i_;
    return t;
  }
  bool IsKeyword(absl::string_view kw, size_t k = 0) const {
    const Token& t = Peek(k);
    return t.kind == Token::kIdent && absl::EqualsIgnoreCase(t.text, kw);
  }
  bool TakeKeyword(absl::string_view kw) {
    if (!IsKeyword(kw)) return false;
    Take();
    return true;
  }
  bool IsSymbol(absl::string_view s, size_t k = 0) const {
    const Token& t = Peek(k);
    return t.kind == Token::kSymbol && t.text == s;
  }
  bool TakeSymbol(absl::string_view s) {
    if (!IsSymbol(s)) return false;
    Take();
    return true;
  }
  absl::Status Expect(absl::string_view s) {
    if (TakeSymbol(s)) return absl::OkStatus();
    return Unsupported(absl::StrCat("expected '", s, "' ", Near()));
  }

  absl::StatusOr<ExprPtr> ParseExpr() { return ParseOr(); }
  absl::StatusOr<ExprPtr> ParseOr();
  absl::StatusOr<ExprPtr> ParseAnd();
  absl::StatusOr<ExprPtr> ParseNot();
  absl::StatusOr<ExprPtr> ParsePredicate();
  absl::StatusOr<ExprPtr> ParseAdditive();
  absl::StatusOr<ExprPtr> ParseMultiplicative();
  absl::StatusOr<ExprPtr> ParseUnary();
  absl::StatusOr<ExprPtr> ParsePrimary();
  absl::StatusOr<ExprPtr> ParseCase();
  absl::StatusOr<ExprPtr> ParseCast();
  absl::StatusOr<ExprPtr> ParseCall(const std::string& name);
  absl::StatusOr<ExprPtr> ParseNumber(const Token& t);
  absl::StatusOr<ExprPtr> Column(const std::string& name, size_t pos);

  // Builders with Spark's type rules.
  absl::StatusOr<ExprPtr> MakeBinary(Op op, ExprPtr l, ExprPtr r, absl::string_view symbol);
  absl::StatusOr<ExprPtr> Coerce(ExprPtr e, Ty to);
  absl::StatusOr<ExprPtr> MakeCast(ExprPtr e, Ty to, absl::string_view type_name);
  absl::Status RequireBool(const Expr& e, absl::string_view where) const {
    if (e.ty == Ty::kBool || e.ty == Ty::kNull) return absl::OkStatus();
    return Unsupported(absl::StrCat(where, " needs a boolean, got ", TyName(e.ty), " ", e.sql));
  }
  absl::StatusOr<Ty> CommonType(const std::vector<const Expr*>& es, absl::string_view where) const;
  int Scratch() { return schema_.AddScratch(); }

  const StageMeta& meta_;
  Schema& schema_;
  absl::string_view sql_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  std::vector<int> reads_;
  // Type asked for an input column that an undeclared schema does not have
  // yet: strings inside string functions, else doubles.
  DataType hint_ = DataType::kDouble;
};

absl::Status Parser::Tokenize() {
  size_t i = 0;
  const size_t n = sql_.size();
  while (i < n) {
    const char c = sql_[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < n && sql_[i + 1] == '-') {  // comment to the end of the line
      while (i < n && sql_[i] != '\n') ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < n && (std::isalnum(static_cast<unsigned char>(sql_[j])) || sql_[j] == '_')) ++j;
      t.kind = Token::kIdent;
      t.text = std::string(sql_.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql_[i + 1])))) {
      size_t j = i;
      while (j < n && (std::isdigit(static_cast<unsigned char>(sql_[j])) || sql_[j] == '.')) ++j;
      if (j < n && (sql_[j] == 'e' || sql_[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (sql_[k] == '+' || sql_[k] == '-')) ++k;
        if (k < n && std::isdigit(static_cast<unsigned char>(sql_[k]))) {
          j = k;
          while (j < n && std::isdigit(static_cast<unsigned char>(sql_[j]))) ++j;
        }
      }
      while (j < n && std::isalpha(static_cast<unsigned char>(sql_[j]))) ++j;  // suffix: L, D, BD, ...
      t.kind = Token::kNumber;
      t.text = std::string(sql_.substr(i, j - i));
      i = j;
    } else if (c == '\'' || c == '"') {
      // String literal (Spark's default: both quotes; backslash escapes).
      size_t j = i + 1;
      std::string v;
      bool closed = false;
      while (j < n) {
        char d = sql_[j];
        if (d == '\\' && j + 1 < n) {
          char e = sql_[j + 1];
          switch (e) {
            case 'n': v.push_back('\n'); break;
            case 't': v.push_back('\t'); break;
            case 'r': v.push_back('\r'); break;
            case '0': v.push_back('\0'); break;
            case 'b': v.push_back('\b'); break;
            case 'Z': v.push_back('\x1A'); break;
            default: v.push_back(e); break;
          }
          j += 2;
          continue;
        }
        if (d == c) {
          closed = true;
          ++j;
          break;
        }
        v.push_back(d);
        ++j;
      }
      if (!closed) return Unsupported("a string literal is not closed");
      t.kind = Token::kString;
      t.text = std::move(v);
      i = j;
    } else if (c == '`') {
      size_t j = i + 1;
      std::string v;
      bool closed = false;
      while (j < n) {
        if (sql_[j] == '`') {
          if (j + 1 < n && sql_[j + 1] == '`') {
            v.push_back('`');
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        v.push_back(sql_[j++]);
      }
      if (!closed) return Unsupported("a backquoted name is not closed");
      t.kind = Token::kQuotedIdent;
      t.text = std::move(v);
      i = j;
    } else {
      static constexpr absl::string_view kSymbols[] = {"<=>", "==", "!=", "<>", "<=", ">=", "||", "+", "-", "*",
                                                      "/",   "%",  "(",  ")",  ",",  "<",  ">",  "=", ".", ";"};
      bool found = false;
      for (absl::string_view s : kSymbols) {
        if (sql_.substr(i, s.size()) == s) {
          t.kind = Token::kSymbol;
          t.text = std::string(s);
          i += s.size();
          found = true;
          break;
        }
      }
      if (!found) return Unsupported(absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
    toks_.push_back(std::move(t));
  }
  Token end;
  end.pos = n;
  toks_.push_back(end);
  return absl::OkStatus();
}

absl::StatusOr<Ty> Parser::CommonType(const std::vector<const Expr*>& es, absl::string_view where) const {
  Ty t = Ty::kNull;
  for (const Expr* e : es) {
    if (e->ty == Ty::kNull || e->ty == t) continue;
    if (t == Ty::kNull) {
      t = e->ty;
    } else if (IsNum(t) && IsNum(e->ty)) {
      t = WiderNum(t, e->ty);
    } else if ((t == Ty::kString && e->ty != Ty::kOther) || (e->ty == Ty::kString && t != Ty::kOther)) {
      t = Ty::kString;  // numbers and booleans are cast to string
    } else {
      return Unsupported(absl::StrCat(where, " mixes ", TyName(t), " and ", TyName(e->ty)));
    }
  }
  return t;
}

absl::StatusOr<ExprPtr> Parser::MakeCast(ExprPtr e, Ty to, absl::string_view type_name) {
  if (e->ty == Ty::kOther) return Unsupported(absl::StrCat("CAST of ", e->sql, " (a ", TyName(e->ty), ")"));
  auto c = std::make_unique<Cast>();
  c->ty = to;
  c->sql = absl::StrCat("CAST(", e->sql, " AS ", type_name, ")");
  if (to == Ty::kString) c->scratch = Scratch();
  c->arg = std::move(e);
  return ExprPtr(std::move(c));
}

// Implicit cast for an operand (Spark's type coercion): numbers widen with no
// change of value, strings become numbers (or numbers strings) through a cast.
absl::StatusOr<ExprPtr> Parser::Coerce(ExprPtr e, Ty to) {
  if (e->ty == to || e->ty == Ty::kNull) return e;
  if (IsNum(e->ty) && IsNum(to) && to != Ty::kInt) {
    if (e->ty == Ty::kDouble && to != Ty::kDouble) return Unsupported(absl::StrCat("narrowing ", e->sql));
    return e;  // int -> bigint -> double: same value
  }
  std::string sql = e->sql;
  ASSIGN_OR_RETURN(ExprPtr c, MakeCast(std::move(e), to, absl::AsciiStrToUpper(TyName(to))));
  c->sql = sql;  // implicit casts do not show in generated names
  return c;
}

absl::StatusOr<ExprPtr> Parser::MakeBinary(Op op, ExprPtr l, ExprPtr r, absl::string_view symbol) {
  auto b = std::make_unique<Binary>();
  b->op = op;
  b->sql = absl::StrCat("(", l->sql, " ", symbol, " ", r->sql, ")");
  if (l->ty == Ty::kOther || r->ty == Ty::kOther)
    return Unsupported(absl::StrCat("operator ", symbol, " on a vector or array column (", b->sql, ")"));
  switch (op) {
    case Op::kAnd:
    case Op::kOr:
      RETURN_IF_ERROR(RequireBool(*l, symbol));
      RETURN_IF_ERROR(RequireBool(*r, symbol));
      b->ty = Ty::kBool;
      b->operand = Ty::kBool;
      break;
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
    case Op::kEqNullSafe: {
      Ty t;
      const Ty a = l->ty == Ty::kNull ? r->ty : l->ty, c = r->ty == Ty::kNull ? l->ty : r->ty;
      if (a == c) t = a;
      else if (IsNum(a) && IsNum(c)) t = WiderNum(a, c);
      else if ((a == Ty::kString && IsNum(c)) || (IsNum(a) && c == Ty::kString)) t = Ty::kDouble;
      else if ((a == Ty::kBool && c == Ty::kString) || (a == Ty::kString && c == Ty::kBool)) t = Ty::kBool;
      else if ((a == Ty::kBool && IsNum(c)) || (IsNum(a) && c == Ty::kBool)) t = Ty::kDouble;
      else return Unsupported(absl::StrCat("comparison of ", TyName(a), " and ", TyName(c), " in ", b->sql));
      if (t == Ty::kNull) t = Ty::kDouble;
      if (t != Ty::kString) {
        if (l->ty == Ty::kString) { ASSIGN_OR_RETURN(l, Coerce(std::move(l), t)); }
        if (r->ty == Ty::kString) { ASSIGN_OR_RETURN(r, Coerce(std::move(r), t)); }
      }
      b->ty = Ty::kBool;
      b->operand = t == Ty::kString ? Ty::kString : Ty::kDouble;
      break;
    }
    default: {
      // Arithmetic: strings are cast to double; booleans are not numbers.
      if (l->ty == Ty::kBool || r->ty == Ty::kBool)
        return Unsupported(absl::StrCat("arithmetic on a boolean (", b->sql, ")"));
      if (l->ty == Ty::kString) { ASSIGN_OR_RETURN(l, Coerce(std::move(l), Ty::kDouble)); }
      if (r->ty == Ty::kString) { ASSIGN_OR_RETURN(r, Coerce(std::move(r), Ty::kDouble)); }
      const Ty a = l->ty == Ty::kNull ? (r->ty == Ty::kNull ? Ty::kInt : r->ty) : l->ty;
      const Ty c = r->ty == Ty::kNull ? a : r->ty;
      const Ty w = WiderNum(a, c);
      if (op == Op::kDiv) {
        b->operand = Ty::kDouble;
        b->ty = Ty::kDouble;
      } else if (op == Op::kIntDiv) {
        if (w == Ty::kDouble) return Unsupported(absl::StrCat("div on non-integral operands (", b->sql, ")"));
        b->operand = Ty::kLong;
        b->ty = Ty::kLong;
      } else {
        b->operand = w;
        b->ty = w;
      }
      break;
    }
  }
  b->l = std::move(l);
  b->r = std::move(r);
  return ExprPtr(std::move(b));
}

absl::StatusOr<ExprPtr> Parser::ParseOr() {
  ASSIGN_OR_RETURN(ExprPtr l, ParseAnd());
  while (TakeKeyword("OR")) {
    ASSIGN_OR_RETURN(ExprPtr r, ParseAnd());
    ASSIGN_OR_RETURN(l, MakeBinary(Op::kOr, std::move(l), std::move(r), "OR"));
  }
  return l;
}

absl::StatusOr<ExprPtr> Parser::ParseAnd() {
  ASSIGN_OR_RETURN(ExprPtr l, ParseNot());
  while (TakeKeyword("AND")) {
    ASSIGN_OR_RETURN(ExprPtr r, ParseNot());
    ASSIGN_OR_RETURN(l, MakeBinary(Op::kAnd, std::move(l), std::move(r), "AND"));
  }
  return l;
}

absl::StatusOr<ExprPtr> Parser::ParseNot() {
  if (TakeKeyword("NOT") || TakeSymbol("!")) {
    ASSIGN_OR_RETURN(ExprPtr a, ParseNot());
    RETURN_IF_ERROR(RequireBool(*a, "NOT"));
    auto u = std::make_unique<Unary>();
    u->kind = Unary::kNot;
    u->ty = Ty::kBool;
    u->sql = absl::StrCat("(NOT ", a->sql, ")");
    u->arg = std::move(a);
    return ExprPtr(std::move(u));
  }
  return ParsePredicate();
}

absl::StatusOr<ExprPtr> Parser::ParsePredicate() {
  ASSIGN_OR_RETURN(ExprPtr l, ParseAdditive());
  struct CmpOp {
    absl::string_view sym;
    Op op;
    absl::string_view shown;
  };
  static constexpr CmpOp kOps[] = {{"<=>", Op::kEqNullSafe, "<=>"}, {"==", Op::kEq, "="}, {"=", Op::kEq, "="},
                                   {"!=", Op::kNe, "="},            {"<>", Op::kNe, "="}, {"<=", Op::kLe, "<="},
                                   {">=", Op::kGe, ">="},           {"<", Op::kLt, "<"},  {">", Op::kGt, ">"}};
  for (const CmpOp& c : kOps) {
    if (!IsSymbol(c.sym)) continue;
    Take();
    ASSIGN_OR_RETURN(ExprPtr r, ParseAdditive());
    if (c.op == Op::kNe) {  // Spark: Not(EqualTo)
      ASSIGN_OR_RETURN(ExprPtr eq, MakeBinary(Op::kEq, std::move(l), std::move(r), "="));
      auto u = std::make_unique<Unary>();
      u->kind = Unary::kNot;
      u->ty = Ty::kBool;
      u->sql = absl::StrCat("(NOT ", eq->sql, ")");
      u->arg = std::move(eq);
      return ExprPtr(std::move(u));
    }
    return MakeBinary(c.op, std::move(l), std::move(r), c.shown);
  }
  if (IsKeyword("IS")) {
    Take();
    const bool negated = TakeKeyword("NOT");
    if (!TakeKeyword("NULL")) return Unsupported(absl::StrCat("IS ", negated ? "NOT " : "", Near()));
    auto u = std::make_unique<Unary>();
    u->kind = negated ? Unary::kIsNotNull : Unary::kIsNull;
    u->ty = Ty::kBool;
    u->sql = absl::StrCat("(", l->sql, negated ? " IS NOT NULL)" : " IS NULL)");
    u->arg = std::move(l);
    return ExprPtr(std::move(u));
  }
  const bool negated = IsKeyword("NOT") && (IsKeyword("IN", 1) || IsKeyword("BETWEEN", 1));
  if (negated) Take();
  if (IsKeyword("IN") || IsKeyword("BETWEEN")) {
    const bool in = IsKeyword("IN");
    Take();
    // x IN (a, b) is (x = a) OR (x = b) and x BETWEEN a AND b is
    // (x >= a) AND (x <= b), with the same null rules; x is read once per
    // comparison, so only a column or a literal may be tested.
    auto* col = dynamic_cast<ColumnRef*>(l.get());
    auto* lit = dynamic_cast<Literal*>(l.get());
    if (col == nullptr && lit == nullptr)
      return Unsupported(absl::StrCat(in ? "IN" : "BETWEEN", " on an expression (", l->sql, "); use a column"));
    auto again = [&]() -> absl::StatusOr<ExprPtr> {
      if (col != nullptr) return Column(col->sql, 0);
      auto copy = std::make_unique<Literal>(*lit);
      return ExprPtr(std::move(copy));
    };
    const std::string subject = l->sql;
    ExprPtr result;
    std::vector<std::string> shown;
    if (in) {
      RETURN_IF_ERROR(Expect("("));
      for (bool first = true;; first = false) {
        ASSIGN_OR_RETURN(ExprPtr v, ParseAdditive());
        shown.push_back(v->sql);
        ExprPtr x;
        if (first) {
          x = std::move(l);
        } else {
          ASSIGN_OR_RETURN(x, again());
        }
        ASSIGN_OR_RETURN(ExprPtr eq, MakeBinary(Op::kEq, std::move(x), std::move(v), "="));
        if (result) {
          ASSIGN_OR_RETURN(result, MakeBinary(Op::kOr, std::move(result), std::move(eq), "OR"));
        } else {
          result = std::move(eq);
        }
        if (TakeSymbol(")")) break;
        RETURN_IF_ERROR(Expect(","));
      }
      result->sql = absl::StrCat("(", subject, " IN (", absl::StrJoin(shown, ", "), "))");
    } else {
      ASSIGN_OR_RETURN(ExprPtr lo, ParseAdditive());
      if (!TakeKeyword("AND")) return Unsupported(absl::StrCat("expected AND in BETWEEN ", Near()));
      ASSIGN_OR_RETURN(ExprPtr hi, ParseAdditive());
      ASSIGN_OR_RETURN(ExprPtr x2, again());
      ASSIGN_OR_RETURN(ExprPtr ge, MakeBinary(Op::kGe, std::move(l), std::move(lo), ">="));
      ASSIGN_OR_RETURN(ExprPtr le, MakeBinary(Op::kLe, std::move(x2), std::move(hi), "<="));
      ASSIGN_OR_RETURN(result, MakeBinary(Op::kAnd, std::move(ge), std::move(le), "AND"));
    }
    if (!negated) return result;
    auto u = std::make_unique<Unary>();
    u->kind = Unary::kNot;
    u->ty = Ty::kBool;
    u->sql = absl::StrCat("(NOT ", result->sql, ")");
    u->arg = std::move(result);
    return ExprPtr(std::move(u));
  }
  if (IsKeyword("LIKE") || IsKeyword("RLIKE") || (IsKeyword("NOT") && IsKeyword("LIKE", 1)))
    return Unsupported(absl::StrCat("predicate ", Near()));
  return l;
}

absl::StatusOr<ExprPtr> Parser::ParseAdditive() {
  ASSIGN_OR_RETURN(ExprPtr l, ParseMultiplicative());
  for (;;) {
    if (TakeSymbol("+")) {
      ASSIGN_OR_RETURN(ExprPtr r, ParseMultiplicative());
      ASSIGN_OR_RETURN(l, MakeBinary(Op::kAdd, std::move(l), std::move(r), "+"));
    } else if (TakeSymbol("-")) {
      ASSIGN_OR_RETURN(ExprPtr r, ParseMultiplicative());
      ASSIGN_OR_RETURN(l, MakeBinary(Op::kSub, std::move(l), std::move(r), "-"));
    } else if (TakeSymbol("||")) {
      ASSIGN_OR_RETURN(ExprPtr r, ParseMultiplicative());
      auto c = std::make_unique<Call>();
      c->fn = Fn::kConcat;
      c->ty = Ty::kString;
      c->sql = absl::StrCat("concat(", l->sql, ", ", r->sql, ")");
      c->scratch = Scratch();
      c->args.push_back(std::move(l));
      c->args.push_back(std::move(r));
      l = std::move(c);
    } else {
      return l;
    }
  }
}

absl::StatusOr<ExprPtr> Parser::ParseMultiplicative() {
  ASSIGN_OR_RETURN(ExprPtr l, ParseUnary());
  for (;;) {
    Op op;
    absl::string_view shown;
    if (TakeSymbol("*")) op = Op::kMul, shown = "*";
    else if (TakeSymbol("/")) op = Op::kDiv, shown = "/";
    else if (TakeSymbol("%")) op = Op::kMod, shown = "%";
    else if (TakeKeyword("DIV")) op = Op::kIntDiv, shown = "div";
    else return l;
    ASSIGN_OR_RETURN(ExprPtr r, ParseUnary());
    ASSIGN_OR_RETURN(l, MakeBinary(op, std::move(l), std::move(r), shown));
  }
}

absl::StatusOr<ExprPtr> Parser::ParseUnary() {
  if (TakeSymbol("+")) return ParseUnary();
  if (TakeSymbol("-")) {
    ASSIGN_OR_RETURN(ExprPtr a, ParseUnary());
    if (a->ty == Ty::kString) { ASSIGN_OR_RETURN(a, Coerce(std::move(a), Ty::kDouble)); }
    if (!IsNum(a->ty) && a->ty != Ty::kNull) return Unsupported(absl::StrCat("unary minus on ", TyName(a->ty)));
    // A negated number literal stays a literal.
    if (auto* lit = dynamic_cast<Literal*>(a.get()); lit != nullptr && !lit->v.null) {
      lit->v.num = lit->ty == Ty::kInt ? WrapInt(-lit->v.num) : -lit->v.num;
      lit->sql = absl::StrCat("-", lit->sql);
      return a;
    }
    auto u = std::make_unique<Unary>();
    u->kind = Unary::kNeg;
    u->ty = a->ty == Ty::kNull ? Ty::kDouble : a->ty;
    u->sql = absl::StrCat("(- ", a->sql, ")");
    u->arg = std::move(a);
    return ExprPtr(std::move(u));
  }
  return ParsePrimary();
}

absl::StatusOr<ExprPtr> Parser::ParseNumber(const Token& t) {
  std::string text = t.text;
  std::string suffix;
  while (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back())) &&
         !(text.size() >= 2 && (text[text.size() - 2] == 'e' || text[text.size() - 2] == 'E') && false)) {
    suffix.insert(suffix.begin(), static_cast<char>(std::toupper(static_cast<unsigned char>(text.back()))));
    text.pop_back();
  }
  auto lit = std::make_unique<Literal>();
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size())
    return Unsupported(absl::StrCat("number literal '", t.text, "'"));
  const bool integral = text.find_first_of(".eE") == std::string::npos;
  lit->sql = t.text;
  if (suffix.empty()) {
    if (integral) {
      if (v <= 2147483647.0) lit->ty = Ty::kInt;
      else if (v <= 9.2233720368547758e18) lit->ty = Ty::kLong;
      else lit->ty = Ty::kDouble;  // Spark: a decimal
    } else {
      lit->ty = Ty::kDouble;  // 1.5 is a decimal in Spark, 1e3 a double; both doubles here
    }
  } else if (suffix == "L") {
    lit->ty = Ty::kLong;
  } else if (suffix == "S" || suffix == "Y") {
    lit->ty = Ty::kInt;
  } else if (suffix == "D" || suffix == "BD" || suffix == "F") {
    lit->ty = Ty::kDouble;
    if (suffix == "F") v = static_cast<float>(v);
  } else {
    return Unsupported(absl::StrCat("number literal '", t.text, "'"));
  }
  if ((lit->ty == Ty::kInt || lit->ty == Ty::kLong) && !integral)
    return Unsupported(absl::StrCat("number literal '", t.text, "'"));
  lit->v = Num(v);
  return ExprPtr(std::move(lit));
}

absl::StatusOr<ExprPtr> Parser::Column(const std::string& name, size_t pos) {
  int slot = schema_.Find(name);
  if (slot < 0) {
    // Spark resolves names case-insensitively by default.
    for (const std::string& v : schema_.VisibleColumns())
      if (absl::EqualsIgnoreCase(v, name)) slot = schema_.Find(v);
  }
  if (slot < 0) {
    if (schema_.declared())
      return meta_.Error(absl::StrCat("SQL refers to column '", name, "', which is not a column of its input"));
    ASSIGN_OR_RETURN(slot, schema_.Require(name, hint_));
  }
  auto c = std::make_unique<ColumnRef>();
  c->slot = slot;
  c->ty = FromDataType(schema_.column(slot).type);
  c->sql = schema_.column(slot).name;
  reads_.push_back(slot);
  return ExprPtr(std::move(c));
}

absl::StatusOr<ExprPtr> Parser::ParsePrimary() {
  const Token t = Take();
  switch (t.kind) {
    case Token::kNumber: return ParseNumber(t);
    case Token::kString: {
      auto lit = std::make_unique<Literal>();
      lit->ty = Ty::kString;
      lit->s = t.text;
      lit->sql = t.text;
      lit->v.null = false;
      // Adjacent string literals are concatenated.
      while (Peek().kind == Token::kString) {
        lit->s += Take().text;
        lit->sql = lit->s;
      }
      return ExprPtr(std::move(lit));
    }
    case Token::kQuotedIdent: return Column(t.text, t.pos);
    case Token::kSymbol:
      if (t.text == "(") {
        ASSIGN_OR_RETURN(ExprPtr e, ParseExpr());
        RETURN_IF_ERROR(Expect(")"));
        return e;
      }
      return Unsupported(absl::StrCat("unexpected '", t.text, "'"));
    case Token::kEnd: return Unsupported("the statement ends inside an expression");
    case Token::kIdent: break;
  }
  const std::string upper = absl::AsciiStrToUpper(t.text);
  if (upper == "NULL") {
    auto lit = std::make_unique<Literal>();
    lit->ty = Ty::kNull;
    lit->sql = "NULL";
    return ExprPtr(std::move(lit));
  }
  if (upper == "TRUE" || upper == "FALSE") {
    auto lit = std::make_unique<Literal>();
    lit->ty = Ty::kBool;
    lit->v = Num(upper == "TRUE" ? 1 : 0);
    lit->sql = absl::AsciiStrToLower(upper);
    return ExprPtr(std::move(lit));
  }
  if (upper == "CASE") return ParseCase();
  if (IsSymbol("(")) {
    if (upper == "CAST") return ParseCast();
    return ParseCall(t.text);
  }
  if (IsSymbol(".")) return Unsupported(absl::StrCat("qualified name '", t.text, ".'"));
  static constexpr absl::string_view kReserved[] = {"SELECT", "FROM", "WHERE", "AS", "WHEN", "THEN",
                                                   "ELSE",   "END",  "AND",   "OR", "NOT"};
  for (absl::string_view r : kReserved)
    if (upper == r) return Unsupported(absl::StrCat("unexpected keyword ", upper));
  return Column(t.text, t.pos);
}

absl::StatusOr<ExprPtr> Parser::ParseCase() {
  auto c = std::make_unique<CaseWhen>();
  // Simple form CASE x WHEN v THEN r ...: each branch is x = v.
  ExprPtr subject;
  if (!IsKeyword("WHEN")) { ASSIGN_OR_RETURN(subject, ParseExpr()); }
  std::string sql = "CASE";
  if (subject) absl::StrAppend(&sql, " ", subject->sql);
  std::vector<ExprPtr> subjects;
  while (TakeKeyword("WHEN")) {
    ASSIGN_OR_RETURN(ExprPtr cond, ParseExpr());
    if (!TakeKeyword("THEN")) return Unsupported(absl::StrCat("expected THEN ", Near()));
    ASSIGN_OR_RETURN(ExprPtr value, ParseExpr());
    absl::StrAppend(&sql, " WHEN ", cond->sql, " THEN ", value->sql);
    if (subject) {
      // Re-parse is not possible; compare against a second reference of the
      // same column or literal: only those subjects are supported.
      auto* col = dynamic_cast<ColumnRef*>(subject.get());
      if (col == nullptr) return Unsupported("CASE <expression> WHEN with a subject that is not a column");
      ASSIGN_OR_RETURN(ExprPtr again, Column(col->sql, 0));
      ASSIGN_OR_RETURN(cond, MakeBinary(Op::kEq, std::move(again), std::move(cond), "="));
    }
    RETURN_IF_ERROR(RequireBool(*cond, "CASE WHEN"));
    c->branches.emplace_back(std::move(cond), std::move(value));
  }
  if (c->branches.empty()) return Unsupported(absl::StrCat("CASE without WHEN ", Near()));
  if (TakeKeyword("ELSE")) {
    ASSIGN_OR_RETURN(c->otherwise, ParseExpr());
    absl::StrAppend(&sql, " ELSE ", c->otherwise->sql);
  }
  if (!TakeKeyword("END")) return Unsupported(absl::StrCat("expected END ", Near()));
  absl::StrAppend(&sql, " END");
  std::vector<const Expr*> values;
  for (const auto& b : c->branches) values.push_back(b.second.get());
  if (c->otherwise) values.push_back(c->otherwise.get());
  ASSIGN_OR_RETURN(Ty t, CommonType(values, "CASE"));
  for (auto& b : c->branches) { ASSIGN_OR_RETURN(b.second, Coerce(std::move(b.second), t)); }
  if (c->otherwise) { ASSIGN_OR_RETURN(c->otherwise, Coerce(std::move(c->otherwise), t)); }
  c->ty = t == Ty::kNull ? Ty::kString : t;
  c->sql = sql;
  return ExprPtr(std::move(c));
}

absl::StatusOr<ExprPtr> Parser::ParseCast() {
  RETURN_IF_ERROR(Expect("("));
  ASSIGN_OR_RETURN(ExprPtr e, ParseExpr());
  if (!TakeKeyword("AS")) return Unsupported(absl::StrCat("expected AS in CAST ", Near()));
  const Token t = Take();
  const std::string type = absl::AsciiStrToUpper(t.text);
  Ty to;
  std::string shown = type;
  if (type == "DOUBLE" || type == "FLOAT" || type == "REAL" || type == "DECIMAL") {
    to = Ty::kDouble;
    if (type == "DECIMAL" && IsSymbol("(")) return Unsupported("CAST to DECIMAL(p, s)");
  } else if (type == "INT" || type == "INTEGER" || type == "SMALLINT" || type == "TINYINT" || type == "SHORT" ||
             type == "BYTE") {
    to = Ty::kInt;
    if (type == "INTEGER") shown = "INT";
  } else if (type == "BIGINT" || type == "LONG") {
    to = Ty::kLong;
    shown = "BIGINT";
  } else if (type == "STRING" || type == "VARCHAR") {
    to = Ty::kString;
    shown = "STRING";
  } else if (type == "BOOLEAN" || type == "BOOL") {
    to = Ty::kBool;
    shown = "BOOLEAN";
  } else {
    return Unsupported(absl::StrCat("CAST to ", t.text));
  }
  RETURN_IF_ERROR(Expect(")"));
  if (e->ty == Ty::kBool && IsNum(to) == false && to != Ty::kString && to != Ty::kBool)
    return Unsupported("CAST of a boolean");
  ASSIGN_OR_RETURN(ExprPtr c, MakeCast(std::move(e), to, shown));
  if (type == "FLOAT" || type == "REAL") {
    // Round to float precision through a wrapper: (double)(float)x.
    struct ToFloat : Expr {
      ExprPtr arg;
      V Eval(Row& row) const override {
        V v = arg->Eval(row);
        if (!v.null) v.num = static_cast<float>(v.num);
        return v;
      }
    };
    auto f = std::make_unique<ToFloat>();
    f->ty = Ty::kDouble;
    f->sql = c->sql;
    f->arg = std::move(c);
    return ExprPtr(std::move(f));
  }
  return c;
}

absl::StatusOr<ExprPtr> Parser::ParseCall(const std::string& name) {
  RETURN_IF_ERROR(Expect("("));
  const std::string fname = absl::AsciiStrToLower(name);
  // Undeclared input columns read by string functions are created as strings.
  const DataType saved_hint = hint_;
  if (fname == "concat" || fname == "lower" || fname == "lcase" || fname == "upper" || fname == "ucase" ||
      fname == "length" || fname == "char_length" || fname == "character_length" || fname == "trim")
    hint_ = DataType::kString;
  std::vector<ExprPtr> args;
  if (!TakeSymbol(")")) {
    for (;;) {
      auto a = ParseExpr();
      if (!a.ok()) {
        hint_ = saved_hint;
        return a.status();
      }
      args.push_back(std::move(*a));
      if (TakeSymbol(")")) break;
      if (absl::Status st = Expect(","); !st.ok()) {
        hint_ = saved_hint;
        return st;
      }
    }
  }
  hint_ = saved_hint;
  std::vector<std::string> arg_sql;
  for (const auto& a : args) arg_sql.push_back(a->sql);
  const std::string sql = absl::StrCat(fname, "(", absl::StrJoin(arg_sql, ", "), ")");
  auto arity = [&](size_t lo, size_t hi) -> absl::Status {
    if (args.size() < lo || args.size() > hi)
      return Unsupported(absl::StrCat(fname, "() with ", args.size(), " argument(s)"));
    return absl::OkStatus();
  };
  auto numeric_args = [&](Ty to) -> absl::Status {
    for (auto& a : args) {
      if (a->ty == Ty::kOther || a->ty == Ty::kBool)
        return Unsupported(absl::StrCat(fname, "() of a ", TyName(a->ty), " (", a->sql, ")"));
      if (a->ty == Ty::kString || (to == Ty::kDouble && a->ty != Ty::kDouble)) { ASSIGN_OR_RETURN(a, Coerce(std::move(a), Ty::kDouble)); }
    }
    return absl::OkStatus();
  };
  auto c = std::make_unique<Call>();
  c->sql = sql;
  if (fname == "if") {
    RETURN_IF_ERROR(arity(3, 3));
    RETURN_IF_ERROR(RequireBool(*args[0], "IF"));
    std::vector<const Expr*> branch_values = {args[1].get(), args[2].get()};
    ASSIGN_OR_RETURN(Ty t, CommonType(branch_values, "IF"));
    auto cw = std::make_unique<CaseWhen>();
    cw->ty = t == Ty::kNull ? Ty::kString : t;
    cw->sql = absl::StrCat("(IF(", arg_sql[0], ", ", arg_sql[1], ", ", arg_sql[2], "))");
    ASSIGN_OR_RETURN(ExprPtr then_v, Coerce(std::move(args[1]), t));
    ASSIGN_OR_RETURN(cw->otherwise, Coerce(std::move(args[2]), t));
    cw->branches.emplace_back(std::move(args[0]), std::move(then_v));
    return ExprPtr(std::move(cw));
  }
  if (fname == "isnull" || fname == "isnotnull") {
    RETURN_IF_ERROR(arity(1, 1));
    auto u = std::make_unique<Unary>();
    u->kind = fname == "isnull" ? Unary::kIsNull : Unary::kIsNotNull;
    u->ty = Ty::kBool;
    u->sql = absl::StrCat("(", arg_sql[0], fname == "isnull" ? " IS NULL)" : " IS NOT NULL)");
    u->arg = std::move(args[0]);
    return ExprPtr(std::move(u));
  }
  if (fname == "coalesce" || fname == "nvl" || fname == "ifnull" || fname == "greatest" || fname == "least") {
    const bool two = fname == "nvl" || fname == "ifnull";
    RETURN_IF_ERROR(arity(two ? 2 : (fname == "coalesce" ? 1 : 2), two ? 2 : 1000));
    std::vector<const Expr*> es;
    for (const auto& a : args) es.push_back(a.get());
    ASSIGN_OR_RETURN(Ty t, CommonType(es, fname));
    if (t == Ty::kOther) return Unsupported(absl::StrCat(fname, "() of vectors"));
    for (auto& a : args) { ASSIGN_OR_RETURN(a, Coerce(std::move(a), t)); }
    c->fn = fname == "greatest" ? Fn::kGreatest : (fname == "least" ? Fn::kLeast : Fn::kCoalesce);
    c->ty = t == Ty::kNull ? Ty::kString : t;
    c->args = std::move(args);
    return ExprPtr(std::move(c));
  }
  if (fname == "concat") {
    for (const auto& a : args)
      if (a->ty == Ty::kOther) return Unsupported("concat() of a vector or array");
    c->fn = Fn::kConcat;
    c->ty = Ty::kString;
    c->scratch = Scratch();
    c->args = std::move(args);
    return ExprPtr(std::move(c));
  }
  if (fname == "lower" || fname == "lcase" || fname == "upper" || fname == "ucase" || fname == "length" ||
      fname == "char_length" || fname == "character_length" || fname == "trim") {
    RETURN_IF_ERROR(arity(1, 1));
    if (args[0]->ty == Ty::kOther) return Unsupported(absl::StrCat(fname, "() of a vector or array"));
    c->fn = (fname == "lower" || fname == "lcase")   ? Fn::kLower
            : (fname == "upper" || fname == "ucase") ? Fn::kUpper
            : fname == "trim"                        ? Fn::kTrim
                                                     : Fn::kLength;
    c->ty = c->fn == Fn::kLength ? Ty::kInt : Ty::kString;
    c->scratch = Scratch();
    c->args = std::move(args);
    return ExprPtr(std::move(c));
  }
  struct MathFn {
    absl::string_view name;
    Fn fn;
    size_t lo, hi;
  };
  static constexpr MathFn kMath[] = {
      {"abs", Fn::kAbs, 1, 1},       {"sqrt", Fn::kSqrt, 1, 1},     {"exp", Fn::kExp, 1, 1},
      {"expm1", Fn::kExpm1, 1, 1},   {"ln", Fn::kLn, 1, 1},         {"log", Fn::kLog, 1, 2},
      {"log10", Fn::kLog10, 1, 1},   {"log2", Fn::kLog2, 1, 1},     {"log1p", Fn::kLog1p, 1, 1},
      {"pow", Fn::kPow, 2, 2},       {"power", Fn::kPow, 2, 2},     {"floor", Fn::kFloor, 1, 1},
      {"ceil", Fn::kCeil, 1, 1},     {"ceiling", Fn::kCeil, 1, 1},  {"round", Fn::kRound, 1, 2},
      {"bround", Fn::kBround, 1, 2}, {"signum", Fn::kSignum, 1, 1}, {"sign", Fn::kSignum, 1, 1},
      {"nanvl", Fn::kNanvl, 2, 2}};
  for (const MathFn& m : kMath) {
    if (fname != m.name) continue;
    RETURN_IF_ERROR(arity(m.lo, m.hi));
    c->fn = m.fn;
    switch (m.fn) {
      case Fn::kAbs:
        RETURN_IF_ERROR(numeric_args(Ty::kNull));
        c->ty = args[0]->ty == Ty::kNull ? Ty::kDouble : args[0]->ty;
        break;
      case Fn::kFloor:
      case Fn::kCeil:
        RETURN_IF_ERROR(numeric_args(Ty::kNull));
        c->ty = Ty::kLong;
        break;
      case Fn::kRound:
      case Fn::kBround: {
        if (args.size() == 2) {
          auto* lit = dynamic_cast<Literal*>(args[1].get());
          if (lit == nullptr || lit->ty != Ty::kInt || lit->v.null)
            return Unsupported(absl::StrCat(fname, "() with a scale that is not an integer literal"));
          c->scale = static_cast<int>(lit->v.num);
          args.pop_back();
        }
        RETURN_IF_ERROR(numeric_args(Ty::kNull));
        c->ty = args[0]->ty == Ty::kNull ? Ty::kDouble : args[0]->ty;
        c->sql = absl::StrCat(fname, "(", arg_sql[0], ", ", c->scale, ")");
        break;
      }
      case Fn::kLog:
        RETURN_IF_ERROR(numeric_args(Ty::kDouble));
        if (args.size() == 1) c->fn = Fn::kLn;
        c->ty = Ty::kDouble;
        break;
      default:
        RETURN_IF_ERROR(numeric_args(Ty::kDouble));
        c->ty = Ty::kDouble;
        if (m.fn == Fn::kExp || m.fn == Fn::kSqrt || m.fn == Fn::kLog10 || m.fn == Fn::kPow || m.fn == Fn::kLn)
          c->sql = absl::StrCat(absl::AsciiStrToUpper(fname == "pow" ? "power" : fname), "(",
                                absl::StrJoin(arg_sql, ", "), ")");
        break;
    }
    c->args = std::move(args);
    return ExprPtr(std::move(c));
  }
  return Unsupported(absl::StrCat("function ", name, "()"));
}

// ---------------------------------------------------------------------------
// The stage

// One output column: an expression written into a new slot.
struct Output {
  ExprPtr expr;
  int slot = -1;
};

class SqlStage : public Stage {
 public:
  std::vector<Output> outputs;
  ExprPtr where;
  std::string uid;

  absl::Status Apply(Row& row) const override {
    if (where) {
      V w = where->Eval(row);
      if (w.null || w.num == 0) {
        row.filtered = true;
        row.filter_reason = absl::StrCat(name, ": the WHERE condition is ", w.null ? "null" : "false");
        return absl::OkStatus();
      }
    }
    for (const Output& o : outputs) {
      V v = o.expr->Eval(row);
      Cell& out = row.cells[o.slot];
      if (v.null) {
        out.SetNull();
      } else if (v.cell) {
        if (v.cell != &out) out = *v.cell;
      } else if (v.str) {
        if (v.str != &out.str) out.SetString(*v.str);
        out.kind = Cell::Kind::kString;
      } else {
        out.SetNumber(v.num);
      }
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Stage>> Parser::Compile() {
  RETURN_IF_ERROR(Tokenize());
  if (!TakeKeyword("SELECT")) return Unsupported("the statement does not start with SELECT");
  if (IsKeyword("DISTINCT") || IsKeyword("ALL")) return Unsupported(absl::StrCat("SELECT ", Peek().text));
  auto stage = std::make_unique<SqlStage>();
  stage->uid = meta_.uid;
  stage->name = absl::StrCat(meta_.ShortClass(), " ", meta_.uid);

  // The select list, resolved against the input columns.
  struct Item {
    bool star = false;
    ExprPtr expr;
    std::string alias;
  };
  std::vector<Item> items;
  for (;;) {
    Item it;
    if (TakeSymbol("*")) {
      it.star = true;
    } else {
      ASSIGN_OR_RETURN(it.expr, ParseExpr());
      if (TakeKeyword("AS")) {
        const Token a = Take();
        if (a.kind != Token::kIdent && a.kind != Token::kQuotedIdent && a.kind != Token::kString)
          return Unsupported(absl::StrCat("expected a name after AS, got '", a.text, "'"));
        it.alias = a.text;
      } else if (Peek().kind == Token::kIdent && !IsKeyword("FROM")) {
        it.alias = Take().text;  // expr alias
      } else if (Peek().kind == Token::kQuotedIdent) {
        it.alias = Take().text;
      }
    }
    items.push_back(std::move(it));
    if (!TakeSymbol(",")) break;
  }
  if (!TakeKeyword("FROM")) return Unsupported(absl::StrCat("expected FROM ", Near()));
  const Token from = Take();
  if ((from.kind != Token::kIdent && from.kind != Token::kQuotedIdent) || from.text != "__THIS__")
    return Unsupported(absl::StrCat("FROM ", from.text, " (only FROM __THIS__ is supported)"));
  if (TakeKeyword("WHERE")) {
    ASSIGN_OR_RETURN(stage->where, ParseExpr());
    RETURN_IF_ERROR(RequireBool(*stage->where, "WHERE"));
  }
  TakeSymbol(";");
  if (Peek().kind != Token::kEnd) return Unsupported(absl::StrCat("clause ", Near()));

  // Outputs. Plain column references keep their slot (a rename copies the
  // cell into a new one, with the column's attributes).
  std::vector<std::string> before = schema_.VisibleColumns();
  bool has_star = false;
  std::vector<std::string> kept;  // names visible after the SELECT (without '*')
  struct Pending {
    ExprPtr expr;
    std::string name;
    int source_slot;  // a column passed through, else -1
  };
  std::vector<Pending> pending;
  for (Item& it : items) {
    if (it.star) {
      has_star = true;
      continue;
    }
    auto* col = dynamic_cast<ColumnRef*>(it.expr.get());
    std::string name = it.alias.empty() ? it.expr->sql : it.alias;
    if (col != nullptr && name == schema_.column(col->slot).name) {
      kept.push_back(name);
      continue;
    }
    if (it.expr->ty == Ty::kOther && col == nullptr)
      return Unsupported(absl::StrCat("expression of a vector or array (", it.expr->sql, ")"));
    pending.push_back({std::move(it.expr), name, col ? col->slot : -1});
  }
  if (!has_star) {
    for (const std::string& n : before)
      if (std::find(kept.begin(), kept.end(), n) == kept.end()) schema_.Drop(n);
  }
  for (Pending& p : pending) {
    ColumnInfo info;
    if (p.source_slot >= 0) {
      info = schema_.column(p.source_slot);
      info.is_input = false;
    } else {
      info.type = ToDataType(p.expr->ty);
    }
    info.name = p.name;
    Output o;
    o.slot = schema_.AddOutput(std::move(info));
    o.expr = std::move(p.expr);
    stage->writes.push_back(o.slot);
    stage->outputs.push_back(std::move(o));
  }
  std::sort(reads_.begin(), reads_.end());
  reads_.erase(std::unique(reads_.begin(), reads_.end()), reads_.end());
  stage->reads = reads_;
  return std::unique_ptr<Stage>(std::move(stage));
}

absl::StatusOr<std::unique_ptr<Stage>> MakeSqlTransformer(const StageMeta& meta, Schema& schema) {
  ASSIGN_OR_RETURN(std::string statement, meta.Str("statement"));
  Parser p(meta, schema, statement);
  return p.Compile();
}

}  // namespace

void RegisterSqlStages(StageRegistry& r) {
  r.Add("org.apache.spark.ml.feature.SQLTransformer", MakeSqlTransformer);
}

}  // namespace evs::spark
