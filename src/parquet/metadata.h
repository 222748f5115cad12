#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

// The subset of Parquet's Thrift structures (parquet.thrift) the reader uses,
// decoded from the compact protocol. Unknown fields are skipped; every read is
// bounds-checked against the buffer, and nesting is capped, so arbitrary bytes
// give an error rather than a crash. Offsets in errors are file offsets
// (`base` is the buffer's position in the file).

namespace evs::parquet::internal {

enum PhysicalType : int32_t {
  kBoolean = 0, kInt32 = 1, kInt64 = 2, kInt96 = 3,
  kFloatType = 4, kDoubleType = 5, kByteArray = 6, kFixedLenByteArray = 7,
};
enum Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum Encoding : int32_t {
  kPlain = 0, kPlainDictionary = 2, kRle = 3, kBitPacked = 4, kRleDictionary = 8,
};
enum Codec : int32_t { kUncompressed = 0, kSnappy = 1, kGzip = 2, kZstd = 6 };
enum PageType : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };
// ConvertedType values the reader looks at.
enum Converted : int32_t {
  kUtf8 = 0, kMap = 1, kMapKeyValue = 2, kList = 3, kEnum = 4,
  kUint8 = 11, kUint16 = 12, kUint32 = 13, kJson = 19,
};

// LogicalType union, only the members that matter here.
struct LogicalType {
  bool is_string = false;  // STRING, ENUM, JSON
  bool is_map = false;
  bool is_list = false;
  bool is_unsigned_int = false;  // INTEGER(isSigned=false)
};

struct SchemaElement {
  std::optional<int32_t> type;
  int32_t type_length = 0;
  std::optional<int32_t> repetition;
  std::string name;
  std::optional<int32_t> num_children;
  std::optional<int32_t> converted_type;
  LogicalType logical;
};

struct ColumnMetaData {
  int32_t type = -1;
  std::vector<std::string> path;
  int32_t codec = 0;
  int64_t num_values = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = -1;
  std::optional<int64_t> dictionary_page_offset;
};

struct ColumnChunk {
  bool has_meta = false;
  ColumnMetaData meta;
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t num_rows = 0;
};

struct FileMetaData {
  std::vector<SchemaElement> schema;
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
};

struct DataPageHeader {
  int32_t num_values = 0;
  int32_t encoding = 0;
  int32_t def_encoding = kRle;
  int32_t rep_encoding = kRle;
};

struct DataPageHeaderV2 {
  int32_t num_values = 0;
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  int32_t encoding = 0;
  int32_t def_bytes = 0;
  int32_t rep_bytes = 0;
  bool is_compressed = true;
};

struct DictionaryPageHeader {
  int32_t num_values = 0;
  int32_t encoding = 0;
};

struct PageHeader {
  int32_t type = -1;
  int32_t uncompressed_size = 0;
  int32_t compressed_size = 0;
  std::optional<DataPageHeader> data;
  std::optional<DataPageHeaderV2> data_v2;
  std::optional<DictionaryPageHeader> dict;
};

absl::Status ParseFileMetaData(std::string_view buf, size_t base, FileMetaData* out);

// Parses a page header at the start of `buf`; `*consumed` is its length.
absl::Status ParsePageHeader(std::string_view buf, size_t base, PageHeader* out,
                             size_t* consumed);

}  // namespace evs::parquet::internal
