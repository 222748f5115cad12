#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "spark/types.h"

namespace evs::spark {

// What a predictor stage (a model) adds, noted by its factory so that the
// pipeline can present Spark's outputs under the corpus conventions (label
// string, probability(<label>), regression prediction named after the label,
// cluster id). The last predictor noted wins (model chains end with it).
struct PredictorInfo {
  enum class Kind : uint8_t { kClassification, kRegression, kClustering };
  Kind kind = Kind::kRegression;
  std::string stage_class;     // "org.apache.spark.ml.classification.LogisticRegressionModel"
  std::string label_col;       // labelCol param ("" when the model has none)
  int num_classes = 0;         // classification
  int prediction_slot = -1;    // predictionCol output (-1 when not produced)
  int probability_slot = -1;   // probabilityCol output
  int raw_prediction_slot = -1;
};

// Compile-time table of columns. Each column lives in one slot of the Row;
// a name maps to its newest slot (a later stage may shadow a name, and
// ColumnPruner/RFormula may drop names). Stage factories resolve their inputs
// with Require/Find and add their outputs with AddOutput.
class Schema {
 public:
  // Input columns either come from a declared Spark StructType (then a column
  // that is not declared is an error) or are created on first use with the
  // type the stage asks for.
  Schema() = default;
  // `struct_type_json` is a Spark StructType as JSON ({"type":"struct",
  // "fields":[{"name":..,"type":"double",..},..]}); vector fields use the
  // VectorUDT form Spark writes.
  static absl::StatusOr<Schema> FromStructType(std::string_view struct_type_json);

  // Slot of the newest column with this name, or -1.
  int Find(std::string_view name) const;
  // Slot of an existing column, or a new input column of type `wanted` when
  // the schema is not declared. Error names the column when the schema is
  // declared and has no such column.
  absl::StatusOr<int> Require(std::string_view name, DataType wanted);
  // Adds a stage output column; it becomes the newest column with its name.
  int AddOutput(ColumnInfo info);
  // A hidden per-row cell a stage may use as scratch space (not a column).
  int AddScratch();
  // Hides a name (ColumnPruner, RFormula's temporary columns); the slot stays.
  void Drop(std::string_view name);

  const ColumnInfo& column(int slot) const { return columns_[slot]; }
  ColumnInfo& mutable_column(int slot) { return columns_[slot]; }
  size_t num_slots() const { return columns_.size(); }
  // Visible column names in creation order (what Spark's transform returns).
  std::vector<std::string> VisibleColumns() const;
  bool declared() const { return declared_; }

  void NotePredictor(PredictorInfo p) { predictor_ = std::move(p); }
  const std::optional<PredictorInfo>& predictor() const { return predictor_; }

 private:
  std::vector<ColumnInfo> columns_;  // by slot; scratch slots have an empty name
  absl::flat_hash_map<std::string, int> by_name_;
  std::vector<ColumnInfo> declared_inputs_;
  bool declared_ = false;
  std::optional<PredictorInfo> predictor_;
};

}  // namespace evs::spark
