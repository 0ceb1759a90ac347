// The ladder is a table the copier walks (mech/rung.h), and a Context may
// carry one of its own: here a test-only rung, in the place the device
// rung will take (after copy_file_range, before the host rungs), is tried
// there, used, and fallen past on "unsupported here" with its reason in
// the report and its verdict cached for the pair.
#include <errno.h>

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "mech/rung.h"
#include "mech/transfer.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"

namespace offcopy {
namespace {

using mech::Rung;
using mech::Segment;
using mech::SegmentResult;
using mech::Transfer;

// What the test rung does when run; set by each test.
enum class Behaviour { copy, unsupported };
std::atomic<Behaviour> behaviour{Behaviour::copy};
std::atomic<int> runs{0};

// Copies through the transfer's seam, as a real rung would.
SegmentResult test_run(Transfer& xfer, const Segment& seg) {
  ++runs;
  if (behaviour == Behaviour::unsupported) {
    SegmentResult r;
    r.err = EOPNOTSUPP;
    r.op = "TEST COPY";
    r.role = Role::destination;
    r.fall_back = true;
    r.cacheable = true;
    r.why = "the test device cannot copy here";
    return r;
  }
  std::string buf(static_cast<size_t>(seg.len), '\0');
  int64_t got = xfer.sys().pread(xfer.src_fd, buf.data(), seg.len, seg.src);
  if (got < 0) {
    SegmentResult r;
    r.err = static_cast<int>(-got);
    r.op = "pread";
    r.role = Role::source;
    return r;
  }
  const int64_t put = xfer.sys().pwrite(xfer.dst_fd, buf.data(), got, seg.dst);
  if (put != got) {
    SegmentResult r;
    r.err = put < 0 ? static_cast<int>(-put) : EIO;
    r.op = "pwrite";
    r.role = Role::destination;
    return r;
  }
  return SegmentResult::done(got, got < seg.len);
}

std::string test_used_why(const Transfer&) { return "the test rung copied it"; }

const Rung kTestRung = {
    .mech = Mechanism::device,
    .kind = Rung::Kind::offload,
    .probe = Rung::Probe::pair,
    .run = test_run,
    .used_why = test_used_why,
};

class RungTable : public ::testing::Test {
 protected:
  void SetUp() override {
    runs = 0;
    behaviour = Behaviour::copy;
    data_ = testing::pattern(3 << 20, 11);
    testing::write_file(dir_.file("src"), data_);
    // copy_file_range refuses, as it does across filesystems: the copy
    // comes down to the test rung.
    faults_.add({sys::Call::copy_file_range, sys::Fault::Kind::fail, EXDEV, 0, 1, 0});
    ctx_.sys = &faults_;
    ctx_.probes = &probes_;
    ctx_.rungs = &table_;
  }

  Result<Report> copy(const std::string& dst) {
    return ladder::copy_file(ctx_, dir_.file("src"), dir_.file(dst), FileOptions{});
  }

  const Step* step(const Report& r, Mechanism m) {
    for (const Step& s : r.steps) {
      if (s.mech == m) return &s;
    }
    return nullptr;
  }

  testing::TempDir dir_{"/dev/shm"};  // tmpfs: no clone
  std::string data_;
  sys::FaultSys faults_;
  mech::ProbeCache probes_;
  mech::RungTable table_{mech::kCloneRung, mech::kKernelCopyRung, kTestRung,
                         mech::kSpliceRung, mech::kUringRung, mech::kReadWriteRung};
  mech::Context ctx_;
};

TEST_F(RungTable, TestRungIsTriedInItsPlaceAndUsed) {
  auto r = copy("dst");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(testing::read_file(dir_.file("dst")), data_);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(r->bytes(Mechanism::device), static_cast<int64_t>(data_.size()));
  EXPECT_EQ(r->bytes(Mechanism::splice) + r->bytes(Mechanism::read_write), 0);
  // The report lists the rungs in the table's order: those above it, then it.
  std::vector<Mechanism> order;
  for (const Step& s : r->steps) order.push_back(s.mech);
  EXPECT_EQ(order, (std::vector<Mechanism>{Mechanism::clone, Mechanism::kernel_copy,
                                           Mechanism::device}));
  const Step* used = step(*r, Mechanism::device);
  ASSERT_NE(used, nullptr);
  EXPECT_EQ(used->outcome, Outcome::used);
  EXPECT_EQ(used->why, "the test rung copied it");
  const Step* kc = step(*r, Mechanism::kernel_copy);
  ASSERT_NE(kc, nullptr);
  EXPECT_EQ(kc->err, EXDEV);
}

TEST_F(RungTable, UnsupportedTestRungIsFallenPastWithItsReason) {
  behaviour = Behaviour::unsupported;
  auto r = copy("dst");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(testing::read_file(dir_.file("dst")), data_);
  EXPECT_EQ(runs.load(), 1);
  const Step* dev = step(*r, Mechanism::device);
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->outcome, Outcome::skipped);
  EXPECT_EQ(dev->err, EOPNOTSUPP);
  EXPECT_NE(dev->why.find("the test device cannot copy here"), std::string::npos) << dev->why;
  EXPECT_EQ(dev->bytes, 0);
  // The next rung of the table, splice, moved it all.
  EXPECT_EQ(r->bytes(Mechanism::splice), static_cast<int64_t>(data_.size()));
  EXPECT_LT(ladder_rank(Mechanism::device), ladder_rank(Mechanism::splice));

  // The verdict holds for the pair: the next copy does not run the rung.
  auto again = copy("dst2");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(runs.load(), 1);
  const Step* cached = step(*again, Mechanism::device);
  ASSERT_NE(cached, nullptr);
  EXPECT_NE(cached->why.find("probed before for this pair"), std::string::npos) << cached->why;
  EXPECT_EQ(testing::read_file(dir_.file("dst2")), data_);
}

TEST_F(RungTable, OffloadOnlyStopsAtTheHostRungsAfterTheTestRung) {
  behaviour = Behaviour::unsupported;
  FileOptions o;
  o.flags.no_fallback = true;
  auto r = ladder::copy_file(ctx_, dir_.file("src"), dir_.file("dst"), o);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().offload_unsupported());
  EXPECT_EQ(runs.load(), 1);  // tried before the copy was refused
}

TEST_F(RungTable, ALadderWithoutACloneRungRefusesReflinkAlways) {
  table_ = {kTestRung, mech::kReadWriteRung};
  FileOptions o;
  o.flags.reflink = Reflink::always;
  auto r = ladder::copy_file(ctx_, dir_.file("src"), dir_.file("dst"), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EOPNOTSUPP);
  EXPECT_EQ(runs.load(), 0);

  auto plain = copy("dst");
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(plain->bytes(Mechanism::device), static_cast<int64_t>(data_.size()));
}

}  // namespace
}  // namespace offcopy
