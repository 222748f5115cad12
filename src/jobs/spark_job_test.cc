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

// GLMSentiment (Spark 3.5): RegexTokenizer -> StopWordsRemover -> NGram ->
// CountVectorizer x2 -> VectorAssembler -> IDF -> GLM (binomial: its
// prediction is the mean, P(Score=1), which the conventions read as a
// classifier), label indexer on Score. The first row of the corpus'
// Sentiment.csv and what Spark's transform gave for it.
constexpr char kSentence[] =
    R"({"Sentence":"So there is no way for me to plug it in here in the US unless I go by a converter."})";

std::string Pipeline(const std::string& name) {
  return CorpusDir() + "/sparkml/jpmml-sparkml/spark-3.5/pipeline/" + name + ".zip";
}

TEST_F(SparkJobTest, ScoresWithTheConventionsOutputsAndSubscribesOnlyWhenLoaded) {
  if (CorpusDir().empty()) GTEST_SKIP() << "no ../shared/corpus";
  const std::string zip = Pipeline("GLMSentiment");
  Start("{type: spark, model: sentiment}");
  EXPECT_TRUE(job_->Topics().empty());  // nothing to serve yet: requests wait in Kafka
  EXPECT_EQ(Code(Run(kSentence)), "model_not_found");
  auto m = Load("sentiment", 1, zip);
  ASSERT_NE(m, nullptr);
  store_->Install(m);
  const uint64_t epoch = job_->TopicsEpoch();
  kafka::OutBatch out = Run(kSentence);
  EXPECT_NE(job_->TopicsEpoch(), epoch);
  EXPECT_EQ(job_->Topics(), std::vector<std::string>{"evs.requests.s"});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  auto j = nlohmann::json::parse(out[0].value);
  // A binomial GLM under the conventions: label, probability(<label>), plus Spark's prediction (the mean).
  EXPECT_EQ(j["outputs"]["Score"], "0") << out[0].value;
  EXPECT_NEAR(j["outputs"]["probability(0)"].get<double>(), 0.6813800801697781, 1e-14);
  EXPECT_NEAR(j["outputs"]["probability(1)"].get<double>(), 0.31861991983022186, 1e-14);
  EXPECT_NEAR(j["outputs"]["prediction"].get<double>(), 0.31861991983022186, 1e-14);
  EXPECT_EQ(j["outputs"].size(), 4u) << out[0].value;
  EXPECT_EQ(j["input"], nlohmann::json::parse(kSentence));
  EXPECT_EQ(HeaderOf(out[0], "evs-model-version"), "1");
  EXPECT_EQ(HeaderOf(out[0], "evs-model-digest"), models::Sha256Hex(ReadAll(zip)));
  EXPECT_EQ(HeaderOf(out[0], "evs-id"), "e1");
  // The label column the training pipeline indexed is not needed to serve.
  EXPECT_EQ(m->spark->input_fields, std::vector<std::string>{"Sentence"});

  // Pinned versions, hot swap, and another model's name.
  store_->Install(Load("sentiment", 2, zip));
  EXPECT_EQ(HeaderOf(Run(kSentence)[0], "evs-model-version"), "2");
  EXPECT_EQ(HeaderOf(Run(kSentence, "sentiment@1")[0], "evs-model-version"), "1");
  EXPECT_EQ(HeaderOf(Run(kSentence, "sentiment")[0], "evs-model-version"), "2");
  EXPECT_EQ(Code(Run(kSentence, "sentiment@5")), "model_not_found");
  EXPECT_EQ(Code(Run(kSentence, "other")), "model_not_found");
  // Deleted: the job stops consuming.
  store_->Remove("sentiment");
  EXPECT_EQ(Code(Run(kSentence)), "model_not_found");
  EXPECT_TRUE(job_->Topics().empty());
}

TEST_F(SparkJobTest, BadRowsAreDeadLettersWithACode) {
  if (CorpusDir().empty()) GTEST_SKIP() << "no ../shared/corpus";
  Start("{type: spark, model: sentiment}");
  store_->Install(Load("sentiment", 1, Pipeline("GLMSentiment")));
  EXPECT_EQ(Code(Run("{\"Sentence\":")), "invalid_json");
  EXPECT_EQ(Code(Run("[1]")), "not_an_object");
  // Wrong types: a number, an array, an object for a string column.
  for (const char* v : {R"({"Sentence":42})", R"({"Sentence":["a"]})", R"({"Sentence":{}})", R"({"Sentence":true})"}) {
    kafka::OutBatch out = Run(v);
    EXPECT_EQ(Code(out), "invalid_input") << v;
    EXPECT_EQ(HeaderOf(out[0], "evs-error-stage"), "input");
    EXPECT_NE(HeaderOf(out[0], "evs-error-message").find("input column 'Sentence' takes a string"), std::string::npos)
        << HeaderOf(out[0], "evs-error-message");
  }
  // A column the pipeline reads is missing.
  kafka::OutBatch out = Run(R"({"sentence":"lower case is another field"})");
  EXPECT_EQ(Code(out), "invalid_input");
  EXPECT_NE(HeaderOf(out[0], "evs-error-message").find("'Sentence' is missing"), std::string::npos)
      << HeaderOf(out[0], "evs-error-message");
  // A null the tokenizer cannot take: an evaluation error naming the stage.
  out = Run(R"({"Sentence":null})");
  EXPECT_EQ(Code(out), "evaluation_error");
  EXPECT_EQ(HeaderOf(out[0], "evs-error-stage"), "evaluate");
  EXPECT_NE(HeaderOf(out[0], "evs-error-message").find("Tokenizer"), std::string::npos)
      << HeaderOf(out[0], "evs-error-message");
  // The record after the failures is scored normally (the row is reset).
  out = Run(kSentence);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "evs.results");
}

TEST_F(SparkJobTest, InputMappingOutputsAndNames) {
  if (CorpusDir().empty()) GTEST_SKIP() << "no ../shared/corpus";
  Start("{type: spark, model: sentiment, inputs: {Sentence: text}, outputs: [prediction, filteredTokenizedSentence,"
        " countVector_1to1], output_names: {prediction: mu, filteredTokenizedSentence: words}}");
  auto m = Load("sentiment", 1, Pipeline("GLMSentiment"));
  ASSERT_NE(m, nullptr);
  store_->Install(m);
  kafka::OutBatch out =
      Run(R"({"text":"So there is no way for me to plug it in here in the US unless I go by a converter."})");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  auto j = nlohmann::json::parse(out[0].value)["outputs"];
  EXPECT_NEAR(j["mu"].get<double>(), 0.31861991983022186, 1e-14) << out[0].value;
  // Arrays of strings and (sparse) vectors come out as JSON arrays.
  ASSERT_TRUE(j["words"].is_array()) << out[0].value;
  EXPECT_EQ(j["words"][0], "way") << out[0].value;  // "so", "there", "is", "no" are stop words
  ASSERT_TRUE(j["countVector_1to1"].is_array()) << out[0].value;
  EXPECT_EQ(j["countVector_1to1"].size(), 50u) << out[0].value;  // the vocabulary's size, dense
  EXPECT_EQ(j.size(), 3u);
  // The unmapped name is not read any more.
  EXPECT_EQ(Code(Run(kSentence)), "invalid_input");
  // An output that is neither a column nor a conventions' name fails the load.
  Start("{type: spark, model: sentiment, outputs: [nope]}");
  models::ModelRecord r;
  r.name = "sentiment";
  r.version = 1;
  r.format = "spark";
  r.path = Pipeline("GLMSentiment");
  r.sha256 = models::Sha256Hex(ReadAll(r.path));
  auto bad = models::LoadModel(r, settings_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("'nope'"), std::string::npos) << bad.status();
}

TEST_F(SparkJobTest, NumericInputsTakeNumbersBooleansAndNumericText) {
  if (CorpusDir().empty()) GTEST_SKIP() << "no ../shared/corpus";
  // LinearRegressionHousing: Imputer x2 -> VectorAssembler -> VectorIndexer -> LinearRegression.
  Start("{type: spark, model: housing}");
  auto m = Load("housing", 1, Pipeline("LinearRegressionHousing"));
  ASSERT_NE(m, nullptr);
  store_->Install(m);
  // Row 1 of Housing.csv; Spark predicted MEDV 28.255488885282258.
  const std::string row =
      R"("CRIM":-1.0,"ZN":18.0,"INDUS":-1.0,"NOX":-1.0,"RM":6.575,"AGE":65.2,"DIS":4.09,"RAD":1,"TAX":296.0,"PTRATIO":15.3,"B":-1.0,"LSTAT":4.98)";
  kafka::OutBatch out = Run("{" + row + R"(,"CHAS":0})");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  auto j = nlohmann::json::parse(out[0].value)["outputs"];
  EXPECT_NEAR(j["MEDV"].get<double>(), 28.255488885282258, 1e-10) << out[0].value;
  out = Run("{" + row + R"(,"CHAS":false})");
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  EXPECT_EQ(nlohmann::json::parse(out[0].value)["outputs"]["MEDV"], j["MEDV"]);
  out = Run("{" + row + R"(,"CHAS":"0"})");
  ASSERT_EQ(out[0].topic, "evs.results") << HeaderOf(out[0], "evs-error-message");
  EXPECT_EQ(nlohmann::json::parse(out[0].value)["outputs"]["MEDV"], j["MEDV"]);
  out = Run("{" + row + R"(,"CHAS":"zero"})");
  EXPECT_EQ(Code(out), "invalid_input");
  EXPECT_NE(HeaderOf(out[0], "evs-error-message").find("CHAS"), std::string::npos) << HeaderOf(out[0], "evs-error-message");
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
