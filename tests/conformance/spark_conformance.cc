#include "conformance/spark_conformance.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "cli/score.h"
#include "spark/pipeline.h"

namespace evs::conformance {
namespace {


std::string JoinPath(const std::string& root, const std::string& p) {
  if (p.empty() || p[0] == '/' || root.empty()) return p;
  return root.back() == '/' ? root + p : root + "/" + p;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool ParseNum(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

}  // namespace

std::string SparkItem::Group() const {
  size_t slash = id.find('/');
  return slash == std::string::npos ? "" : id.substr(0, slash);
}

std::string_view SparkOutcomeName(SparkOutcome o) {
  switch (o) {
    case SparkOutcome::kPass: return "PASS";
    case SparkOutcome::kFail: return "FAIL";
    case SparkOutcome::kUnsupported: return "UNSUPPORTED";
  }
  return "?";
}

absl::StatusOr<std::vector<SparkItem>> ParseSparkItems(std::string_view tsv, double default_tolerance) {
  static const std::vector<std::string> kDefaultColumns = {
      "id", "model", "input", "expected", "schema", "tolerance", "zero_threshold", "float_ulp",
      "skip_columns", "non_spark", "spark_version", "description"};
  std::vector<std::string> columns;
  std::vector<SparkItem> items;
  std::istringstream in{std::string(tsv)};
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    size_t start = 0;
    for (;;) {
      size_t p = line.find('\t', start);
      f.push_back(line.substr(start, p == std::string::npos ? std::string::npos : p - start));
      if (p == std::string::npos) break;
      start = p + 1;
    }
    if (columns.empty()) {
      if (f[0] == "id" || f[0] == "name") {
        columns = f;
        continue;
      }
      columns = kDefaultColumns;
    }
    std::map<std::string, std::string> v;
    for (size_t i = 0; i < f.size() && i < columns.size(); ++i) v[columns[i]] = f[i];
    auto get = [&](std::initializer_list<const char*> names) -> std::string {
      for (const char* n : names) {
        auto it = v.find(n);
        if (it != v.end() && it->second != "-") return it->second;
      }
      return "";
    };
    auto number = [&](const std::string& s, double def, double* out) -> absl::Status {
      if (s.empty()) {
        *out = def;
        return absl::OkStatus();
      }
      if (!ParseNum(s, out))
        return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": not a number: '", s, "'"));
      return absl::OkStatus();
    };
    SparkItem it;
    it.id = get({"id", "name"});
    it.model = get({"model", "pipeline", "pipeline_dir", "pipeline_zip"});
    it.input = get({"input", "input_csv"});
    it.expected = get({"expected", "expected_csv"});
    it.schema = get({"schema", "schema_json"});
    it.spark_version = get({"spark_version"});
    it.description = get({"description"});
    it.skip = SplitList(get({"skip_columns", "skip"}), ',');
    it.non_spark = SplitList(get({"non_spark"}), ',');
    double d;
    const std::string ulp = get({"float_ulp"});
    if (absl::Status s = number(ulp, 0, &d); !s.ok()) return s;
    it.tol.float_ulp = static_cast<int>(d);
    if (absl::Status s = number(get({"tolerance"}), it.tol.float_ulp > 0 ? 0 : default_tolerance, &d); !s.ok())
      return s;
    it.tol.precision = d;
    if (absl::Status s = number(get({"zero_threshold"}), it.tol.precision, &d); !s.ok()) return s;
    it.tol.zero_threshold = d;
    if (!it.id.empty() && it.model.empty() && it.input.empty() && it.expected.empty()) {
      // A tools/spark_fixtures row: the files follow from the name.
      it.model = it.id + ".zip";
      it.input = it.id + ".input.csv";
      it.expected = it.id + ".expected.csv";
      if (it.schema.empty()) {
        it.schema = it.id + ".schema.json";
        it.schema_optional = true;
      }
      it.spark_expected = it.id + ".spark.csv";
    }
    if (it.id.empty() || it.model.empty() || it.input.empty() || it.expected.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": an item needs an id, a model, an input and an expected file"));
    items.push_back(std::move(it));
  }
  return items;
}

std::string UnsupportedStageClass(std::string_view message) {
  static constexpr std::string_view kKey = "unsupported stage ";
  size_t p = message.find(kKey);
  if (p == std::string_view::npos) return "";
  p += kKey.size();
  while (p < message.size() && (message[p] == '\'' || message[p] == '"' || message[p] == '<')) ++p;
  size_t e = p;
  while (e < message.size() && !std::isspace(static_cast<unsigned char>(message[e])) && message[e] != '\'' &&
         message[e] != '"' && message[e] != '>' && message[e] != ',' && message[e] != ';' && message[e] != ')')
    ++e;
  std::string cls(message.substr(p, e - p));
  while (!cls.empty() && (cls.back() == '.' || cls.back() == ':')) cls.pop_back();
  return cls;
}

absl::StatusOr<LibSvmData> ReadLibSvm(const std::string& path, int num_features) {
  std::string text;
  if (!ReadText(path, &text)) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  LibSvmData d;
  std::istringstream in(text);
  std::string line;
  int line_no = 0, max_index = 0;
  while (std::getline(in, line)) {
    ++line_no;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string tok;
    if (!(ls >> tok)) continue;
    double label;
    if (!ParseNum(tok, &label)) return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": bad label"));
    spark::Vector v;
    v.SetSparse(0);
    while (ls >> tok) {
      size_t colon = tok.find(':');
      double value;
      if (colon == std::string::npos || !ParseNum(tok.substr(colon + 1), &value))
        return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": bad entry '", tok, "'"));
      int index = std::atoi(tok.substr(0, colon).c_str());
      if (index < 1 || (!v.indices.empty() && index - 1 <= v.indices.back()))
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_no, ": indices must be 1-based and ascending ('", tok, "')"));
      v.indices.push_back(index - 1);
      v.values.push_back(value);
      max_index = std::max(max_index, index);
    }
    d.labels.push_back(label);
    d.features.push_back(std::move(v));
  }
  const int n = num_features > 0 ? num_features : max_index;
  for (auto& v : d.features) v.size = n;
  return d;
}

// numFeatures of a StructType's "features" field metadata (Spark's libsvm
// source records it), or -1.
static int NumFeaturesFromSchema(const std::string& schema_json) {
  size_t p = schema_json.find("\"numFeatures\"");
  if (p == std::string::npos) return -1;
  p = schema_json.find(':', p);
  if (p == std::string::npos) return -1;
  return std::atoi(schema_json.c_str() + p + 1);
}

std::string ReplaceSection(const std::string& doc, std::string_view begin, std::string_view end,
                           const std::string& section) {
  size_t b = doc.find(begin);
  if (b != std::string::npos) {
    size_t e = doc.find(end, b);
    if (e != std::string::npos) {
      e += end.size();
      if (e < doc.size() && doc[e] == '\n') ++e;
      return doc.substr(0, b) + section + doc.substr(e);
    }
    return doc.substr(0, b) + section;
  }
  std::string r = doc;
  if (!r.empty() && r.back() != '\n') r.push_back('\n');
  if (!r.empty()) r.push_back('\n');
  return r + section;
}

namespace {

// Compares an expected JSON cell of NAME.spark.csv with an actual cell.
bool JsonCellMatches(const nlohmann::json& e, const spark::Cell& a, const Tolerance& tol) {
  auto num = [&](const nlohmann::json& x, double actual) {
    if (x.is_string()) {  // NaN, Infinity (see QuoteNonFinite)
      const std::string& t = x.get_ref<const std::string&>();
      double v = t == "NaN" ? std::nan("") : t == "Infinity" ? HUGE_VAL : t == "-Infinity" ? -HUGE_VAL : 0;
      return (t == "NaN" || t == "Infinity" || t == "-Infinity") && NumbersEquivalent(v, actual, tol);
    }
    return x.is_number() && NumbersEquivalent(x.get<double>(), actual, tol);
  };
  if (e.is_object()) {  // sparse vector
    if (a.kind != spark::Cell::Kind::kVector || !e.contains("size") || a.vec.size != e["size"].get<int>()) return false;
    std::vector<double> dense(a.vec.size, 0.0);
    const auto& idx = e["indices"];
    const auto& val = e["values"];
    if (idx.size() != val.size()) return false;
    for (size_t k = 0; k < idx.size(); ++k) {
      int i = idx[k].get<int>();
      if (i < 0 || i >= a.vec.size) return false;
      if (!val[k].is_number()) {  // a non-finite value: compare it on its own
        if (!num(val[k], a.vec.At(i))) return false;
        dense[i] = a.vec.At(i);
        continue;
      }
      dense[i] = val[k].get<double>();
    }
    for (int i = 0; i < a.vec.size; ++i)
      if (!NumbersEquivalent(dense[i], a.vec.At(i), tol)) return false;
    return true;
  }
  if (!e.is_array()) return false;
  if (a.kind == spark::Cell::Kind::kVector) {
    if (static_cast<int>(e.size()) != a.vec.size) return false;
    for (int i = 0; i < a.vec.size; ++i)
      if (!num(e[i], a.vec.At(i))) return false;
    return true;
  }
  if (a.kind == spark::Cell::Kind::kNumbers) {
    if (e.size() != a.nums.size()) return false;
    for (size_t i = 0; i < a.nums.size(); ++i)
      if (!num(e[i], a.nums[i])) return false;
    return true;
  }
  if (a.kind == spark::Cell::Kind::kStrings) {
    if (e.size() != a.strs.size()) return false;
    for (size_t i = 0; i < a.strs.size(); ++i)
      if (!e[i].is_string() || e[i].get<std::string>() != a.strs[i]) return false;
    return true;
  }
  return false;
}

// Python's json.dumps writes NaN, Infinity and -Infinity bare, which is not
// JSON: they become strings outside string literals.
std::string QuoteNonFinite(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) out.push_back(text[++i]);
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view word : {"-Infinity", "Infinity", "NaN"}) {
      if (text.compare(i, word.size(), word) == 0) {
        absl::StrAppend(&out, "\"", std::string(word), "\"");
        i += word.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out.push_back(c);
  }
  return out;
}

std::string Num17(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string ShowCell(const spark::Cell& c, spark::DataType type) {
  switch (c.kind) {
    case spark::Cell::Kind::kNull: return "N/A";
    case spark::Cell::Kind::kNumber:
      if (type == spark::DataType::kBoolean) return c.num != 0 ? "true" : "false";
      return Num17(c.num);
    case spark::Cell::Kind::kString: return c.str;
    case spark::Cell::Kind::kVector: {
      std::string s = absl::StrCat(c.vec.dense ? "dense" : "sparse", "(", c.vec.size, ":");
      int shown = 0;
      c.vec.ForEach([&](int32_t i, double v) {
        if (shown++ < 6) absl::StrAppend(&s, " ", i, "=", Num17(v));
      });
      return s + (shown > 6 ? " ...)" : ")");
    }
    case spark::Cell::Kind::kStrings: {
      std::string s = "[";
      for (size_t i = 0; i < c.strs.size() && i < 8; ++i) absl::StrAppend(&s, i ? "," : "", c.strs[i]);
      return s + (c.strs.size() > 8 ? ",...]" : "]");
    }
    case spark::Cell::Kind::kNumbers: return absl::StrCat("[", c.nums.size(), " numbers]");
  }
  return "?";
}

}  // namespace

// Every column of NAME.spark.csv against the unpruned pipeline's column of
// that name, row by row.
template <typename Add>
absl::Status CompareSparkColumns(const SparkItem& item, const std::string& model, const std::string& schema_json,
                                 const std::string& spark_csv, const CsvTable& input, Add& add, SparkItemResult* res) {
  auto expected = ReadCsvFile(spark_csv);
  if (!expected.ok()) return expected.status();
  if (expected->rows.size() != input.rows.size())
    return absl::InvalidArgumentError(absl::StrCat(expected->rows.size(), " rows for ", input.rows.size(), " inputs"));
  ASSIGN_OR_RETURN(auto pipeline, spark::Pipeline::Load(model, cli::SparkLoadOptions(schema_json, true)));
  const spark::Pipeline& p = *pipeline;
  std::vector<int> slots;
  for (const std::string& h : expected->header) {
    int slot = p.Find(h);
    if (slot < 0) return absl::InvalidArgumentError(absl::StrCat("the pipeline has no column '", h, "'"));
    slots.push_back(slot);
  }
  const auto& inputs = p.inputs();
  std::vector<int> bind(inputs.size(), -1);
  for (size_t k = 0; k < inputs.size(); ++k) {
    auto it = std::find(input.header.begin(), input.header.end(), inputs[k].name);
    if (it != input.header.end()) bind[k] = static_cast<int>(it - input.header.begin());
  }
  auto row = p.NewRow();
  for (size_t r = 0; r < input.rows.size(); ++r) {
    const int64_t row_no = static_cast<int64_t>(r) + 1;
    p.BeginRow(*row);
    absl::Status st;
    for (size_t k = 0; k < inputs.size() && st.ok(); ++k) {
      if (bind[k] < 0) continue;
      const std::string& cell = input.rows[r][bind[k]];
      if (cli::IsMissingCell(cell)) p.SetNull(*row, static_cast<int>(k));
      else st = p.SetInput(*row, static_cast<int>(k), cell);
    }
    if (st.ok()) st = p.Run(*row);
    if (!st.ok()) {
      add(row_no, absl::StrCat("row ", row_no, " (spark columns): evaluation failed: ", std::string(st.message())));
      continue;
    }
    for (size_t c = 0; c < slots.size(); ++c) {
      const std::string& exp = expected->rows[r][c];
      const spark::Cell& actual = p.Get(*row, slots[c]);
      const spark::DataType type = p.schema().column(slots[c]).type;
      ++res->cells;
      bool ok;
      if (!exp.empty() && (exp[0] == '[' || exp[0] == '{')) {
        nlohmann::json j = nlohmann::json::parse(QuoteNonFinite(exp), nullptr, false);
        ok = !j.is_discarded() && JsonCellMatches(j, actual, item.tol);
      } else if (actual.kind == spark::Cell::Kind::kNumber || actual.kind == spark::Cell::Kind::kNull ||
                 actual.kind == spark::Cell::Kind::kString) {
        std::string text = actual.kind == spark::Cell::Kind::kNull ? "N/A"
                           : actual.kind == spark::Cell::Kind::kString ? actual.str
                                                                       : ShowCell(actual, type);
        if (actual.kind == spark::Cell::Kind::kNumber && type != spark::DataType::kBoolean) {
          ok = CellMatches(exp, pmml::Value::Number(actual.num), item.tol);
        } else {
          ok = CellMatches(exp, ValueFromCell(text), item.tol);
        }
      } else {
        ok = false;
      }
      if (!ok)
        add(row_no, absl::StrCat("row ", row_no, ", ", expected->header[c], " (spark column): expected ",
                                 exp.size() > 120 ? exp.substr(0, 117) + "..." : exp, ", got ", ShowCell(actual, type)));
    }
  }
  return absl::OkStatus();
}

SparkItemResult RunSparkItem(const SparkItem& item, const std::string& root, int max_details) {
  const auto t0 = std::chrono::steady_clock::now();
  SparkItemResult res;
  auto done = [&]() {
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
  };
  auto relative = [&](std::string msg) {
    if (!root.empty()) {
      const std::string prefix = root.back() == '/' ? root : root + "/";
      size_t pos = 0;
      while ((pos = msg.find(prefix, pos)) != std::string::npos) msg.erase(pos, prefix.size());
    }
    return msg;
  };
  auto fail = [&](std::string why) {
    res.outcome = SparkOutcome::kFail;
    res.pass = false;
    res.summary = relative(std::move(why));
    return done();
  };

  // Expected rows and the input records.
  auto expected = ReadCsvFile(JoinPath(root, item.expected));
  if (!expected.ok()) return fail(std::string(expected.status().message()));
  std::string schema_json;
  if (!item.schema.empty() && !ReadText(JoinPath(root, item.schema), &schema_json) && !item.schema_optional)
    return fail(absl::StrCat(item.schema, ": cannot read"));

  // Load, then classify a load failure: a non-Spark item failing on its
  // non-Spark stage is the expected outcome.
  auto pipeline = spark::Pipeline::Load(JoinPath(root, item.model), cli::SparkLoadOptions(schema_json, false));
  if (!pipeline.ok()) {
    const std::string msg(pipeline.status().message());
    res.unsupported_class = UnsupportedStageClass(msg);
    if (!item.non_spark.empty() && !res.unsupported_class.empty()) {
      res.outcome = SparkOutcome::kUnsupported;
      res.summary = relative(absl::StrCat("load: ", msg));
      return done();
    }
    return fail(absl::StrCat("load: ", msg));
  }
  const spark::Pipeline& p = **pipeline;
  auto columns = cli::SparkResultColumns::Make(p, false);
  if (!columns.ok()) return fail(std::string(columns.status().message()));

  // Input: CSV cells by column name, or LibSVM label + features.
  const bool libsvm = EndsWith(item.input, ".libsvm") || EndsWith(item.input, ".svm");
  CsvTable input;
  LibSvmData svm;
  if (libsvm) {
    auto d = ReadLibSvm(JoinPath(root, item.input), NumFeaturesFromSchema(schema_json));
    if (!d.ok()) return fail(std::string(d.status().message()));
    svm = std::move(*d);
  } else {
    auto t = ReadCsvFile(JoinPath(root, item.input));
    if (!t.ok()) return fail(std::string(t.status().message()));
    input = std::move(*t);
  }
  const size_t num_records = libsvm ? svm.labels.size() : input.rows.size();
  if (num_records != expected->rows.size())
    return fail(absl::StrCat("the input has ", num_records, " records but the expected file has ",
                             expected->rows.size(), " rows"));
  res.rows = static_cast<int64_t>(num_records);

  const auto& inputs = p.inputs();
  std::vector<int> bind(inputs.size(), -1);  // CSV column, or -2 label / -3 features (LibSVM)
  std::vector<std::string> details;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (libsvm) {
      if (inputs[k].name == "label") bind[k] = -2;
      else if (inputs[k].name == "features") bind[k] = -3;
    } else {
      auto it = std::find(input.header.begin(), input.header.end(), inputs[k].name);
      if (it != input.header.end()) bind[k] = static_cast<int>(it - input.header.begin());
    }
    if (bind[k] == -1) details.push_back(absl::StrCat("note: the pipeline input '", inputs[k].name,
                                                      "' is not in the input; null in every row"));
  }

  // Expected columns -> our columns.
  struct Target {
    int exp_col;
    int ours;
  };
  std::vector<Target> targets;
  for (size_t c = 0; c < expected->header.size(); ++c) {
    const std::string& h = expected->header[c];
    if (std::find(item.skip.begin(), item.skip.end(), h) != item.skip.end()) continue;
    auto it = std::find(columns->names().begin(), columns->names().end(), h);
    if (it == columns->names().end()) {
      std::string ours;
      for (const auto& n : columns->names()) absl::StrAppend(&ours, ours.empty() ? "" : ", ", n);
      return fail(absl::StrCat("the pipeline's result has no column '", h, "' (it has: ", ours, ")"));
    }
    targets.push_back({static_cast<int>(c), static_cast<int>(it - columns->names().begin())});
  }

  auto row = p.NewRow();
  std::vector<std::string> cells;
  std::string first;
  std::set<int64_t> bad;
  int64_t mismatches = 0;
  auto add = [&](int64_t r, std::string msg) {
    ++mismatches;
    bad.insert(r);
    if (first.empty()) first = std::move(msg);
    else if (static_cast<int>(res.details.size()) < max_details) res.details.push_back(std::move(msg));
  };
  spark::Vector vec;
  for (size_t r = 0; r < num_records; ++r) {
    const int64_t row_no = static_cast<int64_t>(r) + 1;
    p.BeginRow(*row);
    absl::Status st;
    for (size_t k = 0; k < inputs.size() && st.ok(); ++k) {
      const int input_index = static_cast<int>(k);
      if (bind[k] == -2) {
        p.SetInput(*row, input_index, svm.labels[r]);
      } else if (bind[k] == -3) {
        p.SetInput(*row, input_index, svm.features[r]);
      } else if (bind[k] >= 0) {
        const std::string& cell = input.rows[r][bind[k]];
        if (cli::IsMissingCell(cell)) {
          p.SetNull(*row, input_index);
        } else if (inputs[k].type == spark::DataType::kVector) {
          if (cli::ParseSparkVector(cell, &vec)) p.SetInput(*row, input_index, vec);
          else st = absl::InvalidArgumentError(absl::StrCat("column ", inputs[k].name, ": not a vector"));
        } else {
          st = p.SetInput(*row, input_index, cell);
        }
      }
    }
    if (st.ok()) st = p.Run(*row);
    if (!st.ok()) {
      add(row_no, absl::StrCat("row ", row_no, ": evaluation failed: ", std::string(st.message())));
      continue;
    }
    const bool filtered = row->filtered;
    if (filtered) ++res.filtered_rows;
    else columns->Format(p, *row, &cells);
    for (const Target& t : targets) {
      const std::string& exp = expected->rows[r][t.exp_col];
      ++res.cells;
      const std::string& actual = filtered ? std::string("N/A") : cells[t.ours];
      if (!CellMatches(exp, ValueFromCell(actual), item.tol))
        add(row_no, absl::StrCat("row ", row_no, ", ", expected->header[t.exp_col], ": expected ",
                                 exp.empty() ? "(missing)" : exp, ", got ", actual,
                                 filtered ? absl::StrCat(" (filtered: ", row->filter_reason, ")") : ""));
    }
  }
  if (!item.spark_expected.empty()) {
    std::string spark_csv = JoinPath(root, item.spark_expected);
    std::error_code ec;
    if (std::filesystem::exists(spark_csv, ec)) {
      absl::Status st = CompareSparkColumns(item, JoinPath(root, item.model), schema_json, spark_csv, input, add, &res);
      if (!st.ok()) add(0, absl::StrCat("spark columns: ", std::string(st.message())));
    }
  }
  for (auto& d : details)
    if (static_cast<int>(res.details.size()) < max_details) res.details.push_back(std::move(d));
  res.bad_rows = static_cast<int64_t>(bad.size());
  if (mismatches == 0) {
    res.pass = true;
    res.outcome = SparkOutcome::kPass;
    return done();
  }
  res.outcome = SparkOutcome::kFail;
  res.summary = relative(absl::StrCat(first, " [", res.bad_rows, " of ", res.rows, " rows differ]"));
  return done();
}

}  // namespace evs::conformance
