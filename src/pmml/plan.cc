#include "pmml/plan.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/model.h"

namespace evs::pmml {

bool Interval::Contains(double x) const {
  switch (closure) {
    case Closure::kOpenOpen:
      return x > left && x < right;
    case Closure::kOpenClosed:
      return x > left && x <= right;
    case Closure::kClosedOpen:
      return x >= left && x < right;
    case Closure::kClosedClosed:
      return x >= left && x <= right;
  }
  return false;
}

// ---------------------------------------------------------------- PlanBuilder

PlanBuilder::PlanBuilder() : plan_(new Plan()) {}
PlanBuilder::~PlanBuilder() = default;

SlotId PlanBuilder::NewSlot(std::string_view debug_name) {
  plan_->producers_.push_back(nullptr);
  plan_->slot_names_.emplace_back(debug_name);
  return static_cast<SlotId>(plan_->producers_.size() - 1);
}

void PlanBuilder::SetProducer(SlotId slot, std::unique_ptr<SlotProducer> producer) {
  plan_->producers_[slot] = Own(std::move(producer));
}

int PlanBuilder::NewModelIndex() { return plan_->num_models_++; }

DataFieldInfo* PlanBuilder::AddDataField(DataFieldInfo info) {
  if (info.raw_slot == kNoSlot) info.raw_slot = NewSlot(info.name);
  auto owned = std::make_unique<DataFieldInfo>(std::move(info));
  DataFieldInfo* raw = owned.get();
  data_field_index_[raw->name] = raw;
  data_fields_.push_back(std::move(owned));
  return raw;
}

const DataFieldInfo* PlanBuilder::FindDataField(std::string_view name) const {
  auto it = data_field_index_.find(std::string(name));
  return it == data_field_index_.end() ? nullptr : it->second;
}

void PlanBuilder::AddFunctionDefinition(pugi::xml_node define_function) {
  function_nodes_[define_function.attribute("name").value()] = define_function;
}

absl::StatusOr<const DefinedFunction*> PlanBuilder::FindFunction(std::string_view name) {
  std::string key(name);
  if (auto it = functions_.find(key); it != functions_.end()) return it->second.get();
  auto node_it = function_nodes_.find(key);
  if (node_it == function_nodes_.end()) return nullptr;
  pugi::xml_node node = node_it->second;
  if (functions_in_progress_[key] > 0) {
    return ElementError(
        node, absl::StrCat("DefineFunction '", key, "' calls itself (recursion is not allowed)"));
  }
  ++functions_in_progress_[key];
  auto compiled = CompileDefineFunction(node, this);
  --functions_in_progress_[key];
  if (!compiled.ok()) return compiled.status();
  const DefinedFunction* raw = compiled->get();
  functions_[key] = std::move(*compiled);
  return raw;
}

std::unique_ptr<Plan> PlanBuilder::Finish() {
  for (auto& o : owned_) plan_->owned_.push_back(std::move(o));
  owned_.clear();
  // DefinedFunctions are referenced by compiled expressions: keep them too.
  for (auto& [name, fn] : functions_) {
    plan_->owned_.push_back(std::shared_ptr<void>(std::move(fn)));
  }
  functions_.clear();
  // DataFieldInfos are referenced by FieldInfo and producers.
  for (auto& df : data_fields_) plan_->owned_.push_back(std::shared_ptr<void>(std::move(df)));
  data_fields_.clear();
  data_field_index_.clear();
  return std::move(plan_);
}

// ---------------------------------------------------------------- Scope

Scope::Scope(PlanBuilder* builder, Scope* parent) : builder_(builder), parent_(parent) {}

absl::Status Scope::Define(FieldInfo info) {
  std::string name = info.name;
  lazy_.erase(name);
  fields_[name] = std::move(info);
  return absl::OkStatus();
}

absl::Status Scope::DefineLazy(std::string name, pugi::xml_node derived_field) {
  fields_.erase(name);
  lazy_[std::move(name)] = derived_field;
  return absl::OkStatus();
}

namespace {
constexpr int kMaxLazyDepth = 250;
}  // namespace

absl::StatusOr<FieldInfo> Scope::Resolve(std::string_view name) {
  std::string key(name);
  for (Scope* s = this; s != nullptr; s = s->parent_) {
    if (auto it = s->fields_.find(key); it != s->fields_.end()) return it->second;
    auto lz = s->lazy_.find(key);
    if (lz == s->lazy_.end()) continue;
    pugi::xml_node node = lz->second;
    if (s->compiling_[key]) {
      return ElementError(
          node, absl::StrCat("field '", key, "' is defined in terms of itself (reference cycle)"));
    }
    if (builder_->lazy_depth_ >= kMaxLazyDepth) {
      return ElementError(node,
                          absl::StrCat("derived fields nested more than ", kMaxLazyDepth, " deep"));
    }
    s->compiling_[key] = true;
    ++builder_->lazy_depth_;
    auto compiled = CompileDerivedField(node, *s);
    --builder_->lazy_depth_;
    s->compiling_[key] = false;
    if (!compiled.ok()) return compiled.status();
    FieldInfo info = std::move(*compiled);
    if (info.name.empty()) info.name = key;
    s->lazy_.erase(key);
    s->fields_[key] = info;
    return info;
  }
  return absl::NotFoundError(absl::StrCat("unknown field '", key, "'"));
}

const FieldInfo* Scope::FindLocal(std::string_view name) const {
  auto it = fields_.find(std::string(name));
  return it == fields_.end() ? nullptr : &it->second;
}

// ---------------------------------------------------------------- EvalContext

EvalContext::EvalContext(const Plan& plan)
    : plan_(&plan),
      values_(static_cast<size_t>(plan.num_slots())),
      stamp_(static_cast<size_t>(plan.num_slots()), 0),
      model_stamp_(static_cast<size_t>(plan.num_models()), 0) {
  model_results_.reserve(static_cast<size_t>(plan.num_models()));
  for (int i = 0; i < plan.num_models(); ++i)
    model_results_.push_back(std::make_unique<ModelResult>());
}

EvalContext::~EvalContext() = default;

void EvalContext::Restart() {
  if (epoch_ == 0) {
    // Wrapped after 2^32 records: clear every stamp once.
    std::fill(stamp_.begin(), stamp_.end(), 0);
    std::fill(model_stamp_.begin(), model_stamp_.end(), 0);
    shortcut_epoch_ = 0;
    epoch_ = 1;
  }
  if (!status_.ok()) status_ = absl::OkStatus();
  depth_ = 0;
}

ModelResult& EvalContext::model_result(int index) {
  return *model_results_[static_cast<size_t>(index)];
}

const Value& EvalContext::Compute(SlotId slot) {
  Value& v = values_[static_cast<size_t>(slot)];
  const SlotProducer* p = plan_->producer(slot);
  if (p == nullptr) {
    v.SetMissing();  // an input not set in this record
  } else if (depth_ >= kMaxComputeDepth) {
    Fail(absl::ResourceExhaustedError(absl::StrCat("field '", plan_->slot_name(slot),
                                                   "': derived fields nested more than ",
                                                   kMaxComputeDepth, " deep")));
    v.SetMissing();
  } else {
    ++depth_;
    p->Produce(*this, &v);
    --depth_;
  }
  stamp_[static_cast<size_t>(slot)] = epoch_;
  return v;
}

}  // namespace evs::pmml
