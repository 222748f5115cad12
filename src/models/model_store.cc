#include "models/model_store.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fmt_compat.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace evs::models {

namespace {

// Nice value of the watcher thread (loads, compiles, teardown of old versions).
constexpr int kLoaderNice = 10;

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

// The pipeline's files: a directory is checked against DirectoryDigest, a
// zip (inline or a file) against the sha256 of its bytes, which are then
// read from memory so that what was checked is what loads.
absl::StatusOr<std::unique_ptr<spark::ArtifactSource>> OpenSpark(const ModelRecord& r) {
  if (!r.inline_artifact() && IsDirectory(LocalPath(r))) {
    const std::string dir = LocalPath(r);
    ASSIGN_OR_RETURN(std::string got, DirectoryDigest(dir));
    if (got != r.sha256)
      return absl::DataLossError(absl::StrCat("sha256 mismatch: the record says ", r.sha256,
                                              ", the directory '", dir, "' has ", got));
    return spark::ArtifactSource::Open(dir);
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadArtifact(r));
  return spark::ArtifactSource::FromZipBytes(std::move(bytes));
}

}  // namespace


namespace {

std::string JsonKey(std::string_view name) {
  std::string k;
  AppendJsonString(name, &k);
  k += ":";
  return k;
}

// Loads the pipeline for a job: the outputs it asks for decide which stages
// are kept. Names of the conventions (label column, probability(<label>),
// cluster) are only known once a pipeline is loaded, so a job that lists its
// own outputs loads twice: once to learn them, once pruned to what it reads.
absl::StatusOr<std::unique_ptr<SparkServing>> LoadSpark(const ModelRecord& r, const config::SparkJob& job) {
  spark::LoadOptions opts;
  opts.conventions_outputs = true;
  std::unique_ptr<spark::Pipeline> p;
  {
    ASSIGN_OR_RETURN(auto src, OpenSpark(r));
    ASSIGN_OR_RETURN(p, spark::Pipeline::Load(std::move(src), opts));
  }
  // Conventions' outputs by name.
  using Out = SparkServing::Output;
  auto conventions = [](const spark::Pipeline& pl) {
    std::vector<std::pair<std::string, Out>> named;
    const spark::Conventions& c = pl.conventions();
    if (!c.has_predictor || c.prediction_slot < 0) return named;
    auto column = [&](int slot) {
      Out o;
      o.slot = slot;
      o.type = pl.schema().column(slot).type;
      return o;
    };
    using Kind = spark::PredictorInfo::Kind;
    if (c.kind == Kind::kClassification && c.probability_from_prediction && c.labels.size() == 2) {
      Out o;
      o.kind = Out::Kind::kLabelFromMean;
      o.slot = c.prediction_slot;
      named.emplace_back(c.label_name, o);
      for (int k = 0; k < 2; ++k) {
        Out pr;
        pr.kind = Out::Kind::kProbabilityFromMean;
        pr.slot = c.prediction_slot;
        pr.index = k;
        named.emplace_back(absl::StrCat("probability(", c.labels[k], ")"), pr);
      }
    } else if (c.kind == Kind::kClassification && !c.labels.empty()) {
      Out o;
      o.kind = Out::Kind::kLabel;
      o.slot = c.prediction_slot;
      named.emplace_back(c.label_name, o);
      if (c.probability_slot >= 0)
        for (size_t k = 0; k < c.labels.size(); ++k) {
          Out pr;
          pr.kind = Out::Kind::kProbability;
          pr.slot = c.probability_slot;
          pr.index = static_cast<int>(k);
          named.emplace_back(absl::StrCat("probability(", c.labels[k], ")"), pr);
        }
    } else if (c.kind == Kind::kClustering) {
      named.emplace_back(c.label_name.empty() ? "cluster" : c.label_name, column(c.prediction_slot));
    } else if (!c.label_name.empty()) {
      named.emplace_back(c.label_name, column(c.prediction_slot));
    }
    if (std::none_of(named.begin(), named.end(), [](const auto& n) { return n.first == "prediction"; }))
      named.emplace_back("prediction", column(c.prediction_slot));
    return named;
  };
  if (!job.outputs.empty()) {
    auto named = conventions(*p);
    opts.outputs.clear();
    for (const std::string& o : job.outputs)
      if (std::none_of(named.begin(), named.end(), [&](const auto& n) { return n.first == o; }))
        opts.outputs.push_back(o);
    if (!opts.outputs.empty()) {
      ASSIGN_OR_RETURN(auto src, OpenSpark(r));
      ASSIGN_OR_RETURN(p, spark::Pipeline::Load(std::move(src), opts));
    }
  }
  auto s = std::make_unique<SparkServing>();
  auto named = conventions(*p);
  s->labels = p->conventions().labels;
  auto add = [&](const std::string& name, Out o) {
    auto it = job.output_names.find(name);
    o.key = JsonKey(it == job.output_names.end() ? name : it->second);
    s->outputs.push_back(std::move(o));
  };
  if (job.outputs.empty()) {
    if (named.empty())
      return absl::InvalidArgumentError(
          "the pipeline has no predictor whose outputs the job could return; list the columns under "
          "the job's outputs");
    for (auto& [name, o] : named) add(name, o);
  } else {
    for (const std::string& name : job.outputs) {
      auto it = std::find_if(named.begin(), named.end(), [&](const auto& n) { return n.first == name; });
      if (it != named.end()) {
        add(name, it->second);
        continue;
      }
      const int slot = p->Find(name);
      if (slot < 0)
        return absl::InvalidArgumentError(
            absl::StrCat("output '", name, "' is neither a column of the pipeline nor one of its conventions' outputs"));
      Out o;
      o.slot = slot;
      o.type = p->schema().column(slot).type;
      add(name, o);
    }
  }
  s->input_fields.resize(p->inputs().size());
  for (size_t i = 0; i < p->inputs().size(); ++i) {
    const std::string& col = p->inputs()[i].name;
    auto it = job.inputs.find(col);
    const std::string field = it == job.inputs.end() ? col : it->second;
    if (!s->input_index.emplace(field, static_cast<int>(i)).second)
      return absl::InvalidArgumentError(absl::StrCat("event field '", field, "' feeds two input columns"));
    s->input_fields[i] = field;
  }
  // Warm-up: rows with every input null touch the stages' buffers; errors
  // (a stage that needs a value) are expected here.
  auto row = p->NewRow();
  for (int round = 0; round < 2; ++round) {
    p->BeginRow(*row);
    (void)p->Run(*row);
  }
  s->pipeline = std::move(p);
  return s;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const LoadedModel>> LoadModel(const ModelRecord& r,
                                                             const LoadSettings& settings) {
  auto start = Clock::now();
  if (r.format == "spark") {
    auto s = LoadSpark(r, settings.spark);
    if (!s.ok()) {
      if (s.status().code() == absl::StatusCode::kDataLoss || s.status().code() == absl::StatusCode::kNotFound)
        return s.status();  // the artifact itself: sha256, unreadable path
      return absl::InvalidArgumentError(absl::StrCat("Spark pipeline: ", s.status().message()));
    }
    auto m = std::make_shared<LoadedModel>();
    m->name = r.name;
    m->version = r.version;
    m->version_text = std::to_string(r.version);
    m->sha256 = r.sha256;
    m->format = r.format;
    m->spark = std::move(*s);
    m->load_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return std::shared_ptr<const LoadedModel>(std::move(m));
  }
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

std::shared_ptr<const ModelTable> ModelStore::Publish(std::shared_ptr<const ModelTable> t) {
  std::shared_ptr<const ModelTable> old = std::move(table_);
  table_ = std::move(t);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  return old;
}

void ModelStore::Install(std::shared_ptr<const LoadedModel> m) {
  std::shared_ptr<const ModelTable> old;  // destroyed after the lock is released
  std::lock_guard<std::mutex> l(mu_);
  auto t = std::make_shared<ModelTable>(*table_);
  ModelEntry& e = (*t)[m->name];
  std::erase_if(e.loaded, [&](const auto& x) { return x->version == m->version; });
  e.loaded.push_back(m);
  e.current = m;
  while (e.loaded.size() > keep_) e.loaded.erase(e.loaded.begin());
  old = Publish(std::move(t));
}

bool ModelStore::Activate(const std::string& name, int64_t version, const std::string& sha256) {
  std::shared_ptr<const ModelTable> old;
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
    old = Publish(std::move(t));
    return true;
  }
  return false;
}

bool ModelStore::Remove(const std::string& name) {
  std::shared_ptr<const ModelTable> old;
  std::lock_guard<std::mutex> l(mu_);
  if (!table_->count(name)) return false;
  auto t = std::make_shared<ModelTable>(*table_);
  t->erase(name);
  old = Publish(std::move(t));
  return true;
}

void ModelStore::Retire(std::shared_ptr<const void> garbage) {
  if (!garbage) return;
  std::lock_guard<std::mutex> l(retired_mu_);
  retired_.push_back(std::move(garbage));
}

size_t ModelStore::ReleaseRetired() {
  std::vector<std::shared_ptr<const void>> drop;
  {
    std::lock_guard<std::mutex> l(retired_mu_);
    drop.swap(retired_);
  }
  return drop.size();  // destroyed here, outside the lock
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
                                 size_t keep_versions, LoadSettings settings)
    : props_(std::move(props)), topic_(std::move(topic)), module_(std::move(module)), store_(store),
      reporter_(reporter), keep_(keep_versions), settings_(std::move(settings)) {}

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
  if (!settings_.only_format.empty() && r.format != settings_.only_format) {
    failures_.fetch_add(1);
    Report(r.name, "rejected", r.version, r.sha256,
           absl::StrCat("format ", r.format, ": this job serves ", settings_.only_format, " models"));
    return;
  }
  auto m = LoadModel(r, settings_);
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
  if (!settings_.only_name.empty() && key != settings_.only_name) return;
  if (!has_value) {
    if (store_->Remove(std::string(key)) || !recovering)
      Report(std::string(key), "deleted", 0, "", "tombstone");
    return;
  }
  auto r = DecodeRecord(value);
  // A PMML job leaves Spark pipelines to the spark jobs (and vice versa
  // for a spark job's own name, which it rejects with a reason below).
  if (r.ok() && settings_.only_name.empty() && !settings_.only_format.empty() &&
      r->format != settings_.only_format)
    return;
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
  // Loads run below the record path's CPU priority: on a busy machine a
  // compile should wait, not the records (a swap then takes longer).
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kLoaderNice);
  while (!stop_.load()) {
    store_->ReleaseRetired();
    kafka::MessagePtr m(rd_kafka_consumer_poll(consumer_.get(), 200));
    if (!m || m->err) continue;
    kafka::InRecord in(m.get());
    Apply(in.key(), in.has_value(), in.value(), false);
  }
}

}  // namespace evs::models
