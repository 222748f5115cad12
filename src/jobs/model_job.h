#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "codec/decode.h"
#include "common/value.h"
#include "kafka/client.h"
#include "metrics/registry.h"
#include "models/model_store.h"
#include "simdjson.h"

namespace evs::jobs {

// Shared by the model jobs (pmml, spark).
//
// The result record every model job writes for a request: the request's
// headers plus evs-model-version and evs-model-digest, the results topic, the
// request's key, and the value {"outputs":{...},"input":<request>}. Strings
// are written into the recycled record, so a steady stream allocates nothing
// once their capacity suffices.
//
//   kafka::OutRecord& r = BeginResult(in, cfg->topics.results, out);
//   ...append the outputs' "key":value pairs to r.value...
//   FinishResult(in, *model, &r);
// A reused simdjson DOM parser with its own padded copy buffer (request
// values are not padded); the buffer grows to the largest value seen.
class PaddedJsonParser {
 public:
  simdjson::error_code Parse(std::string_view v, simdjson::dom::element* root) {
    const size_t need = v.size() + simdjson::SIMDJSON_PADDING;
    if (need > cap_) {
      cap_ = std::max(need, cap_ * 2);
      buf_.reset(new char[cap_]);
    }
    std::memcpy(buf_.get(), v.data(), v.size());
    std::memset(buf_.get() + v.size(), 0, simdjson::SIMDJSON_PADDING);
    return parser_.parse(buf_.get(), v.size(), false).get(*root);
  }

 private:
  simdjson::dom::parser parser_;
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
};

// A request value parsed as a JSON object by the fast path, or the dead
// letter's reason when it is not one: a tombstone, a value above
// max_event_bytes, or the codec's error code for it (invalid_json,
// too_deep, ...). One per job, used on the runner thread.
class RequestParser {
 public:
  explicit RequestParser(uint32_t max_depth) : diag_(max_depth) {}
  bool Parse(const kafka::InRecord& in, uint32_t max_event_bytes, simdjson::dom::object* obj,
             EventError* err);

 private:
  PaddedJsonParser json_;
  codec::JsonDecoder diag_;  // names the error code of values the fast path refuses
};

kafka::OutRecord& BeginResult(const kafka::InRecord& in, const std::string& results_topic,
                              kafka::OutBatch* out);
void FinishResult(const kafka::InRecord& in, const models::LoadedModel& m, kafka::OutRecord* r);

// The model gauges of a job module, read at scrape time: loads and rejected
// versions (from the watcher, which may be null in tests), and per served
// model its current version, load time and versions held.
void AddModelMetrics(metrics::Registry* registry, const std::string& module,
                     const models::ModelStore* store, const models::RegistryWatcher* watcher);

// The record path's side of a model swap, shared by the model jobs: when the
// store's epoch moved, take its new table; the old table and the per-version
// contexts (Ctx, movable) of versions the new table no longer holds go to
// store->Retire, so the teardown of an evicted version never runs between
// two records. The time this takes on the runner thread is observed in
// evs_model_swap_pause_seconds (and its maximum in a gauge): what a swap
// costs the records, measured where it happens.
class SwapClock {
 public:
  SwapClock(metrics::Registry* registry, const std::string& module);
  void Observe(double seconds);

 private:
  metrics::Histogram* pause_;
  metrics::Gauge* max_;
  double max_seen_ = 0;
};

template <class Ctx>
bool TakeNewTable(models::ModelStore* store, uint64_t* seen_epoch,
                  std::shared_ptr<const models::ModelTable>* table,
                  std::unordered_map<const models::LoadedModel*, Ctx>* contexts, SwapClock* clock) {
  const uint64_t e = store->epoch();
  if (e == *seen_epoch) return false;
  const auto t0 = std::chrono::steady_clock::now();
  *seen_epoch = e;
  struct Garbage {
    std::shared_ptr<const models::ModelTable> table;
    std::vector<Ctx> contexts;
  };
  auto g = std::make_shared<Garbage>();
  g->table = std::move(*table);
  *table = store->Snapshot();
  for (auto it = contexts->begin(); it != contexts->end();) {
    const models::LoadedModel* m = it->first;
    bool live = false;
    auto entry = (*table)->find(m->name);
    if (entry != (*table)->end())
      for (const auto& l : entry->second.loaded) live = live || l.get() == m;
    if (live) {
      ++it;
    } else {
      g->contexts.push_back(std::move(it->second));
      it = contexts->erase(it);
    }
  }
  store->Retire(std::move(g));
  if (clock)
    clock->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return true;
}

}  // namespace evs::jobs
