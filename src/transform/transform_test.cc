#include "transform/transform.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/json_writer.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace evs::transform {
namespace {

absl::StatusOr<std::shared_ptr<const TransformChain>> Build(const std::string& yaml,
                                                            bool output = false,
                                                            const std::string& path = "t") {
  return TransformChain::FromYaml(YAML::Load(yaml), path, output);
}

std::shared_ptr<const TransformChain> MustBuild(const std::string& yaml, bool output = false) {
  auto c = Build(yaml, output);
  EXPECT_TRUE(c.ok()) << yaml << "\n" << c.status();
  return c.ok() ? *c : nullptr;
}

// The config error for `yaml`, which must start with `path_prefix` and
// contain `fragment`.
void ExpectConfigError(const std::string& yaml, const std::string& path_prefix,
                       const std::string& fragment, bool output = false) {
  auto c = Build(yaml, output, "routes[2].transform");
  ASSERT_FALSE(c.ok()) << yaml;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  std::string m(c.status().message());
  EXPECT_EQ(m.rfind(path_prefix + ": ", 0), 0u) << "message: " << m << "\nwant prefix: "
                                                << path_prefix;
  EXPECT_NE(m.find(fragment), std::string::npos) << "message: " << m << "\nwant: " << fragment;
}

Record Rec(std::initializer_list<std::pair<const char*, Value>> fields) {
  Record r;
  for (const auto& [k, v] : fields) r.Append(k, v);
  return r;
}

std::string Apply(const std::string& yaml, Record r, bool output = false) {
  auto c = MustBuild(yaml, output);
  if (c == nullptr) return "";
  EventError err;
  EXPECT_TRUE(c->Apply(&r, &err)) << err.code << ": " << err.message;
  return RecordToJson(r);
}

EventError ApplyErr(const std::string& yaml, Record r, bool output = false) {
  auto c = MustBuild(yaml, output);
  EventError err;
  if (c == nullptr) return err;
  EXPECT_FALSE(c->Apply(&r, &err)) << RecordToJson(r);
  EXPECT_EQ(err.stage, "transform");
  return err;
}

Record Sample() {
  return Rec({{"a", Value::Number(1)},
              {"b", Value::String("x")},
              {"c", Value::Bool(true)},
              {"n", Value::Null()}});
}

TEST(TransformChainTest, EmptyAndSize) {
  auto c = MustBuild("[]");
  EXPECT_EQ(c->size(), 0u);
  auto null_chain = TransformChain::FromYaml(YAML::Node(), "t", false);
  ASSERT_TRUE(null_chain.ok());
  EXPECT_EQ((*null_chain)->size(), 0u);
  EXPECT_EQ(MustBuild("[{drop: [a]}, {require: [b]}]")->size(), 2u);
  EXPECT_EQ(Apply("[]", Sample()), R"({"a":1,"b":"x","c":true,"n":null})");
}

TEST(TransformChainTest, Rename) {
  EXPECT_EQ(Apply("- rename: {a: alpha, b: beta}", Sample()),
            R"({"alpha":1,"beta":"x","c":true,"n":null})");
  // Simultaneous: swapping works.
  EXPECT_EQ(Apply("- rename: {a: b, b: a}", Sample()), R"({"b":1,"a":"x","c":true,"n":null})");
  // An existing target that is not renamed itself is replaced.
  EXPECT_EQ(Apply("- rename: {a: c}", Sample()), R"({"c":1,"b":"x","n":null})");
  // Null fields are present.
  EXPECT_EQ(Apply("- rename: {n: m}", Sample()), R"({"a":1,"b":"x","c":true,"m":null})");
  EventError err = ApplyErr("- rename: {zz: y}", Sample());
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'zz'"), std::string::npos);
  EXPECT_NE(err.message.find("step 0 (rename)"), std::string::npos);
}

TEST(TransformChainTest, Select) {
  EXPECT_EQ(Apply("- select: [c, a]", Sample()), R"({"c":true,"a":1})");
  EXPECT_EQ(Apply("- select: [n]", Sample()), R"({"n":null})");
  EventError err = ApplyErr("- select: [a, zz]", Sample());
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'zz'"), std::string::npos);
}

TEST(TransformChainTest, Drop) {
  EXPECT_EQ(Apply("- drop: [a, zz, n]", Sample()), R"({"b":"x","c":true})");
}

TEST(TransformChainTest, SetConstants) {
  EXPECT_EQ(Apply(R"(
- set:
    a: 2.5
    b: true
    c: null
    d: hello
    e: '1'
    f: "true"
    g: -3
    h: 1e3
    i: ~
    j:
    k: False
    l: .inf
)",
                  Rec({{"a", Value::Number(1)}})),
            R"({"a":2.5,"b":true,"c":null,"d":"hello","e":"1","f":"true","g":-3,"h":1000,)"
            R"("i":null,"j":null,"k":false,"l":".inf"})");
}

TEST(TransformChainTest, Default) {
  EXPECT_EQ(Apply("- default: {a: 9, n: 0, z: zed}", Sample()),
            R"({"a":1,"b":"x","c":true,"n":0,"z":"zed"})");
}

TEST(TransformChainTest, CastSuccess) {
  Record r = Rec({{"d1", Value::String("2.5")},
                  {"d2", Value::Number(3)},
                  {"i1", Value::String(" 7 ")},
                  {"i2", Value::Number(-4)},
                  {"s1", Value::Number(1)},
                  {"s2", Value::Number(0.1)},
                  {"s3", Value::Bool(false)},
                  {"s4", Value::String("keep")},
                  {"b1", Value::String("true")},
                  {"b2", Value::Number(0)},
                  {"b3", Value::Bool(true)},
                  {"b4", Value::String("false")},
                  {"b5", Value::Number(1)}});
  EXPECT_EQ(Apply(R"(
- cast: {d1: double, d2: double, i1: int, i2: int, s1: string, s2: string, s3: string,
         s4: string, b1: bool, b2: bool, b3: bool, b4: bool, b5: bool}
)",
                  r),
            R"({"d1":2.5,"d2":3,"i1":7,"i2":-4,"s1":"1","s2":"0.1","s3":"false","s4":"keep",)"
            R"("b1":true,"b2":false,"b3":true,"b4":false,"b5":true})");
}

TEST(TransformChainTest, CastErrors) {
  EventError err = ApplyErr("- cast: {x: double}", Rec({{"x", Value::String("abc")}}));
  EXPECT_EQ(err.code, "cast_error");
  EXPECT_NE(err.message.find("'x'"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("'abc'"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("double"), std::string::npos) << err.message;

  err = ApplyErr("- cast: {x: int}", Rec({{"x", Value::Number(1.5)}}));
  EXPECT_EQ(err.code, "cast_error");
  EXPECT_NE(err.message.find("1.5"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("int"), std::string::npos) << err.message;
  EXPECT_EQ(ApplyErr("- cast: {x: int}", Rec({{"x", Value::String("2.5")}})).code, "cast_error");
  EXPECT_EQ(ApplyErr("- cast: {x: double}", Rec({{"x", Value::Bool(true)}})).code, "cast_error");
  EXPECT_EQ(ApplyErr("- cast: {x: double}", Rec({{"x", Value::String("nan")}})).code,
            "cast_error");
  EXPECT_EQ(ApplyErr("- cast: {x: bool}", Rec({{"x", Value::Number(2)}})).code, "cast_error");
  EXPECT_EQ(ApplyErr("- cast: {x: bool}", Rec({{"x", Value::String("yes")}})).code,
            "cast_error");
  EXPECT_EQ(ApplyErr("- cast: {x: string}", Rec({{"x", Value::Raw("[1]")}})).code,
            "cast_error");

  err = ApplyErr("- cast: {x: int}", Rec({}));
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'x' is missing"), std::string::npos) << err.message;
  err = ApplyErr("- cast: {x: int}", Rec({{"x", Value::Null()}}));
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'x' is null"), std::string::npos) << err.message;
}

TEST(TransformChainTest, MapValues) {
  const char* yaml = R"(
- map_values:
    field: label
    map: {1: setosa, 2.0: versicolor, x: 3, true: yes_bool, '07': quoted}
    default: other
)";
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::Number(1)}})), R"({"label":"setosa"})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::Number(2)}})), R"({"label":"versicolor"})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::String("x")}})), R"({"label":3})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::String("1")}})), R"({"label":"setosa"})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::Bool(true)}})), R"({"label":"yes_bool"})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::String("07")}})), R"({"label":"quoted"})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::Number(7)}})), R"({"label":"other"})");
  EXPECT_EQ(Apply(yaml, Rec({{"label", Value::Number(9)}})), R"({"label":"other"})");

  // label_map is an alias; without default an unmapped value is an error.
  const char* strict = "- label_map: {field: y, map: {a: 1}}";
  EXPECT_EQ(Apply(strict, Rec({{"y", Value::String("a")}})), R"({"y":1})");
  EventError err = ApplyErr(strict, Rec({{"y", Value::String("b")}}));
  EXPECT_EQ(err.code, "unmapped_value");
  EXPECT_NE(err.message.find("'y'"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("'b'"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("label_map"), std::string::npos) << err.message;
  EXPECT_EQ(ApplyErr(strict, Rec({})).code, "missing_field");
  EXPECT_EQ(ApplyErr(strict, Rec({{"y", Value::Null()}})).code, "missing_field");

  // An explicit null default.
  EXPECT_EQ(Apply("- map_values: {field: y, map: {a: 1}, default: null}",
                  Rec({{"y", Value::String("q")}})),
            R"({"y":null})");
}

TEST(TransformChainTest, Derive) {
  EXPECT_EQ(Apply(R"yaml(
- derive:
    area: "petal_length * petal_width"
    big: area > 10
    name: "concat(upper(species), '!')"
)yaml",
                  Rec({{"petal_length", Value::Number(5)},
                       {"petal_width", Value::Number(3)},
                       {"species", Value::String("iris")}})),
            R"({"petal_length":5,"petal_width":3,"species":"iris","area":15,"big":true,)"
            R"("name":"IRIS!"})");
  EXPECT_EQ(Apply("- derive: {x: x + 1}", Rec({{"x", Value::Number(1)}})), R"({"x":2})");

  EventError err = ApplyErr("- derive: {y: a / b}",
                            Rec({{"a", Value::Number(1)}, {"b", Value::Number(0)}}));
  EXPECT_EQ(err.code, "non_finite");
  EXPECT_NE(err.message.find("field 'y'"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("step 0 (derive)"), std::string::npos) << err.message;
  EXPECT_EQ(ApplyErr("- derive: {y: a + 1}", Rec({})).code, "missing_field");
  EXPECT_EQ(ApplyErr("- derive: {y: a + 1}", Rec({{"a", Value::String("s")}})).code,
            "type_error");
}

TEST(TransformChainTest, Require) {
  EXPECT_EQ(Apply("- require: [a, b]", Sample()), R"({"a":1,"b":"x","c":true,"n":null})");
  EventError err = ApplyErr("- require: [a, n]", Sample());
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'n' is null"), std::string::npos) << err.message;
  err = ApplyErr("- require: [zz]", Sample());
  EXPECT_EQ(err.code, "missing_field");
  EXPECT_NE(err.message.find("'zz' is missing"), std::string::npos) << err.message;
}

TEST(TransformChainTest, Round) {
  EXPECT_EQ(Apply("- round: {p: 2, q: 0, r: 3}",
                  Rec({{"p", Value::Number(0.123456)},
                       {"q", Value::Number(2.5)},
                       {"r", Value::Number(1e300)}}),
                  true),
            R"({"p":0.12,"q":3,"r":1e+300})");
  EventError err = ApplyErr("- round: {p: 2}", Rec({{"p", Value::String("0.5")}}), true);
  EXPECT_EQ(err.code, "type_error");
  EXPECT_NE(err.message.find("'p'"), std::string::npos) << err.message;
  EXPECT_EQ(ApplyErr("- round: {p: 2}", Rec({}), true).code, "missing_field");
}

TEST(TransformChainTest, StepsRunInOrder) {
  EXPECT_EQ(Apply(R"(
- rename: {sepal.length: sl}
- cast: {sl: double}
- derive: {sl2: sl * 2}
- default: {note: none}
- map_values: {field: kind, map: {a: 1, b: 2}}
- drop: [junk]
- select: [sl2, sl, kind, note]
- require: [sl2]
)",
                  Rec({{"sepal.length", Value::String("1.25")},
                       {"junk", Value::Number(0)},
                       {"kind", Value::String("b")}})),
            R"({"sl2":2.5,"sl":1.25,"kind":2,"note":"none"})");
  // An error names the failing step's index.
  EventError err = ApplyErr("[{drop: [x]}, {require: [x]}]", Rec({{"x", Value::Number(1)}}));
  EXPECT_NE(err.message.find("step 1 (require)"), std::string::npos) << err.message;
}

TEST(TransformChainTest, ConfigErrorsStructure) {
  ExpectConfigError("{rename: {a: b}}", "routes[2].transform", "expected a sequence of steps");
  ExpectConfigError("- 5", "routes[2].transform[0]", "expected a one-key map");
  ExpectConfigError("- drop: [a]\n- {drop: [a], select: [b]}", "routes[2].transform[1]",
                    "exactly one key, got 2 (drop, select)");
  ExpectConfigError("- {}", "routes[2].transform[0]", "exactly one key, got 0");
  ExpectConfigError("- [drop]", "routes[2].transform[0]", "got a sequence");
  ExpectConfigError("- drop: [a]\n- explode: [a]", "routes[2].transform[1].explode",
                    "unknown step 'explode' (expected rename, select");
}

TEST(TransformChainTest, ConfigErrorsPerStep) {
  ExpectConfigError("- cast: {x: flot}", "routes[2].transform[0].cast.x",
                    "unknown type 'flot' (expected double, int, string, bool)");
  ExpectConfigError("- cast: {x: [double]}", "routes[2].transform[0].cast.x",
                    "expected a type");
  ExpectConfigError("- cast: [x]", "routes[2].transform[0].cast", "expected a map");
  ExpectConfigError("- rename: [a]", "routes[2].transform[0].rename", "expected a map");
  ExpectConfigError("- rename: {a: {b: c}}", "routes[2].transform[0].rename.a",
                    "expected a field name");
  ExpectConfigError("- rename: {a: ''}", "routes[2].transform[0].rename.a", "empty field name");
  ExpectConfigError("- rename: {'': b}", "routes[2].transform[0].rename", "empty field name");
  ExpectConfigError("- rename: {a: c, b: c}", "routes[2].transform[0].rename.b",
                    "also the new name of 'a'");
  ExpectConfigError("- select: a", "routes[2].transform[0].select",
                    "expected a sequence of field names");
  ExpectConfigError("- select: [a, '']", "routes[2].transform[0].select[1]", "empty field name");
  ExpectConfigError("- select: [a, a]", "routes[2].transform[0].select[1]", "duplicate field");
  ExpectConfigError("- drop: [a, [b]]", "routes[2].transform[0].drop[1]",
                    "expected a field name");
  ExpectConfigError("- require:", "routes[2].transform[0].require", "got null");
  ExpectConfigError("- set: {a: [1, 2]}", "routes[2].transform[0].set.a",
                    "expected a scalar constant");
  ExpectConfigError("- set: {a: 1, a: 2}", "routes[2].transform[0].set.a", "duplicate field");
  ExpectConfigError("- default: {a: {b: 1}}", "routes[2].transform[0].default.a",
                    "expected a scalar constant");
  ExpectConfigError("- derive: {y: 'a >'}", "routes[2].transform[0].derive.y",
                    "invalid expression \"a >\": position 4: expected an operand");
  ExpectConfigError("- derive: {y: 'nofn(1)'}", "routes[2].transform[0].derive.y",
                    "unknown function 'nofn'");
  ExpectConfigError("- derive: {y: [a]}", "routes[2].transform[0].derive.y",
                    "expected an expression string");
  ExpectConfigError("- derive: {y: ''}", "routes[2].transform[0].derive.y", "empty string");
}

TEST(TransformChainTest, ConfigErrorsMapValues) {
  ExpectConfigError("- map_values: {field: y, map: {a: 1}, extra: 2}",
                    "routes[2].transform[0].map_values.extra",
                    "unknown key (expected field, map, default)");
  ExpectConfigError("- map_values: {map: {a: 1}}", "routes[2].transform[0].map_values",
                    "missing key 'field'");
  ExpectConfigError("- label_map: {field: y}", "routes[2].transform[0].label_map",
                    "missing key 'map'");
  ExpectConfigError("- map_values: {field: y, map: [a]}",
                    "routes[2].transform[0].map_values.map", "expected a map");
  ExpectConfigError("- map_values: {field: '', map: {a: 1}}",
                    "routes[2].transform[0].map_values.field", "empty field name");
  ExpectConfigError("- map_values: {field: y, map: {1: a, 1.0: b}}",
                    "routes[2].transform[0].map_values.map.1.0", "duplicate key");
  ExpectConfigError("- map_values: {field: y, map: {a: [1]}}",
                    "routes[2].transform[0].map_values.map.a", "expected a scalar constant");
  ExpectConfigError("- map_values: [y]", "routes[2].transform[0].map_values", "expected a map");
}

TEST(TransformChainTest, RoundIsOutputOnly) {
  ExpectConfigError("- round: {p: 2}", "routes[2].transform[0].round",
                    "only allowed in output transforms", /*output=*/false);
  auto input = Build("- explode: 1", false, "x");
  ASSERT_FALSE(input.ok());
  EXPECT_EQ(std::string(input.status().message()).find("round"), std::string::npos)
      << "round is not offered in input transforms";
  ExpectConfigError("- round: {p: two}", "routes[2].transform[0].round.p",
                    "expected a number of digits 0..15, got 'two'", true);
  ExpectConfigError("- round: {p: 1.5}", "routes[2].transform[0].round.p", "digits", true);
  ExpectConfigError("- round: {p: 16}", "routes[2].transform[0].round.p", "digits", true);
  ExpectConfigError("- round: {p: -1}", "routes[2].transform[0].round.p", "digits", true);
  EXPECT_TRUE(Build("- round: {p: 2}", true).ok());
}

TEST(TransformChainTest, SharedAcrossThreads) {
  auto c = MustBuild(R"(
- cast: {x: double}
- derive: {y: x * 2}
- map_values: {field: k, map: {a: A}, default: Z}
)");
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        Record r = Rec({{"x", Value::String(std::to_string(i))},
                        {"k", Value::String(i % 2 ? "a" : "b")}});
        EventError err;
        if (!c->Apply(&r, &err) || r.Find("y")->as_number() != 2.0 * i ||
            r.Find("k")->as_string() != (i % 2 ? "A" : "Z"))
          ++bad[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int b : bad) EXPECT_EQ(b, 0);
}

}  // namespace
}  // namespace evs::transform
