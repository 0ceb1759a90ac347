// A unit's reservations: SPC-4's persistent reservations (PERSISTENT
// RESERVE IN/OUT, 5.13 and 6.15-6.16) and SPC-2's RESERVE/RELEASE, and
// the one question every other command asks of them: may this I_T nexus
// do that now, or is it a RESERVATION CONFLICT?
//
// Persistent reservations belong to initiator ports (for iSCSI the
// InitiatorName and ISID), so a session that is reinstated, or that
// reconnects, keeps its registrations; they survive LUN and target resets.
// When the last REGISTER asked for it (APTPL), they are kept in a file
// beside the backing file and survive a restart of the target too.  An
// SPC-2 reservation belongs to one I_T nexus and ends with it, and with
// any reset.
//
// Not built: REGISTER AND MOVE and SPEC_I_PT (registering other ports by
// TransportID; REPORT CAPABILITIES says SIP_C 0, the service action is
// refused).  PREEMPT AND ABORT lets the preempted nexuses' running
// commands finish rather than aborting them, and answers only once they
// have (Plan::drain_earlier): after its GOOD none of them can write.
//
// Thread-safety: every member may be called from any thread.
#ifndef OFFCOPY_TARGET_SCSI_RESERVATIONS_H_
#define OFFCOPY_TARGET_SCSI_RESERVATIONS_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scsi/command.h"
#include "scsi/sense.h"

namespace offcopy::scsi {

// What a command does, as reservations judge it (SPC-4 5.13.1, table 47;
// SBC-3 4.17): the classes differ in which reservations they pass.
enum class Access : uint8_t {
  // Passes every reservation: INQUIRY, REPORT LUNS, REQUEST SENSE, the
  // MAINTENANCE IN reports, and RESERVE/RELEASE, which judge themselves.
  free,
  // Passes a persistent reservation, not another nexus's RESERVE: TEST
  // UNIT READY, READ CAPACITY.
  query,
  // PERSISTENT RESERVE IN and OUT: they judge persistent reservations
  // themselves, and conflict with any RESERVE, even their own nexus's
  // (SPC-4 5.13.3).
  persistent,
  // Reads the medium or the unit's settings: passes Write Exclusive.
  read,
  // Changes the medium or the unit's state: passes only for the holder
  // (and, for the registrants-only and all-registrants types, registrants).
  write,
};

// A unit attention PERSISTENT RESERVE OUT owes the initiator port `port`
// (RESERVATIONS PREEMPTED, RESERVATIONS RELEASED, REGISTRATIONS PREEMPTED).
struct PortNotice {
  std::string port;
  Asc asc;
};

class Reservations {
 public:
  // `file`: where APTPL state is kept (read now, if it exists); empty: a
  // unit that cannot persist them (REPORT CAPABILITIES says PTPL_C 0).
  explicit Reservations(std::string file);

  Reservations(const Reservations&) = delete;
  Reservations& operator=(const Reservations&) = delete;

  // Whether a command of class `access` from `cmd`'s nexus conflicts with
  // the reservations in force.
  bool conflicts(const Command& cmd, Access access) const;

  // PERSISTENT RESERVE IN: READ KEYS, READ RESERVATION, REPORT
  // CAPABILITIES, READ FULL STATUS.
  Result persistent_reserve_in(const Command& cmd) const;
  // PERSISTENT RESERVE OUT; `notices` gets the unit attentions it owes
  // other initiator ports.  Writes the APTPL file when asked to (blocks:
  // run it off the event loop; conflicts() does not wait for it).
  Result persistent_reserve_out(const Command& cmd, std::vector<PortNotice>& notices);

  // RESERVE (6/10) and RELEASE (6/10), SPC-2 7.21-7.24.
  Result reserve(const Command& cmd);
  Result release(const Command& cmd);

  // A nexus ended (logout, lost connection): its RESERVE goes.
  void nexus_lost(uint64_t nexus);
  // A LUN or target reset: a RESERVE goes; persistent reservations stay.
  void reset();

  // What loading the APTPL file found wrong ("" when nothing was): the
  // unit starts without the state it could not read.
  const std::string& load_error() const { return load_error_; }

 private:
  struct Registrant {
    std::string port;
    uint64_t key;
  };
  // Everything PERSISTENT RESERVE OUT changes, as a value: a command
  // changes a copy and keeps it only once it is persisted.
  struct State {
    uint32_t generation = 0;
    std::vector<Registrant> registrants;  // in registration order
    bool aptpl = false;
    // The persistent reservation: its type, and its holder (empty for the
    // all-registrants types, where every registrant holds it).
    std::optional<uint8_t> type;
    std::string holder;
  };

  static const Registrant* find(const State& s, std::string_view port);
  static bool all_registrants(uint8_t type);
  static bool holds(const State& s, std::string_view port);
  // The key READ RESERVATION and READ FULL STATUS report for the holder.
  static uint64_t holder_key(const State& s);

  Result register_key(State& s, const Command& cmd, std::string_view port, bool ignore_key,
                      std::vector<PortNotice>& notices);
  Result preempt(State& s, const Command& cmd, std::string_view port,
                 std::vector<PortNotice>& notices);
  void unregister(State& s, std::string_view port, std::vector<PortNotice>& notices);

  // Tells every registrant but `port` that the reservation it had
  // access through is gone (RESERVATIONS RELEASED).
  static void tell_released(const State& s, std::string_view port,
                            std::vector<PortNotice>& notices);

  // The APTPL file, written whole and renamed into place, or removed;
  // 0 or an errno.
  int save(const State& s) const;
  int remove_file() const;
  void load();

  const std::string file_;
  std::string load_error_;
  // Taken first by every command that changes reservations, and held
  // while the APTPL file is written, so they run one at a time; mu_ is
  // held only to read or swap the state, never across a disk write, so
  // the commands that only ask (conflicts(), on the event loop) never
  // wait for one.
  std::mutex change_mu_;
  mutable std::mutex mu_;
  State state_;                          // guarded by mu_; replaced under change_mu_ too
  std::optional<uint64_t> spc2_holder_;  // the nexus holding a RESERVE; guarded by mu_
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_RESERVATIONS_H_
