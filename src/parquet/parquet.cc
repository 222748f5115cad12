#include "parquet/parquet.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "parquet/column_reader.h"
#include "parquet/metadata.h"

namespace evs::parquet {
namespace {

using internal::ColumnData;
using internal::FileMetaData;
using internal::LeafColumn;
using internal::SchemaElement;

// Assembly plan for one logical node: the definition level at which it is
// present (non-null), and for lists the level at which an element exists
// and the repetition level that starts a new element.
struct PlanNode {
  SchemaNode::Kind kind = SchemaNode::Kind::kStruct;
  int def = 0;
  int elem_def = 0;
  int rep = 0;
  int leaf = -1;  // leaf column index
  int index = 0;  // position in the parent's items
  std::vector<PlanNode> children;
};

struct Schema {
  SchemaNode root;
  PlanNode plan;
  std::vector<LeafColumn> leaves;
  std::vector<std::vector<const PlanNode*>> chains;  // per leaf: top-level node .. leaf
};

class SchemaBuilder {
 public:
  SchemaBuilder(const std::vector<SchemaElement>& elems, const ReadOptions& opts)
      : elems_(elems), opts_(opts) {}

  absl::Status Build(Schema* out) {
    if (elems_.empty()) return Error("empty schema");
    const SchemaElement& root = elems_[0];
    out->root.name = root.name;
    out->root.kind = SchemaNode::Kind::kStruct;
    out->root.optional = false;
    out_ = out;
    next_ = 1;
    int n = root.num_children.value_or(0);
    if (n < 0 || static_cast<size_t>(n) > elems_.size() - 1)
      return Error("root has an impossible number of children");
    for (int i = 0; i < n; ++i) {
      SchemaNode node;
      PlanNode plan;
      std::vector<std::string> path;
      if (auto s = Field(0, 0, false, 1, path, &node, &plan); !s.ok()) return s;
      plan.index = i;
      out->root.children.push_back(std::move(node));
      out->plan.children.push_back(std::move(plan));
    }
    if (next_ != elems_.size()) return Error("schema has elements outside the tree");
    out->chains.assign(out->leaves.size(), {});
    std::vector<const PlanNode*> chain;
    for (const PlanNode& c : out->plan.children) Chains(c, &chain);
    return absl::OkStatus();
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("parquet schema: ", what));
  }

  void Chains(const PlanNode& n, std::vector<const PlanNode*>* chain) {
    chain->push_back(&n);
    if (n.leaf >= 0) out_->chains[n.leaf] = *chain;
    for (const PlanNode& c : n.children) Chains(c, chain);
    chain->pop_back();
  }

  // Consumes the element at next_ (and its subtree). `def`/`rep` are the
  // parent's levels; `as_required` treats a repeated element as the required
  // element of the list it forms.
  absl::Status Field(int def, int rep, bool as_required, size_t depth,
                     std::vector<std::string>& path, SchemaNode* node, PlanNode* plan) {
    if (depth > opts_.max_nesting)
      return Error(absl::StrCat("nesting deeper than ", opts_.max_nesting, " at '",
                                absl::StrJoin(path, "."), "'"));
    if (next_ >= elems_.size()) return Error("fewer elements than the tree needs");
    const size_t self = next_;
    const SchemaElement& e = elems_[self];
    int32_t repetition = e.repetition.value_or(internal::kOptional);
    if (repetition == internal::kRepeated && !as_required) {
      // A bare repeated field: a list of required elements.
      node->name = e.name;
      node->kind = SchemaNode::Kind::kList;
      node->optional = false;
      plan->kind = SchemaNode::Kind::kList;
      plan->def = def;
      plan->elem_def = def + 1;
      plan->rep = rep + 1;
      SchemaNode elem;
      PlanNode eplan;
      if (auto s = Field(def + 1, rep + 1, true, depth + 1, path, &elem, &eplan); !s.ok())
        return s;
      node->children.push_back(std::move(elem));
      plan->children.push_back(std::move(eplan));
      return absl::OkStatus();
    }
    ++next_;
    path.push_back(e.name);
    const bool optional = !as_required && repetition == internal::kOptional;
    const int d = def + (optional ? 1 : 0);
    node->name = e.name;
    node->optional = optional;
    plan->def = d;
    const int conv = e.converted_type.value_or(-1);
    const int nchildren = e.num_children.value_or(0);
    if (!e.num_children.has_value() || e.type.has_value()) {
      if (e.num_children.has_value() && nchildren != 0)
        return Error(absl::StrCat("'", absl::StrJoin(path, "."), "' has a type and children"));
      if (auto s = Leaf(e, d, rep, path, node, plan); !s.ok()) return s;
      path.pop_back();
      return absl::OkStatus();
    }
    if (nchildren < 0 || static_cast<size_t>(nchildren) > elems_.size() - next_)
      return Error(absl::StrCat("'", absl::StrJoin(path, "."),
                                "' has an impossible number of children"));
    const bool is_list = conv == internal::kList || e.logical.is_list;
    const bool is_map =
        conv == internal::kMap || conv == internal::kMapKeyValue || e.logical.is_map;
    if ((is_list || is_map) && nchildren == 1 &&
        elems_[next_].repetition.value_or(0) == internal::kRepeated) {
      const SchemaElement& r = elems_[next_];
      node->kind = is_map ? SchemaNode::Kind::kMap : SchemaNode::Kind::kList;
      plan->kind = SchemaNode::Kind::kList;
      plan->elem_def = d + 1;
      plan->rep = rep + 1;
      const bool r_group = r.num_children.has_value() && !r.type.has_value();
      if (is_map) {
        if (!r_group || r.num_children.value_or(0) != 2)
          return Error(absl::StrCat("map '", absl::StrJoin(path, "."),
                                    "' does not have a key and a value"));
        ++next_;
        PlanNode entry;
        entry.kind = SchemaNode::Kind::kStruct;
        entry.def = d + 1;
        path.push_back(r.name);
        for (int i = 0; i < 2; ++i) {
          SchemaNode kv;
          PlanNode kvplan;
          if (auto s = Field(d + 1, rep + 1, false, depth + 2, path, &kv, &kvplan); !s.ok())
            return s;
          kvplan.index = i;
          node->children.push_back(std::move(kv));
          entry.children.push_back(std::move(kvplan));
        }
        path.pop_back();
        plan->children.push_back(std::move(entry));
      } else {
        const bool three_level = r_group && r.num_children.value_or(0) == 1 &&
                                 r.name != "array" && r.name != e.name + "_tuple";
        SchemaNode elem;
        PlanNode eplan;
        if (three_level) {
          ++next_;
          path.push_back(r.name);
          if (auto s = Field(d + 1, rep + 1, false, depth + 2, path, &elem, &eplan); !s.ok())
            return s;
          path.pop_back();
        } else {
          if (auto s = Field(d + 1, rep + 1, true, depth + 1, path, &elem, &eplan); !s.ok())
            return s;
        }
        node->children.push_back(std::move(elem));
        plan->children.push_back(std::move(eplan));
      }
      path.pop_back();
      return absl::OkStatus();
    }
    if (is_map || is_list)
      return Error(absl::StrCat("'", absl::StrJoin(path, "."),
                                "' is annotated LIST/MAP but is not one repeated group"));
    node->kind = SchemaNode::Kind::kStruct;
    plan->kind = SchemaNode::Kind::kStruct;
    for (int i = 0; i < nchildren; ++i) {
      SchemaNode c;
      PlanNode cp;
      if (auto s = Field(d, rep, false, depth + 1, path, &c, &cp); !s.ok()) return s;
      cp.index = i;
      node->children.push_back(std::move(c));
      plan->children.push_back(std::move(cp));
    }
    path.pop_back();
    return absl::OkStatus();
  }

  absl::Status Leaf(const SchemaElement& e, int d, int rep, const std::vector<std::string>& path,
                    SchemaNode* node, PlanNode* plan) {
    const std::string name = absl::StrJoin(path, ".");
    if (!e.type.has_value()) return Error(absl::StrCat("'", name, "' has no type"));
    LeafColumn col;
    col.path = name;
    col.parts = path;
    col.physical = *e.type;
    col.type_length = e.type_length;
    col.max_def = d;
    col.max_rep = rep;
    const int conv = e.converted_type.value_or(-1);
    col.unsigned_int = conv == internal::kUint8 || conv == internal::kUint16 ||
                       conv == internal::kUint32 || e.logical.is_unsigned_int;
    switch (*e.type) {
      case internal::kBoolean: node->kind = SchemaNode::Kind::kBool; break;
      case internal::kInt32:
      case internal::kInt64: node->kind = SchemaNode::Kind::kInt; break;
      case internal::kFloatType: node->kind = SchemaNode::Kind::kFloat; break;
      case internal::kDoubleType: node->kind = SchemaNode::Kind::kDouble; break;
      case internal::kByteArray:
      case internal::kFixedLenByteArray:
        node->kind = SchemaNode::Kind::kBinary;
        node->is_string = conv == internal::kUtf8 || conv == internal::kEnum ||
                          conv == internal::kJson || e.logical.is_string;
        break;
      case internal::kInt96:
        return Error(absl::StrCat("column '", name, "': physical type INT96 not supported"));
      default:
        return Error(absl::StrCat("column '", name, "': unknown physical type ", *e.type));
    }
    plan->kind = node->kind;
    plan->leaf = static_cast<int>(out_->leaves.size());
    out_->leaves.push_back(std::move(col));
    return absl::OkStatus();
  }

  const std::vector<SchemaElement>& elems_;
  const ReadOptions& opts_;
  Schema* out_ = nullptr;
  size_t next_ = 0;
};

Datum NewStruct(size_t n) {
  Datum d;
  d.kind = Datum::Kind::kStruct;
  d.items.resize(n);
  return d;
}

// Writes one column's values into the rows of a row group (Dremel record
// assembly, one column at a time). List element positions are tracked per
// repeated level so that every column under the same list fills the same
// elements.
absl::Status Assemble(const Schema& schema, int leaf, const ColumnData& data,
                      size_t top_fields, const ReadOptions& opts, size_t rows_before,
                      std::vector<Datum>* rows) {
  const LeafColumn& col = schema.leaves[leaf];
  const std::vector<const PlanNode*>& chain = schema.chains[leaf];
  std::vector<size_t> cur(chain.size(), 0);
  size_t value = 0;
  size_t row = 0;
  bool started = false;
  for (size_t slot = 0; slot < data.num_slots; ++slot) {
    const int r = col.max_rep > 0 ? data.reps[slot] : 0;
    const int d = col.max_def > 0 ? data.defs[slot] : 0;
    if (r == 0) {
      if (started) ++row;
      started = true;
      if (row >= rows->size()) {
        if (rows_before + rows->size() >= opts.max_rows)
          return absl::InvalidArgumentError(
              absl::StrCat("parquet: more than ", opts.max_rows, " rows"));
        rows->push_back(NewStruct(top_fields));
      }
    } else if (!started) {
      return absl::InvalidArgumentError(
          absl::StrCat("parquet column '", col.path, "': first value continues a row"));
    }
    for (size_t k = 0; k < chain.size(); ++k) {
      const PlanNode* n = chain[k];
      if (n->kind == SchemaNode::Kind::kList && n->leaf < 0) {
        if (n->rep > r) cur[k] = 0;
        else if (n->rep == r) ++cur[k];
      }
    }
    Datum* slot_datum = &(*rows)[row].items[chain[0]->index];
    for (size_t k = 0; k < chain.size(); ++k) {
      const PlanNode* n = chain[k];
      if (d < n->def) break;
      if (n->leaf >= 0) {
        if (d == col.max_def) {
          if (value >= data.values.size())
            return absl::InvalidArgumentError(
                absl::StrCat("parquet column '", col.path, "': fewer values than levels"));
          *slot_datum = data.values[value++];
        }
        break;
      }
      if (n->kind == SchemaNode::Kind::kStruct) {
        if (slot_datum->kind != Datum::Kind::kStruct) *slot_datum = NewStruct(n->children.size());
        if (k + 1 >= chain.size()) break;
        slot_datum = &slot_datum->items[chain[k + 1]->index];
        continue;
      }
      // List (or map: a list of key/value structs).
      if (slot_datum->kind != Datum::Kind::kList) {
        *slot_datum = Datum();
        slot_datum->kind = Datum::Kind::kList;
      }
      if (d < n->elem_def) break;
      size_t e = cur[k];
      if (e > slot_datum->items.size())
        return absl::InvalidArgumentError(
            absl::StrCat("parquet column '", col.path, "': inconsistent repetition levels"));
      if (e == slot_datum->items.size()) slot_datum->items.emplace_back();
      slot_datum = &slot_datum->items[e];
    }
  }
  if (value != data.values.size())
    return absl::InvalidArgumentError(
        absl::StrCat("parquet column '", col.path, "': more values than levels"));
  size_t produced = started ? row + 1 : 0;
  if (produced != rows->size())
    return absl::InvalidArgumentError(absl::StrCat("parquet column '", col.path, "': ", produced,
                                                   " rows, other columns have ", rows->size()));
  return absl::OkStatus();
}

bool SameSchema(const SchemaNode& a, const SchemaNode& b) {
  if (a.name != b.name || a.kind != b.kind || a.optional != b.optional ||
      a.is_string != b.is_string || a.children.size() != b.children.size())
    return false;
  for (size_t i = 0; i < a.children.size(); ++i)
    if (!SameSchema(a.children[i], b.children[i])) return false;
  return true;
}

void JsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) absl::StrAppendFormat(out, "\\u%04x", c);
        else out->push_back(ch);
    }
  }
  out->push_back('"');
}

void JsonValue(const SchemaNode* node, const Datum& d, std::string* out) {
  switch (d.kind) {
    case Datum::Kind::kNull: out->append("null"); return;
    case Datum::Kind::kBool: out->append(d.b ? "true" : "false"); return;
    case Datum::Kind::kInt: absl::StrAppend(out, d.i); return;
    case Datum::Kind::kDouble:
      if (std::isnan(d.d)) out->append("\"NaN\"");
      else if (std::isinf(d.d)) out->append(d.d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      else absl::StrAppendFormat(out, "%.17g", d.d);
      return;
    case Datum::Kind::kBytes:
      if (node != nullptr && node->is_string) {
        JsonString(d.bytes, out);
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        out->append("\"0x");
        for (unsigned char c : d.bytes) {
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        }
        out->push_back('"');
      }
      return;
    case Datum::Kind::kList: {
      out->push_back('[');
      const bool is_map = node != nullptr && node->kind == SchemaNode::Kind::kMap;
      const SchemaNode* elem =
          node != nullptr && !is_map && !node->children.empty() ? &node->children[0] : nullptr;
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i > 0) out->push_back(',');
        // A map entry prints as a struct of its key and value nodes.
        if (is_map) {
          const Datum& entry = d.items[i];
          out->push_back('{');
          for (size_t j = 0; j < entry.items.size() && j < node->children.size(); ++j) {
            if (j > 0) out->push_back(',');
            JsonString(node->children[j].name, out);
            out->push_back(':');
            JsonValue(&node->children[j], entry.items[j], out);
          }
          out->push_back('}');
        } else {
          JsonValue(elem, d.items[i], out);
        }
      }
      out->push_back(']');
      return;
    }
    case Datum::Kind::kStruct: {
      out->push_back('{');
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i > 0) out->push_back(',');
        const SchemaNode* c =
            node != nullptr && i < node->children.size() ? &node->children[i] : nullptr;
        JsonString(c != nullptr ? c->name : absl::StrCat("_", i), out);
        out->push_back(':');
        JsonValue(c, d.items[i], out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

int SchemaNode::Child(std::string_view child_name) const {
  for (size_t i = 0; i < children.size(); ++i)
    if (children[i].name == child_name) return static_cast<int>(i);
  return -1;
}

absl::StatusOr<double> Datum::AsDouble() const {
  switch (kind) {
    case Kind::kInt: return static_cast<double>(i);
    case Kind::kDouble: return d;
    case Kind::kBool: return b ? 1.0 : 0.0;
    default: return absl::InvalidArgumentError("parquet value is not a number");
  }
}

absl::StatusOr<int64_t> Datum::AsInt() const {
  switch (kind) {
    case Kind::kInt: return i;
    case Kind::kBool: return b ? 1 : 0;
    case Kind::kDouble:
      // Integral doubles only; the range check keeps the cast defined.
      if (std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return static_cast<int64_t>(d);
      return absl::InvalidArgumentError(absl::StrCat("parquet value ", d, " is not an integer"));
    default: return absl::InvalidArgumentError("parquet value is not a number");
  }
}

absl::StatusOr<Table> ReadBytes(std::string_view file, const ReadOptions& opts) {
  if (file.size() > opts.max_file_bytes)
    return absl::InvalidArgumentError(absl::StrCat("parquet: file of ", file.size(),
                                                   " bytes exceeds the cap of ",
                                                   opts.max_file_bytes));
  if (file.size() < 12)
    return absl::InvalidArgumentError(
        absl::StrCat("parquet: file of ", file.size(), " bytes is too short"));
  if (file.substr(0, 4) != "PAR1" || file.substr(file.size() - 4) != "PAR1")
    return absl::InvalidArgumentError("parquet: bad magic (not a PAR1 file, or encrypted)");
  uint32_t footer_len;
  std::memcpy(&footer_len, file.data() + file.size() - 8, 4);
  if (footer_len > file.size() - 12)
    return absl::InvalidArgumentError(absl::StrCat("parquet: footer length ", footer_len,
                                                   " beyond the file of ", file.size(),
                                                   " bytes"));
  const size_t footer_start = file.size() - 8 - footer_len;
  FileMetaData meta;
  if (auto s = internal::ParseFileMetaData(file.substr(footer_start, footer_len), footer_start,
                                           &meta);
      !s.ok())
    return s;
  Schema schema;
  if (auto s = SchemaBuilder(meta.schema, opts).Build(&schema); !s.ok()) return s;

  Table table;
  table.schema = schema.root;
  const size_t top = schema.root.children.size();
  // Column chunks must lie before the footer.
  std::string_view body = file.substr(0, footer_start);
  for (size_t g = 0; g < meta.row_groups.size(); ++g) {
    const internal::RowGroup& rg = meta.row_groups[g];
    if (rg.num_rows < 0 || static_cast<uint64_t>(rg.num_rows) > opts.max_rows ||
        table.rows.size() + static_cast<uint64_t>(rg.num_rows) > opts.max_rows)
      return absl::InvalidArgumentError(absl::StrCat("parquet: row group ", g, " has ",
                                                     rg.num_rows, " rows, cap is ",
                                                     opts.max_rows));
    if (rg.columns.size() != schema.leaves.size())
      return absl::InvalidArgumentError(absl::StrCat("parquet: row group ", g, " has ",
                                                     rg.columns.size(), " columns, schema has ",
                                                     schema.leaves.size()));
    if (rg.num_rows == 0) continue;
    std::vector<Datum> rows;
    for (size_t c = 0; c < schema.leaves.size(); ++c) {
      const LeafColumn& col = schema.leaves[c];
      if (!rg.columns[c].has_meta)
        return absl::InvalidArgumentError(
            absl::StrCat("parquet column '", col.path, "': no column metadata"));
      const internal::ColumnMetaData& cm = rg.columns[c].meta;
      if (!cm.path.empty() && cm.path != col.parts)
        return absl::InvalidArgumentError(absl::StrCat("parquet: row group ", g, " column ", c,
                                                       " is '", absl::StrJoin(cm.path, "."),
                                                       "', schema says '", col.path, "'"));
      ColumnData data;
      if (auto s = internal::ReadColumnChunk(body, col, cm, opts, &data); !s.ok()) return s;
      if (auto s = Assemble(schema, static_cast<int>(c), data, top, opts, table.rows.size(),
                            &rows);
          !s.ok())
        return s;
    }
    if (schema.leaves.empty() || rows.size() != static_cast<size_t>(rg.num_rows))
      return absl::InvalidArgumentError(absl::StrCat("parquet: row group ", g, " declares ",
                                                     rg.num_rows, " rows, columns hold ",
                                                     rows.size()));
    for (Datum& r : rows) table.rows.push_back(std::move(r));
  }
  return table;
}

absl::StatusOr<Table> ReadParts(const std::vector<std::string_view>& files,
                                const ReadOptions& opts) {
  if (files.empty()) return absl::InvalidArgumentError("parquet: no part files");
  Table out;
  for (size_t i = 0; i < files.size(); ++i) {
    ReadOptions part_opts = opts;
    part_opts.max_rows = opts.max_rows - out.rows.size();
    absl::StatusOr<Table> t = ReadBytes(files[i], part_opts);
    if (!t.ok())
      return absl::Status(t.status().code(),
                          absl::StrCat("part ", i, ": ", t.status().message()));
    if (i == 0) {
      out = std::move(*t);
      continue;
    }
    if (!SameSchema(out.schema, t->schema))
      return absl::InvalidArgumentError(
          absl::StrCat("parquet: part ", i, " has a different schema than part 0"));
    for (Datum& r : t->rows) out.rows.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<Table> ReadFile(const std::string& path, const ReadOptions& opts) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return absl::NotFoundError(absl::StrCat("parquet: cannot stat '", path, "': ",
                                            std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat("parquet: '", path, "' is not a file"));
  if (static_cast<uint64_t>(st.st_size) > opts.max_file_bytes)
    return absl::InvalidArgumentError(absl::StrCat("parquet: '", path, "' has ", st.st_size,
                                                   " bytes, cap is ", opts.max_file_bytes));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("parquet: cannot open '", path, "'"));
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size()))
    return absl::DataLossError(absl::StrCat("parquet: short read of '", path, "'"));
  absl::StatusOr<Table> t = ReadBytes(bytes, opts);
  if (!t.ok())
    return absl::Status(t.status().code(), absl::StrCat(path, ": ", t.status().message()));
  return t;
}

std::string ToJsonLines(const Table& t) {
  std::string out;
  for (const Datum& row : t.rows) {
    JsonValue(&t.schema, row, &out);
    out.push_back('\n');
  }
  return out;
}

}  // namespace evs::parquet
