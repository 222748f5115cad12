#include "adapters/output_adapter.h"

#include <set>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/headers.h"
#include "common/json_writer.h"

namespace evs::adapters {

OutputAdapter::OutputAdapter(std::string module, std::shared_ptr<const config::Config> cfg,
                             runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                             metrics::Registry* registry)
    : ProcessorBase(std::move(module), std::move(cfg), slot, reporter, registry),
      json_(cfg_->limits.max_depth) {
  in_ = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                              {{"module", module_}, {"route", "(results)"}});
  latency_ = registry_->GetHistogram("evs_process_latency_seconds",
                                     "Time to route and transform one result",
                                     {{"module", module_}, {"route", "(results)"}});
  Init();
}

std::vector<std::string> OutputAdapter::OutputTopics() const {
  std::set<std::string> t = {cfg_->topics.dlq};
  for (const config::Output& o : cfg_->outputs) {
    t.insert(o.topic);
    if (!o.match.shadow.has_value()) t.insert(o.topic + cfg_->shadow_topic_suffix);
  }
  return {t.begin(), t.end()};
}

bool OutputAdapter::Rebuild(const config::Config& cfg, std::string* reason) {
  std::vector<OutputState> outs;
  for (const config::Output& o : cfg.outputs) {
    OutputState st;
    st.output = &o;
    st.out = registry_->GetCounter("evs_records_out_total", "Records produced, by output",
                                   {{"module", module_}, {"route", o.name}, {"variant", ""}});
    st.project = o.transform && o.transform->ResultFields(&st.fields);
    outs.push_back(std::move(st));
  }
  outputs_ = std::move(outs);
  return true;
}

// Hot path. Routing reads headers only, so the rule is chosen before the
// value is parsed; one parse then yields the outputs and, projected to the
// rule's attach_fields, the input. Scratch records and the recycled
// OutRecord keep their capacity from record to record.
void OutputAdapter::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  const bool timed = TimeThisRecord();
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  in_->Inc();
  auto header = [&](const char* name) {
    std::string_view v;
    in.Header(name, &v);
    return v;
  };
  if (!in.has_value() || in.value().empty()) {
    DeadLetter(in, {"decode", in.has_value() ? "empty_value" : "tombstone", "the result has no value"}, out);
    return;
  }
  const std::string_view route = header(hdr::kRoute);
  std::string_view model = header(hdr::kModel);
  if (auto at = model.find('@'); at != std::string_view::npos) model = model.substr(0, at);
  const std::string_view variant = header(hdr::kVariant);
  const bool shadow = header(hdr::kShadow) == "true";
  const OutputState* chosen = nullptr;
  for (const OutputState& os : outputs_) {
    const config::OutputMatch& m = os.output->match;
    if (!m.route.empty() && m.route != route) continue;
    if (!m.model.empty() && m.model != model) continue;
    if (!m.variant.empty() && m.variant != variant) continue;
    if (m.shadow.has_value() && *m.shadow != shadow) continue;
    chosen = &os;
    break;
  }
  if (chosen == nullptr) {
    DeadLetter(in, {"route", "no_route",
                    absl::StrCat("no output matches route '", AV(route), "', model '", AV(model),
                                 "', variant '", AV(variant), "', shadow ", shadow ? "true" : "false")},
               out);
    return;
  }
  const config::Output& o = *chosen->output;
  codec::JsonDecoder::Member members[2] = {{"outputs", &rec_, chosen->project ? &chosen->fields : nullptr},
                                           {"input", &input_, &o.attach_fields}};
  EventError err;
  if (!json_.DecodeMembers(in.value(), members, o.attach_fields.empty() ? 1 : 2, &err)) {
    DeadLetter(in, err, out);
    return;
  }
  if (!members[0].found) {
    DeadLetter(in, {"decode", "not_a_result", "the result value has no \"outputs\" object"}, out);
    return;
  }
  Record& rec = rec_;
  if (o.transform && !o.transform->Apply(&rec, &err)) {
    err.stage = "transform";
    DeadLetter(in, err, out);
    return;
  }
  auto set = [&rec](std::string_view name, std::string_view v) {
    rec.Set(name, Value::String(std::string(v)));
  };
  for (const std::string& a : o.attach) {
    if (a == "id") set("id", header(hdr::kId));
    else if (a == "model") set("model", model);
    else if (a == "version") set("version", header(hdr::kModelVersion));
    else if (a == "variant") set("variant", variant);
    else if (a == "route") set("route", route);
    else if (a == "shadow") rec.Set("shadow", Value::Bool(shadow));
    else if (a == "digest") set("digest", header(hdr::kModelDigest));
    else if (a == "source") set("source", header(hdr::kSrc));
    else if (a == "config") set("config", header(hdr::kConfig));
  }
  for (const std::string& f : o.attach_fields) {
    const Value* v = input_.Find(f);
    if (v == nullptr) {
      DeadLetter(in, {"transform", "missing_field",
                      absl::StrCat("attach_fields: input field '", f, "' is missing")},
                 out);
      return;
    }
    rec.Set(f, *v);
  }
  kafka::OutRecord& r = kafka::AddWithHeadersOf(in, 0, out);
  if (shadow && !o.match.shadow.has_value()) {
    r.topic.assign(o.topic);
    r.topic += cfg_->shadow_topic_suffix;
  } else {
    r.topic.assign(o.topic);
  }
  r.has_key = in.has_key();
  r.key.assign(in.key());
  AppendRecordJson(rec, &r.value);
  chosen->out->Inc();
  if (timed) latency_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace evs::adapters
