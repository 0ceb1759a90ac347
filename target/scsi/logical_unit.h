// One logical unit as SCSI sees it: a direct-access block device (SBC-3)
// whose blocks are a backing file's bytes, and the commands of SPC-4 and
// SBC-3 a block device is expected to have (docs/target.md lists them).
// Any other command is refused with ILLEGAL REQUEST / INVALID COMMAND
// OPERATION CODE, never silence.
//
// A command that needs the backing file (READ, WRITE, SYNCHRONIZE CACHE,
// UNMAP, WRITE SAME, GET LBA STATUS) runs on an IoPool thread, so the
// caller's event loop never waits on a disk; the rest are answered at
// once, on the caller's thread.
//
// Thread-safety: submit() may be called from several threads at once;
// the unit's description does not change after open, and the unit
// attentions pending per nexus are guarded.
#ifndef OFFCOPY_TARGET_SCSI_LOGICAL_UNIT_H_
#define OFFCOPY_TARGET_SCSI_LOGICAL_UNIT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "scsi/command.h"

namespace offcopy::scsi {

class BackingFile;
class CopyEngine;
class IoPool;

// What INQUIRY says of a unit.
struct Identity {
  std::string vendor = "OFFCOPY";          // T10 vendor id, 8 bytes (space padded)
  std::string product = "offcopy-target";  // 16 bytes
  std::string revision = "0001";           // 4 bytes
  std::string serial;                      // VPD page 0x80
  // An NAA-6 designator (VPD page 0x83), unique per unit and the same
  // across restarts: initiators (multipath, ESXi, copy descriptors) name
  // a unit by it.
  std::array<uint8_t, 16> naa{};
};

// An Identity whose serial and NAA designator are derived from `name`
// (e.g. "TARGET-IQN,LUN"): the same name gives the same identity.
Identity identity_for(const std::string& name);

// How a unit is served (the --lun flag and the config file say it).
struct UnitOptions {
  uint32_t block_size = 512;  // 512 or 4096
  bool read_only = false;     // writes get DATA PROTECT / WRITE PROTECTED
  bool write_cache = true;    // off: every write is fdatasync'ed before GOOD
  // Where persistent reservations are kept when an initiator asks for
  // them to survive a restart (APTPL); empty: they never do.
  std::string reservations_file;
};

// What a unit has done since the target started: `offcopy-target status`
// shows it, so that an admin can see a copy was offloaded, and how.
struct UnitStats {
  uint64_t bytes_read = 0;     // data-in of READ commands
  uint64_t bytes_written = 0;  // data-out of WRITE commands written
  // What third-party copies (EXTENDED COPY, WRITE USING TOKEN) wrote into
  // this unit, by how the bytes moved.
  uint64_t copies = 0;             // copy operations that ended, whatever their end
  uint64_t bytes_cloned = 0;       // reflinked: extents shared, nothing moved
  uint64_t bytes_kernel_copied = 0;  // copy_file_range: moved by the kernel
  uint64_t bytes_host_copied = 0;    // read and written through this process
};

class LogicalUnit {
 public:
  // A unit served from `file` (opened by BackingFile::open, its size a
  // multiple of the block size), its I/O run on `pool`, its third-party
  // copies (EXTENDED COPY) on `copies`; both must outlive the unit.
  // Without `copies` the unit has no third-party copy commands.
  LogicalUnit(Identity id, UnitOptions options, std::unique_ptr<BackingFile> file, IoPool& pool,
              CopyEngine* copies = nullptr);
  // A unit with no backing file (tests of the commands that describe a
  // unit): `blocks` blocks; reads and writes get MEDIUM ERROR.
  LogicalUnit(Identity id, uint32_t block_size, uint64_t blocks);
  ~LogicalUnit();

  LogicalUnit(const LogicalUnit&) = delete;
  LogicalUnit& operator=(const LogicalUnit&) = delete;

  // Runs `cmd` and calls `done` exactly once with its result, either
  // before returning or later on an I/O thread.  `cmd`'s spans must stay
  // valid until `done` has been called.
  void submit(const Command& cmd, Completion done);

  // submit() and wait: for tests and for callers with no loop.
  Result execute(const Command& cmd);

  // LUN RESET from `nexus`: every nexus (that one too) gets the unit
  // attention POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h) on
  // its next command (SAM-5 5.14, SPC-4 6.5.1), a RESERVE ends, and the
  // unit's third-party copies still running stop.
  void reset(uint64_t nexus);
  // Stops the unit's third-party copies still running (IMMED ones too):
  // a reset, and a stopping target, which should not wait for them.
  void abort_copies();
  // Another nexus's CLEAR TASK SET ended `nexus`'s commands: it gets
  // COMMANDS CLEARED BY ANOTHER INITIATOR (2Fh/00h, SAM-5 5.6, TAS 0),
  // unless a reset's attention is pending, which says more.
  void commands_cleared(uint64_t nexus);
  // A nexus that ended (logout, dropped connection): its pending unit
  // attentions go with it.
  void forget(uint64_t nexus);

  // The backing file grew (an admin extended it; SIGHUP asks): the unit
  // takes the new size, rounded down to whole blocks, and every nexus gets
  // CAPACITY DATA HAS CHANGED (2Ah/09h).  Returns whether it changed.
  bool refresh_capacity();

  // fdatasync of the backing file (a clean stop flushes every unit).
  // Returns 0 or an errno.
  int flush();

  UnitStats stats() const;

  uint32_t block_size() const;
  uint64_t blocks() const;
  const Identity& identity() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_LOGICAL_UNIT_H_
