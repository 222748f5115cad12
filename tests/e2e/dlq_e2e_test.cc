// Every kind of bad event lands in the DLQ with the right stage and code,
// with its original bytes and source coordinates, while good events around
// it flow on; the DLQ counter matches.

#include <map>
#include <string>

#include "e2e/harness.h"
#include "gtest/gtest.h"

namespace evs::e2e {
namespace {

struct Bad {
  std::string name;
  std::string value;
  bool tombstone;
  std::string stage, code;
};

TEST(DlqE2E, EveryBadEventIsDeadLetteredWithStageAndCodeWhileGoodOnesFlow) {
  TestEnv env = MakeEnv("dlq");
  const std::string src = "t.src." + env.id;
  CreateTopic(src, 1);  // one partition: order between good and bad is exact
  std::string cfg = env.Header() + R"(
limits: {max_event_bytes: 30000, max_depth: 64}
jobs:
  j: {type: echo}
routes:
  - name: r
    source: )" + src + R"(
    transform:
      - cast: {amount: double}
      - derive: {total: "amount * qty"}
    variants: [{name: v, job: j, model: m, weight: 1}]
)";
  std::string deep(10000, '[');
  deep = "{\"a\":" + deep + std::string(10000, ']') + "}";
  std::vector<Bad> bad = {
      {"empty", "", false, "decode", "empty_value"},
      {"tombstone", "", true, "decode", "tombstone"},
      {"utf8", std::string("{\"a\":\"\xff\xfe\",\"amount\":1,\"qty\":1}"), false, "decode", "invalid_utf8"},
      {"truncated", R"({"amount":1,"qty":)", false, "decode", "invalid_json"},
      {"trailing", R"({"amount":1,"qty":1} xyz)", false, "decode", "trailing_bytes"},
      {"array", R"([1,2,3])", false, "decode", "not_an_object"},
      {"missing", R"({"amount":1})", false, "transform", "missing_field"},
      {"badcast", R"({"amount":"lots","qty":1})", false, "transform", "cast_error"},
      {"nan", R"({"amount":NaN,"qty":1})", false, "decode", "invalid_json"},
      {"inf", R"({"amount":Infinity,"qty":1})", false, "decode", "invalid_json"},
      {"huge", R"({"amount":1e999,"qty":1})", false, "decode", "number_out_of_range"},
      {"deep", deep, false, "decode", "too_deep"},
      {"oversize", "{\"amount\":1,\"qty\":1,\"pad\":\"" + std::string(40000, 'x') + "\"}", false, "limit", "oversize"},
      {"dupkey", R"({"amount":1,"amount":2,"qty":1})", false, "decode", "duplicate_key"},
  };
  std::vector<Rec> events;
  int good = 0;
  for (size_t i = 0; i < bad.size(); ++i) {
    events.push_back({"good-" + std::to_string(good++), R"({"amount":"2.5","qty":2})"});
    Rec r{"bad-" + bad[i].name, bad[i].value};
    r.has_value = !bad[i].tombstone;
    events.push_back(r);
  }
  events.push_back({"good-" + std::to_string(good++), R"({"amount":1,"qty":3})"});
  const int port = FreePort();
  Proc adapter({"input-adapter", "-c", WriteFile(env.id + ".yaml", cfg), "--metrics-listen",
                "127.0.0.1:" + std::to_string(port)},
               env.id);
  ProduceAll(src, events);
  std::vector<Rec> dlq = Consume(env.dlq, bad.size(), 60000, 1000);
  std::vector<Rec> ok = Consume(env.requests_prefix + "j", good, 60000, 1000);
  ASSERT_EQ(ok.size(), size_t(good)) << adapter.log();
  for (const Rec& r : ok) EXPECT_EQ(r.key.rfind("good-", 0), 0u) << r.key;
  EXPECT_NE(ok[0].value.find("\"total\":5"), std::string::npos) << ok[0].value;
  ASSERT_EQ(dlq.size(), bad.size()) << adapter.log();
  std::map<std::string, Rec> by_key;
  for (const Rec& r : dlq) by_key[r.key] = r;
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    ASSERT_TRUE(by_key.count("bad-" + b.name));
    const Rec& r = by_key["bad-" + b.name];
    EXPECT_EQ(r.headers.at("evs-error-stage"), b.stage);
    EXPECT_EQ(r.headers.at("evs-error-code"), b.code);
    EXPECT_FALSE(r.headers.at("evs-error-message").empty());
    EXPECT_EQ(r.headers.at("evs-error-module"), env.input_name);
    EXPECT_EQ(r.headers.at("evs-error-topic"), src);
    EXPECT_EQ(r.headers.at("evs-error-partition"), "0");
    EXPECT_FALSE(r.headers.at("evs-error-offset").empty());
    EXPECT_EQ(r.has_value, !b.tombstone);
    EXPECT_EQ(r.value, b.value);  // the original bytes
  }
  // Every dead letter is counted.
  std::string metrics;
  WaitFor([&] {
    metrics = HttpGet(port, "/metrics");
    return metrics.find("evs_dlq_total{module=\"" + env.input_name + "\"} " + std::to_string(bad.size())) !=
           std::string::npos;
  }, 10000);
  EXPECT_NE(metrics.find("evs_dlq_total{module=\"" + env.input_name + "\"} " + std::to_string(bad.size())),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("code=\"duplicate_key\""), std::string::npos);
  EXPECT_EQ(HttpGet(port, "/healthz"), "ok");
  EXPECT_NE(HttpGet(port, "/status").find("\"routes\":[{\"name\":\"r\""), std::string::npos);
  EXPECT_TRUE(adapter.alive());
  EXPECT_EQ(adapter.Terminate(), 0);
}

}  // namespace
}  // namespace evs::e2e
