#pragma once

// Internal helpers shared by the "misc" model families (naive Bayes, SVM,
// clustering, k-NN, scorecard, rule set, association, anomaly detection).
// Header-only; not part of the engine contract.

#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/document.h"
#include "pmml/value.h"
#include "pugixml.hpp"

namespace evs::pmml::misc {

// Cheap equality for feature names on per-record paths (size first).
inline bool Is(std::string_view s, std::string_view literal) { return s == literal; }

inline bool IsElement(pugi::xml_node n, std::string_view name) {
  return n.type() == pugi::node_element && LocalName(n) == name;
}

// Child elements with the given local name, in document order.
inline std::vector<pugi::xml_node> Children(pugi::xml_node parent, std::string_view name) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (IsElement(c, name)) out.push_back(c);
  }
  return out;
}

inline bool ParseDoubleText(std::string_view text, double* out) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  if (b == e) return false;
  std::string s(text.substr(b, e - b));
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

inline absl::StatusOr<double> ReqDouble(pugi::xml_node n, const char* attr) {
  pugi::xml_attribute a = n.attribute(attr);
  if (!a) return ElementError(n, std::string("missing attribute ") + attr);
  double v;
  if (!ParseDoubleText(a.value(), &v)) {
    return ElementError(n, std::string("attribute ") + attr + " is not a number: " + a.value());
  }
  return v;
}

inline absl::StatusOr<double> OptDouble(pugi::xml_node n, const char* attr, double def) {
  if (!n.attribute(attr)) return def;
  return ReqDouble(n, attr);
}

// A value of `type` from document text; a string when the text does not
// parse as that type.
inline Value ParseTyped(std::string_view text, DataType type) {
  Value v;
  if (!ParseValue(text, type, &v).ok() || v.missing() || v.kind == Value::Kind::kInvalid) {
    v.SetString(text);
  }
  return v;
}

// Numeric view of a value: numbers and booleans directly, strings parsed.
inline bool AsNumber(const Value& v, double* out) {
  if (v.kind == Value::Kind::kNumber || v.kind == Value::Kind::kBool) {
    *out = v.num;
    return true;
  }
  if (v.kind == Value::Kind::kString) return ParseDoubleText(v.str, out);
  return false;
}

// Tokens of an Array element's text: whitespace separated, double quotes
// group (with \" as an escaped quote).
inline std::vector<std::string> ArrayTokens(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    std::string tok;
    if (text[i] == '"') {
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '"') ++i;
        tok.push_back(text[i++]);
      }
      ++i;  // closing quote
    } else {
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
        tok.push_back(text[i++]);
      }
    }
    out.push_back(std::move(tok));
  }
  return out;
}

// The numbers of an Array (type real/int/NUM-ARRAY ...) element.
inline absl::StatusOr<std::vector<double>> NumberArray(pugi::xml_node array) {
  std::vector<double> out;
  for (const std::string& t : ArrayTokens(array.child_value())) {
    double v;
    if (!ParseDoubleText(t, &v)) return ElementError(array, "array element is not a number: " + t);
    out.push_back(v);
  }
  pugi::xml_attribute n = array.attribute("n");
  if (n && n.as_int(-1) != static_cast<int>(out.size())) {
    return ElementError(array, "array length differs from its n attribute");
  }
  return out;
}

// The first Array child of `parent` as numbers.
inline absl::StatusOr<std::vector<double>> ChildNumberArray(pugi::xml_node parent) {
  pugi::xml_node array = Child(parent, "Array");
  if (!array) return ElementError(parent, "missing Array");
  return NumberArray(array);
}

// ---------------------------------------------------------------------------
// ComparisonMeasure (ClusteringModel, NearestNeighborModel).

enum class CompareFn : uint8_t { kAbsDiff, kGaussSim, kDelta, kEqual, kTable };
enum class Metric : uint8_t {
  kEuclidean,
  kSquaredEuclidean,
  kChebychev,
  kCityBlock,
  kMinkowski,
  kSimpleMatching,
  kJaccard,
  kTanimoto,
  kBinarySimilarity,
};

struct Measure {
  bool similarity = false;  // kind="similarity": larger is better
  Metric metric = Metric::kSquaredEuclidean;
  double p = 2;             // minkowski
  double c00 = 0, c01 = 0, c10 = 0, c11 = 0, d00 = 0, d01 = 0, d10 = 0, d11 = 0;
  CompareFn default_fn = CompareFn::kAbsDiff;
  double inner_power = 2, outer_power = 2;
};

struct CompareField {
  CompareFn fn = CompareFn::kAbsDiff;
  double weight = 1;
  double similarity_scale = NAN;
};

inline absl::StatusOr<CompareFn> ParseCompareFn(pugi::xml_node n, std::string_view s) {
  if (s == "absDiff") return CompareFn::kAbsDiff;
  if (s == "gaussSim") return CompareFn::kGaussSim;
  if (s == "delta") return CompareFn::kDelta;
  if (s == "equal") return CompareFn::kEqual;
  if (s == "table") return ElementError(n, "compareFunction \"table\" is not supported");
  return ElementError(n, "unknown compareFunction " + std::string(s));
}

inline absl::StatusOr<Measure> ParseMeasure(pugi::xml_node cm) {
  Measure m;
  std::string_view kind = cm.attribute("kind").value();
  if (kind != "distance" && kind != "similarity") {
    return ElementError(cm, "ComparisonMeasure kind must be distance or similarity");
  }
  if (cm.attribute("compareFunction")) {
    auto fn = ParseCompareFn(cm, cm.attribute("compareFunction").value());
    if (!fn.ok()) return fn.status();
    if (*fn == CompareFn::kGaussSim) {
      return ElementError(cm, "gaussSim needs a field's similarityScale");
    }
    m.default_fn = *fn;
  }
  pugi::xml_node el;
  for (pugi::xml_node c = cm.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) != "Extension") {
      el = c;
      break;
    }
  }
  if (!el) return ElementError(cm, "missing measure element");
  std::string_view name = LocalName(el);
  if (name == "euclidean") {
    m.metric = Metric::kEuclidean;
    m.inner_power = m.outer_power = 2;
  } else if (name == "squaredEuclidean") {
    m.metric = Metric::kSquaredEuclidean;
    m.inner_power = 2;
    m.outer_power = 1;
  } else if (name == "chebychev") {
    m.metric = Metric::kChebychev;
    m.inner_power = m.outer_power = 1;
  } else if (name == "cityBlock") {
    m.metric = Metric::kCityBlock;
    m.inner_power = m.outer_power = 1;
  } else if (name == "minkowski") {
    m.metric = Metric::kMinkowski;
    auto p = ReqDouble(el, "p-parameter");
    if (!p.ok()) return p.status();
    if (*p < 0) return ElementError(el, "p-parameter must not be negative");
    m.p = m.inner_power = m.outer_power = *p;
  } else if (name == "simpleMatching") {
    m.metric = Metric::kSimpleMatching;
  } else if (name == "jaccard") {
    m.metric = Metric::kJaccard;
  } else if (name == "tanimoto") {
    m.metric = Metric::kTanimoto;
  } else if (name == "binarySimilarity") {
    m.metric = Metric::kBinarySimilarity;
    const char* names[8] = {"c00-parameter", "c01-parameter", "c10-parameter", "c11-parameter",
                            "d00-parameter", "d01-parameter", "d10-parameter", "d11-parameter"};
    double* dst[8] = {&m.c00, &m.c01, &m.c10, &m.c11, &m.d00, &m.d01, &m.d10, &m.d11};
    for (int i = 0; i < 8; ++i) {
      auto v = ReqDouble(el, names[i]);
      if (!v.ok()) return v.status();
      *dst[i] = *v;
    }
  } else {
    return ElementError(el, "unknown comparison measure " + std::string(name));
  }
  bool sim_metric = m.metric == Metric::kSimpleMatching || m.metric == Metric::kJaccard ||
                    m.metric == Metric::kTanimoto || m.metric == Metric::kBinarySimilarity;
  m.similarity = sim_metric;
  if (sim_metric != (kind == "similarity")) {
    return ElementError(cm, "ComparisonMeasure kind does not match its measure " + std::string(name));
  }
  return m;
}

// Reads compareFunction / fieldWeight / similarityScale of a ClusteringField or KNNInput.
inline absl::StatusOr<CompareField> ParseCompareField(pugi::xml_node f, const Measure& m) {
  CompareField cf;
  cf.fn = m.default_fn;
  if (f.attribute("compareFunction")) {
    auto fn = ParseCompareFn(f, f.attribute("compareFunction").value());
    if (!fn.ok()) return fn.status();
    cf.fn = *fn;
  }
  auto w = OptDouble(f, "fieldWeight", 1.0);
  if (!w.ok()) return w.status();
  cf.weight = *w;
  if (f.attribute("similarityScale")) {
    auto s = ReqDouble(f, "similarityScale");
    if (!s.ok()) return s.status();
    cf.similarity_scale = *s;
  }
  if (cf.fn == CompareFn::kGaussSim && std::isnan(cf.similarity_scale)) {
    return ElementError(f, "gaussSim needs a similarityScale");
  }
  return cf;
}

// One field's term of a distance: c(x, y)^inner_power * weight.
// `equal` is the PMML equality of the two values (for delta/equal).
inline double InnerTerm(const CompareField& f, double inner_power, double x, double y, bool equal) {
  double d;
  switch (f.fn) {
    case CompareFn::kAbsDiff:
      d = std::fabs(x - y);
      break;
    case CompareFn::kGaussSim: {
      double z = x - y;
      d = std::exp(-std::log(2.0) * z * z / (f.similarity_scale * f.similarity_scale));
      break;
    }
    case CompareFn::kDelta:
      d = equal ? 0 : 1;
      break;
    case CompareFn::kEqual:
      d = equal ? 1 : 0;
      break;
    default:
      d = NAN;
  }
  if (inner_power == 2) {
    d = d * d;
  } else if (inner_power != 1) {
    d = std::pow(d, inner_power);
  }
  return d * f.weight;
}

// Accumulates the terms of a distance (sum, or max for chebychev) and
// finishes it with the missing-value adjustment and the outer power.
struct DistanceAcc {
  double sum = 0;
  double max = -INFINITY;
  void Add(double term) {
    sum += term;
    if (term > max) max = term;
  }
  double Finish(const Measure& m, double adjustment) const {
    if (m.metric == Metric::kChebychev) return max * adjustment;
    double v = sum * adjustment;
    if (m.outer_power == 1) return v;
    if (m.outer_power == 2) return std::sqrt(v);
    return std::pow(v, 1.0 / m.outer_power);
  }
};

// Binary similarity from the 2x2 match counts; NaN when undefined.
inline double Similarity(const Measure& m, int a11, int a10, int a01, int a00) {
  double num = 0, den = 0;
  switch (m.metric) {
    case Metric::kSimpleMatching:
      num = a11 + a00;
      den = a11 + a10 + a01 + a00;
      break;
    case Metric::kJaccard:
      num = a11;
      den = a11 + a10 + a01;
      break;
    case Metric::kTanimoto:
      num = a11 + a00;
      den = a11 + 2.0 * (a10 + a01) + a00;
      break;
    case Metric::kBinarySimilarity:
      num = m.c11 * a11 + m.c10 * a10 + m.c01 * a01 + m.c00 * a00;
      den = m.d11 * a11 + m.d10 * a10 + m.d01 * a01 + m.d00 * a00;
      break;
    default:
      return NAN;
  }
  if (den == 0) return NAN;
  return num / den;
}

// 0/1 flag of a value for binary similarity; false when it is neither.
inline bool BinaryFlag(const Value& v, bool* flag) {
  if (v.kind == Value::Kind::kNumber || v.kind == Value::Kind::kBool) {
    if (v.num == 0 || v.num == 1) {
      *flag = v.num == 1;
      return true;
    }
    return false;
  }
  if (v.kind == Value::Kind::kString) {
    if (v.str == "true" || v.str == "1") {
      *flag = true;
      return true;
    }
    if (v.str == "false" || v.str == "0") {
      *flag = false;
      return true;
    }
  }
  return false;
}

}  // namespace evs::pmml::misc
