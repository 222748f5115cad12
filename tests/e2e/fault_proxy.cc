#include "e2e/fault_proxy.h"

#include <chrono>

#include "httplib.h"

namespace evs::e2e {

FaultProxy::FaultProxy(int backend_port)
    : backend_port_(backend_port), server_(std::make_unique<httplib::Server>()) {
  auto forward = [this](const httplib::Request& req, httplib::Response& res, bool post) {
    if (post) posts_.fetch_add(1);
    const Mode mode = mode_.load();
    if (mode == Mode::kDelay && !Sleep(delay_ms_.load())) return;
    if (post && mode == Mode::kStatus500) {
      res.status = 500;
      res.set_content("{\"error\":\"injected failure\"}", "application/json");
      return;
    }
    if (post && mode == Mode::kMalformed) {
      res.status = 200;
      res.set_content("{\"model_name\":\"iris\",\"outputs\":[{\"name\":\"predict\",", "application/json");
      return;
    }
    if (post && mode == Mode::kWrongShape) {
      res.status = 200;
      res.set_content(
          "{\"model_name\":\"iris\",\"outputs\":[{\"name\":\"predict\",\"datatype\":\"INT64\","
          "\"shape\":[7,1],\"data\":[0,0,0,0,0,0,0]}]}",
          "application/json");
      return;
    }
    httplib::Client cli("127.0.0.1", backend_port_);
    cli.set_connection_timeout(2, 0);
    cli.set_read_timeout(30, 0);
    httplib::Result r = post ? cli.Post(req.path.c_str(), req.body, "application/json")
                             : cli.Get(req.path.c_str());
    if (!r) {
      res.status = 502;
      res.set_content("{\"error\":\"backend unreachable\"}", "application/json");
      return;
    }
    res.status = r->status;
    res.set_content(r->body, "application/json");
  };
  server_->Post(R"(.*)", [forward](const httplib::Request& q, httplib::Response& s) { forward(q, s, true); });
  server_->Get(R"(.*)", [forward](const httplib::Request& q, httplib::Response& s) { forward(q, s, false); });
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

FaultProxy::~FaultProxy() {
  stopping_.store(true);
  server_->stop();
  thread_.join();
}

bool FaultProxy::Sleep(int ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (stopping_.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace evs::e2e
