#include "metrics/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace evs::metrics {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4";

// Splits "host:port" / "[v6]:port". Empty host means all IPv4 interfaces.
absl::Status ParseListen(const std::string& listen, std::string* host,
                         int* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin listen address '", listen,
                     "' is not host:port"));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "0.0.0.0";
  if (!absl::SimpleAtoi(listen.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin listen address '", listen, "' has a bad port"));
  }
  return absl::OkStatus();
}

// Like httplib's default but without SO_REUSEPORT, so binding a port that
// another socket listens on fails instead of silently sharing it.
void ExclusiveSocketOptions(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

HttpServer::HttpServer(std::string listen, Registry* registry,
                       std::function<std::string()> status_json)
    : listen_(std::move(listen)),
      registry_(registry),
      status_json_(std::move(status_json)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  if (thread_.joinable()) {
    return absl::FailedPreconditionError("admin server already started");
  }
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListen(listen_, &host, &port); !s.ok()) return s;

  auto server = std::make_unique<httplib::Server>();
  server->set_socket_options(ExclusiveSocketOptions);
  // Small pool: scrapes and probes are rare. Short timeouts bound Stop().
  server->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server->set_keep_alive_timeout(1);
  server->set_read_timeout(2);

  server->Get("/metrics", [this](const httplib::Request&,
                                 httplib::Response& res) {
    res.set_content(registry_->Render(), kMetricsContentType);
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server->Get("/readyz", [this](const httplib::Request&,
                                httplib::Response& res) {
    if (ready_.load() && (!ready_check_ || ready_check_())) {
      res.set_content("ready", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready", "text/plain");
    }
  });
  server->Get("/status", [this](const httplib::Request&,
                                httplib::Response& res) {
    res.set_content(status_json_ ? status_json_() : std::string("{}"),
                    "application/json");
  });

  errno = 0;
  int bound = port == 0 ? server->bind_to_any_port(host)
                        : (server->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    int err = errno;
    return absl::UnavailableError(absl::StrCat(
        "admin server cannot bind ", listen_,
        err != 0 ? absl::StrCat(": ", std::strerror(err)) : std::string()));
  }

  server_ = std::move(server);
  port_.store(bound);
  thread_exited_.store(false);
  thread_ = std::thread([this, srv = server_.get()] {
    srv->listen_after_bind();
    thread_exited_.store(true);
  });
  // httplib's stop() is a no-op until the accept loop runs, so wait for it;
  // this keeps an immediate Stop() from hanging.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server_->is_running() && !thread_exited_.load()) {
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    Stop();
    return absl::InternalError(
        absl::StrCat("admin server on ", listen_, " failed to start"));
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  // stop() is a no-op until the accept loop runs, so retry until the
  // serving thread has returned.
  while (!thread_exited_.load()) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
  server_.reset();
  port_.store(0);
}

}  // namespace evs::metrics
