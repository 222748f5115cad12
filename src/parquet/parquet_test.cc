#include "parquet/parquet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace evs::parquet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The shared corpus ($EVS_CORPUS, else ../shared/corpus walking up from the
// cwd); empty when absent.
fs::path CorpusDir() {
  if (const char* env = std::getenv("EVS_CORPUS"); env != nullptr && *env != '\0') return env;
  for (fs::path p = fs::current_path(); !p.empty(); p = p.parent_path()) {
    fs::path c = p / ".." / "shared" / "corpus";
    if (fs::is_directory(c)) return fs::canonical(c);
    c = p / "shared" / "corpus";
    if (fs::is_directory(c)) return fs::canonical(c);
    if (p == p.parent_path()) break;
  }
  return {};
}


fs::path FixtureDir() { return EVS_PARQUET_FIXTURES; }

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string Fixture(const std::string& name) {
  std::string bytes = Slurp(FixtureDir() / (name + ".parquet"));
  EXPECT_FALSE(bytes.empty()) << name;
  return bytes;
}

// Every fixture decodes to exactly the rows pyarrow (or, for the hand-made
// legacy layouts, the generator script) says it holds.
TEST(ParquetFixtureTest, EveryFixtureMatchesItsExpectedRows) {
  size_t checked = 0;
  for (const auto& e : fs::directory_iterator(FixtureDir())) {
    if (e.path().extension() != ".parquet") continue;
    std::string stem = e.path().stem().string();
    if (stem.rfind("err_", 0) == 0) continue;
    SCOPED_TRACE(stem);
    absl::StatusOr<Table> t = ReadFile(e.path().string());
    ASSERT_TRUE(t.ok()) << t.status();
    std::string want = Slurp(FixtureDir() / (stem + ".jsonl"));
    std::string got = ToJsonLines(*t);
    if (got != want) {
      std::istringstream g(got), w(want);
      std::string gl, wl;
      for (int line = 1; std::getline(w, wl); ++line) {
        std::getline(g, gl);
        ASSERT_EQ(gl, wl) << "line " << line;
      }
      FAIL() << "extra rows";
    }
    ++checked;
  }
  EXPECT_GE(checked, 12u);
}

TEST(ParquetFixtureTest, NestedValuesAreReachableByName) {
  absl::StatusOr<Table> t = ReadBytes(Fixture("nested_snappy_v1_dict"));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->num_rows(), 5u);
  int vec = t->ColumnIndex("vec");
  ASSERT_GE(vec, 0);
  EXPECT_EQ(t->ColumnIndex("nope"), -1);
  const SchemaNode& vs = t->schema.children[vec];
  EXPECT_EQ(vs.kind, SchemaNode::Kind::kStruct);
  EXPECT_EQ(vs.children[vs.Child("type")].kind, SchemaNode::Kind::kInt);
  EXPECT_FALSE(vs.children[vs.Child("type")].optional);
  EXPECT_EQ(vs.children[vs.Child("values")].kind, SchemaNode::Kind::kList);
  // Row 4: a sparse vector of size 10.
  const Datum& v = t->rows[4].items[vec];
  EXPECT_EQ(*v.items[vs.Child("size")].AsInt(), 10);
  const Datum& idx = v.items[vs.Child("indices")];
  ASSERT_EQ(idx.kind, Datum::Kind::kList);
  ASSERT_EQ(idx.items.size(), 3u);
  EXPECT_EQ(idx.items[2].i, 9);
  EXPECT_EQ(v.items[vs.Child("values")].items[1].d, 0.2);
  // Maps are lists of (key, value) structs.
  int maps = t->ColumnIndex("maps");
  EXPECT_EQ(t->schema.children[maps].kind, SchemaNode::Kind::kMap);
  const Datum& m = t->rows[0].items[maps];
  ASSERT_EQ(m.items.size(), 2u);
  EXPECT_EQ(m.items[1].kind, Datum::Kind::kStruct);
  EXPECT_EQ(m.items[1].items[0].i, 1);
  EXPECT_EQ(m.items[1].items[1].items[0].items[0].d, 5.0);
  EXPECT_TRUE(t->rows[1].items[maps].is_null());
}

TEST(ParquetDatumTest, AsDoubleAndAsInt) {
  Datum i;
  i.kind = Datum::Kind::kInt;
  i.i = -7;
  EXPECT_EQ(*i.AsDouble(), -7.0);
  EXPECT_EQ(*i.AsInt(), -7);
  Datum d;
  d.kind = Datum::Kind::kDouble;
  d.d = 3.0;
  EXPECT_EQ(*d.AsInt(), 3);
  d.d = 3.5;
  EXPECT_EQ(*d.AsDouble(), 3.5);
  EXPECT_FALSE(d.AsInt().ok());
  d.d = std::nan("");
  EXPECT_FALSE(d.AsInt().ok());
  d.d = 1e300;
  EXPECT_FALSE(d.AsInt().ok());
  Datum b;
  b.kind = Datum::Kind::kBool;
  b.b = true;
  EXPECT_EQ(*b.AsDouble(), 1.0);
  EXPECT_EQ(*b.AsInt(), 1);
  Datum s;
  s.kind = Datum::Kind::kBytes;
  EXPECT_FALSE(s.AsDouble().ok());
  EXPECT_FALSE(Datum().AsInt().ok());
}

TEST(ParquetPartsTest, ConcatenatesPartsAndRejectsADifferentSchema) {
  std::string a = Fixture("types_snappy_v1_dict");
  std::string b = Fixture("types_zstd_v2_plain");
  absl::StatusOr<Table> one = ReadBytes(a);
  absl::StatusOr<Table> both = ReadParts({a, b});
  ASSERT_TRUE(one.ok() && both.ok()) << both.status();
  ASSERT_EQ(both->num_rows(), 2 * one->num_rows());
  EXPECT_EQ(ToJsonLines(*both), ToJsonLines(*one) + ToJsonLines(*one));
  absl::StatusOr<Table> mixed = ReadParts({a, Fixture("nested_none_v1_plain")});
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(std::string(mixed.status().message()), HasSubstr("part 1"));
  EXPECT_FALSE(ReadParts({}).ok());
  ReadOptions opts;
  opts.max_rows = one->num_rows() + 1;
  EXPECT_FALSE(ReadParts({a, b}, opts).ok());
}

absl::Status ErrorOf(std::string_view bytes, const ReadOptions& opts = {}) {
  absl::StatusOr<Table> t = ReadBytes(bytes, opts);
  return t.ok() ? absl::OkStatus() : t.status();
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ParquetErrorTest, EveryTruncationFails) {
  std::string f = Fixture("types_snappy_v1_dict");
  for (size_t n = 0; n < f.size(); ++n)
    ASSERT_FALSE(ErrorOf(std::string_view(f).substr(0, n)).ok()) << n;
}

TEST(ParquetErrorTest, BadMagicAndFooterLength) {
  std::string f = Fixture("types_none_v1_plain");
  std::string bad = f;
  bad[0] = 'X';
  EXPECT_THAT(Message(ErrorOf(bad)), HasSubstr("magic"));
  bad = f;
  bad[bad.size() - 1] = 'X';
  EXPECT_THAT(Message(ErrorOf(bad)), HasSubstr("magic"));
  bad = f;
  uint32_t len = static_cast<uint32_t>(f.size());
  std::memcpy(bad.data() + bad.size() - 8, &len, 4);
  EXPECT_THAT(Message(ErrorOf(bad)), HasSubstr("footer length"));
  EXPECT_THAT(Message(ErrorOf("PAR1PAR1")), HasSubstr("too short"));
}

// Rewrites the varint at `pos` (same byte count, padded with continuation
// bits) so the file layout stays valid around it.
void PutVarint(std::string* f, size_t pos, uint64_t v) {
  size_t n = 1;
  while (static_cast<uint8_t>((*f)[pos + n - 1]) & 0x80) ++n;
  ASSERT_LT(v, uint64_t{1} << (7 * n));
  for (size_t i = 0; i < n; ++i) {
    uint8_t b = (v >> (7 * i)) & 0x7f;
    if (i + 1 < n) b |= 0x80;
    (*f)[pos + i] = static_cast<char>(b);
  }
}

// Positions of the uncompressed and compressed size varints of the page
// header at offset 4 (fields 2 and 3, both i32).
std::pair<size_t, size_t> PageSizeFields(const std::string& f) {
  size_t p = 4;
  EXPECT_EQ(static_cast<uint8_t>(f[p]), 0x15);  // field 1, i32: page type
  p += 2;
  EXPECT_EQ(static_cast<uint8_t>(f[p]), 0x15);  // field 2: uncompressed size
  size_t unc = ++p;
  while (static_cast<uint8_t>(f[p]) & 0x80) ++p;
  ++p;
  EXPECT_EQ(static_cast<uint8_t>(f[p]), 0x15);  // field 3: compressed size
  return {unc, p + 1};
}

TEST(ParquetErrorTest, PageHeaderLyingAboutSizes) {
  for (const char* name : {"types_none_v1_plain", "types_snappy_v1_dict"}) {
    SCOPED_TRACE(name);
    std::string f = Fixture(name);
    auto [unc, comp] = PageSizeFields(f);
    std::string bad = f;
    PutVarint(&bad, comp, 2 * 8000);  // zigzag(8000): past the chunk
    absl::Status s = ErrorOf(bad);
    EXPECT_THAT(Message(s), HasSubstr("column 'i8'"));
    EXPECT_THAT(Message(s), HasSubstr("compressed size 8000"));
    bad = f;
    PutVarint(&bad, unc, 2 * 100);  // a wrong uncompressed size
    s = ErrorOf(bad);
    EXPECT_THAT(Message(s), HasSubstr("column 'i8', page at offset 4"));
    EXPECT_THAT(Message(s), HasSubstr("header"));
    bad = f;
    PutVarint(&bad, unc, 2 * 3);  // shorter
    EXPECT_FALSE(ErrorOf(bad).ok());
    bad = f;
    PutVarint(&bad, comp, 1);  // zigzag(-1)
    EXPECT_THAT(Message(ErrorOf(bad)), HasSubstr("compressed size -1"));
  }
}

TEST(ParquetErrorTest, UnsupportedEncodingCodecAndType) {
  absl::Status s = ErrorOf(Fixture("err_delta"));
  EXPECT_THAT(Message(s), HasSubstr("column 'v'"));
  EXPECT_THAT(Message(s), HasSubstr("DELTA_BINARY_PACKED not supported"));
  s = ErrorOf(Fixture("err_lz4"));
  EXPECT_THAT(Message(s), HasSubstr("column 'v'"));
  EXPECT_THAT(Message(s), HasSubstr("LZ4"));
  EXPECT_THAT(Message(ErrorOf(Fixture("err_brotli"))), HasSubstr("codec BROTLI not supported"));
  s = ErrorOf(Fixture("err_int96"));
  EXPECT_THAT(Message(s), HasSubstr("column 't'"));
  EXPECT_THAT(Message(s), HasSubstr("INT96"));
}

TEST(ParquetErrorTest, CapsAreEnforced) {
  std::string nested = Fixture("nested_snappy_v1_dict");
  ReadOptions opts;
  opts.max_nesting = 2;
  EXPECT_THAT(Message(ErrorOf(nested, opts)), HasSubstr("nesting deeper than 2"));
  opts = {};
  // The deepest leaf, lst.list.element.y.list.element, is 6 schema levels down.
  opts.max_nesting = 5;
  EXPECT_THAT(Message(ErrorOf(nested, opts)), HasSubstr("at 'lst.list.element.y.list'"));
  opts.max_nesting = 6;
  EXPECT_TRUE(ErrorOf(nested, opts).ok());
  opts = {};
  opts.max_rows = 4;
  EXPECT_THAT(Message(ErrorOf(nested, opts)), HasSubstr("rows"));
  opts.max_rows = 5;
  EXPECT_TRUE(ErrorOf(nested, opts).ok());
  std::string multi = Fixture("multi_snappy_v1");
  opts.max_rows = 100;  // the first row group fits, the second does not
  EXPECT_THAT(Message(ErrorOf(multi, opts)), HasSubstr("row group 1"));
  opts = {};
  opts.max_page_bytes = 16;
  EXPECT_THAT(Message(ErrorOf(nested, opts)), HasSubstr("beyond the page cap"));
  opts = {};
  opts.max_file_bytes = nested.size() - 1;
  EXPECT_THAT(Message(ErrorOf(nested, opts)), HasSubstr("exceeds the cap"));
  absl::StatusOr<Table> t = ReadFile((FixtureDir() / "nested_snappy_v1_dict.parquet").string(),
                                     opts);
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(ReadFile("/nonexistent/x.parquet").status().code(), absl::StatusCode::kNotFound);
}

// Each single-byte corruption of small files gives a table or an error;
// under the sanitizer presets this also proves no memory error.
TEST(ParquetErrorTest, ByteFlipsNeverCrash) {
  const std::vector<uint8_t> all = {0xff, 0x01, 0x80}, one = {0xff};
  for (const char* name : {"legacy_lists", "nested_none_v1_plain"}) {
    std::string f = Fixture(name);
    const std::vector<uint8_t>& flips = f.size() < 2000 ? all : one;
    for (size_t i = 0; i < f.size(); ++i) {
      for (uint8_t x : flips) {
        std::string bad = f;
        bad[i] = static_cast<char>(bad[i] ^ x);
        absl::StatusOr<Table> t = ReadBytes(bad);
        if (t.ok()) (void)ToJsonLines(*t);
      }
    }
  }
}

// Every Parquet file of every stage in every corpus pipeline zip reads.
TEST(ParquetCorpusTest, ReadsEveryModelDataFileInTheCorpus) {
  fs::path corpus = CorpusDir();
  fs::path root = corpus / "sparkml" / "jpmml-sparkml";
  if (corpus.empty() || !fs::is_directory(root)) GTEST_SKIP() << "corpus absent";
  if (std::system("command -v unzip >/dev/null 2>&1") != 0) GTEST_SKIP() << "no unzip";
  std::vector<fs::path> zips;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".zip") continue;
    if (e.path().parent_path().filename() != "pipeline") continue;
    zips.push_back(e.path());
  }
  ASSERT_FALSE(zips.empty());
  fs::path tmp = fs::temp_directory_path() / ("evs_parquet_corpus_" + std::to_string(::getpid()));
  size_t files = 0, rows = 0;
  for (const fs::path& zip : zips) {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    std::string cmd = "unzip -q -o '" + zip.string() + "' -d '" + tmp.string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    for (const auto& e : fs::recursive_directory_iterator(tmp)) {
      if (e.path().extension() != ".parquet") continue;
      absl::StatusOr<Table> t = ReadFile(e.path().string());
      EXPECT_TRUE(t.ok()) << zip.filename() << " " << e.path().lexically_relative(tmp) << ": "
                          << t.status();
      if (!t.ok()) continue;
      ++files;
      rows += t->num_rows();
      (void)ToJsonLines(*t);
    }
  }
  fs::remove_all(tmp);
  EXPECT_GT(files, 0u);
  std::printf("read %zu parquet files (%zu rows) from %zu zips\n", files, rows, zips.size());
}

}  // namespace
}  // namespace evs::parquet
