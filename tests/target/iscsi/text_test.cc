// iSCSI text (RFC 7143 6.1): key=value pairs ended by NULs, and numbers
// (decimal or 0x hex) within a key's range.
#include "iscsi/text.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace offcopy::iscsi {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(TextTest, FormatEndsEachPairWithNul) {
  EXPECT_EQ(format_text({{"A", "1"}, {"Key", ""}, {"TargetAddress", "10.0.0.1:3260,1"}}),
            bytes(std::string("A=1\0Key=\0TargetAddress=10.0.0.1:3260,1\0", 39)));
  EXPECT_TRUE(format_text({}).empty());
}

TEST(TextTest, ParseFormatRoundTripKeepsOrderAndDuplicates) {
  const KeyValues kv = {{"TargetName", "iqn.2026-12.org.offcopy:a"},
                        {"TargetAddress", "[::1]:3260,1"},
                        {"TargetName", "iqn.2026-12.org.offcopy:b"},
                        {"Empty", ""},
                        {"List", "CRC32C,None"},
                        {"WithEquals", "a=b=c"}};
  EXPECT_EQ(parse_text(format_text(kv)), kv);
}

TEST(TextTest, PairWithoutEqualsIsKeyWithEmptyValue) {
  const KeyValues want = {{"Lonely", ""}, {"A", "1"}};
  EXPECT_EQ(parse_text(bytes(std::string("Lonely\0A=1\0", 11))), want);
}

TEST(TextTest, TrailingNulPaddingIsIgnored) {
  const KeyValues want = {{"A", "1"}, {"B", "2"}};
  EXPECT_EQ(parse_text(bytes(std::string("A=1\0B=2\0\0\0\0", 11))), want);
  // Empty pairs in the middle too.
  EXPECT_EQ(parse_text(bytes(std::string("A=1\0\0B=2\0", 9))), want);
}

TEST(TextTest, LastPairWithoutNulIsKept) {
  const KeyValues want = {{"A", "1"}, {"B", "2"}};
  EXPECT_EQ(parse_text(bytes(std::string("A=1\0B=2", 7))), want);
}

TEST(TextTest, EmptyAndAllNul) {
  EXPECT_TRUE(parse_text({}).empty());
  EXPECT_TRUE(parse_text({0, 0, 0, 0}).empty());
}

TEST(TextTest, EmptyKeyIsKept) {
  const KeyValues want = {{"", "x"}};
  EXPECT_EQ(parse_text(bytes(std::string("=x\0", 3))), want);
}

TEST(ParseNumberTest, Decimal) {
  EXPECT_EQ(parse_number("0", 0, 10), 0u);
  EXPECT_EQ(parse_number("262144", 512, 16777215), 262144u);
  EXPECT_EQ(parse_number("007", 0, 10), 7u);
}

TEST(ParseNumberTest, Hex) {
  EXPECT_EQ(parse_number("0x10", 0, 100), 16u);
  EXPECT_EQ(parse_number("0XfF", 0, 1000), 255u);
  EXPECT_EQ(parse_number("0x00ffffff", 0, 16777215), 16777215u);
}

TEST(ParseNumberTest, Range) {
  EXPECT_EQ(parse_number("511", 512, 1024), std::nullopt);
  EXPECT_EQ(parse_number("512", 512, 1024), 512u);
  EXPECT_EQ(parse_number("1024", 512, 1024), 1024u);
  EXPECT_EQ(parse_number("1025", 512, 1024), std::nullopt);
  EXPECT_EQ(parse_number("0x401", 512, 1024), std::nullopt);
  EXPECT_EQ(parse_number("18446744073709551615", 0, UINT64_MAX), UINT64_MAX);
}

TEST(ParseNumberTest, Garbage) {
  for (const char* bad : {"", "abc", "12abc", "-1", "+1", " 1", "1 ", "1.5", "0x", "0xg", "x10",
                          "0b1010", "1e3", "123456789012345678901"}) {
    EXPECT_EQ(parse_number(bad, 0, UINT64_MAX), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseNumberTest, OverflowIsNotTheLargestNumber) {
  // 2^64 (and a 20-character hex number) does not fit: strtoull says
  // ERANGE and returns ULLONG_MAX, which must not pass for a value.
  EXPECT_EQ(parse_number("18446744073709551616", 0, UINT64_MAX), std::nullopt);
  EXPECT_EQ(parse_number("99999999999999999999", 0, UINT64_MAX), std::nullopt);
  EXPECT_EQ(parse_number("0x1ffffffffffffffff", 0, UINT64_MAX), std::nullopt);
}

}  // namespace
}  // namespace offcopy::iscsi
