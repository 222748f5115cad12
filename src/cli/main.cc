// evserve: one binary, a subcommand per module and operator command. This
// file only parses arguments and calls into src/cli/commands.
#include <unistd.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/commands.h"
#include "cli/model_commands.h"
#include "cli/score.h"
#include "common/fmt_compat.h"
#include "models/registry.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace evs::cli;  // NOLINT: local to main
  CLI::App app{"evserve: serve machine-learning models on Kafka event streams"};
  app.set_version_flag("--version", std::string("evserve ") + EVS_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();

  std::string config_path, instance, metrics_listen;
  auto module_cmd = [&](const std::string& name, const std::string& help) {
    CLI::App* c = app.add_subcommand(name, help);
    c->add_option("--config,-c", config_path, "deployment YAML (bootstrap: the config topic's latest good version wins)")
        ->required()->check(CLI::ExistingFile);
    c->add_option("--instance", instance, "instance id, distinct per running copy (exactly-once transactional.id)");
    c->add_option("--metrics-listen", metrics_listen, "host:port of /metrics, /healthz, /readyz, /status (overrides the config)");
    return c;
  };
  CLI::App* ia = module_cmd("input-adapter", "Route, split and transform user events into job request topics");
  CLI::App* oa = module_cmd("output-adapter", "Route and transform results into user topics");
  std::string job_name;
  CLI::App* echo = module_cmd("echo-job", "Run an echo job (returns each request's features as the result; for testing the path)");
  echo->add_option("--job", job_name, "the job's name under jobs:")->required();
  CLI::App* pmml = module_cmd("pmml-job", "Run a PMML job: evaluate requests with the models of the registry topic (added, updated, deleted and rolled back online)");
  pmml->add_option("--job", job_name, "the job's name under jobs: (type: pmml)")->required();
  CLI::App* spark = module_cmd("spark-job", "Run a Spark job: evaluate requests natively with the Spark MLlib pipeline the job names (model from the registry topic, replaced online)");
  spark->add_option("--job", job_name, "the job's name under jobs: (type: spark)")->required();
  CLI::App* service = module_cmd("service-job", "Run a service job: call a model behind an external model server (TensorFlow Serving REST / KServe v1, or Open Inference Protocol v2: KServe, MLServer, Triton) with micro-batching, timeouts, retries and a circuit breaker");
  service->add_option("--job", job_name, "the job's name under jobs: (type: service)")->required();
  CLI::App* run = module_cmd("run", "Run every module of the config in one process (still connected through Kafka)");

  CLI::App* cfg = app.add_subcommand("config", "Push, show and validate configs");
  cfg->require_subcommand(1);
  std::string file, bootstrap_config, module;
  std::vector<std::string> modules;
  bool no_validate = false, show_doc = false;
  long version = 0;
  CLI::App* push = cfg->add_subcommand("push", "Publish a config document to the config topic for its modules");
  push->add_option("file", file, "YAML document")->required()->check(CLI::ExistingFile);
  push->add_option("--bootstrap-config", bootstrap_config, "config naming the cluster and topic to push to (default: the document)");
  push->add_option("--module,-m", modules, "module name(s) to push for (default: every module in the document)");
  push->add_flag("--no-validate", no_validate, "push even when local validation fails (the modules will reject it)");
  push->add_option("--version", version, "version to stamp (default: the document's, else highest pushed + 1)");
  CLI::App* get = cfg->add_subcommand("get", "Show the active config version (and document) per module");
  get->add_option("--config,-c", bootstrap_config, "config naming the cluster and topics")->required()->check(CLI::ExistingFile);
  get->add_option("--module,-m", module, "only this module");
  get->add_flag("--doc", show_doc, "print the active document too");
  CLI::App* validate = cfg->add_subcommand("validate", "Validate a config file locally");
  validate->add_option("file", file, "YAML document")->required();

  CLI::App* topics = app.add_subcommand("topics", "Manage topics");
  topics->require_subcommand(1);
  int partitions = 4;
  CLI::App* tcreate = topics->add_subcommand("create", "Create the internal topics and the topics the routes and outputs name");
  tcreate->add_option("--config,-c", config_path, "deployment YAML")->required()->check(CLI::ExistingFile);
  tcreate->add_option("--partitions", partitions, "partitions of new topics")->capture_default_str();

  SendOptions so;
  so.bootstrap = "localhost:9092";
  CLI::App* send = app.add_subcommand("send", "Produce records (values as arguments, --file, or one per stdin line)");
  send->add_option("--bootstrap,-b", so.bootstrap, "Kafka bootstrap servers")->capture_default_str();
  send->add_option("--topic,-t", so.topic, "topic")->required();
  send->add_option("--key,-k", so.key, "record key");
  send->add_option("--header,-H", so.headers, "header name=value (repeatable)");
  send->add_option("--file,-f", so.file, "send the file's content as one record");
  send->add_flag("--lines", so.lines_from_stdin, "send each stdin line as a record");
  send->add_option("values", so.values, "record values");

  TailOptions to;
  to.bootstrap = "localhost:9092";
  CLI::App* tail = app.add_subcommand("tail", "Print records of a topic");
  tail->add_option("--bootstrap,-b", to.bootstrap, "Kafka bootstrap servers")->capture_default_str();
  tail->add_option("--topic,-t", to.topic, "topic")->required();
  tail->add_flag("--from-beginning", to.from_beginning, "start at the oldest record (default: only new ones)");
  tail->add_flag("--headers", to.headers, "print headers before the value");
  tail->add_flag("--keys", to.keys, "print the key before the value");
  tail->add_option("--count,-n", to.count, "stop after this many records (exit 3 if the timeout comes first)");
  tail->add_option("--timeout", to.timeout_s, "stop after this many seconds");

  ModelOptions mo;
  CLI::App* model = app.add_subcommand("model", "Manage the models of the registry topic (served by pmml and spark jobs)");
  model->require_subcommand(1);
  model->footer("Every command needs --config (the deployment YAML naming the cluster, the topics and the "
                "jobs).\nadd/update/delete/rollback then wait for the outcomes of the jobs serving the model (every "
                "pmml job for PMML,\nthe spark jobs naming it for a Spark pipeline) on the status topic and print "
                "them;\nexit 0: every such job of the config applied it, 1: rejected, 3: no job answered in time.");
  auto model_cmd = [&](const std::string& name, const std::string& help) {
    CLI::App* c = model->add_subcommand(name, help);
    c->add_option("--config,-c", mo.config_path, "deployment YAML")->required()->check(CLI::ExistingFile);
    return c;
  };
  auto waits = [&](CLI::App* c) {
    c->add_option("--timeout", mo.timeout_s, "seconds to wait for the jobs' outcomes")->capture_default_str();
    c->add_flag("--no-wait", mo.no_wait, "do not wait for outcomes");
  };
  CLI::App* madd = model_cmd("add", "Add a new model: NAME FILE (a PMML document, or a Spark pipeline zip or directory)");
  CLI::App* mupd = model_cmd("update", "Publish a new version of a model: NAME FILE");
  // An existing path, or an http(s) URL (fetched by the command).
  const CLI::Validator path_or_url(
      [](std::string& v) { return evs::models::IsHttpUrl(v) ? std::string() : CLI::ExistingPath(v); },
      "PATH|URL");
  for (CLI::App* c : {madd, mupd}) {
    c->add_option("name", mo.name, "model name (letters, digits, . _ -)")->required();
    c->add_option("file,--file,-f", mo.file, "PMML file, or Spark PipelineModel zip (or directory, with --by-path); or an http(s) URL of one")
        ->required()->check(path_or_url);
    c->add_option("--format", mo.format, "pmml or spark (default: spark for a zip or a directory, else pmml)")
        ->check(CLI::IsMember({"pmml", "spark"}));
    c->add_option("--version", mo.version, "version number (default: highest published + 1)");
    c->add_flag("--by-path", mo.by_path, "publish the file's absolute path (or the URL) instead of its content (the jobs must be able to read or fetch it)");
    waits(c);
  }
  CLI::App* mdel = model_cmd("delete", "Delete a model with every version (requests for it go to the DLQ, model_not_found)");
  mdel->add_option("name", mo.name, "model name")->required();
  waits(mdel);
  CLI::App* mlist = model_cmd("list", "List the registry's models, their versions and what each job reported");
  CLI::App* mroll = model_cmd("rollback", "Make an earlier version current again (instant while the jobs still hold it)");
  mroll->add_option("name", mo.name, "model name")->required();
  mroll->add_option("--to", mo.version, "version to roll back to (default: the one before the current)");
  waits(mroll);

  ScoreOptions sco;
  bool no_progress = false;
  CLI::App* score = app.add_subcommand("score", "Score a CSV file with a PMML model (one output row per input row)");
  score->add_option("--model,-m", sco.model, "PMML file (.pmml/.xml, or a .zip holding one)")->required();
  score->add_option("--input,-i", sco.input, "input CSV with a header (- = stdin)")->required();
  score->add_option("--output,-o", sco.output, "output CSV (- = stdout)")->required();
  score->add_flag("--strict", sco.strict, "stop at the first row that cannot be evaluated (exit 1)");
  score->add_flag("--no-progress", no_progress, "no progress lines on stderr");
  score->footer(kScoreHelp);
  AddSparkScoreOptions(score, &sco);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(spdlog::default_logger());

  if (*ia) return RunModules(config_path, {"input-adapter"}, instance, metrics_listen);
  if (*oa) return RunModules(config_path, {"output-adapter"}, instance, metrics_listen);
  if (*echo) return RunModules(config_path, {"job:" + job_name}, instance, metrics_listen);
  if (*pmml) return RunModules(config_path, {"pmml-job:" + job_name}, instance, metrics_listen);
  if (*spark) return RunModules(config_path, {"spark-job:" + job_name}, instance, metrics_listen);
  if (*service) return RunModules(config_path, {"service-job:" + job_name}, instance, metrics_listen);
  if (*madd) return ModelAdd(mo, false);
  if (*mupd) return ModelAdd(mo, true);
  if (*mdel) return ModelDelete(mo);
  if (*mlist) return ModelList(mo);
  if (*mroll) return ModelRollback(mo);
  if (*run) return RunModules(config_path, {"all"}, instance, metrics_listen);
  if (*push) return ConfigPush(file, bootstrap_config, modules, !no_validate, version);
  if (*get) return ConfigGet(bootstrap_config, module, show_doc);
  if (*validate) return ConfigValidate(file);
  if (*tcreate) return TopicsCreate(config_path, partitions);
  if (*send) return Send(so);
  if (*tail) return Tail(to);
  if (*score) {
    std::ios::sync_with_stdio(false);  // fast stdin/stdout for "-"
    sco.progress_tty = isatty(STDERR_FILENO) != 0;
    if (no_progress) sco.progress_rows = 0, sco.progress_tty = false;
    return Score(sco, std::cerr);
  }
  return kExitUsage;
}
