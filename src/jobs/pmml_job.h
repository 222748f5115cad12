#pragma once

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

// The PMML model job: consumes its request topic, evaluates each record with
// the model its evs-model header names (`iris` = current version, `iris@3` =
// a loaded pinned version) and produces {"outputs":{...},"input":{...}} to
// the results topic with evs-model-version and evs-model-digest. Failures
// are dead letters: stage model/model_not_found, decode/<codec code>,
// input/invalid_input, evaluate/evaluation_error.
//
// Threads: Process and BetweenRecords run on the runner thread only; it
// keeps one EvalContext per model version and takes a new snapshot of the
// ModelStore when its epoch changes (between records), so a record is
// evaluated entirely by the version it started with and loads never block
// it. The RegistryWatcher (owned here, may be null in tests) fills the store
// on its own thread. Describe() is thread-safe.
class PmmlJob : public adapters::ProcessorBase {
 public:
  PmmlJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
          runtime::ConfigSlot* slot, runtime::StatusReporter* reporter, metrics::Registry* registry,
          std::shared_ptr<models::ModelStore> store,
          std::unique_ptr<models::RegistryWatcher> watcher);
  ~PmmlJob() override;

  void Process(const kafka::InRecord& in, kafka::OutBatch* out) override;
  std::vector<std::string> Topics() const override { return {cfg_->topics.requests_prefix + job_}; }
  std::string Describe() const override;

 protected:
  bool Rebuild(const config::Config& cfg, std::string* reason) override { return true; }

 private:
  struct Ctx {
    std::shared_ptr<const models::LoadedModel> model;  // keeps the version alive
    std::unique_ptr<pmml::EvalContext> ctx;
    metrics::Counter* out = nullptr;
    // The input slot of the key seen at each position of the last records
    // (-1: not an input). Producers write fields in a fixed order, so this
    // replaces a hash lookup per field with one comparison. Bounded.
    std::vector<std::pair<std::string, int>> slot_at;
  };
  void Refresh();
  Ctx* ContextFor(const models::LoadedModel* m);
  void Fail(const kafka::InRecord& in, const char* stage, const char* code, std::string message,
            kafka::OutBatch* out);

  std::string job_;
  std::shared_ptr<models::ModelStore> store_;
  std::unique_ptr<models::RegistryWatcher> watcher_;
  uint64_t seen_model_epoch_ = 0;
  std::shared_ptr<const models::ModelTable> table_;
  std::unordered_map<const models::LoadedModel*, Ctx> contexts_;
  std::unique_ptr<RequestParser> request_;  // JSON object, or why not
  std::unique_ptr<SwapClock> swap_clock_;
  metrics::Counter* in_;
  metrics::Histogram* eval_seconds_;
};

}  // namespace evs::jobs
