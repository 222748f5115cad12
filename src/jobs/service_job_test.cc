// ServiceJob driven the way the runner drives it (Begin / TakeCompleted /
// WantsPause / Cancel) against a fake v2 model server in the test process:
// results leave in offset order when answers come back out of order, the
// breaker opens, pauses input, probes and closes, and revoked partitions
// forget their records. The real servers are in tests/e2e/service_e2e_test.cc.
#include "jobs/service_job.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "config/config.h"
#include "httplib.h"
#include "metrics/registry.h"
#include "nlohmann/json.hpp"

namespace evs::jobs {
namespace {

using json = nlohmann::json;

// A v2 server for model m: answers predict = the first feature of each row
// (so a result names its record). A row whose feature is 99 is answered
// after 300 ms; while `down`, infer and readiness answer 503.
class FakeServer {
 public:
  FakeServer() {
    srv_.Post("/v2/models/m/infer", [this](const httplib::Request& q, httplib::Response& r) {
      posts_++;
      if (down_) {
        r.status = 503;
        return;
      }
      json in = json::parse(q.body);
      const auto& t = in["inputs"][0];
      const int64_t n = t["shape"][0];
      json data = json::array();
      for (int64_t i = 0; i < n; ++i) {
        double v = t["data"][i];
        if (v == 99) std::this_thread::sleep_for(std::chrono::milliseconds(300));
        data.push_back(v);
      }
      json out = {{"outputs", {{{"name", "predict"}, {"datatype", "FP64"}, {"shape", {n, 1}}, {"data", data}}}}};
      r.set_content(out.dump(), "application/json");
    });
    srv_.Get("/v2/models/m", [this](const httplib::Request&, httplib::Response& r) {
      r.set_content("{\"name\":\"m\",\"versions\":[],\"platform\":\"\",\"inputs\":[{\"name\":\"feat\","
                    "\"datatype\":\"FP64\",\"shape\":" + metadata_shape_ + "}],\"outputs\":[]}",
                    "application/json");
    });
    srv_.Get("/v2/models/m/ready", [this](const httplib::Request&, httplib::Response& r) {
      r.status = down_ ? 503 : 200;
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    th_ = std::thread([this] { srv_.listen_after_bind(); });
  }
  ~FakeServer() {
    srv_.stop();
    th_.join();
  }
  int port() const { return port_; }
  std::atomic<bool> down_{false};
  std::atomic<int> posts_{0};
  std::string metadata_shape_ = "[-1,1]";  // set before use

 private:
  httplib::Server srv_;
  std::thread th_;
  int port_ = 0;
};

std::shared_ptr<const config::Config> Cfg(int port, const std::string& extra) {
  auto c = config::ParseConfig("jobs:\n  s:\n    type: service\n    service:\n      url: http://127.0.0.1:" +
                               std::to_string(port) +
                               "\n      model: m\n      inputs: [{name: x, fields: [a]}]\n"
                               "      outputs: {predict: y}\n" + extra);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

struct Rec {
  std::string key, value;
  std::vector<kafka::Header> headers = {};
};

// Runs TakeCompleted until `n` completions arrived (or 10 s passed).
std::vector<kafka::Completion> Collect(ServiceJob& job, size_t n) {
  std::vector<kafka::Completion> done;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done.size() < n && std::chrono::steady_clock::now() < until) {
    job.TakeCompleted(&done);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max(1, job.PollTimeoutMs())));
  }
  return done;
}

TEST(ServiceJobTest, ResultsLeaveInOffsetOrderWhenAnswersDoNot) {
  FakeServer server;
  metrics::Registry reg;
  ServiceJob job("svc", "s", Cfg(server.port(), "      batch: {max_size: 1}\n      max_requests_in_flight: 4\n"),
                 nullptr, nullptr, &reg);
  std::vector<Rec> recs = {{"k", "{\"a\":99}"}, {"k", "{\"a\":1}"}, {"k", "{\"a\":2}"}, {"k", "{\"a\":3}"}};
  int tickets[4];
  kafka::OutBatch out;
  for (int i = 0; i < 4; ++i) {
    kafka::InRecord in("t", 0, i, &recs[i].key, &recs[i].value, &recs[i].headers);
    ASSERT_TRUE(job.Begin(in, &tickets[i], &out));
  }
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(job.Deferred(), 4u);
  auto done = Collect(job, 4);
  ASSERT_EQ(done.size(), 4u);
  const double want[] = {99, 1, 2, 3};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(done[i].ticket, &tickets[i]) << "completion " << i << " out of order";
    ASSERT_EQ(done[i].outputs.size(), 1u);
    json v = json::parse(done[i].outputs[0].value);
    EXPECT_EQ(v["outputs"]["y"], want[i]);
    EXPECT_EQ(done[i].outputs[0].key, "k");
  }
  EXPECT_EQ(job.Deferred(), 0u);
  EXPECT_EQ(server.posts_.load(), 4);
}

TEST(ServiceJobTest, BatchesFillUpToMaxSizeOrWaitMaxDelay) {
  FakeServer server;
  metrics::Registry reg;
  ServiceJob job("svc", "s", Cfg(server.port(), "      batch: {max_size: 3, max_delay_ms: 50}\n"), nullptr,
                 nullptr, &reg);
  std::vector<Rec> recs;
  for (int i = 0; i < 7; ++i) recs.push_back({"k", "{\"a\":" + std::to_string(i + 10) + "}"});
  int tickets[7];
  kafka::OutBatch out;
  for (int i = 0; i < 7; ++i) {
    kafka::InRecord in("t", 0, i, &recs[i].key, &recs[i].value, &recs[i].headers);
    ASSERT_TRUE(job.Begin(in, &tickets[i], &out));
  }
  auto done = Collect(job, 7);
  ASSERT_EQ(done.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(done[i].ticket, &tickets[i]);
  EXPECT_EQ(server.posts_.load(), 3);  // 3 + 3 full, the last one after max_delay
}

TEST(ServiceJobTest, BreakerOpensPausesProbesAndCloses) {
  FakeServer server;
  server.down_ = true;
  metrics::Registry reg;
  ServiceJob job("svc", "s",
                 Cfg(server.port(), "      retry: {max_retries: 100, initial_backoff_ms: 5, max_backoff_ms: 10}\n"
                                    "      breaker: {failure_threshold: 3, open_ms: 50}\n"),
                 nullptr, nullptr, &reg);
  std::vector<Rec> recs = {{"k", "{\"a\":5}"}};
  int ticket;
  kafka::OutBatch out;
  kafka::InRecord in("t", 0, 0, &recs[0].key, &recs[0].value, &recs[0].headers);
  ASSERT_TRUE(job.Begin(in, &ticket, &out));
  std::vector<kafka::Completion> done;
  for (int i = 0; i < 500 && job.breaker_state() != ServiceJob::BreakerState::kOpen; ++i) {
    job.TakeCompleted(&done);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(job.breaker_state(), ServiceJob::BreakerState::kOpen);
  EXPECT_TRUE(job.WantsPause());
  // While open, no infer requests: only readiness probes.
  const int posts = server.posts_.load();
  for (int i = 0; i < 50; ++i) {
    job.TakeCompleted(&done);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.posts_.load(), posts);
  EXPECT_TRUE(done.empty());
  server.down_ = false;
  done = Collect(job, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(job.breaker_state(), ServiceJob::BreakerState::kClosed);
  EXPECT_FALSE(job.WantsPause());
  EXPECT_EQ(json::parse(done[0].outputs[0].value)["outputs"]["y"], 5);
  EXPECT_NE(job.Describe().find("\"breaker\":\"closed\""), std::string::npos) << job.Describe();
}

TEST(ServiceJobTest, HalfOpenTakesRecordsSoATrialCanCloseIt) {
  // The only batch opens the breaker and is dead-lettered at once (no
  // retries): when the server is back, the half-open breaker must let input
  // in, or no trial would ever close it.
  FakeServer server;
  server.down_ = true;
  metrics::Registry reg;
  ServiceJob job("svc", "s",
                 Cfg(server.port(), "      retry: {max_retries: 0}\n      breaker: {failure_threshold: 1, open_ms: 30}\n"),
                 nullptr, nullptr, &reg);
  std::vector<Rec> recs = {{"k", "{\"a\":5}"}, {"k", "{\"a\":6}"}};
  int tickets[2];
  kafka::OutBatch out;
  kafka::InRecord a("t", 0, 0, &recs[0].key, &recs[0].value, &recs[0].headers);
  ASSERT_TRUE(job.Begin(a, &tickets[0], &out));
  auto done = Collect(job, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(job.breaker_state(), ServiceJob::BreakerState::kOpen);
  EXPECT_TRUE(job.WantsPause());
  server.down_ = false;
  std::vector<kafka::Completion> none;
  for (int i = 0; i < 500 && job.breaker_state() == ServiceJob::BreakerState::kOpen; ++i) {
    job.TakeCompleted(&none);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(job.breaker_state(), ServiceJob::BreakerState::kHalfOpen);
  EXPECT_FALSE(job.WantsPause()) << "half-open must take records";
  kafka::InRecord b("t", 0, 1, &recs[1].key, &recs[1].value, &recs[1].headers);
  ASSERT_TRUE(job.Begin(b, &tickets[1], &out));
  done = Collect(job, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(json::parse(done[0].outputs[0].value)["outputs"]["y"], 6);
  EXPECT_EQ(job.breaker_state(), ServiceJob::BreakerState::kClosed);
}

TEST(ServiceJobTest, RetriesThenDeadLettersWithStageHttp) {
  FakeServer server;
  server.down_ = true;
  metrics::Registry reg;
  ServiceJob job("svc", "s",
                 Cfg(server.port(), "      retry: {max_retries: 2, initial_backoff_ms: 1, max_backoff_ms: 2}\n"
                                    "      breaker: {failure_threshold: 100}\n"),
                 nullptr, nullptr, &reg);
  std::vector<Rec> recs = {{"k", "{\"a\":5}"}};
  int ticket;
  kafka::OutBatch out;
  kafka::InRecord in("t", 0, 7, &recs[0].key, &recs[0].value, &recs[0].headers);
  ASSERT_TRUE(job.Begin(in, &ticket, &out));
  auto done = Collect(job, 1);
  ASSERT_EQ(done.size(), 1u);
  ASSERT_EQ(done[0].outputs.size(), 1u);
  std::map<std::string, std::string> h(done[0].outputs[0].headers.begin(), done[0].outputs[0].headers.end());
  EXPECT_EQ(h["evs-error-stage"], "http");
  EXPECT_EQ(h["evs-error-code"], "server_error");
  EXPECT_NE(h["evs-error-message"].find("gave up after 3 tries"), std::string::npos) << h["evs-error-message"];
  EXPECT_EQ(done[0].outputs[0].value, recs[0].value);
  EXPECT_EQ(server.posts_.load(), 3);
}

TEST(ServiceJobTest, CancelForgetsTheRevokedPartitions) {
  FakeServer server;
  metrics::Registry reg;
  ServiceJob job("svc", "s", Cfg(server.port(), "      batch: {max_size: 1}\n"), nullptr, nullptr, &reg);
  std::vector<Rec> recs = {{"k", "{\"a\":99}"}, {"k", "{\"a\":1}"}};
  int tickets[2];
  kafka::OutBatch out;
  kafka::InRecord a("t", 0, 0, &recs[0].key, &recs[0].value, &recs[0].headers);
  kafka::InRecord b("t", 1, 0, &recs[1].key, &recs[1].value, &recs[1].headers);
  ASSERT_TRUE(job.Begin(a, &tickets[0], &out));
  ASSERT_TRUE(job.Begin(b, &tickets[1], &out));
  job.Cancel({{"t", 0}});
  EXPECT_EQ(job.Deferred(), 1u);
  auto done = Collect(job, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the slow answer of partition 0 arrives
  job.TakeCompleted(&done);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].ticket, &tickets[1]);
  EXPECT_EQ(job.Deferred(), 0u);
}

std::shared_ptr<const config::Config> ShorthandCfg(int port) {
  auto c = config::ParseConfig("jobs:\n  s:\n    type: service\n    service:\n      url: http://127.0.0.1:" +
                               std::to_string(port) + "\n      model: m\n      fields: [a]\n"
                               "      outputs: {predict: y}\n");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(ServiceJobTest, LearnsTheInputTensorFromMetadata) {
  FakeServer server;
  metrics::Registry reg;
  ServiceJob job("svc", "s", ShorthandCfg(server.port()), nullptr, nullptr, &reg);
  std::vector<Rec> recs = {{"k", "{\"a\":4}"}};
  int ticket;
  kafka::OutBatch out;
  kafka::InRecord in("t", 0, 0, &recs[0].key, &recs[0].value, &recs[0].headers);
  ASSERT_TRUE(job.Begin(in, &ticket, &out));
  auto done = Collect(job, 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(json::parse(done[0].outputs[0].value)["outputs"]["y"], 4);
  EXPECT_TRUE(job.Ready());
}

TEST(ServiceJobTest, MetadataThatDoesNotFitTheFieldsIsReported) {
  FakeServer server;
  server.metadata_shape_ = "[-1,4]";
  metrics::Registry reg;
  ServiceJob job("svc", "s", ShorthandCfg(server.port()), nullptr, nullptr, &reg);
  std::vector<kafka::Completion> done;
  for (int i = 0; i < 100 && job.Describe().find("does not hold") == std::string::npos; ++i) {
    job.TakeCompleted(&done);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(job.Describe().find("input 'feat' has shape [-1,4], which does not hold the job's 1 field(s)"),
            std::string::npos)
      << job.Describe();
  EXPECT_FALSE(job.Ready());
}

TEST(ServiceJobTest, BadRecordsAreDeadLetteredAtOnce) {
  FakeServer server;
  metrics::Registry reg;
  ServiceJob job("svc", "s", Cfg(server.port(), ""), nullptr, nullptr, &reg);
  struct Case {
    std::string value;
    const char* code;
  } cases[] = {{"{\"b\":1}", "invalid_input"},
               {"{\"a\":null}", "invalid_input"},
               {"{\"a\":\"x\"}", "invalid_input"},
               {"{\"a\":[1]}", "invalid_input"},
               {"[1]", nullptr},
               {"{\"a\":", nullptr}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    std::string key = "k";
    std::vector<kafka::Header> headers;
    kafka::InRecord in("t", 0, 0, &key, &c.value, &headers);
    kafka::OutBatch out;
    int ticket;
    EXPECT_FALSE(job.Begin(in, &ticket, &out));
    ASSERT_EQ(out.size(), 1u);
    std::map<std::string, std::string> h(out[0].headers.begin(), out[0].headers.end());
    if (c.code) EXPECT_EQ(h["evs-error-code"], c.code);
    else EXPECT_EQ(h["evs-error-stage"], "decode");
  }
  std::string key = "k", value = "{\"a\":1}";
  std::vector<kafka::Header> headers = {{"evs-model", "other"}};
  kafka::InRecord in("t", 0, 0, &key, &value, &headers);
  kafka::OutBatch out;
  int ticket;
  EXPECT_FALSE(job.Begin(in, &ticket, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(server.posts_.load(), 0);
}

}  // namespace
}  // namespace evs::jobs
