// offcopy-target's iSCSI server: the portals it listens on, the targets
// it serves, and the event loop that runs every connection (epoll, one
// thread; backing-file I/O runs on the units' IoPool, so the loop never
// waits on a disk).  It stops reading a connection whose peer does not
// read what is queued for it, drops one that takes nothing for twice
// nop_interval, and closes connections past max_logins_in_progress as it
// accepts them (server.cc).
//
// Thread-safety: run() on one thread; stop() from any thread or a signal
// handler (it only writes to an eventfd); stats() from any thread.
#ifndef OFFCOPY_TARGET_ISCSI_SERVER_H_
#define OFFCOPY_TARGET_ISCSI_SERVER_H_

#include <strings.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scsi/lun_map.h"

namespace offcopy::iscsi {

// CHAP credentials of a target (RFC 7143 12.1.3).  An empty `user`: the
// target takes AuthMethod=None.  Otherwise an initiator must prove it
// knows `secret`; `mutual_user`/`mutual_secret` (optional) are what the
// target answers an initiator that asks it to prove itself in turn.
struct TargetAuth {
  std::string user, secret;
  std::string mutual_user, mutual_secret;
  bool chap() const { return !user.empty(); }
  bool mutual() const { return !mutual_user.empty(); }
};

// One target: its IQN and its units.
struct TargetConfig {
  std::string iqn;    // e.g. iqn.2026-12.org.offcopy:demo
  std::string alias;  // TargetAlias, optional
  std::shared_ptr<scsi::LunMap> luns;
  TargetAuth auth;
  // The InitiatorNames allowed to log in; empty: any.  iSCSI names
  // compare without (ASCII) case: RFC 3722 normalizes them to lower case.
  std::vector<std::string> allow;

  bool admits(const std::string& initiator) const {
    if (allow.empty()) return true;
    for (const std::string& a : allow) {
      if (strcasecmp(a.c_str(), initiator.c_str()) == 0) return true;
    }
    return false;
  }
};

struct ServerOptions {
  // "ADDRESS:PORT" ("[::1]:3260" for IPv6); port 0 binds a free one
  // (port() says which).
  std::vector<std::string> listen{"0.0.0.0:3260"};
  // The MaxRecvDataSegmentLength this target declares.
  uint32_t max_recv_data_segment = 262144;
  // The offers this target makes at login (RFC 7143 13).
  uint32_t first_burst = 262144;
  uint32_t max_burst = 1048576;
  uint32_t max_outstanding_r2t = 16;
  bool immediate_data = true;
  bool initial_r2t = false;
  // The target pings an initiator idle this long (NOP-In), and drops one
  // that does not answer within it again; 0: never.
  unsigned nop_interval_s = 30;
  // Commands the target accepts ahead of the one it runs (MaxCmdSN -
  // ExpCmdSN + 1) per session.
  uint32_t queue_depth = 128;
  // Sessions (normal and discovery) the server holds at once; a login
  // past it is refused with 0x0302, out of resources.  256: more than
  // the hosts and paths one target server sees, and well inside the
  // default open-file limit of 1024.
  uint32_t max_sessions = 256;
  // Bytes of data-out and data-in buffers the commands of one session may
  // hold: a WRITE's buffer is its whole transfer (up to 32 MiB), and a
  // READ's data-in is counted from when it runs until its Data-In has
  // been written to the socket, so 128 commands could otherwise hold 4
  // GiB.  256 MiB: the queue depth at 2 MiB each, more than Linux or ESXi
  // send at once by default.  A command alone is always admitted, however
  // large.
  uint64_t max_session_data = 256ull << 20;
  // Connections accepted whose login has not finished (each holds a
  // socket until it does, or until the 30 s login timeout); a connection
  // past it is closed as soon as it is accepted.  64: logins take a few
  // round trips, so even many initiators reconnecting at once rarely have
  // that many under way, and max_sessions + 64 sockets stay well inside
  // the default open-file limit of 1024.
  uint32_t max_logins_in_progress = 64;
  // Bytes of PDUs a connection may have queued for a peer that does not
  // read them, beyond the Data-In that max_session_data already counts
  // (responses, R2Ts, NOP-In echoes, Text, Rejects).  Past it the server
  // stops reading that connection until the queue is down to a quarter
  // (server.cc says why 4 MiB).  Not a flag: tests lower it.
  size_t output_high_water = 4u << 20;
};

// What the server holds now (tests, and what an operator may one day be
// shown); read from any thread.
struct ServerStats {
  size_t connections = 0;          // open
  size_t logging_in = 0;           // of those, not logged in yet
  size_t paused = 0;               // of those, not read: their peer does not read its output
  uint64_t queued_bytes = 0;       // PDU bytes queued on every connection
  uint64_t peak_queued_bytes = 0;  // the most any one connection has had queued
  // The same, less Data-In (which max_session_data counts): what the
  // high water mark bounds.
  uint64_t peak_unaccounted_bytes = 0;
  uint64_t refused = 0;  // connections closed at once past max_logins_in_progress
  uint64_t stalled = 0;  // connections dropped for taking none of their output
};

class Server {
 public:
  // Binds every portal.  On failure returns null and sets `error` to a
  // sentence naming the address and the errno's text.
  static std::unique_ptr<Server> open(const ServerOptions& options,
                                      std::vector<TargetConfig> targets, std::string& error);
  ~Server();

  // Serves until stop(): then stops accepting, ends the sessions (their
  // in-flight commands finish first), and returns.
  void run();
  void stop();

  // The port the first portal is bound to.
  uint16_t port() const;

  ServerStats stats() const;

  struct Impl;  // opaque: the loop's state, in server.cc

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_SERVER_H_
