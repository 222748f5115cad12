#include "kafka_bench.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "httplib.h"

extern char** environ;

namespace evs::bench {

using kafka::HandlePtr;
using kafka::MessagePtr;
using kafka::PartitionListPtr;
using kafka::Props;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void Log(const std::string& s) {
  std::time_t t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  std::cerr << "[" << buf << "] " << s << std::endl;
}

[[noreturn]] void Die(const std::string& s) {
  Log("FATAL: " + s);
  std::exit(1);
}

std::string UniqueId(const std::string& what) {
  static int n = 0;
  return absl::StrCat(what, "-", getpid(), "-", NowMicros() % 100000000, "-", n++);
}


std::string KeyFor(long id) { return absl::StrCat("u", (id < 0 ? 0 : id) % 1000); }

// Reads an integer JSON field ("name":123) without a full parse.
bool FindIntField(std::string_view v, std::string_view name, int64_t* out) {
  std::string pat = "\"" + std::string(name) + "\":";
  size_t p = v.find(pat);
  if (p == std::string_view::npos) return false;
  p += pat.size();
  bool neg = false;
  if (p < v.size() && v[p] == '-') {
    neg = true;
    ++p;
  }
  int64_t x = 0;
  size_t start = p;
  while (p < v.size() && v[p] >= '0' && v[p] <= '9') x = x * 10 + (v[p++] - '0');
  if (p == start) return false;
  *out = neg ? -x : x;
  return true;
}

HandlePtr MustHandle(rd_kafka_type_t type, const Props& props, const Props& overrides) {
  auto conf = kafka::MakeConf(props, overrides);
  if (!conf.ok()) Die(std::string(conf.status().message()));
  auto h = kafka::MakeHandle(type, std::move(*conf));
  if (!h.ok()) Die(std::string(h.status().message()));
  return std::move(*h);
}

Props Base() { return {{"bootstrap.servers", Opt().bootstrap}}; }

std::string KafkaYaml() {
  std::string cluster = absl::StrCat("{bootstrap.servers: \"", Opt().bootstrap, "\"");
  for (const auto& [k, v] : Opt().producer_props) absl::StrAppend(&cluster, ", ", k, ": \"", v, "\"");
  for (const auto& [k, v] : Opt().consumer_props) absl::StrAppend(&cluster, ", ", k, ": \"", v, "\"");
  cluster += "}";
  return absl::StrCat("kafka:\n  external: ", cluster, "\n  internal: ", cluster, "\n");
}

HandlePtr LowLatencyProducer() {
  auto conf = kafka::MakeConf(Base(), {{"linger.ms", "1"}});
  if (!conf.ok()) Die(std::string(conf.status().message()));
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &CountingDr);
  auto h = kafka::MakeHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!h.ok()) Die(std::string(h.status().message()));
  return std::move(*h);
}


void CreateTopics(const std::vector<BenchTopic>& topics) {
  HandlePtr rk = MustHandle(RD_KAFKA_PRODUCER, Base());
  char errstr[512];
  std::vector<rd_kafka_NewTopic_t*> nts;
  for (const BenchTopic& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, 1, errstr, sizeof errstr);
    if (!nt) Die(absl::StrCat("topic '", t.name, "': ", errstr));
    if (t.log_append_time) rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime");
    nts.push_back(nt);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk.get(), nts.data(), nts.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 40000);
  std::string error;
  if (!ev) {
    error = "creating topics timed out";
  } else if (rd_kafka_event_error(ev)) {
    error = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n && error.empty(); ++i)
      if (rd_kafka_topic_result_error(res[i]))
        error = absl::StrCat(rd_kafka_topic_result_name(res[i]), ": ", rd_kafka_topic_result_error_string(res[i]));
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  for (auto* n : nts) rd_kafka_NewTopic_destroy(n);
  if (!error.empty()) Die("create topics: " + error);
}

void DeleteRunTopics(const std::string& id) {
  if (id.empty()) return;
  HandlePtr rk = MustHandle(RD_KAFKA_PRODUCER, Base());
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log("  could not list topics to delete the run's (" + id + ")");
    return;
  }
  std::vector<rd_kafka_DeleteTopic_t*> dts;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const std::string name = md->topics[i].topic;
    // The id ends with "-<counter>": match it whole, so run 1 does not take run 10's topics.
    const size_t at = name.find(id);
    if (at == std::string::npos) continue;
    const size_t end = at + id.size();
    if (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) continue;
    dts.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
  }
  rd_kafka_metadata_destroy(md);
  if (dts.empty()) return;
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_DeleteTopics(rk.get(), dts.data(), dts.size(), nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  if (!ev || rd_kafka_event_error(ev))
    Log("  deleting the run's topics (" + id + ") failed: " +
        (ev ? std::string(rd_kafka_event_error_string(ev)) : std::string("timed out")));
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  for (auto* d : dts) rd_kafka_DeleteTopic_destroy(d);
}

// Produce with retry on a full local queue (the caller's poll serves reports).
void ProduceRaw(rd_kafka_t* rk, const std::string& topic, const std::string& key,
                const std::string& value) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
      continue;
    }
    Die(absl::StrCat("produce to ", topic, ": ", rd_kafka_err2str(err)));
  }
}

namespace {
std::atomic<long> g_delivery_errors{0};
CommonOptions* g_options = nullptr;
}  // namespace

std::atomic<long>& DeliveryErrors() { return g_delivery_errors; }
void SetOptions(CommonOptions* o) { g_options = o; }

bool ParseArgs(int argc, char** argv, const char* prog, void (*usage)(), CommonOptions* o,
               const ExtraArg& extra) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::function<const char*()> value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::cerr << prog << ": " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--bootstrap") o->bootstrap = value();
    else if (a == "--events") o->events = std::atol(value());
    else if (a == "--evserve") o->evserve = value();
    else if (a == "--out") o->out = value();
    else if (a == "--partitions") o->partitions = std::atoi(value());
    else if (a == "--latency-seconds") o->latency_seconds = std::atoi(value());
    else if (a == "--latency-max-events") o->latency_max_events = std::atol(value());
    else if (a == "--workdir") o->workdir = value();
    else if (a == "--target") o->target = std::atof(value());
    else if (a == "--skip-latency") o->skip_latency = true;
    else if (a == "--warmup-events") o->warmup_events = std::atol(value());
    else if (a == "--evs-max-in-flight") o->evs_max_in_flight = std::atol(value());
    else if (a == "--settle-seconds") o->settle_seconds = std::atof(value());
    else if (a == "--broker-pid") o->broker_pid = std::atoi(value());
    else if (a == "--producer-prop" || a == "--consumer-prop") {
      std::string kv = value();
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << prog << ": " << a << " wants KEY=VALUE, got '" << kv << "'\n";
        return false;
      }
      (a == "--producer-prop" ? o->producer_props : o->consumer_props)
          .emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if (!extra || !extra(a, value)) {
      std::cerr << prog << ": unknown argument '" << a << "' (see --help)\n";
      return false;
    }
  }
  if ((o->warmup_events != 0 && o->warmup_events < 1000) || o->events < 1000 || o->partitions < 1 ||
      o->latency_seconds < 1) {
    std::cerr << prog << ": --events (and a non-zero --warmup-events) must be >= 1000, --partitions and "
                 "--latency-seconds >= 1\n";
    return false;
  }
  return true;
}
const char kCommonOptionsHelp[] = R"(  --bootstrap HOST:PORT   broker (default localhost:19092)
  --evserve PATH          evserve binary (default build/release/bin/evserve)
  --out FILE              write the markdown fragment there too
  --partitions P          partitions of the topics (default 4)
  --skip-latency          throughput phase only
  --latency-seconds S     paced phase length per contender (default 15)
  --latency-max-events N  cap on paced events per contender (default 3000000, 0: none)
  --settle-seconds S      latency rows: S s at the paced rate with unmeasured events before the
                          measured ones (default 2), so the step up from the warm-up is not measured
  --evs-max-in-flight N   set input_adapter.max_in_flight in the evserve config (default: evserve's)
  --producer-prop K=V     librdkafka producer property for the plain copies and evserve alike
                          (repeatable), e.g. compression.type=lz4
  --consumer-prop K=V     the same for consumer properties, e.g. queued.max.messages.kbytes=262144
  --broker-pid PID        the broker's pid: its CPU time per throughput run goes into the table
)";

CommonOptions& Opt() {
  if (!g_options) Die("bench: SetOptions was not called");
  return *g_options;
}

void CountingDr(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) g_delivery_errors.fetch_add(1);
}

// Pre-produces N events to `topic`; returns the producer's events/s.
double PreProduce(const std::string& topic, long n) {
  auto conf = kafka::MakeConf(Base(), {{"linger.ms", "20"},
                                            {"batch.num.messages", "10000"},
                                            {"queue.buffering.max.messages", "1000000"}});
  if (!conf.ok()) Die(std::string(conf.status().message()));
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &CountingDr);
  auto rk = kafka::MakeHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) Die(std::string(rk.status().message()));
  auto t0 = Clock::now();
  g_delivery_errors = 0;
  for (long i = 0; i < n; ++i) {
    ProduceRaw(rk->get(), topic, KeyFor(i), Opt().make_event(i, NowMicros()));
    if ((i & 1023) == 0) rd_kafka_poll(rk->get(), 0);
  }
  if (rd_kafka_flush(rk->get(), 120000) != RD_KAFKA_RESP_ERR_NO_ERROR || g_delivery_errors > 0)
    Die(absl::StrCat("pre-produce to ", topic, " failed (", g_delivery_errors.load(), " errors)"));
  return n / SecondsSince(t0);
}

// Sum of (high - low) watermarks over the partitions of `topic`.
int64_t CountRecords(rd_kafka_t* meta, const std::string& topic, int partitions) {
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        kafka::QueryWatermarksWithRetry(meta, topic.c_str(), p, &lo, &hi, 5000);
    if (err) Die(absl::StrCat("watermarks of ", topic, "[", p, "]: ", rd_kafka_err2str(err)));
    total += hi - lo;
  }
  return total;
}

// Kafka timestamps of the oldest and newest records of `topic` (ms): the
// first and last record of each partition (with LogAppendTime a partition's
// timestamps grow with its offsets).
bool TimestampSpan(rd_kafka_t* meta, const std::string& topic, int partitions, int64_t* first_ms,
                   int64_t* last_ms) {
  HandlePtr c = MustHandle(RD_KAFKA_CONSUMER, Base(),
                           {{"group.id", "evs-bench-span"},
                            {"enable.auto.commit", "false"},
                            {"enable.partition.eof", "false"}});
  *first_ms = INT64_MAX;
  *last_ms = INT64_MIN;
  for (int pass = 0; pass < 2; ++pass) {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    std::map<int32_t, int64_t> want;
    for (int p = 0; p < partitions; ++p) {
      int64_t lo = 0, hi = 0;
      if (kafka::QueryWatermarksWithRetry(meta, topic.c_str(), p, &lo, &hi, 5000)) return false;
      if (hi <= lo) continue;
      int64_t off = pass == 0 ? lo : hi - 1;
      want[p] = off;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = off;
    }
    rd_kafka_assign(c.get(), list.get());
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!want.empty() && Clock::now() < deadline) {
      MessagePtr m(rd_kafka_consumer_poll(c.get(), 100));
      if (!m || m->err) continue;
      auto it = want.find(m->partition);
      if (it == want.end() || it->second != m->offset) continue;
      int64_t ts = rd_kafka_message_timestamp(m.get(), nullptr);
      *first_ms = std::min(*first_ms, ts);
      *last_ms = std::max(*last_ms, ts);
      want.erase(it);
    }
    rd_kafka_assign(c.get(), nullptr);
    if (!want.empty()) return false;
  }
  rd_kafka_consumer_close(c.get());
  return *first_ms <= *last_ms;
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}


int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int e = errno;
    close(fd);
    Die(absl::StrCat("no free port: ", std::strerror(e)));
  }
  close(fd);
  return ntohs(a.sin_port);
}

// Ingest time for evs-ts, read the way evserve reads it (coarse clock).
int64_t CoarseNowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}


bool PrepareRun(const char* prog) {
  signal(SIGPIPE, SIG_IGN);
  if (access(Opt().evserve.c_str(), X_OK) != 0) {
    std::cerr << prog << ": evserve binary '" << Opt().evserve << "' not found (--evserve)\n";
    return false;
  }
  std::string mk = "mkdir -p '" + Opt().workdir + "'";
  if (std::system(mk.c_str()) != 0) Die("cannot create " + Opt().workdir);
  HandlePtr meta = MustHandle(RD_KAFKA_PRODUCER, Base());
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(meta.get(), 0, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    Die("no broker answers at " + Opt().bootstrap);
  rd_kafka_metadata_destroy(md);
  return true;
}

// ------------------------------------------------------------------ plain copy

namespace {

// In-process plain copy: high-level consumer (group, subscribe, auto commit
// of stored offsets) -> idempotent producer (linger.ms 5), value, key and
// headers verbatim; a source offset is stored after the delivery report of
// its copy and of every earlier record of its partition (at-least-once, the
// same bookkeeping evserve's StreamRunner does), auto-commit sends them.
//
// Headers (CopyHeaders): kForward hands the consumed record's parsed header
// list to the producer (rd_kafka_message_detach_headers, as evserve's
// kafka::Produce does for headers it passes through). kStampRequest instead
// writes the eight headers evserve's input adapter puts on every request
// record (src/common/headers.h), with per-record values built the way the
// adapter builds them: evs-id and evs-src "<source topic>/<partition>/
// <offset>", evs-ts the current ms, evs-route/model/variant/shadow/config
// constants matching the bench's payments route; rd_kafka_headers_new +
// rd_kafka_header_add. kAddResult forwards and adds evs-model-version and a
// 64-character evs-model-digest, as a model job does on a result. No decode,
// no transform: the value is always forwarded verbatim.
class PlainCopy : public Contender {
 public:
  explicit PlainCopy(CopyHeaders headers) : headers_(headers) {}
  std::string Name() const override {
    return headers_ == CopyHeaders::kStampRequest ? "plain copy + evserve headers" : "plain librdkafka copy";
  }
  Topics MakeTopics() override {
    Topics t;
    t.id = UniqueId(headers_ == CopyHeaders::kStampRequest ? "plainh" : "plain");
    t.src = "bench.src." + t.id;
    t.dst = "bench.dst." + t.id;
    return t;
  }
  void Start(const Topics& t) override {
    src_ = t.src;
    dst_ = t.dst;
    stop_ = false;
    failed_ = false;
    parts_.clear();
    cpu0_ = ProcessCpuSeconds();
    // evserve's consumer defaults (queued.min.messages, see StreamRunner::Init).
    kafka::Props cprops = {{"group.id", "bench-plain-" + t.id},
                           {"queued.min.messages", "1000000"},
                           {"auto.offset.reset", "earliest"},
                           {"enable.auto.commit", "true"},
                           {"enable.auto.offset.store", "false"},
                           {"enable.partition.eof", "false"},
                           {"session.timeout.ms", "10000"},
                           {"heartbeat.interval.ms", "1000"}};
    for (const auto& [k, v] : Opt().consumer_props) cprops[k] = v;
    consumer_ = MustHandle(RD_KAFKA_CONSUMER, Base(), cprops);
    rd_kafka_poll_set_consumer(consumer_.get());
    kafka::Props overrides = {{"linger.ms", "5"}, {"enable.idempotence", "true"}};
    for (const auto& [k, v] : Opt().producer_props) overrides[k] = v;
    auto conf = kafka::MakeConf(Base(), overrides);
    if (!conf.ok()) Die(std::string(conf.status().message()));
    rd_kafka_conf_set_dr_msg_cb(conf->get(), &PlainCopy::Dr);
    rd_kafka_conf_set_opaque(conf->get(), this);
    auto p = kafka::MakeHandle(RD_KAFKA_PRODUCER, std::move(*conf));
    if (!p.ok()) Die(std::string(p.status().message()));
    producer_ = std::move(*p);
    PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), src_.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), list.get()))
      Die(absl::StrCat("subscribe: ", rd_kafka_err2str(err)));
    thread_ = std::thread([this] { Loop(); });
  }
  bool Healthy() override { return !failed_; }
  void Stop() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    producer_.reset();
    consumer_.reset();
    cpu_ = ProcessCpuSeconds() - cpu0_;
  }
  double CpuSeconds() const override { return cpu_; }

 private:
  struct PState {
    int64_t base = -1;          // offset of done.front()
    std::deque<uint8_t> done;   // consumed, 1 once its copy is delivered
  };

  static void Dr(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<PlainCopy*>(opaque)->OnDelivery(m);
  }

  void OnDelivery(const rd_kafka_message_t* m) {
    if (m->err) {
      failed_ = true;
      Log(absl::StrCat("plain copy: delivery failed: ", rd_kafka_err2str(m->err)));
      return;
    }
    uint64_t packed = reinterpret_cast<uintptr_t>(m->_private);
    int32_t part = static_cast<int32_t>(packed >> 48);
    int64_t off = static_cast<int64_t>(packed & ((uint64_t{1} << 48) - 1));
    PState& ps = parts_[part];
    ps.done[off - ps.base] = 1;
    int64_t next = -1;
    while (!ps.done.empty() && ps.done.front()) {
      ps.done.pop_front();
      next = ++ps.base;
    }
    if (next < 0) return;
    PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), src_.c_str(), part)->offset = next;
    rd_kafka_offsets_store(consumer_.get(), list.get());
  }

  void Loop() {
    while (!stop_ && !failed_) {
      rd_kafka_poll(producer_.get(), 0);
      MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), 50));
      if (!m) continue;
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          Log(absl::StrCat("plain copy: consumer: ", rd_kafka_message_errstr(m.get())));
        continue;
      }
      PState& ps = parts_[m->partition];
      if (ps.base < 0) ps.base = m->offset;
      while (ps.base + static_cast<int64_t>(ps.done.size()) < m->offset) ps.done.push_back(1);  // gaps
      ps.done.push_back(0);
      rd_kafka_headers_t* hdrs = nullptr;
      rd_kafka_headers_t* copy = nullptr;
      if (headers_ == CopyHeaders::kStampRequest) {
        // What evserve's InputAdapter + kafka::Produce do per request record.
        src_buf_.clear();
        absl::StrAppend(&src_buf_, src_, "/", m->partition, "/", m->offset);
        const std::string ts = std::to_string(CoarseNowMs());
        static constexpr std::string_view kRoute = "payments", kModel = "m-a", kVariant = "a",
                                          kShadow = "false", kConfig = "0";
        copy = rd_kafka_headers_new(8);
        auto add = [copy](std::string_view k, std::string_view v) {
          rd_kafka_header_add(copy, k.data(), k.size(), v.data(), v.size());
        };
        add("evs-id", src_buf_);
        add("evs-route", kRoute);
        add("evs-model", kModel);
        add("evs-variant", kVariant);
        add("evs-shadow", kShadow);
        add("evs-src", src_buf_);
        add("evs-ts", ts);
        add("evs-config", kConfig);
      } else if (headers_ == CopyHeaders::kStampPacked) {
        // The same eight values in one header, separated by 0x1f.
        src_buf_.clear();
        absl::StrAppend(&src_buf_, src_, "/", m->partition, "/", m->offset);
        packed_.clear();
        absl::StrAppend(&packed_, src_buf_, "\x1fpayments\x1fm-a\x1f" "a\x1f" "false\x1f", src_buf_, "\x1f",
                        CoarseNowMs(), "\x1f" "0");
        copy = rd_kafka_headers_new(1);
        rd_kafka_header_add(copy, "evs", -1, packed_.data(), packed_.size());
      } else if (rd_kafka_message_detach_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        copy = hdrs;
      }
      if (headers_ == CopyHeaders::kAddPacked) {
        static constexpr std::string_view kResult =
            "1\x1f" "8f2c6e0b1d4a7c93e5f10b2d6a8c4e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a";
        if (copy == nullptr) copy = rd_kafka_headers_new(1);
        rd_kafka_header_add(copy, "evs-result", -1, kResult.data(), kResult.size());
      }
      if (headers_ == CopyHeaders::kAddResult) {
        static constexpr std::string_view kVersion = "1",
                                          kDigest = "8f2c6e0b1d4a7c93e5f10b2d6a8c4e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a";
        if (copy == nullptr) copy = rd_kafka_headers_new(2);
        rd_kafka_header_add(copy, "evs-model-version", -1, kVersion.data(), kVersion.size());
        rd_kafka_header_add(copy, "evs-model-digest", -1, kDigest.data(), kDigest.size());
      }
      void* opaque = reinterpret_cast<void*>(
          (static_cast<uintptr_t>(m->partition) << 48) | static_cast<uintptr_t>(m->offset));
      for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer_.get(), RD_KAFKA_V_TOPIC(dst_.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_HEADERS(copy), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer_.get(), 10);
          continue;
        }
        if (copy) rd_kafka_headers_destroy(copy);
        Log(absl::StrCat("plain copy: produce: ", rd_kafka_err2str(err)));
        failed_ = true;
        break;
      }
    }
    rd_kafka_flush(producer_.get(), 30000);
    rd_kafka_commit(consumer_.get(), nullptr, 0);
    rd_kafka_consumer_close(consumer_.get());
  }

  const CopyHeaders headers_;
  std::string src_, dst_, src_buf_, packed_;
  HandlePtr consumer_, producer_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, failed_{false};
  std::map<int32_t, PState> parts_;  // only touched on the copy thread
  double cpu0_ = 0, cpu_ = 0;
};

}  // namespace

std::unique_ptr<Contender> MakePlainCopy(CopyHeaders headers) {
  return std::make_unique<PlainCopy>(headers);
}

// ------------------------------------------------------------------ evserve child

void EvserveProcess::Spawn(const std::vector<std::string>& args, const std::string& log_path, bool append) {
  log_path_ = log_path;
  std::vector<std::string> full = {Opt().evserve};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&pid_, Opt().evserve.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Die(absl::StrCat("cannot start ", Opt().evserve, ": ", std::strerror(rc)));
  done_ = false;
  cpu_ = 0;
}

bool EvserveProcess::Healthy() {
  if (done_) return false;
  rusage ru{};
  int st = 0;
  if (wait4(pid_, &st, WNOHANG, &ru) == pid_) {
    done_ = true;
    Record(ru);
    Log(absl::StrCat("evserve exited early (status ", st, "); log: ", log_path_));
    return false;
  }
  return true;
}

void EvserveProcess::Pause() {
  if (!done_) kill(pid_, SIGSTOP);
}

void EvserveProcess::Resume() {
  if (!done_) kill(pid_, SIGCONT);
}

void EvserveProcess::Stop() {
  if (done_) return;
  kill(pid_, SIGCONT);  // a paused one cannot act on SIGTERM
  kill(pid_, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  rusage ru{};
  int st = 0;
  for (;;) {
    pid_t r = wait4(pid_, &st, WNOHANG, &ru);
    if (r == pid_) break;
    if (Clock::now() > deadline) {
      Log("evserve did not stop within 30 s of SIGTERM; SIGKILL. log: " + log_path_);
      kill(pid_, SIGKILL);
      wait4(pid_, &st, 0, &ru);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  done_ = true;
  Record(ru);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    Log(absl::StrCat("evserve exit status ", st, "; log: ", log_path_));
}

double PidCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t p = stat.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream rest(stat.substr(p + 2));
  std::string f;
  double ut = 0, st = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {  // fields 14 and 15: utime, stime (clock ticks)
    if (i == 14) ut = std::atof(f.c_str());
    if (i == 15) st = std::atof(f.c_str());
  }
  return (ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void EvserveProcess::Record(const rusage& ru) {
  cpu_ = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ------------------------------------------------------------------ phases


ThroughputResult RunThroughput(Contender* c, int run) {
  ThroughputResult r;
  r.contender = c->Name();
  r.run = run;
  r.events = Opt().events;
  Topics t = c->MakeTopics();
  std::vector<BenchTopic> specs = {{t.src, Opt().partitions, false}, {t.dst, Opt().partitions, true}};
  specs.insert(specs.end(), t.extra.begin(), t.extra.end());
  CreateTopics(specs);
  HandlePtr meta = MustHandle(RD_KAFKA_PRODUCER, Base());
  Log(absl::StrCat("throughput run ", run, " (", c->Name(), "): pre-producing ", Opt().events,
                   " events to ", t.src));
  r.preproduce_rate = PreProduce(t.src, Opt().events);
  if (CountRecords(meta.get(), t.src, Opt().partitions) != Opt().events) Die("source count mismatch");
  Log(absl::StrCat("  pre-produced at ", static_cast<long>(r.preproduce_rate), " ev/s; starting contender"));
  auto t0 = Clock::now();
  const double broker0 = PidCpuSeconds(Opt().broker_pid);
  c->Start(t);
  const double timeout_s = 120 + Opt().events / 2000.0;
  int64_t count = 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    count = CountRecords(meta.get(), t.dst, Opt().partitions);
    if (count >= Opt().events) break;
    if (!c->Healthy() || SecondsSince(t0) > timeout_s) {
      Log(absl::StrCat("  contender stalled or failed at ", count, "/", Opt().events));
      break;
    }
  }
  r.wall_s = SecondsSince(t0);
  if (Opt().broker_pid > 0) r.broker_cpu_s = PidCpuSeconds(Opt().broker_pid) - broker0;
  c->Stop();
  r.cpu_s = c->CpuSeconds();
  r.dest_count = CountRecords(meta.get(), t.dst, Opt().partitions);
  int64_t first = 0, last = 0;
  if (r.dest_count >= Opt().events && TimestampSpan(meta.get(), t.dst, Opt().partitions, &first, &last)) {
    r.span_s = std::max<int64_t>(1, last - first) / 1000.0;
    r.rate = Opt().events / r.span_s;
    r.ok = true;
  }
  meta.reset();
  DeleteRunTopics(t.id);
  Log(absl::StrCat("  ", c->Name(), " run ", run, ": ", static_cast<long>(r.rate), " ev/s over ",
                   r.span_s, " s (wall incl. startup ", r.wall_s, " s, cpu ", r.cpu_s, " s, dest ",
                   r.dest_count, ")"));
  return r;
}


int64_t WarmUp(Contender* c, rd_kafka_t* prod, const std::string& src, const std::function<int64_t()>& out) {
  const std::string log = c->LogPath().empty() ? std::string() : "; log: " + c->LogPath();
  int64_t sent = 0;
  int extra = 0;
  const auto w0 = Clock::now();
  while (extra < 10) {
    if (!c->Healthy() || SecondsSince(w0) > 90) Die(c->Name() + " passed no warm-up event within 90 s" + log);
    ProduceRaw(prod, src, KeyFor(sent), Opt().make_event(-1, NowMicros()));
    ++sent;
    rd_kafka_flush(prod, 5000);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (extra > 0 || out() > 0) ++extra;
  }
  const auto d0 = Clock::now();
  int64_t seen = 0;
  while ((seen = out()) < sent) {
    if (!c->Healthy()) Die(c->Name() + " failed during warm-up" + log);
    if (SecondsSince(d0) > 60) {
      Log(absl::StrCat("  ", c->Name(), ": only ", seen, " of ", sent,
                       " warm-up events out after 60 s; measuring anyway", log));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return sent;
}

int LatencyResult::worst_window() const {
  int w = -1;
  for (size_t i = 0; i < window_max_ms.size(); ++i)
    if (w < 0 || window_max_ms[i] > window_max_ms[static_cast<size_t>(w)]) w = static_cast<int>(i);
  return w;
}

std::string ScrapeMetrics(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(5);
  auto res = cli.Get("/metrics");
  return res && res->status == 200 ? res->body : std::string();
}

double MetricSum(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line))
    if (line.rfind(name, 0) == 0 && line.size() > name.size() && (line[name.size()] == ' ' || line[name.size()] == '{'))
      sum += std::atof(line.substr(line.rfind(' ') + 1).c_str());
  return sum;
}

double Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t idx = static_cast<size_t>(std::ceil(q * sorted.size())) - 1;
  return sorted[std::min(idx, sorted.size() - 1)] / 1000.0;
}

LatencyResult RunLatency(Contender* c, double rate, const std::string& label, LatencyHook* hook) {
  // The page cache holds what the runs before this row wrote to the broker's
  // logs (gigabytes after a throughput phase). The kernel writes it back in
  // bursts of 100-200 MB every few seconds, and on this VM's disk a burst
  // stalled the broker for up to a second, in whichever row was running
  // (seen with /proc/vmstat next to the per-second latency maxima). Flushing
  // before each row keeps one row from paying for the ones before it.
  const auto synced = Clock::now();
  ::sync();
  Log(absl::StrCat("latency (", c->Name(), "): flushed dirty pages (sync) in ", SecondsSince(synced), " s"));
  LatencyResult r;
  r.contender = label;
  r.target_rate = rate;
  long total = static_cast<long>(rate * Opt().latency_seconds);
  if (Opt().latency_max_events > 0) total = std::min(total, Opt().latency_max_events);
  total = std::max(total, 1000L);
  Topics t = c->MakeTopics();
  std::vector<BenchTopic> specs = {{t.src, Opt().partitions, false}, {t.dst, Opt().partitions, true}};
  specs.insert(specs.end(), t.extra.begin(), t.extra.end());
  CreateTopics(specs);

  // Measuring consumer: every partition of the (fresh) destination from the start.
  HandlePtr cons = MustHandle(RD_KAFKA_CONSUMER, Base(),
                              {{"group.id", "evs-bench-latency"},
                               {"enable.auto.commit", "false"},
                               {"enable.partition.eof", "false"},
                               {"fetch.wait.max.ms", "100"}});
  {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(Opt().partitions));
    for (int p = 0; p < Opt().partitions; ++p)
      rd_kafka_topic_partition_list_add(list.get(), t.dst.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(cons.get(), list.get());
  }
  std::atomic<long> warm_seen{0}, received{0};
  std::atomic<bool> stop{false};
  std::vector<int64_t> lat_us, sent_us;  // parallel: latency, send time
  lat_us.reserve(total);
  sent_us.reserve(total);
  std::thread reader([&] {
    while (!stop) {
      MessagePtr m(rd_kafka_consumer_poll(cons.get(), 50));
      if (!m || m->err) continue;
      int64_t now = NowMicros();
      std::string_view v(static_cast<const char*>(m->payload), m->len);
      int64_t id = 0, ts = 0;
      if (!FindIntField(v, "id", &id) || !FindIntField(v, "ts", &ts)) continue;
      if (id < 0) {
        warm_seen++;
        continue;
      }
      lat_us.push_back(now - ts);
      sent_us.push_back(ts);
      received++;
    }
  });

  auto s0 = Clock::now();
  c->Start(t);
  HandlePtr prod = LowLatencyProducer();
  rd_kafka_t* pk = prod.get();
  g_delivery_errors = 0;
  const int64_t warm = WarmUp(c, pk, t.src, [&] { return warm_seen.load(); });
  Log(absl::StrCat("latency (", c->Name(), "): warm after ", SecondsSince(s0), " s (", warm,
                   " warm-up events, ", warm_seen.load(), " out); pacing ", total, " events at ",
                   static_cast<long>(rate), " ev/s"));
  // Settle: the paced rate for a while with warm-up events (ignored by the
  // reader), so the step from the warm-up trickle to the full rate (a
  // transient every contender shows in its first second, the plain copies
  // too) is not what the percentiles measure.
  {
    const auto s0 = Clock::now();
    long settled = 0;
    while (SecondsSince(s0) < Opt().settle_seconds) {
      long due = static_cast<long>(rate * SecondsSince(s0)) + 1;
      for (; settled < due; ++settled) ProduceRaw(pk, t.src, KeyFor(settled), Opt().make_event(-1, NowMicros()));
      rd_kafka_poll(pk, 0);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }
  if (hook) hook->BeginPaced();
  auto p0 = Clock::now();
  const int64_t p0_us = NowMicros();
  long sent = 0;
  while (sent < total) {
    long due = std::min(total, static_cast<long>(rate * SecondsSince(p0)) + 1);
    while (sent < due) {
      ProduceRaw(pk, t.src, KeyFor(sent), Opt().make_event(sent, NowMicros()));
      ++sent;
    }
    rd_kafka_poll(pk, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  double pace_s = SecondsSince(p0);
  if (hook) r.hook_events = hook->EndPaced();
  r.achieved_rate = sent / pace_s;
  rd_kafka_flush(pk, 30000);
  auto d0 = Clock::now();
  while (received < total && SecondsSince(d0) < 60 && c->Healthy())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (hook) hook->Received();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // catch duplicates
  stop = true;
  reader.join();
  c->Stop();
  r.cpu_s = c->CpuSeconds();
  rd_kafka_consumer_close(cons.get());
  // Every handle on the run's topics goes first: librdkafka 2.0's destroy of
  // a consumer whose topic was deleted under it can hang.
  cons.reset();
  rd_kafka_flush(pk, 5000);
  prod.reset();
  DeleteRunTopics(t.id);
  r.sent = sent;
  r.received = received;
  r.window_max_ms.assign(static_cast<size_t>(std::ceil(pace_s)) + 1, -1);
  for (size_t i = 0; i < lat_us.size(); ++i) {
    size_t w = static_cast<size_t>(std::max<int64_t>(0, sent_us[i] - p0_us) / 1000000);
    if (w >= r.window_max_ms.size()) w = r.window_max_ms.size() - 1;
    r.window_max_ms[w] = std::max(r.window_max_ms[w], lat_us[i] / 1000.0);
  }
  {
    std::string tl;
    for (double m : r.window_max_ms) absl::StrAppend(&tl, tl.empty() ? "" : " ", static_cast<long>(m));
    Log(absl::StrCat("  ", c->Name(), ": largest latency per second of the paced phase (ms): ", tl));
  }
  std::sort(lat_us.begin(), lat_us.end());
  r.p50_ms = Percentile(lat_us, 0.50);
  r.p99_ms = Percentile(lat_us, 0.99);
  r.p999_ms = Percentile(lat_us, 0.999);
  r.max_ms = lat_us.empty() ? 0 : lat_us.back() / 1000.0;
  r.ok = r.received >= r.sent && g_delivery_errors == 0;
  Log(absl::StrCat("  ", c->Name(), ": sent ", r.sent, " at ", static_cast<long>(r.achieved_rate),
                   " ev/s, received ", r.received, ", p50 ", r.p50_ms, " ms, p99 ", r.p99_ms,
                   " ms, p99.9 ", r.p999_ms, " ms, max ", r.max_ms, " ms"));
  return r;
}

// ------------------------------------------------------------------ report

std::string ReadFirstMatch(const std::string& path, const std::regex& re) {
  std::ifstream in(path);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, re)) return m[1];
  return "unknown";
}

std::string Fixed(double d, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, d);
  return buf;
}

std::string Thousands(double d) {
  std::string s = std::to_string(static_cast<long>(std::llround(d)));
  std::string out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}


}  // namespace evs::bench
