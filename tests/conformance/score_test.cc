// Unit tests of `evserve score` (src/cli/score.cc) and of the conformance
// runner's comparison rules, on small models written here.
#include <zip.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/score.h"
#include "conformance/conformance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace evs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::vector<std::string>> ReadAllCsv(const std::string& text, absl::Status* status = nullptr) {
  std::istringstream in(text);
  cli::CsvReader r(in);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> f;
  while (r.Next(&f)) rows.push_back(f);
  if (status) *status = r.status();
  return rows;
}

TEST(CsvReaderTest, QuotesCommasNewlinesAndCrLf) {
  auto rows = ReadAllCsv("\xEF\xBB\xBF" "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n,NA,\n3,4,5");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x,1", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"", "NA", ""}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"3", "4", "5"}));
}

TEST(CsvReaderTest, ReportsMalformedQuotes) {
  absl::Status s;
  auto rows = ReadAllCsv("a,b\n\"open,1\n", &s);
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 2"));
  rows = ReadAllCsv("a,b\n\"x\"y,1\n", &s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("after a closing quote"));
}

TEST(CsvTest, MissingCellsAndQuoting) {
  EXPECT_TRUE(cli::IsMissingCell(""));
  EXPECT_TRUE(cli::IsMissingCell("NA"));
  EXPECT_TRUE(cli::IsMissingCell("N/A"));
  EXPECT_FALSE(cli::IsMissingCell("na"));
  EXPECT_FALSE(cli::IsMissingCell("0"));
  std::string out;
  cli::AppendCsvField("plain", &out);
  out += '|';
  cli::AppendCsvField("a,b", &out);
  out += '|';
  cli::AppendCsvField("q\"q", &out);
  EXPECT_EQ(out, "plain|\"a,b\"|\"q\"\"q\"");
}

TEST(CompareTest, PmmlEquivalence) {
  conformance::Tolerance t{1e-13, 1e-13, 0};
  EXPECT_TRUE(conformance::NumbersEquivalent(1.0, 1.0 + 1e-14, t));
  EXPECT_FALSE(conformance::NumbersEquivalent(1.0, 1.0 + 1e-12, t));
  EXPECT_TRUE(conformance::NumbersEquivalent(1e-14, -1e-14, t));   // both within the zero threshold
  EXPECT_FALSE(conformance::NumbersEquivalent(0.0, 1e-12, t));
  conformance::Tolerance exact{0, 0, 0};
  EXPECT_TRUE(conformance::NumbersEquivalent(0.5, 0.5, exact));
  EXPECT_FALSE(conformance::NumbersEquivalent(0.5, std::nextafter(0.5, 1.0), exact));
}

TEST(CompareTest, FloatUlps) {
  conformance::Tolerance t{0, 0, 2};
  const float f = 0.1f;
  const double two_up = std::nextafter(std::nextafter(f, 1.0f), 1.0f);
  const double three_up = std::nextafter(static_cast<float>(two_up), 1.0f);
  EXPECT_TRUE(conformance::NumbersEquivalent(f, 0.1, t));  // same float32
  EXPECT_TRUE(conformance::NumbersEquivalent(f, two_up, t));
  EXPECT_FALSE(conformance::NumbersEquivalent(f, three_up, t));
}

TEST(CompareTest, Cells) {
  conformance::Tolerance t{1e-9, 1e-9, 0};
  EXPECT_TRUE(conformance::CellMatches("N/A", pmml::Value(), t));
  EXPECT_TRUE(conformance::CellMatches("", pmml::Value(), t));
  EXPECT_FALSE(conformance::CellMatches("NA", pmml::Value::Number(0), t));
  EXPECT_FALSE(conformance::CellMatches("1", pmml::Value(), t));
  EXPECT_TRUE(conformance::CellMatches("0.0", pmml::Value::String("0"), t));  // categorical numbers
  EXPECT_TRUE(conformance::CellMatches("setosa", pmml::Value::String("setosa"), t));
  EXPECT_FALSE(conformance::CellMatches("Setosa", pmml::Value::String("setosa"), t));
  EXPECT_TRUE(conformance::CellMatches("2.5", pmml::Value::Number(2.5000000001), t));
  EXPECT_TRUE(conformance::CellMatches("TRUE", pmml::Value::Bool(true), t));
  EXPECT_TRUE(conformance::CellMatches("0", pmml::Value::Bool(false), t));
}

TEST(ItemsTest, ParsesItemsAndFixtures) {
  auto items = conformance::ParseItems(
      "# comment\n"
      "id\tmodel\tinput\texpected\n"
      "sas/X\tm.pmml\ti.csv\te.csv\tjpmml\t1e-5\t-\t-\ta,b\tE->Adjusted\tE,F\trewrite=fmtwidth;k\tdesc\n",
      false);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 1u);
  const auto& it = (*items)[0];
  EXPECT_EQ(it.id, "sas/X");
  EXPECT_DOUBLE_EQ(it.tol.precision, 1e-5);
  EXPECT_DOUBLE_EQ(it.tol.zero_threshold, 1e-5);
  EXPECT_EQ(it.skip, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(it.renames.size(), 1u);
  EXPECT_EQ(it.renames[0].second, "Adjusted");
  EXPECT_EQ(it.options.at("rewrite"), "fmtwidth");
  EXPECT_EQ(it.options.at("k"), "1");
  auto fx = conformance::ParseItems("name\tpmml\tinput\texpected\ttolerance\tzero_threshold\tskip_columns\tdescription\n"
                                    "lr\tlr.pmml\tin.csv\tout.csv\t1e-12\t\t\tlogistic\n",
                                    true);
  ASSERT_TRUE(fx.ok()) << fx.status();
  ASSERT_EQ(fx->size(), 1u);
  EXPECT_DOUBLE_EQ((*fx)[0].tol.zero_threshold, 1e-12);
}

// ---------------------------------------------------------------------------
// Models

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/score_test_" + name; }

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Zips `entries` (name, content) into `path`.
void WriteZip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::remove(path.c_str());
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, text] : entries) {
    zip_source_t* src = zip_source_buffer(z, text.data(), text.size(), 0);
    ASSERT_NE(src, nullptr);
    ASSERT_GE(zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE), 0);
  }
  ASSERT_EQ(zip_close(z), 0);  // copies the buffers, which are still alive here
}

TEST(ModelFileTest, ReadsOneXmlFromAZip) {
  const std::string zip = TempPath("one.zip");
  WriteZip(zip, {{"dir/", ""}, {"dir/Model.xml", "<PMML/>"}});
  std::string entry;
  auto text = cli::ReadModelText(zip, &entry);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "<PMML/>");
  EXPECT_EQ(entry, "dir/Model.xml");
}

TEST(ModelFileTest, RefusesAZipWithTwoModels) {
  const std::string zip = TempPath("two.zip");
  WriteZip(zip, {{"a.xml", "<PMML/>"}, {"b.pmml", "<PMML/>"}});
  auto text = cli::ReadModelText(zip);
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr(zip));
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("exactly one"));
}

TEST(ModelFileTest, MissingFileIsNamed) {
  auto text = cli::ReadModelText(TempPath("nosuch.pmml"));
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("nosuch.pmml"));
}

// y = 0.5 + 2*x1 + 3*x2; outputs: y, then the final OutputField "pred" (the
// isFinalResult="false" one is not written).
const char kRegression[] = R"(<?xml version="1.0"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x1" optype="continuous" dataType="double"/>
    <DataField name="x2" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="x1"/>
      <MiningField name="x2"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="hidden" feature="predictedValue" isFinalResult="false"/>
      <OutputField name="pred" feature="predictedValue"/>
    </Output>
    <RegressionTable intercept="0.5">
      <NumericPredictor name="x1" coefficient="2"/>
      <NumericPredictor name="x2" coefficient="3"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
)";

const char kInput[] =
    "x2,x1,extra\n"
    "1,2,foo\n"          // 7.5
    "\"3\",0.5,\"b,c\"\n"  // 10.5
    "NA,1,\n"            // a missing input: missing result
    "abc,1,x\n"          // invalid value (returnInvalid): cannot be evaluated
    "1,2\n"              // wrong number of fields
    "\n"                 // a blank line: skipped
    "0,0.25,z\n";        // 1

TEST(ScoreTest, WritesOneRowPerInputRow) {
  auto model = pmml::CompiledModel::Load(kRegression);
  ASSERT_TRUE(model.ok()) << model.status();
  std::istringstream in(kInput);
  std::ostringstream out, err;
  cli::ScoreOptions opts;
  opts.input = "in.csv";
  cli::ScoreSummary sum;
  EXPECT_EQ(cli::ScoreStream(**model, in, out, err, opts, &sum), cli::kExitOk);
  EXPECT_EQ(out.str(),
            "y,pred\n"
            "7.5,7.5\n"
            "10.5,10.5\n"
            "N/A,N/A\n"
            "N/A,N/A\n"
            "N/A,N/A\n"
            "1,1\n");
  EXPECT_EQ(sum.rows, 6);
  EXPECT_EQ(sum.failed_rows, 2);
  EXPECT_THAT(err.str(), HasSubstr("row 4: "));
  EXPECT_THAT(err.str(), HasSubstr("row 5: has 2 field(s) but the header has 3"));
  EXPECT_THAT(err.str(), Not(HasSubstr("row 3:")));
}

TEST(ScoreTest, StrictStopsAtTheFirstBadRow) {
  auto model = pmml::CompiledModel::Load(kRegression);
  ASSERT_TRUE(model.ok()) << model.status();
  std::istringstream in(kInput);
  std::ostringstream out, err;
  cli::ScoreOptions opts;
  opts.strict = true;
  EXPECT_EQ(cli::ScoreStream(**model, in, out, err, opts), cli::kExitFailure);
  EXPECT_EQ(out.str(), "y,pred\n7.5,7.5\n10.5,10.5\nN/A,N/A\n");
  EXPECT_THAT(err.str(), HasSubstr("row 4: "));
  EXPECT_THAT(err.str(), HasSubstr("--strict"));
}

TEST(ScoreTest, ReportsProgress) {
  auto model = pmml::CompiledModel::Load(kRegression);
  ASSERT_TRUE(model.ok()) << model.status();
  std::string text = "x1,x2\n";
  for (int i = 0; i < 10; ++i) text += "1,1\n";
  std::istringstream in(text);
  std::ostringstream out, err;
  cli::ScoreOptions opts;
  opts.progress_rows = 4;
  EXPECT_EQ(cli::ScoreStream(**model, in, out, err, opts), cli::kExitOk);
  EXPECT_THAT(err.str(), HasSubstr("scored 8 rows"));
}

TEST(ScoreTest, ScoresAZippedModelFromFiles) {
  const std::string zip = TempPath("reg.zip"), in = TempPath("in.csv"), out = TempPath("out.csv");
  WriteZip(zip, {{"Reg.xml", kRegression}});
  WriteFile(in, "x1,x2\n1,1\n");
  cli::ScoreOptions opts;
  opts.model = zip;
  opts.input = in;
  opts.output = out;
  std::ostringstream err;
  ASSERT_EQ(cli::Score(opts, err), cli::kExitOk) << err.str();
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "y,pred\n5.5,5.5\n");
}

TEST(ScoreTest, BadModelNamesTheFileAndTheElement) {
  std::string bad = kRegression;
  bad.replace(bad.find("name=\"x2\" coefficient"), 9, "name=\"nosuch\"");
  const std::string path = TempPath("bad.pmml");
  WriteFile(path, bad);
  cli::ScoreOptions opts;
  opts.model = path;
  opts.input = "-";
  opts.output = "-";
  std::ostringstream err;
  EXPECT_EQ(cli::Score(opts, err), cli::kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr(path));
  EXPECT_THAT(err.str(), HasSubstr("/PMML/RegressionModel"));
}

TEST(ScoreTest, UnreadableInputIsAUsageError) {
  const std::string model = TempPath("ok.pmml");
  WriteFile(model, kRegression);
  cli::ScoreOptions opts;
  opts.model = model;
  opts.input = TempPath("no-such-input.csv");
  opts.output = "-";
  std::ostringstream err;
  EXPECT_EQ(cli::Score(opts, err), cli::kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("no-such-input.csv"));
}


// The runner on a small item of its own: columns matched by name, skips,
// renames, the cPMML layout, and the first mismatch in the summary.
TEST(RunItemTest, ComparesByNameAndReportsTheFirstMismatch) {
  const std::string root = ::testing::TempDir();
  WriteFile(root + "/runitem_reg.pmml", kRegression);
  WriteFile(root + "/runitem_in.csv", "x1,x2\n1,1\n2,0\n");
  WriteFile(root + "/runitem_bad.csv", "pred,y,ignored\n5.5,5.5,zz\n4.6,4.5,zz\n");
  WriteFile(root + "/runitem_na.csv", "pred,y,ignored\n5.5,5.5,zz\nN/A,4.5,zz\n");
  conformance::Item item;
  item.id = "t/reg";
  item.model = "runitem_reg.pmml";
  item.input = "runitem_in.csv";
  item.expected = "runitem_bad.csv";
  item.tol = {1e-9, 1e-9, 0};
  item.skip = {"ignored"};
  conformance::ItemResult r = conformance::RunItem(item, root, 5);
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.rows, 2);
  EXPECT_EQ(r.cells, 4);
  EXPECT_EQ(r.bad_rows, 1);
  EXPECT_THAT(r.summary, HasSubstr("row 2, pred: expected 4.6, got 4.5"));

  item.expected = "runitem_na.csv";  // N/A expected where the model gives 4.5
  r = conformance::RunItem(item, root, 5);
  EXPECT_FALSE(r.pass);
  EXPECT_THAT(r.summary, HasSubstr("row 2, pred: expected N/A, got 4.5"));

  // cPMML layout: the expected column sits in the input file under another name.
  WriteFile(root + "/runitem_cpmml.csv", "x1,x2,prediction,truth\n1,1,5.5005,9\n2,0,4.5,9\n");
  conformance::Item cp;
  cp.id = "t/cpmml";
  cp.model = "runitem_reg.pmml";
  cp.input = "runitem_cpmml.csv";
  cp.expected = "-";
  cp.layout = "cpmml";
  cp.tol = {1e-3, 1e-13, 0};
  cp.columns = {"prediction"};
  cp.renames = {{"prediction", "y"}};
  r = conformance::RunItem(cp, root, 5);
  EXPECT_TRUE(r.pass) << r.summary;
  EXPECT_EQ(r.cells, 2);
}

}  // namespace
}  // namespace evs
