#include "engine/wakeup.h"

#include <cstdint>

namespace offcopy::engine {

int WakeupFd::open() {
  const int fd = sys::Sys::real().eventfd();
  if (fd < 0) return fd;
  fd_.reset(fd);
  return 0;
}

// The counter cannot overflow: it is written once per empty-to-non-empty
// change of the ready list and cleared by every reap().
void WakeupFd::signal() {
  const uint64_t one = 1;
  sys::Sys::real().write(fd_.get(), &one, sizeof one);
}

// Non-semaphore eventfd: one read returns the counter and zeroes it.
// EAGAIN (already zero) is fine.
void WakeupFd::clear() {
  uint64_t v = 0;
  sys::Sys::real().read(fd_.get(), &v, sizeof v);
}

}  // namespace offcopy::engine
