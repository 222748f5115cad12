#pragma once

// Test helper for stage factories: a StageMeta built from a params JSON and
// in-memory data tables (no files, no Parquet), and small table builders.

#include <map>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace evs::spark::testing
