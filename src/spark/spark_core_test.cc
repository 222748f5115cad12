#include <gtest/gtest.h>
#include <zip.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "spark/pipeline.h"
#include "spark/test_util.h"

namespace evs::spark {
namespace {

namespace fs = std::filesystem;
using testing::Meta;

// ---- corpus-driven ------------------------------------------------------

// A pipeline cut down to its VectorAssembler output reproduces the CSV
// input columns, and the label indexer and its input are pruned.
TEST(SparkCoreCorpusTest, RandomForestIrisFeatureVectorMatchesInput) {
  fs::path dir = testing::SparkCorpus("spark-3.5");
  if (dir.empty()) GTEST_SKIP() << "corpus absent";
  LoadOptions opts;
  opts.outputs = {"featureVector"};
  auto p = Pipeline::Load((dir / "pipeline" / "RandomForestIris.zip").string(), opts);
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& pl = **p;
  EXPECT_EQ(pl.spark_version(), "3.5.0");
  ASSERT_EQ(pl.StageNames().size(), 1u);
  EXPECT_EQ(pl.StageNames()[0], "VectorAssembler VectorAssembler_9a6732145d6c");
  EXPECT_EQ(pl.InputIndex("Species"), -1);
  ASSERT_EQ(pl.inputs().size(), 4u);
  auto csv = testing::ReadCsv(dir / "csv" / "Iris.csv");
  ASSERT_EQ(csv.rows.size(), 150u);
  auto row = pl.NewRow();
  const int out = pl.Find("featureVector");
  ASSERT_GE(out, 0);
  for (const auto& r : csv.rows) {
    pl.BeginRow(*row);
    for (const auto& in : pl.inputs())
      ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex(in.name), r[csv.Col(in.name)]).ok());
    ASSERT_TRUE(pl.Run(*row).ok());
    const Cell& c = pl.Get(*row, out);
    ASSERT_EQ(c.kind, Cell::Kind::kVector);
    ASSERT_EQ(c.vec.size, 4);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(c.vec.At(i), std::stod(r[csv.Col(pl.inputs()[i].name)]));
  }
}

// The full pipeline compiles up to the model; the label indexer runs on
// the label column and its labels are the conventions' labels.
TEST(SparkCoreCorpusTest, LogisticRegressionIrisRFormulaFeaturesAndLabel) {
  fs::path dir = testing::SparkCorpus("spark-3.5");
  if (dir.empty()) GTEST_SKIP() << "corpus absent";
  LoadOptions opts;
  opts.outputs = {"features", "label"};
  auto p = Pipeline::Load((dir / "pipeline" / "LogisticRegressionIris.zip").string(), opts);
  if (!p.ok() && absl::StrContains(p.status().message(), "unsupported stage"))
    GTEST_SKIP() << p.status();
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& pl = **p;
  auto csv = testing::ReadCsv(dir / "csv" / "Iris.csv");
  auto row = pl.NewRow();
  const int f = pl.Find("features"), l = pl.Find("label");
  ASSERT_GE(f, 0);
  ASSERT_GE(l, 0);
  const auto& attrs = pl.schema().column(l).attrs;
  ASSERT_EQ(attrs.size(), 1u);
  EXPECT_EQ(attrs[0].values, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  for (const auto& r : csv.rows) {
    pl.BeginRow(*row);
    for (const auto& in : pl.inputs())
      ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex(in.name), r[csv.Col(in.name)]).ok());
    ASSERT_TRUE(pl.Run(*row).ok());
    const Cell& v = pl.Get(*row, f);
    ASSERT_EQ(v.vec.size, 4);
    EXPECT_EQ(v.vec.At(0), std::stod(r[csv.Col("Sepal_Length")]));
    EXPECT_EQ(v.vec.At(3), std::stod(r[csv.Col("Petal_Width")]));
    EXPECT_EQ(attrs[0].values[static_cast<size_t>(pl.Get(*row, l).num)], r[csv.Col("Species")]);
  }
}

}  // namespace
}  // namespace evs::spark
