// CRC32C against the published vectors: the CRC catalogue's check value
// and RFC 3720 Appendix B.4 (iSCSI's own examples).
#include "iscsi/crc32c.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace offcopy::iscsi {
namespace {

TEST(Crc32c, CheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32c(s.data(), s.size()), 0xE3069283u);
}

TEST(Crc32c, Rfc3720AppendixB4) {
  std::vector<uint8_t> b(32, 0x00);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x8A9136AAu);
  b.assign(32, 0xFF);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(crc32c(b.data(), b.size()), 0x113FDB5Cu);
}

TEST(Crc32c, ContinuesAcrossPiecesOfAnyLength) {
  std::vector<uint8_t> b(1000);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
  const uint32_t whole = crc32c(b.data(), b.size());
  for (size_t cut : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    EXPECT_EQ(crc32c(b.data() + cut, b.size() - cut, crc32c(b.data(), cut)), whole) << cut;
  }
}

}  // namespace
}  // namespace offcopy::iscsi
