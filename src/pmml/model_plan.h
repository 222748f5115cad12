#pragma once

// Core-internal: the ModelPlan implementation's compile entry, used by
// pmml.cc for the top-level model and (through ModelCompileArgs::
// compile_nested) for every segment. Not part of the family contract.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/model.h"
#include "pmml/plan.h"
#include "pugixml.hpp"

namespace evs::pmml {

// A MiningField as the model sees it.
struct MiningFieldView {
  std::string name;
  std::string usage;             // "active", "target", "predicted", "supplementary", ...
  FieldInfo field;               // the model-local view (slot is the treated value)
  SlotId source_slot = kNoSlot;  // the parent's slot it reads (the raw slot at top level)
  // True when the view is an alias of the source with the default
  // invalidValueTreatment (returnInvalid): an unparsable input must fail the
  // record when it is set (CompiledModel::SetInput does that).
  bool alias_fails_on_invalid = false;
};

struct OutputSlot {
  FieldInfo field;
  bool final_result = true;
};

// How a top-level output slot follows from a linear body's result, for
// CompiledModel's whole-record shortcut.
struct ShortcutOutput {
  enum class Kind : uint8_t { kPrediction, kProbability };
  Kind kind = Kind::kPrediction;
  size_t index = 0;  // kProbability: the class's position in body().labels()
};

class CoreModelPlan : public ModelPlan {
 public:
  // True when output slot `s` is, for every record the body predicts, the
  // body's prediction unchanged (the target slot, with no Targets and labels
  // already of the target's type) or one class probability unchanged (a
  // probability OutputField of type double); false for anything else.
  virtual bool DescribeShortcutOutput(SlotId s, ShortcutOutput* out) const = 0;
  virtual const std::vector<MiningFieldView>& mining_fields() const = 0;
  virtual const std::vector<OutputSlot>& output_slots() const = 0;
  // A slot holding the (post-Targets) predicted value; kNoSlot when the model has no target.
  virtual SlotId target_output_slot() const = 0;
  // The OutputFields a caller sees, as JPMML exposes them: for a MiningModel
  // first those of its segments (recursively; selectFirst: the segments up
  // to the first with a <True/> predicate, modelChain: those from the last
  // <True/> one to the end, multiModelChain: all, other methods: none),
  // then the model's own.
  virtual void CollectOutputs(std::vector<OutputSlot>* out) const = 0;
};

// Compiles a model element (with MiningSchema, LocalTransformations, Targets,
// Output) in a new scope under `parent`. `document_scope` is non-null only for
// the top-level model: its treated MiningField views then replace the raw
// DataFields in the document scope, so TransformationDictionary fields see
// the same treated values as the model does.
absl::StatusOr<const CoreModelPlan*> CompileModelElement(pugi::xml_node element, Scope* parent,
                                                         PlanBuilder* builder,
                                                         Scope* document_scope);

}  // namespace evs::pmml
