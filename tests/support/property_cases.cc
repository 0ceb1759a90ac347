#include "support/property_cases.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "support/test_files.h"
#include "sys/sys.h"

namespace offcopy::testing {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string Gen::bytes(int64_t n) {
  std::string s(static_cast<size_t>(n), '\0');
  for (size_t i = 0; i < s.size(); i += 8) {
    const uint64_t v = rng_() | 0x0101010101010101ULL;  // no zero bytes
    std::memcpy(&s[i], &v, std::min<size_t>(8, s.size() - i));
  }
  return s;
}

// ---------------------------------------------------------------------------
// File shapes.

std::string to_string(const Shape& s) {
  std::ostringstream os;
  os << "size=" << s.size << " extents=[";
  for (const Extent& e : s.extents) {
    os << ' ' << e.off << '+' << e.len << (e.zeros ? "(zeros)" : "");
  }
  os << " ]";
  return os.str();
}

int64_t random_size(Gen& g, int64_t max, const CaseMix& mix) {
  switch (g.in(0, 9)) {
    case 0: return 0;
    case 1: return g.in(1, kBlock - 1);
    case 2:
    case 3:
    case 4: return g.in(1, 64) * kBlock + g.in(-1, 1);
    case 5:
    case 6:
    case 7: return g.in(1, mix.mid_size);
    default: return g.in(mix.mid_size, max);
  }
}

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

Shape random_shape(Gen& g, int64_t max, const CaseMix& mix) {
  Shape s;
  s.size = random_size(g, max, mix);
  if (s.size == 0) return s;
  if (g.chance(40)) {
    s.extents.push_back({0, s.size, false});
    return s;
  }
  const int count = static_cast<int>(g.in(0, 4));
  for (int i = 0; i < count; ++i) {
    Extent e;
    e.off = g.chance(50) ? g.in(0, s.size / kBlock) * kBlock : g.in(0, s.size - 1);
    e.len = g.chance(50) ? g.in(1, mix.extent_blocks) * kBlock : g.in(1, mix.extent_bytes);
    e.len = std::min(e.len, s.size - e.off);
    e.zeros = g.chance(10);
    if (e.len > 0) s.extents.push_back(e);
  }
  return s;
}

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

CaseFiles random_files(Gen& g, const CaseMix& mix, const std::string& src_path,
                       const std::string& dst_path) {
  CaseFiles f;
  f.src_shape = random_shape(g, mix.src_max, mix);
  f.dst_exists = g.chance(60);
  if (f.dst_exists) f.dst_shape = random_shape(g, mix.dst_max, mix);
  f.src = make_file(g, f.src_shape, src_path);
  f.dst = make_file(g, f.dst_shape, dst_path);
  return f;
}

std::string to_string(const CaseFiles& f) {
  return "source " + to_string(f.src_shape) + "; destination " +
         (f.dst_exists ? to_string(f.dst_shape) : "new, empty");
}

// ---------------------------------------------------------------------------
// Copies and the model.

namespace {

const char* reflink_name(Reflink r) {
  return r == Reflink::auto_ ? "auto" : r == Reflink::always ? "always" : "never";
}
const char* sparse_name(Sparse s) {
  return s == Sparse::auto_ ? "auto" : s == Sparse::always ? "always" : "never";
}

// A length from src_off: none, to EOF, one off EOF, anything up to past
// EOF, whole blocks (mix.block_lens), "to EOF" as INT64_MAX, or short.
int64_t random_len(Gen& g, int64_t src_size, int64_t src_off, const CaseMix& mix) {
  const int64_t rest = std::max<int64_t>(0, src_size - src_off);
  int64_t choice = g.in(0, mix.block_lens ? 6 : 5);
  if (!mix.block_lens && choice >= 4) ++choice;  // no whole-block lengths
  switch (choice) {
    case 0: return 0;
    case 1: return rest;
    case 2: return std::max<int64_t>(0, rest + g.in(-1, 1));
    case 3: return g.in(1, src_size + 2 * kBlock);
    case 4: return g.in(1, 64) * kBlock;
    case 5: return std::numeric_limits<int64_t>::max();  // "to EOF", past it
    default: return g.in(1, rest + 1);
  }
}

CopyFlags random_flags(Gen& g, const CaseMix& mix) {
  CopyFlags f;
  f.whole_file = g.chance(15);
  f.no_fallback = g.chance(8);
  const int r = static_cast<int>(g.in(0, 99));
  f.reflink = r < mix.reflink_auto                       ? Reflink::auto_
              : r < mix.reflink_auto + mix.reflink_never ? Reflink::never
                                                         : Reflink::always;
  const int s = static_cast<int>(g.in(0, 99));
  f.sparse = s < 60 ? Sparse::auto_ : s < 80 ? Sparse::always : Sparse::never;
  return f;
}

}  // namespace

std::string to_string(const CopyCall& c) {
  std::ostringstream os;
  os << "copy_range(src_off=" << c.src_off << ", dst_off=" << c.dst_off
     << ", len=" << c.len << ", whole_file=" << c.flags.whole_file
     << ", no_fallback=" << c.flags.no_fallback << ", reflink=" << reflink_name(c.flags.reflink)
     << ", sparse=" << sparse_name(c.flags.sparse)
     << (c.use_position ? ", offsets as file positions" : "") << ")";
  return os.str();
}

CopyCall random_call(Gen& g, int64_t src_size, int64_t dst_size, const CaseMix& mix) {
  CopyCall c;
  c.src_off = random_offset(g, src_size);
  // Equal offsets keep the two ends equally aligned: the clone path.
  c.dst_off = g.chance(35) ? c.src_off : random_offset(g, dst_size);
  if (mix.dst_gaps && g.chance(5)) c.dst_off += g.in(1, kMiB);  // a gap of zeros before it
  c.len = random_len(g, src_size, c.src_off, mix);
  c.flags = random_flags(g, mix);
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
// Making a call.

namespace {

struct timespec mtime(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0) << strerror(errno);
  return st.st_mtim;
}

// Puts the file position of `fd` at `pos`.
void seek(int fd, int64_t pos) {
  EXPECT_EQ(::lseek(fd, pos, SEEK_SET), pos) << strerror(errno);
}

}  // namespace

CallOutcome make_call(const CopyCall& c, int src_fd, int dst_fd, const CopyRangeFn& copy) {
  const struct timespec before = mtime(src_fd);
  // Offset pointers must leave the file positions alone; null ones use them.
  const int64_t src_pos = c.use_position ? c.src_off : 3;
  const int64_t dst_pos = c.use_position ? c.dst_off : 5;
  seek(src_fd, src_pos);
  seek(dst_fd, dst_pos);
  int64_t so = c.src_off;
  int64_t dof = c.dst_off;
  Result<Report> r = copy(src_fd, c.use_position ? nullptr : &so, dst_fd,
                          c.use_position ? nullptr : &dof, c.len, c.flags);
  if (c.use_position) {
    so = position(src_fd);
    dof = position(dst_fd);
  } else {
    EXPECT_EQ(position(src_fd), src_pos) << "source position moved";
    EXPECT_EQ(position(dst_fd), dst_pos) << "destination position moved";
  }
  // The source is never touched.
  EXPECT_TRUE(same_time(before, mtime(src_fd))) << "source mtime changed";
  return {std::move(r), so - c.src_off, dof - c.dst_off};
}

int64_t position(int fd) { return ::lseek(fd, 0, SEEK_CUR); }

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// ---------------------------------------------------------------------------
// Checks.

namespace {

std::string byte_at(const std::string& s, size_t i) {
  if (i >= s.size()) return "EOF";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(s[i]));
  return buf;
}

}  // namespace

::testing::AssertionResult same_bytes(const std::string& got, const std::string& want) {
  const size_t n = std::min(got.size(), want.size());
  const auto mm = std::mismatch(got.begin(), got.begin() + n, want.begin());
  const size_t at = static_cast<size_t>(mm.first - got.begin());
  if (at == n && got.size() == want.size()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "size " << got.size() << " (want " << want.size() << "), first difference at "
         << at << ": got " << byte_at(got, at) << ", want " << byte_at(want, at);
}

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

std::string describe_error(const Error& e) {
  return describe(e) + (e.report ? "; " + describe(*e.report) : "");
}

int failures_so_far() {
  const ::testing::TestResult* r =
      ::testing::UnitTest::GetInstance()->current_test_info()->result();
  int n = 0;
  for (int i = 0; i < r->total_part_count(); ++i) n += r->GetTestPartResult(i).failed();
  return n;
}

// ---------------------------------------------------------------------------
// The run.

namespace {

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 0) : fallback;
}

}  // namespace

RunSettings run_settings(uint64_t default_seed, int64_t default_cases) {
  RunSettings rs;
  rs.seed = env_u64("OFFCOPY_PROPERTY_SEED", default_seed);
  rs.cases = static_cast<int64_t>(
      env_u64("OFFCOPY_PROPERTY_CASES", static_cast<uint64_t>(default_cases)));
  const char* only = std::getenv("OFFCOPY_PROPERTY_ONLY");
  rs.only = only != nullptr ? std::strtoll(only, nullptr, 0) : -1;
  rs.keep_going = env_u64("OFFCOPY_PROPERTY_KEEP_GOING", 0) != 0;
  return rs;
}

RunTally run_cases(const RunSettings& rs, uint64_t salt, const std::string& where,
                   const std::function<void(uint64_t case_seed)>& run_case) {
  const auto start = std::chrono::steady_clock::now();
  RunTally tally;
  // Stop at the first failing case unless asked to survey them all.
  for (int64_t i = 0; i < rs.cases && (rs.keep_going || !::testing::Test::HasFailure()); ++i) {
    if (rs.only >= 0 && i != rs.only) continue;
    const uint64_t case_seed = mix(rs.seed ^ salt ^ mix(static_cast<uint64_t>(i)));
    SCOPED_TRACE(::testing::Message() << "reproduce: OFFCOPY_PROPERTY_SEED=" << rs.seed
                                      << " OFFCOPY_PROPERTY_ONLY=" << i << " (" << where
                                      << "case seed " << case_seed << ")");
    const int failures_before = failures_so_far();
    run_case(case_seed);
    if (failures_so_far() > failures_before) ++tally.failed_cases;
  }
  tally.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return tally;
}

}  // namespace offcopy::testing
