// CHECK CONDITION and its sense data, in the fixed format (SPC-4 4.5.3),
// which every initiator reads.  The sense a bad request gets is the one
// the standard names for it, so that an initiator (and libiscsi's test
// suite) can tell a bad field from an unsupported command from a medium
// error.
#ifndef OFFCOPY_TARGET_SCSI_SENSE_H_
#define OFFCOPY_TARGET_SCSI_SENSE_H_

#include <cstdint>
#include <optional>
#include <vector>

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
  copy_aborted = 0xA,
  aborted_command = 0xB,
  miscompare = 0xE,
};

// Additional sense code and qualifier (SPC-4 Annex D).
struct Asc {
  uint8_t code, qualifier;
};
// The names are SPC-4's, shortened.
inline constexpr Asc kNoAdditionalSense{0x00, 0x00};              // NO ADDITIONAL SENSE INFO
inline constexpr Asc kOperationInProgress{0x00, 0x16};            // OPERATION IN PROGRESS
inline constexpr Asc kUnreachableCopyTarget{0x08, 0x04};          // UNREACHABLE COPY TARGET
inline constexpr Asc kWriteError{0x0C, 0x00};                     // WRITE ERROR
inline constexpr Asc kThirdPartyDeviceFailure{0x0D, 0x01};        // THIRD PARTY DEVICE FAILURE
inline constexpr Asc kCopyTargetNotReachable{0x0D, 0x02};         // COPY TARGET DEVICE NOT ...
inline constexpr Asc kIncorrectCopyTargetType{0x0D, 0x03};        // INCORRECT COPY TARGET ...
inline constexpr Asc kInvalidFieldInInformationUnit{0x0E, 0x03};  // ... IN COMMAND IU
inline constexpr Asc kUnrecoveredReadError{0x11, 0x00};           // UNRECOVERED READ ERROR
inline constexpr Asc kParameterListLength{0x1A, 0x00};            // PARAMETER LIST LENGTH ERROR
inline constexpr Asc kMiscompareDuringVerify{0x1D, 0x00};         // MISCOMPARE DURING VERIFY OP
inline constexpr Asc kInvalidOpcode{0x20, 0x00};                  // INVALID COMMAND OP CODE
inline constexpr Asc kLbaOutOfRange{0x21, 0x00};                  // LBA OUT OF RANGE
inline constexpr Asc kInvalidFieldInCdb{0x24, 0x00};              // INVALID FIELD IN CDB
inline constexpr Asc kLunNotSupported{0x25, 0x00};                // LOGICAL UNIT NOT SUPPORTED
inline constexpr Asc kInvalidFieldInParameters{0x26, 0x00};       // ... IN PARAMETER LIST
inline constexpr Asc kInvalidReleaseOfPersistentReservation{0x26, 0x04};
inline constexpr Asc kTooManyTargetDescriptors{0x26, 0x06};         // TOO MANY TARGET DESCRIPTORS
inline constexpr Asc kUnsupportedTargetDescriptorType{0x26, 0x07};  // UNSUPPORTED TARGET DESCR...
inline constexpr Asc kTooManySegmentDescriptors{0x26, 0x08};        // TOO MANY SEGMENT DESCRIPTORS
inline constexpr Asc kUnsupportedSegmentDescriptorType{0x26, 0x09};
inline constexpr Asc kUnexpectedInexactSegment{0x26, 0x0A};         // UNEXPECTED INEXACT SEGMENT
inline constexpr Asc kInlineDataLengthExceeded{0x26, 0x0B};         // INLINE DATA LENGTH EXCEEDED
inline constexpr Asc kWriteProtected{0x27, 0x00};                 // WRITE PROTECTED
inline constexpr Asc kSoftwareWriteProtected{0x27, 0x02};         // LU SOFTWARE WRITE PROTECTED
inline constexpr Asc kSpaceAllocationFailed{0x27, 0x07};          // ... FAILED WRITE PROTECT
inline constexpr Asc kPowerOnReset{0x29, 0x00};                   // POWER ON, RESET, ...
inline constexpr Asc kModeParametersChanged{0x2A, 0x01};          // MODE PARAMETERS CHANGED
inline constexpr Asc kReservationsPreempted{0x2A, 0x03};          // RESERVATIONS PREEMPTED
inline constexpr Asc kReservationsReleased{0x2A, 0x04};           // RESERVATIONS RELEASED
inline constexpr Asc kRegistrationsPreempted{0x2A, 0x05};         // REGISTRATIONS PREEMPTED
inline constexpr Asc kCapacityChanged{0x2A, 0x09};                // CAPACITY DATA HAS CHANGED
inline constexpr Asc kCommandsClearedByAnother{0x2F, 0x00};       // COMMANDS CLEARED BY ANOTHER ...
inline constexpr Asc kSavingNotSupported{0x39, 0x00};             // SAVING PARAMETERS NOT ...
inline constexpr Asc kInternalTargetFailure{0x44, 0x00};          // INTERNAL TARGET FAILURE
inline constexpr Asc kInsufficientResources{0x55, 0x03};            // INSUFFICIENT RESOURCES
inline constexpr Asc kInsufficientRegistrationResources{0x55, 0x04};

inline bool operator==(Asc a, Asc b) { return a.code == b.code && a.qualifier == b.qualifier; }

// Where in the CDB (or parameter list) the bad field is: the sense-key
// specific FIELD POINTER (SPC-4 4.5.2.4.2), so an initiator can say which.
struct FieldPointer {
  bool in_cdb = true;  // C/D: the CDB, else the parameter list
  uint16_t byte = 0;
  std::optional<uint8_t> bit;  // BPV: the bit, when one is meant
};

// CHECK CONDITION with fixed-format sense data.
Result check_condition(SenseKey key, Asc asc, std::optional<FieldPointer> field = std::nullopt);

// ILLEGAL REQUEST / INVALID FIELD IN CDB pointing at byte (and bit).
Result invalid_field_in_cdb(uint16_t byte, std::optional<uint8_t> bit = std::nullopt);

// ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST pointing at byte (and
// bit) of the parameter list (C/D clear).
Result invalid_field_in_parameters(uint16_t byte, std::optional<uint8_t> bit = std::nullopt);

// MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION (VERIFY, WRITE AND
// VERIFY, COMPARE AND WRITE), with VALID set and the INFORMATION field
// holding `offset`: the byte of the data-out (or of the range compared)
// where the first difference is (SBC-3 5.2, 5.33).
Result miscompare(uint32_t offset);

// What a backing file's errno becomes: EIO is a MEDIUM ERROR (UNRECOVERED
// READ ERROR reading, WRITE ERROR writing), ENOSPC and EDQUOT are DATA
// PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT (the thin pool is full:
// SBC-3 4.7.3.7), EROFS is DATA PROTECT / WRITE PROTECTED, anything else a
// HARDWARE ERROR / INTERNAL TARGET FAILURE.  Never GOOD.
Result sense_for_errno(int err, bool writing);

// Fixed-format sense data (what Result::sense holds) in the descriptor
// format (SPC-4 4.5.2), for REQUEST SENSE with DESC set: the sense key,
// ASC and ASCQ, and the sense-key specific bytes when SKSV is set.
std::vector<uint8_t> descriptor_sense(const std::vector<uint8_t>& fixed);

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_SENSE_H_
