// The random cases of the copy_range property tests
// (tests/fs/fs_property_test.cc on real filesystems,
// tests/fault/property_fault_test.cc through the fault seam): file shapes,
// copy calls, the in-memory model of copy_file_range(2) they are checked
// against, and the run of cases with its OFFCOPY_PROPERTY_* environment.
//
// The model, for one call:
//   n    = min(len, max(0, src_size - src_off))   (whole_file: no min)
//   dst' = dst with [dst_off, dst_off + n) replaced by src[src_off, +n),
//          zero-filled between the old end and dst_off
//   size = max(old size, dst_off + n)
//
// Every draw from a Gen is part of a case: changing the order or the
// number of draws here changes every case of both tests.
#ifndef OFFCOPY_TESTS_SUPPORT_PROPERTY_CASES_H_
#define OFFCOPY_TESTS_SUPPORT_PROPERTY_CASES_H_

#include <time.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/copy.h"

namespace offcopy::testing {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kBlock = 4096;

// splitmix64: turns (seed, salt, case) into independent per-case seeds, so
// one case can be rerun alone.
uint64_t mix(uint64_t x);

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
  template <typename T>
  T pick(std::initializer_list<T> v) {
    return *(v.begin() + in(0, static_cast<int64_t>(v.size()) - 1));
  }
  // n random bytes, none of them zero (so data never reads as a hole).
  std::string bytes(int64_t n);

 private:
  std::mt19937_64 rng_;
};

// How a test weighs its cases: the fault test keeps files small (its small
// tunables make many calls of each rung), the fs test goes bigger.
struct CaseMix {
  int64_t src_max = 0;        // largest source
  int64_t dst_max = 0;        // largest existing destination
  int64_t mid_size = 0;       // "small" files go up to this, larger ones beyond
  int64_t extent_blocks = 0;  // an aligned extent: up to this many blocks
  int64_t extent_bytes = 0;   // an unaligned one: up to this many bytes
  bool block_lens = false;    // lengths of 1-64 whole blocks among the choices
  bool dst_gaps = false;      // now and then a destination offset far past EOF
  int reflink_auto = 0;       // percent of calls with --reflink=auto
  int reflink_never = 0;      // percent with --reflink=never; the rest: always
};

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

std::string to_string(const Shape& s);

// Sizes that matter: empty, sub-block, exactly at block edges and one off,
// small (up to mix.mid_size), and larger ones up to `max`.
int64_t random_size(Gen& g, int64_t max, const CaseMix& mix);

// An offset in a file of `size` bytes: start, EOF, anywhere, on a block
// edge, one off a block edge, or past EOF.
int64_t random_offset(Gen& g, int64_t size);

// Dense (one extent) or sparse: up to four extents, aligned or not, some
// written as zeros.
Shape random_shape(Gen& g, int64_t max, const CaseMix& mix);

// Writes the shape at `path` (data at its extents, ftruncate for the size
// so the rest stays holes) with the real kernel and returns its bytes.
std::string make_file(Gen& g, const Shape& s, const std::string& path);

// A case's two files: a random source and, 60% of the time, an existing
// random destination (else a new, empty one), written and with their bytes.
struct CaseFiles {
  Shape src_shape;
  Shape dst_shape;
  bool dst_exists = false;
  std::string src;
  std::string dst;
};

CaseFiles random_files(Gen& g, const CaseMix& mix, const std::string& src_path,
                       const std::string& dst_path);

// "source <shape>; destination <shape or new, empty>".
std::string to_string(const CaseFiles& f);

// ---------------------------------------------------------------------------
// Copies and the model.

struct CopyCall {
  int64_t src_off = 0;
  int64_t dst_off = 0;
  int64_t len = 0;
  CopyFlags flags;
  bool use_position = false;  // null offset pointers: the file positions
};

std::string to_string(const CopyCall& c);

// A random call on a source of src_size bytes into a destination of
// dst_size bytes.
CopyCall random_call(Gen& g, int64_t src_size, int64_t dst_size, const CaseMix& mix);

// The model (see the top of this file): the bytes the call copies, and the
// destination's bytes after it.
int64_t model_n(const CopyCall& c, int64_t src_size);
void model_apply(std::string& dst, const std::string& src, const CopyCall& c, int64_t n);

// ---------------------------------------------------------------------------
// Making a call.

// The copy_range under test: the public one, or ladder::copy_range with a
// test Context.
using CopyRangeFn = std::function<Result<Report>(int src_fd, int64_t* src_off, int dst_fd,
                                                 int64_t* dst_off, int64_t len, CopyFlags flags)>;

// What one call returned, and how far it moved the source and destination
// offsets (or, for use_position, the file positions).
struct CallOutcome {
  Result<Report> result;
  int64_t src_moved = 0;
  int64_t dst_moved = 0;
};

// Makes call `c` on the open files through `copy`: with offset pointers,
// checking that the file positions stay put, or (use_position) with null
// ones and the file positions set to the offsets.  Also checks that the
// source's mtime stays.
CallOutcome make_call(const CopyCall& c, int src_fd, int dst_fd, const CopyRangeFn& copy);

int64_t position(int fd);
bool same_time(const struct timespec& a, const struct timespec& b);

// ---------------------------------------------------------------------------
// Checks.

// Equal bytes; otherwise says where they first differ, without megabytes
// of output.
::testing::AssertionResult same_bytes(const std::string& got, const std::string& want);

// For a failed call that reported `done` bytes: the destination holds the
// source's bytes over [dst_off, dst_off + done), keeps its old bytes outside
// [dst_off, dst_off + n), and was neither truncated nor grown past the range.
::testing::AssertionResult failed_copy_ok(const std::string& got, const std::string& old,
                                          const std::string& src, const CopyCall& c,
                                          int64_t n, int64_t done);

// The error and, when the copy had started, what each rung did before it.
std::string describe_error(const Error& e);

// Failures recorded so far in the running test, so that one case can tell
// whether it failed itself when earlier ones did too (KEEP_GOING).
int failures_so_far();

// ---------------------------------------------------------------------------
// The run.

// A run's settings from the environment: OFFCOPY_PROPERTY_SEED (the run's
// seed), _CASES (how many), _ONLY (run just that case) and _KEEP_GOING=1
// (do not stop at the first failing case).
struct RunSettings {
  uint64_t seed = 0;
  int64_t cases = 0;
  int64_t only = -1;  // -1: all of them
  bool keep_going = false;
};

RunSettings run_settings(uint64_t default_seed, int64_t default_cases);

// What a run of cases came to.
struct RunTally {
  int64_t failed_cases = 0;  // cases with a failed check
  double seconds = 0;
};

// Runs the cases of `rs`, case i with the seed mix(rs.seed ^ salt ^ mix(i)),
// under a trace that says how to rerun it alone (`where`, if not empty,
// names the case's place there, e.g. "btrfs -> xfs, ").
RunTally run_cases(const RunSettings& rs, uint64_t salt, const std::string& where,
                   const std::function<void(uint64_t case_seed)>& run_case);

}  // namespace offcopy::testing

#endif  // OFFCOPY_TESTS_SUPPORT_PROPERTY_CASES_H_
