// What `offcopy-target status` shows: a snapshot of the running target
// (its version, pid and uptime, the server's connection counters, and per
// target per LUN the backing file and what the unit has done, UnitStats),
// and its two renderings: a table for people and versioned JSON for
// programs.  The snapshot is plain data, so the formatters are tested
// without a server (tests/target/control/status_test.cc).
//
// Thread-safety: pure functions of their arguments.
#ifndef OFFCOPY_TARGET_CONTROL_STATUS_H_
#define OFFCOPY_TARGET_CONTROL_STATUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "iscsi/server.h"
#include "scsi/logical_unit.h"

namespace offcopy::control {

// The JSON's "version": raised when a field changes meaning or goes away
// (adding a field does not raise it).
inline constexpr int kStatusJsonVersion = 1;

struct LunStatus {
  uint16_t lun = 0;
  std::string path;         // the backing file
  uint64_t size_bytes = 0;  // as served now (SIGHUP may have grown it)
  uint32_t block_size = 512;
  bool read_only = false;
  scsi::UnitStats stats;
};

struct TargetStatus {
  std::string iqn;
  std::vector<LunStatus> luns;  // in LUN order
};

struct Status {
  std::string version;  // offcopy-target's
  int64_t pid = 0;
  uint64_t uptime_seconds = 0;
  iscsi::ServerStats server;
  std::vector<TargetStatus> targets;  // in the order they are served
};

// The table: a header line (version, pid, uptime), the connections, then
// one row per LUN under its target's name, sizes as human_size() has them.
std::string status_text(const Status& status);

// One JSON object, pretty-printed, ending with a newline; every count an
// exact integer.  A path that is not UTF-8 has its bad bytes replaced by
// U+FFFD (JSON strings are Unicode).
std::string status_json(const Status& status);

// "3d 4h 5m 6s", "2m 0s", "7s": the leading zero units left out.
std::string human_duration(uint64_t seconds);

}  // namespace offcopy::control

#endif  // OFFCOPY_TARGET_CONTROL_STATUS_H_
