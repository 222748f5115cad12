#include "codec/decode.h"

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_writer.h"
#include "common/value.h"
#include "gtest/gtest.h"

namespace evs::codec {
namespace {

// Runs the JSON decoder on `json` and returns the error code, or "" on success.
std::string JsonCode(std::string_view json, Record* out = nullptr, EventError* err_out = nullptr,
                     uint32_t max_depth = 64) {
  JsonDecoder decoder(max_depth);
  Record r;
  EventError err;
  const bool ok = decoder.Decode(json, out ? out : &r, &err);
  if (err_out) *err_out = err;
  if (ok) return "";
  EXPECT_EQ(err.stage, "decode");
  EXPECT_FALSE(err.message.empty());
  return err.code;
}

// ---------------------------------------------------------------- JSON: good

TEST(JsonDecoderTest, AllScalarTypes) {
  JsonDecoder d;
  Record r;
  EventError err;
  ASSERT_TRUE(d.Decode(R"({"i":42,"neg":-7,"f":1.5,"e":2.5e3,"big":18446744073709551615,)"
                       R"("s":"h\u00e9llo\n\"q\"","t":true,"fa":false,"n":null})",
                       &r, &err))
      << err.message;
  ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(*r.Find("i"), Value::Number(42));
  EXPECT_EQ(*r.Find("neg"), Value::Number(-7));
  EXPECT_EQ(*r.Find("f"), Value::Number(1.5));
  EXPECT_EQ(*r.Find("e"), Value::Number(2500));
  EXPECT_EQ(*r.Find("big"), Value::Number(18446744073709551615.0));
  EXPECT_EQ(*r.Find("s"), Value::String("h\xc3\xa9llo\n\"q\""));
  EXPECT_EQ(*r.Find("t"), Value::Bool(true));
  EXPECT_EQ(*r.Find("fa"), Value::Bool(false));
  EXPECT_TRUE(r.Find("n")->is_null());
}

TEST(JsonDecoderTest, OnlyTheNamedFieldsAreKeptButTheWholeDocumentIsChecked) {
  JsonDecoder d;
  Record r;
  EventError err;
  const std::vector<std::string> only = {"b", "d", "absent"};
  ASSERT_TRUE(d.Decode(R"({"a":1,"b":"x","c":{"k":[1]},"d":2.5})", &r, &err, &only)) << err.message;
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r.fields()[0].name, "b");
  EXPECT_EQ(r.fields()[1].value, Value::Number(2.5));
  // Duplicates and errors in fields that are not kept still fail the record.
  EXPECT_FALSE(d.Decode(R"({"a":1,"b":"x","a":2})", &r, &err, &only));
  EXPECT_EQ(err.code, "duplicate_key");
  EXPECT_FALSE(d.Decode(R"({"b":"x","a":1e999})", &r, &err, &only));
  EXPECT_FALSE(d.Decode(R"({"b":"x","a":[1,)", &r, &err, &only));
  EXPECT_EQ(err.code, "invalid_json");
  // Nothing named: an empty record from a valid object.
  const std::vector<std::string> none;
  ASSERT_TRUE(d.Decode(R"({"a":1})", &r, &err, &none));
  EXPECT_EQ(r.size(), 0u);
}

TEST(JsonDecoderTest, NestedValuesBecomeMinifiedRaw) {
  Record r;
  ASSERT_EQ(JsonCode(R"({ "o" : { "x" : [ 1 , "two" , null ] , "y" : {} } ,
                         "a" : [ ] , "b" : [ {"k" : true} ] })",
                     &r),
            "");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r.Find("o")->type(), ValueType::kRaw);
  EXPECT_EQ(r.Find("o")->as_string(), R"({"x":[1,"two",null],"y":{}})");
  EXPECT_EQ(r.Find("a")->as_string(), "[]");
  EXPECT_EQ(r.Find("b")->as_string(), R"([{"k":true}])");
}

TEST(JsonDecoderTest, NestedDuplicatesAreAllowed) {
  Record r;
  EXPECT_EQ(JsonCode(R"({"o":{"k":1,"k":2}})", &r), "");
  EXPECT_EQ(r.Find("o")->type(), ValueType::kRaw);
}

TEST(JsonDecoderTest, PreservesDocumentOrder) {
  Record r;
  ASSERT_EQ(JsonCode(R"({"z":1,"a":2,"m":3,"b":4})", &r), "");
  std::vector<std::string> names;
  for (const Field& f : r.fields()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"z", "a", "m", "b"}));
}

TEST(JsonDecoderTest, EmptyObjectAndSurroundingWhitespace) {
  Record r;
  EXPECT_EQ(JsonCode("{}", &r), "");
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(JsonCode(" \t\r\n{\"a\":1} \n\r\t", &r), "");
  EXPECT_EQ(r.size(), 1u);
}

TEST(JsonDecoderTest, EscapedKeysAreUnescaped) {
  Record r;
  ASSERT_EQ(JsonCode(R"({"a\"b":1,"\u00e9":2})", &r), "");
  EXPECT_TRUE(r.Has("a\"b"));
  EXPECT_TRUE(r.Has("\xc3\xa9"));
}

TEST(JsonDecoderTest, ClearsOutputFirst) {
  JsonDecoder d;
  Record r;
  r.Append("stale", Value::Number(1));
  EventError err;
  ASSERT_TRUE(d.Decode(R"({"a":1})", &r, &err));
  EXPECT_EQ(r.size(), 1u);
  EXPECT_FALSE(r.Has("stale"));
}

TEST(JsonDecoderTest, ReusesBuffersAcrossManyDecodes) {
  JsonDecoder d;
  Record r;
  EventError err;
  // Alternating sizes (growing and shrinking) and interleaved failures must
  // not leak state from one decode into the next.
  for (int i = 0; i < 5000; ++i) {
    std::string big(static_cast<size_t>(i % 97) * 50, 'x');
    const std::string json =
        "{\"i\":" + std::to_string(i) + ",\"s\":\"" + big + "\",\"n\":[" + std::to_string(i) + "]}";
    ASSERT_TRUE(d.Decode(json, &r, &err)) << i << ": " << err.message;
    ASSERT_EQ(r.size(), 3u);
    ASSERT_EQ(r.Find("i")->as_number(), i);
    ASSERT_EQ(r.Find("s")->as_string(), big);
    ASSERT_EQ(r.Find("n")->as_string(), "[" + std::to_string(i) + "]");
    if (i % 10 == 0) {
      ASSERT_FALSE(d.Decode("{\"a\":1", &r, &err));
      ASSERT_EQ(err.code, "invalid_json");
    }
    if (i % 13 == 0) {  // a short document right after a long one
      ASSERT_TRUE(d.Decode("{\"k\":true}", &r, &err));
      ASSERT_EQ(r.size(), 1u);
    }
  }
}

TEST(JsonDecoderTest, LargeDocument) {
  std::string json = "{";
  for (int i = 0; i < 2000; ++i) {
    if (i) json += ",";
    json += "\"k" + std::to_string(i) + "\":" + std::to_string(i);
  }
  json += "}";
  JsonDecoder d;
  Record r;
  EventError err;
  ASSERT_TRUE(d.Decode(json, &r, &err)) << err.message;
  ASSERT_EQ(r.size(), 2000u);
  EXPECT_EQ(r.fields()[1999].name, "k1999");
  EXPECT_EQ(r.fields()[1999].value, Value::Number(1999));
  // The parser grew its capacity; its depth limit must survive that.
  EXPECT_FALSE(d.Decode("{\"a\":" + std::string(64, '[') + "1" + std::string(64, ']') + "}", &r,
                        &err));
  EXPECT_EQ(err.code, "too_deep");
  EXPECT_TRUE(d.Decode("{\"a\":" + std::string(63, '[') + "1" + std::string(63, ']') + "}", &r,
                       &err));
}

TEST(JsonDecoderTest, RoundTripsThroughJsonWriter) {
  JsonDecoder d;
  for (std::string_view json : {
           R"({"a":1,"b":-0.5,"c":"x\ty\u0001","d":[1.25,{"e":null}],"f":false})",
           R"({"big":123456789012345678,"tiny":5e-324,"max":1.7976931348623157e308})",
           R"({"nested":[[[["deep"]]]],"empty":{},"u":"\ud83d\ude00"})",
       }) {
    Record first;
    Record second;
    EventError err;
    ASSERT_TRUE(d.Decode(json, &first, &err)) << json << ": " << err.message;
    const std::string again = RecordToJson(first);
    ASSERT_TRUE(d.Decode(again, &second, &err)) << again << ": " << err.message;
    EXPECT_EQ(first, second) << again;
  }
}

TEST(JsonDecoderTest, MovedDecoderStillWorks) {
  JsonDecoder a(8);
  JsonDecoder b(std::move(a));
  Record r;
  EventError err;
  EXPECT_TRUE(b.Decode(R"({"a":1})", &r, &err));
  EXPECT_EQ(b.max_depth(), 8u);
}

// -------------------------------------------------------------- JSON: errors

TEST(JsonDecoderTest, EmptyValue) {
  EXPECT_EQ(JsonCode(""), "empty_value");
  EXPECT_EQ(JsonCode(" \n\t "), "empty_value");
}

TEST(JsonDecoderTest, InvalidUtf8InsideString) {
  EventError err;
  EXPECT_EQ(JsonCode("{\"a\":\"x\xffy\"}", nullptr, &err), "invalid_utf8");
  EXPECT_NE(err.message.find("0xff"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("offset 7"), std::string::npos) << err.message;
  // Overlong encoding, lone surrogate, truncated sequence.
  EXPECT_EQ(JsonCode("{\"a\":\"\xc0\xaf\"}"), "invalid_utf8");
  EXPECT_EQ(JsonCode("{\"a\":\"\xed\xa0\x80\"}"), "invalid_utf8");
  EXPECT_EQ(JsonCode("{\"a\":\"\xe2\x82\"}"), "invalid_utf8");
  EXPECT_EQ(JsonCode("{\"\xff\":1}"), "invalid_utf8");
}

TEST(JsonDecoderTest, InvalidJson) {
  EventError err;
  EXPECT_EQ(JsonCode(R"({"a":1)", nullptr, &err), "invalid_json");
  EXPECT_NE(err.message.find("improper structure"), std::string::npos) << err.message;
  EXPECT_EQ(JsonCode(R"({"a":NaN})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":Infinity})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":-Infinity})", nullptr, &err), "invalid_json");
  EXPECT_NE(err.message.find("malformed number"), std::string::npos) << err.message;
  EXPECT_EQ(JsonCode(R"({"a":01})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":1.})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":-})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":+1})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":1,})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({a:1})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({'a':1})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":"unterminated})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":"bad \x escape"})"), "invalid_json");
  EXPECT_EQ(JsonCode("{\"a\":\"raw\ttab\"}"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":tru})"), "invalid_json");
  EXPECT_EQ(JsonCode("{"), "invalid_json");
  EXPECT_EQ(JsonCode("}"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":[1,2})"), "invalid_json");
}

TEST(JsonDecoderTest, TrailingBytes) {
  EventError err;
  EXPECT_EQ(JsonCode(R"({"a":1} x)", nullptr, &err), "trailing_bytes");
  EXPECT_NE(err.message.find("offset 8"), std::string::npos) << err.message;
  EXPECT_EQ(JsonCode(R"({"a":1}{"b":2})"), "trailing_bytes");
  EXPECT_EQ(JsonCode(R"({"a":1}})"), "trailing_bytes");
  EXPECT_EQ(JsonCode(R"({"a":1} "x)"), "trailing_bytes");
  EXPECT_EQ(JsonCode(std::string("{\"a\":1}\0", 8)), "trailing_bytes");
  EXPECT_EQ(JsonCode("1 2"), "trailing_bytes");
  // A broken first value is invalid_json whatever follows.
  EXPECT_EQ(JsonCode(R"({"a":} x)"), "invalid_json");
}

TEST(JsonDecoderTest, NotAnObject) {
  EventError err;
  EXPECT_EQ(JsonCode("[1,2]", nullptr, &err), "not_an_object");
  EXPECT_NE(err.message.find("an array"), std::string::npos) << err.message;
  EXPECT_EQ(JsonCode(R"("str")"), "not_an_object");
  EXPECT_EQ(JsonCode("42"), "not_an_object");
  EXPECT_EQ(JsonCode("-1.5"), "not_an_object");
  EXPECT_EQ(JsonCode("null"), "not_an_object");
  EXPECT_EQ(JsonCode("true"), "not_an_object");
  EXPECT_EQ(JsonCode("[]"), "not_an_object");
}

TEST(JsonDecoderTest, DuplicateKey) {
  EventError err;
  EXPECT_EQ(JsonCode(R"({"a":1,"b":2,"a":3})", nullptr, &err), "duplicate_key");
  EXPECT_NE(err.message.find("\"a\""), std::string::npos) << err.message;
  // Same key spelled with an escape.
  EXPECT_EQ(JsonCode(R"({"a":1,"\u0061":2})"), "duplicate_key");
  // Many keys: the sort-based path.
  std::string json = "{";
  for (int i = 0; i < 500; ++i) json += "\"k" + std::to_string(i) + "\":1,";
  json += "\"k250\":2}";
  EXPECT_EQ(JsonCode(json, nullptr, &err), "duplicate_key");
  EXPECT_NE(err.message.find("\"k250\""), std::string::npos) << err.message;
}

TEST(JsonDecoderTest, DuplicateKeyMessageIsBoundedAndEscaped) {
  const std::string key(1000, 'k');
  EventError err;
  EXPECT_EQ(JsonCode("{\"" + key + "\":1,\"" + key + "\":2}", nullptr, &err), "duplicate_key");
  EXPECT_LT(err.message.size(), 200u);
  EXPECT_EQ(JsonCode(R"({"a\nb":1,"a\nb":2})", nullptr, &err), "duplicate_key");
  EXPECT_NE(err.message.find(R"("a\nb")"), std::string::npos) << err.message;
}

TEST(JsonDecoderTest, TooDeepUnclosed) {
  EventError err;
  EXPECT_EQ(JsonCode(std::string(10000, '['), nullptr, &err), "too_deep");
  EXPECT_NE(err.message.find("64"), std::string::npos) << err.message;
  EXPECT_EQ(JsonCode("{\"a\":" + std::string(10000, '[')), "too_deep");
  EXPECT_EQ(JsonCode(std::string(10000, '{')), "too_deep");
}

TEST(JsonDecoderTest, TooDeepBalanced) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  EXPECT_EQ(JsonCode(deep), "too_deep");
  EXPECT_EQ(JsonCode("{\"a\":" + deep + "}"), "too_deep");
}

TEST(JsonDecoderTest, DepthLimitIsExact) {
  // Top-level object is depth 1; each nested array adds one.
  auto nested = [](int arrays) {
    return "{\"a\":" + std::string(arrays, '[') + "1" + std::string(arrays, ']') + "}";
  };
  EXPECT_EQ(JsonCode(nested(2), nullptr, nullptr, 3), "");
  EXPECT_EQ(JsonCode(nested(3), nullptr, nullptr, 3), "too_deep");
  EXPECT_EQ(JsonCode(nested(63)), "");
  EXPECT_EQ(JsonCode(nested(64)), "too_deep");
  EXPECT_EQ(JsonCode("{}", nullptr, nullptr, 1), "");
  EXPECT_EQ(JsonCode(R"({"a":[0]})", nullptr, nullptr, 1), "too_deep");
  // Empty containers are leaves, on both the success and the error path.
  EXPECT_EQ(JsonCode(R"({"a":[], "b":{ }})", nullptr, nullptr, 1), "");
  EXPECT_EQ(JsonCode(R"({"a":[[ ]],"b")", nullptr, nullptr, 2), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":[[0]],"b")", nullptr, nullptr, 2), "too_deep");
  EXPECT_EQ(JsonCode("{}", nullptr, nullptr, 0), "");  // clamped to 1
  // Brackets inside strings do not count.
  EXPECT_EQ(JsonCode("{\"a\":\"" + std::string(500, '[') + "\"}", nullptr, nullptr, 1), "");
}

TEST(JsonDecoderTest, NumberOutOfRange) {
  EventError err;
  EXPECT_EQ(JsonCode(R"({"a":1e999})", nullptr, &err), "number_out_of_range");
  EXPECT_NE(err.message.find("1e999"), std::string::npos) << err.message;
  EXPECT_EQ(JsonCode(R"({"a":-1e999})"), "number_out_of_range");
  EXPECT_EQ(JsonCode(R"({"a":[1,{"b":1E+400}]})"), "number_out_of_range");
  // An integer literal too long even for a double.
  EXPECT_EQ(JsonCode("{\"a\":" + std::string(400, '9') + "}"), "number_out_of_range");
  EXPECT_EQ(JsonCode("{\"a\":[-" + std::string(400, '9') + "]}"), "number_out_of_range");
  // In range at the edges, and underflow to zero is accepted.
  Record r;
  EXPECT_EQ(JsonCode(R"({"a":-9223372036854775808,"b":1e-999,"c":1.7976931348623157e308})", &r),
            "");
  EXPECT_EQ(r.Find("b")->as_number(), 0);
  // The first bad number decides: a malformed one before an overflow.
  EXPECT_EQ(JsonCode(R"({"s":"1e999","a":01,"b":1e999})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"x":1e-999,"b":1e999,"a":01})"), "number_out_of_range");
}

TEST(JsonDecoderTest, BigIntegersBecomeDoubles) {
  // simdjson 3.0 rejects integers outside 64 bits; they are read as doubles.
  Record r;
  ASSERT_EQ(JsonCode(R"({"a":123456789012345678901234567890,"b":18446744073709551616,)"
                     R"("c":-9223372036854775809,"d":[1,99999999999999999999],)"
                     R"("s":"12345678901234567890123"})",
                     &r),
            "");
  EXPECT_EQ(*r.Find("a"), Value::Number(123456789012345678901234567890.0));
  EXPECT_EQ(*r.Find("b"), Value::Number(18446744073709551616.0));
  EXPECT_EQ(*r.Find("c"), Value::Number(-9223372036854775809.0));
  EXPECT_EQ(r.Find("d")->as_string(), "[1,1e+20]");
  EXPECT_EQ(*r.Find("s"), Value::String("12345678901234567890123"));  // strings untouched
  // Other errors in such documents are still diagnosed.
  EXPECT_EQ(JsonCode(R"({"a":18446744073709551616} x)"), "trailing_bytes");
  EXPECT_EQ(JsonCode(R"({"a":18446744073709551616,"b":01})"), "invalid_json");
  EXPECT_EQ(JsonCode(R"({"a":18446744073709551616,"b":1e999})"), "number_out_of_range");
  EXPECT_EQ(JsonCode(R"({"a":18446744073709551616,"a":1})"), "duplicate_key");
  EXPECT_EQ(JsonCode(R"([18446744073709551616])"), "not_an_object");
  EXPECT_EQ(JsonCode(R"({"a":18446744073709551616)"), "invalid_json");
}

TEST(JsonDecoderTest, DecodesWriterOutputForLargeIntegralDoubles) {
  // std::to_chars writes 1.2345678901234568e+20 as a 21-digit integer.
  Record r;
  r.Append("x", Value::Number(123456789012345678901.0));
  Record back;
  ASSERT_EQ(JsonCode(RecordToJson(r), &back), "");
  EXPECT_EQ(back, r);
}

// ----------------------------------------------------------------------- CSV

const std::vector<std::string> kCols = {"a", "b", "c"};

std::string CsvCode(std::string_view line, Record* out = nullptr, EventError* err_out = nullptr,
                    const std::vector<std::string>& cols = kCols, char delim = ',') {
  Record r;
  EventError err;
  const bool ok = DecodeCsv(line, cols, delim, out ? out : &r, &err);
  if (err_out) *err_out = err;
  if (ok) return "";
  EXPECT_EQ(err.stage, "decode");
  EXPECT_FALSE(err.message.empty());
  return err.code;
}

TEST(CsvTest, TypesAndOrder) {
  Record r;
  ASSERT_EQ(CsvCode("42,hello,", &r), "");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r.fields()[0].name, "a");
  EXPECT_EQ(r.fields()[0].value, Value::Number(42));
  EXPECT_EQ(r.fields()[1].value, Value::String("hello"));
  EXPECT_TRUE(r.fields()[2].value.is_null());
  EXPECT_EQ(r.fields()[2].name, "c");
}

TEST(CsvTest, Numbers) {
  Record r;
  ASSERT_EQ(CsvCode("-1.5e3,0.25,7", &r), "");
  EXPECT_EQ(*r.Find("a"), Value::Number(-1500));
  EXPECT_EQ(*r.Find("b"), Value::Number(0.25));
  EXPECT_EQ(*r.Find("c"), Value::Number(7));
  // Not entirely a finite number: kept as text.
  ASSERT_EQ(CsvCode("12abc, 5,nan", &r), "");
  EXPECT_EQ(*r.Find("a"), Value::String("12abc"));
  EXPECT_EQ(*r.Find("b"), Value::String(" 5"));
  EXPECT_EQ(*r.Find("c"), Value::String("nan"));
  ASSERT_EQ(CsvCode("inf,1e999,+3", &r), "");
  EXPECT_EQ(*r.Find("a"), Value::String("inf"));
  EXPECT_EQ(*r.Find("b"), Value::String("1e999"));
  EXPECT_EQ(*r.Find("c"), Value::String("+3"));
}

TEST(CsvTest, Quoting) {
  Record r;
  ASSERT_EQ(CsvCode(R"("a,b","say ""hi""","")", &r), "");
  EXPECT_EQ(*r.Find("a"), Value::String("a,b"));
  EXPECT_EQ(*r.Find("b"), Value::String("say \"hi\""));
  EXPECT_EQ(*r.Find("c"), Value::String(""));  // quoted empty is text, not null
  ASSERT_EQ(CsvCode("\"007\",\"multi\nline\",\"\"\"\"", &r), "");
  EXPECT_EQ(*r.Find("a"), Value::String("007"));  // quoted numbers stay text
  EXPECT_EQ(*r.Find("b"), Value::String("multi\nline"));
  EXPECT_EQ(*r.Find("c"), Value::String("\""));
  // A quote inside an unquoted cell is literal.
  ASSERT_EQ(CsvCode(R"(a"b,x,y)", &r), "");
  EXPECT_EQ(*r.Find("a"), Value::String("a\"b"));
}

TEST(CsvTest, InvalidQuoting) {
  EventError err;
  EXPECT_EQ(CsvCode(R"("open,b,c)", nullptr, &err), "invalid_csv");
  EXPECT_NE(err.message.find("unterminated"), std::string::npos) << err.message;
  EXPECT_EQ(CsvCode(R"("a"x,b,c)", nullptr, &err), "invalid_csv");
  EXPECT_NE(err.message.find("offset 3"), std::string::npos) << err.message;
}

TEST(CsvTest, StripsOneTrailingNewline) {
  Record r;
  ASSERT_EQ(CsvCode("1,2,3\r\n", &r), "");
  EXPECT_EQ(*r.Find("c"), Value::Number(3));
  ASSERT_EQ(CsvCode("1,2,x\n", &r), "");
  EXPECT_EQ(*r.Find("c"), Value::String("x"));
  ASSERT_EQ(CsvCode("1,2,\n", &r), "");
  EXPECT_TRUE(r.Find("c")->is_null());
  ASSERT_EQ(CsvCode("1,2,\"q\"\r\n", &r), "");
  EXPECT_EQ(*r.Find("c"), Value::String("q"));
}

TEST(CsvTest, ColumnCountMismatch) {
  EventError err;
  EXPECT_EQ(CsvCode("1,2", nullptr, &err), "csv_columns");
  EXPECT_NE(err.message.find("expected 3"), std::string::npos) << err.message;
  EXPECT_NE(err.message.find("got 2"), std::string::npos) << err.message;
  EXPECT_EQ(CsvCode("1,2,3,4", nullptr, &err), "csv_columns");
  EXPECT_NE(err.message.find("got 4"), std::string::npos) << err.message;
  EXPECT_EQ(CsvCode("1,2,3,"), "csv_columns");  // trailing delimiter = 4th cell
  EXPECT_EQ(CsvCode("\n"), "csv_columns");
  EXPECT_EQ(CsvCode("\"a,b\",c"), "csv_columns");
}

TEST(JsonDecoderTest, MembersDecodeLikeTheirTextAlone) {
  JsonDecoder d;
  Record outputs, input, alone;
  EventError err;
  const std::vector<std::string> only = {"f", "z"};
  JsonDecoder::Member m[3] = {{"outputs", &outputs}, {"input", &input, &only}, {"absent", &alone}};
  const std::string doc =
      R"({"outputs":{"p":0.1,"big":18446744073709551616,"l":"x","arr":[1, 2.50],"o":{"k":null}},)"
      R"("input":{"g":1,"f":true},"other":[]})";
  ASSERT_TRUE(d.DecodeMembers(doc, m, 3, &err)) << err.message;
  EXPECT_TRUE(m[0].found);
  EXPECT_TRUE(m[1].found);
  EXPECT_FALSE(m[2].found);
  Record expect;
  ASSERT_TRUE(d.Decode(R"({"p":0.1,"big":18446744073709551616,"l":"x","arr":[1, 2.50],"o":{"k":null}})",
                       &expect, &err));
  EXPECT_EQ(outputs, expect);
  ASSERT_EQ(input.size(), 1u);
  EXPECT_EQ(*input.Find("f"), Value::Bool(true));
  // A member that is not an object is not found; the records are cleared.
  JsonDecoder::Member n[1] = {{"outputs", &outputs}};
  ASSERT_TRUE(d.DecodeMembers(R"({"outputs":"text"})", n, 1, &err));
  EXPECT_FALSE(n[0].found);
  EXPECT_EQ(outputs.size(), 0u);
}

TEST(JsonDecoderTest, MembersCheckTheWholeDocument) {
  JsonDecoder d(4);
  Record r;
  EventError err;
  auto code = [&](std::string_view doc) {
    JsonDecoder::Member m[1] = {{"a", &r}};
    return d.DecodeMembers(doc, m, 1, &err) ? std::string() : err.code;
  };
  EXPECT_EQ(code(R"({"a":{"x":1},"b":{"y":1,"y":2}})"), "");  // only decoded members are checked inside
  EXPECT_EQ(code(R"({"a":{"x":1,"x":2}})"), "duplicate_key");
  EXPECT_EQ(code(R"({"a":{"x":1},"a":{"x":2}})"), "duplicate_key");
  EXPECT_EQ(code(R"({"a":{"x":1}} 1)"), "trailing_bytes");
  EXPECT_EQ(code(R"({"a":{"x":1e999}})"), "number_out_of_range");
  EXPECT_EQ(code(R"({"a":{"x":[[[[1]]]]}})"), "too_deep");
  EXPECT_EQ(code(R"("a")"), "not_an_object");
  EXPECT_EQ(code(""), "empty_value");
}

TEST(CsvTest, OtherDelimiterAndSingleColumn) {
  Record r;
  ASSERT_EQ(CsvCode("x\t\"a\tb\"\t3", &r, nullptr, kCols, '\t'), "");
  EXPECT_EQ(*r.Find("b"), Value::String("a\tb"));
  ASSERT_EQ(CsvCode("1;2;3", &r, nullptr, kCols, ';'), "");
  EXPECT_EQ(*r.Find("b"), Value::Number(2));
  const std::vector<std::string> one = {"only"};
  ASSERT_EQ(CsvCode("\n", &r, nullptr, one), "");
  EXPECT_TRUE(r.Find("only")->is_null());
  ASSERT_EQ(CsvCode("a,b", &r, nullptr, one, ';'), "");
  EXPECT_EQ(*r.Find("only"), Value::String("a,b"));
}

TEST(CsvTest, EmptyAndInvalidUtf8) {
  EventError err;
  EXPECT_EQ(CsvCode(""), "empty_value");
  EXPECT_EQ(CsvCode("a,\xff,c", nullptr, &err), "invalid_utf8");
  EXPECT_NE(err.message.find("offset 2"), std::string::npos) << err.message;
  EXPECT_EQ(CsvCode("a,\"\xc3\",c"), "invalid_utf8");
}

TEST(CsvTest, ClearsOutputAndReuses) {
  Record r;
  EventError err;
  for (int i = 0; i < 1000; ++i) {
    const std::string line = std::to_string(i) + ",\"x" + std::to_string(i) + "\",";
    ASSERT_TRUE(DecodeCsv(line, kCols, ',', &r, &err)) << err.message;
    ASSERT_EQ(r.size(), 3u);
    ASSERT_EQ(*r.Find("a"), Value::Number(i));
    ASSERT_EQ(*r.Find("b"), Value::String("x" + std::to_string(i)));
  }
}

// ---------------------------------------------------------------------- Text

TEST(TextTest, WholeValueIntoField) {
  Record r;
  EventError err;
  ASSERT_TRUE(DecodeText("hello, world", "msg", &r, &err));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(*r.Find("msg"), Value::String("hello, world"));
  ASSERT_TRUE(DecodeText("line\n", "msg", &r, &err));
  EXPECT_EQ(*r.Find("msg"), Value::String("line"));
  ASSERT_TRUE(DecodeText("crlf\r\n", "msg", &r, &err));
  EXPECT_EQ(*r.Find("msg"), Value::String("crlf"));
  ASSERT_TRUE(DecodeText("two\n\n", "msg", &r, &err));  // only one newline stripped
  EXPECT_EQ(*r.Find("msg"), Value::String("two\n"));
  ASSERT_TRUE(DecodeText("multi\nline", "msg", &r, &err));
  EXPECT_EQ(*r.Find("msg"), Value::String("multi\nline"));
  ASSERT_TRUE(DecodeText("42", "msg", &r, &err));  // never a number
  EXPECT_EQ(*r.Find("msg"), Value::String("42"));
  ASSERT_TRUE(DecodeText("\n", "msg", &r, &err));
  EXPECT_EQ(*r.Find("msg"), Value::String(""));
}

TEST(TextTest, Errors) {
  Record r;
  EventError err;
  EXPECT_FALSE(DecodeText("", "msg", &r, &err));
  EXPECT_EQ(err.stage, "decode");
  EXPECT_EQ(err.code, "empty_value");
  EXPECT_FALSE(DecodeText("ok\xff", "msg", &r, &err));
  EXPECT_EQ(err.code, "invalid_utf8");
  EXPECT_NE(err.message.find("offset 2"), std::string::npos) << err.message;
  EXPECT_FALSE(DecodeText(std::string_view("a\0\xfe", 3), "msg", &r, &err));
  EXPECT_EQ(err.code, "invalid_utf8");
}

}  // namespace
}  // namespace evs::codec
