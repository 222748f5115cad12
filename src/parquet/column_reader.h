#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "parquet/metadata.h"
#include "parquet/parquet.h"

// Decodes one column chunk (its pages) into flat level and value streams; the
// row assembly in parquet.cc turns those into Datum trees. Pages are
// decompressed one at a time; sizes are checked against ReadOptions and the
// file before anything is allocated.

namespace evs::parquet::internal {

// One leaf column of the schema.
struct LeafColumn {
  std::string path;  // dotted, for errors
  std::vector<std::string> parts;
  int32_t physical = 0;
  int32_t type_length = 0;  // FIXED_LEN_BYTE_ARRAY
  int max_def = 0;
  int max_rep = 0;
  bool unsigned_int = false;  // INT32 annotated as unsigned: zero-extend
};

// Levels for every value slot (empty when the max level is 0), and the
// non-null values in order.
struct ColumnData {
  std::vector<int16_t> defs;
  std::vector<int16_t> reps;
  std::vector<Datum> values;
  size_t num_slots = 0;
};

absl::Status ReadColumnChunk(std::string_view file, const LeafColumn& col,
                             const ColumnMetaData& meta, const ReadOptions& opts,
                             ColumnData* out);

}  // namespace evs::parquet::internal
