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
// The sessions of the server are known to one SessionRegistry, so that
// what one session does reaches the others: task management that
// SAM-5 gives a whole logical unit or target (CLEAR TASK SET, LUN RESET,
// TARGET WARM/COLD RESET) aborts the commands of every session, and a
// login that reinstates a session (RFC 7143 6.3.5) ends the old one.
// A session whose connection has gone stays in the registry, "draining",
// until its last command on a unit has ended, so that such a reset or
// reinstatement can wait for it: no write of an aborted command lands
// after the response that said it was aborted.
//
// Limits: a session holds at most queue_depth commands (the CmdSN
// window) and max_session_data bytes of buffers: the data-out of its
// WRITEs and the data-in of its READs, the latter counted from the
// moment a READ is admitted until its Data-In has left through the Link
// (a command past the bound waits for room, or gets TASK SET FULL when its
// data-out is already coming: place_buffers in connection.cc says why);
// the registry refuses a login past max_sessions (login.h).
//
// Thread-safety: everything but the completions' hop runs on one thread
// (the server's loop), the registry included.
#ifndef OFFCOPY_TARGET_ISCSI_CONNECTION_H_
#define OFFCOPY_TARGET_ISCSI_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
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

class Connection;
struct Task;        // one SCSI command of a session (connection.cc)
struct Drain;       // a wait for commands on the units to end (connection.cc)
struct BufferRoom;  // a session's count of buffer bytes held (connection.cc)

// One session as the server knows it: named by the initiator's name, its
// ISID and the target (RFC 7143 4.4.1); its TSIH given by this target.
struct Session {
  std::string initiator_name;
  Isid isid{};
  const TargetConfig* target = nullptr;  // null: a discovery session
  uint16_t tsih = 0;
  uint64_t nexus = 0;  // the I_T nexus id its commands carry
  // Its connection while the session lasts; null once it has ended
  // (logout, reinstatement, a dropped connection).
  Connection* connection = nullptr;
  // Its commands handed to a unit whose completion has not run yet,
  // aborted or not: they may still read or write the backing file.
  std::set<std::shared_ptr<Task>> running;

  bool live() const { return connection != nullptr; }
  // The same initiator port and target: a login that would reinstate it.
  bool same_nexus(const std::string& initiator, const Isid& isid, const TargetConfig* target) const;
};

// The server's sessions, live and draining; the server owns it, every
// connection sees it through ConnectionServices.  It is also the
// SessionDirectory the logins ask.
class SessionRegistry final : public SessionDirectory {
 public:
  explicit SessionRegistry(uint32_t max_sessions) : max_sessions_(max_sessions) {}

  bool exists(uint16_t tsih, const Isid& isid) const override;
  bool has_room(const std::string& initiator, const Isid& isid,
                const TargetConfig* target) const override;

  void add(std::shared_ptr<Session> session);
  // The sessions, live or draining, that `pred` selects.
  std::vector<std::shared_ptr<Session>> select(const std::function<bool(const Session&)>& pred);
  // Sessions logged in now.
  size_t live() const;
  // A logged-in session has this TSIH (the server hands out others).
  bool tsih_in_use(uint16_t tsih) const;
  // Sessions kept, draining ones included (tests).
  size_t size() const { return sessions_.size(); }

 private:
  // Forgets the sessions that ended and have nothing left running.
  void sweep();

  uint32_t max_sessions_;
  std::vector<std::shared_ptr<Session>> sessions_;
};

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
  // Every session of the server (required).
  SessionRegistry* sessions = nullptr;
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

  // Bytes counted against max_session_data now: the data-out buffers of
  // its commands, the data-in room of its READs, and the Data-In still
  // queued on the Link; and the commands waiting for room (tests).
  uint64_t buffers_held() const;
  size_t waiting_for_room() const { return waiting_for_room_.size(); }

 private:
  struct PendingTmf;
  using TaskFilter = std::function<bool(const Task&)>;

  void handle(Pdu pdu);
  void handle_login(const Pdu& pdu);
  void handle_command(Pdu pdu);
  void handle_data_out(const Pdu& pdu);
  void handle_nop_out(const Pdu& pdu);
  void handle_text(const Pdu& pdu);
  void handle_logout(const Pdu& pdu);
  void handle_task_management(const Pdu& pdu);

  // The login is complete: the session starts, reinstating (ending) any
  // session of the same initiator port; the last Login Response waits
  // until that session's commands on the units have ended.
  void start_session(Pdu response);
  void send_login_reply();

  // CmdSN windowing (RFC 7143 4.2.2.1): false for a command outside the
  // window, which is dropped unanswered.
  bool accept_cmd_sn(const Pdu& pdu);
  bool cmd_sn_in_window(uint32_t sn) const;
  // A CmdSN in the window is in: ExpCmdSN moves past every one received.
  void take_cmd_sn(uint32_t sn);
  void fill_sns(Pdu& pdu, bool advance_stat_sn);
  uint32_t max_cmd_sn();
  // Tells an initiator whose window was closed that it opened again, when
  // no other PDU is on its way to say so.
  void announce_window();

  // Buffers (data-out, and room for data-in), bounded per session by
  // max_session_data.
  bool place_buffers(Task& task, const std::vector<uint8_t>& immediate);
  bool room_fits(uint64_t len) const;
  void take_room(Task& task);
  void drop_buffer(Task& task);   // its data-out
  void drop_data_in(Task& task);  // its data-in room
  void admit_waiting();
  // Data-In that held room has left (posted by a HeldData's end).
  void room_released();
  void refuse_task_set_full(Task& task);

  void send_r2ts(Task& task);
  void try_execute(const std::shared_ptr<Task>& task);
  void execute(const std::shared_ptr<Task>& task);
  void complete(const std::shared_ptr<Task>& task, scsi::Result result);
  void respond(Task& task, scsi::Result& result);  // takes its data-in
  void forget(Task& task);
  void finish_tmfs();

  // Task management (SAM-5 7, RFC 7143 11.5).  Each returns the TMF
  // response code; the commands they abort that are still running on a
  // unit join `drain`, which the response waits for.
  uint8_t abort_task(const Pdu& pdu, const std::shared_ptr<Drain>& drain);
  uint8_t abort_task_set(uint64_t lun, const std::shared_ptr<Drain>& drain);
  uint8_t clear_task_set(uint64_t lun, const std::shared_ptr<Drain>& drain);
  uint8_t lun_reset(uint64_t lun, const std::shared_ptr<Drain>& drain);
  void target_reset(bool cold, const std::shared_ptr<Drain>& drain);
  // Aborts the commands `pred` selects in every session of this target;
  // returns the nexuses, other than this one, that lost commands.
  std::vector<uint64_t> abort_everywhere(const TaskFilter& pred,
                                         const std::shared_ptr<Drain>& drain);
  // Aborts this session's commands that `pred` selects: they end without
  // a response.  Returns how many.
  size_t abort_tasks(const TaskFilter& pred);
  // Another session ends this one (a reinstatement, a target cold reset):
  // its commands end unanswered, and the connection closes.
  void terminate();
  void leave_session();
  // The units forget this session's I_T nexus: its unit attentions, its
  // RESERVE.
  void forget_nexus();

  void reject(const Pdu& pdu, uint8_t reason);
  void end();  // send what is queued, then close

  ConnectionServices services_;
  Link& link_;
  Login login_;
  PduReader reader_;
  SessionParams params_;
  uint64_t nexus_ = 0;
  // "InitiatorName,i,0xISID": the SCSI initiator port.  Shared with the
  // commands, which may outlive the connection on an I/O thread.
  std::shared_ptr<const std::string> initiator_port_;
  std::shared_ptr<Session> session_;  // from the end of the login
  std::optional<Pdu> login_reply_;    // the last Login Response, held
  bool finished_ = false;
  bool closed_ = false;

  uint32_t stat_sn_ = 0;
  uint32_t exp_cmd_sn_ = 0;
  uint32_t max_cmd_sn_ = 0;
  uint32_t advertised_max_cmd_sn_ = 0;  // in the last PDU sent
  std::set<uint32_t> early_cmd_sns_;    // in the window, ahead of ExpCmdSN

  std::map<uint32_t, std::shared_ptr<Task>> tasks_;  // by ITT
  uint32_t next_ttt_ = 1;
  std::vector<PendingTmf> pending_tmfs_;

  // Shared with the HeldData of Data-In queued on the Link, which may
  // outlive the connection.
  std::shared_ptr<BufferRoom> room_;
  std::deque<std::shared_ptr<Task>> waiting_for_room_;  // oldest first
  bool admitting_ = false;                              // in admit_waiting

  // A Text answer being sent in pieces.
  struct TextReply {
    uint32_t itt, ttt;
    std::vector<uint8_t> text;
    size_t sent;
  };
  std::optional<TextReply> text_reply_;

  const Clock::time_point started_ = Clock::now();
  Clock::time_point last_heard_ = Clock::now();
  std::optional<uint32_t> ping_ttt_;  // a NOP-In the initiator has not answered
  Clock::time_point ping_sent_{};
};

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_CONNECTION_H_
