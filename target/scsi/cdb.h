// Internal to target/scsi: operation codes, CDB lengths, and the small
// helpers every command's code shares.  Not part of the library's API.
#ifndef OFFCOPY_TARGET_SCSI_CDB_H_
#define OFFCOPY_TARGET_SCSI_CDB_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "scsi/command.h"

namespace offcopy::scsi {

// Operation codes (SPC-4 and SBC-3), and service actions after their
// operation code.
namespace op {
inline constexpr uint8_t kTestUnitReady = 0x00;
inline constexpr uint8_t kRequestSense = 0x03;
inline constexpr uint8_t kRead6 = 0x08;
inline constexpr uint8_t kWrite6 = 0x0A;
inline constexpr uint8_t kInquiry = 0x12;
inline constexpr uint8_t kModeSense6 = 0x1A;
inline constexpr uint8_t kReadCapacity10 = 0x25;
inline constexpr uint8_t kRead10 = 0x28;
inline constexpr uint8_t kWrite10 = 0x2A;
inline constexpr uint8_t kSynchronizeCache10 = 0x35;
inline constexpr uint8_t kWriteSame10 = 0x41;
inline constexpr uint8_t kUnmap = 0x42;
inline constexpr uint8_t kModeSense10 = 0x5A;
inline constexpr uint8_t kRead16 = 0x88;
inline constexpr uint8_t kWrite16 = 0x8A;
inline constexpr uint8_t kSynchronizeCache16 = 0x91;
inline constexpr uint8_t kWriteSame16 = 0x93;
inline constexpr uint8_t kServiceActionIn16 = 0x9E;
inline constexpr uint8_t kReadCapacity16 = 0x10;  // service actions of 0x9E
inline constexpr uint8_t kGetLbaStatus = 0x12;
inline constexpr uint8_t kReportLuns = 0xA0;
inline constexpr uint8_t kRead12 = 0xA8;
inline constexpr uint8_t kWrite12 = 0xAA;
}  // namespace op

inline constexpr uint8_t kDirectAccessBlock = 0x00;  // peripheral device type
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
