#include "e2e/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "kafka/admin.h"

extern char** environ;

namespace evs::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string TempDir() {
  const char* d = std::getenv("EVS_TEST_TMP");
  std::string dir = d ? d : "/tmp/evs-e2e";
  std::string cmd = "mkdir -p '" + dir + "'";
  (void)std::system(cmd.c_str());
  return dir;
}

}  // namespace

std::string Bootstrap() {
  const char* b = std::getenv("EVS_TEST_BOOTSTRAP");
  return b ? b : "localhost:19092";
}

std::string Unique(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000) +
         "-" + std::to_string(n++);
}

void CreateTopic(const std::string& topic, int partitions, bool compacted) {
  absl::Status s = kafka::EnsureTopics({{"bootstrap.servers", Bootstrap()}},
                                       {{topic, partitions, compacted}});
  ASSERT_TRUE(s.ok()) << s;
}

void ProduceAll(const std::string& topic, const std::vector<Rec>& recs) {
  auto conf = kafka::MakeConf({{"bootstrap.servers", Bootstrap()}, {"linger.ms", "5"}});
  ASSERT_TRUE(conf.ok());
  auto rk = kafka::MakeHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  ASSERT_TRUE(rk.ok());
  for (const Rec& r : recs) {
    kafka::OutRecord o;
    o.topic = topic;
    o.has_key = !r.key.empty();
    o.key = r.key;
    o.has_value = r.has_value;
    o.value = r.value;
    for (const auto& [k, v] : r.headers) o.headers.emplace_back(k, v);
    absl::Status s = kafka::Produce(rk->get(), o, nullptr);
    ASSERT_TRUE(s.ok()) << s;
  }
  ASSERT_EQ(rd_kafka_flush(rk->get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

std::vector<Rec> Consume(const std::string& topic, size_t count, int timeout_ms, int settle_ms,
                         bool read_committed) {
  std::vector<Rec> out;
  auto conf = kafka::MakeConf({{"bootstrap.servers", Bootstrap()}},
                              {{"group.id", Unique("reader")},
                               {"enable.auto.commit", "false"},
                               {"auto.offset.reset", "earliest"},
                               {"isolation.level", read_committed ? "read_committed" : "read_uncommitted"}});
  if (!conf.ok()) return out;
  auto rk = kafka::MakeHandle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk.ok()) return out;
  rd_kafka_poll_set_consumer(rk->get());
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk->get(), list.get());
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Clock::time_point settle_until = Clock::time_point::max();
  for (;;) {
    auto now = Clock::now();
    if (out.size() >= count && settle_until == Clock::time_point::max())
      settle_until = now + std::chrono::milliseconds(settle_ms);
    if (now >= deadline || now >= settle_until) break;
    kafka::MessagePtr m(rd_kafka_consumer_poll(rk->get(), 100));
    if (!m || m->err) continue;
    kafka::InRecord in(m.get());
    Rec r;
    r.key = std::string(in.key());
    r.has_value = in.has_value();
    r.value = std::string(in.value());
    for (auto& [k, v] : in.Headers()) r.headers[k] = v;
    r.partition = in.partition();
    r.offset = in.offset();
    out.push_back(std::move(r));
  }
  rd_kafka_consumer_close(rk->get());
  return out;
}

Proc::Proc(const std::vector<std::string>& args, const std::string& log_name)
    : Proc(EVS_BINARY, args, log_name) {}

Proc::Proc(const std::string& program, const std::vector<std::string>& args, const std::string& log_name) {
  log_path_ = TempDir() + "/" + log_name + ".log";
  std::vector<std::string> full = {program};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&pid_, program.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << program;
    pid_ = -1;
    done_ = true;
  }
}

Proc::~Proc() {
  if (!done_) Terminate(15000);
}

bool Proc::alive() {
  if (done_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    done_ = true;
    return false;
  }
  return true;
}

void Proc::Kill9() {
  if (done_) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, &status_, 0);
  done_ = true;
}

int Proc::Wait(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (alive()) {
    if (Clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return 128 + WTERMSIG(status_);
}

int Proc::Terminate(int timeout_ms) {
  if (!done_) kill(pid_, SIGTERM);
  int rc = Wait(timeout_ms);
  if (rc == -1) {
    ADD_FAILURE() << "evserve did not stop within " << timeout_ms << " ms after SIGTERM; log: " << log_path_;
    Kill9();
    return -1;
  }
  return rc;
}

std::string Proc::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunCli(const std::vector<std::string>& args, std::string* output, int timeout_ms) {
  Proc p(args, Unique("cli"));
  int rc = p.Wait(timeout_ms);
  if (rc == -1) {
    p.Kill9();
    rc = -1;
  }
  if (output) *output = p.log();
  return rc;
}

std::string WriteFile(const std::string& name, const std::string& content) {
  std::string path = TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

TestEnv MakeEnv(const std::string& name) {
  TestEnv e;
  e.id = Unique(name);
  e.dlq = "t.dlq." + e.id;
  e.status = "t.status." + e.id;
  e.results = "t.results." + e.id;
  e.config_topic = "t.config." + e.id;
  e.requests_prefix = "t.req." + e.id + ".";
  e.input_name = "in-" + e.id;
  e.output_name = "out-" + e.id;
  return e;
}

std::string OneRouteYaml(const std::string& src, const std::string& model) {
  return "jobs:\n  j: {type: echo}\nroutes:\n  - name: r\n    source: " + src +
         "\n    variants: [{name: v, job: j, model: " + model + ", weight: 1}]\n";
}

std::string TestEnv::Header(const std::string& guarantee, const std::string& input_extra) const {
  std::string b = Bootstrap();
  return "guarantee: " + guarantee + "\n" +
         "kafka:\n  external: {bootstrap.servers: \"" + b + "\"}\n  internal: {bootstrap.servers: \"" + b +
         "\"}\n" + "topics: {requests_prefix: \"" + requests_prefix + "\", results: \"" + results +
         "\", config: \"" + config_topic + "\", models: \"t.models." + id + "\", status: \"" + status +
         "\", dlq: \"" + dlq + "\"}\n" + "input_adapter: {name: \"" + input_name + "\"" + (input_extra.empty() ? "" : ", " + input_extra) + "}\n" +
         "output_adapter: {name: \"" + output_name + "\"}\n";
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string HttpGet(int port, const std::string& path) {
  std::string out;
  std::string cmd = "curl -sf http://127.0.0.1:" + std::to_string(port) + path;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

}  // namespace evs::e2e
