#include "config/config.h"

#include "gtest/gtest.h"

namespace evs::config {
namespace {

constexpr char kGood[] = R"(
version: 7
guarantee: exactly-once
kafka:
  external: {bootstrap.servers: "ext:9092", security.protocol: SSL}
  internal: {bootstrap.servers: "int:9092"}
limits: {max_event_bytes: 1000}
input_adapter: {name: ia, max_in_flight: 100}
jobs:
  j1: {type: echo}
routes:
  - name: r
    source: events
    format: csv
    csv: {columns: [a, b], delimiter: ";"}
    when: "a > 1"
    split_field: b
    transform: [{derive: {c: "a * 2"}}]
    variants:
      - {name: x, job: j1, model: m1, weight: 3}
      - {job: j1, model: m2, weight: 1}
      - {name: s, job: j1, model: m3, shadow: true}
outputs:
  - name: o
    match: {route: r, shadow: false}
    topic: preds
    transform: [{round: {c: 2}}]
    attach: [id, model]
    attach_fields: [a]
)";

TEST(ConfigTest, ParsesEverySection) {
  auto c = ParseConfig(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  const Config& cfg = **c;
  EXPECT_EQ(cfg.version, 7);
  EXPECT_EQ(cfg.guarantee, Guarantee::kExactlyOnce);
  EXPECT_EQ(cfg.external.at("security.protocol"), "SSL");
  EXPECT_EQ(cfg.internal.at("bootstrap.servers"), "int:9092");
  EXPECT_EQ(cfg.limits.max_event_bytes, 1000u);
  EXPECT_EQ(cfg.input_adapter.name, "ia");
  EXPECT_EQ(cfg.input_adapter.group, "evs-ia");
  EXPECT_EQ(cfg.output_adapter.name, "output-adapter");
  ASSERT_EQ(cfg.routes.size(), 1u);
  const Route& r = cfg.routes[0];
  EXPECT_EQ(r.format, Format::kCsv);
  EXPECT_EQ(r.csv.delimiter, ';');
  EXPECT_EQ(r.salt, "r");
  EXPECT_EQ(r.split_field, "b");
  ASSERT_EQ(r.variants.size(), 3u);
  EXPECT_EQ(r.variants[1].name, "m2");  // defaults to the model name
  EXPECT_TRUE(r.variants[2].shadow);
  ASSERT_NE(r.when, nullptr);
  ASSERT_EQ(cfg.outputs.size(), 1u);
  EXPECT_EQ(cfg.outputs[0].match.shadow, std::optional<bool>(false));
  ASSERT_NE(cfg.FindJob("j1"), nullptr);
  EXPECT_EQ(cfg.FindJob("j1")->module.group, "evs-job-j1");
}

struct BadCase {
  const char* yaml;
  const char* expect;  // substring of the error, naming the key
};

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, RejectedNamingTheKey) {
  auto c = ParseConfig(GetParam().yaml);
  ASSERT_FALSE(c.ok()) << GetParam().yaml;
  EXPECT_NE(std::string(c.status().message()).find(GetParam().expect), std::string::npos)
      << c.status().message();
}

#define JOBS "jobs: {j: {type: echo}}\n"
INSTANTIATE_TEST_SUITE_P(
    All, BadConfigTest,
    ::testing::Values(
        BadCase{"routes: [\n", "YAML syntax error at line"},
        BadCase{"", "the config document is empty"},
        BadCase{"# only a comment\n", "the config document is empty"},
        BadCase{"- a\n- b\n", "must be a map"},
        BadCase{"routez: []\n", "routez: unknown key"},
        BadCase{"jobs: {p: {type: onnx}}\n", "jobs.p.type: unknown job type 'onnx' (expected echo, pmml, spark or service)"},
        BadCase{"jobs: {p: {type: pmml, keep_versions: 0}}\n", "jobs.p.keep_versions: must be 1 .. 100"},
        BadCase{"jobs: {p: {type: echo, keep_versions: 2}}\n", "jobs.p.keep_versions: only pmml and spark jobs"},
        BadCase{"jobs: {s: {type: spark}}\n", "jobs.s.model: is required"},
        BadCase{"jobs: {p: {type: pmml, model: m}}\n", "jobs.p.model: only spark jobs take this key"},
        BadCase{"jobs: {s: {type: spark, model: 'a b'}}\n", "jobs.s.model: 'a b' is not a model name"},
        BadCase{"jobs: {s: {type: spark, model: m, inputs: [text]}}\n", "jobs.s.inputs: must be a map"},
        BadCase{"jobs: {s: {type: spark, model: m, outputs: [a, a]}}\n", "jobs.s.outputs[1]: duplicate output 'a'"},
        BadCase{"jobs: {s: {type: spark, model: m, outputs: [a], output_names: {b: c}}}\n",
                "jobs.s.output_names.b: is not one of the job's outputs"},
        BadCase{"jobs: {s: {type: spark, model: m, output_names: {a: x, b: x}}}\n",
                "jobs.s.output_names.b: result key 'x' is used twice"},
        BadCase{"jobs: {s: {type: spark, model: m}}\nroutes:\n  - {name: r, source: s, variants: [{job: s, model: n, weight: 1}]}\n",
                "routes[0].variants[0].model: job 's' serves model 'm', not 'n'"},
#define SVC(body) "jobs:\n  v:\n    type: service\n    service: {url: 'http://h:1', model: iris, " body "}\n"
        BadCase{"jobs: {v: {type: service}}\n", "jobs.v.service: is required"},
        BadCase{"jobs: {v: {type: pmml, service: {}}}\n", "jobs.v.service: only service jobs take this key"},
        BadCase{"jobs: {v: {type: service, service: {model: m, fields: [a]}}}\n", "jobs.v.service.url: is required"},
        BadCase{"jobs: {v: {type: service, service: {url: 'h:1', model: m, fields: [a]}}}\n",
                "jobs.v.service.url: 'h:1' must start with http:// or https://"},
        BadCase{SVC("fields: [a], protocol: grpc"), "jobs.v.service.protocol: unknown protocol 'grpc'"},
        BadCase{SVC("fields: [a], tf_format: inputs"), "jobs.v.service.tf_format: only the tf-serving protocol"},
        BadCase{SVC("fields: [a], inputs: [{fields: [b]}]"), "jobs.v.service.fields: give either fields"},
        BadCase{SVC("batch: {max_size: 4}"), "jobs.v.service.inputs: is required (or fields:"},
        BadCase{SVC("fields: [a], batch: {max_size: 0}"), "jobs.v.service.batch.max_size: must be"},
        BadCase{SVC("fields: [a], batch: {size: 3}"), "jobs.v.service.batch.size: unknown key"},
        BadCase{SVC("fields: [a], retry: {initial_backoff_ms: 500, max_backoff_ms: 100}"),
                "jobs.v.service.retry.max_backoff_ms: must be >= initial_backoff_ms"},
        BadCase{SVC("fields: [a], on_exhausted: drop"), "jobs.v.service.on_exhausted: unknown value 'drop'"},
        BadCase{SVC("inputs: [{name: x, datatype: FP128, fields: [a]}]"), "jobs.v.service.inputs[0].datatype: unknown datatype 'FP128'"},
        BadCase{SVC("inputs: [{name: x, shape: [3], fields: [a, b]}]"), "jobs.v.service"},
        BadCase{SVC("fields: [a], outputs: {p: x, q: x}"), "jobs.v.service.outputs.q: result field 'x' is used twice"},
        BadCase{"guarantee: exactly-once\n" SVC("fields: [a]"), "a service job runs at-least-once only"},
        BadCase{SVC("fields: [a]") "routes:\n  - {name: r, source: s, variants: [{job: v, model: iris@2, weight: 1}]}\n",
                "routes[0].variants[0].model: job 'v' serves model 'iris', not 'iris@2'"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, colour: red, variants: [{job: j, model: m, weight: 1}]}\n",
                "routes[0].colour: unknown key"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: heavy}]}\n",
                "routes[0].variants[0].weight: must be a finite number"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: -2}]}\n",
                "routes[0].variants[0].weight: must be >= 0"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: 0}]}\n",
                "routes[0].variants: the weights of the non-shadow variants must add up"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: k, model: m, weight: 1}]}\n",
                "routes[0].variants[0].job: unknown job 'k'"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: 1}]}\n"
                     "  - {name: r, source: t, variants: [{job: j, model: m, weight: 1}]}\n",
                "routes[1].name: duplicate route name 'r'"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: 1}, {job: j, model: m, weight: 1}]}\n",
                "routes[0].variants[1].name: duplicate variant name 'm'"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: []}\n", "routes[0].variants: must be a non-empty list"},
        BadCase{JOBS "routes:\n  - {name: r, variants: [{job: j, model: m, weight: 1}]}\n", "routes[0].source: is required"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, format: xml, variants: [{job: j, model: m, weight: 1}]}\n",
                "routes[0].format: unknown format 'xml'"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, format: csv, variants: [{job: j, model: m, weight: 1}]}\n",
                "routes[0].csv.columns: is required"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, when: 'a >', variants: [{job: j, model: m, weight: 1}]}\n",
                "routes[0].when:"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, transform: [{cast: {x: flot}}], variants: [{job: j, model: m, weight: 1}]}\n",
                "routes[0].transform[0].cast.x"},
        BadCase{JOBS "routes:\n  - {name: r, source: s, variants: [{job: j, model: m, weight: 1, shadow: maybe}]}\n",
                "routes[0].variants[0].shadow: must be true or false"},
        BadCase{"guarantee: sometimes\n", "guarantee: unknown value 'sometimes'"},
        BadCase{"jobs: {j: {type: magic}}\n", "jobs.j.type: unknown job type 'magic'"},
        BadCase{"jobs: {j: {}}\n", "jobs.j.type: is required"},
        BadCase{"limits: {max_event_bytes: -5}\n", "limits.max_event_bytes: must be an integer"},
        BadCase{"kafka: {external: {bootstrap.servers: [a, b]}}\n", "kafka.external.bootstrap.servers: librdkafka properties must be scalars"},
        BadCase{"outputs:\n  - {name: o, topic: t, attach: [colour]}\n", "outputs[0].attach[0]: unknown item 'colour'"},
        BadCase{"outputs:\n  - {name: o}\n", "outputs[0].topic: is required"},
        BadCase{"input_adapter: {metrics_listen: 9100}\n", "input_adapter.metrics_listen: must be host:port"},
        BadCase{"input_adapter: {name: x}\noutput_adapter: {name: x}\n", "output_adapter.name: duplicate module name"}));

TEST(ConfigTest, PmmlJobKeepsThreeVersionsByDefault) {
  auto c = ParseConfig("jobs: {p: {type: pmml}, q: {type: pmml, keep_versions: 5}}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->FindJob("p")->type, "pmml");
  EXPECT_EQ((*c)->FindJob("p")->keep_versions, 3u);
  EXPECT_EQ((*c)->FindJob("q")->keep_versions, 5u);
}

TEST(ConfigTest, SparkJobMapsInputsOutputsAndNames) {
  auto c = ParseConfig(
      "jobs:\n  s: {type: spark, model: tweets, keep_versions: 2, inputs: {text: tweet},\n"
      "      outputs: [label, prediction], output_names: {label: sentiment}}\n"
      "routes:\n  - {name: r, source: t, variants: [{job: s, model: tweets, weight: 1},\n"
      "                                            {job: s, model: tweets@2, weight: 1}]}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const Job* j = (*c)->FindJob("s");
  EXPECT_EQ(j->type, "spark");
  EXPECT_EQ(j->keep_versions, 2u);
  EXPECT_EQ(j->spark.model, "tweets");
  EXPECT_EQ(j->spark.inputs.at("text"), "tweet");
  EXPECT_EQ(j->spark.outputs, (std::vector<std::string>{"label", "prediction"}));
  EXPECT_EQ(j->spark.output_names.at("label"), "sentiment");
}

TEST(ConfigTest, ServiceJobDefaultsAndEveryKey) {
  auto c = ParseConfig(
      "jobs:\n  v:\n    type: service\n    service:\n      url: http://127.0.0.1:8080/\n      model: iris\n"
      "      fields: [a, b]\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const ServiceJob& d = (*c)->FindJob("v")->service;
  EXPECT_EQ(d.protocol, "v2");
  EXPECT_EQ(d.url, "http://127.0.0.1:8080");  // trailing slash dropped
  EXPECT_EQ(d.batch_max_size, 1u);
  EXPECT_EQ(d.max_retries, 5u);
  EXPECT_TRUE(d.dead_letter_on_exhausted);

  c = ParseConfig(
      "jobs:\n  v:\n    type: service\n    service:\n      protocol: tf-serving\n      tf_format: inputs\n"
      "      url: https://models:8501\n      model: iris\n      version: '3'\n"
      "      inputs:\n        - {name: x, datatype: FP32, shape: [2, 2], fields: [a, b, c, d]}\n"
      "        - {name: k, datatype: BYTES, fields: [e]}\n"
      "      outputs: {scores: score, classes: label}\n"
      "      batch: {max_size: 32, max_delay_ms: 7}\n      max_requests_in_flight: 8\n"
      "      max_queued_records: 500\n      timeouts: {connect_ms: 100, try_ms: 200, overall_ms: 300}\n"
      "      retry: {max_retries: 2, initial_backoff_ms: 10, max_backoff_ms: 20}\n"
      "      breaker: {failure_threshold: 3, open_ms: 400}\n      on_exhausted: wait\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const ServiceJob& s = (*c)->FindJob("v")->service;
  EXPECT_EQ(s.protocol, "tf-serving");
  EXPECT_EQ(s.tf_format, "inputs");
  EXPECT_EQ(s.version, "3");
  ASSERT_EQ(s.inputs.size(), 2u);
  EXPECT_EQ(s.inputs[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(s.inputs[1].datatype, "BYTES");
  EXPECT_TRUE(s.inputs[1].shape.empty());  // one field: a scalar per record
  ASSERT_EQ(s.outputs.size(), 2u);
  EXPECT_EQ(s.outputs[0], (std::pair<std::string, std::string>{"scores", "score"}));  // document order
  EXPECT_EQ(s.batch_max_size, 32u);
  EXPECT_EQ(s.batch_max_delay_ms, 7u);
  EXPECT_EQ(s.max_requests_in_flight, 8u);
  EXPECT_EQ(s.max_queued_records, 500u);
  EXPECT_EQ(s.connect_timeout_ms, 100u);
  EXPECT_EQ(s.try_timeout_ms, 200u);
  EXPECT_EQ(s.overall_timeout_ms, 300u);
  EXPECT_EQ(s.max_retries, 2u);
  EXPECT_EQ(s.backoff_initial_ms, 10u);
  EXPECT_EQ(s.backoff_max_ms, 20u);
  EXPECT_EQ(s.breaker_failure_threshold, 3u);
  EXPECT_EQ(s.breaker_open_ms, 400u);
  EXPECT_FALSE(s.dead_letter_on_exhausted);
}

TEST(ConfigTest, PeekVersionReadsInvalidDocuments) {
  EXPECT_EQ(PeekVersion("version: 12\nroutez: []\n"), 12);
  EXPECT_EQ(PeekVersion("routes: [\n"), 0);
}

}  // namespace
}  // namespace evs::config
