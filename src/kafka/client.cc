#include "kafka/client.h"

#include "common/fmt_compat.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace evs::kafka {

void HandleDeleter::operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }

absl::StatusOr<ConfPtr> MakeConf(const Props& props, const Props& overrides) {
  ConfPtr conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& k, const std::string& v) -> absl::Status {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
      return absl::InvalidArgumentError(absl::StrCat("kafka property '", k, "': ", errstr));
    return absl::OkStatus();
  };
  for (const auto& [k, v] : props)
    if (!overrides.count(k)) RETURN_IF_ERROR(set(k, v));
  for (const auto& [k, v] : overrides) RETURN_IF_ERROR(set(k, v));
  return conf;
}

absl::StatusOr<HandlePtr> MakeHandle(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (!rk) return absl::InvalidArgumentError(absl::StrCat("cannot create kafka client: ", errstr));
  conf.release();  // rd_kafka_new took ownership
  return HandlePtr(rk);
}

absl::Status ErrorToStatus(rd_kafka_error_t* err, std::string_view what) {
  if (!err) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(AV(what), ": ", rd_kafka_error_string(err)));
}

bool InRecord::Header(const char* name, std::string_view* out) const {
  if (m_ == nullptr) {
    if (fake_headers_ == nullptr) return false;
    for (auto it = fake_headers_->rbegin(); it != fake_headers_->rend(); ++it)
      if (it->first == name) {
        *out = it->second;
        return true;
      }
    return false;
  }
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m_, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  const void* v;
  size_t n;
  if (rd_kafka_header_get_last(hdrs, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  *out = v ? std::string_view(static_cast<const char*>(v), n) : std::string_view();
  return true;
}

std::vector<Header> InRecord::Headers() const {
  std::vector<evs::kafka::Header> out;
  if (m_ == nullptr) return fake_headers_ ? *fake_headers_ : out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m_, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name;
  const void* v;
  size_t n;
  for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i)
    out.emplace_back(name, v ? std::string(static_cast<const char*>(v), n) : std::string());
  return out;
}

OutRecord& AddWithHeadersOf(const InRecord& in, size_t extra, OutBatch* out) {
  if (in.raw() == nullptr) {  // test records
    OutRecord& r = out->Add();
    r.headers = in.Headers();
    r.headers.resize(r.headers.size() + extra);
    return r;
  }
  OutRecord& r = out->Add(extra);
  r.header_source = in.raw();
  return r;
}

void InlineForwardedHeaders(OutRecord* r) {
  if (r->header_source == nullptr) return;
  std::vector<Header> h = InRecord(r->header_source).Headers();
  r->headers.insert(r->headers.begin(), std::make_move_iterator(h.begin()),
                    std::make_move_iterator(h.end()));
  r->header_source = nullptr;
}

absl::Status Produce(rd_kafka_t* rk, const OutRecord& r, void* opaque, bool take_source_headers,
                     rd_kafka_topic_t* rkt) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (r.header_source != nullptr) {
    // detach: the consumed message's parsed list itself, no copy.
    auto* src_msg = const_cast<rd_kafka_message_t*>(r.header_source);
    rd_kafka_headers_t* src = nullptr;
    if (take_source_headers) {
      if (rd_kafka_message_detach_headers(src_msg, &src) == RD_KAFKA_RESP_ERR_NO_ERROR) hdrs = src;
    } else if (rd_kafka_message_headers(src_msg, &src) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      hdrs = rd_kafka_headers_copy(src);
    }
  }
  if (!r.headers.empty()) {
    if (hdrs == nullptr) hdrs = rd_kafka_headers_new(r.headers.size());
    for (const auto& [k, v] : r.headers) rd_kafka_header_add(hdrs, k.data(), k.size(), v.data(), v.size());
  }
  void* key = r.has_key ? const_cast<char*>(r.key.data()) : nullptr;
  const size_t key_len = r.has_key ? r.key.size() : 0;
  void* value = r.has_value ? const_cast<char*>(r.value.data()) : nullptr;
  const size_t value_len = r.has_value ? r.value.size() : 0;
  for (;;) {
    rd_kafka_resp_err_t err =
        rkt != nullptr
            ? rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(r.partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END)
            : rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();  // hdrs now librdkafka's
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
      continue;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);  // not taken on failure
    return absl::UnavailableError(
        absl::StrCat("produce to '", r.topic, "' failed: ", rd_kafka_err2str(err)));
  }
}

rd_kafka_resp_err_t QueryWatermarksWithRetry(rd_kafka_t* rk, const char* topic, int32_t partition,
                                             int64_t* lo, int64_t* hi, int timeout_ms) {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int attempt = 0; attempt < 60; ++attempt) {
    err = rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
        err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
        err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && err != RD_KAFKA_RESP_ERR__TRANSPORT)
      return err;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return err;
}

absl::StatusOr<std::map<int32_t, int64_t>> AssignWholeTopic(rd_kafka_t* rk,
                                                            const std::string& topic,
                                                            int64_t start, int timeout_ms) {
  // A topic created a moment ago can be listed without partitions or
  // leaders (LEADER_NOT_AVAILABLE) for a while on a fresh broker: retry
  // until it has its partitions. An unknown topic is not waited for.
  std::vector<int32_t> parts;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err)
      return absl::UnavailableError(
          absl::StrCat("metadata for '", topic, "': ", rd_kafka_err2str(err)));
    parts.clear();
    bool settling = false;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = md->topics[i];
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
      if (t.err || t.partition_cnt == 0) settling = true;
      for (int p = 0; p < t.partition_cnt; ++p) {
        if (t.partitions[p].err || t.partitions[p].leader < 0) settling = true;
        parts.push_back(t.partitions[p].id);
      }
    }
    rd_kafka_metadata_destroy(md);
    if (!settling || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(parts.size()));
  std::map<int32_t, int64_t> ends;
  for (int32_t p : parts) {
    int64_t lo = 0, hi = 0;
    err = QueryWatermarksWithRetry(rk, topic.c_str(), p, &lo, &hi, timeout_ms);
    if (err)
      return absl::UnavailableError(
          absl::StrCat("offsets of '", topic, "': ", rd_kafka_err2str(err)));
    if (hi > lo) ends[p] = hi;
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = start;
  }
  rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, list.get());
  if (aerr) return absl::UnavailableError(absl::StrCat("assign '", topic, "': ", rd_kafka_err2str(aerr)));
  return ends;
}

absl::Status ConsumeToEnd(rd_kafka_t* rk, const std::string& topic,
                          std::map<int32_t, int64_t> ends, int timeout_ms,
                          const std::function<void(const rd_kafka_message_t*)>& fn) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!ends.empty()) {
    if (std::chrono::steady_clock::now() > deadline)
      return absl::DeadlineExceededError(absl::StrCat("reading '", topic, "' timed out"));
    MessagePtr m(rd_kafka_consumer_poll(rk, 100));
    if (m && m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      return absl::UnavailableError(
          absl::StrCat("reading '", topic, "': ", rd_kafka_message_errstr(m.get())));
    if (m && !m->err) {
      fn(m.get());
      auto it = ends.find(m->partition);
      if (it != ends.end() && m->offset + 1 >= it->second) ends.erase(it);
      continue;
    }
    // Idle: a partition whose last offsets are transaction markers is done
    // when its position passed the end.
    PartitionListPtr list(rd_kafka_topic_partition_list_new(ends.size()));
    for (const auto& [p, end] : ends) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
    rd_kafka_position(rk, list.get());
    for (int i = 0; i < list->cnt; ++i)
      if (list->elems[i].offset >= ends[list->elems[i].partition]) ends.erase(list->elems[i].partition);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutRecord>> ReadAll(const Props& props, const std::string& topic,
                                               int timeout_ms) {
  ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(props, {{"group.id", "evs-reader"},
                                                  {"enable.auto.commit", "false"},
                                                  {"enable.partition.eof", "false"}}));
  ASSIGN_OR_RETURN(HandlePtr rk, MakeHandle(RD_KAFKA_CONSUMER, std::move(conf)));
  ASSIGN_OR_RETURN(auto ends, AssignWholeTopic(rk.get(), topic, RD_KAFKA_OFFSET_BEGINNING, timeout_ms));
  std::vector<OutRecord> out;
  RETURN_IF_ERROR(ConsumeToEnd(rk.get(), topic, std::move(ends), timeout_ms,
                               [&](const rd_kafka_message_t* m) {
                                 InRecord in(m);
                                 OutRecord r;
                                 r.topic = topic;
                                 r.partition = in.partition();
                                 r.has_key = in.has_key();
                                 r.key = std::string(in.key());
                                 r.has_value = in.has_value();
                                 r.value = std::string(in.value());
                                 r.headers = in.Headers();
                                 out.push_back(std::move(r));
                               }));
  rd_kafka_consumer_close(rk.get());
  return out;
}

}  // namespace evs::kafka
