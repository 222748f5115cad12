#include <gtest/gtest.h>
#include <zip.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "spark/pipeline.h"
#include "spark/test_util.h"

namespace evs::spark {
namespace {

namespace fs = std::filesystem;
using testing::Meta;

// ---- helpers -------------------------------------------------------------

// A stage compiled by its registered factory, with a row to run it on.
struct Built {
  Schema schema;
  std::unique_ptr<Stage> stage;
  Row row;
  absl::Status Run() {
    row.filtered = false;
    return stage->Apply(row);
  }
  Cell& In(std::string_view name) { return row.cells[schema.Find(name)]; }
  const Cell& Out(std::string_view name) { return row.cells[schema.Find(name)]; }
};

absl::StatusOr<std::unique_ptr<Built>> Compile(const StageMeta& m, Schema schema = {}) {
  const StageFactory* f = StageRegistry::Default().Find(m.class_name);
  if (f == nullptr) return absl::NotFoundError("no factory");
  auto b = std::make_unique<Built>();
  b->schema = std::move(schema);
  auto st = (*f)(m, b->schema);
  if (!st.ok()) return st.status();
  b->stage = std::move(*st);
  b->row.cells.resize(b->schema.num_slots());
  return b;
}

parquet::Table Labels(std::vector<std::vector<std::string>> lists) {
  std::vector<parquet::Datum> items;
  for (auto& l : lists) items.push_back(testing::StrList(l));
  return testing::OneRow({{"labelsArray", testing::List(std::move(items))}});
}

std::string MetaJson(const std::string& cls, const std::string& uid, const nlohmann::json& params,
                     const std::string& version = "3.5.0", bool with_defaults = true) {
  nlohmann::json j = {{"class", cls}, {"timestamp", 1}, {"sparkVersion", version}, {"uid", uid},
                      {"paramMap", params}};
  if (with_defaults) j["defaultParamMap"] = nlohmann::json::object();
  return j.dump() + "\n";
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes a zip of `files` (name -> content).
void WriteZip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& files) {
  int err = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(za, nullptr);
  for (const auto& [name, content] : files) {
    zip_source_t* src = zip_source_buffer(za, content.data(), content.size(), 0);
    ASSERT_GE(zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE), 0) << name;
  }
  ASSERT_EQ(zip_close(za), 0);
}

// A two-stage pipeline needing no model data: VectorAssembler(a, b) ->
// features, IndexToString(y) -> y_label.
void WriteNoDataPipeline(const fs::path& root) {
  testing::WriteFile(root / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.PipelineModel", "PipelineModel_1",
                              {{"stageUids", {"its_2", "va_1"}}}));
  // Directory order differs from stageUids order on purpose.
  testing::WriteFile(root / "stages" / "1_va_1" / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.feature.VectorAssembler", "va_1",
                              {{"inputCols", {"a", "b"}}, {"outputCol", "features"}}));
  testing::WriteFile(root / "stages" / "0_its_2" / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.feature.IndexToString", "its_2",
                              {{"inputCol", "y"}, {"outputCol", "y_label"}, {"labels", {"no", "yes"}}}));
}

// ---- types --------------------------------------------------------------

TEST(JavaDoubleToStringTest, MatchesJava) {
  EXPECT_EQ(JavaDoubleToString(1.0), "1.0");
  EXPECT_EQ(JavaDoubleToString(-2.5), "-2.5");
  EXPECT_EQ(JavaDoubleToString(0.1), "0.1");
  EXPECT_EQ(JavaDoubleToString(100.0), "100.0");
  EXPECT_EQ(JavaDoubleToString(0.001), "0.001");
  EXPECT_EQ(JavaDoubleToString(9.99e-4), "9.99E-4");
  EXPECT_EQ(JavaDoubleToString(1e-5), "1.0E-5");
  EXPECT_EQ(JavaDoubleToString(1.7e-34), "1.7E-34");
  EXPECT_EQ(JavaDoubleToString(9999999.0), "9999999.0");
  EXPECT_EQ(JavaDoubleToString(1e7), "1.0E7");
  EXPECT_EQ(JavaDoubleToString(123456789.0), "1.23456789E8");
  EXPECT_EQ(JavaDoubleToString(-1.5e300), "-1.5E300");
  EXPECT_EQ(JavaDoubleToString(0.30000000000000004), "0.30000000000000004");
  EXPECT_EQ(JavaDoubleToString(0.0), "0.0");
  EXPECT_EQ(JavaDoubleToString(-0.0), "-0.0");
  EXPECT_EQ(JavaDoubleToString(std::nan("")), "NaN");
  EXPECT_EQ(JavaDoubleToString(HUGE_VAL), "Infinity");
  EXPECT_EQ(JavaDoubleToString(-HUGE_VAL), "-Infinity");
  EXPECT_EQ(JavaDoubleToString(4.9e-324), "4.9E-324");
}

TEST(CastToStringTest, FollowsTheColumnType) {
  Cell c;
  c.SetNumber(3);
  EXPECT_EQ(CastToString(c, DataType::kInteger), "3");
  EXPECT_EQ(CastToString(c, DataType::kLong), "3");
  EXPECT_EQ(CastToString(c, DataType::kDouble), "3.0");
  EXPECT_EQ(CastToString(c, DataType::kBoolean), "true");
  c.SetNumber(0.1f);
  EXPECT_EQ(CastToString(c, DataType::kFloat), "0.1");
  c.SetString("x");
  EXPECT_EQ(CastToString(c, DataType::kString), "x");
}

TEST(DecodeTest, DenseAndSparseVectors) {
  auto d = DecodeVector(testing::DenseVec({1, 0, 2}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->dense);
  EXPECT_EQ(d->size, 3);
  EXPECT_EQ(d->At(2), 2);
  parquet::Datum sp = testing::Struct({testing::Int(0), testing::Int(5), testing::List({testing::Int(1), testing::Int(4)}),
                                       testing::NumList({7, 8})});
  auto s = DecodeVector(sp);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->dense);
  EXPECT_EQ(s->size, 5);
  EXPECT_EQ(s->At(4), 8);
  EXPECT_EQ(s->At(3), 0);
  parquet::Datum bad = testing::Struct({testing::Int(0), testing::Int(2), testing::List({testing::Int(3)}),
                                        testing::NumList({1})});
  EXPECT_FALSE(DecodeVector(bad).ok());
}

TEST(DecodeTest, MatricesColumnMajorTransposedAndSparse) {
  parquet::Datum null;
  // 2x3 column-major [[1,2,3],[4,5,6]].
  parquet::Datum cm = testing::Struct({testing::Int(1), testing::Int(2), testing::Int(3), null, null,
                                       testing::NumList({1, 4, 2, 5, 3, 6}), testing::Bool(false)});
  auto m = DecodeMatrix(cm);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at(0, 2), 3);
  EXPECT_EQ(m->at(1, 0), 4);
  auto t = DecodeMatrix(testing::DenseMat(2, 3, {1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->values, m->values);
  // Sparse CSC of the same matrix with zeros at (0,1) and (1,2).
  parquet::Datum csc = testing::Struct({testing::Int(0), testing::Int(2), testing::Int(3),
                                        testing::List({testing::Int(0), testing::Int(2), testing::Int(3), testing::Int(4)}),
                                        testing::List({testing::Int(0), testing::Int(1), testing::Int(1), testing::Int(0)}),
                                        testing::NumList({1, 4, 5, 3}), testing::Bool(false)});
  auto s = DecodeMatrix(csc);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->values, (std::vector<double>{1, 0, 3, 4, 5, 0}));
}

// ---- schema -------------------------------------------------------------

TEST(SchemaTest, ParsesStructType) {
  auto s = Schema::FromStructType(R"({"type":"struct","fields":[
    {"name":"age","type":"integer","nullable":true,"metadata":{}},
    {"name":"n","type":"long","nullable":true,"metadata":{}},
    {"name":"b","type":"byte","nullable":true,"metadata":{}},
    {"name":"x","type":"double","nullable":true,"metadata":{}},
    {"name":"f","type":"float","nullable":true,"metadata":{}},
    {"name":"ok","type":"boolean","nullable":true,"metadata":{}},
    {"name":"s","type":"string","nullable":true,"metadata":{}},
    {"name":"words","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},
    {"name":"nums","type":{"type":"array","elementType":"double","containsNull":true},"nullable":true,"metadata":{}},
    {"name":"features","type":{"type":"udt","class":"org.apache.spark.ml.linalg.VectorUDT","pyClass":"pyspark.ml.linalg.VectorUDT","sqlType":{"type":"struct","fields":[]}},"nullable":true,"metadata":{"ml_attr":{"num_attrs":4}}}]})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->declared());
  auto type = [&](const char* n) { return s->column(s->Find(n)).type; };
  EXPECT_EQ(type("age"), DataType::kInteger);
  EXPECT_EQ(type("n"), DataType::kLong);
  EXPECT_EQ(type("b"), DataType::kInteger);
  EXPECT_EQ(type("x"), DataType::kDouble);
  EXPECT_EQ(type("f"), DataType::kFloat);
  EXPECT_EQ(type("ok"), DataType::kBoolean);
  EXPECT_EQ(type("s"), DataType::kString);
  EXPECT_EQ(type("words"), DataType::kStringArray);
  EXPECT_EQ(type("nums"), DataType::kDoubleArray);
  EXPECT_EQ(type("features"), DataType::kVector);
  EXPECT_EQ(s->column(s->Find("features")).vector_size, 4);
  EXPECT_TRUE(s->column(s->Find("x")).is_input);
  auto missing = s->Require("nope", DataType::kDouble);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "nope"));
  EXPECT_EQ(*s->Require("x", DataType::kString), s->Find("x"));
}

TEST(SchemaTest, RejectsBadStructTypes) {
  EXPECT_FALSE(Schema::FromStructType("[]").ok());
  EXPECT_FALSE(Schema::FromStructType("{not json").ok());
  auto bad = Schema::FromStructType(R"({"type":"struct","fields":[{"name":"d","type":"date"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "'d'"));
  auto udt = Schema::FromStructType(
      R"({"type":"struct","fields":[{"name":"m","type":{"type":"udt","class":"org.apache.spark.ml.linalg.MatrixUDT"}}]})");
  EXPECT_FALSE(udt.ok());
}

TEST(SchemaTest, UndeclaredInputsOutputsScratchAndDrop) {
  Schema s;
  auto a = s.Require("a", DataType::kString);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(s.column(*a).type, DataType::kString);
  EXPECT_TRUE(s.column(*a).is_input);
  ColumnInfo o;
  o.name = "out";
  int out = s.AddOutput(o);
  int scratch = s.AddScratch();
  EXPECT_NE(scratch, out);
  EXPECT_EQ(s.VisibleColumns(), (std::vector<std::string>{"a", "out"}));
  int shadow = s.AddOutput(o);
  EXPECT_EQ(s.Find("out"), shadow);
  EXPECT_EQ(s.VisibleColumns(), (std::vector<std::string>{"a", "out"}));
  s.Drop("a");
  EXPECT_EQ(s.Find("a"), -1);
  EXPECT_EQ(s.VisibleColumns(), (std::vector<std::string>{"out"}));
  EXPECT_EQ(s.num_slots(), 4u);
}

// ---- artifact sources and metadata --------------------------------------

TEST(ArtifactTest, DirectoryAndZipsAtRootOrInOneFolder) {
  fs::path tmp = testing::TempDir("artifact");
  WriteNoDataPipeline(tmp / "dir");
  std::vector<std::pair<std::string, std::string>> files;
  for (auto& e : fs::recursive_directory_iterator(tmp / "dir"))
    if (e.is_regular_file()) files.emplace_back(fs::relative(e.path(), tmp / "dir").string(), ReadAll(e.path()));
  WriteZip(tmp / "root.zip", files);
  auto nested = files;
  for (auto& [n, _] : nested) n = "model/" + n;
  WriteZip(tmp / "folder.zip", nested);
  for (const char* name : {"dir", "root.zip", "folder.zip"}) {
    SCOPED_TRACE(name);
    auto src = ArtifactSource::Open((tmp / name).string());
    ASSERT_TRUE(src.ok()) << src.status();
    EXPECT_TRUE((*src)->Exists("metadata/part-00000"));
    EXPECT_TRUE((*src)->Exists("stages/1_va_1"));
    EXPECT_FALSE((*src)->Exists("stages/9_x"));
    EXPECT_EQ((*src)->List("stages"), (std::vector<std::string>{"0_its_2", "1_va_1"}));
    EXPECT_TRUE((*src)->List("nothing").empty());
    auto md = (*src)->Read("stages/1_va_1/metadata/part-00000");
    ASSERT_TRUE(md.ok());
    EXPECT_TRUE(absl::StrContains(*md, "VectorAssembler"));
    EXPECT_FALSE((*src)->Read("../etc/passwd").ok());
    EXPECT_FALSE((*src)->Read("stages/missing").ok());
    auto p = Pipeline::Load(std::move(*src));
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ((*p)->StageNames(), (std::vector<std::string>{"IndexToString its_2", "VectorAssembler va_1"}));
  }
  auto bytes = ArtifactSource::FromZipBytes(ReadAll(tmp / "folder.zip"));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_TRUE((*bytes)->Exists("stages/0_its_2/metadata/part-00000"));
  fs::remove_all(tmp);
}

TEST(ArtifactTest, RejectsTraversalGarbageAndZipsWithoutAPipeline) {
  fs::path tmp = testing::TempDir("artifact_bad");
  WriteZip(tmp / "evil.zip", {{"metadata/part-00000", "{}"}, {"../evil", "x"}});
  auto evil = ArtifactSource::Open((tmp / "evil.zip").string());
  ASSERT_FALSE(evil.ok());
  EXPECT_TRUE(absl::StrContains(evil.status().message(), "escapes"));
  WriteZip(tmp / "empty.zip", {{"readme.txt", "hi"}});
  auto empty = ArtifactSource::Open((tmp / "empty.zip").string());
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(absl::StrContains(empty.status().message(), "metadata/part-00000"));
  testing::WriteFile(tmp / "junk.bin", "not a zip");
  EXPECT_FALSE(ArtifactSource::Open((tmp / "junk.bin").string()).ok());
  EXPECT_FALSE(ArtifactSource::FromZipBytes("PK\x03\x04garbage").ok());
  EXPECT_FALSE(ArtifactSource::Open((tmp / "absent").string()).ok());
  fs::remove_all(tmp);
}

TEST(StageMetaTest, ParamMapOverridesDefaultsAndSpark24LacksDefaults) {
  fs::path tmp = testing::TempDir("meta");
  nlohmann::json j = {{"class", "org.apache.spark.ml.feature.StringIndexerModel"},
                      {"sparkVersion", "3.5.1"},
                      {"uid", "si_1"},
                      {"paramMap", {{"outputCol", "idx"}, {"inputCol", "s"}}},
                      {"defaultParamMap", {{"outputCol", "si_1__output"}, {"handleInvalid", "error"}}}};
  testing::WriteFile(tmp / "a" / "metadata" / "part-00000", j.dump() + "\n");
  nlohmann::json old = {{"class", "org.apache.spark.ml.feature.VectorAssembler"},
                        {"sparkVersion", "2.4.0"},
                        {"uid", "va"},
                        {"paramMap", {{"outputCol", "f"}, {"inputCols", {"x"}}}}};
  testing::WriteFile(tmp / "b" / "metadata" / "part-00000", old.dump());
  auto src = ArtifactSource::Open(tmp.string());
  ASSERT_TRUE(src.ok());
  auto m = ReadStageMeta(**src, "a");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->ShortClass(), "StringIndexerModel");
  EXPECT_EQ(m->spark_major, 3);
  EXPECT_EQ(m->spark_minor, 5);
  EXPECT_EQ(*m->Str("outputCol"), "idx");
  EXPECT_EQ(*m->Str("handleInvalid"), "error");
  EXPECT_EQ(m->StrOr("missing", "fb"), "fb");
  auto err = m->Num("inputCol");
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().message(), "StringIndexerModel si_1: param 'inputCol' is not a number");
  auto b = ReadStageMeta(**src, "b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->spark_major, 2);
  EXPECT_EQ(b->spark_minor, 4);
  EXPECT_EQ(*b->StrList("inputCols"), std::vector<std::string>{"x"});
  EXPECT_FALSE(b->Has("handleInvalid"));
  EXPECT_FALSE(ReadStageMeta(**src, "c").ok());
  fs::remove_all(tmp);
}

// ---- pipeline -----------------------------------------------------------

TEST(PipelineTest, UnsupportedStageNamesItsClass) {
  fs::path tmp = testing::TempDir("unsupported");
  testing::WriteFile(tmp / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.PipelineModel", "p", {{"stageUids", {"x_1"}}}));
  testing::WriteFile(tmp / "stages" / "0_x_1" / "metadata" / "part-00000",
                     MetaJson("org.example.FancyModel", "x_1", nlohmann::json::object()));
  auto p = Pipeline::Load(tmp.string());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "unsupported stage org.example.FancyModel");
  fs::remove_all(tmp);
}

TEST(PipelineTest, WrappersAndNestedPipelinesAreFlattened) {
  fs::path tmp = testing::TempDir("wrappers");
  testing::WriteFile(tmp / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.tuning.CrossValidatorModel", "cv",
                              {{"estimatorParamMaps", nlohmann::json::array()}}));
  // The embedded estimator is unfitted and must be ignored.
  testing::WriteFile(tmp / "estimator" / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.Pipeline", "est", nlohmann::json::object()));
  testing::WriteFile(tmp / "bestModel" / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.PipelineModel", "outer", {{"stageUids", {"inner", "va_1"}}}));
  WriteNoDataPipeline(tmp / "bestModel" / "stages" / "0_inner");
  testing::WriteFile(tmp / "bestModel" / "stages" / "1_va_1" / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.feature.VectorAssembler", "va_1",
                              {{"inputCols", {"features", "c"}}, {"outputCol", "all"}}));
  auto p = Pipeline::Load(tmp.string());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->StageNames(), (std::vector<std::string>{"IndexToString its_2", "VectorAssembler va_1",
                                                          "VectorAssembler va_1"}));
  const auto& pl = **p;
  auto row = pl.NewRow();
  pl.BeginRow(*row);
  ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex("y"), "1").ok());
  ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex("a"), "2").ok());
  ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex("b"), "0").ok());
  ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex("c"), "-3.5").ok());
  ASSERT_TRUE(pl.Run(*row).ok());
  EXPECT_EQ(pl.Get(*row, pl.Find("y_label")).str, "yes");
  const Vector& all = pl.Get(*row, pl.Find("all")).vec;
  EXPECT_EQ(all.size, 3);
  EXPECT_EQ(all.At(0), 2);
  EXPECT_EQ(all.At(1), 0);
  EXPECT_EQ(all.At(2), -3.5);
  std::vector<std::string> names;
  for (const auto& a : pl.schema().column(pl.Find("all")).attrs) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"features_a", "features_b", "c"}));
  fs::remove_all(tmp);
}

TEST(PipelineTest, PrunesStagesAndInputsNobodyNeeds) {
  fs::path tmp = testing::TempDir("prune");
  WriteNoDataPipeline(tmp);
  LoadOptions opts;
  opts.outputs = {"features"};
  auto p = Pipeline::Load(tmp.string(), opts);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->StageNames(), std::vector<std::string>{"VectorAssembler va_1"});
  ASSERT_EQ((*p)->inputs().size(), 2u);
  EXPECT_EQ((*p)->inputs()[0].name, "a");
  EXPECT_EQ((*p)->InputIndex("y"), -1);
  opts.outputs = {"y_label"};
  p = Pipeline::Load(tmp.string(), opts);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->StageNames(), std::vector<std::string>{"IndexToString its_2"});
  opts.outputs = {"nope"};
  p = Pipeline::Load(tmp.string(), opts);
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::StrContains(p.status().message(), "'nope'"));
  fs::remove_all(tmp);
}

// Spark 4 names its metadata files part-00000-<uuid>-c000.txt (next to a
// .crc file); a directory and a zip of it load like the older layout.
TEST(PipelineTest, LoadsSpark4MetadataFileNames) {
  fs::path tmp = testing::TempDir("spark4");
  WriteNoDataPipeline(tmp / "p");
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& e : fs::recursive_directory_iterator(tmp / "p")) {
    if (!e.is_regular_file()) continue;
    fs::path renamed = e.path().parent_path() / "part-00000-5c443949-842b-1f2b-70c4-06d5c90aeeb0-c000.txt";
    fs::rename(e.path(), renamed);
    testing::WriteFile(e.path().parent_path() / ".part-00000-5c443949-842b-1f2b-70c4-06d5c90aeeb0-c000.txt.crc", "crc");
    entries.push_back({fs::relative(renamed, tmp / "p").string(), ""});
  }
  for (auto& [name, content] : entries) {
    std::ifstream in(tmp / "p" / name);
    std::stringstream ss;
    ss << in.rdbuf();
    content = ss.str();
  }
  WriteZip(tmp / "p.zip", entries);
  for (const fs::path& where : {tmp / "p", tmp / "p.zip"}) {
    auto p = Pipeline::Load(where.string());
    ASSERT_TRUE(p.ok()) << where << ": " << p.status();
    EXPECT_EQ((*p)->StageNames().size(), 2u) << where;
  }
  fs::remove_all(tmp);
}

TEST(PipelineTest, SetInputParsesPerTypeWithClearErrors) {
  fs::path tmp = testing::TempDir("setinput");
  WriteNoDataPipeline(tmp);
  LoadOptions opts;
  opts.schema_json = R"({"type":"struct","fields":[{"name":"a","type":"integer"},{"name":"b","type":"boolean"},
    {"name":"y","type":"double"},{"name":"s","type":"string"}]})";
  auto p = Pipeline::Load(tmp.string(), opts);
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& pl = **p;
  auto row = pl.NewRow();
  pl.BeginRow(*row);
  const int a = pl.InputIndex("a"), b = pl.InputIndex("b"), y = pl.InputIndex("y");
  EXPECT_TRUE(pl.SetInput(*row, a, "42").ok());
  EXPECT_TRUE(pl.SetInput(*row, a, "7.0").ok());
  auto bad = pl.SetInput(*row, a, "7.5");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "column 'a': '7.5' is not a valid int");
  EXPECT_TRUE(pl.SetInput(*row, b, "true").ok());
  EXPECT_FALSE(pl.SetInput(*row, b, "maybe").ok());
  EXPECT_TRUE(pl.SetInput(*row, y, "NaN").ok());
  EXPECT_FALSE(pl.SetInput(*row, y, "").ok());
  EXPECT_FALSE(pl.SetInput(*row, y, "1x").ok());
  ASSERT_TRUE(pl.SetInput(*row, y, "1e0").ok());
  ASSERT_TRUE(pl.SetInput(*row, a, "3").ok());
  ASSERT_TRUE(pl.Run(*row).ok());
  EXPECT_EQ(pl.Get(*row, pl.Find("features")).vec.At(0), 3);
  EXPECT_EQ(pl.Get(*row, pl.Find("features")).vec.At(1), 1);
  EXPECT_EQ(pl.Get(*row, pl.Find("y_label")).str, "yes");
  // Null input: VectorAssembler with handleInvalid=error names the column.
  pl.SetNull(*row, a);
  auto st = pl.Run(*row);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "VectorAssembler va_1: column 'a' is null"));
  fs::remove_all(tmp);
}

TEST(PipelineTest, SetInputParsesVectorsAndArrays) {
  fs::path tmp = testing::TempDir("setvec");
  testing::WriteFile(tmp / "metadata" / "part-00000",
                     MetaJson("org.apache.spark.ml.feature.VectorAssembler", "va",
                              {{"inputCols", {"v", "x"}}, {"outputCol", "f"}}));
  LoadOptions opts;
  opts.schema_json = R"({"type":"struct","fields":[{"name":"x","type":"double"},
    {"name":"v","type":{"type":"udt","class":"org.apache.spark.ml.linalg.VectorUDT"}},
    {"name":"w","type":{"type":"array","elementType":"string"}}]})";
  opts.outputs = {"f", "w"};
  auto p = Pipeline::Load(tmp.string(), opts);
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& pl = **p;
  ASSERT_EQ(pl.inputs().size(), 3u);  // v, x read by the stage; w wanted as is
  auto row = pl.NewRow();
  pl.BeginRow(*row);
  const int v = pl.InputIndex("v"), x = pl.InputIndex("x"), w = pl.InputIndex("w");
  ASSERT_TRUE(pl.SetInput(*row, x, "5").ok());
  ASSERT_TRUE(pl.SetInput(*row, v, "(3,[0,2],[1.0,4.0])").ok());
  ASSERT_TRUE(pl.Run(*row).ok());
  const Vector& f = pl.Get(*row, pl.Find("f")).vec;
  EXPECT_EQ(f.size, 4);
  EXPECT_EQ(f.At(0), 1);
  EXPECT_EQ(f.At(1), 0);
  EXPECT_EQ(f.At(2), 4);
  EXPECT_EQ(f.At(3), 5);
  ASSERT_TRUE(pl.SetInput(*row, v, "[1.5, -2]").ok());
  ASSERT_TRUE(pl.Run(*row).ok());
  EXPECT_EQ(pl.Get(*row, pl.Find("f")).vec.size, 3);
  EXPECT_FALSE(pl.SetInput(*row, v, "(2,[5],[1.0])").ok());
  EXPECT_FALSE(pl.SetInput(*row, v, "1,2").ok());
  ASSERT_TRUE(pl.SetInput(*row, w, R"(["a","b"])").ok());
  EXPECT_EQ(pl.Get(*row, pl.Find("w")).strs, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(pl.SetInput(*row, w, "[1]").ok());
  fs::remove_all(tmp);
}

// ---- StringIndexer -------------------------------------------------------

constexpr const char* kIndexer = "org.apache.spark.ml.feature.StringIndexerModel";

TEST(StringIndexerTest, IndexesAndDescribesItsOutput) {
  auto b = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}, {"handleInvalid", "error"}},
                        {{"data", Labels({{"b", "a", "c"}})}}));
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  t.In("s").SetString("a");
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("idx").num, 1);
  t.In("s").SetString("c");
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("idx").num, 2);
  const ColumnInfo& out = t.schema.column(t.schema.Find("idx"));
  EXPECT_EQ(out.indexed_from, "s");
  ASSERT_EQ(out.attrs.size(), 1u);
  EXPECT_EQ(out.attrs[0].type, Attribute::Type::kNominal);
  EXPECT_EQ(out.attrs[0].values, (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(t.stage->reads, std::vector<int>{t.schema.Find("s")});
  EXPECT_EQ(t.stage->writes, std::vector<int>{t.schema.Find("idx")});
}

TEST(StringIndexerTest, HandleInvalidError) {
  auto b = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}, {"handleInvalid", "error"}},
                        {{"data", Labels({{"b", "a"}})}}));
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  t.In("s").SetString("zz");
  auto st = t.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "StringIndexerModel test_uid: column 's': unseen label 'zz'"))
      << st.message();
  t.In("s").SetNull();
  st = t.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "column 's' is null")) << st.message();
}

TEST(StringIndexerTest, HandleInvalidSkipFiltersTheRow) {
  auto b = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}, {"handleInvalid", "skip"}},
                        {{"data", Labels({{"b", "a"}})}}));
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  t.In("s").SetString("zz");
  ASSERT_TRUE(t.Run().ok());
  EXPECT_TRUE(t.row.filtered);
  EXPECT_TRUE(absl::StrContains(t.row.filter_reason, "unseen label"));
  t.In("s").SetNull();
  ASSERT_TRUE(t.Run().ok());
  EXPECT_TRUE(t.row.filtered);
  t.In("s").SetString("a");
  ASSERT_TRUE(t.Run().ok());
  EXPECT_FALSE(t.row.filtered);
  EXPECT_EQ(t.Out("idx").num, 1);
}

TEST(StringIndexerTest, HandleInvalidKeepUsesTheExtraIndex) {
  auto b = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}, {"handleInvalid", "keep"}},
                        {{"data", Labels({{"b", "a"}})}}));
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  t.In("s").SetString("zz");
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("idx").num, 2);
  t.In("s").SetNull();
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("idx").num, 2);
  EXPECT_EQ(t.schema.column(t.schema.Find("idx")).attrs[0].values,
            (std::vector<std::string>{"b", "a", "__unknown"}));
  EXPECT_FALSE(Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}, {"handleInvalid", "drop"}},
                            {{"data", Labels({{"b"}})}}))
                   .ok());
}

TEST(StringIndexerTest, NumericInputsMatchTheirStringCast) {
  auto schema = Schema::FromStructType(R"({"type":"struct","fields":[{"name":"n","type":"integer"},
    {"name":"x","type":"double"},{"name":"ok","type":"boolean"}]})");
  ASSERT_TRUE(schema.ok());
  auto b = Compile(Meta(kIndexer, {{"inputCols", {"n", "x", "ok"}}, {"outputCols", {"ni", "xi", "oki"}}},
                        {{"data", Labels({{"10", "3"}, {"2.5", "1.0", "1.0E-5"}, {"false", "true"}})}}),
                   *schema);
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  t.In("n").SetNumber(3);
  t.In("x").SetNumber(1e-5);
  t.In("ok").SetNumber(1);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("ni").num, 1);
  EXPECT_EQ(t.Out("xi").num, 2);
  EXPECT_EQ(t.Out("oki").num, 1);
  t.In("x").SetNumber(1);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("xi").num, 1);
  t.In("x").SetNumber(std::nan(""));
  EXPECT_FALSE(t.Run().ok());  // "NaN" is not a label here
  t.In("x").SetNumber(4);
  auto st = t.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "unseen label '4.0'")) << st.message();
}

TEST(StringIndexerTest, NaNAndNegativeZeroMatchTheirOwnLabels) {
  auto schema = Schema::FromStructType(R"({"type":"struct","fields":[{"name":"x","type":"double"}]})");
  auto b = Compile(Meta(kIndexer, {{"inputCol", "x"}, {"outputCol", "xi"}},
                        {{"data", Labels({{"0.0", "NaN", "-0.0"}})}}),
                   *schema);
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  for (auto [v, want] : std::vector<std::pair<double, double>>{{0.0, 0}, {std::nan(""), 1}, {-0.0, 2}}) {
    t.In("x").SetNumber(v);
    ASSERT_TRUE(t.Run().ok());
    EXPECT_EQ(t.Out("xi").num, want) << v;
  }
}

TEST(StringIndexerTest, Spark24LabelsLayoutAndAbsentDeclaredInput) {
  auto b = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}},
                        {{"data", testing::OneRow({{"labels", testing::StrList({"x", "y"})}})}}, "2.4.0"));
  ASSERT_TRUE(b.ok()) << b.status();
  (*b)->In("s").SetString("y");
  ASSERT_TRUE((*b)->Run().ok());
  EXPECT_EQ((*b)->Out("idx").num, 1);
  // A declared schema without the input: the indexer is skipped as in Spark.
  auto schema = Schema::FromStructType(R"({"type":"struct","fields":[{"name":"x","type":"double"}]})");
  auto skipped = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}}, {{"data", Labels({{"a"}})}}),
                         *schema);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ((*skipped)->schema.Find("idx"), -1);
  EXPECT_TRUE((*skipped)->stage->writes.empty());
  // Label lists must match the columns.
  EXPECT_FALSE(Compile(Meta(kIndexer, {{"inputCols", {"a", "b"}}, {"outputCols", {"c", "d"}}},
                            {{"data", Labels({{"a"}})}}))
                   .ok());
}

// ---- IndexToString ------------------------------------------------------

TEST(IndexToStringTest, LabelsFromParamOrFromTheNominalAttribute) {
  auto b = Compile(Meta(kIndexer, {{"inputCol", "s"}, {"outputCol", "idx"}}, {{"data", Labels({{"b", "a"}})}}));
  ASSERT_TRUE(b.ok());
  auto& t = **b;
  const StageFactory* f = StageRegistry::Default().Find("org.apache.spark.ml.feature.IndexToString");
  ASSERT_NE(f, nullptr);
  auto its = (*f)(Meta("org.apache.spark.ml.feature.IndexToString", {{"inputCol", "idx"}, {"outputCol", "back"}}),
                  t.schema);
  ASSERT_TRUE(its.ok()) << its.status();
  auto fixed = (*f)(Meta("org.apache.spark.ml.feature.IndexToString",
                         {{"inputCol", "idx"}, {"outputCol", "fixed"}, {"labels", {"x", "y"}}}),
                    t.schema);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  t.row.cells.resize(t.schema.num_slots());
  t.In("s").SetString("a");
  ASSERT_TRUE(t.Run().ok());
  ASSERT_TRUE((*its)->Apply(t.row).ok());
  ASSERT_TRUE((*fixed)->Apply(t.row).ok());
  EXPECT_EQ(t.Out("back").str, "a");
  EXPECT_EQ(t.Out("fixed").str, "y");
  t.row.cells[t.schema.Find("idx")].SetNumber(2);
  auto st = (*its)->Apply(t.row);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "IndexToString test_uid: column 'idx': unseen index 2.0"))
      << st.message();
  // Spark truncates the index like Java's (int) cast.
  t.row.cells[t.schema.Find("idx")].SetNumber(1.9);
  ASSERT_TRUE((*its)->Apply(t.row).ok());
  EXPECT_EQ(t.Out("back").str, "a");
  t.row.cells[t.schema.Find("idx")].SetNumber(-0.5);
  ASSERT_TRUE((*its)->Apply(t.row).ok());
  EXPECT_EQ(t.Out("back").str, "b");
  t.row.cells[t.schema.Find("idx")].SetNumber(-1);
  EXPECT_FALSE((*its)->Apply(t.row).ok());
  t.row.cells[t.schema.Find("idx")].SetNull();
  ASSERT_TRUE((*its)->Apply(t.row).ok());
  EXPECT_TRUE(t.Out("back").is_null());
  Schema plain;
  EXPECT_FALSE((*f)(Meta("org.apache.spark.ml.feature.IndexToString", {{"inputCol", "i"}, {"outputCol", "o"}}),
                    plain)
                   .ok());
}

// ---- VectorAssembler ----------------------------------------------------

constexpr const char* kAssembler = "org.apache.spark.ml.feature.VectorAssembler";

Schema AssemblerInputs() {
  auto s = Schema::FromStructType(R"({"type":"struct","fields":[{"name":"x","type":"double"},
    {"name":"n","type":"integer"},
    {"name":"v","type":{"type":"udt","class":"org.apache.spark.ml.linalg.VectorUDT"},"metadata":{"ml_attr":{"num_attrs":3}}},
    {"name":"u","type":{"type":"udt","class":"org.apache.spark.ml.linalg.VectorUDT"}}]})");
  return *s;
}

TEST(VectorAssemblerTest, ConcatenatesNumbersAndVectorsLikeSpark) {
  auto b = Compile(Meta(kAssembler, {{"inputCols", {"x", "v", "n"}}, {"outputCol", "f"}}), AssemblerInputs());
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  t.In("x").SetNumber(1.5);
  Vector& v = t.In("v").MutableVector();
  v.SetDense(3);
  v.values = {0, 2, 3};
  t.In("n").SetNumber(4);
  ASSERT_TRUE(t.Run().ok());
  const Vector& out = t.Out("f").vec;
  EXPECT_TRUE(out.dense);
  EXPECT_EQ(out.values, (std::vector<double>{1.5, 0, 2, 3, 4}));
  // Mostly zeros: Spark's compressed form is sparse.
  t.In("x").SetNumber(0);
  v.values = {0, 0, 0};
  ASSERT_TRUE(t.Run().ok());
  EXPECT_FALSE(t.Out("f").vec.dense);
  EXPECT_EQ(t.Out("f").vec.size, 5);
  EXPECT_EQ(t.Out("f").vec.indices, std::vector<int32_t>{4});
  EXPECT_EQ(t.Out("f").vec.values, std::vector<double>{4});
  const ColumnInfo& c = t.schema.column(t.schema.Find("f"));
  EXPECT_EQ(c.vector_size, 5);
  std::vector<std::string> names;
  for (const auto& a : c.attrs) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"x", "v_0", "v_1", "v_2", "n"}));
}

TEST(VectorAssemblerTest, HandleInvalidModes) {
  auto err = Compile(Meta(kAssembler, {{"inputCols", {"x", "v"}}, {"outputCol", "f"}}), AssemblerInputs());
  ASSERT_TRUE(err.ok()) << err.status();
  auto& e = **err;
  e.In("x").SetNumber(std::nan(""));
  e.In("v").MutableVector().SetDense(3);
  auto st = e.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "VectorAssembler test_uid: column 'x' is NaN")) << st.message();
  e.In("x").SetNumber(1);
  e.In("v").SetNull();
  st = e.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "column 'v' is null")) << st.message();

  auto skip = Compile(Meta(kAssembler, {{"inputCols", {"x", "v"}}, {"outputCol", "f"}, {"handleInvalid", "skip"}}),
                      AssemblerInputs());
  ASSERT_TRUE(skip.ok());
  (*skip)->In("x").SetNumber(std::nan(""));
  (*skip)->In("v").MutableVector().SetDense(3);
  ASSERT_TRUE((*skip)->Run().ok());
  EXPECT_TRUE((*skip)->row.filtered);
  (*skip)->In("x").SetNumber(2);
  ASSERT_TRUE((*skip)->Run().ok());
  EXPECT_FALSE((*skip)->row.filtered);

  auto keep = Compile(Meta(kAssembler, {{"inputCols", {"x", "v"}}, {"outputCol", "f"}, {"handleInvalid", "keep"}}),
                      AssemblerInputs());
  ASSERT_TRUE(keep.ok());
  auto& k = **keep;
  k.In("x").SetNull();
  k.In("v").SetNull();
  ASSERT_TRUE(k.Run().ok());
  const Vector& out = k.Out("f").vec;
  ASSERT_EQ(out.size, 4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(std::isnan(out.At(i)));
  // keep needs every vector size up front.
  auto unknown = Compile(Meta(kAssembler, {{"inputCols", {"u"}}, {"outputCol", "f"}, {"handleInvalid", "keep"}}),
                         AssemblerInputs());
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "'u'"));
  // Without keep an unknown size is taken from the row.
  auto any = Compile(Meta(kAssembler, {{"inputCols", {"u"}}, {"outputCol", "f"}}), AssemblerInputs());
  ASSERT_TRUE(any.ok());
  Vector& u = (*any)->In("u").MutableVector();
  u.SetSparse(6);
  u.indices = {5};
  u.values = {9};
  ASSERT_TRUE((*any)->Run().ok());
  EXPECT_EQ((*any)->Out("f").vec.size, 6);
  EXPECT_EQ((*any)->Out("f").vec.At(5), 9);
  EXPECT_TRUE((*any)->schema.column((*any)->schema.Find("f")).attrs.empty());
}

// ---- OneHotEncoder ------------------------------------------------------

constexpr const char* kOneHot = "org.apache.spark.ml.feature.OneHotEncoderModel";

// "idx" carries a nominal attribute a, b, c.
Schema NominalInput() {
  Schema s;
  ColumnInfo c;
  c.name = "idx";
  c.is_input = true;
  Attribute a;
  a.type = Attribute::Type::kNominal;
  a.values = {"a", "b", "c"};
  a.num_values = 3;
  c.attrs = {a};
  s.AddOutput(c);
  return s;
}

parquet::Table Sizes(std::vector<int64_t> sizes) {
  std::vector<parquet::Datum> items;
  for (auto n : sizes) items.push_back(testing::Int(n));
  return testing::OneRow({{"categorySizes", testing::List(std::move(items))}});
}

std::vector<std::string> AttrNames(const Built& b, const char* col) {
  std::vector<std::string> out;
  for (const auto& a : b.schema.column(b.schema.Find(col)).attrs) out.push_back(a.name);
  return out;
}

TEST(OneHotEncoderTest, DropLastAndErrorMode) {
  auto b = Compile(Meta(kOneHot, {{"inputCols", {"idx"}}, {"outputCols", {"oh"}}, {"dropLast", true},
                                  {"handleInvalid", "error"}},
                        {{"data", Sizes({3})}}),
                   NominalInput());
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  EXPECT_EQ(AttrNames(t, "oh"), (std::vector<std::string>{"a", "b"}));
  t.In("idx").SetNumber(1);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("oh").vec.size, 2);
  EXPECT_EQ(t.Out("oh").vec.indices, std::vector<int32_t>{1});
  t.In("idx").SetNumber(2);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("oh").vec.nnz(), 0);
  t.In("idx").SetNumber(3);
  auto st = t.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "OneHotEncoderModel test_uid: column 'idx': unseen value 3.0"))
      << st.message();
  t.In("idx").SetNumber(-1);
  EXPECT_FALSE(t.Run().ok());
  t.In("idx").SetNull();
  ASSERT_TRUE(t.Run().ok());
  EXPECT_TRUE(t.Out("oh").is_null());
}

TEST(OneHotEncoderTest, KeepModeWithAndWithoutDropLast) {
  auto keep_drop = Compile(Meta(kOneHot, {{"inputCol", "idx"}, {"outputCol", "oh"}, {"handleInvalid", "keep"}},
                                {{"data", Sizes({3})}}),
                           NominalInput());
  ASSERT_TRUE(keep_drop.ok()) << keep_drop.status();
  auto& a = **keep_drop;
  EXPECT_EQ(AttrNames(a, "oh"), (std::vector<std::string>{"a", "b", "c"}));
  a.In("idx").SetNumber(7);
  ASSERT_TRUE(a.Run().ok());
  EXPECT_EQ(a.Out("oh").vec.size, 3);
  EXPECT_EQ(a.Out("oh").vec.nnz(), 0);
  a.In("idx").SetNumber(2);
  ASSERT_TRUE(a.Run().ok());
  EXPECT_EQ(a.Out("oh").vec.indices, std::vector<int32_t>{2});

  auto keep_all = Compile(Meta(kOneHot, {{"inputCol", "idx"}, {"outputCol", "oh"}, {"handleInvalid", "keep"},
                                         {"dropLast", false}},
                               {{"data", Sizes({3})}}),
                          NominalInput());
  ASSERT_TRUE(keep_all.ok());
  auto& k = **keep_all;
  EXPECT_EQ(AttrNames(k, "oh"), (std::vector<std::string>{"a", "b", "c", "invalidValues"}));
  k.In("idx").SetNumber(-2);
  ASSERT_TRUE(k.Run().ok());
  EXPECT_EQ(k.Out("oh").vec.size, 4);
  EXPECT_EQ(k.Out("oh").vec.indices, std::vector<int32_t>{3});
}

TEST(OneHotEncoderTest, MultiColumnWithoutAttributesNamesByIndex) {
  auto b = Compile(Meta(kOneHot, {{"inputCols", {"p", "q"}}, {"outputCols", {"po", "qo"}}, {"dropLast", false}},
                        {{"data", Sizes({2, 4})}}));
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  EXPECT_EQ(AttrNames(t, "qo"), (std::vector<std::string>{"0", "1", "2", "3"}));
  auto keep = Compile(Meta(kOneHot, {{"inputCol", "p"}, {"outputCol", "po"}, {"dropLast", false},
                                     {"handleInvalid", "keep"}},
                           {{"data", Sizes({2})}}));
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_EQ(AttrNames(**keep, "po"), (std::vector<std::string>{"0", "1", "invalidValues"}));
  t.In("p").SetNumber(1);
  t.In("q").SetNumber(3);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("po").vec.size, 2);
  EXPECT_EQ(t.Out("qo").vec.indices, std::vector<int32_t>{3});
  EXPECT_FALSE(Compile(Meta(kOneHot, {{"inputCols", {"p"}}, {"outputCols", {"po"}}}, {{"data", Sizes({2, 4})}})).ok());
  EXPECT_FALSE(Compile(Meta(kOneHot, {{"inputCols", {"p"}}, {"outputCols", {"po"}}, {"handleInvalid", "skip"}},
                            {{"data", Sizes({2})}}))
                   .ok());
}

TEST(OneHotEncoderTest, Spark2TransformerUsesTheNominalAttribute) {
  auto b = Compile(Meta("org.apache.spark.ml.feature.OneHotEncoder", {{"inputCol", "idx"}, {"outputCol", "oh"}},
                        {}, "2.4.0"),
                   NominalInput());
  ASSERT_TRUE(b.ok()) << b.status();
  auto& t = **b;
  EXPECT_EQ(AttrNames(t, "oh"), (std::vector<std::string>{"a", "b"}));
  t.In("idx").SetNumber(0);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("oh").vec.indices, std::vector<int32_t>{0});
  t.In("idx").SetNumber(2);
  ASSERT_TRUE(t.Run().ok());
  EXPECT_EQ(t.Out("oh").vec.nnz(), 0);
  auto no_attr = Compile(Meta("org.apache.spark.ml.feature.OneHotEncoder", {{"inputCol", "z"}, {"outputCol", "oh"}},
                              {}, "2.4.0"));
  EXPECT_FALSE(no_attr.ok());
}

// ---- ColumnPruner, VectorAttributeRewriter --------------------------------

TEST(RFormulaHelpersTest, PrunerHidesColumnsAndRewriterRenamesAttributes) {
  Schema s = AssemblerInputs();
  auto va = Compile(Meta(kAssembler, {{"inputCols", {"x", "v"}}, {"outputCol", "features"}}), s);
  ASSERT_TRUE(va.ok());
  auto& t = **va;
  parquet::Datum map = testing::List({testing::Struct({testing::Str("v_"), testing::Str("vec:")}),
                                      testing::Struct({testing::Str("x"), testing::Str("X")})});
  const StageFactory* rw = StageRegistry::Default().Find("org.apache.spark.ml.feature.VectorAttributeRewriter");
  ASSERT_NE(rw, nullptr);
  auto r = (*rw)(Meta("org.apache.spark.ml.feature.VectorAttributeRewriter", nlohmann::json::object(),
                      {{"data", testing::OneRow({{"vectorCol", testing::Str("features")},
                                                 {"prefixesToRewrite", map}})}}),
                 t.schema);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(AttrNames(t, "features"), (std::vector<std::string>{"X", "vec:0", "vec:1", "vec:2"}));
  const StageFactory* cp = StageRegistry::Default().Find("org.apache.spark.ml.feature.ColumnPruner");
  auto p = (*cp)(Meta("org.apache.spark.ml.feature.ColumnPruner", nlohmann::json::object(),
                      {{"data", testing::OneRow({{"columnsToPrune", testing::StrList({"x", "v"})}})}}),
                 t.schema);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(t.schema.Find("x"), -1);
  EXPECT_EQ(t.schema.VisibleColumns(), (std::vector<std::string>{"n", "u", "features"}));
}

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

// Serving only the prediction drops the label indexer and the label input.
TEST(SparkCoreCorpusTest, ConventionsOutputsPruneTheLabelIndexer) {
  fs::path dir = testing::SparkCorpus("spark-3.5");
  if (dir.empty()) GTEST_SKIP() << "corpus absent";
  LoadOptions opts;
  opts.conventions_outputs = true;
  opts.outputs = {"prediction"};
  auto p = Pipeline::Load((dir / "pipeline" / "LogisticRegressionIris.zip").string(), opts);
  if (!p.ok() && absl::StrContains(p.status().message(), "unsupported stage")) GTEST_SKIP() << p.status();
  ASSERT_TRUE(p.ok()) << p.status();
  for (const auto& n : (*p)->StageNames()) EXPECT_FALSE(absl::StrContains(n, "StringIndexer")) << n;
  EXPECT_EQ((*p)->InputIndex("Species"), -1);
  EXPECT_EQ((*p)->inputs().size(), 4u);
  EXPECT_EQ((*p)->conventions().label_name, "Species");
  EXPECT_EQ((*p)->conventions().labels, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
}

// A binomial GLM on an indexed label is presented as a classifier, and a
// classifier on a numeric label without an indexer gets the class numbers.
TEST(SparkCoreCorpusTest, ConventionsForGlmBinomialAndNumericLabels) {
  fs::path dir = testing::SparkCorpus("spark-3.5");
  if (dir.empty()) GTEST_SKIP() << "corpus absent";
  LoadOptions opts;
  opts.conventions_outputs = true;
  opts.schema_json = ReadAll(dir / "schema" / "Audit.json");  // Adjusted is an integer
  auto glm = Pipeline::Load((dir / "pipeline" / "GLMAudit.zip").string(), opts);
  auto lr = Pipeline::Load((dir / "pipeline" / "LogisticRegressionAudit.zip").string(), opts);
  for (auto* p : {&glm, &lr})
    if (!p->ok() && absl::StrContains(p->status().message(), "unsupported stage")) GTEST_SKIP() << p->status();
  ASSERT_TRUE(glm.ok()) << glm.status();
  const Conventions& g = (*glm)->conventions();
  EXPECT_EQ(g.kind, PredictorInfo::Kind::kClassification);
  EXPECT_TRUE(g.probability_from_prediction);
  EXPECT_EQ(g.label_name, "Adjusted");
  EXPECT_EQ(g.labels, (std::vector<std::string>{"0", "1"}));
  EXPECT_GE(g.prediction_slot, 0);
  ASSERT_TRUE(lr.ok()) << lr.status();
  const Conventions& l = (*lr)->conventions();
  EXPECT_FALSE(l.probability_from_prediction);
  EXPECT_EQ(l.label_name, "Adjusted");
  EXPECT_EQ(l.labels, (std::vector<std::string>{"0", "1"}));
  EXPECT_GE(l.probability_slot, 0);
}

// Spark 2.4: "labels" layout, handleInvalid=keep and the OneHotEncoder
// transformer sized by the indexer's nominal attribute (7 labels + unknown).
TEST(SparkCoreCorpusTest, Spark24IndexerKeepAndLegacyOneHot) {
  fs::path dir = testing::SparkCorpus("spark-2.4.0");
  if (dir.empty()) GTEST_SKIP() << "corpus absent";
  LoadOptions opts;
  opts.outputs = {"employmentClassVector"};
  auto p = Pipeline::Load((dir / "pipeline" / "GLMAudit.zip").string(), opts);
  if (!p.ok() && absl::StrContains(p.status().message(), "unsupported stage")) GTEST_SKIP() << p.status();
  ASSERT_TRUE(p.ok()) << p.status();
  const auto& pl = **p;
  ASSERT_EQ(pl.inputs().size(), 1u);
  const int out = pl.Find("employmentClassVector");
  std::vector<std::string> names;
  for (const auto& a : pl.schema().column(out).attrs) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Private", "Consultant", "PSLocal", "SelfEmp", "PSState", "PSFederal",
                                             "Volunteer", "__unknown"}));
  auto row = pl.NewRow();
  for (auto [text, index] : std::vector<std::pair<std::string, int>>{{"PSLocal", 2}, {"Martian", 7}}) {
    pl.BeginRow(*row);
    ASSERT_TRUE(pl.SetInput(*row, pl.InputIndex("Employment"), text).ok());
    ASSERT_TRUE(pl.Run(*row).ok());
    const Vector& v = pl.Get(*row, out).vec;
    EXPECT_EQ(v.size, 8);
    EXPECT_EQ(v.indices, std::vector<int32_t>{index}) << text;
  }
}

// Every corpus pipeline either loads or names the stage it cannot load.
TEST(SparkCoreCorpusTest, EveryPipelineLoadsOrNamesAnUnsupportedStage) {
  fs::path corpus = testing::CorpusDir();
  fs::path root = corpus.empty() ? fs::path() : corpus / "sparkml" / "jpmml-sparkml";
  if (root.empty() || !fs::is_directory(root)) GTEST_SKIP() << "corpus absent";
  int loaded = 0, unsupported = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".zip") continue;
    auto p = Pipeline::Load(e.path().string());
    if (p.ok()) {
      ++loaded;
      continue;
    }
    EXPECT_TRUE(absl::StartsWith(p.status().message(), "unsupported stage "))
        << e.path() << ": " << p.status();
    ++unsupported;
  }
  EXPECT_GT(loaded + unsupported, 0);
  std::cout << "corpus pipelines: " << loaded << " load, " << unsupported << " unsupported\n";
}

}  // namespace
}  // namespace evs::spark
