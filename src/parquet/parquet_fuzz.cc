// libFuzzer target: ReadBytes on arbitrary bytes must either fail with a
// status or give a table that prints, without crashing, hanging or leaking.
// Small caps keep each run fast.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "parquet/parquet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  evs::parquet::ReadOptions opts;
  opts.max_file_bytes = 1 << 20;
  opts.max_rows = 10'000;
  opts.max_nesting = 16;
  opts.max_page_bytes = 1 << 20;
  auto table =
      evs::parquet::ReadBytes(std::string_view(reinterpret_cast<const char*>(data), size), opts);
  if (!table.ok()) return 0;
  (void)evs::parquet::ToJsonLines(*table);
  for (const auto& row : table->rows)
    for (const auto& item : row.items) {
      (void)item.AsDouble();
      (void)item.AsInt();
    }
  return 0;
}
