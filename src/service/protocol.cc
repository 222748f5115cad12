#include "service/protocol.h"

namespace evs::service {

// Stub: replaced by the codec implementation.
bool ParseDType(std::string_view, DType*) { return false; }
const char* DTypeName(DType) { return "FP64"; }
std::string InferUrl(Protocol, const ModelRef& m) { return m.base_url; }
std::string ModelReadyUrl(Protocol, const ModelRef& m) { return m.base_url; }
std::string MetadataUrl(Protocol, const ModelRef& m) { return m.base_url; }
std::string ServerReadyUrl(Protocol, const ModelRef& m) { return m.base_url; }
bool IsReadyResponse(Protocol, int status, std::string_view) { return status == 200; }
absl::StatusOr<ModelMetadata> ParseV2Metadata(std::string_view) {
  return absl::UnimplementedError("stub");
}
absl::StatusOr<Codec> Codec::Create(Protocol, TfFormat, std::vector<InputTensor>,
                                    std::vector<OutputMapping>) {
  return absl::UnimplementedError("stub");
}
absl::Status Codec::EncodeRequest(const std::vector<const RowValues*>&, std::string*) const {
  return absl::UnimplementedError("stub");
}
absl::Status Codec::CheckRow(const RowValues&) const { return absl::UnimplementedError("stub"); }
absl::Status Codec::DecodeResponse(std::string_view, size_t, std::vector<std::string>*) const {
  return absl::UnimplementedError("stub");
}

}  // namespace evs::service
