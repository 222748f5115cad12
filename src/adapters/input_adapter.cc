#include "adapters/input_adapter.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/headers.h"
#include "common/json_writer.h"

namespace evs::adapters {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

InputAdapter::InputAdapter(std::string module, std::shared_ptr<const config::Config> cfg,
                           runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                           metrics::Registry* registry)
    : ProcessorBase(std::move(module), std::move(cfg), slot, reporter, registry),
      json_(cfg_->limits.max_depth), json_depth_(cfg_->limits.max_depth) {
  no_route_ = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                                    {{"module", module_}, {"route", "(none)"}});
  Init();
}

std::vector<std::string> InputAdapter::Topics() const { return topics_; }

bool InputAdapter::Rebuild(const config::Config& cfg, std::string* reason) {
  std::map<std::string, std::vector<RouteState>, std::less<>> by_topic;
  for (const config::Route& r : cfg.routes) {
    RouteState rs;
    rs.route = &r;
    rs.splitter = std::make_unique<routing::Splitter>(r);
    rs.in = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                                  {{"module", module_}, {"route", r.name}});
    rs.latency = registry_->GetHistogram("evs_process_latency_seconds",
                                         "Time to decode, route and transform one record",
                                         {{"module", module_}, {"route", r.name}});
    for (const config::Variant& v : r.variants) {
      VariantState vs;
      vs.topic = cfg.topics.requests_prefix + v.job;
      vs.out = registry_->GetCounter("evs_records_out_total", "Records produced, by route and variant",
                                     {{"module", module_}, {"route", r.name}, {"variant", v.name}});
      rs.variants.push_back(std::move(vs));
    }
    by_topic[r.source].push_back(std::move(rs));
  }
  std::vector<std::string> topics;
  for (const auto& [t, _] : by_topic) topics.push_back(t);
  if (topics != topics_) topics_epoch_++;
  topics_ = std::move(topics);
  by_topic_ = std::move(by_topic);
  if (cfg.limits.max_depth != json_depth_) {
    json_ = codec::JsonDecoder(cfg.limits.max_depth);
    json_depth_ = cfg.limits.max_depth;
  }
  config_version_str_ = std::to_string(cfg.version);
  return true;
}

bool InputAdapter::Decode(const config::Route& route, std::string_view value, Record* rec,
                          EventError* err) {
  rec->Clear();
  switch (route.format) {
    case config::Format::kJson: return json_.Decode(value, rec, err);
    case config::Format::kCsv:
      return codec::DecodeCsv(value, route.csv.columns, route.csv.delimiter, rec, err);
    case config::Format::kText: return codec::DecodeText(value, route.text_field, rec, err);
  }
  return false;
}

void InputAdapter::Process(const kafka::InRecord& in, std::vector<kafka::OutRecord>* out) {
  const auto t0 = std::chrono::steady_clock::now();
  auto it = by_topic_.find(in.topic());
  if (it == by_topic_.end()) {
    no_route_->Inc();
    DeadLetter(in, {"route", "no_route", absl::StrCat("no route reads topic '", AV(in.topic()), "'")}, out);
    return;
  }
  if (!in.has_value()) {
    no_route_->Inc();
    DeadLetter(in, {"decode", "tombstone", "the record has no value (tombstone)"}, out);
    return;
  }
  if (in.value().size() > cfg_->limits.max_event_bytes) {
    no_route_->Inc();
    DeadLetter(in, {"limit", "oversize",
                    absl::StrCat("value of ", in.value().size(), " bytes exceeds limits.max_event_bytes (",
                                 cfg_->limits.max_event_bytes, ")")},
               out);
    return;
  }
  // Routes on one topic usually share a format: decode once per format.
  Record rec;
  const config::Route* decoded_as = nullptr;
  RouteState* chosen = nullptr;
  EventError err;
  for (RouteState& rs : it->second) {
    const config::Route& r = *rs.route;
    if (decoded_as == nullptr || decoded_as->format != r.format ||
        (r.format == config::Format::kCsv && decoded_as->csv.columns != r.csv.columns) ||
        (r.format == config::Format::kText && decoded_as->text_field != r.text_field)) {
      if (!Decode(r, in.value(), &rec, &err)) {
        no_route_->Inc();
        DeadLetter(in, err, out);
        return;
      }
      decoded_as = &r;
    }
    if (r.when) {
      bool match = false;
      if (!r.when->EvalBool(rec, &match, &err)) {
        no_route_->Inc();
        err.stage = "route";
        err.message = absl::StrCat("route '", r.name, "' predicate: ", err.message);
        DeadLetter(in, err, out);
        return;
      }
      if (!match) continue;
    }
    chosen = &rs;
    break;
  }
  if (chosen == nullptr) {
    no_route_->Inc();
    DeadLetter(in, {"route", "no_route", absl::StrCat("no route on topic '", AV(in.topic()), "' matches the event")},
               out);
    return;
  }
  const config::Route& route = *chosen->route;
  chosen->in->Inc();
  if (route.transform && !route.transform->Apply(&rec, &err)) {
    err.stage = "transform";
    DeadLetter(in, err, out);
    return;
  }
  // Event id: the producer's evs-id header, else the source coordinates.
  std::string src = absl::StrCat(AV(in.topic()), "/", in.partition(), "/", in.offset());
  std::string_view id_hdr;
  std::string id = in.Header(hdr::kId, &id_hdr) ? std::string(id_hdr) : src;
  // Split key: the named field, else the Kafka key, else the event id.
  std::string split_key;
  if (!route.split_field.empty()) {
    const Value* v = rec.Find(route.split_field);
    if (v == nullptr || v->is_null()) {
      DeadLetter(in, {"route", "missing_field",
                      absl::StrCat("split_field '", route.split_field, "' is missing")},
                 out);
      return;
    }
    split_key = v->DebugString();
  } else if (in.has_key()) {
    split_key = std::string(in.key());
  } else {
    split_key = id;
  }
  value_buf_.clear();
  AppendRecordJson(rec, &value_buf_);
  const std::string ts = std::to_string(NowMs());
  auto emit = [&](size_t vi, bool shadow) {
    const config::Variant& v = route.variants[vi];
    kafka::OutRecord r;
    r.topic = chosen->variants[vi].topic;
    r.has_key = in.has_key();
    r.key = std::string(in.key());
    r.value = value_buf_;
    r.headers = {{hdr::kId, id},
                 {hdr::kRoute, route.name},
                 {hdr::kModel, v.model},
                 {hdr::kVariant, v.name},
                 {hdr::kShadow, shadow ? "true" : "false"},
                 {hdr::kSrc, src},
                 {hdr::kTs, ts},
                 {hdr::kConfig, config_version_str_},
                 {hdr::kJob, v.job}};
    out->push_back(std::move(r));
    chosen->variants[vi].out->Inc();
  };
  emit(chosen->splitter->Pick(split_key), false);
  for (size_t s : chosen->splitter->shadows()) emit(s, true);
  chosen->latency->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace evs::adapters
