#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "config/config.h"
#include "kafka/stream_runner.h"
#include "metrics/http_server.h"
#include "metrics/registry.h"
#include "runtime/config_watcher.h"

namespace evs::runtime {

enum class ModuleKind { kInputAdapter, kOutputAdapter, kJob };

struct ModuleSpec {
  ModuleKind kind;
  std::string job;          // kJob: the job's name under jobs:
  std::string instance_id;  // distinguishes instances of one module (transactional.id)
  std::string metrics_listen_override;  // empty: from config
};

// Builds the module's RecordProcessor from the active config.
using ProcessorFactory = std::function<std::unique_ptr<kafka::RecordProcessor>(
    std::shared_ptr<const config::Config>, ConfigSlot*, StatusReporter*, metrics::Registry*)>;

// One running module: its StreamRunner on a thread of its own, the config
// watcher, the status reporter and the admin HTTP server. Lifecycle: Start()
// (creates internal topics, recovers the latest good config from the config
// topic, starts serving), Stop() from any thread, Wait() joins and returns
// the runner's outcome. Not copyable; Stop/Wait are idempotent.
class Module {
 public:
  Module(ModuleSpec spec, std::shared_ptr<const config::Config> bootstrap, ProcessorFactory factory);
  ~Module();
  absl::Status Start();
  void Stop();
  absl::Status Wait();
  const std::string& name() const { return name_; }
  int metrics_port() const { return http_ ? http_->port() : 0; }
  bool running() const { return running_.load(); }

 private:
  std::string StatusJson() const;

  ModuleSpec spec_;
  std::shared_ptr<const config::Config> bootstrap_;
  ProcessorFactory factory_;
  std::string name_;
  metrics::Registry registry_;
  ConfigSlot slot_;
  std::unique_ptr<StatusReporter> reporter_;
  std::unique_ptr<ConfigWatcher> watcher_;
  std::unique_ptr<kafka::RecordProcessor> processor_;
  std::unique_ptr<kafka::StreamRunner> runner_;
  std::unique_ptr<metrics::HttpServer> http_;
  std::thread thread_;
  absl::Status result_;
  bool waited_ = false;
  std::atomic<bool> running_{false};
  std::atomic<bool> built_{false};  // processor_ and runner_ exist (admin thread reads them)
};

const config::ModuleSettings& SettingsFor(const config::Config& cfg, ModuleKind kind,
                                          const std::string& job);

}  // namespace evs::runtime
