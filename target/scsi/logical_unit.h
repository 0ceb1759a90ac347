// One logical unit as SCSI sees it: a direct-access block device
// (SBC-3) of `blocks` blocks of `block_size` bytes, and the commands that
// describe it (SPC-4): INQUIRY with its VPD pages, TEST UNIT READY, READ
// CAPACITY (10) and (16).  Any other command is refused with ILLEGAL
// REQUEST / INVALID COMMAND OPERATION CODE, never silence.
//
// Status: the first part of issue 16.  Reads and writes of the backing
// file, the caching and provisioning commands, and unit attentions come
// next, with the asynchronous completion the backing I/O needs.
//
// Thread-safety: execute() may be called from several threads at once
// (the unit's description does not change).
#ifndef OFFCOPY_TARGET_SCSI_LOGICAL_UNIT_H_
#define OFFCOPY_TARGET_SCSI_LOGICAL_UNIT_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "scsi/command.h"

namespace offcopy::scsi {

// What INQUIRY says of a unit.
struct Identity {
  std::string vendor = "OFFCOPY";         // T10 vendor id, 8 bytes (space padded)
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

class LogicalUnit {
 public:
  LogicalUnit(Identity id, uint32_t block_size, uint64_t blocks)
      : id_(std::move(id)), block_size_(block_size), blocks_(blocks) {}

  Result execute(const Command& cmd) const;

  uint32_t block_size() const { return block_size_; }
  uint64_t blocks() const { return blocks_; }

 private:
  Result inquiry(const Command& cmd) const;
  Result vpd_page(uint8_t page) const;
  Result read_capacity_10(const Command& cmd) const;
  Result read_capacity_16(const Command& cmd) const;

  const Identity id_;
  const uint32_t block_size_;
  const uint64_t blocks_;
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_LOGICAL_UNIT_H_
