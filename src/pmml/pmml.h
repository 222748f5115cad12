#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/document.h"
#include "pmml/plan.h"
#include "pmml/value.h"

// The public face of the PMML engine.
//
//   ASSIGN_OR_RETURN(auto model, pmml::CompiledModel::LoadFile(path));
//   auto ctx = model->NewContext();           // one per thread, reused
//   std::vector<int> idx = model->Bind({"x1", "x2"});
//   ctx->BeginRecord();
//   model->SetInput(*ctx, idx[0], "1.5");     // or a double
//   RETURN_IF_ERROR(model->Evaluate(*ctx));
//   const Value& y = model->Output(*ctx, 0);
//
// Load parses, validates and compiles once; a CompiledModel is immutable and
// may be evaluated from many threads at once, each with its own EvalContext.

namespace evs::pmml {

struct FieldSpec {
  std::string name;
  DataType type = DataType::kDouble;
  OpType optype = OpType::kContinuous;
};

class ModelPlan;

class CompiledModel {
 public:
  static absl::StatusOr<std::unique_ptr<CompiledModel>> Load(std::string_view xml,
                                                             const LoadOptions& opts = {});
  static absl::StatusOr<std::unique_ptr<CompiledModel>> LoadFile(const std::string& path,
                                                                 const LoadOptions& opts = {});
  ~CompiledModel();

  // Active MiningFields of the top-level model, in MiningSchema order.
  const std::vector<FieldSpec>& inputs() const { return inputs_; }
  // Target field(s) of the top-level model, then every OutputField whose
  // isFinalResult is not false, in document order.
  const std::vector<FieldSpec>& outputs() const { return outputs_; }

  const std::string& version() const { return version_; }         // PMML version
  const std::string& model_type() const { return model_type_; }   // "TreeModel", ...
  const std::string& model_name() const { return model_name_; }   // modelName attribute
  const std::string& function_name() const { return function_name_; }

  // Input index for each name (-1 when the model has no such input). The
  // target field(s) can be bound too, at indices >= inputs().size(): their
  // value only feeds the "residual" output.
  std::vector<int> Bind(const std::vector<std::string>& names) const;
  int InputIndex(std::string_view name) const;

  std::unique_ptr<EvalContext> NewContext() const;

  // Inputs for the current record (after ctx.BeginRecord()). Text is parsed
  // as the DataField's type; text that does not parse is an invalid value
  // (handled by the MiningField's invalidValueTreatment). Unset inputs are missing.
  void SetInput(EvalContext& ctx, int input, std::string_view text) const;
  // Inline: a double for a double DataField (the common case) is one store.
  void SetInput(EvalContext& ctx, int input, double number) const {
    const InputBinding& b = bindings_[static_cast<size_t>(input)];
    if (b.type == DataType::kDouble) [[likely]] {
      ctx.Input(b.slot).SetNumber(number);
      return;
    }
    SetInputConverted(ctx, input, number);
  }
  void SetInput(EvalContext& ctx, int input, const Value& value) const;
  void SetMissing(EvalContext& ctx, int input) const;

  // A whole record of numbers: starts it and evaluates it with input i set
  // to x[i] for every i < n. The same results, bit for bit, as
  // ctx.BeginRecord(), SetInput(ctx, i, x[i]) for each i, Evaluate(ctx); n
  // may be less than inputs().size() (the rest are missing). For a model with
  // the whole-record shortcut whose inputs are all double DataFields and
  // n == inputs().size(), the sum reads x directly and the input slots are
  // left unset: read results through Output, as always.
  absl::Status EvaluateNumbers(EvalContext& ctx, const double* x, size_t n) const;

  // Evaluates the current record; error when the record cannot be evaluated
  // (returnInvalid treatment, a failed function, ...). On success every
  // Output(ctx, i) is valid until the next BeginRecord().
  absl::Status Evaluate(EvalContext& ctx) const;
  const Value& Output(EvalContext& ctx, int output) const;

  // Whether Evaluate has the whole-record shortcut for this model (a linear
  // model whose outputs are its prediction and class probabilities): the
  // sum, normalization and outputs computed straight from the input slots
  // into the output slots, the same operations in the same order as the
  // general path, which still handles every record with an input that is
  // not a number. `enable` false turns it off (tests compare both paths).
  bool has_shortcut() const { return shortcut_ != nullptr && shortcut_enabled_; }
  void set_shortcut_enabled(bool enable) { shortcut_enabled_ = enable; }

 private:
  CompiledModel();
  friend class Compiler;
  // Fails the record when an unparsable value reaches an input whose
  // MiningField has no treatment of its own (returnInvalid by default).
  void MarkInvalid(EvalContext& ctx, int input, const Value& v) const;
  // A double for a DataField of another type (string, float, integer, boolean).
  void SetInputConverted(EvalContext& ctx, int input, double number) const;
  struct Shortcut;
  void BuildShortcut();
  // False when the record needs the general path (nothing written then).
  bool RunShortcut(EvalContext& ctx) const;
  // The shortcut after its sum: normalization and outputs (false: nothing
  // written, the record needs the general path).
  bool FinishShortcut(EvalContext& ctx, double sum) const;

  struct InputBinding {
    SlotId slot;
    DataType type;
  };

  std::unique_ptr<Document> doc_;
  std::unique_ptr<Plan> plan_;
  const ModelPlan* top_ = nullptr;
  std::vector<FieldSpec> inputs_;
  std::vector<SlotId> input_slots_;         // raw DataField slots
  std::vector<const DataFieldInfo*> input_fields_;
  std::vector<InputBinding> bindings_;      // parallel to input_slots_: slot and DataField type
  std::vector<bool> fail_on_invalid_;       // parallel to input_slots_
  std::vector<std::string> extra_inputs_;   // target fields, bindable after inputs_ (for residual)
  std::vector<FieldSpec> outputs_;
  std::vector<SlotId> output_slots_;
  std::unique_ptr<const Shortcut> shortcut_;
  bool shortcut_enabled_ = true;
  std::string version_, model_type_, model_name_, function_name_;
};

}  // namespace evs::pmml
