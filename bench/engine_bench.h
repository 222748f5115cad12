#pragma once

// The single-thread timing loop the engine benchmarks share (pmml_bench,
// spark_bench): warm-up, per-record latency percentiles (records timed one
// by one, or in batches of 64 when a record takes under 250 ns), then
// throughput per wall second and per second of process CPU time, printed as
// one tab-separated "result" line that the run scripts parse.
//
// A header template so that the per-record call inlines: an indirect call
// would add a few ns to records that take ~150 ns.

#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cli/score.h"

namespace evs::bench::engine {

using Clock = std::chrono::steady_clock;

// A bench's input or expected CSV: a header and rows of its width.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int Column(std::string_view name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  }
};

// Reads it with the project's CSV reader (cli::CsvReader, as `evserve score`
// does); blank lines are skipped, a row of another width is an error.
inline absl::StatusOr<Csv> ReadCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  cli::CsvReader reader(in);
  Csv csv;
  if (!reader.Next(&csv.header)) return absl::InvalidArgumentError(path + ": empty CSV");
  std::vector<std::string> row;
  while (reader.Next(&row)) {
    if (row.size() == 1 && row[0].empty() && csv.header.size() > 1) continue;  // blank line
    if (row.size() != csv.header.size())
      return absl::InvalidArgumentError(absl::StrCat(path, ": line ", reader.line(), " has ", row.size(),
                                                     " cells, header has ", csv.header.size()));
    csv.rows.push_back(row);
  }
  if (!reader.status().ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", reader.status().message()));
  return csv;
}

// A whole string as a double ("+1.5" too); false otherwise.
inline bool ParseNumber(std::string_view s, double* out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e;
}

// Results folded in here so that the compiler cannot drop the work.
inline volatile uint64_t g_sink = 0;

inline double Pct(const std::vector<double>& sorted, double q) {
  long i = static_cast<long>(std::ceil(q * sorted.size())) - 1;
  i = std::clamp(i, 0L, static_cast<long>(sorted.size()) - 1);
  return sorted[i];
}

inline double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

inline double Nanos(Clock::duration d) { return std::chrono::duration<double, std::nano>(d).count(); }

// Options: name, warmup_seconds, latency_records, throughput_seconds, batch
// (0 = auto). Runner: rows(), Consume() (a hash of the outputs), and `run`, a
// member returning a Status-like value with ok() for record k.
template <typename Options, typename Runner, typename RunFn>
void Measure(const Options& o, const std::string& mode, Runner& runner, RunFn run) {
  const size_t n = runner.rows();
  size_t k = 0;
  uint64_t h = 0;
  long errors = 0;
  auto one = [&] {
    if (!(runner.*run)(k).ok()) ++errors;
    h += runner.Consume();
    if (++k == n) k = 0;
  };
  // Warm-up: caches, branch predictors, allocator pools.
  const auto warm_end = Clock::now() + std::chrono::duration<double>(o.warmup_seconds);
  long warmed = 0;
  while (Clock::now() < warm_end || warmed < 20000) {
    for (int j = 0; j < 256; ++j) one();
    warmed += 256;
  }
  // Auto batch: records one by one unless a record takes under 250 ns, where
  // the two clock reads (~20-40 ns) would distort it; then batches of 64
  // (the percentiles are then of 64-record means). Decided on the first mode
  // and kept for the others, so the modes' percentiles are comparable.
  static int auto_batch = 0;
  int batch = o.batch > 0 ? o.batch : auto_batch;
  if (batch <= 0) {
    auto t0 = Clock::now();
    for (int j = 0; j < 10000; ++j) one();
    batch = Nanos(Clock::now() - t0) / 10000 < 250 ? 64 : 1;
    auto_batch = batch;
  }
  const long samples = std::max(1L, o.latency_records / batch);
  std::vector<double> lat(samples);
  for (long s = 0; s < samples; ++s) {
    auto t0 = Clock::now();
    for (int j = 0; j < batch; ++j) one();
    lat[s] = Nanos(Clock::now() - t0) / batch;
  }
  // Throughput: no per-record clock reads; the clock is checked every 1024.
  // Records per wall second, and per second of the process's CPU time (what
  // a shared machine's other work does not inflate much).
  long count = 0;
  const double cpu0 = ProcessCpuSeconds();
  const auto t0 = Clock::now();
  const auto t_end = t0 + std::chrono::duration<double>(o.throughput_seconds);
  Clock::time_point t1;
  do {
    for (int j = 0; j < 1024; ++j) one();
    count += 1024;
    t1 = Clock::now();
  } while (t1 < t_end);
  const double cpu = ProcessCpuSeconds() - cpu0;
  g_sink = g_sink + h;

  double sum = 0;
  for (double v : lat) sum += v;
  std::vector<double> sorted = lat;
  std::sort(sorted.begin(), sorted.end());
  const double tput = count / std::chrono::duration<double>(t1 - t0).count();
  std::printf(
      "result\ttool=evserve\tmodel=%s\tmode=%s\trows=%zu\tbatch=%d\tsamples=%ld\tp50_ns=%.1f\t"
      "p99_ns=%.1f\tmean_ns=%.1f\ttput_rps=%.0f\tcpu_rps=%.0f\terrors=%ld\n",
      o.name.c_str(), mode.c_str(), n, batch, samples, Pct(sorted, 0.50), Pct(sorted, 0.99),
      sum / samples, tput, count / cpu, errors);
  std::fflush(stdout);
}

}  // namespace evs::bench::engine
