// A mutex, its scoped lock and a condition variable that clang's
// thread-safety analysis can follow.  libstdc++ does not annotate
// std::mutex or std::lock_guard, so through them the analysis sees no
// lock taken and every OFFCOPY_GUARDED_BY member would look unprotected.
//
// Each wraps the std:: type in annotated inline forwarders, with no state
// or call of its own: the same code as the std:: type once inlined (the
// engine's scheduler takes these locks once or twice per job).  CondVar
// wraps std::condition_variable rather than using
// std::condition_variable_any, which takes a mutex of its own on every
// wait and notify.
#ifndef OFFCOPY_UTIL_MUTEX_H_
#define OFFCOPY_UTIL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace offcopy::util {

class OFFCOPY_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() OFFCOPY_ACQUIRE() { mu_.lock(); }
  void unlock() OFFCOPY_RELEASE() { mu_.unlock(); }
  bool try_lock() OFFCOPY_TRY_ACQUIRE(true) { return mu_.try_lock(); }

  // Tells the analysis that the caller holds this mutex where it cannot
  // see so, e.g. in a condition variable's predicate (a lambda is analysed
  // as a function of its own).  Checks nothing at run time.
  void assert_held() const OFFCOPY_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a lock (a Mutex, or any annotated lock with lock() and unlock())
// for its scope, as std::lock_guard does.
template <typename M>
class OFFCOPY_SCOPED_CAPABILITY LockGuard {
 public:
  explicit LockGuard(M& mu) OFFCOPY_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  // Takes over a lock the caller has just taken (std::adopt_lock).
  LockGuard(M& mu, std::adopt_lock_t) OFFCOPY_REQUIRES(mu) : mu_(mu) {}
  ~LockGuard() OFFCOPY_RELEASE() { mu_.unlock(); }

  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  M& mu_;
};

using MutexLock = LockGuard<Mutex>;

// std::condition_variable on a Mutex.  Every wait takes the Mutex held
// (OFFCOPY_REQUIRES) and returns with it held again; between, it is
// released as by std::condition_variable.  There are no predicate forms:
// a `while (!ready) cv.wait(mu);` loop keeps the guarded reads where the
// analysis sees the lock (or assert_held() in the predicate).
class CondVar {
 public:
  void wait(Mutex& mu) OFFCOPY_REQUIRES(mu) {
    std::unique_lock<std::mutex> lk(mu.mu_, std::adopt_lock);
    cv_.wait(lk);
    lk.release();  // the caller's lock again
  }

  // Only with a clock that cannot throw (steady_clock, system_clock): an
  // exception would leave `mu` unlocked by lk's destructor, under the
  // caller's lock.
  template <typename Clock, typename Duration>
  std::cv_status wait_until(Mutex& mu, const std::chrono::time_point<Clock, Duration>& t)
      OFFCOPY_REQUIRES(mu) {
    std::unique_lock<std::mutex> lk(mu.mu_, std::adopt_lock);
    const std::cv_status s = cv_.wait_until(lk, t);
    lk.release();
    return s;
  }

  // As std::condition_variable::wait_for: until now + d on the steady clock.
  template <typename Rep, typename Period>
  std::cv_status wait_for(Mutex& mu, const std::chrono::duration<Rep, Period>& d)
      OFFCOPY_REQUIRES(mu) {
    using Steady = std::chrono::steady_clock;
    return wait_until(mu, Steady::now() + std::chrono::ceil<Steady::duration>(d));
  }

  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace offcopy::util

#endif  // OFFCOPY_UTIL_MUTEX_H_
