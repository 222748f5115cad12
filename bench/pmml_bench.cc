// pmml_bench: single-thread latency and throughput of the PMML engine, the
// twin of bench/jpmml (JPMML-Evaluator): same options, same method, same
// result line. bench/run_pmml_bench.sh runs both on the same models and rows.
//
// Modes:
//   slots  inputs parsed to doubles once per row beforehand; per record
//          EvaluateNumbers(ctx, row, n) when every input of the row is a
//          number (BeginRecord, SetInput(ctx, i, double) for each bound
//          input, Evaluate otherwise), then read every output. What a caller
//          that already holds numbers (a decoded event) pays.
//   record each row decoded beforehand by codec::JsonDecoder into an
//          evs::Record (the server's parsed event); per record its fields are
//          matched to the bound inputs by name, then SetInput / Evaluate /
//          read outputs. "From a parsed JSON object", parse excluded.
//   json   each row serialized beforehand as a JSON object (every CSV column,
//          numbers as JSON numbers); per record a reused simdjson DOM parser
//          (as in codec/JsonDecoder) parses it, each key is looked up among
//          the bound inputs, then SetInput / Evaluate / read outputs as above.
//          What a Kafka record with a JSON value costs end to end (minus I/O).
//
// Before timing, the first pass over all rows is checked against the expected
// CSV (numbers within 1e-6 relative), so a broken model cannot be timed.
//
// Result lines on stdout, tab-separated key=value:
//   result tool=evserve model=NAME mode=slots rows=R batch=B samples=S p50_ns= p99_ns= mean_ns=
//          tput_rps= (records per wall second) cpu_rps= (per second of process CPU time) errors=

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
#include "codec/decode.h"
#include "common/value.h"
#include "pmml/pmml.h"
#include "simdjson.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace pmml = evs::pmml;

using evs::bench::engine::g_sink;
using evs::bench::engine::Csv;
using evs::bench::engine::Measure;
using evs::bench::engine::ParseNumber;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "pmml_bench: %s\n", msg.c_str());
  std::exit(1);
}

struct Options {
  std::string model, input, expected, name;
  bool check = true;
  double warmup_seconds = 2.0;
  long latency_records = 200000;
  double throughput_seconds = 3.0;
  int batch = 0;  // 0 = auto
  std::vector<std::string> modes = {"slots", "record", "json"};
};

void Usage() {
  std::puts(
      "Usage: pmml_bench --model M.pmml --input M.input.csv [options]\n"
      "  --expected CSV           check the first pass against it (rel. 1e-6); fail if it differs\n"
      "  --no-check               skip that check\n"
      "  --name NAME              model name in the result line (default: file name)\n"
      "  --warmup-seconds S       warm-up per mode (default 2; at least 20000 records)\n"
      "  --latency-records N      records timed for the percentiles (default 200000)\n"
      "  --throughput-seconds S   duration of the throughput loop (default 3)\n"
      "  --batch B                records per latency sample (default: auto, 1 or 64)\n"
      "  --modes slots,record,json  which input paths to measure (default all three)");
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
    if (f.size() > 5 && f.compare(f.size() - 5, 5, ".pmml") == 0) f.resize(f.size() - 5);
    o.name = f;
  }
  return o;
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
struct Cell {
  enum Kind : uint8_t { kMissing, kNumber, kText } kind = kMissing;
  double num = 0;
  std::string text;
};

Cell MakeCell(const std::string& s) {
  Cell c;
  if (s.empty()) return c;
  if (ParseNumber(s, &c.num)) {
    c.kind = Cell::kNumber;
  } else {
    c.kind = Cell::kText;
    c.text = s;
  }
  return c;
}

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
class KeyIndex {
 public:
  explicit KeyIndex(const std::vector<pmml::FieldSpec>& inputs) {
    for (size_t i = 0; i < inputs.size(); ++i) names_.push_back(inputs[i].name);
  }
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

 private:
  std::vector<std::string> names_;
  size_t hint_ = 0;
};

// ------------------------------------------------------------------ runner

class Runner {
 public:
  Runner(const pmml::CompiledModel& model, const Csv& csv)
      : model_(model), ctx_(model.NewContext()), keys_(model.inputs()) {
    const auto& inputs = model.inputs();
    std::vector<int> col(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      col[i] = csv.Column(inputs[i].name);
      if (col[i] < 0)
        std::fprintf(stderr, "pmml_bench: input '%s' has no CSV column (always missing)\n",
                     inputs[i].name.c_str());
    }
    cells_.reserve(csv.rows.size());
    json_.reserve(csv.rows.size());
    for (const auto& row : csv.rows) {
      std::vector<Cell> cells(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i)
        if (col[i] >= 0) cells[i] = MakeCell(row[col[i]]);
      std::vector<double> nums;
      if (std::all_of(cells.begin(), cells.end(), [](const Cell& c) { return c.kind == Cell::kNumber; }))
        for (const Cell& c : cells) nums.push_back(c.num);
      nums_.push_back(std::move(nums));
      cells_.push_back(std::move(cells));
      json_.emplace_back(RowJson(csv, row));
    }
    evs::codec::JsonDecoder decoder;
    evs::EventError err;
    records_.resize(json_.size());
    for (size_t r = 0; r < json_.size(); ++r)
      if (!decoder.Decode(json_[r].str, &records_[r], &err))
        Die("row " + std::to_string(r + 1) + ": JsonDecoder: " + err.message);
  }

  size_t rows() const { return cells_.size(); }

  // One record through the given path; leaves the outputs in the context.
  absl::Status RunSlots(size_t r) {
    if (!nums_[r].empty()) return model_.EvaluateNumbers(*ctx_, nums_[r].data(), nums_[r].size());
    ctx_->BeginRecord();
    const std::vector<Cell>& cells = cells_[r];
    for (size_t i = 0; i < cells.size(); ++i) {
      const Cell& c = cells[i];
      if (c.kind == Cell::kNumber) model_.SetInput(*ctx_, static_cast<int>(i), c.num);
      else if (c.kind == Cell::kText) model_.SetInput(*ctx_, static_cast<int>(i), c.text);
    }
    return model_.Evaluate(*ctx_);
  }

  absl::Status RunRecord(size_t r) {
    ctx_->BeginRecord();
    for (const evs::Field& f : records_[r].fields()) {
      const int idx = keys_.Find(f.name);
      if (idx < 0) continue;  // not a model input
      switch (f.value.type()) {
        case evs::ValueType::kNumber: model_.SetInput(*ctx_, idx, f.value.as_number()); break;
        case evs::ValueType::kString: model_.SetInput(*ctx_, idx, std::string_view(f.value.as_string())); break;
        case evs::ValueType::kBool: model_.SetInput(*ctx_, idx, pmml::Value::Bool(f.value.as_bool())); break;
        default: model_.SetMissing(*ctx_, idx);  // null, nested JSON
      }
    }
    return model_.Evaluate(*ctx_);
  }

  absl::Status RunJson(size_t r) {
    ctx_->BeginRecord();
    const PaddedRow& row = json_[r];
    simdjson::dom::element root;
    if (parser_.parse(row.str.data(), row.str.size(), false).get(root))
      return absl::InvalidArgumentError("invalid JSON");
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return absl::InvalidArgumentError("not an object");
    for (simdjson::dom::key_value_pair kv : obj) {
      const int idx = keys_.Find(kv.key);
      if (idx < 0) continue;  // not a model input
      const simdjson::dom::element v = kv.value;
      switch (v.type()) {
        case simdjson::dom::element_type::DOUBLE:
        case simdjson::dom::element_type::INT64:
        case simdjson::dom::element_type::UINT64: {
          double d = 0;
          if (v.get_double().get(d)) return absl::InvalidArgumentError("bad number");
          model_.SetInput(*ctx_, idx, d);
          break;
        }
        case simdjson::dom::element_type::STRING:
          model_.SetInput(*ctx_, idx, std::string_view(v.get_string().value_unsafe()));
          break;
        case simdjson::dom::element_type::BOOL:
          model_.SetInput(*ctx_, idx, pmml::Value::Bool(v.get_bool().value_unsafe()));
          break;
        default:  // null (and nested values): missing
          model_.SetMissing(*ctx_, idx);
      }
    }
    return model_.Evaluate(*ctx_);
  }

  // Reads every output, as a caller would, into a hash that the compiler
  // cannot drop.
  uint64_t Consume() {
    uint64_t h = 0;
    const size_t n = model_.outputs().size();
    for (size_t i = 0; i < n; ++i) {
      const pmml::Value& v = model_.Output(*ctx_, static_cast<int>(i));
      uint64_t bits;
      std::memcpy(&bits, &v.num, sizeof bits);
      h += v.is_string() ? v.str.size() : bits;
    }
    return h;
  }

  const pmml::Value& Output(int i) { return model_.Output(*ctx_, i); }

 private:
  // JSON text with simdjson's padding in its capacity.
  struct PaddedRow {
    explicit PaddedRow(std::string s) : str(std::move(s)) {
      str.reserve(str.size() + simdjson::SIMDJSON_PADDING);
    }
    std::string str;
  };

  const pmml::CompiledModel& model_;
  std::unique_ptr<pmml::EvalContext> ctx_;
  KeyIndex keys_;
  simdjson::dom::parser parser_;  // runtime-dispatched kernels, as in codec/
  std::vector<std::vector<Cell>> cells_;
  std::vector<std::vector<double>> nums_;  // per row: every input as a number, or empty
  std::vector<PaddedRow> json_;
  std::vector<evs::Record> records_;
};

// Same rule as the Java tool: numbers within 1e-6 relative (or 1e-12
// absolute), text equal (numerically when both sides are numbers).
bool Same(const std::string& want, const pmml::Value& got, std::string* got_text) {
  *got_text = pmml::FormatValue(got);
  if (want.empty() || want == "N/A") return got.missing();  // the fixtures' missing
  if (got.missing()) return false;
  double a, b;
  bool b_ok = got.is_number() ? (b = got.num, true) : ParseNumber(*got_text, &b);
  if (ParseNumber(want, &a) && b_ok) {
    if (a == b) return true;
    double d = std::fabs(a - b);
    return d <= 1e-6 * std::max(std::fabs(a), std::fabs(b)) || d <= 1e-12;
  }
  return want == *got_text;
}

using RunFn = absl::Status (Runner::*)(size_t);

void Check(Runner& runner, RunFn run, const std::string& name, const std::string& mode,
           const pmml::CompiledModel& model,
           const Csv& expected, const std::string& path) {
  if (expected.rows.size() != runner.rows())
    Die(path + ": " + std::to_string(expected.rows.size()) + " rows, input has " +
        std::to_string(runner.rows()));
  std::vector<std::pair<int, int>> cols;  // (expected column, output index)
  const auto& outputs = model.outputs();
  for (size_t o = 0; o < outputs.size(); ++o) {
    int c = expected.Column(outputs[o].name);
    if (c >= 0) cols.emplace_back(c, static_cast<int>(o));
  }
  if (cols.empty()) Die("CHECK FAILED: " + path + ": no column names an output of the model");
  std::string got;
  for (size_t r = 0; r < runner.rows(); ++r) {
    absl::Status st = (runner.*run)(r);
    if (!st.ok())
      Die("CHECK FAILED (" + mode + "): row " + std::to_string(r + 1) + ": " + std::string(st.message()));
    for (auto [c, o] : cols) {
      const std::string& want = expected.rows[r][c];
      if (!Same(want, runner.Output(o), &got))
        Die("CHECK FAILED (" + mode + "): " + path + ": row " + std::to_string(r + 1) + " column " +
            expected.header[c] + ": expected '" + want + "', got '" + got + "'");
    }
  }
  std::fprintf(stderr, "pmml_bench: %s (%s): %zu rows match %s (%zu columns)\n", name.c_str(),
               mode.c_str(), runner.rows(), path.c_str(), cols.size());
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  auto model_or = pmml::CompiledModel::LoadFile(o.model);
  if (!model_or.ok()) Die(o.model + ": " + std::string(model_or.status().message()));
  const pmml::CompiledModel& model = **model_or;
  {
    std::string outs;
    for (const auto& f : model.outputs()) outs += (outs.empty() ? "" : ", ") + f.name;
    std::fprintf(stderr, "pmml_bench: %s: %s, %zu inputs, outputs: %s\n", o.name.c_str(),
                 model.model_type().c_str(), model.inputs().size(), outs.c_str());
  }
  const Csv csv = MustReadCsv(o.input);
  if (csv.rows.empty()) Die(o.input + ": no rows");
  Runner runner(model, csv);
  Csv expected;
  const bool check = o.check && !o.expected.empty();
  if (check) expected = MustReadCsv(o.expected);

  for (const std::string& mode : o.modes) {
    RunFn run;
    if (mode == "slots") run = &Runner::RunSlots;
    else if (mode == "record") run = &Runner::RunRecord;
    else if (mode == "json") run = &Runner::RunJson;
    else Die("unknown mode " + mode);
    if (check) Check(runner, run, o.name, mode, model, expected, o.expected);
    Measure(o, mode, runner, run);
  }
  return 0;
}
