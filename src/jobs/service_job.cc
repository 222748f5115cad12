#include "jobs/service_job.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/headers.h"
#include "common/json_writer.h"
#include "jobs/model_job.h"
#include "models/registry.h"
#include "simdjson.h"
#include "spdlog/spdlog.h"

namespace evs::jobs {
namespace {

using Clock = ServiceJob::Clock;

constexpr auto kReadyProbeEvery = std::chrono::seconds(5);

int64_t MsUntil(Clock::time_point t, Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
}

const char* BreakerName(ServiceJob::BreakerState s) {
  switch (s) {
    case ServiceJob::BreakerState::kClosed: return "closed";
    case ServiceJob::BreakerState::kHalfOpen: return "half-open";
    case ServiceJob::BreakerState::kOpen: return "open";
  }
  return "?";
}

std::string Snippet(std::string_view body) {
  std::string s(body.substr(0, 200));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (body.size() > 200) s += "...";
  return s;
}

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) absl::StrAppend(&s, i ? "," : "", dims[i]);
  return s + "]";
}

}  // namespace

ServiceJob::ServiceJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
                       runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                       metrics::Registry* registry)
    : ProcessorBase(std::move(module), std::move(cfg), slot, reporter, registry), job_(std::move(job)),
      request_(std::make_unique<RequestParser>(cfg_->limits.max_depth)) {
  const metrics::Labels l = {{"module", module_}};
  in_ = registry_->GetCounter("evs_records_in_total", "Records consumed, by route",
                              {{"module", module_}, {"route", "(requests)"}});
  out_ = registry_->GetCounter("evs_records_out_total", "Records produced",
                               {{"module", module_}, {"route", "(results)"}});
  retries_ = registry_->GetCounter("evs_service_retries_total", "Model-server tries repeated after a failure", l);
  breaker_opened_ = registry_->GetCounter("evs_service_breaker_opened_total", "Times the circuit breaker opened", l);
  request_seconds_ = registry_->GetHistogram("evs_service_request_seconds", "Model-server request time per try", l);
  batch_size_ = registry_->GetHistogram("evs_service_batch_size", "Records per model-server request", l,
                                        {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
  breaker_gauge_ = registry_->GetGauge("evs_service_breaker_state",
                                       "Circuit breaker: 0 closed, 1 half-open, 2 open", l);
  ready_gauge_ = registry_->GetGauge("evs_service_server_ready", "Model server answered its readiness probe (1) or not (0)", l);
  in_flight_gauge_ = registry_->GetGauge("evs_service_requests_in_flight", "Model-server requests awaiting an answer", l);
  Init();
  uint32_t conns = 8;
  if (settings_) conns = std::max<uint32_t>(8, settings_->cfg.max_requests_in_flight * 2);
  service::HttpClient::Options ho;
  ho.max_connections = static_cast<int>(conns);
  http_ = std::make_unique<service::HttpClient>(ho);
}

ServiceJob::~ServiceJob() {
  // The client completes what it still holds through our inbox: it goes
  // before any member it could touch.
  http_.reset();
}

std::shared_ptr<ServiceJob::Settings> ServiceJob::MakeSettings(const config::ServiceJob& c,
                                                               std::string* reason) const {
  auto s = std::make_shared<Settings>();
  s->cfg = c;
  s->protocol = c.protocol == "tf-serving" ? service::Protocol::kTfServing : service::Protocol::kV2;
  s->ref = {c.url, c.model, c.version};
  s->infer_url = service::InferUrl(s->protocol, s->ref);
  s->ready_url = service::ModelReadyUrl(s->protocol, s->ref);
  s->metadata_url = service::MetadataUrl(s->protocol, s->ref);
  std::vector<service::InputTensor> tensors;
  if (!c.inputs.empty()) {
    for (const config::ServiceInput& in : c.inputs) {
      service::InputTensor t;
      t.name = in.name;
      t.shape = in.shape;
      t.fields = in.fields;
      service::ParseDType(in.datatype, &t.dtype);  // validated with the config
      s->fields.insert(s->fields.end(), in.fields.begin(), in.fields.end());
      tensors.push_back(std::move(t));
    }
  } else {
    s->fields = c.fields;
    if (s->protocol == service::Protocol::kV2) {
      s->needs_metadata = true;  // the tensor's name and datatype come from the server
      return s;
    }
    service::InputTensor t;
    t.dtype = service::DType::kFp64;
    if (c.fields.size() != 1) t.shape = {static_cast<int64_t>(c.fields.size())};
    t.fields = c.fields;
    tensors.push_back(std::move(t));
  }
  std::vector<service::OutputMapping> outs;
  for (const auto& [t, f] : c.outputs) outs.push_back({t, f});
  auto codec = service::Codec::Create(
      s->protocol, c.tf_format == "inputs" ? service::TfFormat::kInputs : service::TfFormat::kInstances,
      std::move(tensors), std::move(outs));
  if (!codec.ok()) {
    *reason = absl::StrCat("jobs.", job_, ".service: ", codec.status().message());
    return nullptr;
  }
  s->codec = std::make_unique<const service::Codec>(std::move(*codec));
  return s;
}

bool ServiceJob::Rebuild(const config::Config& cfg, std::string* reason) {
  const config::Job* j = cfg.FindJob(job_);
  if (!j || j->type != "service") {
    *reason = absl::StrCat("the config has no service job '", job_, "'");
    return false;
  }
  if (settings_ && settings_->cfg == j->service) return true;
  std::shared_ptr<Settings> s = MakeSettings(j->service, reason);
  if (!s) return false;
  const bool new_server = !settings_ || settings_->cfg.url != s->cfg.url ||
                          settings_->cfg.model != s->cfg.model || settings_->cfg.version != s->cfg.version;
  settings_ = std::move(s);
  if (new_server) {
    // A different server: its own readiness and breaker.
    consecutive_failures_ = 0;
    if (breaker_.load() != BreakerState::kClosed) SetBreaker(BreakerState::kClosed, "the server changed");
    server_ready_.store(false);
    next_probe_ = Clock::time_point{};
  }
  spdlog::info("{}: calling {} ({}, model {}{}{}), batches of up to {} within {} ms", module_,
               settings_->infer_url, settings_->cfg.protocol, settings_->cfg.model,
               settings_->cfg.version.empty() ? "" : " version ", settings_->cfg.version,
               settings_->cfg.batch_max_size, settings_->cfg.batch_max_delay_ms);
  return true;
}

std::vector<std::string> ServiceJob::Topics() const { return {cfg_->topics.requests_prefix + job_}; }

std::string ServiceJob::Describe() const {
  std::string d = ProcessorBase::Describe();
  std::string extra = ",\"service\":{";
  {
    std::lock_guard<std::mutex> l(status_mu_);
    extra += "\"server\":";
    AppendJsonString(server_state_, &extra);
    extra += absl::StrCat(",\"ready\":", server_ready_.load() ? "true" : "false", ",\"breaker\":\"",
                          BreakerName(breaker_.load()), "\",\"last_error\":");
    AppendJsonString(last_error_, &extra);
  }
  extra += "}";
  if (!d.empty() && d.back() == '}') d.insert(d.size() - 1, extra);
  return d;
}

void ServiceJob::SetWaker(std::function<void()> wake) {
  std::lock_guard<std::mutex> l(inbox_mu_);
  waker_ = std::move(wake);
}

void ServiceJob::Wake() {
  std::lock_guard<std::mutex> l(inbox_mu_);
  if (waker_) waker_();
}

bool ServiceJob::ReadRow(const kafka::InRecord& in, const Settings& s, service::RowValues* row,
                         EventError* err) {
  simdjson::dom::object obj;
  if (!request_->Parse(in, cfg_->limits.max_event_bytes, &obj, err)) return false;
  row->clear();
  row->reserve(s.fields.size());
  for (const std::string& f : s.fields) {
    simdjson::dom::element v;
    if (obj.at_key(f).get(v) != simdjson::SUCCESS) {
      *err = {"input", "invalid_input", absl::StrCat("field '", f, "' is missing")};
      return false;
    }
    switch (v.type()) {
      case simdjson::dom::element_type::DOUBLE: row->push_back(Value::Number(v.get_double().value_unsafe())); break;
      case simdjson::dom::element_type::INT64:
        row->push_back(Value::Number(static_cast<double>(v.get_int64().value_unsafe())));
        break;
      case simdjson::dom::element_type::UINT64:
        row->push_back(Value::Number(static_cast<double>(v.get_uint64().value_unsafe())));
        break;
      case simdjson::dom::element_type::BOOL: row->push_back(Value::Bool(v.get_bool().value_unsafe())); break;
      case simdjson::dom::element_type::STRING:
        row->push_back(Value::String(std::string(v.get_string().value_unsafe())));
        break;
      case simdjson::dom::element_type::NULL_VALUE:
        *err = {"input", "invalid_input", absl::StrCat("field '", f, "' is null")};
        return false;
      default:
        *err = {"input", "invalid_input",
                absl::StrCat("field '", f, "' is ",
                             v.type() == simdjson::dom::element_type::ARRAY ? "an array" : "an object",
                             "; tensors take numbers, booleans or strings")};
        return false;
    }
  }
  return true;
}

bool ServiceJob::Begin(const kafka::InRecord& in, kafka::Ticket ticket, kafka::OutBatch* out) {
  in_->Inc();
  if (!settings_) {
    DeadLetter(in, {"config", "no_service", absl::StrCat("job '", job_, "' has no usable service config")}, out);
    return false;
  }
  const Settings& s = *settings_;
  std::string_view ref;
  if (in.Header(hdr::kModel, &ref) && ref != s.cfg.model) {
    DeadLetter(in, {"model", "model_not_found",
                    absl::StrCat("this service job calls model '", s.cfg.model, "', not '", AV(ref), "'")},
               out);
    return false;
  }
  Item item;
  EventError err;
  if (!ReadRow(in, s, &item.row, &err)) {
    DeadLetter(in, err, out);
    return false;
  }
  if (s.codec) {
    absl::Status st = s.codec->CheckRow(item.row);
    if (!st.ok()) {
      DeadLetter(in, {"input", "invalid_input", std::string(st.message())}, out);
      return false;
    }
  }
  item.ticket = ticket;
  item.topic.assign(in.topic());
  item.partition = in.partition();
  item.offset = in.offset();
  item.has_key = in.has_key();
  item.key.assign(in.key());
  item.value.assign(in.value());
  item.headers = in.Headers();

  const auto part = std::make_pair(item.topic, item.partition);
  std::shared_ptr<Batch>& open = open_[part];
  if (!open) {
    open = std::make_shared<Batch>();
    open->part = part;
    open->settings = settings_;
    open->opened = Clock::now();
    open->items.reserve(s.cfg.batch_max_size);
    partitions_[part].push_back(open);
  }
  open->items.push_back(std::move(item));
  ++held_;
  UpdateQueueFull();
  if (open->items.size() >= open->settings->cfg.batch_max_size) {
    std::shared_ptr<Batch> b = open;
    Seal(b);
    Dispatch(Clock::now());
  }
  return true;
}

void ServiceJob::Seal(const std::shared_ptr<Batch>& b) {
  open_.erase(b->part);
  b->state = BatchState::kReady;
  b->next_try = Clock::now();
  batch_size_->Observe(static_cast<double>(b->items.size()));
  ready_.push_back(b);
}

Clock::duration ServiceJob::Backoff(uint32_t tries) {
  const config::ServiceJob& c = settings_->cfg;
  double cap = c.backoff_initial_ms;
  for (uint32_t i = 1; i < tries && cap < c.backoff_max_ms; ++i) cap *= 2;
  cap = std::min<double>(cap, c.backoff_max_ms);
  // Full jitter, but never less than a tenth of the step: spreads retries
  // of many jobs while keeping a floor against hammering a failing server.
  std::uniform_real_distribution<double> u(cap / 10, cap);
  return std::chrono::microseconds(static_cast<int64_t>(u(rng_) * 1000));
}

void ServiceJob::SetBreaker(BreakerState s, const std::string& why) {
  const BreakerState old = breaker_.exchange(s);
  if (old == s) return;
  breaker_gauge_->Set(static_cast<double>(static_cast<int>(s)));
  if (s == BreakerState::kOpen) {
    breaker_opened_->Inc();
    next_probe_ = Clock::now() + std::chrono::milliseconds(settings_ ? settings_->cfg.breaker_open_ms : 1000);
    spdlog::warn("{}: circuit breaker open: {}; pausing input, probing the server every {} ms", module_, why,
                 settings_ ? settings_->cfg.breaker_open_ms : 1000);
  } else if (s == BreakerState::kHalfOpen) {
    spdlog::info("{}: circuit breaker half-open: {}; sending one trial batch", module_, why);
  } else {
    consecutive_failures_ = 0;
    spdlog::info("{}: circuit breaker closed: {}", module_, why);
  }
}

void ServiceJob::Dispatch(Clock::time_point now) {
  const Settings& cur = *settings_;
  for (auto it = ready_.begin(); it != ready_.end() && requests_in_flight_ < cur.cfg.max_requests_in_flight;) {
    std::shared_ptr<Batch> b = *it;
    if (b->cancelled) {
      it = ready_.erase(it);
      continue;
    }
    if (b->next_try > now) {
      ++it;
      continue;
    }
    const BreakerState bs = breaker_.load();
    if (bs == BreakerState::kOpen || (bs == BreakerState::kHalfOpen && trial_in_flight_)) return;
    if (!b->settings->codec) {
      // Queued before the server's metadata was known: encode with the
      // settings that now have it, if they read the same fields.
      if (!cur.codec || cur.fields != b->settings->fields) return;
      b->settings = settings_;
      for (Item& item : b->items) {
        if (!item.error.stage.empty()) continue;
        absl::Status st = cur.codec->CheckRow(item.row);
        if (!st.ok()) item.error = {"input", "invalid_input", std::string(st.message())};
      }
    }
    const Settings& s = *b->settings;
    std::vector<const service::RowValues*> rows;
    rows.reserve(b->items.size());
    for (const Item& item : b->items)
      if (item.error.stage.empty()) rows.push_back(&item.row);
    it = ready_.erase(it);
    if (rows.empty()) {
      b->state = BatchState::kDone;
      b->outputs.assign(b->items.size(), std::string());
      continue;
    }
    service::HttpRequest req;
    req.method = "POST";
    req.url = s.infer_url;
    req.connect_timeout_ms = static_cast<int>(s.cfg.connect_timeout_ms);
    req.timeout_ms = static_cast<int>(s.cfg.try_timeout_ms);
    absl::Status st = s.codec->EncodeRequest(rows, &req.body);
    if (!st.ok()) {  // CheckRow passed, so this is a codec bug: fail the batch, do not retry
      b->state = BatchState::kFailed;
      b->failure = {"http", "client_error", absl::StrCat("could not encode the request: ", st.message())};
      continue;
    }
    if (b->tries == 0) b->first_try = now;
    ++b->tries;
    b->state = BatchState::kInFlight;
    if (bs == BreakerState::kHalfOpen) {
      b->trial = true;
      trial_in_flight_ = true;
    }
    ++requests_in_flight_;
    http_->Submit(std::move(req), [this, b](service::HttpResponse r) {
      {
        std::lock_guard<std::mutex> l(inbox_mu_);
        inbox_.push_back(Response{b, false, std::move(r)});
        if (waker_) waker_();
      }
    });
  }
}

void ServiceJob::HandleResponse(Response r) {
  --requests_in_flight_;
  std::shared_ptr<Batch> b = std::move(r.batch);
  const bool trial = b->trial;
  b->trial = false;
  if (trial) trial_in_flight_ = false;
  request_seconds_->Observe(r.http.seconds);
  const Settings& s = *b->settings;
  const Clock::time_point now = Clock::now();

  EventError fail;
  bool retriable = true;
  std::vector<std::string> rows;
  size_t sent = 0;
  for (const Item& item : b->items) sent += item.error.stage.empty() ? 1 : 0;
  if (!r.http.transport_ok) {
    fail = {"http", r.http.timed_out ? "timeout" : "unavailable", r.http.error};
  } else if (r.http.status >= 200 && r.http.status < 300) {
    absl::Status st = s.codec->DecodeResponse(r.http.body, sent, &rows);
    if (!st.ok()) fail = {"http", "bad_response", absl::StrCat("HTTP ", r.http.status, ": ", st.message())};
  } else {
    const int code = r.http.status;
    const std::string msg = absl::StrCat("HTTP ", code, " from ", s.infer_url, ": ", Snippet(r.http.body));
    if (code == 429) fail = {"http", "rate_limited", msg};
    else if (code >= 500) fail = {"http", "server_error", msg};
    else if (code == 404 || code == 408) fail = {"http", code == 404 ? "not_found" : "timeout", msg};
    else {
      fail = {"http", "client_error", msg};
      retriable = false;
    }
  }
  const std::string outcome = fail.code.empty() ? "ok" : fail.code;
  auto& counter = tries_by_outcome_[outcome];
  if (!counter)
    counter = registry_->GetCounter("evs_service_tries_total", "Model-server tries by outcome",
                                    {{"module", module_}, {"outcome", outcome}});
  counter->Inc();

  if (fail.code.empty()) {
    consecutive_failures_ = 0;
    if (breaker_.load() != BreakerState::kClosed) SetBreaker(BreakerState::kClosed, "a request succeeded");
    if (b->cancelled) return;
    b->outputs.assign(b->items.size(), std::string());
    size_t k = 0;
    for (size_t i = 0; i < b->items.size(); ++i)
      if (b->items[i].error.stage.empty()) b->outputs[i] = std::move(rows[k++]);
    b->state = BatchState::kDone;
    return;
  }
  {
    std::lock_guard<std::mutex> l(status_mu_);
    last_error_ = fail.message;
  }
  if (retriable) {
    ++consecutive_failures_;
    if (trial) {
      SetBreaker(BreakerState::kOpen, absl::StrCat("the trial batch failed: ", fail.message));
    } else if (breaker_.load() == BreakerState::kClosed &&
               consecutive_failures_ >= s.cfg.breaker_failure_threshold) {
      SetBreaker(BreakerState::kOpen,
                 absl::StrCat(consecutive_failures_, " tries failed in a row, the last: ", fail.message));
    }
  }
  if (b->cancelled) return;
  const bool out_of_tries =
      b->tries > s.cfg.max_retries ||
      now - b->first_try >= std::chrono::milliseconds(s.cfg.overall_timeout_ms);
  if (!retriable || (out_of_tries && s.cfg.dead_letter_on_exhausted)) {
    b->state = BatchState::kFailed;
    fail.message = absl::StrCat(fail.message, retriable ? absl::StrCat(" (gave up after ", b->tries, " tries)") : "");
    b->failure = std::move(fail);
    return;
  }
  retries_->Inc();
  b->state = BatchState::kReady;
  b->next_try = now + Backoff(b->tries);
  ready_.push_front(b);  // older than anything queued behind it
}

void ServiceJob::Probe(Clock::time_point now) {
  if (probe_in_flight_ || now < next_probe_ || !settings_) return;
  const Settings& s = *settings_;
  const bool metadata = s.needs_metadata && !s.codec;
  service::HttpRequest req;
  req.method = "GET";
  req.url = metadata ? s.metadata_url : s.ready_url;
  req.connect_timeout_ms = static_cast<int>(s.cfg.connect_timeout_ms);
  req.timeout_ms = static_cast<int>(std::min<uint32_t>(s.cfg.try_timeout_ms, 10000));
  probe_in_flight_ = true;
  http_->Submit(std::move(req), [this, metadata](service::HttpResponse r) {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox_.push_back(Response{nullptr, metadata, std::move(r)});
    if (waker_) waker_();
  });
}

void ServiceJob::HandleProbe(const Response& r) {
  probe_in_flight_ = false;
  const std::shared_ptr<const Settings> keep = settings_;  // settings_ may be replaced below
  const Settings& s = *keep;
  std::string state;
  bool ready = false;
  if (!r.http.transport_ok) {
    state = absl::StrCat("unreachable: ", r.http.error);
  } else if (r.metadata) {
    if (r.http.status != 200) {
      state = absl::StrCat("not ready: metadata answered HTTP ", r.http.status);
    } else if (auto meta = service::ParseV2Metadata(r.http.body); !meta.ok()) {
      state = absl::StrCat("metadata unreadable: ", meta.status().message());
    } else if (meta->inputs.size() > 1) {
      state = absl::StrCat("the model declares ", meta->inputs.size(),
                           " inputs; list them under service.inputs");
    } else {
      // One declared input names the tensor; none: the v2 default name.
      service::InputTensor t;
      t.name = meta->inputs.empty() ? "input-0" : meta->inputs[0].name;
      t.dtype = service::DType::kFp64;
      if (!meta->inputs.empty() && !service::ParseDType(meta->inputs[0].datatype, &t.dtype))
        t.dtype = service::DType::kFp64;
      if (s.fields.size() != 1) t.shape = {static_cast<int64_t>(s.fields.size())};
      // A declared per-record shape ([-1, 2, 2]) is used when it holds
      // exactly the job's fields; one that cannot is a config mismatch.
      bool fits = true;
      if (!meta->inputs.empty() && meta->inputs[0].shape.size() >= 2) {
        std::vector<int64_t> dims(meta->inputs[0].shape.begin() + 1, meta->inputs[0].shape.end());
        int64_t n = 1;
        for (int64_t d : dims) n = d < 0 ? -1 : (n < 0 ? -1 : n * d);
        if (n >= 0 && n != static_cast<int64_t>(s.fields.size())) fits = false;
        else if (n >= 0) t.shape = dims;
      }
      t.fields = s.fields;
      std::vector<service::OutputMapping> outs;
      for (const auto& [tn, f] : s.cfg.outputs) outs.push_back({tn, f});
      auto codec = fits ? service::Codec::Create(s.protocol, service::TfFormat::kInstances, {t}, std::move(outs))
                        : absl::StatusOr<service::Codec>(absl::InvalidArgumentError(absl::StrCat(
                              "input '", t.name, "' has shape ", ShapeText(meta->inputs[0].shape),
                              ", which does not hold the job's ", s.fields.size(), " field(s)")));
      if (!codec.ok()) {
        state = absl::StrCat("metadata does not fit the config: ", codec.status().message());
      } else {
        std::string reason;
        std::shared_ptr<Settings> next = MakeSettings(s.cfg, &reason);
        if (next) {
          next->codec = std::make_unique<const service::Codec>(std::move(*codec));
          settings_ = std::move(next);
          spdlog::info("{}: model {}: input tensor '{}' ({}) of {} field(s), from the server's metadata",
                       module_, s.cfg.model, t.name, service::DTypeName(t.dtype), t.fields.size());
          ready = true;
          state = "ready";
        } else {
          state = reason;
        }
      }
    }
  } else if (service::IsReadyResponse(s.protocol, r.http.status, r.http.body)) {
    ready = true;
    state = "ready";
  } else {
    state = absl::StrCat("not ready: HTTP ", r.http.status, " ", Snippet(r.http.body));
  }
  if (ready != server_ready_.load()) {
    if (ready) spdlog::info("{}: model server ready ({})", module_, s.ready_url);
    else spdlog::warn("{}: model server {}", module_, state);
  }
  server_ready_.store(ready, std::memory_order_release);
  ready_gauge_->Set(ready ? 1 : 0);
  {
    std::lock_guard<std::mutex> l(status_mu_);
    server_state_ = state;
  }
  const auto now = Clock::now();
  if (breaker_.load() == BreakerState::kOpen) {
    if (ready) SetBreaker(BreakerState::kHalfOpen, "the server answered its readiness probe");
    next_probe_ = now + std::chrono::milliseconds(s.cfg.breaker_open_ms);
  } else if (!ready && settings_->needs_metadata && !settings_->codec) {
    next_probe_ = now + std::chrono::milliseconds(std::min<uint32_t>(s.cfg.breaker_open_ms, 1000));
  } else {
    next_probe_ = now + kReadyProbeEvery;
  }
}

void ServiceJob::Emit(std::vector<kafka::Completion>* done) {
  kafka::OutBatch scratch;
  for (auto pit = partitions_.begin(); pit != partitions_.end();) {
    auto& dq = pit->second;
    while (!dq.empty() && (dq.front()->state == BatchState::kDone || dq.front()->state == BatchState::kFailed)) {
      std::shared_ptr<Batch> b = std::move(dq.front());
      dq.pop_front();
      const Settings& s = *b->settings;
      for (size_t i = 0; i < b->items.size(); ++i) {
        Item& item = b->items[i];
        kafka::InRecord in(item.topic, item.partition, item.offset, item.has_key ? &item.key : nullptr,
                           &item.value, &item.headers);
        scratch.clear();
        if (!item.error.stage.empty()) {
          DeadLetter(in, item.error, &scratch);
        } else if (b->state == BatchState::kFailed) {
          DeadLetter(in, b->failure, &scratch);
        } else {
          kafka::OutRecord& r = BeginResult(in, cfg_->topics.results, &scratch);
          r.value += b->outputs[i];
          r.value += "},\"input\":";
          std::string_view raw = item.value;
          while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back()))) raw.remove_suffix(1);
          r.value.append(raw);
          r.value += '}';
          r.headers.pop_back();  // no artifact digest: the model lives on the server
          r.headers.back().first = hdr::kModelVersion;
          r.headers.back().second = s.cfg.version.empty() ? "server" : s.cfg.version;
          out_->Inc();
        }
        kafka::Completion c{item.ticket, {}};
        for (kafka::OutRecord& r : scratch) c.outputs.push_back(std::move(r));
        done->push_back(std::move(c));
        --held_;
      }
    }
    pit = dq.empty() && open_.find(pit->first) == open_.end() ? partitions_.erase(pit) : std::next(pit);
  }
}

void ServiceJob::TakeCompleted(std::vector<kafka::Completion>* done) {
  std::vector<Response> inbox;
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    inbox.swap(inbox_);
  }
  for (Response& r : inbox) {
    if (r.batch) HandleResponse(std::move(r));
    else HandleProbe(r);
  }
  const Clock::time_point now = Clock::now();
  if (settings_) {
    for (auto it = open_.begin(); it != open_.end();) {
      std::shared_ptr<Batch> b = (it++)->second;
      if (now - b->opened >= std::chrono::milliseconds(b->settings->cfg.batch_max_delay_ms)) Seal(b);
    }
    Probe(now);
    Dispatch(now);
  }
  Emit(done);
  UpdateQueueFull();
  in_flight_gauge_->Set(static_cast<double>(requests_in_flight_));
}

// Paused while open only: half-open takes records again, or there might be
// no batch to serve as the trial (the ones that opened it may have been
// dead-lettered meanwhile) and the breaker would never close.
bool ServiceJob::WantsPause() const { return breaker_.load() == BreakerState::kOpen; }

void ServiceJob::UpdateQueueFull() {
  // Hysteresis: full at max_queued_records, room again at half, so the
  // runner takes records in large runs rather than one per answer.
  if (!settings_) return;
  const size_t max = settings_->cfg.max_queued_records;
  if (!queue_full_ && held_ >= max) queue_full_ = true;
  else if (queue_full_ && held_ <= max / 2) queue_full_ = false;
}

int ServiceJob::PollTimeoutMs() const {
  {
    std::lock_guard<std::mutex> l(inbox_mu_);
    if (!inbox_.empty()) return 0;
  }
  const Clock::time_point now = Clock::now();
  int64_t t = 100;
  for (const auto& [part, b] : open_)
    t = std::min(t, MsUntil(b->opened + std::chrono::milliseconds(b->settings->cfg.batch_max_delay_ms), now));
  // Queued batches wake the loop only when they can be sent (else a batch
  // waiting for the server's metadata would spin it).
  const BreakerState bs = breaker_.load();
  if (settings_ && settings_->codec && requests_in_flight_ < settings_->cfg.max_requests_in_flight &&
      (bs == BreakerState::kClosed || (bs == BreakerState::kHalfOpen && !trial_in_flight_)))
    for (const auto& b : ready_) t = std::min(t, MsUntil(b->next_try, now));
  if (!probe_in_flight_) t = std::min(t, MsUntil(next_probe_, now));
  return static_cast<int>(std::clamp<int64_t>(t, 0, 100));
}

void ServiceJob::Cancel(const std::vector<std::pair<std::string, int32_t>>& partitions) {
  for (const auto& part : partitions) {
    open_.erase(part);
    auto it = partitions_.find(part);
    if (it == partitions_.end()) continue;
    for (const auto& b : it->second) {
      b->cancelled = true;
      held_ -= b->items.size();
    }
    partitions_.erase(it);
  }
  UpdateQueueFull();
  ready_.erase(std::remove_if(ready_.begin(), ready_.end(), [](const auto& b) { return b->cancelled; }),
               ready_.end());
}

void ServiceJob::Process(const kafka::InRecord& in, kafka::OutBatch* out) {
  int local = 0;
  kafka::Ticket ticket = &local;
  if (!Begin(in, ticket, out)) return;
  std::vector<kafka::Completion> done;
  for (;;) {
    done.clear();
    TakeCompleted(&done);
    for (kafka::Completion& c : done) {
      if (c.ticket != ticket) continue;
      for (kafka::OutRecord& r : c.outputs) out->push_back(std::move(r));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max(1, std::min(10, PollTimeoutMs()))));
  }
}

}  // namespace evs::jobs
