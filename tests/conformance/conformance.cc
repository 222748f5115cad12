#include "conformance/conformance.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/score.h"
#include "pmml/pmml.h"

namespace evs::conformance {
namespace {


bool ParseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  std::string buf(s);
  // Java-style spellings that appear in expected files.
  if (buf == "Infinity" || buf == "+Infinity") {
    *out = HUGE_VAL;
    return true;
  }
  if (buf == "-Infinity") {
    *out = -HUGE_VAL;
    return true;
  }
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size()) return false;
  *out = v;
  return true;
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string Show(const pmml::Value& v) {
  if (v.missing()) return "N/A";
  if (v.kind == pmml::Value::Kind::kCollection) {
    std::string s = "{";
    for (size_t i = 0; i < v.items.size(); ++i) absl::StrAppend(&s, i ? "," : "", v.items[i]);
    return s + "}";
  }
  if (v.kind == pmml::Value::Kind::kInvalid) return "(invalid)";
  return pmml::FormatValue(v);
}

// "name#k" -> ("name", k); plain "name" -> ("name", 1).
std::pair<std::string, int> SplitOccurrence(const std::string& ref) {
  size_t hash = ref.rfind('#');
  if (hash != std::string::npos && hash + 1 < ref.size()) {
    bool digits = true;
    for (size_t i = hash + 1; i < ref.size(); ++i) digits = digits && std::isdigit(static_cast<unsigned char>(ref[i]));
    if (digits) return {ref.substr(0, hash), std::atoi(ref.c_str() + hash + 1)};
  }
  return {ref, 1};
}

int FindOccurrence(const std::vector<std::string>& names, const std::string& ref) {
  auto [name, k] = SplitOccurrence(ref);
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name && --k == 0) return static_cast<int>(i);
  return -1;
}

std::string Option(const Item& item, const std::string& key) {
  auto it = item.options.find(key);
  return it == item.options.end() ? std::string() : it->second;
}

// In-memory fixes and instrumentation of a model's text before it compiles.
void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s->find(from, pos)) != std::string::npos) {
    s->replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Adds OutputField elements to the first model's Output (creating it right
// after the first MiningSchema when there is none).
absl::Status InjectOutputFields(std::string* xml, const std::string& fields) {
  size_t close = xml->find("</Output>");
  if (close != std::string::npos) {
    xml->insert(close, fields);
    return absl::OkStatus();
  }
  size_t ms = xml->find("</MiningSchema>");
  if (ms == std::string::npos) return absl::InvalidArgumentError("conformance: no MiningSchema to add an Output after");
  xml->insert(ms + std::strlen("</MiningSchema>"), absl::StrCat("<Output>", fields, "</Output>"));
  return absl::OkStatus();
}

// Moves <RuleSelectionMethod criterion="c"/> in front of the others.
absl::Status MoveCriterionFirst(std::string* xml, const std::string& criterion) {
  size_t attr = xml->find(absl::StrCat("criterion=\"", criterion, "\""));
  if (attr == std::string::npos) return absl::InvalidArgumentError("conformance: no RuleSelectionMethod " + criterion);
  size_t begin = xml->rfind('<', attr);
  size_t end = xml->find("/>", attr);
  size_t first = xml->find("<RuleSelectionMethod");
  if (begin == std::string::npos || end == std::string::npos || first == std::string::npos)
    return absl::InvalidArgumentError("conformance: unexpected RuleSelectionMethod markup");
  std::string element = xml->substr(begin, end + 2 - begin);
  xml->erase(begin, end + 2 - begin);
  xml->insert(first, element);
  return absl::OkStatus();
}

std::string XmlAttr(std::string_view s) {
  std::string r;
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      default: r.push_back(c);
    }
  }
  return r;
}

std::string DerivedOutputName(const std::string& field) { return absl::StrCat("conformance(", field, ")"); }

// One record: the values of the bound input columns.
struct Record {
  std::vector<std::string> cells;  // parallel to the input header
  std::vector<std::string> basket;
  int64_t row = 0;                 // 1-based data row (first row of a group)
};

// What one compiled variant of the model produced for every record.
struct Run {
  std::string variant;  // "" = the model as is
  std::vector<std::string> output_names;
  std::vector<absl::Status> status;             // per record
  std::vector<std::vector<pmml::Value>> values;  // per record, per output
};

}  // namespace

// ---------------------------------------------------------------------------

bool NumbersEquivalent(double expected, double actual, const Tolerance& tol) {
  if (std::isnan(expected) || std::isnan(actual)) return std::isnan(expected) && std::isnan(actual);
  if (expected == actual) return true;
  if (tol.float_ulp > 0) {
    float e = static_cast<float>(expected), a = static_cast<float>(actual);
    if (e == a) return true;
    if (std::isinf(e) || std::isinf(a)) return false;
    auto ordered = [](float f) {
      int32_t i;
      std::memcpy(&i, &f, sizeof i);
      return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
    };
    int64_t d = ordered(e) - ordered(a);
    if (d < 0) d = -d;
    return d <= tol.float_ulp;
  }
  if (std::isinf(expected) || std::isinf(actual)) return false;
  if (std::fabs(expected) <= tol.zero_threshold && std::fabs(actual) <= tol.zero_threshold) return true;
  return std::fabs(expected - actual) <= tol.precision * std::fabs(expected);
}

bool CellMatches(std::string_view expected, const pmml::Value& actual, const Tolerance& tol) {
  const bool exp_missing = cli::IsMissingCell(expected);
  if (exp_missing || actual.missing()) return exp_missing && actual.missing();
  double e = 0;
  const bool exp_number = ParseDouble(expected, &e);
  switch (actual.kind) {
    case pmml::Value::Kind::kBool: {
      std::string l = Lower(expected);
      if (l == "true") return actual.num != 0;
      if (l == "false") return actual.num == 0;
      return exp_number && e == actual.num;
    }
    case pmml::Value::Kind::kNumber:
      if (exp_number) return NumbersEquivalent(e, actual.num, tol);
      return pmml::FormatValue(actual) == expected;
    case pmml::Value::Kind::kString: {
      if (actual.str == expected) return true;
      double a = 0;
      if (exp_number && ParseDouble(actual.str, &a)) return NumbersEquivalent(e, a, tol);
      std::string l = Lower(actual.str);
      if ((l == "true" || l == "false") && Lower(expected) == l) return true;
      return false;
    }
    default:
      return Show(actual) == expected;
  }
}

pmml::Value ValueFromCell(std::string_view cell) {
  if (cli::IsMissingCell(cell)) return pmml::Value();
  double d = 0;
  if (ParseDouble(cell, &d)) return pmml::Value::Number(d);
  return pmml::Value::String(cell);
}

std::vector<std::string> SplitList(std::string_view s, char sep) {
  std::vector<std::string> out;
  if (s.empty() || s == "-") return out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    std::string part(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (!part.empty()) out.push_back(part);
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

absl::StatusOr<std::vector<Item>> ParseItems(std::string_view tsv, bool fixtures) {
  std::vector<Item> items;
  std::istringstream in{std::string(tsv)};
  std::string line;
  int line_no = 0;
  bool header_seen = false;
  auto number = [&](const std::string& s, double def, double* out) -> absl::Status {
    if (s.empty() || s == "-") {
      *out = def;
      return absl::OkStatus();
    }
    if (!ParseDouble(s, out))
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": not a number: '", s, "'"));
    return absl::OkStatus();
  };
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
    // A header row (names instead of values) is skipped.
    if (!header_seen && (f[0] == "name" || f[0] == "id")) {
      header_seen = true;
      continue;
    }
    header_seen = true;
    Item it;
    if (fixtures) {
      if (f.size() < 4) return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": fewer than 4 columns"));
      f.resize(8);
      it.id = f[0];
      it.model = f[1];
      it.input = f[2];
      it.expected = f[3];
      double v;
      if (absl::Status s = number(f[4], 1e-9, &v); !s.ok()) return s;
      it.tol.precision = v;
      if (absl::Status s = number(f[5], it.tol.precision, &v); !s.ok()) return s;
      it.tol.zero_threshold = v;
      for (const std::string& c : SplitList(f[6], ',')) it.skip.push_back(c);
      it.description = f[7];
    } else {
      if (f.size() < 4) return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": fewer than 4 columns"));
      f.resize(13);
      it.id = f[0];
      it.model = f[1];
      it.input = f[2];
      it.expected = f[3];
      it.layout = f[4].empty() || f[4] == "-" ? "jpmml" : f[4];
      double v;
      if (absl::Status s = number(f[5], 0, &v); !s.ok()) return s;
      it.tol.precision = v;
      if (absl::Status s = number(f[6], it.tol.precision, &v); !s.ok()) return s;
      it.tol.zero_threshold = v;
      if (absl::Status s = number(f[7], 0, &v); !s.ok()) return s;
      it.tol.float_ulp = static_cast<int>(v);
      it.skip = SplitList(f[8], ',');
      for (const std::string& r : SplitList(f[9], ',')) {
        size_t arrow = r.find("->");
        if (arrow == std::string::npos)
          return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": rename '", r, "' is not expected->ours"));
        it.renames.emplace_back(r.substr(0, arrow), r.substr(arrow + 2));
      }
      it.columns = SplitList(f[10], ',');
      for (const std::string& o : SplitList(f[11], ';')) {
        size_t eq = o.find('=');
        if (eq == std::string::npos)
          it.options[o] = "1";
        else
          it.options[o.substr(0, eq)] = o.substr(eq + 1);
      }
      it.description = f[12];
    }
    if (it.id.empty()) return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": empty id"));
    items.push_back(std::move(it));
  }
  return items;
}

namespace {

std::string JoinPath(const std::string& root, const std::string& p) {
  if (p.empty() || p[0] == '/' || root.empty()) return p;
  return root.back() == '/' ? root + p : root + "/" + p;
}

// Collects mismatches of one item: the first few in detail, counts of all.
struct Mismatches {
  int max_details = 0;
  std::string first;
  std::vector<std::string> details;
  std::set<int64_t> bad_rows;
  int64_t count = 0;
  void Add(int64_t row, std::string msg) {
    ++count;
    bad_rows.insert(row);
    if (first.empty()) first = msg;
    else if (static_cast<int>(details.size()) < max_details) details.push_back(std::move(msg));
  }
};

}  // namespace

ItemResult RunItem(const Item& item, const std::string& root, int max_details) {
  const auto t0 = std::chrono::steady_clock::now();
  ItemResult res;
  auto done = [&]() {
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
  };
  auto fail = [&](std::string why) {
    res.pass = false;
    // Paths in messages are shown relative to the corpus root.
    if (!root.empty()) ReplaceAll(&why, root.back() == '/' ? root : root + "/", "");
    res.summary = std::move(why);
    return done();
  };

  // Input and expected tables.
  auto input = ReadCsvFile(JoinPath(root, item.input));
  if (!input.ok()) return fail(std::string(input.status().message()));
  CsvTable expected;
  if (item.expected.empty() || item.expected == "-" || item.layout == "cpmml" || item.layout == "derived") {
    expected = *input;
  } else {
    auto e = ReadCsvFile(JoinPath(root, item.expected));
    if (!e.ok()) return fail(std::string(e.status().message()));
    expected = std::move(*e);
  }

  // Records.
  std::vector<Record> records;
  int basket_col = -1;
  if (item.layout == "basket") {
    const int group_col = FindOccurrence(input->header, Option(item, "group"));
    basket_col = FindOccurrence(input->header, Option(item, "basket"));
    if (group_col < 0 || basket_col < 0) return fail("items file: basket layout needs group= and basket= columns");
    for (size_t r = 0; r < input->rows.size(); ++r) {
      const auto& row = input->rows[r];
      if (records.empty() || records.back().cells[group_col] != row[group_col]) {
        Record rec;
        rec.cells = row;
        rec.row = static_cast<int64_t>(r) + 1;
        records.push_back(std::move(rec));
      }
      auto& b = records.back().basket;
      if (!cli::IsMissingCell(row[basket_col]) &&
          std::find(b.begin(), b.end(), row[basket_col]) == b.end())
        b.push_back(row[basket_col]);
    }
  } else {
    for (size_t r = 0; r < input->rows.size(); ++r) {
      Record rec;
      rec.cells = input->rows[r];
      rec.row = static_cast<int64_t>(r) + 1;
      records.push_back(std::move(rec));
    }
  }
  if (records.size() != expected.rows.size())
    return fail(absl::StrCat("the input gives ", records.size(), " records but the expected file has ",
                             expected.rows.size(), " rows"));

  res.rows = static_cast<int64_t>(records.size());

  // Model variants and the text rewrites each needs: the model as is, or one
  // per RuleSet criterion, or (derived layout) one per derived field, so that
  // a field that does not compile fails only its own rows.
  const bool derived = item.layout == "derived";
  std::vector<std::string> variants = {""};
  const std::vector<std::string> criteria = SplitList(Option(item, "criteria"), ',');
  for (const std::string& c : criteria) variants.push_back(c);
  const std::string rule_output = Option(item, "rule_output");
  const int derived_name_col = derived ? FindOccurrence(expected.header, "derived_field") : -1;
  std::map<std::string, int> derived_run;  // derived field -> its variant
  if (derived) {
    if (derived_name_col < 0) return fail("items file: derived layout needs a derived_field column");
    variants.clear();
    for (const auto& row : expected.rows)
      if (derived_run.emplace(row[derived_name_col], static_cast<int>(variants.size())).second)
        variants.push_back(row[derived_name_col]);
  }

  std::vector<Run> runs;
  for (const std::string& variant : variants) {
    auto rewrite = [&](std::string* xml) -> absl::Status {
      if (Option(item, "rewrite") == "fmtwidth")
        ReplaceAll(xml, "<Constant>FMTWIDTH</Constant>", "<FieldRef field=\"FMTWIDTH\"/>");
      std::string inject;
      if (derived) {
        absl::StrAppend(&inject, "<OutputField name=\"", XmlAttr(DerivedOutputName(variant)),
                        "\" feature=\"transformedValue\"><FieldRef field=\"", XmlAttr(variant),
                        "\"/></OutputField>");
      } else if (!variant.empty()) {
        absl::Status s = MoveCriterionFirst(xml, variant);
        if (!s.ok()) return s;
      }
      if (!rule_output.empty())
        absl::StrAppend(&inject, "<OutputField name=\"", XmlAttr(rule_output), "\" feature=\"entityId\"/>");
      if (!inject.empty()) return InjectOutputFields(xml, inject);
      return absl::OkStatus();
    };
    auto model = cli::LoadModelFile(JoinPath(root, item.model), rewrite);
    if (!model.ok() && derived) {
      Run run;
      run.variant = variant;
      std::string msg = absl::StrCat("load: ", model.status().message());
      if (!root.empty()) ReplaceAll(&msg, root.back() == '/' ? root : root + "/", "");
      run.status.assign(records.size(), absl::InvalidArgumentError(msg));
      run.values.resize(records.size());
      runs.push_back(std::move(run));
      continue;
    }
    if (!model.ok()) return fail(absl::StrCat("load: ", model.status().message()));
    const pmml::CompiledModel& m = **model;
    Run run;
    run.variant = variant;
    for (const auto& o : m.outputs()) run.output_names.push_back(o.name);
    std::vector<int> bind = m.Bind(input->header);
    for (size_t i = 0; i < bind.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (input->header[j] == input->header[i]) bind[i] = -1;  // first of a duplicate name wins
    auto ctx = m.NewContext();
    for (const Record& rec : records) {
      ctx->BeginRecord();
      for (size_t c = 0; c < rec.cells.size() && c < bind.size(); ++c) {
        if (bind[c] < 0) continue;
        if (static_cast<int>(c) == basket_col) {
          pmml::Value v;
          v.kind = pmml::Value::Kind::kCollection;
          v.type = pmml::DataType::kString;
          v.items = rec.basket;
          m.SetInput(*ctx, bind[c], v);
        } else if (cli::IsMissingCell(rec.cells[c])) {
          m.SetMissing(*ctx, bind[c]);
        } else {
          m.SetInput(*ctx, bind[c], rec.cells[c]);
        }
      }
      absl::Status st = m.Evaluate(*ctx);
      std::vector<pmml::Value> vals;
      if (st.ok())
        for (int i = 0; i < static_cast<int>(run.output_names.size()); ++i) vals.push_back(m.Output(*ctx, i));
      run.status.push_back(st);
      run.values.push_back(std::move(vals));
    }
    runs.push_back(std::move(run));
  }
  res.rows = static_cast<int64_t>(records.size());

  // Columns to compare: (expected column, run, output index or -1, label).
  struct Target {
    int exp_col;
    int run;
    int out;
    std::string label;
    std::string our_name;
  };
  std::vector<Target> targets;
  std::vector<std::string> exp_refs;
  if (item.layout == "derived") {
    exp_refs.push_back("expected");
  } else if (!item.columns.empty()) {
    exp_refs = item.columns;
  } else {
    std::map<std::string, int> seen;
    for (const std::string& h : expected.header) {
      int k = ++seen[h];
      exp_refs.push_back(k == 1 ? h : absl::StrCat(h, "#", k));
    }
  }
  for (const std::string& ref : exp_refs) {
    if (std::find(item.skip.begin(), item.skip.end(), ref) != item.skip.end()) continue;
    if (std::find(item.skip.begin(), item.skip.end(), SplitOccurrence(ref).first) != item.skip.end()) continue;
    Target t;
    t.exp_col = FindOccurrence(expected.header, ref);
    if (t.exp_col < 0) return fail(absl::StrCat("items file: the expected file has no column '", ref, "'"));
    t.label = ref;
    std::string ours = ref;
    for (const auto& [from, to] : item.renames)
      if (from == ref) ours = to;
    t.run = 0;
    // "name(criterion)" reads output `name` of that criterion's variant.
    for (size_t v = 1; v < variants.size(); ++v) {
      std::string suffix = absl::StrCat("(", variants[v], ")");
      if (ours.size() > suffix.size() && ours.compare(ours.size() - suffix.size(), suffix.size(), suffix) == 0) {
        ours = ours.substr(0, ours.size() - suffix.size());
        t.run = static_cast<int>(v);
      }
    }
    t.our_name = ours;
    t.out = item.layout == "derived" ? -1 : FindOccurrence(runs[t.run].output_names, ours);
    targets.push_back(t);
  }

  // Per-row tolerance overrides: "row:precision[,row:precision]".
  std::map<int64_t, double> row_tol;
  for (const std::string& rt : SplitList(Option(item, "row_tolerance"), ',')) {
    size_t colon = rt.find(':');
    double v = 0;
    if (colon != std::string::npos && ParseDouble(rt.substr(colon + 1), &v)) row_tol[std::atoll(rt.c_str())] = v;
  }
  const std::vector<std::string> unchecked_blank = SplitList(Option(item, "unchecked_blank"), ',');

  Mismatches mm;
  mm.max_details = max_details;
  std::set<std::string> absent_reported;
  for (size_t r = 0; r < records.size(); ++r) {
    const int64_t row_no = static_cast<int64_t>(r) + 1;
    Tolerance tol = item.tol;
    if (auto it = row_tol.find(row_no); it != row_tol.end()) tol.precision = tol.zero_threshold = it->second;
    std::set<int> failed_runs;
    for (const Target& t : targets) {
      const std::string& exp = expected.rows[r][t.exp_col];
      if (exp.empty() && std::find(unchecked_blank.begin(), unchecked_blank.end(), t.label) != unchecked_blank.end())
        continue;
      const int run_index = derived ? derived_run[expected.rows[r][derived_name_col]] : t.run;
      const Run& run = runs[run_index];
      if (!run.status[r].ok()) {
        if (failed_runs.insert(run_index).second)
          mm.Add(row_no, absl::StrCat("row ", row_no, run.variant.empty() ? "" : " (" + run.variant + ")", ": ",
                                      absl::StartsWith(run.status[r].message(), "load: ") ? "" : "evaluation failed: ",
                                      run.status[r].message()));
        continue;
      }
      int out = t.out;
      if (item.layout == "derived")
        out = FindOccurrence(run.output_names, DerivedOutputName(expected.rows[r][derived_name_col]));
      static const pmml::Value kMissing;
      const pmml::Value& actual = out >= 0 ? run.values[r][out] : kMissing;
      ++res.cells;
      if (!CellMatches(exp, actual, tol)) {
        std::string note;
        if (out < 0) note = absl::StrCat(" (the model has no output '", t.our_name, "')");
        mm.Add(row_no, absl::StrCat("row ", row_no, ", ", t.label, ": expected ", exp.empty() ? "(missing)" : exp,
                                    ", got ", Show(actual), note));
      }
    }
  }
  res.bad_rows = static_cast<int64_t>(mm.bad_rows.size());
  res.details = std::move(mm.details);
  if (mm.count == 0) {
    res.pass = true;
    return done();
  }
  res.summary = absl::StrCat(mm.first, " [", res.bad_rows, " of ", res.rows, " rows differ]");
  return done();
}

ItemResult CompareCsvFiles(const std::string& expected_path, const std::string& actual_path, const Item& how) {
  ItemResult res;
  auto e = ReadCsvFile(expected_path);
  auto a = ReadCsvFile(actual_path);
  if (!e.ok() || !a.ok()) {
    res.summary = std::string((!e.ok() ? e.status() : a.status()).message());
    return res;
  }
  if (e->rows.size() != a->rows.size()) {
    res.summary = absl::StrCat("expected ", e->rows.size(), " rows, got ", a->rows.size());
    return res;
  }
  res.rows = static_cast<int64_t>(e->rows.size());
  Mismatches mm;
  mm.max_details = 10;
  std::map<std::string, int> seen;
  for (size_t c = 0; c < e->header.size(); ++c) {
    const std::string& h = e->header[c];
    int k = ++seen[h];
    std::string ref = k == 1 ? h : absl::StrCat(h, "#", k);
    if (std::find(how.skip.begin(), how.skip.end(), h) != how.skip.end()) continue;
    int ac = FindOccurrence(a->header, ref);
    if (ac < 0) {
      mm.Add(0, absl::StrCat("the output has no column '", ref, "'"));
      continue;
    }
    for (size_t r = 0; r < e->rows.size(); ++r) {
      ++res.cells;
      if (!CellMatches(e->rows[r][c], ValueFromCell(a->rows[r][ac]), how.tol))
        mm.Add(static_cast<int64_t>(r) + 1, absl::StrCat("row ", r + 1, ", ", ref, ": expected ", e->rows[r][c],
                                                          ", got ", a->rows[r][ac]));
    }
  }
  res.bad_rows = static_cast<int64_t>(mm.bad_rows.size());
  res.details = std::move(mm.details);
  res.pass = mm.count == 0;
  if (!res.pass) res.summary = mm.first;
  return res;
}


absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read"));
  cli::CsvReader reader(in);
  CsvTable t;
  if (!reader.Next(&t.header)) return absl::InvalidArgumentError(absl::StrCat(path, ": no header"));
  std::vector<std::string> row;
  while (reader.Next(&row)) {
    if (row.size() == 1 && row[0].empty() && t.header.size() > 1) continue;  // blank line
    row.resize(t.header.size());
    t.rows.push_back(row);
  }
  if (!reader.status().ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", reader.status().message()));
  return t;
}


// ---- shared by the runners' command lines

std::string FindCorpus(const std::string& source_dir) {
  if (const char* env = std::getenv("EVS_CORPUS"); env && *env) return env;
  std::error_code ec;
  for (std::filesystem::path start : {std::filesystem::path(source_dir), std::filesystem::current_path(ec)}) {
    std::filesystem::path p = std::filesystem::weakly_canonical(start, ec);
    for (int i = 0; i < 6 && !p.empty(); ++i) {
      std::filesystem::path c = p.parent_path() / "shared" / "corpus";
      if (std::filesystem::is_directory(c, ec)) return c.string();
      if (p == p.parent_path()) break;
      p = p.parent_path();
    }
  }
  return "";
}

bool ReadText(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string MarkdownCell(std::string s) {
  std::string r;
  for (char c : s) {
    if (c == '|') r += "\\|";
    else if (c == '\n' || c == '\r') r += ' ';
    else r.push_back(c);
  }
  if (r.size() > 300) r = r.substr(0, 297) + "...";
  return r;
}

std::set<std::string> ReadList(const std::string& path) {
  std::set<std::string> s;
  std::string text;
  if (!ReadText(path, &text)) return s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    s.insert(line);
  }
  return s;
}

std::map<std::string, std::string> ReadReasons(const std::string& path) {
  std::map<std::string, std::string> m;
  std::string text;
  if (!ReadText(path, &text)) return m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t tab = line.find('\t');
    if (tab != std::string::npos) m[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return m;
}

bool Matches(const std::string& id, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  for (const auto& f : filters)
    if (id.find(f) != std::string::npos) return true;
  return false;
}

}  // namespace evs::conformance
