// ClusteringModel (centerBased and distributionBased alike, as
// JPMML-Evaluator: every Cluster needs a center Array). Cluster centers are
// one contiguous row-major matrix over the center fields. The winner is the
// nearest cluster (distance) or the most similar one (similarity); ties go
// to the first cluster in document order.
//
// Results: predicted value, entityId and clusterId = the cluster's id
// attribute, or its 1-based index when it has none (as text; JPMML);
// ModelResult::cluster_index = the 1-based index;
// labels/probabilities = cluster ids and their affinities (distances or
// similarities, scores_not_probabilities); predictedDisplayValue = the
// cluster's name. Missing inputs are skipped and the distance is scaled by
// sum(weights) / sum(weights of non-missing fields) (MissingValueWeights,
// or 1 per field).

#include <algorithm>
#include <cmath>
#include <memory>
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

struct Scratch {
  std::vector<double> x;
  std::vector<uint8_t> missing;
  std::vector<int> order;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

class ClusteringModelImpl final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    Scratch& s = ThreadScratch();
    const size_t dim = slots_.size();
    s.x.resize(dim);
    s.missing.resize(dim);
    double total_w = 0, present_w = 0;
    for (size_t i = 0; i < dim; ++i) {
      const Value& v = ctx.Get(slots_[i]);
      total_w += missing_weights_[i];
      if (v.missing()) {
        s.missing[i] = 1;
        s.x[i] = NAN;
        continue;
      }
      s.missing[i] = 0;
      present_w += missing_weights_[i];
      if (measure_.similarity) {
        bool flag;
        if (!misc::BinaryFlag(v, &flag)) {
          ctx.Fail(absl::InvalidArgumentError("ClusteringModel: expected a 0/1 value for field " +
                                              ctx.plan().slot_name(slots_[i])));
          return;
        }
        s.x[i] = flag ? 1 : 0;
      } else if (!misc::AsNumber(v, &s.x[i])) {
        ctx.Fail(absl::InvalidArgumentError("ClusteringModel: non-numeric value for field " +
                                            ctx.plan().slot_name(slots_[i])));
        return;
      }
    }
    std::vector<double>& aff = result->probabilities;
    aff.resize(num_clusters_);
    if (measure_.similarity) {
      for (size_t i = 0; i < dim; ++i) {
        if (s.missing[i]) {
          ctx.Fail(absl::InvalidArgumentError("ClusteringModel: missing value for a binary similarity field " +
                                              ctx.plan().slot_name(slots_[i])));
          return;
        }
      }
      for (int c = 0; c < num_clusters_; ++c) {
        const double* ref = &centers_[static_cast<size_t>(c) * dim];
        int a11 = 0, a10 = 0, a01 = 0, a00 = 0;
        for (size_t i = 0; i < dim; ++i) {
          bool xi = s.x[i] != 0, yi = ref[i] != 0;
          (xi ? (yi ? a11 : a10) : (yi ? a01 : a00)) += 1;
        }
        aff[c] = misc::Similarity(measure_, a11, a10, a01, a00);
      }
    } else {
      if (present_w == 0) {
        aff.clear();
        return;  // all inputs missing: no prediction
      }
      double adjustment = total_w / present_w;
      for (int c = 0; c < num_clusters_; ++c) {
        const double* ref = &centers_[static_cast<size_t>(c) * dim];
        misc::DistanceAcc acc;
        for (size_t i = 0; i < dim; ++i) {
          if (s.missing[i]) continue;
          acc.Add(misc::InnerTerm(fields_[i], measure_.inner_power, s.x[i], ref[i], s.x[i] == ref[i]));
        }
        aff[c] = acc.Finish(measure_, adjustment);
      }
    }
    int best = -1;
    for (int c = 0; c < num_clusters_; ++c) {
      if (std::isnan(aff[c])) continue;
      if (best < 0 || (measure_.similarity ? aff[c] > aff[best] : aff[c] < aff[best])) best = c;
    }
    result->labels = &ids_;
    result->scores_not_probabilities = true;
    if (best < 0) return;
    result->predicted = ids_[best];
    result->entity_id = ids_[best];
    result->cluster_index = best + 1;
    result->affinity = aff[best];
    if (!names_[best].empty()) result->display_value = names_[best];
  }

  bool Feature(const OutputFeatureSpec& spec, EvalContext& ctx, const ModelResult& result,
               Value* out) const override {
    const std::string& f = spec.feature;
    if (!misc::Is(f, "clusterId") && !misc::Is(f, "entityId") && !misc::Is(f, "affinity") && !misc::Is(f, "clusterAffinity") &&
        !misc::Is(f, "entityAffinity") && !misc::Is(f, "predictedDisplayValue")) {
      return false;
    }
    out->SetMissing();
    if (result.cluster_index <= 0 || result.probabilities.size() != ids_.size()) return true;
    int win = result.cluster_index - 1;
    if (misc::Is(f, "clusterId")) {
      // JPMML: the winning cluster's id (its 1-based index when it has none).
      *out = ids_[win];
      return true;
    }
    if (misc::Is(f, "predictedDisplayValue")) {
      if (!names_[win].empty()) {
        out->SetString(names_[win]);
      } else {
        *out = ids_[win];
      }
      return true;
    }
    bool ranked = spec.rank > 1 && (misc::Is(f, "entityId") || misc::Is(f, "affinity"));
    if (ranked) {
      Scratch& s = ThreadScratch();
      s.order.resize(ids_.size());
      std::iota(s.order.begin(), s.order.end(), 0);
      const std::vector<double>& a = result.probabilities;
      bool sim = measure_.similarity;
      std::stable_sort(s.order.begin(), s.order.end(),
                       [&](int l, int r) { return sim ? a[l] > a[r] : a[l] < a[r]; });
      if (spec.rank > static_cast<int>(s.order.size())) return true;
      int c = s.order[spec.rank - 1];
      if (misc::Is(f, "entityId")) {
        *out = ids_[c];
      } else {
        out->SetNumber(a[c]);
      }
      return true;
    }
    if (misc::Is(f, "entityId")) {
      *out = ids_[win];
      return true;
    }
    // affinity / clusterAffinity / entityAffinity: the named cluster, else the winner.
    int c = win;
    if (!spec.value.missing()) {
      auto known = value_index_.find(spec.element.internal_object());
      c = known != value_index_.end() ? known->second : FindCluster(spec.value);
      if (c < 0) {
        if (!measure_.similarity) out->SetNumber(INFINITY);  // JPMML: unknown entity = worst distance
        else out->SetNumber(0);
        return true;
      }
    }
    out->SetNumber(result.probabilities[c]);
    return true;
  }

  const std::vector<Value>* labels() const override { return &ids_; }

  int FindCluster(const Value& id) const {
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (ValuesEqual(ids_[i], id)) return static_cast<int>(i);
    }
    return -1;
  }

  Measure measure_;
  std::vector<SlotId> slots_;
  std::vector<CompareField> fields_;
  std::vector<double> missing_weights_;
  int num_clusters_ = 0;
  std::vector<double> centers_;
  std::vector<Value> ids_;
  std::vector<std::string> names_;
  // OutputField element -> index of the cluster its value attribute names
  // (-1: none), resolved at compile time.
  absl::flat_hash_map<const void*, int> value_index_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileClusteringModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<ClusteringModelImpl>();
  pugi::xml_node cm = Child(el, "ComparisonMeasure");
  if (!cm) return ElementError(el, "missing ComparisonMeasure");
  auto measure = misc::ParseMeasure(cm);
  if (!measure.ok()) return measure.status();
  model->measure_ = *measure;

  std::vector<size_t> center_positions;  // ClusteringField index of each center field
  std::vector<pugi::xml_node> cfs = Children(el, "ClusteringField");
  for (size_t i = 0; i < cfs.size(); ++i) {
    pugi::xml_node cf = cfs[i];
    std::string_view center = cf.attribute("isCenterField").value();
    if (center == "false" || center == "0") continue;
    auto info = args.scope->Resolve(cf.attribute("field").value());
    if (!info.ok()) return ElementError(cf, std::string(info.status().message()));
    auto field = misc::ParseCompareField(cf, model->measure_);
    if (!field.ok()) return field.status();
    model->slots_.push_back(info->slot);
    model->fields_.push_back(*field);
  }
  const size_t dim = model->slots_.size();
  if (dim == 0) return ElementError(el, "no center ClusteringField");
  model->missing_weights_.assign(dim, 1.0);
  if (pugi::xml_node mvw = Child(el, "MissingValueWeights")) {
    auto w = misc::ChildNumberArray(mvw);
    if (!w.ok()) return w.status();
    if (w->size() != dim) return ElementError(mvw, "one weight per center field expected");
    model->missing_weights_ = *w;
  }
  int index = 0;
  for (pugi::xml_node c : Children(el, "Cluster")) {
    ++index;
    auto center = misc::ChildNumberArray(c);
    if (!center.ok()) return center.status();
    if (center->size() != dim) return ElementError(c, "cluster center length differs from the number of center fields");
    model->centers_.insert(model->centers_.end(), center->begin(), center->end());
    std::string id = c.attribute("id") ? c.attribute("id").value() : std::to_string(index);
    model->ids_.push_back(Value::String(id));
    model->names_.push_back(c.attribute("name").value());
  }
  model->num_clusters_ = index;
  if (index == 0) return ElementError(el, "no Cluster");
  if (pugi::xml_node output = Child(el, "Output")) {
    for (pugi::xml_node of : Children(output, "OutputField")) {
      if (!of.attribute("value")) continue;
      model->value_index_[of.internal_object()] = model->FindCluster(Value::String(of.attribute("value").value()));
    }
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
