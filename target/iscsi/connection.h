// One iSCSI connection, and -- MaxConnections being 1 -- its session:
// the login, then the full feature phase (RFC 7143): SCSI commands with
// their Data-Out (immediate, unsolicited, solicited by R2T), Data-In
// with phase-collapsed status, SCSI Responses with residuals,
// CmdSN/ExpCmdSN/MaxCmdSN windowing, NOP-In/Out both ways, Text
// (SendTargets), Logout, task management and Reject.
//
// It is fed bytes (received()) and writes PDUs to its Link; it knows no
// socket, so a test drives it with bytes alone.  A command's backing I/O
// completes on an I/O thread; the completion reaches the connection
// through `post`, on the connection's thread.
//
// Thread-safety: everything but the completions' hop runs on one thread.
#ifndef OFFCOPY_TARGET_ISCSI_CONNECTION_H_
#define OFFCOPY_TARGET_ISCSI_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "iscsi/link.h"
#include "iscsi/login.h"
#include "iscsi/pdu.h"
#include "iscsi/server.h"
#include "scsi/command.h"

namespace offcopy::iscsi {

// What a connection gets from the server that runs it.
struct ConnectionServices {
  const ServerOptions* options = nullptr;
  const std::vector<TargetConfig>* targets = nullptr;
  // Runs a closure on the connection's thread; callable from any thread,
  // for as long as any command is in flight.
  std::function<void(std::function<void()>)> post;
  // Session identifying handles and I_T nexus ids, unique in the server.
  std::function<uint16_t()> next_tsih;
  std::function<uint64_t()> next_nexus;
  // Commands submitted to a unit whose completion has not yet run on the
  // loop: the server waits for it to reach 0 before it stops.
  std::atomic<int64_t>* in_flight = nullptr;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;

  Connection(ConnectionServices services, Link& link);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Bytes from the initiator.
  void received(const uint8_t* bytes, size_t len);
  // Time passes: an idle initiator is pinged (NOP-In), one that does not
  // answer within the interval is dropped.
  void tick(Clock::time_point now);
  // The network is gone (or the server stops): no more PDUs will be sent;
  // commands still running end without a response.
  void closed();

  // The connection has ended (a refused login, a logout, a protocol error):
  // the server closes it once its Link has sent what was queued.
  bool finished() const { return finished_; }
  bool logged_in() const { return login_.complete(); }

 private:
  struct Task;
  struct PendingTmf;

  void handle(Pdu pdu);
  void handle_login(const Pdu& pdu);
  void handle_command(Pdu pdu);
  void handle_data_out(const Pdu& pdu);
  void handle_nop_out(const Pdu& pdu);
  void handle_text(const Pdu& pdu);
  void handle_logout(const Pdu& pdu);
  void handle_task_management(const Pdu& pdu);

  // CmdSN windowing (RFC 7143 4.2.2.1): false for a command outside the
  // window, which is dropped unanswered.
  bool accept_cmd_sn(const Pdu& pdu);
  bool cmd_sn_in_window(uint32_t sn) const;
  // A CmdSN in the window is in: ExpCmdSN moves past every one received.
  void take_cmd_sn(uint32_t sn);
  void fill_sns(Pdu& pdu, bool advance_stat_sn);
  uint32_t max_cmd_sn();

  void send_r2ts(Task& task);
  void try_execute(const std::shared_ptr<Task>& task);
  void execute(const std::shared_ptr<Task>& task);
  void complete(const std::shared_ptr<Task>& task, scsi::Result result);
  void respond(Task& task, scsi::Result& result);  // takes its data-in
  void fail_task(const std::shared_ptr<Task>& task, scsi::Result result);
  void forget(const Task& task);
  void finish_tmfs();

  void reject(const Pdu& pdu, uint8_t reason);
  void end();  // send what is queued, then close

  ConnectionServices services_;
  Link& link_;
  Login login_;
  PduReader reader_;
  SessionParams params_;
  uint64_t nexus_ = 0;
  std::string initiator_port_;  // "InitiatorName,i,0xISID": the SCSI initiator port
  bool finished_ = false;
  bool closed_ = false;

  uint32_t stat_sn_ = 0;
  uint32_t exp_cmd_sn_ = 0;
  uint32_t max_cmd_sn_ = 0;
  std::set<uint32_t> early_cmd_sns_;  // in the window, ahead of ExpCmdSN

  std::map<uint32_t, std::shared_ptr<Task>> tasks_;  // by ITT
  uint32_t next_ttt_ = 1;
  std::vector<PendingTmf> pending_tmfs_;

  // A Text answer being sent in pieces.
  struct TextReply {
    uint32_t itt, ttt;
    std::vector<uint8_t> text;
    size_t sent;
  };
  std::optional<TextReply> text_reply_;

  Clock::time_point last_heard_ = Clock::now();
  std::optional<uint32_t> ping_ttt_;  // a NOP-In the initiator has not answered
  Clock::time_point ping_sent_{};
};

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_CONNECTION_H_
