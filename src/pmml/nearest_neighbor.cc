// NearestNeighborModel with an InlineTable of TrainingInstances.
//
// The training rows are prepared once, on the first evaluation (they may
// need the model's derived fields, which only exist once the Plan is
// built): each row is fed through a private EvalContext of the same Plan as
// if it were a record (the InstanceFields' DataFields get the row's text),
// and the KNNInput fields are read back. Preparation is guarded by
// std::call_once, so evaluation stays const and thread-safe.
//
// Scoring as JPMML-Evaluator: neighbors sorted by distance (or similarity,
// descending), ties in row order; continuous targets by average, median or
// weightedAverage (weight 1/(distance + threshold)); categorical targets by
// (weighted) majority vote, a tie broken by the categories' frequency in the
// training data, then by the smallest value. entityId = the row's
// instanceIdVariable value, or its 1-based row number.

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pmml/document.h"
#include "pmml/misc_util.h"
#include "pmml/model.h"

namespace evs::pmml {
namespace {

using misc::Children;
using misc::CompareField;
using misc::Measure;

enum class ContMethod : uint8_t { kAverage, kWeightedAverage, kMedian };
enum class CatMethod : uint8_t { kMajority, kWeightedMajority };

struct InstanceColumn {
  std::string column;
  SlotId raw_slot = kNoSlot;
  DataType type = DataType::kString;
};

struct Training {
  absl::Status status;
  size_t rows = 0;
  std::vector<Value> values;    // rows x dim (KNN inputs after transformations)
  std::vector<double> numbers;  // numeric view (NaN when missing / not numeric)
  std::vector<Value> targets;   // one per row (missing when no target)
  std::vector<Value> ids;       // one per row
  // Training frequency of each distinct target value (for vote ties).
  std::vector<std::pair<Value, int>> target_counts;
};

struct Scratch {
  std::vector<double> dist;
  std::vector<int> order;
  std::vector<const Value*> in;
  std::vector<double> x;
  std::vector<std::pair<const Value*, double>> votes;
  std::vector<double> med;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

class NearestNeighborModelImpl final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    std::call_once(once_, [&] { Prepare(ctx.plan()); });
    if (!training_.status.ok()) {
      ctx.Fail(training_.status);
      return;
    }
    Scratch& s = ThreadScratch();
    const size_t dim = slots_.size();
    const size_t n = training_.rows;
    s.in.resize(dim);
    s.x.resize(dim);
    double present = 0;
    for (size_t i = 0; i < dim; ++i) {
      const Value& v = ctx.Get(slots_[i]);
      s.in[i] = &v;
      s.x[i] = NAN;
      if (v.missing()) continue;
      present += 1;
      misc::AsNumber(v, &s.x[i]);
    }
    s.dist.resize(n);
    if (measure_.similarity) {
      std::vector<bool> flags;  // small; similarity k-NN is rare
      for (size_t i = 0; i < dim; ++i) {
        bool f;
        if (!misc::BinaryFlag(*s.in[i], &f)) {
          ctx.Fail(absl::InvalidArgumentError("NearestNeighborModel: expected a 0/1 value for " +
                                              ctx.plan().slot_name(slots_[i])));
          return;
        }
        flags.push_back(f);
      }
      for (size_t r = 0; r < n; ++r) {
        int a11 = 0, a10 = 0, a01 = 0, a00 = 0;
        for (size_t i = 0; i < dim; ++i) {
          bool y;
          if (!misc::BinaryFlag(training_.values[r * dim + i], &y)) {
            ctx.Fail(absl::InvalidArgumentError("NearestNeighborModel: training value is not 0/1"));
            return;
          }
          (flags[i] ? (y ? a11 : a10) : (y ? a01 : a00)) += 1;
        }
        s.dist[r] = misc::Similarity(measure_, a11, a10, a01, a00);
      }
    } else {
      if (present == 0) return;  // no input: no prediction
      double adjustment = static_cast<double>(dim) / present;
      for (size_t r = 0; r < n; ++r) {
        misc::DistanceAcc acc;
        for (size_t i = 0; i < dim; ++i) {
          if (s.in[i]->missing()) continue;
          const CompareField& f = fields_[i];
          bool eq = false;
          if (f.fn == misc::CompareFn::kDelta || f.fn == misc::CompareFn::kEqual) {
            eq = ValuesEqual(*s.in[i], training_.values[r * dim + i]);
          } else if (std::isnan(s.x[i]) || std::isnan(training_.numbers[r * dim + i])) {
            ctx.Fail(absl::InvalidArgumentError("NearestNeighborModel: non-numeric value for " +
                                                ctx.plan().slot_name(slots_[i])));
            return;
          }
          acc.Add(misc::InnerTerm(f, measure_.inner_power, s.x[i], training_.numbers[r * dim + i], eq));
        }
        s.dist[r] = acc.Finish(measure_, adjustment);
      }
    }
    // Ranking: the first `keep_` rows in order, ties by row.
    size_t keep = std::min(keep_, n);
    s.order.resize(n);
    std::iota(s.order.begin(), s.order.end(), 0);
    bool sim = measure_.similarity;
    const std::vector<double>& d = s.dist;
    auto better = [&](int l, int r) {
      if (d[l] != d[r]) return sim ? d[l] > d[r] : d[l] < d[r];
      return l < r;
    };
    std::partial_sort(s.order.begin(), s.order.begin() + keep, s.order.end(), better);
    result->ranked_ids.resize(keep);
    result->ranked_scores.resize(keep);
    for (size_t i = 0; i < keep; ++i) {
      result->ranked_ids[i] = training_.ids[s.order[i]];
      result->ranked_scores[i] = d[s.order[i]];
    }
    if (keep > 0) {
      result->entity_id = training_.ids[s.order[0]];
      result->affinity = d[s.order[0]];
    }
    if (!has_target_) return;

    const size_t k = std::min(k_, n);
    if (continuous_) {
      double value = 0;
      if (cont_ == ContMethod::kMedian) {
        s.med.clear();
        for (size_t i = 0; i < k; ++i) s.med.push_back(training_.targets[s.order[i]].num);
        std::sort(s.med.begin(), s.med.end());
        size_t m = s.med.size();
        // As commons-math's Percentile(50) (JPMML): lo + 0.5 * (hi - lo).
        value = m % 2 ? s.med[m / 2] : s.med[m / 2 - 1] + 0.5 * (s.med[m / 2] - s.med[m / 2 - 1]);
      } else if (cont_ == ContMethod::kAverage) {
        for (size_t i = 0; i < k; ++i) value += training_.targets[s.order[i]].num;
        value /= static_cast<double>(k);
      } else {
        double wsum = 0;
        for (size_t i = 0; i < k; ++i) {
          double w = 1 / (d[s.order[i]] + threshold_);
          value += w * training_.targets[s.order[i]].num;
          wsum += w;
        }
        value /= wsum;
      }
      Value num = Value::Number(value);
      if (ConvertValue(num, target_type_, &result->predicted).ok() == false) result->predicted = num;
      return;
    }
    // Categorical vote, categories in order of first appearance.
    s.votes.clear();
    for (size_t i = 0; i < k; ++i) {
      const Value& t = training_.targets[s.order[i]];
      double w = cat_ == CatMethod::kMajority ? 1.0 : 1 / (d[s.order[i]] + threshold_);
      auto it = std::find_if(s.votes.begin(), s.votes.end(),
                             [&](const auto& e) { return ValuesEqual(*e.first, t); });
      if (it == s.votes.end()) {
        s.votes.emplace_back(&t, w);
      } else {
        it->second += w;
      }
    }
    double top = -INFINITY;
    for (const auto& e : s.votes) top = std::max(top, e.second);
    const Value* winner = nullptr;
    int winners = 0;
    for (const auto& e : s.votes) {
      if (e.second == top) {
        if (!winner) winner = e.first;
        ++winners;
      }
    }
    if (winners > 1) {
      // Tie: most frequent in the training data, then the smallest value.
      int best_count = -1;
      const Value* best = nullptr;
      for (const auto& e : s.votes) {
        if (e.second != top) continue;
        int c = TrainingCount(*e.first);
        if (c > best_count) {
          best_count = c;
          best = e.first;
        } else if (c == best_count && CompareValues(*e.first, *best) < 0) {
          best = e.first;
        }
      }
      winner = best;
    }
    if (winner) result->predicted = *winner;
  }

  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override {
    const std::string& f = spec.feature;
    if (!misc::Is(f, "entityId") && !misc::Is(f, "affinity") && !misc::Is(f, "entityAffinity") && !misc::Is(f, "clusterAffinity")) return false;
    out->SetMissing();
    int rank = spec.rank < 1 ? 1 : spec.rank;
    if (misc::Is(f, "entityId")) {
      if (rank <= static_cast<int>(result.ranked_ids.size())) *out = result.ranked_ids[rank - 1];
      return true;
    }
    if (!spec.value.missing() && !misc::Is(f, "affinity")) {
      for (size_t i = 0; i < result.ranked_ids.size(); ++i) {
        if (ValuesEqual(result.ranked_ids[i], spec.value)) {
          out->SetNumber(result.ranked_scores[i]);
          return true;
        }
      }
      return true;
    }
    if (rank <= static_cast<int>(result.ranked_scores.size())) out->SetNumber(result.ranked_scores[rank - 1]);
    return true;
  }

  int TrainingCount(const Value& v) const {
    for (const auto& e : training_.target_counts) {
      if (ValuesEqual(e.first, v)) return e.second;
    }
    return 0;
  }

  // Builds training_ from the InlineTable (see the file comment).
  void Prepare(const Plan& plan) const {
    Training& t = training_;
    EvalContext sub(plan);
    const size_t dim = slots_.size();
    for (const auto& row : rows_) {
      sub.BeginRecord();
      for (size_t c = 0; c < columns_.size(); ++c) {
        const InstanceColumn& col = columns_[c];
        if (col.raw_slot == kNoSlot) continue;
        Value& in = sub.Input(col.raw_slot);
        if (row[c].second) {
          in = misc::ParseTyped(row[c].first, col.type);
        } else {
          in.SetMissing();
        }
      }
      for (size_t i = 0; i < dim; ++i) {
        Value direct;
        int col = direct_columns_[i];
        if (col >= 0 && row[col].second) direct = misc::ParseTyped(row[col].first, input_types_[i]);
        const Value& v = col >= 0 ? direct : sub.Get(slots_[i]);
        t.values.push_back(v);
        double num = NAN;
        if (!v.missing()) misc::AsNumber(v, &num);
        t.numbers.push_back(num);
      }
      if (sub.failed()) {
        t.status = sub.status();
        return;
      }
      if (has_target_) {
        if (target_column_ < 0 || !row[target_column_].second) {
          t.status = absl::InvalidArgumentError("NearestNeighborModel: training instance without target value");
          return;
        }
        Value tv = misc::ParseTyped(row[target_column_].first, target_type_);
        if (continuous_ && !tv.is_number()) {
          double num;
          if (!misc::AsNumber(tv, &num)) {
            t.status = absl::InvalidArgumentError("NearestNeighborModel: non-numeric training target");
            return;
          }
          tv.SetNumber(num);
        }
        t.targets.push_back(tv);
        auto it = std::find_if(t.target_counts.begin(), t.target_counts.end(),
                               [&](const auto& e) { return ValuesEqual(e.first, tv); });
        if (it == t.target_counts.end()) {
          t.target_counts.emplace_back(tv, 1);
        } else {
          ++it->second;
        }
      }
      if (id_column_ >= 0) {
        if (!row[id_column_].second) {
          t.status = absl::InvalidArgumentError("NearestNeighborModel: training instance without id");
          return;
        }
        t.ids.push_back(Value::String(row[id_column_].first));
      } else {
        t.ids.push_back(Value::String(std::to_string(t.rows + 1)));
      }
      ++t.rows;
    }
    if (t.rows < k_) {
      t.status = absl::InvalidArgumentError("NearestNeighborModel: fewer training instances than numberOfNeighbors");
    }
  }

  Measure measure_;
  std::vector<SlotId> slots_;
  std::vector<CompareField> fields_;
  // Per KNN input: the InstanceField column that holds its value directly
  // (a transformed field, isTransformed="true"), or -1 to compute it.
  std::vector<int> direct_columns_;
  std::vector<DataType> input_types_;
  std::vector<std::string> input_names_;
  size_t k_ = 1;
  size_t keep_ = 1;  // ranked neighbors kept per record (k and the largest output rank)
  double threshold_ = 0.001;
  ContMethod cont_ = ContMethod::kAverage;
  CatMethod cat_ = CatMethod::kMajority;
  bool has_target_ = false;
  bool continuous_ = false;
  DataType target_type_ = DataType::kString;
  int target_column_ = -1;
  int id_column_ = -1;
  std::vector<InstanceColumn> columns_;
  // Raw table: per row, per column (text, present).
  std::vector<std::vector<std::pair<std::string, bool>>> rows_;

  mutable std::once_flag once_;
  mutable Training training_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileNearestNeighborModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<NearestNeighborModelImpl>();
  pugi::xml_attribute kattr = el.attribute("numberOfNeighbors");
  if (!kattr || kattr.as_int(-1) < 1) return ElementError(el, "numberOfNeighbors must be a positive integer");
  model->k_ = static_cast<size_t>(kattr.as_int());
  auto thr = misc::OptDouble(el, "threshold", 0.001);
  if (!thr.ok()) return thr.status();
  model->threshold_ = *thr;
  std::string_view cont = el.attribute("continuousScoringMethod").value();
  if (cont.empty() || cont == "average") {
    model->cont_ = ContMethod::kAverage;
  } else if (cont == "weightedAverage") {
    model->cont_ = ContMethod::kWeightedAverage;
  } else if (cont == "median") {
    model->cont_ = ContMethod::kMedian;
  } else {
    return ElementError(el, "unknown continuousScoringMethod " + std::string(cont));
  }
  std::string_view cat = el.attribute("categoricalScoringMethod").value();
  if (cat.empty() || cat == "majorityVote") {
    model->cat_ = CatMethod::kMajority;
  } else if (cat == "weightedMajorityVote") {
    model->cat_ = CatMethod::kWeightedMajority;
  } else {
    return ElementError(el, "unknown categoricalScoringMethod " + std::string(cat));
  }

  pugi::xml_node cm = Child(el, "ComparisonMeasure");
  if (!cm) return ElementError(el, "missing ComparisonMeasure");
  auto measure = misc::ParseMeasure(cm);
  if (!measure.ok()) return measure.status();
  model->measure_ = *measure;
  if (model->measure_.similarity &&
      (model->cont_ == ContMethod::kWeightedAverage || model->cat_ == CatMethod::kWeightedMajority)) {
    return ElementError(el, "weighted scoring needs a distance measure");
  }

  pugi::xml_node knn = Child(el, "KNNInputs");
  if (!knn) return ElementError(el, "missing KNNInputs");
  for (pugi::xml_node in : Children(knn, "KNNInput")) {
    auto info = args.scope->Resolve(in.attribute("field").value());
    if (!info.ok()) return ElementError(in, std::string(info.status().message()));
    auto field = misc::ParseCompareField(in, model->measure_);
    if (!field.ok()) return field.status();
    model->slots_.push_back(info->slot);
    model->fields_.push_back(*field);
    model->input_types_.push_back(info->type);
    model->input_names_.push_back(in.attribute("field").value());
  }
  if (model->slots_.empty()) return ElementError(knn, "no KNNInput");
  model->direct_columns_.assign(model->slots_.size(), -1);

  const TargetInfo& target = *args.target;
  if (args.function == MiningFunction::kClustering || target.name.empty()) {
    if (!el.attribute("instanceIdVariable")) {
      return ElementError(el, "a NearestNeighborModel without target needs instanceIdVariable");
    }
  } else {
    model->has_target_ = true;
    model->continuous_ = target.optype == OpType::kContinuous;
    model->target_type_ = target.type;
  }
  std::string id_var = el.attribute("instanceIdVariable").value();

  pugi::xml_node ti = Child(el, "TrainingInstances");
  if (!ti) return ElementError(el, "missing TrainingInstances");
  pugi::xml_node ifs = Child(ti, "InstanceFields");
  if (!ifs) return ElementError(ti, "missing InstanceFields");
  for (pugi::xml_node f : Children(ifs, "InstanceField")) {
    InstanceColumn col;
    std::string field = f.attribute("field").value();
    col.column = f.attribute("column") ? f.attribute("column").value() : field;
    int index = static_cast<int>(model->columns_.size());
    for (size_t i = 0; i < model->input_names_.size(); ++i) {
      // A KNN input that is not a plain DataField view takes the column as is.
      auto info = args.scope->Resolve(field);
      if (model->input_names_[i] == field && info.ok() && info->data_field == nullptr) {
        model->direct_columns_[i] = index;
      }
    }
    if (!id_var.empty() && field == id_var) {
      model->id_column_ = index;
    } else {
      if (model->has_target_ && field == target.name) model->target_column_ = index;
      auto info = args.scope->Resolve(field);
      if (info.ok() && info->data_field != nullptr) {
        col.raw_slot = info->data_field->raw_slot;
        col.type = info->data_field->type;
      }
    }
    model->columns_.push_back(std::move(col));
  }
  if (model->has_target_ && model->target_column_ < 0) {
    return ElementError(ifs, "no InstanceField for the target " + target.name);
  }
  if (!id_var.empty() && model->id_column_ < 0) {
    return ElementError(ifs, "no InstanceField for instanceIdVariable " + id_var);
  }
  pugi::xml_node table = Child(ti, "InlineTable");
  if (!table) return ElementError(ti, "only an InlineTable is supported for TrainingInstances");
  for (pugi::xml_node row : Children(table, "row")) {
    std::vector<std::pair<std::string, bool>> cells(model->columns_.size());
    for (pugi::xml_node cell = row.first_child(); cell; cell = cell.next_sibling()) {
      if (cell.type() != pugi::node_element) continue;
      // Columns may carry a namespace prefix ("data:x1"): match the full
      // element name or the local parts.
      std::string_view full = cell.name();
      std::string_view name = LocalName(cell);
      for (size_t c = 0; c < model->columns_.size(); ++c) {
        std::string_view col = model->columns_[c].column;
        std::string_view col_local = col.substr(col.find(':') == std::string_view::npos ? 0 : col.find(':') + 1);
        if (col == full || col_local == name) {
          cells[c] = {cell.child_value(), true};
        }
      }
    }
    model->rows_.push_back(std::move(cells));
  }
  // Keep as many ranked neighbors as k or the largest rank an output asks for.
  model->keep_ = model->k_;
  if (pugi::xml_node output = Child(el, "Output")) {
    for (pugi::xml_node of : Children(output, "OutputField")) {
      int rank = of.attribute("rank").as_int(1);
      if (rank > 0) model->keep_ = std::max(model->keep_, static_cast<size_t>(rank));
    }
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
