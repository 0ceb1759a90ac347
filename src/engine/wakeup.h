// The eventfd behind Engine::fd(): readable while completions wait.  Its
// calls go through the syscall seam (sys::Sys::real()).
//
// Thread-safety: signal() and clear() are called under Scheduler::ready_mu_,
// which keeps "counter > 0" equal to "completions wait" (see scheduler.cc);
// the scheduler's member is OFFCOPY_GUARDED_BY(ready_mu_), so clang checks it.
#ifndef OFFCOPY_ENGINE_WAKEUP_H_
#define OFFCOPY_ENGINE_WAKEUP_H_

#include "sys/sys.h"

namespace offcopy::engine {

class WakeupFd {
 public:
  // Creates the eventfd (non-blocking, close-on-exec): 0 or -errno.
  int open();
  int fd() const { return fd_.get(); }
  void signal();  // make it readable
  void clear();   // make it unreadable

 private:
  sys::UniqueFd fd_;
};

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_WAKEUP_H_
