#include "transform/transform.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "common/json_writer.h"
#include "fmt/format.h"
#include "transform/expr.h"
#include "yaml-cpp/yaml.h"

namespace evs::transform {
namespace {

enum class StepKind : uint8_t {
  kRename, kSelect, kDrop, kSet, kDefault, kCast, kMapValues, kDerive, kRequire, kRound,
};

enum class CastType : uint8_t { kDouble, kInt, kString, kBool };

const char* CastTypeName(CastType t) {
  switch (t) {
    case CastType::kDouble: return "double";
    case CastType::kInt: return "int";
    case CastType::kString: return "string";
    case CastType::kBool: return "bool";
  }
  return "?";
}

constexpr int kMaxRoundDigits = 15;

// One configured step; only the members of its kind are used.
struct Step {
  StepKind kind = StepKind::kDrop;
  std::string name;                                         // step key as written
  std::vector<std::string> fields;                          // select, drop, require
  std::vector<std::pair<std::string, std::string>> renames;  // rename
  std::vector<std::pair<std::string, Value>> values;         // set, default
  std::vector<std::pair<std::string, CastType>> casts;       // cast
  std::vector<std::pair<std::string, int>> digits;           // round
  std::vector<std::pair<std::string, std::shared_ptr<const Expr>>> derives;  // derive
  // map_values / label_map
  std::string field;
  std::map<std::string, Value, std::less<>> map;
  std::optional<Value> map_default;
};

// ---------------------------------------------------------------------------
// Runtime helpers.

// A value for error messages: strings quoted, long values cut.
std::string Show(const Value& v) {
  std::string s = v.DebugString();
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  if (v.is_string()) return "'" + s + "'";
  return s;
}

bool Fail(EventError* err, const char* code, std::string message) {
  err->stage = "transform";
  err->code = code;
  err->message = std::move(message);
  return false;
}

std::string StepLabel(size_t index, const Step& s) {
  return fmt::format("step {} ({})", index, s.name);
}

bool MissingField(EventError* err, size_t index, const Step& s, std::string_view field,
                  bool is_null) {
  return Fail(err, "missing_field",
              fmt::format("{}: field '{}' is {}", StepLabel(index, s), field,
                          is_null ? "null" : "missing"));
}

std::string_view TrimSpace(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool CastValue(const Value& v, CastType t, Value* out) {
  switch (t) {
    case CastType::kDouble:
    case CastType::kInt: {
      double d;
      if (v.is_number()) {
        d = v.as_number();
      } else if (v.is_string()) {
        if (!ParseNumber(TrimSpace(v.as_string()), &d)) return false;
      } else {
        return false;
      }
      if (t == CastType::kInt && (!std::isfinite(d) || d != std::trunc(d))) return false;
      *out = Value::Number(d);
      return true;
    }
    case CastType::kString:
      if (v.is_string()) {
        *out = v;
        return true;
      }
      if (v.is_number() || v.is_bool()) {
        *out = Value::String(ValueString(v));
        return true;
      }
      return false;
    case CastType::kBool:
      if (v.is_bool()) {
        *out = v;
        return true;
      }
      if (v.is_number() && (v.as_number() == 0 || v.as_number() == 1)) {
        *out = Value::Bool(v.as_number() == 1);
        return true;
      }
      if (v.is_string() && (v.as_string() == "true" || v.as_string() == "false")) {
        *out = Value::Bool(v.as_string() == "true");
        return true;
      }
      return false;
  }
  return false;
}

bool RoundNumber(double x, int digits, double* out) {
  double scale = std::pow(10.0, digits);
  double scaled = x * scale;
  // Values too large to have a fraction at this scale are already round.
  *out = std::fabs(scaled) < 4503599627370496.0 ? std::round(scaled) / scale : x;
  return std::isfinite(*out);
}

// ---------------------------------------------------------------------------
// Config helpers. Every error starts with the full key path.

absl::Status ConfigError(const std::string& path, std::string_view message) {
  return absl::InvalidArgumentError(fmt::format("{}: {}", path, message));
}

const char* NodeTypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Undefined: return "nothing";
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a map";
  }
  return "?";
}

bool IsQuoted(const YAML::Node& n) { return n.Tag() == "!"; }

bool IsPlainTrue(const std::string& s) { return s == "true" || s == "True" || s == "TRUE"; }
bool IsPlainFalse(const std::string& s) { return s == "false" || s == "False" || s == "FALSE"; }

// A YAML scalar as a constant: quoted scalars are strings; plain ones are
// numbers, bools or null when they look like it, else strings.
absl::Status ParseConstant(const YAML::Node& n, const std::string& path, Value* out) {
  if (n.IsNull()) {
    *out = Value::Null();
    return absl::OkStatus();
  }
  if (!n.IsScalar())
    return ConfigError(path, fmt::format("expected a scalar constant, got {}", NodeTypeName(n)));
  const std::string& s = n.Scalar();
  double d;
  if (IsQuoted(n) || n.Tag() == "tag:yaml.org,2002:str") {
    *out = Value::String(s);
  } else if (IsPlainTrue(s)) {
    *out = Value::Bool(true);
  } else if (IsPlainFalse(s)) {
    *out = Value::Bool(false);
  } else if (ParseNumber(s, &d)) {
    *out = Value::Number(d);
  } else {
    *out = Value::String(s);
  }
  return absl::OkStatus();
}

// A map key or sequence item naming a field: a non-empty scalar.
absl::Status ParseFieldName(const YAML::Node& n, const std::string& path, std::string* out) {
  if (!n.IsScalar())
    return ConfigError(path, fmt::format("expected a field name, got {}", NodeTypeName(n)));
  if (n.Scalar().empty()) return ConfigError(path, "empty field name");
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status ExpectMap(const YAML::Node& n, const std::string& path, std::string_view what) {
  if (!n.IsMap())
    return ConfigError(path, fmt::format("expected {}, got {}", what, NodeTypeName(n)));
  return absl::OkStatus();
}

// Iterates a map with scalar, non-empty, unique keys; calls
// fn(key, value, key_path).
template <typename Fn>
absl::Status ForEachField(const YAML::Node& map, const std::string& path, std::string_view what,
                          Fn fn) {
  if (absl::Status s = ExpectMap(map, path, what); !s.ok()) return s;
  std::vector<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string key;
    if (!it->first.IsScalar())
      return ConfigError(path, fmt::format("keys must be field names, got {}",
                                           NodeTypeName(it->first)));
    if (it->first.Scalar().empty()) return ConfigError(path, "empty field name");
    key = it->first.Scalar();
    std::string key_path = path + "." + key;
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return ConfigError(key_path, "duplicate field");
    seen.push_back(key);
    if (absl::Status s = fn(key, it->second, key_path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseFieldList(const YAML::Node& n, const std::string& path,
                            std::vector<std::string>* out) {
  if (!n.IsSequence())
    return ConfigError(path,
                       fmt::format("expected a sequence of field names, got {}", NodeTypeName(n)));
  for (size_t i = 0; i < n.size(); ++i) {
    std::string item_path = fmt::format("{}[{}]", path, i);
    std::string name;
    if (absl::Status s = ParseFieldName(n[i], item_path, &name); !s.ok()) return s;
    if (std::find(out->begin(), out->end(), name) != out->end())
      return ConfigError(item_path, fmt::format("duplicate field '{}'", name));
    out->push_back(std::move(name));
  }
  return absl::OkStatus();
}

absl::Status ParseRename(const YAML::Node& n, const std::string& path, Step* step) {
  return ForEachField(
      n, path, "a map of old: new field names",
      [&](const std::string& from, const YAML::Node& v, const std::string& key_path) {
        std::string to;
        if (absl::Status s = ParseFieldName(v, key_path, &to); !s.ok()) return s;
        for (const auto& [f, t] : step->renames)
          if (t == to)
            return ConfigError(key_path,
                               fmt::format("'{}' is also the new name of '{}'", to, f));
        step->renames.emplace_back(from, std::move(to));
        return absl::OkStatus();
      });
}

absl::Status ParseValues(const YAML::Node& n, const std::string& path, Step* step) {
  return ForEachField(n, path, "a map of field: constant",
                      [&](const std::string& field, const YAML::Node& v,
                          const std::string& key_path) {
                        Value value;
                        if (absl::Status s = ParseConstant(v, key_path, &value); !s.ok())
                          return s;
                        step->values.emplace_back(field, std::move(value));
                        return absl::OkStatus();
                      });
}

absl::Status ParseCast(const YAML::Node& n, const std::string& path, Step* step) {
  return ForEachField(
      n, path, "a map of field: type",
      [&](const std::string& field, const YAML::Node& v, const std::string& key_path) {
        std::string type = v.IsScalar() ? v.Scalar() : "";
        CastType t;
        if (type == "double") {
          t = CastType::kDouble;
        } else if (type == "int") {
          t = CastType::kInt;
        } else if (type == "string") {
          t = CastType::kString;
        } else if (type == "bool") {
          t = CastType::kBool;
        } else if (!v.IsScalar()) {
          return ConfigError(key_path, fmt::format("expected a type (double, int, string, bool), "
                                                   "got {}",
                                                   NodeTypeName(v)));
        } else {
          return ConfigError(key_path,
                             fmt::format("unknown type '{}' (expected double, int, string, bool)",
                                         type));
        }
        step->casts.emplace_back(field, t);
        return absl::OkStatus();
      });
}

absl::Status ParseDerive(const YAML::Node& n, const std::string& path, Step* step) {
  return ForEachField(
      n, path, "a map of field: expression",
      [&](const std::string& field, const YAML::Node& v, const std::string& key_path) {
        if (!v.IsScalar() || v.Scalar().empty())
          return ConfigError(key_path,
                             fmt::format("expected an expression string, got {}",
                                         v.IsScalar() ? "an empty string" : NodeTypeName(v)));
        absl::StatusOr<std::shared_ptr<const Expr>> e = Expr::Parse(v.Scalar());
        if (!e.ok())
          return ConfigError(key_path, fmt::format("invalid expression \"{}\": {}", v.Scalar(),
                                                   std::string(e.status().message())));
        step->derives.emplace_back(field, *std::move(e));
        return absl::OkStatus();
      });
}

absl::Status ParseRound(const YAML::Node& n, const std::string& path, Step* step) {
  return ForEachField(
      n, path, "a map of field: digits",
      [&](const std::string& field, const YAML::Node& v, const std::string& key_path) {
        double d;
        if (!v.IsScalar() || IsQuoted(v) || !ParseNumber(v.Scalar(), &d) || d != std::trunc(d) ||
            d < 0 || d > kMaxRoundDigits)
          return ConfigError(key_path,
                             fmt::format("expected a number of digits 0..{}, got {}",
                                         kMaxRoundDigits,
                                         v.IsScalar() ? "'" + v.Scalar() + "'" : NodeTypeName(v)));
        step->digits.emplace_back(field, static_cast<int>(d));
        return absl::OkStatus();
      });
}

// The lookup key of a map_values entry: plain numbers and bools take the
// string form their values have at runtime (so 1.0 matches the number 1).
std::string MapKey(const YAML::Node& k) {
  const std::string& s = k.Scalar();
  if (IsQuoted(k)) return s;
  double d;
  if (ParseNumber(s, &d)) return ValueString(Value::Number(d));
  if (IsPlainTrue(s)) return "true";
  if (IsPlainFalse(s)) return "false";
  return s;
}

absl::Status ParseMapValues(const YAML::Node& n, const std::string& path, Step* step) {
  if (absl::Status s = ExpectMap(n, path, "a map with keys field, map, default"); !s.ok())
    return s;
  bool have_field = false, have_map = false;
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    std::string key_path = path + "." + key;
    YAML::Node v = it->second;  // a copy: it->second is a temporary
    if (key == "field") {
      if (have_field) return ConfigError(key_path, "duplicate key");
      have_field = true;
      if (absl::Status s = ParseFieldName(v, key_path, &step->field); !s.ok()) return s;
    } else if (key == "map") {
      if (have_map) return ConfigError(key_path, "duplicate key");
      have_map = true;
      if (absl::Status s = ExpectMap(v, key_path, "a map of from: to values"); !s.ok()) return s;
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m->first.IsScalar())
          return ConfigError(key_path, fmt::format("keys must be scalars, got {}",
                                                   NodeTypeName(m->first)));
        std::string entry_path = key_path + "." + m->first.Scalar();
        std::string k = MapKey(m->first);
        if (step->map.count(k) != 0)
          return ConfigError(entry_path, fmt::format("duplicate key (matches '{}')", k));
        Value to;
        if (absl::Status s = ParseConstant(m->second, entry_path, &to); !s.ok()) return s;
        step->map.emplace(std::move(k), std::move(to));
      }
    } else if (key == "default") {
      if (step->map_default.has_value()) return ConfigError(key_path, "duplicate key");
      Value d;
      if (absl::Status s = ParseConstant(v, key_path, &d); !s.ok()) return s;
      step->map_default = std::move(d);
    } else {
      return ConfigError(key_path, "unknown key (expected field, map, default)");
    }
  }
  if (!have_field) return ConfigError(path, "missing key 'field'");
  if (!have_map) return ConfigError(path, "missing key 'map'");
  return absl::OkStatus();
}

struct StepName {
  std::string_view name;
  StepKind kind;
};

constexpr StepName kStepNames[] = {
    {"rename", StepKind::kRename},         {"select", StepKind::kSelect},
    {"drop", StepKind::kDrop},             {"set", StepKind::kSet},
    {"default", StepKind::kDefault},       {"cast", StepKind::kCast},
    {"map_values", StepKind::kMapValues},  {"label_map", StepKind::kMapValues},
    {"derive", StepKind::kDerive},         {"require", StepKind::kRequire},
    {"round", StepKind::kRound},
};

absl::Status ParseStep(const YAML::Node& item, const std::string& item_path,
                       bool allow_output_ops, Step* step) {
  if (!item.IsMap())
    return ConfigError(item_path, fmt::format("expected a one-key map such as "
                                              "{{drop: [a]}}, got {}",
                                              NodeTypeName(item)));
  if (item.size() != 1) {
    std::vector<std::string> keys;
    for (auto it = item.begin(); it != item.end(); ++it)
      keys.push_back(it->first.IsScalar() ? it->first.Scalar() : "?");
    return ConfigError(item_path, fmt::format("a step must have exactly one key, got {} ({})",
                                              keys.size(), fmt::join(keys, ", ")));
  }
  auto it = item.begin();
  if (!it->first.IsScalar())
    return ConfigError(item_path,
                       fmt::format("step name must be a scalar, got {}", NodeTypeName(it->first)));
  step->name = it->first.Scalar();
  YAML::Node v = it->second;  // a copy: it->second is a temporary
  std::string path = item_path + "." + step->name;
  const StepName* found = nullptr;
  for (const StepName& s : kStepNames)
    if (s.name == step->name) found = &s;
  if (found == nullptr) {
    std::vector<std::string_view> names;
    for (const StepName& s : kStepNames)
      if (s.kind != StepKind::kRound || allow_output_ops) names.push_back(s.name);
    return ConfigError(path, fmt::format("unknown step '{}' (expected {})", step->name,
                                         fmt::join(names, ", ")));
  }
  step->kind = found->kind;
  switch (step->kind) {
    case StepKind::kRename: return ParseRename(v, path, step);
    case StepKind::kSelect:
    case StepKind::kDrop:
    case StepKind::kRequire: return ParseFieldList(v, path, &step->fields);
    case StepKind::kSet:
    case StepKind::kDefault: return ParseValues(v, path, step);
    case StepKind::kCast: return ParseCast(v, path, step);
    case StepKind::kMapValues: return ParseMapValues(v, path, step);
    case StepKind::kDerive: return ParseDerive(v, path, step);
    case StepKind::kRound:
      if (!allow_output_ops)
        return ConfigError(path, "'round' is only allowed in output transforms");
      return ParseRound(v, path, step);
  }
  return absl::OkStatus();
}

}  // namespace

struct TransformChain::Step : public transform::Step {};

TransformChain::TransformChain() = default;
TransformChain::~TransformChain() = default;

size_t TransformChain::size() const { return steps_.size(); }

absl::StatusOr<std::shared_ptr<const TransformChain>> TransformChain::FromYaml(
    const YAML::Node& node, const std::string& path, bool allow_output_ops) {
  std::shared_ptr<TransformChain> chain(new TransformChain());
  try {
    if (!node.IsDefined() || node.IsNull()) return std::shared_ptr<const TransformChain>(chain);
    if (!node.IsSequence())
      return ConfigError(path,
                         fmt::format("expected a sequence of steps, got {}", NodeTypeName(node)));
    chain->steps_.reserve(node.size());
    for (size_t i = 0; i < node.size(); ++i) {
      Step step;
      if (absl::Status s =
              ParseStep(node[i], fmt::format("{}[{}]", path, i), allow_output_ops, &step);
          !s.ok())
        return s;
      chain->steps_.push_back(std::move(step));
    }
  } catch (const YAML::Exception& e) {
    return ConfigError(path, fmt::format("invalid YAML: {}", e.what()));
  } catch (const std::exception& e) {
    return ConfigError(path, e.what());
  }
  return std::shared_ptr<const TransformChain>(std::move(chain));
}

bool TransformChain::AppendsOnly(const Record& r) const {
  // Names the chain appends; steps may rewrite those freely.
  std::vector<std::string_view> appended;
  auto is_appended = [&](std::string_view n) {
    for (std::string_view a : appended)
      if (a == n) return true;
    return false;
  };
  // A target may be written if it is absent from the original record.
  auto writable = [&](std::string_view n) {
    if (is_appended(n)) return true;
    if (r.Find(n) != nullptr) return false;
    appended.push_back(n);
    return true;
  };
  for (const Step& s : steps_) {
    switch (s.kind) {
      case StepKind::kRequire: break;
      case StepKind::kSet:
        for (const auto& [name, v] : s.values)
          if (!writable(name)) return false;
        break;
      case StepKind::kDerive:
        for (const auto& [name, e] : s.derives)
          if (!writable(name)) return false;
        break;
      case StepKind::kDefault:
        for (const auto& [name, v] : s.values) {
          const Value* cur = r.Find(name);
          if (cur != nullptr && !is_appended(name)) {
            if (cur->is_null()) return false;  // default would replace the null
            continue;                            // present: a no-op
          }
          writable(name);
        }
        break;
      case StepKind::kCast:
        for (const auto& [name, type] : s.casts) {
          if (is_appended(name)) continue;
          const Value* cur = r.Find(name);
          if (cur == nullptr) return false;  // fails anyway; take the general path
          bool same = false;
          switch (type) {
            case CastType::kDouble: same = cur->is_number(); break;
            case CastType::kInt:
              same = cur->is_number() && cur->as_number() == std::trunc(cur->as_number());
              break;
            case CastType::kString: same = cur->is_string(); break;
            case CastType::kBool: same = cur->is_bool(); break;
          }
          if (!same) return false;
        }
        break;
      default: return false;
    }
  }
  return true;
}

bool TransformChain::FieldsTouched(std::vector<std::string>* names) const {
  for (const Step& s : steps_) {
    switch (s.kind) {
      case StepKind::kRequire:
        names->insert(names->end(), s.fields.begin(), s.fields.end());
        break;
      case StepKind::kSet:
      case StepKind::kDefault:
        for (const auto& [name, v] : s.values) names->push_back(name);
        break;
      case StepKind::kCast:
        for (const auto& [name, t] : s.casts) names->push_back(name);
        break;
      case StepKind::kDerive:
        for (const auto& [name, e] : s.derives) {
          names->push_back(name);
          names->insert(names->end(), e->fields().begin(), e->fields().end());
        }
        break;
      default: return false;
    }
  }
  return true;
}

bool TransformChain::ResultFields(std::vector<std::string>* names) const {
  std::vector<std::string> out;
  for (const Step& s : steps_) {
    out.insert(out.end(), s.fields.begin(), s.fields.end());
    if (s.kind == StepKind::kSelect) {
      names->insert(names->end(), out.begin(), out.end());
      return true;
    }
    for (const auto& [from, to] : s.renames) {
      out.push_back(from);
      out.push_back(to);
    }
    for (const auto& [name, v] : s.values) out.push_back(name);
    for (const auto& [name, t] : s.casts) out.push_back(name);
    for (const auto& [name, d] : s.digits) out.push_back(name);
    for (const auto& [name, e] : s.derives) {
      out.push_back(name);
      out.insert(out.end(), e->fields().begin(), e->fields().end());
    }
    if (!s.field.empty()) out.push_back(s.field);
  }
  return false;
}

bool TransformChain::Apply(Record* r, EventError* err) const {
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    switch (s.kind) {
      case StepKind::kRename: {
        // Simultaneous: check every source, drop plain targets, rename in place.
        for (const auto& [from, to] : s.renames)
          if (!r->Has(from)) return MissingField(err, i, s, from, false);
        auto is_source = [&s](std::string_view name) {
          for (const auto& [from, to] : s.renames)
            if (from == name) return true;
          return false;
        };
        for (const auto& [from, to] : s.renames)
          if (!is_source(to)) r->Erase(to);
        for (Field& f : r->mutable_fields()) {
          for (const auto& [from, to] : s.renames) {
            if (f.name == from) {
              f.name = to;
              break;
            }
          }
        }
        break;
      }
      case StepKind::kSelect: {
        for (const std::string& name : s.fields)
          if (!r->Has(name)) return MissingField(err, i, s, name, false);
        std::vector<Field> kept;
        kept.reserve(s.fields.size());
        for (const std::string& name : s.fields)
          kept.push_back(Field{name, std::move(*r->FindMutable(name))});
        r->mutable_fields() = std::move(kept);
        break;
      }
      case StepKind::kDrop:
        for (const std::string& name : s.fields) r->Erase(name);
        break;
      case StepKind::kSet:
        for (const auto& [name, value] : s.values) r->Set(name, value);
        break;
      case StepKind::kDefault:
        for (const auto& [name, value] : s.values) {
          Value* cur = r->FindMutable(name);
          if (cur == nullptr) {
            r->Append(name, value);
          } else if (cur->is_null()) {
            *cur = value;
          }
        }
        break;
      case StepKind::kCast:
        for (const auto& [name, type] : s.casts) {
          Value* cur = r->FindMutable(name);
          if (cur == nullptr || cur->is_null())
            return MissingField(err, i, s, name, cur != nullptr);
          Value converted;
          if (!CastValue(*cur, type, &converted))
            return Fail(err, "cast_error",
                        fmt::format("{}: cannot cast field '{}' value {} ({}) to {}",
                                    StepLabel(i, s), name, Show(*cur), ValueTypeName(cur->type()),
                                    CastTypeName(type)));
          *cur = std::move(converted);
        }
        break;
      case StepKind::kMapValues: {
        Value* cur = r->FindMutable(s.field);
        if (cur == nullptr || cur->is_null())
          return MissingField(err, i, s, s.field, cur != nullptr);
        auto it = cur->is_string() ? s.map.find(cur->as_string()) : s.map.find(ValueString(*cur));
        if (it != s.map.end()) {
          *cur = it->second;
        } else if (s.map_default.has_value()) {
          *cur = *s.map_default;
        } else {
          return Fail(err, "unmapped_value",
                      fmt::format("{}: field '{}' value {} has no mapping", StepLabel(i, s),
                                  s.field, Show(*cur)));
        }
        break;
      }
      case StepKind::kDerive:
        for (const auto& [name, expr] : s.derives) {
          Value v;
          if (!expr->Eval(*r, &v, err)) {
            err->message = fmt::format("{}: field '{}': {}", StepLabel(i, s), name, err->message);
            return false;
          }
          r->Set(name, std::move(v));
        }
        break;
      case StepKind::kRequire:
        for (const std::string& name : s.fields) {
          const Value* cur = r->Find(name);
          if (cur == nullptr || cur->is_null())
            return MissingField(err, i, s, name, cur != nullptr);
        }
        break;
      case StepKind::kRound:
        for (const auto& [name, digits] : s.digits) {
          Value* cur = r->FindMutable(name);
          if (cur == nullptr || cur->is_null())
            return MissingField(err, i, s, name, cur != nullptr);
          if (!cur->is_number())
            return Fail(err, "type_error",
                        fmt::format("{}: field '{}' is {} {}, expected a number",
                                    StepLabel(i, s), name, ValueTypeName(cur->type()),
                                    Show(*cur)));
          double rounded;
          if (RoundNumber(cur->as_number(), digits, &rounded)) *cur = Value::Number(rounded);
        }
        break;
    }
  }
  return true;
}

}  // namespace evs::transform
