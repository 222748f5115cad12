#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace evs::service {

// One HTTP exchange. Timeouts in milliseconds; 0 means "no limit" for
// timeout_ms and libcurl's default for connect_timeout_ms.
struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;             // http://host:port/path
  std::string body;            // POST body (sent as-is)
  std::vector<std::string> headers;  // "Name: value"; POST adds Content-Type: application/json unless given
  int connect_timeout_ms = 1000;
  int timeout_ms = 5000;       // the whole exchange (one try), including any wait for a free connection
};

// The outcome of one try. transport_ok is true when an HTTP status was read
// (any status, 500 included) and false otherwise (connect refused, timeout,
// reset, DNS, a response body over 64 MiB...); `error` then says why in
// words, naming the request and libcurl's reason ("POST
// http://127.0.0.1:9/v2/models/m/infer: Failed to connect to 127.0.0.1 port 9
// after 0 ms: Couldn't connect to server"), and timed_out tells a timeout
// (connect or whole exchange) from other transport errors.
struct HttpResponse {
  bool transport_ok = false;
  bool timed_out = false;
  int status = 0;            // HTTP status when transport_ok
  std::string body;
  std::string error;
  double seconds = 0;        // wall time of the exchange
};

// An asynchronous HTTP/1.1 client over one libcurl multi handle, driven by a
// thread of its own (started in the constructor, joined in the destructor;
// pending requests are completed with transport_ok=false, error "client
// shut down"). Connections are kept alive and reused per host (the multi
// handle's connection cache, max_connections in total). Submit is
// thread-safe and never blocks on I/O; `done` runs on the client thread, so
// it must be short and must not call Submit's blocking sibling Send.
class HttpClient {
 public:
  struct Options {
    int max_connections = 64;     // connection cache size and max total connections
    int max_host_connections = 0; // 0: no per-host limit
  };
  HttpClient();
  explicit HttpClient(Options options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using Callback = std::function<void(HttpResponse)>;
  void Submit(HttpRequest request, Callback done);
  // Blocking convenience (metadata, readiness probes, tests): Submit and wait.
  // Must not be called from a callback.
  HttpResponse Send(HttpRequest request);
  // Requests submitted and not yet completed.
  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<size_t> pending_{0};
};

}  // namespace evs::service
