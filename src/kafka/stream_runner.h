#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "kafka/client.h"

namespace evs::kafka {

class AsyncProcessor;

// What a module does with one consumed record. Called only on the runner
// thread. Process appends every output of the record (results and dead
// letters alike) to *out; the runner owns delivery and offsets.
class RecordProcessor {
 public:
  virtual ~RecordProcessor() = default;
  virtual void Process(const InRecord& in, OutBatch* out) = 0;
  // Called between two records and on idle polls: the only place a module
  // may swap its configuration, so no record sees two configs.
  virtual void BetweenRecords() {}
  // Topics to subscribe; re-read after BetweenRecords when topics_epoch()
  // changes.
  virtual std::vector<std::string> Topics() const = 0;
  virtual uint64_t TopicsEpoch() const { return 0; }
  // Builds the dead letter for an output that could not be delivered.
  virtual OutRecord ProduceFailure(const OutRecord& failed, const std::string& reason) = 0;
  // A JSON object describing the active configuration (for /status). Called
  // from other threads: implementations must be thread-safe.
  virtual std::string Describe() const { return "{}"; }
  // Whether the processor can serve (a model job: its model is loaded).
  // Called from the admin endpoint's threads: must be thread-safe.
  virtual bool Ready() const { return true; }
  // Topics the processor writes to, as far as the config tells. The runner
  // looks their metadata up before it consumes, so the first records do not
  // wait (up to a second) for librdkafka's metadata timer.
  virtual std::vector<std::string> OutputTopics() const { return {}; }
  // Non-null for processors that finish records later (see AsyncProcessor).
  virtual AsyncProcessor* AsAsync() { return nullptr; }
};

// Identifies a deferred record to the runner; opaque to the processor.
using Ticket = void*;

// The outputs of a deferred record, handed back exactly once.
struct Completion {
  Ticket ticket;
  std::vector<OutRecord> outputs;
};

// A processor whose records may finish after Begin returns (a call to a
// model server). Every method runs on the runner thread except the waker it
// is given, which it may call from any thread. At-least-once only: a
// record's offset is stored once its completion's outputs are delivered, so
// deferred records hold back their partition's offsets (the runner's
// max_in_flight bound counts them too).
class AsyncProcessor {
 public:
  virtual ~AsyncProcessor() = default;
  // Takes the record: the processor copies what it needs. Outputs known now
  // (dead letters) go to *out. Returns true when the record's outputs come
  // later through TakeCompleted under `ticket`, false when *out is all.
  virtual bool Begin(const InRecord& in, Ticket ticket, OutBatch* out) = 0;
  // Moves finished records to *done (appends), in the order their outputs
  // should be produced (per partition: offset order). Also where the
  // processor does its periodic work (timers, dispatch).
  virtual void TakeCompleted(std::vector<Completion>* done) = 0;
  // Consumption should pause (server down). The runner pauses every
  // assigned partition and keeps polling until this clears.
  virtual bool WantsPause() const = 0;
  // The processor holds as many records as it may (its queue bound). The
  // runner stops taking records but does not pause at once: a pause makes
  // librdkafka drop what it prefetched and a resume restarts the fetch
  // (~0.5 s here), which would cost more than a short wait on a backlog. It
  // waits for completions instead (librdkafka's own queue bound holds the
  // fetch back meanwhile) and pauses only when Full lasts
  // RunnerOptions::full_pause_ms, so rebalances are still served.
  virtual bool Full() const { return false; }
  // Longest the runner may block in poll before calling TakeCompleted again.
  virtual int PollTimeoutMs() const = 0;
  // The runner's way to cut a blocked poll short (thread-safe, cheap).
  virtual void SetWaker(std::function<void()> wake) = 0;
  // Forgets every deferred record of these partitions (revoked): their
  // completions never come and their offsets stay uncommitted.
  virtual void Cancel(const std::vector<std::pair<std::string, int32_t>>& partitions) = 0;
  // Records taken and not yet handed back.
  virtual size_t Deferred() const = 0;
};

enum class Guarantee { kAtLeastOnce, kExactlyOnce };

struct RunnerOptions {
  std::string name;          // module instance name (logs, transactional.id)
  std::string group;         // consumer group
  Props consumer_props;      // cluster of the input topics
  Props producer_props;      // cluster of the outputs (same cluster for exactly-once)
  Guarantee guarantee = Guarantee::kAtLeastOnce;
  uint32_t max_in_flight = 100000;  // at-least-once: records awaiting delivery
  uint32_t txn_max_records = 1000;
  uint32_t txn_max_ms = 100;
  std::string transactional_id;    // exactly-once; defaults to name
  uint32_t drain_timeout_ms = 10000;  // async processors: longest a stop waits for deferred records
  uint32_t full_pause_ms = 1000;      // async processors: Full this long -> pause the partitions
};

// Counters the runner keeps; read by metrics collectors from any thread.
// A count that one thread (the runner's) writes and any thread reads. An
// increment is a relaxed load and store, not a locked read-modify-write: on
// x86 a locked instruction also waits for every earlier store of the record
// path to drain, and these run several times per record.
class OwnedCount {
 public:
  void Add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void Sub(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t load() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Written by the runner thread only; read by the metrics and status threads.
struct RunnerStats {
  OwnedCount consumed;
  OwnedCount produced;
  OwnedCount produce_failures;
  OwnedCount in_flight;
  OwnedCount pauses;
  OwnedCount txn_commits;
  OwnedCount txn_aborts;
  std::atomic<bool> paused{false};
};

struct PartitionLag {
  std::string topic;
  int32_t partition;
  int64_t lag;
};

// Runs consume -> process -> produce for one module with the configured
// delivery guarantee.
//
// at-least-once: offsets are stored only when every output of a record and of
// all records before it on that partition is delivered (auto-commit sends
// stored offsets). Records awaiting delivery form the bounded queue: above
// max_in_flight the assigned partitions are paused, below half they resume;
// the consumer is polled throughout, so the group membership stays alive.
//
// exactly-once: outputs and consumed offsets go in one Kafka transaction of
// up to txn_max_records records or txn_max_ms; abortable errors abort and
// rewind to the committed offsets; fatal errors (fencing) end Run with an
// error.
//
// Run blocks on the calling thread until Stop() (any thread) or a fatal
// error; on stop it finishes the record in hand, delivers and commits, and
// leaves the group.
class StreamRunner {
 public:
  StreamRunner(RunnerOptions options, RecordProcessor* processor);
  ~StreamRunner();
  StreamRunner(const StreamRunner&) = delete;
  StreamRunner& operator=(const StreamRunner&) = delete;

  absl::Status Run();
  void Stop() { stop_.store(true); }
  const RunnerStats& stats() const { return stats_; }
  std::vector<PartitionLag> Lag() const;  // thread-safe snapshot
  bool assigned() const { return assigned_.load(); }

 private:
  struct PartitionState;
  struct Slot {
    PartitionState* ps;
    int64_t offset;
    uint32_t pending;
  };
  struct PartitionState {
    std::string topic;
    int32_t partition;
    std::deque<Slot> slots;  // records not yet fully delivered, in offset order
    int64_t next_to_store = -1;
    bool dirty = false;      // next_to_store not yet handed to offsets_store
  };
  using PartitionKey = std::pair<std::string, int32_t>;

  absl::Status Init();
  absl::Status Subscribe();
  absl::Status RunAtLeastOnce();
  absl::Status RunExactlyOnce();
  void OnDelivery(const rd_kafka_message_t* m);
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void Advance(PartitionState* ps);
  void StoreOffsets();  // one rd_kafka_offsets_store for every dirty partition
  PartitionState* FindPartition(std::string_view topic, int32_t partition);
  void HandleRecord(rd_kafka_message_t* m);
  void FlushAndCommit();
  void UpdateLag();
  absl::Status CommitTransaction();
  absl::Status AbortAndRewind();
  void SetPaused(bool paused);
  void WarmOutputTopics();
  void ProduceOutputs(OutBatch& outs, Slot* slot);
  void DrainCompletions();
  void DrainDeferredOnStop();

  static void DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  static void RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque);

  RunnerOptions opts_;
  RecordProcessor* processor_;
  AsyncProcessor* async_ = nullptr;  // processor_->AsAsync()
  std::vector<Completion> completions_;
  OutBatch completion_buf_;
  HandlePtr consumer_;
  HandlePtr producer_;
  // Producer topic handles by name, held for the runner's life (their
  // metadata stays warm; producing by handle skips librdkafka's lookup by
  // name). At most kMaxTopicHandles; beyond that, records go by name.
  static constexpr size_t kMaxTopicHandles = 4096;
  using TopicPtr = std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)>;
  std::unordered_map<std::string, TopicPtr> out_topics_;
  const std::string* last_topic_name_ = nullptr;  // key in out_topics_ of last_topic_
  rd_kafka_topic_t* last_topic_ = nullptr;
  rd_kafka_topic_t* OutTopic(const std::string& name);  // nullptr: produce by name
  bool closing_ = false;  // the destructor runs: no new handles
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> consumer_queue_{nullptr,
                                                                                 &rd_kafka_queue_destroy};
  bool paused_by_processor_ = false;  // the pause came from AsyncProcessor::WantsPause / Full
  std::chrono::steady_clock::time_point full_since_{};  // when Full() began (zero: not full)
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> producer_queue_{nullptr,
                                                                                 &rd_kafka_queue_destroy};
  std::atomic<bool> stop_{false};
  std::atomic<bool> assigned_{false};
  RunnerStats stats_;
  std::map<PartitionKey, std::unique_ptr<PartitionState>> partitions_;
  PartitionState* last_ps_ = nullptr;  // records come in runs per partition
  std::vector<PartitionState*> dirty_;
  uint64_t topics_epoch_ = 0;
  OutBatch out_buf_;
  std::string fatal_;  // set from callbacks; ends Run
  bool txn_open_ = false;
  uint64_t txn_records_ = 0;
  std::map<PartitionKey, int64_t> txn_offsets_;  // next offset per partition in this txn
  mutable std::mutex lag_mu_;
  std::vector<PartitionLag> lag_;
};

}  // namespace evs::kafka
