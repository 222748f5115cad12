#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace evs::e2e {

// An HTTP proxy on 127.0.0.1 in front of a real model server, for fault
// tests: it passes requests through, or delays them, or answers POSTs with a
// 500, malformed JSON or a wrongly shaped v2 tensor instead of forwarding.
// GETs (readiness, metadata) are always forwarded (after the delay, if any).
class FaultProxy {
 public:
  enum class Mode { kPass, kDelay, kStatus500, kMalformed, kWrongShape };
  explicit FaultProxy(int backend_port);
  ~FaultProxy();
  int port() const { return port_; }
  void Set(Mode mode, int delay_ms = 0) {
    delay_ms_.store(delay_ms);
    mode_.store(mode);
  }
  int posts() const { return posts_.load(); }  // POSTs received
  void ResetCounts() { posts_.store(0); }

 private:
  bool Sleep(int ms);  // false when stopping
  int backend_port_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<Mode> mode_{Mode::kPass};
  std::atomic<int> delay_ms_{0};
  std::atomic<int> posts_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace evs::e2e
