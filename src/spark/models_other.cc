// Spark models beyond the linear and tree families: NaiveBayes, LinearSVC,
// MultilayerPerceptron, KMeans, BisectingKMeans, IsotonicRegression.
//
// Numbers follow Spark's order of floating-point operations: matrix-vector
// products replay BLAS.gemv as Spark dispatches it (dgemv for dense operands
// as the JVM BLAS of that Spark computes it: netlib F2J up to 3.1, fused
// multiply-adds of dev.ludovic.netlib from 3.2; Spark's own loops for sparse
// ones; the saved matrix's isTransposed layout picks "N" or "T"), softmax
// subtracts the maximum first, and the clustering models pick the cluster
// with the same shortcuts (norm bounds, the fastSquaredDistance precision
// test, the 3.0 sqdist shortcut for dense vectors, and from 3.1 the
// triangle-inequality statistics) so ties and near-ties resolve as in Spark.
// Per-row temporaries are thread_local buffers that keep their capacity.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spark/stage.h"

namespace evs::spark {
namespace {

using parquet::Datum;

std::string StageName(const StageMeta& m) { return absl::StrCat(m.ShortClass(), " ", m.uid); }

// ---------------------------------------------------------------------------
// Model data.

// A Spark MatrixUDT as stored: dense (column-major, or row-major when
// transposed) or sparse (CSC, or CSR when transposed).
struct Mat {
  int32_t rows = 0, cols = 0;
  bool sparse = false, transposed = false;
  std::vector<int32_t> ptrs, idx;  // sparse: colPtrs / rowIndices as saved
  std::vector<double> values;

  double At(int32_t i, int32_t j) const {
    if (!sparse) return transposed ? values[static_cast<size_t>(i) * cols + j] : values[static_cast<size_t>(j) * rows + i];
    // CSC: ptrs over columns, idx = rows; CSR (transposed): ptrs over rows, idx = cols.
    const int32_t major = transposed ? i : j, minor = transposed ? j : i;
    for (int32_t k = ptrs[major]; k < ptrs[major + 1]; ++k) {
      if (idx[k] == minor) return values[k];
    }
    return 0.0;
  }
  template <typename F>
  Mat Map(F&& f) const {
    Mat m = *this;
    for (double& v : m.values) v = f(v);
    return m;
  }
};

absl::StatusOr<std::vector<double>> Doubles(const Datum& d) {
  std::vector<double> out;
  if (d.is_null()) return out;
  if (d.kind != Datum::Kind::kList) return absl::InvalidArgumentError("expected a list of numbers");
  out.reserve(d.items.size());
  for (const Datum& x : d.items) {
    auto v = x.AsDouble();
    if (!v.ok()) return v.status();
    out.push_back(*v);
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> Ints(const Datum& d) {
  std::vector<int32_t> out;
  if (d.is_null()) return out;
  if (d.kind != Datum::Kind::kList) return absl::InvalidArgumentError("expected a list of integers");
  for (const Datum& x : d.items) {
    auto v = x.AsInt();
    if (!v.ok()) return v.status();
    out.push_back(static_cast<int32_t>(*v));
  }
  return out;
}

absl::StatusOr<Mat> ReadMat(const Datum& d) {
  if (d.kind != Datum::Kind::kStruct || d.items.size() < 7) {
    return absl::InvalidArgumentError("not a Spark matrix struct");
  }
  Mat m;
  auto type = d.items[0].AsInt();
  auto rows = d.items[1].AsInt();
  auto cols = d.items[2].AsInt();
  if (!type.ok() || !rows.ok() || !cols.ok()) return absl::InvalidArgumentError("bad matrix header");
  m.rows = static_cast<int32_t>(*rows);
  m.cols = static_cast<int32_t>(*cols);
  m.sparse = *type == 0;
  m.transposed = d.items[6].kind == Datum::Kind::kBool && d.items[6].b;
  auto values = Doubles(d.items[5]);
  if (!values.ok()) return values.status();
  m.values = std::move(*values);
  if (m.sparse) {
    auto ptrs = Ints(d.items[3]);
    auto idx = Ints(d.items[4]);
    if (!ptrs.ok()) return ptrs.status();
    if (!idx.ok()) return idx.status();
    m.ptrs = std::move(*ptrs);
    m.idx = std::move(*idx);
    const size_t majors = static_cast<size_t>(m.transposed ? m.rows : m.cols);
    if (m.ptrs.size() != majors + 1 || m.idx.size() != m.values.size() ||
        static_cast<size_t>(m.ptrs.back()) != m.values.size()) {
      return absl::InvalidArgumentError("inconsistent sparse matrix");
    }
    for (int32_t k : m.idx) {
      if (k < 0 || k >= (m.transposed ? m.cols : m.rows)) return absl::InvalidArgumentError("sparse matrix index out of range");
    }
  } else if (m.values.size() != static_cast<size_t>(m.rows) * m.cols) {
    return absl::InvalidArgumentError("dense matrix has the wrong number of values");
  }
  return m;
}

// Which JVM BLAS computed a model's dense products: netlib's F2J (reference
// loops) up to Spark 3.1, dev.ludovic.netlib's Java11BLAS (fused
// multiply-adds) from 3.2. The EVS_SPARK_JAVA_BLAS environment variable
// overrides the choice for a Spark that ran with another BLAS: "f2j" selects
// the reference order, any other value ("java8", "java11") the fused one
// (these models do not replay Java8BLAS's unfused unrolling).
bool UsesJavaBlas(const StageMeta& m) {
  if (const char* env = std::getenv("EVS_SPARK_JAVA_BLAS"); env != nullptr && *env != '\0') {
    return std::string_view(env) != "f2j";
  }
  return m.spark_major > 3 || (m.spark_major == 3 && m.spark_minor >= 2);
}

// y = A x + beta y (alpha = 1) in the order Spark's BLAS.gemv computes it.
void Gemv(const Mat& a, const Vector& x, double beta, std::vector<double>& y, bool java_blas) {
  const int32_t m = a.rows, n = a.cols;
  if (!a.sparse && x.dense) {
    // Reference dgemv on the stored array: "N" for column-major, "T" for
    // row-major (Spark passes the transposed flag through).
    if (beta != 1.0) {
      for (double& v : y) v = beta == 0.0 ? 0.0 : beta * v;
    }
    if (!a.transposed && java_blas) {
      // dev.ludovic.netlib's Java BLAS: each column fused into y in order.
      for (int32_t j = 0; j < n; ++j) {
        const double t = x.values[j];
        const double* col = a.values.data() + static_cast<size_t>(j) * m;
        for (int32_t i = 0; i < m; ++i) y[i] = std::fma(t, col[i], y[i]);
      }
    } else if (!a.transposed) {
      for (int32_t j = 0; j < n; ++j) {
        const double t = x.values[j];
        if (t == 0.0) continue;
        const double* col = a.values.data() + static_cast<size_t>(j) * m;
        for (int32_t i = 0; i < m; ++i) y[i] += t * col[i];
      }
    } else {
      for (int32_t i = 0; i < m; ++i) {
        const double* row = a.values.data() + static_cast<size_t>(i) * n;
        double t = 0.0;
        if (java_blas) {  // Java11BLAS: fused multiply-adds
          for (int32_t j = 0; j < n; ++j) t = std::fma(row[j], x.values[j], t);
        } else {
          for (int32_t j = 0; j < n; ++j) t += row[j] * x.values[j];
        }
        y[i] += t;
      }
    }
    return;
  }
  if (!a.sparse) {  // dense matrix, sparse vector: Spark's own loop
    for (int32_t i = 0; i < m; ++i) {
      double sum = 0.0;
      for (size_t k = 0; k < x.indices.size(); ++k) {
        const int32_t j = x.indices[k];
        sum += x.values[k] * (a.transposed ? a.values[static_cast<size_t>(i) * n + j]
                                           : a.values[static_cast<size_t>(j) * m + i]);
      }
      y[i] = sum + beta * y[i];
    }
    return;
  }
  if (a.transposed) {  // CSR
    for (int32_t i = 0; i < m; ++i) {
      double sum = 0.0;
      if (x.dense) {
        for (int32_t k = a.ptrs[i]; k < a.ptrs[i + 1]; ++k) sum += a.values[k] * x.values[a.idx[k]];
      } else {
        size_t p = 0;
        for (int32_t k = a.ptrs[i]; k < a.ptrs[i + 1]; ++k) {
          while (p < x.indices.size() && x.indices[p] < a.idx[k]) ++p;
          if (p < x.indices.size() && x.indices[p] == a.idx[k]) sum += a.values[k] * x.values[p];
        }
      }
      y[i] = sum + beta * y[i];
    }
    return;
  }
  // CSC: scale y, then add column by column.
  if (beta != 1.0) {
    for (double& v : y) v = beta * v;
  }
  auto column = [&](int32_t j, double xv) {
    for (int32_t k = a.ptrs[j]; k < a.ptrs[j + 1]; ++k) y[a.idx[k]] += a.values[k] * xv;
  };
  if (x.dense) {
    for (int32_t j = 0; j < n; ++j) column(j, x.values[j]);
  } else {
    for (size_t k = 0; k < x.indices.size(); ++k) column(x.indices[k], x.values[k]);
  }
}

// Dense x dense ddot: F2J sums left to right; dev.ludovic.netlib's Java11
// BLAS keeps four fused lanes, adds them, then fuses the tail.
double DenseDot(const double* x, const double* y, int32_t n, bool java_blas) {
  if (!java_blas) {
    double s = 0.0;
    for (int32_t i = 0; i < n; ++i) s += x[i] * y[i];
    return s;
  }
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 = std::fma(x[i], y[i], s0);
    s1 = std::fma(x[i + 1], y[i + 1], s1);
    s2 = std::fma(x[i + 2], y[i + 2], s2);
    s3 = std::fma(x[i + 3], y[i + 3], s3);
  }
  double s = 0.0;
  s += s0 + s1 + s2 + s3;
  for (; i < n; ++i) s = std::fma(x[i], y[i], s);
  return s;
}

// BLAS.dot(x, dense y): ddot for dense x, the sparse loop otherwise.
double Dot(const Vector& x, const std::vector<double>& y, bool java_blas) {
  double sum = 0.0;
  if (x.dense) {
    sum = DenseDot(x.values.data(), y.data(), x.size, java_blas);
  } else {
    for (size_t k = 0; k < x.indices.size(); ++k) sum += x.values[k] * y[x.indices[k]];
  }
  return sum;
}

// Vectors.norm(v, 2): stored values in order.
double Norm2(const Vector& v) {
  double s = 0.0;
  for (double x : v.values) s += x * x;
  return std::sqrt(s);
}

// Utils.softmax / the NaiveBayes and MLP softmax: max first, exp, divide.
void Softmax(const std::vector<double>& in, std::vector<double>& out) {
  out.resize(in.size());
  double mx = std::numeric_limits<double>::lowest();
  for (double v : in) mx = v > mx ? v : mx;
  double sum = 0.0;
  for (size_t i = 0; i < in.size(); ++i) {
    out[i] = std::exp(in[i] - mx);
    sum += out[i];
  }
  for (double& v : out) v /= sum;
}

int Argmax(const std::vector<double>& v) {
  if (v.empty()) return -1;
  int best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = static_cast<int>(i);
  }
  return best;
}

// ProbabilisticClassificationModel.probability2prediction.
double ProbabilityToPrediction(const std::vector<double>& p, const std::vector<double>& thresholds) {
  if (thresholds.empty()) return Argmax(p);
  int arg = 0;
  double mx = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < p.size(); ++i) {
    const double scaled = p[i] / thresholds[i];
    if (scaled > mx) {
      mx = scaled;
      arg = static_cast<int>(i);
    }
  }
  return arg;
}

void WriteDense(Cell& c, const std::vector<double>& v) {
  Vector& out = c.MutableVector();
  out.SetDense(static_cast<int32_t>(v.size()));
  std::copy(v.begin(), v.end(), out.values.begin());
}

// ---------------------------------------------------------------------------
// Shared predictor plumbing: the features input, the output columns under
// their params ("" = not produced), and Schema::NotePredictor.

struct Outputs {
  int features = -1;
  std::string features_col;
  int prediction = -1, raw = -1, probability = -1;
};

absl::StatusOr<Outputs> Wire(const StageMeta& meta, Schema& schema, PredictorInfo::Kind kind, int num_classes,
                             int32_t num_features, bool has_raw, bool has_probability,
                             DataType prediction_type = DataType::kDouble) {
  Outputs o;
  o.features_col = meta.StrOr("featuresCol", "features");
  auto slot = schema.Require(o.features_col, DataType::kVector);
  if (!slot.ok()) return meta.Error(std::string(slot.status().message()));
  if (schema.column(*slot).type != DataType::kVector) {
    return meta.Error(absl::StrCat("features column '", o.features_col, "' must be a vector"));
  }
  const int32_t size = schema.column(*slot).vector_size;
  if (num_features >= 0 && size >= 0 && size != num_features) {
    return meta.Error(absl::StrCat("features column '", o.features_col, "' has ", size,
                                   " elements but the model expects ", num_features));
  }
  o.features = *slot;
  auto vector_col = [&](const std::string& name) {
    ColumnInfo c;
    c.name = name;
    c.type = DataType::kVector;
    c.vector_size = num_classes;
    return schema.AddOutput(std::move(c));
  };
  if (has_raw) {
    const std::string name = meta.StrOr("rawPredictionCol", "rawPrediction");
    if (!name.empty()) o.raw = vector_col(name);
  }
  if (has_probability) {
    const std::string name = meta.StrOr("probabilityCol", "probability");
    if (!name.empty()) o.probability = vector_col(name);
  }
  const std::string pred = meta.StrOr("predictionCol", "prediction");
  if (!pred.empty()) {
    ColumnInfo c;
    c.name = pred;
    c.type = prediction_type;
    if (kind == PredictorInfo::Kind::kClassification && num_classes > 0) {
      Attribute a;
      a.type = Attribute::Type::kNominal;
      a.name = pred;
      a.num_values = num_classes;
      c.attrs.push_back(std::move(a));
    }
    o.prediction = schema.AddOutput(std::move(c));
  }
  PredictorInfo info;
  info.kind = kind;
  info.stage_class = meta.class_name;
  info.label_col = kind == PredictorInfo::Kind::kClustering ? "" : meta.StrOr("labelCol", "label");
  info.num_classes = num_classes;
  info.prediction_slot = o.prediction;
  info.probability_slot = o.probability;
  info.raw_prediction_slot = o.raw;
  schema.NotePredictor(std::move(info));
  return o;
}

template <typename S>
std::unique_ptr<Stage> Finish(std::unique_ptr<S> s, const StageMeta& meta, const Outputs& o) {
  s->name = StageName(meta);
  s->reads = {o.features};
  for (int w : {o.raw, o.probability, o.prediction}) {
    if (w >= 0) s->writes.push_back(w);
  }
  return s;
}

absl::Status NullFeatures(const std::string& stage, const std::string& col) {
  return absl::InvalidArgumentError(absl::StrCat(stage, ": features column '", col, "' is null"));
}
absl::Status SizeMismatch(const std::string& stage, const std::string& col, int32_t got, int32_t want) {
  return absl::InvalidArgumentError(absl::StrCat(stage, ": features column '", col, "' has ", got,
                                                 " elements but the model expects ", want));
}

absl::StatusOr<parquet::Table> Data(const StageMeta& meta, std::string_view sub = "data") {
  auto t = meta.ReadData(sub);
  if (!t.ok()) return meta.Error(absl::StrCat(std::string(sub), ": ", t.status().message()));
  if (t->num_rows() < 1) return meta.Error(absl::StrCat(std::string(sub), " is empty"));
  return t;
}

absl::StatusOr<const Datum*> Column(const StageMeta& meta, const parquet::Table& t, std::string_view name,
                                    size_t row = 0) {
  const int c = t.ColumnIndex(name);
  if (c < 0) return meta.Error(absl::StrCat("data has no column ", std::string(name)));
  return &t.rows[row].items[c];
}

absl::StatusOr<Vector> VectorColumn(const StageMeta& meta, const parquet::Table& t, std::string_view name,
                                    size_t row = 0) {
  auto d = Column(meta, t, name, row);
  if (!d.ok()) return d.status();
  auto v = DecodeVector(**d);
  if (!v.ok()) return meta.Error(absl::StrCat(std::string(name), ": ", v.status().message()));
  return v;
}

std::vector<double> ToDense(const Vector& v) {
  std::vector<double> out(v.size, 0.0);
  v.ForEach([&](int32_t i, double x) { out[i] = x; });
  return out;
}

// ---------------------------------------------------------------------------
// NaiveBayesModel.

class NaiveBayesStage : public Stage {
 public:
  enum class Type : uint8_t { kMultinomial, kBernoulli, kGaussian, kComplement };
  struct Model {
    Type type = Type::kMultinomial;
    bool spark2 = false;
    bool java_blas = false;  // dense products as dev.ludovic.netlib computes them
    std::vector<double> pi;
    Mat theta, sigma;
    Mat theta_minus_neg_theta;        // bernoulli
    std::vector<double> pi_term;      // bernoulli: 3.x pi + negTheta.1, 2.x negTheta.1
    std::vector<double> log_var_sum;  // gaussian
    std::vector<double> thresholds;
  };
  NaiveBayesStage(Model m, Outputs o) : m_(std::move(m)), o_(std::move(o)) {}

  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[o_.features];
    if (in.kind != Cell::Kind::kVector) return NullFeatures(name, o_.features_col);
    const Vector& x = in.vec;
    if (x.size != m_.theta.cols) return SizeMismatch(name, o_.features_col, x.size, m_.theta.cols);
    thread_local std::vector<double> raw, prob;
    const size_t k = m_.pi.size();
    switch (m_.type) {
      case Type::kMultinomial:
      case Type::kComplement:
        for (size_t i = 0; i < x.values.size(); ++i) {
          if (x.values[i] < 0.0) {
            return absl::InvalidArgumentError(absl::StrCat(name, ": features column '", o_.features_col,
                                                           "' has a negative value; Naive Bayes requires nonnegative feature values"));
          }
        }
        if (m_.type == Type::kMultinomial) {
          if (m_.spark2) {  // theta.multiply(x) then axpy(pi)
            raw.assign(k, 0.0);
            Gemv(m_.theta, x, 0.0, raw, m_.java_blas);
            for (size_t i = 0; i < k; ++i) raw[i] += m_.pi[i];
          } else {  // pi.copy then gemv(beta = 1)
            raw.assign(m_.pi.begin(), m_.pi.end());
            Gemv(m_.theta, x, 1.0, raw, m_.java_blas);
          }
        } else {
          raw.assign(k, 0.0);
          Gemv(m_.theta, x, 0.0, raw, m_.java_blas);
          double mx = raw.empty() ? 0.0 : raw[0];
          for (double v : raw) mx = std::max(mx, v);
          double sum_exp = 0.0;
          for (double v : raw) sum_exp += std::exp(v - mx);
          const double lse = std::log(sum_exp) + mx;
          for (double& v : raw) v -= lse;
        }
        break;
      case Type::kBernoulli:
        for (size_t i = 0; i < x.values.size(); ++i) {
          if (x.values[i] != 0.0 && x.values[i] != 1.0) {
            return absl::InvalidArgumentError(absl::StrCat(name, ": features column '", o_.features_col,
                                                           "' has a value other than 0 or 1; Bernoulli naive Bayes requires 0/1 features"));
          }
        }
        if (m_.spark2) {  // tmnt.multiply(x), + pi, + negThetaSum
          raw.assign(k, 0.0);
          Gemv(m_.theta_minus_neg_theta, x, 0.0, raw, m_.java_blas);
          for (size_t i = 0; i < k; ++i) raw[i] += m_.pi[i];
          for (size_t i = 0; i < k; ++i) raw[i] += m_.pi_term[i];
        } else {
          raw.assign(m_.pi_term.begin(), m_.pi_term.end());
          Gemv(m_.theta_minus_neg_theta, x, 1.0, raw, m_.java_blas);
        }
        break;
      case Type::kGaussian:
        raw.resize(k);
        for (size_t i = 0; i < k; ++i) {
          double s = 0.0;
          for (int32_t j = 0; j < m_.theta.cols; ++j) {
            const double d = x.At(j) - m_.theta.At(static_cast<int32_t>(i), j);
            s += d * d / m_.sigma.At(static_cast<int32_t>(i), j);
          }
          raw[i] = m_.pi[i] - (s + m_.log_var_sum[i]) / 2;
        }
        break;
    }
    if (o_.raw >= 0) WriteDense(row.cells[o_.raw], raw);
    Softmax(raw, prob);
    if (o_.probability >= 0) WriteDense(row.cells[o_.probability], prob);
    if (o_.prediction >= 0) {
      // probability2prediction when probabilities exist, else raw2prediction
      // (argmax of raw, or of the probabilities when thresholds are set).
      const double p = o_.probability >= 0 || !m_.thresholds.empty() ? ProbabilityToPrediction(prob, m_.thresholds)
                                                                      : Argmax(raw);
      row.cells[o_.prediction].SetNumber(p);
    }
    return absl::OkStatus();
  }

 private:
  Model m_;
  Outputs o_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeNaiveBayes(const StageMeta& meta, Schema& schema) {
  NaiveBayesStage::Model m;
  const std::string type = meta.StrOr("modelType", "multinomial");
  if (type == "multinomial") {
    m.type = NaiveBayesStage::Type::kMultinomial;
  } else if (type == "bernoulli") {
    m.type = NaiveBayesStage::Type::kBernoulli;
  } else if (type == "gaussian") {
    m.type = NaiveBayesStage::Type::kGaussian;
  } else if (type == "complement") {
    m.type = NaiveBayesStage::Type::kComplement;
  } else {
    return meta.Error("unknown modelType " + type);
  }
  m.spark2 = meta.spark_major < 3;
  m.java_blas = UsesJavaBlas(meta);
  auto t = Data(meta);
  if (!t.ok()) return t.status();
  auto pi = VectorColumn(meta, *t, "pi");
  if (!pi.ok()) return pi.status();
  m.pi = ToDense(*pi);
  auto theta_d = Column(meta, *t, "theta");
  if (!theta_d.ok()) return theta_d.status();
  auto theta = ReadMat(**theta_d);
  if (!theta.ok()) return meta.Error(absl::StrCat("theta: ", theta.status().message()));
  m.theta = std::move(*theta);
  const int k = static_cast<int>(m.pi.size());
  if (m.theta.rows != k) return meta.Error("theta rows differ from the number of classes");
  if (m.type == NaiveBayesStage::Type::kGaussian) {
    auto sigma_d = Column(meta, *t, "sigma");
    if (!sigma_d.ok()) return sigma_d.status();
    auto sigma = ReadMat(**sigma_d);
    if (!sigma.ok()) return meta.Error(absl::StrCat("sigma: ", sigma.status().message()));
    if (sigma->rows != k || sigma->cols != m.theta.cols) return meta.Error("sigma shape differs from theta");
    m.sigma = std::move(*sigma);
    m.log_var_sum.resize(k);
    for (int i = 0; i < k; ++i) {
      double s = 0.0;
      for (int32_t j = 0; j < m.theta.cols; ++j) s += std::log(m.sigma.At(i, j));
      m.log_var_sum[i] = s;
    }
  }
  if (m.type == NaiveBayesStage::Type::kBernoulli) {
    m.theta_minus_neg_theta = m.theta.Map([](double v) { return v - std::log1p(-std::exp(v)); });
    const Mat neg_theta = m.theta.Map([](double v) { return std::log1p(-std::exp(v)); });
    Vector ones;
    ones.SetDense(m.theta.cols);
    std::fill(ones.values.begin(), ones.values.end(), 1.0);
    if (m.spark2) {
      m.pi_term.assign(k, 0.0);
      Gemv(neg_theta, ones, 0.0, m.pi_term, m.java_blas);
    } else {
      m.pi_term = m.pi;
      Gemv(neg_theta, ones, 1.0, m.pi_term, m.java_blas);
    }
  }
  if (meta.Has("thresholds")) {
    auto th = meta.NumList("thresholds");
    if (!th.ok()) return th.status();
    if (static_cast<int>(th->size()) != k) return meta.Error("thresholds length differs from the number of classes");
    m.thresholds = *th;
  }
  auto o = Wire(meta, schema, PredictorInfo::Kind::kClassification, k, m.theta.cols, true, true);
  if (!o.ok()) return o.status();
  return Finish(std::make_unique<NaiveBayesStage>(std::move(m), *o), meta, *o);
}

// ---------------------------------------------------------------------------
// LinearSVCModel.

class LinearSVCStage : public Stage {
 public:
  LinearSVCStage(std::vector<double> coef, double intercept, double threshold, bool java_blas, Outputs o)
      : coef_(std::move(coef)), intercept_(intercept), threshold_(threshold), java_blas_(java_blas),
        o_(std::move(o)) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[o_.features];
    if (in.kind != Cell::Kind::kVector) return NullFeatures(name, o_.features_col);
    const int32_t n = static_cast<int32_t>(coef_.size());
    if (in.vec.size != n) return SizeMismatch(name, o_.features_col, in.vec.size, n);
    const double m = Dot(in.vec, coef_, java_blas_) + intercept_;
    if (o_.raw >= 0) {
      Vector& r = row.cells[o_.raw].MutableVector();
      r.SetDense(2);
      r.values[0] = -m;
      r.values[1] = m;
    }
    if (o_.prediction >= 0) row.cells[o_.prediction].SetNumber(m > threshold_ ? 1.0 : 0.0);
    return absl::OkStatus();
  }

 private:
  std::vector<double> coef_;
  double intercept_, threshold_;
  bool java_blas_;
  Outputs o_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeLinearSVC(const StageMeta& meta, Schema& schema) {
  auto t = Data(meta);
  if (!t.ok()) return t.status();
  auto coef = VectorColumn(meta, *t, "coefficients");
  if (!coef.ok()) return coef.status();
  auto icpt = Column(meta, *t, "intercept");
  if (!icpt.ok()) return icpt.status();
  auto intercept = (*icpt)->AsDouble();
  if (!intercept.ok()) return meta.Error("intercept is not a number");
  auto o = Wire(meta, schema, PredictorInfo::Kind::kClassification, 2, coef->size, true, false);
  if (!o.ok()) return o.status();
  return Finish(std::make_unique<LinearSVCStage>(ToDense(*coef), *intercept, meta.NumOr("threshold", 0.0),
                                                 UsesJavaBlas(meta), *o),
                meta, *o);
}

// ---------------------------------------------------------------------------
// MultilayerPerceptronClassificationModel.

class MlpStage : public Stage {
 public:
  MlpStage(std::vector<int32_t> layers, std::vector<double> weights, std::vector<double> thresholds,
           bool java_blas, Outputs o)
      : layers_(std::move(layers)), weights_(std::move(weights)), thresholds_(std::move(thresholds)),
        java_blas_(java_blas), o_(std::move(o)) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[o_.features];
    if (in.kind != Cell::Kind::kVector) return NullFeatures(name, o_.features_col);
    if (in.vec.size != layers_[0]) return SizeMismatch(name, o_.features_col, in.vec.size, layers_[0]);
    thread_local std::vector<double> a, b, prob;
    a.assign(layers_[0], 0.0);
    in.vec.ForEach([&](int32_t i, double v) { a[i] = v; });
    size_t off = 0;
    const size_t last = layers_.size() - 2;
    for (size_t l = 0; l + 1 < layers_.size(); ++l) {
      const int32_t n_in = layers_[l], n_out = layers_[l + 1];
      const double* w = weights_.data() + off;                          // n_out x n_in, column-major
      const double* bias = w + static_cast<size_t>(n_in) * n_out;
      // AffineLayer: output := bias, then dgemm(1.0, W, x, 1.0, output).
      b.assign(bias, bias + n_out);
      if (java_blas_) {
        // Java11BLAS dgemmNN: a fused dot product per output, then + bias.
        for (int32_t i = 0; i < n_out; ++i) {
          double sum = 0.0;
          for (int32_t j = 0; j < n_in; ++j) sum = std::fma(w[static_cast<size_t>(j) * n_out + i], a[j], sum);
          b[i] = sum + b[i];
        }
      } else {  // reference dgemm: bias, then column by column
        for (int32_t j = 0; j < n_in; ++j) {
          const double t = a[j];
          if (t == 0.0) continue;
          const double* col = w + static_cast<size_t>(j) * n_out;
          for (int32_t i = 0; i < n_out; ++i) b[i] += t * col[i];
        }
      }
      off += static_cast<size_t>(n_in) * n_out + n_out;
      if (l != last) {
        for (double& v : b) v = 1.0 / (1.0 + std::exp(-v));  // sigmoid hidden layer
      }
      std::swap(a, b);
    }
    // `a` is the last affine output: rawPrediction; the softmax layer gives
    // the probabilities.
    if (o_.raw >= 0) WriteDense(row.cells[o_.raw], a);
    Softmax(a, prob);
    if (o_.probability >= 0) WriteDense(row.cells[o_.probability], prob);
    if (o_.prediction >= 0) {
      const double p = o_.probability >= 0 || !thresholds_.empty() ? ProbabilityToPrediction(prob, thresholds_)
                                                                    : Argmax(a);
      row.cells[o_.prediction].SetNumber(p);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<int32_t> layers_;
  std::vector<double> weights_;
  std::vector<double> thresholds_;
  bool java_blas_;
  Outputs o_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeMlp(const StageMeta& meta, Schema& schema) {
  auto t = Data(meta);
  if (!t.ok()) return t.status();
  std::vector<int32_t> layers;
  if (t->ColumnIndex("layers") >= 0) {  // Spark 2.x keeps the layers in the data
    auto l = Ints(t->rows[0].items[t->ColumnIndex("layers")]);
    if (!l.ok()) return meta.Error(absl::StrCat("layers: ", l.status().message()));
    layers = *l;
  } else {
    auto l = meta.NumList("layers");
    if (!l.ok()) return l.status();
    for (double v : *l) layers.push_back(static_cast<int32_t>(v));
  }
  if (layers.size() < 2) return meta.Error("layers must have at least two entries");
  size_t expected = 0;
  for (size_t l = 0; l + 1 < layers.size(); ++l) {
    if (layers[l] < 1 || layers[l + 1] < 1) return meta.Error("layer sizes must be positive");
    expected += static_cast<size_t>(layers[l]) * layers[l + 1] + layers[l + 1];
  }
  auto w = VectorColumn(meta, *t, "weights");
  if (!w.ok()) return w.status();
  if (static_cast<size_t>(w->size) != expected) {
    return meta.Error(absl::StrCat("weights has ", w->size, " values but the layers need ", expected));
  }
  std::vector<double> thresholds;
  const int k = layers.back();
  if (meta.Has("thresholds")) {
    auto th = meta.NumList("thresholds");
    if (!th.ok()) return th.status();
    if (static_cast<int>(th->size()) != k) return meta.Error("thresholds length differs from the number of classes");
    thresholds = *th;
  }
  auto o = Wire(meta, schema, PredictorInfo::Kind::kClassification, k, layers[0], true, true);
  if (!o.ok()) return o.status();
  return Finish(std::make_unique<MlpStage>(std::move(layers), ToDense(*w), std::move(thresholds), UsesJavaBlas(meta), *o),
                meta, *o);
}

// ---------------------------------------------------------------------------
// KMeansModel and BisectingKMeansModel.

struct Center {
  Vector v;
  double norm = 0;
};

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();  // 2^-52, MLUtils.EPSILON

struct DistanceConfig {
  bool cosine = false;
  bool dense_shortcut = false;  // Spark >= 3.0
  bool java_blas = false;       // Spark >= 3.2: dev.ludovic.netlib ddot
};

// Vectors.sqdist: the sum of squared differences over the union of indices,
// in index order.
double SqDist(const Vector& a, const Vector& b) {
  double s = 0.0;
  if (a.dense && b.dense) {
    for (int32_t i = 0; i < a.size; ++i) {
      const double d = a.values[i] - b.values[i];
      s += d * d;
    }
    return s;
  }
  if (!a.dense && !b.dense) {
    size_t i = 0, j = 0;
    while (i < a.indices.size() || j < b.indices.size()) {
      double d;
      if (j >= b.indices.size() || (i < a.indices.size() && a.indices[i] < b.indices[j])) {
        d = a.values[i++];
      } else if (i >= a.indices.size() || b.indices[j] < a.indices[i]) {
        d = b.values[j++];
      } else {
        d = a.values[i++] - b.values[j++];
      }
      s += d * d;
    }
    return s;
  }
  const Vector& sp = a.dense ? b : a;
  const Vector& de = a.dense ? a : b;
  size_t k = 0;
  for (int32_t i = 0; i < de.size; ++i) {
    double d;
    if (k < sp.indices.size() && sp.indices[k] == i) {
      d = sp.values[k++] - de.values[i];
    } else {
      d = de.values[i];
    }
    s += d * d;
  }
  return s;
}

// mllib BLAS.dot(Vector, Vector).
double DotVV(const Vector& a, const Vector& b, bool java_blas) {
  double s = 0.0;
  if (a.dense && b.dense) return DenseDot(a.values.data(), b.values.data(), a.size, java_blas);
  if (!a.dense && !b.dense) {
    size_t i = 0, j = 0;
    while (i < a.indices.size() && j < b.indices.size()) {
      if (a.indices[i] < b.indices[j]) {
        ++i;
      } else if (b.indices[j] < a.indices[i]) {
        ++j;
      } else {
        s += a.values[i++] * b.values[j++];
      }
    }
    return s;
  }
  const Vector& sp = a.dense ? b : a;
  const Vector& de = a.dense ? a : b;
  for (size_t k = 0; k < sp.indices.size(); ++k) s += sp.values[k] * de.values[sp.indices[k]];
  return s;
}

// MLUtils.fastSquaredDistance (precision 1e-6). Spark 3.0 went straight to
// sqdist for two dense vectors.
double FastSquaredDistance(const Vector& v1, double n1, const Vector& v2, double n2, const DistanceConfig& dc) {
  const bool dense_shortcut = dc.dense_shortcut;
  if (dense_shortcut && v1.dense && v2.dense) return SqDist(v1, v2);
  const double precision = 1e-6;
  const double sum_sq = n1 * n1 + n2 * n2;
  const double diff = n1 - n2;
  const double bound1 = 2.0 * kEpsilon * sum_sq / (diff * diff + kEpsilon);
  if (bound1 < precision) return sum_sq - 2.0 * DotVV(v1, v2, dc.java_blas);
  if (dense_shortcut || !v1.dense || !v2.dense) {
    const double dot = DotVV(v1, v2, dc.java_blas);
    double sq = std::max(sum_sq - 2.0 * dot, 0.0);
    const double bound2 = kEpsilon * (sum_sq + 2.0 * std::abs(dot)) / (sq + kEpsilon);
    if (bound2 > precision) sq = SqDist(v1, v2);
    return sq;
  }
  return SqDist(v1, v2);
}


double Distance(const DistanceConfig& dc, const Center& a, const Center& b) {
  if (dc.cosine) return 1 - DotVV(a.v, b.v, dc.java_blas) / a.norm / b.norm;
  return std::sqrt(FastSquaredDistance(a.v, a.norm, b.v, b.norm, dc));
}

// Cost used to rank centers: squared distance (Euclidean) or cosine distance.
double Cost(const DistanceConfig& dc, const Center& center, const Center& point) {
  if (dc.cosine) return 1 - DotVV(center.v, point.v, dc.java_blas) / center.norm / point.norm;
  return FastSquaredDistance(center.v, center.norm, point.v, point.norm, dc);
}

// Index into a packed upper triangle (Utils.indexUpperTriangular).
int UpperTriangular(int i, int j) {
  return i <= j ? j * (j + 1) / 2 + i : i * (i + 1) / 2 + j;
}

class KMeansStage : public Stage {
 public:
  KMeansStage(std::vector<Center> centers, DistanceConfig dc, bool use_stats, Outputs o)
      : centers_(std::move(centers)), dc_(dc), o_(std::move(o)) {
    const int k = static_cast<int>(centers_.size());
    if (use_stats && k > 1) {
      // DistanceMeasure.computeStatistics: packed upper triangle of the
      // center-to-center bounds, the diagonal holding each row's minimum.
      stats_.assign(static_cast<size_t>(k) * (k + 1) / 2, 0.0);
      std::vector<double> diag(k, std::numeric_limits<double>::infinity());
      for (int i = 0; i < k; ++i) {
        for (int j = i + 1; j < k; ++j) {
          const double d = Distance(dc_, centers_[i], centers_[j]);
          const double s = dc_.cosine ? 1 - std::sqrt(1 - d / 2) : 0.25 * d * d;
          stats_[UpperTriangular(i, j)] = s;
          if (s < diag[i]) diag[i] = s;
          if (s < diag[j]) diag[j] = s;
        }
      }
      for (int i = 0; i < k; ++i) stats_[UpperTriangular(i, i)] = diag[i];
      use_stats_ = true;
    }
  }

  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[o_.features];
    if (in.kind != Cell::Kind::kVector) return NullFeatures(name, o_.features_col);
    const int32_t n = centers_[0].v.size;
    if (in.vec.size != n) return SizeMismatch(name, o_.features_col, in.vec.size, n);
    thread_local Center point;
    point.v = in.vec;  // copy keeps the thread-local capacity
    point.norm = Norm2(point.v);
    if (dc_.cosine && point.norm == 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": features column '", o_.features_col,
                                                     "' is a zero vector; cosine distance is not defined"));
    }
    const int best = use_stats_ ? ClosestWithStats(point) : Closest(point);
    if (o_.prediction >= 0) row.cells[o_.prediction].SetNumber(best);
    return absl::OkStatus();
  }

 private:
  int Closest(const Center& p) const {
    double best_d = std::numeric_limits<double>::infinity();
    int best = 0;
    for (size_t i = 0; i < centers_.size(); ++i) {
      const Center& c = centers_[i];
      double d;
      if (dc_.cosine) {
        d = Distance(dc_, c, p);
      } else {
        double lb = c.norm - p.norm;
        lb = lb * lb;
        if (!(lb < best_d)) continue;
        d = FastSquaredDistance(c.v, c.norm, p.v, p.norm, dc_);
      }
      if (d < best_d) {
        best_d = d;
        best = static_cast<int>(i);
      }
    }
    return best;
  }

  int ClosestWithStats(const Center& p) const {
    const int k = static_cast<int>(centers_.size());
    double best_d = Cost(dc_, centers_[0], p);
    if (best_d < stats_[0]) return 0;
    int best = 0;
    for (int i = 1; i < k; ++i) {
      const Center& c = centers_[i];
      if (!dc_.cosine) {
        const double nd = c.norm - p.norm;
        if (!(nd * nd < best_d)) continue;
      }
      if (!(stats_[UpperTriangular(i, best)] < best_d)) continue;
      const double d = Cost(dc_, c, p);
      if (d < stats_[UpperTriangular(i, i)]) return i;
      if (d < best_d) {
        best_d = d;
        best = i;
      }
    }
    return best;
  }

  std::vector<Center> centers_;
  DistanceConfig dc_;
  bool use_stats_ = false;
  std::vector<double> stats_;
  Outputs o_;
};

absl::StatusOr<DistanceConfig> ReadDistance(const StageMeta& meta) {
  DistanceConfig dc;
  const std::string dm = meta.StrOr("distanceMeasure", "euclidean");
  if (dm == "cosine") {
    dc.cosine = true;
  } else if (dm != "euclidean") {
    return meta.Error("distanceMeasure must be euclidean or cosine, got " + dm);
  }
  dc.dense_shortcut = meta.spark_major >= 3;
  dc.java_blas = UsesJavaBlas(meta);
  return dc;
}

absl::StatusOr<std::unique_ptr<Stage>> MakeKMeans(const StageMeta& meta, Schema& schema) {
  auto dc = ReadDistance(meta);
  if (!dc.ok()) return dc.status();
  auto t = meta.ReadData("data");
  if (!t.ok()) return meta.Error(absl::StrCat("data: ", t.status().message()));
  std::vector<std::pair<int64_t, Vector>> rows;
  const int idx_c = t->ColumnIndex("clusterIdx"), center_c = t->ColumnIndex("clusterCenter");
  if (idx_c >= 0 && center_c >= 0) {  // Spark 2.x - 4.x: one row per center
    for (const Datum& r : t->rows) {
      auto i = r.items[idx_c].AsInt();
      auto v = DecodeVector(r.items[center_c]);
      if (!i.ok() || !v.ok()) return meta.Error("bad cluster center row");
      rows.emplace_back(*i, std::move(*v));
    }
  } else if (t->ColumnIndex("clusterCenters") >= 0 && t->num_rows() > 0) {  // Spark 1.6: one list
    const Datum& list = t->rows[0].items[t->ColumnIndex("clusterCenters")];
    for (size_t i = 0; i < list.items.size(); ++i) {
      auto v = DecodeVector(list.items[i]);
      if (!v.ok()) return meta.Error("bad cluster center");
      rows.emplace_back(static_cast<int64_t>(i), std::move(*v));
    }
  } else {
    return meta.Error("data has neither clusterIdx/clusterCenter nor clusterCenters");
  }
  if (rows.empty()) return meta.Error("model has no cluster centers");
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Center> centers;
  for (auto& [i, v] : rows) {
    if (v.size != rows[0].second.size) return meta.Error("cluster centers differ in size");
    Center c;
    c.norm = Norm2(v);
    c.v = std::move(v);
    if (dc->cosine && c.norm == 0) return meta.Error("a cluster center is a zero vector (cosine distance)");
    centers.push_back(std::move(c));
  }
  const int k = static_cast<int>(centers.size());
  const int32_t nf = centers[0].v.size;
  // Spark 3.1 predicts with the triangle-inequality statistics when they are
  // cheap to compute (k < 1000 and k*k*numFeatures < 1e6).
  const bool stats = (meta.spark_major > 3 || (meta.spark_major == 3 && meta.spark_minor >= 1)) && k < 1000 &&
                     static_cast<int64_t>(k) * k * nf < 1000000;
  auto o = Wire(meta, schema, PredictorInfo::Kind::kClustering, k, nf, false, false, DataType::kInteger);
  if (!o.ok()) return o.status();
  return Finish(std::make_unique<KMeansStage>(std::move(centers), *dc, stats, *o), meta, *o);
}

class BisectingKMeansStage : public Stage {
 public:
  struct Node {
    int32_t index = 0;
    Center center;
    std::vector<int> children;  // positions in nodes_
  };
  BisectingKMeansStage(std::vector<Node> nodes, int root, DistanceConfig dc, Outputs o)
      : nodes_(std::move(nodes)), root_(root), dc_(dc), o_(std::move(o)) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[o_.features];
    if (in.kind != Cell::Kind::kVector) return NullFeatures(name, o_.features_col);
    const int32_t n = nodes_[root_].center.v.size;
    if (in.vec.size != n) return SizeMismatch(name, o_.features_col, in.vec.size, n);
    thread_local Center point;
    point.v = in.vec;
    point.norm = Norm2(point.v);
    if (dc_.cosine && point.norm == 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": features column '", o_.features_col,
                                                     "' is a zero vector; cosine distance is not defined"));
    }
    // Descend: at each internal node take the child with the smallest cost
    // (the first one on ties), as ClusteringTreeNode.predict does.
    int cur = root_;
    while (!nodes_[cur].children.empty()) {
      int best = -1;
      double best_cost = 0;
      for (int c : nodes_[cur].children) {
        const double cost = Cost(dc_, nodes_[c].center, point);  // DistanceMeasure.cost(center, point)
        if (best < 0 || cost < best_cost) {
          best = c;
          best_cost = cost;
        }
      }
      cur = best;
    }
    if (o_.prediction >= 0) row.cells[o_.prediction].SetNumber(nodes_[cur].index);
    return absl::OkStatus();
  }

 private:
  std::vector<Node> nodes_;
  int root_;
  DistanceConfig dc_;
  Outputs o_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeBisectingKMeans(const StageMeta& meta, Schema& schema) {
  auto dc = ReadDistance(meta);
  if (!dc.ok()) return dc.status();
  // The ml model saves the mllib model under <stage>/data: its node table is
  // <stage>/data/data (index, size, center, norm, cost, height, children).
  auto t = meta.ReadData("data/data");
  if (!t.ok()) return meta.Error(absl::StrCat("data/data: ", t.status().message()));
  const int ci = t->ColumnIndex("index"), cc = t->ColumnIndex("center"), cn = t->ColumnIndex("norm"),
            ch = t->ColumnIndex("children");
  if (ci < 0 || cc < 0 || cn < 0 || ch < 0) return meta.Error("data/data lacks index/center/norm/children");
  std::vector<BisectingKMeansStage::Node> nodes;
  std::vector<std::vector<int32_t>> child_ids;
  for (const Datum& r : t->rows) {
    BisectingKMeansStage::Node nd;
    auto i = r.items[ci].AsInt();
    auto v = DecodeVector(r.items[cc]);
    auto norm = r.items[cn].AsDouble();
    auto kids = Ints(r.items[ch]);
    if (!i.ok() || !v.ok() || !norm.ok() || !kids.ok()) return meta.Error("bad cluster tree node");
    nd.index = static_cast<int32_t>(*i);
    nd.center.v = std::move(*v);
    nd.center.norm = *norm;
    nodes.push_back(std::move(nd));
    child_ids.push_back(std::move(*kids));
  }
  if (nodes.empty()) return meta.Error("empty cluster tree");
  auto pos = [&](int32_t id) {
    for (size_t k = 0; k < nodes.size(); ++k) {
      if (nodes[k].index == id) return static_cast<int>(k);
    }
    return -1;
  };
  std::vector<bool> is_child(nodes.size(), false);
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (int32_t id : child_ids[k]) {
      const int p = pos(id);
      if (p < 0) return meta.Error(absl::StrCat("cluster tree node ", nodes[k].index, " names a missing child ", id));
      nodes[k].children.push_back(p);
      is_child[p] = true;
    }
  }
  // The root is the one node nobody names as a child (the mllib metadata's
  // rootId says the same).
  int root = -1;
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (!is_child[k]) {
      if (root >= 0) return meta.Error("cluster tree has more than one root");
      root = static_cast<int>(k);
    }
  }
  if (root < 0) return meta.Error("cluster tree has no root");
  // Reject cycles: a descent must end at a leaf.
  {
    std::vector<int> stack = {root};
    size_t visited = 0;
    while (!stack.empty()) {
      const int c = stack.back();
      stack.pop_back();
      if (++visited > nodes.size()) return meta.Error("cluster tree has a cycle");
      for (int k : nodes[c].children) stack.push_back(k);
    }
  }
  int leaves = 0;
  for (const auto& nd : nodes) {
    if (nd.center.v.size != nodes[root].center.v.size) return meta.Error("cluster centers differ in size");
    if (nd.children.empty()) ++leaves;
  }
  const int32_t nf = nodes[root].center.v.size;
  auto o = Wire(meta, schema, PredictorInfo::Kind::kClustering, leaves, nf, false, false, DataType::kInteger);
  if (!o.ok()) return o.status();
  return Finish(std::make_unique<BisectingKMeansStage>(std::move(nodes), root, *dc, *o), meta, *o);
}

// ---------------------------------------------------------------------------
// IsotonicRegressionModel.

// java.util.Arrays.binarySearch(double[], double).
int JavaBinarySearch(const std::vector<double>& a, double key) {
  int lo = 0, hi = static_cast<int>(a.size()) - 1;
  auto bits = [](double d) {
    if (std::isnan(d)) return int64_t{0x7ff8000000000000};
    int64_t b;
    std::memcpy(&b, &d, sizeof b);
    return b;
  };
  while (lo <= hi) {
    const int mid = static_cast<int>(static_cast<unsigned>(lo + hi) >> 1);
    const double v = a[mid];
    if (v < key) {
      lo = mid + 1;
    } else if (v > key) {
      hi = mid - 1;
    } else {
      const int64_t mb = bits(v), kb = bits(key);
      if (mb == kb) return mid;
      if (mb < kb) {
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
  }
  return -(lo + 1);
}

class IsotonicStage : public Stage {
 public:
  IsotonicStage(std::vector<double> boundaries, std::vector<double> predictions, int32_t feature_index,
                bool vector_input, Outputs o)
      : b_(std::move(boundaries)), p_(std::move(predictions)), feature_index_(feature_index),
        vector_input_(vector_input), o_(std::move(o)) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[o_.features];
    double x;
    if (vector_input_) {
      if (in.kind != Cell::Kind::kVector) return NullFeatures(name, o_.features_col);
      if (feature_index_ >= in.vec.size) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": featureIndex ", feature_index_, " is out of range for column '",
                                                       o_.features_col, "' of size ", in.vec.size));
      }
      x = in.vec.At(feature_index_);
    } else {
      if (in.kind != Cell::Kind::kNumber) return NullFeatures(name, o_.features_col);
      x = in.num;
    }
    if (o_.prediction >= 0) row.cells[o_.prediction].SetNumber(Predict(x));
    return absl::OkStatus();
  }

  double Predict(double x) const {
    const int found = JavaBinarySearch(b_, x);
    const int insert = -found - 1;
    if (insert == 0) return p_.front();
    if (insert == static_cast<int>(b_.size())) return p_.back();
    if (found < 0) {
      const double x1 = b_[insert - 1], y1 = p_[insert - 1], x2 = b_[insert], y2 = p_[insert];
      return y1 + (y2 - y1) * (x - x1) / (x2 - x1);
    }
    return p_[found];
  }

 private:
  std::vector<double> b_, p_;
  int32_t feature_index_;
  bool vector_input_;
  Outputs o_;
};

absl::StatusOr<std::unique_ptr<Stage>> MakeIsotonic(const StageMeta& meta, Schema& schema) {
  auto t = Data(meta);
  if (!t.ok()) return t.status();
  auto bd = Column(meta, *t, "boundaries");
  if (!bd.ok()) return bd.status();
  auto pd = Column(meta, *t, "predictions");
  if (!pd.ok()) return pd.status();
  auto b = Doubles(**bd);
  auto p = Doubles(**pd);
  if (!b.ok() || !p.ok()) return meta.Error("boundaries/predictions are not number lists");
  if (b->empty() || b->size() != p->size()) return meta.Error("boundaries and predictions must be non-empty and equally long");
  for (size_t i = 1; i < b->size(); ++i) {
    if ((*b)[i] < (*b)[i - 1]) return meta.Error("boundaries are not sorted");
  }
  const double fi = meta.NumOr("featureIndex", 0);
  if (fi < 0 || fi != std::floor(fi)) return meta.Error("featureIndex must be a non-negative integer");
  // The features column is a vector (featureIndex picks the element) or a
  // number.
  const std::string col = meta.StrOr("featuresCol", "features");
  const int existing = schema.Find(col);
  const bool scalar = existing >= 0 && IsNumeric(schema.column(existing).type);
  Outputs o;
  if (scalar) {
    o.features = existing;
    o.features_col = col;
    const std::string pred = meta.StrOr("predictionCol", "prediction");
    if (!pred.empty()) {
      ColumnInfo c;
      c.name = pred;
      c.type = DataType::kDouble;
      o.prediction = schema.AddOutput(std::move(c));
    }
    PredictorInfo info;
    info.kind = PredictorInfo::Kind::kRegression;
    info.stage_class = meta.class_name;
    info.label_col = meta.StrOr("labelCol", "label");
    info.prediction_slot = o.prediction;
    schema.NotePredictor(std::move(info));
  } else {
    auto w = Wire(meta, schema, PredictorInfo::Kind::kRegression, 0, -1, false, false);
    if (!w.ok()) return w.status();
    o = *w;
    const int32_t size = schema.column(o.features).vector_size;
    if (size >= 0 && fi >= size) {
      return meta.Error(absl::StrCat("featureIndex ", fi, " is out of range for column '", col, "' of size ", size));
    }
  }
  return Finish(std::make_unique<IsotonicStage>(std::move(*b), std::move(*p), static_cast<int32_t>(fi), !scalar, o),
                meta, o);
}

}  // namespace

void RegisterOtherModels(StageRegistry& r) {
  r.Add("org.apache.spark.ml.classification.NaiveBayesModel", MakeNaiveBayes);
  r.Add("org.apache.spark.ml.classification.LinearSVCModel", MakeLinearSVC);
  r.Add("org.apache.spark.ml.classification.MultilayerPerceptronClassificationModel", MakeMlp);
  r.Add("org.apache.spark.ml.clustering.KMeansModel", MakeKMeans);
  r.Add("org.apache.spark.ml.clustering.BisectingKMeansModel", MakeBisectingKMeans);
  r.Add("org.apache.spark.ml.regression.IsotonicRegressionModel", MakeIsotonic);
}

}  // namespace evs::spark
