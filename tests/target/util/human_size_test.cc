// human_size (target/util/human_size.h): the log's and the status's sizes.
#include "util/human_size.h"

#include <gtest/gtest.h>

namespace offcopy {
namespace {

TEST(HumanSize, BytesBelowAKibibyte) {
  EXPECT_EQ(human_size(0), "0 bytes");
  EXPECT_EQ(human_size(512), "512 bytes");
  EXPECT_EQ(human_size(1023), "1023 bytes");
}

TEST(HumanSize, WholeUnitsWithoutADecimal) {
  EXPECT_EQ(human_size(1024), "1 KiB");
  EXPECT_EQ(human_size(64ull << 20), "64 MiB");
  EXPECT_EQ(human_size(1ull << 30), "1 GiB");
  EXPECT_EQ(human_size(3ull << 40), "3 TiB");
}

TEST(HumanSize, OneDecimalOtherwise) {
  EXPECT_EQ(human_size(1536), "1.5 KiB");
  EXPECT_EQ(human_size(1536ull << 20), "1.5 GiB");
}

TEST(HumanSize, PebibytesAreTheLargestUnit) { EXPECT_EQ(human_size(2048ull << 50), "2048 PiB"); }

}  // namespace
}  // namespace offcopy
