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

// A service job's model server, the mapping between events and tensors,
// and its batching, timeout, retry and circuit-breaker settings.
struct ServiceInput {
  std::string name;                 // tensor name (v2; TF: key of a named input)
  std::string datatype = "FP64";    // v2 datatype name
  std::vector<int64_t> shape;       // per-record shape; empty: [fields.size()] (or scalar for 1 field)
  std::vector<std::string> fields;  // event fields, row-major
  bool operator==(const ServiceInput&) const = default;
};
struct ServiceJob {
  std::string protocol = "v2";  // "v2" (Open Inference Protocol) or "tf-serving" (also KServe v1)
  std::string url;              // http://host:port of the model server
  std::string model;            // the model's name on the server (also what routes name)
  std::string version;          // server-side version; empty: the server's default
  std::string tf_format = "instances";  // tf-serving: "instances" (row) or "inputs" (columnar)
  // Input tensors. Empty: one tensor of `fields`, name and datatype from the
  // server's v2 metadata when it declares exactly one input (else "input-0",
  // FP64; unnamed for tf-serving).
  std::vector<ServiceInput> inputs;
  std::vector<std::string> fields;
  // Response tensor -> result field, in order. Empty: see service::Codec.
  std::vector<std::pair<std::string, std::string>> outputs;
  uint32_t batch_max_size = 1;       // records per request (per partition)
  uint32_t batch_max_delay_ms = 5;   // longest a partial batch waits
  uint32_t max_requests_in_flight = 4;
  uint32_t max_queued_records = 10000;  // records held (queued or in flight); pause above
  uint32_t connect_timeout_ms = 1000;
  uint32_t try_timeout_ms = 5000;       // one HTTP exchange
  uint32_t overall_timeout_ms = 60000;  // a batch's first try to its last
  uint32_t max_retries = 5;             // tries after the first
  uint32_t backoff_initial_ms = 100;    // doubled per retry, full jitter
  uint32_t backoff_max_ms = 5000;
  uint32_t breaker_failure_threshold = 5;  // consecutive failed tries that open the breaker
  uint32_t breaker_open_ms = 2000;         // between readiness probes while open
  bool dead_letter_on_exhausted = true;    // on_exhausted: dead-letter (true) or wait
  bool operator==(const ServiceJob&) const = default;
};

struct Job {
  std::string name;
  std::string type;  // "echo" (returns its features), "pmml", "spark" or "service"
  ModuleSettings module;
  uint32_t keep_versions = 3;  // pmml, spark: model versions kept loaded per model (rollback, pins)
  SparkJob spark;              // type spark
  ServiceJob service;          // type service
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
