#include "service/http_client.h"

namespace evs::service {

// Stub: replaced by the libcurl implementation.
struct HttpClient::Impl {};
HttpClient::HttpClient() : HttpClient(Options{}) {}
HttpClient::HttpClient(Options) : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() = default;
void HttpClient::Submit(HttpRequest, Callback done) {
  HttpResponse r;
  r.error = "not implemented";
  done(std::move(r));
}
HttpResponse HttpClient::Send(HttpRequest request) {
  HttpResponse out;
  Submit(std::move(request), [&](HttpResponse r) { out = std::move(r); });
  return out;
}

}  // namespace evs::service
