// copy_file and copy_range on real filesystems: every file shape copied
// between every pair of the loop-mounted filesystems that
// scripts/fsfixture.sh provides (btrfs, xfs with reflink, ext4, tmpfs).
//
// What each copy must show:
// - the destination's bytes equal the source's;
// - holes stay holes on every destination filesystem;
// - same-filesystem copies on btrfs/xfs are clones (FIEMAP shared extents,
//   report counts the whole file as cloned); on ext4/tmpfs they are kernel
//   copies with nothing shared;
// - cross-filesystem copies are host copies: no clone and no kernel copy
//   bytes, and the report names both skipped rungs with EXDEV.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
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
// What a destination may have allocated beyond its data: extent rounding,
// metadata blocks, an xfs speculative preallocation that was not trimmed.
constexpr int64_t kAllocSlack = 1 * kMiB;

const std::vector<std::string> kAllFs = {"btrfs", "xfs", "ext4", "tmpfs"};


int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
int64_t round_down(int64_t v, int64_t to) { return v / to * to; }




// Invariants every report keeps: one step per rung, in ladder order, and a
// used step's bytes are what the counters say.
void expect_consistent(const Report& r) {
  for (size_t i = 1; i < r.steps.size(); ++i) {
    EXPECT_LT(ladder_rank(r.steps[i - 1].mech), ladder_rank(r.steps[i].mech))
        << "steps not one per rung in ladder order: " << describe(r);
  }
  for (int i = 0; i < kMechanismCount; ++i) {
    const Step* s = find_step(r, static_cast<Mechanism>(i));
    if (r.bytes_by[i] > 0) {
      ASSERT_NE(s, nullptr) << "bytes counted without a step: " << describe(r);
      EXPECT_EQ(s->outcome, Outcome::used) << describe(r);
      EXPECT_EQ(s->bytes, r.bytes_by[i]) << describe(r);
    } else if (s != nullptr) {
      EXPECT_NE(s->outcome, Outcome::used) << "used step with no bytes: " << describe(r);
    }
  }
  EXPECT_EQ(r.bytes(Mechanism::snapshot), 0);
  EXPECT_EQ(r.bytes(Mechanism::device), 0);
}

// A skipped (or failed) step for `m` whose errno is `err` and whose reason
// says something.
void expect_skipped(const Report& r, Mechanism m, int err, const std::string& why_part) {
  const Step* s = find_step(r, m);
  ASSERT_NE(s, nullptr) << "no step for " << mechanism_name(m) << ": " << describe(r);
  EXPECT_EQ(s->outcome, Outcome::skipped) << describe(r);
  EXPECT_EQ(s->err, err) << mechanism_name(m) << " skipped with " << s->err
                         << ", wanted " << err << ": " << describe(r);
  EXPECT_FALSE(s->why.empty()) << describe(r);
  if (!why_part.empty()) {
    EXPECT_NE(s->why.find(why_part), std::string::npos)
        << "reason for " << mechanism_name(m) << " lacks '" << why_part
        << "': " << describe(r);
  }
}

// Compares without printing megabytes: size and first differing offset.
::testing::AssertionResult same_bytes(const std::string& got, const std::string& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "size " << got.size() << ", want " << want.size();
  }
  auto mm = std::mismatch(got.begin(), got.end(), want.begin());
  if (mm.first != got.end()) {
    return ::testing::AssertionFailure()
           << "first difference at offset " << (mm.first - got.begin()) << " of "
           << got.size();
  }
  return ::testing::AssertionSuccess();
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

// ---------------------------------------------------------------------------
// File shapes.

struct Shape {
  const char* name;
  int64_t size;
  bool dense;  // written whole; else sparse with data only at `data`
  std::vector<std::pair<int64_t, int64_t>> data;

  int64_t data_bytes() const {
    if (dense) return size;
    int64_t n = 0;
    for (auto [off, len] : data) n += len;
    return n;
  }
  // The data rounded out to whole blocks: what a hole-keeping copy may
  // allocate at most (before slack).
  int64_t data_alloc() const {
    if (dense) return round_up(size, kBlock);
    int64_t n = 0;
    for (auto [off, len] : data) n += round_up(off + len, kBlock) - round_down(off, kBlock);
    return n;
  }
};

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> k = {
      {"empty", 0, true, {}},
      {"one_byte", 1, true, {}},
      {"block_minus_one", kBlock - 1, true, {}},
      {"one_block", kBlock, true, {}},
      {"block_plus_one", kBlock + 1, true, {}},
      {"unaligned_100000", 100000, true, {}},
      {"mib_plus_123", kMiB + 123, true, {}},
      // Holes first, data at the end.
      {"sparse_hole_start", 16 * kMiB, false, {{12 * kMiB, kMiB}, {15 * kMiB, kMiB}}},
      // Data, one big hole, data.
      {"sparse_hole_middle", 16 * kMiB, false, {{0, kMiB}, {15 * kMiB, kMiB}}},
      // Data, then a trailing hole to the end of the file.
      {"sparse_hole_end", 16 * kMiB, false, {{0, kMiB}, {4 * kMiB, kMiB}}},
      // Holes at the start, between extents and at the end.
      {"sparse_holes_everywhere",
       40 * kMiB,
       false,
       {{2 * kMiB, kMiB}, {10 * kMiB, kMiB}, {20 * kMiB, 2 * kMiB}, {30 * kMiB, kMiB}}},
      // A hole, then a partial data block ending the file at an odd size.
      {"sparse_unaligned_tail", 24 * kMiB + 777, false, {{0, kMiB}, {24 * kMiB, 777}}},
      // Nothing but a hole.
      {"all_hole", 16 * kMiB, false, {}},
  };
  return k;
}

// Writes the shape at path; returns the expected content.
std::string make_shape(const Shape& s, const std::string& path) {
  if (!s.dense) return make_sparse(path, s.size, s.data);
  std::string content = pattern(s.size, 0x5eed + static_cast<uint64_t>(s.size));
  write_file(path, content);
  return content;
}

// btrfs keeps a file this small inline in its metadata: a clone copies the
// inline extent, nothing is FIEMAP-shared.
bool btrfs_inline(const std::string& fs, int64_t size) {
  return fs == "btrfs" && size <= 2048;
}

// Checks the report of a whole-file copy of `size` bytes with `data` data
// bytes from src_fs to dst_fs.
void expect_ladder(const Report& r, const std::string& src_fs, const std::string& dst_fs,
                   int64_t size, int64_t data) {
  SCOPED_TRACE(describe(r));
  expect_consistent(r);
  EXPECT_EQ(r.total_bytes() + r.hole_bytes, size) << "moved + holes != size";
  if (size == 0) {
    EXPECT_EQ(r.total_bytes(), 0);
    return;
  }
  const int64_t host = r.bytes(Mechanism::splice) + r.bytes(Mechanism::uring) +
                       r.bytes(Mechanism::read_write);
  if (src_fs == dst_fs && can_clone(src_fs)) {
    EXPECT_EQ(r.bytes(Mechanism::clone), size) << "same-fs copy on " << src_fs << " not a clone";
    EXPECT_EQ(r.bytes(Mechanism::kernel_copy), 0);
    EXPECT_EQ(host, 0);
    const Step* s = find_step(r, Mechanism::clone);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->outcome, Outcome::used);
  } else if (src_fs == dst_fs) {
    EXPECT_EQ(r.bytes(Mechanism::clone), 0);
    expect_skipped(r, Mechanism::clone, EOPNOTSUPP, "share extents");
    EXPECT_EQ(r.bytes(Mechanism::kernel_copy), data) << "same-fs copy on " << src_fs;
    EXPECT_EQ(host, 0);
    EXPECT_EQ(r.hole_bytes, size - data);
  } else {
    EXPECT_EQ(r.bytes(Mechanism::clone), 0);
    EXPECT_EQ(r.bytes(Mechanism::kernel_copy), 0);
    expect_skipped(r, Mechanism::clone, EXDEV, "different filesystems");
    if (data > 0) expect_skipped(r, Mechanism::kernel_copy, EXDEV, "different filesystems");
    EXPECT_EQ(host, data) << "host copy bytes";
    EXPECT_EQ(r.hole_bytes, size - data);
  }
}

// ---------------------------------------------------------------------------
// Every shape, every pair.

using ShapeParam = std::tuple<size_t, std::string, std::string>;

class ShapeCopyTest : public ::testing::TestWithParam<ShapeParam> {
 protected:
  void SetUp() override {
    const auto& [idx, src_fs, dst_fs] = GetParam();
    std::string why;
    src_mnt_ = mount_for(src_fs, &why);
    if (src_mnt_.empty()) GTEST_SKIP() << why;
    dst_mnt_ = mount_for(dst_fs, &why);
    if (dst_mnt_.empty()) GTEST_SKIP() << why;
    src_dir_ = std::make_unique<TempDir>(src_mnt_);
    dst_dir_ = std::make_unique<TempDir>(dst_mnt_);
    ASSERT_FALSE(src_dir_->path().empty());
    ASSERT_FALSE(dst_dir_->path().empty());
  }
  void TearDown() override {
    dst_dir_.reset();
    src_dir_.reset();
  }

  std::string src_mnt_, dst_mnt_;
  std::unique_ptr<TempDir> src_dir_, dst_dir_;
};

TEST_P(ShapeCopyTest, CopiesBytesKeepsHolesAndReportsLadder) {
  const auto& [idx, src_fs, dst_fs] = GetParam();
  const Shape& shape = shapes()[idx];
  const std::string src = src_dir_->file("src");
  const std::string dst = dst_dir_->file("dst");
  const std::string want = make_shape(shape, src);
  ASSERT_FALSE(::testing::Test::HasFailure());
  ASSERT_EQ(file_size(src), shape.size);

  auto rep = copy_file(src, dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << rep.error().message();

  ASSERT_EQ(file_size(dst), shape.size);
  EXPECT_TRUE(same_bytes(read_file(dst), want));
  EXPECT_TRUE(same_bytes(read_file(src), want)) << "source changed";

  expect_ladder(*rep, src_fs, dst_fs, shape.size, shape.data_bytes());

  const int64_t alloc = allocated_bytes(dst);
  if (!shape.dense) {
    EXPECT_LE(alloc, shape.data_alloc() + kAllocSlack)
        << "holes not kept on " << dst_fs << ": " << alloc << " bytes allocated for "
        << shape.data_bytes() << " data bytes in a " << shape.size << "-byte file";
  }
  const testing::ExtentInfo ext = extent_info(dst);
  if (src_fs == dst_fs && can_clone(src_fs) && !btrfs_inline(src_fs, shape.size)) {
    EXPECT_GE(ext.shared_bytes, shape.data_bytes())
        << "clone on " << src_fs << " did not share the data extents (" << ext.extents
        << " extents, " << ext.mapped_bytes << " mapped)";
    if (shape.data_bytes() > 0) {
      EXPECT_GT(ext.shared_bytes, 0);
    }
  } else {
    EXPECT_EQ(ext.shared_bytes, 0) << "extents shared on a non-clone copy";
  }
}

std::string pair_name(const std::string& a, const std::string& b) {
  return a + "_to_" + b;
}

INSTANTIATE_TEST_SUITE_P(
    Fs, ShapeCopyTest,
    ::testing::Combine(::testing::Range<size_t>(0, shapes().size()),
                       ::testing::ValuesIn(kAllFs), ::testing::ValuesIn(kAllFs)),
    [](const ::testing::TestParamInfo<ShapeParam>& info) {
      return std::string(shapes()[std::get<0>(info.param)].name) + "__" +
             pair_name(std::get<1>(info.param), std::get<2>(info.param));
    });

// ---------------------------------------------------------------------------
// A large file (256 MiB and an odd tail), made once per source filesystem
// and copied to every destination.

using PairParam = std::tuple<std::string, std::string>;

constexpr int64_t kLargeSize = 256 * kMiB + 4097;
constexpr int64_t kChunk = 4 * kMiB;

std::string large_chunk(int64_t index, int64_t len) {
  return pattern(len, 0x1a5e000 + static_cast<uint64_t>(index));
}

class LargeFileTest : public ::testing::TestWithParam<PairParam> {
 protected:
  static void TearDownTestSuite() {
    src_dir_.reset();
    src_fs_.clear();
  }

  // Creates the large source on `fs` unless it is there already (the
  // previous source, on another fs, is removed first to free its space).
  static void ensure_source(const std::string& fs, const std::string& mnt) {
    if (src_fs_ == fs && src_dir_) return;
    src_dir_.reset();
    src_fs_.clear();
    src_dir_ = std::make_unique<TempDir>(mnt);
    ASSERT_FALSE(src_dir_->path().empty());
    const std::string path = src_dir_->file("large");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
    for (int64_t off = 0, i = 0; off < kLargeSize; off += kChunk, ++i) {
      const std::string c = large_chunk(i, std::min(kChunk, kLargeSize - off));
      if (::pwrite(fd, c.data(), c.size(), off) != static_cast<ssize_t>(c.size())) {
        const int err = errno;
        ::close(fd);
        FAIL() << "writing " << path << ": " << strerror(err);
      }
    }
    ASSERT_EQ(::close(fd), 0);
    src_fs_ = fs;
  }

  static std::string src_fs_;
  static std::unique_ptr<TempDir> src_dir_;
};

std::string LargeFileTest::src_fs_;
std::unique_ptr<TempDir> LargeFileTest::src_dir_;

// Compares `path` with the large pattern chunk by chunk.
::testing::AssertionResult matches_large(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return ::testing::AssertionFailure() << path << ": " << strerror(errno);
  struct stat st {};
  ::fstat(fd, &st);
  if (st.st_size != kLargeSize) {
    ::close(fd);
    return ::testing::AssertionFailure() << "size " << st.st_size << ", want " << kLargeSize;
  }
  std::string buf(kChunk, '\0');
  for (int64_t off = 0, i = 0; off < kLargeSize; off += kChunk, ++i) {
    const int64_t len = std::min(kChunk, kLargeSize - off);
    int64_t got = 0;
    while (got < len) {
      const ssize_t r = ::pread(fd, buf.data() + got, len - got, off + got);
      if (r <= 0) {
        ::close(fd);
        return ::testing::AssertionFailure() << "read " << path << " at " << off + got;
      }
      got += r;
    }
    const std::string want = large_chunk(i, len);
    if (std::memcmp(buf.data(), want.data(), len) != 0) {
      ::close(fd);
      auto mm = std::mismatch(want.begin(), want.end(), buf.begin());
      return ::testing::AssertionFailure()
             << "first difference at offset " << off + (mm.first - want.begin());
    }
  }
  ::close(fd);
  return ::testing::AssertionSuccess();
}

TEST_P(LargeFileTest, CopiesLargeFile) {
  const auto& [src_fs, dst_fs] = GetParam();
  std::string why;
  const std::string src_mnt = mount_for(src_fs, &why);
  if (src_mnt.empty()) GTEST_SKIP() << why;
  const std::string dst_mnt = mount_for(dst_fs, &why);
  if (dst_mnt.empty()) GTEST_SKIP() << why;
  ensure_source(src_fs, src_mnt);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const std::string src = src_dir_->file("large");

  TempDir dst_dir(dst_mnt);
  const std::string dst = dst_dir.file("large.copy");
  auto rep = copy_file(src, dst, FileOptions{});
  ASSERT_TRUE(rep.ok()) << rep.error().message();
  EXPECT_TRUE(matches_large(dst));
  expect_ladder(*rep, src_fs, dst_fs, kLargeSize, kLargeSize);
  EXPECT_EQ(rep->hole_bytes, 0);

  if (src_fs != dst_fs) {
    // A copy this size is spliced in the kernel (every filesystem here
    // splices); io_uring and read/write are not reached.
    const Step* s = find_step(*rep, Mechanism::splice);
    ASSERT_NE(s, nullptr) << describe(*rep);
    EXPECT_EQ(s->outcome, Outcome::used) << describe(*rep);
    EXPECT_EQ(rep->bytes(Mechanism::splice), kLargeSize) << describe(*rep);
    EXPECT_NE(s->why.find("pipe"), std::string::npos) << describe(*rep);
  }
  const testing::ExtentInfo ext = extent_info(dst);
  if (src_fs == dst_fs && can_clone(src_fs)) {
    EXPECT_GE(ext.shared_bytes, round_down(kLargeSize, kBlock)) << "large clone not shared";
  } else {
    EXPECT_EQ(ext.shared_bytes, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Fs, LargeFileTest,
                         ::testing::Combine(::testing::ValuesIn(kAllFs),
                                            ::testing::ValuesIn(kAllFs)),
                         [](const ::testing::TestParamInfo<PairParam>& info) {
                           return pair_name(std::get<0>(info.param), std::get<1>(info.param));
                         });

// ---------------------------------------------------------------------------
// copy_range with unaligned offsets inside one filesystem: the aligned
// middle is cloned where the filesystem can, the head and tail go down a
// rung, and the bytes land where asked.

class RangeCopyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    mnt_ = mount_for(GetParam(), &why);
    if (mnt_.empty()) GTEST_SKIP() << why;
    dir_ = std::make_unique<TempDir>(mnt_);
    ASSERT_FALSE(dir_->path().empty());
    src_path_ = dir_->file("src");
    src_content_ = pattern(kSrcSize, 99);
    write_file(src_path_, src_content_);
    src_fd_ = ::open(src_path_.c_str(), O_RDONLY);
    ASSERT_GE(src_fd_, 0) << strerror(errno);
    dst_path_ = dir_->file("dst");
    dst_fd_ = ::open(dst_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(dst_fd_, 0) << strerror(errno);
    struct statfs sfs {};
    ASSERT_EQ(::fstatfs(dst_fd_, &sfs), 0);
    bs_ = sfs.f_bsize;
  }
  void TearDown() override {
    if (src_fd_ >= 0) ::close(src_fd_);
    if (dst_fd_ >= 0) ::close(dst_fd_);
    dir_.reset();
  }

  // Destination content expected after copying [so, so+len) to do into an
  // empty file: zeros before do.
  std::string expected(int64_t so, int64_t d_o, int64_t len) const {
    std::string e(static_cast<size_t>(d_o), '\0');
    e += src_content_.substr(static_cast<size_t>(so), static_cast<size_t>(len));
    return e;
  }

  static constexpr int64_t kSrcSize = 8 * kMiB + 1234;
  std::string mnt_;
  std::unique_ptr<TempDir> dir_;
  std::string src_path_, dst_path_, src_content_;
  int src_fd_ = -1, dst_fd_ = -1;
  int64_t bs_ = kBlock;
};

TEST_P(RangeCopyTest, UnalignedOffsetsCloneTheAlignedMiddle) {
  const std::string& fs = GetParam();
  const int64_t so0 = 3 * bs_ + 100;  // same offset within a block on both sides
  const int64_t do0 = 5 * bs_ + 100;
  const int64_t len = 2 * kMiB + 3000;
  int64_t so = so0, d_o = do0;
  auto rep = copy_range(src_fd_, &so, dst_fd_, &d_o, len, CopyFlags{});
  ASSERT_TRUE(rep.ok()) << rep.error().message();
  SCOPED_TRACE(describe(*rep));
  expect_consistent(*rep);
  EXPECT_EQ(so, so0 + len);
  EXPECT_EQ(d_o, do0 + len);
  EXPECT_EQ(rep->total_bytes(), len);
  EXPECT_EQ(rep->hole_bytes, 0);

  const int64_t head = (bs_ - so0 % bs_) % bs_;
  const int64_t mid_end = round_down(so0 + len, bs_);
  const int64_t middle = mid_end - (so0 + head);
  ASSERT_GT(middle, 0);
  if (can_clone(fs)) {
    EXPECT_EQ(rep->bytes(Mechanism::clone), middle) << "aligned middle not cloned";
    EXPECT_EQ(rep->bytes(Mechanism::kernel_copy) + rep->bytes(Mechanism::splice) +
                  rep->bytes(Mechanism::uring) + rep->bytes(Mechanism::read_write),
              len - middle)
        << "head and tail not copied by a lower rung";
    EXPECT_GE(extent_info(dst_path_).shared_bytes, middle);
  } else {
    EXPECT_EQ(rep->bytes(Mechanism::clone), 0);
    EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), len);
    expect_skipped(*rep, Mechanism::clone, EOPNOTSUPP, "");
    EXPECT_EQ(extent_info(dst_path_).shared_bytes, 0);
  }
  EXPECT_EQ(file_size(dst_path_), do0 + len);
  EXPECT_TRUE(same_bytes(read_file(dst_path_), expected(so0, do0, len)));
}

TEST_P(RangeCopyTest, MisalignedOffsetsAreNotCloned) {
  const std::string& fs = GetParam();
  const int64_t so0 = 100, do0 = 7, len = kMiB + 1;
  int64_t so = so0, d_o = do0;
  auto rep = copy_range(src_fd_, &so, dst_fd_, &d_o, len, CopyFlags{});
  ASSERT_TRUE(rep.ok()) << rep.error().message();
  SCOPED_TRACE(describe(*rep));
  expect_consistent(*rep);
  EXPECT_EQ(so, so0 + len);
  EXPECT_EQ(d_o, do0 + len);
  EXPECT_EQ(rep->bytes(Mechanism::clone), 0);
  EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), len) << "same-fs copy not in the kernel";
  if (can_clone(fs)) {
    expect_skipped(*rep, Mechanism::clone, 0, "aligned");
  } else {
    expect_skipped(*rep, Mechanism::clone, EOPNOTSUPP, "");
  }
  EXPECT_TRUE(same_bytes(read_file(dst_path_), expected(so0, do0, len)));
}

TEST_P(RangeCopyTest, RangeToSourceEofClonesThePartialLastBlock) {
  const std::string& fs = GetParam();
  const int64_t so0 = bs_ + 100, do0 = bs_ + 100;
  int64_t so = so0, d_o = do0;
  // Longer than what is left: the copy stops at the source's end.
  auto rep = copy_range(src_fd_, &so, dst_fd_, &d_o, kSrcSize, CopyFlags{});
  ASSERT_TRUE(rep.ok()) << rep.error().message();
  SCOPED_TRACE(describe(*rep));
  expect_consistent(*rep);
  const int64_t len = kSrcSize - so0;
  EXPECT_EQ(so, kSrcSize);
  EXPECT_EQ(d_o, do0 + len);
  EXPECT_EQ(rep->total_bytes(), len);
  if (can_clone(fs)) {
    // Everything from the first aligned block to the (unaligned) EOF.
    EXPECT_EQ(rep->bytes(Mechanism::clone), kSrcSize - 2 * bs_);
    EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), bs_ - 100);
  } else {
    EXPECT_EQ(rep->bytes(Mechanism::kernel_copy), len);
  }
  EXPECT_EQ(file_size(dst_path_), kSrcSize);
  EXPECT_TRUE(same_bytes(read_file(dst_path_), expected(so0, do0, len)));
}

INSTANTIATE_TEST_SUITE_P(Fs, RangeCopyTest, ::testing::ValuesIn(kAllFs),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace offcopy
