#pragma once

// Debian 12's abseil is built with its own absl::string_view (not an alias of
// std::string_view). This teaches fmt/spdlog to print it, so that
// status.message() can be logged directly.
#include "absl/strings/string_view.h"
#include "fmt/format.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace evs {
// absl::StrCat takes absl::string_view, not std::string_view, on Debian 12.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace evs
