#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace evs::metrics {

// Label set of one series: (name, value) pairs. Order does not matter; the
// registry canonicalizes by sorting on label name.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Upper bounds in seconds, 0.0001 .. 10, roughly x2.5 steps.
std::vector<double> DefaultLatencyBuckets();

// Monotonic counter. Lock-free; safe from any thread.
class Counter {
 public:
  // Negative or NaN increments are ignored (counters never go down).
  void Inc(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Value that can go up and down. Lock-free; safe from any thread.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Distribution over fixed buckets (chosen at creation). Observe() is
// lock-free and safe from any thread.
class Histogram {
 public:
  // `bounds` are upper bounds (le); they are sorted, de-duplicated, and NaN /
  // +Inf entries dropped (+Inf is always implicit).
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts, one per bound plus a final +Inf entry. Each entry is
  // read atomically, but the set is not a consistent snapshot under writes.
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  // Non-cumulative: counts_[i] holds observations in (bounds_[i-1],
  // bounds_[i]]; the last slot is the +Inf bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Owns metric families and renders them in Prometheus text format 0.0.4.
// All methods are thread-safe. Metric objects live as long as the registry.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns a pointer stable for the registry's lifetime; the same (name,
  // labels) returns the same object. Takes a mutex: hot paths should cache
  // the pointer. Invalid characters in metric / label names are replaced by
  // '_'. `help` of the first registration of a name wins. Requesting a name
  // already registered with another type is a programming error: it asserts
  // in debug builds and otherwise returns a working but unexported metric.
  Counter* GetCounter(const std::string& name, const std::string& help,
                      const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help,
                  const Labels& labels = {});
  // `buckets` only apply when the series is created; an existing series keeps
  // its buckets. A label named "le" is reserved and gets renamed to "le_".
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const Labels& labels = {},
                          std::vector<double> buckets = DefaultLatencyBuckets());

  // Runs the collectors, then renders every family (sorted by name; series
  // sorted by labels): one # HELP and # TYPE per family, label values escaped,
  // histograms as cumulative _bucket{le=...} with +Inf, _sum and _count.
  std::string Render() const;

  // Adds a callback run at the start of every Render() (e.g. to refresh a lag
  // gauge). Collectors run without the registry lock held, so they may call
  // Get*(); runs are serialized, so collectors need not be reentrant. A
  // collector must not call Render() or AddCollector().
  void AddCollector(std::function<void()> fn);

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family;

  // Finds or creates the family and series; returns the series slot. Returns
  // nullptr when `name` exists with a different type. Requires mu_.
  Family* FindOrCreateFamily(const std::string& name, const std::string& help,
                             Type type);

  mutable std::mutex mu_;  // Guards families_ and orphans_.
  std::map<std::string, std::unique_ptr<Family>> families_;
  // Metrics handed out on type conflicts; kept alive but never rendered.
  std::vector<std::shared_ptr<void>> orphans_;

  mutable std::mutex collectors_mu_;  // Guards collectors_.
  std::vector<std::function<void()>> collectors_;
  mutable std::mutex collect_run_mu_;  // Serializes collector runs.
};

// Adds a collector refreshing process_resident_memory_bytes,
// process_cpu_seconds_total and process_start_time_seconds from /proc/self.
// Linux only; missing /proc leaves the values at 0.
void RegisterProcessMetrics(Registry* registry);

// Exposed for tests: formats a sample value the way Prometheus expects
// (shortest round-trip decimal, "+Inf", "-Inf", "NaN").
std::string FormatValue(double v);
// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabelValue(const std::string& v);

}  // namespace evs::metrics
