// The login phase of one connection (RFC 7143 6.3, 13): the Login
// Requests in, the Login Responses out, and what they settle -- the
// session type, the target, and the operational parameters the
// connection then runs by.
//
// Negotiation follows RFC 7143 13 and libiscsi/tgt in practice: for a
// list key (the digests) the target takes the first value of the
// initiator's list that it supports; numbers take the min (or max) the
// key's rule names; booleans AND or OR; declarative keys are taken as
// given; a key this target does not know is answered NotUnderstood, a
// malformed value Reject.  The target always declares its own
// MaxRecvDataSegmentLength, and TargetPortalGroupTag in a normal session.
//
// Security (RFC 7143 12.1.3): a normal session to a target with CHAP
// credentials must take AuthMethod=CHAP and prove the secret before the
// login leaves the security stage; the initiator may ask the target to
// prove its own (mutual CHAP).  A target's ACL is checked as soon as both
// names are known, before any CHAP.  Every failure is status 0x0201
// (authentication) or 0x0202 (authorization); the log says why, and never
// holds a secret or a response.
//
// Sessions (RFC 7143 6.3): the leading login names a new session (TSIH
// 0).  One with the InitiatorName, ISID and target of a session already
// logged in reinstates it (the connection closes that session once the
// login is complete: connection.h).  A nonzero TSIH would add a
// connection to a session, which MaxConnections=1 does not allow: 0x0206
// (too many connections) when the session exists, 0x020a (session does
// not exist) when it does not.  When the server holds max_sessions
// sessions already, a new one is refused with 0x0302 (out of resources:
// "the target has insufficient session, connection, or other resources",
// RFC 7143 11.13.5), both at the first request and, since other logins
// may have finished meanwhile, at the last.
//
// Thread-safety: belongs to one connection's thread.
#ifndef OFFCOPY_TARGET_ISCSI_LOGIN_H_
#define OFFCOPY_TARGET_ISCSI_LOGIN_H_

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "iscsi/pdu.h"
#include "iscsi/server.h"
#include "iscsi/text.h"

namespace offcopy::iscsi {

// The initiator's part of a session identifier (RFC 7143 11.12.5).
using Isid = std::array<uint8_t, 6>;

// What the login settled, for the rest of the connection.
struct SessionParams {
  Digests digests;
  uint32_t send_max_data = 8192;  // the initiator's MaxRecvDataSegmentLength
  uint32_t recv_max_data = 8192;  // the target's
  bool initial_r2t = true;
  bool immediate_data = true;
  uint32_t first_burst = 65536;
  uint32_t max_burst = 262144;
  uint32_t max_outstanding_r2t = 1;
  bool data_pdu_in_order = true;
  bool data_sequence_in_order = true;
};

// Login status class and detail (RFC 7143 11.13.5).
struct LoginStatus {
  uint8_t cls = 0, detail = 0;
};
inline constexpr LoginStatus kLoginOk{0, 0};
inline constexpr LoginStatus kInitiatorError{2, 0x00};
inline constexpr LoginStatus kAuthenticationFailure{2, 0x01};
inline constexpr LoginStatus kAuthorizationFailure{2, 0x02};
inline constexpr LoginStatus kTargetNotFound{2, 0x03};
inline constexpr LoginStatus kUnsupportedVersion{2, 0x05};
inline constexpr LoginStatus kTooManyConnections{2, 0x06};
inline constexpr LoginStatus kMissingParameter{2, 0x07};
inline constexpr LoginStatus kSessionTypeNotSupported{2, 0x09};
inline constexpr LoginStatus kSessionDoesNotExist{2, 0x0a};
inline constexpr LoginStatus kInvalidDuringLogin{2, 0x0b};
inline constexpr LoginStatus kTargetError{3, 0x00};
inline constexpr LoginStatus kOutOfResources{3, 0x02};

// What a login asks of the sessions the server holds.  The server's
// registry answers (connection.h); a login without one (nullptr) knows of
// no session and has room for any.
class SessionDirectory {
 public:
  virtual ~SessionDirectory() = default;
  // A logged-in session has this TSIH and ISID.
  virtual bool exists(uint16_t tsih, const Isid& isid) const = 0;
  // A new session of `initiator` with `isid` to `target` (null: a
  // discovery session) fits under the server's limit.  One that would
  // reinstate a session (the same three, RFC 7143 6.3.5) replaces it, so
  // it always fits.
  virtual bool has_room(const std::string& initiator, const Isid& isid,
                        const TargetConfig* target) const = 0;
};

class Login {
 public:
  // `targets` (and `sessions`, if any) must outlive the login; `tsih` is
  // the session identifying handle the login gives a new session.
  Login(const ServerOptions& options, const std::vector<TargetConfig>& targets, uint16_t tsih,
        const SessionDirectory* sessions = nullptr);

  // One Login Request in, the Login Response to send.
  Pdu respond(const Pdu& request);

  // The last response moved the connection to the full feature phase.
  bool complete() const { return complete_; }
  // The last response refused the login: send it, then close.
  bool failed() const { return failed_; }

  const SessionParams& params() const { return params_; }
  bool discovery() const { return discovery_; }
  const TargetConfig* target() const { return target_; }
  const std::string& initiator_name() const { return initiator_name_; }
  const Isid& isid() const { return isid_; }
  uint16_t tsih() const { return tsih_; }
  // The CmdSN the first command will carry, and the next StatSN.
  uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
  uint32_t stat_sn() const { return stat_sn_; }

 private:
  Pdu refuse(const Pdu& request, LoginStatus status);
  // The pairs of one stage's text, answered; false with `status` set if
  // the login cannot go on.
  bool answer(const KeyValues& offered, bool transit, KeyValues& reply, LoginStatus& status);
  // The security stage's AuthMethod and CHAP_* keys, answered as the
  // CHAP exchange stands; false with `status` set on a failure.
  bool authenticate(const std::string* methods, const KeyValues& chap, bool transit,
                    KeyValues& reply, LoginStatus& status);
  bool auth_failed(const char* why, LoginStatus& status);
  bool answer_operational(const std::string& key, const std::string& value, KeyValues& reply);
  // What a nonzero TSIH in the leading login is refused with.
  LoginStatus tsih_refusal(uint16_t tsih) const;
  // The server has room for the session this login would make.
  bool has_room() const;

  const ServerOptions& options_;
  const std::vector<TargetConfig>& targets_;
  const SessionDirectory* sessions_;
  SessionParams params_;
  std::set<std::string> answered_;     // keys negotiated already
  std::vector<uint8_t> pending_text_;  // a request continued (C bit)
  int stage_ = -1;                     // CSG of the last request; -1 before the first
  bool first_ = true;
  bool complete_ = false, failed_ = false;
  bool discovery_ = false;
  const TargetConfig* target_ = nullptr;
  // Where the CHAP exchange is: not needed, or waiting for the
  // initiator's AuthMethod, then CHAP_A, then CHAP_N/CHAP_R, then done.
  enum class Auth { none, method, algorithm, response, done };
  Auth auth_ = Auth::none;
  int chap_algorithm_ = 0;
  uint8_t chap_id_ = 0;
  std::vector<uint8_t> chap_challenge_;
  std::string initiator_name_;
  Isid isid_{};
  uint16_t tsih_;
  uint32_t exp_cmd_sn_ = 0, stat_sn_ = 0;
};

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_LOGIN_H_
