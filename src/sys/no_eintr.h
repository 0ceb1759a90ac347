// -errno results and EINTR retries, shared by the seam's .cc files.
#ifndef OFFCOPY_SYS_NO_EINTR_H_
#define OFFCOPY_SYS_NO_EINTR_H_

#include <errno.h>

#include <cstdint>

namespace offcopy::sys {

inline int64_t neg_errno(int64_t ret) { return ret < 0 ? -errno : ret; }

// Retries a call interrupted by a signal before it did anything; a partial
// transfer is returned as a short count, never as EINTR.
template <typename F>
int64_t no_eintr(F f) {
  int64_t r;
  do {
    r = neg_errno(f());
  } while (r == -EINTR);
  return r;
}

}  // namespace offcopy::sys

#endif  // OFFCOPY_SYS_NO_EINTR_H_
