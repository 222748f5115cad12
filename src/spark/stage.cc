#include "spark/stage.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace evs::spark {

namespace {
// Debian's abseil has its own string_view: StrCat and hash lookups need it.
inline absl::string_view V(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

std::string StageMeta::ShortClass() const {
  size_t dot = class_name.rfind('.');
  return dot == std::string::npos ? class_name : class_name.substr(dot + 1);
}

absl::Status StageMeta::Error(std::string_view msg) const {
  return absl::InvalidArgumentError(absl::StrCat(ShortClass(), " ", uid, ": ", V(msg)));
}

bool StageMeta::Has(std::string_view param) const {
  return params.is_object() && params.contains(std::string(param)) &&
         !params[std::string(param)].is_null();
}

absl::StatusOr<std::string> StageMeta::Str(std::string_view param) const {
  if (!Has(param)) return Error(absl::StrCat("param '", V(param), "' is missing"));
  const auto& v = params[std::string(param)];
  if (!v.is_string()) return Error(absl::StrCat("param '", V(param), "' is not a string"));
  return v.get<std::string>();
}

absl::StatusOr<double> StageMeta::Num(std::string_view param) const {
  if (!Has(param)) return Error(absl::StrCat("param '", V(param), "' is missing"));
  const auto& v = params[std::string(param)];
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {  // Spark writes NaN/Infinity doubles as strings
    const std::string s = v.get<std::string>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return Error(absl::StrCat("param '", V(param), "' is not a number"));
}

absl::StatusOr<bool> StageMeta::Bool(std::string_view param) const {
  if (!Has(param)) return Error(absl::StrCat("param '", V(param), "' is missing"));
  const auto& v = params[std::string(param)];
  if (!v.is_boolean()) return Error(absl::StrCat("param '", V(param), "' is not a boolean"));
  return v.get<bool>();
}

absl::StatusOr<std::vector<std::string>> StageMeta::StrList(std::string_view param) const {
  if (!Has(param)) return Error(absl::StrCat("param '", V(param), "' is missing"));
  const auto& v = params[std::string(param)];
  if (!v.is_array()) return Error(absl::StrCat("param '", V(param), "' is not a list"));
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) return Error(absl::StrCat("param '", V(param), "' holds a non-string"));
    out.push_back(e.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::vector<double>> StageMeta::NumList(std::string_view param) const {
  if (!Has(param)) return Error(absl::StrCat("param '", V(param), "' is missing"));
  const auto& v = params[std::string(param)];
  if (!v.is_array()) return Error(absl::StrCat("param '", V(param), "' is not a list"));
  std::vector<double> out;
  for (const auto& e : v) {
    if (e.is_number()) out.push_back(e.get<double>());
    else if (e.is_string() && e.get<std::string>() == "NaN") out.push_back(std::numeric_limits<double>::quiet_NaN());
    else if (e.is_string() && e.get<std::string>() == "Infinity") out.push_back(std::numeric_limits<double>::infinity());
    else if (e.is_string() && e.get<std::string>() == "-Infinity") out.push_back(-std::numeric_limits<double>::infinity());
    else return Error(absl::StrCat("param '", V(param), "' holds a non-number"));
  }
  return out;
}

std::string StageMeta::StrOr(std::string_view param, std::string_view fallback) const {
  auto v = Str(param);
  return v.ok() ? *v : std::string(fallback);
}
double StageMeta::NumOr(std::string_view param, double fallback) const {
  auto v = Num(param);
  return v.ok() ? *v : fallback;
}
bool StageMeta::BoolOr(std::string_view param, bool fallback) const {
  auto v = Bool(param);
  return v.ok() ? *v : fallback;
}

absl::StatusOr<parquet::Table> StageMeta::ReadData(std::string_view sub) const {
  if (data_override) return data_override(sub);
  if (source == nullptr) return Error("no artifact source to read data from");
  const std::string d = absl::StrCat(dir, "/", V(sub));
  std::vector<std::string> parts;
  for (const auto& n : source->List(d)) {
    if (absl::StartsWith(n, "part-") && absl::EndsWith(n, ".parquet")) parts.push_back(n);
  }
  if (parts.empty()) return Error(absl::StrCat("no Parquet part files in '", d, "'"));
  std::vector<std::string> bytes;
  bytes.reserve(parts.size());
  for (const auto& p : parts) {
    auto b = source->Read(absl::StrCat(d, "/", p));
    if (!b.ok()) return Error(std::string(b.status().message()));
    bytes.push_back(std::move(*b));
  }
  std::vector<std::string_view> views(bytes.begin(), bytes.end());
  auto t = parquet::ReadParts(views);
  if (!t.ok()) return Error(absl::StrCat("data '", V(sub), "': ", t.status().message()));
  return t;
}

void StageRegistry::Add(std::string class_name, StageFactory f) {
  factories_.emplace_back(std::move(class_name), std::move(f));
}

const StageFactory* StageRegistry::Find(std::string_view class_name) const {
  for (const auto& [n, f] : factories_)
    if (n == class_name) return &f;
  return nullptr;
}

const StageRegistry& StageRegistry::Default() {
  static const StageRegistry* r = [] {
    auto* reg = new StageRegistry();
    RegisterCoreStages(*reg);
    RegisterSqlStages(*reg);
    RegisterVectorStages(*reg);
    RegisterTextStages(*reg);
    RegisterLinearModels(*reg);
    RegisterTreeModels(*reg);
    RegisterOtherModels(*reg);
    return reg;
  }();
  return *r;
}

absl::StatusOr<std::string> FindMetadataFile(const ArtifactSource& src, const std::string& dir) {
  const std::string mdir = dir.empty() ? "metadata" : dir + "/metadata";
  if (src.Exists(mdir + "/part-00000")) return mdir + "/part-00000";
  for (const std::string& name : src.List(mdir))  // sorted: part-00000-... comes first
    if (name.rfind("part-", 0) == 0 && !absl::EndsWith(name, ".crc")) return mdir + "/" + name;
  return absl::NotFoundError(absl::StrCat("no stage metadata in '", mdir, "' (part-00000)"));
}

absl::StatusOr<StageMeta> ReadStageMeta(const ArtifactSource& src, std::string dir) {
  ASSIGN_OR_RETURN(const std::string path, FindMetadataFile(src, dir));
  auto text = src.Read(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("stage metadata: ", text.status().message()));
  // Spark writes one JSON object on the first line.
  std::string_view line = *text;
  if (size_t nl = line.find('\n'); nl != std::string_view::npos) line = line.substr(0, nl);
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not JSON metadata"));
  StageMeta m;
  m.class_name = j.value("class", "");
  if (m.class_name.empty()) return absl::InvalidArgumentError(absl::StrCat("'", path, "' has no class"));
  m.uid = j.value("uid", "");
  m.spark_version = j.value("sparkVersion", "");
  m.spark_major = std::atoi(m.spark_version.c_str());
  if (size_t dot = m.spark_version.find('.'); dot != std::string::npos)
    m.spark_minor = std::atoi(m.spark_version.c_str() + dot + 1);
  m.params = nlohmann::json::object();
  if (j.contains("defaultParamMap") && j["defaultParamMap"].is_object())
    for (const auto& [k, v] : j["defaultParamMap"].items()) m.params[k] = v;
  if (j.contains("paramMap") && j["paramMap"].is_object())
    for (const auto& [k, v] : j["paramMap"].items()) m.params[k] = v;
  m.raw = std::move(j);
  m.dir = std::move(dir);
  m.source = &src;
  return m;
}

// stages_core.cc: RFormulaModel appends its nested stages itself.
absl::Status LoadRFormulaInto(const StageMeta& m, Schema& schema, std::vector<std::unique_ptr<Stage>>* out);

namespace {

std::string Join(const std::string& dir, std::string_view child) {
  return dir.empty() ? std::string(child) : absl::StrCat(dir, "/", V(child));
}

// Stage subdirectories of a PipelineModel in pipeline order: "<idx>_<uid>",
// ordered by stageUids when present, else by the numeric prefix.
absl::StatusOr<std::vector<std::string>> PipelineStageDirs(const ArtifactSource& src,
                                                           const StageMeta& meta) {
  const std::string stages = Join(meta.dir, "stages");
  std::vector<std::string> names = src.List(stages);
  names.erase(std::remove_if(names.begin(), names.end(),
                             [](const std::string& n) { return n.empty() || n[0] == '.' || n[0] == '_'; }),
              names.end());
  std::vector<std::string> out;
  if (meta.Has("stageUids")) {
    ASSIGN_OR_RETURN(auto uids, meta.StrList("stageUids"));
    for (size_t i = 0; i < uids.size(); ++i) {
      // Spark names a stage directory "<index>_<uid>", the index zero-padded
      // to the width of the stage count; a uid may repeat (RFormula).
      auto it = std::find_if(names.begin(), names.end(), [&](const std::string& n) {
        size_t us = n.find('_');
        if (us == std::string::npos || us == 0 || n.compare(us + 1, std::string::npos, uids[i]) != 0) return false;
        for (size_t k = 0; k < us; ++k)
          if (n[k] < '0' || n[k] > '9') return false;
        return std::strtoull(n.c_str(), nullptr, 10) == i;
      });
      if (it == names.end())
        return meta.Error(absl::StrCat("stage ", uids[i], " has no directory under '", stages, "'"));
      out.push_back(Join(stages, *it));
    }
    return out;
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return std::atoi(a.c_str()) < std::atoi(b.c_str());
  });
  for (const auto& n : names) out.push_back(Join(stages, n));
  return out;
}

}  // namespace

absl::Status LoadStageInto(const ArtifactSource& src, const std::string& dir, Schema& schema,
                           std::vector<std::unique_ptr<Stage>>* out) {
  ASSIGN_OR_RETURN(StageMeta meta, ReadStageMeta(src, dir));
  const std::string& cls = meta.class_name;
  // PySpark writes a Python-side PipelineModel (inside a CrossValidatorModel
  // or TrainValidationSplitModel it saved) under its Python class name, with
  // the same stages/ layout.
  if (cls == "org.apache.spark.ml.PipelineModel" || cls == "pyspark.ml.pipeline.PipelineModel") {
    ASSIGN_OR_RETURN(auto dirs, PipelineStageDirs(src, meta));
    for (const auto& d : dirs) RETURN_IF_ERROR(LoadStageInto(src, d, schema, out));
    return absl::OkStatus();
  }
  if (cls == "org.apache.spark.ml.tuning.TrainValidationSplitModel" ||
      cls == "org.apache.spark.ml.tuning.CrossValidatorModel") {
    const std::string best = Join(dir, "bestModel");
    if (!FindMetadataFile(src, best).ok()) return meta.Error("no fitted bestModel directory");
    return LoadStageInto(src, best, schema, out);
  }
  if (cls == "org.apache.spark.ml.feature.RFormulaModel") return LoadRFormulaInto(meta, schema, out);
  const StageFactory* f = StageRegistry::Default().Find(cls);
  if (f == nullptr) return absl::UnimplementedError(absl::StrCat("unsupported stage ", cls));
  ASSIGN_OR_RETURN(std::unique_ptr<Stage> stage, (*f)(meta, schema));
  if (stage->name.empty()) stage->name = absl::StrCat(meta.ShortClass(), " ", meta.uid);
  out->push_back(std::move(stage));
  return absl::OkStatus();
}

}  // namespace evs::spark
