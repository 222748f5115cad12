#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace evs::models {

// One record of the model registry topic (`evs.models`, compacted, keyed by
// model name). The value is a JSON object:
//
//   {"name":"iris","version":3,"format":"pmml","sha256":"<64 hex>",
//    "encoding":"text"|"base64","artifact":"<the document>"}    inline, or
//   {"name":"iris","version":3,"format":"pmml","sha256":"...","path":"/models/iris.pmml"}
//
// `path` may also be a file:// URL, or an http:// or https:// URL that the
// job fetches (GET) when it loads the version. Format "spark" is a saved Spark PipelineModel: inline as a zip
// (always base64), or a path to a zip or to the pipeline directory; the
// sha256 of a directory is DirectoryDigest's. `action` (add, update, rollback) is informational. A tombstone
// (no value) deletes the model with every version. Pure functions, no I/O
// except ReadArtifact.
struct ModelRecord {
  std::string name;
  int64_t version = 0;
  std::string format = "pmml";  // "pmml" or "spark"
  std::string sha256;    // lowercase hex of the artifact bytes
  std::string encoding;  // "text" or "base64" when the artifact is inline
  std::string artifact;  // inline artifact, decoded (raw bytes)
  std::string path;      // file path, file:// or http(s):// URL when not inline
  std::string action;    // add | update | rollback (informational)
  // Highest version ever published for the name (>= version): after a
  // rollback and compaction the topic still knows which numbers are taken.
  int64_t highest_version = 0;

  bool inline_artifact() const { return path.empty(); }
};

// Model names: 1..200 of [A-Za-z0-9._-] (no '@', which pins a version).
absl::Status ValidateName(std::string_view name);

// JSON for the topic. Inline artifacts that are valid UTF-8 are stored as
// text, others as base64.
std::string EncodeRecord(const ModelRecord& r);
// Parses and validates a record value (not its artifact's content).
absl::StatusOr<ModelRecord> DecodeRecord(std::string_view json);

// True for an http:// or https:// path.
bool IsHttpUrl(std::string_view path);

// Limits of a URL artifact fetch.
struct FetchLimits {
  size_t max_bytes = size_t{1} << 30;  // 1 GiB
  int connect_timeout_ms = 10000;
  int timeout_ms = 300000;             // the whole transfer
};

// GETs `url` (up to 5 redirects). Every error names the URL: an HTTP status
// of 400 or more, a transport error, a body above max_bytes (the transfer
// stops there), or a timeout.
absl::StatusOr<std::string> FetchUrl(const std::string& url, const FetchLimits& limits = {});

// The artifact's bytes: inline, read from the path, or fetched from the
// URL; then checks the sha256 (error "sha256 mismatch: ...").
absl::StatusOr<std::string> ReadArtifact(const ModelRecord& r, const FetchLimits& limits = {});

std::string Sha256Hex(std::string_view bytes);

// The local file path of a path record ("file://" removed); a URL as it is.
std::string LocalPath(const ModelRecord& r);
bool IsDirectory(const std::string& path);
// sha256 of a directory tree: every regular file in sorted relative-path
// order, hashed as "<path>\0<size>\0<bytes>". Symlinks are followed.
absl::StatusOr<std::string> DirectoryDigest(const std::string& dir);
std::string Base64Encode(std::string_view bytes);
absl::StatusOr<std::string> Base64Decode(std::string_view text);

// "iris" -> {"iris", 0}; "iris@3" -> {"iris", 3}. Error on a bad version.
struct ModelRef {
  std::string_view name;
  int64_t version = 0;  // 0: the current version
};
bool ParseModelRef(std::string_view text, ModelRef* out);

}  // namespace evs::models
