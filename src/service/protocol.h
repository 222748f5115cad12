#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/value.h"

namespace evs::service {

// Request/response codecs for the two REST model-server protocols:
//  - TensorFlow Serving REST (also KServe's v1 protocol):
//    POST /v1/models/<m>[/versions/<v>]:predict with the row format
//    {"instances":[...]} or the columnar format {"inputs":...}; the answer is
//    {"predictions":[...]} (row) or {"outputs":...} (columnar).
//  - Open Inference Protocol v2 (KServe v2, MLServer, Triton):
//    POST /v2/models/<m>[/versions/<v>]/infer with typed tensors
//    {"inputs":[{"name","datatype","shape","data"}]}; the answer has
//    "outputs" tensors of the same form.
// Pure functions of their inputs; no I/O. Thread-safe (const).

enum class Protocol { kTfServing, kV2 };
enum class TfFormat { kInstances, kInputs };  // TF Serving request format
enum class DType { kBool, kInt8, kInt16, kInt32, kInt64, kUint8, kUint16, kUint32, kUint64, kFp16, kFp32, kFp64, kBytes };

// "FP64", "INT64", "BYTES", ... (v2 names, upper case). Parse is
// case-insensitive and also takes TF names ("float32", "int64", "string").
bool ParseDType(std::string_view name, DType* out);
const char* DTypeName(DType t);

// An input tensor, filled per record from event fields in row-major order.
// shape is the per-record shape, without the batch dimension: empty means a
// scalar (exactly one field); otherwise the product of the dims equals
// fields.size() (no -1 here).
struct InputTensor {
  std::string name;
  DType dtype = DType::kFp64;
  std::vector<int64_t> shape;
  std::vector<std::string> fields;
};

// A response tensor (v2: the output's name; TF: the key of a named
// prediction/output, or "" for an unnamed one) written to result field
// `field`.
struct OutputMapping {
  std::string tensor;
  std::string field;
};

// Where a model lives. base_url is "http://host:port" (no trailing slash).
struct ModelRef {
  std::string base_url;
  std::string model;
  std::string version;  // empty: the server's default version
};

std::string InferUrl(Protocol p, const ModelRef& m);       // :predict or /infer
std::string ModelReadyUrl(Protocol p, const ModelRef& m);  // v2: .../ready; TF: model status GET /v1/models/<m>[/versions/<v>]
std::string MetadataUrl(Protocol p, const ModelRef& m);    // v2: /v2/models/<m>[/versions/<v>]; TF: .../metadata
std::string ServerReadyUrl(Protocol p, const ModelRef& m); // v2: /v2/health/ready; TF: same as ModelReadyUrl

// Whether a readiness answer (HTTP 200 body) says "ready": v2 endpoints
// answer 200 when ready; TF model status answers
// {"model_version_status":[{"state":"AVAILABLE",...}]} and KServe v1
// answers {"name":..,"ready":true}.
bool IsReadyResponse(Protocol p, int status, std::string_view body);

// A tensor as a v2 metadata document describes it.
struct TensorMeta {
  std::string name;
  std::string datatype;        // as given ("FP64")
  std::vector<int64_t> shape;  // as given, -1 for variable dims
};
struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::vector<TensorMeta> inputs;
  std::vector<TensorMeta> outputs;
};
absl::StatusOr<ModelMetadata> ParseV2Metadata(std::string_view body);

// One record's input values: for each input tensor in order, its fields'
// values in order (so values.size() == sum of fields.size()). Values are
// numbers, bools or strings; a null is refused by Encode (the job
// dead-letters such records before they reach the codec).
using RowValues = std::vector<Value>;

// Encodes batches and decodes answers for one configured model. Built once
// per config (Create validates the mapping), then used from one thread.
class Codec {
 public:
  // Errors name the offending input/output ("inputs[1].shape: 3 dims hold 6
  // values but 4 fields are listed"). outputs may be empty: then every
  // response tensor/prediction is written (see DecodeResponse).
  static absl::StatusOr<Codec> Create(Protocol protocol, TfFormat tf_format,
                                      std::vector<InputTensor> inputs,
                                      std::vector<OutputMapping> outputs);

  // Appends the request body for the rows (one per record of the batch) to
  // *body. A value that does not fit its tensor's dtype (a string for FP64,
  // 3.5 for INT64, a number for BYTES) gives an error naming the field and
  // the row index; the caller dead-letters that record and encodes the rest.
  absl::Status EncodeRequest(const std::vector<const RowValues*>& rows, std::string* body) const;
  // Checks one row the way EncodeRequest would (so the job can dead-letter a
  // bad record before batching it).
  absl::Status CheckRow(const RowValues& row) const;

  // Decodes a 2xx answer for a batch of n rows into one JSON fragment per
  // row: `"field":value,"field2":value` (no braces, may be empty), in
  // output-mapping order. A tensor holding one value per row gives a scalar;
  // more gives a JSON array nested by the tensor's per-row shape.
  // With no mapping configured: v2 writes each output tensor under its own
  // name, except a single output tensor, which is written as "prediction";
  // TF writes an object prediction's keys, and any other prediction as
  // "prediction".
  // Errors (the whole batch failed; the caller retries or dead-letters):
  // malformed JSON, a missing mapped output, a tensor whose first dimension
  // or data length does not match n rows ("output 'predict' has shape [3,1]
  // for a batch of 4"), a v2 "error" answer.
  absl::Status DecodeResponse(std::string_view body, size_t n,
                              std::vector<std::string>* row_outputs) const;

  Protocol protocol() const { return protocol_; }
  const std::vector<InputTensor>& inputs() const { return inputs_; }
  const std::vector<OutputMapping>& outputs() const { return outputs_; }
  size_t values_per_row() const { return values_per_row_; }

 private:
  Protocol protocol_ = Protocol::kV2;
  TfFormat tf_format_ = TfFormat::kInstances;
  std::vector<InputTensor> inputs_;
  std::vector<OutputMapping> outputs_;
  size_t values_per_row_ = 0;
};

}  // namespace evs::service
