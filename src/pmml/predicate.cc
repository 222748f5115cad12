// Predicates: True, False, SimplePredicate, SimpleSetPredicate and
// CompoundPredicate (and, or, xor, surrogate) with PMML's three-valued logic.
// Constants are converted to the field's type once, at compile time.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/expr_internal.h"

namespace evs::pmml {
namespace {

using expr_internal::AttrView;
using expr_internal::HasAttr;
using expr_internal::ParseOrString;

class ConstPredicate : public Predicate {
 public:
  explicit ConstPredicate(bool v) : v_(v) {}
  Tri Test(EvalContext&) const override { return v_ ? Tri::kTrue : Tri::kFalse; }
  Kind kind() const override { return v_ ? Kind::kTrue : Kind::kFalse; }

 private:
  bool v_;
};

inline Tri ToTri(bool b) { return b ? Tri::kTrue : Tri::kFalse; }

class SimplePred : public Predicate {
 public:
  explicit SimplePred(SimpleInfo info) : info_(std::move(info)) {}

  Tri Test(EvalContext& ctx) const override {
    const Value& v = ctx.Get(info_.slot);
    switch (info_.op) {
      case CompareOp::kIsMissing:
        return ToTri(v.missing());
      case CompareOp::kIsNotMissing:
        return ToTri(!v.missing());
      default:
        break;
    }
    if (v.missing()) return Tri::kUnknown;
    if (info_.numeric && (v.is_number() || v.is_bool())) {
      const double x = v.num, y = info_.number;
      switch (info_.op) {
        case CompareOp::kEqual: return ToTri(x == y);
        case CompareOp::kNotEqual: return ToTri(x != y);
        case CompareOp::kLessThan: return ToTri(x < y);
        case CompareOp::kLessOrEqual: return ToTri(x <= y);
        case CompareOp::kGreaterThan: return ToTri(x > y);
        case CompareOp::kGreaterOrEqual: return ToTri(x >= y);
        default: return Tri::kUnknown;
      }
    }
    if (!info_.numeric && v.is_string() && info_.value.is_string() &&
        (info_.op == CompareOp::kEqual || info_.op == CompareOp::kNotEqual)) {
      bool eq = v.str == info_.value.str;
      return ToTri(info_.op == CompareOp::kEqual ? eq : !eq);
    }
    switch (info_.op) {
      case CompareOp::kEqual: return ToTri(ValuesEqual(v, info_.value));
      case CompareOp::kNotEqual: return ToTri(!ValuesEqual(v, info_.value));
      default: break;
    }
    int c = CompareValues(v, info_.value);
    switch (info_.op) {
      case CompareOp::kLessThan: return ToTri(c < 0);
      case CompareOp::kLessOrEqual: return ToTri(c <= 0);
      case CompareOp::kGreaterThan: return ToTri(c > 0);
      case CompareOp::kGreaterOrEqual: return ToTri(c >= 0);
      default: return Tri::kUnknown;
    }
  }
  Kind kind() const override { return Kind::kSimple; }
  const SimpleInfo* simple() const override { return &info_; }

 private:
  SimpleInfo info_;
};

class SimpleSetPred : public Predicate {
 public:
  SimpleSetPred(SlotId slot, bool is_in, std::vector<double> numbers, std::vector<Value> values)
      : slot_(slot), is_in_(is_in), numbers_(std::move(numbers)), values_(std::move(values)) {
    std::sort(numbers_.begin(), numbers_.end());
    for (const Value& v : values_) {
      if (v.is_string()) strings_.insert(v.str);
    }
  }

  Tri Test(EvalContext& ctx) const override {
    const Value& v = ctx.Get(slot_);
    if (v.missing()) return Tri::kUnknown;
    bool in = false;
    if ((v.is_number() || v.is_bool()) && !numbers_.empty()) {
      in = std::binary_search(numbers_.begin(), numbers_.end(), v.num);
    } else if (v.is_string() && !strings_.empty()) {
      in = strings_.contains(v.str);
    }
    if (!in && !values_.empty()) {
      for (const Value& x : values_) {
        if (ValuesEqual(v, x)) {
          in = true;
          break;
        }
      }
    }
    return ToTri(in == is_in_);
  }
  Kind kind() const override { return Kind::kSimpleSet; }

 private:
  SlotId slot_;
  bool is_in_;
  std::vector<double> numbers_;     // numeric members (numeric field)
  std::vector<Value> values_;       // members that are not numbers of a numeric field
  absl::flat_hash_set<std::string> strings_;
};

class CompoundPred : public Predicate {
 public:
  enum class Op { kAnd, kOr, kXor, kSurrogate };
  CompoundPred(Op op, std::vector<std::unique_ptr<Predicate>> children)
      : op_(op), children_(std::move(children)) {}

  Tri Test(EvalContext& ctx) const override {
    switch (op_) {
      case Op::kAnd: {
        bool unknown = false;
        for (const auto& c : children_) {
          Tri t = c->Test(ctx);
          if (t == Tri::kFalse) return Tri::kFalse;
          if (t == Tri::kUnknown) unknown = true;
        }
        return unknown ? Tri::kUnknown : Tri::kTrue;
      }
      case Op::kOr: {
        bool unknown = false;
        for (const auto& c : children_) {
          Tri t = c->Test(ctx);
          if (t == Tri::kTrue) return Tri::kTrue;
          if (t == Tri::kUnknown) unknown = true;
        }
        return unknown ? Tri::kUnknown : Tri::kFalse;
      }
      case Op::kXor: {
        bool r = false;
        for (const auto& c : children_) {
          Tri t = c->Test(ctx);
          if (t == Tri::kUnknown) return Tri::kUnknown;
          r = r != (t == Tri::kTrue);
        }
        return ToTri(r);
      }
      case Op::kSurrogate:
        for (const auto& c : children_) {
          Tri t = c->Test(ctx);
          if (t != Tri::kUnknown) return t;
        }
        return Tri::kUnknown;
    }
    return Tri::kUnknown;
  }
  Kind kind() const override { return Kind::kCompound; }

 private:
  Op op_;
  std::vector<std::unique_ptr<Predicate>> children_;
};

bool IsPredicateName(std::string_view n) {
  return n == "SimplePredicate" || n == "CompoundPredicate" || n == "SimpleSetPredicate" || n == "True" ||
         n == "False";
}

absl::StatusOr<FieldInfo> ResolvePredField(pugi::xml_node el, Scope& scope) {
  std::string_view name = AttrView(el, "field");
  if (name.empty()) return ElementError(el, "missing attribute field");
  auto info = scope.Resolve(name);
  if (!info.ok()) {
    if (absl::IsNotFound(info.status())) {
      return ElementError(el, absl::StrCat("field \"", AV(name), "\" is not defined"));
    }
    return info.status();
  }
  return *info;
}

absl::StatusOr<std::unique_ptr<Predicate>> CompileSimple(pugi::xml_node el, Scope& scope) {
  ASSIGN_OR_RETURN(FieldInfo f, ResolvePredField(el, scope));
  Predicate::SimpleInfo info;
  info.slot = f.slot;
  std::string_view op = AttrView(el, "operator");
  if (op == "equal") {
    info.op = CompareOp::kEqual;
  } else if (op == "notEqual") {
    info.op = CompareOp::kNotEqual;
  } else if (op == "lessThan") {
    info.op = CompareOp::kLessThan;
  } else if (op == "lessOrEqual") {
    info.op = CompareOp::kLessOrEqual;
  } else if (op == "greaterThan") {
    info.op = CompareOp::kGreaterThan;
  } else if (op == "greaterOrEqual") {
    info.op = CompareOp::kGreaterOrEqual;
  } else if (op == "isMissing") {
    info.op = CompareOp::kIsMissing;
  } else if (op == "isNotMissing") {
    info.op = CompareOp::kIsNotMissing;
  } else {
    return ElementError(el, absl::StrCat("unknown operator \"", AV(op), "\""));
  }
  if (info.op != CompareOp::kIsMissing && info.op != CompareOp::kIsNotMissing) {
    if (!HasAttr(el, "value")) return ElementError(el, "missing attribute value");
    std::string_view text = AttrView(el, "value");
    info.value = ParseOrString(text, f.type);
    if (info.value.is_string() && f.type != DataType::kString) {
      // Not a value of the field's type (e.g. "2.5" for an integer field):
      // compare as a double when it is a number at all.
      Value d = ParseOrString(text, DataType::kDouble);
      if (d.is_number()) info.value = d;
    }
    if ((info.value.is_number() || info.value.is_bool()) && IsNumeric(f.type)) {
      info.numeric = true;
      info.number = info.value.num;
    }
  }
  return std::make_unique<SimplePred>(std::move(info));
}

absl::StatusOr<std::unique_ptr<Predicate>> CompileSimpleSet(pugi::xml_node el, Scope& scope) {
  ASSIGN_OR_RETURN(FieldInfo f, ResolvePredField(el, scope));
  std::string_view op = AttrView(el, "booleanOperator");
  bool is_in;
  if (op == "isIn") {
    is_in = true;
  } else if (op == "isNotIn") {
    is_in = false;
  } else {
    return ElementError(el, absl::StrCat("unknown booleanOperator \"", AV(op), "\""));
  }
  pugi::xml_node array = Child(el, "Array");
  if (!array) return ElementError(el, "missing Array");
  std::vector<std::string> tokens;
  RETURN_IF_ERROR(ParseArray(array, &tokens));
  std::vector<double> numbers;
  std::vector<Value> values;
  for (const std::string& t : tokens) {
    Value v = ParseOrString(t, f.type);
    if (IsNumeric(f.type) && (v.is_number() || v.is_bool())) {
      numbers.push_back(v.num);
    } else {
      values.push_back(std::move(v));
    }
  }
  return std::make_unique<SimpleSetPred>(f.slot, is_in, std::move(numbers), std::move(values));
}

absl::StatusOr<std::unique_ptr<Predicate>> CompileCompound(pugi::xml_node el, Scope& scope) {
  std::string_view op = AttrView(el, "booleanOperator");
  CompoundPred::Op o;
  if (op == "and") {
    o = CompoundPred::Op::kAnd;
  } else if (op == "or") {
    o = CompoundPred::Op::kOr;
  } else if (op == "xor") {
    o = CompoundPred::Op::kXor;
  } else if (op == "surrogate") {
    o = CompoundPred::Op::kSurrogate;
  } else {
    return ElementError(el, absl::StrCat("unknown booleanOperator \"", AV(op), "\""));
  }
  std::vector<std::unique_ptr<Predicate>> children;
  for (pugi::xml_node c : el.children()) {
    if (c.type() != pugi::node_element || !IsPredicateName(LocalName(c))) continue;
    ASSIGN_OR_RETURN(auto p, CompilePredicate(c, scope));
    children.push_back(std::move(p));
  }
  if (children.size() < 2) return ElementError(el, "CompoundPredicate needs at least two predicates");
  return std::make_unique<CompoundPred>(o, std::move(children));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Predicate>> CompilePredicate(pugi::xml_node el, Scope& scope) {
  std::string_view n = LocalName(el);
  if (n == "True") return std::make_unique<ConstPredicate>(true);
  if (n == "False") return std::make_unique<ConstPredicate>(false);
  if (n == "SimplePredicate") return CompileSimple(el, scope);
  if (n == "SimpleSetPredicate") return CompileSimpleSet(el, scope);
  if (n == "CompoundPredicate") return CompileCompound(el, scope);
  return ElementError(el, absl::StrCat("unknown predicate element ", AV(n)));
}

pugi::xml_node FindPredicateChild(pugi::xml_node parent) {
  for (pugi::xml_node c : parent.children()) {
    if (c.type() == pugi::node_element && IsPredicateName(LocalName(c))) return c;
  }
  return pugi::xml_node();
}

}  // namespace evs::pmml
