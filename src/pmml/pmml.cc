#include "pmml/pmml.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/model.h"
#include "pmml/model_plan.h"

namespace evs::pmml {
namespace {
std::string Msg(const absl::Status& s) { return std::string(s.message()); }
}  // namespace
namespace {

OpType DefaultOpType(DataType t) {
  return (t == DataType::kString || t == DataType::kBoolean) ? OpType::kCategorical
                                                             : OpType::kContinuous;
}

absl::StatusOr<DataFieldInfo> ParseDataField(pugi::xml_node el) {
  DataFieldInfo info;
  info.name = el.attribute("name").value();
  if (info.name.empty()) return ElementError(el, "DataField without a name");
  const bool has_type = static_cast<bool>(el.attribute("dataType"));
  const bool has_optype = static_cast<bool>(el.attribute("optype"));
  if (has_optype) {
    auto o = ParseOpType(el.attribute("optype").value());
    if (!o.ok()) return ElementError(el, Msg(o.status()));
    info.optype = *o;
  }
  if (has_type) {
    auto t = ParseDataType(el.attribute("dataType").value());
    if (!t.ok()) return ElementError(el, Msg(t.status()));
    info.type = *t;
  } else {
    info.type =
        (has_optype && info.optype == OpType::kContinuous) ? DataType::kDouble : DataType::kString;
  }
  if (!has_optype) info.optype = DefaultOpType(info.type);

  for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    std::string_view name = LocalName(c);
    if (name == "Value") {
      if (!c.attribute("value")) return ElementError(c, "Value without a value attribute");
      std::string_view text = c.attribute("value").value();
      std::string_view property = c.attribute("property").value();
      Value v;
      if (!ParseValue(text, info.type, &v).ok()) {
        // "NA" declared as the missing value of a double field, etc.
        if (property.empty() || property == "valid") {
          return ElementError(c, absl::StrCat("valid value '", AV(text), "' is not a valid ",
                                              AV(DataTypeName(info.type))));
        }
        v.SetString(text);
      }
      if (property.empty() || property == "valid") {
        info.valid_values.push_back(std::move(v));
        info.display_values.emplace_back(c.attribute("displayValue").value());
      } else if (property == "invalid") {
        info.invalid_values.push_back(std::move(v));
      } else if (property == "missing") {
        info.missing_values.push_back(std::move(v));
      } else {
        return ElementError(c, absl::StrCat("unknown Value property '", AV(property), "'"));
      }
    } else if (name == "Interval") {
      Interval iv;
      std::string_view closure = c.attribute("closure").value();
      if (closure == "openOpen") {
        iv.closure = Interval::Closure::kOpenOpen;
      } else if (closure == "openClosed") {
        iv.closure = Interval::Closure::kOpenClosed;
      } else if (closure == "closedOpen") {
        iv.closure = Interval::Closure::kClosedOpen;
      } else if (closure == "closedClosed") {
        iv.closure = Interval::Closure::kClosedClosed;
      } else {
        return ElementError(c, absl::StrCat("unknown Interval closure '", AV(closure), "'"));
      }
      Value m;
      if (c.attribute("leftMargin")) {
        if (!ParseValue(c.attribute("leftMargin").value(), DataType::kDouble, &m).ok())
          return ElementError(c, "leftMargin is not a number");
        iv.left = m.num;
      }
      if (c.attribute("rightMargin")) {
        if (!ParseValue(c.attribute("rightMargin").value(), DataType::kDouble, &m).ok())
          return ElementError(c, "rightMargin is not a number");
        iv.right = m.num;
      }
      info.intervals.push_back(iv);
    }
  }
  return info;
}

bool IsNonModelElement(std::string_view name) {
  return name == "Header" || name == "MiningBuildTask" || name == "DataDictionary" ||
         name == "TransformationDictionary" || name == "Extension";
}

}  // namespace

class Compiler {
 public:
  static absl::StatusOr<std::unique_ptr<CompiledModel>> Compile(std::unique_ptr<Document> doc) {
    auto model = std::unique_ptr<CompiledModel>(new CompiledModel());
    PlanBuilder builder;
    Scope* doc_scope = builder.Own(std::make_unique<Scope>(&builder, nullptr));
    pugi::xml_node root = doc->root();

    pugi::xml_node dd = Child(root, "DataDictionary");
    if (!dd) return ElementError(root, "missing DataDictionary");
    for (pugi::xml_node c = dd.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element || LocalName(c) != "DataField") continue;
      DataFieldInfo info;
      ASSIGN_OR_RETURN(info, ParseDataField(c));
      if (builder.FindDataField(info.name) != nullptr) {
        return ElementError(c, absl::StrCat("duplicate DataField '", info.name, "'"));
      }
      const DataFieldInfo* df = builder.AddDataField(std::move(info));
      FieldInfo fi;
      fi.name = df->name;
      fi.slot = df->raw_slot;
      fi.type = df->type;
      fi.optype = df->optype;
      fi.data_field = df;
      RETURN_IF_ERROR(doc_scope->Define(fi));
    }

    if (pugi::xml_node td = Child(root, "TransformationDictionary")) {
      for (pugi::xml_node c = td.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) continue;
        std::string_view name = LocalName(c);
        if (name == "DerivedField") {
          std::string field = c.attribute("name").value();
          if (field.empty()) return ElementError(c, "DerivedField without a name");
          RETURN_IF_ERROR(doc_scope->DefineLazy(std::move(field), c));
        } else if (name == "DefineFunction") {
          if (!c.attribute("name")) return ElementError(c, "DefineFunction without a name");
          builder.AddFunctionDefinition(c);
        }
      }
    }

    pugi::xml_node top;
    for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
      if (c.type() != pugi::node_element || IsNonModelElement(LocalName(c))) continue;
      top = c;
      break;
    }
    if (!top) return ElementError(root, "the document has no model element");

    const CoreModelPlan* plan;
    ASSIGN_OR_RETURN(plan, CompileModelElement(top, doc_scope, &builder, doc_scope));
    model->top_ = plan;
    model->model_type_ = std::string(LocalName(top));
    model->model_name_ = top.attribute("modelName").value();
    model->function_name_ = top.attribute("functionName").value();
    model->version_ = doc->version();

    std::vector<std::pair<const MiningFieldView*, const DataFieldInfo*>> targets;
    for (const MiningFieldView& mf : plan->mining_fields()) {
      const DataFieldInfo* df = mf.field.data_field;
      if (mf.usage == "target" || mf.usage == "predicted") {
        if (df != nullptr) targets.emplace_back(&mf, df);
        continue;
      }
      if (mf.usage != "active") continue;
      if (df == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "active MiningField '", mf.name, "' of the top-level model is not a DataField"));
      }
      model->inputs_.push_back(FieldSpec{mf.name, df->type, mf.field.optype});
      model->input_slots_.push_back(df->raw_slot);
      model->input_fields_.push_back(df);
      model->bindings_.push_back({df->raw_slot, df->type});
      model->fail_on_invalid_.push_back(mf.alias_fails_on_invalid);
    }
    // Target fields can be bound too (for the residual output), after the inputs.
    for (const auto& [mf, df] : targets) {
      model->extra_inputs_.push_back(mf->name);
      model->input_slots_.push_back(df->raw_slot);
      model->input_fields_.push_back(df);
      model->bindings_.push_back({df->raw_slot, df->type});
      model->fail_on_invalid_.push_back(false);
    }

    if (plan->target_output_slot() != kNoSlot) {
      const TargetInfo& t = plan->target();
      model->outputs_.push_back(FieldSpec{t.name, t.type, t.optype});
      model->output_slots_.push_back(plan->target_output_slot());
    }
    std::vector<OutputSlot> visible;
    plan->CollectOutputs(&visible);
    for (const OutputSlot& o : visible) {
      if (!o.final_result) continue;
      model->outputs_.push_back(FieldSpec{o.field.name, o.field.type, o.field.optype});
      model->output_slots_.push_back(o.field.slot);
    }
    model->plan_ = builder.Finish();
    model->doc_ = std::move(doc);
    model->BuildShortcut();
    return model;
  }
};

CompiledModel::CompiledModel() = default;
CompiledModel::~CompiledModel() = default;

absl::StatusOr<std::unique_ptr<CompiledModel>> CompiledModel::Load(std::string_view xml,
                                                                   const LoadOptions& opts) {
  std::unique_ptr<Document> doc;
  ASSIGN_OR_RETURN(doc, Document::Parse(xml, opts));
  return Compiler::Compile(std::move(doc));
}

absl::StatusOr<std::unique_ptr<CompiledModel>> CompiledModel::LoadFile(const std::string& path,
                                                                       const LoadOptions& opts) {
  std::unique_ptr<Document> doc;
  ASSIGN_OR_RETURN(doc, Document::ParseFile(path, opts));
  return Compiler::Compile(std::move(doc));
}

std::vector<int> CompiledModel::Bind(const std::vector<std::string>& names) const {
  std::vector<int> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(InputIndex(n));
  return out;
}

int CompiledModel::InputIndex(std::string_view name) const {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].name == name) return static_cast<int>(i);
  for (size_t i = 0; i < extra_inputs_.size(); ++i)
    if (extra_inputs_[i] == name) return static_cast<int>(inputs_.size() + i);
  return -1;
}

std::unique_ptr<EvalContext> CompiledModel::NewContext() const {
  return std::make_unique<EvalContext>(*plan_);
}

void CompiledModel::SetInput(EvalContext& ctx, int input, std::string_view text) const {
  const DataFieldInfo* df = input_fields_[static_cast<size_t>(input)];
  Value& v = ctx.Input(input_slots_[static_cast<size_t>(input)]);
  if (!ParseValue(text, df->type, &v).ok()) {
    v.kind = Value::Kind::kInvalid;
    v.type = DataType::kString;
    v.str.assign(text.data(), text.size());
    MarkInvalid(ctx, input, v);
  }
}

void CompiledModel::SetInputConverted(EvalContext& ctx, int input, double number) const {
  const DataFieldInfo* df = input_fields_[static_cast<size_t>(input)];
  Value& v = ctx.Input(input_slots_[static_cast<size_t>(input)]);
  switch (df->type) {
    case DataType::kString:
      v.SetNumber(number);
      v.str.clear();
      FormatValue(v, &v.str);
      v.kind = Value::Kind::kString;
      v.type = DataType::kString;
      return;
    case DataType::kFloat:
      v.SetNumber(static_cast<double>(static_cast<float>(number)), DataType::kFloat);
      return;
    case DataType::kBoolean:
      if (std::isnan(number)) {
        v.SetMissing();
      } else {
        v.SetBool(number != 0);
      }
      return;
    case DataType::kInteger:
      if (std::isfinite(number) && number == std::trunc(number)) {
        v.SetNumber(number, DataType::kInteger);
      } else {
        v.SetNumber(number);
        v.str.clear();
        FormatValue(v, &v.str);
        v.kind = Value::Kind::kInvalid;
        v.type = DataType::kString;
        MarkInvalid(ctx, input, v);
      }
      return;
    default:
      v.SetNumber(number, df->type);
      return;
  }
}

void CompiledModel::SetInput(EvalContext& ctx, int input, const Value& value) const {
  // A number is taken as SetInput(double) takes it (a fraction for an
  // integer field is invalid, not truncated), whichever overload sets it.
  if (value.kind == Value::Kind::kNumber) {
    SetInput(ctx, input, value.num);
    return;
  }
  const DataFieldInfo* df = input_fields_[static_cast<size_t>(input)];
  Value& v = ctx.Input(input_slots_[static_cast<size_t>(input)]);
  if (value.kind == Value::Kind::kInvalid) {
    v = value;
    MarkInvalid(ctx, input, v);
    return;
  }
  if (!ConvertValue(value, df->type, &v).ok()) {
    v.str.clear();
    FormatValue(value, &v.str);
    v.kind = Value::Kind::kInvalid;
    v.type = DataType::kString;
    MarkInvalid(ctx, input, v);
  }
}

void CompiledModel::MarkInvalid(EvalContext& ctx, int input, const Value& v) const {
  if (fail_on_invalid_[static_cast<size_t>(input)]) {
    ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
        "field '", inputs_[static_cast<size_t>(input)].name, "': invalid value '", v.str, "'")));
  }
}

void CompiledModel::SetMissing(EvalContext& ctx, int input) const {
  ctx.Input(input_slots_[static_cast<size_t>(input)]).SetMissing();
}

struct CompiledModel::Shortcut {
  LinearBody lin;
  const Model* body = nullptr;
  const std::vector<Value>* labels = nullptr;  // classification
  std::vector<ShortcutOutput> outputs;         // parallel to output_slots_
  // Parallel to output_slots_: the output is the predicted class, which
  // Output hands out from *labels (the slot is not written).
  std::vector<uint8_t> label_output;  // bytes, not bits: read per Output call
  // EvaluateNumbers: the input index of each summed slot (parallel to
  // lin.slots); empty when some input is not a double DataField.
  std::vector<uint32_t> x_index;
  bool x_in_order = false;  // x_index is 0, 1, 2, ... (the common case)
};

// Values handed to FinishLinear live on the stack: more classes than this
// take the general path.
constexpr size_t kShortcutMaxValues = 16;

void CompiledModel::BuildShortcut() {
  const auto* plan = static_cast<const CoreModelPlan*>(top_);
  auto sc = std::make_unique<Shortcut>();
  sc->body = &plan->body();
  if (!sc->body->DescribeLinear(&sc->lin) || sc->lin.n_values > kShortcutMaxValues ||
      sc->lin.index >= sc->lin.n_values || output_slots_.empty())
    return;
  // The body must read the caller's input slots themselves (no treatment,
  // no derived field in between).
  for (SlotId s : sc->lin.slots)
    if (std::find(input_slots_.begin(), input_slots_.begin() + inputs_.size(), s) ==
        input_slots_.begin() + inputs_.size())
      return;
  if (sc->lin.classification) {
    sc->labels = sc->body->labels();
    if (sc->labels == nullptr || sc->labels->size() != sc->lin.n_values) return;
  }
  for (SlotId s : output_slots_) {
    ShortcutOutput o;
    if (!plan->DescribeShortcutOutput(s, &o)) return;
    sc->outputs.push_back(o);
    sc->label_output.push_back(sc->lin.classification && o.kind == ShortcutOutput::Kind::kPrediction);
  }
  const size_t n_in = inputs_.size();
  bool all_double = true;
  for (size_t i = 0; i < n_in; ++i) all_double = all_double && bindings_[i].type == DataType::kDouble;
  if (all_double) {
    for (SlotId s : sc->lin.slots)
      sc->x_index.push_back(static_cast<uint32_t>(
          std::find(input_slots_.begin(), input_slots_.begin() + n_in, s) - input_slots_.begin()));
    sc->x_in_order = true;
    for (size_t j = 0; j < sc->x_index.size(); ++j) sc->x_in_order = sc->x_in_order && sc->x_index[j] == j;
  }
  shortcut_ = std::move(sc);
}

bool CompiledModel::RunShortcut(EvalContext& ctx) const {
  const Shortcut& sc = *shortcut_;
  const LinearBody& l = sc.lin;
  // The same operations in the same order as the body's fused table.
  double sum = 0;
  const size_t n = l.slots.size();
  for (size_t j = 0; j < n; ++j) {
    const Value* v = ctx.IfFresh(l.slots[j]);
    if (v == nullptr || v->kind != Value::Kind::kNumber) return false;
    sum += l.coefs[j] * v->num;
  }
  return FinishShortcut(ctx, sum);
}

bool CompiledModel::FinishShortcut(EvalContext& ctx, double sum) const {
  const Shortcut& sc = *shortcut_;
  const LinearBody& l = sc.lin;
  // Zeroed by hand: `= {}` (or a loop over all) becomes a rep stos that
  // costs more than the rest of a binary model's finish.
  static_assert(kShortcutMaxValues >= 2);
  double p[kShortcutMaxValues];
  p[0] = 0;
  p[1] = 0;
  for (size_t i = 2; i < l.n_values; ++i) p[i] = 0;
  p[l.index] = l.intercept != 0 ? sum + l.intercept : sum;
  int best = 0;
  if (!sc.body->FinishLinear(p, l.n_values, &best)) return false;  // the general path fails the record
  if (best < 0) return false;  // no class: the general path leaves the prediction missing
  for (size_t k = 0; k < output_slots_.size(); ++k) {
    // The predicted class is not written: Output hands out the label itself
    // (no copy, and no branch on which class won: a mispredicted one costs
    // the record's whole dependency chain). Its slot stays stale.
    if (sc.label_output[k]) continue;
    const ShortcutOutput& o = sc.outputs[k];
    Value& out = ctx.Input(output_slots_[k]);
    if (o.kind == ShortcutOutput::Kind::kProbability) {
      if (std::isnan(p[o.index])) {
        out.SetMissing();
      } else {
        out.SetNumber(p[o.index]);
      }
    } else {
      out.SetNumber(p[0]);
    }
  }
  if (l.classification) ctx.set_shortcut_class(best);
  return true;
}

absl::Status CompiledModel::EvaluateNumbers(EvalContext& ctx, const double* x, size_t n) const {
  ctx.BeginRecord();
  if (shortcut_ != nullptr && shortcut_enabled_ && n == inputs_.size() && !shortcut_->x_index.empty()) {
    // What RunShortcut sums, read from x: every input is a fresh number here.
    const Shortcut& sc = *shortcut_;
    const double* coefs = sc.lin.coefs.data();
    const uint32_t* idx = sc.x_index.data();
    const size_t m = sc.x_index.size();
    double sum = 0;
    if (sc.x_in_order) {
      for (size_t j = 0; j < m; ++j) sum += coefs[j] * x[j];
    } else {
      for (size_t j = 0; j < m; ++j) sum += coefs[j] * x[idx[j]];
    }
    if (FinishShortcut(ctx, sum)) return absl::OkStatus();
  }
  for (size_t i = 0; i < n; ++i) SetInput(ctx, static_cast<int>(i), x[i]);
  return Evaluate(ctx);
}

absl::Status CompiledModel::Evaluate(EvalContext& ctx) const {
  if (ctx.failed()) return ctx.status();
  if (shortcut_ != nullptr && shortcut_enabled_ && RunShortcut(ctx)) return absl::OkStatus();
  for (SlotId s : output_slots_) {
    ctx.Get(s);
    if (ctx.failed()) return ctx.status();
  }
  return absl::OkStatus();
}

const Value& CompiledModel::Output(EvalContext& ctx, int output) const {
  if (shortcut_ != nullptr && shortcut_->label_output[static_cast<size_t>(output)]) {
    const int c = ctx.shortcut_class();
    if (c >= 0) return (*shortcut_->labels)[static_cast<size_t>(c)];
  }
  return ctx.Get(output_slots_[static_cast<size_t>(output)]);
}

}  // namespace evs::pmml
