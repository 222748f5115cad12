#pragma once

#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/value.h"
#include "config/config.h"
#include "kafka/stream_runner.h"
#include "metrics/registry.h"
#include "runtime/config_watcher.h"

namespace evs::adapters {

// Shared plumbing of every module's RecordProcessor: the active config and
// its online swap, dead letters, and the error/DLQ counters. The config is
// swapped only in BetweenRecords, on the runner thread, so Process always
// sees one config for a whole record.
class ProcessorBase : public kafka::RecordProcessor {
 public:
  ProcessorBase(std::string module, std::shared_ptr<const config::Config> cfg,
                runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                metrics::Registry* registry);

  void BetweenRecords() override;
  uint64_t TopicsEpoch() const override { return topics_epoch_; }
  kafka::OutRecord ProduceFailure(const kafka::OutRecord& failed, const std::string& reason) override;
  // Jobs write results and dead letters; the adapters add their targets.
  std::vector<std::string> OutputTopics() const override { return {cfg_->topics.results, cfg_->topics.dlq}; }

  std::string Describe() const override;
  std::shared_ptr<const config::Config> config() const { return cfg_; }
  int64_t config_version() const { return cfg_->version; }

 protected:
  // Rebuilds derived tables for a new config. Returns false (and a reason)
  // to refuse a config this module cannot run (the old one stays).
  virtual bool Rebuild(const config::Config& cfg, std::string* reason) = 0;
  // Call once from the derived constructor.
  void Init();

  // Builds a dead letter from the consumed record and counts it.
  void DeadLetter(const kafka::InRecord& in, const EventError& err,
                  kafka::OutBatch* out);
  void CountError(const std::string& stage, const std::string& code);

  // Per-record time histograms (evs_process_latency_seconds,
  // evs_eval_seconds) observe one record in kTimingSample: two clock reads
  // per record cost a few percent of a module's record path. Quantiles are
  // those of the sampled records; a histogram's _count counts sampled
  // records, not all (the records counters do that).
  static constexpr uint32_t kTimingSample = 16;
  bool TimeThisRecord() { return (++timing_n_ % kTimingSample) == 0; }
  uint32_t timing_n_ = 0;

  std::string module_;
  std::shared_ptr<const config::Config> cfg_;
  runtime::ConfigSlot* slot_;
  runtime::StatusReporter* reporter_;
  metrics::Registry* registry_;
  uint64_t seen_epoch_ = 0;
  uint64_t topics_epoch_ = 0;
  metrics::Counter* dlq_total_;
  metrics::Counter* reloads_applied_;
  metrics::Counter* reloads_rejected_;
  metrics::Gauge* config_version_;
  std::map<std::pair<std::string, std::string>, metrics::Counter*> error_counters_;

 private:
  void UpdateDescription();
  mutable std::mutex describe_mu_;
  std::string description_;
};

}  // namespace evs::adapters
