#include "metrics/http_server.h"

#include <httplib.h>

#include <string>

#include "gtest/gtest.h"

namespace evs::metrics {
namespace {

TEST(HttpServerTest, ServesAllEndpointsOnEphemeralPort) {
  Registry registry;
  registry.GetCounter("evs_test_total", "Test counter.", {{"k", "v"}})->Inc(3);
  HttpServer server("127.0.0.1:0", &registry,
                    [] { return std::string(R"({"state":"running"})"); });
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.port(), 0);

  httplib::Client client("127.0.0.1", server.port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"),
            "text/plain; version=0.0.4");
  EXPECT_NE(metrics->body.find("evs_test_total{k=\"v\"} 3\n"),
            std::string::npos)
      << metrics->body;

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ready->body, "not ready");

  auto status = client.Get("/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(status->body, R"({"state":"running"})");

  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  server.Stop();
  server.Stop();  // Idempotent.
}

TEST(HttpServerTest, ReadinessFlips) {
  Registry registry;
  HttpServer server("127.0.0.1:0", &registry, nullptr);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());

  EXPECT_EQ(client.Get("/readyz")->status, 503);
  server.SetReady(true);
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready");
  server.SetReady(false);
  EXPECT_EQ(client.Get("/readyz")->status, 503);
  // A null status callback serves an empty object.
  EXPECT_EQ(client.Get("/status")->body, "{}");
}

TEST(HttpServerTest, PortInUseIsAnError) {
  Registry registry;
  HttpServer first("127.0.0.1:0", &registry, nullptr);
  ASSERT_TRUE(first.Start().ok());
  const std::string addr = "127.0.0.1:" + std::to_string(first.port());

  HttpServer second(addr, &registry, nullptr);
  absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find(addr), std::string::npos) << s;
  second.Stop();  // Safe on a server that never started.

  // The first server is unaffected.
  httplib::Client client("127.0.0.1", first.port());
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(HttpServerTest, BadListenAddress) {
  Registry registry;
  EXPECT_EQ(HttpServer("nocolon", &registry, nullptr).Start().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer("127.0.0.1:99999", &registry, nullptr).Start().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer("127.0.0.1:abc", &registry, nullptr).Start().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerTest, StartTwiceFailsAndRestartAfterStopWorks) {
  Registry registry;
  HttpServer server("127.0.0.1:0", &registry, nullptr);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kFailedPrecondition);
  server.Stop();
  EXPECT_EQ(server.port(), 0);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok");
}

TEST(HttpServerTest, ImmediateStopAndDestructorDoNotHang) {
  Registry registry;
  for (int i = 0; i < 20; ++i) {
    HttpServer server("127.0.0.1:0", &registry, nullptr);
    ASSERT_TRUE(server.Start().ok());
    if (i % 2 == 0) server.Stop();
    // Odd iterations rely on the destructor.
  }
}

}  // namespace
}  // namespace evs::metrics
