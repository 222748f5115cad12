// NaiveBayes, LinearSVC, MLP, KMeans, BisectingKMeans and IsotonicRegression
// against hand-computed values, and the corpus pipelines that use them
// (skipped when the corpus is absent).

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spark/pipeline.h"
#include "spark/stage.h"
#include "spark/test_util.h"

namespace evs::spark {
namespace {

namespace fs = std::filesystem;
using testing::Meta;

struct Harness {
  Schema schema;
  std::unique_ptr<Stage> stage;
  Row row;

  static absl::StatusOr<std::unique_ptr<Harness>> Make(const StageMeta& meta, Schema schema = {}) {
    auto h = std::make_unique<Harness>();
    h->schema = std::move(schema);
    const StageFactory* f = StageRegistry::Default().Find(meta.class_name);
    if (f == nullptr) return absl::NotFoundError("no factory for " + meta.class_name);
    auto s = (*f)(meta, h->schema);
    if (!s.ok()) return s.status();
    h->stage = std::move(*s);
    h->row.cells.resize(h->schema.num_slots());
    return h;
  }
  void Dense(const std::vector<double>& v, const std::string& col = "features") {
    Vector& x = row.cells[schema.Find(col)].MutableVector();
    x.SetDense(static_cast<int32_t>(v.size()));
    x.values = v;
  }
  void Sparse(int32_t n, std::vector<int32_t> idx, std::vector<double> vals) {
    Vector& x = row.cells[schema.Find("features")].MutableVector();
    x.SetSparse(n);
    x.indices = std::move(idx);
    x.values = std::move(vals);
  }
  absl::Status Run() { return stage->Apply(row); }
  double Num(const std::string& col) { return row.cells[schema.Find(col)].num; }
  const std::vector<double>& Vec(const std::string& col) { return row.cells[schema.Find(col)].vec.values; }
};

std::unique_ptr<Harness> MustMake(const StageMeta& meta, Schema schema = {}) {
  auto h = Harness::Make(meta, std::move(schema));
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? std::move(*h) : nullptr;
}

// A table with several rows of the same columns.
parquet::Table Rows(const std::vector<std::string>& names, const std::vector<std::vector<parquet::Datum>>& rows) {
  std::vector<std::pair<std::string, parquet::Datum>> first;
  for (size_t i = 0; i < names.size(); ++i) first.emplace_back(names[i], rows[0][i]);
  parquet::Table t = testing::OneRow(first);
  for (size_t r = 1; r < rows.size(); ++r) t.rows.push_back(testing::Struct(rows[r]));
  return t;
}

std::vector<double> Softmax(std::vector<double> raw) {
  double mx = raw[0];
  for (double v : raw) mx = std::max(mx, v);
  double s = 0;
  for (double& v : raw) s += (v = std::exp(v - mx));
  for (double& v : raw) v /= s;
  return raw;
}

const char kNB[] = "org.apache.spark.ml.classification.NaiveBayesModel";

StageMeta NaiveBayes(const std::string& type, const std::string& version = "3.5.0", nlohmann::json extra = {}) {
  const double l7 = std::log(0.7), l3 = std::log(0.3), l2 = std::log(0.2), l8 = std::log(0.8);
  nlohmann::json p = {{"modelType", type}, {"labelCol", "y"}, {"featuresCol", "features"},
                      {"predictionCol", "prediction"}, {"rawPredictionCol", "rawPrediction"},
                      {"probabilityCol", "probability"}};
  for (auto& [k, v] : extra.items()) p[k] = v;
  std::vector<std::pair<std::string, parquet::Datum>> cols = {
      {"pi", testing::DenseVec({std::log(0.4), std::log(0.6)})},
      {"theta", testing::DenseMat(2, 2, {l7, l3, l2, l8})}};
  if (type == "gaussian") {
    cols[1].second = testing::DenseMat(2, 2, {1.0, 2.0, 3.0, 5.0});  // means
    cols.push_back({"sigma", testing::DenseMat(2, 2, {0.5, 1.0, 2.0, 4.0})});
  }
  return Meta(kNB, p, {{"data", testing::OneRow(cols)}}, version);
}

TEST(NaiveBayesTest, MultinomialRawProbabilityPredictionAndPredictorNote) {
  auto h = MustMake(NaiveBayes("multinomial"));
  ASSERT_NE(h, nullptr);
  h->Dense({1, 2});
  ASSERT_TRUE(h->Run().ok());
  // Spark 3: pi + (theta . x), theta stored row-major (transposed).
  const std::vector<double> raw = {std::log(0.4) + (std::log(0.7) * 1 + std::log(0.3) * 2),
                                   std::log(0.6) + (std::log(0.2) * 1 + std::log(0.8) * 2)};
  EXPECT_EQ(h->Vec("rawPrediction"), raw);
  const auto prob = Softmax(raw);
  EXPECT_EQ(h->Vec("probability"), prob);
  EXPECT_EQ(h->Num("prediction"), prob[1] > prob[0] ? 1.0 : 0.0);
  const auto& pred = h->schema.predictor();
  ASSERT_TRUE(pred.has_value());
  EXPECT_EQ(pred->kind, PredictorInfo::Kind::kClassification);
  EXPECT_EQ(pred->label_col, "y");
  EXPECT_EQ(pred->num_classes, 2);
  EXPECT_EQ(pred->prediction_slot, h->schema.Find("prediction"));
  EXPECT_EQ(pred->probability_slot, h->schema.Find("probability"));
  EXPECT_EQ(pred->raw_prediction_slot, h->schema.Find("rawPrediction"));
  // Spark 2.x: (theta . x) + pi.
  auto old = MustMake(NaiveBayes("multinomial", "2.4.0"));
  ASSERT_NE(old, nullptr);
  old->Dense({1, 2});
  ASSERT_TRUE(old->Run().ok());
  EXPECT_EQ(old->Vec("rawPrediction")[0], (std::log(0.7) * 1 + std::log(0.3) * 2) + std::log(0.4));
  // Sparse input and negative values.
  h->Sparse(2, {1}, {3.0});
  ASSERT_TRUE(h->Run().ok());
  EXPECT_EQ(h->Vec("rawPrediction")[1], (std::log(0.8) * 3) + std::log(0.6));
  h->Dense({1, -1});
  auto st = h->Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "NaiveBayesModel test_uid")) << st;
  h->Dense({1, 2, 3});
  EXPECT_FALSE(h->Run().ok());
}

TEST(NaiveBayesTest, BernoulliGaussianComplement) {
  auto b = MustMake(NaiveBayes("bernoulli"));
  ASSERT_NE(b, nullptr);
  b->Dense({1, 0});
  ASSERT_TRUE(b->Run().ok());
  // log P(c) + sum_j x_j log p_cj + (1 - x_j) log(1 - p_cj)
  EXPECT_NEAR(b->Vec("rawPrediction")[0], std::log(0.4) + std::log(0.7) + std::log(0.7), 1e-12);
  EXPECT_NEAR(b->Vec("rawPrediction")[1], std::log(0.6) + std::log(0.2) + std::log(0.2), 1e-12);
  b->Dense({1, 0.5});
  auto st = b->Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "0 or 1")) << st;

  auto g = MustMake(NaiveBayes("gaussian"));
  ASSERT_NE(g, nullptr);
  g->Dense({2, 2});
  ASSERT_TRUE(g->Run().ok());
  const double s0 = 1.0 / 0.5 + 0.0 / 1.0, s1 = 1.0 / 2.0 + 9.0 / 4.0;
  EXPECT_EQ(g->Vec("rawPrediction")[0], std::log(0.4) - (s0 + (std::log(0.5) + std::log(1.0))) / 2);
  EXPECT_EQ(g->Vec("rawPrediction")[1], std::log(0.6) - (s1 + (std::log(2.0) + std::log(4.0))) / 2);

  auto c = MustMake(NaiveBayes("complement"));
  ASSERT_NE(c, nullptr);
  c->Dense({1, 2});
  ASSERT_TRUE(c->Run().ok());
  const double t0 = std::log(0.7) + std::log(0.3) * 2, t1 = std::log(0.2) + std::log(0.8) * 2;
  const double lse = std::log(std::exp(t0 - t1) + 1.0) + t1;
  EXPECT_NEAR(c->Vec("rawPrediction")[0], t0 - lse, 1e-15);
  EXPECT_NEAR(c->Vec("rawPrediction")[1], t1 - lse, 1e-15);
}

TEST(NaiveBayesTest, EmptyColumnParamsAreNotProduced) {
  auto h = MustMake(NaiveBayes("multinomial", "3.5.0", {{"probabilityCol", ""}, {"rawPredictionCol", ""}}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.Find("probability"), -1);
  EXPECT_EQ(h->schema.Find("rawPrediction"), -1);
  h->Dense({1, 2});
  ASSERT_TRUE(h->Run().ok());
  EXPECT_EQ(h->Num("prediction"), 1.0);  // argmax of raw: class 1 has the larger margin
}

TEST(LinearSVCTest, MarginThresholdAndRaw) {
  auto meta = [](double threshold) {
    return Meta("org.apache.spark.ml.classification.LinearSVCModel",
                {{"threshold", threshold}, {"featuresCol", "features"}, {"labelCol", "label"},
                 {"predictionCol", "prediction"}, {"rawPredictionCol", "rawPrediction"}},
                {{"data", testing::OneRow({{"coefficients", testing::DenseVec({1.0, -2.0})},
                                           {"intercept", testing::Num(0.5)}})}});
  };
  auto h = MustMake(meta(0.0));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.Find("probability"), -1);
  h->Dense({1, 1});
  ASSERT_TRUE(h->Run().ok());
  EXPECT_EQ(h->Vec("rawPrediction"), (std::vector<double>{0.5, -0.5}));
  EXPECT_EQ(h->Num("prediction"), 0.0);
  auto low = MustMake(meta(-1.0));
  ASSERT_NE(low, nullptr);
  low->Sparse(2, {1}, {0.25});  // margin 0
  ASSERT_TRUE(low->Run().ok());
  EXPECT_EQ(low->Num("prediction"), 1.0);
  EXPECT_EQ(h->schema.predictor()->num_classes, 2);
}

TEST(MultilayerPerceptronTest, SigmoidHiddenSoftmaxOutput) {
  // layers 2 -> 2 -> 2; each layer: W (out x in, column-major) then bias.
  const std::vector<double> w = {0.1, 0.2, 0.3, 0.4, 0.5, -0.5,   // layer 1: W, b
                                 1.0, -1.0, 2.0, 0.5, 0.0, 0.25};  // layer 2: W, b
  auto h = MustMake(Meta("org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel",
                         {{"layers", {2, 2, 2}}, {"featuresCol", "features"}, {"labelCol", "label"},
                          {"predictionCol", "prediction"}, {"rawPredictionCol", "rawPrediction"},
                          {"probabilityCol", "probability"}},
                         {{"data", testing::OneRow({{"weights", testing::DenseVec(w)}})}}));
  ASSERT_NE(h, nullptr);
  h->Dense({1.0, 2.0});
  ASSERT_TRUE(h->Run().ok());
  const double z0 = 0.5 + 1.0 * 0.1 + 2.0 * 0.3, z1 = -0.5 + 1.0 * 0.2 + 2.0 * 0.4;
  const double a0 = 1.0 / (1.0 + std::exp(-z0)), a1 = 1.0 / (1.0 + std::exp(-z1));
  const std::vector<double> raw = {0.0 + a0 * 1.0 + a1 * 2.0, 0.25 + a0 * -1.0 + a1 * 0.5};
  EXPECT_EQ(h->Vec("rawPrediction"), raw);
  EXPECT_EQ(h->Vec("probability"), Softmax(raw));
  EXPECT_EQ(h->Num("prediction"), 0.0);
  // Spark 2.x keeps the layers in the data.
  auto old = MustMake(Meta("org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel",
                           {{"featuresCol", "features"}},
                           {{"data", testing::OneRow({{"layers", testing::List({testing::Int(2), testing::Int(2),
                                                                                  testing::Int(2)})},
                                                      {"weights", testing::DenseVec(w)}})}},
                           "2.4.0"));
  ASSERT_NE(old, nullptr);
  old->Dense({1.0, 2.0});
  ASSERT_TRUE(old->Run().ok());
  EXPECT_EQ(old->Vec("probability"), Softmax(raw));
  auto bad = Harness::Make(Meta("org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel",
                                {{"layers", {2, 3, 2}}},
                                {{"data", testing::OneRow({{"weights", testing::DenseVec(w)}})}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "weights")) << bad.status();
}

StageMeta KMeans(const std::vector<std::vector<double>>& centers, const std::string& measure,
                 const std::string& version) {
  std::vector<std::vector<parquet::Datum>> rows;
  // Saved out of order: the model sorts by clusterIdx.
  for (size_t i = centers.size(); i-- > 0;) rows.push_back({testing::Int(static_cast<int64_t>(i)), testing::DenseVec(centers[i])});
  return Meta("org.apache.spark.ml.clustering.KMeansModel",
              {{"featuresCol", "features"}, {"predictionCol", "cluster"}, {"distanceMeasure", measure}},
              {{"data", Rows({"clusterIdx", "clusterCenter"}, rows)}}, version);
}

TEST(KMeansTest, EuclideanAndCosineAcrossVersions) {
  for (const char* version : {"2.4.0", "3.0.0", "3.5.0"}) {
    auto h = MustMake(KMeans({{0, 0}, {10, 10}, {10, 0}}, "euclidean", version));
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->schema.column(h->schema.Find("cluster")).type, DataType::kInteger);
    EXPECT_EQ(h->schema.predictor()->kind, PredictorInfo::Kind::kClustering);
    // Exact ties go to the first center from Spark 3.0 (sqdist for dense
    // vectors); Spark 2.4's norm formula (|a|^2 + |b|^2 - 2ab) rounds them
    // in favour of (10,0).
    const bool v2 = version[0] == '2';
    const struct {
      std::vector<double> x;
      double want;
    } cases[] = {{{1, 1}, 0}, {{9, 8}, 1}, {{9, 1}, 2}, {{5, 0}, 0}, {{5, 5}, v2 ? 2.0 : 0.0},
                 {{10, 5}, v2 ? 2.0 : 1.0}};
    for (const auto& c : cases) {
      h->Dense(c.x);
      ASSERT_TRUE(h->Run().ok());
      EXPECT_EQ(h->Num("cluster"), c.want) << version << " " << c.x[0] << "," << c.x[1];
    }
    h->Sparse(2, {1}, {9.0});
    ASSERT_TRUE(h->Run().ok());
    EXPECT_EQ(h->Num("cluster"), 0) << version;  // (0,9): 81 vs 101 vs 181
  }
  auto c = MustMake(KMeans({{1, 0}, {0, 1}}, "cosine", "3.5.0"));
  ASSERT_NE(c, nullptr);
  c->Dense({2, 1});
  ASSERT_TRUE(c->Run().ok());
  EXPECT_EQ(c->Num("cluster"), 0);
  c->Dense({1, 3});
  ASSERT_TRUE(c->Run().ok());
  EXPECT_EQ(c->Num("cluster"), 1);
  c->Dense({0, 0});
  EXPECT_FALSE(c->Run().ok());
}

TEST(KMeansTest, TriangleStatisticsGiveTheSameClustersAsTheFullScan) {
  // Spark 3.1+ prunes with center-to-center bounds; 3.0 scans every center.
  // Away from ties both must agree, for both distance measures.
  const std::vector<std::vector<double>> centers = {{0, 0}, {4, 0}, {0, 4}, {5, 5}, {-3, 2}, {1, -6}};
  auto scan_e = MustMake(KMeans(centers, "euclidean", "3.0.0"));
  auto stats_e = MustMake(KMeans(centers, "euclidean", "3.5.0"));
  ASSERT_NE(scan_e, nullptr);
  ASSERT_NE(stats_e, nullptr);
  for (double x = -7.3; x < 7; x += 0.71) {
    for (double y = -7.1; y < 7; y += 0.93) {
      scan_e->Dense({x, y});
      stats_e->Dense({x, y});
      ASSERT_TRUE(scan_e->Run().ok());
      ASSERT_TRUE(stats_e->Run().ok());
      EXPECT_EQ(scan_e->Num("cluster"), stats_e->Num("cluster")) << x << "," << y;
    }
  }
  // Cosine distance is undefined for a zero center.
  auto zero = Harness::Make(KMeans(centers, "cosine", "3.5.0"));
  ASSERT_FALSE(zero.ok());
  EXPECT_TRUE(absl::StrContains(zero.status().message(), "zero vector")) << zero.status();
  const std::vector<std::vector<double>> dirs = {{1, 0}, {0, 1}, {-1, 0.2}, {0.5, -1}, {1, 1}};
  auto scan = MustMake(KMeans(dirs, "cosine", "3.0.0"));
  auto stats = MustMake(KMeans(dirs, "cosine", "3.5.0"));
  ASSERT_NE(scan, nullptr);
  ASSERT_NE(stats, nullptr);
  for (double a = 0.05; a < 6.28; a += 0.37) {
    scan->Dense({std::cos(a), std::sin(a)});
    stats->Dense({std::cos(a), std::sin(a)});
    ASSERT_TRUE(scan->Run().ok());
    ASSERT_TRUE(stats->Run().ok());
    EXPECT_EQ(scan->Num("cluster"), stats->Num("cluster")) << a;
  }
}

TEST(BisectingKMeansTest, DescendsTheSavedTree) {
  auto node = [](int64_t index, std::vector<double> center, std::vector<int64_t> children) {
    const double norm = std::sqrt(center[0] * center[0] + center[1] * center[1]);
    std::vector<parquet::Datum> kids;
    for (int64_t k : children) kids.push_back(testing::Int(k));
    return std::vector<parquet::Datum>{testing::Int(index), testing::Int(1), testing::DenseVec(center),
                                       testing::Num(norm), testing::Num(0), testing::Num(0),
                                       testing::List(kids)};
  };
  parquet::Table t = Rows({"index", "size", "center", "norm", "cost", "height", "children"},
                          {node(0, {0, 0}, {}), node(1, {9, 9}, {}), node(2, {12, 12}, {}),
                           node(-2, {10, 10}, {1, 2}), node(-1, {5, 5}, {0, -2})});
  auto h = MustMake(Meta("org.apache.spark.ml.clustering.BisectingKMeansModel",
                         {{"featuresCol", "features"}, {"predictionCol", "prediction"}}, {{"data/data", t}}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.predictor()->num_classes, 3);
  // (8,8): the root picks (10,10) over (0,0), then (9,9) over (12,12).
  const std::pair<std::vector<double>, double> cases[] = {{{8, 8}, 1}, {{1, 1}, 0}, {{13, 11}, 2}};
  for (const auto& [x, want] : cases) {
    h->Dense(x);
    ASSERT_TRUE(h->Run().ok());
    EXPECT_EQ(h->Num("prediction"), want) << x[0];
  }
}

TEST(IsotonicRegressionTest, InterpolatesClampsAndPicksTheFeature) {
  auto data = testing::OneRow({{"boundaries", testing::NumList({1, 2, 3})},
                               {"predictions", testing::NumList({10, 20, 20})},
                               {"isotonic", testing::Bool(true)}});
  auto h = MustMake(Meta("org.apache.spark.ml.regression.IsotonicRegressionModel",
                         {{"featuresCol", "features"}, {"featureIndex", 1}, {"labelCol", "mpg"},
                          {"predictionCol", "prediction"}},
                         {{"data", data}}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.predictor()->label_col, "mpg");
  EXPECT_EQ(h->schema.predictor()->kind, PredictorInfo::Kind::kRegression);
  const std::pair<double, double> cases[] = {{0, 10}, {1, 10}, {1.5, 15}, {1.25, 12.5}, {2, 20}, {2.5, 20}, {9, 20}};
  for (const auto& [x, want] : cases) {
    h->Dense({100, x});
    ASSERT_TRUE(h->Run().ok());
    EXPECT_EQ(h->Num("prediction"), want) << x;
  }
  // A numeric features column is used directly.
  auto schema = Schema::FromStructType(
      R"({"type":"struct","fields":[{"name":"x","type":"double","nullable":true,"metadata":{}}]})");
  ASSERT_TRUE(schema.ok()) << schema.status();
  auto s = MustMake(Meta("org.apache.spark.ml.regression.IsotonicRegressionModel",
                         {{"featuresCol", "x"}, {"predictionCol", "p"}}, {{"data", data}}),
                    std::move(*schema));
  ASSERT_NE(s, nullptr);
  s->row.cells[s->schema.Find("x")].SetNumber(2.5);
  ASSERT_TRUE(s->Run().ok());
  EXPECT_EQ(s->Num("p"), 20);
  s->row.cells[s->schema.Find("x")].SetNull();
  EXPECT_FALSE(s->Run().ok());
}

// ---- corpus ---------------------------------------------------------------

struct CorpusCase {
  const char* version;
  const char* pipeline;
  const char* dataset;
  double tolerance;
  double zero;  // values this close to 0 compare as equal
  const char* skip = "";  // an expected column the manifest says to skip
};

void PrintTo(const CorpusCase& c, std::ostream* os) { *os << c.version << "/" << c.pipeline; }

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// CSV as Spark's reader takes it: a quote is special only at the start of a
// field (the Sentiment data has stray quotes inside unquoted fields).
testing::Csv ReadCsvSpark(const fs::path& path) {
  const std::string text = ReadText(path);
  testing::Csv csv;
  std::vector<std::string> row;
  std::string field;
  size_t i = 0;
  bool at_start = true;
  auto end_field = [&] {
    row.push_back(field);
    field.clear();
    at_start = true;
  };
  auto end_row = [&] {
    end_field();
    if (csv.header.empty()) {
      csv.header = std::move(row);
    } else {
      csv.rows.push_back(std::move(row));
    }
    row.clear();
  };
  while (i < text.size()) {
    const char ch = text[i];
    if (at_start && ch == '"') {
      ++i;
      while (i < text.size()) {
        if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          i += 2;
        } else if (text[i] == '"') {
          ++i;
          break;
        } else {
          field.push_back(text[i++]);
        }
      }
      at_start = false;
      continue;
    }
    at_start = false;
    if (ch == ',') {
      end_field();
    } else if (ch == '\n') {
      end_row();
    } else if (ch != '\r') {
      field.push_back(ch);
    }
    ++i;
  }
  if (!field.empty() || !row.empty()) end_row();
  return csv;
}

// strtod without std::stod's range error on subnormal values (Spark prints
// probabilities like 4.9E-324).
double ParseNum(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

double RelDiff(double got, double want) {
  const double scale = std::max(std::abs(got), std::abs(want));
  return scale == 0 ? 0 : std::abs(got - want) / scale;
}

bool Close(double got, double want, double tol, double zero) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
  if (std::abs(got) <= zero && std::abs(want) <= zero) return true;
  return std::abs(got - want) <= tol * std::max(std::abs(got), std::abs(want));
}

// Runs a corpus pipeline over its input CSV and compares the conventions'
// columns with the expected CSV. Returns the number of mismatching rows.
void RunCorpus(const CorpusCase& c) {
  const fs::path dir = testing::SparkCorpus(c.version);
  if (dir.empty()) GTEST_SKIP() << "corpus absent";
  const fs::path zip = dir / "pipeline" / (std::string(c.pipeline) + ".zip");
  if (!fs::exists(zip)) GTEST_SKIP() << zip << " absent";
  LoadOptions opts;
  opts.schema_json = ReadText(dir / "schema" / (std::string(c.dataset) + ".json"));
  opts.conventions_outputs = true;
  auto p = Pipeline::Load(zip.string(), opts);
  // Stages of other families may be missing from a partial build.
  if (!p.ok() && absl::StrContains(p.status().message(), "unsupported stage")) GTEST_SKIP() << p.status();
  ASSERT_TRUE(p.ok()) << p.status();
  const Pipeline& pl = **p;
  const Conventions& conv = pl.conventions();
  ASSERT_TRUE(conv.has_predictor);
  auto input = ReadCsvSpark(dir / "csv" / (std::string(c.dataset) + ".csv"));
  auto expected = ReadCsvSpark(dir / "csv" / (std::string(c.pipeline) + ".csv"));
  ASSERT_EQ(input.rows.size(), expected.rows.size());
  const int label_col = expected.Col(conv.label_name);
  ASSERT_GE(label_col, 0) << "expected CSV lacks " << conv.label_name;
  std::vector<int> prob_cols;
  if (conv.kind == PredictorInfo::Kind::kClassification && conv.probability_slot >= 0) {
    for (const std::string& l : conv.labels) {
      const std::string name = "probability(" + l + ")";
      prob_cols.push_back(name == c.skip ? -1 : expected.Col(name));
    }
  }
  auto row = pl.NewRow();
  int bad_rows = 0;
  std::string first;
  double max_rel = 0;  // over values outside the zero band
  for (size_t r = 0; r < input.rows.size(); ++r) {
    pl.BeginRow(*row);
    for (const auto& in : pl.inputs()) {
      const int col = input.Col(in.name);
      ASSERT_GE(col, 0) << in.name;
      ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex(in.name), input.rows[r][col]).ok());
    }
    auto st = pl.Run(*row);
    ASSERT_TRUE(st.ok()) << "row " << r << ": " << st;
    const auto& want = expected.rows[r];
    std::string diff;
    const double pred = pl.Get(*row, conv.prediction_slot).num;
    if (conv.kind == PredictorInfo::Kind::kClassification) {
      const std::string got = conv.labels.at(static_cast<size_t>(pred));
      if (got != want[label_col]) diff = absl::StrCat("label ", got, " != ", want[label_col]);
      for (size_t k = 0; k < prob_cols.size() && diff.empty(); ++k) {
        if (prob_cols[k] < 0) continue;
        const double g = pl.Get(*row, conv.probability_slot).vec.At(static_cast<int32_t>(k));
        const double w = ParseNum(want[prob_cols[k]]);
        if (std::abs(w) > c.zero) max_rel = std::max(max_rel, RelDiff(g, w));
        if (!Close(g, w, c.tolerance, c.zero)) diff = absl::StrCat("probability(", conv.labels[k], ") ", g, " != ", w);
      }
    } else if (conv.kind == PredictorInfo::Kind::kClustering) {
      if (pred != ParseNum(want[label_col])) diff = absl::StrCat("cluster ", pred, " != ", want[label_col]);
    } else {
      const double w = ParseNum(want[label_col]);
      if (std::abs(w) > c.zero) max_rel = std::max(max_rel, RelDiff(pred, w));
      if (!Close(pred, w, c.tolerance, c.zero)) diff = absl::StrCat(conv.label_name, " ", pred, " != ", w);
    }
    if (!diff.empty()) {
      if (bad_rows++ == 0) first = absl::StrCat("row ", r, ": ", diff);
    }
  }
  std::cout << "  " << c.version << "/" << c.pipeline << ": " << input.rows.size() - bad_rows << "/"
            << input.rows.size() << " rows match, max relative difference " << max_rel << "\n";
  EXPECT_EQ(bad_rows, 0) << c.version << "/" << c.pipeline << " " << bad_rows << "/" << input.rows.size()
                         << " rows differ; first " << first;
}

class CorpusTest : public ::testing::TestWithParam<CorpusCase> {};

TEST_P(CorpusTest, MatchesSparkOutput) { RunCorpus(GetParam()); }

const CorpusCase kCases[] = {
    {"spark-3.5", "KMeansIris", "Iris", 0, 0},
    {"spark-3.0", "KMeansIris", "Iris", 0, 0},
    {"spark-2.4.0", "KMeansIris", "Iris", 0, 0},
    {"spark-3.5", "NaiveBayesIris", "Iris", 1e-14, 1e-14},
    {"spark-3.0", "NaiveBayesIris", "Iris", 1e-14, 1e-14},
    {"spark-2.4.0", "NaiveBayesIris", "Iris", 1e-14, 1e-14},
    {"spark-3.5", "NeuralNetworkIris", "Iris", 5e-13, 5e-11},
    {"spark-3.0", "NeuralNetworkIris", "Iris", 5e-13, 5e-11},
    {"spark-2.4.0", "NeuralNetworkIris", "Iris", 5e-13, 5e-11},
    {"spark-3.5", "LinearSVCSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-3.0", "LinearSVCSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-2.4.0", "LinearSVCSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-3.5", "DecisionTreeSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-3.0", "DecisionTreeSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-2.4.0", "DecisionTreeSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-3.5", "IsotonicRegressionIncrAuto", "Auto", 1e-14, 1e-14},
    {"spark-3.5", "IsotonicRegressionDecrAuto", "Auto", 1e-14, 1e-14},
    // Other pipelines with these stages.
    {"spark-3.5", "RandomForestSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-3.0", "RandomForestSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-2.4.0", "RandomForestSentiment", "Sentiment", 1e-14, 1e-14},
    {"spark-3.5", "NaiveBayesAudit", "Audit", 1e-10, 1e-10, "probability(0)"},
    {"spark-3.0", "NaiveBayesAudit", "Audit", 1e-10, 1e-10, "probability(0)"},
    {"spark-2.4.0", "NaiveBayesAudit", "Audit", 1e-10, 1e-10, "probability(0)"},
    {"spark-3.5", "NeuralNetworkAudit", "Audit", 1e-14, 1e-14},
    {"spark-3.0", "NeuralNetworkAudit", "Audit", 1e-14, 1e-14},
    {"spark-2.4.0", "NeuralNetworkAudit", "Audit", 1e-14, 1e-14},
    {"spark-3.5", "ModelChainIris", "Iris", 1e-13, 1e-13},
    {"spark-3.0", "ModelChainIris", "Iris", 1e-13, 1e-13},
    {"spark-2.4.0", "ModelChainIris", "Iris", 1e-13, 1e-13},
};

INSTANTIATE_TEST_SUITE_P(Pipelines, CorpusTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CorpusCase>& i) {
                           std::string v = i.param.version;
                           for (char& ch : v) {
                             if (ch == '-' || ch == '.') ch = '_';
                           }
                           return v + "_" + i.param.pipeline;
                         });

}  // namespace
}  // namespace evs::spark
