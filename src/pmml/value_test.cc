#include "pmml/value.h"

#include <cmath>
#include <cstring>
#include <random>

#include "gtest/gtest.h"

namespace evs::pmml {
namespace {

Value Parse(std::string_view text, DataType t) {
  Value v;
  EXPECT_TRUE(ParseValue(text, t, &v).ok()) << text;
  return v;
}

TEST(ValueTest, TypeNamesRoundTrip) {
  for (const char* name :
       {"string", "integer", "float", "double", "boolean", "date", "time", "dateTime",
        "dateDaysSince[0]", "dateDaysSince[1960]", "dateDaysSince[1970]", "dateDaysSince[1980]",
        "timeSeconds", "dateTimeSecondsSince[0]", "dateTimeSecondsSince[1960]",
        "dateTimeSecondsSince[1970]", "dateTimeSecondsSince[1980]"}) {
    auto t = ParseDataType(name);
    ASSERT_TRUE(t.ok()) << name;
    EXPECT_EQ(DataTypeName(*t), name);
  }
  EXPECT_FALSE(ParseDataType("real").ok());
  EXPECT_EQ(*ParseOpType("categorical"), OpType::kCategorical);
  EXPECT_EQ(*ParseOpType("ordinal"), OpType::kOrdinal);
  EXPECT_EQ(*ParseOpType("continuous"), OpType::kContinuous);
  EXPECT_FALSE(ParseOpType("nominal").ok());
  EXPECT_FALSE(IsNumeric(DataType::kString));
  EXPECT_TRUE(IsNumeric(DataType::kDate));
}

TEST(ValueTest, ParseIntegers) {
  EXPECT_EQ(Parse("3", DataType::kInteger).num, 3);
  EXPECT_EQ(Parse(" -7 ", DataType::kInteger).num, -7);
  EXPECT_EQ(Parse("+4", DataType::kInteger).num, 4);
  EXPECT_EQ(Parse("3.0", DataType::kInteger).num, 3);
  EXPECT_EQ(Parse("1e3", DataType::kInteger).num, 1000);
  EXPECT_EQ(Parse("3", DataType::kInteger).type, DataType::kInteger);
  Value v;
  EXPECT_FALSE(ParseValue("3.5", DataType::kInteger, &v).ok());
  EXPECT_FALSE(ParseValue("abc", DataType::kInteger, &v).ok());
  EXPECT_FALSE(ParseValue("", DataType::kInteger, &v).ok());
}

TEST(ValueTest, ParseDoublesAndFloats) {
  EXPECT_EQ(Parse("1.5e3", DataType::kDouble).num, 1500);
  EXPECT_EQ(Parse("-0.25", DataType::kDouble).num, -0.25);
  EXPECT_EQ(Parse(".5", DataType::kDouble).num, 0.5);
  EXPECT_EQ(FormatValue(Parse("-0", DataType::kDouble)), "0");
  EXPECT_TRUE(std::isnan(Parse("NaN", DataType::kDouble).num));
  EXPECT_EQ(Parse("INF", DataType::kDouble).num, HUGE_VAL);
  EXPECT_EQ(Parse("-INF", DataType::kDouble).num, -HUGE_VAL);
  EXPECT_EQ(Parse("1e400", DataType::kDouble).num, HUGE_VAL);
  // float values are rounded to float32.
  EXPECT_EQ(Parse("0.1", DataType::kFloat).num, static_cast<double>(0.1f));
  EXPECT_NE(Parse("0.1", DataType::kFloat).num, 0.1);
  Value v;
  EXPECT_FALSE(ParseValue("1.2.3", DataType::kDouble, &v).ok());
  EXPECT_FALSE(ParseValue("12abc", DataType::kDouble, &v).ok());
  EXPECT_FALSE(ParseValue("--1", DataType::kDouble, &v).ok());
  EXPECT_FALSE(ParseValue("", DataType::kDouble, &v).ok());
}

TEST(ValueTest, ParseBooleansAndStrings) {
  EXPECT_TRUE(Parse("true", DataType::kBoolean).is_bool());
  EXPECT_EQ(Parse("TRUE", DataType::kBoolean).num, 1);
  EXPECT_EQ(Parse("false", DataType::kBoolean).num, 0);
  EXPECT_EQ(Parse("1", DataType::kBoolean).num, 1);
  EXPECT_EQ(Parse("0.0", DataType::kBoolean).num, 0);
  EXPECT_EQ(Parse("true", DataType::kDouble).num, 1);
  EXPECT_EQ(Parse("False", DataType::kInteger).num, 0);
  Value v;
  EXPECT_FALSE(ParseValue("2", DataType::kBoolean, &v).ok());
  EXPECT_FALSE(ConvertValue(Value::Number(0.5), DataType::kBoolean, &v).ok());
  EXPECT_FALSE(ParseValue("yes", DataType::kBoolean, &v).ok());
  EXPECT_EQ(Parse(" a b ", DataType::kString).str, " a b ");
}

TEST(ValueTest, ParseDatesAndTimes) {
  EXPECT_EQ(Parse("1970-01-02", DataType::kDate).num, 1);
  EXPECT_EQ(Parse("1969-12-31", DataType::kDate).num, -1);
  EXPECT_EQ(Parse("2000-03-01", DataType::kDate).num, 11017);
  EXPECT_EQ(Parse("1960-01-03", DataType::kDateDaysSince1960).num, 2);
  EXPECT_EQ(Parse("1970-01-01", DataType::kDateDaysSince1960).num, 3653);
  EXPECT_EQ(Parse("12", DataType::kDateDaysSince1960).num, 12);
  EXPECT_EQ(Parse("0001-01-01", DataType::kDateDaysSince0).num, 366);  // year 0 is a leap year
  EXPECT_EQ(Parse("01:02:03", DataType::kTime).num, 3723);
  EXPECT_EQ(Parse("1970-01-02T00:00:10", DataType::kDateTime).num, 86410);
  EXPECT_EQ(Parse("1960-01-01T00:01:00", DataType::kDateTimeSecondsSince1960).num, 60);
  Value v;
  EXPECT_FALSE(ParseValue("2020-13-01", DataType::kDate, &v).ok());
  EXPECT_FALSE(ParseValue("noon", DataType::kTime, &v).ok());
}

TEST(ValueTest, FormatShortestRoundTrip) {
  EXPECT_EQ(FormatValue(Value::Number(0.1)), "0.1");
  EXPECT_EQ(FormatValue(Value::Number(1.0)), "1");
  EXPECT_EQ(FormatValue(Value::Number(-2.5)), "-2.5");
  EXPECT_EQ(FormatValue(Value::Number(1e21)), "1e+21");
  EXPECT_EQ(FormatValue(Value::Number(0.1 + 0.2)), "0.30000000000000004");
  EXPECT_EQ(FormatValue(Value::Number(NAN)), "NaN");
  EXPECT_EQ(FormatValue(Value::Number(-HUGE_VAL)), "-INF");
  EXPECT_EQ(FormatValue(Value::Number(3, DataType::kInteger)), "3");
  EXPECT_EQ(FormatValue(Value::Number(static_cast<double>(0.1f), DataType::kFloat)), "0.1");
  EXPECT_EQ(FormatValue(Value::Bool(true)), "true");
  EXPECT_EQ(FormatValue(Value::String("x y")), "x y");
  EXPECT_EQ(FormatValue(Value()), "");
  EXPECT_EQ(FormatValue(Value::Number(11017, DataType::kDate)), "2000-03-01");
  EXPECT_EQ(FormatValue(Value::Number(3723, DataType::kTime)), "01:02:03");
  EXPECT_EQ(FormatValue(Value::Number(86410, DataType::kDateTime)), "1970-01-02T00:00:10");

  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    std::string s = FormatValue(Value::Number(d));
    Value back;
    ASSERT_TRUE(ParseValue(s, DataType::kDouble, &back).ok()) << s;
    ASSERT_EQ(back.num, d) << s;
  }
}

TEST(ValueTest, Convert) {
  Value out;
  ASSERT_TRUE(ConvertValue(Value::Number(2.7), DataType::kInteger, &out).ok());
  EXPECT_EQ(out.num, 2);
  EXPECT_EQ(out.type, DataType::kInteger);
  ASSERT_TRUE(ConvertValue(Value::Number(-2.7), DataType::kInteger, &out).ok());
  EXPECT_EQ(out.num, -2);
  ASSERT_TRUE(ConvertValue(Value::String("5.5"), DataType::kDouble, &out).ok());
  EXPECT_EQ(out.num, 5.5);
  ASSERT_TRUE(ConvertValue(Value::Number(5.5), DataType::kString, &out).ok());
  EXPECT_EQ(out.str, "5.5");
  EXPECT_TRUE(out.is_string());
  ASSERT_TRUE(ConvertValue(Value::Number(0), DataType::kBoolean, &out).ok());
  EXPECT_TRUE(out.is_bool());
  EXPECT_EQ(out.num, 0);
  ASSERT_TRUE(ConvertValue(Value::Bool(true), DataType::kDouble, &out).ok());
  EXPECT_EQ(out.num, 1);
  ASSERT_TRUE(ConvertValue(Value(), DataType::kDouble, &out).ok());
  EXPECT_TRUE(out.missing());
  EXPECT_FALSE(ConvertValue(Value::String("abc"), DataType::kDouble, &out).ok());
  // Dates between epochs.
  ASSERT_TRUE(
      ConvertValue(Value::Number(0, DataType::kDate), DataType::kDateDaysSince1960, &out).ok());
  EXPECT_EQ(out.num, 3653);
  // In place.
  Value v = Value::String("7");
  ASSERT_TRUE(ConvertValue(v, DataType::kInteger, &v).ok());
  EXPECT_EQ(v.num, 7);
  v = Value::Number(0.5);
  ASSERT_TRUE(ConvertValue(v, DataType::kString, &v).ok());
  EXPECT_EQ(v.str, "0.5");
}

TEST(ValueTest, EqualityAndOrder) {
  EXPECT_TRUE(ValuesEqual(Value::String("1"), Value::Number(1)));
  EXPECT_TRUE(ValuesEqual(Value::Number(1, DataType::kInteger), Value::Number(1.0)));
  EXPECT_TRUE(ValuesEqual(Value::String("a"), Value::String("a")));
  EXPECT_FALSE(ValuesEqual(Value::String("a"), Value::String("b")));
  EXPECT_FALSE(ValuesEqual(Value(), Value()));
  EXPECT_FALSE(ValuesEqual(Value(), Value::Number(0)));
  EXPECT_TRUE(ValuesEqual(Value::String("true"), Value::Bool(true)));
  EXPECT_TRUE(ValuesEqual(Value::String("1.0"), Value::Number(1)));
  EXPECT_FALSE(ValuesEqual(Value::String("x"), Value::Number(1)));
  EXPECT_LT(CompareValues(Value::Number(1), Value::Number(2)), 0);
  EXPECT_GT(CompareValues(Value::String("b"), Value::String("a")), 0);
  EXPECT_EQ(CompareValues(Value::String("2"), Value::Number(2)), 0);
  EXPECT_LT(CompareValues(Value::String("10"), Value::Number(11)), 0);
}

}  // namespace
}  // namespace evs::pmml
