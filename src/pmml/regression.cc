// RegressionModel: one RegressionTable (regression) or one per class
// (classification), evaluated as JPMML-Evaluator does.
//
// Compile time turns every table into flat arrays: the numeric predictors of
// all tables share one list of distinct (slot, exponent) features that is read
// once per record into a stack buffer; each table keeps (feature, coefficient)
// pairs in document order, so sums are added in the same order as JPMML.
// Evaluation of purely numeric models reads each slot once and never allocates.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/model.h"
#include "pmml/regression_util.h"

namespace evs::pmml {
namespace {

using regutil::Category;
using regutil::Num;

enum class Norm : uint8_t { kNone, kSimplemax, kSoftmax, kLogit, kProbit, kCloglog, kExp, kLoglog, kCauchit };

absl::StatusOr<Norm> ParseNorm(pugi::xml_node el) {
  std::string_view s = el.attribute("normalizationMethod").value();
  if (s.empty() || s == "none") return Norm::kNone;
  if (s == "simplemax") return Norm::kSimplemax;
  if (s == "softmax") return Norm::kSoftmax;
  if (s == "logit") return Norm::kLogit;
  if (s == "probit") return Norm::kProbit;
  if (s == "cloglog") return Norm::kCloglog;
  if (s == "exp") return Norm::kExp;
  if (s == "loglog") return Norm::kLoglog;
  if (s == "cauchit") return Norm::kCauchit;
  return ElementError(el, absl::StrCat("unknown normalizationMethod \"", std::string(s), "\""));
}

// Inverse link for one value (regression and the binary/ordinal cases).
inline double ApplyNorm(Norm n, double y) {
  switch (n) {
    case Norm::kNone:
      return y;
    case Norm::kSoftmax:
    case Norm::kLogit:
      return regutil::InvLogit(y);
    case Norm::kExp:
      return std::exp(y);
    case Norm::kProbit:
      return regutil::InvProbit(y);
    case Norm::kCloglog:
      return regutil::InvCloglog(y);
    case Norm::kLoglog:
      return regutil::InvLoglog(y);
    case Norm::kCauchit:
      return regutil::InvCauchit(y);
    case Norm::kSimplemax:
      return y;
  }
  return y;
}

// Binary-logistic transform of the first class's value; kNone clamps to [0, 1].
inline double BinaryNorm(Norm n, double y) {
  if (n == Norm::kNone) return std::min(std::max(y, 0.0), 1.0);
  return ApplyNorm(n, y);
}

// Float math context versions (JPMML FloatValue). Probit has no float version
// in JPMML and is refused at compile time.
inline float ApplyNormF(Norm n, float y) {
  switch (n) {
    case Norm::kSoftmax:
    case Norm::kLogit:
      return regutil::FInvLogit(y);
    case Norm::kExp:
      return regutil::FExp(y);
    case Norm::kCloglog:
      return regutil::FInvCloglog(y);
    case Norm::kLoglog:
      return regutil::FInvLoglog(y);
    case Norm::kCauchit:
      return regutil::FInvCauchit(y);
    default:
      return y;
  }
}

inline float BinaryNormF(Norm n, float y) {
  if (n == Norm::kNone) return std::min(std::max(y, 0.0f), 1.0f);
  return ApplyNormF(n, y);
}

struct NumFeature {
  SlotId slot = kNoSlot;
  double exponent = 1;
};

struct NumericTerm {
  int feature = 0;
  double coef = 0;
};

struct CatPredictor {
  Category category;
  double coef = 0;
};

// Consecutive CategoricalPredictors of one field: the first match counts.
struct CatGroup {
  SlotId slot = kNoSlot;
  std::vector<CatPredictor> predictors;
};

struct TermFactor {
  SlotId slot = kNoSlot;           // fast path: plain field
  std::unique_ptr<Expr> expr;      // FieldRef with mapMissingTo etc.
};

struct Term {
  double coef = 0;
  std::vector<TermFactor> factors;
};

struct Table {
  double intercept = 0;
  std::vector<NumericTerm> numeric;
  std::vector<CatGroup> categorical;
  std::vector<Term> terms;
  bool is_default = false;  // no predictors and intercept 0
};

enum class Mode : uint8_t { kRegression, kBinary, kMultinomial, kOrdinal };

constexpr int kInlineFeatures = 64;

// Sum of coef * x[feature] in document order, accumulated in a register.
inline double NumericSum(const NumericTerm* terms, size_t n, const double* x) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += terms[i].coef * x[terms[i].feature];
  return sum;
}

class RegressionModelImpl : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    if (float_math_) [[unlikely]] {
      EvaluateFloat(ctx, result);
      return;
    }
    const size_t nf = features_.size();
    if (fused_table_ >= 0) {
      // One table of plain numeric predictors over every feature in order
      // (a logistic or linear regression): read and accumulate in one pass,
      // the same operations in the same order as NumericSum.
      const Table& t = tables_[static_cast<size_t>(fused_table_)];
      double sum = 0;
      for (size_t j = 0; j < nf; ++j) {
        double v;
        if (regutil::ReadNumber(ctx, features_[j].slot, &v) != Num::kOk) return;
        sum += t.numeric[j].coef * v;
      }
      const double y = t.intercept != 0 ? sum + t.intercept : sum;
      if (mode_ == Mode::kRegression) {
        result->predicted.SetNumber(ApplyNorm(norm_, y));
        return;
      }
      std::vector<double>& p = result->probabilities;
      p.assign(tables_.size(), 0.0);
      p[static_cast<size_t>(fused_table_)] = y;
      Finish(ctx, result);
      return;
    }
    double inline_buf[kInlineFeatures];
    double* x = inline_buf;
    if (nf > kInlineFeatures) {
      thread_local std::vector<double> big;
      if (big.size() < nf) big.resize(nf);
      x = big.data();
    }
    for (size_t j = 0; j < nf; ++j) {
      double v;
      Num st = regutil::ReadNumber(ctx, features_[j].slot, &v);
      if (st != Num::kOk) return;  // missing input: no prediction (Targets default)
      x[j] = features_[j].exponent == 1 ? v : std::pow(v, features_[j].exponent);
    }

    if (mode_ == Mode::kRegression) {
      double y;
      if (!EvalTable(tables_[0], x, ctx, &y)) return;
      result->predicted.SetNumber(ApplyNorm(norm_, y));
      return;
    }

    std::vector<double>& p = result->probabilities;
    const size_t n = tables_.size();
    p.resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (tables_[i].is_default) {
        p[i] = 0;
        continue;
      }
      if (!EvalTable(tables_[i], x, ctx, &p[i])) {
        p.clear();
        return;
      }
    }
    Finish(ctx, result);
  }

  // Classification: normalizes the tables' values into probabilities and
  // picks the label.
  void Finish(EvalContext& ctx, ModelResult* result) const {
    std::vector<double>& p = result->probabilities;
    if (!Normalize(p.data(), p.size())) {
      ctx.Fail(absl::InvalidArgumentError("RegressionModel: probabilities are undefined (zero sum)"));
      p.clear();
      return;
    }
    result->labels = &labels_;
    int best = regutil::ArgMax(p);
    if (best >= 0) result->predicted = labels_[best];
  }

  // Sets fused_table_ when exactly one table is not the default one, and it
  // holds only numeric predictors, one per feature in feature order, all
  // with exponent 1 (double math only).
  void PrepareFusedTable() {
    fused_table_ = -1;
    if (float_math_) return;
    for (const NumFeature& f : features_)
      if (f.exponent != 1) return;
    int found = -1;
    for (size_t i = 0; i < tables_.size(); ++i) {
      const Table& t = tables_[i];
      if (t.is_default) continue;
      if (found >= 0 || !t.categorical.empty() || !t.terms.empty() || t.numeric.size() != features_.size())
        return;
      for (size_t j = 0; j < t.numeric.size(); ++j)
        if (t.numeric[j].feature != static_cast<int>(j)) return;
      found = static_cast<int>(i);
    }
    fused_table_ = found;
  }

  const std::vector<Value>* labels() const override {
    return mode_ == Mode::kRegression ? nullptr : &labels_;
  }

  bool DescribeLinear(LinearBody* out) const override {
    if (fused_table_ < 0) return false;
    const Table& t = tables_[static_cast<size_t>(fused_table_)];
    out->slots.clear();
    out->coefs.clear();
    for (size_t j = 0; j < features_.size(); ++j) {
      out->slots.push_back(features_[j].slot);
      out->coefs.push_back(t.numeric[j].coef);
    }
    out->intercept = t.intercept;
    out->classification = mode_ != Mode::kRegression;
    out->n_values = out->classification ? tables_.size() : 1;
    out->index = out->classification ? static_cast<size_t>(fused_table_) : 0;
    return true;
  }

  bool FinishLinear(double* p, size_t n, int* best) const override {
    if (mode_ == Mode::kRegression) {
      p[0] = ApplyNorm(norm_, p[0]);
      return true;
    }
    if (mode_ == Mode::kBinary && !binary_multinomial_) {
      // Normalize and ArgMax for two classes, kept in registers: reading
      // back p[] right after it was stored costs more than the arithmetic.
      const double p0 = BinaryNorm(binary_norm_, p[0]);
      const double p1 = 1.0 - p0;
      p[0] = p0;
      p[1] = p1;
      *best = std::isnan(p0) ? -1 : (p0 < p1 ? 1 : 0);  // p1 is NaN only when p0 is
      return true;
    }
    if (!Normalize(p, n)) return false;
    *best = regutil::ArgMax(p, n);
    return true;
  }

  Mode mode_ = Mode::kRegression;
  Norm norm_ = Norm::kNone;
  bool float_math_ = false;  // x-mathContext="float": JPMML computes everything in float
  int fused_table_ = -1;     // see PrepareFusedTable
  Norm binary_norm_ = Norm::kNone;  // kBinary: transform of the first class
  bool binary_multinomial_ = false;  // kBinary with simplemax/softmax over both values
  std::vector<NumFeature> features_;
  std::vector<Table> tables_;
  std::vector<Value> labels_;

 private:
  // False when an input is missing (or failed): no prediction.
  static bool EvalTable(const Table& t, const double* x, EvalContext& ctx, double* out) {
    double sum = NumericSum(t.numeric.data(), t.numeric.size(), x);
    if (t.categorical.empty() && t.terms.empty()) [[likely]] {
      *out = t.intercept != 0 ? sum + t.intercept : sum;
      return true;
    }
    return EvalTableRest(t, sum, ctx, out);
  }

  // Categorical predictors, predictor terms and the intercept, after the numeric sum.
  [[gnu::noinline]] static bool EvalTableRest(const Table& t, double sum, EvalContext& ctx, double* out) {
    for (const CatGroup& g : t.categorical) {
      const Value& v = ctx.Get(g.slot);
      if (v.missing()) continue;  // a missing categorical field is ignored
      for (const CatPredictor& cp : g.predictors) {
        if (cp.category.Matches(v)) {
          sum += cp.coef;
          break;
        }
      }
    }
    for (const Term& term : t.terms) {
      double prod = term.coef;
      for (const TermFactor& f : term.factors) {
        double v;
        if (f.slot != kNoSlot) {
          if (regutil::ReadNumber(ctx, f.slot, &v) != Num::kOk) return false;
        } else {
          Value tmp;
          f.expr->Eval(ctx, &tmp);
          if (ctx.failed() || tmp.missing()) return false;
          if (tmp.is_number() || tmp.is_bool()) {
            v = tmp.num;
          } else {
            ctx.Fail(absl::InvalidArgumentError(
                absl::StrCat("PredictorTerm: value \"", FormatValue(tmp), "\" is not a number")));
            return false;
          }
        }
        prod *= v;
      }
      sum += prod;
    }
    if (t.intercept != 0) sum += t.intercept;
    *out = sum;
    return true;
  }

  // Float math context: the same steps as Evaluate, each rounded to float as
  // JPMML's FloatValue does (inputs and coefficients are narrowed to float,
  // sums, products, links and 1 - p are float). Out of the hot path.
  [[gnu::noinline]] void EvaluateFloat(EvalContext& ctx, ModelResult* result) const {
    const size_t nf = features_.size();
    float inline_x[kInlineFeatures];
    float* x = inline_x;
    if (nf > kInlineFeatures) {
      thread_local std::vector<float> big;
      if (big.size() < nf) big.resize(nf);
      x = big.data();
    }
    for (size_t j = 0; j < nf; ++j) {
      double v;
      if (regutil::ReadNumber(ctx, features_[j].slot, &v) != Num::kOk) return;
      float f = static_cast<float>(v);
      x[j] = features_[j].exponent == 1
                 ? f
                 : static_cast<float>(std::pow(static_cast<double>(f), features_[j].exponent));
    }

    if (mode_ == Mode::kRegression) {
      float y;
      if (!EvalTableF(tables_[0], x, ctx, &y)) return;
      result->predicted.SetNumber(static_cast<double>(ApplyNormF(norm_, y)));
      return;
    }

    const size_t n = tables_.size();
    float inline_p[kInlineFeatures];
    float* q = inline_p;
    if (n > kInlineFeatures) {
      thread_local std::vector<float> big_p;
      if (big_p.size() < n) big_p.resize(n);
      q = big_p.data();
    }
    for (size_t i = 0; i < n; ++i) {
      if (!EvalTableF(tables_[i], x, ctx, &q[i])) return;
    }
    if (!NormalizeF(q, n)) {
      ctx.Fail(absl::InvalidArgumentError("RegressionModel: probabilities are undefined (zero sum)"));
      return;
    }
    std::vector<double>& p = result->probabilities;
    p.resize(n);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<double>(q[i]);
    result->labels = &labels_;
    int best = regutil::ArgMax(p);
    if (best >= 0) result->predicted = labels_[best];
  }

  // Float table sum in JPMML's order: numeric, categorical, terms, intercept.
  static bool EvalTableF(const Table& t, const float* x, EvalContext& ctx, float* out) {
    float sum = 0;
    for (const NumericTerm& nt : t.numeric) sum += static_cast<float>(nt.coef) * x[nt.feature];
    for (const CatGroup& g : t.categorical) {
      const Value& v = ctx.Get(g.slot);
      if (v.missing()) continue;
      for (const CatPredictor& cp : g.predictors) {
        if (cp.category.Matches(v)) {
          sum += static_cast<float>(cp.coef);
          break;
        }
      }
    }
    for (const Term& term : t.terms) {
      float prod = static_cast<float>(term.coef);
      for (const TermFactor& f : term.factors) {
        double v;
        if (f.slot != kNoSlot) {
          if (regutil::ReadNumber(ctx, f.slot, &v) != Num::kOk) return false;
        } else {
          Value tmp;
          f.expr->Eval(ctx, &tmp);
          if (ctx.failed() || tmp.missing()) return false;
          if (!tmp.is_number() && !tmp.is_bool()) {
            ctx.Fail(absl::InvalidArgumentError(
                absl::StrCat("PredictorTerm: value \"", FormatValue(tmp), "\" is not a number")));
            return false;
          }
          v = tmp.num;
        }
        prod *= static_cast<float>(v);
      }
      sum += prod;
    }
    if (t.intercept != 0) sum += static_cast<float>(t.intercept);
    *out = sum;
    return true;
  }

  bool NormalizeF(float* p, size_t n) const {
    switch (mode_) {
      case Mode::kBinary:
        if (binary_multinomial_) return MultinomialF(p, n);
        p[0] = BinaryNormF(binary_norm_, p[0]);
        p[1] = 1.0f - p[0];
        return true;
      case Mode::kMultinomial:
        return MultinomialF(p, n);
      case Mode::kOrdinal: {
        float sum = 0;
        for (size_t i = 0; i + 1 < n; ++i) {
          float v = BinaryNormF(norm_, p[i]);
          if (i == 0) {
            sum = v;
          } else {
            v -= sum;
            sum += v;
          }
          p[i] = v;
        }
        p[n - 1] = 1.0f - sum;
        return true;
      }
      case Mode::kRegression:
        return true;
    }
    return true;
  }

  bool MultinomialF(float* p, size_t n) const {
    switch (norm_) {
      case Norm::kNone: {
        float sum = p[0];
        for (size_t i = 1; i + 1 < n; ++i) sum += p[i];
        p[n - 1] = 1.0f - sum;
        return true;
      }
      case Norm::kLogit:
        for (size_t i = 0; i < n; ++i) p[i] = regutil::FInvLogit(p[i]);
        return regutil::FSimpleMax(p, n);
      case Norm::kSimplemax:
        return regutil::FSimpleMax(p, n);
      case Norm::kSoftmax:
        return regutil::FSoftMax(p, n);
      default:
        return true;
    }
  }

  bool Normalize(double* p, size_t n) const {
    switch (mode_) {
      case Mode::kBinary:
        if (binary_multinomial_) return Multinomial(p, n);
        p[0] = BinaryNorm(binary_norm_, p[0]);
        p[1] = 1.0 - p[0];
        return true;
      case Mode::kMultinomial:
        return Multinomial(p, n);
      case Mode::kOrdinal: {
        // Cumulative probabilities: p_i = F(y_i) - F(y_{i-1}), last = 1 - F(y_{n-2}).
        double sum = 0;
        for (size_t i = 0; i + 1 < n; ++i) {
          double v = BinaryNorm(norm_, p[i]);
          if (i == 0) {
            sum = v;
          } else {
            v -= sum;
            sum += v;
          }
          p[i] = v;
        }
        p[n - 1] = 1.0 - sum;
        return true;
      }
      case Mode::kRegression:
        return true;
    }
    return true;
  }

  bool Multinomial(double* p, size_t n) const {
    switch (norm_) {
      case Norm::kNone: {
        double sum = 0;
        for (size_t i = 0; i + 1 < n; ++i) sum += p[i];
        p[n - 1] = 1.0 - sum;
        return true;
      }
      case Norm::kLogit:  // JPMML: logistic per class, then simplemax
        for (size_t i = 0; i < n; ++i) p[i] = regutil::InvLogit(p[i]);
        return regutil::SimpleMax(p, n);
      case Norm::kSimplemax:
        return regutil::SimpleMax(p, n);
      case Norm::kSoftmax:
        return regutil::SoftMax(p, n);
      default:
        return true;
    }
  }
};

std::string_view FieldAttr(pugi::xml_node el) {
  if (!el.attribute("name").empty()) return el.attribute("name").value();
  return el.attribute("field").value();
}

absl::StatusOr<FieldInfo> ResolveField(pugi::xml_node el, std::string_view name, Scope& scope) {
  if (name.empty()) return ElementError(el, "missing field name");
  auto r = scope.Resolve(name);
  if (!r.ok()) return ElementError(el, std::string(r.status().message()));
  return *r;
}

// Distinct (slot, exponent) numeric features across all tables.
using FeatureIndex = absl::flat_hash_map<std::pair<SlotId, double>, int>;

absl::Status CompileTable(pugi::xml_node tel, Scope& scope, std::vector<NumFeature>* features,
                          FeatureIndex* feature_index, Table* table) {
  RETURN_IF_ERROR(regutil::DoubleAttr(tel, "intercept", 0, &table->intercept));
  bool any = false;
  for (pugi::xml_node c = tel.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    std::string_view name = LocalName(c);
    if (name == "NumericPredictor") {
      any = true;
      ASSIGN_OR_RETURN(FieldInfo f, ResolveField(c, FieldAttr(c), scope));
      NumericTerm nt;
      RETURN_IF_ERROR(regutil::RequiredDoubleAttr(c, "coefficient", &nt.coef));
      double exponent;
      RETURN_IF_ERROR(regutil::DoubleAttr(c, "exponent", 1, &exponent));
      auto [it, inserted] = feature_index->try_emplace(std::make_pair(f.slot, exponent),
                                                       static_cast<int>(features->size()));
      if (inserted) features->push_back(NumFeature{f.slot, exponent});
      nt.feature = it->second;
      table->numeric.push_back(nt);
    } else if (name == "CategoricalPredictor") {
      any = true;
      ASSIGN_OR_RETURN(FieldInfo f, ResolveField(c, FieldAttr(c), scope));
      CatPredictor cp;
      RETURN_IF_ERROR(regutil::RequiredDoubleAttr(c, "coefficient", &cp.coef));
      std::string value;
      RETURN_IF_ERROR(regutil::RequiredAttr(c, "value", &value));
      cp.category = Category::Make(value, f.type);
      if (table->categorical.empty() || table->categorical.back().slot != f.slot) {
        table->categorical.push_back(CatGroup{f.slot, {}});
      }
      table->categorical.back().predictors.push_back(std::move(cp));
    } else if (name == "PredictorTerm") {
      any = true;
      Term term;
      RETURN_IF_ERROR(regutil::RequiredDoubleAttr(c, "coefficient", &term.coef));
      for (pugi::xml_node fr : regutil::Children(c, "FieldRef")) {
        TermFactor tf;
        ASSIGN_OR_RETURN(tf.expr, CompileExpression(fr, scope));
        tf.slot = tf.expr->AsFieldSlot();
        term.factors.push_back(std::move(tf));
      }
      if (term.factors.empty()) return ElementError(c, "PredictorTerm without FieldRef");
      table->terms.push_back(std::move(term));
    }
  }
  table->is_default = !any && table->intercept == 0;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileRegressionModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<RegressionModelImpl>();
  ASSIGN_OR_RETURN(model->norm_, ParseNorm(el));
  model->float_math_ = regutil::IsFloatMathContext(el);
  if (model->float_math_ && model->norm_ == Norm::kProbit) {
    // JPMML-Evaluator's FloatValue has no inverse probit.
    return ElementError(el, "normalizationMethod probit is not supported in the float math context");
  }
  std::vector<pugi::xml_node> tables = regutil::Children(el, "RegressionTable");
  if (tables.empty()) return ElementError(el, "no RegressionTable");

  FeatureIndex feature_index;
  for (pugi::xml_node t : tables) {
    Table table;
    RETURN_IF_ERROR(CompileTable(t, *args.scope, &model->features_, &feature_index, &table));
    model->tables_.push_back(std::move(table));
  }

  const Norm norm = model->norm_;
  if (args.function == MiningFunction::kRegression) {
    if (tables.size() != 1) {
      return ElementError(el, "a regression RegressionModel needs exactly one RegressionTable");
    }
    if (norm == Norm::kSimplemax) {
      return ElementError(el, "normalizationMethod simplemax is not valid for regression");
    }
    model->mode_ = Mode::kRegression;
    model->PrepareFusedTable();
    return std::unique_ptr<Model>(std::move(model));
  }
  if (args.function != MiningFunction::kClassification) {
    return ElementError(el, "RegressionModel supports functionName regression or classification");
  }
  if (tables.size() < 2) {
    return ElementError(el, "a classification RegressionModel needs a RegressionTable per class");
  }
  const TargetInfo& target = *args.target;
  for (pugi::xml_node t : tables) {
    pugi::xml_attribute tc = t.attribute("targetCategory");
    if (tc.empty()) return ElementError(t, "missing attribute targetCategory");
    model->labels_.push_back(regutil::LabelValue(tc.value(), target.type));
  }

  auto bad_norm = [&]() {
    return ElementError(el, absl::StrCat("normalizationMethod \"",
                                         el.attribute("normalizationMethod").value(),
                                         "\" is not valid for this classification model"));
  };
  if (target.optype == OpType::kOrdinal) {
    switch (norm) {
      case Norm::kNone:
      case Norm::kLogit:
      case Norm::kProbit:
      case Norm::kCloglog:
      case Norm::kLoglog:
      case Norm::kCauchit:
        model->mode_ = Mode::kOrdinal;
        break;
      default:
        return bad_norm();
    }
  } else if (tables.size() == 2) {
    model->mode_ = Mode::kBinary;
    switch (norm) {
      case Norm::kNone:
      case Norm::kLogit:
      case Norm::kProbit:
      case Norm::kCloglog:
      case Norm::kLoglog:
      case Norm::kCauchit:
        model->binary_norm_ = norm;
        break;
      case Norm::kSoftmax:
      case Norm::kSimplemax:
        // JPMML: softmax with an all-default second table is a binary logit.
        if (norm == Norm::kSoftmax && model->tables_[1].is_default) {
          model->binary_norm_ = Norm::kLogit;
        } else {
          model->binary_multinomial_ = true;
        }
        break;
      default:
        return bad_norm();
    }
  } else {
    switch (norm) {
      case Norm::kNone:
      case Norm::kSimplemax:
      case Norm::kSoftmax:
      case Norm::kLogit:
        model->mode_ = Mode::kMultinomial;
        break;
      default:
        return bad_norm();
    }
  }
  model->PrepareFusedTable();
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
