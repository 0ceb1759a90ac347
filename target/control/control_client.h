// The client side of the control socket (control_server.h): what
// `offcopy-target status` does.  Connects, sends one request line, reads
// the answer until the server closes.
//
// Thread-safety: no shared state.
#ifndef OFFCOPY_TARGET_CONTROL_CONTROL_CLIENT_H_
#define OFFCOPY_TARGET_CONTROL_CONTROL_CLIENT_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

namespace offcopy::control {

// How long a client waits for the whole answer: the server takes one
// connection at a time and drops a silent one after kRequestTimeoutMs,
// so an honest request waits at most about that long for its turn.
inline constexpr int kClientTimeoutMs = 10000;

// The address of the Unix socket at `path`; false and a sentence in
// `error` when the path does not fit in one (107 bytes).
bool unix_address(const std::string& path, sockaddr_un& address, socklen_t& length,
                  std::string& error);

// Sends `request` (a newline is added) to the control socket at `path`
// and reads the answer into `answer`.  False and a sentence naming the
// path and the errno's text in `error` when nothing answers: no such
// socket, nothing listening, no permission, or no answer in time.
bool request(const std::string& path, const std::string& request, std::string& answer,
             std::string& error);

}  // namespace offcopy::control

#endif  // OFFCOPY_TARGET_CONTROL_CONTROL_CLIENT_H_
