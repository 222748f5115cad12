// Text stages against Spark's documented/observed transform semantics.
// Expected hash indices were computed independently (a one-off Python
// murmur3_x86_32 implementation, seed 42, over the UTF-8 bytes).

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "spark/pipeline.h"
#include "spark/stage.h"
#include "spark/test_util.h"

namespace evs::spark {
namespace {

using testing::Meta;
using Strings = std::vector<std::string>;

// One compiled stage over an undeclared schema.
struct Harness {
  Schema schema;
  std::unique_ptr<Stage> stage;
  Row row;

  static absl::StatusOr<std::unique_ptr<Harness>> Make(const StageMeta& meta) {
    auto h = std::make_unique<Harness>();
    const StageFactory* f = StageRegistry::Default().Find(meta.class_name);
    if (f == nullptr) return absl::NotFoundError("no factory for " + meta.class_name);
    auto s = (*f)(meta, h->schema);
    if (!s.ok()) return s.status();
    h->stage = std::move(*s);
    h->row.cells.resize(h->schema.num_slots());
    return h;
  }
  Cell& In(const std::string& name) { return row.cells[schema.Find(name)]; }
  const Cell& Out(const std::string& name) { return row.cells[schema.Find(name)]; }
};

std::unique_ptr<Harness> MustMake(const StageMeta& meta) {
  auto h = Harness::Make(meta);
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? std::move(*h) : nullptr;
}

Strings Tokenize(Harness& h, const std::string& text) {
  h.In("text").SetString(text);
  auto st = h.stage->Apply(h.row);
  EXPECT_TRUE(st.ok()) << st;
  const Cell& c = h.Out("tokens");
  EXPECT_EQ(c.kind, Cell::Kind::kStrings);
  return c.strs;
}

// ---- Tokenizer ------------------------------------------------------------

TEST(TokenizerTest, LowercasesAndSplitsOnSingleWhitespaceLikeJava) {
  auto h = MustMake(Meta("org.apache.spark.ml.feature.Tokenizer", {{"inputCol", "text"}, {"outputCol", "tokens"}}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.column(h->schema.Find("text")).type, DataType::kString);
  EXPECT_EQ(h->schema.column(h->schema.Find("tokens")).type, DataType::kStringArray);
  EXPECT_EQ(Tokenize(*h, "Hello World"), (Strings{"hello", "world"}));
  // Each whitespace char separates; leading empties stay, trailing go.
  EXPECT_EQ(Tokenize(*h, "  a  b "), (Strings{"", "", "a", "", "b"}));
  EXPECT_EQ(Tokenize(*h, "A\tB\nC\rD\fE\vF"), (Strings{"a", "b", "c", "d", "e", "f"}));
  EXPECT_EQ(Tokenize(*h, ""), (Strings{""}));  // no separator: the input itself
  EXPECT_EQ(Tokenize(*h, " \t "), (Strings{}));
  // A non-breaking space is not \s in Java.
  EXPECT_EQ(Tokenize(*h, "a\u00a0b"), (Strings{"a\u00a0b"}));
}

TEST(TokenizerTest, JavaUnicodeLowercasing) {
  auto h = MustMake(Meta("org.apache.spark.ml.feature.Tokenizer", {{"inputCol", "text"}, {"outputCol", "tokens"}}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(Tokenize(*h, "ÉCOLE STRASSE ÀÖØÞ"), (Strings{"école", "strasse", "àöøþ"}));
  // U+0130 lowercases to i + combining dot above outside Turkic locales.
  EXPECT_EQ(Tokenize(*h, "İ"), (Strings{"i\u0307"}));
  // Greek capital sigma: final form at the end of a word only.
  EXPECT_EQ(Tokenize(*h, "ΟΔΟΣ ΣΑ"), (Strings{"οδος", "σα"}));
  EXPECT_EQ(Tokenize(*h, "ΟΔΟΣ"), (Strings{"\u03bf\u03b4\u03bf\u03c2"}));
  EXPECT_EQ(Tokenize(*h, "ПРИВЕТ Ǆ"), (Strings{"привет", "ǆ"}));
  // Supplementary plane (Deseret) and untouched CJK.
  EXPECT_EQ(Tokenize(*h, "\U00010400 日本"), (Strings{"\U00010428", "日本"}));
}

TEST(TokenizerTest, NullInputIsAnErrorNamingStageAndColumn) {
  auto h = MustMake(Meta("org.apache.spark.ml.feature.Tokenizer", {{"inputCol", "text"}, {"outputCol", "tokens"}}));
  ASSERT_NE(h, nullptr);
  h->In("text").SetNull();
  auto st = h->stage->Apply(h->row);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "Tokenizer test_uid")) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "'text'")) << st;
}

TEST(TokenizerTest, RejectsANonStringInputColumn) {
  Schema schema;
  ColumnInfo c;
  c.name = "text";
  c.type = DataType::kDouble;
  schema.AddOutput(c);
  const StageFactory* f = StageRegistry::Default().Find("org.apache.spark.ml.feature.Tokenizer");
  ASSERT_NE(f, nullptr);
  auto s = (*f)(Meta("org.apache.spark.ml.feature.Tokenizer", {{"inputCol", "text"}, {"outputCol", "tokens"}}), schema);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.status().message(), "must be string")) << s.status();
}

// ---- RegexTokenizer -------------------------------------------------------

std::unique_ptr<Harness> Regex(nlohmann::json extra) {
  nlohmann::json p = {{"inputCol", "text"}, {"outputCol", "tokens"}};
  for (auto& [k, v] : extra.items()) p[k] = v;
  return MustMake(Meta("org.apache.spark.ml.feature.RegexTokenizer", p));
}

TEST(RegexTokenizerTest, GapsAndMatchesWithMinLength) {
  auto gaps = Regex({{"pattern", "\\W+"}});
  ASSERT_NE(gaps, nullptr);
  EXPECT_EQ(Tokenize(*gaps, "Hello, World! It's 2x"), (Strings{"hello", "world", "it", "s", "2x"}));
  // Leading delimiter gives an empty first piece, dropped by minTokenLength 1.
  EXPECT_EQ(Tokenize(*gaps, "...Hi"), (Strings{"hi"}));
  auto keep_empty = Regex({{"pattern", ","}, {"minTokenLength", 0}});
  ASSERT_NE(keep_empty, nullptr);
  EXPECT_EQ(Tokenize(*keep_empty, ",a,,b,,"), (Strings{"", "a", "", "b"}));
  EXPECT_EQ(Tokenize(*keep_empty, ""), (Strings{""}));
  auto min2 = Regex({{"pattern", "\\W+"}, {"minTokenLength", 2}});
  ASSERT_NE(min2, nullptr);
  EXPECT_EQ(Tokenize(*min2, "Hello, World! It's 2x"), (Strings{"hello", "world", "it", "2x"}));
  auto find = Regex({{"pattern", "\\w+"}, {"gaps", false}, {"toLowercase", false}});
  ASSERT_NE(find, nullptr);
  EXPECT_EQ(Tokenize(*find, "Hello, World! It's"), (Strings{"Hello", "World", "It", "s"}));
  auto defaults = Regex({});  // pattern \s+, gaps, lowercase
  ASSERT_NE(defaults, nullptr);
  EXPECT_EQ(Tokenize(*defaults, " Big  Cat\t"), (Strings{"big", "cat"}));
}

TEST(RegexTokenizerTest, JavaSemanticsOverCodePoints) {
  // \w is ASCII in Java: accented letters separate tokens under \W+.
  auto w = Regex({{"pattern", "\\W+"}});
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(Tokenize(*w, "naïve café"), (Strings{"na", "ve", "caf"}));
  // '.' is one code point; minTokenLength counts UTF-16 units.
  auto dot = Regex({{"pattern", "."}, {"gaps", false}, {"minTokenLength", 2}});
  ASSERT_NE(dot, nullptr);
  EXPECT_EQ(Tokenize(*dot, "é\U0001D11Ea"), (Strings{"\U0001D11E"}));
  // Empty pattern: Java 8+ split drops the leading empty piece.
  auto empty = Regex({{"pattern", ""}, {"minTokenLength", 0}});
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(Tokenize(*empty, "abc"), (Strings{"a", "b", "c"}));
  // Zero-width matches advance one code point (Matcher.find).
  auto star = Regex({{"pattern", "a*"}, {"gaps", false}, {"minTokenLength", 0}});
  ASSERT_NE(star, nullptr);
  EXPECT_EQ(Tokenize(*star, "baaa"), (Strings{"", "aaa", ""}));
  // $ also matches before a final line terminator.
  auto dollar = Regex({{"pattern", "a$"}, {"gaps", false}});
  ASSERT_NE(dollar, nullptr);
  EXPECT_EQ(Tokenize(*dollar, "aa\n"), (Strings{"a"}));
  // POSIX classes, \Q..\E quoting, inline case-insensitivity (ASCII).
  auto punct = Regex({{"pattern", "[\\p{Punct}\\s]+"}});
  ASSERT_NE(punct, nullptr);
  EXPECT_EQ(Tokenize(*punct, "a.b, c!d"), (Strings{"a", "b", "c", "d"}));
  auto quoted = Regex({{"pattern", "\\Q.*\\E"}});
  ASSERT_NE(quoted, nullptr);
  EXPECT_EQ(Tokenize(*quoted, "x.*y.z"), (Strings{"x", "y.z"}));
  auto icase = Regex({{"pattern", "(?i)b"}, {"toLowercase", false}});
  ASSERT_NE(icase, nullptr);
  EXPECT_EQ(Tokenize(*icase, "aBcbd"), (Strings{"a", "c", "d"}));
}

TEST(RegexTokenizerTest, SingleClassPatternsAgreeWithTheGeneralMatcher) {
  // "\\W+" and "[^a-z]" take the direct character-class path; the grouped
  // forms go through std::regex. Both must give Java's answer.
  const std::string text = "Ça va? Très—bien, 日本 x_y 42!";
  auto simple = Regex({{"pattern", "\\W+"}, {"minTokenLength", 0}});
  auto general = Regex({{"pattern", "(?:\\W)+"}, {"minTokenLength", 0}});
  ASSERT_NE(simple, nullptr);
  ASSERT_NE(general, nullptr);
  EXPECT_EQ(Tokenize(*simple, text), Tokenize(*general, text));
  EXPECT_EQ(Tokenize(*simple, text), (Strings{"", "a", "va", "tr", "s", "bien", "x_y", "42"}));
  auto one = Regex({{"pattern", "[^a-z]"}, {"gaps", false}, {"toLowercase", false}});
  auto one_general = Regex({{"pattern", "(?:[^a-z])"}, {"gaps", false}, {"toLowercase", false}});
  ASSERT_NE(one, nullptr);
  ASSERT_NE(one_general, nullptr);
  EXPECT_EQ(Tokenize(*one, "aÉb-\U0001F600"), (Strings{"É", "-", "\U0001F600"}));
  EXPECT_EQ(Tokenize(*one, "aÉb-\U0001F600"), Tokenize(*one_general, "aÉb-\U0001F600"));
  // Long inputs do not recurse per character.
  std::string big;
  for (int i = 0; i < 50000; ++i) big += "ab   ";
  EXPECT_EQ(Tokenize(*simple, big).size(), 50000u);
}

TEST(RegexTokenizerTest, UnsupportedConstructsFailAtLoad) {
  for (const char* p : {"(?<=a)b", "a++", "\\p{L}+", "[a-z&&[^e]]", "\\bword\\b", "(?<name>x)", "[[a]b]"}) {
    auto h = Harness::Make(Meta("org.apache.spark.ml.feature.RegexTokenizer",
                                {{"inputCol", "text"}, {"outputCol", "tokens"}, {"pattern", p}}));
    ASSERT_FALSE(h.ok()) << p;
    EXPECT_TRUE(absl::StrContains(h.status().message(), "RegexTokenizer test_uid")) << h.status();
    EXPECT_TRUE(absl::StrContains(h.status().message(), "not supported")) << h.status();
  }
  auto bad = Harness::Make(Meta("org.apache.spark.ml.feature.RegexTokenizer",
                                {{"inputCol", "text"}, {"outputCol", "tokens"}, {"pattern", "(ab"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "(ab")) << bad.status();
}

// ---- StopWordsRemover -----------------------------------------------------

Strings Remove(Harness& h, const Strings& in, const std::string& col = "in", const std::string& out = "out") {
  h.In(col).MutableStrings() = in;
  auto st = h.stage->Apply(h.row);
  EXPECT_TRUE(st.ok()) << st;
  return h.Out(out).strs;
}

TEST(StopWordsRemoverTest, CaseInsensitiveByDefaultAndCaseSensitiveOnRequest) {
  nlohmann::json p = {{"inputCol", "in"}, {"outputCol", "out"}, {"stopWords", {"the", "AND"}},
                      {"caseSensitive", false}, {"locale", "en_US"}};
  auto h = MustMake(Meta("org.apache.spark.ml.feature.StopWordsRemover", p));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(Remove(*h, {"The", "quick", "and", "fox", "ÀND"}), (Strings{"quick", "fox", "ÀND"}));
  EXPECT_EQ(Remove(*h, {}), (Strings{}));
  p["caseSensitive"] = true;
  auto cs = MustMake(Meta("org.apache.spark.ml.feature.StopWordsRemover", p));
  ASSERT_NE(cs, nullptr);
  EXPECT_EQ(Remove(*cs, {"The", "the", "and", "AND"}), (Strings{"The", "and"}));
}

TEST(StopWordsRemoverTest, TurkishLocaleLowercasesDotlessI) {
  nlohmann::json p = {{"inputCol", "in"}, {"outputCol", "out"}, {"stopWords", {"DIŞ"}}, {"locale", "tr"}};
  auto tr = MustMake(Meta("org.apache.spark.ml.feature.StopWordsRemover", p));
  ASSERT_NE(tr, nullptr);
  EXPECT_EQ(Remove(*tr, {"dış", "diş"}), (Strings{"diş"}));
  p["locale"] = "en_US";
  auto en = MustMake(Meta("org.apache.spark.ml.feature.StopWordsRemover", p));
  ASSERT_NE(en, nullptr);
  EXPECT_EQ(Remove(*en, {"dış", "diş"}), (Strings{"dış"}));
}

TEST(StopWordsRemoverTest, MultipleColumns) {
  nlohmann::json p = {{"inputCols", {"a", "b"}}, {"outputCols", {"x", "y"}}, {"stopWords", {"a", "b"}}};
  auto h = MustMake(Meta("org.apache.spark.ml.feature.StopWordsRemover", p));
  ASSERT_NE(h, nullptr);
  h->In("a").MutableStrings() = {"a", "c"};
  h->In("b").MutableStrings() = {"B", "d", "e"};
  ASSERT_TRUE(h->stage->Apply(h->row).ok());
  EXPECT_EQ(h->Out("x").strs, (Strings{"c"}));
  EXPECT_EQ(h->Out("y").strs, (Strings{"d", "e"}));
  h->In("b").SetNull();
  auto st = h->stage->Apply(h->row);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "'b'")) << st;
}

// ---- NGram ----------------------------------------------------------------

TEST(NGramTest, JoinsWithSpacesAndDropsShortInputs) {
  auto bi = MustMake(Meta("org.apache.spark.ml.feature.NGram", {{"inputCol", "in"}, {"outputCol", "out"}, {"n", 2}}));
  ASSERT_NE(bi, nullptr);
  EXPECT_EQ(Remove(*bi, {"a", "b", "c"}), (Strings{"a b", "b c"}));
  EXPECT_EQ(Remove(*bi, {"a"}), (Strings{}));
  auto tri = MustMake(Meta("org.apache.spark.ml.feature.NGram", {{"inputCol", "in"}, {"outputCol", "out"}, {"n", 3}}));
  ASSERT_NE(tri, nullptr);
  EXPECT_EQ(Remove(*tri, {"w", "x", "y", "z"}), (Strings{"w x y", "x y z"}));
  auto zero = Harness::Make(Meta("org.apache.spark.ml.feature.NGram", {{"inputCol", "in"}, {"outputCol", "out"}, {"n", 0}}));
  EXPECT_FALSE(zero.ok());
}

// ---- HashingTF ------------------------------------------------------------

const Vector& Hash(Harness& h, const Strings& terms) {
  h.In("in").MutableStrings() = terms;
  auto st = h.stage->Apply(h.row);
  EXPECT_TRUE(st.ok()) << st;
  return h.Out("out").vec;
}

TEST(HashingTFTest, Spark3Murmur3IndicesAndCounts) {
  auto h = MustMake(Meta("org.apache.spark.ml.feature.HashingTF",
                         {{"inputCol", "in"}, {"outputCol", "out"}, {"numFeatures", 10}, {"binary", false}}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.column(h->schema.Find("out")).vector_size, 10);
  // Spark's documented example: a -> 7, b -> 5, c -> 8 with 10 features.
  const Vector& v = Hash(*h, {"a", "b", "c", "a"});
  EXPECT_FALSE(v.dense);
  EXPECT_EQ(v.size, 10);
  EXPECT_EQ(v.indices, (std::vector<int32_t>{5, 7, 8}));
  EXPECT_EQ(v.values, (std::vector<double>{1, 2, 1}));
  EXPECT_EQ(Hash(*h, {}).nnz(), 0);

  auto big = MustMake(Meta("org.apache.spark.ml.feature.HashingTF",
                           {{"inputCol", "in"}, {"outputCol", "out"}, {"numFeatures", 262144}}));
  ASSERT_NE(big, nullptr);
  // Independent murmur3_x86_32(seed 42) values, mod 2^18.
  const std::pair<const char*, int32_t> cases[] = {{"spark", 173558}, {"hello", 250593}, {"world", 60080},
                                                    {"abcd", 58828},   {"abcde", 142320}, {"éclair", 144909},
                                                    {"日本語", 188088}, {"", 249180}};
  for (const auto& [term, index] : cases) {
    const Vector& x = Hash(*big, {term});
    ASSERT_EQ(x.nnz(), 1) << term;
    EXPECT_EQ(x.indices[0], index) << term;
  }
}

TEST(HashingTFTest, BinaryAndSpark2Hash) {
  auto bin = MustMake(Meta("org.apache.spark.ml.feature.HashingTF",
                           {{"inputCol", "in"}, {"outputCol", "out"}, {"numFeatures", 10}, {"binary", true}}));
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(Hash(*bin, {"a", "a", "b"}).values, (std::vector<double>{1, 1}));
  // Spark 2.x mixes each tail byte (sign-extended) as a block.
  auto old = MustMake(Meta("org.apache.spark.ml.feature.HashingTF",
                           {{"inputCol", "in"}, {"outputCol", "out"}, {"numFeatures", 262144}}, {}, "2.4.0"));
  ASSERT_NE(old, nullptr);
  const std::pair<const char*, int32_t> cases[] = {{"a", 227410}, {"abcd", 58828}, {"abcde", 156520},
                                                    {"éclair", 3685}, {"日本語", 160150}};
  for (const auto& [term, index] : cases) {
    const Vector& x = Hash(*old, {term});
    ASSERT_EQ(x.nnz(), 1) << term;
    EXPECT_EQ(x.indices[0], index) << term;
  }
}

// ---- CountVectorizerModel -------------------------------------------------

StageMeta CountVectorizer(nlohmann::json extra) {
  nlohmann::json p = {{"inputCol", "in"}, {"outputCol", "out"}};
  for (auto& [k, v] : extra.items()) p[k] = v;
  return Meta("org.apache.spark.ml.feature.CountVectorizerModel", p,
              {{"data", testing::OneRow({{"vocabulary", testing::StrList({"a", "b", "c"})}})}});
}

TEST(CountVectorizerModelTest, CountsVocabularyTermsWithMinTF) {
  auto h = MustMake(CountVectorizer({}));
  ASSERT_NE(h, nullptr);
  const ColumnInfo& col = h->schema.column(h->schema.Find("out"));
  EXPECT_EQ(col.vector_size, 3);
  const Vector& v = Hash(*h, {"c", "a", "x", "a"});
  EXPECT_EQ(v.size, 3);
  EXPECT_EQ(v.indices, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(v.values, (std::vector<double>{2, 1}));
  auto min2 = MustMake(CountVectorizer({{"minTF", 2.0}}));
  ASSERT_NE(min2, nullptr);
  EXPECT_EQ(Hash(*min2, {"c", "a", "x", "a"}).indices, (std::vector<int32_t>{0}));
  // A fraction is relative to all tokens, unknown ones included: 0.5 * 4.
  auto frac = MustMake(CountVectorizer({{"minTF", 0.5}}));
  ASSERT_NE(frac, nullptr);
  EXPECT_EQ(Hash(*frac, {"c", "a", "x", "a"}).indices, (std::vector<int32_t>{0}));
  EXPECT_EQ(Hash(*frac, {"c", "a"}).indices, (std::vector<int32_t>{0, 2}));
  auto bin = MustMake(CountVectorizer({{"binary", true}}));
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(Hash(*bin, {"c", "a", "a"}).values, (std::vector<double>{1, 1}));
}

// ---- IDFModel -------------------------------------------------------------

TEST(IDFModelTest, ScalesDenseAndSparseKeepingSparsity) {
  auto meta = Meta("org.apache.spark.ml.feature.IDFModel", {{"inputCol", "in"}, {"outputCol", "out"}},
                   {{"data", testing::OneRow({{"idf", testing::DenseVec({0.5, 2.0, 0.0})}})}});
  auto h = MustMake(meta);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->schema.column(h->schema.Find("out")).vector_size, 3);
  Vector& x = h->In("in").MutableVector();
  x.SetSparse(3);
  x.indices = {0, 2};
  x.values = {2.0, 3.0};
  ASSERT_TRUE(h->stage->Apply(h->row).ok());
  const Vector& y = h->Out("out").vec;
  EXPECT_FALSE(y.dense);
  EXPECT_EQ(y.indices, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(y.values, (std::vector<double>{1.0, 0.0}));
  Vector& d = h->In("in").MutableVector();
  d.SetDense(3);
  d.values = {1, 1, 1};
  ASSERT_TRUE(h->stage->Apply(h->row).ok());
  EXPECT_TRUE(h->Out("out").vec.dense);
  EXPECT_EQ(h->Out("out").vec.values, (std::vector<double>{0.5, 2.0, 0.0}));
  Vector& big = h->In("in").MutableVector();
  big.SetDense(4);
  auto st = h->stage->Apply(h->row);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "IDFModel test_uid")) << st;
}

// ---- Spark 4 fixture (tests/fixtures/spark, skipped when absent) ----------

std::filesystem::path RepoFixture(const std::string& name) {
  namespace fs = std::filesystem;
  // This file lives in <repo>/src/spark/.
  const fs::path root = fs::path(__FILE__).parent_path().parent_path().parent_path();
  const fs::path p = root / "tests" / "fixtures" / "spark" / name;
  std::error_code ec;
  return fs::exists(p, ec) ? p : fs::path();
}

// Tokenizer and HashingTF(numFeatures 256), as the tweet-sentiment fixture
// pipeline saved them with Spark 4.3, reproduce Spark's own words and
// rawFeatures for every fixture row.
TEST(TextFixtureTest, TweetSentimentWordsAndHashedFeaturesMatchSpark4) {
  const auto spark_csv = RepoFixture("tweets_sentiment.spark.csv");
  const auto input_csv = RepoFixture("tweets_sentiment.input.csv");
  if (spark_csv.empty() || input_csv.empty()) GTEST_SKIP() << "fixture absent";
  Schema schema;
  std::vector<std::unique_ptr<Stage>> stages;
  for (const StageMeta& m :
       {Meta("org.apache.spark.ml.feature.Tokenizer", {{"inputCol", "text"}, {"outputCol", "words"}}, {}, "4.3.0"),
        Meta("org.apache.spark.ml.feature.HashingTF",
             {{"inputCol", "words"}, {"outputCol", "rawFeatures"}, {"numFeatures", 256}, {"binary", false}}, {},
             "4.3.0")}) {
    auto s = (*StageRegistry::Default().Find(m.class_name))(m, schema);
    ASSERT_TRUE(s.ok()) << s.status();
    stages.push_back(std::move(*s));
  }
  auto input = testing::ReadCsv(input_csv);
  auto want = testing::ReadCsv(spark_csv);
  ASSERT_EQ(input.rows.size(), want.rows.size());
  ASSERT_GT(input.rows.size(), 0u);
  const int text = schema.Find("text"), words = schema.Find("words"), raw = schema.Find("rawFeatures");
  Row row;
  row.cells.resize(schema.num_slots());
  for (size_t r = 0; r < input.rows.size(); ++r) {
    row.cells[text].SetString(input.rows[r][input.Col("text")]);
    for (const auto& s : stages) ASSERT_TRUE(s->Apply(row).ok());
    const auto w = nlohmann::json::parse(want.rows[r][want.Col("words")]);
    EXPECT_EQ(row.cells[words].strs, w.get<Strings>()) << "row " << r;
    const auto f = nlohmann::json::parse(want.rows[r][want.Col("rawFeatures")]);
    const Vector& v = row.cells[raw].vec;
    EXPECT_EQ(v.size, f["size"].get<int32_t>()) << "row " << r;
    EXPECT_EQ(v.indices, f["indices"].get<std::vector<int32_t>>()) << "row " << r;
    EXPECT_EQ(v.values, f["values"].get<std::vector<double>>()) << "row " << r;
  }
}

}  // namespace
}  // namespace evs::spark
