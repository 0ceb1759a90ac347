// offcopy-target's control socket: a local Unix stream socket on which
// `offcopy-target status` asks the running target what it serves and what
// each unit has done (status.h).  The protocol is one line per
// connection: the client writes a request ("status" or "status json")
// and a newline, the server writes the answer and closes; an answer that
// starts with "error: " is a refusal.
//
// It runs on a thread of its own, so that neither a slow client nor
// formatting a status ever holds the iSCSI event loop; it takes one
// connection at a time, and a client that says nothing (or reads
// nothing) is dropped after a few seconds.  The socket file is mode 0600
// (a status names backing files) and removed when the server is
// destroyed, if it is still the one this server made.
//
// Thread-safety: open() and the destructor on one thread; the snapshot
// function is called on the control thread, so it must be safe to call
// beside everything else the process does (ServerStats and UnitStats
// are).  Create the server after the signals are blocked: its thread
// inherits the mask.
#ifndef OFFCOPY_TARGET_CONTROL_CONTROL_SERVER_H_
#define OFFCOPY_TARGET_CONTROL_CONTROL_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "control/status.h"

namespace offcopy::control {

// How long the server waits for a client's request line, and for the
// client to take its answer.  A status is a few kilobytes: a client that
// is slower than this is not one to wait for.
inline constexpr int kRequestTimeoutMs = 2000;
inline constexpr int kAnswerTimeoutMs = 5000;
// Requests are short; a longer line is refused.
inline constexpr size_t kMaxRequest = 256;

// The answer to one request line (without its newline): the status as a
// table or as JSON, or "error: ..." naming what is understood.
std::string answer(std::string_view request, const std::function<Status()>& snapshot);

class ControlServer {
 public:
  // Why open() failed: another process answers on the socket, or the
  // socket could not be made (the message has the path and the errno).
  enum class Failure { none, in_use, unusable };

  // Binds and listens at `path` and starts the control thread.  A socket
  // file there that nothing listens on (left by a process that was
  // killed) is replaced; one that answers is left alone (Failure::in_use),
  // as is anything that is not a socket.  Null, `failure` and a sentence
  // in `error` when it cannot serve.
  static std::unique_ptr<ControlServer> open(const std::string& path,
                                             std::function<Status()> snapshot, Failure& failure,
                                             std::string& error);
  // Stops the thread (a request being answered is cut short) and removes
  // the socket file.
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }

 private:
  ControlServer(std::string path, int listen_fd, int stop_fd, dev_t dev, ino_t ino,
                std::function<Status()> snapshot);
  void run();
  void serve_one(int fd);

  const std::string path_;
  const int listen_fd_;
  const int stop_fd_;  // an eventfd: written to stop the thread
  // The socket file as bound: the destructor removes only that file, not
  // one a later instance has put at the same path.
  const dev_t dev_;
  const ino_t ino_;
  const std::function<Status()> snapshot_;
  std::thread thread_;
};

}  // namespace offcopy::control

#endif  // OFFCOPY_TARGET_CONTROL_CONTROL_SERVER_H_
