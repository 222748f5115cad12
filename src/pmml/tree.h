#pragma once

// Internal to tree.cc and mining.cc: the flat, compiled form of a TreeModel.
// mining.cc reads it to build the forest fast path.

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/expr.h"
#include "pmml/model.h"
#include "pmml/plan.h"
#include "pmml/value.h"

namespace evs::pmml {

enum class TreeMissingStrategy : uint8_t {
  kNone,
  kLastPrediction,
  kNullPrediction,
  kDefaultChild,
  kWeightedConfidence,
  kAggregateNodes,
};

// One Node. Children of a node are contiguous: [first_child, first_child + num_children),
// in document order (the evaluation order of PMML).
struct TreeNode {
  // The node's own predicate. kNumeric: a SimplePredicate on a numeric field
  // inlined as (slot, op, threshold); `predicate` is still set and is used
  // when the slot holds a non-number.
  enum class Pred : uint8_t { kTrue, kFalse, kNumeric, kGeneric };
  Pred pred = Pred::kTrue;
  CompareOp op = CompareOp::kEqual;
  SlotId slot = kNoSlot;
  double threshold = 0;
  const Predicate* predicate = nullptr;

  int32_t first_child = 0;
  int32_t num_children = 0;
  int32_t default_child = -1;  // absolute node index; -1 when absent/unresolved

  bool has_score = false;
  Value score;              // the score attribute, parsed as the target type
  double score_num = NAN;   // numeric score (regression trees)
  int32_t label = -1;       // classification: index of `score` in labels(); -1 if none
  int32_t dist = -1;        // offset of this node's probabilities (labels().size() doubles)
  bool dist_undefined = false;  // ScoreDistribution whose counts sum to 0
  int32_t conf = -1;        // offset of this node's confidences (NaN where absent)
  int32_t counts = -1;      // offset of raw record counts per label (aggregateNodes)
  double record_count = NAN;  // recordCount attribute, else the ScoreDistribution total
  Value entity_id;          // id attribute, else the 1-based document-order index
};

class TreeModel : public Model {
 public:
  static absl::StatusOr<std::unique_ptr<TreeModel>> Compile(const ModelCompileArgs& args);

  void Evaluate(EvalContext& ctx, ModelResult* result) const override;
  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override;
  const std::vector<Value>* labels() const override {
    return classification_ ? &labels_ : nullptr;
  }

  const std::vector<TreeNode>& nodes() const { return nodes_; }
  const double* probabilities(const TreeNode& n) const {
    return n.dist < 0 ? nullptr : probs_.data() + n.dist;
  }
  bool classification() const { return classification_; }
  bool float_math() const { return float_math_; }
  TreeMissingStrategy missing_strategy() const { return missing_; }
  bool return_last_on_no_true_child() const { return no_true_last_; }

 private:
  TreeModel() = default;
  Tri Test(const TreeNode& n, EvalContext& ctx) const;
  // The selected node (-1: no prediction) and how many missing levels were crossed.
  int Find(EvalContext& ctx, int* missing_levels) const;
  void Fill(int node, int missing_levels, EvalContext& ctx, ModelResult* result) const;
  void EvaluateAggregate(EvalContext& ctx, ModelResult* result) const;
  void Visit(int node, double weight, EvalContext& ctx, ModelResult* result, double* total,
             double* score_sum, int* leaves, int* last_leaf) const;

  bool classification_ = false;
  bool float_math_ = false;
  DataType target_type_ = DataType::kDouble;
  TreeMissingStrategy missing_ = TreeMissingStrategy::kNone;
  bool no_true_last_ = false;
  double missing_penalty_ = 1.0;
  std::vector<TreeNode> nodes_;
  std::vector<Value> labels_;
  std::vector<double> probs_;
  std::vector<double> confs_;
  std::vector<double> counts_;
  std::vector<std::unique_ptr<Predicate>> predicates_;
};

}  // namespace evs::pmml
