#include "adapters/echo_job.h"

#include "common/headers.h"
#include "common/json_writer.h"

namespace evs::adapters {

EchoJob::EchoJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
                 runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                 metrics::Registry* registry)
    : ProcessorBase(std::move(module), std::move(cfg), slot, reporter, registry),
      job_(std::move(job)), json_(cfg_->limits.max_depth) {
  in_ = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                              {{"module", module_}, {"route", "(requests)"}});
  out_ = registry_->GetCounter("evs_records_out_total", "Records produced",
                               {{"module", module_}, {"route", "(results)"}, {"variant", ""}});
  Init();
}

void EchoJob::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  in_->Inc();
  Record features;
  EventError err;
  if (!json_.Decode(in.value(), &features, &err)) {
    DeadLetter(in, err, out);
    return;
  }
  kafka::OutRecord r;
  r.topic = cfg_->topics.results;
  r.has_key = in.has_key();
  r.key = std::string(in.key());
  r.value = "{\"outputs\":";
  AppendRecordJson(features, &r.value);
  r.value += ",\"input\":";
  AppendRecordJson(features, &r.value);
  r.value += "}";
  r.headers = in.Headers();
  r.headers.emplace_back(hdr::kModelVersion, "echo");
  out->push_back(std::move(r));
  out_->Inc();
}

}  // namespace evs::adapters
