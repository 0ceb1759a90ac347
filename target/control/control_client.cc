#include "control/control_client.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control/socket_io.h"

namespace offcopy::control {
namespace {

// An answer larger than this is not a status (16383 LUNs of a long path
// each fit many times over).
constexpr size_t kMaxAnswer = 64u << 20;

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

bool unix_address(const std::string& path, sockaddr_un& address, socklen_t& length,
                  std::string& error) {
  address = {};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    error = "the control socket path '" + path + "' is " + std::to_string(path.size()) +
            " bytes long; a Unix socket's path has 1 to " +
            std::to_string(sizeof address.sun_path - 1);
    return false;
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

bool request(const std::string& path, const std::string& request, std::string& answer,
             std::string& error) {
  sockaddr_un address;
  socklen_t length = 0;
  if (!unix_address(path, address, length, error)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "cannot make a socket to reach the control socket '" + path + "': " + errno_text(errno);
    return false;
  }
  const Deadline deadline = deadline_in(kClientTimeoutMs);
  bool ok = false;
  // A Unix socket connects at once or not at all: EAGAIN is a full
  // backlog, which is as good as no answer.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    const int err = errno;
    error = "cannot connect to the control socket '" + path + "': " + errno_text(err);
    if (err == ENOENT || err == ECONNREFUSED) {
      error += " (is offcopy-target running, with this control socket?)";
    }
  } else {
    IoEnd end = write_all(fd, -1, deadline, request + "\n");
    if (end == IoEnd::done) {
      // Tell the server the request is whole (it also reads to the newline).
      ::shutdown(fd, SHUT_WR);
      end = read_until(fd, -1, deadline, false, kMaxAnswer, answer);
    }
    const int err = errno;
    if (end == IoEnd::done && answer.empty()) {
      error = "the control socket '" + path + "' closed without an answer";
    } else if (end == IoEnd::done) {
      ok = true;
    } else if (end == IoEnd::timeout) {
      error = "no answer on the control socket '" + path + "' within " +
              std::to_string(kClientTimeoutMs / 1000) + " s: " + errno_text(ETIMEDOUT);
    } else if (end == IoEnd::too_long) {
      error = "the answer on the control socket '" + path + "' is too long to be a status";
    } else {
      error = "cannot talk to the control socket '" + path + "': " + errno_text(err);
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace offcopy::control
