// The syscall seam's layering: a SysWrapper forwards every call to the Sys
// it wraps, so seams stack -- a FaultSys over a test's own wrapper injects
// its faults, and every call it does not fault reaches the wrapper below
// it, not the kernel behind the wrapper's back.
#include <fcntl.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"
#include "sys/sys_wrapper.h"

namespace offcopy {
namespace {

// Counts a few calls FaultSys does not fault, and lets them through.
class CountingSys : public sys::SysWrapper {
 public:
  CountingSys() : SysWrapper(sys::Sys::real()) {}
  int fstat(int fd, struct stat* st) override {
    ++fstats;
    return SysWrapper::fstat(fd, st);
  }
  int open(const char* path, int flags, unsigned mode) override {
    ++opens;
    return SysWrapper::open(path, flags, mode);
  }
  int64_t pwrite(int fd, const void* buf, int64_t len, int64_t off) override {
    ++pwrites;
    return SysWrapper::pwrite(fd, buf, len, off);
  }
  std::atomic<int> fstats{0}, opens{0}, pwrites{0};
};

TEST(SysSeam, FaultSysOverAWrapperReachesTheWrapperForEveryCall) {
  testing::TempDir dir("/dev/shm");
  const std::string data = testing::pattern(1 << 20, 7);
  testing::write_file(dir.file("src"), data);

  CountingSys counting;
  sys::FaultSys faults(counting);
  // The offload rungs fail as "unsupported" so the host rung writes.
  faults.add({sys::Call::clone, sys::Fault::Kind::fail, EOPNOTSUPP, 0, 1, 0});
  faults.add({sys::Call::copy_file_range, sys::Fault::Kind::fail, EXDEV, 0, 1, 0});
  faults.add({sys::Call::splice_read, sys::Fault::Kind::fail, EINVAL, 0, 1, 0});
  mech::ProbeCache probes;
  mech::Context ctx;
  ctx.sys = &faults;
  ctx.probes = &probes;
  ctx.tun.uring_min = int64_t{1} << 40;  // no io_uring: read/write moves it

  FileOptions o;
  auto r = ladder::copy_file(ctx, dir.file("src"), dir.file("dst"), o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->bytes(Mechanism::read_write), static_cast<int64_t>(data.size()));
  EXPECT_EQ(testing::read_file(dir.file("dst")), data);
  // Not faulted by FaultSys, so forwarded to the wrapper below it.
  EXPECT_GE(counting.opens.load(), 2);
  EXPECT_GE(counting.fstats.load(), 2);
  // Faulted calls never reach it; the data calls that passed do.
  EXPECT_EQ(faults.passed(sys::Call::clone), 0);
  EXPECT_EQ(counting.pwrites.load(), faults.passed(sys::Call::pwrite));
  EXPECT_GT(counting.pwrites.load(), 0);
}

}  // namespace
}  // namespace offcopy
