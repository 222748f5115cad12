// evs_pmml_job_bench: end-to-end throughput and latency of input-adapter ->
// pmml-job -> output-adapter (`evserve run`, three modules connected through
// Kafka) next to a plain librdkafka copy chain of the same three hops
// (source -> hop1 -> hop2 -> destination, each a consume->produce copy with
// at-least-once offset bookkeeping) on the same broker, in one run; for the
// iris decision tree and for a 100-tree random forest; and the latency while
// the model is hot-swapped every --swap-ms (a new version published with
// `evserve model update`) next to the steady latency. For context, a second
// chain whose hops write the headers evserve's hops write (eight on the
// request, two more on the result, all passed on) shows what the wire
// format's headers cost without any JSON work.
//
// Throughput: N events pre-produced to a fresh source topic; the contender
//   starts; events/s = N / (append time of the newest destination record -
//   append time of the oldest), LogAppendTime on the destination (startup
//   excluded), as in evs_input_bench.
// Latency: the contender on fresh topics, warmed up, then events paced at a
//   fixed rate whose "ts" field is the send time (µs); the consumer on the
//   destination records now - ts (the evserve output attaches the request's
//   ts with attach_fields). p50 / p99 / p99.9.
//
// See bench/run_pmml_job_bench.sh and docs/benchmarks.md.

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
    workdir = "/tmp/evs-pmml-bench";
    warmup_events = 50000;
    target = 0.60;
  }
  std::string iris_model = EVS_SOURCE_DIR "/tests/fixtures/pmml/iris_tree.pmml";
  std::string forest_model;  // default: <workdir>/forest100.pmml from bench/make_forest.py
  int swap_ms = 1000;
  double latency_rate = 0;        // 0: half the slowest measured rate, at most latency_cap
  double latency_cap = 20000;
  int rounds = 1;                 // throughput: evserve run pairs, each between two chain pairs
  bool packed_chain = false;      // also a chain with the headers packed into one per stage
  int latency_rounds = 1;         // steady / swap row pairs per model, interleaved
};

void Usage() {
  std::cout << R"(Usage: evs_pmml_job_bench [options]

input-adapter -> pmml-job -> output-adapter vs a plain librdkafka copy chain
of three hops: throughput (chain, header chain, evserve iris, evserve forest,
chain, header chain; the header chain's hops write evserve's headers, for
context), latency at half of each measured rate, and latency during hot swaps.

  --events N              events per throughput run (default 2000000)
  --iris FILE             the iris model (default tests/fixtures/pmml/iris_tree.pmml)
  --forest FILE           the 100-tree forest (default <workdir>/forest100.pmml)
  --swap-ms MS            hot-swap interval in the swap phase (default 1000)
  --latency-rate R        paced rate of every latency row (default: half of the slowest
                          measured throughput, at most --latency-cap)
  --rounds N              throughput: evserve runs per model (default 1), interleaved with the
                          chains: C H [I F C H] per round; the ratios are medians over rounds
  --packed-chain          also run a chain that carries the same facts in one header per stage
                          (after each header-chain run), for context
  --latency-rounds N      steady and hot-swap rows per model, interleaved (default 1); the
                          swap / steady p99 ratio is then the median of the rounds' ratios
  --latency-cap R         upper bound of the default latency rate (default 20000 ev/s: what
                          the bench's own paced producer sustains next to the contenders on
                          a small machine)
  --workdir DIR           configs and evserve logs (default /tmp/evs-pmml-bench)
  --target R              pass mark for evserve/chain events/s (default 0.60)
  --warmup-events N       unreported chain run first to warm the broker (default 50000, 0: none)
)" << kCommonOptionsHelp;
}

Options g_opt;

// A ~200-byte JSON iris event (exactly kEventBytes when id < 10^9): the four
// features the models read, the send time, padding.
constexpr size_t kEventBytes = 200;
std::string MakeEvent(long id, int64_t ts_us) {
  const long k = id < 0 ? 0 : id;
  std::string s = absl::StrCat("{\"id\":", id, ",\"sepal_length\":", 4.3 + (k % 36) * 0.1,
                               ",\"sepal_width\":", 2.0 + (k % 24) * 0.1, ",\"petal_length\":",
                               1.0 + (k % 59) * 0.1, ",\"petal_width\":", 0.1 + (k % 25) * 0.1,
                               ",\"ts\":", ts_us, ",\"pad\":\"");
  size_t tail = 2;  // "}
  if (s.size() + tail < kEventBytes) s.append(kEventBytes - s.size() - tail, 'x');
  s += "\"}";
  return s;
}


// Three plain copies in a chain: src -> hop1 -> hop2 -> dst, as many hops as
// evserve's path (input adapter, job, output adapter). With kEvserve the
// hops write the headers evserve's do: the eight request headers, then the
// two a job adds, then all ten passed on (context: what the wire format's
// headers cost a chain that does no JSON work). kPacked carries the same
// facts in one header per stage (--packed-chain: what a packed encoding
// would cost instead).
class PlainChain : public Contender {
 public:
  enum class Headers { kNone, kEvserve, kPacked };
  explicit PlainChain(Headers headers = Headers::kNone) : headers_(headers) {
    if (headers_ == Headers::kEvserve) {
      hops_[0] = MakePlainCopy(CopyHeaders::kStampRequest);
      hops_[1] = MakePlainCopy(CopyHeaders::kAddResult);
    } else if (headers_ == Headers::kPacked) {
      hops_[0] = MakePlainCopy(CopyHeaders::kStampPacked);
      hops_[1] = MakePlainCopy(CopyHeaders::kAddPacked);
    }
  }
  std::string Name() const override {
    switch (headers_) {
      case Headers::kEvserve: return "plain copy chain + evserve headers (3 hops)";
      case Headers::kPacked: return "plain copy chain + the same facts in 2 packed headers (3 hops)";
      default: return "plain librdkafka copy chain (3 hops)";
    }
  }
  Topics MakeTopics() override {
    Topics t;
    t.id = UniqueId(headers_ == Headers::kEvserve ? "chainh" : headers_ == Headers::kPacked ? "chainp" : "chain");
    t.src = "bench.src." + t.id;
    t.dst = "bench.dst." + t.id;
    hop1_ = "bench.hop1." + t.id;
    hop2_ = "bench.hop2." + t.id;
    t.extra = {{hop1_, g_opt.partitions, false}, {hop2_, g_opt.partitions, false}};
    return t;
  }
  void Start(const Topics& t) override {
    hops_[0]->Start(Topics{t.id + "-1", t.src, hop1_, {}});
    hops_[1]->Start(Topics{t.id + "-2", hop1_, hop2_, {}});
    hops_[2]->Start(Topics{t.id + "-3", hop2_, t.dst, {}});
  }
  bool Healthy() override { return hops_[0]->Healthy() && hops_[1]->Healthy() && hops_[2]->Healthy(); }
  void Stop() override {
    for (auto& h : hops_) h->Stop();
  }
  double CpuSeconds() const override { return hops_[0]->CpuSeconds(); }  // process-wide: all hops

 private:
  const Headers headers_;
  std::string hop1_, hop2_;
  std::unique_ptr<Contender> hops_[3] = {MakePlainCopy(), MakePlainCopy(), MakePlainCopy()};
};

// `evserve run` (input adapter, pmml job, output adapter in one process,
// connected through Kafka) as a child process, stopped with SIGTERM; the
// model is published to the run's registry topic before it starts. With
// swaps on, a thread publishes a new version every swap_ms.
class EvservePmml : public Contender, public LatencyHook {
 public:
  EvservePmml(std::string label, std::string model_file)
      : label_(std::move(label)), model_file_(std::move(model_file)) {}
  std::string Name() const override { return "evserve (" + label_ + ")"; }
  Topics MakeTopics() override {
    Topics t;
    t.id = UniqueId("evs");
    t.src = "bench.src." + t.id;
    t.dst = "bench.dst." + t.id;
    return t;
  }
  std::string Config(const Topics& t) const {
    return absl::StrCat(
        "guarantee: at-least-once\n",
        KafkaYaml(),
        "topics: {requests_prefix: \"bench.req.", t.id, ".\", results: \"bench.results.", t.id,
        "\", config: \"bench.config.", t.id, "\", models: \"bench.models.", t.id,
        "\", status: \"bench.status.", t.id, "\", dlq: \"bench.dlq.", t.id, "\"}\n",
        "input_adapter: {name: \"bench-in-", t.id, "\"}\n",
        "output_adapter: {name: \"bench-out-", t.id, "\"}\n",
        "jobs:\n  pmml: {type: pmml, name: \"bench-pmml-", t.id, "\", metrics_listen: \"127.0.0.1:",
        job_port_, "\"}\n",
        "routes:\n",
        "  - name: iris\n    source: ", t.src, "\n",
        "    variants: [{name: a, job: pmml, model: m, weight: 1}]\n",
        "outputs:\n",
        "  - name: iris\n    topic: ", t.dst, "\n",
        "    transform: [{select: [species]}]\n",
        "    attach: [model, version]\n",
        "    attach_fields: [id, ts]\n");
  }
  void Start(const Topics& t) override {
    cfg_path_ = absl::StrCat(g_opt.workdir, "/", t.id, ".yaml");
    log_path_ = absl::StrCat(g_opt.workdir, "/", t.id, ".log");
    job_port_ = FreePort();
    std::ofstream(cfg_path_) << Config(t);
    std::string add = absl::StrCat("'", g_opt.evserve, "' model add m '", model_file_, "' --by-path -c '", cfg_path_,
                                   "' --no-wait >>'", log_path_, "' 2>&1");
    if (std::system(add.c_str()) != 0) Die("model add failed; log: " + log_path_);
    proc_.Spawn({"run", "-c", cfg_path_}, log_path_, /*append=*/true);
  }
  // Publishes a new version of the model every swap_ms until EndPaced.
  void BeginPaced() override {
    swaps_ = 0;
    swapping_ = true;
    swapper_ = std::thread([this] {
      while (swapping_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(g_opt.swap_ms));
        if (!swapping_) break;
        std::string upd = absl::StrCat("'", g_opt.evserve, "' model update m '", model_file_, "' --by-path -c '",
                                       cfg_path_, "' --no-wait >>'", log_path_, "' 2>&1");
        if (std::system(upd.c_str()) == 0) ++swaps_;
      }
    });
  }
  int EndPaced() override {
    swapping_ = false;
    if (swapper_.joinable()) swapper_.join();
    return swaps_;
  }
  bool Healthy() override { return proc_.Healthy(); }
  void Stop() override {
    EndPaced();
    // The job's own account of what swaps cost its record path.
    swap_pause_max_ms_ = -1;
    if (proc_.Healthy()) {
      const std::string m = ScrapeMetrics(job_port_);
      if (!m.empty()) swap_pause_max_ms_ = MetricSum(m, "evs_model_swap_pause_max_seconds") * 1000;
    }
    proc_.Stop();
  }
  double CpuSeconds() const override { return proc_.cpu_seconds(); }
  // Longest time the job's record path spent taking a new model table in
  // the last run (from its metrics at Stop); -1 when not read.
  double swap_pause_max_ms() const { return swap_pause_max_ms_; }

 private:
  int job_port_ = 0;
  double swap_pause_max_ms_ = -1;
  std::string label_, model_file_, cfg_path_, log_path_;
  EvserveProcess proc_;
  std::thread swapper_;
  std::atomic<bool> swapping_{false};
  std::atomic<int> swaps_{0};
};

}  // namespace

int main(int argc, char** argv) {
  auto extra = [](const std::string& a, const std::function<const char*()>& value) {
    if (a == "--iris") g_opt.iris_model = value();
    else if (a == "--forest") g_opt.forest_model = value();
    else if (a == "--swap-ms") g_opt.swap_ms = std::atoi(value());
    else if (a == "--latency-rate") g_opt.latency_rate = std::atof(value());
    else if (a == "--latency-cap") g_opt.latency_cap = std::atof(value());
    else if (a == "--latency-rounds") g_opt.latency_rounds = std::max(1, std::atoi(value()));
    else if (a == "--rounds") g_opt.rounds = std::max(1, std::atoi(value()));
    else if (a == "--packed-chain") g_opt.packed_chain = true;
    else return false;
    return true;
  };
  if (!ParseArgs(argc, argv, "evs_pmml_job_bench", &Usage, &g_opt, extra)) return 2;
  g_opt.make_event = &MakeEvent;
  SetOptions(&g_opt);
  if (!PrepareRun("evs_pmml_job_bench")) return 2;
  const std::string load_before = LoadAvg();
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  if (g_opt.forest_model.empty()) {
    g_opt.forest_model = g_opt.workdir + "/forest100.pmml";
    std::string gen = absl::StrCat("python3 '", EVS_SOURCE_DIR, "/bench/make_forest.py' --trees 100 --depth 10 > '",
                                   g_opt.forest_model, "'");
    if (std::system(gen.c_str()) != 0) Die("cannot generate the 100-tree forest (bench/make_forest.py)");
  }
  PlainChain chain, chain_h(PlainChain::Headers::kEvserve), chain_p(PlainChain::Headers::kPacked);
  EvservePmml iris("iris decision tree", g_opt.iris_model);
  EvservePmml forest("100-tree random forest", g_opt.forest_model);
  if (g_opt.warmup_events > 0) {
    const long n = g_opt.events;
    g_opt.events = g_opt.warmup_events;
    Log("warm-up run (not reported)");
    RunThroughput(&chain, 0);
    g_opt.events = n;
  }
  // Interleaved so that drift shows: C1 H1 [I_i F_i C_i+1 H_i+1] per round.
  // Round i compares I_i and F_i with the mean of the chain runs before and
  // after them; the reported ratios are the medians of the rounds' ratios.
  std::vector<ThroughputResult> tr, chains, chains_h, irs, fos;
  auto run = [&](Contender* c, int i, std::vector<ThroughputResult>* into) {
    tr.push_back(RunThroughput(c, i));
    into->push_back(tr.back());
  };
  std::vector<ThroughputResult> chains_p;
  run(&chain, 1, &chains);
  run(&chain_h, 1, &chains_h);
  if (g_opt.packed_chain) run(&chain_p, 1, &chains_p);
  for (int i = 1; i <= g_opt.rounds; ++i) {
    run(&iris, i, &irs);
    run(&forest, i, &fos);
    run(&chain, i + 1, &chains);
    run(&chain_h, i + 1, &chains_h);
    if (g_opt.packed_chain) run(&chain_p, i + 1, &chains_p);
  }
  auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  auto rates = [](const std::vector<ThroughputResult>& v) {
    std::vector<double> r;
    for (const auto& x : v) r.push_back(x.rate);
    return r;
  };
  std::vector<double> r_iris, r_forest, r_h_iris, r_h_forest, r_headers;
  for (int i = 0; i < g_opt.rounds; ++i) {
    const double c = (chains[i].rate + chains[i + 1].rate) / 2, h = (chains_h[i].rate + chains_h[i + 1].rate) / 2;
    r_iris.push_back(div(irs[i].rate, c));
    r_forest.push_back(div(fos[i].rate, c));
    r_h_iris.push_back(div(irs[i].rate, h));
    r_h_forest.push_back(div(fos[i].rate, h));
  }
  for (size_t i = 0; i < chains.size(); ++i) r_headers.push_back(div(chains_h[i].rate, chains[i].rate));
  std::vector<double> r_packed;
  for (size_t i = 0; i < chains_p.size(); ++i) r_packed.push_back(div(chains_p[i].rate, chains[i].rate));
  const double chain_rate = median(rates(chains)), chain_h_rate = median(rates(chains_h));
  const double iris_rate = median(rates(irs)), forest_rate = median(rates(fos));
  const double ratio_iris = median(r_iris), ratio_forest = median(r_forest);
  const double ratio_h_iris = median(r_h_iris), ratio_h_forest = median(r_h_forest);
  const double headers_cost = median(r_headers);
  auto list = [](const std::vector<double>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + Fixed(v[i], 2);
    return out;
  };
  bool all_ok = true;
  for (const auto& r : tr) all_ok = all_ok && r.ok;
  const bool pass = all_ok && ratio_iris >= g_opt.target && ratio_forest >= g_opt.target;

  std::vector<LatencyResult> lr;
  std::vector<double> pause_ms;  // per latency row: the job's longest swap pause (ms), -1: none
  std::string rounds_text;
  double swap_ratio_iris = 0, swap_ratio_forest = 0;
  if (!g_opt.skip_latency) {
    // One rate for every row, so the rows compare: half the slowest
    // contender's maximum, capped at what the paced producer sustains.
    double rate = g_opt.latency_rate;
    if (rate <= 0) rate = std::min({chain_rate / 2, iris_rate / 2, forest_rate / 2, g_opt.latency_cap});
    const std::string swaps = ", hot swap every " + std::to_string(g_opt.swap_ms) + " ms";
    lr.push_back(RunLatency(&chain, rate, chain.Name()));
    pause_ms.push_back(-1);
    std::vector<double> ri, rf;  // per-round swap / steady p99
    for (int round = 1; round <= g_opt.latency_rounds; ++round) {
      const std::string rs = g_opt.latency_rounds > 1 ? absl::StrCat(" (round ", round, ")") : "";
      for (EvservePmml* c : {&iris, &forest}) {
        lr.push_back(RunLatency(c, rate, c->Name() + ", steady" + rs));
        pause_ms.push_back(c->swap_pause_max_ms());
        lr.push_back(RunLatency(c, rate, c->Name() + swaps + rs, c));
        pause_ms.push_back(c->swap_pause_max_ms());
        (c == &iris ? ri : rf).push_back(div(lr[lr.size() - 1].p99_ms, lr[lr.size() - 2].p99_ms));
      }
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      const size_t n = v.size();
      return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    };
    swap_ratio_iris = median(ri);
    swap_ratio_forest = median(rf);
    for (size_t i = 0; i < ri.size(); ++i)
      absl::StrAppend(&rounds_text, i ? "; " : "", "round ", i + 1, ": iris ", Fixed(ri[i], 2), ", forest ",
                      Fixed(rf[i], 2));
  }
  const std::string load_after = LoadAvg();

  // ---- markdown
  std::ostringstream md;
  const std::string cpu = ReadFirstMatch("/proc/cpuinfo", std::regex(R"(^model name\s*:\s*(.*)$)"));
  const std::string kafka_version = ReadFirstMatch(EVS_SOURCE_DIR "/deploy/kafka/pom.xml",
                                                   std::regex(R"(<kafka\.version>([^<]+)<)"));
  md << "Run of " << date << ": " << Thousands(g_opt.events) << " iris events of " << kEventBytes
     << " bytes per throughput run, " << g_opt.partitions << " partitions per topic.\n\n";
  md << "Machine: " << sysconf(_SC_NPROCESSORS_ONLN) << " CPUs (" << cpu << "), librdkafka "
     << rd_kafka_version_str() << ", Kafka " << kafka_version
     << " (single broker, same machine), load average before " << load_before << ", after "
     << load_after << ".\n\n";
  const bool broker = g_opt.broker_pid > 0;
  md << "| contender | run | events/s | append-time span (s) | wall from start, incl. startup (s) | CPU (s) |"
     << (broker ? " broker CPU µs/event |" : "") << "\n";
  md << "|---|---:|---:|---:|---:|---:|" << (broker ? "---:|" : "") << "\n";
  for (const auto& r : tr) {
    md << "| " << r.contender << " | " << r.run << " | "
       << (r.ok ? Thousands(r.rate) : std::string("FAILED (") + std::to_string(r.dest_count) + " records)")
       << " | " << Fixed(r.span_s, 2) << " | " << Fixed(r.wall_s, 2) << " | " << Fixed(r.cpu_s, 1) << " |";
    if (broker) md << " " << Fixed(r.broker_cpu_s * 1e6 / r.events, 1) << " |";
    md << "\n";
  }
  const std::string how = g_opt.rounds > 1 ? " (median of " + std::to_string(g_opt.rounds) +
                                                  " rounds; each round's evserve runs against the mean of the chain "
                                                  "runs before and after them)"
                                            : " (against the mean of the two chain runs)";
  md << "\n**evserve / plain chain" << how << ": iris " << Fixed(ratio_iris, 2) << ", 100-tree forest "
     << Fixed(ratio_forest, 2) << "** (" << Thousands(iris_rate) << " and " << Thousands(forest_rate) << " vs "
     << Thousands(chain_rate) << " events/s" << (g_opt.rounds > 1 ? ", medians; per round: iris " + list(r_iris) +
                                                                        ", forest " + list(r_forest)
                                                                  : std::string())
     << ").\n\n";
  md << "**Target (evserve >= " << static_cast<int>(g_opt.target * 100 + 0.5) << "% of the chain): "
     << (pass ? "PASS" : "FAIL") << "**" << (all_ok ? "" : " (a run did not complete)") << "\n\n";
  md << "Context, not the target: evserve / the chain whose hops write evserve's headers (eight request "
        "headers, two result headers, all ten passed on; values copied verbatim, no JSON work): iris "
     << Fixed(ratio_h_iris, 2) << ", forest " << Fixed(ratio_h_forest, 2) << " (header chain "
     << Thousands(chain_h_rate) << " events/s, median). The headers alone: header chain / plain chain = "
     << Fixed(headers_cost, 2) << " (median; per run pair: " << list(r_headers) << ").\n\n";
  if (!r_packed.empty()) {
    md << "The same facts packed into one header per stage (\"evs\" with the eight values, \"evs-result\" with "
          "version and digest): packed chain / plain chain = "
       << Fixed(median(r_packed), 2) << " (median; per run pair: " << list(r_packed) << "; packed chain "
       << Thousands(median(rates(chains_p))) << " events/s, median).\n\n";
  }
  if (!lr.empty()) {
    md << "Latency, every row at the same paced rate (half the slowest measured throughput, capped at "
       << Thousands(g_opt.latency_cap) << " ev/s unless --latency-rate; send time in the event -> consumer on the "
          "destination; "
       << g_opt.latency_seconds
       << " s paced; each row starts after a `sync`, so the page cache's writeback of earlier runs does not "
          "land in it):\n\n";
    md << "| contender | target rate (ev/s) | achieved rate | events | received | swaps | p50 ms | p99 ms | "
          "p99.9 ms | max ms | worst 1 s window (s: max ms) | job's longest swap pause (ms) |\n";
    md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (size_t i = 0; i < lr.size(); ++i) {
      const LatencyResult& r = lr[i];
      const int w = r.worst_window();
      md << "| " << r.contender << " | " << Thousands(r.target_rate) << " | " << Thousands(r.achieved_rate)
         << " | " << Thousands(r.sent) << " | " << Thousands(r.received) << " | " << r.hook_events << " | "
         << Fixed(r.p50_ms, 1) << " | " << Fixed(r.p99_ms, 1) << " | " << Fixed(r.p999_ms, 1) << " | "
         << Fixed(r.max_ms, 1) << " | "
         << (w < 0 ? std::string("-") : absl::StrCat(w, ": ", Fixed(r.window_max_ms[static_cast<size_t>(w)], 0)))
         << " | " << (pause_ms[i] < 0 ? std::string("-") : Fixed(pause_ms[i], 3)) << " |\n";
    }
    md << "\n**p99 during hot swaps / steady p99" << (g_opt.latency_rounds > 1 ? " (median of the rounds)" : "")
       << ": iris " << Fixed(swap_ratio_iris, 2) << ", forest " << Fixed(swap_ratio_forest, 2)
       << "** (target <= 1.5: " << (swap_ratio_iris <= 1.5 && swap_ratio_forest <= 1.5 ? "PASS" : "FAIL")
       << ")." << (g_opt.latency_rounds > 1 ? " Per round: " + rounds_text + "." : "") << "\n\n";
    md << "The job's longest swap pause is what the job itself measured on its record path "
          "(evs_model_swap_pause_max_seconds, read at the end of each row): the time between two records "
          "spent taking the new model table. The worst 1 s window is the second of the paced phase (by "
          "send time) holding the largest latency.\n\n";
  }
  std::cout << md.str();
  std::cout << "RESULT iris_ratio=" << Fixed(ratio_iris, 3) << " forest_ratio=" << Fixed(ratio_forest, 3)
            << " verdict=" << (pass ? "PASS" : "FAIL") << " chain=" << static_cast<long>(chain_rate)
            << " iris=" << static_cast<long>(iris_rate) << " forest=" << static_cast<long>(forest_rate)
            << " chain_headers=" << static_cast<long>(chain_h_rate) << " iris_vs_headers=" << Fixed(ratio_h_iris, 3)
            << " forest_vs_headers=" << Fixed(ratio_h_forest, 3)
            << " swap_p99_ratio_iris=" << Fixed(swap_ratio_iris, 2)
            << " swap_p99_ratio_forest=" << Fixed(swap_ratio_forest, 2) << "\n";
  if (!g_opt.out.empty()) {
    std::ofstream out(g_opt.out);
    out << md.str();
    if (!out) Die("cannot write " + g_opt.out);
  }
  return all_ok ? 0 : 1;
}
