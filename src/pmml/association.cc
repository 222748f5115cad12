// AssociationModel. The input is a basket:
// - transactional style (one active field, with or without a group field):
//   the active field holds a Value::Kind::kCollection whose `items` are the
//   basket's item values, or a single string meaning a one-item basket;
//   an Item matches when its value (or its category, when it names the
//   field) is in the basket.
// - categorical style (several active fields, no group field): an Item's
//   value is a field name (the field must be true/1) or "field=category".
//
// Evaluation marks, per rule, whether its antecedent and its consequent
// itemsets are contained in the basket (kept in ModelResult::ranked_scores
// as 0..3: bit 0 antecedent, bit 1 consequent). The output features are
// computed by Feature() as JPMML-Evaluator: rules are selected by the
// OutputField's algorithm (recommendation: antecedent in basket;
// exclusiveRecommendation, the default: and consequent not in basket;
// ruleAssociation: both in basket), sorted stably by rankBasis
// (confidence by default) in rankOrder (descending by default); rank picks
// one rule (isMultiValued="0") or the first `rank` rules (0 = all).

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pmml/document.h"
#include "pmml/misc_util.h"
#include "pmml/model.h"

namespace evs::pmml {
namespace {

using misc::Children;

struct ItemPlan {
  std::string value;     // Item/@value
  SlotId slot = kNoSlot; // categorical style: the field
  bool boolean = false;  // categorical style without category: field must be true
  Value category;        // categorical style with category
};

struct Rule {
  std::vector<int> antecedent;  // item indices
  std::vector<int> consequent;
  double support = NAN, confidence = NAN, lift = NAN, leverage = NAN, affinity = NAN;
  std::string id;
  std::string text;  // "{a,b}->{c}"
};

struct Scratch {
  std::vector<uint8_t> active;
  std::vector<int> selected;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

bool Truthy(const Value& v, bool* out) {
  if (v.kind == Value::Kind::kString) {
    if (v.str == "true") return *out = true, true;
    if (v.str == "false") return *out = false, true;
  }
  return misc::BinaryFlag(v, out);
}

class AssociationModelImpl final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    Scratch& s = ThreadScratch();
    s.active.assign(items_.size(), 0);
    if (basket_slot_ != kNoSlot) {
      const Value& v = ctx.Get(basket_slot_);
      auto mark = [&](std::string_view item) {
        auto it = item_index_.find(absl::string_view(item.data(), item.size()));
        if (it == item_index_.end()) return;
        for (int i : it->second) s.active[i] = 1;
      };
      if (v.kind == Value::Kind::kCollection) {
        for (const std::string& item : v.items) mark(item);
      } else if (!v.missing()) {
        mark(FormatValue(v));
      }
    } else {
      for (size_t i = 0; i < items_.size(); ++i) {
        const ItemPlan& it = items_[i];
        const Value& v = ctx.Get(it.slot);
        if (v.missing()) continue;
        if (it.boolean) {
          bool flag;
          if (!Truthy(v, &flag)) {
            ctx.Fail(absl::InvalidArgumentError("AssociationModel: expected true or false for item " + it.value));
            return;
          }
          s.active[i] = flag;
        } else {
          s.active[i] = ValuesEqual(v, it.category);
        }
      }
    }
    auto contained = [&](const std::vector<int>& set) {
      for (int i : set) {
        if (!s.active[i]) return false;
      }
      return true;
    };
    result->ranked_scores.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      result->ranked_scores[r] =
          (contained(rules_[r].antecedent) ? 1 : 0) + (contained(rules_[r].consequent) ? 2 : 0);
    }
  }

  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override {
    std::string feature = spec.feature;
    if (misc::Is(feature, "ruleValue")) {
      feature = spec.rule_feature.empty() ? "consequent" : spec.rule_feature;
    } else if (misc::Is(feature, "entityId")) {
      feature = "ruleId";
    } else if (!misc::Is(feature, "antecedent") && !misc::Is(feature, "consequent") && !misc::Is(feature, "rule") &&
               !misc::Is(feature, "ruleId") && !misc::Is(feature, "support") && !misc::Is(feature, "confidence") &&
               !misc::Is(feature, "lift") && !misc::Is(feature, "leverage") && !misc::Is(feature, "affinity")) {
      return false;
    }
    out->SetMissing();
    if (result.ranked_scores.size() != rules_.size()) return true;
    // Select.
    std::string_view algo = spec.algorithm.empty() ? std::string_view("exclusiveRecommendation") : std::string_view(spec.algorithm);
    Scratch& s = ThreadScratch();
    s.selected.clear();
    for (size_t r = 0; r < rules_.size(); ++r) {
      int flags = static_cast<int>(result.ranked_scores[r]);
      bool ante = flags & 1, cons = flags & 2;
      bool take = algo == "recommendation"            ? ante
                  : algo == "ruleAssociation"         ? (ante && cons)
                                                      : (ante && !cons);
      if (take) s.selected.push_back(static_cast<int>(r));
    }
    // Rank.
    std::string_view basis = spec.rank_basis.empty() ? std::string_view("confidence") : std::string_view(spec.rank_basis);
    bool ascending = spec.rank_order == "ascending";
    auto key = [&](int r) {
      const Rule& x = rules_[r];
      if (basis == "support") return x.support;
      if (basis == "lift") return x.lift;
      if (basis == "leverage") return x.leverage;
      if (basis == "affinity") return x.affinity;
      return x.confidence;
    };
    std::stable_sort(s.selected.begin(), s.selected.end(), [&](int l, int r) {
      double a = key(l), b = key(r);
      return ascending ? a < b : a > b;
    });
    if (!spec.multi_valued) {
      int rank = spec.rank < 1 ? 1 : spec.rank;
      if (rank > static_cast<int>(s.selected.size())) return true;
      RuleFeature(rules_[s.selected[rank - 1]], feature, out);
      return true;
    }
    size_t n = spec.rank <= 0 ? s.selected.size() : std::min<size_t>(spec.rank, s.selected.size());
    out->kind = Value::Kind::kCollection;
    out->type = DataType::kString;
    out->items.clear();
    Value one;
    for (size_t i = 0; i < n; ++i) {
      RuleFeature(rules_[s.selected[i]], feature, &one);
      if (one.kind == Value::Kind::kCollection) {
        std::string joined;
        for (size_t j = 0; j < one.items.size(); ++j) {
          if (j) joined += ',';
          joined += one.items[j];
        }
        out->items.push_back(joined);
      } else {
        out->items.push_back(FormatValue(one));
      }
    }
    return true;
  }

  void RuleFeature(const Rule& r, const std::string& feature, Value* out) const {
    auto items = [&](const std::vector<int>& set) {
      out->kind = Value::Kind::kCollection;
      out->type = DataType::kString;
      out->items.clear();
      for (int i : set) out->items.push_back(items_[i].value);
    };
    auto number = [&](double v) {
      if (std::isnan(v)) {
        out->SetMissing();
      } else {
        out->SetNumber(v);
      }
    };
    if (misc::Is(feature, "antecedent")) {
      items(r.antecedent);
    } else if (misc::Is(feature, "consequent")) {
      items(r.consequent);
    } else if (misc::Is(feature, "rule")) {
      out->SetString(r.text);
    } else if (misc::Is(feature, "ruleId")) {
      out->SetString(r.id);
    } else if (misc::Is(feature, "support")) {
      number(r.support);
    } else if (misc::Is(feature, "confidence")) {
      number(r.confidence);
    } else if (misc::Is(feature, "lift")) {
      number(r.lift);
    } else if (misc::Is(feature, "leverage")) {
      number(r.leverage);
    } else if (misc::Is(feature, "affinity")) {
      number(r.affinity);
    } else {
      out->SetMissing();
    }
  }

  std::vector<ItemPlan> items_;
  absl::flat_hash_map<std::string, std::vector<int>> item_index_;  // basket value -> items
  SlotId basket_slot_ = kNoSlot;
  std::vector<Rule> rules_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileAssociationModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<AssociationModelImpl>();
  // Active and group fields from the MiningSchema.
  std::vector<std::string> active, group;
  pugi::xml_node schema = Child(el, "MiningSchema");
  for (pugi::xml_node mf : Children(schema, "MiningField")) {
    std::string_view usage = mf.attribute("usageType").value();
    if (usage.empty() || usage == "active") active.push_back(mf.attribute("name").value());
    if (usage == "group") group.push_back(mf.attribute("name").value());
  }
  if (group.size() > 1) return ElementError(schema, "at most one group field is supported");
  if (active.empty()) return ElementError(schema, "an AssociationModel needs an active field");
  bool transactional = !group.empty() || active.size() == 1;
  if (transactional) {
    if (active.size() != 1) return ElementError(schema, "a transactional AssociationModel needs one active field");
    auto info = args.scope->Resolve(active[0]);
    if (!info.ok()) return ElementError(schema, std::string(info.status().message()));
    model->basket_slot_ = info->slot;
  }

  absl::flat_hash_map<std::string, int> item_ids;
  for (pugi::xml_node item : Children(el, "Item")) {
    ItemPlan ip;
    std::string id = item.attribute("id").value();
    if (item_ids.contains(id)) return ElementError(item, "duplicate Item id " + id);
    ip.value = item.attribute("value").value();
    int index = static_cast<int>(model->items_.size());
    if (transactional) {
      // Item/@category (with @field) names the basket value when present.
      std::string key = item.attribute("category") ? item.attribute("category").value() : ip.value;
      model->item_index_[key].push_back(index);
    } else {
      std::string field = item.attribute("field").value();
      std::string category = item.attribute("category").value();
      if (field.empty()) {
        auto info = args.scope->Resolve(ip.value);
        if (info.ok()) {
          field = ip.value;
        } else {
          size_t eq = ip.value.find('=');
          if (eq == std::string::npos) return ElementError(item, "Item value names no field: " + ip.value);
          field = ip.value.substr(0, eq);
          category = ip.value.substr(eq + 1);
        }
      } else if (category.empty()) {
        return ElementError(item, "Item with a field needs a category");
      }
      auto info = args.scope->Resolve(field);
      if (!info.ok()) return ElementError(item, std::string(info.status().message()));
      ip.slot = info->slot;
      if (category.empty()) {
        ip.boolean = true;
      } else {
        ip.category = misc::ParseTyped(category, info->type);
      }
    }
    item_ids.emplace(id, index);
    model->items_.push_back(std::move(ip));
  }

  absl::flat_hash_map<std::string, std::vector<int>> itemsets;
  for (pugi::xml_node set : Children(el, "Itemset")) {
    std::vector<int> members;
    for (pugi::xml_node ref : Children(set, "ItemRef")) {
      auto it = item_ids.find(ref.attribute("itemRef").value());
      if (it == item_ids.end()) return ElementError(ref, std::string("unknown itemRef ") + ref.attribute("itemRef").value());
      members.push_back(it->second);
    }
    itemsets[set.attribute("id").value()] = std::move(members);
  }

  int number = 0;
  for (pugi::xml_node ar : Children(el, "AssociationRule")) {
    ++number;
    Rule r;
    auto a = itemsets.find(ar.attribute("antecedent").value());
    if (a == itemsets.end()) return ElementError(ar, std::string("unknown antecedent ") + ar.attribute("antecedent").value());
    auto c = itemsets.find(ar.attribute("consequent").value());
    if (c == itemsets.end()) return ElementError(ar, std::string("unknown consequent ") + ar.attribute("consequent").value());
    r.antecedent = a->second;
    r.consequent = c->second;
    const char* names[5] = {"support", "confidence", "lift", "leverage", "affinity"};
    double* dst[5] = {&r.support, &r.confidence, &r.lift, &r.leverage, &r.affinity};
    for (int i = 0; i < 5; ++i) {
      if (!ar.attribute(names[i])) continue;
      auto v = misc::ReqDouble(ar, names[i]);
      if (!v.ok()) return v.status();
      *dst[i] = *v;
    }
    r.id = ar.attribute("id") ? ar.attribute("id").value() : std::to_string(number);
    std::string text = "{";
    for (size_t i = 0; i < r.antecedent.size(); ++i) {
      if (i) text += ',';
      text += model->items_[r.antecedent[i]].value;
    }
    text += "}->{";
    for (size_t i = 0; i < r.consequent.size(); ++i) {
      if (i) text += ',';
      text += model->items_[r.consequent[i]].value;
    }
    text += '}';
    r.text = std::move(text);
    model->rules_.push_back(std::move(r));
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
