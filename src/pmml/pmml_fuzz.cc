// libFuzzer target: CompiledModel::Load on arbitrary bytes must either fail
// with a status or give a model that evaluates a record without crashing,
// hanging or leaking. Small limits keep each run fast.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pmml/pmml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  evs::pmml::LoadOptions opts;
  opts.max_bytes = 1 << 20;
  opts.max_elements = 20'000;
  opts.max_depth = 64;
  auto model = evs::pmml::CompiledModel::Load(
      std::string_view(reinterpret_cast<const char*>(data), size), opts);
  if (!model.ok()) return 0;
  const auto& m = **model;
  auto ctx = m.NewContext();
  for (int record = 0; record < 2; ++record) {
    ctx->BeginRecord();
    for (size_t i = 0; i < m.inputs().size(); ++i) {
      if (record == 0) {
        m.SetInput(*ctx, static_cast<int>(i), 0.5 * static_cast<double>(i));
      } else {
        m.SetInput(*ctx, static_cast<int>(i), "1");
      }
    }
    if (m.Evaluate(*ctx).ok()) {
      for (size_t o = 0; o < m.outputs().size(); ++o) (void)m.Output(*ctx, static_cast<int>(o));
    }
  }
  return 0;
}
