#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

// A focused Parquet reader for what Spark's model writers produce: the model
// data of a saved PipelineModel stage (tree nodes, coefficients, vectors,
// matrices, label arrays, category maps). Not a general Parquet library.
//
//   ASSIGN_OR_RETURN(parquet::Table t, parquet::ReadBytes(file_bytes));
//   int c = t.ColumnIndex("labelsArray");
//   const parquet::Datum& labels = t.rows[0].items[c];   // a list of lists
//
// Supported: Thrift compact footer; data pages v1 and v2 and dictionary pages;
// PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY, RLE (levels and booleans) and the
// RLE/bit-packed hybrid; definition and repetition levels for nested structs,
// 3-level and legacy 2-level lists and maps; UNCOMPRESSED, SNAPPY, GZIP and
// ZSTD pages; several row groups. Anything else is an error naming what was
// found (encoding, codec, physical type, file offset). Whole files are held in
// memory: model data is small, and the caps in ReadOptions bound the work.
//
// Values are a row-major tree (Datum). That is slower than columnar access
// and deliberate: model data is read once at load time, and stage loaders
// read it by field name without caring about the physical layout.

namespace evs::parquet {

// Logical schema node.
struct SchemaNode {
  enum class Kind : uint8_t {
    kBool,    // BOOLEAN
    kInt,     // INT32 / INT64 (any integer annotation, incl. Spark's ByteType)
    kFloat,   // FLOAT (value widened to double in Datum)
    kDouble,  // DOUBLE
    kBinary,  // BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY; is_string when UTF8/STRING
    kStruct,  // group: children are the fields
    kList,    // LIST (3-level or legacy 2-level): one child, the element
    kMap,     // MAP: two children, key and value
  };
  std::string name;
  Kind kind = Kind::kStruct;
  bool optional = true;  // nullable (OPTIONAL), false for REQUIRED
  bool is_string = false;
  std::vector<SchemaNode> children;

  // Index of the child with this name, -1 when there is none.
  int Child(std::string_view child_name) const;
};

// One decoded value. Lists hold their elements in `items`; structs hold one
// item per schema child, in schema order; maps hold one kStruct item per
// entry with two items (key, value). FLOAT and DOUBLE land in `d`, every
// integer type in `i`, BYTE_ARRAY in `bytes`.
struct Datum {
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kBytes, kList, kStruct };
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string bytes;
  std::vector<Datum> items;

  bool is_null() const { return kind == Kind::kNull; }
  // kInt or kDouble as a double; kBool as 0/1; error otherwise.
  absl::StatusOr<double> AsDouble() const;
  absl::StatusOr<int64_t> AsInt() const;
};

struct Table {
  SchemaNode schema;        // the root: kStruct, one child per top-level column
  std::vector<Datum> rows;  // each a kStruct with one item per top-level column

  size_t num_rows() const { return rows.size(); }
  // Index of a top-level column, -1 when there is none.
  int ColumnIndex(std::string_view name) const { return schema.Child(name); }
};

struct ReadOptions {
  size_t max_file_bytes = size_t{1} << 30;      // 1 GiB
  size_t max_rows = size_t{50} * 1000 * 1000;   // across all row groups
  size_t max_nesting = 32;                      // schema depth
  size_t max_page_bytes = size_t{512} << 20;    // one uncompressed page
};

// Decodes one Parquet file held in memory. The error names the offset or the
// column and what was wrong ("column 'split.leftCategoriesOrThreshold': page
// encoding DELTA_BINARY_PACKED not supported").
absl::StatusOr<Table> ReadBytes(std::string_view file, const ReadOptions& opts = {});

// Decodes several part files of one dataset (Spark writes part-0000N-*.parquet)
// and concatenates their rows in the given order. Every part must have the
// same schema.
absl::StatusOr<Table> ReadParts(const std::vector<std::string_view>& files,
                                const ReadOptions& opts = {});

// Reads a file from disk (size checked before reading) and decodes it.
absl::StatusOr<Table> ReadFile(const std::string& path, const ReadOptions& opts = {});

// Debug/test aid: the table as JSON lines (one object per row; bytes as
// strings when is_string, else base64-free hex "0x.."; NaN/Inf as strings).
std::string ToJsonLines(const Table& t);

}  // namespace evs::parquet
