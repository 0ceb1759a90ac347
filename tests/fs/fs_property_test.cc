// Property tests for copy_range on real filesystems ("the fault matrix at
// scale"): random file shapes copied with random ranges and flags between
// every pair of the loop-mounted filesystems of scripts/fsfixture.sh, each
// result checked against an in-memory model of copy_file_range(2).  The
// shapes, calls and model are in tests/support/property_cases.h.
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

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/copy.h"
#include "support/property_cases.h"
#include "support/test_files.h"
#include "sys/sys.h"

namespace offcopy {
namespace {

using testing::CallOutcome;
using testing::CaseFiles;
using testing::CaseMix;
using testing::CopyCall;
using testing::describe;
using testing::describe_error;
using testing::failed_copy_ok;
using testing::failures_so_far;
using testing::Gen;
using testing::kBlock;
using testing::kKiB;
using testing::kMiB;
using testing::make_call;
using testing::mix;
using testing::model_apply;
using testing::model_n;
using testing::mount_for;
using testing::random_call;
using testing::random_files;
using testing::run_cases;
using testing::run_settings;
using testing::RunSettings;
using testing::RunTally;
using testing::same_bytes;
using testing::TempDir;

const std::vector<std::string> kAllFs = {"btrfs", "xfs", "ext4", "tmpfs"};

constexpr uint64_t kDefaultSeed = 0x0ffc0be5eedULL;
// 16 pairs x 200 cases x ~2 copies: about 6400 copy_range calls, ~27 s on
// two cores with the loop devices of fsfixture.sh.
constexpr int kDefaultCases = 200;

// A hash that is the same in every build (std::hash is not), so a seed
// printed by one build reproduces in another.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

// Files of up to a few MiB; whole-block lengths and gaps past the
// destination's end among the calls.
constexpr CaseMix kMix{
    .src_max = 4 * kMiB, .dst_max = 2 * kMiB, .mid_size = 256 * kKiB,
    .extent_blocks = 32, .extent_bytes = 100 * kKiB, .block_lens = true,
    .dst_gaps = true, .reflink_auto = 60, .reflink_never = 25};

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

// ---------------------------------------------------------------------------
// What a filesystem pair allows.

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
    EXPECT_TRUE(e.offload_unsupported()) << what;
  }
}

void FsPropertyTest::run_call(const CopyCall& c, const std::string& src, std::string& dst,
                              int src_fd, int dst_fd, Stats& st) {
  SCOPED_TRACE(to_string(c));
  const int64_t src_size = static_cast<int64_t>(src.size());
  const int64_t n = model_n(c, src_size);
  const CallOutcome out = make_call(c, src_fd, dst_fd, copy_range);
  ++st.copies;
  EXPECT_TRUE(same_bytes(testing::read_file(src_dir_->file("src")), src)) << "source changed";
  const std::string got = testing::read_file(dst_dir_->file("dst"));
  st.bytes_compared += src_size + static_cast<int64_t>(got.size());
  if (!out.result.ok()) {
    check_error(c, out.result.error(), n, out.src_moved, out.dst_moved, src, dst, got);
    ++st.failed_as_allowed;
    dst = got;  // later calls of the case start from what is there
    return;
  }
  const Report& rep = out.result.value();
  EXPECT_EQ(rep.total_bytes() + rep.hole_bytes, n) << "report: " << describe(rep);
  EXPECT_EQ(out.src_moved, n) << "source offset advance";
  EXPECT_EQ(out.dst_moved, n) << "destination offset advance";
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
  CaseFiles files = random_files(g, kMix, src_dir_->file("src"), dst_dir_->file("dst"));
  SCOPED_TRACE(to_string(files));
  sys::UniqueFd src_fd(::open(src_dir_->file("src").c_str(), O_RDONLY | O_CLOEXEC));
  sys::UniqueFd dst_fd(::open(dst_dir_->file("dst").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(src_fd.valid() && dst_fd.valid()) << strerror(errno);
  const int calls = static_cast<int>(g.in(1, 3));
  const int failures_before = failures_so_far();
  for (int i = 0; i < calls && failures_so_far() == failures_before; ++i) {
    const CopyCall c =
        random_call(g, files.src_shape.size, static_cast<int64_t>(files.dst.size()), kMix);
    SCOPED_TRACE("call " + std::to_string(i + 1) + " of " + std::to_string(calls));
    run_call(c, files.src, files.dst, src_fd.get(), dst_fd.get(), st);
  }
  ++st.cases;
}

TEST_P(FsPropertyTest, RandomRangesMatchModel) {
  const RunSettings rs = run_settings(kDefaultSeed, kDefaultCases);
  const uint64_t salt = mix(fnv1a(pair_.src_fs + ">" + pair_.dst_fs));
  Stats st;
  const RunTally tally = run_cases(rs, salt, pair_.src_fs + " -> " + pair_.dst_fs + ", ",
                                   [&](uint64_t case_seed) { run_case(case_seed, st); });
  st.failed_cases = tally.failed_cases;
  std::printf("[ property ] %s -> %s: seed %" PRIu64 ", %" PRId64 " cases (%" PRId64
              " broke a property), %" PRId64 " copies (%" PRId64 " failed as allowed), %" PRId64
              " bytes copied, %" PRId64 " bytes compared, %.1f s\n",
              pair_.src_fs.c_str(), pair_.dst_fs.c_str(), rs.seed, st.cases, st.failed_cases,
              st.copies, st.failed_as_allowed, st.bytes_copied, st.bytes_compared, tally.seconds);
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
