#pragma once

// Shared pieces of the Kafka benchmarks (evs_input_bench, evs_pmml_job_bench,
// evs_service_job_bench):
// topic set-up, pre-produced and paced events, the plain librdkafka copy a
// contender is compared with, evserve as a child process, and the two
// phases every such bench runs (throughput from broker append times,
// latency at a paced rate). Failures end the bench (Die): a benchmark that
// cannot set itself up has nothing to report.

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/client.h"

namespace evs::bench {

using Clock = std::chrono::steady_clock;

// Options every Kafka bench has; a bench's own Options derive from this and
// are registered with SetOptions before anything else runs.
struct CommonOptions {
  std::string bootstrap = "localhost:19092";
  long events = 200000;       // events per throughput run
  std::string evserve;        // evserve binary
  int partitions = 4;         // of source and destination topics
  int latency_seconds = 15;   // paced phase length per contender
  long latency_max_events = 3000000;  // cap per contender (0 = no cap)
  std::string workdir;        // configs and evserve logs
  long warmup_events = 200000;
  std::string out;             // also write the markdown fragment there
  double target = 0.70;        // pass mark of the bench's ratio
  bool skip_latency = false;   // throughput phase only
  long evs_max_in_flight = 0;  // input_adapter.max_in_flight (0: evserve's default)
  // Latency rows: seconds at the paced rate with unmeasured events between the
  // warm-up and the measured events (--settle-seconds).
  double settle_seconds = 2;
  // The broker's pid (--broker-pid): its CPU time is read around each
  // throughput run (0: not measured).
  int broker_pid = 0;
  // Extra librdkafka producer properties (--producer-prop K=V), applied alike
  // to the plain copies' producers and to evserve's internal cluster, so a
  // setting such as compression.type is compared like for like.
  std::vector<std::pair<std::string, std::string>> producer_props;
  // The same for consumer properties (--consumer-prop K=V): the plain
  // copies' consumers and evserve's clusters.
  std::vector<std::pair<std::string, std::string>> consumer_props;
  // The bench's event: ~200 bytes of JSON with integer "id" and "ts" (µs)
  // fields; id < 0 marks warm-up events, which the latency phase ignores.
  std::string (*make_event)(long id, int64_t ts_us) = nullptr;
};
void SetOptions(CommonOptions* o);
// Parses argv into `o`: the common options (--bootstrap --events --evserve
// --out --partitions --latency-seconds --latency-max-events --workdir
// --target --skip-latency --warmup-events --evs-max-in-flight --producer-prop --consumer-prop --settle-seconds --broker-pid, -h) and, via
// `extra`, the bench's own (extra returns false for an unknown argument;
// value() takes the option's value). False on a usage error (reported).
using ExtraArg = std::function<bool(const std::string& arg, const std::function<const char*()>& value)>;
bool ParseArgs(int argc, char** argv, const char* prog, void (*usage)(), CommonOptions* o,
               const ExtraArg& extra = nullptr);
// Before a run: SIGPIPE ignored, the evserve binary exists (false with a
// message otherwise), the workdir exists, a broker answers (Die otherwise).
bool PrepareRun(const char* prog);
CommonOptions& Opt();
// The --help lines of the options ParseArgs takes for every bench.
extern const char kCommonOptionsHelp[];

int64_t NowMicros();
double SecondsSince(Clock::time_point t);
void Log(const std::string& s);  // "[HH:MM:SS] s" on stderr
[[noreturn]] void Die(const std::string& s);
std::string UniqueId(const std::string& what);
std::string KeyFor(long id);  // the event key: one of 1000 users
// Reads an integer JSON field ("name":123) without a full parse.
bool FindIntField(std::string_view v, std::string_view name, int64_t* out);
double ProcessCpuSeconds();
// A free TCP port on 127.0.0.1 (bound, read and released; e.g. for a child's
// metrics listener).
int FreePort();
// utime + stime of a process from /proc/PID/stat (0 when unknown).
double PidCpuSeconds(int pid);
// GET http://127.0.0.1:PORT/metrics; empty when it does not answer.
std::string ScrapeMetrics(int port);
// Sum of a Prometheus sample over its label sets ("name" or "name{...}").
double MetricSum(const std::string& text, const std::string& name);
// Ingest time for evs-ts, read the way evserve reads it (coarse clock).
int64_t CoarseNowMs();

kafka::HandlePtr MustHandle(rd_kafka_type_t type, const kafka::Props& props,
                            const kafka::Props& overrides = {});
kafka::Props Base();  // bootstrap.servers only
// The evserve config's `kafka:` block: external and internal cluster both
// at --bootstrap, plus the --producer-prop properties.
std::string KafkaYaml();
// The producer of warm-up and paced events: linger.ms 1, delivery failures
// counted in DeliveryErrors().
kafka::HandlePtr LowLatencyProducer();

// A topic the bench creates. Destinations use LogAppendTime: their record
// timestamps are the broker's append times, so the throughput span measures
// records that really reached the destination (CreateTime would be stamped
// when the contender hands a record to librdkafka, which may still be
// queued in the client).
struct BenchTopic {
  std::string name;
  int partitions = 1;
  bool log_append_time = false;
};
void CreateTopics(const std::vector<BenchTopic>& topics);
// Deletes every topic whose name holds the run id `id` (a Topics::id): the
// run's source and destination and what the contender created, so that a
// long bench session does not fill the broker's disk (2M events of 200 bytes
// are about 0.4 GB per topic).
void DeleteRunTopics(const std::string& id);
// Produce with retry on a full local queue (the caller's poll serves reports).
void ProduceRaw(rd_kafka_t* rk, const std::string& topic, const std::string& key,
                const std::string& value);
// Delivery-report callback counting failures in DeliveryErrors().
void CountingDr(rd_kafka_t*, const rd_kafka_message_t* m, void*);
std::atomic<long>& DeliveryErrors();
// Pre-produces N events to `topic`; returns the producer's events/s.
double PreProduce(const std::string& topic, long n);
// Sum of (high - low) watermarks over the partitions of `topic`.
int64_t CountRecords(rd_kafka_t* meta, const std::string& topic, int partitions);
// Kafka timestamps of the oldest and newest records of `topic` (ms).
bool TimestampSpan(rd_kafka_t* meta, const std::string& topic, int partitions, int64_t* first_ms,
                   int64_t* last_ms);

struct Topics {
  std::string id, src, dst;
  std::vector<BenchTopic> extra;  // created with src and dst
};

// Something that moves events from Topics::src to Topics::dst.
class Contender {
 public:
  virtual ~Contender() = default;
  virtual std::string Name() const = 0;
  // Topic names for a fresh run.
  virtual Topics MakeTopics() = 0;
  virtual void Start(const Topics& t) = 0;
  // True while the contender can still make progress.
  virtual bool Healthy() = 0;
  virtual void Stop() = 0;
  // CPU seconds the contender used between Start and Stop.
  virtual double CpuSeconds() const = 0;
  // Its log, named in failure messages ("": none).
  virtual std::string LogPath() const { return {}; }
};

// Warms a started contender on `src`: events with id -1 (keys of the first
// users), one every 200 ms (each delivered before the next), until one is out,
// then 10 more; then waits until all of them are out, so the phase that
// follows measures no warm-up backlog (a fresh evserve module holds its first
// ~1 s of output until librdkafka has the output topic's metadata). `out()`:
// warm-up events seen at the destination so far. Dies when none is out within
// 90 s or the contender fails; stops waiting for the rest after 60 s (logged).
// Returns the number sent.
int64_t WarmUp(Contender* c, rd_kafka_t* prod, const std::string& src, const std::function<int64_t()>& out);

// What a plain copy does with headers (see kafka_bench.cc):
//   kForward       passes the consumed record's headers on (none on bench events);
//   kStampRequest  writes the eight headers evserve's input adapter puts on a request;
//   kAddResult     passes them on and adds the two a model job adds to a result;
//   kStampPacked / kAddPacked  the same facts packed into one header each
//                  ("evs": the eight values; "evs-result": version and digest),
//                  to show what a packed encoding would cost instead.
enum class CopyHeaders { kForward, kStampRequest, kAddResult, kStampPacked, kAddPacked };

// In-process plain librdkafka consume->produce copy with at-least-once offset
// bookkeeping.
std::unique_ptr<Contender> MakePlainCopy(CopyHeaders headers = CopyHeaders::kForward);

// `evserve <args>` as a child process (posix_spawn, output to a log file),
// stopped with SIGTERM (SIGKILL after 30 s; also on destruction). CPU time
// of its whole life from wait4's rusage.
class EvserveProcess {
 public:
  ~EvserveProcess() { Stop(); }
  void Spawn(const std::vector<std::string>& args, const std::string& log_path, bool append);
  bool Healthy();  // false once it has exited
  void Pause();    // SIGSTOP (e.g. while a backlog is produced)
  void Resume();   // SIGCONT
  void Stop();
  pid_t pid() const { return done_ ? 0 : pid_; }  // 0 when not running
  double cpu_seconds() const { return cpu_; }    // after Stop

 private:
  void Record(const rusage& ru);
  std::string log_path_;
  pid_t pid_ = -1;
  bool done_ = true;
  double cpu_ = 0;
};

struct ThroughputResult {
  std::string contender;
  int run = 0;
  long events = 0;
  int64_t dest_count = 0;
  double rate = 0;         // events / append-time span
  double span_s = 0;
  double wall_s = 0;       // start -> N records visible (incl. startup)
  double cpu_s = 0;
  double broker_cpu_s = 0;  // the broker's CPU from start to the last record (--broker-pid)
  double preproduce_rate = 0;
  bool ok = false;
};
// N events pre-produced to a fresh source; the contender starts; events/s =
// N / (append time of the newest destination record - of the oldest).
ThroughputResult RunThroughput(Contender* c, int run);

struct LatencyResult {
  std::string contender;
  double target_rate = 0, achieved_rate = 0;
  long sent = 0, received = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
  double cpu_s = 0;
  int hook_events = 0;  // what the hook reported (e.g. hot swaps done)
  // The paced phase in 1 s windows of send time: the largest latency of each
  // (ms; -1 when no event of that window arrived). Shows whether the tail is
  // one stall or spread out.
  std::vector<double> window_max_ms;
  bool ok = false;
  // The second whose window has the largest latency, and that latency.
  int worst_window() const;
};
// Called around the paced part of a latency run (e.g. hot swaps meanwhile).
class LatencyHook {
 public:
  virtual ~LatencyHook() = default;
  virtual void BeginPaced() = 0;
  virtual int EndPaced() = 0;  // -> LatencyResult::hook_events
  // After EndPaced, once every paced event is at the destination (or the wait
  // for them gave up), before the contender stops: e.g. the end of a CPU
  // window that covers the processing of the last paced events.
  virtual void Received() {}
};
// The contender on fresh topics, warmed up (WarmUp: paced, and drained before
// the paced phase), then events paced at `rate`; a consumer on the
// destination records now - ts: p50 / p99 / p99.9. cpu_s: the contender's
// CpuSeconds (its whole run).
LatencyResult RunLatency(Contender* c, double rate, const std::string& label,
                         LatencyHook* hook = nullptr);
double Percentile(const std::vector<int64_t>& sorted, double q);

// Report helpers.
std::string ReadFirstMatch(const std::string& path, const std::regex& re);
std::string Fixed(double d, int prec);
std::string Thousands(double d);
std::string LoadAvg();

}  // namespace evs::bench
