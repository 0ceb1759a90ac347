// Internal to target/scsi: operation codes, CDB lengths, and the small
// helpers every command's code shares.  Not part of the library's API.
#ifndef OFFCOPY_TARGET_SCSI_CDB_H_
#define OFFCOPY_TARGET_SCSI_CDB_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "scsi/command.h"
#include "scsi/sense.h"

namespace offcopy::scsi {

// Operation codes (SPC-4 and SBC-3), and service actions after their
// operation code.
namespace op {
inline constexpr uint8_t kTestUnitReady = 0x00;
inline constexpr uint8_t kRequestSense = 0x03;
inline constexpr uint8_t kRead6 = 0x08;
inline constexpr uint8_t kWrite6 = 0x0A;
inline constexpr uint8_t kInquiry = 0x12;
inline constexpr uint8_t kModeSelect6 = 0x15;
inline constexpr uint8_t kReserve6 = 0x16;
inline constexpr uint8_t kRelease6 = 0x17;
inline constexpr uint8_t kModeSense6 = 0x1A;
inline constexpr uint8_t kStartStopUnit = 0x1B;
inline constexpr uint8_t kPreventAllowMediumRemoval = 0x1E;
inline constexpr uint8_t kReadCapacity10 = 0x25;
inline constexpr uint8_t kRead10 = 0x28;
inline constexpr uint8_t kWrite10 = 0x2A;
inline constexpr uint8_t kWriteAndVerify10 = 0x2E;
inline constexpr uint8_t kVerify10 = 0x2F;
inline constexpr uint8_t kPrefetch10 = 0x34;
inline constexpr uint8_t kSynchronizeCache10 = 0x35;
inline constexpr uint8_t kReadDefectData10 = 0x37;
inline constexpr uint8_t kWriteSame10 = 0x41;
inline constexpr uint8_t kUnmap = 0x42;
inline constexpr uint8_t kModeSelect10 = 0x55;
inline constexpr uint8_t kReserve10 = 0x56;
inline constexpr uint8_t kRelease10 = 0x57;
inline constexpr uint8_t kModeSense10 = 0x5A;
inline constexpr uint8_t kPersistentReserveIn = 0x5E;
inline constexpr uint8_t kPersistentReserveOut = 0x5F;
inline constexpr uint8_t kThirdPartyCopyOut = 0x83;  // EXTENDED COPY and its kin
inline constexpr uint8_t kExtendedCopyLid1 = 0x00;   // service actions of 0x83
inline constexpr uint8_t kExtendedCopyLid4 = 0x01;
inline constexpr uint8_t kPopulateToken = 0x10;
inline constexpr uint8_t kWriteUsingToken = 0x11;
inline constexpr uint8_t kCopyOperationAbort = 0x1C;
inline constexpr uint8_t kThirdPartyCopyIn = 0x84;  // RECEIVE COPY RESULTS and its kin
inline constexpr uint8_t kReceiveCopyStatusLid1 = 0x00;  // service actions of 0x84
inline constexpr uint8_t kReceiveCopyOperatingParameters = 0x03;
inline constexpr uint8_t kReceiveCopyFailureDetails = 0x04;
inline constexpr uint8_t kReceiveCopyStatusLid4 = 0x05;
inline constexpr uint8_t kReceiveRodTokenInformation = 0x07;
inline constexpr uint8_t kReportAllRodTokens = 0x08;
inline constexpr uint8_t kRead16 = 0x88;
inline constexpr uint8_t kCompareAndWrite = 0x89;
inline constexpr uint8_t kWrite16 = 0x8A;
inline constexpr uint8_t kOrWrite16 = 0x8B;
inline constexpr uint8_t kWriteAndVerify16 = 0x8E;
inline constexpr uint8_t kVerify16 = 0x8F;
inline constexpr uint8_t kPrefetch16 = 0x90;
inline constexpr uint8_t kSynchronizeCache16 = 0x91;
inline constexpr uint8_t kWriteSame16 = 0x93;
inline constexpr uint8_t kServiceActionIn16 = 0x9E;
inline constexpr uint8_t kReadCapacity16 = 0x10;  // service actions of 0x9E
inline constexpr uint8_t kGetLbaStatus = 0x12;
inline constexpr uint8_t kReportLuns = 0xA0;
inline constexpr uint8_t kMaintenanceIn = 0xA3;
inline constexpr uint8_t kReportTargetPortGroups = 0x0A;  // service actions of 0xA3
inline constexpr uint8_t kReportSupportedOpcodes = 0x0C;
inline constexpr uint8_t kReportSupportedTmfs = 0x0D;
inline constexpr uint8_t kRead12 = 0xA8;
inline constexpr uint8_t kWrite12 = 0xAA;
inline constexpr uint8_t kWriteAndVerify12 = 0xAE;
inline constexpr uint8_t kVerify12 = 0xAF;
inline constexpr uint8_t kReadDefectData12 = 0xB7;
}  // namespace op

inline constexpr uint8_t kDirectAccessBlock = 0x00;  // peripheral device type
// The one target port this target has, in its one target port group:
// VPD 0x83, REPORT TARGET PORT GROUPS and READ FULL STATUS name them.
inline constexpr uint8_t kRelativeTargetPort = 1;
inline constexpr uint8_t kTargetPortGroup = 1;
inline constexpr uint8_t kVersionSpc4 = 0x06;

// The CDB's length from its operation code's group (SPC-4 4.2.5.1); 0 for
// the reserved and vendor-specific groups.
inline size_t cdb_length(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    default: return 0;
  }
}

// Whether [lba, lba + blocks) lies on a unit of `capacity` blocks; blocks
// 0 is in range at any LBA up to the capacity.
inline bool in_range(uint64_t lba, uint64_t blocks, uint64_t capacity) {
  return lba <= capacity && blocks <= capacity - lba;
}

inline Result lba_out_of_range() {
  return check_condition(SenseKey::illegal_request, kLbaOutOfRange);
}
inline Result write_protected() { return check_condition(SenseKey::data_protect, kWriteProtected); }
// WRITE SAME's data-out is not exactly one block.
inline Result short_data_out() {
  return check_condition(SenseKey::illegal_request, kInvalidFieldInInformationUnit);
}
inline Result status_of(int err, bool writing) {
  return err == 0 ? Result{} : sense_for_errno(err, writing);
}

// Where a READ, WRITE, VERIFY, WRITE AND VERIFY or ORWRITE CDB keeps its
// LBA and length (SBC-3 5.11-5.14, 5.27, 5.32-5.35, 5.38-5.40); `fua` is
// byte 1 bit 3, which only READ, WRITE and ORWRITE have.
struct Transfer {
  uint64_t lba;
  uint32_t blocks;
  uint16_t length_byte;  // for the field pointer
  bool fua;
};

inline Transfer decode_transfer(std::span<const uint8_t> cdb) {
  switch (cdb_length(cdb[0])) {
    case 6:  // 21-bit LBA; a length of 0 means 256 blocks
      return {uint64_t{cdb[1] & 0x1fu} << 16 | be16(cdb, 2), cdb[4] == 0 ? 256u : cdb[4], 4, false};
    case 10: return {be32(cdb, 2), be16(cdb, 7), 7, (cdb[1] & 0x08) != 0};
    case 12: return {be32(cdb, 2), be32(cdb, 6), 6, (cdb[1] & 0x08) != 0};
    default: return {be64(cdb, 2), be32(cdb, 10), 10, (cdb[1] & 0x08) != 0};
  }
}

inline void put_padded(std::vector<uint8_t>& b, size_t at, size_t width, const std::string& s) {
  for (size_t i = 0; i < width; ++i) b[at + i] = i < s.size() ? s[i] : ' ';
}

// The response cut to what the CDB's allocation length and the transport
// allow (SPC-4 4.2.5.6: not an error).
inline Result data_in(std::vector<uint8_t> bytes, uint32_t allocation_length, const Command& cmd) {
  Result r;
  bytes.resize(std::min<size_t>({bytes.size(), allocation_length, cmd.allocation_limit}));
  r.data_in = std::move(bytes);
  return r;
}

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_CDB_H_
