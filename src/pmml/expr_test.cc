// Expressions, built-in functions, DefineFunction and predicates, compiled
// against a hand-made Scope (fields x, y, z: double; i, j: integer; f: float;
// s, t: string; b: boolean; d: date; dt: dateTime; tm: time) and evaluated
// through PlanBuilder / EvalContext; plus a few end-to-end documents.

#include <cstring>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/model.h"
#include "pmml/plan.h"
#include "pmml/pmml.h"
#include "pmml/value.h"

namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<long> g_allocs{0};
}  // namespace

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace evs::pmml {
namespace {

using Inputs = std::vector<std::pair<std::string, Value>>;

Value N(double v) { return Value::Number(v, DataType::kDouble); }
Value I(double v) { return Value::Number(v, DataType::kInteger); }
Value S(std::string_view s) { return Value::String(s); }
Value B(bool b) { return Value::Bool(b); }
Value Parsed(std::string_view text, DataType t) {
  Value v;
  EXPECT_TRUE(ParseValue(text, t, &v).ok()) << text;
  return v;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// One compiled expression or predicate with its own plan and context.
class Harness {
 public:
  // `xml` is one expression or predicate element, optionally preceded by
  // DefineFunction elements.
  explicit Harness(const std::string& xml) : scope_(&builder_, nullptr) {
    std::string doc = "<T>" + xml + "</T>";
    auto r = doc_.load_buffer(doc.data(), doc.size());
    EXPECT_TRUE(r) << r.description();
    const std::pair<const char*, DataType> fields[] = {
        {"x", DataType::kDouble}, {"y", DataType::kDouble},  {"z", DataType::kDouble},
        {"i", DataType::kInteger}, {"j", DataType::kInteger}, {"f", DataType::kFloat},
        {"s", DataType::kString}, {"t", DataType::kString},   {"b", DataType::kBoolean},
        {"d", DataType::kDate},   {"dt", DataType::kDateTime}, {"tm", DataType::kTime}};
    for (const auto& [name, type] : fields) {
      FieldInfo info;
      info.name = name;
      info.slot = builder_.NewSlot(name);
      info.type = type;
      info.optype = type == DataType::kString ? OpType::kCategorical : OpType::kContinuous;
      EXPECT_TRUE(scope_.Define(info).ok());
      slots_.emplace_back(name, info.slot);
    }
    for (pugi::xml_node c : doc_.document_element().children()) {
      if (c.type() != pugi::node_element) continue;
      if (LocalName(c) == "DefineFunction") {
        builder_.AddFunctionDefinition(c);
      } else if (IsExpressionElement(c)) {
        auto e = CompileExpression(c, scope_);
        status_ = e.status();
        if (e.ok()) expr_ = std::move(*e);
      } else {
        auto p = CompilePredicate(c, scope_);
        status_ = p.status();
        if (p.ok()) pred_ = std::move(*p);
      }
    }
    plan_ = builder_.Finish();
    ctx_ = std::make_unique<EvalContext>(*plan_);
  }

  const absl::Status& compile_status() const { return status_; }
  const Expr* expr() const { return expr_.get(); }
  const Predicate* pred() const { return pred_.get(); }
  EvalContext& ctx() { return *ctx_; }

  void Begin(const Inputs& in) {
    ctx_->BeginRecord();
    for (const auto& [name, v] : in) {
      bool found = false;
      for (const auto& [n, slot] : slots_) {
        if (n == name) {
          ctx_->Input(slot) = v;
          found = true;
        }
      }
      EXPECT_TRUE(found) << name;
    }
  }

  Value Eval(const Inputs& in = {}) {
    Begin(in);
    Value out;
    expr_->Eval(*ctx_, &out);
    return out;
  }

  Tri Test(const Inputs& in = {}) {
    Begin(in);
    return pred_->Test(*ctx_);
  }

 private:
  PlanBuilder builder_;
  Scope scope_;
  pugi::xml_document doc_;
  std::vector<std::pair<std::string, SlotId>> slots_;
  absl::Status status_;
  std::unique_ptr<Expr> expr_;
  std::unique_ptr<Predicate> pred_;
  std::unique_ptr<Plan> plan_;
  std::unique_ptr<EvalContext> ctx_;
};

struct Outcome {
  Value value;
  absl::Status compile;
  absl::Status eval;
  DataType static_type = DataType::kDouble;
};

Outcome RunExpr(const std::string& xml, const Inputs& in = {}) {
  Harness h(xml);
  Outcome o;
  o.compile = h.compile_status();
  if (!o.compile.ok() || h.expr() == nullptr) return o;
  o.static_type = h.expr()->type();
  o.value = h.Eval(in);
  o.eval = h.ctx().status();
  return o;
}

// Text of the result: "<missing>", "ERR: ...", "COMPILE: ...", or "type:value".
std::string R(const std::string& xml, const Inputs& in = {}) {
  Outcome o = RunExpr(xml, in);
  if (!o.compile.ok()) return "COMPILE: " + Msg(o.compile);
  if (!o.eval.ok()) return "ERR: " + Msg(o.eval);
  if (o.value.missing()) return "<missing>";
  return absl::StrCat(std::string(DataTypeName(o.value.type)), ":", FormatValue(o.value));
}

double Num(const std::string& xml, const Inputs& in = {}) {
  Outcome o = RunExpr(xml, in);
  EXPECT_TRUE(o.compile.ok()) << o.compile;
  EXPECT_TRUE(o.eval.ok()) << o.eval;
  EXPECT_TRUE(o.value.is_number() || o.value.is_bool()) << xml;
  return o.value.num;
}

std::string Ap(const std::string& fn, const std::string& args, const std::string& attrs = "") {
  return absl::StrCat("<Apply function=\"", fn, "\"", attrs, ">", args, "</Apply>");
}
std::string C(const std::string& v, const std::string& type = "") {
  if (type.empty()) return "<Constant>" + v + "</Constant>";
  return absl::StrCat("<Constant dataType=\"", type, "\">", v, "</Constant>");
}
std::string F(const std::string& name) { return "<FieldRef field=\"" + name + "\"/>"; }

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ------------------------------------------------------------------ Constant, FieldRef

TEST(ConstantTest, TypesAndInference) {
  EXPECT_EQ(R(C("1.5")), "double:1.5");
  EXPECT_EQ(R(C("3")), "integer:3");
  EXPECT_EQ(R(C("-3")), "integer:-3");
  EXPECT_EQ(R(C("abc")), "string:abc");
  EXPECT_EQ(R(C("1e3")), "string:1e3");  // JPMML: no '.', not an integer -> string
  EXPECT_EQ(R(C("NaN")), "double:NaN");
  EXPECT_EQ(R(C("1e3", "double")), "double:1000");
  EXPECT_EQ(R(C("3", "string")), "string:3");
  EXPECT_EQ(R(C("true", "boolean")), "boolean:true");
  EXPECT_EQ(R("<Constant/>"), "string:");
  EXPECT_EQ(R("<Constant dataType=\"string\"/>"), "string:");
  EXPECT_EQ(R("<Constant dataType=\"integer\"/>"), "<missing>");
  EXPECT_EQ(R("<Constant missing=\"true\">1</Constant>"), "<missing>");
  EXPECT_EQ(Num(C("0.1", "float")), static_cast<double>(0.1f));
  EXPECT_TRUE(Contains(R(C("abc", "integer")), "COMPILE:"));
  EXPECT_EQ(RunExpr(C("3")).static_type, DataType::kInteger);
}

TEST(FieldRefTest, ValueMissingAndMapMissingTo) {
  EXPECT_EQ(R(F("x"), {{"x", N(2.5)}}), "double:2.5");
  EXPECT_EQ(R(F("x")), "<missing>");
  EXPECT_EQ(R("<FieldRef field=\"x\" mapMissingTo=\"-1\"/>"), "double:-1");
  EXPECT_EQ(R("<FieldRef field=\"s\" mapMissingTo=\"none\"/>"), "string:none");
  EXPECT_EQ(R("<FieldRef field=\"s\" mapMissingTo=\"none\"/>", {{"s", S("a")}}), "string:a");
  EXPECT_TRUE(Contains(R(F("nope")), "nope"));
  Harness h(F("i"));
  EXPECT_NE(h.expr()->AsFieldSlot(), kNoSlot);
  EXPECT_EQ(h.expr()->type(), DataType::kInteger);
  Harness h2("<FieldRef field=\"i\" mapMissingTo=\"0\"/>");
  EXPECT_EQ(h2.expr()->AsFieldSlot(), kNoSlot);
}

// ------------------------------------------------------------------ NormContinuous, NormDiscrete, Discretize

std::string Norm(const std::string& attrs) {
  return "<NormContinuous field=\"x\"" + attrs +
         "><LinearNorm orig=\"0\" norm=\"0\"/><LinearNorm orig=\"10\" norm=\"1\"/>"
         "<LinearNorm orig=\"20\" norm=\"3\"/></NormContinuous>";
}

TEST(NormContinuousTest, PiecewiseAndOutliers) {
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(5)}}), 0.5);
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(15)}}), 2.0);
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(10)}}), 1.0);
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(0)}}), 0.0);
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(20)}}), 3.0);
  // asIs extrapolates from the first / last segment.
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(25)}}), 4.0);
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", N(-10)}}), -1.0);
  EXPECT_EQ(R(Norm(" outliers=\"asMissingValues\""), {{"x", N(25)}}), "<missing>");
  EXPECT_DOUBLE_EQ(Num(Norm(" outliers=\"asExtremeValues\""), {{"x", N(25)}}), 3.0);
  EXPECT_DOUBLE_EQ(Num(Norm(" outliers=\"asExtremeValues\""), {{"x", N(-5)}}), 0.0);
  EXPECT_EQ(R(Norm("")), "<missing>");
  EXPECT_EQ(R(Norm(" mapMissingTo=\"0.25\"")), "double:0.25");
  EXPECT_DOUBLE_EQ(Num(Norm(""), {{"x", I(5)}}), 0.5);
  EXPECT_TRUE(Contains(R("<NormContinuous field=\"x\"><LinearNorm orig=\"0\" norm=\"0\"/></NormContinuous>"),
                       "COMPILE:"));
}

TEST(NormDiscreteTest, Indicator) {
  std::string e = "<NormDiscrete field=\"s\" value=\"red\"/>";
  EXPECT_EQ(R(e, {{"s", S("red")}}), "double:1");
  EXPECT_EQ(R(e, {{"s", S("blue")}}), "double:0");
  EXPECT_EQ(R(e), "<missing>");
  EXPECT_EQ(R("<NormDiscrete field=\"s\" value=\"red\" mapMissingTo=\"0.5\"/>"), "double:0.5");
  EXPECT_EQ(R("<NormDiscrete field=\"i\" value=\"3\"/>", {{"i", I(3)}}), "double:1");
  EXPECT_EQ(R("<NormDiscrete field=\"x\" value=\"3.0\"/>", {{"x", N(3)}}), "double:1");
}

std::string Disc(const std::string& attrs) {
  return "<Discretize field=\"x\"" + attrs +
         "><DiscretizeBin binValue=\"neg\"><Interval closure=\"openOpen\" rightMargin=\"0\"/></DiscretizeBin>"
         "<DiscretizeBin binValue=\"low\"><Interval closure=\"closedOpen\" leftMargin=\"0\" rightMargin=\"10\"/>"
         "</DiscretizeBin><DiscretizeBin binValue=\"high\"><Interval closure=\"closedClosed\" leftMargin=\"20\"/>"
         "</DiscretizeBin></Discretize>";
}

TEST(DiscretizeTest, BinsDefaultMissing) {
  EXPECT_EQ(R(Disc(""), {{"x", N(-1)}}), "string:neg");
  EXPECT_EQ(R(Disc(""), {{"x", N(0)}}), "string:low");
  EXPECT_EQ(R(Disc(""), {{"x", N(9.99)}}), "string:low");
  EXPECT_EQ(R(Disc(""), {{"x", N(20)}}), "string:high");
  EXPECT_EQ(R(Disc(""), {{"x", N(10)}}), "<missing>");
  EXPECT_EQ(R(Disc(" defaultValue=\"mid\""), {{"x", N(10)}}), "string:mid");
  EXPECT_EQ(R(Disc(" mapMissingTo=\"unknown\"")), "string:unknown");
  EXPECT_EQ(R("<Discretize field=\"x\" dataType=\"integer\"><DiscretizeBin binValue=\"7\"><Interval "
              "closure=\"closedClosed\" leftMargin=\"0\" rightMargin=\"1\"/></DiscretizeBin></Discretize>",
              {{"x", N(0.5)}}),
            "integer:7");
}

// ------------------------------------------------------------------ MapValues

const char kMapOne[] = R"(<MapValues outputColumn="data:output" defaultValue="other" mapMissingTo="nothing">
  <FieldColumnPair field="s" column="data:input"/>
  <InlineTable>
    <row><data:input>a</data:input><data:output>A-out</data:output></row>
    <row><data:input>b</data:input><data:output>B-out</data:output></row>
  </InlineTable></MapValues>)";

TEST(MapValuesTest, OneColumnWithPrefixedCells) {
  EXPECT_EQ(R(kMapOne, {{"s", S("a")}}), "string:A-out");
  EXPECT_EQ(R(kMapOne, {{"s", S("b")}}), "string:B-out");
  EXPECT_EQ(R(kMapOne, {{"s", S("c")}}), "string:other");
  EXPECT_EQ(R(kMapOne), "string:nothing");
}

TEST(MapValuesTest, NumericKeysTypedOutputAndSeveralColumns) {
  std::string num = R"(<MapValues outputColumn="out" dataType="double"><FieldColumnPair field="i" column="in"/>
    <InlineTable><row><in>1</in><out>0.5</out></row><row><in>2</in><out>1.5</out></row></InlineTable></MapValues>)";
  EXPECT_EQ(R(num, {{"i", I(2)}}), "double:1.5");
  EXPECT_EQ(R(num, {{"i", I(3)}}), "<missing>");
  std::string two = R"(<MapValues outputColumn="out"><FieldColumnPair field="s" column="a"/>
    <FieldColumnPair field="i" column="b"/><InlineTable>
    <row><a>x</a><b>1</b><out>x1</out></row><row><a>x</a><b>2</b><out>x2</out></row>
    <row><a>y</a><b>1</b><out>y1</out></row></InlineTable></MapValues>)";
  EXPECT_EQ(R(two, {{"s", S("x")}, {"i", I(2)}}), "string:x2");
  EXPECT_EQ(R(two, {{"s", S("y")}, {"i", I(1)}}), "string:y1");
  EXPECT_EQ(R(two, {{"s", S("y")}, {"i", I(2)}}), "<missing>");
  EXPECT_EQ(R(two, {{"s", S("y")}}), "<missing>");
}

TEST(MapValuesTest, TableLocatorIsAClearError) {
  std::string r = R(R"(<MapValues outputColumn="out"><FieldColumnPair field="s" column="in"/><TableLocator/></MapValues>)");
  EXPECT_TRUE(Contains(r, "COMPILE:")) << r;
  EXPECT_TRUE(Contains(r, "TableLocator")) << r;
}

// ------------------------------------------------------------------ TextIndex

std::string Text(const std::string& term, const std::string& attrs, const std::string& extra = "") {
  return "<TextIndex textField=\"s\"" + attrs + ">" + extra + C(term) + "</TextIndex>";
}

TEST(TextIndexTest, TermFrequencyVariants) {
  EXPECT_EQ(R(Text("user friendly", " wordSeparatorCharacterRE=\"[\\s\\-]\""), {{"s", S("very user-friendly!")}}),
            "integer:1");
  std::string text = "the brown fox and the browny foxy, then brown fox again";
  EXPECT_EQ(R(Text("brown fox", ""), {{"s", S(text)}}), "integer:2");
  EXPECT_EQ(R(Text("brown fox", " maxLevenshteinDistance=\"2\""), {{"s", S(text)}}), "integer:3");
  std::string dog = "I have a doog. My dog is white. The doog is nice.";
  EXPECT_EQ(R(Text("dog", " maxLevenshteinDistance=\"1\""), {{"s", S(dog)}}), "integer:3");
  EXPECT_EQ(R(Text("dog", " maxLevenshteinDistance=\"1\" countHits=\"bestHits\""), {{"s", S(dog)}}), "integer:1");
  EXPECT_EQ(R(Text("sun", ""), {{"s", S("Sun, sun and son")}}), "integer:2");
  EXPECT_EQ(R(Text("sun", " isCaseSensitive=\"true\""), {{"s", S("Sun, sun and son")}}), "integer:1");
  EXPECT_EQ(R(Text("sun", " maxLevenshteinDistance=\"1\""), {{"s", S("Sun, sun and son")}}), "integer:3");
  EXPECT_EQ(R(Text("a", " localTermWeights=\"binary\""), {{"s", S("a b a")}}), "integer:1");
  EXPECT_DOUBLE_EQ(Num(Text("a", " localTermWeights=\"logarithmic\""), {{"s", S("a b a")}}), std::log10(3.0));
  EXPECT_DOUBLE_EQ(Num(Text("b", " localTermWeights=\"augmentedNormalizedTermFrequency\""), {{"s", S("a a b")}}),
                   0.75);
  EXPECT_EQ(R(Text("a", "")), "<missing>");
  EXPECT_EQ(R(Text("zzz", ""), {{"s", S("")}}), "integer:0");
}

TEST(TextIndexTest, Normalization) {
  std::string norm = R"(<TextIndexNormalization><InlineTable>
    <row><string>interfaces?</string><stem>interface</stem><regex>true</regex></row>
    <row><string>is|are|seem(ed|s?)|were</string><stem>be</stem><regex>true</regex></row>
    </InlineTable></TextIndexNormalization>
    <TextIndexNormalization inField="re" outField="feature"><InlineTable>
    <row><re>interface be (nice|great)</re><feature>ui_good</feature><regex>true</regex></row>
    </InlineTable></TextIndexNormalization>)";
  EXPECT_EQ(R(Text("ui_good", " localTermWeights=\"binary\"", norm),
              {{"s", S("Testing convinced me the Interfaces are great!")}}),
            "integer:1");
  std::string rec = R"(<TextIndexNormalization recursive="true"><InlineTable>
    <row><string>aa</string><stem>a</stem></row></InlineTable></TextIndexNormalization>)";
  EXPECT_EQ(R(Text("a", "", rec), {{"s", S("aaaa b")}}), "integer:1");
}

TEST(UnsupportedTest, AggregateAndLag) {
  std::string a = R(R"(<Aggregate field="x" function="sum"/>)");
  EXPECT_TRUE(Contains(a, "not supported")) << a;
  EXPECT_TRUE(Contains(a, "several records")) << a;
  EXPECT_TRUE(Contains(R(R"(<Lag field="x"/>)"), "not supported"));
}

// ------------------------------------------------------------------ arithmetic

TEST(ApplyTest, ArithmeticTypes) {
  EXPECT_EQ(R(Ap("+", F("i") + F("j")), {{"i", I(2)}, {"j", I(3)}}), "integer:5");
  EXPECT_EQ(R(Ap("-", F("i") + F("j")), {{"i", I(2)}, {"j", I(3)}}), "integer:-1");
  EXPECT_EQ(R(Ap("*", F("i") + F("j")), {{"i", I(2)}, {"j", I(3)}}), "integer:6");
  EXPECT_EQ(R(Ap("/", F("i") + F("j")), {{"i", I(7)}, {"j", I(2)}}), "integer:3");  // as JPMML
  EXPECT_EQ(R(Ap("/", F("i") + F("j")), {{"i", I(-7)}, {"j", I(2)}}), "integer:-3");
  EXPECT_EQ(R(Ap("+", F("x") + F("i")), {{"x", N(1.5)}, {"i", I(2)}}), "double:3.5");
  EXPECT_EQ(R(Ap("/", F("x") + C("4")), {{"x", N(1)}}), "double:0.25");
  EXPECT_EQ(R(Ap("*", F("f") + F("f")), {{"f", Value::Number(0.5, DataType::kFloat)}}), "float:0.25");
  EXPECT_EQ(R(Ap("+", F("f") + F("x")), {{"f", Value::Number(0.5, DataType::kFloat)}, {"x", N(1)}}), "double:1.5");
  EXPECT_EQ(R(Ap("/", F("x") + C("0.0")), {{"x", N(1)}}), "double:INF");
  EXPECT_EQ(RunExpr(Ap("+", F("i") + F("j"))).static_type, DataType::kInteger);
  EXPECT_EQ(RunExpr(Ap("+", F("i") + F("x"))).static_type, DataType::kDouble);
}

TEST(ApplyTest, MissingDefaultMapMissing) {
  EXPECT_EQ(R(Ap("+", F("x") + C("1"))), "<missing>");
  EXPECT_EQ(R(Ap("+", F("x") + C("1"), " defaultValue=\"-1\"")), "double:-1");
  EXPECT_EQ(R(Ap("+", F("x") + C("1"), " mapMissingTo=\"7\" defaultValue=\"-1\"")), "double:7");
  EXPECT_EQ(R(Ap("+", F("x") + C("1"), " mapMissingTo=\"7\""), {{"x", N(1)}}), "double:2");
}

TEST(ApplyTest, InvalidValueTreatment) {
  // Integer division by zero is undefined.
  std::string div = Ap("/", F("i") + C("0"));
  EXPECT_TRUE(Contains(R(div, {{"i", I(1)}}), "ERR:"));
  EXPECT_TRUE(Contains(R(div, {{"i", I(1)}}), "function /"));
  EXPECT_TRUE(Contains(R(Ap("/", F("i") + C("0"), " invalidValueTreatment=\"asIs\""), {{"i", I(1)}}), "ERR:"));
  EXPECT_EQ(R(Ap("/", F("i") + C("0"), " invalidValueTreatment=\"asMissing\""), {{"i", I(1)}}), "<missing>");
  EXPECT_EQ(R(Ap("/", F("i") + C("0"), " invalidValueTreatment=\"asMissing\" defaultValue=\"-1\""), {{"i", I(1)}}),
            "integer:-1");
  EXPECT_TRUE(Contains(R(Ap("modulo", F("i") + C("0")), {{"i", I(1)}}), "ERR:"));
  // NaN results are invalid values.
  EXPECT_TRUE(Contains(R(Ap("ln", F("x")), {{"x", N(-1)}}), "ERR:"));
  EXPECT_TRUE(Contains(R(Ap("sqrt", F("x")), {{"x", N(-1)}}), "NaN"));
  EXPECT_EQ(R(Ap("sqrt", F("x"), " invalidValueTreatment=\"asIs\""), {{"x", N(-1)}}), "double:NaN");
  EXPECT_EQ(R(Ap("sqrt", F("x"), " invalidValueTreatment=\"asMissing\""), {{"x", N(-1)}}), "<missing>");
  EXPECT_EQ(R(Ap("ln", F("x")), {{"x", N(0)}}), "double:-INF");
  // Integer overflow is undefined.
  EXPECT_TRUE(Contains(R(Ap("*", F("i") + F("i")), {{"i", I(100000)}}), "ERR:"));
}

TEST(ApplyTest, ConstantArgumentsAreFoldedAtCompileTime) {
  Harness h(Ap("*", Ap("+", C("1") + C("2")) + C("1.5")));
  ASSERT_TRUE(h.compile_status().ok());
  h.Begin({});
  Value scratch;
  const Value& v = h.expr()->EvalRef(h.ctx(), &scratch);
  EXPECT_NE(&v, &scratch);  // a constant's own value
  EXPECT_EQ(v.num, 4.5);
  EXPECT_EQ(h.expr()->type(), DataType::kDouble);
  // Not folded when evaluation fails: the failure is per record.
  EXPECT_TRUE(Contains(R(Ap("/", C("1") + C("0"))), "ERR:"));
}

TEST(ApplyTest, ArgumentCountAndUnknownFunction) {
  EXPECT_TRUE(Contains(R(Ap("+", C("1"))), "takes 2 arguments, got 1"));
  EXPECT_TRUE(Contains(R(Ap("if", C("1"))), "takes 2 to 3 arguments"));
  EXPECT_TRUE(Contains(R(Ap("and", C("true"))), "at least 2"));
  EXPECT_TRUE(Contains(R(Ap("noSuchFunction", C("1"))), "\"noSuchFunction\" is not defined"));
}

TEST(ApplyTest, ModuloPowThreshold) {
  EXPECT_EQ(R(Ap("modulo", C("11") + C("3"))), "integer:2");
  EXPECT_EQ(R(Ap("modulo", C("9") + C("-7"))), "integer:-5");
  EXPECT_EQ(R(Ap("modulo", C("-4") + C("-9"))), "integer:-4");
  EXPECT_NEAR(Num(Ap("modulo", C("-17.2") + C("0.5"))), 0.3, 1e-12);
  EXPECT_EQ(R(Ap("x-modulo", C("11") + C("3"))), "integer:2");
  EXPECT_EQ(R(Ap("pow", C("2") + C("10"))), "integer:1024");
  EXPECT_DOUBLE_EQ(Num(Ap("pow", C("2.0") + C("0.5"))), std::sqrt(2.0));
  EXPECT_TRUE(Contains(R(Ap("pow", C("2") + C("-1"))), "ERR:"));
  EXPECT_EQ(R(Ap("threshold", C("3") + C("2"))), "integer:1");
  EXPECT_EQ(R(Ap("threshold", F("x") + C("2")), {{"x", N(1.5)}}), "double:0");
  EXPECT_EQ(R(Ap("threshold", F("x") + C("2")), {{"x", N(2)}}), "double:0");
}

TEST(ApplyTest, Statistics) {
  EXPECT_EQ(R(Ap("min", C("1") + C("3.5") + F("x"))), "double:1");
  EXPECT_EQ(R(Ap("max", C("1") + C("3.5") + F("x"))), "double:3.5");
  EXPECT_EQ(R(Ap("sum", F("i") + F("j")), {{"i", I(2)}, {"j", I(3)}}), "integer:5");
  EXPECT_EQ(R(Ap("avg", F("i") + F("j")), {{"i", I(2)}, {"j", I(3)}}), "double:2.5");
  EXPECT_EQ(R(Ap("product", C("2") + C("3") + C("4"))), "integer:24");
  EXPECT_EQ(R(Ap("median", C("3") + C("1") + C("2"))), "double:2");
  EXPECT_EQ(R(Ap("median", C("4") + C("1") + C("3") + C("2"))), "double:2.5");
  EXPECT_EQ(R(Ap("sum", F("x") + F("y"))), "<missing>");
  EXPECT_EQ(R(Ap("avg", F("x") + F("y") + C("4.0"))), "double:4");
  // More arguments than the inline buffer.
  EXPECT_EQ(R(Ap("sum", C("1") + C("2") + C("3") + C("4") + C("5") + C("6"))), "integer:21");
}

TEST(ApplyTest, MathFunctions) {
  EXPECT_DOUBLE_EQ(Num(Ap("log10", C("1000"))), 3);
  EXPECT_DOUBLE_EQ(Num(Ap("ln", C("1"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("sqrt", C("16"))), 4);
  EXPECT_EQ(R(Ap("abs", C("-2"))), "integer:2");
  EXPECT_EQ(R(Ap("abs", C("-2.5"))), "double:2.5");
  EXPECT_DOUBLE_EQ(Num(Ap("exp", C("0"))), 1);
  EXPECT_EQ(R(Ap("floor", C("2.7"))), "integer:2");
  EXPECT_EQ(R(Ap("floor", C("-2.5"))), "integer:-3");
  EXPECT_EQ(R(Ap("ceil", C("2.1"))), "integer:3");
  EXPECT_EQ(R(Ap("round", C("2.5"))), "integer:3");
  EXPECT_EQ(R(Ap("round", C("-2.5"))), "integer:-2");
  EXPECT_EQ(R(Ap("rint", C("2.5"))), "double:2");
  EXPECT_EQ(R(Ap("rint", C("3.5"))), "double:4");
  EXPECT_DOUBLE_EQ(Num(Ap("expm1", C("0.0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("ln1p", C("0.0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("hypot", C("3") + C("4"))), 5);
  EXPECT_DOUBLE_EQ(Num(Ap("sin", C("0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("cos", C("0"))), 1);
  EXPECT_DOUBLE_EQ(Num(Ap("tan", C("0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("asin", C("1"))), M_PI / 2);
  EXPECT_DOUBLE_EQ(Num(Ap("acos", C("1"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("atan", C("1"))), M_PI / 4);
  EXPECT_DOUBLE_EQ(Num(Ap("atan2", C("1") + C("1"))), M_PI / 4);
  EXPECT_DOUBLE_EQ(Num(Ap("x-atan2", C("1") + C("-1"))), 3 * M_PI / 4);
  EXPECT_DOUBLE_EQ(Num(Ap("sinh", C("0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("cosh", C("0"))), 1);
  EXPECT_DOUBLE_EQ(Num(Ap("tanh", C("0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("x-tanh", C("0"))), 0);
  EXPECT_DOUBLE_EQ(Num(Ap("erf", C("0"))), 0);
  EXPECT_NEAR(Num(Ap("erf", C("1.0"))), 0.8427007929497149, 1e-15);
  EXPECT_EQ(RunExpr(Ap("exp", C("0"))).static_type, DataType::kDouble);
  EXPECT_EQ(RunExpr(Ap("round", C("0.5"))).static_type, DataType::kInteger);
}

TEST(ApplyTest, NormalDistribution) {
  EXPECT_DOUBLE_EQ(Num(Ap("stdNormalCDF", C("0"))), 0.5);
  EXPECT_NEAR(Num(Ap("stdNormalCDF", C("1.96"))), 0.9750021048517795, 1e-15);
  EXPECT_NEAR(Num(Ap("stdNormalPDF", C("0"))), 0.3989422804014327, 1e-16);
  EXPECT_NEAR(Num(Ap("stdNormalIDF", C("0.975"))), 1.959963984540054, 1e-13);
  EXPECT_NEAR(Num(Ap("stdNormalIDF", C("0.001"))), -3.090232306167813, 1e-12);
  EXPECT_NEAR(Num(Ap("stdNormalIDF", C("0.5"))), 0, 1e-15);
  EXPECT_DOUBLE_EQ(Num(Ap("normalCDF", C("1") + C("1") + C("2"))), 0.5);
  EXPECT_NEAR(Num(Ap("normalPDF", C("1") + C("1") + C("2"))), 0.19947114020071635, 1e-16);
  EXPECT_NEAR(Num(Ap("normalIDF", C("0.5") + C("3") + C("2"))), 3, 1e-14);
  EXPECT_TRUE(Contains(R(Ap("normalCDF", C("1") + C("1") + C("0"))), "ERR:"));
  EXPECT_TRUE(Contains(R(Ap("stdNormalIDF", C("1.5"))), "ERR:"));
}

// ------------------------------------------------------------------ boolean, comparison, sets, if

TEST(ApplyTest, MissingAndValidity) {
  EXPECT_EQ(R(Ap("isMissing", F("x"))), "boolean:true");
  EXPECT_EQ(R(Ap("isMissing", F("x")), {{"x", N(1)}}), "boolean:false");
  EXPECT_EQ(R(Ap("isNotMissing", F("x"))), "boolean:false");
  EXPECT_EQ(R(Ap("isValid", F("x")), {{"x", N(1)}}), "boolean:true");
  EXPECT_EQ(R(Ap("isValid", F("x")), {{"x", N(NAN)}}), "boolean:false");
  EXPECT_EQ(R(Ap("isValid", F("x"))), "boolean:false");
  EXPECT_EQ(R(Ap("isNotValid", F("x")), {{"x", N(NAN)}}), "boolean:true");
  EXPECT_EQ(R(Ap("isNotValid", F("x"))), "boolean:false");
  // isMissing with defaultValue/mapMissingTo: mapMissingTo wins for a missing argument.
  EXPECT_EQ(R(Ap("isMissing", F("x"), " mapMissingTo=\"false\"")), "boolean:false");
}

TEST(ApplyTest, Comparisons) {
  EXPECT_EQ(R(Ap("equal", F("i") + C("3.0")), {{"i", I(3)}}), "boolean:true");
  EXPECT_EQ(R(Ap("equal", F("s") + C("a")), {{"s", S("a")}}), "boolean:true");
  EXPECT_EQ(R(Ap("notEqual", F("s") + C("b")), {{"s", S("a")}}), "boolean:true");
  EXPECT_EQ(R(Ap("lessThan", C("1") + C("2"))), "boolean:true");
  EXPECT_EQ(R(Ap("lessOrEqual", C("2") + C("2"))), "boolean:true");
  EXPECT_EQ(R(Ap("greaterThan", F("s") + C("a")), {{"s", S("b")}}), "boolean:true");
  EXPECT_EQ(R(Ap("greaterOrEqual", C("1") + C("2"))), "boolean:false");
  EXPECT_EQ(R(Ap("equal", F("x") + C("1"))), "<missing>");
  EXPECT_EQ(R(Ap("equal", F("b") + C("true", "boolean")), {{"b", B(true)}}), "boolean:true");
  EXPECT_EQ(RunExpr(Ap("equal", C("1") + C("1"))).static_type, DataType::kBoolean);
}

TEST(ApplyTest, Logic) {
  std::string t = C("true", "boolean"), f = C("false", "boolean"), m = F("b");
  EXPECT_EQ(R(Ap("and", t + t)), "boolean:true");
  EXPECT_EQ(R(Ap("and", t + f)), "boolean:false");
  EXPECT_EQ(R(Ap("and", t + m)), "<missing>");
  EXPECT_EQ(R(Ap("and", m + f)), "boolean:false");
  EXPECT_EQ(R(Ap("and", t + t + t)), "boolean:true");
  EXPECT_EQ(R(Ap("or", m + t)), "boolean:true");
  EXPECT_EQ(R(Ap("or", f + f)), "boolean:false");
  EXPECT_EQ(R(Ap("or", f + m)), "<missing>");
  EXPECT_EQ(R(Ap("or", f + m, " mapMissingTo=\"true\"")), "boolean:true");
  EXPECT_EQ(R(Ap("not", t)), "boolean:false");
  EXPECT_EQ(R(Ap("not", m)), "<missing>");
  EXPECT_EQ(R(Ap("not", F("i")), {{"i", I(0)}}), "boolean:true");
  // Lazy: the second argument is not evaluated once the first decides.
  EXPECT_EQ(R(Ap("and", f + Ap("equal", Ap("/", C("1") + C("0")) + C("1")))), "boolean:false");
}

TEST(ApplyTest, IsIn) {
  EXPECT_EQ(R(Ap("isIn", F("s") + C("a") + C("b")), {{"s", S("b")}}), "boolean:true");
  EXPECT_EQ(R(Ap("isIn", F("s") + C("a") + C("b")), {{"s", S("c")}}), "boolean:false");
  EXPECT_EQ(R(Ap("isNotIn", F("s") + C("a") + C("b")), {{"s", S("b")}}), "boolean:false");
  EXPECT_EQ(R(Ap("isIn", F("i") + C("1") + C("2")), {{"i", I(2)}}), "boolean:true");
  EXPECT_EQ(R(Ap("isIn", F("x") + C("1") + C("2"))), "boolean:false");
}

TEST(ApplyTest, IfIsLazy) {
  std::string boom = Ap("/", F("i") + C("0"));  // fails when evaluated
  EXPECT_EQ(R(Ap("if", Ap("greaterThan", F("x") + C("0")) + C("1") + boom), {{"x", N(1)}, {"i", I(1)}}),
            "integer:1");
  EXPECT_TRUE(Contains(R(Ap("if", Ap("greaterThan", F("x") + C("0")) + C("1") + boom), {{"x", N(-1)}, {"i", I(1)}}),
                       "ERR:"));
  EXPECT_EQ(R(Ap("if", Ap("greaterThan", F("x") + C("0")) + C("1")), {{"x", N(-1)}}), "<missing>");
  EXPECT_EQ(R(Ap("if", Ap("greaterThan", F("x") + C("0")) + C("1") + C("2"))), "<missing>");
  EXPECT_EQ(R(Ap("if", Ap("greaterThan", F("x") + C("0")) + C("1") + C("2"), " mapMissingTo=\"9\"")), "integer:9");
  EXPECT_EQ(R(Ap("if", Ap("greaterThan", F("x") + C("0")) + C("1"), " defaultValue=\"5\""), {{"x", N(-1)}}),
            "integer:5");
  EXPECT_EQ(R(Ap("if", F("b") + C("yes") + C("no")), {{"b", B(false)}}), "string:no");
}

// ------------------------------------------------------------------ strings, dates

TEST(ApplyTest, Strings) {
  EXPECT_EQ(R(Ap("uppercase", C("abc"))), "string:ABC");
  EXPECT_EQ(R(Ap("lowercase", C("AbC"))), "string:abc");
  EXPECT_EQ(R(Ap("stringLength", F("s")), {{"s", S("h\xC3\xA9llo")}}), "integer:5");
  EXPECT_EQ(R(Ap("substring", C("Hello World") + C("7") + C("5"))), "string:World");
  EXPECT_EQ(R(Ap("substring", C("abc") + C("2") + C("100"))), "string:bc");
  EXPECT_EQ(R(Ap("substring", C("abc") + C("9") + C("1"))), "string:");
  EXPECT_TRUE(Contains(R(Ap("substring", C("abc") + C("0") + C("1"))), "ERR:"));
  EXPECT_TRUE(Contains(R(Ap("substring", C("abc") + C("1") + C("-1"))), "ERR:"));
  EXPECT_EQ(R(Ap("trimBlanks", F("s")), {{"s", S("  a b \t")}}), "string:a b");
  EXPECT_EQ(R(Ap("concat", C("a") + C("1") + F("t") + C("b"))), "string:a1b");
  EXPECT_EQ(R(Ap("replace", C("aXbXc") + C("X") + C("-"))), "string:a-b-c");
  EXPECT_EQ(R(Ap("replace", C("John Smith") + C("(\\w+) (\\w+)") + C("$2, $1"))), "string:Smith, John");
  EXPECT_EQ(R(Ap("replace", F("s") + F("t") + C("_")), {{"s", S("a.b")}, {"t", S("\\.")}}), "string:a_b");
  EXPECT_EQ(R(Ap("matches", C("abc123") + C("[0-9]+"))), "boolean:true");
  EXPECT_EQ(R(Ap("matches", C("abc") + C("^b"))), "boolean:false");
  EXPECT_TRUE(Contains(R(Ap("matches", C("abc") + C("(unclosed"))), "COMPILE:"));
  EXPECT_EQ(R(Ap("uppercase", F("s"))), "<missing>");
  // std::regex recurses per character: very long texts are refused, not crashed on.
  std::string long_text(50000, 'a');
  EXPECT_TRUE(Contains(R(Ap("matches", F("s") + C("(a|b)*")), {{"s", S(long_text)}}), "too long"));
  EXPECT_EQ(R(Text("a", ""), {{"s", S(long_text + " a")}}), "integer:1");
}

TEST(ApplyTest, FormatNumber) {
  EXPECT_EQ(R(Ap("formatNumber", C("3.14159") + C("%.2f"))), "string:3.14");
  EXPECT_EQ(R(Ap("formatNumber", F("i") + C("%05d")), {{"i", I(42)}}), "string:00042");
  EXPECT_EQ(R(Ap("formatNumber", F("i") + C("n=%d%%")), {{"i", I(7)}}), "string:n=7%");
  EXPECT_EQ(R(Ap("formatNumber", C("255") + C("%x"))), "string:ff");
  EXPECT_EQ(R(Ap("formatNumber", C("1.5") + C("%8.3e"))), "string:1.500e+00");
  EXPECT_TRUE(Contains(R(Ap("formatNumber", C("2.5") + C("%d"))), "ERR:"));
  EXPECT_TRUE(Contains(R(Ap("formatNumber", C("2") + C("%d %d"))), "ERR:"));
  EXPECT_TRUE(Contains(R(Ap("formatNumber", C("2") + C("%n%p"))), "ERR:"));
}

TEST(ApplyTest, Dates) {
  Value d = Parsed("2024-03-05", DataType::kDate);
  EXPECT_EQ(R(Ap("formatDatetime", F("d") + C("%m/%d/%Y")), {{"d", d}}), "string:03/05/2024");
  EXPECT_EQ(R(Ap("dateDaysSinceYear", F("d") + C("2024")), {{"d", d}}), "integer:64");
  EXPECT_EQ(R(Ap("dateDaysSinceYear", F("d") + C("1970")), {{"d", Parsed("1970-01-02", DataType::kDate)}}),
            "integer:1");
  EXPECT_EQ(R(Ap("dateDaysSinceYear", F("d") + C("1960")), {{"d", Parsed("1960-01-01", DataType::kDate)}}),
            "integer:0");
  Value dt = Parsed("1970-01-02T00:00:10", DataType::kDateTime);
  EXPECT_EQ(R(Ap("dateSecondsSinceYear", F("dt") + C("1970")), {{"dt", dt}}), "integer:86410");
  EXPECT_EQ(R(Ap("dateSecondsSinceMidnight", F("dt")), {{"dt", dt}}), "integer:10");
  EXPECT_EQ(R(Ap("dateSecondsSinceMidnight", F("tm")), {{"tm", Parsed("01:02:03", DataType::kTime)}}),
            "integer:3723");
  EXPECT_EQ(R(Ap("formatDatetime", F("dt") + C("%H:%M:%S %p")), {{"dt", dt}}), "string:00:00:10 am");
  EXPECT_TRUE(Contains(R(Ap("dateDaysSinceYear", F("x") + C("1970")), {{"x", N(3)}}), "ERR:"));
}

// ------------------------------------------------------------------ DefineFunction

const char kDefs[] = R"(<DefineFunction name="f" optype="continuous" dataType="double">
  <ParameterField name="a" dataType="double"/><ParameterField name="b"/>
  <Apply function="+"><FieldRef field="a"/><Apply function="*"><FieldRef field="b"/><Constant>2</Constant></Apply></Apply>
</DefineFunction>
<DefineFunction name="describe" optype="categorical" dataType="string"><ParameterField name="v"/>
  <Apply function="if"><Apply function="isMissing"><FieldRef field="v"/></Apply>
    <Constant>missing</Constant><Constant>not missing</Constant></Apply>
</DefineFunction>
<DefineFunction name="g" dataType="double"><ParameterField name="p"/>
  <Apply function="f"><FieldRef field="p"/><FieldRef field="p"/></Apply></DefineFunction>
<DefineFunction name="loop" dataType="double"><ParameterField name="p"/>
  <Apply function="loop"><FieldRef field="p"/></Apply></DefineFunction>
<DefineFunction name="outside" dataType="double"><ParameterField name="p"/><FieldRef field="x"/></DefineFunction>
<DefineFunction name="toint" dataType="integer"><ParameterField name="p" dataType="integer"/>
  <FieldRef field="p"/></DefineFunction>)";

TEST(DefineFunctionTest, CallsAndTypes) {
  EXPECT_EQ(R(std::string(kDefs) + Ap("f", F("x") + F("i")), {{"x", N(1)}, {"i", I(3)}}), "double:7");
  // Nested calls of the same function: arguments are evaluated first.
  EXPECT_EQ(R(std::string(kDefs) + Ap("f", Ap("f", C("1") + C("1")) + C("2"))), "double:7");
  EXPECT_EQ(R(std::string(kDefs) + Ap("+", Ap("f", C("1") + C("1")) + Ap("f", C("2") + C("2")))), "double:9");
  EXPECT_EQ(R(std::string(kDefs) + Ap("g", C("1"))), "double:3");
  EXPECT_EQ(R(std::string(kDefs) + Ap("describe", F("x"))), "string:missing");
  EXPECT_EQ(R(std::string(kDefs) + Ap("describe", F("x")), {{"x", N(1)}}), "string:not missing");
  EXPECT_EQ(R(std::string(kDefs) + Ap("toint", C("3.0"))), "integer:3");
  EXPECT_EQ(RunExpr(std::string(kDefs) + Ap("describe", F("x"))).static_type, DataType::kString);
  EXPECT_EQ(R(std::string(kDefs) + Ap("f", F("x") + C("1"), " mapMissingTo=\"-5\"")), "double:-5");
}

TEST(DefineFunctionTest, CompileErrors) {
  EXPECT_TRUE(Contains(R(std::string(kDefs) + Ap("f", C("1"))), "takes 2 arguments, got 1"));
  EXPECT_TRUE(Contains(R(std::string(kDefs) + Ap("loop", C("1"))), "nested more than 200 deep"));
  EXPECT_TRUE(Contains(R(std::string(kDefs) + Ap("outside", C("1"))), "\"x\""));
}

const char kRecursive[] = R"(<DefineFunction name="fact" dataType="integer"><ParameterField name="n" dataType="integer"/>
  <DerivedField name="more" optype="categorical" dataType="boolean">
    <Apply function="greaterThan"><FieldRef field="n"/><Constant>1</Constant></Apply></DerivedField>
  <Apply function="if"><FieldRef field="more"/>
    <Apply function="*"><FieldRef field="n"/><Apply function="fact"><Apply function="-"><FieldRef field="n"/><Constant>1</Constant></Apply></Apply></Apply>
    <Constant>1</Constant></Apply></DefineFunction>
<DefineFunction name="even" dataType="boolean"><ParameterField name="n"/>
  <Apply function="if"><Apply function="equal"><FieldRef field="n"/><Constant>0</Constant></Apply>
    <Constant dataType="boolean">true</Constant><Apply function="odd"><Apply function="-"><FieldRef field="n"/><Constant>1</Constant></Apply></Apply></Apply></DefineFunction>
<DefineFunction name="odd" dataType="boolean"><ParameterField name="n"/>
  <Apply function="if"><Apply function="equal"><FieldRef field="n"/><Constant>0</Constant></Apply>
    <Constant dataType="boolean">false</Constant><Apply function="even"><Apply function="-"><FieldRef field="n"/><Constant>1</Constant></Apply></Apply></Apply></DefineFunction>)";

TEST(DefineFunctionTest, RecursionAndLocalDerivedFields) {
  EXPECT_EQ(R(std::string(kRecursive) + Ap("fact", F("i")), {{"i", I(5)}}), "integer:120");
  EXPECT_EQ(R(std::string(kRecursive) + Ap("fact", F("i")), {{"i", I(1)}}), "integer:1");
  // The caller's parameters are intact after a recursive call returns.
  EXPECT_EQ(R(std::string(kRecursive) + Ap("+", Ap("fact", C("3")) + Ap("fact", C("4"))), {}), "integer:30");
  EXPECT_EQ(R(std::string(kRecursive) + Ap("even", C("4"))), "boolean:true");
  EXPECT_EQ(R(std::string(kRecursive) + Ap("even", C("7"))), "boolean:false");
  EXPECT_EQ(R(std::string(kRecursive) + Ap("odd", C("7"))), "boolean:true");
  EXPECT_TRUE(Contains(R(std::string(kRecursive) + Ap("fact", C("500"))), "ERR:"));
}

// ------------------------------------------------------------------ predicates

Tri P(const std::string& xml, const Inputs& in = {}) {
  Harness h(xml);
  EXPECT_TRUE(h.compile_status().ok()) << h.compile_status();
  if (h.pred() == nullptr) return Tri::kUnknown;
  return h.Test(in);
}

std::string SP(const std::string& field, const std::string& op, const std::string& value = "") {
  return absl::StrCat("<SimplePredicate field=\"", field, "\" operator=\"", op, "\"",
                      value.empty() ? "" : absl::StrCat(" value=\"", value, "\""), "/>");
}

TEST(PredicateTest, TrueFalse) {
  EXPECT_EQ(P("<True/>"), Tri::kTrue);
  EXPECT_EQ(P("<False/>"), Tri::kFalse);
  Harness h("<True/>");
  EXPECT_EQ(h.pred()->kind(), Predicate::Kind::kTrue);
  EXPECT_EQ(h.pred()->simple(), nullptr);
}

TEST(PredicateTest, Simple) {
  EXPECT_EQ(P(SP("x", "lessThan", "2.5"), {{"x", N(2)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("x", "lessThan", "2.5"), {{"x", N(3)}}), Tri::kFalse);
  EXPECT_EQ(P(SP("x", "lessThan", "2.5")), Tri::kUnknown);
  EXPECT_EQ(P(SP("x", "lessOrEqual", "2.5"), {{"x", N(2.5)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("x", "greaterThan", "2.5"), {{"x", N(2.5)}}), Tri::kFalse);
  EXPECT_EQ(P(SP("x", "greaterOrEqual", "2.5"), {{"x", N(2.5)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("x", "equal", "2.5"), {{"x", N(2.5)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("x", "notEqual", "2.5"), {{"x", N(2.5)}}), Tri::kFalse);
  EXPECT_EQ(P(SP("x", "isMissing")), Tri::kTrue);
  EXPECT_EQ(P(SP("x", "isNotMissing")), Tri::kFalse);
  EXPECT_EQ(P(SP("x", "isNotMissing"), {{"x", N(0)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("s", "equal", "a"), {{"s", S("a")}}), Tri::kTrue);
  EXPECT_EQ(P(SP("s", "equal", "a"), {{"s", S("b")}}), Tri::kFalse);
  EXPECT_EQ(P(SP("s", "lessThan", "b"), {{"s", S("a")}}), Tri::kTrue);
  EXPECT_EQ(P(SP("i", "equal", "3"), {{"i", I(3)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("i", "lessThan", "2.5"), {{"i", I(2)}}), Tri::kTrue);
  EXPECT_EQ(P(SP("b", "equal", "true"), {{"b", B(true)}}), Tri::kTrue);

  Harness h(SP("i", "greaterThan", "3"));
  const Predicate::SimpleInfo* info = h.pred()->simple();
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(h.pred()->kind(), Predicate::Kind::kSimple);
  EXPECT_TRUE(info->numeric);
  EXPECT_EQ(info->number, 3);
  EXPECT_EQ(info->op, CompareOp::kGreaterThan);
  EXPECT_NE(info->slot, kNoSlot);
  EXPECT_EQ(info->value.type, DataType::kInteger);
  Harness hs(SP("s", "equal", "abc"));
  ASSERT_NE(hs.pred()->simple(), nullptr);
  EXPECT_FALSE(hs.pred()->simple()->numeric);
  EXPECT_EQ(hs.pred()->simple()->value.str, "abc");

  EXPECT_FALSE(Harness(SP("x", "between", "1")).compile_status().ok());
  EXPECT_FALSE(Harness(SP("x", "equal")).compile_status().ok());
  EXPECT_FALSE(Harness(SP("nope", "equal", "1")).compile_status().ok());
}

std::string CP(const std::string& op, const std::string& children) {
  return "<CompoundPredicate booleanOperator=\"" + op + "\">" + children + "</CompoundPredicate>";
}

TEST(PredicateTest, CompoundThreeValued) {
  std::string t = "<True/>", f = "<False/>", u = SP("x", "equal", "1");
  EXPECT_EQ(P(CP("and", t + t)), Tri::kTrue);
  EXPECT_EQ(P(CP("and", t + u)), Tri::kUnknown);
  EXPECT_EQ(P(CP("and", u + f)), Tri::kFalse);
  EXPECT_EQ(P(CP("or", u + t)), Tri::kTrue);
  EXPECT_EQ(P(CP("or", u + f)), Tri::kUnknown);
  EXPECT_EQ(P(CP("or", f + f)), Tri::kFalse);
  EXPECT_EQ(P(CP("xor", t + f)), Tri::kTrue);
  EXPECT_EQ(P(CP("xor", t + t + t)), Tri::kTrue);
  EXPECT_EQ(P(CP("xor", t + u)), Tri::kUnknown);
  EXPECT_EQ(P(CP("surrogate", u + f + t)), Tri::kFalse);
  EXPECT_EQ(P(CP("surrogate", u + u)), Tri::kUnknown);
  EXPECT_EQ(P(CP("surrogate", u + t), {{"x", N(1)}}), Tri::kTrue);
  EXPECT_EQ(P(CP("surrogate", u + f), {{"x", N(1)}}), Tri::kTrue);
  EXPECT_FALSE(Harness(CP("and", t)).compile_status().ok());
  EXPECT_FALSE(Harness(CP("nand", t + t)).compile_status().ok());
}

TEST(PredicateTest, SimpleSet) {
  std::string strs =
      R"(<SimpleSetPredicate field="s" booleanOperator="isIn"><Array n="3" type="string">"a b" "c\"d" e</Array></SimpleSetPredicate>)";
  EXPECT_EQ(P(strs, {{"s", S("a b")}}), Tri::kTrue);
  EXPECT_EQ(P(strs, {{"s", S("c\"d")}}), Tri::kTrue);
  EXPECT_EQ(P(strs, {{"s", S("e")}}), Tri::kTrue);
  EXPECT_EQ(P(strs, {{"s", S("a")}}), Tri::kFalse);
  EXPECT_EQ(P(strs), Tri::kUnknown);
  std::string nums =
      R"(<SimpleSetPredicate field="i" booleanOperator="isNotIn"><Array type="int">1 2 3</Array></SimpleSetPredicate>)";
  EXPECT_EQ(P(nums, {{"i", I(2)}}), Tri::kFalse);
  EXPECT_EQ(P(nums, {{"i", I(5)}}), Tri::kTrue);
  std::string reals =
      R"(<SimpleSetPredicate field="x" booleanOperator="isIn"><Array type="real">1.5 2</Array></SimpleSetPredicate>)";
  EXPECT_EQ(P(reals, {{"x", N(2)}}), Tri::kTrue);
  EXPECT_FALSE(Harness(R"(<SimpleSetPredicate field="s" booleanOperator="isIn"><Array n="2" type="string">a</Array></SimpleSetPredicate>)")
                   .compile_status()
                   .ok());
  Harness h(strs);
  EXPECT_EQ(h.pred()->kind(), Predicate::Kind::kSimpleSet);
}

TEST(PredicateTest, ParseArrayAndFindPredicateChild) {
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(R"(<Node><Extension/><SimplePredicate field="x" operator="isMissing"/><Array type="string">  one "two words"  "q\"uote" "" </Array></Node>)"));
  std::vector<std::string> tokens;
  ASSERT_TRUE(ParseArray(doc.child("Node").child("Array"), &tokens).ok());
  EXPECT_EQ(tokens, (std::vector<std::string>{"one", "two words", "q\"uote", ""}));
  EXPECT_EQ(std::string(FindPredicateChild(doc.child("Node")).name()), "SimplePredicate");
  EXPECT_TRUE(FindPredicateChild(doc.child("Node").child("Array")).empty());
  pugi::xml_document bad;
  ASSERT_TRUE(bad.load_string(R"(<Array type="string">"open</Array>)"));
  EXPECT_FALSE(ParseArray(bad.child("Array"), &tokens).ok());
}

// ------------------------------------------------------------------ derived fields, producers, speed

TEST(DerivedFieldTest, CompileAndCastToDeclaredType) {
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(R"(<T>
    <DerivedField name="d1" optype="continuous" dataType="double"><Apply function="+"><FieldRef field="i"/><Constant>1</Constant></Apply></DerivedField>
    <DerivedField name="d2" optype="categorical" dataType="string"><FieldRef field="d1"/></DerivedField>
    <DerivedField name="d3" optype="continuous" dataType="integer"><Constant>abc</Constant></DerivedField>
    <DerivedField name="cyc" optype="continuous" dataType="double"><FieldRef field="cyc"/></DerivedField>
    <DerivedField name="noexpr" dataType="double"/></T>)"));
  PlanBuilder builder;
  Scope scope(&builder, nullptr);
  FieldInfo i{"i", builder.NewSlot("i"), DataType::kInteger, OpType::kContinuous, nullptr};
  ASSERT_TRUE(scope.Define(i).ok());
  pugi::xml_node root = doc.child("T");
  for (pugi::xml_node c : root.children("DerivedField")) {
    ASSERT_TRUE(scope.DefineLazy(c.attribute("name").value(), c).ok());
  }
  auto d2 = scope.Resolve("d2");
  ASSERT_TRUE(d2.ok()) << d2.status();
  EXPECT_EQ(d2->type, DataType::kString);
  EXPECT_EQ(d2->optype, OpType::kCategorical);
  auto d3 = scope.Resolve("d3");
  ASSERT_TRUE(d3.ok());
  auto cyc = scope.Resolve("cyc");
  EXPECT_FALSE(cyc.ok());
  auto noexpr = scope.Resolve("noexpr");
  ASSERT_FALSE(noexpr.ok());
  EXPECT_TRUE(Contains(Msg(noexpr.status()), "missing expression")) << noexpr.status();
  auto d1 = scope.Resolve("d1");
  ASSERT_TRUE(d1.ok());
  auto plan = builder.Finish();
  EvalContext ctx(*plan);
  ctx.BeginRecord();
  ctx.Input(i.slot) = I(2);
  const Value& v1 = ctx.Get(d1->slot);
  EXPECT_EQ(v1.type, DataType::kDouble);
  EXPECT_EQ(v1.num, 3);
  EXPECT_EQ(ctx.Get(d2->slot).str, "3");
  EXPECT_TRUE(ctx.Get(d3->slot).missing());
  EXPECT_TRUE(ctx.failed());
  EXPECT_TRUE(Contains(Msg(ctx.status()), "integer")) << ctx.status();
}

TEST(DerivedFieldTest, CycleThroughAnIfBranchIsCheckedPerRecord) {
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(R"(<T>
    <DerivedField name="sr" optype="continuous" dataType="double"><Apply function="if"><FieldRef field="b"/>
      <Apply function="+"><FieldRef field="x"/><FieldRef field="sr"/></Apply><FieldRef field="x"/></Apply></DerivedField>
    <DerivedField name="p" optype="continuous" dataType="double"><Apply function="if"><FieldRef field="b"/>
      <FieldRef field="q"/><Constant>1</Constant></Apply></DerivedField>
    <DerivedField name="q" optype="continuous" dataType="double"><Apply function="+"><FieldRef field="p"/><Constant>1</Constant></Apply></DerivedField>
    <DerivedField name="u1" optype="continuous" dataType="double"><FieldRef field="u2"/></DerivedField>
    <DerivedField name="u2" optype="continuous" dataType="double"><Apply function="+"><FieldRef field="u1"/><Constant>1</Constant></Apply></DerivedField>
    </T>)"));
  PlanBuilder builder;
  Scope scope(&builder, nullptr);
  FieldInfo x{"x", builder.NewSlot("x"), DataType::kDouble, OpType::kContinuous, nullptr};
  FieldInfo b{"b", builder.NewSlot("b"), DataType::kBoolean, OpType::kCategorical, nullptr};
  ASSERT_TRUE(scope.Define(x).ok());
  ASSERT_TRUE(scope.Define(b).ok());
  for (pugi::xml_node c : doc.child("T").children("DerivedField")) {
    ASSERT_TRUE(scope.DefineLazy(c.attribute("name").value(), c).ok());
  }
  auto sr = scope.Resolve("sr");
  ASSERT_TRUE(sr.ok()) << sr.status();
  auto q = scope.Resolve("q");
  ASSERT_TRUE(q.ok()) << q.status();
  auto u1 = scope.Resolve("u1");
  ASSERT_FALSE(u1.ok());
  EXPECT_TRUE(Contains(Msg(u1.status()), "cycle")) << u1.status();
  auto plan = builder.Finish();
  EvalContext ctx(*plan);
  ctx.BeginRecord();
  ctx.Input(x.slot) = N(1);
  ctx.Input(b.slot) = B(false);
  EXPECT_EQ(ctx.Get(sr->slot).num, 1);
  EXPECT_EQ(ctx.Get(q->slot).num, 2);
  EXPECT_FALSE(ctx.failed());
  ctx.BeginRecord();
  ctx.Input(x.slot) = N(1);
  ctx.Input(b.slot) = B(true);
  EXPECT_TRUE(ctx.Get(sr->slot).missing());
  EXPECT_TRUE(ctx.failed());
  EXPECT_TRUE(Contains(Msg(ctx.status()), "in terms of itself")) << ctx.status();
  ctx.BeginRecord();
  ctx.Input(b.slot) = B(true);
  ctx.Get(q->slot);
  EXPECT_TRUE(ctx.failed());
}

TEST(SpeedTest, NumericExpressionsDoNotAllocate) {
  Harness h(Ap("+", Ap("*", F("x") + C("2.5")) +
                        Ap("if", Ap("greaterThan", F("i") + C("0")) + Ap("exp", F("y")) +
                                     Ap("max", F("x") + F("y") + C("1") + C("2") + C("3")))) +
            "");
  ASSERT_TRUE(h.compile_status().ok()) << h.compile_status();
  Value out;
  h.Begin({{"x", N(1)}, {"y", N(0)}, {"i", I(1)}});
  h.expr()->Eval(h.ctx(), &out);
  EXPECT_DOUBLE_EQ(out.num, 3.5);
  g_allocs = 0;
  g_count_allocs = true;
  for (int r = 0; r < 100; ++r) {
    h.ctx().BeginRecord();
    h.ctx().Input(0) = N(r);
    h.expr()->Eval(h.ctx(), &out);
  }
  g_count_allocs = false;
  EXPECT_EQ(g_allocs.load(), 0);
}

// ------------------------------------------------------------------ end to end

class NoopModel : public Model {
 public:
  void Evaluate(EvalContext&, ModelResult*) const override {}
};

absl::StatusOr<std::unique_ptr<Model>> CompileNoop(const ModelCompileArgs&) { return std::make_unique<NoopModel>(); }

TEST(EndToEndTest, TransformationDictionaryAndOutputs) {
  RegisterModelCompilerForTesting("ExprTestModel", CompileNoop);
  const char doc[] = R"(<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable"><Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="color" optype="categorical" dataType="string"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <TransformationDictionary>
    <DefineFunction name="twice" optype="continuous" dataType="double"><ParameterField name="v"/>
      <Apply function="*"><FieldRef field="v"/><Constant>2</Constant></Apply></DefineFunction>
    <DerivedField name="x2" optype="continuous" dataType="double"><Apply function="twice"><FieldRef field="x"/></Apply></DerivedField>
    <DerivedField name="code" optype="categorical" dataType="integer"><MapValues outputColumn="data:code" dataType="integer">
      <FieldColumnPair field="color" column="data:color"/><InlineTable>
      <row><data:color>red</data:color><data:code>1</data:code></row>
      <row><data:color>blue</data:color><data:code>2</data:code></row></InlineTable></MapValues></DerivedField>
  </TransformationDictionary>
  <ExprTestModel functionName="regression"><MiningSchema>
    <MiningField name="x"/><MiningField name="color"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Output>
      <OutputField name="out_x2" feature="transformedValue" dataType="double"><FieldRef field="x2"/></OutputField>
      <OutputField name="out_code" feature="transformedValue" dataType="integer"><FieldRef field="code"/></OutputField>
      <OutputField name="out_if" feature="transformedValue" dataType="string">
        <Apply function="if"><SimplePredicate field="x" operator="lessThan" value="0"/><Apply function="greaterThan"><FieldRef field="x2"/><Constant>3</Constant></Apply><Constant>big</Constant><Constant>small</Constant></Apply>
      </OutputField>
    </Output>
  </ExprTestModel></PMML>)";
  // The SimplePredicate inside the Apply is not an expression: it is ignored and the if has 3 arguments.
  auto m = CompiledModel::Load(doc);
  ASSERT_TRUE(m.ok()) << m.status();
  auto ctx = (*m)->NewContext();
  std::vector<int> idx = (*m)->Bind({"x", "color"});
  ctx->BeginRecord();
  (*m)->SetInput(*ctx, idx[0], "2.5");
  (*m)->SetInput(*ctx, idx[1], "blue");
  ASSERT_TRUE((*m)->Evaluate(*ctx).ok()) << (*m)->Evaluate(*ctx);
  int out_x2 = -1, out_code = -1, out_if = -1;
  for (size_t k = 0; k < (*m)->outputs().size(); ++k) {
    const std::string& n = (*m)->outputs()[k].name;
    if (n == "out_x2") out_x2 = static_cast<int>(k);
    if (n == "out_code") out_code = static_cast<int>(k);
    if (n == "out_if") out_if = static_cast<int>(k);
  }
  ASSERT_GE(out_x2, 0);
  ASSERT_GE(out_code, 0);
  ASSERT_GE(out_if, 0);
  EXPECT_EQ((*m)->Output(*ctx, out_x2).num, 5);
  EXPECT_EQ(FormatValue((*m)->Output(*ctx, out_code)), "2");
  EXPECT_EQ((*m)->Output(*ctx, out_if).str, "big");
  ctx->BeginRecord();
  (*m)->SetInput(*ctx, idx[0], "1");
  (*m)->SetMissing(*ctx, idx[1]);
  ASSERT_TRUE((*m)->Evaluate(*ctx).ok());
  EXPECT_EQ((*m)->Output(*ctx, out_x2).num, 2);
  EXPECT_TRUE((*m)->Output(*ctx, out_code).missing());
  EXPECT_EQ((*m)->Output(*ctx, out_if).str, "small");
}

}  // namespace
// The StandardScaler form (x - mean) / std takes a fused path; its results
// must be those of the nested Applies. The twin outputs below differ only in
// that their constants have no dataType, which keeps them on the nested path.
TEST(EndToEndTest, ScalerFormMatchesNestedApplies) {
  RegisterModelCompilerForTesting("ExprTestModel", CompileNoop);
  auto form = [](const char* name, const char* dt, const char* sub, const char* div, const char* attrs) {
    return absl::StrCat("<OutputField name=\"", name, "\" feature=\"transformedValue\" dataType=\"double\">",
                        "<Apply function=\"/\" ", attrs, "><Apply function=\"-\"><FieldRef field=\"x\"/>",
                        "<Constant ", dt, ">", sub, "</Constant></Apply><Constant ", dt, ">", div,
                        "</Constant></Apply></OutputField>");
  };
  const char* kDt = "dataType=\"double\"";
  struct Case { const char* sub; const char* div; const char* attrs; };
  const Case cases[] = {{"0.1", "3.7", ""}, {"0.1", "0", ""}, {"-2.5e10", "1e-300", ""},
                        {"0.1", "0", "invalidValueTreatment=\"asMissing\""}};
  for (const Case& c : cases) {
    std::string doc = absl::StrCat(R"(<PMML version="4.4"><Header/><DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
      <ExprTestModel functionName="regression"><MiningSchema><MiningField name="x"/>
      <MiningField name="y" usageType="target"/></MiningSchema><Output>)",
                                   form("fused", kDt, c.sub, c.div, c.attrs),
                                   form("nested", "", c.sub, c.div, c.attrs), "</Output></ExprTestModel></PMML>");
    auto m = CompiledModel::Load(doc);
    ASSERT_TRUE(m.ok()) << m.status();
    auto ctx = (*m)->NewContext();
    const double xs[] = {2.5, -1e300, 0.1, 1e-320, 1e308, std::nan("")};
    for (int k = 0; k <= 6; ++k) {
      // Each output alone, so a failure of one cannot hide the other's.
      bool ok[2];
      Value out[2];
      for (int o = 0; o < 2; ++o) {
        ctx->BeginRecord();
        if (k < 6) (*m)->SetInput(*ctx, 0, xs[k]); else (*m)->SetMissing(*ctx, 0);
        ok[o] = (*m)->Evaluate(*ctx).ok();
        out[o] = (*m)->Output(*ctx, 1 + o);
      }
      SCOPED_TRACE(absl::StrCat(c.sub, " ", c.div, " ", c.attrs, " x#", k));
      EXPECT_EQ(ok[0], ok[1]);
      ASSERT_EQ(out[0].kind, out[1].kind);
      if (out[0].is_number()) {
        EXPECT_EQ(std::memcmp(&out[0].num, &out[1].num, sizeof(double)), 0) << out[0].num << " vs " << out[1].num;
        EXPECT_EQ(out[0].type, out[1].type);
      }
    }
  }
}

}  // namespace evs::pmml
