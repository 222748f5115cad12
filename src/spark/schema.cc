#include "spark/schema.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace evs::spark {

namespace {
// Debian's abseil has its own string_view: StrCat and hash lookups need it.
inline absl::string_view V(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

namespace {

absl::StatusOr<DataType> ParseType(const nlohmann::json& t, const std::string& field) {
  if (t.is_string()) {
    const std::string s = t.get<std::string>();
    if (s == "integer" || s == "short" || s == "byte") return DataType::kInteger;
    if (s == "long") return DataType::kLong;
    if (s == "double") return DataType::kDouble;
    if (s == "float") return DataType::kFloat;
    if (s == "boolean") return DataType::kBoolean;
    if (s == "string") return DataType::kString;
    return absl::InvalidArgumentError(
        absl::StrCat("schema field '", V(field), "': type '", s, "' is not supported"));
  }
  if (t.is_object()) {
    const std::string kind = t.value("type", "");
    if (kind == "udt") {
      const std::string cls = t.value("class", "");
      if (cls == "org.apache.spark.ml.linalg.VectorUDT" ||
          cls == "org.apache.spark.mllib.linalg.VectorUDT")
        return DataType::kVector;
      return absl::InvalidArgumentError(
          absl::StrCat("schema field '", V(field), "': user type '", cls, "' is not supported"));
    }
    if (kind == "array") {
      const auto& e = t.contains("elementType") ? t["elementType"] : nlohmann::json();
      if (e.is_string() && e.get<std::string>() == "string") return DataType::kStringArray;
      if (e.is_string() && (e.get<std::string>() == "double" || e.get<std::string>() == "float"))
        return DataType::kDoubleArray;
      return absl::InvalidArgumentError(
          absl::StrCat("schema field '", V(field), "': array of ", e.dump(), " is not supported"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("schema field '", V(field), "': type ", t.dump(), " is not supported"));
}

}  // namespace

absl::StatusOr<Schema> Schema::FromStructType(std::string_view struct_type_json) {
  nlohmann::json j = nlohmann::json::parse(struct_type_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError("schema: not a JSON object");
  if (j.value("type", "") != "struct" || !j.contains("fields") || !j["fields"].is_array())
    return absl::InvalidArgumentError("schema: expected a Spark StructType {\"type\":\"struct\",\"fields\":[..]}");
  Schema s;
  s.declared_ = true;
  for (const auto& f : j["fields"]) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("type"))
      return absl::InvalidArgumentError("schema: a field lacks name or type");
    ColumnInfo c;
    c.name = f["name"].get<std::string>();
    auto t = ParseType(f["type"], c.name);
    if (!t.ok()) return t.status();
    c.type = *t;
    c.is_input = true;
    if (c.type == DataType::kVector && f.contains("metadata") && f["metadata"].is_object()) {
      const auto& md = f["metadata"];
      if (md.contains("ml_attr") && md["ml_attr"].is_object() && md["ml_attr"].contains("num_attrs") &&
          md["ml_attr"]["num_attrs"].is_number_integer())
        c.vector_size = md["ml_attr"]["num_attrs"].get<int32_t>();
    }
    if (s.Find(c.name) >= 0)
      return absl::InvalidArgumentError(absl::StrCat("schema: field '", c.name, "' declared twice"));
    s.declared_inputs_.push_back(c);
    s.AddOutput(std::move(c));
  }
  return s;
}

int Schema::Find(std::string_view name) const {
  auto it = by_name_.find(V(name));
  return it == by_name_.end() ? -1 : it->second;
}

absl::StatusOr<int> Schema::Require(std::string_view name, DataType wanted) {
  int slot = Find(name);
  if (slot >= 0) return slot;
  if (declared_)
    return absl::InvalidArgumentError(
        absl::StrCat("column '", V(name), "' is not in the input schema"));
  ColumnInfo c;
  c.name = std::string(name);
  c.type = wanted;
  c.is_input = true;
  return AddOutput(std::move(c));
}

int Schema::AddOutput(ColumnInfo info) {
  int slot = static_cast<int>(columns_.size());
  if (!info.name.empty()) by_name_[info.name] = slot;
  columns_.push_back(std::move(info));
  return slot;
}

int Schema::AddScratch() {
  int slot = static_cast<int>(columns_.size());
  columns_.emplace_back();
  return slot;
}

void Schema::Drop(std::string_view name) {
  auto it = by_name_.find(V(name));
  if (it != by_name_.end()) by_name_.erase(it);
}

std::vector<std::string> Schema::VisibleColumns() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < columns_.size(); ++i) {
    const auto& c = columns_[i];
    if (c.name.empty()) continue;
    auto it = by_name_.find(c.name);
    if (it != by_name_.end() && it->second == static_cast<int>(i)) out.push_back(c.name);
  }
  return out;
}

}  // namespace evs::spark
