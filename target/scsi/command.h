// What target/scsi takes and gives: a CDB with its data-out in, a status
// with its sense and data-in out.  Nothing here knows of iSCSI (or of any
// transport): target/iscsi turns PDUs into these and back.
//
// Thread-safety: plain values.
#ifndef OFFCOPY_TARGET_SCSI_COMMAND_H_
#define OFFCOPY_TARGET_SCSI_COMMAND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace offcopy::scsi {

// SAM-5 status codes (the ones this target returns).
enum class Status : uint8_t {
  good = 0x00,
  check_condition = 0x02,
  busy = 0x08,
  reservation_conflict = 0x18,
  task_set_full = 0x28,
};

class LunMap;

// How the transport tells a running command that it has been aborted
// (ABORT TASK, a reset, the session's end): a command that can take long
// -- a third-party copy -- registers what stops it, and stops at its next
// step.  Commands that end quickly ignore it; the transport waits for
// them.
class AbortSignal {
 public:
  // Runs the registered stop (once), now or never again.
  void request() {
    std::function<void()> stop;
    {
      std::lock_guard lock(mu_);
      if (requested_) return;
      requested_ = true;
      stop = std::move(stop_);
    }
    if (stop) stop();
  }
  bool requested() const {
    std::lock_guard lock(mu_);
    return requested_;
  }
  // `stop` replaces what was registered; it runs at once if the abort
  // came first.  It must be quick: it runs on the transport's thread.
  void on_request(std::function<void()> stop) {
    {
      std::lock_guard lock(mu_);
      if (!requested_) {
        stop_ = std::move(stop);
        return;
      }
    }
    stop();
  }

 private:
  mutable std::mutex mu_;
  bool requested_ = false;
  std::function<void()> stop_;
};

struct Command {
  std::span<const uint8_t> cdb;       // 6 to 16 bytes as received
  std::span<const uint8_t> data_out;  // what the initiator sent with it
  // The initiator's expected data-in length: the data-in of a command
  // with an allocation length is cut to it too.  A READ's is not: its
  // blocks are what it has, and the transport reports the overflow.
  uint32_t allocation_limit = UINT32_MAX;
  // The I_T nexus (an iSCSI session) that sent it: unit attentions are
  // kept per nexus (SAM-5 5.14).
  uint64_t nexus = 0;
  // The SCSI initiator port it came through, by name (for iSCSI,
  // "InitiatorName,i,0xISID": RFC 7143 4.2.7.1).  Persistent reservations
  // are held by it, so a reinstated session keeps its registrations.
  // Valid, like the spans, until the command's completion has run.
  std::string_view initiator_port;
  // The units the nexus may reach -- its target's LUNs, which its ACL
  // let it log in to.  A copy descriptor names a unit only among these
  // (CVE-2020-28374 was a copy that reached further); null: only the unit
  // the command was sent to.
  const LunMap* units = nullptr;
  // Set by the transport, if it can abort the command while it runs.
  std::shared_ptr<AbortSignal> abort;
};

struct Result {
  Status status = Status::good;
  std::vector<uint8_t> sense;    // fixed-format sense data (SPC-4 4.5.3)
  std::vector<uint8_t> data_in;  // at most the CDB's allocation length
  // The data-out the CDB asked for, when the command took data-out: the
  // transport reports the difference from what it was sent as a residual
  // (RFC 7143 11.4.5).  Unset: what was sent was what it wanted.
  std::optional<uint32_t> data_out_wanted;
};

// How a command that waits for the backing file ends: called exactly
// once, on whichever thread finished it (the caller's own for a command
// answered at once, an I/O thread's otherwise).
using Completion = std::function<void(Result)>;

// Big-endian fields of a CDB or parameter list, as SCSI lays them out.
inline uint16_t be16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}
inline uint32_t be32(std::span<const uint8_t> b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
inline uint64_t be64(std::span<const uint8_t> b, size_t at) {
  return uint64_t{be32(b, at)} << 32 | be32(b, at + 4);
}
inline void put_be16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}
inline void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  put_be16(b, at, static_cast<uint16_t>(v >> 16));
  put_be16(b, at + 2, static_cast<uint16_t>(v));
}
inline void put_be64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  put_be32(b, at, static_cast<uint32_t>(v >> 32));
  put_be32(b, at + 4, static_cast<uint32_t>(v));
}

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_COMMAND_H_
