#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "transform/expr.h"
#include "transform/transform.h"

namespace evs::config {

// The deployment description (one YAML document). Parsed and validated
// completely by ParseConfig; a Config that exists is valid. Immutable after
// parsing and shared between threads through shared_ptr<const Config>.

enum class Guarantee { kAtLeastOnce, kExactlyOnce };
enum class Format { kJson, kCsv, kText };

// librdkafka properties passed through untouched (bootstrap.servers, TLS,
// SASL, ...).
using KafkaProps = std::map<std::string, std::string>;

struct Topics {
  std::string requests_prefix = "evs.requests.";
  std::string results = "evs.results";
  std::string config = "evs.config";
  std::string models = "evs.models";
  std::string status = "evs.status";
  std::string dlq = "evs.dlq";
};

struct Limits {
  uint32_t max_event_bytes = 1 << 20;  // larger values are dead-lettered (oversize)
  uint32_t max_depth = 64;             // JSON nesting limit
};

struct ModuleSettings {
  std::string name;             // instance name: key in evs.config, label in metrics
  std::string group;            // consumer group id
  std::string metrics_listen = "127.0.0.1:0";  // host:port of /metrics etc.
  uint32_t max_in_flight = 100000;  // records awaiting delivery; pause above, resume below half
  uint32_t txn_max_records = 1000;  // exactly-once: records per transaction
  uint32_t txn_max_ms = 100;        // exactly-once: longest a transaction stays open
};

// A spark job's pipeline and how events and results map onto its columns.
struct SparkJob {
  std::string model;  // registry name of the one pipeline the job serves
  // Pipeline input column -> event field; columns not listed read the field
  // of the same name.
  std::map<std::string, std::string> inputs;
  // Result outputs: pipeline columns, or the conventions' names (the label
  // column, "probability(<label>)", "cluster"). Empty: the conventions'
  // outputs plus "prediction".
  std::vector<std::string> outputs;
  // Output name -> key in the result's "outputs" object (default: the name).
  std::map<std::string, std::string> output_names;
};

struct Job {
  std::string name;
  std::string type;  // "echo" (returns its features), "pmml" or "spark"
  ModuleSettings module;
  uint32_t keep_versions = 3;  // pmml, spark: model versions kept loaded per model (rollback, pins)
  SparkJob spark;              // type spark
};

struct Variant {
  std::string name;
  std::string job;
  std::string model;   // model name (or name@version) put into evs-model
  double weight = 0;   // share of traffic among non-shadow variants
  bool shadow = false; // shadow variants get a copy of every event
};

struct CsvOptions {
  std::vector<std::string> columns;
  char delimiter = ',';
};

struct Route {
  std::string name;
  std::string source;   // external topic
  Format format = Format::kJson;
  CsvOptions csv;
  std::string text_field = "text";
  std::shared_ptr<const transform::Expr> when;  // optional predicate
  std::string split_field;  // empty: split on the Kafka key
  std::string salt;         // defaults to the route name
  std::shared_ptr<const transform::TransformChain> transform;
  std::vector<Variant> variants;
};

struct OutputMatch {
  std::string route, model, variant;  // empty: any
  std::optional<bool> shadow;         // unset: any
};

struct Output {
  std::string name;
  OutputMatch match;
  std::string topic;
  std::shared_ptr<const transform::TransformChain> transform;
  // What to attach from headers: id, model, version, variant, route, shadow, digest.
  std::vector<std::string> attach;
  // Request (input) fields to copy into the result.
  std::vector<std::string> attach_fields;
};

struct Config {
  int64_t version = 0;  // 0 when the document does not set one
  KafkaProps external;
  KafkaProps internal;
  Topics topics;
  Limits limits;
  Guarantee guarantee = Guarantee::kAtLeastOnce;
  ModuleSettings input_adapter;   // name defaults to "input-adapter"
  ModuleSettings output_adapter;  // name defaults to "output-adapter"
  std::string shadow_topic_suffix = ".shadow";  // default topic for shadow results
  std::vector<Route> routes;
  std::vector<Job> jobs;
  std::vector<Output> outputs;
  std::string source_text;  // the YAML document as given

  const Job* FindJob(const std::string& name) const;
};

// Parses and validates one YAML document. Every error names the offending key
// by path (e.g. "routes[1].variants[0].weight: must be >= 0").
absl::StatusOr<std::shared_ptr<const Config>> ParseConfig(const std::string& yaml_text);
absl::StatusOr<std::shared_ptr<const Config>> LoadConfigFile(const std::string& path);

const char* GuaranteeName(Guarantee g);

// The top-level `version:` of a document that may be invalid (0 when absent
// or unreadable), so a rejection can name the version it rejects.
int64_t PeekVersion(const std::string& yaml_text);

}  // namespace evs::config
