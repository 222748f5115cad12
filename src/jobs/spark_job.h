#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/processor_base.h"
#include "codec/decode.h"
#include "models/model_store.h"

namespace evs::jobs {

class RequestParser;  // model_job.h
class SwapClock;      // model_job.h

// The Spark job: serves one Spark MLlib PipelineModel (the job's `model`,
// from the registry topic) natively. Per request record it parses the JSON
// object, sets each pipeline input column from its event field (the job's
// `inputs` mapping, default the same name), runs the pipeline and produces
// {"outputs":{...},"input":{...}} to the results topic with
// evs-model-version and evs-model-digest. An evs-model header may pin a
// loaded version (`tweets@2`); another model name is model_not_found.
// Dead letters: model/model_not_found, decode/<codec code>,
// input/invalid_input (a field of the wrong type, a missing field the
// pipeline reads), evaluate/evaluation_error (a stage refuses the row, the
// message names it), evaluate/row_filtered (a handleInvalid=skip stage would
// drop the row in Spark).
//
// The job subscribes to its request topic only while a version of its model
// is loaded: requests wait in Kafka until then instead of being dead-lettered.
//
// Threads: Process and BetweenRecords run on the runner thread only; it keeps
// one spark::Row per loaded version and takes a new ModelStore snapshot when
// the store's epoch changes (between records), so a record is evaluated by
// the version it started with and loads never block it. The RegistryWatcher
// (owned here, may be null in tests) loads versions on its own thread.
// Describe() is thread-safe.
class SparkJob : public adapters::ProcessorBase {
 public:
  SparkJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
           runtime::ConfigSlot* slot, runtime::StatusReporter* reporter, metrics::Registry* registry,
           std::shared_ptr<models::ModelStore> store,
           std::unique_ptr<models::RegistryWatcher> watcher);
  ~SparkJob() override;

  void Process(const kafka::InRecord& in, kafka::OutBatch* out) override;
  void BetweenRecords() override;
  std::vector<std::string> Topics() const override;
  std::string Describe() const override;
  // True once a version of the model is loaded (the job consumes then).
  bool serving() const { return serving_; }
  // Ready once a version of the model is loaded (thread-safe).
  bool Ready() const override { return ready_.load(std::memory_order_acquire); }

 protected:
  bool Rebuild(const config::Config& cfg, std::string* reason) override;

 private:
  struct Ctx {
    std::shared_ptr<const models::LoadedModel> model;  // keeps the version alive
    std::unique_ptr<spark::Row> row;
    std::vector<char> seen;  // by input index: set by this record
    spark::Vector vec;       // scratch for vector inputs
    metrics::Counter* out = nullptr;
  };
  void Refresh();
  Ctx* ContextFor(const models::LoadedModel* m);
  void Fail(const kafka::InRecord& in, const char* stage, const char* code, std::string message,
            kafka::OutBatch* out);
  void AppendOutputs(const models::SparkServing& s, const spark::Row& row, std::string* out) const;

  std::string job_, model_;
  std::shared_ptr<models::ModelStore> store_;
  std::unique_ptr<models::RegistryWatcher> watcher_;
  uint64_t seen_model_epoch_ = 0;
  bool serving_ = false;
  std::atomic<bool> ready_{false};  // serving_, for the admin threads
  std::shared_ptr<const models::ModelTable> table_;
  std::unordered_map<const models::LoadedModel*, Ctx> contexts_;
  std::unique_ptr<RequestParser> request_;  // JSON object, or why not
  std::unique_ptr<SwapClock> swap_clock_;
  metrics::Counter* in_;
  metrics::Histogram* eval_seconds_;
};

}  // namespace evs::jobs
