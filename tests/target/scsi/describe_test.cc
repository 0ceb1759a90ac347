// The commands that describe a unit (the VPD pages of SBC-3, READ
// CAPACITY (16)'s provisioning bits, MODE SENSE, REQUEST SENSE) and the
// unit attentions kept per nexus.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using namespace testing;  // NOLINT: the helpers of scsi_testing.h

std::vector<uint8_t> inquiry_vpd(uint8_t page) { return {0x12, 1, page, 0, 255, 0}; }
std::vector<uint8_t> read_capacity_16() {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x9E;
  c[1] = 0x10;
  c[13] = 32;
  return c;
}
std::vector<uint8_t> mode_sense6(uint8_t page, uint8_t pc = 0, uint8_t subpage = 0,
                                 bool dbd = false, uint8_t allocation = 255) {
  return {0x1A,
          static_cast<uint8_t>(dbd ? 0x08 : 0),
          static_cast<uint8_t>(pc << 6 | page),
          subpage,
          allocation,
          0};
}
std::vector<uint8_t> mode_sense10(uint8_t page, bool llbaa, bool dbd = false) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x5A;
  c[1] = static_cast<uint8_t>((llbaa ? 0x10 : 0) | (dbd ? 0x08 : 0));
  c[2] = page;
  put_be16(c, 7, 1024);
  return c;
}
const std::vector<uint8_t> kTur = {0, 0, 0, 0, 0, 0};
const std::vector<uint8_t> kRequestSense = {0x03, 0, 0, 0, 252, 0};

// The pages of MODE SENSE data after its header and block descriptors,
// by page code.
std::map<uint8_t, std::vector<uint8_t>> pages_of(const std::vector<uint8_t>& d, bool ten) {
  const size_t header = ten ? 8 : 4;
  const size_t bd = ten ? be16(d, 6) : d[3];
  std::map<uint8_t, std::vector<uint8_t>> pages;
  for (size_t at = header + bd; at + 2 <= d.size(); at += 2 + d[at + 1]) {
    pages[d[at] & 0x3f].assign(d.begin() + at, d.begin() + at + 2 + d[at + 1]);
  }
  return pages;
}

TEST(VpdTest, StandardInquiryClaimsSbc3AmongItsVersionDescriptors) {
  LogicalUnit lu(identity_for("v"), 512, 100);
  const Result r = run(lu, {0x12, 0, 0, 0, 255, 0});
  ASSERT_EQ(r.data_in.size(), 96u);
  std::vector<uint16_t> versions;
  for (size_t at = 58; at < 74; at += 2) versions.push_back(be16(r.data_in, at));
  EXPECT_NE(std::find(versions.begin(), versions.end(), 0x04C0), versions.end());  // SBC-3
  EXPECT_NE(std::find(versions.begin(), versions.end(), 0x0460), versions.end());  // SPC-4
}

TEST(VpdTest, SupportedPagesAreTheBlockDevicesOnes) {
  LogicalUnit lu(identity_for("v"), 512, 100);
  const Result r = run(lu, inquiry_vpd(0x00));
  EXPECT_EQ(std::vector<uint8_t>(r.data_in.begin() + 4, r.data_in.end()),
            (std::vector<uint8_t>{0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2}));
}

TEST(VpdTest, BlockLimitsAndProvisioningOfAThinUnit) {
  FileUnit f(1024);
  const Result b0 = run(f.unit(), inquiry_vpd(0xB0));
  ASSERT_EQ(b0.data_in.size(), 64u);
  EXPECT_EQ(be16(b0.data_in, 2), 0x3C);
  EXPECT_EQ(b0.data_in[4] & 0x01, 0);            // WSNZ
  EXPECT_EQ(be16(b0.data_in, 6), 8u);            // optimal granularity: 4 KiB of 512
  EXPECT_EQ(be32(b0.data_in, 8), 65536u);        // max transfer: 32 MiB
  EXPECT_EQ(be32(b0.data_in, 20), 524288u);      // max unmap LBAs: 256 MiB
  EXPECT_EQ(be32(b0.data_in, 24), 256u);         // max unmap descriptors
  EXPECT_EQ(be32(b0.data_in, 28), 8u);           // unmap granularity
  EXPECT_EQ(be32(b0.data_in, 32), 0x80000000u);  // UGAVALID, alignment 0
  EXPECT_EQ(be64(b0.data_in, 36), 2097152u);     // max WRITE SAME: 1 GiB

  const Result b1 = run(f.unit(), inquiry_vpd(0xB1));
  ASSERT_EQ(b1.data_in.size(), 64u);
  EXPECT_EQ(be16(b1.data_in, 4), 1u);  // not rotating

  const Result b2 = run(f.unit(), inquiry_vpd(0xB2));
  ASSERT_EQ(b2.data_in.size(), 8u);
  EXPECT_EQ(b2.data_in[5] & 0xe4, 0xe4);  // LBPU, LBPWS, LBPWS10, LBPRZ
  EXPECT_EQ(b2.data_in[5] & 0x02, 0);     // ANC_SUP
  EXPECT_EQ(b2.data_in[6] & 0x07, 2);     // thin

  const Result rc = run(f.unit(), read_capacity_16());
  EXPECT_EQ(rc.data_in[13] & 0x0f, 0);     // one logical block per physical block
  EXPECT_EQ(rc.data_in[14] & 0xc0, 0xc0);  // LBPME, LBPRZ
}

TEST(VpdTest, AUnitThatCannotPunchAdvertisesNoProvisioning) {
  LogicalUnit lu(identity_for("v"), 4096, 100);
  const Result b0 = run(lu, inquiry_vpd(0xB0));
  EXPECT_EQ(be16(b0.data_in, 6), 1u);
  EXPECT_EQ(be32(b0.data_in, 8), 8192u);  // 32 MiB of 4 KiB blocks
  EXPECT_EQ(be32(b0.data_in, 20), 0u);
  EXPECT_EQ(be32(b0.data_in, 24), 0u);
  const Result b2 = run(lu, inquiry_vpd(0xB2));
  EXPECT_EQ(b2.data_in[5], 0);
  EXPECT_EQ(b2.data_in[6] & 0x07, 0);
  EXPECT_EQ(run(lu, read_capacity_16()).data_in[14] & 0xc0, 0);
}

TEST(ModeSenseTest, AllPagesWithTheBlockDescriptor) {
  FileUnit f(1000);
  const Result r = run(f.unit(), mode_sense6(0x3F));
  ASSERT_EQ(r.status, Status::good);
  const std::vector<uint8_t>& d = r.data_in;
  ASSERT_GE(d.size(), 12u);
  EXPECT_EQ(d[0] + 1u, d.size());
  EXPECT_EQ(d[2], 0x10);  // not WP; DPOFUA
  ASSERT_EQ(d[3], 8);
  EXPECT_EQ(be32(d, 4), 1000u);
  EXPECT_EQ(be32(d, 8) & 0xffffff, 512u);
  const auto pages = pages_of(d, false);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages.at(0x08).size(), 20u);
  EXPECT_EQ(pages.at(0x08)[2] & 0x05, 0x04);  // WCE, not RCD
  EXPECT_EQ(pages.at(0x0A).size(), 12u);
  EXPECT_EQ(pages.at(0x0A)[2] & 0x04, 0);  // D_SENSE 0: fixed format
  EXPECT_EQ(pages.at(0x0A)[2] & 0xe0, 0);  // TST 0
  EXPECT_EQ(pages.at(0x1C).size(), 12u);
  // The subpage "all" is the same here: no page has subpages.
  EXPECT_EQ(run(f.unit(), mode_sense6(0x3F, 0, 0xFF)).data_in, d);
}

TEST(ModeSenseTest, OnePageWithoutDescriptorsAndTheWriteCacheAndProtection) {
  FileUnit f(1000, UnitOptions{.block_size = 4096, .read_only = true, .write_cache = false});
  const Result r = run(f.unit(), mode_sense6(0x08, 0, 0, /*dbd=*/true));
  const std::vector<uint8_t>& d = r.data_in;
  ASSERT_EQ(d.size(), 4u + 20u);
  EXPECT_EQ(d[2] & 0x80, 0x80);  // WP
  EXPECT_EQ(d[3], 0);
  EXPECT_EQ(d[4], 0x08);
  EXPECT_EQ(d[6] & 0x04, 0);  // no WCE
}

TEST(ModeSenseTest, PageControlChangeableDefaultAndSaved) {
  FileUnit f(100);
  const auto changeable = pages_of(run(f.unit(), mode_sense6(0x3F, 1)).data_in, false);
  ASSERT_EQ(changeable.size(), 3u);
  for (const auto& [code, page] : changeable) {
    // Only WCE (caching, byte 2) and SWP (control, byte 4) are changeable.
    std::vector<uint8_t> want(page.size() - 2, 0);
    if (code == 0x08) want[0] = 0x04;
    if (code == 0x0A) want[2] = 0x08;
    EXPECT_EQ(std::vector<uint8_t>(page.begin() + 2, page.end()), want) << "page " << int(code);
  }
  EXPECT_EQ(run(f.unit(), mode_sense6(0x3F, 2)).data_in, run(f.unit(), mode_sense6(0x3F)).data_in);
  const Result saved = run(f.unit(), mode_sense6(0x08, 3));
  expect_sense(saved, SenseKey::illegal_request, kSavingNotSupported);
}

TEST(ModeSenseTest, UnknownPagesAndSubpagesAreInvalidFields) {
  LogicalUnit lu(identity_for("m"), 512, 100);
  Result r = run(lu, mode_sense6(0x19));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 2);
  r = run(lu, mode_sense6(0x0A, 0, 0x01));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 3);
  // The control page alone, subpage "all".
  r = run(lu, mode_sense6(0x0A, 0, 0xFF, true));
  expect_good(r);
  EXPECT_EQ(r.data_in.size(), 4u + 12u);
}

TEST(ModeSenseTest, TenByteFormWithLongLbaDescriptorsAndItsAllocationLength) {
  LogicalUnit lu(identity_for("m"), 512, (uint64_t{1} << 33));
  Result r = run(lu, mode_sense10(0x0A, /*llbaa=*/true));
  std::vector<uint8_t> d = r.data_in;
  ASSERT_EQ(d.size(), 8u + 16u + 12u);
  EXPECT_EQ(be16(d, 0) + 2u, d.size());
  EXPECT_EQ(d[4] & 0x01, 1);  // LONGLBA
  EXPECT_EQ(be16(d, 6), 16u);
  EXPECT_EQ(be64(d, 8), uint64_t{1} << 33);
  EXPECT_EQ(be32(d, 20), 512u);
  // Short descriptors say "too many to count" past 2^32 blocks.
  d = run(lu, mode_sense10(0x0A, false)).data_in;
  EXPECT_EQ(be16(d, 6), 8u);
  EXPECT_EQ(be32(d, 8), 0xffffffffu);
  d = run(lu, mode_sense10(0x0A, false, /*dbd=*/true)).data_in;
  EXPECT_EQ(d.size(), 8u + 12u);
  // Cut to the allocation length, the mode data length still whole.
  r = run(lu, mode_sense6(0x3F, 0, 0, false, 4));
  ASSERT_EQ(r.data_in.size(), 4u);
  EXPECT_GT(r.data_in[0], 3);
}

TEST(RequestSenseTest, NoSenseWhenNothingIsPending) {
  LogicalUnit lu(identity_for("r"), 512, 100);
  const Result r = run(lu, kRequestSense);
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 18u);
  EXPECT_EQ(r.data_in[0], 0x70);
  EXPECT_EQ(r.data_in[2] & 0x0f, 0);
  EXPECT_EQ(r.data_in[12], 0);
  EXPECT_EQ(r.data_in[13], 0);
}

TEST(UnitAttentionTest, ResetTellsEveryNexusSeenOnceAndRequestSenseClearsIt) {
  LogicalUnit lu(identity_for("ua"), 512, 100);
  for (uint64_t nexus : {1, 2, 3}) expect_good(run(lu, kTur, {}, nexus));
  lu.reset(1);
  // The nexus that reset is told too, once.
  expect_sense(run(lu, kTur, {}, 1), SenseKey::unit_attention, kPowerOnReset);
  expect_good(run(lu, kTur, {}, 1));
  // INQUIRY goes through and does not clear it.
  expect_good(run(lu, {0x12, 0, 0, 0, 36, 0}, {}, 2));
  expect_sense(run(lu, kTur, {}, 2), SenseKey::unit_attention, kPowerOnReset);
  expect_good(run(lu, kTur, {}, 2));
  // REQUEST SENSE returns it as data, and clears it.
  const Result rs = run(lu, kRequestSense, {}, 3);
  expect_good(rs);
  ASSERT_EQ(rs.data_in.size(), 18u);
  EXPECT_EQ(rs.data_in[2] & 0x0f, 0x6);
  EXPECT_EQ(rs.data_in[12], 0x29);
  EXPECT_EQ(rs.data_in[13], 0x00);
  expect_good(run(lu, kTur, {}, 3));
  // A nexus first seen after the reset has nothing pending.
  expect_good(run(lu, kTur, {}, 9));
}

TEST(UnitAttentionTest, CommandsClearedByAnotherIsToldOnceUnlessAResetSaysMore) {
  LogicalUnit lu(identity_for("ua"), 512, 100);
  for (uint64_t nexus : {1, 2}) expect_good(run(lu, kTur, {}, nexus));
  lu.commands_cleared(2);
  lu.commands_cleared(2);  // once, however often
  expect_good(run(lu, kTur, {}, 1));
  expect_sense(run(lu, kTur, {}, 2), SenseKey::unit_attention, kCommandsClearedByAnother);
  expect_good(run(lu, kTur, {}, 2));
  // After a reset (SAM-5 5.14: it outranks the rest), nothing is added.
  lu.reset(1);
  lu.commands_cleared(2);
  expect_sense(run(lu, kTur, {}, 2), SenseKey::unit_attention, kPowerOnReset);
  expect_good(run(lu, kTur, {}, 2));
}

TEST(UnitAttentionTest, AnyCommandReportsItEvenOneWithABadCdb) {
  LogicalUnit lu(identity_for("ua"), 512, 100);
  expect_good(run(lu, kTur, {}, 2));
  lu.reset(1);
  std::vector<uint8_t> read(10, 0);
  read[0] = 0x28;
  read[1] = 0xe0;  // RDPROTECT, an invalid field
  expect_sense(run(lu, read, {}, 2), SenseKey::unit_attention, kPowerOnReset);
  expect_sense(run(lu, read, {}, 2), SenseKey::illegal_request, kInvalidFieldInCdb);
}

TEST(UnitAttentionTest, ForgottenNexusesLoseTheirsAndDescriptorFormatIsOffered) {
  LogicalUnit lu(identity_for("ua"), 512, 100);
  expect_good(run(lu, kTur, {}, 2));
  expect_good(run(lu, kTur, {}, 3));
  lu.reset(1);
  lu.forget(2);
  expect_good(run(lu, kTur, {}, 2));
  std::vector<uint8_t> desc = kRequestSense;
  desc[1] = 0x01;
  const Result r = run(lu, desc, {}, 3);
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 8u);
  EXPECT_EQ(r.data_in[0], 0x72);
  EXPECT_EQ(r.data_in[1], 0x6);
  EXPECT_EQ(r.data_in[2], 0x29);
  EXPECT_EQ(r.data_in[7], 0);
}

TEST(UnitAttentionTest, AGrownFileChangesTheCapacityAndTellsEveryNexus) {
  FileUnit f(100);
  LogicalUnit& lu = f.unit();
  expect_good(run(lu, kTur, {}, 1));
  expect_good(run(lu, kTur, {}, 2));
  EXPECT_FALSE(lu.refresh_capacity());  // unchanged: no attention
  expect_good(run(lu, kTur, {}, 1));
  ASSERT_EQ(truncate(f.path().c_str(), 300 * 512 + 100), 0);
  EXPECT_TRUE(lu.refresh_capacity());
  EXPECT_EQ(lu.blocks(), 300u);  // whole blocks
  for (uint64_t nexus : {1, 2}) {
    expect_sense(run(lu, read_capacity_16(), {}, nexus), SenseKey::unit_attention,
                 kCapacityChanged);
    const Result rc = run(lu, read_capacity_16(), {}, nexus);
    expect_good(rc);
    EXPECT_EQ(be64(rc.data_in, 0), 299u);
  }
  expect_good(run(lu, std::vector<uint8_t>{0x28, 0, 0, 0, 1, 0x20, 0, 0, 1, 0}));  // LBA 288
}

TEST(UnitAttentionTest, AResetSupersedesACapacityChange) {
  FileUnit f(100);
  LogicalUnit& lu = f.unit();
  expect_good(run(lu, kTur, {}, 2));
  ASSERT_EQ(truncate(f.path().c_str(), 200 * 512), 0);
  EXPECT_TRUE(lu.refresh_capacity());
  lu.reset(1);
  expect_sense(run(lu, kTur, {}, 2), SenseKey::unit_attention, kPowerOnReset);
  expect_good(run(lu, kTur, {}, 2));
}

TEST(ControlByteTest, NacaIsAnInvalidFieldSinceThereIsNoAca) {
  LogicalUnit lu(identity_for("c"), 512, 100);
  const Result r = run(lu, {0x00, 0, 0, 0, 0, 0x04});
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 5);
  EXPECT_EQ(r.sense[15] & 0x0f, 0x08 | 2);
}

}  // namespace
}  // namespace offcopy::scsi
