// libFuzzer target: every decoder must return true or fail with stage
// "decode" and a known code, never crash; a decoded JSON record must survive
// a round trip through the JSON writer unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "codec/decode.h"
#include "common/json_writer.h"
#include "common/value.h"

namespace {

void Check(bool cond, const char* what) {
  if (cond) return;
  std::fprintf(stderr, "decode_fuzz: check failed: %s\n", what);
  std::abort();
}

void CheckError(const evs::EventError& err) {
  static const std::set<std::string> kCodes = {
      "empty_value",   "invalid_utf8",  "invalid_json", "trailing_bytes",
      "not_an_object", "duplicate_key", "too_deep",     "number_out_of_range",
      "csv_columns",   "invalid_csv",   "internal_error"};
  Check(err.stage == "decode", "stage");
  Check(kCodes.count(err.code) == 1, "known code");
  Check(!err.message.empty(), "message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static evs::codec::JsonDecoder* decoder = new evs::codec::JsonDecoder(16);
  static const std::vector<std::string> kColumns = {"a", "b", "c"};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  evs::Record record;
  evs::EventError err;

  if (decoder->Decode(bytes, &record, &err)) {
    std::set<std::string> names;
    for (const evs::Field& f : record.fields()) Check(names.insert(f.name).second, "unique names");
    // Decoded values re-encode to JSON that decodes to the same record.
    const std::string json = evs::RecordToJson(record);
    evs::Record again;
    Check(decoder->Decode(json, &again, &err), "re-encoded record decodes");
    Check(again == record, "re-encoded record round-trips");
  } else {
    CheckError(err);
  }

  if (evs::codec::DecodeCsv(bytes, kColumns, ',', &record, &err)) {
    Check(record.size() == kColumns.size(), "one field per column");
  } else {
    CheckError(err);
  }

  if (evs::codec::DecodeText(bytes, "text", &record, &err)) {
    Check(record.size() == 1, "one text field");
  } else {
    CheckError(err);
  }
  return 0;
}
