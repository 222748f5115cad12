#pragma once

// Private helpers shared by expr.cc, functions.cc and predicate.cc.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pmml/expr.h"
#include "pmml/plan.h"
#include "pmml/value.h"
#include "pugixml.hpp"

namespace evs::pmml::expr_internal {

// Numeric view of a value: numbers and booleans as they are, strings parsed
// as a double. False when there is no number.
bool ToDouble(const Value& v, double* out);

// Boolean view: booleans; numbers (0 false, 1 true, others non-zero true);
// strings "true"/"false" (any case) or numbers. False when there is none.
bool ToBool(const Value& v, bool* out);

// Text of a value (strings as they are; numbers in canonical form).
void ToText(const Value& v, std::string* out);

// integer/float/double; every other type is not "arithmetic".
bool IsArithmeticType(DataType t);
// Common type of two arithmetic operands (integer < float < double);
// non-arithmetic operands count as double.
DataType CommonNumericType(DataType a, DataType b);
// The PMML default optype of a data type.
OpType DefaultOpType(DataType t);
// Rounds to float32 precision when `t` is kFloat.
double RoundToType(double v, DataType t);

// A number of type `t` (float values rounded to float32).
inline void SetTypedNumber(Value* out, double v, DataType t) { out->SetNumber(RoundToType(v, t), t); }

// ASCII whitespace trimmed; case-insensitive ASCII equality.
std::string_view Trim(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// "prefix:local" -> "local".
std::string_view LocalPart(std::string_view qname);

// Attribute helpers. `present` tells whether the attribute exists.
bool HasAttr(pugi::xml_node n, const char* name);
std::string_view AttrView(pugi::xml_node n, const char* name);
absl::StatusOr<double> DoubleAttr(pugi::xml_node n, const char* name);
absl::StatusOr<int> IntAttr(pugi::xml_node n, const char* name, int def);
absl::StatusOr<bool> BoolAttr(pugi::xml_node n, const char* name, bool def);
// dataType attribute, `def` when absent.
absl::StatusOr<DataType> DataTypeAttr(pugi::xml_node n, const char* name, DataType def);

// Parses `text` as `type`; when it does not parse, keeps it as a string.
Value ParseOrString(std::string_view text, DataType type);

// Converts `in` to `type` into *out, with fast paths for numbers; error
// when not convertible. `out` may not alias `in`.
absl::Status CastTo(const Value& in, DataType type, Value* out);

// An InlineTable: one map per row from the cell's local name to its text.
struct Table {
  std::vector<absl::flat_hash_map<std::string, std::string>> rows;
};
// The InlineTable child of `parent`; an error for a TableLocator (external
// tables are not supported) or when there is neither.
absl::StatusOr<Table> ParseTable(pugi::xml_node parent);

// Constant expression; also used by Apply to precompile regex patterns.
class ConstantExpr : public Expr {
 public:
  explicit ConstantExpr(Value v) : value_(std::move(v)) {}
  void Eval(EvalContext& ctx, Value* out) const override { *out = value_; }
  const Value& EvalRef(EvalContext& ctx, Value* scratch) const override { return value_; }
  const Value& value() const { return value_; }

 private:
  Value value_;
};

// While alive, expressions being compiled are in a lazily evaluated branch
// (the then/else of an `if`), where a reference cycle is checked per record.
class BranchScope {
 public:
  BranchScope();
  ~BranchScope();
  BranchScope(const BranchScope&) = delete;
  BranchScope& operator=(const BranchScope&) = delete;
};

// A DefineFunction whose body is being compiled on this thread (a call to
// it is recursive); nullptr when none has this name.
const DefinedFunction* FindCompilingFunction(std::string_view name);

// Apply (functions.cc).
absl::StatusOr<std::unique_ptr<Expr>> CompileApply(pugi::xml_node apply, Scope& scope);

}  // namespace evs::pmml::expr_internal
