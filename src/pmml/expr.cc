// Expressions other than Apply (functions.cc): Constant, FieldRef,
// NormContinuous, NormDiscrete, Discretize, MapValues, TextIndex; derived
// field producers, DefineFunction bodies, Array parsing, shared helpers.
// Everything that can be precomputed (parsed constants, sorted LinearNorms,
// MapValues hash indexes, compiled regexes, tokenized constant terms) is
// done at compile time.

#include "pmml/expr.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr_internal.h"

namespace evs::pmml {
namespace expr_internal {

bool ToDouble(const Value& v, double* out) {
  switch (v.kind) {
    case Value::Kind::kNumber:
    case Value::Kind::kBool:
      *out = v.num;
      return true;
    case Value::Kind::kString:
    case Value::Kind::kInvalid: {
      std::string_view s = Trim(v.str);
      if (s.empty()) return false;
      std::string tmp(s);
      char* end = nullptr;
      double d = std::strtod(tmp.c_str(), &end);
      if (end != tmp.c_str() + tmp.size()) return false;
      *out = d;
      return true;
    }
    default:
      return false;
  }
}

bool ToBool(const Value& v, bool* out) {
  switch (v.kind) {
    case Value::Kind::kBool:
    case Value::Kind::kNumber:
      if (std::isnan(v.num)) return false;
      *out = v.num != 0;
      return true;
    case Value::Kind::kString:
    case Value::Kind::kInvalid: {
      if (EqualsIgnoreCase(v.str, "true")) {
        *out = true;
        return true;
      }
      if (EqualsIgnoreCase(v.str, "false")) {
        *out = false;
        return true;
      }
      double d;
      if (ToDouble(v, &d) && !std::isnan(d)) {
        *out = d != 0;
        return true;
      }
      return false;
    }
    default:
      return false;
  }
}

void ToText(const Value& v, std::string* out) {
  if (v.kind == Value::Kind::kString || v.kind == Value::Kind::kInvalid) {
    out->assign(v.str);
  } else {
    out->clear();
    FormatValue(v, out);
  }
}

bool IsArithmeticType(DataType t) {
  return t == DataType::kInteger || t == DataType::kFloat || t == DataType::kDouble;
}

DataType CommonNumericType(DataType a, DataType b) {
  if (!IsArithmeticType(a) || !IsArithmeticType(b)) return DataType::kDouble;
  if (a == DataType::kDouble || b == DataType::kDouble) return DataType::kDouble;
  if (a == DataType::kFloat || b == DataType::kFloat) return DataType::kFloat;
  return DataType::kInteger;
}

OpType DefaultOpType(DataType t) {
  switch (t) {
    case DataType::kString:
    case DataType::kBoolean:
      return OpType::kCategorical;
    case DataType::kInteger:
    case DataType::kFloat:
    case DataType::kDouble:
      return OpType::kContinuous;
    default:
      return OpType::kOrdinal;
  }
}

double RoundToType(double v, DataType t) {
  if (t == DataType::kFloat) return static_cast<double>(static_cast<float>(v));
  return v;
}

std::string_view Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view LocalPart(std::string_view qname) {
  size_t colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

bool HasAttr(pugi::xml_node n, const char* name) { return !n.attribute(name).empty(); }

std::string_view AttrView(pugi::xml_node n, const char* name) { return n.attribute(name).value(); }

absl::StatusOr<double> DoubleAttr(pugi::xml_node n, const char* name) {
  pugi::xml_attribute a = n.attribute(name);
  if (a.empty()) return ElementError(n, absl::StrCat("missing attribute ", name));
  Value v;
  if (!ParseValue(a.value(), DataType::kDouble, &v).ok() || !v.is_number()) {
    return ElementError(n, absl::StrCat("attribute ", name, "=\"", a.value(), "\" is not a number"));
  }
  return v.num;
}

absl::StatusOr<int> IntAttr(pugi::xml_node n, const char* name, int def) {
  pugi::xml_attribute a = n.attribute(name);
  if (a.empty()) return def;
  int v = 0;
  if (!absl::SimpleAtoi(a.value(), &v)) {
    return ElementError(n, absl::StrCat("attribute ", name, "=\"", a.value(), "\" is not an integer"));
  }
  return v;
}

absl::StatusOr<bool> BoolAttr(pugi::xml_node n, const char* name, bool def) {
  pugi::xml_attribute a = n.attribute(name);
  if (a.empty()) return def;
  std::string_view s = a.value();
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  return ElementError(n, absl::StrCat("attribute ", name, "=\"", a.value(), "\" is not a boolean"));
}

absl::StatusOr<DataType> DataTypeAttr(pugi::xml_node n, const char* name, DataType def) {
  pugi::xml_attribute a = n.attribute(name);
  if (a.empty()) return def;
  auto t = ParseDataType(a.value());
  if (!t.ok()) return ElementError(n, absl::StrCat("unknown ", name, " \"", a.value(), "\""));
  return *t;
}

Value ParseOrString(std::string_view text, DataType type) {
  Value v;
  if (type != DataType::kString) {
    std::string_view t = Trim(text);
    if (ParseValue(t, type, &v).ok()) return v;
  } else if (ParseValue(text, type, &v).ok()) {
    return v;
  }
  v.SetString(text);
  return v;
}

absl::Status CastTo(const Value& in, DataType type, Value* out) {
  if (in.missing()) {
    out->SetMissing();
    return absl::OkStatus();
  }
  if (in.type == type && in.kind != Value::Kind::kInvalid) {
    *out = in;
    return absl::OkStatus();
  }
  if (in.kind == Value::Kind::kNumber || in.kind == Value::Kind::kBool) {
    if (type == DataType::kDouble) {
      out->SetNumber(in.num, DataType::kDouble);
      return absl::OkStatus();
    }
    if (type == DataType::kFloat) {
      out->SetNumber(RoundToType(in.num, DataType::kFloat), DataType::kFloat);
      return absl::OkStatus();
    }
  }
  return ConvertValue(in, type, out);
}

absl::StatusOr<Table> ParseTable(pugi::xml_node parent) {
  if (Child(parent, "TableLocator")) {
    return ElementError(Child(parent, "TableLocator"),
                        "TableLocator (an external table) is not supported; use an InlineTable");
  }
  pugi::xml_node inline_table = Child(parent, "InlineTable");
  if (!inline_table) return ElementError(parent, "missing InlineTable");
  Table table;
  for (pugi::xml_node row : inline_table.children()) {
    if (row.type() != pugi::node_element || LocalName(row) != "row") continue;
    auto& cells = table.rows.emplace_back();
    for (pugi::xml_node cell : row.children()) {
      if (cell.type() != pugi::node_element) continue;
      cells[std::string(LocalName(cell))] = cell.child_value();
    }
  }
  return table;
}

}  // namespace expr_internal

namespace {

using expr_internal::AttrView;
using expr_internal::BoolAttr;
using expr_internal::ConstantExpr;
using expr_internal::DataTypeAttr;
using expr_internal::DefaultOpType;
using expr_internal::EqualsIgnoreCase;
using expr_internal::Trim;
using expr_internal::HasAttr;
using expr_internal::LocalPart;
using expr_internal::ParseOrString;
using expr_internal::ToDouble;
using expr_internal::ToText;

// ---------------------------------------------------------------- Constant

absl::StatusOr<std::unique_ptr<Expr>> CompileConstant(pugi::xml_node el) {
  ASSIGN_OR_RETURN(bool is_missing, BoolAttr(el, "missing", false));
  std::string_view text = el.child_value();
  bool has_type = HasAttr(el, "dataType");
  ASSIGN_OR_RETURN(DataType type, DataTypeAttr(el, "dataType", DataType::kString));
  Value v;
  if (is_missing) {
    v.SetMissing();
  } else if (has_type) {
    if (text.empty()) {
      if (type == DataType::kString) v.SetString("");
    } else {
      std::string_view t = type == DataType::kString ? text : Trim(text);
      if (!ParseValue(t, type, &v).ok()) {
        return ElementError(el, absl::StrCat("constant \"", std::string(text), "\" is not a valid ",
                                             std::string(DataTypeName(type))));
      }
    }
  } else {
    // Type inference as JPMML: "" and non-numbers are strings; a number
    // with a '.' (or NaN/INF) is a double; an integer literal is an integer.
    type = DataType::kString;
    std::string_view t = Trim(text);
    int64_t iv;
    double dv;
    if (EqualsIgnoreCase(t, "NaN") || EqualsIgnoreCase(t, "INF") ||
        EqualsIgnoreCase(t, "-INF")) {
      type = DataType::kDouble;
    } else if (t.find('.') != std::string_view::npos) {
      if (absl::SimpleAtod(AV(t), &dv) && t.find_first_of("xXpP") == std::string_view::npos) {
        type = DataType::kDouble;
      }
    } else if (!t.empty() && absl::SimpleAtoi(AV(t), &iv)) {
      type = DataType::kInteger;
    }
    if (type == DataType::kString) {
      v.SetString(text);
    } else if (!ParseValue(t, type, &v).ok()) {
      v.SetString(text);
      type = DataType::kString;
    }
  }
  auto expr = std::make_unique<ConstantExpr>(std::move(v));
  expr->set_type(type, DefaultOpType(type));
  return expr;
}

// ---------------------------------------------------------------- FieldRef

class FieldRefExpr : public Expr {
 public:
  explicit FieldRefExpr(SlotId slot) : slot_(slot) {}
  void Eval(EvalContext& ctx, Value* out) const override { *out = ctx.Get(slot_); }
  const Value& EvalRef(EvalContext& ctx, Value* scratch) const override { return ctx.Get(slot_); }
  SlotId AsFieldSlot() const override { return slot_; }

 private:
  SlotId slot_;
};

class FieldRefMappedExpr : public Expr {
 public:
  FieldRefMappedExpr(SlotId slot, Value map_missing_to)
      : slot_(slot), map_missing_to_(std::move(map_missing_to)) {}
  void Eval(EvalContext& ctx, Value* out) const override { *out = EvalRef(ctx, out); }
  const Value& EvalRef(EvalContext& ctx, Value* scratch) const override {
    const Value& v = ctx.Get(slot_);
    return v.missing() ? map_missing_to_ : v;
  }

 private:
  SlotId slot_;
  Value map_missing_to_;
};

absl::StatusOr<FieldInfo> ResolveField(pugi::xml_node el, const char* attr, Scope& scope) {
  std::string_view name = AttrView(el, attr);
  if (name.empty()) return ElementError(el, absl::StrCat("missing attribute ", attr));
  auto info = scope.Resolve(name);
  if (!info.ok()) {
    if (absl::IsNotFound(info.status())) {
      return ElementError(el, absl::StrCat("field \"", std::string(name), "\" is not defined"));
    }
    return info.status();
  }
  return *info;
}

// Derived fields being compiled on this thread. A reference back to one of
// them is a reference cycle: an error (from Scope::Resolve), unless it lies
// in a branch of an `if` entered after that field's compile began; JPMML
// then evaluates the document and fails only when a record actually takes
// the cyclic branch, and so do we (SelfRefExpr with a guarded producer).
struct CompilingField {
  std::string name;
  const Scope* scope;
  SlotId slot;
  DataType type;
  int branch_depth;
  bool referenced = false;
};
thread_local std::vector<CompilingField> g_compiling_fields;
thread_local int g_branch_depth = 0;
// Guarded slots being produced on this thread (innermost last).
thread_local std::vector<SlotId> g_producing;

class SelfRefExpr : public Expr {
 public:
  explicit SelfRefExpr(SlotId slot) : slot_(slot) {}
  void Eval(EvalContext& ctx, Value* out) const override { *out = EvalRef(ctx, out); }
  const Value& EvalRef(EvalContext& ctx, Value* scratch) const override {
    for (SlotId s : g_producing) {
      if (s == slot_) {
        ctx.Fail(absl::InvalidArgumentError(
            absl::StrCat("field ", ctx.plan().slot_name(slot_), " is defined in terms of itself for this record")));
        scratch->SetMissing();
        return *scratch;
      }
    }
    return ctx.Get(slot_);
  }

 private:
  SlotId slot_;
};

absl::StatusOr<std::unique_ptr<Expr>> CompileFieldRef(pugi::xml_node el, Scope& scope) {
  std::string_view fname = AttrView(el, "field");
  for (auto it = g_compiling_fields.rbegin(); it != g_compiling_fields.rend(); ++it) {
    if (it->name == fname && it->scope == &scope && g_branch_depth > it->branch_depth &&
        !HasAttr(el, "mapMissingTo")) {
      it->referenced = true;
      auto expr = std::make_unique<SelfRefExpr>(it->slot);
      expr->set_type(it->type, DefaultOpType(it->type));
      return std::unique_ptr<Expr>(std::move(expr));
    }
  }
  ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, "field", scope));
  std::unique_ptr<Expr> expr;
  if (HasAttr(el, "mapMissingTo")) {
    expr = std::make_unique<FieldRefMappedExpr>(f.slot, ParseOrString(AttrView(el, "mapMissingTo"), f.type));
  } else {
    expr = std::make_unique<FieldRefExpr>(f.slot);
  }
  expr->set_type(f.type, f.optype);
  return expr;
}

// ---------------------------------------------------------------- NormContinuous

class NormContinuousExpr : public Expr {
 public:
  enum class Outliers { kAsIs, kAsMissing, kAsExtreme };
  NormContinuousExpr(SlotId slot, std::vector<double> orig, std::vector<double> norm, Outliers outliers,
                     Value map_missing_to)
      : slot_(slot),
        orig_(std::move(orig)),
        norm_(std::move(norm)),
        outliers_(outliers),
        map_missing_to_(std::move(map_missing_to)) {}

  void Eval(EvalContext& ctx, Value* out) const override {
    const Value& v = ctx.Get(slot_);
    if (v.missing()) {
      *out = map_missing_to_;
      return;
    }
    double x;
    if (!ToDouble(v, &x)) {
      ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat("NormContinuous: value \"", FormatValue(v), "\" of field ",
                       ctx.plan().slot_name(slot_), " is not a number")));
      out->SetMissing();
      return;
    }
    size_t n = orig_.size();
    size_t i;
    if (x < orig_[0] || x > orig_[n - 1] || std::isnan(x)) {
      switch (outliers_) {
        case Outliers::kAsMissing:
          out->SetMissing();
          return;
        case Outliers::kAsExtreme:
          out->SetNumber(x < orig_[0] ? norm_[0] : norm_[n - 1], DataType::kDouble);
          return;
        case Outliers::kAsIs:
          i = x < orig_[0] ? 0 : n - 2;
          break;
      }
      if (std::isnan(x)) {
        out->SetNumber(x, DataType::kDouble);
        return;
      }
    } else {
      // First segment whose right end is >= x.
      i = static_cast<size_t>(std::lower_bound(orig_.begin() + 1, orig_.end(), x) - orig_.begin()) - 1;
    }
    double lo = orig_[i], hi = orig_[i + 1];
    out->SetNumber(norm_[i] + ((x - lo) / (hi - lo)) * (norm_[i + 1] - norm_[i]), DataType::kDouble);
  }

 private:
  SlotId slot_;
  std::vector<double> orig_, norm_;
  Outliers outliers_;
  Value map_missing_to_;
};

absl::StatusOr<std::unique_ptr<Expr>> CompileNormContinuous(pugi::xml_node el, Scope& scope) {
  ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, "field", scope));
  std::vector<double> orig, norm;
  for (pugi::xml_node c : el.children()) {
    if (c.type() != pugi::node_element || LocalName(c) != "LinearNorm") continue;
    ASSIGN_OR_RETURN(double o, expr_internal::DoubleAttr(c, "orig"));
    ASSIGN_OR_RETURN(double m, expr_internal::DoubleAttr(c, "norm"));
    if (!orig.empty() && !(o > orig.back())) {
      return ElementError(c, "LinearNorm orig values must be strictly increasing");
    }
    orig.push_back(o);
    norm.push_back(m);
  }
  if (orig.size() < 2) return ElementError(el, "NormContinuous needs at least two LinearNorm elements");
  auto outliers = NormContinuousExpr::Outliers::kAsIs;
  std::string_view o = AttrView(el, "outliers");
  if (o == "asMissingValues") {
    outliers = NormContinuousExpr::Outliers::kAsMissing;
  } else if (o == "asExtremeValues") {
    outliers = NormContinuousExpr::Outliers::kAsExtreme;
  } else if (!o.empty() && o != "asIs") {
    return ElementError(el, absl::StrCat("unknown outliers treatment \"", std::string(o), "\""));
  }
  Value mm;
  if (HasAttr(el, "mapMissingTo")) {
    ASSIGN_OR_RETURN(double d, expr_internal::DoubleAttr(el, "mapMissingTo"));
    mm.SetNumber(d, DataType::kDouble);
  }
  auto expr = std::make_unique<NormContinuousExpr>(f.slot, std::move(orig), std::move(norm), outliers,
                                                   std::move(mm));
  expr->set_type(DataType::kDouble, OpType::kContinuous);
  return expr;
}

// ---------------------------------------------------------------- NormDiscrete

class NormDiscreteExpr : public Expr {
 public:
  NormDiscreteExpr(SlotId slot, Value value, Value map_missing_to)
      : slot_(slot), value_(std::move(value)), map_missing_to_(std::move(map_missing_to)) {
    numeric_ = value_.is_number() || value_.is_bool();
  }
  void Eval(EvalContext& ctx, Value* out) const override {
    const Value& v = ctx.Get(slot_);
    if (v.missing()) {
      *out = map_missing_to_;
      return;
    }
    bool eq;
    if (numeric_ && (v.is_number() || v.is_bool())) {
      eq = v.num == value_.num;
    } else if (!numeric_ && v.is_string()) {
      eq = v.str == value_.str;
    } else {
      eq = ValuesEqual(v, value_);
    }
    out->SetNumber(eq ? 1.0 : 0.0, DataType::kDouble);
  }

 private:
  SlotId slot_;
  Value value_;
  Value map_missing_to_;
  bool numeric_;
};

absl::StatusOr<std::unique_ptr<Expr>> CompileNormDiscrete(pugi::xml_node el, Scope& scope) {
  ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, "field", scope));
  if (!HasAttr(el, "value")) return ElementError(el, "missing attribute value");
  std::string_view method = AttrView(el, "method");
  if (!method.empty() && method != "indicator") {
    return ElementError(el, absl::StrCat("NormDiscrete method \"", std::string(method), "\" is not supported"));
  }
  Value mm;
  if (HasAttr(el, "mapMissingTo")) {
    ASSIGN_OR_RETURN(double d, expr_internal::DoubleAttr(el, "mapMissingTo"));
    mm.SetNumber(d, DataType::kDouble);
  }
  auto expr = std::make_unique<NormDiscreteExpr>(f.slot, ParseOrString(AttrView(el, "value"), f.type), std::move(mm));
  expr->set_type(DataType::kDouble, OpType::kCategorical);
  return expr;
}

// ---------------------------------------------------------------- Discretize

class DiscretizeExpr : public Expr {
 public:
  struct Bin {
    Interval interval;
    Value value;
  };
  DiscretizeExpr(SlotId slot, std::vector<Bin> bins, Value default_value, Value map_missing_to)
      : slot_(slot),
        bins_(std::move(bins)),
        default_value_(std::move(default_value)),
        map_missing_to_(std::move(map_missing_to)) {}
  void Eval(EvalContext& ctx, Value* out) const override { *out = EvalRef(ctx, out); }
  const Value& EvalRef(EvalContext& ctx, Value* scratch) const override {
    const Value& v = ctx.Get(slot_);
    if (v.missing()) return map_missing_to_;
    double x;
    if (!ToDouble(v, &x)) {
      ctx.Fail(absl::InvalidArgumentError(absl::StrCat("Discretize: value \"", FormatValue(v), "\" of field ",
                                                       ctx.plan().slot_name(slot_), " is not a number")));
      scratch->SetMissing();
      return *scratch;
    }
    for (const Bin& b : bins_) {
      if (b.interval.Contains(x)) return b.value;
    }
    return default_value_;
  }

 private:
  SlotId slot_;
  std::vector<Bin> bins_;
  Value default_value_;
  Value map_missing_to_;
};

absl::StatusOr<Interval> ParseInterval(pugi::xml_node el) {
  Interval iv;
  std::string_view c = AttrView(el, "closure");
  if (c == "openClosed") {
    iv.closure = Interval::Closure::kOpenClosed;
  } else if (c == "openOpen") {
    iv.closure = Interval::Closure::kOpenOpen;
  } else if (c == "closedOpen") {
    iv.closure = Interval::Closure::kClosedOpen;
  } else if (c == "closedClosed") {
    iv.closure = Interval::Closure::kClosedClosed;
  } else {
    return ElementError(el, absl::StrCat("bad or missing closure \"", std::string(c), "\""));
  }
  if (HasAttr(el, "leftMargin")) {
    ASSIGN_OR_RETURN(iv.left, expr_internal::DoubleAttr(el, "leftMargin"));
  }
  if (HasAttr(el, "rightMargin")) {
    ASSIGN_OR_RETURN(iv.right, expr_internal::DoubleAttr(el, "rightMargin"));
  }
  if (!HasAttr(el, "leftMargin") && !HasAttr(el, "rightMargin")) {
    return ElementError(el, "Interval needs leftMargin or rightMargin");
  }
  if (iv.left > iv.right) return ElementError(el, "Interval leftMargin is greater than rightMargin");
  return iv;
}

absl::StatusOr<std::unique_ptr<Expr>> CompileDiscretize(pugi::xml_node el, Scope& scope) {
  ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, "field", scope));
  ASSIGN_OR_RETURN(DataType type, DataTypeAttr(el, "dataType", DataType::kString));
  std::vector<DiscretizeExpr::Bin> bins;
  for (pugi::xml_node c : el.children()) {
    if (c.type() != pugi::node_element || LocalName(c) != "DiscretizeBin") continue;
    pugi::xml_node ivn = Child(c, "Interval");
    if (!ivn) return ElementError(c, "DiscretizeBin without Interval");
    if (!HasAttr(c, "binValue")) return ElementError(c, "missing attribute binValue");
    ASSIGN_OR_RETURN(Interval iv, ParseInterval(ivn));
    bins.push_back({iv, ParseOrString(AttrView(c, "binValue"), type)});
  }
  Value def, mm;
  if (HasAttr(el, "defaultValue")) def = ParseOrString(AttrView(el, "defaultValue"), type);
  if (HasAttr(el, "mapMissingTo")) mm = ParseOrString(AttrView(el, "mapMissingTo"), type);
  auto expr = std::make_unique<DiscretizeExpr>(f.slot, std::move(bins), std::move(def), std::move(mm));
  expr->set_type(type, OpType::kCategorical);
  return expr;
}

// ---------------------------------------------------------------- MapValues

class MapValuesExpr : public Expr {
 public:
  struct Row {
    std::vector<Value> keys;
    Value out;
    bool has_out = true;
  };
  MapValuesExpr(std::vector<SlotId> slots, std::vector<Row> rows, Value default_value, Value map_missing_to)
      : slots_(std::move(slots)),
        rows_(std::move(rows)),
        default_value_(std::move(default_value)),
        map_missing_to_(std::move(map_missing_to)) {
    if (slots_.size() == 1) {
      // Index the single key column; first row wins on duplicates.
      for (size_t i = 0; i < rows_.size(); ++i) {
        const Value& k = rows_[i].keys[0];
        if (k.is_number() || k.is_bool()) {
          num_index_.try_emplace(k.num == 0 ? 0.0 : k.num, i);
        } else {
          str_index_.try_emplace(FormatValue(k), i);
        }
      }
    }
  }

  void Eval(EvalContext& ctx, Value* out) const override { *out = EvalRef(ctx, out); }

  const Value& EvalRef(EvalContext& ctx, Value* scratch) const override {
    const Row* hit = nullptr;
    if (slots_.size() == 1) {
      const Value& v = ctx.Get(slots_[0]);
      if (v.missing()) return map_missing_to_;
      if (v.is_number() || v.is_bool()) {
        auto it = num_index_.find(v.num == 0 ? 0.0 : v.num);
        if (it != num_index_.end()) hit = &rows_[it->second];
      }
      if (hit == nullptr && !str_index_.empty()) {
        if (v.is_string() || v.kind == Value::Kind::kInvalid) {
          auto it = str_index_.find(AV(v.str));  // no copy of the key
          if (it != str_index_.end()) hit = &rows_[it->second];
        } else {
          std::string key;
          ToText(v, &key);
          auto it = str_index_.find(key);
          if (it != str_index_.end()) hit = &rows_[it->second];
        }
      }
      if (hit == nullptr && !num_index_.empty() && !v.is_number() && !v.is_bool()) {
        double d;
        if (ToDouble(v, &d)) {
          auto it = num_index_.find(d == 0 ? 0.0 : d);
          if (it != num_index_.end()) hit = &rows_[it->second];
        }
      }
    } else {
      for (SlotId s : slots_) {
        if (ctx.Get(s).missing()) return map_missing_to_;
      }
      for (const Row& r : rows_) {
        bool match = true;
        for (size_t j = 0; j < slots_.size() && match; ++j) match = ValuesEqual(ctx.Get(slots_[j]), r.keys[j]);
        if (match) {
          hit = &r;
          break;
        }
      }
    }
    if (hit == nullptr) return default_value_;
    if (!hit->has_out) {
      ctx.Fail(absl::InvalidArgumentError("MapValues: the matching InlineTable row has no output column"));
      scratch->SetMissing();
      return *scratch;
    }
    return hit->out;
  }

 private:
  std::vector<SlotId> slots_;
  std::vector<Row> rows_;
  Value default_value_;
  Value map_missing_to_;
  absl::flat_hash_map<double, size_t> num_index_;
  absl::flat_hash_map<std::string, size_t> str_index_;
};

absl::StatusOr<std::unique_ptr<Expr>> CompileMapValues(pugi::xml_node el, Scope& scope) {
  ASSIGN_OR_RETURN(DataType type, DataTypeAttr(el, "dataType", DataType::kString));
  std::string out_col(LocalPart(AttrView(el, "outputColumn")));
  if (out_col.empty()) return ElementError(el, "missing attribute outputColumn");
  std::vector<SlotId> slots;
  std::vector<DataType> types;
  std::vector<std::string> cols;
  for (pugi::xml_node c : el.children()) {
    if (c.type() != pugi::node_element || LocalName(c) != "FieldColumnPair") continue;
    ASSIGN_OR_RETURN(FieldInfo f, ResolveField(c, "field", scope));
    std::string col(LocalPart(AttrView(c, "column")));
    if (col.empty()) return ElementError(c, "missing attribute column");
    slots.push_back(f.slot);
    types.push_back(f.type);
    cols.push_back(std::move(col));
  }
  Value def, mm;
  if (HasAttr(el, "defaultValue")) def = ParseOrString(AttrView(el, "defaultValue"), type);
  if (HasAttr(el, "mapMissingTo")) mm = ParseOrString(AttrView(el, "mapMissingTo"), type);
  std::vector<MapValuesExpr::Row> rows;
  if (!slots.empty()) {
    ASSIGN_OR_RETURN(expr_internal::Table table, expr_internal::ParseTable(el));
    for (const auto& cells : table.rows) {
      MapValuesExpr::Row r;
      bool complete = true;
      for (size_t j = 0; j < cols.size(); ++j) {
        auto it = cells.find(cols[j]);
        if (it == cells.end()) {
          complete = false;
          break;
        }
        r.keys.push_back(ParseOrString(it->second, types[j]));
      }
      if (!complete) continue;  // a row without a key cell never matches
      auto it = cells.find(out_col);
      if (it == cells.end()) {
        r.has_out = false;
      } else {
        r.out = ParseOrString(it->second, type);
      }
      rows.push_back(std::move(r));
    }
  }
  std::unique_ptr<Expr> expr;
  if (slots.empty()) {
    // No FieldColumnPair: the default value, always.
    expr = std::make_unique<ConstantExpr>(def);
  } else {
    expr = std::make_unique<MapValuesExpr>(std::move(slots), std::move(rows), std::move(def), std::move(mm));
  }
  expr->set_type(type, OpType::kCategorical);
  return expr;
}

// ---------------------------------------------------------------- TextIndex

// Java's String.trim()-like ASCII punctuation trimming of a token.
std::string_view TrimPunctuation(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::ispunct(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::ispunct(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// std::regex matches recursively (deep input can exhaust the stack) and may
// throw: texts longer than this are refused, and every use is guarded.
constexpr size_t kMaxRegexText = 20000;

struct Tokenizer {
  bool word_re = false;     // true: tokens are the matches of `re`; false: `re` separates tokens
  bool whitespace = false;  // the separator is \s+ (or \s): split without a regex
  std::regex re;

  // False (with *err) when the text is too long or the regex fails.
  bool Tokenize(const std::string& s, std::vector<std::string>* out, std::string* err) const {
    out->clear();
    if (s.empty()) return true;
    auto add = [&](std::string_view tok) {
      tok = TrimPunctuation(tok);
      if (!tok.empty()) out->emplace_back(tok);
    };
    if (whitespace && !word_re) {
      size_t i = 0;
      while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        size_t b = i;
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        if (i > b) add(std::string_view(s).substr(b, i - b));
      }
      return true;
    }
    if (s.size() > kMaxRegexText) {
      *err = absl::StrCat("text of ", s.size(), " characters is too long for regular expressions (limit ",
                          kMaxRegexText, ")");
      return false;
    }
    try {
      if (word_re) {
        for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
          out->push_back(it->str());
        }
        return true;
      }
      size_t pos = 0;
      for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
        size_t start = static_cast<size_t>(it->position());
        if (it->length() == 0) continue;
        add(std::string_view(s).substr(pos, start - pos));
        pos = start + static_cast<size_t>(it->length());
      }
      add(std::string_view(s).substr(pos));
    } catch (const std::exception& e) {
      *err = absl::StrCat("regular expression failed: ", e.what());
      return false;
    }
    return true;
  }
};

bool CharEq(char a, char b, bool cs) {
  if (a == b) return true;
  return !cs && std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
}

// Levenshtein distance if <= threshold, else -1.
int LimitedLevenshtein(std::string_view a, std::string_view b, bool cs, int threshold) {
  if (a.size() > b.size()) std::swap(a, b);
  int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
  if (m - n > threshold) return -1;
  std::vector<int> prev(n + 1), cur(n + 1);
  for (int i = 0; i <= n; ++i) prev[i] = i;
  for (int j = 1; j <= m; ++j) {
    cur[0] = j;
    for (int i = 1; i <= n; ++i) {
      int cost = CharEq(a[i - 1], b[j - 1], cs) ? 0 : 1;
      cur[i] = std::min({prev[i] + 1, cur[i - 1] + 1, prev[i - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[n] <= threshold ? prev[n] : -1;
}

bool TokenEq(const std::string& a, const std::string& b, bool cs) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!CharEq(a[i], b[i], cs)) return false;
  }
  return true;
}

struct Normalization {
  struct Rule {
    std::regex re;
    std::string replacement;
  };
  std::vector<Rule> rules;
  bool recursive = false;

  bool Apply(std::string* s, std::string* err) const {
    for (int guard = 0; guard < 1000; ++guard) {
      if (s->size() > kMaxRegexText) {
        *err = absl::StrCat("text of ", s->size(), " characters is too long for regular expressions (limit ",
                            kMaxRegexText, ")");
        return false;
      }
      std::string before = *s;
      try {
        for (const Rule& r : rules) *s = std::regex_replace(*s, r.re, r.replacement);
      } catch (const std::exception& e) {
        *err = absl::StrCat("regular expression failed: ", e.what());
        return false;
      }
      if (!recursive || *s == before) break;
    }
    return true;
  }
};

// Java replacement syntax ($n groups, \x escapes) to ECMAScript format.
std::string JavaReplacementToEcma(std::string_view r) {
  std::string out;
  for (size_t i = 0; i < r.size(); ++i) {
    char c = r[i];
    if (c == '\\' && i + 1 < r.size()) {
      char n = r[++i];
      if (n == '$') {
        out += "$$";
      } else {
        out += n;
      }
    } else {
      out += c;
    }
  }
  return out;
}

std::string QuoteRegex(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("\\^$.|?*+()[]{}/-", c) != nullptr && c != '\0') out += '\\';
    out += c;
  }
  return out;
}

class TextIndexExpr : public Expr {
 public:
  enum class Weights { kTermFrequency, kBinary, kLogarithmic, kAugmented };

  SlotId text_slot = kNoSlot;
  std::unique_ptr<Expr> term;
  std::vector<std::string> const_term_tokens;  // when term is a Constant
  bool const_term = false;
  Weights weights = Weights::kTermFrequency;
  bool case_sensitive = false;
  int max_distance = 0;
  bool best_hits = false;
  Tokenizer tokenizer;
  std::vector<Normalization> normalizations;

  void Eval(EvalContext& ctx, Value* out) const override {
    const Value& tv = ctx.Get(text_slot);
    Value scratch;
    const Value& termv = term->EvalRef(ctx, &scratch);
    if (tv.missing() || termv.missing()) {
      out->SetMissing();
      return;
    }
    std::string text;
    ToText(tv, &text);
    std::string err;
    auto fail = [&] {
      ctx.Fail(absl::InvalidArgumentError(absl::StrCat("TextIndex: ", err)));
      out->SetMissing();
    };
    for (const Normalization& n : normalizations) {
      if (!n.Apply(&text, &err)) return fail();
    }
    std::vector<std::string> text_tokens, term_tokens_buf;
    if (!tokenizer.Tokenize(text, &text_tokens, &err)) return fail();
    const std::vector<std::string>* term_tokens = &const_term_tokens;
    if (!const_term) {
      std::string t;
      ToText(termv, &t);
      if (!tokenizer.Tokenize(t, &term_tokens_buf, &err)) return fail();
      term_tokens = &term_tokens_buf;
    }
    int max_freq = weights == Weights::kBinary ? 1 : std::numeric_limits<int>::max();
    int tf = Frequency(text_tokens, *term_tokens, max_freq);
    switch (weights) {
      case Weights::kTermFrequency:
      case Weights::kBinary:
        out->SetNumber(tf, DataType::kInteger);
        return;
      case Weights::kLogarithmic:
        out->SetNumber(std::log10(1.0 + tf), DataType::kDouble);
        return;
      case Weights::kAugmented: {
        // 0.5 * (binary + tf / max tf of any single-token term in the text).
        int max_tf = 0;
        absl::flat_hash_map<std::string, int> counts;
        for (const std::string& t : text_tokens) {
          std::string k = t;
          if (!case_sensitive) {
            for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          }
          max_tf = std::max(max_tf, ++counts[k]);
        }
        double r = max_tf == 0 ? 0.0 : 0.5 * ((tf > 0 ? 1.0 : 0.0) + static_cast<double>(tf) / max_tf);
        out->SetNumber(r, DataType::kDouble);
        return;
      }
    }
  }

 private:
  int Frequency(const std::vector<std::string>& text, const std::vector<std::string>& term, int max_freq) const {
    if (text.empty() || term.empty() || term.size() > text.size()) return 0;
    int freq = 0;
    int best = std::numeric_limits<int>::max();
    for (size_t i = 0; i + term.size() <= text.size(); ++i) {
      int dist = 0;
      bool ok = true;
      for (size_t j = 0; j < term.size() && ok; ++j) {
        int threshold = max_distance - dist;
        if (threshold == 0) {
          ok = TokenEq(text[i + j], term[j], case_sensitive);
        } else {
          int d = LimitedLevenshtein(text[i + j], term[j], case_sensitive, threshold);
          if (d < 0) {
            ok = false;
          } else {
            dist += d;
          }
        }
      }
      if (!ok) continue;
      if (best_hits) {
        if (dist < best) {
          freq = 1;
          best = dist;
        } else if (dist == best) {
          ++freq;
        } else {
          continue;
        }
        if (best == 0 && freq >= max_freq) return freq;
      } else {
        if (++freq >= max_freq) return freq;
      }
    }
    return std::min(freq, max_freq);
  }
};

absl::StatusOr<std::regex> CompileRegex(pugi::xml_node el, const std::string& pattern, bool icase) {
  try {
    auto flags = std::regex::ECMAScript;
    if (icase) flags |= std::regex::icase;
    return std::regex(pattern, flags);
  } catch (const std::regex_error& e) {
    return ElementError(el, absl::StrCat("bad regular expression \"", pattern, "\": ", e.what()));
  }
}

absl::StatusOr<Tokenizer> MakeTokenizer(pugi::xml_node el, std::string_view word_re, std::string_view sep_re,
                                        bool icase) {
  Tokenizer t;
  if (!word_re.empty()) {
    t.word_re = true;
    ASSIGN_OR_RETURN(t.re, CompileRegex(el, std::string(word_re), icase));
  } else {
    t.whitespace = sep_re.empty() || sep_re == "\\s+" || sep_re == "\\s" || sep_re == "[\\s]+" ||
                   sep_re == "\\s*";
    ASSIGN_OR_RETURN(t.re, CompileRegex(el, std::string(sep_re.empty() ? "\\s+" : sep_re), false));
  }
  return t;
}

absl::StatusOr<std::unique_ptr<Expr>> CompileTextIndex(pugi::xml_node el, Scope& scope) {
  auto expr = std::make_unique<TextIndexExpr>();
  ASSIGN_OR_RETURN(FieldInfo f, ResolveField(el, "textField", scope));
  expr->text_slot = f.slot;
  ASSIGN_OR_RETURN(expr->term, CompileExpressionChild(el, scope));
  std::string_view w = AttrView(el, "localTermWeights");
  if (w.empty() || w == "termFrequency") {
    expr->weights = TextIndexExpr::Weights::kTermFrequency;
  } else if (w == "binary") {
    expr->weights = TextIndexExpr::Weights::kBinary;
  } else if (w == "logarithmic") {
    expr->weights = TextIndexExpr::Weights::kLogarithmic;
  } else if (w == "augmentedNormalizedTermFrequency") {
    expr->weights = TextIndexExpr::Weights::kAugmented;
  } else {
    return ElementError(el, absl::StrCat("unknown localTermWeights \"", std::string(w), "\""));
  }
  ASSIGN_OR_RETURN(expr->case_sensitive, BoolAttr(el, "isCaseSensitive", false));
  ASSIGN_OR_RETURN(expr->max_distance, expr_internal::IntAttr(el, "maxLevenshteinDistance", 0));
  if (expr->max_distance < 0) return ElementError(el, "maxLevenshteinDistance must not be negative");
  std::string_view hits = AttrView(el, "countHits");
  if (hits.empty() || hits == "allHits") {
    expr->best_hits = false;
  } else if (hits == "bestHits") {
    expr->best_hits = true;
  } else {
    return ElementError(el, absl::StrCat("unknown countHits \"", std::string(hits), "\""));
  }
  ASSIGN_OR_RETURN(bool tokenize, BoolAttr(el, "tokenize", true));
  if (!tokenize) return ElementError(el, "TextIndex with tokenize=\"false\" is not supported");
  ASSIGN_OR_RETURN(expr->tokenizer, MakeTokenizer(el, AttrView(el, "wordRE"), AttrView(el, "wordSeparatorCharacterRE"),
                                                  !expr->case_sensitive));
  for (pugi::xml_node n : el.children()) {
    if (n.type() != pugi::node_element || LocalName(n) != "TextIndexNormalization") continue;
    Normalization norm;
    ASSIGN_OR_RETURN(norm.recursive, BoolAttr(n, "recursive", false));
    ASSIGN_OR_RETURN(bool cs, BoolAttr(n, "isCaseSensitive", expr->case_sensitive));
    std::string in_col(HasAttr(n, "inField") ? AttrView(n, "inField") : "string");
    std::string out_col(HasAttr(n, "outField") ? AttrView(n, "outField") : "stem");
    std::string re_col(HasAttr(n, "regexField") ? AttrView(n, "regexField") : "regex");
    ASSIGN_OR_RETURN(expr_internal::Table table, expr_internal::ParseTable(n));
    for (const auto& cells : table.rows) {
      auto in = cells.find(in_col);
      auto out = cells.find(out_col);
      if (in == cells.end() || out == cells.end()) {
        return ElementError(n, absl::StrCat("InlineTable row without \"", in_col, "\" or \"", out_col, "\" cell"));
      }
      auto re = cells.find(re_col);
      bool is_regex = re != cells.end() && EqualsIgnoreCase(re->second, "true");
      Normalization::Rule rule;
      ASSIGN_OR_RETURN(rule.re, CompileRegex(n, is_regex ? in->second : QuoteRegex(in->second), !cs));
      rule.replacement = JavaReplacementToEcma(out->second);
      norm.rules.push_back(std::move(rule));
    }
    expr->normalizations.push_back(std::move(norm));
  }
  if (auto* c = dynamic_cast<const ConstantExpr*>(expr->term.get())) {
    if (!c->value().missing()) {
      std::string t;
      ToText(c->value(), &t);
      std::string err;
      if (!expr->tokenizer.Tokenize(t, &expr->const_term_tokens, &err)) return ElementError(el, err);
      expr->const_term = true;
    }
  }
  if (expr->weights == TextIndexExpr::Weights::kTermFrequency || expr->weights == TextIndexExpr::Weights::kBinary) {
    expr->set_type(DataType::kInteger, OpType::kContinuous);
  } else {
    expr->set_type(DataType::kDouble, OpType::kContinuous);
  }
  return std::unique_ptr<Expr>(std::move(expr));
}

// ---------------------------------------------------------------- producers

class ExprProducer : public SlotProducer {
 public:
  ExprProducer(std::unique_ptr<Expr> expr, DataType declared) : expr_(std::move(expr)), declared_(declared) {}

  void Produce(EvalContext& ctx, Value* out) const override {
    const Value& v = expr_->EvalRef(ctx, out);
    if (v.missing()) {
      out->SetMissing();
      return;
    }
    if (v.type == declared_ && v.kind != Value::Kind::kInvalid) {
      if (&v != out) *out = v;
      return;
    }
    if (&v != out) {
      absl::Status s = expr_internal::CastTo(v, declared_, out);
      if (!s.ok()) Fail(ctx, v, s, out);
      return;
    }
    Value tmp = std::move(*out);
    absl::Status s = expr_internal::CastTo(tmp, declared_, out);
    if (!s.ok()) Fail(ctx, tmp, s, out);
  }

 private:
  void Fail(EvalContext& ctx, const Value& v, const absl::Status& s, Value* out) const {
    ctx.Fail(absl::InvalidArgumentError(absl::StrCat("cannot convert \"", FormatValue(v), "\" to ",
                                                     std::string(DataTypeName(declared_)), ": ", s.message())));
    out->SetMissing();
  }

  std::unique_ptr<Expr> expr_;
  DataType declared_;
};

// Marks its slot as being produced, for SelfRefExpr.
class GuardedProducer : public SlotProducer {
 public:
  GuardedProducer(SlotId slot, std::unique_ptr<SlotProducer> inner) : slot_(slot), inner_(std::move(inner)) {}
  void Produce(EvalContext& ctx, Value* out) const override {
    g_producing.push_back(slot_);
    inner_->Produce(ctx, out);
    g_producing.pop_back();
  }

 private:
  SlotId slot_;
  std::unique_ptr<SlotProducer> inner_;
};

// The body of a DefineFunction: casts the parameter slots to their declared
// types, evaluates the expression and casts the result to the function's type.
class FunctionBodyExpr : public Expr {
 public:
  struct Param {
    SlotId slot;
    bool typed;
    DataType type;
  };
  // A DerivedField inside the DefineFunction (a JPMML extension): computed
  // on every call, after the parameters, into its own slot.
  struct Local {
    SlotId slot;
    DataType type;
    std::unique_ptr<Expr> expr;
  };
  FunctionBodyExpr(std::string name, std::vector<Param> params, std::vector<Local> locals,
                   std::unique_ptr<Expr> body, bool typed, DataType type)
      : name_(std::move(name)),
        params_(std::move(params)),
        locals_(std::move(locals)),
        body_(std::move(body)),
        typed_(typed),
        type_(type) {}

  void Eval(EvalContext& ctx, Value* out) const override {
    for (const Param& p : params_) {
      if (!p.typed) continue;
      Value& v = ctx.Input(p.slot);
      if (v.missing() || (v.type == p.type && v.kind != Value::Kind::kInvalid)) continue;
      Value tmp = std::move(v);
      absl::Status s = expr_internal::CastTo(tmp, p.type, &v);
      if (!s.ok()) {
        ctx.Fail(absl::InvalidArgumentError(absl::StrCat("function ", name_, ": argument \"", FormatValue(tmp),
                                                         "\" is not a ", std::string(DataTypeName(p.type)))));
        out->SetMissing();
        return;
      }
    }
    if (locals_.empty()) {
      EvalBody(ctx, out);
      return;
    }
    // Locals of an outer (recursive) invocation are saved and restored.
    std::vector<Value> saved(locals_.size());
    for (size_t k = 0; k < locals_.size(); ++k) {
      const Local& l = locals_[k];
      Value v;
      const Value& r = l.expr->EvalRef(ctx, &v);
      Value cast;
      if (!r.missing() && !expr_internal::CastTo(r, l.type, &cast).ok()) {
        ctx.Fail(absl::InvalidArgumentError(absl::StrCat("function ", name_, ": local field value \"",
                                                         FormatValue(r), "\" is not a ",
                                                         std::string(DataTypeName(l.type)))));
      }
      std::swap(saved[k], ctx.Input(l.slot));
      ctx.Input(l.slot) = std::move(cast);
    }
    EvalBody(ctx, out);
    for (size_t k = 0; k < locals_.size(); ++k) std::swap(saved[k], ctx.Input(locals_[k].slot));
  }

 private:
  void EvalBody(EvalContext& ctx, Value* out) const {
    const Value& r = body_->EvalRef(ctx, out);
    if (r.missing()) {
      out->SetMissing();
      return;
    }
    if (!typed_ || (r.type == type_ && r.kind != Value::Kind::kInvalid)) {
      if (&r != out) *out = r;
      return;
    }
    Value tmp = r;
    absl::Status s = expr_internal::CastTo(tmp, type_, out);
    if (!s.ok()) {
      ctx.Fail(absl::InvalidArgumentError(absl::StrCat("function ", name_, ": result \"", FormatValue(tmp),
                                                       "\" is not a ", std::string(DataTypeName(type_)))));
      out->SetMissing();
    }
  }

  std::string name_;
  std::vector<Param> params_;
  std::vector<Local> locals_;
  std::unique_ptr<Expr> body_;
  bool typed_;
  DataType type_;
};

// DefineFunctions whose body is being compiled on this thread: a call to
// one of them is a recursive call (JPMML allows recursion; `if` is lazy).
thread_local std::vector<DefinedFunction*> g_compiling_functions;

absl::StatusOr<std::unique_ptr<Expr>> NotSupported(pugi::xml_node el) {
  return ElementError(el, absl::StrCat(std::string(LocalName(el)),
                                       " is not supported (it needs several records; this engine scores one "
                                       "record at a time)"));
}

}  // namespace

namespace expr_internal {
BranchScope::BranchScope() { ++g_branch_depth; }
BranchScope::~BranchScope() { --g_branch_depth; }

const DefinedFunction* FindCompilingFunction(std::string_view name) {
  for (auto it = g_compiling_functions.rbegin(); it != g_compiling_functions.rend(); ++it) {
    if ((*it)->name == name) return *it;
  }
  return nullptr;
}
}  // namespace expr_internal

bool IsExpressionElement(pugi::xml_node el) {
  if (el.type() != pugi::node_element) return false;
  std::string_view n = LocalName(el);
  return n == "Constant" || n == "FieldRef" || n == "NormContinuous" || n == "NormDiscrete" || n == "Discretize" ||
         n == "MapValues" || n == "TextIndex" || n == "Apply" || n == "Aggregate" || n == "Lag";
}

absl::StatusOr<std::unique_ptr<Expr>> CompileExpression(pugi::xml_node el, Scope& scope) {
  std::string_view n = LocalName(el);
  if (n == "Constant") return CompileConstant(el);
  if (n == "FieldRef") return CompileFieldRef(el, scope);
  if (n == "Apply") return expr_internal::CompileApply(el, scope);
  if (n == "NormContinuous") return CompileNormContinuous(el, scope);
  if (n == "NormDiscrete") return CompileNormDiscrete(el, scope);
  if (n == "Discretize") return CompileDiscretize(el, scope);
  if (n == "MapValues") return CompileMapValues(el, scope);
  if (n == "TextIndex") return CompileTextIndex(el, scope);
  if (n == "Aggregate" || n == "Lag") return NotSupported(el);
  return ElementError(el, absl::StrCat("unknown expression element ", std::string(n)));
}

absl::StatusOr<std::unique_ptr<Expr>> CompileExpressionChild(pugi::xml_node parent, Scope& scope) {
  for (pugi::xml_node c : parent.children()) {
    if (IsExpressionElement(c)) return CompileExpression(c, scope);
  }
  return ElementError(parent, "missing expression (Constant, FieldRef, Apply, ...)");
}

std::unique_ptr<SlotProducer> MakeExprProducer(std::unique_ptr<Expr> expr, DataType declared) {
  return std::make_unique<ExprProducer>(std::move(expr), declared);
}

absl::StatusOr<FieldInfo> CompileDerivedField(pugi::xml_node derived_field, Scope& scope) {
  std::string name(AttrView(derived_field, "name"));
  if (name.empty()) return ElementError(derived_field, "missing attribute name");
  PlanBuilder* builder = scope.builder();
  SlotId slot = builder->NewSlot(name);
  ASSIGN_OR_RETURN(DataType declared, DataTypeAttr(derived_field, "dataType", DataType::kDouble));
  g_compiling_fields.push_back({name, &scope, slot, declared, g_branch_depth});
  absl::StatusOr<std::unique_ptr<Expr>> compiled = CompileExpressionChild(derived_field, scope);
  bool guarded = g_compiling_fields.back().referenced;
  g_compiling_fields.pop_back();
  if (!compiled.ok()) return compiled.status();
  std::unique_ptr<Expr> expr = std::move(*compiled);
  DataType type = expr->type();
  if (HasAttr(derived_field, "dataType")) {
    ASSIGN_OR_RETURN(type, DataTypeAttr(derived_field, "dataType", type));
  }
  OpType optype = HasAttr(derived_field, "dataType") ? DefaultOpType(type) : expr->optype();
  if (HasAttr(derived_field, "optype")) {
    auto o = ParseOpType(AttrView(derived_field, "optype"));
    if (!o.ok()) return ElementError(derived_field, absl::StrCat("unknown optype \"", std::string(AttrView(derived_field, "optype")), "\""));
    optype = *o;
  }
  if (guarded) {
    builder->SetProducer(slot, std::make_unique<GuardedProducer>(slot, MakeExprProducer(std::move(expr), type)));
  } else {
    builder->SetProducer(slot, MakeExprProducer(std::move(expr), type));
  }
  FieldInfo info;
  info.name = std::move(name);
  info.slot = slot;
  info.type = type;
  info.optype = optype;
  return info;
}

absl::StatusOr<std::unique_ptr<DefinedFunction>> CompileDefineFunction(pugi::xml_node define_function,
                                                                     PlanBuilder* builder) {
  auto fn = std::make_unique<DefinedFunction>();
  fn->name = std::string(AttrView(define_function, "name"));
  if (fn->name.empty()) return ElementError(define_function, "missing attribute name");
  bool typed = HasAttr(define_function, "dataType");
  ASSIGN_OR_RETURN(fn->type, DataTypeAttr(define_function, "dataType", DataType::kDouble));
  // PMML: the body may only refer to the parameters, so the scope has no parent.
  Scope scope(builder, nullptr);
  std::vector<FunctionBodyExpr::Param> params;
  for (pugi::xml_node p : define_function.children()) {
    if (p.type() != pugi::node_element || LocalName(p) != "ParameterField") continue;
    FieldInfo info;
    info.name = std::string(AttrView(p, "name"));
    if (info.name.empty()) return ElementError(p, "missing attribute name");
    bool ptyped = HasAttr(p, "dataType");
    ASSIGN_OR_RETURN(info.type, DataTypeAttr(p, "dataType", DataType::kDouble));
    info.optype = DefaultOpType(info.type);
    if (HasAttr(p, "optype")) {
      auto o = ParseOpType(AttrView(p, "optype"));
      if (o.ok()) info.optype = *o;
    }
    info.slot = builder->NewSlot(absl::StrCat(fn->name, ":", info.name));
    RETURN_IF_ERROR(scope.Define(info));
    params.push_back({info.slot, ptyped, info.type});
    fn->params.push_back(std::move(info));
  }
  // Typed already, so recursive calls see the declared result type.
  fn->optype = DefaultOpType(fn->type);
  g_compiling_functions.push_back(fn.get());
  struct Pop {
    ~Pop() { g_compiling_functions.pop_back(); }
  } pop;
  std::vector<FunctionBodyExpr::Local> locals;
  for (pugi::xml_node d : define_function.children()) {
    if (d.type() != pugi::node_element || LocalName(d) != "DerivedField") continue;
    FunctionBodyExpr::Local local;
    std::string lname(AttrView(d, "name"));
    if (lname.empty()) return ElementError(d, "missing attribute name");
    ASSIGN_OR_RETURN(local.expr, CompileExpressionChild(d, scope));
    ASSIGN_OR_RETURN(local.type, DataTypeAttr(d, "dataType", local.expr->type()));
    local.slot = builder->NewSlot(absl::StrCat(fn->name, ":", lname));
    FieldInfo info;
    info.name = lname;
    info.slot = local.slot;
    info.type = local.type;
    info.optype = DefaultOpType(local.type);
    RETURN_IF_ERROR(scope.Define(info));
    locals.push_back(std::move(local));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Expr> body, CompileExpressionChild(define_function, scope));
  if (!typed) fn->type = body->type();
  fn->optype = DefaultOpType(fn->type);
  if (HasAttr(define_function, "optype")) {
    auto o = ParseOpType(AttrView(define_function, "optype"));
    if (o.ok()) fn->optype = *o;
  }
  auto wrapped = std::make_unique<FunctionBodyExpr>(fn->name, std::move(params), std::move(locals), std::move(body),
                                                    typed, fn->type);
  wrapped->set_type(fn->type, fn->optype);
  fn->body = std::move(wrapped);
  return fn;
}

absl::Status ParseArray(pugi::xml_node array, std::vector<std::string>* tokens) {
  tokens->clear();
  std::string_view s = array.child_value();
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i >= s.size()) break;
    std::string tok;
    if (s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i];
        if (c == '\\' && i + 1 < s.size() && s[i + 1] == '"') {
          tok += '"';
          i += 2;
        } else if (c == '"') {
          ++i;
          closed = true;
          break;
        } else {
          tok += c;
          ++i;
        }
      }
      if (!closed) return ElementError(array, "unterminated quoted string in Array");
    } else {
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) tok += s[i++];
    }
    tokens->push_back(std::move(tok));
  }
  if (HasAttr(array, "n")) {
    int n = 0;
    if (!absl::SimpleAtoi(AV(AttrView(array, "n")), &n) || n != static_cast<int>(tokens->size())) {
      return ElementError(array, absl::StrCat("Array n=\"", std::string(AttrView(array, "n")), "\" but it has ",
                                              tokens->size(), " values"));
    }
  }
  return absl::OkStatus();
}

}  // namespace evs::pmml
