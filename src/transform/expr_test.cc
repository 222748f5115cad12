#include "transform/expr.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

// Counts heap allocations to check that numeric evaluation does not allocate
// (not under sanitizers, which replace operator new themselves).
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define EVS_COUNT_ALLOCS 1
namespace {
std::atomic<long> g_allocs{0};
}  // namespace
// GCC pairs the inlined malloc below with these frees and warns spuriously.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

namespace evs::transform {
namespace {

std::shared_ptr<const Expr> MustParse(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const Expr>> e = Expr::Parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status();
  return e.ok() ? *e : nullptr;
}

Record TestRecord() {
  Record r;
  r.Set("a", Value::Number(5));
  r.Set("b", Value::Number(2));
  r.Set("zero", Value::Number(0));
  r.Set("neg", Value::Number(-4));
  r.Set("s", Value::String("Hello"));
  r.Set("empty", Value::String(""));
  r.Set("num_str", Value::String(" 42.5 "));
  r.Set("t", Value::Bool(true));
  r.Set("f", Value::Bool(false));
  r.Set("n", Value::Null());
  r.Set("obj", Value::Raw("{\"k\":1}"));
  r.Set("user.id", Value::String("u1"));
  r.Set("with space", Value::Number(7));
  r.Set("country", Value::String("US"));
  return r;
}

Value EvalOk(std::string_view text, const Record& r = TestRecord()) {
  auto e = MustParse(text);
  Value v;
  EventError err;
  if (e == nullptr) return v;
  EXPECT_TRUE(e->Eval(r, &v, &err)) << text << ": " << err.code << " " << err.message;
  return v;
}

double Num(std::string_view text, const Record& r = TestRecord()) {
  Value v = EvalOk(text, r);
  EXPECT_TRUE(v.is_number()) << text << " gave " << ValueTypeName(v.type());
  return v.as_number();
}

bool Bool(std::string_view text, const Record& r = TestRecord()) {
  Value v = EvalOk(text, r);
  EXPECT_TRUE(v.is_bool()) << text << " gave " << ValueTypeName(v.type());
  return v.as_bool();
}

std::string Str(std::string_view text, const Record& r = TestRecord()) {
  Value v = EvalOk(text, r);
  EXPECT_TRUE(v.is_string()) << text << " gave " << ValueTypeName(v.type());
  return v.as_string();
}

EventError EvalErr(std::string_view text, const Record& r = TestRecord()) {
  auto e = MustParse(text);
  Value v;
  EventError err;
  if (e == nullptr) return err;
  EXPECT_FALSE(e->Eval(r, &v, &err)) << text << " unexpectedly gave " << v.DebugString();
  EXPECT_EQ(err.stage, "transform");
  return err;
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<std::shared_ptr<const Expr>> e = Expr::Parse(text);
  EXPECT_FALSE(e.ok()) << text;
  if (e.ok()) return "";
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(e.status().message());
}

TEST(ExprTest, Literals) {
  EXPECT_EQ(Num("42"), 42);
  EXPECT_EQ(Num("1.5e3"), 1500);
  EXPECT_EQ(Num("2E-2"), 0.02);
  EXPECT_EQ(Num(".5"), 0.5);
  EXPECT_EQ(Num("-3"), -3);
  EXPECT_EQ(Str("'single'"), "single");
  EXPECT_EQ(Str("\"double\""), "double");
  EXPECT_EQ(Str(R"('it\'s \"q\" \\ \n\t')"), "it's \"q\" \\ \n\t");
  EXPECT_EQ(Str(R"("\u00e9")"), "\xc3\xa9");
  EXPECT_TRUE(Bool("true"));
  EXPECT_FALSE(Bool("false"));
  EXPECT_TRUE(EvalOk("null").is_null());
}

TEST(ExprTest, FieldsAndQuotedNames) {
  EXPECT_EQ(Num("a"), 5);
  EXPECT_EQ(Str("user.id"), "u1");
  EXPECT_EQ(Num("`with space` + 1"), 8);
  EXPECT_EQ(EvalOk("obj").type(), ValueType::kRaw);
  EXPECT_EQ(EvalOk("obj").as_string(), "{\"k\":1}");
  EXPECT_TRUE(Bool("t"));
}

TEST(ExprTest, ArithmeticAndPrecedence) {
  EXPECT_EQ(Num("1 + 2 * 3"), 7);
  EXPECT_EQ(Num("(1 + 2) * 3"), 9);
  EXPECT_EQ(Num("10 - 4 - 3"), 3);   // left associative
  EXPECT_EQ(Num("100 / 10 / 5"), 2);  // left associative
  EXPECT_EQ(Num("7 % 3"), 1);
  EXPECT_EQ(Num("-7 % 3"), -1);
  EXPECT_EQ(Num("-a * 2"), -10);
  EXPECT_EQ(Num("- -a"), 5);
  EXPECT_EQ(Num("2 * -b"), -4);
  EXPECT_EQ(Num("a * b + 1"), 11);
  EXPECT_EQ(Num("1 + a * b"), 11);
  EXPECT_EQ(Num("a / b"), 2.5);
  EXPECT_TRUE(Bool("1 + 2 == 3"));
  EXPECT_TRUE(Bool("a > 3 and country == 'US'"));
  EXPECT_TRUE(Bool("a > 10 or b < 3 and t"));  // and binds tighter than or
  EXPECT_FALSE(Bool("(a > 10 or b < 3) and f"));
  EXPECT_FALSE(Bool("not a > 3"));  // not (a > 3)
  EXPECT_TRUE(Bool("not a > 3 or t"));
  EXPECT_TRUE(Bool("not not t"));
  EXPECT_TRUE(Bool("!f == true"));  // (!f) == true
  EXPECT_TRUE(Bool("not (a > 10)"));
  EXPECT_TRUE(Bool("!f && t || f"));
}

TEST(ExprTest, BangIsTightUnary) {
  // `!a > 3` is `(!a) > 3`, i.e. false > 3: ordering a bool is a type error.
  EventError err = EvalErr("!a > 3");
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(ParseError("1 + not t").find("expected an operand"), std::string::npos);
}

TEST(ExprTest, Comparisons) {
  EXPECT_TRUE(Bool("a > b"));
  EXPECT_TRUE(Bool("a >= 5"));
  EXPECT_TRUE(Bool("b <= 2"));
  EXPECT_TRUE(Bool("b < 2.5"));
  EXPECT_TRUE(Bool("a != b"));
  EXPECT_TRUE(Bool("'abc' < 'abd'"));
  EXPECT_TRUE(Bool("'B' < 'a'"));  // bytewise
  EXPECT_TRUE(Bool("s == 'Hello'"));
  EXPECT_FALSE(Bool("a == '5'"));  // across types
  EXPECT_TRUE(Bool("a != '5'"));
  EXPECT_TRUE(Bool("t == true"));
  EXPECT_FALSE(Bool("t == 1"));
  EXPECT_TRUE(Bool("null == null"));
  EXPECT_FALSE(Bool("a == null"));
  EXPECT_TRUE(Bool("obj == obj"));
}

TEST(ExprTest, StringConcatenation) {
  EXPECT_EQ(Str("s + ' ' + 'world'"), "Hello world");
  EXPECT_EQ(Str("'' + ''"), "");
}

TEST(ExprTest, ShortCircuit) {
  // The right side would fail (missing field / division by zero) if evaluated.
  EXPECT_FALSE(Bool("f and missing > 1"));
  EXPECT_TRUE(Bool("t or missing > 1"));
  EXPECT_FALSE(Bool("f && 1 / zero > 0"));
  EXPECT_TRUE(Bool("t || 1 / zero > 0"));
  EXPECT_EQ(EvalErr("t and missing > 1").code, "missing_field");
  EXPECT_EQ(EvalErr("f or missing > 1").code, "missing_field");
  // and/or yield bools from truthiness.
  EXPECT_TRUE(Bool("s and a"));
  EXPECT_FALSE(Bool("empty or zero"));
}

TEST(ExprTest, MathFunctions) {
  EXPECT_EQ(Num("abs(neg)"), 4);
  EXPECT_EQ(Num("min(3, a, b)"), 2);
  EXPECT_EQ(Num("max(3, a, b)"), 5);
  EXPECT_EQ(Num("min(7)"), 7);
  EXPECT_EQ(Num("pow(2, 10)"), 1024);
  EXPECT_EQ(Num("sqrt(16)"), 4);
  EXPECT_DOUBLE_EQ(Num("exp(1)"), std::exp(1.0));
  EXPECT_DOUBLE_EQ(Num("log(exp(2))"), 2);
  EXPECT_EQ(Num("log10(1000)"), 3);
  EXPECT_EQ(Num("floor(-1.5)"), -2);
  EXPECT_EQ(Num("ceil(1.2)"), 2);
  EXPECT_EQ(Num("round(2.5)"), 3);
  EXPECT_EQ(Num("round(-2.5)"), -3);
  EXPECT_DOUBLE_EQ(Num("round(3.14159, 2)"), 3.14);
  EXPECT_EQ(Num("round(1234, -2)"), 1200);
  EXPECT_EQ(EvalErr("round(1.5, 0.5)").code, "type_error");
}

TEST(ExprTest, IfIsLazy) {
  EXPECT_EQ(Num("if(a > 0, log(a), 0)"), std::log(5.0));
  EXPECT_EQ(Num("if(neg > 0, log(neg), 0)"), 0);
  EXPECT_EQ(Num("if(t, 1, missing)"), 1);
  EXPECT_EQ(Num("if(f, missing, 2)"), 2);
  EXPECT_EQ(Str("if(empty, 'yes', 'no')"), "no");
  EXPECT_EQ(EvalErr("if(missing, 1, 2)").code, "missing_field");
}

TEST(ExprTest, MissingPresentCoalesce) {
  EXPECT_TRUE(Bool("is_missing(nope)"));
  EXPECT_TRUE(Bool("is_missing(n)"));  // null counts as missing
  EXPECT_FALSE(Bool("is_missing(a)"));
  EXPECT_TRUE(Bool("is_present(a)"));
  EXPECT_FALSE(Bool("is_present(nope)"));
  EXPECT_TRUE(Bool("not is_missing(b)"));
  EXPECT_TRUE(Bool("is_missing(nope + 1)"));  // missing propagates through operators
  EXPECT_TRUE(Bool("is_missing(null)"));
  EXPECT_EQ(EvalErr("is_missing(s * 2)").code, "type_error");  // other errors are not absorbed
  EXPECT_EQ(Num("coalesce(nope, n, b, a)"), 2);
  EXPECT_EQ(Num("coalesce(nope * 2, 9)"), 9);
  EXPECT_EQ(Str("coalesce(s)"), "Hello");
  EXPECT_TRUE(EvalOk("coalesce(nope, null)").is_null());
  EventError err = EvalErr("coalesce(nope, other)");
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("other"), std::string::npos);
  EXPECT_EQ(EvalErr("coalesce(1 / zero, 2)").code, "non_finite");
}

TEST(ExprTest, StringFunctions) {
  EXPECT_EQ(Str("lower(s)"), "hello");
  EXPECT_EQ(Str("upper(s)"), "HELLO");
  EXPECT_EQ(Num("len(s)"), 5);
  EXPECT_EQ(Num("len('\u00e9t\u00e9')"), 3);  // code points, not bytes
  EXPECT_EQ(Num("len(empty)"), 0);
  EXPECT_EQ(Str("concat(s, '-', a, '-', t, '-', 1.5)"), "Hello-5-true-1.5");
  EXPECT_EQ(Str("concat(null)"), "null");
  EXPECT_EQ(Str("to_string(a)"), "5");
  EXPECT_EQ(Str("to_string(0.1)"), "0.1");
  EXPECT_EQ(Str("to_string(1e21)"), "1e+21");
  EXPECT_EQ(Str("to_string(f)"), "false");
  EXPECT_EQ(Str("to_string(s)"), "Hello");
  EXPECT_EQ(Num("to_number(num_str)"), 42.5);
  EXPECT_EQ(Num("to_number('-1e2')"), -100);
  EXPECT_EQ(Num("to_number(t)"), 1);
  EXPECT_EQ(Num("to_number(b)"), 2);
  EventError err = EvalErr("to_number(s)");
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(err.message.find("Hello"), std::string::npos);
  EXPECT_EQ(EvalErr("to_number('nan')").code, "type_error");
  EXPECT_EQ(EvalErr("upper(a)").code, "type_error");
  EXPECT_EQ(EvalErr("len(a)").code, "type_error");
}

TEST(ExprTest, MissingFieldErrors) {
  EventError err = EvalErr("nope + 1");
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'nope'"), std::string::npos);
  EXPECT_NE(err.message.find("missing"), std::string::npos);
  err = EvalErr("n * 2");
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'n' is null"), std::string::npos);
  EXPECT_EQ(EvalErr("nope").code, "missing_field");
  EXPECT_EQ(EvalErr("n == null").code, "missing_field");
  EXPECT_EQ(EvalErr("lower(nope)").code, "missing_field");
}

TEST(ExprTest, TypeErrors) {
  EventError err = EvalErr("s * 2");
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(err.message.find("'*'"), std::string::npos);
  EXPECT_NE(err.message.find("field 's'"), std::string::npos);
  err = EvalErr("a + s");
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(err.message.find("field 's'"), std::string::npos);
  EXPECT_EQ(EvalErr("-s").code, "type_error");
  EXPECT_EQ(EvalErr("t + 1").code, "type_error");
  err = EvalErr("a < s");
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(err.message.find("'<'"), std::string::npos);
  err = EvalErr("log(s)");
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(err.message.find("function 'log'"), std::string::npos);
  EXPECT_EQ(EvalErr("max(1, s)").code, "type_error");
  EXPECT_EQ(EvalErr("obj + 1").code, "type_error");
}

TEST(ExprTest, NonFiniteErrors) {
  EventError err = EvalErr("a / zero");
  EXPECT_EQ(err.code, "non_finite");
  EXPECT_NE(err.message.find("division by zero"), std::string::npos);
  EXPECT_EQ(EvalErr("a % zero").code, "non_finite");
  EXPECT_EQ(EvalErr("log(-1)").code, "non_finite");
  EXPECT_EQ(EvalErr("log(zero)").code, "non_finite");
  EXPECT_EQ(EvalErr("sqrt(neg)").code, "non_finite");
  EXPECT_EQ(EvalErr("exp(1000)").code, "non_finite");
  EXPECT_EQ(EvalErr("pow(10, 400)").code, "non_finite");
  EXPECT_EQ(EvalErr("1e308 * 10").code, "non_finite");
}

TEST(ExprTest, EvalBoolTruthiness) {
  Record r = TestRecord();
  auto check = [&](std::string_view text, bool want) {
    auto e = MustParse(text);
    bool out = !want;
    EventError err;
    ASSERT_TRUE(e->EvalBool(r, &out, &err)) << text << ": " << err.message;
    EXPECT_EQ(out, want) << text;
  };
  check("t", true);
  check("f", false);
  check("a", true);
  check("zero", false);
  check("s", true);
  check("empty", false);
  check("null", false);
  check("obj", true);
  check("a > 3 and country == 'US'", true);
  auto e = MustParse("nope");
  bool out;
  EventError err;
  EXPECT_FALSE(e->EvalBool(r, &out, &err));
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_EQ(err.stage, "transform");
}

TEST(ExprTest, EvalNumber) {
  Record r = TestRecord();
  double d = 0;
  EventError err;
  EXPECT_TRUE(MustParse("a * 2")->EvalNumber(r, &d, &err));
  EXPECT_EQ(d, 10);
  EXPECT_FALSE(MustParse("s")->EvalNumber(r, &d, &err));
  EXPECT_EQ(err.code, "type_error");
}

TEST(ExprTest, FieldsAndText) {
  auto e = MustParse("a + b * a + coalesce(`x y`, c.d) + a");
  EXPECT_EQ(e->text(), "a + b * a + coalesce(`x y`, c.d) + a");
  EXPECT_EQ(e->fields(), (std::vector<std::string>{"a", "b", "x y", "c.d"}));
  EXPECT_TRUE(MustParse("1 + 2")->fields().empty());
  // Keywords and function names are not fields.
  EXPECT_EQ(MustParse("not true and if(x, null, false)")->fields(),
            (std::vector<std::string>{"x"}));
}

TEST(ExprTest, ParseErrors) {
  std::string m = ParseError("a > ");
  EXPECT_NE(m.find("position 5"), std::string::npos) << m;
  EXPECT_NE(m.find("expected an operand"), std::string::npos) << m;
  EXPECT_NE(m.find("end of input"), std::string::npos) << m;

  m = ParseError("");
  EXPECT_NE(m.find("expected an expression"), std::string::npos) << m;

  m = ParseError("(a + 1");
  EXPECT_NE(m.find("expected ')'"), std::string::npos) << m;

  m = ParseError("a b");
  EXPECT_NE(m.find("position 3"), std::string::npos) << m;
  EXPECT_NE(m.find("expected an operator or end of input"), std::string::npos) << m;

  m = ParseError("a = 1");
  EXPECT_NE(m.find("position 3"), std::string::npos) << m;
  EXPECT_NE(m.find("'=='"), std::string::npos) << m;

  m = ParseError("foo(1)");
  EXPECT_NE(m.find("unknown function 'foo'"), std::string::npos) << m;
  EXPECT_NE(m.find("position 1"), std::string::npos) << m;

  m = ParseError("pow(1)");
  EXPECT_NE(m.find("function 'pow' takes 2 arguments, got 1"), std::string::npos) << m;
  m = ParseError("if(a, b)");
  EXPECT_NE(m.find("takes 3 arguments"), std::string::npos) << m;
  m = ParseError("abs(1, 2)");
  EXPECT_NE(m.find("takes 1 argument, got 2"), std::string::npos) << m;
  m = ParseError("min()");
  EXPECT_NE(m.find("at least 1"), std::string::npos) << m;
  m = ParseError("round(1, 2, 3)");
  EXPECT_NE(m.find("1 to 2"), std::string::npos) << m;

  m = ParseError("'abc");
  EXPECT_NE(m.find("unterminated string"), std::string::npos) << m;
  m = ParseError("`abc");
  EXPECT_NE(m.find("unterminated quoted name"), std::string::npos) << m;
  m = ParseError("``");
  EXPECT_NE(m.find("empty quoted name"), std::string::npos) << m;
  m = ParseError("'\\q'");
  EXPECT_NE(m.find("unknown escape"), std::string::npos) << m;
  m = ParseError("1e");
  EXPECT_NE(m.find("exponent"), std::string::npos) << m;
  m = ParseError("1e999");
  EXPECT_NE(m.find("out of range"), std::string::npos) << m;
  m = ParseError("3abc");
  EXPECT_NE(m.find("after number"), std::string::npos) << m;
  m = ParseError("a # b");
  EXPECT_NE(m.find("unexpected character '#'"), std::string::npos) << m;
  m = ParseError("a & b");
  EXPECT_NE(m.find("'&&'"), std::string::npos) << m;
  m = ParseError("max(1,)");
  EXPECT_NE(m.find("expected an operand"), std::string::npos) << m;
  m = ParseError("max(1 2)");
  EXPECT_NE(m.find("expected ',' or ')'"), std::string::npos) << m;
  m = ParseError("a and");
  EXPECT_NE(m.find("expected an operand"), std::string::npos) << m;
  m = ParseError("a < b < c");  // comparisons do not chain
  EXPECT_NE(m.find("position 7"), std::string::npos) << m;
}

TEST(ExprTest, DepthLimit) {
  std::string deep(1000, '(');
  deep += "1";
  deep += std::string(1000, ')');
  EXPECT_NE(ParseError(deep).find("too deeply nested"), std::string::npos);
  std::string chain = "a";
  for (int i = 0; i < 1000; ++i) chain += " + a";
  EXPECT_NE(ParseError(chain).find("too deeply nested"), std::string::npos);
  std::string ok = "a";
  for (int i = 0; i < 100; ++i) ok += " + a";
  EXPECT_EQ(Num(ok), 505);
}

TEST(ExprTest, ConcurrentEval) {
  auto e = MustParse("if(x > 0, log(x) * 2, concat('neg:', x))");
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        Record r;
        double x = (i % 2 == 0) ? i + 1 : -i;
        r.Set("x", Value::Number(x));
        Value v;
        EventError err;
        if (!e->Eval(r, &v, &err)) {
          ++failures[t];
        } else if (x > 0 ? !(v.is_number() && v.as_number() == std::log(x) * 2)
                         : !v.is_string()) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

#ifdef EVS_COUNT_ALLOCS
TEST(ExprTest, NumericEvaluationDoesNotAllocate) {
  Record r = TestRecord();
  auto num = MustParse(
      "a * b + 1 > 3 and if(a > 0, log(a), 0) < 5 or coalesce(nope, 1) == 1 "
      "and max(a, b, -abs(neg)) + pow(b, 2) % 3 != round(sqrt(a), 2)");
  auto pred = MustParse("country == 'US' and s != 'x' and is_present(user.id) and !is_missing(b)");
  Value v;
  bool b = false;
  EventError err;
  long before = g_allocs.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(num->Eval(r, &v, &err));
    ASSERT_TRUE(pred->EvalBool(r, &b, &err));
  }
  long after = g_allocs.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_TRUE(v.as_bool());
  EXPECT_TRUE(b);
}
#endif

TEST(ParseNumberTest, Strict) {
  double d;
  EXPECT_TRUE(ParseNumber("1", &d));
  EXPECT_EQ(d, 1);
  EXPECT_TRUE(ParseNumber("-1.5e3", &d));
  EXPECT_EQ(d, -1500);
  EXPECT_TRUE(ParseNumber("+2", &d));
  EXPECT_EQ(d, 2);
  EXPECT_FALSE(ParseNumber("", &d));
  EXPECT_FALSE(ParseNumber("1x", &d));
  EXPECT_FALSE(ParseNumber("nan", &d));
  EXPECT_FALSE(ParseNumber("inf", &d));
  EXPECT_FALSE(ParseNumber("1e999", &d));
  EXPECT_FALSE(ParseNumber(" 1", &d));
  EXPECT_FALSE(ParseNumber("+-1", &d));
  EXPECT_FALSE(ParseNumber("0x10", &d));
}

TEST(ValueStringTest, Forms) {
  EXPECT_EQ(ValueString(Value::Number(1)), "1");
  EXPECT_EQ(ValueString(Value::Number(-0.25)), "-0.25");
  EXPECT_EQ(ValueString(Value::Bool(true)), "true");
  EXPECT_EQ(ValueString(Value::String("x")), "x");
  EXPECT_EQ(ValueString(Value::Null()), "null");
  EXPECT_EQ(ValueString(Value::Raw("[1]")), "[1]");
}

}  // namespace
}  // namespace evs::transform
