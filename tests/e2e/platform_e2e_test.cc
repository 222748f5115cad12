// Routing, transforms, traffic split and shadow copies, on the real broker
// with the real evserve binary.
#include <map>
#include <set>
#include <string>

#include "e2e/harness.h"
#include "gtest/gtest.h"

namespace evs::e2e {
namespace {

TEST(PlatformE2E, RoutesByTopicAndPredicateAndTransformsExactly) {
  TestEnv env = MakeEnv("route");
  const std::string topic_a = "t.a." + env.id, topic_b = "t.b." + env.id, out = "t.out." + env.id;
  CreateTopic(topic_a);
  CreateTopic(topic_b);
  std::string cfg = env.Header() + R"(
jobs:
  echo: {type: echo, name: "echo-)" + env.id + R"("}
routes:
  - name: big
    source: )" + topic_a + R"(
    when: "petal_length > 2 and species != 'unknown'"
    transform:
      - rename: {petal_length: pl}
      - default: {color: grey}
      - cast: {count: int}
      - map_values: {field: species, map: {setosa: 0, virginica: 2}, default: -1}
      - derive: {area: "pl * petal_width"}
      - set: {source: web}
      - drop: [junk]
      - select: [pl, area, species, color, count, source]
    variants: [{name: v1, job: echo, model: big-model, weight: 1}]
  - name: small
    source: )" + topic_a + R"(
    transform:
      - select: [petal_length]
    variants: [{name: v1, job: echo, model: small-model, weight: 1}]
  - name: other
    source: )" + topic_b + R"(
    format: csv
    csv: {columns: [a, b]}
    variants: [{name: v1, job: echo, model: csv-model, weight: 1}]
outputs:
  - name: all
    topic: )" + out + R"(
    attach: [route, model]
)";
  std::string path = WriteFile(env.id + ".yaml", cfg);
  Proc run({"run", "-c", path}, env.id);
  ProduceAll(topic_a, {{"k1", R"({"petal_length":5,"petal_width":2,"species":"virginica","count":"3","junk":1})"},
                       {"k2", R"({"petal_length":1.5,"petal_width":0.2,"species":"setosa"})"}});
  ProduceAll(topic_b, {{"k3", "1.5,hello"}});
  std::vector<Rec> got = Consume(out, 3, 60000, 1000);
  ASSERT_EQ(got.size(), 3u) << run.log();
  std::map<std::string, std::string> by_key;
  for (const Rec& r : got) by_key[r.key] = r.value;
  EXPECT_EQ(by_key["k1"],
            R"({"pl":5,"area":10,"species":2,"color":"grey","count":3,"source":"web","route":"big","model":"big-model"})");
  EXPECT_EQ(by_key["k2"], R"({"petal_length":1.5,"route":"small","model":"small-model"})");
  EXPECT_EQ(by_key["k3"], R"({"a":1.5,"b":"hello","route":"other","model":"csv-model"})");
  EXPECT_EQ(run.Terminate(), 0) << run.log();
}

// Reads the variant of every key from the request topic (non-shadow copies)
// and checks the shadow copies.
std::map<std::string, std::string> VariantsByKey(const std::vector<Rec>& recs, size_t* shadows) {
  std::map<std::string, std::string> m;
  *shadows = 0;
  for (const Rec& r : recs) {
    if (r.headers.at("evs-shadow") == "true") {
      ++*shadows;
      EXPECT_EQ(r.headers.at("evs-variant"), "shadow");
      continue;
    }
    m[r.key] = r.headers.at("evs-variant");
  }
  return m;
}

TEST(PlatformE2E, NinetyTenSplitIsStickyAcrossRestartAndUnrelatedConfigChange) {
  TestEnv env = MakeEnv("split");
  const std::string src = "t.src." + env.id, other = "t.other." + env.id;
  CreateTopic(src);
  CreateTopic(other);
  const std::string jobs = "jobs:\n  j: {type: echo}\n";
  const std::string route = R"(
  - name: exp
    source: )" + src + R"(
    salt: exp-2026
    variants:
      - {name: a, job: j, model: m-a, weight: 90}
      - {name: b, job: j, model: m-b, weight: 10}
      - {name: shadow, job: j, model: m-c, shadow: true}
)";
  std::string v1 = env.Header() + jobs + "routes:" + route;
  std::string path = WriteFile(env.id + ".yaml", v1);
  const std::string requests = env.requests_prefix + "j";
  const int kKeys = 10000;
  std::vector<Rec> events;
  for (int i = 0; i < kKeys; ++i)
    events.push_back({"user-" + std::to_string(i), "{\"i\":" + std::to_string(i) + "}"});

  auto adapter = std::make_unique<Proc>(std::vector<std::string>{"input-adapter", "-c", path}, env.id + "-1");
  ProduceAll(src, events);
  std::vector<Rec> first = Consume(requests, 2 * kKeys, 120000, 1000);
  ASSERT_EQ(first.size(), 2u * kKeys) << adapter->log();
  size_t shadows = 0;
  auto variants = VariantsByKey(first, &shadows);
  ASSERT_EQ(variants.size(), size_t(kKeys));
  EXPECT_EQ(shadows, size_t(kKeys));
  int a = 0;
  for (auto& [k, v] : variants) a += v == "a";
  EXPECT_NEAR(a / double(kKeys), 0.90, 0.02);
  EXPECT_EQ(adapter->Terminate(), 0);

  // A config change that adds a route but leaves this one alone, pushed
  // while the adapter is down; the restarted adapter recovers it.
  std::string v2 = "version: 2\n" + env.Header() + jobs + "routes:" + route + R"(
  - name: newcomer
    source: )" + other + R"(
    variants: [{name: x, job: j, model: m-x, weight: 1}]
)";
  std::string out;
  ASSERT_EQ(RunCli({"config", "push", WriteFile(env.id + "-v2.yaml", v2)}, &out), 0) << out;
  adapter = std::make_unique<Proc>(std::vector<std::string>{"input-adapter", "-c", path}, env.id + "-2");
  ProduceAll(src, events);
  std::vector<Rec> all = Consume(requests, 4 * kKeys, 120000, 1000);
  ASSERT_EQ(all.size(), 4u * kKeys) << adapter->log();
  std::vector<Rec> second(all.begin(), all.end());
  // Every record carries its config version; split the two rounds by it.
  std::vector<Rec> round2;
  for (const Rec& r : second)
    if (r.headers.at("evs-config") == "2") round2.push_back(r);
  ASSERT_EQ(round2.size(), 2u * kKeys) << "the restarted adapter did not recover version 2";
  auto variants2 = VariantsByKey(round2, &shadows);
  int moved = 0;
  for (auto& [k, v] : variants) moved += variants2[k] != v;
  EXPECT_EQ(moved, 0);

  // An online change (no restart) that touches another route only.
  std::string v3 = "version: 3\n" + env.Header() + jobs + "routes:" + route + R"(
  - name: newcomer
    source: )" + other + R"(
    variants: [{name: x, job: j, model: m-x, weight: 3}, {name: y, job: j, model: m-y, weight: 1}]
)";
  ASSERT_EQ(RunCli({"config", "push", WriteFile(env.id + "-v3.yaml", v3)}, &out), 0) << out;
  ASSERT_TRUE(WaitFor([&] {
    for (const Rec& r : Consume(env.status, 1000, 2000, 0))
      if (r.value.find("\"outcome\":\"applied\",\"version\":3") != std::string::npos) return true;
    return false;
  }, 30000)) << adapter->log();
  ProduceAll(src, events);
  all = Consume(requests, 6 * kKeys, 120000, 1000);
  ASSERT_EQ(all.size(), 6u * kKeys) << adapter->log();
  std::vector<Rec> round3;
  for (const Rec& r : all)
    if (r.headers.at("evs-config") == "3") round3.push_back(r);
  ASSERT_EQ(round3.size(), 2u * kKeys);
  auto variants3 = VariantsByKey(round3, &shadows);
  moved = 0;
  for (auto& [k, v] : variants) moved += variants3[k] != v;
  EXPECT_EQ(moved, 0);
  EXPECT_EQ(shadows, size_t(kKeys));
  EXPECT_EQ(adapter->Terminate(), 0);
}

TEST(PlatformE2E, ShadowResultsAreMarkedAndGoToTheShadowTopic) {
  TestEnv env = MakeEnv("shadow");
  const std::string src = "t.src." + env.id, out = "t.pred." + env.id;
  CreateTopic(src);
  std::string cfg = env.Header() + R"(
jobs:
  j: {type: echo, name: "j-)" + env.id + R"("}
routes:
  - name: r
    source: )" + src + R"(
    variants:
      - {name: main, job: j, model: m1, weight: 1}
      - {name: dark, job: j, model: m2, shadow: true}
outputs:
  - name: o
    match: {route: r}
    topic: )" + out + R"(
    transform: [{drop: [x]}]
    attach: [id, variant, shadow]
    attach_fields: [x]
)";
  Proc run({"run", "-c", WriteFile(env.id + ".yaml", cfg)}, env.id);
  ProduceAll(src, {{"k", R"({"x":7})"}});
  std::vector<Rec> main = Consume(out, 1, 60000, 500);
  std::vector<Rec> shadow = Consume(out + ".shadow", 1, 30000, 500);
  ASSERT_EQ(main.size(), 1u) << run.log();
  ASSERT_EQ(shadow.size(), 1u) << run.log();
  EXPECT_NE(main[0].value.find("\"variant\":\"main\",\"shadow\":false,\"x\":7}"), std::string::npos) << main[0].value;
  EXPECT_NE(shadow[0].value.find("\"variant\":\"dark\",\"shadow\":true,\"x\":7}"), std::string::npos) << shadow[0].value;
  EXPECT_EQ(shadow[0].headers.at("evs-shadow"), "true");
  EXPECT_EQ(main[0].headers.at("evs-id"), shadow[0].headers.at("evs-id"));
  EXPECT_EQ(run.Terminate(), 0);
}

}  // namespace
}  // namespace evs::e2e
