// The Spark job on the real broker: the tweets_sentiment pipeline
// (tests/fixtures/spark, Tokenizer -> HashingTF -> StringIndexer ->
// VectorIndexer -> RandomForestClassifier -> IndexToString) added to the
// registry, events scored, bad rows dead-lettered with a code, the pipeline
// replaced online (a new version, then a rollback), and a restarted job that
// serves the same version. Requests are written straight to the job's request
// topic with the evs-model header the input adapter sets.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "e2e/harness.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "nlohmann/json.hpp"

namespace evs::e2e {
namespace {

namespace fs = std::filesystem;

// tests/fixtures/spark, or $EVS_SPARK_FIXTURES.
std::string FixturePath(const std::string& name) {
  const char* dir = std::getenv("EVS_SPARK_FIXTURES");
  return (dir && *dir ? std::string(dir) : std::string(EVS_SPARK_FIXTURES_DIR)) + "/" + name;
}
std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One spark job `s` (module name spark-<id>) serving model `tweets` on the
// env's unique topics.
struct SparkEnv {
  TestEnv env;
  std::string module, requests, models, path;
  explicit SparkEnv(const std::string& name) : env(MakeEnv(name)) {
    module = "spark-" + env.id;
    requests = env.requests_prefix + "s";
    models = "t.models." + env.id;
    path = WriteFile(env.id + ".yaml", env.Header() + "jobs:\n  s: {type: spark, name: \"" + module +
                                           "\", model: tweets}\n");
  }
  // `loaded`: the registry already holds the model, so the job becomes
  // ready; else it stays up but not ready (503) until a version arrives.
  std::unique_ptr<Proc> StartJob(const std::string& tag, int port, bool loaded) {
    std::vector<std::string> args = {"spark-job", "-c", path, "--job", "s", "--metrics-listen",
                                     "127.0.0.1:" + std::to_string(port)};
    auto proc = std::make_unique<Proc>(args, env.id + "-" + tag);
    if (loaded) {
      EXPECT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz") == "ready"; }, 30000)) << proc->log();
    } else {
      // Up = the registry was read to its end and the runner started.
      EXPECT_TRUE(WaitFor([&] { return HttpGet(port, "/status").find("\"serving\":false") != std::string::npos; },
                          30000)) << proc->log();
      EXPECT_EQ(HttpGet(port, "/readyz"), "");  // 503: curl -f prints nothing
    }
    return proc;
  }
  int Cli(const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"-c", path});
    if (args[1] != "list") a.insert(a.end(), {"--timeout", "60"});
    return RunCli(a, out, 90000);
  }
};

Rec Request(const std::string& key, const std::string& value) {
  Rec r{key, value};
  r.headers = {{"evs-id", key}, {"evs-model", "tweets"}};
  return r;
}

std::map<std::string, Rec> ByKey(const std::vector<Rec>& recs) {
  std::map<std::string, Rec> m;
  for (const Rec& r : recs) m[r.key] = r;
  return m;
}

TEST(SparkE2E, AddScoreDeadLetterUpdateRollbackRestart) {
  const std::string zip = FixturePath("tweets_sentiment.zip");
  if (!fs::exists(zip)) GTEST_SKIP() << "no " << zip << " (tools/spark_fixtures makes it)";
  SparkEnv p("spark");
  const int port = FreePort();
  auto job = p.StartJob("job1", port, /*loaded=*/false);
  // No pipeline yet: the job waits (not subscribed) instead of dead-lettering.
  EXPECT_NE(HttpGet(port, "/status").find("\"serving\":false"), std::string::npos) << HttpGet(port, "/status");
  ProduceAll(p.requests, {Request("early", R"({"text":"sent before the model existed, what a great day"})")});

  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "tweets", "--format", "spark", "--file", zip}, &out), 0) << out << job->log();
  EXPECT_NE(out.find(p.module + ": applied tweets version 1"), std::string::npos) << out;
  std::cout << out;
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/status").find("\"serving\":true") != std::string::npos; }, 10000));
  ASSERT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz") == "ready"; }, 10000));

  const std::map<std::string, std::string> good = {
      {"g1", R"({"text":"I love this phone, it is wonderful and great","id":"g1"})"},
      {"g2", R"({"text":"This is terrible, I hate it, the worst ever","id":"g2"})"},
      {"g3", R"({"text":"","id":"g3"})"}};
  std::vector<Rec> reqs;
  for (const auto& [k, v] : good) reqs.push_back(Request(k, v));
  // Bad rows: a wrong type, a missing column the pipeline needs, bad JSON.
  reqs.push_back(Request("bad-type", R"({"text":42})"));
  reqs.push_back(Request("bad-missing", R"({"tweet":"the pipeline reads text"})"));
  reqs.push_back(Request("bad-json", R"({"text":"unterminated)"));
  ProduceAll(p.requests, reqs);

  auto got = ByKey(Consume(p.env.results, good.size() + 1, 60000, 500));
  ASSERT_EQ(got.size(), good.size() + 1) << job->log();
  const std::string digest1 = models::Sha256Hex(ReadAll(zip));
  std::set<std::string> labels;
  for (auto& [k, r] : got) {
    EXPECT_EQ(r.headers["evs-model-version"], "1") << k;
    EXPECT_EQ(r.headers["evs-model-digest"], digest1) << k;
    EXPECT_EQ(r.headers["evs-id"], k);
    auto j = nlohmann::json::parse(r.value);
    ASSERT_TRUE(j["outputs"].is_object()) << r.value;
    // The conventions' label (a string), one probability per label, and the prediction.
    std::string label_key;
    for (auto& [key, v] : j["outputs"].items())
      if (v.is_string()) label_key = key;
    ASSERT_FALSE(label_key.empty()) << r.value;
    labels.insert(j["outputs"][label_key].get<std::string>());
    const std::string prob = "probability(" + j["outputs"][label_key].get<std::string>() + ")";
    ASSERT_TRUE(j["outputs"].contains(prob)) << r.value;
    EXPECT_GE(j["outputs"][prob].get<double>(), 0.5) << r.value;  // two classes: the winner
    EXPECT_TRUE(j["outputs"]["prediction"].is_number()) << r.value;
    if (k != "early") EXPECT_EQ(j["input"], nlohmann::json::parse(good.at(k))) << r.value;
    std::cout << k << ": " << j["outputs"].dump() << "\n";
  }
  for (const std::string& l : labels) EXPECT_TRUE(l == "positive" || l == "negative") << l;

  auto dlq = ByKey(Consume(p.env.dlq, 3, 60000, 500));
  ASSERT_EQ(dlq.size(), 3u) << job->log();
  EXPECT_EQ(dlq["bad-type"].headers["evs-error-code"], "invalid_input");
  EXPECT_EQ(dlq["bad-type"].headers["evs-error-stage"], "input");
  EXPECT_EQ(dlq["bad-missing"].headers["evs-error-code"], "invalid_input");
  EXPECT_NE(dlq["bad-missing"].headers["evs-error-message"].find("'text' is missing"), std::string::npos)
      << dlq["bad-missing"].headers["evs-error-message"];
  EXPECT_EQ(dlq["bad-json"].headers["evs-error-code"], "invalid_json");
  for (auto& [k, r] : dlq) {
    EXPECT_EQ(r.headers["evs-error-module"], p.module);
    std::cout << k << " -> " << r.headers["evs-error-stage"] << "/" << r.headers["evs-error-code"] << ": "
              << r.headers["evs-error-message"] << "\n";
  }

  // Online update: the same pipeline as a directory, published by path (its
  // digest is the directory tree's), becomes version 2.
  const std::string dir = ::testing::TempDir() + "/" + p.env.id + "-tweets";
  fs::create_directories(dir);
  ASSERT_EQ(std::system(("unzip -q -o '" + zip + "' -d '" + dir + "'").c_str()), 0);
  std::string root = dir;
  if (!fs::exists(root + "/metadata"))  // a zip of the directory rather than of its contents
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && fs::exists(e.path() / "metadata")) root = e.path().string();
  ASSERT_EQ(p.Cli({"model", "update", "tweets", root, "--format", "spark", "--by-path"}, &out), 0) << out;
  EXPECT_NE(out.find(p.module + ": applied tweets version 2"), std::string::npos) << out;
  auto digest2 = models::DirectoryDigest(root);
  ASSERT_TRUE(digest2.ok());
  ProduceAll(p.requests, {Request("v2", good.begin()->second)});
  Rec pin = Request("pin1b", good.begin()->second);
  pin.headers["evs-model"] = "tweets@1";
  ProduceAll(p.requests, {pin});
  auto after = ByKey(Consume(p.env.results, good.size() + 3, 60000, 500));
  ASSERT_TRUE(after.count("v2") && after.count("pin1b")) << job->log();
  EXPECT_EQ(after["v2"].headers["evs-model-version"], "2");
  EXPECT_EQ(after["v2"].headers["evs-model-digest"], *digest2);
  EXPECT_EQ(after["pin1b"].headers["evs-model-version"], "1");
  EXPECT_EQ(after["pin1b"].headers["evs-model-digest"], digest1);
  // Same pipeline, same numbers.
  EXPECT_EQ(nlohmann::json::parse(after["v2"].value)["outputs"],
            nlohmann::json::parse(got[good.begin()->first].value)["outputs"]);

  // Rollback: instant, the job still holds version 1.
  ASSERT_EQ(p.Cli({"model", "rollback", "tweets"}, &out), 0) << out;
  EXPECT_NE(out.find("applied tweets version 1 (load 0 ms): rolled back to a loaded version"), std::string::npos)
      << out;
  EXPECT_EQ(job->Terminate(), 0);

  // A restarted job serves the rolled-back version before it consumes.
  auto job2 = p.StartJob("job2", port, /*loaded=*/true);
  std::string status = HttpGet(port, "/status");
  EXPECT_NE(status.find("\"serving\":true"), std::string::npos) << status;
  ProduceAll(p.requests, {Request("r", good.begin()->second)});
  auto last = ByKey(Consume(p.env.results, good.size() + 4, 60000, 500));
  ASSERT_TRUE(last.count("r")) << job2->log();
  EXPECT_EQ(last["r"].headers["evs-model-version"], "1");
  std::error_code ec;
  fs::remove_all(dir, ec);
  EXPECT_EQ(job2->Terminate(), 0);
}

TEST(SparkE2E, ABrokenPipelineIsRejectedAndTheOldVersionKeepsServing) {
  const std::string zip = FixturePath("tweets_sentiment.zip");
  if (!fs::exists(zip)) GTEST_SKIP() << "no " << zip;
  SparkEnv p("spark-bad");
  const int port = FreePort();
  auto job = p.StartJob("job", port, /*loaded=*/false);
  std::string out;
  ASSERT_EQ(p.Cli({"model", "add", "tweets", zip}, &out), 0) << out;  // format detected from the zip
  const std::string bytes = ReadAll(zip);
  const std::string truncated = WriteFile(p.env.id + "-trunc.zip", bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(p.Cli({"model", "update", "tweets", truncated, "--format", "spark"}, &out), 1) << out;
  EXPECT_NE(out.find("rejected tweets version 2"), std::string::npos) << out;
  EXPECT_NE(out.find("version 1 keeps serving"), std::string::npos) << out;
  std::cout << out.substr(out.find("rejected"));
  // A PMML document under the spark job's model name is refused by format.
  const std::string pmml = WriteFile(p.env.id + ".pmml", "<PMML version=\"4.4\"/>");
  EXPECT_EQ(p.Cli({"model", "update", "tweets", pmml}, &out), 1) << out;
  EXPECT_NE(out.find("format pmml: this job serves spark models"), std::string::npos) << out;
  ProduceAll(p.requests, {Request("x", R"({"text":"still served by version one"})")});
  auto res = Consume(p.env.results, 1, 60000);
  ASSERT_EQ(res.size(), 1u) << job->log();
  EXPECT_EQ(res[0].headers["evs-model-version"], "1");
  EXPECT_EQ(job->Terminate(), 0);
}

}  // namespace
}  // namespace evs::e2e
