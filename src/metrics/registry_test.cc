#include "metrics/registry.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace evs::metrics {
namespace {

TEST(RegistryTest, CounterWithLabelsRendersExactly) {
  Registry r;
  Counter* c = r.GetCounter("evs_events_total", "Events seen.",
                            {{"topic", "orders"}, {"adapter", "http"}});
  c->Inc();
  c->Inc(2.5);
  r.GetCounter("evs_events_total", "ignored", {{"adapter", "grpc"}})->Inc(7);
  EXPECT_EQ(r.Render(),
            "# HELP evs_events_total Events seen.\n"
            "# TYPE evs_events_total counter\n"
            "evs_events_total{adapter=\"grpc\"} 7\n"
            "evs_events_total{adapter=\"http\",topic=\"orders\"} 3.5\n");
}

TEST(RegistryTest, SameNameAndLabelsReturnSameObject) {
  Registry r;
  Counter* a = r.GetCounter("x_total", "h", {{"a", "1"}, {"b", "2"}});
  Counter* b = r.GetCounter("x_total", "h", {{"b", "2"}, {"a", "1"}});
  Counter* c = r.GetCounter("x_total", "h", {{"a", "1"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(r.GetGauge("g", "h"), r.GetGauge("g", "h"));
  EXPECT_EQ(r.GetHistogram("h", "h"), r.GetHistogram("h", "h"));
}

TEST(RegistryTest, TypeConflictIsAProgrammingError) {
  Registry r;
  r.GetCounter("dup", "h")->Inc();
#ifdef NDEBUG
  // Release builds hand out a working metric that is never exported.
  Gauge* g = r.GetGauge("dup", "h");
  g->Set(5);
  EXPECT_EQ(g->value(), 5);
  EXPECT_EQ(r.Render().find("gauge"), std::string::npos);
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(r.GetGauge("dup", "h"), "already registered as counter");
#endif
}

TEST(RegistryTest, CounterIgnoresNegativeIncrements) {
  Registry r;
  Counter* c = r.GetCounter("c_total", "h");
  c->Inc(3);
  c->Inc(-1);
  EXPECT_EQ(c->value(), 3);
}

TEST(RegistryTest, GaugeSetAndAdd) {
  Registry r;
  Gauge* g = r.GetGauge("evs_lag", "Consumer lag.");
  g->Set(10);
  g->Add(-2.5);
  EXPECT_EQ(g->value(), 7.5);
  EXPECT_EQ(r.Render(),
            "# HELP evs_lag Consumer lag.\n"
            "# TYPE evs_lag gauge\n"
            "evs_lag 7.5\n");
}

TEST(RegistryTest, HistogramBucketsAreCumulative) {
  Registry r;
  Histogram* h =
      r.GetHistogram("evs_latency_seconds", "Latency.", {{"route", "a"}},
                     {1, 0.5, 0.1, 1});  // Unsorted with duplicate.
  h->Observe(0.05);
  h->Observe(0.1);  // le is inclusive.
  h->Observe(0.3);
  h->Observe(2);
  EXPECT_EQ(r.Render(),
            "# HELP evs_latency_seconds Latency.\n"
            "# TYPE evs_latency_seconds histogram\n"
            "evs_latency_seconds_bucket{route=\"a\",le=\"0.1\"} 2\n"
            "evs_latency_seconds_bucket{route=\"a\",le=\"0.5\"} 3\n"
            "evs_latency_seconds_bucket{route=\"a\",le=\"1\"} 3\n"
            "evs_latency_seconds_bucket{route=\"a\",le=\"+Inf\"} 4\n"
            "evs_latency_seconds_sum{route=\"a\"} 2.45\n"
            "evs_latency_seconds_count{route=\"a\"} 4\n");
  EXPECT_EQ(h->count(), 4u);
}

TEST(RegistryTest, HistogramWithoutLabels) {
  Registry r;
  r.GetHistogram("h_seconds", "H.", {}, {0.25})->Observe(0.2);
  EXPECT_EQ(r.Render(),
            "# HELP h_seconds H.\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.25\"} 1\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 0.2\n"
            "h_seconds_count 1\n");
}

TEST(RegistryTest, DefaultBucketsAreIncreasingFromTenthMsToTenSeconds) {
  std::vector<double> b = DefaultLatencyBuckets();
  ASSERT_GE(b.size(), 10u);
  EXPECT_DOUBLE_EQ(b.front(), 0.0001);
  EXPECT_DOUBLE_EQ(b.back(), 10);
  for (size_t i = 1; i < b.size(); ++i) {
    EXPECT_GT(b[i] / b[i - 1], 1.9) << i;
    EXPECT_LT(b[i] / b[i - 1], 2.6) << i;
  }
  Registry r;
  r.GetHistogram("d_seconds", "D.")->Observe(0.003);
  std::string out = r.Render();
  EXPECT_NE(out.find("d_seconds_bucket{le=\"0.0001\"} 0\n"), std::string::npos);
  EXPECT_NE(out.find("d_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("d_seconds_bucket{le=\"10\"} 1\n"), std::string::npos);
}

TEST(RegistryTest, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.GetGauge("esc", "Line1\nback\\slash \"q\"",
             {{"v", "a\\b\"c\nd"}})->Set(1);
  EXPECT_EQ(r.Render(),
            "# HELP esc Line1\\nback\\\\slash \"q\"\n"
            "# TYPE esc gauge\n"
            "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(RegistryTest, InvalidNamesAreSanitized) {
  Registry r;
  r.GetCounter("evs-bad.name", "h", {{"9bad-label", "x"}})->Inc();
  r.GetHistogram("hh", "h", {{"le", "x"}}, {1});
  std::string out = r.Render();
  EXPECT_NE(out.find("evs_bad_name{_bad_label=\"x\"} 1\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("hh_bucket{le_=\"x\",le=\"1\"} 0\n"), std::string::npos)
      << out;
}

TEST(RegistryTest, FormatValue) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(FormatValue(123456789.0), "123456789");
}

TEST(RegistryTest, FamiliesRenderSortedWithOneHeaderEach) {
  Registry r;
  r.GetGauge("b", "B.", {{"k", "2"}})->Set(2);
  r.GetGauge("b", "B.", {{"k", "1"}})->Set(1);
  r.GetCounter("a_total", "A.")->Inc();
  EXPECT_EQ(r.Render(),
            "# HELP a_total A.\n"
            "# TYPE a_total counter\n"
            "a_total 1\n"
            "# HELP b B.\n"
            "# TYPE b gauge\n"
            "b{k=\"1\"} 1\n"
            "b{k=\"2\"} 2\n");
}

TEST(RegistryTest, ConcurrentIncrementsAreExact) {
  Registry r;
  constexpr int kThreads = 8;
  constexpr int kIncs = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r] {
      // Each thread looks the metrics up itself to exercise the registry lock.
      Counter* c = r.GetCounter("conc_total", "h", {{"k", "v"}});
      Histogram* h = r.GetHistogram("conc_seconds", "h", {}, {0.5});
      Gauge* g = r.GetGauge("conc_gauge", "h");
      for (int i = 0; i < kIncs; ++i) {
        c->Inc();
        h->Observe(i % 2 == 0 ? 0.1 : 1.0);
        g->Add(1);
      }
    });
  }
  // Render concurrently with writers; must not crash or deadlock.
  for (int i = 0; i < 20; ++i) r.Render();
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.GetCounter("conc_total", "h", {{"k", "v"}})->value(),
            kThreads * kIncs);
  EXPECT_EQ(r.GetGauge("conc_gauge", "h")->value(), kThreads * kIncs);
  Histogram* h = r.GetHistogram("conc_seconds", "h");
  EXPECT_EQ(h->count(), static_cast<uint64_t>(kThreads) * kIncs);
  EXPECT_EQ(h->CumulativeCounts()[0], static_cast<uint64_t>(kThreads) * kIncs / 2);
}

TEST(RegistryTest, CollectorsRunAtRenderTime) {
  Registry r;
  int runs = 0;
  r.AddCollector([&r, &runs] {
    ++runs;
    // Collectors may register and update metrics.
    r.GetGauge("lag", "Lag.", {{"partition", "0"}})->Set(runs * 10);
  });
  EXPECT_NE(r.Render().find("lag{partition=\"0\"} 10\n"), std::string::npos);
  EXPECT_NE(r.Render().find("lag{partition=\"0\"} 20\n"), std::string::npos);
  EXPECT_EQ(runs, 2);
}

TEST(RegistryTest, ProcessMetrics) {
  Registry r;
  RegisterProcessMetrics(&r);
  volatile double sink = 0;
  for (int i = 0; i < 2000000; ++i) sink = sink + i;  // Burn a little CPU.
  std::string out = r.Render();
  EXPECT_NE(out.find("# TYPE process_cpu_seconds_total counter\n"),
            std::string::npos);
  EXPECT_NE(out.find("# TYPE process_resident_memory_bytes gauge\n"),
            std::string::npos);
  EXPECT_NE(out.find("# TYPE process_start_time_seconds gauge\n"),
            std::string::npos);
  EXPECT_GT(r.GetGauge("process_resident_memory_bytes", "")->value(), 1e5);
  double start = r.GetGauge("process_start_time_seconds", "")->value();
  double now = static_cast<double>(time(nullptr));
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
  double cpu = r.GetCounter("process_cpu_seconds_total", "")->value();
  EXPECT_GE(cpu, 0);
  r.Render();
  EXPECT_GE(r.GetCounter("process_cpu_seconds_total", "")->value(), cpu);
}

}  // namespace
}  // namespace evs::metrics
