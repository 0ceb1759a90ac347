// The commands a unit has, in one table: plan() dispatches through it and
// REPORT SUPPORTED OPERATION CODES reports it, so that what the unit says
// it has and what it answers cannot disagree.  Also REPORT SUPPORTED TASK
// MANAGEMENT FUNCTIONS (SPC-4 6.36), the other MAINTENANCE IN command.
#include <algorithm>

#include "scsi/cdb.h"
#include "scsi/unit_impl.h"

namespace offcopy::scsi {
namespace {

// REPORT SUPPORTED OPERATION CODES' REPORTING OPTIONS (SPC-4 6.35.1).
enum ReportingOptions : uint8_t {
  kAllCommands = 0,
  kOneOpcode = 1,                 // an operation code without service actions
  kOneServiceAction = 2,          // an operation code and its service action
  kOneOpcodeOrServiceAction = 3,  // either, as the operation code has them or not
};

// The command timeouts descriptor (SPC-4 6.35.4) RCTD asks for: 0 in both
// timeouts, "not specified" -- a command here takes as long as its disk.
void append_timeouts(std::vector<uint8_t>& b) {
  const size_t at = b.size();
  b.resize(at + 12, 0);
  put_be16(b, at, 0x0A);  // DESCRIPTOR LENGTH
}

}  // namespace

std::span<const LogicalUnit::Impl::CommandSpec> LogicalUnit::Impl::commands() {
  using U = Impl;
  constexpr uint8_t F = 0xff;
  // Sorted by operation code and service action, as REPORT SUPPORTED
  // OPERATION CODES lists them.  The CDB usage data is what each command's
  // code reads: DPO and FUA where they are accepted, never RDPROTECT and
  // the like (refused: no protection information), and no control byte
  // bits (NACA is refused: there is no ACA).
  static const CommandSpec kCommands[] = {
      {op::kTestUnitReady,
       -1,
       [](U&, const Command&) { return answer({}); },
       nullptr,
       {0x00, 0, 0, 0, 0, 0}, Access::query},
      // Answered by submit(), which holds the unit attention it reports.
      {op::kRequestSense, -1, nullptr, nullptr, {0x03, 0x01, 0, 0, F, 0}, Access::free},
      {op::kRead6,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, false); },
       nullptr,
       {0x08, 0x1f, F, F, F, 0}, Access::read},
      {op::kWrite6,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, true); },
       nullptr,
       {0x0A, 0x1f, F, F, F, 0}},
      {op::kInquiry,
       -1,
       [](U& u, const Command& c) { return answer(u.inquiry(c)); },
       nullptr,
       {0x12, 0x01, F, F, F, 0}, Access::free},
      {op::kModeSelect6,
       -1,
       [](U& u, const Command& c) { return answer(u.mode_select(c)); },
       nullptr,
       {0x15, 0x11, 0, 0, F, 0}},
      // RESERVE and RELEASE judge themselves (Reservations::reserve).
      {op::kReserve6,
       -1,
       [](U& u, const Command& c) { return answer(u.reservations.reserve(c)); },
       nullptr,
       {0x16, 0x11, 0, 0, 0, 0},
       Access::free},
      {op::kRelease6,
       -1,
       [](U& u, const Command& c) { return answer(u.reservations.release(c)); },
       nullptr,
       {0x17, 0, 0, 0, 0, 0},
       Access::free},
      {op::kModeSense6,
       -1,
       [](U& u, const Command& c) { return answer(u.mode_sense(c)); },
       nullptr,
       {0x1A, 0x08, F, F, F, 0}, Access::read},
      {op::kStartStopUnit,
       -1,
       [](U& u, const Command& c) { return u.start_stop_unit(c); },
       nullptr,
       {0x1B, 0x01, 0, 0x0f, 0xf7, 0}},
      {op::kPreventAllowMediumRemoval,
       -1,
       [](U& u, const Command& c) { return answer(u.prevent_allow_medium_removal(c)); },
       nullptr,
       {0x1E, 0, 0, 0, 0x03, 0}},
      {op::kReadCapacity10,
       -1,
       [](U& u, const Command& c) { return answer(u.read_capacity_10(c)); },
       nullptr,
       {0x25, 0, F, F, F, F, 0, 0, 0x01, 0}, Access::query},
      {op::kRead10,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, false); },
       nullptr,
       {0x28, 0x18, F, F, F, F, 0, F, F, 0}, Access::read},
      {op::kWrite10,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, true); },
       nullptr,
       {0x2A, 0x18, F, F, F, F, 0, F, F, 0}},
      {op::kWriteAndVerify10,
       -1,
       [](U& u, const Command& c) { return u.write_and_verify(c); },
       nullptr,
       {0x2E, 0x16, F, F, F, F, 0, F, F, 0}},
      {op::kVerify10,
       -1,
       [](U& u, const Command& c) { return u.verify(c); },
       nullptr,
       {0x2F, 0x16, F, F, F, F, 0, F, F, 0}, Access::read},
      {op::kPrefetch10,
       -1,
       [](U& u, const Command& c) { return u.prefetch(c); },
       nullptr,
       {0x34, 0x02, F, F, F, F, 0, F, F, 0}, Access::read},
      {op::kSynchronizeCache10,
       -1,
       [](U& u, const Command& c) { return u.synchronize_cache(c); },
       nullptr,
       {0x35, 0x02, F, F, F, F, 0, F, F, 0}},
      {op::kReadDefectData10,
       -1,
       [](U& u, const Command& c) { return answer(u.read_defect_data(c)); },
       nullptr,
       {0x37, 0, 0x1f, 0, 0, 0, 0, F, F, 0}, Access::read},
      {op::kWriteSame10,
       -1,
       [](U& u, const Command& c) { return u.write_same(c); },
       nullptr,
       {0x41, 0x08, F, F, F, F, 0, F, F, 0}},
      // Where LBPU is advertised (holes can be punched); a read-only unit
      // refuses it as it refuses every write, with WRITE PROTECTED.
      {op::kUnmap,
       -1,
       [](U& u, const Command& c) { return u.unmap(c); },
       [](const U& u) { return u.thin() || u.options.read_only; },
       {0x42, 0, 0, 0, 0, 0, 0, F, F, 0}},
      {op::kModeSelect10,
       -1,
       [](U& u, const Command& c) { return answer(u.mode_select(c)); },
       nullptr,
       {0x55, 0x11, 0, 0, 0, 0, 0, F, F, 0}},
      {op::kReserve10,
       -1,
       [](U& u, const Command& c) { return answer(u.reservations.reserve(c)); },
       nullptr,
       {0x56, 0x12, 0, 0, 0, 0, 0, 0, 0, 0},
       Access::free},
      {op::kRelease10,
       -1,
       [](U& u, const Command& c) { return answer(u.reservations.release(c)); },
       nullptr,
       {0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0},
       Access::free},
      {op::kModeSense10,
       -1,
       [](U& u, const Command& c) { return answer(u.mode_sense(c)); },
       nullptr,
       {0x5A, 0x18, F, F, 0, 0, 0, F, F, 0}, Access::read},
      {op::kPersistentReserveIn,
       -1,
       [](U& u, const Command& c) { return answer(u.reservations.persistent_reserve_in(c)); },
       nullptr,
       {0x5E, 0x1f, 0, 0, 0, 0, 0, F, F, 0},
       Access::persistent},
      {op::kPersistentReserveOut,
       -1,
       [](U& u, const Command& c) { return u.persistent_reserve_out(c); },
       nullptr,
       {0x5F, 0x1f, F, 0, 0, F, F, F, F, 0},
       Access::persistent},
      // Third-party copy: only where a copy engine runs them.  The unit
      // the command is sent to is only the copy manager; the units it
      // names are checked for the reads and writes it makes.
      {op::kThirdPartyCopyOut,
       op::kExtendedCopyLid1,
       [](U& u, const Command& c) { return u.extended_copy(c); },
       [](const U& u) { return u.copies(); },
       {0x83, op::kExtendedCopyLid1, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kThirdPartyCopyOut,
       op::kExtendedCopyLid4,
       [](U& u, const Command& c) { return u.extended_copy(c); },
       [](const U& u) { return u.copies(); },
       {0x83, op::kExtendedCopyLid4, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      // POPULATE TOKEN reads this unit; WRITE USING TOKEN writes it (and
      // checks the token's source for itself).
      {op::kThirdPartyCopyOut,
       op::kPopulateToken,
       [](U& u, const Command& c) { return u.populate_token(c); },
       [](const U& u) { return u.copies(); },
       {0x83, op::kPopulateToken, 0, 0, 0, 0, F, F, F, F, F, F, F, F, 0, 0},
       Access::read},
      {op::kThirdPartyCopyOut,
       op::kWriteUsingToken,
       [](U& u, const Command& c) { return u.write_using_token(c); },
       [](const U& u) { return u.copies(); },
       {0x83, op::kWriteUsingToken, 0, 0, 0, 0, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kThirdPartyCopyOut,
       op::kCopyOperationAbort,
       [](U& u, const Command& c) { return u.copy_operation_abort(c); },
       [](const U& u) { return u.copies(); },
       {0x83, op::kCopyOperationAbort, F, F, F, F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
       Access::query},
      {op::kThirdPartyCopyIn,
       op::kReceiveCopyStatusLid1,
       [](U& u, const Command& c) { return answer(u.receive_copy_status(c)); },
       [](const U& u) { return u.copies(); },
       {0x84, op::kReceiveCopyStatusLid1, F, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kThirdPartyCopyIn,
       op::kReceiveCopyOperatingParameters,
       [](U& u, const Command& c) { return answer(u.receive_copy_operating_parameters(c)); },
       [](const U& u) { return u.copies(); },
       {0x84, op::kReceiveCopyOperatingParameters, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kThirdPartyCopyIn,
       op::kReceiveCopyFailureDetails,
       [](U& u, const Command& c) { return answer(u.receive_copy_status(c)); },
       [](const U& u) { return u.copies(); },
       {0x84, op::kReceiveCopyFailureDetails, F, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kThirdPartyCopyIn,
       op::kReceiveCopyStatusLid4,
       [](U& u, const Command& c) { return answer(u.receive_copy_status(c)); },
       [](const U& u) { return u.copies(); },
       {0x84, op::kReceiveCopyStatusLid4, F, F, F, F, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kThirdPartyCopyIn,
       op::kReceiveRodTokenInformation,
       [](U& u, const Command& c) { return answer(u.receive_copy_status(c)); },
       [](const U& u) { return u.copies(); },
       {0x84, op::kReceiveRodTokenInformation, F, F, F, F, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kThirdPartyCopyIn,
       op::kReportAllRodTokens,
       [](U& u, const Command& c) { return answer(u.report_all_rod_tokens(c)); },
       [](const U& u) { return u.copies(); },
       {0x84, op::kReportAllRodTokens, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::query},
      {op::kRead16,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, false); },
       nullptr,
       {0x88, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}, Access::read},
      {op::kCompareAndWrite,
       -1,
       [](U& u, const Command& c) { return u.compare_and_write(c); },
       nullptr,
       {0x89, 0x18, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0, 0}},
      {op::kWrite16,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, true); },
       nullptr,
       {0x8A, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kOrWrite16,
       -1,
       [](U& u, const Command& c) { return u.or_write(c); },
       nullptr,
       {0x8B, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kWriteAndVerify16,
       -1,
       [](U& u, const Command& c) { return u.write_and_verify(c); },
       nullptr,
       {0x8E, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kVerify16,
       -1,
       [](U& u, const Command& c) { return u.verify(c); },
       nullptr,
       {0x8F, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}, Access::read},
      {op::kPrefetch16,
       -1,
       [](U& u, const Command& c) { return u.prefetch(c); },
       nullptr,
       {0x90, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}, Access::read},
      {op::kSynchronizeCache16,
       -1,
       [](U& u, const Command& c) { return u.synchronize_cache(c); },
       nullptr,
       {0x91, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kWriteSame16,
       -1,
       [](U& u, const Command& c) { return u.write_same(c); },
       nullptr,
       {0x93, 0x09, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kServiceActionIn16,
       op::kReadCapacity16,
       [](U& u, const Command& c) { return answer(u.read_capacity_16(c)); },
       nullptr,
       {0x9E, op::kReadCapacity16, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0}, Access::query},
      {op::kServiceActionIn16,
       op::kGetLbaStatus,
       [](U& u, const Command& c) { return u.get_lba_status(c); },
       nullptr,
       {0x9E, op::kGetLbaStatus, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0}, Access::read},
      // Answered by the LunMap, for every LUN, before a unit sees it.
      {op::kReportLuns, -1, nullptr, nullptr, {0xA0, 0, F, 0, 0, 0, F, F, F, F, 0, 0}, Access::free},
      {op::kMaintenanceIn,
       op::kReportTargetPortGroups,
       [](U& u, const Command& c) { return answer(u.report_target_port_groups(c)); },
       nullptr,
       {0xA3, 0xE0 | op::kReportTargetPortGroups, 0, 0, 0, 0, F, F, F, F, 0, 0},
       Access::free},
      {op::kMaintenanceIn,
       op::kReportSupportedOpcodes,
       [](U& u, const Command& c) { return answer(u.report_supported_opcodes(c)); },
       nullptr,
       {0xA3, op::kReportSupportedOpcodes, 0x87, F, F, F, F, F, F, F, 0, 0}, Access::free},
      {op::kMaintenanceIn,
       op::kReportSupportedTmfs,
       [](U& u, const Command& c) { return answer(u.report_supported_tmfs(c)); },
       nullptr,
       {0xA3, op::kReportSupportedTmfs, 0x80, 0, 0, 0, F, F, F, F, 0, 0}, Access::free},
      {op::kRead12,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, false); },
       nullptr,
       {0xA8, 0x18, F, F, F, F, F, F, F, F, 0, 0}, Access::read},
      {op::kWrite12,
       -1,
       [](U& u, const Command& c) { return u.read_write(c, true); },
       nullptr,
       {0xAA, 0x18, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kWriteAndVerify12,
       -1,
       [](U& u, const Command& c) { return u.write_and_verify(c); },
       nullptr,
       {0xAE, 0x16, F, F, F, F, F, F, F, F, 0, 0}},
      {op::kVerify12,
       -1,
       [](U& u, const Command& c) { return u.verify(c); },
       nullptr,
       {0xAF, 0x16, F, F, F, F, F, F, F, F, 0, 0}, Access::read},
      {op::kReadDefectData12,
       -1,
       [](U& u, const Command& c) { return answer(u.read_defect_data(c)); },
       nullptr,
       {0xB7, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, 0}, Access::read},
  };
  return kCommands;
}

// Whether the table gives `opcode` service actions (SERVICE ACTION in
// byte 1, bits 4-0).
bool LogicalUnit::Impl::has_service_actions(uint8_t opcode) {
  const std::span<const CommandSpec> table = commands();
  return std::any_of(table.begin(), table.end(), [&](const CommandSpec& c) {
    return c.opcode == opcode && c.service_action >= 0;
  });
}

const LogicalUnit::Impl::CommandSpec* LogicalUnit::Impl::find_command(uint8_t opcode,
                                                                      int service_action) const {
  for (const CommandSpec& c : commands()) {
    if (c.opcode != opcode || c.service_action != service_action) continue;
    if (c.available && !c.available(*this)) return nullptr;
    return &c;
  }
  return nullptr;
}

Plan LogicalUnit::Impl::plan(const Command& cmd) {
  const uint8_t opcode = cmd.cdb[0];
  const bool with_sa = has_service_actions(opcode);
  const CommandSpec* c = find_command(opcode, with_sa ? cmd.cdb[1] & 0x1f : -1);
  if (c && c->plan) {
    // RESERVATION CONFLICT carries no sense (SPC-4 5.13.1).
    if (reservations.conflicts(cmd, c->access)) return answer({Status::reservation_conflict});
    return c->plan(*this, cmd);
  }
  // An operation code this unit has with a service action it does not:
  // the SERVICE ACTION field is what is wrong.
  const std::span<const CommandSpec> table = commands();
  const bool has_opcode = std::any_of(table.begin(), table.end(), [&](const CommandSpec& s) {
    return s.opcode == opcode && (!s.available || s.available(*this));
  });
  if (with_sa && has_opcode) return answer(invalid_field_in_cdb(1, 4));
  return answer(check_condition(SenseKey::illegal_request, kInvalidOpcode));
}

// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35): every command of the
// table this unit has, or one of them with its CDB usage data.
Result LogicalUnit::Impl::report_supported_opcodes(const Command& cmd) const {
  const bool rctd = cmd.cdb[2] & 0x80;
  const uint8_t options = cmd.cdb[2] & 0x07;
  const uint8_t requested_opcode = cmd.cdb[3];
  const uint16_t requested_sa = be16(cmd.cdb, 4);
  const uint32_t allocation = be32(cmd.cdb, 6);
  const std::span<const CommandSpec> table = commands();

  if (options == kAllCommands) {
    std::vector<uint8_t> b(4, 0);
    for (const CommandSpec& c : table) {
      if (c.available && !c.available(*this)) continue;
      const size_t at = b.size();
      b.resize(at + 8, 0);
      b[at] = c.opcode;
      put_be16(b, at + 2, static_cast<uint16_t>(std::max(c.service_action, 0)));
      b[at + 5] = (rctd ? 0x02 : 0) | (c.service_action >= 0 ? 0x01 : 0);  // CTDP, SERVACTV
      put_be16(b, at + 6, static_cast<uint16_t>(cdb_length(c.opcode)));
      if (rctd) append_timeouts(b);
    }
    put_be32(b, 0, static_cast<uint32_t>(b.size() - 4));  // COMMAND DATA LENGTH
    return data_in(std::move(b), allocation, cmd);
  }

  const bool with_sa = has_service_actions(requested_opcode);
  int sa = -1;
  switch (options) {
    case kOneOpcode:
      // An operation code with service actions needs one named.
      if (with_sa) return invalid_field_in_cdb(2, 2);
      break;
    case kOneServiceAction:
      // A service action of an operation code that has none.  One this
      // unit does not know is "not supported" below, whichever it is.
      if (!with_sa && find_command(requested_opcode, -1)) return invalid_field_in_cdb(2, 2);
      sa = requested_sa;
      break;
    case kOneOpcodeOrServiceAction:
      if (with_sa) sa = requested_sa;
      break;
    default: return invalid_field_in_cdb(2, 2);
  }
  // A service action past 5 bits is not one this unit could have.
  const CommandSpec* c = sa > 0x1f ? nullptr : find_command(requested_opcode, sa);
  std::vector<uint8_t> b(4, 0);
  if (rctd) b[1] = 0x80;  // CTDP
  if (c == nullptr) {
    b[1] |= 0x01;  // SUPPORT 001b: not supported
  } else {
    b[1] |= 0x03;  // SUPPORT 011b: supported as the standard says
    const size_t len = cdb_length(c->opcode);
    put_be16(b, 2, static_cast<uint16_t>(len));
    b.insert(b.end(), c->usage.begin(), c->usage.begin() + len);
  }
  if (rctd) append_timeouts(b);
  return data_in(std::move(b), allocation, cmd);
}

// REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.36): what the
// transport (target/iscsi) does for this unit: ABORT TASK, ABORT TASK SET,
// CLEAR TASK SET, LOGICAL UNIT RESET and TARGET RESET -- not CLEAR ACA
// (there is no ACA), QUERY TASK or the I_T nexus reset.
Result LogicalUnit::Impl::report_supported_tmfs(const Command& cmd) const {
  const bool repd = cmd.cdb[2] & 0x80;
  const uint32_t allocation = be32(cmd.cdb, 6);
  std::vector<uint8_t> b(repd ? 16 : 4, 0);
  b[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02;  // ATS, ATSS, CTSS, LURS, TRS
  if (repd) b[3] = 0x0C;                    // ADDITIONAL DATA LENGTH
  return data_in(std::move(b), allocation, cmd);
}

}  // namespace offcopy::scsi
