#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kafka/client.h"

namespace evs::e2e {

// Bootstrap servers of the test broker (EVS_TEST_BOOTSTRAP, default
// localhost:19092). scripts/test.sh starts that broker once per run.
std::string Bootstrap();
// A name unique to this process and call, for topics, groups and modules.
std::string Unique(const std::string& prefix);

struct Rec {
  std::string key, value;
  bool has_value = true;
  std::map<std::string, std::string> headers;
  int32_t partition = 0;
  int64_t offset = 0;
};

// Produces records and waits until all are delivered (fails the test otherwise).
void ProduceAll(const std::string& topic, const std::vector<Rec>& recs);
// Reads `topic` from the beginning until `count` records arrived or the
// timeout passed; then keeps reading for `settle_ms` to catch extras
// (duplicates). read_committed for exactly-once checks.
std::vector<Rec> Consume(const std::string& topic, size_t count, int timeout_ms,
                         int settle_ms = 0, bool read_committed = false);
void CreateTopic(const std::string& topic, int partitions = 4, bool compacted = false);

// A child process: evserve, or another program. Logs go to a file named after the process; the
// destructor terminates it (SIGTERM, then SIGKILL).
class Proc {
 public:
  Proc(const std::vector<std::string>& args, const std::string& log_name);
  // Any program (a model server): argv[0] is the program's path.
  Proc(const std::string& program, const std::vector<std::string>& args, const std::string& log_name);
  ~Proc();
  void Kill9();
  // SIGTERM and wait; returns the exit code (or 128+signal).
  int Terminate(int timeout_ms = 30000);
  // Waits for a normal exit; returns the exit code, -1 on timeout.
  int Wait(int timeout_ms);
  bool alive();
  std::string log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool done_ = false;
  std::string log_path_;
};

// Runs evserve to completion; returns exit code, fills output (stdout+stderr).
int RunCli(const std::vector<std::string>& args, std::string* output, int timeout_ms = 60000);

// Writes a file under the test temp dir; returns its path.
std::string WriteFile(const std::string& name, const std::string& content);

// Waits until `pred` holds, polling every 100 ms.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms);

// A TCP port on 127.0.0.1 that was free a moment ago (for --metrics-listen).
int FreePort();

// Body of GET http://127.0.0.1:<port><path>; empty on a connection or HTTP error.
std::string HttpGet(int port, const std::string& path);

// A per-test config prefix: Kafka settings plus unique internal topic names
// (so tests never see each other's config, status, results or DLQ) and
// module names. Append routes/jobs/outputs YAML to it.
struct TestEnv {
  std::string id;  // unique suffix
  std::string dlq, status, results, config_topic, requests_prefix;
  std::string input_name, output_name;
  // input_extra: more input_adapter settings, e.g. "max_in_flight: 500".
  std::string Header(const std::string& guarantee = "at-least-once",
                     const std::string& input_extra = "") const;
};
TestEnv MakeEnv(const std::string& name);

// jobs: + routes: for one route `r` from `src` to one echo job `j` with one
// variant `v` serving `model`. Append to TestEnv::Header().
std::string OneRouteYaml(const std::string& src, const std::string& model = "m");

}  // namespace evs::e2e
