// Linear models of Spark MLlib: LogisticRegressionModel (binomial and
// multinomial), LinearRegressionModel and GeneralizedLinearRegressionModel.
//
// Numbers follow Spark's own transform bit for bit where we know how: the dot
// product is the one Spark's BLAS takes for the vector kinds at hand (sparse
// vectors iterate their active entries; dense x dense goes through the JVM
// BLAS, whose summation order changed in Spark 3.2), the intercept is added
// where Spark adds it, and the probability formulas are those of the Spark
// version that saved the model. Apply() allocates nothing once the output
// cells have their capacity.

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "spark/stage.h"

namespace evs::spark {
namespace {

constexpr std::string_view kLogisticClass =
    "org.apache.spark.ml.classification.LogisticRegressionModel";
constexpr std::string_view kLinearClass = "org.apache.spark.ml.regression.LinearRegressionModel";
constexpr std::string_view kGlrClass =
    "org.apache.spark.ml.regression.GeneralizedLinearRegressionModel";

// ---------------------------------------------------------------------------
// Model data access (Parquet rows as Datum trees).

absl::StatusOr<double> DatumNumber(const parquet::Datum& d) {
  switch (d.kind) {
    case parquet::Datum::Kind::kDouble: return d.d;
    case parquet::Datum::Kind::kInt: return static_cast<double>(d.i);
    case parquet::Datum::Kind::kBool: return d.b ? 1.0 : 0.0;
    default: return absl::InvalidArgumentError("not a number");
  }
}

// The first row's top-level column `name`.
absl::StatusOr<const parquet::Datum*> Column(const StageMeta& m, const parquet::Table& t,
                                             std::string_view name) {
  int c = t.ColumnIndex(name);
  if (c < 0 || t.rows.empty() || static_cast<size_t>(c) >= t.rows[0].items.size()) {
    return m.Error(absl::StrCat("model data has no column '", std::string(name), "'"));
  }
  return &t.rows[0].items[c];
}

absl::StatusOr<double> NumberColumn(const StageMeta& m, const parquet::Table& t,
                                    std::string_view name) {
  ASSIGN_OR_RETURN(const parquet::Datum* d, Column(m, t, name));
  auto v = DatumNumber(*d);
  if (!v.ok()) return m.Error(absl::StrCat("model data column '", std::string(name), "' is not a number"));
  return *v;
}

absl::Status NumberList(const parquet::Datum& d, std::vector<double>* out) {
  out->clear();
  if (d.is_null()) return absl::OkStatus();
  if (d.kind != parquet::Datum::Kind::kList) return absl::InvalidArgumentError("not a list");
  out->reserve(d.items.size());
  for (const auto& it : d.items) {
    ASSIGN_OR_RETURN(double v, DatumNumber(it));
    out->push_back(v);
  }
  return absl::OkStatus();
}

// Coefficients as Spark holds them: dense, or sparse (active entries).
struct Coefs {
  int32_t size = 0;
  bool sparse = false;
  std::vector<double> dense;  // always `size` values (zeros where sparse)
  std::vector<int32_t> idx;   // sparse: active indices, ascending
  std::vector<double> vals;   // sparse: values parallel to idx
};

// VectorUDT struct {type: 0 sparse / 1 dense, size, indices, values}.
absl::StatusOr<Coefs> DecodeCoefs(const StageMeta& m, const parquet::Datum& d,
                                  std::string_view what) {
  auto bad = [&](std::string_view why) {
    return m.Error(absl::StrCat("model data '", std::string(what), "' is not a vector (", std::string(why),
                                ")"));
  };
  if (d.kind != parquet::Datum::Kind::kStruct || d.items.size() < 4) return bad("shape");
  auto type = DatumNumber(d.items[0]);
  if (!type.ok()) return bad("type");
  Coefs c;
  std::vector<double> values;
  if (!NumberList(d.items[3], &values).ok()) return bad("values");
  if (*type == 1) {
    c.size = static_cast<int32_t>(values.size());
    c.dense = std::move(values);
    return c;
  }
  auto size = DatumNumber(d.items[1]);
  std::vector<double> idx;
  if (!size.ok() || !NumberList(d.items[2], &idx).ok() || idx.size() != values.size()) {
    return bad("sparse layout");
  }
  c.size = static_cast<int32_t>(*size);
  c.sparse = true;
  c.dense.assign(c.size, 0.0);
  for (size_t k = 0; k < idx.size(); ++k) {
    int32_t i = static_cast<int32_t>(idx[k]);
    if (i < 0 || i >= c.size || (k > 0 && i <= c.idx.back())) return bad("sparse indices");
    c.idx.push_back(i);
    c.vals.push_back(values[k]);
    c.dense[i] = values[k];
  }
  return c;
}

// MatrixUDT struct {type, numRows, numCols, colPtrs, rowIndices, values,
// isTransposed}, kept row-major dense plus how Spark stored it (which decides
// the order of its matrix-vector product).
struct Matrix {
  int32_t rows = 0, cols = 0;
  bool sparse = false;
  bool transposed = false;  // row-major dense, or CSR
  std::vector<double> values;  // rows * cols, row-major
};

absl::StatusOr<Matrix> DecodeMatrixDatum(const StageMeta& m, const parquet::Datum& d) {
  auto bad = [&](std::string_view why) {
    return m.Error(absl::StrCat("model data 'coefficientMatrix' is not a matrix (",
                                std::string(why), ")"));
  };
  if (d.kind != parquet::Datum::Kind::kStruct || d.items.size() < 7) return bad("shape");
  auto type = DatumNumber(d.items[0]);
  auto rows = DatumNumber(d.items[1]);
  auto cols = DatumNumber(d.items[2]);
  auto tr = DatumNumber(d.items[6]);
  if (!type.ok() || !rows.ok() || !cols.ok() || !tr.ok()) return bad("header");
  Matrix mat;
  mat.rows = static_cast<int32_t>(*rows);
  mat.cols = static_cast<int32_t>(*cols);
  mat.sparse = *type == 0;
  mat.transposed = *tr != 0;
  if (mat.rows < 0 || mat.cols < 0) return bad("dimensions");
  std::vector<double> values;
  if (!NumberList(d.items[5], &values).ok()) return bad("values");
  mat.values.assign(static_cast<size_t>(mat.rows) * mat.cols, 0.0);
  if (!mat.sparse) {
    if (values.size() != mat.values.size()) return bad("value count");
    for (int32_t r = 0; r < mat.rows; ++r) {
      for (int32_t c = 0; c < mat.cols; ++c) {
        mat.values[static_cast<size_t>(r) * mat.cols + c] =
            mat.transposed ? values[static_cast<size_t>(r) * mat.cols + c]
                           : values[static_cast<size_t>(c) * mat.rows + r];
      }
    }
    return mat;
  }
  std::vector<double> ptrs, inner;
  if (!NumberList(d.items[3], &ptrs).ok() || !NumberList(d.items[4], &inner).ok()) {
    return bad("sparse layout");
  }
  // CSC (not transposed): ptrs per column, inner = row indices. CSR: swapped.
  int32_t outer_n = mat.transposed ? mat.rows : mat.cols;
  int32_t inner_n = mat.transposed ? mat.cols : mat.rows;
  if (ptrs.size() != static_cast<size_t>(outer_n) + 1 || inner.size() != values.size()) {
    return bad("sparse layout");
  }
  for (int32_t o = 0; o < outer_n; ++o) {
    size_t b = static_cast<size_t>(ptrs[o]), e = static_cast<size_t>(ptrs[o + 1]);
    if (b > e || e > values.size()) return bad("sparse pointers");
    for (size_t k = b; k < e; ++k) {
      int32_t i = static_cast<int32_t>(inner[k]);
      if (i < 0 || i >= inner_n) return bad("sparse indices");
      int32_t r = mat.transposed ? o : i, c = mat.transposed ? i : o;
      mat.values[static_cast<size_t>(r) * mat.cols + c] = values[k];
    }
  }
  return mat;
}

// ---------------------------------------------------------------------------
// Dot products in Spark's order.

// How the JVM BLAS that Spark used sums a dense x dense dot product. Up to
// Spark 3.1 that was netlib's F2J ddot (a plain left-to-right sum). From 3.2
// on it is dev.ludovic.netlib's Java BLAS: four interleaved partial sums,
// combined then followed by the tail, fused multiply-adds on Java 11+. Spark
// 4 runs with the JDK's vector API, so netlib picks its VectorBLAS: one fused
// partial sum per SIMD lane (8 doubles with AVX-512, 4 with AVX2), the lanes
// added in order, the tail added plainly.
enum class DotKind : uint8_t { kSequential, kLanes4, kLanes4Fma, kVector4, kVector8 };

// EVS_SPARK_JAVA_BLAS overrides the choice for models saved by a Spark that
// ran with another BLAS: "f2j" (plain sum), "java8" (lanes, no FMA),
// "java11" (lanes with FMA, the default for 3.2 to 3.5), "vector8" (the
// default from 4.0) or "vector4" (Spark 4 on an AVX2 machine).
DotKind DotKindFor(const StageMeta& m) {
  if (const char* env = std::getenv("EVS_SPARK_JAVA_BLAS"); env != nullptr) {
    std::string_view v(env);
    if (v == "f2j") return DotKind::kSequential;
    if (v == "java8") return DotKind::kLanes4;
    if (v == "java11") return DotKind::kLanes4Fma;
    if (v == "vector4") return DotKind::kVector4;
    if (v == "vector8") return DotKind::kVector8;
  }
  if (m.spark_major >= 4) return DotKind::kVector8;
  if (m.spark_major == 3 && m.spark_minor >= 2) return DotKind::kLanes4Fma;
  return DotKind::kSequential;
}

// VectorBLAS: `lanes` fused partial sums, reduced in lane order, then the
// tail plainly.
double VectorDot(const double* x, const double* w, int32_t n, int lanes) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int32_t nb = n - n % lanes;
  int32_t i = 0;
  for (; i < nb; i += lanes) {
    for (int j = 0; j < lanes; ++j) acc[j] = std::fma(x[i + j], w[i + j], acc[j]);
  }
  double s = acc[0];
  for (int j = 1; j < lanes; ++j) s += acc[j];
  for (; i < n; ++i) s += x[i] * w[i];
  return s;
}

double DenseDot(const double* x, const double* w, int32_t n, DotKind kind) {
  if (kind == DotKind::kVector8) return VectorDot(x, w, n, 8);
  if (kind == DotKind::kVector4) return VectorDot(x, w, n, 4);
  if (kind == DotKind::kSequential) {
    double s = 0.0;
    for (int32_t i = 0; i < n; ++i) s += x[i] * w[i];
    return s;
  }
  const int32_t n4 = n - n % 4;
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int32_t i = 0;
  if (kind == DotKind::kLanes4Fma) {
    for (; i < n4; i += 4) {
      s0 = std::fma(x[i], w[i], s0);
      s1 = std::fma(x[i + 1], w[i + 1], s1);
      s2 = std::fma(x[i + 2], w[i + 2], s2);
      s3 = std::fma(x[i + 3], w[i + 3], s3);
    }
    double s = 0.0;
    s += s0 + s1 + s2 + s3;
    for (; i < n; ++i) s = std::fma(x[i], w[i], s);
    return s;
  }
  for (; i < n4; i += 4) {
    s0 += x[i] * w[i];
    s1 += x[i + 1] * w[i + 1];
    s2 += x[i + 2] * w[i + 2];
    s3 += x[i + 3] * w[i + 3];
  }
  double s = 0.0;
  s += s0 + s1 + s2 + s3;
  for (; i < n; ++i) s += x[i] * w[i];
  return s;
}

// Spark's BLAS.dot(features, coefficients); sizes already checked.
double Dot(const Vector& x, const Coefs& w, DotKind kind) {
  if (x.dense && !w.sparse) return DenseDot(x.values.data(), w.dense.data(), x.size, kind);
  double s = 0.0;
  if (!x.dense && !w.sparse) {
    for (size_t k = 0; k < x.indices.size(); ++k) s += x.values[k] * w.dense[x.indices[k]];
  } else if (x.dense) {
    for (size_t k = 0; k < w.idx.size(); ++k) s += w.vals[k] * x.values[w.idx[k]];
  } else {
    size_t kx = 0, ky = 0;
    while (kx < x.indices.size() && ky < w.idx.size()) {
      int32_t ix = x.indices[kx];
      while (ky < w.idx.size() && w.idx[ky] < ix) ++ky;
      if (ky < w.idx.size() && w.idx[ky] == ix) {
        s += x.values[kx] * w.vals[ky];
        ++ky;
      }
      ++kx;
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// Shared stage plumbing.

struct FeaturesInput {
  int slot = -1;
  std::string name;
};

absl::StatusOr<FeaturesInput> RequireFeatures(const StageMeta& m, Schema& schema,
                                              int32_t num_features) {
  FeaturesInput in;
  in.name = m.StrOr("featuresCol", "features");
  auto slot = schema.Require(in.name, DataType::kVector);
  if (!slot.ok()) return m.Error(std::string(slot.status().message()));
  in.slot = *slot;
  const ColumnInfo& col = schema.column(in.slot);
  if (col.type != DataType::kVector) {
    return m.Error(absl::StrCat("features column '", in.name, "' is ", std::string(DataTypeName(col.type)),
                                ", not vector"));
  }
  if (col.vector_size >= 0 && num_features >= 0 && col.vector_size != num_features) {
    return m.Error(absl::StrCat("features column '", in.name, "' has ", col.vector_size,
                                " elements, the model expects ", num_features));
  }
  return in;
}

// The features vector of a row, checked against the model's size.
absl::StatusOr<const Vector*> ReadFeatures(const std::string& stage, const FeaturesInput& in,
                                           int32_t num_features, const Row& row) {
  const Cell& c = row.cells[in.slot];
  if (c.kind != Cell::Kind::kVector) {
    return absl::InvalidArgumentError(absl::StrCat(
        stage, ": features column '", in.name, "' is ", c.is_null() ? "null" : "not a vector"));
  }
  if (num_features >= 0 && c.vec.size != num_features) {
    return absl::InvalidArgumentError(absl::StrCat(stage, ": features column '", in.name,
                                                   "' has ", c.vec.size,
                                                   " elements, the model expects ", num_features));
  }
  return &c.vec;
}

int AddDoubleOutput(Schema& schema, const std::string& name, int num_classes = 0) {
  ColumnInfo info;
  info.name = name;
  info.type = DataType::kDouble;
  if (num_classes > 0) {
    Attribute a;
    a.type = Attribute::Type::kNominal;
    a.name = name;
    a.num_values = num_classes;
    info.attrs.push_back(std::move(a));
  }
  return schema.AddOutput(std::move(info));
}

int AddVectorOutput(Schema& schema, const std::string& name, int size) {
  ColumnInfo info;
  info.name = name;
  info.type = DataType::kVector;
  info.vector_size = size;
  return schema.AddOutput(std::move(info));
}

double* DenseOut(Row& row, int slot, int n) {
  Vector& v = row.cells[slot].MutableVector();
  v.dense = true;
  v.size = n;
  v.indices.clear();
  v.values.resize(n);
  return v.values.data();
}

// Vector.argmax: the first maximum (NaN never wins).
int ArgMax(const double* v, int n) {
  if (n == 0) return -1;
  int best = 0;
  double max = v[0];
  for (int i = 1; i < n; ++i) {
    if (v[i] > max) {
      max = v[i];
      best = i;
    }
  }
  return best;
}

// ProbabilisticClassificationModel.probability2prediction with thresholds.
int ThresholdArgMax(const double* p, const std::vector<double>& t) {
  int best = 0;
  double max = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < t.size(); ++i) {
    double scaled = p[i] / t[i];
    if (scaled > max) {
      max = scaled;
      best = static_cast<int>(i);
    }
  }
  return best;
}

absl::StatusOr<std::vector<double>> ReadThresholds(const StageMeta& m, int num_classes) {
  if (!m.Has("thresholds") || m.params["thresholds"].is_null()) return std::vector<double>{};
  auto t = m.NumList("thresholds");
  if (!t.ok()) return t.status();
  if (static_cast<int>(t->size()) != num_classes) {
    return m.Error(absl::StrCat("thresholds has ", t->size(), " values, the model has ",
                                num_classes, " classes"));
  }
  int zeros = 0;
  for (double v : *t) {
    if (!(v >= 0)) return m.Error("thresholds must be non-negative");
    zeros += v == 0;
  }
  if (zeros > 1) return m.Error("at most one threshold may be 0");
  return *t;
}

std::string StageName(const StageMeta& m) { return absl::StrCat(m.ShortClass(), " ", m.uid); }

// ---------------------------------------------------------------------------
// LogisticRegressionModel.

// A compiled LogisticRegressionModel. Immutable once the factory returns;
// Apply is const and may run on many threads, each with its own Row (the
// margins go to the rawPrediction cell, or to a scratch cell when Spark would
// not produce that column).
class LogisticRegression final : public Stage {
 public:
  // Binomial: coefs_ is the single row, intercept_ its intercept.
  // Multinomial: matrix_ (K x F) and intercepts_.
  bool multinomial_ = false;
  int num_classes_ = 2;
  int32_t num_features_ = 0;
  DotKind dot_ = DotKind::kSequential;
  // Spark 3.1 changed the probability formulas: multinomial through a softmax
  // that always subtracts the maximum, binomial p0 = sigmoid(raw0) and
  // p1 = 1 - p0. Before: the maximum subtracted only when positive, binomial
  // sigmoid of each raw value. Both scale by 1/sum (BLAS dscal).
  bool new_probability_ = true;
  Coefs coefs_;
  double intercept_ = 0;
  Matrix matrix_;
  std::vector<double> intercepts_;
  // Binomial: threshold on probability(1) and on rawPrediction(1).
  double threshold_ = 0.5, raw_threshold_ = 0;
  std::vector<double> thresholds_;  // multinomial thresholds (empty: argmax)
  FeaturesInput features_;
  int raw_slot_ = -1, prob_slot_ = -1, pred_slot_ = -1;
  int raw_scratch_ = -1;   // raw margins when rawPredictionCol is not produced
  int prob_scratch_ = -1;  // probabilities for thresholds when not produced

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* x, ReadFeatures(name, features_, num_features_, row));
    const int k = num_classes_;
    const int raw_at = raw_slot_ >= 0 ? raw_slot_ : raw_scratch_;
    double* raw = DenseOut(row, raw_at, multinomial_ ? k : 2);
    if (multinomial_) {
      Margins(*x, raw);
    } else {
      double m = Dot(*x, coefs_, dot_) + intercept_;
      raw[0] = -m;
      raw[1] = m;
    }
    double* prob = nullptr;
    const int prob_at = prob_slot_ >= 0 ? prob_slot_ : prob_scratch_;
    if (prob_at >= 0) {
      prob = DenseOut(row, prob_at, multinomial_ ? k : 2);
      for (int i = 0; i < (multinomial_ ? k : 2); ++i) prob[i] = raw[i];
      if (multinomial_) {
        Softmax(prob, k);
      } else if (new_probability_) {
        prob[0] = 1.0 / (1.0 + std::exp(-prob[0]));
        prob[1] = 1.0 - prob[0];
      } else {
        prob[0] = 1.0 / (1.0 + std::exp(-prob[0]));
        prob[1] = 1.0 / (1.0 + std::exp(-prob[1]));
      }
    }
    if (pred_slot_ >= 0) {
      double pred;
      if (!multinomial_) {
        // Spark predicts from rawPrediction when it produces it, else from
        // probability, else from the score sigmoid(margin).
        if (raw_slot_ >= 0) {
          pred = raw[1] > raw_threshold_ ? 1.0 : 0.0;
        } else if (prob_slot_ >= 0) {
          pred = prob[1] > threshold_ ? 1.0 : 0.0;
        } else {
          pred = 1.0 / (1.0 + std::exp(-raw[1])) > threshold_ ? 1.0 : 0.0;
        }
      } else if (thresholds_.empty()) {
        pred = ArgMax(raw, k);
      } else {
        pred = ThresholdArgMax(prob, thresholds_);
      }
      row.cells[pred_slot_].SetNumber(pred);
    }
    return absl::OkStatus();
  }

 private:
  // margins = coefficientMatrix * x + interceptVector, in the order of Spark's
  // BLAS.gemv for the stored matrix layout and the vector kind.
  void Margins(const Vector& x, double* out) const {
    const int32_t f = matrix_.cols;
    for (int r = 0; r < matrix_.rows; ++r) {
      const double* a = matrix_.values.data() + static_cast<size_t>(r) * f;
      double y;
      if (!x.dense && matrix_.sparse && !matrix_.transposed) {
        y = AccumulateSparse(x, a, intercepts_[r]);
      } else if (!x.dense) {
        double s = 0.0;
        for (size_t q = 0; q < x.indices.size(); ++q) s += x.values[q] * a[x.indices[q]];
        y = s + intercepts_[r];
      } else if (matrix_.transposed) {
        // dgemv "T": one dot product per class, then + intercept.
        double s = 0.0;
        if (matrix_.sparse || dot_ == DotKind::kSequential || dot_ == DotKind::kLanes4) {
          for (int32_t i = 0; i < f; ++i) s += x.values[i] * a[i];
        } else if (dot_ == DotKind::kLanes4Fma) {
          for (int32_t i = 0; i < f; ++i) s = std::fma(x.values[i], a[i], s);
        } else {
          s = VectorDot(x.values.data(), a, f, dot_ == DotKind::kVector8 ? 8 : 4);
        }
        y = s + intercepts_[r];
      } else {
        // Column-major storage: y starts at the intercept and accumulates.
        y = intercepts_[r];
        for (int32_t i = 0; i < f; ++i) {
          if (!matrix_.sparse || a[i] != 0.0) y += a[i] * x.values[i];
        }
      }
      out[r] = y;
    }
  }

  static double AccumulateSparse(const Vector& x, const double* a, double y) {
    for (size_t q = 0; q < x.indices.size(); ++q) {
      double v = a[x.indices[q]];
      if (v != 0.0) y += v * x.values[q];
    }
    return y;
  }

  void Softmax(double* v, int n) const {
    if (new_probability_) {
      double max = std::numeric_limits<double>::lowest();
      for (int i = 0; i < n; ++i) {
        if (v[i] == std::numeric_limits<double>::infinity()) {
          for (int j = 0; j < n; ++j) v[j] = 0.0;
          v[i] = 1.0;
          return;
        }
        if (v[i] > max) max = v[i];
      }
      double sum = 0.0;
      for (int i = 0; i < n; ++i) {
        v[i] = std::exp(v[i] - max);
        sum += v[i];
      }
      const double scale = 1.0 / sum;
      for (int i = 0; i < n; ++i) v[i] *= scale;
      return;
    }
    int at = ArgMax(v, n);
    double max = v[at];
    if (max == std::numeric_limits<double>::infinity()) {
      for (int j = 0; j < n; ++j) v[j] = j == at ? 1.0 : 0.0;
      return;
    }
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      v[i] = max > 0 ? std::exp(v[i] - max) : std::exp(v[i]);
      sum += v[i];
    }
    double scale = 1 / sum;
    for (int i = 0; i < n; ++i) v[i] = scale * v[i];
  }
};

absl::StatusOr<std::unique_ptr<Stage>> MakeLogisticRegression(const StageMeta& m,
                                                               Schema& schema) {
  auto st = std::make_unique<LogisticRegression>();
  st->name = StageName(m);
  st->dot_ = DotKindFor(m);
  st->new_probability_ = m.spark_major > 3 || (m.spark_major == 3 && m.spark_minor >= 1);
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  if (t.ColumnIndex("coefficientMatrix") >= 0) {
    ASSIGN_OR_RETURN(const parquet::Datum* md, Column(m, t, "coefficientMatrix"));
    ASSIGN_OR_RETURN(const parquet::Datum* id, Column(m, t, "interceptVector"));
    ASSIGN_OR_RETURN(Matrix mat, DecodeMatrixDatum(m, *md));
    ASSIGN_OR_RETURN(Coefs icpt, DecodeCoefs(m, *id, "interceptVector"));
    ASSIGN_OR_RETURN(double multi, NumberColumn(m, t, "isMultinomial"));
    ASSIGN_OR_RETURN(double classes, NumberColumn(m, t, "numClasses"));
    if (icpt.size != mat.rows) {
      return m.Error(absl::StrCat("coefficientMatrix has ", mat.rows,
                                  " rows but interceptVector has ", icpt.size, " values"));
    }
    st->multinomial_ = multi != 0;
    st->num_classes_ = static_cast<int>(classes);
    st->num_features_ = mat.cols;
    if (st->multinomial_) {
      if (mat.rows != st->num_classes_) {
        return m.Error(absl::StrCat("multinomial model with ", st->num_classes_,
                                    " classes has ", mat.rows, " coefficient rows"));
      }
      st->intercepts_ = icpt.dense;
      st->matrix_ = std::move(mat);
    } else {
      if (mat.rows != 1) return m.Error("binomial model needs one coefficient row");
      // Spark's binomial coefficients: the dense row, or the CSR row's entries.
      Coefs c;
      c.size = mat.cols;
      c.dense = mat.values;
      if (mat.sparse) {
        c.sparse = true;
        for (int32_t i = 0; i < mat.cols; ++i) {
          if (mat.values[i] != 0.0) {
            c.idx.push_back(i);
            c.vals.push_back(mat.values[i]);
          }
        }
      }
      st->coefs_ = std::move(c);
      st->intercept_ = icpt.dense.empty() ? 0.0 : icpt.dense[0];
    }
  } else {
    // Spark 2.0 layout: numClasses, numFeatures, intercept, coefficients.
    ASSIGN_OR_RETURN(const parquet::Datum* cd, Column(m, t, "coefficients"));
    ASSIGN_OR_RETURN(st->coefs_, DecodeCoefs(m, *cd, "coefficients"));
    ASSIGN_OR_RETURN(st->intercept_, NumberColumn(m, t, "intercept"));
    st->num_features_ = st->coefs_.size;
  }
  if (!st->multinomial_ && st->num_classes_ != 2) {
    return m.Error(absl::StrCat("binomial model with ", st->num_classes_, " classes"));
  }

  // Thresholds: binomial models turn them into one threshold.
  ASSIGN_OR_RETURN(std::vector<double> thresholds, ReadThresholds(m, st->num_classes_));
  if (st->multinomial_) {
    st->thresholds_ = std::move(thresholds);
  } else {
    double t1 = m.NumOr("threshold", 0.5);
    if (!thresholds.empty()) t1 = 1.0 / (1.0 + thresholds[0] / thresholds[1]);
    st->threshold_ = t1;
    st->raw_threshold_ = t1 == 0.0   ? -std::numeric_limits<double>::infinity()
                         : t1 == 1.0 ? std::numeric_limits<double>::infinity()
                                     : std::log(t1 / (1.0 - t1));
  }

  ASSIGN_OR_RETURN(st->features_, RequireFeatures(m, schema, st->num_features_));
  st->reads = {st->features_.slot};
  const int width = st->multinomial_ ? st->num_classes_ : 2;
  std::string raw = m.StrOr("rawPredictionCol", "rawPrediction");
  std::string prob = m.StrOr("probabilityCol", "probability");
  std::string pred = m.StrOr("predictionCol", "prediction");
  if (!raw.empty()) st->raw_slot_ = AddVectorOutput(schema, raw, width);
  if (!prob.empty()) st->prob_slot_ = AddVectorOutput(schema, prob, width);
  if (!pred.empty()) st->pred_slot_ = AddDoubleOutput(schema, pred, st->num_classes_);
  if (st->raw_slot_ < 0) st->raw_scratch_ = schema.AddScratch();
  if (st->prob_slot_ < 0 && st->multinomial_ && !st->thresholds_.empty()) {
    st->prob_scratch_ = schema.AddScratch();
  }
  for (int s : {st->raw_slot_, st->prob_slot_, st->pred_slot_}) {
    if (s >= 0) st->writes.push_back(s);
  }

  PredictorInfo p;
  p.kind = PredictorInfo::Kind::kClassification;
  p.stage_class = m.class_name;
  p.label_col = m.StrOr("labelCol", "label");
  p.num_classes = st->num_classes_;
  p.prediction_slot = st->pred_slot_;
  p.probability_slot = st->prob_slot_;
  p.raw_prediction_slot = st->raw_slot_;
  schema.NotePredictor(std::move(p));
  return std::unique_ptr<Stage>(std::move(st));
}

// ---------------------------------------------------------------------------
// LinearRegressionModel: prediction = dot(features, coefficients) + intercept.

// A compiled LinearRegressionModel (immutable; Apply is const).
class LinearRegression final : public Stage {
 public:
  Coefs coefs_;
  double intercept_ = 0;
  DotKind dot_ = DotKind::kSequential;
  FeaturesInput features_;
  int pred_slot_ = -1;

  absl::Status Apply(Row& row) const override {
    if (pred_slot_ < 0) return absl::OkStatus();
    ASSIGN_OR_RETURN(const Vector* x, ReadFeatures(name, features_, coefs_.size, row));
    row.cells[pred_slot_].SetNumber(Dot(*x, coefs_, dot_) + intercept_);
    return absl::OkStatus();
  }
};

void NoteRegression(const StageMeta& m, Schema& schema, int pred_slot) {
  PredictorInfo p;
  p.kind = PredictorInfo::Kind::kRegression;
  p.stage_class = m.class_name;
  p.label_col = m.StrOr("labelCol", "label");
  p.prediction_slot = pred_slot;
  schema.NotePredictor(std::move(p));
}

absl::StatusOr<std::unique_ptr<Stage>> MakeLinearRegression(const StageMeta& m, Schema& schema) {
  auto st = std::make_unique<LinearRegression>();
  st->name = StageName(m);
  st->dot_ = DotKindFor(m);
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  ASSIGN_OR_RETURN(const parquet::Datum* cd, Column(m, t, "coefficients"));
  ASSIGN_OR_RETURN(st->coefs_, DecodeCoefs(m, *cd, "coefficients"));
  ASSIGN_OR_RETURN(st->intercept_, NumberColumn(m, t, "intercept"));
  ASSIGN_OR_RETURN(st->features_, RequireFeatures(m, schema, st->coefs_.size));
  st->reads = {st->features_.slot};
  std::string pred = m.StrOr("predictionCol", "prediction");
  if (!pred.empty()) {
    st->pred_slot_ = AddDoubleOutput(schema, pred);
    st->writes.push_back(st->pred_slot_);
  }
  NoteRegression(m, schema, st->pred_slot_);
  return std::unique_ptr<Stage>(std::move(st));
}

// ---------------------------------------------------------------------------
// GeneralizedLinearRegressionModel.

enum class Family : uint8_t { kGaussian, kBinomial, kPoisson, kGamma, kTweedie };
enum class Link : uint8_t { kIdentity, kLog, kLogit, kProbit, kCLogLog, kInverse, kSqrt, kPower };

constexpr double kGlrEpsilon = 1e-16;

// A compiled GeneralizedLinearRegressionModel: eta = dot + intercept +
// offset, prediction = family.project(link.unlink(eta)) as Spark's
// FamilyAndLink.fitted computes it (immutable; Apply is const).
class Glr final : public Stage {
 public:
  Coefs coefs_;
  double intercept_ = 0;
  DotKind dot_ = DotKind::kSequential;
  Family family_ = Family::kGaussian;
  Link link_ = Link::kIdentity;
  double link_power_ = 1.0;
  FeaturesInput features_;
  int offset_slot_ = -1;
  std::string offset_name_;
  int pred_slot_ = -1, link_slot_ = -1;

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* x, ReadFeatures(name, features_, coefs_.size, row));
    double offset = 0.0;
    if (offset_slot_ >= 0) {
      const Cell& c = row.cells[offset_slot_];
      if (c.kind != Cell::Kind::kNumber) {
        // Spark's UDF takes a primitive double: a null offset gives null outputs.
        if (c.is_null()) {
          if (pred_slot_ >= 0) row.cells[pred_slot_].SetNull();
          if (link_slot_ >= 0) row.cells[link_slot_].SetNull();
          return absl::OkStatus();
        }
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": offset column '", offset_name_, "' is not a number"));
      }
      offset = c.num;
    }
    double eta = Dot(*x, coefs_, dot_) + intercept_ + offset;
    if (pred_slot_ >= 0) row.cells[pred_slot_].SetNumber(Project(Unlink(eta)));
    if (link_slot_ >= 0) row.cells[link_slot_].SetNumber(eta);
    return absl::OkStatus();
  }

  double Unlink(double eta) const {
    switch (link_) {
      case Link::kIdentity: return eta;
      case Link::kLog: return std::exp(eta);
      case Link::kLogit: return 1.0 / (1.0 + std::exp(-1.0 * eta));
      case Link::kProbit: return 0.5 * (1.0 + std::erf(eta / std::sqrt(2.0)));
      case Link::kCLogLog: return 1.0 - std::exp(-1.0 * std::exp(eta));
      case Link::kInverse: return 1.0 / eta;
      case Link::kSqrt: return eta * eta;
      case Link::kPower:
        return link_power_ == 0.0 ? std::exp(eta) : std::pow(eta, 1.0 / link_power_);
    }
    return eta;
  }

  // Family.project: keeps the mean inside the family's domain.
  double Project(double mu) const {
    constexpr double kMax = std::numeric_limits<double>::max();
    switch (family_) {
      case Family::kGaussian:
        if (mu == -std::numeric_limits<double>::infinity()) return -kMax;
        if (mu == std::numeric_limits<double>::infinity()) return kMax;
        return mu;
      case Family::kBinomial:
        if (mu < kGlrEpsilon) return kGlrEpsilon;
        if (mu > 1.0 - kGlrEpsilon) return 1.0 - kGlrEpsilon;
        return mu;
      case Family::kPoisson:
      case Family::kGamma:
      case Family::kTweedie:
        if (mu < kGlrEpsilon) return kGlrEpsilon;
        if (std::isinf(mu)) return kMax;
        return mu;
    }
    return mu;
  }
};

absl::StatusOr<Link> ParseLink(const StageMeta& m, const std::string& s) {
  if (s == "identity") return Link::kIdentity;
  if (s == "log") return Link::kLog;
  if (s == "logit") return Link::kLogit;
  if (s == "probit") return Link::kProbit;
  if (s == "cloglog") return Link::kCLogLog;
  if (s == "inverse") return Link::kInverse;
  if (s == "sqrt") return Link::kSqrt;
  return m.Error(absl::StrCat("unknown link '", s, "'"));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Link for a tweedie family from its linkPower (Spark maps the usual powers
// to the named links).
Link LinkFromPower(double p) {
  if (p == 0.0) return Link::kLog;
  if (p == 1.0) return Link::kIdentity;
  if (p == -1.0) return Link::kInverse;
  if (p == 0.5) return Link::kSqrt;
  return Link::kPower;
}

absl::StatusOr<std::unique_ptr<Stage>> MakeGlr(const StageMeta& m, Schema& schema) {
  auto st = std::make_unique<Glr>();
  st->name = StageName(m);
  st->dot_ = DotKindFor(m);
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  ASSIGN_OR_RETURN(const parquet::Datum* cd, Column(m, t, "coefficients"));
  ASSIGN_OR_RETURN(st->coefs_, DecodeCoefs(m, *cd, "coefficients"));
  ASSIGN_OR_RETURN(st->intercept_, NumberColumn(m, t, "intercept"));

  // Family and link as GeneralizedLinearRegression.FamilyAndLink picks them.
  std::string family = Lower(m.StrOr("family", "gaussian"));
  double variance_power = m.NumOr("variancePower", 0.0);
  const nlohmann::json& set = m.raw.contains("paramMap") ? m.raw["paramMap"] : m.params;
  auto is_set = [&](const char* p) { return set.is_object() && set.contains(p); };
  Link default_link;
  if (family == "gaussian") {
    st->family_ = Family::kGaussian, default_link = Link::kIdentity;
  } else if (family == "binomial") {
    st->family_ = Family::kBinomial, default_link = Link::kLogit;
  } else if (family == "poisson") {
    st->family_ = Family::kPoisson, default_link = Link::kLog;
  } else if (family == "gamma") {
    st->family_ = Family::kGamma, default_link = Link::kInverse;
  } else if (family == "tweedie") {
    st->family_ = variance_power == 0.0   ? Family::kGaussian
                  : variance_power == 1.0 ? Family::kPoisson
                  : variance_power == 2.0 ? Family::kGamma
                                          : Family::kTweedie;
    // A tweedie family's default link is Power(1 - variancePower), except for
    // the three named families Spark substitutes.
    switch (st->family_) {
      case Family::kGaussian: default_link = Link::kIdentity; break;
      case Family::kPoisson: default_link = Link::kLog; break;
      case Family::kGamma: default_link = Link::kInverse; break;
      default:
        default_link = Link::kPower;
        st->link_power_ = 1.0 - variance_power;
    }
  } else {
    return m.Error(absl::StrCat("unknown family '", family, "'"));
  }
  st->link_ = default_link;
  if (family == "tweedie") {
    if (is_set("linkPower") || (!m.raw.contains("paramMap") && m.Has("linkPower"))) {
      double p = m.NumOr("linkPower", 1.0 - variance_power);
      st->link_ = LinkFromPower(p);
      st->link_power_ = p;
    }
  } else if (is_set("link") || (!m.raw.contains("paramMap") && m.Has("link"))) {
    ASSIGN_OR_RETURN(st->link_, ParseLink(m, Lower(m.StrOr("link", ""))));
  }

  ASSIGN_OR_RETURN(st->features_, RequireFeatures(m, schema, st->coefs_.size));
  st->reads = {st->features_.slot};
  st->offset_name_ = m.StrOr("offsetCol", "");
  if (!st->offset_name_.empty()) {
    auto slot = schema.Require(st->offset_name_, DataType::kDouble);
    if (!slot.ok()) return m.Error(std::string(slot.status().message()));
    st->offset_slot_ = *slot;
    st->reads.push_back(st->offset_slot_);
  }
  std::string pred = m.StrOr("predictionCol", "prediction");
  std::string link = m.StrOr("linkPredictionCol", "");
  if (!pred.empty()) {
    st->pred_slot_ = AddDoubleOutput(schema, pred);
    st->writes.push_back(st->pred_slot_);
  }
  if (!link.empty()) {
    st->link_slot_ = AddDoubleOutput(schema, link);
    st->writes.push_back(st->link_slot_);
  }
  NoteRegression(m, schema, st->pred_slot_);
  return std::unique_ptr<Stage>(std::move(st));
}

}  // namespace

void RegisterLinearModels(StageRegistry& r) {
  r.Add(std::string(kLogisticClass), MakeLogisticRegression);
  r.Add(std::string(kLinearClass), MakeLinearRegression);
  r.Add(std::string(kGlrClass), MakeGlr);
}

}  // namespace evs::spark
