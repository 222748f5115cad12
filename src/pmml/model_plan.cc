// The core's part of every model element: MiningSchema views (missing,
// invalid and outlier treatment), LocalTransformations, Targets and Output.
// The model body is compiled by the family compiler FindModelCompiler returns.

#include "pmml/model_plan.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"

namespace evs::pmml {
namespace {
std::string Msg(const absl::Status& s) { return std::string(s.message()); }
}  // namespace

absl::StatusOr<MiningFunction> ParseMiningFunction(std::string_view name) {
  if (name == "regression") return MiningFunction::kRegression;
  if (name == "classification") return MiningFunction::kClassification;
  if (name == "clustering") return MiningFunction::kClustering;
  if (name == "associationRules") return MiningFunction::kAssociationRules;
  if (name == "sequences") return MiningFunction::kSequences;
  if (name == "timeSeries") return MiningFunction::kTimeSeries;
  if (name == "mixed") return MiningFunction::kMixed;
  return absl::InvalidArgumentError(absl::StrCat("unknown functionName '", AV(name), "'"));
}

double ModelResult::ProbabilityOf(const Value& label) const {
  if (labels == nullptr) return NAN;
  const size_t n = std::min(labels->size(), probabilities.size());
  for (size_t i = 0; i < n; ++i) {
    if (ValuesEqual((*labels)[i], label)) return probabilities[i];
  }
  return NAN;
}

namespace {

absl::flat_hash_map<std::string, ModelCompiler>& TestCompilers() {
  static auto* m = new absl::flat_hash_map<std::string, ModelCompiler>();
  return *m;
}

}  // namespace

void RegisterModelCompilerForTesting(std::string_view element_name, ModelCompiler compiler) {
  if (compiler == nullptr) {
    TestCompilers().erase(std::string(element_name));
  } else {
    TestCompilers()[std::string(element_name)] = compiler;
  }
}

ModelCompiler FindModelCompiler(std::string_view name) {
  if (!TestCompilers().empty()) {
    auto it = TestCompilers().find(std::string(name));
    if (it != TestCompilers().end()) return it->second;
  }
  if (name == "TreeModel") return CompileTreeModel;
  if (name == "MiningModel") return CompileMiningModel;
  if (name == "RegressionModel") return CompileRegressionModel;
  if (name == "GeneralRegressionModel") return CompileGeneralRegressionModel;
  if (name == "NeuralNetwork") return CompileNeuralNetwork;
  if (name == "NaiveBayesModel") return CompileNaiveBayesModel;
  if (name == "SupportVectorMachineModel") return CompileSupportVectorMachineModel;
  if (name == "ClusteringModel") return CompileClusteringModel;
  if (name == "NearestNeighborModel") return CompileNearestNeighborModel;
  if (name == "Scorecard") return CompileScorecard;
  if (name == "RuleSetModel") return CompileRuleSetModel;
  if (name == "AssociationModel") return CompileAssociationModel;
  if (name == "AnomalyDetectionModel") return CompileAnomalyDetectionModel;
  return nullptr;
}

namespace {

bool HasAttr(pugi::xml_node el, const char* name) { return static_cast<bool>(el.attribute(name)); }

absl::StatusOr<double> NumberAttr(pugi::xml_node el, const char* name) {
  Value v;
  if (!ParseValue(el.attribute(name).value(), DataType::kDouble, &v).ok()) {
    return ElementError(el, absl::StrCat("attribute ", name, "=\"", el.attribute(name).value(),
                                         "\" is not a number"));
  }
  return v.num;
}

// Parses `text` as `type`; text that is not of the type stays a string.
Value LenientValue(std::string_view text, DataType type) {
  Value v;
  if (!ParseValue(text, type, &v).ok()) v.SetString(text);
  return v;
}

// ------------------------------------------------------------ MiningField views

enum class InvalidTreatment : uint8_t { kReturnInvalid, kAsIs, kAsMissing, kAsValue };
enum class Outliers : uint8_t { kAsIs, kAsMissing, kAsExtreme };

bool DataFieldHasConstraints(const DataFieldInfo* df) {
  return df != nullptr && (!df->valid_values.empty() || !df->invalid_values.empty() ||
                           !df->missing_values.empty() || !df->intervals.empty());
}

// One MiningField's treated view of its source slot.
class MiningFieldProducer : public SlotProducer {
 public:
  std::string name;
  SlotId source = kNoSlot;
  const DataFieldInfo* df = nullptr;
  InvalidTreatment invalid = InvalidTreatment::kReturnInvalid;
  Value invalid_replacement;
  bool has_missing_replacement = false;
  Value missing_replacement;
  bool missing_returns_invalid = false;
  Outliers outliers = Outliers::kAsIs;
  double low = -HUGE_VAL, high = HUGE_VAL;

  enum class State : uint8_t { kValid, kMissing, kInvalid };

  // The DataField's Value lists as hash maps (first declaration wins, as in
  // JPMML's document-order scan), so a record costs one lookup per field.
  absl::flat_hash_map<std::string, State> string_status;
  absl::flat_hash_map<double, State> number_status;  // never holds NaN (NaN != NaN)
  bool has_nan_status = false;
  State nan_status = State::kValid;  // a listed "NaN" value (XGBoost models list it as missing)
  bool has_lists = false;
  bool has_valid_values = false;

  void IndexValues() {
    if (df == nullptr) return;
    auto add = [&](const std::vector<Value>& values, State st) {
      for (const Value& v : values) {
        if (v.is_number() || v.is_bool()) {
          if (std::isnan(v.num)) {
            if (!has_nan_status) nan_status = st;
            has_nan_status = true;
          } else {
            number_status.emplace(v.num == 0 ? 0.0 : v.num, st);
          }
        } else if (!v.missing()) {
          string_status.emplace(FormatValue(v), st);
        }
      }
    };
    // Document order is lost across the three lists; a value listed twice
    // with different properties is contradictory anyway. Missing first.
    add(df->missing_values, State::kMissing);
    add(df->invalid_values, State::kInvalid);
    add(df->valid_values, State::kValid);
    has_lists = !number_status.empty() || !string_status.empty() || has_nan_status;
    has_valid_values = !df->valid_values.empty();
  }

  State Classify(const Value& in) const {
    if (in.missing()) return State::kMissing;
    if (df == nullptr) return in.kind == Value::Kind::kInvalid ? State::kInvalid : State::kValid;
    if (has_lists) {
      if (in.is_number() || in.is_bool()) {
        if (std::isnan(in.num)) {
          if (has_nan_status) return nan_status;
        } else {
          auto it = number_status.find(in.num == 0 ? 0.0 : in.num);
          if (it != number_status.end()) return it->second;
        }
      } else if (in.is_string() || in.kind == Value::Kind::kInvalid) {
        auto it = string_status.find(in.str);
        if (it != string_status.end()) return it->second;
      }
    }
    if (in.kind == Value::Kind::kInvalid) return State::kInvalid;
    if (df->optype == OpType::kContinuous && !df->intervals.empty()) {
      if (in.is_number()) {
        for (const Interval& iv : df->intervals)
          if (iv.Contains(in.num)) return State::kValid;
      }
      return State::kInvalid;
    }
    return has_valid_values ? State::kInvalid : State::kValid;
  }

  void Missing(EvalContext& ctx, Value* out) const {
    if (missing_returns_invalid) {
      ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat("field '", name, "': missing value (missingValueTreatment=returnInvalid)")));
      out->SetMissing();
    } else if (has_missing_replacement) {
      *out = missing_replacement;
    } else {
      out->SetMissing();
    }
  }

  void Produce(EvalContext& ctx, Value* out) const override {
    const Value& in = ctx.Get(source);
    switch (Classify(in)) {
      case State::kMissing:
        Missing(ctx, out);
        return;
      case State::kInvalid:
        switch (invalid) {
          case InvalidTreatment::kReturnInvalid:
            ctx.Fail(absl::InvalidArgumentError(
                absl::StrCat("field '", name, "': invalid value '", FormatValue(in), "'")));
            out->SetMissing();
            return;
          case InvalidTreatment::kAsMissing:
            Missing(ctx, out);
            return;
          case InvalidTreatment::kAsValue:
            *out = invalid_replacement;
            return;
          case InvalidTreatment::kAsIs:
            *out = in;
            if (out->kind == Value::Kind::kInvalid) {
              out->kind = Value::Kind::kString;
              out->type = DataType::kString;
            }
            return;
        }
        return;
      case State::kValid:
        break;
    }
    if (outliers != Outliers::kAsIs && in.is_number() && (in.num < low || in.num > high)) {
      if (outliers == Outliers::kAsMissing) {
        Missing(ctx, out);
      } else {
        out->SetNumber(in.num < low ? low : high, in.type);
      }
      return;
    }
    *out = in;
  }
};

// ------------------------------------------------------------ Targets

struct TargetSpec {
  bool present = false;
  double rescale_factor = 1, rescale_constant = 0;
  double min = -HUGE_VAL, max = HUGE_VAL;
  enum class Cast : uint8_t { kNone, kRound, kCeiling, kFloor } cast = Cast::kNone;
  bool has_default = false;
  double default_value = 0;
  std::vector<Value> values;          // TargetValue value attributes
  std::vector<std::string> displays;  // parallel displayValue ("" when none)
  std::vector<Value> prior_labels;
  std::vector<double> priors;
};

absl::Status ParseTargets(pugi::xml_node targets, const TargetInfo& target, TargetSpec* spec) {
  if (!targets) return absl::OkStatus();
  pugi::xml_node chosen;
  for (pugi::xml_node t = targets.first_child(); t; t = t.next_sibling()) {
    if (t.type() != pugi::node_element || LocalName(t) != "Target") continue;
    std::string_view field = t.attribute("field").value();
    if (field.empty() || field == target.name) {
      chosen = t;
      break;
    }
  }
  if (!chosen) return absl::OkStatus();
  spec->present = true;
  if (HasAttr(chosen, "rescaleFactor")) {
    ASSIGN_OR_RETURN(spec->rescale_factor, NumberAttr(chosen, "rescaleFactor"));
  }
  if (HasAttr(chosen, "rescaleConstant")) {
    ASSIGN_OR_RETURN(spec->rescale_constant, NumberAttr(chosen, "rescaleConstant"));
  }
  if (HasAttr(chosen, "min")) {
    ASSIGN_OR_RETURN(spec->min, NumberAttr(chosen, "min"));
  }
  if (HasAttr(chosen, "max")) {
    ASSIGN_OR_RETURN(spec->max, NumberAttr(chosen, "max"));
  }
  std::string_view cast = chosen.attribute("castInteger").value();
  if (cast == "round") {
    spec->cast = TargetSpec::Cast::kRound;
  } else if (cast == "ceiling") {
    spec->cast = TargetSpec::Cast::kCeiling;
  } else if (cast == "floor") {
    spec->cast = TargetSpec::Cast::kFloor;
  } else if (!cast.empty()) {
    return ElementError(chosen, absl::StrCat("unknown castInteger '", AV(cast), "'"));
  }
  const DataType label_type = target.name.empty() ? DataType::kString : target.type;
  for (pugi::xml_node tv = chosen.first_child(); tv; tv = tv.next_sibling()) {
    if (tv.type() != pugi::node_element || LocalName(tv) != "TargetValue") continue;
    if (HasAttr(tv, "defaultValue")) {
      spec->has_default = true;
      ASSIGN_OR_RETURN(spec->default_value, NumberAttr(tv, "defaultValue"));
    }
    if (HasAttr(tv, "value")) {
      Value v = LenientValue(tv.attribute("value").value(), label_type);
      spec->values.push_back(v);
      spec->displays.emplace_back(tv.attribute("displayValue").value());
      if (HasAttr(tv, "priorProbability")) {
        double p;
        ASSIGN_OR_RETURN(p, NumberAttr(tv, "priorProbability"));
        spec->prior_labels.push_back(v);
        spec->priors.push_back(p);
      }
    }
  }
  // Priors that do not sum to 1 are normalized.
  double sum = 0;
  for (double p : spec->priors) sum += p;
  if (!spec->priors.empty() && sum != 1.0) {
    if (sum <= 0) return ElementError(chosen, "prior probabilities sum to zero");
    for (double& p : spec->priors) p /= sum;
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ the ModelPlan

// Standard output features, resolved once at compile time.
enum class Feat : uint8_t {
  kPredictedValue,
  kPredictedDisplayValue,
  kTransformedValue,
  kProbability,
  kAffinity,
  kClusterId,
  kEntityId,
  kReasonCode,
  kStandardError,
  kWarning,
  kResidual,
  kOther,  // model-specific (ruleValue, ...) or unknown: missing unless Model::Feature handles it
};

Feat ParseFeat(std::string_view f) {
  if (f == "predictedValue") return Feat::kPredictedValue;
  if (f == "predictedDisplayValue") return Feat::kPredictedDisplayValue;
  if (f == "transformedValue" || f == "decision") return Feat::kTransformedValue;
  if (f == "probability" || f == "confidence") return Feat::kProbability;
  if (f == "affinity" || f == "entityAffinity" || f == "clusterAffinity") return Feat::kAffinity;
  if (f == "clusterId") return Feat::kClusterId;
  if (f == "entityId") return Feat::kEntityId;
  if (f == "reasonCode") return Feat::kReasonCode;
  if (f == "standardError") return Feat::kStandardError;
  if (f == "warning") return Feat::kWarning;
  if (f == "residual") return Feat::kResidual;
  return Feat::kOther;
}

class ModelPlanImpl;

void SetNumberOrMissing(double v, Value* out) {
  if (std::isnan(v)) {
    out->SetMissing();
  } else {
    out->SetNumber(v);
  }
}

// An OutputField's slot.
class OutputProducer : public SlotProducer {
 public:
  OutputProducer(const ModelPlanImpl* plan, OutputFeatureSpec spec, bool cast,
                 std::unique_ptr<Expr> expr)
      : plan_(plan),
        spec_(std::move(spec)),
        feat_(ParseFeat(spec_.feature)),
        cast_(cast),
        expr_(std::move(expr)) {}
  void Produce(EvalContext& ctx, Value* out) const override;

  // For probability outputs with a value: where that label sits in the
  // model's own label list, so the hot path needs no label comparison.
  const std::vector<Value>* body_labels_ = nullptr;
  int label_index_ = -1;

  // True when Produce is, for a body that computes no features itself,
  // r.probabilities[label_index_] as a double (missing when NaN).
  bool PlainProbability() const {
    return feat_ == Feat::kProbability && label_index_ >= 0 &&
           (!cast_ || spec_.type == DataType::kDouble);
  }

 private:
  const ModelPlanImpl* plan_;
  OutputFeatureSpec spec_;
  Feat feat_;
  bool cast_;
  std::unique_ptr<Expr> expr_;
};

class TargetProducer : public SlotProducer {
 public:
  explicit TargetProducer(const ModelPlanImpl* plan) : plan_(plan) {}
  void Produce(EvalContext& ctx, Value* out) const override;

 private:
  const ModelPlanImpl* plan_;
};

class ModelPlanImpl : public CoreModelPlan {
 public:
  const ModelResult& Evaluate(EvalContext& ctx) const override {
    ModelResult& r = ctx.model_result(index_);
    if (ctx.model_fresh(index_)) return r;
    r.Reset();
    body_->Evaluate(ctx, &r);
    ApplyTargets(&r);
    ctx.mark_model_fresh(index_);
    return r;
  }
  MiningFunction function() const override { return function_; }
  const TargetInfo& target() const override { return target_; }
  const std::vector<FieldInfo>& output_fields() const override { return output_fields_; }
  const Model& body() const override { return *body_; }
  void Feature(const OutputFeatureSpec& spec, EvalContext& ctx, Value* out) const override {
    const ModelResult& r = Evaluate(ctx);
    if (body_->Feature(spec, ctx, r, out)) return;
    StandardFeature(spec, ParseFeat(spec.feature), nullptr, ctx, r, out);
  }
  bool DescribeShortcutOutput(SlotId s, ShortcutOutput* out) const override;
  const std::vector<MiningFieldView>& mining_fields() const override { return mining_fields_; }
  const std::vector<OutputSlot>& output_slots() const override { return output_slots_; }
  SlotId target_output_slot() const override { return target_output_slot_; }
  void CollectOutputs(std::vector<OutputSlot>* out) const override;

  void StandardFeature(const OutputFeatureSpec& spec, Feat feat, const Expr* expr, EvalContext& ctx,
                       const ModelResult& r, Value* out) const;

  // Compile state.
  pugi::xml_node element_;
  Scope* scope_ = nullptr;
  int index_ = 0;
  MiningFunction function_ = MiningFunction::kRegression;
  TargetInfo target_;
  TargetSpec targets_;
  const Model* body_ = nullptr;
  std::vector<FieldInfo> output_fields_;
  std::vector<MiningFieldView> mining_fields_;
  std::vector<OutputSlot> output_slots_;
  SlotId target_output_slot_ = kNoSlot;
  SlotId observed_target_slot_ = kNoSlot;
  const DataFieldInfo* target_df_ = nullptr;  // owned by the Plan
  // The OutputField producers, by slot (for DescribeShortcutOutput).
  std::vector<std::pair<SlotId, const OutputProducer*>> output_producers_;
  // Segment models compiled through compile_nested, by model element.
  std::vector<std::pair<pugi::xml_node, const ModelPlanImpl*>> nested_;

 private:
  bool IsRegression() const {
    return function_ == MiningFunction::kRegression ||
           (function_ != MiningFunction::kClassification && target_.optype == OpType::kContinuous &&
            !target_.name.empty());
  }

  void ApplyTargets(ModelResult* r) const {
    if (function_ == MiningFunction::kClustering || function_ == MiningFunction::kAssociationRules)
      return;
    if (IsRegression()) {
      if (r->predicted.missing() && targets_.has_default) {
        r->predicted.SetNumber(targets_.default_value);  // then rescaled like a prediction
      }
      if (!r->predicted.is_number()) return;
      if (targets_.present) Rescale(r);
      // The result takes the target field's type (JPMML casts it too).
      if (target_.type == DataType::kFloat) {
        r->predicted.SetNumber(static_cast<double>(static_cast<float>(r->predicted.num)),
                               DataType::kFloat);
      } else if (target_.type == DataType::kInteger &&
                 r->predicted.num == std::trunc(r->predicted.num)) {
        r->predicted.type = DataType::kInteger;
      }
      return;
    }
    // Classification.
    if (r->predicted.missing() && r->probabilities.empty() && !targets_.priors.empty()) {
      r->labels = &targets_.prior_labels;
      r->probabilities.assign(targets_.priors.begin(), targets_.priors.end());
      size_t best = 0;
      for (size_t i = 1; i < targets_.priors.size(); ++i)
        if (targets_.priors[i] > targets_.priors[best]) best = i;
      r->predicted = targets_.prior_labels[best];
    }
    // Labels take the target field's type ("1" of a string-labelled tree -> integer 1).
    if (!target_.name.empty() && !r->predicted.missing()) {
      const bool numeric_target = IsNumeric(target_.type);
      if ((numeric_target && r->predicted.is_string()) ||
          (numeric_target && r->predicted.is_number() && r->predicted.type != target_.type) ||
          (!numeric_target && !r->predicted.is_string())) {
        Value& p = r->predicted;
        if (!ConvertValue(p, target_.type, &p).ok()) {
          // Keep the model's own label when it is not of the target's type.
        }
      }
    }
  }

  void Rescale(ModelResult* r) const {
    double v = r->predicted.num;
    if (v < targets_.min) v = targets_.min;
    if (v > targets_.max) v = targets_.max;
    v = v * targets_.rescale_factor + targets_.rescale_constant;
    DataType t = r->predicted.type;
    switch (targets_.cast) {
      case TargetSpec::Cast::kNone:
        break;
      case TargetSpec::Cast::kRound:
        v = std::floor(v + 0.5);  // half up, as Java's Math.round
        t = DataType::kInteger;
        break;
      case TargetSpec::Cast::kCeiling:
        v = std::ceil(v);
        t = DataType::kInteger;
        break;
      case TargetSpec::Cast::kFloor:
        v = std::floor(v);
        t = DataType::kInteger;
        break;
    }
    r->predicted.SetNumber(v, t);
  }
};

void ModelPlanImpl::CollectOutputs(std::vector<OutputSlot>* out) const {
  pugi::xml_node segmentation =
      LocalName(element_) == "MiningModel" ? Child(element_, "Segmentation") : pugi::xml_node();
  if (segmentation) {
    std::vector<pugi::xml_node> segments;
    for (pugi::xml_node c = segmentation.first_child(); c; c = c.next_sibling())
      if (c.type() == pugi::node_element && LocalName(c) == "Segment") segments.push_back(c);
    auto is_true = [](pugi::xml_node segment) {
      for (pugi::xml_node c = segment.first_child(); c; c = c.next_sibling())
        if (c.type() == pugi::node_element && LocalName(c) == "True") return true;
      return false;
    };
    std::string_view method = segmentation.attribute("multipleModelMethod").value();
    size_t begin = 0, end = 0;
    if (method == "selectFirst") {
      end = segments.size();
      for (size_t i = 0; i < segments.size(); ++i) {
        if (is_true(segments[i])) {
          end = i + 1;
          break;
        }
      }
    } else if (method == "modelChain") {
      end = segments.size();
      for (size_t i = segments.size(); i > 0; --i) {
        if (is_true(segments[i - 1])) {
          begin = i - 1;
          break;
        }
      }
    } else if (method == "multiModelChain") {
      end = segments.size();
    }
    for (size_t i = begin; i < end; ++i) {
      for (const auto& [node, nested] : nested_) {
        if (node.parent() == segments[i]) {
          nested->CollectOutputs(out);
          break;
        }
      }
    }
  }
  out->insert(out->end(), output_slots_.begin(), output_slots_.end());
}

void TargetProducer::Produce(EvalContext& ctx, Value* out) const {
  *out = plan_->Evaluate(ctx).predicted;
}

bool ModelPlanImpl::DescribeShortcutOutput(SlotId s, ShortcutOutput* out) const {
  if (targets_.present || targets_.has_default || !targets_.priors.empty() || !nested_.empty())
    return false;
  LinearBody lin;
  if (!body_->DescribeLinear(&lin)) return false;  // the only bodies without Feature overrides here
  if (s == target_output_slot_ && s != kNoSlot) {
    if (!lin.classification) {
      // ApplyTargets leaves a double prediction of a double target as it is.
      if (!IsRegression() || target_.type != DataType::kDouble) return false;
    } else {
      if (function_ != MiningFunction::kClassification || body_->labels() == nullptr) return false;
      // ApplyTargets converts a label that is not of the target's type.
      const bool numeric_target = IsNumeric(target_.type);
      for (const Value& l : *body_->labels()) {
        if ((numeric_target && l.is_string()) ||
            (numeric_target && l.is_number() && l.type != target_.type) ||
            (!numeric_target && !l.is_string()) || l.missing())
          return false;
      }
    }
    out->kind = ShortcutOutput::Kind::kPrediction;
    return true;
  }
  for (const auto& [slot, producer] : output_producers_) {
    if (slot != s) continue;
    if (!lin.classification || !producer->PlainProbability() ||
        producer->body_labels_ != body_->labels())
      return false;
    out->kind = ShortcutOutput::Kind::kProbability;
    out->index = static_cast<size_t>(producer->label_index_);
    return true;
  }
  return false;
}

void OutputProducer::Produce(EvalContext& ctx, Value* out) const {
  const ModelResult& r = plan_->Evaluate(ctx);
  if (plan_->body().Feature(spec_, ctx, r, out)) {
    // The model computed it.
  } else if (feat_ == Feat::kProbability && label_index_ >= 0 && r.labels == body_labels_ &&
             static_cast<size_t>(label_index_) < r.probabilities.size()) {
    SetNumberOrMissing(r.probabilities[static_cast<size_t>(label_index_)], out);
  } else {
    plan_->StandardFeature(spec_, feat_, expr_.get(), ctx, r, out);
  }
  if (cast_ && !out->missing() && !(out->is_number() && out->type == spec_.type) &&
      !(out->is_string() && spec_.type == DataType::kString)) {
    if (!ConvertValue(*out, spec_.type, out).ok()) {
      ctx.Fail(absl::InvalidArgumentError(absl::StrCat("OutputField '", spec_.name, "': value '",
                                                       FormatValue(*out), "' is not a valid ",
                                                       AV(DataTypeName(spec_.type)))));
      out->SetMissing();
    }
  }
}

void ModelPlanImpl::StandardFeature(const OutputFeatureSpec& spec, Feat feat, const Expr* expr,
                                    EvalContext& ctx, const ModelResult& r, Value* out) const {
  // "If the target value is missing, then the result delivered by this
  // OutputField is missing" (all but transformedValue/decision/warning).
  if (r.predicted.missing() && feat != Feat::kTransformedValue && feat != Feat::kWarning) {
    out->SetMissing();
    return;
  }
  const size_t rank = spec.rank < 1 ? 0 : static_cast<size_t>(spec.rank - 1);
  switch (feat) {
    case Feat::kPredictedValue: {
      *out = r.predicted;
      break;
    }
    case Feat::kPredictedDisplayValue: {
      if (!r.display_value.empty()) {
        out->SetString(r.display_value);
        return;
      }
      if (r.predicted.missing()) {
        out->SetMissing();
        return;
      }
      for (size_t i = 0; i < targets_.values.size(); ++i) {
        if (!targets_.displays[i].empty() && ValuesEqual(targets_.values[i], r.predicted)) {
          out->SetString(targets_.displays[i]);
          return;
        }
      }
      if (const DataFieldInfo* df = target_df_) {
        for (size_t i = 0; i < df->valid_values.size() && i < df->display_values.size(); ++i) {
          if (!df->display_values[i].empty() && ValuesEqual(df->valid_values[i], r.predicted)) {
            out->SetString(df->display_values[i]);
            return;
          }
        }
      }
      out->str.clear();
      FormatValue(r.predicted, &out->str);
      out->kind = Value::Kind::kString;
      out->type = DataType::kString;
      break;
    }
    case Feat::kTransformedValue: {
      if (expr != nullptr) {
        expr->Eval(ctx, out);
      } else {
        *out = r.predicted;
      }
      break;
    }
    case Feat::kProbability: {
      const Value& label = spec.value.missing() ? r.predicted : spec.value;
      if (label.missing()) {
        out->SetMissing();
        return;
      }
      double p = r.ProbabilityOf(label);
      // A label the model knows but gave no probability for counts as 0.
      if (std::isnan(p) && r.labels != nullptr && !r.probabilities.empty()) p = 0;
      SetNumberOrMissing(p, out);
      break;
    }
    case Feat::kAffinity: {
      if (!spec.value.missing()) {
        SetNumberOrMissing(r.ProbabilityOf(spec.value), out);
      } else if (rank < r.ranked_scores.size()) {
        out->SetNumber(r.ranked_scores[rank]);
      } else if (rank == 0) {
        double a = r.affinity;
        if (std::isnan(a) && r.cluster_index > 0 &&
            static_cast<size_t>(r.cluster_index) <= r.probabilities.size())
          a = r.probabilities[static_cast<size_t>(r.cluster_index - 1)];
        SetNumberOrMissing(a, out);
      } else {
        out->SetMissing();
      }
      break;
    }
    case Feat::kClusterId: {
      // JPMML: the winning cluster's id (its 1-based index when it has none).
      if (!r.entity_id.missing()) {
        *out = r.entity_id;
      } else if (r.cluster_index > 0) {
        out->SetNumber(r.cluster_index, DataType::kInteger);
      } else {
        out->SetMissing();
      }
      break;
    }
    case Feat::kEntityId: {
      if (rank < r.ranked_ids.size()) {
        *out = r.ranked_ids[rank];
      } else if (rank == 0) {
        *out = r.entity_id;
      } else {
        out->SetMissing();
      }
      break;
    }
    case Feat::kReasonCode: {
      if (rank < r.reason_codes.size()) {
        out->SetString(r.reason_codes[rank]);
      } else {
        out->SetMissing();
      }
      break;
    }
    case Feat::kStandardError: {
      SetNumberOrMissing(r.standard_error, out);
      break;
    }
    case Feat::kWarning: {
      if (r.warning.empty()) {
        out->SetMissing();
      } else {
        out->SetString(r.warning);
      }
      break;
    }
    case Feat::kResidual: {
      if (observed_target_slot_ == kNoSlot || r.predicted.missing()) {
        out->SetMissing();
        return;
      }
      const Value& observed = ctx.Get(observed_target_slot_);
      if (observed.missing()) {
        out->SetMissing();
      } else if (IsRegression()) {
        if (observed.is_number() && r.predicted.is_number()) {
          out->SetNumber(observed.num - r.predicted.num);
        } else {
          out->SetMissing();
        }
      } else {
        const Value& label = spec.value.missing() ? r.predicted : spec.value;
        double p = r.ProbabilityOf(label);
        if (std::isnan(p)) p = 0;
        out->SetNumber((ValuesEqual(observed, label) ? 1.0 : 0.0) - p);
      }
      break;
    }
    case Feat::kOther:
      out->SetMissing();
      break;
  }
}

// ------------------------------------------------------------ compile

absl::StatusOr<MiningFieldView> CompileMiningField(pugi::xml_node mf, Scope* parent,
                                                   PlanBuilder* builder, bool top) {
  MiningFieldView view;
  view.name = mf.attribute("name").value();
  if (view.name.empty()) return ElementError(mf, "MiningField without a name");
  view.usage = HasAttr(mf, "usageType") ? mf.attribute("usageType").value() : "active";
  absl::StatusOr<FieldInfo> src = parent->Resolve(view.name);
  if (!src.ok()) {
    return ElementError(mf, absl::StrCat("MiningField '", view.name,
                                         "' refers to an unknown field: ", AV(Msg(src.status()))));
  }
  view.source_slot = src->slot;
  view.field = *src;
  if (HasAttr(mf, "optype")) {
    auto ot = ParseOpType(mf.attribute("optype").value());
    if (!ot.ok()) return ElementError(mf, Msg(ot.status()));
    view.field.optype = *ot;
  }
  const DataType type = view.field.type;
  const bool is_target = view.usage == "target" || view.usage == "predicted";

  auto p = std::make_unique<MiningFieldProducer>();
  p->name = view.name;
  p->source = src->slot;
  p->df = top ? src->data_field : nullptr;

  std::string_view invalid = mf.attribute("invalidValueTreatment").value();
  if (invalid.empty() || invalid == "returnInvalid") {
    p->invalid = InvalidTreatment::kReturnInvalid;
  } else if (invalid == "asIs") {
    p->invalid = InvalidTreatment::kAsIs;
  } else if (invalid == "asMissing") {
    p->invalid = InvalidTreatment::kAsMissing;
  } else if (invalid == "asValue") {
    p->invalid = InvalidTreatment::kAsValue;
    if (!HasAttr(mf, "invalidValueReplacement"))
      return ElementError(mf, "invalidValueTreatment=\"asValue\" without invalidValueReplacement");
  } else {
    return ElementError(mf, absl::StrCat("unknown invalidValueTreatment '", AV(invalid), "'"));
  }
  if (HasAttr(mf, "invalidValueReplacement")) {
    // PMML 4.3 spelled asValue as asIs plus a replacement (JPMML reads it so).
    if (!HasAttr(mf, "invalidValueTreatment") || p->invalid == InvalidTreatment::kAsIs) {
      p->invalid = InvalidTreatment::kAsValue;
    }
    if (!ParseValue(mf.attribute("invalidValueReplacement").value(), type, &p->invalid_replacement)
             .ok())
      return ElementError(mf, absl::StrCat("invalidValueReplacement '",
                                           mf.attribute("invalidValueReplacement").value(),
                                           "' is not a valid ", AV(DataTypeName(type))));
  }
  if (HasAttr(mf, "missingValueReplacement")) {
    p->has_missing_replacement = true;
    if (!ParseValue(mf.attribute("missingValueReplacement").value(), type, &p->missing_replacement)
             .ok())
      return ElementError(mf, absl::StrCat("missingValueReplacement '",
                                           mf.attribute("missingValueReplacement").value(),
                                           "' is not a valid ", AV(DataTypeName(type))));
  }
  std::string_view mvt = mf.attribute("missingValueTreatment").value();
  if (mvt == "returnInvalid") {
    p->missing_returns_invalid = true;
  } else if (!mvt.empty() && mvt != "asIs" && mvt != "asMean" && mvt != "asMode" &&
             mvt != "asMedian" && mvt != "asValue") {
    return ElementError(mf, absl::StrCat("unknown missingValueTreatment '", AV(mvt), "'"));
  }
  std::string_view outliers = mf.attribute("outliers").value();
  if (outliers.empty() || outliers == "asIs") {
    p->outliers = Outliers::kAsIs;
  } else if (outliers == "asMissingValues" || outliers == "asExtremeValues") {
    p->outliers = outliers == "asMissingValues" ? Outliers::kAsMissing : Outliers::kAsExtreme;
    if (HasAttr(mf, "lowValue")) {
      ASSIGN_OR_RETURN(p->low, NumberAttr(mf, "lowValue"));
    }
    if (HasAttr(mf, "highValue")) {
      ASSIGN_OR_RETURN(p->high, NumberAttr(mf, "highValue"));
    }
  } else {
    return ElementError(mf, absl::StrCat("unknown outliers treatment '", AV(outliers), "'"));
  }

  const bool no_treatment = !p->has_missing_replacement && !p->missing_returns_invalid &&
                            p->outliers == Outliers::kAsIs &&
                            p->invalid == InvalidTreatment::kReturnInvalid;
  // Targets are not inputs of the model: their view is the source itself.
  if (is_target || (no_treatment && !DataFieldHasConstraints(p->df))) {
    view.alias_fails_on_invalid = top && !is_target;
  } else {
    p->IndexValues();
    view.field.slot = builder->NewSlot(view.name);
    builder->SetProducer(view.field.slot, std::move(p));
  }
  view.field.name = view.name;
  return view;
}

absl::StatusOr<OutputFeatureSpec> ParseOutputField(pugi::xml_node of, const TargetInfo& target,
                                                   bool* has_type) {
  OutputFeatureSpec spec;
  spec.element = of;
  spec.name = of.attribute("name").value();
  if (spec.name.empty()) return ElementError(of, "OutputField without a name");
  spec.feature = HasAttr(of, "feature") ? of.attribute("feature").value() : "predictedValue";
  *has_type = HasAttr(of, "dataType");
  if (*has_type) {
    auto t = ParseDataType(of.attribute("dataType").value());
    if (!t.ok()) return ElementError(of, Msg(t.status()));
    spec.type = *t;
  } else if (spec.feature == "predictedValue" || spec.feature == "transformedValue" ||
             spec.feature == "decision") {
    spec.type = target.name.empty() ? DataType::kDouble : target.type;
  } else if (spec.feature == "predictedDisplayValue" || spec.feature == "warning" ||
             spec.feature == "reasonCode" || spec.feature == "entityId" ||
             spec.feature == "ruleValue") {
    spec.type = DataType::kString;
  } else {
    spec.type = DataType::kDouble;
  }
  if (HasAttr(of, "optype")) {
    auto o = ParseOpType(of.attribute("optype").value());
    if (!o.ok()) return ElementError(of, Msg(o.status()));
    spec.optype = *o;
  } else {
    spec.optype = (spec.type == DataType::kString || spec.type == DataType::kBoolean)
                      ? OpType::kCategorical
                      : OpType::kContinuous;
  }
  if (HasAttr(of, "value")) {
    const DataType vt = target.name.empty() ? DataType::kString : target.type;
    spec.value = LenientValue(of.attribute("value").value(), vt);
  }
  if (HasAttr(of, "rank")) {
    char* end = nullptr;
    long r = std::strtol(of.attribute("rank").value(), &end, 10);
    if (end == nullptr || *end != '\0' || r < 1)
      return ElementError(of, "rank must be a positive integer");
    spec.rank = static_cast<int>(r);
  }
  spec.rule_feature =
      HasAttr(of, "ruleFeature") ? of.attribute("ruleFeature").value() : "consequent";
  spec.algorithm =
      HasAttr(of, "algorithm") ? of.attribute("algorithm").value() : "exclusiveRecommendation";
  spec.rank_basis = HasAttr(of, "rankBasis") ? of.attribute("rankBasis").value() : "confidence";
  spec.rank_order = HasAttr(of, "rankOrder") ? of.attribute("rankOrder").value() : "descending";
  spec.multi_valued = std::string_view(of.attribute("isMultiValued").value()) == "1" ||
                      std::string_view(of.attribute("isMultiValued").value()) == "true";
  spec.segment_id = of.attribute("segmentId").value();
  return spec;
}

bool HasExpressionChild(pugi::xml_node el) {
  for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && IsExpressionElement(c)) return true;
  return false;
}

}  // namespace

absl::StatusOr<const CoreModelPlan*> CompileModelElement(pugi::xml_node el, Scope* parent,
                                                         PlanBuilder* builder,
                                                         Scope* document_scope) {
  const std::string_view type_name = LocalName(el);
  ModelCompiler compiler = FindModelCompiler(type_name);
  if (compiler == nullptr)
    return ElementError(el, absl::StrCat("unsupported model element <", AV(type_name), ">"));
  if (std::string_view(el.attribute("isScorable").value()) == "false")
    return ElementError(el, "model is marked isScorable=\"false\"");

  auto* plan = builder->Own(std::make_unique<ModelPlanImpl>());
  plan->element_ = el;
  plan->scope_ = builder->Own(std::make_unique<Scope>(builder, parent));
  Scope* scope = plan->scope_;
  const bool top = document_scope != nullptr;

  if (!HasAttr(el, "functionName")) return ElementError(el, "missing functionName attribute");
  {
    auto fn = ParseMiningFunction(el.attribute("functionName").value());
    if (!fn.ok()) return ElementError(el, Msg(fn.status()));
    plan->function_ = *fn;
  }

  // MiningSchema.
  pugi::xml_node schema = Child(el, "MiningSchema");
  if (!schema) return ElementError(el, "missing MiningSchema");
  for (pugi::xml_node mf = schema.first_child(); mf; mf = mf.next_sibling()) {
    if (mf.type() != pugi::node_element || LocalName(mf) != "MiningField") continue;
    MiningFieldView view;
    ASSIGN_OR_RETURN(view, CompileMiningField(mf, parent, builder, top));
    RETURN_IF_ERROR(scope->Define(view.field));
    if (top && view.usage == "active" && view.field.slot != view.source_slot) {
      RETURN_IF_ERROR(document_scope->Define(view.field));
    }
    if (plan->target_.name.empty() && (view.usage == "target" || view.usage == "predicted")) {
      plan->target_.name = view.name;
      plan->target_.slot = view.field.slot;
      plan->target_.type = view.field.type;
      plan->target_.optype = view.field.optype;
      if (view.field.data_field != nullptr) {
        plan->target_.categories = view.field.data_field->valid_values;
      }
      plan->observed_target_slot_ = view.field.slot;
      plan->target_df_ = view.field.data_field;
    }
    plan->mining_fields_.push_back(std::move(view));
  }

  // LocalTransformations: lazy, compiled on first reference.
  if (pugi::xml_node lt = Child(el, "LocalTransformations")) {
    for (pugi::xml_node df = lt.first_child(); df; df = df.next_sibling()) {
      if (df.type() != pugi::node_element || LocalName(df) != "DerivedField") continue;
      std::string name = df.attribute("name").value();
      if (name.empty()) return ElementError(df, "DerivedField without a name");
      RETURN_IF_ERROR(scope->DefineLazy(std::move(name), df));
    }
  }

  RETURN_IF_ERROR(ParseTargets(Child(el, "Targets"), plan->target_, &plan->targets_));

  // The body.
  plan->index_ = builder->NewModelIndex();
  ModelCompileArgs args;
  args.element = el;
  args.scope = scope;
  args.builder = builder;
  args.function = plan->function_;
  args.target = &plan->target_;
  args.compile_nested = [builder, plan](pugi::xml_node model_element,
                                        Scope* nested_parent) -> absl::StatusOr<const ModelPlan*> {
    auto nested = CompileModelElement(model_element, nested_parent, builder, nullptr);
    if (!nested.ok()) return nested.status();
    plan->nested_.emplace_back(model_element, static_cast<const ModelPlanImpl*>(*nested));
    return static_cast<const ModelPlan*>(*nested);
  };
  {
    auto body = compiler(args);
    if (!body.ok()) return body.status();
    if (*body == nullptr) return ElementError(el, "model compiler returned no model");
    plan->body_ = builder->Own(std::move(*body));
  }

  // The (post-Targets) prediction as a slot.
  if (!plan->target_.name.empty()) {
    plan->target_output_slot_ = builder->NewSlot(plan->target_.name);
    builder->SetProducer(plan->target_output_slot_, std::make_unique<TargetProducer>(plan));
  }

  // Output.
  if (pugi::xml_node output = Child(el, "Output")) {
    for (pugi::xml_node of = output.first_child(); of; of = of.next_sibling()) {
      if (of.type() != pugi::node_element || LocalName(of) != "OutputField") continue;
      bool has_type = false;
      OutputFeatureSpec spec;
      ASSIGN_OR_RETURN(spec, ParseOutputField(of, plan->target_, &has_type));
      std::unique_ptr<Expr> expr;
      if ((spec.feature == "transformedValue" || spec.feature == "decision") &&
          HasExpressionChild(of)) {
        ASSIGN_OR_RETURN(expr, CompileExpressionChild(of, *scope));
      }
      FieldInfo info;
      info.name = spec.name;
      info.type = spec.type;
      info.optype = spec.optype;
      info.slot = builder->NewSlot(spec.name);
      const bool final_result = std::string_view(of.attribute("isFinalResult").value()) != "false";
      const Value label = spec.value;
      const bool probability = ParseFeat(spec.feature) == Feat::kProbability;
      auto producer =
          std::make_unique<OutputProducer>(plan, std::move(spec), has_type, std::move(expr));
      if (probability && !label.missing()) {
        if (const std::vector<Value>* labels = plan->body_->labels()) {
          for (size_t i = 0; i < labels->size(); ++i) {
            if (ValuesEqual((*labels)[i], label)) {
              producer->body_labels_ = labels;
              producer->label_index_ = static_cast<int>(i);
              break;
            }
          }
        }
      }
      plan->output_producers_.emplace_back(info.slot, producer.get());
      builder->SetProducer(info.slot, std::move(producer));
      RETURN_IF_ERROR(scope->Define(info));
      plan->output_fields_.push_back(info);
      plan->output_slots_.push_back(OutputSlot{info, final_result});
    }
  }
  return plan;
}

}  // namespace evs::pmml
