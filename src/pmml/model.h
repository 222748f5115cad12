#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/plan.h"
#include "pmml/value.h"
#include "pugixml.hpp"

// The contract between the core compiler (MiningSchema, LocalTransformations,
// Targets, Output; core/model_plan.cc) and the model families (tree.cc,
// regression.cc, ...).
//
// A family compiles the body of its model element into a Model. The core
// wraps every model element (top level or nested in a Segment) in a
// ModelPlan: it first defines the model's fields in a new Scope (MiningSchema
// views with missing/invalid/outlier treatment, LocalTransformations), then
// calls the family's compile function with that scope, then applies Targets
// to the body's raw result and computes the OutputFields. Families never see
// names at evaluation time, only slots.

namespace evs::pmml {

enum class MiningFunction : uint8_t {
  kRegression,
  kClassification,
  kClustering,
  kAssociationRules,
  kSequences,
  kTimeSeries,
  kMixed,
};
absl::StatusOr<MiningFunction> ParseMiningFunction(std::string_view name);

// The target of a model: the MiningField with usageType target/predicted
// (first one when there are several), with DataDictionary details.
struct TargetInfo {
  std::string name;  // empty: the model has no target field
  SlotId slot = kNoSlot;
  DataType type = DataType::kDouble;
  OpType optype = OpType::kContinuous;
  std::vector<Value> categories;  // valid values of a categorical target, document order
};

// The raw result of one model evaluation. Lives in EvalContext and is reused
// across records: clear with Reset(), which keeps vector capacity, so
// numeric models do not allocate per record.
struct ModelResult {
  // The predicted value (regression value, class label, cluster id, ...).
  // Missing = no prediction.
  Value predicted;

  // Classification: probability per label, parallel to *labels (owned by the
  // Model and stable). Clustering: one entry per cluster with its affinity
  // (distance or similarity as the model defines it); labels are the
  // cluster ids. Empty when the model gives none.
  const std::vector<Value>* labels = nullptr;
  std::vector<double> probabilities;
  // True when `probabilities` are confidences/scores rather than
  // probabilities that sum to 1 (kept for output feature "probability" all the same).
  bool scores_not_probabilities = false;

  // Tree node id, cluster id, winning rule id, etc. (output "entityId").
  Value entity_id;
  // Clustering: 1-based index of the winning cluster; 0 when not
  // clustering. Output "clusterId" is entity_id when set (JPMML: the
  // cluster's id), else this index.
  int cluster_index = 0;
  // Output "affinity" without rank (winning cluster / neighbor / rule).
  double affinity = NAN;
  // Ranked results (k-NN neighbors, rules, clusters) for rank-based outputs.
  std::vector<Value> ranked_ids;
  std::vector<double> ranked_scores;
  // Scorecard: reason codes, best first (output "reasonCode" with rank).
  std::vector<std::string> reason_codes;
  // GLM / regression: output "standardError".
  double standard_error = NAN;
  // Output "predictedDisplayValue" when the model defines one (tree nodes
  // without a Targets display value); empty = use the default.
  std::string display_value;
  // Output "warning".
  std::string warning;
  // Output "confidence": per label, parallel to *labels (tree nodes with
  // ScoreDistribution confidence). Empty when the model gives none.
  std::vector<double> confidences;

  void Reset() {
    predicted.SetMissing();
    labels = nullptr;
    probabilities.clear();
    scores_not_probabilities = false;
    entity_id.SetMissing();
    cluster_index = 0;
    affinity = NAN;
    ranked_ids.clear();
    ranked_scores.clear();
    reason_codes.clear();
    standard_error = NAN;
    display_value.clear();
    warning.clear();
    confidences.clear();
  }

  // Probability of `label` (compared with ValuesEqual); NaN when unknown.
  double ProbabilityOf(const Value& label) const;
};

// One OutputField of a model, parsed. The core computes the standard
// features from ModelResult; a Model may take over any feature via
// Model::Feature (rule models do for ruleValue and rank-based features).
struct OutputFeatureSpec {
  std::string name;
  std::string feature;  // "predictedValue", "probability", "ruleValue", ...
  Value value;          // the value attribute (class for probability), missing when absent
  int rank = 1;
  std::string rule_feature;     // ruleFeature attribute ("consequent", ...)
  std::string algorithm;        // "recommendation", "exclusiveRecommendation", "ruleAssociation"
  std::string rank_basis;       // "confidence", "support", ...
  std::string rank_order;       // "descending" / "ascending"
  bool multi_valued = false;    // isMultiValued
  std::string segment_id;       // segmentId attribute (MiningModel), empty when absent
  DataType type = DataType::kDouble;
  OpType optype = OpType::kContinuous;
  pugi::xml_node element;
};

// A model body that is one linear function of numeric inputs, described for
// CompiledModel's whole-record shortcut (see Model::DescribeLinear).
struct LinearBody {
  std::vector<SlotId> slots;  // inputs, in summation order
  std::vector<double> coefs;  // parallel to slots: sum += coefs[j] * x[j], from 0
  double intercept = 0;       // then y = sum + intercept when intercept != 0
  size_t n_values = 1;        // values handed to FinishLinear: y at `index`, 0 elsewhere
  size_t index = 0;
  bool classification = false;  // FinishLinear yields class probabilities (labels())
};

class Model {
 public:
  virtual ~Model() = default;

  // Describes the body when Evaluate computes exactly: read every slot of
  // out->slots as a number (none missing), sum as LinearBody says, then
  // FinishLinear. False (the default) for every other body.
  virtual bool DescribeLinear(LinearBody* out) const { return false; }
  // The step after the sum, as Evaluate does it: for classification, turns
  // the n_values values into probabilities in place (false when they are
  // undefined: Evaluate fails the record then) and sets *best to the
  // predicted class (-1: none); for regression, p[0] becomes the predicted
  // value.
  virtual bool FinishLinear(double* p, size_t n, int* best) const { return false; }

  // Evaluates the model body for the current record into `result` (which
  // the caller has Reset()). Inputs are read from slots through `ctx`.
  // Per-record failures go to ctx.Fail(); then leave the prediction missing.
  virtual void Evaluate(EvalContext& ctx, ModelResult* result) const = 0;

  // Model-specific output features. Return true and set `out` (missing is
  // allowed) when this model handles `spec.feature`; false to let the core
  // compute it from the ModelResult.
  virtual bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx,
                       const ModelResult& result, Value* out) const {
    return false;
  }

  // Labels of a classification model in the order its probabilities use.
  virtual const std::vector<Value>* labels() const { return nullptr; }
};

class ModelPlan;

struct ModelCompileArgs {
  pugi::xml_node element;  // the model element: TreeModel, RegressionModel, ...
  Scope* scope = nullptr;  // the model's scope (MiningSchema + LocalTransformations defined)
  PlanBuilder* builder = nullptr;
  MiningFunction function = MiningFunction::kRegression;
  const TargetInfo* target = nullptr;  // never null; target->name empty when no target
  // Compiles a nested model element (a Segment's model) as a full ModelPlan
  // whose scope's parent is `parent`. Used by MiningModel.
  std::function<absl::StatusOr<const ModelPlan*>(pugi::xml_node model_element, Scope* parent)>
      compile_nested;
};

// A compiled model element with its MiningSchema, Targets and Output: the
// unit the core builds for the top-level model and for every segment.
class ModelPlan {
 public:
  virtual ~ModelPlan() = default;
  // The model's final result for the current record (body + Targets),
  // computed once per record and cached in ctx.
  virtual const ModelResult& Evaluate(EvalContext& ctx) const = 0;
  virtual MiningFunction function() const = 0;
  virtual const TargetInfo& target() const = 0;
  // OutputFields of this model as slots (all of them, isFinalResult or not).
  virtual const std::vector<FieldInfo>& output_fields() const = 0;
  virtual const Model& body() const = 0;
  // Value of `spec` for the current record (Model::Feature, then the
  // standard features). Used by MiningModel for segment outputs.
  virtual void Feature(const OutputFeatureSpec& spec, EvalContext& ctx, Value* out) const = 0;
};

// Family compile functions. Each returns a clear error naming the element
// for anything unsupported or inconsistent.
using ModelCompiler = absl::StatusOr<std::unique_ptr<Model>> (*)(const ModelCompileArgs&);

absl::StatusOr<std::unique_ptr<Model>> CompileTreeModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileMiningModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileRegressionModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileGeneralRegressionModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileNeuralNetwork(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileNaiveBayesModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileSupportVectorMachineModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileClusteringModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileNearestNeighborModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileScorecard(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileRuleSetModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileAssociationModel(const ModelCompileArgs& args);
absl::StatusOr<std::unique_ptr<Model>> CompileAnomalyDetectionModel(const ModelCompileArgs& args);

// The compile function for a model element's local name, or nullptr when it
// is not a model element we know.
ModelCompiler FindModelCompiler(std::string_view element_name);

// Test hook: FindModelCompiler returns `compiler` for `element_name` ahead of
// the built-in families (nullptr removes the override). For unit tests that
// need a tiny model; not thread-safe, call before Load().
void RegisterModelCompilerForTesting(std::string_view element_name, ModelCompiler compiler);

}  // namespace evs::pmml
