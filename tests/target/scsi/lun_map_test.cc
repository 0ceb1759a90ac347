// LunMap: LUN addressing, REPORT LUNS, and what a LUN with no unit
// answers (SPC-4 4.6.4).
#include "scsi/lun_map.h"

#include <future>
#include <vector>

#include <gtest/gtest.h>

#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using testing::expect_field;
using testing::expect_good;
using testing::expect_sense;

Result send(const LunMap& map, uint64_t lun, const std::vector<uint8_t>& cdb,
            uint32_t limit = UINT32_MAX) {
  Command c;
  c.cdb = cdb;
  c.allocation_limit = limit;
  std::promise<Result> p;
  map.submit(lun, c, [&p](Result r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

std::vector<uint8_t> report_luns(uint8_t select, uint32_t allocation) {
  std::vector<uint8_t> c(12, 0);
  c[0] = 0xA0;
  c[2] = select;
  put_be32(c, 6, allocation);
  return c;
}

LunMap make_map() {
  std::map<uint16_t, std::shared_ptr<LogicalUnit>> units;
  for (uint16_t lun : {0, 3, 300}) {
    units[lun] = std::make_shared<LogicalUnit>(identity_for("t," + std::to_string(lun)), 512,
                                               1000 + lun);
  }
  return LunMap(std::move(units));
}

TEST(LunNumberTest, PeripheralAndFlatAddressingAndNothingElse) {
  EXPECT_EQ(lun_number(0), 0);
  EXPECT_EQ(lun_number(0x0005000000000000ULL), 5);
  EXPECT_EQ(lun_number(0x00ff000000000000ULL), 255);
  EXPECT_EQ(lun_number(0x4001000000000000ULL), 1);
  EXPECT_EQ(lun_number(0x412c000000000000ULL), 300);
  EXPECT_EQ(lun_number(0x7fff000000000000ULL), 0x3fff);
  EXPECT_EQ(lun_number(0x0105000000000000ULL), std::nullopt);  // bus 1
  EXPECT_EQ(lun_number(0x8005000000000000ULL), std::nullopt);  // logical unit addressing
  EXPECT_EQ(lun_number(0xc005000000000000ULL), std::nullopt);  // extended
  EXPECT_EQ(lun_number(0x0005000100000000ULL), std::nullopt);  // a second level
  EXPECT_EQ(lun_number(0x0000000000000001ULL), std::nullopt);
  for (uint16_t lun : {0, 1, 255, 256, 300, 0x3fff}) EXPECT_EQ(lun_number(lun_field(lun)), lun);
  EXPECT_EQ(lun_field(7), 0x0007000000000000ULL);
  EXPECT_EQ(lun_field(300), 0x412c000000000000ULL);
}

TEST(LunMapTest, CommandsGoToTheUnitTheLunNames) {
  const LunMap map = make_map();
  EXPECT_EQ(map.find(lun_field(3)), map.units().at(3).get());
  EXPECT_EQ(map.find(lun_field(300)), map.units().at(300).get());
  EXPECT_EQ(map.find(lun_field(4)), nullptr);
  const std::vector<uint8_t> rc10 = {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(be32(send(map, lun_field(3), rc10).data_in, 0), 1002u);
  EXPECT_EQ(be32(send(map, lun_field(300), rc10).data_in, 0), 1299u);
}

TEST(LunMapTest, ReportLunsListsEveryUnitFromAnyLun) {
  const LunMap map = make_map();
  for (uint64_t lun : {lun_field(0), lun_field(3), lun_field(77)}) {
    for (uint8_t select : {0, 2}) {
      const Result r = send(map, lun, report_luns(select, 4096));
      expect_good(r);
      ASSERT_EQ(r.data_in.size(), 8u + 3 * 8);
      EXPECT_EQ(be32(r.data_in, 0), 24u);
      EXPECT_EQ(be64(r.data_in, 8), lun_field(0));
      EXPECT_EQ(be64(r.data_in, 16), lun_field(3));
      EXPECT_EQ(be64(r.data_in, 24), lun_field(300));
    }
  }
  // Well-known LUNs only: there are none.
  const Result wk = send(map, 0, report_luns(1, 4096));
  expect_good(wk);
  ASSERT_EQ(wk.data_in.size(), 8u);
  EXPECT_EQ(be32(wk.data_in, 0), 0u);
  // Cut to the allocation length, the list length still whole.
  const Result cut = send(map, 0, report_luns(0, 16));
  ASSERT_EQ(cut.data_in.size(), 16u);
  EXPECT_EQ(be32(cut.data_in, 0), 24u);
}

TEST(LunMapTest, ReportLunsChecksItsCdb) {
  const LunMap map = make_map();
  Result r = send(map, 0, report_luns(3, 4096));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 2);
  r = send(map, 0, report_luns(0, 15));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 6);
  expect_sense(send(map, 0, {0xA0, 0, 0, 0, 0, 0}), SenseKey::illegal_request, kInvalidFieldInCdb);
}

TEST(LunMapTest, ReportLunsIsAnsweredDespiteAUnitAttention) {
  const LunMap map = make_map();
  const std::vector<uint8_t> tur = {0, 0, 0, 0, 0, 0};
  Command c;
  c.cdb = tur;
  c.nexus = 5;
  map.units().at(0)->execute(c);
  map.units().at(0)->reset(1);
  expect_good(send(map, 0, report_luns(0, 4096)));
}

TEST(LunMapTest, ALunWithNoUnitSaysSo) {
  const LunMap map = make_map();
  const uint64_t none = lun_field(4);
  const Result inq = send(map, none, {0x12, 0, 0, 0, 96, 0});
  expect_good(inq);
  ASSERT_EQ(inq.data_in.size(), 36u);
  EXPECT_EQ(inq.data_in[0], 0x7F);  // qualifier 011b, type 1Fh
  EXPECT_EQ(inq.data_in[2], 0x06);
  EXPECT_EQ(send(map, none, {0x12, 0, 0, 0, 5, 0}).data_in.size(), 5u);

  const Result rs = send(map, none, {0x03, 0, 0, 0, 252, 0});
  expect_good(rs);
  ASSERT_EQ(rs.data_in.size(), 18u);
  EXPECT_EQ(rs.data_in[2] & 0x0f, 0x5);
  EXPECT_EQ(rs.data_in[12], 0x25);

  for (const std::vector<uint8_t>& cdb :
       {std::vector<uint8_t>{0, 0, 0, 0, 0, 0}, std::vector<uint8_t>{0x12, 1, 0x80, 0, 96, 0},
        std::vector<uint8_t>{0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, std::vector<uint8_t>{}}) {
    expect_sense(send(map, none, cdb), SenseKey::illegal_request, kLunNotSupported);
  }
  // An address this target cannot have is no unit either.
  expect_sense(send(map, 0x8000000000000000ULL, {0, 0, 0, 0, 0, 0}), SenseKey::illegal_request,
               kLunNotSupported);
}

}  // namespace
}  // namespace offcopy::scsi
