#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/plan.h"
#include "pmml/value.h"
#include "pugixml.hpp"

// Compiled PMML expressions and predicates.
//
// Expressions (Constant, FieldRef, NormContinuous, NormDiscrete, Discretize,
// MapValues, TextIndex, Apply with the built-in function library and
// DefineFunctions) compile against a Scope into a tree of Expr nodes whose
// field references are slots. Aggregate and Lag need several records and
// are compile errors. Eval() is const and reads the record through the
// EvalContext; errors go to ctx.Fail() and the result is then missing.
// Semantics follow JPMML-Evaluator (integer "/" truncates, a NaN result is
// an invalid value for invalidValueTreatment, recursive DefineFunctions and
// reference cycles through an `if` branch are allowed), except that a
// missing argument gives a missing result where JPMML throws.

namespace evs::pmml {

class Expr {
 public:
  virtual ~Expr() = default;
  virtual void Eval(EvalContext& ctx, Value* out) const = 0;

  // Static result type, as far as the compiler knows it.
  DataType type() const { return type_; }
  OpType optype() const { return optype_; }
  void set_type(DataType t, OpType o) {
    type_ = t;
    optype_ = o;
  }

  // The slot when this expression is a plain FieldRef without mapMissingTo;
  // kNoSlot otherwise. Lets model compilers skip the Expr on hot paths.
  virtual SlotId AsFieldSlot() const { return kNoSlot; }

  // The value without a copy where possible: a FieldRef returns the slot's
  // value and a Constant its own; others evaluate into *scratch and return
  // it. The reference is valid until the slot is next written (the end of
  // the record, or the next call of the same DefineFunction).
  virtual const Value& EvalRef(EvalContext& ctx, Value* scratch) const {
    Eval(ctx, scratch);
    return *scratch;
  }

 private:
  DataType type_ = DataType::kDouble;
  OpType optype_ = OpType::kContinuous;
};

// Compiles the expression element `el` (Constant, FieldRef, Apply, ...).
absl::StatusOr<std::unique_ptr<Expr>> CompileExpression(pugi::xml_node el, Scope& scope);

// Compiles the single expression child of `parent` (a DerivedField,
// OutputField, ComplexPartialScore, ...). Error naming `parent` when there is none.
absl::StatusOr<std::unique_ptr<Expr>> CompileExpressionChild(pugi::xml_node parent, Scope& scope);

// True when `el` is an expression element.
bool IsExpressionElement(pugi::xml_node el);

// A SlotProducer that evaluates an Expr and casts the result to the declared
// dataType (used for DerivedFields and transformedValue outputs).
std::unique_ptr<SlotProducer> MakeExprProducer(std::unique_ptr<Expr> expr, DataType declared);

// Compiles a DerivedField element: allocates its slot, installs the producer
// and returns the FieldInfo (the caller defines it in its scope).
absl::StatusOr<FieldInfo> CompileDerivedField(pugi::xml_node derived_field, Scope& scope);

// Compiles a DefineFunction element (parameters become slots of a private
// scope whose parent is the document scope). Called by
// PlanBuilder::FindFunction on first use.
absl::StatusOr<std::unique_ptr<DefinedFunction>> CompileDefineFunction(pugi::xml_node define_function,
                                                                     PlanBuilder* builder);

enum class Tri : uint8_t { kFalse, kTrue, kUnknown };

// Operators of SimplePredicate.
enum class CompareOp : uint8_t {
  kEqual,
  kNotEqual,
  kLessThan,
  kLessOrEqual,
  kGreaterThan,
  kGreaterOrEqual,
  kIsMissing,
  kIsNotMissing,
};

class Predicate {
 public:
  enum class Kind : uint8_t { kTrue, kFalse, kSimple, kSimpleSet, kCompound };

  virtual ~Predicate() = default;
  virtual Tri Test(EvalContext& ctx) const = 0;
  virtual Kind kind() const = 0;

  // Details of a SimplePredicate, for model compilers that flatten trees.
  // `number` holds the constant converted to the field's type when the
  // field is numeric (`numeric` true); else `value` holds it.
  struct SimpleInfo {
    SlotId slot = kNoSlot;
    CompareOp op = CompareOp::kEqual;
    bool numeric = false;
    double number = 0;
    Value value;
  };
  virtual const SimpleInfo* simple() const { return nullptr; }
};

// Compiles a predicate element (True, False, SimplePredicate,
// CompoundPredicate incl. surrogate, SimpleSetPredicate).
absl::StatusOr<std::unique_ptr<Predicate>> CompilePredicate(pugi::xml_node el, Scope& scope);

// Tokens of an <Array> element (type int, real or string): separated by
// whitespace; a double-quoted token may hold spaces and \" for a quote.
// Error when the n attribute disagrees with the token count.
absl::Status ParseArray(pugi::xml_node array, std::vector<std::string>* tokens);

// The predicate child of `parent` (Node, Segment, SimpleRule, Attribute...),
// or an empty node when there is none.
pugi::xml_node FindPredicateChild(pugi::xml_node parent);

}  // namespace evs::pmml
