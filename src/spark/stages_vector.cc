// Vector and numeric feature stages of the native Spark MLlib evaluator:
// VectorIndexer, VectorSizeHint, VectorSlicer, the scalers, Normalizer,
// Bucketizer (QuantileDiscretizer's too), Binarizer, Imputer, Interaction,
// the feature selectors, PCA and ElementwiseProduct.
//
// Each factory reads the saved params/data once, resolves its columns in the
// Schema and adds its outputs with the ML attributes Spark would attach (later
// stages such as Interaction, VectorSlicer and the selectors read them).
// Apply follows Spark's transform for the saving Spark version, including its
// order of floating-point operations, and writes into the row's existing
// cells, so steady-state rows allocate nothing.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"
#include "spark/stage.h"

namespace evs::spark {
namespace {

using nlohmann::json;

constexpr std::string_view kFeature = "org.apache.spark.ml.feature.";

// String building that takes std::string_view (this abseil build has its own
// string_view type, so absl::StrCat does not accept std::string_view).
inline void Append(std::string& s, std::string_view v) { s.append(v.data(), v.size()); }
inline void Append(std::string& s, const std::string& v) { s.append(v); }
inline void Append(std::string& s, const char* v) { s.append(v); }
inline void Append(std::string& s, absl::string_view v) { s.append(v.data(), v.size()); }
template <typename T, typename = std::enable_if_t<std::is_integral_v<T>>>
void Append(std::string& s, T v) {
  s.append(std::to_string(v));
}
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string s;
  (Append(s, args), ...);
  return s;
}

// ---------------------------------------------------------------------------
// Params. Spark writes doubles as JSON numbers, or "NaN"/"Inf"/"-Inf" strings.

absl::StatusOr<double> JsonDouble(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Inf" || s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Inf" || s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return absl::InvalidArgumentError(Cat("not a number: ", j.dump()));
}

const json* Param(const StageMeta& m, std::string_view p) {
  if (!m.params.is_object()) return nullptr;
  auto it = m.params.find(std::string(p));
  if (it == m.params.end() || it->is_null()) return nullptr;
  return &*it;
}

bool IsSet(const StageMeta& m, std::string_view p) { return Param(m, p) != nullptr; }

absl::StatusOr<std::string> PString(const StageMeta& m, std::string_view p) {
  const json* j = Param(m, p);
  if (j == nullptr || !j->is_string())
    return m.Error(Cat("param '", p, "' missing or not a string"));
  return j->get<std::string>();
}

std::string PStringOr(const StageMeta& m, std::string_view p, std::string_view fallback) {
  const json* j = Param(m, p);
  if (j == nullptr || !j->is_string()) return std::string(fallback);
  return j->get<std::string>();
}

absl::StatusOr<double> PDouble(const StageMeta& m, std::string_view p) {
  const json* j = Param(m, p);
  if (j == nullptr) return m.Error(Cat("param '", p, "' missing"));
  auto v = JsonDouble(*j);
  if (!v.ok()) return m.Error(Cat("param '", p, "': ", std::string(v.status().message())));
  return *v;
}

absl::StatusOr<double> PDoubleOr(const StageMeta& m, std::string_view p, double fallback) {
  if (!IsSet(m, p)) return fallback;
  return PDouble(m, p);
}

absl::StatusOr<bool> PBoolOr(const StageMeta& m, std::string_view p, bool fallback) {
  const json* j = Param(m, p);
  if (j == nullptr) return fallback;
  if (!j->is_boolean()) return m.Error(Cat("param '", p, "' is not a boolean"));
  return j->get<bool>();
}

absl::StatusOr<std::vector<std::string>> PStrings(const StageMeta& m, std::string_view p) {
  const json* j = Param(m, p);
  if (j == nullptr || !j->is_array()) return m.Error(Cat("param '", p, "' missing or not a list"));
  std::vector<std::string> out;
  for (const json& e : *j) {
    if (!e.is_string()) return m.Error(Cat("param '", p, "' has a non-string element"));
    out.push_back(e.get<std::string>());
  }
  return out;
}

absl::StatusOr<std::vector<double>> DoubleList(const StageMeta& m, std::string_view p,
                                               const json& j) {
  if (!j.is_array()) return m.Error(Cat("param '", p, "' is not a list"));
  std::vector<double> out;
  for (const json& e : j) {
    auto v = JsonDouble(e);
    if (!v.ok()) return m.Error(Cat("param '", p, "': ", std::string(v.status().message())));
    out.push_back(*v);
  }
  return out;
}

absl::StatusOr<std::vector<int>> PInts(const StageMeta& m, std::string_view p) {
  const json* j = Param(m, p);
  std::vector<int> out;
  if (j == nullptr) return out;
  if (!j->is_array()) return m.Error(Cat("param '", p, "' is not a list"));
  for (const json& e : *j) {
    if (!e.is_number_integer()) return m.Error(Cat("param '", p, "' has a non-integer element"));
    out.push_back(e.get<int>());
  }
  return out;
}

// One-or-many column params: (inputCol, outputCol) or (inputCols, outputCols).
struct ColumnPairs {
  std::vector<std::string> in, out;
  bool multi = false;
};

absl::StatusOr<ColumnPairs> InOutCols(const StageMeta& m) {
  ColumnPairs c;
  if (IsSet(m, "inputCols")) {
    c.multi = true;
    ASSIGN_OR_RETURN(c.in, PStrings(m, "inputCols"));
    ASSIGN_OR_RETURN(c.out, PStrings(m, "outputCols"));
    if (c.in.size() != c.out.size()) {
      return m.Error(
          Cat("inputCols has ", c.in.size(), " columns but outputCols has ", c.out.size()));
    }
  } else {
    ASSIGN_OR_RETURN(std::string in, PString(m, "inputCol"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    c.in.push_back(std::move(in));
    c.out.push_back(std::move(out));
  }
  return c;
}

// ---------------------------------------------------------------------------
// Model data.

const parquet::Datum* DataColumn(const parquet::Table& t, std::string_view name) {
  int c = t.ColumnIndex(name);
  if (c < 0 || t.rows.empty()) return nullptr;
  const parquet::Datum& row = t.rows[0];
  if (c >= static_cast<int>(row.items.size())) return nullptr;
  return &row.items[c];
}

absl::StatusOr<parquet::Table> ReadTable(const StageMeta& m) { return m.ReadData("data"); }

absl::StatusOr<Vector> DataVector(const StageMeta& m, const parquet::Table& t,
                                  std::string_view name) {
  const parquet::Datum* d = DataColumn(t, name);
  if (d == nullptr || d->is_null()) return m.Error(Cat("data has no '", name, "' vector"));
  auto v = DecodeVector(*d);
  if (!v.ok()) return m.Error(Cat("data '", name, "': ", std::string(v.status().message())));
  return v;
}

std::vector<double> ToDenseArray(const Vector& v) {
  std::vector<double> out(v.size, 0.0);
  v.ForEach([&](int32_t i, double x) { out[i] = x; });
  return out;
}

absl::StatusOr<std::vector<int>> IntListDatum(const StageMeta& m, const parquet::Datum* d,
                                              std::string_view name) {
  if (d == nullptr || d->kind != parquet::Datum::Kind::kList) {
    return m.Error(Cat("data has no '", name, "' list"));
  }
  std::vector<int> out;
  for (const parquet::Datum& e : d->items) {
    auto v = e.AsInt();
    if (!v.ok()) return m.Error(Cat("data '", name, "': ", std::string(v.status().message())));
    out.push_back(static_cast<int>(*v));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Vectors.

// Spark's Vector.compressed: sparse when 1.5 * (nnz + 1) < size (nnz counts
// values != 0, NaN included), else dense. Converts in place, keeping capacity.
void Compress(Vector& v) {
  int32_t nnz = 0;
  for (double x : v.values) nnz += (x != 0.0);
  const bool want_sparse = 1.5 * (nnz + 1.0) < v.size;
  if (want_sparse) {
    if (v.dense) {
      v.indices.clear();
      int32_t k = 0;
      for (int32_t i = 0; i < v.size; ++i) {
        if (v.values[i] != 0.0) {
          v.indices.push_back(i);
          v.values[k++] = v.values[i];
        }
      }
      v.values.resize(k);
      v.dense = false;
    } else {
      size_t k = 0;
      for (size_t j = 0; j < v.values.size(); ++j) {
        if (v.values[j] != 0.0) {
          v.indices[k] = v.indices[j];
          v.values[k++] = v.values[j];
        }
      }
      v.indices.resize(k);
      v.values.resize(k);
    }
  } else if (!v.dense) {
    // Expand from the back: entry k lands at indices[k] >= k.
    int32_t k = static_cast<int32_t>(v.values.size()) - 1;
    v.values.resize(v.size);
    for (int32_t i = v.size - 1; i >= 0; --i) {
      if (k >= 0 && v.indices[k] == i) {
        v.values[i] = v.values[k];
        --k;
      } else {
        v.values[i] = 0.0;
      }
    }
    v.indices.clear();
    v.dense = true;
  }
}

void CopyVector(const Vector& from, Vector& to) {
  to.size = from.size;
  to.dense = from.dense;
  to.indices.assign(from.indices.begin(), from.indices.end());
  to.values.assign(from.values.begin(), from.values.end());
}

// Writes v densely into `out` (Spark's toArray), keeping capacity.
void DenseValues(const Vector& v, std::vector<double>& out) {
  if (v.dense) {
    out.assign(v.values.begin(), v.values.end());
    return;
  }
  out.assign(static_cast<size_t>(v.size), 0.0);
  for (size_t k = 0; k < v.indices.size(); ++k) out[v.indices[k]] = v.values[k];
}

// Java's Arrays.binarySearch(double[], key): Double.compare order (-0.0 below
// 0.0). Returns the index, or -(insertion point) - 1.
int JavaBinarySearch(const std::vector<double>& a, double key) {
  int lo = 0, hi = static_cast<int>(a.size()) - 1;
  while (lo <= hi) {
    int mid = (lo + hi) >> 1;
    double mv = a[mid];
    if (mv < key) {
      lo = mid + 1;
    } else if (mv > key) {
      hi = mid - 1;
    } else {
      int64_t mb, kb;
      std::memcpy(&mb, &mv, sizeof mb);
      std::memcpy(&kb, &key, sizeof kb);
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

// ---------------------------------------------------------------------------
// Common stage base: the stage's name and per-row error helpers.

class VecStage : public Stage {
 protected:
  absl::Status Fail(std::string_view col, std::string_view msg) const {
    return absl::InvalidArgumentError(Cat(name, ": column '", col, "': ", msg));
  }
  // The vector in `slot`, or an error naming the column when it is null.
  absl::StatusOr<const Vector*> InVector(const Row& row, int slot, std::string_view col) const {
    const Cell& c = row.cells[slot];
    if (c.kind != Cell::Kind::kVector) return Fail(col, "null vector");
    return &c.vec;
  }
};

std::string StageName(const StageMeta& m) { return Cat(m.ShortClass(), " ", m.uid); }

absl::StatusOr<int> RequireVector(const StageMeta& m, Schema& s, std::string_view col) {
  auto slot = s.Require(col, DataType::kVector);
  if (!slot.ok()) return m.Error(std::string(slot.status().message()));
  if (s.column(*slot).type != DataType::kVector) {
    return m.Error(
        Cat("column '", col, "' must be a vector but is ", DataTypeName(s.column(*slot).type)));
  }
  return *slot;
}

absl::StatusOr<int> RequireNumeric(const StageMeta& m, Schema& s, std::string_view col) {
  auto slot = s.Require(col, DataType::kDouble);
  if (!slot.ok()) return m.Error(std::string(slot.status().message()));
  if (!IsNumeric(s.column(*slot).type)) {
    return m.Error(
        Cat("column '", col, "' must be numeric but is ", DataTypeName(s.column(*slot).type)));
  }
  return *slot;
}

// A vector column's ColumnInfo with a size and no element attributes.
ColumnInfo VectorColumn(std::string name, int32_t size) {
  ColumnInfo c;
  c.name = std::move(name);
  c.type = DataType::kVector;
  c.vector_size = size;
  return c;
}

int32_t KnownSize(const ColumnInfo& c) {
  if (!c.attrs.empty()) return static_cast<int32_t>(c.attrs.size());
  return c.vector_size;
}

// ---------------------------------------------------------------------------
// VectorIndexerModel.

class VectorIndexerStage : public VecStage {
 public:
  struct CatFeature {
    int32_t index;
    std::vector<double> keys;  // ascending (Double.compare order)
    std::vector<double> cats;  // category index per key
  };
  enum class Invalid : uint8_t { kError, kSkip, kKeep };

  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<VectorIndexerStage>();
    ASSIGN_OR_RETURN(st->in_name_, PString(m, "inputCol"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    std::string hi = PStringOr(m, "handleInvalid", "error");
    st->invalid_ = hi == "skip" ? Invalid::kSkip : hi == "keep" ? Invalid::kKeep : Invalid::kError;
    if (hi != "skip" && hi != "keep" && hi != "error")
      return m.Error(Cat("unknown handleInvalid '", hi, "'"));

    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    const parquet::Datum* nf = DataColumn(t, "numFeatures");
    if (nf == nullptr) return m.Error("data has no numFeatures");
    ASSIGN_OR_RETURN(int64_t num_features, nf->AsInt());
    st->num_features_ = static_cast<int32_t>(num_features);
    const parquet::Datum* maps = DataColumn(t, "categoryMaps");
    if (maps == nullptr) return m.Error("data has no categoryMaps");
    for (const parquet::Datum& entry : maps->items) {
      if (entry.items.size() != 2) return m.Error("categoryMaps entry is not a key/value pair");
      ASSIGN_OR_RETURN(int64_t feature, entry.items[0].AsInt());
      if (feature < 0 || feature >= num_features) {
        return m.Error(Cat("categoryMaps key ", feature, " outside [0, ", num_features, ")"));
      }
      CatFeature cf;
      cf.index = static_cast<int32_t>(feature);
      std::vector<std::pair<double, double>> kv;
      for (const parquet::Datum& e : entry.items[1].items) {
        if (e.items.size() != 2) return m.Error("category map entry is not a key/value pair");
        ASSIGN_OR_RETURN(double k, e.items[0].AsDouble());
        ASSIGN_OR_RETURN(int64_t v, e.items[1].AsInt());
        kv.emplace_back(k, static_cast<double>(v));
      }
      // Ascending with NaN last (Spark's Ordering.Double). A NaN key (fitted on
      // data with NaN) never matches a value but counts in the map's size.
      std::sort(kv.begin(), kv.end(), [](const auto& a, const auto& b) {
        return a.first < b.first || (!std::isnan(a.first) && std::isnan(b.first));
      });
      for (auto& [k, v] : kv) {
        cf.keys.push_back(k);
        cf.cats.push_back(v);
      }
      st->features_.push_back(std::move(cf));
    }
    std::sort(st->features_.begin(), st->features_.end(),
              [](const CatFeature& a, const CatFeature& b) { return a.index < b.index; });

    ASSIGN_OR_RETURN(st->in_, RequireVector(m, s, st->in_name_));
    const ColumnInfo& in = s.column(st->in_);
    int32_t known = KnownSize(in);
    if (known >= 0 && known != st->num_features_) {
      return m.Error(Cat("expected ", st->num_features_, " features, but input column '",
                         st->in_name_, "' has ", known));
    }
    // Output attributes: categorical features become binary (2 values) or
    // nominal with the sorted raw values as labels; Spark fixes these when the
    // model is constructed, before handleInvalid is set, so "keep" adds no
    // "__unknown" label. Other features keep the input's attribute.
    ColumnInfo oc = VectorColumn(out, st->num_features_);
    oc.attrs.resize(st->num_features_);
    for (int32_t i = 0; i < st->num_features_; ++i) {
      const Attribute* orig = in.attrs.empty() ? nullptr : &in.attrs[i];
      Attribute& a = oc.attrs[i];
      if (orig != nullptr) a = *orig;
      if (orig == nullptr) a.type = Attribute::Type::kNumeric;
    }
    for (const CatFeature& cf : st->features_) {
      Attribute& a = oc.attrs[cf.index];
      a.type = cf.keys.size() == 2 ? Attribute::Type::kBinary : Attribute::Type::kNominal;
      a.values.clear();
      for (double k : cf.keys) a.values.push_back(JavaDoubleToString(k));
      a.num_values = static_cast<int>(cf.keys.size());
    }
    st->out_ = s.AddOutput(std::move(oc));
    st->reads = {st->in_};
    st->writes = {st->out_};
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, InVector(row, in_, in_name_));
    if (in->size != num_features_) {
      return Fail(in_name_, Cat("expected a vector of length ", num_features_, " but found length ",
                                in->size));
    }
    Vector& out = row.cells[out_].MutableVector();
    CopyVector(*in, out);
    bool invalid = false;
    if (out.dense) {
      for (const CatFeature& cf : features_) {
        RETURN_IF_ERROR(Map(cf, out.values[cf.index], &invalid));
      }
    } else {
      // Implicit zeros stay zero: Spark relies on 0.0 mapping to category 0.
      size_t c = 0, k = 0;
      while (c < features_.size() && k < out.indices.size()) {
        if (features_[c].index < out.indices[k]) {
          ++c;
        } else if (features_[c].index > out.indices[k]) {
          ++k;
        } else {
          RETURN_IF_ERROR(Map(features_[c], out.values[k], &invalid));
          ++c;
          ++k;
        }
      }
    }
    if (invalid) {
      row.cells[out_].SetNull();
      row.filtered = true;
      row.filter_reason = Cat(name, ": invalid category value in column '", in_name_, "'");
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Map(const CatFeature& cf, double& x, bool* invalid) const {
    auto it = std::lower_bound(cf.keys.begin(), cf.keys.end(), x);
    if (it != cf.keys.end() && *it == x) {
      x = cf.cats[it - cf.keys.begin()];
      return absl::OkStatus();
    }
    switch (invalid_) {
      case Invalid::kError:
        return Fail(in_name_, Cat("invalid value ", JavaDoubleToString(x), " on feature index ",
                                  cf.index, " (handleInvalid=error)"));
      case Invalid::kKeep:
        x = static_cast<double>(cf.keys.size());
        return absl::OkStatus();
      case Invalid::kSkip:
        *invalid = true;
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  std::string in_name_;
  int in_ = -1, out_ = -1;
  int32_t num_features_ = 0;
  std::vector<CatFeature> features_;
  Invalid invalid_ = Invalid::kError;
};

// ---------------------------------------------------------------------------
// VectorSizeHint: checks (error/skip) or trusts (optimistic) the vector size
// and records it in the column's metadata. Like Spark, it replaces the column
// in place: the stage reads and writes the same slot and copies nothing.

class VectorSizeHintStage : public VecStage {
 public:
  enum class Mode : uint8_t { kError, kSkip, kOptimistic };

  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<VectorSizeHintStage>();
    ASSIGN_OR_RETURN(st->col_, PString(m, "inputCol"));
    ASSIGN_OR_RETURN(double size, PDouble(m, "size"));
    st->size_ = static_cast<int32_t>(size);
    if (st->size_ < 0) return m.Error("size must be >= 0");
    std::string hi = PStringOr(m, "handleInvalid", "error");
    if (hi == "error") {
      st->mode_ = Mode::kError;
    } else if (hi == "skip") {
      st->mode_ = Mode::kSkip;
    } else if (hi == "optimistic") {
      st->mode_ = Mode::kOptimistic;
    } else {
      return m.Error(Cat("unknown handleInvalid '", hi, "'"));
    }
    ASSIGN_OR_RETURN(st->slot_, RequireVector(m, s, st->col_));
    ColumnInfo& c = s.mutable_column(st->slot_);
    int32_t known = KnownSize(c);
    if (known >= 0 && known != st->size_) {
      return m.Error(
          Cat("column '", st->col_, "' has size ", known, " but the hint says ", st->size_));
    }
    c.vector_size = st->size_;
    st->reads = {st->slot_};
    st->writes = {st->slot_};
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    if (mode_ == Mode::kOptimistic) return absl::OkStatus();
    Cell& c = row.cells[slot_];
    if (c.kind == Cell::Kind::kVector && c.vec.size == size_) return absl::OkStatus();
    if (mode_ == Mode::kError) {
      if (c.kind != Cell::Kind::kVector) return Fail(col_, "null vector (handleInvalid=error)");
      return Fail(col_, Cat("expected a vector of size ", size_, " but got ", c.vec.size));
    }
    c.SetNull();
    row.filtered = true;
    row.filter_reason = Cat(name, ": column '", col_, "' is null or not of size ", size_);
    return absl::OkStatus();
  }

 private:
  std::string col_;
  int slot_ = -1;
  int32_t size_ = 0;
  Mode mode_ = Mode::kError;
};

// ---------------------------------------------------------------------------
// VectorSlicer: indices first, then names resolved through the input's
// attributes; the selected elements keep their attributes.

class VectorSlicerStage : public VecStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<VectorSlicerStage>();
    ASSIGN_OR_RETURN(st->in_name_, PString(m, "inputCol"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    ASSIGN_OR_RETURN(std::vector<int> indices, PInts(m, "indices"));
    std::vector<std::string> names;
    if (IsSet(m, "names")) {
      ASSIGN_OR_RETURN(names, PStrings(m, "names"));
    }
    if (indices.empty() && names.empty())
      return m.Error("no feature selected (indices and names empty)");
    for (int i : indices) {
      if (i < 0) return m.Error(Cat("negative index ", i));
    }
    ASSIGN_OR_RETURN(st->in_, RequireVector(m, s, st->in_name_));
    const ColumnInfo& in = s.column(st->in_);
    int32_t known = KnownSize(in);
    if (known >= 0 && !indices.empty()) {
      int max_index = *std::max_element(indices.begin(), indices.end());
      if (max_index >= known) {
        return m.Error(Cat("selected feature index ", max_index, " invalid for only ", known,
                           " input features"));
      }
    }
    st->inds_ = indices;
    for (const std::string& n : names) {
      int found = -1;
      for (size_t i = 0; i < in.attrs.size(); ++i) {
        if (in.attrs[i].name == n) {
          found = static_cast<int>(i);
          break;
        }
      }
      if (found < 0) {
        return m.Error(
            Cat("no feature named '", n, "' in the attributes of column '", st->in_name_, "'"));
      }
      st->inds_.push_back(found);
    }
    std::vector<int> sorted = st->inds_;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      return m.Error("indices and names select overlapping features");
    }
    ColumnInfo oc = VectorColumn(out, static_cast<int32_t>(st->inds_.size()));
    if (!in.attrs.empty()) {
      for (int i : st->inds_) oc.attrs.push_back(in.attrs[i]);
    }
    st->out_ = s.AddOutput(std::move(oc));
    st->reads = {st->in_};
    st->writes = {st->out_};
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, InVector(row, in_, in_name_));
    for (int i : inds_) {
      if (i >= in->size) {
        return Fail(in_name_,
                    Cat("selected feature index ", i, " invalid for a vector of size ", in->size));
      }
    }
    Vector& out = row.cells[out_].MutableVector();
    const int32_t n = static_cast<int32_t>(inds_.size());
    if (in->dense) {
      out.SetDense(n);
      for (int32_t k = 0; k < n; ++k) out.values[k] = in->values[inds_[k]];
    } else {
      out.SetSparse(n);
      for (int32_t k = 0; k < n; ++k) {
        auto it = std::lower_bound(in->indices.begin(), in->indices.end(), inds_[k]);
        if (it != in->indices.end() && *it == inds_[k]) {
          out.indices.push_back(k);
          out.values.push_back(in->values[it - in->indices.begin()]);
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string in_name_;
  int in_ = -1, out_ = -1;
  std::vector<int> inds_;
};

// ---------------------------------------------------------------------------
// Scalers share one shape: a vector in, a vector of the same size out.

class VectorMapStage : public VecStage {
 protected:
  absl::Status Setup(const StageMeta& m, Schema& s, int32_t size) {
    ASSIGN_OR_RETURN(in_name_, PString(m, "inputCol"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    ASSIGN_OR_RETURN(in_, RequireVector(m, s, in_name_));
    int32_t known = KnownSize(s.column(in_));
    if (size >= 0 && known >= 0 && known != size) {
      return m.Error(
          Cat("expects vectors of size ", size, " but column '", in_name_, "' has ", known));
    }
    out_ = s.AddOutput(VectorColumn(out, size >= 0 ? size : known));
    reads = {in_};
    writes = {out_};
    name = StageName(m);
    size_ = size;
    return absl::OkStatus();
  }
  // The input vector, checked against the model's size.
  absl::StatusOr<const Vector*> Input(const Row& row) const {
    ASSIGN_OR_RETURN(const Vector* in, InVector(row, in_, in_name_));
    if (size_ >= 0 && in->size != size_) {
      return Fail(in_name_, Cat("expected a vector of size ", size_, " but got ", in->size));
    }
    return in;
  }

  std::string in_name_;
  int in_ = -1, out_ = -1;
  int32_t size_ = -1;
};

// StandardScalerModel (and RobustScalerModel). Spark 3+: shift = mean, scale = 1/std (0 when std is
// 0), (x - shift) * scale. Spark 2.4 (mllib): same, except that withMean and
// withStd together give exactly 0.0 where std is 0.
class StandardScalerStage : public VectorMapStage {
 public:
  // The names of the shift/scale params and data vectors: StandardScalerModel
  // (withMean, withStd, mean, std) or RobustScalerModel (withCentering,
  // withScaling, median, range), which transforms the same way.
  struct Names {
    const char *shift_param, *scale_param, *shift_data, *scale_data;
  };
  static constexpr Names kStandard{"withMean", "withStd", "mean", "std"};
  static constexpr Names kRobust{"withCentering", "withScaling", "median", "range"};

  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    return MakeWith(m, s, kStandard);
  }
  static absl::StatusOr<std::unique_ptr<Stage>> MakeRobust(const StageMeta& m, Schema& s) {
    return MakeWith(m, s, kRobust);
  }

  static absl::StatusOr<std::unique_ptr<Stage>> MakeWith(const StageMeta& m, Schema& s,
                                                         const Names& n) {
    auto st = std::make_unique<StandardScalerStage>();
    ASSIGN_OR_RETURN(st->with_mean_, PBoolOr(m, n.shift_param, false));
    ASSIGN_OR_RETURN(st->with_std_, PBoolOr(m, n.scale_param, true));
    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    ASSIGN_OR_RETURN(Vector std_v, DataVector(m, t, n.scale_data));
    ASSIGN_OR_RETURN(Vector mean_v, DataVector(m, t, n.shift_data));
    if (std_v.size != mean_v.size) {
      return m.Error(Cat(n.scale_data, " and ", n.shift_data, " have different sizes"));
    }
    st->std_ = ToDenseArray(std_v);
    st->shift_ = ToDenseArray(mean_v);
    st->scale_.resize(st->std_.size());
    for (size_t i = 0; i < st->std_.size(); ++i)
      st->scale_[i] = st->std_[i] == 0.0 ? 0.0 : 1.0 / st->std_[i];
    st->legacy_ = m.spark_major > 0 && m.spark_major < 3;
    RETURN_IF_ERROR(st->Setup(m, s, mean_v.size));
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, Input(row));
    Vector& out = row.cells[out_].MutableVector();
    if (with_mean_) {
      out.size = in->size;
      out.dense = true;
      out.indices.clear();
      DenseValues(*in, out.values);
      std::vector<double>& v = out.values;
      const size_t n = v.size();
      if (with_std_) {
        if (legacy_) {
          for (size_t i = 0; i < n; ++i)
            v[i] = std_[i] != 0.0 ? (v[i] - shift_[i]) * (1.0 / std_[i]) : 0.0;
        } else {
          for (size_t i = 0; i < n; ++i) v[i] = (v[i] - shift_[i]) * scale_[i];
        }
      } else {
        for (size_t i = 0; i < n; ++i) v[i] -= shift_[i];
      }
      return absl::OkStatus();
    }
    CopyVector(*in, out);
    if (with_std_) {
      if (out.dense) {
        for (size_t i = 0; i < out.values.size(); ++i) out.values[i] *= scale_[i];
      } else {
        for (size_t k = 0; k < out.values.size(); ++k) out.values[k] *= scale_[out.indices[k]];
      }
    }
    return absl::OkStatus();
  }

 private:
  bool with_mean_ = false, with_std_ = true, legacy_ = false;
  std::vector<double> std_, shift_, scale_;
};

// MinMaxScalerModel. Spark 3+: (x - min) * ((max - min) / range) + min, the
// midpoint for a constant feature; Spark 2.4: ((x - min) / range) * scale +
// min, 0.5 for a constant feature. NaN passes through. Output compressed (3+).
class MinMaxScalerStage : public VectorMapStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<MinMaxScalerStage>();
    ASSIGN_OR_RETURN(st->min_, PDoubleOr(m, "min", 0.0));
    ASSIGN_OR_RETURN(st->max_, PDoubleOr(m, "max", 1.0));
    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    ASSIGN_OR_RETURN(Vector lo, DataVector(m, t, "originalMin"));
    ASSIGN_OR_RETURN(Vector hi, DataVector(m, t, "originalMax"));
    if (lo.size != hi.size) return m.Error("originalMin and originalMax have different sizes");
    st->orig_min_ = ToDenseArray(lo);
    std::vector<double> orig_max = ToDenseArray(hi);
    st->legacy_ = m.spark_major > 0 && m.spark_major < 3;
    const double scale = st->max_ - st->min_;
    st->range_.resize(lo.size);
    st->scale_.resize(lo.size);
    for (int32_t i = 0; i < lo.size; ++i) {
      st->range_[i] = orig_max[i] - st->orig_min_[i];
      st->scale_[i] = st->range_[i] != 0 ? scale / st->range_[i] : 0.0;
    }
    RETURN_IF_ERROR(st->Setup(m, s, lo.size));
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, Input(row));
    Vector& out = row.cells[out_].MutableVector();
    out.size = in->size;
    out.dense = true;
    out.indices.clear();
    DenseValues(*in, out.values);
    std::vector<double>& v = out.values;
    const double scale = max_ - min_;
    if (legacy_) {
      for (size_t i = 0; i < v.size(); ++i) {
        if (std::isnan(v[i])) continue;
        double raw = range_[i] != 0 ? (v[i] - orig_min_[i]) / range_[i] : 0.5;
        v[i] = raw * scale + min_;
      }
      return absl::OkStatus();
    }
    const double constant = (min_ + max_) / 2;
    for (size_t i = 0; i < v.size(); ++i) {
      if (std::isnan(v[i])) continue;
      v[i] = scale_[i] != 0 ? (v[i] - orig_min_[i]) * scale_[i] + min_ : constant;
    }
    Compress(out);
    return absl::OkStatus();
  }

 private:
  double min_ = 0, max_ = 1;
  bool legacy_ = false;
  std::vector<double> orig_min_, range_, scale_;
};

// MaxAbsScalerModel. Spark 3+: x * (1 / maxAbs); Spark 2.4: x / maxAbs. A zero
// maxAbs counts as 1. Sparsity is kept.
class MaxAbsScalerStage : public VectorMapStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<MaxAbsScalerStage>();
    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    ASSIGN_OR_RETURN(Vector max_abs, DataVector(m, t, "maxAbs"));
    st->div_ = ToDenseArray(max_abs);
    st->mul_.resize(st->div_.size());
    for (size_t i = 0; i < st->div_.size(); ++i) {
      if (st->div_[i] == 0) st->div_[i] = 1.0;
      st->mul_[i] = 1.0 / st->div_[i];
    }
    st->legacy_ = m.spark_major > 0 && m.spark_major < 3;
    RETURN_IF_ERROR(st->Setup(m, s, max_abs.size));
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, Input(row));
    Vector& out = row.cells[out_].MutableVector();
    CopyVector(*in, out);
    for (size_t k = 0; k < out.values.size(); ++k) {
      size_t i = out.dense ? k : static_cast<size_t>(out.indices[k]);
      if (legacy_) {
        out.values[k] /= div_[i];
      } else {
        out.values[k] *= mul_[i];
      }
    }
    return absl::OkStatus();
  }

 private:
  bool legacy_ = false;
  std::vector<double> div_, mul_;
};

// Normalizer: divides the stored values by their p-norm (unchanged when the
// norm is 0). p = 1, 2 and Infinity have Spark's dedicated loops.
class NormalizerStage : public VectorMapStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<NormalizerStage>();
    ASSIGN_OR_RETURN(st->p_, PDoubleOr(m, "p", 2.0));
    if (!(st->p_ >= 1.0)) return m.Error("p must be >= 1");
    RETURN_IF_ERROR(st->Setup(m, s, -1));
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, Input(row));
    Vector& out = row.cells[out_].MutableVector();
    CopyVector(*in, out);
    double norm = 0.0;
    const std::vector<double>& v = out.values;
    if (p_ == 1) {
      for (double x : v) norm += std::fabs(x);
    } else if (p_ == 2) {
      for (double x : v) norm += x * x;
      norm = std::sqrt(norm);
    } else if (std::isinf(p_)) {
      for (double x : v) {
        double a = std::fabs(x);
        if (a > norm) norm = a;
      }
    } else {
      for (double x : v) norm += std::pow(std::fabs(x), p_);
      norm = std::pow(norm, 1.0 / p_);
    }
    if (norm != 0.0) {
      for (double& x : out.values) x /= norm;
    }
    return absl::OkStatus();
  }

 private:
  double p_ = 2.0;
};

// ElementwiseProduct: x[i] * scalingVec[i] (stored entries only when sparse).
class ElementwiseProductStage : public VectorMapStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<ElementwiseProductStage>();
    const json* j = Param(m, "scalingVec");
    if (j == nullptr) return m.Error("param 'scalingVec' missing");
    // Spark's JSON vector: {"type":1,"values":[..]} or
    // {"type":0,"size":n,"indices":[..],"values":[..]}.
    json vj = *j;
    if (vj.is_string()) {
      vj = json::parse(vj.get<std::string>(), nullptr, false);
      if (vj.is_discarded()) return m.Error("param 'scalingVec' is not a vector");
    }
    if (!vj.is_object() || !vj.contains("values"))
      return m.Error("param 'scalingVec' is not a vector");
    ASSIGN_OR_RETURN(std::vector<double> values, DoubleList(m, "scalingVec", vj["values"]));
    int type = vj.value("type", 1);
    if (type == 0) {
      int size = vj.value("size", -1);
      if (size < 0 || !vj.contains("indices"))
        return m.Error("param 'scalingVec' is a malformed sparse vector");
      std::vector<double> dense(size, 0.0);
      const json& idx = vj["indices"];
      if (!idx.is_array() || idx.size() != values.size())
        return m.Error("param 'scalingVec' is a malformed sparse vector");
      for (size_t k = 0; k < values.size(); ++k) {
        int i = idx[k].get<int>();
        if (i < 0 || i >= size) return m.Error("param 'scalingVec' index out of range");
        dense[i] = values[k];
      }
      values = std::move(dense);
    }
    st->scaling_ = std::move(values);
    RETURN_IF_ERROR(st->Setup(m, s, static_cast<int32_t>(st->scaling_.size())));
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, Input(row));
    Vector& out = row.cells[out_].MutableVector();
    CopyVector(*in, out);
    for (size_t k = 0; k < out.values.size(); ++k) {
      out.values[k] *= scaling_[out.dense ? k : static_cast<size_t>(out.indices[k])];
    }
    return absl::OkStatus();
  }

 private:
  std::vector<double> scaling_;
};

// PCAModel: pc^T x, each output a dot product in index order from 0.0 (BLAS
// dgemv "T"); a sparse x sums its stored entries only.
class PcaStage : public VectorMapStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<PcaStage>();
    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    const parquet::Datum* pc = DataColumn(t, "pc");
    if (pc == nullptr) return m.Error("data has no 'pc' matrix");
    auto mat = DecodeMatrix(*pc);
    if (!mat.ok()) return m.Error(Cat("data 'pc': ", std::string(mat.status().message())));
    st->n_ = mat->rows;
    st->k_ = mat->cols;
    // Column-major copy: column c (one component) is contiguous.
    st->pc_.resize(static_cast<size_t>(st->n_) * st->k_);
    for (int32_t c = 0; c < st->k_; ++c) {
      for (int32_t r = 0; r < st->n_; ++r)
        st->pc_[static_cast<size_t>(c) * st->n_ + r] = mat->at(r, c);
    }
    ASSIGN_OR_RETURN(st->in_name_, PString(m, "inputCol"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    ASSIGN_OR_RETURN(st->in_, RequireVector(m, s, st->in_name_));
    int32_t known = KnownSize(s.column(st->in_));
    if (known >= 0 && known != st->n_) {
      return m.Error(
          Cat("pc has ", st->n_, " rows but column '", st->in_name_, "' has size ", known));
    }
    st->out_ = s.AddOutput(VectorColumn(out, st->k_));
    st->size_ = st->n_;
    st->reads = {st->in_};
    st->writes = {st->out_};
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, Input(row));
    Vector& out = row.cells[out_].MutableVector();
    out.SetDense(k_);
    for (int32_t c = 0; c < k_; ++c) {
      const double* col = &pc_[static_cast<size_t>(c) * n_];
      double sum = 0.0;
      if (in->dense) {
        for (int32_t r = 0; r < n_; ++r) sum += col[r] * in->values[r];
      } else {
        for (size_t q = 0; q < in->indices.size(); ++q) sum += in->values[q] * col[in->indices[q]];
      }
      out.values[c] = sum;
    }
    return absl::OkStatus();
  }

 private:
  int32_t n_ = 0, k_ = 0;
  std::vector<double> pc_;
};

// ---------------------------------------------------------------------------
// Bucketizer (and QuantileDiscretizer's model): single or multi column.
// NaN goes to the extra bucket with handleInvalid=keep, drops the row with
// skip (so does null), fails with error. The last split is inclusive; values
// outside the splits fail whatever handleInvalid says.

class BucketizerStage : public VecStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<BucketizerStage>();
    ASSIGN_OR_RETURN(ColumnPairs cols, InOutCols(m));
    std::string hi = PStringOr(m, "handleInvalid", "error");
    if (hi != "error" && hi != "skip" && hi != "keep")
      return m.Error(Cat("unknown handleInvalid '", hi, "'"));
    st->keep_ = hi == "keep";
    st->skip_ = hi == "skip";
    std::vector<std::vector<double>> splits;
    if (cols.multi) {
      const json* sa = Param(m, "splitsArray");
      if (sa == nullptr || !sa->is_array()) return m.Error("param 'splitsArray' missing");
      for (const json& one : *sa) {
        ASSIGN_OR_RETURN(std::vector<double> sp, DoubleList(m, "splitsArray", one));
        splits.push_back(std::move(sp));
      }
      if (splits.size() != cols.in.size()) {
        return m.Error(
            Cat("splitsArray has ", splits.size(), " entries for ", cols.in.size(), " columns"));
      }
    } else {
      const json* sp = Param(m, "splits");
      if (sp == nullptr) return m.Error("param 'splits' missing");
      ASSIGN_OR_RETURN(std::vector<double> one, DoubleList(m, "splits", *sp));
      splits.push_back(std::move(one));
    }
    for (const auto& sp : splits) {
      if (sp.size() < 3) return m.Error("splits need at least 3 values");
      for (size_t i = 1; i < sp.size(); ++i) {
        if (!(sp[i - 1] < sp[i])) return m.Error("splits must be strictly increasing");
      }
    }
    for (size_t c = 0; c < cols.in.size(); ++c) {
      Column col;
      col.in_name = cols.in[c];
      col.splits = std::move(splits[c]);
      ASSIGN_OR_RETURN(col.in, RequireNumeric(m, s, col.in_name));
      st->reads.push_back(col.in);
      st->cols_.push_back(std::move(col));
    }
    // Outputs after all inputs are resolved (an output may shadow an input name).
    for (size_t c = 0; c < st->cols_.size(); ++c) {
      Column& col = st->cols_[c];
      ColumnInfo oc;
      oc.name = cols.out[c];
      oc.type = DataType::kDouble;
      Attribute a;
      a.type = Attribute::Type::kNominal;
      a.name = oc.name;
      for (size_t i = 0; i + 1 < col.splits.size(); ++i) {
        a.values.push_back(
            Cat(JavaDoubleToString(col.splits[i]), ", ", JavaDoubleToString(col.splits[i + 1])));
      }
      a.num_values = static_cast<int>(a.values.size());
      oc.attrs.push_back(std::move(a));
      col.out = s.AddOutput(std::move(oc));
      st->writes.push_back(col.out);
    }
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    if (skip_) {
      for (const Column& col : cols_) {
        const Cell& c = row.cells[col.in];
        if (c.is_null() || std::isnan(c.num)) {
          for (const Column& o : cols_) row.cells[o.out].SetNull();
          row.filtered = true;
          row.filter_reason = Cat(name, ": column '", col.in_name, "' is null or NaN");
          return absl::OkStatus();
        }
      }
    }
    for (const Column& col : cols_) {
      const Cell& c = row.cells[col.in];
      if (c.is_null()) {
        row.cells[col.out].SetNull();
        continue;
      }
      ASSIGN_OR_RETURN(double b, Bucket(col, c.num));
      row.cells[col.out].SetNumber(b);
    }
    return absl::OkStatus();
  }

 private:
  struct Column {
    std::string in_name;
    int in = -1, out = -1;
    std::vector<double> splits;
  };

  absl::StatusOr<double> Bucket(const Column& col, double x) const {
    const std::vector<double>& sp = col.splits;
    if (std::isnan(x)) {
      if (keep_ || skip_) return static_cast<double>(sp.size() - 1);
      return Fail(col.in_name, "NaN value (set handleInvalid to keep or skip)");
    }
    if (x == sp.back()) return static_cast<double>(sp.size() - 2);
    int idx = JavaBinarySearch(sp, x);
    if (idx >= 0) return static_cast<double>(idx);
    int ins = -idx - 1;
    if (ins == 0 || ins == static_cast<int>(sp.size())) {
      return Fail(col.in_name,
                  Cat("value ", JavaDoubleToString(x), " out of Bucketizer bounds [",
                      JavaDoubleToString(sp.front()), ", ", JavaDoubleToString(sp.back()), "]"));
    }
    return static_cast<double>(ins - 1);
  }

  std::vector<Column> cols_;
  bool keep_ = false, skip_ = false;
};

// ---------------------------------------------------------------------------
// Binarizer: scalar (x > t ? 1 : 0) or vector (sparse ones, compressed).
// Spark 3+: NaN and, for scalars, null give 0; a negative threshold makes the
// vector's implicit zeros 1. Spark 2.x: null stays null and only stored
// entries can become 1.

class BinarizerStage : public VecStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<BinarizerStage>();
    ASSIGN_OR_RETURN(ColumnPairs cols, InOutCols(m));
    std::vector<double> thresholds;
    if (cols.multi && IsSet(m, "thresholds")) {
      ASSIGN_OR_RETURN(thresholds, DoubleList(m, "thresholds", *Param(m, "thresholds")));
      if (thresholds.size() != cols.in.size())
        return m.Error("thresholds and inputCols differ in length");
    } else {
      ASSIGN_OR_RETURN(double t, PDoubleOr(m, "threshold", 0.0));
      thresholds.assign(cols.in.size(), t);
    }
    st->legacy_ = m.spark_major > 0 && m.spark_major < 3;
    for (size_t c = 0; c < cols.in.size(); ++c) {
      Column col;
      col.in_name = cols.in[c];
      col.threshold = thresholds[c];
      int slot = s.Find(col.in_name);
      if (slot >= 0 && s.column(slot).type == DataType::kVector) {
        col.in = slot;
        col.vector = true;
      } else {
        ASSIGN_OR_RETURN(col.in, RequireNumeric(m, s, col.in_name));
      }
      st->reads.push_back(col.in);
      st->cols_.push_back(std::move(col));
    }
    for (size_t c = 0; c < st->cols_.size(); ++c) {
      Column& col = st->cols_[c];
      ColumnInfo oc;
      oc.name = cols.out[c];
      if (col.vector) {
        oc.type = DataType::kVector;
        oc.vector_size = KnownSize(s.column(col.in));
      } else {
        oc.type = DataType::kDouble;
        Attribute a;
        a.type = Attribute::Type::kBinary;
        a.name = oc.name;
        oc.attrs.push_back(std::move(a));
      }
      col.out = s.AddOutput(std::move(oc));
      st->writes.push_back(col.out);
    }
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    for (const Column& col : cols_) {
      const Cell& in = row.cells[col.in];
      Cell& out = row.cells[col.out];
      const double td = col.threshold;
      if (!col.vector) {
        if (in.is_null()) {
          if (legacy_) {
            out.SetNull();
          } else {
            out.SetNumber(0.0);
          }
          continue;
        }
        out.SetNumber(!std::isnan(in.num) && in.num > td ? 1.0 : 0.0);
        continue;
      }
      ASSIGN_OR_RETURN(const Vector* v, InVector(row, col.in, col.in_name));
      Vector& o = out.MutableVector();
      if (legacy_ || td >= 0) {
        o.SetSparse(v->size);
        // Spark 3 skips stored zeros (foreachNonZero); they are never > td >= 0.
        v->ForEach([&](int32_t i, double x) {
          if (x > td) {
            o.indices.push_back(i);
            o.values.push_back(1.0);
          }
        });
      } else {
        o.SetDense(v->size);
        std::fill(o.values.begin(), o.values.end(), 1.0);
        v->ForEach([&](int32_t i, double x) {
          if (x != 0.0 && x <= td) o.values[i] = 0.0;
        });
      }
      Compress(o);
    }
    return absl::OkStatus();
  }

 private:
  struct Column {
    std::string in_name;
    int in = -1, out = -1;
    bool vector = false;
    double threshold = 0.0;
  };
  std::vector<Column> cols_;
  bool legacy_ = false;
};

// ---------------------------------------------------------------------------
// ImputerModel: null, or a value equal to missingValue (NaN equals NaN, as in
// Spark SQL), becomes the column's surrogate; the result is cast back to the
// input column's type.

class ImputerStage : public VecStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<ImputerStage>();
    ASSIGN_OR_RETURN(ColumnPairs cols, InOutCols(m));
    ASSIGN_OR_RETURN(st->missing_,
                     PDoubleOr(m, "missingValue", std::numeric_limits<double>::quiet_NaN()));
    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    for (size_t c = 0; c < cols.in.size(); ++c) {
      Column col;
      col.in_name = cols.in[c];
      const parquet::Datum* d = DataColumn(t, col.in_name);
      if (d == nullptr || d->is_null())
        return m.Error(Cat("no surrogate for column '", col.in_name, "'"));
      auto v = d->AsDouble();
      if (!v.ok())
        return m.Error(
            Cat("surrogate of '", col.in_name, "': ", std::string(v.status().message())));
      col.surrogate = *v;
      ASSIGN_OR_RETURN(col.in, RequireNumeric(m, s, col.in_name));
      col.type = s.column(col.in).type;
      st->reads.push_back(col.in);
      st->cols_.push_back(std::move(col));
    }
    for (size_t c = 0; c < st->cols_.size(); ++c) {
      ColumnInfo oc;
      oc.name = cols.out[c];
      oc.type = st->cols_[c].type;
      st->cols_[c].out = s.AddOutput(std::move(oc));
      st->writes.push_back(st->cols_[c].out);
    }
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    const bool missing_nan = std::isnan(missing_);
    for (const Column& col : cols_) {
      const Cell& in = row.cells[col.in];
      double x;
      if (in.is_null()) {
        x = col.surrogate;
      } else if (in.num == missing_ || (missing_nan && std::isnan(in.num))) {
        x = col.surrogate;
      } else {
        x = in.num;
      }
      row.cells[col.out].SetNumber(CastTo(col.type, x));
    }
    return absl::OkStatus();
  }

 private:
  struct Column {
    std::string in_name;
    int in = -1, out = -1;
    DataType type = DataType::kDouble;
    double surrogate = 0;
  };

  // Spark's (non-ANSI) cast of a double to the column's type.
  static double CastTo(DataType t, double x) {
    switch (t) {
      case DataType::kFloat:
        return static_cast<double>(static_cast<float>(x));
      case DataType::kInteger: {
        if (std::isnan(x)) return 0.0;
        if (x >= 2147483647.0) return 2147483647.0;
        if (x <= -2147483648.0) return -2147483648.0;
        return std::trunc(x);
      }
      case DataType::kLong: {
        if (std::isnan(x)) return 0.0;
        if (x >= 9.2233720368547758e18) return 9.2233720368547758e18;
        if (x <= -9.2233720368547758e18) return -9.2233720368547758e18;
        return std::trunc(x);
      }
      case DataType::kBoolean:
        return x != 0.0 ? 1.0 : 0.0;
      default:
        return x;
    }
  }

  std::vector<Column> cols_;
  double missing_ = 0;
};

// ---------------------------------------------------------------------------
// Interaction: the product of the inputs' encodings. A nominal attribute
// with more than one value is one-hot encoded, anything else passes its value
// through; a vector encodes its stored entries (all of them when dense, so a
// sparse vector's implicit zeros emit nothing, even for nominal elements).
// Inputs are combined from the last to the first, products in that order.

class InteractionStage : public VecStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s) {
    auto st = std::make_unique<InteractionStage>();
    ASSIGN_OR_RETURN(std::vector<std::string> inputs, PStrings(m, "inputCols"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    if (inputs.empty()) return m.Error("inputCols is empty");
    // Encoded attribute names per input, combined right to left into "a:b".
    std::vector<std::vector<std::string>> names;
    for (const std::string& in_name : inputs) {
      Input in;
      in.name = in_name;
      int slot = s.Find(in_name);
      if (slot >= 0 && s.column(slot).type == DataType::kVector) {
        in.slot = slot;
        in.vector = true;
      } else {
        ASSIGN_OR_RETURN(in.slot, RequireNumeric(m, s, in_name));
      }
      const ColumnInfo& ci = s.column(in.slot);
      std::vector<std::string> enc;
      if (in.vector) {
        std::vector<Attribute> attrs = ci.attrs;
        if (attrs.empty()) {
          // Spark needs the vector's attributes; without them (unknown to this
          // schema) every element is taken as numeric when the size is known.
          if (ci.vector_size < 0) {
            return m.Error(
                Cat("vector attributes of column '", in_name, "' must be defined for interaction"));
          }
          attrs.resize(ci.vector_size);
          for (Attribute& a : attrs) a.type = Attribute::Type::kNumeric;
        }
        for (size_t i = 0; i < attrs.size(); ++i) {
          ASSIGN_OR_RETURN(int card, NumFeatures(m, attrs[i], in_name));
          in.cards.push_back(card);
          AppendEncodedNames(attrs[i], in_name, static_cast<int>(i), /*in_group=*/true, &enc);
        }
      } else {
        // A scalar's attribute keeps its own name; the column name otherwise.
        Attribute a;
        a.type = Attribute::Type::kNumeric;
        if (!ci.attrs.empty() && ci.attrs[0].type != Attribute::Type::kUnresolved) a = ci.attrs[0];
        if (a.name.empty()) a.name = ci.name;
        ASSIGN_OR_RETURN(int card, NumFeatures(m, a, in_name));
        in.cards.push_back(card);
        AppendEncodedNames(a, in_name, 0, /*in_group=*/false, &enc);
      }
      in.offsets.resize(in.cards.size());
      int32_t off = 0;
      for (size_t i = 0; i < in.cards.size(); ++i) {
        in.offsets[i] = off;
        off += in.cards[i];
      }
      in.out_size = off;
      names.push_back(std::move(enc));
      st->reads.push_back(in.slot);
      st->inputs_.push_back(std::move(in));
    }
    std::vector<std::string> combined;
    for (size_t r = names.size(); r-- > 0;) {
      if (combined.empty()) {
        combined = names[r];
      } else {
        std::vector<std::string> next;
        next.reserve(names[r].size() * combined.size());
        for (const std::string& head : names[r]) {
          for (const std::string& tail : combined) next.push_back(Cat(head, ":", tail));
        }
        combined = std::move(next);
      }
    }
    ColumnInfo oc = VectorColumn(out, static_cast<int32_t>(combined.size()));
    for (std::string& n : combined) {
      Attribute a;
      a.type = Attribute::Type::kNumeric;
      a.name = std::move(n);
      oc.attrs.push_back(std::move(a));
    }
    st->scratch_ = s.AddScratch();
    st->out_ = s.AddOutput(std::move(oc));
    st->writes = {st->out_};
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    // `prev` and `cur` alternate between the output cell and a scratch cell.
    Vector* a = &row.cells[out_].MutableVector();
    Vector* b = &row.cells[scratch_].MutableVector();
    Vector* prev = a;
    Vector* cur = b;
    prev->SetSparse(1);
    prev->indices.push_back(0);
    prev->values.push_back(1.0);
    int64_t size = 1;
    for (size_t f = inputs_.size(); f-- > 0;) {
      const Input& in = inputs_[f];
      const int64_t prev_size = size;
      size *= in.out_size;
      if (size > std::numeric_limits<int32_t>::max()) return Fail(in.name, "interaction too large");
      cur->SetSparse(0);
      auto emit = [&](int32_t i, double v) {
        for (size_t j = 0; j < prev->indices.size(); ++j) {
          cur->indices.push_back(static_cast<int32_t>(prev->indices[j] + i * prev_size));
          cur->values.push_back(prev->values[j] * v);
        }
      };
      const Cell& c = row.cells[in.slot];
      if (c.is_null()) return Fail(in.name, "values to interact cannot be null");
      if (!in.vector) {
        if (c.kind != Cell::Kind::kNumber) return Fail(in.name, "not a number");
        const double d = c.num;
        if (in.cards[0] > 1) {
          RETURN_IF_ERROR(CheckIndex(in, d, in.cards[0]));
          emit(static_cast<int32_t>(d), 1.0);
        } else {
          emit(0, d);
        }
      } else {
        if (c.kind != Cell::Kind::kVector) return Fail(in.name, "not a vector");
        const Vector& v = c.vec;
        if (v.size != static_cast<int32_t>(in.cards.size())) {
          return Fail(in.name, Cat("vector size was ", v.size, ", expected ", in.cards.size()));
        }
        const size_t n = v.values.size();
        for (size_t q = 0; q < n; ++q) {
          const int32_t i = v.dense ? static_cast<int32_t>(q) : v.indices[q];
          const double x = v.values[q];
          const int card = in.cards[i];
          if (card > 1) {
            RETURN_IF_ERROR(CheckIndex(in, x, card));
            emit(in.offsets[i] + static_cast<int32_t>(x), 1.0);
          } else {
            emit(in.offsets[i], x);
          }
        }
      }
      std::swap(prev, cur);
    }
    prev->size = static_cast<int32_t>(size);
    Compress(*prev);
    if (prev != a) std::swap(*a, *b);
    return absl::OkStatus();
  }

 private:
  struct Input {
    std::string name;
    int slot = -1;
    bool vector = false;
    std::vector<int> cards;        // per element: output width (categories, 1 = numeric)
    std::vector<int32_t> offsets;  // per element: first output position
    int32_t out_size = 0;
  };

  static absl::StatusOr<int> NumFeatures(const StageMeta& m, const Attribute& a,
                                         std::string_view col) {
    if (a.type != Attribute::Type::kNominal) return 1;
    int n = a.num_values >= 0 ? a.num_values : static_cast<int>(a.values.size());
    if (a.num_values < 0 && a.values.empty()) {
      return m.Error(
          Cat("nominal attribute in column '", col, "' must have its number of values defined"));
    }
    return std::max(1, n);
  }

  // Spark's names after encoding: [group_]<name or index>[_<category>].
  static void AppendEncodedNames(const Attribute& a, std::string_view group, int index,
                                 bool in_group, std::vector<std::string>* out) {
    std::string base = a.name.empty() ? std::to_string(index) : a.name;
    if (in_group) base = Cat(group, "_", base);
    if (a.type == Attribute::Type::kNominal) {
      if (!a.values.empty()) {
        for (const std::string& v : a.values) out->push_back(Cat(base, "_", v));
      } else {
        for (int j = 0; j < a.num_values; ++j) out->push_back(Cat(base, "_", j));
      }
      return;
    }
    out->push_back(std::move(base));
  }

  absl::Status CheckIndex(const Input& in, double x, int card) const {
    if (x >= 0.0 && x == static_cast<double>(static_cast<int64_t>(x)) && x < card)
      return absl::OkStatus();
    return Fail(in.name,
                Cat("values from column must be indices, but got ", JavaDoubleToString(x)));
  }

  std::vector<Input> inputs_;
  int out_ = -1, scratch_ = -1;
};

// ---------------------------------------------------------------------------
// Feature selectors (ChiSqSelectorModel, UnivariateFeatureSelectorModel,
// VarianceThresholdSelectorModel, ...): keep selectedFeatures (sorted), with
// their attributes; without input attributes the outputs are nominal for
// ChiSqSelector and numeric for the others (whatever their featureType).

class SelectorStage : public VecStage {
 public:
  static absl::StatusOr<std::unique_ptr<Stage>> Make(const StageMeta& m, Schema& s,
                                                     bool nominal_default) {
    auto st = std::make_unique<SelectorStage>();
    ASSIGN_OR_RETURN(st->in_name_, PString(m, "featuresCol"));
    ASSIGN_OR_RETURN(std::string out, PString(m, "outputCol"));
    ASSIGN_OR_RETURN(parquet::Table t, ReadTable(m));
    ASSIGN_OR_RETURN(st->selected_,
                     IntListDatum(m, DataColumn(t, "selectedFeatures"), "selectedFeatures"));
    std::sort(st->selected_.begin(), st->selected_.end());
    if (std::adjacent_find(st->selected_.begin(), st->selected_.end()) != st->selected_.end()) {
      return m.Error("selectedFeatures has duplicates");
    }
    if (!st->selected_.empty() && st->selected_.front() < 0)
      return m.Error("negative selected feature");
    ASSIGN_OR_RETURN(st->in_, RequireVector(m, s, st->in_name_));
    const ColumnInfo& in = s.column(st->in_);
    int32_t known = KnownSize(in);
    if (known >= 0 && !st->selected_.empty() && st->selected_.back() >= known) {
      return m.Error(Cat("selected feature ", st->selected_.back(), " outside column '",
                         st->in_name_, "' of size ", known));
    }
    ColumnInfo oc = VectorColumn(out, static_cast<int32_t>(st->selected_.size()));
    if (!in.attrs.empty()) {
      for (int i : st->selected_) oc.attrs.push_back(in.attrs[i]);
    } else {
      Attribute a;
      a.type = nominal_default ? Attribute::Type::kNominal : Attribute::Type::kNumeric;
      oc.attrs.assign(st->selected_.size(), a);
    }
    st->out_ = s.AddOutput(std::move(oc));
    st->reads = {st->in_};
    st->writes = {st->out_};
    st->name = StageName(m);
    return std::unique_ptr<Stage>(std::move(st));
  }

  absl::Status Apply(Row& row) const override {
    ASSIGN_OR_RETURN(const Vector* in, InVector(row, in_, in_name_));
    Vector& out = row.cells[out_].MutableVector();
    const int32_t n = static_cast<int32_t>(selected_.size());
    if (in->dense) {
      if (!selected_.empty() && selected_.back() >= in->size) {
        return Fail(in_name_, Cat("selected feature ", selected_.back(),
                                  " outside a vector of size ", in->size));
      }
      out.SetDense(n);
      for (int32_t k = 0; k < n; ++k) out.values[k] = in->values[selected_[k]];
      return absl::OkStatus();
    }
    out.SetSparse(n);
    size_t i = 0, j = 0;
    while (i < in->indices.size() && j < selected_.size()) {
      if (in->indices[i] == selected_[j]) {
        out.indices.push_back(static_cast<int32_t>(j));
        out.values.push_back(in->values[i]);
        ++i;
        ++j;
      } else if (in->indices[i] > selected_[j]) {
        ++j;
      } else {
        ++i;
      }
    }
    return absl::OkStatus();
  }

 private:
  std::string in_name_;
  int in_ = -1, out_ = -1;
  std::vector<int> selected_;
};

}  // namespace

void RegisterVectorStages(StageRegistry& r) {
  auto add = [&r](std::string_view short_name, StageFactory f) {
    r.Add(Cat(kFeature, short_name), std::move(f));
  };
  add("VectorIndexerModel", VectorIndexerStage::Make);
  add("VectorSizeHint", VectorSizeHintStage::Make);
  add("VectorSlicer", VectorSlicerStage::Make);
  add("StandardScalerModel", StandardScalerStage::Make);
  add("RobustScalerModel", StandardScalerStage::MakeRobust);
  add("MinMaxScalerModel", MinMaxScalerStage::Make);
  add("MaxAbsScalerModel", MaxAbsScalerStage::Make);
  add("Normalizer", NormalizerStage::Make);
  add("ElementwiseProduct", ElementwiseProductStage::Make);
  add("PCAModel", PcaStage::Make);
  add("Bucketizer", BucketizerStage::Make);
  add("Binarizer", BinarizerStage::Make);
  add("ImputerModel", ImputerStage::Make);
  add("Interaction", InteractionStage::Make);
  add("ChiSqSelectorModel",
      [](const StageMeta& m, Schema& s) { return SelectorStage::Make(m, s, true); });
  add("UnivariateFeatureSelectorModel",
      [](const StageMeta& m, Schema& s) { return SelectorStage::Make(m, s, false); });
  add("VarianceThresholdSelectorModel",
      [](const StageMeta& m, Schema& s) { return SelectorStage::Make(m, s, false); });
  add("ANOVASelectorModel",
      [](const StageMeta& m, Schema& s) { return SelectorStage::Make(m, s, false); });
  add("FValueSelectorModel",
      [](const StageMeta& m, Schema& s) { return SelectorStage::Make(m, s, false); });
}

}  // namespace evs::spark
