#include "control/control_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "control/control_client.h"
#include "control/socket_io.h"
#include "util/log.h"

namespace offcopy::control {
namespace {

constexpr const char* kKnownRequests = "'status' or 'status json'";

std::string trimmed(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  return std::string(s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1));
}

// bind(2) with the file made mode 0600 from the start: the umask is
// narrowed around the call (bind has no mode argument, and a chmod after
// it would leave a moment when others could connect).  The umask is the
// process's; the other threads running now create no files but the
// APTPL files, which are 0600 anyway.
int bind_private(int fd, const sockaddr_un& address, socklen_t length) {
  const mode_t old_mask = ::umask(0177);
  const int r = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), length);
  const int err = errno;
  ::umask(old_mask);
  errno = err;
  return r;
}

// Whether a process accepts connections on the socket at `address`
// (true), nothing does (false: ECONNREFUSED, a socket left behind), or
// the question cannot be answered (false, errno set to why).
bool someone_listens(const sockaddr_un& address, socklen_t length) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), length);
  const int err = errno;
  ::close(fd);
  // A full backlog (EAGAIN) still means a listener.
  if (r == 0 || err == EAGAIN) return true;
  errno = err;
  return false;
}

}  // namespace

std::string answer(std::string_view request, const std::function<Status()>& snapshot) {
  const std::string r = trimmed(request);
  if (r == "status") return status_text(snapshot());
  if (r == "status json") return status_json(snapshot());
  return "error: unknown request '" + r + "' (known: " + kKnownRequests + ")\n";
}

std::unique_ptr<ControlServer> ControlServer::open(const std::string& path,
                                                   std::function<Status()> snapshot,
                                                   Failure& failure, std::string& error) {
  failure = Failure::unusable;
  sockaddr_un address;
  socklen_t length = 0;
  if (!unix_address(path, address, length, error)) return nullptr;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "cannot make the control socket '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  auto fail = [&](Failure why, std::string message) {
    ::close(fd);
    failure = why;
    error = std::move(message);
    return nullptr;
  };
  if (bind_private(fd, address, length) != 0) {
    if (errno != EADDRINUSE) {
      return fail(Failure::unusable,
                  "cannot make the control socket '" + path + "': " + std::strerror(errno));
    }
    // Something is there.  A socket nothing listens on was left by a
    // process that did not stop cleanly: replace it.  Anything else stays.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
      return fail(Failure::unusable, "cannot make the control socket '" + path +
                                         "': a file that is not a socket is there; remove it "
                                         "or give another --control path");
    }
    if (someone_listens(address, length)) {
      return fail(Failure::in_use,
                  "the control socket '" + path +
                      "' is in use: another offcopy-target answers on it; give this one its "
                      "own --control PATH (or control_socket), or --control none");
    }
    if (errno != ECONNREFUSED) {
      return fail(Failure::unusable, "cannot tell whether the control socket '" + path +
                                         "' is in use: " + std::strerror(errno));
    }
    OFFCOPY_TLOG(info, "control socket %s: replacing a stale socket (nothing listens on it)",
                 path.c_str());
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return fail(Failure::unusable,
                  "cannot remove the stale control socket '" + path + "': " + std::strerror(errno));
    }
    if (bind_private(fd, address, length) != 0) {
      return fail(Failure::unusable,
                  "cannot make the control socket '" + path + "': " + std::strerror(errno));
    }
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || ::listen(fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(path.c_str());
    return fail(Failure::unusable, "cannot listen on the control socket '" + path + "': " + why);
  }
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    const std::string why = std::strerror(errno);
    ::unlink(path.c_str());
    return fail(Failure::unusable,
                "cannot serve the control socket '" + path + "': eventfd: " + why);
  }
  failure = Failure::none;
  return std::unique_ptr<ControlServer>(
      new ControlServer(path, fd, stop_fd, st.st_dev, st.st_ino, std::move(snapshot)));
}

ControlServer::ControlServer(std::string path, int listen_fd, int stop_fd, dev_t dev, ino_t ino,
                             std::function<Status()> snapshot)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      dev_(dev),
      ino_(ino),
      snapshot_(std::move(snapshot)),
      thread_(&ControlServer::run, this) {}

ControlServer::~ControlServer() {
  const uint64_t one = 1;
  ssize_t ignored = ::write(stop_fd_, &one, sizeof one);
  (void)ignored;
  thread_.join();
  // Only the file this server made: if another instance replaced it (it
  // found this one gone), that one's socket stays.
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  ::close(listen_fd_);
  ::close(stop_fd_);
}

void ControlServer::run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      serve_one(fd);
      ::close(fd);
      continue;
    }
    if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
    // Out of file descriptors, most likely: the connection stays queued,
    // so poll() would report it again at once.  Wait a little instead of
    // spinning (and still hear stop()).
    OFFCOPY_TLOG(warning, "control socket %s: cannot accept a connection: %s", path_.c_str(),
                 std::strerror(errno));
    pollfd stop = {stop_fd_, POLLIN, 0};
    if (::poll(&stop, 1, 1000) > 0) return;
  }
}

void ControlServer::serve_one(int fd) {
  std::string request;
  IoEnd end = read_until(fd, stop_fd_, deadline_in(kRequestTimeoutMs), true, kMaxRequest, request);
  if (end == IoEnd::stopped) return;
  if (end == IoEnd::timeout) {
    OFFCOPY_TLOG(debug, "control socket %s: a client sent no request within %d ms; dropped",
                 path_.c_str(), kRequestTimeoutMs);
    return;
  }
  std::string reply;
  if (end == IoEnd::too_long || request.size() > kMaxRequest) {
    reply = "error: the request is longer than " + std::to_string(kMaxRequest) + " bytes\n";
  } else if (end == IoEnd::error) {
    return;  // the client went away
  } else {
    reply = answer(request, snapshot_);
  }
  end = write_all(fd, stop_fd_, deadline_in(kAnswerTimeoutMs), reply);
  if (end == IoEnd::timeout) {
    OFFCOPY_TLOG(debug, "control socket %s: a client did not take its answer within %d ms; dropped",
                 path_.c_str(), kAnswerTimeoutMs);
  }
}

}  // namespace offcopy::control
