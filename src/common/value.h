#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evs {

// A field value of a decoded event. Numbers are doubles (as in JSON and PMML);
// nested objects and arrays are kept as minified JSON text (kRaw) because no
// transform looks inside them. Cheap to move; copying copies the string.
enum class ValueType : uint8_t { kNull, kBool, kNumber, kString, kRaw };

class Value {
 public:
  Value() = default;
  static Value Null() { return Value(); }
  static Value Bool(bool b) {
    Value v;
    v.type_ = ValueType::kBool;
    v.num_ = b ? 1 : 0;
    return v;
  }
  static Value Number(double d) {
    Value v;
    v.type_ = ValueType::kNumber;
    v.num_ = d;
    return v;
  }
  static Value String(std::string s) {
    Value v;
    v.type_ = ValueType::kString;
    v.str_ = std::move(s);
    return v;
  }
  static Value Raw(std::string json) {
    Value v;
    v.type_ = ValueType::kRaw;
    v.str_ = std::move(json);
    return v;
  }

  ValueType type() const { return type_; }
  bool is_null() const { return type_ == ValueType::kNull; }
  bool is_number() const { return type_ == ValueType::kNumber; }
  bool is_string() const { return type_ == ValueType::kString; }
  bool is_bool() const { return type_ == ValueType::kBool; }
  bool as_bool() const { return num_ != 0; }
  double as_number() const { return num_; }
  // The string of kString, the JSON text of kRaw.
  const std::string& as_string() const { return str_; }

  bool operator==(const Value& o) const {
    if (type_ != o.type_) return false;
    switch (type_) {
      case ValueType::kNull: return true;
      case ValueType::kBool:
      case ValueType::kNumber: return num_ == o.num_;
      default: return str_ == o.str_;
    }
  }

  // A short human-readable rendering for error messages and CSV output.
  std::string DebugString() const;

 private:
  ValueType type_ = ValueType::kNull;
  double num_ = 0;
  std::string str_;
};

const char* ValueTypeName(ValueType t);

struct Field {
  std::string name;
  Value value;
};

// An event as an ordered list of named fields. Lookups are linear: events
// have tens of fields, where a scan beats hashing and keeps input order,
// which the JSON encoder preserves.
class Record {
 public:
  const Value* Find(std::string_view name) const {
    for (const Field& f : fields_)
      if (f.name == name) return &f.value;
    return nullptr;
  }
  Value* FindMutable(std::string_view name) {
    for (Field& f : fields_)
      if (f.name == name) return &f.value;
    return nullptr;
  }
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  // Replaces the value of an existing field or appends a new one.
  void Set(std::string_view name, Value v) {
    if (Value* cur = FindMutable(name)) {
      *cur = std::move(v);
      return;
    }
    fields_.push_back(Field{std::string(name), std::move(v)});
  }
  // Appends without checking for an existing field (decoders that have
  // already rejected duplicates use this).
  void Append(std::string name, Value v) { fields_.push_back(Field{std::move(name), std::move(v)}); }
  bool Erase(std::string_view name);
  // Renames a field in place; false when `from` is absent. An existing field
  // named `to` is replaced.
  bool Rename(std::string_view from, std::string_view to);

  const std::vector<Field>& fields() const { return fields_; }
  std::vector<Field>& mutable_fields() { return fields_; }
  size_t size() const { return fields_.size(); }
  void Clear() { fields_.clear(); }
  bool operator==(const Record& o) const;

 private:
  std::vector<Field> fields_;
};

// What went wrong with one event: dead-lettered with these three strings.
// stage is where (decode, route, transform, limit, produce, ...), code is a
// stable machine-readable token (invalid_json, missing_field, ...), message
// is for people.
struct EventError {
  std::string stage;
  std::string code;
  std::string message;
};

}  // namespace evs
