// Scorecard. score = initialScore + the partial score of the first
// Attribute whose predicate is true in each Characteristic
// (ComplexPartialScore wins over partialScore). A Characteristic with no
// true Attribute, or a ComplexPartialScore that is missing, fails the
// record (as JPMML-Evaluator).
//
// Reason codes as JPMML-Evaluator: per Characteristic the points are
// score - baseline (pointsAbove) or baseline - score (pointsBelow); they are
// summed per reason code (the Attribute's, else the Characteristic's);
// codes with a negative sum are dropped; the rest are ranked by points,
// descending, ties in order of first appearance.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/misc_util.h"
#include "pmml/model.h"

namespace evs::pmml {
namespace {

using misc::Children;
using misc::OptDouble;

struct AttributePlan {
  const Predicate* predicate = nullptr;
  const Expr* complex = nullptr;
  double partial = 0;
  int reason = -1;  // reason code index
};

struct CharacteristicPlan {
  std::vector<AttributePlan> attributes;
  double baseline = 0;
  std::string name;
};

struct Scratch {
  std::vector<double> points;
  std::vector<int> order;
  Value tmp;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

class ScorecardModel final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    Scratch& s = ThreadScratch();
    if (use_reason_codes_) {
      s.points.assign(reason_codes_.size(), 0.0);
      s.order.clear();
    }
    double score = initial_;
    for (const CharacteristicPlan& c : characteristics_) {
      const AttributePlan* hit = nullptr;
      for (const AttributePlan& a : c.attributes) {
        if (a.predicate->Test(ctx) == Tri::kTrue) {
          hit = &a;
          break;
        }
      }
      if (ctx.failed()) return;
      if (hit == nullptr) {
        ctx.Fail(absl::InvalidArgumentError("Scorecard: no Attribute of Characteristic " + c.name +
                                            " matches the record"));
        return;
      }
      double partial = hit->partial;
      if (hit->complex != nullptr) {
        hit->complex->Eval(ctx, &s.tmp);
        if (ctx.failed()) return;
        if (s.tmp.missing() || !misc::AsNumber(s.tmp, &partial)) {
          ctx.Fail(absl::InvalidArgumentError("Scorecard: ComplexPartialScore of Characteristic " + c.name +
                                              " is missing"));
          return;
        }
      }
      score += partial;
      if (use_reason_codes_) {
        double diff = points_above_ ? partial - c.baseline : c.baseline - partial;
        if (std::find(s.order.begin(), s.order.end(), hit->reason) == s.order.end()) {
          s.order.push_back(hit->reason);
        }
        s.points[hit->reason] += diff;
      }
    }
    result->predicted.SetNumber(score);
    if (use_reason_codes_) {
      s.order.erase(std::remove_if(s.order.begin(), s.order.end(), [&](int r) { return s.points[r] < 0; }),
                    s.order.end());
      std::stable_sort(s.order.begin(), s.order.end(),
                       [&](int l, int r) { return s.points[l] > s.points[r]; });
      result->reason_codes.resize(s.order.size());
      for (size_t i = 0; i < s.order.size(); ++i) result->reason_codes[i] = reason_codes_[s.order[i]];
    }
  }

  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override {
    if (!misc::Is(spec.feature, "reasonCode")) return false;
    out->SetMissing();
    int rank = spec.rank < 1 ? 1 : spec.rank;
    if (rank <= static_cast<int>(result.reason_codes.size())) out->SetString(result.reason_codes[rank - 1]);
    return true;
  }

  double initial_ = 0;
  bool use_reason_codes_ = true;
  bool points_above_ = false;
  std::vector<CharacteristicPlan> characteristics_;
  std::vector<std::string> reason_codes_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileScorecard(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<ScorecardModel>();
  auto initial = OptDouble(el, "initialScore", 0);
  if (!initial.ok()) return initial.status();
  model->initial_ = *initial;
  std::string_view use = el.attribute("useReasonCodes").value();
  model->use_reason_codes_ = !(use == "false" || use == "0");
  std::string_view algo = el.attribute("reasonCodeAlgorithm").value();
  if (algo == "pointsAbove") {
    model->points_above_ = true;
  } else if (!algo.empty() && algo != "pointsBelow") {
    return ElementError(el, "unknown reasonCodeAlgorithm " + std::string(algo));
  }
  bool has_model_baseline = static_cast<bool>(el.attribute("baselineScore"));
  auto model_baseline = OptDouble(el, "baselineScore", 0);
  if (!model_baseline.ok()) return model_baseline.status();

  pugi::xml_node chars = Child(el, "Characteristics");
  if (!chars) return ElementError(el, "missing Characteristics");
  absl::flat_hash_map<std::string, int> code_index;
  for (pugi::xml_node ch : Children(chars, "Characteristic")) {
    CharacteristicPlan cp;
    cp.name = ch.attribute("name").value();
    if (ch.attribute("baselineScore")) {
      auto b = misc::ReqDouble(ch, "baselineScore");
      if (!b.ok()) return b.status();
      cp.baseline = *b;
    } else if (has_model_baseline) {
      cp.baseline = *model_baseline;
    } else if (model->use_reason_codes_) {
      return ElementError(ch, "useReasonCodes needs a baselineScore (Characteristic or Scorecard)");
    }
    for (pugi::xml_node at : Children(ch, "Attribute")) {
      AttributePlan ap;
      pugi::xml_node pred = FindPredicateChild(at);
      if (!pred) return ElementError(at, "missing predicate");
      auto p = CompilePredicate(pred, *args.scope);
      if (!p.ok()) return p.status();
      ap.predicate = args.builder->Own(std::move(*p));
      if (pugi::xml_node cps = Child(at, "ComplexPartialScore")) {
        auto e = CompileExpressionChild(cps, *args.scope);
        if (!e.ok()) return e.status();
        ap.complex = args.builder->Own(std::move(*e));
      } else {
        if (!at.attribute("partialScore")) return ElementError(at, "missing partialScore");
        auto ps = misc::ReqDouble(at, "partialScore");
        if (!ps.ok()) return ps.status();
        ap.partial = *ps;
      }
      if (model->use_reason_codes_) {
        std::string code = at.attribute("reasonCode") ? at.attribute("reasonCode").value()
                                                      : ch.attribute("reasonCode").value();
        if (!at.attribute("reasonCode") && !ch.attribute("reasonCode")) {
          return ElementError(at, "useReasonCodes needs a reasonCode (Attribute or Characteristic)");
        }
        auto it = code_index.find(code);
        if (it == code_index.end()) {
          it = code_index.emplace(code, static_cast<int>(model->reason_codes_.size())).first;
          model->reason_codes_.push_back(code);
        }
        ap.reason = it->second;
      }
      cp.attributes.push_back(ap);
    }
    model->characteristics_.push_back(std::move(cp));
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
