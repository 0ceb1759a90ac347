// The engine's bandwidth cap (EngineOptions::max_bytes_per_second): one
// token bucket shared by every worker.  A worker charges the bytes it has
// just moved (between chunks, and when a destination is over) and, if the
// bucket is in debt, sleeps until the debt is paid -- so the cap holds over
// all workers together: two workers charging at once sleep one after the
// other's debt.  The bucket starts empty and holds at most kBurst worth of
// idle credit, so an engine that was idle bursts for at most ~50 ms.
//
// Why sleeping after the bytes moved rather than before: the copy calls
// report progress only between chunks, and a 4 KiB file is one chunk with
// no call at all; charging afterwards (with the debt carried in the shared
// bucket) caps every job, small or large, with one mechanism.
//
// Cancellation: a sleeping worker waits on a condition variable, in slices
// of at most kSlice, and returns as soon as the job's cancel flag reads
// true; interrupt() (called by Scheduler::cancel and the destructor after
// setting flags) wakes it at once.
//
// Thread-safety: the bucket is guarded by mu_ (annotated, checked by
// clang's -Wthread-safety); charge() and interrupt() may be called from any
// thread.
#ifndef OFFCOPY_ENGINE_THROTTLE_H_
#define OFFCOPY_ENGINE_THROTTLE_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace offcopy::engine {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kSlice{50};  // longest sleep
  static constexpr std::chrono::milliseconds kBurst{50};  // idle credit

  explicit Throttle(int64_t bytes_per_second)
      : per_ns_(static_cast<double>(bytes_per_second) / 1e9),
        burst_(static_cast<double>(bytes_per_second) * 0.05),
        last_(Clock::now()) {}

  // The largest chunk worth issuing at `bytes_per_second`: ~50 ms of
  // transfer, 4 KiB-aligned, at least 64 KiB and at most `chunk`.  Keeps
  // a cancel prompt and the rate smooth when the ladder's chunks (64 MiB
  // copy_file_range calls) would take seconds at the cap.
  static int64_t chunk_for(int64_t bytes_per_second, int64_t chunk) {
    const int64_t slice = std::max<int64_t>(bytes_per_second / 20 & ~int64_t{4095}, 64 << 10);
    return std::min(chunk, slice);
  }

  // Charges `bytes` just moved; sleeps while the bucket is in debt, until
  // `cancel` reads true.
  void charge(int64_t bytes, const std::atomic<bool>& cancel) OFFCOPY_EXCLUDES(mu_) {
    if (bytes <= 0) return;
    util::MutexLock lk(mu_);
    const Clock::time_point now = Clock::now();
    const double ns = static_cast<double>((now - last_).count());
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + ns * per_ns_);
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return;
    // Every charger before us has already pushed the bucket further into
    // debt, so this deadline is after theirs: workers take turns.
    const Clock::time_point deadline =
        now + std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / per_ns_));
    while (!cancel.load(std::memory_order_relaxed)) {
      const Clock::time_point t = Clock::now();
      if (t >= deadline) break;
      cv_.wait_until(mu_, std::min(deadline, t + kSlice));
    }
  }

  // Wakes every sleeping worker to look at its cancel flag again.  Taking
  // mu_ orders a flag set before this call with the sleeper's check.
  void interrupt() OFFCOPY_EXCLUDES(mu_) {
    { util::MutexLock lk(mu_); }
    cv_.notify_all();
  }

 private:
  const double per_ns_;  // refill rate, bytes per nanosecond
  const double burst_;   // most credit an idle bucket holds, bytes
  util::Mutex mu_;
  util::CondVar cv_;
  double tokens_ OFFCOPY_GUARDED_BY(mu_) = 0;       // negative = debt
  Clock::time_point last_ OFFCOPY_GUARDED_BY(mu_);  // last refill
};

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_THROTTLE_H_
