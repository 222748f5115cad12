// MiningModel: a Segmentation of nested models combined by
// multipleModelMethod, with JPMML-Evaluator's semantics for missing
// predictions (missingPredictionTreatment, missingThreshold), vote
// probabilities (vote share) and ties (first label to reach the maximum).
//
// Fast path: when every segment is a TreeModel with predicate True whose
// splits are numeric SimplePredicates (no Targets, combined by sum, average,
// their weighted forms or a (weighted) majority vote), the forest is compiled
// into one node table. A record gathers each used slot's number once (into a
// stack buffer), then walks the trees without touching Values. Nodes with
// several children become chains of binary splits (first true child wins;
// a scored node under returnLastPrediction is the chain's final "else"), so
// forests walk 16 trees at a time, level by level, on 16-byte
// branchless nodes, or 8-byte nodes when thresholds and the record's values
// are floats. Records with a missing, NaN or non-numeric value in a used
// field, or that reach a node without a true child, take the generic path,
// so the semantics stay exact (tests check both paths agree bit for bit).

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/model.h"
#include "pmml/tree.h"

namespace evs::pmml {
namespace {

enum class Method : uint8_t {
  kMajorityVote,
  kWeightedMajorityVote,
  kAverage,
  kWeightedAverage,
  kMedian,
  kWeightedMedian,
  kMax,
  kSum,
  kWeightedSum,
  kSelectFirst,
  kSelectAll,
  kModelChain,
  kMultiModelChain,
};

enum class MissingTreatment : uint8_t { kContinue, kReturnMissing, kSkipSegment };

absl::StatusOr<Method> ParseMethod(pugi::xml_node seg) {
  std::string_view s = seg.attribute("multipleModelMethod").value();
  if (s == "majorityVote") return Method::kMajorityVote;
  if (s == "weightedMajorityVote") return Method::kWeightedMajorityVote;
  if (s == "average") return Method::kAverage;
  if (s == "weightedAverage") return Method::kWeightedAverage;
  if (s == "median") return Method::kMedian;
  if (s == "weightedMedian") return Method::kWeightedMedian;
  if (s == "max") return Method::kMax;
  if (s == "sum") return Method::kSum;
  if (s == "weightedSum") return Method::kWeightedSum;
  if (s == "selectFirst") return Method::kSelectFirst;
  if (s == "selectAll") return Method::kSelectAll;
  if (s == "modelChain") return Method::kModelChain;
  if (s == "multiModelChain") return Method::kMultiModelChain;
  return ElementError(seg, absl::StrCat("unknown multipleModelMethod \"", AV(s), "\""));
}

bool IsWeighted(Method m) {
  return m == Method::kWeightedMajorityVote || m == Method::kWeightedAverage ||
         m == Method::kWeightedMedian || m == Method::kWeightedSum;
}

int FindLabel(const std::vector<Value>& labels, const Value& v) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (ValuesEqual(labels[i], v)) return static_cast<int>(i);
  }
  return -1;
}

inline bool Cmp(CompareOp op, double x, double t) {
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

// True when `b` holds exactly when `a` does not (for non-missing numbers).
bool Complementary(CompareOp a, CompareOp b) {
  switch (a) {
    case CompareOp::kLessThan: return b == CompareOp::kGreaterOrEqual;
    case CompareOp::kLessOrEqual: return b == CompareOp::kGreaterThan;
    case CompareOp::kGreaterThan: return b == CompareOp::kLessOrEqual;
    case CompareOp::kGreaterOrEqual: return b == CompareOp::kLessThan;
    case CompareOp::kEqual: return b == CompareOp::kNotEqual;
    case CompareOp::kNotEqual: return b == CompareOp::kEqual;
    default: return false;
  }
}

struct Segment {
  std::string id;
  Value id_value;
  double weight = 1;
  std::unique_ptr<Predicate> predicate;
  bool always_true = false;
  const ModelPlan* plan = nullptr;
  const std::vector<Value>* seg_labels = nullptr;  // the body's labels at compile time
  std::vector<int> label_map;                      // seg label index -> mining label index
};

// Fast-path node. kind 0 = leaf (a = value index; -1 = dead end, the record
// takes the generic path), 1 = binary split on (feat, op, thr): a when true,
// else b; 2 = children [a, a + b) tested in order by their own predicate
// (pfeat/pop/pthr, ptrue; no longer built: multi-child nodes become chains
// of kind 1). pfeat/pop/pthr/ptrue are set on roots.
struct FastNode {
  double thr = 0;
  double pthr = 0;
  int32_t feat = -1;
  int32_t pfeat = -1;
  int32_t a = 0;
  int32_t b = 0;
  CompareOp op = CompareOp::kEqual;
  CompareOp pop = CompareOp::kEqual;
  uint8_t kind = 0;
  uint8_t ptrue = 0;
};

// Binary-forest node (16 bytes): go to `next` when the split condition
// holds, else to next + 1 (children are adjacent). `mode`: bits 0-1 select
// x < t, x <= t, x == t; bit 2 negates. Leaves loop to themselves, so a
// batch of trees walks a fixed number of steps without branches.
struct BinNode {
  double thr = 0;
  int32_t next = 0;
  uint16_t feat = 0;
  uint8_t mode = 0;
  uint8_t pad = 0;
};

// The 8-byte form used when every threshold is a float and the record's
// values are floats (sklearn, XGBoost, LightGBM forests): comparing the
// float values is then exactly the double comparison.
struct BinNode8 {
  float thr = 0;
  uint32_t next_feat = 0;  // next node (low 24 bits), feature (high 8 bits)
};

template <int kMode, class T>
inline bool SplitCond(int mode, T x, T t) {
  const int m = kMode >= 0 ? kMode : mode;
  bool c;
  switch (m & 3) {
    case 0: c = x < t; break;
    case 1: c = x <= t; break;
    default: c = x == t; break;
  }
  return c ^ static_cast<bool>((m >> 2) & 1);
}

class MiningModel : public Model {
 public:
  static absl::StatusOr<std::unique_ptr<MiningModel>> Compile(const ModelCompileArgs& args);

  void Evaluate(EvalContext& ctx, ModelResult* result) const override;
  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override;
  const std::vector<Value>* labels() const override {
    return classification_ || !labels_.empty() ? &labels_ : nullptr;
  }

 private:
  void EvaluateGeneric(EvalContext& ctx, ModelResult* result) const;
  bool EvaluateFast(EvalContext& ctx, ModelResult* result) const;
  void BuildFastPath(const std::vector<const TreeModel*>& trees);
  void BuildBinaryForest();
  template <int kMode>
  void WalkBinary(const double* x, int32_t* leaves) const;
  template <int kMode>
  void WalkBinary8(const float* x, int32_t* leaves) const;
  // Adds seg's probabilities (aligned to labels_) times `w` into acc.
  bool AddProbabilities(const Segment& seg, const ModelResult& r, double w, double* acc,
                        EvalContext& ctx) const;
  void FinishClassification(ModelResult* result, const int* order) const;
  void CopySegmentResult(const Segment& seg, const ModelResult& r, ModelResult* result) const;

  Method method_ = Method::kSum;
  MissingTreatment missing_ = MissingTreatment::kContinue;
  double missing_threshold_ = 1.0;
  bool classification_ = false;
  bool float_math_ = false;
  DataType target_type_ = DataType::kDouble;
  std::vector<Segment> segments_;
  std::vector<Value> labels_;

  // Fast path (empty fast_roots_ = disabled).
  std::vector<int32_t> fast_roots_;
  std::vector<FastNode> fast_nodes_;
  std::vector<SlotId> fast_slots_;
  std::vector<double> fast_values_;   // regression leaf values
  std::vector<int32_t> fast_labels_;  // vote: leaf label index into labels_
  std::vector<double> fast_probs_;    // average: leaf probabilities aligned with labels_
  std::vector<double> fast_weights_;  // per tree
  int fast_kind_ = 0;                 // 1 value, 2 vote, 3 probabilities
  bool fast_dead_ends_ = false;       // some leaves have a = -1 (take the generic path)
  // Binary forest (every split binary, every root True): same node indices
  // as fast_nodes_. Empty = walk fast_nodes_ instead.
  std::vector<BinNode> bin_nodes_;
  std::vector<int32_t> bin_leaf_;     // leaf value index per node
  std::vector<uint8_t> batch_depth_;  // steps for each batch of kBatch trees
  int bin_mode_ = -1;                 // the one split mode of all nodes, or -1
  std::vector<BinNode8> bin8_;        // same nodes; empty when not applicable
  static constexpr int kBatch = 16;
};

absl::StatusOr<std::unique_ptr<MiningModel>> MiningModel::Compile(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  std::unique_ptr<MiningModel> m(new MiningModel());
  m->classification_ = args.function == MiningFunction::kClassification;
  m->float_math_ = std::string_view(el.attribute("x-mathContext").value()) == "float";
  m->target_type_ = args.target->name.empty()
                        ? (m->classification_ ? DataType::kString : DataType::kDouble)
                        : args.target->type;
  pugi::xml_node seg_el = Child(el, "Segmentation");
  if (!seg_el) return ElementError(el, "MiningModel has no Segmentation");
  ASSIGN_OR_RETURN(m->method_, ParseMethod(seg_el));
  // PMML 4.4 attributes; JPMML's x- forms carry them in older documents.
  auto seg_attr = [&](const char* name) {
    pugi::xml_attribute a = seg_el.attribute(name);
    return a ? a : seg_el.attribute(absl::StrCat("x-", name).c_str());
  };
  std::string_view mpt = seg_attr("missingPredictionTreatment").value();
  if (mpt.empty() || mpt == "continue") {
    m->missing_ = MissingTreatment::kContinue;
  } else if (mpt == "returnMissing") {
    m->missing_ = MissingTreatment::kReturnMissing;
  } else if (mpt == "skipSegment") {
    m->missing_ = MissingTreatment::kSkipSegment;
  } else {
    return ElementError(seg_el, absl::StrCat("unknown missingPredictionTreatment \"", AV(mpt), "\""));
  }
  if (pugi::xml_attribute a = seg_attr("missingThreshold")) {
    m->missing_threshold_ = a.as_double(-1);
    if (!(m->missing_threshold_ >= 0 && m->missing_threshold_ <= 1)) {
      return ElementError(seg_el, "missingThreshold must be within [0, 1]");
    }
  }
  if (m->missing_ == MissingTreatment::kSkipSegment &&
      (m->method_ == Method::kModelChain || m->method_ == Method::kMultiModelChain ||
       m->method_ == Method::kSelectAll)) {
    return ElementError(seg_el, "missingPredictionTreatment=skipSegment cannot be used with this "
                                "multipleModelMethod");
  }
  if (!m->classification_ && args.function != MiningFunction::kRegression) {
    // Other functions are supported only for the selection methods.
    if (m->method_ != Method::kSelectFirst && m->method_ != Method::kSelectAll &&
        m->method_ != Method::kModelChain && m->method_ != Method::kMultiModelChain &&
        m->method_ != Method::kMajorityVote && m->method_ != Method::kWeightedMajorityVote) {
      return ElementError(seg_el, "this multipleModelMethod needs functionName regression or "
                                  "classification");
    }
  }
  if (m->classification_ &&
      (m->method_ == Method::kWeightedMedian || m->method_ == Method::kSum ||
       m->method_ == Method::kWeightedSum)) {
    return ElementError(seg_el, "multipleModelMethod is not valid for classification");
  }
  if (!m->classification_ && args.function == MiningFunction::kRegression &&
      (m->method_ == Method::kMajorityVote || m->method_ == Method::kWeightedMajorityVote)) {
    return ElementError(seg_el, "multipleModelMethod is not valid for regression");
  }

  bool chain = m->method_ == Method::kModelChain || m->method_ == Method::kMultiModelChain;
  int index = 0;
  std::vector<const TreeModel*> trees;
  bool all_trees = true;
  for (pugi::xml_node s : seg_el.children()) {
    if (s.type() != pugi::node_element || LocalName(s) != "Segment") continue;
    ++index;
    Segment seg;
    seg.id = s.attribute("id") ? s.attribute("id").value() : std::to_string(index);
    seg.id_value = Value::String(seg.id);
    if (pugi::xml_attribute w = s.attribute("weight")) {
      seg.weight = w.as_double(NAN);
      if (!(seg.weight >= 0)) return ElementError(s, "weight must be a non-negative number");
    }
    pugi::xml_node pel = FindPredicateChild(s);
    if (!pel) return ElementError(s, "Segment has no predicate");
    ASSIGN_OR_RETURN(seg.predicate, CompilePredicate(pel, *args.scope));
    seg.always_true = seg.predicate->kind() == Predicate::Kind::kTrue;
    pugi::xml_node model_el;
    for (pugi::xml_node c : s.children()) {
      if (c.type() == pugi::node_element && FindModelCompiler(LocalName(c)) != nullptr) {
        model_el = c;
        break;
      }
    }
    if (!model_el) return ElementError(s, "Segment has no model");
    ASSIGN_OR_RETURN(seg.plan, args.compile_nested(model_el, args.scope));
    if (chain) {
      // Segment outputs are fields for later segments and for the MiningModel's Output.
      for (const FieldInfo& f : seg.plan->output_fields()) RETURN_IF_ERROR(args.scope->Define(f));
    }
    seg.seg_labels = seg.plan->body().labels();
    const TreeModel* tree = dynamic_cast<const TreeModel*>(&seg.plan->body());
    if (tree == nullptr || !seg.always_true || Child(model_el, "Targets") ||
        tree->classification() != m->classification_) {
      all_trees = false;
    } else {
      trees.push_back(tree);
    }
    m->segments_.push_back(std::move(seg));
  }
  if (m->segments_.empty()) return ElementError(seg_el, "Segmentation has no Segment");

  const bool vote_method =
      m->method_ == Method::kMajorityVote || m->method_ == Method::kWeightedMajorityVote;
  if (m->classification_ || vote_method) {
    // Votes of clustering (and other) segments count by their labels too.
    m->labels_ = args.target->categories;
    for (const Segment& seg : m->segments_) {
      if (seg.seg_labels == nullptr) continue;
      for (const Value& v : *seg.seg_labels) {
        if (FindLabel(m->labels_, v) < 0) m->labels_.push_back(v);
      }
    }
    for (Segment& seg : m->segments_) {
      if (seg.seg_labels == nullptr) continue;
      for (const Value& v : *seg.seg_labels) seg.label_map.push_back(FindLabel(m->labels_, v));
    }
  }
  if (all_trees) m->BuildFastPath(trees);
  return m;
}

void MiningModel::BuildFastPath(const std::vector<const TreeModel*>& trees) {
  int kind = 0;
  switch (method_) {
    case Method::kSum:
    case Method::kWeightedSum:
    case Method::kAverage:
    case Method::kWeightedAverage:
      kind = classification_ ? 3 : 1;
      break;
    case Method::kMajorityVote:
    case Method::kWeightedMajorityVote:
      kind = classification_ ? 2 : 0;
      break;
    default:
      break;
  }
  if (kind == 0) return;
  absl::flat_hash_map<SlotId, int32_t> feature_of;
  auto feature = [&](SlotId slot) {
    auto [it, inserted] = feature_of.try_emplace(slot, static_cast<int32_t>(fast_slots_.size()));
    if (inserted) fast_slots_.push_back(slot);
    return it->second;
  };
  std::vector<int32_t> roots;
  std::vector<FastNode> fnodes;
  // Makes fnodes[f] a leaf holding node n's prediction; false when n has none
  // the fast path can use.
  auto make_leaf = [&](const TreeModel& tree, const TreeNode& n, int32_t f) {
    FastNode& leaf = fnodes[f];
    leaf.kind = 0;
    if (kind == 1) {
      if (!n.has_score || std::isnan(n.score_num)) return false;
      leaf.a = static_cast<int32_t>(fast_values_.size());
      fast_values_.push_back(n.score_num);
    } else if (kind == 2) {
      if (!n.has_score || n.dist_undefined) return false;  // the generic path fails the record
      int li = FindLabel(labels_, n.score);
      if (li < 0) return false;
      leaf.a = static_cast<int32_t>(fast_labels_.size());
      fast_labels_.push_back(li);
    } else {
      const double* p = tree.probabilities(n);
      if (p == nullptr || n.dist_undefined || !n.has_score) return false;
      leaf.a = static_cast<int32_t>(fast_probs_.size() / std::max<size_t>(labels_.size(), 1));
      size_t off = fast_probs_.size();
      fast_probs_.resize(off + labels_.size(), 0.0);
      const std::vector<Value>& tl = *tree.labels();
      for (size_t k = 0; k < tl.size(); ++k) {
        int li = FindLabel(labels_, tl[k]);
        if (li < 0) {
          if (p[k] != 0) return false;
          continue;
        }
        fast_probs_[off + li] += p[k];
      }
    }
    return true;
  };
  auto usable = [](const TreeNode& c) {
    return c.pred == TreeNode::Pred::kNumeric && c.op != CompareOp::kIsMissing &&
           c.op != CompareOp::kIsNotMissing;
  };
  for (size_t t = 0; t < trees.size(); ++t) {
    const TreeModel& tree = *trees[t];
    if (tree.missing_strategy() == TreeMissingStrategy::kWeightedConfidence ||
        tree.missing_strategy() == TreeMissingStrategy::kAggregateNodes) {
      return;
    }
    if (tree.float_math() != float_math_) return;
    const std::vector<TreeNode>& nodes = tree.nodes();
    const int32_t root = static_cast<int32_t>(fnodes.size());
    roots.push_back(root);
    fnodes.emplace_back();
    {
      const TreeNode& r = nodes[0];
      if (r.pred == TreeNode::Pred::kTrue) {
        fnodes[root].ptrue = 1;
      } else if (usable(r)) {
        fnodes[root].pfeat = feature(r.slot);
        fnodes[root].pop = r.op;
        fnodes[root].pthr = r.threshold;
      } else {
        return;  // not a forest of numeric splits
      }
    }
    // Every node becomes binary splits (kind 1, children adjacent: a, a + 1)
    // and leaves (kind 0). Children c1..ck (first true child wins) become
    // c1 ? c1 : (c2 ? c2 : ... : else), where `else` is a True child, the
    // last child when it is the complement of the one before (exact for the
    // non-NaN numbers this path sees), the node itself under
    // returnLastPrediction, or else a dead end (leaf a = -1: generic path).
    std::vector<std::pair<int, int32_t>> work{{0, root}};  // (tree node, fast node)
    std::vector<int> tests;
    while (!work.empty()) {
      auto [ni, fi] = work.back();
      work.pop_back();
      const TreeNode& n = nodes[ni];
      if (n.num_children == 0) {
        if (kind == 2 && n.has_score && n.dist_undefined) {
          fnodes[fi].kind = 0;
          fnodes[fi].a = -1;  // the generic path fails the record (distribution sums to 0)
          fast_dead_ends_ = true;
        } else if (!make_leaf(tree, n, fi)) {
          return;  // leaves the fast path cannot use: the whole forest takes the generic path
        }
        continue;
      }
      tests.clear();
      int else_child = -1;
      const int end = n.first_child + n.num_children;
      for (int c = n.first_child; c < end; ++c) {
        const TreeNode& cn = nodes[c];
        if (cn.pred == TreeNode::Pred::kFalse) continue;
        if (cn.pred == TreeNode::Pred::kTrue) {
          else_child = c;
          break;
        }
        if (!usable(cn)) return;
        tests.push_back(c);
      }
      if (else_child < 0 && tests.size() >= 2) {
        const TreeNode& p = nodes[tests[tests.size() - 2]];
        const TreeNode& q = nodes[tests.back()];
        if (q.slot == p.slot && q.threshold == p.threshold && Complementary(p.op, q.op)) {
          else_child = tests.back();
          tests.pop_back();
        }
      }
      int32_t cur = fi;
      for (int c : tests) {
        const TreeNode& cn = nodes[c];
        const int32_t pair = static_cast<int32_t>(fnodes.size());
        fnodes.emplace_back();
        fnodes.emplace_back();
        FastNode& f = fnodes[cur];
        f.kind = 1;
        f.feat = feature(cn.slot);
        f.op = cn.op;
        f.thr = cn.threshold;
        f.a = pair;
        f.b = pair + 1;
        work.emplace_back(c, pair);
        cur = pair + 1;
      }
      if (else_child >= 0) {
        work.emplace_back(else_child, cur);
      } else if (tree.return_last_on_no_true_child() && n.has_score) {
        if (!make_leaf(tree, n, cur)) {
          fnodes[cur].kind = 0;
          fnodes[cur].a = -1;
          fast_dead_ends_ = true;
        }
      } else {
        fnodes[cur].kind = 0;
        fnodes[cur].a = -1;  // no true child: noTrueChildStrategy on the generic path
        fast_dead_ends_ = true;
      }
    }
  }
  fast_roots_ = std::move(roots);
  fast_nodes_ = std::move(fnodes);
  fast_kind_ = kind;
  for (const Segment& s : segments_) fast_weights_.push_back(s.weight);
  BuildBinaryForest();
}

void MiningModel::BuildBinaryForest() {
  const size_t nf = fast_slots_.size();
  if (nf + 1 > 65535) return;
  for (int32_t r : fast_roots_) {
    if (!fast_nodes_[r].ptrue) return;
  }
  auto mode_of = [](CompareOp op) -> int {
    switch (op) {
      case CompareOp::kLessThan: return 0;
      case CompareOp::kLessOrEqual: return 1;
      case CompareOp::kEqual: return 2;
      case CompareOp::kGreaterOrEqual: return 0 | 4;
      case CompareOp::kGreaterThan: return 1 | 4;
      case CompareOp::kNotEqual: return 2 | 4;
      default: return -1;
    }
  };
  int uniform = -2;  // -2: none seen yet
  for (const FastNode& f : fast_nodes_) {
    if (f.kind == 2) return;
    if (f.kind == 1) {
      int m = mode_of(f.op);
      if (m < 0 || f.b != f.a + 1) return;
      uniform = uniform == -2 ? m : (uniform == m ? m : -1);
    }
  }
  const int leaf_mode = uniform >= 0 ? uniform : 0;
  // A leaf's threshold makes its condition true for x = 0 (the extra slot).
  double leaf_thr = 0;
  switch (leaf_mode) {
    case 0: case 1: leaf_thr = INFINITY; break;
    case 2: leaf_thr = 0; break;
    case 4: case 5: leaf_thr = -INFINITY; break;
    default: leaf_thr = 1; break;
  }
  std::vector<BinNode> bin(fast_nodes_.size());
  std::vector<int32_t> leaf(fast_nodes_.size(), -1);
  for (size_t i = 0; i < fast_nodes_.size(); ++i) {
    const FastNode& f = fast_nodes_[i];
    BinNode& b = bin[i];
    if (f.kind == 0) {
      b.thr = leaf_thr;
      b.next = static_cast<int32_t>(i);
      b.feat = static_cast<uint16_t>(nf);
      b.mode = static_cast<uint8_t>(leaf_mode);
      leaf[i] = f.a;
    } else {
      b.thr = f.thr;
      b.next = f.a;
      b.feat = static_cast<uint16_t>(f.feat);
      b.mode = static_cast<uint8_t>(mode_of(f.op));
    }
  }
  // Depth of every tree (children come after their parent), then per batch.
  std::vector<uint8_t> depth(fast_nodes_.size(), 0);
  std::vector<int> tree_depth(fast_roots_.size(), 0);
  for (size_t t = 0; t < fast_roots_.size(); ++t) {
    size_t begin = static_cast<size_t>(fast_roots_[t]);
    size_t end = t + 1 < fast_roots_.size() ? static_cast<size_t>(fast_roots_[t + 1]) : fast_nodes_.size();
    for (size_t i = begin; i < end; ++i) {
      const FastNode& f = fast_nodes_[i];
      if (f.kind != 1) continue;
      if (depth[i] >= 250) return;  // very deep trees: the plain walk
      depth[f.a] = depth[f.b] = static_cast<uint8_t>(depth[i] + 1);
      tree_depth[t] = std::max<int>(tree_depth[t], depth[i] + 1);
    }
  }
  for (size_t t = 0; t < fast_roots_.size(); t += kBatch) {
    int d = 0;
    for (size_t j = t; j < std::min(fast_roots_.size(), t + kBatch); ++j) d = std::max(d, tree_depth[j]);
    batch_depth_.push_back(static_cast<uint8_t>(d));
  }
  bin_nodes_ = std::move(bin);
  bin_leaf_ = std::move(leaf);
  bin_mode_ = uniform >= 0 ? uniform : -1;

  bool can8 = bin_mode_ >= 0 && nf + 1 <= 255 && bin_nodes_.size() < (1u << 24);
  for (size_t i = 0; can8 && i < bin_nodes_.size(); ++i) {
    const double t = bin_nodes_[i].thr;
    can8 = static_cast<double>(static_cast<float>(t)) == t;
  }
  if (can8) {
    bin8_.resize(bin_nodes_.size());
    for (size_t i = 0; i < bin_nodes_.size(); ++i) {
      bin8_[i].thr = static_cast<float>(bin_nodes_[i].thr);
      bin8_[i].next_feat = static_cast<uint32_t>(bin_nodes_[i].next) |
                           (static_cast<uint32_t>(bin_nodes_[i].feat) << 24);
    }
  }
}

template <int kMode>
void MiningModel::WalkBinary8(const float* x, int32_t* leaves) const {
  const BinNode8* nodes = bin8_.data();
  const size_t nt = fast_roots_.size();
  for (size_t t = 0, b = 0; t < nt; t += kBatch, ++b) {
    const size_t m = std::min<size_t>(kBatch, nt - t);
    int32_t n[kBatch];
    for (size_t j = 0; j < m; ++j) n[j] = fast_roots_[t + j];
    const int d = batch_depth_[b];
    auto step = [&](size_t j) {
      const BinNode8 nd = nodes[n[j]];
      n[j] = static_cast<int32_t>(nd.next_feat & 0xFFFFFFu) +
             !SplitCond<kMode>(kMode, x[nd.next_feat >> 24], nd.thr);
    };
    if (m == kBatch) {
      for (int s = 0; s < d; ++s) {
        for (size_t j = 0; j < kBatch; ++j) step(j);
      }
    } else {
      for (int s = 0; s < d; ++s) {
        for (size_t j = 0; j < m; ++j) step(j);
      }
    }
    for (size_t j = 0; j < m; ++j) leaves[t + j] = bin_leaf_[n[j]];
  }
}

// Walks kBatch trees at a time, level by level, so that their memory loads
// overlap; leaves loop to themselves.
template <int kMode>
void MiningModel::WalkBinary(const double* x, int32_t* leaves) const {
  const BinNode* nodes = bin_nodes_.data();
  const size_t nt = fast_roots_.size();
  for (size_t t = 0, b = 0; t < nt; t += kBatch, ++b) {
    const size_t m = std::min<size_t>(kBatch, nt - t);
    int32_t n[kBatch];
    for (size_t j = 0; j < m; ++j) n[j] = fast_roots_[t + j];
    const int d = batch_depth_[b];
    if (m == kBatch) {
      for (int s = 0; s < d; ++s) {
        for (int j = 0; j < kBatch; ++j) {
          const BinNode& nd = nodes[n[j]];
          n[j] = nd.next + !SplitCond<kMode>(nd.mode, x[nd.feat], nd.thr);
        }
      }
    } else {
      for (int s = 0; s < d; ++s) {
        for (size_t j = 0; j < m; ++j) {
          const BinNode& nd = nodes[n[j]];
          n[j] = nd.next + !SplitCond<kMode>(nd.mode, x[nd.feat], nd.thr);
        }
      }
    }
    for (size_t j = 0; j < m; ++j) leaves[t + j] = bin_leaf_[n[j]];
  }
}

// The forest fast path; false when this record needs the generic path.
bool MiningModel::EvaluateFast(EvalContext& ctx, ModelResult* result) const {
  const size_t nf = fast_slots_.size();
  constexpr size_t kStack = 512;
  double stack_x[kStack + 1];
  // Wide models use a per-thread buffer, one per nesting level: reading a
  // slot may evaluate another model that takes this path too.
  thread_local std::vector<std::vector<double>> heap_x;
  thread_local size_t depth = 0;
  struct DepthGuard {
    size_t* d;
    explicit DepthGuard(size_t* p) : d(p) { ++*d; }
    ~DepthGuard() { --*d; }
  } guard(&depth);
  double* x = stack_x;
  if (nf > kStack) {
    if (heap_x.size() < depth) heap_x.resize(depth);
    std::vector<double>& buf = heap_x[depth - 1];
    if (buf.size() < nf + 1) buf.resize(nf + 1);
    x = buf.data();
  }
  for (size_t i = 0; i < nf; ++i) {
    const Value& v = ctx.Get(fast_slots_[i]);
    if (v.kind != Value::Kind::kNumber && v.kind != Value::Kind::kBool) return false;
    if (std::isnan(v.num)) return false;
    x[i] = v.num;
  }
  x[nf] = 0;  // read by the binary forest's leaves
  if (ctx.failed()) return false;

  const FastNode* nodes = fast_nodes_.data();
  const size_t nt = fast_roots_.size();
  const bool weighted = IsWeighted(method_);
  const size_t nl = labels_.size();

  // Leaves of every tree first (the generic path is taken on any dead end).
  int32_t leaf_small[256];
  thread_local std::vector<int32_t> leaf_big;  // large forests; grows once per thread
  int32_t* leaves = leaf_small;
  if (nt > 256) {
    if (leaf_big.size() < nt) leaf_big.resize(nt);
    leaves = leaf_big.data();
  }
  bool walked = false;
  if (!bin8_.empty()) {
    float xf[256];
    bool exact = true;
    for (size_t i = 0; i <= nf; ++i) {
      xf[i] = static_cast<float>(x[i]);
      exact &= static_cast<double>(xf[i]) == x[i];
    }
    if (exact) {
      walked = true;
      switch (bin_mode_) {
        case 0: WalkBinary8<0>(xf, leaves); break;
        case 1: WalkBinary8<1>(xf, leaves); break;
        case 2: WalkBinary8<2>(xf, leaves); break;
        case 4: WalkBinary8<4>(xf, leaves); break;
        case 5: WalkBinary8<5>(xf, leaves); break;
        default: WalkBinary8<6>(xf, leaves); break;
      }
    }
  }
  if (!bin_nodes_.empty() && !walked) {
    switch (bin_mode_) {
      case 0: WalkBinary<0>(x, leaves); break;
      case 1: WalkBinary<1>(x, leaves); break;
      case 4: WalkBinary<4>(x, leaves); break;
      case 5: WalkBinary<5>(x, leaves); break;
      default: WalkBinary<-1>(x, leaves); break;
    }
  }
  for (size_t t = 0; t < nt && bin_nodes_.empty(); ++t) {
    int32_t n = fast_roots_[t];
    const FastNode* r = &nodes[n];
    if (!r->ptrue && !Cmp(r->pop, x[r->pfeat], r->pthr)) return false;
    while (true) {
      const FastNode& f = nodes[n];
      if (f.kind == 1) {
        n = Cmp(f.op, x[f.feat], f.thr) ? f.a : f.b;
      } else if (f.kind == 0) {
        break;
      } else {
        int32_t c = f.a, end = f.a + f.b;
        for (; c < end; ++c) {
          const FastNode& cn = nodes[c];
          if (cn.ptrue || Cmp(cn.pop, x[cn.pfeat], cn.pthr)) break;
        }
        if (c == end) return false;  // no true child: noTrueChildStrategy on the generic path
        n = c;
      }
    }
    leaves[t] = nodes[n].a;
  }
  if (fast_dead_ends_) {
    for (size_t t = 0; t < nt; ++t) {
      if (leaves[t] < 0) return false;  // no true child: the generic path applies the strategy
    }
  }

  if (fast_kind_ == 1) {
    double sum = 0, wsum = 0;
    if (float_math_) {
      float fs = 0, fw = 0;
      for (size_t t = 0; t < nt; ++t) {
        float v = static_cast<float>(fast_values_[leaves[t]]);
        if (weighted) {
          float w = static_cast<float>(fast_weights_[t]);
          fs += w * v;
          fw += w;
        } else {
          fs += v;
        }
      }
      sum = fs;
      wsum = fw;
    } else {
      for (size_t t = 0; t < nt; ++t) {
        double v = fast_values_[leaves[t]];
        if (weighted) {
          sum += fast_weights_[t] * v;
          wsum += fast_weights_[t];
        } else {
          sum += v;
        }
      }
    }
    double y = sum;
    if (method_ == Method::kAverage) {
      y = float_math_ ? static_cast<double>(static_cast<float>(sum) / static_cast<float>(nt))
                      : sum / static_cast<double>(nt);
    } else if (method_ == Method::kWeightedAverage) {
      if (wsum == 0) return false;
      y = float_math_ ? static_cast<double>(static_cast<float>(sum) / static_cast<float>(wsum))
                      : sum / wsum;
    }
    result->predicted.SetNumber(y, float_math_ ? DataType::kFloat : DataType::kDouble);
    return true;
  }

  result->labels = &labels_;
  result->probabilities.assign(nl, 0.0);
  double* acc = result->probabilities.data();
  if (fast_kind_ == 2) {
    absl::InlinedVector<int, 32> order(nl, 0);
    int seq = 0;
    double total = 0;
    for (size_t t = 0; t < nt; ++t) {
      int li = fast_labels_[leaves[t]];
      double w = method_ == Method::kWeightedMajorityVote ? fast_weights_[t] : 1.0;
      if (order[li] == 0) order[li] = ++seq;
      acc[li] += w;
      total += w;
    }
    if (total != 1.0) {
      if (total == 0) return false;
      for (size_t k = 0; k < nl; ++k) acc[k] /= total;
    }
    FinishClassification(result, order.data());
    return true;
  }
  // Average of probability distributions.
  double wsum = 0;
  if (nl == 2) {
    // Binary classifiers: the sums in registers (same additions, same order).
    double a0 = 0, a1 = 0;
    if (method_ == Method::kWeightedAverage) {
      for (size_t t = 0; t < nt; ++t) {
        const double* p = fast_probs_.data() + static_cast<size_t>(leaves[t]) * 2;
        double w = fast_weights_[t];
        a0 += w * p[0];
        a1 += w * p[1];
        wsum += w;
      }
    } else {
      for (size_t t = 0; t < nt; ++t) {
        const double* p = fast_probs_.data() + static_cast<size_t>(leaves[t]) * 2;
        a0 += p[0];
        a1 += p[1];
      }
    }
    acc[0] = a0;
    acc[1] = a1;
  }
  for (size_t t = 0; t < nt && nl != 2; ++t) {
    const double* p = fast_probs_.data() + static_cast<size_t>(leaves[t]) * nl;
    if (method_ == Method::kWeightedAverage) {
      double w = fast_weights_[t];
      for (size_t k = 0; k < nl; ++k) acc[k] += w * p[k];
      wsum += w;
    } else {
      for (size_t k = 0; k < nl; ++k) acc[k] += p[k];
    }
  }
  double div = method_ == Method::kWeightedAverage ? wsum : static_cast<double>(nt);
  if (div == 0) return false;
  for (size_t k = 0; k < nl; ++k) acc[k] /= div;
  FinishClassification(result, nullptr);
  return true;
}

// Sets the predicted label: the highest probability; ties go to the label
// with the smallest `order` (first vote), else the first label.
void MiningModel::FinishClassification(ModelResult* result, const int* order) const {
  const std::vector<double>& p = result->probabilities;
  int best = -1;
  for (size_t k = 0; k < p.size(); ++k) {
    if (order != nullptr && order[k] == 0) continue;
    if (best < 0 || p[k] > p[best] ||
        (p[k] == p[best] && order != nullptr && order[k] < order[best])) {
      best = static_cast<int>(k);
    }
  }
  if (best >= 0) result->predicted = labels_[best];
}

bool MiningModel::AddProbabilities(const Segment& seg, const ModelResult& r, double w, double* acc,
                                   EvalContext& ctx) const {
  if (r.labels == nullptr || r.probabilities.empty()) {
    ctx.Fail(absl::InvalidArgumentError(
        absl::StrCat("MiningModel: segment ", seg.id, " gives no probabilities to combine")));
    return false;
  }
  const std::vector<Value>& rl = *r.labels;
  bool mapped = r.labels == seg.seg_labels && seg.label_map.size() == rl.size();
  for (size_t k = 0; k < rl.size() && k < r.probabilities.size(); ++k) {
    int li = mapped ? seg.label_map[k] : FindLabel(labels_, rl[k]);
    if (li >= 0) acc[li] += w * r.probabilities[k];
  }
  return true;
}

void MiningModel::CopySegmentResult(const Segment& seg, const ModelResult& r,
                                    ModelResult* result) const {
  *result = r;
  result->entity_id = seg.id_value;  // "entityId returns the id of the winning segment"
}

void MiningModel::Evaluate(EvalContext& ctx, ModelResult* result) const {
  if (!fast_roots_.empty()) {
    if (EvaluateFast(ctx, result)) return;
    if (ctx.failed()) return;
    result->Reset();
  }
  EvaluateGeneric(ctx, result);
}

void MiningModel::EvaluateGeneric(EvalContext& ctx, ModelResult* result) const {
  const size_t nl = labels_.size();
  // Aggregation state.
  double sum = 0, wsum = 0;
  float fsum = 0, fwsum = 0;
  int count = 0;
  double active_weight = 0, missing_weight = 0, missing_votes = 0;
  bool any_missing = false;
  absl::InlinedVector<int, 32> order;
  int seq = 0;
  std::vector<std::pair<double, double>> values;       // median / max (value, weight)
  std::vector<std::pair<const Segment*, const ModelResult*>> kept;  // classification median/max
  const ModelResult* last = nullptr;
  const Segment* last_seg = nullptr;
  int selected = 0;

  const bool vote = method_ == Method::kMajorityVote || method_ == Method::kWeightedMajorityVote;
  const bool prob_avg =
      classification_ && (method_ == Method::kAverage || method_ == Method::kWeightedAverage);
  if (vote || prob_avg) {
    result->probabilities.assign(nl, 0.0);
    order.assign(nl, 0);
  }

  for (const Segment& seg : segments_) {
    if (!seg.always_true) {
      Tri t = seg.predicate->Test(ctx);
      if (ctx.failed()) return;
      if (t != Tri::kTrue) continue;
    }
    const ModelResult& r = seg.plan->Evaluate(ctx);
    if (ctx.failed()) return;
    const bool missing = r.predicted.missing();
    active_weight += seg.weight;
    if (missing && missing_ == MissingTreatment::kReturnMissing) {
      result->Reset();
      return;
    }
    switch (method_) {
      case Method::kSelectFirst:
        if (missing && missing_ == MissingTreatment::kSkipSegment) continue;
        CopySegmentResult(seg, r, result);
        return;
      case Method::kSelectAll:
        ++selected;
        last = &r;
        last_seg = &seg;
        continue;
      case Method::kModelChain:
      case Method::kMultiModelChain:
        last = &r;
        last_seg = &seg;
        continue;
      default:
        break;
    }
    if (missing) {
      any_missing = true;
      missing_weight += seg.weight;
      if (vote && missing_ == MissingTreatment::kContinue) {
        missing_votes += method_ == Method::kWeightedMajorityVote ? seg.weight : 1.0;
      }
      if (!vote && missing_ == MissingTreatment::kContinue) {
        result->Reset();  // a missing prediction makes the aggregate missing
        return;
      }
      continue;
    }
    if (vote) {
      const int li = FindLabel(labels_, r.predicted);
      if (li < 0) {
        ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
            "MiningModel: segment ", seg.id, " predicts \"", FormatValue(r.predicted),
            "\", which is not a known class label")));
        return;
      }
      double w = method_ == Method::kWeightedMajorityVote ? seg.weight : 1.0;
      if (order[li] == 0) order[li] = ++seq;
      result->probabilities[li] += w;
      sum += w;
      continue;
    }
    if (prob_avg) {
      double w = method_ == Method::kWeightedAverage ? seg.weight : 1.0;
      if (!AddProbabilities(seg, r, w, result->probabilities.data(), ctx)) return;
      wsum += w;
      ++count;
      continue;
    }
    if (classification_) {  // median / max of probabilities
      if (r.labels == nullptr || r.probabilities.empty()) {
        ctx.Fail(absl::InvalidArgumentError(
            absl::StrCat("MiningModel: segment ", seg.id, " gives no probabilities to combine")));
        return;
      }
      kept.emplace_back(&seg, &r);
      continue;
    }
    // Regression.
    double v;
    if (r.predicted.is_number() || r.predicted.is_bool()) {
      v = r.predicted.num;
    } else {
      Value d;
      if (!ConvertValue(r.predicted, DataType::kDouble, &d).ok() || !d.is_number()) {
        ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
            "MiningModel: segment ", seg.id, " prediction \"", FormatValue(r.predicted),
            "\" is not a number")));
        return;
      }
      v = d.num;
    }
    switch (method_) {
      case Method::kSum:
      case Method::kAverage:
        if (float_math_) {
          fsum += static_cast<float>(v);
        } else {
          sum += v;
        }
        ++count;
        break;
      case Method::kWeightedSum:
      case Method::kWeightedAverage:
        if (float_math_) {
          fsum += static_cast<float>(seg.weight) * static_cast<float>(v);
          fwsum += static_cast<float>(seg.weight);
        } else {
          sum += seg.weight * v;
          wsum += seg.weight;
        }
        ++count;
        break;
      default:
        values.emplace_back(v, seg.weight);
        ++count;
        break;
    }
  }

  switch (method_) {
    case Method::kSelectFirst:
      return;  // no active segment
    case Method::kSelectAll:
      if (selected > 1) {
        ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
            "MiningModel: selectAll gives ", selected,
            " results (one per active segment); a single value is required")));
        return;
      }
      if (last != nullptr) CopySegmentResult(*last_seg, *last, result);
      return;
    case Method::kModelChain:
    case Method::kMultiModelChain:
      if (last != nullptr) CopySegmentResult(*last_seg, *last, result);
      return;
    default:
      break;
  }
  // missingThreshold: too large a share of missing predictions gives a missing result.
  if (any_missing && active_weight > 0 && missing_weight / active_weight > missing_threshold_) {
    result->Reset();
    return;
  }

  if (vote) {
    if (missing_votes > 0) {
      double max_votes = 0;
      for (size_t k = 0; k < nl; ++k) max_votes = std::max(max_votes, result->probabilities[k]);
      if (seq == 0 || missing_votes > max_votes) {
        result->Reset();
        return;
      }
    }
    if (seq == 0) {
      result->Reset();
      return;
    }
    if (sum != 1.0) {
      if (sum == 0) {
        ctx.Fail(absl::InvalidArgumentError("MiningModel: the votes sum to 0"));
        return;
      }
      for (size_t k = 0; k < nl; ++k) result->probabilities[k] /= sum;
    }
    result->labels = &labels_;
    FinishClassification(result, order.data());
    return;
  }
  if (prob_avg) {
    double div = method_ == Method::kWeightedAverage ? wsum : static_cast<double>(count);
    if (count == 0) {
      result->Reset();
      return;
    }
    if (div == 0) {
      ctx.Fail(absl::InvalidArgumentError("MiningModel: the segment weights sum to 0"));
      return;
    }
    for (size_t k = 0; k < nl; ++k) result->probabilities[k] /= div;
    result->labels = &labels_;
    FinishClassification(result, nullptr);
    return;
  }
  if (classification_) {
    // median / max: pick the winning label by the per-label median (max) of
    // the probabilities, then average the distributions of the segments
    // closest to it (JPMML's rule).
    if (kept.empty()) return;
    std::vector<std::vector<double>> aligned(kept.size(), std::vector<double>(nl, 0.0));
    for (size_t i = 0; i < kept.size(); ++i) {
      if (!AddProbabilities(*kept[i].first, *kept[i].second, 1.0, aligned[i].data(), ctx)) return;
    }
    int best = -1;
    double best_v = 0;
    std::vector<double> col(kept.size());
    for (size_t k = 0; k < nl; ++k) {
      for (size_t i = 0; i < kept.size(); ++i) col[i] = aligned[i][k];
      double v;
      if (method_ == Method::kMax) {
        v = *std::max_element(col.begin(), col.end());
      } else {
        std::sort(col.begin(), col.end());
        size_t n = col.size();
        v = n % 2 == 1 ? col[n / 2] : (col[n / 2 - 1] + col[n / 2]) / 2;
      }
      if (best < 0 || v > best_v) {
        best = static_cast<int>(k);
        best_v = v;
      }
    }
    std::vector<size_t> contributors;
    double min_diff = INFINITY;
    for (size_t i = 0; i < kept.size(); ++i) {
      double d = std::fabs(best_v - aligned[i][best]);
      if (method_ == Method::kMax) {
        if (d == 0) contributors.push_back(i);
        continue;
      }
      if (d < min_diff) {
        contributors.clear();
        min_diff = d;
      }
      if (d <= min_diff) contributors.push_back(i);
    }
    result->probabilities.assign(nl, 0.0);
    for (size_t i : contributors) {
      for (size_t k = 0; k < nl; ++k) result->probabilities[k] += aligned[i][k];
    }
    for (double& p : result->probabilities) p /= static_cast<double>(contributors.size());
    result->labels = &labels_;
    FinishClassification(result, nullptr);
    return;
  }

  // Regression.
  if (count == 0) return;
  double y = 0;
  switch (method_) {
    case Method::kSum:
      y = float_math_ ? fsum : sum;
      break;
    case Method::kWeightedSum:
      y = float_math_ ? fsum : sum;
      break;
    case Method::kAverage:
      y = float_math_ ? static_cast<double>(fsum / static_cast<float>(count))
                      : sum / static_cast<double>(count);
      break;
    case Method::kWeightedAverage:
      if ((float_math_ ? fwsum : wsum) == 0) {
        ctx.Fail(absl::InvalidArgumentError("MiningModel: the segment weights sum to 0"));
        return;
      }
      y = float_math_ ? static_cast<double>(fsum / fwsum) : sum / wsum;
      break;
    case Method::kMedian: {
      std::vector<double> v;
      v.reserve(values.size());
      for (auto& p : values) v.push_back(p.first);
      std::sort(v.begin(), v.end());
      size_t n = v.size();
      y = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
      break;
    }
    case Method::kWeightedMedian: {
      std::stable_sort(values.begin(), values.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      double total = 0;
      for (auto& p : values) total += p.second;
      double half = 0.5 * total, acc = 0;
      y = values.back().first;
      for (auto& p : values) {
        acc += p.second;
        if (acc >= half) {
          y = p.first;
          break;
        }
      }
      break;
    }
    case Method::kMax: {
      y = values[0].first;
      for (auto& p : values) y = std::max(y, p.first);
      break;
    }
    default:
      ctx.Fail(absl::InvalidArgumentError("MiningModel: multipleModelMethod not valid here"));
      return;
  }
  result->predicted.SetNumber(y, float_math_ ? DataType::kFloat : DataType::kDouble);
}

bool MiningModel::Feature(const OutputFeatureSpec& spec, EvalContext& ctx,
                          const ModelResult& result, Value* out) const {
  if (spec.segment_id.empty()) return false;
  for (const Segment& seg : segments_) {
    if (seg.id != spec.segment_id) continue;
    OutputFeatureSpec inner = spec;
    inner.segment_id.clear();
    seg.plan->Feature(inner, ctx, out);
    return true;
  }
  out->SetMissing();
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileMiningModel(const ModelCompileArgs& args) {
  ASSIGN_OR_RETURN(std::unique_ptr<MiningModel> m, MiningModel::Compile(args));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace evs::pmml
