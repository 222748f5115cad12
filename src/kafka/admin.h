#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kafka/client.h"

namespace evs::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 4;
  bool compacted = false;
};

// Creates the topics that do not exist yet (existing ones are left as they
// are). Blocks up to timeout_ms.
absl::Status EnsureTopics(const Props& props, const std::vector<TopicSpec>& topics,
                          int timeout_ms = 30000);

}  // namespace evs::kafka
