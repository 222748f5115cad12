#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "metrics/registry.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace evs::metrics {

// Per-module admin endpoint serving, on its own thread:
//   GET /metrics  registry->Render(), text/plain; version=0.0.4
//   GET /healthz  200 "ok"
//   GET /readyz   200 "ready" or 503 "not ready" (see SetReady)
//   GET /status   application/json from the status_json callback
// Start()/Stop() must not race each other; SetReady() and port() are
// thread-safe. `registry` must outlive the server; `status_json` is called
// from server threads and must be thread-safe.
class HttpServer {
 public:
  // `listen` is "host:port" ("[::1]:port" for IPv6); port 0 picks a free port.
  HttpServer(std::string listen, Registry* registry,
             std::function<std::string()> status_json);
  ~HttpServer();  // Calls Stop().
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. InvalidArgument for a malformed `listen`,
  // Unavailable if the address cannot be bound (e.g. port taken),
  // FailedPrecondition if already started. Returns once requests are served.
  absl::Status Start();
  // Stops serving and joins the thread. Idempotent.
  void Stop();

  // Bound port once Start() succeeded; 0 before.
  int port() const { return port_.load(); }
  // Initially not ready.
  void SetReady(bool ready) { ready_.store(ready); }
  // An extra condition for /readyz (ready = SetReady(true) and check()).
  // Set before Start(); `check` is called from server threads.
  void SetReadyCheck(std::function<bool()> check) { ready_check_ = std::move(check); }

 private:
  std::string listen_;
  Registry* registry_;
  std::function<std::string()> status_json_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> thread_exited_{false};  // Set by thread_ on return.
  std::atomic<int> port_{0};
  std::atomic<bool> ready_{false};
  std::function<bool()> ready_check_;
};

}  // namespace evs::metrics
