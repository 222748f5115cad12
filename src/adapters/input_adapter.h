#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/processor_base.h"
#include "codec/decode.h"
#include "routing/splitter.h"

namespace evs::adapters {

// The input adapter's per-record logic: decode, pick a route (topic plus
// optional predicate, first match wins in config order), transform, split
// between variants, and emit one request per chosen variant (plus one per
// shadow variant) to evs.requests.<job>, keyed by the event key. Every
// failure becomes a dead letter. Runs on the runner thread only.
class InputAdapter : public ProcessorBase {
 public:
  InputAdapter(std::string module, std::shared_ptr<const config::Config> cfg,
               runtime::ConfigSlot* slot, runtime::StatusReporter* reporter,
               metrics::Registry* registry);
  void Process(const kafka::InRecord& in, kafka::OutBatch* out) override;
  std::vector<std::string> Topics() const override;
  std::vector<std::string> OutputTopics() const override;

 protected:
  bool Rebuild(const config::Config& cfg, std::string* reason) override;

 private:
  struct VariantState {
    std::string topic;  // evs.requests.<job>
    metrics::Counter* out;
  };
  struct RouteState {
    const config::Route* route;
    std::unique_ptr<routing::Splitter> splitter;
    std::vector<VariantState> variants;
    metrics::Counter* in;
    metrics::Histogram* latency;
  };
  // The routes reading one topic, and the fields their predicates, split
  // fields and transforms can touch when all of them are JSON routes whose
  // transforms leave other fields alone (TransformChain::FieldsTouched):
  // then only those fields are decoded, and a route that turns out to need
  // the whole record (AppendsOnly false) decodes it again in full.
  struct TopicRoutes {
    std::vector<RouteState> routes;
    bool project = false;
    std::vector<std::string> fields;
  };
  bool Decode(const config::Route& route, std::string_view value, Record* rec, EventError* err,
              const std::vector<std::string>* only = nullptr);

  std::shared_ptr<const config::Config> built_for_;
  std::map<std::string, TopicRoutes, std::less<>> by_topic_;
  std::vector<std::string> topics_;
  codec::JsonDecoder json_;
  uint32_t json_depth_ = 0;
  metrics::Counter* no_route_;
  std::string value_buf_, src_buf_, split_buf_;
  int64_t ts_ms_ = -1;  // evs-ts of the last record, and its text
  std::string ts_str_;
  Record rec_;             // reused across records: decoders clear it, capacity stays
  std::string config_version_str_;
};

}  // namespace evs::adapters
