#include "models/model_store.h"

#include <thread>

#include <chrono>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace evs::models {
namespace {

using Clock = std::chrono::steady_clock;

// Touches the plan and the context's buffers before the version takes
// traffic: a record with every input missing, then one with numeric inputs
// at zero. Records that cannot be evaluated (returnInvalid on missing) are
// fine here; only the work done matters.
void WarmUp(const pmml::CompiledModel& m) {
  auto ctx = m.NewContext();
  for (int round = 0; round < 3; ++round) {
    ctx->BeginRecord();
    if (round > 0) {
      for (size_t i = 0; i < m.inputs().size(); ++i)
        if (pmml::IsNumeric(m.inputs()[i].type) && m.inputs()[i].optype == pmml::OpType::kContinuous)
          m.SetInput(*ctx, static_cast<int>(i), 0.0);
    }
    if (m.Evaluate(*ctx).ok())
      for (size_t o = 0; o < m.outputs().size(); ++o) (void)m.Output(*ctx, static_cast<int>(o));
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModel(const ModelRecord& r) {
  auto start = Clock::now();
  ASSIGN_OR_RETURN(std::string bytes, ReadArtifact(r));
  auto compiled = pmml::CompiledModel::Load(bytes);
  if (!compiled.ok())
    return absl::InvalidArgumentError(absl::StrCat("PMML: ", compiled.status().message()));
  auto m = std::make_shared<LoadedModel>();
  m->name = r.name;
  m->version = r.version;
  m->version_text = std::to_string(r.version);
  m->sha256 = r.sha256;
  m->model = std::move(*compiled);
  std::vector<std::string> names;
  for (const pmml::FieldSpec& f : m->model->inputs()) names.push_back(f.name);
  std::vector<int> idx = m->model->Bind(names);
  for (size_t i = 0; i < names.size(); ++i)
    if (idx[i] >= 0) m->input_index.emplace(names[i], idx[i]);
  if (m->model->outputs().empty())
    return absl::InvalidArgumentError("PMML: the model has no target and no output fields");
  for (const pmml::FieldSpec& f : m->model->outputs()) {
    std::string k;
    AppendJsonString(f.name, &k);
    k += ":";
    m->output_keys.push_back(std::move(k));
  }
  WarmUp(*m->model);
  m->load_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return std::shared_ptr<const LoadedModel>(std::move(m));
}

std::shared_ptr<const ModelTable> ModelStore::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return table_;
}

void ModelStore::Publish(std::shared_ptr<const ModelTable> t) {
  table_ = std::move(t);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
}

void ModelStore::Install(std::shared_ptr<const LoadedModel> m) {
  std::lock_guard<std::mutex> l(mu_);
  auto t = std::make_shared<ModelTable>(*table_);
  ModelEntry& e = (*t)[m->name];
  std::erase_if(e.loaded, [&](const auto& x) { return x->version == m->version; });
  e.loaded.push_back(m);
  e.current = m;
  while (e.loaded.size() > keep_) e.loaded.erase(e.loaded.begin());
  Publish(std::move(t));
}

bool ModelStore::Activate(const std::string& name, int64_t version, const std::string& sha256) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = table_->find(name);
  if (it == table_->end()) return false;
  for (const auto& m : it->second.loaded) {
    if (m->version != version || m->sha256 != sha256) continue;
    auto t = std::make_shared<ModelTable>(*table_);
    ModelEntry& e = (*t)[name];
    e.current = m;
    // The re-activated version becomes the newest, so eviction spares it.
    std::erase_if(e.loaded, [&](const auto& x) { return x == m; });
    e.loaded.push_back(m);
    Publish(std::move(t));
    return true;
  }
  return false;
}

bool ModelStore::Remove(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  if (!table_->count(name)) return false;
  auto t = std::make_shared<ModelTable>(*table_);
  t->erase(name);
  Publish(std::move(t));
  return true;
}

const LoadedModel* ModelStore::FindLoaded(const std::string& name, int64_t version) const {
  std::lock_guard<std::mutex> l(mu_);
  return FindModel(*table_, {name, version});
}

const LoadedModel* FindModel(const ModelTable& t, const ModelRef& ref) {
  auto it = t.find(ref.name);
  if (it == t.end()) return nullptr;
  if (ref.version == 0) return it->second.current.get();
  for (const auto& m : it->second.loaded)
    if (m->version == ref.version) return m.get();
  return nullptr;
}

RegistryWatcher::RegistryWatcher(kafka::Props props, std::string topic, std::string module,
                                 ModelStore* store, runtime::StatusReporter* reporter,
                                 size_t keep_versions)
    : props_(std::move(props)), topic_(std::move(topic)), module_(std::move(module)), store_(store),
      reporter_(reporter), keep_(keep_versions) {}

RegistryWatcher::~RegistryWatcher() { Stop(); }

void RegistryWatcher::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (consumer_) {
    rd_kafka_consumer_close(consumer_.get());
    consumer_.reset();
  }
}

void RegistryWatcher::Report(const std::string& name, const std::string& outcome, int64_t version,
                             const std::string& digest, const std::string& reason, double load_ms) {
  if (!reporter_) return;
  std::vector<std::pair<std::string, double>> nums;
  if (load_ms >= 0) nums.emplace_back("load_ms", load_ms);
  reporter_->Report("model", outcome, version, reason, {{"model", name}, {"digest", digest}}, nums);
}

void RegistryWatcher::ApplyRecord(const ModelRecord& r, bool recovering) {
  const std::string applied = recovering ? "recovered" : "applied";
  if (store_->Activate(r.name, r.version, r.sha256)) {
    spdlog::info("{}: model {} version {} re-activated (already loaded)", module_, r.name, r.version);
    Report(r.name, applied, r.version, r.sha256,
           r.action == "rollback" ? "rolled back to a loaded version" : "already loaded", 0);
    return;
  }
  auto m = LoadModel(r);
  if (!m.ok()) {
    failures_.fetch_add(1);
    const LoadedModel* cur = store_->FindLoaded(r.name, 0);
    std::string reason = std::string(m.status().message());
    if (cur) reason += absl::StrCat(" (version ", cur->version, " keeps serving)");
    Report(r.name, "rejected", r.version, r.sha256, reason);
    return;
  }
  loads_.fetch_add(1);
  double ms = (*m)->load_ms;
  store_->Install(std::move(*m));
  Report(r.name, applied, r.version, r.sha256, "", ms);
}

void RegistryWatcher::Apply(std::string_view key, bool has_value, std::string_view value,
                            bool recovering) {
  if (!has_value) {
    if (store_->Remove(std::string(key)) || !recovering)
      Report(std::string(key), "deleted", 0, "", "tombstone");
    return;
  }
  auto r = DecodeRecord(value);
  if (!r.ok()) {
    failures_.fetch_add(1);
    Report(std::string(key), "rejected", 0, "", std::string(r.status().message()));
    return;
  }
  if (r->name != key) {
    failures_.fetch_add(1);
    Report(std::string(key), "rejected", r->version, r->sha256,
           absl::StrCat("the record names model '", r->name, "' but its key is '", AV(key), "'"));
    return;
  }
  ApplyRecord(*r, recovering);
}

absl::Status RegistryWatcher::Start() {
  ASSIGN_OR_RETURN(kafka::ConfPtr conf,
                   kafka::MakeConf(props_, {{"group.id", "evs-models-watcher-" + module_},
                                            {"enable.auto.commit", "false"},
                                            {"enable.partition.eof", "false"}}));
  ASSIGN_OR_RETURN(consumer_, kafka::MakeHandle(RD_KAFKA_CONSUMER, std::move(conf)));
  // The module created the registry topic just before; on a fresh broker
  // it may not be visible yet. Without partitions the watcher would never
  // see a model, so wait (bounded) until it has some.
  std::map<int32_t, int64_t> ends;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    ASSIGN_OR_RETURN(ends, kafka::AssignWholeTopic(consumer_.get(), topic_,
                                                   RD_KAFKA_OFFSET_BEGINNING, 10000));
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    bool any = rd_kafka_assignment(consumer_.get(), &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR &&
               assigned != nullptr && assigned->cnt > 0;
    if (assigned) rd_kafka_topic_partition_list_destroy(assigned);
    if (any) break;
    if (std::chrono::steady_clock::now() >= deadline)
      return absl::UnavailableError(absl::StrCat("registry topic '", topic_, "' has no partitions after 30 s"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Catch up: keep the record history per name (a tombstone clears it), then
  // load only the last keep_ records of each name, oldest first.
  std::map<std::string, std::vector<std::pair<bool, std::string>>> history;
  std::vector<std::string> order;
  RETURN_IF_ERROR(kafka::ConsumeToEnd(consumer_.get(), topic_, std::move(ends), 60000,
                                      [&](const rd_kafka_message_t* msg) {
                                        kafka::InRecord in(msg);
                                        std::string key(in.key());
                                        auto& h = history[key];
                                        if (h.empty()) order.push_back(key);
                                        if (!in.has_value()) {
                                          h.clear();
                                          return;
                                        }
                                        h.emplace_back(true, std::string(in.value()));
                                      }));
  size_t n_models = 0;
  for (const std::string& name : order) {
    auto& h = history[name];
    if (h.empty()) continue;
    ++n_models;
    size_t from = h.size() > keep_ ? h.size() - keep_ : 0;
    for (size_t i = from; i < h.size(); ++i) Apply(name, true, h[i].second, true);
    history.erase(name);
  }
  spdlog::info("{}: registry '{}' read to its end: {} model(s)", module_, topic_, n_models);
  caught_up_.store(true);
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void RegistryWatcher::Loop() {
  while (!stop_.load()) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), 200));
    if (!m || m->err) continue;
    kafka::InRecord in(m.get());
    Apply(in.key(), in.has_value(), in.value(), false);
  }
}

}  // namespace evs::models
