#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "parquet/parquet.h"
#include "spark/schema.h"
#include "spark/types.h"

namespace evs::spark {

// The files of a saved pipeline: a directory or a zip (of the directory, or
// of its contents). Paths are relative, '/'-separated ("stages/0_x/metadata").
class ArtifactSource {
 public:
  virtual ~ArtifactSource() = default;
  // A directory, or a .zip file (detected by its magic bytes).
  static absl::StatusOr<std::unique_ptr<ArtifactSource>> Open(const std::string& path);
  // A zip held in memory (the model registry's inline artifacts).
  static absl::StatusOr<std::unique_ptr<ArtifactSource>> FromZipBytes(std::string bytes);

  virtual absl::StatusOr<std::string> Read(std::string_view rel) const = 0;
  // Names (not paths) of the direct children of a directory, sorted; files
  // and directories alike. Empty when the directory does not exist.
  virtual std::vector<std::string> List(std::string_view rel_dir) const = 0;
  virtual bool Exists(std::string_view rel) const = 0;
};

// A fitted stage's saved metadata (`<dir>/metadata/part-00000`) and access to
// its data. `params` is defaultParamMap overlaid with paramMap, so a param
// lookup sees the value Spark used.
struct StageMeta {
  std::string class_name;     // "org.apache.spark.ml.feature.StringIndexerModel"
  std::string uid;
  std::string spark_version;  // "3.5.0"
  int spark_major = 0, spark_minor = 0;
  nlohmann::json params;      // merged params
  nlohmann::json raw;         // the whole metadata object (numFeatures, numClasses, ...)
  std::string dir;            // the stage directory inside `source`
  const ArtifactSource* source = nullptr;
  // Tests inject data tables here instead of Parquet files: key = subdirectory
  // ("data", "ensembleData", ...).
  std::function<absl::StatusOr<parquet::Table>(std::string_view sub)> data_override;

  // Short class name for messages: "StringIndexerModel".
  std::string ShortClass() const;
  bool Has(std::string_view param) const;
  // Typed param access; the error names the stage and the param.
  absl::StatusOr<std::string> Str(std::string_view param) const;
  absl::StatusOr<double> Num(std::string_view param) const;
  absl::StatusOr<bool> Bool(std::string_view param) const;
  absl::StatusOr<std::vector<std::string>> StrList(std::string_view param) const;
  absl::StatusOr<std::vector<double>> NumList(std::string_view param) const;
  std::string StrOr(std::string_view param, std::string_view fallback) const;
  double NumOr(std::string_view param, double fallback) const;
  bool BoolOr(std::string_view param, bool fallback) const;
  // The Parquet dataset in `<dir>/<sub>` (all its part files).
  absl::StatusOr<parquet::Table> ReadData(std::string_view sub = "data") const;
  // Error helper: InvalidArgument "<ShortClass> <uid>: <msg>".
  absl::Status Error(std::string_view msg) const;
};

// One fitted stage compiled against the schema. Apply is const and
// thread-safe: all per-record state lives in the Row (scratch slots).
class Stage {
 public:
  virtual ~Stage() = default;
  // Reads its input cells and writes its output cells. An error means the
  // row cannot be evaluated (Spark's transform would throw: an unseen label
  // with handleInvalid=error, a null where a number is needed, ...); the
  // message names the stage and the column. handleInvalid=skip sets
  // row.filtered instead.
  virtual absl::Status Apply(Row& row) const = 0;

  // Slots read and written, for pruning stages whose outputs nobody reads.
  // Set by the factory. A stage that may filter rows counts as live only
  // when one of its outputs is.
  std::vector<int> reads, writes;
  std::string name;  // "StringIndexerModel StringIndexer_bdf5929b3024"
};

// Compiles one saved stage: resolves input columns in `schema`, adds its
// outputs, returns the runtime stage. Called in pipeline order.
using StageFactory =
    std::function<absl::StatusOr<std::unique_ptr<Stage>>(const StageMeta& meta, Schema& schema)>;

// Class name -> factory. Both the full class name and, for Spark 2.x/3.x
// renames, every alias are registered.
class StageRegistry {
 public:
  static const StageRegistry& Default();  // every stage this build knows
  void Add(std::string class_name, StageFactory f);
  const StageFactory* Find(std::string_view class_name) const;

 private:
  std::vector<std::pair<std::string, StageFactory>> factories_;
};

// Registration, one function per stage family (each lives beside its stages).
void RegisterCoreStages(StageRegistry& r);     // PipelineModel, TVS/CV wrappers, StringIndexer,
                                               // IndexToString, VectorAssembler, OneHotEncoder,
                                               // RFormula (+ColumnPruner, VectorAttributeRewriter)
void RegisterSqlStages(StageRegistry& r);      // SQLTransformer (sql.cc)
void RegisterVectorStages(StageRegistry& r);   // scalers, selectors, VectorIndexer/Slicer/SizeHint,
                                               // Bucketizer, Binarizer, Imputer, Interaction, PCA, ...
void RegisterTextStages(StageRegistry& r);     // Tokenizer, RegexTokenizer, StopWordsRemover, NGram,
                                               // HashingTF, CountVectorizer, IDF
void RegisterLinearModels(StageRegistry& r);   // LogisticRegression, LinearRegression, GLR
void RegisterTreeModels(StageRegistry& r);     // DecisionTree, RandomForest, GBT
void RegisterOtherModels(StageRegistry& r);    // NaiveBayes, LinearSVC, MLP, KMeans,
                                               // BisectingKMeans, IsotonicRegression

// The metadata file of the stage saved in `dir`: metadata/part-00000 (Spark
// 2.x/3.x) or metadata/part-00000-<uuid>-c000.txt (Spark 4). NotFound when
// there is none.
absl::StatusOr<std::string> FindMetadataFile(const ArtifactSource& src, const std::string& dir);

// Reads the metadata file of a stage (see FindMetadataFile).
absl::StatusOr<StageMeta> ReadStageMeta(const ArtifactSource& src, std::string dir);

// Loads and compiles the stage saved in `dir` (used by the pipeline and by
// stages that nest others: PipelineModel, TrainValidationSplitModel,
// CrossValidatorModel, RFormulaModel). Nested stages are appended to `out`
// flattened, in order. An unknown class is "unsupported stage <class>".
absl::Status LoadStageInto(const ArtifactSource& src, const std::string& dir, Schema& schema,
                           std::vector<std::unique_ptr<Stage>>* out);

}  // namespace evs::spark
