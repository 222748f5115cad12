// TreeModel and MiningModel: small hand-written documents with expected
// values worked out by hand (see the comments next to each expectation).

#include <functional>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "pmml/pmml.h"
#include "pmml/value.h"

namespace evs::pmml {
namespace {

using Record = std::map<std::string, std::string>;  // input name -> text; absent = missing
using Outputs = std::map<std::string, Value>;

std::string Doc(const std::string& dictionary, const std::string& model) {
  return absl::StrCat(R"(<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><Header/>)",
                      "<DataDictionary>", dictionary, "</DataDictionary>", model, "</PMML>");
}

std::unique_ptr<CompiledModel> MustLoad(const std::string& xml) {
  auto m = CompiledModel::Load(xml);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  return std::move(*m);
}

absl::StatusOr<Outputs> RunRecord(const CompiledModel& m, EvalContext& ctx, const Record& in) {
  ctx.BeginRecord();
  for (const auto& [name, text] : in) {
    int i = m.InputIndex(name);
    if (i < 0) return absl::NotFoundError(name);
    m.SetInput(ctx, i, text);
  }
  absl::Status st = m.Evaluate(ctx);
  if (!st.ok()) return st;
  Outputs out;
  for (size_t i = 0; i < m.outputs().size(); ++i) {
    out[m.outputs()[i].name] = m.Output(ctx, static_cast<int>(i));
  }
  return out;
}

Outputs MustRun(const CompiledModel& m, const Record& in) {
  auto ctx = m.NewContext();
  auto out = RunRecord(m, *ctx, in);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Outputs{};
}

double Num(const Outputs& o, const std::string& name) {
  auto it = o.find(name);
  if (it == o.end() || it->second.missing()) return NAN;
  return it->second.num;
}

std::string Str(const Outputs& o, const std::string& name) {
  auto it = o.find(name);
  if (it == o.end()) return "<absent>";
  if (it->second.missing()) return "<missing>";
  return FormatValue(it->second);
}

bool Missing(const Outputs& o, const std::string& name) {
  auto it = o.find(name);
  return it != o.end() && it->second.missing();
}

// ------------------------------------------------------------------ TreeModel

const char* kRegDict = R"(
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
  <DataField name="s" optype="categorical" dataType="string">
    <Value value="a"/><Value value="b"/><Value value="c"/></DataField>
  <DataField name="t" optype="continuous" dataType="double"/>)";

std::string RegressionTree(bool with_ids, const std::string& attrs = "") {
  std::string tree = R"(
<TreeModel functionName="regression" ATTRS>
  <MiningSchema><MiningField name="x"/><MiningField name="y"/><MiningField name="s"/>
    <MiningField name="t" usageType="target"/></MiningSchema>
  <Output><OutputField name="node" feature="entityId" dataType="string" optype="categorical"/></Output>
  <Node ID_root score="0"><True/>
    <Node ID_L score="10"><SimplePredicate field="x" operator="lessThan" value="5"/>
      <Node ID_LL score="11"><SimplePredicate field="y" operator="lessOrEqual" value="1"/></Node>
      <Node ID_LR score="12"><SimplePredicate field="y" operator="greaterThan" value="1"/></Node>
    </Node>
    <Node ID_R score="20"><SimplePredicate field="x" operator="greaterOrEqual" value="5"/>
      <Node ID_RA score="21"><SimpleSetPredicate field="s" booleanOperator="isIn">
        <Array n="2" type="string">a b</Array></SimpleSetPredicate></Node>
      <Node ID_RC score="23"><SimplePredicate field="s" operator="equal" value="c"/></Node>
      <Node ID_RX score="24"><CompoundPredicate booleanOperator="and">
        <SimplePredicate field="y" operator="greaterThan" value="0"/><False/></CompoundPredicate></Node>
    </Node>
  </Node>
</TreeModel>)";
  for (const char* id : {"RA", "RC", "RX", "LL", "LR", "root", "L", "R"}) {
    std::string key = absl::StrCat("ID_", id, " ");
    std::string repl = with_ids ? absl::StrCat("id=\"", id, "\" ") : "";
    tree = absl::StrReplaceAll(tree, {{key, repl}});
  }
  return Doc(kRegDict, absl::StrReplaceAll(tree, {{"ATTRS", attrs}}));
}

TEST(TreeModelTest, RegressionWalkAndEntityIds) {
  auto m = MustLoad(RegressionTree(true));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "1"}, {"y", "0"}});
  EXPECT_EQ(Num(o, "t"), 11);
  EXPECT_EQ(Str(o, "node"), "LL");
  o = MustRun(*m, {{"x", "1"}, {"y", "2"}});
  EXPECT_EQ(Num(o, "t"), 12);
  EXPECT_EQ(Str(o, "node"), "LR");
  o = MustRun(*m, {{"x", "7"}, {"s", "a"}});  // SimpleSetPredicate isIn
  EXPECT_EQ(Num(o, "t"), 21);
  o = MustRun(*m, {{"x", "5"}, {"s", "b"}});  // 5 >= 5
  EXPECT_EQ(Num(o, "t"), 21);
  o = MustRun(*m, {{"x", "7"}, {"s", "c"}});  // string SimplePredicate
  EXPECT_EQ(Num(o, "t"), 23);
  EXPECT_EQ(Str(o, "node"), "RC");
  // s missing: RA, RC unknown (strategy none: next sibling); RX is and(unknown, false) = false;
  // no true child and returnNullPrediction (default) -> no prediction.
  o = MustRun(*m, {{"x", "7"}, {"y", "3"}});
  EXPECT_TRUE(Missing(o, "t"));
  EXPECT_TRUE(Missing(o, "node"));
  // x missing: both children unknown -> no true child -> null.
  o = MustRun(*m, {{"y", "3"}});
  EXPECT_TRUE(Missing(o, "t"));
}

TEST(TreeModelTest, EntityIdIsDocumentOrderIndexWithoutIdAttribute) {
  auto m = MustLoad(RegressionTree(false));
  ASSERT_NE(m, nullptr);
  // Pre-order: root=1, L=2, LL=3, LR=4, R=5, RA=6, RC=7, RX=8.
  EXPECT_EQ(Str(MustRun(*m, {{"x", "1"}, {"y", "0"}}), "node"), "3");
  EXPECT_EQ(Str(MustRun(*m, {{"x", "1"}, {"y", "9"}}), "node"), "4");
  EXPECT_EQ(Str(MustRun(*m, {{"x", "9"}, {"s", "c"}}), "node"), "7");
}

TEST(TreeModelTest, NoTrueChildReturnLastPrediction) {
  auto m = MustLoad(RegressionTree(true, R"(noTrueChildStrategy="returnLastPrediction")"));
  ASSERT_NE(m, nullptr);
  // s missing, y=3: R has no true child -> R itself (it has a score).
  Outputs o = MustRun(*m, {{"x", "7"}, {"y", "3"}});
  EXPECT_EQ(Num(o, "t"), 20);
  EXPECT_EQ(Str(o, "node"), "R");
  // x missing: the root has no true child -> root (score 0).
  EXPECT_EQ(Num(MustRun(*m, {{"y", "3"}}), "t"), 0);
}

const char* kClsDict = R"(
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
  <DataField name="c" optype="categorical" dataType="string">
    <Value value="yes"/><Value value="no"/></DataField>)";

// n0 (yes 6/no 4) -> n1 [x<5] (3/1) | n2 [x>=5] (3/3, score no) -> n3 [y<0] (2/0) | n4 [y>0] (1/3)
std::string ClassificationTree(const std::string& mvs, const std::string& ntc = "returnNullPrediction") {
  std::string model = R"(
<TreeModel functionName="classification" missingValueStrategy="MVS" missingValuePenalty="0.8"
           noTrueChildStrategy="NTC">
  <MiningSchema><MiningField name="x"/><MiningField name="y"/>
    <MiningField name="c" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="p_yes" feature="probability" value="yes" dataType="double" optype="continuous"/>
    <OutputField name="p_no" feature="probability" value="no" dataType="double" optype="continuous"/>
    <OutputField name="c_yes" feature="confidence" value="yes" dataType="double" optype="continuous"/>
    <OutputField name="node" feature="entityId" dataType="string" optype="categorical"/>
  </Output>
  <Node id="n0" score="yes" recordCount="10" defaultChild="n2"><True/>
    <ScoreDistribution value="yes" recordCount="6" confidence="0.6"/>
    <ScoreDistribution value="no" recordCount="4" confidence="0.4"/>
    <Node id="n1" score="yes" recordCount="4"><SimplePredicate field="x" operator="lessThan" value="5"/>
      <ScoreDistribution value="yes" recordCount="3" confidence="0.75"/>
      <ScoreDistribution value="no" recordCount="1" confidence="0.25"/>
    </Node>
    <Node id="n2" score="no" recordCount="6" defaultChild="n4">
      <SimplePredicate field="x" operator="greaterOrEqual" value="5"/>
      <ScoreDistribution value="yes" recordCount="3" confidence="0.5"/>
      <ScoreDistribution value="no" recordCount="3" confidence="0.5"/>
      <Node id="n3" score="yes" recordCount="2"><SimplePredicate field="y" operator="lessThan" value="0"/>
        <ScoreDistribution value="yes" recordCount="2" confidence="0.9"/>
        <ScoreDistribution value="no" recordCount="0" confidence="0.1"/>
      </Node>
      <Node id="n4" score="no" recordCount="4"><SimplePredicate field="y" operator="greaterThan" value="0"/>
        <ScoreDistribution value="yes" recordCount="1" confidence="0.2"/>
        <ScoreDistribution value="no" recordCount="3" confidence="0.8"/>
      </Node>
    </Node>
  </Node>
</TreeModel>)";
  return Doc(kClsDict, absl::StrReplaceAll(model, {{"MVS", mvs}, {"NTC", ntc}}));
}

TEST(TreeModelTest, ClassificationProbabilitiesAndConfidences) {
  auto m = MustLoad(ClassificationTree("none"));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "1"}});
  EXPECT_EQ(Str(o, "c"), "yes");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.75);  // 3 / 4
  EXPECT_DOUBLE_EQ(Num(o, "p_no"), 0.25);
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.75);  // confidence attribute, no penalty
  EXPECT_EQ(Str(o, "node"), "n1");
  o = MustRun(*m, {{"x", "6"}, {"y", "1"}});
  EXPECT_EQ(Str(o, "c"), "no");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.25);
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.2);
  // Score attribute wins over the distribution: n2 is "no" at 3/3.
  auto last = MustLoad(ClassificationTree("none", "returnLastPrediction"));
  ASSERT_NE(last, nullptr);
  o = MustRun(*last, {{"x", "6"}, {"y", "0"}});  // y=0: neither y<0 nor y>0
  EXPECT_EQ(Str(o, "c"), "no");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.5);
  EXPECT_EQ(Str(o, "node"), "n2");
}

TEST(TreeModelTest, MissingValueStrategyNone) {
  auto m = MustLoad(ClassificationTree("none"));
  ASSERT_NE(m, nullptr);
  // y missing under n2: n3, n4 unknown -> skipped -> no true child -> null.
  Outputs o = MustRun(*m, {{"x", "7"}});
  EXPECT_TRUE(Missing(o, "c"));
  EXPECT_TRUE(Missing(o, "p_yes"));
  auto last = MustLoad(ClassificationTree("none", "returnLastPrediction"));
  ASSERT_NE(last, nullptr);
  o = MustRun(*last, {{"x", "7"}});
  EXPECT_EQ(Str(o, "c"), "no");  // n2
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.5);
  o = MustRun(*last, {{"y", "1"}});  // x missing: the root itself
  EXPECT_EQ(Str(o, "c"), "yes");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.6);
}

TEST(TreeModelTest, MissingValueStrategyLastPrediction) {
  auto m = MustLoad(ClassificationTree("lastPrediction"));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "7"}});  // stops at n2
  EXPECT_EQ(Str(o, "c"), "no");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.5);
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.5);  // JPMML: penalty only for defaultChild levels
  EXPECT_EQ(Str(o, "node"), "n2");
  o = MustRun(*m, {{"y", "1"}});  // stops at the root
  EXPECT_EQ(Str(o, "c"), "yes");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.6);
  EXPECT_EQ(Str(o, "node"), "n0");
}

TEST(TreeModelTest, MissingValueStrategyNullPrediction) {
  auto m = MustLoad(ClassificationTree("nullPrediction"));
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(Missing(MustRun(*m, {{"x", "7"}}), "c"));
  EXPECT_TRUE(Missing(MustRun(*m, {{"y", "7"}}), "c"));
  EXPECT_EQ(Str(MustRun(*m, {{"x", "7"}, {"y", "-1"}}), "c"), "yes");  // n3
}

TEST(TreeModelTest, MissingValueStrategyDefaultChildWithPenalty) {
  auto m = MustLoad(ClassificationTree("defaultChild"));
  ASSERT_NE(m, nullptr);
  // x=7, y missing: n2 -> default n4, one missing level: confidence 0.2 * 0.8.
  Outputs o = MustRun(*m, {{"x", "7"}});
  EXPECT_EQ(Str(o, "c"), "no");
  EXPECT_EQ(Str(o, "node"), "n4");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.25);  // probabilities are not penalized
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.2 * 0.8);
  // x missing, y=-1: root -> default n2 (level 1), then y<0 -> n3.
  o = MustRun(*m, {{"y", "-1"}});
  EXPECT_EQ(Str(o, "node"), "n3");
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.9 * 0.8);
  // Both missing: two levels: 0.2 * 0.8^2.
  o = MustRun(*m, {});
  EXPECT_EQ(Str(o, "node"), "n4");
  EXPECT_DOUBLE_EQ(Num(o, "c_yes"), 0.2 * 0.8 * 0.8);
}

TEST(TreeModelTest, MissingValueStrategyWeightedConfidence) {
  auto m = MustLoad(ClassificationTree("weightedConfidence"));
  ASSERT_NE(m, nullptr);
  // x=7, y missing: n3 weight 2/6, n4 weight 4/6.
  // yes: 1/3*0.9 + 2/3*0.2 = 13/30; no: 1/3*0.1 + 2/3*0.8 = 17/30.
  Outputs o = MustRun(*m, {{"x", "7"}});
  EXPECT_EQ(Str(o, "c"), "no");
  EXPECT_NEAR(Num(o, "p_yes"), 13.0 / 30, 1e-12);
  EXPECT_NEAR(Num(o, "p_no"), 17.0 / 30, 1e-12);
  EXPECT_TRUE(Missing(o, "node"));  // several leaves
  // Complete record: the plain walk.
  o = MustRun(*m, {{"x", "7"}, {"y", "1"}});
  EXPECT_EQ(Str(o, "node"), "n4");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.25);
}

TEST(TreeModelTest, MissingValueStrategyAggregateNodes) {
  auto m = MustLoad(ClassificationTree("aggregateNodes"));
  ASSERT_NE(m, nullptr);
  // x missing, y=1: n1 (3/1) and n2 -> n4 (1/3): yes 4, no 4 -> tie -> first label "yes".
  Outputs o = MustRun(*m, {{"y", "1"}});
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.5);
  EXPECT_EQ(Str(o, "c"), "yes");
  // x=7, y missing: n3 (2/0) + n4 (1/3): yes 3/6.
  o = MustRun(*m, {{"x", "7"}});
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.5);
  // x missing, y=-1: n1 (3/1) + n3 (2/0): yes 5/6.
  o = MustRun(*m, {{"y", "-1"}});
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 5.0 / 6);
  EXPECT_EQ(Str(o, "c"), "yes");
}

TEST(TreeModelTest, ProbabilityAttributeWinsOverRecordCount) {
  std::string model = R"(
<TreeModel functionName="classification">
  <MiningSchema><MiningField name="x"/><MiningField name="c" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="p_yes" feature="probability" value="yes" dataType="double" optype="continuous"/>
  </Output>
  <Node score="no"><True/>
    <ScoreDistribution value="yes" recordCount="50" probability="0.2"/>
    <ScoreDistribution value="no" recordCount="50" probability="0.8"/>
  </Node>
</TreeModel>)";
  auto m = MustLoad(Doc(kClsDict, model));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "1"}});
  EXPECT_EQ(Str(o, "c"), "no");
  EXPECT_DOUBLE_EQ(Num(o, "p_yes"), 0.2);
}

TEST(TreeModelTest, CompoundAndSurrogatePredicatesAndIsMissing) {
  std::string model = R"(
<TreeModel functionName="regression">
  <MiningSchema><MiningField name="x"/><MiningField name="y"/><MiningField name="t" usageType="target"/></MiningSchema>
  <Node score="0"><True/>
    <Node score="1"><SimplePredicate field="x" operator="isMissing"/></Node>
    <Node score="2"><CompoundPredicate booleanOperator="surrogate">
        <SimplePredicate field="y" operator="greaterThan" value="10"/>
        <SimplePredicate field="x" operator="greaterThan" value="10"/></CompoundPredicate></Node>
    <Node score="3"><CompoundPredicate booleanOperator="or">
        <SimplePredicate field="x" operator="equal" value="1"/>
        <SimplePredicate field="x" operator="notEqual" value="2"/></CompoundPredicate></Node>
    <Node score="4"><True/></Node>
  </Node>
</TreeModel>)";
  auto m = MustLoad(Doc(kRegDict, model));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Num(MustRun(*m, {{"y", "0"}}), "t"), 1);               // isMissing
  EXPECT_EQ(Num(MustRun(*m, {{"x", "11"}}), "t"), 2);              // surrogate: y missing, x > 10
  EXPECT_EQ(Num(MustRun(*m, {{"x", "11"}, {"y", "0"}}), "t"), 3);  // y <= 10; or(false, true)
  EXPECT_EQ(Num(MustRun(*m, {{"x", "2"}, {"y", "0"}}), "t"), 4);   // or(false, false)
}

TEST(TreeModelTest, BadDocumentsGiveElementErrors) {
  std::string model = R"(
<TreeModel functionName="regression" missingValueStrategy="defaultChild">
  <MiningSchema><MiningField name="x"/><MiningField name="t" usageType="target"/></MiningSchema>
  <Node score="0" defaultChild="nope"><True/>
    <Node id="a" score="1"><SimplePredicate field="x" operator="lessThan" value="1"/></Node>
  </Node>
</TreeModel>)";
  auto m = CompiledModel::Load(Doc(kRegDict, model));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("defaultChild"), std::string::npos) << m.status();
  EXPECT_NE(m.status().message().find("TreeModel/Node"), std::string::npos) << m.status();

  std::string bad = R"(
<TreeModel functionName="regression" missingValueStrategy="sometimes">
  <MiningSchema><MiningField name="x"/><MiningField name="t" usageType="target"/></MiningSchema>
  <Node score="0"><True/></Node>
</TreeModel>)";
  EXPECT_FALSE(CompiledModel::Load(Doc(kRegDict, bad)).ok());
}

TEST(TreeModelTest, DefaultChildMissingAttributeFailsTheRecord) {
  std::string model = R"(
<TreeModel functionName="regression" missingValueStrategy="defaultChild">
  <MiningSchema><MiningField name="x"/><MiningField name="t" usageType="target"/></MiningSchema>
  <Node score="0"><True/>
    <Node score="1"><SimplePredicate field="x" operator="lessThan" value="1"/></Node>
    <Node score="2"><SimplePredicate field="x" operator="greaterOrEqual" value="1"/></Node>
  </Node>
</TreeModel>)";
  auto m = MustLoad(Doc(kRegDict, model));
  ASSERT_NE(m, nullptr);
  auto ctx = m->NewContext();
  auto out = RunRecord(*m, *ctx, {});
  EXPECT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("defaultChild"), std::string::npos) << out.status();
  // The context recovers for the next record.
  out = RunRecord(*m, *ctx, {{"x", "3"}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Num(*out, "t"), 2);
}

// ---------------------------------------------------------------- MiningModel

// A one-split regression tree on x: x < 5 -> lo, else hi.
std::string Stump(const std::string& lo, const std::string& hi, const std::string& field = "x",
                  const std::string& mvs = "none") {
  return absl::StrCat(R"(<TreeModel functionName="regression" missingValueStrategy=")", mvs, R"(">
    <MiningSchema><MiningField name=")", field, R"("/></MiningSchema>
    <Node score="0"><True/>
      <Node score=")", lo, R"("><SimplePredicate field=")", field, R"(" operator="lessThan" value="5"/></Node>
      <Node score=")", hi, R"("><SimplePredicate field=")", field, R"(" operator="greaterOrEqual" value="5"/></Node>
    </Node></TreeModel>)");
}

// A one-split classification tree on x with P(a) on each side (100 records a side).
std::string ClsStump(const std::string& lo, double pa_lo, const std::string& hi, double pa_hi,
                     const std::string& field = "x", const std::string& mvs = "none") {
  auto dist = [](double pa) {
    return absl::StrCat(R"(<ScoreDistribution value="a" recordCount=")", pa * 100,
                        R"("/><ScoreDistribution value="b" recordCount=")", (1 - pa) * 100, R"("/>)");
  };
  return absl::StrCat(R"(<TreeModel functionName="classification" missingValueStrategy=")", mvs, R"(">
    <MiningSchema><MiningField name=")", field, R"("/></MiningSchema>
    <Node score="a"><True/>)", dist(0.5), R"(
      <Node score=")", lo, R"("><SimplePredicate field=")", field, R"(" operator="lessThan" value="5"/>)",
                      dist(pa_lo), R"(</Node>
      <Node score=")", hi, R"("><SimplePredicate field=")", field, R"(" operator="greaterOrEqual" value="5"/>)",
                      dist(pa_hi), R"(</Node>
    </Node></TreeModel>)");
}

struct Seg {
  Seg(std::string m, double w = 1, std::string p = "<True/>", std::string i = "")
      : model(std::move(m)), weight(w), predicate(std::move(p)), id(std::move(i)) {}
  std::string model;
  double weight;
  std::string predicate;
  std::string id;
};

std::string Mining(const std::string& function, const std::string& method,
                   const std::vector<Seg>& segs, const std::string& extra_seg_attrs = "",
                   const std::string& output = "") {
  std::string target = function == "classification" ? "c" : "t";
  std::string s = absl::StrCat(R"(<MiningModel functionName=")", function, R"(">
  <MiningSchema><MiningField name="x"/><MiningField name="y"/>
    <MiningField name=")", target, R"(" usageType="target"/></MiningSchema>)", output,
                               R"(<Segmentation multipleModelMethod=")", method, "\" ",
                               extra_seg_attrs, ">");
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string id = segs[i].id.empty() ? std::to_string(i + 1) : segs[i].id;
    absl::StrAppend(&s, "<Segment id=\"", id, "\" weight=\"", segs[i].weight, "\">",
                    segs[i].predicate, segs[i].model, "</Segment>");
  }
  absl::StrAppend(&s, "</Segmentation></MiningModel>");
  return s;
}

const char* kMixDict = R"(
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="y" optype="continuous" dataType="double"/>
  <DataField name="t" optype="continuous" dataType="double"/>
  <DataField name="c" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>)";

double RegressionMining(const std::string& method, const Record& in) {
  std::vector<Seg> segs = {{Stump("1", "2"), 1}, {Stump("10", "20"), 2}, {Stump("100", "200"), 3}};
  auto m = MustLoad(Doc(kMixDict, Mining("regression", method, segs)));
  if (m == nullptr) return NAN;
  return Num(MustRun(*m, in), "t");
}

TEST(MiningModelTest, RegressionMethods) {
  const Record left = {{"x", "1"}};  // values 1, 10, 100 with weights 1, 2, 3
  EXPECT_DOUBLE_EQ(RegressionMining("sum", left), 111);
  EXPECT_DOUBLE_EQ(RegressionMining("average", left), 37);
  EXPECT_DOUBLE_EQ(RegressionMining("weightedSum", left), 1 + 20 + 300);
  EXPECT_DOUBLE_EQ(RegressionMining("weightedAverage", left), 321.0 / 6);
  EXPECT_DOUBLE_EQ(RegressionMining("median", left), 10);
  // Sorted (1,w1) (10,w2) (100,w3); half of 6 is 3, reached at 10.
  EXPECT_DOUBLE_EQ(RegressionMining("weightedMedian", left), 10);
  EXPECT_DOUBLE_EQ(RegressionMining("max", left), 100);
  EXPECT_DOUBLE_EQ(RegressionMining("sum", {{"x", "9"}}), 222);
  EXPECT_DOUBLE_EQ(RegressionMining("selectFirst", left), 1);
  EXPECT_DOUBLE_EQ(RegressionMining("modelChain", left), 100);
}

TEST(MiningModelTest, MedianOfEvenCountAveragesTheMiddle) {
  std::vector<Seg> segs = {{Stump("1", "2")}, {Stump("10", "20")}, {Stump("100", "200")},
                           {Stump("1000", "2000")}};
  auto m = MustLoad(Doc(kMixDict, Mining("regression", "median", segs)));
  ASSERT_NE(m, nullptr);
  EXPECT_DOUBLE_EQ(Num(MustRun(*m, {{"x", "1"}}), "t"), 55);
}

std::string ProbOutputs() {
  return R"(<Output>
    <OutputField name="p_a" feature="probability" value="a" dataType="double" optype="continuous"/>
    <OutputField name="p_b" feature="probability" value="b" dataType="double" optype="continuous"/>
  </Output>)";
}

Outputs ClassificationMining(const std::string& method, std::vector<double> weights, const Record& in) {
  // For x < 5: seg1 "a" P(a)=0.75, seg2 "b" P(a)=0.4, seg3 "a" P(a)=0.9.
  std::vector<Seg> segs = {{ClsStump("a", 0.75, "b", 0.25), weights[0]},
                           {ClsStump("b", 0.4, "a", 0.6), weights[1]},
                           {ClsStump("a", 0.9, "b", 0.3), weights[2]}};
  auto m = MustLoad(Doc(kMixDict, Mining("classification", method, segs, "", ProbOutputs())));
  if (m == nullptr) return {};
  return MustRun(*m, in);
}

TEST(MiningModelTest, ClassificationMethods) {
  const Record left = {{"x", "1"}};
  Outputs o = ClassificationMining("majorityVote", {1, 1, 1}, left);  // a, b, a
  EXPECT_EQ(Str(o, "c"), "a");
  EXPECT_DOUBLE_EQ(Num(o, "p_a"), 2.0 / 3);
  EXPECT_DOUBLE_EQ(Num(o, "p_b"), 1.0 / 3);
  o = ClassificationMining("weightedMajorityVote", {1, 3, 1}, left);  // a:2, b:3
  EXPECT_EQ(Str(o, "c"), "b");
  EXPECT_DOUBLE_EQ(Num(o, "p_b"), 0.6);
  o = ClassificationMining("average", {1, 1, 1}, left);
  EXPECT_EQ(Str(o, "c"), "a");
  EXPECT_NEAR(Num(o, "p_a"), (0.75 + 0.4 + 0.9) / 3, 1e-15);
  o = ClassificationMining("weightedAverage", {1, 3, 1}, left);
  EXPECT_NEAR(Num(o, "p_a"), (0.75 + 1.2 + 0.9) / 5, 1e-15);
  EXPECT_EQ(Str(o, "c"), "a");
  // median: per label medians a .75, b .25 -> a; the segment closest to .75 is seg1.
  o = ClassificationMining("median", {1, 1, 1}, left);
  EXPECT_EQ(Str(o, "c"), "a");
  EXPECT_DOUBLE_EQ(Num(o, "p_a"), 0.75);
  // max: a .9 (seg3), b .6 -> a with seg3's distribution.
  o = ClassificationMining("max", {1, 1, 1}, left);
  EXPECT_EQ(Str(o, "c"), "a");
  EXPECT_DOUBLE_EQ(Num(o, "p_a"), 0.9);
}

TEST(MiningModelTest, VoteTieGoesToTheFirstLabelVotedFor) {
  std::vector<Seg> segs = {{ClsStump("b", 0.4, "a", 0.6)}, {ClsStump("a", 0.75, "b", 0.25)}};
  auto m = MustLoad(Doc(kMixDict, Mining("classification", "majorityVote", segs, "", ProbOutputs())));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "1"}});  // b then a: 1 vote each
  EXPECT_EQ(Str(o, "c"), "b");
  EXPECT_DOUBLE_EQ(Num(o, "p_a"), 0.5);
}

TEST(MiningModelTest, SelectFirstSelectAllAndSegmentPredicates) {
  std::string out = R"(<Output><OutputField name="seg" feature="entityId" dataType="string" optype="categorical"/></Output>)";
  std::vector<Seg> segs = {
      {Stump("1", "2"), 1, R"(<SimplePredicate field="y" operator="greaterThan" value="100"/>)", "first"},
      {Stump("10", "20"), 1, "<True/>", "second"},
      {Stump("100", "200"), 1, "<True/>", "third"}};
  auto m = MustLoad(Doc(kMixDict, Mining("regression", "selectFirst", segs, "", out)));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "1"}, {"y", "0"}});
  EXPECT_EQ(Num(o, "t"), 10);
  EXPECT_EQ(Str(o, "seg"), "second");
  o = MustRun(*m, {{"x", "1"}, {"y", "101"}});
  EXPECT_EQ(Num(o, "t"), 1);
  EXPECT_EQ(Str(o, "seg"), "first");

  // selectAll with one active segment gives its value; with several it is an error.
  std::vector<Seg> all = {
      {Stump("1", "2"), 1, R"(<SimplePredicate field="y" operator="greaterThan" value="100"/>)"},
      {Stump("10", "20"), 1, R"(<SimplePredicate field="y" operator="lessThan" value="0"/>)"}};
  auto sa = MustLoad(Doc(kMixDict, Mining("regression", "selectAll", all)));
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(Num(MustRun(*sa, {{"x", "1"}, {"y", "-1"}}), "t"), 10);
  all[1].predicate = "<True/>";
  sa = MustLoad(Doc(kMixDict, Mining("regression", "selectAll", all)));
  ASSERT_NE(sa, nullptr);
  auto ctx = sa->NewContext();
  auto r = RunRecord(*sa, *ctx, {{"x", "1"}, {"y", "101"}});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("selectAll"), std::string::npos) << r.status();
}

TEST(MiningModelTest, ModelChainSeesEarlierSegmentOutputs) {
  // Segment 1 publishes s1 (its prediction); segment 2 splits on s1; the
  // MiningModel's Output reads s1 too.
  std::string seg1 = R"(<TreeModel functionName="regression">
    <MiningSchema><MiningField name="x"/></MiningSchema>
    <Output><OutputField name="s1" feature="predictedValue" dataType="double" optype="continuous"/></Output>
    <Node score="0"><True/>
      <Node score="10"><SimplePredicate field="x" operator="lessThan" value="5"/></Node>
      <Node score="20"><True/></Node>
    </Node></TreeModel>)";
  std::string seg2 = R"(<TreeModel functionName="regression">
    <MiningSchema><MiningField name="s1"/></MiningSchema>
    <Node score="0"><True/>
      <Node score="1"><SimplePredicate field="s1" operator="lessThan" value="15"/></Node>
      <Node score="2"><True/></Node>
    </Node></TreeModel>)";
  std::string out = R"(<Output>
    <OutputField name="chained" feature="transformedValue" dataType="double" optype="continuous">
      <FieldRef field="s1"/></OutputField></Output>)";
  auto m = MustLoad(Doc(kMixDict, Mining("regression", "modelChain", {{seg1}, {seg2}}, "", out)));
  ASSERT_NE(m, nullptr);
  Outputs o = MustRun(*m, {{"x", "1"}});
  EXPECT_EQ(Num(o, "t"), 1);
  EXPECT_EQ(Num(o, "chained"), 10);
  o = MustRun(*m, {{"x", "7"}});
  EXPECT_EQ(Num(o, "t"), 2);
  EXPECT_EQ(Num(o, "chained"), 20);
}

TEST(MiningModelTest, NestedMiningModel) {
  std::string inner = absl::StrCat(R"(<MiningModel functionName="regression">
    <MiningSchema><MiningField name="x"/></MiningSchema><Segmentation multipleModelMethod="average">)",
                                   "<Segment><True/>", Stump("1", "2"), "</Segment>",
                                   "<Segment><True/>", Stump("3", "4"), "</Segment>",
                                   "</Segmentation></MiningModel>");
  auto m = MustLoad(Doc(kMixDict, Mining("regression", "sum", {{inner}, {Stump("100", "200")}})));
  ASSERT_NE(m, nullptr);
  EXPECT_DOUBLE_EQ(Num(MustRun(*m, {{"x", "1"}}), "t"), 2 + 100);   // (1+3)/2 + 100
  EXPECT_DOUBLE_EQ(Num(MustRun(*m, {{"x", "8"}}), "t"), 3 + 200);   // (2+4)/2 + 200
}

TEST(MiningModelTest, MissingPredictionTreatment) {
  // The middle segment splits on y with nullPrediction: y missing -> no prediction.
  std::vector<Seg> segs = {{Stump("1", "2")}, {Stump("10", "20", "y", "nullPrediction")},
                           {Stump("100", "200")}};
  auto load = [&](const std::string& attrs) {
    return MustLoad(Doc(kMixDict, Mining("regression", "average", segs, attrs)));
  };
  const Record rec = {{"x", "1"}};
  auto cont = load("");
  ASSERT_NE(cont, nullptr);
  EXPECT_TRUE(Missing(MustRun(*cont, rec), "t"));  // continue: a missing value poisons the average
  EXPECT_DOUBLE_EQ(Num(MustRun(*cont, {{"x", "1"}, {"y", "1"}}), "t"), 37);
  auto ret = load(R"(missingPredictionTreatment="returnMissing")");
  ASSERT_NE(ret, nullptr);
  EXPECT_TRUE(Missing(MustRun(*ret, rec), "t"));
  auto skip = load(R"(missingPredictionTreatment="skipSegment")");
  ASSERT_NE(skip, nullptr);
  EXPECT_DOUBLE_EQ(Num(MustRun(*skip, rec), "t"), 50.5);  // (1 + 100) / 2
  auto skip_thr = load(R"(missingPredictionTreatment="skipSegment" missingThreshold="0.2")");
  ASSERT_NE(skip_thr, nullptr);
  EXPECT_TRUE(Missing(MustRun(*skip_thr, rec), "t"));  // 1/3 missing > 0.2
  auto skip_ok = load(R"(missingPredictionTreatment="skipSegment" missingThreshold="0.5")");
  ASSERT_NE(skip_ok, nullptr);
  EXPECT_DOUBLE_EQ(Num(MustRun(*skip_ok, rec), "t"), 50.5);
  // JPMML's x- form of the attributes in pre-4.4 documents.
  auto skip_x = load(R"(x-missingPredictionTreatment="skipSegment" x-missingThreshold="0.2")");
  ASSERT_NE(skip_x, nullptr);
  EXPECT_TRUE(Missing(MustRun(*skip_x, rec), "t"));
}

TEST(MiningModelTest, MissingVotesWithContinue) {
  std::vector<Seg> segs = {{ClsStump("a", 0.75, "b", 0.25)},
                           {ClsStump("b", 0.4, "a", 0.6, "y", "nullPrediction")},
                           {ClsStump("a", 0.9, "b", 0.3)}};
  auto m = MustLoad(Doc(kMixDict, Mining("classification", "majorityVote", segs, "", ProbOutputs())));
  ASSERT_NE(m, nullptr);
  // Votes a, <missing>, a: the missing vote does not win; shares over the real votes.
  Outputs o = MustRun(*m, {{"x", "1"}});
  EXPECT_EQ(Str(o, "c"), "a");
  EXPECT_DOUBLE_EQ(Num(o, "p_a"), 1.0);
  // Only the y segment is valid and missing: missing wins.
  std::vector<Seg> one = {{ClsStump("b", 0.4, "a", 0.6, "y", "nullPrediction")}};
  auto m1 = MustLoad(Doc(kMixDict, Mining("classification", "majorityVote", one, "", ProbOutputs())));
  ASSERT_NE(m1, nullptr);
  EXPECT_TRUE(Missing(MustRun(*m1, {{"x", "1"}}), "c"));
}

// ------------------------------------------------ forest fast path vs generic

// A random binary forest over f0..f4. `wrap_true` replaces each segment's
// <True/> by an equivalent compound predicate, which disables the fast path.
// leaf_pct: chance (percent) that a node below depth 3 is a leaf; sklearn_style: every split
// is "lessOrEqual" then True, as sklearn2pmml writes them.
std::string RandomForest(int trees, int depth, const std::string& function, const std::string& method,
                         bool wrap_true, uint32_t seed, int leaf_pct = 0, bool sklearn_style = false,
                         int features = 5, bool float_math = false, bool float_fields = false) {
  const std::string math = float_math ? " x-mathContext=\"float\"" : "";
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> feat(0, features - 1);
  std::uniform_real_distribution<double> thr(-1, 1);
  std::uniform_int_distribution<int> cls(0, 2);
  std::uniform_int_distribution<int> cnt(0, 20);
  const char* ops[][2] = {{"lessOrEqual", "greaterThan"}, {"lessThan", "greaterOrEqual"}};
  std::string dict;
  for (int f = 0; f < features; ++f) {
    absl::StrAppend(&dict, "<DataField name=\"f", f, "\" optype=\"continuous\" dataType=\"",
                    float_fields ? "float" : "double", "\"/>");
  }
  absl::StrAppend(&dict, R"(<DataField name="t" optype="continuous" dataType="double"/>
    <DataField name="c" optype="categorical" dataType="string"><Value value="k0"/><Value value="k1"/><Value value="k2"/></DataField>)");
  const bool cls_model = function == "classification";
  std::string schema = "<MiningSchema>";
  for (int f = 0; f < features; ++f) absl::StrAppend(&schema, "<MiningField name=\"f", f, "\"/>");
  std::string body;
  int next_id = 0;
  std::function<void(int, const std::string&)> node = [&](int d, const std::string& pred) {
    std::string attrs = absl::StrCat("id=\"", next_id++, "\"");
    std::string inner;
    if (d == depth || (d >= 3 && static_cast<int>(rng() % 100) < leaf_pct)) {
      if (cls_model) {
        int k = cls(rng);
        absl::StrAppend(&attrs, " score=\"k", k, "\"");
        int c0 = cnt(rng) + (k == 0 ? 20 : 0), c1 = cnt(rng) + (k == 1 ? 20 : 0), c2 = cnt(rng) + (k == 2 ? 20 : 0);
        inner = absl::StrCat("<ScoreDistribution value=\"k0\" recordCount=\"", c0, "\"/>",
                             "<ScoreDistribution value=\"k1\" recordCount=\"", c1, "\"/>",
                             "<ScoreDistribution value=\"k2\" recordCount=\"", c2, "\"/>");
      } else {
        absl::StrAppend(&attrs, " score=\"", thr(rng) * 10, "\"");
      }
      absl::StrAppend(&body, "<Node ", attrs, ">", pred, inner, "</Node>");
      return;
    }
    int f = feat(rng);
    double t = std::round(thr(rng) * 100) / 100;
    // float fields: thresholds are floats written in full, as sklearn2pmml does.
    std::string ts = float_fields ? absl::StrFormat("%.9g", static_cast<float>(t)) : absl::StrCat(t);
    int opk = sklearn_style ? 0 : static_cast<int>(rng() % 2);
    bool second_true = sklearn_style || rng() % 2 == 0;
    absl::StrAppend(&attrs, " defaultChild=\"", next_id, "\"");
    if (!cls_model) absl::StrAppend(&attrs, " score=\"0\"");
    absl::StrAppend(&body, "<Node ", attrs, ">", pred);
    node(d + 1, absl::StrCat("<SimplePredicate field=\"f", f, "\" operator=\"", ops[opk][0], "\" value=\"", ts, "\"/>"));
    node(d + 1, second_true ? "<True/>"
                            : absl::StrCat("<SimplePredicate field=\"f", f, "\" operator=\"", ops[opk][1],
                                           "\" value=\"", ts, "\"/>"));
    absl::StrAppend(&body, "</Node>");
  };
  std::string segs;
  for (int i = 0; i < trees; ++i) {
    body.clear();
    next_id = 0;
    node(0, "<True/>");
    std::string seg_pred = wrap_true ? "<CompoundPredicate booleanOperator=\"and\"><True/><True/></CompoundPredicate>"
                                     : "<True/>";
    absl::StrAppend(&segs, "<Segment id=\"", i + 1, "\" weight=\"", 1 + i % 3, "\">", seg_pred,
                    "<TreeModel functionName=\"", function, "\" missingValueStrategy=\"defaultChild\"", math, ">",
                    schema, "</MiningSchema>", body, "</TreeModel></Segment>");
  }
  std::string target = cls_model ? "c" : "t";
  std::string output = cls_model ? R"(<Output>
      <OutputField name="p0" feature="probability" value="k0" dataType="double" optype="continuous"/>
      <OutputField name="p1" feature="probability" value="k1" dataType="double" optype="continuous"/>
      <OutputField name="p2" feature="probability" value="k2" dataType="double" optype="continuous"/></Output>)"
                                 : "";
  return Doc(dict, absl::StrCat("<MiningModel functionName=\"", function, "\"", math, ">", schema,
                                "<MiningField name=\"", target, "\" usageType=\"target\"/></MiningSchema>",
                                output, "<Segmentation multipleModelMethod=\"", method, "\">", segs,
                                "</Segmentation></MiningModel>"));
}

void ExpectFastEqualsGeneric(const std::string& function, const std::string& method,
                             bool float_math = false, bool sklearn_float = false) {
  SCOPED_TRACE(absl::StrCat(function, " ", method, float_math ? " float" : "",
                            sklearn_float ? " sklearn-float" : ""));
  auto fast = MustLoad(RandomForest(20, 6, function, method, false, 7, sklearn_float ? 20 : 0,
                                    sklearn_float, 5, float_math, sklearn_float));
  auto slow = MustLoad(RandomForest(20, 6, function, method, true, 7, sklearn_float ? 20 : 0,
                                    sklearn_float, 5, float_math, sklearn_float));
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(slow, nullptr);
  auto fctx = fast->NewContext();
  auto sctx = slow->NewContext();
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> val(-1.2, 1.2);
  int missing_records = 0;
  for (int r = 0; r < 400; ++r) {
    Record rec;
    for (int f = 0; f < 5; ++f) {
      if (r % 5 == 0 && f == r % 4) {
        ++missing_records;
        continue;  // some records take the generic path inside the fast model too
      }
      rec[absl::StrCat("f", f)] = absl::StrCat(std::round(val(rng) * 100) / 100);
    }
    auto a = RunRecord(*fast, *fctx, rec);
    auto b = RunRecord(*slow, *sctx, rec);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(a->size(), b->size());
    for (const auto& [name, v] : *a) {
      const Value& w = b->at(name);
      ASSERT_EQ(v.missing(), w.missing()) << name << " record " << r;
      if (v.is_number()) {
        EXPECT_EQ(v.num, w.num) << name << " record " << r;  // bit-identical
      } else {
        EXPECT_EQ(FormatValue(v), FormatValue(w)) << name << " record " << r;
      }
    }
  }
  EXPECT_GT(missing_records, 0);
}

TEST(ForestFastPathTest, SameResultsAsGenericPath) {
  ExpectFastEqualsGeneric("regression", "sum");
  ExpectFastEqualsGeneric("regression", "average");
  ExpectFastEqualsGeneric("regression", "weightedAverage");
  ExpectFastEqualsGeneric("regression", "weightedSum");
  ExpectFastEqualsGeneric("classification", "majorityVote");
  ExpectFastEqualsGeneric("classification", "weightedMajorityVote");
  ExpectFastEqualsGeneric("classification", "average");
  ExpectFastEqualsGeneric("classification", "weightedAverage");
  ExpectFastEqualsGeneric("regression", "sum", true);  // XGBoost-style float arithmetic
  ExpectFastEqualsGeneric("regression", "weightedAverage", true);
  // float fields and float thresholds: the 8-byte node walk.
  ExpectFastEqualsGeneric("classification", "average", false, true);
  ExpectFastEqualsGeneric("regression", "sum", true, true);
}

TEST(ForestFastPathTest, ConcurrentEvaluationMatchesSingleThread) {
  auto m = MustLoad(RandomForest(30, 6, "classification", "average", false, 9, 20, true, 5, false, true));
  ASSERT_NE(m, nullptr);
  std::vector<Record> records;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> val(-1.2, 1.2);
  for (int r = 0; r < 200; ++r) {
    Record rec;
    for (int f = 0; f < 5; ++f) {
      if (r % 7 == 0 && f == 2) continue;  // some records take the generic path
      rec[absl::StrCat("f", f)] = absl::StrCat(std::round(val(rng) * 100) / 100);
    }
    records.push_back(std::move(rec));
  }
  std::vector<double> expected;
  {
    auto ctx = m->NewContext();
    for (const Record& rec : records) {
      auto out = RunRecord(*m, *ctx, rec);
      ASSERT_TRUE(out.ok()) << out.status();
      expected.push_back(Num(*out, "p0"));
    }
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = m->NewContext();
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < records.size(); ++i) {
          auto out = RunRecord(*m, *ctx, records[i]);
          double p = out.ok() ? Num(*out, "p0") : -1;
          if (!(p == expected[i] || (std::isnan(p) && std::isnan(expected[i])))) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// Forests of multi-child nodes: each inner node has 1-5 children tested in
// document order (mixed operators and fields, thresholds on a 0.25 grid so
// records hit them exactly), ending with True (sklearn2pmml's compacted
// trees), with the complement of the previous child, with a False child, or
// with nothing (no true child possible). Inner nodes carry a score (and a
// ScoreDistribution) except some, so that returnLastPrediction meets both
// cases. The fast path rewrites these nodes into chains of binary splits.
std::string ChainForest(const std::string& function, const std::string& method, const std::string& ntc,
                        bool wrap_true, uint32_t seed, bool float_math = false) {
  const std::string math = float_math ? " x-mathContext=\"float\"" : "";
  std::mt19937 rng(seed);
  const int features = 4;
  const char* ops[] = {"lessOrEqual", "lessThan", "greaterThan", "greaterOrEqual", "equal", "notEqual"};
  const char* complement[] = {"greaterThan", "greaterOrEqual", "lessOrEqual", "lessThan", "notEqual", "equal"};
  std::string dict;
  for (int f = 0; f < features; ++f) {
    absl::StrAppend(&dict, "<DataField name=\"f", f, "\" optype=\"continuous\" dataType=\"double\"/>");
  }
  absl::StrAppend(&dict, R"(<DataField name="t" optype="continuous" dataType="double"/>
    <DataField name="c" optype="categorical" dataType="string"><Value value="k0"/><Value value="k1"/><Value value="k2"/></DataField>)");
  const bool cls_model = function == "classification";
  std::string schema = "<MiningSchema>";
  for (int f = 0; f < features; ++f) absl::StrAppend(&schema, "<MiningField name=\"f", f, "\"/>");
  std::string body;
  auto score = [&](std::string* attrs, std::string* inner) {
    if (cls_model) {
      int k = static_cast<int>(rng() % 3);
      absl::StrAppend(attrs, " score=\"k", k, "\"");
      int c[3];
      for (int j = 0; j < 3; ++j) c[j] = static_cast<int>(rng() % 10) + (j == k ? 12 : 0);
      *inner = absl::StrCat("<ScoreDistribution value=\"k0\" recordCount=\"", c[0], "\"/>",
                            "<ScoreDistribution value=\"k1\" recordCount=\"", c[1], "\"/>",
                            "<ScoreDistribution value=\"k2\" recordCount=\"", c[2], "\"/>");
    } else {
      absl::StrAppend(attrs, " score=\"", static_cast<int>(rng() % 2001) / 100.0 - 10, "\"");
    }
  };
  auto simple = [&](int f, const char* op, double t) {
    return absl::StrCat("<SimplePredicate field=\"f", f, "\" operator=\"", op, "\" value=\"", t, "\"/>");
  };
  std::function<void(int, const std::string&)> node = [&](int d, const std::string& pred) {
    std::string attrs, inner;
    if (d == 4 || (d >= 1 && rng() % 4 == 0)) {
      score(&attrs, &inner);
      absl::StrAppend(&body, "<Node", attrs, ">", pred, inner, "</Node>");
      return;
    }
    if (rng() % 5 != 0) score(&attrs, &inner);  // some inner nodes have no score
    absl::StrAppend(&body, "<Node", attrs, ">", pred, inner);
    const int kids = 1 + static_cast<int>(rng() % 5);
    const int ending = static_cast<int>(rng() % 4);  // 0 True, 1 complement, 2 False, 3 nothing
    int last_f = 0, last_op = 0;
    double last_t = 0;
    for (int k = 0; k < kids; ++k) {
      last_f = static_cast<int>(rng() % features);
      last_op = static_cast<int>(rng() % 6);
      if (last_op >= 4 && rng() % 2 == 0) last_op -= 4;  // fewer equal / notEqual
      last_t = static_cast<int>(rng() % 13) * 0.25 - 1.5;
      node(d + 1, simple(last_f, ops[last_op], last_t));
    }
    if (ending == 0) node(d + 1, "<True/>");
    if (ending == 1) node(d + 1, simple(last_f, complement[last_op], last_t));
    if (ending == 2) {
      node(d + 1, "<False/>");
      if (rng() % 2 == 0) node(d + 1, "<True/>");
    }
    absl::StrAppend(&body, "</Node>");
  };
  std::string segs;
  for (int i = 0; i < 24; ++i) {
    body.clear();
    node(0, "<True/>");
    std::string seg_pred = wrap_true ? "<CompoundPredicate booleanOperator=\"and\"><True/><True/></CompoundPredicate>"
                                     : "<True/>";
    absl::StrAppend(&segs, "<Segment id=\"", i + 1, "\" weight=\"", 1 + i % 3, "\">", seg_pred,
                    "<TreeModel functionName=\"", function, "\" missingValueStrategy=\"nullPrediction\"",
                    " noTrueChildStrategy=\"", ntc, "\"", math, ">", schema, "</MiningSchema>", body,
                    "</TreeModel></Segment>");
  }
  std::string target = cls_model ? "c" : "t";
  std::string output = cls_model ? R"(<Output>
      <OutputField name="p0" feature="probability" value="k0" dataType="double" optype="continuous"/>
      <OutputField name="p1" feature="probability" value="k1" dataType="double" optype="continuous"/>
      <OutputField name="p2" feature="probability" value="k2" dataType="double" optype="continuous"/></Output>)"
                                 : "";
  return Doc(dict, absl::StrCat("<MiningModel functionName=\"", function, "\"", math, ">", schema,
                                "<MiningField name=\"", target, "\" usageType=\"target\"/></MiningSchema>",
                                output, "<Segmentation multipleModelMethod=\"", method,
                                "\" missingPredictionTreatment=\"skipSegment\">", segs,
                                "</Segmentation></MiningModel>"));
}

// Fast (segments with predicate True) against generic (the same forest with
// CompoundPredicate segments, which disables the fast path), bit for bit,
// with records on the thresholds, missing values and NaN.
void ExpectChainFastEqualsGeneric(const std::string& function, const std::string& method,
                                  const std::string& ntc, uint32_t seed, bool float_math = false) {
  SCOPED_TRACE(absl::StrCat(function, " ", method, " ", ntc, " seed ", seed, float_math ? " float" : ""));
  auto fast = MustLoad(ChainForest(function, method, ntc, false, seed, float_math));
  auto slow = MustLoad(ChainForest(function, method, ntc, true, seed, float_math));
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(slow, nullptr);
  auto fctx = fast->NewContext();
  auto sctx = slow->NewContext();
  std::vector<std::string> names = {"f0", "f1", "f2", "f3"};
  std::vector<int> fidx = fast->Bind(names);
  std::vector<int> sidx = slow->Bind(names);
  std::mt19937 rng(seed + 100);
  int missing_outputs = 0, present_outputs = 0;
  for (int r = 0; r < 600; ++r) {
    double row[4];
    for (double& v : row) v = static_cast<int>(rng() % 17) * 0.25 - 2;  // often on a threshold
    if (r % 10 == 3) row[r % 4] = NAN;
    const bool with_missing = r % 10 == 7;
    fctx->BeginRecord();
    sctx->BeginRecord();
    for (int f = 0; f < 4; ++f) {
      if (with_missing && f == r % 4) continue;
      fast->SetInput(*fctx, fidx[f], row[f]);
      slow->SetInput(*sctx, sidx[f], row[f]);
    }
    absl::Status a = fast->Evaluate(*fctx);
    absl::Status b = slow->Evaluate(*sctx);
    ASSERT_EQ(a.ok(), b.ok()) << a << " / " << b << " record " << r;
    if (!a.ok()) continue;
    ASSERT_EQ(fast->outputs().size(), slow->outputs().size());
    for (size_t i = 0; i < fast->outputs().size(); ++i) {
      Value v = fast->Output(*fctx, static_cast<int>(i));
      Value w = slow->Output(*sctx, static_cast<int>(i));
      ASSERT_EQ(v.missing(), w.missing()) << fast->outputs()[i].name << " record " << r;
      (v.missing() ? missing_outputs : present_outputs)++;
      if (v.is_number()) {
        EXPECT_EQ(v.num, w.num) << fast->outputs()[i].name << " record " << r;  // bit-identical
      } else {
        EXPECT_EQ(FormatValue(v), FormatValue(w)) << fast->outputs()[i].name << " record " << r;
      }
    }
  }
  EXPECT_GT(present_outputs, 0);
}

TEST(ForestFastPathTest, MultiChildChainsAndScoredSingleChildNodesMatchGenericPath) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    for (const char* ntc : {"returnLastPrediction", "returnNullPrediction"}) {
      ExpectChainFastEqualsGeneric("regression", "sum", ntc, seed);
      ExpectChainFastEqualsGeneric("regression", "weightedAverage", ntc, seed);
      ExpectChainFastEqualsGeneric("regression", "sum", ntc, seed, true);
      ExpectChainFastEqualsGeneric("classification", "majorityVote", ntc, seed);
      ExpectChainFastEqualsGeneric("classification", "weightedMajorityVote", ntc, seed);
      ExpectChainFastEqualsGeneric("classification", "average", ntc, seed);
      ExpectChainFastEqualsGeneric("classification", "weightedAverage", ntc, seed);
    }
  }
}

// GBM-style trees by hand: a scored inner node with a single child, under
// both noTrueChildStrategy values (two trees, scores offset by 10, summed).
TEST(ForestFastPathTest, ScoredSingleChildNodesByHand) {
  const std::string dict = R"(<DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="t" optype="continuous" dataType="double"/>)";
  auto tree = [](double offset, const std::string& ntc) {
    return absl::StrCat(
        "<Segment><True/><TreeModel functionName=\"regression\" noTrueChildStrategy=\"", ntc, "\">",
        "<MiningSchema><MiningField name=\"x\"/></MiningSchema>",
        "<Node score=\"", 1 + offset, "\"><True/>",
        "<Node score=\"", 2 + offset, "\"><SimplePredicate field=\"x\" operator=\"lessOrEqual\" value=\"1\"/>",
        "<Node score=\"", 3 + offset, "\"><SimplePredicate field=\"x\" operator=\"greaterThan\" value=\"0\"/></Node>",
        "</Node>",
        "<Node score=\"", 4 + offset, "\"><SimplePredicate field=\"x\" operator=\"greaterThan\" value=\"5\"/></Node>",
        "</Node></TreeModel></Segment>");
  };
  for (const char* ntc : {"returnLastPrediction", "returnNullPrediction"}) {
    SCOPED_TRACE(ntc);
    const bool last = std::string(ntc) == "returnLastPrediction";
    auto m = MustLoad(Doc(dict, absl::StrCat(
        "<MiningModel functionName=\"regression\"><MiningSchema><MiningField name=\"x\"/>",
        "<MiningField name=\"t\" usageType=\"target\"/></MiningSchema>",
        "<Segmentation multipleModelMethod=\"sum\">", tree(0, ntc), tree(10, ntc),
        "</Segmentation></MiningModel>")));
    ASSERT_NE(m, nullptr);
    // x = 0.5: 1 -> 2 (0.5 <= 1) -> 3 (0.5 > 0): 3 + 13.
    EXPECT_EQ(Num(MustRun(*m, {{"x", "0.5"}}), "t"), 16);
    // x = 6: 1 -> 4 (6 > 5): 4 + 14.
    EXPECT_EQ(Num(MustRun(*m, {{"x", "6"}}), "t"), 18);
    // x = -1: 1 -> 2, no true child below 2: its score 2 + 12, or no prediction.
    Outputs o = MustRun(*m, {{"x", "-1"}});
    if (last) {
      EXPECT_EQ(Num(o, "t"), 14);
    } else {
      EXPECT_TRUE(std::isnan(Num(o, "t")));
    }
    // x = 3: no true child of the root: 1 + 11, or no prediction.
    o = MustRun(*m, {{"x", "3"}});
    if (last) {
      EXPECT_EQ(Num(o, "t"), 12);
    } else {
      EXPECT_TRUE(std::isnan(Num(o, "t")));
    }
  }
}

// A vote forest whose leaf has a ScoreDistribution summing to 0: records
// reaching it fail on both paths (TreeModel reports the distribution), others
// are voted.
TEST(ForestFastPathTest, ZeroSumDistributionFailsTheRecordOnBothPaths) {
  const std::string dict = R"(<DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="c" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>)";
  auto forest = [&](const std::string& seg_pred) {
    std::string tree = absl::StrCat(
        "<TreeModel functionName=\"classification\"><MiningSchema><MiningField name=\"x\"/></MiningSchema>",
        "<Node><True/>",
        "<Node score=\"a\"><SimplePredicate field=\"x\" operator=\"lessOrEqual\" value=\"0\"/>",
        "<ScoreDistribution value=\"a\" recordCount=\"0\"/><ScoreDistribution value=\"b\" recordCount=\"0\"/></Node>",
        "<Node score=\"b\"><True/>",
        "<ScoreDistribution value=\"a\" recordCount=\"1\"/><ScoreDistribution value=\"b\" recordCount=\"3\"/></Node>",
        "</Node></TreeModel>");
    return Doc(dict, absl::StrCat(
        "<MiningModel functionName=\"classification\"><MiningSchema><MiningField name=\"x\"/>",
        "<MiningField name=\"c\" usageType=\"target\"/></MiningSchema>",
        "<Segmentation multipleModelMethod=\"majorityVote\">",
        "<Segment id=\"1\">", seg_pred, tree, "</Segment><Segment id=\"2\">", seg_pred, tree, "</Segment>",
        "</Segmentation></MiningModel>"));
  };
  for (const char* pred : {"<True/>", "<CompoundPredicate booleanOperator=\"and\"><True/><True/></CompoundPredicate>"}) {
    SCOPED_TRACE(pred);
    auto m = MustLoad(forest(pred));
    ASSERT_NE(m, nullptr);
    auto ctx = m->NewContext();
    auto ok = RunRecord(*m, *ctx, {{"x", "1"}});
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(Str(*ok, "c"), "b");
    EXPECT_FALSE(RunRecord(*m, *ctx, {{"x", "-1"}}).ok());
  }
}

}  // namespace
}  // namespace evs::pmml
