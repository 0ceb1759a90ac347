// The commands that describe a unit, answered at once on the caller's
// thread: INQUIRY and its VPD pages, READ CAPACITY, MODE SENSE.
#include <algorithm>
#include <cstdio>
#include <iterator>

#include "scsi/cdb.h"
#include "scsi/unit_impl.h"

namespace offcopy::scsi {
namespace {

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

// Version descriptors (SPC-4 table 29): libiscsi and others detect SBC-3
// from them, and then expect READ CAPACITY (16) and READ (16).
constexpr uint16_t kVersionDescriptors[] = {
    0x00A0,  // SAM-5
    0x0960,  // iSCSI
    0x0460,  // SPC-4
    0x04C0,  // SBC-3
};

// Mode pages (SPC-4 7.5, SBC-3 6.5), ascending: what "all pages" returns.
constexpr uint8_t kCachingPage = 0x08;
constexpr uint8_t kControlPage = 0x0A;
constexpr uint8_t kInformationalExceptionsPage = 0x1C;
constexpr uint8_t kAllPages = 0x3F;
constexpr uint8_t kModePages[] = {kCachingPage, kControlPage, kInformationalExceptionsPage};

enum PageControl : uint8_t { kCurrent = 0, kChangeable = 1, kDefault = 2, kSaved = 3 };

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

Result LogicalUnit::Impl::inquiry(const Command& cmd) const {
  const bool evpd = cmd.cdb[1] & 0x01;
  const uint8_t page = cmd.cdb[2];
  const uint16_t allocation = be16(cmd.cdb, 3);
  if (cmd.cdb[1] & 0xfe) return invalid_field_in_cdb(1, 1);  // obsolete CMDDT, reserved
  if (!evpd && page != 0) return invalid_field_in_cdb(2);
  if (evpd) {
    Result r = vpd_page(page);
    if (r.status != Status::good) return r;
    return data_in(std::move(r.data_in), allocation, cmd);
  }
  std::vector<uint8_t> b(96, 0);
  b[0] = kDirectAccessBlock;
  b[2] = kVersionSpc4;
  b[3] = 0x12;  // HISUP, RESPONSE DATA FORMAT 2
  b[4] = static_cast<uint8_t>(b.size() - 5);
  // TPGS 01b: implicit ALUA, one port group always active/optimized, so
  // that multipath initiators (Linux's ALUA handler, ESXi) find REPORT
  // TARGET PORT GROUPS.
  b[5] = 0x10;
  if (copies()) b[5] |= 0x08;  // 3PC: EXTENDED COPY, and VPD page 0x8F
  b[7] = 0x02;  // CMDQUE: commands are queued
  put_padded(b, 8, 8, id.vendor);
  put_padded(b, 16, 16, id.product);
  put_padded(b, 32, 4, id.revision);
  for (size_t i = 0; i < std::size(kVersionDescriptors); ++i) {
    put_be16(b, 58 + 2 * i, kVersionDescriptors[i]);
  }
  return data_in(std::move(b), allocation, cmd);
}

Result LogicalUnit::Impl::vpd_page(uint8_t page) const {
  std::vector<uint8_t> b(4, 0);
  b[0] = kDirectAccessBlock;
  b[1] = page;
  switch (page) {
    case 0x00:  // supported VPD pages, ascending
      b.insert(b.end(), {0x00, 0x80, 0x83});
      if (copies()) b.push_back(0x8F);
      b.insert(b.end(), {0xB0, 0xB1, 0xB2});
      break;
    case 0x80:  // unit serial number
      b.insert(b.end(), id.serial.begin(), id.serial.end());
      break;
    case 0x83: {  // device identification (SPC-4 7.8.6)
      // The unit: its NAA designator.
      b.insert(b.end(), {0x01, 0x03, 0x00, static_cast<uint8_t>(id.naa.size())});
      b.insert(b.end(), id.naa.begin(), id.naa.end());
      // The port it is reached through (iSCSI, PIV): its relative target
      // port and its target port group, as REPORT TARGET PORT GROUPS and
      // READ FULL STATUS name them.
      b.insert(b.end(), {0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, kRelativeTargetPort});
      b.insert(b.end(), {0x51, 0x95, 0x00, 0x04, 0x00, 0x00, 0x00, kTargetPortGroup});
      break;
    }
    case 0x8F: {  // third-party copy (SPC-4 7.8.17)
      if (!copies()) return invalid_field_in_cdb(2);
      const std::vector<uint8_t> d = third_party_copy_vpd();
      b.insert(b.end(), d.begin(), d.end());
      break;
    }
    case 0xB0: {  // block limits (SBC-3 6.6.4)
      b.resize(64, 0);
      // WSNZ (byte 4) is 0: WRITE SAME with 0 blocks writes to the end.
      b[5] = limits.max_compare_and_write;
      put_be16(b, 6, static_cast<uint16_t>(limits.granularity));
      put_be32(b, 8, limits.max_transfer);
      put_be32(b, 12, limits.optimal_transfer);
      if (thin()) {
        put_be32(b, 20, limits.max_unmap);
        put_be32(b, 24, limits.max_unmap_descriptors);
        put_be32(b, 28, limits.granularity);
        put_be32(b, 32, 0x80000000u);  // UGAVALID, alignment 0
      }
      put_be64(b, 36, limits.max_write_same);
      break;
    }
    case 0xB1:  // block device characteristics (SBC-3 6.6.2)
      b.resize(64, 0);
      put_be16(b, 4, 1);  // MEDIUM ROTATION RATE 1: not rotating
      break;
    case 0xB2:  // logical block provisioning (SBC-3 6.6.6)
      b.resize(8, 0);
      if (thin()) {
        // LBPU, LBPWS, LBPWS10, LBPRZ: a punched range reads as zeros.
        b[5] = 0x80 | 0x40 | 0x20 | 0x04;
        b[6] = 0x02;  // PROVISIONING TYPE: thin
      }
      break;
    default: return invalid_field_in_cdb(2);
  }
  put_be16(b, 2, static_cast<uint16_t>(b.size() - 4));
  Result r;
  r.data_in = std::move(b);
  return r;
}

Result LogicalUnit::Impl::read_capacity_10(const Command& cmd) const {
  const uint32_t lba = be32(cmd.cdb, 2);
  const bool pmi = cmd.cdb[8] & 0x01;
  // Without PMI the LBA field must be zero (SBC-3 5.15.1).
  if (!pmi && lba != 0) return invalid_field_in_cdb(2);
  std::vector<uint8_t> b(8, 0);
  const uint64_t blocks = capacity();
  const uint64_t last = blocks == 0 ? 0 : blocks - 1;
  // Past 2^32 blocks READ CAPACITY (10) says "use the 16-byte form".
  put_be32(b, 0, last > 0xfffffffeULL ? 0xffffffffU : static_cast<uint32_t>(last));
  put_be32(b, 4, block_size());
  return data_in(std::move(b), 8, cmd);
}

Result LogicalUnit::Impl::read_capacity_16(const Command& cmd) const {
  const uint32_t allocation = be32(cmd.cdb, 10);
  std::vector<uint8_t> b(32, 0);
  const uint64_t blocks = capacity();
  put_be64(b, 0, blocks == 0 ? 0 : blocks - 1);
  put_be32(b, 8, block_size());
  // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 0; LBPME and LBPRZ when
  // thin.
  if (thin()) b[14] = 0x80 | 0x40;
  return data_in(std::move(b), allocation, cmd);
}

std::vector<uint8_t> LogicalUnit::Impl::mode_page(uint8_t page, uint8_t pc) const {
  std::vector<uint8_t> b(page == kCachingPage ? 20 : 12, 0);
  b[0] = page;
  if (page == kCachingPage) {
    b[1] = 0x12;
    // WCE, changeable; RCD 0.
    const bool wce = pc == kChangeable || (pc == kDefault ? options.write_cache : write_cache.load());
    if (wce) b[2] = 0x04;
  } else if (page == kControlPage) {
    b[1] = 0x0A;
    // QUEUE ALGORITHM MODIFIER 1: commands may be reordered; TST 0,
    // D_SENSE 0 (fixed-format sense), QERR 0.
    if (pc != kChangeable) b[3] = 0x10;
    // SWP, changeable: software write protection, off by default.
    if (pc == kChangeable || (pc == kCurrent && software_write_protect)) b[4] = 0x08;
  } else {  // informational exceptions control: none are reported
    b[1] = 0x0A;
    if (pc != kChangeable) b[2] = 0x08;  // DEXCPT
  }
  return b;
}

// MODE SENSE (6) and (10) (SPC-4 6.11, 6.12).  WCE and SWP are
// changeable (MODE SELECT); the default values are the config's; saved
// values are not kept.
Result LogicalUnit::Impl::mode_sense(const Command& cmd) const {
  const bool ten = cmd.cdb[0] == op::kModeSense10;
  const bool dbd = cmd.cdb[1] & 0x08;
  const bool llbaa = ten && (cmd.cdb[1] & 0x10);
  const uint8_t pc = cmd.cdb[2] >> 6;
  const uint8_t page = cmd.cdb[2] & 0x3f;
  const uint8_t subpage = cmd.cdb[3];
  const uint32_t allocation = ten ? be16(cmd.cdb, 7) : cmd.cdb[4];
  if (pc == kSaved) {
    return check_condition(SenseKey::illegal_request, kSavingNotSupported,
                           FieldPointer{true, 2, 7});
  }
  // No page has subpages: subpage 0, or 0xFF ("all subpages", which is
  // the page itself).
  if (subpage != 0x00 && subpage != 0xFF) return invalid_field_in_cdb(3);
  if (page != kAllPages &&
      std::find(std::begin(kModePages), std::end(kModePages), page) == std::end(kModePages)) {
    return invalid_field_in_cdb(2, 5);
  }

  const size_t header = ten ? 8 : 4;
  std::vector<uint8_t> b(header, 0);
  // Device-specific parameter (SBC-3 6.5.1): WP, and DPOFUA since DPO and
  // FUA are accepted.
  b[ten ? 3 : 2] = (writes_refused() ? 0x80 : 0x00) | 0x10;
  if (!dbd) {
    const uint64_t blocks = capacity();
    if (llbaa) {
      b[4] = 0x01;  // LONGLBA
      b.resize(header + 16, 0);
      put_be64(b, header, blocks);
      put_be32(b, header + 12, block_size());
    } else {
      b.resize(header + 8, 0);
      put_be32(b, header, blocks > 0xffffffffULL ? 0xffffffffU : static_cast<uint32_t>(blocks));
      put_be32(b, header + 4, block_size());  // byte 4 (density code) is 0
    }
    const size_t descriptors = b.size() - header;
    if (ten) {
      put_be16(b, 6, static_cast<uint16_t>(descriptors));
    } else {
      b[3] = static_cast<uint8_t>(descriptors);
    }
  }
  for (uint8_t p : kModePages) {
    if (page != kAllPages && page != p) continue;
    const std::vector<uint8_t> bytes = mode_page(p, pc);
    b.insert(b.end(), bytes.begin(), bytes.end());
  }
  // MODE DATA LENGTH: the bytes after it.
  if (ten) {
    put_be16(b, 0, static_cast<uint16_t>(b.size() - 2));
  } else {
    b[0] = static_cast<uint8_t>(b.size() - 1);
  }
  return data_in(std::move(b), allocation, cmd);
}

// MODE SELECT (6) and (10) (SPC-4 6.9, 6.10).  Only WCE and SWP change:
// a parameter list is accepted when every other bit of every page it
// carries says what the page already says -- what an initiator that
// reads, edits and writes back pages sends -- and any other changed bit
// is INVALID FIELD IN PARAMETER LIST pointing at it, nothing applied.
// What changed, the other nexuses learn by MODE PARAMETERS CHANGED
// (SPC-4 6.9.1).  SP (save) is INVALID FIELD IN CDB: there are no saved
// pages.  PF 0 (vendor-specific pages) likewise.
Result LogicalUnit::Impl::mode_select(const Command& cmd) {
  const bool ten = cmd.cdb[0] == op::kModeSelect10;
  const uint16_t length = ten ? be16(cmd.cdb, 7) : cmd.cdb[4];
  Result wanted;
  wanted.data_out_wanted = length;
  auto fail = [&](Result r) {
    r.data_out_wanted = length;
    return r;
  };
  if (cmd.cdb[1] & 0x01) return fail(invalid_field_in_cdb(1, 0));  // SP
  if (length == 0) return wanted;  // nothing to change, not an error
  if (!(cmd.cdb[1] & 0x10)) return fail(invalid_field_in_cdb(1, 4));  // PF
  const size_t header = ten ? 8 : 4;
  const std::span<const uint8_t> list = cmd.data_out.first(
      std::min<size_t>(length, cmd.data_out.size()));
  auto length_error = [&] {
    return fail(check_condition(SenseKey::illegal_request, kParameterListLength));
  };
  if (list.size() < header) return length_error();
  // At most one block descriptor, and it must describe the unit as it is
  // (the block size cannot be changed; 0 blocks means "all of them").
  const size_t descriptors = ten ? be16(list, 6) : list[3];
  const bool long_lba = ten && (list[4] & 0x01);
  const size_t descriptor_size = long_lba ? 16 : 8;
  if (descriptors != 0 && descriptors != descriptor_size) {
    return fail(invalid_field_in_parameters(ten ? 6 : 3));
  }
  if (list.size() < header + descriptors) return length_error();
  if (descriptors != 0) {
    const uint64_t count = long_lba ? be64(list, header) : be32(list, header);
    const uint32_t length_at = static_cast<uint32_t>(header + (long_lba ? 12 : 4));
    const uint32_t size = long_lba ? be32(list, length_at) : be32(list, length_at) & 0xffffff;
    const uint64_t cap = capacity();
    const uint64_t shown = long_lba ? cap : std::min<uint64_t>(cap, 0xffffffffULL);
    if (count != 0 && count != shown) return fail(invalid_field_in_parameters(header));
    if (size != block_size()) return fail(invalid_field_in_parameters(length_at));
  }
  std::vector<size_t> pages;  // where each page starts: applied once all are checked
  for (size_t at = header + descriptors; at < list.size();) {
    if (list.size() - at < 2) return length_error();
    const uint8_t code = list[at] & 0x3f;
    // SPF: a subpage; no page here has one.
    if (list[at] & 0x40) return fail(invalid_field_in_parameters(static_cast<uint16_t>(at), 6));
    if (std::find(std::begin(kModePages), std::end(kModePages), code) == std::end(kModePages)) {
      return fail(invalid_field_in_parameters(static_cast<uint16_t>(at), 5));
    }
    const std::vector<uint8_t> current = mode_page(code, kCurrent);
    const std::vector<uint8_t> changeable = mode_page(code, kChangeable);
    if (list[at + 1] != current[1]) {
      return fail(invalid_field_in_parameters(static_cast<uint16_t>(at + 1)));
    }
    if (list.size() - at < current.size()) return length_error();
    // Byte 0's PS bit is reserved in MODE SELECT; the code matched above.
    for (size_t i = 2; i < current.size(); ++i) {
      const uint8_t changed = (list[at + i] ^ current[i]) & ~changeable[i];
      if (changed == 0) continue;
      uint8_t bit = 7;
      while (!(changed & (1u << bit))) --bit;  // the highest changed bit
      return fail(invalid_field_in_parameters(static_cast<uint16_t>(at + i), bit));
    }
    pages.push_back(at);
    at += current.size();
  }
  bool changed = false;
  for (size_t at : pages) {
    if ((list[at] & 0x3f) == kCachingPage) {
      changed |= write_cache.exchange((list[at + 2] & 0x04) != 0) != ((list[at + 2] & 0x04) != 0);
    } else if ((list[at] & 0x3f) == kControlPage) {
      const bool swp = list[at + 4] & 0x08;
      changed |= software_write_protect.exchange(swp) != swp;
    }
  }
  if (changed) {
    std::lock_guard lock(mu);
    for (auto& [n, nexus] : nexuses) {
      if (n != cmd.nexus) queue_attention(nexus, kModeParametersChanged);
    }
  }
  return wanted;
}

// PREVENT ALLOW MEDIUM REMOVAL (SPC-4 6.13; SBC-3 5.9) on a unit whose
// medium cannot be removed: preventing removal (01b) is already so and
// allowing it (00b) changes nothing, both GOOD; 10b and 11b are for
// medium changers (obsolete here): INVALID FIELD IN CDB.
Result LogicalUnit::Impl::prevent_allow_medium_removal(const Command& cmd) const {
  if (cmd.cdb[4] & 0x02) return invalid_field_in_cdb(4, 1);
  return {};
}

// READ DEFECT DATA (10) and (12) (SBC-3 5.19, 5.20): a file has no
// defects, so an empty list in the format asked for, PLISTV and GLISTV
// as asked (the lists are valid, and empty).  Formats 110b (vendor
// specific) and 111b (reserved) are invalid fields.
Result LogicalUnit::Impl::read_defect_data(const Command& cmd) const {
  const bool twelve = cmd.cdb[0] == op::kReadDefectData12;
  const uint8_t flags = cmd.cdb[twelve ? 1 : 2];
  const uint8_t format = flags & 0x07;
  if (format > 0x05) return invalid_field_in_cdb(twelve ? 1 : 2, 2);
  const uint32_t allocation = twelve ? be32(cmd.cdb, 6) : be16(cmd.cdb, 7);
  // Header: byte 1 PLISTV, GLISTV, the format; the DEFECT LIST LENGTH
  // (bytes 2-3, or 4-7 in the 12-byte form after a GENERATION CODE) is 0.
  std::vector<uint8_t> b(twelve ? 8 : 4, 0);
  b[1] = flags & 0x1f;
  return data_in(std::move(b), allocation, cmd);
}

// REPORT TARGET PORT GROUPS (SPC-4 6.27): one group, with this target's
// one port, active/optimized -- the only state it has.
Result LogicalUnit::Impl::report_target_port_groups(const Command& cmd) const {
  const uint8_t format = cmd.cdb[1] >> 5;
  const uint32_t allocation = be32(cmd.cdb, 6);
  if (format > 1) return invalid_field_in_cdb(1, 7);
  const bool extended = format == 1;
  std::vector<uint8_t> b(extended ? 8 : 4, 0);
  if (extended) b[4] = 0x10;  // FORMAT TYPE 001b; IMPLICIT TRANSITION TIME 0
  const size_t at = b.size();
  b.resize(at + 12, 0);
  b[at] = 0x80;      // PREF, ASYMMETRIC ACCESS STATE 0: active/optimized
  b[at + 1] = 0x01;  // AO_SUP: the one state supported
  put_be16(b, at + 2, kTargetPortGroup);
  b[at + 7] = 1;  // TARGET PORT COUNT
  put_be16(b, at + 10, kRelativeTargetPort);
  put_be32(b, 0, static_cast<uint32_t>(b.size() - 4));  // RETURN DATA LENGTH
  return data_in(std::move(b), allocation, cmd);
}

}  // namespace offcopy::scsi
