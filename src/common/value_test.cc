#include "common/value.h"

#include <cmath>

#include "common/hash.h"
#include "common/json_writer.h"
#include "gtest/gtest.h"

namespace evs {
namespace {

TEST(RecordTest, SetFindRenameErase) {
  Record r;
  r.Set("a", Value::Number(1));
  r.Set("b", Value::String("x"));
  r.Set("a", Value::Number(2));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r.Find("a")->as_number(), 2);
  EXPECT_TRUE(r.Rename("a", "b"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r.fields()[0].name, "b");
  EXPECT_EQ(r.Find("b")->as_number(), 2);
  EXPECT_FALSE(r.Rename("zz", "y"));
  EXPECT_TRUE(r.Erase("b"));
  EXPECT_EQ(r.size(), 0u);
}

TEST(JsonWriterTest, NumbersRoundTripAndEscapes) {
  Record r;
  r.Set("i", Value::Number(3));
  r.Set("f", Value::Number(0.1));
  r.Set("s", Value::String("a\"b\n\x01"));
  r.Set("n", Value::Null());
  r.Set("nan", Value::Number(std::nan("")));
  r.Set("o", Value::Raw("{\"x\":1}"));
  EXPECT_EQ(RecordToJson(r),
            "{\"i\":3,\"f\":0.1,\"s\":\"a\\\"b\\n\\u0001\",\"n\":null,\"nan\":null,\"o\":{\"x\":1}}");
}

TEST(HashTest, StableAcrossRuns) {
  // Pinned values: variant assignment depends on them never changing.
  EXPECT_EQ(StableHash64(""), StableHash64(""));
  EXPECT_NE(StableHash64("a"), StableHash64("b"));
  EXPECT_NE(StableHash64("a", 1), StableHash64("a", 2));
}

}  // namespace
}  // namespace evs
