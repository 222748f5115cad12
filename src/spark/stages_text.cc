// Spark's text feature stages: Tokenizer, RegexTokenizer, StopWordsRemover,
// NGram, HashingTF, CountVectorizerModel, IDFModel.
//
// Strings follow Java semantics where Spark relies on them: lowercasing is
// String.toLowerCase (Unicode simple mappings, U+0130 and the final-sigma
// rule, Turkish/Azeri dotted/dotless i for StopWordsRemover's locale),
// token lengths count UTF-16 units, and RegexTokenizer patterns are Java
// regexes translated to ECMAScript and run over code points (std::wregex,
// wchar_t is UTF-32 here). Constructs whose Java meaning the translation
// cannot keep (lookbehind, possessive quantifiers, class intersections,
// Unicode properties, \b, most inline flags) are rejected at load time.
//
// Steady state: the regex and hash stages reuse the row's cells; text stages
// allocate per token when a token outgrows the cell's string capacity.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cwchar>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "spark/stage.h"

namespace evs::spark {
namespace {

// ---------------------------------------------------------------------------
// UTF-8 <-> code points. Invalid bytes decode to themselves as U+DC80+byte
// surrogates (never produced by valid UTF-8) so they round-trip unchanged.

bool DecodeOne(std::string_view s, size_t& i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    ++i;
    return true;
  }
  const int n = b0 >= 0xF0 && b0 < 0xF5 ? 3 : b0 >= 0xE0 && b0 < 0xF0 ? 2 : b0 >= 0xC2 && b0 < 0xE0 ? 1 : -1;
  auto invalid = [&] {
    cp = 0xDC00 + b0;
    ++i;
    return false;
  };
  if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return invalid();
  char32_t v = b0 & (0x3F >> n);
  for (int k = 1; k <= n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return invalid();
    v = (v << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return invalid();
  cp = v;
  i += n + 1;
  return true;
}

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) { out.push_back(static_cast<char>(cp - 0xDC00)); return; }
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void ToCodePoints(std::string_view s, std::wstring& out) {
  out.clear();
  size_t i = 0;
  char32_t cp;
  while (i < s.size()) {
    DecodeOne(s, i, cp);
    out.push_back(static_cast<wchar_t>(cp));
  }
}

void ToUtf8(const wchar_t* b, const wchar_t* e, std::string& out) {
  out.clear();
  for (; b != e; ++b) AppendUtf8(static_cast<char32_t>(*b), out);
}

// Java String.length(): UTF-16 code units.
int64_t Utf16Length(const wchar_t* b, const wchar_t* e) {
  int64_t n = 0;
  for (; b != e; ++b) n += static_cast<char32_t>(*b) > 0xFFFF ? 2 : 1;
  return n;
}

// ---------------------------------------------------------------------------
// Java String.toLowerCase(Locale).

struct LowerRun { char32_t first, last; int32_t delta; int32_t stride; };
struct CpRange { char32_t first, last; };

// Generated from the Unicode 14.0.0 character database (python3 unicodedata).
// Simple lowercase mappings as runs {first, last, delta, stride}.
constexpr LowerRun kLowerRuns[] = {
    {0x41, 0x5A, 32, 1},
    {0xC0, 0xD6, 32, 1},
    {0xD8, 0xDE, 32, 1},
    {0x100, 0x12E, 1, 2},
    {0x132, 0x136, 1, 2},
    {0x139, 0x147, 1, 2},
    {0x14A, 0x176, 1, 2},
    {0x178, 0x178, -121, 1},
    {0x179, 0x17D, 1, 2},
    {0x181, 0x181, 210, 1},
    {0x182, 0x184, 1, 2},
    {0x186, 0x186, 206, 1},
    {0x187, 0x187, 1, 1},
    {0x189, 0x18A, 205, 1},
    {0x18B, 0x18B, 1, 1},
    {0x18E, 0x18E, 79, 1},
    {0x18F, 0x18F, 202, 1},
    {0x190, 0x190, 203, 1},
    {0x191, 0x191, 1, 1},
    {0x193, 0x193, 205, 1},
    {0x194, 0x194, 207, 1},
    {0x196, 0x196, 211, 1},
    {0x197, 0x197, 209, 1},
    {0x198, 0x198, 1, 1},
    {0x19C, 0x19C, 211, 1},
    {0x19D, 0x19D, 213, 1},
    {0x19F, 0x19F, 214, 1},
    {0x1A0, 0x1A4, 1, 2},
    {0x1A6, 0x1A6, 218, 1},
    {0x1A7, 0x1A7, 1, 1},
    {0x1A9, 0x1A9, 218, 1},
    {0x1AC, 0x1AC, 1, 1},
    {0x1AE, 0x1AE, 218, 1},
    {0x1AF, 0x1AF, 1, 1},
    {0x1B1, 0x1B2, 217, 1},
    {0x1B3, 0x1B5, 1, 2},
    {0x1B7, 0x1B7, 219, 1},
    {0x1B8, 0x1B8, 1, 1},
    {0x1BC, 0x1BC, 1, 1},
    {0x1C4, 0x1C4, 2, 1},
    {0x1C5, 0x1C5, 1, 1},
    {0x1C7, 0x1C7, 2, 1},
    {0x1C8, 0x1C8, 1, 1},
    {0x1CA, 0x1CA, 2, 1},
    {0x1CB, 0x1DB, 1, 2},
    {0x1DE, 0x1EE, 1, 2},
    {0x1F1, 0x1F1, 2, 1},
    {0x1F2, 0x1F4, 1, 2},
    {0x1F6, 0x1F6, -97, 1},
    {0x1F7, 0x1F7, -56, 1},
    {0x1F8, 0x21E, 1, 2},
    {0x220, 0x220, -130, 1},
    {0x222, 0x232, 1, 2},
    {0x23A, 0x23A, 10795, 1},
    {0x23B, 0x23B, 1, 1},
    {0x23D, 0x23D, -163, 1},
    {0x23E, 0x23E, 10792, 1},
    {0x241, 0x241, 1, 1},
    {0x243, 0x243, -195, 1},
    {0x244, 0x244, 69, 1},
    {0x245, 0x245, 71, 1},
    {0x246, 0x24E, 1, 2},
    {0x370, 0x372, 1, 2},
    {0x376, 0x376, 1, 1},
    {0x37F, 0x37F, 116, 1},
    {0x386, 0x386, 38, 1},
    {0x388, 0x38A, 37, 1},
    {0x38C, 0x38C, 64, 1},
    {0x38E, 0x38F, 63, 1},
    {0x391, 0x3A1, 32, 1},
    {0x3A3, 0x3AB, 32, 1},
    {0x3CF, 0x3CF, 8, 1},
    {0x3D8, 0x3EE, 1, 2},
    {0x3F4, 0x3F4, -60, 1},
    {0x3F7, 0x3F7, 1, 1},
    {0x3F9, 0x3F9, -7, 1},
    {0x3FA, 0x3FA, 1, 1},
    {0x3FD, 0x3FF, -130, 1},
    {0x400, 0x40F, 80, 1},
    {0x410, 0x42F, 32, 1},
    {0x460, 0x480, 1, 2},
    {0x48A, 0x4BE, 1, 2},
    {0x4C0, 0x4C0, 15, 1},
    {0x4C1, 0x4CD, 1, 2},
    {0x4D0, 0x52E, 1, 2},
    {0x531, 0x556, 48, 1},
    {0x10A0, 0x10C5, 7264, 1},
    {0x10C7, 0x10C7, 7264, 1},
    {0x10CD, 0x10CD, 7264, 1},
    {0x13A0, 0x13EF, 38864, 1},
    {0x13F0, 0x13F5, 8, 1},
    {0x1C90, 0x1CBA, -3008, 1},
    {0x1CBD, 0x1CBF, -3008, 1},
    {0x1E00, 0x1E94, 1, 2},
    {0x1E9E, 0x1E9E, -7615, 1},
    {0x1EA0, 0x1EFE, 1, 2},
    {0x1F08, 0x1F0F, -8, 1},
    {0x1F18, 0x1F1D, -8, 1},
    {0x1F28, 0x1F2F, -8, 1},
    {0x1F38, 0x1F3F, -8, 1},
    {0x1F48, 0x1F4D, -8, 1},
    {0x1F59, 0x1F5F, -8, 2},
    {0x1F68, 0x1F6F, -8, 1},
    {0x1F88, 0x1F8F, -8, 1},
    {0x1F98, 0x1F9F, -8, 1},
    {0x1FA8, 0x1FAF, -8, 1},
    {0x1FB8, 0x1FB9, -8, 1},
    {0x1FBA, 0x1FBB, -74, 1},
    {0x1FBC, 0x1FBC, -9, 1},
    {0x1FC8, 0x1FCB, -86, 1},
    {0x1FCC, 0x1FCC, -9, 1},
    {0x1FD8, 0x1FD9, -8, 1},
    {0x1FDA, 0x1FDB, -100, 1},
    {0x1FE8, 0x1FE9, -8, 1},
    {0x1FEA, 0x1FEB, -112, 1},
    {0x1FEC, 0x1FEC, -7, 1},
    {0x1FF8, 0x1FF9, -128, 1},
    {0x1FFA, 0x1FFB, -126, 1},
    {0x1FFC, 0x1FFC, -9, 1},
    {0x2126, 0x2126, -7517, 1},
    {0x212A, 0x212A, -8383, 1},
    {0x212B, 0x212B, -8262, 1},
    {0x2132, 0x2132, 28, 1},
    {0x2160, 0x216F, 16, 1},
    {0x2183, 0x2183, 1, 1},
    {0x24B6, 0x24CF, 26, 1},
    {0x2C00, 0x2C2F, 48, 1},
    {0x2C60, 0x2C60, 1, 1},
    {0x2C62, 0x2C62, -10743, 1},
    {0x2C63, 0x2C63, -3814, 1},
    {0x2C64, 0x2C64, -10727, 1},
    {0x2C67, 0x2C6B, 1, 2},
    {0x2C6D, 0x2C6D, -10780, 1},
    {0x2C6E, 0x2C6E, -10749, 1},
    {0x2C6F, 0x2C6F, -10783, 1},
    {0x2C70, 0x2C70, -10782, 1},
    {0x2C72, 0x2C72, 1, 1},
    {0x2C75, 0x2C75, 1, 1},
    {0x2C7E, 0x2C7F, -10815, 1},
    {0x2C80, 0x2CE2, 1, 2},
    {0x2CEB, 0x2CED, 1, 2},
    {0x2CF2, 0x2CF2, 1, 1},
    {0xA640, 0xA66C, 1, 2},
    {0xA680, 0xA69A, 1, 2},
    {0xA722, 0xA72E, 1, 2},
    {0xA732, 0xA76E, 1, 2},
    {0xA779, 0xA77B, 1, 2},
    {0xA77D, 0xA77D, -35332, 1},
    {0xA77E, 0xA786, 1, 2},
    {0xA78B, 0xA78B, 1, 1},
    {0xA78D, 0xA78D, -42280, 1},
    {0xA790, 0xA792, 1, 2},
    {0xA796, 0xA7A8, 1, 2},
    {0xA7AA, 0xA7AA, -42308, 1},
    {0xA7AB, 0xA7AB, -42319, 1},
    {0xA7AC, 0xA7AC, -42315, 1},
    {0xA7AD, 0xA7AD, -42305, 1},
    {0xA7AE, 0xA7AE, -42308, 1},
    {0xA7B0, 0xA7B0, -42258, 1},
    {0xA7B1, 0xA7B1, -42282, 1},
    {0xA7B2, 0xA7B2, -42261, 1},
    {0xA7B3, 0xA7B3, 928, 1},
    {0xA7B4, 0xA7C2, 1, 2},
    {0xA7C4, 0xA7C4, -48, 1},
    {0xA7C5, 0xA7C5, -42307, 1},
    {0xA7C6, 0xA7C6, -35384, 1},
    {0xA7C7, 0xA7C9, 1, 2},
    {0xA7D0, 0xA7D0, 1, 1},
    {0xA7D6, 0xA7D8, 1, 2},
    {0xA7F5, 0xA7F5, 1, 1},
    {0xFF21, 0xFF3A, 32, 1},
    {0x10400, 0x10427, 40, 1},
    {0x104B0, 0x104D3, 40, 1},
    {0x10570, 0x1057A, 39, 1},
    {0x1057C, 0x1058A, 39, 1},
    {0x1058C, 0x10592, 39, 1},
    {0x10594, 0x10595, 39, 1},
    {0x10C80, 0x10CB2, 64, 1},
    {0x118A0, 0x118BF, 32, 1},
    {0x16E40, 0x16E5F, 32, 1},
    {0x1E900, 0x1E921, 34, 1},
};
constexpr CpRange kCased[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xAA, 0xAA}, {0xB5, 0xB5},
    {0xBA, 0xBA}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2B8}, {0x2C0, 0x2C1},
    {0x2E0, 0x2E4}, {0x345, 0x345}, {0x370, 0x373}, {0x376, 0x377},
    {0x37A, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A},
    {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x560, 0x588}, {0x10A0, 0x10C5},
    {0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x10D0, 0x10FA}, {0x10FD, 0x10FF},
    {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C80, 0x1C88}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1DBF}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4},
    {0x1FF6, 0x1FFC}, {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C},
    {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115},
    {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2160, 0x217F}, {0x2183, 0x2184},
    {0x24B6, 0x24E9}, {0x2C00, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
    {0x2D00, 0x2D25}, {0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0xA640, 0xA66D},
    {0xA680, 0xA69D}, {0xA722, 0xA787}, {0xA78B, 0xA78E}, {0xA790, 0xA7CA},
    {0xA7D0, 0xA7D1}, {0xA7D3, 0xA7D3}, {0xA7D5, 0xA7D9}, {0xA7F5, 0xA7F6},
    {0xA7F8, 0xA7FA}, {0xAB30, 0xAB5A}, {0xAB5C, 0xAB68}, {0xAB70, 0xABBF},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A},
    {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10570, 0x1057A},
    {0x1057C, 0x1058A}, {0x1058C, 0x10592}, {0x10594, 0x10595}, {0x10597, 0x105A1},
    {0x105A3, 0x105B1}, {0x105B3, 0x105B9}, {0x105BB, 0x105BC}, {0x10780, 0x10780},
    {0x10783, 0x10785}, {0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x10C80, 0x10CB2},
    {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x16E40, 0x16E7F}, {0x1D400, 0x1D454},
    {0x1D456, 0x1D49C}, {0x1D49E, 0x1D49F}, {0x1D4A2, 0x1D4A2}, {0x1D4A5, 0x1D4A6},
    {0x1D4A9, 0x1D4AC}, {0x1D4AE, 0x1D4B9}, {0x1D4BB, 0x1D4BB}, {0x1D4BD, 0x1D4C3},
    {0x1D4C5, 0x1D505}, {0x1D507, 0x1D50A}, {0x1D50D, 0x1D514}, {0x1D516, 0x1D51C},
    {0x1D51E, 0x1D539}, {0x1D53B, 0x1D53E}, {0x1D540, 0x1D544}, {0x1D546, 0x1D546},
    {0x1D54A, 0x1D550}, {0x1D552, 0x1D6A5}, {0x1D6A8, 0x1D6C0}, {0x1D6C2, 0x1D6DA},
    {0x1D6DC, 0x1D6FA}, {0x1D6FC, 0x1D714}, {0x1D716, 0x1D734}, {0x1D736, 0x1D74E},
    {0x1D750, 0x1D76E}, {0x1D770, 0x1D788}, {0x1D78A, 0x1D7A8}, {0x1D7AA, 0x1D7C2},
    {0x1D7C4, 0x1D7CB}, {0x1DF00, 0x1DF09}, {0x1DF0B, 0x1DF1E}, {0x1E900, 0x1E943},
    {0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189},
};
constexpr CpRange kCaseIgnorable[] = {
    {0x27, 0x27}, {0x2E, 0x2E}, {0x3A, 0x3A}, {0x5E, 0x5E},
    {0x60, 0x60}, {0xA8, 0xA8}, {0xAD, 0xAD}, {0xAF, 0xAF},
    {0xB4, 0xB4}, {0xB7, 0xB8}, {0x2B0, 0x36F}, {0x374, 0x375},
    {0x37A, 0x37A}, {0x384, 0x385}, {0x387, 0x387}, {0x483, 0x489},
    {0x559, 0x559}, {0x591, 0x5BD}, {0x5BF, 0x5BF}, {0x5C1, 0x5C2},
    {0x5C4, 0x5C5}, {0x5C7, 0x5C7}, {0x5F4, 0x5F4}, {0x600, 0x605},
    {0x610, 0x61A}, {0x61C, 0x61C}, {0x640, 0x640}, {0x64B, 0x65F},
    {0x670, 0x670}, {0x6D6, 0x6DD}, {0x6DF, 0x6E8}, {0x6EA, 0x6ED},
    {0x70F, 0x70F}, {0x711, 0x711}, {0x730, 0x74A}, {0x7A6, 0x7B0},
    {0x7EB, 0x7F5}, {0x7FA, 0x7FA}, {0x7FD, 0x7FD}, {0x816, 0x82D},
    {0x859, 0x85B}, {0x888, 0x888}, {0x890, 0x891}, {0x898, 0x89F},
    {0x8C9, 0x902}, {0x93A, 0x93A}, {0x93C, 0x93C}, {0x941, 0x948},
    {0x94D, 0x94D}, {0x951, 0x957}, {0x962, 0x963}, {0x971, 0x971},
    {0x981, 0x981}, {0x9BC, 0x9BC}, {0x9C1, 0x9C4}, {0x9CD, 0x9CD},
    {0x9E2, 0x9E3}, {0x9FE, 0x9FE}, {0xA01, 0xA02}, {0xA3C, 0xA3C},
    {0xA41, 0xA42}, {0xA47, 0xA48}, {0xA4B, 0xA4D}, {0xA51, 0xA51},
    {0xA70, 0xA71}, {0xA75, 0xA75}, {0xA81, 0xA82}, {0xABC, 0xABC},
    {0xAC1, 0xAC5}, {0xAC7, 0xAC8}, {0xACD, 0xACD}, {0xAE2, 0xAE3},
    {0xAFA, 0xAFF}, {0xB01, 0xB01}, {0xB3C, 0xB3C}, {0xB3F, 0xB3F},
    {0xB41, 0xB44}, {0xB4D, 0xB4D}, {0xB55, 0xB56}, {0xB62, 0xB63},
    {0xB82, 0xB82}, {0xBC0, 0xBC0}, {0xBCD, 0xBCD}, {0xC00, 0xC00},
    {0xC04, 0xC04}, {0xC3C, 0xC3C}, {0xC3E, 0xC40}, {0xC46, 0xC48},
    {0xC4A, 0xC4D}, {0xC55, 0xC56}, {0xC62, 0xC63}, {0xC81, 0xC81},
    {0xCBC, 0xCBC}, {0xCBF, 0xCBF}, {0xCC6, 0xCC6}, {0xCCC, 0xCCD},
    {0xCE2, 0xCE3}, {0xD00, 0xD01}, {0xD3B, 0xD3C}, {0xD41, 0xD44},
    {0xD4D, 0xD4D}, {0xD62, 0xD63}, {0xD81, 0xD81}, {0xDCA, 0xDCA},
    {0xDD2, 0xDD4}, {0xDD6, 0xDD6}, {0xE31, 0xE31}, {0xE34, 0xE3A},
    {0xE46, 0xE4E}, {0xEB1, 0xEB1}, {0xEB4, 0xEBC}, {0xEC6, 0xEC6},
    {0xEC8, 0xECD}, {0xF18, 0xF19}, {0xF35, 0xF35}, {0xF37, 0xF37},
    {0xF39, 0xF39}, {0xF71, 0xF7E}, {0xF80, 0xF84}, {0xF86, 0xF87},
    {0xF8D, 0xF97}, {0xF99, 0xFBC}, {0xFC6, 0xFC6}, {0x102D, 0x1030},
    {0x1032, 0x1037}, {0x1039, 0x103A}, {0x103D, 0x103E}, {0x1058, 0x1059},
    {0x105E, 0x1060}, {0x1071, 0x1074}, {0x1082, 0x1082}, {0x1085, 0x1086},
    {0x108D, 0x108D}, {0x109D, 0x109D}, {0x10FC, 0x10FC}, {0x135D, 0x135F},
    {0x1712, 0x1714}, {0x1732, 0x1733}, {0x1752, 0x1753}, {0x1772, 0x1773},
    {0x17B4, 0x17B5}, {0x17B7, 0x17BD}, {0x17C6, 0x17C6}, {0x17C9, 0x17D3},
    {0x17D7, 0x17D7}, {0x17DD, 0x17DD}, {0x180B, 0x180F}, {0x1843, 0x1843},
    {0x1885, 0x1886}, {0x18A9, 0x18A9}, {0x1920, 0x1922}, {0x1927, 0x1928},
    {0x1932, 0x1932}, {0x1939, 0x193B}, {0x1A17, 0x1A18}, {0x1A1B, 0x1A1B},
    {0x1A56, 0x1A56}, {0x1A58, 0x1A5E}, {0x1A60, 0x1A60}, {0x1A62, 0x1A62},
    {0x1A65, 0x1A6C}, {0x1A73, 0x1A7C}, {0x1A7F, 0x1A7F}, {0x1AA7, 0x1AA7},
    {0x1AB0, 0x1ACE}, {0x1B00, 0x1B03}, {0x1B34, 0x1B34}, {0x1B36, 0x1B3A},
    {0x1B3C, 0x1B3C}, {0x1B42, 0x1B42}, {0x1B6B, 0x1B73}, {0x1B80, 0x1B81},
    {0x1BA2, 0x1BA5}, {0x1BA8, 0x1BA9}, {0x1BAB, 0x1BAD}, {0x1BE6, 0x1BE6},
    {0x1BE8, 0x1BE9}, {0x1BED, 0x1BED}, {0x1BEF, 0x1BF1}, {0x1C2C, 0x1C33},
    {0x1C36, 0x1C37}, {0x1C78, 0x1C7D}, {0x1CD0, 0x1CD2}, {0x1CD4, 0x1CE0},
    {0x1CE2, 0x1CE8}, {0x1CED, 0x1CED}, {0x1CF4, 0x1CF4}, {0x1CF8, 0x1CF9},
    {0x1D2C, 0x1D6A}, {0x1D78, 0x1D78}, {0x1D9B, 0x1DFF}, {0x1FBD, 0x1FBD},
    {0x1FBF, 0x1FC1}, {0x1FCD, 0x1FCF}, {0x1FDD, 0x1FDF}, {0x1FED, 0x1FEF},
    {0x1FFD, 0x1FFE}, {0x200B, 0x200F}, {0x2018, 0x2019}, {0x2024, 0x2024},
    {0x2027, 0x2027}, {0x202A, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F},
    {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C}, {0x20D0, 0x20F0},
    {0x2C7C, 0x2C7D}, {0x2CEF, 0x2CF1}, {0x2D6F, 0x2D6F}, {0x2D7F, 0x2D7F},
    {0x2DE0, 0x2DFF}, {0x2E2F, 0x2E2F}, {0x3005, 0x3005}, {0x302A, 0x302D},
    {0x3031, 0x3035}, {0x303B, 0x303B}, {0x3099, 0x309E}, {0x30FC, 0x30FE},
    {0xA015, 0xA015}, {0xA4F8, 0xA4FD}, {0xA60C, 0xA60C}, {0xA66F, 0xA672},
    {0xA674, 0xA67D}, {0xA67F, 0xA67F}, {0xA69C, 0xA69F}, {0xA6F0, 0xA6F1},
    {0xA700, 0xA721}, {0xA770, 0xA770}, {0xA788, 0xA78A}, {0xA7F2, 0xA7F4},
    {0xA7F8, 0xA7F9}, {0xA802, 0xA802}, {0xA806, 0xA806}, {0xA80B, 0xA80B},
    {0xA825, 0xA826}, {0xA82C, 0xA82C}, {0xA8C4, 0xA8C5}, {0xA8E0, 0xA8F1},
    {0xA8FF, 0xA8FF}, {0xA926, 0xA92D}, {0xA947, 0xA951}, {0xA980, 0xA982},
    {0xA9B3, 0xA9B3}, {0xA9B6, 0xA9B9}, {0xA9BC, 0xA9BD}, {0xA9CF, 0xA9CF},
    {0xA9E5, 0xA9E6}, {0xAA29, 0xAA2E}, {0xAA31, 0xAA32}, {0xAA35, 0xAA36},
    {0xAA43, 0xAA43}, {0xAA4C, 0xAA4C}, {0xAA70, 0xAA70}, {0xAA7C, 0xAA7C},
    {0xAAB0, 0xAAB0}, {0xAAB2, 0xAAB4}, {0xAAB7, 0xAAB8}, {0xAABE, 0xAABF},
    {0xAAC1, 0xAAC1}, {0xAADD, 0xAADD}, {0xAAEC, 0xAAED}, {0xAAF3, 0xAAF4},
    {0xAAF6, 0xAAF6}, {0xAB5B, 0xAB5F}, {0xAB69, 0xAB6B}, {0xABE5, 0xABE5},
    {0xABE8, 0xABE8}, {0xABED, 0xABED}, {0xFB1E, 0xFB1E}, {0xFBB2, 0xFBC2},
    {0xFE00, 0xFE0F}, {0xFE13, 0xFE13}, {0xFE20, 0xFE2F}, {0xFE52, 0xFE52},
    {0xFE55, 0xFE55}, {0xFEFF, 0xFEFF}, {0xFF07, 0xFF07}, {0xFF0E, 0xFF0E},
    {0xFF1A, 0xFF1A}, {0xFF3E, 0xFF3E}, {0xFF40, 0xFF40}, {0xFF70, 0xFF70},
    {0xFF9E, 0xFF9F}, {0xFFE3, 0xFFE3}, {0xFFF9, 0xFFFB}, {0x101FD, 0x101FD},
    {0x102E0, 0x102E0}, {0x10376, 0x1037A}, {0x10780, 0x10785}, {0x10787, 0x107B0},
    {0x107B2, 0x107BA}, {0x10A01, 0x10A03}, {0x10A05, 0x10A06}, {0x10A0C, 0x10A0F},
    {0x10A38, 0x10A3A}, {0x10A3F, 0x10A3F}, {0x10AE5, 0x10AE6}, {0x10D24, 0x10D27},
    {0x10EAB, 0x10EAC}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11001, 0x11001},
    {0x11038, 0x11046}, {0x11070, 0x11070}, {0x11073, 0x11074}, {0x1107F, 0x11081},
    {0x110B3, 0x110B6}, {0x110B9, 0x110BA}, {0x110BD, 0x110BD}, {0x110C2, 0x110C2},
    {0x110CD, 0x110CD}, {0x11100, 0x11102}, {0x11127, 0x1112B}, {0x1112D, 0x11134},
    {0x11173, 0x11173}, {0x11180, 0x11181}, {0x111B6, 0x111BE}, {0x111C9, 0x111CC},
    {0x111CF, 0x111CF}, {0x1122F, 0x11231}, {0x11234, 0x11234}, {0x11236, 0x11237},
    {0x1123E, 0x1123E}, {0x112DF, 0x112DF}, {0x112E3, 0x112EA}, {0x11300, 0x11301},
    {0x1133B, 0x1133C}, {0x11340, 0x11340}, {0x11366, 0x1136C}, {0x11370, 0x11374},
    {0x11438, 0x1143F}, {0x11442, 0x11444}, {0x11446, 0x11446}, {0x1145E, 0x1145E},
    {0x114B3, 0x114B8}, {0x114BA, 0x114BA}, {0x114BF, 0x114C0}, {0x114C2, 0x114C3},
    {0x115B2, 0x115B5}, {0x115BC, 0x115BD}, {0x115BF, 0x115C0}, {0x115DC, 0x115DD},
    {0x11633, 0x1163A}, {0x1163D, 0x1163D}, {0x1163F, 0x11640}, {0x116AB, 0x116AB},
    {0x116AD, 0x116AD}, {0x116B0, 0x116B5}, {0x116B7, 0x116B7}, {0x1171D, 0x1171F},
    {0x11722, 0x11725}, {0x11727, 0x1172B}, {0x1182F, 0x11837}, {0x11839, 0x1183A},
    {0x1193B, 0x1193C}, {0x1193E, 0x1193E}, {0x11943, 0x11943}, {0x119D4, 0x119D7},
    {0x119DA, 0x119DB}, {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38},
    {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A56}, {0x11A59, 0x11A5B},
    {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C36}, {0x11C38, 0x11C3D},
    {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
    {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D},
    {0x11D3F, 0x11D45}, {0x11D47, 0x11D47}, {0x11D90, 0x11D91}, {0x11D95, 0x11D95},
    {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4}, {0x13430, 0x13438}, {0x16AF0, 0x16AF4},
    {0x16B30, 0x16B36}, {0x16B40, 0x16B43}, {0x16F4F, 0x16F4F}, {0x16F8F, 0x16F9F},
    {0x16FE0, 0x16FE1}, {0x16FE3, 0x16FE4}, {0x1AFF0, 0x1AFF3}, {0x1AFF5, 0x1AFFB},
    {0x1AFFD, 0x1AFFE}, {0x1BC9D, 0x1BC9E}, {0x1BCA0, 0x1BCA3}, {0x1CF00, 0x1CF2D},
    {0x1CF30, 0x1CF46}, {0x1D167, 0x1D169}, {0x1D173, 0x1D182}, {0x1D185, 0x1D18B},
    {0x1D1AA, 0x1D1AD}, {0x1D242, 0x1D244}, {0x1DA00, 0x1DA36}, {0x1DA3B, 0x1DA6C},
    {0x1DA75, 0x1DA75}, {0x1DA84, 0x1DA84}, {0x1DA9B, 0x1DA9F}, {0x1DAA1, 0x1DAAF},
    {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024},
    {0x1E026, 0x1E02A}, {0x1E130, 0x1E13D}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF},
    {0x1E8D0, 0x1E8D6}, {0x1E944, 0x1E94B}, {0x1F3FB, 0x1F3FF}, {0xE0001, 0xE0001},
    {0xE0020, 0xE007F}, {0xE0100, 0xE01EF},
};

bool InRanges(const CpRange* b, const CpRange* e, char32_t cp) {
  const CpRange* it = std::upper_bound(b, e, cp, [](char32_t c, const CpRange& r) { return c < r.first; });
  return it != b && cp <= (it - 1)->last;
}
bool IsCased(char32_t cp) { return InRanges(std::begin(kCased), std::end(kCased), cp); }
bool IsCaseIgnorable(char32_t cp) {
  return InRanges(std::begin(kCaseIgnorable), std::end(kCaseIgnorable), cp);
}

// Character.toLowerCase(int): the simple mapping.
char32_t SimpleLower(char32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  const LowerRun* b = std::begin(kLowerRuns);
  const LowerRun* e = std::end(kLowerRuns);
  const LowerRun* it = std::upper_bound(b, e, cp, [](char32_t c, const LowerRun& r) { return c < r.first; });
  if (it == b) return cp;
  --it;
  if (cp > it->last || (cp - it->first) % it->stride != 0) return cp;
  return static_cast<char32_t>(static_cast<int32_t>(cp) + it->delta);
}

enum class CaseLocale : uint8_t { kDefault, kTurkic };

CaseLocale LocaleFromName(std::string_view name) {
  const std::string_view lang = name.substr(0, name.find_first_of("_-"));
  return lang == "tr" || lang == "az" ? CaseLocale::kTurkic : CaseLocale::kDefault;
}

// Java's final-sigma test: a cased letter before the sigma and none after it,
// within the word (approximated as cased, case-ignorable and ASCII digit/_
// code points).
bool WordChar(char32_t cp) {
  return IsCased(cp) || IsCaseIgnorable(cp) || (cp >= '0' && cp <= '9') || cp == '_';
}
bool FinalSigma(const std::u32string& cps, size_t i) {
  bool cased_before = false;
  for (size_t k = i; k-- > 0;) {
    if (!WordChar(cps[k])) break;
    if (IsCased(cps[k])) { cased_before = true; break; }
  }
  if (!cased_before) return false;
  for (size_t k = i + 1; k < cps.size(); ++k) {
    if (!WordChar(cps[k])) break;
    if (IsCased(cps[k])) return false;
  }
  return true;
}

// String.toLowerCase(locale) of UTF-8 text into `out`.
void JavaLowerCase(std::string_view in, CaseLocale loc, std::string& out) {
  out.clear();
  bool ascii = true;
  for (char c : in) {
    if (static_cast<unsigned char>(c) >= 0x80) { ascii = false; break; }
  }
  if (ascii && (loc == CaseLocale::kDefault || in.find('I') == std::string_view::npos)) {
    out.assign(in.data(), in.size());
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return;
  }
  thread_local std::u32string cps;
  cps.clear();
  size_t i = 0;
  char32_t cp;
  while (i < in.size()) {
    DecodeOne(in, i, cp);
    cps.push_back(cp);
  }
  for (size_t k = 0; k < cps.size(); ++k) {
    const char32_t c = cps[k];
    if (loc == CaseLocale::kTurkic) {
      if (c == 'I') {
        if (k + 1 < cps.size() && cps[k + 1] == 0x307) {  // I + combining dot -> i
          out.push_back('i');
          ++k;
        } else {
          AppendUtf8(0x131, out);
        }
        continue;
      }
      if (c == 0x130) { out.push_back('i'); continue; }
    } else if (c == 0x130) {
      out.push_back('i');
      AppendUtf8(0x307, out);
      continue;
    }
    if (c == 0x3A3) {
      AppendUtf8(FinalSigma(cps, k) ? 0x3C2 : 0x3C3, out);
      continue;
    }
    AppendUtf8(SimpleLower(c), out);
  }
}

// ---------------------------------------------------------------------------
// Java regex -> ECMAScript (std::wregex over code points).

constexpr std::wstring_view kJavaSpace = L" \\t\\n\\x0B\\f\\r";
constexpr std::wstring_view kJavaWord = L"a-zA-Z0-9_";
constexpr std::wstring_view kJavaDigit = L"0-9";

// Body of a bracket class for \p{Name} (Java's POSIX classes are ASCII-only).
bool PosixClassBody(std::wstring_view name, std::wstring& body) {
  static const std::pair<std::wstring_view, std::wstring_view> kClasses[] = {
      {L"Lower", L"a-z"},
      {L"Upper", L"A-Z"},
      {L"ASCII", L"\\x00-\\x7F"},
      {L"Alpha", L"a-zA-Z"},
      {L"Digit", L"0-9"},
      {L"Alnum", L"a-zA-Z0-9"},
      {L"Punct", L"!-/:-@\\[-`{-~"},
      {L"Graph", L"!-~"},
      {L"Print", L" -~"},
      {L"Blank", L" \\t"},
      {L"Cntrl", L"\\x00-\\x1F\\x7F"},
      {L"XDigit", L"0-9a-fA-F"},
      {L"Space", L" \\t\\n\\x0B\\f\\r"},
  };
  for (const auto& [n, b] : kClasses) {
    if (n == name || (name.size() == n.size() + 2 && name.substr(0, 2) == L"Is" && name.substr(2) == n)) {
      body.assign(b);
      return true;
    }
  }
  return false;
}

void AppendEscapedCp(wchar_t c, std::wstring& out) {
  static constexpr std::wstring_view kMeta = L"\\^$.|?*+()[]{}-/";
  if (c < 0x20 || c == 0x7F) {
    wchar_t buf[8];
    swprintf(buf, 8, L"\\x%02X", static_cast<unsigned>(c));
    out += buf;
  } else if (kMeta.find(c) != std::wstring_view::npos) {
    out.push_back(L'\\');
    out.push_back(c);
  } else {
    out.push_back(c);
  }
}

class RegexTranslator {
 public:
  explicit RegexTranslator(std::wstring_view p) : p_(p) {}

  absl::StatusOr<std::wstring> Run(bool* icase) {
    *icase = false;
    if (p_.substr(0, 4) == L"(?i)") {
      *icase = true;
      i_ = 4;
    }
    while (i_ < p_.size()) {
      const wchar_t c = p_[i_];
      if (c == L'\\') {
        if (auto st = Escape(false); !st.ok()) return st;
      } else if (c == L'[') {
        if (auto st = Class(); !st.ok()) return st;
      } else if (c == L'.') {
        out_ += L"[^\\n\\r\\u0085\\u2028\\u2029]";
        ++i_;
      } else if (c == L'$') {
        // Java: end of input, or before a final line terminator.
        out_ += L"(?=(?:\\r\\n|[\\n\\r\\u0085\\u2028\\u2029])?(?![\\s\\S]))";
        ++i_;
      } else if (c == L'(') {
        if (p_.substr(i_, 2) == L"(?") {
          const std::wstring_view rest = p_.substr(i_);
          if (rest.substr(0, 3) == L"(?:" || rest.substr(0, 3) == L"(?=" || rest.substr(0, 3) == L"(?!") {
            out_ += rest.substr(0, 3);
            i_ += 3;
            continue;
          }
          return Unsupported(rest.substr(0, 4), "lookbehind, named/atomic groups and inline flags");
        }
        out_.push_back(c);
        ++i_;
      } else if (c == L'*' || c == L'+' || c == L'?' || c == L'}') {
        if (c == L'}') {  // a lone '}' is a literal in Java
          out_ += L"\\}";
          ++i_;
          continue;
        }
        out_.push_back(c);
        ++i_;
        if (auto st = QuantifierSuffix(); !st.ok()) return st;
      } else if (c == L'{') {
        const size_t close = p_.find(L'}', i_);
        if (close == std::wstring_view::npos) return Bad("unclosed repetition");
        const std::wstring_view q = p_.substr(i_ + 1, close - i_ - 1);
        if (q.empty() || q.find_first_not_of(L"0123456789,") != std::wstring_view::npos ||
            q[0] == L',')
          return Bad("bad repetition {" + Narrow(q) + "}");
        out_ += p_.substr(i_, close - i_ + 1);
        i_ = close + 1;
        if (auto st = QuantifierSuffix(); !st.ok()) return st;
      } else if (c == L']') {
        out_ += L"\\]";
        ++i_;
      } else if (c == L'/' || c == L'-') {
        AppendEscapedCp(c, out_);
        ++i_;
      } else {
        out_.push_back(c);
        ++i_;
      }
    }
    return out_;
  }

 private:
  static std::string Narrow(std::wstring_view w) {
    std::string s;
    for (wchar_t c : w) AppendUtf8(static_cast<char32_t>(c), s);
    return s;
  }
  absl::Status Bad(std::string msg) { return absl::InvalidArgumentError(msg); }
  absl::Status Unsupported(std::wstring_view what, std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("Java regex construct '", Narrow(what),
                                                   "' is not supported (", std::string(why), ")"));
  }

  absl::Status QuantifierSuffix() {
    if (i_ < p_.size() && p_[i_] == L'+') return Unsupported(p_.substr(i_ - 1, 2), "possessive quantifier");
    if (i_ < p_.size() && p_[i_] == L'?') {
      out_.push_back(L'?');
      ++i_;
    }
    return absl::OkStatus();
  }

  // Parses hex digits p_[from, from+n) into a code point.
  bool Hex(size_t from, size_t n, char32_t& v) {
    if (from + n > p_.size()) return false;
    v = 0;
    for (size_t k = from; k < from + n; ++k) {
      const wchar_t h = p_[k];
      int d = h >= L'0' && h <= L'9' ? h - L'0' : h >= L'a' && h <= L'f' ? h - L'a' + 10
              : h >= L'A' && h <= L'F' ? h - L'A' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    return true;
  }

  // An escape at p_[i_] == '\\'. Inside a class, shorthand classes expand to
  // their ranges; outside, to a bracket class.
  absl::Status Escape(bool in_class) {
    if (i_ + 1 >= p_.size()) return Bad("trailing backslash");
    const wchar_t e = p_[i_ + 1];
    auto shorthand = [&](std::wstring_view body, bool negated) -> absl::Status {
      if (in_class) {
        if (negated) return Unsupported(p_.substr(i_, 2), "negated shorthand inside a class");
        out_ += body;
      } else {
        out_ += negated ? L"[^" : L"[";
        out_ += body;
        out_ += L"]";
      }
      i_ += 2;
      return absl::OkStatus();
    };
    auto literal = [&](char32_t cp, size_t len) {
      if (cp > 0x10FFFF) return Bad("code point out of range");
      AppendEscapedCp(static_cast<wchar_t>(cp), out_);
      i_ += len;
      return absl::OkStatus();
    };
    switch (e) {
      case L's': return shorthand(kJavaSpace, false);
      case L'S': return shorthand(kJavaSpace, true);
      case L'w': return shorthand(kJavaWord, false);
      case L'W': return shorthand(kJavaWord, true);
      case L'd': return shorthand(kJavaDigit, false);
      case L'D': return shorthand(kJavaDigit, true);
      case L't': return literal('\t', 2);
      case L'n': return literal('\n', 2);
      case L'r': return literal('\r', 2);
      case L'f': return literal('\f', 2);
      case L'a': return literal(0x07, 2);
      case L'e': return literal(0x1B, 2);
      case L'x': {
        char32_t v;
        if (i_ + 2 < p_.size() && p_[i_ + 2] == L'{') {
          const size_t close = p_.find(L'}', i_);
          if (close == std::wstring_view::npos || !Hex(i_ + 3, close - i_ - 3, v))
            return Bad("bad \\x{...} escape");
          return literal(v, close - i_ + 1);
        }
        if (!Hex(i_ + 2, 2, v)) return Bad("bad \\x escape");
        return literal(v, 4);
      }
      case L'u': {
        char32_t v;
        if (!Hex(i_ + 2, 4, v)) return Bad("bad \\u escape");
        return literal(v, 6);
      }
      case L'0': {
        size_t k = i_ + 2;
        char32_t v = 0;
        while (k < p_.size() && k < i_ + 5 && p_[k] >= L'0' && p_[k] <= L'7' && v * 8 + (p_[k] - L'0') <= 0377) {
          v = v * 8 + (p_[k] - L'0');
          ++k;
        }
        if (k == i_ + 2) return Bad("bad octal escape");
        return literal(v, k - i_);
      }
      case L'Q': {
        size_t end = p_.find(L"\\E", i_ + 2);
        const size_t stop = end == std::wstring_view::npos ? p_.size() : end;
        for (size_t k = i_ + 2; k < stop; ++k) AppendEscapedCp(p_[k], out_);
        i_ = end == std::wstring_view::npos ? p_.size() : end + 2;
        return absl::OkStatus();
      }
      case L'E':  // a stray \E is ignored by Java
        i_ += 2;
        return absl::OkStatus();
      case L'p':
      case L'P': {
        std::wstring name;
        size_t len;
        if (i_ + 2 < p_.size() && p_[i_ + 2] == L'{') {
          const size_t close = p_.find(L'}', i_);
          if (close == std::wstring_view::npos) return Bad("unclosed \\p{");
          name.assign(p_.substr(i_ + 3, close - i_ - 3));
          len = close - i_ + 1;
        } else {
          return Unsupported(p_.substr(i_, 3), "one-letter Unicode category");
        }
        std::wstring body;
        if (!PosixClassBody(name, body)) return Unsupported(p_.substr(i_, len), "Unicode property classes");
        const bool negated = e == L'P';
        if (in_class) {
          if (negated) return Unsupported(p_.substr(i_, len), "negated property inside a class");
          out_ += body;
        } else {
          out_ += negated ? L"[^" : L"[";
          out_ += body;
          out_ += L"]";
        }
        i_ += len;
        return absl::OkStatus();
      }
      case L'A':
        if (in_class) break;
        out_ += L"^";
        i_ += 2;
        return absl::OkStatus();
      case L'z':
        if (in_class) break;
        out_ += L"(?![\\s\\S])";
        i_ += 2;
        return absl::OkStatus();
      default:
        break;
    }
    if (e >= L'1' && e <= L'9' && !in_class) {
      out_.push_back(L'\\');
      out_.push_back(e);
      i_ += 2;
      return absl::OkStatus();
    }
    if ((e >= L'a' && e <= L'z') || (e >= L'A' && e <= L'Z') || (e >= L'0' && e <= L'9')) {
      return Unsupported(p_.substr(i_, 2),
                         "escape without a Java-exact translation (\\b, \\B, \\G, \\Z, \\R, \\X, \\h, \\v, \\c, \\k, \\N)");
    }
    return literal(e, 2);  // escaped punctuation or symbol
  }

  absl::Status Class() {
    ++i_;  // '['
    out_.push_back(L'[');
    if (i_ < p_.size() && p_[i_] == L'^') {
      out_.push_back(L'^');
      ++i_;
    }
    if (i_ < p_.size() && p_[i_] == L']') return Unsupported(L"[]", "']' first in a class");
    bool closed = false;
    while (i_ < p_.size()) {
      const wchar_t c = p_[i_];
      if (c == L']') {
        out_.push_back(L']');
        ++i_;
        closed = true;
        break;
      }
      if (c == L'[') return Unsupported(p_.substr(i_, 1), "nested class / union");
      if (c == L'&' && i_ + 1 < p_.size() && p_[i_ + 1] == L'&')
        return Unsupported(L"&&", "class intersection");
      if (c == L'\\') {
        if (auto st = Escape(true); !st.ok()) return st;
        continue;
      }
      if (c == L'-') {
        out_.push_back(L'-');
      } else {
        AppendEscapedCp(c, out_);
      }
      ++i_;
    }
    if (!closed) return Bad("unclosed character class");
    return absl::OkStatus();
  }

  std::wstring_view p_;
  size_t i_ = 0;
  std::wstring out_;
};

// A single character class, optionally repeated with '+': the shape of
// nearly every tokenizer pattern (\s+, \W+, [^a-z]+, ",", \p{Punct}). These
// run without std::regex, whose backtracking recurses once per character.
struct SimpleClass {
  std::vector<std::pair<char32_t, char32_t>> ranges;
  bool negated = false;
  bool plus = false;
  bool Matches(char32_t c) const {
    bool in = false;
    for (const auto& [lo, hi] : ranges) {
      if (c >= lo && c <= hi) {
        in = true;
        break;
      }
    }
    return in != negated;
  }
};

using Ranges = std::vector<std::pair<char32_t, char32_t>>;

// Java's ASCII shorthand and POSIX classes as code point ranges.
bool ShorthandRanges(wchar_t e, Ranges& out, bool& negated) {
  switch (e) {
    case L's': case L'S':
      out.insert(out.end(), {{' ', ' '}, {'\t', '\r'}});  // \t \n \x0B \f \r
      break;
    case L'w': case L'W':
      out.insert(out.end(), {{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {'_', '_'}});
      break;
    case L'd': case L'D':
      out.push_back({'0', '9'});
      break;
    default:
      return false;
  }
  negated = e == L'S' || e == L'W' || e == L'D';
  return true;
}

bool PosixRanges(std::wstring_view name, Ranges& out) {
  if (name.size() > 2 && name.substr(0, 2) == L"Is") name.remove_prefix(2);
  static const std::pair<std::wstring_view, std::vector<std::pair<char32_t, char32_t>>> kClasses[] = {
      {L"Lower", {{'a', 'z'}}},
      {L"Upper", {{'A', 'Z'}}},
      {L"ASCII", {{0, 0x7F}}},
      {L"Alpha", {{'a', 'z'}, {'A', 'Z'}}},
      {L"Digit", {{'0', '9'}}},
      {L"Alnum", {{'a', 'z'}, {'A', 'Z'}, {'0', '9'}}},
      {L"Punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}},
      {L"Graph", {{'!', '~'}}},
      {L"Print", {{' ', '~'}}},
      {L"Blank", {{' ', ' '}, {'\t', '\t'}}},
      {L"Cntrl", {{0, 0x1F}, {0x7F, 0x7F}}},
      {L"XDigit", {{'0', '9'}, {'a', 'f'}, {'A', 'F'}}},
      {L"Space", {{' ', ' '}, {'\t', '\r'}}},
  };
  for (const auto& [n, r] : kClasses) {
    if (n == name) {
      out.insert(out.end(), r.begin(), r.end());
      return true;
    }
  }
  return false;
}

bool IsAsciiAlnum(wchar_t c) {
  return (c >= L'a' && c <= L'z') || (c >= L'A' && c <= L'Z') || (c >= L'0' && c <= L'9');
}

// One escaped literal (\t, \n, \r, \f, or escaped punctuation) at p[i] == '\\'.
bool EscapedLiteral(std::wstring_view p, size_t i, char32_t& c) {
  if (i + 1 >= p.size()) return false;
  const wchar_t e = p[i + 1];
  switch (e) {
    case L't': c = '\t'; return true;
    case L'n': c = '\n'; return true;
    case L'r': c = '\r'; return true;
    case L'f': c = '\f'; return true;
    default:
      if (IsAsciiAlnum(e) || e >= 0x80) return false;
      c = static_cast<char32_t>(e);
      return true;
  }
}

std::optional<SimpleClass> ParseSimple(std::wstring_view p) {
  SimpleClass sc;
  size_t i = 0;
  if (p.empty()) return std::nullopt;
  if (p[0] == L'\\') {
    char32_t lit;
    if (i + 1 < p.size() && ShorthandRanges(p[1], sc.ranges, sc.negated)) {
      i = 2;
    } else if (p.size() > 3 && (p[1] == L'p' || p[1] == L'P') && p[2] == L'{') {
      const size_t close = p.find(L'}');
      if (close == std::wstring_view::npos || !PosixRanges(p.substr(3, close - 3), sc.ranges)) return std::nullopt;
      sc.negated = p[1] == L'P';
      i = close + 1;
    } else if (EscapedLiteral(p, 0, lit)) {
      sc.ranges.push_back({lit, lit});
      i = 2;
    } else {
      return std::nullopt;
    }
  } else if (p[0] == L'[') {
    i = 1;
    if (i < p.size() && p[i] == L'^') {
      sc.negated = true;
      ++i;
    }
    if (i < p.size() && p[i] == L']') return std::nullopt;
    bool closed = false;
    while (i < p.size()) {
      const wchar_t c = p[i];
      if (c == L']') {
        closed = true;
        ++i;
        break;
      }
      if (c == L'[' || (c == L'&' && i + 1 < p.size() && p[i + 1] == L'&')) return std::nullopt;
      char32_t lo;
      if (c == L'\\') {
        bool neg = false;
        if (i + 1 < p.size() && ShorthandRanges(p[i + 1], sc.ranges, neg)) {
          if (neg) return std::nullopt;
          i += 2;
          continue;
        }
        if (i + 3 < p.size() && p[i + 1] == L'p' && p[i + 2] == L'{') {
          const size_t close = p.find(L'}', i);
          if (close == std::wstring_view::npos || !PosixRanges(p.substr(i + 3, close - i - 3), sc.ranges)) {
            return std::nullopt;
          }
          i = close + 1;
          continue;
        }
        if (!EscapedLiteral(p, i, lo)) return std::nullopt;
        i += 2;
      } else {
        lo = static_cast<char32_t>(c);
        ++i;
      }
      // A range lo-hi (a '-' before ']' is a literal).
      if (i + 1 < p.size() && p[i] == L'-' && p[i + 1] != L']') {
        char32_t hi;
        if (p[i + 1] == L'\\') {
          if (!EscapedLiteral(p, i + 1, hi)) return std::nullopt;
          i += 3;
        } else if (p[i + 1] == L'[') {
          return std::nullopt;
        } else {
          hi = static_cast<char32_t>(p[i + 1]);
          i += 2;
        }
        if (hi < lo) return std::nullopt;
        sc.ranges.push_back({lo, hi});
      } else {
        sc.ranges.push_back({lo, lo});
      }
    }
    if (!closed) return std::nullopt;
  } else {
    static constexpr std::wstring_view kMeta = L"\\^$.|?*+()[]{}";
    if (kMeta.find(p[0]) != std::wstring_view::npos) return std::nullopt;
    sc.ranges.push_back({static_cast<char32_t>(p[0]), static_cast<char32_t>(p[0])});
    i = 1;
  }
  if (i < p.size() && p[i] == L'+') {
    sc.plus = true;
    ++i;
  }
  if (i != p.size()) return std::nullopt;
  return sc;
}

// A compiled Java pattern with Java's find/split loops.
class JavaRegex {
 public:
  static absl::StatusOr<std::unique_ptr<JavaRegex>> Compile(std::string_view pattern) {
    std::wstring wp;
    ToCodePoints(pattern, wp);
    auto r = std::make_unique<JavaRegex>();
    r->simple_ = ParseSimple(wp);
    if (r->simple_.has_value()) return r;
    bool icase = false;
    auto translated = RegexTranslator(wp).Run(&icase);
    if (!translated.ok()) return translated.status();
    try {
      auto flags = std::regex_constants::ECMAScript;
      if (icase) flags |= std::regex_constants::icase;
      r->re_.assign(*translated, flags);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(absl::StrCat("pattern does not compile: ", e.what()));
    }
    return r;
  }

  // Calls f(begin, end) for each match, as Matcher.find() iterates: after an
  // empty match the next search starts one code point later.
  template <typename F>
  void FindAll(const std::wstring& s, F&& f) const {
    if (simple_.has_value()) {
      const SimpleClass& sc = *simple_;
      for (size_t i = 0; i < s.size();) {
        if (!sc.Matches(static_cast<char32_t>(s[i]))) {
          ++i;
          continue;
        }
        size_t j = i + 1;
        if (sc.plus) {
          while (j < s.size() && sc.Matches(static_cast<char32_t>(s[j]))) ++j;
        }
        f(i, j);
        i = j;
      }
      return;
    }
    size_t pos = 0;
    std::wsmatch m;
    while (pos <= s.size()) {
      auto flags = pos > 0 ? std::regex_constants::match_prev_avail : std::regex_constants::match_default;
      if (!std::regex_search(s.begin() + pos, s.end(), m, re_, flags)) break;
      const size_t b = m[0].first - s.begin();
      const size_t e = m[0].second - s.begin();
      f(b, e);
      pos = e == b ? e + 1 : e;
    }
  }

  // Pattern.split(s) (limit 0): pieces between matches, no leading empty
  // piece for a zero-width match at 0, trailing empty pieces dropped.
  template <typename F>
  void Split(const std::wstring& s, F&& piece) const {
    thread_local std::vector<std::pair<size_t, size_t>> pieces;
    pieces.clear();
    size_t index = 0;
    bool matched = false;
    FindAll(s, [&](size_t b, size_t e) {
      if (index == 0 && b == 0 && e == 0) return;
      pieces.emplace_back(index, b);
      index = e;
      matched = true;
    });
    if (!matched) {  // no match: the input itself
      piece(0, s.size());
      return;
    }
    pieces.emplace_back(index, s.size());
    size_t n = pieces.size();
    while (n > 0 && pieces[n - 1].first == pieces[n - 1].second) --n;
    for (size_t k = 0; k < n; ++k) piece(pieces[k].first, pieces[k].second);
  }

 private:
  std::optional<SimpleClass> simple_;
  std::wregex re_;
};

// ---------------------------------------------------------------------------
// Hashing (HashingTF).

uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
uint32_t MixK1(uint32_t k) {
  k *= 0xcc9e2d51u;
  k = Rotl(k, 15);
  return k * 0x1b873593u;
}
uint32_t MixH1(uint32_t h, uint32_t k) {
  h ^= k;
  h = Rotl(h, 13);
  return h * 5 + 0xe6546b64u;
}
uint32_t Fmix(uint32_t h, uint32_t len) {
  h ^= len;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}
uint32_t LoadLe32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// MurmurHash3_x86_32 of the UTF-8 bytes (Spark 3.x FeatureHasher.murmur3Hash).
int32_t Murmur3(std::string_view s, uint32_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size(), blocks = n / 4 * 4;
  uint32_t h = seed;
  for (size_t i = 0; i < blocks; i += 4) h = MixH1(h, MixK1(LoadLe32(p + i)));
  uint32_t k = 0;
  for (size_t i = blocks; i < n; ++i) k ^= uint32_t{p[i]} << (8 * (i - blocks));
  if (n > blocks) h ^= MixK1(k);
  return static_cast<int32_t>(Fmix(h, static_cast<uint32_t>(n)));
}

// Spark 2.x's variant (Murmur3_x86_32.hashUnsafeBytes): each tail byte,
// sign-extended, is mixed as a whole block.
int32_t Murmur3Spark2(std::string_view s, uint32_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size(), blocks = n / 4 * 4;
  uint32_t h = seed;
  for (size_t i = 0; i < blocks; i += 4) h = MixH1(h, MixK1(LoadLe32(p + i)));
  for (size_t i = blocks; i < n; ++i) {
    const auto b = static_cast<int32_t>(static_cast<int8_t>(p[i]));
    h = MixH1(h, MixK1(static_cast<uint32_t>(b)));
  }
  return static_cast<int32_t>(Fmix(h, static_cast<uint32_t>(n)));
}

// Java String.hashCode over UTF-16 units (mllib HashingTF "native").
int32_t JavaStringHash(std::string_view s) {
  uint32_t h = 0;
  size_t i = 0;
  char32_t cp;
  while (i < s.size()) {
    DecodeOne(s, i, cp);
    if (cp >= 0xDC80 && cp <= 0xDCFF) cp = 0xFFFD;  // Java decodes bad bytes to U+FFFD
    if (cp > 0xFFFF) {
      const char32_t v = cp - 0x10000;
      h = h * 31 + static_cast<uint32_t>(0xD800 + (v >> 10));
      h = h * 31 + static_cast<uint32_t>(0xDC00 + (v & 0x3FF));
    } else {
      h = h * 31 + static_cast<uint32_t>(cp);
    }
  }
  return static_cast<int32_t>(h);
}

int32_t NonNegativeMod(int32_t x, int32_t mod) {
  const int32_t raw = x % mod;
  return raw + (raw < 0 ? mod : 0);
}

// ---------------------------------------------------------------------------
// Stages.

std::string StageName(const StageMeta& m) { return absl::StrCat(m.ShortClass(), " ", m.uid); }

absl::Status NullInput(const std::string& stage, const std::string& col) {
  return absl::InvalidArgumentError(absl::StrCat(stage, ": input column '", col, "' is null"));
}

// Resolves an input column and checks its type.
absl::StatusOr<int> RequireInput(const StageMeta& meta, Schema& schema, const std::string& col,
                                 DataType want) {
  auto slot = schema.Require(col, want);
  if (!slot.ok()) return meta.Error(std::string(slot.status().message()));
  const DataType got = schema.column(*slot).type;
  if (got != want) {
    return meta.Error(absl::StrCat("input column '", col, "' must be ", std::string(DataTypeName(want)),
                                   " but is ", std::string(DataTypeName(got))));
  }
  return *slot;
}

void WriteToken(std::vector<std::string>& out, size_t& n, const char* b, size_t len) {
  if (n < out.size()) {
    out[n].assign(b, len);
  } else {
    out.emplace_back(b, len);
  }
  ++n;
}

class TokenizerStage : public Stage {
 public:
  TokenizerStage(int in, int out, std::string col) : in_(in), out_(out), col_(std::move(col)) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[in_];
    if (in.kind != Cell::Kind::kString) return NullInput(name, col_);
    thread_local std::string lower;
    JavaLowerCase(in.str, CaseLocale::kDefault, lower);
    std::vector<std::string>& toks = row.cells[out_].MutableStrings();
    // String.split("\\s"): every single whitespace char separates; trailing
    // empty pieces are dropped; no separator at all returns the input.
    size_t n = 0, start = 0;
    bool any = false;
    for (size_t i = 0; i < lower.size(); ++i) {
      const char c = lower[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
        WriteToken(toks, n, lower.data() + start, i - start);
        start = i + 1;
        any = true;
      }
    }
    WriteToken(toks, n, lower.data() + start, lower.size() - start);
    if (any) {
      while (n > 0 && toks[n - 1].empty()) --n;
    }
    toks.resize(n);
    return absl::OkStatus();
  }

 private:
  int in_, out_;
  std::string col_;
};

class RegexTokenizerStage : public Stage {
 public:
  RegexTokenizerStage(int in, int out, std::string col, std::unique_ptr<JavaRegex> re, bool gaps,
                      int64_t min_len, bool lower)
      : in_(in), out_(out), col_(std::move(col)), re_(std::move(re)), gaps_(gaps),
        min_len_(min_len), lower_(lower) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[in_];
    if (in.kind != Cell::Kind::kString) return NullInput(name, col_);
    thread_local std::string lower;
    thread_local std::wstring wide;
    if (lower_) {
      JavaLowerCase(in.str, CaseLocale::kDefault, lower);
      ToCodePoints(lower, wide);
    } else {
      ToCodePoints(in.str, wide);
    }
    std::vector<std::string>& toks = row.cells[out_].MutableStrings();
    size_t n = 0;
    auto emit = [&](size_t b, size_t e) {
      if (Utf16Length(wide.data() + b, wide.data() + e) < min_len_) return;
      if (n >= toks.size()) toks.emplace_back();
      ToUtf8(wide.data() + b, wide.data() + e, toks[n]);
      ++n;
    };
    try {
      if (gaps_) {
        re_->Split(wide, emit);
      } else {
        re_->FindAll(wide, emit);
      }
    } catch (const std::exception& e) {  // std::regex_error (complexity) or allocation
      return absl::InvalidArgumentError(absl::StrCat(name, ": pattern matching failed on column '", col_,
                                                     "': ", e.what()));
    }
    toks.resize(n);
    return absl::OkStatus();
  }

 private:
  int in_, out_;
  std::string col_;
  std::unique_ptr<JavaRegex> re_;
  bool gaps_;
  int64_t min_len_;
  bool lower_;
};

class StopWordsRemoverStage : public Stage {
 public:
  struct Io { int in, out; std::string col; };
  StopWordsRemoverStage(std::vector<Io> io, absl::flat_hash_set<std::string> words, bool case_sensitive,
                        CaseLocale loc)
      : io_(std::move(io)), words_(std::move(words)), case_sensitive_(case_sensitive), loc_(loc) {}
  absl::Status Apply(Row& row) const override {
    thread_local std::string lower;
    for (const Io& io : io_) {
      const Cell& in = row.cells[io.in];
      if (in.kind != Cell::Kind::kStrings) return NullInput(name, io.col);
      Cell& out = row.cells[io.out];
      if (&in == &out) return absl::InternalError(name + ": input and output share a slot");
      std::vector<std::string>& dst = out.MutableStrings();
      size_t n = 0;
      for (const std::string& t : in.strs) {
        bool stop;
        if (case_sensitive_) {
          stop = words_.contains(t);
        } else {
          JavaLowerCase(t, loc_, lower);
          stop = words_.contains(lower);
        }
        if (!stop) WriteToken(dst, n, t.data(), t.size());
      }
      dst.resize(n);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<Io> io_;
  absl::flat_hash_set<std::string> words_;
  bool case_sensitive_;
  CaseLocale loc_;
};

class NGramStage : public Stage {
 public:
  NGramStage(int in, int out, std::string col, int n) : in_(in), out_(out), col_(std::move(col)), n_(n) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[in_];
    if (in.kind != Cell::Kind::kStrings) return NullInput(name, col_);
    std::vector<std::string>& dst = row.cells[out_].MutableStrings();
    const size_t len = in.strs.size(), n = static_cast<size_t>(n_);
    const size_t count = len >= n ? len - n + 1 : 0;
    dst.resize(count);
    for (size_t i = 0; i < count; ++i) {
      std::string& g = dst[i];
      g.clear();
      for (size_t k = 0; k < n; ++k) {
        if (k > 0) g.push_back(' ');
        g += in.strs[i + k];
      }
    }
    return absl::OkStatus();
  }

 private:
  int in_, out_;
  std::string col_;
  int n_;
};

// Sorts (index, value) pairs by index and merges duplicates into `v`
// (sum, or 1.0 when binary), as Vectors.sparse over a term-count map.
void EmitSparse(std::vector<std::pair<int32_t, double>>& entries, int32_t size, bool binary, Vector& v) {
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  v.SetSparse(size);
  for (const auto& [i, x] : entries) {
    if (!v.indices.empty() && v.indices.back() == i) {
      if (binary) {
        v.values.back() = 1.0;
      } else {
        v.values.back() += x;
      }
    } else {
      v.indices.push_back(i);
      v.values.push_back(binary ? 1.0 : x);
    }
  }
}

class HashingTFStage : public Stage {
 public:
  enum class Hash : uint8_t { kMurmur3, kMurmur3Spark2, kNative };
  HashingTFStage(int in, int out, std::string col, int32_t num_features, bool binary, Hash hash)
      : in_(in), out_(out), col_(std::move(col)), num_features_(num_features), binary_(binary),
        hash_(hash) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[in_];
    if (in.kind != Cell::Kind::kStrings) return NullInput(name, col_);
    thread_local std::vector<std::pair<int32_t, double>> entries;
    entries.clear();
    for (const std::string& t : in.strs) {
      const int32_t h = hash_ == Hash::kMurmur3 ? Murmur3(t, 42)
                        : hash_ == Hash::kMurmur3Spark2 ? Murmur3Spark2(t, 42)
                                                        : JavaStringHash(t);
      entries.emplace_back(NonNegativeMod(h, num_features_), 1.0);
    }
    EmitSparse(entries, num_features_, binary_, row.cells[out_].MutableVector());
    return absl::OkStatus();
  }

 private:
  int in_, out_;
  std::string col_;
  int32_t num_features_;
  bool binary_;
  Hash hash_;
};

class CountVectorizerStage : public Stage {
 public:
  CountVectorizerStage(int in, int out, std::string col, absl::flat_hash_map<std::string, int32_t> vocab,
                       double min_tf, bool binary)
      : in_(in), out_(out), col_(std::move(col)), vocab_(std::move(vocab)), min_tf_(min_tf),
        binary_(binary) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[in_];
    if (in.kind != Cell::Kind::kStrings) return NullInput(name, col_);
    thread_local std::vector<std::pair<int32_t, double>> entries;
    entries.clear();
    int64_t token_count = 0;
    for (const std::string& t : in.strs) {
      auto it = vocab_.find(t);
      if (it != vocab_.end()) entries.emplace_back(it->second, 1.0);
      ++token_count;
    }
    Vector& v = row.cells[out_].MutableVector();
    EmitSparse(entries, static_cast<int32_t>(vocab_.size()), false, v);
    const double effective = min_tf_ >= 1.0 ? min_tf_ : static_cast<double>(token_count) * min_tf_;
    size_t w = 0;
    for (size_t k = 0; k < v.indices.size(); ++k) {
      if (v.values[k] >= effective) {
        v.indices[w] = v.indices[k];
        v.values[w] = binary_ ? 1.0 : v.values[k];
        ++w;
      }
    }
    v.indices.resize(w);
    v.values.resize(w);
    return absl::OkStatus();
  }

 private:
  int in_, out_;
  std::string col_;
  absl::flat_hash_map<std::string, int32_t> vocab_;
  double min_tf_;
  bool binary_;
};

class IDFStage : public Stage {
 public:
  IDFStage(int in, int out, std::string col, std::vector<double> idf)
      : in_(in), out_(out), col_(std::move(col)), idf_(std::move(idf)) {}
  absl::Status Apply(Row& row) const override {
    const Cell& in = row.cells[in_];
    if (in.kind != Cell::Kind::kVector) return NullInput(name, col_);
    const Vector& x = in.vec;
    const int32_t n = static_cast<int32_t>(idf_.size());
    if ((x.dense && x.size > n) || (!x.dense && !x.indices.empty() && x.indices.back() >= n)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": input column '", col_, "' has size ",
                                                     x.size, " but the IDF vector has size ", n));
    }
    Vector& y = row.cells[out_].MutableVector();
    if (x.dense) {
      y.SetDense(x.size);
      for (int32_t j = 0; j < x.size; ++j) y.values[j] = x.values[j] * idf_[j];
    } else {
      y.SetSparse(x.size);
      y.indices.assign(x.indices.begin(), x.indices.end());
      y.values.resize(x.values.size());
      for (size_t k = 0; k < x.indices.size(); ++k) y.values[k] = x.values[k] * idf_[x.indices[k]];
    }
    return absl::OkStatus();
  }

 private:
  int in_, out_;
  std::string col_;
  std::vector<double> idf_;
};

// ---------------------------------------------------------------------------
// Factories.

struct InOut {
  std::string in, out;
};

absl::StatusOr<InOut> SingleColumns(const StageMeta& meta) {
  auto in = meta.Str("inputCol");
  if (!in.ok()) return in.status();
  auto out = meta.Str("outputCol");
  if (!out.ok()) return out.status();
  return InOut{*in, *out};
}

template <typename S>
std::unique_ptr<Stage> Finish(std::unique_ptr<S> s, const StageMeta& meta, std::vector<int> reads,
                              std::vector<int> writes) {
  s->name = StageName(meta);
  s->reads = std::move(reads);
  s->writes = std::move(writes);
  return s;
}

int AddArrayOutput(Schema& schema, const std::string& name) {
  ColumnInfo c;
  c.name = name;
  c.type = DataType::kStringArray;
  return schema.AddOutput(std::move(c));
}

int AddVectorOutput(Schema& schema, const std::string& name, int32_t size, bool numeric_attrs) {
  ColumnInfo c;
  c.name = name;
  c.type = DataType::kVector;
  c.vector_size = size;
  if (numeric_attrs && size >= 0) {
    c.attrs.resize(size);
    for (Attribute& a : c.attrs) a.type = Attribute::Type::kNumeric;
  }
  return schema.AddOutput(std::move(c));
}

absl::StatusOr<std::unique_ptr<Stage>> MakeTokenizer(const StageMeta& meta, Schema& schema) {
  auto io = SingleColumns(meta);
  if (!io.ok()) return io.status();
  auto in = RequireInput(meta, schema, io->in, DataType::kString);
  if (!in.ok()) return in.status();
  const int out = AddArrayOutput(schema, io->out);
  return Finish(std::make_unique<TokenizerStage>(*in, out, io->in), meta, {*in}, {out});
}

absl::StatusOr<std::unique_ptr<Stage>> MakeRegexTokenizer(const StageMeta& meta, Schema& schema) {
  auto io = SingleColumns(meta);
  if (!io.ok()) return io.status();
  const std::string pattern = meta.StrOr("pattern", "\\s+");
  auto re = JavaRegex::Compile(pattern);
  if (!re.ok()) {
    return meta.Error(absl::StrCat("pattern \"", pattern, "\": ", re.status().message()));
  }
  const double min_len = meta.NumOr("minTokenLength", 1);
  if (min_len < 0) return meta.Error("minTokenLength must be >= 0");
  auto in = RequireInput(meta, schema, io->in, DataType::kString);
  if (!in.ok()) return in.status();
  const int out = AddArrayOutput(schema, io->out);
  return Finish(std::make_unique<RegexTokenizerStage>(*in, out, io->in, std::move(*re),
                                                      meta.BoolOr("gaps", true),
                                                      static_cast<int64_t>(min_len),
                                                      meta.BoolOr("toLowercase", true)),
                meta, {*in}, {out});
}

absl::StatusOr<std::unique_ptr<Stage>> MakeStopWordsRemover(const StageMeta& meta, Schema& schema) {
  std::vector<std::string> ins, outs;
  const bool multi = meta.Has("inputCols") && !meta.Has("inputCol");
  if (multi) {
    auto a = meta.StrList("inputCols");
    if (!a.ok()) return a.status();
    auto b = meta.StrList("outputCols");
    if (!b.ok()) return b.status();
    if (a->size() != b->size()) return meta.Error("inputCols and outputCols differ in length");
    ins = *a;
    outs = *b;
  } else {
    auto io = SingleColumns(meta);
    if (!io.ok()) return io.status();
    ins.push_back(io->in);
    outs.push_back(io->out);
  }
  auto words = meta.StrList("stopWords");
  if (!words.ok()) return words.status();
  const bool case_sensitive = meta.BoolOr("caseSensitive", false);
  const CaseLocale loc = LocaleFromName(meta.StrOr("locale", "en_US"));
  absl::flat_hash_set<std::string> set;
  std::string lower;
  for (const std::string& w : *words) {
    if (case_sensitive) {
      set.insert(w);
    } else {
      JavaLowerCase(w, loc, lower);
      set.insert(lower);
    }
  }
  std::vector<StopWordsRemoverStage::Io> io;
  std::vector<int> reads, writes;
  for (size_t k = 0; k < ins.size(); ++k) {
    auto in = RequireInput(meta, schema, ins[k], DataType::kStringArray);
    if (!in.ok()) return in.status();
    io.push_back({*in, -1, ins[k]});
    reads.push_back(*in);
  }
  for (size_t k = 0; k < outs.size(); ++k) {
    io[k].out = AddArrayOutput(schema, outs[k]);
    writes.push_back(io[k].out);
  }
  return Finish(std::make_unique<StopWordsRemoverStage>(std::move(io), std::move(set), case_sensitive, loc),
                meta, std::move(reads), std::move(writes));
}

absl::StatusOr<std::unique_ptr<Stage>> MakeNGram(const StageMeta& meta, Schema& schema) {
  auto io = SingleColumns(meta);
  if (!io.ok()) return io.status();
  const double n = meta.NumOr("n", 2);
  if (n < 1 || n != std::floor(n)) return meta.Error("n must be an integer >= 1");
  auto in = RequireInput(meta, schema, io->in, DataType::kStringArray);
  if (!in.ok()) return in.status();
  const int out = AddArrayOutput(schema, io->out);
  return Finish(std::make_unique<NGramStage>(*in, out, io->in, static_cast<int>(n)), meta, {*in}, {out});
}

absl::StatusOr<std::unique_ptr<Stage>> MakeHashingTF(const StageMeta& meta, Schema& schema) {
  auto io = SingleColumns(meta);
  if (!io.ok()) return io.status();
  const double nf = meta.NumOr("numFeatures", 262144);
  if (nf < 1 || nf > 2147483647.0 || nf != std::floor(nf)) return meta.Error("numFeatures must be a positive int");
  // Spark 3.0 switched to the standard murmur3 tail handling; models saved
  // by 2.x keep the old hash when loaded. mllib's "native" is String.hashCode.
  HashingTFStage::Hash hash = meta.spark_major >= 3 ? HashingTFStage::Hash::kMurmur3
                                                    : HashingTFStage::Hash::kMurmur3Spark2;
  const std::string algo = meta.StrOr("hashAlgorithm", "murmur3");
  if (algo == "native") {
    hash = HashingTFStage::Hash::kNative;
  } else if (algo != "murmur3") {
    return meta.Error("hashAlgorithm must be murmur3 or native, got " + algo);
  }
  auto in = RequireInput(meta, schema, io->in, DataType::kStringArray);
  if (!in.ok()) return in.status();
  const int out = AddVectorOutput(schema, io->out, static_cast<int32_t>(nf), false);
  return Finish(std::make_unique<HashingTFStage>(*in, out, io->in, static_cast<int32_t>(nf),
                                                 meta.BoolOr("binary", false), hash),
                meta, {*in}, {out});
}

absl::StatusOr<std::unique_ptr<Stage>> MakeCountVectorizer(const StageMeta& meta, Schema& schema) {
  auto io = SingleColumns(meta);
  if (!io.ok()) return io.status();
  auto table = meta.ReadData("data");
  if (!table.ok()) return meta.Error(absl::StrCat("data: ", table.status().message()));
  const int c = table->ColumnIndex("vocabulary");
  if (c < 0 || table->num_rows() < 1) return meta.Error("data has no vocabulary");
  const parquet::Datum& list = table->rows[0].items[c];
  if (list.kind != parquet::Datum::Kind::kList) return meta.Error("vocabulary is not a list");
  absl::flat_hash_map<std::string, int32_t> vocab;
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (list.items[i].kind != parquet::Datum::Kind::kBytes) return meta.Error("vocabulary holds a non-string");
    vocab[list.items[i].bytes] = static_cast<int32_t>(i);  // a repeated term keeps its last index
  }
  const double min_tf = meta.NumOr("minTF", 1.0);
  if (min_tf < 0) return meta.Error("minTF must be >= 0");
  auto in = RequireInput(meta, schema, io->in, DataType::kStringArray);
  if (!in.ok()) return in.status();
  const int32_t size = static_cast<int32_t>(vocab.size());
  const int out = AddVectorOutput(schema, io->out, size, true);
  return Finish(std::make_unique<CountVectorizerStage>(*in, out, io->in, std::move(vocab), min_tf,
                                                       meta.BoolOr("binary", false)),
                meta, {*in}, {out});
}

absl::StatusOr<std::unique_ptr<Stage>> MakeIDF(const StageMeta& meta, Schema& schema) {
  auto io = SingleColumns(meta);
  if (!io.ok()) return io.status();
  auto table = meta.ReadData("data");
  if (!table.ok()) return meta.Error(absl::StrCat("data: ", table.status().message()));
  const int c = table->ColumnIndex("idf");
  if (c < 0 || table->num_rows() < 1) return meta.Error("data has no idf vector");
  auto vec = DecodeVector(table->rows[0].items[c]);
  if (!vec.ok()) return meta.Error(absl::StrCat("idf: ", vec.status().message()));
  std::vector<double> idf(vec->size);
  for (int32_t i = 0; i < vec->size; ++i) idf[i] = vec->At(i);
  auto in = RequireInput(meta, schema, io->in, DataType::kVector);
  if (!in.ok()) return in.status();
  const int32_t in_size = schema.column(*in).vector_size;
  if (in_size >= 0 && in_size != vec->size) {
    return meta.Error(absl::StrCat("input column '", io->in, "' has size ", in_size,
                                   " but the IDF vector has size ", vec->size));
  }
  const int out = AddVectorOutput(schema, io->out, vec->size, false);
  return Finish(std::make_unique<IDFStage>(*in, out, io->in, std::move(idf)), meta, {*in}, {out});
}

}  // namespace

void RegisterTextStages(StageRegistry& r) {
  r.Add("org.apache.spark.ml.feature.Tokenizer", MakeTokenizer);
  r.Add("org.apache.spark.ml.feature.RegexTokenizer", MakeRegexTokenizer);
  r.Add("org.apache.spark.ml.feature.StopWordsRemover", MakeStopWordsRemover);
  r.Add("org.apache.spark.ml.feature.NGram", MakeNGram);
  r.Add("org.apache.spark.ml.feature.HashingTF", MakeHashingTF);
  r.Add("org.apache.spark.ml.feature.CountVectorizerModel", MakeCountVectorizer);
  r.Add("org.apache.spark.ml.feature.IDFModel", MakeIDF);
}

}  // namespace evs::spark
