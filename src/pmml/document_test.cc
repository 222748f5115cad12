#include "pmml/document.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace evs::pmml {
namespace {

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

constexpr char kMinimal[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4">
  <Header/>
  <DataDictionary><DataField name="x" optype="continuous" dataType="double"/></DataDictionary>
</PMML>)";

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(DocumentTest, ParsesMinimal) {
  auto doc = Document::Parse(kMinimal, {});
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)->version(), "4.4");
  EXPECT_EQ(LocalName((*doc)->root()), "PMML");
  EXPECT_TRUE(Child((*doc)->root(), "DataDictionary"));
}

TEST(DocumentTest, PrefixedNamespace) {
  const char* xml = R"(<p:PMML xmlns:p="http://www.dmg.org/PMML-4_3" version="4.3">
    <p:DataDictionary><p:DataField name="x"/></p:DataDictionary></p:PMML>)";
  auto doc = Document::Parse(xml, {});
  ASSERT_TRUE(doc.ok()) << doc.status();
  pugi::xml_node dd = Child((*doc)->root(), "DataDictionary");
  ASSERT_TRUE(dd);
  EXPECT_EQ(LocalName(Child(dd, "DataField")), "DataField");
  EXPECT_EQ(ElementPath(Child(dd, "DataField")), "/PMML/DataDictionary/DataField");
}

TEST(DocumentTest, ElementPathIndexesRepeatedSiblings) {
  const char* xml = R"(<PMML version="4.4"><A/><B><C/><C><D/></C></B></PMML>)";
  auto doc = Document::Parse(xml, {});
  ASSERT_TRUE(doc.ok());
  pugi::xml_node d = (*doc)->root().child("B").last_child().child("D");
  EXPECT_EQ(ElementPath(d), "/PMML/B/C[2]/D");
  absl::Status st = ElementError(d, "boom");
  EXPECT_EQ(Msg(st), "/PMML/B/C[2]/D: boom");
}

TEST(DocumentTest, RejectsXxe) {
  const char* xml = R"(<?xml version="1.0"?>
<!DOCTYPE PMML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PMML version="4.4"><Header description="&xxe;"/></PMML>)";
  auto doc = Document::Parse(xml, {});
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("DOCTYPE"), std::string::npos) << doc.status();
  EXPECT_NE(Msg(doc.status()).find("line 2"), std::string::npos) << doc.status();
}

TEST(DocumentTest, RejectsBillionLaughs) {
  std::string xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n";
  for (int i = 1; i < 10; ++i) {
    xml += " <!ENTITY lol" + std::to_string(i) + " \"";
    for (int j = 0; j < 10; ++j)
      xml += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
    xml += "\">\n";
  }
  xml += "]>\n<PMML version=\"4.4\"><Header description=\"&lol9;\"/></PMML>";
  auto t0 = std::chrono::steady_clock::now();
  auto doc = Document::Parse(xml, {});
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("DOCTYPE"), std::string::npos);
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST(DocumentTest, RejectsLowercaseDoctypeAndUndeclaredEntity) {
  EXPECT_FALSE(Document::Parse("<!doctype PMML><PMML version=\"4.4\"/>", {}).ok());
  // An entity that was never declared is a plain parse error, never a lookup.
  auto doc = Document::Parse("<PMML version=\"4.4\"><Header description=\"&ext;\"/></PMML>", {});
  if (doc.ok()) {
    EXPECT_EQ(std::string((*doc)->root().child("Header").attribute("description").value()),
              "&ext;");
  }
}

TEST(DocumentTest, Rejects100kDeepNestingQuickly) {
  const int depth = 100000;
  std::string xml = "<PMML version=\"4.4\">";
  xml.reserve(depth * 8 + 64);
  for (int i = 0; i < depth; ++i) xml += "<a>";
  for (int i = 0; i < depth; ++i) xml += "</a>";
  xml += "</PMML>";
  auto t0 = std::chrono::steady_clock::now();
  auto doc = Document::Parse(xml, {});
  double secs = SecondsSince(t0);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("nesting deeper than the limit of 2000"), std::string::npos)
      << doc.status();
  EXPECT_LT(secs, 1.0);
  std::printf("[ info ] 100,000-deep nesting rejected in %.3f ms\n", secs * 1e3);
}

TEST(DocumentTest, ElementCountLimit) {
  std::string xml = "<PMML version=\"4.4\">";
  for (int i = 0; i < 100; ++i) xml += "<x/>";
  xml += "</PMML>";
  LoadOptions opts;
  opts.max_elements = 50;
  auto doc = Document::Parse(xml, opts);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("more elements than the limit of 50"), std::string::npos);
  opts.max_elements = 200;
  EXPECT_TRUE(Document::Parse(xml, opts).ok());
}

TEST(DocumentTest, ByteLimitOnText) {
  LoadOptions opts;
  opts.max_bytes = 16;
  auto doc = Document::Parse(kMinimal, opts);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("size limit"), std::string::npos);
}

TEST(DocumentTest, RejectsOneGigabyteFileWithoutReadingIt) {
  char dir_template[] = "/tmp/pmml_doc_testXXXXXX";
  char* dir = mkdtemp(dir_template);
  ASSERT_NE(dir, nullptr);
  std::string path = std::string(dir) + "/huge.pmml";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("<PMML version=\"4.4\">", f);
  std::fclose(f);
  ASSERT_EQ(truncate(path.c_str(), off_t{1} << 30), 0);  // sparse: no disk, no time
  LoadOptions opts;                                      // default 512 MiB cap
  auto t0 = std::chrono::steady_clock::now();
  auto doc = Document::ParseFile(path, opts);
  double secs = SecondsSince(t0);
  std::remove(path.c_str());
  rmdir(dir);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("over the size limit"), std::string::npos) << doc.status();
  EXPECT_LT(secs, 1.0);
  std::printf("[ info ] 1 GiB file rejected in %.3f ms\n", secs * 1e3);
}

TEST(DocumentTest, MissingFile) {
  auto doc = Document::ParseFile("/nonexistent/dir/model.pmml", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kNotFound);
}

TEST(DocumentTest, MalformedXmlReportsLineAndOffset) {
  const char* xml = "<PMML version=\"4.4\">\n  <Header>\n  </Headr>\n</PMML>";
  auto doc = Document::Parse(xml, {});
  ASSERT_FALSE(doc.ok());
  std::string m = Msg(doc.status());
  EXPECT_NE(m.find("line 3"), std::string::npos) << m;
  EXPECT_NE(m.find("offset"), std::string::npos) << m;
}

TEST(DocumentTest, UnterminatedTag) {
  auto doc = Document::Parse("<PMML version=\"4.4\"><Header", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("line 1"), std::string::npos);
}

TEST(DocumentTest, WrongRootAndVersion) {
  auto doc = Document::Parse("<html><body/></html>", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("expected <PMML>"), std::string::npos) << doc.status();
  doc = Document::Parse("<PMML/>", {});
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("version"), std::string::npos);
  doc = Document::Parse("<PMML version=\"9.0\"/>", {});
  ASSERT_FALSE(doc.ok());
  doc = Document::Parse("", {});
  ASSERT_FALSE(doc.ok());
}

TEST(DocumentTest, RejectsUtf16AndAcceptsUtf8Bom) {
  std::string utf16("\xFF\xFE<\0!\0D\0", 8);
  auto doc = Document::Parse(utf16, {});
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(Msg(doc.status()).find("not UTF-8"), std::string::npos);
  EXPECT_TRUE(Document::Parse("\xEF\xBB\xBF<PMML version=\"4.4\"/>", {}).ok());
}

TEST(DocumentTest, CommentsCdataAndQuotedMarkupDoNotConfuseTheScan) {
  const char* xml = R"(<PMML version="4.4"><!-- <a><b> --><Header copyright="a > b &lt;c&gt;"/>
    <Extension><![CDATA[ <not> <elements> ]]></Extension><?pi <x> ?></PMML>)";
  LoadOptions opts;
  opts.max_depth = 2;
  auto doc = Document::Parse(xml, opts);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(std::string((*doc)->root().child("Header").attribute("copyright").value()),
            "a > b <c>");
}

}  // namespace
}  // namespace evs::pmml
