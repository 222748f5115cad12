#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/value.h"

namespace evs::codec {

// Decoders from a Kafka record value into a Record. All of them clear *out
// first; on failure they return false, leave *out in an unspecified (valid)
// state and fill *err with stage "decode" and one of these stable codes:
//
//   empty_value          zero bytes (JSON: also whitespace only)
//   invalid_utf8         bytes are not valid UTF-8 (message gives the offset)
//   invalid_json         syntax error, truncated document, NaN/Infinity, ...
//   trailing_bytes       a complete JSON value followed by non-whitespace
//   not_an_object        top-level JSON value is not an object
//   duplicate_key        a key repeated in the top-level object
//   too_deep             objects/arrays nested deeper than max_depth
//   number_out_of_range  a number outside the range of a double (1e999)
//   csv_columns          cell count differs from the column count
//   invalid_csv          unterminated quoted cell or text after a closing quote
//   internal_error       the JSON parser could not allocate memory (not the
//                        event's fault)
//
// Messages are for people and may change; codes may not.

// JSON object decoder. One per thread (owns a simdjson parser and a padded
// input buffer, both reused across calls); not thread-safe.
class JsonDecoder {
 public:
  // max_depth bounds the nesting of objects/arrays; the top-level object is
  // depth 1, so {"a":[1]} has depth 2. As in simdjson, an empty {} or [] adds
  // no level ({"a":[]} has depth 1). Values below 1 are treated as 1.
  explicit JsonDecoder(uint32_t max_depth = 64);
  ~JsonDecoder();
  JsonDecoder(JsonDecoder&&) noexcept;
  JsonDecoder& operator=(JsonDecoder&&) noexcept;
  JsonDecoder(const JsonDecoder&) = delete;
  JsonDecoder& operator=(const JsonDecoder&) = delete;

  // Decodes a JSON object into fields in document order. Scalars become
  // Number / String / Bool / Null; nested objects and arrays become
  // Value::Raw(minified JSON text). Every number becomes the nearest double,
  // integers beyond 64 bits included (also inside Raw text, which is
  // re-serialized and so need not match the input's number spelling).
  //
  // With `only`, the whole document is still parsed and checked (syntax,
  // depth, numbers, duplicate keys anywhere), but only the fields named in
  // it are put into *out, in document order: for callers that read a few
  // fields and pass the original bytes on.
  bool Decode(std::string_view bytes, Record* out, EventError* err,
              const std::vector<std::string>* only = nullptr);

  // Object members of a top-level object, for DecodeMembers.
  struct Member {
    std::string_view name;
    Record* out;                                   // cleared, then filled if found
    const std::vector<std::string>* only = nullptr;  // as in Decode
    bool found = false;                            // set: present and an object
  };

  // Decodes the named members of a top-level object, each of which should
  // be an object, into their own Records from one parse: for values that
  // wrap objects, such as results ({"outputs":{...},"input":{...}}). The
  // whole document is checked as by Decode (syntax, depth, numbers,
  // not_an_object, duplicate top-level keys), and each member found is
  // decoded as Decode would decode its text alone (duplicate keys inside
  // it refused, `only` projecting). A member that is absent or not an
  // object is left with found == false for the caller to judge.
  bool DecodeMembers(std::string_view bytes, Member* members, size_t n, EventError* err);

  uint32_t max_depth() const { return max_depth_; }

 private:
  struct State;  // simdjson parser and buffers; keeps simdjson out of this header.

  // Parses bytes into the simdjson::dom::object at obj (a void* to keep
  // simdjson out of this header); fills *err as Decode does.
  bool ParseObject(std::string_view bytes, void* obj, EventError* err);

  uint32_t max_depth_;
  std::unique_ptr<State> state_;
};

// Decodes one RFC 4180 CSV record into fields named by `columns` (which
// should be distinct), in order. One trailing "\r\n" or "\n" is stripped.
// Cells are split on `delimiter` (must not be '"', '\r' or '\n'); a cell that
// starts with '"' is quoted, may contain the delimiter, newlines and doubled
// quotes (""), and always becomes a String (so "007" stays text). An unquoted
// cell that is empty becomes Null; one that is entirely a finite number in
// std::from_chars syntax (no leading '+' or spaces) becomes Number; anything
// else becomes String, byte for byte (no trimming).
bool DecodeCsv(std::string_view line, const std::vector<std::string>& columns, char delimiter,
               Record* out, EventError* err);

// Puts the whole value, minus one trailing "\r\n" or "\n", into `field` as a
// String. Fails on empty or non-UTF-8 input.
bool DecodeText(std::string_view bytes, const std::string& field, Record* out, EventError* err);

}  // namespace evs::codec
