#pragma once

#include <string>
#include <vector>

namespace evs::cli {

// Exit codes of every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // runtime failure (Kafka unreachable, module error)
inline constexpr int kExitUsage = 2;     // bad arguments, invalid config
inline constexpr int kExitTimeout = 3;   // tail/wait ran out of time before the expected count

// Runs the modules named ("input-adapter", "output-adapter", "job:<name>", or
// "all") until SIGINT/SIGTERM or a fatal error.
int RunModules(const std::string& config_path, const std::vector<std::string>& modules,
               const std::string& instance_id, const std::string& metrics_listen);
int ConfigPush(const std::string& file, const std::string& bootstrap_config,
               const std::vector<std::string>& modules, bool validate, long version);
int ConfigGet(const std::string& bootstrap_config, const std::string& module, bool show_doc);
int ConfigValidate(const std::string& file);
int TopicsCreate(const std::string& config_path, int partitions);
struct SendOptions {
  std::string bootstrap, topic, key, file;
  std::vector<std::string> values, headers;
  bool lines_from_stdin = false;
};
int Send(const SendOptions& o);
struct TailOptions {
  std::string bootstrap, topic;
  bool from_beginning = false, headers = false, keys = false;
  long count = -1;
  double timeout_s = -1;
};
int Tail(const TailOptions& o);

}  // namespace evs::cli
