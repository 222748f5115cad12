// The PMML job on the real broker: models added, updated under load, deleted,
// rolled back, rejected when corrupt, recovered after a restart, and served
// by two instances of one consumer group. Requests are written straight to
// the job's request topic with the evs-model header the input adapter sets.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "e2e/harness.h"
#include "gtest/gtest.h"
#include "kafka/client.h"
#include "httplib.h"
#include "models/registry.h"

namespace evs::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string FixturePath(const std::string& name) { return std::string(EVS_FIXTURES_DIR) + "/" + name; }
std::string Fixture(const std::string& name) {
  std::ifstream in(FixturePath(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One pmml job `p` (module name pmml-<id>) on the env's unique topics.
struct PmmlEnv {
  TestEnv env;
  std::string module, requests, models, path;
  explicit PmmlEnv(const std::string& name) : env(MakeEnv(name)) {
    module = "pmml-" + env.id;
    requests = env.requests_prefix + "p";
    models = "t.models." + env.id;
    path = WriteFile(env.id + ".yaml",
                     env.Header() + "jobs:\n  p: {type: pmml, name: \"" + module + "\"}\n");
  }
  std::unique_ptr<Proc> StartJob(const std::string& tag = "job", const std::string& instance = "",
                                 int port = 0) {
    std::vector<std::string> args = {"pmml-job", "-c", path, "--job", "p"};
    if (!instance.empty()) args.insert(args.end(), {"--instance", instance});
    if (!port) port = FreePort();
    args.insert(args.end(), {"--metrics-listen", "127.0.0.1:" + std::to_string(port)});
    auto proc = std::make_unique<Proc>(args, env.id + "-" + tag);
    // Ready = the registry was read to its end and the runner started.
    EXPECT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz") == "ready"; }, 30000)) << proc->log();
    return proc;
  }
  int Cli(const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"-c", path});
    if (args[1] != "list") a.insert(a.end(), {"--timeout", "60"});
    return RunCli(a, out, 90000);
  }
};

const char kSetosa[] = R"({"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2})";
const char kVirginica[] = R"({"sepal_length":6.7,"sepal_width":3.0,"petal_length":5.2,"petal_width":2.3})";

Rec Request(const std::string& key, const std::string& model, const std::string& value) {
  Rec r{key, value};
  r.headers = {{"evs-id", key}, {"evs-model", model}};
  return r;
}

std::map<std::string, Rec> ByKey(const std::vector<Rec>& recs) {
  std::map<std::string, Rec> m;
  for (const Rec& r : recs) m[r.key] = r;
  return m;
}

TEST(PmmlE2E, AddAModelAndScore) {
  PmmlEnv p("pmml-add");
  auto job = p.StartJob();
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "iris", FixturePath("iris_tree.pmml")}, &out), 0) << out << job->log();
  EXPECT_NE(out.find(p.module + ": applied iris version 1"), std::string::npos) << out;
  std::cout << out;
  ProduceAll(p.requests, {Request("a", "iris", kSetosa), Request("b", "iris", kVirginica),
                          Request("c", "iris@1", kSetosa)});
  auto got = ByKey(Consume(p.env.results, 3, 60000, 500));
  ASSERT_EQ(got.size(), 3u) << job->log();
  EXPECT_EQ(got["a"].value,
            std::string(R"x({"outputs":{"species":"setosa","probability(setosa)":1,"probability(versicolor)":0,"probability(virginica)":0},"input":)x") +
                kSetosa + "}");
  EXPECT_NE(got["b"].value.find(R"("species":"virginica")"), std::string::npos);
  for (auto& [k, r] : got) {
    EXPECT_EQ(r.headers["evs-model-version"], "1");
    EXPECT_EQ(r.headers["evs-model-digest"], models::Sha256Hex(Fixture("iris_tree.pmml")));
    EXPECT_EQ(r.headers["evs-id"], k);
  }
  ASSERT_EQ(p.Cli({"model", "list"}, &out), 0) << out;
  EXPECT_NE(out.find("iris  version 1"), std::string::npos) << out;
  std::cout << out;
  EXPECT_EQ(job->Terminate(), 0);
}

TEST(PmmlE2E, FiveSwapsUnderSteadyLoadLoseAndDuplicateNothing) {
  PmmlEnv p("pmml-swap");
  auto job = p.StartJob();
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "iris", FixturePath("iris_tree.pmml")}, &out), 0) << out;
  std::map<std::string, std::string> digest_of = {{"1", models::Sha256Hex(Fixture("iris_tree.pmml"))}};
  const int kEvents = 4000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    // About 500 events/s in batches of 50, for ~8 s.
    for (int i = 0; i < kEvents; i += 50) {
      std::vector<Rec> batch;
      for (int k = i; k < i + 50; ++k)
        batch.push_back(Request("k" + std::to_string(k), "iris", k % 2 ? kSetosa : kVirginica));
      ProduceAll(p.requests, batch);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    done = true;
  });
  for (int v = 2; v <= 6; ++v) {
    const std::string f = v % 2 ? "iris_tree.pmml" : "iris_forest.pmml";
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    ASSERT_EQ(p.Cli({"model", "update", "iris", FixturePath(f)}, &out), 0) << out;
    EXPECT_NE(out.find("applied iris version " + std::to_string(v)), std::string::npos) << out;
    digest_of[std::to_string(v)] = models::Sha256Hex(Fixture(f));
  }
  producer.join();
  std::vector<Rec> got = Consume(p.env.results, kEvents, 120000, 2000);
  std::map<std::string, int> seen;
  std::map<std::string, int> per_version;
  for (const Rec& r : got) {
    ++seen[r.key];
    auto v = r.headers.find("evs-model-version");
    ASSERT_NE(v, r.headers.end());
    ASSERT_TRUE(digest_of.count(v->second)) << v->second;
    EXPECT_EQ(r.headers.at("evs-model-digest"), digest_of[v->second]);
    ++per_version[v->second];
  }
  EXPECT_EQ(got.size(), size_t(kEvents)) << job->log();
  EXPECT_EQ(seen.size(), size_t(kEvents));  // none lost
  int dups = 0;
  for (auto& [k, n] : seen) dups += n - 1;
  EXPECT_EQ(dups, 0);
  std::string summary;
  for (auto& [v, n] : per_version) summary += " v" + v + "=" + std::to_string(n);
  std::cout << "results per version:" << summary << "\n";
  EXPECT_GE(per_version.size(), 4u) << summary;  // swaps happened while events flowed
  EXPECT_EQ(job->Terminate(), 0);
}

TEST(PmmlE2E, RollbackWithinOneSecondAndDeleteDeadLettersModelNotFound) {
  PmmlEnv p("pmml-del");
  auto job = p.StartJob();
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "iris", FixturePath("iris_tree.pmml")}, &out), 0) << out;
  ASSERT_EQ(p.Cli({"model", "update", "iris", FixturePath("iris_forest.pmml")}, &out), 0) << out;
  ASSERT_EQ(p.Cli({"model", "rollback", "iris"}, &out), 0) << out;
  // From the registry record's delivery to the job's "applied" on the status
  // topic, as the command measured it.
  const std::string marker = "applied iris version 1 (load 0 ms): rolled back to a loaded version [";
  auto pos = out.find(marker);
  ASSERT_NE(pos, std::string::npos) << out;
  const long ms = std::stol(out.substr(pos + marker.size()));
  std::cout << "rollback: applied " << ms << " ms after the record was published\n";
  EXPECT_LT(ms, 1000);
  ProduceAll(p.requests, {Request("r", "iris", kSetosa)});
  auto res = Consume(p.env.results, 1, 60000);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].headers["evs-model-version"], "1");
  // The next update takes a fresh number, not the rolled-back-from one.
  ASSERT_EQ(p.Cli({"model", "update", "iris", FixturePath("iris_tree.pmml")}, &out), 0) << out;
  EXPECT_NE(out.find("applied iris version 3"), std::string::npos) << out;

  ASSERT_EQ(p.Cli({"model", "delete", "iris"}, &out), 0) << out;
  EXPECT_NE(out.find(p.module + ": deleted iris"), std::string::npos) << out;
  ProduceAll(p.requests, {Request("d", "iris", kSetosa), Request("e", "iris@2", kSetosa)});
  auto dlq = Consume(p.env.dlq, 2, 60000, 500);
  ASSERT_EQ(dlq.size(), 2u) << job->log();
  for (Rec& r : dlq) {
    EXPECT_EQ(r.headers["evs-error-code"], "model_not_found");
    EXPECT_EQ(r.headers["evs-error-stage"], "model");
    EXPECT_EQ(r.headers["evs-error-module"], p.module);
    EXPECT_EQ(r.value, kSetosa);
  }
  EXPECT_EQ(Consume(p.env.results, 2, 1000).size(), 1u);  // nothing more than the first
  EXPECT_EQ(job->Terminate(), 0);
}

TEST(PmmlE2E, CorruptModelsAreRejectedWithAReasonAndTheOldVersionKeepsServing) {
  PmmlEnv p("pmml-bad");
  auto job = p.StartJob();
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "iris", FixturePath("iris_tree.pmml")}, &out), 0) << out;
  const std::string good = Fixture("iris_tree.pmml");
  std::string doctype = good;
  doctype.insert(doctype.find("<PMML"), "<!DOCTYPE PMML [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n");
  std::string unknown = good;
  for (std::string tag : {"<TreeModel", "</TreeModel"})
    unknown.replace(unknown.find(tag), tag.size(), tag[1] == '/' ? "</FancyModel" : "<FancyModel");
  struct Case {
    std::string name, file, reason;
  } cases[] = {
      {"truncated", WriteFile(p.env.id + "-trunc.pmml", good.substr(0, good.size() * 2 / 3)), "PMML"},
      {"doctype", WriteFile(p.env.id + "-doctype.pmml", doctype), "DOCTYPE"},
      {"unknown", WriteFile(p.env.id + "-unknown.pmml", unknown), "PMML"},
  };
  int v = 2;
  for (const Case& c : cases) {
    EXPECT_EQ(p.Cli({"model", "update", "iris", c.file}, &out), 1) << c.name << "\n" << out;
    EXPECT_NE(out.find("rejected iris version " + std::to_string(v)), std::string::npos) << out;
    EXPECT_NE(out.find(c.reason), std::string::npos) << c.name << "\n" << out;
    EXPECT_NE(out.find("version 1 keeps serving"), std::string::npos) << out;
    std::cout << c.name << ": " << out.substr(out.find("rejected")) ;
    ++v;
  }
  // Wrong sha256: a record written by hand whose digest does not match.
  models::ModelRecord bad;
  bad.name = "iris";
  bad.version = 9;
  bad.artifact = good;
  bad.sha256 = models::Sha256Hex("not the artifact");
  ProduceAll(p.models, {{"iris", models::EncodeRecord(bad)}});
  ASSERT_TRUE(WaitFor([&] {
    for (const Rec& r : Consume(p.env.status, 1000, 1500))
      if (r.value.find("\"outcome\":\"rejected\",\"version\":9,\"reason\":\"sha256 mismatch") != std::string::npos)
        return true;
    return false;
  }, 20000)) << job->log();
  ProduceAll(p.requests, {Request("x", "iris", kVirginica)});
  auto res = Consume(p.env.results, 1, 60000);
  ASSERT_EQ(res.size(), 1u) << job->log();
  EXPECT_EQ(res[0].headers["evs-model-version"], "1");
  EXPECT_NE(res[0].value.find("virginica"), std::string::npos);
  EXPECT_EQ(job->Terminate(), 0);
}

// Artifacts by URL: the CLI fetches the document once for its digest, the
// job fetches it when it loads the version; a URL that does not answer is a
// rejection with the HTTP status, and the served version stays.
TEST(PmmlE2E, ModelsPublishedByUrlAreFetchedByTheJob) {
  httplib::Server server;
  const std::string tree = Fixture("iris_tree.pmml"), forest = Fixture("iris_forest.pmml");
  std::atomic<int> tree_gets{0};
  server.Get("/m/tree.pmml", [&](const httplib::Request&, httplib::Response& res) {
    ++tree_gets;
    res.set_content(tree, "application/xml");
  });
  server.Get("/m/forest.pmml", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(forest, "application/xml");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  ASSERT_TRUE(WaitFor([&] { return server.is_running(); }, 5000));
  const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/m/";

  PmmlEnv p("pmml-url");
  auto job = p.StartJob();
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "iris", base + "tree.pmml", "--by-path"}, &out), 0) << out << job->log();
  EXPECT_NE(out.find(p.module + ": applied iris version 1"), std::string::npos) << out;
  EXPECT_GE(tree_gets.load(), 2);  // the command and the job
  // Without --by-path the fetched document is published inline.
  ASSERT_EQ(p.Cli({"model", "update", "iris", base + "forest.pmml"}, &out), 0) << out << job->log();
  bool inline_forest = false;
  for (const Rec& r : Consume(p.models, 2, 20000))
    if (r.value.find("\"version\":2") != std::string::npos)
      inline_forest = r.value.find("\"artifact\":") != std::string::npos;
  EXPECT_TRUE(inline_forest);

  // A record whose URL answers 404.
  models::ModelRecord gone;
  gone.name = "iris";
  gone.version = 3;
  gone.path = base + "gone.pmml";
  gone.sha256 = models::Sha256Hex(tree);
  ProduceAll(p.models, {{"iris", models::EncodeRecord(gone)}});
  ASSERT_TRUE(WaitFor([&] {
    for (const Rec& r : Consume(p.env.status, 1000, 1500))
      if (r.value.find("\"outcome\":\"rejected\",\"version\":3") != std::string::npos &&
          r.value.find("HTTP 404") != std::string::npos)
        return true;
    return false;
  }, 20000)) << job->log();
  ProduceAll(p.requests, {Request("v", "iris", kVirginica), Request("t", "iris@1", kSetosa)});
  auto got = ByKey(Consume(p.env.results, 2, 60000, 500));
  ASSERT_EQ(got.size(), 2u) << job->log();
  EXPECT_EQ(got["v"].headers["evs-model-version"], "2");
  EXPECT_EQ(got["v"].headers["evs-model-digest"], models::Sha256Hex(forest));
  EXPECT_NE(got["v"].value.find(R"("species":"virginica")"), std::string::npos);
  EXPECT_EQ(got["t"].headers["evs-model-version"], "1");
  EXPECT_EQ(got["t"].headers["evs-model-digest"], models::Sha256Hex(tree));
  EXPECT_EQ(job->Terminate(), 0);
  server.stop();
  serving.join();
}

TEST(PmmlE2E, RestartRecoversTheSameVersions) {
  PmmlEnv p("pmml-restart");
  const int port = FreePort();
  auto job = p.StartJob("job1", "", port);
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "tree", FixturePath("iris_tree.pmml")}, &out), 0) << out;
  ASSERT_EQ(p.Cli({"model", "update", "tree", FixturePath("iris_forest.pmml")}, &out), 0) << out;
  ASSERT_EQ(p.Cli({"model", "add", "forest", FixturePath("iris_forest.pmml"), "--by-path"}, &out), 0) << out;
  ASSERT_EQ(p.Cli({"model", "rollback", "tree", "--to", "1"}, &out), 0) << out;
  EXPECT_EQ(job->Terminate(), 0);

  auto job2 = p.StartJob("job2", "", port);
  std::string status = HttpGet(port, "/status");
  EXPECT_NE(status.find("\"registry_caught_up\":true"), std::string::npos) << status;
  ProduceAll(p.requests, {Request("a", "tree", kSetosa), Request("b", "tree@2", kSetosa),
                          Request("c", "forest", kSetosa)});
  auto got = ByKey(Consume(p.env.results, 3, 60000, 500));
  ASSERT_EQ(got.size(), 3u) << job2->log();
  EXPECT_EQ(got["a"].headers["evs-model-version"], "1");
  EXPECT_EQ(got["a"].headers["evs-model-digest"], models::Sha256Hex(Fixture("iris_tree.pmml")));
  EXPECT_EQ(got["b"].headers["evs-model-version"], "2");
  EXPECT_EQ(got["c"].headers["evs-model-version"], "1");
  EXPECT_NE(job2->log().find("recovered"), std::string::npos);
  EXPECT_EQ(job2->Terminate(), 0);
}

// HTTP status code of a GET on the admin port ("000" when nothing answers).
std::string HttpCode(int port, const std::string& path) {
  std::string cmd = "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(port) + path;
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[64];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

TEST(PmmlE2E, ReadyzSaysNotReadyWhileARestartedJobLoadsItsModels) {
  PmmlEnv p("pmml-readyz");
  const int port = FreePort();
  auto job = p.StartJob("job1", "", port);
  // A model given by path: on restart the job reads that path while it
  // rebuilds its models. The test then swaps the file for a FIFO, so the
  // load blocks, deterministically, until the test writes the bytes.
  const std::string model_path = WriteFile(p.env.id + "-slow.pmml", Fixture("iris_tree.pmml"));
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "slow", model_path, "--by-path"}, &out), 0) << out;
  EXPECT_EQ(job->Terminate(), 0);
  ASSERT_EQ(unlink(model_path.c_str()), 0);
  ASSERT_EQ(mkfifo(model_path.c_str(), 0600), 0);

  std::vector<std::string> args = {"pmml-job", "-c", p.path, "--job", "p", "--metrics-listen",
                                   "127.0.0.1:" + std::to_string(port)};
  Proc job2(args, p.env.id + "-job2");
  ASSERT_TRUE(WaitFor([&] { return HttpCode(port, "/healthz") == "200"; }, 30000)) << job2.log();
  // Loading: alive, not ready, and /status says so.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(HttpCode(port, "/readyz"), "503");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(HttpGet(port, "/status").find("\"state\":\"loading\""), std::string::npos);
  {
    std::ofstream fifo(model_path, std::ios::binary);  // opens once the job reads
    fifo << Fixture("iris_tree.pmml");
  }
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz") == "ready"; }, 30000)) << job2.log();
  ProduceAll(p.requests, {Request("a", "slow", kSetosa)});
  auto got = ByKey(Consume(p.env.results, 1, 60000, 500));
  ASSERT_EQ(got.size(), 1u) << job2.log();
  EXPECT_EQ(got["a"].headers["evs-model-version"], "1");
  EXPECT_EQ(job2.Terminate(), 0);
  unlink(model_path.c_str());
}

TEST(PmmlE2E, TwoInstancesInOneGroupBothServeAndStoppingOneLosesNothing) {
  PmmlEnv p("pmml-two");
  const int port_a = FreePort(), port_b = FreePort();
  auto a = p.StartJob("a", "a", port_a);
  auto b = p.StartJob("b", "b", port_b);
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "iris", FixturePath("iris_forest.pmml")}, &out), 0) << out;
  // Both instances report (one module name, two reports).
  size_t reports = 0;
  for (size_t pos = 0; (pos = out.find(p.module + ": applied", pos)) != std::string::npos; ++pos) ++reports;
  // Both members hold partitions (the group rebalances when b joins).
  auto assigned = [](int port) { return HttpGet(port, "/status").find("\"assigned\":true") != std::string::npos; };
  ASSERT_TRUE(WaitFor([&] { return assigned(port_a) && assigned(port_b); }, 60000)) << a->log() << b->log();
  const int kEvents = 3000;
  std::vector<Rec> first, second;
  for (int k = 0; k < kEvents; ++k)
    (k < kEvents / 2 ? first : second).push_back(Request("k" + std::to_string(k), "iris", kSetosa));
  ProduceAll(p.requests, first);
  ASSERT_EQ(Consume(p.env.results, kEvents / 2, 60000).size(), size_t(kEvents / 2));
  auto consumed = [](int port) {
    std::string m = HttpGet(port, "/metrics");
    auto pos = m.find("evs_consumed_records{");
    if (pos == std::string::npos) return -1.0;
    return std::stod(m.substr(m.find('}', pos) + 1));
  };
  double ca = consumed(port_a), cb = consumed(port_b);
  std::cout << "instance a consumed " << ca << ", b consumed " << cb << " (" << reports << " applied reports)\n";
  EXPECT_GT(ca, 0);
  EXPECT_GT(cb, 0);
  std::thread producer([&] {
    for (size_t i = 0; i < second.size(); i += 100) {
      ProduceAll(p.requests, std::vector<Rec>(second.begin() + i, second.begin() + std::min(second.size(), i + 100)));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(b->Terminate(), 0);
  producer.join();
  std::vector<Rec> got = Consume(p.env.results, kEvents, 120000, 2000);
  std::set<std::string> keys;
  for (const Rec& r : got) keys.insert(r.key);
  EXPECT_EQ(keys.size(), size_t(kEvents)) << a->log();
  std::cout << "results: " << got.size() << " for " << keys.size() << " distinct events\n";
  EXPECT_EQ(a->Terminate(), 0);
}

}  // namespace
}  // namespace evs::e2e
