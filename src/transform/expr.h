#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"

namespace evs::transform {

// A compiled expression over the fields of a Record, used for route
// predicates and derived fields.
//
// Grammar (lowest precedence first):
//   or:    and (("or" | "||") and)*            short-circuit, yields bool
//   and:   not (("and" | "&&") not)*           short-circuit, yields bool
//   not:   "not" not | cmp                     so `not a > 3` is `not (a > 3)`
//   cmp:   add (("<"|"<="|">"|">="|"=="|"!=") add)?   (does not chain)
//   add:   mul (("+" | "-") mul)*              "+" on two strings concatenates
//   mul:   unary (("*" | "/" | "%") unary)*
//   unary: ("-" | "!") unary | primary         `!` binds tightly, as in C
//   primary: number | 'str' | "str" | true | false | null | identifier
//          | `quoted name` | name "(" args ")" | "(" or ")"
// Identifiers are letters, digits, '_' and '.', not starting with a digit.
//
// Semantics: numbers are doubles; comparisons of numbers are numeric, of
// strings bytewise; "==" across types is false ("!=" true) and ordering
// across types is a type_error. Arithmetic accepts numbers only. A field that
// is absent or null is "missing": using it is a missing_field error except
// inside is_missing/is_present/coalesce (which also absorb missing_field
// errors from their argument expressions) and in untaken if() branches.
// Every arithmetic/function result must be finite, else non_finite.
//
// Functions: abs, min, max (1+ args), pow(x, y), sqrt, exp, log (natural),
// log10, floor, ceil, round(x [, digits in -15..15]) (half away from zero),
// if(cond, a, b) (lazy), is_missing(e), is_present(e),
// coalesce(e, ...) (first present non-null argument, else the last one's
// outcome: null or missing_field),
// lower, upper, len (UTF-8 code points), concat(e, ...) (string forms),
// to_number (number, numeric string or bool), to_string (any value).
//
// Immutable after Parse; Eval is const and safe to call from many threads.
// Evaluation does not allocate unless it builds a new string (string "+",
// concat, lower, upper, to_string), returns a string through Eval, or fails
// (the EventError message).
class Expr {
 public:
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  ~Expr();

  // Parses and compiles `text`. Errors (InvalidArgument) name the 1-based
  // character position and what was expected, e.g. for "a > ": `position 5:
  // expected an operand, found end of input`. Unknown functions, wrong arity
  // and nesting deeper than 256 are parse errors.
  static absl::StatusOr<std::shared_ptr<const Expr>> Parse(std::string_view text);

  // Evaluates against `r`. On failure returns false and fills *err with
  // stage "transform" and code missing_field, type_error or non_finite;
  // *out is then unspecified.
  bool Eval(const Record& r, Value* out, EventError* err) const;
  // Truthiness for predicates: bools as is, numbers != 0, non-empty strings,
  // null false, objects/arrays true.
  bool EvalBool(const Record& r, bool* out, EventError* err) const;
  // Like Eval but requires a numeric result (type_error otherwise).
  bool EvalNumber(const Record& r, double* out, EventError* err) const;

  // The source text as given to Parse.
  const std::string& text() const { return text_; }
  // Referenced field names, deduplicated, in order of first appearance.
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  struct Program;  // the compiled node table, defined in expr.cc
  friend class ExprParser;
  Expr();

  std::string text_;
  std::vector<std::string> fields_;
  std::unique_ptr<Program> program_;
};

// The string form used by to_string, concat, cast-to-string and map_values
// keys: numbers shortest round-trip (integers without ".0"), bools
// true/false, strings as is, null "null", objects/arrays their JSON text.
void AppendValueString(const Value& v, std::string* out);
std::string ValueString(const Value& v);

// Strict numeric parse: optional sign, decimal digits, fraction, exponent;
// the whole text must be consumed and the result finite.
bool ParseNumber(std::string_view s, double* out);

}  // namespace evs::transform
