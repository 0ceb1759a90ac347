// Third-party copy: EXTENDED COPY between units on real files through the
// copy engine, and what reports on it (RECEIVE COPY STATUS, OPERATING
// PARAMETERS, VPD page 0x8F).  Which mechanism moves the bytes depends on
// the temporary directory's filesystem; that reflinks happen on btrfs and
// xfs is checked by tests/target/initiators with loop-mounted ones.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "scsi/copy_engine.h"
#include "scsi/lun_map.h"
#include "scsi_testing.h"

namespace offcopy::scsi::testing {
namespace {

constexpr uint32_t kBs = 512;
constexpr uint64_t kBlocks = 8192;  // 4 MiB units

// Identification (0xE4) CSCD descriptor naming `unit` by its NAA.
std::vector<uint8_t> cscd(const LogicalUnit& unit, uint8_t device_type = 0) {
  std::vector<uint8_t> d(32, 0);
  d[0] = 0xE4;
  d[1] = device_type;
  d[4] = 0x01;  // binary
  d[5] = 0x03;  // logical unit, NAA
  d[7] = 16;
  std::copy(unit.identity().naa.begin(), unit.identity().naa.end(), d.begin() + 8);
  d[30] = static_cast<uint8_t>(unit.block_size() >> 8);
  d[31] = static_cast<uint8_t>(unit.block_size());
  return d;
}

// Block to block segment (0x02).
std::vector<uint8_t> b2b(uint16_t src, uint16_t dst, uint16_t blocks, uint64_t src_lba,
                         uint64_t dst_lba, bool dc = false) {
  std::vector<uint8_t> d(28, 0);
  d[0] = 0x02;
  d[1] = dc ? 0x02 : 0;
  put_be16(d, 2, 24);
  put_be16(d, 4, src);
  put_be16(d, 6, dst);
  put_be16(d, 10, blocks);
  put_be64(d, 12, src_lba);
  put_be64(d, 20, dst_lba);
  return d;
}

// Block to block with byte offsets (0x0A).
std::vector<uint8_t> b2b_bytes(uint16_t src, uint16_t dst, uint32_t bytes, uint64_t src_lba,
                               uint16_t src_offset, uint64_t dst_lba, uint16_t dst_offset) {
  std::vector<uint8_t> d(32, 0);
  d[0] = 0x0A;
  put_be16(d, 2, 28);
  put_be16(d, 4, src);
  put_be16(d, 6, dst);
  put_be32(d, 8, bytes);
  put_be64(d, 12, src_lba);
  put_be64(d, 20, dst_lba);
  put_be16(d, 28, src_offset);
  put_be16(d, 30, dst_offset);
  return d;
}

std::vector<uint8_t> concat(const std::vector<std::vector<uint8_t>>& parts) {
  std::vector<uint8_t> b;
  for (const auto& p : parts) b.insert(b.end(), p.begin(), p.end());
  return b;
}

enum Usage : uint8_t { kHold = 0, kDiscard = 2, kNone = 3 };

// An EXTENDED COPY (LID1) parameter list.
std::vector<uint8_t> lid1(uint8_t list_id, Usage usage, const std::vector<uint8_t>& cscds,
                          const std::vector<uint8_t>& segments) {
  std::vector<uint8_t> b(16, 0);
  b[0] = list_id;
  b[1] = static_cast<uint8_t>(usage << 3);
  put_be16(b, 2, static_cast<uint16_t>(cscds.size()));
  put_be32(b, 8, static_cast<uint32_t>(segments.size()));
  return concat({b, cscds, segments});
}

// An EXTENDED COPY (LID4) parameter list.
std::vector<uint8_t> lid4(uint32_t list_id, Usage usage, bool immed,
                          const std::vector<uint8_t>& cscds, const std::vector<uint8_t>& segments) {
  std::vector<uint8_t> b(48, 0);
  b[0] = 0x01;
  b[1] = static_cast<uint8_t>(usage << 3);
  b[15] = immed ? 0x01 : 0;
  put_be32(b, 20, list_id);
  put_be16(b, 42, static_cast<uint16_t>(cscds.size()));
  put_be16(b, 44, static_cast<uint16_t>(segments.size()));
  return concat({b, cscds, segments});
}

std::vector<uint8_t> xcopy_cdb(uint8_t sa, size_t list_length) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x83;
  c[1] = sa;
  put_be32(c, 10, static_cast<uint32_t>(list_length));
  return c;
}

// RECEIVE COPY STATUS / FAILURE DETAILS / OPERATING PARAMETERS.
std::vector<uint8_t> receive_cdb(uint8_t sa, uint32_t list_id, uint32_t allocation = 1024) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x84;
  c[1] = sa;
  if (sa == 0x05 || sa == 0x07) {
    put_be32(c, 2, list_id);
  } else {
    c[2] = static_cast<uint8_t>(list_id);
  }
  put_be32(c, 10, allocation);
  return c;
}

std::vector<uint8_t> pattern(size_t bytes, uint32_t seed) {
  std::vector<uint8_t> b(bytes);
  std::mt19937 rng(seed);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// Units on files of one temporary directory, their copies on one engine,
// reachable from each other through one LunMap (one target's LUNs).
class CopyTest : public ::testing::Test {
 protected:
  CopyTest() {
    std::string error;
    engine_ = CopyEngine::open(2, error);
    EXPECT_NE(engine_, nullptr) << error;
  }
  ~CopyTest() override {
    map_.reset();
    units_.clear();
  }

  // Adds LUN `lun` of `blocks` blocks; the map of every unit added so far
  // is rebuilt (units keep their identity, named by their file).
  LogicalUnit& add(uint16_t lun, uint64_t blocks = kBlocks, UnitOptions options = {},
                   bool with_engine = true) {
    const std::string path = dir_.file("lun" + std::to_string(lun) + ".img");
    BackingOptions b;
    b.block_size = options.block_size;
    b.create_size = blocks * options.block_size;
    std::string error;
    EXPECT_NE(BackingFile::open(path, b, error), nullptr) << error;
    b.create_size = 0;
    b.read_only = options.read_only;
    std::unique_ptr<BackingFile> f = BackingFile::open(path, b, error);
    EXPECT_NE(f, nullptr) << error;
    files_[lun] = f.get();
    paths_[lun] = path;
    units_[lun] = std::make_shared<LogicalUnit>(identity_for(path), options, std::move(f), pool_,
                                                with_engine ? engine_.get() : nullptr);
    map_ = std::make_unique<LunMap>(units_);
    return *units_[lun];
  }

  Result send(uint16_t lun, const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& data = {},
              uint64_t nexus = 1, std::shared_ptr<AbortSignal> abort = nullptr) {
    Command c;
    c.cdb = cdb;
    c.data_out = data;
    c.nexus = nexus;
    c.initiator_port = "iqn.test,i,0x01";
    c.units = map_.get();
    c.abort = std::move(abort);
    return units_.at(lun)->execute(c);
  }
  Result xcopy(uint16_t lun, const std::vector<uint8_t>& list, uint8_t sa = 0x00) {
    return send(lun, xcopy_cdb(sa, list.size()), list);
  }

  void write(uint16_t lun, uint64_t offset, const std::vector<uint8_t>& data) {
    ASSERT_EQ(files_.at(lun)->write(offset, data.data(), data.size()), 0);
  }
  std::vector<uint8_t> read(uint16_t lun, uint64_t offset, size_t bytes) {
    std::vector<uint8_t> b(bytes);
    EXPECT_EQ(files_.at(lun)->read(offset, b.data(), bytes), 0);
    return b;
  }
  LogicalUnit& unit(uint16_t lun) { return *units_.at(lun); }

  TempDir dir_;
  IoPool pool_{2};
  std::unique_ptr<CopyEngine> engine_;
  std::map<uint16_t, std::shared_ptr<LogicalUnit>> units_;
  std::map<uint16_t, BackingFile*> files_;
  std::map<uint16_t, std::string> paths_;
  std::unique_ptr<LunMap> map_;
};

TEST_F(CopyTest, CopiesBlocksFromOneUnitToAnotherAndCountsThem) {
  add(0);
  add(1);
  const auto data = pattern(64 * kBs, 1);
  write(0, 100 * kBs, data);
  const auto before = read(1, 0, 300 * kBs);
  expect_good(xcopy(0, lid1(1, kDiscard, concat({cscd(unit(0)), cscd(unit(1))}),
                            b2b(0, 1, 64, 100, 200))));
  EXPECT_EQ(read(1, 200 * kBs, 64 * kBs), data);
  EXPECT_EQ(read(1, 0, 200 * kBs), std::vector<uint8_t>(before.begin(), before.begin() + 200 * kBs))
      << "nothing before the destination range changed";
  const UnitStats s = unit(1).stats();
  EXPECT_EQ(s.copies, 1u);
  EXPECT_EQ(s.bytes_cloned + s.bytes_kernel_copied + s.bytes_host_copied, 64u * kBs);
  EXPECT_EQ(unit(0).stats().copies, 0u) << "counted where the bytes were written";
}

TEST_F(CopyTest, ManySegmentsAndTheCopyManagersOwnIdCopyInOrder) {
  add(0);
  add(1);
  const auto a = pattern(8 * kBs, 2), b = pattern(8 * kBs, 3);
  write(0, 0, a);
  write(1, 0, b);
  // 0xFFFF names the unit the command is sent to (unit 0).
  const auto segments = concat({b2b(1, 0xFFFF, 8, 0, 16),   // unit 1 -> unit 0 at 16
                                b2b(0xFFFF, 1, 8, 0, 32),   // unit 0 -> unit 1 at 32
                                b2b(0, 1, 8, 16, 48)});     // what segment 1 wrote -> unit 1 at 48
  expect_good(xcopy(0, lid1(0, kNone, concat({cscd(unit(0)), cscd(unit(1))}), segments)));
  EXPECT_EQ(read(0, 16 * kBs, 8 * kBs), b);
  EXPECT_EQ(read(1, 32 * kBs, 8 * kBs), a);
  EXPECT_EQ(read(1, 48 * kBs, 8 * kBs), b) << "segments run in order";
}

TEST_F(CopyTest, ByteOffsetSegmentsCopyExactlyTheBytesNamed) {
  add(0);
  add(1);
  write(0, 0, pattern(16 * kBs, 4));
  write(1, 0, pattern(16 * kBs, 5));
  const auto src = read(0, 0, 16 * kBs);
  auto expected = read(1, 0, 16 * kBs);
  // 1000 bytes from LBA 1 + 100 to LBA 3 + 7.
  std::copy_n(src.begin() + kBs + 100, 1000, expected.begin() + 3 * kBs + 7);
  expect_good(xcopy(0, lid4(9, kDiscard, false, concat({cscd(unit(0)), cscd(unit(1))}),
                            b2b_bytes(0, 1, 1000, 1, 100, 3, 7)),
                    0x01));
  EXPECT_EQ(read(1, 0, 16 * kBs), expected);
}

TEST_F(CopyTest, OverlappingRangesOnOneUnitCopyAsIfTheSourceWereReadFirst) {
  add(0);
  for (const auto& [from, to] : std::vector<std::pair<uint64_t, uint64_t>>{{10, 13}, {13, 10}}) {
    write(0, 0, pattern(64 * kBs, static_cast<uint32_t>(from)));
    auto expected = read(0, 0, 64 * kBs);
    std::memmove(expected.data() + to * kBs, expected.data() + from * kBs, 40 * kBs);
    expect_good(xcopy(0, lid1(0, kNone, cscd(unit(0)), b2b(0, 0, 40, from, to))));
    EXPECT_EQ(read(0, 0, 64 * kBs), expected) << from << " -> " << to;
  }
}

TEST_F(CopyTest, AUnitOfAnotherTargetIsNotReachable) {
  add(0);
  add(1);
  // A unit with its own file that is not among the session's LUNs (as a
  // LUN of a target this initiator may not log in to).
  TempDir other_dir;
  const std::string path = other_dir.file("secret.img");
  const auto secret = pattern(8 * kBs, 6);
  {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(secret.data()), static_cast<std::streamsize>(secret.size()));
  }
  std::string error;
  LogicalUnit other(identity_for(path), {}, BackingFile::open(path, {}, error), pool_,
                    engine_.get());
  const auto before = read(1, 0, 8 * kBs);
  const Result r = xcopy(0, lid1(0, kNone, concat({cscd(other), cscd(unit(1))}), b2b(0, 1, 8, 0, 0)));
  expect_sense(r, SenseKey::copy_aborted, kCopyTargetNotReachable);
  EXPECT_EQ(read(1, 0, 8 * kBs), before);
}

TEST_F(CopyTest, NothingIsCopiedWhenAnySegmentIsPastTheEnd) {
  add(0);
  add(1, 1024);
  write(0, 0, pattern(8 * kBs, 7));
  const auto before = read(1, 0, 1024 * kBs);
  const auto cscds = concat({cscd(unit(0)), cscd(unit(1))});
  Result r = xcopy(0, lid1(0, kNone, cscds, concat({b2b(0, 1, 8, 0, 0), b2b(0, 1, 8, 0, 1020)})));
  expect_sense(r, SenseKey::copy_aborted, kNoAdditionalSense);
  EXPECT_EQ(be16(r.sense, 10), 1) << "COMMAND-SPECIFIC INFORMATION: the segment";
  EXPECT_EQ(read(1, 0, 1024 * kBs), before);
  // A source range past its unit's end, too.
  r = xcopy(0, lid1(0, kNone, cscds, b2b(1, 0, 8, 1020, 0)));
  expect_sense(r, SenseKey::copy_aborted, kNoAdditionalSense);
}

TEST_F(CopyTest, ADestinationThatRefusesWritesRefusesTheCopy) {
  add(0);
  add(1, kBlocks, UnitOptions{.read_only = true});
  const Result r = xcopy(0, lid1(0, kNone, concat({cscd(unit(0)), cscd(unit(1))}),
                                 b2b(0, 1, 8, 0, 0)));
  expect_sense(r, SenseKey::data_protect, kWriteProtected);
  // A read-only unit is a fine source.
  expect_good(xcopy(0, lid1(0, kNone, concat({cscd(unit(1)), cscd(unit(0))}), b2b(0, 1, 8, 0, 0))));
}

TEST_F(CopyTest, AReservationOfTheDestinationByAnotherNexusConflicts) {
  add(0);
  add(1);
  // RESERVE(6) of unit 1 by nexus 2.
  Command c;
  const std::vector<uint8_t> reserve = {0x16, 0, 0, 0, 0, 0};
  c.cdb = reserve;
  c.nexus = 2;
  c.initiator_port = "iqn.other,i,0x02";
  expect_good(unit(1).execute(c));
  const Result r = xcopy(0, lid1(0, kNone, concat({cscd(unit(0)), cscd(unit(1))}),
                                 b2b(0, 1, 8, 0, 0)));
  EXPECT_EQ(r.status, Status::reservation_conflict);
}

TEST_F(CopyTest, ParameterListsAreCheckedInTheStandardsOrder) {
  add(0);
  add(1, kBlocks, UnitOptions{.block_size = 4096});
  const auto one = cscd(unit(0));
  const auto seg = b2b(0, 0, 8, 0, 100);
  expect_good(send(0, xcopy_cdb(0, 0)));  // no list: nothing to do
  // Cut short inside a descriptor.
  std::vector<uint8_t> list = lid1(1, kHold, one, seg);
  list.resize(list.size() - 1);
  expect_sense(xcopy(0, list), SenseKey::illegal_request, kParameterListLength);
  // LIST ID USAGE 01b is reserved; 11b needs list identifier 0.
  list = lid1(1, kHold, one, seg);
  list[1] = 0x08;
  Result r = xcopy(0, list);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 1, false);
  expect_sense(xcopy(0, lid1(1, kNone, one, seg)), SenseKey::illegal_request,
               kInvalidFieldInParameters);
  // Inline data this copy manager does not take.
  list = lid1(1, kHold, one, seg);
  put_be32(list, 12, 4);
  list.resize(list.size() + 4);
  expect_sense(xcopy(0, list), SenseKey::illegal_request, kInlineDataLengthExceeded);
  // Too many CSCD descriptors, and too many segments.
  std::vector<uint8_t> many;
  for (int i = 0; i < 65; ++i) many.insert(many.end(), one.begin(), one.end());
  expect_sense(xcopy(0, lid1(1, kHold, many, seg)), SenseKey::illegal_request,
               kTooManyTargetDescriptors);
  many.clear();
  for (int i = 0; i < 257; ++i) many.insert(many.end(), seg.begin(), seg.end());
  expect_sense(xcopy(0, lid1(1, kHold, one, many)), SenseKey::illegal_request,
               kTooManySegmentDescriptors);
  // Types it does not know.
  auto fc = one;
  fc[0] = 0xE0;
  expect_sense(xcopy(0, lid1(1, kHold, fc, seg)), SenseKey::illegal_request,
               kUnsupportedTargetDescriptorType);
  auto stream = seg;
  stream[0] = 0x03;
  expect_sense(xcopy(0, lid1(1, kHold, one, stream)), SenseKey::illegal_request,
               kUnsupportedSegmentDescriptorType);
  // What the descriptors name: a CSCD index past the list, a device that
  // is not a block device, a block of 512 bytes onto units of 4096.
  expect_sense(xcopy(0, lid1(1, kHold, one, b2b(0, 1, 8, 0, 0))), SenseKey::copy_aborted,
               kUnreachableCopyTarget);
  expect_sense(xcopy(0, lid1(1, kHold, cscd(unit(0), 1), seg)), SenseKey::copy_aborted,
               kIncorrectCopyTargetType);
  expect_sense(xcopy(0, lid1(1, kHold, concat({one, cscd(unit(1))}), b2b(0, 1, 1, 0, 0))),
               SenseKey::copy_aborted, kUnexpectedInexactSegment);
  // DC: 1 destination block of 4096 is 8 source blocks.
  write(0, 0, pattern(8 * kBs, 8));
  expect_good(xcopy(0, lid1(0, kNone, concat({one, cscd(unit(1))}), b2b(0, 1, 1, 0, 2, true))));
  EXPECT_EQ(read(1, 2 * 4096, 4096), read(0, 0, 4096));
}

TEST_F(CopyTest, AHeldCopysStatusIsGivenOnceThenForgotten) {
  add(0);
  write(0, 0, pattern(16 * kBs, 9));
  expect_good(xcopy(0, lid1(7, kHold, cscd(unit(0)), b2b(0, 0, 16, 0, 100))));
  // Another nexus has no copy 7.
  expect_sense(send(0, receive_cdb(0x00, 7), {}, 2), SenseKey::illegal_request, kInvalidFieldInCdb);
  Result r = send(0, receive_cdb(0x00, 7));
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 12u);
  EXPECT_EQ(be32(r.data_in, 0), 8u);
  EXPECT_EQ(r.data_in[4], 0x01) << "completed, no errors";
  EXPECT_EQ(be16(r.data_in, 5), 1) << "segments processed";
  EXPECT_EQ(r.data_in[7], 0) << "bytes";
  EXPECT_EQ(be32(r.data_in, 8), 16u * kBs);
  expect_sense(send(0, receive_cdb(0x00, 7)), SenseKey::illegal_request, kInvalidFieldInCdb);
  // A discarded one is not kept (unless IMMED: it is polled).
  expect_good(xcopy(0, lid1(8, kDiscard, cscd(unit(0)), b2b(0, 0, 16, 0, 100))));
  expect_sense(send(0, receive_cdb(0x00, 8)), SenseKey::illegal_request, kInvalidFieldInCdb);
  // A copy that failed says why in its failure details.
  expect_sense(xcopy(0, lid1(9, kHold, cscd(unit(0)), b2b(0, 0, 16, 0, kBlocks))),
               SenseKey::copy_aborted, kNoAdditionalSense);
  // Refused before it ran: no copy 9 was made.
  expect_sense(send(0, receive_cdb(0x04, 9)), SenseKey::illegal_request, kInvalidFieldInCdb);
}

TEST_F(CopyTest, AnImmediateCopyIsPolledUntilItEnds) {
  add(0);
  add(1);
  const auto data = pattern(2048 * kBs, 10);
  write(0, 0, data);
  const Result r = xcopy(0, lid4(0x01020304, kDiscard, true, concat({cscd(unit(0)), cscd(unit(1))}),
                                 b2b(0, 1, 2048, 0, 0)),
                         0x01);
  expect_good(r);
  std::vector<uint8_t> status;
  for (int i = 0; i < 500; ++i) {
    const Result s = send(0, receive_cdb(0x05, 0x01020304));
    expect_good(s);
    ASSERT_GE(s.data_in.size(), 32u);
    status = s.data_in;
    if (status[5] != 0x12) break;  // no longer in progress (background)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status[4], 0x01) << "response to EXTENDED COPY (LID4)";
  EXPECT_EQ(status[5], 0x01) << "completed";
  EXPECT_EQ(status[12], 0) << "GOOD";
  EXPECT_EQ(be64(status, 16), 2048u * kBs);
  EXPECT_EQ(be16(status, 24), 1);
  EXPECT_EQ(read(1, 0, data.size()), data);
}

TEST_F(CopyTest, AnAbortedCopyStopsAndSaysSo) {
  add(0);
  add(1);
  write(0, 0, pattern(64 * kBs, 11));
  const auto before = read(1, 0, 64 * kBs);
  auto abort = std::make_shared<AbortSignal>();
  abort->request();
  const auto list = lid1(3, kHold, concat({cscd(unit(0)), cscd(unit(1))}), b2b(0, 1, 64, 0, 0));
  const Result r = send(0, xcopy_cdb(0, list.size()), list, 1, abort);
  expect_sense(r, SenseKey::copy_aborted, kNoAdditionalSense);
  EXPECT_EQ(read(1, 0, 64 * kBs), before);
  const Result details = send(0, receive_cdb(0x04, 3));
  expect_good(details);
  ASSERT_GE(details.data_in.size(), 60u + 18u);
  EXPECT_EQ(details.data_in[56], 0x02) << "CHECK CONDITION";
  EXPECT_EQ(details.data_in[60 + 2] & 0x0f, 0x0A) << "COPY ABORTED";
  // No copy runs under list 3 now.
  expect_sense(send(0, {0x83, 0x1C, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
               SenseKey::illegal_request, kInvalidFieldInCdb);
}

TEST_F(CopyTest, ALunResetStopsAnImmediateCopy) {
  constexpr uint64_t kBig = 128 * 2048;  // 128 MiB units: the copy takes a while
  add(0, kBig);
  add(1, kBig);
  const auto chunk = pattern(8 << 20, 12);
  for (uint64_t at = 0; at < kBig * kBs; at += chunk.size()) write(0, at, chunk);
  // 0x0A segments of 32 MiB each, IMMED: GOOD at once, then the reset.
  std::vector<uint8_t> segments;
  for (uint32_t i = 0; i < 4; ++i) {
    const auto seg = b2b_bytes(0, 1, 32u << 20, i * 65536ull, 0, i * 65536ull, 0);
    segments.insert(segments.end(), seg.begin(), seg.end());
  }
  expect_good(xcopy(0, lid4(5, kHold, true, concat({cscd(unit(0)), cscd(unit(1))}), segments),
                    0x01));
  unit(0).reset(1);
  std::vector<uint8_t> status;
  for (int i = 0; i < 500; ++i) {
    const Result s = send(0, receive_cdb(0x05, 5));
    if (s.status != Status::good) {
      // The reset's unit attention comes first; then the status.
      expect_sense(s, SenseKey::unit_attention, kPowerOnReset);
      continue;
    }
    status = s.data_in;
    if (status[5] != 0x12) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(status.size(), 32u);
  // Stopped, or (on a machine fast enough) done before the reset came.
  EXPECT_TRUE(status[5] == 0x60 || status[5] == 0x01) << int(status[5]);
  if (status[5] == 0x60) {
    EXPECT_LT(be64(status, 16), 128ull << 20) << "stopped part way";
  }
}

TEST_F(CopyTest, WithoutAWriteCacheTheCopyIsSyncedBeforeGood) {
  add(0);
  add(1, kBlocks, UnitOptions{.write_cache = false});
  const uint64_t syncs = files_.at(1)->syncs();
  expect_good(xcopy(0, lid1(0, kNone, concat({cscd(unit(0)), cscd(unit(1))}), b2b(0, 1, 8, 0, 0))));
  EXPECT_GT(files_.at(1)->syncs(), syncs);
}

TEST_F(CopyTest, OperatingParametersAndTheVpdPageAgree) {
  add(0);
  Result r = send(0, receive_cdb(0x03, 0));
  expect_good(r);
  ASSERT_GE(r.data_in.size(), 47u);
  EXPECT_EQ(be32(r.data_in, 0), r.data_in.size() - 4);
  EXPECT_EQ(r.data_in[4] & 0x01, 1) << "SNLID";
  const uint16_t max_cscds = be16(r.data_in, 8), max_segments = be16(r.data_in, 10);
  const uint32_t max_list = be32(r.data_in, 12), max_segment = be32(r.data_in, 16);
  EXPECT_GE(max_cscds, 2);
  EXPECT_GE(max_segments, 1);
  EXPECT_GT(max_segment, 0u);
  EXPECT_EQ(r.data_in[43], 3);
  EXPECT_EQ(std::vector<uint8_t>(r.data_in.begin() + 44, r.data_in.begin() + 47),
            (std::vector<uint8_t>{0x02, 0x0A, 0xE4}));

  // INQUIRY: 3PC, and page 0x8F among the pages.
  r = send(0, {0x12, 0, 0, 0, 96, 0});
  EXPECT_EQ(r.data_in[5] & 0x08, 0x08);
  r = send(0, {0x12, 1, 0x00, 0, 255, 0});
  EXPECT_NE(std::find(r.data_in.begin() + 4, r.data_in.end(), 0x8F), r.data_in.end());
  r = send(0, {0x12, 1, 0x8F, 0x04, 0, 0});
  expect_good(r);
  const std::vector<uint8_t>& p = r.data_in;
  ASSERT_EQ(be16(p, 2) + 4u, p.size());
  std::map<uint16_t, std::vector<uint8_t>> descriptors;
  for (size_t at = 4; at + 4 <= p.size();) {
    const uint16_t length = be16(p, at + 2);
    EXPECT_EQ(length % 4, 0) << "descriptor " << be16(p, at);
    descriptors[be16(p, at)] = {p.begin() + at, p.begin() + at + 4 + length};
    at += 4 + length;
  }
  ASSERT_TRUE(descriptors.count(0x0001)) << "Supported Commands";
  ASSERT_TRUE(descriptors.count(0x0004)) << "Parameter Data";
  ASSERT_TRUE(descriptors.count(0x8001)) << "General Copy Operations";
  const auto& commands = descriptors[0x0001];
  std::map<uint8_t, std::vector<uint8_t>> by_opcode;
  for (size_t at = 5; at < 5u + commands[4];) {
    by_opcode[commands[at]] = {commands.begin() + at + 2,
                               commands.begin() + at + 2 + commands[at + 1]};
    at += 2 + commands[at + 1];
  }
  EXPECT_EQ(by_opcode[0x83], (std::vector<uint8_t>{0x00, 0x01, 0x10, 0x11, 0x1C}));
  EXPECT_EQ(by_opcode[0x84], (std::vector<uint8_t>{0x00, 0x03, 0x04, 0x05, 0x07, 0x08}));
  EXPECT_EQ(be16(descriptors[0x0004], 8), max_cscds);
  EXPECT_EQ(be16(descriptors[0x0004], 10), max_segments);
  EXPECT_EQ(be32(descriptors[0x0004], 12), max_list);
  EXPECT_EQ(be32(descriptors[0x8001], 12), max_segment);
}

TEST_F(CopyTest, AUnitWithoutACopyEngineHasNoThirdPartyCopy) {
  add(0, kBlocks, {}, false);
  expect_sense(xcopy(0, lid1(0, kNone, cscd(unit(0)), b2b(0, 0, 8, 0, 8))),
               SenseKey::illegal_request, kInvalidOpcode);
  Result r = send(0, {0x12, 0, 0, 0, 96, 0});
  EXPECT_EQ(r.data_in[5] & 0x08, 0);
  expect_sense(send(0, {0x12, 1, 0x8F, 0, 255, 0}), SenseKey::illegal_request, kInvalidFieldInCdb);
}

// Token copy: POPULATE TOKEN, RECEIVE ROD TOKEN INFORMATION, WRITE
// USING TOKEN, REPORT ALL ROD TOKENS.  The temporary directory's
// filesystem decides whether a token holds a snapshot (xfs, btrfs) or is
// revoked by a write (ext4, tmpfs); tests/target/tokens runs both.

std::vector<uint8_t> token_cdb(uint8_t sa, uint32_t list_id, size_t list_length) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x83;
  c[1] = sa;
  put_be32(c, 6, list_id);
  put_be32(c, 10, static_cast<uint32_t>(list_length));
  return c;
}

std::vector<uint8_t> ranges_of(const std::vector<std::pair<uint64_t, uint32_t>>& ranges) {
  std::vector<uint8_t> b;
  for (auto [lba, blocks] : ranges) {
    std::vector<uint8_t> d(16, 0);
    put_be64(d, 0, lba);
    put_be32(d, 8, blocks);
    b.insert(b.end(), d.begin(), d.end());
  }
  return b;
}

std::vector<uint8_t> populate_list(const std::vector<std::pair<uint64_t, uint32_t>>& ranges,
                                   uint32_t timeout = 0, bool immed = false) {
  std::vector<uint8_t> b(16, 0);
  const auto r = ranges_of(ranges);
  put_be16(b, 0, static_cast<uint16_t>(16 + r.size() - 2));
  b[2] = immed ? 0x01 : 0;
  put_be32(b, 4, timeout);
  put_be16(b, 14, static_cast<uint16_t>(r.size()));
  b.insert(b.end(), r.begin(), r.end());
  return b;
}

std::vector<uint8_t> write_using_list(const std::vector<uint8_t>& token,
                                      const std::vector<std::pair<uint64_t, uint32_t>>& ranges,
                                      uint64_t offset = 0, bool del = false) {
  std::vector<uint8_t> b(536, 0);
  const auto r = ranges_of(ranges);
  put_be16(b, 0, static_cast<uint16_t>(536 + r.size() - 2));
  b[2] = del ? 0x02 : 0;
  put_be64(b, 8, offset);
  std::copy(token.begin(), token.end(), b.begin() + 16);
  put_be16(b, 534, static_cast<uint16_t>(r.size()));
  b.insert(b.end(), r.begin(), r.end());
  return b;
}

class TokenTest : public CopyTest {
 protected:
  // POPULATE TOKEN on `lun`, then its token from RECEIVE ROD TOKEN
  // INFORMATION.
  std::vector<uint8_t> populate(uint16_t lun, const std::vector<std::pair<uint64_t, uint32_t>>& r,
                                uint32_t timeout = 0) {
    const auto list = populate_list(r, timeout);
    expect_good(send(lun, token_cdb(0x10, 77, list.size()), list));
    const Result info = send(lun, receive_cdb(0x07, 77, 4096));
    expect_good(info);
    if (info.data_in.size() < 32 + 6 + 512) {
      ADD_FAILURE() << "no token";
      return {};
    }
    EXPECT_EQ(info.data_in[4], 0x10);
    EXPECT_EQ(info.data_in[5], 0x01) << "completed";
    EXPECT_EQ(info.data_in[15], 0xF1) << "blocks";
    const size_t at = 32 + info.data_in[13];
    EXPECT_EQ(be32(info.data_in, at), 514u);
    return {info.data_in.begin() + at + 6, info.data_in.begin() + at + 6 + 512};
  }
  Result write_using(uint16_t lun, const std::vector<uint8_t>& list, uint64_t nexus = 1) {
    return send(lun, token_cdb(0x11, 78, list.size()), list, nexus);
  }
};

TEST_F(TokenTest, APopulatedTokenCopiesItsRangesIntoAnotherUnit) {
  add(0);
  add(1);
  const auto a = pattern(8 * kBs, 20), b = pattern(16 * kBs, 21);
  write(0, 10 * kBs, a);
  write(0, 100 * kBs, b);
  const auto token = populate(0, {{10, 8}, {100, 16}});
  ASSERT_EQ(token.size(), 512u);
  EXPECT_EQ(be32(token, 0), 0x00800000u) << "point in time";
  EXPECT_EQ(be16(token, 6), 0x01F8);
  EXPECT_EQ(token[16], 0xE4);
  EXPECT_TRUE(std::equal(unit(0).identity().naa.begin(), unit(0).identity().naa.end(),
                         token.begin() + 24));
  EXPECT_EQ(be64(token, 56), 24u * kBs);
  // Into unit 1, two ranges filled in order, from block 4 of the token.
  expect_good(write_using(1, write_using_list(token, {{0, 10}, {50, 10}}, 4)));
  std::vector<uint8_t> all(a);
  all.insert(all.end(), b.begin(), b.end());
  EXPECT_EQ(read(1, 0, 10 * kBs), std::vector<uint8_t>(all.begin() + 4 * kBs, all.begin() + 14 * kBs));
  EXPECT_EQ(read(1, 50 * kBs, 10 * kBs),
            std::vector<uint8_t>(all.begin() + 14 * kBs, all.begin() + 24 * kBs));
  const Result info = send(1, receive_cdb(0x07, 78));
  expect_good(info);
  EXPECT_EQ(info.data_in[4], 0x11);
  EXPECT_EQ(be64(info.data_in, 16), 20u) << "blocks written";
  EXPECT_EQ(unit(1).stats().copies, 1u);
  // A token of the same ranges is another token.
  const auto again = populate(0, {{10, 8}, {100, 16}});
  EXPECT_FALSE(std::equal(token.begin() + 128, token.end(), again.begin() + 128));
}

TEST_F(TokenTest, AWriteToTheRangesNeverReachesTheCopy) {
  add(0);
  add(1);
  const auto before = pattern(8 * kBs, 22);
  write(0, 0, before);
  const auto token = populate(0, {{0, 8}});
  // A WRITE through the unit, as an initiator's.
  std::vector<uint8_t> cdb = cdb16(0x8A, 2, 1);
  expect_good(send(0, cdb, pattern(kBs, 23)));
  const auto dest_before = read(1, 0, 8 * kBs);
  const Result r = write_using(1, write_using_list(token, {{0, 8}}));
  if (r.status == Status::good) {
    EXPECT_EQ(read(1, 0, 8 * kBs), before) << "the snapshot's data";
  } else {
    expect_sense(r, SenseKey::illegal_request, Asc{0x23, 0x06});  // revoked
    EXPECT_EQ(read(1, 0, 8 * kBs), dest_before);
  }
}

TEST_F(TokenTest, TheZeroTokenZeroesTheRanges) {
  add(0);
  write(0, 0, pattern(32 * kBs, 24));
  std::vector<uint8_t> zero(512, 0);
  put_be32(zero, 0, 0xFFFF0001);
  put_be16(zero, 6, 0x01F8);
  expect_good(write_using(0, write_using_list(zero, {{4, 8}})));
  EXPECT_EQ(read(0, 4 * kBs, 8 * kBs), std::vector<uint8_t>(8 * kBs, 0));
  EXPECT_NE(read(0, 12 * kBs, kBs), std::vector<uint8_t>(kBs, 0));
}

TEST_F(TokenTest, UnknownDeletedAndUnreachableTokensAreRefused) {
  add(0);
  add(1);
  auto token = populate(0, {{0, 8}});
  auto corrupt = token;
  corrupt[300] ^= 0x01;
  expect_sense(write_using(1, write_using_list(corrupt, {{0, 8}})), SenseKey::illegal_request,
               Asc{0x23, 0x04});
  expect_good(write_using(1, write_using_list(token, {{0, 8}}, 0, true)));  // DEL_TKN
  expect_sense(write_using(1, write_using_list(token, {{0, 8}})), SenseKey::illegal_request,
               Asc{0x23, 0x09});
  // A session whose units do not include the source: unknown to it.
  token = populate(0, {{0, 8}});
  Command c;
  const auto list = write_using_list(token, {{0, 8}});
  const auto cdb = token_cdb(0x11, 5, list.size());
  c.cdb = cdb;
  c.data_out = list;
  c.nexus = 9;
  c.units = nullptr;  // it reaches only unit 1
  expect_sense(unit(1).execute(c), SenseKey::illegal_request, Asc{0x23, 0x04});
  // Offset past the token.
  Result r = write_using(1, write_using_list(token, {{0, 8}}, 8));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 8, false);
}

TEST_F(TokenTest, ATokenExpiresAfterItsInactivityTimeout) {
  add(0);
  const auto token = populate(0, {{0, 8}}, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  expect_sense(write_using(0, write_using_list(token, {{100, 8}})), SenseKey::illegal_request,
               Asc{0x23, 0x07});
}

TEST_F(TokenTest, MalformedListsGetTheStandardSense) {
  add(0);
  auto list = populate_list({{0, 8}});
  expect_sense(send(0, token_cdb(0x10, 1, 16), list), SenseKey::illegal_request,
               kInvalidFieldInCdb);  // no room for a range
  list[15] = 15;  // not whole descriptors
  Result r = send(0, token_cdb(0x10, 1, list.size()), list);
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 14, false);
  r = send(0, token_cdb(0x10, 1, 32), populate_list({{kBlocks - 4, 8}}));
  expect_sense(r, SenseKey::illegal_request, kLbaOutOfRange);
  r = send(0, token_cdb(0x10, 1, 32), populate_list({{0, 8}}, 601));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);
  expect_field(r, 4, false);
  r = send(0, token_cdb(0x10, 1, 48), populate_list({{0, 8}, {4, 8}}));
  expect_sense(r, SenseKey::illegal_request, kInvalidFieldInParameters);  // overlapping
}

TEST_F(TokenTest, ReportAllRodTokensGivesManagementTokensOnly) {
  add(0);
  const auto token = populate(0, {{0, 8}});
  const Result r = send(0, {0x84, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0});
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 8u + 96u);
  EXPECT_EQ(be32(r.data_in, 0), 4u + 96u);
  EXPECT_TRUE(std::equal(token.begin(), token.begin() + 96, r.data_in.begin() + 8));
}


// Found in review: what a crafted or unlucky command must not do.

TEST_F(CopyTest, AnLbaWhoseByteOffsetWouldWrapIsPastTheEnd) {
  add(0);
  add(1);
  write(0, 0, pattern(8 * kBs, 30));
  write(1, 0, pattern(8 * kBs, 31));
  const auto before = read(1, 0, 8 * kBs);
  const auto cscds = concat({cscd(unit(0)), cscd(unit(1))});
  // 2^55 blocks of 512 bytes are 2^64 bytes: 0, if the product wraps.
  Result r = xcopy(0, lid1(0, kNone, cscds, b2b(0, 1, 8, 0, 1ull << 55)));
  expect_sense(r, SenseKey::copy_aborted, kNoAdditionalSense);
  EXPECT_EQ(read(1, 0, 8 * kBs), before) << "LBA 0 was written";
  r = xcopy(0, lid1(0, kNone, cscds, b2b(0, 1, 8, 1ull << 55, 0)));
  expect_sense(r, SenseKey::copy_aborted, kNoAdditionalSense);
  EXPECT_EQ(read(1, 0, 8 * kBs), before) << "LBA 0 was read";
}

TEST_F(CopyTest, AnOverlapOfOneByteIsNotCopiedAByteAtATime) {
  add(0);
  write(0, 0, pattern(kBlocks * kBs, 32));
  constexpr uint32_t kBytes = 2u << 20;
  auto expected = read(0, 0, kBlocks * kBs);
  std::memmove(expected.data() + 1, expected.data(), kBytes);
  // One byte apart: in pieces no longer than the distance, that is two
  // million copy jobs (and 256 such segments would be a vector of 15 GB).
  const auto list = lid4(0, kNone, false, cscd(unit(0)), b2b_bytes(0, 0, kBytes, 0, 0, 0, 1));
  auto abort = std::make_shared<AbortSignal>();
  auto result = std::async(std::launch::async,
                           [&] { return send(0, xcopy_cdb(0x01, list.size()), list, 1, abort); });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    abort->request();
    result.wait();
    FAIL() << "2 MiB, overlapping, still copying after 10 s";
  }
  expect_good(result.get());
  EXPECT_EQ(read(0, 0, kBlocks * kBs), expected);
}

TEST_F(CopyTest, ARefusedCopyRevokesNoToken) {
  add(0);
  add(1);
  write(0, 0, pattern(8 * kBs, 33));
  // POPULATE TOKEN of unit 0's first 8 blocks.
  std::vector<uint8_t> plist(16, 0);
  put_be16(plist, 0, 30);
  put_be16(plist, 14, 16);
  plist.resize(32, 0);
  put_be32(plist, 24, 8);
  std::vector<uint8_t> pcdb(16, 0);
  pcdb[0] = 0x83;
  pcdb[1] = 0x10;
  put_be32(pcdb, 6, 50);
  put_be32(pcdb, 10, 32);
  expect_good(send(0, pcdb, plist));
  const Result info = send(0, receive_cdb(0x07, 50, 4096));
  expect_good(info);
  ASSERT_GE(info.data_in.size(), 32u + 6 + 512);
  const size_t at = 32 + info.data_in[13] + 6;
  const std::vector<uint8_t> token(info.data_in.begin() + at, info.data_in.begin() + at + 512);
  // An EXTENDED COPY over the token's blocks whose second segment is past
  // the end: refused, so nothing was written and the token stands.
  const auto cscds = concat({cscd(unit(1)), cscd(unit(0))});
  expect_sense(xcopy(0, lid1(0, kNone, cscds, concat({b2b(0, 1, 8, 0, 0), b2b(0, 1, 8, 0, kBlocks)}))),
               SenseKey::copy_aborted, kNoAdditionalSense);
  std::vector<uint8_t> wlist(536, 0);
  put_be16(wlist, 0, 536 + 16 - 2);
  std::copy(token.begin(), token.end(), wlist.begin() + 16);
  put_be16(wlist, 534, 16);
  wlist.resize(552, 0);
  put_be32(wlist, 536 + 8, 8);
  std::vector<uint8_t> wcdb = pcdb;
  wcdb[1] = 0x11;
  put_be32(wcdb, 6, 51);
  put_be32(wcdb, 10, static_cast<uint32_t>(wlist.size()));
  expect_good(send(1, wcdb, wlist));
  EXPECT_EQ(read(1, 0, 8 * kBs), read(0, 0, 8 * kBs));
}

TEST_F(TokenTest, CopyOperationAbortOfATokenCommandEnds) {
  add(0);
  std::vector<uint8_t> zero(512, 0);
  put_be32(zero, 0, 0xFFFF0001);
  put_be16(zero, 6, 0x01F8);
  auto zero_list = write_using_list(zero, {{0, 8}});
  zero_list[2] |= 0x01;  // IMMED
  const auto populate = populate_list({{0, 8}}, 0, true);
  const std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> commands = {
      {token_cdb(0x10, 40, populate.size()), populate},
      {token_cdb(0x11, 41, zero_list.size()), zero_list}};
  for (const auto& [cdb, list] : commands) {
    // The I/O threads are held, so the IMMED command is still running
    // when COPY OPERATION ABORT comes for it.
    std::promise<void> gate;
    std::shared_future<void> open = gate.get_future().share();
    for (int i = 0; i < 2; ++i) pool_.post([open] { open.wait(); });
    expect_good(send(0, cdb, list));
    const uint32_t list_id = be32(cdb, 6);
    auto abort_cdb = std::make_shared<std::vector<uint8_t>>(16, 0);
    (*abort_cdb)[0] = 0x83;
    (*abort_cdb)[1] = 0x1C;
    put_be32(*abort_cdb, 2, list_id);
    auto ended = std::make_shared<std::promise<Result>>();
    std::future<Result> aborted = ended->get_future();
    Command c;
    c.cdb = *abort_cdb;
    c.nexus = 1;
    c.initiator_port = "iqn.test,i,0x01";
    c.units = map_.get();
    unit(0).submit(c, [ended, abort_cdb](Result r) { ended->set_value(std::move(r)); });
    gate.set_value();
    if (aborted.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
      // Never ends: the unit would wait for it forever when destroyed.
      new std::shared_ptr<LogicalUnit>(units_.at(0));
      FAIL() << "COPY OPERATION ABORT of list " << list_id << " never ended";
    }
    expect_good(aborted.get());
  }
}

TEST_F(TokenTest, AWriteUsingTokenThatCannotStageLeavesNoCopyRunning) {
  // A unit whose directory goes away (or cannot make hidden files).
  const std::string sub = dir_.path() + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  const std::string path = sub + "/lun.img";
  BackingOptions b;
  b.create_size = kBlocks * kBs;
  std::string error;
  std::unique_ptr<BackingFile> f = BackingFile::open(path, b, error);
  ASSERT_NE(f, nullptr) << error;
  files_[0] = f.get();
  units_[0] = std::make_shared<LogicalUnit>(identity_for(path), UnitOptions{}, std::move(f), pool_,
                                            engine_.get());
  map_ = std::make_unique<LunMap>(units_);
  write(0, 0, pattern(16 * kBs, 34));
  const auto token = populate(0, {{0, 8}});
  ASSERT_EQ(token.size(), 512u);
  ASSERT_EQ(::rename(sub.c_str(), (dir_.path() + "/gone").c_str()), 0);
  // Into its own ranges, on the same unit: it must stage, and cannot.
  const auto list = write_using_list(token, {{4, 8}});
  const Result r = write_using(0, list);
  if (r.status == Status::good) GTEST_SKIP() << "a snapshot: nothing to stage";
  // The refused command left no copy running under list 78.
  const Result info = send(0, receive_cdb(0x07, 78, 4096));
  if (info.status == Status::good) {
    ASSERT_GE(info.data_in.size(), 6u);
    EXPECT_NE(info.data_in[5], 0x11) << "still in progress, forever";
  }
  // The same list identifier again: refused as before, not OPERATION IN
  // PROGRESS.
  const Result again = write_using(0, list);
  EXPECT_EQ(again.sense, r.sense);
}

TEST_F(TokenTest, ATokenDeletedUnderAWriteUsingTokenStillSeesWrites) {
  constexpr uint64_t kBig = 512 * 1024;  // 256 MiB: the first copy takes a while
  add(0, kBig);
  add(1, kBig + 8);
  const auto chunk = pattern(8 << 20, 35);
  for (uint64_t at = 0; at < kBig * kBs; at += chunk.size()) write(0, at, chunk);
  const auto old_last = read(0, (kBig - 1) * kBs, kBs);
  const auto token = populate(0, {{0, static_cast<uint32_t>(kBig)}});
  ASSERT_EQ(token.size(), 512u);
  // A: the whole token into unit 1, IMMED.
  auto a = write_using_list(token, {{0, static_cast<uint32_t>(kBig)}});
  a[2] |= 0x01;
  expect_good(send(1, token_cdb(0x11, 90, a.size()), a));
  // B: its first block, and DEL_TKN.
  const auto b = write_using_list(token, {{kBig, 1}}, 0, true);
  expect_good(send(1, token_cdb(0x11, 91, b.size()), b));
  // A WRITE to the token's last block, while A still runs.
  expect_good(send(0, cdb16(0x8A, kBig - 1, 1), pattern(kBs, 36)));
  Result s = send(1, receive_cdb(0x07, 90, 4096));
  expect_good(s);
  ASSERT_GE(s.data_in.size(), 32u);
  if (s.data_in[5] != 0x12) GTEST_SKIP() << "the copy ended before the write";
  for (int i = 0; i < 1000 && s.data_in[5] == 0x12; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = send(1, receive_cdb(0x07, 90, 4096));
    ASSERT_GE(s.data_in.size(), 32u);
  }
  if (s.data_in[12] == 0) {
    EXPECT_EQ(read(1, (kBig - 1) * kBs, kBs), old_last)
        << "GOOD, with data written after POPULATE TOKEN";
  } else {
    EXPECT_EQ(s.data_in[12], 0x02);
    ASSERT_GE(s.data_in.size(), 32u + 14);
    EXPECT_EQ(s.data_in[32 + 12], 0x23);
    EXPECT_EQ(s.data_in[32 + 13], 0x06) << "TOKEN REVOKED";
  }
}

}  // namespace
}  // namespace offcopy::scsi::testing
