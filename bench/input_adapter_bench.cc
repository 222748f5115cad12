// evs_input_bench: throughput and latency of `evserve input-adapter` next to
// a plain librdkafka consume->produce copy, on the same broker, in one run.
//
// Contenders: a plain copy (value and key verbatim, no headers), the same
// copy stamping the eight headers evserve's wire format puts on every
// request record ("plain + evserve headers": the ceiling for any
// implementation of that format), and evserve input-adapter.
//
// Throughput phase (order: plain, plain+headers, evserve, plain,
// plain+headers, so drift between the runs shows):
//   fresh source topic <- N pre-produced ~200-byte JSON events (keyed);
//   start the contender; poll the destination's high watermarks every 50 ms
//   until it holds N records; stop the contender. events/s = N / (timestamp
//   of the newest destination record - timestamp of the oldest). The
//   destination topics use message.timestamp.type=LogAppendTime, so these
//   are the broker's append times: group join and startup are excluded, and
//   records still queued inside the contender's producer do not count. The
//   wall time from start (including startup) is reported next to it.
// Latency phase (plain and evserve at half their measured throughput, then
//   both copies at the adapter's half rate): start the contender on fresh
//   topics, warm it up, then produce at a fixed rate events whose "ts" field
//   is the send time in microseconds; a consumer on the destination records
//   now - ts for every record: p50 / p99 / p99.9.
//
// See bench/run_input_bench.sh and docs/benchmarks.md.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kafka/client.h"
#include "kafka_bench.h"


namespace {

using namespace evs::bench;  // NOLINT: the bench is a thin layer over kafka_bench.h
using evs::kafka::HandlePtr;

// ------------------------------------------------------------------ options

struct Options : CommonOptions {
  Options() {
    events = 2000000;
    evserve = EVS_SOURCE_DIR "/build/release/bin/evserve";
    workdir = "/tmp/evs-input-bench";
    warmup_events = 200000;
  }
  int rounds = 1;  // adapter runs, each between two plain / plain+headers pairs
};

void Usage() {
  std::cout << R"(Usage: evs_input_bench [options]

Input adapter vs plain librdkafka copy (without and with evserve's eight
headers): throughput (plain, plain+headers, evserve, plain, plain+headers) and
latency at half of the plain copy's and the adapter's measured throughput
(plus both copies at the adapter's rate).

  --events N              events per throughput run (default 2000000)
  --workdir DIR           configs and evserve logs (default /tmp/evs-input-bench)
  --target R              pass mark for adapter/plain (default 0.70)
  --warmup-events N       unreported plain and plain+headers runs first to warm the broker (default 200000, 0: none)
  --rounds N              adapter runs, interleaved with the copies (default 1): P H E P H E P H ...;
                          ratios are the median of the rounds
)" << kCommonOptionsHelp;
}

Options g_opt;

// A ~200-byte JSON user event (exactly kEventBytes when id < 10^9). amount is
// always > 0 so the adapter's route predicate matches every event.
constexpr size_t kEventBytes = 200;
std::string MakeEvent(long id, int64_t ts_us) {
  static const char* kCountries[] = {"US", "DE", "FR", "IN", "BR"};
  static const char* kPages[] = {"/checkout/payment", "/cart", "/product/4711", "/search?q=shoes"};
  std::string s = absl::StrCat("{\"id\":", id, ",\"user\":\"u", (id < 0 ? 0 : id) % 1000,
                               "\",\"amount\":", 1 + ((id < 0 ? 0 : id) % 400) * 0.25,
                               ",\"country\":\"", kCountries[(id < 0 ? 0 : id) % 5],
                               "\",\"ts\":", ts_us, ",\"device\":\"android\",\"page\":\"",
                               kPages[(id < 0 ? 0 : id) % 4], "\",\"pad\":\"");
  size_t tail = 2;  // "}
  if (s.size() + tail < kEventBytes) s.append(kEventBytes - s.size() - tail, 'x');
  s += "\"}";
  return s;
}


// evserve input-adapter as a child process (posix_spawn), 3 routes, stopped
// with SIGTERM. CPU time from wait4's rusage (includes its startup).
class EvserveAdapter : public Contender {
 public:
  std::string Name() const override { return "evserve input-adapter"; }
  Topics MakeTopics() override {
    Topics t;
    t.id = UniqueId("evs");
    prefix_ = "bench.req." + t.id + ".";
    t.src = "bench.src." + t.id;
    t.dst = prefix_ + "echo";
    unused_a_ = "bench.clicks." + t.id;
    unused_b_ = "bench.views." + t.id;
    t.extra = {{unused_a_, 1, false}, {unused_b_, 1, false}};
    return t;
  }
  std::string Config(const Topics& t) const {
    return absl::StrCat(
        "guarantee: at-least-once\n",
        KafkaYaml(),
        "topics: {requests_prefix: \"", prefix_, "\", results: \"bench.results.", t.id,
        "\", config: \"bench.config.", t.id, "\", models: \"bench.models.", t.id,
        "\", status: \"bench.status.", t.id, "\", dlq: \"bench.dlq.", t.id, "\"}\n",
        "input_adapter: {name: \"bench-in-", t.id, "\"",
        g_opt.evs_max_in_flight > 0 ? absl::StrCat(", max_in_flight: ", g_opt.evs_max_in_flight) : "", "}\n",
        "output_adapter: {name: \"bench-out-", t.id, "\"}\n",
        "jobs:\n  echo: {type: echo}\n",
        "routes:\n",
        "  - name: clicks\n    source: ", unused_a_, "\n",
        "    when: \"amount > 100\"\n",
        "    variants: [{name: c, job: echo, model: m-clicks, weight: 1}]\n",
        "  - name: views\n    source: ", unused_b_, "\n",
        "    transform:\n      - select: [user, page]\n",
        "    variants: [{name: v, job: echo, model: m-views, weight: 1}]\n",
        "  - name: payments\n    source: ", t.src, "\n",
        "    when: \"amount > 0\"\n",
        "    transform:\n",
        "      - cast: {amount: double}\n",
        "      - derive: {amount_x2: \"amount * 2\"}\n",
        "    variants:\n",
        "      - {name: a, job: echo, model: m-a, weight: 90}\n",
        "      - {name: b, job: echo, model: m-b, weight: 10}\n");
  }
  void Start(const Topics& t) override {
    std::string cfg_path = absl::StrCat(g_opt.workdir, "/", t.id, ".yaml");
    log_path_ = absl::StrCat(g_opt.workdir, "/", t.id, ".log");
    std::ofstream(cfg_path) << Config(t);
    proc_.Spawn({"input-adapter", "-c", cfg_path}, log_path_, /*append=*/false);
  }
  bool Healthy() override { return proc_.Healthy(); }
  void Stop() override { proc_.Stop(); }
  double CpuSeconds() const override { return proc_.cpu_seconds(); }
  const std::string& log_path() const { return log_path_; }

 private:
  std::string prefix_, unused_a_, unused_b_, log_path_;
  EvserveProcess proc_;
};

}  // namespace

int main(int argc, char** argv) {
  auto extra = [](const std::string& a, const std::function<const char*()>& value) {
    if (a != "--rounds") return false;
    g_opt.rounds = std::max(1, std::atoi(value()));
    return true;
  };
  if (!ParseArgs(argc, argv, "evs_input_bench", &Usage, &g_opt, extra)) return 2;
  const int rounds = g_opt.rounds;
  g_opt.make_event = &MakeEvent;
  SetOptions(&g_opt);
  if (!PrepareRun("evs_input_bench")) return 2;
  const std::string load_before = LoadAvg();
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  std::unique_ptr<Contender> plain_c = MakePlainCopy(), plain_hc = MakePlainCopy(CopyHeaders::kStampRequest);
  Contender& plain = *plain_c;
  Contender& plain_h = *plain_hc;
  EvserveAdapter adapter;
  if (g_opt.warmup_events > 0) {
    // A freshly started broker JVM is still compiling its produce and fetch
    // paths: one unreported copy run first, so run 1 does not pay for that.
    const long n = g_opt.events;
    g_opt.events = g_opt.warmup_events;
    Log("warm-up run (not reported)");
    RunThroughput(&plain, 0);
    RunThroughput(&plain_h, 0);
    g_opt.events = n;
  }
  // Interleaved so that drift shows: P1 H1 E1 P2 H2 [E2 P3 H3 ...]. Round i
  // compares E_i with the mean of the plain runs before and after it; the
  // reported ratio is the median of the rounds' ratios.
  std::vector<ThroughputResult> tr, plains, headers, evs;
  auto run = [&](Contender* c, int i, std::vector<ThroughputResult>* into) {
    tr.push_back(RunThroughput(c, i));
    into->push_back(tr.back());
  };
  run(&plain, 1, &plains);
  run(&plain_h, 1, &headers);
  for (int i = 1; i <= rounds; ++i) {
    run(&adapter, i, &evs);
    run(&plain, i + 1, &plains);
    run(&plain_h, i + 1, &headers);
  }
  auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  std::vector<double> r_plain, r_hdr, r_cost, evs_rates, plain_rates, hdr_rates;
  for (int i = 0; i < rounds; ++i) {
    const double p = (plains[i].rate + plains[i + 1].rate) / 2, h = (headers[i].rate + headers[i + 1].rate) / 2;
    r_plain.push_back(div(evs[i].rate, p));
    r_hdr.push_back(div(evs[i].rate, h));
    evs_rates.push_back(evs[i].rate);
  }
  for (size_t i = 0; i < plains.size(); ++i) {
    plain_rates.push_back(plains[i].rate);
    hdr_rates.push_back(headers[i].rate);
    r_cost.push_back(div(headers[i].rate, plains[i].rate));
  }
  const double plain_rate = median(plain_rates);
  const double hdr_rate = median(hdr_rates);
  const double evs_rate = median(evs_rates);
  const double ratio = median(r_plain);
  const double ratio_h = median(r_hdr);
  const double hdr_cost = median(r_cost);
  auto list = [](const std::vector<double>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + Fixed(v[i], 2);
    return s;
  };
  bool all_ok = true;
  for (const auto& r : tr) all_ok = all_ok && r.ok;
  const bool pass = all_ok && ratio >= g_opt.target;

  std::vector<LatencyResult> lr;
  if (!g_opt.skip_latency) {
    lr.push_back(RunLatency(&plain, plain_rate / 2, plain.Name()));
    lr.push_back(RunLatency(&adapter, evs_rate / 2, adapter.Name()));
    // Same rate for all three: the copies at the adapter's half rate.
    lr.push_back(RunLatency(&plain, evs_rate / 2, plain.Name() + " at the adapter's rate"));
    lr.push_back(RunLatency(&plain_h, evs_rate / 2, plain_h.Name() + " at the adapter's rate"));
  }
  const std::string load_after = LoadAvg();

  // ---- markdown
  std::ostringstream md;
  const std::string cpu = ReadFirstMatch("/proc/cpuinfo", std::regex(R"(^model name\s*:\s*(.*)$)"));
  const std::string kafka_version = ReadFirstMatch(EVS_SOURCE_DIR "/deploy/kafka/pom.xml",
                                                   std::regex(R"(<kafka\.version>([^<]+)<)"));
  md << "Run of " << date << ": " << Thousands(g_opt.events) << " events of " << kEventBytes
     << " bytes per throughput run, " << g_opt.partitions << " partitions per topic.\n\n";
  md << "Machine: " << sysconf(_SC_NPROCESSORS_ONLN) << " CPUs (" << cpu << "), librdkafka "
     << rd_kafka_version_str() << ", Kafka " << kafka_version
     << " (single broker, same machine), load average before " << load_before << ", after "
     << load_after << ".\n\n";
  const bool broker = g_opt.broker_pid > 0;
  md << "| contender | run | events/s | append-time span (s) | wall from start, incl. startup (s) | CPU (s) | "
        "CPU µs/event |" << (broker ? " broker CPU µs/event |" : "") << "\n";
  md << "|---|---:|---:|---:|---:|---:|---:|" << (broker ? "---:|" : "") << "\n";
  for (const auto& r : tr) {
    md << "| " << r.contender << " | " << r.run << " | "
       << (r.ok ? Thousands(r.rate) : std::string("FAILED (") + std::to_string(r.dest_count) + " records)")
       << " | " << Fixed(r.span_s, 2) << " | " << Fixed(r.wall_s, 2) << " | " << Fixed(r.cpu_s, 1) << " | "
       << Fixed(r.cpu_s * 1e6 / r.events, 1) << " |";
    if (broker) md << " " << Fixed(r.broker_cpu_s * 1e6 / r.events, 1) << " |";
    md << "\n";
  }
  const std::string how = rounds > 1 ? "median of " + std::to_string(rounds) + " rounds; each round's adapter run "
                                       "against the mean of the plain runs before and after it"
                                     : "against the mean of the two plain runs";
  md << "\n**Ratio adapter / plain copy (" << how << "): " << Fixed(ratio, 2) << "** (adapter "
     << Thousands(evs_rate) << " vs plain " << Thousands(plain_rate) << " events/s, medians; per round: "
     << list(r_plain) << ").\n\n";
  md << "**Target (adapter >= " << static_cast<int>(g_opt.target * 100 + 0.5) << "% of the plain copy): "
     << (pass ? "PASS" : "FAIL") << "**" << (all_ok ? "" : " (a run did not complete)") << "\n\n";
  md << "Context, not the target: ratio adapter / plain copy + evserve headers: **" << Fixed(ratio_h, 2)
     << "** (header copy " << Thousands(hdr_rate) << " events/s, median; per round: " << list(r_hdr)
     << "). Cost of the eight headers alone: plain + headers / plain = **" << Fixed(hdr_cost, 2)
     << "** (median; per run pair: " << list(r_cost) << ").\n\n";
  if (!lr.empty()) {
    md << "Latency at half of the plain copy's and of the adapter's measured throughput, plus both copies at "
          "the adapter's rate (send time in the event -> consumer on the destination; "
       << g_opt.latency_seconds << " s paced, at most " << Thousands(g_opt.latency_max_events)
       << " events per row):\n\n";
    md << "| contender | target rate (ev/s) | achieved rate | events | received | p50 ms | p99 ms | "
          "p99.9 ms | max ms |\n";
    md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : lr)
      md << "| " << r.contender << " | " << Thousands(r.target_rate) << " | " << Thousands(r.achieved_rate)
         << " | " << Thousands(r.sent) << " | " << Thousands(r.received) << " | " << Fixed(r.p50_ms, 1)
         << " | " << Fixed(r.p99_ms, 1) << " | " << Fixed(r.p999_ms, 1) << " | " << Fixed(r.max_ms, 1)
         << " |\n";
    md << "\n";
  }
  std::cout << md.str();
  std::cout << "RESULT ratio=" << Fixed(ratio, 3) << " verdict=" << (pass ? "PASS" : "FAIL")
            << " ratio_vs_headers=" << Fixed(ratio_h, 3) << " headers_cost=" << Fixed(hdr_cost, 3)
            << " plain=" << static_cast<long>(plain_rate) << " plain_headers=" << static_cast<long>(hdr_rate)
            << " evserve=" << static_cast<long>(evs_rate) << "\n";
  if (!g_opt.out.empty()) {
    std::ofstream out(g_opt.out);
    out << md.str();
    if (!out) Die("cannot write " + g_opt.out);
  }
  return all_ok ? 0 : 1;
}
