#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "parquet/parquet.h"

// Runtime values of the native Spark MLlib pipeline evaluator: the cells of
// one row as the stages read and write them, and the compile-time column
// description (Spark's DataType plus its ML attribute metadata).
//
// Allocation contract: a Row is reused across records (Pipeline::NewRow once
// per thread); stages overwrite cells in place with clear()/assign(), so the
// vectors and strings keep their capacity and a steady stream of numeric
// rows allocates nothing.

namespace evs::spark {

// Spark SQL types the evaluator knows. Integer-like types keep their kind
// because it changes string casts (1 vs 1.0) and output formatting.
enum class DataType : uint8_t {
  kBoolean,
  kInteger,      // IntegerType, ShortType, ByteType
  kLong,
  kFloat,
  kDouble,
  kString,
  kVector,       // org.apache.spark.ml.linalg.VectorUDT
  kStringArray,  // ArrayType(StringType)
  kDoubleArray,  // ArrayType(DoubleType)
};
std::string_view DataTypeName(DataType t);  // Spark's simpleString: "double", "vector", ...
bool IsNumeric(DataType t);                 // boolean counts as numeric (0/1)

// A Spark ML vector. Dense: indices empty, values.size() == size. Sparse:
// indices sorted ascending, values parallel to indices.
struct Vector {
  int32_t size = 0;
  bool dense = true;
  std::vector<int32_t> indices;
  std::vector<double> values;

  double At(int32_t i) const;            // 0 for an absent sparse index
  void SetDense(int32_t n);              // dense, n zeros (keeps capacity)
  void SetSparse(int32_t n);             // sparse, empty (keeps capacity)
  int32_t nnz() const { return static_cast<int32_t>(values.size()); }
  // Calls f(index, value) for every stored entry (all entries when dense).
  template <typename F>
  void ForEach(F&& f) const {
    if (dense) {
      for (int32_t i = 0; i < size; ++i) f(i, values[i]);
    } else {
      for (size_t k = 0; k < indices.size(); ++k) f(indices[k], values[k]);
    }
  }
};

// A dense matrix, row-major (decoded from Spark's MatrixUDT, which may be
// column-major, transposed or sparse on disk).
struct DenseMatrix {
  int32_t rows = 0, cols = 0;
  std::vector<double> values;  // rows * cols
  double at(int32_t r, int32_t c) const { return values[static_cast<size_t>(r) * cols + c]; }
};

// Decoders for the UDT structs Spark writes in model data.
// Vector: {type: tinyint (0 sparse, 1 dense), size, indices, values}.
absl::StatusOr<Vector> DecodeVector(const parquet::Datum& d);
// Matrix: {type, numRows, numCols, colPtrs, rowIndices, values, isTransposed}.
absl::StatusOr<DenseMatrix> DecodeMatrix(const parquet::Datum& d);

// One cell of a row.
struct Cell {
  enum class Kind : uint8_t { kNull, kNumber, kString, kVector, kStrings, kNumbers };
  Kind kind = Kind::kNull;
  double num = 0;                 // kNumber (booleans 0/1, integers exact)
  std::string str;                // kString
  Vector vec;                     // kVector
  std::vector<std::string> strs;  // kStrings (ArrayType(StringType))
  std::vector<double> nums;       // kNumbers (ArrayType(DoubleType))

  bool is_null() const { return kind == Kind::kNull; }
  void SetNull() { kind = Kind::kNull; }
  void SetNumber(double v) { kind = Kind::kNumber; num = v; }
  void SetString(std::string_view s) { kind = Kind::kString; str.assign(s.data(), s.size()); }
  Vector& MutableVector() { kind = Kind::kVector; return vec; }
  std::vector<std::string>& MutableStrings() { kind = Kind::kStrings; return strs; }
};

// Spark's ML attribute of a scalar column or of one vector element
// (org.apache.spark.ml.attribute): nominal with values (StringIndexer
// output, one-hot groups), binary, or numeric. Stages that encode categories
// (OneHotEncoder 2.x, Interaction, VectorIndexer, RFormula) and the output
// conventions (label strings) read them.
struct Attribute {
  enum class Type : uint8_t { kUnresolved, kNumeric, kNominal, kBinary };
  Type type = Type::kUnresolved;
  std::string name;                 // element name ("Age", "Employment_Private")
  int num_values = -1;              // nominal: number of categories when known
  std::vector<std::string> values;  // nominal: category labels (index order)
};

// What the compiler knows of a column.
struct ColumnInfo {
  std::string name;
  DataType type = DataType::kDouble;
  bool is_input = false;      // a raw input column, not produced by a stage
  int32_t vector_size = -1;   // kVector: element count when known
  // Scalar columns: empty or one attribute. Vector columns: empty (unknown)
  // or one attribute per element.
  std::vector<Attribute> attrs;
  // The column a StringIndexer (or RFormula's label indexer) read to make
  // this one; lets the output conventions name the label column.
  std::string indexed_from;
};

// The cells of one record, indexed by the slots the Schema hands out.
// `filtered` is set by a stage whose handleInvalid is "skip" when Spark
// would drop the row; the pipeline stops there.
struct Row {
  std::vector<Cell> cells;
  bool filtered = false;
  std::string filter_reason;
};

// Spark's string cast of a number (Cast to StringType): integers as "3",
// doubles as Java's Double.toString ("1.0", "1.0E-5", "NaN", "Infinity").
std::string JavaDoubleToString(double v);
std::string CastToString(const Cell& c, DataType type);

}  // namespace evs::spark
