#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spark/schema.h"
#include "spark/stage.h"
#include "spark/types.h"

// The public face of the native Spark MLlib evaluator.
//
//   ASSIGN_OR_RETURN(auto p, spark::Pipeline::Load("model_dir_or.zip", {}));
//   auto row = p->NewRow();                      // one per thread, reused
//   p->BeginRow(*row);
//   p->SetInput(*row, p->InputIndex("text"), "great phone");
//   RETURN_IF_ERROR(p->Run(*row));               // row->filtered: Spark drops it
//   const spark::Cell& y = p->Get(*row, p->Find("prediction"));
//
// Load reads the PipelineModel directory (or zip) written by Spark 2.4 to
// 4.x, compiles every stage against a column schema, and prunes stages whose
// outputs are not wanted. A Pipeline is immutable; Run may be called from
// many threads at once, each with its own Row.

namespace evs::spark {

struct LoadOptions {
  // Spark StructType JSON for the input columns. Empty: input columns are
  // created with the types the stages ask for (strings for indexers and
  // tokenizers, doubles for numeric stages).
  std::string schema_json;
  // Columns the caller will read. Empty: every column (Spark's transform).
  // Stages that feed none of them are dropped, and so are the inputs only
  // they read: a serving pipeline does not need the label column that the
  // training-time label indexer reads.
  std::vector<std::string> outputs;
  // Add the conventions' columns (label/prediction/probability) to `outputs`.
  bool conventions_outputs = false;
};

// How the corpus (../shared/corpus/MANIFEST.md) and `evserve score` present a
// pipeline's result, derived from the last predictor and its label indexer.
struct Conventions {
  PredictorInfo::Kind kind = PredictorInfo::Kind::kRegression;
  bool has_predictor = false;
  // Classification: the label column name (the column the label indexer
  // read, e.g. "Species") and the label strings by prediction index.
  // Regression: the label column name. Clustering: "cluster".
  std::string label_name;
  std::vector<std::string> labels;
  int prediction_slot = -1;
  int probability_slot = -1;
  // A binomial GLM whose label was indexed (two nominal labels) is presented
  // as a classifier: its prediction is P(labels[1]), so probability(labels[0])
  // is 1 - prediction and the label is labels[prediction > 0.5 ? 1 : 0].
  // kind is kClassification and probability_slot is -1 then.
  bool probability_from_prediction = false;
};

class Pipeline {
 public:
  static absl::StatusOr<std::unique_ptr<Pipeline>> Load(const std::string& path,
                                                        const LoadOptions& opts = {});
  static absl::StatusOr<std::unique_ptr<Pipeline>> Load(std::unique_ptr<ArtifactSource> src,
                                                        const LoadOptions& opts = {});
  ~Pipeline();

  // Raw input columns the kept stages read (after pruning), in first-use order.
  const std::vector<ColumnInfo>& inputs() const { return inputs_; }
  int InputIndex(std::string_view name) const;  // -1 when not an input
  const Schema& schema() const { return schema_; }
  // Slot of the final visible column with this name, -1 when there is none.
  int Find(std::string_view column) const { return schema_.Find(column); }
  const Conventions& conventions() const { return conventions_; }
  const std::string& spark_version() const { return spark_version_; }
  // Kept stages, for diagnostics ("StringIndexerModel StringIndexer_abc").
  std::vector<std::string> StageNames() const;

  std::unique_ptr<Row> NewRow() const;
  // Clears the inputs (all null) and the filtered flag.
  void BeginRow(Row& row) const;
  // Text is parsed as the input's type (numbers, "true"/"false"); text that
  // does not parse is an error naming the column. Strings are taken as is.
  absl::Status SetInput(Row& row, int input, std::string_view text) const;
  void SetInput(Row& row, int input, double number) const;
  void SetInput(Row& row, int input, const Vector& v) const;
  void SetNull(Row& row, int input) const;

  // Runs the kept stages in order. Error: the row cannot be evaluated (the
  // message names the stage). row.filtered: a stage would drop the row.
  absl::Status Run(Row& row) const;
  const Cell& Get(const Row& row, int slot) const { return row.cells[slot]; }

 private:
  Pipeline() = default;
  friend class PipelineBuilder;
  std::unique_ptr<ArtifactSource> source_;
  Schema schema_;
  std::vector<std::unique_ptr<Stage>> stages_;  // kept stages, in order
  std::vector<ColumnInfo> inputs_;
  std::vector<int> input_slots_;
  Conventions conventions_;
  std::string spark_version_;
};

}  // namespace evs::spark
