#include "scsi/logical_unit.h"

#include <algorithm>
#include <cstdio>

#include "scsi/sense.h"

namespace offcopy::scsi {
namespace {

constexpr uint8_t kTestUnitReady = 0x00;
constexpr uint8_t kInquiry = 0x12;
constexpr uint8_t kReadCapacity10 = 0x25;
constexpr uint8_t kServiceActionIn16 = 0x9E;
constexpr uint8_t kReadCapacity16 = 0x10;  // its service action

constexpr uint8_t kDirectAccessBlock = 0x00;  // peripheral device type
constexpr uint8_t kVersionSpc4 = 0x06;

// The CDB's length from its operation code's group (SPC-4 4.2.5.1); 0 for
// the reserved and vendor-specific groups.
size_t cdb_length(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    default: return 0;
  }
}

void put_padded(std::vector<uint8_t>& b, size_t at, size_t width, const std::string& s) {
  for (size_t i = 0; i < width; ++i) b[at + i] = i < s.size() ? s[i] : ' ';
}

// The response cut to what the CDB's allocation length and the transport
// allow (SPC-4 4.2.5.6: not an error).
Result data(std::vector<uint8_t> bytes, uint32_t allocation_length, const Command& cmd) {
  Result r;
  bytes.resize(std::min<size_t>({bytes.size(), allocation_length, cmd.allocation_limit}));
  r.data_in = std::move(bytes);
  return r;
}

// FNV-1a, 64 bits: a stable hash, so a unit keeps its identity across
// restarts (std::hash may change between builds).
uint64_t fnv1a(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

Identity identity_for(const std::string& name) {
  Identity id;
  const uint64_t hi = fnv1a(name, 0), lo = fnv1a(name, 0x9e3779b97f4a7c15ULL);
  for (int i = 0; i < 8; ++i) {
    id.naa[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    id.naa[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  // NAA 6 (IEEE Registered Extended) in the top nibble; the company id
  // that follows is not an assigned one (offcopy has none) but it is
  // fixed, and the rest is the name's hash.
  id.naa[0] = static_cast<uint8_t>(0x60 | (id.naa[0] & 0x0f));
  char serial[17];
  std::snprintf(serial, sizeof serial, "%016llx", static_cast<unsigned long long>(hi ^ lo));
  id.serial = serial;
  return id;
}

Result LogicalUnit::execute(const Command& cmd) const {
  if (cmd.cdb.empty()) return check_condition(SenseKey::illegal_request, kInvalidOpcode);
  const uint8_t opcode = cmd.cdb[0];
  const size_t len = cdb_length(opcode);
  if (len == 0) return check_condition(SenseKey::illegal_request, kInvalidOpcode);
  if (cmd.cdb.size() < len) return invalid_field_in_cdb(0);
  switch (opcode) {
    case kTestUnitReady: return {};
    case kInquiry: return inquiry(cmd);
    case kReadCapacity10: return read_capacity_10(cmd);
    case kServiceActionIn16:
      if ((cmd.cdb[1] & 0x1f) == kReadCapacity16) return read_capacity_16(cmd);
      return invalid_field_in_cdb(1, 4);  // the SERVICE ACTION field
    default: return check_condition(SenseKey::illegal_request, kInvalidOpcode);
  }
}

Result LogicalUnit::inquiry(const Command& cmd) const {
  const bool evpd = cmd.cdb[1] & 0x01;
  const uint8_t page = cmd.cdb[2];
  const uint16_t allocation = be16(cmd.cdb, 3);
  if (cmd.cdb[1] & 0xfe) return invalid_field_in_cdb(1, 1);  // obsolete CMDDT, reserved
  if (!evpd && page != 0) return invalid_field_in_cdb(2);
  if (evpd) {
    Result r = vpd_page(page);
    if (r.status != Status::good) return r;
    return data(std::move(r.data_in), allocation, cmd);
  }
  std::vector<uint8_t> b(36, 0);
  b[0] = kDirectAccessBlock;
  b[2] = kVersionSpc4;
  b[3] = 0x12;  // HISUP, RESPONSE DATA FORMAT 2
  b[4] = static_cast<uint8_t>(b.size() - 5);
  b[7] = 0x02;  // CMDQUE: commands are queued
  put_padded(b, 8, 8, id_.vendor);
  put_padded(b, 16, 16, id_.product);
  put_padded(b, 32, 4, id_.revision);
  return data(std::move(b), allocation, cmd);
}

Result LogicalUnit::vpd_page(uint8_t page) const {
  std::vector<uint8_t> b(4, 0);
  b[0] = kDirectAccessBlock;
  b[1] = page;
  switch (page) {
    case 0x00:  // supported VPD pages, ascending
      b.insert(b.end(), {0x00, 0x80, 0x83});
      break;
    case 0x80:  // unit serial number
      b.insert(b.end(), id_.serial.begin(), id_.serial.end());
      break;
    case 0x83: {  // device identification: one NAA designator of the unit
      b.insert(b.end(), {0x01, 0x03, 0x00, static_cast<uint8_t>(id_.naa.size())});
      b.insert(b.end(), id_.naa.begin(), id_.naa.end());
      break;
    }
    default:
      return invalid_field_in_cdb(2);
  }
  put_be16(b, 2, static_cast<uint16_t>(b.size() - 4));
  Result r;
  r.data_in = std::move(b);
  return r;
}

Result LogicalUnit::read_capacity_10(const Command& cmd) const {
  const uint32_t lba = be32(cmd.cdb, 2);
  const bool pmi = cmd.cdb[8] & 0x01;
  // Without PMI the LBA field must be zero (SBC-3 5.15.1).
  if (!pmi && lba != 0) return invalid_field_in_cdb(2);
  std::vector<uint8_t> b(8, 0);
  const uint64_t last = blocks_ == 0 ? 0 : blocks_ - 1;
  // Past 2^32 blocks READ CAPACITY (10) says "use the 16-byte form".
  put_be32(b, 0, last > 0xfffffffeULL ? 0xffffffffU : static_cast<uint32_t>(last));
  put_be32(b, 4, block_size_);
  return data(std::move(b), 8, cmd);
}

Result LogicalUnit::read_capacity_16(const Command& cmd) const {
  const uint32_t allocation = be32(cmd.cdb, 10);
  std::vector<uint8_t> b(32, 0);
  put_be64(b, 0, blocks_ == 0 ? 0 : blocks_ - 1);
  put_be32(b, 8, block_size_);
  return data(std::move(b), allocation, cmd);
}

}  // namespace offcopy::scsi
