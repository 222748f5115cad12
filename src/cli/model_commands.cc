#include "cli/model_commands.h"

#include <limits.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "codec/decode.h"
#include "config/config.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "models/registry.h"

namespace evs::cli {
namespace {

using Clock = std::chrono::steady_clock;

// The registry as the topic holds it: per name the records since its last
// tombstone, oldest first.
struct Registry {
  std::map<std::string, std::vector<models::ModelRecord>> history;
  std::map<std::string, int64_t> max_version;  // across tombstones too
  std::map<std::string, bool> deleted;
};

absl::StatusOr<Registry> ReadRegistry(const config::Config& c) {
  auto all = kafka::ReadAll(c.internal, c.topics.models);
  if (!all.ok()) return all.status();
  Registry reg;
  for (const auto& r : *all) {
    if (!r.has_value) {
      reg.history.erase(r.key);
      reg.deleted[r.key] = true;
      continue;
    }
    auto rec = models::DecodeRecord(r.value);
    if (!rec.ok()) continue;
    reg.deleted[r.key] = false;
    reg.max_version[r.key] = std::max(reg.max_version[r.key], rec->highest_version);
    reg.history[r.key].push_back(std::move(*rec));
  }
  return reg;
}

struct Setup {
  std::shared_ptr<const config::Config> cfg;
  std::vector<std::string> pmml_modules;
  std::map<std::string, std::vector<std::string>> spark_modules;  // by model name

  // The modules that answer for a model of this format (deletions: all that may hold it).
  std::vector<std::string> Expected(const std::string& name, const std::string& format) const {
    std::vector<std::string> out;
    if (format != "spark") out = pmml_modules;
    if (format != "pmml")
      if (auto it = spark_modules.find(name); it != spark_modules.end())
        out.insert(out.end(), it->second.begin(), it->second.end());
    return out;
  }
};

bool LoadSetup(const ModelOptions& o, Setup* s, int* rc) {
  auto cfg = config::LoadConfigFile(o.config_path);
  if (!cfg.ok()) {
    std::cerr << "evserve: " << cfg.status().message() << "\n";
    *rc = kExitUsage;
    return false;
  }
  s->cfg = *cfg;
  for (const config::Job& j : s->cfg->jobs)
    if (j.type == "pmml") s->pmml_modules.push_back(j.module.name);
    else if (j.type == "spark") s->spark_modules[j.spark.model].push_back(j.module.name);
  absl::Status st = kafka::EnsureTopics(s->cfg->internal, {{s->cfg->topics.models, 1, true},
                                                           {s->cfg->topics.status, 1, false}});
  if (!st.ok()) {
    std::cerr << "evserve: " << st.message() << "\n";
    *rc = kExitFailure;
    return false;
  }
  return true;
}

// A consumer positioned at the current end of the status topic (explicit
// offsets, not the logical END that resolves later), opened before the
// registry record is written so no outcome is missed.
kafka::HandlePtr OpenStatusTail(const config::Config& c) {
  auto conf = kafka::MakeConf(c.internal, {{"group.id", "evs-model-cli"},
                                           {"enable.auto.commit", "false"},
                                           {"enable.partition.eof", "false"}});
  if (!conf.ok()) return nullptr;
  auto rk = kafka::MakeHandle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk.ok()) return nullptr;
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk->get(), c.topics.status.c_str(), nullptr);
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk->get(), 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (err) return nullptr;
  std::vector<int32_t> parts;
  for (int i = 0; i < md->topic_cnt; ++i)
    for (int p = 0; p < md->topics[i].partition_cnt; ++p) parts.push_back(md->topics[i].partitions[p].id);
  rd_kafka_metadata_destroy(md);
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (int32_t p : parts) {
    int64_t lo = 0, hi = 0;
    if (kafka::QueryWatermarksWithRetry(rk->get(), c.topics.status.c_str(), p, &lo, &hi, 10000)) return nullptr;
    rd_kafka_topic_partition_list_add(list.get(), c.topics.status.c_str(), p)->offset = hi;
  }
  if (rd_kafka_assign(rk->get(), list.get())) return nullptr;
  return std::move(*rk);
}

// Waits for model outcomes of (name, version) and prints them. Returns the
// exit code: 0 when every expected module applied it, 1 when one rejected
// it, 3 when none answered in time.
int WaitOutcomes(rd_kafka_t* rk, const Setup& s, const std::string& name, const std::string& format,
                 int64_t version, bool deletion, double timeout_s, Clock::time_point published) {
  const std::vector<std::string> modules = s.Expected(name, deletion ? "" : format);
  std::set<std::string> expected(modules.begin(), modules.end());
  std::set<std::string> answered;
  bool rejected = false;
  codec::JsonDecoder json(8);
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  Clock::time_point settle = Clock::time_point::max();
  std::cout << "waiting up to " << timeout_s << " s for the " << (format.empty() ? "model" : format) << " jobs"
            << (expected.empty() ? "" : " (" + std::to_string(expected.size()) + ")") << "...\n"
            << std::flush;
  while (Clock::now() < deadline && Clock::now() < settle) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(rk, 100));
    if (!m || m->err) continue;
    kafka::InRecord in(m.get());
    Record rec;
    EventError err;
    if (!json.Decode(in.value(), &rec, &err)) continue;
    auto str = [&](const char* k) {
      const Value* v = rec.Find(k);
      return v && v->is_string() ? v->as_string() : std::string();
    };
    const Value* ver = rec.Find("version");
    if (str("event") != "model" || str("model") != name) continue;
    const std::string outcome = str("outcome");
    if (deletion ? outcome != "deleted"
                 : (!ver || !ver->is_number() || static_cast<int64_t>(ver->as_number()) != version))
      continue;
    const std::string module = str("module");
    std::cout << "  " << module << ": " << outcome << " " << name;
    if (!deletion) std::cout << " version " << version;
    if (const Value* ms = rec.Find("load_ms"); ms && ms->is_number() && outcome != "rejected")
      std::cout << " (load " << ms->as_number() << " ms)";
    if (!str("reason").empty()) std::cout << ": " << str("reason");
    std::cout << " [" << static_cast<long>(std::chrono::duration<double, std::milli>(Clock::now() - published).count())
              << " ms after publishing]\n"
              << std::flush;
    if (outcome == "rejected") rejected = true;
    answered.insert(module);
    bool all = !expected.empty();
    for (const auto& e : expected) all = all && answered.count(e);
    if (all) break;
    // Without a list of jobs, gather what else arrives within a second.
    if (expected.empty() && settle == Clock::time_point::max())
      settle = Clock::now() + std::chrono::seconds(1);
  }
  if (answered.empty()) {
    std::cout << "no " << (format.empty() ? "model" : format) << " job reported within " << timeout_s
              << " s (are they running?)\n";
    return kExitTimeout;
  }
  for (const auto& e : expected)
    if (!answered.count(e)) std::cout << "  " << e << ": no report within " << timeout_s << " s\n";
  return rejected ? kExitFailure : kExitOk;
}

int Publish(const Setup& s, const std::string& name, const models::ModelRecord* rec, const ModelOptions& o,
            int64_t version, const std::string& format) {
  kafka::HandlePtr tail;
  if (!o.no_wait) {
    tail = OpenStatusTail(*s.cfg);
    if (!tail) {
      std::cerr << "evserve: cannot read '" << s.cfg->topics.status << "'\n";
      return kExitFailure;
    }
  }
  auto conf = kafka::MakeConf(s.cfg->internal, {{"linger.ms", "0"}, {"message.max.bytes", "100000000"}});
  if (!conf.ok()) {
    std::cerr << "evserve: " << conf.status().message() << "\n";
    return kExitUsage;
  }
  auto rk = kafka::MakeHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk.ok()) {
    std::cerr << "evserve: " << rk.status().message() << "\n";
    return kExitFailure;
  }
  kafka::OutRecord r;
  r.topic = s.cfg->topics.models;
  r.key = name;
  r.has_key = true;
  r.has_value = rec != nullptr;
  if (rec) r.value = models::EncodeRecord(*rec);
  const Clock::time_point published = Clock::now();  // outcomes are timed from here
  absl::Status st = kafka::Produce(rk->get(), r, nullptr);
  if (st.ok() && rd_kafka_flush(rk->get(), 15000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    st = absl::DeadlineExceededError("the record could not be delivered within 15 s");

  if (!st.ok()) {
    std::cerr << "evserve: " << st.message() << "\n";
    return kExitFailure;
  }
  if (rec)
    std::cout << "published " << name << " version " << version << " (" << rec->action << ", sha256 "
              << rec->sha256 << ", " << (rec->inline_artifact() ? rec->artifact.size() : 0) << " bytes"
              << (rec->inline_artifact() ? " inline" : ", path " + rec->path) << ") to '"
              << s.cfg->topics.models << "'\n";
  else
    std::cout << "published a tombstone for " << name << " to '" << s.cfg->topics.models << "'\n";
  if (o.no_wait) return kExitOk;
  return WaitOutcomes(tail.get(), s, name, format, version, rec == nullptr, o.timeout_s, published);
}

}  // namespace

int ModelAdd(const ModelOptions& o, bool update) {
  if (absl::Status s = models::ValidateName(o.name); !s.ok()) {
    std::cerr << "evserve: " << s.message() << "\n";
    return kExitUsage;
  }
  // An http(s) URL is fetched here (for its sha256 and format); with
  // --by-path the record keeps the URL and each job fetches it.
  const bool is_url = models::IsHttpUrl(o.file);
  const bool is_dir = !is_url && models::IsDirectory(o.file);
  std::stringstream ss;
  if (is_url) {
    auto fetched = models::FetchUrl(o.file);
    if (!fetched.ok()) {
      std::cerr << "evserve: " << fetched.status().message() << "\n";
      return kExitFailure;
    }
    ss << *fetched;
  } else if (!is_dir) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) {
      std::cerr << "evserve: cannot read '" << o.file << "'\n";
      return kExitUsage;
    }
    ss << in.rdbuf();
  }
  // Format: as given, else a directory or a zip (by its magic bytes) is a
  // Spark pipeline and anything else a PMML document.
  std::string format = o.format;
  if (format.empty()) format = is_dir || ss.str().rfind("PK\x03\x04", 0) == 0 ? "spark" : "pmml";
  if (format != "pmml" && format != "spark") {
    std::cerr << "evserve: --format " << format << ": expected pmml or spark\n";
    return kExitUsage;
  }
  if (is_dir && !(format == "spark" && o.by_path)) {
    std::cerr << "evserve: '" << o.file << "' is a directory: publish a Spark pipeline directory with "
              << "--format spark --by-path, or a zip of it\n";
    return kExitUsage;
  }
  int rc = kExitOk;
  Setup s;
  if (!LoadSetup(o, &s, &rc)) return rc;
  auto reg = ReadRegistry(*s.cfg);
  if (!reg.ok()) {
    std::cerr << "evserve: " << reg.status().message() << "\n";
    return kExitFailure;
  }
  const bool exists = reg->history.count(o.name) && !reg->history[o.name].empty();
  if (!update && exists) {
    std::cerr << "evserve: model '" << o.name << "' exists (version " << reg->history[o.name].back().version
              << "); use: evserve model update\n";
    return kExitUsage;
  }
  if (update && !exists) {
    std::cerr << "evserve: no model named '" << o.name << "'; use: evserve model add\n";
    return kExitUsage;
  }
  models::ModelRecord rec;
  rec.name = o.name;
  rec.version = o.version > 0 ? o.version : reg->max_version[o.name] + 1;
  rec.action = update ? "update" : "add";
  rec.highest_version = std::max(reg->max_version[o.name], rec.version);
  rec.format = format;
  if (is_dir) {
    auto d = models::DirectoryDigest(o.file);
    if (!d.ok()) {
      std::cerr << "evserve: " << d.status().message() << "\n";
      return kExitUsage;
    }
    rec.sha256 = *d;
  } else {
    rec.sha256 = models::Sha256Hex(ss.str());
  }
  if (exists)
    for (const auto& h : reg->history[o.name])
      if (h.version == rec.version && h.sha256 != rec.sha256) {
        std::cerr << "evserve: " << o.name << " version " << rec.version
                  << " exists with another artifact; pick another --version\n";
        return kExitUsage;
      }
  if (o.by_path && is_url) {
    rec.path = o.file;
  } else if (o.by_path) {
    char buf[PATH_MAX];
    if (!realpath(o.file.c_str(), buf)) {
      std::cerr << "evserve: cannot resolve '" << o.file << "'\n";
      return kExitUsage;
    }
    rec.path = buf;
  } else {
    rec.artifact = ss.str();
  }
  return Publish(s, o.name, &rec, o, rec.version, format);
}

int ModelDelete(const ModelOptions& o) {
  int rc = kExitOk;
  Setup s;
  if (!LoadSetup(o, &s, &rc)) return rc;
  auto reg = ReadRegistry(*s.cfg);
  if (!reg.ok()) {
    std::cerr << "evserve: " << reg.status().message() << "\n";
    return kExitFailure;
  }
  if (!reg->history.count(o.name)) {
    std::cerr << "evserve: no model named '" << o.name << "'\n";
    return kExitUsage;
  }
  return Publish(s, o.name, nullptr, o, 0, "");
}

int ModelRollback(const ModelOptions& o) {
  int rc = kExitOk;
  Setup s;
  if (!LoadSetup(o, &s, &rc)) return rc;
  auto reg = ReadRegistry(*s.cfg);
  if (!reg.ok()) {
    std::cerr << "evserve: " << reg.status().message() << "\n";
    return kExitFailure;
  }
  auto it = reg->history.find(o.name);
  if (it == reg->history.end() || it->second.empty()) {
    std::cerr << "evserve: no model named '" << o.name << "'\n";
    return kExitUsage;
  }
  const auto& h = it->second;
  const int64_t current = h.back().version;
  int64_t target = o.version;
  if (target <= 0) {
    // The previous version: the newest record before the current one's run.
    for (size_t i = h.size(); i-- > 0;)
      if (h[i].version != current) {
        target = h[i].version;
        break;
      }
    if (target <= 0) {
      std::cerr << "evserve: " << o.name << " has no version before " << current
                << " in the registry topic\n";
      return kExitUsage;
    }
  }
  if (target == current) {
    std::cerr << "evserve: " << o.name << " version " << target << " is already current\n";
    return kExitUsage;
  }
  const models::ModelRecord* src = nullptr;
  for (const auto& r : h)
    if (r.version == target) src = &r;
  if (!src) {
    std::cerr << "evserve: " << o.name << " version " << target
              << " is not in the registry topic (compacted away?); publish it again with "
                 "evserve model update --version\n";
    return kExitUsage;
  }
  models::ModelRecord rec = *src;
  rec.action = "rollback";
  rec.highest_version = std::max(reg->max_version[o.name], current);
  std::cout << "rolling " << o.name << " back from version " << current << " to " << target << "\n";
  return Publish(s, o.name, &rec, o, target, rec.format);
}

int ModelList(const ModelOptions& o) {
  int rc = kExitOk;
  Setup s;
  if (!LoadSetup(o, &s, &rc)) return rc;
  auto reg = ReadRegistry(*s.cfg);
  auto status = kafka::ReadAll(s.cfg->internal, s.cfg->topics.status);
  if (!reg.ok() || !status.ok()) {
    std::cerr << "evserve: " << (!reg.ok() ? reg.status() : status.status()).message() << "\n";
    return kExitFailure;
  }
  // Latest outcome per (model, module).
  std::map<std::string, std::map<std::string, std::string>> served;
  codec::JsonDecoder json(8);
  for (const auto& r : *status) {
    Record rec;
    EventError err;
    if (!json.Decode(r.value, &rec, &err)) continue;
    const Value* ev = rec.Find("event");
    const Value* model = rec.Find("model");
    const Value* oc = rec.Find("outcome");
    const Value* v = rec.Find("version");
    if (!ev || ev->as_string() != "model" || !model || !oc || !v) continue;
    std::string line = oc->as_string();
    if (oc->as_string() != "deleted") line += " version " + v->DebugString();
    const Value* reason = rec.Find("reason");
    if (oc->as_string() == "rejected" && reason) line += ": " + reason->as_string();
    served[model->as_string()][r.key] = line;
  }
  if (reg->history.empty()) {
    std::cout << "no models in '" << s.cfg->topics.models << "'\n";
    return kExitOk;
  }
  for (const auto& [name, h] : reg->history) {
    if (h.empty()) continue;
    const models::ModelRecord& cur = h.back();
    std::cout << name << "  version " << cur.version << "  " << cur.format << "  sha256 " << cur.sha256.substr(0, 12) << "  "
              << (cur.inline_artifact() ? std::to_string(cur.artifact.size()) + " bytes inline"
                                        : "path " + cur.path)
              << (cur.action.empty() ? "" : "  (" + cur.action + ")") << "\n";
    std::set<int64_t> versions;
    for (const auto& r : h) versions.insert(r.version);
    std::cout << "  versions in the topic:";
    for (int64_t v : versions) std::cout << " " << v;
    std::cout << "\n";
    for (const auto& [module, line] : served[name]) std::cout << "  " << module << ": " << line << "\n";
  }
  return kExitOk;
}

}  // namespace evs::cli
