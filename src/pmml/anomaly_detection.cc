// AnomalyDetectionModel (PMML 4.4). Wraps one nested model, compiled as a
// full ModelPlan through args.compile_nested, and turns its prediction into
// an anomaly score:
// - iforest: the nested model (usually a MiningModel averaging trees)
//   predicts the average path length E(h); score = 2^(-E(h) / c(n)) with
//   n = sampleDataSize and c(n) = 2 H(n-1) - 2 (n-1) / n, H(i) = ln(i) +
//   Euler's constant (c(2) = 1, c(n <= 1) = 0).
// - ocsvm: the nested SVM's value is the score.
// - clusterMeanDist: distance to the winning cluster divided by that
//   cluster's entry of MeanClusterDistances.
// - other: the nested model's prediction as is.

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "pmml/document.h"
#include "pmml/misc_util.h"
#include "pmml/model.h"

namespace evs::pmml {
namespace {

enum class Algo : uint8_t { kIForest, kOcsvm, kClusterMeanDist, kOther };

class AnomalyDetectionModelImpl final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    const ModelResult& r = nested_->Evaluate(ctx);
    if (ctx.failed()) return;
    if (algo_ == Algo::kClusterMeanDist) {
      int c = r.cluster_index;
      if (c <= 0 || c > static_cast<int>(mean_distances_.size()) || std::isnan(r.affinity)) return;
      result->predicted.SetNumber(r.affinity / mean_distances_[c - 1]);
      return;
    }
    double v;
    if (r.predicted.missing() || !misc::AsNumber(r.predicted, &v)) return;
    if (algo_ == Algo::kIForest) v = c_n_ > 0 ? std::pow(2.0, -v / c_n_) : NAN;
    if (std::isnan(v)) return;
    result->predicted.SetNumber(v);
  }

  const ModelPlan* nested_ = nullptr;
  Algo algo_ = Algo::kOther;
  double c_n_ = 0;
  std::vector<double> mean_distances_;
};

// Average path length of an unsuccessful BST search among n points.
double AveragePathLength(double n) {
  if (n <= 1) return 0;
  if (n <= 2) return 1;
  constexpr double kEuler = 0.5772156649015329;
  return 2.0 * (std::log(n - 1) + kEuler) - 2.0 * (n - 1) / n;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileAnomalyDetectionModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<AnomalyDetectionModelImpl>();
  std::string_view algo = el.attribute("algorithmType").value();
  if (algo == "iforest") {
    model->algo_ = Algo::kIForest;
    auto n = misc::ReqDouble(el, "sampleDataSize");
    if (!n.ok()) return n.status();
    model->c_n_ = AveragePathLength(*n);
    if (!(model->c_n_ > 0)) return ElementError(el, "sampleDataSize must be at least 2");
  } else if (algo == "ocsvm") {
    model->algo_ = Algo::kOcsvm;
  } else if (algo == "clusterMeanDist") {
    model->algo_ = Algo::kClusterMeanDist;
    pugi::xml_node mcd = Child(el, "MeanClusterDistances");
    if (!mcd) return ElementError(el, "clusterMeanDist needs MeanClusterDistances");
    auto d = misc::ChildNumberArray(mcd);
    if (!d.ok()) return d.status();
    model->mean_distances_ = *d;
  } else if (algo == "other") {
    model->algo_ = Algo::kOther;
  } else {
    return ElementError(el, "unknown algorithmType " + std::string(algo));
  }
  pugi::xml_node nested;
  for (pugi::xml_node c = el.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && FindModelCompiler(LocalName(c)) != nullptr) {
      nested = c;
      break;
    }
  }
  if (!nested) return ElementError(el, "AnomalyDetectionModel needs a nested model");
  if (!args.compile_nested) return ElementError(el, "nested models cannot be compiled here");
  auto plan = args.compile_nested(nested, args.scope);
  if (!plan.ok()) return plan.status();
  model->nested_ = *plan;
  if (model->algo_ == Algo::kClusterMeanDist && model->nested_->function() != MiningFunction::kClustering) {
    return ElementError(nested, "clusterMeanDist needs a clustering model");
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
