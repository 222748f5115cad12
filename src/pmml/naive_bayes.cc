// NaiveBayesModel. Log-space products as JPMML-Evaluator: every class
// starts from ln(prior count); each non-missing BayesInput adds
// ln P(value | class); the result is soft-maxed. Discrete probabilities are
// count / (sum of the input's counts for the class), with a zero count
// replaced by the model threshold; continuous densities below the
// threshold are raised to it. Inputs whose value matches no PairCounts are
// skipped.

#include <cmath>
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
using misc::ParseTyped;
using misc::ReqDouble;

struct ClassTerm {
  int cls;
  double log_prob;
};

struct PairCount {
  Value value;
  std::vector<ClassTerm> terms;
};

struct ContinuousStat {
  int cls;
  bool poisson = false;
  double mean = 0;
  double sd = 1;        // gaussian
  double log_norm = 0;  // gaussian: ln(sd) + ln(2 pi) / 2
  double log_mean = 0;  // poisson
};

// ln of the smallest positive (denormal) double: exp() of anything below
// underflows to 0.
constexpr double kLogMinDouble = -744.4400719213812;

struct BayesInputPlan {
  SlotId slot = kNoSlot;
  bool continuous = false;
  std::vector<ContinuousStat> stats;
  std::vector<PairCount> pairs;
  bool all_string_pairs = false;  // every PairCounts value is a string
  absl::flat_hash_map<std::string, int> pair_index;  // string value -> pairs index (first wins)
};

class NaiveBayesModel final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    std::vector<double>& p = result->probabilities;
    p.assign(log_prior_.begin(), log_prior_.end());
    for (const BayesInputPlan& in : inputs_) {
      const Value& v = ctx.Get(in.slot);
      if (v.missing()) continue;
      if (in.continuous) {
        double x;
        if (!misc::AsNumber(v, &x)) {
          ctx.Fail(absl::InvalidArgumentError("NaiveBayesModel: non-numeric value for a continuous input"));
          result->probabilities.clear();
          return;
        }
        for (const ContinuousStat& s : in.stats) {
          // ln(density) directly (no exp/log round trip); a density that
          // would underflow to 0 in double counts as 0, as JPMML's does.
          double log_prob;
          if (s.poisson) {
            double k = std::trunc(x);
            log_prob = k < 0 ? -INFINITY : k * s.log_mean - s.mean - std::lgamma(k + 1);
          } else {
            double z = (x - s.mean) / s.sd;
            log_prob = -0.5 * z * z - s.log_norm;
          }
          if (log_prob < kLogMinDouble) log_prob = -INFINITY;
          if (log_prob < log_threshold_) log_prob = log_threshold_;
          p[s.cls] += log_prob;
        }
        continue;
      }
      const PairCount* hit = nullptr;
      if (v.is_string() && in.all_string_pairs) {
        // String categories compare as exact text (JPMML): one hash lookup.
        auto it = in.pair_index.find(v.str);
        if (it != in.pair_index.end()) hit = &in.pairs[it->second];
      } else {
        for (const PairCount& pc : in.pairs) {
          if (ValuesEqual(v, pc.value)) {
            hit = &pc;
            break;
          }
        }
      }
      if (hit != nullptr) {
        for (const ClassTerm& t : hit->terms) p[t.cls] += t.log_prob;
      }
    }
    double max = -INFINITY;
    for (double x : p) max = std::max(max, x);
    double sum = 0;
    for (double& x : p) {
      x = std::exp(x - max);
      sum += x;
    }
    int best = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] /= sum;
      if (p[i] > p[best]) best = static_cast<int>(i);
    }
    result->labels = &labels_;
    if (!p.empty() && !std::isnan(p[best])) result->predicted = labels_[best];
  }

  const std::vector<Value>* labels() const override { return &labels_; }

  std::vector<Value> labels_;
  std::vector<double> log_prior_;
  std::vector<BayesInputPlan> inputs_;
  double threshold_ = 0;
  double log_threshold_ = -INFINITY;  // ln(threshold)
};

int ClassIndex(NaiveBayesModel* m, absl::flat_hash_map<std::string, int>* index,
               const std::string& text, DataType type) {
  auto it = index->find(text);
  if (it != index->end()) return it->second;
  int i = static_cast<int>(m->labels_.size());
  m->labels_.push_back(ParseTyped(text, type));
  m->log_prior_.push_back(0);  // a class without prior count: ln(1)
  index->emplace(text, i);
  return i;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileNaiveBayesModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  if (args.function != MiningFunction::kClassification) {
    return ElementError(el, "NaiveBayesModel must have functionName classification");
  }
  if (args.target->name.empty()) return ElementError(el, "NaiveBayesModel needs a target field");
  auto model = std::make_unique<NaiveBayesModel>();
  auto threshold = ReqDouble(el, "threshold");
  if (!threshold.ok()) return threshold.status();
  model->threshold_ = *threshold;
  model->log_threshold_ = *threshold > 0 ? std::log(*threshold) : -INFINITY;
  DataType ttype = args.target->type;

  pugi::xml_node output = Child(el, "BayesOutput");
  if (!output) return ElementError(el, "missing BayesOutput");
  pugi::xml_node tvcs = Child(output, "TargetValueCounts");
  if (!tvcs) return ElementError(output, "missing TargetValueCounts");
  absl::flat_hash_map<std::string, int> class_index;
  for (pugi::xml_node tvc : Children(tvcs, "TargetValueCount")) {
    std::string v = tvc.attribute("value").value();
    if (class_index.contains(v)) return ElementError(tvc, "duplicate target value " + v);
    auto count = ReqDouble(tvc, "count");
    if (!count.ok()) return count.status();
    int i = ClassIndex(model.get(), &class_index, v, ttype);
    model->log_prior_[i] = std::log(*count);
  }

  pugi::xml_node inputs = Child(el, "BayesInputs");
  if (!inputs) return ElementError(el, "missing BayesInputs");
  for (pugi::xml_node bi : Children(inputs, "BayesInput")) {
    BayesInputPlan plan;
    std::string field = bi.attribute("fieldName").value();
    if (field.empty()) field = bi.attribute("field").value();
    auto info = args.scope->Resolve(field);
    if (!info.ok()) return ElementError(bi, std::string(info.status().message()));
    plan.slot = info->slot;
    DataType vtype = info->type;
    if (pugi::xml_node tvs = Child(bi, "TargetValueStats")) {
      plan.continuous = true;
      for (pugi::xml_node st : Children(tvs, "TargetValueStat")) {
        ContinuousStat s;
        s.cls = ClassIndex(model.get(), &class_index, st.attribute("value").value(), ttype);
        if (pugi::xml_node g = Child(st, "GaussianDistribution")) {
          auto mean = ReqDouble(g, "mean");
          if (!mean.ok()) return mean.status();
          auto var = ReqDouble(g, "variance");
          if (!var.ok()) return var.status();
          if (!(*var > 0)) return ElementError(g, "variance must be positive");
          s.mean = *mean;
          s.sd = std::sqrt(*var);
          s.log_norm = std::log(s.sd) + 0.5 * std::log(2 * M_PI);
        } else if (pugi::xml_node po = Child(st, "PoissonDistribution")) {
          auto mean = ReqDouble(po, "mean");
          if (!mean.ok()) return mean.status();
          s.poisson = true;
          s.mean = *mean;
          s.log_mean = std::log(*mean);
        } else {
          return ElementError(st, "only Gaussian and Poisson distributions are allowed in NaiveBayesModel");
        }
        plan.stats.push_back(s);
      }
      model->inputs_.push_back(std::move(plan));
      continue;
    }
    if (pugi::xml_node df = Child(bi, "DerivedField")) {
      auto derived = CompileDerivedField(df, *args.scope);
      if (!derived.ok()) return derived.status();
      plan.slot = derived->slot;
      vtype = derived->type;
    }
    // Per-class count sums over all PairCounts of this input.
    std::vector<pugi::xml_node> pcs = Children(bi, "PairCounts");
    absl::flat_hash_map<int, double> sums;
    for (pugi::xml_node pc : pcs) {
      pugi::xml_node counts = Child(pc, "TargetValueCounts");
      for (pugi::xml_node tvc : Children(counts, "TargetValueCount")) {
        int cls = ClassIndex(model.get(), &class_index, tvc.attribute("value").value(), ttype);
        auto count = ReqDouble(tvc, "count");
        if (!count.ok()) return count.status();
        sums[cls] += *count;
      }
    }
    for (pugi::xml_node pc : pcs) {
      PairCount pair;
      pair.value = ParseTyped(pc.attribute("value").value(), vtype);
      pugi::xml_node counts = Child(pc, "TargetValueCounts");
      if (!counts) return ElementError(pc, "missing TargetValueCounts");
      for (pugi::xml_node tvc : Children(counts, "TargetValueCount")) {
        int cls = ClassIndex(model.get(), &class_index, tvc.attribute("value").value(), ttype);
        double count = *ReqDouble(tvc, "count");
        double prob = std::fabs(count) <= 1.1102230246251565e-16 ? model->threshold_ : count / sums[cls];
        pair.terms.push_back({cls, std::log(prob)});
      }
      plan.pairs.push_back(std::move(pair));
    }
    plan.all_string_pairs = !plan.pairs.empty();
    for (size_t i = 0; i < plan.pairs.size(); ++i) {
      if (!plan.pairs[i].value.is_string()) plan.all_string_pairs = false;
      if (plan.all_string_pairs) plan.pair_index.emplace(plan.pairs[i].value.str, static_cast<int>(i));
    }
    if (!plan.all_string_pairs) plan.pair_index.clear();
    model->inputs_.push_back(std::move(plan));
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
