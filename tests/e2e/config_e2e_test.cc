// Online config: a pushed config takes effect between two records with no
// event lost or duplicated; a bad one is rejected on the status topic and the
// old one keeps serving; a restarted module recovers the latest good one.
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "e2e/harness.h"
#include "gtest/gtest.h"

namespace evs::e2e {
namespace {

std::string Config(const TestEnv& env, const std::string& src, int version, const std::string& model) {
  return "version: " + std::to_string(version) + "\n" + env.Header() + OneRouteYaml(src, model);
}

bool StatusHas(const TestEnv& env, const std::string& needle) {
  for (const Rec& r : Consume(env.status, 1000, 3000, 0))
    if (r.value.find(needle) != std::string::npos) return true;
  return false;
}

TEST(ConfigE2E, OnlinePushSwitchesWithoutLossOrDuplicatesAndRejectsBadConfigs) {
  TestEnv env = MakeEnv("cfg");
  const std::string src = "t.src." + env.id;
  CreateTopic(src);
  const std::string path = WriteFile(env.id + "-v1.yaml", Config(env, src, 1, "m1"));
  auto adapter = std::make_unique<Proc>(std::vector<std::string>{"input-adapter", "-c", path}, env.id + "-1");

  // Steady stream of 3000 events over ~6 s; the push lands in the middle.
  const int kEvents = 3000;
  std::thread producer([&] {
    for (int batch = 0; batch < 30; ++batch) {
      std::vector<Rec> recs;
      for (int i = 0; i < 100; ++i) {
        int n = batch * 100 + i;
        recs.push_back({"k" + std::to_string(n % 97), "{\"n\":" + std::to_string(n) + "}"});
      }
      ProduceAll(src, recs);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::string out;
  EXPECT_EQ(RunCli({"config", "push", WriteFile(env.id + "-v2.yaml", Config(env, src, 2, "m2"))}, &out), 0) << out;
  producer.join();
  const std::string requests = env.requests_prefix + "j";
  std::vector<Rec> got = Consume(requests, kEvents, 60000, 2000);
  ASSERT_EQ(got.size(), size_t(kEvents)) << adapter->log();
  std::set<std::string> ids;
  std::map<int32_t, std::string> last_model;  // per partition: m1 ... m1 m2 ... m2
  int m1 = 0, m2 = 0, flips_back = 0;
  for (const Rec& r : got) {
    ids.insert(r.headers.at("evs-id"));
    const std::string& model = r.headers.at("evs-model");
    EXPECT_EQ(r.headers.at("evs-config"), model == "m1" ? "1" : "2");
    (model == "m1" ? m1 : m2)++;
    if (last_model[r.partition] == "m2" && model == "m1") ++flips_back;
    last_model[r.partition] = model;
  }
  EXPECT_EQ(ids.size(), size_t(kEvents));  // none lost, none duplicated
  EXPECT_GT(m1, 0);
  EXPECT_GT(m2, 0);
  EXPECT_EQ(flips_back, 0);
  EXPECT_TRUE(WaitFor([&] { return StatusHas(env, "\"outcome\":\"applied\",\"version\":2"); }, 10000));

  // A bad config: rejected with a reason naming the key; v2 keeps serving.
  std::string bad = "version: 3\n" + env.Header() + R"(
jobs:
  j: {type: echo}
routes:
  - name: r
    source: )" + src + R"(
    variants: [{name: v, job: nope, model: m3, weight: 1}]
)";
  EXPECT_EQ(RunCli({"config", "push", "--no-validate", "--bootstrap-config", path,
                   WriteFile(env.id + "-bad.yaml", bad)},
                  &out), 0) << out;
  EXPECT_TRUE(WaitFor([&] { return StatusHas(env, "routes[0].variants[0].job: unknown job 'nope'"); }, 15000));
  EXPECT_TRUE(StatusHas(env, "\"outcome\":\"rejected\",\"version\":3"));
  ProduceAll(src, {{"after-bad", "{\"n\":-1}"}});
  got = Consume(requests, kEvents + 1, 30000, 500);
  ASSERT_EQ(got.size(), size_t(kEvents + 1));
  std::string after_bad_model;
  for (const Rec& r : got)
    if (r.key == "after-bad") after_bad_model = r.headers.at("evs-model");
  EXPECT_EQ(after_bad_model, "m2");
  EXPECT_TRUE(adapter->alive());

  // Restart from the v1 file: the module recovers v2 (the latest good) from the topic.
  EXPECT_EQ(adapter->Terminate(), 0);
  adapter = std::make_unique<Proc>(std::vector<std::string>{"input-adapter", "-c", path}, env.id + "-2");
  ProduceAll(src, {{"after-restart", "{\"n\":-2}"}});
  got = Consume(requests, kEvents + 2, 60000, 500);
  ASSERT_EQ(got.size(), size_t(kEvents + 2)) << adapter->log();
  bool found = false;
  for (const Rec& r : got)
    if (r.key == "after-restart") {
      found = true;
      EXPECT_EQ(r.headers.at("evs-model"), "m2");
      EXPECT_EQ(r.headers.at("evs-config"), "2");
    }
  EXPECT_TRUE(found);
  EXPECT_TRUE(StatusHas(env, "\"outcome\":\"recovered\",\"version\":2"));

  // config get shows the active version per module.
  EXPECT_EQ(RunCli({"config", "get", "-c", path, "-m", env.input_name}, &out), 0) << out;
  EXPECT_NE(out.find(env.input_name + ": active version 2"), std::string::npos) << out;
  EXPECT_EQ(adapter->Terminate(), 0);
}

TEST(ConfigE2E, CliRejectsBadConfigsNamingTheKey) {
  struct Case {
    std::string yaml, expect;
  };
  std::vector<Case> cases = {
      {"routes: [\n", "YAML syntax error"},
      {"routez: []\n", "routez: unknown key"},
      {"jobs: {j: {type: echo}}\nroutes:\n  - name: r\n    source: s\n    variants: [{job: j, model: m, weight: abc}]\n",
       "routes[0].variants[0].weight: must be a finite number"},
      {"jobs: {j: {type: echo}}\nroutes:\n  - name: r\n    source: s\n    variants: [{job: j, model: m, weight: -1}]\n",
       "routes[0].variants[0].weight: must be >= 0"},
      {"jobs: {j: {type: echo}}\nroutes:\n  - name: r\n    source: s\n    variants: [{job: j, model: m, weight: 0}, {name: b, job: j, model: m, weight: 0}]\n",
       "routes[0].variants: the weights"},
      {"jobs: {j: {type: echo}}\nroutes:\n  - name: r\n    source: s\n    variants: [{job: x, model: m, weight: 1}]\n",
       "routes[0].variants[0].job: unknown job 'x'"},
      {"jobs: {j: {type: echo}}\nroutes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: 1}]}\n  - {name: r, source: t, variants: [{job: j, model: m, weight: 1}]}\n",
       "routes[1].name: duplicate route name 'r'"},
      {"", "the config document is empty"},
  };
  for (const Case& c : cases) {
    std::string out;
    int rc = RunCli({"config", "validate", WriteFile(Unique("bad") + ".yaml", c.yaml)}, &out);
    EXPECT_EQ(rc, 2) << c.yaml;
    EXPECT_NE(out.find(c.expect), std::string::npos) << "config:\n" << c.yaml << "\noutput: " << out;
  }
}

}  // namespace
}  // namespace evs::e2e
