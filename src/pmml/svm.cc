// SupportVectorMachineModel. Support vectors are one contiguous row-major
// matrix; per record the kernel is computed once per vector (OneAgainstOne
// machines share vectors) into a thread-local buffer, then each machine is
// a sparse dot product of its coefficients with those kernel values.
//
// Classification follows JPMML-Evaluator: OneAgainstAll picks the machine
// with the smallest value (largest with maxWins="true") and gives no
// probabilities; OneAgainstOne votes (value < threshold -> targetCategory,
// else alternateTargetCategory; reversed with maxWins), ties go to the
// category that got a vote first, probabilities are vote shares. With
// alternateBinaryTargetCategory the single machine's value is rounded: 0 ->
// alternateBinaryTargetCategory, 1 -> targetCategory.

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pmml/document.h"
#include "pmml/expr.h"
#include "pmml/misc_util.h"
#include "pmml/model.h"

namespace evs::pmml {
namespace {

using misc::Children;
using misc::OptDouble;
using misc::ParseTyped;
using misc::ReqDouble;

enum class KernelKind : uint8_t { kLinear, kPolynomial, kRbf, kSigmoid };

struct Kernel {
  KernelKind kind = KernelKind::kLinear;
  double gamma = 1, coef0 = 1, degree = 1;
};

struct InputField {
  SlotId slot = kNoSlot;
  bool categorical = false;  // CategoricalPredictor: 1 when equal to `category`
  Value category;
};

struct Machine {
  std::vector<int> vectors;  // indices into the vector matrix
  std::vector<double> coefs;
  double b = 0;              // Coefficients/@absoluteValue
  bool direct = false;       // svmRepresentation="Coefficients": coefs apply to the inputs
  int target = -1;           // label indices
  int alternate = -1;
  double threshold = 0;
};

enum class Method : uint8_t { kRegression, kOneAgainstAll, kOneAgainstOne, kBinary };

struct Scratch {
  std::vector<double> x, k, votes;
  std::vector<int> order;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

class SvmModel final : public Model {
 public:
  void Evaluate(EvalContext& ctx, ModelResult* result) const override {
    Scratch& s = ThreadScratch();
    const size_t dim = inputs_.size();
    s.x.resize(dim);
    for (size_t i = 0; i < dim; ++i) {
      const InputField& f = inputs_[i];
      const Value& v = ctx.Get(f.slot);
      if (v.missing()) {
        ctx.Fail(absl::InvalidArgumentError("SupportVectorMachineModel: missing value for vector field " +
                                            ctx.plan().slot_name(f.slot)));
        return;
      }
      if (f.categorical) {
        s.x[i] = ValuesEqual(v, f.category) ? 1 : 0;
      } else if (!misc::AsNumber(v, &s.x[i])) {
        ctx.Fail(absl::InvalidArgumentError("SupportVectorMachineModel: non-numeric value for vector field " +
                                            ctx.plan().slot_name(f.slot)));
        return;
      }
    }
    // Kernel value for every support vector, kBlock vectors at a time: the
    // block is stored dimension-major, so the kBlock independent sums run
    // side by side (and vectorize) while each vector's sum keeps the
    // sequential order JPMML uses, bit for bit.
    s.k.resize(static_cast<size_t>(num_blocks_) * kBlock);
    const double* x = s.x.data();
    const bool rbf = kernel_.kind == KernelKind::kRbf;
    for (int b = 0; b < num_blocks_; ++b) {
      const double* v = &blocked_[static_cast<size_t>(b) * dim * kBlock];
      double acc[kBlock] = {};
      if (rbf) {
        for (size_t i = 0; i < dim; ++i) {
          const double xi = x[i];
          for (int j = 0; j < kBlock; ++j) {
            double d = xi - v[i * kBlock + j];
            acc[j] += d * d;
          }
        }
      } else {
        for (size_t i = 0; i < dim; ++i) {
          const double xi = x[i];
          for (int j = 0; j < kBlock; ++j) acc[j] += xi * v[i * kBlock + j];
        }
      }
      double* k = &s.k[static_cast<size_t>(b) * kBlock];
      for (int j = 0; j < kBlock; ++j) {
        switch (kernel_.kind) {
          case KernelKind::kRbf:
            k[j] = std::exp(-acc[j] * kernel_.gamma);
            break;
          case KernelKind::kLinear:
            k[j] = acc[j];
            break;
          case KernelKind::kPolynomial:
            k[j] = std::pow(acc[j] * kernel_.gamma + kernel_.coef0, kernel_.degree);
            break;
          case KernelKind::kSigmoid:
            k[j] = std::tanh(acc[j] * kernel_.gamma + kernel_.coef0);
            break;
        }
      }
    }
    auto machine_value = [&](const Machine& m) {
      double r = 0;
      if (m.direct) {
        for (size_t i = 0; i < dim; ++i) r += m.coefs[i] * x[i];
      } else {
        for (size_t i = 0; i < m.vectors.size(); ++i) r += m.coefs[i] * s.k[m.vectors[i]];
      }
      return r + m.b;
    };

    switch (method_) {
      case Method::kRegression:
        result->predicted.SetNumber(machine_value(machines_[0]));
        return;
      case Method::kOneAgainstAll: {
        int best = -1;
        double best_v = 0;
        for (const Machine& m : machines_) {
          double v = machine_value(m);
          if (best < 0 || (max_wins_ ? v > best_v : v < best_v)) {
            best = m.target;
            best_v = v;
          }
        }
        if (best >= 0) result->predicted = labels_[best];
        return;
      }
      case Method::kBinary: {
        double v = std::floor(machine_value(machines_[0]) + 0.5);
        int cls;
        if (v == 0) {
          cls = machines_[0].alternate;
        } else if (v == 1) {
          cls = machines_[0].target;
        } else {
          ctx.Fail(absl::InvalidArgumentError("SupportVectorMachineModel: expected 0 or 1, got " +
                                              std::to_string(v)));
          return;
        }
        result->predicted = labels_[cls];
        result->labels = &labels_;
        result->probabilities.assign(labels_.size(), 0.0);
        result->probabilities[cls] = 1;
        return;
      }
      case Method::kOneAgainstOne: {
        s.votes.assign(labels_.size(), 0.0);
        s.order.clear();
        for (const Machine& m : machines_) {
          double v = machine_value(m);
          bool first = max_wins_ ? v > m.threshold : v < m.threshold;
          int cls = first ? m.target : m.alternate;
          if (s.votes[cls] == 0) s.order.push_back(cls);
          s.votes[cls] += 1;
        }
        int best = -1;
        for (int cls : s.order) {
          if (best < 0 || s.votes[cls] > s.votes[best]) best = cls;
        }
        double total = static_cast<double>(machines_.size());
        result->labels = &labels_;
        result->probabilities.resize(labels_.size());
        for (size_t i = 0; i < labels_.size(); ++i) result->probabilities[i] = s.votes[i] / total;
        if (best >= 0) result->predicted = labels_[best];
        return;
      }
    }
  }

  const std::vector<Value>* labels() const override {
    return method_ == Method::kRegression ? nullptr : &labels_;
  }

  Kernel kernel_;
  std::vector<InputField> inputs_;
  static constexpr int kBlock = 4;
  int num_vectors_ = 0;
  int num_blocks_ = 0;
  // Support vectors in blocks of kBlock, each block dimension-major:
  // blocked_[(b * dim + i) * kBlock + j] = component i of vector b * kBlock + j
  // (zero padding after the last vector).
  std::vector<double> blocked_;
  std::vector<Machine> machines_;
  Method method_ = Method::kRegression;
  bool max_wins_ = false;
  std::vector<Value> labels_;
};

absl::StatusOr<Kernel> ParseKernel(pugi::xml_node el) {
  Kernel k;
  pugi::xml_node n;
  if ((n = Child(el, "LinearKernelType"))) {
    k.kind = KernelKind::kLinear;
    return k;
  }
  if ((n = Child(el, "PolynomialKernelType"))) {
    k.kind = KernelKind::kPolynomial;
    auto g = OptDouble(n, "gamma", 1);
    auto c = OptDouble(n, "coef0", 1);
    auto d = OptDouble(n, "degree", 1);
    if (!g.ok()) return g.status();
    if (!c.ok()) return c.status();
    if (!d.ok()) return d.status();
    k.gamma = *g;
    k.coef0 = *c;
    k.degree = *d;
    return k;
  }
  if ((n = Child(el, "RadialBasisKernelType"))) {
    k.kind = KernelKind::kRbf;
    auto g = OptDouble(n, "gamma", 1);
    if (!g.ok()) return g.status();
    k.gamma = *g;
    return k;
  }
  if ((n = Child(el, "SigmoidKernelType"))) {
    k.kind = KernelKind::kSigmoid;
    auto g = OptDouble(n, "gamma", 1);
    auto c = OptDouble(n, "coef0", 1);
    if (!g.ok()) return g.status();
    if (!c.ok()) return c.status();
    k.gamma = *g;
    k.coef0 = *c;
    return k;
  }
  return ElementError(el, "missing or unsupported kernel type");
}

// Values of a VectorInstance: REAL-ARRAY/Array or REAL-SparseArray.
absl::StatusOr<std::vector<double>> InstanceValues(pugi::xml_node vi, size_t dim) {
  pugi::xml_node array = Child(vi, "REAL-ARRAY");
  if (!array) array = Child(vi, "Array");
  if (array) {
    auto v = misc::NumberArray(array);
    if (!v.ok()) return v.status();
    if (v->size() != dim) return ElementError(vi, "vector length differs from the number of VectorFields");
    return v;
  }
  pugi::xml_node sparse = Child(vi, "REAL-SparseArray");
  if (!sparse) sparse = Child(vi, "INT-SparseArray");
  if (!sparse) return ElementError(vi, "missing REAL-ARRAY or REAL-SparseArray");
  std::vector<double> out(dim, 0.0);
  if (sparse.attribute("defaultValue")) {
    auto d = ReqDouble(sparse, "defaultValue");
    if (!d.ok()) return d.status();
    std::fill(out.begin(), out.end(), *d);
  }
  if (sparse.attribute("n") && sparse.attribute("n").as_int(-1) != static_cast<int>(dim)) {
    return ElementError(sparse, "sparse array size differs from the number of VectorFields");
  }
  pugi::xml_node idx = Child(sparse, "Indices");
  pugi::xml_node ent = Child(sparse, "REAL-Entries");
  if (!ent) ent = Child(sparse, "INT-Entries");
  std::vector<std::string> itoks = misc::ArrayTokens(idx ? idx.child_value() : "");
  std::vector<std::string> etoks = misc::ArrayTokens(ent ? ent.child_value() : "");
  if (itoks.size() != etoks.size()) return ElementError(sparse, "Indices and Entries differ in length");
  for (size_t i = 0; i < itoks.size(); ++i) {
    double index, value;
    if (!misc::ParseDoubleText(itoks[i], &index) || !misc::ParseDoubleText(etoks[i], &value)) {
      return ElementError(sparse, "bad sparse array entry");
    }
    if (index < 1 || index > static_cast<double>(dim)) return ElementError(sparse, "sparse index out of range");
    out[static_cast<size_t>(index) - 1] = value;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CompileSupportVectorMachineModel(const ModelCompileArgs& args) {
  pugi::xml_node el = args.element;
  auto model = std::make_unique<SvmModel>();
  auto kernel = ParseKernel(el);
  if (!kernel.ok()) return kernel.status();
  model->kernel_ = *kernel;
  std::string_view mw = el.attribute("maxWins").value();
  model->max_wins_ = mw == "true" || mw == "1";
  auto model_threshold = OptDouble(el, "threshold", 0);
  if (!model_threshold.ok()) return model_threshold.status();

  pugi::xml_node dict = Child(el, "VectorDictionary");
  if (!dict) return ElementError(el, "missing VectorDictionary");
  pugi::xml_node vfields = Child(dict, "VectorFields");
  if (!vfields) return ElementError(dict, "missing VectorFields");
  for (pugi::xml_node c = vfields.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    std::string_view name = LocalName(c);
    if (name == "Extension") continue;
    InputField f;
    if (name == "FieldRef" || name == "CategoricalPredictor" || name == "VectorField") {
      std::string field = c.attribute(name == "CategoricalPredictor" ? "name" : "field").value();
      if (field.empty()) field = c.attribute("name").value();
      auto info = args.scope->Resolve(field);
      if (!info.ok()) return ElementError(c, std::string(info.status().message()));
      f.slot = info->slot;
      if (name == "CategoricalPredictor") {
        auto coef = OptDouble(c, "coefficient", 1);
        if (!coef.ok()) return coef.status();
        if (*coef != 1) return ElementError(c, "CategoricalPredictor coefficient must be 1 in a VectorFields");
        f.categorical = true;
        f.category = ParseTyped(c.attribute("value").value(), info->type);
      }
    } else {
      return ElementError(c, "unexpected element in VectorFields");
    }
    model->inputs_.push_back(std::move(f));
  }
  const size_t dim = model->inputs_.size();
  if (dim == 0) return ElementError(vfields, "VectorFields is empty");

  absl::flat_hash_map<std::string, int> vector_index;
  for (pugi::xml_node vi : Children(dict, "VectorInstance")) {
    std::string id = vi.attribute("id").value();
    if (vector_index.contains(id)) return ElementError(vi, "duplicate VectorInstance id " + id);
    auto values = InstanceValues(vi, dim);
    if (!values.ok()) return values.status();
    int j = model->num_vectors_++;
    vector_index.emplace(id, j);
    if (j % SvmModel::kBlock == 0) {
      model->blocked_.resize(model->blocked_.size() + dim * SvmModel::kBlock, 0.0);
      ++model->num_blocks_;
    }
    double* block = &model->blocked_[static_cast<size_t>(j / SvmModel::kBlock) * dim * SvmModel::kBlock];
    for (size_t i = 0; i < dim; ++i) block[i * SvmModel::kBlock + j % SvmModel::kBlock] = (*values)[i];
  }

  // Labels: the target's categories, then any category only the machines name.
  absl::flat_hash_map<std::string, int> label_index;
  auto label = [&](const std::string& text) {
    auto it = label_index.find(text);
    if (it != label_index.end()) return it->second;
    int i = static_cast<int>(model->labels_.size());
    model->labels_.push_back(ParseTyped(text, args.target->type));
    label_index.emplace(text, i);
    return i;
  };
  bool classification = args.function == MiningFunction::kClassification;
  if (classification) {
    for (const Value& c : args.target->categories) label(FormatValue(c));
  } else if (args.function != MiningFunction::kRegression) {
    return ElementError(el, "SupportVectorMachineModel must be regression or classification");
  }

  std::string_view repr = el.attribute("svmRepresentation").value();
  bool direct = repr == "Coefficients";
  std::vector<pugi::xml_node> svms = Children(el, "SupportVectorMachine");
  if (svms.empty()) return ElementError(el, "no SupportVectorMachine");
  bool any_alternate = false;
  for (pugi::xml_node svm : svms) {
    Machine m;
    m.direct = direct;
    pugi::xml_node coefs = Child(svm, "Coefficients");
    if (!coefs) return ElementError(svm, "missing Coefficients");
    auto b = OptDouble(coefs, "absoluteValue", 0);
    if (!b.ok()) return b.status();
    m.b = *b;
    for (pugi::xml_node c : Children(coefs, "Coefficient")) {
      auto v = OptDouble(c, "value", 0);
      if (!v.ok()) return v.status();
      m.coefs.push_back(*v);
    }
    if (direct) {
      if (m.coefs.size() != dim) return ElementError(coefs, "need one coefficient per vector field");
    } else {
      pugi::xml_node svs = Child(svm, "SupportVectors");
      std::vector<pugi::xml_node> list = svs ? Children(svs, "SupportVector") : std::vector<pugi::xml_node>{};
      if (list.size() != m.coefs.size()) {
        return ElementError(svm, "number of Coefficients differs from number of SupportVectors");
      }
      for (pugi::xml_node sv : list) {
        auto it = vector_index.find(sv.attribute("vectorId").value());
        if (it == vector_index.end()) {
          return ElementError(sv, std::string("unknown vectorId ") + sv.attribute("vectorId").value());
        }
        m.vectors.push_back(it->second);
      }
    }
    auto t = OptDouble(svm, "threshold", *model_threshold);
    if (!t.ok()) return t.status();
    m.threshold = *t;
    if (classification) {
      if (!svm.attribute("targetCategory")) return ElementError(svm, "missing targetCategory");
      m.target = label(svm.attribute("targetCategory").value());
      if (svm.attribute("alternateTargetCategory")) {
        any_alternate = true;
        m.alternate = label(svm.attribute("alternateTargetCategory").value());
      }
    }
    model->machines_.push_back(std::move(m));
  }

  if (!classification) {
    if (model->machines_.size() != 1) return ElementError(el, "a regression SVM needs exactly one SupportVectorMachine");
    model->method_ = Method::kRegression;
  } else if (el.attribute("alternateBinaryTargetCategory")) {
    if (model->machines_.size() != 1) {
      return ElementError(el, "alternateBinaryTargetCategory needs exactly one SupportVectorMachine");
    }
    model->machines_[0].alternate = label(el.attribute("alternateBinaryTargetCategory").value());
    model->method_ = Method::kBinary;
  } else {
    std::string_view cm = el.attribute("classificationMethod").value();
    if (cm == "OneAgainstAll") {
      model->method_ = Method::kOneAgainstAll;
    } else if (cm == "OneAgainstOne") {
      model->method_ = Method::kOneAgainstOne;
    } else if (cm.empty()) {
      model->method_ = any_alternate ? Method::kOneAgainstOne : Method::kOneAgainstAll;
    } else {
      return ElementError(el, "unknown classificationMethod " + std::string(cm));
    }
    if (model->method_ == Method::kOneAgainstOne) {
      for (size_t i = 0; i < svms.size(); ++i) {
        if (model->machines_[i].alternate < 0) {
          return ElementError(svms[i], "OneAgainstOne needs alternateTargetCategory");
        }
      }
    }
  }
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace evs::pmml
