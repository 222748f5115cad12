#pragma once

#include <memory>
#include <string>
#include <vector>

#include "adapters/processor_base.h"
#include "codec/decode.h"

namespace evs::adapters {

// A diagnostic model job: its "model" returns the request's features as its
// outputs. It exercises the whole path (requests topic, result wire format,
// headers, delivery guarantees) without a model engine, and is what the
// platform's end-to-end tests and the first demo run. Results carry
// evs-model-version "echo".
class EchoJob : public ProcessorBase {
 public:
  EchoJob(std::string module, std::string job, std::shared_ptr<const config::Config> cfg,
          runtime::ConfigSlot* slot, runtime::StatusReporter* reporter, metrics::Registry* registry);
  void Process(const kafka::InRecord& in, kafka::OutBatch* out) override;
  std::vector<std::string> Topics() const override { return {cfg_->topics.requests_prefix + job_}; }

 protected:
  bool Rebuild(const config::Config& cfg, std::string* reason) override { return true; }

 private:
  std::string job_;
  codec::JsonDecoder json_;
  metrics::Counter* in_;
  metrics::Counter* out_;
};

}  // namespace evs::adapters
