// Cancellation and progress through mech::Control, on every host rung.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "support/test_files.h"
#include "sys/sys_wrapper.h"

namespace offcopy {
namespace {

using mech::Context;
using mech::Control;

struct Rung {
  const char* name;
  CopyFlags flags;
  int64_t uring_min;
  int64_t splice_min;
};

void PrintTo(const Rung& r, std::ostream* os) { *os << r.name; }

class ControlTest : public ::testing::TestWithParam<Rung> {
 protected:
  void SetUp() override {
    data_ = testing::pattern(8 << 20, 42);
    testing::write_file(dir_.file("src"), data_);
    ctx_.probes = &probes_;
    ctx_.tun.kernel_chunk = 256 << 10;
    ctx_.tun.uring_buffer = 256 << 10;
    ctx_.tun.rw_buffer = 256 << 10;
    ctx_.tun.uring_min = GetParam().uring_min;
    ctx_.tun.splice_min = GetParam().splice_min;
    ctx_.tun.splice_pipe = 256 << 10;
  }
  testing::TempDir dir_{"/dev/shm"};
  std::string data_;
  mech::ProbeCache probes_;
  Context ctx_;
};

TEST_P(ControlTest, ProgressIsMonotonicAndEndsAtTheTotal) {
  std::vector<int64_t> seen;
  Control c;
  c.progress = [&](int64_t done, Mechanism) { seen.push_back(done); };
  FileOptions o;
  o.flags = GetParam().flags;
  auto r = ladder::copy_file(ctx_, dir_.file("src"), dir_.file("dst"), o, &c);
  ASSERT_TRUE(r) << r.error().message();
  for (Mechanism m : kLadder) {
    if (std::string(mechanism_name(m)) == GetParam().name) {
      EXPECT_EQ(r->bytes(m), static_cast<int64_t>(data_.size())) << "the rung under test";
    }
  }
  ASSERT_GT(seen.size(), 4u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
  EXPECT_LE(seen.back(), static_cast<int64_t>(data_.size()));
  EXPECT_EQ(testing::read_file(dir_.file("dst")), data_);
}

TEST_P(ControlTest, CancelStopsWithinAChunkAndKeepsThePrefixExact) {
  std::atomic<bool> cancel{false};
  Control c;
  c.cancel = &cancel;
  c.progress = [&](int64_t done, Mechanism) {
    if (done >= (2 << 20)) cancel.store(true);
  };
  int src = ::open(dir_.file("src").c_str(), O_RDONLY);
  int dst = ::open(dir_.file("dst").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(src, 0);
  ASSERT_GE(dst, 0);
  int64_t so = 0, d = 0;
  auto r = ladder::copy_range(ctx_, src, &so, dst, &d, 0,
                              CopyFlags{.whole_file = true, .reflink = GetParam().flags.reflink},
                              &c);
  ::close(src);
  ::close(dst);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECANCELED);
  const int64_t done = r.error().bytes_done;
  EXPECT_GE(done, 2 << 20);
  EXPECT_LT(done, static_cast<int64_t>(data_.size()));
  EXPECT_EQ(so, done);
  const std::string out = testing::read_file(dir_.file("dst"));
  ASSERT_GE(static_cast<int64_t>(out.size()), done);
  EXPECT_EQ(out.substr(0, done), data_.substr(0, done));
  ASSERT_TRUE(r.error().report);
}

// Watches what a cancellable copy_file does with its source's O_NONBLOCK
// (set at open so a FIFO source can be interrupted): how often it changes
// the flags, and whether the source is non-blocking when read by pread or
// at its last fstat (the source-changed check after the copy).
class NonblockWatch : public sys::SysWrapper {
 public:
  NonblockWatch() : SysWrapper(sys::Sys::real()) {}
  int fcntl_setfl(int fd, int flags) override {
    ++setfl;
    return SysWrapper::fcntl_setfl(fd, flags);
  }
  int64_t pread(int fd, void* buf, int64_t len, int64_t off) override {
    if (is_source(fd)) nonblocking_pread |= nonblocking(fd);
    return SysWrapper::pread(fd, buf, len, off);
  }
  int fstat(int fd, struct stat* st) override {
    if (is_source(fd)) nonblocking_at_end = nonblocking(fd);
    return SysWrapper::fstat(fd, st);
  }
  int setfl = 0;
  bool nonblocking_pread = false;
  bool nonblocking_at_end = false;

 private:
  static bool is_source(int fd) { return (::fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY; }
  static bool nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }
};

// An offloaded copy never pays the fcntl; a host rung reads a blocking fd.
TEST_P(ControlTest, SourceIsBlockingForHostRungsOnly) {
  NonblockWatch watch;
  ctx_.sys = &watch;
  std::atomic<bool> cancel{false};
  Control c;
  c.cancel = &cancel;
  FileOptions o;
  o.flags = GetParam().flags;
  auto r = ladder::copy_file(ctx_, dir_.file("src"), dir_.file("dst"), o, &c);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(testing::read_file(dir_.file("dst")), data_);
  const bool host = std::string(GetParam().name) != "kernel_copy";
  EXPECT_EQ(r->bytes(Mechanism::kernel_copy), host ? 0 : static_cast<int64_t>(data_.size()));
  EXPECT_EQ(watch.setfl, host ? 1 : 0);
  EXPECT_FALSE(watch.nonblocking_pread);
  EXPECT_EQ(watch.nonblocking_at_end, !host);
}

INSTANTIATE_TEST_SUITE_P(
    Rungs, ControlTest,
    ::testing::Values(Rung{"kernel_copy", {.whole_file = true}, 1 << 30, 1 << 30},
                      Rung{"splice", {.whole_file = true, .reflink = Reflink::never}, 1 << 30, 0},
                      Rung{"uring", {.whole_file = true, .reflink = Reflink::never}, 0, 1ll << 40},
                      Rung{"read_write", {.whole_file = true, .reflink = Reflink::never},
                           1ll << 40, 1ll << 40}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace offcopy
