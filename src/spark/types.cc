#include "spark/types.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace evs::spark {

std::string_view DataTypeName(DataType t) {
  switch (t) {
    case DataType::kBoolean: return "boolean";
    case DataType::kInteger: return "int";
    case DataType::kLong: return "bigint";
    case DataType::kFloat: return "float";
    case DataType::kDouble: return "double";
    case DataType::kString: return "string";
    case DataType::kVector: return "vector";
    case DataType::kStringArray: return "array<string>";
    case DataType::kDoubleArray: return "array<double>";
  }
  return "unknown";
}

bool IsNumeric(DataType t) {
  switch (t) {
    case DataType::kBoolean:
    case DataType::kInteger:
    case DataType::kLong:
    case DataType::kFloat:
    case DataType::kDouble:
      return true;
    default:
      return false;
  }
}

double Vector::At(int32_t i) const {
  if (dense) return values[i];
  // Sparse: binary search over the sorted indices.
  size_t lo = 0, hi = indices.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (indices[mid] < i) lo = mid + 1; else hi = mid;
  }
  return lo < indices.size() && indices[lo] == i ? values[lo] : 0.0;
}

void Vector::SetDense(int32_t n) {
  size = n;
  dense = true;
  indices.clear();
  values.assign(static_cast<size_t>(n), 0.0);
}

void Vector::SetSparse(int32_t n) {
  size = n;
  dense = false;
  indices.clear();
  values.clear();
}

namespace {

// Local Datum accessors (kept here so this file does not depend on the
// reader's helpers).
absl::StatusOr<double> AsD(const parquet::Datum& d) {
  switch (d.kind) {
    case parquet::Datum::Kind::kDouble: return d.d;
    case parquet::Datum::Kind::kInt: return static_cast<double>(d.i);
    case parquet::Datum::Kind::kBool: return d.b ? 1.0 : 0.0;
    default: return absl::InvalidArgumentError("expected a number in vector/matrix data");
  }
}
absl::StatusOr<int64_t> AsI(const parquet::Datum& d) {
  switch (d.kind) {
    case parquet::Datum::Kind::kInt: return d.i;
    case parquet::Datum::Kind::kBool: return d.b ? 1 : 0;
    case parquet::Datum::Kind::kDouble: return static_cast<int64_t>(d.d);
    default: return absl::InvalidArgumentError("expected an integer in vector/matrix data");
  }
}

absl::Status DoubleList(const parquet::Datum& d, std::vector<double>* out, const char* what) {
  out->clear();
  if (d.is_null()) return absl::OkStatus();
  if (d.kind != parquet::Datum::Kind::kList)
    return absl::InvalidArgumentError(absl::StrCat("vector/matrix field ", what, " is not a list"));
  out->reserve(d.items.size());
  for (const auto& it : d.items) {
    ASSIGN_OR_RETURN(double v, AsD(it));
    out->push_back(v);
  }
  return absl::OkStatus();
}

absl::Status IntList(const parquet::Datum& d, std::vector<int32_t>* out, const char* what) {
  out->clear();
  if (d.is_null()) return absl::OkStatus();
  if (d.kind != parquet::Datum::Kind::kList)
    return absl::InvalidArgumentError(absl::StrCat("vector/matrix field ", what, " is not a list"));
  out->reserve(d.items.size());
  for (const auto& it : d.items) {
    ASSIGN_OR_RETURN(int64_t v, AsI(it));
    out->push_back(static_cast<int32_t>(v));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Vector> DecodeVector(const parquet::Datum& d) {
  if (d.kind != parquet::Datum::Kind::kStruct || d.items.size() < 4)
    return absl::InvalidArgumentError("not a Spark vector struct {type,size,indices,values}");
  ASSIGN_OR_RETURN(int64_t type, AsI(d.items[0]));
  Vector v;
  RETURN_IF_ERROR(DoubleList(d.items[3], &v.values, "values"));
  if (type == 1) {
    v.dense = true;
    v.size = static_cast<int32_t>(v.values.size());
    return v;
  }
  if (type != 0) return absl::InvalidArgumentError(absl::StrCat("vector type ", type, " unknown"));
  v.dense = false;
  ASSIGN_OR_RETURN(int64_t size, AsI(d.items[1]));
  if (size < 0) return absl::InvalidArgumentError("sparse vector with negative size");
  v.size = static_cast<int32_t>(size);
  RETURN_IF_ERROR(IntList(d.items[2], &v.indices, "indices"));
  if (v.indices.size() != v.values.size())
    return absl::InvalidArgumentError("sparse vector: indices and values differ in length");
  for (size_t k = 0; k < v.indices.size(); ++k) {
    if (v.indices[k] < 0 || v.indices[k] >= v.size || (k > 0 && v.indices[k] <= v.indices[k - 1]))
      return absl::InvalidArgumentError("sparse vector: indices out of range or unsorted");
  }
  return v;
}

absl::StatusOr<DenseMatrix> DecodeMatrix(const parquet::Datum& d) {
  if (d.kind != parquet::Datum::Kind::kStruct || d.items.size() < 7)
    return absl::InvalidArgumentError("not a Spark matrix struct");
  ASSIGN_OR_RETURN(int64_t type, AsI(d.items[0]));
  ASSIGN_OR_RETURN(int64_t rows, AsI(d.items[1]));
  ASSIGN_OR_RETURN(int64_t cols, AsI(d.items[2]));
  bool transposed = false;
  if (d.items[6].kind == parquet::Datum::Kind::kBool) transposed = d.items[6].b;
  else if (!d.items[6].is_null()) {
    ASSIGN_OR_RETURN(int64_t t, AsI(d.items[6]));
    transposed = t != 0;
  }
  if (rows < 0 || cols < 0 || rows * cols > (int64_t{1} << 31))
    return absl::InvalidArgumentError("matrix dimensions out of range");
  DenseMatrix m;
  m.rows = static_cast<int32_t>(rows);
  m.cols = static_cast<int32_t>(cols);
  m.values.assign(static_cast<size_t>(rows * cols), 0.0);
  std::vector<double> values;
  RETURN_IF_ERROR(DoubleList(d.items[5], &values, "values"));
  if (type == 1) {
    if (values.size() != m.values.size())
      return absl::InvalidArgumentError("dense matrix: values length != rows*cols");
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        m.values[r * cols + c] = transposed ? values[r * cols + c] : values[c * rows + r];
    return m;
  }
  if (type != 0) return absl::InvalidArgumentError(absl::StrCat("matrix type ", type, " unknown"));
  // Sparse: CSC (colPtrs over columns, rowIndices) or, transposed, CSR.
  std::vector<int32_t> ptrs, idx;
  RETURN_IF_ERROR(IntList(d.items[3], &ptrs, "colPtrs"));
  RETURN_IF_ERROR(IntList(d.items[4], &idx, "rowIndices"));
  const int64_t major = transposed ? rows : cols, minor = transposed ? cols : rows;
  if (static_cast<int64_t>(ptrs.size()) != major + 1 || idx.size() != values.size())
    return absl::InvalidArgumentError("sparse matrix: bad colPtrs/rowIndices");
  for (int64_t j = 0; j < major; ++j) {
    if (ptrs[j] < 0 || ptrs[j] > ptrs[j + 1] || ptrs[j + 1] > static_cast<int32_t>(values.size()))
      return absl::InvalidArgumentError("sparse matrix: bad colPtrs");
    for (int32_t k = ptrs[j]; k < ptrs[j + 1]; ++k) {
      if (idx[k] < 0 || idx[k] >= minor) return absl::InvalidArgumentError("sparse matrix: index out of range");
      int64_t r = transposed ? j : idx[k], c = transposed ? idx[k] : j;
      m.values[r * cols + c] = values[k];
    }
  }
  return m;
}

namespace {

// Shortest digits and decimal exponent: value = 0.d1d2.. * 10^(exp+1),
// i.e. d1.d2.. * 10^exp.
template <typename T>
std::string JavaFormat(T v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  std::string out;
  size_t pos = 0;
  if (s[0] == '-') { out.push_back('-'); pos = 1; }
  size_t epos = s.find('e');
  std::string digits;
  for (size_t i = pos; i < epos; ++i)
    if (s[i] != '.') digits.push_back(s[i]);
  int exp = std::stoi(s.substr(epos + 1));
  if (digits.size() == 1) {
    // Java prints at least two significant digits (d.d); when the shortest
    // form has one, it takes the closest two-digit value that still reads
    // back (Double.MIN_VALUE is 4.9E-324, not 5.0E-324).
    char b2[64];
    auto r2 = std::to_chars(b2, b2 + sizeof b2, v, std::chars_format::scientific, 1);
    std::string s2(b2, r2.ptr);
    T back{};
    std::from_chars(b2, r2.ptr, back);
    if (back == v) {
      size_t e2 = s2.find('e');
      std::string d2;
      for (size_t i = pos; i < e2; ++i)
        if (s2[i] != '.') d2.push_back(s2[i]);
      if (d2.size() == 2 && d2[1] != '0') {
        digits = d2;
        exp = std::stoi(s2.substr(e2 + 1));
      }
    }
  }
  T a = std::fabs(v);
  if (a >= T(1e-3) && a < T(1e7)) {
    if (exp >= 0) {
      size_t int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out += digits;
        out.append(int_len - digits.size(), '0');
        out += ".0";
      } else {
        out += digits.substr(0, int_len);
        out.push_back('.');
        out += digits.substr(int_len);
      }
    } else {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    }
    return out;
  }
  out.push_back(digits[0]);
  out.push_back('.');
  out += digits.size() > 1 ? digits.substr(1) : "0";
  out += "E";
  out += std::to_string(exp);
  return out;
}

}  // namespace

std::string JavaDoubleToString(double v) { return JavaFormat(v); }

std::string CastToString(const Cell& c, DataType type) {
  if (c.kind == Cell::Kind::kString) return c.str;
  if (c.kind != Cell::Kind::kNumber) return "";
  switch (type) {
    case DataType::kBoolean: return c.num != 0 ? "true" : "false";
    case DataType::kInteger:
    case DataType::kLong: {
      if (std::isfinite(c.num) && std::fabs(c.num) < 9.3e18) return std::to_string(static_cast<int64_t>(c.num));
      return JavaDoubleToString(c.num);
    }
    case DataType::kFloat: return JavaFormat(static_cast<float>(c.num));
    default: return JavaDoubleToString(c.num);
  }
}

}  // namespace evs::spark
