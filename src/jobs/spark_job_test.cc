// The Spark job on fake records: a pipeline read from the corpus
// (../shared/corpus, found at run time; the tests skip without it) and the
// tweets_sentiment fixture (tests/fixtures/spark; skipped until it exists).
#include "jobs/spark_job.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace evs::jobs {
namespace {

namespace fs = std::filesystem;

// ../shared/corpus: $EVS_CORPUS, else walking up from the source tree and the cwd.
std::string CorpusDir() {
  if (const char* e = std::getenv("EVS_CORPUS"); e && *e) return e;
  for (fs::path start : {fs::path(EVS_SOURCE_DIR), fs::current_path()})
    for (fs::path p = start; !p.empty(); p = p.parent_path()) {
      if (fs::is_directory(p / "shared" / "corpus")) return (p / "shared" / "corpus").string();
      if (fs::is_directory(p / ".." / "shared" / "corpus")) return (p / ".." / "shared" / "corpus").string();
      if (p == p.parent_path()) break;
    }
  return "";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HeaderOf(const kafka::OutRecord& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "(none)";
}

std::string Code(const kafka::OutBatch& out) {
  return out.size() == 1 && out[0].topic == "evs.dlq" ? HeaderOf(out[0], "evs-error-code") : "(not a dead letter)";
}

class SparkJobTest : public ::testing::Test {
 protected:
  void Start(const std::string& job_yaml) {
    auto cfg = config::ParseConfig("jobs:\n  s: " + job_yaml + "\n");
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    cfg_ = *cfg;
    settings_.only_format = "spark";
    settings_.only_name = cfg_->FindJob("s")->spark.model;
    settings_.spark = cfg_->FindJob("s")->spark;
    store_ = std::make_shared<models::ModelStore>(3);
    job_ = std::make_unique<SparkJob>("s", "s", cfg_, nullptr, nullptr, &registry_, store_, nullptr);
  }
  // A version from a zip file, inline (as `model add` publishes it).
  std::shared_ptr<const models::LoadedModel> Load(const std::string& name, int64_t version,
                                                  const std::string& zip) {
    models::ModelRecord r;
    r.name = name;
    r.version = version;
    r.format = "spark";
    r.artifact = ReadAll(zip);
    r.sha256 = models::Sha256Hex(r.artifact);
    auto m = models::LoadModel(r, settings_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : nullptr;
  }
  kafka::OutBatch Run(const std::string& value, const std::string& model = "") {
    std::vector<kafka::Header> hs = {{"evs-id", "e1"}};
    if (!model.empty()) hs.emplace_back("evs-model", model);
    std::string key = "k";
    kafka::OutBatch out;
    job_->BetweenRecords();
    job_->Process(kafka::InRecord("evs.requests.s", 0, offset_++, &key, &value, &hs), &out);
    return out;
  }
  metrics::Registry registry_;
  std::shared_ptr<const config::Config> cfg_;
  models::LoadSettings settings_;
  std::shared_ptr<models::ModelStore> store_;
  std::unique_ptr<SparkJob> job_;
  int64_t offset_ = 0;
};

constexpr char kSetosa[] = R"({"Sepal_Length":5.1,"Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})";

TEST_F(SparkJobTest, ScoresIrisWithTheConventionsOutputsAndSubscribesOnlyWhenLoaded) {
  const std::string corpus = CorpusDir();
  if (corpus.empty()) GTEST_SKIP() << "no ../shared/corpus";
  const std::string zip = corpus + "/sparkml/jpmml-sparkml/spark-3.5/pipeline/LogisticRegressionIris.zip";
  Start("{type: spark, model: iris}");
  EXPECT_TRUE(job_->Topics().empty());  // nothing to serve yet: requests wait in Kafka
  EXPECT_EQ(Code(Run(kSetosa)), "model_not_found");
  auto m = Load("iris", 1, zip);
  ASSERT_NE(m, nullptr);
  store_->Install(m);
  const uint64_t epoch = job_->TopicsEpoch();
  kafka::OutBatch out = Run(kSetosa);
  EXPECT_NE(job_->TopicsEpoch(), epoch);
  EXPECT_EQ(job_->Topics(), std::vector<std::string>{"evs.requests.s"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "evs.results");
  auto j = nlohmann::json::parse(out[0].value);
  // The corpus' first Iris row: setosa, probabilities as Spark computed them.
  EXPECT_EQ(j["outputs"]["Species"], "setosa") << out[0].value;
  EXPECT_NEAR(j["outputs"]["probability(setosa)"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(j["outputs"]["probability(versicolor)"].get<double>(), 1.3143595317222384e-43, 1e-50);
  EXPECT_EQ(j["outputs"]["prediction"].get<double>(), 0.0);
  EXPECT_EQ(j["input"], nlohmann::json::parse(kSetosa));
  EXPECT_EQ(HeaderOf(out[0], "evs-model-version"), "1");
  EXPECT_EQ(HeaderOf(out[0], "evs-model-digest"), models::Sha256Hex(ReadAll(zip)));
  EXPECT_EQ(HeaderOf(out[0], "evs-id"), "e1");
  // The label column the training pipeline indexed is not needed to serve.
  EXPECT_EQ(m->spark->input_fields.size(), 4u);

  // Pinned versions, hot swap, and another model's name.
  store_->Install(Load("iris", 2, zip));
  EXPECT_EQ(HeaderOf(Run(kSetosa)[0], "evs-model-version"), "2");
  EXPECT_EQ(HeaderOf(Run(kSetosa, "iris@1")[0], "evs-model-version"), "1");
  EXPECT_EQ(Code(Run(kSetosa, "iris@5")), "model_not_found");
  EXPECT_EQ(Code(Run(kSetosa, "other")), "model_not_found");
}

TEST_F(SparkJobTest, BadRowsAreDeadLettersWithACode) {
  const std::string corpus = CorpusDir();
  if (corpus.empty()) GTEST_SKIP() << "no ../shared/corpus";
  Start("{type: spark, model: iris}");
  store_->Install(Load("iris", 1, corpus + "/sparkml/jpmml-sparkml/spark-3.5/pipeline/LogisticRegressionIris.zip"));
  EXPECT_EQ(Code(Run("{\"Sepal_Length\":")), "invalid_json");
  EXPECT_EQ(Code(Run("[1]")), "not_an_object");
  // Wrong types: an array, an object, text that is not a number.
  EXPECT_EQ(Code(Run(R"({"Sepal_Length":[1],"Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})")), "invalid_input");
  EXPECT_EQ(Code(Run(R"({"Sepal_Length":{},"Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})")), "invalid_input");
  kafka::OutBatch out = Run(R"({"Sepal_Length":"long","Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})");
  EXPECT_EQ(Code(out), "invalid_input");
  EXPECT_NE(HeaderOf(out[0], "evs-error-message").find("Sepal_Length"), std::string::npos)
      << HeaderOf(out[0], "evs-error-message");
  // A column the pipeline reads is missing.
  out = Run(R"({"Sepal_Length":5.1,"Sepal_Width":3.5,"Petal_Length":1.4})");
  EXPECT_EQ(Code(out), "invalid_input");
  EXPECT_NE(HeaderOf(out[0], "evs-error-message").find("'Petal_Width' is missing"), std::string::npos)
      << HeaderOf(out[0], "evs-error-message");
  // Numbers as text are parsed as the column's type.
  out = Run(R"({"Sepal_Length":"5.1","Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  // A null the VectorAssembler (handleInvalid=error) refuses: an evaluation error naming the stage.
  out = Run(R"({"Sepal_Length":null,"Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})");
  EXPECT_EQ(Code(out), "evaluation_error");
  EXPECT_EQ(HeaderOf(out[0], "evs-error-stage"), "evaluate");
  std::cout << "null input: " << HeaderOf(out[0], "evs-error-message") << "\n";
}

TEST_F(SparkJobTest, InputMappingOutputsAndNames) {
  const std::string corpus = CorpusDir();
  if (corpus.empty()) GTEST_SKIP() << "no ../shared/corpus";
  Start("{type: spark, model: iris, inputs: {Sepal_Length: sl}, outputs: [Species, probability, features],"
        " output_names: {Species: species}}");
  auto m = Load("iris", 1, corpus + "/sparkml/jpmml-sparkml/spark-3.5/pipeline/LogisticRegressionIris.zip");
  ASSERT_NE(m, nullptr);
  store_->Install(m);
  kafka::OutBatch out = Run(R"({"sl":5.1,"Sepal_Width":3.5,"Petal_Length":1.4,"Petal_Width":0.2})");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  auto j = nlohmann::json::parse(out[0].value)["outputs"];
  EXPECT_EQ(j["species"], "setosa") << out[0].value;
  ASSERT_TRUE(j["probability"].is_array()) << out[0].value;
  EXPECT_EQ(j["probability"].size(), 3u);
  EXPECT_EQ(j["features"], nlohmann::json::parse("[5.1,3.5,1.4,0.2]"));
  EXPECT_EQ(j.size(), 3u);
  // The unmapped name is not read any more.
  EXPECT_EQ(Code(Run(kSetosa)), "invalid_input");
}

TEST_F(SparkJobTest, TweetsSentimentFixture) {
  const char* dir = std::getenv("EVS_SPARK_FIXTURES");
  const std::string zip = (dir && *dir ? std::string(dir) : std::string(EVS_SOURCE_DIR) + "/tests/fixtures/spark") +
                          "/tweets_sentiment.zip";
  if (!fs::exists(zip)) GTEST_SKIP() << "no " << zip;
  Start("{type: spark, model: tweets}");
  auto m = Load("tweets", 1, zip);
  ASSERT_NE(m, nullptr);
  store_->Install(m);
  ASSERT_EQ(m->spark->input_fields, std::vector<std::string>{"text"});
  kafka::OutBatch out = Run(R"({"text":"I love this, what a great day"})");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  std::cout << out[0].value << "\n";
  auto j = nlohmann::json::parse(out[0].value)["outputs"];
  EXPECT_TRUE(j["sentiment"] == "positive" || j["sentiment"] == "negative") << out[0].value;
  // The fixture's first expected row (Spark's own transform).
  out = Run(R"({"text":"what a excellent screen"})");
  ASSERT_EQ(out.size(), 1u);
  j = nlohmann::json::parse(out[0].value)["outputs"];
  EXPECT_EQ(j["sentiment"], "positive") << out[0].value;
  EXPECT_NEAR(j["probability(positive)"].get<double>(), 0.5778460640700571, 1e-14);
  EXPECT_NEAR(j["probability(negative)"].get<double>(), 0.42215393592994294, 1e-14);
  EXPECT_EQ(j["prediction"].get<double>(), 0.0);
  EXPECT_EQ(Code(Run(R"({"text":42})")), "invalid_input");
  EXPECT_EQ(Code(Run(R"({"tweet":"hi"})")), "invalid_input");
}

}  // namespace
}  // namespace evs::jobs
