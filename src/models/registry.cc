#include "models/registry.h"

#include <curl/curl.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "codec/decode.h"
#include "common/json_writer.h"
#include "common/status_macros.h"

namespace evs::models {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size()) return false;
    for (int k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

absl::Status ValidateName(std::string_view name) {
  if (name.empty() || name.size() > 200)
    return absl::InvalidArgumentError("model name must have 1 to 200 characters");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return absl::InvalidArgumentError(
          absl::StrCat("model name '", std::string(name), "': only letters, digits, '.', '_', '-'"));
  return absl::OkStatus();
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : md) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view in) {
  int8_t rev[256];
  std::fill(rev, rev + 256, -1);
  for (int i = 0; i < 64; ++i) rev[uint8_t(kB64[i])] = int8_t(i);
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (pad || rev[uint8_t(c)] < 0) return absl::InvalidArgumentError("artifact: invalid base64");
    acc = (acc << 6) | uint32_t(rev[uint8_t(c)]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

bool ParseModelRef(std::string_view text, ModelRef* out) {
  size_t at = text.rfind('@');
  if (at == std::string_view::npos) {
    out->name = text;
    out->version = 0;
    return !text.empty();
  }
  out->name = text.substr(0, at);
  std::string_view v = text.substr(at + 1);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n <= 0 || out->name.empty()) return false;
  out->version = n;
  return true;
}

std::string EncodeRecord(const ModelRecord& r) {
  std::string s = "{\"name\":";
  AppendJsonString(r.name, &s);
  s += absl::StrCat(",\"version\":", r.version, ",\"format\":");
  AppendJsonString(r.format, &s);
  s += ",\"sha256\":";
  AppendJsonString(r.sha256, &s);
  if (!r.action.empty()) {
    s += ",\"action\":";
    AppendJsonString(r.action, &s);
  }
  if (r.highest_version > r.version) s += absl::StrCat(",\"highest_version\":", r.highest_version);
  if (r.inline_artifact()) {
    bool text = r.format != "spark" && ValidUtf8(r.artifact);  // zips are binary
    s += text ? ",\"encoding\":\"text\",\"artifact\":" : ",\"encoding\":\"base64\",\"artifact\":";
    AppendJsonString(text ? r.artifact : Base64Encode(r.artifact), &s);
  } else {
    s += ",\"path\":";
    AppendJsonString(r.path, &s);
  }
  s += "}";
  return s;
}

absl::StatusOr<ModelRecord> DecodeRecord(std::string_view json) {
  codec::JsonDecoder dec(8);
  Record rec;
  EventError err;
  if (!dec.Decode(json, &rec, &err))
    return absl::InvalidArgumentError(absl::StrCat("registry record: ", err.message));
  ModelRecord r;
  auto str = [&](const char* key, std::string* out, bool required) -> absl::Status {
    const Value* v = rec.Find(key);
    if (!v) {
      return required ? absl::InvalidArgumentError(absl::StrCat("registry record: '", key, "' is missing"))
                      : absl::OkStatus();
    }
    if (!v->is_string())
      return absl::InvalidArgumentError(absl::StrCat("registry record: '", key, "' must be a string"));
    *out = v->as_string();
    return absl::OkStatus();
  };
  absl::Status s;
  if (!(s = str("name", &r.name, true)).ok()) return s;
  if (!(s = ValidateName(r.name)).ok()) return s;
  const Value* v = rec.Find("version");
  if (!v || !v->is_number() || v->as_number() < 1 || v->as_number() > 9e15 ||
      v->as_number() != static_cast<double>(static_cast<int64_t>(v->as_number())))
    return absl::InvalidArgumentError("registry record: 'version' must be an integer >= 1");
  r.version = static_cast<int64_t>(v->as_number());
  if (!(s = str("format", &r.format, true)).ok()) return s;
  if (r.format != "pmml" && r.format != "spark")
    return absl::InvalidArgumentError(absl::StrCat("registry record: format '", r.format,
                                                   "' is not supported (expected pmml or spark)"));
  if (!(s = str("sha256", &r.sha256, true)).ok()) return s;
  if (r.sha256.size() != 64 || r.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    return absl::InvalidArgumentError("registry record: 'sha256' must be 64 lowercase hex digits");
  if (!(s = str("action", &r.action, false)).ok()) return s;
  r.highest_version = r.version;
  if (const Value* h = rec.Find("highest_version"); h && h->is_number() && h->as_number() > r.version &&
                                                     h->as_number() < 9e15)
    r.highest_version = static_cast<int64_t>(h->as_number());
  std::string artifact;
  const bool has_artifact = rec.Has("artifact"), has_path = rec.Has("path") || rec.Has("url");
  if (has_artifact == has_path)
    return absl::InvalidArgumentError("registry record: exactly one of 'artifact' and 'path' is required");
  if (has_artifact) {
    if (!(s = str("artifact", &artifact, true)).ok()) return s;
    if (!(s = str("encoding", &r.encoding, false)).ok()) return s;
    if (r.encoding.empty() || r.encoding == "text") {
      r.encoding = "text";
      r.artifact = std::move(artifact);
    } else if (r.encoding == "base64") {
      auto d = Base64Decode(artifact);
      if (!d.ok()) return d.status();
      r.artifact = std::move(*d);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("registry record: encoding '", r.encoding, "' (expected text or base64)"));
    }
  } else {
    if (!(s = str(rec.Has("path") ? "path" : "url", &r.path, true)).ok()) return s;
    if (r.path.rfind("file://", 0) != 0 && !IsHttpUrl(r.path) && r.path.find("://") != std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(
          "registry record: path '", r.path,
          "': only local paths and file://, http:// and https:// URLs are supported"));
    if (r.path.empty()) return absl::InvalidArgumentError("registry record: 'path' is empty");
  }
  return r;
}

bool IsHttpUrl(std::string_view path) {
  return path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0;
}

namespace {

struct CurlEasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct FetchBody {
  std::string bytes;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<FetchBody*>(user);
  const size_t len = size * n;
  if (body->bytes.size() + len > body->max_bytes) {
    body->too_large = true;
    return 0;  // stops the transfer (CURLE_WRITE_ERROR)
  }
  body->bytes.append(data, len);
  return len;
}

}  // namespace

absl::StatusOr<std::string> FetchUrl(const std::string& url, const FetchLimits& limits) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, CurlEasyFree> c(curl_easy_init());
  if (!c) return absl::InternalError(absl::StrCat("GET ", url, ": cannot create a curl handle"));
  FetchBody body;
  body.max_bytes = limits.max_bytes;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.get(), CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(limits.connect_timeout_ms));
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(limits.timeout_ms));
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(c.get());
  if (body.too_large)
    return absl::ResourceExhaustedError(
        absl::StrCat("GET ", url, ": the artifact is larger than ", limits.max_bytes, " bytes"));
  if (rc != CURLE_OK)
    return absl::UnavailableError(
        absl::StrCat("GET ", url, ": ", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status >= 400) {
    const std::string msg = absl::StrCat("GET ", url, ": HTTP ", status);
    return status == 404 ? absl::NotFoundError(msg) : absl::UnavailableError(msg);
  }
  return std::move(body.bytes);
}

std::string LocalPath(const ModelRecord& r) {
  return r.path.rfind("file://", 0) == 0 ? r.path.substr(7) : r.path;
}

bool IsDirectory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

absl::StatusOr<std::string> DirectoryDigest(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
       !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(fs::relative(it->path(), dir, ec).generic_string());
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read directory '", dir, "': ", ec.message()));
  std::sort(files.begin(), files.end());
  std::string all;
  for (const std::string& f : files) {
    std::ifstream in(dir + "/" + f, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", dir, "/", f, "'"));
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    all += f;
    all += '\0';
    all += std::to_string(bytes.size());
    all += '\0';
    all += bytes;
  }
  return Sha256Hex(all);
}

absl::StatusOr<std::string> ReadArtifact(const ModelRecord& r, const FetchLimits& limits) {
  std::string bytes;
  if (r.inline_artifact()) {
    bytes = r.artifact;
  } else if (IsHttpUrl(r.path)) {
    ASSIGN_OR_RETURN(bytes, FetchUrl(r.path, limits));
  } else {
    std::string p = LocalPath(r);
    if (IsDirectory(p)) return absl::InvalidArgumentError(absl::StrCat("artifact '", p, "' is a directory"));
    std::ifstream in(p, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read artifact '", p, "'"));
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  std::string got = Sha256Hex(bytes);
  if (got != r.sha256)
    return absl::DataLossError(absl::StrCat("sha256 mismatch: the record says ", r.sha256,
                                            ", the artifact (", bytes.size(), " bytes) has ", got));
  return bytes;
}

}  // namespace evs::models
