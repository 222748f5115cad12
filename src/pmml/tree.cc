// TreeModel: nodes flattened into one array (children contiguous, document
// order), numeric SimplePredicates inlined as (slot, op, threshold). Follows
// JPMML-Evaluator's semantics: the root predicate must be true; children are
// tried in document order; an unknown child predicate triggers the
// missingValueStrategy; a node without a true child the noTrueChildStrategy.

#include "pmml/tree.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/document.h"

namespace evs::pmml {
namespace {

bool ParseDouble(const char* text, double* out) {
  std::string s(text);
  // Trim surrounding spaces; PMML numbers may carry them.
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return false;
  s = s.substr(b, e - b + 1);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) {
    if (s == "NaN" || s == "nan") {
      *out = NAN;
      return true;
    }
    if (s == "INF" || s == "Infinity") {
      *out = INFINITY;
      return true;
    }
    if (s == "-INF" || s == "-Infinity") {
      *out = -INFINITY;
      return true;
    }
    return false;
  }
  *out = v;
  return true;
}

absl::StatusOr<double> NumberAttr(pugi::xml_node el, const char* name) {
  double v = 0;
  if (!ParseDouble(el.attribute(name).value(), &v)) {
    return ElementError(el, absl::StrCat("attribute ", name, "=\"", el.attribute(name).value(),
                                         "\" is not a number"));
  }
  return v;
}

// Compares a number with a threshold for the inlined SimplePredicate.
inline bool CompareNumber(CompareOp op, double x, double t) {
  switch (op) {
    case CompareOp::kEqual: return x == t;
    case CompareOp::kNotEqual: return x != t;
    case CompareOp::kLessThan: return x < t;
    case CompareOp::kLessOrEqual: return x <= t;
    case CompareOp::kGreaterThan: return x > t;
    case CompareOp::kGreaterOrEqual: return x >= t;
    case CompareOp::kIsMissing: return false;
    case CompareOp::kIsNotMissing: return true;
  }
  return false;
}

// Parses `text` as `type`, keeping it as a string when it is not a value of that type.
Value ParseLabel(std::string_view text, DataType type) {
  Value v;
  if (ParseValue(text, type, &v).ok()) return v;
  return Value::String(text);
}

int FindLabel(const std::vector<Value>& labels, const Value& v) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (ValuesEqual(labels[i], v)) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<TreeMissingStrategy> ParseMissingStrategy(pugi::xml_node el) {
  std::string_view s = el.attribute("missingValueStrategy").value();
  if (s.empty() || s == "none") return TreeMissingStrategy::kNone;
  if (s == "lastPrediction") return TreeMissingStrategy::kLastPrediction;
  if (s == "nullPrediction") return TreeMissingStrategy::kNullPrediction;
  if (s == "defaultChild") return TreeMissingStrategy::kDefaultChild;
  if (s == "weightedConfidence") return TreeMissingStrategy::kWeightedConfidence;
  if (s == "aggregateNodes") return TreeMissingStrategy::kAggregateNodes;
  return ElementError(el, absl::StrCat("unknown missingValueStrategy \"", AV(s), "\""));
}

bool IsNodeElement(pugi::xml_node n) {
  return n.type() == pugi::node_element && LocalName(n) == "Node";
}

}  // namespace

absl::StatusOr<std::unique_ptr<TreeModel>> TreeModel::Compile(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  std::unique_ptr<TreeModel> m(new TreeModel());
  if (args.function == MiningFunction::kClassification) {
    m->classification_ = true;
  } else if (args.function != MiningFunction::kRegression) {
    return ElementError(el, "TreeModel supports functionName classification and regression only");
  }
  m->float_math_ = std::string_view(el.attribute("x-mathContext").value()) == "float";
  const TargetInfo& target = *args.target;
  m->target_type_ = target.name.empty()
                        ? (m->classification_ ? DataType::kString : DataType::kDouble)
                        : target.type;
  ASSIGN_OR_RETURN(m->missing_, ParseMissingStrategy(el));
  std::string_view ntc = el.attribute("noTrueChildStrategy").value();
  if (ntc.empty() || ntc == "returnNullPrediction") {
    m->no_true_last_ = false;
  } else if (ntc == "returnLastPrediction") {
    m->no_true_last_ = true;
  } else {
    return ElementError(el, absl::StrCat("unknown noTrueChildStrategy \"", AV(ntc), "\""));
  }
  if (el.attribute("missingValuePenalty")) {
    ASSIGN_OR_RETURN(m->missing_penalty_, NumberAttr(el, "missingValuePenalty"));
    if (!(m->missing_penalty_ >= 0 && m->missing_penalty_ <= 1)) {
      return ElementError(el, "missingValuePenalty must be within [0, 1]");
    }
  }
  std::string_view split = el.attribute("splitCharacteristic").value();
  if (!split.empty() && split != "binarySplit" && split != "multiSplit") {
    return ElementError(el, absl::StrCat("unknown splitCharacteristic \"", AV(split), "\""));
  }

  pugi::xml_node root = Child(el, "Node");
  if (!root) return ElementError(el, "TreeModel has no Node");

  // Document-order (pre-order) index of every Node: the entity id when a
  // node has no id attribute, as JPMML numbers them.
  absl::flat_hash_map<const void*, int> preorder;
  {
    std::vector<pugi::xml_node> stack{root};
    int index = 0;
    std::vector<pugi::xml_node> kids;
    while (!stack.empty()) {
      pugi::xml_node n = stack.back();
      stack.pop_back();
      preorder[n.internal_object()] = ++index;
      kids.clear();
      for (pugi::xml_node c : n.children()) {
        if (IsNodeElement(c)) kids.push_back(c);
      }
      for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
    }
  }

  // Labels: the target's categories, then any other ScoreDistribution value
  // or node score in document order.
  if (m->classification_) {
    m->labels_ = target.categories;
    std::vector<pugi::xml_node> stack{root};
    while (!stack.empty()) {
      pugi::xml_node n = stack.back();
      stack.pop_back();
      if (n.attribute("score")) {
        Value v = ParseLabel(n.attribute("score").value(), m->target_type_);
        if (FindLabel(m->labels_, v) < 0) m->labels_.push_back(std::move(v));
      }
      std::vector<pugi::xml_node> kids;
      for (pugi::xml_node c : n.children()) {
        if (c.type() != pugi::node_element) continue;
        if (LocalName(c) == "ScoreDistribution") {
          if (!c.attribute("value")) return ElementError(c, "ScoreDistribution has no value");
          Value v = ParseLabel(c.attribute("value").value(), m->target_type_);
          if (FindLabel(m->labels_, v) < 0) m->labels_.push_back(std::move(v));
        } else if (LocalName(c) == "Node") {
          kids.push_back(c);
        }
      }
      for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
    }
  }
  const size_t num_labels = m->labels_.size();

  // Breadth-first flattening so each node's children are contiguous.
  std::vector<pugi::xml_node> elements{root};
  m->nodes_.emplace_back();
  for (size_t i = 0; i < elements.size(); ++i) {
    pugi::xml_node ne = elements[i];
    TreeNode node;

    pugi::xml_node pel = FindPredicateChild(ne);
    if (!pel) return ElementError(ne, "Node has no predicate");
    ASSIGN_OR_RETURN(std::unique_ptr<Predicate> pred, CompilePredicate(pel, *args.scope));
    node.predicate = pred.get();
    switch (pred->kind()) {
      case Predicate::Kind::kTrue: node.pred = TreeNode::Pred::kTrue; break;
      case Predicate::Kind::kFalse: node.pred = TreeNode::Pred::kFalse; break;
      default: {
        const Predicate::SimpleInfo* si = pred->simple();
        if (si != nullptr && si->numeric && si->slot != kNoSlot) {
          node.pred = TreeNode::Pred::kNumeric;
          node.slot = si->slot;
          node.op = si->op;
          node.threshold = si->number;
        } else {
          node.pred = TreeNode::Pred::kGeneric;
        }
      }
    }
    m->predicates_.push_back(std::move(pred));

    if (pugi::xml_attribute a = ne.attribute("id")) {
      node.entity_id = Value::String(a.value());
    } else {
      node.entity_id = Value::String(std::to_string(preorder[ne.internal_object()]));
    }

    if (pugi::xml_attribute a = ne.attribute("score")) {
      node.has_score = true;
      if (m->classification_) {
        node.score = ParseLabel(a.value(), m->target_type_);
        node.label = FindLabel(m->labels_, node.score);
      } else {
        double v = 0;
        if (ParseDouble(a.value(), &v)) {
          if (m->float_math_) v = static_cast<float>(v);
          node.score_num = v;
          node.score = Value::Number(v, m->float_math_ ? DataType::kFloat : DataType::kDouble);
        } else {
          node.score = Value::String(a.value());
        }
      }
    }
    if (ne.attribute("recordCount")) {
      ASSIGN_OR_RETURN(node.record_count, NumberAttr(ne, "recordCount"));
    }

    // ScoreDistributions: probabilities from the probability attribute when
    // the first one has it, else recordCount / total.
    std::vector<pugi::xml_node> dists;
    std::vector<pugi::xml_node> kids;
    for (pugi::xml_node c : ne.children()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view name = LocalName(c);
      if (name == "ScoreDistribution") {
        dists.push_back(c);
      } else if (name == "Node") {
        kids.push_back(c);
      } else if (name == "Regression" || name == "DecisionTree") {
        return ElementError(c, "embedded models in tree nodes are not supported");
      }
    }
    if (!dists.empty() && m->classification_) {
      node.dist = static_cast<int32_t>(m->probs_.size());
      m->probs_.resize(m->probs_.size() + num_labels, 0.0);
      node.counts = static_cast<int32_t>(m->counts_.size());
      m->counts_.resize(m->counts_.size() + num_labels, 0.0);
      bool use_prob = static_cast<bool>(dists[0].attribute("probability"));
      bool any_conf = false;
      double sum = 0, count_sum = 0;
      float fsum = 0;
      for (pugi::xml_node d : dists) {
        int li = FindLabel(m->labels_, ParseLabel(d.attribute("value").value(), m->target_type_));
        double v = 0;
        if (use_prob) {
          if (!d.attribute("probability")) {
            return ElementError(d, "ScoreDistribution without probability (an earlier one has it)");
          }
          ASSIGN_OR_RETURN(v, NumberAttr(d, "probability"));
          if (!(v >= 0 && v <= 1)) return ElementError(d, "probability must be within [0, 1]");
        } else {
          if (!d.attribute("recordCount")) return ElementError(d, "ScoreDistribution has no recordCount");
          ASSIGN_OR_RETURN(v, NumberAttr(d, "recordCount"));
        }
        if (m->float_math_) v = static_cast<float>(v);
        sum += v;
        fsum += static_cast<float>(v);
        m->probs_[node.dist + li] = v;
        if (d.attribute("recordCount")) {
          ASSIGN_OR_RETURN(double rc, NumberAttr(d, "recordCount"));
          m->counts_[node.counts + li] = rc;
          count_sum += rc;
        } else {
          m->counts_[node.counts + li] = v;
          count_sum += v;
        }
        if (d.attribute("confidence")) any_conf = true;
      }
      if (m->float_math_) sum = fsum;  // x-mathContext="float": JPMML sums and divides in float
      if (sum != 1.0) {
        if (sum == 0) {
          node.dist_undefined = true;
        } else if (m->float_math_) {
          for (size_t k = 0; k < num_labels; ++k) {
            m->probs_[node.dist + k] = static_cast<float>(m->probs_[node.dist + k]) / static_cast<float>(sum);
          }
        } else {
          for (size_t k = 0; k < num_labels; ++k) m->probs_[node.dist + k] /= sum;
        }
      }
      if (std::isnan(node.record_count)) node.record_count = count_sum;
      if (any_conf) {
        node.conf = static_cast<int32_t>(m->confs_.size());
        m->confs_.resize(m->confs_.size() + num_labels, NAN);
        for (pugi::xml_node d : dists) {
          int li = FindLabel(m->labels_, ParseLabel(d.attribute("value").value(), m->target_type_));
          if (d.attribute("confidence")) {
            ASSIGN_OR_RETURN(m->confs_[node.conf + li], NumberAttr(d, "confidence"));
          }
        }
      }
    }

    node.first_child = static_cast<int32_t>(elements.size());
    node.num_children = static_cast<int32_t>(kids.size());
    std::string_view default_child = ne.attribute("defaultChild").value();
    for (size_t k = 0; k < kids.size(); ++k) {
      if (!default_child.empty() && default_child == kids[k].attribute("id").value()) {
        node.default_child = node.first_child + static_cast<int32_t>(k);
      }
      elements.push_back(kids[k]);
      m->nodes_.emplace_back();
    }
    if (!default_child.empty() && node.default_child < 0) {
      return ElementError(ne, absl::StrCat("defaultChild \"", AV(default_child),
                                           "\" is not the id of a child Node"));
    }
    m->nodes_[i] = std::move(node);
  }
  return m;
}

inline Tri TreeModel::Test(const TreeNode& n, EvalContext& ctx) const {
  switch (n.pred) {
    case TreeNode::Pred::kTrue: return Tri::kTrue;
    case TreeNode::Pred::kFalse: return Tri::kFalse;
    case TreeNode::Pred::kNumeric: {
      const Value& v = ctx.Get(n.slot);
      if (v.kind == Value::Kind::kNumber || v.kind == Value::Kind::kBool) {
        return CompareNumber(n.op, v.num, n.threshold) ? Tri::kTrue : Tri::kFalse;
      }
      if (v.missing()) {
        if (n.op == CompareOp::kIsMissing) return Tri::kTrue;
        if (n.op == CompareOp::kIsNotMissing) return Tri::kFalse;
        return Tri::kUnknown;
      }
      return n.predicate->Test(ctx);
    }
    case TreeNode::Pred::kGeneric: return n.predicate->Test(ctx);
  }
  return Tri::kUnknown;
}

int TreeModel::Find(EvalContext& ctx, int* missing_levels) const {
  *missing_levels = 0;
  if (Test(nodes_[0], ctx) != Tri::kTrue) return -1;
  int n = 0;
  while (true) {
    const TreeNode& node = nodes_[n];
    if (node.num_children == 0) return n;
    int next = -1;
    const int end = node.first_child + node.num_children;
    for (int c = node.first_child; c < end; ++c) {
      Tri s = Test(nodes_[c], ctx);
      if (s == Tri::kTrue) {
        next = c;
        break;
      }
      if (s == Tri::kUnknown) {
        if (ctx.failed()) return -1;
        switch (missing_) {
          case TreeMissingStrategy::kNullPrediction: return -1;
          case TreeMissingStrategy::kLastPrediction: return n;
          case TreeMissingStrategy::kDefaultChild:
            if (node.default_child < 0) {
              ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
                  "TreeModel: Node ", FormatValue(node.entity_id),
                  " has no defaultChild for missingValueStrategy=defaultChild")));
              return -1;
            }
            ++*missing_levels;
            next = node.default_child;  // its predicate is not evaluated
            break;
          default:  // none: try the next sibling
            continue;
        }
        break;
      }
    }
    if (next < 0) {
      // No true child: the node itself when returnLastPrediction and it has a score.
      if (no_true_last_ && node.has_score) return n;
      return -1;
    }
    n = next;
  }
}

void TreeModel::Fill(int index, int missing_levels, EvalContext& ctx, ModelResult* result) const {
  const TreeNode& n = nodes_[index];
  result->entity_id = n.entity_id;
  if (!classification_) {
    if (!n.has_score) {
      ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat("TreeModel: selected Node ", FormatValue(n.entity_id), " has no score")));
      return;
    }
    result->predicted = n.score;
    return;
  }
  result->labels = &labels_;
  if (n.dist >= 0) {
    if (n.dist_undefined) {
      ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
          "TreeModel: Node ", FormatValue(n.entity_id), " has a ScoreDistribution that sums to 0")));
      return;
    }
    const double* p = probs_.data() + n.dist;
    result->probabilities.assign(p, p + labels_.size());
    if (n.conf >= 0) {
      double penalty = 1.0;
      if (missing_levels > 0) {
        penalty = missing_levels == 1 ? missing_penalty_ : std::pow(missing_penalty_, missing_levels);
      }
      const double* c = confs_.data() + n.conf;
      result->confidences.assign(c, c + labels_.size());
      for (double& x : result->confidences) x *= penalty;
    }
  }
  if (n.has_score) {
    result->predicted = n.score;
  } else if (n.dist >= 0) {
    // No score attribute: the most probable label (first one on ties).
    size_t best = 0;
    for (size_t k = 1; k < labels_.size(); ++k) {
      if (result->probabilities[k] > result->probabilities[best]) best = k;
    }
    result->predicted = labels_[best];
  } else {
    ctx.Fail(absl::InvalidArgumentError(
        absl::StrCat("TreeModel: selected Node ", FormatValue(n.entity_id), " has no score")));
  }
}

void TreeModel::Evaluate(EvalContext& ctx, ModelResult* result) const {
  if (missing_ == TreeMissingStrategy::kWeightedConfidence ||
      missing_ == TreeMissingStrategy::kAggregateNodes) {
    EvaluateAggregate(ctx, result);
    return;
  }
  int levels = 0;
  int node = Find(ctx, &levels);
  if (node < 0 || ctx.failed()) return;
  Fill(node, levels, ctx, result);
}

// weightedConfidence / aggregateNodes (PMML; JPMML does not implement them):
// where a child predicate is unknown, every child that is not false is
// followed. aggregateNodes sums the leaves' record counts; weightedConfidence
// weights each branch by its share of its parent's records and sums the
// leaves' confidences (probabilities when there are none). Regression trees
// give the weighted mean of the leaf scores.
void TreeModel::Visit(int index, double weight, EvalContext& ctx, ModelResult* result,
                      double* total, double* score_sum, int* leaves, int* last_leaf) const {
  const TreeNode& node = nodes_[index];
  bool leaf = node.num_children == 0;
  if (!leaf) {
    bool saw_unknown = false;
    bool any = false;
    const int end = node.first_child + node.num_children;
    for (int c = node.first_child; c < end; ++c) {
      Tri s = Test(nodes_[c], ctx);
      if (ctx.failed()) return;
      if (s == Tri::kFalse) continue;
      if (s == Tri::kTrue && !saw_unknown) {
        Visit(c, weight, ctx, result, total, score_sum, leaves, last_leaf);
        return;
      }
      if (s == Tri::kUnknown) saw_unknown = true;
      const TreeNode& child = nodes_[c];
      double w = weight;
      if (missing_ == TreeMissingStrategy::kWeightedConfidence) {
        double share = (node.record_count > 0 && !std::isnan(child.record_count))
                           ? child.record_count / node.record_count
                           : 0.0;
        w = weight * share;
      }
      any = true;
      Visit(c, w, ctx, result, total, score_sum, leaves, last_leaf);
      if (s == Tri::kTrue) break;
    }
    if (any) return;
    if (!(no_true_last_ && node.has_score)) return;
    leaf = true;  // returnLastPrediction: the node itself
  }
  ++*leaves;
  *last_leaf = index;
  if (classification_) {
    if (node.dist < 0) return;
    const size_t nl = labels_.size();
    for (size_t k = 0; k < nl; ++k) {
      double v;
      if (missing_ == TreeMissingStrategy::kAggregateNodes) {
        v = counts_[node.counts + k];
      } else {
        double c = node.conf >= 0 ? confs_[node.conf + k] : NAN;
        v = weight * (std::isnan(c) ? probs_[node.dist + k] : c);
      }
      result->probabilities[k] += v;
      *total += v;
    }
  } else if (node.has_score && !std::isnan(node.score_num)) {
    double w = missing_ == TreeMissingStrategy::kAggregateNodes
                   ? (std::isnan(node.record_count) ? 1.0 : node.record_count)
                   : weight;
    *score_sum += w * node.score_num;
    *total += w;
  }
}

void TreeModel::EvaluateAggregate(EvalContext& ctx, ModelResult* result) const {
  if (Test(nodes_[0], ctx) != Tri::kTrue) return;
  if (classification_) result->probabilities.assign(labels_.size(), 0.0);
  double total = 0, score_sum = 0;
  int leaves = 0, last_leaf = -1;
  Visit(0, 1.0, ctx, result, &total, &score_sum, &leaves, &last_leaf);
  if (ctx.failed() || leaves == 0) {
    result->probabilities.clear();
    return;
  }
  if (leaves == 1) {
    // One leaf reached: the same result as the plain walk.
    result->probabilities.clear();
    Fill(last_leaf, 0, ctx, result);
    return;
  }
  if (!(total > 0)) {
    result->probabilities.clear();
    return;
  }
  if (!classification_) {
    result->predicted = Value::Number(score_sum / total);
    return;
  }
  result->labels = &labels_;
  for (double& p : result->probabilities) p /= total;
  size_t best = 0;
  for (size_t k = 1; k < labels_.size(); ++k) {
    if (result->probabilities[k] > result->probabilities[best]) best = k;
  }
  result->predicted = labels_[best];
}

bool TreeModel::Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
                        Value* out) const {
  if (spec.feature != "confidence" || !classification_) return false;
  // Without ScoreDistribution confidences the core's default applies.
  if (result.confidences.empty() || result.labels == nullptr) return false;
  out->SetMissing();
  const Value& label = spec.value.missing() ? result.predicted : spec.value;
  if (label.missing()) return true;
  int k = FindLabel(*result.labels, label);
  if (k >= 0 && k < static_cast<int>(result.confidences.size()) &&
      !std::isnan(result.confidences[k])) {
    out->SetNumber(result.confidences[k]);
  }
  return true;
}

absl::StatusOr<std::unique_ptr<Model>> CompileTreeModel(const ModelCompileArgs& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<TreeModel> m, TreeModel::Compile(args));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace evs::pmml
