#pragma once

#include <string>

namespace evs::cli {

// `evserve model add|update|delete|list|rollback`: writes and reads the
// model registry topic of the config's internal cluster, then waits for the
// outcomes of the jobs that serve the model (every pmml job for a PMML model,
// the spark jobs naming it for a Spark pipeline) on the status topic and
// prints them.
struct ModelOptions {
  std::string config_path;   // names the cluster, topics and pmml jobs
  std::string name, file;
  std::string format;        // add/update: pmml | spark; empty: spark for a .zip or a directory
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
