#include "routing/splitter.h"

#include "common/hash.h"

namespace evs::routing {

Splitter::Splitter(const config::Route& route) : seed_(StableHash64(route.salt)) {
  double total = 0;
  for (size_t i = 0; i < route.variants.size(); ++i) {
    if (route.variants[i].shadow) {
      shadows_.push_back(i);
    } else if (route.variants[i].weight > 0) {
      index_.push_back(i);
      total += route.variants[i].weight;
      cumulative_.push_back(total);
    }
  }
  for (double& c : cumulative_) c /= total;
  if (!cumulative_.empty()) cumulative_.back() = 1.0;
}

size_t Splitter::Pick(std::string_view split_key) const {
  // 53 high bits of the hash as a uniform number in [0, 1).
  const double u = static_cast<double>(StableHash64(split_key, seed_) >> 11) * 0x1.0p-53;
  for (size_t i = 0; i < cumulative_.size(); ++i)
    if (u < cumulative_[i]) return index_[i];
  return index_.back();
}

}  // namespace evs::routing
