#pragma once

// Test helper for stage factories: a StageMeta built from a params JSON and
// in-memory data tables (no files, no Parquet), and small table builders.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "nlohmann/json.hpp"
#include "parquet/parquet.h"
#include "spark/stage.h"

namespace evs::spark::testing {

// meta = Meta("org.apache.spark.ml.feature.StringIndexerModel",
//             {{"inputCol","Species"},{"outputCol","idx"}}, {{"data", table}});
inline StageMeta Meta(std::string class_name, nlohmann::json params,
                      std::map<std::string, parquet::Table> data = {},
                      std::string spark_version = "3.5.0", nlohmann::json extra = {}) {
  StageMeta m;
  m.class_name = std::move(class_name);
  m.uid = "test_uid";
  m.spark_version = spark_version;
  m.spark_major = spark_version[0] - '0';
  m.spark_minor = spark_version.size() > 2 ? spark_version[2] - '0' : 0;
  m.params = std::move(params);
  m.raw = extra.is_null() ? nlohmann::json::object() : std::move(extra);
  m.raw["class"] = m.class_name;
  m.raw["paramMap"] = m.params;
  auto tables = std::make_shared<std::map<std::string, parquet::Table>>(std::move(data));
  m.data_override = [tables](std::string_view sub) -> absl::StatusOr<parquet::Table> {
    auto it = tables->find(std::string(sub));
    if (it == tables->end()) return absl::NotFoundError("no test table " + std::string(sub));
    return it->second;
  };
  return m;
}

// Datum builders.
inline parquet::Datum Num(double v) { parquet::Datum d; d.kind = parquet::Datum::Kind::kDouble; d.d = v; return d; }
inline parquet::Datum Int(int64_t v) { parquet::Datum d; d.kind = parquet::Datum::Kind::kInt; d.i = v; return d; }
inline parquet::Datum Str(std::string v) { parquet::Datum d; d.kind = parquet::Datum::Kind::kBytes; d.bytes = std::move(v); return d; }
inline parquet::Datum Bool(bool v) { parquet::Datum d; d.kind = parquet::Datum::Kind::kBool; d.b = v; return d; }
inline parquet::Datum List(std::vector<parquet::Datum> items) { parquet::Datum d; d.kind = parquet::Datum::Kind::kList; d.items = std::move(items); return d; }
inline parquet::Datum Struct(std::vector<parquet::Datum> items) { parquet::Datum d; d.kind = parquet::Datum::Kind::kStruct; d.items = std::move(items); return d; }
inline parquet::Datum NumList(const std::vector<double>& v) { std::vector<parquet::Datum> it; for (double x : v) it.push_back(Num(x)); return List(std::move(it)); }
inline parquet::Datum StrList(const std::vector<std::string>& v) { std::vector<parquet::Datum> it; for (const auto& x : v) it.push_back(Str(x)); return List(std::move(it)); }
// Spark's VectorUDT struct {type, size, indices, values}: dense.
inline parquet::Datum DenseVec(const std::vector<double>& v) {
  parquet::Datum size; size.kind = parquet::Datum::Kind::kNull;
  parquet::Datum indices; indices.kind = parquet::Datum::Kind::kNull;
  return Struct({Int(1), size, indices, NumList(v)});
}
// Spark's MatrixUDT struct {type, numRows, numCols, colPtrs, rowIndices, values, isTransposed}: dense, row-major given.
inline parquet::Datum DenseMat(int rows, int cols, const std::vector<double>& row_major) {
  parquet::Datum null; null.kind = parquet::Datum::Kind::kNull;
  return Struct({Int(1), Int(rows), Int(cols), null, null, NumList(row_major), Bool(true)});
}

// A one-row table with the given top-level columns.
inline parquet::Table OneRow(std::vector<std::pair<std::string, parquet::Datum>> cols) {
  parquet::Table t;
  t.schema.kind = parquet::SchemaNode::Kind::kStruct;
  parquet::Datum row = Struct({});
  for (auto& [name, d] : cols) {
    parquet::SchemaNode n;
    n.name = name;
    n.kind = d.kind == parquet::Datum::Kind::kList     ? parquet::SchemaNode::Kind::kList
             : d.kind == parquet::Datum::Kind::kStruct ? parquet::SchemaNode::Kind::kStruct
             : d.kind == parquet::Datum::Kind::kBytes  ? parquet::SchemaNode::Kind::kBinary
             : d.kind == parquet::Datum::Kind::kInt    ? parquet::SchemaNode::Kind::kInt
             : d.kind == parquet::Datum::Kind::kBool   ? parquet::SchemaNode::Kind::kBool
                                                       : parquet::SchemaNode::Kind::kDouble;
    n.is_string = d.kind == parquet::Datum::Kind::kBytes;
    t.schema.children.push_back(std::move(n));
    row.items.push_back(std::move(d));
  }
  t.rows.push_back(std::move(row));
  return t;
}

// The shared corpus ($EVS_CORPUS, else ../shared/corpus or shared/corpus
// walking up from the cwd); empty when absent. Tests that need it skip.
inline std::filesystem::path CorpusDir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("EVS_CORPUS"); env != nullptr && *env != '\0') return env;
  for (fs::path p = fs::current_path(); !p.empty(); p = p.parent_path()) {
    for (fs::path c : {p / ".." / "shared" / "corpus", p / "shared" / "corpus"}) {
      std::error_code ec;
      if (fs::is_directory(c, ec)) return fs::canonical(c);
    }
    if (p == p.parent_path()) break;
  }
  return {};
}
// <corpus>/sparkml/jpmml-sparkml/<version> ("spark-3.5"), empty when absent.
inline std::filesystem::path SparkCorpus(const std::string& version) {
  auto c = CorpusDir();
  if (c.empty()) return {};
  auto d = c / "sparkml" / "jpmml-sparkml" / version;
  std::error_code ec;
  return std::filesystem::is_directory(d, ec) ? d : std::filesystem::path();
}

// A small CSV reader for corpus files: header + rows; a quote opens a quoted
// field only at the start of a field (Sentiment.csv has bare quotes inside text).
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int Col(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  }
};
inline Csv ReadCsv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  Csv csv;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  auto end_row = [&]() {
    row.push_back(field);
    field.clear();
    if (csv.header.empty()) csv.header = std::move(row);
    else csv.rows.push_back(std::move(row));
    row.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') { field.push_back('"'); ++i; }
      else if (ch == '"') quoted = false;
      else field.push_back(ch);
      continue;
    }
    if (ch == '"' && field.empty()) { quoted = true; any = true; }  // quotes open a field only at its start
    else if (ch == ',') { row.push_back(field); field.clear(); any = true; }
    else if (ch == '\n') end_row();
    else if (ch != '\r') { field.push_back(ch); any = true; }
  }
  if (any || !field.empty()) end_row();
  return csv;
}

// Writes a file, creating its parent directories.
inline void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// A fresh temporary directory for one test.
inline std::filesystem::path TempDir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() /
           ("evs_spark_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace evs::spark::testing
