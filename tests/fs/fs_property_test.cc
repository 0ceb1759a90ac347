// Property tests for copy_range on real filesystems ("the fault matrix at
// scale"): random file shapes copied with random ranges and flags between
// every pair of the loop-mounted filesystems of scripts/fsfixture.sh, each
// result checked against an in-memory model of copy_file_range(2).
//
// One case = a random source (size, data extents, holes), a random
// destination (absent, or a random shape of its own) and 1-3 copy_range
// calls into it.  The model, for one call:
//   n    = min(len, max(0, src_size - src_off))   (whole_file: no min)
//   dst' = dst with [dst_off, dst_off + n) replaced by src[src_off, +n),
//          zero-filled between the old end and dst_off
//   size = max(old size, dst_off + n)
// and the call must return n bytes (Report: data + holes), advance both
// offsets (or file positions) by exactly n, and leave the source's bytes
// and mtime alone.  Only --reflink=always and no_fallback may fail here;
// then the offsets advance by Error::bytes_done, the destination holds the
// source's bytes over that prefix, and nothing outside the range changed.
//
// Reproducing: every case has its own seed derived from the run's seed,
// the pair and the case number.  A failure prints all three and the case's
// shapes and calls; rerun just that case with OFFCOPY_PROPERTY_SEED=<seed>
// and OFFCOPY_PROPERTY_ONLY=<case> in the environment of
//   scripts/fsfixture.sh run 1024 -- offcopy_fs_tests
//       --gtest_filter='*Property*<src>_to_<dst>'
// OFFCOPY_PROPERTY_CASES sets the cases per filesystem pair.  Each pair
// stops at its first failing case unless OFFCOPY_PROPERTY_KEEP_GOING=1.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/copy.h"
#include "support/test_files.h"
#include "sys/sys.h"

namespace offcopy {
namespace {

using testing::describe;
using testing::mount_for;
using testing::TempDir;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kBlock = 4096;

constexpr uint64_t kDefaultSeed = 0x0ffc0be5eedULL;
// 16 pairs x 200 cases x ~2 copies: about 6400 copy_range calls, ~27 s on
// two cores with the loop devices of fsfixture.sh.
constexpr int kDefaultCases = 200;

const std::vector<std::string> kAllFs = {"btrfs", "xfs", "ext4", "tmpfs"};

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 0) : fallback;
}

// splitmix64: turns (seed, pair, case) into independent per-case seeds, so
// one case can be rerun alone.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A hash that is the same in every build (std::hash is not), so a seed
// printed by one build reproduces in another.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

// ---------------------------------------------------------------------------
// Random choices.

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  // Uniform in [lo, hi].
  int64_t in(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool chance(int percent) { return in(0, 99) < percent; }
  std::string bytes(int64_t n) {
    std::string s(static_cast<size_t>(n), '\0');
    for (size_t i = 0; i < s.size(); i += 8) {
      const uint64_t v = rng_() | 0x0101010101010101ULL;  // no zero bytes
      std::memcpy(&s[i], &v, std::min<size_t>(8, s.size() - i));
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// Sizes that matter: empty, sub-block, exactly at block edges and one off,
// small, and a few MiB.
int64_t random_size(Gen& g, int64_t max) {
  switch (g.in(0, 9)) {
    case 0: return 0;
    case 1: return g.in(1, kBlock - 1);
    case 2:
    case 3:
    case 4: return g.in(1, 64) * kBlock + g.in(-1, 1);
    case 5:
    case 6:
    case 7: return g.in(1, 256 * kKiB);
    default: return g.in(256 * kKiB, max);
  }
}

// An offset in a file of `size` bytes: start, EOF, anywhere, on a block
// edge, one off a block edge, or past EOF.
int64_t random_offset(Gen& g, int64_t size) {
  switch (g.in(0, 5)) {
    case 0: return 0;
    case 1: return size;
    case 2: return g.in(0, size);
    case 3: return g.in(0, size / kBlock) * kBlock;
    case 4: return std::max<int64_t>(0, g.in(0, size / kBlock) * kBlock + g.in(-1, 1));
    default: return size + g.in(1, 3 * kBlock);
  }
}

// ---------------------------------------------------------------------------
// File shapes.

struct Extent {
  int64_t off = 0;
  int64_t len = 0;
  bool zeros = false;  // written, but all zero: --sparse=always makes holes
};

struct Shape {
  int64_t size = 0;
  std::vector<Extent> extents;  // written in order; the rest are holes
};

std::string to_string(const Shape& s) {
  std::ostringstream os;
  os << "size=" << s.size << " extents=[";
  for (const Extent& e : s.extents) {
    os << ' ' << e.off << '+' << e.len << (e.zeros ? "(zeros)" : "");
  }
  os << " ]";
  return os.str();
}

// Dense (one extent) or sparse: up to four extents, aligned or not, some
// written as zeros.
Shape random_shape(Gen& g, int64_t max) {
  Shape s;
  s.size = random_size(g, max);
  if (s.size == 0) return s;
  if (g.chance(40)) {
    s.extents.push_back({0, s.size, false});
    return s;
  }
  const int count = static_cast<int>(g.in(0, 4));
  for (int i = 0; i < count; ++i) {
    Extent e;
    e.off = g.chance(50) ? g.in(0, s.size / kBlock) * kBlock : g.in(0, s.size - 1);
    e.len = g.chance(50) ? g.in(1, 32) * kBlock : g.in(1, 100 * kKiB);
    e.len = std::min(e.len, s.size - e.off);
    e.zeros = g.chance(10);
    if (e.len > 0) s.extents.push_back(e);
  }
  return s;
}

// Writes the shape at `path` (data at its extents, ftruncate for the size so
// the rest stays holes) and returns its bytes.
std::string make_file(Gen& g, const Shape& s, const std::string& path) {
  std::string model(static_cast<size_t>(s.size), '\0');
  // A new inode each time: O_TRUNC of a file with unwritten data makes ext4
  // (auto_da_alloc) flush it on close, which made the cases wait on the disk.
  ::unlink(path.c_str());
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  EXPECT_TRUE(fd.valid()) << path << ": " << strerror(errno);
  for (const Extent& e : s.extents) {
    const std::string data = e.zeros ? std::string(static_cast<size_t>(e.len), '\0')
                                     : g.bytes(e.len);
    EXPECT_EQ(::pwrite(fd.get(), data.data(), data.size(), e.off), e.len) << strerror(errno);
    model.replace(static_cast<size_t>(e.off), data.size(), data);
  }
  EXPECT_EQ(::ftruncate(fd.get(), s.size), 0) << strerror(errno);
  return model;
}

// ---------------------------------------------------------------------------
// Copies and the model.

struct CopyCall {
  int64_t src_off = 0;
  int64_t dst_off = 0;
  int64_t len = 0;
  CopyFlags flags;
  bool use_position = false;  // null offset pointers: the file positions
};

const char* reflink_name(Reflink r) {
  return r == Reflink::auto_ ? "auto" : r == Reflink::always ? "always" : "never";
}
const char* sparse_name(Sparse s) {
  return s == Sparse::auto_ ? "auto" : s == Sparse::always ? "always" : "never";
}

std::string to_string(const CopyCall& c) {
  std::ostringstream os;
  os << "copy_range(src_off=" << c.src_off << ", dst_off=" << c.dst_off
     << ", len=" << c.len << ", whole_file=" << c.flags.whole_file
     << ", no_fallback=" << c.flags.no_fallback << ", reflink=" << reflink_name(c.flags.reflink)
     << ", sparse=" << sparse_name(c.flags.sparse)
     << (c.use_position ? ", offsets as file positions" : "") << ")";
  return os.str();
}

int64_t random_len(Gen& g, int64_t src_size, int64_t src_off) {
  const int64_t rest = std::max<int64_t>(0, src_size - src_off);
  switch (g.in(0, 6)) {
    case 0: return 0;
    case 1: return rest;
    case 2: return std::max<int64_t>(0, rest + g.in(-1, 1));
    case 3: return g.in(1, src_size + 2 * kBlock);
    case 4: return g.in(1, 64) * kBlock;
    case 5: return std::numeric_limits<int64_t>::max();  // "to EOF", past it
    default: return g.in(1, rest + 1);
  }
}

CopyFlags random_flags(Gen& g) {
  CopyFlags f;
  f.whole_file = g.chance(15);
  f.no_fallback = g.chance(8);
  const int r = static_cast<int>(g.in(0, 99));
  f.reflink = r < 60 ? Reflink::auto_ : r < 85 ? Reflink::never : Reflink::always;
  const int s = static_cast<int>(g.in(0, 99));
  f.sparse = s < 60 ? Sparse::auto_ : s < 80 ? Sparse::always : Sparse::never;
  return f;
}

CopyCall random_call(Gen& g, int64_t src_size, int64_t dst_size) {
  CopyCall c;
  c.src_off = random_offset(g, src_size);
  // Equal offsets keep the two ends equally aligned: the clone path.
  c.dst_off = g.chance(35) ? c.src_off : random_offset(g, dst_size);
  if (g.chance(5)) c.dst_off += g.in(1, kMiB);  // a gap of zeros before it
  c.len = random_len(g, src_size, c.src_off);
  c.flags = random_flags(g);
  c.use_position = g.chance(15);
  return c;
}

int64_t model_n(const CopyCall& c, int64_t src_size) {
  const int64_t avail = std::max<int64_t>(0, src_size - c.src_off);
  return c.flags.whole_file ? avail : std::min(c.len, avail);
}

void model_apply(std::string& dst, const std::string& src, const CopyCall& c, int64_t n) {
  if (n <= 0) return;
  const size_t end = static_cast<size_t>(c.dst_off + n);
  if (dst.size() < end) dst.resize(end, '\0');
  dst.replace(static_cast<size_t>(c.dst_off), static_cast<size_t>(n), src,
              static_cast<size_t>(c.src_off), static_cast<size_t>(n));
}

// ---------------------------------------------------------------------------
// Checks.

std::string byte_at(const std::string& s, size_t i) {
  if (i >= s.size()) return "EOF";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(s[i]));
  return buf;
}

// Equal bytes; otherwise says where they first differ, without megabytes
// of output.
::testing::AssertionResult same_bytes(const std::string& got, const std::string& want) {
  const size_t n = std::min(got.size(), want.size());
  const auto mm = std::mismatch(got.begin(), got.begin() + n, want.begin());
  const size_t at = static_cast<size_t>(mm.first - got.begin());
  if (at == n && got.size() == want.size()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "size " << got.size() << " (want " << want.size() << "), first difference at "
         << at << ": got " << byte_at(got, at) << ", want " << byte_at(want, at);
}

// For a failed call that reported `done` bytes: the destination holds the
// source's bytes over [dst_off, dst_off + done), keeps its old bytes outside
// [dst_off, dst_off + n), and was neither truncated nor grown past the range.
::testing::AssertionResult failed_copy_ok(const std::string& got, const std::string& old,
                                          const std::string& src, const CopyCall& c,
                                          int64_t n, int64_t done) {
  if (done < 0 || done > n) {
    return ::testing::AssertionFailure() << "bytes_done " << done << " outside [0, " << n << "]";
  }
  const size_t lo = static_cast<size_t>(c.dst_off);
  const size_t max_size = std::max(old.size(), static_cast<size_t>(c.dst_off + n));
  if (got.size() < old.size() || got.size() > max_size) {
    return ::testing::AssertionFailure() << "destination size " << got.size() << " outside ["
                                         << old.size() << ", " << max_size << "]";
  }
  const std::string want_prefix =
      done > 0 ? src.substr(static_cast<size_t>(c.src_off), static_cast<size_t>(done)) : "";
  const std::string got_prefix = got.size() > lo ? got.substr(lo, static_cast<size_t>(done)) : "";
  if (auto r = same_bytes(got_prefix, want_prefix); !r) {
    return ::testing::AssertionFailure()
           << "the reported prefix [" << c.dst_off << ", " << c.dst_off + done
           << ") of the destination is not the source's (offsets relative to dst_off): "
           << r.message();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (i >= lo && i < lo + static_cast<size_t>(n)) continue;
    const char want = i < old.size() ? old[i] : '\0';
    if (got[i] != want) {
      return ::testing::AssertionFailure() << "byte " << i << " outside the range changed: got "
                                           << byte_at(got, i) << ", want " << byte_at(old, i);
    }
  }
  return ::testing::AssertionSuccess();
}

struct Stats {
  int64_t cases = 0;
  int64_t failed_cases = 0;  // cases with a failed check (KEEP_GOING counts them all)
  int64_t copies = 0;
  int64_t failed_as_allowed = 0;  // --reflink=always / no_fallback errors
  int64_t bytes_copied = 0;       // sum of n over successful calls
  int64_t bytes_compared = 0;     // destination + source bytes checked

  void add(const Stats& o) {
    cases += o.cases;
    copies += o.copies;
    failed_cases += o.failed_cases;
    failed_as_allowed += o.failed_as_allowed;
    bytes_copied += o.bytes_copied;
    bytes_compared += o.bytes_compared;
  }
};

struct Pair {
  std::string src_fs;
  std::string dst_fs;
  bool same() const { return src_fs == dst_fs; }
};

// Whether a --reflink=always call must clone: same clone-capable
// filesystem, equally block-aligned ends, a middle that is the whole range
// (clonable_middle in copier.cc), and no sparse mode that rules clone out.
bool must_clone(const Pair& p, const CopyCall& c, int64_t n, int64_t src_size,
                int64_t dst_size) {
  if (!p.same() || !testing::can_clone(p.src_fs) || c.flags.sparse != Sparse::auto_) return false;
  if (c.src_off % kBlock != 0 || c.dst_off % kBlock != 0) return false;
  const bool to_eof = c.src_off + n == src_size && c.dst_off + n >= dst_size;
  return n % kBlock == 0 || to_eof;
}

// When a call may fail on a real filesystem without a bug.
bool may_fail(const CopyCall& c) {
  return c.flags.reflink == Reflink::always || c.flags.no_fallback;
}

// Failures recorded so far in the running test, so that one case can tell
// whether it failed itself when earlier ones did too (KEEP_GOING).
int failures_so_far() {
  const ::testing::TestResult* r =
      ::testing::UnitTest::GetInstance()->current_test_info()->result();
  int n = 0;
  for (int i = 0; i < r->total_part_count(); ++i) n += r->GetTestPartResult(i).failed();
  return n;
}

// The error and, when the copy had started, what each rung did before it.
std::string describe_error(const Error& e) {
  return describe(e) + (e.report ? "; " + describe(*e.report) : "");
}

int64_t position(int fd) { return ::lseek(fd, 0, SEEK_CUR); }

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// ---------------------------------------------------------------------------
// The test: one instance per filesystem pair.

class FsPropertyTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    pair_ = {std::get<0>(GetParam()), std::get<1>(GetParam())};
    std::string why;
    const std::string src_mnt = mount_for(pair_.src_fs, &why);
    if (src_mnt.empty()) GTEST_SKIP() << why;
    const std::string dst_mnt = mount_for(pair_.dst_fs, &why);
    if (dst_mnt.empty()) GTEST_SKIP() << why;
    src_dir_ = std::make_unique<TempDir>(src_mnt);
    dst_dir_ = std::make_unique<TempDir>(dst_mnt);
    ASSERT_FALSE(src_dir_->path().empty());
    ASSERT_FALSE(dst_dir_->path().empty());
  }

  static void TearDownTestSuite() {
    if (total_.cases == 0) return;
    std::printf("[ property ] fs total: %" PRId64 " cases (%" PRId64 " broke a property), %" PRId64
                " copy_range calls (%" PRId64 " failed as allowed), %" PRId64
                " bytes copied, %" PRId64 " bytes compared\n",
                total_.cases, total_.failed_cases, total_.copies, total_.failed_as_allowed,
                total_.bytes_copied, total_.bytes_compared);
    total_ = {};
  }

  void run_case(uint64_t seed, Stats& st);
  void run_call(const CopyCall& c, const std::string& src, std::string& dst, int src_fd,
                int dst_fd, Stats& st);
  void check_error(const CopyCall& c, const Error& e, int64_t n, int64_t src_moved,
                   int64_t dst_moved, const std::string& src, const std::string& old_dst,
                   const std::string& got);

  Pair pair_;
  std::unique_ptr<TempDir> src_dir_;
  std::unique_ptr<TempDir> dst_dir_;
  static Stats total_;
};

Stats FsPropertyTest::total_;

void FsPropertyTest::check_error(const CopyCall& c, const Error& e, int64_t n,
                                 int64_t src_moved, int64_t dst_moved, const std::string& src,
                                 const std::string& old_dst, const std::string& got) {
  const std::string what = describe_error(e);
  EXPECT_TRUE(may_fail(c)) << "copy failed: " << what;
  EXPECT_EQ(src_moved, e.bytes_done) << "source offset advance != bytes_done: " << what;
  EXPECT_EQ(dst_moved, e.bytes_done) << "destination offset advance != bytes_done: " << what;
  EXPECT_TRUE(failed_copy_ok(got, old_dst, src, c, n, e.bytes_done)) << what;
  if (c.flags.reflink == Reflink::always) {
    // "Clone or fail; nothing is written when cloning is impossible."
    const int64_t src_size = static_cast<int64_t>(src.size());
    EXPECT_FALSE(must_clone(pair_, c, n, src_size, static_cast<int64_t>(old_dst.size())))
        << "an aligned --reflink=always copy on " << pair_.src_fs << " failed: " << what;
    EXPECT_TRUE(same_bytes(got, old_dst)) << "--reflink=always failed but wrote";
  } else if (pair_.same() && c.flags.reflink == Reflink::auto_ &&
             c.flags.sparse == Sparse::auto_) {
    // One filesystem: copy_file_range is there for every range.
    ADD_FAILURE() << "no_fallback failed on one filesystem: " << what;
  } else {
    // Across filesystems, or kernel copy ruled out by --reflink=never or a
    // --sparse mode: the only allowed failure is "no offload rung".
    EXPECT_TRUE(e.offload_unsupported) << what;
  }
}

void FsPropertyTest::run_call(const CopyCall& c, const std::string& src, std::string& dst,
                              int src_fd, int dst_fd, Stats& st) {
  SCOPED_TRACE(to_string(c));
  const int64_t src_size = static_cast<int64_t>(src.size());
  const int64_t n = model_n(c, src_size);
  struct stat before {};
  ASSERT_EQ(::fstat(src_fd, &before), 0);
  // Offset pointers must leave the file positions alone; null ones use them.
  const int64_t src_pos = c.use_position ? c.src_off : 3;
  const int64_t dst_pos = c.use_position ? c.dst_off : 5;
  ASSERT_EQ(::lseek(src_fd, src_pos, SEEK_SET), src_pos);
  ASSERT_EQ(::lseek(dst_fd, dst_pos, SEEK_SET), dst_pos);
  int64_t so = c.src_off;
  int64_t dof = c.dst_off;
  Result<Report> r = copy_range(src_fd, c.use_position ? nullptr : &so, dst_fd,
                                c.use_position ? nullptr : &dof, c.len, c.flags);
  if (c.use_position) {
    so = position(src_fd);
    dof = position(dst_fd);
  } else {
    EXPECT_EQ(position(src_fd), src_pos) << "source position moved";
    EXPECT_EQ(position(dst_fd), dst_pos) << "destination position moved";
  }
  ++st.copies;
  // The source is never touched.
  struct stat after {};
  ASSERT_EQ(::fstat(src_fd, &after), 0);
  EXPECT_TRUE(same_time(before.st_mtim, after.st_mtim)) << "source mtime changed";
  EXPECT_TRUE(same_bytes(testing::read_file(src_dir_->file("src")), src)) << "source changed";
  const std::string got = testing::read_file(dst_dir_->file("dst"));
  st.bytes_compared += src_size + static_cast<int64_t>(got.size());
  if (!r.ok()) {
    check_error(c, r.error(), n, so - c.src_off, dof - c.dst_off, src, dst, got);
    ++st.failed_as_allowed;
    dst = got;  // later calls of the case start from what is there
    return;
  }
  const Report& rep = r.value();
  EXPECT_EQ(rep.total_bytes() + rep.hole_bytes, n) << "report: " << describe(rep);
  EXPECT_EQ(so - c.src_off, n) << "source offset advance";
  EXPECT_EQ(dof - c.dst_off, n) << "destination offset advance";
  if (c.flags.reflink == Reflink::never) {
    EXPECT_EQ(rep.bytes(Mechanism::clone) + rep.bytes(Mechanism::kernel_copy), 0)
        << "--reflink=never cloned or used copy_file_range: " << describe(rep);
  }
  if (c.flags.sparse == Sparse::never) {
    EXPECT_EQ(rep.hole_bytes, 0) << "--sparse=never left holes: " << describe(rep);
  }
  model_apply(dst, src, c, n);
  EXPECT_TRUE(same_bytes(got, dst)) << "destination differs from the model: " << describe(rep);
  st.bytes_copied += n;
}

void FsPropertyTest::run_case(uint64_t seed, Stats& st) {
  Gen g(seed);
  const Shape src_shape = random_shape(g, 4 * kMiB);
  const bool dst_exists = g.chance(60);
  const Shape dst_shape = dst_exists ? random_shape(g, 2 * kMiB) : Shape{};
  SCOPED_TRACE("source " + to_string(src_shape) + "; destination " +
               (dst_exists ? to_string(dst_shape) : "new, empty"));
  const std::string src = make_file(g, src_shape, src_dir_->file("src"));
  std::string dst = make_file(g, dst_shape, dst_dir_->file("dst"));
  sys::UniqueFd src_fd(::open(src_dir_->file("src").c_str(), O_RDONLY | O_CLOEXEC));
  sys::UniqueFd dst_fd(::open(dst_dir_->file("dst").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(src_fd.valid() && dst_fd.valid()) << strerror(errno);
  const int calls = static_cast<int>(g.in(1, 3));
  const int failures_before = failures_so_far();
  for (int i = 0; i < calls && failures_so_far() == failures_before; ++i) {
    const CopyCall c = random_call(g, src_shape.size, static_cast<int64_t>(dst.size()));
    SCOPED_TRACE("call " + std::to_string(i + 1) + " of " + std::to_string(calls));
    run_call(c, src, dst, src_fd.get(), dst_fd.get(), st);
  }
  ++st.cases;
}

TEST_P(FsPropertyTest, RandomRangesMatchModel) {
  const uint64_t seed = env_u64("OFFCOPY_PROPERTY_SEED", kDefaultSeed);
  const int64_t cases = static_cast<int64_t>(env_u64("OFFCOPY_PROPERTY_CASES", kDefaultCases));
  const char* only_env = std::getenv("OFFCOPY_PROPERTY_ONLY");
  const int64_t only = only_env != nullptr ? std::strtoll(only_env, nullptr, 0) : -1;
  const uint64_t pair_salt = fnv1a(pair_.src_fs + ">" + pair_.dst_fs);
  const auto start = std::chrono::steady_clock::now();
  Stats st;
  // Stop at the first failing case unless asked to survey them all.
  const bool keep_going = env_u64("OFFCOPY_PROPERTY_KEEP_GOING", 0) != 0;
  for (int64_t i = 0; i < cases && (keep_going || !HasFailure()); ++i) {
    if (only >= 0 && i != only) continue;
    const uint64_t case_seed = mix(seed ^ mix(pair_salt) ^ mix(static_cast<uint64_t>(i)));
    SCOPED_TRACE(::testing::Message()
                 << "reproduce: OFFCOPY_PROPERTY_SEED=" << seed << " OFFCOPY_PROPERTY_ONLY=" << i
                 << " (" << pair_.src_fs << " -> " << pair_.dst_fs << ", case seed " << case_seed
                 << ")");
    const int failures_before = failures_so_far();
    run_case(case_seed, st);
    if (failures_so_far() > failures_before) ++st.failed_cases;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ property ] %s -> %s: seed %" PRIu64 ", %" PRId64 " cases (%" PRId64
              " broke a property), %" PRId64 " copies (%" PRId64 " failed as allowed), %" PRId64
              " bytes copied, %" PRId64 " bytes compared, %.1f s\n",
              pair_.src_fs.c_str(), pair_.dst_fs.c_str(), seed, st.cases, st.failed_cases,
              st.copies, st.failed_as_allowed, st.bytes_copied, st.bytes_compared, secs);
  RecordProperty("cases", static_cast<int>(st.cases));
  RecordProperty("copies", static_cast<int>(st.copies));
  RecordProperty("bytes_compared", std::to_string(st.bytes_compared));
  total_.add(st);
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, FsPropertyTest,
    ::testing::Combine(::testing::ValuesIn(kAllFs), ::testing::ValuesIn(kAllFs)),
    [](const ::testing::TestParamInfo<std::tuple<std::string, std::string>>& p) {
      return std::get<0>(p.param) + "_to_" + std::get<1>(p.param);
    });

}  // namespace
}  // namespace offcopy
