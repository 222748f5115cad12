// CompiledModel end to end with a tiny test-only model family ("TestModel",
// registered through RegisterModelCompilerForTesting): its prediction is the
// sum of the fields listed in <Sum fields="...">, so every MiningSchema,
// Targets and Output rule can be checked by hand.

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pmml/document.h"
#include "pmml/model.h"
#include "pmml/pmml.h"

// Allocation counter for the no-allocation-per-record check.
namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<long> g_allocs{0};
}  // namespace

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  if (g_count_allocs.load(std::memory_order_relaxed))
    g_allocs.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace evs::pmml {
namespace {

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

class SumModel : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* r) const override {
    if (always_missing_) return;
    double sum = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
      SlotId s = slots_[reverse_ ? slots_.size() - 1 - i : i];
      const Value& v = ctx.Get(s);
      if (v.missing()) return;  // no prediction
      if (!v.is_number() && !v.is_bool()) {
        ctx.Fail(absl::InvalidArgumentError("SumModel: not a number"));
        return;
      }
      sum += v.num;
    }
    if (!classification_) {
      r->predicted.SetNumber(sum);
      r->standard_error = 0.5;
      r->entity_id.SetString("leaf");
      return;
    }
    double p = std::min(1.0, std::max(0.0, sum));
    r->labels = &labels_;
    r->probabilities.push_back(p);
    r->probabilities.push_back(1 - p);
    r->predicted = labels_[p >= 0.5 ? 0 : 1];
  }
  const std::vector<Value>* labels() const override { return &labels_; }

  std::vector<SlotId> slots_;
  bool classification_ = false;
  bool always_missing_ = false;
  bool reverse_ = false;  // read the fields last to first
  std::vector<Value> labels_;
};

absl::StatusOr<std::unique_ptr<Model>> CompileSumModel(const ModelCompileArgs& args) {
  auto m = std::make_unique<SumModel>();
  pugi::xml_node sum = Child(args.element, "Sum");
  if (!sum) return ElementError(args.element, "TestModel without Sum");
  m->always_missing_ = std::string_view(sum.attribute("missing").value()) == "true";
  m->reverse_ = std::string_view(sum.attribute("reverse").value()) == "true";
  std::istringstream names(sum.attribute("fields").value());
  std::string name;
  while (names >> name) {
    auto f = args.scope->Resolve(name);
    if (!f.ok()) return ElementError(sum, Msg(f.status()));
    m->slots_.push_back(f->slot);
  }
  m->classification_ = args.function == MiningFunction::kClassification;
  m->labels_ = args.target->categories;
  if (m->classification_ && m->labels_.size() != 2)
    return ElementError(args.element, "need 2 categories");
  return m;
}

class CoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { RegisterModelCompilerForTesting("TestModel", CompileSumModel); }
};

// A regression document: y = sum(fields) with the given MiningSchema extras.
std::string RegressionDoc(const std::string& dictionary, const std::string& schema,
                          const std::string& fields, const std::string& extra = "") {
  return absl::StrCat(
      R"(<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><Header/>
  <DataDictionary>)",
      dictionary, R"(<DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
  <TestModel functionName="regression"><MiningSchema>)",
      schema, R"(<MiningField name="y" usageType="target"/></MiningSchema>)", extra,
      R"(<Sum fields=")", fields, R"("/></TestModel></PMML>)");
}

std::unique_ptr<CompiledModel> MustLoad(const std::string& xml) {
  auto m = CompiledModel::Load(xml);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  return std::move(*m);
}

// Evaluates with text inputs (nullptr = missing); returns output 0 as text or "ERR: msg".
std::string Eval1(const CompiledModel& m, const std::vector<const char*>& inputs, int output = 0) {
  auto ctx = m.NewContext();
  ctx->BeginRecord();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) {
      m.SetMissing(*ctx, static_cast<int>(i));
    } else {
      m.SetInput(*ctx, static_cast<int>(i), inputs[i]);
    }
  }
  absl::Status st = m.Evaluate(*ctx);
  if (!st.ok()) return "ERR: " + Msg(st);
  const Value& v = m.Output(*ctx, output);
  return v.missing() ? "<missing>" : FormatValue(v);
}

const char kX1X2[] = R"(<DataField name="x1" optype="continuous" dataType="double"/>
<DataField name="x2" optype="continuous" dataType="double"/>)";

TEST_F(CoreTest, LoadsAndEvaluatesRegression) {
  auto m = MustLoad(
      RegressionDoc(kX1X2, R"(<MiningField name="x1"/><MiningField name="x2"/>)", "x1 x2"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->version(), "4.4");
  EXPECT_EQ(m->model_type(), "TestModel");
  EXPECT_EQ(m->function_name(), "regression");
  ASSERT_EQ(m->inputs().size(), 2u);
  EXPECT_EQ(m->inputs()[0].name, "x1");
  EXPECT_EQ(m->inputs()[1].type, DataType::kDouble);
  ASSERT_EQ(m->outputs().size(), 1u);
  EXPECT_EQ(m->outputs()[0].name, "y");
  EXPECT_EQ(m->Bind({"x2", "nope", "x1"}), (std::vector<int>{1, -1, 0}));
  EXPECT_EQ(Eval1(*m, {"1.5", "2"}), "3.5");
  EXPECT_EQ(Eval1(*m, {"1.5", nullptr}), "<missing>");

  // Doubles and Values in, one context reused across records.
  auto ctx = m->NewContext();
  for (int i = 0; i < 3; ++i) {
    ctx->BeginRecord();
    m->SetInput(*ctx, 0, static_cast<double>(i));
    m->SetInput(*ctx, 1, Value::String("10"));
    ASSERT_TRUE(m->Evaluate(*ctx).ok());
    EXPECT_EQ(m->Output(*ctx, 0).num, 10 + i);
  }
  // Inputs not set in a record read as missing.
  ctx->BeginRecord();
  m->SetInput(*ctx, 0, 1.0);
  ASSERT_TRUE(m->Evaluate(*ctx).ok());
  EXPECT_TRUE(m->Output(*ctx, 0).missing());
}

TEST_F(CoreTest, PrefixedNamespaceDocument) {
  const char* xml = R"(<pmml:PMML xmlns:pmml="http://www.dmg.org/PMML-4_3" version="4.3">
  <pmml:DataDictionary><pmml:DataField name="a" optype="continuous" dataType="double"/>
  <pmml:DataField name="y" optype="continuous" dataType="double"/></pmml:DataDictionary>
  <pmml:TestModel functionName="regression"><pmml:MiningSchema><pmml:MiningField name="a"/>
  <pmml:MiningField name="y" usageType="predicted"/></pmml:MiningSchema><pmml:Sum fields="a"/></pmml:TestModel>
  </pmml:PMML>)";
  auto m = MustLoad(xml);
  ASSERT_TRUE(m);
  EXPECT_EQ(Eval1(*m, {"4"}), "4");
}

TEST_F(CoreTest, UnparsableInputFailsWithFieldAndValue) {
  auto m = MustLoad(
      RegressionDoc(kX1X2, R"(<MiningField name="x1"/><MiningField name="x2"/>)", "x1 x2"));
  ASSERT_TRUE(m);
  EXPECT_EQ(Eval1(*m, {"abc", "1"}), "ERR: field 'x1': invalid value 'abc'");
}

TEST_F(CoreTest, InvalidValueTreatments) {
  const std::string dict = R"(<DataField name="x1" optype="continuous" dataType="double">
    <Interval closure="closedOpen" leftMargin="0" rightMargin="10"/></DataField>)";
  auto as_is = MustLoad(
      RegressionDoc(dict, R"(<MiningField name="x1" invalidValueTreatment="asIs"/>)", "x1"));
  auto as_missing = MustLoad(
      RegressionDoc(dict, R"(<MiningField name="x1" invalidValueTreatment="asMissing"/>)", "x1"));
  auto as_value = MustLoad(RegressionDoc(
      dict,
      R"(<MiningField name="x1" invalidValueTreatment="asValue" invalidValueReplacement="7"/>)",
      "x1"));
  auto ret = MustLoad(RegressionDoc(dict, R"(<MiningField name="x1"/>)", "x1"));
  auto as_missing_repl = MustLoad(RegressionDoc(
      dict,
      R"(<MiningField name="x1" invalidValueTreatment="asMissing" missingValueReplacement="3"/>)",
      "x1"));
  auto as_is_repl = MustLoad(RegressionDoc(
      dict, R"(<MiningField name="x1" invalidValueTreatment="asIs" invalidValueReplacement="8"/>)",
      "x1"));
  ASSERT_TRUE(as_is && as_missing && as_value && ret && as_missing_repl && as_is_repl);
  EXPECT_EQ(Eval1(*as_is_repl, {"10"}), "8");
  // 10 is outside [0, 10): invalid.
  EXPECT_EQ(Eval1(*ret, {"10"}), "ERR: field 'x1': invalid value '10'");
  EXPECT_EQ(Eval1(*ret, {"9.5"}), "9.5");
  EXPECT_EQ(Eval1(*as_is, {"10"}), "10");
  EXPECT_EQ(Eval1(*as_missing, {"10"}), "<missing>");
  EXPECT_EQ(Eval1(*as_missing_repl, {"10"}), "3");
  EXPECT_EQ(Eval1(*as_value, {"-1"}), "7");
  EXPECT_EQ(Eval1(*as_value, {"zzz"}), "7");  // unparsable is invalid too
  EXPECT_EQ(Eval1(*as_missing, {"zzz"}), "<missing>");
  EXPECT_EQ(Eval1(*as_is, {"zzz"}), "ERR: SumModel: not a number");  // asIs passes the text on
}

TEST_F(CoreTest, CategoricalValidValuesAndDeclaredMissing) {
  const std::string dict = R"(<DataField name="x1" optype="categorical" dataType="integer">
    <Value value="1"/><Value value="2" property="valid"/><Value value="-999" property="missing"/>
    <Value value="NA" property="missing"/><Value value="5" property="invalid"/></DataField>)";
  auto m = MustLoad(
      RegressionDoc(dict, R"(<MiningField name="x1" missingValueReplacement="1"/>)", "x1"));
  ASSERT_TRUE(m);
  EXPECT_EQ(Eval1(*m, {"2"}), "2");
  EXPECT_EQ(Eval1(*m, {"-999"}), "1");  // declared missing -> replacement
  EXPECT_EQ(Eval1(*m, {"NA"}), "1");    // unparsable but declared missing
  EXPECT_EQ(Eval1(*m, {nullptr}), "1");
  EXPECT_EQ(Eval1(*m, {"3"}), "ERR: field 'x1': invalid value '3'");
  EXPECT_EQ(Eval1(*m, {"5"}), "ERR: field 'x1': invalid value '5'");
}

TEST_F(CoreTest, MissingValueTreatments) {
  auto repl = MustLoad(RegressionDoc(
      kX1X2,
      R"(<MiningField name="x1" missingValueReplacement="2.5" missingValueTreatment="asMean"/>
               <MiningField name="x2"/>)",
      "x1 x2"));
  auto ret = MustLoad(RegressionDoc(
      kX1X2,
      R"(<MiningField name="x1" missingValueTreatment="returnInvalid"/><MiningField name="x2"/>)",
      "x1 x2"));
  ASSERT_TRUE(repl && ret);
  EXPECT_EQ(Eval1(*repl, {nullptr, "1"}), "3.5");
  EXPECT_EQ(Eval1(*repl, {"1", "1"}), "2");
  EXPECT_EQ(Eval1(*ret, {nullptr, "1"}),
            "ERR: field 'x1': missing value (missingValueTreatment=returnInvalid)");
  EXPECT_EQ(Eval1(*ret, {"1", "1"}), "2");
}

TEST_F(CoreTest, Outliers) {
  auto as_missing = MustLoad(RegressionDoc(
      kX1X2, R"(<MiningField name="x1" outliers="asMissingValues" lowValue="0" highValue="10"/>)",
      "x1"));
  auto extreme = MustLoad(RegressionDoc(
      kX1X2, R"(<MiningField name="x1" outliers="asExtremeValues" lowValue="0" highValue="10"/>)",
      "x1"));
  ASSERT_TRUE(as_missing && extreme);
  EXPECT_EQ(Eval1(*as_missing, {"11"}), "<missing>");
  EXPECT_EQ(Eval1(*as_missing, {"10"}), "10");
  EXPECT_EQ(Eval1(*extreme, {"11"}), "10");
  EXPECT_EQ(Eval1(*extreme, {"-3"}), "0");
  EXPECT_EQ(Eval1(*extreme, {"4"}), "4");
}

TEST_F(CoreTest, InputTypesFromDataDictionary) {
  const std::string dict = R"(<DataField name="i" optype="continuous" dataType="integer"/>
    <DataField name="f" optype="continuous" dataType="float"/>
    <DataField name="b" optype="categorical" dataType="boolean"/>)";
  auto m = MustLoad(RegressionDoc(
      dict, R"(<MiningField name="i"/><MiningField name="f"/><MiningField name="b"/>)", "i f b"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->inputs()[0].type, DataType::kInteger);
  EXPECT_EQ(m->inputs()[2].optype, OpType::kCategorical);
  EXPECT_EQ(Eval1(*m, {"2", "0.1", "true"}),
            FormatValue(Value::Number(3 + static_cast<double>(0.1f))));
  EXPECT_EQ(Eval1(*m, {"2.5", "0", "true"}), "ERR: field 'i': invalid value '2.5'");
  auto ctx = m->NewContext();
  ctx->BeginRecord();
  m->SetInput(*ctx, 0, 2.5);  // not an integer
  m->SetInput(*ctx, 1, 0.0);
  m->SetInput(*ctx, 2, 1.0);
  EXPECT_FALSE(m->Evaluate(*ctx).ok());
}

TEST_F(CoreTest, TargetsRescaleClampCastAndDefault) {
  auto m = MustLoad(
      RegressionDoc(kX1X2, R"(<MiningField name="x1"/>)", "x1",
                    R"(<Targets><Target field="y" rescaleFactor="2" rescaleConstant="1" min="-1"
                                   max="4" castInteger="round"><TargetValue defaultValue="42"/></Target></Targets>)"));
  ASSERT_TRUE(m);
  EXPECT_EQ(Eval1(*m, {"1.1"}), "3");  // 1.1*2+1 = 3.2 -> 3
  EXPECT_EQ(Eval1(*m, {"10"}), "9");   // clamp to 4 first, then 4*2+1
  EXPECT_EQ(Eval1(*m, {"-5"}), "-1");  // -1*2+1
  EXPECT_EQ(Eval1(*m, {nullptr}),
            "9");  // no prediction -> defaultValue 42, clamped and rescaled too
  auto floor = MustLoad(RegressionDoc(kX1X2, R"(<MiningField name="x1"/>)", "x1",
                                      R"(<Targets><Target castInteger="floor"/></Targets>)"));
  auto ceil = MustLoad(RegressionDoc(kX1X2, R"(<MiningField name="x1"/>)", "x1",
                                     R"(<Targets><Target castInteger="ceiling"/></Targets>)"));
  ASSERT_TRUE(floor && ceil);
  EXPECT_EQ(Eval1(*floor, {"1.7"}), "1");
  EXPECT_EQ(Eval1(*ceil, {"1.2"}), "2");
}

std::string ClassificationDoc(const std::string& output, const std::string& extra = "",
                              const std::string& sum_attrs = "") {
  return absl::StrCat(R"(<PMML version="4.4"><DataDictionary>
  <DataField name="x" optype="continuous" dataType="double"/>
  <DataField name="label" optype="categorical" dataType="string">
    <Value value="yes" displayValue="Yes!"/><Value value="no"/></DataField></DataDictionary>
  <TestModel functionName="classification"><MiningSchema><MiningField name="x"/>
  <MiningField name="label" usageType="target"/></MiningSchema>)",
                      extra, "<Output>", output, "</Output><Sum fields=\"x\" ", sum_attrs,
                      "/></TestModel></PMML>");
}

TEST_F(CoreTest, ClassificationOutputs) {
  auto m = MustLoad(ClassificationDoc(R"(
    <OutputField name="p_yes" feature="probability" value="yes"/>
    <OutputField name="p_no" feature="probability" value="no" dataType="double"/>
    <OutputField name="p" feature="probability"/>
    <OutputField name="pred" feature="predictedValue"/>
    <OutputField name="disp" feature="predictedDisplayValue"/>
    <OutputField name="hidden" feature="probability" value="yes" isFinalResult="false"/>
    <OutputField name="p_str" feature="probability" value="yes" dataType="string"/>)"));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->outputs().size(), 7u);  // label + 6 final outputs
  EXPECT_EQ(m->outputs()[0].name, "label");
  EXPECT_EQ(m->outputs()[0].optype, OpType::kCategorical);
  EXPECT_EQ(m->outputs()[5].name, "disp");
  EXPECT_EQ(m->outputs()[6].name, "p_str");
  EXPECT_EQ(Eval1(*m, {"0.75"}, 0), "yes");
  EXPECT_EQ(Eval1(*m, {"0.75"}, 1), "0.75");
  EXPECT_EQ(Eval1(*m, {"0.75"}, 2), "0.25");
  EXPECT_EQ(Eval1(*m, {"0.25"}, 3), "0.75");  // probability of the predicted class "no"
  EXPECT_EQ(Eval1(*m, {"0.25"}, 4), "no");
  EXPECT_EQ(Eval1(*m, {"0.75"}, 5), "Yes!");
  EXPECT_EQ(Eval1(*m, {"0.25"}, 5), "no");
  EXPECT_EQ(Eval1(*m, {"0.5"}, 6), "0.5");
}

TEST_F(CoreTest, PriorProbabilitiesWhenNoPrediction) {
  auto m = MustLoad(ClassificationDoc(R"(<OutputField name="p_no" feature="probability" value="no"/>
      <OutputField name="disp" feature="predictedDisplayValue"/>)",
                                      R"(<Targets><Target field="label">
        <TargetValue value="yes" priorProbability="0.3"/>
        <TargetValue value="no" priorProbability="0.7" displayValue="Nope"/></Target></Targets>)"));
  ASSERT_TRUE(m);
  EXPECT_EQ(Eval1(*m, {nullptr}, 0), "no");
  EXPECT_EQ(Eval1(*m, {nullptr}, 1), "0.7");
  EXPECT_EQ(Eval1(*m, {nullptr}, 2), "Nope");
  EXPECT_EQ(Eval1(*m, {"0.9"}, 0), "yes");
  EXPECT_EQ(Eval1(*m, {"0.9"}, 1), "0.09999999999999998");
}

TEST_F(CoreTest, RegressionOutputFeatures) {
  auto m = MustLoad(RegressionDoc(kX1X2, R"(<MiningField name="x1"/>)", "x1", R"(<Output>
    <OutputField name="pv" feature="predictedValue"/>
    <OutputField name="pv_int" feature="predictedValue" dataType="integer"/>
    <OutputField name="se" feature="standardError"/>
    <OutputField name="id" feature="entityId"/>
    <OutputField name="res" feature="residual"/>
    <OutputField name="w" feature="warning"/></Output>)"));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->outputs().size(), 7u);
  EXPECT_EQ(m->outputs()[2].type, DataType::kInteger);
  EXPECT_EQ(Eval1(*m, {"2.75"}, 1), "2.75");
  EXPECT_EQ(Eval1(*m, {"2.75"}, 2), "2");
  EXPECT_EQ(Eval1(*m, {"2.75"}, 3), "0.5");
  EXPECT_EQ(Eval1(*m, {"2.75"}, 4), "leaf");
  EXPECT_EQ(Eval1(*m, {"2.75"}, 5), "<missing>");  // no observed target
  EXPECT_EQ(Eval1(*m, {"2.75"}, 6), "<missing>");
  // The target can be bound (after the inputs) to get the residual.
  int y = m->InputIndex("y");
  ASSERT_EQ(y, 1);
  EXPECT_EQ(Eval1(*m, {"2.75", "3"}, 5), "0.25");
}

TEST_F(CoreTest, ModelWithoutTarget) {
  const char* xml = R"(<PMML version="4.4"><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/></DataDictionary>
    <TestModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>
    <Output><OutputField name="out" feature="predictedValue"/></Output><Sum fields="x"/></TestModel></PMML>)";
  auto m = MustLoad(xml);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->outputs().size(), 1u);
  EXPECT_EQ(m->outputs()[0].name, "out");
  EXPECT_EQ(Eval1(*m, {"5"}), "5");
}

TEST_F(CoreTest, SkipsNonModelElementsBeforeTheModel) {
  const char* xml = R"(<PMML version="4.2"><Header/><MiningBuildTask/><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/></DataDictionary><Extension/>
    <TestModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>
    <Sum fields="x"/></TestModel></PMML>)";
  auto m = MustLoad(xml);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->outputs().size(), 0u);
}

TEST_F(CoreTest, ErrorsNameTheElement) {
  // Unknown field in the MiningSchema.
  auto m = CompiledModel::Load(
      RegressionDoc(kX1X2, R"(<MiningField name="x1"/><MiningField name="zz"/>)", "x1"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("/PMML/TestModel/MiningSchema/MiningField[2]"), std::string::npos)
      << m.status();
  EXPECT_NE(Msg(m.status()).find("'zz'"), std::string::npos) << m.status();
  // Unknown model element.
  m = CompiledModel::Load(
      R"(<PMML version="4.4"><DataDictionary/><FancyModel functionName="regression"/></PMML>)");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("/PMML/FancyModel: unsupported model element <FancyModel>"),
            std::string::npos)
      << m.status();
  // Bad dataType.
  m = CompiledModel::Load(R"(<PMML version="4.4"><DataDictionary><DataField name="x" dataType="real"
      optype="continuous"/></DataDictionary></PMML>)");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("/PMML/DataDictionary/DataField: unknown dataType 'real'"),
            std::string::npos)
      << m.status();
  // No model.
  m = CompiledModel::Load(R"(<PMML version="4.4"><DataDictionary/></PMML>)");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("no model element"), std::string::npos);
  // Bad treatment name.
  m = CompiledModel::Load(
      RegressionDoc(kX1X2, R"(<MiningField name="x1" outliers="sometimes"/>)", "x1"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("unknown outliers treatment 'sometimes'"), std::string::npos);
  // Unknown field referenced by the body.
  m = CompiledModel::Load(RegressionDoc(kX1X2, R"(<MiningField name="x1"/>)", "x1 nothere"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("/PMML/TestModel/Sum"), std::string::npos) << m.status();
}

TEST_F(CoreTest, LoadFileAndSafety) {
  auto m = CompiledModel::Load(R"(<!DOCTYPE PMML [<!ENTITY e "x">]><PMML version="4.4"/>)");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("DOCTYPE"), std::string::npos);
  m = CompiledModel::LoadFile("/nonexistent.pmml");
  EXPECT_FALSE(m.ok());
}

TEST_F(CoreTest, DerivedFieldsAreLazyAndSeeTreatedInputs) {
  const char* xml = R"(<PMML version="4.4"><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
    <TransformationDictionary>
      <DefineFunction name="twice" optype="continuous" dataType="double">
        <ParameterField name="v"/><Apply function="*"><FieldRef field="v"/><Constant>2</Constant></Apply>
      </DefineFunction>
      <DerivedField name="d" optype="continuous" dataType="double"><Apply function="twice"><FieldRef field="x"/></Apply></DerivedField>
      <DerivedField name="unused" optype="continuous" dataType="double"><FieldRef field="nowhere"/></DerivedField>
    </TransformationDictionary>
    <TestModel functionName="regression"><MiningSchema><MiningField name="x" missingValueReplacement="5"/>
      <MiningField name="y" usageType="target"/></MiningSchema>
    <LocalTransformations>
      <DerivedField name="e" optype="continuous" dataType="double"><Apply function="+"><FieldRef field="d"/><Constant>1</Constant></Apply></DerivedField>
    </LocalTransformations>
    <Output>
      <OutputField name="pv" feature="predictedValue"/>
      <OutputField name="t" feature="transformedValue"><Apply function="*"><FieldRef field="pv"/><Constant>10</Constant></Apply></OutputField>
      <OutputField name="dec" feature="decision"><Apply function="if"><Apply function="greaterThan"><FieldRef field="pv"/><Constant>8</Constant></Apply><Constant dataType="string">high</Constant><Constant dataType="string">low</Constant></Apply></OutputField>
    </Output>
    <Sum fields="e"/></TestModel></PMML>)";
  auto m = MustLoad(xml);
  ASSERT_TRUE(m);
  EXPECT_EQ(Eval1(*m, {"1.5"}, 0), "4");     // 2*1.5+1
  EXPECT_EQ(Eval1(*m, {nullptr}, 0), "11");  // x replaced by 5 before d sees it
  EXPECT_EQ(Eval1(*m, {"1.5"}, 2), "40");
  EXPECT_EQ(Eval1(*m, {"1.5"}, 3), "low");
  EXPECT_EQ(Eval1(*m, {nullptr}, 3), "high");
}

TEST_F(CoreTest, DerivedFieldCycleIsAnError) {
  const char* xml = R"(<PMML version="4.4"><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/></DataDictionary>
    <TransformationDictionary>
      <DerivedField name="a" optype="continuous" dataType="double"><Apply function="+"><FieldRef field="b"/><Constant>1</Constant></Apply></DerivedField>
      <DerivedField name="b" optype="continuous" dataType="double"><Apply function="+"><FieldRef field="a"/><FieldRef field="x"/></Apply></DerivedField>
    </TransformationDictionary>
    <TestModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>
    <Sum fields="a"/></TestModel></PMML>)";
  auto m = CompiledModel::Load(xml);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("reference cycle"), std::string::npos) << m.status();
  EXPECT_NE(Msg(m.status()).find("/PMML/TransformationDictionary/DerivedField"), std::string::npos)
      << m.status();
}

TEST_F(CoreTest, UnknownFieldInDerivedFieldNamesThePath) {
  const char* xml = R"(<PMML version="4.4"><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/></DataDictionary>
    <TestModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>
    <LocalTransformations><DerivedField name="a" optype="continuous" dataType="double">
      <FieldRef field="ghost"/></DerivedField></LocalTransformations>
    <Sum fields="a"/></TestModel></PMML>)";
  auto m = CompiledModel::Load(xml);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("/PMML/TestModel/LocalTransformations/DerivedField/FieldRef"),
            std::string::npos)
      << m.status();
  EXPECT_NE(Msg(m.status()).find("ghost"), std::string::npos) << m.status();
}

TEST_F(CoreTest, ModelChainExposesTheLastSegmentsOutputs) {
  const char* xml = R"(<PMML version="4.4"><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
    <MiningModel functionName="regression"><MiningSchema><MiningField name="x"/>
      <MiningField name="y" usageType="target"/></MiningSchema>
      <Output><OutputField name="top" feature="predictedValue"/></Output>
      <Segmentation multipleModelMethod="modelChain">
        <Segment id="1"><True/><TestModel functionName="regression"><MiningSchema><MiningField name="x"/></MiningSchema>
          <Output><OutputField name="first" feature="predictedValue" isFinalResult="false"/></Output>
          <Sum fields="x"/></TestModel></Segment>
        <Segment id="2"><True/><TestModel functionName="regression"><MiningSchema><MiningField name="first"/>
          <MiningField name="y" usageType="target"/></MiningSchema>
          <Output><OutputField name="second" feature="predictedValue"/></Output>
          <Targets><Target field="y" rescaleConstant="100"/></Targets>
          <Sum fields="first first"/></TestModel></Segment>
      </Segmentation></MiningModel></PMML>)";
  auto m = CompiledModel::Load(xml);
  if (!m.ok() && Msg(m.status()).find("not supported yet") != std::string::npos)
    GTEST_SKIP() << "no MiningModel";
  ASSERT_TRUE(m.ok()) << m.status();
  const auto& outs = (*m)->outputs();
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[0].name, "y");
  EXPECT_EQ(outs[1].name, "second");  // nested outputs first, only the chain's last segment
  EXPECT_EQ(outs[2].name, "top");
  EXPECT_EQ(Eval1(**m, {"2"}, 1), "104");
  EXPECT_EQ(Eval1(**m, {"2"}, 2), "104");
}

// A chain d1 <- d2 <- ... <- dN of LocalTransformations.
std::string ChainDoc(int n, const std::string& sum_fields, bool reverse) {
  std::string xml = R"(<PMML version="4.4"><DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/></DataDictionary>
    <TestModel functionName="regression"><MiningSchema><MiningField name="x"/>
    <MiningField name="y" usageType="target"/></MiningSchema><LocalTransformations>)";
  for (int i = 1; i <= n; ++i) {
    absl::StrAppend(&xml, "<DerivedField name=\"d", i,
                    "\" optype=\"continuous\" dataType=\"double\">",
                    "<Apply function=\"+\"><FieldRef field=\"",
                    i == 1 ? std::string("x") : absl::StrCat("d", i - 1),
                    "\"/><Constant>1</Constant></Apply></DerivedField>");
  }
  absl::StrAppend(&xml, "</LocalTransformations><Sum fields=\"", sum_fields, "\" reverse=\"",
                  reverse ? "true" : "false", "\"/></TestModel></PMML>");
  return xml;
}

TEST_F(CoreTest, LongDerivedFieldChainsFailCleanly) {
  // Compiled lazily from the far end: the compile nesting is bounded.
  auto m = CompiledModel::Load(ChainDoc(400, "d400", false));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(Msg(m.status()).find("nested more than 250 deep"), std::string::npos) << m.status();
  // Compiled in order (shallow) but read from the far end at run time: the
  // record fails instead of overflowing the stack.
  std::string all;
  for (int i = 1; i <= 1500; ++i) absl::StrAppend(&all, i > 1 ? " " : "", "d", i);
  auto deep = MustLoad(ChainDoc(1500, all, true));
  ASSERT_TRUE(deep);
  EXPECT_NE(Eval1(*deep, {"1"}).find("nested more than 1000 deep"), std::string::npos);
  // A moderate chain works.
  auto ok = MustLoad(ChainDoc(200, "d200", false));
  ASSERT_TRUE(ok);
  EXPECT_EQ(Eval1(*ok, {"1"}), "201");
}

TEST_F(CoreTest, NoAllocationPerRecord) {
  auto m = MustLoad(ClassificationDoc(R"(
    <OutputField name="p_yes" feature="probability" value="yes"/>
    <OutputField name="pred" feature="predictedValue"/>)",
                                      "", ""));
  ASSERT_TRUE(m);
  auto ctx = m->NewContext();
  auto run = [&](double x) {
    ctx->BeginRecord();
    m->SetInput(*ctx, 0, x);
    ASSERT_TRUE(m->Evaluate(*ctx).ok());
  };
  run(0.3);  // warm up: first record may size buffers
  run(0.7);
  g_allocs = 0;
  g_count_allocs = true;
  for (int i = 0; i < 1000; ++i) run(i % 2 ? 0.2 : 0.8);
  g_count_allocs = false;
  EXPECT_EQ(g_allocs.load(), 0);
  // Text inputs do not allocate either.
  g_allocs = 0;
  g_count_allocs = true;
  for (int i = 0; i < 1000; ++i) {
    ctx->BeginRecord();
    m->SetInput(*ctx, 0, i % 2 ? "0.25" : "0.75");
    ASSERT_TRUE(m->Evaluate(*ctx).ok());
  }
  g_count_allocs = false;
  EXPECT_EQ(g_allocs.load(), 0);
}

}  // namespace
}  // namespace evs::pmml
