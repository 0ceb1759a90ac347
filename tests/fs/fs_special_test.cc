// copy_file and copy_range on real filesystems, for the sources,
// destinations and flags that are not plain regular files: /proc and /sys
// files, FIFOs, a read-only destination, O_APPEND destinations, ranges that
// overlap in one file, the same file twice, --reflink=always, offload only
// (no_fallback) and the --sparse modes.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/copy.h"
#include "support/test_files.h"

namespace offcopy {
namespace {

using testing::allocated_bytes;
using testing::extent_info;
using testing::make_sparse;
using testing::pattern;
using testing::read_file;
using testing::TempDir;
using testing::test_mounts;
using testing::write_file;
using testing::can_clone;
using testing::describe;
using testing::find_step;
using testing::mount_for;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kBlock = 4096;
constexpr int64_t kAllocSlack = 1 * kMiB;

const std::vector<std::string> kAllFs = {"btrfs", "xfs", "ext4", "tmpfs"};






void expect_skipped(const Report& r, Mechanism m, const std::string& why_part) {
  const Step* s = find_step(r, m);
  ASSERT_NE(s, nullptr) << "no step for " << mechanism_name(m) << ": " << describe(r);
  EXPECT_EQ(s->outcome, Outcome::skipped) << describe(r);
  EXPECT_NE(s->why.find(why_part), std::string::npos)
      << "reason for " << mechanism_name(m) << " lacks '" << why_part << "': " << describe(r);
}

::testing::AssertionResult same_bytes(const std::string& got, const std::string& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << ", want " << want.size();
  }
  auto mm = std::mismatch(got.begin(), got.end(), want.begin());
  if (mm.first != got.end()) {
    return ::testing::AssertionFailure()
           << "first difference at offset " << (mm.first - got.begin()) << " of " << got.size();
  }
  return ::testing::AssertionSuccess();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

// Reads a pseudo-file the plain way, until read() returns 0.
std::string read_all(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

std::string pair_name(const std::string& a, const std::string& b) { return a + "_to_" + b; }

// ---------------------------------------------------------------------------
// Fixtures: one filesystem, or a (source, destination) pair.

class OneFsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    mnt_ = mount_for(GetParam(), &why);
    if (mnt_.empty()) GTEST_SKIP() << why;
    dir_ = std::make_unique<TempDir>(mnt_);
    ASSERT_FALSE(dir_->path().empty());
  }
  void TearDown() override { dir_.reset(); }

  std::string mnt_;
  std::unique_ptr<TempDir> dir_;
};

using PairParam = std::tuple<std::string, std::string>;

class PairTest : public ::testing::TestWithParam<PairParam> {
 protected:
  void SetUp() override {
    const auto& [src_fs, dst_fs] = GetParam();
    std::string why;
    const std::string src_mnt = mount_for(src_fs, &why);
    if (src_mnt.empty()) GTEST_SKIP() << why;
    const std::string dst_mnt = mount_for(dst_fs, &why);
    if (dst_mnt.empty()) GTEST_SKIP() << why;
    src_dir_ = std::make_unique<TempDir>(src_mnt);
    dst_dir_ = std::make_unique<TempDir>(dst_mnt);
    ASSERT_FALSE(src_dir_->path().empty());
    ASSERT_FALSE(dst_dir_->path().empty());
  }
  void TearDown() override {
    dst_dir_.reset();
    src_dir_.reset();
  }
  bool same_fs() const { return std::get<0>(GetParam()) == std::get<1>(GetParam()); }

  std::unique_ptr<TempDir> src_dir_, dst_dir_;
};

auto fs_name = [](const ::testing::TestParamInfo<std::string>& info) { return info.param; };
auto pair_param_name = [](const ::testing::TestParamInfo<PairParam>& info) {
  return pair_name(std::get<0>(info.param), std::get<1>(info.param));
};

// ---------------------------------------------------------------------------
// /proc and /sys: files whose size the kernel does not tell.

class PseudoFileTest : public OneFsTest {};

TEST_P(PseudoFileTest, ProcVersionEqualsFreshRead) {
  const std::string dst = dir_->file("version");
  auto rep = copy_file("/proc/version", dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  const std::string want = read_all("/proc/version");
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(read_file(dst), want);
  EXPECT_EQ(rep->total_bytes(), static_cast<int64_t>(want.size())) << describe(*rep);
  EXPECT_EQ(rep->bytes(Mechanism::read_write), static_cast<int64_t>(want.size()))
      << describe(*rep);
  expect_skipped(*rep, Mechanism::clone, "");
}

TEST_P(PseudoFileTest, ProcCpuinfoIsNotEmpty) {
  const std::string dst = dir_->file("cpuinfo");
  auto rep = copy_file("/proc/cpuinfo", dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  const std::string got = read_file(dst);
  EXPECT_FALSE(got.empty());
  EXPECT_EQ(rep->total_bytes(), static_cast<int64_t>(got.size())) << describe(*rep);
  // A read of the first line of the live file matches the copy's.
  const std::string fresh = read_all("/proc/cpuinfo");
  EXPECT_EQ(got.substr(0, got.find('\n')), fresh.substr(0, fresh.find('\n')));
}

TEST_P(PseudoFileTest, ProcSelfStatusIsNotEmpty) {
  const std::string dst = dir_->file("status");
  auto rep = copy_file("/proc/self/status", dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  const std::string got = read_file(dst);
  EXPECT_EQ(got.rfind("Name:", 0), 0u) << "not a status file: " << got.substr(0, 80);
  EXPECT_NE(got.find("\nPid:"), std::string::npos);
  EXPECT_EQ(rep->total_bytes(), static_cast<int64_t>(got.size())) << describe(*rep);
}

TEST_P(PseudoFileTest, SysfsFilesEqualFreshRead) {
  // sysfs attributes report st_size 4096 whatever they hold.  Stable ones,
  // whichever this kernel has.
  int copied = 0;
  for (const char* src : {"/sys/kernel/osrelease", "/sys/kernel/cpu_byteorder",
                          "/sys/kernel/address_bits", "/sys/devices/system/cpu/online"}) {
    const std::string want = read_all(src);
    if (want.empty()) continue;
    SCOPED_TRACE(src);
    const std::string dst = dir_->file("sysfs" + std::to_string(copied++));
    auto rep = copy_file(src, dst, FileOptions{});
    ASSERT_TRUE(rep.ok()) << describe(rep.error());
    EXPECT_EQ(read_file(dst), want);
    EXPECT_EQ(rep->total_bytes(), static_cast<int64_t>(want.size())) << describe(*rep);
  }
  if (copied == 0) GTEST_SKIP() << "none of the sysfs files tried is readable here";
}

INSTANTIATE_TEST_SUITE_P(Fs, PseudoFileTest, ::testing::ValuesIn(kAllFs), fs_name);

// ---------------------------------------------------------------------------
// A FIFO source: read until the writer closes.

class FifoTest : public OneFsTest {
 protected:
  void SetUp() override {
    OneFsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string why;
    const std::string tmpfs = mount_for("tmpfs", &why);
    if (tmpfs.empty()) GTEST_SKIP() << "the FIFO lives on tmpfs: " << why;
    fifo_dir_ = std::make_unique<TempDir>(tmpfs);
    fifo_ = fifo_dir_->file("fifo");
    ASSERT_EQ(::mkfifo(fifo_.c_str(), 0644), 0) << strerror(errno);
    old_pipe_ = ::signal(SIGPIPE, SIG_IGN);
  }
  void TearDown() override {
    if (writer_.joinable()) {
      // Unblock a writer still waiting in open() for a reader.
      int fd = ::open(fifo_.c_str(), O_RDONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      writer_.join();
    }
    if (old_pipe_ != SIG_ERR) ::signal(SIGPIPE, old_pipe_);
    fifo_dir_.reset();
    OneFsTest::TearDown();
  }

  void start_writer(const std::string& data) {
    writer_ = std::thread([this, data] {
      int fd = ::open(fifo_.c_str(), O_WRONLY);
      if (fd < 0) return;
      size_t off = 0;
      while (off < data.size()) {
        // Odd-sized writes so reads see partial pipe buffers.
        const size_t n = std::min<size_t>(data.size() - off, 10007);
        ssize_t w = ::write(fd, data.data() + off, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += static_cast<size_t>(w);
      }
      ::close(fd);
    });
  }

  std::unique_ptr<TempDir> fifo_dir_;
  std::string fifo_;
  std::thread writer_;
  sighandler_t old_pipe_ = SIG_ERR;
};

TEST_P(FifoTest, CopiesExactlyWhatTheWriterWrote) {
  const std::string data = pattern(kMiB + 77, 1234);
  start_writer(data);
  const std::string dst = dir_->file("from_fifo");
  auto rep = copy_file(fifo_, dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  writer_.join();
  EXPECT_TRUE(same_bytes(read_file(dst), data));
  EXPECT_EQ(rep->bytes(Mechanism::read_write), static_cast<int64_t>(data.size()))
      << describe(*rep);
  EXPECT_EQ(rep->bytes(Mechanism::clone), 0);
  EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), 0);
  expect_skipped(*rep, Mechanism::clone, "not a regular file");
  expect_skipped(*rep, Mechanism::kernel_copy, "not a regular file");
}

TEST_P(FifoTest, EmptyWriterGivesEmptyFile) {
  start_writer("");
  const std::string dst = dir_->file("from_fifo");
  auto rep = copy_file(fifo_, dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  writer_.join();
  EXPECT_TRUE(exists(dst));
  EXPECT_EQ(file_size(dst), 0);
  EXPECT_EQ(rep->total_bytes(), 0);
}

INSTANTIATE_TEST_SUITE_P(Fs, FifoTest, ::testing::ValuesIn(kAllFs), fs_name);

// ---------------------------------------------------------------------------
// A destination on a read-only mount: a subdirectory bind-mounted onto
// itself and remounted read-only.  TearDown always unmounts it.

class ReadOnlyDestTest : public OneFsTest {
 protected:
  void SetUp() override {
    OneFsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ro_ = dir_->file("ro");
    ASSERT_EQ(::mkdir(ro_.c_str(), 0755), 0) << strerror(errno);
    existing_ = ro_ + "/existing";
    write_file(existing_, "old content\n");
    src_ = dir_->file("src");
    write_file(src_, pattern(100000, 5));
    ASSERT_EQ(::mount(ro_.c_str(), ro_.c_str(), nullptr, MS_BIND, nullptr), 0)
        << "bind mount " << ro_ << ": " << strerror(errno);
    mounted_ = true;
    ASSERT_EQ(::mount(nullptr, ro_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr),
              0)
        << "remount read-only " << ro_ << ": " << strerror(errno);
    // The mount really is read-only.
    const int fd = ::open((ro_ + "/probe").c_str(), O_WRONLY | O_CREAT, 0644);
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ASSERT_LT(fd, 0) << "read-only bind mount accepted a create";
    ASSERT_EQ(err, EROFS);
  }
  void TearDown() override {
    if (mounted_) {
      if (::umount2(ro_.c_str(), 0) != 0) {
        ADD_FAILURE() << "umount " << ro_ << ": " << strerror(errno) << "; detaching";
        ::umount2(ro_.c_str(), MNT_DETACH);
      }
      mounted_ = false;
    }
    OneFsTest::TearDown();
  }

  std::string ro_, existing_, src_;
  bool mounted_ = false;
};

TEST_P(ReadOnlyDestTest, NewDestinationFailsWithErofsOnOpen) {
  const std::string dst = ro_ + "/new";
  auto rep = copy_file(src_, dst, FileOptions{});
  ASSERT_FALSE(rep.ok()) << describe(*rep);
  const Error& e = rep.error();
  EXPECT_EQ(e.code, EROFS) << describe(e);
  EXPECT_EQ(e.op, "open") << describe(e);
  EXPECT_EQ(e.role, Role::destination) << describe(e);
  EXPECT_EQ(e.path, dst) << describe(e);
  EXPECT_NE(e.message().find(dst), std::string::npos) << e.message();
  EXPECT_EQ(e.bytes_done, 0);
  EXPECT_FALSE(exists(dst));
}

TEST_P(ReadOnlyDestTest, ExistingDestinationIsLeftAlone) {
  for (Overwrite ow : {Overwrite::replace, Overwrite::force}) {
    SCOPED_TRACE(ow == Overwrite::replace ? "replace" : "force");
    FileOptions opt;
    opt.overwrite = ow;
    auto rep = copy_file(src_, existing_, opt);
    ASSERT_FALSE(rep.ok()) << describe(*rep);
    EXPECT_EQ(rep.error().code, EROFS) << describe(rep.error());
    EXPECT_EQ(rep.error().op, "open") << describe(rep.error());
    EXPECT_EQ(rep.error().path, existing_) << describe(rep.error());
    EXPECT_EQ(read_file(existing_), "old content\n");
  }
}

TEST_P(ReadOnlyDestTest, ReadOnlyMountStillWorksAsSource) {
  // From the read-only bind mount to the writable mount of the same fs:
  // only the destination must be writable.  (Older kernels refuse FICLONE
  // across mounts with EXDEV; the copy succeeds either way.)
  const std::string dst = dir_->file("from_ro");
  auto rep = copy_file(existing_, dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  EXPECT_EQ(read_file(dst), "old content\n");
  EXPECT_EQ(rep->total_bytes(), 12) << describe(*rep);
  EXPECT_EQ(rep->bytes(Mechanism::splice) + rep->bytes(Mechanism::uring) +
                rep->bytes(Mechanism::read_write),
            0)
      << "same-fs copy was not offloaded: " << describe(*rep);
}

INSTANTIATE_TEST_SUITE_P(Fs, ReadOnlyDestTest, ::testing::ValuesIn(kAllFs), fs_name);

// ---------------------------------------------------------------------------
// copy_range on one filesystem: O_APPEND destinations and overlap.

class RangeTest : public OneFsTest {
 protected:
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    OneFsTest::TearDown();
  }
  int open_fd(const std::string& path, int flags, mode_t mode = 0644) {
    int fd = ::open(path.c_str(), flags, mode);
    EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  std::vector<int> fds_;
};

TEST_P(RangeTest, AppendDestinationWithNullOffsetAppends) {
  const std::string src = dir_->file("src");
  const std::string dst = dir_->file("dst");
  const std::string content = pattern(300 * kKiB + 7, 21);  // > one host buffer
  write_file(src, content);
  write_file(dst, "prefix\n");
  const int in = open_fd(src, O_RDONLY);
  const int out = open_fd(dst, O_WRONLY | O_APPEND);
  ASSERT_TRUE(in >= 0 && out >= 0);
  ASSERT_EQ(::lseek(in, 10, SEEK_SET), 10);
  const int64_t len = static_cast<int64_t>(content.size()) - 10;

  auto rep = copy_range(in, nullptr, out, nullptr, len, CopyFlags{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  EXPECT_EQ(rep->total_bytes(), len) << describe(*rep);
  EXPECT_EQ(rep->bytes(Mechanism::clone), 0);
  EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), 0);
  expect_skipped(*rep, Mechanism::clone, "O_APPEND");
  EXPECT_EQ(::lseek(in, 0, SEEK_CUR), 10 + len) << "source position not advanced";
  EXPECT_TRUE(same_bytes(read_file(dst), "prefix\n" + content.substr(10)));

  // A second call appends again, after the first.
  ASSERT_EQ(::lseek(in, 0, SEEK_SET), 0);
  auto again = copy_range(in, nullptr, out, nullptr, 5, CopyFlags{});
  ASSERT_TRUE(again.ok()) << describe(again.error());
  EXPECT_TRUE(same_bytes(read_file(dst), "prefix\n" + content.substr(10) + content.substr(0, 5)));
}

TEST_P(RangeTest, AppendDestinationWithOffsetIsEbadf) {
  const std::string src = dir_->file("src");
  const std::string dst = dir_->file("dst");
  write_file(src, pattern(64 * kKiB, 22));
  write_file(dst, "prefix\n");
  const int in = open_fd(src, O_RDONLY);
  const int out = open_fd(dst, O_WRONLY | O_APPEND);
  ASSERT_TRUE(in >= 0 && out >= 0);
  int64_t so = 0, d_o = 3;
  auto rep = copy_range(in, &so, out, &d_o, 4096, CopyFlags{});
  ASSERT_FALSE(rep.ok()) << describe(*rep);
  EXPECT_EQ(rep.error().code, EBADF) << describe(rep.error());
  EXPECT_EQ(rep.error().role, Role::destination) << describe(rep.error());
  EXPECT_EQ(rep.error().bytes_done, 0);
  EXPECT_EQ(so, 0);
  EXPECT_EQ(d_o, 3);
  EXPECT_EQ(read_file(dst), "prefix\n");
}

TEST_P(RangeTest, OverlappingRangesInOneFileAreEinval) {
  const std::string path = dir_->file("f");
  const std::string content = pattern(kMiB, 23);
  write_file(path, content);
  const int fd = open_fd(path, O_RDWR);
  ASSERT_GE(fd, 0);
  struct Case {
    int64_t src, dst, len;
  };
  for (Case c : {Case{0, 4096, 64 * kKiB}, Case{4096, 0, 64 * kKiB}, Case{0, 0, 4096},
                 Case{100, 150, 1000},
                 // Clipped at EOF to 512 KiB, still overlapping.
                 Case{512 * kKiB, 100 * kKiB, 600 * kKiB}}) {
    SCOPED_TRACE(::testing::Message() << "src " << c.src << " dst " << c.dst << " len " << c.len);
    int64_t so = c.src, d_o = c.dst;
    auto rep = copy_range(fd, &so, fd, &d_o, c.len, CopyFlags{});
    ASSERT_FALSE(rep.ok()) << describe(*rep);
    EXPECT_EQ(rep.error().code, EINVAL) << describe(rep.error());
    EXPECT_NE(rep.error().detail.find("overlap"), std::string::npos) << describe(rep.error());
    EXPECT_EQ(so, c.src);
    EXPECT_EQ(d_o, c.dst);
  }
  // Null offsets: both sides at the one file position.
  auto rep = copy_range(fd, nullptr, fd, nullptr, 100, CopyFlags{});
  ASSERT_FALSE(rep.ok()) << describe(*rep);
  EXPECT_EQ(rep.error().code, EINVAL) << describe(rep.error());
  EXPECT_TRUE(same_bytes(read_file(path), content)) << "file changed";
  EXPECT_EQ(file_size(path), kMiB);
}

TEST_P(RangeTest, DisjointRangesInOneFileCopy) {
  const std::string path = dir_->file("f");
  std::string content = pattern(kMiB, 24);
  write_file(path, content);
  const int fd = open_fd(path, O_RDWR);
  ASSERT_GE(fd, 0);
  int64_t so = 0, d_o = 512 * kKiB;
  auto rep = copy_range(fd, &so, fd, &d_o, 64 * kKiB, CopyFlags{});
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  EXPECT_EQ(rep->total_bytes(), 64 * kKiB) << describe(*rep);
  if (can_clone(GetParam())) {
    EXPECT_EQ(rep->bytes(Mechanism::clone), 64 * kKiB) << describe(*rep);
  }
  content.replace(512 * kKiB, 64 * kKiB, content.substr(0, 64 * kKiB));
  EXPECT_TRUE(same_bytes(read_file(path), content));

  // A length past EOF is clipped first (as copy_file_range does): the
  // second half onto the first half does not overlap.
  so = 512 * kKiB;
  d_o = 0;
  auto clipped = copy_range(fd, &so, fd, &d_o, 600 * kKiB, CopyFlags{});
  ASSERT_TRUE(clipped.ok()) << describe(clipped.error());
  EXPECT_EQ(clipped->total_bytes(), 512 * kKiB) << describe(*clipped);
  EXPECT_EQ(so, kMiB);
  EXPECT_EQ(d_o, 512 * kKiB);
  content.replace(0, 512 * kKiB, content.substr(512 * kKiB));
  EXPECT_TRUE(same_bytes(read_file(path), content));
  EXPECT_EQ(file_size(path), kMiB);
}

INSTANTIATE_TEST_SUITE_P(Fs, RangeTest, ::testing::ValuesIn(kAllFs), fs_name);

// ---------------------------------------------------------------------------
// The same file as source and destination, through any name.

class SameFileTest : public OneFsTest {};

TEST_P(SameFileTest, RefusesAndLeavesItUnchanged) {
  const std::string path = dir_->file("f");
  const std::string content = pattern(200000, 25);
  write_file(path, content);
  const std::string hard = dir_->file("hardlink");
  const std::string soft = dir_->file("symlink");
  ASSERT_EQ(::link(path.c_str(), hard.c_str()), 0) << strerror(errno);
  ASSERT_EQ(::symlink(path.c_str(), soft.c_str()), 0) << strerror(errno);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);

  const std::vector<std::pair<std::string, std::string>> pairs = {
      {path, path}, {path, hard}, {hard, path}, {soft, path}, {path, soft}};
  for (const auto& [src, dst] : pairs) {
    SCOPED_TRACE(src + " -> " + dst);
    for (Overwrite ow : {Overwrite::replace, Overwrite::force}) {
      FileOptions opt;
      opt.overwrite = ow;
      auto rep = copy_file(src, dst, opt);
      ASSERT_FALSE(rep.ok()) << describe(*rep);
      EXPECT_EQ(rep.error().code, EINVAL) << describe(rep.error());
      EXPECT_NE(rep.error().detail.find("are the same file"), std::string::npos)
          << describe(rep.error());
    }
  }
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_TRUE(same_bytes(read_file(path), content));
  EXPECT_TRUE(exists(hard));
  EXPECT_TRUE(exists(soft));
}

INSTANTIATE_TEST_SUITE_P(Fs, SameFileTest, ::testing::ValuesIn(kAllFs), fs_name);

// ---------------------------------------------------------------------------
// --reflink=always: a clone or nothing.

class ReflinkAlwaysTest : public PairTest {};

TEST_P(ReflinkAlwaysTest, ClonesOrFailsAndRemovesTheDestination) {
  const auto& [src_fs, dst_fs] = GetParam();
  const std::string src = src_dir_->file("src");
  const std::string content = pattern(kMiB + 123, 31);
  write_file(src, content);
  FileOptions opt;
  opt.flags.reflink = Reflink::always;
  const bool clonable = same_fs() && can_clone(src_fs);
  const int want_err = same_fs() ? EOPNOTSUPP : EXDEV;

  // First a default copy of the pair, so that what it learned (EXDEV
  // across filesystems, EOPNOTSUPP on ext4/tmpfs) is in the probe cache
  // whatever ran before this test; then --reflink=always twice.  The error
  // must still name the real reason.
  {
    const std::string primer = dst_dir_->file("primer");
    auto rep = copy_file(src, primer, FileOptions{});
    ASSERT_TRUE(rep.ok()) << describe(rep.error());
    ASSERT_EQ(::unlink(primer.c_str()), 0);
  }
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(::testing::Message() << "call " << round + 1);
    const std::string dst = dst_dir_->file("dst" + std::to_string(round));
    auto rep = copy_file(src, dst, opt);
    if (clonable) {
      ASSERT_TRUE(rep.ok()) << describe(rep.error());
      EXPECT_EQ(rep->bytes(Mechanism::clone), static_cast<int64_t>(content.size()))
          << describe(*rep);
      EXPECT_EQ(rep->total_bytes(), rep->bytes(Mechanism::clone)) << describe(*rep);
      EXPECT_TRUE(same_bytes(read_file(dst), content));
      EXPECT_GE(extent_info(dst).shared_bytes, static_cast<int64_t>(content.size()) / kBlock * kBlock);
      continue;
    }
    ASSERT_FALSE(rep.ok()) << describe(*rep);
    const Error& e = rep.error();
    EXPECT_EQ(e.code, want_err) << "wanted " << strerrorname_np(want_err) << ": " << describe(e);
    EXPECT_EQ(e.bytes_done, 0) << describe(e);
    EXPECT_FALSE(exists(dst)) << "the destination copy_file created was left behind";
    EXPECT_NE(e.detail.find("removed"), std::string::npos) << describe(e);
    if (!same_fs()) {
      EXPECT_NE(e.detail.find("different filesystems"), std::string::npos) << describe(e);
    }
  }
  EXPECT_TRUE(same_bytes(read_file(src), content));
}

INSTANTIATE_TEST_SUITE_P(Fs, ReflinkAlwaysTest,
                         ::testing::Combine(::testing::ValuesIn(kAllFs),
                                            ::testing::ValuesIn(kAllFs)),
                         pair_param_name);

// ---------------------------------------------------------------------------
// no_fallback: offload (clone or kernel copy) or an offload_unsupported
// error having written nothing.

class NoFallbackTest : public PairTest {};

TEST_P(NoFallbackTest, OffloadsOrWritesNothing) {
  const auto& [src_fs, dst_fs] = GetParam();
  const std::string src = src_dir_->file("src");
  const std::string content = pattern(kMiB + 123, 41);
  write_file(src, content);
  FileOptions opt;
  opt.flags.no_fallback = true;
  const int64_t size = static_cast<int64_t>(content.size());

  const std::string fresh = dst_dir_->file("fresh");
  const std::string old = dst_dir_->file("existing");
  write_file(old, pattern(5000, 42));
  for (const std::string& dst : {fresh, old}) {
    SCOPED_TRACE(dst);
    auto rep = copy_file(src, dst, opt);
    if (same_fs()) {
      ASSERT_TRUE(rep.ok()) << describe(rep.error());
      EXPECT_EQ(rep->bytes(Mechanism::splice) + rep->bytes(Mechanism::uring) +
                    rep->bytes(Mechanism::read_write),
                0)
          << describe(*rep);
      const Mechanism m = can_clone(src_fs) ? Mechanism::clone : Mechanism::kernel_copy;
      EXPECT_EQ(rep->bytes(m), size) << describe(*rep);
      EXPECT_TRUE(same_bytes(read_file(dst), content));
      continue;
    }
    ASSERT_FALSE(rep.ok()) << describe(*rep);
    const Error& e = rep.error();
    EXPECT_TRUE(e.offload_unsupported()) << describe(e);
    EXPECT_EQ(e.code, kOffloadUnsupported) << describe(e);
    EXPECT_EQ(e.bytes_done, 0) << describe(e);
    if (dst == fresh) {
      EXPECT_FALSE(exists(dst)) << "the destination copy_file created was left behind";
    } else {
      // Replaced (truncated) by the open, but not a byte written by a host copy.
      EXPECT_EQ(file_size(dst), 0);
      EXPECT_EQ(allocated_bytes(dst), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fs, NoFallbackTest,
                         ::testing::Combine(::testing::ValuesIn(kAllFs),
                                            ::testing::ValuesIn(kAllFs)),
                         pair_param_name);

// ---------------------------------------------------------------------------
// --sparse=never and --sparse=always.

class SparseModeTest : public PairTest {};

TEST_P(SparseModeTest, NeverWritesHolesAsZeros) {
  const std::string src = src_dir_->file("sparse");
  const int64_t size = 16 * kMiB;
  const std::string content = make_sparse(src, size, {{0, kMiB}, {8 * kMiB, kMiB}});
  ASSERT_LT(allocated_bytes(src), size / 2) << "source is not sparse";
  const std::string dst = dst_dir_->file("dst");
  FileOptions opt;
  opt.flags.sparse = Sparse::never;
  auto rep = copy_file(src, dst, opt);
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  SCOPED_TRACE(describe(*rep));
  EXPECT_TRUE(same_bytes(read_file(dst), content));
  EXPECT_EQ(rep->hole_bytes, 0);
  EXPECT_EQ(rep->bytes(Mechanism::clone), 0);
  EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), 0);
  EXPECT_EQ(rep->bytes(Mechanism::splice) + rep->bytes(Mechanism::uring) +
                rep->bytes(Mechanism::read_write),
            size);
  expect_skipped(*rep, Mechanism::clone, "sparse=never");
  EXPECT_GE(allocated_bytes(dst), size) << "holes were not written out";
  EXPECT_EQ(extent_info(dst).shared_bytes, 0);
}

TEST_P(SparseModeTest, AlwaysTurnsZeroBlocksIntoHoles) {
  const std::string src = src_dir_->file("zeros");
  // Data, written zeros, data, written zeros to the end.
  const std::string data1 = pattern(kMiB, 51), data2 = pattern(kMiB, 52);
  std::string content = data1 + std::string(3 * kMiB, '\0') + data2 +
                        std::string(3 * kMiB, '\0');
  write_file(src, content);
  {
    int fd = ::open(src.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ::fsync(fd);
    ::close(fd);
  }
  const int64_t size = static_cast<int64_t>(content.size());
  ASSERT_GE(allocated_bytes(src), size - kAllocSlack) << "source zeros are not allocated";
  const std::string dst = dst_dir_->file("dst");
  FileOptions opt;
  opt.flags.sparse = Sparse::always;
  auto rep = copy_file(src, dst, opt);
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  SCOPED_TRACE(describe(*rep));
  EXPECT_TRUE(same_bytes(read_file(dst), content));
  EXPECT_EQ(file_size(dst), size);
  EXPECT_LE(allocated_bytes(dst), 2 * kMiB + kAllocSlack)
      << "zero blocks not turned into holes on " << std::get<1>(GetParam());
  EXPECT_EQ(rep->hole_bytes, 6 * kMiB);
  EXPECT_EQ(rep->total_bytes(), 2 * kMiB);
}

TEST_P(SparseModeTest, AlwaysKeepsRealHolesAndFindsZeros) {
  const std::string src = src_dir_->file("mixed");
  const int64_t size = 16 * kMiB;
  std::string content = make_sparse(src, size, {{kMiB, 2 * kMiB}, {10 * kMiB, kMiB}});
  {
    // Zero the second MiB of the first extent in place: allocated zeros.
    int fd = ::open(src.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::string z(kMiB, '\0');
    ASSERT_EQ(::pwrite(fd, z.data(), z.size(), 2 * kMiB), kMiB);
    ::fsync(fd);
    ::close(fd);
    content.replace(2 * kMiB, kMiB, z);
  }
  const std::string dst = dst_dir_->file("dst");
  FileOptions opt;
  opt.flags.sparse = Sparse::always;
  auto rep = copy_file(src, dst, opt);
  ASSERT_TRUE(rep.ok()) << describe(rep.error());
  SCOPED_TRACE(describe(*rep));
  EXPECT_TRUE(same_bytes(read_file(dst), content));
  EXPECT_LE(allocated_bytes(dst), 2 * kMiB + kAllocSlack);
  EXPECT_EQ(rep->hole_bytes, size - 2 * kMiB);
  EXPECT_EQ(rep->total_bytes(), 2 * kMiB);
}

INSTANTIATE_TEST_SUITE_P(Fs, SparseModeTest,
                         ::testing::Combine(::testing::ValuesIn(kAllFs),
                                            ::testing::ValuesIn(kAllFs)),
                         pair_param_name);

}  // namespace
}  // namespace offcopy
