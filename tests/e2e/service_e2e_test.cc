// The service job against real model servers the tests start: MLServer (Open
// Inference Protocol v2, scikit-learn runtime) and KServe's Python model
// server (v1, the TensorFlow Serving REST form), both serving the iris model
// of tools/model_servers (set up by scripts/test.sh). Requests are written
// straight to the job's request topic with the headers the input adapter
// sets; results and dead letters are read back from the real broker.
// Faults: the server killed and restarted mid-stream, a server slower than
// the per-try timeout (a proxy delays it), and bad answers (a proxy answers
// 500, malformed JSON or a wrongly shaped tensor; the real server refuses a
// wrongly shaped request tensor).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/fault_proxy.h"
#include "e2e/harness.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace evs::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string ServersDir() {
  const char* d = std::getenv("EVS_MODEL_SERVERS");
  return d && *d ? d : std::string(EVS_SOURCE_DIR) + "/var/model-servers";
}
std::string ServeScript() { return std::string(EVS_SOURCE_DIR) + "/tools/model_servers/serve.sh"; }

struct IrisRow {
  std::string features;  // "sepal_length":..,... (JSON members)
  int prediction;
};

// The 150 iris rows with the served model's own predictions.
std::vector<IrisRow> IrisRows() {
  std::vector<IrisRow> rows;
  std::ifstream in(ServersDir() + "/iris/iris.csv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string v[5];
    for (auto& x : v) std::getline(ss, x, ',');
    rows.push_back({"\"sepal_length\":" + v[0] + ",\"sepal_width\":" + v[1] + ",\"petal_length\":" + v[2] +
                        ",\"petal_width\":" + v[3],
                    std::stoi(v[4])});
  }
  return rows;
}

// A model server child process (tools/model_servers/serve.sh).
class ModelServer {
 public:
  // kind: "mlserver" or "kserve". port 0: pick one.
  ModelServer(std::string kind, const std::string& tag, int port = 0)
      : kind_(std::move(kind)), tag_(tag), port_(port ? port : FreePort()) {
    Start();
  }
  void Start() {
    std::vector<std::string> args = {kind_, std::to_string(port_), std::to_string(FreePort())};
    if (kind_ == "mlserver") args.push_back(std::to_string(FreePort()));
    proc_ = std::make_unique<Proc>(ServeScript(), args, tag_ + "-" + std::to_string(++starts_));
    const std::string path = kind_ == "mlserver" ? "/v2/models/iris" : "/v1/models/iris";
    ASSERT_TRUE(WaitFor([&] { return HttpGet(port_, path).find("iris") != std::string::npos || !proc_->alive(); },
                        90000))
        << proc_->log();
    ASSERT_TRUE(proc_->alive()) << "model server exited:\n" << proc_->log();
  }
  void Kill9() { proc_->Kill9(); }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string kind_, tag_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<Proc> proc_;
};

// One service job `s` (module svc-<id>) with the given `service:` body.
struct ServiceEnv {
  TestEnv env;
  std::string module, requests, path;
  int port = FreePort();
  ServiceEnv(const std::string& name, const std::string& service_yaml) : env(MakeEnv(name)) {
    module = "svc-" + env.id;
    requests = env.requests_prefix + "s";
    CreateTopic(requests, 4);
    path = WriteFile(env.id + ".yaml", env.Header() + "jobs:\n  s:\n    type: service\n    name: \"" + module +
                                           "\"\n    service:\n" + service_yaml);
  }
  std::unique_ptr<Proc> Start(const std::string& tag = "job") {
    auto p = std::make_unique<Proc>(std::vector<std::string>{"service-job", "-c", path, "--job", "s",
                                                             "--metrics-listen",
                                                             "127.0.0.1:" + std::to_string(port)},
                                    env.id + "-" + tag);
    EXPECT_TRUE(WaitFor([&] { return HttpGet(port, "/status").find("\"assigned\":true") != std::string::npos; },
                        30000))
        << p->log();
    return p;
  }
  json Status() {
    std::string s = HttpGet(port, "/status");
    return s.empty() ? json() : json::parse(s, nullptr, false);
  }
  double Metric(const std::string& name) {
    std::stringstream ss(HttpGet(port, "/metrics"));
    std::string line;
    double sum = 0;
    while (std::getline(ss, line))
      if (line.rfind(name, 0) == 0 && (line[name.size()] == ' ' || line[name.size()] == '{'))
        sum += std::stod(line.substr(line.rfind(' ') + 1));
    return sum;
  }
};

Rec Request(const std::string& key, int seq, const IrisRow& row, int row_index) {
  Rec r{key, "{" + row.features + ",\"row\":" + std::to_string(row_index) + ",\"seq\":" + std::to_string(seq) + "}"};
  r.headers = {{"evs-id", "e" + std::to_string(seq)}, {"evs-model", "iris"}};
  return r;
}

// Checks every result: one per id, the server's prediction for its row, and
// per key in produce order.
void CheckResults(const std::vector<Rec>& results, const std::vector<IrisRow>& rows, size_t want,
                  const std::string& field = "prediction") {
  ASSERT_EQ(results.size(), want);
  std::set<std::string> ids;
  std::map<std::string, int> last_seq;
  for (const Rec& r : results) {
    json v = json::parse(r.value, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << r.value;
    ids.insert(r.headers.at("evs-id"));
    const int row = v["input"]["row"].get<int>();
    ASSERT_TRUE(v["outputs"].contains(field)) << r.value;
    EXPECT_EQ(v["outputs"][field].get<int>(), rows[row].prediction) << r.value;
    const int seq = v["input"]["seq"].get<int>();
    auto it = last_seq.find(r.key);
    if (it != last_seq.end()) EXPECT_LT(it->second, seq) << "key " << r.key << " out of order";
    last_seq[r.key] = seq;
  }
  EXPECT_EQ(ids.size(), want) << "duplicate results";
}

class ServiceE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(ServersDir() + "/iris/iris.csv") && fs::exists(std::string(EVS_SOURCE_DIR) + "/var/venv-mlserver"))
        << "the model servers are not set up: run tools/model_servers/setup.sh (scripts/test.sh does)";
    rows_ = IrisRows();
    ASSERT_EQ(rows_.size(), 150u);
  }
  std::vector<IrisRow> rows_;
};

const char kIrisV2[] =
    "      protocol: v2\n"
    "      model: iris\n"
    "      fields: [sepal_length, sepal_width, petal_length, petal_width]\n"
    "      outputs: {predict: prediction}\n";

TEST_F(ServiceE2E, MlserverV2ScoresEventsInBatches) {
  ModelServer server("mlserver", "mlserver-flow");
  // The tensor's name and datatype come from the server's metadata.
  ServiceEnv se("svc-v2", "      url: " + server.url() + "\n" + kIrisV2 +
                              "      batch: {max_size: 8, max_delay_ms: 20}\n");
  auto job = se.Start();
  std::vector<Rec> reqs;
  for (int i = 0; i < 300; ++i) reqs.push_back(Request("k" + std::to_string(i % 7), i, rows_[i % 150], i % 150));
  ProduceAll(se.requests, reqs);
  auto results = Consume(se.env.results, 300, 60000, 1000);
  CheckResults(results, rows_, 300);
  for (const Rec& r : results) EXPECT_EQ(r.headers.at("evs-model-version"), "server");
  EXPECT_TRUE(Consume(se.env.dlq, 1, 1000).empty());
  json st = se.Status();
  EXPECT_EQ(st["config"]["service"]["ready"], true) << st.dump();
  EXPECT_EQ(st["config"]["service"]["breaker"], "closed") << st.dump();
  // Batched: fewer requests than records.
  const double requests = se.Metric("evs_service_batch_size_count");
  EXPECT_GT(requests, 0);
  EXPECT_LT(requests, 300) << "no request carried more than one record";
  EXPECT_EQ(se.Metric("evs_service_tries_total"), requests);
  EXPECT_NE(job->log().find("input tensor 'input-0' (FP64)"), std::string::npos) << job->log();
}

TEST_F(ServiceE2E, KserveV1InstancesAndColumnarInputs) {
  ModelServer server("kserve", "kserve-flow");
  for (const std::string format : {"instances", "inputs"}) {
    SCOPED_TRACE(format);
    ServiceEnv se("svc-v1-" + format, "      url: " + server.url() +
                                          "\n      protocol: tf-serving\n      tf_format: " + format +
                                          "\n      model: iris\n"
                                          "      fields: [sepal_length, sepal_width, petal_length, petal_width]\n"
                                          "      batch: {max_size: 16, max_delay_ms: 20}\n");
    auto job = se.Start();
    std::vector<Rec> reqs;
    for (int i = 0; i < 150; ++i) reqs.push_back(Request("k" + std::to_string(i % 5), i, rows_[i], i));
    ProduceAll(se.requests, reqs);
    CheckResults(Consume(se.env.results, 150, 60000, 1000), rows_, 150);
    EXPECT_TRUE(Consume(se.env.dlq, 1, 1000).empty());
    EXPECT_EQ(se.Status()["config"]["service"]["ready"], true);
  }
}

TEST_F(ServiceE2E, ServerKilledMidStreamLosesNothing) {
  ModelServer server("mlserver", "mlserver-kill");
  ServiceEnv se("svc-kill", "      url: " + server.url() + "\n" + kIrisV2 +
                                "      batch: {max_size: 4, max_delay_ms: 5}\n"
                                "      timeouts: {connect_ms: 500, try_ms: 2000, overall_ms: 120000}\n"
                                "      retry: {max_retries: 100, initial_backoff_ms: 50, max_backoff_ms: 500}\n"
                                "      breaker: {failure_threshold: 3, open_ms: 300}\n");
  auto job = se.Start();
  constexpr int kEvents = 1500;
  // Events keep arriving for ~4 s; the server dies after ~1 s and is back ~4 s later.
  std::thread producer([&] {
    for (int chunk = 0; chunk < 30; ++chunk) {
      std::vector<Rec> reqs;
      for (int i = chunk * 50; i < (chunk + 1) * 50; ++i)
        reqs.push_back(Request("k" + std::to_string(i % 11), i, rows_[i % 150], i % 150));
      ProduceAll(se.requests, reqs);
      std::this_thread::sleep_for(std::chrono::milliseconds(130));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  server.Kill9();
  ASSERT_TRUE(WaitFor([&] { return se.Status()["config"]["service"]["breaker"] == "open"; }, 20000))
      << job->log();
  EXPECT_TRUE(WaitFor([&] { return se.Status()["paused"] == true; }, 5000)) << "input not paused while open";
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  server.Start();
  producer.join();
  auto results = Consume(se.env.results, kEvents, 90000, 1000);
  CheckResults(results, rows_, kEvents);
  EXPECT_TRUE(Consume(se.env.dlq, 1, 1000).empty()) << "records were dead-lettered";
  EXPECT_GE(se.Metric("evs_service_breaker_opened_total"), 1);
  EXPECT_GE(se.Metric("evs_service_retries_total"), 1);
  EXPECT_TRUE(WaitFor([&] { return se.Status()["config"]["service"]["breaker"] == "closed"; }, 10000));
}

TEST_F(ServiceE2E, SlowServerOpensTheBreakerWithoutRebalanceAndLosesNothing) {
  ModelServer server("mlserver", "mlserver-slow");
  FaultProxy proxy(server.port());
  ServiceEnv se("svc-slow", "      url: http://127.0.0.1:" + std::to_string(proxy.port()) + "\n" + kIrisV2 +
                                "      batch: {max_size: 4, max_delay_ms: 5}\n"
                                "      timeouts: {connect_ms: 500, try_ms: 400, overall_ms: 120000}\n"
                                "      retry: {max_retries: 1000, initial_backoff_ms: 50, max_backoff_ms: 300}\n"
                                "      breaker: {failure_threshold: 2, open_ms: 500}\n");
  auto job = se.Start();
  // Warm up at full speed (metadata learned, first result back), then the
  // server turns slow.
  ProduceAll(se.requests, {Request("w", 1000, rows_[0], 0)});
  ASSERT_EQ(Consume(se.env.results, 1, 30000).size(), 1u) << job->log();
  proxy.Set(FaultProxy::Mode::kDelay, 1500);
  std::vector<Rec> reqs;
  for (int i = 0; i < 100; ++i) reqs.push_back(Request("k" + std::to_string(i % 3), i, rows_[i], i));
  ProduceAll(se.requests, reqs);
  ASSERT_TRUE(WaitFor([&] { return se.Status()["config"]["service"]["breaker"] == "open"; }, 30000))
      << job->log();
  EXPECT_TRUE(WaitFor([&] { return se.Status()["paused"] == true; }, 5000));
  // Held open for a while: the consumer keeps polling, so the group stays.
  std::this_thread::sleep_for(std::chrono::milliseconds(12000));
  EXPECT_NE(se.Status()["config"]["service"]["breaker"], "closed");
  proxy.Set(FaultProxy::Mode::kPass);
  auto results = Consume(se.env.results, 101, 60000, 1000);
  CheckResults(results, rows_, 101);
  EXPECT_TRUE(Consume(se.env.dlq, 1, 1000).empty());
  EXPECT_TRUE(WaitFor([&] { return se.Status()["config"]["service"]["breaker"] == "closed"; }, 10000));
  EXPECT_GE(se.Metric("evs_service_tries_total{module=\"" + se.module + "\",outcome=\"timeout\"}"), 2);
  const std::string log = job->log();
  EXPECT_EQ(log.find("partitions revoked"), std::string::npos) << "the group rebalanced:\n" << log;
  size_t assigned = 0;
  for (size_t p = log.find("assigned "); p != std::string::npos; p = log.find("assigned ", p + 1)) ++assigned;
  EXPECT_EQ(assigned, 1u) << log;
  EXPECT_NE(log.find("circuit breaker open"), std::string::npos);
  EXPECT_NE(log.find("circuit breaker closed"), std::string::npos);
}

TEST_F(ServiceE2E, BadAnswersAreRetriedThenDeadLettered) {
  ModelServer server("mlserver", "mlserver-bad");
  FaultProxy proxy(server.port());
  ServiceEnv se("svc-bad", "      url: http://127.0.0.1:" + std::to_string(proxy.port()) + "\n" + kIrisV2 +
                               "      batch: {max_size: 1, max_delay_ms: 0}\n"
                               "      max_requests_in_flight: 1\n"
                               "      retry: {max_retries: 2, initial_backoff_ms: 10, max_backoff_ms: 20}\n"
                               "      breaker: {failure_threshold: 1000, open_ms: 500}\n");
  auto job = se.Start();
  // Warm up (metadata learned, first result back) before injecting faults.
  ProduceAll(se.requests, {Request("w", 0, rows_[0], 0)});
  ASSERT_EQ(Consume(se.env.results, 1, 30000).size(), 1u) << job->log();

  struct Case {
    FaultProxy::Mode mode;
    const char* code;
    const char* message;
  } cases[] = {{FaultProxy::Mode::kStatus500, "server_error", "HTTP 500"},
               {FaultProxy::Mode::kMalformed, "bad_response", "not JSON"},
               {FaultProxy::Mode::kWrongShape, "bad_response", "shape [7,1]"}};
  size_t dlq_seen = 0;
  int seq = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    proxy.Set(c.mode);
    proxy.ResetCounts();
    std::vector<Rec> reqs;
    for (int i = 0; i < 2; ++i, ++seq) reqs.push_back(Request("b" + std::to_string(seq), seq, rows_[seq], seq));
    ProduceAll(se.requests, reqs);
    auto dlq = Consume(se.env.dlq, dlq_seen + 2, 30000);
    ASSERT_EQ(dlq.size(), dlq_seen + 2) << job->log();
    dlq_seen = dlq.size();
    int matched = 0;
    for (const Rec& req : reqs)
      for (Rec& d : dlq) {
        if (d.key != req.key) continue;
        ++matched;
        EXPECT_EQ(d.headers["evs-error-stage"], "http");
        EXPECT_EQ(d.headers["evs-error-code"], c.code);
        EXPECT_NE(d.headers["evs-error-message"].find(c.message), std::string::npos) << d.headers["evs-error-message"];
        EXPECT_NE(d.headers["evs-error-message"].find("gave up after 3 tries"), std::string::npos);
        EXPECT_EQ(d.value, req.value) << "the dead letter keeps the original bytes";
      }
    EXPECT_EQ(matched, 2);
    EXPECT_EQ(proxy.posts(), 6) << "each record tried 1 + max_retries times";
  }
  EXPECT_EQ(Consume(se.env.results, 1, 1000).size(), 1u) << "only the warm-up record has a result";

  // The real server refuses a wrongly shaped request tensor (3 features for a
  // 4-feature model) with a 500: retried, then dead-lettered.
  ServiceEnv wrong("svc-shape", "      url: " + server.url() +
                                    "\n      protocol: v2\n      model: iris\n"
                                    "      inputs:\n"
                                    "        - {name: input-0, datatype: FP64, shape: [3], fields: [sepal_length, sepal_width, petal_length]}\n"
                                    "      batch: {max_size: 1, max_delay_ms: 0}\n"
                                    "      retry: {max_retries: 1, initial_backoff_ms: 10, max_backoff_ms: 20}\n");
  auto job2 = wrong.Start();
  ProduceAll(wrong.requests, {Request("s", 1, rows_[1], 1)});
  auto dlq = Consume(wrong.env.dlq, 1, 30000);
  ASSERT_EQ(dlq.size(), 1u) << job2->log();
  EXPECT_EQ(dlq[0].headers["evs-error-stage"], "http");
  EXPECT_EQ(dlq[0].headers["evs-error-code"], "server_error");
  EXPECT_NE(dlq[0].headers["evs-error-message"].find("HTTP 500"), std::string::npos)
      << dlq[0].headers["evs-error-message"];
  EXPECT_NE(dlq[0].headers["evs-error-message"].find("gave up after 2 tries"), std::string::npos);
}

TEST_F(ServiceE2E, BadEventsAreDeadLetteredBeforeTheServer) {
  ModelServer server("mlserver", "mlserver-input");
  ServiceEnv se("svc-input", "      url: " + server.url() + "\n" + kIrisV2);
  auto job = se.Start();
  std::vector<Rec> reqs = {
      Request("ok", 1, rows_[1], 1),
      {"a", "{\"sepal_length\":1,\"sepal_width\":2,\"petal_length\":3}"},          // missing field
      {"b", "{\"sepal_length\":\"x\",\"sepal_width\":2,\"petal_length\":3,\"petal_width\":4}"},  // string for FP64
      {"c", "{\"sepal_length\":null,\"sepal_width\":2,\"petal_length\":3,\"petal_width\":4}"},
      {"d", "[1,2,3,4]"},
      {"e", "{\"sepal_length\":1,"},
  };
  for (size_t i = 1; i < reqs.size(); ++i) reqs[i].headers = {{"evs-id", reqs[i].key}, {"evs-model", "iris"}};
  Rec other = Request("m", 2, rows_[2], 2);
  other.headers["evs-model"] = "other";
  reqs.push_back(other);
  ProduceAll(se.requests, reqs);
  ASSERT_EQ(Consume(se.env.results, 1, 30000, 500).size(), 1u);
  auto dlq = Consume(se.env.dlq, 6, 30000, 500);
  ASSERT_EQ(dlq.size(), 6u) << job->log();
  std::map<std::string, std::string> code_by_key;
  for (const Rec& r : dlq) code_by_key[r.key] = r.headers.at("evs-error-stage") + "/" + r.headers.at("evs-error-code");
  EXPECT_EQ(code_by_key["a"], "input/invalid_input");
  EXPECT_EQ(code_by_key["b"], "input/invalid_input");
  EXPECT_EQ(code_by_key["c"], "input/invalid_input");
  EXPECT_EQ(code_by_key["d"].substr(0, 7), "decode/");
  EXPECT_EQ(code_by_key["e"].substr(0, 7), "decode/");
  EXPECT_EQ(code_by_key["m"], "model/model_not_found");
}

}  // namespace
}  // namespace evs::e2e
