// The fault matrix: every mechanism of the ladder against every fault the
// syscall seam can script, through ladder::copy_range with a FaultSys and a
// fresh ProbeCache.  Small tunables make a 3 MiB file go through many calls
// of each rung.
//
//   rows (mechanism under test)       how the ladder is made to reach it
//   clone        FICLONE               faults injected on Call::clone
//   kernel_copy  copy_file_range       clone answers EOPNOTSUPP
//   splice       splice via a pipe     ... and copy_file_range EXDEV
//   uring        io_uring pipeline     ... and splice ruled out (probe cache)
//   read_write   pread/pwrite          ... and io_uring marked unavailable
//
//   columns (fault on the rung's own calls)
//   EINTR, EAGAIN, short   transient: the rung itself finishes the copy
//   zero_start             0 from the first read-side call
//   zero_write             0 from the first write-side call
//   zero_mid               0 from the 5th read-side call (256 KiB moved)
//   EXDEV .. EINVAL        on the first call: "unsupported here", next rung
//   ENOSPC, EIO            after 1 MiB of writes (clone: on the ioctl)
//   EIO_read               after 1 MiB of reads
//   EXDEV_mid              a fallback errno after 1 MiB: no fallback
//   EDQUOT, ENOMEM         clone only: terminal
//
// Each cell checks the bytes, the ladder in Report::steps, the calls the
// FaultSys saw, the probe cache, and for errors Error::bytes_done, the
// offsets and the copied prefix.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

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

using mech::Context;
using mech::ProbeCache;
using mech::Verdict;
using sys::Call;
using sys::Fault;
using sys::FaultSys;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kSize = 3 * kMiB + 123;  // not a multiple of any buffer
constexpr int64_t kChunk = 64 * kKiB;      // every rung's per-call size
constexpr int64_t kMid = 1 * kMiB;         // where mid-copy faults strike
constexpr int64_t kShort = 4097;           // short transfers, odd on purpose
constexpr int kZeroMidCall = 5;            // 4 full chunks moved before it

mech::Tunables small_tunables() {
  mech::Tunables t;
  t.kernel_chunk = kChunk;
  t.uring_buffer = kChunk;
  t.uring_depth = 4;
  t.uring_min = 0;
  t.rw_buffer = kChunk;
  t.splice_min = 0;
  t.splice_pipe = kChunk;
  return t;
}

// Whether this process can create an io_uring at all (Docker's default
// seccomp profile and kernel.io_uring_disabled=2 forbid it).
bool ring_available() {
  static const bool ok = [] {
    int err = 0;
    return sys::Sys::real().make_ring(4, &err) != nullptr;
  }();
  return ok;
}

// The rung below `m` that the ladder reaches in these tests.
Mechanism next_rung(Mechanism m) {
  switch (m) {
    case Mechanism::clone: return Mechanism::kernel_copy;
    case Mechanism::kernel_copy: return Mechanism::splice;
    case Mechanism::splice:
      return ring_available() ? Mechanism::uring : Mechanism::read_write;
    default: return Mechanism::read_write;
  }
}

int rank(Mechanism m) { return ladder_rank(m); }

// The calls each rung makes: read side and write side.
struct RungCalls {
  std::vector<Call> read;
  std::vector<Call> write;
  std::vector<Call> all() const {
    std::vector<Call> v = read;
    for (Call c : write) {
      if (c != read.front()) v.push_back(c);
    }
    return v;
  }
};

RungCalls calls_of(Mechanism m) {
  switch (m) {
    case Mechanism::clone: return {{Call::clone}, {Call::clone}};
    case Mechanism::kernel_copy: return {{Call::copy_file_range}, {Call::copy_file_range}};
    case Mechanism::splice: return {{Call::splice_read}, {Call::splice_write}};
    case Mechanism::uring: return {{Call::ring_read}, {Call::ring_write}};
    default: return {{Call::pread}, {Call::pwrite}};
  }
}

std::vector<Call> calls_below(Mechanism m) {
  std::vector<Call> v;
  for (Mechanism r : {Mechanism::kernel_copy, Mechanism::splice, Mechanism::uring,
                      Mechanism::read_write}) {
    if (rank(r) > rank(m)) {
      for (Call c : calls_of(r).all()) v.push_back(c);
    }
  }
  return v;
}

int64_t sum_returned(const FaultSys& fs, Call c) {
  int64_t sum = 0;
  for (const sys::LoggedCall& l : fs.log()) {
    if (l.call == c && l.ret > 0) sum += l.ret;
  }
  return sum;
}

const Step* step_of(const Report& r, Mechanism m) {
  for (const Step& s : r.steps) {
    if (s.mech == m) return &s;
  }
  return nullptr;
}

// A source with known content, an empty destination, a FaultSys and a
// fresh probe cache, all in a temporary directory on /tmp.
class Rig {
 public:
  explicit Rig(int64_t size = kSize, uint64_t seed = 42) {
    content_ = testing::pattern(size, seed);
    src_path_ = dir_.file("src");
    testing::write_file(src_path_, content_);
    src_.reset(::open(src_path_.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(src_.valid()) << src_path_ << ": " << strerror(errno);
    new_destination("dst");
    ctx_.sys = &fs_;
    ctx_.probes = &probes_;
    ctx_.tun = small_tunables();
  }

  // Opens a fresh, empty destination; later runs copy into it.
  void new_destination(const std::string& name) {
    dst_path_ = dir_.file(name);
    dst_.reset(::open(dst_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    EXPECT_TRUE(dst_.valid()) << dst_path_ << ": " << strerror(errno);
  }

  // Clone answers "the filesystem cannot share extents", whatever /tmp is.
  void no_clone() {
    fs_.add({Call::clone, Fault::Kind::fail, EOPNOTSUPP, 0, 1, 0});
    fs_.add({Call::clone_range, Fault::Kind::fail, EOPNOTSUPP, 0, 1, 0});
  }
  void no_kernel_copy(int err = EXDEV) {
    fs_.add({Call::copy_file_range, Fault::Kind::fail, err, 0, 1, 0});
  }
  void no_splice() {
    probes_.set(Mechanism::splice, dev(), dev(), Verdict{ENOSYS, "splice switched off by the test"});
  }
  void no_ring() {
    probes_.set_process(Mechanism::uring, Verdict{ENOSYS, "io_uring switched off by the test"});
  }

  Result<Report> run(CopyFlags flags = {}) {
    src_off_ = 0;
    dst_off_ = 0;
    return ladder::copy_range(ctx_, src_.get(), &src_off_, dst_.get(), &dst_off_,
                              static_cast<int64_t>(content_.size()), flags);
  }

  dev_t dev() const {
    struct stat st {};
    EXPECT_EQ(::fstat(src_.get(), &st), 0);
    return st.st_dev;
  }

  std::string dst_content() const { return testing::read_file(dst_path_); }

  FaultSys& fs() { return fs_; }
  ProbeCache& probes() { return probes_; }
  Context& ctx() { return ctx_; }
  const std::string& content() const { return content_; }
  const std::string& dst_path() const { return dst_path_; }
  int src_fd() const { return src_.get(); }
  int dst_fd() const { return dst_.get(); }
  int64_t src_off() const { return src_off_; }
  int64_t dst_off() const { return dst_off_; }

 private:
  testing::TempDir dir_;
  std::string content_;
  std::string src_path_;
  std::string dst_path_;
  sys::UniqueFd src_;
  sys::UniqueFd dst_;
  FaultSys fs_;
  ProbeCache probes_;
  Context ctx_;
  int64_t src_off_ = 0;
  int64_t dst_off_ = 0;
};

// ---------------------------------------------------------------------------
// The matrix.

enum class Col {
  eintr, eagain, short_io, zero_start, zero_write, zero_mid,
  exdev, eopnotsupp, enosys, eperm, einval,
  enospc, eio, eio_read, exdev_mid, edquot, enomem,
};

struct ColInfo {
  Col col;
  const char* name;
  int err;
};

constexpr ColInfo kCols[] = {
    {Col::eintr, "EINTR", EINTR},          {Col::eagain, "EAGAIN", EAGAIN},
    {Col::short_io, "short", 0},           {Col::zero_start, "zero_start", 0},
    {Col::zero_write, "zero_write", 0},    {Col::zero_mid, "zero_mid", 0},
    {Col::exdev, "EXDEV", EXDEV},          {Col::eopnotsupp, "EOPNOTSUPP", EOPNOTSUPP},
    {Col::enosys, "ENOSYS", ENOSYS},       {Col::eperm, "EPERM", EPERM},
    {Col::einval, "EINVAL", EINVAL},       {Col::enospc, "ENOSPC", ENOSPC},
    {Col::eio, "EIO", EIO},                {Col::eio_read, "EIO_read", EIO},
    {Col::exdev_mid, "EXDEV_mid", EXDEV},  {Col::edquot, "EDQUOT", EDQUOT},
    {Col::enomem, "ENOMEM", ENOMEM},
};

const ColInfo& info(Col c) {
  for (const ColInfo& i : kCols) {
    if (i.col == c) return i;
  }
  return kCols[0];
}

bool is_fallback_errno(Col c) {
  return c == Col::exdev || c == Col::eopnotsupp || c == Col::enosys ||
         c == Col::eperm || c == Col::einval;
}

// The verdicts that hold for the whole filesystem pair (probe.h).
bool cacheable(Col c) {
  return c == Col::exdev || c == Col::eopnotsupp || c == Col::enosys;
}

struct Cell {
  Mechanism mech;
  Col col;
};

bool applies(Mechanism m, Col c) {
  switch (m) {
    case Mechanism::clone:
      // One all-or-nothing ioctl: no short or zero transfers, no "mid".
      return c == Col::eintr || c == Col::eagain || is_fallback_errno(c) ||
             c == Col::enospc || c == Col::eio || c == Col::edquot || c == Col::enomem;
    case Mechanism::kernel_copy:
      // One call does both sides.
      return c != Col::zero_write && c != Col::eio_read && c != Col::edquot &&
             c != Col::enomem;
    default:
      return c != Col::edquot && c != Col::enomem;
  }
}

std::vector<Cell> all_cells() {
  std::vector<Cell> cells;
  for (Mechanism m : {Mechanism::clone, Mechanism::kernel_copy, Mechanism::splice,
                      Mechanism::uring, Mechanism::read_write}) {
    for (const ColInfo& c : kCols) {
      if (applies(m, c.col)) cells.push_back({m, c.col});
    }
  }
  return cells;
}

void PrintTo(const Cell& c, std::ostream* os) {
  *os << mechanism_name(c.mech) << " x " << info(c.col).name;
}

std::string cell_name(const ::testing::TestParamInfo<Cell>& p) {
  return std::string(mechanism_name(p.param.mech)) + "_" + info(p.param.col).name;
}

// The fault under test, on the rung's own calls.
std::vector<Fault> faults_for(const Cell& cell) {
  const RungCalls calls = calls_of(cell.mech);
  const Call rd = calls.read.front();
  const Call wr = calls.write.front();
  const int err = info(cell.col).err;
  std::vector<Fault> f;
  auto on_all = [&](Fault proto) {
    for (Call c : calls.all()) {
      proto.call = c;
      f.push_back(proto);
    }
  };
  switch (cell.col) {
    case Col::eintr: on_all({rd, Fault::Kind::fail, EINTR, 0, 1, 2}); break;
    case Col::eagain: on_all({rd, Fault::Kind::fail, EAGAIN, 0, 1, 3}); break;
    case Col::short_io: on_all({rd, Fault::Kind::short_io, 0, kShort, 1, 0}); break;
    case Col::zero_start: f.push_back({rd, Fault::Kind::zero, 0, 0, 1, 1}); break;
    case Col::zero_write: f.push_back({wr, Fault::Kind::zero, 0, 0, 1, 1}); break;
    case Col::zero_mid: f.push_back({rd, Fault::Kind::zero, 0, 0, kZeroMidCall, 1}); break;
    case Col::eio_read: f.push_back({rd, Fault::Kind::error_after, err, kMid}); break;
    case Col::enospc:
    case Col::eio:
    case Col::exdev_mid:
      if (cell.mech == Mechanism::clone) {
        f.push_back({rd, Fault::Kind::fail, err, 0, 1, 1});
      } else {
        f.push_back({wr, Fault::Kind::error_after, err, kMid});
      }
      break;
    default:  // fallback errnos, EDQUOT, ENOMEM: on the first call
      f.push_back({rd, Fault::Kind::fail, err, 0, 1, 1});
      break;
  }
  return f;
}

struct Expect {
  bool ok = true;
  Mechanism by = Mechanism::read_write;  // ok: the rung that moved the bytes
  int err = 0;                           // error: Error::code
  int64_t bytes_done = 0;                // error: exact, unless !exact
  bool exact = true;                     // false: io_uring, bytes in flight
  std::string op;                        // error: substring of Error::op
};

Expect expect_for(const Cell& cell) {
  const Mechanism m = cell.mech;
  const int err = info(cell.col).err;
  auto ok = [](Mechanism by) {
    Expect e;
    e.by = by;
    return e;
  };
  auto fail = [&](int code, int64_t done, std::string op) {
    Expect e;
    e.ok = false;
    e.err = code;
    e.bytes_done = done;
    e.op = std::move(op);
    return e;
  };
  const std::string wr_op = m == Mechanism::kernel_copy ? "copy_file_range"
                            : m == Mechanism::splice    ? "splice write"
                            : m == Mechanism::uring     ? "io_uring write"
                                                        : "pwrite";
  const std::string rd_op = m == Mechanism::kernel_copy ? "copy_file_range"
                            : m == Mechanism::splice    ? "splice read"
                            : m == Mechanism::uring     ? "io_uring read"
                                                        : "pread";
  switch (cell.col) {
    case Col::eintr:
    case Col::eagain:
    case Col::short_io:
      // Transient: the rung retries.  (clone may also fall back: see below.)
      return ok(m == Mechanism::clone ? Mechanism::kernel_copy : m);
    case Col::zero_start:
      // Only copy_file_range's 0 means "read it instead" (procfs, 5.3-5.18);
      // a read that ends before the known size is an I/O error.
      if (m == Mechanism::kernel_copy) return ok(next_rung(m));
      return fail(EIO, 0, "read");
    case Col::zero_write:
      return fail(EIO, 0, wr_op);
    case Col::zero_mid:
      return fail(EIO, (kZeroMidCall - 1) * kChunk, "read");
    case Col::exdev:
    case Col::eopnotsupp:
    case Col::enosys:
    case Col::eperm:
    case Col::einval:
      // "Unsupported here" with zero bytes moved: the next rung copies.
      // pread/pwrite is the last rung, so there it is the error.
      if (m == Mechanism::read_write) return fail(err, 0, rd_op);
      return ok(next_rung(m));
    case Col::edquot:
    case Col::enomem:
      return fail(err, 0, "FICLONE");
    case Col::enospc:
    case Col::eio:
    case Col::exdev_mid: {
      if (m == Mechanism::clone) return fail(err, 0, "FICLONE");
      Expect e = fail(err, kMid, wr_op);
      e.exact = m != Mechanism::uring;
      return e;
    }
    case Col::eio_read: {
      Expect e = fail(EIO, kMid, rd_op);
      e.exact = m != Mechanism::uring;
      return e;
    }
  }
  return ok(m);
}

class FaultMatrix : public ::testing::TestWithParam<Cell> {};

void check_success(Rig& rig, const Cell& cell, const Expect& want, const Report& rep) {
  FaultSys& fs = rig.fs();
  const int col_err = info(cell.col).err;
  // (a) the bytes.
  EXPECT_TRUE(rig.dst_content() == rig.content()) << "destination differs from source";
  EXPECT_EQ(rig.src_off(), kSize);
  EXPECT_EQ(rig.dst_off(), kSize);
  EXPECT_EQ(rep.total_bytes(), kSize);
  EXPECT_EQ(rep.hole_bytes, 0);
  // (b) the ladder: who moved the bytes, what was skipped and why.
  const bool transient_clone = cell.mech == Mechanism::clone &&
                               (cell.col == Col::eintr || cell.col == Col::eagain);
  if (transient_clone) {
    // Retrying FICLONE or falling back are both fine; here clone is either
    // really unsupported (ext4, tmpfs) or works (btrfs, xfs).
    EXPECT_EQ(rep.bytes(Mechanism::clone) + rep.bytes(Mechanism::kernel_copy), kSize);
  } else {
    EXPECT_EQ(rep.bytes(want.by), kSize) << "bytes moved by " << mechanism_name(want.by);
    const Step* used = step_of(rep, want.by);
    ASSERT_NE(used, nullptr);
    EXPECT_EQ(used->outcome, Outcome::used);
    EXPECT_EQ(used->bytes, kSize);
  }
  for (const Step& s : rep.steps) {
    EXPECT_NE(s.outcome, Outcome::failed) << mechanism_name(s.mech) << ": " << s.why;
  }
  for (Mechanism r : {Mechanism::clone, Mechanism::kernel_copy, Mechanism::splice,
                      Mechanism::uring}) {
    if (transient_clone || rank(r) >= rank(want.by)) continue;
    const Step* s = step_of(rep, r);
    ASSERT_NE(s, nullptr) << "no step for " << mechanism_name(r);
    EXPECT_EQ(s->outcome, Outcome::skipped) << mechanism_name(r);
    EXPECT_EQ(s->bytes, 0) << mechanism_name(r);
    if (r == cell.mech) {
      // The rung under test fell back with the injected errno (0 for the
      // procfs rule), and its reason is recorded.
      EXPECT_EQ(s->err, is_fallback_errno(cell.col) ? col_err : 0) << s->why;
      EXPECT_FALSE(s->why.empty());
    } else if (r == Mechanism::clone) {
      EXPECT_EQ(s->err, EOPNOTSUPP) << s->why;
    } else if (r == Mechanism::kernel_copy) {
      EXPECT_EQ(s->err, EXDEV) << s->why;
    } else if (r == Mechanism::splice) {
      EXPECT_EQ(s->err, ENOSYS) << s->why;  // the test's probe-cache verdict
    } else if (cell.mech == Mechanism::read_write) {
      EXPECT_EQ(s->err, ENOSYS) << s->why;  // the test's ring verdict
    }
  }
  // Calls: the rung that moved the bytes reached the kernel; nothing below
  // it was called.
  const Mechanism by = transient_clone ? Mechanism::clone : want.by;
  if (!transient_clone) { EXPECT_GT(fs.passed(calls_of(by).read.front()), 0); }
  for (Call c : calls_below(transient_clone ? Mechanism::kernel_copy : by)) {
    EXPECT_EQ(fs.count(c), 0) << sys::call_name(c) << " called below the rung that copied";
  }
  if (is_fallback_errno(cell.col) || cell.col == Col::zero_start) {
    const Call first = calls_of(cell.mech).read.front();
    if (cell.mech != Mechanism::uring) {
      // One answer turns the rung off for the job: no second attempt.
      EXPECT_EQ(fs.count(first), 1) << sys::call_name(first);
    }
    if (cell.mech != Mechanism::uring) { EXPECT_EQ(fs.passed(first), 0); }
  }
  // (d) the probe cache holds pair-wide verdicts only.
  if (cell.mech == Mechanism::clone || cell.mech == Mechanism::kernel_copy) {
    if (is_fallback_errno(cell.col) || cell.col == Col::zero_start) {
      const auto v = rig.probes().get(cell.mech, rig.dev(), rig.dev());
      EXPECT_EQ(v.has_value(), cacheable(cell.col))
          << "probe cache after " << info(cell.col).name;
      if (v && cacheable(cell.col)) { EXPECT_EQ(v->err, col_err); }
    }
  }
}

void check_error(Rig& rig, const Cell& cell, const Expect& want, const Error& e) {
  FaultSys& fs = rig.fs();
  EXPECT_EQ(e.code, want.err) << e.message();
  EXPECT_NE(e.op.find(want.op), std::string::npos)
      << "op '" << e.op << "' should name " << want.op;
  EXPECT_FALSE(e.offload_unsupported());
  EXPECT_EQ(e.kind, ErrorKind::system);
  // Error::bytes_done is what was really copied, and offsets moved by it.
  const Call wr = calls_of(cell.mech).write.front();
  if (want.exact) {
    EXPECT_EQ(e.bytes_done, want.bytes_done) << e.message();
    if (cell.mech != Mechanism::clone && cell.mech != Mechanism::uring) {
      EXPECT_EQ(e.bytes_done, sum_returned(fs, wr));
    }
    EXPECT_EQ(e.offset, e.bytes_done) << "source offset of the failure: " << e.message();
  } else {
    // io_uring: buffers in flight make the exact count timing-dependent,
    // but it is a fully written prefix.
    const bool mid = cell.col == Col::enospc || cell.col == Col::eio ||
                     cell.col == Col::eio_read || cell.col == Col::exdev_mid;
    if (mid) { EXPECT_GT(e.bytes_done, 0); }
    EXPECT_LE(e.bytes_done, sum_returned(fs, wr));
    EXPECT_GE(e.offset, e.bytes_done) << e.message();
    EXPECT_LE(e.offset, kSize) << e.message();
  }
  EXPECT_EQ(rig.src_off(), e.bytes_done);
  EXPECT_EQ(rig.dst_off(), e.bytes_done);
  const std::string dst = rig.dst_content();
  ASSERT_GE(static_cast<int64_t>(dst.size()), e.bytes_done);
  EXPECT_TRUE(dst.compare(0, e.bytes_done, rig.content(), 0, e.bytes_done) == 0)
      << "the first bytes_done bytes of the destination differ from the source";
  // (b)/(c) no fallback to a lower rung: after bytes moved, or after a
  // terminal error.
  for (Call c : calls_below(cell.mech)) {
    EXPECT_EQ(fs.count(c), 0) << sys::call_name(c) << " called after " << e.message();
  }
}

TEST_P(FaultMatrix, Cell) {
  const Cell cell = GetParam();
  if ((cell.mech == Mechanism::uring) && !ring_available()) {
    GTEST_SKIP() << "io_uring cannot be set up in this process (seccomp or "
                    "kernel.io_uring_disabled)";
  }
  Rig rig;
  if (cell.mech != Mechanism::clone) rig.no_clone();
  if (rank(cell.mech) > rank(Mechanism::kernel_copy)) rig.no_kernel_copy();
  if (rank(cell.mech) > rank(Mechanism::splice)) rig.no_splice();
  if (cell.mech == Mechanism::read_write) rig.no_ring();
  for (const Fault& f : faults_for(cell)) rig.fs().add(f);

  const Expect want = expect_for(cell);
  Result<Report> r = rig.run();
  if (want.ok) {
    ASSERT_TRUE(r.ok()) << r.error().message();
    check_success(rig, cell, want, r.value());
  } else {
    ASSERT_FALSE(r.ok()) << "expected " << sys::errno_name(want.err)
                         << ", copy succeeded";
    check_error(rig, cell, want, r.error());
  }
}

INSTANTIATE_TEST_SUITE_P(Ladder, FaultMatrix, ::testing::ValuesIn(all_cells()), cell_name);

// ---------------------------------------------------------------------------
// Targeted checks.

// (d) A cacheable verdict from one copy makes the next copy with the same
// ProbeCache skip the rung without calling it.
TEST(FaultProbeCache, CachedVerdictSkipsRungWithoutCallingIt) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::fail, EXDEV, 0, 1, 1});
  Result<Report> first = rig.run();
  ASSERT_TRUE(first.ok()) << first.error().message();
  ASSERT_EQ(rig.fs().count(Call::copy_file_range), 1);
  const int clones_before = rig.fs().count(Call::clone);

  rig.new_destination("dst2");
  Result<Report> second = rig.run();
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(rig.fs().count(Call::copy_file_range), 1) << "cached EXDEV ignored";
  EXPECT_EQ(rig.fs().count(Call::clone), clones_before) << "cached EOPNOTSUPP ignored";
  const Step* s = step_of(second.value(), Mechanism::kernel_copy);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->outcome, Outcome::skipped);
  EXPECT_EQ(s->err, EXDEV);
  EXPECT_EQ(second->bytes(Mechanism::kernel_copy), 0);
  EXPECT_EQ(second->bytes(next_rung(Mechanism::kernel_copy)), kSize);
  EXPECT_TRUE(rig.dst_content() == rig.content());
}

// A per-file verdict (EPERM: immutable file or seccomp) is not cached.
TEST(FaultProbeCache, PerFileVerdictIsNotCached) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::fail, EPERM, 0, 1, 1});
  ASSERT_TRUE(rig.run().ok());
  EXPECT_FALSE(rig.probes().get(Mechanism::kernel_copy, rig.dev(), rig.dev()).has_value());
  rig.new_destination("dst2");
  Result<Report> second = rig.run();
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_GT(rig.fs().passed(Call::copy_file_range), 0);
  EXPECT_EQ(second->bytes(Mechanism::kernel_copy), kSize);
  EXPECT_TRUE(rig.dst_content() == rig.content());
}

// A fresh ProbeCache asks the kernel again.
TEST(FaultProbeCache, FreshCacheProbesAgain) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::fail, EXDEV, 0, 1, 1});
  ASSERT_TRUE(rig.run().ok());
  rig.probes().clear();
  rig.new_destination("dst2");
  Result<Report> second = rig.run();
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_GT(rig.fs().passed(Call::copy_file_range), 0);
  EXPECT_EQ(second->bytes(Mechanism::kernel_copy), kSize);
}

// (e) The procfs rule: 0 from the very first copy_file_range means "read
// it"; 0 once bytes have moved means EOF, and a known-size source that ends
// early is an I/O error, not a short copy.
TEST(FaultZero, CopyFileRangeZeroAtStartFallsBackToRead) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::zero, 0, 0, 1, 1});
  Result<Report> r = rig.run();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(rig.fs().count(Call::copy_file_range), 1);
  EXPECT_EQ(r->bytes(Mechanism::kernel_copy), 0);
  EXPECT_EQ(r->bytes(Mechanism::splice), kSize);
  const Step* s = step_of(r.value(), Mechanism::kernel_copy);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->outcome, Outcome::skipped);
  EXPECT_TRUE(rig.dst_content() == rig.content());
}

TEST(FaultZero, CopyFileRangeZeroAfterProgressIsEio) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::zero, 0, 0, 3, 1});
  Result<Report> r = rig.run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_EQ(r.error().bytes_done, 2 * kChunk);
  EXPECT_EQ(rig.fs().count(Call::ring_read) + rig.fs().count(Call::pread), 0);
}

TEST(FaultZero, PwriteZeroIsEio) {
  Rig rig;
  rig.no_clone();
  rig.no_kernel_copy();
  rig.no_splice();
  rig.no_ring();
  rig.fs().add({Call::pwrite, Fault::Kind::zero, 0, 0, 2, 1});
  Result<Report> r = rig.run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_EQ(r.error().op, "pwrite");
  EXPECT_EQ(r.error().bytes_done, kChunk);
  EXPECT_EQ(r.error().role, Role::destination);
}

// (f) Offload only: clone and copy_file_range both unsupported -> an
// offload_unsupported Error, and no host copy was even tried.
TEST(FaultNoFallback, NoOffloadRungMeansErrorAndNothingWritten) {
  Rig rig;
  rig.fs().add({Call::clone, Fault::Kind::fail, EXDEV, 0, 1, 0});
  rig.fs().add({Call::clone_range, Fault::Kind::fail, EXDEV, 0, 1, 0});
  rig.no_kernel_copy(EXDEV);
  CopyFlags flags;
  flags.no_fallback = true;
  Result<Report> r = rig.run(flags);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().offload_unsupported());
  EXPECT_EQ(r.error().kind, ErrorKind::offload_unsupported);
  EXPECT_EQ(r.error().code, kOffloadUnsupported);
  EXPECT_EQ(r.error().bytes_done, 0);
  EXPECT_EQ(rig.src_off(), 0);
  EXPECT_EQ(rig.dst_off(), 0);
  for (Call c : {Call::pread, Call::pwrite, Call::read, Call::write, Call::ring_read,
                 Call::ring_write}) {
    EXPECT_EQ(rig.fs().count(c), 0) << sys::call_name(c);
  }
  EXPECT_EQ(rig.dst_content().size(), 0u);
}

TEST(FaultNoFallback, KernelCopyStillAllowed) {
  Rig rig;
  rig.no_clone();
  CopyFlags flags;
  flags.no_fallback = true;
  Result<Report> r = rig.run(flags);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->bytes(Mechanism::kernel_copy), kSize);
  EXPECT_TRUE(rig.dst_content() == rig.content());
}

// A real failure under no_fallback is that failure, not "unsupported".
TEST(FaultNoFallback, TerminalErrorIsNotOffloadUnsupported) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::error_after, EIO, kMid});
  CopyFlags flags;
  flags.no_fallback = true;
  Result<Report> r = rig.run(flags);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_FALSE(r.error().offload_unsupported());
  EXPECT_EQ(r.error().bytes_done, kMid);
}

// (c) FICLONERANGE on the aligned middle of an unaligned range: the head
// goes down a rung first; a terminal clone error then stops everything and
// bytes_done counts the head.
TEST(FaultClone, TerminalCloneRangeErrorAfterHead) {
  for (int err : {EIO, ENOSPC, EDQUOT, ENOMEM}) {
    SCOPED_TRACE(sys::errno_name(err));
    Rig rig;
    // An existing destination as large as the source: FICLONERANGE, not
    // FICLONE.
    ASSERT_EQ(::pwrite(rig.dst_fd(), rig.content().data(), kSize, 0), kSize);
    rig.fs().add({Call::clone_range, Fault::Kind::fail, err, 0, 1, 0});
    int64_t so = 100;
    int64_t dof = 100;
    Result<Report> r = ladder::copy_range(rig.ctx(), rig.src_fd(), &so, rig.dst_fd(), &dof,
                                          2 * kMiB, CopyFlags{});
    ASSERT_FALSE(r.ok());
    const int64_t head = 4096 - 100;
    EXPECT_EQ(r.error().code, err);
    EXPECT_EQ(r.error().op, "FICLONERANGE");
    EXPECT_EQ(r.error().bytes_done, head);
    EXPECT_EQ(r.error().offset, 4096);
    EXPECT_EQ(so, 100 + head);
    EXPECT_EQ(dof, 100 + head);
    EXPECT_EQ(rig.fs().count(Call::clone_range), 1);
    EXPECT_EQ(sum_returned(rig.fs(), Call::copy_file_range), head) << "copied past the clone";
    EXPECT_EQ(rig.fs().count(Call::ring_read) + rig.fs().count(Call::pread), 0);
  }
}

// With null offset pointers, an error leaves the file positions advanced
// by exactly Error::bytes_done.
TEST(FaultOffsets, ErrorAdvancesFilePositionsByBytesDone) {
  Rig rig;
  rig.no_clone();
  rig.fs().add({Call::copy_file_range, Fault::Kind::error_after, EIO, kMid});
  Result<Report> r = ladder::copy_range(rig.ctx(), rig.src_fd(), nullptr, rig.dst_fd(),
                                        nullptr, kSize, CopyFlags{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().bytes_done, kMid);
  EXPECT_EQ(::lseek(rig.src_fd(), 0, SEEK_CUR), kMid);
  EXPECT_EQ(::lseek(rig.dst_fd(), 0, SEEK_CUR), kMid);
}

// With one buffer the io_uring pipeline is serial, so a mid-copy error is
// as exact as on the other rungs: bytes_done and the failing offset are
// what the log says was written.
TEST(FaultUring, SerialPipelineErrorIsExact) {
  if (!ring_available()) GTEST_SKIP() << "io_uring cannot be set up in this process";
  for (Call c : {Call::ring_write, Call::ring_read}) {
    SCOPED_TRACE(sys::call_name(c));
    Rig rig;
    rig.ctx().tun.uring_depth = 1;
    rig.no_clone();
    rig.no_kernel_copy();
    rig.no_splice();
    rig.fs().add({c, Fault::Kind::error_after, EIO, kMid});
    Result<Report> r = rig.run();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EIO);
    EXPECT_EQ(r.error().bytes_done, kMid);
    EXPECT_EQ(sum_returned(rig.fs(), Call::ring_write), kMid);
    EXPECT_EQ(r.error().offset, kMid) << r.error().message();
    EXPECT_EQ(rig.src_off(), kMid);
    EXPECT_EQ(rig.fs().count(Call::pread) + rig.fs().count(Call::pwrite), 0);
  }
}

// Reflink::never skips clone and copy_file_range without calling them.
TEST(FaultFlags, ReflinkNeverCallsNeitherCloneNorCopyFileRange) {
  Rig rig;
  CopyFlags flags;
  flags.reflink = Reflink::never;
  Result<Report> r = rig.run(flags);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(rig.fs().count(Call::clone), 0);
  EXPECT_EQ(rig.fs().count(Call::clone_range), 0);
  EXPECT_EQ(rig.fs().count(Call::copy_file_range), 0);
  EXPECT_EQ(r->bytes(next_rung(Mechanism::kernel_copy)), kSize);
  for (Mechanism m : {Mechanism::clone, Mechanism::kernel_copy}) {
    const Step* s = step_of(r.value(), m);
    ASSERT_NE(s, nullptr) << mechanism_name(m);
    EXPECT_EQ(s->outcome, Outcome::skipped);
    EXPECT_NE(s->why.find("never"), std::string::npos) << s->why;
  }
  EXPECT_TRUE(rig.dst_content() == rig.content());
}

// EAGAIN that never clears is given up on, not spun on forever.
TEST(FaultTransient, EndlessEagainGivesUp) {
  Rig rig;
  rig.no_clone();
  rig.no_kernel_copy();
  rig.no_splice();
  rig.no_ring();
  rig.fs().add({Call::pwrite, Fault::Kind::fail, EAGAIN, 0, 2, 0});
  Result<Report> r = rig.run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EAGAIN);
  EXPECT_EQ(r.error().bytes_done, kChunk);
  EXPECT_LT(rig.fs().count(Call::pwrite), 1000);
}

// An empty destination and a fault-free seam: the ladder's first rung that
// works on this filesystem copies everything, and the copy is exact.
TEST(FaultBaseline, NoFaultsCopiesExactly) {
  Rig rig;
  Result<Report> r = rig.run();
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->total_bytes(), kSize);
  EXPECT_EQ(r->bytes(Mechanism::clone) + r->bytes(Mechanism::kernel_copy), kSize);
  EXPECT_TRUE(rig.dst_content() == rig.content());
}

}  // namespace
}  // namespace offcopy
