#include "jobs/pmml_job.h"

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/headers.h"
#include "common/json_writer.h"
#include "jobs/model_job.h"
#include "simdjson.h"

namespace evs::jobs {

namespace {
constexpr size_t kMaxCachedPositions = 256;
}  // namespace

PmmlJob::PmmlJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
                 runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                 metrics::Registry* registry, std::shared_ptr<models::ModelStore> store,
                 std::unique_ptr<models::RegistryWatcher> watcher)
    : ProcessorBase(std::move(module), std::move(cfg), slot, reporter, registry), job_(std::move(job)),
      store_(std::move(store)), watcher_(std::move(watcher)), request_(std::make_unique<RequestParser>(cfg_->limits.max_depth)) {
  in_ = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                              {{"module", module_}, {"route", "(requests)"}});
  eval_seconds_ = registry_->GetHistogram("evs_eval_seconds",
                                          "Model evaluation time per record (inputs, evaluate, outputs)",
                                          {{"module", module_}});
  AddModelMetrics(registry_, module_, store_.get(), watcher_.get());
  swap_clock_ = std::make_unique<SwapClock>(registry_, module_);
  Init();
  Refresh();
}

PmmlJob::~PmmlJob() {
  if (watcher_) watcher_->Stop();
}

void PmmlJob::Refresh() { TakeNewTable(store_.get(), &seen_model_epoch_, &table_, &contexts_, swap_clock_.get()); }

PmmlJob::Ctx* PmmlJob::ContextFor(const models::LoadedModel* m) {
  auto it = contexts_.find(m);
  if (it != contexts_.end()) return &it->second;
  Ctx c;
  auto entry = table_->find(m->name);
  for (const auto& l : entry->second.loaded)
    if (l.get() == m) c.model = l;
  if (!c.model) c.model = entry->second.current;
  c.ctx = m->model->NewContext();
  c.out = registry_->GetCounter("evs_records_out_total", "Records produced",
                                {{"module", module_}, {"route", "(results)"}, {"model", m->name}});
  return &contexts_.emplace(m, std::move(c)).first->second;
}

void PmmlJob::Fail(const kafka::InRecord& in, const char* stage, const char* code,
                   std::string message, kafka::OutBatch* out) {
  DeadLetter(in, EventError{stage, code, std::move(message)}, out);
}

void PmmlJob::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  in_->Inc();
  Refresh();
  std::string_view ref_text;
  models::ModelRef ref;
  if (!in.Header(hdr::kModel, &ref_text) || !models::ParseModelRef(ref_text, &ref)) {
    Fail(in, "model", "model_not_found",
         ref_text.empty() ? "the request has no evs-model header"
                          : absl::StrCat("'", AV(ref_text), "' is not a model name or name@version"),
         out);
    return;
  }
  const models::LoadedModel* m = models::FindModel(*table_, ref);
  if (m == nullptr) {
    Fail(in, "model", "model_not_found",
         ref.version ? absl::StrCat("model '", AV(ref.name), "' version ", ref.version, " is not loaded")
                     : absl::StrCat("no model named '", AV(ref.name), "'"),
         out);
    return;
  }
  const bool timed = TimeThisRecord();
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  Ctx* c = ContextFor(m);
  const pmml::CompiledModel& model = *m->model;
  pmml::EvalContext& ctx = *c->ctx;

  simdjson::dom::object obj;
  if (EventError err; !request_->Parse(in, cfg_->limits.max_event_bytes, &obj, &err)) {
    DeadLetter(in, err, out);
    return;
  }
  ctx.BeginRecord();
  size_t pos = 0;
  for (auto field : obj) {
    const std::string_view key = field.key;
    int idx;
    if (pos < c->slot_at.size() && c->slot_at[pos].first == key) {
      idx = c->slot_at[pos].second;
    } else {
      auto it = m->input_index.find(key);
      idx = it == m->input_index.end() ? -1 : it->second;
      if (pos < c->slot_at.size()) c->slot_at[pos] = {std::string(key), idx};
      else if (pos < kMaxCachedPositions) c->slot_at.emplace_back(std::string(key), idx);
    }
    ++pos;
    if (idx < 0) continue;
    simdjson::dom::element v = field.value;
    switch (v.type()) {
      case simdjson::dom::element_type::DOUBLE: model.SetInput(ctx, idx, double(v.get_double().value_unsafe())); break;
      case simdjson::dom::element_type::INT64: model.SetInput(ctx, idx, double(v.get_int64().value_unsafe())); break;
      case simdjson::dom::element_type::UINT64: model.SetInput(ctx, idx, double(v.get_uint64().value_unsafe())); break;
      case simdjson::dom::element_type::STRING: model.SetInput(ctx, idx, std::string_view(v.get_string().value_unsafe())); break;
      case simdjson::dom::element_type::BOOL:
        model.SetInput(ctx, idx, std::string_view(v.get_bool().value_unsafe() ? "true" : "false"));
        break;
      case simdjson::dom::element_type::NULL_VALUE: model.SetMissing(ctx, idx); break;
      default:
        Fail(in, "input", "invalid_input",
             absl::StrCat("field '", AV(field.key), "' is an ",
                          v.type() == simdjson::dom::element_type::ARRAY ? "array" : "object",
                          "; model inputs are numbers, strings, booleans or null"),
             out);
        return;
    }
  }
  absl::Status s = model.Evaluate(ctx);
  if (!s.ok()) {
    Fail(in, "evaluate", "evaluation_error", std::string(s.message()), out);
    return;
  }
  kafka::OutRecord& r = BeginResult(in, cfg_->topics.results, out);
  for (size_t i = 0; i < m->output_keys.size(); ++i) {
    if (i) r.value += ',';
    r.value += m->output_keys[i];
    const pmml::Value& v = model.Output(ctx, static_cast<int>(i));
    switch (v.kind) {
      case pmml::Value::Kind::kNumber:
        if (std::isfinite(v.num)) AppendJsonNumber(v.num, &r.value);
        else r.value += "null";
        break;
      case pmml::Value::Kind::kString: AppendJsonString(v.str, &r.value); break;
      case pmml::Value::Kind::kBool: r.value += v.num != 0 ? "true" : "false"; break;
      case pmml::Value::Kind::kCollection:
        r.value += '[';
        for (size_t k = 0; k < v.items.size(); ++k) {
          if (k) r.value += ',';
          AppendJsonString(v.items[k], &r.value);
        }
        r.value += ']';
        break;
      default: r.value += "null"; break;
    }
  }
  FinishResult(in, *m, &r);
  if (timed) eval_seconds_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  c->out->Inc();
}

std::string PmmlJob::Describe() const {
  std::string d = ProcessorBase::Describe();
  if (d.empty() || d.back() != '}') return d;
  d.pop_back();
  d += ",\"models\":[";
  auto t = store_->Snapshot();
  bool first = true;
  for (const auto& [name, e] : *t) {
    if (!first) d += ",";
    first = false;
    d += "{\"name\":";
    AppendJsonString(name, &d);
    d += absl::StrCat(",\"version\":", e.current->version, ",\"digest\":\"", e.current->sha256,
                      "\",\"loaded\":[");
    for (size_t i = 0; i < e.loaded.size(); ++i) d += absl::StrCat(i ? "," : "", e.loaded[i]->version);
    d += "]}";
  }
  d += absl::StrCat("],\"registry_caught_up\":", watcher_ && watcher_->caught_up() ? "true" : "false", "}");
  return d;
}

}  // namespace evs::jobs
