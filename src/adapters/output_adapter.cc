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
    outs.push_back({&o, registry_->GetCounter("evs_records_out_total",
                                              "Records produced, by output",
                                              {{"module", module_}, {"route", o.name}, {"variant", ""}})});
  }
  outputs_ = std::move(outs);
  return true;
}

void OutputAdapter::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  const auto t0 = std::chrono::steady_clock::now();
  in_->Inc();
  auto header = [&](const char* name) {
    std::string_view v;
    return in.Header(name, &v) ? std::string(v) : std::string();
  };
  if (!in.has_value() || in.value().empty()) {
    DeadLetter(in, {"decode", in.has_value() ? "empty_value" : "tombstone", "the result has no value"}, out);
    return;
  }
  Record wrapper;
  EventError err;
  if (!json_.Decode(in.value(), &wrapper, &err)) {
    DeadLetter(in, err, out);
    return;
  }
  const Value* outputs_v = wrapper.Find("outputs");
  if (outputs_v == nullptr || outputs_v->type() != ValueType::kRaw || outputs_v->as_string().empty() ||
      outputs_v->as_string()[0] != '{') {
    DeadLetter(in, {"decode", "not_a_result", "the result value has no \"outputs\" object"}, out);
    return;
  }
  Record rec;
  if (!json_.Decode(outputs_v->as_string(), &rec, &err)) {
    DeadLetter(in, err, out);
    return;
  }
  const std::string route = header(hdr::kRoute);
  std::string model = header(hdr::kModel);
  if (auto at = model.find('@'); at != std::string::npos) model.resize(at);
  const std::string variant = header(hdr::kVariant);
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
                    absl::StrCat("no output matches route '", route, "', model '", model,
                                 "', variant '", variant, "', shadow ", shadow ? "true" : "false")},
               out);
    return;
  }
  const config::Output& o = *chosen->output;
  if (o.transform && !o.transform->Apply(&rec, &err)) {
    err.stage = "transform";
    DeadLetter(in, err, out);
    return;
  }
  for (const std::string& a : o.attach) {
    if (a == "id") rec.Set("id", Value::String(header(hdr::kId)));
    else if (a == "model") rec.Set("model", Value::String(model));
    else if (a == "version") rec.Set("version", Value::String(header(hdr::kModelVersion)));
    else if (a == "variant") rec.Set("variant", Value::String(variant));
    else if (a == "route") rec.Set("route", Value::String(route));
    else if (a == "shadow") rec.Set("shadow", Value::Bool(shadow));
    else if (a == "digest") rec.Set("digest", Value::String(header(hdr::kModelDigest)));
    else if (a == "source") rec.Set("source", Value::String(header(hdr::kSrc)));
    else if (a == "config") rec.Set("config", Value::String(header(hdr::kConfig)));
  }
  if (!o.attach_fields.empty()) {
    const Value* input_v = wrapper.Find("input");
    Record input;
    if (input_v != nullptr && input_v->type() == ValueType::kRaw &&
        !json_.Decode(input_v->as_string(), &input, &err)) {
      DeadLetter(in, err, out);
      return;
    }
    for (const std::string& f : o.attach_fields) {
      const Value* v = input.Find(f);
      if (v == nullptr) {
        DeadLetter(in, {"transform", "missing_field",
                        absl::StrCat("attach_fields: input field '", f, "' is missing")},
                   out);
        return;
      }
      rec.Set(f, *v);
    }
  }
  kafka::OutRecord r;
  r.topic = (shadow && !o.match.shadow.has_value()) ? o.topic + cfg_->shadow_topic_suffix : o.topic;
  r.has_key = in.has_key();
  r.key = std::string(in.key());
  r.value.clear();
  AppendRecordJson(rec, &r.value);
  r.headers = in.Headers();
  out->push_back(std::move(r));
  chosen->out->Inc();
  latency_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace evs::adapters
