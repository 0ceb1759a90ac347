// CHECK CONDITION and its sense data, in the fixed format (SPC-4 4.5.3),
// which every initiator reads.  The sense a bad request gets is the one
// the standard names for it, so that an initiator (and libiscsi's test
// suite) can tell a bad field from an unsupported command from a medium
// error.
#ifndef OFFCOPY_TARGET_SCSI_SENSE_H_
#define OFFCOPY_TARGET_SCSI_SENSE_H_

#include <cstdint>
#include <optional>

#include "scsi/command.h"

namespace offcopy::scsi {

enum class SenseKey : uint8_t {
  no_sense = 0x0,
  not_ready = 0x2,
  medium_error = 0x3,
  hardware_error = 0x4,
  illegal_request = 0x5,
  unit_attention = 0x6,
  data_protect = 0x7,
  aborted_command = 0xB,
};

// Additional sense code and qualifier (SPC-4 Annex D).
struct Asc {
  uint8_t code, qualifier;
};
inline constexpr Asc kInvalidOpcode{0x20, 0x00};      // INVALID COMMAND OPERATION CODE
inline constexpr Asc kLbaOutOfRange{0x21, 0x00};      // LOGICAL BLOCK ADDRESS OUT OF RANGE
inline constexpr Asc kInvalidFieldInCdb{0x24, 0x00};  // INVALID FIELD IN CDB
inline constexpr Asc kLunNotSupported{0x25, 0x00};    // LOGICAL UNIT NOT SUPPORTED
inline constexpr Asc kInvalidFieldInParameters{0x26, 0x00};  // ... IN PARAMETER LIST

// Where in the CDB (or parameter list) the bad field is: the sense-key
// specific FIELD POINTER (SPC-4 4.5.2.4.2), so an initiator can say which.
struct FieldPointer {
  bool in_cdb = true;  // C/D: the CDB, else the parameter list
  uint16_t byte = 0;
  std::optional<uint8_t> bit;  // BPV: the bit, when one is meant
};

// CHECK CONDITION with fixed-format sense data.
Result check_condition(SenseKey key, Asc asc,
                       std::optional<FieldPointer> field = std::nullopt);

// ILLEGAL REQUEST / INVALID FIELD IN CDB pointing at byte (and bit).
Result invalid_field_in_cdb(uint16_t byte, std::optional<uint8_t> bit = std::nullopt);

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_SENSE_H_
