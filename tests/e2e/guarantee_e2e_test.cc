// Delivery guarantees under kill -9 of the input adapter mid-stream.
#include <unistd.h>

#include <set>
#include <string>
#include <thread>

#include "e2e/harness.h"
#include "gtest/gtest.h"

namespace evs::e2e {
namespace {

void KillMidStreamAndRestart(const std::string& guarantee, bool expect_exactly_once) {
  TestEnv env = MakeEnv(guarantee == "exactly-once" ? "eos" : "alo");
  const std::string src = "t.src." + env.id;
  CreateTopic(src);
  std::string cfg = env.Header(guarantee, "txn_max_records: 500, txn_max_ms: 100") + OneRouteYaml(src);
  const std::string path = WriteFile(env.id + ".yaml", cfg);
  const int kEvents = 20000;
  auto adapter = std::make_unique<Proc>(std::vector<std::string>{"input-adapter", "-c", path}, env.id + "-1");
  std::thread producer([&] {
    for (int batch = 0; batch < 40; ++batch) {
      std::vector<Rec> recs;
      for (int i = 0; i < kEvents / 40; ++i) {
        int n = batch * (kEvents / 40) + i;
        recs.push_back({"k" + std::to_string(n % 101), "{\"n\":" + std::to_string(n) + "}"});
      }
      ProduceAll(src, recs);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const std::string requests = env.requests_prefix + "j";
  // Kill once the adapter is visibly mid-stream.
  ASSERT_TRUE(WaitFor([&] { return Consume(requests, 2000, 2000, 0).size() >= 2000; }, 60000)) << adapter->log();
  adapter->Kill9();
  producer.join();
  adapter = std::make_unique<Proc>(std::vector<std::string>{"input-adapter", "-c", path}, env.id + "-2");
  std::vector<Rec> got = Consume(requests, kEvents, 120000, 3000, /*read_committed=*/expect_exactly_once);
  std::set<std::string> ids;
  for (const Rec& r : got) ids.insert(r.headers.at("evs-id"));
  EXPECT_EQ(ids.size(), size_t(kEvents)) << "lost events; log: " << adapter->log();
  if (expect_exactly_once) EXPECT_EQ(got.size(), size_t(kEvents)) << "duplicates among committed records";
  else EXPECT_GE(got.size(), size_t(kEvents));
  EXPECT_EQ(adapter->Terminate(), 0) << adapter->log();
}

TEST(GuaranteeE2E, AtLeastOnceSurvivesKill9WithoutLoss) { KillMidStreamAndRestart("at-least-once", false); }

TEST(GuaranteeE2E, ExactlyOnceSurvivesKill9WithoutLossOrDuplicates) {
  KillMidStreamAndRestart("exactly-once", true);
}

TEST(GuaranteeE2E, BackpressurePausesAndResumesWithoutLoss) {
  TestEnv env = MakeEnv("bp");
  const std::string src = "t.src." + env.id;
  CreateTopic(src);
  std::string cfg = env.Header("at-least-once", "max_in_flight: 500") + OneRouteYaml(src);
  const int port = 20000 + (getpid() % 20000);
  Proc adapter({"input-adapter", "-c", WriteFile(env.id + ".yaml", cfg), "--metrics-listen",
                "127.0.0.1:" + std::to_string(port)},
               env.id);
  const int kEvents = 6000;
  std::vector<Rec> recs;
  for (int i = 0; i < kEvents; ++i) recs.push_back({"k" + std::to_string(i % 13), "{\"n\":" + std::to_string(i) + "}"});
  ProduceAll(src, recs);
  std::vector<Rec> got = Consume(env.requests_prefix + "j", kEvents, 120000, 1000);
  std::set<std::string> ids;
  for (const Rec& r : got) ids.insert(r.headers.at("evs-id"));
  EXPECT_EQ(ids.size(), size_t(kEvents)) << adapter.log();
  EXPECT_EQ(got.size(), size_t(kEvents));
  std::string status;
  FILE* f = popen(("curl -sf http://127.0.0.1:" + std::to_string(port) + "/status").c_str(), "r");
  char buf[8192];
  size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
  if (f) pclose(f);
  status.assign(buf, n);
  auto pos = status.find("\"pauses\":");
  ASSERT_NE(pos, std::string::npos) << status;
  EXPECT_GT(std::stol(status.substr(pos + 9)), 0) << status;
  EXPECT_NE(status.find("\"paused\":false"), std::string::npos) << status;  // resumed at the end
  EXPECT_EQ(adapter.Terminate(), 0);
}

}  // namespace
}  // namespace evs::e2e
