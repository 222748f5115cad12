#include "service/protocol.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "simdjson.h"

namespace evs::service {
namespace {

::testing::AssertionResult Contains(std::string_view s, std::string_view part) {
  if (s.find(part) != std::string_view::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << s << "\" does not contain \"" << part << "\"";
}

InputTensor In(std::string name, DType dtype, std::vector<int64_t> shape,
               std::vector<std::string> fields) {
  return InputTensor{std::move(name), dtype, std::move(shape), std::move(fields)};
}

Codec Make(Protocol p, TfFormat f, std::vector<InputTensor> in,
           std::vector<OutputMapping> out = {}) {
  absl::StatusOr<Codec> c = Codec::Create(p, f, std::move(in), std::move(out));
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) std::abort();
  return *std::move(c);
}

Codec V2(std::vector<InputTensor> in, std::vector<OutputMapping> out = {}) {
  return Make(Protocol::kV2, TfFormat::kInstances, std::move(in), std::move(out));
}
Codec TfRows(std::vector<InputTensor> in, std::vector<OutputMapping> out = {}) {
  return Make(Protocol::kTfServing, TfFormat::kInstances, std::move(in), std::move(out));
}
Codec TfCols(std::vector<InputTensor> in, std::vector<OutputMapping> out = {}) {
  return Make(Protocol::kTfServing, TfFormat::kInputs, std::move(in), std::move(out));
}

Value N(double d) { return Value::Number(d); }
Value S(std::string s) { return Value::String(std::move(s)); }
Value B(bool b) { return Value::Bool(b); }

std::string Encode(const Codec& c, const std::vector<RowValues>& rows) {
  std::vector<const RowValues*> ptrs;
  for (const RowValues& r : rows) ptrs.push_back(&r);
  std::string body;
  absl::Status s = c.EncodeRequest(ptrs, &body);
  EXPECT_TRUE(s.ok()) << s;
  return body;
}

absl::Status EncodeStatus(const Codec& c, const std::vector<RowValues>& rows) {
  std::vector<const RowValues*> ptrs;
  for (const RowValues& r : rows) ptrs.push_back(&r);
  std::string body = "prefix";
  absl::Status s = c.EncodeRequest(ptrs, &body);
  if (!s.ok()) {
    EXPECT_EQ(body, "prefix") << "a failed encode must not append";
  }
  return s;
}

std::vector<std::string> Decode(const Codec& c, std::string_view body, size_t n) {
  std::vector<std::string> rows;
  absl::Status s = c.DecodeResponse(body, n, &rows);
  EXPECT_TRUE(s.ok()) << s << "\nbody: " << body;
  return rows;
}

std::string DecodeError(const Codec& c, std::string_view body, size_t n) {
  std::vector<std::string> rows = {"stale"};
  absl::Status s = c.DecodeResponse(body, n, &rows);
  EXPECT_FALSE(s.ok()) << "body: " << body;
  EXPECT_TRUE(rows.empty()) << "rows are cleared on error";
  return std::string(s.message());
}

// A fragment is valid when wrapping it in braces gives a JSON object.
bool IsValidFragment(const std::string& fragment) {
  simdjson::dom::parser parser;
  simdjson::padded_string doc("{" + fragment + "}");
  simdjson::dom::element root;
  return parser.parse(doc).get(root) == simdjson::SUCCESS && root.is_object();
}

// ---------------------------------------------------------------------------
// Data types, URLs, readiness

TEST(DType, ParsesV2AndTfNames) {
  const DType all[] = {DType::kBool,  DType::kInt8,   DType::kInt16,  DType::kInt32,  DType::kInt64,
                       DType::kUint8, DType::kUint16, DType::kUint32, DType::kUint64, DType::kFp16,
                       DType::kFp32,  DType::kFp64,   DType::kBytes};
  for (DType t : all) {
    DType parsed = DType::kBool;
    ASSERT_TRUE(ParseDType(DTypeName(t), &parsed)) << DTypeName(t);
    EXPECT_EQ(parsed, t);
  }
  struct Case {
    const char* name;
    DType want;
  } cases[] = {{"fp64", DType::kFp64},      {"Fp32", DType::kFp32},      {"float32", DType::kFp32},
               {"float", DType::kFp32},     {"double", DType::kFp64},    {"float64", DType::kFp64},
               {"half", DType::kFp16},      {"int64", DType::kInt64},    {"uint8", DType::kUint8},
               {"string", DType::kBytes},   {"bool", DType::kBool},      {"DT_FLOAT", DType::kFp32},
               {"DT_INT32", DType::kInt32}, {"DT_STRING", DType::kBytes}};
  for (const Case& c : cases) {
    DType parsed = DType::kBool;
    EXPECT_TRUE(ParseDType(c.name, &parsed)) << c.name;
    EXPECT_EQ(parsed, c.want) << c.name;
  }
  DType parsed;
  EXPECT_FALSE(ParseDType("", &parsed));
  EXPECT_FALSE(ParseDType("FP128", &parsed));
  EXPECT_FALSE(ParseDType("dt_", &parsed));
  EXPECT_STREQ(DTypeName(DType::kUint16), "UINT16");
}

TEST(Urls, V2) {
  ModelRef m{"http://h:8080", "iris", ""};
  EXPECT_EQ(InferUrl(Protocol::kV2, m), "http://h:8080/v2/models/iris/infer");
  EXPECT_EQ(ModelReadyUrl(Protocol::kV2, m), "http://h:8080/v2/models/iris/ready");
  EXPECT_EQ(MetadataUrl(Protocol::kV2, m), "http://h:8080/v2/models/iris");
  EXPECT_EQ(ServerReadyUrl(Protocol::kV2, m), "http://h:8080/v2/health/ready");
  m.version = "3";
  EXPECT_EQ(InferUrl(Protocol::kV2, m), "http://h:8080/v2/models/iris/versions/3/infer");
  EXPECT_EQ(ModelReadyUrl(Protocol::kV2, m), "http://h:8080/v2/models/iris/versions/3/ready");
  EXPECT_EQ(MetadataUrl(Protocol::kV2, m), "http://h:8080/v2/models/iris/versions/3");
  EXPECT_EQ(ServerReadyUrl(Protocol::kV2, m), "http://h:8080/v2/health/ready");
}

TEST(Urls, TfServing) {
  ModelRef m{"http://h:8501", "half_plus_two", ""};
  EXPECT_EQ(InferUrl(Protocol::kTfServing, m), "http://h:8501/v1/models/half_plus_two:predict");
  EXPECT_EQ(ModelReadyUrl(Protocol::kTfServing, m), "http://h:8501/v1/models/half_plus_two");
  EXPECT_EQ(MetadataUrl(Protocol::kTfServing, m), "http://h:8501/v1/models/half_plus_two/metadata");
  EXPECT_EQ(ServerReadyUrl(Protocol::kTfServing, m), "http://h:8501/v1/models/half_plus_two");
  m.version = "00123";
  EXPECT_EQ(InferUrl(Protocol::kTfServing, m),
            "http://h:8501/v1/models/half_plus_two/versions/00123:predict");
  EXPECT_EQ(ModelReadyUrl(Protocol::kTfServing, m),
            "http://h:8501/v1/models/half_plus_two/versions/00123");
  EXPECT_EQ(MetadataUrl(Protocol::kTfServing, m),
            "http://h:8501/v1/models/half_plus_two/versions/00123/metadata");
}

TEST(Urls, TrailingSlashAndUnsafeCharacters) {
  ModelRef m{"http://h:1/", "my model/x", "v 1"};
  EXPECT_EQ(InferUrl(Protocol::kV2, m), "http://h:1/v2/models/my%20model%2Fx/versions/v%201/infer");
  EXPECT_EQ(ServerReadyUrl(Protocol::kV2, m), "http://h:1/v2/health/ready");
  ModelRef plain{"http://h:1", "a-b_c.d~e", "1"};
  EXPECT_EQ(InferUrl(Protocol::kTfServing, plain),
            "http://h:1/v1/models/a-b_c.d~e/versions/1:predict");
}

TEST(Readiness, V2IsTheStatusCode) {
  EXPECT_TRUE(IsReadyResponse(Protocol::kV2, 200, ""));
  EXPECT_TRUE(IsReadyResponse(Protocol::kV2, 200, "not json"));
  EXPECT_FALSE(IsReadyResponse(Protocol::kV2, 400, ""));
  EXPECT_FALSE(IsReadyResponse(Protocol::kV2, 503, "{}"));
}

TEST(Readiness, TfServingModelStatus) {
  const char* available =
      R"({"model_version_status":[{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]})";
  const char* loading = R"({"model_version_status":[{"version":"2","state":"LOADING"}]})";
  const char* one_of_two =
      R"({"model_version_status":[{"version":"2","state":"LOADING"},{"version":"1","state":"AVAILABLE"}]})";
  EXPECT_TRUE(IsReadyResponse(Protocol::kTfServing, 200, available));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, loading));
  EXPECT_TRUE(IsReadyResponse(Protocol::kTfServing, 200, one_of_two));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 404, available));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, R"({"model_version_status":[]})"));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, R"({"model_version_status":"x"})"));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, "{}"));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, ""));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, "{\"model_version_status\":["));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, "[1,2]"));
}

TEST(Readiness, KServeV1) {
  EXPECT_TRUE(IsReadyResponse(Protocol::kTfServing, 200, R"({"name":"iris","ready":true})"));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, R"({"name":"iris","ready":false})"));
  EXPECT_TRUE(IsReadyResponse(Protocol::kTfServing, 200, R"({"name":"iris","ready":"True"})"));
  EXPECT_FALSE(IsReadyResponse(Protocol::kTfServing, 200, R"({"name":"iris","ready":1})"));
}

// ---------------------------------------------------------------------------
// Metadata

TEST(Metadata, MlServerWithNothingDeclared) {
  absl::StatusOr<ModelMetadata> md = ParseV2Metadata(
      R"({"name":"iris","versions":[],"platform":"","inputs":[],"outputs":[],"parameters":{}})");
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->name, "iris");
  EXPECT_TRUE(md->versions.empty());
  EXPECT_TRUE(md->inputs.empty());
  EXPECT_TRUE(md->outputs.empty());
}

TEST(Metadata, Full) {
  absl::StatusOr<ModelMetadata> md = ParseV2Metadata(R"({
    "name": "iris", "versions": ["1", "2", 3], "platform": "sklearn",
    "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, 4]},
               {"name": "tag", "datatype": "BYTES", "shape": [-1]}],
    "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1], "parameters": {}}]})");
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->name, "iris");
  EXPECT_EQ(md->versions, (std::vector<std::string>{"1", "2", "3"}));
  ASSERT_EQ(md->inputs.size(), 2u);
  EXPECT_EQ(md->inputs[0].name, "x");
  EXPECT_EQ(md->inputs[0].datatype, "FP64");
  EXPECT_EQ(md->inputs[0].shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(md->inputs[1].name, "tag");
  EXPECT_EQ(md->inputs[1].shape, (std::vector<int64_t>{-1}));
  ASSERT_EQ(md->outputs.size(), 1u);
  EXPECT_EQ(md->outputs[0].name, "predict");
  EXPECT_EQ(md->outputs[0].datatype, "INT64");
  EXPECT_EQ(md->outputs[0].shape, (std::vector<int64_t>{-1, 1}));
}

TEST(Metadata, Errors) {
  struct Case {
    const char* body;
    const char* want;
  } cases[] = {
      {"", "metadata is not JSON"},
      {"{\"name\":", "metadata is not JSON"},
      {"[]", "metadata is an array, not an object"},
      {R"({"error":"Model iris not found"})", "Model iris not found"},
      {R"({"name":5})", "\"name\" is not a string"},
      {R"({"name":"m","versions":"1"})", "\"versions\" is not an array"},
      {R"({"name":"m","versions":[{}]})", "\"versions\""},
      {R"({"name":"m","inputs":{}})", "\"inputs\" is an object, not an array"},
      {R"({"name":"m","inputs":[1]})", "inputs[0] is a number, not an object"},
      {R"({"name":"m","outputs":[{"name":"a","shape":[1]},{"name":"b","shape":["x"]}]})",
       "outputs[1].shape is not an array of integers"},
      {R"({"name":"m","outputs":[{"name":"a","datatype":7}]})", "outputs[0].datatype"},
      {R"({"name":"m","inputs":[{"name":[]}]})", "inputs[0].name"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ModelMetadata> md = ParseV2Metadata(c.body);
    ASSERT_FALSE(md.ok()) << c.body;
    EXPECT_TRUE(Contains(std::string(md.status().message()), c.want)) << c.body;
  }
}

// ---------------------------------------------------------------------------
// Codec::Create

TEST(Create, Validation) {
  struct Case {
    Protocol p;
    TfFormat f;
    std::vector<InputTensor> in;
    std::vector<OutputMapping> out;
    const char* want;  // nullptr: valid
  };
  const Protocol kV2 = Protocol::kV2, kTf = Protocol::kTfServing;
  const TfFormat kRows = TfFormat::kInstances, kCols = TfFormat::kInputs;
  const InputTensor x = In("x", DType::kFp64, {2}, {"a", "b"});
  const Case cases[] = {
      {kV2, kRows, {x}, {}, nullptr},
      {kV2, kRows, {}, {}, "inputs: at least one input"},
      {kV2, kRows, {In("", DType::kFp64, {}, {"a"})}, {}, "inputs[0].name: empty"},
      {kTf, kRows, {In("", DType::kFp64, {}, {"a"})}, {}, nullptr},
      {kTf, kCols, {In("", DType::kFp64, {}, {"a"})}, {}, nullptr},
      {kTf, kRows, {x, In("", DType::kFp64, {}, {"c"})}, {}, "inputs[1].name: empty"},
      {kV2,
       kRows,
       {x, In("y", DType::kFp64, {}, {"c"}), In("x", DType::kInt64, {}, {"d"})},
       {},
       "inputs[2].name: 'x' is already used by inputs[0]"},
      {kV2,
       kRows,
       {In("x", DType::kFp64, {2, 0}, {"a", "b"})},
       {},
       "inputs[0].shape: dimension 1 is 0"},
      {kV2, kRows, {In("x", DType::kFp64, {-1}, {"a"})}, {}, "inputs[0].shape: dimension 0 is -1"},
      {kV2,
       kRows,
       {x, In("y", DType::kFp64, {3}, {"a", "b", "c", "d"})},
       {},
       "inputs[1].shape: [3] holds 3 values but 4 fields are listed"},
      {kV2,
       kRows,
       {In("x", DType::kFp64, {2, 3}, {"a", "b", "c", "d"})},
       {},
       "inputs[0].shape: [2,3] holds 6 values but 4 fields are listed"},
      {kV2,
       kRows,
       {In("x", DType::kFp64, {}, {"a", "b"})},
       {},
       "inputs[0].shape: a scalar holds 1 value but 2 fields are listed"},
      {kV2,
       kRows,
       {In("x", DType::kFp64, {1 << 30, 1 << 30, 1 << 30, 1 << 30}, {"a"})},
       {},
       "inputs[0].shape: [1073741824,1073741824,1073741824,1073741824] holds more than "
       "1099511627776 values but 1 field is listed"},
      {kV2, kRows, {In("x", DType::kFp64, {}, {})}, {}, "inputs[0].fields: empty"},
      {kV2, kRows, {In("x", DType::kFp64, {2}, {"a", ""})}, {}, "inputs[0].fields[1]: empty"},
      {kV2,
       kRows,
       {In("x", DType::kFp64, std::vector<int64_t>(65, 1), {"a"})},
       {},
       "inputs[0].shape: 65 dimensions"},
      {kV2, kRows, {In("x", DType::kFp64, std::vector<int64_t>(64, 1), {"a"})}, {}, nullptr},
      {kV2, kRows, {x}, {{"predict", "label"}, {"proba", "p"}}, nullptr},
      {kV2, kRows, {x}, {{"predict", ""}}, "outputs[0].field: empty"},
      {kV2, kRows, {x}, {{"predict", "y"}, {"proba", "y"}}, "outputs[1].field: 'y' is already"},
      {kV2, kRows, {x}, {{"", "y"}}, "outputs[0].tensor: empty"},
      {kTf, kRows, {x}, {{"", "y"}, {"scores", "s"}}, nullptr},
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    const Case& c = cases[i];
    absl::StatusOr<Codec> codec = Codec::Create(c.p, c.f, c.in, c.out);
    if (c.want == nullptr) {
      EXPECT_TRUE(codec.ok()) << "case " << i << ": " << codec.status();
    } else {
      ASSERT_FALSE(codec.ok()) << "case " << i;
      EXPECT_TRUE(Contains(std::string(codec.status().message()), c.want)) << "case " << i;
    }
  }
}

TEST(Create, Accessors) {
  Codec c = V2({In("x", DType::kFp64, {2}, {"a", "b"}), In("y", DType::kInt32, {}, {"c"})},
               {{"predict", "label"}});
  EXPECT_EQ(c.protocol(), Protocol::kV2);
  EXPECT_EQ(c.values_per_row(), 3u);
  EXPECT_EQ(c.inputs().size(), 2u);
  EXPECT_EQ(c.outputs().size(), 1u);
}

// ---------------------------------------------------------------------------
// Requests

TEST(EncodeV2, MlServerIrisExample) {
  Codec c = V2({In("x", DType::kFp64, {4}, {"sl", "sw", "pl", "pw"})});
  EXPECT_EQ(Encode(c, {{N(5.1), N(3.5), N(1.4), N(0.2)}, {N(6.7), N(3.0), N(5.2), N(2.3)}}),
            R"({"inputs":[{"name":"x","datatype":"FP64","shape":[2,4],)"
            R"("data":[5.1,3.5,1.4,0.2,6.7,3,5.2,2.3]}]})");
}

TEST(EncodeV2, SeveralInputsScalarVectorMatrix) {
  Codec c =
      V2({In("n", DType::kInt64, {}, {"f1"}), In("m", DType::kFp32, {2, 2}, {"a", "b", "c", "d"}),
          In("flag", DType::kBool, {1}, {"g"}), In("s", DType::kBytes, {}, {"h"})});
  EXPECT_EQ(Encode(c, {{N(7), N(1), N(2), N(3), N(4.5), B(true), S("x\"y")},
                       {N(-8), N(0.25), N(0), N(-1), N(1e-7), N(0), S("")}}),
            R"({"inputs":[)"
            R"({"name":"n","datatype":"INT64","shape":[2],"data":[7,-8]},)"
            R"({"name":"m","datatype":"FP32","shape":[2,2,2],"data":[1,2,3,4.5,0.25,0,-1,1e-07]},)"
            R"({"name":"flag","datatype":"BOOL","shape":[2,1],"data":[true,false]},)"
            R"({"name":"s","datatype":"BYTES","shape":[2],"data":["x\"y",""]}]})");
}

TEST(EncodeV2, EmptyBatch) {
  Codec c = V2({In("x", DType::kFp64, {2}, {"a", "b"})});
  EXPECT_EQ(Encode(c, {}),
            R"({"inputs":[{"name":"x","datatype":"FP64","shape":[0,2],"data":[]}]})");
}

TEST(EncodeTf, InstancesSingleInput) {
  EXPECT_EQ(Encode(TfRows({In("x", DType::kFp32, {}, {"a"})}), {{N(1.5)}, {N(2)}}),
            R"({"instances":[1.5,2]})");
  EXPECT_EQ(Encode(TfRows({In("", DType::kFp32, {3}, {"a", "b", "c"})}),
                   {{N(1), N(2), N(3)}, {N(4), N(5), N(6)}}),
            R"({"instances":[[1,2,3],[4,5,6]]})");
  EXPECT_EQ(Encode(TfRows({In("x", DType::kInt32, {2, 3}, {"a", "b", "c", "d", "e", "f"})}),
                   {{N(1), N(2), N(3), N(4), N(5), N(6)}}),
            R"({"instances":[[[1,2,3],[4,5,6]]]})");
  EXPECT_EQ(Encode(TfRows({In("x", DType::kFp64, {1}, {"a"})}), {{N(0.5)}}),
            R"({"instances":[[0.5]]})");
}

TEST(EncodeTf, InstancesSeveralInputs) {
  Codec c = TfRows({In("tag", DType::kBytes, {}, {"t"}), In("v", DType::kFp64, {2}, {"a", "b"}),
                    In("on", DType::kBool, {}, {"o"})});
  EXPECT_EQ(
      Encode(c, {{S("a"), N(1), N(2), B(false)}, {S("b"), N(3.25), N(-4), N(1)}}),
      R"({"instances":[{"tag":"a","v":[1,2],"on":false},{"tag":"b","v":[3.25,-4],"on":true}]})");
}

TEST(EncodeTf, ColumnarSingleInput) {
  EXPECT_EQ(Encode(TfCols({In("x", DType::kFp64, {}, {"a"})}), {{N(1)}, {N(2.5)}}),
            R"({"inputs":[1,2.5]})");
  EXPECT_EQ(Encode(TfCols({In("", DType::kFp64, {2}, {"a", "b"})}), {{N(1), N(2)}, {N(3), N(4)}}),
            R"({"inputs":[[1,2],[3,4]]})");
}

TEST(EncodeTf, ColumnarSeveralInputs) {
  Codec c = TfCols({In("a", DType::kInt64, {}, {"f"}), In("m", DType::kFp64, {2, 1}, {"g", "h"})});
  EXPECT_EQ(Encode(c, {{N(1), N(0.5), N(0.75)}, {N(2), N(1.5), N(1.75)}}),
            R"({"inputs":{"a":[1,2],"m":[[[0.5],[0.75]],[[1.5],[1.75]]]}})");
}

TEST(Encode, AppendsToBody) {
  Codec c = TfRows({In("x", DType::kFp64, {}, {"a"})});
  RowValues r = {N(1)};
  std::string body = "xyz";
  ASSERT_TRUE(c.EncodeRequest({&r}, &body).ok());
  EXPECT_EQ(body, R"(xyz{"instances":[1]})");
}

TEST(Encode, IntegersBeyond2To53AreWrittenExactly) {
  Codec c = V2({In("i", DType::kInt64, {3}, {"a", "b", "c"}), In("u", DType::kUint64, {}, {"d"})});
  EXPECT_EQ(Encode(c, {{N(9007199254740994.0), N(-9223372036854775808.0), N(4611686018427387904.0),
                        N(18446744073709549568.0)}}),
            R"({"inputs":[{"name":"i","datatype":"INT64","shape":[1,3],)"
            R"("data":[9007199254740994,-9223372036854775808,4611686018427387904]},)"
            R"({"name":"u","datatype":"UINT64","shape":[1],"data":[18446744073709549568]}]})");
}

struct DTypeCase {
  DType dtype;
  Value value;
  const char* want;               // nullptr: accepted
  const char* written = nullptr;  // the value in the body when accepted
};

TEST(Encode, DTypeChecks) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const DTypeCase cases[] = {
      {DType::kFp64, N(1.25), nullptr, "1.25"},
      {DType::kFp64, N(1e300), nullptr, "1e+300"},
      {DType::kFp64, N(3), nullptr, "3"},
      {DType::kFp64, S("1.5"), "\"1.5\" is not a number"},
      {DType::kFp64, B(true), "true is not a number"},
      {DType::kFp64, N(nan), "NaN is not a finite number"},
      {DType::kFp64, N(-inf), "infinity is not a finite number"},
      {DType::kFp64, Value::Null(), "null is not a value"},
      {DType::kFp64, Value::Raw("[1,2]"), "[1,2] is a JSON object or array"},
      {DType::kFp32, N(1e39), "1e+39 is out of range"},
      {DType::kFp32, N(3.0e38), nullptr, "3e+38"},
      {DType::kFp16, N(65504), nullptr, "65504"},
      {DType::kFp16, N(70000), "70000 is out of range"},
      {DType::kInt8, N(127), nullptr, "127"},
      {DType::kInt8, N(-128), nullptr, "-128"},
      {DType::kInt8, N(128), "128 is out of range"},
      {DType::kInt8, N(-129), "-129 is out of range"},
      {DType::kInt16, N(32768), "32768 is out of range"},
      {DType::kInt32, N(2147483647), nullptr, "2147483647"},
      {DType::kInt32, N(2147483648.0), "2147483648 is out of range"},
      {DType::kInt64, N(3.5), "3.5 is not an integer"},
      {DType::kInt64, N(-0.0), nullptr, "0"},
      {DType::kInt64, N(9223372036854775808.0), "9223372036854775808 is out of range"},
      {DType::kInt64, S("3"), "\"3\" is not a number"},
      {DType::kInt64, B(false), "false is not a number"},
      {DType::kUint8, N(255), nullptr, "255"},
      {DType::kUint8, N(256), "256 is out of range"},
      {DType::kUint8, N(-1), "-1 is out of range"},
      {DType::kUint16, N(65536), "65536 is out of range"},
      {DType::kUint32, N(4294967295.0), nullptr, "4294967295"},
      {DType::kUint32, N(4294967296.0), "4294967296 is out of range"},
      {DType::kUint64, N(18446744073709551616.0), "18446744073709551616 is out of range"},
      {DType::kUint64, N(0.5), "0.5 is not an integer"},
      {DType::kBool, B(true), nullptr, "true"},
      {DType::kBool, B(false), nullptr, "false"},
      {DType::kBool, N(1), nullptr, "true"},
      {DType::kBool, N(0), nullptr, "false"},
      {DType::kBool, N(2), "2 is not a bool (nor 0 or 1)"},
      {DType::kBool, S("true"), "\"true\" is not a bool"},
      {DType::kBool, Value::Null(), "null is not a value"},
      {DType::kBytes, S("héllo\n"), nullptr, "\"héllo\\n\""},
      {DType::kBytes, N(5), "5 is not a string"},
      {DType::kBytes, B(true), "true is not a string"},
      {DType::kBytes, Value::Raw("{\"a\":1}"), "{\"a\":1} is a JSON object or array"},
  };
  for (Protocol p : {Protocol::kV2, Protocol::kTfServing}) {
    for (TfFormat f : {TfFormat::kInstances, TfFormat::kInputs}) {
      if (p == Protocol::kV2 && f == TfFormat::kInputs) continue;
      for (const DTypeCase& c : cases) {
        SCOPED_TRACE(testing::Message()
                     << "protocol " << static_cast<int>(p) << " format " << static_cast<int>(f)
                     << " dtype " << DTypeName(c.dtype) << " value " << c.value.DebugString());
        Codec codec = Make(p, f, {In("x", c.dtype, {}, {"age"}), In("y", DType::kFp64, {}, {"z"})});
        const RowValues good = {c.dtype == DType::kBytes ? S("ok") : N(1), N(2)};
        const RowValues row = {c.value, N(2)};
        absl::Status check = codec.CheckRow(row);
        absl::Status enc = EncodeStatus(codec, {good, row});
        if (c.want == nullptr) {
          EXPECT_TRUE(check.ok()) << check;
          ASSERT_TRUE(enc.ok()) << enc;
          const std::string body = Encode(codec, {row});
          EXPECT_TRUE(Contains(body, c.written));
          simdjson::dom::parser parser;
          simdjson::padded_string doc(body);
          simdjson::dom::element root;
          EXPECT_EQ(parser.parse(doc).get(root), simdjson::SUCCESS) << body;
          continue;
        }
        ASSERT_FALSE(check.ok());
        ASSERT_FALSE(enc.ok());
        const std::string where =
            std::string("field 'age' (input 'x', ") + DTypeName(c.dtype) + "): ";
        EXPECT_EQ(std::string(check.message()), where + c.want);
        EXPECT_EQ(std::string(enc.message()), "row 1, " + where + c.want);
      }
    }
  }
}

TEST(Encode, LongValuesAreShortenedInMessages) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})});
  absl::Status s = c.CheckRow({S(std::string(1000, 'z'))});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "field 'a' (input 'x', FP64): \"" + std::string(40, 'z') + "...\" is not a number");
}

TEST(Encode, RowSizeAndNullRow) {
  Codec c = V2({In("x", DType::kFp64, {2}, {"a", "b"})});
  absl::Status s = c.CheckRow({N(1)});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "row has 1 values, expected 2");
  s = EncodeStatus(c, {{N(1), N(2)}, {N(1), N(2), N(3)}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "row 1 has 3 values, expected 2");
  std::string body;
  s = c.EncodeRequest({nullptr}, &body);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(body.empty());
}

// ---------------------------------------------------------------------------
// Responses: v2

TEST(DecodeV2, MlServerIrisExample) {
  const char* response =
      R"({"model_name":"iris","model_version":"v1","id":"c80650f1-5a0e-4d31-9d3c-4f1a4a0b7e9d",)"
      R"("parameters":{},"outputs":[{"name":"predict","shape":[2,1],"datatype":"INT64",)"
      R"("parameters":{"content_type":"np"},"data":[0,2]}]})";
  Codec c = V2({In("x", DType::kFp64, {4}, {"sl", "sw", "pl", "pw"})});
  EXPECT_EQ(Decode(c, response, 2),
            (std::vector<std::string>{R"("prediction":0)", R"("prediction":2)"}));
  Codec mapped =
      V2({In("x", DType::kFp64, {4}, {"sl", "sw", "pl", "pw"})}, {{"predict", "species"}});
  EXPECT_EQ(Decode(mapped, response, 2),
            (std::vector<std::string>{R"("species":0)", R"("species":2)"}));
  EXPECT_EQ(DecodeError(mapped, response, 3), "output 'predict' has shape [2,1] for a batch of 3");
}

TEST(DecodeV2, NestedDataIsFlattened) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})});
  EXPECT_EQ(
      Decode(c,
             R"({"outputs":[{"name":"p","datatype":"FP64","shape":[2,1],"data":[[0.5],[1.5]]}]})",
             2),
      (std::vector<std::string>{R"("prediction":0.5)", R"("prediction":1.5)"}));
  EXPECT_EQ(Decode(c, R"({"outputs":[{"name":"p","shape":[2,2],"data":[[1,2],[3,4]]}]})", 2),
            (std::vector<std::string>{R"("prediction":[1,2])", R"("prediction":[3,4])"}));
  // Nesting that does not follow the shape is flattened all the same.
  EXPECT_EQ(Decode(c, R"({"outputs":[{"name":"p","shape":[2,2],"data":[[1],[2,[3]],4]}]})", 2),
            (std::vector<std::string>{R"("prediction":[1,2])", R"("prediction":[3,4])"}));
}

TEST(DecodeV2, PerRowShapes) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})});
  struct Case {
    const char* shape_and_data;
    std::vector<std::string> want;
  } cases[] = {
      {R"("shape":[2],"data":[1,2])", {"1", "2"}},
      {R"("shape":[2,1,1],"data":[1,2])", {"1", "2"}},
      {R"("shape":[2,3],"data":[1,2,3,4,5,6])", {"[1,2,3]", "[4,5,6]"}},
      {R"("shape":[2,2,2],"data":[1,2,3,4,5,6,7,8])", {"[[1,2],[3,4]]", "[[5,6],[7,8]]"}},
      {R"("shape":[2,1,2],"data":[1,2,3,4])", {"[[1,2]]", "[[3,4]]"}},
      {R"("shape":[2,2,0],"data":[])", {"[]", "[]"}},
      {R"("shape":[2,1000000000000,0],"data":[])", {"[]", "[]"}},
      {R"("shape":[2.0,2],"data":[1,2,3,4])", {"[1,2]", "[3,4]"}},
  };
  for (const Case& k : cases) {
    const std::string body =
        std::string(R"({"outputs":[{"name":"p","datatype":"FP64",)") + k.shape_and_data + "}]}";
    std::vector<std::string> rows = Decode(c, body, 2);
    ASSERT_EQ(rows.size(), 2u) << body;
    EXPECT_EQ(rows[0], "\"prediction\":" + k.want[0]) << body;
    EXPECT_EQ(rows[1], "\"prediction\":" + k.want[1]) << body;
  }
}

TEST(DecodeV2, ValueTypesAreReserialized) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})});
  const char* body =
      R"({"outputs":[{"name":"p","shape":[6],"data":[1.0,0.1,-2.5e-3,9223372036854775807,18446744073709551615,-9007199254740993]},)"
      R"({"name":"label","datatype":"BYTES","shape":[6,1],"data":["a","\u00e9\"","","x","y","z"]},)"
      R"({"name":"ok","datatype":"BOOL","shape":[6],"data":[true,false,true,false,true,null]}]})";
  EXPECT_EQ(Decode(c, body, 6),
            (std::vector<std::string>{R"("p":1,"label":"a","ok":true)",
                                      R"("p":0.1,"label":"é\"","ok":false)",
                                      R"("p":-0.0025,"label":"","ok":true)",
                                      R"("p":9223372036854775807,"label":"x","ok":false)",
                                      R"("p":18446744073709551615,"label":"y","ok":true)",
                                      R"("p":-9007199254740993,"label":"z","ok":null)"}));
}

TEST(DecodeV2, DefaultMappingWritesEveryTensorUnderItsName) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})});
  const char* body =
      R"({"model_name":"m","outputs":[{"name":"predict","datatype":"INT64","shape":[2],"data":[1,0]},)"
      R"({"name":"proba","datatype":"FP64","shape":[2,2],"data":[0.25,0.75,0.5,0.5]}]})";
  EXPECT_EQ(Decode(c, body, 2), (std::vector<std::string>{R"("predict":1,"proba":[0.25,0.75])",
                                                          R"("predict":0,"proba":[0.5,0.5])"}));
  // A repeated tensor name keeps its first tensor.
  const char* repeated =
      R"({"outputs":[{"name":"a","shape":[1],"data":[1]},{"name":"b","shape":[1],"data":[2]},)"
      R"({"name":"a","shape":[1],"data":[3]}]})";
  EXPECT_EQ(Decode(c, repeated, 1), (std::vector<std::string>{R"("a":1,"b":2)"}));
}

TEST(DecodeV2, MappingOrderAndRepeatedTensor) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})},
               {{"proba", "p"}, {"predict", "label"}, {"proba", "p_again"}});
  const char* body =
      R"({"outputs":[{"name":"predict","shape":[1,1],"data":[1]},)"
      R"({"name":"proba","shape":[1,2],"data":[0.25,0.75]},{"name":"extra","shape":[7],"data":[]}]})";
  EXPECT_EQ(Decode(c, body, 1),
            (std::vector<std::string>{R"("p":[0.25,0.75],"label":1,"p_again":[0.25,0.75])"}));
}

TEST(DecodeV2, FieldNamesAreEscaped) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})}, {{"p", "we\"ird"}});
  EXPECT_EQ(Decode(c, R"({"outputs":[{"name":"p","shape":[1],"data":[1]}]})", 1),
            (std::vector<std::string>{R"("we\"ird":1)"}));
}

struct ErrorCase {
  const char* body;
  size_t n;
  const char* want;
};

TEST(DecodeV2, Errors) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})}, {{"predict", "label"}});
  Codec unmapped = V2({In("x", DType::kFp64, {}, {"a"})});
  const ErrorCase cases[] = {
      {"", 1, "response is not JSON: the body is empty"},
      {"   ", 1, "response is not JSON: the body is empty"},
      {"<html>502 Bad Gateway</html>", 1, "response is not JSON: "},
      {R"({"outputs":[1,]})", 1, "at byte 14"},
      {R"({"outputs":[{"name":"predict")", 1, "at byte 29"},
      {R"({"outputs" [])", 1, "at byte 11"},
      {R"({"a":1} x)", 1, "at byte 8"},
      {R"({"a":tru})", 1, "at byte 8"},
      {R"({"a":01})", 1, "at byte 6"},
      {"{\"a\":\"x\x01\"}", 1, "at byte 7"},
      {R"("just a string")", 1, "response is a string, not an object"},
      {R"([1,2])", 1, "response is an array, not an object"},
      {R"({"error":"Model iris not found"})", 1,
       "model server answered an error: Model iris not found"},
      {R"({"error":{"code":3}})", 1, R"(model server answered an error: {"code":3})"},
      {R"({"model_name":"m"})", 1, "response has no \"outputs\" (keys: model_name)"},
      {R"({"outputs":{}})", 1, "response \"outputs\" is an object, not an array"},
      {R"({"outputs":[7]})", 1, "response outputs[0] is a number, not an object"},
      {R"({"outputs":[{"shape":[1],"data":[1]}]})", 1,
       "response outputs[0] has no \"name\" string"},
      {R"({"outputs":[{"name":"proba","shape":[1],"data":[1]}]})", 1,
       "output 'predict' is missing from the response (outputs: proba)"},
      {R"({"outputs":[]})", 1, "output 'predict' is missing from the response (outputs: none)"},
      {R"({"outputs":[{"name":"predict","shape":[3,1],"data":[1,2,3]}]})", 4,
       "output 'predict' has shape [3,1] for a batch of 4"},
      {R"({"outputs":[{"name":"predict","shape":[],"data":[1]}]})", 1,
       "output 'predict' has shape [] for a batch of 1"},
      {R"({"outputs":[{"name":"predict","shape":[2,2],"data":[1,2,3]}]})", 2,
       "output 'predict' has shape [2,2] (4 values) but 3 data values"},
      {R"({"outputs":[{"name":"predict","shape":[2,1000000000000,1000000000000],"data":[1,2]}]})",
       2,
       "output 'predict' has shape [2,1000000000000,1000000000000] (more than 1099511627776 "
       "values) but 2 data values"},
      {R"({"outputs":[{"name":"predict","shape":[2,-1],"data":[1,2]}]})", 2,
       "output 'predict' has shape [2,-1] with a negative dimension"},
      {R"({"outputs":[{"name":"predict","data":[1]}]})", 1, "output 'predict' has no shape"},
      {R"({"outputs":[{"name":"predict","shape":"1","data":[1]}]})", 1,
       "output 'predict' has a shape that is not a list of integers"},
      {R"({"outputs":[{"name":"predict","shape":[1.5],"data":[1]}]})", 1,
       "output 'predict' has a shape that is not a list of integers"},
      {R"({"outputs":[{"name":"predict","shape":[1]}]})", 1,
       "output 'predict' has no \"data\" (binary tensor data is not supported)"},
      {R"({"outputs":[{"name":"predict","shape":[1],"data":5}]})", 1,
       "output 'predict' has data that is a number, not an array"},
      {R"({"outputs":[{"name":"predict","shape":[1],"data":[{"a":1}]}]})", 1,
       "output 'predict' has an object inside its data"},
  };
  for (const ErrorCase& k : cases)
    EXPECT_TRUE(Contains(DecodeError(c, k.body, k.n), k.want)) << k.body;
  EXPECT_EQ(DecodeError(unmapped, R"({"outputs":[]})", 1), "response has no output tensors");
}

TEST(DecodeV2, DeepNestingIsAnErrorNotACrash) {
  Codec c = V2({In("x", DType::kFp64, {}, {"a"})});
  for (size_t depth : {100, 127, 200, 100000}) {
    std::string body = R"({"outputs":[{"name":"p","shape":[1],"data":)";
    body += std::string(depth, '[') + "1" + std::string(depth, ']') + "}]}";
    std::vector<std::string> rows;
    absl::Status s = c.DecodeResponse(body, 1, &rows);
    if (depth + 3 <= 128) {
      EXPECT_TRUE(s.ok()) << s;
      EXPECT_EQ(rows, (std::vector<std::string>{R"("prediction":1)"}));
    } else {
      ASSERT_FALSE(s.ok()) << depth;
      EXPECT_TRUE(Contains(std::string(s.message()), "deeper than 128 levels"));
    }
  }
  std::string rank = R"({"outputs":[{"name":"p","shape":[1)";
  for (int i = 0; i < 100; ++i) rank += ",1";
  rank += R"(,2],"data":[1,2]}]})";
  EXPECT_TRUE(Contains(DecodeError(c, rank, 1), "has 102 dimensions (at most 65)"));
}

// ---------------------------------------------------------------------------
// Responses: TF Serving

TEST(DecodeTf, UnnamedPredictions) {
  Codec c = TfRows({In("x", DType::kFp32, {}, {"a"})});
  EXPECT_EQ(Decode(c, R"({"predictions":[2.5,3.0,4.5]})", 3),
            (std::vector<std::string>{R"("prediction":2.5)", R"("prediction":3)",
                                      R"("prediction":4.5)"}));
  EXPECT_EQ(Decode(c, R"({"predictions":[[0.1,0.9],[0.8,0.2]]})", 2),
            (std::vector<std::string>{R"("prediction":[0.1,0.9])", R"("prediction":[0.8,0.2])"}));
  // One value per row is a scalar, however deeply it is wrapped.
  EXPECT_EQ(Decode(c, R"({"predictions":[[5],[[6]]]})", 2),
            (std::vector<std::string>{R"("prediction":5)", R"("prediction":6)"}));
  EXPECT_EQ(Decode(c, R"({"predictions":[[[1,2],[3,4]],[]]})", 2),
            (std::vector<std::string>{R"("prediction":[[1,2],[3,4]])", R"("prediction":[])"}));
  EXPECT_EQ(Decode(c, R"({"predictions":["cat",true,null]})", 3),
            (std::vector<std::string>{R"("prediction":"cat")", R"("prediction":true)",
                                      R"("prediction":null)"}));
}

TEST(DecodeTf, NamedPredictionsDefaultMapping) {
  Codec c = TfRows({In("x", DType::kFp32, {}, {"a"})});
  EXPECT_EQ(Decode(c,
                   R"({"predictions":[{"classes":["a","b"],"scores":[0.25,0.75],"top":[1]},)"
                   R"({"classes":["a","b"],"scores":[0.5,0.5],"top":[0],"top":[9]}]})",
                   2),
            (std::vector<std::string>{R"("classes":["a","b"],"scores":[0.25,0.75],"top":1)",
                                      R"("classes":["a","b"],"scores":[0.5,0.5],"top":0)"}));
  // Nested objects inside a named output are written as given.
  EXPECT_EQ(Decode(c, R"({"predictions":[{"meta":{"k":[1.0]}}]})", 1),
            (std::vector<std::string>{R"("meta":{"k":[1]})"}));
  EXPECT_EQ(Decode(c, R"({"predictions":[{}]})", 1), (std::vector<std::string>{""}));
}

TEST(DecodeTf, ManyKeys) {
  Codec c = TfRows({In("x", DType::kFp32, {}, {"a"})});
  std::string body = R"({"predictions":[{)";
  std::string want;
  for (int i = 0; i < 3000; ++i) {
    body += "\"k" + std::to_string(i % 1000) + "\":" + std::to_string(i) + ",";
    if (i < 1000) want += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":" + std::to_string(i));
  }
  body.back() = '}';
  body += "]}";
  EXPECT_EQ(Decode(c, body, 1), (std::vector<std::string>{want}));
  Codec mapped = TfRows({In("x", DType::kFp32, {}, {"a"})}, {{"missing", "m"}});
  EXPECT_EQ(DecodeError(mapped, body, 1),
            "output 'missing' is missing from prediction 0 (outputs: k0, k1, k2, k3, k4, k5, k6, "
            "k7, k8, k9, k10, k11, k12, k13, k14, k15, k16, k17, k18, k19, ... (3000 in all))");
  Codec v2 = V2({In("x", DType::kFp32, {}, {"a"})}, {{"missing", "m"}});
  std::string outputs = R"({"outputs":[)";
  for (int i = 0; i < 25; ++i)
    outputs += R"({"name":"t)" + std::to_string(i) + R"(","shape":[1],"data":[1]},)";
  outputs.back() = ']';
  outputs += "}";
  EXPECT_EQ(DecodeError(v2, outputs, 1),
            "output 'missing' is missing from the response (outputs: t0, t1, t2, t3, t4, t5, t6, "
            "t7, t8, t9, t10, t11, t12, t13, t14, t15, t16, t17, t18, t19, ... (25 in all))");
}

TEST(DecodeTf, NamedPredictionsMapped) {
  Codec c = TfRows({In("x", DType::kFp32, {}, {"a"})}, {{"scores", "s"}, {"", "all"}});
  EXPECT_EQ(
      Decode(c, R"({"predictions":[{"classes":[1],"scores":[0.5,0.5]}]})", 1),
      (std::vector<std::string>{R"("s":[0.5,0.5],"all":{"classes":[1],"scores":[0.5,0.5]})"}));
  EXPECT_EQ(DecodeError(c, R"({"predictions":[{"scores":[1]},{"classes":[1]}]})", 2),
            "output 'scores' is missing from prediction 1 (outputs: classes)");
}

TEST(DecodeTf, UnnamedAnswerStandsForTheOnlyMappedTensor) {
  // TF Serving drops the name of a model's only output.
  Codec c =
      TfRows({In("x", DType::kFp32, {}, {"a"})}, {{"scores", "s"}, {"scores", "t"}, {"", "u"}});
  EXPECT_EQ(Decode(c, R"({"predictions":[[0.5],[1.5]]})", 2),
            (std::vector<std::string>{R"("s":0.5,"t":0.5,"u":0.5)", R"("s":1.5,"t":1.5,"u":1.5)"}));
  Codec two = TfRows({In("x", DType::kFp32, {}, {"a"})}, {{"scores", "s"}, {"classes", "c"}});
  EXPECT_EQ(DecodeError(two, R"({"predictions":[[0.5]]})", 1),
            "output 'scores' is missing from the response (prediction 0 is an unnamed value)");
}

TEST(DecodeTf, Columnar) {
  Codec c = TfCols({In("x", DType::kFp32, {}, {"a"})});
  EXPECT_EQ(Decode(c, R"({"outputs":[[0.5],[1.5]]})", 2),
            (std::vector<std::string>{R"("prediction":0.5)", R"("prediction":1.5)"}));
  EXPECT_EQ(Decode(c, R"({"outputs":{"classes":[[1,2],[3,4]],"score":[0.5,0.25]}})", 2),
            (std::vector<std::string>{R"("classes":[1,2],"score":0.5)",
                                      R"("classes":[3,4],"score":0.25)"}));
  Codec mapped = TfCols({In("x", DType::kFp32, {}, {"a"})}, {{"score", "s"}, {"", "all"}});
  EXPECT_EQ(Decode(mapped, R"({"outputs":{"classes":[[1],[2]],"score":[0.5,0.25]}})", 2),
            (std::vector<std::string>{R"("s":0.5,"all":{"classes":1,"score":0.5})",
                                      R"("s":0.25,"all":{"classes":2,"score":0.25})"}));
  Codec only = TfCols({In("x", DType::kFp32, {}, {"a"})}, {{"score", "s"}});
  // An unused column with the wrong length does not matter.
  EXPECT_EQ(Decode(only, R"({"outputs":{"classes":[1],"score":[0.5,0.25]}})", 2),
            (std::vector<std::string>{R"("s":0.5)", R"("s":0.25)"}));
  EXPECT_EQ(Decode(only, R"({"outputs":[7,8]})", 2),
            (std::vector<std::string>{R"("s":7)", R"("s":8)"}));
}

TEST(DecodeTf, EitherAnswerFormatIsAccepted) {
  Codec rows = TfRows({In("x", DType::kFp32, {}, {"a"})});
  EXPECT_EQ(Decode(rows, R"({"outputs":[1,2]})", 2),
            (std::vector<std::string>{R"("prediction":1)", R"("prediction":2)"}));
  Codec cols = TfCols({In("x", DType::kFp32, {}, {"a"})});
  EXPECT_EQ(Decode(cols, R"({"predictions":[1,2]})", 2),
            (std::vector<std::string>{R"("prediction":1)", R"("prediction":2)"}));
}

TEST(DecodeTf, Errors) {
  Codec c = TfRows({In("x", DType::kFp32, {}, {"a"})}, {{"scores", "s"}});
  Codec unmapped = TfRows({In("x", DType::kFp32, {}, {"a"})});
  const ErrorCase cases[] = {
      {"", 1, "response is not JSON: the body is empty"},
      {R"({"predictions":[1,2)", 2, "response is not JSON: "},
      {R"({"predictions":[1,2)", 2, "at byte 19"},
      {R"({"error":"Failed to process element: 0 of 'instances' list."})", 1,
       "model server answered an error: Failed to process element: 0 of 'instances' list."},
      {R"({"predictions":[1,2,3]})", 4, "response has 3 predictions for a batch of 4"},
      {R"({"predictions":{"a":1}})", 1, "response is an object, not an array"},
      {R"({"result":[1]})", 1,
       "response has neither \"predictions\" nor \"outputs\" (keys: result)"},
      {R"({"outputs":[1,2]})", 3, "response \"outputs\" has 2 rows for a batch of 3"},
      {R"({"outputs":5})", 1, "response \"outputs\" is a number, not an array"},
      {R"({"outputs":{"scores":[1]}})", 2, "output 'scores' has 1 rows for a batch of 2"},
      {R"({"outputs":{"scores":"x"}})", 1, "output 'scores' is a string, not an array"},
      {R"({"outputs":{"classes":[1]}})", 1,
       "output 'scores' is missing from the response (outputs: classes)"},
      {R"({"predictions":[{"classes":1}]})", 1,
       "output 'scores' is missing from prediction 0 (outputs: classes)"},
  };
  for (const ErrorCase& k : cases)
    EXPECT_TRUE(Contains(DecodeError(c, k.body, k.n), k.want)) << k.body;
  EXPECT_EQ(DecodeError(unmapped, R"({"outputs":{"a":[1],"b":[1,2]}})", 1),
            "output 'b' has 2 rows for a batch of 1");
}

// ---------------------------------------------------------------------------
// Round trips through echo servers: the answer repeats the request's tensors,
// so each row decodes to its own inputs.

std::string Minify(std::string_view json, const char* key) {
  simdjson::dom::parser parser;
  simdjson::padded_string doc(json);
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(doc).get(root), simdjson::SUCCESS) << json;
  simdjson::dom::element v;
  EXPECT_EQ(root.at_key(key).get(v), simdjson::SUCCESS) << json;
  return simdjson::minify(v);
}

std::string Echo(const Codec& c, TfFormat f, const std::string& request) {
  if (c.protocol() == Protocol::kV2) {
    return R"({"model_name":"echo","outputs":)" + Minify(request, "inputs") + "}";
  }
  if (f == TfFormat::kInstances) return R"({"predictions":)" + Minify(request, "instances") + "}";
  return R"({"outputs":)" + Minify(request, "inputs") + "}";
}

TEST(RoundTrip, EchoServers) {
  struct Case {
    std::vector<InputTensor> inputs;
    std::vector<RowValues> rows;
    std::vector<std::string> want;  // one fragment per row (default mapping)
  };
  const Case single[] = {
      {{In("x", DType::kFp64, {}, {"a"})},
       {{N(1.5)}, {N(-2)}},
       {R"("prediction":1.5)", R"("prediction":-2)"}},
      {{In("x", DType::kFp64, {1}, {"a"})}, {{N(0.1)}}, {R"("prediction":0.1)"}},
      {{In("x", DType::kInt64, {3}, {"a", "b", "c"})},
       {{N(1), N(2), N(3)}, {N(4), N(5), N(6)}},
       {R"("prediction":[1,2,3])", R"("prediction":[4,5,6])"}},
      {{In("x", DType::kFp32, {2, 2}, {"a", "b", "c", "d"})},
       {{N(1), N(2), N(3), N(4.5)}},
       {R"("prediction":[[1,2],[3,4.5]])"}},
      {{In("x", DType::kBytes, {}, {"a"})}, {{S("ü\"")}}, {R"("prediction":"ü\"")"}},
      {{In("x", DType::kBool, {2}, {"a", "b"})},
       {{B(true), N(0)}},
       {R"("prediction":[true,false])"}},
  };
  const Case several[] = {
      {{In("a", DType::kFp64, {}, {"f"}), In("b", DType::kInt32, {2}, {"g", "h"}),
        In("c", DType::kBytes, {}, {"i"})},
       {{N(0.5), N(1), N(2), S("x")}, {N(1e-9), N(-3), N(4), S("")}},
       {R"("a":0.5,"b":[1,2],"c":"x")", R"("a":1e-09,"b":[-3,4],"c":"")"}},
  };
  struct Setup {
    Protocol p;
    TfFormat f;
  } setups[] = {{Protocol::kV2, TfFormat::kInstances},
                {Protocol::kTfServing, TfFormat::kInstances},
                {Protocol::kTfServing, TfFormat::kInputs}};
  for (const Setup& s : setups) {
    for (const Case& k : single) {
      Codec c = Make(s.p, s.f, k.inputs);
      const std::string request = Encode(c, k.rows);
      const std::string answer = Echo(c, s.f, request);
      EXPECT_EQ(Decode(c, answer, k.rows.size()), k.want) << request << "\n" << answer;
    }
    for (const Case& k : several) {
      Codec c = Make(s.p, s.f, k.inputs);
      const std::string request = Encode(c, k.rows);
      const std::string answer = Echo(c, s.f, request);
      EXPECT_EQ(Decode(c, answer, k.rows.size()), k.want) << request << "\n" << answer;
    }
  }
}

// ---------------------------------------------------------------------------
// Robustness: truncations and mutations of valid answers give an error or
// well-formed fragments, never a crash.

TEST(Robustness, MutatedResponses) {
  struct Subject {
    Codec codec;
    std::string body;
    size_t n;
  };
  std::vector<Subject> subjects;
  subjects.push_back({V2({In("x", DType::kFp64, {4}, {"a", "b", "c", "d"})}),
                      R"({"model_name":"iris","model_version":"v1","id":"c8","parameters":{},)"
                      R"("outputs":[{"name":"predict","shape":[2,1],"datatype":"INT64",)"
                      R"("parameters":{"content_type":"np"},"data":[0,2]}]})",
                      2});
  subjects.push_back(
      {V2({In("x", DType::kFp64, {}, {"a"})}, {{"proba", "p"}, {"predict", "l"}}),
       R"({"outputs":[{"name":"predict","shape":[2],"data":[[1],[0]]},)"
       R"({"name":"proba","shape":[2,2],"datatype":"FP32","data":[0.25,0.75,0.5,0.5]}]})",
       2});
  subjects.push_back({TfRows({In("x", DType::kFp64, {}, {"a"})}),
                      R"({"predictions":[{"classes":["a","b"],"scores":[0.25,0.75]},)"
                      R"({"classes":["a","b"],"scores":[0.5,0.5]}]})",
                      2});
  subjects.push_back({TfRows({In("x", DType::kFp64, {}, {"a"})}, {{"scores", "s"}}),
                      R"({"predictions":[[0.5],[1.5e300],[-1]]})", 3});
  subjects.push_back({TfCols({In("x", DType::kFp64, {}, {"a"})}, {{"", "all"}, {"b", "b"}}),
                      R"({"outputs":{"a":[[1,2],[3,4]],"b":["x","y"]}})", 2});
  const char kAlphabet[] = "{}[],:\"\\0123456789.-eE tfnul\x01\xff";
  std::mt19937 rng(20261127);
  size_t ok = 0, failed = 0;
  auto check = [&](const Subject& s, const std::string& body, size_t n) {
    std::vector<std::string> rows;
    absl::Status st = s.codec.DecodeResponse(body, n, &rows);
    if (!st.ok()) {
      ++failed;
      EXPECT_TRUE(rows.empty());
      EXPECT_FALSE(st.message().empty());
      return;
    }
    ++ok;
    ASSERT_EQ(rows.size(), n) << body;
    for (const std::string& r : rows) EXPECT_TRUE(IsValidFragment(r)) << r << "\nfrom " << body;
  };
  for (const Subject& s : subjects) {
    check(s, s.body, s.n);
    for (size_t len = 0; len < s.body.size(); ++len) check(s, s.body.substr(0, len), s.n);
    for (int iter = 0; iter < 5000; ++iter) {
      std::string body = s.body;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = rng() % (body.size() + 1);
        const char ch = kAlphabet[rng() % (sizeof kAlphabet - 1)];
        switch (rng() % 4) {
          case 0:
            if (pos < body.size()) body[pos] = ch;
            break;
          case 1:
            body.insert(body.begin() + pos, ch);
            break;
          case 2:
            if (pos < body.size()) body.erase(pos, 1 + rng() % 3);
            break;
          case 3:
            if (pos < body.size()) body.insert(pos, body.substr(pos, rng() % 16));
            break;
        }
      }
      check(s, body, s.n);
      check(s, body, rng() % 5);
    }
  }
  // The unmutated answers and some of the mutants decode.
  EXPECT_GT(ok, subjects.size());
  EXPECT_GT(failed, 0u);
}

}  // namespace
}  // namespace evs::service
