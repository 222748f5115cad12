#include "kafka/admin.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace evs::kafka {

absl::Status EnsureTopics(const Props& props, const std::vector<TopicSpec>& topics,
                          int timeout_ms) {
  if (topics.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(props));
  ASSIGN_OR_RETURN(HandlePtr rk, MakeHandle(RD_KAFKA_PRODUCER, std::move(conf)));
  char errstr[512];
  std::vector<rd_kafka_NewTopic_t*> nts;
  for (const TopicSpec& t : topics) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, 1, errstr, sizeof errstr);
    if (!nt) {
      for (auto* n : nts) rd_kafka_NewTopic_destroy(n);
      return absl::InvalidArgumentError(absl::StrCat("topic '", t.name, "': ", errstr));
    }
    if (t.compacted) rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    nts.push_back(nt);
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk.get(), nts.data(), nts.size(), opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
  absl::Status status = absl::OkStatus();
  if (!ev) {
    status = absl::DeadlineExceededError("creating topics timed out (is Kafka running?)");
  } else if (rd_kafka_event_error(ev)) {
    status = absl::UnavailableError(absl::StrCat("create topics: ", rd_kafka_event_error_string(ev)));
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        status = absl::UnavailableError(absl::StrCat("create topic '", rd_kafka_topic_result_name(results[i]),
                                                     "': ", rd_kafka_topic_result_error_string(results[i])));
        break;
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  for (auto* n : nts) rd_kafka_NewTopic_destroy(n);
  return status;
}

}  // namespace evs::kafka
