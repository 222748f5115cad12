#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "pmml/value.h"

// The PMML conformance runner's logic: which items to score (pmml_items.tsv
// for the third-party corpus, tests/fixtures/pmml/fixtures.tsv for the
// project's own fixtures), how to feed their input rows to the engine, and
// how to compare the results with the expected values the way upstream did.

namespace evs::conformance {

// How results are compared. PMMLEquivalence (JPMML): equal when both
// |expected| and |actual| are <= zero_threshold, else when
// |expected - actual| <= precision * |expected|. With float_ulp > 0 the
// values are compared as float32 within that many ulps instead.
struct Tolerance {
  double precision = 0;
  double zero_threshold = 0;
  int float_ulp = 0;
};

bool NumbersEquivalent(double expected, double actual, const Tolerance& tol);

// Compares one expected cell with an actual value. Expected "N/A", "NA" or
// empty means missing. Numbers compare numerically with `tol`; other values
// compare as text, except that two texts that both parse as numbers compare
// as numbers ("0" equals "0.0"); booleans match "true"/"false" in any case
// and 1/0.
bool CellMatches(std::string_view expected, const pmml::Value& actual, const Tolerance& tol);

// A cell of a CSV written by `evserve score` as a value: "N/A" (and the other
// missing spellings) -> missing, numbers -> kNumber, anything else -> kString.
pmml::Value ValueFromCell(std::string_view cell);

// One item to score.
struct Item {
  std::string id;
  std::string model;     // path (relative to the corpus or fixtures root)
  std::string input;     // input CSV
  std::string expected;  // expected CSV ("-": the input holds the expected columns)
  // jpmml: input row i <-> expected row i; cpmml: one CSV with inputs and
  // expected columns; transcribed: <Name>.input.csv / <Name>.expected.csv;
  // derived: one row per (derived field, inputs, expected value);
  // basket: long (group, item) rows grouped into one collection per group.
  std::string layout = "jpmml";
  Tolerance tol;
  std::vector<std::string> skip;     // expected columns not compared
  std::vector<std::string> columns;  // when set: only these expected columns
  // expected column -> our output name. Either side may end in "#k" for the
  // k-th column/output of that name (duplicate names).
  std::vector<std::pair<std::string, std::string>> renames;
  std::map<std::string, std::string> options;  // see pmml_items.tsv's header
  std::string description;
};

// Parses pmml_items.tsv (or a fixtures.tsv when `fixtures` is true: columns
// name, pmml, input, expected, tolerance, zero_threshold, skip_columns,
// description). Lines starting with '#' and blank lines are ignored.
absl::StatusOr<std::vector<Item>> ParseItems(std::string_view tsv, bool fixtures);

struct ItemResult {
  bool pass = false;
  std::string summary;               // one line: why it failed ("" when it passed)
  std::vector<std::string> details;  // further mismatches (up to a limit)
  int64_t rows = 0;                  // records evaluated
  int64_t cells = 0;                 // cells compared
  int64_t bad_rows = 0;              // rows with a mismatch or an evaluation error
  double seconds = 0;
};

// Scores one item: paths are relative to `root`. `max_details` bounds
// ItemResult::details.
ItemResult RunItem(const Item& item, const std::string& root, int max_details);

// Compares a CSV written by `evserve score` with an expected CSV (columns
// matched by name, rows by position). Used by the end-to-end ctest.
ItemResult CompareCsvFiles(const std::string& expected_path, const std::string& actual_path,
                           const Item& how);

// Splits `s` at `sep`; "" and "-" give an empty list.
std::vector<std::string> SplitList(std::string_view s, char sep);

// A CSV file with a header (cli::CsvReader; blank lines skipped, short rows
// padded to the header's width).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
absl::StatusOr<CsvTable> ReadCsvFile(const std::string& path);

// ---- shared by the runners' command lines

// The corpus root: $EVS_CORPUS, else shared/corpus beside `source_dir` or the
// working directory or one of their parents; "" when there is none.
std::string FindCorpus(const std::string& source_dir);
bool ReadText(const std::string& path, std::string* out);
// Text for a markdown table cell: '|' escaped, newlines folded, at most 300 characters.
std::string MarkdownCell(std::string s);
// Non-empty lines that do not start with '#' (passing lists).
std::set<std::string> ReadList(const std::string& path);
// "<id>\t<reason>" lines.
std::map<std::string, std::string> ReadReasons(const std::string& path);
// True when `filters` is empty or one of them is a substring of `id`.
bool Matches(const std::string& id, const std::vector<std::string>& filters);

}  // namespace evs::conformance
