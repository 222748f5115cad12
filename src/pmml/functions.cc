// Apply: the PMML built-in function library and calls of DefineFunctions.
//
// Every Apply compiles into one node whose class is its function family
// (arithmetic, math, statistics, comparison, ...) with the function chosen by
// an enum fixed at compile time. Arguments are evaluated into a small stack
// buffer (EvalRef avoids copying field values), so numeric expressions do not
// allocate. Semantics follow JPMML-Evaluator: integer arithmetic stays
// integer (also "/", which truncates), a NaN result is an invalid value
// handled by invalidValueTreatment, an undefined result (integer division by
// zero, overflow) fails unless invalidValueTreatment="asMissing". Where JPMML
// throws on a missing argument we return missing instead.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/expr_internal.h"

namespace evs::pmml::expr_internal {
namespace {

enum class Ivt : uint8_t { kReturnInvalid, kAsMissing, kAsIs };
enum class Outcome : uint8_t { kOk, kUndefined, kError };

constexpr double kIntMax = 2147483647.0;
constexpr double kIntMin = -2147483648.0;

bool FitsInt(double v) { return v >= kIntMin && v <= kIntMax && !std::isnan(v); }

// Arithmetic type of a runtime value (booleans and dates count as double).
DataType NumType(const Value& v) { return IsArithmeticType(v.type) ? v.type : DataType::kDouble; }

// ------------------------------------------------------------------ base

class ApplyExpr : public Expr {
 public:
  struct Common {
    std::string name;
    std::string path;
    bool has_map_missing = false;
    Value map_missing_to;
    bool has_default = false;
    Value default_value;
    Ivt ivt = Ivt::kReturnInvalid;
  };

  ApplyExpr(Common c, std::vector<std::unique_ptr<Expr>> args, bool tolerant)
      : c_(std::move(c)), args_(std::move(args)), tolerant_(tolerant) {}

  void Eval(EvalContext& ctx, Value* out) const override {
    const int n = static_cast<int>(args_.size());
    if (n <= kInline) {
      // Only as many scratch Values as there are arguments are constructed.
      Scratch scratch(n);
      const Value* refs[kInline];
      EvalWith(ctx, scratch.values(), refs, n, out);
    } else {
      std::vector<Value> big_scratch(n);
      std::vector<const Value*> big_refs(n);
      EvalWith(ctx, big_scratch.data(), big_refs.data(), n, out);
    }
  }

 protected:
  // Computes the function of the evaluated arguments into *out. kError: the
  // implementation has called Error(). kUndefined: no result (integer
  // division by zero, overflow).
  virtual Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const = 0;

  Outcome Error(EvalContext& ctx, std::string_view message) const {
    ctx.Fail(absl::InvalidArgumentError(absl::StrCat("function ", c_.name, " (", c_.path, "): ", AV(message))));
    return Outcome::kError;
  }

  Outcome NotNumber(EvalContext& ctx, const Value& v) const {
    return Error(ctx, absl::StrCat("argument \"", FormatValue(v), "\" is not a number"));
  }

  // Missing result -> defaultValue; NaN / undefined -> invalidValueTreatment.
  void Finish(EvalContext& ctx, Outcome o, Value* out) const {
    switch (o) {
      case Outcome::kError:
        out->SetMissing();
        return;
      case Outcome::kUndefined:
        if (c_.ivt == Ivt::kAsMissing) {
          SetDefault(out);
        } else {
          Error(ctx, "the result is undefined (integer division by zero or overflow)");
          out->SetMissing();
        }
        return;
      case Outcome::kOk:
        break;
    }
    if (out->missing()) {
      if (c_.has_default) *out = c_.default_value;
      return;
    }
    if (out->kind == Value::Kind::kNumber && std::isnan(out->num) &&
        (out->type == DataType::kDouble || out->type == DataType::kFloat)) {
      switch (c_.ivt) {
        case Ivt::kAsIs:
          return;
        case Ivt::kAsMissing:
          SetDefault(out);
          return;
        case Ivt::kReturnInvalid:
          Error(ctx, "the result is not a number (NaN); set invalidValueTreatment to accept it");
          out->SetMissing();
          return;
      }
    }
  }

  void SetDefault(Value* out) const {
    if (c_.has_default) {
      *out = c_.default_value;
    } else {
      out->SetMissing();
    }
  }

  static constexpr int kInline = 4;

  // Uninitialised room for kInline Values; the first n are constructed.
  class Scratch {
   public:
    explicit Scratch(int n) : n_(n) {
      for (int i = 0; i < n_; ++i) new (&values()[i]) Value();
    }
    ~Scratch() {
      for (int i = 0; i < n_; ++i) values()[i].~Value();
    }
    Value* values() { return reinterpret_cast<Value*>(raw_); }

   private:
    alignas(Value) unsigned char raw_[kInline * sizeof(Value)];
    int n_;
  };

  void EvalWith(EvalContext& ctx, Value* sc, const Value** a, int n, Value* out) const {
    bool any_missing = false;
    for (int i = 0; i < n; ++i) {
      a[i] = &args_[i]->EvalRef(ctx, &sc[i]);
      if (a[i]->missing()) {
        if (c_.has_map_missing) {
          *out = c_.map_missing_to;
          return;
        }
        any_missing = true;
      }
    }
    if (any_missing && !tolerant_) {
      out->SetMissing();
      Finish(ctx, Outcome::kOk, out);
      return;
    }
    Finish(ctx, Compute(ctx, a, n, out), out);
  }

  const Common& common() const { return c_; }

 public:
  const std::vector<std::unique_ptr<Expr>>& args() const { return args_; }

 protected:

 private:
  Common c_;
  std::vector<std::unique_ptr<Expr>> args_;
  bool tolerant_;
};

// ------------------------------------------------------------------ arithmetic

enum class Arith : uint8_t { kAdd, kSub, kMul, kDiv, kMod, kPow, kThreshold, kHypot, kAtan2 };

class ArithApply : public ApplyExpr {
 public:
  ArithApply(Common c, std::vector<std::unique_ptr<Expr>> args, Arith op)
      : ApplyExpr(std::move(c), std::move(args), false), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    double x, y;
    if (!ToDouble(*a[0], &x)) return NotNumber(ctx, *a[0]);
    if (!ToDouble(*a[1], &y)) return NotNumber(ctx, *a[1]);
    DataType t = CommonNumericType(NumType(*a[0]), NumType(*a[1]));
    bool ints = t == DataType::kInteger;
    double r = 0;
    switch (op_) {
      case Arith::kAdd:
        r = x + y;
        break;
      case Arith::kSub:
        r = x - y;
        break;
      case Arith::kMul:
        r = x * y;
        break;
      case Arith::kDiv:
        if (ints) {
          if (y == 0) return Outcome::kUndefined;
          r = std::trunc(x / y);
          if (std::fabs(x) >= 9007199254740992.0) r = static_cast<double>(static_cast<int64_t>(x) / static_cast<int64_t>(y));
        } else {
          r = x / y;
        }
        break;
      case Arith::kMod:
        if (ints) {
          if (y == 0) return Outcome::kUndefined;
          int64_t xi = static_cast<int64_t>(x), yi = static_cast<int64_t>(y);
          int64_t m = xi % yi;
          if (m != 0 && ((m < 0) != (yi < 0))) m += yi;
          r = static_cast<double>(m);
        } else {
          r = x - std::floor(x / y) * y;
        }
        break;
      case Arith::kPow:
        if (ints && y < 0) return Error(ctx, "a negative integer exponent");
        r = std::pow(x, y);
        break;
      case Arith::kThreshold:
        r = x > y ? 1 : 0;
        break;
      case Arith::kHypot:
        out->SetNumber(std::hypot(x, y), DataType::kDouble);
        return Outcome::kOk;
      case Arith::kAtan2:
        out->SetNumber(std::atan2(x, y), DataType::kDouble);
        return Outcome::kOk;
    }
    if (ints && !FitsInt(r)) return Outcome::kUndefined;
    SetTypedNumber(out, r, t);
    return Outcome::kOk;
  }

 private:
  Arith op_;
};

// ------------------------------------------------------------------ unary math

enum class Math1 : uint8_t {
  kLog10, kLn, kSqrt, kExp, kExpm1, kLn1p, kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kTanh,
  kErf, kStdNormalCdf, kStdNormalPdf, kStdNormalIdf, kAbs, kRint, kFloor, kCeil, kRound,
};

double NormalCdf(double x, double mu, double sigma) {
  double dev = x - mu;
  if (std::fabs(dev) > 40 * sigma) return dev < 0 ? 0.0 : 1.0;
  return 0.5 * std::erfc(-dev / (sigma * M_SQRT2));
}

double NormalPdf(double x, double mu, double sigma) {
  double z = (x - mu) / sigma;
  return std::exp(-0.5 * z * z) / (sigma * std::sqrt(2 * M_PI));
}

// Inverse of the standard normal CDF: a rational first guess refined by
// Halley steps against erfc, accurate to a few ulps.
double StdNormalIdf(double p) {
  if (std::isnan(p) || p < 0 || p > 1) return NAN;
  if (p == 0) return -INFINITY;
  if (p == 1) return INFINITY;
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  const double plow = 0.02425;
  if (p < plow) {
    double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - plow) {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  for (int i = 0; i < 2; ++i) {
    double e = 0.5 * std::erfc(-x / M_SQRT2) - p;
    double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
  }
  return x;
}

// Java's Math.round: floor(x + 0.5) without the rounding error of the sum.
double JavaRound(double x) {
  double f = std::floor(x);
  return (x - f >= 0.5) ? f + 1 : f;
}

class MathApply : public ApplyExpr {
 public:
  MathApply(Common c, std::vector<std::unique_ptr<Expr>> args, Math1 op)
      : ApplyExpr(std::move(c), std::move(args), false), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    double x;
    if (!ToDouble(*a[0], &x)) return NotNumber(ctx, *a[0]);
    double r = 0;
    switch (op_) {
      case Math1::kLog10: r = std::log10(x); break;
      case Math1::kLn: r = std::log(x); break;
      case Math1::kSqrt: r = std::sqrt(x); break;
      case Math1::kExp: r = std::exp(x); break;
      case Math1::kExpm1: r = std::expm1(x); break;
      case Math1::kLn1p: r = std::log1p(x); break;
      case Math1::kSin: r = std::sin(x); break;
      case Math1::kCos: r = std::cos(x); break;
      case Math1::kTan: r = std::tan(x); break;
      case Math1::kAsin: r = std::asin(x); break;
      case Math1::kAcos: r = std::acos(x); break;
      case Math1::kAtan: r = std::atan(x); break;
      case Math1::kSinh: r = std::sinh(x); break;
      case Math1::kCosh: r = std::cosh(x); break;
      case Math1::kTanh: r = std::tanh(x); break;
      case Math1::kErf: r = std::erf(x); break;
      case Math1::kStdNormalCdf: r = NormalCdf(x, 0, 1); break;
      case Math1::kStdNormalPdf: r = NormalPdf(x, 0, 1); break;
      case Math1::kStdNormalIdf:
        if (x < 0 || x > 1) return Error(ctx, "the probability is outside [0, 1]");
        r = StdNormalIdf(x);
        break;
      case Math1::kAbs:
        SetTypedNumber(out, std::fabs(x), NumType(*a[0]));
        return Outcome::kOk;
      case Math1::kRint:
        SetTypedNumber(out, std::nearbyint(x), NumType(*a[0]));
        return Outcome::kOk;
      case Math1::kFloor:
      case Math1::kCeil:
      case Math1::kRound: {
        double v = op_ == Math1::kFloor ? std::floor(x) : op_ == Math1::kCeil ? std::ceil(x) : JavaRound(x);
        if (!FitsInt(v)) return Outcome::kUndefined;
        out->SetNumber(v, DataType::kInteger);
        return Outcome::kOk;
      }
    }
    out->SetNumber(r, DataType::kDouble);
    return Outcome::kOk;
  }

 private:
  Math1 op_;
};

enum class Normal3 : uint8_t { kCdf, kPdf, kIdf };

class NormalApply : public ApplyExpr {
 public:
  NormalApply(Common c, std::vector<std::unique_ptr<Expr>> args, Normal3 op)
      : ApplyExpr(std::move(c), std::move(args), false), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    double x, mu, sigma;
    if (!ToDouble(*a[0], &x)) return NotNumber(ctx, *a[0]);
    if (!ToDouble(*a[1], &mu)) return NotNumber(ctx, *a[1]);
    if (!ToDouble(*a[2], &sigma)) return NotNumber(ctx, *a[2]);
    if (!(sigma > 0)) return Error(ctx, "the standard deviation must be positive");
    double r = 0;
    switch (op_) {
      case Normal3::kCdf: r = NormalCdf(x, mu, sigma); break;
      case Normal3::kPdf: r = NormalPdf(x, mu, sigma); break;
      case Normal3::kIdf:
        if (x < 0 || x > 1) return Error(ctx, "the probability is outside [0, 1]");
        r = mu + sigma * StdNormalIdf(x);
        break;
    }
    out->SetNumber(r, DataType::kDouble);
    return Outcome::kOk;
  }

 private:
  Normal3 op_;
};

// ------------------------------------------------------------------ statistics

enum class Stat : uint8_t { kMin, kMax, kSum, kAvg, kProduct, kMedian };

class StatApply : public ApplyExpr {
 public:
  StatApply(Common c, std::vector<std::unique_ptr<Expr>> args, Stat op)
      : ApplyExpr(std::move(c), std::move(args), true), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    int count = 0;
    DataType t = DataType::kInteger;
    double acc = 0, mean = 0;
    constexpr int kInline = 16;
    double inline_vals[kInline];
    std::vector<double> heap_vals;
    double* vals = inline_vals;
    if (op_ == Stat::kMedian && n > kInline) {
      heap_vals.resize(n);
      vals = heap_vals.data();
    }
    for (int i = 0; i < n; ++i) {
      if (a[i]->missing()) continue;
      double x;
      if (!ToDouble(*a[i], &x)) return NotNumber(ctx, *a[i]);
      t = count == 0 ? NumType(*a[i]) : CommonNumericType(t, NumType(*a[i]));
      ++count;
      switch (op_) {
        case Stat::kMin: acc = count == 1 ? x : (std::isnan(x) || std::isnan(acc) ? NAN : std::min(acc, x)); break;
        case Stat::kMax: acc = count == 1 ? x : (std::isnan(x) || std::isnan(acc) ? NAN : std::max(acc, x)); break;
        case Stat::kSum: acc += x; break;
        case Stat::kAvg: mean += (x - mean) / count; break;  // incremental, as Commons Math's Mean
        case Stat::kProduct: acc = count == 1 ? x : acc * x; break;
        case Stat::kMedian: vals[count - 1] = x; break;
      }
    }
    if (count == 0) {
      out->SetMissing();
      return Outcome::kOk;
    }
    switch (op_) {
      case Stat::kAvg:
        SetTypedNumber(out, mean, t == DataType::kInteger ? DataType::kDouble : t);
        return Outcome::kOk;
      case Stat::kMedian: {
        std::sort(vals, vals + count);
        double m = count % 2 == 1 ? vals[count / 2] : (vals[count / 2 - 1] + vals[count / 2]) / 2;
        SetTypedNumber(out, m, t == DataType::kInteger ? DataType::kDouble : t);
        return Outcome::kOk;
      }
      default:
        if (t == DataType::kInteger && !FitsInt(acc)) return Outcome::kUndefined;
        SetTypedNumber(out, acc, t);
        return Outcome::kOk;
    }
  }

 private:
  Stat op_;
};

// ------------------------------------------------------------------ comparison, logic, sets

enum class Cmp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

class CompareApply : public ApplyExpr {
 public:
  CompareApply(Common c, std::vector<std::unique_ptr<Expr>> args, Cmp op)
      : ApplyExpr(std::move(c), std::move(args), false), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    const Value& x = *a[0];
    const Value& y = *a[1];
    bool numeric = (x.is_number() || x.is_bool()) && (y.is_number() || y.is_bool());
    bool r = false;
    if (op_ == Cmp::kEq || op_ == Cmp::kNe) {
      bool eq = numeric ? x.num == y.num : ValuesEqual(x, y);
      r = op_ == Cmp::kEq ? eq : !eq;
    } else {
      int c = numeric ? (x.num < y.num ? -1 : x.num > y.num ? 1 : 0) : CompareValues(x, y);
      switch (op_) {
        case Cmp::kLt: r = c < 0; break;
        case Cmp::kLe: r = c <= 0; break;
        case Cmp::kGt: r = c > 0; break;
        default: r = c >= 0; break;
      }
    }
    out->SetBool(r);
    return Outcome::kOk;
  }

 private:
  Cmp op_;
};

enum class Miss : uint8_t { kIsMissing, kIsNotMissing, kIsValid, kIsNotValid };

class MissingApply : public ApplyExpr {
 public:
  MissingApply(Common c, std::vector<std::unique_ptr<Expr>> args, Miss op)
      : ApplyExpr(std::move(c), std::move(args), true), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    const Value& v = *a[0];
    bool missing = v.missing();
    bool invalid = v.kind == Value::Kind::kInvalid ||
                   (v.kind == Value::Kind::kNumber && std::isnan(v.num) &&
                    (v.type == DataType::kDouble || v.type == DataType::kFloat));
    switch (op_) {
      case Miss::kIsMissing: out->SetBool(missing); break;
      case Miss::kIsNotMissing: out->SetBool(!missing); break;
      case Miss::kIsValid: out->SetBool(!missing && !invalid); break;
      case Miss::kIsNotValid: out->SetBool(!missing && invalid); break;
    }
    return Outcome::kOk;
  }

 private:
  Miss op_;
};

class NotApply : public ApplyExpr {
 public:
  using ApplyExpr::ApplyExpr;

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    bool b;
    if (!ToBool(*a[0], &b)) return Error(ctx, absl::StrCat("argument \"", FormatValue(*a[0]), "\" is not a boolean"));
    out->SetBool(!b);
    return Outcome::kOk;
  }
};

// and / or with three-valued logic, evaluated lazily left to right.
class LogicApply : public ApplyExpr {
 public:
  LogicApply(Common c, std::vector<std::unique_ptr<Expr>> args, bool is_and)
      : ApplyExpr(std::move(c), std::move(args), true), is_and_(is_and) {}

  void Eval(EvalContext& ctx, Value* out) const override {
    bool unknown = false;
    Value scratch;
    for (const auto& arg : args()) {
      const Value& v = arg->EvalRef(ctx, &scratch);
      if (v.missing()) {
        if (common().has_map_missing) {
          *out = common().map_missing_to;
          return;
        }
        unknown = true;
        continue;
      }
      bool b;
      if (!ToBool(v, &b)) {
        Error(ctx, absl::StrCat("argument \"", FormatValue(v), "\" is not a boolean"));
        out->SetMissing();
        return;
      }
      if (b != is_and_ && !common().has_map_missing) {
        out->SetBool(b);
        return;
      }
      if (b != is_and_) {
        // Decided, but mapMissingTo needs every argument checked.
        unknown = false;
        out->SetBool(b);
        for (const auto& rest : args()) {
          if (rest->EvalRef(ctx, &scratch).missing()) {
            *out = common().map_missing_to;
            return;
          }
        }
        return;
      }
    }
    if (unknown) {
      out->SetMissing();
      Finish(ctx, Outcome::kOk, out);
    } else {
      out->SetBool(is_and_);
    }
  }

 protected:
  Outcome Compute(EvalContext&, const Value* const*, int, Value*) const override { return Outcome::kOk; }

 private:
  bool is_and_;
};

class IsInApply : public ApplyExpr {
 public:
  IsInApply(Common c, std::vector<std::unique_ptr<Expr>> args, bool negate)
      : ApplyExpr(std::move(c), std::move(args), true), negate_(negate) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    bool in = false;
    for (int i = 1; i < n && !in; ++i) {
      in = a[0]->missing() ? a[i]->missing() : (!a[i]->missing() && ValuesEqual(*a[0], *a[i]));
    }
    out->SetBool(in != negate_);
    return Outcome::kOk;
  }

 private:
  bool negate_;
};

// if(cond, then[, else]): only the chosen branch is evaluated.
class IfApply : public ApplyExpr {
 public:
  using ApplyExpr::ApplyExpr;

  void Eval(EvalContext& ctx, Value* out) const override {
    const auto& a = args();
    Value scratch;
    const Value& cond = a[0]->EvalRef(ctx, &scratch);
    if (cond.missing()) {
      if (common().has_map_missing) {
        *out = common().map_missing_to;
      } else {
        out->SetMissing();
        Finish(ctx, Outcome::kOk, out);
      }
      return;
    }
    bool b;
    if (!ToBool(cond, &b)) {
      Error(ctx, absl::StrCat("condition \"", FormatValue(cond), "\" is not a boolean"));
      out->SetMissing();
      return;
    }
    if (!b && a.size() < 3) {
      out->SetMissing();
      Finish(ctx, Outcome::kOk, out);
      return;
    }
    const Value& r = a[b ? 1 : 2]->EvalRef(ctx, out);
    if (r.missing() && common().has_map_missing) {
      *out = common().map_missing_to;
      return;
    }
    if (&r != out) *out = r;
    Finish(ctx, Outcome::kOk, out);
  }

 protected:
  Outcome Compute(EvalContext&, const Value* const*, int, Value*) const override { return Outcome::kOk; }
};

// ------------------------------------------------------------------ strings

enum class Str : uint8_t {
  kUpper, kLower, kTrim, kLength, kSubstring, kConcat, kReplace, kMatches, kFormatNumber, kFormatDatetime,
};

// Number of UTF-16 code units of UTF-8 text (Java's String.length()).
int Utf16Length(std::string_view s) {
  int n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) n += (c >= 0xF0) ? 2 : 1;
  }
  return n;
}

// Byte offset of code point `cp` (clamped to the end).
size_t CodePointOffset(std::string_view s, size_t cp) {
  size_t i = 0;
  while (i < s.size() && cp > 0) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    --cp;
  }
  return i;
}

// std::regex recurses per matched character; longer texts are refused.
constexpr size_t kMaxRegexText = 20000;

absl::StatusOr<std::regex> MakeRegex(const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad regular expression \"", pattern, "\": ", e.what()));
  }
}

// Java/PCRE replacement ($n, \$, $$) to ECMAScript format ($n, $$).
std::string ReplacementToEcma(std::string_view r) {
  std::string out;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\\' && i + 1 < r.size()) {
      char c = r[++i];
      if (c == '$') {
        out += "$$";
      } else {
        out += c;
      }
    } else {
      out += r[i];
    }
  }
  return out;
}

// formatNumber: one printf conversion (flags -#+ 0, width, precision; d i o x X
// e E f F g G a A s) plus %% and %n. Validated here, so the document never
// reaches snprintf's varargs with a bad pattern.
bool FormatNumber(std::string_view pattern, const Value& v, std::string* out, std::string* err) {
  out->clear();
  bool used = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char ch = pattern[i];
    if (ch != '%') {
      *out += ch;
      continue;
    }
    if (i + 1 >= pattern.size()) {
      *err = "the pattern ends with %";
      return false;
    }
    if (pattern[i + 1] == '%') {
      *out += '%';
      ++i;
      continue;
    }
    if (pattern[i + 1] == 'n') {
      *out += '\n';
      ++i;
      continue;
    }
    std::string spec = "%";
    size_t j = i + 1;
    while (j < pattern.size() && std::strchr("-#+ 0", pattern[j]) != nullptr && pattern[j] != '\0') spec += pattern[j++];
    int width = 0, prec = -1;
    while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j]))) width = width * 10 + (pattern[j++] - '0');
    if (j < pattern.size() && pattern[j] == '.') {
      ++j;
      prec = 0;
      while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j]))) prec = prec * 10 + (pattern[j++] - '0');
    }
    if (j >= pattern.size()) {
      *err = "incomplete conversion";
      return false;
    }
    if (width > 200 || prec > 200) {
      *err = "width or precision too large";
      return false;
    }
    char conv = pattern[j];
    if (used) {
      *err = "more than one conversion";
      return false;
    }
    used = true;
    if (width > 0) spec += std::to_string(width);
    if (prec >= 0) spec += "." + std::to_string(prec);
    char buf[512];
    double x = 0;
    bool num = ToDouble(v, &x);
    switch (conv) {
      case 'd':
      case 'i':
      case 'o':
      case 'x':
      case 'X': {
        if (!num || x != std::trunc(x) || std::fabs(x) > 9.2e18) {
          *err = absl::StrCat("%", std::string(1, conv), " needs an integer, got \"", FormatValue(v), "\"");
          return false;
        }
        spec += "ll";
        spec += conv;
        std::snprintf(buf, sizeof(buf), spec.c_str(), static_cast<long long>(x));
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
      case 'a':
      case 'A':
        if (!num) {
          *err = absl::StrCat("\"", FormatValue(v), "\" is not a number");
          return false;
        }
        spec += conv;
        std::snprintf(buf, sizeof(buf), spec.c_str(), x);
        break;
      case 's':
      case 'S': {
        std::string s;
        ToText(v, &s);
        if (conv == 'S') s = absl::AsciiStrToUpper(s);
        spec += 's';
        std::snprintf(buf, sizeof(buf), spec.c_str(), s.c_str());
        break;
      }
      default:
        *err = absl::StrCat("unsupported conversion %", std::string(1, conv));
        return false;
    }
    *out += buf;
    i = j;
  }
  return true;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Seconds since 1970-01-01T00:00 of a date/time value; false when it is none.
bool EpochSeconds(const Value& v, double* secs) {
  if (v.kind == Value::Kind::kString) {
    Value p;
    if (ParseValue(v.str, DataType::kDateTime, &p).ok() || ParseValue(v.str, DataType::kDate, &p).ok() ||
        ParseValue(v.str, DataType::kTime, &p).ok()) {
      return EpochSeconds(p, secs);
    }
    return false;
  }
  if (v.kind != Value::Kind::kNumber) return false;
  switch (v.type) {
    case DataType::kDate: *secs = v.num * 86400; return true;
    case DataType::kTime:
    case DataType::kTimeSeconds:
    case DataType::kDateTime:
    case DataType::kDateTimeSecondsSince1970: *secs = v.num; return true;
    case DataType::kDateDaysSince1970: *secs = v.num * 86400; return true;
    case DataType::kDateDaysSince0: *secs = (v.num + DaysFromCivil(0, 1, 1)) * 86400; return true;
    case DataType::kDateDaysSince1960: *secs = (v.num + DaysFromCivil(1960, 1, 1)) * 86400; return true;
    case DataType::kDateDaysSince1980: *secs = (v.num + DaysFromCivil(1980, 1, 1)) * 86400; return true;
    case DataType::kDateTimeSecondsSince0: *secs = v.num + DaysFromCivil(0, 1, 1) * 86400.0; return true;
    case DataType::kDateTimeSecondsSince1960: *secs = v.num + DaysFromCivil(1960, 1, 1) * 86400.0; return true;
    case DataType::kDateTimeSecondsSince1980: *secs = v.num + DaysFromCivil(1980, 1, 1) * 86400.0; return true;
    default: return false;
  }
}

bool FormatDatetime(std::string_view pattern, double secs, std::string* out, std::string* err) {
  std::time_t t = static_cast<std::time_t>(std::floor(secs));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) {
    *err = "the date is out of range";
    return false;
  }
  out->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 >= pattern.size()) {
      *out += pattern[i];
      continue;
    }
    char c = pattern[++i];
    if (c == '%') {
      *out += '%';
      continue;
    }
    if (c == 'p') {  // Java prints am/pm in lower case
      *out += tm.tm_hour < 12 ? "am" : "pm";
      continue;
    }
    if (std::strchr("YymdHMSjBbAahIeZzDFTRr", c) == nullptr || c == '\0') {
      *err = absl::StrCat("unsupported conversion %", std::string(1, c));
      return false;
    }
    char fmt[3] = {'%', c, 0};
    char buf[128];
    size_t len = std::strftime(buf, sizeof(buf), fmt, &tm);
    out->append(buf, len);
  }
  return true;
}

class StringApply : public ApplyExpr {
 public:
  StringApply(Common c, std::vector<std::unique_ptr<Expr>> args, Str op, std::optional<std::regex> re)
      : ApplyExpr(std::move(c), std::move(args), op == Str::kConcat), op_(op), re_(std::move(re)) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    std::string s;
    if (op_ != Str::kConcat && op_ != Str::kFormatNumber && op_ != Str::kFormatDatetime) ToText(*a[0], &s);
    switch (op_) {
      case Str::kUpper:
        absl::AsciiStrToUpper(&s);
        out->SetString(s);
        return Outcome::kOk;
      case Str::kLower:
        absl::AsciiStrToLower(&s);
        out->SetString(s);
        return Outcome::kOk;
      case Str::kTrim: {
        size_t b = 0, e = s.size();
        while (b < e && static_cast<unsigned char>(s[b]) <= ' ') ++b;
        while (e > b && static_cast<unsigned char>(s[e - 1]) <= ' ') --e;
        out->SetString(std::string_view(s).substr(b, e - b));
        return Outcome::kOk;
      }
      case Str::kLength:
        out->SetNumber(Utf16Length(s), DataType::kInteger);
        return Outcome::kOk;
      case Str::kSubstring: {
        double start, len;
        if (!ToDouble(*a[1], &start)) return NotNumber(ctx, *a[1]);
        if (!ToDouble(*a[2], &len)) return NotNumber(ctx, *a[2]);
        if (start < 1) return Error(ctx, absl::StrCat("startPos ", start, " is less than 1"));
        if (len < 0) return Error(ctx, absl::StrCat("length ", len, " is negative"));
        size_t b = CodePointOffset(s, static_cast<size_t>(start) - 1);
        size_t e = CodePointOffset(std::string_view(s).substr(b), static_cast<size_t>(std::min(len, 1e15)));
        out->SetString(std::string_view(s).substr(b, e));
        return Outcome::kOk;
      }
      case Str::kConcat: {
        std::string r, t;
        for (int i = 0; i < n; ++i) {
          if (a[i]->missing()) continue;
          ToText(*a[i], &t);
          r += t;
        }
        out->SetString(r);
        return Outcome::kOk;
      }
      case Str::kReplace:
      case Str::kMatches: {
        std::optional<std::regex> dynamic;
        const std::regex* re = re_ ? &*re_ : nullptr;
        if (re == nullptr) {
          std::string p;
          ToText(*a[1], &p);
          auto r = MakeRegex(p);
          if (!r.ok()) return Error(ctx, std::string(r.status().message()));
          dynamic = std::move(*r);
          re = &*dynamic;
        }
        if (s.size() > kMaxRegexText) {
          return Error(ctx, absl::StrCat("text of ", s.size(), " characters is too long for regular expressions"));
        }
        try {
          if (op_ == Str::kMatches) {
            out->SetBool(std::regex_search(s, *re));
          } else {
            std::string rep;
            ToText(*a[2], &rep);
            out->SetString(std::regex_replace(s, *re, ReplacementToEcma(rep)));
          }
        } catch (const std::exception& e) {
          return Error(ctx, absl::StrCat("regular expression failed: ", e.what()));
        }
        return Outcome::kOk;
      }
      case Str::kFormatNumber: {
        std::string p, r, err;
        ToText(*a[1], &p);
        if (!FormatNumber(p, *a[0], &r, &err)) return Error(ctx, err);
        out->SetString(r);
        return Outcome::kOk;
      }
      case Str::kFormatDatetime: {
        double secs;
        if (!EpochSeconds(*a[0], &secs)) {
          return Error(ctx, absl::StrCat("\"", FormatValue(*a[0]), "\" is not a date or time"));
        }
        std::string p, r, err;
        ToText(*a[1], &p);
        if (!FormatDatetime(p, secs, &r, &err)) return Error(ctx, err);
        out->SetString(r);
        return Outcome::kOk;
      }
    }
    return Outcome::kOk;
  }

 private:
  Str op_;
  std::optional<std::regex> re_;
};

// ------------------------------------------------------------------ dates

enum class DateFn : uint8_t { kDaysSinceYear, kSecondsSinceYear, kSecondsSinceMidnight };

class DateApply : public ApplyExpr {
 public:
  DateApply(Common c, std::vector<std::unique_ptr<Expr>> args, DateFn op)
      : ApplyExpr(std::move(c), std::move(args), false), op_(op) {}

 protected:
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    double secs;
    if (!EpochSeconds(*a[0], &secs)) {
      return Error(ctx, absl::StrCat("\"", FormatValue(*a[0]), "\" is not a date or time"));
    }
    if (op_ == DateFn::kSecondsSinceMidnight) {
      double s = secs - std::floor(secs / 86400) * 86400;
      out->SetNumber(std::floor(s), DataType::kInteger);
      return Outcome::kOk;
    }
    double year;
    if (!ToDouble(*a[1], &year) || year != std::trunc(year) || std::fabs(year) > 1e6) return NotNumber(ctx, *a[1]);
    double epoch_days = static_cast<double>(DaysFromCivil(static_cast<int64_t>(year), 1, 1));
    if (op_ == DateFn::kDaysSinceYear) {
      out->SetNumber(std::floor(secs / 86400) - epoch_days, DataType::kInteger);
    } else {
      out->SetNumber(std::floor(secs) - epoch_days * 86400, DataType::kInteger);
    }
    return Outcome::kOk;
  }

 private:
  DateFn op_;
};

// ------------------------------------------------------------------ DefineFunction calls

class DefinedApply : public ApplyExpr {
 public:
  DefinedApply(Common c, std::vector<std::unique_ptr<Expr>> args, const DefinedFunction* fn)
      : ApplyExpr(std::move(c), std::move(args), true), fn_(fn) {}

 protected:
  // Arguments are all evaluated before any parameter slot is written; the
  // previous parameter values are swapped out and back in, so recursive
  // calls (and arguments that refer to the caller's parameters) are safe.
  Outcome Compute(EvalContext& ctx, const Value* const* a, int n, Value* out) const override {
    if (g_call_depth >= kMaxCallDepth) {
      return Error(ctx, absl::StrCat("DefineFunction calls nested more than ", kMaxCallDepth, " deep"));
    }
    constexpr int kInline = 4;
    Value inline_vals[kInline];
    std::vector<Value> heap_vals;
    Value* vals = inline_vals;
    if (n > kInline) {
      heap_vals.resize(n);
      vals = heap_vals.data();
    }
    for (int i = 0; i < n; ++i) vals[i] = *a[i];
    for (int i = 0; i < n; ++i) std::swap(vals[i], ctx.Input(fn_->params[i].slot));
    ++g_call_depth;
    fn_->body->Eval(ctx, out);
    --g_call_depth;
    for (int i = 0; i < n; ++i) std::swap(vals[i], ctx.Input(fn_->params[i].slot));
    return ctx.failed() && out->missing() ? Outcome::kError : Outcome::kOk;
  }

  static constexpr int kMaxCallDepth = 200;
  static thread_local int g_call_depth;

 private:
  const DefinedFunction* fn_;
};

thread_local int DefinedApply::g_call_depth = 0;

// ------------------------------------------------------------------ registry

enum class Family : uint8_t { kArith, kMath, kNormal, kStat, kCmp, kMiss, kNot, kLogic, kIsIn, kIf, kStr, kDate };

struct FnSpec {
  const char* name;
  Family family;
  uint8_t op;
  int min_args;
  int max_args;  // -1: variadic
};

constexpr int kVar = -1;

const FnSpec kFunctions[] = {
    {"+", Family::kArith, (uint8_t)Arith::kAdd, 2, 2},
    {"-", Family::kArith, (uint8_t)Arith::kSub, 2, 2},
    {"*", Family::kArith, (uint8_t)Arith::kMul, 2, 2},
    {"/", Family::kArith, (uint8_t)Arith::kDiv, 2, 2},
    {"modulo", Family::kArith, (uint8_t)Arith::kMod, 2, 2},
    {"x-modulo", Family::kArith, (uint8_t)Arith::kMod, 2, 2},
    {"pow", Family::kArith, (uint8_t)Arith::kPow, 2, 2},
    {"threshold", Family::kArith, (uint8_t)Arith::kThreshold, 2, 2},
    {"hypot", Family::kArith, (uint8_t)Arith::kHypot, 2, 2},
    {"x-hypot", Family::kArith, (uint8_t)Arith::kHypot, 2, 2},
    {"atan2", Family::kArith, (uint8_t)Arith::kAtan2, 2, 2},
    {"x-atan2", Family::kArith, (uint8_t)Arith::kAtan2, 2, 2},
    {"log10", Family::kMath, (uint8_t)Math1::kLog10, 1, 1},
    {"ln", Family::kMath, (uint8_t)Math1::kLn, 1, 1},
    {"sqrt", Family::kMath, (uint8_t)Math1::kSqrt, 1, 1},
    {"exp", Family::kMath, (uint8_t)Math1::kExp, 1, 1},
    {"expm1", Family::kMath, (uint8_t)Math1::kExpm1, 1, 1},
    {"x-expm1", Family::kMath, (uint8_t)Math1::kExpm1, 1, 1},
    {"ln1p", Family::kMath, (uint8_t)Math1::kLn1p, 1, 1},
    {"x-ln1p", Family::kMath, (uint8_t)Math1::kLn1p, 1, 1},
    {"sin", Family::kMath, (uint8_t)Math1::kSin, 1, 1},
    {"cos", Family::kMath, (uint8_t)Math1::kCos, 1, 1},
    {"tan", Family::kMath, (uint8_t)Math1::kTan, 1, 1},
    {"asin", Family::kMath, (uint8_t)Math1::kAsin, 1, 1},
    {"acos", Family::kMath, (uint8_t)Math1::kAcos, 1, 1},
    {"atan", Family::kMath, (uint8_t)Math1::kAtan, 1, 1},
    {"sinh", Family::kMath, (uint8_t)Math1::kSinh, 1, 1},
    {"cosh", Family::kMath, (uint8_t)Math1::kCosh, 1, 1},
    {"tanh", Family::kMath, (uint8_t)Math1::kTanh, 1, 1},
    {"x-sin", Family::kMath, (uint8_t)Math1::kSin, 1, 1},
    {"x-cos", Family::kMath, (uint8_t)Math1::kCos, 1, 1},
    {"x-tan", Family::kMath, (uint8_t)Math1::kTan, 1, 1},
    {"x-asin", Family::kMath, (uint8_t)Math1::kAsin, 1, 1},
    {"x-acos", Family::kMath, (uint8_t)Math1::kAcos, 1, 1},
    {"x-atan", Family::kMath, (uint8_t)Math1::kAtan, 1, 1},
    {"x-sinh", Family::kMath, (uint8_t)Math1::kSinh, 1, 1},
    {"x-cosh", Family::kMath, (uint8_t)Math1::kCosh, 1, 1},
    {"x-tanh", Family::kMath, (uint8_t)Math1::kTanh, 1, 1},
    {"erf", Family::kMath, (uint8_t)Math1::kErf, 1, 1},
    {"stdNormalCDF", Family::kMath, (uint8_t)Math1::kStdNormalCdf, 1, 1},
    {"stdNormalPDF", Family::kMath, (uint8_t)Math1::kStdNormalPdf, 1, 1},
    {"stdNormalIDF", Family::kMath, (uint8_t)Math1::kStdNormalIdf, 1, 1},
    {"abs", Family::kMath, (uint8_t)Math1::kAbs, 1, 1},
    {"rint", Family::kMath, (uint8_t)Math1::kRint, 1, 1},
    {"x-rint", Family::kMath, (uint8_t)Math1::kRint, 1, 1},
    {"floor", Family::kMath, (uint8_t)Math1::kFloor, 1, 1},
    {"ceil", Family::kMath, (uint8_t)Math1::kCeil, 1, 1},
    {"round", Family::kMath, (uint8_t)Math1::kRound, 1, 1},
    {"normalCDF", Family::kNormal, (uint8_t)Normal3::kCdf, 3, 3},
    {"normalPDF", Family::kNormal, (uint8_t)Normal3::kPdf, 3, 3},
    {"normalIDF", Family::kNormal, (uint8_t)Normal3::kIdf, 3, 3},
    {"min", Family::kStat, (uint8_t)Stat::kMin, 1, kVar},
    {"max", Family::kStat, (uint8_t)Stat::kMax, 1, kVar},
    {"sum", Family::kStat, (uint8_t)Stat::kSum, 1, kVar},
    {"avg", Family::kStat, (uint8_t)Stat::kAvg, 1, kVar},
    {"product", Family::kStat, (uint8_t)Stat::kProduct, 1, kVar},
    {"median", Family::kStat, (uint8_t)Stat::kMedian, 1, kVar},
    {"equal", Family::kCmp, (uint8_t)Cmp::kEq, 2, 2},
    {"notEqual", Family::kCmp, (uint8_t)Cmp::kNe, 2, 2},
    {"lessThan", Family::kCmp, (uint8_t)Cmp::kLt, 2, 2},
    {"lessOrEqual", Family::kCmp, (uint8_t)Cmp::kLe, 2, 2},
    {"greaterThan", Family::kCmp, (uint8_t)Cmp::kGt, 2, 2},
    {"greaterOrEqual", Family::kCmp, (uint8_t)Cmp::kGe, 2, 2},
    {"isMissing", Family::kMiss, (uint8_t)Miss::kIsMissing, 1, 1},
    {"isNotMissing", Family::kMiss, (uint8_t)Miss::kIsNotMissing, 1, 1},
    {"isValid", Family::kMiss, (uint8_t)Miss::kIsValid, 1, 1},
    {"isNotValid", Family::kMiss, (uint8_t)Miss::kIsNotValid, 1, 1},
    {"not", Family::kNot, 0, 1, 1},
    {"and", Family::kLogic, 1, 2, kVar},
    {"or", Family::kLogic, 0, 2, kVar},
    {"isIn", Family::kIsIn, 0, 2, kVar},
    {"isNotIn", Family::kIsIn, 1, 2, kVar},
    {"if", Family::kIf, 0, 2, 3},
    {"uppercase", Family::kStr, (uint8_t)Str::kUpper, 1, 1},
    {"lowercase", Family::kStr, (uint8_t)Str::kLower, 1, 1},
    {"trimBlanks", Family::kStr, (uint8_t)Str::kTrim, 1, 1},
    {"stringLength", Family::kStr, (uint8_t)Str::kLength, 1, 1},
    {"substring", Family::kStr, (uint8_t)Str::kSubstring, 3, 3},
    {"concat", Family::kStr, (uint8_t)Str::kConcat, 1, kVar},
    {"replace", Family::kStr, (uint8_t)Str::kReplace, 3, 3},
    {"matches", Family::kStr, (uint8_t)Str::kMatches, 2, 2},
    {"formatNumber", Family::kStr, (uint8_t)Str::kFormatNumber, 2, 2},
    {"formatDatetime", Family::kStr, (uint8_t)Str::kFormatDatetime, 2, 2},
    {"dateDaysSinceYear", Family::kDate, (uint8_t)DateFn::kDaysSinceYear, 2, 2},
    {"dateSecondsSinceYear", Family::kDate, (uint8_t)DateFn::kSecondsSinceYear, 2, 2},
    {"dateSecondsSinceMidnight", Family::kDate, (uint8_t)DateFn::kSecondsSinceMidnight, 1, 1},
};

const FnSpec* FindBuiltin(std::string_view name) {
  static const auto* index = [] {
    auto* m = new absl::flat_hash_map<std::string, const FnSpec*>();
    for (const FnSpec& f : kFunctions) m->emplace(f.name, &f);
    return m;
  }();
  auto it = index->find(std::string(name));
  return it == index->end() ? nullptr : it->second;
}

// Static result type of a built-in given its arguments' static types.
DataType ResultType(const FnSpec& f, const std::vector<std::unique_ptr<Expr>>& args) {
  auto arith = [](DataType t) { return IsArithmeticType(t) ? t : DataType::kDouble; };
  switch (f.family) {
    case Family::kArith:
      if (f.op == (uint8_t)Arith::kHypot || f.op == (uint8_t)Arith::kAtan2) return DataType::kDouble;
      return CommonNumericType(args[0]->type(), args[1]->type());
    case Family::kMath:
      switch (static_cast<Math1>(f.op)) {
        case Math1::kAbs:
        case Math1::kRint:
          return arith(args[0]->type());
        case Math1::kFloor:
        case Math1::kCeil:
        case Math1::kRound:
          return DataType::kInteger;
        default:
          return DataType::kDouble;
      }
    case Family::kNormal:
      return DataType::kDouble;
    case Family::kStat: {
      DataType t = arith(args[0]->type());
      for (const auto& a : args) t = CommonNumericType(t, arith(a->type()));
      if ((f.op == (uint8_t)Stat::kAvg || f.op == (uint8_t)Stat::kMedian) && t == DataType::kInteger) {
        return DataType::kDouble;
      }
      return t;
    }
    case Family::kCmp:
    case Family::kMiss:
    case Family::kNot:
    case Family::kLogic:
    case Family::kIsIn:
      return DataType::kBoolean;
    case Family::kIf:
      return args[1]->type();
    case Family::kStr:
      switch (static_cast<Str>(f.op)) {
        case Str::kLength:
          return DataType::kInteger;
        case Str::kMatches:
          return DataType::kBoolean;
        default:
          return DataType::kString;
      }
    case Family::kDate:
      return DataType::kInteger;
  }
  return DataType::kDouble;
}

}  // namespace

// (FieldRef - Constant) / Constant over doubles: the form sklearn2pmml
// writes for StandardScaler, evaluated per input of an MLP or a linear model.
// The same two double operations as the nested Applies, without their
// argument scratch; anything else (missing, non-double, a non-finite
// result) is handed to the nested Applies, so semantics are unchanged.
class ScaleApply : public Expr {
 public:
  ScaleApply(std::unique_ptr<Expr> generic, SlotId slot, double sub, double div)
      : generic_(std::move(generic)), slot_(slot), sub_(sub), div_(div) {
    set_type(generic_->type(), generic_->optype());
  }
  void Eval(EvalContext& ctx, Value* out) const override {
    const Value& v = ctx.Get(slot_);
    if (v.kind == Value::Kind::kNumber && v.type == DataType::kDouble) {
      double r = (v.num - sub_) / div_;
      if (std::isfinite(r)) {
        out->SetNumber(r, DataType::kDouble);
        return;
      }
    }
    generic_->Eval(ctx, out);
  }

 private:
  std::unique_ptr<Expr> generic_;
  SlotId slot_;
  double sub_, div_;
};

bool PlainApply(pugi::xml_node el) {
  return !HasAttr(el, "mapMissingTo") && !HasAttr(el, "defaultValue") && !HasAttr(el, "invalidValueTreatment");
}

bool DoubleConstant(pugi::xml_node el, double* out) {
  if (LocalName(el) != "Constant" || AttrView(el, "dataType") != "double" || HasAttr(el, "missing")) return false;
  Value v;
  if (!ParseValue(el.child_value(), DataType::kDouble, &v).ok() || !v.is_number()) return false;
  *out = v.num;
  return std::isfinite(v.num);
}

// The slot, subtrahend and divisor when `el` is the scaler form above.
bool MatchScale(pugi::xml_node el, Scope& scope, SlotId* slot, double* sub, double* div) {
  if (AttrView(el, "function") != "/" || !PlainApply(el)) return false;
  std::vector<pugi::xml_node> outer, inner;
  for (pugi::xml_node c : el.children())
    if (IsExpressionElement(c)) outer.push_back(c);
  if (outer.size() != 2 || LocalName(outer[0]) != "Apply" || !DoubleConstant(outer[1], div)) return false;
  if (AttrView(outer[0], "function") != "-" || !PlainApply(outer[0])) return false;
  for (pugi::xml_node c : outer[0].children())
    if (IsExpressionElement(c)) inner.push_back(c);
  if (inner.size() != 2 || LocalName(inner[0]) != "FieldRef" || HasAttr(inner[0], "mapMissingTo") ||
      !DoubleConstant(inner[1], sub))
    return false;
  auto f = scope.Resolve(AttrView(inner[0], "field"));
  if (!f.ok() || f->type != DataType::kDouble || f->slot == kNoSlot) return false;
  *slot = f->slot;
  return true;
}

absl::StatusOr<std::unique_ptr<Expr>> CompileApply(pugi::xml_node el, Scope& scope) {
  std::string name(AttrView(el, "function"));
  if (name.empty()) return ElementError(el, "missing attribute function");
  std::vector<std::unique_ptr<Expr>> args;
  const bool is_if = name == "if";
  for (pugi::xml_node c : el.children()) {
    if (!IsExpressionElement(c)) continue;
    std::optional<BranchScope> branch;
    if (is_if && !args.empty()) branch.emplace();
    ASSIGN_OR_RETURN(auto e, CompileExpression(c, scope));
    args.push_back(std::move(e));
  }
  const int n = static_cast<int>(args.size());

  ApplyExpr::Common common;
  common.name = name;
  common.path = ElementPath(el);
  std::string_view ivt = AttrView(el, "invalidValueTreatment");
  if (ivt.empty() || ivt == "returnInvalid") {
    common.ivt = Ivt::kReturnInvalid;
  } else if (ivt == "asMissing") {
    common.ivt = Ivt::kAsMissing;
  } else if (ivt == "asIs") {
    common.ivt = Ivt::kAsIs;
  } else {
    return ElementError(el, absl::StrCat("unsupported invalidValueTreatment \"", AV(ivt), "\""));
  }

  const FnSpec* spec = FindBuiltin(name);
  const DefinedFunction* defined = nullptr;
  DataType type;
  OpType optype;
  if (spec != nullptr) {
    if (n < spec->min_args || (spec->max_args != kVar && n > spec->max_args)) {
      std::string want = spec->max_args == kVar ? absl::StrCat("at least ", spec->min_args)
                         : spec->min_args == spec->max_args
                             ? absl::StrCat(spec->min_args)
                             : absl::StrCat(spec->min_args, " to ", spec->max_args);
      return ElementError(el, absl::StrCat("function ", name, " takes ", want, " arguments, got ", n));
    }
    type = ResultType(*spec, args);
    optype = DefaultOpType(type);
    if (spec->family == Family::kIf) optype = args[1]->optype();
  } else {
    defined = FindCompilingFunction(name);
    if (defined == nullptr) {
      auto fn = scope.builder()->FindFunction(name);
      if (!fn.ok()) return fn.status();
      if (*fn == nullptr) return ElementError(el, absl::StrCat("function \"", name, "\" is not defined"));
      defined = *fn;
    }
    if (static_cast<int>(defined->params.size()) != n) {
      return ElementError(el, absl::StrCat("function ", name, " takes ", defined->params.size(),
                                           " arguments, got ", n));
    }
    type = defined->type;
    optype = defined->optype;
  }
  if (HasAttr(el, "mapMissingTo")) {
    common.has_map_missing = true;
    common.map_missing_to = ParseOrString(AttrView(el, "mapMissingTo"), type);
  }
  if (HasAttr(el, "defaultValue")) {
    common.has_default = true;
    common.default_value = ParseOrString(AttrView(el, "defaultValue"), type);
  }

  std::unique_ptr<ApplyExpr> expr;
  if (defined != nullptr) {
    expr = std::make_unique<DefinedApply>(std::move(common), std::move(args), defined);
  } else {
    switch (spec->family) {
      case Family::kArith:
        expr = std::make_unique<ArithApply>(std::move(common), std::move(args), static_cast<Arith>(spec->op));
        break;
      case Family::kMath:
        expr = std::make_unique<MathApply>(std::move(common), std::move(args), static_cast<Math1>(spec->op));
        break;
      case Family::kNormal:
        expr = std::make_unique<NormalApply>(std::move(common), std::move(args), static_cast<Normal3>(spec->op));
        break;
      case Family::kStat:
        expr = std::make_unique<StatApply>(std::move(common), std::move(args), static_cast<Stat>(spec->op));
        break;
      case Family::kCmp:
        expr = std::make_unique<CompareApply>(std::move(common), std::move(args), static_cast<Cmp>(spec->op));
        break;
      case Family::kMiss:
        expr = std::make_unique<MissingApply>(std::move(common), std::move(args), static_cast<Miss>(spec->op));
        break;
      case Family::kNot:
        expr = std::make_unique<NotApply>(std::move(common), std::move(args), false);
        break;
      case Family::kLogic:
        expr = std::make_unique<LogicApply>(std::move(common), std::move(args), spec->op == 1);
        break;
      case Family::kIsIn:
        expr = std::make_unique<IsInApply>(std::move(common), std::move(args), spec->op == 1);
        break;
      case Family::kIf:
        expr = std::make_unique<IfApply>(std::move(common), std::move(args), true);
        break;
      case Family::kStr: {
        Str op = static_cast<Str>(spec->op);
        std::optional<std::regex> re;
        if (op == Str::kReplace || op == Str::kMatches) {
          if (auto* c = dynamic_cast<const ConstantExpr*>(args[1].get()); c != nullptr && !c->value().missing()) {
            std::string p;
            ToText(c->value(), &p);
            auto r = MakeRegex(p);
            if (!r.ok()) return ElementError(el, std::string(r.status().message()));
            re = std::move(*r);
          }
        }
        expr = std::make_unique<StringApply>(std::move(common), std::move(args), op, std::move(re));
        break;
      }
      case Family::kDate:
        expr = std::make_unique<DateApply>(std::move(common), std::move(args), static_cast<DateFn>(spec->op));
        break;
    }
  }
  expr->set_type(type, optype);
  // Constant folding: a built-in applied to constants only is evaluated
  // once, here, unless that fails (then it fails per record, as written).
  if (defined == nullptr) {
    bool all_constant = true;
    for (const auto& arg : expr->args()) {
      if (dynamic_cast<const ConstantExpr*>(arg.get()) == nullptr) all_constant = false;
    }
    if (all_constant) {
      Plan empty_plan;
      EvalContext ctx(empty_plan);
      ctx.BeginRecord();
      Value v;
      expr->Eval(ctx, &v);
      if (!ctx.failed()) {
        auto folded = std::make_unique<ConstantExpr>(std::move(v));
        folded->set_type(type, optype);
        return std::unique_ptr<Expr>(std::move(folded));
      }
    }
  }
  SlotId slot;
  double sub, div;
  if (defined == nullptr && MatchScale(el, scope, &slot, &sub, &div))
    return std::unique_ptr<Expr>(std::make_unique<ScaleApply>(std::move(expr), slot, sub, div));
  return std::unique_ptr<Expr>(std::move(expr));
}

}  // namespace evs::pmml::expr_internal
