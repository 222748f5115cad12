#include "adapters/processor_base.h"

#include "absl/strings/str_cat.h"
#include "common/headers.h"
#include "common/json_writer.h"
#include "common/fmt_compat.h"
#include "spdlog/spdlog.h"

namespace evs::adapters {

ProcessorBase::ProcessorBase(std::string module, std::shared_ptr<const config::Config> cfg,
                             runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                             metrics::Registry* registry)
    : module_(std::move(module)), cfg_(std::move(cfg)), slot_(slot), reporter_(reporter),
      registry_(registry) {
  const metrics::Labels l = {{"module", module_}};
  dlq_total_ = registry_->GetCounter("evs_dlq_total", "Records sent to the dead-letter topic", l);
  reloads_applied_ = registry_->GetCounter("evs_config_reloads_total", "Online config updates",
                                           {{"module", module_}, {"outcome", "applied"}});
  reloads_rejected_ = registry_->GetCounter("evs_config_reloads_total", "Online config updates",
                                            {{"module", module_}, {"outcome", "rejected"}});
  config_version_ = registry_->GetGauge("evs_config_version", "Version of the active config", l);
  if (slot_) seen_epoch_ = slot_->epoch();
}

void ProcessorBase::Init() {
  std::string reason;
  if (!Rebuild(*cfg_, &reason)) spdlog::error("{}: initial config: {}", module_, reason);
  config_version_->Set(static_cast<double>(cfg_->version));
  UpdateDescription();
}

std::string ProcessorBase::Describe() const {
  std::lock_guard<std::mutex> l(describe_mu_);
  return description_;
}

void ProcessorBase::UpdateDescription() {
  std::string d = absl::StrCat("{\"config_version\":", cfg_->version, ",\"guarantee\":\"",
                               config::GuaranteeName(cfg_->guarantee), "\",\"routes\":[");
  for (size_t i = 0; i < cfg_->routes.size(); ++i) {
    const config::Route& r = cfg_->routes[i];
    if (i) d += ",";
    d += "{\"name\":";
    AppendJsonString(r.name, &d);
    d += ",\"source\":";
    AppendJsonString(r.source, &d);
    d += ",\"variants\":[";
    for (size_t v = 0; v < r.variants.size(); ++v) {
      if (v) d += ",";
      d += "{\"name\":";
      AppendJsonString(r.variants[v].name, &d);
      d += ",\"job\":";
      AppendJsonString(r.variants[v].job, &d);
      d += ",\"model\":";
      AppendJsonString(r.variants[v].model, &d);
      d += absl::StrCat(",\"weight\":", r.variants[v].weight,
                        ",\"shadow\":", r.variants[v].shadow ? "true" : "false", "}");
    }
    d += "]}";
  }
  d += "],\"outputs\":[";
  for (size_t i = 0; i < cfg_->outputs.size(); ++i) {
    if (i) d += ",";
    d += "{\"name\":";
    AppendJsonString(cfg_->outputs[i].name, &d);
    d += ",\"topic\":";
    AppendJsonString(cfg_->outputs[i].topic, &d);
    d += "}";
  }
  d += "]}";
  std::lock_guard<std::mutex> l(describe_mu_);
  description_ = std::move(d);
}

void ProcessorBase::BetweenRecords() {
  if (slot_ == nullptr || slot_->epoch() == seen_epoch_) return;
  seen_epoch_ = slot_->epoch();
  std::shared_ptr<const config::Config> next = slot_->Get();
  if (!next) return;
  std::string reason;
  if (!Rebuild(*next, &reason)) {
    reloads_rejected_->Inc();
    Rebuild(*cfg_, &reason);
    if (reporter_) reporter_->Report("config", "rejected", next->version, reason);
    return;
  }
  cfg_ = std::move(next);
  reloads_applied_->Inc();
  config_version_->Set(static_cast<double>(cfg_->version));
  UpdateDescription();
  if (reporter_) reporter_->Report("config", "applied", cfg_->version, "");
}

void ProcessorBase::CountError(const std::string& stage, const std::string& code) {
  auto key = std::make_pair(stage, code);
  auto it = error_counters_.find(key);
  if (it == error_counters_.end()) {
    metrics::Counter* c = registry_->GetCounter(
        "evs_records_error_total", "Records that failed, by stage and code",
        {{"module", module_}, {"stage", stage}, {"code", code}});
    it = error_counters_.emplace(key, c).first;
  }
  it->second->Inc();
}

void ProcessorBase::DeadLetter(const kafka::InRecord& in, const EventError& err,
                               kafka::OutBatch* out) {
  CountError(err.stage, err.code);
  dlq_total_->Inc();
  kafka::OutRecord r;
  r.topic = cfg_->topics.dlq;
  r.has_key = in.has_key();
  r.key = std::string(in.key());
  r.has_value = in.has_value();
  r.value = std::string(in.value());
  r.headers = in.Headers();
  r.headers.emplace_back(hdr::kErrorStage, err.stage);
  r.headers.emplace_back(hdr::kErrorCode, err.code);
  r.headers.emplace_back(hdr::kErrorMessage, err.message);
  r.headers.emplace_back(hdr::kErrorModule, module_);
  r.headers.emplace_back(hdr::kErrorTopic, std::string(in.topic()));
  r.headers.emplace_back(hdr::kErrorPartition, std::to_string(in.partition()));
  r.headers.emplace_back(hdr::kErrorOffset, std::to_string(in.offset()));
  out->push_back(std::move(r));
}

kafka::OutRecord ProcessorBase::ProduceFailure(const kafka::OutRecord& failed,
                                               const std::string& reason) {
  CountError("produce", "produce_failed");
  dlq_total_->Inc();
  kafka::OutRecord r = failed;
  r.topic = cfg_->topics.dlq;
  r.partition = RD_KAFKA_PARTITION_UA;
  r.headers.emplace_back(hdr::kErrorStage, "produce");
  r.headers.emplace_back(hdr::kErrorCode, "produce_failed");
  r.headers.emplace_back(hdr::kErrorMessage,
                         absl::StrCat("could not produce to '", failed.topic, "': ", reason));
  r.headers.emplace_back(hdr::kErrorModule, module_);
  r.headers.emplace_back(hdr::kErrorTopic, failed.topic);
  return r;
}

}  // namespace evs::adapters
