#include "jobs/pmml_job.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "jobs/model_job.h"

namespace evs::jobs {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(EVS_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<const models::LoadedModel> Load(const std::string& name, int64_t version,
                                                const std::string& file) {
  models::ModelRecord r;
  r.name = name;
  r.version = version;
  r.artifact = Fixture(file);
  r.sha256 = models::Sha256Hex(r.artifact);
  auto m = models::LoadModel(r);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

std::string HeaderOf(const kafka::OutRecord& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "(none)";
}

class PmmlJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cfg = config::ParseConfig("jobs: {j: {type: pmml}}\n");
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    store_ = std::make_shared<models::ModelStore>(3);
    job_ = std::make_unique<PmmlJob>("j", "j", *cfg, nullptr, nullptr, &registry_, store_, nullptr);
  }
  kafka::OutBatch Run(const std::string& model, const std::string& value) {
    std::vector<kafka::Header> hs = {{"evs-id", "e1"}, {"evs-model", model}};
    std::string key = "k";
    kafka::OutBatch out;
    job_->Process(kafka::InRecord("evs.requests.j", 0, offset_++, &key, &value, &hs), &out);
    return out;
  }
  metrics::Registry registry_;
  std::shared_ptr<models::ModelStore> store_;
  std::unique_ptr<PmmlJob> job_;
  int64_t offset_ = 0;
};

TEST_F(PmmlJobTest, ScoresWithTheCurrentAndAPinnedVersion) {
  store_->Install(Load("iris", 1, "iris_tree.pmml"));
  const std::string ev = R"({"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2,"id":"a"})";
  kafka::OutBatch out = Run("iris", ev);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "evs.results");
  EXPECT_EQ(out[0].value,
            R"x({"outputs":{"species":"setosa","probability(setosa)":1,"probability(versicolor)":0,"probability(virginica)":0},"input":)x" +
                ev + "}");
  EXPECT_EQ(HeaderOf(out[0], "evs-model-version"), "1");
  EXPECT_EQ(HeaderOf(out[0], "evs-model-digest"), models::Sha256Hex(Fixture("iris_tree.pmml")));
  EXPECT_EQ(HeaderOf(out[0], "evs-id"), "e1");

  store_->Install(Load("iris", 2, "iris_forest.pmml"));
  out = Run("iris", R"({"sepal_length":6.7,"sepal_width":3.0,"petal_length":5.2,"petal_width":2.3})");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(HeaderOf(out[0], "evs-model-version"), "2");
  EXPECT_NE(out[0].value.find(R"("species":"virginica")"), std::string::npos) << out[0].value;
  out = Run("iris@1", R"({"sepal_width":3.0,"petal_length":5.2,"petal_width":2.3})");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(HeaderOf(out[0], "evs-model-version"), "1");

  // The model gauges a scrape sees: current version and versions held.
  const std::string scrape = registry_.Render();
  EXPECT_NE(scrape.find(R"(evs_model_version{model="iris",module="j"} 2)"), std::string::npos) << scrape;
  EXPECT_NE(scrape.find(R"(evs_model_versions_loaded{model="iris",module="j"} 2)"), std::string::npos) << scrape;
}

// Inputs are found by key whatever the field order of each record (the job
// remembers the slot per position; a record in another order must not reuse
// it).
TEST_F(PmmlJobTest, FieldOrderMayChangeFromRecordToRecord) {
  store_->Install(Load("iris", 1, "iris_tree.pmml"));
  auto species = [&](const std::string& ev) {
    kafka::OutBatch out = Run("iris", ev);
    if (out.size() != 1 || out[0].topic != "evs.results") return std::string("(no result)");
    const size_t at = out[0].value.find(R"("species":")");
    if (at == std::string::npos) return "(no species) " + out[0].value;
    const size_t from = at + 11;
    return out[0].value.substr(from, out[0].value.find('"', from) - from);
  };
  EXPECT_EQ(species(R"({"petal_length":5.2,"petal_width":2.3})"), "virginica");
  EXPECT_EQ(species(R"({"petal_width":1.3,"petal_length":4.0})"), "versicolor");
  EXPECT_EQ(species(R"({"x":1,"petal_length":5.2,"petal_width":2.3})"), "virginica");
  EXPECT_EQ(species(R"({"petal_width":1.3,"petal_length":4.0,"x":1})"), "versicolor");
  EXPECT_EQ(species(R"({"petal_length":5.2,"petal_width":2.3})"), "virginica");
}

TEST_F(PmmlJobTest, FailuresAreDeadLetters) {
  store_->Install(Load("iris", 1, "iris_tree.pmml"));
  auto code = [](const kafka::OutBatch& out) {
    return out.size() == 1 && out[0].topic == "evs.dlq" ? HeaderOf(out[0], "evs-error-code") : "(not a dead letter)";
  };
  EXPECT_EQ(code(Run("nope", "{}")), "model_not_found");
  EXPECT_EQ(code(Run("iris@7", "{}")), "model_not_found");
  EXPECT_EQ(code(Run("iris@x", "{}")), "model_not_found");
  EXPECT_EQ(code(Run("iris", "{\"petal_length\":")), "invalid_json");
  EXPECT_EQ(code(Run("iris", "[1]")), "not_an_object");
  EXPECT_EQ(code(Run("iris", R"({"petal_length":[1,2]})")), "invalid_input");
  // Missing inputs are the model's business: the tree predicts with what it has.
  kafka::OutBatch out = Run("iris", R"({"petal_length":null})");
  ASSERT_EQ(out.size(), 1u);
  store_->Remove("iris");
  EXPECT_EQ(code(Run("iris", R"({"petal_length":1})")), "model_not_found");
}

// The record path's side of a swap: the evicted version (still held by the
// job's old snapshot and its context) is not destroyed between two records
// but retired to the store, and the time taken is in the swap metrics.
TEST_F(PmmlJobTest, SwapRetiresTheEvictedVersionOffTheRecordPath) {
  auto small = std::make_shared<models::ModelStore>(1);
  metrics::Registry reg;
  auto cfg = config::ParseConfig("jobs: {j: {type: pmml}}\n");
  ASSERT_TRUE(cfg.ok());
  PmmlJob job("j", "j", *cfg, nullptr, nullptr, &reg, small, nullptr);
  small->Install(Load("iris", 1, "iris_tree.pmml"));
  std::weak_ptr<const models::LoadedModel> v1 = small->Snapshot()->at("iris").current;
  auto run = [&] {
    std::vector<kafka::Header> hs = {{"evs-id", "e1"}, {"evs-model", "iris"}};
    std::string key = "k", value = R"({"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2})";
    kafka::OutBatch out;
    job.Process(kafka::InRecord("evs.requests.j", 0, 0, &key, &value, &hs), &out);
    return HeaderOf(out[0], "evs-model-version");
  };
  EXPECT_EQ(run(), "1");  // the job now holds v1 in its snapshot and a context
  small->Install(Load("iris", 2, "iris_tree.pmml"));  // evicts v1 from the store
  EXPECT_EQ(run(), "2");
  EXPECT_FALSE(v1.expired()) << "v1 was torn down on the record path";
  EXPECT_GE(small->ReleaseRetired(), 1u);
  EXPECT_TRUE(v1.expired());
  const std::string m = reg.Render();
  EXPECT_NE(m.find("evs_model_swap_pause_seconds_count{module=\"j\"} 3"), std::string::npos) << m;
  EXPECT_NE(m.find("evs_model_swap_pause_max_seconds{module=\"j\"}"), std::string::npos);
}

}  // namespace
}  // namespace evs::jobs
