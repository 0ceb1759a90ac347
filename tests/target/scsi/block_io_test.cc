// The commands that need the backing file, on real sparse files: READ,
// WRITE, SYNCHRONIZE CACHE, UNMAP, WRITE SAME, GET LBA STATUS, and the
// sense each error gets.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using namespace testing;  // NOLINT: the helpers of scsi_testing.h

constexpr uint8_t kRead6 = 0x08, kWrite6 = 0x0A, kRead10 = 0x28, kWrite10 = 0x2A, kRead12 = 0xA8,
                  kWrite12 = 0xAA, kRead16 = 0x88, kWrite16 = 0x8A, kSync10 = 0x35, kSync16 = 0x91,
                  kWriteSame10 = 0x41, kWriteSame16 = 0x93;
constexpr uint8_t kFua = 0x08, kDpo = 0x10;

std::vector<uint8_t> pattern(size_t bytes, uint8_t seed) {
  std::vector<uint8_t> b(bytes);
  for (size_t i = 0; i < bytes; ++i) b[i] = static_cast<uint8_t>(seed + i * 7 + i / 512);
  return b;
}

// One GET LBA STATUS descriptor.
struct LbaStatus {
  uint64_t lba;
  uint32_t blocks;
  uint8_t status;  // 0 mapped, 1 deallocated
};
std::vector<LbaStatus> lba_status(LogicalUnit& lu, uint64_t lba) {
  const Result r = run(lu, get_lba_status(lba));
  EXPECT_EQ(r.status, Status::good);
  std::vector<LbaStatus> out;
  if (r.data_in.size() < 8) return out;
  EXPECT_EQ(be32(r.data_in, 0) + 4, r.data_in.size());
  for (size_t at = 8; at + 16 <= r.data_in.size(); at += 16) {
    out.push_back({be64(r.data_in, at), be32(r.data_in, at + 8),
                   static_cast<uint8_t>(r.data_in[at + 12] & 0x0f)});
  }
  return out;
}

class BlockIoTest : public ::testing::Test {
 protected:
  FileUnit f_{4096};  // 2 MiB of 512-byte blocks
  LogicalUnit& lu_ = f_.unit();
};

TEST_F(BlockIoTest, WritesReadBackInEveryCdbSize) {
  struct Case {
    uint8_t write, read;
    std::vector<uint8_t> (*make)(uint8_t, uint64_t, uint32_t);
  };
  const auto c6 = [](uint8_t op, uint64_t lba, uint32_t n) {
    return cdb6(op, static_cast<uint32_t>(lba), static_cast<uint8_t>(n));
  };
  const auto c10 = [](uint8_t op, uint64_t lba, uint32_t n) {
    return cdb10(op, static_cast<uint32_t>(lba), static_cast<uint16_t>(n));
  };
  const auto c12 = [](uint8_t op, uint64_t lba, uint32_t n) {
    return cdb12(op, static_cast<uint32_t>(lba), n);
  };
  const auto c16 = [](uint8_t op, uint64_t lba, uint32_t n) { return cdb16(op, lba, n); };
  const Case cases[] = {{kWrite6, kRead6, c6},
                        {kWrite10, kRead10, c10},
                        {kWrite12, kRead12, c12},
                        {kWrite16, kRead16, c16}};
  uint64_t lba = 100;
  for (const Case& c : cases) {
    const std::vector<uint8_t> data = pattern(3 * 512, static_cast<uint8_t>(lba));
    expect_good(run(lu_, c.make(c.write, lba, 3), data));
    const Result r = run(lu_, c.make(c.read, lba, 3));
    expect_good(r);
    EXPECT_EQ(r.data_in, data) << int(c.write);
    // And the bytes are in the file where the LBA says.
    std::vector<uint8_t> raw(data.size());
    ASSERT_EQ(f_.file().read(lba * 512, raw.data(), raw.size()), 0);
    EXPECT_EQ(raw, data);
    lba += 10;
  }
}

TEST_F(BlockIoTest, UnwrittenBlocksReadAsZerosAndReadDataIsNotCutByTheTransport) {
  const Result r = run(lu_, cdb10(kRead10, 0, 16), {}, 0, /*limit=*/512);
  expect_good(r);
  // The iSCSI layer computes the residual from what READ returns.
  EXPECT_EQ(r.data_in, std::vector<uint8_t>(16 * 512, 0));
}

TEST_F(BlockIoTest, ZeroBlocksMoveNothingExceptSixByteCdbsWhichMean256) {
  for (uint8_t op : {kRead10, kWrite10}) {
    const Result r = run(lu_, cdb10(op, 5, 0));
    expect_good(r);
    EXPECT_TRUE(r.data_in.empty());
  }
  expect_good(run(lu_, cdb16(kRead16, 4096, 0)));  // at the capacity: still in range
  const Result r6 = run(lu_, cdb6(kRead6, 0, 0));
  expect_good(r6);
  EXPECT_EQ(r6.data_in.size(), 256u * 512);
  expect_good(run(lu_, cdb6(kWrite6, 0, 0), std::vector<uint8_t>(256 * 512, 1)));
}

TEST_F(BlockIoTest, BeyondTheEndIsLbaOutOfRange) {
  const std::vector<std::vector<uint8_t>> bad = {
      cdb10(kRead10, 4095, 2),       cdb10(kRead10, 4097, 0),
      cdb12(kRead12, 0xffffffff, 1), cdb16(kRead16, 0x8000000000000000ULL, 1),
      cdb16(kRead16, ~0ULL, 2),  // LBA + length wraps
      cdb6(kRead6, 4090, 10),        cdb10(kWrite10, 4096, 1),
  };
  for (const auto& cdb : bad) {
    expect_sense(run(lu_, cdb, std::vector<uint8_t>(512)), SenseKey::illegal_request,
                 kLbaOutOfRange);
  }
  expect_good(run(lu_, cdb10(kRead10, 4095, 1)));  // the last block
}

TEST_F(BlockIoTest, ProtectionFieldsAreInvalidSinceThereIsNoProtectionInformation) {
  for (uint8_t op : {kRead10, kWrite10}) {
    for (uint8_t protect : {0x20, 0x40, 0xe0}) {
      const Result r = run(lu_, cdb10(op, 0, 1, protect), std::vector<uint8_t>(512));
      expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
      expect_field(r, 1);
      EXPECT_EQ(r.sense[15] & 0x0f, 0x08 | 7);
    }
  }
  expect_sense(run(lu_, cdb16(kRead16, 0, 1, 0x20)), SenseKey::illegal_request, kInvalidFieldInCdb);
  // DPO and FUA are fine.
  expect_good(run(lu_, cdb10(kRead10, 0, 1, kDpo | kFua)));
}

TEST_F(BlockIoTest, ATransferLongerThanTheBlockLimitsPageSaysIsAnInvalidField) {
  const Result vpd = run(lu_, {0x12, 1, 0xB0, 0, 64, 0});
  const uint32_t max = be32(vpd.data_in, 8);
  ASSERT_GT(max, 0u);
  FileUnit big(uint64_t{max} + 16);
  const Result r = run(big.unit(), cdb16(kRead16, 0, max + 1));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 10);
  expect_good(run(big.unit(), cdb16(kRead16, 0, max)));
}

TEST_F(BlockIoTest, ShortDataOutWritesItsWholeBlocksAndLongerOnlyTheCdbsBlocks) {
  expect_good(run(lu_, cdb10(kWrite10, 0, 2), std::vector<uint8_t>(1024, 'a')));
  // 700 bytes for 2 blocks: the one whole block is written, the transport
  // is told 1024 were wanted (its residual), part of a block never.
  const Result r = run(lu_, cdb10(kWrite10, 0, 2), std::vector<uint8_t>(700, 'b'));
  expect_good(r);
  EXPECT_EQ(r.data_out_wanted, 1024u);
  std::vector<uint8_t> after(1024, 'a');
  std::fill_n(after.begin(), 512, 'b');
  EXPECT_EQ(run(lu_, cdb10(kRead10, 0, 2)).data_in, after);
  expect_good(run(lu_, cdb10(kWrite10, 0, 2), std::vector<uint8_t>(1024, 'a')));
  const Result none = run(lu_, cdb10(kWrite10, 0, 1), {});
  expect_good(none);
  EXPECT_EQ(none.data_out_wanted, 512u);
  EXPECT_EQ(run(lu_, cdb10(kRead10, 0, 2)).data_in, std::vector<uint8_t>(1024, 'a'));
  expect_good(run(lu_, cdb10(kWrite10, 0, 1), std::vector<uint8_t>(1024, 'c')));
  std::vector<uint8_t> want(1024, 'a');
  std::fill_n(want.begin(), 512, 'c');
  EXPECT_EQ(run(lu_, cdb10(kRead10, 0, 2)).data_in, want);
}

TEST_F(BlockIoTest, FuaReachesTheDiskAndPlainWritesStayInTheCache) {
  const uint64_t before = f_.file().syncs();
  expect_good(run(lu_, cdb10(kWrite10, 0, 1), std::vector<uint8_t>(512, 1)));
  EXPECT_EQ(f_.file().syncs(), before);
  expect_good(run(lu_, cdb10(kWrite10, 0, 1, kFua), std::vector<uint8_t>(512, 2)));
  EXPECT_EQ(f_.file().syncs(), before + 1);
  expect_good(run(lu_, cdb16(kWrite16, 0, 1, kFua | kDpo), std::vector<uint8_t>(512, 3)));
  EXPECT_EQ(f_.file().syncs(), before + 2);
  expect_good(run(lu_, cdb10(kRead10, 0, 1, kFua)));  // a read syncs nothing
  EXPECT_EQ(f_.file().syncs(), before + 2);
}

TEST(BlockIoNoCacheTest, WithoutAWriteCacheEveryWriteIsSynced) {
  FileUnit f(1024, UnitOptions{.block_size = 4096, .write_cache = false});
  const uint64_t before = f.file().syncs();
  expect_good(run(f.unit(), cdb10(kWrite10, 0, 1), std::vector<uint8_t>(4096, 1)));
  expect_good(run(f.unit(), cdb6(kWrite6, 3, 1), std::vector<uint8_t>(4096, 1)));
  EXPECT_EQ(f.file().syncs(), before + 2);
  std::vector<uint8_t> ws = cdb10(kWriteSame10, 8, 4);
  expect_good(run(f.unit(), ws, std::vector<uint8_t>(4096, 9)));
  expect_good(run(f.unit(), unmap_cdb(24), unmap_list({{8, 4}})));
  EXPECT_EQ(f.file().syncs(), before + 4);
}

TEST(BlockIoReadOnlyTest, WritesUnmapAndWriteSameAreWriteProtected) {
  FileUnit f(1024, UnitOptions{.block_size = 512, .read_only = true});
  LogicalUnit& lu = f.unit();
  expect_good(run(lu, cdb10(kRead10, 0, 8)));
  const std::vector<uint8_t> block(512, 7);
  expect_sense(run(lu, cdb10(kWrite10, 0, 1), block), SenseKey::data_protect, kWriteProtected);
  expect_sense(run(lu, cdb6(kWrite6, 0, 1), block), SenseKey::data_protect, kWriteProtected);
  expect_sense(run(lu, cdb10(kWriteSame10, 0, 1), block), SenseKey::data_protect, kWriteProtected);
  expect_sense(run(lu, unmap_cdb(24), unmap_list({{0, 1}})), SenseKey::data_protect,
               kWriteProtected);
  expect_good(run(lu, cdb10(kSync10, 0, 0)));
}

TEST_F(BlockIoTest, SynchronizeCacheSyncsAndChecksItsRange) {
  const uint64_t before = f_.file().syncs();
  expect_good(run(lu_, cdb10(kSync10, 0, 0)));
  std::vector<uint8_t> immed = cdb16(kSync16, 4000, 96);
  immed[1] = 0x02;
  expect_good(run(lu_, immed));
  EXPECT_EQ(f_.file().syncs(), before + 2);
  expect_sense(run(lu_, cdb10(kSync10, 4000, 97)), SenseKey::illegal_request, kLbaOutOfRange);
  expect_sense(run(lu_, cdb16(kSync16, 5000, 0)), SenseKey::illegal_request, kLbaOutOfRange);
  EXPECT_EQ(lu_.flush(), 0);
}

TEST(BlockIoThinTest, UnmapPunchesHolesThatGetLbaStatusReportsAndReadAsZeros) {
  FileUnit f(256, UnitOptions{.block_size = 4096});
  LogicalUnit& lu = f.unit();
  ASSERT_TRUE(f.file().can_punch());
  // All deallocated to begin with (the file is sparse).
  auto s = lba_status(lu, 0);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].lba, 0u);
  EXPECT_EQ(s[0].blocks, 256u);
  EXPECT_EQ(s[0].status, 1);

  expect_good(run(lu, cdb10(kWrite10, 0, 32), std::vector<uint8_t>(32 * 4096, 0xee)));
  s = lba_status(lu, 0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].blocks, 32u);
  EXPECT_EQ(s[0].status, 0);
  EXPECT_EQ(s[1].lba, 32u);
  EXPECT_EQ(s[1].status, 1);

  expect_good(run(lu, unmap_cdb(40), unmap_list({{4, 4}, {20, 2}})));
  s = lba_status(lu, 0);
  ASSERT_EQ(s.size(), 6u);
  const LbaStatus want[] = {{0, 4, 0},  {4, 4, 1},   {8, 12, 0},
                            {20, 2, 1}, {22, 10, 0}, {32, 224, 1}};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(s[i].lba, want[i].lba) << i;
    EXPECT_EQ(s[i].blocks, want[i].blocks) << i;
    EXPECT_EQ(s[i].status, want[i].status) << i;
  }
  // From an LBA inside a run, the run starts there.
  s = lba_status(lu, 6);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].lba, 6u);
  EXPECT_EQ(s[0].blocks, 2u);
  const Result r = run(lu, cdb10(kRead10, 3, 2));
  std::vector<uint8_t> expect(4096, 0xee);
  expect.resize(8192, 0);
  EXPECT_EQ(r.data_in, expect);
}

TEST(BlockIoThinTest, UnmapChecksItsParameterList) {
  FileUnit f(1024);
  LogicalUnit& lu = f.unit();
  // No list, or descriptors of 0 blocks: nothing to do, GOOD.
  expect_good(run(lu, unmap_cdb(0)));
  expect_good(run(lu, unmap_cdb(24), unmap_list({{0, 0}})));
  expect_good(run(lu, unmap_cdb(24), unmap_list({{1024, 0}})));
  // Shorter than the header.
  expect_sense(run(lu, unmap_cdb(6), std::vector<uint8_t>(6, 0)), SenseKey::illegal_request,
               kParameterListLength);
  // More descriptor bytes claimed than sent.
  std::vector<uint8_t> list = unmap_list({{0, 1}});
  expect_sense(run(lu, unmap_cdb(16), std::vector<uint8_t>(list.begin(), list.begin() + 16)),
               SenseKey::illegal_request, kParameterListLength);
  // An incomplete trailing descriptor is ignored.
  list = unmap_list({{0, 1}, {2, 2}});
  put_be16(list, 2, 16 + 8);
  expect_good(run(lu, unmap_cdb(static_cast<uint16_t>(list.size())), list));
  // Out of range, anywhere in the list.
  expect_sense(run(lu, unmap_cdb(40), unmap_list({{0, 1}, {1020, 5}})), SenseKey::illegal_request,
               kLbaOutOfRange);
  expect_sense(run(lu, unmap_cdb(24), unmap_list({{~0ULL, 2}})), SenseKey::illegal_request,
               kLbaOutOfRange);
  // More descriptors than the Block Limits page allows.
  const Result vpd = run(lu, {0x12, 1, 0xB0, 0, 64, 0});
  const uint32_t max_descriptors = be32(vpd.data_in, 24);
  ASSERT_GT(max_descriptors, 0u);
  std::vector<std::pair<uint64_t, uint32_t>> many(max_descriptors + 1, {0, 1});
  list = unmap_list(many);
  Result r = run(lu, unmap_cdb(static_cast<uint16_t>(list.size())), list);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 2, /*in_cdb=*/false);
  // More blocks than the Block Limits page allows.
  FileUnit big(uint64_t{be32(vpd.data_in, 20)} + 8);
  r = run(big.unit(), unmap_cdb(40), unmap_list({{0, be32(vpd.data_in, 20)}, {0, 1}}));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 24 + 8, /*in_cdb=*/false);
  // ANCHOR: there is no anchored state.
  r = run(lu, unmap_cdb(24, 0x01), unmap_list({{0, 1}}));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 1);
}

TEST(BlockIoNoFileTest, UnmapWithoutHolesIsNotThereAndIoIsAMediumError) {
  LogicalUnit lu(identity_for("nofile"), 512, 1024);
  expect_sense(run(lu, unmap_cdb(24), unmap_list({{0, 1}})), SenseKey::illegal_request,
               kInvalidOpcode);
  expect_sense(run(lu, cdb10(kRead10, 0, 1)), SenseKey::medium_error, kUnrecoveredReadError);
  expect_sense(run(lu, cdb10(kWrite10, 0, 1), std::vector<uint8_t>(512)), SenseKey::medium_error,
               kWriteError);
  // Range checks come first.
  expect_sense(run(lu, cdb10(kRead10, 1024, 1)), SenseKey::illegal_request, kLbaOutOfRange);
  // GET LBA STATUS: everything mapped.
  const auto s = lba_status(lu, 10);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].blocks, 1014u);
  EXPECT_EQ(s[0].status, 0);
}

TEST_F(BlockIoTest, WriteSameReplicatesOneBlockOverTheRange) {
  const std::vector<uint8_t> block = pattern(512, 3);
  expect_good(run(lu_, cdb10(kWriteSame10, 10, 5000 / 512 + 3), block));
  const Result r = run(lu_, cdb10(kRead10, 9, 14));
  ASSERT_EQ(r.data_in.size(), 14u * 512);
  EXPECT_EQ(std::vector<uint8_t>(r.data_in.begin(), r.data_in.begin() + 512),
            std::vector<uint8_t>(512, 0));
  for (int i = 1; i < 13; ++i) {
    EXPECT_EQ(std::vector<uint8_t>(r.data_in.begin() + i * 512, r.data_in.begin() + i * 512 + 512),
              block)
        << i;
  }
  EXPECT_EQ(std::vector<uint8_t>(r.data_in.end() - 512, r.data_in.end()),
            std::vector<uint8_t>(512, 0));
  // More than the 1 MiB chunk the pattern is written in.
  expect_good(run(lu_, cdb16(kWriteSame16, 0, 4096), block));
  const Result all = run(lu_, cdb16(kRead16, 0, 4096));
  for (size_t at = 0; at < all.data_in.size(); at += 512) {
    ASSERT_EQ(std::vector<uint8_t>(all.data_in.begin() + at, all.data_in.begin() + at + 512), block)
        << at;
  }
}

TEST(BlockIoThinTest, WriteSameWithUnmapPunchesWhateverItsPattern) {
  FileUnit f(64, UnitOptions{.block_size = 4096});
  LogicalUnit& lu = f.unit();
  expect_good(run(lu, cdb10(kWrite10, 0, 64), std::vector<uint8_t>(64 * 4096, 1)));
  constexpr uint8_t kUnmap = 0x08, kNdob = 0x01;
  // UNMAP with zeros: punched.
  expect_good(run(lu, cdb10(kWriteSame10, 8, 8, kUnmap), std::vector<uint8_t>(4096, 0)));
  // UNMAP with a pattern that is not zeros: punched too (LIO's rule, which
  // libiscsi's UnmapUntilEnd expects: LBPRZ says they read as zeros).
  expect_good(run(lu, cdb16(kWriteSame16, 16, 8, kUnmap), std::vector<uint8_t>(4096, 5)));
  // NDOB and UNMAP: punched, with no data-out.
  expect_good(run(lu, cdb16(kWriteSame16, 24, 8, kUnmap | kNdob)));
  // NDOB alone: zeros written, still mapped.
  expect_good(run(lu, cdb16(kWriteSame16, 32, 8, kNdob)));
  const auto s = lba_status(lu, 0);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].lba, 0u);
  EXPECT_EQ(s[0].status, 0);
  EXPECT_EQ(s[1].lba, 8u);
  EXPECT_EQ(s[1].blocks, 24u);
  EXPECT_EQ(s[1].status, 1);
  EXPECT_EQ(s[2].lba, 32u);
  EXPECT_EQ(s[2].status, 0);
  const Result r = run(lu, cdb10(kRead10, 8, 32));
  EXPECT_EQ(r.data_in, std::vector<uint8_t>(32 * 4096, 0));
}

TEST(BlockIoThinTest, WriteSameOfZeroBlocksGoesToTheEnd) {
  FileUnit f(64, UnitOptions{.block_size = 4096});
  LogicalUnit& lu = f.unit();
  expect_good(run(lu, cdb10(kWrite10, 0, 64), std::vector<uint8_t>(64 * 4096, 1)));
  expect_good(run(lu, cdb10(kWriteSame10, 60, 0, 0x08), std::vector<uint8_t>(4096, 0)));
  const auto s = lba_status(lu, 0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].lba, 60u);
  EXPECT_EQ(s[1].blocks, 4u);
  EXPECT_EQ(s[1].status, 1);
  expect_good(run(lu, cdb16(kWriteSame16, 62, 0), std::vector<uint8_t>(4096, 7)));
  EXPECT_EQ(run(lu, cdb10(kRead10, 63, 1)).data_in, std::vector<uint8_t>(4096, 7));
  expect_good(run(lu, cdb16(kWriteSame16, 64, 0), std::vector<uint8_t>(4096, 7)));  // nothing
  // WSNZ is 0 in the Block Limits page.
  EXPECT_EQ(run(lu, {0x12, 1, 0xB0, 0, 64, 0}).data_in[4] & 0x01, 0);
}

TEST_F(BlockIoTest, WriteSameChecksItsCdbAndDataOut) {
  const std::vector<uint8_t> block(512, 1);
  expect_sense(run(lu_, cdb10(kWriteSame10, 4095, 2), block), SenseKey::illegal_request,
               kLbaOutOfRange);
  expect_sense(run(lu_, cdb10(kWriteSame10, 4097, 0), block), SenseKey::illegal_request,
               kLbaOutOfRange);
  expect_sense(run(lu_, cdb16(kWriteSame16, 0x8000000000000000ULL, 0), block),
               SenseKey::illegal_request, kLbaOutOfRange);
  for (uint8_t flags : {0x20, 0x10, 0x04, 0x02}) {  // WRPROTECT, ANCHOR, PBDATA, LBDATA
    const Result r = run(lu_, cdb10(kWriteSame10, 0, 1, flags), block);
    expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
    expect_field(r, 1);
  }
  for (size_t size : {0, 256, 1024}) {
    expect_sense(run(lu_, cdb10(kWriteSame10, 0, 1), std::vector<uint8_t>(size, 1)),
                 SenseKey::illegal_request, kInvalidFieldInInformationUnit);
  }
  // Longer than the Block Limits page's MAXIMUM WRITE SAME LENGTH.
  const Result vpd = run(lu_, {0x12, 1, 0xB0, 0, 64, 0});
  const uint64_t max = be64(vpd.data_in, 36);
  ASSERT_GT(max, 0u);
  FileUnit big(max + 8);
  const Result r = run(big.unit(), cdb16(kWriteSame16, 0, static_cast<uint32_t>(max + 1)), block);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInCdb);
  expect_field(r, 10);
  // 0 blocks meaning more than the maximum is refused the same way.
  expect_sense(run(big.unit(), cdb16(kWriteSame16, 0, 0), block), SenseKey::illegal_request,
               kInvalidFieldInCdb);
}

TEST_F(BlockIoTest, GetLbaStatusChecksItsLbaAndIsCutToItsAllocationLength) {
  expect_sense(run(lu_, get_lba_status(4096)), SenseKey::illegal_request, kLbaOutOfRange);
  expect_sense(run(lu_, get_lba_status(~0ULL)), SenseKey::illegal_request, kLbaOutOfRange);
  expect_good(run(lu_, get_lba_status(4095)));
  const Result r = run(lu_, get_lba_status(0, 12));
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 12u);
  EXPECT_EQ(be32(r.data_in, 0), 20u);  // one descriptor, whatever was cut
}

TEST(SenseForErrnoTest, EachErrnoGetsTheSenseTheStandardNames) {
  expect_sense(sense_for_errno(EIO, false), SenseKey::medium_error, kUnrecoveredReadError);
  expect_sense(sense_for_errno(EIO, true), SenseKey::medium_error, kWriteError);
  expect_sense(sense_for_errno(ENOSPC, true), SenseKey::data_protect, kSpaceAllocationFailed);
  expect_sense(sense_for_errno(EDQUOT, true), SenseKey::data_protect, kSpaceAllocationFailed);
  expect_sense(sense_for_errno(EROFS, true), SenseKey::data_protect, kWriteProtected);
  expect_sense(sense_for_errno(ENOMEM, false), SenseKey::hardware_error, kInternalTargetFailure);
  expect_sense(sense_for_errno(EBADF, true), SenseKey::hardware_error, kInternalTargetFailure);
}

TEST_F(BlockIoTest, ManyCommandsInFlightAtOnceAllCompleteWithTheirOwnData) {
  // QD32 from four "sessions": submit() returns at once, completions come
  // on the pool's threads.
  constexpr int kCommands = 128;
  std::vector<std::vector<uint8_t>> cdbs(kCommands), data(kCommands);
  std::vector<Result> results(kCommands);
  std::mutex mu;
  std::condition_variable cv;
  int completed = 0;
  for (int i = 0; i < kCommands; ++i) {
    cdbs[i] = cdb10(kWrite10, static_cast<uint32_t>(i * 8), 8);
    data[i] = pattern(8 * 512, static_cast<uint8_t>(i));
    Command c;
    c.cdb = cdbs[i];
    c.data_out = data[i];
    c.nexus = static_cast<uint64_t>(i % 4);
    lu_.submit(c, [&, i](Result r) {
      std::lock_guard lock(mu);
      results[i] = std::move(r);
      ++completed;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return completed == kCommands; });
  }
  for (int i = 0; i < kCommands; ++i) {
    expect_good(results[i]);
    EXPECT_EQ(run(lu_, cdb10(kRead10, static_cast<uint32_t>(i * 8), 8)).data_in, data[i]) << i;
  }
}

}  // namespace
}  // namespace offcopy::scsi

namespace offcopy::scsi {
namespace {

// offcopy-target gives every unit I/O threads of its own (target/main.cc),
// so a unit whose disk is slow holds only its own commands: here one
// unit's pool is taken up entirely, and another unit's READ -- large
// enough to go to a pool -- still completes.
TEST(IoPoolTest, AUnitWhosePoolIsStuckDoesNotHoldAnotherUnit) {
  testing::TempDir dir;
  const auto make = [&](const char* name, IoPool& pool) {
    BackingOptions b;
    b.create_size = 1 << 20;
    std::string error;
    auto file = BackingFile::open(dir.file(name), b, error);
    EXPECT_NE(file, nullptr) << error;
    return std::make_unique<LogicalUnit>(identity_for(name), UnitOptions{}, std::move(file), pool);
  };
  IoPool slow_pool(2), other_pool(2);
  auto slow = make("slow.img", slow_pool);
  auto other = make("other.img", other_pool);

  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  for (int i = 0; i < 2; ++i) {  // every thread of the slow unit's pool, stuck
    slow_pool.post([&] {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return released; });
    });
  }
  const std::vector<uint8_t> read_128k = testing::cdb10(0x28, 0, 256);  // past the fast path
  std::atomic<int> slow_done{0}, other_done{0};
  Command c;
  c.cdb = read_128k;
  slow->submit(c, [&](Result r) {
    EXPECT_EQ(r.status, Status::good);
    slow_done = 1;
  });
  other->submit(c, [&](Result r) {
    EXPECT_EQ(r.status, Status::good);
    other_done = 1;
  });
  const auto wait_for = [](std::atomic<int>& done) {
    for (int i = 0; i < 500 && done == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  wait_for(other_done);
  EXPECT_EQ(other_done, 1) << "the other unit's READ waited for the stuck one";
  EXPECT_EQ(slow_done, 0);
  {
    std::lock_guard lock(mu);
    released = true;
  }
  cv.notify_all();
  wait_for(slow_done);
  EXPECT_EQ(slow_done, 1);
}

}  // namespace
}  // namespace offcopy::scsi
