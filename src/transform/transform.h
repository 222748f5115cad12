#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/value.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace evs::transform {

// A declarative list of record transformations, configured in YAML:
//
//   - rename: {old: new, ...}       simultaneous, so {a: b, b: a} swaps
//   - select: [a, b, c]             keep only these, in this order
//   - drop: [a, b]                  absent fields are ignored
//   - set: {field: constant, ...}
//   - default: {field: constant, ...}   only where absent or null
//   - cast: {field: double|int|string|bool, ...}
//   - map_values: {field: f, map: {from: to, ...}, default: v}   (alias label_map)
//   - derive: {field: "expression", ...}   see expr.h; later entries see earlier ones
//   - require: [a, b]               present and non-null
//   - round: {field: digits, ...}   output transforms only
//
// Constants are YAML scalars: plain numbers become numbers, true/false bools,
// null/~/empty null, anything else (and every quoted scalar) a string.
//
// Runtime failures use stage "transform" and the codes missing_field (absent
// field; for cast, map_values and round also a null one), cast_error,
// unmapped_value, type_error, non_finite.
//
// Immutable after FromYaml; Apply is const and safe from many threads.
class TransformChain {
 public:
  TransformChain(const TransformChain&) = delete;
  TransformChain& operator=(const TransformChain&) = delete;
  ~TransformChain();

  // Builds a chain from a YAML sequence of one-key maps (a null node is an
  // empty chain). `path` is the config key path of the sequence (e.g.
  // "routes[2].transform"); every error message starts with the full path of
  // the offending key, e.g. "routes[2].transform[3].cast.x: unknown type
  // 'flot' (expected double, int, string, bool)". `round` is accepted only
  // when allow_output_ops is true. Never throws.
  static absl::StatusOr<std::shared_ptr<const TransformChain>> FromYaml(
      const YAML::Node& node, const std::string& path, bool allow_output_ops);

  // Applies the steps in order. On failure returns false with *err filled
  // (stage "transform"); *r may then be partly transformed.
  bool Apply(Record* r, EventError* err) const;

  // True when applying this chain to `r` can only append fields: the
  // existing fields keep their names, order and values (derive/set/default
  // of absent fields, casts that are already satisfied, require). Callers
  // use it to pass the original bytes through and encode only the appended
  // fields. Conservative: false means "may rewrite".
  bool AppendsOnly(const Record& r) const;

  // Every field name the chain can read or write, appended to *names, when
  // it has only steps that leave other fields alone (require, set, default,
  // cast, derive); false otherwise. With it a decoder may materialize only
  // these fields for a chain that then passes the original bytes through.
  bool FieldsTouched(std::vector<std::string>* names) const;

  // When the chain has a `select`, its result can depend only on the
  // selected fields and on those the steps before the first select read or
  // write: those names are appended to *names and true returned. A decoder
  // may then materialize only them; the result (and any failure) is the
  // same. False (nothing appended) when every field may reach the result.
  bool ResultFields(std::vector<std::string>* names) const;

  // Number of steps.
  size_t size() const;

 private:
  struct Step;
  TransformChain();

  std::vector<Step> steps_;
};

}  // namespace evs::transform
