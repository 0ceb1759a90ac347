#include "control/socket_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace offcopy::control {
namespace {

// Waits until `fd` is ready for `events`: done, or why not.
IoEnd wait_for(int fd, short events, int stop_fd, Deadline deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return IoEnd::timeout;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(fds, stop_fd >= 0 ? 2 : 1, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoEnd::error;
    if (stop_fd >= 0 && fds[1].revents != 0) return IoEnd::stopped;
    // An error or a hang-up is found by the read or write that follows.
    if (n > 0) return IoEnd::done;
  }
}

}  // namespace

IoEnd read_until(int fd, int stop_fd, Deadline deadline, bool line, size_t max, std::string& out) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return IoEnd::done;
    if (n > 0) {
      const std::string_view got(buf, static_cast<size_t>(n));
      const size_t newline = line ? got.find('\n') : std::string_view::npos;
      out.append(got.substr(0, newline));
      if (newline != std::string_view::npos) return IoEnd::done;
      if (out.size() > max) return IoEnd::too_long;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return IoEnd::error;
    if (IoEnd e = wait_for(fd, POLLIN, stop_fd, deadline); e != IoEnd::done) return e;
  }
}

IoEnd write_all(int fd, int stop_fd, Deadline deadline, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return IoEnd::error;
    if (IoEnd e = wait_for(fd, POLLOUT, stop_fd, deadline); e != IoEnd::done) return e;
  }
  return IoEnd::done;
}

}  // namespace offcopy::control
