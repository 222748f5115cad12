// SQLTransformer: the statements Spark pipelines use, Spark SQL's typing and
// null rules, generated column names, and load-time errors for the rest.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "spark/pipeline.h"
#include "spark/stage.h"
#include "spark/test_util.h"

namespace evs::spark {
namespace {

constexpr char kSqlClass[] = "org.apache.spark.ml.feature.SQLTransformer";

std::string Field(const std::string& name, const std::string& type) {
  // "vector": Spark's VectorUDT as StructType JSON writes it.
  const std::string t =
      type == "vector"
          ? "{\"type\":\"udt\",\"class\":\"org.apache.spark.ml.linalg.VectorUDT\",\"pyClass\":"
            "\"pyspark.ml.linalg.VectorUDT\",\"sqlType\":{\"type\":\"struct\",\"fields\":["
            "{\"name\":\"type\",\"type\":\"byte\",\"nullable\":false,\"metadata\":{}},"
            "{\"name\":\"size\",\"type\":\"integer\",\"nullable\":true,\"metadata\":{}},"
            "{\"name\":\"indices\",\"type\":{\"type\":\"array\",\"elementType\":\"integer\",\"containsNull\":false},\"nullable\":true,\"metadata\":{}},"
            "{\"name\":\"values\",\"type\":{\"type\":\"array\",\"elementType\":\"double\",\"containsNull\":false},\"nullable\":true,\"metadata\":{}}]}}"
          : "\"" + type + "\"";
  return "{\"name\":\"" + name + "\",\"type\":" + t + ",\"nullable\":true,\"metadata\":{}}";
}

std::string Struct(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string s = "{\"type\":\"struct\",\"fields\":[";
  for (size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + Field(fields[i].first, fields[i].second);
  return s + "]}";
}

// One compiled SQLTransformer over a declared input schema, and a row.
struct Sql {
  Schema schema;
  std::unique_ptr<Stage> stage;
  Row row;

  int Slot(const std::string& name) const { return schema.Find(name); }
  void SetNum(const std::string& col, double v) { row.cells.at(Slot(col)).SetNumber(v); }
  void SetStr(const std::string& col, const std::string& v) { row.cells.at(Slot(col)).SetString(v); }
  void SetNull(const std::string& col) { row.cells.at(Slot(col)).SetNull(); }
  const Cell& Out(const std::string& col) const { return row.cells.at(Slot(col)); }
  absl::Status Run() {
    row.filtered = false;
    return stage->Apply(row);
  }
};

absl::StatusOr<std::unique_ptr<Sql>> Compile(const std::string& statement,
                                             const std::vector<std::pair<std::string, std::string>>& fields) {
  auto sql = std::make_unique<Sql>();
  auto schema = Schema::FromStructType(Struct(fields));
  if (!schema.ok()) return schema.status();
  sql->schema = std::move(*schema);
  for (const auto& f : fields) {
    auto slot = sql->schema.Require(f.first, DataType::kDouble);
    if (!slot.ok()) return slot.status();
  }
  StageRegistry registry;
  RegisterSqlStages(registry);
  const StageFactory* factory = registry.Find(kSqlClass);
  if (factory == nullptr) return absl::NotFoundError("SQLTransformer is not registered");
  StageMeta meta = testing::Meta(kSqlClass, {{"statement", statement}});
  auto stage = (*factory)(meta, sql->schema);
  if (!stage.ok()) return stage.status();
  sql->stage = std::move(*stage);
  sql->row.cells.resize(sql->schema.num_slots());
  return sql;
}

std::unique_ptr<Sql> MustCompile(const std::string& statement,
                                 const std::vector<std::pair<std::string, std::string>>& fields) {
  auto sql = Compile(statement, fields);
  EXPECT_TRUE(sql.ok()) << sql.status();
  return sql.ok() ? std::move(*sql) : nullptr;
}

// Evaluates `expr` (as column "r") with x and y bound; returns the cell.
Cell Eval1(const std::string& expr, double x, double y = 0, const std::string& xtype = "double",
           const std::string& ytype = "double") {
  auto sql = MustCompile("SELECT *, " + expr + " AS r FROM __THIS__", {{"x", xtype}, {"y", ytype}});
  if (!sql) return Cell();
  sql->SetNum("x", x);
  sql->SetNum("y", y);
  absl::Status st = sql->Run();
  EXPECT_TRUE(st.ok()) << st;
  return sql->Out("r");
}

TEST(SqlTransformer, RatioOfIncomeAndHoursLikeTheAuditPipeline) {
  auto sql = MustCompile("SELECT *, (Income / (Hours * 52)) AS Hourly_Income FROM __THIS__",
                         {{"Income", "double"}, {"Hours", "integer"}});
  ASSERT_TRUE(sql);
  EXPECT_EQ(sql->schema.column(sql->Slot("Hourly_Income")).type, DataType::kDouble);
  sql->SetNum("Income", 81838.0);
  sql->SetNum("Hours", 72);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("Hourly_Income").num, 81838.0 / static_cast<double>(72 * 52));
  sql->SetNum("Hours", 0);  // division by zero is null in Spark
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->Out("Hourly_Income").is_null());
  sql->SetNull("Income");
  sql->SetNum("Hours", 40);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->Out("Hourly_Income").is_null());
  // The input columns stay visible (SELECT *).
  EXPECT_GE(sql->Slot("Income"), 0);
  EXPECT_GE(sql->Slot("Hours"), 0);
}

TEST(SqlTransformer, ConcatCastsNumbersTheWaySparkPrintsThem) {
  auto sql = MustCompile("SELECT *, CONCAT(origin, \"/\", cylinders) AS origin_cylinders FROM __THIS__",
                         {{"origin", "integer"}, {"cylinders", "integer"}});
  ASSERT_TRUE(sql);
  sql->SetNum("origin", 1);
  sql->SetNum("cylinders", 8);
  ASSERT_TRUE(sql->Run().ok());
  ASSERT_EQ(sql->Out("origin_cylinders").kind, Cell::Kind::kString);
  EXPECT_EQ(sql->Out("origin_cylinders").str, "1/8");
  EXPECT_EQ(sql->schema.column(sql->Slot("origin_cylinders")).type, DataType::kString);

  auto dbl = MustCompile("SELECT *, concat(origin, '/', cylinders) AS oc FROM __THIS__",
                         {{"origin", "string"}, {"cylinders", "double"}});
  ASSERT_TRUE(dbl);
  dbl->SetStr("origin", "US");
  dbl->SetNum("cylinders", 8);
  ASSERT_TRUE(dbl->Run().ok());
  EXPECT_EQ(dbl->Out("oc").str, "US/8.0");
  dbl->SetNull("cylinders");  // concat of a null is null
  ASSERT_TRUE(dbl->Run().ok());
  EXPECT_TRUE(dbl->Out("oc").is_null());
}

TEST(SqlTransformer, UnaliasedItemGetsSparksGeneratedName) {
  // GLMVisit: RFormula's assembler later reads "(IF((married = 1), 0, 1))".
  auto sql = MustCompile("SELECT *, IF(female == 1, 'M', 'F') AS gender, IF(married == 1, 0, 1) FROM __THIS__",
                         {{"female", "integer"}, {"married", "integer"}});
  ASSERT_TRUE(sql);
  const int unnamed = sql->Slot("(IF((married = 1), 0, 1))");
  ASSERT_GE(unnamed, 0);
  EXPECT_EQ(sql->schema.column(unnamed).type, DataType::kInteger);
  sql->SetNum("female", 1);
  sql->SetNum("married", 0);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("gender").str, "M");
  EXPECT_EQ(sql->row.cells[unnamed].num, 1);
  sql->SetNull("female");  // a null condition takes the ELSE branch
  sql->SetNum("married", 1);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("gender").str, "F");
  EXPECT_EQ(sql->row.cells[unnamed].num, 0);
}

TEST(SqlTransformer, ColumnListKeepsOnlyTheListedColumns) {
  auto sql = MustCompile("SELECT Adjusted, prob, Age FROM __THIS__",
                         {{"Adjusted", "integer"}, {"prob", "vector"}, {"Age", "integer"}, {"Income", "double"}});
  ASSERT_TRUE(sql);
  EXPECT_GE(sql->Slot("Adjusted"), 0);
  EXPECT_GE(sql->Slot("prob"), 0);
  EXPECT_EQ(sql->Slot("Income"), -1);
  EXPECT_TRUE(sql->stage->writes.empty());  // kept columns keep their slots

  // A renamed column is copied, vectors included.
  auto renamed = MustCompile("SELECT prob AS p, `Age` + 1 AS older FROM __THIS__",
                             {{"prob", "vector"}, {"Age", "integer"}});
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->Slot("prob"), -1);
  int prob = -1, age = -1;
  for (int s = 0; s < static_cast<int>(renamed->schema.num_slots()); ++s) {
    if (renamed->schema.column(s).name == "prob" && renamed->schema.column(s).is_input) prob = s;
    if (renamed->schema.column(s).name == "Age" && renamed->schema.column(s).is_input) age = s;
  }
  ASSERT_GE(prob, 0);
  ASSERT_GE(age, 0);
  Vector& v = renamed->row.cells[prob].MutableVector();
  v.SetDense(2);
  v.values = {0.25, 0.75};
  renamed->row.cells[age].SetNumber(40);
  ASSERT_TRUE(renamed->Run().ok());
  ASSERT_EQ(renamed->Out("p").kind, Cell::Kind::kVector);
  EXPECT_EQ(renamed->Out("p").vec.values, (std::vector<double>{0.25, 0.75}));
  EXPECT_EQ(renamed->Out("older").num, 41);
}

TEST(SqlTransformer, CaseWhenPicksTheFirstTrueBranch) {
  const std::string stmt =
      "\n\tSELECT\n\t\tp1, p2,\n\t\tCASE\n\t\t\tWHEN p1 >= 0.5 THEN 'A'\n\t\t\tWHEN p2 >= 0.5 THEN 'B'\n"
      "\t\t\tELSE '(mixed)'\n\t\tEND AS Decision\n\tFROM __THIS__\n";
  auto sql = MustCompile(stmt, {{"p1", "double"}, {"p2", "double"}});
  ASSERT_TRUE(sql);
  sql->SetNum("p1", 0.7);
  sql->SetNum("p2", 0.6);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("Decision").str, "A");
  sql->SetNum("p1", 0.2);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("Decision").str, "B");
  sql->SetNull("p1");
  sql->SetNum("p2", 0.1);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("Decision").str, "(mixed)");

  // No ELSE: null. Mixed int/double branches: double.
  auto no_else = MustCompile("SELECT *, CASE WHEN x > 0 THEN 1 WHEN x < 0 THEN 0.5 END AS r FROM __THIS__",
                             {{"x", "double"}});
  ASSERT_TRUE(no_else);
  EXPECT_EQ(no_else->schema.column(no_else->Slot("r")).type, DataType::kDouble);
  no_else->SetNum("x", 0);
  ASSERT_TRUE(no_else->Run().ok());
  EXPECT_TRUE(no_else->Out("r").is_null());
  no_else->SetNum("x", -3);
  ASSERT_TRUE(no_else->Run().ok());
  EXPECT_EQ(no_else->Out("r").num, 0.5);

  // Simple form.
  Cell c = Eval1("CASE x WHEN 1 THEN 'one' WHEN 2 THEN 'two' ELSE 'many' END", 2);
  EXPECT_EQ(c.str, "two");
}

TEST(SqlTransformer, IntegerArithmeticStaysIntegerAndDivisionIsDouble) {
  auto sql = MustCompile(
      "SELECT *, a + b AS s, a * b AS p, a % b AS m, a / b AS d, a DIV b AS q, -a AS n, a + 0.5 AS h FROM __THIS__",
      {{"a", "integer"}, {"b", "integer"}});
  ASSERT_TRUE(sql);
  EXPECT_EQ(sql->schema.column(sql->Slot("s")).type, DataType::kInteger);
  EXPECT_EQ(sql->schema.column(sql->Slot("d")).type, DataType::kDouble);
  EXPECT_EQ(sql->schema.column(sql->Slot("q")).type, DataType::kLong);
  EXPECT_EQ(sql->schema.column(sql->Slot("h")).type, DataType::kDouble);
  sql->SetNum("a", -7);
  sql->SetNum("b", 2);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("s").num, -5);
  EXPECT_EQ(sql->Out("p").num, -14);
  EXPECT_EQ(sql->Out("m").num, -1);  // sign of the dividend, as the JVM
  EXPECT_EQ(sql->Out("d").num, -3.5);
  EXPECT_EQ(sql->Out("q").num, -3);
  EXPECT_EQ(sql->Out("n").num, 7);
  EXPECT_EQ(sql->Out("h").num, -6.5);
  // 32-bit overflow wraps, as Spark's non-ANSI IntegerType.
  sql->SetNum("a", 2147483647);
  sql->SetNum("b", 1);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("s").num, -2147483648.0);
  sql->SetNum("b", 0);  // remainder and division by zero: null
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->Out("m").is_null());
  EXPECT_TRUE(sql->Out("d").is_null());
  EXPECT_TRUE(sql->Out("q").is_null());

  EXPECT_EQ(Eval1("x % y", 7.5, 2).num, 1.5);
  EXPECT_EQ(Eval1("2 * (x - 1) / 4", 3).num, 1.0);
}

TEST(SqlTransformer, RoundIsHalfUpOnTheDecimalForm) {
  EXPECT_EQ(Eval1("round(x)", 2.5).num, 3.0);
  EXPECT_EQ(Eval1("round(x)", -2.5).num, -3.0);
  EXPECT_EQ(Eval1("round(x, 2)", 2.675).num, 2.68);  // the double is 2.67499999..., Spark reads "2.675"
  EXPECT_EQ(Eval1("round(x, 2)", 1.005).num, 1.01);
  EXPECT_EQ(Eval1("round(x, 1)", 0.04).num, 0.0);
  EXPECT_EQ(Eval1("round(x, -1)", 1234.5).num, 1230.0);
  EXPECT_EQ(Eval1("round(x, 3)", 1e-20).num, 0.0);
  EXPECT_EQ(Eval1("round(x, 0)", 99.5).num, 100.0);
  EXPECT_EQ(Eval1("bround(x)", 2.5).num, 2.0);
  EXPECT_EQ(Eval1("bround(x)", 3.5).num, 4.0);
  EXPECT_EQ(Eval1("round(x, -1)", 15, 0, "integer").num, 20);
  EXPECT_EQ(Eval1("round(x, -1)", -15, 0, "integer").num, -20);
  EXPECT_TRUE(std::isnan(Eval1("round(x, 2)", std::nan("")).num));
}

TEST(SqlTransformer, NullsPropagateAndLogicIsThreeValued) {
  auto sql = MustCompile(
      "SELECT *, (x > 1) AND (y > 1) AS a, (x > 1) OR (y > 1) AS o, NOT (x > 1) AS n, x + y AS s, "
      "isnull(x) AS xn, y IS NOT NULL AS yn, coalesce(x, y, 0) AS c FROM __THIS__",
      {{"x", "double"}, {"y", "double"}});
  ASSERT_TRUE(sql);
  EXPECT_EQ(sql->schema.column(sql->Slot("a")).type, DataType::kBoolean);
  sql->SetNull("x");
  sql->SetNum("y", 0);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("a").num, 0);  // null AND false = false
  EXPECT_TRUE(sql->Out("o").is_null());
  EXPECT_TRUE(sql->Out("n").is_null());
  EXPECT_TRUE(sql->Out("s").is_null());
  EXPECT_EQ(sql->Out("xn").num, 1);
  EXPECT_EQ(sql->Out("yn").num, 1);
  EXPECT_EQ(sql->Out("c").num, 0);
  sql->SetNum("y", 5);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->Out("a").is_null());  // null AND true = null
  EXPECT_EQ(sql->Out("o").num, 1);       // null OR true = true
  EXPECT_EQ(sql->Out("c").num, 5);
}

TEST(SqlTransformer, CastsFollowSpark) {
  auto sql = MustCompile(
      "SELECT *, CAST(s AS INT) AS i, CAST(s AS DOUBLE) AS d, CAST(x AS INT) AS xi, CAST(x AS STRING) AS xs, "
      "CAST(s AS BOOLEAN) AS b, CAST(n AS STRING) AS ns FROM __THIS__",
      {{"s", "string"}, {"x", "double"}, {"n", "integer"}});
  ASSERT_TRUE(sql);
  sql->SetStr("s", " 12 ");
  sql->SetNum("x", -3.7);
  sql->SetNum("n", 42);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("i").num, 12);
  EXPECT_EQ(sql->Out("d").num, 12.0);
  EXPECT_EQ(sql->Out("xi").num, -3);  // truncation toward zero
  EXPECT_EQ(sql->Out("xs").str, "-3.7");
  EXPECT_TRUE(sql->Out("b").is_null());
  EXPECT_EQ(sql->Out("ns").str, "42");
  sql->SetStr("s", "abc");
  sql->SetNum("x", 1e-5);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->Out("i").is_null());
  EXPECT_TRUE(sql->Out("d").is_null());
  EXPECT_EQ(sql->Out("xs").str, "1.0E-5");
  sql->SetStr("s", "Yes");
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("b").num, 1);
  EXPECT_EQ(sql->schema.column(sql->Slot("b")).type, DataType::kBoolean);
}

TEST(SqlTransformer, MathAndStringFunctions) {
  EXPECT_EQ(Eval1("abs(x)", -2.5).num, 2.5);
  EXPECT_EQ(Eval1("sqrt(x)", 16).num, 4.0);
  EXPECT_TRUE(std::isnan(Eval1("sqrt(x)", -1).num));
  EXPECT_EQ(Eval1("exp(x)", 1).num, std::exp(1.0));
  EXPECT_EQ(Eval1("ln(x)", 10).num, std::log(10.0));
  EXPECT_TRUE(Eval1("log(x)", 0).is_null());  // log of <= 0 is null
  EXPECT_EQ(Eval1("log(2, x)", 8).num, std::log(8.0) / std::log(2.0));
  EXPECT_EQ(Eval1("log10(x)", 1000).num, 3.0);
  EXPECT_EQ(Eval1("pow(x, y)", 2, 10).num, 1024.0);
  EXPECT_EQ(Eval1("power(x, 0.5)", 9).num, 3.0);
  EXPECT_EQ(Eval1("floor(x)", -1.5).num, -2.0);
  EXPECT_EQ(Eval1("ceil(x)", 1.2).num, 2.0);
  EXPECT_EQ(Eval1("greatest(x, y, 3)", 1, 7).num, 7.0);
  EXPECT_EQ(Eval1("least(x, y, 3)", 1, 7).num, 1.0);
  EXPECT_TRUE(std::isnan(Eval1("greatest(x, y)", std::nan(""), 7).num));  // NaN is the largest

  auto sql = MustCompile("SELECT *, lower(s) AS lo, upper(s) AS up, length(s) AS len, greatest(x, y) AS g FROM __THIS__",
                         {{"s", "string"}, {"x", "double"}, {"y", "double"}});
  ASSERT_TRUE(sql);
  sql->SetStr("s", "MiXed é");
  sql->SetNull("x");
  sql->SetNum("y", 2);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("lo").str, "mixed é");
  EXPECT_EQ(sql->Out("up").str, "MIXED é");
  EXPECT_EQ(sql->Out("len").num, 7);  // characters, not bytes
  EXPECT_EQ(sql->Out("g").num, 2);    // greatest skips nulls
  EXPECT_EQ(sql->schema.column(sql->Slot("len")).type, DataType::kInteger);
}

TEST(SqlTransformer, ComparisonsOfStringsAndNumbers) {
  auto sql = MustCompile("SELECT *, s = 'a' AS eq, s <> 'a' AS ne, x >= 2 AS ge, x <=> y AS ns FROM __THIS__",
                         {{"s", "string"}, {"x", "double"}, {"y", "double"}});
  ASSERT_TRUE(sql);
  sql->SetStr("s", "a");
  sql->SetNum("x", 2);
  sql->SetNull("y");
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("eq").num, 1);
  EXPECT_EQ(sql->Out("ne").num, 0);
  EXPECT_EQ(sql->Out("ge").num, 1);
  EXPECT_EQ(sql->Out("ns").num, 0);  // null-safe: 2 <=> null is false
  // NaN equals NaN in Spark SQL.
  EXPECT_EQ(Eval1("x = y", std::nan(""), std::nan("")).num, 1);
  EXPECT_EQ(Eval1("x > y", std::nan(""), 1e308).num, 1);
}

TEST(SqlTransformer, WhereFiltersRows) {
  auto sql = MustCompile("SELECT *, x * 2 AS x2 FROM __THIS__ WHERE x > 0", {{"x", "double"}});
  ASSERT_TRUE(sql);
  sql->SetNum("x", 3);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_FALSE(sql->row.filtered);
  EXPECT_EQ(sql->Out("x2").num, 6);
  sql->SetNum("x", -1);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->row.filtered);
  EXPECT_NE(sql->row.filter_reason.find("WHERE"), std::string::npos);
}

TEST(SqlTransformer, UnsupportedStatementsFailAtLoadNamingTheStage) {
  const std::vector<std::pair<std::string, std::string>> fields = {{"x", "double"}, {"s", "string"}};
  for (const std::string& stmt : {
           std::string("SELECT x FROM other"),
           std::string("SELECT count(*) FROM __THIS__"),
           std::string("SELECT x FROM __THIS__ GROUP BY x"),
           std::string("SELECT a.x FROM __THIS__ a JOIN __THIS__ b ON a.x = b.x"),
           std::string("SELECT *, regexp_replace(s, 'a', 'b') AS r FROM __THIS__"),
           std::string("SELECT *, s LIKE 'a%' AS r FROM __THIS__"),
           std::string("SELECT *, (x + 1) IN (1, 2) AS r FROM __THIS__"),
           std::string("UPDATE __THIS__ SET x = 1"),
           std::string("SELECT DISTINCT x FROM __THIS__"),
           std::string("SELECT *, 'open FROM __THIS__"),
       }) {
    auto sql = Compile(stmt, fields);
    ASSERT_FALSE(sql.ok()) << stmt;
    EXPECT_NE(sql.status().message().find("SQLTransformer test_uid: unsupported SQL"), std::string::npos)
        << sql.status().message();
  }
  // An unknown column of a declared schema names the column.
  auto missing = Compile("SELECT *, nope + 1 AS r FROM __THIS__", fields);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos) << missing.status().message();
}

TEST(SqlTransformer, InAndBetweenFollowSqlNullRules) {
  auto sql = MustCompile(
      "SELECT *, x IN (1, 2, y) AS i, x NOT IN (1, 2) AS ni, x BETWEEN 1 AND y AS b, s IN ('a', 'b') AS si "
      "FROM __THIS__ WHERE x NOT BETWEEN 10 AND 20",
      {{"x", "double"}, {"y", "double"}, {"s", "string"}});
  ASSERT_TRUE(sql);
  sql->SetNum("x", 2);
  sql->SetNull("y");
  sql->SetStr("s", "b");
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_FALSE(sql->row.filtered);
  EXPECT_EQ(sql->Out("i").num, 1);
  EXPECT_EQ(sql->Out("ni").num, 0);
  EXPECT_TRUE(sql->Out("b").is_null());  // 2 >= 1 AND 2 <= null
  EXPECT_EQ(sql->Out("si").num, 1);
  sql->SetNum("x", 3);  // no match and a null in the list: null
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->Out("i").is_null());
  EXPECT_EQ(sql->Out("ni").num, 1);
  sql->SetNum("x", 15);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_TRUE(sql->row.filtered);
  // Unaliased: Spark's generated name.
  auto named = MustCompile("SELECT *, x IN (1, 2) FROM __THIS__", {{"x", "integer"}});
  ASSERT_TRUE(named);
  EXPECT_GE(named->Slot("(x IN (1, 2))"), 0);
}

TEST(SqlTransformer, ColumnNamesResolveCaseInsensitively) {
  auto sql = MustCompile("SELECT *, INCOME * 2 AS double_income FROM __THIS__", {{"Income", "double"}});
  ASSERT_TRUE(sql);
  sql->SetNum("Income", 21);
  ASSERT_TRUE(sql->Run().ok());
  EXPECT_EQ(sql->Out("double_income").num, 42);
}


TEST(SqlTransformer, UndeclaredInputsTakeTheTypeTheirFunctionNeeds) {
  Schema schema;  // no declared StructType: inputs are created on first use
  StageRegistry registry;
  RegisterSqlStages(registry);
  StageMeta meta = testing::Meta(kSqlClass, {{"statement", "SELECT *, concat(origin, '/', n) AS o, x * 2 AS x2 FROM __THIS__"}});
  auto stage = (*registry.Find(kSqlClass))(meta, schema);
  ASSERT_TRUE(stage.ok()) << stage.status();
  EXPECT_EQ(schema.column(schema.Find("origin")).type, DataType::kString);
  EXPECT_EQ(schema.column(schema.Find("x")).type, DataType::kDouble);
}

// The corpus pipelines with SQLTransformer stages load (skipped without the
// corpus), and the Audit ratio column has Spark's values.
TEST(SqlTransformerCorpus, CorpusStatementsCompileAndEvaluate) {
  int loaded = 0;
  for (const std::string version : {"spark-2.4.0", "spark-3.0", "spark-3.5"}) {
    const auto dir = testing::SparkCorpus(version);
    if (dir.empty()) continue;
    for (const std::string name : {"LogisticRegressionAudit", "LinearRegressionAuto", "GLMVisit", "ModelChainAudit"}) {
      const std::string dataset = name == "GLMVisit" ? "Visit" : (name == "LinearRegressionAuto" ? "Auto" : "Audit");
      std::ifstream schema_in(dir / "schema" / (dataset + ".json"));
      std::stringstream ss;
      ss << schema_in.rdbuf();
      LoadOptions opts;
      opts.schema_json = ss.str();
      auto p = Pipeline::Load((dir / "pipeline" / (name + ".zip")).string(), opts);
      ASSERT_TRUE(p.ok()) << version << "/" << name << ": " << p.status();
      ++loaded;
      if (name != "LogisticRegressionAudit") continue;
      const int out = (*p)->Find("Hourly_Income");
      ASSERT_GE(out, 0);
      const testing::Csv csv = testing::ReadCsv(dir / "csv" / "Audit.csv");
      auto row = (*p)->NewRow();
      for (size_t r = 0; r < 20 && r < csv.rows.size(); ++r) {
        (*p)->BeginRow(*row);
        for (size_t k = 0; k < (*p)->inputs().size(); ++k) {
          const int c = csv.Col((*p)->inputs()[k].name);
          if (c < 0 || csv.rows[r][c].empty() || csv.rows[r][c] == "N/A") continue;
          ASSERT_TRUE((*p)->SetInput(*row, static_cast<int>(k), csv.rows[r][c]).ok());
        }
        ASSERT_TRUE((*p)->Run(*row).ok());
        const double income = std::stod(csv.rows[r][csv.Col("Income")]);
        const double hours = std::stod(csv.rows[r][csv.Col("Hours")]);
        EXPECT_EQ((*p)->Get(*row, out).num, income / (hours * 52)) << "row " << r + 1;
      }
    }
  }
  if (loaded == 0) GTEST_SKIP() << "no Spark corpus";
}

}  // namespace
}  // namespace evs::spark
