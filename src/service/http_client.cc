#include "service/http_client.h"

#include <curl/curl.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <future>
#include <unordered_set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

namespace evs::service {
namespace {

// A response body past this fails the try: a model server answering with
// more than this is broken or not the server we meant to call.
constexpr size_t kMaxResponseBytes = size_t{64} << 20;
constexpr const char* kTooLarge = "response larger than 64 MiB";
constexpr const char* kShutDown = "client shut down";
// Upper bound on one curl_multi_poll; libcurl shortens it to its own next
// timer and curl_multi_wakeup ends it early when work is submitted.
constexpr int kPollMs = 100;
// Idle easy handles kept for reuse (each holds a few KB of buffers).
constexpr size_t kMaxPooledHandles = 256;
// libcurl 7.88 does not time out a transfer while it waits for a free
// connection (max_connections / max_host_connections reached), so the worker
// enforces timeout_ms itself, checking every kSweepEvery. The grace lets
// libcurl's own timeout, with its more precise message, win otherwise.
constexpr auto kSweepEvery = std::chrono::milliseconds(20);
constexpr auto kDeadlineGrace = std::chrono::milliseconds(50);

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
      spdlog::error("http client: curl_global_init failed: {}",
                    curl_easy_strerror(rc));
    }
  });
}

struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

bool HasHeader(const std::vector<std::string>& headers, absl::string_view name) {
  for (const std::string& h : headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(h.substr(0, colon)),
                               name)) {
      return true;
    }
  }
  return false;
}

// Runs a user callback; an exception from it is logged, never propagated
// into the worker loop.
void RunCallback(HttpClient::Callback& done, HttpResponse response) {
  if (!done) return;
  try {
    done(std::move(response));
  } catch (const std::exception& e) {
    spdlog::error("http client: request callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("http client: request callback threw a non-standard exception");
  }
}

}  // namespace

// The worker-thread state. `mu` guards `queue` and `stopping`; everything
// else (the multi handle, the easy handles, `active`, the pool) is touched
// only by the worker thread once the constructor returns.
struct HttpClient::Impl {
  // One request from Submit until its callback has run. Owns the request
  // (so the POST body outlives the transfer), the header list, the error
  // buffer and the response being read.
  struct Transfer {
    HttpRequest request;
    Callback done;
    CURL* easy = nullptr;
    SlistPtr headers;
    std::string body;
    bool too_large = false;
    char errbuf[CURL_ERROR_SIZE] = {};
    Clock::time_point start;
    Clock::time_point deadline = Clock::time_point::max();
  };

  HttpClient* owner = nullptr;
  CURLM* multi = nullptr;
  std::thread worker;

  std::mutex mu;
  std::deque<std::unique_ptr<Transfer>> queue;
  bool stopping = false;

  std::unordered_set<Transfer*> active;  // owned; added to `multi`
  std::vector<CURL*> pool;                // idle easy handles

  ~Impl() {
    for (Transfer* t : active) {
      curl_multi_remove_handle(multi, t->easy);
      curl_easy_cleanup(t->easy);
      delete t;
    }
    for (CURL* easy : pool) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
  }

  static size_t Write(char* data, size_t size, size_t nmemb, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * nmemb;
    if (t->body.size() + n > kMaxResponseBytes) {
      t->too_large = true;
      return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
    }
    try {
      t->body.append(data, n);
    } catch (...) {
      return 0;
    }
    return n;
  }

  static std::string Describe(const HttpRequest& r, absl::string_view what) {
    return absl::StrCat(r.method, " ", r.url, ": ", what);
  }

  // Completes `t` (already off the multi handle) and returns its easy handle
  // to the pool.
  void Finish(std::unique_ptr<Transfer> t, HttpResponse response) {
    if (t->easy != nullptr) {
      if (pool.size() < kMaxPooledHandles) {
        curl_easy_reset(t->easy);
        pool.push_back(t->easy);
      } else {
        curl_easy_cleanup(t->easy);
      }
      t->easy = nullptr;
    }
    owner->pending_.fetch_sub(1, std::memory_order_relaxed);
    RunCallback(t->done, std::move(response));
  }

  void FailNow(std::unique_ptr<Transfer> t, std::string error) {
    HttpResponse r;
    r.error = std::move(error);
    Finish(std::move(t), std::move(r));
  }

  // Configures an easy handle for `t` and adds it to the multi handle, or
  // completes `t` with the reason it could not start.
  void Start(std::unique_ptr<Transfer> t) {
    const HttpRequest& req = t->request;
    bool post = req.method == "POST";
    if (!post && req.method != "GET") {
      FailNow(std::move(t), Describe(req, "unsupported method (GET or POST)"));
      return;
    }
    if (pool.empty()) {
      t->easy = curl_easy_init();
      if (t->easy == nullptr) {
        FailNow(std::move(t), Describe(req, "curl_easy_init failed"));
        return;
      }
    } else {
      t->easy = pool.back();
      pool.pop_back();
    }
    CURL* e = t->easy;

    curl_slist* list = nullptr;
    auto append = [&list](const char* h) {
      curl_slist* next = curl_slist_append(list, h);
      if (next == nullptr) return false;
      list = next;
      return true;
    };
    bool headers_ok = true;
    for (const std::string& h : req.headers) headers_ok &= append(h.c_str());
    if (post && !HasHeader(req.headers, "Content-Type")) {
      headers_ok &= append("Content-Type: application/json");
    }
    // No "Expect: 100-continue" round trip before large POST bodies.
    if (!HasHeader(req.headers, "Expect")) headers_ok &= append("Expect:");
    t->headers.reset(list);
    if (!headers_ok) {
      FailNow(std::move(t), Describe(req, "out of memory building headers"));
      return;
    }

    CURLcode rc = CURLE_OK;
    auto set = [&rc, e](CURLoption opt, auto value) {
      if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, value);
    };
    set(CURLOPT_URL, req.url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_1_1});
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_FOLLOWLOCATION, 0L);
    if (req.connect_timeout_ms > 0) {
      set(CURLOPT_CONNECTTIMEOUT_MS, long{req.connect_timeout_ms});
    }
    set(CURLOPT_TIMEOUT_MS, long{req.timeout_ms > 0 ? req.timeout_ms : 0});
    if (post) {
      set(CURLOPT_POST, 1L);
      set(CURLOPT_POSTFIELDS, req.body.data());
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else {
      set(CURLOPT_HTTPGET, 1L);
    }
    set(CURLOPT_HTTPHEADER, t->headers.get());
    set(CURLOPT_WRITEFUNCTION, &Impl::Write);
    set(CURLOPT_WRITEDATA, static_cast<void*>(t.get()));
    set(CURLOPT_ERRORBUFFER, t->errbuf);
    set(CURLOPT_PRIVATE, static_cast<void*>(t.get()));
    if (rc != CURLE_OK) {
      FailNow(std::move(t), Describe(req, curl_easy_strerror(rc)));
      return;
    }
    t->start = Clock::now();
    if (req.timeout_ms > 0) {
      t->deadline = t->start + std::chrono::milliseconds(req.timeout_ms);
    }
    CURLMcode mc = curl_multi_add_handle(multi, e);
    if (mc != CURLM_OK) {
      FailNow(std::move(t), Describe(req, curl_multi_strerror(mc)));
      return;
    }
    active.insert(t.release());
  }

  // Turns one finished transfer into its response.
  HttpResponse Result(Transfer& t, CURLcode rc) {
    HttpResponse r;
    r.seconds = SecondsSince(t.start);
    long status = 0;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status > 0) {
      r.transport_ok = true;
      r.status = static_cast<int>(status);
      r.body = std::move(t.body);
      return r;
    }
    r.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    if (t.too_large) {
      r.error = Describe(t.request, kTooLarge);
    } else if (rc == CURLE_OK) {
      r.error = Describe(t.request, "no HTTP status in the response");
    } else if (t.errbuf[0] != '\0') {
      // errbuf names the host, port and elapsed time, e.g. "Failed to connect
      // to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server".
      r.error = Describe(t.request, t.errbuf);
    } else {
      r.error = Describe(t.request, curl_easy_strerror(rc));
    }
    return r;
  }

  // Completes the transfers past their deadline that libcurl has not timed
  // out itself (see kSweepEvery).
  void ExpireOverdue() {
    Clock::time_point now = Clock::now();
    std::vector<Transfer*> overdue;
    for (Transfer* t : active) {
      if (t->deadline != Clock::time_point::max() &&
          now > t->deadline + kDeadlineGrace) {
        overdue.push_back(t);
      }
    }
    for (Transfer* raw : overdue) {
      curl_multi_remove_handle(multi, raw->easy);
      active.erase(raw);
      std::unique_ptr<Transfer> t(raw);
      HttpResponse r;
      r.timed_out = true;
      r.seconds = SecondsSince(t->start);
      r.error = Describe(t->request,
                         absl::StrCat("timed out after ", t->request.timeout_ms,
                                      " ms (waiting for a connection)"));
      Finish(std::move(t), std::move(r));
    }
  }

  void Run() {
    Clock::time_point last_sweep = Clock::now();
    while (true) {
      std::deque<std::unique_ptr<Transfer>> batch;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
        batch.swap(queue);
      }
      for (auto& t : batch) Start(std::move(t));

      int running = 0;
      CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        spdlog::error("http client: curl_multi_perform: {}",
                      curl_multi_strerror(mc));
      }
      // Collect first, then run callbacks, so no callback runs between
      // info_read calls (a message is only valid until its handle is removed).
      std::vector<std::pair<std::unique_ptr<Transfer>, HttpResponse>> done;
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        Transfer* raw = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
        CURLcode rc = msg->data.result;  // msg is invalid after remove_handle
        curl_multi_remove_handle(multi, raw->easy);
        active.erase(raw);
        std::unique_ptr<Transfer> t(raw);
        HttpResponse r = Result(*t, rc);
        done.emplace_back(std::move(t), std::move(r));
      }
      for (auto& [t, r] : done) Finish(std::move(t), std::move(r));
      if (Clock::now() - last_sweep >= kSweepEvery) {
        last_sweep = Clock::now();
        ExpireOverdue();
      }

      mc = curl_multi_poll(multi, nullptr, 0, kPollMs, nullptr);
      if (mc != CURLM_OK) {
        spdlog::error("http client: curl_multi_poll: {}", curl_multi_strerror(mc));
        std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
      }
    }
    Shutdown();
  }

  // Completes everything in flight and everything queued with "client shut
  // down". Submit no longer queues once `stopping` is set, so the queue
  // drained here is final.
  void Shutdown() {
    for (Transfer* raw : std::vector<Transfer*>(active.begin(), active.end())) {
      curl_multi_remove_handle(multi, raw->easy);
      active.erase(raw);
      std::unique_ptr<Transfer> t(raw);
      HttpResponse r;
      r.error = Describe(t->request, kShutDown);
      r.seconds = SecondsSince(t->start);
      Finish(std::move(t), std::move(r));
    }
    std::deque<std::unique_ptr<Transfer>> rest;
    {
      std::lock_guard<std::mutex> lock(mu);
      rest.swap(queue);
    }
    for (auto& t : rest) {
      std::string error = Describe(t->request, kShutDown);
      FailNow(std::move(t), std::move(error));
    }
  }
};

HttpClient::HttpClient() : HttpClient(Options{}) {}

HttpClient::HttpClient(Options options) : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->owner = this;
  impl_->multi = curl_multi_init();
  if (impl_->multi == nullptr) {
    // Submit then fails every request with this reason; no thread runs.
    spdlog::error("http client: curl_multi_init failed");
    impl_->stopping = true;
    return;
  }
  long max_conn = options.max_connections > 0 ? options.max_connections : 0;
  curl_multi_setopt(impl_->multi, CURLMOPT_MAXCONNECTS, max_conn);
  curl_multi_setopt(impl_->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_conn);
  if (options.max_host_connections > 0) {
    curl_multi_setopt(impl_->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      long{options.max_host_connections});
  }
  impl_->worker = std::thread([impl = impl_.get()] { impl->Run(); });
}

HttpClient::~HttpClient() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  if (impl_->multi != nullptr) curl_multi_wakeup(impl_->multi);
  if (impl_->worker.joinable()) impl_->worker.join();
}

void HttpClient::Submit(HttpRequest request, Callback done) {
  auto t = std::make_unique<Impl::Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  pending_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(std::move(t));
      // Under the lock so the destructor cannot free the multi handle in
      // between; the wakeup is a write to a socketpair.
      curl_multi_wakeup(impl_->multi);
      return;
    }
  }
  // Shutting down (or the multi handle never came up): fail on this thread.
  HttpResponse r;
  r.error = Impl::Describe(
      t->request, impl_->multi == nullptr ? "curl_multi_init failed" : kShutDown);
  pending_.fetch_sub(1, std::memory_order_relaxed);
  RunCallback(t->done, std::move(r));
}

HttpResponse HttpClient::Send(HttpRequest request) {
  if (std::this_thread::get_id() == impl_->worker.get_id()) {
    // Waiting here would block the thread that completes the request.
    HttpResponse r;
    r.error = Impl::Describe(request, "Send called from a callback (use Submit)");
    return r;
  }
  std::promise<HttpResponse> promise;
  std::future<HttpResponse> result = promise.get_future();
  Submit(std::move(request),
         [&promise](HttpResponse r) { promise.set_value(std::move(r)); });
  return result.get();
}

}  // namespace evs::service
