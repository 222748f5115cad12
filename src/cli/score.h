#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pmml/pmml.h"
#include "spark/pipeline.h"

// `evserve score`: batch scoring of a CSV file with a PMML model or a saved
// Spark PipelineModel, and the pieces the conformance runners share with it
// (CSV reading and writing, loading a model from a .pmml/.xml file or a .zip
// holding one, the result columns of a Spark pipeline).

namespace evs::cli {

// Reads RFC 4180 CSV: comma-separated, fields optionally in double quotes
// (a quoted field may hold commas, line breaks and "" for a quote), lines
// ending in LF or CRLF. A UTF-8 byte-order mark before the header is dropped.
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  // The next record's fields; false at the end of input or on a malformed
  // record (then status() says why). A blank line is a record with one empty
  // field.
  bool Next(std::vector<std::string>* fields);
  const absl::Status& status() const { return status_; }
  // Line number (1-based) where the last record returned by Next() started.
  int64_t line() const { return record_line_; }

 private:
  std::istream& in_;
  absl::Status status_;
  int64_t next_line_ = 1;
  int64_t record_line_ = 0;
  bool first_ = true;
};

// True for the cells that mean "missing": empty, "N/A" and "NA".
bool IsMissingCell(std::string_view cell);

// Appends `field` to `out`, quoted when it holds a comma, quote, CR or LF
// (or leading/trailing spaces).
void AppendCsvField(std::string_view field, std::string* out);

// The PMML text of a model file. A zip archive (recognised by its signature,
// whatever the file is called) must hold exactly one .xml or .pmml file; that
// entry is returned and `*entry` (when not null) is set to its name.
// Errors name the file.
absl::StatusOr<std::string> ReadModelText(const std::string& path, std::string* entry = nullptr);

// Loads and compiles a model file (see ReadModelText). `rewrite`, when set,
// may edit the PMML text before it is compiled. Errors are prefixed with the
// file name (and the zip entry), so with the engine's element paths they
// read "model.pmml: /PMML/TreeModel/Node[2]: ...".
absl::StatusOr<std::unique_ptr<pmml::CompiledModel>> LoadModelFile(
    const std::string& path, const std::function<absl::Status(std::string*)>& rewrite = {});

// The text written for an output value: "N/A" when missing, else
// pmml::FormatValue (shortest round-trip doubles, integers without fraction).
std::string OutputCell(const pmml::Value& v);

struct ScoreOptions {
  std::string model;   // .pmml/.xml, or a .zip holding one; or a Spark pipeline (dir or zip)
  std::string input;   // CSV with a header; "-" = stdin
  std::string output;  // CSV; "-" = stdout
  bool strict = false;  // a row that cannot be evaluated is fatal
  // Spark pipelines only: the input columns' StructType JSON file, and
  // Spark's own output columns instead of the conventions' columns.
  std::string schema;
  bool spark_columns = false;
  // Progress lines on stderr: every `progress_rows` rows, and every
  // `progress_seconds` when `progress_tty` (stderr is a terminal). 0 = never.
  int64_t progress_rows = 100'000;
  double progress_seconds = 2.0;
  bool progress_tty = false;
};

// What a scoring run did.
struct ScoreSummary {
  int64_t rows = 0;         // data rows read
  int64_t failed_rows = 0;  // rows written as N/A because they could not be evaluated
};

// Scores every data row of `in` with `model` and writes one output row per
// input row to `out` (header: CompiledModel::outputs() names). Messages
// (rows that cannot be evaluated, progress) go to `err`. Returns the exit
// code: kExitOk, kExitFailure (a row failed under strict, malformed CSV,
// write error) or kExitUsage (no header).
int ScoreStream(const pmml::CompiledModel& model, std::istream& in, std::ostream& out,
                std::ostream& err, const ScoreOptions& opts, ScoreSummary* summary = nullptr);

// The whole command: loads the model, opens the files, scores. Exit codes as
// in cli/commands.h: 0 ok, 1 runtime failure (a row under --strict, I/O),
// 2 bad model file, unreadable input or bad arguments.
int Score(const ScoreOptions& opts, std::ostream& err);

// Help text of `evserve score` (beyond the option list).
extern const char kScoreHelp[];

// Adds the Spark options of `evserve score` to its CLI11 subcommand (a
// template so that this library does not depend on CLI11).
template <typename App>
void AddSparkScoreOptions(App* score, ScoreOptions* opts) {
  score->description("Score a CSV file with a PMML model or a Spark pipeline (one output row per input row)");
  score->get_option("--model")->description(
      "PMML file (.pmml/.xml, or a .zip holding one), or a saved Spark PipelineModel "
      "(a directory with metadata/part-00000, or a zip of one)");
  score->add_option("--schema", opts->schema, "Spark only: StructType JSON file of the input columns");
  score->add_flag("--spark-columns", opts->spark_columns,
                  "Spark only: write the columns the stages add (prediction, probability, ...) "
                  "instead of the label/probability(<label>) conventions");
}

// ---------------------------------------------------------------------------
// Spark pipelines

// True when `path` is a saved Spark pipeline: a directory holding metadata/,
// or a zip archive with a metadata/part-00000* entry (at its root or in one
// top-level folder).
bool IsSparkModel(const std::string& path);

// Parses Spark's text form of a vector: dense "[1.0,2.0]" or sparse
// "(4,[0,2],[1.0,3.0])". False when the text is neither.
bool ParseSparkVector(std::string_view text, spark::Vector* out);

// The result columns of a Spark pipeline as `evserve score` and the Spark
// conformance runner write them. Conventions (the corpus's MANIFEST): for a
// classifier the label column (the label string through the pipeline's label
// indexer) and probability(<label>) per class; for a regressor the
// prediction named after the label column; for clustering `cluster`. Spark
// columns: every column a kept stage added, with vectors in Spark's text form.
// A binomial GLM on an indexed label (Conventions::probability_from_prediction)
// is presented as a classifier, as the corpus does: the label string,
// probability(<first>) = 1 - mu, probability(<second>) = mu.
class SparkResultColumns {
 public:
  // Error when the pipeline has no predictor and conventions are asked for.
  static absl::StatusOr<SparkResultColumns> Make(const spark::Pipeline& p, bool spark_columns);
  const std::vector<std::string>& names() const { return names_; }
  // The cell texts of `row` ("N/A" when missing), one per name, into `out`
  // (resized; strings keep their capacity).
  void Format(const spark::Pipeline& p, const spark::Row& row, std::vector<std::string>* out) const;

 private:
  // kBinomial*: a binomial GLM on an indexed label, presented as a
  // classifier (label = labels[mu > 0.5], probability 1 - mu and mu).
  enum class Kind : uint8_t { kLabel, kProbability, kNumber, kInteger, kCell, kBinomialLabel, kBinomialP0, kBinomialP1 };
  struct Column {
    Kind kind;
    int slot;
    int index;  // probability element
    spark::DataType type;
  };
  std::vector<std::string> names_;
  std::vector<Column> columns_;
  std::vector<std::string> labels_;
};

// Spark load options for scoring: conventions' columns (pruned pipeline) or
// everything. `schema_json` may be empty.
spark::LoadOptions SparkLoadOptions(const std::string& schema_json, bool spark_columns);

// Scores a CSV stream with a Spark pipeline (see ScoreStream). Rows Spark
// would drop (handleInvalid=skip, WHERE) are written as N/A with a message.
int ScoreSparkStream(const spark::Pipeline& p, const SparkResultColumns& columns, std::istream& in,
                     std::ostream& out, std::ostream& err, const ScoreOptions& opts,
                     ScoreSummary* summary = nullptr);

}  // namespace evs::cli
