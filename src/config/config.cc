#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "service/protocol.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace evs::config {
namespace {

absl::Status Err(const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "(document)" : path, ": ", why));
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}
std::string Index(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

const char* KindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    default: return "undefined";
  }
}

absl::Status ExpectMap(const YAML::Node& n, const std::string& path) {
  if (!n.IsMap()) return Err(path, absl::StrCat("must be a map, got ", KindName(n)));
  return absl::OkStatus();
}

// Rejects keys outside `allowed`, naming the first unknown one.
absl::Status CheckKeys(const YAML::Node& n, const std::string& path,
                       const std::vector<std::string>& allowed) {
  RETURN_IF_ERROR(ExpectMap(n, path));
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) return Err(path, "keys must be strings");
    const std::string key = kv.first.Scalar();
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == key;
    if (!ok)
      return Err(Join(path, key),
                 absl::StrCat("unknown key (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const YAML::Node& n, const std::string& path,
                                      bool allow_empty = false) {
  if (!n.IsScalar()) return Err(path, absl::StrCat("must be a string, got ", KindName(n)));
  if (!allow_empty && n.Scalar().empty()) return Err(path, "must not be empty");
  return n.Scalar();
}

absl::StatusOr<double> GetNumber(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) return Err(path, absl::StrCat("must be a number, got ", KindName(n)));
  const std::string& s = n.Scalar();
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d))
    return Err(path, absl::StrCat("must be a finite number, got '", s, "'"));
  return d;
}

absl::StatusOr<uint32_t> GetUint(const YAML::Node& n, const std::string& path, uint32_t min,
                                 uint32_t max) {
  ASSIGN_OR_RETURN(double d, GetNumber(n, path));
  if (d != std::floor(d) || d < min || d > max)
    return Err(path, absl::StrCat("must be an integer in [", min, ", ", max, "], got ",
                                  n.Scalar()));
  return static_cast<uint32_t>(d);
}

absl::StatusOr<bool> GetBool(const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  return Err(path, "must be true or false");
}

absl::StatusOr<std::vector<std::string>> GetStringList(const YAML::Node& n,
                                                       const std::string& path) {
  if (!n.IsSequence()) return Err(path, absl::StrCat("must be a list, got ", KindName(n)));
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    ASSIGN_OR_RETURN(std::string s, GetString(n[i], Index(path, i)));
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status ParseKafka(const YAML::Node& n, const std::string& path, KafkaProps* out) {
  RETURN_IF_ERROR(ExpectMap(n, path));
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (!kv.second.IsScalar())
      return Err(Join(path, key), "librdkafka properties must be scalars");
    (*out)[key] = kv.second.Scalar();
  }
  return absl::OkStatus();
}

absl::Status ParseModule(const YAML::Node& n, const std::string& path, ModuleSettings* m,
                         const std::vector<std::string>& extra_keys = {}) {
  std::vector<std::string> keys = {"name", "group", "metrics_listen", "max_in_flight",
                                   "txn_max_records", "txn_max_ms"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  RETURN_IF_ERROR(CheckKeys(n, path, keys));
  if (n["name"]) { ASSIGN_OR_RETURN(m->name, GetString(n["name"], Join(path, "name"))); }
  if (n["group"]) { ASSIGN_OR_RETURN(m->group, GetString(n["group"], Join(path, "group"))); }
  if (n["metrics_listen"]) {
    ASSIGN_OR_RETURN(m->metrics_listen,
                     GetString(n["metrics_listen"], Join(path, "metrics_listen")));
    if (m->metrics_listen.find(':') == std::string::npos)
      return Err(Join(path, "metrics_listen"), "must be host:port");
  }
  if (n["max_in_flight"]) {
    ASSIGN_OR_RETURN(m->max_in_flight,
                     GetUint(n["max_in_flight"], Join(path, "max_in_flight"), 2, 10000000));
  }
  if (n["txn_max_records"]) {
    ASSIGN_OR_RETURN(m->txn_max_records,
                     GetUint(n["txn_max_records"], Join(path, "txn_max_records"), 1, 1000000));
  }
  if (n["txn_max_ms"]) {
    ASSIGN_OR_RETURN(m->txn_max_ms, GetUint(n["txn_max_ms"], Join(path, "txn_max_ms"), 1, 60000));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const transform::TransformChain>> ParseTransform(
    const YAML::Node& n, const std::string& path, bool output) {
  return transform::TransformChain::FromYaml(n, path, output);
}

absl::Status ParseRoute(const YAML::Node& n, const std::string& path, Route* r) {
  RETURN_IF_ERROR(CheckKeys(n, path,
                            {"name", "source", "format", "csv", "text_field", "when",
                             "split_field", "salt", "transform", "variants"}));
  if (!n["name"]) return Err(Join(path, "name"), "is required");
  ASSIGN_OR_RETURN(r->name, GetString(n["name"], Join(path, "name")));
  if (!n["source"]) return Err(Join(path, "source"), "is required (the event topic)");
  ASSIGN_OR_RETURN(r->source, GetString(n["source"], Join(path, "source")));
  if (n["format"]) {
    ASSIGN_OR_RETURN(std::string f, GetString(n["format"], Join(path, "format")));
    if (f == "json") r->format = Format::kJson;
    else if (f == "csv") r->format = Format::kCsv;
    else if (f == "text") r->format = Format::kText;
    else return Err(Join(path, "format"), absl::StrCat("unknown format '", f, "' (expected json, csv, text)"));
  }
  if (n["csv"]) {
    const std::string p = Join(path, "csv");
    RETURN_IF_ERROR(CheckKeys(n["csv"], p, {"columns", "delimiter"}));
    if (n["csv"]["columns"]) {
      ASSIGN_OR_RETURN(r->csv.columns, GetStringList(n["csv"]["columns"], Join(p, "columns")));
      std::set<std::string> seen;
      for (size_t i = 0; i < r->csv.columns.size(); ++i)
        if (!seen.insert(r->csv.columns[i]).second)
          return Err(Index(Join(p, "columns"), i), absl::StrCat("duplicate column '", r->csv.columns[i], "'"));
    }
    if (n["csv"]["delimiter"]) {
      ASSIGN_OR_RETURN(std::string d, GetString(n["csv"]["delimiter"], Join(p, "delimiter")));
      if (d.size() != 1 || d == "\"" || d == "\n")
        return Err(Join(p, "delimiter"), "must be one character other than quote or newline");
      r->csv.delimiter = d[0];
    }
  }
  if (r->format == Format::kCsv && r->csv.columns.empty())
    return Err(Join(path, "csv.columns"), "is required when format is csv");
  if (n["text_field"]) {
    ASSIGN_OR_RETURN(r->text_field, GetString(n["text_field"], Join(path, "text_field")));
  }
  if (n["when"]) {
    ASSIGN_OR_RETURN(std::string w, GetString(n["when"], Join(path, "when")));
    auto e = transform::Expr::Parse(w);
    if (!e.ok()) return Err(Join(path, "when"), std::string(e.status().message()));
    r->when = *e;
  }
  if (n["split_field"]) {
    ASSIGN_OR_RETURN(r->split_field, GetString(n["split_field"], Join(path, "split_field")));
  }
  r->salt = r->name;
  if (n["salt"]) { ASSIGN_OR_RETURN(r->salt, GetString(n["salt"], Join(path, "salt"))); }
  if (n["transform"]) {
    ASSIGN_OR_RETURN(r->transform, ParseTransform(n["transform"], Join(path, "transform"), false));
  }
  const std::string vp = Join(path, "variants");
  if (!n["variants"]) return Err(vp, "is required (at least one variant)");
  if (!n["variants"].IsSequence() || n["variants"].size() == 0)
    return Err(vp, "must be a non-empty list");
  std::set<std::string> names;
  double total = 0;
  for (size_t i = 0; i < n["variants"].size(); ++i) {
    const YAML::Node v = n["variants"][i];
    const std::string p = Index(vp, i);
    RETURN_IF_ERROR(CheckKeys(v, p, {"name", "job", "model", "weight", "shadow"}));
    Variant var;
    if (!v["job"]) return Err(Join(p, "job"), "is required");
    ASSIGN_OR_RETURN(var.job, GetString(v["job"], Join(p, "job")));
    if (!v["model"]) return Err(Join(p, "model"), "is required");
    ASSIGN_OR_RETURN(var.model, GetString(v["model"], Join(p, "model")));
    var.name = var.model;
    if (v["name"]) { ASSIGN_OR_RETURN(var.name, GetString(v["name"], Join(p, "name"))); }
    if (!names.insert(var.name).second)
      return Err(Join(p, "name"), absl::StrCat("duplicate variant name '", var.name, "'"));
    if (v["shadow"]) { ASSIGN_OR_RETURN(var.shadow, GetBool(v["shadow"], Join(p, "shadow"))); }
    if (v["weight"]) {
      ASSIGN_OR_RETURN(var.weight, GetNumber(v["weight"], Join(p, "weight")));
      if (var.weight < 0) return Err(Join(p, "weight"), "must be >= 0");
      if (var.shadow) return Err(Join(p, "weight"), "a shadow variant takes no weight (it gets a copy of every event)");
    } else if (!var.shadow) {
      return Err(Join(p, "weight"), "is required for a non-shadow variant");
    }
    total += var.weight;
    r->variants.push_back(std::move(var));
  }
  if (total <= 0)
    return Err(vp, "the weights of the non-shadow variants must add up to more than 0");
  return absl::OkStatus();
}

absl::Status ParseOutput(const YAML::Node& n, const std::string& path, Output* o) {
  RETURN_IF_ERROR(CheckKeys(n, path, {"name", "match", "topic", "transform", "attach", "attach_fields"}));
  if (!n["name"]) return Err(Join(path, "name"), "is required");
  ASSIGN_OR_RETURN(o->name, GetString(n["name"], Join(path, "name")));
  if (!n["topic"]) return Err(Join(path, "topic"), "is required");
  ASSIGN_OR_RETURN(o->topic, GetString(n["topic"], Join(path, "topic")));
  if (n["match"]) {
    const std::string p = Join(path, "match");
    const YAML::Node m = n["match"];
    RETURN_IF_ERROR(CheckKeys(m, p, {"route", "model", "variant", "shadow"}));
    if (m["route"]) { ASSIGN_OR_RETURN(o->match.route, GetString(m["route"], Join(p, "route"))); }
    if (m["model"]) { ASSIGN_OR_RETURN(o->match.model, GetString(m["model"], Join(p, "model"))); }
    if (m["variant"]) { ASSIGN_OR_RETURN(o->match.variant, GetString(m["variant"], Join(p, "variant"))); }
    if (m["shadow"]) { ASSIGN_OR_RETURN(o->match.shadow, GetBool(m["shadow"], Join(p, "shadow"))); }
  }
  if (n["transform"]) {
    ASSIGN_OR_RETURN(o->transform, ParseTransform(n["transform"], Join(path, "transform"), true));
  }
  if (n["attach"]) {
    ASSIGN_OR_RETURN(o->attach, GetStringList(n["attach"], Join(path, "attach")));
    static const std::set<std::string> kAllowed = {"id", "model", "version", "variant",
                                                   "route", "shadow", "digest", "source", "config"};
    for (size_t i = 0; i < o->attach.size(); ++i)
      if (!kAllowed.count(o->attach[i]))
        return Err(Index(Join(path, "attach"), i),
                   absl::StrCat("unknown item '", o->attach[i],
                                "' (expected id, model, version, variant, route, shadow, digest, source, config)"));
  }
  if (n["attach_fields"]) {
    ASSIGN_OR_RETURN(o->attach_fields, GetStringList(n["attach_fields"], Join(path, "attach_fields")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> GetStringMap(const YAML::Node& n,
                                                                const std::string& path) {
  RETURN_IF_ERROR(ExpectMap(n, path));
  std::map<std::string, std::string> out;
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (key.empty()) return Err(path, "keys must not be empty");
    ASSIGN_OR_RETURN(out[key], GetString(kv.second, Join(path, key)));
  }
  return out;
}

// The spark keys of a job: required with type spark, refused otherwise.
absl::Status ParseSparkJob(const YAML::Node& n, const std::string& path, bool is_spark,
                           SparkJob* s) {
  for (const char* key : {"model", "inputs", "outputs", "output_names"})
    if (n[key] && !is_spark) return Err(Join(path, key), "only spark jobs take this key");
  if (!is_spark) return absl::OkStatus();
  if (!n["model"]) return Err(Join(path, "model"), "is required (the registry name of the pipeline)");
  ASSIGN_OR_RETURN(s->model, GetString(n["model"], Join(path, "model")));
  for (char c : s->model)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return Err(Join(path, "model"),
                 absl::StrCat("'", s->model, "' is not a model name (letters, digits, '.', '_', '-')"));
  if (n["inputs"]) { ASSIGN_OR_RETURN(s->inputs, GetStringMap(n["inputs"], Join(path, "inputs"))); }
  if (n["outputs"]) {
    ASSIGN_OR_RETURN(s->outputs, GetStringList(n["outputs"], Join(path, "outputs")));
    std::set<std::string> seen;
    for (size_t i = 0; i < s->outputs.size(); ++i)
      if (!seen.insert(s->outputs[i]).second)
        return Err(Index(Join(path, "outputs"), i), absl::StrCat("duplicate output '", s->outputs[i], "'"));
  }
  if (n["output_names"]) {
    ASSIGN_OR_RETURN(s->output_names, GetStringMap(n["output_names"], Join(path, "output_names")));
    std::set<std::string> keys;
    for (const auto& [from, to] : s->output_names) {
      if (!s->outputs.empty() &&
          std::find(s->outputs.begin(), s->outputs.end(), from) == s->outputs.end())
        return Err(Join(Join(path, "output_names"), from), "is not one of the job's outputs");
      if (!keys.insert(to).second)
        return Err(Join(Join(path, "output_names"), from), absl::StrCat("result key '", to, "' is used twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> GetShape(const YAML::Node& n, const std::string& path) {
  if (!n.IsSequence()) return Err(path, absl::StrCat("must be a list of dimensions, got ", KindName(n)));
  std::vector<int64_t> dims;
  for (size_t i = 0; i < n.size(); ++i) {
    ASSIGN_OR_RETURN(uint32_t d, GetUint(n[i], Index(path, i), 1, 1 << 20));
    dims.push_back(d);
  }
  return dims;
}

// The service keys of a job (under `service:`): required with type service.
absl::Status ParseServiceJob(const YAML::Node& n, const std::string& path, ServiceJob* s) {
  if (!n) return Err(path, "is required for a service job (protocol, url, model, ...)");
  RETURN_IF_ERROR(CheckKeys(n, path,
                            {"protocol", "url", "model", "version", "tf_format", "inputs", "fields",
                             "outputs", "batch", "max_requests_in_flight", "max_queued_records",
                             "timeouts", "retry", "breaker", "on_exhausted"}));
  if (n["protocol"]) {
    ASSIGN_OR_RETURN(s->protocol, GetString(n["protocol"], Join(path, "protocol")));
    if (s->protocol != "v2" && s->protocol != "tf-serving")
      return Err(Join(path, "protocol"), absl::StrCat("unknown protocol '", s->protocol, "' (expected v2 or tf-serving)"));
  }
  if (!n["url"]) return Err(Join(path, "url"), "is required (http://host:port of the model server)");
  ASSIGN_OR_RETURN(s->url, GetString(n["url"], Join(path, "url")));
  if (s->url.rfind("http://", 0) != 0 && s->url.rfind("https://", 0) != 0)
    return Err(Join(path, "url"), absl::StrCat("'", s->url, "' must start with http:// or https://"));
  while (!s->url.empty() && s->url.back() == '/') s->url.pop_back();
  if (!n["model"]) return Err(Join(path, "model"), "is required (the model's name on the server)");
  ASSIGN_OR_RETURN(s->model, GetString(n["model"], Join(path, "model")));
  for (char c : s->model)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return Err(Join(path, "model"),
                 absl::StrCat("'", s->model, "' is not a model name (letters, digits, '.', '_', '-')"));
  if (n["version"]) { ASSIGN_OR_RETURN(s->version, GetString(n["version"], Join(path, "version"))); }
  if (n["tf_format"]) {
    if (s->protocol != "tf-serving") return Err(Join(path, "tf_format"), "only the tf-serving protocol takes this key");
    ASSIGN_OR_RETURN(s->tf_format, GetString(n["tf_format"], Join(path, "tf_format")));
    if (s->tf_format != "instances" && s->tf_format != "inputs")
      return Err(Join(path, "tf_format"), absl::StrCat("unknown format '", s->tf_format, "' (expected instances or inputs)"));
  }
  if (n["fields"] && n["inputs"]) return Err(Join(path, "fields"), "give either fields (one tensor) or inputs, not both");
  if (!n["fields"] && !n["inputs"]) return Err(Join(path, "inputs"), "is required (or fields: for one tensor)");
  if (n["fields"]) {
    ASSIGN_OR_RETURN(s->fields, GetStringList(n["fields"], Join(path, "fields")));
    if (s->fields.empty()) return Err(Join(path, "fields"), "must not be empty");
  }
  std::vector<service::InputTensor> tensors;
  if (n["inputs"]) {
    const YAML::Node in = n["inputs"];
    const std::string ip = Join(path, "inputs");
    if (!in.IsSequence() || in.size() == 0) return Err(ip, "must be a non-empty list of tensors");
    for (size_t i = 0; i < in.size(); ++i) {
      const std::string p = Index(ip, i);
      RETURN_IF_ERROR(CheckKeys(in[i], p, {"name", "datatype", "shape", "fields"}));
      ServiceInput t;
      if (in[i]["name"]) { ASSIGN_OR_RETURN(t.name, GetString(in[i]["name"], Join(p, "name"), true)); }
      if (in[i]["datatype"]) { ASSIGN_OR_RETURN(t.datatype, GetString(in[i]["datatype"], Join(p, "datatype"))); }
      if (!in[i]["fields"]) return Err(Join(p, "fields"), "is required (the event fields that fill the tensor)");
      ASSIGN_OR_RETURN(t.fields, GetStringList(in[i]["fields"], Join(p, "fields")));
      if (in[i]["shape"]) { ASSIGN_OR_RETURN(t.shape, GetShape(in[i]["shape"], Join(p, "shape"))); }
      else if (t.fields.size() != 1) t.shape = {static_cast<int64_t>(t.fields.size())};
      service::InputTensor st;
      st.name = t.name;
      st.shape = t.shape;
      st.fields = t.fields;
      if (!service::ParseDType(t.datatype, &st.dtype))
        return Err(Join(p, "datatype"), absl::StrCat("unknown datatype '", t.datatype, "' (expected FP64, FP32, INT64, INT32, BOOL, BYTES, ...)"));
      tensors.push_back(std::move(st));
      s->inputs.push_back(std::move(t));
    }
  }
  if (n["outputs"]) {
    const YAML::Node o = n["outputs"];
    RETURN_IF_ERROR(ExpectMap(o, Join(path, "outputs")));
    std::set<std::string> fields;
    for (const auto& kv : o) {
      const std::string tensor = kv.first.Scalar();
      ASSIGN_OR_RETURN(std::string field, GetString(kv.second, Join(Join(path, "outputs"), tensor)));
      if (!fields.insert(field).second)
        return Err(Join(Join(path, "outputs"), tensor), absl::StrCat("result field '", field, "' is used twice"));
      s->outputs.emplace_back(tensor, field);
    }
  }
  if (!tensors.empty()) {
    std::vector<service::OutputMapping> outs;
    for (const auto& [t, f] : s->outputs) outs.push_back({t, f});
    auto codec = service::Codec::Create(
        s->protocol == "v2" ? service::Protocol::kV2 : service::Protocol::kTfServing,
        s->tf_format == "inputs" ? service::TfFormat::kInputs : service::TfFormat::kInstances,
        std::move(tensors), std::move(outs));
    if (!codec.ok()) return Err(path, std::string(codec.status().message()));
  }
  struct UintKey { const char* group; const char* key; uint32_t* dst; uint32_t min, max; };
  const UintKey keys[] = {
      {"batch", "max_size", &s->batch_max_size, 1, 10000},
      {"batch", "max_delay_ms", &s->batch_max_delay_ms, 0, 60000},
      {nullptr, "max_requests_in_flight", &s->max_requests_in_flight, 1, 1024},
      {nullptr, "max_queued_records", &s->max_queued_records, 1, 10000000},
      {"timeouts", "connect_ms", &s->connect_timeout_ms, 1, 600000},
      {"timeouts", "try_ms", &s->try_timeout_ms, 1, 3600000},
      {"timeouts", "overall_ms", &s->overall_timeout_ms, 1, 86400000},
      {"retry", "max_retries", &s->max_retries, 0, 1000},
      {"retry", "initial_backoff_ms", &s->backoff_initial_ms, 1, 600000},
      {"retry", "max_backoff_ms", &s->backoff_max_ms, 1, 3600000},
      {"breaker", "failure_threshold", &s->breaker_failure_threshold, 1, 100000},
      {"breaker", "open_ms", &s->breaker_open_ms, 1, 3600000},
  };
  for (const char* g : {"batch", "timeouts", "retry", "breaker"}) {
    if (!n[g]) continue;
    std::vector<std::string> allowed;
    for (const auto& k : keys)
      if (k.group && std::string(k.group) == g) allowed.push_back(k.key);
    RETURN_IF_ERROR(CheckKeys(n[g], Join(path, g), allowed));
  }
  for (const auto& k : keys) {
    if (k.group ? !(n[k.group] && n[k.group][k.key]) : !n[k.key]) continue;
    const YAML::Node node = k.group ? n[k.group][k.key] : n[k.key];
    const std::string p = k.group ? Join(Join(path, k.group), k.key) : Join(path, k.key);
    ASSIGN_OR_RETURN(*k.dst, GetUint(node, p, k.min, k.max));
  }
  if (s->backoff_max_ms < s->backoff_initial_ms)
    return Err(Join(Join(path, "retry"), "max_backoff_ms"), "must be >= initial_backoff_ms");
  if (s->max_queued_records < s->batch_max_size)
    return Err(Join(path, "max_queued_records"), "must be >= batch.max_size");
  if (n["on_exhausted"]) {
    ASSIGN_OR_RETURN(std::string v, GetString(n["on_exhausted"], Join(path, "on_exhausted")));
    if (v == "dead-letter") s->dead_letter_on_exhausted = true;
    else if (v == "wait") s->dead_letter_on_exhausted = false;
    else return Err(Join(path, "on_exhausted"), absl::StrCat("unknown value '", v, "' (expected dead-letter or wait)"));
  }
  return absl::OkStatus();
}

const std::set<std::string>& KnownJobTypes() {
  static const std::set<std::string> k = {"echo", "pmml", "spark", "service"};
  return k;
}

absl::Status ParseRoot(const YAML::Node& root, Config* c) {
  if (!root.IsDefined() || root.IsNull())
    return Err("", "the config document is empty");
  if (!root.IsMap()) return Err("", absl::StrCat("the config document must be a map, got ", KindName(root)));
  RETURN_IF_ERROR(CheckKeys(root, "",
                            {"version", "guarantee", "kafka", "topics", "limits", "input_adapter",
                             "output_adapter", "jobs", "routes", "outputs",
                             "shadow_topic_suffix"}));
  if (root["version"]) {
    ASSIGN_OR_RETURN(double v, GetNumber(root["version"], "version"));
    if (v < 0 || v != std::floor(v) || v > 9e15) return Err("version", "must be a non-negative integer");
    c->version = static_cast<int64_t>(v);
  }
  if (root["guarantee"]) {
    ASSIGN_OR_RETURN(std::string g, GetString(root["guarantee"], "guarantee"));
    if (g == "at-least-once") c->guarantee = Guarantee::kAtLeastOnce;
    else if (g == "exactly-once") c->guarantee = Guarantee::kExactlyOnce;
    else return Err("guarantee", absl::StrCat("unknown value '", g, "' (expected at-least-once or exactly-once)"));
  }
  c->external["bootstrap.servers"] = "localhost:9092";
  c->internal["bootstrap.servers"] = "localhost:9092";
  if (root["kafka"]) {
    RETURN_IF_ERROR(CheckKeys(root["kafka"], "kafka", {"external", "internal"}));
    if (root["kafka"]["external"]) RETURN_IF_ERROR(ParseKafka(root["kafka"]["external"], "kafka.external", &c->external));
    if (root["kafka"]["internal"]) RETURN_IF_ERROR(ParseKafka(root["kafka"]["internal"], "kafka.internal", &c->internal));
  }
  if (root["topics"]) {
    const YAML::Node t = root["topics"];
    RETURN_IF_ERROR(CheckKeys(t, "topics", {"requests_prefix", "results", "config", "models", "status", "dlq"}));
    struct { const char* key; std::string* dst; } items[] = {
        {"requests_prefix", &c->topics.requests_prefix}, {"results", &c->topics.results},
        {"config", &c->topics.config}, {"models", &c->topics.models},
        {"status", &c->topics.status}, {"dlq", &c->topics.dlq}};
    for (auto& it : items)
      if (t[it.key]) { ASSIGN_OR_RETURN(*it.dst, GetString(t[it.key], Join("topics", it.key))); }
  }
  if (root["limits"]) {
    const YAML::Node l = root["limits"];
    RETURN_IF_ERROR(CheckKeys(l, "limits", {"max_event_bytes", "max_depth"}));
    if (l["max_event_bytes"]) {
      ASSIGN_OR_RETURN(c->limits.max_event_bytes, GetUint(l["max_event_bytes"], "limits.max_event_bytes", 1, 100 << 20));
    }
    if (l["max_depth"]) {
      ASSIGN_OR_RETURN(c->limits.max_depth, GetUint(l["max_depth"], "limits.max_depth", 1, 1000));
    }
  }
  if (root["shadow_topic_suffix"]) {
    ASSIGN_OR_RETURN(c->shadow_topic_suffix, GetString(root["shadow_topic_suffix"], "shadow_topic_suffix", true));
  }
  c->input_adapter.name = "input-adapter";
  c->output_adapter.name = "output-adapter";
  if (root["input_adapter"]) RETURN_IF_ERROR(ParseModule(root["input_adapter"], "input_adapter", &c->input_adapter));
  if (root["output_adapter"]) RETURN_IF_ERROR(ParseModule(root["output_adapter"], "output_adapter", &c->output_adapter));
  if (c->input_adapter.group.empty()) c->input_adapter.group = "evs-" + c->input_adapter.name;
  if (c->output_adapter.group.empty()) c->output_adapter.group = "evs-" + c->output_adapter.name;

  std::set<std::string> module_names = {c->input_adapter.name};
  if (!module_names.insert(c->output_adapter.name).second)
    return Err("output_adapter.name", absl::StrCat("duplicate module name '", c->output_adapter.name, "'"));
  if (root["jobs"]) {
    const YAML::Node j = root["jobs"];
    RETURN_IF_ERROR(ExpectMap(j, "jobs"));
    for (const auto& kv : j) {
      Job job;
      job.name = kv.first.Scalar();
      const std::string p = Join("jobs", job.name);
      if (job.name.empty()) return Err("jobs", "job names must not be empty");
      RETURN_IF_ERROR(ParseModule(kv.second, p, &job.module,
                                  {"type", "keep_versions", "model", "inputs", "outputs", "output_names", "service"}));
      if (!kv.second["type"]) return Err(Join(p, "type"), "is required");
      ASSIGN_OR_RETURN(job.type, GetString(kv.second["type"], Join(p, "type")));
      if (!KnownJobTypes().count(job.type))
        return Err(Join(p, "type"),
                   absl::StrCat("unknown job type '", job.type, "' (expected echo, pmml, spark or service)"));
      RETURN_IF_ERROR(ParseSparkJob(kv.second, p, job.type == "spark", &job.spark));
      if (job.type == "service") {
        RETURN_IF_ERROR(ParseServiceJob(kv.second["service"], Join(p, "service"), &job.service));
        if (c->guarantee == Guarantee::kExactlyOnce)
          return Err(Join(p, "type"), "a service job runs at-least-once only (a model-server call cannot "
                                      "join a Kafka transaction); set guarantee: at-least-once");
      } else if (kv.second["service"]) {
        return Err(Join(p, "service"), "only service jobs take this key");
      }
      if (kv.second["keep_versions"]) {
        if (job.type != "pmml" && job.type != "spark")
          return Err(Join(p, "keep_versions"), "only pmml and spark jobs keep model versions");
        int64_t kvers = 0;
        try {
          kvers = kv.second["keep_versions"].as<int64_t>();
        } catch (const std::exception&) {
          return Err(Join(p, "keep_versions"), "must be an integer");
        }
        if (kvers < 1 || kvers > 100) return Err(Join(p, "keep_versions"), "must be 1 .. 100");
        job.keep_versions = static_cast<uint32_t>(kvers);
      }
      if (job.module.name.empty()) job.module.name = job.name;
      if (job.module.group.empty()) job.module.group = "evs-job-" + job.name;
      if (!module_names.insert(job.module.name).second)
        return Err(Join(p, "name"), absl::StrCat("duplicate module name '", job.module.name, "'"));
      c->jobs.push_back(std::move(job));
    }
  }
  if (root["routes"]) {
    const YAML::Node r = root["routes"];
    if (!r.IsSequence()) return Err("routes", absl::StrCat("must be a list, got ", KindName(r)));
    std::set<std::string> names;
    for (size_t i = 0; i < r.size(); ++i) {
      Route route;
      const std::string p = Index("routes", i);
      RETURN_IF_ERROR(ParseRoute(r[i], p, &route));
      if (!names.insert(route.name).second)
        return Err(Join(p, "name"), absl::StrCat("duplicate route name '", route.name, "'"));
      for (size_t v = 0; v < route.variants.size(); ++v) {
        const Job* job = c->FindJob(route.variants[v].job);
        if (!job)
          return Err(Join(Index(Join(p, "variants"), v), "job"),
                     absl::StrCat("unknown job '", route.variants[v].job, "' (not under jobs:)"));
        // A spark job serves one pipeline: its model, or a pinned version of it.
        const std::string& m = route.variants[v].model;
        if (job->type == "spark" && m != job->spark.model && m.rfind(job->spark.model + "@", 0) != 0)
          return Err(Join(Index(Join(p, "variants"), v), "model"),
                     absl::StrCat("job '", job->name, "' serves model '", job->spark.model, "', not '", m, "'"));
        // A service job calls one model on its server (the version is the job's).
        if (job->type == "service" && m != job->service.model)
          return Err(Join(Index(Join(p, "variants"), v), "model"),
                     absl::StrCat("job '", job->name, "' serves model '", job->service.model, "', not '", m,
                                  "' (a service job's version is set by its service.version)"));
      }
      c->routes.push_back(std::move(route));
    }
  }
  if (root["outputs"]) {
    const YAML::Node o = root["outputs"];
    if (!o.IsSequence()) return Err("outputs", absl::StrCat("must be a list, got ", KindName(o)));
    std::set<std::string> names;
    for (size_t i = 0; i < o.size(); ++i) {
      Output out;
      const std::string p = Index("outputs", i);
      RETURN_IF_ERROR(ParseOutput(o[i], p, &out));
      if (!names.insert(out.name).second)
        return Err(Join(p, "name"), absl::StrCat("duplicate output name '", out.name, "'"));
      c->outputs.push_back(std::move(out));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const Job* Config::FindJob(const std::string& name) const {
  for (const Job& j : jobs)
    if (j.name == name) return &j;
  return nullptr;
}

const char* GuaranteeName(Guarantee g) {
  return g == Guarantee::kExactlyOnce ? "exactly-once" : "at-least-once";
}

absl::StatusOr<std::shared_ptr<const Config>> ParseConfig(const std::string& yaml_text) {
  auto c = std::make_shared<Config>();
  c->source_text = yaml_text;
  YAML::Node root;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(yaml_text);
    if (docs.size() > 1) return Err("", "expected one YAML document, found several");
    if (!docs.empty()) root = docs[0];
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML syntax error at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
  try {
    RETURN_IF_ERROR(ParseRoot(root, c.get()));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config error at line ", e.mark.line + 1, ": ", e.msg));
  }
  return std::shared_ptr<const Config>(std::move(c));
}

int64_t PeekVersion(const std::string& yaml_text) {
  try {
    YAML::Node n = YAML::Load(yaml_text);
    if (n.IsMap() && n["version"] && n["version"].IsScalar()) return n["version"].as<int64_t>();
  } catch (const YAML::Exception&) {
  }
  return 0;
}

absl::StatusOr<std::shared_ptr<const Config>> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseConfig(ss.str());
  if (!c.ok())
    return absl::Status(c.status().code(), absl::StrCat(path, ": ", c.status().message()));
  return c;
}

}  // namespace evs::config
