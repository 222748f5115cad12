// ArtifactSource implementations: a directory on disk and a zip (file or
// bytes). A zip is inflated into memory once at open, so reads are const and
// thread-safe; caps bound the work a hostile archive can cause.
#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "spark/stage.h"

namespace evs::spark {

namespace {
// Debian's abseil has its own string_view: StrCat and hash lookups need it.
inline absl::string_view V(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

namespace {

constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;  // one file
constexpr uint64_t kMaxTotalBytes = uint64_t{2} << 30;  // whole archive, inflated
constexpr int64_t kMaxEntries = 200000;

std::vector<std::string_view> Split(std::string_view rel) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = rel.find('/', start);
    out.push_back(rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// A relative path with no empty, "." or ".." components, and not absolute.
bool SafeRel(std::string_view rel) {
  if (rel.empty()) return true;
  if (rel.front() == '/' || rel.find('\\') != std::string_view::npos) return false;
  for (std::string_view part : Split(rel)) {
    if (part == "..") return false;
  }
  return true;
}

std::string Clean(std::string_view rel) {
  std::string out;
  for (std::string_view part : Split(rel)) {
    if (part.empty() || part == ".") continue;
    if (!out.empty()) out.push_back('/');
    out.append(part);
  }
  return out;
}

class DirSource : public ArtifactSource {
 public:
  explicit DirSource(std::filesystem::path root) : root_(std::move(root)) {}

  absl::StatusOr<std::string> Read(std::string_view rel) const override {
    if (!SafeRel(rel)) return absl::InvalidArgumentError(absl::StrCat("unsafe path '", V(rel), "'"));
    auto p = root_ / std::string(rel);
    std::error_code ec;
    auto size = std::filesystem::file_size(p, ec);
    if (ec) return absl::NotFoundError(absl::StrCat("cannot read '", p.string(), "': ", ec.message()));
    if (size > kMaxEntryBytes) return absl::InvalidArgumentError(absl::StrCat("'", p.string(), "' is too large"));
    std::ifstream in(p, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", p.string(), "'"));
    std::string data(size, '\0');
    in.read(data.data(), static_cast<std::streamsize>(size));
    if (!in) return absl::DataLossError(absl::StrCat("short read of '", p.string(), "'"));
    return data;
  }

  std::vector<std::string> List(std::string_view rel_dir) const override {
    std::vector<std::string> out;
    if (!SafeRel(rel_dir)) return out;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(root_ / std::string(rel_dir), ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      out.push_back(it->path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  bool Exists(std::string_view rel) const override {
    if (!SafeRel(rel)) return false;
    std::error_code ec;
    return std::filesystem::exists(root_ / std::string(rel), ec);
  }

 private:
  std::filesystem::path root_;
};

class ZipSource : public ArtifactSource {
 public:
  static absl::StatusOr<std::unique_ptr<ArtifactSource>> Make(std::string bytes) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (src == nullptr) {
      std::string msg = zip_error_strerror(&err);
      zip_error_fini(&err);
      return absl::InvalidArgumentError("zip: " + msg);
    }
    zip_t* za = zip_open_from_source(src, ZIP_RDONLY, &err);
    if (za == nullptr) {
      std::string msg = zip_error_strerror(&err);
      zip_source_free(src);
      zip_error_fini(&err);
      return absl::InvalidArgumentError("not a readable zip: " + msg);
    }
    zip_error_fini(&err);
    auto out = std::make_unique<ZipSource>();
    absl::Status st = out->Inflate(za);
    zip_discard(za);
    if (!st.ok()) return st;
    out->DetectRoot();
    if (!FindMetadataFile(*out, "").ok())
      return absl::InvalidArgumentError(
          "zip holds no saved pipeline (no metadata/part-00000 at its root or in one top-level folder)");
    return std::unique_ptr<ArtifactSource>(std::move(out));
  }

  absl::StatusOr<std::string> Read(std::string_view rel) const override {
    if (!SafeRel(rel)) return absl::InvalidArgumentError(absl::StrCat("unsafe path '", V(rel), "'"));
    auto it = files_.find(prefix_ + Clean(rel));
    if (it == files_.end()) return absl::NotFoundError(absl::StrCat("zip has no '", V(rel), "'"));
    return it->second;
  }

  std::vector<std::string> List(std::string_view rel_dir) const override {
    std::set<std::string> names;
    std::string dir = prefix_ + Clean(rel_dir);
    if (!dir.empty()) dir.push_back('/');
    auto add = [&](const std::string& path) {
      if (path.size() <= dir.size() || path.compare(0, dir.size(), dir) != 0) return;
      std::string rest = path.substr(dir.size());
      names.insert(rest.substr(0, rest.find('/')));
    };
    for (const auto& [p, _] : files_) add(p);
    for (const auto& p : dirs_) add(p);
    return {names.begin(), names.end()};
  }

  bool Exists(std::string_view rel) const override {
    if (!SafeRel(rel)) return false;
    std::string p = prefix_ + Clean(rel);
    return files_.count(p) > 0 || dirs_.count(p) > 0;
  }

 private:
  absl::Status Inflate(zip_t* za) {
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0 || n > kMaxEntries) return absl::InvalidArgumentError("zip: too many entries");
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; ++i) {
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat_index(za, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) continue;
      std::string name = st.name;
      if (!SafeRel(name))
        return absl::InvalidArgumentError(absl::StrCat("zip entry '", name, "' escapes the archive"));
      std::string clean = Clean(name);
      if (clean.empty()) continue;
      // Every parent is a directory.
      for (size_t k = clean.find('/'); k != std::string::npos; k = clean.find('/', k + 1))
        dirs_.insert(clean.substr(0, k));
      if (name.back() == '/') {
        dirs_.insert(clean);
        continue;
      }
      if (!(st.valid & ZIP_STAT_SIZE) || st.size > kMaxEntryBytes)
        return absl::InvalidArgumentError(absl::StrCat("zip entry '", name, "' is too large"));
      total += st.size;
      if (total > kMaxTotalBytes) return absl::InvalidArgumentError("zip: inflated size too large");
      zip_file_t* f = zip_fopen_index(za, i, 0);
      if (f == nullptr)
        return absl::InvalidArgumentError(absl::StrCat("zip entry '", name, "': ", zip_strerror(za)));
      std::string data(st.size, '\0');
      zip_int64_t got = st.size == 0 ? 0 : zip_fread(f, data.data(), st.size);
      zip_fclose(f);
      if (got < 0 || static_cast<uint64_t>(got) != st.size)
        return absl::DataLossError(absl::StrCat("zip entry '", name, "': short or corrupt data"));
      files_[clean] = std::move(data);
    }
    return absl::OkStatus();
  }

  // The pipeline's metadata/part-00000 (Spark 4: part-00000-<uuid>-c000.txt)
  // is at the zip's root or under one top-level folder.
  void DetectRoot() {
    static constexpr std::string_view kMeta = "metadata/part-00000";
    for (const auto& [p, _] : files_)
      if (p.rfind(kMeta, 0) == 0) return;
    for (const auto& [p, _] : files_) {
      size_t slash = p.find('/');
      if (slash == std::string::npos || p.compare(slash + 1, kMeta.size(), kMeta) != 0) continue;
      std::string top = p.substr(0, slash);
      if (top != "__MACOSX") {
        prefix_ = top + "/";
        return;
      }
    }
  }

  std::map<std::string, std::string> files_;
  std::set<std::string> dirs_;
  std::string prefix_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ArtifactSource>> ArtifactSource::Open(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return std::unique_ptr<ArtifactSource>(std::make_unique<DirSource>(path));
  }
  if (!std::filesystem::is_regular_file(path, ec))
    return absl::NotFoundError(absl::StrCat("model '", path, "' is neither a directory nor a file"));
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxTotalBytes)
    return absl::InvalidArgumentError(absl::StrCat("model '", path, "' cannot be read or is too large"));
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) return absl::DataLossError(absl::StrCat("short read of '", path, "'"));
  if (bytes.size() < 4 || bytes.compare(0, 2, "PK") != 0)
    return absl::InvalidArgumentError(
        absl::StrCat("model '", path, "' is not a directory or a zip of a saved pipeline"));
  auto src = FromZipBytes(std::move(bytes));
  if (!src.ok()) return absl::Status(src.status().code(), absl::StrCat(path, ": ", src.status().message()));
  return src;
}

absl::StatusOr<std::unique_ptr<ArtifactSource>> ArtifactSource::FromZipBytes(std::string bytes) {
  return ZipSource::Make(std::move(bytes));
}

}  // namespace evs::spark
