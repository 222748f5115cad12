#include "parquet/metadata.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace evs::parquet::internal {
namespace {

// Compact-protocol type ids.
enum : uint8_t {
  kTStop = 0, kTTrue = 1, kTFalse = 2, kTByte = 3, kTI16 = 4, kTI32 = 5, kTI64 = 6,
  kTDouble = 7, kTBinary = 8, kTList = 9, kTSet = 10, kTMap = 11, kTStruct = 12,
};
constexpr int kMaxThriftDepth = 64;

// Thrift compact-protocol reader over one buffer. Field values of type bool
// are carried in the field header, so reads take the header's type.
class Reader {
 public:
  Reader(std::string_view buf, size_t base) : buf_(buf), base_(base) {}

  size_t pos() const { return pos_; }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("parquet thrift: ", what, " at offset ", base_ + pos_));
  }

  absl::Status Byte(uint8_t* b) {
    if (pos_ >= buf_.size()) return Error("unexpected end of metadata");
    *b = static_cast<uint8_t>(buf_[pos_++]);
    return absl::OkStatus();
  }

  absl::Status Varint(uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (auto s = Byte(&b); !s.ok()) return s;
      r |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        *v = r;
        return absl::OkStatus();
      }
    }
    return Error("varint too long");
  }

  absl::Status ZigZag(int64_t* v) {
    uint64_t u = 0;
    if (auto s = Varint(&u); !s.ok()) return s;
    *v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
    return absl::OkStatus();
  }

  absl::Status I32(uint8_t type, int32_t* v) {
    if (type != kTI32 && type != kTI16 && type != kTByte) return Error("expected i32 field");
    if (type == kTByte) {
      uint8_t b = 0;
      if (auto s = Byte(&b); !s.ok()) return s;
      *v = static_cast<int8_t>(b);
      return absl::OkStatus();
    }
    int64_t x = 0;
    if (auto s = ZigZag(&x); !s.ok()) return s;
    if (x < INT32_MIN || x > INT32_MAX) return Error("i32 out of range");
    *v = static_cast<int32_t>(x);
    return absl::OkStatus();
  }

  absl::Status I64(uint8_t type, int64_t* v) {
    if (type == kTI32 || type == kTI16 || type == kTByte) {
      int32_t x = 0;
      if (auto s = I32(type, &x); !s.ok()) return s;
      *v = x;
      return absl::OkStatus();
    }
    if (type != kTI64) return Error("expected i64 field");
    return ZigZag(v);
  }

  absl::Status Bool(uint8_t type, bool* v) {
    if (type != kTTrue && type != kTFalse) return Error("expected bool field");
    *v = type == kTTrue;
    return absl::OkStatus();
  }

  absl::Status Binary(uint8_t type, std::string_view* v) {
    if (type != kTBinary) return Error("expected binary field");
    uint64_t n = 0;
    if (auto s = Varint(&n); !s.ok()) return s;
    if (n > buf_.size() - pos_) return Error("binary length beyond metadata");
    *v = buf_.substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status String(uint8_t type, std::string* v) {
    std::string_view sv;
    if (auto s = Binary(type, &sv); !s.ok()) return s;
    v->assign(sv);
    return absl::OkStatus();
  }

  // Reads a list header; the size is checked against the bytes left (every
  // element takes at least one byte), so callers may reserve it.
  absl::Status ListHeader(uint8_t type, uint8_t* elem_type, size_t* size) {
    if (type != kTList && type != kTSet) return Error("expected list field");
    uint8_t b = 0;
    if (auto s = Byte(&b); !s.ok()) return s;
    *elem_type = b & 0x0f;
    uint64_t n = b >> 4;
    if (n == 15) {
      if (auto s = Varint(&n); !s.ok()) return s;
    }
    if (n > buf_.size() - pos_) return Error("list size beyond metadata");
    *size = n;
    return absl::OkStatus();
  }

  // Calls field(id, type) for each field of a struct; `field` must consume
  // the value (or call Skip).
  template <typename F>
  absl::Status Struct(F&& field) {
    if (++depth_ > kMaxThriftDepth) return Error("structures nested too deeply");
    int16_t last = 0;
    for (;;) {
      uint8_t b = 0;
      if (auto s = Byte(&b); !s.ok()) return s;
      if (b == kTStop) break;
      uint8_t type = b & 0x0f;
      int16_t id;
      if ((b >> 4) != 0) {
        id = static_cast<int16_t>(last + (b >> 4));
      } else {
        int64_t x = 0;
        if (auto s = ZigZag(&x); !s.ok()) return s;
        if (x < INT16_MIN || x > INT16_MAX) return Error("field id out of range");
        id = static_cast<int16_t>(x);
      }
      last = id;
      if (auto s = field(id, type); !s.ok()) return s;
    }
    --depth_;
    return absl::OkStatus();
  }

  // Skips one value; `in_collection` bools take a byte, field bools none.
  absl::Status Skip(uint8_t type, bool in_collection = false) {
    if (depth_ > kMaxThriftDepth) return Error("structures nested too deeply");
    uint64_t n = 0;
    switch (type) {
      case kTTrue:
      case kTFalse:
        if (in_collection) return Advance(1);
        return absl::OkStatus();
      case kTByte:
        return Advance(1);
      case kTI16:
      case kTI32:
      case kTI64:
        return Varint(&n);
      case kTDouble:
        return Advance(8);
      case kTBinary: {
        std::string_view sv;
        return Binary(type, &sv);
      }
      case kTList:
      case kTSet: {
        uint8_t et = 0;
        size_t size = 0;
        if (auto s = ListHeader(type, &et, &size); !s.ok()) return s;
        ++depth_;
        for (size_t i = 0; i < size; ++i)
          if (auto s = Skip(et, true); !s.ok()) return s;
        --depth_;
        return absl::OkStatus();
      }
      case kTMap: {
        if (auto s = Varint(&n); !s.ok()) return s;
        if (n == 0) return absl::OkStatus();
        if (n > buf_.size() - pos_) return Error("map size beyond metadata");
        uint8_t kv = 0;
        if (auto s = Byte(&kv); !s.ok()) return s;
        ++depth_;
        for (uint64_t i = 0; i < n; ++i) {
          if (auto s = Skip(kv >> 4, true); !s.ok()) return s;
          if (auto s = Skip(kv & 0x0f, true); !s.ok()) return s;
        }
        --depth_;
        return absl::OkStatus();
      }
      case kTStruct:
        return Struct([this](int16_t, uint8_t t) { return Skip(t); });
      default:
        return Error(absl::StrCat("unknown thrift type ", type));
    }
  }

 private:
  absl::Status Advance(size_t n) {
    if (n > buf_.size() - pos_) return Error("unexpected end of metadata");
    pos_ += n;
    return absl::OkStatus();
  }

  std::string_view buf_;
  size_t base_;
  size_t pos_ = 0;
  int depth_ = 0;
};

#define EVS_PQ_RETURN(expr)              \
  do {                                   \
    if (auto _s = (expr); !_s.ok()) return _s; \
  } while (0)

template <typename F>
absl::Status ForEachElement(Reader& r, uint8_t type, uint8_t want, F&& f) {
  uint8_t et = 0;
  size_t n = 0;
  EVS_PQ_RETURN(r.ListHeader(type, &et, &n));
  if (n > 0 && et != want) return r.Error("unexpected list element type");
  for (size_t i = 0; i < n; ++i) EVS_PQ_RETURN(f());
  return absl::OkStatus();
}

absl::Status ParseLogicalType(Reader& r, LogicalType* out) {
  return r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    switch (id) {
      case 1:  // STRING
      case 4:  // ENUM
      case 12:  // JSON
        out->is_string = true;
        return r.Skip(type);
      case 2:
        out->is_map = true;
        return r.Skip(type);
      case 3:
        out->is_list = true;
        return r.Skip(type);
      case 10:  // INTEGER {1: bitWidth byte, 2: isSigned bool}
        if (type != kTStruct) return r.Skip(type);
        return r.Struct([&](int16_t fid, uint8_t ft) -> absl::Status {
          if (fid == 2 && (ft == kTTrue || ft == kTFalse)) {
            out->is_unsigned_int = ft == kTFalse;
            return absl::OkStatus();
          }
          return r.Skip(ft);
        });
      default:
        return r.Skip(type);
    }
  });
}

absl::Status ParseSchemaElement(Reader& r, SchemaElement* out) {
  return r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    int32_t v = 0;
    switch (id) {
      case 1:
        EVS_PQ_RETURN(r.I32(type, &v));
        out->type = v;
        return absl::OkStatus();
      case 2:
        return r.I32(type, &out->type_length);
      case 3:
        EVS_PQ_RETURN(r.I32(type, &v));
        out->repetition = v;
        return absl::OkStatus();
      case 4:
        return r.String(type, &out->name);
      case 5:
        EVS_PQ_RETURN(r.I32(type, &v));
        out->num_children = v;
        return absl::OkStatus();
      case 6:
        EVS_PQ_RETURN(r.I32(type, &v));
        out->converted_type = v;
        return absl::OkStatus();
      case 10:
        if (type != kTStruct) return r.Skip(type);
        return ParseLogicalType(r, &out->logical);
      default:
        return r.Skip(type);
    }
  });
}

absl::Status ParseColumnMetaData(Reader& r, ColumnMetaData* out) {
  return r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    switch (id) {
      case 1:
        return r.I32(type, &out->type);
      case 3:
        return ForEachElement(r, type, kTBinary, [&]() -> absl::Status {
          std::string s;
          EVS_PQ_RETURN(r.String(kTBinary, &s));
          out->path.push_back(std::move(s));
          return absl::OkStatus();
        });
      case 4:
        return r.I32(type, &out->codec);
      case 5:
        return r.I64(type, &out->num_values);
      case 7:
        return r.I64(type, &out->total_compressed_size);
      case 9:
        return r.I64(type, &out->data_page_offset);
      case 11: {
        int64_t v = 0;
        EVS_PQ_RETURN(r.I64(type, &v));
        out->dictionary_page_offset = v;
        return absl::OkStatus();
      }
      default:
        return r.Skip(type);
    }
  });
}

absl::Status ParseColumnChunk(Reader& r, ColumnChunk* out) {
  return r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    if (id == 1 && type == kTBinary) {
      std::string_view path;
      EVS_PQ_RETURN(r.Binary(type, &path));
      if (!path.empty()) return r.Error("column chunks in other files are not supported");
      return absl::OkStatus();
    }
    if (id == 3 && type == kTStruct) {
      out->has_meta = true;
      return ParseColumnMetaData(r, &out->meta);
    }
    return r.Skip(type);
  });
}

absl::Status ParseRowGroup(Reader& r, RowGroup* out) {
  return r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    switch (id) {
      case 1:
        return ForEachElement(r, type, kTStruct, [&]() {
          out->columns.emplace_back();
          return ParseColumnChunk(r, &out->columns.back());
        });
      case 3:
        return r.I64(type, &out->num_rows);
      default:
        return r.Skip(type);
    }
  });
}

}  // namespace

absl::Status ParseFileMetaData(std::string_view buf, size_t base, FileMetaData* out) {
  Reader r(buf, base);
  return r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    switch (id) {
      case 2:
        return ForEachElement(r, type, kTStruct, [&]() {
          out->schema.emplace_back();
          return ParseSchemaElement(r, &out->schema.back());
        });
      case 3:
        return r.I64(type, &out->num_rows);
      case 4:
        return ForEachElement(r, type, kTStruct, [&]() {
          out->row_groups.emplace_back();
          return ParseRowGroup(r, &out->row_groups.back());
        });
      default:
        return r.Skip(type);
    }
  });
}

absl::Status ParsePageHeader(std::string_view buf, size_t base, PageHeader* out,
                             size_t* consumed) {
  Reader r(buf, base);
  absl::Status s = r.Struct([&](int16_t id, uint8_t type) -> absl::Status {
    switch (id) {
      case 1:
        return r.I32(type, &out->type);
      case 2:
        return r.I32(type, &out->uncompressed_size);
      case 3:
        return r.I32(type, &out->compressed_size);
      case 5: {
        if (type != kTStruct) return r.Skip(type);
        DataPageHeader& h = out->data.emplace();
        return r.Struct([&](int16_t fid, uint8_t ft) -> absl::Status {
          switch (fid) {
            case 1: return r.I32(ft, &h.num_values);
            case 2: return r.I32(ft, &h.encoding);
            case 3: return r.I32(ft, &h.def_encoding);
            case 4: return r.I32(ft, &h.rep_encoding);
            default: return r.Skip(ft);
          }
        });
      }
      case 7: {
        if (type != kTStruct) return r.Skip(type);
        DictionaryPageHeader& h = out->dict.emplace();
        return r.Struct([&](int16_t fid, uint8_t ft) -> absl::Status {
          switch (fid) {
            case 1: return r.I32(ft, &h.num_values);
            case 2: return r.I32(ft, &h.encoding);
            default: return r.Skip(ft);
          }
        });
      }
      case 8: {
        if (type != kTStruct) return r.Skip(type);
        DataPageHeaderV2& h = out->data_v2.emplace();
        return r.Struct([&](int16_t fid, uint8_t ft) -> absl::Status {
          switch (fid) {
            case 1: return r.I32(ft, &h.num_values);
            case 2: return r.I32(ft, &h.num_nulls);
            case 3: return r.I32(ft, &h.num_rows);
            case 4: return r.I32(ft, &h.encoding);
            case 5: return r.I32(ft, &h.def_bytes);
            case 6: return r.I32(ft, &h.rep_bytes);
            case 7: return r.Bool(ft, &h.is_compressed);
            default: return r.Skip(ft);
          }
        });
      }
      default:
        return r.Skip(type);
    }
  });
  if (!s.ok()) return s;
  *consumed = r.pos();
  return absl::OkStatus();
}

}  // namespace evs::parquet::internal
