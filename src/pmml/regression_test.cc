// Tests of RegressionModel, GeneralRegressionModel and NeuralNetwork. Every
// document is written here; expected values follow from the formulas in the
// comments (PMML 4.4 / JPMML-Evaluator semantics).

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "pmml/pmml.h"
#include "pmml/test_util.h"
#include "pmml/value.h"

namespace evs::pmml {
namespace {

using test_util::Doc;
using test_util::Harness;
using test_util::Sub;

Value N(double v) { return Value::Number(v); }
Value S(std::string_view s) { return Value::String(s); }

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

constexpr double kTol = 1e-12;


// ---------------------------------------------------------------------------
// RegressionModel: regression

const char* kLinear = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="z" optype="continuous" dataType="double"/>
  <DataField name="color" optype="categorical" dataType="string"/>
  <DataField name="n" optype="categorical" dataType="integer"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<RegressionModel functionName="regression" normalizationMethod="$NORM">
  <MiningSchema>
    <MiningField name="x"/><MiningField name="z"/><MiningField name="color"/><MiningField name="n"/>
    <MiningField name="y" usageType="target"/>
  </MiningSchema>
  <RegressionTable intercept="1">
    <NumericPredictor name="x" coefficient="2"/>
    <NumericPredictor name="x" exponent="2" coefficient="0.5"/>
    <CategoricalPredictor name="color" value="red" coefficient="3"/>
    <CategoricalPredictor name="color" value="blue" coefficient="-1"/>
    <CategoricalPredictor name="n" value="2" coefficient="10"/>
    <PredictorTerm coefficient="0.25"><FieldRef field="x"/><FieldRef field="z"/></PredictorTerm>
  </RegressionTable>
</RegressionModel>)";

TEST(RegressionModel, LinearWithAllPredictorKinds) {
  Harness h(Doc(Sub(kLinear, {{"NORM", "none"}})));
  ASSERT_TRUE(h.ok()) << h.status();
  // 1 + 2*2 + 0.5*2^2 + 3 (red) + 0.25*2*4 = 12
  ASSERT_TRUE(h.Eval({{"x", N(2)}, {"z", N(4)}, {"color", S("red")}}).ok());
  EXPECT_NEAR(h.Num("y"), 12, kTol);
  // blue: 12 - 3 - 1 = 8; n = 2 adds 10
  ASSERT_TRUE(h.Eval({{"x", N(2)}, {"z", N(4)}, {"color", S("blue")}, {"n", N(2)}}).ok());
  EXPECT_NEAR(h.Num("y"), 18, kTol);
  // A missing or unknown category contributes nothing: 9.
  ASSERT_TRUE(h.Eval({{"x", N(2)}, {"z", N(4)}}).ok());
  EXPECT_NEAR(h.Num("y"), 9, kTol);
  ASSERT_TRUE(h.Eval({{"x", N(2)}, {"z", N(4)}, {"color", S("green")}, {"n", N(3)}}).ok());
  EXPECT_NEAR(h.Num("y"), 9, kTol);
  // A missing numeric input (also inside a PredictorTerm) gives no prediction.
  ASSERT_TRUE(h.Eval({{"z", N(4)}, {"color", S("red")}}).ok());
  EXPECT_TRUE(h.Out("y").missing());
  ASSERT_TRUE(h.Eval({{"x", N(2)}, {"color", S("red")}}).ok());
  EXPECT_TRUE(h.Out("y").missing());
}

// A logistic regression whose one table lists every feature in order takes
// the fused read-and-sum path; adding a squared term (coefficient 0) makes
// the same model take the general one. Exactly representable numbers make both sums exact, so
// the two must agree bit for bit, also on missing and text inputs.
const char* kLogit3 = R"(
<DataDictionary>
  <DataField name="a" optype="continuous" dataType="double"/>
  <DataField name="b" optype="continuous" dataType="double"/>
  <DataField name="c" optype="continuous" dataType="double"/>
  <DataField name="y" optype="categorical" dataType="string"><Value value="no"/><Value value="yes"/></DataField>
</DataDictionary>
<RegressionModel functionName="classification" normalizationMethod="logit">
  <MiningSchema>
    <MiningField name="y" usageType="target"/>
    <MiningField name="a"/><MiningField name="b"/><MiningField name="c"/>
  </MiningSchema>
  <Output><OutputField name="p" feature="probability" value="yes"/></Output>
  <RegressionTable intercept="0.25" targetCategory="yes">$PREDICTORS</RegressionTable>
  <RegressionTable intercept="0" targetCategory="no"/>
</RegressionModel>)";

TEST(RegressionModel, FusedPathMatchesTheGeneralOne) {
  Harness fused(Doc(Sub(kLogit3, {{"PREDICTORS",
      R"(<NumericPredictor name="a" coefficient="0.5"/><NumericPredictor name="b" coefficient="-1.25"/>
         <NumericPredictor name="c" coefficient="2"/>)"}})));
  Harness general(Doc(Sub(kLogit3, {{"PREDICTORS",
      R"(<NumericPredictor name="a" coefficient="0.5"/><NumericPredictor name="b" coefficient="-1.25"/>
         <NumericPredictor name="c" coefficient="2"/><NumericPredictor name="a" exponent="2" coefficient="0"/>)"}})));
  ASSERT_TRUE(fused.ok()) << fused.status();
  ASSERT_TRUE(general.ok()) << general.status();
  const std::vector<std::vector<std::pair<std::string, Value>>> rows = {
      {{"a", N(1)}, {"b", N(2)}, {"c", N(3)}},
      {{"a", N(-4)}, {"b", N(0.5)}, {"c", N(-1)}},
      {{"a", S("2")}, {"b", N(1)}, {"c", N(0)}},
      {{"a", N(1)}, {"c", N(3)}},  // b missing: no prediction
  };
  for (const auto& row : rows) {
    ASSERT_TRUE(fused.Eval(row).ok());
    ASSERT_TRUE(general.Eval(row).ok());
    const Value f = fused.Out("p"), g = general.Out("p");
    ASSERT_EQ(f.missing(), g.missing());
    if (f.missing()) continue;
    EXPECT_EQ(f.num, g.num);
    EXPECT_EQ(fused.Out("y").str, general.Out("y").str);
  }
  // 0.25 + 0.5*1 - 1.25*2 + 2*3 = 4.25
  ASSERT_TRUE(fused.Eval(rows[0]).ok());
  EXPECT_NEAR(fused.Out("p").num, Sigmoid(4.25), kTol);
  EXPECT_EQ(fused.Out("y").str, "yes");
  ASSERT_TRUE(fused.Eval(rows[3]).ok());
  EXPECT_TRUE(fused.Out("p").missing());
}

TEST(RegressionModel, RegressionNormalizations) {
  // x = 0.5, z = 0, no category: y = 1 + 1 + 0.125 = 2.125, then the inverse link.
  const double y = 2.125;
  const std::vector<std::pair<std::string, double>> cases = {
      {"none", y},
      {"exp", std::exp(y)},
      {"softmax", Sigmoid(y)},
      {"logit", Sigmoid(y)},
      {"probit", Phi(y)},
      {"cloglog", 1 - std::exp(-std::exp(y))},
      {"loglog", std::exp(-std::exp(-y))},
      {"cauchit", 0.5 + std::atan(y) / M_PI},
  };
  for (const auto& [norm, expected] : cases) {
    Harness h(Doc(Sub(kLinear, {{"NORM", norm}})));
    ASSERT_TRUE(h.ok()) << norm << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.5)}, {"z", N(0)}}).ok());
    EXPECT_NEAR(h.Num("y"), expected, kTol) << norm;
  }
  Harness bad(Doc(Sub(kLinear, {{"NORM", "simplemax"}})));
  EXPECT_FALSE(bad.ok());
  Harness unknown(Doc(Sub(kLinear, {{"NORM", "bogus"}})));
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(std::string(unknown.status().message()).find("RegressionModel"), std::string::npos);
}

// ---------------------------------------------------------------------------
// RegressionModel: classification

const char* kBinary = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="c" optype="categorical" dataType="string">
    <Value value="yes"/><Value value="no"/>
  </DataField>
</DataDictionary>
<RegressionModel functionName="classification" normalizationMethod="$NORM">
  <MiningSchema><MiningField name="x"/><MiningField name="c" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="p_yes" optype="continuous" dataType="double" feature="probability" value="yes"/>
    <OutputField name="p_no" optype="continuous" dataType="double" feature="probability" value="no"/>
  </Output>
  <RegressionTable targetCategory="yes" intercept="-1"><NumericPredictor name="x" coefficient="2"/></RegressionTable>
  <RegressionTable targetCategory="no" intercept="$I2">$T2</RegressionTable>
</RegressionModel>)";

TEST(RegressionModel, BinaryLinkNormalizations) {
  // y_yes = 2x - 1 at x = 1 -> 1. The second table is ignored: p_no = 1 - p_yes.
  const std::vector<std::pair<std::string, double>> cases = {
      {"logit", Sigmoid(1)},
      {"probit", Phi(1)},
      {"cloglog", 1 - std::exp(-std::exp(1.0))},
      {"loglog", std::exp(-std::exp(-1.0))},
      {"cauchit", 0.5 + std::atan(1.0) / M_PI},
      {"softmax", Sigmoid(1)},  // softmax with an all-default second table = logit
  };
  for (const auto& [norm, expected] : cases) {
    Harness h(Doc(Sub(kBinary, {{"NORM", norm}, {"I2", "0"}, {"T2", ""}})));
    ASSERT_TRUE(h.ok()) << norm << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(1)}}).ok());
    EXPECT_NEAR(h.Num("p_yes"), expected, kTol) << norm;
    EXPECT_NEAR(h.Num("p_no"), 1 - expected, kTol) << norm;
    EXPECT_EQ(h.Str("c"), expected >= 0.5 ? "yes" : "no") << norm;
  }
  // none: the first value clamped to [0, 1]; x = 2 -> 3 -> 1.
  Harness none(Doc(Sub(kBinary, {{"NORM", "none"}, {"I2", "0"}, {"T2", ""}})));
  ASSERT_TRUE(none.ok());
  ASSERT_TRUE(none.Eval({{"x", N(0.7)}}).ok());
  EXPECT_NEAR(none.Num("p_yes"), 0.4, kTol);
  EXPECT_NEAR(none.Num("p_no"), 0.6, kTol);
  EXPECT_EQ(none.Str("c"), "no");
  ASSERT_TRUE(none.Eval({{"x", N(2)}}).ok());
  EXPECT_NEAR(none.Num("p_yes"), 1, kTol);
  EXPECT_NEAR(none.Num("p_no"), 0, kTol);
}

TEST(RegressionModel, BinaryMultinomialNormalizations) {
  // Second table 2x + 0.5: x = 1 -> y = (1, 2.5).
  const std::string t2 = R"(<NumericPredictor name="x" coefficient="2"/>)";
  Harness soft(Doc(Sub(kBinary, {{"NORM", "softmax"}, {"I2", "0.5"}, {"T2", t2}})));
  ASSERT_TRUE(soft.ok()) << soft.status();
  ASSERT_TRUE(soft.Eval({{"x", N(1)}}).ok());
  const double e1 = std::exp(1.0 - 2.5), e2 = 1.0;
  EXPECT_NEAR(soft.Num("p_yes"), e1 / (e1 + e2), kTol);
  EXPECT_NEAR(soft.Num("p_no"), e2 / (e1 + e2), kTol);
  EXPECT_EQ(soft.Str("c"), "no");

  Harness simple(Doc(Sub(kBinary, {{"NORM", "simplemax"}, {"I2", "0.5"}, {"T2", t2}})));
  ASSERT_TRUE(simple.ok()) << simple.status();
  ASSERT_TRUE(simple.Eval({{"x", N(1)}}).ok());
  EXPECT_NEAR(simple.Num("p_yes"), 1 / 3.5, kTol);
  EXPECT_NEAR(simple.Num("p_no"), 2.5 / 3.5, kTol);

  // A missing input: no prediction and no probabilities (no Targets priors).
  ASSERT_TRUE(simple.Eval({}).ok());
  EXPECT_TRUE(simple.Out("c").missing());
  EXPECT_TRUE(std::isnan(simple.Num("p_yes")));
}

const char* kMulti = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="k" optype="$OPTYPE" dataType="integer">
    <Value value="1"/><Value value="2"/><Value value="3"/>
  </DataField>
</DataDictionary>
<RegressionModel functionName="classification" normalizationMethod="$NORM">
  <MiningSchema><MiningField name="x"/><MiningField name="k" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="p1" optype="continuous" dataType="double" feature="probability" value="1"/>
    <OutputField name="p2" optype="continuous" dataType="double" feature="probability" value="2"/>
    <OutputField name="p3" optype="continuous" dataType="double" feature="probability" value="3"/>
  </Output>
  <RegressionTable targetCategory="1" intercept="0.1"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
  <RegressionTable targetCategory="2" intercept="0.2"><NumericPredictor name="x" coefficient="0.5"/></RegressionTable>
  <RegressionTable targetCategory="3" intercept="0.3"/>
</RegressionModel>)";

TEST(RegressionModel, MultinomialNormalizations) {
  // x = 0.2 -> y = (0.3, 0.3, 0.3)... use x = 0.4 -> y = (0.5, 0.4, 0.3).
  const double y1 = 0.5, y2 = 0.4, y3 = 0.3;
  {
    Harness h(Doc(Sub(kMulti, {{"OPTYPE", "categorical"}, {"NORM", "softmax"}})));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.4)}}).ok());
    double s = std::exp(y1) + std::exp(y2) + std::exp(y3);
    EXPECT_NEAR(h.Num("p1"), std::exp(y1) / s, kTol);
    EXPECT_NEAR(h.Num("p2"), std::exp(y2) / s, kTol);
    EXPECT_NEAR(h.Num("p3"), std::exp(y3) / s, kTol);
    EXPECT_EQ(h.Str("k"), "1");  // label typed as the integer target
  }
  {
    Harness h(Doc(Sub(kMulti, {{"OPTYPE", "categorical"}, {"NORM", "simplemax"}})));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.4)}}).ok());
    EXPECT_NEAR(h.Num("p1"), 0.5 / 1.2, kTol);
    EXPECT_NEAR(h.Num("p3"), 0.3 / 1.2, kTol);
  }
  {
    // none: the last class gets 1 - the others.
    Harness h(Doc(Sub(kMulti, {{"OPTYPE", "categorical"}, {"NORM", "none"}})));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.4)}}).ok());
    EXPECT_NEAR(h.Num("p1"), 0.5, kTol);
    EXPECT_NEAR(h.Num("p2"), 0.4, kTol);
    EXPECT_NEAR(h.Num("p3"), 0.1, kTol);
  }
  {
    // logit (JPMML): logistic per class, then divided by the sum.
    Harness h(Doc(Sub(kMulti, {{"OPTYPE", "categorical"}, {"NORM", "logit"}})));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.4)}}).ok());
    double s = Sigmoid(y1) + Sigmoid(y2) + Sigmoid(y3);
    EXPECT_NEAR(h.Num("p2"), Sigmoid(y2) / s, kTol);
  }
  {
    // probit is not defined for more than two categorical classes.
    Harness h(Doc(Sub(kMulti, {{"OPTYPE", "categorical"}, {"NORM", "probit"}})));
    EXPECT_FALSE(h.ok());
  }
}

TEST(RegressionModel, OrdinalCumulative) {
  // Ordinal target: F(y1), F(y2) - F(y1), 1 - F(y2).
  for (std::string norm : {"logit", "probit", "cloglog", "loglog", "cauchit"}) {
    Harness h(Doc(Sub(kMulti, {{"OPTYPE", "ordinal"}, {"NORM", norm}})));
    ASSERT_TRUE(h.ok()) << norm << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(-1)}}).ok());  // y = (-0.9, -0.3, 0.3)
    auto f = [&](double v) {
      if (norm == "logit") return Sigmoid(v);
      if (norm == "probit") return Phi(v);
      if (norm == "cloglog") return 1 - std::exp(-std::exp(v));
      if (norm == "loglog") return std::exp(-std::exp(-v));
      return 0.5 + std::atan(v) / M_PI;
    };
    EXPECT_NEAR(h.Num("p1"), f(-0.9), kTol) << norm;
    EXPECT_NEAR(h.Num("p2"), f(-0.3) - f(-0.9), kTol) << norm;
    EXPECT_NEAR(h.Num("p3"), 1 - f(-0.3), kTol) << norm;
  }
  Harness bad(Doc(Sub(kMulti, {{"OPTYPE", "ordinal"}, {"NORM", "softmax"}})));
  EXPECT_FALSE(bad.ok());
}

TEST(RegressionModel, CategoricalValuesMatchInTheFieldType) {
  // "1.0" on a double field matches 1; "01" on an integer field matches 1.
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="d" optype="categorical" dataType="double"/>
  <DataField name="i" optype="categorical" dataType="integer"/>
  <DataField name="b" optype="categorical" dataType="boolean"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="d"/><MiningField name="i"/><MiningField name="b"/>
    <MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0">
    <CategoricalPredictor name="d" value="1.0" coefficient="1"/>
    <CategoricalPredictor name="i" value="01" coefficient="10"/>
    <CategoricalPredictor name="b" value="true" coefficient="100"/>
  </RegressionTable>
</RegressionModel>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"d", N(1)}, {"i", N(1)}, {"b", Value::Bool(true)}}).ok());
  EXPECT_NEAR(h.Num("y"), 111, kTol);
  ASSERT_TRUE(h.Eval({{"d", S("1")}, {"i", S("1")}, {"b", S("false")}}).ok());
  EXPECT_NEAR(h.Num("y"), 11, kTol);
}

TEST(RegressionModel, BadDocumentsNameTheElement) {
  Harness no_coef(Doc(R"(
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0"><NumericPredictor name="x"/></RegressionTable>
</RegressionModel>)"));
  ASSERT_FALSE(no_coef.ok());
  EXPECT_NE(std::string(no_coef.status().message()).find("NumericPredictor"), std::string::npos);
  Harness unknown_field(Doc(R"(
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0"><NumericPredictor name="w" coefficient="1"/></RegressionTable>
</RegressionModel>)"));
  EXPECT_FALSE(unknown_field.ok());
  Harness two_tables(Doc(R"(
<DataDictionary><DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
<RegressionModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="0"/><RegressionTable intercept="1"/>
</RegressionModel>)"));
  EXPECT_FALSE(two_tables.ok());
}

// Logistic regression with 10 numeric inputs (its speed is measured by
// bench/pmml_bench, not here).
TEST(RegressionModel, LogisticWithTenInputs) {
  std::string dd, ms, preds;
  for (int i = 0; i < 10; ++i) {
    std::string n = "x" + std::to_string(i);
    dd += "<DataField name=\"" + n + "\" optype=\"continuous\" dataType=\"double\"/>";
    ms += "<MiningField name=\"" + n + "\"/>";
    preds += "<NumericPredictor name=\"" + n + "\" coefficient=\"0." + std::to_string(i + 1) + "\"/>";
  }
  Harness h(Doc(R"(<DataDictionary>)" + dd + R"(<DataField name="c" optype="categorical" dataType="string">
    <Value value="1"/><Value value="0"/></DataField></DataDictionary>
<RegressionModel functionName="classification" normalizationMethod="logit"><MiningSchema>)" +
                ms + R"(<MiningField name="c" usageType="target"/></MiningSchema>
  <Output><OutputField name="p1" optype="continuous" dataType="double" feature="probability" value="1"/></Output>
  <RegressionTable targetCategory="1" intercept="-2">)" +
                preds + R"(</RegressionTable><RegressionTable targetCategory="0" intercept="0"/>
</RegressionModel>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  CompiledModel& m = h.model();
  EvalContext& ctx = h.ctx();
  // x_i = i at r = 0: y = -2 + sum 0.(i+1) * i.
  ctx.BeginRecord();
  double y = -2;
  for (int i = 0; i < 10; ++i) {
    m.SetInput(ctx, i, static_cast<double>(i));
    y += std::stod("0." + std::to_string(i + 1)) * i;
  }
  ASSERT_TRUE(m.Evaluate(ctx).ok());
  EXPECT_NEAR(m.Output(ctx, 1).num, Sigmoid(y), kTol);
}

// The whole-record shortcut (CompiledModel::has_shortcut) must give exactly
// what the general path gives: every output's kind, type and bits, and the
// same status, also for the records it hands back to the general path.
bool SameValue(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  if (a.missing()) return true;
  if (a.type != b.type) return false;
  if (a.is_string()) return a.str == b.str;
  return std::memcmp(&a.num, &b.num, sizeof a.num) == 0;
}

void ExpectShortcutMatches(const std::string& xml, bool expect_shortcut, const std::string& what) {
  Harness fast(xml), general(xml);
  ASSERT_TRUE(fast.ok()) << what << ": " << fast.status();
  ASSERT_TRUE(general.ok());
  general.model().set_shortcut_enabled(false);
  ASSERT_FALSE(general.model().has_shortcut());
  ASSERT_EQ(fast.model().has_shortcut(), expect_shortcut) << what;
  const std::vector<FieldSpec>& ins = fast.model().inputs();
  const double nan = std::nan(""), inf = HUGE_VAL;
  const std::vector<Value> cells = {N(0.5),   N(-3),     N(2.25),  N(1e3),     N(-1e3),
                                    N(nan),   N(inf),    N(-inf),  N(1e-300),  S("2"),
                                    S("abc"), Value(),   Value::Bool(true)};
  // Every input takes each cell in turn while the others take ordinary
  // numbers, so each kind of cell meets each input position.
  size_t records = 0, number_rows = 0;
  // k == cells.size(): the input is not set at all in that record.
  for (size_t k = 0; k <= cells.size(); ++k) {
    for (size_t pos = 0; pos < ins.size(); ++pos) {
      std::vector<std::pair<std::string, Value>> row;
      for (size_t i = 0; i < ins.size(); ++i) {
        if (i == pos && k == cells.size()) continue;
        // Fillers are whole numbers for integer inputs (a fraction is invalid there).
        const double filler = 0.25 * static_cast<double>(i + 1) - 0.6 * static_cast<double>(k);
        row.emplace_back(ins[i].name, i == pos ? cells[k]
                                               : N(ins[i].type == DataType::kInteger ? std::round(filler) : filler));
      }
      const absl::Status gs = general.Eval(row);
      // EvaluateNumbers: when the row is numbers for a prefix of the inputs
      // (all of them, or all but the last), the caller's array path too.
      std::vector<double> xs;
      for (const auto& [name, v] : row)
        if (v.is_number() && xs.size() < ins.size() && name == ins[xs.size()].name) xs.push_back(v.num);
      if (xs.size() == row.size()) {
        ++number_rows;
        const absl::Status ns = fast.model().EvaluateNumbers(fast.ctx(), xs.data(), xs.size());
        ASSERT_EQ(ns.ok(), gs.ok()) << what << " (numbers) cell " << k << " at input " << pos << ": " << ns << " / " << gs;
        if (!ns.ok()) {
          EXPECT_EQ(ns.message(), gs.message()) << what;
        }
        for (size_t o = 0; ns.ok() && o < fast.model().outputs().size(); ++o) {
          const Value& f = fast.model().Output(fast.ctx(), static_cast<int>(o));
          const Value& g = general.model().Output(general.ctx(), static_cast<int>(o));
          EXPECT_TRUE(SameValue(f, g)) << what << " (numbers): output " << fast.model().outputs()[o].name
                                       << " cell " << k << " at input " << pos << ": "
                                       << FormatValue(f) << " vs " << FormatValue(g);
        }
      }
      const absl::Status fs = fast.Eval(row);
      ASSERT_EQ(fs.ok(), gs.ok()) << what << " cell " << k << " at input " << pos;
      if (!fs.ok()) {
        EXPECT_EQ(fs.message(), gs.message()) << what;
        continue;
      }
      ++records;
      for (size_t o = 0; o < fast.model().outputs().size(); ++o) {
        const Value& f = fast.model().Output(fast.ctx(), static_cast<int>(o));
        const Value& g = general.model().Output(general.ctx(), static_cast<int>(o));
        EXPECT_TRUE(SameValue(f, g)) << what << ": output " << fast.model().outputs()[o].name
                                     << " cell " << k << " at input " << pos << ": "
                                     << FormatValue(f) << " vs " << FormatValue(g);
      }
    }
  }
  EXPECT_GT(records, ins.size() * 8) << what;
  EXPECT_GT(number_rows, ins.size() * 9) << what;
}

TEST(RegressionModel, WholeRecordShortcutMatchesTheGeneralPath) {
  ExpectShortcutMatches(Doc(Sub(kLogit3, {{"PREDICTORS",
      R"(<NumericPredictor name="a" coefficient="0.5"/><NumericPredictor name="b" coefficient="-1.25"/>
         <NumericPredictor name="c" coefficient="2"/>)"}})), true, "logit3");
  // A squared term: no fused table, so no shortcut (still the same results).
  ExpectShortcutMatches(Doc(Sub(kLogit3, {{"PREDICTORS",
      R"(<NumericPredictor name="a" coefficient="0.5"/><NumericPredictor name="b" exponent="2" coefficient="-1.25"/>
         <NumericPredictor name="c" coefficient="2"/>)"}})), false, "logit3 squared");
  for (const char* norm : {"logit", "probit", "cloglog", "loglog", "cauchit", "softmax", "none"})
    ExpectShortcutMatches(Doc(Sub(kBinary, {{"NORM", norm}, {"I2", "0"}, {"T2", ""}})), true,
                          std::string("binary ") + norm);
  // Two tables with predictors: not one linear function.
  ExpectShortcutMatches(
      Doc(Sub(kBinary, {{"NORM", "softmax"}, {"I2", "0.5"}, {"T2", R"(<NumericPredictor name="x" coefficient="2"/>)"}})),
      false, "binary two tables");
  // Three integer classes, one table with predictors (labels already integers).
  const std::string multi = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="w" optype="continuous" dataType="float"/>
  <DataField name="k" optype="categorical" dataType="integer"><Value value="1"/><Value value="2"/><Value value="3"/></DataField>
</DataDictionary>
<RegressionModel functionName="classification" normalizationMethod="$NORM">
  <MiningSchema><MiningField name="x"/><MiningField name="w"/><MiningField name="k" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="p1" optype="continuous" dataType="double" feature="probability" value="1"/>
    <OutputField name="p3" feature="probability" value="3"/>
    <OutputField name="p2" optype="continuous" dataType="$PTYPE" feature="probability" value="2"/>
  </Output>
  <RegressionTable targetCategory="1" intercept="0"/>
  <RegressionTable targetCategory="2" intercept="0.3"><NumericPredictor name="x" coefficient="1.5"/><NumericPredictor name="w" coefficient="-0.7"/></RegressionTable>
  <RegressionTable targetCategory="3" intercept="0"/>
</RegressionModel>)";
  for (const char* norm : {"softmax", "simplemax", "logit", "none"})
    ExpectShortcutMatches(Doc(Sub(multi, {{"NORM", norm}, {"PTYPE", "double"}})), true,
                          std::string("multinomial ") + norm);
  // A float probability output is cast: the general path computes it.
  ExpectShortcutMatches(Doc(Sub(multi, {{"NORM", "softmax"}, {"PTYPE", "float"}})), false,
                        "multinomial float output");
  const std::string linear = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="z" optype="continuous" dataType="integer"/>
  <DataField name="y" optype="continuous" dataType="$YTYPE"/>
</DataDictionary>
<RegressionModel functionName="regression" normalizationMethod="$NORM">
  <MiningSchema><MiningField name="x"/><MiningField name="z"/><MiningField name="y" usageType="target"/></MiningSchema>
  $TARGETS
  <RegressionTable intercept="$I"><NumericPredictor name="x" coefficient="2"/><NumericPredictor name="z" coefficient="-0.125"/></RegressionTable>
</RegressionModel>)";
  for (const char* norm : {"none", "exp", "logit", "probit", "cloglog", "loglog", "cauchit", "softmax"})
    ExpectShortcutMatches(Doc(Sub(linear, {{"NORM", norm}, {"YTYPE", "double"}, {"TARGETS", ""}, {"I", "1"}})),
                          true, std::string("regression ") + norm);
  ExpectShortcutMatches(Doc(Sub(linear, {{"NORM", "none"}, {"YTYPE", "double"}, {"TARGETS", ""}, {"I", "0"}})),
                        true, "regression without intercept");
  // A float target casts the prediction; Targets rescale it; a treated
  // MiningField is not the caller's slot: all three take the general path.
  ExpectShortcutMatches(Doc(Sub(linear, {{"NORM", "none"}, {"YTYPE", "float"}, {"TARGETS", ""}, {"I", "1"}})),
                        false, "regression float target");
  ExpectShortcutMatches(
      Doc(Sub(linear, {{"NORM", "none"}, {"YTYPE", "double"}, {"I", "1"},
                       {"TARGETS", R"(<Targets><Target field="y" rescaleFactor="2"/></Targets>)"}})),
      false, "regression with Targets");
  std::string treated = Sub(linear, {{"NORM", "none"}, {"YTYPE", "double"}, {"TARGETS", ""}, {"I", "1"}});
  treated.replace(treated.find(R"(<MiningField name="x"/>)"), 23,
                  R"(<MiningField name="x" missingValueReplacement="4"/>)");
  ExpectShortcutMatches(Doc(treated), false, "regression with a treated input");
}

// `predictors`: NumericPredictor elements over a, b, c (coefficients: a 1e8,
// b -0.7, c 0.1) in the order to sum; `order`: the same as input indices.
void ExpectNumbersMatch(const std::string& predictors, const std::vector<std::string>& order) {
  // A linear regression: its prediction is the sum itself (plus intercept).
  const std::string doc = Doc(R"(
<DataDictionary>
  <DataField name="a" optype="continuous" dataType="double"/>
  <DataField name="b" optype="continuous" dataType="double"/>
  <DataField name="c" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<RegressionModel functionName="regression">
  <MiningSchema>
    <MiningField name="y" usageType="target"/>
    <MiningField name="a"/><MiningField name="b"/><MiningField name="c"/>
  </MiningSchema>
  <RegressionTable intercept="0.25">)" + predictors + R"(</RegressionTable>
</RegressionModel>)");
  Harness fast(doc), general(doc);
  ASSERT_TRUE(fast.ok()) << fast.status();
  ASSERT_TRUE(fast.model().has_shortcut());
  general.model().set_shortcut_enabled(false);
  const std::vector<FieldSpec>& ins = fast.model().inputs();
  ASSERT_EQ(ins.size(), 3u);
  auto coef = [](const std::string& name) { return name == "a" ? 1e8 : name == "b" ? -0.7 : 0.1; };
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(-10, 10);
  // Rows whose sum in the predictors' order differs from the sum in input
  // order and from the reverse: the comparison can tell those apart.
  size_t vs_input_order = 0, vs_reverse = 0;
  for (int r = 0; r < 2000; ++r) {
    double x[3];
    std::vector<std::pair<std::string, Value>> row;
    for (size_t i = 0; i < 3; ++i) {
      x[i] = u(rng) * (ins[i].name == "a" ? 1e-9 : 1.0);  // a's tiny values meet its large coefficient
      row.emplace_back(ins[i].name, N(x[i]));
    }
    ASSERT_TRUE(general.Eval(row).ok());
    ASSERT_TRUE(fast.model().EvaluateNumbers(fast.ctx(), x, 3).ok());
    const Value& f = fast.model().Output(fast.ctx(), 0);
    const Value& g = general.model().Output(general.ctx(), 0);
    ASSERT_TRUE(SameValue(f, g)) << "row " << r << ": " << FormatValue(f) << " vs " << FormatValue(g);
    auto sum = [&](const std::vector<std::string>& names) {
      double s = 0;
      for (const std::string& nm : names) s += coef(nm) * x[fast.model().InputIndex(nm)];
      return s + 0.25;
    };
    const std::vector<std::string> reverse(order.rbegin(), order.rend());
    vs_input_order += sum(order) != sum({"a", "b", "c"});
    vs_reverse += sum(order) != sum(reverse);
  }
  if (order != std::vector<std::string>{"a", "b", "c"}) EXPECT_GT(vs_input_order, 100u);
  EXPECT_GT(vs_reverse, 100u);
}

// EvaluateNumbers reads the caller's array in input order while the sum runs
// in predictor order; with values whose sum depends on the order, any slip
// (order, index) changes bits.
TEST(RegressionModel, NumbersGiveTheBitsOfSetInput) {
  ExpectNumbersMatch(R"(<NumericPredictor name="c" coefficient="0.1"/><NumericPredictor name="a" coefficient="1e8"/>
                        <NumericPredictor name="b" coefficient="-0.7"/>)",
                     {"c", "a", "b"});
  ExpectNumbersMatch(R"(<NumericPredictor name="a" coefficient="1e8"/><NumericPredictor name="b" coefficient="-0.7"/>
                        <NumericPredictor name="c" coefficient="0.1"/>)",
                     {"a", "b", "c"});
}

// ---------------------------------------------------------------------------
// GeneralRegressionModel

const char* kGlmRegression = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="off" optype="continuous" dataType="double"/>
  <DataField name="color" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<GeneralRegressionModel functionName="regression" modelType="$TYPE" $ATTRS>
  <MiningSchema><MiningField name="x"/><MiningField name="off"/><MiningField name="color"/>
    <MiningField name="y" usageType="target"/></MiningSchema>
  <ParameterList>
    <Parameter name="p0" label="Intercept"/><Parameter name="p1"/><Parameter name="p2"/>
    <Parameter name="p3"/><Parameter name="p4"/>
  </ParameterList>
  <FactorList><Predictor name="color"/></FactorList>
  <CovariateList><Predictor name="x"/></CovariateList>
  <PPMatrix>
    <PPCell value="red" predictorName="color" parameterName="p1"/>
    <PPCell value="1" predictorName="x" parameterName="p2"/>
    <PPCell value="2" predictorName="x" parameterName="p3"/>
    <PPCell value="blue" predictorName="color" parameterName="p4"/>
    <PPCell value="1" predictorName="x" parameterName="p4"/>
  </PPMatrix>
  <ParamMatrix>
    <PCell parameterName="p0" beta="$B0"/>
    <PCell parameterName="p1" beta="2"/>
    <PCell parameterName="p2" beta="$B2"/>
    <PCell parameterName="p3" beta="0.5"/>
    <PCell parameterName="p4" beta="-1"/>
  </ParamMatrix>
</GeneralRegressionModel>)";

TEST(GeneralRegressionModel, RegressionWithFactorsCovariatesInteractions) {
  for (std::string type : {"regression", "generalLinear"}) {
    Harness h(Doc(Sub(kGlmRegression, {{"TYPE", type}, {"ATTRS", ""}, {"B0", "1"}, {"B2", "3"}})));
    ASSERT_TRUE(h.ok()) << h.status();
    // blue, x = 2: 1 + 0 + 3*2 + 0.5*4 - 1*2 = 7
    ASSERT_TRUE(h.Eval({{"x", N(2)}, {"color", S("blue")}}).ok());
    EXPECT_NEAR(h.Num("y"), 7, kTol);
    // red: 1 + 2 + 6 + 2 + 0 = 11
    ASSERT_TRUE(h.Eval({{"x", N(2)}, {"color", S("red")}}).ok());
    EXPECT_NEAR(h.Num("y"), 11, kTol);
    // A missing factor or covariate: no prediction.
    ASSERT_TRUE(h.Eval({{"x", N(2)}}).ok());
    EXPECT_TRUE(h.Out("y").missing());
    ASSERT_TRUE(h.Eval({{"color", S("red")}}).ok());
    EXPECT_TRUE(h.Out("y").missing());
  }
}

TEST(GeneralRegressionModel, GeneralizedLinearLinks) {
  // color = green (no factor matches), x = 0.25: eta = 0.25 + 0.5*0.0625 + 0.25 (offset) ... keep it
  // simple: B0 = 0.5, B2 = 1 -> eta = 0.5 + 0.25 + 0.5*0.0625 = 0.78125, + offsetValue 0.25 = 1.03125.
  const double eta = 1.03125;
  struct Case {
    std::string attrs;
    double expected;
  };
  const std::vector<Case> cases = {
      {R"(linkFunction="identity")", eta},
      {R"(linkFunction="log")", std::exp(eta)},
      {R"(linkFunction="logit")", Sigmoid(eta)},
      {R"(linkFunction="probit")", Phi(eta)},
      {R"(linkFunction="cloglog")", 1 - std::exp(-std::exp(eta))},
      {R"(linkFunction="loglog")", std::exp(-std::exp(-eta))},
      {R"(linkFunction="logc")", 1 - std::exp(eta)},
      {R"(linkFunction="negbin" distParameter="2")", 1 / (2 * (std::exp(-eta) - 1))},
      {R"(linkFunction="oddspower" linkParameter="0.5")", 1 / (1 + std::pow(1 + 0.5 * eta, -2.0))},
      {R"(linkFunction="oddspower" linkParameter="0")", Sigmoid(eta)},
      {R"(linkFunction="power" linkParameter="0.5")", eta * eta},
      {R"(linkFunction="power" linkParameter="0")", std::exp(eta)},
      {R"(linkFunction="log" trialsValue="3")", 3 * std::exp(eta)},
  };
  for (const Case& c : cases) {
    Harness h(Doc(Sub(kGlmRegression, {{"TYPE", "generalizedLinear"},
                                       {"ATTRS", c.attrs + R"( offsetValue="0.25")"},
                                       {"B0", "0.5"},
                                       {"B2", "1"}})));
    ASSERT_TRUE(h.ok()) << c.attrs << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.25)}, {"color", S("green")}}).ok());
    EXPECT_NEAR(h.Num("y"), c.expected, kTol) << c.attrs;
  }
  // offsetVariable: eta = 0.78125 + off; a missing offset fails the record.
  Harness h(Doc(Sub(kGlmRegression, {{"TYPE", "generalizedLinear"},
                                     {"ATTRS", R"(linkFunction="identity" offsetVariable="off")"},
                                     {"B0", "0.5"},
                                     {"B2", "1"}})));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(0.25)}, {"color", S("green")}, {"off", N(10)}}).ok());
  EXPECT_NEAR(h.Num("y"), 10.78125, kTol);
  EXPECT_FALSE(h.Eval({{"x", N(0.25)}, {"color", S("green")}}).ok());
  // negbin without distParameter is a document error.
  Harness bad(Doc(Sub(kGlmRegression,
                      {{"TYPE", "generalizedLinear"}, {"ATTRS", R"(linkFunction="negbin")"}, {"B0", "0"}, {"B2", "0"}})));
  EXPECT_FALSE(bad.ok());
}

const char* kMultinomial = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="k" optype="$OPTYPE" dataType="string">
    <Value value="A"/><Value value="B"/><Value value="C"/>
  </DataField>
</DataDictionary>
<GeneralRegressionModel functionName="classification" modelType="$TYPE" $ATTRS>
  <MiningSchema><MiningField name="x"/><MiningField name="k" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="pA" optype="continuous" dataType="double" feature="probability" value="A"/>
    <OutputField name="pB" optype="continuous" dataType="double" feature="probability" value="B"/>
    <OutputField name="pC" optype="continuous" dataType="double" feature="probability" value="C"/>
  </Output>
  <ParameterList><Parameter name="p0"/><Parameter name="p1"/></ParameterList>
  <CovariateList><Predictor name="x"/></CovariateList>
  <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/></PPMatrix>
  <ParamMatrix>$CELLS</ParamMatrix>
</GeneralRegressionModel>)";

TEST(GeneralRegressionModel, MultinomialLogistic) {
  // A: 1 + x, B: 0.5 - x, C (reference, not in ParamMatrix): 0.
  const std::string cells = R"(
    <PCell targetCategory="A" parameterName="p0" beta="1"/><PCell targetCategory="A" parameterName="p1" beta="1"/>
    <PCell targetCategory="B" parameterName="p0" beta="0.5"/><PCell targetCategory="B" parameterName="p1" beta="-1"/>)";
  Harness h(Doc(Sub(kMultinomial,
                    {{"OPTYPE", "categorical"}, {"TYPE", "multinomialLogistic"}, {"ATTRS", ""}, {"CELLS", cells}})));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(1)}}).ok());
  double a = std::exp(2.0), b = std::exp(-0.5), c = 1, s = a + b + c;
  EXPECT_NEAR(h.Num("pA"), a / s, kTol);
  EXPECT_NEAR(h.Num("pB"), b / s, kTol);
  EXPECT_NEAR(h.Num("pC"), c / s, kTol);
  EXPECT_EQ(h.Str("k"), "A");
  ASSERT_TRUE(h.Eval({{"x", N(-3)}}).ok());  // A: -2, B: 3.5 -> B
  EXPECT_EQ(h.Str("k"), "B");

  // An explicit reference category: A is the reference, B and C have cells.
  const std::string cells2 = R"(
    <PCell targetCategory="B" parameterName="p0" beta="1"/>
    <PCell targetCategory="C" parameterName="p1" beta="2"/>)";
  Harness r(Doc(Sub(kMultinomial, {{"OPTYPE", "categorical"},
                                   {"TYPE", "multinomialLogistic"},
                                   {"ATTRS", R"(targetReferenceCategory="A")"},
                                   {"CELLS", cells2}})));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r.Eval({{"x", N(1)}}).ok());
  double eb = std::exp(1.0), ec = std::exp(2.0), s2 = 1 + eb + ec;
  EXPECT_NEAR(r.Num("pA"), 1 / s2, kTol);
  EXPECT_NEAR(r.Num("pB"), eb / s2, kTol);
  EXPECT_NEAR(r.Num("pC"), ec / s2, kTol);
  EXPECT_EQ(r.Str("k"), "C");
}

TEST(GeneralRegressionModel, OrdinalMultinomial) {
  // Cumulative: F(theta_k + 0.5 x); x = 2: F(-1 + 1), F(1 + 1).
  const std::string cells = R"(
    <PCell targetCategory="A" parameterName="p0" beta="-1"/>
    <PCell targetCategory="B" parameterName="p0" beta="1"/>
    <PCell parameterName="p1" beta="0.5"/>)";
  for (std::string link : {"logit", "probit", "cloglog", "loglog", "cauchit"}) {
    Harness h(Doc(Sub(kMultinomial, {{"OPTYPE", "ordinal"},
                                     {"TYPE", "ordinalMultinomial"},
                                     {"ATTRS", "cumulativeLink=\"" + link + "\""},
                                     {"CELLS", cells}})));
    ASSERT_TRUE(h.ok()) << link << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(2)}}).ok());
    auto f = [&](double v) {
      if (link == "logit") return Sigmoid(v);
      if (link == "probit") return Phi(v);
      if (link == "cloglog") return 1 - std::exp(-std::exp(v));
      if (link == "loglog") return std::exp(-std::exp(-v));
      return 0.5 + std::atan(v) / M_PI;
    };
    EXPECT_NEAR(h.Num("pA"), f(0), kTol) << link;
    EXPECT_NEAR(h.Num("pB"), f(2) - f(0), kTol) << link;
    EXPECT_NEAR(h.Num("pC"), 1 - f(2), kTol) << link;
  }
}

TEST(GeneralRegressionModel, BinomialGeneralizedLinear) {
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="k" optype="categorical" dataType="string"><Value value="no"/><Value value="yes"/></DataField>
</DataDictionary>
<GeneralRegressionModel functionName="classification" modelType="generalizedLinear" linkFunction="logit">
  <MiningSchema><MiningField name="x"/><MiningField name="k" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="pyes" optype="continuous" dataType="double" feature="probability" value="yes"/>
    <OutputField name="pno" optype="continuous" dataType="double" feature="probability" value="no"/>
  </Output>
  <ParameterList><Parameter name="p0"/><Parameter name="p1"/></ParameterList>
  <CovariateList><Predictor name="x"/></CovariateList>
  <PPMatrix><PPCell value="1" predictorName="x" parameterName="p1"/></PPMatrix>
  <ParamMatrix>
    <PCell targetCategory="yes" parameterName="p0" beta="-1"/>
    <PCell targetCategory="yes" parameterName="p1" beta="2"/>
  </ParamMatrix>
</GeneralRegressionModel>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  // "no" is the reference (no PCells): p(yes) = logistic(-1 + 2x), p(no) = 1 - p(yes).
  ASSERT_TRUE(h.Eval({{"x", N(1)}}).ok());
  EXPECT_NEAR(h.Num("pyes"), Sigmoid(1), kTol);
  EXPECT_NEAR(h.Num("pno"), 1 - Sigmoid(1), kTol);
  EXPECT_EQ(h.Str("k"), "yes");
}

TEST(GeneralRegressionModel, ContrastMatrix) {
  // Factor "g" with a contrast matrix: row = input category, column = PPCell value.
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="g" optype="categorical" dataType="string"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<GeneralRegressionModel functionName="regression" modelType="generalLinear">
  <MiningSchema><MiningField name="g"/><MiningField name="y" usageType="target"/></MiningSchema>
  <ParameterList><Parameter name="p0"/><Parameter name="p1"/></ParameterList>
  <FactorList><Predictor name="g">
    <Categories><Category value="a"/><Category value="b"/><Category value="c"/></Categories>
    <Matrix><Array n="2" type="real">1 0</Array><Array n="2" type="real">0 1</Array><Array n="2" type="real">-1 -1</Array></Matrix>
  </Predictor></FactorList>
  <PPMatrix><PPCell value="b" predictorName="g" parameterName="p1"/></PPMatrix>
  <ParamMatrix><PCell parameterName="p0" beta="10"/><PCell parameterName="p1" beta="3"/></ParamMatrix>
</GeneralRegressionModel>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  // Column of "b" is (0, 1, -1): a -> 10, b -> 13, c -> 7.
  ASSERT_TRUE(h.Eval({{"g", S("a")}}).ok());
  EXPECT_NEAR(h.Num("y"), 10, kTol);
  ASSERT_TRUE(h.Eval({{"g", S("b")}}).ok());
  EXPECT_NEAR(h.Num("y"), 13, kTol);
  ASSERT_TRUE(h.Eval({{"g", S("c")}}).ok());
  EXPECT_NEAR(h.Num("y"), 7, kTol);
}

const char* kCox = R"(
<DataDictionary>
  <DataField name="age" optype="continuous" dataType="double"/>
  <DataField name="time" optype="continuous" dataType="double"/>
  <DataField name="status" optype="continuous" dataType="double"/>
  <DataField name="grp" optype="categorical" dataType="string"/>
  <DataField name="hazard" optype="continuous" dataType="double"/>
</DataDictionary>
<GeneralRegressionModel functionName="regression" modelType="CoxRegression" endTimeVariable="time"
    statusVariable="status" $STRATA>
  <MiningSchema><MiningField name="age"/><MiningField name="time"/><MiningField name="status"/>
    <MiningField name="grp"/><MiningField name="hazard" usageType="predicted"/></MiningSchema>
  <Output>
    <OutputField name="H" optype="continuous" dataType="double" feature="predictedValue"/>
    <OutputField name="S" optype="continuous" dataType="double" feature="transformedValue">
      <Apply function="exp"><Apply function="*"><Constant>-1</Constant><FieldRef field="H"/></Apply></Apply>
    </OutputField>
  </Output>
  <ParameterList><Parameter name="p0" referencePoint="50"/></ParameterList>
  <CovariateList><Predictor name="age"/></CovariateList>
  <PPMatrix><PPCell value="1" predictorName="age" parameterName="p0"/></PPMatrix>
  <ParamMatrix><PCell parameterName="p0" beta="0.1"/></ParamMatrix>
  <BaseCumHazardTables $MAX>$TABLES</BaseCumHazardTables>
</GeneralRegressionModel>)";

TEST(GeneralRegressionModel, CoxRegression) {
  const std::string cells = R"(<BaselineCell time="5" cumHazard="0.3"/><BaselineCell time="1" cumHazard="0.1"/>
    <BaselineCell time="10" cumHazard="0.6"/>)";
  Harness h(Doc(Sub(kCox, {{"STRATA", ""}, {"MAX", R"(maxTime="12")"}, {"TABLES", cells}})));
  ASSERT_TRUE(h.ok()) << h.status();
  // age 60: exp(0.1*60 - 0.1*50) = e; time 6 -> baseline 0.3 (largest time <= 6).
  ASSERT_TRUE(h.Eval({{"age", N(60)}, {"time", N(6)}}).ok());
  EXPECT_NEAR(h.Num("hazard"), std::exp(1.0) * 0.3, kTol);
  EXPECT_NEAR(h.Num("S"), std::exp(-std::exp(1.0) * 0.3), kTol);
  ASSERT_TRUE(h.Eval({{"age", N(60)}, {"time", N(10)}}).ok());
  EXPECT_NEAR(h.Num("hazard"), std::exp(1.0) * 0.6, kTol);
  // Before the first time: 0 (survival 1). After maxTime: no prediction.
  ASSERT_TRUE(h.Eval({{"age", N(60)}, {"time", N(0.5)}}).ok());
  EXPECT_NEAR(h.Num("hazard"), 0, kTol);
  EXPECT_NEAR(h.Num("S"), 1, kTol);
  ASSERT_TRUE(h.Eval({{"age", N(60)}, {"time", N(13)}}).ok());
  EXPECT_TRUE(h.Out("hazard").missing());
  // A missing end time fails the record.
  EXPECT_FALSE(h.Eval({{"age", N(60)}}).ok());

  const std::string strata = R"(
    <BaselineStratum value="a" maxTime="8"><BaselineCell time="2" cumHazard="0.2"/></BaselineStratum>
    <BaselineStratum value="b" maxTime="20"><BaselineCell time="2" cumHazard="0.5"/></BaselineStratum>)";
  Harness s(Doc(Sub(kCox, {{"STRATA", R"(baselineStrataVariable="grp")"}, {"MAX", ""}, {"TABLES", strata}})));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(s.Eval({{"age", N(50)}, {"time", N(3)}, {"grp", S("b")}}).ok());
  EXPECT_NEAR(s.Num("hazard"), 0.5, kTol);
  ASSERT_TRUE(s.Eval({{"age", N(40)}, {"time", N(3)}, {"grp", S("a")}}).ok());
  EXPECT_NEAR(s.Num("hazard"), std::exp(-1.0) * 0.2, kTol);
  ASSERT_TRUE(s.Eval({{"age", N(40)}, {"time", N(9)}, {"grp", S("a")}}).ok());
  EXPECT_TRUE(s.Out("hazard").missing());
  ASSERT_TRUE(s.Eval({{"age", N(40)}, {"time", N(3)}, {"grp", S("zzz")}}).ok());
  EXPECT_TRUE(s.Out("hazard").missing());
}

// ---------------------------------------------------------------------------
// NeuralNetwork

TEST(NeuralNetwork, TwoLayerRegressionWithNormalizedInput) {
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="x1" optype="continuous" dataType="double"/>
  <DataField name="x2" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<NeuralNetwork functionName="regression" activationFunction="logistic">
  <MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="y" usageType="target"/></MiningSchema>
  <NeuralInputs>
    <NeuralInput id="i1"><DerivedField optype="continuous" dataType="double"><FieldRef field="x1"/></DerivedField></NeuralInput>
    <NeuralInput id="i2"><DerivedField optype="continuous" dataType="double">
      <NormContinuous field="x2"><LinearNorm orig="0" norm="0"/><LinearNorm orig="10" norm="1"/></NormContinuous>
    </DerivedField></NeuralInput>
  </NeuralInputs>
  <NeuralLayer>
    <Neuron id="h1" bias="0.5"><Con from="i1" weight="1"/><Con from="i2" weight="-2"/></Neuron>
    <Neuron id="h2" bias="-0.5"><Con from="i1" weight="0.5"/><Con from="i2" weight="1"/></Neuron>
  </NeuralLayer>
  <NeuralLayer activationFunction="identity">
    <Neuron id="o" bias="0.1"><Con from="h1" weight="2"/><Con from="h2" weight="-1"/></Neuron>
  </NeuralLayer>
  <NeuralOutputs>
    <NeuralOutput outputNeuron="o"><DerivedField optype="continuous" dataType="double">
      <NormContinuous field="y"><LinearNorm orig="100" norm="0"/><LinearNorm orig="200" norm="1"/></NormContinuous>
    </DerivedField></NeuralOutput>
  </NeuralOutputs>
</NeuralNetwork>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  // x1 = 1, x2 = 5 -> i2 = 0.5. h1 = s(1 - 1 + 0.5) = s(0.5); h2 = s(0.5 + 0.5 - 0.5) = s(0.5).
  // o = 2 s(0.5) - s(0.5) + 0.1; y = 100 + 100 o.
  ASSERT_TRUE(h.Eval({{"x1", N(1)}, {"x2", N(5)}}).ok());
  EXPECT_NEAR(h.Num("y"), 100 + 100 * (Sigmoid(0.5) + 0.1), 1e-10);
  ASSERT_TRUE(h.Eval({{"x1", N(1)}}).ok());
  EXPECT_TRUE(h.Out("y").missing());
}

// Dense layers are summed several neurons at a time; each neuron's sum must
// still be the inputs in order, so the result equals, bit for bit, a plain
// neuron-by-neuron evaluation. 5 inputs -> 11 tanh (one full block of 8 and
// a partial one) -> 1 identity; weights with many significant bits so that
// any other order of additions shows.
TEST(NeuralNetwork, DenseLayersGiveTheBitsOfNeuronByNeuronSums) {
  auto weight = [](int layer, int n, int j) {
    return std::sin(1.7 * layer + 0.91 * n + 0.37 * j) * (1 + 0.001 * n * j);
  };
  auto num = [](double d) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return std::string(buf);
  };
  const int kIn = 5, kHidden = 11, kOut = 1;  // one target: the engine exposes one
  std::string dd, ms, inputs, hidden, outl, outs;
  for (int j = 0; j < kIn; ++j) {
    const std::string f = "x" + std::to_string(j);
    dd += R"(<DataField name=")" + f + R"(" optype="continuous" dataType="double"/>)";
    ms += R"(<MiningField name=")" + f + R"("/>)";
    inputs += R"(<NeuralInput id="i)" + std::to_string(j) +
              R"("><DerivedField optype="continuous" dataType="double"><FieldRef field=")" + f +
              R"("/></DerivedField></NeuralInput>)";
  }
  for (int n = 0; n < kHidden; ++n) {
    hidden += R"(<Neuron id="h)" + std::to_string(n) + R"(" bias=")" + num(0.1 * n - 0.3) + R"(">)";
    for (int j = 0; j < kIn; ++j)
      hidden += R"(<Con from="i)" + std::to_string(j) + R"(" weight=")" + num(weight(1, n, j)) + R"("/>)";
    hidden += "</Neuron>";
  }
  for (int n = 0; n < kOut; ++n) {
    outl += R"(<Neuron id="o)" + std::to_string(n) + R"(" bias=")" + num(0.05 * n) + R"(">)";
    for (int j = 0; j < kHidden; ++j)
      outl += R"(<Con from="h)" + std::to_string(j) + R"(" weight=")" + num(weight(2, n, j)) + R"("/>)";
    outl += "</Neuron>";
    dd += R"(<DataField name="y)" + std::to_string(n) + R"(" optype="continuous" dataType="double"/>)";
    ms += R"(<MiningField name="y)" + std::to_string(n) + R"(" usageType="target"/>)";
    outs += R"(<NeuralOutput outputNeuron="o)" + std::to_string(n) +
            R"("><DerivedField optype="continuous" dataType="double"><FieldRef field="y)" +
            std::to_string(n) + R"("/></DerivedField></NeuralOutput>)";
  }
  Harness h(Doc("<DataDictionary>" + dd + R"(</DataDictionary>
<NeuralNetwork functionName="regression" activationFunction="tanh"><MiningSchema>)" + ms +
                "</MiningSchema><NeuralInputs>" + inputs + "</NeuralInputs><NeuralLayer>" + hidden +
                R"(</NeuralLayer><NeuralLayer activationFunction="identity">)" + outl +
                "</NeuralLayer><NeuralOutputs>" + outs + "</NeuralOutputs></NeuralNetwork>"));
  ASSERT_TRUE(h.ok()) << h.status();
  for (int r = 0; r < 20; ++r) {
    std::vector<std::pair<std::string, Value>> row;
    double x[kIn], hv[kHidden];
    for (int j = 0; j < kIn; ++j) {
      x[j] = std::cos(0.77 * r + 1.3 * j) * (1 + r);
      row.emplace_back("x" + std::to_string(j), N(x[j]));
    }
    ASSERT_TRUE(h.Eval(row).ok());
    for (int n = 0; n < kHidden; ++n) {
      double sum = 0;
      for (int j = 0; j < kIn; ++j) sum += std::stod(num(weight(1, n, j))) * x[j];
      hv[n] = std::tanh(sum + std::stod(num(0.1 * n - 0.3)));
    }
    for (int n = 0; n < kOut; ++n) {
      double sum = 0;
      for (int j = 0; j < kHidden; ++j) sum += std::stod(num(weight(2, n, j))) * hv[j];
      const double want = sum + std::stod(num(0.05 * n));
      const double got = h.Num("y" + std::to_string(n));
      EXPECT_EQ(std::memcmp(&want, &got, sizeof want), 0)
          << "row " << r << " output " << n << ": " << num(got) << " vs " << num(want);
    }
  }
}

const char* kOneNeuron = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<NeuralNetwork functionName="regression" activationFunction="$ACT" $NETATTRS>
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <NeuralInputs>
    <NeuralInput id="0"><DerivedField optype="continuous" dataType="double"><FieldRef field="x"/></DerivedField></NeuralInput>
    <NeuralInput id="1"><DerivedField optype="continuous" dataType="double"><Constant>1</Constant></DerivedField></NeuralInput>
  </NeuralInputs>
  <NeuralLayer $LAYERATTRS>
    <Neuron id="n" bias="$BIAS"><Con from="0" weight="2"/><Con from="1" weight="0.5"/></Neuron>
  </NeuralLayer>
  <NeuralOutputs>
    <NeuralOutput outputNeuron="n"><DerivedField optype="continuous" dataType="double"><FieldRef field="y"/></DerivedField></NeuralOutput>
  </NeuralOutputs>
</NeuralNetwork>)";

TEST(NeuralNetwork, ActivationFunctions) {
  // z = 2x + 0.5 + bias(0.25); x = 0.3 -> z = 1.35.
  const double z = 1.35;
  struct Case {
    std::string act, net_attrs, layer_attrs;
    double expected;
  };
  const std::vector<Case> cases = {
      {"threshold", R"(threshold="1.4")", "", 0.0},
      {"threshold", "", R"(threshold="1.3")", 1.0},
      {"logistic", "", "", Sigmoid(z)},
      {"tanh", "", "", std::tanh(z)},
      {"identity", "", "", z},
      {"exponential", "", "", std::exp(z)},
      {"reciprocal", "", "", 1 / z},
      {"square", "", "", z * z},
      {"Gauss", "", "", std::exp(-z * z)},
      {"sine", "", "", std::sin(z)},
      {"cosine", "", "", std::cos(z)},
      {"Elliott", "", "", z / (1 + z)},
      {"arctan", "", "", 2 * std::atan(z) / M_PI},
      {"rectifier", "", "", z},
      // A layer's activationFunction overrides the network's.
      {"identity", "", R"(activationFunction="square")", z * z},
  };
  for (const Case& c : cases) {
    Harness h(Doc(Sub(kOneNeuron, {{"ACT", c.act}, {"NETATTRS", c.net_attrs}, {"LAYERATTRS", c.layer_attrs},
                                   {"BIAS", "0.25"}})));
    ASSERT_TRUE(h.ok()) << c.act << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.3)}}).ok());
    EXPECT_NEAR(h.Num("y"), c.expected, kTol) << c.act << " " << c.layer_attrs;
  }
  // Rectifier below zero, with and without leakage: x = -1 -> z = -1.25.
  Harness relu(Doc(Sub(kOneNeuron, {{"ACT", "rectifier"}, {"NETATTRS", ""}, {"LAYERATTRS", ""}, {"BIAS", "0.25"}})));
  ASSERT_TRUE(relu.Eval({{"x", N(-1)}}).ok());
  EXPECT_NEAR(relu.Num("y"), 0, kTol);
  Harness leaky(Doc(Sub(kOneNeuron, {{"ACT", "rectifier"}, {"NETATTRS", R"(leakage="0.1")"}, {"LAYERATTRS", ""},
                                     {"BIAS", "0.25"}})));
  ASSERT_TRUE(leaky.ok()) << leaky.status();
  ASSERT_TRUE(leaky.Eval({{"x", N(-1)}}).ok());
  EXPECT_NEAR(leaky.Num("y"), -0.125, kTol);
  // Radial basis: exp(-((x-2)^2 + (1-0.5)^2) / (2 w^2) + fan_in * ln(altitude)); x = 3, w = 2, a = 1.5.
  Harness rbf(Doc(Sub(kOneNeuron, {{"ACT", "radialBasis"}, {"NETATTRS", R"(width="2" altitude="1.5")"},
                                   {"LAYERATTRS", ""}, {"BIAS", "0"}})));
  ASSERT_TRUE(rbf.ok()) << rbf.status();
  ASSERT_TRUE(rbf.Eval({{"x", N(3)}}).ok());
  EXPECT_NEAR(rbf.Num("y"), std::exp(-(1 + 0.25) / 8 + 2 * std::log(1.5)), kTol);
  Harness unknown(Doc(Sub(kOneNeuron, {{"ACT", "swish"}, {"NETATTRS", ""}, {"LAYERATTRS", ""}, {"BIAS", "0"}})));
  EXPECT_FALSE(unknown.ok());
}

const char* kSoftmaxNet = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="c" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/><Value value="c"/></DataField>
</DataDictionary>
<NeuralNetwork functionName="classification" activationFunction="identity" $NETATTRS>
  <MiningSchema><MiningField name="x"/><MiningField name="c" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="pa" optype="continuous" dataType="double" feature="probability" value="a"/>
    <OutputField name="pb" optype="continuous" dataType="double" feature="probability" value="b"/>
    <OutputField name="pc" optype="continuous" dataType="double" feature="probability" value="c"/>
    <OutputField name="id" optype="categorical" dataType="string" feature="entityId"/>
  </Output>
  <NeuralInputs>
    <NeuralInput id="in"><DerivedField optype="continuous" dataType="double"><FieldRef field="x"/></DerivedField></NeuralInput>
  </NeuralInputs>
  <NeuralLayer $LAYERATTRS>
    <Neuron id="oa" bias="0"><Con from="in" weight="1"/></Neuron>
    <Neuron id="ob" bias="1"><Con from="in" weight="0.5"/></Neuron>
    <Neuron id="oc" bias="2"><Con from="in" weight="0.25"/></Neuron>
  </NeuralLayer>
  <NeuralOutputs>
    <NeuralOutput outputNeuron="oa"><DerivedField optype="categorical" dataType="string"><NormDiscrete field="c" value="a"/></DerivedField></NeuralOutput>
    <NeuralOutput outputNeuron="ob"><DerivedField optype="categorical" dataType="string"><NormDiscrete field="c" value="b"/></DerivedField></NeuralOutput>
    <NeuralOutput outputNeuron="oc"><DerivedField optype="categorical" dataType="string"><NormDiscrete field="c" value="c"/></DerivedField></NeuralOutput>
  </NeuralOutputs>
</NeuralNetwork>)";

TEST(NeuralNetwork, ClassificationWithSoftmaxAndSimplemax) {
  // x = 4: raw outputs (4, 3, 3).
  Harness soft(Doc(Sub(kSoftmaxNet, {{"NETATTRS", ""}, {"LAYERATTRS", R"(normalizationMethod="softmax")"}})));
  ASSERT_TRUE(soft.ok()) << soft.status();
  ASSERT_TRUE(soft.Eval({{"x", N(4)}}).ok());
  double s = std::exp(4.0) + 2 * std::exp(3.0);
  EXPECT_NEAR(soft.Num("pa"), std::exp(4.0) / s, kTol);
  EXPECT_NEAR(soft.Num("pb"), std::exp(3.0) / s, kTol);
  EXPECT_NEAR(soft.Num("pc"), std::exp(3.0) / s, kTol);
  EXPECT_EQ(soft.Str("c"), "a");
  // x = 0: (0, 1, 2) -> c wins.
  ASSERT_TRUE(soft.Eval({{"x", N(0)}}).ok());
  EXPECT_EQ(soft.Str("c"), "c");

  // Network-level simplemax applies to every layer without its own method.
  Harness simple(Doc(Sub(kSoftmaxNet, {{"NETATTRS", R"(normalizationMethod="simplemax")"}, {"LAYERATTRS", ""}})));
  ASSERT_TRUE(simple.ok()) << simple.status();
  ASSERT_TRUE(simple.Eval({{"x", N(4)}}).ok());
  EXPECT_NEAR(simple.Num("pa"), 0.4, kTol);
  EXPECT_NEAR(simple.Num("pb"), 0.3, kTol);
  EXPECT_NEAR(simple.Num("pc"), 0.3, kTol);

  // No normalization: the neuron values are the probabilities as they are.
  Harness none(Doc(Sub(kSoftmaxNet, {{"NETATTRS", ""}, {"LAYERATTRS", ""}})));
  ASSERT_TRUE(none.ok());
  ASSERT_TRUE(none.Eval({{"x", N(4)}}).ok());
  EXPECT_NEAR(none.Num("pa"), 4, kTol);
}

TEST(NeuralNetwork, OutputThroughDerivedFieldAndSparseConnections) {
  // The output DerivedField refers to a LocalTransformations field holding the
  // NormContinuous; the second layer connects to an input directly (skip).
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<NeuralNetwork functionName="regression" activationFunction="identity">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <LocalTransformations>
    <DerivedField name="ynorm" optype="continuous" dataType="double">
      <NormContinuous field="y"><LinearNorm orig="0" norm="-1"/><LinearNorm orig="10" norm="0"/><LinearNorm orig="30" norm="1"/></NormContinuous>
    </DerivedField>
  </LocalTransformations>
  <NeuralInputs>
    <NeuralInput id="i"><DerivedField optype="continuous" dataType="double"><FieldRef field="x"/></DerivedField></NeuralInput>
  </NeuralInputs>
  <NeuralLayer>
    <Neuron id="h1"><Con from="i" weight="1"/></Neuron>
    <Neuron id="h2"><Con from="i" weight="2"/></Neuron>
  </NeuralLayer>
  <NeuralLayer>
    <Neuron id="o" bias="0.1"><Con from="h1" weight="0.1"/><Con from="i" weight="0.05"/></Neuron>
    <Neuron id="o2"><Con from="h2" weight="1"/></Neuron>
  </NeuralLayer>
  <NeuralOutputs>
    <NeuralOutput outputNeuron="o"><DerivedField optype="continuous" dataType="double"><FieldRef field="ynorm"/></DerivedField></NeuralOutput>
  </NeuralOutputs>
</NeuralNetwork>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  // x = 2: o = 0.1*2 + 0.05*2 + 0.1 = 0.4 -> second segment: 10 + 0.4 * 20 = 18.
  ASSERT_TRUE(h.Eval({{"x", N(2)}}).ok());
  EXPECT_NEAR(h.Num("y"), 18, 1e-12);
  // x = -10: o = -1 - 0.5 + 0.1 = -1.4 -> below the first norm: JPMML does not
  // extrapolate, the record fails.
  EXPECT_FALSE(h.Eval({{"x", N(-10)}}).ok());
}

TEST(RegressionFamilies, BadDocumentsAreRefusedWithThePath) {
  // A connection from a neuron of the same or a later layer.
  Harness nn(Doc(Sub(kOneNeuron, {{"ACT", "identity"}, {"NETATTRS", ""}, {"LAYERATTRS", ""}, {"BIAS", "0"}})));
  ASSERT_TRUE(nn.ok());
  std::string forward = Sub(kOneNeuron, {{"ACT", "identity"}, {"NETATTRS", ""}, {"LAYERATTRS", ""}, {"BIAS", "0"}});
  forward.replace(forward.find(R"(from="1")"), 8, R"(from="n")");
  Harness nn_bad(Doc(forward));
  ASSERT_FALSE(nn_bad.ok());
  EXPECT_NE(std::string(nn_bad.status().message()).find("/PMML/NeuralNetwork/NeuralLayer/Neuron/Con"),
            std::string::npos)
      << nn_bad.status();
  // An output neuron that does not exist.
  std::string no_out = Sub(kOneNeuron, {{"ACT", "identity"}, {"NETATTRS", ""}, {"LAYERATTRS", ""}, {"BIAS", "0"}});
  no_out.replace(no_out.find(R"(outputNeuron="n")"), 16, R"(outputNeuron="q")");
  EXPECT_FALSE(Harness(Doc(no_out)).ok());

  // A PPCell whose predictor is in neither list.
  std::string glm = Sub(kGlmRegression, {{"TYPE", "regression"}, {"ATTRS", ""}, {"B0", "1"}, {"B2", "3"}});
  glm.replace(glm.find(R"(<FactorList><Predictor name="color"/></FactorList>)"), 50, "");
  Harness glm_bad(Doc(glm));
  ASSERT_FALSE(glm_bad.ok());
  EXPECT_NE(std::string(glm_bad.status().message()).find("PPCell"), std::string::npos) << glm_bad.status();
  // Unknown model type; multinomialLogistic declared as regression.
  EXPECT_FALSE(Harness(Doc(Sub(kGlmRegression, {{"TYPE", "bogus"}, {"ATTRS", ""}, {"B0", "1"}, {"B2", "3"}}))).ok());
  EXPECT_FALSE(
      Harness(Doc(Sub(kGlmRegression, {{"TYPE", "multinomialLogistic"}, {"ATTRS", ""}, {"B0", "1"}, {"B2", "3"}})))
          .ok());
  // Cox without its baseline tables.
  std::string cox = Sub(kCox, {{"STRATA", ""}, {"MAX", R"(maxTime="1")"}, {"TABLES", ""}});
  cox.replace(cox.find("<BaseCumHazardTables"), cox.find("</BaseCumHazardTables>") + 22 - cox.find("<BaseCumHazardTables"), "");
  EXPECT_FALSE(Harness(Doc(cox)).ok());
}

TEST(NeuralNetwork, WideLayersUseTheHeapBufferAndStayCorrect) {
  // 300 identity neurons (more than the inline buffer), each x * (i + 1); the
  // output neuron sums them with weight 1: x * 300 * 301 / 2.
  std::string neurons, cons;
  for (int i = 0; i < 300; ++i) {
    neurons += "<Neuron id=\"h" + std::to_string(i) + "\"><Con from=\"in\" weight=\"" + std::to_string(i + 1) + "\"/></Neuron>";
    cons += "<Con from=\"h" + std::to_string(i) + "\" weight=\"1\"/>";
  }
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/><DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<NeuralNetwork functionName="regression" activationFunction="identity">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <NeuralInputs><NeuralInput id="in"><DerivedField optype="continuous" dataType="double"><FieldRef field="x"/></DerivedField></NeuralInput></NeuralInputs>
  <NeuralLayer>)" + neurons + R"(</NeuralLayer>
  <NeuralLayer><Neuron id="o">)" + cons + R"(</Neuron></NeuralLayer>
  <NeuralOutputs><NeuralOutput outputNeuron="o"><DerivedField optype="continuous" dataType="double"><FieldRef field="y"/></DerivedField></NeuralOutput></NeuralOutputs>
</NeuralNetwork>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(2)}}).ok());
  EXPECT_NEAR(h.Num("y"), 2.0 * 300 * 301 / 2, 1e-9);
}

// ---------------------------------------------------------------------------
// Float math context (x-mathContext / mathContext = "float"): JPMML's FloatValue
// rounds every step to float and computes exp(x) as (float)pow(2.7182817, x).

float JpmmlFloatExp(float x) { return static_cast<float>(std::pow(2.7182817, static_cast<double>(x))); }

TEST(RegressionModel, FloatMathContextSumsInFloat) {
  // 1 * x + 2^24 at x = 1: 16777217 is not a float; the float sum rounds
  // (ties to even) to 16777216, the double sum keeps 16777217.
  const char* doc = R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<RegressionModel functionName="regression" $CTX>
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <RegressionTable intercept="16777216"><NumericPredictor name="x" coefficient="1"/></RegressionTable>
</RegressionModel>)";
  for (const char* ctx : {"x-mathContext=\"float\"", "mathContext=\"float\""}) {
    Harness h(Doc(Sub(doc, {{"CTX", ctx}})));
    ASSERT_TRUE(h.ok()) << ctx << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(1)}}).ok());
    EXPECT_EQ(h.Num("y"), 16777216.0) << ctx;
    // Inputs are narrowed to float too: 0.1 becomes 0.100000001490116...
    ASSERT_TRUE(h.Eval({{"x", N(0.1)}}).ok());
    EXPECT_EQ(h.Num("y"), 16777216.0) << ctx;
  }
  Harness dbl(Doc(Sub(doc, {{"CTX", "x-mathContext=\"double\""}})));
  ASSERT_TRUE(dbl.ok());
  ASSERT_TRUE(dbl.Eval({{"x", N(1)}}).ok());
  EXPECT_EQ(dbl.Num("y"), 16777217.0);
}

TEST(RegressionModel, FloatMathContextBinaryLogit) {
  Harness h(Doc(Sub(kBinary, {{"NORM", "logit\" x-mathContext=\"float"}, {"I2", "0"}, {"T2", ""}})));
  ASSERT_TRUE(h.ok()) << h.status();
  // x = 5.5 -> y = 10. p_yes = 1f / (1f + exp_f(-10)), p_no = 1f - p_yes, both in float:
  // p_no is a multiple of 2^-24 (about 4.54e-5), not the double 1 - sigmoid(10).
  ASSERT_TRUE(h.Eval({{"x", N(5.5)}}).ok());
  const float p_yes = 1.0f / (1.0f + JpmmlFloatExp(-10.0f));
  EXPECT_EQ(h.Num("p_yes"), static_cast<double>(p_yes));
  EXPECT_EQ(h.Num("p_no"), static_cast<double>(1.0f - p_yes));
  EXPECT_NE(h.Num("p_no"), 1 - Sigmoid(10));
  EXPECT_NEAR(h.Num("p_no"), 1 - Sigmoid(10), 1e-7);
  EXPECT_EQ(h.Str("c"), "yes");
  // x = 10.5 -> y = 20: sigmoid(20) = 1 - 2.1e-9 rounds to 1f, so p_no is exactly 0.
  ASSERT_TRUE(h.Eval({{"x", N(10.5)}}).ok());
  EXPECT_EQ(h.Num("p_yes"), 1.0);
  EXPECT_EQ(h.Num("p_no"), 0.0);
  // A missing input still gives no probabilities.
  ASSERT_TRUE(h.Eval({}).ok());
  EXPECT_TRUE(h.Out("p_yes").missing());
  // JPMML has no float inverse probit: refused when compiled.
  Harness probit(Doc(Sub(kBinary, {{"NORM", "probit\" x-mathContext=\"float"}, {"I2", "0"}, {"T2", ""}})));
  EXPECT_FALSE(probit.ok());
}

TEST(RegressionModel, FloatMathContextSoftmax) {
  // Two real tables with softmax: exp_f(v - max) per class, float sum and division.
  Harness h(Doc(Sub(kBinary, {{"NORM", "softmax\" x-mathContext=\"float"},
                              {"I2", "0.25"},
                              {"T2", R"(<NumericPredictor name="x" coefficient="-1"/>)"}})));
  ASSERT_TRUE(h.ok()) << h.status();
  // x = 0.3: yes = -0.4 (float), no = -0.3 + 0.25 = -0.05 (float) -> max = no.
  ASSERT_TRUE(h.Eval({{"x", N(0.3)}}).ok());
  const float x = 0.3f;
  const float yes = 2.0f * x + -1.0f;
  const float no = -1.0f * x + 0.25f;
  const float e_yes = JpmmlFloatExp(yes - no);
  const float e_no = JpmmlFloatExp(no - no);  // 1
  const float sum = e_yes + e_no;
  EXPECT_EQ(h.Num("p_yes"), static_cast<double>(e_yes / sum));
  EXPECT_EQ(h.Num("p_no"), static_cast<double>(e_no / sum));
  EXPECT_EQ(h.Str("c"), "no");
}

TEST(NeuralNetwork, DenormalizedOutputOutsideTheRangeFails) {
  // JPMML-Evaluator does not extrapolate an output NormContinuous: out of range
  // (here above norm 1) the record fails; the ends themselves are fine.
  Harness h(Doc(R"(
<DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
</DataDictionary>
<NeuralNetwork functionName="regression" activationFunction="identity">
  <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
  <NeuralInputs>
    <NeuralInput id="i"><DerivedField optype="continuous" dataType="double"><FieldRef field="x"/></DerivedField></NeuralInput>
  </NeuralInputs>
  <NeuralLayer><Neuron id="o" bias="0"><Con from="i" weight="1"/></Neuron></NeuralLayer>
  <NeuralOutputs>
    <NeuralOutput outputNeuron="o"><DerivedField optype="continuous" dataType="double">
      <NormContinuous field="y"><LinearNorm orig="100" norm="0"/><LinearNorm orig="200" norm="1"/></NormContinuous>
    </DerivedField></NeuralOutput>
  </NeuralOutputs>
</NeuralNetwork>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(0.25)}}).ok());
  EXPECT_NEAR(h.Num("y"), 125, 1e-12);
  ASSERT_TRUE(h.Eval({{"x", N(0)}}).ok());
  EXPECT_NEAR(h.Num("y"), 100, 1e-12);
  ASSERT_TRUE(h.Eval({{"x", N(1)}}).ok());
  EXPECT_NEAR(h.Num("y"), 200, 1e-12);
  absl::Status above = h.Eval({{"x", N(1.5)}});
  EXPECT_FALSE(above.ok());
  EXPECT_NE(std::string(above.message()).find("NormContinuous"), std::string::npos) << above;
  EXPECT_FALSE(h.Eval({{"x", N(-0.5)}}).ok());
  // The context is usable again for the next record.
  ASSERT_TRUE(h.Eval({{"x", N(0.5)}}).ok());
  EXPECT_NEAR(h.Num("y"), 150, 1e-12);
}

TEST(NeuralNetwork, FloatMathContext) {
  // z = 2x + 0.5*1 + bias(0.25), every step in float; logistic with JPMML's float exp.
  const float x = 0.3f;
  const float z = ((0.0f + 2.0f * x) + 0.5f * 1.0f) + 0.25f;
  struct Case {
    std::string act;
    float expected;
  };
  const std::vector<Case> cases = {
      {"logistic", 1.0f / (1.0f + JpmmlFloatExp(-z))},
      {"exponential", JpmmlFloatExp(z)},
      {"tanh", static_cast<float>(std::tanh(static_cast<double>(z)))},
      {"Gauss", JpmmlFloatExp(-(z * z))},
      {"identity", z},
  };
  for (const Case& c : cases) {
    Harness h(Doc(Sub(kOneNeuron, {{"ACT", c.act},
                                   {"NETATTRS", "x-mathContext=\"float\""},
                                   {"LAYERATTRS", ""},
                                   {"BIAS", "0.25"}})));
    ASSERT_TRUE(h.ok()) << c.act << ": " << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(0.3)}}).ok()) << c.act;
    EXPECT_EQ(h.Num("y"), static_cast<double>(c.expected)) << c.act;
  }
  // The float result differs from the double one (0.3 is narrowed to float first).
  Harness dbl(Doc(Sub(kOneNeuron, {{"ACT", "identity"}, {"NETATTRS", ""}, {"LAYERATTRS", ""}, {"BIAS", "0.25"}})));
  ASSERT_TRUE(dbl.ok());
  ASSERT_TRUE(dbl.Eval({{"x", N(0.3)}}).ok());
  EXPECT_NE(dbl.Num("y"), static_cast<double>(z));
  EXPECT_NEAR(dbl.Num("y"), static_cast<double>(z), 1e-6);
}

}  // namespace
}  // namespace evs::pmml
