// Tests of the "misc" model families: naive Bayes, SVM, clustering, k-NN,
// scorecard, rule set, association rules, anomaly detection. Every document
// is written here; expected values are derived by hand in the comments.

#include <cmath>
#include <memory>
#include <string>
#include <thread>
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

Value N(double v) { return Value::Number(v); }
Value S(std::string_view s) { return Value::String(s); }
Value Basket(std::vector<std::string> items) {
  Value v;
  v.kind = Value::Kind::kCollection;
  v.type = DataType::kString;
  v.items = std::move(items);
  return v;
}

// ---------------------------------------------------------------------------
// NaiveBayesModel

const char* kNaiveBayes = R"(
<DataDictionary>
  <DataField name="color" optype="categorical" dataType="string"/>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="n" optype="continuous" dataType="integer"/>
  <DataField name="class" optype="categorical" dataType="string">
    <Value value="yes"/><Value value="no"/>
  </DataField>
</DataDictionary>
<NaiveBayesModel functionName="classification" threshold="0.001">
  <MiningSchema>
    <MiningField name="color"/><MiningField name="x"/><MiningField name="n"/>
    <MiningField name="class" usageType="target"/>
  </MiningSchema>
  <Output>
    <OutputField name="label" feature="predictedValue"/>
    <OutputField name="p_yes" feature="probability" value="yes"/>
    <OutputField name="p_no" feature="probability" value="no"/>
  </Output>
  <BayesInputs>
    <BayesInput fieldName="color">
      <PairCounts value="red"><TargetValueCounts>
        <TargetValueCount value="yes" count="4"/><TargetValueCount value="no" count="1"/>
      </TargetValueCounts></PairCounts>
      <PairCounts value="blue"><TargetValueCounts>
        <TargetValueCount value="yes" count="2"/><TargetValueCount value="no" count="3"/>
      </TargetValueCounts></PairCounts>
      <PairCounts value="green"><TargetValueCounts>
        <TargetValueCount value="yes" count="0"/><TargetValueCount value="no" count="2"/>
      </TargetValueCounts></PairCounts>
    </BayesInput>
    <BayesInput fieldName="x">
      <TargetValueStats>
        <TargetValueStat value="yes"><GaussianDistribution mean="0" variance="1"/></TargetValueStat>
        <TargetValueStat value="no"><GaussianDistribution mean="1" variance="1"/></TargetValueStat>
      </TargetValueStats>
    </BayesInput>
    <BayesInput fieldName="n">
      <TargetValueStats>
        <TargetValueStat value="yes"><PoissonDistribution mean="2"/></TargetValueStat>
        <TargetValueStat value="no"><PoissonDistribution mean="4"/></TargetValueStat>
      </TargetValueStats>
    </BayesInput>
  </BayesInputs>
  <BayesOutput fieldName="class">
    <TargetValueCounts>
      <TargetValueCount value="yes" count="6"/><TargetValueCount value="no" count="4"/>
    </TargetValueCounts>
  </BayesOutput>
</NaiveBayesModel>)";

TEST(NaiveBayesTest, DiscreteContinuousAndThreshold) {
  Harness h(Doc(kNaiveBayes));
  ASSERT_TRUE(h.ok()) << h.status();
  // Count sums per class over the color PairCounts: yes 6, no 6.
  // red: yes 6 * 4/6 = 4, no 4 * 1/6 = 2/3 -> P(yes) = 4 / (4 + 2/3) = 6/7.
  ASSERT_TRUE(h.Eval({{"color", S("red")}}).ok());
  EXPECT_EQ(h.Str("label"), "yes");
  EXPECT_NEAR(h.Num("p_yes"), 6.0 / 7.0, 1e-12);
  EXPECT_NEAR(h.Num("p_no"), 1.0 / 7.0, 1e-12);
  // + x = 0: yes * phi(0), no * phi(-1); the ratio is e^-0.5.
  ASSERT_TRUE(h.Eval({{"color", S("red")}, {"x", N(0)}}).ok());
  double yes = 4, no = 2.0 / 3.0 * std::exp(-0.5);
  EXPECT_NEAR(h.Num("p_yes"), yes / (yes + no), 1e-12);
  // green: a zero count becomes the threshold: yes 6 * 0.001, no 4 * 2/6.
  ASSERT_TRUE(h.Eval({{"color", S("green")}}).ok());
  EXPECT_EQ(h.Str("label"), "no");
  EXPECT_NEAR(h.Num("p_yes"), 0.006 / (0.006 + 4.0 / 3.0), 1e-12);
  // Unknown category and missing inputs are skipped: the prior 6:4.
  ASSERT_TRUE(h.Eval({{"color", S("pink")}}).ok());
  EXPECT_NEAR(h.Num("p_yes"), 0.6, 1e-12);
  // Poisson: n = 3: yes e^-2 2^3/3!, no e^-4 4^3/3!.
  ASSERT_TRUE(h.Eval({{"n", N(3)}}).ok());
  yes = 6 * std::exp(-2) * 8;
  no = 4 * std::exp(-4) * 64;
  EXPECT_NEAR(h.Num("p_yes"), yes / (yes + no), 1e-12);
  // A density below the threshold is raised to it: x = 40 gives ~0 for both.
  ASSERT_TRUE(h.Eval({{"x", N(40)}}).ok());
  EXPECT_NEAR(h.Num("p_yes"), 0.6, 1e-12);
}

TEST(NaiveBayesTest, DerivedFieldDiscretizationInBayesInput) {
  // age is binned by a DerivedField inside the BayesInput: < 30 "young", else "old".
  const std::string doc = Doc(R"(<DataDictionary>
      <DataField name="age" optype="continuous" dataType="double"/>
      <DataField name="class" optype="categorical" dataType="string"><Value value="p"/><Value value="q"/></DataField>
    </DataDictionary>
    <NaiveBayesModel functionName="classification" threshold="0.01">
      <MiningSchema><MiningField name="age"/><MiningField name="class" usageType="target"/></MiningSchema>
      <Output><OutputField name="pp" feature="probability" value="p"/></Output>
      <BayesInputs>
        <BayesInput fieldName="age">
          <DerivedField name="age_bin" optype="categorical" dataType="string">
            <Discretize field="age">
              <DiscretizeBin binValue="young"><Interval closure="closedOpen" rightMargin="30"/></DiscretizeBin>
              <DiscretizeBin binValue="old"><Interval closure="closedOpen" leftMargin="30"/></DiscretizeBin>
            </Discretize>
          </DerivedField>
          <PairCounts value="young"><TargetValueCounts>
            <TargetValueCount value="p" count="3"/><TargetValueCount value="q" count="1"/>
          </TargetValueCounts></PairCounts>
          <PairCounts value="old"><TargetValueCounts>
            <TargetValueCount value="p" count="1"/><TargetValueCount value="q" count="3"/>
          </TargetValueCounts></PairCounts>
        </BayesInput>
      </BayesInputs>
      <BayesOutput fieldName="class"><TargetValueCounts>
        <TargetValueCount value="p" count="4"/><TargetValueCount value="q" count="4"/>
      </TargetValueCounts></BayesOutput>
    </NaiveBayesModel>)");
  Harness h(doc);
  ASSERT_TRUE(h.ok()) << h.status();
  // young: p 4 * 3/4 = 3, q 4 * 1/4 = 1.
  ASSERT_TRUE(h.Eval({{"age", N(20)}}).ok());
  EXPECT_NEAR(h.Num("pp"), 0.75, 1e-12);
  ASSERT_TRUE(h.Eval({{"age", N(45)}}).ok());
  EXPECT_NEAR(h.Num("pp"), 0.25, 1e-12);
  ASSERT_TRUE(h.Eval({}).ok());
  EXPECT_NEAR(h.Num("pp"), 0.5, 1e-12);
}

TEST(NaiveBayesTest, BadDocuments) {
  std::string no_output = Doc(kNaiveBayes);
  size_t b = no_output.find("<BayesOutput"), e = no_output.find("</BayesOutput>") + 14;
  no_output.erase(b, e - b);
  Harness h(no_output);
  EXPECT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("/PMML/NaiveBayesModel"), std::string::npos) << h.status();
  std::string bad_variance = Doc(kNaiveBayes);
  bad_variance.replace(bad_variance.find(R"(variance="1")"), 12, R"(variance="0")");
  EXPECT_FALSE(Harness(bad_variance).ok());
}

// ---------------------------------------------------------------------------
// SupportVectorMachineModel

std::string SvmDoc(std::string_view function, std::string_view attrs, std::string_view kernel,
                   std::string_view target_values, std::string_view outputs, std::string_view vectors,
                   std::string_view machines) {
  std::string target = function == "regression"
                           ? R"(<DataField name="y" optype="continuous" dataType="double"/>)"
                           : std::string(R"(<DataField name="y" optype="categorical" dataType="string">)") +
                                 std::string(target_values) + "</DataField>";
  return Doc(std::string(R"(<DataDictionary>
      <DataField name="x1" optype="continuous" dataType="double"/>
      <DataField name="x2" optype="continuous" dataType="double"/>)") +
             target + R"(</DataDictionary>
    <SupportVectorMachineModel functionName=")" + std::string(function) + "\" " + std::string(attrs) + R"(>
      <MiningSchema><MiningField name="x1"/><MiningField name="x2"/><MiningField name="y" usageType="target"/></MiningSchema>
      <Output>)" + std::string(outputs) + "</Output>" + std::string(kernel) +
             R"(<VectorDictionary><VectorFields><FieldRef field="x1"/><FieldRef field="x2"/></VectorFields>)" +
             std::string(vectors) + "</VectorDictionary>" + std::string(machines) +
             "</SupportVectorMachineModel>");
}

TEST(SvmTest, LinearRegressionWithSparseVector) {
  // f(x) = 0.5 <x,(1,2)> - <x,(0,1)> + 0.25; x = (2,3): 0.5*8 - 3 + 0.25 = 1.25.
  Harness h(SvmDoc("regression", "", "<LinearKernelType/>", "", R"(<OutputField name="out" feature="predictedValue"/>)",
                   R"(<VectorInstance id="v1"><REAL-ARRAY n="2" type="real">1 2</REAL-ARRAY></VectorInstance>
                      <VectorInstance id="v2"><REAL-SparseArray n="2"><Indices>2</Indices><REAL-Entries>1</REAL-Entries></REAL-SparseArray></VectorInstance>)",
                   R"(<SupportVectorMachine><SupportVectors><SupportVector vectorId="v1"/><SupportVector vectorId="v2"/></SupportVectors>
                      <Coefficients absoluteValue="0.25"><Coefficient value="0.5"/><Coefficient value="-1"/></Coefficients></SupportVectorMachine>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x1", N(2)}, {"x2", N(3)}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("out"), 1.25);
  // A missing vector field fails the record (as JPMML-Evaluator).
  EXPECT_FALSE(h.Eval({{"x1", N(2)}}).ok());
}

TEST(SvmTest, Kernels) {
  const std::string vectors =
      R"(<VectorInstance id="v"><REAL-ARRAY n="2" type="real">1 -1</REAL-ARRAY></VectorInstance>)";
  const std::string machine =
      R"(<SupportVectorMachine><SupportVectors><SupportVector vectorId="v"/></SupportVectors>
         <Coefficients absoluteValue="-1"><Coefficient value="2"/></Coefficients></SupportVectorMachine>)";
  const std::string out = R"(<OutputField name="out" feature="predictedValue"/>)";
  // x = (2, 0.5): <x,v> = 1.5, |x-v|^2 = 1 + 2.25 = 3.25.
  struct Case {
    std::string kernel;
    double expected;
  } cases[] = {
      {R"(<PolynomialKernelType gamma="0.5" coef0="1" degree="2"/>)", 2 * std::pow(0.5 * 1.5 + 1, 2) - 1},
      {R"(<RadialBasisKernelType gamma="0.5"/>)", 2 * std::exp(-0.5 * 3.25) - 1},
      {R"(<SigmoidKernelType gamma="2" coef0="-1"/>)", 2 * std::tanh(2 * 1.5 - 1) - 1},
  };
  for (const Case& c : cases) {
    Harness h(SvmDoc("regression", "", c.kernel, "", out, vectors, machine));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x1", N(2)}, {"x2", N(0.5)}}).ok());
    EXPECT_NEAR(h.Num("out"), c.expected, 1e-12) << c.kernel;
  }
}

// One-dimensional machines on x1 (x2 has weight 0): value = x1 - t.
std::string Machine(std::string_view attrs, double t) {
  return "<SupportVectorMachine " + std::string(attrs) +
         R"(><SupportVectors><SupportVector vectorId="e1"/></SupportVectors><Coefficients absoluteValue=")" +
         std::to_string(-t) + R"("><Coefficient value="1"/></Coefficients></SupportVectorMachine>)";
}
const char* kUnitVector = R"(<VectorInstance id="e1"><REAL-ARRAY n="2" type="real">1 0</REAL-ARRAY></VectorInstance>)";
const char* kAbc = R"(<Value value="a"/><Value value="b"/><Value value="c"/>)";
const char* kClassOutputs = R"(<OutputField name="label" feature="predictedValue"/>
  <OutputField name="pa" feature="probability" value="a"/><OutputField name="pb" feature="probability" value="b"/>
  <OutputField name="pc" feature="probability" value="c"/>)";

TEST(SvmTest, OneAgainstOneVotes) {
  // a|b: x-1, a|c: x-2, b|c: x-3; value < 0 votes for targetCategory.
  Harness h(SvmDoc("classification", R"(classificationMethod="OneAgainstOne")", "<LinearKernelType/>", kAbc,
                   kClassOutputs, kUnitVector,
                   Machine(R"(targetCategory="a" alternateTargetCategory="b")", 1) +
                       Machine(R"(targetCategory="a" alternateTargetCategory="c")", 2) +
                       Machine(R"(targetCategory="b" alternateTargetCategory="c")", 3)));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x1", N(0.5)}, {"x2", N(0)}}).ok());  // a, a, b
  EXPECT_EQ(h.Str("label"), "a");
  EXPECT_NEAR(h.Num("pa"), 2.0 / 3, 1e-12);
  EXPECT_NEAR(h.Num("pb"), 1.0 / 3, 1e-12);
  EXPECT_NEAR(h.Num("pc"), 0, 1e-12);
  ASSERT_TRUE(h.Eval({{"x1", N(2.5)}, {"x2", N(0)}}).ok());  // b, c, b
  EXPECT_EQ(h.Str("label"), "b");
  ASSERT_TRUE(h.Eval({{"x1", N(5)}, {"x2", N(0)}}).ok());  // b, c, c
  EXPECT_EQ(h.Str("label"), "c");
  ASSERT_TRUE(h.Eval({{"x1", N(1.5)}, {"x2", N(0)}}).ok());  // b, a, b
  EXPECT_EQ(h.Str("label"), "b");
}

TEST(SvmTest, OneAgainstOneTieGoesToFirstVoted) {
  // a|b: x-1 and c|b: x-2 (targetCategory first); x = 1.5 votes b then c: tie 1:1, b voted first.
  Harness h(SvmDoc("classification", R"(classificationMethod="OneAgainstOne")", "<LinearKernelType/>", kAbc,
                   kClassOutputs, kUnitVector,
                   Machine(R"(targetCategory="a" alternateTargetCategory="b")", 1) +
                       Machine(R"(targetCategory="c" alternateTargetCategory="b")", 1.2) +
                       Machine(R"(targetCategory="c" alternateTargetCategory="a")", 2)));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x1", N(1.5)}, {"x2", N(0)}}).ok());  // b, b, c
  EXPECT_EQ(h.Str("label"), "b");
  ASSERT_TRUE(h.Eval({{"x1", N(1.1)}, {"x2", N(0)}}).ok());  // b, c, c
  EXPECT_EQ(h.Str("label"), "c");
}

TEST(SvmTest, OneAgainstAllSmallestWins) {
  // Values x-1, x-2, x-3: the smallest is always c's; maxWins picks a's.
  for (bool max_wins : {false, true}) {
    Harness h(SvmDoc("classification",
                     max_wins ? R"(classificationMethod="OneAgainstAll" maxWins="true")"
                              : R"(classificationMethod="OneAgainstAll")",
                     "<LinearKernelType/>", kAbc, R"(<OutputField name="label" feature="predictedValue"/>)",
                     kUnitVector,
                     Machine(R"(targetCategory="a")", 1) + Machine(R"(targetCategory="b")", 2) +
                         Machine(R"(targetCategory="c")", 3)));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x1", N(0)}, {"x2", N(0)}}).ok());
    EXPECT_EQ(h.Str("label"), max_wins ? "a" : "c");
  }
}

TEST(SvmTest, AlternateBinaryTargetCategory) {
  Harness h(SvmDoc("classification", R"(alternateBinaryTargetCategory="b")", "<LinearKernelType/>",
                   R"(<Value value="a"/><Value value="b"/>)", R"(<OutputField name="label" feature="predictedValue"/>)",
                   kUnitVector, Machine(R"(targetCategory="a")", 0)));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x1", N(0.9)}, {"x2", N(0)}}).ok());  // rounds to 1 -> a
  EXPECT_EQ(h.Str("label"), "a");
  ASSERT_TRUE(h.Eval({{"x1", N(0.2)}, {"x2", N(0)}}).ok());  // rounds to 0 -> b
  EXPECT_EQ(h.Str("label"), "b");
  EXPECT_FALSE(h.Eval({{"x1", N(3)}, {"x2", N(0)}}).ok());  // neither 0 nor 1
}

TEST(SvmTest, CategoricalPredictorInVectorFields) {
  // Vector fields: x1 and (color == "red"); one support vector (1, 1), linear:
  // f = x1 + [red] - 0.5.
  const std::string doc = Doc(R"(<DataDictionary>
      <DataField name="x1" optype="continuous" dataType="double"/>
      <DataField name="color" optype="categorical" dataType="string"/>
      <DataField name="y" optype="continuous" dataType="double"/>
    </DataDictionary>
    <SupportVectorMachineModel functionName="regression">
      <MiningSchema><MiningField name="x1"/><MiningField name="color"/><MiningField name="y" usageType="target"/></MiningSchema>
      <LinearKernelType/>
      <VectorDictionary>
        <VectorFields><FieldRef field="x1"/><CategoricalPredictor name="color" value="red" coefficient="1"/></VectorFields>
        <VectorInstance id="v"><REAL-ARRAY n="2" type="real">1 1</REAL-ARRAY></VectorInstance>
      </VectorDictionary>
      <SupportVectorMachine><SupportVectors><SupportVector vectorId="v"/></SupportVectors>
        <Coefficients absoluteValue="-0.5"><Coefficient value="1"/></Coefficients></SupportVectorMachine>
    </SupportVectorMachineModel>)");
  Harness h(doc);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x1", N(2)}, {"color", S("red")}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("y"), 2.5);
  ASSERT_TRUE(h.Eval({{"x1", N(2)}, {"color", S("blue")}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("y"), 1.5);
}

TEST(SvmTest, BadDocuments) {
  Harness unknown(SvmDoc("regression", "", "<LinearKernelType/>", "", "", kUnitVector,
                         R"(<SupportVectorMachine><SupportVectors><SupportVector vectorId="nope"/></SupportVectors>
                            <Coefficients><Coefficient value="1"/></Coefficients></SupportVectorMachine>)"));
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("vectorId"), std::string::npos);
  Harness mismatch(SvmDoc("regression", "", "<LinearKernelType/>", "", "", kUnitVector,
                          R"(<SupportVectorMachine><SupportVectors><SupportVector vectorId="e1"/></SupportVectors>
                             <Coefficients><Coefficient value="1"/><Coefficient value="2"/></Coefficients></SupportVectorMachine>)"));
  EXPECT_FALSE(mismatch.ok());
}

// ---------------------------------------------------------------------------
// ClusteringModel

std::string ClusteringDoc(std::string_view measure, std::string_view fields, std::string_view extra = "") {
  return Doc(std::string(R"(<DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="y" optype="continuous" dataType="double"/>
    </DataDictionary>
    <ClusteringModel functionName="clustering" modelClass="centerBased" numberOfClusters="2">
      <MiningSchema><MiningField name="x"/><MiningField name="y"/></MiningSchema>
      <Output>
        <OutputField name="pred" feature="predictedValue"/>
        <OutputField name="cid" feature="clusterId"/>
        <OutputField name="display" feature="predictedDisplayValue"/>
        <OutputField name="aff" feature="affinity"/>
        <OutputField name="aff2" feature="clusterAffinity" value="c2"/>
        <OutputField name="second" feature="entityId" rank="2"/>
      </Output>
      <ComparisonMeasure kind="distance">)") +
             std::string(measure) + "</ComparisonMeasure>" + std::string(fields) + std::string(extra) +
             R"(<Cluster id="c1" name="first"><Array n="2" type="real">0 0</Array></Cluster>
      <Cluster id="c2" name="second"><Array n="2" type="real">3 4</Array></Cluster>
    </ClusteringModel>)");
}
const char* kXY = R"(<ClusteringField field="x"/><ClusteringField field="y"/>)";

TEST(ClusteringTest, EuclideanOutputs) {
  Harness h(ClusteringDoc("<euclidean/>", kXY));
  ASSERT_TRUE(h.ok()) << h.status();
  // (1,1): d1 = sqrt(2), d2 = sqrt(4 + 9).
  ASSERT_TRUE(h.Eval({{"x", N(1)}, {"y", N(1)}}).ok());
  EXPECT_EQ(h.Str("pred"), "c1");
  EXPECT_EQ(h.Str("cid"), "c1");  // JPMML: the cluster's id
  EXPECT_EQ(h.Str("display"), "first");
  EXPECT_NEAR(h.Num("aff"), std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(h.Num("aff2"), std::sqrt(13.0), 1e-12);
  EXPECT_EQ(h.Str("second"), "c2");
  // y missing: x = 3 scaled by 2/1: d1 = sqrt(18), d2 = 0.
  ASSERT_TRUE(h.Eval({{"x", N(3)}}).ok());
  EXPECT_EQ(h.Str("pred"), "c2");
  EXPECT_EQ(h.Str("cid"), "c2");
  EXPECT_NEAR(h.Num("aff"), 0, 1e-12);
  EXPECT_EQ(h.Str("second"), "c1");
}

TEST(ClusteringTest, OtherMetrics) {
  // (1,1) against (0,0) and (3,4): |dx| = 1,1 and 2,3.
  struct Case {
    std::string measure, fields;
    double d1, d2;
  } cases[] = {
      {"<squaredEuclidean/>", kXY, 2, 13},
      {"<cityBlock/>", kXY, 2, 5},
      {"<chebychev/>", kXY, 1, 3},
      {R"(<minkowski p-parameter="3"/>)", kXY, std::cbrt(2.0), std::cbrt(8.0 + 27.0)},
      {"<squaredEuclidean/>", R"(<ClusteringField field="x" fieldWeight="2"/><ClusteringField field="y"/>)", 3, 17},
      {"<squaredEuclidean/>",
       R"(<ClusteringField field="x" compareFunction="gaussSim" similarityScale="1"/><ClusteringField field="y"/>)",
       std::pow(std::exp(-std::log(2.0)), 2) + 1, std::pow(std::exp(-std::log(2.0) * 4), 2) + 9},
      {"<cityBlock/>", R"(<ClusteringField field="x" compareFunction="delta"/><ClusteringField field="y"/>)", 2, 4},
  };
  for (const Case& c : cases) {
    Harness h(ClusteringDoc(c.measure, c.fields));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(1)}, {"y", N(1)}}).ok());
    EXPECT_NEAR(h.Num("aff"), std::min(c.d1, c.d2), 1e-12) << c.measure << c.fields;
    EXPECT_NEAR(h.Num("aff2"), c.d2, 1e-12) << c.measure << c.fields;
  }
}

TEST(ClusteringTest, MissingValueWeights) {
  // Weights 1 and 3; y missing: adjustment 4/1. squaredEuclidean x = 1: d1 = 1*4, d2 = 4*4.
  Harness h(ClusteringDoc("<squaredEuclidean/>", kXY,
                          R"(<MissingValueWeights><Array n="2" type="real">1 3</Array></MissingValueWeights>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(1)}}).ok());
  EXPECT_NEAR(h.Num("aff"), 4, 1e-12);
  EXPECT_NEAR(h.Num("aff2"), 16, 1e-12);
}

TEST(ClusteringTest, SimilarityAndImplicitIds) {
  const std::string doc = Doc(R"(<DataDictionary>
      <DataField name="a" optype="continuous" dataType="integer"/>
      <DataField name="b" optype="continuous" dataType="integer"/>
      <DataField name="c" optype="continuous" dataType="integer"/>
    </DataDictionary>
    <ClusteringModel functionName="clustering" modelClass="centerBased" numberOfClusters="2">
      <MiningSchema><MiningField name="a"/><MiningField name="b"/><MiningField name="c"/></MiningSchema>
      <Output><OutputField name="pred" feature="predictedValue"/><OutputField name="aff" feature="affinity"/></Output>
      <ComparisonMeasure kind="similarity"><jaccard/></ComparisonMeasure>
      <ClusteringField field="a"/><ClusteringField field="b"/><ClusteringField field="c"/>
      <Cluster><Array n="3" type="int">1 1 0</Array></Cluster>
      <Cluster><Array n="3" type="int">0 1 1</Array></Cluster>
    </ClusteringModel>)");
  Harness h(doc);
  ASSERT_TRUE(h.ok()) << h.status();
  // (1,0,0): cluster 1: a11 = 1, a01 = 1 -> 1/2; cluster 2: a11 = 0 -> 0.
  ASSERT_TRUE(h.Eval({{"a", N(1)}, {"b", N(0)}, {"c", N(0)}}).ok());
  EXPECT_EQ(h.Str("pred"), "1");
  EXPECT_NEAR(h.Num("aff"), 0.5, 1e-12);
  // (0,1,1): cluster 2 matches fully.
  ASSERT_TRUE(h.Eval({{"a", N(0)}, {"b", N(1)}, {"c", N(1)}}).ok());
  EXPECT_EQ(h.Str("pred"), "2");
  EXPECT_NEAR(h.Num("aff"), 1, 1e-12);
}

// ---------------------------------------------------------------------------
// NearestNeighborModel

std::string KnnDoc(std::string_view attrs, std::string_view target_field, std::string_view outputs) {
  return Doc(std::string(R"(<DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>)") +
             std::string(target_field) + R"(</DataDictionary>
    <NearestNeighborModel )" + std::string(attrs) + R"(>
      <MiningSchema><MiningField name="x"/><MiningField name="t" usageType="target"/></MiningSchema>
      <Output>)" + std::string(outputs) + R"(</Output>
      <TrainingInstances>
        <InstanceFields><InstanceField field="x" column="cx"/><InstanceField field="t" column="ct"/>
          <InstanceField field="id" column="cid"/></InstanceFields>
        <InlineTable>
          <row><cx>1</cx><ct>a</ct><cid>r1</cid></row>
          <row><cx>2</cx><ct>b</ct><cid>r2</cid></row>
          <row><cx>3</cx><ct>b</ct><cid>r3</cid></row>
          <row><cx>10</cx><ct>a</ct><cid>r4</cid></row>
        </InlineTable>
      </TrainingInstances>
      <ComparisonMeasure kind="distance"><euclidean/></ComparisonMeasure>
      <KNNInputs><KNNInput field="x"/></KNNInputs>
    </NearestNeighborModel>)");
}

TEST(NearestNeighborTest, MajorityVoteAndTieBreak) {
  Harness h(KnnDoc(R"(functionName="classification" numberOfNeighbors="2")",
                   R"(<DataField name="t" optype="categorical" dataType="string"><Value value="a"/><Value value="b"/></DataField>)",
                   R"(<OutputField name="label" feature="predictedValue"/>
                      <OutputField name="n1" feature="entityId" rank="1"/>
                      <OutputField name="n2" feature="entityId" rank="2"/>
                      <OutputField name="d1" feature="affinity" rank="1"/>)"));
  ASSERT_TRUE(h.ok()) << h.status();
  // x = 2.4: distances 1.4, 0.4, 0.6, 7.6 -> rows 2, 3 (b, b).
  ASSERT_TRUE(h.Eval({{"x", N(2.4)}}).ok());
  EXPECT_EQ(h.Str("label"), "b");
  EXPECT_EQ(h.Str("n1"), "2");
  EXPECT_EQ(h.Str("n2"), "3");
  EXPECT_NEAR(h.Num("d1"), 0.4, 1e-12);
  // x = 1.6: rows 2 (b) and 1 (a): 1:1; training counts a 2, b 2: smallest value "a".
  ASSERT_TRUE(h.Eval({{"x", N(1.6)}}).ok());
  EXPECT_EQ(h.Str("label"), "a");
}

TEST(NearestNeighborTest, ContinuousScoring) {
  const char* target = R"(<DataField name="t" optype="continuous" dataType="double"/>)";
  const char* out = R"(<OutputField name="y" feature="predictedValue"/>)";
  auto doc = [&](std::string_view method) {
    std::string d = KnnDoc(std::string(R"(functionName="regression" numberOfNeighbors="3" continuousScoringMethod=")") +
                               std::string(method) + "\"",
                           target, out);
    // Numeric targets: a -> 10, b -> 20 (row 3: 40).
    for (auto [from, to] : {std::pair{"<ct>a</ct><cid>r1", "<ct>10</ct><cid>r1"},
                            {"<ct>b</ct><cid>r2", "<ct>20</ct><cid>r2"},
                            {"<ct>b</ct><cid>r3", "<ct>40</ct><cid>r3"},
                            {"<ct>a</ct><cid>r4", "<ct>100</ct><cid>r4"}}) {
      d.replace(d.find(from), std::string(from).size(), to);
    }
    return d;
  };
  // x = 2.4: nearest rows 2 (0.4), 3 (0.6), 1 (1.4) -> 20, 40, 10.
  Harness avg(doc("average"));
  ASSERT_TRUE(avg.ok()) << avg.status();
  ASSERT_TRUE(avg.Eval({{"x", N(2.4)}}).ok());
  EXPECT_NEAR(avg.Num("y"), 70.0 / 3, 1e-12);
  Harness med(doc("median"));
  ASSERT_TRUE(med.Eval({{"x", N(2.4)}}).ok());
  EXPECT_NEAR(med.Num("y"), 20, 1e-12);
  Harness w(doc("weightedAverage"));
  ASSERT_TRUE(w.Eval({{"x", N(2.4)}}).ok());
  double w2 = 1 / 0.401, w3 = 1 / 0.601, w1 = 1 / 1.401;
  EXPECT_NEAR(w.Num("y"), (20 * w2 + 40 * w3 + 10 * w1) / (w1 + w2 + w3), 1e-9);
}

TEST(NearestNeighborTest, ClusteringNeighborIds) {
  std::string d = KnnDoc(R"(functionName="clustering" numberOfNeighbors="2" instanceIdVariable="id")",
                         R"(<DataField name="t" optype="categorical" dataType="string"/>)",
                         R"(<OutputField name="n1" feature="entityId" rank="1"/>
                            <OutputField name="n2" feature="entityId" rank="2"/>
                            <OutputField name="n3" feature="entityId" rank="3"/>)");
  const std::string target_field = R"(<MiningField name="t" usageType="target"/>)";
  d.replace(d.find(target_field), target_field.size(), "");
  Harness h(d);
  ASSERT_TRUE(h.ok()) << h.status();
  // x = 9: distances 8, 7, 6, 1.
  ASSERT_TRUE(h.Eval({{"x", N(9)}}).ok());
  EXPECT_EQ(h.Str("n1"), "r4");
  EXPECT_EQ(h.Str("n2"), "r3");
  EXPECT_EQ(h.Str("n3"), "r2");
}

TEST(NearestNeighborTest, DerivedInputsAndTransformedInstances) {
  // KNN input z = 2 * x (a LocalTransformation). Training rows either give x
  // (z is computed) or, when an InstanceField names z itself, z directly.
  auto doc = [](bool transformed) {
    std::string instance = transformed ? R"(<InstanceField field="z" column="data:c"/>)"
                                       : R"(<InstanceField field="x" column="data:c"/>)";
    return Doc(std::string(R"(<DataDictionary>
        <DataField name="x" optype="continuous" dataType="double"/>
        <DataField name="t" optype="continuous" dataType="double"/>
      </DataDictionary>
      <NearestNeighborModel functionName="regression" numberOfNeighbors="1" instanceIdVariable="id">
        <MiningSchema><MiningField name="x"/><MiningField name="t" usageType="target"/></MiningSchema>
        <Output><OutputField name="n1" feature="entityId"/><OutputField name="d" feature="affinity"/></Output>
        <LocalTransformations>
          <DerivedField name="z" optype="continuous" dataType="double">
            <Apply function="*"><FieldRef field="x"/><Constant>2</Constant></Apply>
          </DerivedField>
        </LocalTransformations>
        <TrainingInstances>
          <InstanceFields>)") + instance + R"(<InstanceField field="t" column="data:t"/><InstanceField field="id" column="data:id"/></InstanceFields>
          <InlineTable>
            <row><data:c>1</data:c><data:t>10</data:t><data:id>A</data:id></row>
            <row><data:c>4</data:c><data:t>40</data:t><data:id>B</data:id></row>
          </InlineTable>
        </TrainingInstances>
        <ComparisonMeasure kind="distance"><cityBlock/></ComparisonMeasure>
        <KNNInputs><KNNInput field="z"/></KNNInputs>
      </NearestNeighborModel>)");
  };
  {
    // Rows have z = 2 and 8; x = 1.8 -> z = 3.6: nearest A (1.6).
    Harness h(doc(false));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(1.8)}}).ok());
    EXPECT_EQ(h.Str("n1"), "A");
    EXPECT_NEAR(h.Num("d"), 1.6, 1e-12);
    EXPECT_DOUBLE_EQ(h.Num("t"), 10);
  }
  {
    // Rows have z = 1 and 4 as given; z = 3.6: nearest B (0.4).
    Harness h(doc(true));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(1.8)}}).ok());
    EXPECT_EQ(h.Str("n1"), "B");
    EXPECT_NEAR(h.Num("d"), 0.4, 1e-12);
    EXPECT_DOUBLE_EQ(h.Num("t"), 40);
  }
}

// ---------------------------------------------------------------------------
// Scorecard

const char* kScorecard = R"(
<DataDictionary>
  <DataField name="age" optype="continuous" dataType="double"/>
  <DataField name="income" optype="continuous" dataType="double"/>
  <DataField name="score" optype="continuous" dataType="double"/>
</DataDictionary>
<Scorecard functionName="regression" initialScore="100" useReasonCodes="true" reasonCodeAlgorithm="pointsBelow">
  <MiningSchema><MiningField name="age"/><MiningField name="income"/><MiningField name="score" usageType="target"/></MiningSchema>
  <Output>
    <OutputField name="final" feature="predictedValue"/>
    <OutputField name="rc1" feature="reasonCode" rank="1"/>
    <OutputField name="rc2" feature="reasonCode" rank="2"/>
    <OutputField name="rc3" feature="reasonCode" rank="3"/>
  </Output>
  <Characteristics>
    <Characteristic name="ageC" baselineScore="15">
      <Attribute partialScore="10" reasonCode="young"><SimplePredicate field="age" operator="lessThan" value="30"/></Attribute>
      <Attribute partialScore="20" reasonCode="old"><SimplePredicate field="age" operator="greaterOrEqual" value="30"/></Attribute>
    </Characteristic>
    <Characteristic name="incomeC" baselineScore="12" reasonCode="INC">
      <Attribute partialScore="5" reasonCode="lowinc"><SimplePredicate field="income" operator="lessThan" value="1000"/></Attribute>
      <Attribute partialScore="7"><SimplePredicate field="income" operator="lessThan" value="1500"/></Attribute>
      <Attribute>
        <True/>
        <ComplexPartialScore><Apply function="*"><FieldRef field="income"/><Constant>0.01</Constant></Apply></ComplexPartialScore>
      </Attribute>
    </Characteristic>
  </Characteristics>
</Scorecard>)";

TEST(ScorecardTest, ScoresAndReasonCodes) {
  Harness h(Doc(kScorecard));
  ASSERT_TRUE(h.ok()) << h.status();
  // age 25, income 500: 100 + 10 + 5; points young 15-10 = 5, lowinc 12-5 = 7.
  ASSERT_TRUE(h.Eval({{"age", N(25)}, {"income", N(500)}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("final"), 115);
  EXPECT_EQ(h.Str("rc1"), "lowinc");
  EXPECT_EQ(h.Str("rc2"), "young");
  EXPECT_EQ(h.Str("rc3"), "<missing>");
  // age 25, income 1200: 100 + 10 + 7; young 5 and INC 5 tie: first seen first.
  ASSERT_TRUE(h.Eval({{"age", N(25)}, {"income", N(1200)}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("final"), 117);
  EXPECT_EQ(h.Str("rc1"), "young");
  EXPECT_EQ(h.Str("rc2"), "INC");
  // age 40, income 2000: 100 + 20 + 20; both differences negative: no codes.
  ASSERT_TRUE(h.Eval({{"age", N(40)}, {"income", N(2000)}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("final"), 140);
  EXPECT_EQ(h.Str("rc1"), "<missing>");
  // age missing: no Attribute of ageC is true -> the record fails.
  EXPECT_FALSE(h.Eval({{"income", N(2000)}}).ok());
}

TEST(ScorecardTest, PointsAboveAndModelBaseline) {
  std::string doc = Doc(kScorecard);
  doc.replace(doc.find("pointsBelow"), 11, "pointsAbove\" baselineScore=\"0");
  doc.replace(doc.find(R"( baselineScore="15")"), 19, "");
  Harness h(doc);
  ASSERT_TRUE(h.ok()) << h.status();
  // age 40 (20 - 0 = 20 above), income 2000 (20 - 12 = 8 above).
  ASSERT_TRUE(h.Eval({{"age", N(40)}, {"income", N(2000)}}).ok());
  EXPECT_EQ(h.Str("rc1"), "old");
  EXPECT_EQ(h.Str("rc2"), "INC");
}

// ---------------------------------------------------------------------------
// RuleSetModel

std::string RuleSetDoc(std::string_view criterion) {
  return Doc(std::string(R"(<DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="y" optype="categorical" dataType="string"/>
      <DataField name="t" optype="categorical" dataType="string"><Value value="A"/><Value value="B"/><Value value="C"/></DataField>
    </DataDictionary>
    <RuleSetModel functionName="classification">
      <MiningSchema><MiningField name="x"/><MiningField name="y"/><MiningField name="t" usageType="target"/></MiningSchema>
      <Output>
        <OutputField name="label" feature="predictedValue"/>
        <OutputField name="rule" feature="entityId"/>
        <OutputField name="conf" feature="confidence"/>
        <OutputField name="confB" feature="confidence" value="B"/>
      </Output>
      <RuleSet defaultScore="C" defaultConfidence="0.1">
        <RuleSelectionMethod criterion=")") +
             std::string(criterion) + R"("/>
        <SimpleRule id="r1" score="A" confidence="0.8" weight="0.8"><SimplePredicate field="x" operator="lessThan" value="5"/></SimpleRule>
        <SimpleRule score="B" confidence="0.9" weight="0.9"><SimplePredicate field="x" operator="lessThan" value="3"/></SimpleRule>
        <CompoundRule>
          <SimplePredicate field="y" operator="equal" value="k"/>
          <SimpleRule score="A" confidence="0.6" weight="0.6"><SimplePredicate field="x" operator="lessThan" value="10"/></SimpleRule>
        </CompoundRule>
      </RuleSet>
    </RuleSetModel>)");
}

TEST(RuleSetTest, SelectionMethods) {
  // x = 2, y = k: all three rules fire (r1 A, rule 2 B, rule 3 A).
  {
    Harness h(RuleSetDoc("firstHit"));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(2)}, {"y", S("k")}}).ok());
    EXPECT_EQ(h.Str("label"), "A");
    EXPECT_EQ(h.Str("rule"), "r1");
    EXPECT_NEAR(h.Num("conf"), 0.8, 1e-12);
    EXPECT_NEAR(h.Num("confB"), 0.9, 1e-12);
    // y = other: the compound rule does not fire; x = 7: nothing fires -> default.
    ASSERT_TRUE(h.Eval({{"x", N(7)}, {"y", S("z")}}).ok());
    EXPECT_EQ(h.Str("label"), "C");
    EXPECT_EQ(h.Str("rule"), "<missing>");
    EXPECT_NEAR(h.Num("conf"), 0.1, 1e-12);
    // x = 7, y = k: only the nested rule (implicit id 3).
    ASSERT_TRUE(h.Eval({{"x", N(7)}, {"y", S("k")}}).ok());
    EXPECT_EQ(h.Str("rule"), "3");
  }
  {
    // A: (0.8 + 0.6) / 3, B: 0.9 / 3 -> A, represented by its heaviest rule r1.
    Harness h(RuleSetDoc("weightedSum"));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(2)}, {"y", S("k")}}).ok());
    EXPECT_EQ(h.Str("label"), "A");
    EXPECT_EQ(h.Str("rule"), "r1");
    EXPECT_NEAR(h.Num("conf"), 1.4 / 3, 1e-12);
    EXPECT_NEAR(h.Num("confB"), 0.3, 1e-12);
  }
  {
    // A: heaviest r1 (confidence 0.8); B: rule 2 (0.9) -> B.
    Harness h(RuleSetDoc("weightedMax"));
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_TRUE(h.Eval({{"x", N(2)}, {"y", S("k")}}).ok());
    EXPECT_EQ(h.Str("label"), "B");
    EXPECT_EQ(h.Str("rule"), "2");
    EXPECT_NEAR(h.Num("conf"), 0.9, 1e-12);
  }
}

TEST(RuleSetTest, ScoreDistributionGivesProbabilities) {
  std::string doc = RuleSetDoc("firstHit");
  // Rule r1 gets a distribution A 6, B 2 (record counts): P(A) = 0.75.
  doc.replace(doc.find(R"(<SimplePredicate field="x" operator="lessThan" value="5"/></SimpleRule>)"), 71,
              R"(<SimplePredicate field="x" operator="lessThan" value="5"/>
                 <ScoreDistribution value="A" recordCount="6"/><ScoreDistribution value="B" recordCount="2"/></SimpleRule>)");
  doc.replace(doc.find(R"(<OutputField name="conf" feature="confidence"/>)"), 47,
              R"(<OutputField name="conf" feature="confidence"/><OutputField name="pB" feature="probability" value="B"/>)");
  Harness h(doc);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(4)}, {"y", S("z")}}).ok());
  EXPECT_EQ(h.Str("label"), "A");
  EXPECT_NEAR(h.Num("conf"), 0.8, 1e-12);
  EXPECT_NEAR(h.Num("pB"), 0.25, 1e-12);
}

// ---------------------------------------------------------------------------
// AssociationModel

const char* kAssociation = R"(
<DataDictionary>
  <DataField name="tid" optype="categorical" dataType="string"/>
  <DataField name="item" optype="categorical" dataType="string"/>
</DataDictionary>
<AssociationModel functionName="associationRules" numberOfTransactions="10" minimumSupport="0.1" minimumConfidence="0.1" numberOfItems="3" numberOfItemsets="4" numberOfRules="4">
  <MiningSchema><MiningField name="tid" usageType="group"/><MiningField name="item"/></MiningSchema>
  <Output>
    <OutputField name="rec" feature="ruleValue" ruleFeature="consequent" algorithm="recommendation"/>
    <OutputField name="rec_id" feature="ruleValue" ruleFeature="ruleId" algorithm="recommendation"/>
    <OutputField name="ex1" feature="ruleValue" ruleFeature="rule"/>
    <OutputField name="ex2_id" feature="ruleValue" ruleFeature="ruleId" rank="2"/>
    <OutputField name="ex1_conf" feature="ruleValue" ruleFeature="confidence" dataType="double"/>
    <OutputField name="assoc1" feature="ruleValue" ruleFeature="ruleId" algorithm="ruleAssociation"/>
    <OutputField name="assoc_sup" feature="ruleValue" ruleFeature="ruleId" algorithm="ruleAssociation" rankBasis="support" rankOrder="ascending"/>
    <OutputField name="all" feature="ruleValue" ruleFeature="ruleId" algorithm="recommendation" isMultiValued="1" rank="3"/>
  </Output>
  <Item id="1" value="a"/><Item id="2" value="b"/><Item id="3" value="c"/>
  <Itemset id="s1"><ItemRef itemRef="1"/></Itemset>
  <Itemset id="s2"><ItemRef itemRef="2"/></Itemset>
  <Itemset id="s3"><ItemRef itemRef="3"/></Itemset>
  <Itemset id="s12"><ItemRef itemRef="1"/><ItemRef itemRef="2"/></Itemset>
  <AssociationRule antecedent="s1" consequent="s2" support="0.3" confidence="0.9" lift="1.2"/>
  <AssociationRule antecedent="s12" consequent="s3" support="0.2" confidence="0.7"/>
  <AssociationRule antecedent="s2" consequent="s1" support="0.4" confidence="0.95"/>
  <AssociationRule id="R4" antecedent="s1" consequent="s3" support="0.1" confidence="0.5"/>
</AssociationModel>)";

TEST(AssociationTest, BasketsAndAlgorithms) {
  Harness h(Doc(kAssociation));
  ASSERT_TRUE(h.ok()) << h.status();
  // {a}: rules 1 (a->b, 0.9) and R4 (a->c, 0.5) apply.
  ASSERT_TRUE(h.Eval({{"item", Basket({"a"})}}).ok());
  EXPECT_EQ(h.Str("rec_id"), "1");
  EXPECT_EQ(h.Str("ex1"), "{a}->{b}");
  EXPECT_EQ(h.Str("ex2_id"), "R4");
  EXPECT_NEAR(h.Num("ex1_conf"), 0.9, 1e-12);
  EXPECT_EQ(h.Str("assoc1"), "<missing>");
  // A plain string is a one-item basket.
  ASSERT_TRUE(h.Eval({{"item", S("a")}}).ok());
  EXPECT_EQ(h.Str("rec_id"), "1");
  // {a,b}: antecedents of all four rules are in; exclusive: 2 (0.7), R4 (0.5);
  // ruleAssociation: 3 (0.95), 1 (0.9); by support ascending: 1 (0.3), 3 (0.4).
  ASSERT_TRUE(h.Eval({{"item", Basket({"b", "a"})}}).ok());
  EXPECT_EQ(h.Str("ex1"), "{a,b}->{c}");
  EXPECT_EQ(h.Str("ex2_id"), "R4");
  EXPECT_EQ(h.Str("assoc1"), "3");
  EXPECT_EQ(h.Str("assoc_sup"), "1");
  EXPECT_EQ(h.Str("rec_id"), "3");
  Value all = h.Out("all");
  ASSERT_EQ(all.kind, Value::Kind::kCollection);
  EXPECT_EQ(all.items, (std::vector<std::string>{"3", "1", "2"}));
  // Empty basket: nothing.
  ASSERT_TRUE(h.Eval({{"item", Basket({})}}).ok());
  EXPECT_EQ(h.Str("rec_id"), "<missing>");
}

TEST(AssociationTest, CategoricalStyleItems) {
  // Items name boolean fields ("milk") or field=category ("fruit=apple").
  const std::string doc = Doc(R"(<DataDictionary>
      <DataField name="milk" optype="categorical" dataType="boolean"/>
      <DataField name="fruit" optype="categorical" dataType="string"/>
    </DataDictionary>
    <AssociationModel functionName="associationRules" numberOfTransactions="5" minimumSupport="0.1" minimumConfidence="0.1" numberOfItems="3" numberOfItemsets="3" numberOfRules="2">
      <MiningSchema><MiningField name="milk"/><MiningField name="fruit"/></MiningSchema>
      <Output><OutputField name="cons" feature="ruleValue" ruleFeature="consequent" algorithm="recommendation"/>
              <OutputField name="id" feature="ruleValue" ruleFeature="ruleId" algorithm="recommendation"/></Output>
      <Item id="1" value="milk"/><Item id="2" value="fruit=apple"/><Item id="3" value="fruit=pear"/>
      <Itemset id="1"><ItemRef itemRef="1"/></Itemset>
      <Itemset id="2"><ItemRef itemRef="2"/></Itemset>
      <Itemset id="3"><ItemRef itemRef="3"/></Itemset>
      <AssociationRule antecedent="1" consequent="2" support="0.4" confidence="0.6"/>
      <AssociationRule antecedent="3" consequent="1" support="0.2" confidence="0.8"/>
    </AssociationModel>)");
  Harness h(doc);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"milk", Value::Bool(true)}, {"fruit", S("pear")}}).ok());
  EXPECT_EQ(h.Str("id"), "2");
  ASSERT_TRUE(h.Eval({{"milk", Value::Bool(true)}, {"fruit", S("kiwi")}}).ok());
  EXPECT_EQ(h.Str("id"), "1");
  ASSERT_TRUE(h.Eval({{"milk", Value::Bool(false)}, {"fruit", S("kiwi")}}).ok());
  EXPECT_EQ(h.Str("id"), "<missing>");
}

// ---------------------------------------------------------------------------
// AnomalyDetectionModel

std::string AnomalyDoc(std::string_view attrs) {
  // The nested SVM returns x (one unit support vector, linear kernel).
  return Doc(std::string(R"(<DataDictionary>
      <DataField name="x" optype="continuous" dataType="double"/>
      <DataField name="score" optype="continuous" dataType="double"/>
    </DataDictionary>
    <AnomalyDetectionModel functionName="regression" )") +
             std::string(attrs) + R"(>
      <MiningSchema><MiningField name="x"/></MiningSchema>
      <Output><OutputField name="s" feature="predictedValue"/></Output>
      <SupportVectorMachineModel functionName="regression">
        <MiningSchema><MiningField name="x"/></MiningSchema>
        <LinearKernelType/>
        <VectorDictionary><VectorFields><FieldRef field="x"/></VectorFields>
          <VectorInstance id="u"><REAL-ARRAY n="1" type="real">1</REAL-ARRAY></VectorInstance></VectorDictionary>
        <SupportVectorMachine><SupportVectors><SupportVector vectorId="u"/></SupportVectors>
          <Coefficients absoluteValue="0"><Coefficient value="1"/></Coefficients></SupportVectorMachine>
      </SupportVectorMachineModel>
    </AnomalyDetectionModel>)");
}

TEST(AnomalyDetectionTest, IsolationForestScore) {
  Harness h(AnomalyDoc(R"(algorithmType="iforest" sampleDataSize="256")"));
  ASSERT_TRUE(h.ok()) << h.status();
  // c(256) = 2 (ln 255 + Euler) - 2 * 255 / 256; score = 2^(-E/c).
  double c = 2 * (std::log(255.0) + 0.5772156649015329) - 2.0 * 255 / 256;
  ASSERT_TRUE(h.Eval({{"x", N(c)}}).ok());
  EXPECT_NEAR(h.Num("s"), 0.5, 1e-12);
  ASSERT_TRUE(h.Eval({{"x", N(3)}}).ok());
  EXPECT_NEAR(h.Num("s"), std::pow(2.0, -3 / c), 1e-12);
}

TEST(AnomalyDetectionTest, OneClassSvmPassesTheValue) {
  Harness h(AnomalyDoc(R"(algorithmType="ocsvm")"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(h.Eval({{"x", N(-0.25)}}).ok());
  EXPECT_DOUBLE_EQ(h.Num("s"), -0.25);
}

TEST(AnomalyDetectionTest, BadDocuments) {
  EXPECT_FALSE(Harness(AnomalyDoc(R"(algorithmType="iforest")")).ok());  // no sampleDataSize
  EXPECT_FALSE(Harness(AnomalyDoc(R"(algorithmType="bogus")")).ok());
}

// ---------------------------------------------------------------------------
// Cross-family checks

TEST(MiscModelsTest, BadDocumentsNameTheElement) {
  struct Case {
    std::string doc, path;
  } cases[] = {
      // Cluster center of the wrong length.
      {ClusteringDoc("<euclidean/>", kXY, R"(<Cluster id="c0"><Array n="1" type="real">0</Array></Cluster>)"),
       "Cluster"},
      // Unknown comparison measure.
      {ClusteringDoc("<manhattan/>", kXY), "manhattan"},
      // table compare function is not supported.
      {ClusteringDoc("<euclidean/>", R"(<ClusteringField field="x" compareFunction="table"/><ClusteringField field="y"/>)"),
       "ClusteringField"},
      // Unknown itemRef.
      {[] {
         std::string d = Doc(kAssociation);
         d.replace(d.find(R"(itemRef="3")"), 11, R"(itemRef="9")");
         return d;
       }(),
       "ItemRef"},
      // Unknown criterion.
      {RuleSetDoc("bestHit"), "RuleSelectionMethod"},
      // Scorecard attribute without a predicate.
      {[] {
         std::string d = Doc(kScorecard);
         d.replace(d.find(R"(<SimplePredicate field="age" operator="lessThan" value="30"/>)"), 61, "");
         return d;
       }(),
       "Attribute"},
  };
  for (const Case& c : cases) {
    Harness h(c.doc);
    EXPECT_FALSE(h.ok()) << c.path;
    EXPECT_NE(h.status().message().find(c.path), std::string::npos) << h.status();
  }
  // k-NN with more neighbors than training rows fails every record, clearly.
  std::string knn = KnnDoc(R"(functionName="classification" numberOfNeighbors="9")",
                           R"(<DataField name="t" optype="categorical" dataType="string"/>)",
                           R"(<OutputField name="label" feature="predictedValue"/>)");
  Harness h(knn);
  ASSERT_TRUE(h.ok()) << h.status();
  absl::Status st = h.Eval({{"x", N(1)}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("numberOfNeighbors"), std::string::npos) << st;
}

TEST(MiscModelsTest, ConcurrentEvaluationSharesOneModel) {
  // The k-NN training table is prepared lazily on the first evaluation; many
  // threads start at once, each with its own context, and must agree.
  auto loaded = CompiledModel::Load(KnnDoc(R"(functionName="classification" numberOfNeighbors="2")",
                                           R"(<DataField name="t" optype="categorical" dataType="string"/>)",
                                           R"(<OutputField name="label" feature="predictedValue"/>)"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const CompiledModel& model = **loaded;
  const int x = model.InputIndex("x");
  int label_out = -1;
  for (size_t i = 0; i < model.outputs().size(); ++i) {
    if (model.outputs()[i].name == "label") label_out = static_cast<int>(i);
  }
  ASSERT_GE(label_out, 0);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto ctx = model.NewContext();
      for (int i = 0; i < 500; ++i) {
        ctx->BeginRecord();
        double v = (i % 2) ? 2.4 : 9.5;  // rows 2,3 (b, b) or rows 4,3 (a, b -> tie -> a)
        model.SetInput(*ctx, x, v);
        if (!model.Evaluate(*ctx).ok()) {
          ++wrong[t];
          continue;
        }
        std::string label = FormatValue(model.Output(*ctx, label_out));
        if (label != ((i % 2) ? "b" : "a")) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace evs::pmml
