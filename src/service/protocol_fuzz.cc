// libFuzzer target: the codecs must accept or reject any answer with a
// status, never crash; an accepted answer gives exactly n rows, each a
// fragment that makes a JSON object when wrapped in braces. The first byte
// picks the codec and the batch size, the rest is the body.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "service/protocol.h"
#include "simdjson.h"

namespace {

using evs::service::Codec;
using evs::service::DType;
using evs::service::InputTensor;
using evs::service::OutputMapping;
using evs::service::Protocol;
using evs::service::TfFormat;

void Check(bool cond, const char* what) {
  if (cond) return;
  std::fprintf(stderr, "protocol_fuzz: check failed: %s\n", what);
  std::abort();
}

std::vector<Codec> MakeCodecs() {
  const std::vector<InputTensor> in = {{"x", DType::kFp64, {2}, {"a", "b"}}};
  const std::vector<std::vector<OutputMapping>> mappings = {
      {}, {{"predict", "label"}, {"proba", "p"}}, {{"", "all"}, {"scores", "s"}}};
  std::vector<Codec> codecs;
  for (const auto& m : mappings) {
    if (auto c = Codec::Create(Protocol::kTfServing, TfFormat::kInstances, in, m); c.ok())
      codecs.push_back(*std::move(c));
    if (auto c = Codec::Create(Protocol::kTfServing, TfFormat::kInputs, in, m); c.ok())
      codecs.push_back(*std::move(c));
    if (auto c = Codec::Create(Protocol::kV2, TfFormat::kInstances, in, m); c.ok())
      codecs.push_back(*std::move(c));
  }
  return codecs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Codec> codecs = MakeCodecs();
  if (size == 0) return 0;
  const Codec& codec = codecs[data[0] % codecs.size()];
  const size_t n = (data[0] / codecs.size()) % 5;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  std::vector<std::string> rows;
  absl::Status s = codec.DecodeResponse(body, n, &rows);
  if (!s.ok()) {
    Check(!s.message().empty(), "errors say why");
    Check(rows.empty(), "rows cleared on error");
  } else {
    Check(rows.size() == n, "one fragment per row");
    simdjson::dom::parser parser;
    for (const std::string& r : rows) {
      simdjson::padded_string doc("{" + r + "}");
      simdjson::dom::element root;
      Check(parser.parse(doc).get(root) == simdjson::SUCCESS, "fragment is JSON");
    }
  }
  auto md = evs::service::ParseV2Metadata(body);
  Check(md.ok() || !md.status().message().empty(), "metadata errors say why");
  (void)evs::service::IsReadyResponse(Protocol::kTfServing, 200, body);
  return 0;
}
