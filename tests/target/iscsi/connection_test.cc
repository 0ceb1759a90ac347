// One Connection in the full feature phase, driven with bytes alone (RFC
// 7143): digests, SCSI commands and their responses with residuals,
// CmdSN windowing, Data-Out (immediate, unsolicited, solicited by R2T) and
// Data-In, NOP-In/Out, Text, Logout, task management, Reject, and input
// that breaks the rules.  Several Connections sharing one Harness are
// sessions of one server: task management across them, reinstatement,
// a connection lost mid-command, and the limits (sessions, the data-out
// and data-in buffers of a session, Data-In counted until the Link has
// sent it).
#include "iscsi/connection.h"

#include <random>

#include <gtest/gtest.h>

#include "iscsi_testing.h"

namespace offcopy::iscsi::testing {
namespace {

constexpr uint8_t kRead = 0x40;
constexpr uint8_t kWrite = 0x20;

std::vector<uint8_t> slice(const std::vector<uint8_t>& b, size_t at, size_t n) {
  return {b.begin() + at, b.begin() + at + n};
}

// Sense key, ASC, ASCQ of a SCSI Response's sense data (after its 2-byte
// SenseLength).
struct SenseCode {
  int key = -1, asc = -1, ascq = -1;
  bool operator==(const SenseCode&) const = default;
};
SenseCode sense_of(const Pdu& r) {
  if (r.data.size() < 2 + 14) return {};
  const std::vector<uint8_t> s(r.data.begin() + 2, r.data.end());
  EXPECT_EQ(size_t(r.data[0] << 8 | r.data[1]), s.size()) << "SenseLength";
  return {s[2] & 0x0f, s[12], s[13]};
}
std::ostream& operator<<(std::ostream& o, const SenseCode& s) {
  return o << "key " << s.key << " asc " << std::hex << s.asc << "/" << s.ascq;
}

void expect_good(const Pdu& r, uint32_t itt) {
  EXPECT_EQ(r.opcode(), Opcode::scsi_response);
  EXPECT_EQ(r.itt(), itt);
  EXPECT_EQ(r.bhs[1], 0x80) << "F, no residual";
  EXPECT_EQ(r.bhs[2], 0) << "command completed at target";
  EXPECT_EQ(r.bhs[3], 0) << "GOOD; " << sense_of(r);
  EXPECT_EQ(r.field32(44), 0u) << "residual count";
}

// Nothing more comes from the target (names what did).
void expect_no_more(Initiator& ini, const char* why) {
  if (std::optional<Pdu> p = ini.next(std::chrono::milliseconds(50))) {
    ADD_FAILURE() << why << ": got opcode 0x" << std::hex << int(p->opcode()) << " ITT 0x"
                  << p->itt() << " StatSN 0x" << stat_sn(*p);
  }
}

class ConnectionTest : public ::testing::Test {
 protected:
  // Reads `blocks` back with READ(10), checking every Data-In's fields;
  // returns the data.
  std::vector<uint8_t> read_back(uint32_t lba, uint16_t blocks, uint32_t max_recv,
                                 uint32_t max_burst) {
    const uint32_t n = blocks * 512u;
    const Pdu cmd = ini_.command(read10(lba, blocks), n, kRead);
    const uint32_t want_stat_sn = ini_.exp_stat_sn;
    ini_.send(cmd);
    std::vector<uint8_t> out;
    uint32_t burst = 0;
    for (uint32_t sn = 0; sn < 100000; ++sn) {
      const Pdu d = ini_.expect(Opcode::data_in);
      if (d.opcode() != Opcode::data_in) break;
      EXPECT_EQ(d.itt(), cmd.itt());
      EXPECT_EQ(d.field32(20), kNoTag) << "TTT";
      EXPECT_EQ(d.field32(36), sn) << "DataSN";
      EXPECT_EQ(d.field32(40), out.size()) << "buffer offset";
      EXPECT_GT(d.data.size(), 0u);
      EXPECT_LE(d.data.size(), max_recv) << "the initiator's MaxRecvDataSegmentLength";
      out.insert(out.end(), d.data.begin(), d.data.end());
      burst += static_cast<uint32_t>(d.data.size());
      EXPECT_LE(burst, max_burst) << "a Data-In sequence past MaxBurstLength";
      const bool last = out.size() >= n;
      EXPECT_EQ((d.bhs[1] & 0x80) != 0, last || burst == max_burst) << "F, DataSN " << sn;
      if (d.bhs[1] & 0x80) burst = 0;
      EXPECT_EQ((d.bhs[1] & 0x01) != 0, last) << "S on the last Data-In only";
      if (last) {
        EXPECT_EQ(d.bhs[1] & 0x06, 0) << "no residual";
        EXPECT_EQ(d.bhs[3], 0) << "GOOD";
        EXPECT_EQ(d.field32(44), 0u);
        EXPECT_EQ(stat_sn(d), want_stat_sn);
        EXPECT_EQ(exp_cmd_sn(d), ini_.cmd_sn);
        break;
      }
    }
    EXPECT_EQ(out.size(), n);
    EXPECT_TRUE(ini_.silent()) << "no SCSI Response after phase-collapsed status";
    return out;
  }

  // A Pdu built by `make` with CmdSN `sn`, the initiator's own CmdSN left
  // as it was.
  Pdu with_cmd_sn(Pdu p, uint32_t sn) {
    --ini_.cmd_sn;
    p.set_field32(24, sn);
    return p;
  }

  Harness h_;
  Initiator ini_{h_};
};

// --- Digests -------------------------------------------------------------

KeyValues crc_keys() {
  return with(libiscsi_operational_keys(),
              {{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C,None"}});
}

TEST_F(ConnectionTest, DigestsProtectEveryPduAfterLogin) {
  const Pdu r = ini_.login(kTargetA, crc_keys());
  EXPECT_EQ(keys_of(r).at("HeaderDigest"), "CRC32C");
  EXPECT_EQ(keys_of(r).at("DataDigest"), "CRC32C");
  ASSERT_TRUE(ini_.digests.header && ini_.digests.data);

  const std::vector<uint8_t> ping = pattern(13, 7);  // padded on the wire
  ini_.send(ini_.nop_out(0x99, kNoTag, ping));
  const Pdu in = ini_.expect(Opcode::nop_in);
  EXPECT_EQ(in.itt(), 0x99u);
  EXPECT_EQ(in.data, ping);

  ini_.send(ini_.command(inquiry(36), 36, kRead));
  const Pdu d = ini_.expect(Opcode::data_in);
  EXPECT_EQ(d.data.size(), 36u);
  ini_.send(ini_.command(tur(), 0, 0));
  expect_good(ini_.expect(Opcode::scsi_response), ini_.next_itt - 1);
  EXPECT_EQ(ini_.link.bad_pdus, 0) << "each PDU parsed back with both digests on";
}

TEST_F(ConnectionTest, CorruptDataDigestIsRejectedAndTheConnectionStays) {
  ini_.login(kTargetA, crc_keys());
  std::vector<uint8_t> wire = serialize(ini_.nop_out(0x42, kNoTag, pattern(16, 3)), ini_.digests);
  wire.back() ^= 0x01;  // the data digest
  ini_.send_bytes(wire);
  const Pdu rej = ini_.expect(Opcode::reject);
  EXPECT_EQ(rej.bhs[1], 0x80);
  EXPECT_EQ(rej.bhs[2], 0x02) << "data (payload) digest error";
  EXPECT_EQ(rej.itt(), kNoTag);
  ASSERT_EQ(rej.data.size(), kBhsLength) << "the rejected header";
  EXPECT_EQ(rej.data[0] & 0x3f, uint8_t(Opcode::nop_out));
  EXPECT_EQ(scsi::be32(rej.data, 16), 0x42u);
  EXPECT_FALSE(ini_.conn().finished());
  EXPECT_FALSE(ini_.link.close_requested);

  ini_.send(ini_.nop_out(0x43, kNoTag, {9, 8, 7, 6}));
  const Pdu in = ini_.expect(Opcode::nop_in);
  EXPECT_EQ(in.itt(), 0x43u);
  EXPECT_EQ(in.data, (std::vector<uint8_t>{9, 8, 7, 6}));
}

TEST_F(ConnectionTest, CorruptHeaderDigestClosesTheConnection) {
  ini_.login(kTargetA, crc_keys());
  std::vector<uint8_t> wire = serialize(ini_.command(tur(), 0, 0), ini_.digests);
  wire[kBhsLength] ^= 0x80;  // the header digest
  ini_.send_bytes(wire);
  EXPECT_TRUE(ini_.link.close_requested);
  EXPECT_TRUE(ini_.conn().finished());
  EXPECT_TRUE(ini_.silent());
}

// --- SCSI commands, status and residuals ----------------------------------

TEST_F(ConnectionTest, TestUnitReadyGoodWithStatSnAndExpCmdSnAdvancing) {
  ini_.login();
  ASSERT_EQ(ini_.exp_stat_sn, 0x1002u);
  ASSERT_EQ(ini_.cmd_sn, 0x500u);
  uint32_t last_max = 0x500;
  for (uint32_t i = 0; i < 3; ++i) {
    const Pdu cmd = ini_.command(tur(), 0, 0);
    ini_.send(cmd);
    const Pdu r = ini_.expect(Opcode::scsi_response);
    expect_good(r, cmd.itt());
    EXPECT_EQ(stat_sn(r), 0x1002u + i);
    EXPECT_EQ(exp_cmd_sn(r), 0x501u + i);
    EXPECT_GE(max_cmd_sn(r), last_max) << "MaxCmdSN never goes back";
    EXPECT_GE(max_cmd_sn(r) + 1, exp_cmd_sn(r));
    EXPECT_LE(max_cmd_sn(r) - exp_cmd_sn(r), h_.options.queue_depth - 1);
    EXPECT_EQ(r.field32(36), 0u) << "ExpDataSN: no Data-In";
    EXPECT_TRUE(r.data.empty());
    last_max = max_cmd_sn(r);
  }
}

TEST_F(ConnectionTest, InquiryStatusCollapsesIntoTheDataIn) {
  ini_.login();
  const Pdu cmd = ini_.command(inquiry(36), 36, kRead);
  ini_.send(cmd);
  const Pdu d = ini_.expect(Opcode::data_in);
  EXPECT_EQ(d.bhs[1], 0x81) << "F and S, no residual";
  EXPECT_EQ(d.bhs[3], 0) << "GOOD";
  EXPECT_EQ(d.itt(), cmd.itt());
  EXPECT_EQ(d.field32(20), kNoTag);
  EXPECT_EQ(stat_sn(d), 0x1002u);
  EXPECT_EQ(exp_cmd_sn(d), 0x501u);
  EXPECT_EQ(d.field32(36), 0u) << "DataSN";
  EXPECT_EQ(d.field32(40), 0u) << "offset";
  EXPECT_EQ(d.field32(44), 0u) << "residual";
  ASSERT_EQ(d.data.size(), 36u);
  EXPECT_EQ(d.data[0], 0x00) << "direct access block device";
  EXPECT_EQ(std::string(d.data.begin() + 8, d.data.begin() + 16), "OFFCOPY ");
  EXPECT_TRUE(ini_.silent()) << "no separate SCSI Response";
  // The next response has the next StatSN.
  ini_.send(ini_.command(tur(), 0, 0));
  EXPECT_EQ(stat_sn(ini_.expect(Opcode::scsi_response)), 0x1003u);
}

TEST_F(ConnectionTest, InquiryShorterThanExpectedIsUnderflow) {
  ini_.login();
  const Pdu cmd = ini_.command(inquiry(255), 255, kRead);
  ini_.send(cmd);
  const Pdu d = ini_.expect(Opcode::data_in);
  EXPECT_EQ(d.bhs[1], 0x80 | 0x02 | 0x01) << "F, U, S";
  EXPECT_EQ(d.bhs[3], 0);
  ASSERT_EQ(d.data.size(), 96u) << "standard INQUIRY data";
  EXPECT_EQ(d.field32(44), 255u - 96u) << "residual";
  EXPECT_TRUE(ini_.silent());
}

TEST_F(ConnectionTest, ReadCapacityLongerThanExpectedIsOverflow) {
  ini_.login();
  const Pdu cmd = ini_.command(read_capacity10(), 4, kRead);
  ini_.send(cmd);
  const Pdu d = ini_.expect(Opcode::data_in);
  ASSERT_EQ(d.data.size(), 4u) << "cut to the EDTL";
  EXPECT_EQ(scsi::be32(d.data, 0), 2047u) << "the last LBA";
  EXPECT_EQ(d.bhs[1], 0x80 | 0x04 | 0x01) << "F, O, S: 8 bytes were there for 4 expected";
  EXPECT_EQ(d.field32(44), 4u) << "residual: READ CAPACITY (10) returns 8 bytes";
}

TEST_F(ConnectionTest, ReadCapacityWhole) {
  ini_.login();
  ini_.send(ini_.command(read_capacity10(), 8, kRead));
  const Pdu d = ini_.expect(Opcode::data_in);
  EXPECT_EQ(d.bhs[1], 0x81);
  ASSERT_EQ(d.data.size(), 8u);
  EXPECT_EQ(scsi::be32(d.data, 0), 2047u);
  EXPECT_EQ(scsi::be32(d.data, 4), 512u);
}

TEST_F(ConnectionTest, MissingLunIsLogicalUnitNotSupported) {
  ini_.login();
  const Pdu cmd = ini_.command(tur(), 0, 0, /*lun=*/7);
  ini_.send(cmd);
  const Pdu r = ini_.expect(Opcode::scsi_response);
  EXPECT_EQ(r.itt(), cmd.itt());
  EXPECT_EQ(r.bhs[3], 0x02) << "CHECK CONDITION";
  EXPECT_EQ(sense_of(r), (SenseCode{0x05, 0x25, 0x00}));
}

// --- CmdSN windowing ----------------------------------------------------

TEST_F(ConnectionTest, CommandsOutsideTheWindowGetNoAnswer) {
  ini_.login();
  const Pdu first = ini_.command(tur(), 0, 0);
  ini_.send(first);
  const Pdu r = ini_.expect(Opcode::scsi_response);
  const uint32_t exp = exp_cmd_sn(r), max = max_cmd_sn(r);
  ASSERT_EQ(exp, 0x501u);

  ini_.send(with_cmd_sn(ini_.command(tur(), 0, 0), max + 1));
  EXPECT_TRUE(ini_.silent()) << "CmdSN MaxCmdSN+1";
  ini_.send(with_cmd_sn(ini_.command(tur(), 0, 0), exp - 1));
  EXPECT_TRUE(ini_.silent()) << "CmdSN ExpCmdSN-1 (already taken)";
  ini_.send(with_cmd_sn(ini_.command(tur(), 0, 0), exp + 0x80000000u));
  EXPECT_TRUE(ini_.silent()) << "CmdSN far away";

  const Pdu ok = ini_.command(tur(), 0, 0);
  ASSERT_EQ(ok.field32(24), exp);
  ini_.send(ok);
  const Pdu r2 = ini_.expect(Opcode::scsi_response);
  expect_good(r2, ok.itt());
  EXPECT_EQ(exp_cmd_sn(r2), exp + 1);
  EXPECT_EQ(stat_sn(r2), stat_sn(r) + 1) << "the ignored commands took no StatSN";
}

TEST_F(ConnectionTest, CommandsOutOfOrderInTheWindowAreBothAnswered) {
  ini_.login();
  const uint32_t n = ini_.cmd_sn;
  const Pdu a = ini_.command(tur(), 0, 0);  // CmdSN n
  const Pdu b = ini_.command(tur(), 0, 0);  // CmdSN n+1
  ini_.send(b);
  EXPECT_TRUE(ini_.silent()) << "n+1 waits for n";
  ini_.send(a);
  std::map<uint32_t, Pdu> by_itt;
  for (int i = 0; i < 2; ++i) {
    const Pdu r = ini_.expect(Opcode::scsi_response);
    by_itt[r.itt()] = r;
  }
  ASSERT_EQ(by_itt.size(), 2u);
  expect_no_more(ini_, "one response per command");
  expect_good(by_itt[a.itt()], a.itt());
  expect_good(by_itt[b.itt()], b.itt());
  EXPECT_EQ(exp_cmd_sn(by_itt[a.itt()]) == n + 2 || exp_cmd_sn(by_itt[b.itt()]) == n + 2, true);
  ini_.send(ini_.command(tur(), 0, 0));
  EXPECT_EQ(exp_cmd_sn(ini_.expect(Opcode::scsi_response)), n + 3);
}

TEST_F(ConnectionTest, CommandsOutOfOrderAreDeliveredInCmdSnOrder) {
  // RFC 7143 4.2.2.1: the target delivers non-immediate commands for
  // execution in CmdSN order.  Commands answered at once are answered in
  // the order they run.
  ini_.login();
  const Pdu a = ini_.command(tur(), 0, 0);  // CmdSN n
  const Pdu b = ini_.command(tur(), 0, 0);  // CmdSN n+1
  ini_.send(b);
  ini_.send(a);
  const Pdu r1 = ini_.expect(Opcode::scsi_response);
  const Pdu r2 = ini_.expect(Opcode::scsi_response);
  EXPECT_EQ(r1.itt(), a.itt()) << "CmdSN n ran after n+1";
  EXPECT_EQ(r2.itt(), b.itt());
  expect_no_more(ini_, "one response per command");
}

TEST_F(ConnectionTest, ImmediateCommandDoesNotAdvanceExpCmdSn) {
  ini_.login();
  const uint32_t n = ini_.cmd_sn;
  const Pdu imm = ini_.command(tur(), 0, 0, 0, {}, /*immediate=*/true);
  EXPECT_EQ(imm.field32(24), n);
  ini_.send(imm);
  const Pdu r = ini_.expect(Opcode::scsi_response);
  expect_good(r, imm.itt());
  EXPECT_EQ(exp_cmd_sn(r), n);
  const Pdu next = ini_.command(tur(), 0, 0);
  EXPECT_EQ(next.field32(24), n);
  ini_.send(next);
  const Pdu r2 = ini_.expect(Opcode::scsi_response);
  expect_good(r2, next.itt());
  EXPECT_EQ(exp_cmd_sn(r2), n + 1);
}

// --- WRITE and READ ---------------------------------------------------------

TEST_F(ConnectionTest, WriteWithImmediateAndUnsolicitedDataThenReadBack) {
  ini_.login(kTargetA, with(libiscsi_operational_keys(), {{"MaxRecvDataSegmentLength", "8192"},
                                                          {"FirstBurstLength", "65536"},
                                                          {"MaxBurstLength", "65536"}}));
  const std::vector<uint8_t> data = pattern(65536, 1);
  const Pdu cmd = ini_.command(write10(100, 128), 65536, kWrite, 0, slice(data, 0, 8192));
  ini_.send(cmd);
  EXPECT_TRUE(ini_.silent()) << "no R2T: all of it is unsolicited";
  uint32_t sn = 0;
  for (uint32_t off = 8192; off < 65536; off += 8192) {
    ini_.send(
        ini_.data_out(cmd.itt(), kNoTag, sn++, off, slice(data, off, 8192), off + 8192 == 65536));
  }
  expect_good(ini_.expect(Opcode::scsi_response), cmd.itt());
  EXPECT_EQ(read_back(100, 128, 8192, 65536), data);
}

TEST_F(ConnectionTest, WriteSolicitedByR2tThenReadBackInBursts) {
  ini_.login(kTargetA, with(libiscsi_operational_keys(), {{"MaxRecvDataSegmentLength", "8192"},
                                                          {"InitialR2T", "Yes"},
                                                          {"ImmediateData", "No"},
                                                          {"FirstBurstLength", "16384"},
                                                          {"MaxBurstLength", "16384"},
                                                          {"MaxOutstandingR2T", "2"}}));
  const std::vector<uint8_t> data = pattern(65536, 2);
  const Pdu cmd = ini_.command(write10(300, 128), 65536, kWrite, /*lun=*/0);
  ini_.send(cmd);

  std::vector<Pdu> r2ts;
  const auto check_r2t = [&](const Pdu& r, uint32_t r2t_sn) {
    EXPECT_EQ(r.bhs[1], 0x80);
    EXPECT_EQ(r.itt(), cmd.itt());
    EXPECT_NE(r.field32(20), kNoTag) << "TTT";
    EXPECT_EQ(stat_sn(r), ini_.exp_stat_sn) << "an R2T takes no StatSN";
    EXPECT_EQ(exp_cmd_sn(r), ini_.cmd_sn);
    EXPECT_EQ(r.field32(36), r2t_sn) << "R2TSN";
    EXPECT_EQ(r.field32(40), r2t_sn * 16384) << "buffer offset";
    EXPECT_EQ(r.field32(44), 16384u) << "desired length: MaxBurstLength";
    for (const Pdu& other : r2ts) {
      if (&other == &r) continue;
      EXPECT_NE(other.field32(20), r.field32(20)) << "TTTs differ";
    }
  };
  const auto answer = [&](const Pdu& r) {
    const uint32_t off = r.field32(40), len = r.field32(44);
    uint32_t sn = 0;
    for (uint32_t at = 0; at < len; at += 8192) {
      ini_.send(ini_.data_out(cmd.itt(), r.field32(20), sn++, off + at, slice(data, off + at, 8192),
                              at + 8192 == len));
    }
  };
  for (uint32_t i = 0; i < 2; ++i) {
    r2ts.push_back(ini_.expect(Opcode::r2t));
    check_r2t(r2ts.back(), i);
  }
  EXPECT_TRUE(ini_.silent()) << "at most MaxOutstandingR2T=2 outstanding";

  // Half of R2T 0's data: no new R2T yet.
  ini_.send(ini_.data_out(cmd.itt(), r2ts[0].field32(20), 0, 0, slice(data, 0, 8192), false));
  EXPECT_TRUE(ini_.silent());
  ini_.send(ini_.data_out(cmd.itt(), r2ts[0].field32(20), 1, 8192, slice(data, 8192, 8192), true));
  r2ts.push_back(ini_.expect(Opcode::r2t));
  check_r2t(r2ts.back(), 2);
  EXPECT_TRUE(ini_.silent());
  answer(r2ts[1]);
  r2ts.push_back(ini_.expect(Opcode::r2t));
  check_r2t(r2ts.back(), 3);
  answer(r2ts[2]);
  EXPECT_TRUE(ini_.silent()) << "no response before all the data is in";
  answer(r2ts[3]);
  expect_good(ini_.expect(Opcode::scsi_response), cmd.itt());

  const std::vector<uint8_t> back = read_back(300, 128, 8192, 16384);
  EXPECT_TRUE(back == data) << "the bytes read differ from the bytes written";
}

TEST_F(ConnectionTest, WritePartlyUnsolicitedThenSolicited) {
  ini_.login(kTargetA, with(libiscsi_operational_keys(), {{"MaxRecvDataSegmentLength", "8192"},
                                                          {"FirstBurstLength", "16384"},
                                                          {"MaxBurstLength", "16384"},
                                                          {"MaxOutstandingR2T", "1"}}));
  const std::vector<uint8_t> data = pattern(65536, 3);
  const Pdu cmd = ini_.command(write10(600, 128), 65536, kWrite, 0, slice(data, 0, 8192));
  ini_.send(cmd);
  // The first R2T asks for what follows the first burst.
  Pdu r = ini_.expect(Opcode::r2t);
  EXPECT_EQ(r.field32(36), 0u);
  EXPECT_EQ(r.field32(40), 16384u);
  EXPECT_EQ(r.field32(44), 16384u);
  EXPECT_TRUE(ini_.silent()) << "MaxOutstandingR2T=1";
  ini_.send(ini_.data_out(cmd.itt(), kNoTag, 0, 8192, slice(data, 8192, 8192), true));
  EXPECT_TRUE(ini_.silent());
  for (uint32_t i = 0; i < 3; ++i) {
    const uint32_t off = r.field32(40);
    ini_.send(ini_.data_out(cmd.itt(), r.field32(20), 0, off, slice(data, off, 8192), false));
    ini_.send(ini_.data_out(cmd.itt(), r.field32(20), 1, off + 8192, slice(data, off + 8192, 8192),
                            true));
    if (i < 2) {
      r = ini_.expect(Opcode::r2t);
      EXPECT_EQ(r.field32(36), i + 1) << "R2TSN";
      EXPECT_EQ(r.field32(40), 16384u * (i + 2));
    }
  }
  expect_good(ini_.expect(Opcode::scsi_response), cmd.itt());
  EXPECT_TRUE(read_back(600, 128, 8192, 16384) == data);
}

TEST_F(ConnectionTest, DataOutWithWrongDataSnFailsTheWrite) {
  ini_.login();  // InitialR2T=No, ImmediateData=Yes
  const std::vector<uint8_t> data = pattern(16384, 4);
  const Pdu cmd = ini_.command(write10(900, 32), 16384, kWrite);
  ini_.send(cmd);
  ini_.send(ini_.data_out(cmd.itt(), kNoTag, /*DataSN=*/1, 0, slice(data, 0, 8192), false));
  const Pdu r = ini_.expect(Opcode::scsi_response);
  EXPECT_EQ(r.itt(), cmd.itt());
  EXPECT_EQ(r.bhs[3], 0x02) << "CHECK CONDITION, not GOOD";
  EXPECT_EQ(sense_of(r), (SenseCode{0x0b, 0x4b, 0x00})) << "ABORTED COMMAND, DATA PHASE ERROR";
  // The rest of its data is dropped; the connection goes on.
  ini_.send(ini_.data_out(cmd.itt(), kNoTag, 1, 8192, slice(data, 8192, 8192), true));
  EXPECT_TRUE(ini_.silent());
  const Pdu t = ini_.command(tur(), 0, 0);
  ini_.send(t);
  expect_good(ini_.expect(Opcode::scsi_response), t.itt());
  // Nothing was written.
  EXPECT_EQ(read_back(900, 32, 262144, 1048576), std::vector<uint8_t>(16384, 0));
}

TEST_F(ConnectionTest, DataOutForAnUnknownTaskIsIgnored) {
  ini_.login();
  ini_.send(ini_.data_out(0xabcdef, kNoTag, 0, 0, pattern(512, 5), true));
  EXPECT_TRUE(ini_.silent());
  EXPECT_FALSE(ini_.conn().finished());
  const Pdu t = ini_.command(tur(), 0, 0);
  ini_.send(t);
  expect_good(ini_.expect(Opcode::scsi_response), t.itt());
}

TEST_F(ConnectionTest, ImmediateDataWhenNotNegotiatedIsRejected) {
  ini_.login(kTargetA, with(libiscsi_operational_keys(), {{"ImmediateData", "No"}}));
  const Pdu cmd = ini_.command(write10(0, 1), 512, kWrite, 0, pattern(512, 6));
  ini_.send(cmd);
  const Pdu rej = ini_.expect(Opcode::reject);
  EXPECT_EQ(rej.bhs[2], 0x04) << "protocol error";
  ASSERT_EQ(rej.data.size(), kBhsLength);
  EXPECT_EQ(scsi::be32(rej.data, 16), cmd.itt());
}

// --- Reject -----------------------------------------------------------------

TEST_F(ConnectionTest, UnknownOpcodeIsRejectedNotSupported) {
  ini_.login();
  for (uint8_t op : {uint8_t{0x1c}, uint8_t(Opcode::snack)}) {
    Pdu p;
    p.bhs[0] = 0x40 | op;
    p.bhs[1] = 0x80;
    p.set_field32(16, 0x5151);
    p.set_field32(24, ini_.cmd_sn);
    const uint32_t want_sn = ini_.exp_stat_sn;
    ini_.send(p);
    const Pdu rej = ini_.expect(Opcode::reject);
    EXPECT_EQ(rej.bhs[2], 0x05) << "command not supported, opcode " << int(op);
    EXPECT_EQ(stat_sn(rej), want_sn);
    ASSERT_EQ(rej.data.size(), kBhsLength);
    EXPECT_EQ(rej.data[0] & 0x3f, op);
    EXPECT_EQ(scsi::be32(rej.data, 16), 0x5151u);
  }
  EXPECT_FALSE(ini_.conn().finished());
}

TEST_F(ConnectionTest, CommandWithAnIttInUseIsRejected) {
  ini_.login(kTargetA,
             with(libiscsi_operational_keys(), {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}));
  const std::vector<uint8_t> data = pattern(512, 7);
  const Pdu w = ini_.command(write10(5, 1), 512, kWrite);
  ini_.send(w);
  const Pdu r2t = ini_.expect(Opcode::r2t);
  // A TUR with the WRITE's ITT while the WRITE waits for its data.
  Pdu dup = ini_.command(tur(), 0, 0);
  dup.set_field32(16, w.itt());
  ini_.send(dup);
  const Pdu rej = ini_.expect(Opcode::reject);
  EXPECT_EQ(rej.bhs[2], 0x09) << "invalid PDU field";
  ASSERT_EQ(rej.data.size(), kBhsLength);
  EXPECT_EQ(scsi::be32(rej.data, 16), w.itt());
  // The WRITE goes on.
  ini_.send(ini_.data_out(w.itt(), r2t.field32(20), 0, 0, data, true));
  expect_good(ini_.expect(Opcode::scsi_response), w.itt());
  // The rejected command's CmdSN was not taken: the next command reuses it.
  const Pdu t = with_cmd_sn(ini_.command(tur(), 0, 0), dup.field32(24));
  ini_.send(t);
  const Pdu r = ini_.expect(Opcode::scsi_response);
  expect_good(r, t.itt());
  EXPECT_EQ(exp_cmd_sn(r), dup.field32(24) + 1);
}

// --- NOP ----------------------------------------------------------------------

TEST_F(ConnectionTest, NopOutPingIsEchoed) {
  ini_.login();
  const std::vector<uint8_t> ping = {'p', 'i', 'n', 'g', '-', '4', '2'};
  const uint32_t want_sn = ini_.exp_stat_sn;
  ini_.send(ini_.nop_out(0x777, kNoTag, ping));
  const Pdu in = ini_.expect(Opcode::nop_in);
  EXPECT_EQ(in.bhs[1], 0x80);
  EXPECT_EQ(in.itt(), 0x777u);
  EXPECT_EQ(in.field32(20), kNoTag) << "TTT";
  EXPECT_EQ(stat_sn(in), want_sn);
  EXPECT_EQ(exp_cmd_sn(in), ini_.cmd_sn);
  EXPECT_EQ(in.data, ping);
  // The answer took a StatSN.
  ini_.send(ini_.command(tur(), 0, 0));
  EXPECT_EQ(stat_sn(ini_.expect(Opcode::scsi_response)), want_sn + 1);
}

TEST_F(ConnectionTest, IdleInitiatorIsPingedAndAnAnswerKeepsTheConnection) {
  ini_.login();
  const auto t0 = Connection::Clock::now();
  ini_.conn().tick(t0 + std::chrono::seconds(10));
  EXPECT_TRUE(ini_.silent()) << "not idle long enough";
  const uint32_t want_sn = ini_.exp_stat_sn;
  ini_.conn().tick(t0 + std::chrono::seconds(31));
  const Pdu in = ini_.expect(Opcode::nop_in);
  EXPECT_EQ(in.bhs[1], 0x80);
  EXPECT_EQ(in.itt(), kNoTag);
  EXPECT_NE(in.field32(20), kNoTag) << "a TTT to answer with";
  EXPECT_EQ(stat_sn(in), want_sn) << "a ping takes no StatSN";
  EXPECT_EQ(exp_cmd_sn(in), ini_.cmd_sn);
  EXPECT_TRUE(in.data.empty());
  ini_.conn().tick(t0 + std::chrono::seconds(40));
  EXPECT_TRUE(ini_.silent()) << "one ping at a time";

  ini_.send(ini_.nop_out(kNoTag, in.field32(20)));
  EXPECT_TRUE(ini_.silent()) << "the answer is not answered";
  ini_.conn().tick(t0 + std::chrono::seconds(63));
  EXPECT_FALSE(ini_.link.close_requested);
  EXPECT_FALSE(ini_.conn().finished());
  // Still usable.
  ini_.link.pdus.clear();
  const Pdu t = ini_.command(tur(), 0, 0);
  ini_.send(t);
  expect_good(ini_.expect(Opcode::scsi_response), t.itt());
}

TEST_F(ConnectionTest, UnansweredPingDropsTheConnection) {
  ini_.login();
  const auto t0 = Connection::Clock::now();
  ini_.conn().tick(t0 + std::chrono::seconds(31));
  const Pdu in = ini_.expect(Opcode::nop_in);
  // An answer with the wrong TTT is no answer.
  ini_.send(ini_.nop_out(kNoTag, in.field32(20) + 1000));
  ini_.conn().tick(t0 + std::chrono::seconds(60));
  EXPECT_FALSE(ini_.link.close_requested);
  ini_.conn().tick(t0 + std::chrono::seconds(63));
  EXPECT_TRUE(ini_.link.close_requested);
  EXPECT_TRUE(ini_.conn().finished());
}

// --- Text -------------------------------------------------------------------

TEST_F(ConnectionTest, SendTargetsAllInDiscoveryListsEveryTarget) {
  ASSERT_EQ(status_class(ini_.login_discovery()), 0);
  const Pdu req = ini_.text({{"SendTargets", "All"}});
  const uint32_t want_sn = ini_.exp_stat_sn;
  ini_.send(req);
  const Pdu r = ini_.expect(Opcode::text_response);
  EXPECT_EQ(r.bhs[1], 0x80) << "F, no C";
  EXPECT_EQ(r.itt(), req.itt());
  EXPECT_EQ(r.field32(20), kNoTag);
  EXPECT_EQ(stat_sn(r), want_sn);
  const std::string addr = std::string(kLocalAddress) + ",1";
  const KeyValues want = {{"TargetName", kTargetA},
                          {"TargetAddress", addr},
                          {"TargetName", kTargetB},
                          {"TargetAddress", addr}};
  EXPECT_EQ(parse_text(r.data), want);
}

TEST_F(ConnectionTest, SendTargetsInNormalSessionListsItsOwnTarget) {
  ini_.login();
  ini_.send(ini_.text({{"SendTargets", ""}}));
  const std::string addr = std::string(kLocalAddress) + ",1";
  EXPECT_EQ(parse_text(ini_.expect(Opcode::text_response).data),
            (KeyValues{{"TargetName", kTargetA}, {"TargetAddress", addr}}));
  ini_.send(ini_.text({{"SendTargets", kTargetB}, {"Frobnicate", "1"}}));
  EXPECT_EQ(
      parse_text(ini_.expect(Opcode::text_response).data),
      (KeyValues{
          {"TargetName", kTargetB}, {"TargetAddress", addr}, {"Frobnicate", "NotUnderstood"}}));
}

TEST(ConnectionText, SendTargetsLongerThanMaxRecvDataSegmentLengthIsContinued) {
  Harness h;
  for (int i = 0; i < 200; ++i) {
    h.targets.push_back(
        {"iqn.2026-12.org.offcopy:many-" + std::to_string(i), "", h.targets[1].luns});
  }
  Initiator ini(h);
  ASSERT_EQ(status_class(ini.login_discovery()), 0);  // its MaxRecvDataSegmentLength: 8192
  const Pdu req = ini.text({{"SendTargets", "All"}});
  ini.send(req);
  std::vector<uint8_t> all;
  for (int round = 0; round < 100; ++round) {
    const Pdu r = ini.expect(Opcode::text_response);
    if (r.opcode() != Opcode::text_response) break;
    EXPECT_LE(r.data.size(), 8192u) << "past the initiator's MaxRecvDataSegmentLength";
    all.insert(all.end(), r.data.begin(), r.data.end());
    if (r.bhs[1] & 0x80) break;
    EXPECT_TRUE(r.bhs[1] & 0x40) << "C: the text goes on";
    EXPECT_NE(r.field32(20), kNoTag);
    // RFC 7143 11.10.4: an empty Text Request with the same ITT and the TTT.
    Pdu more = ini.text({});
    more.set_field32(16, req.itt());
    more.set_field32(20, r.field32(20));
    ini.send(more);
  }
  int names = 0;
  for (const auto& [k, v] : parse_text(all)) names += k == "TargetName";
  EXPECT_EQ(names, 202);
}

// --- Logout -------------------------------------------------------------------

TEST_F(ConnectionTest, LogoutIsAnsweredThenTheConnectionCloses) {
  ini_.login();
  const Pdu req = ini_.logout(0);
  const uint32_t want_sn = ini_.exp_stat_sn;
  ini_.send(req);
  const Pdu r = ini_.expect(Opcode::logout_response);
  EXPECT_EQ(r.bhs[1], 0x80);
  EXPECT_EQ(r.bhs[2], 0) << "closed successfully";
  EXPECT_EQ(r.itt(), req.itt());
  EXPECT_EQ(stat_sn(r), want_sn);
  EXPECT_EQ(exp_cmd_sn(r), ini_.cmd_sn);
  EXPECT_TRUE(ini_.link.close_requested);
  EXPECT_TRUE(ini_.conn().finished());
  EXPECT_EQ(ini_.link.sent_after_close, 0);
  ini_.send(ini_.command(tur(), 0, 0));
  EXPECT_TRUE(ini_.silent()) << "nothing after the logout";
}

TEST_F(ConnectionTest, LogoutWhileACommandRunsSendsNothingAfterTheLogoutResponse) {
  ini_.login();
  // 128 KiB: past the 64 KiB a unit tries at once, so it waits on the pool.
  auto hold = h_.hold_io();
  ini_.send(ini_.command(read10(0, 256), 131072, kRead));
  const Pdu req = ini_.logout(0);
  ini_.send(req);
  const Pdu r = ini_.expect(Opcode::logout_response);
  EXPECT_EQ(r.bhs[2], 0);
  EXPECT_TRUE(ini_.link.close_requested);
  hold->release();
  EXPECT_TRUE(h_.drain());
  EXPECT_TRUE(ini_.link.pdus.empty()) << "the READ ended unanswered";
  EXPECT_EQ(ini_.link.sent_after_close, 0);
}

TEST_F(ConnectionTest, ClosedWhileACommandRunsDropsItsCompletion) {
  ini_.login();
  // 128 KiB: past the 64 KiB a unit tries at once, so it waits on the pool.
  auto hold = h_.hold_io();
  ini_.send(ini_.command(read10(0, 256), 131072, kRead));
  ini_.conn().closed();
  const int sends = ini_.link.sends;
  hold->release();
  EXPECT_TRUE(h_.drain());
  EXPECT_EQ(ini_.link.sends, sends) << "nothing sent once the network is gone";
  EXPECT_EQ(h_.in_flight.load(), 0);
}

// --- Task management ------------------------------------------------------------

constexpr uint8_t kAbortTask = 1, kLunReset = 5;

TEST_F(ConnectionTest, AbortTaskOfUnknownTaskOutsideTheWindowIsNoTask) {
  ini_.login();
  const Pdu t = ini_.tmf(kAbortTask, 0, 0xdead, ini_.cmd_sn - 10);
  ini_.send(t);
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.bhs[1], 0x80);
  EXPECT_EQ(r.bhs[2], 1) << "function complete would be wrong: no such task";
  EXPECT_EQ(r.itt(), t.itt());
  EXPECT_EQ(exp_cmd_sn(r), ini_.cmd_sn);
}

TEST_F(ConnectionTest, AbortTaskEndsAWriteWaitingForData) {
  ini_.login(kTargetA,
             with(libiscsi_operational_keys(), {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}));
  const Pdu w = ini_.command(write10(7, 1), 512, kWrite);
  ini_.send(w);
  const Pdu r2t = ini_.expect(Opcode::r2t);
  const Pdu t = ini_.tmf(kAbortTask, 0, w.itt(), w.field32(24));
  ini_.send(t);
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.bhs[2], 0) << "function complete";
  EXPECT_EQ(r.itt(), t.itt());
  ini_.send(ini_.data_out(w.itt(), r2t.field32(20), 0, 0, pattern(512, 8), true));
  EXPECT_TRUE(ini_.silent()) << "the aborted WRITE has no response";
  const Pdu tu = ini_.command(tur(), 0, 0);
  ini_.send(tu);
  expect_good(ini_.expect(Opcode::scsi_response), tu.itt());
}

TEST_F(ConnectionTest, AbortOfARunningCommandIsAnsweredAfterItEndsAndAlone) {
  ini_.login();
  auto hold = h_.hold_io();  // the READ stays on the unit
  const Pdu rd = ini_.command(read10(0, 256), 131072, kRead);
  ini_.send(rd);
  const Pdu t = ini_.tmf(kAbortTask, 0, rd.itt(), rd.field32(24));
  ini_.send(t);
  EXPECT_TRUE(ini_.link.pdus.empty()) << "the abort's response waits for the READ to end";
  hold->release();
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.bhs[2], 0) << "function complete";
  EXPECT_EQ(r.itt(), t.itt());
  EXPECT_TRUE(ini_.silent()) << "no Data-In or SCSI Response for the aborted READ";
  const Pdu tu = ini_.command(tur(), 0, 0);
  ini_.send(tu);
  expect_good(ini_.expect(Opcode::scsi_response), tu.itt());
}

TEST_F(ConnectionTest, ReadPastTheEndIsCheckCondition) {
  ini_.login();
  const Pdu rd = ini_.command(read10(2047, 2), 1024, kRead);
  ini_.send(rd);
  const Pdu r = ini_.expect(Opcode::scsi_response);
  EXPECT_EQ(r.itt(), rd.itt());
  EXPECT_EQ(r.bhs[3], 0x02);
  EXPECT_EQ(sense_of(r), (SenseCode{0x05, 0x21, 0x00})) << "LBA OUT OF RANGE";
}

TEST(ConnectionQueue, ImmediateCommandsAreBoundedByTheQueueDepth) {
  // The window holds a session to queue_depth commands; immediate ones
  // bypass it, and each WRITE waiting for data holds a buffer of its EDTL.
  ServerOptions o;
  o.queue_depth = 4;
  Harness h(o);
  Initiator ini(h);
  ini.login(kTargetA,
            with(libiscsi_operational_keys(), {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}));
  int r2ts = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    ini.send(ini.command(write10(i, 1), 512, kWrite, 0, {}, /*immediate=*/true));
  }
  while (std::optional<Pdu> p = ini.next(std::chrono::milliseconds(200))) {
    if (p->opcode() == Opcode::r2t) ++r2ts;
    if (p->opcode() == Opcode::reject || (p->opcode() == Opcode::scsi_response && p->bhs[3] != 0)) {
      ++refused;
    }
  }
  EXPECT_LE(r2ts, 4) << "commands held at once past queue_depth";
  EXPECT_GE(refused, 16) << "Reject (0x06) or TASK SET FULL for the rest";
}

TEST_F(ConnectionTest, LunResetGivesEveryNexusAUnitAttention) {
  Initiator other(h_);
  ini_.login();
  other.login();
  // Both nexuses have been seen by LUN 0.
  for (Initiator* i : {&ini_, &other}) {
    const Pdu t = i->command(tur(), 0, 0);
    i->send(t);
    expect_good(i->expect(Opcode::scsi_response), t.itt());
  }
  const Pdu reset = ini_.tmf(kLunReset, 0, kNoTag, ini_.cmd_sn);
  ini_.send(reset);
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.bhs[2], 0);
  EXPECT_EQ(r.itt(), reset.itt());

  const Pdu t2 = other.command(tur(), 0, 0);
  other.send(t2);
  const Pdu ua = other.expect(Opcode::scsi_response);
  EXPECT_EQ(ua.itt(), t2.itt());
  EXPECT_EQ(ua.bhs[3], 0x02) << "CHECK CONDITION";
  EXPECT_EQ(sense_of(ua), (SenseCode{0x06, 0x29, 0x00})) << "UNIT ATTENTION, RESET OCCURRED";
  // Once.
  const Pdu t3 = other.command(tur(), 0, 0);
  other.send(t3);
  expect_good(other.expect(Opcode::scsi_response), t3.itt());
  // The nexus that reset is told too (its other commands were aborted).
  const Pdu t4 = ini_.command(tur(), 0, 0);
  ini_.send(t4);
  EXPECT_EQ(sense_of(ini_.expect(Opcode::scsi_response)), (SenseCode{0x06, 0x29, 0x00}));
}

TEST_F(ConnectionTest, LunResetOfAMissingLunIsNoLun) {
  ini_.login();
  ini_.send(ini_.tmf(kLunReset, 9, kNoTag, ini_.cmd_sn));
  EXPECT_EQ(ini_.expect(Opcode::task_management_response).bhs[2], 2);
}

// --- Sessions: task management across them, reinstatement, loss -------------

constexpr uint8_t kAbortTaskSet = 2, kClearTaskSet = 4, kTargetWarmReset = 6, kTargetColdReset = 7;

// A WRITE of `data` at `lba` with all its data immediate (so with
// libiscsi's keys it needs no R2T).  128 KiB and more go to the I/O
// threads, past what a unit tries on the loop.
Pdu send_write(Initiator& ini, uint32_t lba, const std::vector<uint8_t>& data, uint16_t lun = 0) {
  const Pdu cmd = ini.command(write10(lba, static_cast<uint16_t>(data.size() / 512)),
                              static_cast<uint32_t>(data.size()), kWrite, lun, data);
  ini.send(cmd);
  return cmd;
}

// READ(10) of `blocks` at `lba`: its data (Data-In until the status).
std::vector<uint8_t> read_blocks(Initiator& ini, uint32_t lba, uint16_t blocks) {
  ini.send(ini.command(read10(lba, blocks), blocks * 512u, kRead));
  std::vector<uint8_t> out;
  for (;;) {
    const Pdu d = ini.expect(Opcode::data_in);
    if (d.opcode() != Opcode::data_in) break;
    out.insert(out.end(), d.data.begin(), d.data.end());
    if (d.bhs[1] & 0x01) break;
  }
  return out;
}

// A TUR's response on `ini` (the sense, for a unit attention).
Pdu tur_response(Initiator& ini, uint16_t lun = 0) {
  const Pdu t = ini.command(tur(), 0, 0, lun);
  ini.send(t);
  Pdu r = ini.expect(Opcode::scsi_response);
  EXPECT_EQ(r.itt(), t.itt());
  return r;
}

// A TUR on `ini` is GOOD.
void expect_tur_good(Initiator& ini) {
  const Pdu r = tur_response(ini);
  expect_good(r, r.itt());
}

// No SCSI Response or Data-In for `itt` among what `ini` was sent.
bool unanswered(Initiator& ini, uint32_t itt) {
  ini.silent();
  for (const Pdu& p : ini.link.pdus) {
    if ((p.opcode() == Opcode::scsi_response || p.opcode() == Opcode::data_in) && p.itt() == itt) {
      return false;
    }
  }
  return true;
}

TEST_F(ConnectionTest, ReinstatementEndsTheOldSession) {
  ini_.login();
  ASSERT_EQ(h_.sessions.live(), 1u);
  Initiator again(h_);
  again.isid = ini_.isid;  // the same initiator port: RFC 7143 6.3.5
  const Pdu r = again.login();
  EXPECT_EQ(status_class(r), 0);
  EXPECT_NE(tsih_of(r), 0) << "a new session, with a TSIH of its own";
  EXPECT_TRUE(ini_.link.close_requested) << "the old session's connection closes";
  EXPECT_TRUE(ini_.conn().finished());
  EXPECT_EQ(h_.sessions.live(), 1u);
  expect_tur_good(again);
  // A different ISID is a session of its own, not a reinstatement.
  Initiator other(h_);
  other.login();
  EXPECT_FALSE(again.link.close_requested);
  EXPECT_EQ(h_.sessions.live(), 2u);
}

TEST_F(ConnectionTest, ReinstatementWaitsForTheOldSessionsWrites) {
  ini_.login();
  const std::vector<uint8_t> acked = pattern(4096, 11), running = pattern(131072, 12);
  const Pdu w1 = send_write(ini_, 16, acked);
  expect_good(ini_.expect(Opcode::scsi_response), w1.itt());
  auto hold = h_.hold_io();
  const Pdu w2 = send_write(ini_, 64, running);  // on the I/O threads, held

  Initiator again(h_);
  again.isid = ini_.isid;
  const Pdu r1 = again.login_start();
  EXPECT_EQ(status_class(r1), 0);
  again.send_login_finish();
  EXPECT_TRUE(ini_.link.close_requested);
  EXPECT_TRUE(again.silent()) << "no last Login Response while the old WRITE runs";
  hold->release();
  again.login_finished(again.expect(Opcode::login_response));
  EXPECT_TRUE(unanswered(ini_, w2.itt())) << "the old session's WRITE ends unanswered";
  // What the old session was told was written stays; the WRITE that ran
  // ended before the new session began.
  EXPECT_EQ(read_blocks(again, 16, 8), acked);
  EXPECT_EQ(read_blocks(again, 64, 256), running);
  EXPECT_TRUE(h_.drain());
  EXPECT_EQ(h_.in_flight.load(), 0);
}

TEST_F(ConnectionTest, AReinstatementWaitsForASessionEndedByAProtocolError) {
  ini_.login();
  auto hold = h_.hold_io();
  const Pdu w = send_write(ini_, 256, pattern(131072, 14));
  // A header digest error or an oversized PDU ends the connection; the
  // peer has not taken the last PDUs yet, so it is not closed.
  ini_.send(ini_.nop_out(0x77, kNoTag, std::vector<uint8_t>(1 << 20, 0)));
  EXPECT_TRUE(ini_.link.close_requested);
  Initiator again(h_);
  again.isid = ini_.isid;
  again.login_start();
  again.send_login_finish();
  EXPECT_TRUE(again.silent()) << "the ended session's WRITE is still on the unit";
  hold->release();
  again.login_finished(again.expect(Opcode::login_response));
  EXPECT_TRUE(unanswered(ini_, w.itt()));
  EXPECT_EQ(read_blocks(again, 256, 256), pattern(131072, 14));
}

TEST_F(ConnectionTest, ALoginAfterTheConnectionDroppedWaitsForItsWrites) {
  ini_.login();
  auto hold = h_.hold_io();
  const Pdu w = send_write(ini_, 128, pattern(131072, 13));
  ini_.conn().closed();  // the network went away mid-command
  EXPECT_EQ(h_.sessions.live(), 0u);
  EXPECT_EQ(h_.sessions.size(), 1u) << "kept, draining, while its WRITE runs";
  Initiator again(h_);
  again.isid = ini_.isid;
  again.login_start();
  again.send_login_finish();
  EXPECT_TRUE(again.silent());
  hold->release();
  again.login_finished(again.expect(Opcode::login_response));
  EXPECT_EQ(read_blocks(again, 128, 256), pattern(131072, 13));
  EXPECT_TRUE(unanswered(ini_, w.itt()));
}

TEST_F(ConnectionTest, ConnectionLossMidCommandLosesNoAcknowledgedWrite) {
  ini_.login();
  std::vector<std::vector<uint8_t>> acked;
  for (uint32_t i = 0; i < 4; ++i) {
    acked.push_back(pattern(8192, 20 + i));
    const Pdu w = send_write(ini_, 256 + 16 * i, acked.back());
    expect_good(ini_.expect(Opcode::scsi_response), w.itt());
  }
  auto hold = h_.hold_io();
  for (uint32_t i = 0; i < 4; ++i) send_write(ini_, 512 + 256 * i, pattern(131072, 30 + i));
  EXPECT_GT(h_.in_flight.load(), 0);
  const int sends = ini_.link.sends;
  ini_.conn().closed();
  hold->release();
  EXPECT_TRUE(h_.drain()) << "nothing hangs";
  EXPECT_EQ(h_.in_flight.load(), 0);
  EXPECT_EQ(ini_.link.sends, sends) << "nothing sent once the network is gone";
  Initiator later(h_);
  later.login();
  EXPECT_EQ(h_.sessions.size(), 1u) << "the dropped session, drained, is forgotten";
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(read_blocks(later, 256 + 16 * i, 16), acked[i]) << "acknowledged WRITE " << i;
  }
}

TEST_F(ConnectionTest, LunResetAbortsAnotherSessionsRunningWriteAndWaitsForIt) {
  Initiator b(h_);
  ini_.login();
  b.login();
  expect_tur_good(b);  // LUN 0 has seen B's nexus
  auto hold = h_.hold_io();
  const std::vector<uint8_t> data = pattern(131072, 40);
  const Pdu w = send_write(b, 1024, data);
  const Pdu reset = ini_.tmf(kLunReset, 0, kNoTag, ini_.cmd_sn);
  ini_.send(reset);
  EXPECT_TRUE(ini_.silent()) << "the response waits for B's WRITE to leave the unit";
  hold->release();
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.itt(), reset.itt());
  EXPECT_EQ(r.bhs[2], 0) << "function complete";
  EXPECT_EQ(h_.in_flight.load(), 0) << "B's WRITE had ended before the response";
  EXPECT_TRUE(unanswered(b, w.itt())) << "B's aborted WRITE ends without a response";
  // It had started, so it wrote; nothing of it can land later.
  EXPECT_EQ(sense_of(tur_response(ini_)), (SenseCode{0x06, 0x29, 0x00})) << "A is told too";
  EXPECT_EQ(read_blocks(ini_, 1024, 256), data);
  const Pdu ua = tur_response(b);
  EXPECT_EQ(ua.bhs[3], 0x02);
  EXPECT_EQ(sense_of(ua), (SenseCode{0x06, 0x29, 0x00})) << "B learns of the reset";
  expect_tur_good(b);
}

TEST_F(ConnectionTest, LunResetAbortsAnotherSessionsWriteWaitingForData) {
  Initiator b(h_);
  ini_.login();
  b.login(kTargetA,
          with(libiscsi_operational_keys(), {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}));
  const Pdu w = b.command(write10(2000, 1), 512, kWrite);
  b.send(w);
  const Pdu r2t = b.expect(Opcode::r2t);
  ini_.send(ini_.tmf(kLunReset, 0, kNoTag, ini_.cmd_sn));
  EXPECT_EQ(ini_.expect(Opcode::task_management_response).bhs[2], 0);
  b.send(b.data_out(w.itt(), r2t.field32(20), 0, 0, pattern(512, 41), true));
  EXPECT_TRUE(unanswered(b, w.itt())) << "its data dropped, no response";
  EXPECT_EQ(sense_of(tur_response(ini_)), (SenseCode{0x06, 0x29, 0x00}));
  EXPECT_EQ(read_blocks(ini_, 2000, 1), std::vector<uint8_t>(512, 0)) << "nothing written";
}

TEST_F(ConnectionTest, AbortTaskSetStaysWithItsNexus) {
  Initiator b(h_);
  ini_.login();
  b.login();
  auto hold = h_.hold_io();
  const Pdu wb = send_write(b, 1536, pattern(131072, 42));
  const Pdu wa = send_write(ini_, 1792, pattern(131072, 43));
  ini_.send(ini_.tmf(kAbortTaskSet, 0, kNoTag, ini_.cmd_sn));
  hold->release();
  EXPECT_EQ(ini_.expect(Opcode::task_management_response).bhs[2], 0);
  EXPECT_TRUE(unanswered(ini_, wa.itt())) << "A's own WRITE aborted";
  expect_good(b.expect(Opcode::scsi_response), wb.itt());  // B's goes on
}

TEST_F(ConnectionTest, ClearTaskSetAbortsEveryNexusCommandsOnTheUnit) {
  Initiator b(h_), c(h_);
  ini_.login();
  b.login();
  c.login();
  for (Initiator* i : {&b, &c}) expect_tur_good(*i);
  auto hold = h_.hold_io();
  const Pdu wb = send_write(b, 1280, pattern(131072, 44));
  const Pdu wa = send_write(ini_, 1536, pattern(131072, 45));
  const Pdu clear = ini_.tmf(kClearTaskSet, 0, kNoTag, ini_.cmd_sn);
  ini_.send(clear);
  EXPECT_TRUE(ini_.silent());
  hold->release();
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.itt(), clear.itt());
  EXPECT_EQ(r.bhs[2], 0);
  EXPECT_TRUE(unanswered(ini_, wa.itt()));
  EXPECT_TRUE(unanswered(b, wb.itt())) << "TST 0: the task set is shared";
  EXPECT_EQ(sense_of(tur_response(b)), (SenseCode{0x06, 0x2f, 0x00}))
      << "COMMANDS CLEARED BY ANOTHER INITIATOR";
  expect_tur_good(b);
  expect_tur_good(c);  // C lost nothing: no unit attention
  expect_tur_good(ini_);
  ini_.send(ini_.tmf(kClearTaskSet, 9, kNoTag, ini_.cmd_sn));
  EXPECT_EQ(ini_.expect(Opcode::task_management_response).bhs[2], 2) << "LUN does not exist";
}

TEST(ConnectionSessions, AbortedCommandsOfAnotherSessionReopenItsWindow) {
  // B's window is one command: with it running B may send nothing, and
  // the command gets no response to carry a new MaxCmdSN.  A NOP-In does.
  ServerOptions o;
  o.queue_depth = 1;
  Harness h(o);
  Initiator a(h), b(h);
  a.login();
  b.login();
  auto hold = h.hold_io();
  send_write(b, 0, pattern(131072, 46));
  const uint32_t next = b.cmd_sn;
  a.send(a.tmf(kLunReset, 0, kNoTag, a.cmd_sn));
  const Pdu nop = b.expect(Opcode::nop_in);
  EXPECT_EQ(nop.itt(), kNoTag);
  EXPECT_EQ(nop.field32(20), kNoTag) << "no answer wanted";
  EXPECT_EQ(exp_cmd_sn(nop), next);
  EXPECT_EQ(max_cmd_sn(nop), next) << "room for one command again";
  hold->release();
  EXPECT_EQ(a.expect(Opcode::task_management_response).bhs[2], 0);
}

TEST_F(ConnectionTest, TargetWarmResetAbortsEverySessionsCommandsAndKeepsThem) {
  Initiator b(h_), other_target(h_);
  ini_.login();
  b.login();
  other_target.login(kTargetB);
  expect_tur_good(b);
  auto hold = h_.hold_io();
  const Pdu wb = send_write(b, 768, pattern(131072, 47));
  ini_.send(ini_.tmf(kTargetWarmReset, 0, kNoTag, ini_.cmd_sn));
  EXPECT_TRUE(ini_.silent());
  hold->release();
  EXPECT_EQ(ini_.expect(Opcode::task_management_response).bhs[2], 0);
  EXPECT_TRUE(unanswered(b, wb.itt()));
  EXPECT_FALSE(b.link.close_requested) << "a warm reset keeps the sessions";
  EXPECT_FALSE(ini_.link.close_requested);
  EXPECT_EQ(sense_of(tur_response(b)), (SenseCode{0x06, 0x29, 0x00}));
  expect_tur_good(other_target);
}

TEST_F(ConnectionTest, TargetColdResetEndsEverySessionOfTheTarget) {
  Initiator b(h_), other_target(h_);
  ini_.login();
  b.login();
  other_target.login(kTargetB);
  auto hold = h_.hold_io();
  const Pdu wb = send_write(b, 896, pattern(131072, 48));
  const Pdu reset = ini_.tmf(kTargetColdReset, 0, kNoTag, ini_.cmd_sn);
  ini_.send(reset);
  EXPECT_TRUE(b.link.close_requested) << "RFC 7143 11.5.1: every session of the target ends";
  EXPECT_TRUE(b.conn().finished());
  EXPECT_FALSE(ini_.link.close_requested) << "not before its response";
  hold->release();
  const Pdu r = ini_.expect(Opcode::task_management_response);
  EXPECT_EQ(r.itt(), reset.itt());
  EXPECT_EQ(r.bhs[2], 0);
  EXPECT_TRUE(ini_.link.close_requested);
  EXPECT_EQ(ini_.link.sent_after_close, 0);
  EXPECT_TRUE(unanswered(b, wb.itt()));
  EXPECT_EQ(b.link.sent_after_close, 0);
  EXPECT_FALSE(other_target.link.close_requested) << "another target's session stays";
  expect_tur_good(other_target);
  EXPECT_EQ(h_.sessions.live(), 1u);
}

// --- Limits -------------------------------------------------------------------

TEST(ConnectionLimits, SessionsPastMaxSessionsAreOutOfResources) {
  ServerOptions o;
  o.max_sessions = 2;
  Harness h(o);
  Initiator a(h), b(h), c(h), d(h);
  a.login();
  b.login_discovery();  // a discovery session counts too
  const Pdu r = c.login_start();
  EXPECT_EQ(status_class(r), 3);
  EXPECT_EQ(status_detail(r), 2) << "0x0302: out of resources (RFC 7143 11.13.5)";
  EXPECT_TRUE(c.link.close_requested);
  // A reinstatement replaces a session: it fits.
  d.isid = a.isid;
  EXPECT_EQ(status_class(d.login()), 0);
  // One ends: there is room again.
  b.send(b.logout());
  b.expect(Opcode::logout_response);
  Initiator e(h);
  EXPECT_EQ(status_class(e.login()), 0);
  EXPECT_EQ(h.sessions.live(), 2u);
}

TEST(ConnectionLimits, AQueueDepthOfOneReopensTheWindowWithEachResponse) {
  ServerOptions o;
  o.queue_depth = 1;
  Harness h(o);
  Initiator a(h);
  a.login();
  for (int i = 0; i < 3; ++i) {
    const Pdu t = a.command(tur(), 0, 0);
    a.send(t);
    const Pdu r = a.expect(Opcode::scsi_response);
    EXPECT_EQ(r.itt(), t.itt());
    // MaxCmdSN >= ExpCmdSN: the initiator may send the next one now.
    EXPECT_LT(static_cast<int32_t>(r.field32(28) - r.field32(32)), 1)
        << "ExpCmdSN " << r.field32(28) << ", MaxCmdSN " << r.field32(32);
  }
}

TEST(ConnectionLimits, RoomIsCheckedAgainAtTheEndOfTheLogin) {
  ServerOptions o;
  o.max_sessions = 1;
  Harness h(o);
  Initiator a(h), b(h);
  EXPECT_EQ(status_class(a.login_start()), 0);
  EXPECT_EQ(status_class(b.login_start()), 0);  // both fit so far
  a.login_finish();
  b.send_login_finish();
  const Pdu r = b.expect(Opcode::login_response);
  EXPECT_EQ(status_class(r), 3);
  EXPECT_EQ(status_detail(r), 2);
  EXPECT_FALSE(b.conn().logged_in());
}

// Limits on the data-out buffers a session holds: `bytes` per session, and
// the keys that make a WRITE's data come by R2T only, or unsolicited.
KeyValues r2t_only() {
  return with(libiscsi_operational_keys(), {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
}

TEST(ConnectionLimits, WritesPastTheSessionsDataBoundWaitForRoom) {
  ServerOptions o;
  o.max_session_data = 65536;
  Harness h(o);
  Initiator ini(h);
  ini.login(kTargetA, r2t_only());
  const Pdu w1 = ini.command(write10(0, 96), 49152, kWrite);
  const Pdu w2 = ini.command(write10(100, 96), 49152, kWrite);
  ini.send(w1);
  const Pdu r2t1 = ini.expect(Opcode::r2t);
  const uint32_t max_before = max_cmd_sn(r2t1);
  ini.send(w2);
  EXPECT_TRUE(ini.silent()) << "no R2T for the second: its buffer would pass the bound";
  EXPECT_EQ(ini.conn().buffers_held(), 49152u);
  EXPECT_EQ(ini.conn().waiting_for_room(), 1u);
  const Pdu t = ini.command(tur(), 0, 0);
  ini.send(t);
  const Pdu tr = ini.expect(Opcode::scsi_response);
  expect_good(tr, t.itt());
  EXPECT_EQ(max_cmd_sn(tr), max_before) << "the window does not open while WRITEs wait";

  const std::vector<uint8_t> d1 = pattern(49152, 50), d2 = pattern(49152, 51);
  ini.send(ini.data_out(w1.itt(), r2t1.field32(20), 0, 0, d1, true));
  expect_good(ini.expect(Opcode::scsi_response), w1.itt());
  const Pdu r2t2 = ini.expect(Opcode::r2t);  // room now
  EXPECT_EQ(r2t2.itt(), w2.itt());
  EXPECT_GT(max_cmd_sn(r2t2), max_before) << "the window opens with the room";
  ini.send(ini.data_out(w2.itt(), r2t2.field32(20), 0, 0, d2, true));
  expect_good(ini.expect(Opcode::scsi_response), w2.itt());
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
  EXPECT_EQ(read_blocks(ini, 0, 96), d1);
  EXPECT_EQ(read_blocks(ini, 100, 96), d2);
}

TEST(ConnectionLimits, AWriteWhoseDataIsOnItsWayGetsTaskSetFull) {
  ServerOptions o;
  o.max_session_data = 65536;
  Harness h(o);
  Initiator ini(h);
  ini.login();  // ImmediateData=Yes, InitialR2T=No: data comes unasked
  const std::vector<uint8_t> d1 = pattern(49152, 52);
  const Pdu w1 = ini.command(write10(0, 96), 49152, kWrite, 0, slice(d1, 0, 16384));
  ini.send(w1);  // holds 48 KiB, the rest of its data to come
  EXPECT_TRUE(ini.silent());
  const Pdu w2 = ini.command(write10(200, 96), 49152, kWrite, 0, pattern(16384, 53));
  ini.send(w2);
  const Pdu full = ini.expect(Opcode::scsi_response);
  EXPECT_EQ(full.itt(), w2.itt());
  EXPECT_EQ(full.bhs[3], 0x28) << "TASK SET FULL (SAM-5 5.3)";
  EXPECT_EQ(exp_cmd_sn(full), ini.cmd_sn) << "its CmdSN was taken";
  // Its unsolicited data is dropped; the first WRITE goes on.
  ini.send(ini.data_out(w2.itt(), kNoTag, 0, 16384, pattern(32768, 54), true));
  ini.send(ini.data_out(w1.itt(), kNoTag, 0, 16384, slice(d1, 16384, 32768), true));
  expect_good(ini.expect(Opcode::scsi_response), w1.itt());
  EXPECT_EQ(read_blocks(ini, 0, 96), d1);
  EXPECT_EQ(read_blocks(ini, 200, 96), std::vector<uint8_t>(49152, 0));
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
}

TEST(ConnectionLimits, AWriteAloneFitsWhateverTheBound) {
  ServerOptions o;
  o.max_session_data = 4096;
  Harness h(o);
  Initiator ini(h);
  ini.login();
  const std::vector<uint8_t> data = pattern(131072, 55);
  const Pdu w = send_write(ini, 300, data);
  expect_good(ini.expect(Opcode::scsi_response), w.itt());
  EXPECT_EQ(read_blocks(ini, 300, 256), data);
}

TEST(ConnectionLimits, AnAbortedWaitingWriteLeavesTheQueue) {
  ServerOptions o;
  o.max_session_data = 65536;
  Harness h(o);
  Initiator ini(h);
  ini.login(kTargetA, r2t_only());
  const Pdu w1 = ini.command(write10(0, 96), 49152, kWrite);
  const Pdu w2 = ini.command(write10(100, 96), 49152, kWrite);
  ini.send(w1);
  const Pdu r2t1 = ini.expect(Opcode::r2t);
  ini.send(w2);
  ASSERT_EQ(ini.conn().waiting_for_room(), 1u);
  ini.send(ini.tmf(kAbortTask, 0, w2.itt(), w2.field32(24)));
  EXPECT_EQ(ini.expect(Opcode::task_management_response).bhs[2], 0);
  EXPECT_EQ(ini.conn().waiting_for_room(), 0u);
  ini.send(ini.data_out(w1.itt(), r2t1.field32(20), 0, 0, pattern(49152, 56), true));
  expect_good(ini.expect(Opcode::scsi_response), w1.itt());
  EXPECT_TRUE(unanswered(ini, w2.itt())) << "no R2T and no response for the aborted one";
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
}

// --- Data-in against the session's bound ---------------------------------------

// A READ's Data-In for `itt`, gathered until the one with the status.
struct ReadReply {
  std::vector<uint8_t> data;
  Pdu last;  // the Data-In with the status
};
ReadReply gather_read(Initiator& ini, uint32_t itt) {
  ReadReply r;
  for (;;) {
    const Pdu d = ini.expect(Opcode::data_in);
    if (d.opcode() != Opcode::data_in) break;
    EXPECT_EQ(d.itt(), itt);
    r.data.insert(r.data.end(), d.data.begin(), d.data.end());
    if (d.bhs[1] & 0x01) {
      r.last = d;
      break;
    }
  }
  return r;
}

// Writes `n` bytes of pattern(seed) at LBA 0 of LUN 0 (128 KiB a WRITE),
// so READs have something to find; returns them.
std::vector<uint8_t> fill_lun(Initiator& ini, size_t n, uint32_t seed) {
  const std::vector<uint8_t> all = pattern(n, seed);
  for (size_t at = 0; at < n; at += 131072) {
    const size_t len = std::min<size_t>(131072, n - at);
    const Pdu w = send_write(ini, static_cast<uint32_t>(at / 512), slice(all, at, len));
    expect_good(ini.expect(Opcode::scsi_response), w.itt());
  }
  return all;
}

TEST(ConnectionLimits, ReadsPastTheSessionsBoundWaitUntilDataInHasLeft) {
  ServerOptions o;
  o.max_session_data = 65536;
  Harness h(o);
  Initiator ini(h);
  ini.login();
  const std::vector<uint8_t> disk = fill_lun(ini, 131072, 60);
  ini.link.keep_output = true;  // the socket takes nothing from here on
  const Pdu r1 = ini.command(read10(0, 96), 49152, kRead);
  const Pdu r2 = ini.command(read10(100, 96), 49152, kRead);
  ini.send(r1);
  const ReadReply a = gather_read(ini, r1.itt());
  EXPECT_EQ(a.data, slice(disk, 0, 49152));
  EXPECT_EQ(ini.conn().buffers_held(), 49152u) << "its Data-In is counted until it has left";
  const uint32_t max_before = max_cmd_sn(a.last);
  ini.send(r2);
  EXPECT_TRUE(ini.silent()) << "the second READ waits: its data-in would pass the bound";
  EXPECT_EQ(ini.conn().waiting_for_room(), 1u);
  EXPECT_EQ(ini.conn().buffers_held(), 49152u) << "a waiting READ holds nothing";
  const Pdu t = ini.command(tur(), 0, 0);
  ini.send(t);
  const Pdu tr = ini.expect(Opcode::scsi_response);
  expect_good(tr, t.itt());
  EXPECT_EQ(max_cmd_sn(tr), max_before) << "the window does not open while a READ waits";

  ini.link.release_output();  // the first READ's Data-In has left
  const ReadReply b = gather_read(ini, r2.itt());
  EXPECT_EQ(b.data, slice(disk, 100 * 512, 49152)) << "it ran once there was room";
  EXPECT_GT(max_cmd_sn(b.last), max_before) << "the window opens with the room";
  EXPECT_EQ(ini.conn().waiting_for_room(), 0u);
  ini.link.release_output();
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
}

TEST(ConnectionLimits, AReadAloneFitsWhateverTheBound) {
  ServerOptions o;
  o.max_session_data = 4096;
  Harness h(o);
  Initiator ini(h);
  ini.login();
  const std::vector<uint8_t> disk = fill_lun(ini, 131072, 61);
  ini.link.keep_output = true;
  const Pdu r = ini.command(read10(0, 256), 131072, kRead);
  ini.send(r);
  EXPECT_EQ(gather_read(ini, r.itt()).data, disk);
  EXPECT_EQ(ini.conn().buffers_held(), 131072u);
  ini.link.release_output();
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
  // And again, alone once more.
  const Pdu again = ini.command(read10(0, 256), 131072, kRead);
  ini.send(again);
  EXPECT_EQ(gather_read(ini, again.itt()).data, disk);
}

TEST(ConnectionLimits, AReadHoldsOnlyTheDataInItSends) {
  ServerOptions o;
  o.max_session_data = 1 << 20;
  Harness h(o);
  Initiator ini(h);
  ini.login();
  ini.link.keep_output = true;
  // 64 KiB asked for by the CDB, 4 KiB expected: the overflow is dropped
  // at once, not queued.
  const Pdu r = ini.command(read10(0, 128), 4096, kRead);
  ini.send(r);
  const ReadReply reply = gather_read(ini, r.itt());
  EXPECT_EQ(reply.data.size(), 4096u);
  EXPECT_EQ(reply.last.bhs[1] & 0x04, 0x04) << "overflow";
  EXPECT_EQ(ini.conn().buffers_held(), 4096u);
  // A failed READ holds nothing once answered.
  const Pdu past = ini.command(read10(4000, 8), 4096, kRead);
  ini.send(past);
  const Pdu cc = ini.expect(Opcode::scsi_response);
  EXPECT_EQ(cc.bhs[3], 0x02) << "CHECK CONDITION";
  EXPECT_EQ(ini.conn().buffers_held(), 4096u);
  ini.link.release_output();
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
}

TEST(ConnectionLimits, AnAbortedWaitingReadLeavesTheQueue) {
  ServerOptions o;
  o.max_session_data = 65536;
  Harness h(o);
  Initiator ini(h);
  ini.login();
  ini.link.keep_output = true;
  const Pdu r1 = ini.command(read10(0, 96), 49152, kRead);
  const Pdu r2 = ini.command(read10(100, 96), 49152, kRead);
  ini.send(r1);
  gather_read(ini, r1.itt());
  ini.send(r2);
  ASSERT_EQ(ini.conn().waiting_for_room(), 1u);
  ini.send(ini.tmf(kAbortTask, 0, r2.itt(), r2.field32(24)));
  EXPECT_EQ(ini.expect(Opcode::task_management_response).bhs[2], 0);
  EXPECT_EQ(ini.conn().waiting_for_room(), 0u);
  ini.link.release_output();
  EXPECT_TRUE(unanswered(ini, r2.itt())) << "the aborted READ never runs";
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
  expect_tur_good(ini);
}

TEST(ConnectionLimits, AClientThatNeverReadsHoldsAtMostTheBound) {
  constexpr uint32_t kBound = 262144, kRead64k = 65536;
  constexpr int kReads = 100;  // inside the window of 128
  ServerOptions o;
  o.max_session_data = kBound;
  Harness h(o);
  Initiator ini(h);
  ini.login();
  const std::vector<uint8_t> disk = fill_lun(ini, 1 << 20, 62);
  ini.link.keep_output = true;
  std::map<uint32_t, uint32_t> lba_of;  // by ITT
  for (int i = 0; i < kReads; ++i) {
    const uint32_t lba = (i % 16) * 128;
    const Pdu r = ini.command(read10(lba, 128), kRead64k, kRead);
    lba_of[r.itt()] = lba;
    ini.send(r);
  }
  ini.silent(std::chrono::milliseconds(200));
  // What the session holds is its bound's worth of Data-In and their
  // headers; the rest wait, holding nothing.
  EXPECT_LE(ini.link.kept_bytes, kBound + 4 * 1024u);
  EXPECT_LE(ini.conn().buffers_held(), kBound);
  EXPECT_EQ(ini.conn().waiting_for_room(), size_t(kReads - kBound / kRead64k));
  uint32_t last_max = 0;  // MaxCmdSN never moves back

  // The peer reads, a little at a time: every READ is answered, with its
  // data, and the queue never holds more than the bound.
  std::map<uint32_t, std::vector<uint8_t>> data;
  int answered = 0;
  for (int round = 0; round < 10 * kReads && answered < kReads; ++round) {
    ini.link.release_output();
    ini.silent(std::chrono::milliseconds(5));
    while (!ini.link.pdus.empty()) {
      const Pdu p = *ini.next();
      ASSERT_EQ(p.opcode(), Opcode::data_in);
      auto& d = data[p.itt()];
      d.insert(d.end(), p.data.begin(), p.data.end());
      if (p.bhs[1] & 0x01) {
        ++answered;
        EXPECT_EQ(p.bhs[3], 0) << "GOOD";
      }
      EXPECT_GE(max_cmd_sn(p), last_max);
      last_max = max_cmd_sn(p);
    }
  }
  EXPECT_EQ(answered, kReads);
  EXPECT_LE(ini.link.peak_kept_bytes, kBound + 4 * 1024u);
  for (const auto& [itt, lba] : lba_of) {
    EXPECT_EQ(data[itt], slice(disk, lba * 512, kRead64k)) << "ITT " << itt;
  }
  ini.link.release_output();
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
  EXPECT_EQ(ini.conn().waiting_for_room(), 0u);
}

TEST(ConnectionLimits, DataInMayLeaveAfterItsConnectionHasClosed) {
  Harness h;
  Initiator ini(h);
  ini.login();
  ini.link.keep_output = true;
  const Pdu r = ini.command(read10(0, 8), 4096, kRead);
  ini.send(r);
  gather_read(ini, r.itt());
  ini.conn().closed();
  ini.link.release_output();  // its room goes back to a closed connection
  h.run_posted();
  EXPECT_EQ(ini.conn().buffers_held(), 0u);
}

// --- Malformed input ----------------------------------------------------------

TEST(ConnectionLimits, DataSegmentPastMaxRecvDataSegmentLengthCloses) {
  ServerOptions o;
  o.max_recv_data_segment = 8192;
  Harness h(o);
  Initiator ini(h);
  const Pdu r = ini.login();
  EXPECT_EQ(keys_of(r).at("MaxRecvDataSegmentLength"), "8192");
  // 8192 is allowed.
  ini.send(ini.nop_out(0x1, kNoTag, pattern(8192, 1)));
  EXPECT_EQ(ini.expect(Opcode::nop_in).data.size(), 8192u);
  // 8193 is not: the header alone is enough to drop the connection.
  Pdu big = ini.nop_out(0x2, kNoTag);
  std::vector<uint8_t> wire = serialize(big, ini.digests);
  wire[5] = 0, wire[6] = 0x20, wire[7] = 0x01;
  ini.send_bytes(wire);
  EXPECT_TRUE(ini.link.close_requested);
  EXPECT_TRUE(ini.conn().finished());
  EXPECT_TRUE(ini.silent());
}

TEST(ConnectionLimits, HugeDataSegmentLengthCloses) {
  Harness h;
  Initiator ini(h);
  ini.login();
  Pdu p = ini.command(write10(0, 1), 512, kWrite);
  std::vector<uint8_t> wire = serialize(p, ini.digests);
  wire[5] = wire[6] = wire[7] = 0xff;
  ini.send_bytes(wire);
  EXPECT_TRUE(ini.link.close_requested);
  EXPECT_TRUE(ini.silent());
}

TEST(ConnectionLimits, PduBeforeLoginCloses) {
  Harness h;
  Initiator ini(h);
  ini.send(ini.command(tur(), 0, 0));
  EXPECT_TRUE(ini.link.close_requested);
  EXPECT_TRUE(ini.conn().finished());
  EXPECT_EQ(ini.link.sends, 0);
  EXPECT_FALSE(ini.conn().logged_in());
}

TEST(ConnectionLimits, BytesSplitAnywhereMakeTheSamePdus) {
  Harness h;
  Initiator ini(h);
  ini.login();
  std::vector<uint8_t> wire;
  std::vector<uint32_t> itts;
  for (int i = 0; i < 5; ++i) {
    const Pdu c = ini.command(inquiry(36), 36, kRead);
    itts.push_back(c.itt());
    const auto b = serialize(c, ini.digests);
    wire.insert(wire.end(), b.begin(), b.end());
  }
  for (size_t at = 0; at < wire.size();) {  // 1, 2, 3, ... bytes at a time
    const size_t n = std::min(wire.size() - at, at % 7 + 1);
    ini.conn().received(wire.data() + at, n);
    at += n;
  }
  for (uint32_t itt : itts) EXPECT_EQ(ini.expect(Opcode::data_in).itt(), itt);
}

// Random input, before and after login: never a crash, a hang, or a PDU
// from the target that does not parse.
std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

void feed_in_pieces(Initiator& ini, const std::vector<uint8_t>& b, std::mt19937& rng) {
  for (size_t at = 0; at < b.size();) {
    const size_t n = std::min<size_t>(b.size() - at, 1 + rng() % 64);
    ini.conn().received(b.data() + at, n);
    at += n;
  }
}

TEST(ConnectionFuzz, RandomBytesNeverCrashOrHang) {
  // OFFCOPY_FUZZ_SEED and OFFCOPY_FUZZ_ITERATIONS run it longer.
  const char* seed = getenv("OFFCOPY_FUZZ_SEED");
  const char* iterations = getenv("OFFCOPY_FUZZ_ITERATIONS");
  const int n = iterations ? atoi(iterations) : 1000;
  Harness h;
  std::mt19937 rng(seed ? static_cast<unsigned>(atol(seed)) : 7143u);
  constexpr uint8_t kOps[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x1c, 0x3f};
  for (int i = 0; i < n; ++i) {
    Initiator ini(h);
    const bool logged_in = i % 2 == 1;
    if (logged_in) {
      ini.login(i % 4 == 1 ? kTargetA : kTargetB,
                i % 8 == 3 ? crc_keys() : libiscsi_operational_keys());
      ASSERT_TRUE(ini.conn().logged_in());
      ini.link.pdus.clear();
    }
    std::vector<uint8_t> b = random_bytes(rng, 48 + rng() % 253);
    switch (rng() % 3) {
      case 0:  // raw garbage
        break;
      case 1: {  // a plausible header: a known opcode, lengths that fit
        b[0] = static_cast<uint8_t>(kOps[rng() % std::size(kOps)] | (rng() % 2 ? 0x40 : 0));
        b[4] = static_cast<uint8_t>(rng() % 3);
        const size_t header = 48 + size_t{b[4]} * 4;
        const size_t room = b.size() > header ? b.size() - header : 0;
        const size_t data = rng() % (room + 1);
        b[5] = 0, b[6] = static_cast<uint8_t>(data >> 8), b[7] = static_cast<uint8_t>(data);
        if (rng() % 2) b[24] = b[25] = 0x00;  // a CmdSN near the window more often
        break;
      }
      case 2: {  // a valid command with a few bytes changed
        Pdu p = ini.command(
            rng() % 2 ? write10(rng() % 2048, 1 + rng() % 8) : read10(rng() % 2048, 1 + rng() % 8),
            512 * (1 + rng() % 8), rng() % 2 ? kWrite : kRead, static_cast<uint16_t>(rng() % 3), {},
            rng() % 2);
        if ((p.bhs[1] & kWrite) && rng() % 2) p.data = random_bytes(rng, 512);
        b = serialize(p, ini.digests);
        for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
        break;
      }
    }
    feed_in_pieces(ini, b, rng);
    ini.conn().tick(Connection::Clock::now() + std::chrono::seconds(rng() % 100));
    ASSERT_TRUE(h.drain()) << "commands still in flight, iteration " << i;
    EXPECT_EQ(ini.link.bad_pdus, 0);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "iteration " << i;
      break;
    }
  }
}

}  // namespace
}  // namespace offcopy::iscsi::testing
