// GeneralRegressionModel: regression, generalLinear, generalizedLinear,
// multinomialLogistic, ordinalMultinomial and CoxRegression, evaluated as
// JPMML-Evaluator does.
//
// Compile time resolves every PCell to its PPMatrix row (a product of factor
// indicators and covariate powers) so evaluation is a loop over flat arrays:
// one cell list per class (classification) or one list (regression, Cox).

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/model.h"
#include "pmml/regression_util.h"

namespace evs::pmml {
namespace {

using regutil::Category;
using regutil::Num;

enum class GlmType : uint8_t {
  kRegression,
  kGeneralLinear,
  kMultinomialLogistic,
  kGeneralizedLinear,
  kOrdinalMultinomial,
  kCox
};

enum class Link : uint8_t {
  kCloglog,
  kIdentity,
  kLog,
  kLogc,
  kLogit,
  kLoglog,
  kNegbin,
  kOddspower,
  kPower,
  kProbit,
  kCauchit
};

absl::StatusOr<GlmType> ParseModelType(pugi::xml_node el) {
  std::string_view s = el.attribute("modelType").value();
  if (s == "regression") return GlmType::kRegression;
  if (s == "generalLinear") return GlmType::kGeneralLinear;
  if (s == "multinomialLogistic") return GlmType::kMultinomialLogistic;
  if (s == "generalizedLinear") return GlmType::kGeneralizedLinear;
  if (s == "ordinalMultinomial") return GlmType::kOrdinalMultinomial;
  if (s == "CoxRegression") return GlmType::kCox;
  return ElementError(el, absl::StrCat("unknown modelType \"", std::string(s), "\""));
}

absl::StatusOr<Link> ParseLink(pugi::xml_node el, const char* attr) {
  std::string_view s = el.attribute(attr).value();
  if (s.empty()) return ElementError(el, absl::StrCat("missing attribute ", attr));
  if (s == "cloglog") return Link::kCloglog;
  if (s == "identity") return Link::kIdentity;
  if (s == "log") return Link::kLog;
  if (s == "logc") return Link::kLogc;
  if (s == "logit") return Link::kLogit;
  if (s == "loglog") return Link::kLoglog;
  if (s == "negbin") return Link::kNegbin;
  if (s == "oddspower") return Link::kOddspower;
  if (s == "power") return Link::kPower;
  if (s == "probit") return Link::kProbit;
  if (s == "cauchit") return Link::kCauchit;
  return ElementError(el, absl::StrCat("unknown ", attr, " \"", std::string(s), "\""));
}

// Inverse of the link function (the mean from the linear predictor).
double InverseLink(Link link, double x, double dist_param, double link_param) {
  switch (link) {
    case Link::kCloglog:
      return regutil::InvCloglog(x);
    case Link::kIdentity:
      return x;
    case Link::kLog:
      return std::exp(x);
    case Link::kLogc:
      return 1.0 - std::exp(x);
    case Link::kLogit:
      return regutil::InvLogit(x);
    case Link::kLoglog:
      return regutil::InvLoglog(x);
    case Link::kNegbin:
      return 1.0 / (dist_param * (std::exp(-x) - 1.0));
    case Link::kOddspower:
      if (link_param != 0) return 1.0 / (1.0 + std::pow(1.0 + link_param * x, -(1.0 / link_param)));
      return 1.0 / (1.0 + std::exp(-x));
    case Link::kPower:
      if (link_param != 0) return std::pow(x, 1.0 / link_param);
      return std::exp(x);
    case Link::kProbit:
      return regutil::InvProbit(x);
    case Link::kCauchit:
      return regutil::InvCauchit(x);
  }
  return x;
}

struct FactorCell {
  SlotId slot = kNoSlot;
  Category category;
  // Contrast matrix: row per field category (value order of the Predictor's
  // Categories), the column is this cell's category. Empty = indicator.
  std::vector<Category> contrast_categories;
  std::vector<double> contrast_column;
};

struct CovariateCell {
  SlotId slot = kNoSlot;
  double exponent = 1;
};

// One PPMatrix row: the product of its factor and covariate terms.
struct Row {
  std::vector<FactorCell> factors;
  std::vector<CovariateCell> covariates;
};

struct Cell {
  double beta = 0;
  const Row* row = nullptr;  // nullptr: the parameter has no predictor (intercept)
};

struct BaselineTable {
  Category stratum;
  double max_time = 0;
  std::vector<std::pair<double, double>> cells;  // (time, cumHazard), sorted by time
};

class GeneralRegressionImpl : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    switch (type_) {
      case GlmType::kCox:
        EvaluateCox(ctx, result);
        return;
      case GlmType::kRegression:
      case GlmType::kGeneralLinear:
      case GlmType::kGeneralizedLinear:
        if (!classification_) {
          double y;
          if (!Dot(cells_[0], ctx, &y)) return;
          if (type_ == GlmType::kGeneralizedLinear && !ApplyLink(ctx, &y)) return;
          result->predicted.SetNumber(y);
          return;
        }
        break;
      default:
        break;
    }
    EvaluateClassification(ctx, result);
  }

  const std::vector<Value>* labels() const override { return classification_ ? &labels_ : nullptr; }

  GlmType type_ = GlmType::kRegression;
  bool classification_ = false;
  Link link_ = Link::kIdentity;
  Link cumulative_link_ = Link::kLogit;
  double dist_param_ = NAN, link_param_ = NAN;
  SlotId offset_slot_ = kNoSlot;
  std::optional<double> offset_value_;
  SlotId trials_slot_ = kNoSlot;
  std::optional<double> trials_value_;
  std::vector<std::unique_ptr<Row>> rows_;
  // Regression / Cox: cells_[0]. Classification: one list per label except the last.
  std::vector<std::vector<Cell>> cells_;
  std::vector<bool> cells_valid_;
  std::vector<Value> labels_;
  // Cox.
  SlotId end_time_slot_ = kNoSlot;
  SlotId strata_slot_ = kNoSlot;
  std::vector<BaselineTable> baselines_;  // one without strata
  std::optional<double> reference_;       // sum of beta * referencePoint; none = undefined

 private:
  // x = product of the row's terms; false when an input is missing/failed.
  static bool EvalRow(const Row& row, EvalContext& ctx, double* out) {
    double prod = 1;
    for (const FactorCell& f : row.factors) {
      const Value& v = ctx.Get(f.slot);
      if (v.missing()) return false;
      if (f.contrast_column.empty()) {
        if (!f.category.Matches(v)) prod *= 0.0;
      } else {
        size_t i = 0;
        while (i < f.contrast_categories.size() && !f.contrast_categories[i].Matches(v)) ++i;
        if (i == f.contrast_categories.size()) {
          ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
              "GeneralRegressionModel: value \"", FormatValue(v), "\" of field ",
              ctx.plan().slot_name(f.slot), " is not in the contrast matrix")));
          return false;
        }
        prod *= f.contrast_column[i];
      }
    }
    if (prod == 0) {
      *out = prod;
      return true;
    }
    for (const CovariateCell& c : row.covariates) {
      double v;
      if (regutil::ReadNumber(ctx, c.slot, &v) != Num::kOk) return false;
      prod *= c.exponent == 1 ? v : std::pow(v, c.exponent);
    }
    *out = prod;
    return true;
  }

  static bool Dot(const std::vector<Cell>& cells, EvalContext& ctx, double* out) {
    if (cells.empty()) return false;  // JPMML: no parameters, no result
    double sum = 0;
    for (const Cell& c : cells) {
      if (c.row != nullptr) {
        double x;
        if (!EvalRow(*c.row, ctx, &x)) return false;
        sum += c.beta * x;
      } else {
        sum += c.beta;
      }
    }
    *out = sum;
    return true;
  }

  // A required number from a slot: missing fails the record (as JPMML does).
  static bool RequiredNumber(EvalContext& ctx, SlotId slot, const char* what, double* out) {
    Num st = regutil::ReadNumber(ctx, slot, out);
    if (st == Num::kOk) return true;
    if (st == Num::kMissing) {
      ctx.Fail(absl::InvalidArgumentError(absl::StrCat("GeneralRegressionModel: ", what, " field ",
                                                       ctx.plan().slot_name(slot), " is missing")));
    }
    return false;
  }

  bool Offset(EvalContext& ctx, double* y) const {
    if (offset_slot_ != kNoSlot) {
      double o;
      if (!RequiredNumber(ctx, offset_slot_, "offsetVariable", &o)) return false;
      *y += o;
    } else if (offset_value_) {
      *y += *offset_value_;
    }
    return true;
  }

  bool ApplyLink(EvalContext& ctx, double* y) const {
    if (!Offset(ctx, y)) return false;
    *y = InverseLink(link_, *y, dist_param_, link_param_);
    if (trials_slot_ != kNoSlot) {
      double t;
      if (!RequiredNumber(ctx, trials_slot_, "trialsVariable", &t)) return false;
      *y *= std::trunc(t);
    } else if (trials_value_) {
      *y *= *trials_value_;
    }
    return true;
  }

  void EvaluateClassification(EvalContext& ctx, ModelResult* result) const {
    std::vector<double>& p = result->probabilities;
    const size_t n = labels_.size();
    p.resize(n);
    double prev_link = NAN;
    bool have_prev = false;
    double prev_cum = 0;
    for (size_t i = 0; i < n; ++i) {
      double v;
      if (i + 1 < n) {
        if (!Dot(cells_[i], ctx, &v)) {
          p.clear();
          return;
        }
        switch (type_) {
          case GlmType::kGeneralizedLinear:
            if (!ApplyLink(ctx, &v)) {
              p.clear();
              return;
            }
            break;
          case GlmType::kMultinomialLogistic:
            v = std::exp(v);
            break;
          case GlmType::kOrdinalMultinomial:
            if (!Offset(ctx, &v)) {
              p.clear();
              return;
            }
            v = InverseLink(cumulative_link_, v, NAN, NAN);
            break;
          default:
            break;
        }
      } else {
        switch (type_) {
          case GlmType::kGeneralizedLinear:
            v = have_prev ? 1.0 - prev_link : 1.0;
            break;
          case GlmType::kMultinomialLogistic:
            v = 1.0;  // exp(0): the reference category's parameters are 0
            break;
          default:
            v = 1.0;
            break;
        }
      }
      if (type_ == GlmType::kGeneralizedLinear) {
        prev_link = v;
        have_prev = true;
      } else if (type_ == GlmType::kOrdinalMultinomial) {
        double cum = v;
        if (i > 0) v -= prev_cum;
        prev_cum = cum;
      }
      p[i] = v;
    }
    if (type_ == GlmType::kMultinomialLogistic && !regutil::SimpleMax(p.data(), n)) {
      ctx.Fail(absl::InvalidArgumentError("GeneralRegressionModel: probabilities are undefined"));
      p.clear();
      return;
    }
    result->labels = &labels_;
    int best = regutil::ArgMax(p);
    if (best >= 0) result->predicted = labels_[best];
  }

  void EvaluateCox(EvalContext& ctx, ModelResult* result) const {
    const BaselineTable* table = nullptr;
    if (strata_slot_ != kNoSlot) {
      const Value& s = ctx.Get(strata_slot_);
      if (s.missing()) {
        ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
            "GeneralRegressionModel: baselineStrataVariable field ", ctx.plan().slot_name(strata_slot_),
            " is missing")));
        return;
      }
      for (const BaselineTable& b : baselines_) {
        if (b.stratum.Matches(s)) {
          table = &b;
          break;
        }
      }
      if (table == nullptr) return;  // no such stratum: no prediction
    } else {
      table = &baselines_[0];
    }
    double t;
    if (!RequiredNumber(ctx, end_time_slot_, "endTimeVariable", &t)) return;
    if (t > table->max_time) return;  // beyond the baseline: no prediction
    if (table->cells.empty()) return;
    if (t < table->cells.front().first) {
      result->predicted.SetNumber(0.0);
      return;
    }
    // The cell with the largest time not greater than t.
    auto it = std::upper_bound(table->cells.begin(), table->cells.end(), t,
                               [](double v, const std::pair<double, double>& c) { return v < c.first; });
    double base = std::prev(it)->second;
    double r;
    if (!Dot(cells_[0], ctx, &r)) return;
    if (!reference_) return;
    result->predicted.SetNumber(std::exp(r - *reference_) * base);
  }
};

absl::StatusOr<FieldInfo> ResolveField(pugi::xml_node el, std::string_view name, Scope& scope) {
  if (name.empty()) return ElementError(el, "missing field name");
  auto r = scope.Resolve(name);
  if (!r.ok()) return ElementError(el, std::string(r.status().message()));
  return *r;
}

struct PredictorDef {
  FieldInfo field;
  bool factor = false;
  std::vector<Category> contrast_categories;
  // contrast[row][col], rows/cols in Categories order.
  std::vector<std::vector<double>> contrast;
  std::vector<std::string> category_text;
};

// Reads a Matrix element (dense rows of Array or sparse MatCells) into `out`.
absl::Status ReadMatrix(pugi::xml_node m, size_t n, std::vector<std::vector<double>>* out) {
  // Dense n x n storage: refuse sizes that would exhaust memory.
  if (n > 4096) return ElementError(m, "contrast matrix with more than 4096 categories");
  out->assign(n, std::vector<double>(n, 0.0));
  std::string kind = m.attribute("kind").value();
  std::vector<pugi::xml_node> arrays = regutil::Children(m, "Array");
  if (!arrays.empty()) {
    for (size_t r = 0; r < arrays.size() && r < n; ++r) {
      std::string text = arrays[r].text().get();
      std::vector<double> vals;
      size_t pos = 0;
      while (pos < text.size()) {
        while (pos < text.size() && isspace(static_cast<unsigned char>(text[pos]))) ++pos;
        size_t end = pos;
        while (end < text.size() && !isspace(static_cast<unsigned char>(text[end]))) ++end;
        if (end > pos) {
          double d;
          if (!absl::SimpleAtod(text.substr(pos, end - pos), &d)) {
            return ElementError(arrays[r], "matrix entry is not a number");
          }
          vals.push_back(d);
        }
        pos = end;
      }
      for (size_t c = 0; c < vals.size() && c < n; ++c) (*out)[r][c] = vals[c];
    }
  } else {
    double diag_default = 0, off_default = 0;
    RETURN_IF_ERROR(regutil::DoubleAttr(m, "diagDefault", 0, &diag_default));
    RETURN_IF_ERROR(regutil::DoubleAttr(m, "offDiagDefault", 0, &off_default));
    for (size_t r = 0; r < n; ++r) {
      for (size_t c = 0; c < n; ++c) (*out)[r][c] = r == c ? diag_default : off_default;
    }
    for (pugi::xml_node mc : regutil::Children(m, "MatCell")) {
      int r = mc.attribute("row").as_int(0), c = mc.attribute("col").as_int(0);
      double d;
      if (r < 1 || c < 1 || static_cast<size_t>(r) > n || static_cast<size_t>(c) > n ||
          !absl::SimpleAtod(mc.text().get(), &d)) {
        return ElementError(mc, "bad MatCell");
      }
      (*out)[r - 1][c - 1] = d;
    }
  }
  if (kind == "symmetric") {
    for (size_t r = 0; r < n; ++r) {
      for (size_t c = r + 1; c < n; ++c) {
        if ((*out)[r][c] == 0) (*out)[r][c] = (*out)[c][r];
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ReadPredictors(pugi::xml_node list, bool factor, Scope& scope,
                            absl::flat_hash_map<std::string, PredictorDef>* defs) {
  if (!list) return absl::OkStatus();
  for (pugi::xml_node p : regutil::Children(list, "Predictor")) {
    std::string name = p.attribute("name").value();
    if (name.empty()) name = p.attribute("field").value();
    PredictorDef d;
    ASSIGN_OR_RETURN(d.field, ResolveField(p, name, scope));
    d.factor = factor;
    pugi::xml_node matrix = Child(p, "Matrix");
    if (factor && matrix) {
      pugi::xml_node cats = Child(p, "Categories");
      if (!cats) return ElementError(p, "a contrast Matrix needs Categories");
      for (pugi::xml_node c : regutil::Children(cats, "Category")) {
        d.category_text.push_back(c.attribute("value").value());
        d.contrast_categories.push_back(Category::Make(c.attribute("value").value(), d.field.type));
      }
      RETURN_IF_ERROR(ReadMatrix(matrix, d.contrast_categories.size(), &d.contrast));
    }
    (*defs)[name] = std::move(d);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileGeneralRegressionModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  Scope& scope = *args.scope;
  auto model = std::make_unique<GeneralRegressionImpl>();
  ASSIGN_OR_RETURN(model->type_, ParseModelType(el));
  const GlmType type = model->type_;
  model->classification_ = args.function == MiningFunction::kClassification;

  if (type == GlmType::kGeneralizedLinear) {
    ASSIGN_OR_RETURN(model->link_, ParseLink(el, "linkFunction"));
    if (model->link_ == Link::kCauchit) return ElementError(el, "linkFunction cauchit is not a GLM link");
    if (model->link_ == Link::kNegbin) {
      RETURN_IF_ERROR(regutil::RequiredDoubleAttr(el, "distParameter", &model->dist_param_));
    }
    if (model->link_ == Link::kOddspower || model->link_ == Link::kPower) {
      RETURN_IF_ERROR(regutil::RequiredDoubleAttr(el, "linkParameter", &model->link_param_));
    }
  }
  if (type == GlmType::kOrdinalMultinomial) {
    if (regutil::HasAttr(el, "cumulativeLink")) {
      ASSIGN_OR_RETURN(model->cumulative_link_, ParseLink(el, "cumulativeLink"));
    } else {
      return ElementError(el, "missing attribute cumulativeLink");
    }
    switch (model->cumulative_link_) {
      case Link::kLogit:
      case Link::kProbit:
      case Link::kCloglog:
      case Link::kLoglog:
      case Link::kCauchit:
        break;
      default:
        return ElementError(el, "cumulativeLink must be logit, probit, cloglog, loglog or cauchit");
    }
  }
  if (regutil::HasAttr(el, "offsetVariable")) {
    ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, el.attribute("offsetVariable").value(), scope));
    model->offset_slot_ = f.slot;
  } else if (regutil::HasAttr(el, "offsetValue")) {
    double v;
    RETURN_IF_ERROR(regutil::DoubleAttr(el, "offsetValue", 0, &v));
    model->offset_value_ = v;
  }
  if (regutil::HasAttr(el, "trialsVariable")) {
    ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, el.attribute("trialsVariable").value(), scope));
    model->trials_slot_ = f.slot;
  } else if (regutil::HasAttr(el, "trialsValue")) {
    double v;
    RETURN_IF_ERROR(regutil::DoubleAttr(el, "trialsValue", 0, &v));
    model->trials_value_ = v;
  }

  // Parameters.
  pugi::xml_node plist = Child(el, "ParameterList");
  absl::flat_hash_map<std::string, double> reference_points;
  if (plist) {
    for (pugi::xml_node p : regutil::Children(plist, "Parameter")) {
      std::string name;
      RETURN_IF_ERROR(regutil::RequiredAttr(p, "name", &name));
      double rp;
      RETURN_IF_ERROR(regutil::DoubleAttr(p, "referencePoint", 0, &rp));
      reference_points[name] = rp;
    }
  }

  absl::flat_hash_map<std::string, PredictorDef> predictors;
  RETURN_IF_ERROR(ReadPredictors(Child(el, "FactorList"), true, scope, &predictors));
  RETURN_IF_ERROR(ReadPredictors(Child(el, "CovariateList"), false, scope, &predictors));

  // PPMatrix: rows keyed by (targetCategory or "" for the default, parameterName).
  struct RowKey {
    bool has_category;
    std::string category;
  };
  // group index -> (parameter -> Row*)
  std::vector<std::pair<RowKey, absl::flat_hash_map<std::string, Row*>>> pp_groups;
  auto group_of = [&](pugi::xml_node cell) -> absl::flat_hash_map<std::string, Row*>& {
    bool has = regutil::HasAttr(cell, "targetCategory");
    std::string cat = cell.attribute("targetCategory").value();
    for (auto& g : pp_groups) {
      if (g.first.has_category == has && g.first.category == cat) return g.second;
    }
    pp_groups.push_back({RowKey{has, cat}, {}});
    return pp_groups.back().second;
  };
  pugi::xml_node ppm = Child(el, "PPMatrix");
  if (ppm) {
    for (pugi::xml_node cell : regutil::Children(ppm, "PPCell")) {
      std::string field = cell.attribute("predictorName").value();
      std::string param;
      RETURN_IF_ERROR(regutil::RequiredAttr(cell, "parameterName", &param));
      std::string value;
      RETURN_IF_ERROR(regutil::RequiredAttr(cell, "value", &value));
      auto pit = predictors.find(field);
      if (pit == predictors.end()) {
        return ElementError(cell, absl::StrCat("predictorName \"", field,
                                               "\" is in neither FactorList nor CovariateList"));
      }
      auto& group = group_of(cell);
      Row*& row = group[param];
      if (row == nullptr) {
        model->rows_.push_back(std::make_unique<Row>());
        row = model->rows_.back().get();
      }
      const PredictorDef& def = pit->second;
      if (def.factor) {
        FactorCell fc;
        fc.slot = def.field.slot;
        fc.category = Category::Make(value, def.field.type);
        if (!def.contrast_categories.empty()) {
          size_t col = 0;
          while (col < def.category_text.size() && def.category_text[col] != value) ++col;
          if (col == def.category_text.size()) {
            return ElementError(cell, absl::StrCat("value \"", value, "\" is not a category of the contrast matrix"));
          }
          fc.contrast_categories = def.contrast_categories;
          for (size_t r = 0; r < def.contrast.size(); ++r) fc.contrast_column.push_back(def.contrast[r][col]);
        }
        row->factors.push_back(std::move(fc));
      } else {
        CovariateCell cc;
        cc.slot = def.field.slot;
        if (!absl::SimpleAtod(value, &cc.exponent)) {
          return ElementError(cell, absl::StrCat("covariate exponent \"", value, "\" is not a number"));
        }
        row->covariates.push_back(cc);
      }
    }
  }
  auto find_group = [&](bool has, const std::string& cat) -> const absl::flat_hash_map<std::string, Row*>* {
    for (auto& g : pp_groups) {
      if (g.first.has_category == has && (!has || g.first.category == cat)) return &g.second;
    }
    return nullptr;
  };

  // ParamMatrix grouped by targetCategory (document order of first appearance).
  struct PGroup {
    bool has_category;
    std::string category;
    std::vector<std::pair<std::string, double>> cells;  // (parameterName, beta)
  };
  std::vector<PGroup> pgroups;
  pugi::xml_node pm = Child(el, "ParamMatrix");
  if (!pm) return ElementError(el, "missing ParamMatrix");
  for (pugi::xml_node cell : regutil::Children(pm, "PCell")) {
    std::string param;
    RETURN_IF_ERROR(regutil::RequiredAttr(cell, "parameterName", &param));
    double beta;
    RETURN_IF_ERROR(regutil::RequiredDoubleAttr(cell, "beta", &beta));
    bool has = regutil::HasAttr(cell, "targetCategory");
    std::string cat = cell.attribute("targetCategory").value();
    PGroup* g = nullptr;
    for (auto& x : pgroups) {
      if (x.has_category == has && x.category == cat) g = &x;
    }
    if (g == nullptr) {
      pgroups.push_back(PGroup{has, cat, {}});
      g = &pgroups.back();
    }
    g->cells.emplace_back(param, beta);
  }
  auto find_pgroup = [&](bool has, const std::string& cat) -> const PGroup* {
    for (auto& x : pgroups) {
      if (x.has_category == has && (!has || x.category == cat)) return &x;
    }
    return nullptr;
  };
  auto resolve_cells = [&](const std::vector<std::pair<std::string, double>>& pcells,
                           const absl::flat_hash_map<std::string, Row*>* rows) {
    std::vector<Cell> out;
    for (const auto& [param, beta] : pcells) {
      Cell c;
      c.beta = beta;
      if (rows != nullptr) {
        auto it = rows->find(param);
        if (it != rows->end()) c.row = it->second;
      }
      out.push_back(c);
    }
    return out;
  };

  const bool regression_like = type == GlmType::kRegression || type == GlmType::kGeneralLinear ||
                               type == GlmType::kCox ||
                               (type == GlmType::kGeneralizedLinear && !model->classification_);
  if (regression_like) {
    if (model->classification_ && type != GlmType::kGeneralizedLinear) {
      return ElementError(el, "this modelType needs functionName regression");
    }
    const PGroup* g = find_pgroup(false, "");
    if (pgroups.size() != 1 || g == nullptr) {
      return ElementError(pm, "a regression model needs one set of PCells without targetCategory");
    }
    const absl::flat_hash_map<std::string, Row*>* rows = nullptr;
    if (!pp_groups.empty()) {
      rows = find_group(false, "");
      if (rows == nullptr) return ElementError(ppm, "PPCells need no targetCategory in a regression model");
    }
    model->cells_.push_back(resolve_cells(g->cells, rows));

    if (type == GlmType::kCox) {
      std::string end_time;
      RETURN_IF_ERROR(regutil::RequiredAttr(el, "endTimeVariable", &end_time));
      ASSIGN_OR_RETURN(FieldInfo ef, ResolveField(el, end_time, scope));
      model->end_time_slot_ = ef.slot;
      pugi::xml_node tables = Child(el, "BaseCumHazardTables");
      if (!tables) return ElementError(el, "missing BaseCumHazardTables");
      auto read_cells = [&](pugi::xml_node parent, BaselineTable* bt) -> absl::Status {
        RETURN_IF_ERROR(regutil::RequiredDoubleAttr(parent, "maxTime", &bt->max_time));
        for (pugi::xml_node bc : regutil::Children(parent, "BaselineCell")) {
          double time, hazard;
          RETURN_IF_ERROR(regutil::RequiredDoubleAttr(bc, "time", &time));
          RETURN_IF_ERROR(regutil::RequiredDoubleAttr(bc, "cumHazard", &hazard));
          bt->cells.emplace_back(time, hazard);
        }
        // Stable: for equal times the first cell wins (JPMML's max keeps the first).
        std::stable_sort(bt->cells.begin(), bt->cells.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        // Keep only the first cell of each time so upper_bound-1 picks it.
        std::vector<std::pair<double, double>> dedup;
        for (const auto& c : bt->cells) {
          if (dedup.empty() || dedup.back().first != c.first) dedup.push_back(c);
        }
        bt->cells = std::move(dedup);
        return absl::OkStatus();
      };
      if (regutil::HasAttr(el, "baselineStrataVariable")) {
        ASSIGN_OR_RETURN(FieldInfo sf, ResolveField(el, el.attribute("baselineStrataVariable").value(), scope));
        model->strata_slot_ = sf.slot;
        for (pugi::xml_node bs : regutil::Children(tables, "BaselineStratum")) {
          BaselineTable bt;
          std::string v;
          RETURN_IF_ERROR(regutil::RequiredAttr(bs, "value", &v));
          bt.stratum = Category::Make(v, sf.type);
          RETURN_IF_ERROR(read_cells(bs, &bt));
          model->baselines_.push_back(std::move(bt));
        }
      } else {
        BaselineTable bt;
        RETURN_IF_ERROR(read_cells(tables, &bt));
        model->baselines_.push_back(std::move(bt));
      }
      double s = 0;
      bool ok = !g->cells.empty();
      for (const auto& [param, beta] : g->cells) {
        auto it = reference_points.find(param);
        if (it == reference_points.end()) {
          ok = false;
          break;
        }
        s += beta * it->second;
      }
      if (ok) model->reference_ = s;
    }
    return std::unique_ptr<Model>(std::move(model));
  }

  // Classification.
  if (!model->classification_) {
    return ElementError(el, "this modelType needs functionName classification");
  }
  const TargetInfo& target = *args.target;
  if (target.categories.size() < 2) {
    return ElementError(el, "classification needs a target with at least two categories in the DataDictionary");
  }
  std::vector<Value> cats = target.categories;
  auto text_of = [](const Value& v) { return FormatValue(v); };
  auto pgroup_for = [&](const Value& cat) -> const PGroup* {
    for (auto& x : pgroups) {
      if (x.has_category && Category::Make(x.category, target.type).Matches(cat)) return &x;
    }
    return nullptr;
  };
  auto ppgroup_for = [&](const Value& cat) -> const absl::flat_hash_map<std::string, Row*>* {
    for (auto& g : pp_groups) {
      if (g.first.has_category && Category::Make(g.first.category, target.type).Matches(cat)) return &g.second;
    }
    return find_group(false, "");
  };

  // The reference category goes last.
  std::optional<size_t> ref;
  if (regutil::HasAttr(el, "targetReferenceCategory")) {
    Category rc = Category::Make(el.attribute("targetReferenceCategory").value(), target.type);
    for (size_t i = 0; i < cats.size(); ++i) {
      if (rc.Matches(cats[i])) ref = i;
    }
  } else if (type == GlmType::kGeneralizedLinear || type == GlmType::kMultinomialLogistic) {
    std::vector<size_t> absent;
    for (size_t i = 0; i < cats.size(); ++i) {
      if (pgroup_for(cats[i]) == nullptr) absent.push_back(i);
    }
    if (absent.size() == 1) {
      ref = absent[0];
    } else if (cats.size() == 2 && absent.size() == 2) {
      ref = 1;  // binomial without targetCategory on the cells: the last category is the reference
    } else {
      return ElementError(pm, "cannot tell the reference category (the one without PCells)");
    }
  }
  if (ref && *ref + 1 != cats.size()) {
    Value r = cats[*ref];
    cats.erase(cats.begin() + *ref);
    cats.push_back(r);
  }
  model->labels_ = cats;

  for (size_t i = 0; i + 1 < cats.size(); ++i) {
    const absl::flat_hash_map<std::string, Row*>* rows = nullptr;
    if (!pp_groups.empty()) {
      rows = ppgroup_for(cats[i]);
      if (rows == nullptr) {
        return ElementError(ppm, absl::StrCat("no PPCells for category \"", text_of(cats[i]), "\""));
      }
    }
    std::vector<std::pair<std::string, double>> pcells;
    if (type == GlmType::kOrdinalMultinomial) {
      const PGroup* icpt = pgroup_for(cats[i]);
      const PGroup* common = find_pgroup(false, "");
      if (icpt == nullptr || icpt->cells.size() != 1) {
        return ElementError(pm, absl::StrCat("ordinalMultinomial needs one intercept PCell for category \"",
                                             text_of(cats[i]), "\""));
      }
      if (common == nullptr) return ElementError(pm, "ordinalMultinomial needs PCells without targetCategory");
      pcells = common->cells;
      pcells.push_back(icpt->cells[0]);
    } else {
      const PGroup* g = pgroup_for(cats[i]);
      if (g == nullptr && cats.size() == 2) g = find_pgroup(false, "");
      if (g == nullptr) {
        return ElementError(pm, absl::StrCat("no PCells for category \"", text_of(cats[i]), "\""));
      }
      pcells = g->cells;
    }
    model->cells_.push_back(resolve_cells(pcells, rows));
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
