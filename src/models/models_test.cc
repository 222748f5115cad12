#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "httplib.h"
#include "models/model_store.h"
#include "models/registry.h"

namespace evs::models {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(EVS_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ModelRecord Inline(const std::string& name, int64_t version, const std::string& doc) {
  ModelRecord r;
  r.name = name;
  r.version = version;
  r.sha256 = Sha256Hex(doc);
  r.artifact = doc;
  return r;
}

TEST(Registry, Sha256AndBase64) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x80", 3)}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
}

TEST(Registry, EncodeDecodeInlineTextBinaryAndPath) {
  ModelRecord r = Inline("iris", 3, "<PMML/>");
  r.action = "update";
  auto d = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->name, "iris");
  EXPECT_EQ(d->version, 3);
  EXPECT_EQ(d->encoding, "text");
  EXPECT_EQ(d->artifact, "<PMML/>");
  EXPECT_EQ(d->action, "update");
  EXPECT_EQ(d->highest_version, 3);
  r.version = 1;
  r.action = "rollback";
  r.highest_version = 5;
  d = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->version, 1);
  EXPECT_EQ(d->highest_version, 5);

  ModelRecord b = Inline("bin", 1, std::string("PK\x03\x04\xff\xfe", 6));
  auto db = DecodeRecord(EncodeRecord(b));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(db->encoding, "base64");
  EXPECT_EQ(db->artifact, b.artifact);
  ASSERT_TRUE(ReadArtifact(*db).ok());

  ModelRecord p;
  p.name = "tree";
  p.version = 1;
  p.path = std::string(EVS_FIXTURES_DIR) + "/iris_tree.pmml";
  p.sha256 = Sha256Hex(Fixture("iris_tree.pmml"));
  auto dp = DecodeRecord(EncodeRecord(p));
  ASSERT_TRUE(dp.ok()) << dp.status();
  EXPECT_EQ(dp->path, p.path);
  EXPECT_TRUE(ReadArtifact(*dp).ok());
}

TEST(Registry, SparkRecordsInlineZipsAsBase64AndDirectoriesByTreeDigest) {
  // A zip that happens to be valid UTF-8 is still stored as base64.
  ModelRecord z = Inline("tweets", 2, "PK\x03\x04 plain bytes");
  z.format = "spark";
  const std::string enc = EncodeRecord(z);
  EXPECT_NE(enc.find("\"format\":\"spark\""), std::string::npos) << enc;
  EXPECT_NE(enc.find("\"encoding\":\"base64\""), std::string::npos) << enc;
  auto d = DecodeRecord(enc);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->format, "spark");
  EXPECT_EQ(d->artifact, z.artifact);

  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("evs-models-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "stages" / "0_a" / "metadata");
  std::ofstream(dir / "metadata") << "root";
  std::ofstream(dir / "stages" / "0_a" / "metadata" / "part-00000") << "stage";
  auto d1 = DirectoryDigest(dir.string());
  ASSERT_TRUE(d1.ok()) << d1.status();
  EXPECT_EQ(d1->size(), 64u);
  EXPECT_TRUE(IsDirectory(dir.string()));
  std::ofstream(dir / "stages" / "0_a" / "metadata" / "part-00000") << "stage changed";
  auto d2 = DirectoryDigest(dir.string());
  ASSERT_TRUE(d2.ok());
  EXPECT_NE(*d1, *d2);  // content counts
  // A directory is not a byte artifact; the Spark loader checks its digest instead.
  ModelRecord p;
  p.name = "tweets";
  p.version = 1;
  p.format = "spark";
  p.path = dir.string();
  p.sha256 = *d2;
  EXPECT_FALSE(ReadArtifact(p).ok());
  p.sha256 = *d1;
  auto m = LoadModel(p);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(std::string(m.status().message()).find("sha256 mismatch"), std::string::npos) << m.status();
  fs::remove_all(dir);
}

TEST(Registry, RejectsBadRecords) {
  const std::string sha(64, 'a');
  for (const char* bad : {
           R"({"version":1,"format":"pmml","sha256":"SHA","artifact":"x"})",                 // no name
           R"({"name":"a@b","version":1,"format":"pmml","sha256":"SHA","artifact":"x"})",    // bad name
           R"({"name":"a","version":0,"format":"pmml","sha256":"SHA","artifact":"x"})",      // version
           R"({"name":"a","version":1.5,"format":"pmml","sha256":"SHA","artifact":"x"})",
           R"({"name":"a","version":1,"format":"onnx","sha256":"SHA","artifact":"x"})",      // format
           R"({"name":"a","version":1,"format":"pmml","sha256":"abc","artifact":"x"})",      // sha
           R"({"name":"a","version":1,"format":"pmml","sha256":"SHA"})",                     // no artifact
           R"({"name":"a","version":1,"format":"pmml","sha256":"SHA","path":"ftp://x/y"})",  // scheme
           "not json"}) {
    std::string s = bad;
    auto pos = s.find("SHA");
    if (pos != std::string::npos) s.replace(pos, 3, sha);
    EXPECT_FALSE(DecodeRecord(s).ok()) << s;
  }
}

TEST(Registry, ModelRef) {
  ModelRef r;
  ASSERT_TRUE(ParseModelRef("iris", &r));
  EXPECT_EQ(r.name, "iris");
  EXPECT_EQ(r.version, 0);
  ASSERT_TRUE(ParseModelRef("iris@12", &r));
  EXPECT_EQ(r.name, "iris");
  EXPECT_EQ(r.version, 12);
  EXPECT_FALSE(ParseModelRef("iris@", &r));
  EXPECT_FALSE(ParseModelRef("iris@x", &r));
  EXPECT_FALSE(ParseModelRef("@3", &r));
  EXPECT_FALSE(ParseModelRef("", &r));
}

// Serves artifacts over HTTP on 127.0.0.1 (an ephemeral port) for the
// URL path tests.
class ArtifactServer {
 public:
  explicit ArtifactServer(std::string doc) : doc_(std::move(doc)) {
    server_.Get("/iris.pmml", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(doc_, "application/xml");
    });
    server_.Get("/moved", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/iris.pmml");
    });
    server_.Get("/broken", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("oops", "text/plain");
    });
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      res.set_content("late", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 5000 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ArtifactServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  std::string doc_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
};

ModelRecord ByUrl(const std::string& url, const std::string& sha256) {
  ModelRecord r;
  r.name = "iris";
  r.version = 1;
  r.sha256 = sha256;
  r.path = url;
  return r;
}

TEST(Registry, UrlPathsAreFetchedCheckedAndReportedByUrl) {
  const std::string doc = Fixture("iris_tree.pmml");
  ArtifactServer server(doc);
  const std::string sha = Sha256Hex(doc);

  // The record round-trips through the topic's JSON with its URL.
  auto rec = DecodeRecord(EncodeRecord(ByUrl(server.Url("/iris.pmml"), sha)));
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->path, server.Url("/iris.pmml"));
  EXPECT_TRUE(IsHttpUrl(rec->path));
  EXPECT_FALSE(IsDirectory(LocalPath(*rec)));

  auto bytes = ReadArtifact(*rec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, doc);
  auto moved = ReadArtifact(ByUrl(server.Url("/moved"), sha));  // a redirect is followed
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, doc);

  // The loaded model is the served document.
  auto m = LoadModel(*rec);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->sha256, sha);

  auto msg = [](const absl::StatusOr<std::string>& r) {
    return r.ok() ? std::string("(fetched)") : std::string(r.status().message());
  };
  const std::string wrong = msg(ReadArtifact(ByUrl(server.Url("/iris.pmml"), Sha256Hex("other"))));
  EXPECT_NE(wrong.find("sha256 mismatch"), std::string::npos) << wrong;
  const std::string missing = msg(ReadArtifact(ByUrl(server.Url("/nope.pmml"), sha)));
  EXPECT_NE(missing.find("HTTP 404"), std::string::npos) << missing;
  EXPECT_NE(missing.find(server.Url("/nope.pmml")), std::string::npos) << missing;
  EXPECT_NE(msg(ReadArtifact(ByUrl(server.Url("/broken"), sha))).find("HTTP 500"), std::string::npos);

  FetchLimits small;
  small.max_bytes = 1000;  // the fixture is larger
  ASSERT_GT(doc.size(), small.max_bytes);
  const std::string big = msg(FetchUrl(server.Url("/iris.pmml"), small));
  EXPECT_NE(big.find("larger than 1000 bytes"), std::string::npos) << big;

  FetchLimits quick;
  quick.timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  const std::string slow = msg(FetchUrl(server.Url("/slow"), quick));
  EXPECT_NE(slow.find(server.Url("/slow")), std::string::npos) << slow;
  EXPECT_NE(slow, "(fetched)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));

  // Nothing listens on port 1.
  const std::string refused = msg(FetchUrl("http://127.0.0.1:1/x.pmml"));
  EXPECT_NE(refused.find("GET http://127.0.0.1:1/x.pmml: "), std::string::npos) << refused;
}

TEST(LoadModel, CompilesBindsAndEvaluatesTheIrisTree) {
  auto m = LoadModel(Inline("iris", 1, Fixture("iris_tree.pmml")));
  ASSERT_TRUE(m.ok()) << m.status();
  const LoadedModel& lm = **m;
  EXPECT_EQ(lm.input_index.size(), 3u);
  ASSERT_FALSE(lm.output_keys.empty());
  EXPECT_EQ(lm.output_keys[0], "\"species\":");
  auto ctx = lm.model->NewContext();
  ctx->BeginRecord();
  lm.model->SetInput(*ctx, lm.input_index.find("petal_length")->second, 1.4);
  lm.model->SetInput(*ctx, lm.input_index.find("petal_width")->second, 0.2);
  lm.model->SetInput(*ctx, lm.input_index.find("sepal_width")->second, 3.5);
  ASSERT_TRUE(lm.model->Evaluate(*ctx).ok());
  EXPECT_EQ(lm.model->Output(*ctx, 0).str, "setosa");
}

TEST(LoadModel, RejectsCorruptArtifactsWithAReason) {
  const std::string good = Fixture("iris_tree.pmml");
  auto msg = [](const ModelRecord& r) {
    auto m = LoadModel(r);
    return m.ok() ? std::string("(loaded)") : std::string(m.status().message());
  };
  EXPECT_NE(msg(Inline("t", 1, good.substr(0, good.size() / 2))), "(loaded)");  // truncated
  ModelRecord wrong = Inline("t", 1, good);
  wrong.sha256 = Sha256Hex("something else");
  EXPECT_NE(msg(wrong).find("sha256 mismatch"), std::string::npos);
  std::string doctype = good;
  doctype.insert(doctype.find("<PMML"), "<!DOCTYPE PMML [<!ENTITY x \"y\">]>\n");
  EXPECT_NE(msg(Inline("t", 1, doctype)).find("DOCTYPE"), std::string::npos);
  std::string unknown = good;
  for (std::string tag : {"<TreeModel", "</TreeModel"}) {
    auto p = unknown.find(tag);
    ASSERT_NE(p, std::string::npos);
    unknown.replace(p, tag.size(), tag[1] == '/' ? "</FancyModel" : "<FancyModel");
  }
  EXPECT_NE(msg(Inline("t", 1, unknown)), "(loaded)");
}

TEST(ModelStore, InstallActivateEvictRemove) {
  const std::string doc = Fixture("iris_tree.pmml");
  ModelStore store(2);
  uint64_t e0 = store.epoch();
  for (int v = 1; v <= 3; ++v) store.Install(*LoadModel(Inline("iris", v, doc)));
  EXPECT_GT(store.epoch(), e0);
  auto snap = store.Snapshot();
  EXPECT_EQ(FindModel(*snap, {"iris", 0})->version, 3);
  EXPECT_EQ(FindModel(*snap, {"iris", 2})->version, 2);
  EXPECT_EQ(FindModel(*snap, {"iris", 1}), nullptr);  // evicted (keep 2)
  EXPECT_TRUE(store.Activate("iris", 2, Sha256Hex(doc)));
  EXPECT_FALSE(store.Activate("iris", 1, Sha256Hex(doc)));
  EXPECT_EQ(FindModel(*store.Snapshot(), {"iris", 0})->version, 2);
  // The old snapshot still answers with what it had.
  EXPECT_EQ(FindModel(*snap, {"iris", 0})->version, 3);
  EXPECT_TRUE(store.Remove("iris"));
  EXPECT_EQ(FindModel(*store.Snapshot(), {"iris", 0}), nullptr);
}

// A swap must not tear an evicted version down on the thread that lets go
// of it: what is retired lives until ReleaseRetired (the watcher thread).
TEST(ModelStore, RetiredVersionsLiveUntilReleased) {
  const std::string doc = Fixture("iris_tree.pmml");
  ModelStore store(1);
  store.Install(*LoadModel(Inline("iris", 1, doc)));
  std::shared_ptr<const ModelTable> reader = store.Snapshot();  // a runner's snapshot
  std::weak_ptr<const LoadedModel> v1 = reader->at("iris").current;
  store.Install(*LoadModel(Inline("iris", 2, doc)));  // evicts v1 (keep 1)
  ASSERT_FALSE(v1.expired()) << "the reader's snapshot still holds v1";
  store.Retire(std::move(reader));
  EXPECT_FALSE(v1.expired()) << "retired, not yet released";
  EXPECT_EQ(store.ReleaseRetired(), 1u);
  EXPECT_TRUE(v1.expired());
  EXPECT_EQ(store.ReleaseRetired(), 0u);
  store.Retire(nullptr);  // ignored
  EXPECT_EQ(store.ReleaseRetired(), 0u);
}

}  // namespace
}  // namespace evs::models
