// What a copy runs against (the syscall seam, the probe cache, the sizes
// the ladder works with) and what a caller controls of one copy while it
// runs (cancellation, progress).  Below the ladder, the engine and the tree
// copier: each of them takes a Context, and tests give them one of their
// own (a FaultSys, a fresh ProbeCache, small sizes).
#ifndef OFFCOPY_MECH_CONTEXT_H_
#define OFFCOPY_MECH_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "mech/probe.h"
#include "offcopy/copy.h"
#include "sys/sys.h"

namespace offcopy::mech {

// Sizes the ladder works with.  The defaults were chosen by measurement
// (docs/benchmarks.md); tests shrink them to reach every rung with small
// files.
struct Tunables {
  int64_t kernel_chunk = 64 << 20;  // bytes per copy_file_range call
  unsigned uring_depth = 4;         // buffers in flight in the pipeline
  int64_t uring_buffer = 1 << 20;   // bytes per pipeline buffer
  int64_t uring_min = 4 << 20;      // smaller ranges go to read/write
  int64_t splice_min = 256 << 10;   // smaller ranges skip splice (a pipe
                                    // costs 4 syscalls to set up and close)
  int64_t splice_pipe = 64 << 10;   // pipe capacity asked for splice (the
                                    // default; 1 MiB measured slower: see
                                    // docs/benchmarks.md)
  int64_t rw_buffer = 256 << 10;    // bytes per pread/pwrite
};

struct Rung;  // mech/rung.h

// What the ladder runs against: the syscall seam, the probe cache, sizes,
// and the rungs to try.
struct Context {
  sys::Sys* sys = &sys::Sys::real();
  ProbeCache* probes = nullptr;
  Tunables tun;
  // The ladder, in order; null: default_rungs() (mech/rung.h).  A test
  // gives one of its own to put a rung of its own in place.
  const std::vector<Rung>* rungs = nullptr;

  // The process-wide context: the real kernel and a shared probe cache.
  static Context& process();
};

// Per-call control, for the asynchronous engine: cancellation and progress.
// Both are looked at between chunks (one copy_file_range call, one buffer,
// one io_uring completion), so a cancel lands within one chunk.
struct Control {
  // When it reads true the copy stops with ECANCELED; bytes already copied
  // are reported in Error::bytes_done.
  const std::atomic<bool>* cancel = nullptr;
  // Called on the copying thread with the bytes of the range finished so
  // far (in order) and the rung moving them.
  std::function<void(int64_t done, Mechanism m)> progress;
  // Called once, before any byte moves, with the length this call will
  // copy when it is known (not for a stream or a pseudo-fs source).
  std::function<void(int64_t len)> length;

  bool cancelled() const {
    return cancel != nullptr && cancel->load(std::memory_order_relaxed);
  }
};

// EAGAIN is retried this many times per call site before it is an error
// (a regular file answers EAGAIN only under O_NONBLOCK or from a FUSE
// server; a stuck one must not spin forever).
inline constexpr int kMaxAgain = 100;

inline constexpr int64_t kUntilEof = std::numeric_limits<int64_t>::max();

}  // namespace offcopy::mech

#endif  // OFFCOPY_MECH_CONTEXT_H_
