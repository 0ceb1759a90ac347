// Property tests for copy_range through the fault seam: the random file
// shapes and copies of tests/support/property_cases.h (as in
// tests/fs/fs_property_test.cc, smaller), on /tmp, with 0-3 random faults
// per case injected by a FaultSys (an errno, a short transfer, a zero
// return, or an errno after N bytes, on any call the copy path makes) and
// small random tunables so a file of a few hundred KiB takes many calls of
// each rung.
//
// Whatever the faults, each case must show:
//  (a) success with exactly the model's result (bytes, size, offsets, and
//      Report data + holes == n), or an Error whose bytes_done is how far
//      both offsets advanced, with the destination holding the source's
//      bytes over [dst_off, dst_off + bytes_done) -- no stale or zero data
//      inside the reported prefix -- and nothing outside the requested
//      range changed;
//  (b) after a terminal errno (EIO, ENOSPC, EDQUOT, ENOMEM) no other rung
//      writes a byte (FaultSys log: no successful write-type call after the
//      failing one, except io_uring writes the pipeline already had going),
//      and the call fails;
//  (c) the source's bytes and mtime are unchanged;
// and offset pointers leave both file positions alone (null ones advance
// them as the offsets would).
// Cases with no fault, or only transient ones (a few EINTR/EAGAIN, short
// transfers), must succeed unless --reflink=always or no_fallback.
//
// Reproducing: OFFCOPY_PROPERTY_SEED sets the run's seed (printed on every
// failure with the case number), OFFCOPY_PROPERTY_ONLY=<case> runs one
// case, OFFCOPY_PROPERTY_CASES the number of cases; a run stops at the
// first failing case unless OFFCOPY_PROPERTY_KEEP_GOING=1.
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "mech/context.h"
#include "mech/probe.h"
#include "offcopy/copy.h"
#include "support/property_cases.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"
#include "sys/sys.h"

namespace offcopy {
namespace {

using mech::Context;
using mech::ProbeCache;
using sys::Call;
using sys::Fault;
using sys::FaultSys;
using testing::CopyCall;
using testing::describe;
using testing::describe_error;
using testing::failed_copy_ok;
using testing::Gen;
using testing::kKiB;
using testing::kMiB;
using testing::position;
using testing::same_bytes;

constexpr uint64_t kDefaultSeed = 0x0ffc0fa017ULL;
constexpr int kDefaultCases = 4000;

// Small files, so the small tunables below make many calls of each rung.
constexpr testing::CaseMix kMix{
    .src_max = 1 * kMiB, .dst_max = 512 * kKiB, .mid_size = 128 * kKiB,
    .extent_blocks = 16, .extent_bytes = 64 * kKiB, .block_lens = false, .dst_gaps = false,
    .reflink_auto = 70, .reflink_never = 20};

// ---------------------------------------------------------------------------
// Faults.

bool is_terminal(int err) {
  return err == EIO || err == ENOSPC || err == EDQUOT || err == ENOMEM;
}

// Calls whose 0 means success, not "0 bytes": a zero or short fault on them
// would fake a clone or a punched hole that never happened.
bool status_call(Call c) {
  return c == Call::clone || c == Call::clone_range || c == Call::fallocate ||
         c == Call::ftruncate;
}

bool ring_call(Call c) { return c == Call::ring_read || c == Call::ring_write; }

// A call that changed the destination, judged by what it returned.
bool wrote(const sys::LoggedCall& l) {
  switch (l.call) {
    case Call::clone:
    case Call::clone_range:
    case Call::fallocate:
    case Call::ftruncate: return l.ret == 0;
    case Call::copy_file_range:
    case Call::pwrite:
    case Call::write:
    case Call::splice_write:
    case Call::ring_write: return l.ret > 0;
    default: return false;
  }
}

// The calls the copy path of a regular file makes (read/write are for
// streams only).
constexpr Call kCalls[] = {Call::clone,       Call::clone_range,  Call::copy_file_range,
                           Call::splice_read, Call::splice_write, Call::pread,
                           Call::pwrite,      Call::ring_read,    Call::ring_write,
                           Call::fallocate,   Call::ftruncate};

int random_errno(Gen& g) {
  return g.pick({EIO, ENOSPC, EDQUOT, ENOMEM, EXDEV, EOPNOTSUPP, EINVAL, ENOSYS, EPERM, EAGAIN,
                 EINTR});
}

// One random fault.  Never one that makes a correct library loop forever:
// EINTR is retried without limit (the kernel returns it only while nothing
// moved), so it never repeats without end; tiny short transfers stay few.
// EINTR on the status calls is left out: the real seam retries it below
// the FaultSys (Sys::clone, no_eintr).
Fault random_fault(Gen& g) {
  Fault f;
  // Weighted toward the calls most copies make, so most faults fire.
  static constexpr Call kWeighted[] = {
      Call::clone,           Call::clone_range,     Call::copy_file_range,
      Call::copy_file_range, Call::copy_file_range, Call::pread,
      Call::pread,           Call::pread,           Call::pwrite,
      Call::pwrite,          Call::pwrite,          Call::ring_read,
      Call::ring_write,      Call::splice_read,     Call::splice_write,
      Call::fallocate,       Call::ftruncate};
  f.call = kWeighted[g.in(0, std::size(kWeighted) - 1)];
  const int kind = static_cast<int>(g.in(0, 9));
  f.kind = status_call(f.call) || kind < 5 ? Fault::Kind::fail
           : kind < 7                      ? Fault::Kind::short_io
           : kind < 8                      ? Fault::Kind::zero
                                           : Fault::Kind::error_after;
  f.first = static_cast<int>(g.in(1, 4));
  f.times = static_cast<int>(g.in(0, 3));
  switch (f.kind) {
    case Fault::Kind::fail:
      f.err = random_errno(g);
      if (f.err == EINTR && status_call(f.call)) f.err = EAGAIN;
      if (f.err == EINTR && f.times == 0) f.times = 3;
      break;
    case Fault::Kind::short_io:
      f.bytes = g.pick<int64_t>({1, 511, 4095, 4097, 65536 + 17});
      if (f.times == 0) f.bytes = std::max<int64_t>(f.bytes, 4097);
      break;
    case Fault::Kind::zero: break;
    case Fault::Kind::error_after:
      do f.err = random_errno(g); while (f.err == EINTR);
      f.bytes = g.pick<int64_t>({0, 1, 4096, g.in(1, 256 * kKiB)});
      break;
  }
  return f;
}

// EINTR or EAGAIN a few times, or short transfers: the copy must succeed.
bool transient(const Fault& f) {
  if (f.kind == Fault::Kind::short_io) return true;
  return f.kind == Fault::Kind::fail && (f.err == EINTR || f.err == EAGAIN) && f.times > 0 &&
         !(f.call == Call::fallocate || f.call == Call::ftruncate);
}

std::string to_string(const Fault& f) {
  static const char* const kKinds[] = {"fail", "short", "zero", "error_after"};
  std::ostringstream os;
  os << sys::call_name(f.call) << ':' << kKinds[static_cast<int>(f.kind)];
  if (f.err != 0) os << ' ' << sys::errno_name(f.err);
  if (f.kind == Fault::Kind::short_io || f.kind == Fault::Kind::error_after) {
    os << " bytes=" << f.bytes;
  }
  if (f.kind != Fault::Kind::error_after) os << " first=" << f.first << " times=" << f.times;
  return os.str();
}

std::string to_string(const std::vector<Fault>& faults) {
  std::string s = "faults: [";
  for (const Fault& f : faults) s += " {" + to_string(f) + "}";
  return s + " ]";
}

std::string to_string(const mech::Tunables& t) {
  std::ostringstream os;
  os << "tunables: kernel_chunk=" << t.kernel_chunk << " rw_buffer=" << t.rw_buffer
     << " uring_buffer=" << t.uring_buffer << " uring_depth=" << t.uring_depth
     << " uring_min=" << t.uring_min << " splice_min=" << t.splice_min
     << " splice_pipe=" << t.splice_pipe;
  return os.str();
}

// Small buffers so a few hundred KiB take many calls; splice and io_uring
// used for some segments and not others.
mech::Tunables random_tunables(Gen& g) {
  mech::Tunables t;
  t.kernel_chunk = g.pick<int64_t>({4 * kKiB, 16 * kKiB, 64 * kKiB + 512});
  t.rw_buffer = g.pick<int64_t>({4 * kKiB, 16 * kKiB, 64 * kKiB});
  t.uring_buffer = g.pick<int64_t>({4 * kKiB, 16 * kKiB, 64 * kKiB});
  t.uring_depth = static_cast<unsigned>(g.pick({1, 2, 4}));
  t.uring_min = g.pick<int64_t>({0, 64 * kKiB, 1 << 30});
  t.splice_min = g.pick<int64_t>({0, 64 * kKiB, 1 << 30});
  t.splice_pipe = g.pick<int64_t>({4 * kKiB, 16 * kKiB, 64 * kKiB});
  return t;
}

// Property (b): from the first call that failed with a terminal errno on,
// no call wrote to the destination -- except io_uring writes completing
// after a failed io_uring operation (the pipeline drains what it started).
::testing::AssertionResult nothing_written_after_terminal(const std::vector<sys::LoggedCall>& log) {
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].ret >= 0 || !is_terminal(static_cast<int>(-log[i].ret))) continue;
    for (size_t j = i + 1; j < log.size(); ++j) {
      if (!wrote(log[j]) || (ring_call(log[i].call) && log[j].call == Call::ring_write)) continue;
      return ::testing::AssertionFailure()
             << "call #" << j << " " << sys::call_name(log[j].call) << " returned "
             << log[j].ret << " after call #" << i << " " << sys::call_name(log[i].call)
             << " failed with " << sys::errno_name(static_cast<int>(-log[i].ret));
    }
    break;
  }
  return ::testing::AssertionSuccess();
}

bool saw_terminal(const std::vector<sys::LoggedCall>& log) {
  return std::any_of(log.begin(), log.end(), [](const sys::LoggedCall& l) {
    return l.ret < 0 && is_terminal(static_cast<int>(-l.ret));
  });
}

std::string to_string(const std::vector<sys::LoggedCall>& log) {
  std::ostringstream os;
  os << "call log (" << log.size() << "):";
  const size_t shown = std::min<size_t>(log.size(), 40);
  for (size_t i = 0; i < shown; ++i) os << ' ' << sys::call_name(log[i].call) << '=' << log[i].ret;
  if (shown < log.size()) os << " ...";
  return os.str();
}

// ---------------------------------------------------------------------------
// The test.

struct Stats {
  int64_t cases = 0;
  int64_t failed_cases = 0;  // cases with a failed check (KEEP_GOING counts them all)
  int64_t copies_ok = 0;
  int64_t copies_err = 0;  // copy_range returned an Error (as the faults may make it)
  int64_t faults_planned = 0;
  int64_t calls_faulted = 0;  // calls a fault replaced (fail, zero, error_after)
  int64_t bytes_compared = 0;
};

class PropertyFaultTest : public ::testing::Test {
 protected:
  std::string src_path() const { return dir_.file("src"); }
  std::string dst_path() const { return dir_.file("dst"); }
  void run_case(uint64_t seed, Stats& st);
  void check(const CopyCall& c, const Result<Report>& r, const std::vector<Fault>& faults,
             const FaultSys& fs, int64_t src_moved, int64_t dst_moved, const std::string& src,
             const std::string& old_dst, Stats& st);

  testing::TempDir dir_;
};

// The copy succeeded: exactly the model's result, and no terminal errno
// on the way (one that was swallowed would hide lost data).
void check_success(const CopyCall& c, const Report& rep, int64_t n,
                   const std::vector<sys::LoggedCall>& log, int64_t src_moved,
                   int64_t dst_moved, const std::string& src, const std::string& old_dst,
                   const std::string& got) {
  EXPECT_FALSE(saw_terminal(log)) << "(b) a terminal errno was swallowed: " << describe(rep);
  EXPECT_EQ(rep.total_bytes() + rep.hole_bytes, n) << "(a) report: " << describe(rep);
  EXPECT_EQ(src_moved, n) << "(a) source offset advance";
  EXPECT_EQ(dst_moved, n) << "(a) destination offset advance";
  std::string want = old_dst;
  testing::model_apply(want, src, c, n);
  EXPECT_TRUE(same_bytes(got, want)) << "(a) destination differs from the model: "
                                     << describe(rep);
}

// The copy failed: only for a reason, and with an exact prefix.
void check_error(const CopyCall& c, const Error& e, int64_t n, bool benign, int64_t src_moved,
                 int64_t dst_moved, const std::string& src, const std::string& old_dst,
                 const std::string& got) {
  const std::string what = describe_error(e);
  EXPECT_FALSE(benign && !c.flags.no_fallback && c.flags.reflink != Reflink::always)
      << "failed with no fault or only transient ones: " << what;
  EXPECT_EQ(src_moved, e.bytes_done) << "(a) source offset advance != bytes_done: " << what;
  EXPECT_EQ(dst_moved, e.bytes_done) << "(a) destination offset advance != bytes_done: " << what;
  EXPECT_TRUE(failed_copy_ok(got, old_dst, src, c, n, e.bytes_done)) << "(a) " << what;
}

void PropertyFaultTest::check(const CopyCall& c, const Result<Report>& r,
                              const std::vector<Fault>& faults, const FaultSys& fs,
                              int64_t src_moved, int64_t dst_moved, const std::string& src,
                              const std::string& old_dst, Stats& st) {
  const int64_t n = testing::model_n(c, static_cast<int64_t>(src.size()));
  const std::vector<sys::LoggedCall> log = fs.log();
  SCOPED_TRACE(to_string(log));
  const std::string got = testing::read_file(dst_path());
  st.bytes_compared += static_cast<int64_t>(got.size() + src.size());
  EXPECT_TRUE(same_bytes(testing::read_file(src_path()), src)) << "(c) source changed";
  EXPECT_TRUE(nothing_written_after_terminal(log)) << "(b)";
  if (r.ok()) {
    ++st.copies_ok;
    check_success(c, r.value(), n, log, src_moved, dst_moved, src, old_dst, got);
  } else {
    ++st.copies_err;
    const bool benign = std::all_of(faults.begin(), faults.end(), transient);
    check_error(c, r.error(), n, benign, src_moved, dst_moved, src, old_dst, got);
  }
}

void PropertyFaultTest::run_case(uint64_t seed, Stats& st) {
  Gen g(seed);
  const testing::CaseFiles files = testing::random_files(g, kMix, src_path(), dst_path());
  const CopyCall c =
      testing::random_call(g, files.src_shape.size, static_cast<int64_t>(files.dst.size()), kMix);
  FaultSys fs;
  ProbeCache probes;
  Context ctx;
  ctx.sys = &fs;
  ctx.probes = &probes;
  ctx.tun = random_tunables(g);
  std::vector<Fault> faults(static_cast<size_t>(g.pick({0, 1, 1, 1, 2, 2, 3})));
  for (Fault& f : faults) {
    f = random_fault(g);
    fs.add(f);
  }
  SCOPED_TRACE(to_string(files) + "; " + to_string(c) + "; " + to_string(faults) + "; " +
               to_string(ctx.tun));
  sys::UniqueFd src_fd(::open(src_path().c_str(), O_RDONLY | O_CLOEXEC));
  sys::UniqueFd dst_fd(::open(dst_path().c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(src_fd.valid() && dst_fd.valid()) << strerror(errno);
  // Through the FaultSys and the random tunables.
  const auto copy = [&ctx](int s, int64_t* so, int d, int64_t* dof, int64_t len, CopyFlags f) {
    return ladder::copy_range(ctx, s, so, d, dof, len, f);
  };
  const testing::CallOutcome out = testing::make_call(c, src_fd.get(), dst_fd.get(), copy);
  check(c, out.result, faults, fs, out.src_moved, out.dst_moved, files.src, files.dst, st);
  ++st.cases;
  st.faults_planned += static_cast<int64_t>(faults.size());
  for (Call call : kCalls) st.calls_faulted += fs.count(call) - fs.passed(call);
}

TEST_F(PropertyFaultTest, RandomFaultsKeepTheContract) {
  ASSERT_FALSE(dir_.path().empty());
  const testing::RunSettings rs = testing::run_settings(kDefaultSeed, kDefaultCases);
  Stats st;
  const testing::RunTally tally =
      testing::run_cases(rs, 0, "", [&](uint64_t case_seed) { run_case(case_seed, st); });
  st.failed_cases = tally.failed_cases;
  std::printf("[ property ] faults: seed %" PRIu64 ", %" PRId64 " cases (%" PRId64
              " broke a property; copies: %" PRId64 " ok, %" PRId64 " returned an error), %" PRId64
              " faults planned, %" PRId64 " calls faulted, %" PRId64 " bytes compared, %.1f s\n",
              rs.seed, st.cases, st.failed_cases, st.copies_ok, st.copies_err, st.faults_planned,
              st.calls_faulted, st.bytes_compared, tally.seconds);
  RecordProperty("cases", static_cast<int>(st.cases));
  RecordProperty("faults_planned", static_cast<int>(st.faults_planned));
  RecordProperty("calls_faulted", static_cast<int>(st.calls_faulted));
  RecordProperty("bytes_compared", std::to_string(st.bytes_compared));
}

// ---------------------------------------------------------------------------
// The random cases above, minimized: one test per library bug they found.
// Each fails until its bug is fixed; its comment says what the bug is.

// An 8 KiB source: a hole over [0, 4096), 'S' over [4096, 8192).  And the
// other way round: 'S' then a trailing hole.
std::string hole_then_data(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const std::string data(4096, 'S');
  EXPECT_EQ(::pwrite(fd.get(), data.data(), data.size(), 4096), 4096);
  EXPECT_EQ(::ftruncate(fd.get(), 8192), 0);
  return std::string(4096, '\0') + data;
}

std::string data_then_hole(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const std::string data(4096, 'S');
  EXPECT_EQ(::pwrite(fd.get(), data.data(), data.size(), 0), 4096);
  EXPECT_EQ(::ftruncate(fd.get(), 8192), 0);
  return data + std::string(4096, '\0');
}

// Copies all 8 KiB of `src` over `old_dst` at offset 0 through `fs` and
// checks property (a) for the result.
void copy_and_check(const std::string& dir, const std::string& src, const std::string& old_dst,
                    FaultSys& fs, CopyFlags flags) {
  testing::write_file(dir + "/dst", old_dst);
  sys::UniqueFd s(::open((dir + "/src").c_str(), O_RDONLY | O_CLOEXEC));
  sys::UniqueFd d(::open((dir + "/dst").c_str(), O_RDWR | O_CLOEXEC));
  ProbeCache probes;
  Context ctx;
  ctx.sys = &fs;
  ctx.probes = &probes;
  int64_t so = 0;
  int64_t dof = 0;
  const CopyCall c{0, 0, 8192, flags, false};
  Result<Report> r = ladder::copy_range(ctx, s.get(), &so, d.get(), &dof, c.len, flags);
  ASSERT_FALSE(r.ok()) << "the fault should have failed the copy";
  const Error& e = r.error();
  EXPECT_EQ(so, e.bytes_done);
  EXPECT_EQ(dof, e.bytes_done);
  EXPECT_TRUE(failed_copy_ok(testing::read_file(dir + "/dst"), old_dst, src, c, 8192,
                             e.bytes_done))
      << describe_error(e);
}

// SEEK_DATA/SEEK_HOLE on the source fd (map_extents in copier.cc) move its
// file position, though offset pointers were given.
TEST(PropertyFaultRegression, OffsetPointersLeaveSourcePositionAlone) {
  testing::TempDir dir;
  hole_then_data(dir.file("src"));
  testing::write_file(dir.file("dst"), "");
  sys::UniqueFd s(::open(dir.file("src").c_str(), O_RDONLY | O_CLOEXEC));
  sys::UniqueFd d(::open(dir.file("dst").c_str(), O_RDWR | O_CLOEXEC));
  int64_t so = 0;
  int64_t dof = 0;
  ASSERT_TRUE(copy_range(s.get(), &so, d.get(), &dof, 8192, CopyFlags{}).ok());
  EXPECT_EQ(position(s.get()), 0) << "source position moved";
  EXPECT_EQ(position(d.get()), 0) << "destination position moved";
}

// A hole is counted in bytes_done when it is found, but only punched (or
// the file extended over it) after the whole range succeeded.  A terminal
// error in the data after it reports the hole as copied while the
// destination still holds its old bytes there.
TEST(PropertyFaultRegression, ErrorAfterHoleLeavesOldBytesInReportedPrefix) {
  testing::TempDir dir;
  const std::string src = hole_then_data(dir.file("src"));
  FaultSys fs;
  fs.add({Call::clone, Fault::Kind::fail, EOPNOTSUPP, 0, 1, 0});
  fs.add({Call::clone_range, Fault::Kind::fail, EOPNOTSUPP, 0, 1, 0});
  fs.add({Call::copy_file_range, Fault::Kind::fail, EIO, 0, 1, 1});
  copy_and_check(dir.path(), src, std::string(8192, 'D'), fs, CopyFlags{});
}

// The same through no_fallback and no fault at all: across filesystems
// (here: EXDEV from both offload rungs) the offload error reports the
// leading hole as done -- offsets advanced by 4096 -- having written
// nothing, so the old bytes (or, for a new file, nothing) stand there.
TEST(PropertyFaultRegression, NoFallbackAfterHoleReportsUnwrittenHole) {
  testing::TempDir dir;
  const std::string src = hole_then_data(dir.file("src"));
  CopyFlags flags;
  flags.no_fallback = true;
  for (const std::string& old_dst : {std::string(8192, 'D'), std::string()}) {
    SCOPED_TRACE("destination of " + std::to_string(old_dst.size()) + " bytes");
    FaultSys fs;
    fs.add({Call::clone, Fault::Kind::fail, EXDEV, 0, 1, 0});
    fs.add({Call::clone_range, Fault::Kind::fail, EXDEV, 0, 1, 0});
    fs.add({Call::copy_file_range, Fault::Kind::fail, EXDEV, 0, 1, 0});
    copy_and_check(dir.path(), src, old_dst, fs, flags);
  }
}

// finish_holes failing: the holes are in bytes_done (here all 8192 bytes)
// but were never punched (old bytes stay) or extended over (the file stays
// short).
TEST(PropertyFaultRegression, FailedHoleFinishIsCountedAsDone) {
  testing::TempDir dir;
  {
    SCOPED_TRACE("hole over old data, fallocate(PUNCH_HOLE) EIO");
    const std::string src = hole_then_data(dir.file("src"));
    FaultSys fs;
    fs.add({Call::fallocate, Fault::Kind::fail, EIO, 0, 1, 1});
    copy_and_check(dir.path(), src, std::string(8192, 'D'), fs, CopyFlags{});
  }
  {
    SCOPED_TRACE("trailing hole into an empty file, ftruncate EIO");
    const std::string src = data_then_hole(dir.file("src"));
    FaultSys fs;
    fs.add({Call::ftruncate, Fault::Kind::fail, EIO, 0, 1, 1});
    copy_and_check(dir.path(), src, "", fs, CopyFlags{});
  }
}

}  // namespace
}  // namespace offcopy
