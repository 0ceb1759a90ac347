#include "iscsi/login.h"

#include <algorithm>

#include "iscsi/chap.h"
#include "util/log.h"

namespace offcopy::iscsi {
namespace {

constexpr uint8_t kTransit = 0x80;
constexpr uint8_t kContinue = 0x40;
constexpr int kFullFeaturePhase = 3;

// The 16 MiB - 1 ceiling of every length key (RFC 7143 13.12-13.14).
constexpr uint64_t kMaxLength = (1u << 24) - 1;

// The target's CHAP challenge: RFC 1994 asks for one at least as long as
// the digest; 32 bytes covers SHA-256 and is what libiscsi sends.
constexpr size_t kChallengeSize = 32;
// The longest challenge an initiator may send for mutual CHAP (RFC 7143
// 12.1.3 caps binary values at 1024 bytes).
constexpr size_t kMaxChallenge = 1024;

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= value.size()) {
    const size_t comma = std::min(value.find(',', at), value.size());
    out.push_back(value.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

std::optional<bool> parse_bool(const std::string& v) {
  if (v == "Yes") return true;
  if (v == "No") return false;
  return std::nullopt;
}

const char* yes_no(bool b) { return b ? "Yes" : "No"; }

bool contains(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

const std::string* find_key(const KeyValues& kv, const std::string& key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return &v;
  }
  return nullptr;
}

}  // namespace

Login::Login(const ServerOptions& options, const std::vector<TargetConfig>& targets, uint16_t tsih,
             const SessionDirectory* sessions)
    : options_(options), targets_(targets), sessions_(sessions), tsih_(tsih) {
  params_.recv_max_data = options.max_recv_data_segment;
}

Pdu Login::refuse(const Pdu& request, LoginStatus status) {
  failed_ = true;
  Pdu r;
  r.set_opcode(Opcode::login_response);
  r.bhs[1] = request.bhs[1] & 0x0c;  // CSG as received, no transit
  std::copy(request.bhs.begin() + 8, request.bhs.begin() + 14, r.bhs.begin() + 8);
  r.set_field32(16, request.itt());
  r.set_field32(24, stat_sn_++);
  r.set_field32(28, exp_cmd_sn_);
  r.set_field32(32, exp_cmd_sn_);
  r.bhs[36] = status.cls;
  r.bhs[37] = status.detail;
  OFFCOPY_TLOG(info, "login refused (status %02x%02x) from %s", status.cls, status.detail,
               initiator_name_.empty() ? "an unnamed initiator" : initiator_name_.c_str());
  return r;
}

Pdu Login::respond(const Pdu& request) {
  if (complete_ || failed_ || request.opcode() != Opcode::login) {
    return refuse(request, kInvalidDuringLogin);
  }
  const uint8_t flags = request.bhs[1];
  const bool transit = flags & kTransit;
  const bool more = flags & kContinue;
  const int csg = (flags >> 2) & 3, nsg = flags & 3;
  if (first_) {
    std::copy(request.bhs.begin() + 8, request.bhs.begin() + 14, isid_.begin());
    exp_cmd_sn_ = request.field32(24);
    stat_sn_ = request.field32(28);
    // Version 0 is the only one there is (RFC 7143 11.12.4).
    if (request.bhs[3] != 0) return refuse(request, kUnsupportedVersion);
    // Adding a connection to a session: MaxConnections is 1.
    const uint16_t tsih = static_cast<uint16_t>(request.bhs[14] << 8 | request.bhs[15]);
    if (tsih != 0) return refuse(request, tsih_refusal(tsih));
  } else if (csg != stage_) {
    return refuse(request, kInitiatorError);
  }
  if (csg == 2 || csg == kFullFeaturePhase || (transit && (nsg <= csg || nsg == 2)) ||
      (transit && more)) {
    return refuse(request, kInitiatorError);
  }
  stage_ = csg;

  Pdu r;
  r.set_opcode(Opcode::login_response);
  std::copy(isid_.begin(), isid_.end(), r.bhs.begin() + 8);
  r.set_field32(16, request.itt());

  pending_text_.insert(pending_text_.end(), request.data.begin(), request.data.end());
  if (pending_text_.size() > 64 * 1024) return refuse(request, kInitiatorError);
  if (more) {
    // The text goes on in the next request: an empty answer asks for it.
    r.bhs[1] = static_cast<uint8_t>(csg << 2);
  } else {
    KeyValues reply;
    LoginStatus status = kLoginOk;
    const KeyValues offered = parse_text(pending_text_);
    pending_text_.clear();
    if (!answer(offered, transit, reply, status)) return refuse(request, status);
    // Refused as early as the names are known, before any CHAP round trip.
    if (first_ && !has_room()) return refuse(request, kOutOfResources);
    if (first_ && !discovery_) {
      // Declared once, in a normal session's first response: an initiator
      // (UEFI's) refuses a login without it.
      reply.emplace_back("TargetPortalGroupTag", "1");
      if (target_ && !target_->alias.empty()) reply.emplace_back("TargetAlias", target_->alias);
    }
    first_ = false;
    // Until CHAP has succeeded the target stays in the security stage,
    // whatever the initiator asked (RFC 7143 12.1.3: the exchange takes
    // several round trips).
    const bool pending = auth_ != Auth::none && auth_ != Auth::done;
    const bool go = transit && !pending;
    // Checked again as the session starts: other logins may have taken
    // the room since the first request.
    if (go && nsg == kFullFeaturePhase && !has_room()) return refuse(request, kOutOfResources);
    if (go && nsg == kFullFeaturePhase && !answered_.count("MaxRecvDataSegmentLength")) {
      // The target's own limit, declared whether or not the initiator
      // declared one (a login that leaves it out is incomplete).
      answered_.insert("MaxRecvDataSegmentLength");
      reply.emplace_back("MaxRecvDataSegmentLength", std::to_string(params_.recv_max_data));
    }
    r.data = format_text(reply);
    r.bhs[1] = static_cast<uint8_t>((go ? kTransit : 0) | csg << 2 | (go ? nsg : 0));
    if (go) {
      stage_ = nsg;
      complete_ = nsg == kFullFeaturePhase;
    }
  }
  r.bhs[14] = static_cast<uint8_t>(complete_ ? tsih_ >> 8 : 0);
  r.bhs[15] = static_cast<uint8_t>(complete_ ? tsih_ : 0);
  r.set_field32(24, stat_sn_++);
  r.set_field32(28, exp_cmd_sn_);
  r.set_field32(32, exp_cmd_sn_ + options_.queue_depth - 1);
  if (complete_) {
    OFFCOPY_TLOG(info, "%s session from %s%s%s", discovery_ ? "discovery" : "normal",
                 initiator_name_.c_str(), discovery_ ? "" : " to ",
                 discovery_ ? "" : target_->iqn.c_str());
  }
  return r;
}

LoginStatus Login::tsih_refusal(uint16_t tsih) const {
  if (sessions_ != nullptr && sessions_->exists(tsih, isid_)) {
    OFFCOPY_TLOG(info, "a second connection to session %#x: MaxConnections is 1", tsih);
    return kTooManyConnections;
  }
  return kSessionDoesNotExist;
}

bool Login::has_room() const {
  if (sessions_ == nullptr || sessions_->has_room(initiator_name_, isid_, target_)) return true;
  OFFCOPY_TLOG(warning, "%s: no room for another session (max_sessions reached)",
               initiator_name_.c_str());
  return false;
}

bool Login::answer(const KeyValues& offered, bool transit, KeyValues& reply, LoginStatus& status) {
  std::string target_name;
  bool named_target = false;
  const std::string* methods = nullptr;
  KeyValues chap;  // answered once the target, and so its credentials, are known
  for (const auto& [key, value] : offered) {
    if (key == "InitiatorName") {
      // Only the first request names the initiator: the ACL was checked
      // against that name.
      if (first_) initiator_name_ = value;
    } else if (key == "InitiatorAlias") {
      // Declarative, for the log only.
    } else if (key == "SessionType") {
      if (value != "Discovery" && value != "Normal") {
        status = kSessionTypeNotSupported;
        return false;
      }
      // Only the first request says what the session is (the target and
      // its ACL were settled on it): a later one may repeat it, not change
      // it -- a discovery login turned normal would have no target.
      const bool discovery = value == "Discovery";
      if (!first_ && discovery != discovery_) {
        status = kInitiatorError;
        return false;
      }
      discovery_ = discovery;
    } else if (key == "TargetName") {
      target_name = value;
      named_target = true;
    } else if (key == "AuthMethod") {
      methods = &value;
    } else if (key.starts_with("CHAP_")) {
      chap.emplace_back(key, value);
    } else if (!answer_operational(key, value, reply)) {
      reply.emplace_back(key, "NotUnderstood");
    }
  }
  if (first_) {
    if (initiator_name_.empty()) {
      status = kMissingParameter;
      return false;
    }
    if (!discovery_) {
      if (!named_target) {
        status = kMissingParameter;
        return false;
      }
      for (const TargetConfig& t : targets_) {
        if (t.iqn == target_name) target_ = &t;
      }
      if (target_ == nullptr) {
        status = kTargetNotFound;
        return false;
      }
      // Both names are known: the ACL first, so that an initiator it
      // refuses learns nothing of the target's CHAP.
      if (!target_->admits(initiator_name_)) {
        OFFCOPY_TLOG(warning, "%s is not in the ACL of %s", initiator_name_.c_str(),
                     target_->iqn.c_str());
        status = kAuthorizationFailure;
        return false;
      }
      if (target_->auth.chap()) auth_ = Auth::method;
    }
  }
  return authenticate(methods, chap, transit, reply, status);
}

bool Login::auth_failed(const char* why, LoginStatus& status) {
  OFFCOPY_TLOG(warning, "CHAP login from %s to %s failed: %s", initiator_name_.c_str(),
               target_->iqn.c_str(), why);
  status = kAuthenticationFailure;
  return false;
}

bool Login::authenticate(const std::string* methods, const KeyValues& chap, bool transit,
                         KeyValues& reply, LoginStatus& status) {
  if (auth_ == Auth::none) {
    // No credentials (or a discovery session): None if it is offered.
    if (methods) {
      reply.emplace_back("AuthMethod", contains(split_list(*methods), "None") ? "None" : "Reject");
    }
    for (const auto& [key, value] : chap) reply.emplace_back(key, "NotUnderstood");
    return true;
  }
  // An initiator without credentials (libiscsi's) starts in the
  // operational stage: refused, as is any attempt to leave security early.
  if (stage_ != 0 && auth_ != Auth::done) {
    return auth_failed("the initiator did not authenticate (no CHAP credentials?)", status);
  }
  switch (auth_) {
    case Auth::method:
      if (!methods) {
        if (transit) return auth_failed("no AuthMethod offered", status);
        return true;  // it may come in a later request of the stage
      }
      if (!contains(split_list(*methods), "CHAP")) {
        return auth_failed("the initiator does not offer AuthMethod=CHAP", status);
      }
      reply.emplace_back("AuthMethod", "CHAP");
      auth_ = Auth::algorithm;
      // An initiator may send its CHAP_A along with the offer.
      return chap.empty() || authenticate(nullptr, chap, transit, reply, status);

    case Auth::algorithm: {
      const std::string* a = find_key(chap, "CHAP_A");
      if (methods || a == nullptr || chap.size() != 1) {
        return auth_failed("expected CHAP_A alone", status);
      }
      // The first of the initiator's list (its order of preference) that
      // this target computes; none is a failure (RFC 7143 12.1.3).
      for (const std::string& v : split_list(*a)) {
        const auto n = parse_number(v, 0, 255);
        if (n && chap::supported(static_cast<int>(*n))) {
          chap_algorithm_ = static_cast<int>(*n);
          break;
        }
      }
      if (chap_algorithm_ == 0) return auth_failed("no CHAP_A this target supports", status);
      chap_challenge_.resize(kChallengeSize);
      if (!chap::random_bytes(&chap_id_, 1) ||
          !chap::random_bytes(chap_challenge_.data(), chap_challenge_.size())) {
        OFFCOPY_TLOG(error, "getrandom failed: no CHAP challenge for %s", initiator_name_.c_str());
        status = kTargetError;
        return false;
      }
      reply.emplace_back("CHAP_A", std::to_string(chap_algorithm_));
      reply.emplace_back("CHAP_I", std::to_string(chap_id_));
      reply.emplace_back("CHAP_C", chap::encode_hex(chap_challenge_));
      auth_ = Auth::response;
      return true;
    }

    case Auth::response: {
      const std::string* n = find_key(chap, "CHAP_N");
      const std::string* r = find_key(chap, "CHAP_R");
      const std::string* i = find_key(chap, "CHAP_I");
      const std::string* c = find_key(chap, "CHAP_C");
      const size_t expected_keys = 2 + (i != nullptr) + (c != nullptr);
      if (methods || n == nullptr || r == nullptr || chap.size() != expected_keys) {
        return auth_failed("expected CHAP_N and CHAP_R", status);
      }
      const TargetAuth& auth = target_->auth;
      const auto response = chap::decode(*r);
      // The user is compared as bytes too: no early exit on a prefix.
      const std::vector<uint8_t> user(auth.user.begin(), auth.user.end()),
          offered_user(n->begin(), n->end());
      const bool user_ok = chap::equal(offered_user, user);
      const bool response_ok = response &&
                               chap::equal(*response, chap::response(chap_algorithm_, chap_id_,
                                                                     auth.secret, chap_challenge_));
      if (!user_ok) return auth_failed("unknown CHAP user", status);
      if (!response_ok) return auth_failed("wrong CHAP response (a wrong secret?)", status);
      if (i || c) {
        // The initiator authenticates the target in turn.
        if (!i || !c) return auth_failed("mutual CHAP needs both CHAP_I and CHAP_C", status);
        if (!auth.mutual()) {
          return auth_failed("the initiator asks for mutual CHAP; the target has no mutual_user",
                             status);
        }
        const auto id = parse_number(*i, 0, 255);
        const auto challenge = chap::decode(*c);
        if (!id || !challenge || challenge->size() > kMaxChallenge) {
          return auth_failed("a malformed mutual CHAP_I or CHAP_C", status);
        }
        // Answering our own challenge would hand the initiator the
        // response it owes us (a reflection attack).
        if (chap::equal(*challenge, chap_challenge_)) {
          return auth_failed("the mutual challenge is the target's own (reflection)", status);
        }
        reply.emplace_back("CHAP_N", auth.mutual_user);
        reply.emplace_back(
            "CHAP_R", chap::encode_hex(chap::response(chap_algorithm_, static_cast<uint8_t>(*id),
                                                      auth.mutual_secret, *challenge)));
      }
      OFFCOPY_TLOG(debug, "CHAP: %s authenticated to %s%s", initiator_name_.c_str(),
                   target_->iqn.c_str(), i ? " (mutual)" : "");
      auth_ = Auth::done;
      return true;
    }

    case Auth::done:
    case Auth::none:
      if (methods || !chap.empty()) return auth_failed("CHAP keys after authentication", status);
      return true;
  }
  return true;
}

bool Login::answer_operational(const std::string& key, const std::string& value, KeyValues& reply) {
  const auto reject = [&] { reply.emplace_back(key, "Reject"); };
  const auto number = [&](uint64_t lo, uint64_t hi) { return parse_number(value, lo, hi); };
  if (key == "HeaderDigest" || key == "DataDigest") {
    // The first value of the initiator's list this target supports.
    for (const std::string& v : split_list(value)) {
      if (v == "None" || v == "CRC32C") {
        (key == "HeaderDigest" ? params_.digests.header : params_.digests.data) = v == "CRC32C";
        reply.emplace_back(key, v);
        return true;
      }
    }
    reject();
  } else if (key == "MaxRecvDataSegmentLength") {
    // Declarative: what this target may send in one PDU.
    if (const auto n = number(512, kMaxLength)) {
      params_.send_max_data = static_cast<uint32_t>(*n);
    } else {
      reject();
      return true;
    }
    if (answered_.insert(key).second) {
      reply.emplace_back(key, std::to_string(params_.recv_max_data));
    }
  } else if (key == "InitialR2T" || key == "DataPDUInOrder" || key == "DataSequenceInOrder") {
    // OR: this target takes either, except that it asks for InitialR2T
    // only as configured.
    const auto b = parse_bool(value);
    if (!b) return reject(), true;
    const bool ours = key == "InitialR2T" ? options_.initial_r2t : true;
    const bool result = *b || ours;
    if (key == "InitialR2T") params_.initial_r2t = result;
    if (key == "DataPDUInOrder") params_.data_pdu_in_order = result;
    if (key == "DataSequenceInOrder") params_.data_sequence_in_order = result;
    reply.emplace_back(key, yes_no(result));
  } else if (key == "ImmediateData" || key == "IFMarker" || key == "OFMarker") {
    // AND.
    const auto b = parse_bool(value);
    if (!b) return reject(), true;
    const bool result = *b && key == "ImmediateData" && options_.immediate_data;
    if (key == "ImmediateData") params_.immediate_data = result;
    reply.emplace_back(key, yes_no(result));
  } else if (key == "FirstBurstLength" || key == "MaxBurstLength") {
    const auto n = number(512, kMaxLength);
    if (!n) return reject(), true;
    const uint32_t ours = key == "FirstBurstLength" ? options_.first_burst : options_.max_burst;
    const uint32_t result = std::min<uint32_t>(ours, static_cast<uint32_t>(*n));
    (key == "FirstBurstLength" ? params_.first_burst : params_.max_burst) = result;
    reply.emplace_back(key, std::to_string(result));
  } else if (key == "MaxOutstandingR2T") {
    const auto n = number(1, 65535);
    if (!n) return reject(), true;
    params_.max_outstanding_r2t = std::min<uint32_t>(options_.max_outstanding_r2t,
                                                     static_cast<uint32_t>(*n));
    reply.emplace_back(key, std::to_string(params_.max_outstanding_r2t));
  } else if (key == "ErrorRecoveryLevel") {
    if (!number(0, 2)) return reject(), true;
    reply.emplace_back(key, "0");  // min with this target's 0
  } else if (key == "MaxConnections") {
    if (!number(1, 65535)) return reject(), true;
    reply.emplace_back(key, "1");
  } else if (key == "DefaultTime2Wait") {
    const auto n = number(0, 3600);
    if (!n) return reject(), true;
    reply.emplace_back(key, std::to_string(std::max<uint64_t>(*n, 2)));
  } else if (key == "DefaultTime2Retain") {
    const auto n = number(0, 3600);
    if (!n) return reject(), true;
    reply.emplace_back(key, std::to_string(std::min<uint64_t>(*n, 20)));
  } else if (key == "IFMarkInt" || key == "OFMarkInt") {
    reply.emplace_back(key, "Irrelevant");  // markers are off
  } else if (key == "iSCSIProtocolLevel") {
    const auto n = number(0, 31);
    if (!n) return reject(), true;
    reply.emplace_back(key, std::to_string(std::min<uint64_t>(*n, 1)));  // RFC 7143
  } else if (key == "TaskReporting") {
    reply.emplace_back(key, "RFC3720");
  } else {
    return false;
  }
  return true;
}

}  // namespace offcopy::iscsi
