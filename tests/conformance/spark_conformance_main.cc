// spark_conformance: scores the third-party Spark MLlib corpus (or the
// project's own fixtures) with the native pipeline evaluator and compares the
// results with Spark's own. See docs/conformance.md.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "conformance/spark_conformance.h"

namespace fs = std::filesystem;
namespace conf = evs::conformance;

namespace {

constexpr int kExitOk = 0, kExitFail = 1, kExitUsage = 2, kExitSkip = 77;

const char kUsage[] = R"(Usage: spark_conformance [options]

Scores every pipeline of the Spark corpus (shared/corpus/sparkml) with the
native evaluator and compares the corpus conventions' columns (label string,
probability(<label>), the regression prediction named after the label, cluster)
with the expected CSVs, at the MANIFEST's tolerance per item
(tests/conformance/spark_items.tsv). Pipelines with non-Spark stages (XGBoost,
LightGBM, JPMML helpers) that fail with "unsupported stage <class>" count as
UNSUPPORTED, not as failures.

  --corpus DIR          corpus root (default: $EVS_CORPUS, else shared/corpus beside
                        the repository or one of its parent folders); exit 77 if absent
  --items FILE          item list (default: tests/conformance/spark_items.tsv)
  --filter SUBSTR       only items whose id contains SUBSTR (repeatable: any matches)
  -v, --verbose         print every failing item's first mismatches
  --write-doc FILE      write the Spark section of FILE (docs/conformance.md); the
                        rest of the file (the PMML part) is kept
  --reasons FILE        one-line reasons for failing items (default:
                        tests/conformance/spark_reasons.tsv)
  --passing FILE        the items that must pass (default: tests/conformance/spark_passing.txt)
  --check               exit 1 if an item on the passing list fails
  --update-passing      rewrite the passing list with the items that pass
  --fixtures DIR        run the project's fixtures (DIR/fixtures.tsv, paths relative to
                        DIR); every row must pass; exit 77 if there is no fixtures.tsv
Exit codes: 0 done (in the plain and --write-doc modes also when items fail),
1 a check failed, 2 bad arguments, 77 nothing to run (corpus or fixtures absent).
)";

std::string SourceDir() { return EVS_SOURCE_DIR; }

void PrintResult(const conf::SparkItem& item, const conf::SparkItemResult& r, bool verbose) {
  std::cout << absl::StrFormat("%-11s %-40s %6d rows %7d cells %6.2fs", std::string(conf::SparkOutcomeName(r.outcome)),
                               item.id, r.rows, r.cells, r.seconds);
  if (r.outcome != conf::SparkOutcome::kPass) std::cout << "  " << r.summary;
  std::cout << "\n";
  if (verbose && r.outcome == conf::SparkOutcome::kFail)
    for (const auto& d : r.details) std::cout << "        " << d << "\n";
  std::cout << std::flush;
}

// Corpus pipeline zips the item list does not name (a check that the list,
// written from the MANIFEST, still covers the corpus).
std::vector<std::string> UnlistedZips(const std::string& root, const std::vector<conf::SparkItem>& items) {
  std::set<std::string> listed;
  for (const auto& it : items) listed.insert(it.model);
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path base = fs::path(root) / "sparkml";
  if (!fs::is_directory(base, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(base, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    if (p.extension() != ".zip" || p.parent_path().filename() != "pipeline") continue;
    std::string rel = fs::relative(p, root, ec).string();
    if (!listed.count(rel)) out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string SparkSection(const std::vector<conf::SparkItem>& items, const std::vector<conf::SparkItemResult>& results,
                         const std::map<std::string, std::string>& reasons, const std::vector<std::string>& unlisted) {
  struct Count {
    int total = 0, pass = 0, fail = 0, unsupported = 0, spark_only = 0, spark_only_pass = 0;
  };
  std::map<std::string, Count> by_group;
  std::vector<std::string> order;
  Count all;
  std::map<std::string, std::vector<std::string>> unsupported;  // class -> items
  for (size_t i = 0; i < items.size(); ++i) {
    std::string g = items[i].Group();
    if (!by_group.count(g)) order.push_back(g);
    for (Count* c : {&by_group[g], &all}) {
      c->total++;
      if (results[i].outcome == conf::SparkOutcome::kPass) c->pass++;
      else if (results[i].outcome == conf::SparkOutcome::kFail) c->fail++;
      else c->unsupported++;
      if (items[i].non_spark.empty()) {
        c->spark_only++;
        if (results[i].pass) c->spark_only_pass++;
      }
    }
    if (!results[i].unsupported_class.empty()) unsupported[results[i].unsupported_class].push_back(items[i].id);
  }
  std::ostringstream o;
  o << conf::kSparkDocBegin << "\n"
    << "# Spark MLlib conformance\n\n"
    << "The native Spark pipeline evaluator (`src/spark`) scored on the third-party Spark corpus\n"
    << "(`sparkml/jpmml-sparkml`: PipelineModels saved by Spark 2.4, 3.0 and 3.5, with the\n"
    << "output of Spark's own `transform` on every input row). The corpus is read from\n"
    << "`$EVS_CORPUS` or `shared/corpus` beside the repository, never copied here; without it\n"
    << "the test is skipped.\n\n"
    << "**" << all.pass << " of " << all.total << " items pass; " << all.spark_only_pass << " of "
    << all.spark_only << " pipelines that use only Apache Spark stages pass.** " << all.unsupported
    << " items with non-Spark stages stop at load with \"unsupported stage <class>\" (expected); "
    << all.fail << " fail.\n\n"
    << "This section is generated; do not edit it by hand. To regenerate it (and the list of\n"
    << "items that must keep passing):\n\n"
    << "```sh\n"
    << "cmake --build build/release --target spark_conformance\n"
    << "./build/release/bin/spark_conformance --write-doc docs/conformance.md --update-passing\n"
    << "```\n\n"
    << "`spark_conformance --filter Audit -v` runs the matching items and prints their first\n"
    << "mismatches; `--check` is what ctest `spark_conformance` runs (it fails when an item on\n"
    << "`tests/conformance/spark_passing.txt` fails); `--fixtures tests/fixtures/spark` runs the\n"
    << "project's own Spark 4 fixtures (ctest `spark_fixtures`; every row must pass, including\n"
    << "every column Spark's transform added, from `NAME.spark.csv`); ctest `spark_score_e2e` runs\n"
    << "`evserve score` on the first fixture (or, without fixtures, on a corpus pipeline) and\n"
    << "compares its CSV.\n\n"
    << "## How Spark items are compared\n\n"
    << "- Items: `tests/conformance/spark_items.tsv`, every pipeline zip with an expected CSV, with\n"
    << "  the tolerance and skipped columns the corpus MANIFEST gives (FPGrowth pipelines have no\n"
    << "  expected output and are not items).\n"
    << "- Each pipeline is loaded from its zip with the dataset's StructType (`schema/*.json`) and\n"
    << "  pruned to the columns the conventions need, so the training-time label indexer does not\n"
    << "  run. Every input row is one record (`N/A`, `NA` and empty cells are null); `*Vec` items\n"
    << "  read `libsvm/<Dataset>.libsvm` as Spark's libsvm source does (label + sparse features).\n"
    << "- Result columns (what `evserve score` writes by default): a classifier's label column is\n"
    << "  the predicted label string through the pipeline's label indexer, `probability(<label>)`\n"
    << "  the elements of the probability vector; a regressor's prediction is named after the label\n"
    << "  column; clustering writes `cluster`. Expected columns are matched by name, so Spark 2.4's\n"
    << "  frequency-ordered probability columns need nothing special.\n"
    << "- Numbers: JPMML's PMMLEquivalence at the item's tolerance (equal when both are within the\n"
    << "  zero threshold of zero, else |expected - actual| <= tolerance * |expected|), or float32\n"
    << "  within N ulps for XGBoost items; Spark 2.4's JVM number text (`1.7E-34`) parses as is.\n"
    << "  Labels must match exactly (numbers as text compare numerically: `1` equals `1.0`).\n"
    << "- Outcomes: PASS; FAIL (a load error, a row that cannot be evaluated, or a mismatch);\n"
    << "  UNSUPPORTED: an item the MANIFEST marks as using non-Spark stages that stops at load\n"
    << "  with \"unsupported stage <class>\" (the issue's acceptance counts it as expected).\n\n"
    << "## Spark summary\n\n"
    << "| Corpus folder | Items | Pass | Fail | Unsupported (non-Spark) | Spark-only items passing |\n"
    << "|---|---:|---:|---:|---:|---:|\n";
  for (const auto& g : order) {
    const Count& c = by_group[g];
    o << "| " << (g.empty() ? "-" : g) << " | " << c.total << " | " << c.pass << " | " << c.fail << " | "
      << c.unsupported << " | " << c.spark_only_pass << " of " << c.spark_only << " |\n";
  }
  o << "| **total** | **" << all.total << "** | **" << all.pass << "** | **" << all.fail << "** | **"
    << all.unsupported << "** | **" << all.spark_only_pass << " of " << all.spark_only << "** |\n\n";
  if (!unsupported.empty()) {
    o << "## Unsupported stages\n\n| Stage class | Items that stop at it |\n|---|---|\n";
    for (const auto& [cls, ids] : unsupported) {
      std::string list;
      for (const auto& id : ids) absl::StrAppend(&list, list.empty() ? "" : ", ", id);
      o << "| `" << cls << "` | " << conf::MarkdownCell(list) << " |\n";
    }
    o << "\n";
  }
  if (!unlisted.empty()) {
    o << "Corpus pipeline zips not in the item list (no expected output): ";
    for (size_t i = 0; i < unlisted.size(); ++i) o << (i ? ", " : "") << "`" << unlisted[i] << "`";
    o << ".\n\n";
  }
  o << "## Spark items\n\n| Item | Spark | Tolerance | Rows | Result | Reason (items that do not pass) |\n"
    << "|---|---|---|---:|---|---|\n";
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    const auto& r = results[i];
    std::string reason;
    if (r.outcome != conf::SparkOutcome::kPass) {
      auto rs = reasons.find(it.id);
      reason = rs != reasons.end() ? rs->second : r.summary;
    }
    std::string tol = it.tol.float_ulp > 0 ? absl::StrCat("float ", it.tol.float_ulp, " ulp")
                                           : absl::StrCat(it.tol.precision == 0 ? "exact" : absl::StrFormat("%g", it.tol.precision),
                                                          it.tol.zero_threshold != it.tol.precision
                                                              ? absl::StrFormat(" (zero %g)", it.tol.zero_threshold)
                                                              : std::string());
    if (!it.skip.empty()) {
      std::string skip;
      for (const auto& s : it.skip) absl::StrAppend(&skip, skip.empty() ? "" : ", ", s);
      absl::StrAppend(&tol, "; skip ", skip);
    }
    o << "| " << conf::MarkdownCell(it.id) << " | " << it.spark_version << " | " << conf::MarkdownCell(tol) << " | " << r.rows << " | "
      << conf::SparkOutcomeName(r.outcome) << " | " << conf::MarkdownCell(reason) << " |\n";
  }
  o << conf::kSparkDocEnd << "\n";
  return o.str();
}

int WriteDoc(const std::string& path, const std::string& section) {
  std::string doc;
  conf::ReadText(path, &doc);
  doc = conf::ReplaceSection(doc, conf::kSparkDocBegin, conf::kSparkDocEnd, section);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << doc;
  if (!out) {
    std::cerr << "spark_conformance: cannot write " << path << "\n";
    return kExitFail;
  }
  std::cerr << "spark_conformance: wrote the Spark section of " << path << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus, items_path = SourceDir() + "/tests/conformance/spark_items.tsv";
  std::string reasons_path = SourceDir() + "/tests/conformance/spark_reasons.tsv";
  std::string passing_path = SourceDir() + "/tests/conformance/spark_passing.txt";
  std::string doc_path, fixtures_dir;
  std::vector<std::string> filters;
  bool verbose = false, check = false, update_passing = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](std::string* out) {
      if (i + 1 >= argc) {
        std::cerr << "spark_conformance: " << a << " needs a value\n";
        std::exit(kExitUsage);
      }
      *out = argv[++i];
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return kExitOk;
    } else if (a == "--corpus") {
      next(&corpus);
    } else if (a == "--items") {
      next(&items_path);
    } else if (a == "--filter") {
      next(&v);
      filters.push_back(v);
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a == "--write-doc") {
      next(&doc_path);
    } else if (a == "--reasons") {
      next(&reasons_path);
    } else if (a == "--passing") {
      next(&passing_path);
    } else if (a == "--check") {
      check = true;
    } else if (a == "--update-passing") {
      update_passing = true;
    } else if (a == "--fixtures") {
      next(&fixtures_dir);
    } else {
      std::cerr << "spark_conformance: unknown argument '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
  }

  std::string root, tsv;
  const bool fixtures = !fixtures_dir.empty();
  std::string list_path;
  if (fixtures) {
    list_path = fixtures_dir;
    if (fs::is_directory(fixtures_dir)) list_path = (fs::path(fixtures_dir) / "fixtures.tsv").string();
    if (!conf::ReadText(list_path, &tsv)) {
      std::cout << "spark_conformance: no fixtures list at " << list_path << "; skipped\n";
      return kExitSkip;
    }
    root = fs::path(list_path).parent_path().string();
  } else {
    list_path = items_path;
    root = corpus.empty() ? conf::FindCorpus(SourceDir()) : corpus;
    if (root.empty() || !fs::is_directory(fs::path(root) / "sparkml")) {
      std::cout << "spark_conformance: Spark corpus not found (set EVS_CORPUS or put it at ../shared/corpus); "
                   "skipped\n";
      return kExitSkip;
    }
    if (!conf::ReadText(items_path, &tsv)) {
      std::cerr << "spark_conformance: cannot read " << items_path << "\n";
      return kExitUsage;
    }
  }
  auto parsed = conf::ParseSparkItems(tsv, fixtures ? 1e-9 : 0);
  if (!parsed.ok()) {
    std::cerr << "spark_conformance: " << list_path << ": " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  std::vector<conf::SparkItem> items;
  for (auto& it : *parsed) {
    if (!conf::Matches(it.id, filters)) continue;
    if (fixtures) {
      // Fixture paths are relative to the fixtures folder, else to the repository.
      for (std::string* p : {&it.model, &it.input, &it.expected, &it.schema, &it.spark_expected}) {
        if (p->empty() || (*p)[0] == '/') continue;
        if (!fs::exists(fs::path(root) / *p) && fs::exists(fs::path(SourceDir()) / *p))
          *p = (fs::path(SourceDir()) / *p).string();
      }
    }
    items.push_back(it);  // a copy: *parsed is read again for the unlisted-zip check
  }
  if (items.empty()) {
    std::cout << "spark_conformance: no item matches\n";
    return fixtures ? kExitSkip : kExitUsage;
  }

  std::vector<conf::SparkItemResult> results;
  int pass = 0, unsupported = 0;
  for (const auto& it : items) {
    results.push_back(conf::RunSparkItem(it, root, verbose ? 10 : 0));
    PrintResult(it, results.back(), verbose);
    if (results.back().outcome == conf::SparkOutcome::kPass) ++pass;
    if (results.back().outcome == conf::SparkOutcome::kUnsupported) ++unsupported;
  }
  std::cout << "spark_conformance: " << pass << " of " << items.size() << " item(s) pass, " << unsupported
            << " unsupported (non-Spark stages), " << items.size() - pass - unsupported << " fail\n";
  std::map<std::string, std::array<int, 3>> by_group;
  for (size_t i = 0; i < items.size(); ++i) {
    auto& c = by_group[items[i].Group()];
    c[static_cast<int>(results[i].outcome)]++;
  }
  if (by_group.size() > 1)
    for (const auto& [g, c] : by_group)
      std::cout << "  " << (g.empty() ? "-" : g) << ": " << c[0] << " pass, " << c[1] << " fail, " << c[2]
                << " unsupported\n";

  if (fixtures) return pass == static_cast<int>(items.size()) ? kExitOk : kExitFail;

  int rc = kExitOk;
  if (!doc_path.empty()) {
    if (!filters.empty()) std::cerr << "spark_conformance: note: --write-doc with --filter lists only the matching items\n";
    if (WriteDoc(doc_path, SparkSection(items, results, conf::ReadReasons(reasons_path), UnlistedZips(root, *parsed))) !=
        kExitOk)
      rc = kExitFail;
  }
  std::set<std::string> passing = conf::ReadList(passing_path);
  if (check) {
    std::vector<std::string> regressions, fixed;
    for (size_t i = 0; i < items.size(); ++i) {
      bool listed = passing.count(items[i].id) > 0;
      if (listed && !results[i].pass) regressions.push_back(items[i].id);
      if (!listed && results[i].pass) fixed.push_back(items[i].id);
    }
    if (!fixed.empty()) {
      std::cout << "spark_conformance: passing but not on " << passing_path << " (add them with --update-passing):";
      for (const auto& f : fixed) std::cout << " " << f;
      std::cout << "\n";
    }
    if (!regressions.empty()) {
      std::cout << "spark_conformance: REGRESSION: on the passing list but failing:";
      for (const auto& f : regressions) std::cout << " " << f;
      std::cout << "\n";
      rc = kExitFail;
    } else {
      std::cout << "spark_conformance: every listed item that ran passes\n";
    }
  }
  if (update_passing) {
    std::set<std::string> run_ids;
    for (const auto& it : items) run_ids.insert(it.id);
    std::set<std::string> next;
    for (const auto& p : passing)
      if (!run_ids.count(p)) next.insert(p);  // items not run keep their entry
    for (size_t i = 0; i < items.size(); ++i)
      if (results[i].pass) next.insert(items[i].id);
    std::ofstream out(passing_path, std::ios::binary | std::ios::trunc);
    out << "# Spark corpus items that must keep passing (ctest spark_conformance --check).\n"
        << "# Regenerate: spark_conformance --update-passing (see docs/conformance.md).\n";
    for (const auto& p : next) out << p << "\n";
    if (!out) {
      std::cerr << "spark_conformance: cannot write " << passing_path << "\n";
      rc = kExitFail;
    } else {
      std::cerr << "spark_conformance: wrote " << passing_path << " (" << next.size() << " items)\n";
    }
  }
  return rc;
}
