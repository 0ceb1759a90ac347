// Waiting briefly for another core, instead of sleeping in the kernel:
// the scheduler's critical sections are tens of nanoseconds, and on the
// machines measured a futex sleep and wake-up took microseconds
// (docs/bench/history.md, "engine per-job overhead").
#ifndef OFFCOPY_ENGINE_SPIN_LOCK_H_
#define OFFCOPY_ENGINE_SPIN_LOCK_H_

#include <atomic>
#include <thread>

#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace offcopy::engine {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A lock whose release is a plain store: for a section held for a few
// dozen instructions.  A waiter spins, then yields (the holder may have
// been preempted).  Held through util::LockGuard, which the thread-safety
// analysis follows (std::lock_guard would hide it).
class OFFCOPY_CAPABILITY("spin lock") SpinLock {
 public:
  void lock() OFFCOPY_ACQUIRE() {
    for (int i = 0; busy_.exchange(true, std::memory_order_acquire);) {
      while (busy_.load(std::memory_order_relaxed)) {
        if (i++ < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() OFFCOPY_RELEASE() { busy_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> busy_{false};
};

// Takes a mutex (which condition variables need), trying a little before
// sleeping on it.  The caller holds it then, e.g. in a
// util::LockGuard(mu, std::adopt_lock).
inline void lock_spinning(util::Mutex& mu) OFFCOPY_ACQUIRE(mu) {
  for (int i = 0; i < 64; ++i) {
    if (mu.try_lock()) return;
    cpu_relax();
  }
  mu.lock();
}

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_SPIN_LOCK_H_
