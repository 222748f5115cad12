#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "adapters/processor_base.h"
#include "codec/decode.h"
#include "service/http_client.h"
#include "service/protocol.h"

namespace evs::jobs {

class RequestParser;  // model_job.h

// The service job: evaluates requests by calling a model behind an external
// model server (TensorFlow Serving REST / KServe v1, or the Open Inference
// Protocol v2 of KServe, MLServer and Triton).
//
// Per request record it reads the configured event fields into a row and
// queues it in the open micro-batch of its partition; a batch is sent when it
// holds batch.max_size rows or its oldest row waited batch.max_delay_ms.
// Results are produced per partition in offset order (a later batch that
// finishes first waits), so per-key order holds. Each result is
// {"outputs":{...},"input":<request>} with the request's headers plus
// evs-model-version (the job's service.version, or "server" when unset).
//
// Flow control: at most max_requests_in_flight requests; connections reused
// by the HTTP client; each try has connect and per-try timeouts; a failed try
// (connection error, timeout, 404/408/429/5xx, an answer that does not
// decode) is retried after a jittered exponential backoff (full jitter,
// capped) until max_retries or overall_ms is spent; then its records are
// dead-lettered with stage `http` (on_exhausted: dead-letter) or retried on
// (on_exhausted: wait). Other 4xx answers are dead-lettered at once.
//
// Circuit breaker (one per job, i.e. per endpoint): failure_threshold
// consecutive failed tries open it; while open no batch is sent, the job asks
// the runner to pause its partitions (it keeps polling, so the group does not
// rebalance), and every open_ms a readiness probe asks the server; a ready
// answer half-opens it: input resumes and one batch is sent as a trial, whose
// success closes it and whose failure opens it again. Waiting in the breaker
// costs no retries.
//
// Dead letters: decode/<code> (not a JSON object), input/invalid_input (a
// field missing, null, of a type the tensor does not take), model/
// model_not_found (evs-model names another model), http/<code> with code
// unavailable, timeout, server_error, rate_limited, bad_response or
// client_error.
//
// Threads: Begin, TakeCompleted, BetweenRecords, Cancel run on the runner
// thread and own the batches; HTTP callbacks (client thread) only push onto
// a mutex-guarded inbox and wake the runner. Describe, Ready and metrics are
// thread-safe.
class ServiceJob : public adapters::ProcessorBase, public kafka::AsyncProcessor {
 public:
  using Clock = std::chrono::steady_clock;

  ServiceJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
             runtime::ConfigSlot* slot, runtime::StatusReporter* reporter, metrics::Registry* registry);
  ~ServiceJob() override;

  // RecordProcessor. Process is the synchronous form (tests): Begin, then
  // wait for that record's completion.
  void Process(const kafka::InRecord& in, kafka::OutBatch* out) override;
  std::vector<std::string> Topics() const override;
  std::string Describe() const override;
  bool Ready() const override { return server_ready_.load(std::memory_order_acquire); }
  kafka::AsyncProcessor* AsAsync() override { return this; }

  // AsyncProcessor.
  bool Begin(const kafka::InRecord& in, kafka::Ticket ticket, kafka::OutBatch* out) override;
  void TakeCompleted(std::vector<kafka::Completion>* done) override;
  bool WantsPause() const override;
  bool Full() const override { return queue_full_; }
  int PollTimeoutMs() const override;
  void SetWaker(std::function<void()> wake) override;
  void Cancel(const std::vector<std::pair<std::string, int32_t>>& partitions) override;
  size_t Deferred() const override { return held_; }

  enum class BreakerState { kClosed = 0, kHalfOpen = 1, kOpen = 2 };
  BreakerState breaker_state() const { return breaker_.load(std::memory_order_acquire); }

 protected:
  bool Rebuild(const config::Config& cfg, std::string* reason) override;

 private:
  // The settings batches are encoded and decoded with; replaced on a config
  // change, kept alive by the batches that used them.
  struct Settings {
    config::ServiceJob cfg;
    service::Protocol protocol;
    service::ModelRef ref;
    std::string infer_url, ready_url, metadata_url;
    std::vector<std::string> fields;               // row order (all tensors' fields)
    std::unique_ptr<const service::Codec> codec;   // null until the v2 metadata is known
    bool needs_metadata = false;
  };
  struct Item {
    kafka::Ticket ticket;
    std::string topic;
    int32_t partition;
    int64_t offset;
    bool has_key;
    std::string key;
    std::string value;
    std::vector<kafka::Header> headers;
    service::RowValues row;
    EventError error;  // set: dead-letter this record (stage non-empty)
  };
  enum class BatchState { kOpen, kReady, kInFlight, kDone, kFailed };
  struct Batch {
    std::pair<std::string, int32_t> part;
    std::shared_ptr<const Settings> settings;
    std::vector<Item> items;
    BatchState state = BatchState::kOpen;
    Clock::time_point opened, first_try, next_try;
    uint32_t tries = 0;
    bool trial = false;      // the half-open breaker's trial
    bool cancelled = false;
    std::vector<std::string> outputs;  // per item, when done
    EventError failure;                // when failed
  };
  struct Response {
    std::shared_ptr<Batch> batch;  // null: a probe
    bool metadata = false;         // probe kind
    service::HttpResponse http;
  };

  std::shared_ptr<Settings> MakeSettings(const config::ServiceJob& s, std::string* reason) const;
  bool ReadRow(const kafka::InRecord& in, const Settings& s, service::RowValues* row, EventError* err);
  void Seal(const std::shared_ptr<Batch>& b);
  void HandleResponse(Response r);
  void HandleProbe(const Response& r);
  void Dispatch(Clock::time_point now);
  void Probe(Clock::time_point now);
  void Emit(std::vector<kafka::Completion>* done);
  void Wake();
  void SetBreaker(BreakerState s, const std::string& why);
  Clock::duration Backoff(uint32_t tries);
  void UpdateQueueFull();

  std::string job_;
  std::shared_ptr<const Settings> settings_;
  std::unique_ptr<service::HttpClient> http_;
  std::unique_ptr<RequestParser> request_;  // JSON object, or why not

  // Runner thread.
  std::map<std::pair<std::string, int32_t>, std::deque<std::shared_ptr<Batch>>> partitions_;
  std::map<std::pair<std::string, int32_t>, std::shared_ptr<Batch>> open_;  // open batch per partition
  std::deque<std::shared_ptr<Batch>> ready_;  // sealed, waiting for a send (or a retry time)
  size_t held_ = 0;                           // records taken and not yet handed back
  bool queue_full_ = false;                   // held_ reached max_queued_records (until half)
  uint32_t requests_in_flight_ = 0;
  uint32_t consecutive_failures_ = 0;
  bool trial_in_flight_ = false;
  bool probe_in_flight_ = false;
  Clock::time_point next_probe_{};
  std::mt19937_64 rng_{0x5eed};

  std::atomic<BreakerState> breaker_{BreakerState::kClosed};
  std::atomic<bool> server_ready_{false};

  // HTTP callbacks -> runner thread.
  mutable std::mutex inbox_mu_;
  std::vector<Response> inbox_;
  std::function<void()> waker_;  // guarded by inbox_mu_

  // Description for /status (other threads).
  mutable std::mutex status_mu_;
  std::string last_error_;
  std::string server_state_ = "unknown";

  metrics::Counter* in_;
  metrics::Counter* out_;
  metrics::Counter* retries_;
  metrics::Counter* breaker_opened_;
  metrics::Histogram* request_seconds_;
  metrics::Histogram* batch_size_;
  metrics::Gauge* breaker_gauge_;
  metrics::Gauge* ready_gauge_;
  metrics::Gauge* in_flight_gauge_;
  std::map<std::string, metrics::Counter*> tries_by_outcome_;
};

}  // namespace evs::jobs
