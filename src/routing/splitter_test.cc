#include "routing/splitter.h"

#include <string>

#include "gtest/gtest.h"

namespace evs::routing {
namespace {

config::Route MakeRoute(double a, double b, std::string salt = "exp1") {
  config::Route r;
  r.name = "r";
  r.salt = std::move(salt);
  r.variants.push_back({"a", "job", "m1", a, false});
  r.variants.push_back({"b", "job", "m2", b, false});
  r.variants.push_back({"s", "job", "m3", 0, true});
  return r;
}

TEST(SplitterTest, NinetyTenWithinTwoPercentOverTenThousandKeys) {
  Splitter s(MakeRoute(90, 10));
  int a = 0;
  for (int i = 0; i < 10000; ++i) a += s.Pick("user-" + std::to_string(i)) == 0;
  EXPECT_NEAR(a / 10000.0, 0.9, 0.02);
  EXPECT_EQ(s.shadows(), std::vector<size_t>{2});
}

TEST(SplitterTest, SameKeySameVariantAcrossInstances) {
  Splitter s1(MakeRoute(50, 50)), s2(MakeRoute(50, 50));
  for (int i = 0; i < 1000; ++i) {
    std::string k = "k" + std::to_string(i);
    EXPECT_EQ(s1.Pick(k), s2.Pick(k));
  }
}

TEST(SplitterTest, SaltChangesAssignment) {
  Splitter s1(MakeRoute(50, 50, "x")), s2(MakeRoute(50, 50, "y"));
  int differ = 0;
  for (int i = 0; i < 1000; ++i) differ += s1.Pick(std::to_string(i)) != s2.Pick(std::to_string(i));
  EXPECT_GT(differ, 300);
}

TEST(SplitterTest, ZeroWeightVariantNeverPicked) {
  Splitter s(MakeRoute(0, 5));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(s.Pick(std::to_string(i)), 1u);
}

}  // namespace
}  // namespace evs::routing
