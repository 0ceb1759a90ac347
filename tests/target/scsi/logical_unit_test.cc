// target/scsi through its transport-free interface: CDB in, status, sense
// and data-in out.  The layouts checked are SPC-4's and SBC-3's.
#include "scsi/logical_unit.h"

#include <vector>

#include <gtest/gtest.h>

#include "scsi/sense.h"
#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using namespace testing;  // NOLINT: the helpers of scsi_testing.h

class LogicalUnitTest : public ::testing::Test {
 protected:
  LogicalUnit lu_{identity_for("iqn.2026-12.org.offcopy:test,0"), 512, 2048};
};

TEST_F(LogicalUnitTest, TestUnitReadyIsGood) {
  const Result r = run(lu_, {0x00, 0, 0, 0, 0, 0});
  EXPECT_EQ(r.status, Status::good);
  EXPECT_TRUE(r.sense.empty());
}

TEST_F(LogicalUnitTest, StandardInquiryDescribesADirectAccessSpc4Device) {
  const Result r = run(lu_, {0x12, 0, 0, 0, 96, 0});
  ASSERT_EQ(r.status, Status::good);
  ASSERT_EQ(r.data_in.size(), 96u);
  EXPECT_EQ(r.data_in[0], 0x00);         // connected, direct access block
  EXPECT_EQ(r.data_in[2], 0x06);         // SPC-4
  EXPECT_EQ(r.data_in[3] & 0x0f, 0x02);  // response data format 2
  EXPECT_EQ(r.data_in[4], 91);           // additional length: up to the version descriptors
  EXPECT_EQ(std::string(r.data_in.begin() + 8, r.data_in.begin() + 16), "OFFCOPY ");
  EXPECT_EQ(std::string(r.data_in.begin() + 16, r.data_in.begin() + 32), "offcopy-target  ");
}

TEST_F(LogicalUnitTest, InquiryIsCutToTheAllocationLengthAndTheTransport) {
  EXPECT_EQ(run(lu_, {0x12, 0, 0, 0, 5, 0}).data_in.size(), 5u);
  EXPECT_EQ(run(lu_, {0x12, 0, 0, 0, 96, 0}, {}, 0, 8).data_in.size(), 8u);
  const Result none = run(lu_, {0x12, 0, 0, 0, 0, 0});
  EXPECT_EQ(none.status, Status::good);
  EXPECT_TRUE(none.data_in.empty());
}

TEST_F(LogicalUnitTest, PageCodeWithoutEvpdIsAnInvalidField) {
  const Result r = run(lu_, {0x12, 0, 0x80, 0, 96, 0});
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 2);
}

TEST_F(LogicalUnitTest, SupportedVpdPagesAreListedAndServed) {
  const Result r = run(lu_, {0x12, 1, 0x00, 0, 255, 0});
  ASSERT_EQ(r.status, Status::good);
  ASSERT_GE(r.data_in.size(), 4u);
  EXPECT_EQ(r.data_in[1], 0x00);
  const std::vector<uint8_t> pages(r.data_in.begin() + 4, r.data_in.end());
  EXPECT_EQ(be16(r.data_in, 2), pages.size());
  for (uint8_t p : pages) {
    const Result page = run(lu_, {0x12, 1, p, 0, 255, 0});
    ASSERT_EQ(page.status, Status::good) << int(p);
    EXPECT_EQ(page.data_in[1], p);
    EXPECT_EQ(be16(page.data_in, 2) + 4u, page.data_in.size()) << int(p);
  }
}

TEST_F(LogicalUnitTest, UnknownVpdPageIsAnInvalidField) {
  const Result r = run(lu_, {0x12, 1, 0xC7, 0, 255, 0});
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 2);
}

TEST_F(LogicalUnitTest, DeviceIdentificationHasAStableNaa6DesignatorPerUnit) {
  const Result r = run(lu_, {0x12, 1, 0x83, 0, 255, 0});
  ASSERT_EQ(r.status, Status::good);
  // The unit's NAA, then the port's relative target port and port group.
  ASSERT_EQ(r.data_in.size(), 4u + 4u + 16u + 8u + 8u);
  EXPECT_EQ(r.data_in[25], 0x94);  // PIV, the target port, relative target port
  EXPECT_EQ(be16(r.data_in, 30), 1);
  EXPECT_EQ(r.data_in[33], 0x95);  // PIV, the target port, target port group
  EXPECT_EQ(be16(r.data_in, 38), 1);
  EXPECT_EQ(r.data_in[4] & 0x0f, 0x01);  // binary
  EXPECT_EQ(r.data_in[5] & 0x0f, 0x03);  // NAA
  EXPECT_EQ(r.data_in[5] & 0x30, 0x00);  // of the logical unit
  EXPECT_EQ(r.data_in[7], 16);
  EXPECT_EQ(r.data_in[8] >> 4, 0x6);  // NAA 6
  // The same name gives the same designator; another name another.
  EXPECT_EQ(identity_for("iqn.2026-12.org.offcopy:test,0").naa,
            identity_for("iqn.2026-12.org.offcopy:test,0").naa);
  EXPECT_NE(identity_for("iqn.2026-12.org.offcopy:test,0").naa,
            identity_for("iqn.2026-12.org.offcopy:test,1").naa);
  const Result serial = run(lu_, {0x12, 1, 0x80, 0, 255, 0});
  EXPECT_EQ(serial.data_in.size(), 4u + 16u);
}

TEST_F(LogicalUnitTest, ReadCapacity10GivesTheLastLbaAndBlockSize) {
  const Result r = run(lu_, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  ASSERT_EQ(r.status, Status::good);
  ASSERT_EQ(r.data_in.size(), 8u);
  EXPECT_EQ(be32(r.data_in, 0), 2047u);
  EXPECT_EQ(be32(r.data_in, 4), 512u);
  // An LBA without PMI is an invalid field.
  const Result bad = run(lu_, {0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0});
  expect_sense(bad, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(bad, 2);
}

TEST_F(LogicalUnitTest, PastTwoToTheThirtyTwoBlocksReadCapacity10SaysUseSixteen) {
  LogicalUnit big(identity_for("big"), 4096, (uint64_t{1} << 32) + 10);
  const Result r10 = run(big, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(be32(r10.data_in, 0), 0xffffffffU);
  std::vector<uint8_t> cdb16(16, 0);
  cdb16[0] = 0x9E;
  cdb16[1] = 0x10;
  cdb16[13] = 32;
  const Result r16 = run(big, cdb16);
  ASSERT_EQ(r16.status, Status::good);
  ASSERT_EQ(r16.data_in.size(), 32u);
  EXPECT_EQ(be64(r16.data_in, 0), (uint64_t{1} << 32) + 9);
  EXPECT_EQ(be32(r16.data_in, 8), 4096u);
}

TEST_F(LogicalUnitTest, UnknownServiceActionPointsAtIt) {
  std::vector<uint8_t> cdb(16, 0);
  cdb[0] = 0x9E;
  cdb[1] = 0x1f;
  const Result r = run(lu_, cdb);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 1);
  EXPECT_EQ(r.sense[15] & 0x0f, 0x08 | 4);  // BPV, bit 4
}

TEST_F(LogicalUnitTest, UnsupportedOrMalformedCommandsGetTheStandardSense) {
  // Not built (FORMAT UNIT, REASSIGN BLOCKS, WRITE BUFFER) and
  // vendor-specific: INVALID COMMAND OPERATION CODE.
  for (uint8_t op : {0x04, 0x07, 0x3B, 0xC0, 0xE0}) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = op;
    expect_sense(run(lu_, cdb), SenseKey::illegal_request, kInvalidOpcode);
  }
  expect_sense(run(lu_, {}), SenseKey::illegal_request, kInvalidOpcode);
  // A CDB shorter than its operation code's group says.
  expect_sense(run(lu_, {0x25, 0, 0}), SenseKey::illegal_request, kInvalidFieldInCdb);
}

}  // namespace
}  // namespace offcopy::scsi
