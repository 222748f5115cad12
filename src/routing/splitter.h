#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace evs::routing {

// Picks the variant of a route for a split key: hash(split key, route salt)
// mapped onto the cumulative weights of the non-shadow variants. The mapping
// depends only on the key, the salt and the weights, so a key keeps its
// variant across restarts, replays and config changes to other routes.
// Immutable; safe to share between threads.
class Splitter {
 public:
  explicit Splitter(const config::Route& route);
  // Index into route.variants of the chosen non-shadow variant.
  size_t Pick(std::string_view split_key) const;
  // Indices of the shadow variants (each gets a copy).
  const std::vector<size_t>& shadows() const { return shadows_; }

 private:
  uint64_t seed_;
  std::vector<size_t> index_;          // non-shadow variants
  std::vector<double> cumulative_;     // normalised cumulative weights, last == 1
  std::vector<size_t> shadows_;
};

}  // namespace evs::routing
