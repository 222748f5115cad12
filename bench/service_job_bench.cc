// evs_service_job_bench: events per second and latency through the service
// job (`evserve service-job`: request topic -> per-partition micro-batches ->
// model server over HTTP -> results topic) next to a plain client that sends
// the same rows straight to the same model server, in one run, for each
// batch size (default 1 and 32). The model server is started by the caller
// (bench/run_service_bench.sh starts MLServer serving the iris model of
// tools/model_servers); the bench only needs its URL.
//
// The plain client uses the project's own HttpClient (libcurl multi,
// connections reused) and the job's request/response codec
// (service::Codec, v2 tensor "input-0" FP64 [n,4], output "predict"), with
// the same batch size and the same requests in flight (4). So the ratio
// isolates what the job adds: Kafka in and out, JSON parse, micro-batching,
// result building and offset bookkeeping.
//
// Throughput, per batch size B:
//   service job: evserve service-job starts on fresh topics and is warmed
//     (warm-up events until a result is out); then it is stopped (SIGSTOP),
//     N events are produced to its request topic, and it resumes on that
//     backlog; events/s = N / (append time of the newest result - of the
//     oldest), LogAppendTime on the results topic. The warm-up is what
//     kafka_bench.h's RunThroughput lacks here: a fresh evserve's producer
//     learns the results topic's metadata on librdkafka's 1 s topic scan, so
//     its first second of results is appended at one instant, which would
//     inflate the rate of a short cold run (5,000 events at batch 1 measured
//     +30%).
//   plain client: closed loop, N rows in requests of B rows, at most 4 in
//     flight (the next request leaves when an answer arrives); events/s = N
//     / wall time from the first request to the last answer.
// Latency, per batch size, both at the same paced rate (half the job's
//   measured events/s unless --latency-rate):
//   service job: on fresh topics, warmed as above and with every warm-up
//     result out, events paced into the request topic with their send time
//     as "ts" (µs); a consumer on the results topic records now - ts (the
//     result embeds the request as "input"). p50 / p99 / p99.9.
//   plain client: events created at the same pace, spread round-robin over
//     one open batch per source partition (as the job batches per
//     partition); a batch leaves when it holds B rows or its oldest row
//     waited --max-delay-ms, at most 4 requests in flight (others queue);
//     per event: answer time - creation time.
// CPU per event over the measured part of each run (from the resume to the
// last result; the paced part of a latency run): evserve's from
// /proc/PID/stat, the bench process's for the plain client (its driver and
// HTTP threads), the model server's when --server-pid.
//
// See bench/run_service_bench.sh and docs/benchmarks.md.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kafka/client.h"
#include "kafka_bench.h"
#include "service/http_client.h"
#include "service/protocol.h"

namespace {

using namespace evs::bench;  // NOLINT: the bench is a thin layer over kafka_bench.h
using evs::kafka::HandlePtr;
using evs::kafka::MessagePtr;
using evs::kafka::PartitionListPtr;

// ------------------------------------------------------------------ options

struct Options : CommonOptions {
  Options() {
    events = 10000;  // set per batch size: events_for, --events
    evserve = EVS_SOURCE_DIR "/build/release/bin/evserve";
    workdir = "/tmp/evs-service-bench";
    warmup_events = 2000;
    latency_seconds = 15;
  }
  std::string url;                 // model server, http://host:port
  std::string model = "iris";
  std::string server_label;        // for the report ("MLServer 1.7.1 ...")
  int server_pid = 0;              // for its CPU time (0: not reported)
  std::vector<int> batch_sizes = {1, 32};
  std::map<int, long> events_for = {{1, 10000}, {32, 100000}};
  long events_all = 0;             // --events: every batch size
  int in_flight = 4;
  int max_delay_ms = 5;
  double latency_rate = 0;         // 0: half the job's measured events/s
};

void Usage() {
  std::cout << R"(Usage: evs_service_job_bench --url http://HOST:PORT [options]

The service job (evserve service-job: Kafka -> micro-batches -> model server
-> Kafka) vs a plain HTTP client calling the same v2 model server directly,
same batch size and requests in flight: throughput, then latency of both at
half the job's measured rate, for each batch size.

  --url URL               the model server (Open Inference Protocol v2), required
  --model NAME            the model's name on the server (default iris)
  --server-pid PID        the model server's process, for its CPU time per event
  --server-label TEXT     how the report names the server
  --batch-sizes LIST      comma-separated (default 1,32)
  --events-for B=N        events per throughput run for batch size B (repeatable;
                          defaults 1=10000, 32=100000, others 10000 x B up to 100000)
  --events N              events per throughput run for every batch size
  --in-flight N           max requests in flight, job and plain client (default 4)
  --max-delay-ms MS       longest a partial batch waits, both (default 5)
  --latency-rate R        paced rate of the latency rows (default: half the job's events/s)
  --workdir DIR           configs and evserve logs (default /tmp/evs-service-bench)
  --warmup-events N       rows the plain client sends first, unreported (default 2000; at
                          least 64 go, as the check that the server answers)
)" << kCommonOptionsHelp;
}

Options g_opt;

// A ~200-byte JSON iris event (exactly kEventBytes when id < 10^9): the four
// features the job sends, the send time, padding. Row(id) holds the same
// features as numbers, for the plain client.
constexpr size_t kEventBytes = 200;
double Feature(long id, int i) {
  const long k = id < 0 ? 0 : id;
  switch (i) {
    case 0: return 4.3 + (k % 36) * 0.1;
    case 1: return 2.0 + (k % 24) * 0.1;
    case 2: return 1.0 + (k % 59) * 0.1;
    default: return 0.1 + (k % 25) * 0.1;
  }
}
std::string MakeEvent(long id, int64_t ts_us) {
  std::string s = absl::StrCat("{\"id\":", id, ",\"sepal_length\":", Feature(id, 0), ",\"sepal_width\":",
                               Feature(id, 1), ",\"petal_length\":", Feature(id, 2), ",\"petal_width\":",
                               Feature(id, 3), ",\"ts\":", ts_us, ",\"pad\":\"");
  size_t tail = 2;  // "}
  if (s.size() + tail < kEventBytes) s.append(kEventBytes - s.size() - tail, 'x');
  s += "\"}";
  return s;
}
evs::service::RowValues Row(long id) {
  return {evs::Value::Number(Feature(id, 0)), evs::Value::Number(Feature(id, 1)),
          evs::Value::Number(Feature(id, 2)), evs::Value::Number(Feature(id, 3))};
}


evs::service::Codec MakeCodec() {
  evs::service::InputTensor t;
  t.name = "input-0";  // what MLServer's iris metadata declares, as the job reads it
  t.dtype = evs::service::DType::kFp64;
  t.shape = {4};
  t.fields = {"sepal_length", "sepal_width", "petal_length", "petal_width"};
  auto c = evs::service::Codec::Create(evs::service::Protocol::kV2, evs::service::TfFormat::kInstances, {t},
                                       {{"predict", "prediction"}});
  if (!c.ok()) Die(absl::StrCat("codec: ", c.status().message()));
  return std::move(*c);
}

// ------------------------------------------------------------------ the job

// CPU seconds of evserve and of the model server between Mark and Take.
struct CpuWindow {
  double evs0 = 0, server0 = 0, evs = 0, server = 0;
  void Mark(int evs_pid) {
    evs0 = PidCpuSeconds(evs_pid);
    server0 = PidCpuSeconds(g_opt.server_pid);
  }
  void Take(int evs_pid) {
    evs = PidCpuSeconds(evs_pid) - evs0;
    server = PidCpuSeconds(g_opt.server_pid) - server0;
  }
};

// `evserve service-job` as a child process on a generated config (its own
// topics, group and metrics port per run), stopped with SIGTERM. Before it
// stops, its /metrics give the rows per request it actually sent. As a
// LatencyHook it measures CPU over the paced part of a latency run (from the
// first paced event to the last result).
class ServiceJobContender : public Contender, public LatencyHook {
 public:
  explicit ServiceJobContender(int batch) : batch_(batch) {}
  std::string Name() const override { return absl::StrCat("service job (batch ", batch_, ")"); }
  Topics MakeTopics() override {
    Topics t;
    t.id = UniqueId(absl::StrCat("svc", batch_));
    prefix_ = "bench.req." + t.id + ".";
    t.src = prefix_ + "s";
    t.dst = "bench.results." + t.id;
    return t;
  }
  std::string Config(const Topics& t) const {
    return absl::StrCat(
        "guarantee: at-least-once\n",
        KafkaYaml(),
        "topics: {requests_prefix: \"", prefix_, "\", results: \"", t.dst, "\", config: \"bench.config.", t.id,
        "\", models: \"bench.models.", t.id, "\", status: \"bench.status.", t.id, "\", dlq: \"bench.dlq.", t.id,
        "\"}\n",
        "jobs:\n  s:\n    type: service\n    name: \"bench-svc-", t.id, "\"\n",
        "    service:\n",
        "      protocol: v2\n",
        "      url: ", g_opt.url, "\n",
        "      model: ", g_opt.model, "\n",
        "      fields: [sepal_length, sepal_width, petal_length, petal_width]\n",
        "      outputs: {predict: prediction}\n",
        "      batch: {max_size: ", batch_, ", max_delay_ms: ", g_opt.max_delay_ms, "}\n",
        "      max_requests_in_flight: ", g_opt.in_flight, "\n");
  }
  void Start(const Topics& t) override {
    const std::string cfg_path = absl::StrCat(g_opt.workdir, "/", t.id, ".yaml");
    log_path_ = absl::StrCat(g_opt.workdir, "/", t.id, ".log");
    std::ofstream(cfg_path) << Config(t);
    metrics_port_ = FreePort();
    rows_per_request_ = 0;
    proc_.Spawn({"service-job", "-c", cfg_path, "--job", "s", "--metrics-listen",
                 absl::StrCat("127.0.0.1:", metrics_port_)},
                log_path_, /*append=*/false);
  }
  bool Healthy() override { return proc_.Healthy(); }
  void Stop() override {
    if (proc_.Healthy()) {
      const std::string body = ScrapeMetrics(metrics_port_);
      if (!body.empty()) {
        const double n = MetricSum(body, "evs_service_batch_size_count");
        if (n > 0) rows_per_request_ = MetricSum(body, "evs_service_batch_size_sum") / n;
        const double dlq = MetricSum(body, "evs_dlq_total");
        if (dlq > 0) Log(absl::StrCat("  the service job dead-lettered ", dlq, " records; log: ", log_path_));
      }
    }
    proc_.Stop();
  }
  double CpuSeconds() const override { return proc_.cpu_seconds(); }
  std::string LogPath() const override { return log_path_; }
  void BeginPaced() override { window_.Mark(proc_.pid()); }
  int EndPaced() override { return 0; }
  void Received() override { window_.Take(proc_.pid()); }

  EvserveProcess& proc() { return proc_; }
  const CpuWindow& window() const { return window_; }
  double rows_per_request() const { return rows_per_request_; }

 private:
  const int batch_;
  std::string prefix_, log_path_;
  EvserveProcess proc_;
  CpuWindow window_;
  int metrics_port_ = 0;
  double rows_per_request_ = 0;
};

// Append times (ms) of the records of `topic` whose "id" is >= 0, read from
// the beginning of every partition until `total` records were seen.
std::vector<int64_t> MeasuredAppendTimes(const std::string& topic, int64_t total) {
  HandlePtr c = MustHandle(RD_KAFKA_CONSUMER, Base(),
                           {{"group.id", "evs-bench-span"},
                            {"enable.auto.commit", "false"},
                            {"enable.partition.eof", "false"}});
  PartitionListPtr list(rd_kafka_topic_partition_list_new(g_opt.partitions));
  for (int p = 0; p < g_opt.partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(c.get(), list.get());
  std::vector<int64_t> ts;
  int64_t seen = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (seen < total && Clock::now() < deadline) {
    MessagePtr m(rd_kafka_consumer_poll(c.get(), 100));
    if (!m || m->err) continue;
    ++seen;
    int64_t id = 0;
    if (FindIntField(std::string_view(static_cast<const char*>(m->payload), m->len), "id", &id) && id >= 0)
      ts.push_back(rd_kafka_message_timestamp(m.get(), nullptr));
  }
  rd_kafka_consumer_close(c.get());
  std::sort(ts.begin(), ts.end());
  return ts;
}

// The job's throughput on a backlog, its output path warm: the job starts on
// fresh topics and passes warm-up events (id -1) until one result is out
// (librdkafka looks up a new output topic's metadata on its 1 s timer, so a
// fresh evserve holds its first second of results and then appends them at
// once, which would shrink the append-time span of a cold run); then the job
// is stopped (SIGSTOP), N events are produced, and it resumes. events/s = N
// / (append time of the newest measured result - of the oldest).
struct JobThroughput {
  ThroughputResult r;
  CpuWindow cpu;  // from the resume to the last result
  double rows_per_request = 0;
};
JobThroughput RunJobThroughput(ServiceJobContender* c) {
  JobThroughput out;
  ThroughputResult& r = out.r;
  r.contender = c->Name();
  r.run = 1;
  r.events = g_opt.events;
  Topics t = c->MakeTopics();
  CreateTopics({{t.src, g_opt.partitions, false}, {t.dst, g_opt.partitions, true}});
  HandlePtr meta = MustHandle(RD_KAFKA_PRODUCER, Base());
  Log(absl::StrCat("throughput (", c->Name(), "): starting it"));
  const auto s0 = Clock::now();
  c->Start(t);
  HandlePtr prod = LowLatencyProducer();
  const int64_t warm =
      WarmUp(c, prod.get(), t.src, [&] { return CountRecords(meta.get(), t.dst, g_opt.partitions); });
  prod.reset();
  c->proc().Pause();
  Log(absl::StrCat("  warm after ", SecondsSince(s0), " s (", warm, " warm-up events); job stopped, producing ",
                   r.events, " events to ", t.src));
  r.preproduce_rate = PreProduce(t.src, r.events);
  Log(absl::StrCat("  produced at ", static_cast<long>(r.preproduce_rate), " ev/s; resuming the job"));
  const auto t0 = Clock::now();
  out.cpu.Mark(c->proc().pid());
  c->proc().Resume();
  const int64_t want = warm + r.events;
  const double timeout_s = 120 + r.events / 200.0;
  int64_t count = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    count = CountRecords(meta.get(), t.dst, g_opt.partitions);
    if (count >= want) break;
    if (!c->Healthy() || SecondsSince(t0) > timeout_s) {
      Log(absl::StrCat("  job stalled or failed at ", count - warm, "/", r.events));
      break;
    }
  }
  r.wall_s = SecondsSince(t0);
  out.cpu.Take(c->proc().pid());
  c->Stop();
  out.rows_per_request = c->rows_per_request();
  r.cpu_s = out.cpu.evs;
  r.dest_count = CountRecords(meta.get(), t.dst, g_opt.partitions) - warm;
  if (r.dest_count >= r.events) {
    std::vector<int64_t> ts = MeasuredAppendTimes(t.dst, warm + r.dest_count);
    if (static_cast<long>(ts.size()) >= r.events) {
      r.span_s = std::max<int64_t>(1, ts.back() - ts.front()) / 1000.0;
      r.rate = r.events / r.span_s;
      r.ok = true;
    }
  }
  Log(absl::StrCat("  ", c->Name(), ": ", static_cast<long>(r.rate), " ev/s over ", r.span_s, " s (wall from resume ",
                   r.wall_s, " s, evserve cpu ", r.cpu_s, " s, results ", r.dest_count, ")"));
  return out;
}

// ------------------------------------------------------------------ the plain client

// Sends rows straight to the model server through one HttpClient, B rows per
// request, at most in_flight requests. One driver thread (the caller's)
// forms and submits batches; answers are decoded on the HTTP client's
// thread, which only records them under the mutex and wakes the driver, as
// the job's runner/inbox split does. Failed requests are counted, not
// retried.
class PlainClient {
 public:
  struct Result {
    long events = 0, requests = 0, failed = 0;
    double wall_s = 0, rate = 0, cpu_s = 0, server_cpu_s = 0;
    double target_rate = 0, achieved_rate = 0;
    double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
    bool ok = false;
  };

  explicit PlainClient(int batch) : batch_(batch), codec_(MakeCodec()) {
    evs::service::HttpClient::Options ho;
    ho.max_connections = std::max(8, g_opt.in_flight * 2);  // as the job sizes its client
    http_ = std::make_unique<evs::service::HttpClient>(ho);
    url_ = evs::service::InferUrl(evs::service::Protocol::kV2, {g_opt.url, g_opt.model, ""});
  }

  // Closed loop over n rows (rate 0) or paced at `rate` rows/s with
  // per-partition batches that also leave after max_delay_ms.
  Result Run(long n, double rate) {
    Result r;
    r.events = n;
    r.target_rate = rate;
    {
      std::lock_guard<std::mutex> l(mu_);
      in_flight_ = 0;
      answered_ = 0;
      failed_ = 0;
      requests_ = 0;
      lat_us_.clear();
      lat_us_.reserve(n);
    }
    const int parts = std::max(1, g_opt.partitions);
    std::vector<Batch> open(parts);
    std::deque<Batch> ready;
    const auto delay = std::chrono::milliseconds(g_opt.max_delay_ms);
    const double cpu0 = ProcessCpuSeconds(), scpu0 = PidCpuSeconds(g_opt.server_pid);
    const auto t0 = Clock::now();
    long next = 0;
    Clock::time_point paced_until{};
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      const auto now = Clock::now();
      if (rate <= 0) {
        while (in_flight_ + static_cast<long>(ready.size()) < g_opt.in_flight && next < n) {
          Batch b;
          for (; next < n && static_cast<int>(b.ids.size()) < batch_; ++next) b.Add(next, now);
          ready.push_back(std::move(b));
        }
      } else {
        const long due = std::min(n, static_cast<long>(rate * std::chrono::duration<double>(now - t0).count()) + 1);
        for (; next < due; ++next) {
          Batch& b = open[next % parts];
          b.Add(next, now);
          if (static_cast<int>(b.ids.size()) >= batch_) ready.push_back(std::exchange(b, Batch{}));
          if (next + 1 == n) paced_until = now;
        }
        for (Batch& b : open)
          if (!b.ids.empty() && now - b.created.front() >= delay) ready.push_back(std::exchange(b, Batch{}));
        if (next >= n)
          for (Batch& b : open)
            if (!b.ids.empty()) ready.push_back(std::exchange(b, Batch{}));
      }
      while (in_flight_ < g_opt.in_flight && !ready.empty()) {
        Submit(std::move(ready.front()));
        ready.pop_front();
      }
      if (next >= n && ready.empty() && in_flight_ == 0) break;
      if (SecondsSince(t0) > 120 + n / 200.0) {
        Log("plain client: no progress; giving up");
        break;
      }
      // Woken by an answer; paced runs also wake to create due events and
      // flush batches past their delay (the job's runner polls likewise).
      if (rate <= 0) cv_.wait_for(l, std::chrono::milliseconds(100));
      else cv_.wait_for(l, std::chrono::microseconds(250));
    }
    r.wall_s = SecondsSince(t0);
    r.requests = requests_;
    r.failed = failed_;
    std::vector<int64_t> lat = std::move(lat_us_);
    const long answered = answered_;
    l.unlock();
    r.cpu_s = ProcessCpuSeconds() - cpu0;
    r.server_cpu_s = PidCpuSeconds(g_opt.server_pid) - scpu0;
    r.rate = answered / r.wall_s;
    r.achieved_rate =
        rate > 0 ? n / std::max(1e-6, std::chrono::duration<double>(paced_until - t0).count()) : r.rate;
    std::sort(lat.begin(), lat.end());
    r.p50_ms = Percentile(lat, 0.50);
    r.p99_ms = Percentile(lat, 0.99);
    r.p999_ms = Percentile(lat, 0.999);
    r.max_ms = lat.empty() ? 0 : lat.back() / 1000.0;
    r.ok = r.failed == 0 && answered == n;
    return r;
  }

  std::string first_error() {
    std::lock_guard<std::mutex> l(mu_);
    return first_error_;
  }

 private:
  struct Batch {
    std::vector<long> ids;
    std::vector<Clock::time_point> created;
    void Add(long id, Clock::time_point t) {
      ids.push_back(id);
      created.push_back(t);
    }
  };

  // Called with mu_ held.
  void Submit(Batch b) {
    std::vector<evs::service::RowValues> rows;
    rows.reserve(b.ids.size());
    for (long id : b.ids) rows.push_back(Row(id));
    std::vector<const evs::service::RowValues*> ptrs;
    for (const auto& row : rows) ptrs.push_back(&row);
    evs::service::HttpRequest req;
    req.method = "POST";
    req.url = url_;
    req.timeout_ms = 5000;  // the job's default try timeout
    absl::Status st = codec_.EncodeRequest(ptrs, &req.body);
    if (!st.ok()) Die(absl::StrCat("plain client: encode: ", st.message()));
    ++in_flight_;
    ++requests_;
    auto shared = std::make_shared<Batch>(std::move(b));
    http_->Submit(std::move(req), [this, shared](evs::service::HttpResponse resp) {
      const auto now = Clock::now();
      std::string error;
      std::vector<std::string> outputs;
      if (!resp.transport_ok) error = resp.error;
      else if (resp.status != 200) error = absl::StrCat("HTTP ", resp.status, ": ", resp.body.substr(0, 200));
      else if (absl::Status d = codec_.DecodeResponse(resp.body, shared->ids.size(), &outputs); !d.ok())
        error = std::string(d.message());
      std::lock_guard<std::mutex> l(mu_);
      --in_flight_;
      if (!error.empty()) {
        ++failed_;
        if (first_error_.empty()) first_error_ = error;
      } else {
        answered_ += static_cast<long>(shared->ids.size());
        for (const auto& c : shared->created)
          lat_us_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(now - c).count());
      }
      cv_.notify_one();
    });
  }

  const int batch_;
  const evs::service::Codec codec_;  // const methods only: shared by the driver and the client thread
  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  long in_flight_ = 0, answered_ = 0, failed_ = 0, requests_ = 0;
  std::vector<int64_t> lat_us_;
  std::string first_error_;
  std::unique_ptr<evs::service::HttpClient> http_;  // last: destroyed first, completing its callbacks
};

// ------------------------------------------------------------------ one batch size

struct BatchResult {
  int batch = 0;
  long events = 0;
  ThroughputResult job;
  double job_rows_per_request = 0, job_server_cpu = 0;
  PlainClient::Result plain;
  double latency_rate = 0;
  LatencyResult job_lat;
  double job_lat_rows_per_request = 0, job_lat_server_cpu = 0;
  PlainClient::Result plain_lat;
  std::string load;
};

BatchResult RunBatchSize(int b) {
  BatchResult r;
  r.batch = b;
  r.events = g_opt.events_all > 0 ? g_opt.events_all
             : g_opt.events_for.count(b) ? g_opt.events_for[b]
                                         : std::min(100000L, 10000L * b);
  g_opt.events = r.events;
  ServiceJobContender job(b);
  PlainClient plain(b);

  JobThroughput jt = RunJobThroughput(&job);
  r.job = jt.r;
  r.job_rows_per_request = jt.rows_per_request;
  r.job_server_cpu = jt.cpu.server;
  if (!r.job.ok) Log("  service job run failed; its log: " + job.LogPath());

  Log(absl::StrCat("throughput (plain client, batch ", b, "): ", r.events, " rows, ", g_opt.in_flight,
                   " requests in flight"));
  r.plain = plain.Run(r.events, 0);
  Log(absl::StrCat("  plain client: ", static_cast<long>(r.plain.rate), " ev/s over ", r.plain.wall_s, " s, ",
                   r.plain.requests, " requests, ", r.plain.failed, " failed",
                   r.plain.failed ? " (" + plain.first_error() + ")" : std::string()));

  if (!g_opt.skip_latency) {
    double rate = g_opt.latency_rate;
    if (rate <= 0) rate = (r.job.ok ? r.job.rate : r.plain.rate) / 2;
    r.latency_rate = rate;
    r.job_lat = RunLatency(&job, rate, job.Name(), &job);
    r.job_lat.cpu_s = job.window().evs;  // the paced part, not the job's whole run
    r.job_lat_rows_per_request = job.rows_per_request();
    r.job_lat_server_cpu = job.window().server;
    long total = static_cast<long>(rate * g_opt.latency_seconds);
    if (g_opt.latency_max_events > 0) total = std::min(total, g_opt.latency_max_events);
    total = std::max(total, 1000L);
    Log(absl::StrCat("latency (plain client, batch ", b, "): pacing ", total, " events at ",
                     static_cast<long>(rate), " ev/s"));
    r.plain_lat = plain.Run(total, rate);
    Log(absl::StrCat("  plain client: ", r.plain_lat.events, " events at ", static_cast<long>(r.plain_lat.achieved_rate),
                     " ev/s, ", r.plain_lat.requests, " requests, ", r.plain_lat.failed, " failed, p50 ",
                     r.plain_lat.p50_ms, " ms, p99 ", r.plain_lat.p99_ms, " ms, p99.9 ", r.plain_lat.p999_ms,
                     " ms, max ", r.plain_lat.max_ms, " ms"));
  }
  r.load = LoadAvg();
  return r;
}

std::string Us(double seconds, double events) { return events > 0 ? Fixed(seconds / events * 1e6, 0) : "-"; }
std::string RowsPerRequest(double rows, double requests) { return requests > 0 ? Fixed(rows / requests, 1) : "-"; }

}  // namespace

int main(int argc, char** argv) {
  bool bad = false;
  auto extra = [&bad](const std::string& a, const std::function<const char*()>& value) {
    if (a == "--url") g_opt.url = value();
    else if (a == "--model") g_opt.model = value();
    else if (a == "--server-pid") g_opt.server_pid = std::atoi(value());
    else if (a == "--server-label") g_opt.server_label = value();
    else if (a == "--in-flight") g_opt.in_flight = std::atoi(value());
    else if (a == "--max-delay-ms") g_opt.max_delay_ms = std::atoi(value());
    else if (a == "--latency-rate") g_opt.latency_rate = std::atof(value());
    else if (a == "--batch-sizes") {
      g_opt.batch_sizes.clear();
      const std::vector<std::string> sizes = absl::StrSplit(value(), ',', absl::SkipEmpty());
      for (const std::string& s : sizes) {
        const int b = std::atoi(s.c_str());
        if (b < 1) bad = true;
        g_opt.batch_sizes.push_back(b);
      }
    } else if (a == "--events-for") {
      std::string v = value();
      size_t eq = v.find('=');
      const int b = eq == std::string::npos ? 0 : std::atoi(v.substr(0, eq).c_str());
      const long n = eq == std::string::npos ? 0 : std::atol(v.substr(eq + 1).c_str());
      if (b < 1 || n < 1000) bad = true;
      g_opt.events_for[b] = n;
    } else return false;
    return true;
  };
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--events" && i + 1 < argc) g_opt.events_all = std::atol(argv[i + 1]);
  if (!ParseArgs(argc, argv, "evs_service_job_bench", &Usage, &g_opt, extra)) return 2;
  if (bad || g_opt.url.empty() || g_opt.batch_sizes.empty() || g_opt.in_flight < 1 || g_opt.max_delay_ms < 0) {
    std::cerr << "evs_service_job_bench: --url is required; --batch-sizes, --in-flight >= 1, --events-for B=N "
                 "(N >= 1000) (see --help)\n";
    return 2;
  }
  g_opt.make_event = &MakeEvent;
  SetOptions(&g_opt);
  if (!PrepareRun("evs_service_job_bench")) return 2;
  const std::string load_before = LoadAvg();
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  {  // The server answers, and its first requests (imports, JIT-free but cold caches) go unreported.
    PlainClient warm(8);
    const long n = std::max(64L, g_opt.warmup_events);
    Log(absl::StrCat("warm-up: ", n, " rows to ", g_opt.url, " (not reported)"));
    PlainClient::Result w = warm.Run(n, 0);
    if (!w.ok) Die("the model server does not answer at " + g_opt.url + ": " + warm.first_error());
  }

  std::vector<BatchResult> results;
  for (int b : g_opt.batch_sizes) results.push_back(RunBatchSize(b));
  const std::string load_after = LoadAvg();

  // ---- markdown
  auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::ostringstream md;
  const std::string cpu = ReadFirstMatch("/proc/cpuinfo", std::regex(R"(^model name\s*:\s*(.*)$)"));
  md << "Run of " << date << ": iris events of " << kEventBytes << " bytes, " << g_opt.partitions
     << " partitions per topic, " << g_opt.in_flight << " requests in flight, partial batches sent after "
     << g_opt.max_delay_ms << " ms; model server "
     << (g_opt.server_label.empty() ? g_opt.url : g_opt.server_label) << ".\n\n";
  md << "Machine: " << sysconf(_SC_NPROCESSORS_ONLN) << " CPUs (" << cpu << "), librdkafka "
     << rd_kafka_version_str() << ", single Kafka broker, model server and bench on the same machine; load "
     << "average before " << load_before << ", after " << load_after << ".\n\n";
  md << "| batch size | plain client ev/s | service job ev/s | job / plain | latency at (ev/s) | plain p50 / p99 ms "
        "| job p50 / p99 ms | evserve CPU µs/event | load average after |\n";
  md << "|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : results) {
    md << "| " << r.batch << " | " << (r.plain.ok ? Thousands(r.plain.rate) : "FAILED") << " | "
       << (r.job.ok ? Thousands(r.job.rate) : "FAILED (" + std::to_string(r.job.dest_count) + " results)") << " | "
       << Fixed(div(r.job.rate, r.plain.rate), 2) << " | ";
    if (g_opt.skip_latency) md << "- | - | - | ";
    else
      md << Thousands(r.latency_rate) << " | " << Fixed(r.plain_lat.p50_ms, 1) << " / " << Fixed(r.plain_lat.p99_ms, 1)
         << " | " << Fixed(r.job_lat.p50_ms, 1) << " / " << Fixed(r.job_lat.p99_ms, 1) << " | ";
    md << Us(r.job.cpu_s, r.events) << " | " << r.load << " |\n";
  }
  md << "\nEvery run (events/s: the job's from the append times of its results, the plain client's from wall "
        "time; CPU per event over the measured part (the job's backlog or its paced events): the evserve "
        "process's for the job, the bench process's (driver and HTTP client threads) for the plain client; the "
        "model server's from /proc when the bench knows its PID; rows/request of the job from its "
        "evs_service_batch_size metric):\n\n";
  md << "| batch | contender | phase | events | events/s | rows/request | CPU µs/event | server CPU µs/event | p50 ms "
        "| p99 ms | p99.9 ms | max ms | failed |\n";
  md << "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  const bool server_cpu = g_opt.server_pid > 0;
  for (const auto& r : results) {
    md << "| " << r.batch << " | plain client | throughput | " << Thousands(r.events) << " | " << Thousands(r.plain.rate)
       << " | " << RowsPerRequest(r.events, r.plain.requests) << " | " << Us(r.plain.cpu_s, r.events) << " | "
       << (server_cpu ? Us(r.plain.server_cpu_s, r.events) : "-") << " | - | - | - | - | " << r.plain.failed
       << " requests |\n";
    md << "| " << r.batch << " | service job | throughput | " << Thousands(r.events) << " | "
       << (r.job.ok ? Thousands(r.job.rate) : "FAILED") << " | "
       << (r.job_rows_per_request > 0 ? Fixed(r.job_rows_per_request, 1) : "-") << " | " << Us(r.job.cpu_s, r.events)
       << " | " << (server_cpu ? Us(r.job_server_cpu, r.events) : "-") << " | - | - | - | - | "
       << (r.job.ok ? "0" : Thousands(r.events - r.job.dest_count)) << " events |\n";
    if (g_opt.skip_latency) continue;
    md << "| " << r.batch << " | plain client | paced at " << Thousands(r.latency_rate) << " | "
       << Thousands(r.plain_lat.events) << " | " << Thousands(r.plain_lat.achieved_rate) << " | "
       << RowsPerRequest(r.plain_lat.events, r.plain_lat.requests) << " | " << Us(r.plain_lat.cpu_s, r.plain_lat.events)
       << " | " << (server_cpu ? Us(r.plain_lat.server_cpu_s, r.plain_lat.events) : "-") << " | "
       << Fixed(r.plain_lat.p50_ms, 1) << " | " << Fixed(r.plain_lat.p99_ms, 1) << " | "
       << Fixed(r.plain_lat.p999_ms, 1) << " | " << Fixed(r.plain_lat.max_ms, 1) << " | " << r.plain_lat.failed
       << " requests |\n";
    md << "| " << r.batch << " | service job | paced at " << Thousands(r.latency_rate) << " | "
       << Thousands(r.job_lat.sent) << " | " << Thousands(r.job_lat.achieved_rate) << " | "
       << (r.job_lat_rows_per_request > 0 ? Fixed(r.job_lat_rows_per_request, 1) : "-") << " | "
       << Us(r.job_lat.cpu_s, r.job_lat.sent) << " | "
       << (server_cpu ? Us(r.job_lat_server_cpu, r.job_lat.sent) : "-") << " | " << Fixed(r.job_lat.p50_ms, 1)
       << " | " << Fixed(r.job_lat.p99_ms, 1) << " | " << Fixed(r.job_lat.p999_ms, 1) << " | "
       << Fixed(r.job_lat.max_ms, 1) << " | " << std::max(0L, r.job_lat.sent - r.job_lat.received) << " events |\n";
  }
  md << "\n";
  std::cout << md.str();
  bool all_ok = true;
  std::cout << "RESULT";
  for (const auto& r : results) {
    all_ok = all_ok && r.job.ok && r.plain.ok &&
             (g_opt.skip_latency || (r.job_lat.ok && r.plain_lat.ok));
    std::cout << " b" << r.batch << "_plain=" << static_cast<long>(r.plain.rate) << " b" << r.batch
              << "_job=" << static_cast<long>(r.job.rate) << " b" << r.batch
              << "_ratio=" << Fixed(div(r.job.rate, r.plain.rate), 3);
    if (!g_opt.skip_latency)
      std::cout << " b" << r.batch << "_p99_plain_ms=" << Fixed(r.plain_lat.p99_ms, 1) << " b" << r.batch
                << "_p99_job_ms=" << Fixed(r.job_lat.p99_ms, 1);
  }
  std::cout << " ok=" << (all_ok ? 1 : 0) << "\n";
  if (!g_opt.out.empty()) {
    std::ofstream out(g_opt.out);
    out << md.str();
    if (!out) Die("cannot write " + g_opt.out);
  }
  return all_ok ? 0 : 1;
}
