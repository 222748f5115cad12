#include "jobs/spark_job.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/headers.h"
#include "common/json_writer.h"
#include "jobs/model_job.h"
#include "simdjson.h"
#include "spdlog/spdlog.h"

namespace evs::jobs {
namespace {

const char* JsonTypeName(simdjson::dom::element_type t) {
  switch (t) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    default: return "a number";
  }
}

bool SameSpark(const config::SparkJob& a, const config::SparkJob& b) {
  return a.model == b.model && a.inputs == b.inputs && a.outputs == b.outputs &&
         a.output_names == b.output_names;
}

}  // namespace

SparkJob::SparkJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
                   runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                   metrics::Registry* registry, std::shared_ptr<models::ModelStore> store,
                   std::unique_ptr<models::RegistryWatcher> watcher)
    : ProcessorBase(std::move(module), std::move(cfg), slot, reporter, registry), job_(std::move(job)),
      store_(std::move(store)), watcher_(std::move(watcher)), request_(std::make_unique<RequestParser>(cfg_->limits.max_depth)) {
  if (const config::Job* j = cfg_->FindJob(job_)) model_ = j->spark.model;
  in_ = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                              {{"module", module_}, {"route", "(requests)"}});
  eval_seconds_ = registry_->GetHistogram("evs_eval_seconds",
                                          "Model evaluation time per record (inputs, evaluate, outputs)",
                                          {{"module", module_}});
  AddModelMetrics(registry_, module_, store_.get(), watcher_.get());
  swap_clock_ = std::make_unique<SwapClock>(registry_, module_);
  Init();
  Refresh();
  topics_epoch_ = serving_ ? 1 : 0;
}

SparkJob::~SparkJob() {
  if (watcher_) watcher_->Stop();
}

bool SparkJob::Rebuild(const config::Config& cfg, std::string* reason) {
  const config::Job* j = cfg.FindJob(job_);
  if (!j || j->type != "spark") {
    *reason = absl::StrCat("the config has no spark job '", job_, "'");
    return false;
  }
  // The mapping is compiled into each loaded version; it changes at restart.
  if (cfg_ && cfg_.get() != &cfg) {
    const config::Job* cur = cfg_->FindJob(job_);
    if (cur && !SameSpark(cur->spark, j->spark)) {
      *reason = absl::StrCat("jobs.", job_,
                             ": model, inputs, outputs and output_names of a spark job change at restart");
      return false;
    }
  }
  return true;
}

std::vector<std::string> SparkJob::Topics() const {
  if (!serving_) return {};
  return {cfg_->topics.requests_prefix + job_};
}

void SparkJob::BetweenRecords() {
  ProcessorBase::BetweenRecords();
  Refresh();
}

void SparkJob::Refresh() {
  if (!TakeNewTable(store_.get(), &seen_model_epoch_, &table_, &contexts_, swap_clock_.get())) return;
  const bool serving = table_->find(model_) != table_->end();
  if (serving != serving_) {
    serving_ = serving;
    ready_.store(serving, std::memory_order_release);
    ++topics_epoch_;
    spdlog::info("{}: model {} {}", module_, model_,
                 serving ? "loaded; consuming requests" : "gone; requests wait until a version is loaded");
  }
}

SparkJob::Ctx* SparkJob::ContextFor(const models::LoadedModel* m) {
  auto it = contexts_.find(m);
  if (it != contexts_.end()) return &it->second;
  Ctx c;
  auto entry = table_->find(m->name);
  for (const auto& l : entry->second.loaded)
    if (l.get() == m) c.model = l;
  if (!c.model) c.model = entry->second.current;
  c.row = m->spark->pipeline->NewRow();
  c.seen.assign(m->spark->pipeline->inputs().size(), 0);
  c.out = registry_->GetCounter("evs_records_out_total", "Records produced",
                                {{"module", module_}, {"route", "(results)"}, {"model", m->name}});
  return &contexts_.emplace(m, std::move(c)).first->second;
}

void SparkJob::Fail(const kafka::InRecord& in, const char* stage, const char* code,
                    std::string message, kafka::OutBatch* out) {
  DeadLetter(in, EventError{stage, code, std::move(message)}, out);
}

void SparkJob::AppendOutputs(const models::SparkServing& s, const spark::Row& row,
                             std::string* v) const {
  using Out = models::SparkServing::Output;
  const spark::Pipeline& p = *s.pipeline;
  for (size_t i = 0; i < s.outputs.size(); ++i) {
    const Out& o = s.outputs[i];
    if (i) *v += ',';
    *v += o.key;
    const spark::Cell& c = p.Get(row, o.slot);
    if (o.kind == Out::Kind::kLabel) {
      const double d = c.kind == spark::Cell::Kind::kNumber ? c.num : -1;
      if (d >= 0 && d < static_cast<double>(s.labels.size()) && d == std::floor(d))
        AppendJsonString(s.labels[static_cast<size_t>(d)], v);
      else
        *v += "null";
      continue;
    }
    if (o.kind == Out::Kind::kLabelFromMean || o.kind == Out::Kind::kProbabilityFromMean) {
      if (c.kind != spark::Cell::Kind::kNumber || s.labels.size() != 2) {
        *v += "null";
      } else if (o.kind == Out::Kind::kLabelFromMean) {
        AppendJsonString(s.labels[c.num > 0.5 ? 1 : 0], v);
      } else {
        AppendJsonNumber(o.index == 1 ? c.num : 1 - c.num, v);
      }
      continue;
    }
    if (o.kind == Out::Kind::kProbability) {
      if (c.kind == spark::Cell::Kind::kVector && o.index < c.vec.size)
        AppendJsonNumber(c.vec.At(o.index), v);
      else
        *v += "null";
      continue;
    }
    switch (c.kind) {
      case spark::Cell::Kind::kNull: *v += "null"; break;
      case spark::Cell::Kind::kNumber:
        if (o.type == spark::DataType::kBoolean) *v += c.num != 0 ? "true" : "false";
        else AppendJsonNumber(c.num, v);  // non-finite: null
        break;
      case spark::Cell::Kind::kString: AppendJsonString(c.str, v); break;
      case spark::Cell::Kind::kVector: {
        // Vectors as dense arrays (sparse entries expanded).
        *v += '[';
        const spark::Vector& x = c.vec;
        size_t k = 0;
        for (int32_t j = 0; j < x.size; ++j) {
          if (j) *v += ',';
          double d = 0;
          if (x.dense) {
            d = x.values[j];
          } else if (k < x.indices.size() && x.indices[k] == j) {
            d = x.values[k++];
          }
          AppendJsonNumber(d, v);
        }
        *v += ']';
        break;
      }
      case spark::Cell::Kind::kStrings:
        *v += '[';
        for (size_t k = 0; k < c.strs.size(); ++k) {
          if (k) *v += ',';
          AppendJsonString(c.strs[k], v);
        }
        *v += ']';
        break;
      case spark::Cell::Kind::kNumbers:
        *v += '[';
        for (size_t k = 0; k < c.nums.size(); ++k) {
          if (k) *v += ',';
          AppendJsonNumber(c.nums[k], v);
        }
        *v += ']';
        break;
    }
  }
}

void SparkJob::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  in_->Inc();
  Refresh();
  std::string_view ref_text;
  models::ModelRef ref{model_, 0};
  if (in.Header(hdr::kModel, &ref_text)) {
    if (!models::ParseModelRef(ref_text, &ref)) {
      Fail(in, "model", "model_not_found",
           absl::StrCat("'", AV(ref_text), "' is not a model name or name@version"), out);
      return;
    }
    if (ref.name != model_) {
      Fail(in, "model", "model_not_found",
           absl::StrCat("this spark job serves model '", model_, "', not '", AV(ref.name), "'"), out);
      return;
    }
  }
  const models::LoadedModel* m = models::FindModel(*table_, ref);
  if (m == nullptr || !m->spark) {
    Fail(in, "model", "model_not_found",
         ref.version ? absl::StrCat("model '", model_, "' version ", ref.version, " is not loaded")
                     : absl::StrCat("model '", model_, "' is not loaded"),
         out);
    return;
  }
  const bool timed = TimeThisRecord();
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  Ctx* c = ContextFor(m);
  const models::SparkServing& s = *m->spark;
  const spark::Pipeline& p = *s.pipeline;
  spark::Row& row = *c->row;

  simdjson::dom::object obj;
  if (EventError err; !request_->Parse(in, cfg_->limits.max_event_bytes, &obj, &err)) {
    DeadLetter(in, err, out);
    return;
  }
  p.BeginRow(row);
  std::fill(c->seen.begin(), c->seen.end(), 0);
  for (auto field : obj) {
    auto it = s.input_index.find(std::string_view(field.key));
    if (it == s.input_index.end()) continue;
    const int idx = it->second;
    c->seen[idx] = 1;
    const spark::ColumnInfo& col = p.inputs()[idx];
    simdjson::dom::element v = field.value;
    const auto t = v.type();
    const bool numeric = spark::IsNumeric(col.type);
    auto wrong = [&] {
      Fail(in, "input", "invalid_input",
           absl::StrCat("field '", AV(field.key), "' is ", JsonTypeName(t), "; input column '", col.name,
                        "' takes ", col.type == spark::DataType::kVector ? "an array of numbers" : "a ",
                        col.type == spark::DataType::kVector ? "" : AV(spark::DataTypeName(col.type))),
           out);
    };
    switch (t) {
      case simdjson::dom::element_type::DOUBLE:
      case simdjson::dom::element_type::INT64:
      case simdjson::dom::element_type::UINT64: {
        if (!numeric) return wrong();
        double d = t == simdjson::dom::element_type::DOUBLE ? v.get_double().value_unsafe()
                   : t == simdjson::dom::element_type::INT64
                       ? static_cast<double>(v.get_int64().value_unsafe())
                       : static_cast<double>(v.get_uint64().value_unsafe());
        p.SetInput(row, idx, d);
        break;
      }
      case simdjson::dom::element_type::STRING: {
        if (col.type == spark::DataType::kVector || col.type == spark::DataType::kStringArray ||
            col.type == spark::DataType::kDoubleArray)
          return wrong();
        absl::Status st = p.SetInput(row, idx, std::string_view(v.get_string().value_unsafe()));
        if (!st.ok()) {
          Fail(in, "input", "invalid_input",
               absl::StrCat("field '", AV(field.key), "': ", st.message()), out);
          return;
        }
        break;
      }
      case simdjson::dom::element_type::BOOL:
        if (!numeric) return wrong();
        p.SetInput(row, idx, v.get_bool().value_unsafe() ? 1.0 : 0.0);
        break;
      case simdjson::dom::element_type::NULL_VALUE: p.SetNull(row, idx); break;
      case simdjson::dom::element_type::ARRAY: {
        if (col.type != spark::DataType::kVector) return wrong();
        simdjson::dom::array a = v.get_array().value_unsafe();
        c->vec.SetDense(static_cast<int32_t>(a.size()));
        int32_t k = 0;
        for (simdjson::dom::element x : a) {
          double d;
          if (x.get_double().get(d) != simdjson::SUCCESS) {
            int64_t n;
            if (x.get_int64().get(n) != simdjson::SUCCESS) return wrong();
            d = static_cast<double>(n);
          }
          c->vec.values[k++] = d;
        }
        p.SetInput(row, idx, c->vec);
        break;
      }
      default: return wrong();
    }
  }
  for (size_t i = 0; i < c->seen.size(); ++i)
    if (!c->seen[i]) {
      Fail(in, "input", "invalid_input",
           absl::StrCat("field '", s.input_fields[i], "' is missing (the pipeline reads it as column '",
                        p.inputs()[i].name, "', ", AV(spark::DataTypeName(p.inputs()[i].type)), ")"),
           out);
      return;
    }
  absl::Status st = p.Run(row);
  if (!st.ok()) {
    Fail(in, "evaluate", "evaluation_error", std::string(st.message()), out);
    return;
  }
  if (row.filtered) {
    Fail(in, "evaluate", "row_filtered",
         row.filter_reason.empty() ? std::string("a stage with handleInvalid=skip drops the row")
                                   : row.filter_reason,
         out);
    return;
  }
  kafka::OutRecord& r = BeginResult(in, cfg_->topics.results, out);
  AppendOutputs(s, row, &r.value);
  FinishResult(in, *m, &r);
  if (timed) eval_seconds_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  c->out->Inc();
}

std::string SparkJob::Describe() const {
  std::string d = ProcessorBase::Describe();
  if (d.empty() || d.back() != '}') return d;
  d.pop_back();
  d += ",\"model\":";
  AppendJsonString(model_, &d);
  auto t = store_->Snapshot();
  auto e = t->find(model_);
  if (e != t->end()) {
    d += absl::StrCat(",\"version\":", e->second.current->version, ",\"digest\":\"",
                      e->second.current->sha256, "\",\"loaded\":[");
    for (size_t i = 0; i < e->second.loaded.size(); ++i)
      d += absl::StrCat(i ? "," : "", e->second.loaded[i]->version);
    d += "]";
    if (e->second.current->spark) {
      d += ",\"inputs\":[";
      const auto& s = *e->second.current->spark;
      for (size_t i = 0; i < s.input_fields.size(); ++i) {
        if (i) d += ",";
        AppendJsonString(s.input_fields[i], &d);
      }
      d += "],\"stages\":[";
      std::vector<std::string> names = s.pipeline->StageNames();
      for (size_t i = 0; i < names.size(); ++i) {
        if (i) d += ",";
        AppendJsonString(names[i], &d);
      }
      d += "]";
    }
  }
  d += absl::StrCat(",\"serving\":", e != t->end() ? "true" : "false", ",\"registry_caught_up\":",
                    watcher_ && watcher_->caught_up() ? "true" : "false", "}");
  return d;
}

}  // namespace evs::jobs
