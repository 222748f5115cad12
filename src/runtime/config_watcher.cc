#include "runtime/config_watcher.h"

#include <chrono>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "common/fmt_compat.h"
#include "spdlog/spdlog.h"

namespace evs::runtime {

absl::StatusOr<std::unique_ptr<StatusReporter>> StatusReporter::Create(const kafka::Props& props,
                                                                       std::string topic,
                                                                       std::string module) {
  std::unique_ptr<StatusReporter> r(new StatusReporter());
  ASSIGN_OR_RETURN(kafka::ConfPtr conf, kafka::MakeConf(props, {{"linger.ms", "0"}}));
  ASSIGN_OR_RETURN(r->producer_, kafka::MakeHandle(RD_KAFKA_PRODUCER, std::move(conf)));
  r->topic_ = std::move(topic);
  r->module_ = std::move(module);
  return r;
}

StatusReporter::~StatusReporter() {
  if (producer_) rd_kafka_flush(producer_.get(), 5000);
}

void StatusReporter::Report(const std::string& event, const std::string& outcome, int64_t version,
                            const std::string& reason) {
  Report(event, outcome, version, reason, {}, {});
}

void StatusReporter::Report(const std::string& event, const std::string& outcome, int64_t version,
                            const std::string& reason,
                            const std::vector<std::pair<std::string, std::string>>& strings,
                            const std::vector<std::pair<std::string, double>>& numbers) {
  std::string v = "{\"module\":";
  AppendJsonString(module_, &v);
  v += ",\"event\":";
  AppendJsonString(event, &v);
  v += ",\"outcome\":";
  AppendJsonString(outcome, &v);
  v += absl::StrCat(",\"version\":", version, ",\"reason\":");
  AppendJsonString(reason, &v);
  for (const auto& [k, s] : strings) {
    v += ",";
    AppendJsonString(k, &v);
    v += ":";
    AppendJsonString(s, &v);
  }
  for (const auto& [k, d] : numbers) {
    v += ",";
    AppendJsonString(k, &v);
    v += ":";
    AppendJsonNumber(d, &v);
  }
  v += absl::StrCat(",\"ts\":", std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count(),
                    "}");
  kafka::OutRecord r;
  r.topic = topic_;
  r.key = module_;
  r.has_key = true;
  r.value = std::move(v);
  absl::Status s = kafka::Produce(producer_.get(), r, nullptr);
  if (!s.ok()) spdlog::warn("status report: {}", s.message());
  rd_kafka_flush(producer_.get(), 5000);
  spdlog::info("{}: {} {}{}{} (version {}){}{}", module_, event, outcome,
               strings.empty() ? "" : " ", strings.empty() ? "" : strings[0].second, version,
               reason.empty() ? "" : ": ", reason);
}

ConfigWatcher::ConfigWatcher(kafka::Props props, std::string topic, std::string key,
                             ConfigSlot* slot, StatusReporter* reporter)
    : props_(std::move(props)), topic_(std::move(topic)), key_(std::move(key)), slot_(slot),
      reporter_(reporter) {}

ConfigWatcher::~ConfigWatcher() { Stop(); }

void ConfigWatcher::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (consumer_) {
    rd_kafka_consumer_close(consumer_.get());
    consumer_.reset();
  }
}

void ConfigWatcher::Handle(const rd_kafka_message_t* m, bool catching_up,
                           std::shared_ptr<const config::Config>* latest) {
  kafka::InRecord in(m);
  if (in.key() != key_) return;
  if (!in.has_value()) {  // tombstone: nothing to apply; the current config stays
    if (!catching_up) reporter_->Report("config", "rejected", 0, "tombstone: config unchanged");
    return;
  }
  auto cfg = config::ParseConfig(std::string(in.value()));
  if (!cfg.ok()) {
    if (!catching_up)
      reporter_->Report("config", "rejected", config::PeekVersion(std::string(in.value())),
                        std::string(cfg.status().message()));
    return;
  }
  if (catching_up) {
    *latest = *cfg;
  } else {
    slot_->Publish(*cfg);  // the runner reports "applied" when it swaps it in
  }
}

absl::StatusOr<std::shared_ptr<const config::Config>> ConfigWatcher::Start() {
  ASSIGN_OR_RETURN(kafka::ConfPtr conf,
                   kafka::MakeConf(props_, {{"group.id", "evs-config-watcher-" + key_},
                                            {"enable.auto.commit", "false"},
                                            {"enable.partition.eof", "false"}}));
  ASSIGN_OR_RETURN(consumer_, kafka::MakeHandle(RD_KAFKA_CONSUMER, std::move(conf)));
  ASSIGN_OR_RETURN(auto ends, kafka::AssignWholeTopic(consumer_.get(), topic_,
                                                      RD_KAFKA_OFFSET_BEGINNING, 10000));
  std::shared_ptr<const config::Config> latest;
  RETURN_IF_ERROR(kafka::ConsumeToEnd(consumer_.get(), topic_, std::move(ends), 30000,
                                      [&](const rd_kafka_message_t* m) { Handle(m, true, &latest); }));
  thread_ = std::thread([this] { Loop(); });
  return latest;
}

void ConfigWatcher::Loop() {
  while (!stop_.load()) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), 200));
    if (!m || m->err) continue;
    Handle(m.get(), false, nullptr);
  }
}

}  // namespace evs::runtime
