#include "cli/commands.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "adapters/echo_job.h"
#include "jobs/pmml_job.h"
#include "jobs/service_job.h"
#include "jobs/spark_job.h"
#include "models/model_store.h"
#include "adapters/input_adapter.h"
#include "adapters/output_adapter.h"
#include "codec/decode.h"
#include "common/fmt_compat.h"
#include "config/config.h"
#include "kafka/admin.h"
#include "kafka/client.h"
#include "runtime/module.h"
#include "common/fmt_compat.h"
#include "spdlog/spdlog.h"

namespace evs::cli {
namespace {

using runtime::ModuleKind;

runtime::ProcessorFactory FactoryFor(ModuleKind kind, const std::string& job) {
  return [kind, job](std::shared_ptr<const config::Config> cfg, runtime::ConfigSlot* slot,
                     runtime::StatusReporter* rep,
                     metrics::Registry* reg) -> std::unique_ptr<kafka::RecordProcessor> {
    const std::string name = runtime::SettingsFor(*cfg, kind, job).name;
    switch (kind) {
      case ModuleKind::kInputAdapter:
        return std::make_unique<adapters::InputAdapter>(name, cfg, slot, rep, reg);
      case ModuleKind::kOutputAdapter:
        return std::make_unique<adapters::OutputAdapter>(name, cfg, slot, rep, reg);
      case ModuleKind::kJob: {
        const config::Job* j = cfg->FindJob(job);
        if (j && j->type == "pmml") {
          // The registry is read to its end here, before the module starts
          // its admin server and joins its group: /readyz and traffic come
          // after the models are loaded.
          auto store = std::make_shared<models::ModelStore>(j->keep_versions);
          models::LoadSettings ls;
          ls.only_format = "pmml";  // Spark pipelines are the spark jobs'
          auto watcher = std::make_unique<models::RegistryWatcher>(
              cfg->internal, cfg->topics.models, name, store.get(), rep, j->keep_versions, ls);
          absl::Status s = watcher->Start();
          if (!s.ok())
            spdlog::error("{}: cannot read the model registry '{}': {}", name, cfg->topics.models,
                          s.message());
          return std::make_unique<jobs::PmmlJob>(name, job, cfg, slot, rep, reg, std::move(store),
                                                 std::move(watcher));
        }
        if (j && j->type == "spark") {
          // As for pmml: the registry is read to its end first, so a job
          // whose pipeline is in the registry serves it before it consumes.
          auto store = std::make_shared<models::ModelStore>(j->keep_versions);
          models::LoadSettings ls;
          ls.only_format = "spark";
          ls.only_name = j->spark.model;
          ls.spark = j->spark;
          auto watcher = std::make_unique<models::RegistryWatcher>(
              cfg->internal, cfg->topics.models, name, store.get(), rep, j->keep_versions, ls);
          absl::Status s = watcher->Start();
          if (!s.ok())
            spdlog::error("{}: cannot read the model registry '{}': {}", name, cfg->topics.models,
                          s.message());
          return std::make_unique<jobs::SparkJob>(name, job, cfg, slot, rep, reg, std::move(store),
                                                  std::move(watcher));
        }
        if (j && j->type == "service")
          return std::make_unique<jobs::ServiceJob>(name, job, cfg, slot, rep, reg);
        return std::make_unique<adapters::EchoJob>(name, job, cfg, slot, rep, reg);
      }
    }
    return nullptr;
  };
}

// A client for a CLI command, or a message on stderr and the exit code to
// return (usage for a property librdkafka refuses).
kafka::HandlePtr MakeClientOrReport(rd_kafka_type_t type, const kafka::Props& props,
                                    const kafka::Props& overrides, int* exit_code) {
  auto conf = kafka::MakeConf(props, overrides);
  if (!conf.ok()) {
    std::cerr << "evserve: " << conf.status().message() << "\n";
    *exit_code = kExitUsage;
    return nullptr;
  }
  auto rk = kafka::MakeHandle(type, std::move(*conf));
  if (!rk.ok()) {
    std::cerr << "evserve: " << rk.status().message() << "\n";
    *exit_code = kExitFailure;
    return nullptr;
  }
  return std::move(*rk);
}

std::string ReadFileOrDie(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int RunModules(const std::string& config_path, const std::vector<std::string>& modules,
               const std::string& instance_id, const std::string& metrics_listen) {
  auto cfg = config::LoadConfigFile(config_path);
  if (!cfg.ok()) {
    std::cerr << "evserve: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  // Signals go to a waiting loop on this thread, never to a handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::unique_ptr<runtime::Module>> mods;
  auto add = [&](ModuleKind kind, const std::string& job) {
    runtime::ModuleSpec spec{kind, job, instance_id, ""};
    if (!metrics_listen.empty() && modules.size() == 1 && modules[0] != "all")
      spec.metrics_listen_override = metrics_listen;
    mods.push_back(std::make_unique<runtime::Module>(spec, *cfg, FactoryFor(kind, job)));
  };
  for (const std::string& m : modules) {
    if (m == "all") {
      add(ModuleKind::kInputAdapter, "");
      for (const config::Job& j : (*cfg)->jobs) add(ModuleKind::kJob, j.name);
      add(ModuleKind::kOutputAdapter, "");
    } else if (m == "input-adapter") {
      add(ModuleKind::kInputAdapter, "");
    } else if (m == "output-adapter") {
      add(ModuleKind::kOutputAdapter, "");
    } else if (m.rfind("job:", 0) == 0) {
      if (!(*cfg)->FindJob(m.substr(4))) {
        std::cerr << "evserve: " << config_path << ": no job named '" << m.substr(4) << "' under jobs:\n";
        return kExitUsage;
      }
      add(ModuleKind::kJob, m.substr(4));
    } else if (m.rfind("pmml-job:", 0) == 0 || m.rfind("spark-job:", 0) == 0 ||
               m.rfind("service-job:", 0) == 0) {
      const std::string type = m.substr(0, m.find('-'));
      const std::string name = m.substr(m.find(':') + 1);
      const config::Job* j = (*cfg)->FindJob(name);
      if (!j || j->type != type) {
        std::cerr << "evserve: " << config_path << ": no job of type " << type << " named '" << name
                  << "' under jobs:\n";
        return kExitUsage;
      }
      add(ModuleKind::kJob, name);
    }
  }
  for (auto& mod : mods) {
    absl::Status s = mod->Start();
    if (!s.ok()) {
      std::cerr << "evserve: cannot start module: " << s.message() << "\n";
      for (auto& m2 : mods) m2->Stop();
      return kExitFailure;
    }
  }
  // Wait for a signal, or for a module to end by itself (fatal error).
  bool any_failed = false;
  for (;;) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    bool stopped = false;
    for (auto& m : mods) stopped = stopped || !m->running();
    if (stopped) {  // a module ended by itself: a fatal error; stop the rest
      any_failed = true;
      break;
    }
  }
  for (auto& m : mods) m->Stop();
  for (auto& m : mods) {
    absl::Status s = m->Wait();
    if (!s.ok()) any_failed = true;
  }
  return any_failed ? kExitFailure : kExitOk;
}

int ConfigValidate(const std::string& file) {
  auto cfg = config::LoadConfigFile(file);
  if (!cfg.ok()) {
    std::cerr << "invalid: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  std::cout << "valid: " << (*cfg)->routes.size() << " route(s), " << (*cfg)->jobs.size()
            << " job(s), " << (*cfg)->outputs.size() << " output(s)\n";
  return kExitOk;
}

int ConfigPush(const std::string& file, const std::string& bootstrap_config,
               const std::vector<std::string>& modules_in, bool validate, long version) {
  bool ok = false;
  std::string text = ReadFileOrDie(file, &ok);
  if (!ok) {
    std::cerr << "evserve: cannot read '" << file << "'\n";
    return kExitUsage;
  }
  auto parsed = config::ParseConfig(text);
  if (validate && !parsed.ok()) {
    std::cerr << "evserve: " << file << ": " << parsed.status().message()
              << "\n(not pushed; --no-validate pushes it anyway, and the modules will reject it)\n";
    return kExitUsage;
  }
  // Where to push: the cluster and topic of the bootstrap config (defaults
  // to the pushed file itself).
  std::shared_ptr<const config::Config> where;
  if (!bootstrap_config.empty()) {
    auto b = config::LoadConfigFile(bootstrap_config);
    if (!b.ok()) {
      std::cerr << "evserve: " << b.status().message() << "\n";
      return kExitUsage;
    }
    where = *b;
  } else if (parsed.ok()) {
    where = *parsed;
  } else {
    std::cerr << "evserve: an invalid document needs --bootstrap-config to say where to push it\n";
    return kExitUsage;
  }
  std::vector<std::string> modules = modules_in;
  if (modules.empty()) {
    const config::Config& c = parsed.ok() ? **parsed : *where;
    modules.push_back(c.input_adapter.name);
    modules.push_back(c.output_adapter.name);
    for (const config::Job& j : c.jobs) modules.push_back(j.module.name);
  }
  absl::Status s = kafka::EnsureTopics(where->internal, {{where->topics.config, 1, true}});
  if (!s.ok()) {
    std::cerr << "evserve: " << s.message() << "\n";
    return kExitFailure;
  }
  // Version: the document's own, else one more than the highest pushed.
  if (version <= 0 && parsed.ok()) version = (*parsed)->version;
  if (version <= 0) {
    auto all = kafka::ReadAll(where->internal, where->topics.config);
    long max_v = 0;
    if (all.ok())
      for (const auto& r : *all) {
        auto c = config::ParseConfig(r.value);
        if (c.ok()) max_v = std::max<long>(max_v, (*c)->version);
      }
    version = max_v + 1;
  }
  if (!parsed.ok() || (*parsed)->version != version) {
    if (parsed.ok() && (*parsed)->version != 0) {
      std::cerr << "evserve: the document says version " << (*parsed)->version << " but --version is "
                << version << "\n";
      return kExitUsage;
    }
    text = absl::StrCat("version: ", version, "\n", text);
  }
  int rc = kExitOk;
  kafka::HandlePtr rk = MakeClientOrReport(RD_KAFKA_PRODUCER, where->internal, {{"linger.ms", "0"}}, &rc);
  if (!rk) return rc;
  for (const std::string& m : modules) {
    kafka::OutRecord r;
    r.topic = where->topics.config;
    r.key = m;
    r.has_key = true;
    r.value = text;
    s = kafka::Produce(rk.get(), r, nullptr);
    if (!s.ok()) {
      std::cerr << "evserve: " << s.message() << "\n";
      return kExitFailure;
    }
  }
  if (rd_kafka_flush(rk.get(), 15000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::cerr << "evserve: the config could not be delivered within 15 s\n";
    return kExitFailure;
  }
  std::cout << "pushed version " << version << " to '" << where->topics.config << "' for "
            << modules.size() << " module(s):";
  for (const auto& m : modules) std::cout << " " << m;
  std::cout << "\n(outcomes appear on '" << where->topics.status << "'; see: evserve config get)\n";
  return kExitOk;
}

int ConfigGet(const std::string& bootstrap_config, const std::string& module, bool show_doc) {
  auto b = config::LoadConfigFile(bootstrap_config);
  if (!b.ok()) {
    std::cerr << "evserve: " << b.status().message() << "\n";
    return kExitUsage;
  }
  const config::Config& c = **b;
  auto status = kafka::ReadAll(c.internal, c.topics.status);
  auto docs = kafka::ReadAll(c.internal, c.topics.config);
  if (!status.ok() || !docs.ok()) {
    std::cerr << "evserve: " << (!status.ok() ? status.status() : docs.status()).message() << "\n";
    return kExitFailure;
  }
  // Latest config outcome per module, and documents by (module, version).
  std::map<std::string, std::string> last_status;
  std::map<std::string, std::string> applied_version;
  codec::JsonDecoder json(64);
  for (const auto& r : *status) {
    Record rec;
    EventError err;
    if (!json.Decode(r.value, &rec, &err)) continue;
    const Value* ev = rec.Find("event");
    const Value* oc = rec.Find("outcome");
    const Value* v = rec.Find("version");
    if (!ev || ev->as_string() != "config" || !oc || !v) continue;
    last_status[r.key] = r.value;
    if (oc->as_string() == "applied" || oc->as_string() == "recovered")
      applied_version[r.key] = v->DebugString();
  }
  std::map<std::pair<std::string, std::string>, std::string> doc_by_version;
  for (const auto& r : *docs) {
    auto p = config::ParseConfig(r.value);
    if (p.ok()) doc_by_version[{r.key, std::to_string((*p)->version)}] = r.value;
  }
  std::set<std::string> names;
  for (const auto& [k, _] : last_status) names.insert(k);
  for (const auto& r : *docs) names.insert(r.key);
  int shown = 0;
  for (const std::string& n : names) {
    if (!module.empty() && n != module) continue;
    ++shown;
    auto av = applied_version.find(n);
    std::cout << n << ": active version " << (av == applied_version.end() ? "(none reported)" : av->second)
              << "\n";
    auto ls = last_status.find(n);
    if (ls != last_status.end()) std::cout << "  last outcome: " << ls->second << "\n";
    if (show_doc && av != applied_version.end()) {
      auto d = doc_by_version.find({n, av->second});
      if (d != doc_by_version.end()) std::cout << "---\n" << d->second << "\n---\n";
    }
  }
  if (shown == 0) {
    std::cerr << "evserve: no config pushed or reported" << (module.empty() ? "" : " for " + module) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int TopicsCreate(const std::string& config_path, int partitions) {
  auto cfg = config::LoadConfigFile(config_path);
  if (!cfg.ok()) {
    std::cerr << "evserve: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  const config::Config& c = **cfg;
  std::vector<kafka::TopicSpec> internal = {{c.topics.config, 1, true}, {c.topics.status, 1, false},
                                            {c.topics.dlq, partitions, false},
                                            {c.topics.results, partitions, false},
                                            {c.topics.models, 1, true}};
  for (const config::Job& j : c.jobs) internal.push_back({c.topics.requests_prefix + j.name, partitions, false});
  std::vector<kafka::TopicSpec> external;
  for (const config::Route& r : c.routes) external.push_back({r.source, partitions, false});
  for (const config::Output& o : c.outputs) {
    external.push_back({o.topic, partitions, false});
    if (!o.match.shadow.has_value()) external.push_back({o.topic + c.shadow_topic_suffix, partitions, false});
  }
  for (auto* group : {&internal, &external}) {
    absl::Status s = kafka::EnsureTopics(group == &internal ? c.internal : c.external, *group);
    if (!s.ok()) {
      std::cerr << "evserve: " << s.message() << "\n";
      return kExitFailure;
    }
    for (const auto& t : *group)
      std::cout << (group == &internal ? "internal " : "external ") << t.name << "\n";
  }
  return kExitOk;
}

int Send(const SendOptions& o) {
  int rc = kExitOk;
  kafka::HandlePtr rk = MakeClientOrReport(RD_KAFKA_PRODUCER, {{"bootstrap.servers", o.bootstrap}},
                                           {{"linger.ms", "5"}}, &rc);
  if (!rk) return rc;
  kafka::OutRecord base;
  base.topic = o.topic;
  base.has_key = !o.key.empty();
  base.key = o.key;
  for (const std::string& h : o.headers) {
    auto eq = h.find('=');
    if (eq == std::string::npos) {
      std::cerr << "evserve: --header must be name=value, got '" << h << "'\n";
      return kExitUsage;
    }
    base.headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
  }
  long sent = 0;
  auto send_one = [&](const std::string& v) -> bool {
    kafka::OutRecord r = base;
    r.value = v;
    absl::Status s = kafka::Produce(rk.get(), r, nullptr);
    if (!s.ok()) {
      std::cerr << "evserve: " << s.message() << "\n";
      return false;
    }
    ++sent;
    return true;
  };
  std::vector<std::string> values = o.values;
  if (!o.file.empty()) {
    bool ok = false;
    values.push_back(ReadFileOrDie(o.file, &ok));
    if (!ok) {
      std::cerr << "evserve: cannot read '" << o.file << "'\n";
      return kExitUsage;
    }
  }
  for (const auto& v : values)
    if (!send_one(v)) return kExitFailure;
  if (o.lines_from_stdin) {
    std::string line;
    while (std::getline(std::cin, line))
      if (!line.empty() && !send_one(line)) return kExitFailure;
  }
  if (rd_kafka_flush(rk.get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(rk.get()) > 0) {
    std::cerr << "evserve: not every record was delivered within 30 s (is Kafka at " << o.bootstrap << "?)\n";
    return kExitFailure;
  }
  std::cerr << "sent " << sent << " record(s) to " << o.topic << "\n";
  return kExitOk;
}

int Tail(const TailOptions& o) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int rc = kExitOk;
  kafka::HandlePtr rk = MakeClientOrReport(
      RD_KAFKA_CONSUMER, {{"bootstrap.servers", o.bootstrap}},
      {{"group.id", "evs-tail"}, {"enable.auto.commit", "false"}, {"enable.partition.eof", "false"}}, &rc);
  if (!rk) return rc;
  auto assigned = kafka::AssignWholeTopic(
      rk.get(), o.topic, o.from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END, 10000);
  if (!assigned.ok()) {
    std::cerr << "evserve: " << assigned.status().message() << "\n";
    return kExitFailure;
  }
  long n = 0;
  auto start = std::chrono::steady_clock::now();
  while (o.count < 0 || n < o.count) {
    if (o.timeout_s >= 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > o.timeout_s)
      break;
    timespec zero{0, 0};
    int sig = sigtimedwait(&set, nullptr, &zero);
    if (sig == SIGINT || sig == SIGTERM) break;
    kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    if (m->err) continue;
    kafka::InRecord in(m.get());
    std::string line;
    if (o.keys) line += absl::StrCat(AV(in.key()), "\t");
    if (o.headers) {
      for (const auto& [k, v] : in.Headers()) line += absl::StrCat(k, "=", v, " ");
      line += "\t";
    }
    line += std::string(in.value());
    std::cout << line << "\n" << std::flush;
    ++n;
  }
  rd_kafka_consumer_close(rk.get());
  if (o.count >= 0 && n < o.count) {
    std::cerr << "evserve: read " << n << " of " << o.count << " record(s) before the timeout\n";
    return kExitTimeout;
  }
  return kExitOk;
}

}  // namespace evs::cli
