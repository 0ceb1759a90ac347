// The commands that read blocks back to compare or combine them, on real
// sparse files: VERIFY, WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE, and
// the MISCOMPARE sense with the offset of the first difference.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using namespace testing;  // NOLINT: the helpers of scsi_testing.h

constexpr uint8_t kRead10 = 0x28, kWrite10 = 0x2A, kWrite16 = 0x8A, kWriteVerify10 = 0x2E,
                  kVerify10 = 0x2F, kVerify12 = 0xAF, kVerify16 = 0x8F, kWriteVerify12 = 0xAE,
                  kWriteVerify16 = 0x8E, kOrWrite16 = 0x8B, kRead16 = 0x88;
constexpr uint8_t kBytchk1 = 0x02, kBytchk3 = 0x06, kFua = 0x08;

// COMPARE AND WRITE of `blocks` blocks at `lba`.
std::vector<uint8_t> caw(uint64_t lba, uint8_t blocks, uint8_t flags = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x89;
  c[1] = flags;
  put_be64(c, 2, lba);
  c[13] = blocks;
  return c;
}

// MISCOMPARE DURING VERIFY OPERATION, VALID, this INFORMATION.
void expect_miscompare(const Result& r, uint32_t offset) {
  ASSERT_EQ(r.status, Status::check_condition);
  ASSERT_GE(r.sense.size(), 18u);
  EXPECT_EQ(r.sense[0], 0xF0);  // VALID, current, fixed format
  EXPECT_EQ(r.sense[2] & 0x0f, 0x0E);
  EXPECT_EQ(r.sense[12], 0x1D);
  EXPECT_EQ(r.sense[13], 0x00);
  EXPECT_EQ(be32(r.sense, 3), offset);
}

class VerifyIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_.resize(8 * 512);
    for (size_t i = 0; i < data_.size(); ++i) data_[i] = static_cast<uint8_t>(i * 13 + 1);
    expect_good(run(lu_, cdb10(kWrite10, 10, 8), data_));
  }
  FileUnit f_{1024};
  LogicalUnit& lu_ = f_.unit();
  std::vector<uint8_t> data_;
};

TEST_F(VerifyIoTest, VerifyComparesTheDataOutInEveryCdbSize) {
  expect_good(run(lu_, cdb10(kVerify10, 10, 8, kBytchk1), data_));
  expect_good(run(lu_, cdb12(kVerify12, 10, 8, kBytchk1), data_));
  const Result r = run(lu_, cdb16(kVerify16, 10, 8, kBytchk1), data_);
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, 8u * 512);
  std::vector<uint8_t> bad = data_;
  bad[3 * 512 + 77] ^= 0x40;
  bad[5 * 512] ^= 0x01;  // a later difference too: the first is reported
  expect_miscompare(run(lu_, cdb10(kVerify10, 10, 8, kBytchk1), bad), 3 * 512 + 77);
  expect_miscompare(run(lu_, cdb16(kVerify16, 10, 8, kBytchk1), bad), 3 * 512 + 77);
}

TEST_F(VerifyIoTest, VerifyWithoutBytchkOnlyReadsTheRange) {
  const Result r = run(lu_, cdb10(kVerify10, 10, 8), std::vector<uint8_t>(8 * 512, 0xEE));
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, 0u);  // it wanted none: the transport's residual
  expect_good(run(lu_, cdb16(kVerify16, 0, 1024)));
}

TEST_F(VerifyIoTest, VerifyWithBytchk3ComparesOneBlockWithEveryBlock) {
  expect_good(run(lu_, cdb10(kWrite10, 100, 4), std::vector<uint8_t>(4 * 512, 'x')));
  const Result r = run(lu_, cdb10(kVerify10, 100, 4, kBytchk3), std::vector<uint8_t>(512, 'x'));
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, 512u);
  std::vector<uint8_t> other(3 * 512, 'x');
  other[2 * 512 + 5] = 'y';
  expect_good(run(lu_, cdb10(kWrite10, 101, 3), other));
  // Block 102 differs at its byte 5: offset 2 blocks + 5 into the range.
  expect_miscompare(run(lu_, cdb10(kVerify10, 100, 4, kBytchk3), std::vector<uint8_t>(512, 'x')),
                    3 * 512 + 5);
}

TEST_F(VerifyIoTest, VerifyRefusesVrprotectAndTheReservedBytchkAndChecksItsRange) {
  for (uint8_t protect : {0x20, 0x80}) {
    const Result r = run(lu_, cdb10(kVerify10, 10, 1, protect | kBytchk1), data_);
    expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
    expect_field(r, 1);
    EXPECT_EQ(r.sense[15] & 0x0f, 0x08 | 7);
  }
  const Result reserved = run(lu_, cdb10(kVerify10, 10, 1, 0x04), data_);  // BYTCHK 10b
  expect_sense(reserved, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(reserved, 1);
  EXPECT_EQ(reserved.sense[15] & 0x0f, 0x08 | 2);
  expect_sense(run(lu_, cdb10(kVerify10, 1020, 5)), SenseKey::illegal_request, kLbaOutOfRange);
  expect_sense(run(lu_, cdb10(kVerify10, 1025, 0)), SenseKey::illegal_request, kLbaOutOfRange);
  expect_good(run(lu_, cdb10(kVerify10, 1024, 0)));
  FileUnit big(70000);
  const Result r = run(big.unit(), cdb16(kVerify16, 0, 65537));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 10);
}

TEST_F(VerifyIoTest, WriteAndVerifyWritesSyncsAndReadsBack) {
  struct Case {
    std::vector<uint8_t> cdb;
  };
  const std::vector<uint8_t> block(2 * 512, 'w');
  const Case cases[] = {{cdb10(kWriteVerify10, 200, 2, kBytchk1)},
                        {cdb12(kWriteVerify12, 202, 2, kBytchk1)},
                        {cdb16(kWriteVerify16, 204, 2)}};
  for (const Case& c : cases) {
    const uint64_t syncs = f_.file().syncs();
    const Result r = run(lu_, c.cdb, block);
    expect_good(r);
    EXPECT_EQ(r.data_out_wanted, 2u * 512);
    EXPECT_EQ(f_.file().syncs(), syncs + 1);
  }
  EXPECT_EQ(run(lu_, cdb10(kRead10, 200, 6)).data_in, std::vector<uint8_t>(6 * 512, 'w'));
  // Short data-out: the whole blocks sent, as WRITE.
  const Result shorter = run(lu_, cdb10(kWriteVerify10, 300, 2, kBytchk1),
                             std::vector<uint8_t>(600, 's'));
  expect_good(shorter);
  EXPECT_EQ(shorter.data_out_wanted, 1024u);
  std::vector<uint8_t> want(1024, 0);
  std::fill_n(want.begin(), 512, 's');
  EXPECT_EQ(run(lu_, cdb10(kRead10, 300, 2)).data_in, want);
  const Result none = run(lu_, cdb10(kWriteVerify10, 0, 1, kBytchk1), {});
  expect_good(none);
  EXPECT_EQ(none.data_out_wanted, 512u);
}

TEST_F(VerifyIoTest, WriteAndVerifyChecksItsFields) {
  const Result protect = run(lu_, cdb10(kWriteVerify10, 0, 1, 0x20), std::vector<uint8_t>(512));
  expect_sense(protect, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(protect, 1);
  const Result bytchk = run(lu_, cdb10(kWriteVerify10, 0, 1, 0x04), std::vector<uint8_t>(512));
  expect_sense(bytchk, SenseKey::illegal_request, kInvalidFieldInCdb);
  EXPECT_EQ(bytchk.sense[15] & 0x0f, 0x08 | 2);
  expect_sense(run(lu_, cdb16(kWriteVerify16, 1024, 1), std::vector<uint8_t>(512)),
               SenseKey::illegal_request, kLbaOutOfRange);
}

TEST_F(VerifyIoTest, CompareAndWriteWritesOnlyWhenEveryByteMatches) {
  std::vector<uint8_t> out(data_.begin(), data_.begin() + 2 * 512);
  out.resize(4 * 512, 'N');
  const Result r = run(lu_, caw(10, 2), out);
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, 4u * 512);
  EXPECT_EQ(run(lu_, cdb10(kRead10, 10, 2)).data_in, std::vector<uint8_t>(2 * 512, 'N'));

  // The first differing byte of the compare half, wherever it is.
  for (uint32_t at : {0u, 511u, 512u + 300u}) {
    std::vector<uint8_t> bad(2 * 512, 'N');
    bad[at] = 'Z';
    bad.resize(4 * 512, 'M');
    expect_miscompare(run(lu_, caw(10, 2), bad), at);
  }
  EXPECT_EQ(run(lu_, cdb10(kRead10, 10, 2)).data_in, std::vector<uint8_t>(2 * 512, 'N'));
}

TEST_F(VerifyIoTest, CompareAndWriteChecksItsFieldsAndItsDataOut) {
  // The Block Limits page advertises the maximum it keeps.
  const Result vpd = run(lu_, {0x12, 1, 0xB0, 0, 64, 0});
  EXPECT_EQ(vpd.data_in[5], 255);
  expect_good(run(lu_, caw(0, 0)));  // 0 blocks: nothing to do
  const Result protect = run(lu_, caw(0, 1, 0x20), std::vector<uint8_t>(1024));
  expect_sense(protect, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(protect, 1);
  expect_sense(run(lu_, caw(1024, 1), std::vector<uint8_t>(1024)), SenseKey::illegal_request,
               kLbaOutOfRange);
  // Data-out not twice the blocks (libiscsi sends 256 blocks' worth with
  // the field wrapped to 0): the CDB's length is at fault.
  for (auto [blocks, bytes] : {std::pair{1, 4 * 512}, {3, 4 * 512}, {0, 512 * 512}, {1, 0}}) {
    const Result r = run(lu_, caw(0, static_cast<uint8_t>(blocks)), std::vector<uint8_t>(bytes));
    expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
    expect_field(r, 13);
  }
  // FUA syncs; DPO is accepted.
  const uint64_t syncs = f_.file().syncs();
  std::vector<uint8_t> same(data_.begin(), data_.begin() + 512);
  same.insert(same.end(), data_.begin(), data_.begin() + 512);
  expect_good(run(lu_, caw(10, 1, kFua | 0x10), same));
  EXPECT_EQ(f_.file().syncs(), syncs + 1);
}

TEST(VerifyIoReadOnlyTest, WritingCommandsAreWriteProtectedAndVerifyIsNot) {
  FileUnit f(64, UnitOptions{.block_size = 512, .read_only = true});
  const std::vector<uint8_t> block(512, 0);
  expect_sense(run(f.unit(), cdb10(kWriteVerify10, 0, 1), block), SenseKey::data_protect,
               kWriteProtected);
  expect_sense(run(f.unit(), caw(0, 1), std::vector<uint8_t>(1024)), SenseKey::data_protect,
               kWriteProtected);
  expect_sense(run(f.unit(), cdb16(kOrWrite16, 0, 1), block), SenseKey::data_protect,
               kWriteProtected);
  expect_good(run(f.unit(), cdb10(kVerify10, 0, 1, kBytchk1), block));
}

TEST_F(VerifyIoTest, OrWriteOrsTheDataOutIntoTheBlocks) {
  expect_good(run(lu_, cdb16(kWrite16, 500, 2), std::vector<uint8_t>(1024, 0x0F)));
  const Result r = run(lu_, cdb16(kOrWrite16, 500, 2), std::vector<uint8_t>(1024, 0xA0));
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, 1024u);
  EXPECT_EQ(run(lu_, cdb16(kRead16, 500, 2)).data_in, std::vector<uint8_t>(1024, 0xAF));
  const Result protect = run(lu_, cdb16(kOrWrite16, 0, 1, 0x40), std::vector<uint8_t>(512));
  expect_sense(protect, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(protect, 1);
  expect_sense(run(lu_, cdb16(kOrWrite16, 1023, 2), std::vector<uint8_t>(1024)),
               SenseKey::illegal_request, kLbaOutOfRange);
  expect_good(run(lu_, cdb16(kOrWrite16, 1024, 0)));
  const uint64_t syncs = f_.file().syncs();
  expect_good(run(lu_, cdb16(kOrWrite16, 0, 1, kFua), std::vector<uint8_t>(512, 1)));
  EXPECT_EQ(f_.file().syncs(), syncs + 1);
}

// COMPARE AND WRITE is atomic against writes: block 0 holds a counter that
// threads increment by compare-and-write while others write block 1 (and
// so take the unit shared); no increment is lost.
TEST(VerifyIoConcurrencyTest, CompareAndWriteIncrementsAreNeverLost) {
  FileUnit f(16);
  LogicalUnit& lu = f.unit();
  expect_good(run(lu, cdb10(kWrite10, 0, 1), std::vector<uint8_t>(512, 0)));
  constexpr int kThreads = 4, kIncrements = 50;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) run(lu, cdb10(kWrite10, 1, 1), std::vector<uint8_t>(512, 7));
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kIncrements;) {
        const std::vector<uint8_t> now = run(lu, cdb10(kRead10, 0, 1)).data_in;
        std::vector<uint8_t> out = now;
        out.resize(1024);
        std::copy(now.begin(), now.end(), out.begin() + 512);
        put_be32(out, 512, be32(now, 0) + 1);
        if (run(lu, caw(0, 1), out).status == Status::good) ++done;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  stop = true;
  writer.join();
  EXPECT_EQ(be32(run(lu, cdb10(kRead10, 0, 1)).data_in, 0), uint32_t{kThreads * kIncrements});
}

}  // namespace
}  // namespace offcopy::scsi
