#include "metrics/registry.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "fmt/format.h"

namespace evs::metrics {
namespace {

bool IsNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
    return true;
  }
  if (allow_colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

// Replaces characters outside [a-zA-Z_(:)][a-zA-Z0-9_(:)]* with '_'.
std::string SanitizeName(const std::string& name, bool allow_colon) {
  if (name.empty()) return "_";
  std::string out = name;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!IsNameChar(out[i], i == 0, allow_colon)) out[i] = '_';
  }
  return out;
}

// Sanitized label names, sorted by name; duplicates keep the first value.
Labels CanonicalLabels(const Labels& labels, bool histogram) {
  Labels out;
  out.reserve(labels.size());
  for (const auto& [k, v] : labels) {
    std::string name = SanitizeName(k, /*allow_colon=*/false);
    if (histogram && name == "le") name = "le_";
    out.emplace_back(std::move(name), v);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first < b.first;
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto& a, const auto& b) {
                          return a.first == b.first;
                        }),
            out.end());
  return out;
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Appends `{k="v",...}` (or nothing for an empty set without extra label).
void AppendLabels(std::string* out, const Labels& labels,
                  const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, k, "=\"", EscapeLabelValue(v), "\"");
  }
  if (le != nullptr) {
    if (!first) out->push_back(',');
    absl::StrAppend(out, "le=\"", *le, "\"");
  }
  out->push_back('}');
}

const char* TypeName(int type) {
  switch (type) {
    case 0:
      return "counter";
    case 1:
      return "gauge";
    default:
      return "histogram";
  }
}

}  // namespace

std::vector<double> DefaultLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,     10};
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void Counter::Inc(double v) {
  if (!(v >= 0)) return;  // Also rejects NaN.
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Gauge::Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  bounds_.erase(std::remove_if(bounds_.begin(), bounds_.end(),
                               [](double b) {
                                 return std::isnan(b) ||
                                        (std::isinf(b) && b > 0);
                               }),
                bounds_.end());
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  // First bound >= v (le semantics); NaN lands in +Inf.
  size_t idx = std::isnan(v) ? bounds_.size()
                             : static_cast<size_t>(
                                   std::lower_bound(bounds_.begin(),
                                                    bounds_.end(), v) -
                                   bounds_.begin());
  counts_[idx].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

uint64_t Histogram::count() const { return CumulativeCounts().back(); }

struct Registry::Family {
  std::string help;
  Type type;
  // Exactly one of the maps is used, according to `type`.
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family* Registry::FindOrCreateFamily(const std::string& name,
                                               const std::string& help,
                                               Type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>();
    family->help = help;
    family->type = type;
    it = families_.emplace(name, std::move(family)).first;
  }
  if (it->second->type != type) {
    std::fprintf(stderr,
                 "evs::metrics: metric '%s' already registered as %s, "
                 "requested as %s; returning an unexported metric\n",
                 name.c_str(), TypeName(static_cast<int>(it->second->type)),
                 TypeName(static_cast<int>(type)));
    assert(false && "metric registered twice with different types");
    return nullptr;
  }
  return it->second.get();
}

Counter* Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::string n = SanitizeName(name, /*allow_colon=*/true);
  Labels l = CanonicalLabels(labels, /*histogram=*/false);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = FindOrCreateFamily(n, help, Type::kCounter);
  if (f == nullptr) {
    auto orphan = std::make_shared<Counter>();
    orphans_.push_back(orphan);
    return orphan.get();
  }
  auto& slot = f->counters[std::move(l)];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Registry::GetGauge(const std::string& name, const std::string& help,
                          const Labels& labels) {
  std::string n = SanitizeName(name, /*allow_colon=*/true);
  Labels l = CanonicalLabels(labels, /*histogram=*/false);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = FindOrCreateFamily(n, help, Type::kGauge);
  if (f == nullptr) {
    auto orphan = std::make_shared<Gauge>();
    orphans_.push_back(orphan);
    return orphan.get();
  }
  auto& slot = f->gauges[std::move(l)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Registry::GetHistogram(const std::string& name,
                                  const std::string& help, const Labels& labels,
                                  std::vector<double> buckets) {
  std::string n = SanitizeName(name, /*allow_colon=*/true);
  Labels l = CanonicalLabels(labels, /*histogram=*/true);
  std::lock_guard<std::mutex> lock(mu_);
  Family* f = FindOrCreateFamily(n, help, Type::kHistogram);
  if (f == nullptr) {
    auto orphan = std::make_shared<Histogram>(std::move(buckets));
    orphans_.push_back(orphan);
    return orphan.get();
  }
  auto& slot = f->histograms[std::move(l)];
  if (!slot) slot = std::make_unique<Histogram>(std::move(buckets));
  return slot.get();
}

void Registry::AddCollector(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(collectors_mu_);
  collectors_.push_back(std::move(fn));
}

std::string Registry::Render() const {
  {
    std::vector<std::function<void()>> collectors;
    {
      std::lock_guard<std::mutex> lock(collectors_mu_);
      collectors = collectors_;
    }
    std::lock_guard<std::mutex> run_lock(collect_run_mu_);
    for (const auto& fn : collectors) fn();
  }

  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family->help), "\n",
                    "# TYPE ", name, " ",
                    TypeName(static_cast<int>(family->type)), "\n");
    switch (family->type) {
      case Type::kCounter:
        for (const auto& [labels, c] : family->counters) {
          out += name;
          AppendLabels(&out, labels);
          absl::StrAppend(&out, " ", FormatValue(c->value()), "\n");
        }
        break;
      case Type::kGauge:
        for (const auto& [labels, g] : family->gauges) {
          out += name;
          AppendLabels(&out, labels);
          absl::StrAppend(&out, " ", FormatValue(g->value()), "\n");
        }
        break;
      case Type::kHistogram:
        for (const auto& [labels, h] : family->histograms) {
          // Sum is read before the counts so a concurrent Observe() can only
          // make the count look newer than the sum, never the reverse.
          double sum = h->sum();
          std::vector<uint64_t> cumulative = h->CumulativeCounts();
          const std::vector<double>& bounds = h->bounds();
          for (size_t i = 0; i <= bounds.size(); ++i) {
            std::string le =
                i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
            absl::StrAppend(&out, name, "_bucket");
            AppendLabels(&out, labels, &le);
            absl::StrAppend(&out, " ", cumulative[i], "\n");
          }
          absl::StrAppend(&out, name, "_sum");
          AppendLabels(&out, labels);
          absl::StrAppend(&out, " ", FormatValue(sum), "\n");
          absl::StrAppend(&out, name, "_count");
          AppendLabels(&out, labels);
          absl::StrAppend(&out, " ", cumulative.back(), "\n");
        }
        break;
    }
  }
  return out;
}

namespace {

// Reads the whole file; empty on failure.
std::string ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return "";
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// Fields of /proc/self/stat after the ")" that closes the command name, so
// index 0 is field 3 ("state") of proc(5).
std::vector<std::string> ProcStatFields() {
  std::string stat = ReadFile("/proc/self/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> fields;
  std::string f;
  while (in >> f) fields.push_back(f);
  return fields;
}

// Boot time (seconds since epoch) from the btime line of /proc/stat.
double BootTimeSeconds() {
  std::istringstream in(ReadFile("/proc/stat"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

}  // namespace

void RegisterProcessMetrics(Registry* registry) {
  Gauge* rss = registry->GetGauge("process_resident_memory_bytes",
                                  "Resident memory size in bytes.");
  Counter* cpu = registry->GetCounter(
      "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
  Gauge* start = registry->GetGauge(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.");

  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  // proc(5): utime is field 14, stime 15, starttime 22 (1-based); our vector
  // starts at field 3.
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kStartTime = 22 - 3;

  std::vector<std::string> fields = ProcStatFields();
  if (fields.size() > kStartTime && ticks > 0) {
    start->Set(BootTimeSeconds() +
               std::strtod(fields[kStartTime].c_str(), nullptr) / ticks);
  }

  registry->AddCollector([rss, cpu, ticks, page_size] {
    std::vector<std::string> stat = ProcStatFields();
    if (stat.size() > kStime && ticks > 0) {
      double cpu_now = (std::strtod(stat[kUtime].c_str(), nullptr) +
                        std::strtod(stat[kStime].c_str(), nullptr)) /
                       ticks;
      // Counter only goes up: add the delta since the last collection.
      double delta = cpu_now - cpu->value();
      if (delta > 0) cpu->Inc(delta);
    }
    std::istringstream statm(ReadFile("/proc/self/statm"));
    double size_pages = 0, resident_pages = 0;
    if (statm >> size_pages >> resident_pages) {
      rss->Set(resident_pages * page_size);
    }
  });
}

}  // namespace evs::metrics
