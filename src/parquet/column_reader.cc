#include "parquet/column_reader.h"

#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace evs::parquet::internal {
namespace {

std::string EncodingName(int32_t e) {
  switch (e) {
    case 0: return "PLAIN";
    case 2: return "PLAIN_DICTIONARY";
    case 3: return "RLE";
    case 4: return "BIT_PACKED";
    case 5: return "DELTA_BINARY_PACKED";
    case 6: return "DELTA_LENGTH_BYTE_ARRAY";
    case 7: return "DELTA_BYTE_ARRAY";
    case 8: return "RLE_DICTIONARY";
    case 9: return "BYTE_STREAM_SPLIT";
    default: return absl::StrCat("encoding #", e);
  }
}

std::string CodecName(int32_t c) {
  switch (c) {
    case 0: return "UNCOMPRESSED";
    case 1: return "SNAPPY";
    case 2: return "GZIP";
    case 3: return "LZO";
    case 4: return "BROTLI";
    case 5: return "LZ4";
    case 6: return "ZSTD";
    case 7: return "LZ4_RAW";
    default: return absl::StrCat("codec #", c);
  }
}

int BitWidth(int max_level) {
  int w = 0;
  while ((max_level >> w) != 0) ++w;
  return w;
}

uint32_t LoadLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Error context for one page: column path and file offset.
struct PageCtx {
  const LeafColumn* col;
  size_t offset;
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("parquet column '", col->path, "', page at offset ",
                                                   offset, ": ", what));
  }
};

// RLE / bit-packed hybrid decoder (parquet Encodings.md), bit widths 0..32.
class Hybrid {
 public:
  Hybrid(std::string_view data, int bit_width) : data_(data), bw_(bit_width) {}

  // False when the data ends before `*v` could be read.
  bool Next(uint32_t* v) {
    while (rle_left_ == 0 && bp_left_ == 0) {
      if (!NextRun()) return false;
    }
    if (rle_left_ > 0) {
      --rle_left_;
      *v = rle_value_;
      return true;
    }
    --bp_left_;
    if (bw_ == 0) {
      *v = 0;
      return true;
    }
    size_t bit = bp_bit_;
    bp_bit_ += bw_;
    if (bp_bit_ > bp_bits_) return false;
    uint64_t acc = 0;
    size_t first = bit / 8;
    size_t nbytes = std::min<size_t>(8, bp_data_.size() - first);
    std::memcpy(&acc, bp_data_.data() + first, nbytes);
    acc >>= bit % 8;
    *v = static_cast<uint32_t>(acc & ((uint64_t{1} << bw_) - 1));
    return true;
  }

 private:
  bool Varint(uint64_t* out) {
    uint64_t r = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      r |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        *out = r;
        return true;
      }
    }
    return false;
  }

  bool NextRun() {
    uint64_t header;
    if (!Varint(&header)) return false;
    if (header & 1) {
      uint64_t groups = header >> 1;
      uint64_t bytes = groups * static_cast<uint64_t>(bw_);
      // The last run may be cut short by some writers; values beyond the
      // data fail in Next.
      size_t avail = std::min<uint64_t>(bytes, data_.size() - pos_);
      bp_data_ = data_.substr(pos_, avail);
      pos_ += avail;
      bp_left_ = groups * 8;
      bp_bit_ = 0;
      bp_bits_ = avail * 8;
      return true;
    }
    rle_left_ = header >> 1;
    size_t nbytes = (bw_ + 7) / 8;
    if (nbytes > data_.size() - pos_) return false;
    uint32_t v = 0;
    std::memcpy(&v, data_.data() + pos_, nbytes);
    pos_ += nbytes;
    if (bw_ < 32 && (v >> bw_) != 0) return false;
    rle_value_ = v;
    return true;  // an empty run is skipped by the loop in Next
  }

  std::string_view data_;
  int bw_;
  size_t pos_ = 0;
  uint64_t rle_left_ = 0;
  uint32_t rle_value_ = 0;
  uint64_t bp_left_ = 0;
  std::string_view bp_data_;
  size_t bp_bit_ = 0;
  size_t bp_bits_ = 0;
};

absl::Status DecodeLevels(const PageCtx& ctx, std::string_view data, int max_level, size_t n,
                          const char* what, std::vector<int16_t>* out) {
  Hybrid h(data, BitWidth(max_level));
  out->reserve(out->size() + n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v;
    if (!h.Next(&v)) return ctx.Error(absl::StrCat(what, " levels end after ", i, " of ", n));
    if (v > static_cast<uint32_t>(max_level))
      return ctx.Error(absl::StrCat(what, " level ", v, " above maximum ", max_level));
    out->push_back(static_cast<int16_t>(v));
  }
  return absl::OkStatus();
}

// The deprecated BIT_PACKED level encoding: packed MSB first, no length
// prefix (as the format and parquet-mr define it).
absl::Status DecodeBitPackedLevels(const PageCtx& ctx, std::string_view* data, int max_level,
                                   size_t n, const char* what, std::vector<int16_t>* out) {
  const int bw = BitWidth(max_level);
  const uint64_t bytes = (uint64_t{n} * bw + 7) / 8;
  if (bytes > data->size())
    return ctx.Error(absl::StrCat(what, " levels (BIT_PACKED) truncated"));
  out->reserve(out->size() + n);
  size_t bit = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    for (int b = 0; b < bw; ++b, ++bit)
      v = (v << 1) | ((static_cast<uint8_t>((*data)[bit / 8]) >> (7 - bit % 8)) & 1);
    if (v > static_cast<uint32_t>(max_level))
      return ctx.Error(absl::StrCat(what, " level ", v, " above maximum ", max_level));
    out->push_back(static_cast<int16_t>(v));
  }
  data->remove_prefix(bytes);
  return absl::OkStatus();
}

// v1 levels: RLE with a 4-byte length prefix, or BIT_PACKED. Advances *data
// past them.
absl::Status DecodeV1Levels(const PageCtx& ctx, std::string_view* data, int32_t encoding,
                            int max_level, size_t n, const char* what,
                            std::vector<int16_t>* out) {
  if (encoding == kBitPacked) return DecodeBitPackedLevels(ctx, data, max_level, n, what, out);
  if (encoding != kRle)
    return ctx.Error(absl::StrCat(what, " level encoding ", EncodingName(encoding),
                                  " not supported"));
  if (data->size() < 4) return ctx.Error(absl::StrCat(what, " levels truncated"));
  uint32_t len = LoadLE32(data->data());
  if (len > data->size() - 4)
    return ctx.Error(absl::StrCat(what, " levels length ", len, " beyond page"));
  auto s = DecodeLevels(ctx, data->substr(4, len), max_level, n, what, out);
  data->remove_prefix(4 + len);
  return s;
}

absl::Status Decompress(const PageCtx& ctx, int32_t codec, std::string_view in, size_t out_size,
                        std::string* out) {
  switch (codec) {
    case kUncompressed:
      if (in.size() != out_size)
        return ctx.Error(absl::StrCat("uncompressed page of ", in.size(), " bytes, header says ",
                                      out_size));
      out->assign(in);
      return absl::OkStatus();
    case kSnappy: {
      size_t len;
      if (!snappy::GetUncompressedLength(in.data(), in.size(), &len) || len != out_size)
        return ctx.Error("corrupt SNAPPY data or size differs from the page header");
      out->resize(out_size);
      if (!snappy::RawUncompress(in.data(), in.size(), out->data()))
        return ctx.Error("corrupt SNAPPY data");
      return absl::OkStatus();
    }
    case kGzip: {
      out->resize(out_size);
      z_stream zs{};
      if (inflateInit2(&zs, 15 + 32) != Z_OK) return ctx.Error("zlib init failed");
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
      zs.avail_in = static_cast<uInt>(in.size());
      zs.next_out = reinterpret_cast<Bytef*>(out->data());
      zs.avail_out = static_cast<uInt>(out_size);
      int rc = inflate(&zs, Z_FINISH);
      size_t produced = zs.total_out;
      inflateEnd(&zs);
      if (rc != Z_STREAM_END || produced != out_size)
        return ctx.Error("corrupt GZIP data or size differs from the page header");
      return absl::OkStatus();
    }
    case kZstd: {
      out->resize(out_size);
      size_t rc = ZSTD_decompress(out->data(), out_size, in.data(), in.size());
      if (ZSTD_isError(rc) || rc != out_size)
        return ctx.Error(absl::StrCat("corrupt ZSTD data or size differs from the page header",
                                      ZSTD_isError(rc) ? absl::StrCat(" (", ZSTD_getErrorName(rc), ")")
                                                       : ""));
      return absl::OkStatus();
    }
    default:
      return ctx.Error(absl::StrCat("codec ", CodecName(codec), " not supported"));
  }
}

absl::Status DecodePlain(const PageCtx& ctx, const LeafColumn& col, std::string_view data,
                         size_t n, std::vector<Datum>* out) {
  auto need = [&](uint64_t bytes) -> absl::Status {
    if (bytes > data.size())
      return ctx.Error(absl::StrCat("PLAIN values need ", bytes, " bytes, page has ", data.size()));
    return absl::OkStatus();
  };
  out->reserve(out->size() + n);
  const char* p = data.data();
  switch (col.physical) {
    case kBoolean: {
      if (auto s = need((n + 7) / 8); !s.ok()) return s;
      for (size_t i = 0; i < n; ++i) {
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kBool;
        d.b = (static_cast<uint8_t>(p[i / 8]) >> (i % 8)) & 1;
      }
      return absl::OkStatus();
    }
    case kInt32: {
      if (auto s = need(uint64_t{n} * 4); !s.ok()) return s;
      for (size_t i = 0; i < n; ++i) {
        int32_t v = 0;
        std::memcpy(&v, p + 4 * i, 4);
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kInt;
        d.i = col.unsigned_int ? static_cast<int64_t>(static_cast<uint32_t>(v)) : v;
      }
      return absl::OkStatus();
    }
    case kInt64: {
      if (auto s = need(uint64_t{n} * 8); !s.ok()) return s;
      for (size_t i = 0; i < n; ++i) {
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kInt;
        std::memcpy(&d.i, p + 8 * i, 8);
      }
      return absl::OkStatus();
    }
    case kFloatType: {
      if (auto s = need(uint64_t{n} * 4); !s.ok()) return s;
      for (size_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, p + 4 * i, 4);
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kDouble;
        d.d = f;
      }
      return absl::OkStatus();
    }
    case kDoubleType: {
      if (auto s = need(uint64_t{n} * 8); !s.ok()) return s;
      for (size_t i = 0; i < n; ++i) {
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kDouble;
        std::memcpy(&d.d, p + 8 * i, 8);
      }
      return absl::OkStatus();
    }
    case kByteArray: {
      size_t pos = 0;
      for (size_t i = 0; i < n; ++i) {
        if (data.size() - pos < 4)
          return ctx.Error(absl::StrCat("PLAIN byte array ", i, " of ", n, " truncated"));
        uint32_t len = LoadLE32(p + pos);
        pos += 4;
        if (len > data.size() - pos)
          return ctx.Error(absl::StrCat("PLAIN byte array length ", len, " beyond page"));
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kBytes;
        d.bytes.assign(p + pos, len);
        pos += len;
      }
      return absl::OkStatus();
    }
    case kFixedLenByteArray: {
      if (col.type_length <= 0) return ctx.Error("FIXED_LEN_BYTE_ARRAY without a positive length");
      uint64_t len = static_cast<uint64_t>(col.type_length);
      if (auto s = need(uint64_t{n} * len); !s.ok()) return s;
      for (size_t i = 0; i < n; ++i) {
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kBytes;
        d.bytes.assign(p + i * len, len);
      }
      return absl::OkStatus();
    }
    default:
      return ctx.Error(absl::StrCat("physical type ", col.physical, " not supported"));
  }
}

// `bytes_left` bounds the byte-array bytes that dictionary indices may
// materialize (a few bytes of indices can repeat a long dictionary string).
absl::Status DecodeValues(const PageCtx& ctx, const LeafColumn& col, std::string_view data,
                          int32_t encoding, size_t n, const std::vector<Datum>* dict,
                          size_t* bytes_left, std::vector<Datum>* out) {
  switch (encoding) {
    case kPlain:
      return DecodePlain(ctx, col, data, n, out);
    case kPlainDictionary:
    case kRleDictionary: {
      if (dict == nullptr) return ctx.Error("dictionary-encoded page without a dictionary page");
      if (n == 0) return absl::OkStatus();
      if (data.empty()) return ctx.Error("dictionary indices missing");
      int bw = static_cast<uint8_t>(data[0]);
      if (bw > 32) return ctx.Error(absl::StrCat("dictionary index bit width ", bw));
      Hybrid h(data.substr(1), bw);
      out->reserve(out->size() + n);
      for (size_t i = 0; i < n; ++i) {
        uint32_t idx;
        if (!h.Next(&idx))
          return ctx.Error(absl::StrCat("dictionary indices end after ", i, " of ", n));
        if (idx >= dict->size())
          return ctx.Error(absl::StrCat("dictionary index ", idx, " beyond dictionary of ",
                                        dict->size()));
        const Datum& entry = (*dict)[idx];
        if (entry.bytes.size() > *bytes_left)
          return ctx.Error("dictionary-encoded strings exceed the decoded size cap");
        *bytes_left -= entry.bytes.size();
        out->push_back(entry);
      }
      return absl::OkStatus();
    }
    case kRle: {
      if (col.physical != kBoolean) return ctx.Error("RLE values only supported for BOOLEAN");
      if (data.size() < 4) return ctx.Error("RLE booleans truncated");
      uint32_t len = LoadLE32(data.data());
      if (len > data.size() - 4) return ctx.Error("RLE booleans length beyond page");
      Hybrid h(data.substr(4, len), 1);
      out->reserve(out->size() + n);
      for (size_t i = 0; i < n; ++i) {
        uint32_t v;
        if (!h.Next(&v)) return ctx.Error(absl::StrCat("RLE booleans end after ", i, " of ", n));
        Datum& d = out->emplace_back();
        d.kind = Datum::Kind::kBool;
        d.b = v != 0;
      }
      return absl::OkStatus();
    }
    default:
      return ctx.Error(absl::StrCat("page encoding ", EncodingName(encoding), " not supported"));
  }
}

size_t CountNonNull(const LeafColumn& col, const std::vector<int16_t>& defs, size_t from,
                    size_t n) {
  if (col.max_def == 0) return n;
  return static_cast<size_t>(std::count(defs.begin() + from, defs.end(), col.max_def));
}

}  // namespace

absl::Status ReadColumnChunk(std::string_view file, const LeafColumn& col,
                             const ColumnMetaData& meta, const ReadOptions& opts,
                             ColumnData* out) {
  auto chunk_error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("parquet column '", col.path, "': ", what));
  };
  if (meta.type != col.physical)
    return chunk_error(absl::StrCat("chunk type ", meta.type, " differs from schema type ",
                                    col.physical));
  if (meta.codec != kUncompressed && meta.codec != kSnappy && meta.codec != kGzip &&
      meta.codec != kZstd)
    return chunk_error(absl::StrCat("codec ", CodecName(meta.codec), " not supported"));
  if (meta.num_values < 0) return chunk_error("negative value count");
  // Caps the level/value slots of one chunk: RLE can describe many values in
  // a few bytes, so the file size alone does not bound the work.
  const uint64_t max_slots = std::max<uint64_t>(opts.max_rows, uint64_t{16} * file.size());
  if (static_cast<uint64_t>(meta.num_values) > max_slots)
    return chunk_error(absl::StrCat(meta.num_values, " values exceed the reader's cap"));
  const size_t total = static_cast<size_t>(meta.num_values);

  int64_t start = meta.data_page_offset;
  if (meta.dictionary_page_offset && *meta.dictionary_page_offset > 0 &&
      *meta.dictionary_page_offset < start)
    start = *meta.dictionary_page_offset;
  if (start < 4 || static_cast<uint64_t>(start) >= file.size())
    return chunk_error(absl::StrCat("chunk offset ", start, " outside the file"));
  size_t end = file.size();
  if (meta.total_compressed_size > 0 &&
      static_cast<uint64_t>(meta.total_compressed_size) < file.size() - start)
    end = static_cast<size_t>(start + meta.total_compressed_size);

  std::vector<Datum> dict;
  bool have_dict = false;
  size_t bytes_left = opts.max_file_bytes;
  std::string page;    // decompressed page or values section
  size_t pos = static_cast<size_t>(start);
  out->num_slots = 0;
  while (out->num_slots < total) {
    PageCtx ctx{&col, pos};
    if (pos >= end)
      return chunk_error(absl::StrCat("chunk ends after ", out->num_slots, " of ", total,
                                      " values (offset ", pos, ")"));
    PageHeader ph;
    size_t consumed = 0;
    if (auto s = ParsePageHeader(file.substr(pos, end - pos), pos, &ph, &consumed); !s.ok())
      return chunk_error(s.message());
    pos += consumed;
    if (ph.compressed_size < 0 || static_cast<size_t>(ph.compressed_size) > end - pos)
      return ctx.Error(absl::StrCat("compressed size ", ph.compressed_size,
                                    " beyond the column chunk"));
    if (ph.uncompressed_size < 0 || static_cast<size_t>(ph.uncompressed_size) > opts.max_page_bytes)
      return ctx.Error(absl::StrCat("uncompressed size ", ph.uncompressed_size,
                                    " beyond the page cap"));
    std::string_view body = file.substr(pos, ph.compressed_size);
    pos += ph.compressed_size;
    const size_t usize = static_cast<size_t>(ph.uncompressed_size);
    // A page's value slots: generous for RLE-coded nulls, still bounded.
    const uint64_t page_slot_cap = uint64_t{8} * usize + (uint64_t{1} << 20);

    if (ph.type == kDictionaryPage) {
      if (!ph.dict) return ctx.Error("dictionary page without its header");
      if (have_dict) return ctx.Error("second dictionary page in a column chunk");
      if (ph.dict->encoding != kPlain && ph.dict->encoding != kPlainDictionary)
        return ctx.Error(absl::StrCat("dictionary encoding ", EncodingName(ph.dict->encoding),
                                      " not supported"));
      if (ph.dict->num_values < 0 || static_cast<uint64_t>(ph.dict->num_values) > page_slot_cap)
        return ctx.Error(absl::StrCat("dictionary size ", ph.dict->num_values));
      if (auto s = Decompress(ctx, meta.codec, body, usize, &page); !s.ok()) return s;
      if (auto s = DecodePlain(ctx, col, page, ph.dict->num_values, &dict); !s.ok()) return s;
      have_dict = true;
      continue;
    }
    if (ph.type != kDataPage && ph.type != kDataPageV2) continue;  // index pages etc.

    const bool v2 = ph.type == kDataPageV2;
    if (v2 ? !ph.data_v2 : !ph.data) return ctx.Error("data page without its header");
    const int32_t num = v2 ? ph.data_v2->num_values : ph.data->num_values;
    if (num < 0 || static_cast<uint64_t>(num) > page_slot_cap)
      return ctx.Error(absl::StrCat("value count ", num, " not plausible for the page size"));
    const size_t n = static_cast<size_t>(num);
    if (n > total - out->num_slots)
      return ctx.Error(absl::StrCat("page has ", n, " values, chunk has ",
                                    total - out->num_slots, " left"));
    const size_t level_start = out->defs.size();
    std::string_view values;
    int32_t encoding;
    if (!v2) {
      if (auto s = Decompress(ctx, meta.codec, body, usize, &page); !s.ok()) return s;
      std::string_view data = page;
      if (col.max_rep > 0) {
        if (auto s = DecodeV1Levels(ctx, &data, ph.data->rep_encoding, col.max_rep, n,
                                    "repetition", &out->reps);
            !s.ok())
          return s;
      }
      if (col.max_def > 0) {
        if (auto s = DecodeV1Levels(ctx, &data, ph.data->def_encoding, col.max_def, n,
                                    "definition", &out->defs);
            !s.ok())
          return s;
      }
      values = data;
      encoding = ph.data->encoding;
    } else {
      const DataPageHeaderV2& h = *ph.data_v2;
      if (h.rep_bytes < 0 || h.def_bytes < 0 ||
          static_cast<uint64_t>(h.rep_bytes) + h.def_bytes > body.size() ||
          static_cast<uint64_t>(h.rep_bytes) + h.def_bytes > usize)
        return ctx.Error("level sizes beyond the page");
      if (col.max_rep > 0) {
        if (auto s = DecodeLevels(ctx, body.substr(0, h.rep_bytes), col.max_rep, n,
                                  "repetition", &out->reps);
            !s.ok())
          return s;
      }
      if (col.max_def > 0) {
        if (auto s = DecodeLevels(ctx, body.substr(h.rep_bytes, h.def_bytes), col.max_def, n,
                                  "definition", &out->defs);
            !s.ok())
          return s;
      }
      std::string_view raw = body.substr(h.rep_bytes + h.def_bytes);
      size_t vsize = usize - h.rep_bytes - h.def_bytes;
      if (h.is_compressed && meta.codec != kUncompressed) {
        if (auto s = Decompress(ctx, meta.codec, raw, vsize, &page); !s.ok()) return s;
        values = page;
      } else {
        if (raw.size() != vsize)
          return ctx.Error(absl::StrCat("values section of ", raw.size(),
                                        " bytes, header says ", vsize));
        values = raw;
      }
      encoding = h.encoding;
    }
    if (col.max_rep > 0 && n > 0 && out->num_slots == 0 && out->reps[0] != 0)
      return ctx.Error("first value continues a row (repetition level not 0)");
    size_t non_null = CountNonNull(col, out->defs, level_start, n);
    if (auto s = DecodeValues(ctx, col, values, encoding, non_null, have_dict ? &dict : nullptr,
                              &bytes_left, &out->values);
        !s.ok())
      return s;
    out->num_slots += n;
  }
  return absl::OkStatus();
}

}  // namespace evs::parquet::internal
