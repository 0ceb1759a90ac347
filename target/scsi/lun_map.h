// The logical units of one SCSI target device, by LUN, and what is
// answered for the target as a whole: REPORT LUNS (for any LUN the
// command is sent to), and for a LUN with no unit behind it INQUIRY with
// peripheral qualifier 3 / device type 1Fh and LOGICAL UNIT NOT SUPPORTED
// (25h/00h) for anything else (SPC-4 4.6.4).
//
// Thread-safety: fixed after construction; submit() may be called from
// several threads at once.
#ifndef OFFCOPY_TARGET_SCSI_LUN_MAP_H_
#define OFFCOPY_TARGET_SCSI_LUN_MAP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "scsi/command.h"
#include "scsi/logical_unit.h"

namespace offcopy::scsi {

class LunMap {
 public:
  explicit LunMap(std::map<uint16_t, std::shared_ptr<LogicalUnit>> units)
      : units_(std::move(units)) {}

  // `lun`: the LUN as the initiator addressed it (the 8-byte LUN field,
  // SAM-5 4.6; single-level, peripheral or flat addressing).
  void submit(uint64_t lun, const Command& cmd, Completion done) const;

  // The unit behind an 8-byte LUN field, or null.
  LogicalUnit* find(uint64_t lun) const;
  // The unit whose NAA designator (VPD page 0x83) is `naa`, or null: what
  // a copy descriptor names (third-party copy).
  std::shared_ptr<LogicalUnit> find_by_naa(std::span<const uint8_t> naa) const;

  const std::map<uint16_t, std::shared_ptr<LogicalUnit>>& units() const { return units_; }

 private:
  std::map<uint16_t, std::shared_ptr<LogicalUnit>> units_;
};

// The LUN number of an 8-byte LUN field, if it is a single-level LUN this
// target can have (peripheral 00b or flat 01b addressing).
std::optional<uint16_t> lun_number(uint64_t lun_field);
// The 8-byte LUN field REPORT LUNS gives for `lun` (peripheral addressing
// below 256, flat above, as Linux and libiscsi expect).
uint64_t lun_field(uint16_t lun);

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_LUN_MAP_H_
