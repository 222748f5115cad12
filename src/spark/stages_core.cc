// Core feature stages: StringIndexer, IndexToString, VectorAssembler,
// OneHotEncoder (2.x transformer and the fitted model), RFormula with its
// ColumnPruner and VectorAttributeRewriter. Factories resolve columns and
// attributes at load time; Apply only touches cells.
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "spark/stage.h"

namespace evs::spark {

namespace {
// Debian's abseil has its own string_view: StrCat and hash lookups need it.
inline absl::string_view V(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

namespace {

using parquet::Datum;

// ---- model data helpers -------------------------------------------------

absl::StatusOr<const Datum*> Field(const StageMeta& m, const parquet::Table& t, std::string_view col) {
  int c = t.ColumnIndex(col);
  if (c < 0 || t.rows.empty()) return m.Error(absl::StrCat("data has no column '", V(col), "'"));
  const Datum& row = t.rows[0];
  if (static_cast<size_t>(c) >= row.items.size()) return m.Error(absl::StrCat("data row lacks '", V(col), "'"));
  return &row.items[c];
}

absl::StatusOr<std::vector<std::string>> Strings(const StageMeta& m, const Datum& d, std::string_view what) {
  if (d.kind != Datum::Kind::kList) return m.Error(absl::StrCat(V(what), " is not a list of strings"));
  std::vector<std::string> out;
  out.reserve(d.items.size());
  for (const auto& e : d.items) {
    if (e.kind == Datum::Kind::kNull) { out.emplace_back(); continue; }
    if (e.kind != Datum::Kind::kBytes) return m.Error(absl::StrCat(V(what), " holds a non-string"));
    out.push_back(e.bytes);
  }
  return out;
}

absl::StatusOr<int64_t> IntOf(const StageMeta& m, const Datum& d, std::string_view what) {
  if (d.kind == Datum::Kind::kInt) return d.i;
  if (d.kind == Datum::Kind::kDouble && d.d == std::floor(d.d)) return static_cast<int64_t>(d.d);
  return m.Error(absl::StrCat(V(what), " is not an integer"));
}

// Input/output column lists: inputCols/outputCols, or inputCol/outputCol.
absl::Status InOutCols(const StageMeta& m, std::vector<std::string>* in, std::vector<std::string>* out) {
  if (m.Has("inputCols") && m.params["inputCols"].is_array()) {
    ASSIGN_OR_RETURN(*in, m.StrList("inputCols"));
    ASSIGN_OR_RETURN(*out, m.StrList("outputCols"));
  } else {
    ASSIGN_OR_RETURN(std::string i, m.Str("inputCol"));
    ASSIGN_OR_RETURN(std::string o, m.Str("outputCol"));
    *in = {i};
    *out = {o};
  }
  if (in->size() != out->size())
    return m.Error(absl::StrCat(in->size(), " input columns but ", out->size(), " output columns"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> HandleInvalid(const StageMeta& m, std::initializer_list<std::string_view> allowed) {
  std::string h = m.StrOr("handleInvalid", "error");
  for (auto a : allowed)
    if (h == a) return h;
  return m.Error(absl::StrCat("handleInvalid '", h, "' is not supported"));
}

std::string Prefix(const StageMeta& m) { return absl::StrCat(m.ShortClass(), " ", m.uid); }

// Numeric cell value or error naming the column.
inline absl::Status NeedNumber(const Cell& c, const std::string& who, const std::string& col) {
  if (c.kind == Cell::Kind::kNumber) return absl::OkStatus();
  if (c.is_null()) return absl::InvalidArgumentError(absl::StrCat(who, ": column '", V(col), "' is null"));
  return absl::InvalidArgumentError(absl::StrCat(who, ": column '", V(col), "' is not numeric"));
}

// ---- StringIndexerModel -------------------------------------------------

class StringIndexer : public Stage {
 public:
  struct Col {
    std::string in_name;
    int in = -1, out = -1;
    DataType in_type = DataType::kString;
    absl::flat_hash_map<std::string, int> index;
    absl::flat_hash_map<double, int> num_index;  // numeric inputs: value whose cast string is a label
    int num_labels = 0;
  };
  enum class Mode { kError, kSkip, kKeep };
  std::vector<Col> cols;
  Mode mode = Mode::kError;
  std::string who;

  absl::Status Apply(Row& row) const override {
    for (const Col& c : cols) {
      const Cell& in = row.cells[c.in];
      int idx = -1;
      if (in.is_null()) {
        if (mode == Mode::kKeep) idx = c.num_labels;
        else if (mode == Mode::kSkip) return Filter(row, c, "null");
        else
          return absl::InvalidArgumentError(absl::StrCat(
              who, ": column '", c.in_name, "' is null (set handleInvalid to keep or skip)"));
      } else {
        if (in.kind == Cell::Kind::kString) {
          auto it = c.index.find(in.str);
          if (it != c.index.end()) idx = it->second;
        } else if (in.kind == Cell::Kind::kNumber) {
          if (std::isnan(in.num) || (in.num == 0 && std::signbit(in.num))) {
            // "NaN" and "-0.0" are not keys of num_index; rare, so cast.
            auto it = c.index.find(CastToString(in, c.in_type));
            if (it != c.index.end()) idx = it->second;
          } else if (auto it = c.num_index.find(in.num); it != c.num_index.end()) {
            idx = it->second;
          }
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(who, ": column '", c.in_name, "' is not a string or number"));
        }
        if (idx < 0) {
          if (mode == Mode::kKeep) idx = c.num_labels;
          else if (mode == Mode::kSkip) return Filter(row, c, "unseen label");
          else
            return absl::InvalidArgumentError(absl::StrCat(
                who, ": column '", c.in_name, "': unseen label '", CastToString(in, c.in_type),
                "' (set handleInvalid to keep or skip)"));
        }
      }
      row.cells[c.out].SetNumber(idx);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Filter(Row& row, const Col& c, std::string_view why) const {
    row.filtered = true;
    row.filter_reason = absl::StrCat(who, ": ", V(why), " in column '", c.in_name, "'");
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Stage>> MakeStringIndexer(const StageMeta& m, Schema& schema) {
  std::vector<std::string> ins, outs;
  RETURN_IF_ERROR(InOutCols(m, &ins, &outs));
  ASSIGN_OR_RETURN(std::string h, HandleInvalid(m, {"error", "skip", "keep"}));
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  std::vector<std::vector<std::string>> labels;
  if (t.ColumnIndex("labelsArray") >= 0) {
    ASSIGN_OR_RETURN(const Datum* arr, Field(m, t, "labelsArray"));
    if (arr->kind != Datum::Kind::kList) return m.Error("labelsArray is not a list");
    for (const auto& l : arr->items) {
      ASSIGN_OR_RETURN(auto v, Strings(m, l, "labelsArray"));
      labels.push_back(std::move(v));
    }
  } else {
    ASSIGN_OR_RETURN(const Datum* arr, Field(m, t, "labels"));
    ASSIGN_OR_RETURN(auto v, Strings(m, *arr, "labels"));
    labels.push_back(std::move(v));
  }
  if (labels.size() != ins.size())
    return m.Error(absl::StrCat(ins.size(), " input columns but ", labels.size(), " label lists"));
  auto st = std::make_unique<StringIndexer>();
  st->who = Prefix(m);
  st->mode = h == "keep" ? StringIndexer::Mode::kKeep
             : h == "skip" ? StringIndexer::Mode::kSkip
                           : StringIndexer::Mode::kError;
  for (size_t i = 0; i < ins.size(); ++i) {
    // Spark 3 skips an indexer column whose input is absent; a declared
    // serving schema without the label column relies on that.
    if (schema.declared() && schema.Find(ins[i]) < 0) continue;
    StringIndexer::Col c;
    c.in_name = ins[i];
    ASSIGN_OR_RETURN(c.in, schema.Require(ins[i], DataType::kString));
    c.in_type = schema.column(c.in).type;
    if (c.in_type == DataType::kVector || c.in_type == DataType::kStringArray ||
        c.in_type == DataType::kDoubleArray)
      return m.Error(absl::StrCat("column '", ins[i], "' has type ", V(DataTypeName(c.in_type)),
                                  ", not a string or number"));
    c.num_labels = static_cast<int>(labels[i].size());
    for (int k = 0; k < c.num_labels; ++k) {
      c.index.emplace(labels[i][k], k);
      if (IsNumeric(c.in_type)) {
        // A numeric input matches the label equal to its string cast.
        const std::string& s = labels[i][k];
        if (c.in_type == DataType::kBoolean) {
          if (s == "true" || s == "false") c.num_index.emplace(s == "true" ? 1.0 : 0.0, k);
          continue;
        }
        char* end = nullptr;
        double x = s == "NaN" ? std::numeric_limits<double>::quiet_NaN()
                   : s == "Infinity" ? HUGE_VAL
                   : s == "-Infinity" ? -HUGE_VAL
                   : std::strtod(s.c_str(), &end);
        if (end != nullptr && (*end != '\0' || s.empty())) continue;
        Cell probe;
        probe.SetNumber(x);
        if (!std::isnan(x) && !(x == 0 && std::signbit(x)) && CastToString(probe, c.in_type) == s)
          c.num_index.emplace(x, k);
      }
    }
    ColumnInfo out;
    out.name = outs[i];
    out.type = DataType::kDouble;
    out.indexed_from = ins[i];
    Attribute a;
    a.type = Attribute::Type::kNominal;
    a.name = outs[i];
    a.values = labels[i];
    if (st->mode == StringIndexer::Mode::kKeep) a.values.push_back("__unknown");
    a.num_values = static_cast<int>(a.values.size());
    out.attrs.push_back(std::move(a));
    c.out = schema.AddOutput(std::move(out));
    st->reads.push_back(c.in);
    st->writes.push_back(c.out);
    st->cols.push_back(std::move(c));
  }
  return st;
}

// ---- IndexToString ------------------------------------------------------

class IndexToStringStage : public Stage {
 public:
  int in = -1, out = -1;
  std::string in_name, who;
  std::vector<std::string> labels;
  absl::Status Apply(Row& row) const override {
    const Cell& c = row.cells[in];
    if (c.is_null()) {
      row.cells[out].SetNull();
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(NeedNumber(c, who, in_name));
    // Java's (int) cast: truncation toward zero, NaN -> 0, saturating.
    const double v = c.num;
    const int64_t idx = std::isnan(v) ? 0 : v <= -2147483648.0 ? -2147483648LL : v >= 2147483647.0 ? 2147483647LL
                                                                                                    : static_cast<int64_t>(v);
    if (idx < 0 || idx >= static_cast<int64_t>(labels.size()))
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": column '", in_name, "': unseen index ", JavaDoubleToString(v)));
    row.cells[out].SetString(labels[static_cast<size_t>(idx)]);
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Stage>> MakeIndexToString(const StageMeta& m, Schema& schema) {
  ASSIGN_OR_RETURN(std::string in, m.Str("inputCol"));
  ASSIGN_OR_RETURN(std::string out, m.Str("outputCol"));
  auto st = std::make_unique<IndexToStringStage>();
  st->who = Prefix(m);
  st->in_name = in;
  ASSIGN_OR_RETURN(st->in, schema.Require(in, DataType::kDouble));
  if (m.Has("labels")) {
    ASSIGN_OR_RETURN(st->labels, m.StrList("labels"));
  }
  if (st->labels.empty()) {
    const ColumnInfo& c = schema.column(st->in);
    if (c.attrs.size() != 1 || c.attrs[0].type != Attribute::Type::kNominal || c.attrs[0].values.empty())
      return m.Error(absl::StrCat("no labels param and column '", in, "' carries no nominal labels"));
    st->labels = c.attrs[0].values;
  }
  ColumnInfo o;
  o.name = out;
  o.type = DataType::kString;
  st->out = schema.AddOutput(std::move(o));
  st->reads = {st->in};
  st->writes = {st->out};
  return st;
}

// ---- VectorAssembler ----------------------------------------------------

class Assembler : public Stage {
 public:
  struct In {
    std::string name;
    int slot = -1;
    bool is_vector = false;
    int32_t length = -1;  // known element count (1 for numbers)
  };
  enum class Mode { kError, kSkip, kKeep };
  std::vector<In> ins;
  int out = -1;
  Mode mode = Mode::kError;
  std::string who;

  absl::Status Apply(Row& row) const override {
    if (mode == Mode::kSkip) {
      for (const In& in : ins) {
        const Cell& c = row.cells[in.slot];
        if (c.is_null() || (!in.is_vector && c.kind == Cell::Kind::kNumber && std::isnan(c.num))) {
          row.filtered = true;
          row.filter_reason = absl::StrCat(who, ": null or NaN in column '", in.name, "'");
          return absl::OkStatus();
        }
      }
    }
    Vector& v = row.cells[out].MutableVector();
    v.dense = false;
    v.indices.clear();
    v.values.clear();
    int32_t pos = 0;
    for (const In& in : ins) {
      const Cell& c = row.cells[in.slot];
      if (c.is_null()) {
        if (mode != Mode::kKeep) {
          row.cells[out].SetNull();
          return absl::InvalidArgumentError(absl::StrCat(
              who, ": column '", in.name, "' is null (set handleInvalid to keep or skip)"));
        }
        for (int32_t i = 0; i < in.length; ++i) {
          v.indices.push_back(pos + i);
          v.values.push_back(std::numeric_limits<double>::quiet_NaN());
        }
        pos += in.length;
        continue;
      }
      if (!in.is_vector) {
        if (c.kind != Cell::Kind::kNumber) {
          row.cells[out].SetNull();
          return absl::InvalidArgumentError(absl::StrCat(who, ": column '", in.name, "' is not numeric"));
        }
        if (std::isnan(c.num) && mode != Mode::kKeep) {
          row.cells[out].SetNull();
          return absl::InvalidArgumentError(absl::StrCat(
              who, ": column '", in.name, "' is NaN (set handleInvalid to keep or skip)"));
        }
        if (c.num != 0.0) {
          v.indices.push_back(pos);
          v.values.push_back(c.num);
        }
        ++pos;
        continue;
      }
      if (c.kind != Cell::Kind::kVector) {
        row.cells[out].SetNull();
        return absl::InvalidArgumentError(absl::StrCat(who, ": column '", in.name, "' is not a vector"));
      }
      if (in.length >= 0 && c.vec.size != in.length) {
        row.cells[out].SetNull();
        return absl::InvalidArgumentError(absl::StrCat(who, ": column '", in.name, "' has ", c.vec.size,
                                                       " elements, expected ", in.length));
      }
      c.vec.ForEach([&](int32_t i, double x) {
        if (x != 0.0) {
          v.indices.push_back(pos + i);
          v.values.push_back(x);
        }
      });
      pos += c.vec.size;
    }
    v.size = pos;
    // Spark's Vector.compressed: sparse only when it is smaller.
    const int32_t nnz = static_cast<int32_t>(v.values.size());
    if (!(1.5 * (nnz + 1.0) < static_cast<double>(pos))) {
      v.values.resize(static_cast<size_t>(pos));
      int32_t p = pos - 1;
      for (int32_t k = nnz - 1; k >= 0; --k) {
        const int32_t target = v.indices[k];
        const double x = v.values[k];
        while (p > target) v.values[p--] = 0.0;
        v.values[p--] = x;
      }
      while (p >= 0) v.values[p--] = 0.0;
      v.indices.clear();
      v.dense = true;
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Stage>> MakeVectorAssembler(const StageMeta& m, Schema& schema) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, m.StrList("inputCols"));
  ASSIGN_OR_RETURN(std::string out, m.Str("outputCol"));
  ASSIGN_OR_RETURN(std::string h, HandleInvalid(m, {"error", "skip", "keep"}));
  auto st = std::make_unique<Assembler>();
  st->who = Prefix(m);
  st->mode = h == "keep" ? Assembler::Mode::kKeep : h == "skip" ? Assembler::Mode::kSkip : Assembler::Mode::kError;
  std::vector<Attribute> attrs;
  bool attrs_known = true;
  for (const auto& n : names) {
    Assembler::In in;
    in.name = n;
    ASSIGN_OR_RETURN(in.slot, schema.Require(n, DataType::kDouble));
    const ColumnInfo& c = schema.column(in.slot);
    if (IsNumeric(c.type)) {
      in.length = 1;
      Attribute a;
      if (c.type == DataType::kDouble && c.attrs.size() == 1 && c.attrs[0].type != Attribute::Type::kUnresolved)
        a = c.attrs[0];
      else
        a.type = Attribute::Type::kNumeric;
      a.name = n;
      attrs.push_back(std::move(a));
    } else if (c.type == DataType::kVector) {
      in.is_vector = true;
      in.length = !c.attrs.empty() ? static_cast<int32_t>(c.attrs.size()) : c.vector_size;
      if (!c.attrs.empty()) {
        for (size_t i = 0; i < c.attrs.size(); ++i) {
          Attribute a = c.attrs[i];
          if (a.type == Attribute::Type::kUnresolved) a.type = Attribute::Type::kNumeric;
          a.name = a.name.empty() ? absl::StrCat(n, "_", i) : absl::StrCat(n, "_", a.name);
          attrs.push_back(std::move(a));
        }
      } else if (c.vector_size >= 0) {
        for (int32_t i = 0; i < c.vector_size; ++i) {
          Attribute a;
          a.type = Attribute::Type::kNumeric;
          a.name = absl::StrCat(n, "_", i);
          attrs.push_back(std::move(a));
        }
      } else {
        attrs_known = false;
        if (st->mode == Assembler::Mode::kKeep)
          return m.Error(absl::StrCat("handleInvalid=keep needs the size of vector column '", n,
                                      "' (add a VectorSizeHint)"));
      }
    } else {
      return m.Error(absl::StrCat("column '", n, "' has type ", V(DataTypeName(c.type)),
                                  ", which VectorAssembler does not support"));
    }
    st->reads.push_back(in.slot);
    st->ins.push_back(std::move(in));
  }
  ColumnInfo o;
  o.name = out;
  o.type = DataType::kVector;
  if (attrs_known) {
    o.vector_size = static_cast<int32_t>(attrs.size());
    o.attrs = std::move(attrs);
  }
  st->out = schema.AddOutput(std::move(o));
  st->writes = {st->out};
  return st;
}

// ---- OneHotEncoder ------------------------------------------------------

class OneHot : public Stage {
 public:
  struct Col {
    std::string in_name;
    int in = -1, out = -1;
    int32_t categories = 0;  // categories seen in fitting
    int32_t size = 0;        // output vector size
  };
  std::vector<Col> cols;
  bool keep_invalid = false;
  bool legacy = false;  // 2.x transformer: out-of-range index -> all zeros
  std::string who;

  absl::Status Apply(Row& row) const override {
    for (const Col& c : cols) {
      const Cell& in = row.cells[c.in];
      if (in.is_null()) {
        row.cells[c.out].SetNull();
        continue;
      }
      RETURN_IF_ERROR(NeedNumber(in, who, c.in_name));
      const double label = in.num;
      double idx;
      if (legacy) {
        if (!(label >= 0))
          return absl::InvalidArgumentError(absl::StrCat(who, ": column '", c.in_name, "': invalid index ",
                                                         JavaDoubleToString(label)));
        idx = label;
      } else if (label >= 0 && label < c.categories) {
        idx = label;
      } else if (keep_invalid) {
        idx = c.categories;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            who, ": column '", c.in_name, "': ", label < 0 ? "negative" : "unseen", " value ",
            JavaDoubleToString(label), " (set handleInvalid to keep)"));
      }
      Vector& v = row.cells[c.out].MutableVector();
      v.SetSparse(c.size);
      if (idx < c.size) {
        v.indices.push_back(static_cast<int32_t>(idx));
        v.values.push_back(1.0);
      }
    }
    return absl::OkStatus();
  }
};

// Names of the categories of an input column from its attribute, if known.
std::optional<std::vector<std::string>> CategoryNames(const ColumnInfo& c) {
  if (c.attrs.size() != 1) return std::nullopt;
  const Attribute& a = c.attrs[0];
  if (a.type == Attribute::Type::kNominal) {
    if (!a.values.empty()) return a.values;
    if (a.num_values >= 0) {
      std::vector<std::string> out;
      for (int i = 0; i < a.num_values; ++i) out.push_back(std::to_string(i));
      return out;
    }
  }
  if (a.type == Attribute::Type::kBinary) {
    if (!a.values.empty()) return a.values;
    return std::vector<std::string>{"0", "1"};
  }
  return std::nullopt;
}

std::vector<Attribute> BinaryAttrs(const std::vector<std::string>& names) {
  std::vector<Attribute> out;
  for (const auto& n : names) {
    Attribute a;
    a.type = Attribute::Type::kBinary;
    a.name = n;
    out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Stage>> MakeOneHotModel(const StageMeta& m, Schema& schema) {
  std::vector<std::string> ins, outs;
  RETURN_IF_ERROR(InOutCols(m, &ins, &outs));
  ASSIGN_OR_RETURN(std::string h, HandleInvalid(m, {"error", "keep"}));
  const bool drop_last = m.BoolOr("dropLast", true);
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  ASSIGN_OR_RETURN(const Datum* sizes, Field(m, t, "categorySizes"));
  if (sizes->kind != Datum::Kind::kList || sizes->items.size() != ins.size())
    return m.Error("categorySizes does not match the input columns");
  auto st = std::make_unique<OneHot>();
  st->who = Prefix(m);
  st->keep_invalid = h == "keep";
  for (size_t i = 0; i < ins.size(); ++i) {
    OneHot::Col c;
    c.in_name = ins[i];
    ASSIGN_OR_RETURN(int64_t n, IntOf(m, sizes->items[i], "categorySizes"));
    c.categories = static_cast<int32_t>(n);
    c.size = c.categories + (st->keep_invalid ? 1 : 0) - (drop_last ? 1 : 0);
    ASSIGN_OR_RETURN(c.in, schema.Require(ins[i], DataType::kDouble));
    const ColumnInfo& ic = schema.column(c.in);
    if (!IsNumeric(ic.type))
      return m.Error(absl::StrCat("column '", ins[i], "' has type ", V(DataTypeName(ic.type)), ", not numeric"));
    ColumnInfo o;
    o.name = outs[i];
    o.type = DataType::kVector;
    o.vector_size = c.size;
    // Element names: the input's category names (or "0".."n-1" when it has
    // none, or when they disagree with the fitted size), less the dropped
    // last one, plus "invalidValues" when keep adds a slot.
    auto names = CategoryNames(ic);
    if (!names.has_value() || static_cast<int32_t>(names->size()) != c.categories) {
      names = std::vector<std::string>();
      for (int32_t k = 0; k < c.categories; ++k) names->push_back(std::to_string(k));
    }
    if (drop_last && !st->keep_invalid && !names->empty()) names->pop_back();
    else if (!drop_last && st->keep_invalid) names->push_back("invalidValues");
    o.attrs = BinaryAttrs(*names);
    c.out = schema.AddOutput(std::move(o));
    st->reads.push_back(c.in);
    st->writes.push_back(c.out);
    st->cols.push_back(std::move(c));
  }
  return st;
}

// Spark 2.x OneHotEncoder transformer: the category count comes from the
// input column's nominal/binary attribute.
absl::StatusOr<std::unique_ptr<Stage>> MakeOneHotLegacy(const StageMeta& m, Schema& schema) {
  if (m.spark_major >= 3)
    return m.Error("OneHotEncoder in Spark 3 is an estimator; a saved pipeline holds OneHotEncoderModel");
  ASSIGN_OR_RETURN(std::string in, m.Str("inputCol"));
  ASSIGN_OR_RETURN(std::string out, m.Str("outputCol"));
  const bool drop_last = m.BoolOr("dropLast", true);
  auto st = std::make_unique<OneHot>();
  st->who = Prefix(m);
  st->legacy = true;
  OneHot::Col c;
  c.in_name = in;
  ASSIGN_OR_RETURN(c.in, schema.Require(in, DataType::kDouble));
  const ColumnInfo& ic = schema.column(c.in);
  auto names = CategoryNames(ic);
  if (!names.has_value())
    return m.Error(absl::StrCat("column '", in, "' carries no category count (nominal attribute)"));
  if (drop_last && !names->empty()) names->pop_back();
  c.categories = static_cast<int32_t>(names->size());
  c.size = c.categories;
  ColumnInfo o;
  o.name = out;
  o.type = DataType::kVector;
  o.vector_size = c.size;
  o.attrs = BinaryAttrs(*names);
  c.out = schema.AddOutput(std::move(o));
  st->reads = {c.in};
  st->writes = {c.out};
  st->cols.push_back(std::move(c));
  return st;
}

// ---- ColumnPruner, VectorAttributeRewriter ------------------------------

// Compile-time only: both change the schema, not the cells.
class NoOp : public Stage {
 public:
  absl::Status Apply(Row&) const override { return absl::OkStatus(); }
};

absl::StatusOr<std::unique_ptr<Stage>> MakeColumnPruner(const StageMeta& m, Schema& schema) {
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  ASSIGN_OR_RETURN(const Datum* cols, Field(m, t, "columnsToPrune"));
  ASSIGN_OR_RETURN(auto names, Strings(m, *cols, "columnsToPrune"));
  for (const auto& n : names) schema.Drop(n);
  return std::make_unique<NoOp>();
}

absl::StatusOr<std::unique_ptr<Stage>> MakeAttributeRewriter(const StageMeta& m, Schema& schema) {
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  ASSIGN_OR_RETURN(const Datum* vc, Field(m, t, "vectorCol"));
  if (vc->kind != Datum::Kind::kBytes) return m.Error("vectorCol is not a string");
  ASSIGN_OR_RETURN(const Datum* map, Field(m, t, "prefixesToRewrite"));
  std::vector<std::pair<std::string, std::string>> rewrites;
  for (const auto& e : map->items) {
    if (e.kind != Datum::Kind::kStruct || e.items.size() != 2 || e.items[0].kind != Datum::Kind::kBytes)
      return m.Error("prefixesToRewrite is not a map of strings");
    rewrites.emplace_back(e.items[0].bytes,
                          e.items[1].kind == Datum::Kind::kBytes ? e.items[1].bytes : std::string());
  }
  int slot = schema.Find(vc->bytes);
  if (slot < 0) return m.Error(absl::StrCat("column '", vc->bytes, "' does not exist"));
  for (Attribute& a : schema.mutable_column(slot).attrs) {
    if (a.name.empty()) continue;
    for (const auto& [from, to] : rewrites) a.name = absl::StrReplaceAll(a.name, {{from, to}});
  }
  return std::make_unique<NoOp>();
}

// ---- RFormulaModel ------------------------------------------------------

// Casts a numeric formula label to the double label column.
class LabelCast : public Stage {
 public:
  int in = -1, out = -1;
  std::string in_name, who;
  absl::Status Apply(Row& row) const override {
    const Cell& c = row.cells[in];
    if (c.is_null()) {
      row.cells[out].SetNull();
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(NeedNumber(c, who, in_name));
    row.cells[out].SetNumber(c.num);
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Stage>> RejectNested(const StageMeta& m, Schema&) {
  return m.Error("is loaded through LoadStageInto");
}

}  // namespace

// RFormulaModel: its nested pipelineModel/ stages are appended one by one
// (so that pruning can drop the label indexer), then the label cast when
// the formula's label is numeric. Called by LoadStageInto.
absl::Status LoadRFormulaInto(const StageMeta& m, Schema& schema, std::vector<std::unique_ptr<Stage>>* out) {
  const std::string nested = m.dir.empty() ? "pipelineModel" : m.dir + "/pipelineModel";
  RETURN_IF_ERROR(LoadStageInto(*m.source, nested, schema, out));
  ASSIGN_OR_RETURN(parquet::Table t, m.ReadData("data"));
  // ResolvedRFormula is saved as top-level columns (label, terms,
  // hasIntercept); accept a nested struct too.
  std::string label;
  if (t.ColumnIndex("label") >= 0) {
    ASSIGN_OR_RETURN(const Datum* l, Field(m, t, "label"));
    if (l->kind == Datum::Kind::kBytes) label = l->bytes;
  } else {
    ASSIGN_OR_RETURN(const Datum* f, Field(m, t, "resolvedFormula"));
    if (f->kind == Datum::Kind::kStruct && !f->items.empty() && f->items[0].kind == Datum::Kind::kBytes)
      label = f->items[0].bytes;
  }
  const std::string label_col = m.StrOr("labelCol", "label");
  if (label.empty()) return absl::OkStatus();
  int existing = schema.Find(label_col);
  if (existing >= 0) {
    if (schema.column(existing).indexed_from.empty() && !schema.column(existing).is_input)
      schema.mutable_column(existing).indexed_from = label;
    return absl::OkStatus();
  }
  // Spark ignores an absent label column; a declared schema without it means
  // a serving schema.
  if (schema.declared() && schema.Find(label) < 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(int in, schema.Require(label, DataType::kDouble));
  if (!IsNumeric(schema.column(in).type))
    return m.Error(absl::StrCat("label column '", label, "' has unsupported type ",
                                V(DataTypeName(schema.column(in).type))));
  auto st = std::make_unique<LabelCast>();
  st->who = Prefix(m);
  st->in = in;
  st->in_name = label;
  ColumnInfo o;
  o.name = label_col;
  o.type = DataType::kDouble;
  o.indexed_from = label;
  st->out = schema.AddOutput(std::move(o));
  st->reads = {in};
  st->writes = {st->out};
  st->name = absl::StrCat(m.ShortClass(), " ", m.uid);
  out->push_back(std::move(st));
  return absl::OkStatus();
}

void RegisterCoreStages(StageRegistry& r) {
  r.Add("org.apache.spark.ml.feature.StringIndexerModel", MakeStringIndexer);
  r.Add("org.apache.spark.ml.feature.IndexToString", MakeIndexToString);
  r.Add("org.apache.spark.ml.feature.VectorAssembler", MakeVectorAssembler);
  r.Add("org.apache.spark.ml.feature.OneHotEncoderModel", MakeOneHotModel);
  r.Add("org.apache.spark.ml.feature.OneHotEncoder", MakeOneHotLegacy);
  r.Add("org.apache.spark.ml.feature.ColumnPruner", MakeColumnPruner);
  r.Add("org.apache.spark.ml.feature.VectorAttributeRewriter", MakeAttributeRewriter);
  // Handled by LoadStageInto (they nest other stages).
  r.Add("org.apache.spark.ml.feature.RFormulaModel", RejectNested);
  r.Add("org.apache.spark.ml.PipelineModel", RejectNested);
  r.Add("org.apache.spark.ml.tuning.TrainValidationSplitModel", RejectNested);
  r.Add("org.apache.spark.ml.tuning.CrossValidatorModel", RejectNested);
}

}  // namespace evs::spark
