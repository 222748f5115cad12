#include "runtime/module.h"

#include "absl/strings/str_cat.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "kafka/admin.h"
#include "common/fmt_compat.h"
#include "spdlog/spdlog.h"

namespace evs::runtime {

const config::ModuleSettings& SettingsFor(const config::Config& cfg, ModuleKind kind,
                                          const std::string& job) {
  switch (kind) {
    case ModuleKind::kInputAdapter: return cfg.input_adapter;
    case ModuleKind::kOutputAdapter: return cfg.output_adapter;
    case ModuleKind::kJob: break;
  }
  return cfg.FindJob(job)->module;
}

Module::Module(ModuleSpec spec, std::shared_ptr<const config::Config> bootstrap,
               ProcessorFactory factory)
    : spec_(std::move(spec)), bootstrap_(std::move(bootstrap)), factory_(std::move(factory)) {}

Module::~Module() {
  Stop();
  (void)Wait();
}

absl::Status Module::Start() {
  if (spec_.kind == ModuleKind::kJob && !bootstrap_->FindJob(spec_.job))
    return absl::InvalidArgumentError(absl::StrCat("no job named '", spec_.job, "' under jobs:"));
  name_ = SettingsFor(*bootstrap_, spec_.kind, spec_.job).name;
  const config::Config& b = *bootstrap_;
  std::vector<kafka::TopicSpec> topics = {{b.topics.config, 1, true}, {b.topics.status, 1, false},
                                          {b.topics.dlq, 4, false},   {b.topics.results, 4, false},
                                          {b.topics.models, 1, true}};
  for (const config::Job& j : b.jobs) topics.push_back({b.topics.requests_prefix + j.name, 4, false});
  RETURN_IF_ERROR(kafka::EnsureTopics(b.internal, topics));

  ASSIGN_OR_RETURN(reporter_, StatusReporter::Create(b.internal, b.topics.status, name_));
  watcher_ = std::make_unique<ConfigWatcher>(b.internal, b.topics.config, name_, &slot_, reporter_.get());
  ASSIGN_OR_RETURN(std::shared_ptr<const config::Config> recovered, watcher_->Start());
  std::shared_ptr<const config::Config> cfg = bootstrap_;
  if (recovered && recovered->version < b.version) {
    spdlog::info("{}: the config file (version {}) is newer than the config topic's (version {}); using the file",
                 name_, b.version, recovered->version);
  } else if (recovered) {
    if (spec_.kind == ModuleKind::kJob && !recovered->FindJob(spec_.job)) {
      spdlog::warn("{}: the config in '{}' has no job '{}'; using the file", name_, b.topics.config, spec_.job);
    } else {
      cfg = recovered;
      reporter_->Report("config", "recovered", cfg->version, "latest good config from the config topic");
    }
  }
  const config::ModuleSettings& ms = SettingsFor(*cfg, spec_.kind, spec_.job);
  kafka::RunnerOptions ro;
  ro.name = name_;
  ro.group = ms.group;
  ro.max_in_flight = ms.max_in_flight;
  ro.txn_max_records = ms.txn_max_records;
  ro.txn_max_ms = ms.txn_max_ms;
  ro.guarantee = cfg->guarantee == config::Guarantee::kExactlyOnce ? kafka::Guarantee::kExactlyOnce
                                                                   : kafka::Guarantee::kAtLeastOnce;
  ro.consumer_props = spec_.kind == ModuleKind::kInputAdapter ? cfg->external : cfg->internal;
  ro.producer_props = spec_.kind == ModuleKind::kOutputAdapter ? cfg->external : cfg->internal;
  ro.transactional_id = absl::StrCat("evs-", name_, "-", spec_.instance_id.empty() ? "0" : spec_.instance_id);
  if (ro.guarantee == kafka::Guarantee::kExactlyOnce &&
      ro.consumer_props.at("bootstrap.servers") != ro.producer_props.at("bootstrap.servers"))
    return absl::InvalidArgumentError(
        "guarantee: exactly-once needs the stage to read and write one cluster (kafka.external and "
        "kafka.internal differ)");

  // The admin server starts first, not ready: building the processor may
  // take a while (a model job reads the whole registry and loads its models
  // before it takes traffic), and /readyz answers 503 meanwhile.
  metrics::RegisterProcessMetrics(&registry_);
  std::string listen = spec_.metrics_listen_override.empty() ? ms.metrics_listen : spec_.metrics_listen_override;
  http_ = std::make_unique<metrics::HttpServer>(listen, &registry_, [this] { return StatusJson(); });
  http_->SetReadyCheck([this] { return built_.load(std::memory_order_acquire) && processor_->Ready(); });
  RETURN_IF_ERROR(http_->Start());
  spdlog::info("{}: admin endpoint on port {} (/metrics /healthz /readyz /status)", name_, http_->port());

  processor_ = factory_(cfg, &slot_, reporter_.get(), &registry_);
  runner_ = std::make_unique<kafka::StreamRunner>(ro, processor_.get());
  built_.store(true, std::memory_order_release);

  registry_.AddCollector([this] {
    if (!built_.load(std::memory_order_acquire)) return;
    const metrics::Labels l = {{"module", name_}};
    const kafka::RunnerStats& st = runner_->stats();
    registry_.GetGauge("evs_in_flight", "Records awaiting delivery", l)->Set(st.in_flight.load());
    registry_.GetGauge("evs_paused", "1 while partitions are paused for backpressure", l)
        ->Set(st.paused.load() ? 1 : 0);
    registry_.GetGauge("evs_consumed_records", "Records consumed since start", l)->Set(st.consumed.load());
    registry_.GetGauge("evs_produced_records", "Records delivered since start", l)->Set(st.produced.load());
    registry_.GetGauge("evs_produce_failures", "Deliveries that failed since start", l)
        ->Set(st.produce_failures.load());
    registry_.GetGauge("evs_pauses", "Times the partitions were paused for backpressure", l)
        ->Set(st.pauses.load());
    registry_.GetGauge("evs_transactions_committed", "Transactions committed since start", l)
        ->Set(st.txn_commits.load());
    registry_.GetGauge("evs_transactions_aborted", "Transactions aborted since start", l)
        ->Set(st.txn_aborts.load());
    for (const kafka::PartitionLag& p : runner_->Lag())
      registry_.GetGauge("evs_consumer_lag", "Records behind the high watermark",
                         {{"module", name_}, {"topic", p.topic}, {"partition", std::to_string(p.partition)}})
          ->Set(static_cast<double>(p.lag));
  });
  reporter_->Report("module", "started", cfg->version, "");
  running_.store(true);
  thread_ = std::thread([this] {
    http_->SetReady(true);
    result_ = runner_->Run();
    http_->SetReady(false);
    running_.store(false);
    if (!result_.ok()) spdlog::error("{}: stopped with error: {}", name_, result_.message());
  });
  return absl::OkStatus();
}

void Module::Stop() {
  if (runner_) runner_->Stop();
}

absl::Status Module::Wait() {
  if (waited_) return result_;
  if (thread_.joinable()) thread_.join();
  waited_ = true;
  if (watcher_) watcher_->Stop();
  if (reporter_) reporter_->Report("module", "stopped", 0, result_.ok() ? "" : std::string(result_.message()));
  if (http_) http_->Stop();
  return result_;
}

std::string Module::StatusJson() const {
  std::string s = "{\"module\":";
  AppendJsonString(name_, &s);
  if (!built_.load(std::memory_order_acquire)) return s + ",\"state\":\"loading\"}";
  const kafka::RunnerStats& st = runner_->stats();
  s += absl::StrCat(",\"assigned\":", runner_->assigned() ? "true" : "false",
                    ",\"paused\":", st.paused.load() ? "true" : "false", ",\"pauses\":", st.pauses.load(),
                    ",\"in_flight\":", st.in_flight.load(), ",\"consumed\":", st.consumed.load(),
                    ",\"produced\":", st.produced.load(), ",\"config\":", processor_->Describe(),
                    ",\"lag\":[");
  bool first = true;
  for (const kafka::PartitionLag& p : runner_->Lag()) {
    if (!first) s += ",";
    first = false;
    s += "{\"topic\":";
    AppendJsonString(p.topic, &s);
    s += absl::StrCat(",\"partition\":", p.partition, ",\"lag\":", p.lag, "}");
  }
  s += "]}";
  return s;
}

}  // namespace evs::runtime
