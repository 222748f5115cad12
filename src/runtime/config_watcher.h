#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "kafka/client.h"

namespace evs::runtime {

// Latest validated config handed from the watcher thread to the runner
// thread. Publish from any thread; the runner polls epoch() (one relaxed
// atomic load per record) and calls Get() only when it changed.
class ConfigSlot {
 public:
  void Publish(std::shared_ptr<const config::Config> c) {
    std::lock_guard<std::mutex> l(mu_);
    cfg_ = std::move(c);
    epoch_.fetch_add(1, std::memory_order_release);
  }
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  std::shared_ptr<const config::Config> Get() const {
    std::lock_guard<std::mutex> l(mu_);
    return cfg_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const config::Config> cfg_;
  std::atomic<uint64_t> epoch_{0};
};

// Writes outcome records to evs.status (keyed by module name). Thread-safe.
class StatusReporter {
 public:
  static absl::StatusOr<std::unique_ptr<StatusReporter>> Create(const kafka::Props& props,
                                                                std::string topic,
                                                                std::string module);
  ~StatusReporter();
  // event: "config" or "module"; outcome: applied, rejected, recovered, started, stopped.
  void Report(const std::string& event, const std::string& outcome, int64_t version,
              const std::string& reason);
  // The same with more top-level fields, e.g. {"model","iris"} (string
  // values) and raw JSON numbers in `numbers`.
  void Report(const std::string& event, const std::string& outcome, int64_t version,
              const std::string& reason,
              const std::vector<std::pair<std::string, std::string>>& strings,
              const std::vector<std::pair<std::string, double>>& numbers = {});

 private:
  StatusReporter() = default;
  kafka::HandlePtr producer_;
  std::string topic_, module_;
};

// Follows the compacted config topic for one module key. Start() first reads
// the topic to its end and returns the last document under the key that
// validates (nullptr when there is none): that is how a restarted module
// recovers. Then a thread follows new records: valid ones go to the slot,
// invalid ones are reported as rejected and change nothing.
class ConfigWatcher {
 public:
  ConfigWatcher(kafka::Props props, std::string topic, std::string key, ConfigSlot* slot,
                StatusReporter* reporter);
  ~ConfigWatcher();
  absl::StatusOr<std::shared_ptr<const config::Config>> Start();
  void Stop();

 private:
  void Loop();
  void Handle(const rd_kafka_message_t* m, bool catching_up,
              std::shared_ptr<const config::Config>* latest);

  kafka::Props props_;
  std::string topic_, key_;
  ConfigSlot* slot_;
  StatusReporter* reporter_;
  kafka::HandlePtr consumer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace evs::runtime
