// The command table and what reads it (REPORT SUPPORTED OPERATION CODES,
// dispatch), REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS, and the small
// commands of a fixed, non-removable unit: MODE SELECT, READ DEFECT DATA,
// PRE-FETCH, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL.
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using namespace testing;  // NOLINT: the helpers of scsi_testing.h

std::vector<uint8_t> rsoc(uint8_t options, uint8_t opcode = 0, uint16_t sa = 0,
                          uint32_t allocation = 65535, bool rctd = false) {
  std::vector<uint8_t> c(12, 0);
  c[0] = 0xA3;
  c[1] = 0x0C;
  c[2] = static_cast<uint8_t>((rctd ? 0x80 : 0) | options);
  c[3] = opcode;
  put_be16(c, 4, sa);
  put_be32(c, 6, allocation);
  return c;
}

struct Descriptor {
  uint8_t opcode;
  uint16_t sa;
  bool servactv, ctdp;
  uint16_t cdb_length;
};
std::vector<Descriptor> all_commands(LogicalUnit& lu, bool rctd = false) {
  const Result r = run(lu, rsoc(0, 0, 0, 65535, rctd));
  EXPECT_EQ(r.status, Status::good);
  std::vector<Descriptor> out;
  if (r.data_in.size() < 4) return out;
  EXPECT_EQ(be32(r.data_in, 0) + 4, r.data_in.size());
  const size_t step = rctd ? 20 : 8;
  for (size_t at = 4; at + step <= r.data_in.size(); at += step) {
    out.push_back({r.data_in[at], be16(r.data_in, at + 2), (r.data_in[at + 5] & 1) != 0,
                   (r.data_in[at + 5] & 2) != 0, be16(r.data_in, at + 6)});
    if (rctd) {
      EXPECT_EQ(be16(r.data_in, at + 8), 0x0A);
    }
  }
  return out;
}

class CommandsTest : public ::testing::Test {
 protected:
  FileUnit f_{1024};
  LogicalUnit& lu_ = f_.unit();
};

TEST_F(CommandsTest, EveryCommandReportedIsAnsweredAndDescribedAlone) {
  const std::vector<Descriptor> all = all_commands(lu_);
  ASSERT_GT(all.size(), 30u);
  std::set<std::pair<uint8_t, uint16_t>> seen;
  for (const Descriptor& d : all) {
    EXPECT_TRUE(seen.insert({d.opcode, d.sa}).second) << "twice: " << int(d.opcode);
    EXPECT_FALSE(d.ctdp);
    EXPECT_TRUE(d.servactv || d.sa == 0);
    EXPECT_NE(d.cdb_length, 0);
    // Reporting options 3 fits either; 1 and 2 each fit one kind.
    const Result one = run(lu_, rsoc(3, d.opcode, d.sa));
    expect_good(one);
    ASSERT_GE(one.data_in.size(), 4u);
    EXPECT_EQ(one.data_in[1] & 0x07, 0x03);  // supported, per the standard
    EXPECT_EQ(be16(one.data_in, 2), d.cdb_length);
    ASSERT_EQ(one.data_in.size(), 4u + d.cdb_length);
    EXPECT_EQ(one.data_in[4], d.opcode);
    if (d.servactv) {
      EXPECT_EQ(one.data_in[5] & 0x1f, d.sa);
    }
    const Result wrong = run(lu_, rsoc(d.servactv ? 1 : 2, d.opcode, d.sa));
    expect_sense(wrong, SenseKey::illegal_request, kInvalidFieldInCdb);
    expect_field(wrong, 2);
    // And the unit answers it: never INVALID COMMAND OPERATION CODE.
    if (d.opcode == 0xA0 || d.opcode == 0x03) continue;  // answered before the unit
    std::vector<uint8_t> cdb(d.cdb_length, 0);
    cdb[0] = d.opcode;
    if (d.servactv) cdb[1] = static_cast<uint8_t>(d.sa);
    const Result r = run(lu_, cdb);
    if (r.status == Status::check_condition) {
      EXPECT_FALSE(r.sense[12] == 0x20 && r.sense[13] == 0) << int(d.opcode);
    }
  }
  for (uint8_t op :
       {0x28, 0x2A, 0x2F, 0x2E, 0x89, 0x8B, 0x8F, 0x34, 0x90, 0x15, 0x55, 0x1B, 0x1E, 0x37, 0xB7}) {
    EXPECT_TRUE(seen.count({op, 0})) << int(op);
  }
  EXPECT_TRUE(seen.count({0x9E, 0x10}));
  EXPECT_TRUE(seen.count({0xA3, 0x0C}));
  EXPECT_TRUE(seen.count({0xA3, 0x0D}));
}

TEST_F(CommandsTest, UsageDataShowsDpoAndFuaWhereTheyAreAccepted) {
  for (auto [op, mask] : {std::pair<uint8_t, uint8_t>{0x2F, 0x10},
                          {0x2E, 0x10},
                          {0x89, 0x18},
                          {0x8B, 0x18},
                          {0x28, 0x18}}) {
    const Result r = run(lu_, rsoc(1, op));
    expect_good(r);
    EXPECT_EQ(r.data_in[5] & mask, mask) << int(op);
    EXPECT_EQ(r.data_in[5] & 0xe0, 0) << int(op);  // no protection information
  }
}

TEST_F(CommandsTest, AnUnknownCommandIsReportedNotSupported) {
  for (auto [options, op, sa] :
       {std::tuple{1, 0x04, 0}, {3, 0xC0, 0}, {2, 0x9E, 0x05}, {3, 0xA3, 0x1F}, {2, 0x9E, 0x100}}) {
    const Result r = run(lu_, rsoc(static_cast<uint8_t>(options), static_cast<uint8_t>(op),
                                   static_cast<uint16_t>(sa)));
    expect_good(r);
    ASSERT_EQ(r.data_in.size(), 4u);
    EXPECT_EQ(r.data_in[1] & 0x07, 0x01);
  }
  const Result bad = run(lu_, rsoc(4));
  expect_sense(bad, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(bad, 2);
  // An unknown service action of MAINTENANCE IN points at it.
  std::vector<uint8_t> cdb = rsoc(0);
  cdb[1] = 0x1F;
  const Result sa = run(lu_, cdb);
  expect_sense(sa, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(sa, 1);
}

TEST_F(CommandsTest, RctdAddsATimeoutsDescriptorToEachCommand) {
  const std::vector<Descriptor> all = all_commands(lu_, true);
  ASSERT_FALSE(all.empty());
  for (const Descriptor& d : all) EXPECT_TRUE(d.ctdp);
  const Result one = run(lu_, rsoc(1, 0x28, 0, 65535, true));
  expect_good(one);
  EXPECT_EQ(one.data_in[1] & 0x80, 0x80);
  ASSERT_EQ(one.data_in.size(), 4u + 10 + 12);
  EXPECT_EQ(be16(one.data_in, 14), 0x0A);
  // Cut to the allocation length.
  EXPECT_EQ(run(lu_, rsoc(0, 0, 0, 10)).data_in.size(), 10u);
}

TEST(CommandsThickTest, UnmapIsReportedOnlyWhereItIsAnswered) {
  // A unit with no file cannot punch: no UNMAP, in the list or answered.
  LogicalUnit lu(identity_for("x"), 512, 64);
  for (const Descriptor& d : all_commands(lu)) EXPECT_NE(d.opcode, 0x42);
  expect_sense(run(lu, unmap_cdb(24), unmap_list({{0, 1}})), SenseKey::illegal_request,
               kInvalidOpcode);
  const Result r = run(lu, rsoc(1, 0x42));
  EXPECT_EQ(r.data_in[1] & 0x07, 0x01);
}

TEST_F(CommandsTest, SupportedTaskManagementFunctions) {
  std::vector<uint8_t> cdb(12, 0);
  cdb[0] = 0xA3;
  cdb[1] = 0x0D;
  put_be32(cdb, 6, 4);
  Result r = run(lu_, cdb);
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 4u);
  EXPECT_EQ(r.data_in[0], 0xDA);  // ATS, ATSS, CTSS, LURS, TRS
  cdb[2] = 0x80;                  // REPD
  put_be32(cdb, 6, 64);
  r = run(lu_, cdb);
  ASSERT_EQ(r.data_in.size(), 16u);
  EXPECT_EQ(r.data_in[3], 0x0C);
}

// MODE SELECT's parameter list: a header (and block descriptor) then the
// pages as MODE SENSE returned them.
std::vector<uint8_t> mode_select6(uint8_t length, uint8_t flags = 0x10) {
  return {0x15, flags, 0, 0, length, 0};
}
std::vector<uint8_t> mode_select10(uint16_t length, uint8_t flags = 0x10) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x55;
  c[1] = flags;
  put_be16(c, 7, length);
  return c;
}

TEST_F(CommandsTest, ModeSelectTakesBackTheCurrentPagesAndRefusesChanges) {
  // MODE SENSE (6), all pages with the block descriptor, sent back as is.
  Result sense = run(lu_, {0x1A, 0, 0x3F, 0, 255, 0});
  expect_good(sense);
  std::vector<uint8_t> list = sense.data_in;
  list[0] = 0;  // MODE DATA LENGTH is reserved in MODE SELECT
  const Result r = run(lu_, mode_select6(static_cast<uint8_t>(list.size())), list);
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, list.size());
  // The same through MODE SELECT (10), no block descriptor; a bit that is
  // not changeable (the control page's QERR) is refused where it is.
  sense = run(lu_, {0x5A, 0x08, 0x0A, 0, 0, 0, 0, 0, 255, 0});
  expect_good(sense);
  list = sense.data_in;
  put_be16(list, 0, 0);
  expect_good(run(lu_, mode_select10(static_cast<uint16_t>(list.size())), list));
  list[8 + 3] ^= 0x04;  // the control page's QERR
  const Result qerr = run(lu_, mode_select10(static_cast<uint16_t>(list.size())), list);
  expect_sense(qerr, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(qerr, 11, false);
  EXPECT_EQ(qerr.sense[15] & 0x0f, 0x08 | 2);
}

TEST_F(CommandsTest, ModeSelectTurnsTheWriteCacheAndSoftwareWriteProtectOnAndOff) {
  const std::vector<uint8_t> tur = {0, 0, 0, 0, 0, 0};
  expect_good(run(lu_, tur, {}, /*nexus=*/2));  // another nexus the unit has seen
  // Changeable: WCE in the caching page, SWP in the control page.
  const Result changeable = run(lu_, {0x1A, 0x08, 0x40 | 0x3F, 0, 255, 0});
  ASSERT_GE(changeable.data_in.size(), 4u + 20u + 12u);
  EXPECT_EQ(changeable.data_in[4 + 2], 0x04) << "WCE";
  EXPECT_EQ(changeable.data_in[4 + 20 + 4], 0x08) << "SWP";

  // WCE off: every write is synced, as with write_cache = false.
  Result sense = run(lu_, {0x1A, 0x08, 0x08, 0, 255, 0});
  std::vector<uint8_t> list = sense.data_in;
  list[0] = 0;
  list[4 + 2] &= ~0x04;
  expect_good(run(lu_, mode_select6(static_cast<uint8_t>(list.size())), list));
  EXPECT_EQ(run(lu_, {0x1A, 0x08, 0x08, 0, 255, 0}).data_in[4 + 2] & 0x04, 0);
  EXPECT_EQ(run(lu_, {0x1A, 0x08, 0x88, 0, 255, 0}).data_in[4 + 2] & 0x04, 0x04)
      << "the default is still the config's";
  const uint64_t syncs = f_.file().syncs();
  expect_good(run(lu_, cdb10(0x2A, 0, 1), std::vector<uint8_t>(512, 1)));
  EXPECT_EQ(f_.file().syncs(), syncs + 1);
  // The other nexus is told, once; the one that changed it is not.
  expect_sense(run(lu_, tur, {}, 2), SenseKey::unit_attention, kModeParametersChanged);
  expect_good(run(lu_, tur, {}, 2));
  expect_good(run(lu_, tur));

  // SWP on: writes are refused, reads are not, WP shows in the header.
  sense = run(lu_, {0x1A, 0x08, 0x0A, 0, 255, 0});
  list = sense.data_in;
  list[0] = 0;
  list[4 + 4] |= 0x08;
  expect_good(run(lu_, mode_select6(static_cast<uint8_t>(list.size())), list));
  EXPECT_EQ(run(lu_, {0x1A, 0x08, 0x0A, 0, 255, 0}).data_in[2] & 0x80, 0x80) << "WP";
  const Result w = run(lu_, cdb10(0x2A, 0, 1), std::vector<uint8_t>(512, 2));
  expect_sense(w, SenseKey::data_protect, kSoftwareWriteProtected);
  expect_good(run(lu_, cdb10(0x28, 0, 1)));
  list[4 + 4] &= ~0x08;
  expect_good(run(lu_, mode_select6(static_cast<uint8_t>(list.size())), list));
  expect_good(run(lu_, cdb10(0x2A, 0, 1), std::vector<uint8_t>(512, 3)));
}

TEST_F(CommandsTest, ModeSelectChecksItsCdbAndItsList) {
  expect_good(run(lu_, mode_select6(0)));  // nothing sent, nothing changed
  const Result sp = run(lu_, mode_select6(12, 0x11), std::vector<uint8_t>(12));
  expect_sense(sp, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(sp, 1);
  EXPECT_EQ(sp.sense[15] & 0x0f, 0x08 | 0);
  const Result pf = run(lu_, mode_select6(12, 0x00), std::vector<uint8_t>(12));
  expect_sense(pf, SenseKey::illegal_request, kInvalidFieldInCdb);
  EXPECT_EQ(pf.sense[15] & 0x0f, 0x08 | 4);
  // Shorter than its header, or than a page it starts.
  expect_sense(run(lu_, mode_select6(3), std::vector<uint8_t>(3)), SenseKey::illegal_request,
               kParameterListLength);
  expect_sense(run(lu_, mode_select6(8), {0, 0, 0, 0, 0x0A, 0x0A, 0, 0x10}),
               SenseKey::illegal_request, kParameterListLength);
  // A page this unit does not have; a wrong page length.
  const Result page = run(lu_, mode_select6(8), {0, 0, 0, 0, 0x19, 0x02, 0, 0});
  expect_sense(page, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(page, 4, false);
  const Result len = run(lu_, mode_select6(8), {0, 0, 0, 0, 0x0A, 0x02, 0, 0x10});
  expect_sense(len, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(len, 5, false);
  // A block descriptor with another block size.
  std::vector<uint8_t> bd = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0};
  const Result size = run(lu_, mode_select6(12), bd);
  expect_sense(size, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(size, 8, false);
  bd[10] = 0x02;  // 512: the unit as it is
  expect_good(run(lu_, mode_select6(12), bd));
}

TEST_F(CommandsTest, ReadDefectDataIsAnEmptyListInTheFormatAskedFor) {
  const Result ten = run(lu_, {0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0});
  expect_good(ten);
  EXPECT_EQ(ten.data_in, (std::vector<uint8_t>{0, 0x1D, 0, 0}));
  const Result twelve = run(lu_, {0xB7, 0x08, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0});
  expect_good(twelve);
  EXPECT_EQ(twelve.data_in, (std::vector<uint8_t>{0, 0x08, 0, 0, 0, 0, 0, 0}));
  const Result vendor = run(lu_, {0x37, 0, 0x06, 0, 0, 0, 0, 0, 32, 0});
  expect_sense(vendor, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(vendor, 2);
  EXPECT_EQ(run(lu_, {0x37, 0, 0, 0, 0, 0, 0, 0, 2, 0}).data_in.size(), 2u);
}

TEST_F(CommandsTest, PrefetchChecksItsRangeAndIsGood) {
  expect_good(run(lu_, cdb10(0x34, 0, 1024)));
  expect_good(run(lu_, cdb10(0x34, 0, 16, 0x02)));  // IMMED
  expect_good(run(lu_, cdb16(0x90, 1000, 24)));
  expect_good(run(lu_, cdb16(0x90, 1024, 0)));
  expect_sense(run(lu_, cdb10(0x34, 1020, 5)), SenseKey::illegal_request, kLbaOutOfRange);
  expect_sense(run(lu_, cdb16(0x90, ~0ULL, 2)), SenseKey::illegal_request, kLbaOutOfRange);
}

TEST_F(CommandsTest, StartStopUnitOnAFixedUnit) {
  auto ssu = [](uint8_t b4, uint8_t b1 = 0) { return std::vector<uint8_t>{0x1B, b1, 0, 0, b4, 0}; };
  expect_good(run(lu_, ssu(0x01)));        // START
  expect_good(run(lu_, ssu(0x01, 0x01)));  // IMMED
  uint64_t syncs = f_.file().syncs();
  expect_good(run(lu_, ssu(0x00)));  // STOP: the cache is flushed
  EXPECT_EQ(f_.file().syncs(), syncs + 1);
  expect_good(run(lu_, ssu(0x04)));  // NO_FLUSH
  EXPECT_EQ(f_.file().syncs(), syncs + 1);
  expect_good(run(lu_, {0x00, 0, 0, 0, 0, 0}));  // still ready
  const Result loej = run(lu_, ssu(0x02));
  expect_sense(loej, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(loej, 4);
  EXPECT_EQ(loej.sense[15] & 0x0f, 0x08 | 1);
  const Result power = run(lu_, ssu(0x31));
  expect_sense(power, SenseKey::illegal_request, kInvalidFieldInCdb);
  EXPECT_EQ(power.sense[15] & 0x0f, 0x08 | 7);
}

TEST_F(CommandsTest, PreventAllowMediumRemovalOnAFixedUnit) {
  expect_good(run(lu_, {0x1E, 0, 0, 0, 0x00, 0}));
  expect_good(run(lu_, {0x1E, 0, 0, 0, 0x01, 0}));
  for (uint8_t prevent : {0x02, 0x03}) {
    const Result r = run(lu_, {0x1E, 0, 0, 0, prevent, 0});
    expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
    expect_field(r, 4);
  }
}

}  // namespace
}  // namespace offcopy::scsi
