// spark_bench: single-thread latency and throughput of the native Spark MLlib
// evaluator (spark::Pipeline) on a saved PipelineModel, the twin of
// tools/spark_fixtures/pyspark_bench.py (PySpark's transform on the same
// rows). bench/run_spark_bench.sh runs both on the benchmark pipelines that
// tools/spark_fixtures/make_fixtures.sh --bench DIR writes (bench_logreg:
// StringIndexer -> OneHotEncoder -> VectorAssembler -> LogisticRegression;
// bench_rf: VectorAssembler -> RandomForestClassifier, 100 trees).
//
// Modes (same method as bench/pmml_bench.cc):
//   slots  each CSV row converted beforehand to the pipeline inputs' values
//          (numbers as doubles, text as strings); per record BeginRow,
//          SetInput for every input, Run, read prediction and probability.
//   json   each row serialized beforehand as a JSON object; per record a
//          reused simdjson parser (as the spark job's) parses it, each key
//          is looked up among the inputs, then SetInput / Run / outputs.
//
// Before timing, the first pass over all rows is checked against the
// expected CSV (label, probability(<label>)...; the label's position in the
// header is the prediction index), numbers within 1e-9 relative, so a wrong
// pipeline is never timed.
//
// Result lines on stdout, tab-separated key=value:
//   result tool=evserve model=NAME mode=slots rows=R batch=B samples=S p50_ns= p99_ns= mean_ns=
//          tput_rps= cpu_rps= errors=

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine_bench.h"
#include "absl/status/status.h"
#include "simdjson.h"
#include "models/model_store.h"
#include "spark/pipeline.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace spark = evs::spark;

using evs::bench::engine::g_sink;
using evs::bench::engine::Csv;
using evs::bench::engine::Measure;
using evs::bench::engine::ParseNumber;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "spark_bench: %s\n", msg.c_str());
  std::exit(1);
}

struct Options {
  std::string model, input, expected, schema, name;
  bool check = true;
  double warmup_seconds = 2.0;
  long latency_records = 200000;
  double throughput_seconds = 3.0;
  int batch = 0;  // 0 = auto
  std::vector<std::string> modes = {"slots", "json"};
};

void Usage() {
  std::puts(
      "Usage: spark_bench --model PIPELINE.zip|DIR --input NAME.input.csv [options]\n"
      "  --schema JSON            Spark StructType of the input columns (NAME.schema.json)\n"
      "  --expected CSV           check the first pass against it (rel. 1e-9); fail if it differs\n"
      "  --no-check               skip that check\n"
      "  --name NAME              model name in the result line (default: file name)\n"
      "  --warmup-seconds S       warm-up per mode (default 2; at least 20000 records)\n"
      "  --latency-records N      records timed for the percentiles (default 200000)\n"
      "  --throughput-seconds S   duration of the throughput loop (default 3)\n"
      "  --batch B                records per latency sample (default: auto, 1 or 64)\n"
      "  --modes slots,json       which input paths to measure (default both)");
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? s.size() - start : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      Usage();
      std::exit(0);
    }
    if (a == "--no-check") {
      o.check = false;
      continue;
    }
    if (i + 1 >= argc) Die(a + " needs a value (see --help)");
    std::string v = argv[++i];
    if (a == "--model") o.model = v;
    else if (a == "--input") o.input = v;
    else if (a == "--expected") o.expected = v;
    else if (a == "--schema") o.schema = v;
    else if (a == "--name") o.name = v;
    else if (a == "--warmup-seconds") o.warmup_seconds = std::atof(v.c_str());
    else if (a == "--latency-records") o.latency_records = std::atol(v.c_str());
    else if (a == "--throughput-seconds") o.throughput_seconds = std::atof(v.c_str());
    else if (a == "--batch") o.batch = v == "auto" ? 0 : std::atoi(v.c_str());
    else if (a == "--modes") o.modes = Split(v, ',');
    else Die("unknown option " + a + " (see --help)");
  }
  if (o.model.empty() || o.input.empty()) Die("--model and --input are required (see --help)");
  if (o.name.empty()) {
    std::string f = o.model.substr(o.model.find_last_of('/') + 1);
    if (f.size() > 4 && f.compare(f.size() - 4, 4, ".zip") == 0) f.resize(f.size() - 4);
    o.name = f;
  }
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) Die("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// ------------------------------------------------------------------ CSV

Csv MustReadCsv(const std::string& path) {
  auto csv = evs::bench::engine::ReadCsv(path);
  if (!csv.ok()) Die(std::string(csv.status().message()));
  return *std::move(csv);
}

// ------------------------------------------------------------------ rows

// One CSV cell, prepared for SetInput: empty = missing, a number = double,
// anything else = text (parsed by the engine as the field's type).
void AppendJsonString(std::string_view s, std::string* out) {
  *out += '"';
  for (char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += c;
        }
    }
  }
  *out += '"';
}

// The row as a JSON object with every CSV column; numbers in their shortest
// round-trip form, empty cells as null.
std::string RowJson(const Csv& csv, const std::vector<std::string>& row) {
  std::string j = "{";
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) j += ',';
    AppendJsonString(csv.header[i], &j);
    j += ':';
    double d;
    if (row[i].empty()) {
      j += "null";
    } else if (ParseNumber(row[i], &d) && std::isfinite(d)) {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      j.append(buf, r.ptr);
    } else {
      AppendJsonString(row[i], &j);
    }
  }
  j += '}';
  return j;
}

// Key -> input index. Events usually carry their keys in the same order
// every time, so the scan starts where the previous key matched: O(1) per key
// in the common case, a linear scan over tens of names otherwise.

// One input value of a row, converted once: what a caller that already
// holds typed values pays per record.
struct Value {
  enum Kind : uint8_t { kNull, kNumber, kText } kind = kNull;
  double num = 0;
  std::string text;
};

class Runner {
 public:
  Runner(const spark::Pipeline& p, const Csv& csv) : p_(p), row_(p.NewRow()) {
    const auto& inputs = p.inputs();
    std::vector<int> col(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      col[i] = csv.Column(inputs[i].name);
      if (col[i] < 0) Die("input column '" + inputs[i].name + "' is not in the CSV");
      names_.push_back(inputs[i].name);
    }
    values_.reserve(csv.rows.size());
    for (const auto& row : csv.rows) {
      std::vector<Value> vals(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        const std::string& s = row[col[i]];
        if (s.empty()) continue;
        if (spark::IsNumeric(inputs[i].type)) {
          if (!ParseNumber(s, &vals[i].num)) Die("'" + s + "' is not a number (" + inputs[i].name + ")");
          vals[i].kind = Value::kNumber;
        } else {
          vals[i].kind = Value::kText;
          vals[i].text = s;
        }
      }
      values_.push_back(std::move(vals));
      std::string j = RowJson(csv, row);
      j.reserve(j.size() + simdjson::SIMDJSON_PADDING);
      json_.push_back(std::move(j));
    }
    prediction_ = p.Find("prediction");
    probability_ = p.Find("probability");
    if (prediction_ < 0) Die("the pipeline has no prediction column");
  }

  size_t rows() const { return values_.size(); }

  absl::Status RunSlots(size_t r) {
    p_.BeginRow(*row_);
    const std::vector<Value>& vals = values_[r];
    for (size_t i = 0; i < vals.size(); ++i) {
      const Value& v = vals[i];
      if (v.kind == Value::kNumber) p_.SetInput(*row_, static_cast<int>(i), v.num);
      else if (v.kind == Value::kText) {
        absl::Status s = p_.SetInput(*row_, static_cast<int>(i), v.text);
        if (!s.ok()) return s;
      }
    }
    return p_.Run(*row_);
  }

  absl::Status RunJson(size_t r) {
    p_.BeginRow(*row_);
    const std::string& text = json_[r];
    simdjson::dom::element root;
    if (parser_.parse(text.data(), text.size(), false).get(root))
      return absl::InvalidArgumentError("invalid JSON");
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return absl::InvalidArgumentError("not an object");
    for (simdjson::dom::key_value_pair kv : obj) {
      const int idx = Find(kv.key);
      if (idx < 0) continue;
      const simdjson::dom::element v = kv.value;
      switch (v.type()) {
        case simdjson::dom::element_type::DOUBLE:
        case simdjson::dom::element_type::INT64:
        case simdjson::dom::element_type::UINT64: {
          double d = 0;
          if (v.get_double().get(d)) return absl::InvalidArgumentError("bad number");
          p_.SetInput(*row_, idx, d);
          break;
        }
        case simdjson::dom::element_type::STRING: {
          absl::Status s = p_.SetInput(*row_, idx, std::string_view(v.get_string().value_unsafe()));
          if (!s.ok()) return s;
          break;
        }
        default: p_.SetNull(*row_, idx);
      }
    }
    return p_.Run(*row_);
  }

  // What a caller reads: the prediction and the probability vector.
  uint64_t Consume() const {
    double h = p_.Get(*row_, prediction_).num;
    if (probability_ >= 0) {
      const spark::Cell& c = p_.Get(*row_, probability_);
      for (double v : c.vec.values) h += v;
    }
    uint64_t bits;
    std::memcpy(&bits, &h, sizeof bits);
    return bits;
  }
  double prediction() const { return p_.Get(*row_, prediction_).num; }
  const spark::Cell* probability() const { return probability_ >= 0 ? &p_.Get(*row_, probability_) : nullptr; }

 private:
  // Keys in the CSV's column order: a rotating hint finds each in one step.
  int Find(std::string_view key) {
    const size_t n = names_.size();
    for (size_t k = 0; k < n; ++k) {
      size_t i = hint_ + k < n ? hint_ + k : hint_ + k - n;
      if (names_[i] == key) {
        hint_ = i + 1 == n ? 0 : i + 1;
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  const spark::Pipeline& p_;
  std::unique_ptr<spark::Row> row_;
  std::vector<std::string> names_;
  size_t hint_ = 0;
  simdjson::dom::parser parser_;
  std::vector<std::vector<Value>> values_;
  std::vector<std::string> json_;
  int prediction_ = -1, probability_ = -1;
};

bool Close(double want, double got) {
  if (want == got) return true;
  const double d = std::fabs(want - got);
  return d <= 1e-9 * std::max(std::fabs(want), std::fabs(got)) || d <= 1e-15;
}

using RunFn = absl::Status (Runner::*)(size_t);

// Expected CSV: label, probability(<label>)... in prediction-index order.
void Check(Runner& runner, RunFn run, const std::string& name, const std::string& mode,
           const Csv& expected, const std::string& path) {
  if (expected.rows.size() != runner.rows())
    Die(path + ": " + std::to_string(expected.rows.size()) + " rows, input has " +
        std::to_string(runner.rows()));
  std::vector<std::string> labels;
  std::vector<int> prob_cols;
  for (size_t c = 0; c < expected.header.size(); ++c) {
    const std::string& h = expected.header[c];
    if (h.rfind("probability(", 0) == 0 && h.back() == ')') {
      labels.push_back(h.substr(12, h.size() - 13));
      prob_cols.push_back(static_cast<int>(c));
    }
  }
  const int label_col = expected.Column("label");
  if (labels.empty() || label_col < 0) Die("CHECK FAILED: " + path + ": no label/probability(...) columns");
  for (size_t r = 0; r < runner.rows(); ++r) {
    absl::Status st = (runner.*run)(r);
    if (!st.ok()) Die("CHECK FAILED (" + mode + "): row " + std::to_string(r + 1) + ": " + std::string(st.message()));
    const double pred = runner.prediction();
    const std::string& want = expected.rows[r][label_col];
    if (pred < 0 || pred >= labels.size() || labels[static_cast<size_t>(pred)] != want)
      Die("CHECK FAILED (" + mode + "): row " + std::to_string(r + 1) + ": expected label '" + want +
          "', prediction " + std::to_string(pred));
    const spark::Cell* prob = runner.probability();
    if (!prob) Die("CHECK FAILED: the pipeline has no probability column");
    for (size_t k = 0; k < prob_cols.size(); ++k) {
      double want_p = 0;
      ParseNumber(expected.rows[r][prob_cols[k]], &want_p);
      const double got = prob->vec.At(static_cast<int32_t>(k));
      if (!Close(want_p, got))
        Die("CHECK FAILED (" + mode + "): row " + std::to_string(r + 1) + " " + expected.header[prob_cols[k]] +
            ": expected " + expected.rows[r][prob_cols[k]] + ", got " + std::to_string(got));
    }
  }
  std::fprintf(stderr, "spark_bench: %s (%s): %zu rows match %s\n", name.c_str(), mode.c_str(),
               runner.rows(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  spark::LoadOptions lo;
  if (!o.schema.empty()) lo.schema_json = ReadFile(o.schema);
  lo.outputs = {"prediction", "probability"};
  auto src = evs::spark::ArtifactSource::Open(o.model);
  if (!src.ok()) Die(o.model + ": " + std::string(src.status().message()));
  auto p_or = spark::Pipeline::Load(std::move(*src), lo);
  if (!p_or.ok()) Die(o.model + ": " + std::string(p_or.status().message()));
  const spark::Pipeline& p = **p_or;
  {
    std::string stages;
    for (const auto& s : p.StageNames()) stages += (stages.empty() ? "" : " -> ") + s;
    std::fprintf(stderr, "spark_bench: %s (Spark %s): %zu inputs, stages: %s\n", o.name.c_str(),
                 p.spark_version().c_str(), p.inputs().size(), stages.c_str());
  }
  const Csv csv = MustReadCsv(o.input);
  if (csv.rows.empty()) Die(o.input + ": no rows");
  Runner runner(p, csv);
  Csv expected;
  const bool check = o.check && !o.expected.empty();
  if (check) expected = MustReadCsv(o.expected);
  for (const std::string& mode : o.modes) {
    RunFn run;
    if (mode == "slots") run = &Runner::RunSlots;
    else if (mode == "json") run = &Runner::RunJson;
    else Die("unknown mode " + mode);
    if (check) Check(runner, run, o.name, mode, expected, o.expected);
    Measure(o, mode, runner, run);
  }
  return 0;
}
