// pmml_conformance: scores the third-party PMML corpus (or the project's own
// fixtures) with the native engine and compares with the expected results.
// See docs/conformance.md.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
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
#include "conformance/conformance.h"
#include "conformance/spark_conformance.h"

namespace fs = std::filesystem;
namespace conf = evs::conformance;

namespace {

constexpr int kExitOk = 0, kExitFail = 1, kExitUsage = 2, kExitSkip = 77;

const char kUsage[] = R"(Usage: pmml_conformance [options]

Scores every item of the PMML corpus with the native engine and compares the
results with the expected values, the way upstream did (tolerances and column
mappings from tests/conformance/pmml_items.tsv).

  --corpus DIR          corpus root (default: $EVS_CORPUS, else shared/corpus beside
                        the repository or one of its parent folders); exit 77 if absent
  --items FILE          item list (default: tests/conformance/pmml_items.tsv)
  --filter SUBSTR       only items whose id contains SUBSTR (repeatable: any matches)
  -v, --verbose         print every failing item's first mismatches
  --write-doc FILE      write the per-item table (docs/conformance.md)
  --reasons FILE        one-line reasons for failing items (default:
                        tests/conformance/pmml_reasons.tsv)
  --passing FILE        the list of items that must pass (default:
                        tests/conformance/pmml_passing.txt)
  --check               exit 1 if an item on the passing list fails
  --update-passing      rewrite the passing list with the items that pass
  --fixtures FILE       run the project's fixtures (tests/fixtures/pmml/fixtures.tsv);
                        every row must pass; exit 77 if the file is absent
  --compare-csv EXPECTED ACTUAL
                        compare an `evserve score` output with an expected CSV
  --tolerance X, --zero-threshold Y, --skip a,b
                        comparison settings for --compare-csv
Exit codes: 0 done (in the plain and --write-doc modes also when items fail),
1 a check failed, 2 bad arguments, 77 nothing to run (corpus or fixtures absent).
)";

std::string SourceDir() { return EVS_SOURCE_DIR; }

std::string Source(const std::string& id) {
  size_t slash = id.find('/');
  return slash == std::string::npos ? id : id.substr(0, slash);
}

void PrintResult(const conf::Item& item, const conf::ItemResult& r, bool verbose) {
  std::cout << absl::StrFormat("%-4s  %-40s %6d rows %7d cells %6.2fs", r.pass ? "PASS" : "FAIL", item.id, r.rows,
                               r.cells, r.seconds);
  if (!r.pass) std::cout << "  " << r.summary;
  std::cout << "\n";
  if (verbose && !r.pass)
    for (const auto& d : r.details) std::cout << "        " << d << "\n";
  std::cout << std::flush;
}

int WriteDoc(const std::string& path, const std::vector<conf::Item>& items,
             const std::vector<conf::ItemResult>& results, const std::map<std::string, std::string>& reasons) {
  std::map<std::string, std::pair<int, int>> by_source;  // source -> (pass, total)
  std::vector<std::string> order;
  int pass = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string s = Source(items[i].id);
    if (!by_source.count(s)) order.push_back(s);
    auto& p = by_source[s];
    p.second++;
    if (results[i].pass) {
      p.first++;
      pass++;
    }
  }
  std::ostringstream o;
  o << "# PMML conformance\n\n"
    << "The native PMML engine (`src/pmml`) scored on a third-party corpus of real models with\n"
    << "expected results made by the tools that produced them (R, KNIME, RapidMiner, SAS,\n"
    << "scikit-learn, Spark) or by JPMML-Evaluator. The corpus is not part of this repository\n"
    << "(most of it is AGPL-3.0 data): it is read from `$EVS_CORPUS` or `shared/corpus` beside\n"
    << "the repository; without it the conformance tests are skipped.\n\n"
    << "**" << pass << " of " << items.size() << " items pass.**\n\n"
    << "This file is generated; do not edit it by hand. To regenerate it (and the list of items\n"
    << "that must keep passing):\n\n"
    << "```sh\n"
    << "cmake --build build/release --target pmml_conformance\n"
    << "./build/release/bin/pmml_conformance --write-doc docs/conformance.md --update-passing\n"
    << "```\n\n"
    << "Other uses: `pmml_conformance --filter Tree -v` runs the matching items and prints their\n"
    << "first mismatches; `--check` is what ctest runs; `--fixtures tests/fixtures/pmml/fixtures.tsv`\n"
    << "runs the project's own fixtures; `scripts/test.sh -L conformance` runs the three ctests.\n\n"
    << "## How items are compared\n\n"
    << "- The item list is `tests/conformance/pmml_items.tsv`: model, input CSV, expected CSV,\n"
    << "  layout, tolerance, column mappings and in-memory model fixes, transcribed from the\n"
    << "  corpus's MANIFEST.\n"
    << "- Every input row is one record (cells `N/A`, `NA` and empty are missing). Each expected\n"
    << "  column is compared with the engine's output of the same name (target fields, then\n"
    << "  OutputFields whose isFinalResult is not false); an expected `N/A` means missing.\n"
    << "- Numbers: JPMML's PMMLEquivalence (equal when both are within the zero threshold of\n"
    << "  zero, else |expected - actual| <= tolerance * |expected|), or float32 within N ulps\n"
    << "  where upstream used FloatEquivalence. Categorical values must match exactly (after\n"
    << "  normalising numbers: `0` equals `0.0`).\n"
    << "- Layouts: `jpmml` (input row i gives expected row i), `cpmml` (one CSV holds the inputs\n"
    << "  and the expected columns; relative tolerance 1e-3 as cPMML's own tests), `transcribed`\n"
    << "  (JPMML unit-test values; empty = missing), `derived` (one derived field per row,\n"
    << "  read through an OutputField added in memory), `basket` (long transaction/item rows\n"
    << "  grouped into one collection per transaction).\n"
    << "- Adaptations upstream made too, applied in memory: SAS models get\n"
    << "  `<Constant>FMTWIDTH</Constant>` replaced by `<FieldRef field=\"FMTWIDTH\"/>` and their\n"
    << "  `EM_CLASSIFICATION`/`EM_EVENTPROBABILITY` columns are compared with the target and\n"
    << "  `P_Adjusted1`; RuleSet unit tests are also loaded with each RuleSelectionMethod moved\n"
    << "  first and an `entityId` OutputField added (`selected_rule_id(<criterion>)`). Expected\n"
    << "  columns of OutputFields with isFinalResult=\"false\" are skipped (they are not outputs\n"
    << "  of the API). cPMML's duplicate `class` column is the second `class`.\n"
    << "- The MANIFEST counts 104 scored PMML items; its tables list 103 (plus the model-only\n"
    << "  cPMML `AuditBinaryReg`), and those 103 are the items here.\n"
    << "- ctest: `pmml_conformance` runs `--check`: it fails when an item listed in\n"
    << "  `tests/conformance/pmml_passing.txt` fails (a regression). `pmml_fixtures` runs the\n"
    << "  project's own fixtures (`tests/fixtures/pmml/fixtures.tsv`), which must all pass, and\n"
    << "  `pmml_score_e2e` runs `evserve score` on a fixture and compares its CSV output.\n"
    << "- One-line reasons below come from `tests/conformance/pmml_reasons.tsv` where a person\n"
    << "  wrote one, else from the first mismatch or error.\n\n"
    << "## Summary\n\n| Source | Items | Pass |\n|---|---:|---:|\n";
  for (const auto& s : order)
    o << "| " << s << " | " << by_source[s].second << " | " << by_source[s].first << " |\n";
  o << "| **total** | **" << items.size() << "** | **" << pass << "** |\n\n";
  o << "## Items\n\n| Item | Layout | Rows | Result | Reason (failing items) |\n|---|---|---:|---|---|\n";
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    const auto& r = results[i];
    std::string reason;
    if (!r.pass) {
      auto rs = reasons.find(it.id);
      reason = rs != reasons.end() ? rs->second : r.summary;
    }
    o << "| " << conf::MarkdownCell(it.id) << " | " << it.layout << " | " << r.rows << " | " << (r.pass ? "PASS" : "FAIL")
      << " | " << conf::MarkdownCell(reason) << " |\n";
  }
  // The Spark section (spark_conformance --write-doc) is kept after the PMML part.
  std::string old_doc, text = o.str();
  if (conf::ReadText(path, &old_doc)) {
    size_t b = old_doc.find(conf::kSparkDocBegin);
    if (b != std::string::npos) text += "\n" + old_doc.substr(b);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    std::cerr << "pmml_conformance: cannot write " << path << "\n";
    return kExitFail;
  }
  std::cerr << "pmml_conformance: wrote " << path << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus, items_path = SourceDir() + "/tests/conformance/pmml_items.tsv";
  std::string reasons_path = SourceDir() + "/tests/conformance/pmml_reasons.tsv";
  std::string passing_path = SourceDir() + "/tests/conformance/pmml_passing.txt";
  std::string doc_path, fixtures_path, cmp_expected, cmp_actual;
  std::vector<std::string> filters;
  bool verbose = false, check = false, update_passing = false;
  conf::Item cmp;
  cmp.tol.precision = 1e-9;
  cmp.tol.zero_threshold = 1e-9;
  bool zero_set = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](std::string* out) {
      if (i + 1 >= argc) {
        std::cerr << "pmml_conformance: " << a << " needs a value\n";
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
      next(&fixtures_path);
    } else if (a == "--compare-csv") {
      next(&cmp_expected);
      next(&cmp_actual);
    } else if (a == "--tolerance") {
      next(&v);
      cmp.tol.precision = std::atof(v.c_str());
      if (!zero_set) cmp.tol.zero_threshold = cmp.tol.precision;
    } else if (a == "--zero-threshold") {
      next(&v);
      cmp.tol.zero_threshold = std::atof(v.c_str());
      zero_set = true;
    } else if (a == "--skip") {
      next(&v);
      cmp.skip = conf::SplitList(v, ',');
    } else {
      std::cerr << "pmml_conformance: unknown argument '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
  }

  if (!cmp_expected.empty()) {
    conf::ItemResult r = conf::CompareCsvFiles(cmp_expected, cmp_actual, cmp);
    std::cout << (r.pass ? "PASS" : "FAIL") << "  " << cmp_actual << " vs " << cmp_expected << ": " << r.rows
              << " rows, " << r.cells << " cells" << (r.pass ? "" : "; " + r.summary) << "\n";
    for (const auto& d : r.details) std::cout << "        " << d << "\n";
    return r.pass ? kExitOk : kExitFail;
  }

  std::string root, tsv;
  bool fixtures = !fixtures_path.empty();
  if (fixtures) {
    if (!conf::ReadText(fixtures_path, &tsv)) {
      std::cout << "pmml_conformance: no fixtures file at " << fixtures_path << "; skipped\n";
      return kExitSkip;
    }
    root = fs::path(fixtures_path).parent_path().string();
  } else {
    root = corpus.empty() ? conf::FindCorpus(SourceDir()) : corpus;
    if (root.empty() || !fs::is_directory(root)) {
      std::cout << "pmml_conformance: corpus not found (set EVS_CORPUS or put it at ../shared/corpus); skipped\n";
      return kExitSkip;
    }
    if (!conf::ReadText(items_path, &tsv)) {
      std::cerr << "pmml_conformance: cannot read " << items_path << "\n";
      return kExitUsage;
    }
  }
  auto parsed = conf::ParseItems(tsv, fixtures);
  if (!parsed.ok()) {
    std::cerr << "pmml_conformance: " << (fixtures ? fixtures_path : items_path) << ": "
              << parsed.status().message() << "\n";
    return kExitUsage;
  }
  std::vector<conf::Item> items;
  for (auto& it : *parsed) {
    if (!conf::Matches(it.id, filters)) continue;
    if (fixtures) {
      // Fixture paths are relative to the fixtures file, else to the repository.
      for (std::string* p : {&it.model, &it.input, &it.expected}) {
        if (p->empty() || (*p)[0] == '/' || *p == "-") continue;
        if (!fs::exists(fs::path(root) / *p) && fs::exists(fs::path(SourceDir()) / *p))
          *p = (fs::path(SourceDir()) / *p).string();
      }
    }
    items.push_back(std::move(it));
  }
  if (items.empty()) {
    std::cout << "pmml_conformance: no item matches\n";
    return fixtures ? kExitSkip : kExitUsage;
  }

  std::vector<conf::ItemResult> results;
  int pass = 0;
  for (const auto& it : items) {
    results.push_back(conf::RunItem(it, root, verbose ? 10 : 0));
    PrintResult(it, results.back(), verbose);
    if (results.back().pass) ++pass;
  }
  std::cout << "pmml_conformance: " << pass << " of " << items.size() << " item(s) pass ("
            << items.size() - pass << " fail)\n";

  int rc = kExitOk;
  if (fixtures) return pass == static_cast<int>(items.size()) ? kExitOk : kExitFail;

  if (!doc_path.empty()) {
    if (!filters.empty()) std::cerr << "pmml_conformance: note: --write-doc with --filter lists only the matching items\n";
    if (WriteDoc(doc_path, items, results, conf::ReadReasons(reasons_path)) != kExitOk) rc = kExitFail;
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
      std::cout << "pmml_conformance: passing but not on " << passing_path
                << " (add them with --update-passing):";
      for (const auto& f : fixed) std::cout << " " << f;
      std::cout << "\n";
    }
    if (!regressions.empty()) {
      std::cout << "pmml_conformance: REGRESSION: on the passing list but failing:";
      for (const auto& f : regressions) std::cout << " " << f;
      std::cout << "\n";
      rc = kExitFail;
    } else {
      std::cout << "pmml_conformance: every listed item that ran passes\n";
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
    out << "# PMML corpus items that must keep passing (ctest pmml_conformance --check).\n"
        << "# Regenerate: pmml_conformance --update-passing (see docs/conformance.md).\n";
    for (const auto& p : next) out << p << "\n";
    if (!out) {
      std::cerr << "pmml_conformance: cannot write " << passing_path << "\n";
      rc = kExitFail;
    } else {
      std::cerr << "pmml_conformance: wrote " << passing_path << " (" << next.size() << " items)\n";
    }
  }
  return rc;
}
