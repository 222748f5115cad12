// NeuralNetwork: feed-forward evaluation as JPMML-Evaluator does.
//
// Neurons are numbered densely (inputs first, then every layer in order) and
// their values live in one buffer. A layer whose neurons all read the same
// sources in the same order keeps a dense row-major weight matrix; other
// layers keep per-neuron (source, weight) spans. Sums follow the document's
// connection order, so results match JPMML to the last bit in the usual case.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/model.h"
#include "pmml/regression_util.h"

namespace evs::pmml {
namespace {

enum class Act : uint8_t {
  kThreshold,
  kLogistic,
  kTanh,
  kIdentity,
  kExponential,
  kReciprocal,
  kSquare,
  kGauss,
  kSine,
  kCosine,
  kElliott,
  kArctan,
  kRectifier,
  kRadialBasis
};

enum class LayerNorm : uint8_t { kNone, kSimplemax, kSoftmax };

absl::StatusOr<Act> ParseAct(pugi::xml_node el, std::string_view s) {
  if (s == "threshold") return Act::kThreshold;
  if (s == "logistic") return Act::kLogistic;
  if (s == "tanh") return Act::kTanh;
  if (s == "identity") return Act::kIdentity;
  if (s == "exponential") return Act::kExponential;
  if (s == "reciprocal") return Act::kReciprocal;
  if (s == "square") return Act::kSquare;
  if (s == "Gauss") return Act::kGauss;
  if (s == "sine") return Act::kSine;
  if (s == "cosine") return Act::kCosine;
  if (s == "Elliott") return Act::kElliott;
  if (s == "arctan") return Act::kArctan;
  if (s == "rectifier") return Act::kRectifier;
  if (s == "radialBasis") return Act::kRadialBasis;
  return ElementError(el, absl::StrCat("unknown activationFunction \"", std::string(s), "\""));
}

absl::StatusOr<LayerNorm> ParseLayerNorm(pugi::xml_node el, std::string_view s) {
  if (s == "none") return LayerNorm::kNone;
  if (s == "simplemax") return LayerNorm::kSimplemax;
  if (s == "softmax") return LayerNorm::kSoftmax;
  return ElementError(el, absl::StrCat("unknown normalizationMethod \"", std::string(s), "\""));
}

// Neurons of a dense layer evaluated together (see Evaluate).
constexpr int kBlock = 8;
// Two doubles, added and multiplied lane by lane (IEEE per lane, as scalars).
typedef double V2 __attribute__((vector_size(16)));
inline V2 Load2(const double* p) {
  V2 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}

struct Layer {
  Act act = Act::kLogistic;
  double threshold = 0;
  std::optional<double> leakage;
  double altitude = 1;
  LayerNorm norm = LayerNorm::kNone;
  int begin = 0;  // index of the first neuron of this layer
  int size = 0;
  std::vector<double> bias;          // per neuron (0 when absent)
  std::vector<double> rbf_width;     // per neuron (radialBasis)
  std::vector<int> fan_in;           // per neuron connection count
  bool dense = false;
  std::vector<int> src;              // dense: shared source list
  std::vector<double> weights;       // dense: size x src.size(); sparse: flat per connection
  // Dense, double math: the same weights by blocks of kBlock neurons, each
  // block src.size() rows of kBlock weights (zeros past the last neuron).
  std::vector<double> blocked;
  std::vector<int> conn_begin;       // sparse: size + 1 offsets into conn_src/weights
  std::vector<int> conn_src;
};

struct Input {
  std::unique_ptr<Expr> expr;
  SlotId slot = kNoSlot;  // fast path when the expression is a plain FieldRef
};

enum class OutKind : uint8_t { kIdentity, kDenormalize, kCategory };

struct LinearNorm {
  double orig, norm;
};

inline double Activate(const Layer& l, double z) {
  switch (l.act) {
    case Act::kThreshold:
      return z > l.threshold ? 1.0 : 0.0;
    case Act::kLogistic:
      return 1.0 / (1.0 + std::exp(-z));
    case Act::kTanh:
      return std::tanh(z);
    case Act::kIdentity:
      return z;
    case Act::kExponential:
      return std::exp(z);
    case Act::kReciprocal:
      return 1.0 / z;
    case Act::kSquare:
      return z * z;
    case Act::kGauss:
      return std::exp(-(z * z));
    case Act::kSine:
      return std::sin(z);
    case Act::kCosine:
      return std::cos(z);
    case Act::kElliott:
      return z / (1.0 + std::abs(z));
    case Act::kArctan:
      return (2.0 * std::atan(z)) / M_PI;
    case Act::kRectifier:
      if (l.leakage) return z > 0 ? z : z * *l.leakage;
      return std::max(z, 0.0);
    case Act::kRadialBasis:
      return z;
  }
  return z;
}

// Float math context (JPMML FloatValue): the same activations, each step in float.
inline float ActivateF(const Layer& l, float z) {
  switch (l.act) {
    case Act::kThreshold:
      return z > static_cast<float>(l.threshold) ? 1.0f : 0.0f;
    case Act::kLogistic:
      return regutil::FInvLogit(z);
    case Act::kTanh:
      return static_cast<float>(std::tanh(static_cast<double>(z)));
    case Act::kIdentity:
      return z;
    case Act::kExponential:
      return regutil::FExp(z);
    case Act::kReciprocal:
      return 1.0f / z;
    case Act::kSquare:
      return z * z;
    case Act::kGauss:
      return regutil::FExp(-(z * z));
    case Act::kSine:
      return static_cast<float>(std::sin(static_cast<double>(z)));
    case Act::kCosine:
      return static_cast<float>(std::cos(static_cast<double>(z)));
    case Act::kElliott:
      return z / (1.0f + std::abs(z));
    case Act::kArctan:
      return (2.0f * static_cast<float>(std::atan(static_cast<double>(z)))) / static_cast<float>(3.1415927);
    case Act::kRectifier:
      if (l.leakage) return z > 0 ? z : z * static_cast<float>(*l.leakage);
      return std::max(z, 0.0f);
    case Act::kRadialBasis:
      return z;
  }
  return z;
}

constexpr int kInlineNeurons = 256;

class NeuralNetworkImpl : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    if (float_math_) [[unlikely]] {
      EvaluateFloat(ctx, result);
      return;
    }
    double inline_buf[kInlineNeurons];
    double* v = inline_buf;
    if (num_neurons_ > kInlineNeurons) {
      thread_local std::vector<double> big;
      if (big.size() < static_cast<size_t>(num_neurons_)) big.resize(num_neurons_);
      v = big.data();
    }
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const Input& in = inputs_[i];
      if (in.slot != kNoSlot) {
        if (regutil::ReadNumber(ctx, in.slot, &v[i]) != regutil::Num::kOk) return;
      } else {
        Value tmp;
        in.expr->Eval(ctx, &tmp);
        if (ctx.failed() || tmp.missing()) return;
        if (tmp.is_number() || tmp.is_bool()) {
          v[i] = tmp.num;
        } else if (!tmp.is_string() || !absl::SimpleAtod(tmp.str, &v[i])) {
          ctx.Fail(absl::InvalidArgumentError(
              absl::StrCat("NeuralInput ", input_ids_[i], ": value \"", FormatValue(tmp), "\" is not a number")));
          return;
        }
      }
    }
    for (const Layer& l : layers_) {
      double* out = v + l.begin;
      if (l.act == Act::kRadialBasis) {
        for (int n = 0; n < l.size; ++n) {
          double sum = 0;
          for (int c = l.conn_begin[n]; c < l.conn_begin[n + 1]; ++c) {
            double d = v[l.conn_src[c]] - l.weights[c];
            sum += d * d;
          }
          double w = l.rbf_width[n];
          double z = sum / (w * w * -2.0);
          if (l.altitude != 1.0) z += std::log(l.altitude) * l.fan_in[n];
          out[n] = std::exp(z);
        }
      } else if (l.dense) {
        // kBlock neurons at a time, each with its own sum over the inputs in
        // order: the same additions in the same order as one neuron after
        // the other (so the same bits), but kBlock independent chains keep
        // the adder busy instead of waiting on one chain's latency.
        const size_t k = l.src.size();
        const int* src = l.src.data();
        const double* w = l.blocked.data();
        for (int b = 0; b < l.size; b += kBlock) {
          // Two neurons per vector lane pair, eight in registers.
          V2 a0 = {0, 0}, a1 = {0, 0}, a2 = {0, 0}, a3 = {0, 0};
          for (size_t j = 0; j < k; ++j, w += kBlock) {
            const V2 x = {v[src[j]], v[src[j]]};
            a0 += Load2(w) * x;
            a1 += Load2(w + 2) * x;
            a2 += Load2(w + 4) * x;
            a3 += Load2(w + 6) * x;
          }
          const double acc[kBlock] = {a0[0], a0[1], a1[0], a1[1], a2[0], a2[1], a3[0], a3[1]};
          const int m = std::min(kBlock, l.size - b);
          for (int i = 0; i < m; ++i) out[b + i] = Activate(l, acc[i] + l.bias[b + i]);
        }
      } else {
        for (int n = 0; n < l.size; ++n) {
          double sum = 0;
          for (int c = l.conn_begin[n]; c < l.conn_begin[n + 1]; ++c) sum += l.weights[c] * v[l.conn_src[c]];
          out[n] = Activate(l, sum + l.bias[n]);
        }
      }
      bool ok = true;
      if (l.norm == LayerNorm::kSoftmax) ok = regutil::SoftMax(out, l.size);
      if (l.norm == LayerNorm::kSimplemax) ok = regutil::SimpleMax(out, l.size);
      if (!ok) {
        ctx.Fail(absl::InvalidArgumentError("NeuralNetwork: layer normalization is undefined (zero sum)"));
        return;
      }
    }

    if (!classification_) {
      double y = v[out_neuron_[0]];
      if (out_kind_ == OutKind::kDenormalize) {
        // JPMML-Evaluator does not extrapolate here: a value outside the
        // LinearNorm range (or NaN) fails the record.
        if (!(y >= norms_.front().norm && y <= norms_.back().norm)) {
          ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
              "NeuralNetwork: output neuron value ", y,
              " is outside the NormContinuous range [", norms_.front().norm, ", ",
              norms_.back().norm, "]; it cannot be denormalized")));
          return;
        }
        y = Denormalize(y);
      }
      result->predicted.SetNumber(y);
      return;
    }
    std::vector<double>& p = result->probabilities;
    p.resize(out_neuron_.size());
    for (size_t i = 0; i < out_neuron_.size(); ++i) p[i] = v[out_neuron_[i]];
    result->labels = &labels_;
    int best = regutil::ArgMax(p);
    if (best >= 0) {
      result->predicted = labels_[best];
      result->entity_id.SetString(out_ids_[best]);
    }
  }

  const std::vector<Value>* labels() const override { return classification_ ? &labels_ : nullptr; }

  // Float math context: as Evaluate, with inputs, weights, sums, activations,
  // layer normalization and the output denormalization in float (JPMML FloatValue).
  [[gnu::noinline]] void EvaluateFloat(EvalContext& ctx, ModelResult* result) const {
    float inline_buf[kInlineNeurons];
    float* v = inline_buf;
    if (num_neurons_ > kInlineNeurons) {
      thread_local std::vector<float> big;
      if (big.size() < static_cast<size_t>(num_neurons_)) big.resize(num_neurons_);
      v = big.data();
    }
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const Input& in = inputs_[i];
      double d;
      if (in.slot != kNoSlot) {
        if (regutil::ReadNumber(ctx, in.slot, &d) != regutil::Num::kOk) return;
      } else {
        Value tmp;
        in.expr->Eval(ctx, &tmp);
        if (ctx.failed() || tmp.missing()) return;
        if (tmp.is_number() || tmp.is_bool()) {
          d = tmp.num;
        } else if (!tmp.is_string() || !absl::SimpleAtod(tmp.str, &d)) {
          ctx.Fail(absl::InvalidArgumentError(
              absl::StrCat("NeuralInput ", input_ids_[i], ": value \"", FormatValue(tmp), "\" is not a number")));
          return;
        }
      }
      v[i] = static_cast<float>(d);
    }
    for (const Layer& l : layers_) {
      float* out = v + l.begin;
      if (l.act == Act::kRadialBasis) {
        for (int n = 0; n < l.size; ++n) {
          float sum = 0;
          for (int c = l.conn_begin[n]; c < l.conn_begin[n + 1]; ++c) {
            float d = v[l.conn_src[c]] - static_cast<float>(l.weights[c]);
            sum += d * d;
          }
          float w = static_cast<float>(l.rbf_width[n]);
          float z = sum / (w * w * -2.0f);
          if (l.altitude != 1.0) {
            z += static_cast<float>(std::log(static_cast<double>(static_cast<float>(l.altitude)))) *
                 static_cast<float>(l.fan_in[n]);
          }
          out[n] = regutil::FExp(z);
        }
      } else if (l.dense) {
        const size_t k = l.src.size();
        const int* src = l.src.data();
        const double* w = l.weights.data();
        for (int n = 0; n < l.size; ++n, w += k) {
          float sum = 0;
          for (size_t j = 0; j < k; ++j) sum += static_cast<float>(w[j]) * v[src[j]];
          out[n] = ActivateF(l, sum + static_cast<float>(l.bias[n]));
        }
      } else {
        for (int n = 0; n < l.size; ++n) {
          float sum = 0;
          for (int c = l.conn_begin[n]; c < l.conn_begin[n + 1]; ++c) {
            sum += static_cast<float>(l.weights[c]) * v[l.conn_src[c]];
          }
          out[n] = ActivateF(l, sum + static_cast<float>(l.bias[n]));
        }
      }
      bool ok = true;
      if (l.norm == LayerNorm::kSoftmax) ok = regutil::FSoftMax(out, l.size);
      if (l.norm == LayerNorm::kSimplemax) ok = regutil::FSimpleMax(out, l.size);
      if (!ok) {
        ctx.Fail(absl::InvalidArgumentError("NeuralNetwork: layer normalization is undefined (zero sum)"));
        return;
      }
    }

    if (!classification_) {
      float y = v[out_neuron_[0]];
      if (out_kind_ == OutKind::kDenormalize) {
        const float lo = static_cast<float>(norms_.front().norm);
        const float hi = static_cast<float>(norms_.back().norm);
        if (!(y >= lo && y <= hi)) {
          ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
              "NeuralNetwork: output neuron value ", y, " is outside the NormContinuous range [", lo,
              ", ", hi, "]; it cannot be denormalized")));
          return;
        }
        size_t i = 0;
        while (i + 2 < norms_.size() && y > static_cast<float>(norms_[i + 1].norm)) ++i;
        const float a_norm = static_cast<float>(norms_[i].norm), a_orig = static_cast<float>(norms_[i].orig);
        const float b_norm = static_cast<float>(norms_[i + 1].norm), b_orig = static_cast<float>(norms_[i + 1].orig);
        y = ((y - a_norm) / (b_norm - a_norm)) * (b_orig - a_orig) + a_orig;
      }
      result->predicted.SetNumber(static_cast<double>(y));
      return;
    }
    std::vector<double>& p = result->probabilities;
    p.resize(out_neuron_.size());
    for (size_t i = 0; i < out_neuron_.size(); ++i) p[i] = static_cast<double>(v[out_neuron_[i]]);
    result->labels = &labels_;
    int best = regutil::ArgMax(p);
    if (best >= 0) {
      result->predicted = labels_[best];
      result->entity_id.SetString(out_ids_[best]);
    }
  }

  // Inverse of a piecewise-linear NormContinuous. Precondition: y within the norm range.
  double Denormalize(double y) const {
    const size_t n = norms_.size();
    size_t i = 0;
    while (i + 2 < n && y > norms_[i + 1].norm) ++i;
    const LinearNorm& a = norms_[i];
    const LinearNorm& b = norms_[i + 1];
    return ((y - a.norm) / (b.norm - a.norm)) * (b.orig - a.orig) + a.orig;
  }

  bool classification_ = false;
  bool float_math_ = false;  // x-mathContext / mathContext = "float"
  int num_neurons_ = 0;
  std::vector<Input> inputs_;
  std::vector<std::string> input_ids_;
  std::vector<Layer> layers_;
  OutKind out_kind_ = OutKind::kIdentity;
  std::vector<LinearNorm> norms_;
  std::vector<int> out_neuron_;
  std::vector<std::string> out_ids_;
  std::vector<Value> labels_;
};

// DerivedField named `name` in the model's LocalTransformations or the
// document's TransformationDictionary; empty when none.
pugi::xml_node FindDerivedField(pugi::xml_node model, std::string_view name) {
  auto search = [&](pugi::xml_node container) -> pugi::xml_node {
    if (!container) return {};
    for (pugi::xml_node d : regutil::Children(container, "DerivedField")) {
      if (name == d.attribute("name").value()) return d;
    }
    return {};
  };
  if (pugi::xml_node d = search(Child(model, "LocalTransformations"))) return d;
  pugi::xml_node root = model;
  while (root.parent() && root.parent().type() == pugi::node_element) root = root.parent();
  return search(Child(root, "TransformationDictionary"));
}

// The first expression child of a DerivedField.
pugi::xml_node ExpressionOf(pugi::xml_node derived) {
  for (pugi::xml_node c = derived.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && IsExpressionElement(c)) return c;
  }
  return {};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileNeuralNetwork(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  Scope& scope = *args.scope;
  auto model = std::make_unique<NeuralNetworkImpl>();
  model->float_math_ = regutil::IsFloatMathContext(el);

  // Network defaults.
  std::string net_act_text = el.attribute("activationFunction").value();
  std::optional<Act> net_act;
  if (!net_act_text.empty()) {
    ASSIGN_OR_RETURN(Act a, ParseAct(el, net_act_text));
    net_act = a;
  }
  LayerNorm net_norm = LayerNorm::kNone;
  if (regutil::HasAttr(el, "normalizationMethod")) {
    ASSIGN_OR_RETURN(net_norm, ParseLayerNorm(el, el.attribute("normalizationMethod").value()));
  }
  double net_threshold, net_altitude, net_width = NAN;
  RETURN_IF_ERROR(regutil::DoubleAttr(el, "threshold", 0, &net_threshold));
  RETURN_IF_ERROR(regutil::DoubleAttr(el, "altitude", 1, &net_altitude));
  bool net_has_width = regutil::HasAttr(el, "width");
  if (net_has_width) RETURN_IF_ERROR(regutil::DoubleAttr(el, "width", 0, &net_width));
  std::optional<double> net_leakage;
  if (regutil::HasAttr(el, "leakage")) {
    double lk;
    RETURN_IF_ERROR(regutil::DoubleAttr(el, "leakage", 0, &lk));
    net_leakage = lk;
  }

  absl::flat_hash_map<std::string, int> index;  // neuron id -> buffer index
  pugi::xml_node inputs = Child(el, "NeuralInputs");
  if (!inputs) return ElementError(el, "missing NeuralInputs");
  for (pugi::xml_node ni : regutil::Children(inputs, "NeuralInput")) {
    std::string id;
    RETURN_IF_ERROR(regutil::RequiredAttr(ni, "id", &id));
    pugi::xml_node df = Child(ni, "DerivedField");
    if (!df) return ElementError(ni, "missing DerivedField");
    Input in;
    ASSIGN_OR_RETURN(in.expr, CompileExpressionChild(df, scope));
    in.slot = in.expr->AsFieldSlot();
    if (!index.emplace(id, model->num_neurons_).second) return ElementError(ni, "duplicate neuron id");
    ++model->num_neurons_;
    model->inputs_.push_back(std::move(in));
    model->input_ids_.push_back(id);
  }

  for (pugi::xml_node ln : regutil::Children(el, "NeuralLayer")) {
    Layer l;
    if (regutil::HasAttr(ln, "activationFunction")) {
      ASSIGN_OR_RETURN(l.act, ParseAct(ln, ln.attribute("activationFunction").value()));
    } else if (net_act) {
      l.act = *net_act;
    } else {
      return ElementError(ln, "no activationFunction on the layer or the network");
    }
    l.norm = net_norm;
    if (regutil::HasAttr(ln, "normalizationMethod")) {
      ASSIGN_OR_RETURN(l.norm, ParseLayerNorm(ln, ln.attribute("normalizationMethod").value()));
    }
    RETURN_IF_ERROR(regutil::DoubleAttr(ln, "threshold", net_threshold, &l.threshold));
    RETURN_IF_ERROR(regutil::DoubleAttr(ln, "altitude", net_altitude, &l.altitude));
    double layer_width = net_width;
    bool has_width = net_has_width;
    if (regutil::HasAttr(ln, "width")) {
      RETURN_IF_ERROR(regutil::DoubleAttr(ln, "width", 0, &layer_width));
      has_width = true;
    }
    l.leakage = net_leakage;
    if (regutil::HasAttr(ln, "leakage")) {
      double lk;
      RETURN_IF_ERROR(regutil::DoubleAttr(ln, "leakage", 0, &lk));
      l.leakage = lk;
    }
    l.begin = model->num_neurons_;

    std::vector<std::vector<std::pair<int, double>>> conns;
    std::vector<std::string> ids;
    for (pugi::xml_node nn : regutil::Children(ln, "Neuron")) {
      std::string id;
      RETURN_IF_ERROR(regutil::RequiredAttr(nn, "id", &id));
      double bias;
      RETURN_IF_ERROR(regutil::DoubleAttr(nn, "bias", 0, &bias));
      l.bias.push_back(bias);
      if (l.act == Act::kRadialBasis) {
        double w;
        if (regutil::HasAttr(nn, "width")) {
          RETURN_IF_ERROR(regutil::DoubleAttr(nn, "width", 0, &w));
        } else if (has_width) {
          w = layer_width;
        } else {
          return ElementError(nn, "radialBasis needs a width (neuron, layer or network)");
        }
        l.rbf_width.push_back(w);
      }
      std::vector<std::pair<int, double>> cs;
      for (pugi::xml_node con : regutil::Children(nn, "Con")) {
        std::string from;
        RETURN_IF_ERROR(regutil::RequiredAttr(con, "from", &from));
        auto it = index.find(from);
        if (it == index.end()) {
          return ElementError(con, absl::StrCat("from=\"", from, "\" is not an earlier neuron"));
        }
        double w;
        RETURN_IF_ERROR(regutil::RequiredDoubleAttr(con, "weight", &w));
        cs.emplace_back(it->second, w);
      }
      l.fan_in.push_back(static_cast<int>(cs.size()));
      conns.push_back(std::move(cs));
      ids.push_back(id);
    }
    l.size = static_cast<int>(conns.size());
    // Neurons are registered after the whole layer: connections only reach earlier layers.
    for (size_t n = 0; n < ids.size(); ++n) {
      if (!index.emplace(ids[n], model->num_neurons_ + static_cast<int>(n)).second) {
        return ElementError(ln, absl::StrCat("duplicate neuron id \"", ids[n], "\""));
      }
    }
    model->num_neurons_ += l.size;

    bool same_sources = l.act != Act::kRadialBasis && !conns.empty();
    for (size_t n = 1; same_sources && n < conns.size(); ++n) {
      if (conns[n].size() != conns[0].size()) {
        same_sources = false;
        break;
      }
      for (size_t j = 0; j < conns[n].size(); ++j) {
        if (conns[n][j].first != conns[0][j].first) {
          same_sources = false;
          break;
        }
      }
    }
    l.dense = same_sources;
    if (l.dense) {
      for (const auto& c : conns[0]) l.src.push_back(c.first);
      for (const auto& cs : conns) {
        for (const auto& c : cs) l.weights.push_back(c.second);
      }
      const size_t k = l.src.size();
      for (int b = 0; b < l.size; b += kBlock)
        for (size_t j = 0; j < k; ++j)
          for (int i = 0; i < kBlock; ++i)
            l.blocked.push_back(b + i < l.size ? l.weights[static_cast<size_t>(b + i) * k + j] : 0.0);
    } else {
      l.conn_begin.push_back(0);
      for (const auto& cs : conns) {
        for (const auto& c : cs) {
          l.conn_src.push_back(c.first);
          l.weights.push_back(c.second);
        }
        l.conn_begin.push_back(static_cast<int>(l.conn_src.size()));
      }
    }
    model->layers_.push_back(std::move(l));
  }
  if (model->layers_.empty()) return ElementError(el, "no NeuralLayer");

  // Outputs.
  pugi::xml_node outputs = Child(el, "NeuralOutputs");
  if (!outputs) return ElementError(el, "missing NeuralOutputs");
  model->classification_ = args.function == MiningFunction::kClassification;
  std::string target = args.target->name;
  for (pugi::xml_node no : regutil::Children(outputs, "NeuralOutput")) {
    std::string id;
    RETURN_IF_ERROR(regutil::RequiredAttr(no, "outputNeuron", &id));
    auto it = index.find(id);
    if (it == index.end()) return ElementError(no, absl::StrCat("outputNeuron \"", id, "\" is not a neuron"));
    pugi::xml_node df = Child(no, "DerivedField");
    if (!df) return ElementError(no, "missing DerivedField");
    pugi::xml_node expr = ExpressionOf(df);
    if (!expr) return ElementError(df, "missing expression");
    // A FieldRef to a DerivedField stands for that field's expression.
    for (int hops = 0; hops < 8 && LocalName(expr) == "FieldRef"; ++hops) {
      pugi::xml_node d = FindDerivedField(el, expr.attribute("field").value());
      if (!d || !ExpressionOf(d)) break;
      expr = ExpressionOf(d);
    }
    std::string_view kind = LocalName(expr);
    std::string field = expr.attribute("field").value();
    if (target.empty()) target = field;
    if (field != target) continue;  // another target: not supported, only the first is evaluated
    if (model->classification_) {
      if (kind != "NormDiscrete") {
        return ElementError(expr, "a classification NeuralOutput must map its target with NormDiscrete");
      }
      std::string value;
      RETURN_IF_ERROR(regutil::RequiredAttr(expr, "value", &value));
      model->labels_.push_back(regutil::LabelValue(value, args.target->type));
      model->out_neuron_.push_back(it->second);
      model->out_ids_.push_back(id);
    } else {
      if (!model->out_neuron_.empty()) {
        return ElementError(no, "more than one NeuralOutput for the regression target");
      }
      model->out_neuron_.push_back(it->second);
      model->out_ids_.push_back(id);
      if (kind == "FieldRef") {
        model->out_kind_ = OutKind::kIdentity;
      } else if (kind == "NormContinuous") {
        model->out_kind_ = OutKind::kDenormalize;
        for (pugi::xml_node lnorm : regutil::Children(expr, "LinearNorm")) {
          LinearNorm n;
          RETURN_IF_ERROR(regutil::RequiredDoubleAttr(lnorm, "orig", &n.orig));
          RETURN_IF_ERROR(regutil::RequiredDoubleAttr(lnorm, "norm", &n.norm));
          model->norms_.push_back(n);
        }
        if (model->norms_.size() < 2) return ElementError(expr, "NormContinuous needs two LinearNorms");
        std::stable_sort(model->norms_.begin(), model->norms_.end(),
                         [](const LinearNorm& a, const LinearNorm& b) { return a.norm < b.norm; });
      } else {
        return ElementError(expr, "a regression NeuralOutput must map its target with FieldRef or NormContinuous");
      }
    }
  }
  if (model->out_neuron_.empty()) {
    return ElementError(outputs, absl::StrCat("no NeuralOutput for the target \"", target, "\""));
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
