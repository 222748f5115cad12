// libFuzzer target: ParseConfig must accept or reject any bytes with a
// status, never crash or hang (yaml-cpp exceptions are caught at the edge).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto c = evs::config::ParseConfig(text);
  if (!c.ok() && c.status().message().empty()) __builtin_trap();  // errors must say why
  (void)evs::config::PeekVersion(text);
  return 0;
}
