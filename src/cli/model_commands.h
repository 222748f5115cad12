#pragma once

#include <string>

namespace evs::cli {

// `evserve model add|update|delete|list|rollback`: writes and reads the
// model registry topic of the config's internal cluster, then waits for the
// pmml jobs' outcomes on the status topic and prints them.
struct ModelOptions {
  std::string config_path;   // names the cluster, topics and pmml jobs
  std::string name, file;
  long version = 0;          // add/update: 0 = highest ever + 1; rollback: 0 = previous
  bool by_path = false;      // store the file's absolute path instead of its content
  bool no_wait = false;
  double timeout_s = 30;     // how long to wait for outcomes
};

int ModelAdd(const ModelOptions& o, bool update);
int ModelDelete(const ModelOptions& o);
int ModelList(const ModelOptions& o);
int ModelRollback(const ModelOptions& o);

}  // namespace evs::cli
