#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pmml/value.h"
#include "pugixml.hpp"

// The compiled form of a PMML document and the per-thread state that
// evaluates it.
//
// Every field the document defines (a DataField, the view a model's
// MiningField gives of it, a DerivedField, an OutputField) gets a slot: an
// index into EvalContext's value array. A slot either holds an input set by
// the caller or has a SlotProducer that computes it on first read in a record
// (lazy, as PMML derived fields are); a per-slot stamp says whether the value
// is from the current record. Names are resolved once, at compile time,
// through Scopes; evaluation never looks a name up.

namespace evs::pmml {

using SlotId = int32_t;
inline constexpr SlotId kNoSlot = -1;

class EvalContext;
class ModelPlan;
class Expr;

struct Interval {
  enum class Closure : uint8_t { kOpenOpen, kOpenClosed, kClosedOpen, kClosedClosed };
  Closure closure = Closure::kClosedClosed;
  double left = -1.0 / 0.0;   // -inf when absent
  double right = 1.0 / 0.0;   // +inf when absent
  bool Contains(double x) const;
};

// A DataField of the DataDictionary.
struct DataFieldInfo {
  std::string name;
  DataType type = DataType::kDouble;
  OpType optype = OpType::kContinuous;
  std::vector<Value> valid_values;    // <Value property="valid"> (or no property) in document order
  std::vector<std::string> display_values;  // parallel to valid_values ("" when none)
  std::vector<Value> invalid_values;  // property="invalid"
  std::vector<Value> missing_values;  // property="missing"
  std::vector<Interval> intervals;
  SlotId raw_slot = kNoSlot;          // where the caller's input goes
};

// What a name resolves to in a scope.
struct FieldInfo {
  std::string name;
  SlotId slot = kNoSlot;
  DataType type = DataType::kDouble;
  OpType optype = OpType::kContinuous;
  const DataFieldInfo* data_field = nullptr;  // set when the field is (a view of) a DataField
};

// Computes one slot's value for the current record. Implementations read
// other slots through ctx.Get() and report failures with ctx.Fail().
class SlotProducer {
 public:
  virtual ~SlotProducer() = default;
  virtual void Produce(EvalContext& ctx, Value* out) const = 0;
};

// A user-defined function (DefineFunction); compiled by the expression
// module. Parameters are slots; calling assigns the arguments to those slots
// and evaluates the body (functions are not recursive in PMML).
struct DefinedFunction {
  std::string name;
  std::vector<FieldInfo> params;
  DataType type = DataType::kDouble;
  OpType optype = OpType::kContinuous;
  std::unique_ptr<Expr> body;
};

class Plan;

// Builds a Plan. Owned by the compiler for the duration of one Load().
class PlanBuilder {
 public:
  PlanBuilder();
  ~PlanBuilder();

  SlotId NewSlot(std::string_view debug_name);
  // The slot is computed by `producer` on first read in each record.
  void SetProducer(SlotId slot, std::unique_ptr<SlotProducer> producer);
  // Reserves a per-record ModelResult cache entry for a ModelPlan.
  int NewModelIndex();
  // Keeps `object` alive as long as the Plan.
  template <class T>
  T* Own(std::unique_ptr<T> object) {
    T* raw = object.get();
    owned_.push_back(std::shared_ptr<void>(std::move(object)));
    return raw;
  }

  // DataDictionary (filled by the core compiler before any model compiles).
  DataFieldInfo* AddDataField(DataFieldInfo info);
  const DataFieldInfo* FindDataField(std::string_view name) const;
  const std::vector<std::unique_ptr<DataFieldInfo>>& data_fields() const { return data_fields_; }

  // DefineFunctions of the TransformationDictionary, compiled on first use.
  void AddFunctionDefinition(pugi::xml_node define_function);
  // nullptr when no DefineFunction has this name. Error when its definition is bad
  // or recursive.
  absl::StatusOr<const DefinedFunction*> FindFunction(std::string_view name);

  std::unique_ptr<Plan> Finish();

 private:
  friend class Scope;
  std::unique_ptr<Plan> plan_;
  std::vector<std::shared_ptr<void>> owned_;
  std::vector<std::unique_ptr<DataFieldInfo>> data_fields_;
  absl::flat_hash_map<std::string, DataFieldInfo*> data_field_index_;
  absl::flat_hash_map<std::string, pugi::xml_node> function_nodes_;
  absl::flat_hash_map<std::string, std::unique_ptr<DefinedFunction>> functions_;
  absl::flat_hash_map<std::string, int> functions_in_progress_;
  int lazy_depth_ = 0;  // nesting of lazy DerivedField compiles (bounded: no stack overflow)
};

// Name resolution at compile time. A model's scope sees its own MiningFields,
// LocalTransformations and (for segments of a chain) earlier segments'
// outputs, then its parent's scope, up to the document scope (the
// TransformationDictionary). Derived fields may be registered lazily: the
// definition compiles on first Resolve(), and a reference cycle is an error.
class Scope {
 public:
  Scope(PlanBuilder* builder, Scope* parent);

  PlanBuilder* builder() const { return builder_; }
  Scope* parent() const { return parent_; }

  // Defines `info.name` in this scope (shadows outer definitions).
  absl::Status Define(FieldInfo info);
  // Registers a DerivedField element to be compiled on first reference.
  absl::Status DefineLazy(std::string name, pugi::xml_node derived_field);
  // The field named `name` as seen from here; NotFound names the field.
  absl::StatusOr<FieldInfo> Resolve(std::string_view name);
  // Only this scope's own definitions (no parents, no lazy compile).
  const FieldInfo* FindLocal(std::string_view name) const;

 private:
  PlanBuilder* builder_;
  Scope* parent_;
  absl::flat_hash_map<std::string, FieldInfo> fields_;
  absl::flat_hash_map<std::string, pugi::xml_node> lazy_;
  absl::flat_hash_map<std::string, bool> compiling_;
};

// The immutable compiled document: slot producers and counts. Shared by all
// threads; each thread evaluates through its own EvalContext.
class Plan {
 public:
  int num_slots() const { return static_cast<int>(producers_.size()); }
  int num_models() const { return num_models_; }
  const SlotProducer* producer(SlotId s) const { return producers_[s]; }
  const std::string& slot_name(SlotId s) const { return slot_names_[s]; }

 private:
  friend class PlanBuilder;
  std::vector<const SlotProducer*> producers_;  // nullptr = input slot
  std::vector<std::string> slot_names_;
  int num_models_ = 0;
  std::vector<std::shared_ptr<void>> owned_;
};

struct ModelResult;

// Per-thread evaluation state for one Plan: the slot values and stamps, the
// per-model result cache, the first error of the record. Not thread-safe;
// reuse one per thread so records do not allocate.
class EvalContext {
 public:
  explicit EvalContext(const Plan& plan);
  ~EvalContext();

  // Starts a record: every slot becomes stale (inputs read as missing until set).
  void BeginRecord() {
    if (++epoch_ == 0 || !status_.ok()) [[unlikely]] {
      Restart();
      return;
    }
    depth_ = 0;
  }

  // Writable input slot for the current record (marks it fresh).
  Value& Input(SlotId slot) {
    stamp_[slot] = epoch_;
    return values_[slot];
  }

  // The slot's value when it was set or computed in this record, else
  // nullptr (computes nothing).
  const Value* IfFresh(SlotId slot) const {
    return stamp_[slot] == epoch_ ? &values_[slot] : nullptr;
  }

  // The slot's value for the current record, computing it when needed.
  const Value& Get(SlotId slot) {
    if (stamp_[slot] == epoch_) return values_[slot];
    return Compute(slot);
  }

  // Records a failure; the first one of a record is kept and returned by the
  // top-level Evaluate(). Producers should then yield a missing value.
  void Fail(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
  }
  bool failed() const { return !status_.ok(); }
  const absl::Status& status() const { return status_; }

  // The cached result of model `index` (see PlanBuilder::NewModelIndex) and
  // whether it was computed in the current record.
  ModelResult& model_result(int index);
  bool model_fresh(int index) const { return model_stamp_[index] == epoch_; }
  void mark_model_fresh(int index) { model_stamp_[index] = epoch_; }

  const Plan& plan() const { return *plan_; }

  // The class a whole-record shortcut chose in the current record (its index
  // in the model's labels), or -1 when none did: CompiledModel::Output hands
  // out that label itself instead of a copy in a slot.
  void set_shortcut_class(int c) {
    shortcut_class_ = c;
    shortcut_epoch_ = epoch_;
  }
  int shortcut_class() const { return shortcut_epoch_ == epoch_ ? shortcut_class_ : -1; }

 private:
  const Value& Compute(SlotId slot);
  void Restart();  // BeginRecord's rare part: the epoch wrapped, or the last record failed

  // Nesting of producers computing one another; bounded so that a document
  // with a very long chain of derived fields fails the record instead of
  // overflowing the stack.
  static constexpr int kMaxComputeDepth = 1000;
  int depth_ = 0;
  const Plan* plan_;
  uint32_t epoch_ = 1;
  uint32_t shortcut_epoch_ = 0;
  int shortcut_class_ = -1;
  std::vector<Value> values_;
  std::vector<uint32_t> stamp_;
  std::vector<std::unique_ptr<ModelResult>> model_results_;
  std::vector<uint32_t> model_stamp_;
  absl::Status status_;
};

}  // namespace evs::pmml
