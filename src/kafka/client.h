#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace evs::kafka {

// RAII owners for librdkafka objects. Every handle the project creates lives
// in one of these; nothing calls *_destroy by hand.
struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const;
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
struct GroupMetadataDeleter {
  void operator()(rd_kafka_consumer_group_metadata_t* g) const {
    rd_kafka_consumer_group_metadata_destroy(g);
  }
};

using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using GroupMetadataPtr =
    std::unique_ptr<rd_kafka_consumer_group_metadata_t, GroupMetadataDeleter>;

using Props = std::map<std::string, std::string>;
using Header = std::pair<std::string, std::string>;

// Builds a conf from pass-through properties plus the caller's overrides
// (overrides win). The error names the property librdkafka refused.
absl::StatusOr<ConfPtr> MakeConf(const Props& props, const Props& overrides = {});
absl::StatusOr<HandlePtr> MakeHandle(rd_kafka_type_t type, ConfPtr conf);
absl::Status ErrorToStatus(rd_kafka_error_t* err, std::string_view what);  // does not destroy

// A record to produce. partition -1 lets the partitioner hash the key.
struct OutRecord {
  std::string topic;
  std::string key;
  bool has_key = false;
  std::string value;
  bool has_value = true;  // false produces a tombstone
  std::vector<Header> headers;
  int32_t partition = RD_KAFKA_PARTITION_UA;
  // When set, the headers of this consumed message are produced first, then
  // `headers`: passes headers through without copying them into strings.
  // Set by AddWithHeadersOf; valid only while that message lives (the
  // runner produces a record's outputs before it releases the record).
  const rd_kafka_message_t* header_source = nullptr;
};

// Moves the headers named by r->header_source into r->headers (in front)
// and clears it: for code that keeps or inspects a record beyond its source.
void InlineForwardedHeaders(OutRecord* r);

// The outputs of one consumed record, recycled from record to record: Add()
// hands out an OutRecord whose strings keep the capacity of earlier use, so
// steady-state processing does not allocate for its outputs. Add(n) leaves n
// headers whose strings are reused; overwrite all n.
class OutBatch {
 public:
  OutRecord& Add(size_t n_headers = 0) {
    if (n_ == recs_.size()) recs_.emplace_back();
    OutRecord& r = recs_[n_++];
    r.topic.clear();
    r.key.clear();
    r.has_key = false;
    r.value.clear();
    r.has_value = true;
    r.partition = RD_KAFKA_PARTITION_UA;
    r.headers.resize(n_headers);
    r.header_source = nullptr;
    return r;
  }
  void push_back(OutRecord r) { Add() = std::move(r); }
  void clear() { n_ = 0; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  OutRecord& operator[](size_t i) { return recs_[i]; }
  const OutRecord& operator[](size_t i) const { return recs_[i]; }
  OutRecord& back() { return recs_[n_ - 1]; }
  OutRecord* begin() { return recs_.data(); }
  OutRecord* end() { return recs_.data() + n_; }
  const OutRecord* begin() const { return recs_.data(); }
  const OutRecord* end() const { return recs_.data() + n_; }

 private:
  std::vector<OutRecord> recs_;
  size_t n_ = 0;
};

class InRecord;

// Adds a record to *out that carries in's headers, in order, followed by
// `extra` header slots (r.headers) for the caller to fill. For a consumed
// message the headers are forwarded by reference (header_source); for a
// test record they are copied into r.headers ahead of the slots.
OutRecord& AddWithHeadersOf(const InRecord& in, size_t extra, OutBatch* out);

// A consumed record: a view over a librdkafka message, valid while the
// message lives. Tests build one from plain values with the second
// constructor (no librdkafka message behind it).
class InRecord {
 public:
  explicit InRecord(const rd_kafka_message_t* m)
      : m_(m), topic_(rd_kafka_topic_name(m->rkt)), partition_(m->partition), offset_(m->offset),
        has_key_(m->key != nullptr), has_value_(m->payload != nullptr),
        key_(m->key ? std::string_view(static_cast<const char*>(m->key), m->key_len) : std::string_view()),
        value_(m->payload ? std::string_view(static_cast<const char*>(m->payload), m->len)
                          : std::string_view()) {}
  InRecord(std::string_view topic, int32_t partition, int64_t offset, const std::string* key,
           const std::string* value, const std::vector<evs::kafka::Header>* headers)
      : topic_(topic), partition_(partition), offset_(offset), has_key_(key != nullptr),
        has_value_(value != nullptr), key_(key ? *key : std::string_view()),
        value_(value ? *value : std::string_view()), fake_headers_(headers) {}

  std::string_view topic() const { return topic_; }
  int32_t partition() const { return partition_; }
  int64_t offset() const { return offset_; }
  bool has_key() const { return has_key_; }
  std::string_view key() const { return key_; }
  bool has_value() const { return has_value_; }
  std::string_view value() const { return value_; }
  int64_t timestamp_ms() const { return m_ ? rd_kafka_message_timestamp(m_, nullptr) : -1; }
  // Returns the last header of that name, if any.
  bool Header(const char* name, std::string_view* out) const;
  // All headers in order.
  std::vector<evs::kafka::Header> Headers() const;
  const rd_kafka_message_t* raw() const { return m_; }

 private:
  const rd_kafka_message_t* m_ = nullptr;
  std::string_view topic_;
  int32_t partition_;
  int64_t offset_;
  bool has_key_, has_value_;
  std::string_view key_, value_;
  const std::vector<evs::kafka::Header>* fake_headers_ = nullptr;
};

// Produces a record. Blocks (serving delivery reports) while librdkafka's
// local queue is full. opaque is handed to the delivery report. With
// take_source_headers, the header list of r.header_source is detached from
// that message and handed to librdkafka instead of copied: for the last
// record produced from a consumed message (its headers are gone after).
// rkt, when given, is a producer topic handle for r.topic: producing by
// handle skips librdkafka's per-message lookup of the topic by name (under
// the client-wide write lock).
absl::Status Produce(rd_kafka_t* rk, const OutRecord& r, void* opaque,
                     bool take_source_headers = false, rd_kafka_topic_t* rkt = nullptr);

// rd_kafka_query_watermark_offsets, retried for up to ~15 s while the
// partition has no leader yet (right after the topic was created).
rd_kafka_resp_err_t QueryWatermarksWithRetry(rd_kafka_t* rk, const char* topic, int32_t partition,
                                             int64_t* lo, int64_t* hi, int timeout_ms);

// Assigns every partition of `topic` to the group-less consumer `rk`,
// starting at `start` (RD_KAFKA_OFFSET_BEGINNING or RD_KAFKA_OFFSET_END).
// Returns the high watermark at call time of every partition that holds
// records: reading each partition up to it means "caught up".
absl::StatusOr<std::map<int32_t, int64_t>> AssignWholeTopic(rd_kafka_t* rk,
                                                            const std::string& topic,
                                                            int64_t start, int timeout_ms);

// Polls `rk` until every partition of `ends` reached its end offset (also
// when the last offsets are transaction markers, which are never
// delivered), handing each record to fn. Fails on a consumer error or after
// timeout_ms.
absl::Status ConsumeToEnd(rd_kafka_t* rk, const std::string& topic,
                          std::map<int32_t, int64_t> ends, int timeout_ms,
                          const std::function<void(const rd_kafka_message_t*)>& fn);

// Reads every record of `topic` from the beginning up to the high watermark
// at call time (no consumer group). For small control topics (config,
// models, status).
absl::StatusOr<std::vector<OutRecord>> ReadAll(const Props& props, const std::string& topic,
                                               int timeout_ms = 10000);

}  // namespace evs::kafka
