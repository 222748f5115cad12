#pragma once

// Helpers shared by the regression-like families (regression.cc,
// general_regression.cc, neural_network.cc). Private to those files.

#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pmml/document.h"
#include "pmml/plan.h"
#include "pmml/value.h"
#include "pugixml.hpp"

namespace evs::pmml::regutil {

// Child elements of `parent` whose local name is `name`, in document order.
inline std::vector<pugi::xml_node> Children(pugi::xml_node parent, std::string_view name) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) == name) out.push_back(c);
  }
  return out;
}

inline bool HasAttr(pugi::xml_node node, const char* name) { return !node.attribute(name).empty(); }

// Parses a double attribute; `fallback` when absent; error naming the element when malformed.
inline absl::Status DoubleAttr(pugi::xml_node node, const char* name, double fallback, double* out) {
  pugi::xml_attribute a = node.attribute(name);
  if (a.empty()) {
    *out = fallback;
    return absl::OkStatus();
  }
  std::string text = a.value();
  // Trim blanks.
  size_t b = text.find_first_not_of(" \t\r\n");
  size_t e = text.find_last_not_of(" \t\r\n");
  text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  if (text == "NaN") {
    *out = NAN;
    return absl::OkStatus();
  }
  if (text == "INF" || text == "Infinity") {
    *out = HUGE_VAL;
    return absl::OkStatus();
  }
  if (text == "-INF" || text == "-Infinity") {
    *out = -HUGE_VAL;
    return absl::OkStatus();
  }
  if (text.empty() || !absl::SimpleAtod(text, out)) {
    return ElementError(node, absl::StrCat("attribute ", name, "=\"", a.value(), "\" is not a number"));
  }
  return absl::OkStatus();
}

inline absl::Status RequiredDoubleAttr(pugi::xml_node node, const char* name, double* out) {
  if (!HasAttr(node, name)) return ElementError(node, absl::StrCat("missing attribute ", name));
  return DoubleAttr(node, name, 0, out);
}

inline absl::Status RequiredAttr(pugi::xml_node node, const char* name, std::string* out) {
  pugi::xml_attribute a = node.attribute(name);
  if (a.empty()) return ElementError(node, absl::StrCat("missing attribute ", name));
  *out = a.value();
  return absl::OkStatus();
}

// Result of reading a numeric input.
enum class Num : uint8_t { kOk, kMissing, kError };

// Slow path of ReadNumber: strings that parse as numbers, else a failure.
[[gnu::noinline]] inline Num ReadNumberSlow(EvalContext& ctx, SlotId s, const Value& v, double* out) {
  if (v.kind == Value::Kind::kString && absl::SimpleAtod(v.str, out)) return Num::kOk;
  ctx.Fail(absl::InvalidArgumentError(absl::StrCat("field ", ctx.plan().slot_name(s), ": value \"",
                                                   FormatValue(v), "\" is not a number")));
  return Num::kError;
}

// Reads slot `s` as a number. Strings that parse as numbers are accepted;
// other strings fail the record (reported through ctx).
inline Num ReadNumber(EvalContext& ctx, SlotId s, double* out) {
  const Value& v = ctx.Get(s);
  if (v.kind == Value::Kind::kNumber || v.kind == Value::Kind::kBool) [[likely]] {
    *out = v.num;
    return Num::kOk;
  }
  if (v.kind == Value::Kind::kMissing) return Num::kMissing;
  return ReadNumberSlow(ctx, s, v, out);
}

// A category value parsed in the type of the field it is compared with.
// Numeric fields compare numerically without touching strings.
struct Category {
  Value value;
  bool numeric = false;  // value.num is valid and the field is numeric

  static Category Make(std::string_view text, DataType field_type) {
    Category c;
    if (IsNumeric(field_type) && ParseValue(text, field_type, &c.value).ok() &&
        (c.value.is_number() || c.value.is_bool())) {
      c.numeric = true;
      return c;
    }
    if (field_type == DataType::kBoolean && ParseValue(text, field_type, &c.value).ok()) {
      c.numeric = true;
      return c;
    }
    c.value = Value::String(text);
    return c;
  }

  // Precondition: v is not missing.
  bool Matches(const Value& v) const {
    if (numeric && (v.kind == Value::Kind::kNumber || v.kind == Value::Kind::kBool)) {
      return v.num == value.num;
    }
    return ValuesEqual(v, value);
  }
};

// Inverse link functions (PMML 4.4 / JPMML formulas).
inline double InvLogit(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double InvProbit(double x) {
  // Normal CDF; same limits as Commons Math (0/1 beyond 40 sd).
  if (x < -40) return 0.0;
  if (x > 40) return 1.0;
  return 0.5 * std::erfc(-x / std::sqrt(2.0));
}
inline double InvCloglog(double x) { return 1.0 - std::exp(-std::exp(x)); }
inline double InvLoglog(double x) { return std::exp(-std::exp(-x)); }
inline double InvCauchit(double x) { return 0.5 + (1.0 / M_PI) * std::atan(x); }

// JPMML float math context (model attribute x-mathContext / mathContext = "float").
// JPMML-Evaluator's FloatValue does every step in float; exp(x) is computed as
// (float)pow(2.7182817, x) with that double constant (not e), and atan in double.
inline bool IsFloatMathContext(pugi::xml_node model) {
  std::string_view a = model.attribute("x-mathContext").value();
  if (a.empty()) a = model.attribute("mathContext").value();
  return a == "float";
}
inline float FExp(float x) { return static_cast<float>(std::pow(2.7182817, static_cast<double>(x))); }
inline float FInvLogit(float x) { return 1.0f / (1.0f + FExp(-x)); }
inline float FInvCloglog(float x) { return 1.0f - FExp(-FExp(x)); }
inline float FInvLoglog(float x) { return FExp(-FExp(-x)); }
inline float FInvCauchit(float x) {
  return 0.5f + (1.0f / static_cast<float>(3.1415927)) * static_cast<float>(std::atan(static_cast<double>(x)));
}

// Float versions of SoftMax / SimpleMax below (same steps, float arithmetic).
inline bool FSoftMax(float* v, size_t n) {
  if (n == 0) return true;
  float mx = v[0];
  for (size_t i = 1; i < n; ++i) {
    if (mx < v[i]) mx = v[i];
  }
  float sum = 0;
  for (size_t i = 0; i < n; ++i) {
    v[i] = FExp(v[i] - mx);
    sum = i == 0 ? v[i] : sum + v[i];
  }
  if (sum == 1.0f) return true;
  if (sum == 0.0f) return false;
  for (size_t i = 0; i < n; ++i) v[i] /= sum;
  return true;
}
inline bool FSimpleMax(float* v, size_t n) {
  if (n == 0) return true;
  float sum = v[0];
  for (size_t i = 1; i < n; ++i) sum += v[i];
  if (sum == 1.0f) return true;
  if (sum == 0.0f) return false;
  for (size_t i = 0; i < n; ++i) v[i] /= sum;
  return true;
}

// Softmax in place with max subtraction (JPMML ValueUtil.normalizeSoftMax).
// False when the sum is zero (undefined result).
inline bool SoftMax(double* v, size_t n) {
  if (n == 0) return true;
  double mx = v[0];
  for (size_t i = 1; i < n; ++i) {
    if (mx < v[i]) mx = v[i];
  }
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - mx);
    sum += v[i];
  }
  if (sum == 1.0) return true;
  if (sum == 0.0) return false;
  for (size_t i = 0; i < n; ++i) v[i] /= sum;
  return true;
}

// Divides by the sum (JPMML ValueUtil.normalizeSimpleMax). False when the sum is zero.
inline bool SimpleMax(double* v, size_t n) {
  if (n == 0) return true;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += v[i];
  if (sum == 1.0) return true;
  if (sum == 0.0) return false;
  for (size_t i = 0; i < n; ++i) v[i] /= sum;
  return true;
}

// Index of the largest value; the first one wins ties (JPMML's classification
// result); NaN values are skipped; -1 when there is none.
inline int ArgMax(const double* v, size_t n) {
  int best = -1;
  for (int i = 0; i < static_cast<int>(n); ++i) {
    if (std::isnan(v[i])) continue;
    if (best < 0 || v[best] < v[i]) best = i;
  }
  return best;
}
inline int ArgMax(const std::vector<double>& v) { return ArgMax(v.data(), v.size()); }

// Parses a target category in the target's type (falls back to a string).
inline Value LabelValue(std::string_view text, DataType type) {
  Value v;
  if (ParseValue(text, type, &v).ok()) return v;
  return Value::String(text);
}

}  // namespace evs::pmml::regutil
