#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "kafka/client.h"
#include "models/registry.h"
#include "pmml/pmml.h"
#include "runtime/config_watcher.h"
#include "spark/pipeline.h"

namespace evs::models {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// What a spark job reads from a loaded pipeline: event fields bound to input
// columns, and the result outputs (pipeline columns or the conventions'
// label / probability(<label>) / cluster) with their JSON keys.
struct SparkServing {
  std::unique_ptr<spark::Pipeline> pipeline;
  // Event field -> pipeline input index, for every input the kept stages read.
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> input_index;
  std::vector<std::string> input_fields;  // by input index: the event field it reads
  struct Output {
    // kLabelFromMean / kProbabilityFromMean: a binomial GLM read as a
    // classifier (its prediction is P(labels[1])).
    enum class Kind : uint8_t { kColumn, kLabel, kProbability, kLabelFromMean, kProbabilityFromMean };
    Kind kind = Kind::kColumn;
    int slot = -1;                 // kColumn: the column; others: prediction/probability
    int index = 0;                 // kProbability*: the class index
    spark::DataType type = spark::DataType::kDouble;  // kColumn
    std::string key;               // "\"sentiment\":" (JSON key, quotes and colon)
  };
  std::vector<Output> outputs;
  std::vector<std::string> labels;  // kLabel: label strings by prediction index
};

// One compiled, warmed-up model version: a PMML model (`model`) or a Spark
// pipeline (`spark`), exactly one of them. Immutable after LoadModel and
// shared (shared_ptr) between the store and the records evaluating it, so a
// version that is swapped out lives until its last record finishes.
// Evaluation needs per-thread state: an EvalContext (model->NewContext()) or
// a spark::Row (spark->pipeline->NewRow()).
struct LoadedModel {
  std::string name;
  int64_t version = 0;
  std::string version_text;  // version as the evs-model-version header carries it
  std::string sha256;
  std::string format = "pmml";
  std::unique_ptr<pmml::CompiledModel> model;  // format pmml
  // Request field name -> model input index (Bind once per version).
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> input_index;
  // Output i as a JSON key with its quotes and colon: "\"species\":".
  std::vector<std::string> output_keys;
  std::unique_ptr<SparkServing> spark;  // format spark
  double load_ms = 0;
};

// How a job loads versions: which records it takes, and for Spark pipelines
// the job's column mapping (which also decides which stages are kept).
struct LoadSettings {
  std::string only_format;  // empty: any format
  std::string only_name;    // empty: any model name
  config::SparkJob spark;
};

// Reads, checks (sha256), parses, compiles and warms up one version. Off the
// hot path (the watcher thread). The error says which step failed.
absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModel(const ModelRecord& r,
                                                             const LoadSettings& settings = {});

// What a job serves for one model name: the current version and the last few
// loaded ones (oldest first; rollback and pinned requests use them).
struct ModelEntry {
  std::shared_ptr<const LoadedModel> current;
  std::vector<std::shared_ptr<const LoadedModel>> loaded;
};
using ModelTable = std::unordered_map<std::string, ModelEntry, StringHash, std::equal_to<>>;

// The set of served models as an immutable snapshot, replaced read-copy-
// update style: the watcher thread builds a new table and publishes it; the
// runner thread checks epoch() (one atomic load) and takes Snapshot() only
// when it changed, so records never wait for a load. Writers are serialized
// by the store's mutex.
class ModelStore {
 public:
  explicit ModelStore(size_t keep_versions = 3) : keep_(keep_versions < 1 ? 1 : keep_versions) {}
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  std::shared_ptr<const ModelTable> Snapshot() const;

  // Makes m the current version of its name and keeps it loaded (evicting
  // the oldest loaded versions beyond keep_versions; never the current).
  void Install(std::shared_ptr<const LoadedModel> m);
  // Makes an already loaded version current; false when it is not loaded (or
  // its digest differs).
  bool Activate(const std::string& name, int64_t version, const std::string& sha256);
  // Drops the name with every version.
  bool Remove(const std::string& name);
  const LoadedModel* FindLoaded(const std::string& name, int64_t version) const;

  // What the record path lets go of on a swap (its old snapshot, the
  // contexts of versions no longer served) is handed here instead of being
  // destroyed in place: the last reference to an evicted version may be in
  // it, and tearing a large model down is work the records should not wait
  // for. ReleaseRetired() destroys it; the watcher thread calls it after each
  // poll, the destructor at the end. Thread-safe; Retire takes only a short
  // lock of its own.
  void Retire(std::shared_ptr<const void> garbage);
  size_t ReleaseRetired();
  ~ModelStore() { ReleaseRetired(); }

 private:
  // Replaces the table; returns the old one, for the caller to drop after
  // unlocking (it may hold the last reference to an evicted version).
  std::shared_ptr<const ModelTable> Publish(std::shared_ptr<const ModelTable> t);
  size_t keep_;
  mutable std::mutex mu_;
  std::shared_ptr<const ModelTable> table_ = std::make_shared<ModelTable>();
  std::atomic<uint64_t> epoch_{1};
  std::mutex retired_mu_;
  std::vector<std::shared_ptr<const void>> retired_;
};

// Looks a reference up in a table: version 0 is the current version, else a
// loaded version. nullptr when there is none.
const LoadedModel* FindModel(const ModelTable& t, const ModelRef& ref);

// Follows the registry topic for one job module and keeps its ModelStore up
// to date. Start() reads the whole topic (from the beginning) and loads the
// latest versions of every model before it returns: a restarted job serves
// the same versions before it takes traffic. Then a thread of its own follows
// new records: each version is loaded off the hot path and swapped in, or
// rejected with a reason on the status topic (the previous version keeps
// serving). Outcomes go to the status topic as event "model". Stop() joins.
// Records of other formats or names than LoadSettings asks for are skipped
// without a report (another kind of job serves them).
class RegistryWatcher {
 public:
  RegistryWatcher(kafka::Props props, std::string topic, std::string module, ModelStore* store,
                  runtime::StatusReporter* reporter, size_t keep_versions = 3,
                  LoadSettings settings = {});
  ~RegistryWatcher();
  absl::Status Start();
  void Stop();
  bool caught_up() const { return caught_up_.load(); }
  uint64_t loads() const { return loads_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Loop();
  void Apply(std::string_view key, bool has_value, std::string_view value, bool recovering);
  void ApplyRecord(const ModelRecord& r, bool recovering);
  void Report(const std::string& name, const std::string& outcome, int64_t version,
              const std::string& digest, const std::string& reason, double load_ms = -1);

  kafka::Props props_;
  std::string topic_, module_;
  ModelStore* store_;
  runtime::StatusReporter* reporter_;
  size_t keep_;
  LoadSettings settings_;
  kafka::HandlePtr consumer_;
  std::atomic<bool> stop_{false}, caught_up_{false};
  std::atomic<uint64_t> loads_{0}, failures_{0};
  std::thread thread_;
};

}  // namespace evs::models
