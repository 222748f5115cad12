// Unit tests of the adapters' per-record logic with in-memory records (no
// Kafka): routing, splitting, headers, dead letters, online config swap.
#include <map>

#include "adapters/input_adapter.h"
#include "adapters/output_adapter.h"
#include "codec/decode.h"
#include "common/headers.h"
#include "common/json_writer.h"
#include "gtest/gtest.h"

namespace evs::adapters {
namespace {

std::shared_ptr<const config::Config> Cfg(const std::string& yaml) {
  auto c = config::ParseConfig(yaml);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

std::map<std::string, std::string> Headers(const kafka::OutRecord& r) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : r.headers) m[k] = v;
  return m;
}

constexpr char kInput[] = R"(
version: 4
jobs: {j: {type: echo}, k: {type: echo}}
routes:
  - name: big
    source: ev
    when: "size > 10"
    variants: [{name: a, job: j, model: m-big, weight: 1}, {name: sh, job: k, model: m-sh, shadow: true}]
  - name: rest
    source: ev
    transform: [{select: [size]}]
    variants: [{name: a, job: j, model: m-rest, weight: 1}]
)";

TEST(InputAdapterTest, RoutesSplitsAndStampsHeaders) {
  metrics::Registry reg;
  InputAdapter ia("ia", Cfg(kInput), nullptr, nullptr, &reg);
  std::string key = "user-1", v1 = R"({"size":20,"x":1})", v2 = R"({"size":2,"x":1})";
  kafka::OutBatch out;
  ia.Process(kafka::InRecord("ev", 3, 42, &key, &v1, nullptr), &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].topic, "evs.requests.j");
  EXPECT_EQ(out[0].key, "user-1");
  EXPECT_EQ(out[0].value, v1);
  auto h = Headers(out[0]);
  EXPECT_EQ(h[hdr::kId], "ev/3/42");
  EXPECT_EQ(h[hdr::kSrc], "ev/3/42");
  EXPECT_EQ(h[hdr::kRoute], "big");
  EXPECT_EQ(h[hdr::kModel], "m-big");
  EXPECT_EQ(h[hdr::kVariant], "a");
  EXPECT_EQ(h[hdr::kShadow], "false");
  EXPECT_EQ(h[hdr::kConfig], "4");
  EXPECT_EQ(out[1].topic, "evs.requests.k");
  EXPECT_EQ(Headers(out[1])[hdr::kShadow], "true");
  out.clear();
  ia.Process(kafka::InRecord("ev", 0, 1, &key, &v2, nullptr), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Headers(out[0])[hdr::kRoute], "rest");
  EXPECT_EQ(out[0].value, R"({"size":2})");
}

TEST(InputAdapterTest, ProducerEventIdIsKept) {
  metrics::Registry reg;
  InputAdapter ia("ia", Cfg(kInput), nullptr, nullptr, &reg);
  std::string v = R"({"size":1})";
  std::vector<kafka::Header> hs = {{"evs-id", "abc-123"}};
  kafka::OutBatch out;
  ia.Process(kafka::InRecord("ev", 0, 9, nullptr, &v, &hs), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Headers(out[0])[hdr::kId], "abc-123");
  EXPECT_FALSE(out[0].has_key);
}

TEST(InputAdapterTest, FailuresBecomeDeadLettersWithCoordinates) {
  metrics::Registry reg;
  InputAdapter ia("ia", Cfg(kInput), nullptr, nullptr, &reg);
  std::string key = "k", bad = "{\"size\":", s_missing = R"({"x":1})";
  kafka::OutBatch out;
  ia.Process(kafka::InRecord("ev", 1, 5, &key, &bad, nullptr), &out);
  ia.Process(kafka::InRecord("ev", 1, 6, &key, &s_missing, nullptr), &out);
  ia.Process(kafka::InRecord("other", 0, 0, &key, &bad, nullptr), &out);
  ia.Process(kafka::InRecord("ev", 1, 7, &key, nullptr, nullptr), &out);
  ASSERT_EQ(out.size(), 4u);
  for (const auto& r : out) EXPECT_EQ(r.topic, "evs.dlq");
  EXPECT_EQ(Headers(out[0])[hdr::kErrorCode], "invalid_json");
  EXPECT_EQ(Headers(out[0])[hdr::kErrorOffset], "5");
  EXPECT_EQ(out[0].value, bad);
  // "size > 10" on an event without size: the predicate cannot be decided.
  EXPECT_EQ(Headers(out[1])[hdr::kErrorStage], "route");
  EXPECT_EQ(Headers(out[1])[hdr::kErrorCode], "missing_field");
  EXPECT_EQ(Headers(out[2])[hdr::kErrorCode], "no_route");
  EXPECT_EQ(Headers(out[3])[hdr::kErrorCode], "tombstone");
  EXPECT_FALSE(out[3].has_value);
  EXPECT_NE(reg.Render().find("evs_dlq_total{module=\"ia\"} 4"), std::string::npos);
}

TEST(InputAdapterTest, ConfigSwapsOnlyBetweenRecords) {
  metrics::Registry reg;
  runtime::ConfigSlot slot;
  InputAdapter ia("ia", Cfg(kInput), &slot, nullptr, &reg);
  std::string v = R"({"size":1})";
  kafka::OutBatch out;
  std::string next = kInput;
  next.replace(next.find("version: 4"), 10, "version: 5");
  next.replace(next.find("m-rest"), 6, "m-new!");
  slot.Publish(Cfg(next));
  ia.Process(kafka::InRecord("ev", 0, 0, nullptr, &v, nullptr), &out);
  EXPECT_EQ(Headers(out[0])[hdr::kModel], "m-rest");  // not yet: no record boundary passed
  ia.BetweenRecords();
  ia.Process(kafka::InRecord("ev", 0, 1, nullptr, &v, nullptr), &out);
  EXPECT_EQ(Headers(out[1])[hdr::kModel], "m-new!");
  EXPECT_EQ(Headers(out[1])[hdr::kConfig], "5");
}

TEST(OutputAdapterTest, RoutesTransformsAndAttaches) {
  metrics::Registry reg;
  OutputAdapter oa("oa", Cfg(R"(
outputs:
  - name: o
    match: {model: m1}
    topic: preds
    transform: [{round: {p: 2}}, {label_map: {field: label, map: {"0": setosa, "1": versicolor}}}]
    attach: [id, model, version, variant, shadow]
    attach_fields: [f]
)"),
                   nullptr, nullptr, &reg);
  std::string key = "k", value = R"({"outputs":{"label":1,"p":0.12345},"input":{"f":"x","g":2}})";
  std::vector<kafka::Header> hs = {{"evs-id", "e1"}, {"evs-model", "m1@3"}, {"evs-variant", "a"},
                                   {"evs-shadow", "true"}, {"evs-model-version", "3"}};
  kafka::OutBatch out;
  oa.Process(kafka::InRecord("evs.results", 0, 0, &key, &value, &hs), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "preds.shadow");
  EXPECT_EQ(out[0].value,
            R"({"label":"versicolor","p":0.12,"id":"e1","model":"m1","version":"3","variant":"a","shadow":true,"f":"x"})");
  out.clear();
  hs[1].second = "m2";
  oa.Process(kafka::InRecord("evs.results", 0, 1, &key, &value, &hs), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "evs.dlq");
  EXPECT_EQ(Headers(out[0])[hdr::kErrorCode], "no_route");
}

// Every way a result can be unusable lands in the DLQ with its code, and a
// good result after them is still written whole: the recycled output
// records and scratch records carry nothing over.
TEST(OutputAdapterTest, BadResultsAreDeadLetteredAndNothingCarriesOver) {
  metrics::Registry reg;
  OutputAdapter oa("oa", Cfg(R"(
outputs:
  - name: o
    topic: preds
    attach: [id]
    attach_fields: [f]
)"),
                   nullptr, nullptr, &reg);
  std::vector<kafka::Header> hs = {{"evs-id", "e1"}, {"evs-model", "m"}};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"outputs":{"a":1},"input":{"f":"x"}} x)", "trailing_bytes"},
      {R"({"outputs":{"a":1,"a":2},"input":{"f":"x"}})", "duplicate_key"},
      {R"({"outputs":{"a":1},"outputs":{"a":2},"input":{"f":"x"}})", "duplicate_key"},
      {R"({"outputs":{"a":1},"input":{"f":"x","f":"y"}})", "duplicate_key"},
      {R"({"outputs":[1],"input":{"f":"x"}})", "not_a_result"},
      {R"({"input":{"f":"x"}})", "not_a_result"},
      {R"({"outputs":{"a":1},"input":{"g":"x"}})", "missing_field"},
      {R"({"outputs":{"a":1}})", "missing_field"},
      {R"([1,2])", "not_an_object"},
  };
  kafka::OutBatch out;
  std::string key = "k";
  for (const auto& [value, code] : cases) {
    oa.Process(kafka::InRecord("evs.results", 0, 0, &key, &value, &hs), &out);
    ASSERT_EQ(out.size(), 1u) << value;
    EXPECT_EQ(out[0].topic, "evs.dlq") << value;
    EXPECT_EQ(Headers(out[0])[hdr::kErrorCode], code) << value;
    out.clear();
  }
  std::string good = R"({"outputs":{"a":1,"b":[1,{"c":2}]},"input":{"g":0,"f":"x"}})";
  for (int i = 0; i < 2; ++i) {
    oa.Process(kafka::InRecord("evs.results", 0, 1, &key, &good, &hs), &out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].topic, "preds");
    EXPECT_EQ(out[0].value, R"({"a":1,"b":[1,{"c":2}],"id":"e1","f":"x"})");
    EXPECT_EQ(out[0].headers, hs);
    out.clear();
  }
}

// A rule whose transform selects decodes only the fields that can reach the
// result; what it writes (or the error it reports) must be what the whole
// record would give.
TEST(OutputAdapterTest, ProjectedDecodeGivesTheWholeRecordsResult) {
  const std::vector<std::string> chains = {
      "[{select: [label]}]",
      "[{select: [p, label]}]",
      "[{rename: {p: q}}, {select: [q]}]",
      "[{derive: {s: \"p * 2\"}}, {select: [s, label]}]",
      "[{require: [zz]}, {select: [label]}]",
      "[{default: {zz: 3}}, {cast: {label: string}}, {select: [zz, label]}]",
      "[{select: [label, missing]}, {round: {p: 1}}]",
      "[{drop: [p]}]",
      "[{round: {p: 1}}]",
  };
  const std::string outputs = R"({"label":1,"p":0.123,"x":"a","y":[1,2]})";
  const std::string value = R"({"outputs":)" + outputs + R"(,"input":{}})";
  std::vector<kafka::Header> hs = {{"evs-model", "m"}};
  std::string key = "k";
  for (const std::string& chain : chains) {
    metrics::Registry reg;
    auto cfg = Cfg("outputs:\n  - name: o\n    topic: preds\n    transform: " + chain + "\n");
    OutputAdapter oa("oa", cfg, nullptr, nullptr, &reg);
    kafka::OutBatch out;
    oa.Process(kafka::InRecord("evs.results", 0, 0, &key, &value, &hs), &out);
    ASSERT_EQ(out.size(), 1u) << chain;
    codec::JsonDecoder d;
    Record whole;
    EventError err;
    ASSERT_TRUE(d.Decode(outputs, &whole, &err));
    if (cfg->outputs[0].transform->Apply(&whole, &err)) {
      std::string expect;
      AppendRecordJson(whole, &expect);
      EXPECT_EQ(out[0].topic, "preds") << chain;
      EXPECT_EQ(out[0].value, expect) << chain;
    } else {
      EXPECT_EQ(out[0].topic, "evs.dlq") << chain;
      EXPECT_EQ(Headers(out[0])[hdr::kErrorCode], err.code) << chain;
      EXPECT_EQ(Headers(out[0])[hdr::kErrorMessage], err.message) << chain;
    }
  }
}

TEST(InputAdapterTest, AppendOnlyTransformsKeepTheOriginalBytes) {
  metrics::Registry reg;
  InputAdapter ia("ia", Cfg(R"(
jobs: {j: {type: echo}}
routes:
  - name: r
    source: ev
    transform: [{cast: {a: double}}, {derive: {b: "a * 2"}}, {set: {c: "x"}}]
    variants: [{job: j, model: m, weight: 1}]
)"),
                  nullptr, nullptr, &reg);
  std::string spaced = "{ \"a\" : 1.50 , \"z\": [1, 2] }\n", as_string = R"({"a":"2"})", empty = "{}";
  kafka::OutBatch out;
  ia.Process(kafka::InRecord("ev", 0, 0, nullptr, &spaced, nullptr), &out);
  // Spacing and number spelling of the original survive; b and c are appended.
  EXPECT_EQ(out[0].value, "{ \"a\" : 1.50 , \"z\": [1, 2] ,\"b\":3,\"c\":\"x\"}");
  ia.Process(kafka::InRecord("ev", 0, 1, nullptr, &as_string, nullptr), &out);
  // The cast changes a: the record is encoded anew.
  EXPECT_EQ(out[1].value, R"({"a":2,"b":4,"c":"x"})");
  ia.Process(kafka::InRecord("ev", 0, 2, nullptr, &empty, nullptr), &out);
  EXPECT_EQ(out[2].topic, "evs.dlq");  // a is missing
}

// A topic whose routes read and write only a few fields decodes only those
// (the rest of the bytes pass through); the whole document is still checked,
// and a record the transform would rewrite is decoded in full.
TEST(InputAdapterTest, ProjectedDecodeKeepsBytesAndChecksTheWholeDocument) {
  metrics::Registry reg;
  InputAdapter ia("ia", Cfg(R"(
jobs: {j: {type: echo}}
routes:
  - name: r
    source: ev
    when: "amount > 0"
    transform: [{derive: {twice: "amount * 2"}}, {set: {tag: "t"}}]
    variants: [{job: j, model: m, weight: 1}]
  - name: free
    source: ev
    transform: [{derive: {one: "1"}}]
    variants: [{job: j, model: m, weight: 1}]
)"),
                  nullptr, nullptr, &reg);
  std::string full = R"({"id":7,"amount":2.5,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","nested":{"k":[1,2]}})";
  std::string no_referenced = R"({"z":1})";
  std::string empty = "{}";
  std::string dup_elsewhere = R"({"amount":1,"pad":"a","pad":"b"})";
  std::string bad_elsewhere = R"({"amount":1,"pad":[1,2)";
  std::string target_present = R"({"amount":3,"twice":0})";
  kafka::OutBatch out;
  ia.Process(kafka::InRecord("ev", 0, 0, nullptr, &full, nullptr), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].value, full.substr(0, full.size() - 1) + R"(,"twice":5,"tag":"t"})");
  // Routed by the predicate's field only; no referenced field at all: the
  // comma still goes in, and an empty object gets none.
  ia.Process(kafka::InRecord("ev", 0, 1, nullptr, &no_referenced, nullptr), &out);
  EXPECT_EQ(out[1].topic, "evs.dlq");  // r's predicate needs amount: missing_field
  ia.Process(kafka::InRecord("ev", 0, 2, nullptr, &dup_elsewhere, nullptr), &out);
  EXPECT_EQ(out[2].topic, "evs.dlq");
  EXPECT_EQ(Headers(out[2])["evs-error-code"], "duplicate_key");
  ia.Process(kafka::InRecord("ev", 0, 3, nullptr, &bad_elsewhere, nullptr), &out);
  EXPECT_EQ(out[3].topic, "evs.dlq");
  EXPECT_EQ(Headers(out[3])["evs-error-stage"], "decode");
  // twice exists already: derive would overwrite it, so the record is encoded anew.
  ia.Process(kafka::InRecord("ev", 0, 4, nullptr, &target_present, nullptr), &out);
  EXPECT_EQ(out[4].value, R"({"amount":3,"twice":6,"tag":"t"})");

  InputAdapter only_free("ia2", Cfg(R"(
jobs: {j: {type: echo}}
routes:
  - name: free
    source: ev
    transform: [{derive: {one: "1"}}]
    variants: [{job: j, model: m, weight: 1}]
)"),
                         nullptr, nullptr, &reg);
  kafka::OutBatch out2;
  only_free.Process(kafka::InRecord("ev", 0, 0, nullptr, &no_referenced, nullptr), &out2);
  only_free.Process(kafka::InRecord("ev", 0, 1, nullptr, &empty, nullptr), &out2);
  EXPECT_EQ(out2[0].value, R"({"z":1,"one":1})");
  EXPECT_EQ(out2[1].value, R"({"one":1})");
}

}  // namespace
}  // namespace evs::adapters
