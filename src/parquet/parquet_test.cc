#include "parquet/parquet.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace evs::parquet {
namespace {

namespace fs = std::filesystem;

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

// Every Parquet file of every stage in every corpus pipeline zip reads.
TEST(ParquetCorpusTest, ReadsEveryModelDataFileInTheCorpus) {
  fs::path corpus = CorpusDir();
  fs::path root = corpus / "sparkml" / "jpmml-sparkml";
  if (corpus.empty() || !fs::is_directory(root)) GTEST_SKIP() << "corpus absent";
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
