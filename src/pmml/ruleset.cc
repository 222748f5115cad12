// RuleSetModel. Rules are flattened in document order (a CompoundRule's
// children follow it and are skipped when its predicate is not true). The
// first RuleSelectionMethod applies, as JPMML-Evaluator:
// - firstHit: the first fired rule wins; each fired score's confidence is
//   that of its first fired rule.
// - weightedSum: per score, the confidence is the sum of its fired rules'
//   weights divided by the number of all fired rules; the winner is the
//   score with the largest value (first on ties), represented by its
//   heaviest rule.
// - weightedMax: per score the heaviest rule; its confidence is the value.
// No rule fired: defaultScore with defaultConfidence, no entity.
// SimpleRules are numbered 1.. in document order; a rule's id attribute
// overrides its number. Labels/probabilities carry the confidences.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/misc_util.h"
#include "pmml/model.h"

namespace evs::pmml {
namespace {

using misc::Children;
using misc::OptDouble;

struct RuleNode {
  const Predicate* predicate = nullptr;
  int end = 0;          // index after this rule's subtree (compound rules)
  bool simple = false;
  int label = -1;       // simple: score label index
  double confidence = 1;
  double weight = 1;
  Value id;
  // ScoreDistribution of a simple rule: label index -> probability.
  std::vector<std::pair<int, double>> distribution;
};

enum class Criterion : uint8_t { kFirstHit, kWeightedSum, kWeightedMax };

struct Scratch {
  std::vector<int> fired;
  std::vector<int> best_rule;  // per label
  std::vector<double> weight_sum;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

class RuleSetModelImpl final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    Scratch& s = ThreadScratch();
    s.fired.clear();
    int i = 0;
    const int n = static_cast<int>(rules_.size());
    while (i < n) {
      const RuleNode& r = rules_[i];
      if (r.predicate->Test(ctx) != Tri::kTrue) {
        i = r.end;
        continue;
      }
      if (r.simple) s.fired.push_back(i);
      ++i;
    }
    if (ctx.failed()) return;
    result->labels = &labels_;
    result->scores_not_probabilities = true;
    result->probabilities.assign(labels_.size(), 0.0);
    if (s.fired.empty()) {
      if (default_label_ >= 0) {
        result->predicted = labels_[default_label_];
        result->probabilities[default_label_] = default_confidence_;
        result->affinity = default_confidence_;
      }
      return;
    }
    s.best_rule.assign(labels_.size(), -1);
    s.weight_sum.assign(labels_.size(), 0.0);
    int winner = -1;  // rule index
    if (criterion_ == Criterion::kFirstHit) {
      winner = s.fired[0];
      for (int f : s.fired) {
        int l = rules_[f].label;
        if (s.best_rule[l] < 0) {
          s.best_rule[l] = f;
          result->probabilities[l] = rules_[f].confidence;
        }
      }
    } else {
      for (int f : s.fired) {
        int l = rules_[f].label;
        if (s.best_rule[l] < 0 || rules_[s.best_rule[l]].weight < rules_[f].weight) s.best_rule[l] = f;
        s.weight_sum[l] += rules_[f].weight;
      }
      // Keys in order of first firing; the entity is the first strictly best.
      double best_value = 0;
      for (int f : s.fired) {
        int l = rules_[f].label;
        if (s.best_rule[l] < 0) continue;
        double v = criterion_ == Criterion::kWeightedSum
                       ? s.weight_sum[l] / static_cast<double>(s.fired.size())
                       : rules_[s.best_rule[l]].confidence;
        result->probabilities[l] = v;
        if (winner < 0 || v > best_value) {
          winner = s.best_rule[l];
          best_value = v;
        }
        s.best_rule[l] = -1;  // visit each key once
      }
    }
    const RuleNode& w = rules_[winner];
    result->predicted = labels_[w.label];
    result->entity_id = w.id;
    result->affinity = result->probabilities[w.label];
  }

  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override {
    const std::string& f = spec.feature;
    if (misc::Is(f, "entityId") || (misc::Is(f, "ruleValue") && misc::Is(spec.rule_feature, "ruleId"))) {
      *out = result.entity_id;
      return true;
    }
    if (misc::Is(f, "confidence") || misc::Is(f, "probability") ||
        (misc::Is(f, "ruleValue") && (misc::Is(spec.rule_feature, "confidence") || spec.rule_feature.empty()))) {
      out->SetMissing();
      if (result.probabilities.size() != labels_.size()) return true;
      const Value& which = spec.value.missing() || misc::Is(f, "ruleValue") ? result.predicted : spec.value;
      if (which.missing()) return true;
      int l = LabelIndex(which);
      if (misc::Is(f, "probability")) {
        // A winning rule with a ScoreDistribution gives class probabilities.
        const RuleNode* w = WinningRule(result);
        if (w != nullptr && !w->distribution.empty()) {
          double p = 0;
          for (const auto& [label, prob] : w->distribution) {
            if (label == l) p = prob;
          }
          out->SetNumber(p);
          return true;
        }
      }
      out->SetNumber(l < 0 ? 0.0 : result.probabilities[l]);
      return true;
    }
    if (misc::Is(f, "ruleValue")) {
      out->SetMissing();
      if (misc::Is(spec.rule_feature, "consequent")) *out = result.predicted;
      return true;
    }
    return false;
  }

  const std::vector<Value>* labels() const override { return &labels_; }

  int LabelIndex(const Value& v) const {
    for (size_t i = 0; i < labels_.size(); ++i) {
      if (ValuesEqual(labels_[i], v)) return static_cast<int>(i);
    }
    return -1;
  }

  const RuleNode* WinningRule(const ModelResult& result) const {
    if (result.entity_id.missing()) return nullptr;
    for (const RuleNode& r : rules_) {
      if (r.simple && ValuesEqual(r.id, result.entity_id)) return &r;
    }
    return nullptr;
  }

  std::vector<RuleNode> rules_;
  std::vector<Value> labels_;
  Criterion criterion_ = Criterion::kFirstHit;
  int default_label_ = -1;
  double default_confidence_ = 0;
};

absl::Status FlattenRules(pugi::xml_node parent, const ModelCompileArgs& args, RuleSetModelImpl* model,
                          absl::flat_hash_map<std::string, int>* label_index, int* simple_count) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    bool simple = misc::IsElement(c, "SimpleRule");
    if (!simple && !misc::IsElement(c, "CompoundRule")) continue;
    RuleNode node;
    pugi::xml_node pred = FindPredicateChild(c);
    if (!pred) return ElementError(c, "missing predicate");
    auto p = CompilePredicate(pred, *args.scope);
    if (!p.ok()) return p.status();
    node.predicate = args.builder->Own(std::move(*p));
    node.simple = simple;
    size_t index = model->rules_.size();
    if (simple) {
      ++*simple_count;
      if (!c.attribute("score")) return ElementError(c, "missing score");
      std::string score = c.attribute("score").value();
      auto it = label_index->find(score);
      if (it == label_index->end()) {
        it = label_index->emplace(score, static_cast<int>(model->labels_.size())).first;
        model->labels_.push_back(misc::ParseTyped(score, args.target->type));
      }
      node.label = it->second;
      auto conf = OptDouble(c, "confidence", 1);
      if (!conf.ok()) return conf.status();
      node.confidence = *conf;
      auto weight = OptDouble(c, "weight", 1);
      if (!weight.ok()) return weight.status();
      node.weight = *weight;
      node.id = Value::String(c.attribute("id") ? std::string(c.attribute("id").value())
                                                : std::to_string(*simple_count));
      std::vector<pugi::xml_node> sds = Children(c, "ScoreDistribution");
      double total = 0;
      for (pugi::xml_node sd : sds) total += sd.attribute("recordCount").as_double(0);
      for (pugi::xml_node sd : sds) {
        std::string v = sd.attribute("value").value();
        auto li = label_index->find(v);
        if (li == label_index->end()) {
          li = label_index->emplace(v, static_cast<int>(model->labels_.size())).first;
          model->labels_.push_back(misc::ParseTyped(v, args.target->type));
        }
        double prob = sd.attribute("probability")
                          ? sd.attribute("probability").as_double(0)
                          : (total > 0 ? sd.attribute("recordCount").as_double(0) / total : 0);
        node.distribution.emplace_back(li->second, prob);
      }
      model->rules_.push_back(std::move(node));
      model->rules_[index].end = static_cast<int>(index + 1);
    } else {
      model->rules_.push_back(std::move(node));
      RETURN_IF_ERROR(FlattenRules(c, args, model, label_index, simple_count));
      model->rules_[index].end = static_cast<int>(model->rules_.size());
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileRuleSetModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<RuleSetModelImpl>();
  pugi::xml_node rs = Child(el, "RuleSet");
  if (!rs) return ElementError(el, "missing RuleSet");
  pugi::xml_node method = Child(rs, "RuleSelectionMethod");
  if (!method) return ElementError(rs, "missing RuleSelectionMethod");
  std::string_view crit = method.attribute("criterion").value();
  if (crit == "firstHit") {
    model->criterion_ = Criterion::kFirstHit;
  } else if (crit == "weightedSum") {
    model->criterion_ = Criterion::kWeightedSum;
  } else if (crit == "weightedMax") {
    model->criterion_ = Criterion::kWeightedMax;
  } else {
    return ElementError(method, "unknown criterion " + std::string(crit));
  }
  absl::flat_hash_map<std::string, int> label_index;
  for (const Value& c : args.target->categories) {
    std::string text = FormatValue(c);
    if (label_index.contains(text)) continue;
    label_index.emplace(text, static_cast<int>(model->labels_.size()));
    model->labels_.push_back(c);
  }
  int simple_count = 0;
  RETURN_IF_ERROR(FlattenRules(rs, args, model.get(), &label_index, &simple_count));
  if (rs.attribute("defaultScore")) {
    std::string score = rs.attribute("defaultScore").value();
    auto it = label_index.find(score);
    if (it == label_index.end()) {
      it = label_index.emplace(score, static_cast<int>(model->labels_.size())).first;
      model->labels_.push_back(misc::ParseTyped(score, args.target->type));
    }
    model->default_label_ = it->second;
    auto conf = OptDouble(rs, "defaultConfidence", 0);
    if (!conf.ok()) return conf.status();
    model->default_confidence_ = *conf;
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
