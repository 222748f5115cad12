#include "kafka/stream_runner.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/headers.h"
#include "common/status_macros.h"
#include "common/fmt_compat.h"
#include "spdlog/spdlog.h"

namespace evs::kafka {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

Props WithDefaults(Props props, const Props& defaults) {
  for (const auto& [k, v] : defaults) props.emplace(k, v);  // keeps the user's value
  return props;
}

bool HasHeader(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  const void* v;
  size_t n;
  return rd_kafka_header_get_last(hdrs, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace

StreamRunner::StreamRunner(RunnerOptions options, RecordProcessor* processor)
    : opts_(std::move(options)), processor_(processor) {
  if (opts_.transactional_id.empty()) opts_.transactional_id = opts_.name;
}

StreamRunner::~StreamRunner() {
  if (async_) async_->SetWaker(nullptr);  // the queues it yields go away below
  consumer_queue_.reset();
  producer_queue_.reset();
  closing_ = true;
  last_topic_ = nullptr;
  last_topic_name_ = nullptr;
  out_topics_.clear();
  // The producer goes first: its destruction may still deliver reports that
  // point into partitions_.
  producer_.reset();
  consumer_.reset();
}

void StreamRunner::DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  static_cast<StreamRunner*>(opaque)->OnDelivery(m);
}

void StreamRunner::RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<StreamRunner*>(opaque)->OnRebalance(err, parts);
}

absl::Status StreamRunner::Init() {
  const bool eos = opts_.guarantee == Guarantee::kExactlyOnce;
  // queued.min.messages: librdkafka 2.0 stops fetching a partition for a
  // fixed 1 s once its prefetch queue holds this many messages (100,000 by
  // default). A module catching up on a backlog then drains the queue in a
  // fraction of that second and idles for the rest: with the default it
  // moved a third of the records per second it does with 1,000,000. Memory
  // stays bounded by queued.max.messages.kbytes (64 MB by default).
  Props cdefaults = {{"auto.offset.reset", "earliest"}, {"session.timeout.ms", "10000"},
                     {"heartbeat.interval.ms", "1000"}, {"queued.min.messages", "1000000"}};
  Props coverrides = {{"group.id", opts_.group},
                      {"enable.auto.commit", eos ? "false" : "true"},
                      {"enable.auto.offset.store", "false"},
                      {"enable.partition.eof", "false"}};
  if (eos) coverrides["isolation.level"] = "read_committed";
  ASSIGN_OR_RETURN(ConfPtr cconf,
                   MakeConf(WithDefaults(opts_.consumer_props, cdefaults), coverrides));
  rd_kafka_conf_set_rebalance_cb(cconf.get(), &StreamRunner::RebalanceCb);
  rd_kafka_conf_set_opaque(cconf.get(), this);
  ASSIGN_OR_RETURN(consumer_, MakeHandle(RD_KAFKA_CONSUMER, std::move(cconf)));
  rd_kafka_poll_set_consumer(consumer_.get());

  // The local queue holds at least twice the in-flight bound, so produce
  // rarely has to wait for queue space before backpressure pauses input.
  Props pdefaults = {{"linger.ms", "5"},
                     {"enable.idempotence", "true"},
                     {"queue.buffering.max.messages",
                      std::to_string(std::max<uint64_t>(100000, 2ull * opts_.max_in_flight))}};
  Props poverrides;
  if (eos) {
    poverrides["transactional.id"] = opts_.transactional_id;
    pdefaults["transaction.timeout.ms"] = "10000";
  }
  ASSIGN_OR_RETURN(ConfPtr pconf,
                   MakeConf(WithDefaults(opts_.producer_props, pdefaults), poverrides));
  rd_kafka_conf_set_dr_msg_cb(pconf.get(), &StreamRunner::DeliveryCb);
  rd_kafka_conf_set_opaque(pconf.get(), this);
  ASSIGN_OR_RETURN(producer_, MakeHandle(RD_KAFKA_PRODUCER, std::move(pconf)));
  if (eos) {
    ErrorPtr err(rd_kafka_init_transactions(producer_.get(), 60000));
    if (err) return ErrorToStatus(err.get(), "init_transactions");
  }
  WarmOutputTopics();
  return absl::OkStatus();
}

// A topic a producer first sees waits for its metadata until the next tick
// of librdkafka's 1 s metadata timer (the first request goes out before the
// broker connection is up); asking now, with the handle held, makes the
// first results leave at once. Best effort: a topic that does not exist yet
// is looked up again by librdkafka as usual.
void StreamRunner::WarmOutputTopics() {
  for (const std::string& t : processor_->OutputTopics()) {
    rd_kafka_topic_t* rkt = OutTopic(t);
    if (rkt == nullptr) continue;
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(producer_.get(), 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
      rd_kafka_metadata_destroy(md);
  }
}

rd_kafka_topic_t* StreamRunner::OutTopic(const std::string& name) {
  if (last_topic_ != nullptr && *last_topic_name_ == name) return last_topic_;
  if (closing_ || !producer_) return nullptr;
  auto it = out_topics_.find(name);
  if (it == out_topics_.end()) {
    if (out_topics_.size() >= kMaxTopicHandles) return nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer_.get(), name.c_str(), nullptr);
    if (rkt == nullptr) return nullptr;
    it = out_topics_.emplace(name, TopicPtr(rkt, &rd_kafka_topic_destroy)).first;
  }
  last_topic_name_ = &it->first;
  last_topic_ = it->second.get();
  return last_topic_;
}

absl::Status StreamRunner::Subscribe() {
  std::vector<std::string> topics = processor_->Topics();
  topics_epoch_ = processor_->TopicsEpoch();
  if (topics.empty()) {
    rd_kafka_unsubscribe(consumer_.get());
    return absl::OkStatus();
  }
  PartitionListPtr list(rd_kafka_topic_partition_list_new(topics.size()));
  for (const auto& t : topics)
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), list.get());
  if (err) return absl::UnavailableError(absl::StrCat("subscribe: ", rd_kafka_err2str(err)));
  spdlog::info("{}: subscribed to {} topic(s)", opts_.name, topics.size());
  return absl::OkStatus();
}

absl::Status StreamRunner::Run() {
  async_ = processor_->AsAsync();
  if (async_ && opts_.guarantee == Guarantee::kExactlyOnce)
    return absl::InvalidArgumentError(
        absl::StrCat(opts_.name, ": exactly-once needs a processor that finishes each record before "
                                 "the next (a model-server call cannot join a Kafka transaction)"));
  RETURN_IF_ERROR(Init());
  consumer_queue_.reset(rd_kafka_queue_get_consumer(consumer_.get()));
  producer_queue_.reset(rd_kafka_queue_get_main(producer_.get()));
  if (async_) {
    // The runner blocks in the consumer poll, or (while the processor is
    // full) in the producer poll: the waker cuts either short.
    rd_kafka_queue_t* cq = consumer_queue_.get();
    rd_kafka_queue_t* pq = producer_queue_.get();
    async_->SetWaker([cq, pq] {
      rd_kafka_queue_yield(cq);
      rd_kafka_queue_yield(pq);
    });
  }
  RETURN_IF_ERROR(Subscribe());
  absl::Status s = opts_.guarantee == Guarantee::kExactlyOnce ? RunExactlyOnce() : RunAtLeastOnce();
  rd_kafka_consumer_close(consumer_.get());  // leaves the group
  assigned_.store(false);
  return s;
}

void StreamRunner::OnDelivery(const rd_kafka_message_t* m) {
  Slot* slot = static_cast<Slot*>(m->_private);
  if (m->err) {
    stats_.produce_failures.Add(1);
    const std::string reason = rd_kafka_err2str(m->err);
    spdlog::warn("{}: delivery to '{}' failed: {}", opts_.name, rd_kafka_topic_name(m->rkt), reason);
    if (slot == nullptr) return;  // exactly-once: the commit fails and the batch is retried
    if (HasHeader(m, hdr::kErrorStage)) {
      fatal_ = absl::StrCat("a dead letter could not be delivered: ", reason);
    } else {
      OutRecord failed;
      failed.topic = rd_kafka_topic_name(m->rkt);
      failed.has_key = m->key != nullptr;
      if (m->key) failed.key.assign(static_cast<const char*>(m->key), m->key_len);
      failed.has_value = m->payload != nullptr;
      if (m->payload) failed.value.assign(static_cast<const char*>(m->payload), m->len);
      InRecord view(m);
      failed.headers = view.Headers();
      OutRecord dlq = processor_->ProduceFailure(failed, reason);
      slot->pending++;
      absl::Status s = Produce(producer_.get(), dlq, slot, false, OutTopic(dlq.topic));
      if (!s.ok()) {
        fatal_ = std::string(s.message());
        slot->pending--;
      }
    }
  } else {
    stats_.produced.Add(1);
  }
  if (slot == nullptr) return;
  if (--slot->pending == 0 && fatal_.empty()) Advance(slot->ps);
}

void StreamRunner::Advance(PartitionState* ps) {
  int64_t next = -1;
  while (!ps->slots.empty() && ps->slots.front().pending == 0) {
    next = ps->slots.front().offset + 1;
    ps->slots.pop_front();
    stats_.in_flight.Sub(1);
  }
  if (next < 0) return;
  ps->next_to_store = next;
  if (!ps->dirty) {
    ps->dirty = true;
    dirty_.push_back(ps);
  }
}

void StreamRunner::StoreOffsets() {
  if (dirty_.empty()) return;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(dirty_.size()));
  for (PartitionState* ps : dirty_) {
    rd_kafka_topic_partition_list_add(list.get(), ps->topic.c_str(), ps->partition)->offset =
        ps->next_to_store;
    ps->dirty = false;
  }
  dirty_.clear();
  rd_kafka_offsets_store(consumer_.get(), list.get());  // fails harmlessly after a revoke
}

StreamRunner::PartitionState* StreamRunner::FindPartition(std::string_view topic,
                                                          int32_t partition) {
  if (last_ps_ && last_ps_->partition == partition && last_ps_->topic == topic) return last_ps_;
  PartitionKey key{std::string(topic), partition};
  auto it = partitions_.find(key);
  if (it == partitions_.end()) {
    auto ps = std::make_unique<PartitionState>();
    ps->topic = key.first;
    ps->partition = key.second;
    it = partitions_.emplace(key, std::move(ps)).first;
  }
  last_ps_ = it->second.get();
  return last_ps_;
}

void StreamRunner::FlushAndCommit() {
  rd_kafka_resp_err_t err = rd_kafka_flush(producer_.get(), 30000);
  if (err) spdlog::error("{}: flush did not finish: {}", opts_.name, rd_kafka_err2str(err));
  StoreOffsets();
  // Stored offsets only ever cover fully delivered records, so committing
  // them is safe even when the flush timed out.
  err = rd_kafka_commit(consumer_.get(), nullptr, 0);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    spdlog::warn("{}: commit: {}", opts_.name, rd_kafka_err2str(err));
}

void StreamRunner::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; ++i) {
      auto ps = std::make_unique<PartitionState>();
      ps->topic = parts->elems[i].topic;
      ps->partition = parts->elems[i].partition;
      partitions_[{ps->topic, ps->partition}] = std::move(ps);
    }
    rd_kafka_assign(consumer_.get(), parts);
    if (stats_.paused.load()) rd_kafka_pause_partitions(consumer_.get(), parts);
    assigned_.store(true);
    spdlog::info("{}: assigned {} partition(s)", opts_.name, parts->cnt);
    return;
  }
  // Revoked or lost: settle everything owed on these partitions first.
  if (opts_.guarantee == Guarantee::kExactlyOnce) {
    if (txn_open_) {
      absl::Status s = CommitTransaction();
      if (!s.ok()) spdlog::warn("{}: commit on revoke: {}", opts_.name, s.message());
    }
  } else {
    FlushAndCommit();
  }
  last_ps_ = nullptr;
  if (async_) {
    // Everything produced is delivered (flushed above), so the slots left
    // are deferred records: forget them; the partition's next owner
    // consumes them again from the committed offset.
    std::vector<std::pair<std::string, int32_t>> revoked;
    for (int i = 0; i < parts->cnt; ++i) revoked.emplace_back(parts->elems[i].topic, parts->elems[i].partition);
    async_->Cancel(revoked);
    for (const auto& k : revoked) {
      auto it = partitions_.find(k);
      if (it == partitions_.end()) continue;
      stats_.in_flight.Sub(it->second->slots.size());
      it->second->slots.clear();
    }
  }
  for (int i = 0; i < parts->cnt; ++i) {
    auto it = partitions_.find({parts->elems[i].topic, parts->elems[i].partition});
    if (it == partitions_.end()) continue;
    if (!it->second->slots.empty()) {
      fatal_ = "records were still awaiting delivery when their partition was revoked";
      continue;  // keep the state alive for late delivery reports
    }
    partitions_.erase(it);
  }
  rd_kafka_assign(consumer_.get(), nullptr);
  assigned_.store(false);
  spdlog::info("{}: partitions revoked ({})", opts_.name, rd_kafka_err2str(err));
}

void StreamRunner::SetPaused(bool paused) {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionListPtr list(raw);
  if (paused) {
    rd_kafka_pause_partitions(consumer_.get(), list.get());
    stats_.pauses.Add(1);
    if (paused_by_processor_)
      spdlog::info("{}: pausing {} partition(s): the processor cannot take more now ({} records in flight)",
                   opts_.name, list->cnt, stats_.in_flight.load());
    else
      spdlog::info("{}: pausing {} partition(s): {} records await delivery (max_in_flight {})",
                   opts_.name, list->cnt, stats_.in_flight.load(), opts_.max_in_flight);
  } else {
    rd_kafka_resume_partitions(consumer_.get(), list.get());
    spdlog::info("{}: resuming {} partition(s): {} records await delivery", opts_.name, list->cnt,
                 stats_.in_flight.load());
  }
  stats_.paused.store(paused);
}

void StreamRunner::UpdateLag() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  std::vector<PartitionLag> lag;
  if (rd_kafka_assignment(consumer_.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    PartitionListPtr list(raw);
    rd_kafka_position(consumer_.get(), list.get());
    for (int i = 0; i < list->cnt; ++i) {
      const auto& e = list->elems[i];
      int64_t lo = -1, hi = -1;
      if (rd_kafka_get_watermark_offsets(consumer_.get(), e.topic, e.partition, &lo, &hi) ||
          hi < 0)
        continue;
      int64_t pos = e.offset >= 0 ? e.offset : lo;
      lag.push_back({e.topic, e.partition, std::max<int64_t>(0, hi - pos)});
    }
  }
  std::lock_guard<std::mutex> l(lag_mu_);
  lag_ = std::move(lag);
}

std::vector<PartitionLag> StreamRunner::Lag() const {
  std::lock_guard<std::mutex> l(lag_mu_);
  return lag_;
}

void StreamRunner::HandleRecord(rd_kafka_message_t* raw) {
  MessagePtr m(raw);
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      spdlog::warn("{}: consumer: {}", opts_.name, rd_kafka_message_errstr(m.get()));
    return;
  }
  processor_->BetweenRecords();
  stats_.consumed.Add(1);
  InRecord in(m.get());
  PartitionState* ps = FindPartition(in.topic(), in.partition());
  ps->slots.push_back(Slot{ps, in.offset(), 1});  // the 1 guards against early completion
  Slot* slot = &ps->slots.back();
  stats_.in_flight.Add(1);
  out_buf_.clear();
  bool deferred = false;
  if (async_) {
    deferred = async_->Begin(in, slot, &out_buf_);
  } else {
    processor_->Process(in, &out_buf_);
  }
  ProduceOutputs(out_buf_, slot);
  if (deferred) return;  // the guard stays until the completion
  if (--slot->pending == 0 && fatal_.empty()) Advance(ps);
}

void StreamRunner::ProduceOutputs(OutBatch& outs, Slot* slot) {
  for (OutRecord* it = outs.begin(); it != outs.end(); ++it) {
    OutRecord& r = *it;
    slot->pending++;
    // The last output that forwards a message's headers takes them over.
    bool last_of_source = r.header_source != nullptr;
    for (const OutRecord* later = it + 1; last_of_source && later != outs.end(); ++later)
      last_of_source = later->header_source != r.header_source;
    absl::Status s = Produce(producer_.get(), r, slot, last_of_source, OutTopic(r.topic));
    if (s.ok()) continue;
    stats_.produce_failures.Add(1);
    InlineForwardedHeaders(&r);
    OutRecord dlq = processor_->ProduceFailure(r, std::string(s.message()));
    s = Produce(producer_.get(), dlq, slot, false, OutTopic(dlq.topic));
    if (!s.ok()) {
      slot->pending--;
      fatal_ = absl::StrCat("dead letter could not be produced: ", s.message());
    }
  }
}

void StreamRunner::DrainCompletions() {
  if (!async_) return;
  completions_.clear();
  async_->TakeCompleted(&completions_);
  for (Completion& c : completions_) {
    Slot* slot = static_cast<Slot*>(c.ticket);
    completion_buf_.clear();
    for (OutRecord& r : c.outputs) completion_buf_.push_back(std::move(r));
    ProduceOutputs(completion_buf_, slot);
    if (--slot->pending == 0 && fatal_.empty()) Advance(slot->ps);
  }
}

// On stop: consumption paused, deferred records get up to drain_timeout_ms
// to finish; what is left is cancelled uncommitted (redelivered later).
void StreamRunner::DrainDeferredOnStop() {
  if (!async_ || async_->Deferred() == 0) return;
  paused_by_processor_ = true;  // "the processor cannot take more": it is stopping
  if (!stats_.paused.load()) SetPaused(true);
  spdlog::info("{}: stopping: waiting up to {} ms for {} deferred record(s)", opts_.name,
               opts_.drain_timeout_ms, async_->Deferred());
  const auto start = Clock::now();
  while (async_->Deferred() > 0 && fatal_.empty() && MsSince(start) < opts_.drain_timeout_ms) {
    DrainCompletions();
    rd_kafka_poll(producer_.get(), 0);
    StoreOffsets();
    // Records fetched before the pause are released unhandled (no slot, so
    // no offset is stored past them).
    MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), std::min(100, async_->PollTimeoutMs())));
  }
  DrainCompletions();
  if (async_->Deferred() > 0) {
    spdlog::warn("{}: {} deferred record(s) left unfinished; they stay uncommitted", opts_.name,
                 async_->Deferred());
    std::vector<std::pair<std::string, int32_t>> all;
    for (const auto& [k, ps] : partitions_) all.push_back(k);
    async_->Cancel(all);
  }
}

absl::Status StreamRunner::RunAtLeastOnce() {
  auto last_lag = Clock::now();
  const uint64_t resume_at = opts_.max_in_flight / 2;
  rd_kafka_queue_t* queue = consumer_queue_.get();
  constexpr size_t kBatch = 500;
  std::vector<rd_kafka_message_t*> batch(kBatch);
  while (!stop_.load() && fatal_.empty()) {
    processor_->BetweenRecords();
    if (processor_->TopicsEpoch() != topics_epoch_) RETURN_IF_ERROR(Subscribe());
    DrainCompletions();
    const uint64_t in_flight = stats_.in_flight.load();
    bool processor_pause = async_ && async_->WantsPause();
    if (async_ && !stats_.paused.load() && !processor_pause && async_->Full()) {
      // Stop taking records; wait (woken by completions) for room.
      if (full_since_ == Clock::time_point{}) full_since_ = Clock::now();
      if (MsSince(full_since_) < opts_.full_pause_ms) {
        rd_kafka_poll(producer_.get(), std::max(1, std::min(100, async_->PollTimeoutMs())));
        StoreOffsets();
        continue;
      }
      processor_pause = true;  // full for too long: pause, so rebalances are served
    } else if (async_ && stats_.paused.load() && paused_by_processor_ && async_->Full()) {
      processor_pause = true;  // stay paused until there is room
    }
    if (async_ && !async_->Full()) full_since_ = Clock::time_point{};
    if (!stats_.paused.load() && (in_flight >= opts_.max_in_flight || processor_pause)) {
      paused_by_processor_ = in_flight < opts_.max_in_flight;
      SetPaused(true);
    }
    if (stats_.paused.load() && in_flight <= resume_at && !processor_pause) SetPaused(false);
    if (MsSince(last_lag) >= 1000) {
      UpdateLag();
      last_lag = Clock::now();
    }
    rd_kafka_poll(producer_.get(), 0);
    StoreOffsets();
    // Block for the first record (this also serves rebalances), then take
    // whatever else is already fetched without waiting.
    int timeout = stats_.paused.load() ? 10 : 50;
    // An async processor wakes the poll when a completion arrives; while it
    // alone holds the pause, there are no deliveries to wait for.
    if (async_) timeout = std::min(paused_by_processor_ && stats_.paused.load() ? 100 : timeout,
                                   async_->PollTimeoutMs());
    rd_kafka_message_t* first = rd_kafka_consumer_poll(consumer_.get(), std::max(0, timeout));
    if (first == nullptr) continue;
    HandleRecord(first);
    if (stats_.paused.load()) continue;
    ssize_t n = rd_kafka_consume_batch_queue(queue, 0, batch.data(), kBatch);
    for (ssize_t i = 0; i < n; ++i) {
      if (!fatal_.empty() || stop_.load()) {
        // Unprocessed records are released uncommitted: redelivered after a restart.
        rd_kafka_message_destroy(batch[i]);
        continue;
      }
      HandleRecord(batch[i]);
      // An async processor's answers wait for this loop: take them every few
      // records, so a batch of 500 does not hold the next request back.
      if (async_ && (i & 15) == 15) DrainCompletions();
    }
  }
  DrainDeferredOnStop();
  spdlog::info("{}: stopping: delivering in-flight records and committing", opts_.name);
  FlushAndCommit();
  if (!fatal_.empty()) return absl::InternalError(fatal_);
  return absl::OkStatus();
}

absl::Status StreamRunner::CommitTransaction() {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(txn_offsets_.size()));
  for (const auto& [k, off] : txn_offsets_)
    rd_kafka_topic_partition_list_add(list.get(), k.first.c_str(), k.second)->offset = off;
  GroupMetadataPtr gm(rd_kafka_consumer_group_metadata(consumer_.get()));
  for (int attempt = 0;; ++attempt) {
    ErrorPtr err(rd_kafka_send_offsets_to_transaction(producer_.get(), list.get(), gm.get(), -1));
    if (!err) err.reset(rd_kafka_commit_transaction(producer_.get(), -1));
    if (!err) break;
    if (rd_kafka_error_is_fatal(err.get())) {
      fatal_ = absl::StrCat("fatal transaction error: ", rd_kafka_error_string(err.get()));
      return absl::InternalError(fatal_);
    }
    if (rd_kafka_error_txn_requires_abort(err.get()) || attempt >= 5) {
      spdlog::warn("{}: transaction aborted: {}", opts_.name, rd_kafka_error_string(err.get()));
      return AbortAndRewind();
    }
    spdlog::warn("{}: commit retry: {}", opts_.name, rd_kafka_error_string(err.get()));
  }
  txn_open_ = false;
  txn_records_ = 0;
  txn_offsets_.clear();
  stats_.txn_commits.Add(1);
  return absl::OkStatus();
}

absl::Status StreamRunner::AbortAndRewind() {
  ErrorPtr err(rd_kafka_abort_transaction(producer_.get(), -1));
  txn_open_ = false;
  txn_records_ = 0;
  txn_offsets_.clear();
  stats_.txn_aborts.Add(1);
  if (err) {
    fatal_ = absl::StrCat("abort_transaction: ", rd_kafka_error_string(err.get()));
    return absl::InternalError(fatal_);
  }
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return absl::OkStatus();
  PartitionListPtr list(raw);
  if (list->cnt == 0) return absl::OkStatus();
  rd_kafka_committed(consumer_.get(), list.get(), 10000);
  for (int i = 0; i < list->cnt; ++i)
    if (list->elems[i].offset < 0) list->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
  ErrorPtr serr(rd_kafka_seek_partitions(consumer_.get(), list.get(), -1));
  if (serr) spdlog::warn("{}: rewind: {}", opts_.name, rd_kafka_error_string(serr.get()));
  return absl::Status(absl::StatusCode::kAborted, "transaction aborted and rewound");
}

absl::Status StreamRunner::RunExactlyOnce() {
  auto last_lag = Clock::now();
  auto txn_start = Clock::now();
  while (!stop_.load() && fatal_.empty()) {
    if (!txn_open_) {
      processor_->BetweenRecords();
      if (processor_->TopicsEpoch() != topics_epoch_) RETURN_IF_ERROR(Subscribe());
    }
    if (MsSince(last_lag) >= 1000) {
      UpdateLag();
      last_lag = Clock::now();
    }
    rd_kafka_poll(producer_.get(), 0);
    int timeout = 50;
    if (txn_open_) timeout = std::max<int64_t>(0, opts_.txn_max_ms - MsSince(txn_start));
    MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), timeout));
    if (m && m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        spdlog::warn("{}: consumer: {}", opts_.name, rd_kafka_message_errstr(m.get()));
      m.reset();
    }
    if (m) {
      if (!txn_open_) {
        ErrorPtr err(rd_kafka_begin_transaction(producer_.get()));
        if (err) {
          fatal_ = absl::StrCat("begin_transaction: ", rd_kafka_error_string(err.get()));
          break;
        }
        txn_open_ = true;
        txn_start = Clock::now();
      }
      stats_.consumed.Add(1);
      InRecord in(m.get());
      out_buf_.clear();
      processor_->Process(in, &out_buf_);
      for (OutRecord& r : out_buf_) {
        absl::Status s = Produce(producer_.get(), r, nullptr, false, OutTopic(r.topic));
        if (s.ok()) continue;
        stats_.produce_failures.Add(1);
        OutRecord dlq = processor_->ProduceFailure(r, std::string(s.message()));
        s = Produce(producer_.get(), dlq, nullptr, false, OutTopic(dlq.topic));
        if (!s.ok()) fatal_ = absl::StrCat("dead letter could not be produced: ", s.message());
      }
      txn_offsets_[{std::string(in.topic()), in.partition()}] = in.offset() + 1;
      txn_records_++;
    }
    if (txn_open_ && (txn_records_ >= opts_.txn_max_records || MsSince(txn_start) >= opts_.txn_max_ms)) {
      absl::Status s = CommitTransaction();
      if (!s.ok() && !fatal_.empty()) break;
    }
  }
  if (txn_open_ && fatal_.empty()) {
    spdlog::info("{}: stopping: committing the open transaction", opts_.name);
    (void)CommitTransaction();
  }
  if (!fatal_.empty()) return absl::InternalError(fatal_);
  return absl::OkStatus();
}

}  // namespace evs::kafka
