#include "common/value.h"

#include <charconv>

#include "common/json_writer.h"

namespace evs {

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNull: return "null";
    case ValueType::kBool: return "bool";
    case ValueType::kNumber: return "number";
    case ValueType::kString: return "string";
    case ValueType::kRaw: return "object/array";
  }
  return "?";
}

std::string Value::DebugString() const {
  switch (type_) {
    case ValueType::kNull: return "null";
    case ValueType::kBool: return num_ != 0 ? "true" : "false";
    case ValueType::kNumber: {
      std::string s;
      AppendJsonNumber(num_, &s);
      return s;
    }
    case ValueType::kString:
    case ValueType::kRaw: return str_;
  }
  return "";
}

bool Record::Erase(std::string_view name) {
  for (auto it = fields_.begin(); it != fields_.end(); ++it) {
    if (it->name == name) {
      fields_.erase(it);
      return true;
    }
  }
  return false;
}

bool Record::Rename(std::string_view from, std::string_view to) {
  if (from == to) return Has(from);
  auto src = fields_.end();
  for (auto it = fields_.begin(); it != fields_.end(); ++it)
    if (it->name == from) src = it;
  if (src == fields_.end()) return false;
  Erase(to);
  for (Field& f : fields_)
    if (f.name == from) f.name = std::string(to);
  return true;
}

bool Record::operator==(const Record& o) const {
  if (fields_.size() != o.fields_.size()) return false;
  for (size_t i = 0; i < fields_.size(); ++i)
    if (fields_[i].name != o.fields_[i].name || !(fields_[i].value == o.fields_[i].value))
      return false;
  return true;
}

}  // namespace evs
