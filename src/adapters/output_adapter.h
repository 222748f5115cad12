#pragma once

#include <memory>
#include <string>
#include <vector>

#include "adapters/processor_base.h"
#include "codec/decode.h"

namespace evs::adapters {

// The output adapter's per-record logic. A result record on evs.results has
// the routing facts in headers and the value {"outputs": {...}, "input":
// {...}} (see docs/wire-format.md). The first output rule whose match fits
// (route, model, variant, shadow) decides the topic; its transform runs on
// the outputs, then the configured headers and input fields are attached.
// Shadow results go to <topic><shadow_topic_suffix> unless the rule matches
// shadow explicitly.
class OutputAdapter : public ProcessorBase {
 public:
  OutputAdapter(std::string module, std::shared_ptr<const config::Config> cfg,
                runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
                metrics::Registry* registry);
  void Process(const kafka::InRecord& in, kafka::OutBatch* out) override;
  std::vector<std::string> Topics() const override { return {cfg_->topics.results}; }
  std::vector<std::string> OutputTopics() const override;

 protected:
  bool Rebuild(const config::Config& cfg, std::string* reason) override;

 private:
  struct OutputState {
    const config::Output* output;
    metrics::Counter* out;
    // The outputs fields the rule's transform can pass on (see
    // TransformChain::ResultFields); only these are decoded.
    bool project = false;
    std::vector<std::string> fields;
  };
  std::vector<OutputState> outputs_;
  codec::JsonDecoder json_;
  metrics::Counter* in_;
  metrics::Histogram* latency_;
  Record rec_, input_;  // scratch for Process
};

}  // namespace evs::adapters
