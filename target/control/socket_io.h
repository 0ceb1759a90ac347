// Reads and writes on a non-blocking socket that give up at a deadline,
// for both ends of the control socket: neither the control thread nor
// `offcopy-target status` may hang on a peer that stops talking.
//
// Thread-safety: no shared state.
#ifndef OFFCOPY_TARGET_CONTROL_SOCKET_IO_H_
#define OFFCOPY_TARGET_CONTROL_SOCKET_IO_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace offcopy::control {

using Deadline = std::chrono::steady_clock::time_point;

inline Deadline deadline_in(int ms) {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
}

enum class IoEnd {
  done,      // everything written; or, reading, the peer closed or the line ended
  timeout,   // the deadline passed first
  stopped,   // stop_fd became readable first
  too_long,  // reading: more than `max` bytes and no end
  error,     // errno says what
};

// Appends what `fd` sends to `out` until the peer closes (or, with
// `line`, until a newline, which is not kept), at most `max` bytes.
// `stop_fd` (or -1) ends the wait early when it becomes readable.
IoEnd read_until(int fd, int stop_fd, Deadline deadline, bool line, size_t max, std::string& out);

// Writes all of `data` to `fd`.
IoEnd write_all(int fd, int stop_fd, Deadline deadline, std::string_view data);

}  // namespace offcopy::control

#endif  // OFFCOPY_TARGET_CONTROL_SOCKET_IO_H_
