// offcopy::copy_range against the contract of copy_file_range(2) (offsets,
// short counts, EOF, access modes, O_APPEND, same-file overlap, streams,
// holes), and offcopy::copy_file's handling of the destination.  Files live
// on /tmp and, where holes matter, on /dev/shm (tmpfs keeps holes exactly).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <string>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "mech/context.h"
#include "mech/probe.h"
#include "offcopy/copy.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"
#include "sys/sys.h"

namespace offcopy {
namespace {

using testing::pattern;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

// Owns an fd opened by the test.
class Fd {
 public:
  Fd(const std::string& path, int flags, mode_t mode = 0644)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {
    EXPECT_GE(fd_, 0) << path << ": " << strerror(errno);
  }
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

int64_t pos(int fd) { return ::lseek(fd, 0, SEEK_CUR); }

int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

class CopyRange : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src");
    dst_ = dir_.file("dst");
    data_ = pattern(200 * kKiB + 17, 11);
    write_file(src_, data_);
  }

  TempDir dir_;
  std::string src_;
  std::string dst_;
  std::string data_;
};

// --- offsets and file positions --------------------------------------------

TEST_F(CopyRange, NullOffsetsUseAndAdvanceFilePositions) {
  write_file(dst_, "0123456789");
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY);
  ASSERT_EQ(::lseek(in.get(), 1000, SEEK_SET), 1000);
  ASSERT_EQ(::lseek(out.get(), 10, SEEK_SET), 10);
  Result<Report> r = copy_range(in.get(), nullptr, out.get(), nullptr, 50000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 50000);
  EXPECT_EQ(pos(in.get()), 51000);
  EXPECT_EQ(pos(out.get()), 50010);
  EXPECT_EQ(read_file(dst_), "0123456789" + data_.substr(1000, 50000));
  // A second call continues where the first stopped.
  r = copy_range(in.get(), nullptr, out.get(), nullptr, 1000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(pos(in.get()), 52000);
  EXPECT_EQ(read_file(dst_), "0123456789" + data_.substr(1000, 51000));
}

TEST_F(CopyRange, OffsetPointersAreReadAndUpdatedPositionsUntouched) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  ASSERT_EQ(::lseek(in.get(), 7, SEEK_SET), 7);
  ASSERT_EQ(::lseek(out.get(), 3, SEEK_SET), 3);
  int64_t so = 4096;
  int64_t dof = 100;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 70000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 70000);
  EXPECT_EQ(so, 4096 + 70000);
  EXPECT_EQ(dof, 100 + 70000);
  EXPECT_EQ(pos(in.get()), 7);
  EXPECT_EQ(pos(out.get()), 3);
  EXPECT_EQ(read_file(dst_), std::string(100, '\0') + data_.substr(4096, 70000));
}

TEST_F(CopyRange, MixedOffsetPointerAndFilePosition) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  ASSERT_EQ(::lseek(out.get(), 5, SEEK_SET), 5);
  int64_t so = 300;
  Result<Report> r = copy_range(in.get(), &so, out.get(), nullptr, 1000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(so, 1300);
  EXPECT_EQ(pos(in.get()), 0);
  EXPECT_EQ(pos(out.get()), 1005);
  EXPECT_EQ(read_file(dst_), std::string(5, '\0') + data_.substr(300, 1000));
}

// --- length and EOF -----------------------------------------------------------

TEST_F(CopyRange, StopsShortAtSourceEof) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  const int64_t size = static_cast<int64_t>(data_.size());
  int64_t so = size - 10000;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 50000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 10000);
  EXPECT_EQ(so, size);
  EXPECT_EQ(dof, 10000);
  EXPECT_EQ(read_file(dst_), data_.substr(size - 10000));
  // At (and past) EOF there is nothing left: 0 bytes, not an error.
  r = copy_range(in.get(), &so, out.get(), &dof, 50000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 0);
  int64_t beyond = size + 4096;
  r = copy_range(in.get(), &beyond, out.get(), &dof, 50000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 0);
  EXPECT_EQ(beyond, size + 4096);
  EXPECT_EQ(file_size(dst_), 10000);
}

TEST_F(CopyRange, ZeroLengthCopiesNothing) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 0, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 0);
  EXPECT_EQ(so, 0);
  EXPECT_EQ(file_size(dst_), 0);
}

TEST_F(CopyRange, WholeFileIgnoresLen) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 1234;
  int64_t dof = 0;
  CopyFlags f;
  f.whole_file = true;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 0, f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), static_cast<int64_t>(data_.size()) - 1234);
  EXPECT_EQ(so, static_cast<int64_t>(data_.size()));
  EXPECT_EQ(read_file(dst_), data_.substr(1234));
  // A length shorter than the file does not stop it either.
  so = 0;
  dof = 0;
  r = copy_range(in.get(), &so, out.get(), &dof, 10, f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(read_file(dst_), data_);
}

// --- the destination's size -----------------------------------------------

TEST_F(CopyRange, DestinationIsNeverTruncated) {
  const std::string old = pattern(300 * kKiB, 2);
  write_file(dst_, old);
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY);
  int64_t so = 0;
  int64_t dof = 4096;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 1000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::string want = old;
  want.replace(4096, 1000, data_.substr(0, 1000));
  EXPECT_EQ(file_size(dst_), 300 * kKiB);
  EXPECT_TRUE(read_file(dst_) == want);
}

TEST_F(CopyRange, DestinationExtendedWhenRangeEndsBeyondIt) {
  write_file(dst_, "abc");
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY);
  int64_t so = 10;
  int64_t dof = 5000;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 10000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(file_size(dst_), 15000);
  EXPECT_EQ(read_file(dst_), "abc" + std::string(4997, '\0') + data_.substr(10, 10000));
}

// --- argument errors --------------------------------------------------------

TEST_F(CopyRange, NegativeLengthIsEinval) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, -1, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(r.error().bytes_done, 0);
  EXPECT_EQ(so, 0);
  EXPECT_EQ(dof, 0);
  EXPECT_EQ(file_size(dst_), 0);
}

TEST_F(CopyRange, NegativeOffsetIsEinval) {
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = -1;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 10, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  so = 0;
  dof = -4096;
  r = copy_range(in.get(), &so, out.get(), &dof, 10, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(file_size(dst_), 0);
}

TEST_F(CopyRange, SourceOpenedWriteOnlyIsEbadf) {
  Fd in(src_, O_WRONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 100, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EBADF);
  EXPECT_EQ(r.error().role, Role::source);
  EXPECT_EQ(file_size(dst_), 0);
  EXPECT_TRUE(read_file(src_) == data_);
}

TEST_F(CopyRange, DestinationOpenedReadOnlyIsEbadf) {
  write_file(dst_, "keep");
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_RDONLY);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 100, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EBADF);
  EXPECT_EQ(r.error().role, Role::destination);
  EXPECT_EQ(read_file(dst_), "keep");
}

TEST_F(CopyRange, ClosedFdIsEbadf) {
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(-1, &so, out.get(), &dof, 100, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EBADF);
}

TEST_F(CopyRange, DirectoryIsEisdir) {
  Fd dir(dir_.path(), O_RDONLY | O_DIRECTORY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(dir.get(), &so, out.get(), &dof, 100, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EISDIR);
}

// --- O_APPEND ---------------------------------------------------------------

TEST_F(CopyRange, AppendDestinationWithNullOffsetAppends) {
  write_file(dst_, "hello");
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_APPEND);
  int64_t so = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), nullptr, 100000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 100000);
  EXPECT_EQ(so, 100000);
  EXPECT_EQ(read_file(dst_), "hello" + data_.substr(0, 100000));
  // copy_file_range would say EBADF: the ladder skipped it, with a reason.
  EXPECT_EQ(r->bytes(Mechanism::kernel_copy), 0);
  // Appends again even after the position was moved away.
  ASSERT_EQ(::lseek(out.get(), 0, SEEK_SET), 0);
  r = copy_range(in.get(), &so, out.get(), nullptr, 10, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(read_file(dst_), "hello" + data_.substr(0, 100010));
}

TEST_F(CopyRange, AppendDestinationWithOffsetIsEbadf) {
  write_file(dst_, "hello");
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_APPEND);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 100, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EBADF);
  EXPECT_EQ(read_file(dst_), "hello");
}

// --- one file -----------------------------------------------------------------

TEST_F(CopyRange, OverlappingRangesInOneFileIsEinval) {
  Fd in(src_, O_RDONLY);
  Fd out(src_, O_WRONLY);
  for (auto [so0, dof0] : {std::pair<int64_t, int64_t>{0, 1000}, {1000, 0}, {500, 500}}) {
    int64_t so = so0;
    int64_t dof = dof0;
    Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 5000, {});
    ASSERT_FALSE(r.ok()) << so0 << " -> " << dof0;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(so, so0);
    EXPECT_EQ(dof, dof0);
  }
  // The same fd on both sides, too.
  Fd rw(src_, O_RDWR);
  int64_t so = 0;
  int64_t dof = 4096;
  Result<Report> r = copy_range(rw.get(), &so, rw.get(), &dof, 8192, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_TRUE(read_file(src_) == data_) << "file changed by a refused copy";
}

TEST_F(CopyRange, NonOverlappingRangesInOneFileWork) {
  Fd rw(src_, O_RDWR);
  int64_t so = 0;
  int64_t dof = 50000;
  Result<Report> r = copy_range(rw.get(), &so, rw.get(), &dof, 40000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::string want = data_;
  want.replace(50000, 40000, data_.substr(0, 40000));
  EXPECT_TRUE(read_file(src_) == want);
  // Adjacent ranges do not overlap: copy the file's head onto its end.
  const int64_t size = static_cast<int64_t>(data_.size());
  so = 0;
  dof = size;
  r = copy_range(rw.get(), &so, rw.get(), &dof, 4096, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(file_size(src_), size + 4096);
  EXPECT_TRUE(read_file(src_) == want + want.substr(0, 4096));
}

// --- streams ------------------------------------------------------------------

TEST_F(CopyRange, FifoSourceReadsUntilEof) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd rd(p[0]);
  const std::string sent = pattern(300 * kKiB + 5, 3);  // more than a pipe holds
  std::thread writer([w = p[1], &sent] {
    size_t off = 0;
    while (off < sent.size()) {
      ssize_t n = ::write(w, sent.data() + off, sent.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(w);
  });
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t dof = 0;
  CopyFlags f;
  f.whole_file = true;
  Result<Report> r = copy_range(rd.get(), nullptr, out.get(), &dof, 0, f);
  writer.join();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), static_cast<int64_t>(sent.size()));
  EXPECT_EQ(r->bytes(Mechanism::read_write), static_cast<int64_t>(sent.size()));
  EXPECT_EQ(dof, static_cast<int64_t>(sent.size()));
  EXPECT_TRUE(read_file(dst_) == sent);
}

TEST_F(CopyRange, FifoSourceWithLengthStopsAtLength) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd rd(p[0]);
  Fd wr(p[1]);
  const std::string sent = pattern(5000, 4);
  ASSERT_EQ(::write(wr.get(), sent.data(), sent.size()), 5000);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t dof = 0;
  Result<Report> r = copy_range(rd.get(), nullptr, out.get(), &dof, 3000, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), 3000);
  EXPECT_EQ(read_file(dst_), sent.substr(0, 3000));
}

TEST_F(CopyRange, FifoWithOffsetIsEspipe) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  Fd rd(p[0]);
  Fd wr(p[1]);
  ASSERT_EQ(::write(wr.get(), "abc", 3), 3);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  CopyFlags f;
  f.whole_file = true;
  Result<Report> r = copy_range(rd.get(), &so, out.get(), &dof, 0, f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ESPIPE);
  EXPECT_EQ(file_size(dst_), 0);
  // A FIFO destination with an offset, likewise.
  Fd in(src_, O_RDONLY);
  so = 0;
  dof = 0;
  r = copy_range(in.get(), &so, wr.get(), &dof, 10, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ESPIPE);
}

// Size-0 procfs files are read until read() returns 0.
TEST_F(CopyRange, ProcfsFileIsReadUntilEof) {
  const std::string want = read_file("/proc/version");
  if (want.empty()) GTEST_SKIP() << "/proc/version not readable";
  Fd in("/proc/version", O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 0;
  int64_t dof = 0;
  CopyFlags f;
  f.whole_file = true;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 0, f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(read_file(dst_), want);
  EXPECT_EQ(so, static_cast<int64_t>(want.size()));
}

// --- holes (on tmpfs, where allocation is exact) ------------------------------

class SparseCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    struct statfs fs {};
    if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
      GTEST_SKIP() << "/dev/shm is not a tmpfs here";
    }
    dir_ = std::make_unique<TempDir>("/dev/shm");
    if (dir_->path().empty()) GTEST_SKIP() << "cannot create a directory in /dev/shm";
    src_ = dir_->file("src");
    dst_ = dir_->file("dst");
  }

  Result<Report> copy(CopyFlags f) {
    Fd in(src_, O_RDONLY);
    Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
    int64_t so = 0;
    int64_t dof = 0;
    f.whole_file = true;
    return copy_range(in.get(), &so, out.get(), &dof, 0, f);
  }

  std::unique_ptr<TempDir> dir_;
  std::string src_;
  std::string dst_;
};

constexpr int64_t kSparseSize = 8 * kMiB;
constexpr int64_t kSparseData = 64 * kKiB + 128 * kKiB + 4 * kKiB;

std::string make_sparse_source(const std::string& path) {
  // Data at the start, in the middle and near the end; a trailing hole.
  return testing::make_sparse(path, kSparseSize,
                              {{0, 64 * kKiB}, {3 * kMiB, 128 * kKiB}, {6 * kMiB + 4096, 4096}});
}

TEST_F(SparseCopy, HolesAreKept) {
  const std::string want = make_sparse_source(src_);
  ASSERT_LT(testing::allocated_bytes(src_), kSparseSize / 4) << "source is not sparse";
  Result<Report> r = copy({});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(file_size(dst_), kSparseSize) << "not extended over the trailing hole";
  EXPECT_TRUE(read_file(dst_) == want);
  EXPECT_EQ(r->hole_bytes, kSparseSize - kSparseData);
  EXPECT_EQ(r->total_bytes(), kSparseData);
  EXPECT_LE(testing::allocated_bytes(dst_), kSparseData + 64 * kKiB);
}

// Holes of the source become holes (zeros) in a destination that had data
// there: the copy punches them, it does not skip them.
TEST_F(SparseCopy, HolesOverwriteExistingData) {
  const std::string want = make_sparse_source(src_);
  write_file(dst_, pattern(kSparseSize + 4096, 8));
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY);
  int64_t so = 0;
  int64_t dof = 0;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, kSparseSize, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  const std::string got = read_file(dst_);
  ASSERT_EQ(static_cast<int64_t>(got.size()), kSparseSize + 4096) << "destination truncated";
  EXPECT_TRUE(got.compare(0, kSparseSize, want) == 0) << "old data left in a hole";
}

// A range that starts and ends in holes, to an unaligned destination offset.
TEST_F(SparseCopy, RangeAtUnalignedOffsets) {
  const std::string want = make_sparse_source(src_);
  Fd in(src_, O_RDONLY);
  Fd out(dst_, O_WRONLY | O_CREAT | O_TRUNC);
  int64_t so = 2 * kMiB;
  int64_t dof = 100;
  Result<Report> r = copy_range(in.get(), &so, out.get(), &dof, 2 * kMiB, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(so, 4 * kMiB);
  EXPECT_EQ(dof, 100 + 2 * kMiB);
  EXPECT_EQ(file_size(dst_), 100 + 2 * kMiB);
  EXPECT_TRUE(read_file(dst_) == std::string(100, '\0') + want.substr(2 * kMiB, 2 * kMiB));
  EXPECT_EQ(r->total_bytes(), 128 * kKiB);
}

TEST_F(SparseCopy, SparseNeverFillsHoles) {
  const std::string want = make_sparse_source(src_);
  CopyFlags f;
  f.sparse = Sparse::never;
  Result<Report> r = copy(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(read_file(dst_) == want);
  EXPECT_EQ(r->hole_bytes, 0);
  EXPECT_EQ(r->total_bytes(), kSparseSize);
  EXPECT_GE(testing::allocated_bytes(dst_), kSparseSize);
  // Neither clone nor copy_file_range, which may share or punch extents.
  EXPECT_EQ(r->bytes(Mechanism::clone), 0);
  EXPECT_EQ(r->bytes(Mechanism::kernel_copy), 0);
}

TEST_F(SparseCopy, SparseAlwaysTurnsZeroBlocksIntoHoles) {
  // Fully written: zeros are data here, not holes.
  const std::string want = pattern(64 * kKiB, 5) + std::string(1 * kMiB, '\0') +
                           pattern(64 * kKiB, 6) + std::string(8 * kKiB, '\0');
  write_file(src_, want);
  ASSERT_GE(testing::allocated_bytes(src_), static_cast<int64_t>(want.size()));
  CopyFlags f;
  f.sparse = Sparse::always;
  Result<Report> r = copy(f);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(file_size(dst_), static_cast<int64_t>(want.size()));
  EXPECT_TRUE(read_file(dst_) == want);
  EXPECT_EQ(r->hole_bytes, 1 * kMiB + 8 * kKiB);
  EXPECT_LE(testing::allocated_bytes(dst_), 128 * kKiB + 64 * kKiB);
}

TEST_F(SparseCopy, SparseAutoLeavesNonSparseZerosAlone) {
  const std::string want = pattern(64 * kKiB, 5) + std::string(1 * kMiB, '\0');
  write_file(src_, want);
  Result<Report> r = copy({});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(read_file(dst_) == want);
  EXPECT_EQ(r->hole_bytes, 0);
}

// --- copy_file ----------------------------------------------------------------

class CopyFile : public CopyRange {};

TEST_F(CopyFile, CopiesIntoNewFile) {
  Result<Report> r = copy_file(src_, dst_, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(read_file(dst_) == data_);
  EXPECT_EQ(r->total_bytes(), static_cast<int64_t>(data_.size()));
}

TEST_F(CopyFile, ReplacesLongerDestination) {
  write_file(dst_, pattern(500 * kKiB, 9));
  Result<Report> r = copy_file(src_, dst_, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(read_file(dst_) == data_);
}

TEST_F(CopyFile, SameFileIsRefused) {
  Result<Report> r = copy_file(src_, src_, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_NE(r.error().detail.find("are the same file"), std::string::npos) << r.error().detail;
  EXPECT_TRUE(read_file(src_) == data_);
  // Through a hard link and through a symlink.
  const std::string hard = dir_.file("hard");
  const std::string soft = dir_.file("soft");
  ASSERT_EQ(::link(src_.c_str(), hard.c_str()), 0);
  ASSERT_EQ(::symlink(src_.c_str(), soft.c_str()), 0);
  for (const std::string& other : {hard, soft}) {
    r = copy_file(src_, other, {});
    ASSERT_FALSE(r.ok()) << other;
    EXPECT_NE(r.error().message().find("are the same file"), std::string::npos)
        << r.error().message();
    EXPECT_TRUE(read_file(src_) == data_) << "source truncated through " << other;
  }
}

TEST_F(CopyFile, DirectorySourceIsEisdir) {
  Result<Report> r = copy_file(dir_.path(), dst_, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EISDIR);
  EXPECT_FALSE(exists(dst_));
}

TEST_F(CopyFile, MissingSourceIsEnoent) {
  Result<Report> r = copy_file(dir_.file("nope"), dst_, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().role, Role::source);
  EXPECT_FALSE(exists(dst_));
  const std::string msg = r.error().message();
  EXPECT_NE(msg.find(dir_.file("nope")), std::string::npos) << msg;
  EXPECT_NE(msg.find(strerror(ENOENT)), std::string::npos) << msg;
}

TEST_F(CopyFile, NoClobberLeavesExistingDestination) {
  write_file(dst_, "precious");
  FileOptions o;
  o.overwrite = Overwrite::no_clobber;
  Result<Report> r = copy_file(src_, dst_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EEXIST);
  EXPECT_EQ(read_file(dst_), "precious");
  const std::string msg = r.error().message();
  EXPECT_NE(msg.find(dst_), std::string::npos) << msg;
  EXPECT_NE(msg.find(strerror(EEXIST)), std::string::npos) << msg;
  // With no existing destination, no_clobber copies.
  const std::string fresh = dir_.file("fresh");
  r = copy_file(src_, fresh, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(read_file(fresh) == data_);
}

// A failed copy into a destination the call created leaves nothing behind;
// an existing destination is left as the failed copy made it.
class CopyFileFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src");
    dst_ = dir_.file("dst");
    data_ = pattern(3 * kMiB + 123, 21);
    write_file(src_, data_);
    // ENOSPC once 1 MiB has been written by pwrite, with clone and
    // copy_file_range off (--reflink=never), splice and io_uring off.
    fs_.add({sys::Call::pwrite, sys::Fault::Kind::error_after, ENOSPC, 1 * kMiB});
    probes_.set_process(Mechanism::uring, {ENOSYS, "io_uring switched off by the test"});
    ctx_.sys = &fs_;
    ctx_.probes = &probes_;
    ctx_.tun.rw_buffer = 64 * kKiB;
    ctx_.tun.splice_min = 1ll << 40;
    opts_.flags.reflink = Reflink::never;
  }

  TempDir dir_;
  std::string src_;
  std::string dst_;
  std::string data_;
  sys::FaultSys fs_;
  mech::ProbeCache probes_;
  mech::Context ctx_;
  FileOptions opts_;
};

TEST_F(CopyFileFailure, CreatedDestinationIsRemoved) {
  Result<Report> r = ladder::copy_file(ctx_, src_, dst_, opts_);
  ASSERT_FALSE(r.ok());
  const Error& e = r.error();
  EXPECT_EQ(e.code, ENOSPC);
  EXPECT_EQ(e.op, "pwrite");
  EXPECT_EQ(e.role, Role::destination);
  EXPECT_EQ(e.path, dst_);
  EXPECT_EQ(e.bytes_done, 1 * kMiB);
  EXPECT_FALSE(exists(dst_)) << "partial destination left behind";
  EXPECT_NE(e.detail.find("removed"), std::string::npos) << e.detail;
  const std::string msg = e.message();
  EXPECT_NE(msg.find("pwrite"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dst_), std::string::npos) << msg;
  EXPECT_NE(msg.find(strerror(ENOSPC)), std::string::npos) << msg;
  EXPECT_EQ(fs_.count(sys::Call::copy_file_range), 0);
  EXPECT_TRUE(read_file(src_) == data_);
}

TEST_F(CopyFileFailure, ExistingDestinationIsKept) {
  write_file(dst_, "old contents");
  Result<Report> r = ladder::copy_file(ctx_, src_, dst_, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC);
  ASSERT_TRUE(exists(dst_)) << "an existing destination was removed";
  EXPECT_EQ(r.error().detail.find("removed"), std::string::npos) << r.error().detail;
  const std::string got = read_file(dst_);
  ASSERT_EQ(static_cast<int64_t>(got.size()), 1 * kMiB);
  EXPECT_TRUE(got == data_.substr(0, 1 * kMiB));
}

// --- Error::message -------------------------------------------------------------

TEST(ErrorMessage, NamesOpPathAndStrerror) {
  Error e;
  e.code = ENOSPC;
  e.op = "write";
  e.role = Role::destination;
  e.path = "b";
  const std::string m = e.message();
  EXPECT_EQ(m.rfind("write", 0), 0u) << m;
  EXPECT_NE(m.find("'b'"), std::string::npos) << m;
  EXPECT_NE(m.find(strerror(ENOSPC)), std::string::npos) << m;
  e.detail = "while testing";
  EXPECT_NE(e.message().find("while testing"), std::string::npos);
}

}  // namespace
}  // namespace offcopy
