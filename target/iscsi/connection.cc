#include "iscsi/connection.h"

#include <strings.h>

#include <algorithm>
#include <utility>

#include "iscsi/text.h"
#include "scsi/sense.h"
#include "util/log.h"

namespace offcopy::iscsi {
namespace {

constexpr uint32_t kNoTag = 0xffffffff;
constexpr uint8_t kFinal = 0x80;

// The largest data transfer one command may ask for: what the units'
// Block Limits page allows, with room to spare.  A larger one is answered
// with a CHECK CONDITION, its data read and dropped, never buffered.
constexpr uint32_t kMaxTransfer = 32u << 20;

// Reject reasons (RFC 7143 11.17.1).
constexpr uint8_t kRejectDataDigest = 0x02;
constexpr uint8_t kRejectProtocolError = 0x04;
constexpr uint8_t kRejectNotSupported = 0x05;
constexpr uint8_t kRejectInvalidField = 0x09;

// Task management functions and responses (RFC 7143 11.5, 11.6).
enum Tmf : uint8_t {
  kAbortTask = 1,
  kAbortTaskSet = 2,
  kClearAca = 3,
  kClearTaskSet = 4,
  kLunReset = 5,
  kTargetWarmReset = 6,
  kTargetColdReset = 7,
  kTaskReassign = 8,
};
constexpr uint8_t kTmfComplete = 0;
constexpr uint8_t kTmfNoTask = 1;
constexpr uint8_t kTmfNoLun = 2;
constexpr uint8_t kTmfReassignNotSupported = 4;
constexpr uint8_t kTmfNotSupported = 5;

// Serial number arithmetic (RFC 1982), as CmdSN and StatSN use it.
bool sn_before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

uint64_t lun_of(const Pdu& pdu) {
  uint64_t lun = 0;
  for (int i = 8; i < 16; ++i) lun = lun << 8 | pdu.bhs[i];
  return lun;
}

// DATA PHASE ERROR: the Data-Out of a command broke the rules (a wrong
// DataSN or offset); the command fails rather than writing what came.
scsi::Result data_phase_error() {
  return scsi::check_condition(scsi::SenseKey::aborted_command, scsi::Asc{0x4b, 0x00});
}

// "InitiatorName,i,0xISID": the SCSI initiator port name (RFC 7143 4.2.7.1).
std::string initiator_port_name(const std::string& initiator, const Isid& isid) {
  static const char kHex[] = "0123456789abcdef";
  std::string port = initiator + ",i,0x";
  for (uint8_t b : isid) {
    port += kHex[b >> 4];
    port += kHex[b & 15];
  }
  return port;
}

}  // namespace

// Commands still running on a unit that something waits for (a TMF's
// response, a reinstating login's last response), in any session: `then`
// runs, on the loop thread, when the last of them has ended.
struct Drain {
  int pending = 0;
  std::function<void()> then;
};

struct Task {
  struct R2t {
    uint32_t ttt, offset, length, received, data_sn;
  };

  uint32_t itt = 0, cmd_sn = 0;
  std::array<uint8_t, 8> lun_bytes{};
  uint64_t lun = 0;
  scsi::LogicalUnit* unit = nullptr;  // null: no unit behind the LUN
  bool reading = false, writing = false;
  uint32_t edtl = 0;  // Expected Data Transfer Length
  std::vector<uint8_t> cdb;
  std::vector<uint8_t> data_out;
  uint32_t buffer_held = 0;      // data_out's bytes counted against the session's bound
  uint32_t data_in_room = 0;     // what its data-in may need: its EDTL when it reads
  uint32_t data_in_held = 0;     // that room, counted until its Data-In is framed
  bool needs_room = false;       // waiting for room for its buffers: not run, no R2T yet
  uint32_t bytes_in = 0;         // Data-Out taken, all sequences
  uint32_t unsolicited_end = 0;  // what the initiator sends without an R2T
  uint32_t unsolicited_next = 0;
  uint32_t unsolicited_data_sn = 0;
  uint32_t next_r2t_offset = 0;
  uint32_t r2t_sn = 0;
  std::vector<R2t> r2ts;   // outstanding
  bool delivered = false;  // every command before it in CmdSN order is in
  bool started = false;    // answered or handed to its unit: never twice
  bool executing = false;
  bool aborted = false;
  std::optional<scsi::Result> failure;  // answered instead of running it
  std::weak_ptr<Session> session;
  // The initiator port the command names, kept alive for the unit.
  std::shared_ptr<const std::string> initiator_port;
  std::vector<std::shared_ptr<Drain>> drains;  // waiting for it to end
  scsi::Command command;
};

// What a session's buffers hold, counted against max_session_data: the
// data-out of its WRITEs, the data-in room of its READs while they run,
// then the Data-In itself until it has left through the Link.  The
// connection adds and removes what its commands hold; a HeldData gives its
// bytes back when the last PDU holding it is destroyed (written to the
// socket, or dropped with the link), which may be after the connection
// has gone.  Used on the loop thread only: PDUs are sent and dropped there.
struct BufferRoom {
  uint64_t held = 0;
  // Set while the connection waits for room (commands wait, or the window
  // is held shut): the next release wakes it, once.
  bool watched = false;
  std::function<void()> wake;  // posts room_released() to the connection

  void release(uint64_t bytes) {
    held -= bytes;
    if (watched && wake) {
      watched = false;
      wake();  // posted, never run here: a Link is in the middle of its queue
    }
  }
};

struct HeldData {
  HeldData(std::shared_ptr<BufferRoom> r, uint64_t n) : room(std::move(r)), bytes(n) {
    room->held += bytes;
  }
  ~HeldData() { room->release(bytes); }
  HeldData(const HeldData&) = delete;
  HeldData& operator=(const HeldData&) = delete;

  std::shared_ptr<BufferRoom> room;
  uint64_t bytes;
};

namespace {

// The bytes a command counts against its session's bound while it is
// admitted: its whole data-out buffer, and room for its data-in.
uint64_t room_needed(const Task& t) { return uint64_t{t.writing ? t.edtl : 0u} + t.data_in_room; }

// `drain` waits for `task`, which is running on a unit, to end.
void wait_for(const std::shared_ptr<Drain>& drain, Task& task) {
  task.drains.push_back(drain);
  ++drain->pending;
}

// `drain` waits for the aborted commands of `session` that `pred` selects
// and that are still running on a unit.
void wait_for_running(const Session& session, const std::function<bool(const Task&)>& pred,
                      const std::shared_ptr<Drain>& drain) {
  for (const std::shared_ptr<Task>& t : session.running) {
    if (t->aborted && pred(*t)) wait_for(drain, *t);
  }
}

// A command's completion has run on the loop: it no longer touches the
// backing file, so whatever waited for it may go on.
void task_ended(const std::shared_ptr<Task>& task) {
  if (std::shared_ptr<Session> s = task->session.lock()) s->running.erase(task);
  for (const std::shared_ptr<Drain>& d : std::exchange(task->drains, {})) {
    if (--d->pending == 0 && d->then) d->then();
  }
}

bool any_task(const Task&) { return true; }

}  // namespace

// ---------------------------------------------------------------- the registry

bool Session::same_nexus(const std::string& initiator, const Isid& other_isid,
                         const TargetConfig* other_target) const {
  // iSCSI names compare without (ASCII) case: RFC 3722 folds them.
  return isid == other_isid && target == other_target &&
         strcasecmp(initiator_name.c_str(), initiator.c_str()) == 0;
}

bool SessionRegistry::exists(uint16_t tsih, const Isid& isid) const {
  return std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& s) {
    return s->live() && s->tsih == tsih && s->isid == isid;
  });
}

bool SessionRegistry::has_room(const std::string& initiator, const Isid& isid,
                               const TargetConfig* target) const {
  size_t others = 0;
  for (const auto& s : sessions_) {
    if (s->live() && !s->same_nexus(initiator, isid, target)) ++others;
  }
  return others < max_sessions_;
}

void SessionRegistry::add(std::shared_ptr<Session> session) {
  sweep();
  sessions_.push_back(std::move(session));
}

std::vector<std::shared_ptr<Session>> SessionRegistry::select(
    const std::function<bool(const Session&)>& pred) {
  sweep();
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& s : sessions_) {
    if (pred(*s)) out.push_back(s);
  }
  return out;
}

size_t SessionRegistry::live() const {
  return std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->live(); });
}

bool SessionRegistry::tsih_in_use(uint16_t tsih) const {
  return std::any_of(sessions_.begin(), sessions_.end(),
                     [tsih](const auto& s) { return s->live() && s->tsih == tsih; });
}

void SessionRegistry::sweep() {
  std::erase_if(sessions_, [](const auto& s) { return !s->live() && s->running.empty(); });
}

// ---------------------------------------------------------------- the connection

struct Connection::PendingTmf {
  Pdu response;
  std::shared_ptr<Drain> drain;  // the commands it aborted still running, in any session
  bool close_after = false;
};

Connection::Connection(ConnectionServices services, Link& link)
    : services_(std::move(services)),
      link_(link),
      login_(*services_.options, *services_.targets, services_.next_tsih(), services_.sessions),
      reader_(services_.options->max_recv_data_segment),
      room_(std::make_shared<BufferRoom>()) {}

Connection::~Connection() { closed(); }

uint64_t Connection::buffers_held() const { return room_->held; }

void Connection::received(const uint8_t* bytes, size_t len) {
  last_heard_ = Clock::now();
  while (len > 0 && !finished_ && !closed_) {
    const size_t n = reader_.feed(bytes, len);
    bytes += n;
    len -= n;
    switch (reader_.fault()) {
      case PduReader::Fault::none: break;
      case PduReader::Fault::too_long:
        OFFCOPY_TLOG(warning,
                     "%s: a PDU longer than MaxRecvDataSegmentLength; dropping the connection",
                     link_.peer_address().c_str());
        end();
        return;
      case PduReader::Fault::header_digest:
        // The PDU's boundaries cannot be trusted: at ErrorRecoveryLevel 0
        // the connection ends.
        OFFCOPY_TLOG(warning, "%s: header digest error; dropping the connection",
                     link_.peer_address().c_str());
        end();
        return;
      case PduReader::Fault::data_digest: reject(reader_.take(), kRejectDataDigest); continue;
    }
    if (reader_.ready()) handle(reader_.take());
  }
}

void Connection::handle(Pdu pdu) {
  if (!login_.complete() || login_reply_) {
    if (!login_.complete() && pdu.opcode() == Opcode::login) return handle_login(pdu);
    OFFCOPY_TLOG(warning, "%s: a PDU (opcode %#x) before login; dropping the connection",
                 link_.peer_address().c_str(), unsigned(pdu.opcode()));
    return end();
  }
  switch (pdu.opcode()) {
    case Opcode::scsi_command:
      if (login_.discovery()) return reject(pdu, kRejectProtocolError);
      return handle_command(std::move(pdu));
    case Opcode::data_out: return handle_data_out(pdu);
    case Opcode::nop_out: return handle_nop_out(pdu);
    case Opcode::text: return handle_text(pdu);
    case Opcode::logout: return handle_logout(pdu);
    case Opcode::task_management:
      if (login_.discovery()) return reject(pdu, kRejectProtocolError);
      return handle_task_management(pdu);
    case Opcode::login: return reject(pdu, kRejectProtocolError);  // logged in already
    default: return reject(pdu, kRejectNotSupported);  // SNACK at ERL 0, unknown opcodes
  }
}

void Connection::handle_login(const Pdu& pdu) {
  Pdu response = login_.respond(pdu);
  if (login_.complete()) return start_session(std::move(response));
  link_.send(frame(std::move(response), Digests{}));
  if (login_.failed()) end();
}

void Connection::start_session(Pdu response) {
  // The settled parameters apply from the next PDU on, both ways.
  params_ = login_.params();
  reader_.set_digests(params_.digests);
  reader_.set_max_data(params_.recv_max_data);
  stat_sn_ = login_.stat_sn();
  exp_cmd_sn_ = login_.exp_cmd_sn();
  max_cmd_sn_ = exp_cmd_sn_ + services_.options->queue_depth - 1;
  advertised_max_cmd_sn_ = max_cmd_sn_;  // what the Login Response says
  nexus_ = services_.next_nexus();
  initiator_port_ = std::make_shared<const std::string>(
      initiator_port_name(login_.initiator_name(), login_.isid()));

  session_ = std::make_shared<Session>();
  session_->initiator_name = login_.initiator_name();
  session_->isid = login_.isid();
  session_->target = login_.target();
  session_->tsih = login_.tsih();
  session_->nexus = nexus_;
  session_->connection = this;
  // Data-In leaving through the Link gives its room back from there, on
  // this thread but in the middle of the Link's queue: posted.
  room_->wake = [post = services_.post, weak = weak_from_this()] {
    post([weak] {
      if (auto self = weak.lock()) self->room_released();
    });
  };

  // Session reinstatement (RFC 7143 6.3.5): a leading login with the
  // initiator name, ISID and target of a session ends that session; its
  // commands end without a response.  The new session starts (its last
  // Login Response goes) only once they have left the units, so that no
  // write of the old session lands after the new one's.  A session whose
  // connection dropped (draining) is waited for the same way.
  auto drain = std::make_shared<Drain>();
  for (const auto& old : services_.sessions->select([this](const Session& s) {
         return s.same_nexus(session_->initiator_name, session_->isid, session_->target);
       })) {
    if (Connection* c = old->connection) {
      OFFCOPY_TLOG(info, "%s reinstates its session %#x", login_.initiator_name().c_str(),
                   unsigned(old->tsih));
      c->terminate();
    }
    wait_for_running(*old, any_task, drain);
  }
  services_.sessions->add(session_);
  login_reply_ = std::move(response);
  if (drain->pending == 0) return send_login_reply();
  OFFCOPY_TLOG(debug, "the login of %s waits for %d command(s) of its old session",
               login_.initiator_name().c_str(), drain->pending);
  drain->then = [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->send_login_reply();
  };
}

void Connection::send_login_reply() {
  if (!login_reply_ || closed_ || finished_) return;
  link_.send(frame(std::move(*login_reply_), Digests{}));
  login_reply_.reset();
}

bool Connection::cmd_sn_in_window(uint32_t sn) const {
  return !sn_before(sn, exp_cmd_sn_) && !sn_before(max_cmd_sn_, sn) && !early_cmd_sns_.count(sn);
}

bool Connection::accept_cmd_sn(const Pdu& pdu) {
  if (pdu.immediate()) return true;  // does not take a CmdSN
  const uint32_t sn = pdu.field32(24);
  // Outside the window, or a duplicate: dropped without an answer (RFC
  // 7143 4.2.2.1; libiscsi's iSCSIcmdsn tests wait for exactly that).
  if (!cmd_sn_in_window(sn)) {
    OFFCOPY_TLOG(debug, "CmdSN %u outside [%u, %u]: ignored", sn, exp_cmd_sn_, max_cmd_sn_);
    return false;
  }
  take_cmd_sn(sn);
  return true;
}

void Connection::take_cmd_sn(uint32_t sn) {
  if (sn != exp_cmd_sn_) {
    early_cmd_sns_.insert(sn);  // held until the gap before it fills
    return;
  }
  ++exp_cmd_sn_;
  if (early_cmd_sns_.empty()) {
    // In order, nothing held behind a gap (the usual case): only the
    // command with this CmdSN can be waiting; handle_command delivers it.
    return;
  }
  while (early_cmd_sns_.erase(exp_cmd_sn_)) ++exp_cmd_sn_;
  // Commands that came ahead of the gap run now, in CmdSN order.
  std::vector<std::shared_ptr<Task>> ready;
  for (auto& [itt, t] : tasks_) {
    if (!t->delivered && sn_before(t->cmd_sn, exp_cmd_sn_)) ready.push_back(t);
  }
  std::sort(ready.begin(), ready.end(),
            [](const auto& a, const auto& b) { return sn_before(a->cmd_sn, b->cmd_sn); });
  for (auto& t : ready) {
    t->delivered = true;
    try_execute(t);
  }
}

uint32_t Connection::max_cmd_sn() {
  // While the session's buffers are at their bound, or commands wait for
  // room, the window does not open: the initiator sends no new command
  // until room is freed (RFC 7143 4.2.2.1 lets a target hold MaxCmdSN; it
  // never moves back).  Room freed by Data-In leaving wakes the connection
  // (room_released) to say so when nothing else will.
  if (room_->held >= services_.options->max_session_data || !waiting_for_room_.empty()) {
    room_->watched = true;
    return max_cmd_sn_;
  }
  // The window shrinks with the commands still running, so a session
  // holds at most queue_depth of them; it never moves back.
  const uint32_t depth = services_.options->queue_depth;
  const uint32_t running = static_cast<uint32_t>(std::min<size_t>(tasks_.size(), depth));
  const uint32_t candidate = exp_cmd_sn_ + depth - 1 - running;
  if (sn_before(max_cmd_sn_, candidate)) max_cmd_sn_ = candidate;
  return max_cmd_sn_;
}

void Connection::fill_sns(Pdu& pdu, bool advance_stat_sn) {
  pdu.set_field32(24, advance_stat_sn ? stat_sn_++ : stat_sn_);
  pdu.set_field32(28, exp_cmd_sn_);
  advertised_max_cmd_sn_ = max_cmd_sn();
  pdu.set_field32(32, advertised_max_cmd_sn_);
}

void Connection::announce_window() {
  if (closed_ || finished_ || !login_.complete() || login_reply_) return;
  // The initiator has room (MaxCmdSN >= ExpCmdSN): it needs no news.
  if (!sn_before(advertised_max_cmd_sn_, exp_cmd_sn_)) return;
  if (!sn_before(advertised_max_cmd_sn_, max_cmd_sn())) return;  // still closed
  // A NOP-In with ITT and TTT 0xffffffff asks for no answer and takes no
  // StatSN (RFC 7143 11.19); it carries the new MaxCmdSN.
  Pdu in;
  in.set_opcode(Opcode::nop_in);
  in.bhs[1] = kFinal;
  in.set_field32(16, kNoTag);
  in.set_field32(20, kNoTag);
  fill_sns(in, false);
  link_.send(frame(std::move(in), params_.digests));
}

void Connection::handle_command(Pdu pdu) {
  const uint32_t itt = pdu.itt();
  if (tasks_.count(itt)) return reject(pdu, kRejectInvalidField);  // a tag in use
  const uint32_t cmd_sn = pdu.field32(24);
  if (!pdu.immediate() && !cmd_sn_in_window(cmd_sn)) {
    OFFCOPY_TLOG(debug, "CmdSN %u outside [%u, %u]: ignored", cmd_sn, exp_cmd_sn_, max_cmd_sn_);
    return;
  }
  auto task = std::make_shared<Task>();
  task->itt = itt;
  task->cmd_sn = cmd_sn;
  std::copy(pdu.bhs.begin() + 8, pdu.bhs.begin() + 16, task->lun_bytes.begin());
  task->lun = lun_of(pdu);
  task->unit = login_.target()->luns->find(task->lun);
  task->reading = pdu.bhs[1] & 0x40;
  task->writing = pdu.bhs[1] & 0x20;
  task->edtl = pdu.field32(20);
  // Its data-in is at most its EDTL (the rest is cut, an overflow), and no
  // command has more than kMaxTransfer.
  task->data_in_room = task->reading ? std::min(task->edtl, kMaxTransfer) : 0;
  // An Extended CDB AHS (type 1) carries the bytes past the 16th.
  size_t extra = 0;
  if (pdu.ahs.size() >= 4 && pdu.ahs[2] == 0x01) {
    const size_t ahs_len = size_t{pdu.ahs[0]} << 8 | pdu.ahs[1];
    extra = std::min(ahs_len > 0 ? ahs_len - 1 : 0, pdu.ahs.size() - 4);
  }
  task->cdb.resize(16 + extra);
  std::copy(pdu.bhs.begin() + 32, pdu.bhs.begin() + 48, task->cdb.begin());
  if (extra > 0) std::copy_n(pdu.ahs.begin() + 4, extra, task->cdb.begin() + 16);
  const uint32_t immediate = static_cast<uint32_t>(pdu.data.size());
  if (immediate > 0 && (!task->writing || !params_.immediate_data || immediate > task->edtl ||
                        immediate > params_.first_burst)) {
    return reject(pdu, kRejectProtocolError);
  }
  task->command.cdb = task->cdb;
  // Data-in is cut to the EDTL here, not by the unit: what the command
  // had beyond it is the residual overflow the initiator is told of.
  task->command.allocation_limit = UINT32_MAX;
  task->command.nexus = nexus_;
  task->command.units = login_.target()->luns.get();
  task->command.abort = std::make_shared<scsi::AbortSignal>();
  task->session = session_;
  task->initiator_port = initiator_port_;
  task->command.initiator_port = *task->initiator_port;
  task->delivered = pdu.immediate();
  if (pdu.immediate() && tasks_.size() >= services_.options->queue_depth) {
    // Immediate commands take no CmdSN, so the window does not bound them:
    // past the queue depth they get TASK SET FULL (SAM-5 5.3.6).
    return refuse_task_set_full(*task);
  }
  if (!place_buffers(*task, pdu.data)) {
    // No room for its buffer, and its data is already on its way.
    if (!pdu.immediate()) take_cmd_sn(cmd_sn);
    return refuse_task_set_full(*task);
  }
  tasks_[itt] = task;
  if (task->needs_room) {
    waiting_for_room_.push_back(task);
    room_->watched = true;
  }
  if (!pdu.immediate()) {
    // Taken once the task is in place: taking it may run the commands
    // held behind it, this one first among them.
    take_cmd_sn(cmd_sn);
    if (!task->delivered && sn_before(cmd_sn, exp_cmd_sn_)) task->delivered = true;
  }
  send_r2ts(*task);
  try_execute(task);
}

// The session's buffers are bounded by max_session_data.  A WRITE's
// buffer is its whole transfer, taken when it arrives; a READ (any command
// that reads) takes room for its data-in, its EDTL, before it runs, and
// holds it until its Data-In has left through the Link (respond gives the
// room over to a HeldData), so that an initiator that does not read its
// socket cannot make the target queue data-in without bound.  What a
// command gets when the buffers are full:
//  - one whose data-out comes only when asked (no immediate data,
//    InitialR2T Yes), or that has none (a READ), waits, without a buffer,
//    an R2T or running, until room is freed (oldest first); meanwhile the
//    window stays shut (max_cmd_sn);
//  - one whose data-out is already on its way (immediate or unsolicited)
//    cannot wait, since that data must go somewhere: place_buffers
//    says false and the command gets TASK SET FULL, which SAM-5 5.3
//    gives a command the task set has no resources for while the nexus
//    has others in it -- the case here, since a command alone always
//    fits.  Initiators retry it (Linux lowers its queue depth).
bool Connection::place_buffers(Task& task, const std::vector<uint8_t>& immediate) {
  bool unsolicited = false;
  if (task.writing) {
    const uint32_t received = static_cast<uint32_t>(immediate.size());
    task.bytes_in = received;
    task.unsolicited_next = received;
    task.unsolicited_end = params_.initial_r2t ? received
                                               : std::min(params_.first_burst, task.edtl);
    task.next_r2t_offset = task.unsolicited_end;
    if (task.edtl > kMaxTransfer) {
      // Refused once its data is in; that data is read and dropped, never kept.
      task.failure = scsi::check_condition(scsi::SenseKey::illegal_request,
                                           scsi::kInvalidFieldInCdb);
      return true;
    }
    unsolicited = task.unsolicited_end > 0;
  }
  const uint64_t need = room_needed(task);
  if (need == 0) return true;
  // One that cannot wait does not queue behind those that can.
  if (room_fits(need) && (unsolicited || waiting_for_room_.empty())) {
    take_room(task);
    std::copy(immediate.begin(), immediate.end(), task.data_out.begin());
    return true;
  }
  if (unsolicited) return false;
  task.needs_room = true;
  return true;
}

bool Connection::room_fits(uint64_t len) const {
  // A command alone always fits, however large (up to kMaxTransfer each
  // way), so a bound below the largest transfer slows a session, never
  // stops it.
  return len == 0 || room_->held == 0 || room_->held + len <= services_.options->max_session_data;
}

void Connection::take_room(Task& task) {
  if (task.writing) {
    task.data_out.resize(task.edtl);
    task.command.data_out = task.data_out;
    task.buffer_held = task.edtl;
    room_->held += task.edtl;
  }
  task.data_in_held = task.data_in_room;
  room_->held += task.data_in_held;
  task.needs_room = false;
}

// Only once the unit is done with it (not while it executes).
void Connection::drop_buffer(Task& task) {
  if (task.buffer_held == 0) return;
  room_->held -= task.buffer_held;
  task.buffer_held = 0;
  task.command.data_out = {};
  std::vector<uint8_t>().swap(task.data_out);
}

// Once the unit is done (it allocates the data-in as it runs), and when
// respond has framed the data-in: from there a HeldData counts what is sent.
void Connection::drop_data_in(Task& task) {
  room_->held -= task.data_in_held;
  task.data_in_held = 0;
}

void Connection::admit_waiting() {
  // Flat: a command admitted here may end at once and free room, whose
  // own admit_waiting returns and leaves the rest to this loop.
  if (admitting_) return;
  admitting_ = true;
  while (!waiting_for_room_.empty() && !closed_) {
    if (!room_fits(room_needed(*waiting_for_room_.front()))) {
      room_->watched = true;  // Data-In leaving may make the room
      break;
    }
    const std::shared_ptr<Task> task = std::move(waiting_for_room_.front());
    waiting_for_room_.pop_front();
    take_room(*task);
    send_r2ts(*task);
    try_execute(task);
  }
  admitting_ = false;
}

void Connection::room_released() {
  if (closed_ || finished_) return;
  admit_waiting();
  announce_window();
}

void Connection::refuse_task_set_full(Task& task) {
  scsi::Result full;
  full.status = scsi::Status::task_set_full;
  task.writing = false;  // its data, if any comes, is dropped
  respond(task, full);
}

void Connection::handle_data_out(const Pdu& pdu) {
  const auto it = tasks_.find(pdu.itt());
  if (it == tasks_.end() || !it->second->writing || it->second->started) {
    // Data for a command aborted (or answered) meanwhile: dropped.
    OFFCOPY_TLOG(debug, "Data-Out for no waiting command (ITT %#x): dropped", pdu.itt());
    return;
  }
  const std::shared_ptr<Task> task = it->second;
  const uint32_t ttt = pdu.field32(20), data_sn = pdu.field32(36), offset = pdu.field32(40);
  const uint32_t len = static_cast<uint32_t>(pdu.data.size());
  bool in_order = true;
  if (ttt == kNoTag) {
    if (params_.initial_r2t) return reject(pdu, kRejectProtocolError);
    in_order = data_sn == task->unsolicited_data_sn++ && offset == task->unsolicited_next &&
               uint64_t{offset} + len <= task->unsolicited_end;
    task->unsolicited_next += len;
  } else {
    auto r = std::find_if(task->r2ts.begin(), task->r2ts.end(),
                          [ttt](const Task::R2t& x) { return x.ttt == ttt; });
    if (r == task->r2ts.end()) return reject(pdu, kRejectInvalidField);
    in_order = data_sn == r->data_sn++ && offset == r->offset + r->received &&
               r->received + uint64_t{len} <= r->length;
    r->received += len;
    if (r->received >= r->length || !in_order) {
      task->r2ts.erase(r);
      if (in_order) send_r2ts(*task);
    }
  }
  if (!in_order) {
    // A wrong DataSN or offset: the command fails (iSCSIdatasn) and does
    // not wait for data that may never come.
    OFFCOPY_TLOG(debug, "Data-Out out of order for ITT %#x (DataSN %u, offset %u)", task->itt,
                 data_sn, offset);
    task->r2ts.clear();
    task->next_r2t_offset = task->edtl;
    task->bytes_in = task->edtl;
    task->failure = data_phase_error();
    return try_execute(task);
  }
  if (!task->failure && uint64_t{offset} + len <= task->data_out.size()) {
    std::copy(pdu.data.begin(), pdu.data.end(), task->data_out.begin() + offset);
  }
  task->bytes_in += len;
  try_execute(task);
}

void Connection::send_r2ts(Task& task) {
  while (task.writing && !task.aborted && !task.needs_room &&
         task.r2ts.size() < params_.max_outstanding_r2t && task.next_r2t_offset < task.edtl) {
    const uint32_t len = std::min(params_.max_burst, task.edtl - task.next_r2t_offset);
    uint32_t ttt = next_ttt_++;
    if (ttt == kNoTag) ttt = next_ttt_++;
    task.r2ts.push_back({ttt, task.next_r2t_offset, len, 0, 0});
    Pdu r2t;
    r2t.set_opcode(Opcode::r2t);
    r2t.bhs[1] = kFinal;
    std::copy(task.lun_bytes.begin(), task.lun_bytes.end(), r2t.bhs.begin() + 8);
    r2t.set_field32(16, task.itt);
    r2t.set_field32(20, ttt);
    fill_sns(r2t, false);
    r2t.set_field32(36, task.r2t_sn++);
    r2t.set_field32(40, task.next_r2t_offset);
    r2t.set_field32(44, len);
    task.next_r2t_offset += len;
    link_.send(frame(std::move(r2t), params_.digests));
  }
}

void Connection::try_execute(const std::shared_ptr<Task>& task) {
  if (!task->delivered || task->started || task->aborted || task->needs_room) return;
  if (task->writing && task->bytes_in < task->edtl) return;
  task->started = true;
  if (task->failure) {
    scsi::Result r = std::move(*task->failure);
    forget(*task);  // its buffer freed before the response, whose MaxCmdSN counts it
    respond(*task, r);
    admit_waiting();
    return;
  }
  execute(task);
}

void Connection::execute(const std::shared_ptr<Task>& task) {
  const TargetConfig* target = login_.target();
  task->executing = true;
  // The completion may come at once, on this thread, or later on an I/O
  // thread.  A command answered at once is responded to here, without a
  // trip through the loop's queue; one that waited is posted back.
  struct Slot {
    std::atomic<int> state{0};  // 0 submitting, 1 returned, 2 done
    scsi::Result result;
  };
  auto slot = std::make_shared<Slot>();
  services_.in_flight->fetch_add(1, std::memory_order_relaxed);
  target->luns->submit(task->lun, task->command,
                       [slot, task, weak = weak_from_this(), post = services_.post,
                        in_flight = services_.in_flight](scsi::Result r) {
                         slot->result = std::move(r);
                         if (slot->state.exchange(2, std::memory_order_acq_rel) == 0)
                           return;  // answered at once
                         // The command has ended even if its connection
                         // has gone: what waits for it (task_ended) goes on.
                         post([slot, task, weak, in_flight] {
                           in_flight->fetch_sub(1, std::memory_order_relaxed);
                           if (auto self = weak.lock())
                             self->complete(task, std::move(slot->result));
                           task_ended(task);
                         });
                       });
  if (slot->state.exchange(1, std::memory_order_acq_rel) == 2) {
    services_.in_flight->fetch_sub(1, std::memory_order_relaxed);
    return complete(task, std::move(slot->result));  // nothing had a chance to wait for it
  }
  // On an I/O thread until its completion is posted back to this thread
  // (so not before this returns): a reset or a reinstatement may wait
  // for it meanwhile.
  session_->running.insert(task);
}

void Connection::complete(const std::shared_ptr<Task>& task, scsi::Result result) {
  task->executing = false;
  if (closed_) return;
  // The unit is done with the data-out: freed before the response, so the
  // MaxCmdSN it carries counts the room.  The data-in room becomes what
  // is sent, in respond.
  drop_buffer(*task);
  if (task->aborted) {
    // Its abort's response waits for it (a Drain); it gets none of its
    // own.  Its buffers freed may reopen a window nothing else will.
    drop_data_in(*task);
    admit_waiting();
    return announce_window();
  }
  // Forgotten first: the MaxCmdSN its response carries counts it gone,
  // or a session of queue depth 1 would see its window shut after every
  // command, with nothing to reopen it.
  forget(*task);
  respond(*task, result);
  admit_waiting();
}

void Connection::respond(Task& task, scsi::Result& result) {
  const bool good = result.status == scsi::Status::good && result.sense.empty();
  const uint32_t wanted = static_cast<uint32_t>(result.data_in.size());
  const uint32_t sent = std::min(wanted, task.reading ? task.edtl : 0u);
  // Residuals (RFC 7143 11.4.5): data the command had beyond what the
  // initiator expected (overflow), or less than it expected (underflow).
  uint8_t residual_flags = 0;
  uint32_t residual = 0;
  const uint32_t expected = task.reading ? task.edtl : 0;
  if (task.reading && wanted > expected) {
    residual_flags = 0x04, residual = wanted - expected;
  } else if (task.reading && wanted < expected) {
    residual_flags = 0x02, residual = expected - wanted;
  } else if (!task.reading && !task.writing && wanted > 0) {
    residual_flags = 0x04, residual = wanted;
  } else if (task.writing) {
    // Data-out: what the CDB asked for against what the initiator sent.
    const uint32_t want_out = result.data_out_wanted.value_or(task.edtl);
    if (want_out > task.edtl) residual_flags = 0x04, residual = want_out - task.edtl;
    if (want_out < task.edtl) residual_flags = 0x02, residual = task.edtl - want_out;
  }

  uint32_t data_sn = 0;
  // The data-in's room gives way to the bytes sent, held (HeldData) until
  // the last Data-In has left through the Link.
  drop_data_in(task);
  if (sent > 0) {
    if (result.data_in.size() > sent) {
      // An overflow: only what is sent stays in memory while it waits.
      result.data_in.resize(sent);
      result.data_in.shrink_to_fit();
    }
    auto buffer = std::make_shared<const std::vector<uint8_t>>(std::move(result.data_in));
    auto held = std::make_shared<HeldData>(room_, sent);
    uint32_t pos = 0, burst_left = params_.max_burst;
    while (pos < sent) {
      const uint32_t len = std::min({params_.send_max_data, sent - pos, burst_left});
      const bool last = pos + len == sent;
      burst_left -= len;
      Pdu d;
      d.set_opcode(Opcode::data_in);
      // F ends each burst (MaxBurstLength bounds Data-In sequences too).
      if (last || burst_left == 0) d.bhs[1] |= kFinal;
      d.set_field32(16, task.itt);
      d.set_field32(20, kNoTag);
      const bool with_status = last && good;
      if (with_status) {
        // Phase collapse: the status rides on the last Data-In.
        d.bhs[1] |= 0x01 | residual_flags;
        d.bhs[3] = static_cast<uint8_t>(result.status);
        d.set_field32(44, residual);
      }
      fill_sns(d, with_status);
      d.set_field32(36, data_sn++);
      d.set_field32(40, pos);
      OutPdu out = frame(d, buffer, pos, len, params_.digests);
      out.held = held;
      link_.send(std::move(out));
      pos += len;
      if (burst_left == 0) burst_left = params_.max_burst;
    }
    if (good) return;
  }
  Pdu r;
  r.set_opcode(Opcode::scsi_response);
  r.bhs[1] = static_cast<uint8_t>(kFinal | residual_flags);
  r.bhs[2] = 0;  // command completed at the target
  r.bhs[3] = static_cast<uint8_t>(result.status);
  r.set_field32(16, task.itt);
  fill_sns(r, true);
  r.set_field32(36, data_sn);  // ExpDataSN: the Data-In PDUs sent
  r.set_field32(44, residual);
  if (!result.sense.empty()) {
    r.data.push_back(static_cast<uint8_t>(result.sense.size() >> 8));
    r.data.push_back(static_cast<uint8_t>(result.sense.size()));
    r.data.insert(r.data.end(), result.sense.begin(), result.sense.end());
  }
  link_.send(frame(std::move(r), params_.digests));
}

void Connection::forget(Task& task) {
  const auto it = tasks_.find(task.itt);
  if (it != tasks_.end() && it->second.get() == &task) tasks_.erase(it);
  if (task.needs_room) {
    std::erase_if(waiting_for_room_, [&task](const auto& t) { return t.get() == &task; });
    task.needs_room = false;
  }
  if (!task.executing) {
    drop_buffer(task);
    drop_data_in(task);
  }
}

void Connection::handle_nop_out(const Pdu& pdu) {
  if (!accept_cmd_sn(pdu)) return;
  if (pdu.itt() == kNoTag) {
    // An answer to this target's ping (or a bare CmdSN update).
    if (ping_ttt_ && pdu.field32(20) == *ping_ttt_) ping_ttt_.reset();
    return;
  }
  Pdu in;
  in.set_opcode(Opcode::nop_in);
  in.bhs[1] = kFinal;
  std::copy(pdu.bhs.begin() + 8, pdu.bhs.begin() + 16, in.bhs.begin() + 8);
  in.set_field32(16, pdu.itt());
  in.set_field32(20, kNoTag);
  fill_sns(in, true);
  in.data = pdu.data;  // the ping data comes back
  if (in.data.size() > params_.send_max_data) in.data.resize(params_.send_max_data);
  link_.send(frame(std::move(in), params_.digests));
}

void Connection::handle_text(const Pdu& pdu) {
  if (!accept_cmd_sn(pdu)) return;
  const uint32_t ttt = pdu.field32(20);
  if (ttt == kNoTag || !text_reply_ || ttt != text_reply_->ttt || pdu.itt() != text_reply_->itt) {
    // A new request (one that continues an answer is a bare request
    // echoing its TTT).
    text_reply_.reset();
    KeyValues reply;
    for (const auto& [key, value] : parse_text(pdu.data)) {
      if (key != "SendTargets") {
        reply.emplace_back(key, "NotUnderstood");
        continue;
      }
      // All targets in a discovery session; in a normal one, the
      // session's own (an empty value) or the one named.  A target whose
      // ACL does not admit the initiator is not shown to it.
      const std::string address = link_.local_address() + ",1";
      for (const TargetConfig& t : *services_.targets) {
        const bool listed = value == "All"  ? login_.discovery()
                            : value.empty() ? &t == login_.target()
                                            : value == t.iqn;
        if (!listed || !t.admits(login_.initiator_name())) continue;
        reply.emplace_back("TargetName", t.iqn);
        reply.emplace_back("TargetAddress", address);
      }
    }
    uint32_t tag = next_ttt_++;
    if (tag == kNoTag) tag = next_ttt_++;
    text_reply_ = TextReply{pdu.itt(), tag, format_text(reply), 0};
  }
  // An answer longer than the initiator takes in one PDU goes in pieces,
  // each but the last with C set and a TTT the next request echoes
  // (RFC 7143 11.10-11.11).
  TextReply& t = *text_reply_;
  const size_t len = std::min<size_t>(t.text.size() - t.sent, params_.send_max_data);
  const bool last = t.sent + len == t.text.size();
  Pdu r;
  r.set_opcode(Opcode::text_response);
  r.bhs[1] = last ? kFinal : 0x40;
  r.set_field32(16, pdu.itt());
  r.set_field32(20, last ? kNoTag : t.ttt);
  fill_sns(r, true);
  r.data.assign(t.text.begin() + t.sent, t.text.begin() + t.sent + len);
  t.sent += len;
  if (last) text_reply_.reset();
  link_.send(frame(std::move(r), params_.digests));
}

void Connection::handle_logout(const Pdu& pdu) {
  if (!accept_cmd_sn(pdu)) return;
  const uint8_t reason = pdu.bhs[1] & 0x7f;
  // Closing the session or this connection (the only one) ends every
  // command of the session: they run to their end unanswered.
  abort_tasks(any_task);
  Pdu r;
  r.set_opcode(Opcode::logout_response);
  r.bhs[1] = kFinal;
  r.bhs[2] = reason == 2 ? 2 : 0;  // connection recovery is not supported at ERL 0
  r.set_field32(16, pdu.itt());
  fill_sns(r, true);
  link_.send(frame(std::move(r), params_.digests));
  OFFCOPY_TLOG(info, "logout from %s", login_.initiator_name().c_str());
  end();
}

// Task management (SAM-5 7; RFC 7143 11.5).  What each function ends:
//  - ABORT TASK: the one command, in this session;
//  - ABORT TASK SET: this I_T nexus's commands on the unit;
//  - CLEAR TASK SET: every nexus's commands on the unit (TST 0 in the
//    Control mode page: one task set shared by all), and the other
//    nexuses that lost commands get COMMANDS CLEARED BY ANOTHER INITIATOR;
//  - LUN RESET: every nexus's commands on the unit, and every nexus (this
//    one too) gets POWER ON, RESET (29h/00h);
//  - TARGET WARM / COLD RESET: every session's commands on every unit of
//    the target, and a reset of each; a cold reset also ends every
//    session of the target (RFC 7143 11.5.1), this one once the response
//    is out.
// Commands aborted by another nexus end without status (TAS is 0).  The
// response waits until every command it aborted, in whichever session,
// has left its unit (a Drain): no write lands after it.
void Connection::handle_task_management(const Pdu& pdu) {
  if (!accept_cmd_sn(pdu)) return;
  const uint8_t function = pdu.bhs[1] & 0x7f;
  const uint64_t lun = lun_of(pdu);
  PendingTmf tmf;
  tmf.response.set_opcode(Opcode::task_management_response);
  tmf.response.bhs[1] = kFinal;
  tmf.response.set_field32(16, pdu.itt());
  tmf.drain = std::make_shared<Drain>();
  uint8_t response = kTmfComplete;
  switch (function) {
    case kAbortTask: response = abort_task(pdu, tmf.drain); break;
    case kAbortTaskSet: response = abort_task_set(lun, tmf.drain); break;
    case kClearTaskSet: response = clear_task_set(lun, tmf.drain); break;
    case kLunReset: response = lun_reset(lun, tmf.drain); break;
    case kTargetWarmReset:
    case kTargetColdReset:
      target_reset(function == kTargetColdReset, tmf.drain);
      tmf.close_after = function == kTargetColdReset;
      break;
    case kTaskReassign: response = kTmfReassignNotSupported; break;
    case kClearAca:
    default: response = kTmfNotSupported; break;
  }
  tmf.response.bhs[2] = response;
  tmf.drain->then = [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->finish_tmfs();
  };
  pending_tmfs_.push_back(std::move(tmf));
  finish_tmfs();
}

uint8_t Connection::abort_task(const Pdu& pdu, const std::shared_ptr<Drain>& drain) {
  const auto it = tasks_.find(pdu.field32(20));
  if (it != tasks_.end() && it->second->lun == lun_of(pdu)) {
    const Task* victim = it->second.get();
    const TaskFilter just_it = [victim](const Task& t) { return &t == victim; };
    abort_tasks(just_it);
    wait_for_running(*session_, just_it, drain);
    return kTmfComplete;
  }
  // Not here: if its CmdSN is in the window and before this request's,
  // it is taken as received and ended (RFC 7143 11.5.1).
  const uint32_t ref = pdu.field32(32), own = pdu.field32(24);
  const bool in_window = !sn_before(ref, exp_cmd_sn_) && sn_before(ref, own) &&
                         !early_cmd_sns_.count(ref);
  if (!in_window) return kTmfNoTask;
  take_cmd_sn(ref);
  return kTmfComplete;
}

uint8_t Connection::abort_task_set(uint64_t lun, const std::shared_ptr<Drain>& drain) {
  scsi::LogicalUnit* unit = login_.target()->luns->find(lun);
  if (unit == nullptr) return kTmfNoLun;
  const TaskFilter on_unit = [unit](const Task& t) { return t.unit == unit; };
  abort_tasks(on_unit);
  wait_for_running(*session_, on_unit, drain);
  return kTmfComplete;
}

uint8_t Connection::clear_task_set(uint64_t lun, const std::shared_ptr<Drain>& drain) {
  scsi::LogicalUnit* unit = login_.target()->luns->find(lun);
  if (unit == nullptr) return kTmfNoLun;
  const std::vector<uint64_t> cleared = abort_everywhere(
      [unit](const Task& t) { return t.unit == unit; }, drain);
  // Their initiators learn of it by COMMANDS CLEARED BY ANOTHER INITIATOR
  // (SAM-5 5.6: with TAS 0 they end without status).
  for (uint64_t nexus : cleared) unit->commands_cleared(nexus);
  OFFCOPY_TLOG(info, "CLEAR TASK SET of %s LUN %u by %s: %zu other session(s) lost commands",
               login_.target()->iqn.c_str(), unsigned(scsi::lun_number(lun).value_or(0)),
               login_.initiator_name().c_str(), cleared.size());
  return kTmfComplete;
}

uint8_t Connection::lun_reset(uint64_t lun, const std::shared_ptr<Drain>& drain) {
  scsi::LogicalUnit* unit = login_.target()->luns->find(lun);
  if (unit == nullptr) return kTmfNoLun;
  abort_everywhere([unit](const Task& t) { return t.unit == unit; }, drain);
  unit->reset(nexus_);
  OFFCOPY_TLOG(info, "LUN reset of %s LUN %u by %s", login_.target()->iqn.c_str(),
               unsigned(scsi::lun_number(lun).value_or(0)), login_.initiator_name().c_str());
  return kTmfComplete;
}

void Connection::target_reset(bool cold, const std::shared_ptr<Drain>& drain) {
  const TargetConfig* target = login_.target();
  abort_everywhere(any_task, drain);
  for (const auto& [n, unit] : target->luns->units()) unit->reset(nexus_);
  if (cold) {
    for (const auto& s : services_.sessions->select(
             [target](const Session& s) { return s.target == target && s.live(); })) {
      if (s->connection != this) s->connection->terminate();
    }
  }
  OFFCOPY_TLOG(info, "target %s reset of %s by %s", cold ? "cold" : "warm", target->iqn.c_str(),
               login_.initiator_name().c_str());
}

std::vector<uint64_t> Connection::abort_everywhere(const TaskFilter& pred,
                                                   const std::shared_ptr<Drain>& drain) {
  const TargetConfig* target = login_.target();
  std::vector<uint64_t> others;
  for (const auto& s :
       services_.sessions->select([target](const Session& s) { return s.target == target; })) {
    if (Connection* c = s->connection; c != nullptr && c->abort_tasks(pred) > 0 && c != this) {
      others.push_back(s->nexus);
      c->announce_window();  // its aborted commands get no response to carry it
    }
    wait_for_running(*s, pred, drain);
  }
  return others;
}

size_t Connection::abort_tasks(const TaskFilter& pred) {
  std::vector<std::shared_ptr<Task>> victims;
  for (const auto& [itt, t] : tasks_) {
    if (pred(*t)) victims.push_back(t);
  }
  // All marked first, so none of them is admitted to a buffer as another
  // one frees its own.
  for (const auto& t : victims) t->aborted = true;
  // A command that can run long (a copy) stops at its next step.
  for (const auto& t : victims) {
    if (t->command.abort) t->command.abort->request();
  }
  for (const auto& t : victims) forget(*t);
  if (!victims.empty()) admit_waiting();
  return victims.size();
}

void Connection::terminate() {
  abort_tasks(any_task);
  pending_tmfs_.clear();
  login_reply_.reset();
  text_reply_.reset();
  end();
}

void Connection::leave_session() {
  if (session_ && session_->connection == this) session_->connection = nullptr;
}

void Connection::finish_tmfs() {
  while (!pending_tmfs_.empty() && pending_tmfs_.front().drain->pending == 0) {
    PendingTmf tmf = std::move(pending_tmfs_.front());
    pending_tmfs_.erase(pending_tmfs_.begin());
    fill_sns(tmf.response, true);
    link_.send(frame(std::move(tmf.response), params_.digests));
    if (tmf.close_after) return end();
  }
}

void Connection::reject(const Pdu& pdu, uint8_t reason) {
  OFFCOPY_TLOG(debug, "Reject (reason %#x) of opcode %#x ITT %#x", reason, unsigned(pdu.opcode()),
               pdu.itt());
  Pdu r;
  r.set_opcode(Opcode::reject);
  r.bhs[1] = kFinal;
  r.bhs[2] = reason;
  r.set_field32(16, kNoTag);
  fill_sns(r, true);
  r.data.assign(pdu.bhs.begin(), pdu.bhs.end());  // the header rejected
  link_.send(frame(std::move(r), params_.digests));
}

void Connection::tick(Clock::time_point now) {
  if (finished_ || closed_ || login_reply_) return;
  const auto interval = std::chrono::seconds(services_.options->nop_interval_s);
  if (!login_.complete()) {
    // A login that never finishes holds nothing for long: timed from the
    // connection's start, so one trickled a byte at a time ends too.
    if (now - started_ > std::chrono::seconds(30)) {
      OFFCOPY_TLOG(info, "%s: login timed out", link_.peer_address().c_str());
      end();
    }
    return;
  }
  if (interval.count() == 0) return;
  if (ping_ttt_) {
    if (now - ping_sent_ > interval) {
      OFFCOPY_TLOG(warning, "%s did not answer a NOP-In in %us; dropping the connection",
                   login_.initiator_name().c_str(), services_.options->nop_interval_s);
      end();
    }
    return;
  }
  if (now - last_heard_ < interval) return;
  uint32_t ttt = next_ttt_++;
  if (ttt == kNoTag) ttt = next_ttt_++;
  ping_ttt_ = ttt;
  ping_sent_ = now;
  Pdu in;
  in.set_opcode(Opcode::nop_in);
  in.bhs[1] = kFinal;
  in.set_field32(16, kNoTag);
  in.set_field32(20, ttt);
  fill_sns(in, false);  // a ping from the target does not advance StatSN
  link_.send(frame(std::move(in), params_.digests));
}

void Connection::end() {
  if (finished_) return;
  finished_ = true;
  // Its commands will get no response now: aborted, so that a reset or a
  // reinstatement waits for those still on a unit; and its nexus is gone
  // (a RESERVE ends) now, not when the peer has taken the last PDUs.
  abort_tasks(any_task);
  leave_session();
  forget_nexus();
  link_.close_after_send();
}

void Connection::forget_nexus() {
  if (nexus_ == 0 || login_.target() == nullptr) return;
  for (const auto& [n, unit] : login_.target()->luns->units()) unit->forget(nexus_);
}

void Connection::closed() {
  if (closed_) return;
  closed_ = true;
  // Its commands end unanswered; those on a unit stay in the session's
  // `running` (the session draining in the registry) until they end.
  for (auto& [itt, task] : tasks_) {
    task->aborted = true;
    if (task->command.abort) task->command.abort->request();
  }
  tasks_.clear();
  waiting_for_room_.clear();
  pending_tmfs_.clear();
  login_reply_.reset();
  leave_session();
  forget_nexus();
}

}  // namespace offcopy::iscsi
