// Unit tests of `evserve score` for Spark pipelines (src/cli/score.cc) and of
// the Spark conformance runner's helpers. Tests that need a real pipeline use
// the corpus (skipped when absent) or the project's fixture.
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/score.h"
#include "conformance/spark_conformance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spark/test_util.h"

namespace evs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path TempDir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("evs_spark_score_test_" + std::to_string(::getpid())) / name;
  fs::create_directories(d);
  return d;
}

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A zip with the given (empty-content) entries.
void WriteZip(const fs::path& path, const std::vector<std::string>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& e : entries) {
    zip_source_t* src = zip_source_buffer(z, "{}", 2, 0);
    ASSERT_GE(zip_file_add(z, e.c_str(), src, ZIP_FL_OVERWRITE), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

TEST(SparkScoreTest, ParsesSparksVectorText) {
  spark::Vector v;
  ASSERT_TRUE(cli::ParseSparkVector("[1.5, -2,3e-3]", &v));
  EXPECT_TRUE(v.dense);
  EXPECT_EQ(v.values, (std::vector<double>{1.5, -2, 3e-3}));
  ASSERT_TRUE(cli::ParseSparkVector(" (5,[0,3],[1.0,4.5]) ", &v));
  EXPECT_FALSE(v.dense);
  EXPECT_EQ(v.size, 5);
  EXPECT_EQ(v.indices, (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(v.At(3), 4.5);
  EXPECT_EQ(v.At(1), 0.0);
  ASSERT_TRUE(cli::ParseSparkVector("[]", &v));
  EXPECT_EQ(v.size, 0);
  EXPECT_FALSE(cli::ParseSparkVector("1.0,2.0", &v));
  EXPECT_FALSE(cli::ParseSparkVector("[1.0,x]", &v));
  EXPECT_FALSE(cli::ParseSparkVector("(3,[2,1],[1.0,1.0])", &v));  // indices not ascending
  EXPECT_FALSE(cli::ParseSparkVector("(3,[5],[1.0])", &v));        // index out of range
  EXPECT_FALSE(cli::ParseSparkVector("(3,[0,1],[1.0])", &v));      // lengths differ
}

TEST(SparkScoreTest, RecognisesSavedPipelines) {
  const fs::path d = TempDir("recognise");
  fs::create_directories(d / "pipe" / "metadata");
  EXPECT_TRUE(cli::IsSparkModel((d / "pipe").string()));
  WriteFile(d / "model.pmml", "<PMML/>");
  EXPECT_FALSE(cli::IsSparkModel((d / "model.pmml").string()));
  WriteZip(d / "root.zip", {"metadata/part-00000", "stages/0_x/metadata/part-00000"});
  EXPECT_TRUE(cli::IsSparkModel((d / "root.zip").string()));
  WriteZip(d / "spark4.zip", {"metadata/part-00000-5c44-c000.txt"});  // Spark 4 file names
  EXPECT_TRUE(cli::IsSparkModel((d / "spark4.zip").string()));
  WriteZip(d / "folder.zip", {"mypipe/metadata/part-00000"});
  EXPECT_TRUE(cli::IsSparkModel((d / "folder.zip").string()));
  WriteZip(d / "stage_only.zip", {"stages/0_x/metadata/part-00000"});
  EXPECT_FALSE(cli::IsSparkModel((d / "stage_only.zip").string()));
  WriteZip(d / "pmml.zip", {"model.pmml"});
  EXPECT_FALSE(cli::IsSparkModel((d / "pmml.zip").string()));
}

TEST(SparkScoreTest, PmmlOnlyOptionsAreRejectedForPmml) {
  const fs::path d = TempDir("pmml_opts");
  WriteFile(d / "model.pmml", "<PMML/>");
  WriteFile(d / "in.csv", "a\n1\n");
  cli::ScoreOptions o;
  o.model = (d / "model.pmml").string();
  o.input = (d / "in.csv").string();
  o.output = (d / "out.csv").string();
  o.spark_columns = true;
  std::ostringstream err;
  EXPECT_EQ(cli::Score(o, err), cli::kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("for Spark pipelines"));
}

// spark-3.5's LogisticRegressionIris: conventions' columns, a row that
// cannot be evaluated, --strict, and Spark's own columns.
class SparkScoreCorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = spark::testing::SparkCorpus("spark-3.5");
    if (dir_.empty()) GTEST_SKIP() << "no Spark corpus";
    model_ = (dir_ / "pipeline" / "LogisticRegressionIris.zip").string();
  }
  std::string Score(const std::string& csv, bool spark_columns, bool strict, int* rc, std::string* err_text) {
    auto p = spark::Pipeline::Load(model_, cli::SparkLoadOptions("", spark_columns));
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return "";
    auto cols = cli::SparkResultColumns::Make(**p, spark_columns);
    EXPECT_TRUE(cols.ok()) << cols.status();
    if (!cols.ok()) return "";
    std::istringstream in(csv);
    std::ostringstream out, err;
    cli::ScoreOptions o;
    o.strict = strict;
    o.progress_rows = 0;
    *rc = cli::ScoreSparkStream(**p, *cols, in, out, err, o);
    *err_text = err.str();
    return out.str();
  }
  fs::path dir_;
  std::string model_;
};

TEST_F(SparkScoreCorpusTest, ConventionsColumnsAndBadRows) {
  const spark::testing::Csv input = spark::testing::ReadCsv(dir_ / "csv" / "Iris.csv");
  const spark::testing::Csv expected = spark::testing::ReadCsv(dir_ / "csv" / "LogisticRegressionIris.csv");
  ASSERT_GE(input.rows.size(), 2u);
  std::string csv = "Sepal_Length,Sepal_Width,Petal_Length,Petal_Width\n";
  auto row = [&](size_t r) {
    return input.rows[r][input.Col("Sepal_Length")] + "," + input.rows[r][input.Col("Sepal_Width")] + "," +
           input.rows[r][input.Col("Petal_Length")] + "," + input.rows[r][input.Col("Petal_Width")] + "\n";
  };
  csv += row(0) + "abc,1,2,3\n" + row(1);
  int rc = -1;
  std::string err;
  const std::string out = Score(csv, false, false, &rc, &err);
  EXPECT_EQ(rc, cli::kExitOk);
  std::istringstream lines(out);
  std::string header, first, second, third;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  std::getline(lines, third);
  EXPECT_EQ(header, "Species,probability(setosa),probability(versicolor),probability(virginica)");
  EXPECT_EQ(first.substr(0, first.find(',')), expected.rows[0][expected.Col("Species")]);
  EXPECT_EQ(second, "N/A,N/A,N/A,N/A");
  EXPECT_THAT(err, HasSubstr("row 2"));
  EXPECT_THAT(err, HasSubstr("Sepal_Length"));
  EXPECT_EQ(third.substr(0, third.find(',')), expected.rows[1][expected.Col("Species")]);

  Score(csv, false, true, &rc, &err);
  EXPECT_EQ(rc, cli::kExitFailure);
  EXPECT_THAT(err, HasSubstr("--strict"));
}

TEST_F(SparkScoreCorpusTest, SparkColumnsHaveVectorsInSparkText) {
  int rc = -1;
  std::string err;
  const std::string out = Score("Sepal_Length,Sepal_Width,Petal_Length,Petal_Width,Species\n5.1,3.5,1.4,0.2,setosa\n",
                                true, false, &rc, &err);
  EXPECT_EQ(rc, cli::kExitOk) << err;
  std::istringstream lines(out);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_THAT(header, HasSubstr("prediction"));
  EXPECT_THAT(header, HasSubstr("probability"));
  EXPECT_THAT(first, HasSubstr("\"[")) << "vectors are quoted [a,b,c] cells";
}

TEST(SparkConformanceTest, LibSvmRowsAreSparseVectors) {
  const fs::path d = TempDir("libsvm");
  WriteFile(d / "x.libsvm", "1 1:0.5 3:2\n0 2:1.5 # comment\n\n2\n");
  auto data = conformance::ReadLibSvm((d / "x.libsvm").string(), 4);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->labels, (std::vector<double>{1, 0, 2}));
  EXPECT_EQ(data->features[0].size, 4);
  EXPECT_EQ(data->features[0].indices, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(data->features[0].At(2), 2.0);
  EXPECT_EQ(data->features[2].nnz(), 0);
  auto sized = conformance::ReadLibSvm((d / "x.libsvm").string(), -1);
  ASSERT_TRUE(sized.ok());
  EXPECT_EQ(sized->features[0].size, 3);  // the largest index seen
  WriteFile(d / "bad.libsvm", "1 3:1 2:1\n");
  EXPECT_FALSE(conformance::ReadLibSvm((d / "bad.libsvm").string(), -1).ok());
}

TEST(SparkConformanceTest, ItemListsAndFixtureRows) {
  auto items = conformance::ParseSparkItems(
      "# comment\nid\tmodel\tinput\texpected\tschema\ttolerance\tzero_threshold\tfloat_ulp\tskip_columns\tnon_spark\n"
      "v/A\tp/A.zip\tc/I.csv\tc/A.csv\ts/I.json\t1e-8\t-\t-\tprobability(0)\tX,Y\n"
      "v/B\tp/B.zip\tc/I.csv\tc/B.csv\t-\t-\t-\t12\t-\t-\n",
      0);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].Group(), "v");
  EXPECT_EQ((*items)[0].tol.precision, 1e-8);
  EXPECT_EQ((*items)[0].tol.zero_threshold, 1e-8);
  EXPECT_EQ((*items)[0].skip, (std::vector<std::string>{"probability(0)"}));
  EXPECT_EQ((*items)[0].non_spark.size(), 2u);
  EXPECT_EQ((*items)[1].tol.float_ulp, 12);
  EXPECT_TRUE((*items)[1].schema.empty());

  // tools/spark_fixtures rows name their files by the fixture's name.
  auto fx = conformance::ParseSparkItems("name\tkind\tlabel\ttolerance\tdescription\ntweets\tclassification\ts\t1e-14\td\n",
                                         1e-9);
  ASSERT_TRUE(fx.ok()) << fx.status();
  ASSERT_EQ(fx->size(), 1u);
  EXPECT_EQ((*fx)[0].model, "tweets.zip");
  EXPECT_EQ((*fx)[0].input, "tweets.input.csv");
  EXPECT_EQ((*fx)[0].expected, "tweets.expected.csv");
  EXPECT_EQ((*fx)[0].schema, "tweets.schema.json");
  EXPECT_TRUE((*fx)[0].schema_optional);
  EXPECT_EQ((*fx)[0].spark_expected, "tweets.spark.csv");
  EXPECT_EQ((*fx)[0].tol.precision, 1e-14);

  // A model without an input or expected file is an error.
  EXPECT_FALSE(conformance::ParseSparkItems("id\tmodel\tinput\nx\tm.zip\t\n", 0).ok());
}

TEST(SparkConformanceTest, UnsupportedStageClassAndDocSections) {
  EXPECT_EQ(conformance::UnsupportedStageClass(
                "stages/1_x: unsupported stage org.jpmml.sparkml.feature.VectorDensifier (uid x)"),
            "org.jpmml.sparkml.feature.VectorDensifier");
  EXPECT_EQ(conformance::UnsupportedStageClass("unsupported stage 'a.B'"), "a.B");
  EXPECT_EQ(conformance::UnsupportedStageClass("column 'x' does not exist"), "");

  const std::string begin(conformance::kSparkDocBegin), end(conformance::kSparkDocEnd);
  const std::string section = begin + "\nnew\n" + end + "\n";
  EXPECT_EQ(conformance::ReplaceSection("# PMML\ntext\n", begin, end, section), "# PMML\ntext\n\n" + section);
  EXPECT_EQ(conformance::ReplaceSection("# PMML\n" + begin + "\nold\n" + end + "\ntail\n", begin, end, section),
            "# PMML\n" + section + "tail\n");
}

}  // namespace
}  // namespace evs
