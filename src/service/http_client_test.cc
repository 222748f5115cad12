#include "service/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <algorithm>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace evs::service {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A local httplib server on 127.0.0.1 (any free port) on a thread of its
// own, with the handlers the tests need. It records what it saw (client
// ports, request headers) so the tests can check what was sent. /sleep
// holds a request until ?ms= (default 2000) passes or Release() is called,
// so the teardown never waits on a sleeping handler.
class TestServer {
 public:
  TestServer() {
    // Enough workers that keep-alive connections do not starve each other,
    // and connections that stay open for the whole test.
    server_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    server_.set_keep_alive_max_count(100000);
    server_.set_keep_alive_timeout(2);
    // Without this the server's split header/body writes meet delayed ACKs
    // (about 40 ms per keep-alive request).
    server_.set_tcp_nodelay(true);

    server_.Get("/echo-get", [this](const httplib::Request& req,
                                    httplib::Response& res) {
      Record(req);
      res.set_content("get:" + req.get_param_value("id"), "text/plain");
    });
    server_.Post("/echo", [this](const httplib::Request& req,
                                 httplib::Response& res) {
      Record(req);
      res.set_content(req.body, "application/octet-stream");
    });
    server_.Get(R"(/status/(\d+))", [this](const httplib::Request& req,
                                           httplib::Response& res) {
      Record(req);
      res.status = std::stoi(req.matches[1]);
      res.set_content("status " + std::string(req.matches[1]), "text/plain");
    });
    server_.Get("/sleep", [this](const httplib::Request& req,
                                 httplib::Response& res) {
      Record(req);
      std::unique_lock<std::mutex> lock(mu_);
      ++sleepers_;
      cv_.notify_all();
      int ms = req.has_param("ms") ? std::stoi(req.get_param_value("ms")) : 2000;
      cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return released_; });
      res.set_content("slept", "text/plain");
    });
    server_.Get("/big", [this](const httplib::Request& req,
                               httplib::Response& res) {
      Record(req);
      res.set_content(BigBody(), "application/octet-stream");
    });
    server_.Get("/huge", [this](const httplib::Request& req,
                                httplib::Response& res) {
      Record(req);
      // 64 MiB + 1 bytes, streamed so the server never holds it all.
      constexpr size_t kSize = (size_t{64} << 20) + 1;
      res.set_content_provider(
          kSize, "application/octet-stream",
          [](size_t offset, size_t length, httplib::DataSink& sink) {
            static const std::string chunk(1 << 16, 'x');
            return sink.write(chunk.data(), std::min(length, chunk.size()));
          });
    });

    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs.
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~TestServer() {
    Release();
    server_.stop();
    thread_.join();
  }

  static std::string BigBody() {
    std::string body(5 << 20, '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    return body;
  }

  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Waits (up to 5 s) until n requests are held in /sleep.
  bool WaitForSleepers(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5),
                        [&] { return sleepers_ >= n; });
  }

  std::set<int> client_ports() {
    std::lock_guard<std::mutex> lock(mu_);
    return client_ports_;
  }
  std::string last_header(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = last_headers_.find(name);
    return it == last_headers_.end() ? "<absent>" : it->second;
  }

 private:
  void Record(const httplib::Request& req) {
    std::lock_guard<std::mutex> lock(mu_);
    client_ports_.insert(req.remote_port);
    last_headers_ = req.headers;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;

  std::mutex mu_;
  std::condition_variable cv_;
  int sleepers_ = 0;
  bool released_ = false;
  std::set<int> client_ports_;
  httplib::Headers last_headers_;
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GT(server_.port(), 0); }

  // httplib listens with a backlog of 5, so a burst of new connections can
  // have SYNs dropped and retried after a second; the generous connect
  // timeout keeps such a burst from failing the test.
  HttpRequest Get(const std::string& path) {
    HttpRequest r;
    r.url = server_.Url(path);
    r.connect_timeout_ms = 10000;
    r.timeout_ms = 20000;
    return r;
  }
  HttpRequest Post(const std::string& path, std::string body) {
    HttpRequest r = Get(path);
    r.method = "POST";
    r.body = std::move(body);
    return r;
  }

  // Declared before the client: the client (and its connections) goes first,
  // so the server's keep-alive workers see EOF and stop promptly.
  TestServer server_;
  HttpClient client_;
};

// A loopback port with nothing listening: bound (so nobody else takes it)
// but not listening, so a connect is refused.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      socklen_t len = sizeof(addr);
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
      port_ = ntohs(addr.sin_port);
    }
  }
  ~RefusingPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(HttpClientTest, GetRoundTrip) {
  HttpResponse r = client_.Send(Get("/echo-get?id=7"));
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "get:7");
  EXPECT_TRUE(r.error.empty());
  EXPECT_GE(r.seconds, 0);
  EXPECT_EQ(client_.pending(), 0u);
}

TEST_F(HttpClientTest, PostRoundTripSendsJsonContentTypeAndNoExpect) {
  HttpResponse r = client_.Send(Post("/echo", R"({"instances":[[1,2]]})"));
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"instances":[[1,2]]})");
  EXPECT_EQ(server_.last_header("Content-Type"), "application/json");
  EXPECT_EQ(server_.last_header("Expect"), "<absent>");
}

TEST_F(HttpClientTest, PostKeepsGivenContentTypeAndHeaders) {
  HttpRequest req = Post("/echo", "a,b");
  req.headers = {"content-type: text/csv", "X-Request-Id: abc"};
  HttpResponse r = client_.Send(std::move(req));
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.body, "a,b");
  EXPECT_EQ(server_.last_header("Content-Type"), "text/csv");
  EXPECT_EQ(server_.last_header("X-Request-Id"), "abc");
}

TEST_F(HttpClientTest, LargePostBodyWithoutExpectContinue) {
  // Large enough that libcurl would otherwise send "Expect: 100-continue".
  std::string body(2 << 20, 'q');
  body[12345] = 'z';
  HttpResponse r = client_.Send(Post("/echo", body));
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(server_.last_header("Expect"), "<absent>");
}

TEST_F(HttpClientTest, EmptyPostBody) {
  HttpResponse r = client_.Send(Post("/echo", ""));
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
}

TEST_F(HttpClientTest, StatusCodesPassThroughAsTransportOk) {
  HttpResponse not_found = client_.Send(Get("/no/such/path"));
  ASSERT_TRUE(not_found.transport_ok) << not_found.error;
  EXPECT_EQ(not_found.status, 404);

  HttpResponse failed = client_.Send(Get("/status/500"));
  ASSERT_TRUE(failed.transport_ok) << failed.error;
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.body, "status 500");
  EXPECT_TRUE(failed.error.empty());

  HttpResponse unavailable = client_.Send(Get("/status/503"));
  ASSERT_TRUE(unavailable.transport_ok);
  EXPECT_EQ(unavailable.status, 503);
}

TEST_F(HttpClientTest, ConnectRefusedIsATransportError) {
  RefusingPort refusing;
  ASSERT_GT(refusing.port(), 0);
  HttpRequest req;
  req.method = "POST";
  req.url = "http://127.0.0.1:" + std::to_string(refusing.port()) +
            "/v2/models/x/infer";
  req.body = "{}";
  HttpResponse r = client_.Send(std::move(req));
  EXPECT_FALSE(r.transport_ok);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 0);
  // Names the request and the target, and says what went wrong.
  EXPECT_NE(r.error.find("POST http://127.0.0.1:" +
                         std::to_string(refusing.port()) + "/v2/models/x/infer: "),
            std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("Couldn't connect to server"), std::string::npos)
      << r.error;
  EXPECT_EQ(client_.pending(), 0u);
}

TEST_F(HttpClientTest, BadUrlAndMethodAreErrorsNotCrashes) {
  HttpRequest bad_scheme;
  bad_scheme.url = "ftp://127.0.0.1/x";
  HttpResponse r = client_.Send(bad_scheme);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_NE(r.error.find("ftp://127.0.0.1/x"), std::string::npos) << r.error;

  HttpRequest bad_method = Get("/echo-get");
  bad_method.method = "DELETE";
  r = client_.Send(bad_method);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_NE(r.error.find("unsupported method"), std::string::npos) << r.error;

  HttpRequest empty;
  r = client_.Send(empty);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_FALSE(r.error.empty());

  // The client still works afterwards.
  EXPECT_EQ(client_.Send(Get("/echo-get?id=1")).body, "get:1");
}

TEST_F(HttpClientTest, PerTryTimeout) {
  HttpRequest req = Get("/sleep");
  req.timeout_ms = 200;
  Clock::time_point start = Clock::now();
  HttpResponse r = client_.Send(std::move(req));
  double elapsed = SecondsSince(start);
  EXPECT_FALSE(r.transport_ok);
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.error.find("GET " + server_.Url("/sleep") + ": "), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
  // The server answers after 2 s; the client gave up well before.
  EXPECT_LT(elapsed, 1.5);
  // The timed-out connection is dropped; the next request still works.
  server_.Release();
  EXPECT_EQ(client_.Send(Get("/echo-get?id=2")).body, "get:2");
}

TEST_F(HttpClientTest, TimeoutCountsTheWaitForAConnection) {
  HttpClient::Options options;
  options.max_host_connections = 1;
  HttpClient client(options);
  std::promise<HttpResponse> slow_done;
  HttpRequest slow = Get("/sleep?ms=10000");
  slow.timeout_ms = 0;
  client.Submit(std::move(slow), [&](HttpResponse r) { slow_done.set_value(std::move(r)); });
  ASSERT_TRUE(server_.WaitForSleepers(1));

  // The only connection is busy; this request waits inside libcurl, which
  // does not time out waiting transfers itself.
  HttpRequest quick = Get("/echo-get?id=5");
  quick.timeout_ms = 200;
  Clock::time_point start = Clock::now();
  HttpResponse r = client.Send(std::move(quick));
  EXPECT_LT(SecondsSince(start), 5.0);  // not the server's 10 s
  EXPECT_FALSE(r.transport_ok);
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.error.find("timed out after 200 ms"), std::string::npos) << r.error;

  server_.Release();
  auto slow_result = slow_done.get_future();
  ASSERT_EQ(slow_result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  HttpResponse s = slow_result.get();
  ASSERT_TRUE(s.transport_ok) << s.error;
  EXPECT_EQ(s.body, "slept");
  EXPECT_EQ(client.Send(Get("/echo-get?id=6")).body, "get:6");
}

TEST_F(HttpClientTest, ManyConcurrentRequestsMatchTheirResponses) {
  constexpr int kRequests = 200;
  HttpClient::Options options;
  options.max_connections = 16;
  HttpClient client(options);
  std::mutex mu;
  std::condition_variable cv;
  int completed = 0;
  std::vector<HttpResponse> responses(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    HttpRequest req = i % 2 == 0
                          ? Get("/echo-get?id=" + std::to_string(i))
                          : Post("/echo", "body-" + std::to_string(i));
    client.Submit(std::move(req), [&, i](HttpResponse r) {
      std::lock_guard<std::mutex> lock(mu);
      responses[i] = std::move(r);
      ++completed;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return completed == kRequests; }))
        << completed << " of " << kRequests << " completed";
  }
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(responses[i].transport_ok) << i << ": " << responses[i].error;
    EXPECT_EQ(responses[i].status, 200);
    EXPECT_EQ(responses[i].body, i % 2 == 0 ? "get:" + std::to_string(i)
                                            : "body-" + std::to_string(i));
  }
  EXPECT_EQ(client.pending(), 0u);
  // Connections are bounded by max_connections and reused.
  EXPECT_LE(server_.client_ports().size(), 16u);
}

TEST_F(HttpClientTest, SequentialRequestsReuseTheConnection) {
  for (int i = 0; i < 100; ++i) {
    HttpResponse r = client_.Send(Get("/echo-get?id=" + std::to_string(i)));
    ASSERT_TRUE(r.transport_ok) << r.error;
    ASSERT_EQ(r.body, "get:" + std::to_string(i));
  }
  EXPECT_LE(server_.client_ports().size(), 2u);
}

TEST_F(HttpClientTest, MaxHostConnectionsBoundsConnections) {
  HttpClient::Options options;
  options.max_host_connections = 2;
  HttpClient limited(options);
  std::atomic<int> completed{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < 40; ++i) {
    limited.Submit(Get("/echo-get?id=" + std::to_string(i)), [&](HttpResponse r) {
      if (r.transport_ok && r.status == 200) ok.fetch_add(1);
      completed.fetch_add(1);
    });
  }
  Clock::time_point start = Clock::now();
  while (completed.load() < 40 && SecondsSince(start) < 30) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(ok.load(), 40);
  EXPECT_LE(server_.client_ports().size(), 2u);
}

TEST_F(HttpClientTest, SendFromManyThreads) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = std::to_string(t * 1000 + i);
        HttpResponse r = t % 2 == 0 ? client_.Send(Get("/echo-get?id=" + id))
                                    : client_.Send(Post("/echo", "p" + id));
        std::string want = t % 2 == 0 ? "get:" + id : "p" + id;
        if (!r.transport_ok || r.status != 200 || r.body != want) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(client_.pending(), 0u);
}

TEST_F(HttpClientTest, LargeResponseBody) {
  HttpResponse r = client_.Send(Get("/big"));
  ASSERT_TRUE(r.transport_ok) << r.error;
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), size_t{5} << 20);
  EXPECT_TRUE(r.body == TestServer::BigBody());
}

TEST_F(HttpClientTest, ResponseOver64MiBFailsTheTry) {
  HttpResponse r = client_.Send(Get("/huge"));
  EXPECT_FALSE(r.transport_ok);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.body.empty());
  EXPECT_NE(r.error.find("response larger than 64 MiB"), std::string::npos)
      << r.error;
  EXPECT_EQ(client_.Send(Get("/echo-get?id=3")).body, "get:3");
}

TEST_F(HttpClientTest, ThrowingCallbackDoesNotBreakTheClient) {
  std::atomic<int> ran{0};
  client_.Submit(Get("/echo-get?id=1"), [&](HttpResponse) {
    ran.fetch_add(1);
    throw std::runtime_error("callback failure");
  });
  client_.Submit(Get("/echo-get?id=2"), [&](HttpResponse) {
    ran.fetch_add(1);
    throw 42;
  });
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = client_.Send(Get("/echo-get?id=" + std::to_string(i)));
    ASSERT_TRUE(r.transport_ok) << r.error;
    EXPECT_EQ(r.body, "get:" + std::to_string(i));
  }
  Clock::time_point start = Clock::now();
  while (ran.load() < 2 && SecondsSince(start) < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(client_.pending(), 0u);
}

TEST_F(HttpClientTest, CallbackMaySubmitButNotSend) {
  std::promise<HttpResponse> chained;
  std::promise<HttpResponse> nested_send;
  client_.Submit(Get("/echo-get?id=1"), [&](HttpResponse first) {
    // Send from the client thread would wait on itself: refused, not hung.
    nested_send.set_value(client_.Send(Get("/echo-get?id=9")));
    client_.Submit(Get("/echo-get?id=2"), [&](HttpResponse second) {
      chained.set_value(std::move(second));
    });
  });
  auto nested = nested_send.get_future();
  auto second = chained.get_future();
  ASSERT_EQ(nested.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(second.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  HttpResponse n = nested.get();
  EXPECT_FALSE(n.transport_ok);
  EXPECT_NE(n.error.find("callback"), std::string::npos) << n.error;
  HttpResponse s = second.get();
  ASSERT_TRUE(s.transport_ok) << s.error;
  EXPECT_EQ(s.body, "get:2");
}

TEST_F(HttpClientTest, PendingCountsSubmittedNotCompleted) {
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i) {
    client_.Submit(Get("/sleep"), [&](HttpResponse) { done.fetch_add(1); });
  }
  ASSERT_TRUE(server_.WaitForSleepers(3));
  EXPECT_EQ(client_.pending(), 3u);
  server_.Release();
  Clock::time_point start = Clock::now();
  while (done.load() < 3 && SecondsSince(start) < 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(client_.pending(), 0u);
}

TEST_F(HttpClientTest, DestructorCompletesRequestsInFlight) {
  constexpr int kInFlight = 4;
  constexpr int kQueued = 20;
  std::mutex mu;
  std::vector<HttpResponse> responses;
  auto record = [&](HttpResponse r) {
    std::lock_guard<std::mutex> lock(mu);
    responses.push_back(std::move(r));
  };
  Clock::time_point start;
  {
    HttpClient::Options options;
    options.max_host_connections = kInFlight;  // the rest wait inside libcurl
    HttpClient client(options);
    for (int i = 0; i < kInFlight + kQueued; ++i) {
      HttpRequest req = Get("/sleep?ms=10000");
      req.timeout_ms = 0;  // no limit: only the shutdown ends them
      client.Submit(std::move(req), record);
    }
    ASSERT_TRUE(server_.WaitForSleepers(kInFlight));
    EXPECT_EQ(client.pending(), size_t{kInFlight + kQueued});
    start = Clock::now();
  }
  EXPECT_LT(SecondsSince(start), 5.0);  // did not wait for the server's 10 s
  ASSERT_EQ(responses.size(), size_t{kInFlight + kQueued});
  for (const HttpResponse& r : responses) {
    EXPECT_FALSE(r.transport_ok);
    EXPECT_FALSE(r.timed_out);
    EXPECT_NE(r.error.find("client shut down"), std::string::npos) << r.error;
  }
}

TEST_F(HttpClientTest, DestructorWithQueuedRequestsDoesNotHang) {
  std::atomic<int> shut_down{0};
  {
    HttpClient client;
    for (int i = 0; i < 50; ++i) {
      client.Submit(Post("/echo", "x"), [&](HttpResponse r) {
        if (r.transport_ok || r.error.find("client shut down") != std::string::npos) {
          shut_down.fetch_add(1);
        }
      });
    }
  }
  // Every callback ran exactly once: either completed or shut down.
  EXPECT_EQ(shut_down.load(), 50);
}

TEST(HttpClientStandalone, ConstructAndDestroyIdle) {
  for (int i = 0; i < 20; ++i) {
    HttpClient client;
    EXPECT_EQ(client.pending(), 0u);
  }
}

}  // namespace
}  // namespace evs::service
