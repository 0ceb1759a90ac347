#include "scsi/lun_map.h"

#include <algorithm>

#include "scsi/cdb.h"
#include "scsi/sense.h"

namespace offcopy::scsi {
namespace {

// REPORT LUNS (SPC-4 6.33): the LUN list, whatever LUN it was sent to.
Result report_luns(const std::map<uint16_t, std::shared_ptr<LogicalUnit>>& units,
                   const Command& cmd) {
  if (cmd.cdb.size() < 12) return invalid_field_in_cdb(0);
  const uint8_t select = cmd.cdb[2];
  const uint32_t allocation = be32(cmd.cdb, 6);
  // 0: the logical units; 1: the well-known LUNs (there are none); 2: both.
  if (select > 2) return invalid_field_in_cdb(2);
  if (allocation < 16) return invalid_field_in_cdb(6);
  std::vector<uint8_t> b(8, 0);
  if (select != 1) {
    for (const auto& [lun, unit] : units) {
      b.resize(b.size() + 8, 0);
      put_be64(b, b.size() - 8, lun_field(lun));
    }
  }
  put_be32(b, 0, static_cast<uint32_t>(b.size() - 8));  // LUN LIST LENGTH
  return data_in(std::move(b), allocation, cmd);
}

// A LUN with no unit behind it (SPC-4 4.6.4): INQUIRY says so with
// peripheral qualifier 011b, REQUEST SENSE returns LOGICAL UNIT NOT
// SUPPORTED as its data, and anything else gets it as CHECK CONDITION.
Result no_unit(const Command& cmd) {
  const Result not_supported = check_condition(SenseKey::illegal_request, kLunNotSupported);
  if (cmd.cdb.empty() || cdb_length(cmd.cdb[0]) == 0 || cmd.cdb.size() < cdb_length(cmd.cdb[0])) {
    return not_supported;
  }
  if (cmd.cdb[0] == op::kRequestSense) {
    return data_in(cmd.cdb[1] & 0x01 ? descriptor_sense(not_supported.sense) : not_supported.sense,
                   cmd.cdb[4], cmd);
  }
  if (cmd.cdb[0] == op::kInquiry && !(cmd.cdb[1] & 0x01) && cmd.cdb[2] == 0) {
    const Identity id;  // the target's vendor and product
    std::vector<uint8_t> b(36, 0);
    b[0] = 0x7F;  // peripheral qualifier 011b, device type 1Fh: no unit here
    b[2] = kVersionSpc4;
    b[3] = 0x12;  // HISUP, RESPONSE DATA FORMAT 2
    b[4] = static_cast<uint8_t>(b.size() - 5);
    put_padded(b, 8, 8, id.vendor);
    put_padded(b, 16, 16, id.product);
    put_padded(b, 32, 4, id.revision);
    return data_in(std::move(b), be16(cmd.cdb, 3), cmd);
  }
  return not_supported;
}

}  // namespace

std::optional<uint16_t> lun_number(uint64_t lun_field) {
  // Byte 0 is the most significant: the LUN field as it is on the wire.
  const uint8_t b0 = static_cast<uint8_t>(lun_field >> 56);
  const uint8_t b1 = static_cast<uint8_t>(lun_field >> 48);
  if ((lun_field & 0x0000ffffffffffffULL) != 0) return std::nullopt;  // not single-level
  switch (b0 >> 6) {
    case 0:  // peripheral device addressing, bus 0
      if (b0 != 0) return std::nullopt;
      return b1;
    case 1:  // flat space addressing
      return static_cast<uint16_t>((b0 & 0x3f) << 8 | b1);
    default: return std::nullopt;
  }
}

uint64_t lun_field(uint16_t lun) {
  if (lun < 256) return uint64_t{lun} << 48;
  return uint64_t{0x4000u | (lun & 0x3fffu)} << 48;
}

LogicalUnit* LunMap::find(uint64_t lun) const {
  const std::optional<uint16_t> n = lun_number(lun);
  if (!n) return nullptr;
  const auto it = units_.find(*n);
  return it == units_.end() ? nullptr : it->second.get();
}

void LunMap::submit(uint64_t lun, const Command& cmd, Completion done) const {
  if (!cmd.cdb.empty() && cmd.cdb[0] == op::kReportLuns) return done(report_luns(units_, cmd));
  if (LogicalUnit* unit = find(lun)) return unit->submit(cmd, std::move(done));
  done(no_unit(cmd));
}

std::shared_ptr<LogicalUnit> LunMap::find_by_naa(std::span<const uint8_t> naa) const {
  for (const auto& [n, unit] : units_) {
    const auto& own = unit->identity().naa;
    if (std::equal(naa.begin(), naa.end(), own.begin(), own.end())) return unit;
  }
  return nullptr;
}

}  // namespace offcopy::scsi
