#include "jobs/model_job.h"

#include <cctype>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/headers.h"

namespace evs::jobs {

bool RequestParser::Parse(const kafka::InRecord& in, uint32_t max_event_bytes,
                          simdjson::dom::object* obj, EventError* err) {
  simdjson::dom::element root;
  if (in.has_value() && in.value().size() <= max_event_bytes &&
      json_.Parse(in.value(), &root) == simdjson::SUCCESS && root.get_object().get(*obj) == simdjson::SUCCESS)
    return true;
  Record scratch;
  if (!in.has_value()) {
    *err = {"decode", "tombstone", "record without a value"};
  } else if (in.value().size() > max_event_bytes) {
    *err = {"limit", "oversize", absl::StrCat("value of ", in.value().size(), " bytes")};
  } else if (diag_.Decode(in.value(), &scratch, err)) {
    *err = {"decode", "invalid_json", "the request is not a JSON object"};
  }
  return false;
}

kafka::OutRecord& BeginResult(const kafka::InRecord& in, const std::string& results_topic,
                              kafka::OutBatch* out) {
  kafka::OutRecord& r = kafka::AddWithHeadersOf(in, 2, out);
  r.topic = results_topic;
  r.has_key = in.has_key();
  r.key.assign(in.key());
  r.value = "{\"outputs\":{";
  return r;
}

void FinishResult(const kafka::InRecord& in, const models::LoadedModel& m, kafka::OutRecord* r) {
  r->value += "},\"input\":";
  std::string_view raw = in.value();
  while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back()))) raw.remove_suffix(1);
  while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.front()))) raw.remove_prefix(1);
  r->value.append(raw.data(), raw.size());
  r->value += '}';
  const size_t nh = r->headers.size();
  r->headers[nh - 2].first.assign(hdr::kModelVersion);
  r->headers[nh - 2].second.assign(m.version_text);
  r->headers[nh - 1].first.assign(hdr::kModelDigest);
  r->headers[nh - 1].second.assign(m.sha256);
}

void AddModelMetrics(metrics::Registry* registry, const std::string& module,
                     const models::ModelStore* store, const models::RegistryWatcher* watcher) {
  registry->AddCollector([registry, module, store, watcher] {
    if (watcher) {
      registry->GetGauge("evs_model_loads", "Model versions loaded since start", {{"module", module}})
          ->Set(static_cast<double>(watcher->loads()));
      registry->GetGauge("evs_model_load_failures", "Model versions rejected since start",
                         {{"module", module}})
          ->Set(static_cast<double>(watcher->failures()));
    }
    for (const auto& [name, e] : *store->Snapshot()) {
      const metrics::Labels l = {{"module", module}, {"model", name}};
      registry->GetGauge("evs_model_version", "Current version per model", l)
          ->Set(static_cast<double>(e.current->version));
      registry->GetGauge("evs_model_load_ms", "Load time of the current version (read, check, compile, warm up)", l)
          ->Set(e.current->load_ms);
      registry->GetGauge("evs_model_versions_loaded", "Versions held per model", l)
          ->Set(static_cast<double>(e.loaded.size()));
    }
  });
}

SwapClock::SwapClock(metrics::Registry* registry, const std::string& module) {
  const metrics::Labels l = {{"module", module}};
  pause_ = registry->GetHistogram("evs_model_swap_pause_seconds",
                                  "Time the record path spent taking a new model table after a swap", l,
                                  {1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1});
  max_ = registry->GetGauge("evs_model_swap_pause_max_seconds",
                            "Longest time the record path spent taking a new model table", l);
}

void SwapClock::Observe(double seconds) {
  pause_->Observe(seconds);
  if (seconds > max_seen_) {
    max_seen_ = seconds;
    max_->Set(seconds);
  }
}

}  // namespace evs::jobs
