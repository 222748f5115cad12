#pragma once

#include <cstdint>
#include <string_view>

namespace evs {

// A 64-bit hash that is the same on every machine, build and run (FNV-1a
// followed by the murmur3 finalizer for avalanche). Traffic splitting depends
// on it: changing it moves keys between variants, so never change it.
inline uint64_t StableHash64(std::string_view data, uint64_t seed = 0) {
  uint64_t h = 14695981039346656037ULL ^ seed;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace evs
