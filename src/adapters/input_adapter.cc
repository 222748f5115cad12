#include "adapters/input_adapter.h"

#include <set>

#include <time.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/headers.h"
#include "common/json_writer.h"

namespace evs::adapters {
namespace {

// Ingest time for evs-ts: the coarse clock (a few ms resolution) costs a
// fraction of a precise read, and evs-ts only needs milliseconds.
int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
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

std::vector<std::string> InputAdapter::OutputTopics() const {
  std::set<std::string> t = {cfg_->topics.dlq};
  for (const config::Route& r : cfg_->routes)
    for (const config::Variant& v : r.variants) t.insert(cfg_->topics.requests_prefix + v.job);
  return {t.begin(), t.end()};
}

bool InputAdapter::Rebuild(const config::Config& cfg, std::string* reason) {
  std::map<std::string, TopicRoutes, std::less<>> by_topic;
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
    by_topic[r.source].routes.push_back(std::move(rs));
  }
  for (auto& [topic, tr] : by_topic) {
    tr.project = true;
    for (const RouteState& rs : tr.routes) {
      const config::Route& r = *rs.route;
      if (r.format != config::Format::kJson || (r.transform && !r.transform->FieldsTouched(&tr.fields))) {
        tr.project = false;
        break;
      }
      if (r.when) tr.fields.insert(tr.fields.end(), r.when->fields().begin(), r.when->fields().end());
      if (!r.split_field.empty()) tr.fields.push_back(r.split_field);
    }
    if (!tr.project) tr.fields.clear();
    std::sort(tr.fields.begin(), tr.fields.end());
    tr.fields.erase(std::unique(tr.fields.begin(), tr.fields.end()), tr.fields.end());
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
                          EventError* err, const std::vector<std::string>* only) {
  rec->Clear();
  switch (route.format) {
    case config::Format::kJson: return json_.Decode(value, rec, err, only);
    case config::Format::kCsv:
      return codec::DecodeCsv(value, route.csv.columns, route.csv.delimiter, rec, err);
    case config::Format::kText: return codec::DecodeText(value, route.text_field, rec, err);
  }
  return false;
}

void InputAdapter::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  const bool timed = TimeThisRecord();
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
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
  Record& rec = rec_;
  const config::Route* decoded_as = nullptr;
  const RouteState* chosen = nullptr;
  EventError err;
  const TopicRoutes& tr = it->second;
  const std::vector<std::string>* only = tr.project ? &tr.fields : nullptr;
  for (const RouteState& rs : tr.routes) {
    const config::Route& r = *rs.route;
    if (decoded_as == nullptr || decoded_as->format != r.format ||
        (r.format == config::Format::kCsv && decoded_as->csv.columns != r.csv.columns) ||
        (r.format == config::Format::kText && decoded_as->text_field != r.text_field)) {
      if (!Decode(r, in.value(), &rec, &err, only)) {
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
  // When the transform can only append fields, the original JSON bytes are
  // passed through and only the appended fields are encoded.
  const bool splice = route.format == config::Format::kJson &&
                      (!route.transform || route.transform->AppendsOnly(rec));
  if (!splice && only != nullptr && !Decode(route, in.value(), &rec, &err)) {
    // Needs the whole record after a projected decode (the same bytes
    // decoded before, so this cannot fail; kept for safety).
    DeadLetter(in, err, out);
    return;
  }
  const size_t original_fields = rec.size();
  if (route.transform && !route.transform->Apply(&rec, &err)) {
    err.stage = "transform";
    DeadLetter(in, err, out);
    return;
  }
  // Event id: the producer's evs-id header, else the source coordinates.
  src_buf_.clear();
  absl::StrAppend(&src_buf_, AV(in.topic()), "/", in.partition(), "/", in.offset());
  std::string_view id_hdr;
  const std::string_view id = in.Header(hdr::kId, &id_hdr) ? id_hdr : std::string_view(src_buf_);
  const std::string_view src = src_buf_;
  // Split key: the named field, else the Kafka key, else the event id.
  std::string_view split_key;
  if (!route.split_field.empty()) {
    const Value* v = rec.Find(route.split_field);
    if (v == nullptr || v->is_null()) {
      DeadLetter(in, {"route", "missing_field",
                      absl::StrCat("split_field '", route.split_field, "' is missing")},
                 out);
      return;
    }
    split_buf_ = v->DebugString();
    split_key = split_buf_;
  } else if (in.has_key()) {
    split_key = in.key();
  } else {
    split_key = id;
  }
  value_buf_.clear();
  if (splice) {
    const std::string_view original = in.value();
    value_buf_.append(original.data(), original.find_last_not_of(" \t\r\n"));  // drops the '}'
    // A comma unless the original object is empty (the decoded record may
    // hold only some of its fields, so look at the bytes).
    const size_t last = value_buf_.find_last_not_of(" \t\r\n");
    bool comma = last != std::string::npos && value_buf_[last] != '{';
    for (size_t i = original_fields; i < rec.size(); ++i) {
      if (comma) value_buf_.push_back(',');
      comma = true;
      AppendJsonString(rec.fields()[i].name, &value_buf_);
      value_buf_.push_back(':');
      AppendJsonValue(rec.fields()[i].value, &value_buf_);
    }
    value_buf_.push_back('}');
  } else {
    AppendRecordJson(rec, &value_buf_);
  }
  const int64_t now_ms = NowMs();
  if (now_ms != ts_ms_) {  // the coarse clock ticks every few ms: format once per tick
    ts_ms_ = now_ms;
    ts_str_ = std::to_string(now_ms);
  }
  const std::string_view ts = ts_str_;
  auto emit = [&](size_t vi, bool shadow) {
    const config::Variant& v = route.variants[vi];
    kafka::OutRecord& r = out->Add(8);
    r.topic.assign(chosen->variants[vi].topic);
    r.has_key = in.has_key();
    r.key.assign(in.key());
    r.value.assign(value_buf_);
    auto set = [&r](size_t i, const char* name, std::string_view value) {
      r.headers[i].first.assign(name);
      r.headers[i].second.assign(value);
    };
    set(0, hdr::kId, id);
    set(1, hdr::kRoute, route.name);
    set(2, hdr::kModel, v.model);
    set(3, hdr::kVariant, v.name);
    set(4, hdr::kShadow, shadow ? "true" : "false");
    set(5, hdr::kSrc, src);
    set(6, hdr::kTs, ts);
    set(7, hdr::kConfig, config_version_str_);
    chosen->variants[vi].out->Inc();
  };
  emit(chosen->splitter->Pick(split_key), false);
  for (size_t s : chosen->splitter->shadows()) emit(s, true);
  if (timed)
    chosen->latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace evs::adapters
