#include "spark/pipeline.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace evs::spark {

namespace {
// Debian's abseil has its own string_view: StrCat and hash lookups need it.
inline absl::string_view V(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

// Compiles a loaded source into a Pipeline: stages, pruning, inputs and
// conventions. Only used by Pipeline::Load.
class PipelineBuilder {
 public:
  static absl::StatusOr<std::unique_ptr<Pipeline>> Build(std::unique_ptr<ArtifactSource> src,
                                                         const LoadOptions& opts) {
    std::unique_ptr<Pipeline> p(new Pipeline());
    if (!opts.schema_json.empty()) {
      ASSIGN_OR_RETURN(p->schema_, Schema::FromStructType(opts.schema_json));
    }
    ASSIGN_OR_RETURN(StageMeta root, ReadStageMeta(*src, ""));
    p->spark_version_ = root.spark_version;
    std::vector<std::unique_ptr<Stage>> all;
    absl::Status loaded = LoadStageInto(*src, "", p->schema_, &all);
    if (!loaded.ok()) {
      // Stages after every wanted output exists cannot change it (Spark
      // refuses to overwrite a column), so a failure there is tolerated
      // when the caller named its outputs.
      bool have_all = !opts.outputs.empty() && !opts.conventions_outputs;
      for (const auto& name : opts.outputs) have_all = have_all && p->schema_.Find(name) >= 0;
      if (!have_all) return loaded;
    }
    p->conventions_ = MakeConventions(p->schema_);

    // Wanted slots: the named outputs (plus the conventions' columns), or
    // every stage when no outputs are named.
    std::vector<int> wanted;
    for (const auto& name : opts.outputs) {
      int slot = p->schema_.Find(name);
      if (slot < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "wanted output column '", name, "' is not produced by the pipeline (columns: ",
            absl::StrJoin(p->schema_.VisibleColumns(), ", "), ")"));
      }
      wanted.push_back(slot);
    }
    if (opts.conventions_outputs) {
      if (p->conventions_.prediction_slot >= 0) wanted.push_back(p->conventions_.prediction_slot);
      if (p->conventions_.probability_slot >= 0) wanted.push_back(p->conventions_.probability_slot);
    }
    const bool keep_all = opts.outputs.empty() && !opts.conventions_outputs;
    std::vector<bool> live(p->schema_.num_slots(), false);
    for (int s : wanted) live[s] = true;
    std::vector<bool> keep(all.size(), keep_all);
    for (size_t i = all.size(); i-- > 0;) {
      if (!keep_all) {
        for (int w : all[i]->writes)
          if (w >= 0 && static_cast<size_t>(w) < live.size() && live[w]) keep[i] = true;
      }
      if (keep[i])
        for (int r : all[i]->reads)
          if (r >= 0 && static_cast<size_t>(r) < live.size()) live[r] = true;
    }
    absl::flat_hash_set<int> seen;
    auto note_input = [&](int slot) {
      if (slot < 0 || static_cast<size_t>(slot) >= p->schema_.num_slots()) return;
      if (!p->schema_.column(slot).is_input || !seen.insert(slot).second) return;
      p->inputs_.push_back(p->schema_.column(slot));
      p->input_slots_.push_back(slot);
    };
    for (size_t i = 0; i < all.size(); ++i) {
      if (!keep[i]) continue;
      for (int r : all[i]->reads) note_input(r);
      p->stages_.push_back(std::move(all[i]));
    }
    for (int s : wanted) note_input(s);
    p->source_ = std::move(src);
    return p;
  }

  // The newest slot (visible or not) with this name.
  static int FindAny(const Schema& s, std::string_view name) {
    int slot = s.Find(name);
    if (slot >= 0) return slot;
    for (size_t i = s.num_slots(); i-- > 0;)
      if (s.column(static_cast<int>(i)).name == name) return static_cast<int>(i);
    return -1;
  }

  static Conventions MakeConventions(const Schema& s) {
    Conventions c;
    const auto& pred = s.predictor();
    if (!pred.has_value()) return c;
    c.has_predictor = true;
    c.kind = pred->kind;
    c.prediction_slot = pred->prediction_slot;
    c.probability_slot = pred->probability_slot;
    if (c.kind == PredictorInfo::Kind::kClustering) {
      c.label_name = "cluster";
      return c;
    }
    c.label_name = pred->label_col;
    int slot = pred->label_col.empty() ? -1 : FindAny(s, pred->label_col);
    if (slot >= 0) {
      const ColumnInfo& col = s.column(slot);
      if (!col.indexed_from.empty()) c.label_name = col.indexed_from;
      if (c.kind == PredictorInfo::Kind::kClassification && col.attrs.size() == 1 &&
          col.attrs[0].type == Attribute::Type::kNominal)
        c.labels = col.attrs[0].values;
    }
    if (c.kind == PredictorInfo::Kind::kRegression && slot >= 0 &&
        pred->stage_class == "org.apache.spark.ml.regression.GeneralizedLinearRegressionModel") {
      const ColumnInfo& col = s.column(slot);
      if (col.attrs.size() == 1 && col.attrs[0].type == Attribute::Type::kNominal &&
          col.attrs[0].values.size() == 2) {
        c.kind = PredictorInfo::Kind::kClassification;
        c.labels = col.attrs[0].values;
        c.probability_slot = -1;
        c.probability_from_prediction = true;
      }
    }
    if (c.kind == PredictorInfo::Kind::kClassification && c.labels.empty() && pred->num_classes > 0) {
      // A numeric label column without an indexer: the class index is the
      // label, printed as the label column's type prints it.
      DataType t = slot >= 0 ? s.column(slot).type : DataType::kDouble;
      if (slot >= 0 && !s.column(slot).indexed_from.empty()) {
        int from = FindAny(s, s.column(slot).indexed_from);
        if (from >= 0) t = s.column(from).type;
      }
      Cell cell;
      for (int k = 0; k < pred->num_classes; ++k) {
        cell.SetNumber(k);
        c.labels.push_back(CastToString(cell, IsNumeric(t) ? t : DataType::kDouble));
      }
    }
    return c;
  }
};

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Load(const std::string& path,
                                                         const LoadOptions& opts) {
  ASSIGN_OR_RETURN(auto src, ArtifactSource::Open(path));
  return Load(std::move(src), opts);
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Load(std::unique_ptr<ArtifactSource> src,
                                                         const LoadOptions& opts) {
  if (src == nullptr) return absl::InvalidArgumentError("no artifact source");
  return PipelineBuilder::Build(std::move(src), opts);
}

Pipeline::~Pipeline() = default;

int Pipeline::InputIndex(std::string_view name) const {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].name == name) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> Pipeline::StageNames() const {
  std::vector<std::string> out;
  for (const auto& s : stages_) out.push_back(s->name);
  return out;
}

std::unique_ptr<Row> Pipeline::NewRow() const {
  auto row = std::make_unique<Row>();
  row->cells.resize(schema_.num_slots());
  return row;
}

void Pipeline::BeginRow(Row& row) const {
  if (row.cells.size() < schema_.num_slots()) row.cells.resize(schema_.num_slots());
  for (int s : input_slots_) row.cells[s].SetNull();
  row.filtered = false;
  row.filter_reason.clear();
}

namespace {

std::string_view Strip(std::string_view t) {
  while (!t.empty() && absl::ascii_isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
  while (!t.empty() && absl::ascii_isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  return t;
}

bool ParseDouble(std::string_view t, double* out) {
  t = Strip(t);
  if (t == "NaN") { *out = std::nan(""); return true; }
  if (t == "Infinity" || t == "+Infinity") { *out = HUGE_VAL; return true; }
  if (t == "-Infinity") { *out = -HUGE_VAL; return true; }
  if (t.empty()) return false;
  if (t.front() == '+') t.remove_prefix(1);
  auto r = std::from_chars(t.data(), t.data() + t.size(), *out);
  return r.ec == std::errc() && r.ptr == t.data() + t.size();
}

// Spark's vector text form: "[1.0,2.0]" (dense) or "(3,[0,2],[1.0,4.0])".
bool ParseVector(std::string_view t, Vector* v) {
  t = Strip(t);
  auto parse_list = [](std::string_view body, std::vector<double>* out) {
    out->clear();
    body = Strip(body);
    if (body.empty()) return true;
    size_t start = 0;
    while (true) {
      size_t comma = body.find(',', start);
      double x;
      if (!ParseDouble(body.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start), &x))
        return false;
      out->push_back(x);
      if (comma == std::string_view::npos) return true;
      start = comma + 1;
    }
  };
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
    v->dense = true;
    v->indices.clear();
    if (!parse_list(t.substr(1, t.size() - 2), &v->values)) return false;
    v->size = static_cast<int32_t>(v->values.size());
    return true;
  }
  if (t.size() >= 2 && t.front() == '(' && t.back() == ')') {
    std::string_view body = t.substr(1, t.size() - 2);
    size_t c1 = body.find(',');
    size_t b1 = body.find('['), e1 = body.find(']');
    if (c1 == std::string_view::npos || b1 == std::string_view::npos || e1 == std::string_view::npos) return false;
    size_t b2 = body.find('[', e1), e2 = body.find(']', b2 == std::string_view::npos ? e1 : b2);
    if (b2 == std::string_view::npos || e2 == std::string_view::npos) return false;
    double n;
    if (!ParseDouble(body.substr(0, c1), &n) || n < 0 || n != std::floor(n)) return false;
    std::vector<double> idx;
    if (!parse_list(body.substr(b1 + 1, e1 - b1 - 1), &idx)) return false;
    if (!parse_list(body.substr(b2 + 1, e2 - b2 - 1), &v->values)) return false;
    if (idx.size() != v->values.size()) return false;
    v->dense = false;
    v->size = static_cast<int32_t>(n);
    v->indices.clear();
    for (double i : idx) {
      if (i < 0 || i >= n || i != std::floor(i)) return false;
      if (!v->indices.empty() && static_cast<int32_t>(i) <= v->indices.back()) return false;
      v->indices.push_back(static_cast<int32_t>(i));
    }
    return true;
  }
  return false;
}

}  // namespace

absl::Status Pipeline::SetInput(Row& row, int input, std::string_view text) const {
  if (input < 0 || static_cast<size_t>(input) >= inputs_.size())
    return absl::InvalidArgumentError(absl::StrCat("input index ", input, " out of range"));
  const ColumnInfo& col = inputs_[input];
  Cell& cell = row.cells[input_slots_[input]];
  auto bad = [&]() {
    return absl::InvalidArgumentError(absl::StrCat("column '", col.name, "': '", V(text),
                                                   "' is not a valid ", V(DataTypeName(col.type))));
  };
  switch (col.type) {
    case DataType::kString:
      cell.SetString(text);
      return absl::OkStatus();
    case DataType::kDouble:
    case DataType::kFloat: {
      double v;
      if (!ParseDouble(text, &v)) return bad();
      if (col.type == DataType::kFloat) v = static_cast<float>(v);
      cell.SetNumber(v);
      return absl::OkStatus();
    }
    case DataType::kInteger:
    case DataType::kLong: {
      std::string_view t = Strip(text);
      int64_t i;
      if (absl::SimpleAtoi(V(t), &i)) {
        if (col.type == DataType::kInteger && (i < INT32_MIN || i > INT32_MAX)) return bad();
        cell.SetNumber(static_cast<double>(i));
        return absl::OkStatus();
      }
      double v;  // "3.0" from a CSV writer
      if (!ParseDouble(t, &v) || v != std::floor(v) || std::fabs(v) > 9.2e18) return bad();
      if (col.type == DataType::kInteger && (v < INT32_MIN || v > INT32_MAX)) return bad();
      cell.SetNumber(v);
      return absl::OkStatus();
    }
    case DataType::kBoolean: {
      std::string t = absl::AsciiStrToLower(V(Strip(text)));
      if (t == "true" || t == "1") cell.SetNumber(1);
      else if (t == "false" || t == "0") cell.SetNumber(0);
      else return bad();
      return absl::OkStatus();
    }
    case DataType::kVector: {
      Vector& v = cell.MutableVector();
      if (!ParseVector(text, &v)) {
        cell.SetNull();
        return bad();
      }
      return absl::OkStatus();
    }
    case DataType::kStringArray:
    case DataType::kDoubleArray: {
      nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_array()) return bad();
      if (col.type == DataType::kStringArray) {
        auto& out = cell.MutableStrings();
        out.clear();
        for (const auto& e : j) {
          if (!e.is_string()) { cell.SetNull(); return bad(); }
          out.push_back(e.get<std::string>());
        }
      } else {
        cell.kind = Cell::Kind::kNumbers;
        cell.nums.clear();
        for (const auto& e : j) {
          if (!e.is_number()) { cell.SetNull(); return bad(); }
          cell.nums.push_back(e.get<double>());
        }
      }
      return absl::OkStatus();
    }
  }
  return bad();
}

void Pipeline::SetInput(Row& row, int input, double number) const {
  if (input < 0 || static_cast<size_t>(input) >= inputs_.size()) return;
  Cell& cell = row.cells[input_slots_[input]];
  if (inputs_[input].type == DataType::kString) cell.SetString(JavaDoubleToString(number));
  else cell.SetNumber(number);
}

void Pipeline::SetInput(Row& row, int input, const Vector& v) const {
  if (input < 0 || static_cast<size_t>(input) >= inputs_.size()) return;
  Vector& out = row.cells[input_slots_[input]].MutableVector();
  out.size = v.size;
  out.dense = v.dense;
  out.indices.assign(v.indices.begin(), v.indices.end());
  out.values.assign(v.values.begin(), v.values.end());
}

void Pipeline::SetNull(Row& row, int input) const {
  if (input < 0 || static_cast<size_t>(input) >= inputs_.size()) return;
  row.cells[input_slots_[input]].SetNull();
}

absl::Status Pipeline::Run(Row& row) const {
  for (const auto& s : stages_) {
    RETURN_IF_ERROR(s->Apply(row));
    if (row.filtered) return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace evs::spark
