// What the target/iscsi connection tests share: a Link that keeps what a
// Connection sends (parsed back into PDUs), a server stand-in whose posted
// completions the test runs itself, an initiator that builds the PDUs of
// RFC 7143 and keeps CmdSN/ExpStatSN, and units (with or without a
// backing file) behind a LunMap.
#ifndef OFFCOPY_TESTS_TARGET_ISCSI_ISCSI_TESTING_H_
#define OFFCOPY_TESTS_TARGET_ISCSI_ISCSI_TESTING_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "iscsi/connection.h"
#include "iscsi/link.h"
#include "iscsi/pdu.h"
#include "iscsi/server.h"
#include "iscsi/text.h"
#include "scsi/backing_file.h"
#include "scsi/command.h"
#include "scsi/io_pool.h"
#include "scsi/logical_unit.h"
#include "scsi/lun_map.h"
#include "support/temp_dir.h"

namespace offcopy::iscsi::testing {

inline constexpr uint32_t kNoTag = 0xffffffff;
inline constexpr char kTargetA[] = "iqn.2026-12.org.offcopy:disk-a";
inline constexpr char kTargetB[] = "iqn.2026-12.org.offcopy:disk-b";
inline constexpr char kInitiator[] = "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test";
inline constexpr char kLocalAddress[] = "192.0.2.1:3260";

inline constexpr uint8_t kIsid[6] = {0x00, 0x02, 0x3d, 0x00, 0x00, 0x07};

inline std::string str(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

// The pairs of a login or text response, by key; a key given twice fails.
inline std::map<std::string, std::string> keys_of(const Pdu& p) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : parse_text(p.data)) {
    EXPECT_TRUE(out.emplace(k, v).second) << "key answered twice: " << k;
  }
  return out;
}

// A Link that parses each PDU sent back (with the digests the test says
// are on), so a bad digest or framing from the target is a test failure.
// Each PDU is dropped once parsed, as a socket that took it at once
// would -- unless `keep_output` is set: then the PDUs stay queued (what
// their data holds of the session's bound with them), as on a socket whose
// peer does not read, until release_output().
class FakeLink : public Link {
 public:
  void send(OutPdu out) override {
    const std::vector<uint8_t> bytes = out.bytes();
    ++sends;
    if (close_requested) ++sent_after_close;
    PduReader reader(1u << 24);
    reader.set_digests(digests);
    const size_t used = reader.feed(bytes.data(), bytes.size());
    if (reader.fault() != PduReader::Fault::none || !reader.ready() || used != bytes.size()) {
      ++bad_pdus;
      ADD_FAILURE() << "target sent a PDU that does not parse back (fault " << int(reader.fault())
                    << ", " << used << " of " << bytes.size() << " bytes)";
      return;
    }
    pdus.push_back(reader.take());
    if (keep_output) {
      kept_bytes += out.wire_length();
      peak_kept_bytes = std::max(peak_kept_bytes, kept_bytes);
      kept.push_back(std::move(out));
    }
  }
  // The PDUs kept leave, as if the peer had read them.
  void release_output() {
    kept.clear();
    kept_bytes = 0;
  }
  void close_after_send() override { close_requested = true; }
  std::string local_address() const override { return kLocalAddress; }
  std::string peer_address() const override { return "192.0.2.9:51000"; }

  Digests digests;  // what the PDUs from the target carry
  std::deque<Pdu> pdus;
  bool keep_output = false;
  std::deque<OutPdu> kept;
  size_t kept_bytes = 0, peak_kept_bytes = 0;
  int sends = 0, bad_pdus = 0, sent_after_close = 0;
  bool close_requested = false;
};

// The server's part: options, targets, the session registry, the posted
// completions (run by the test), TSIHs, nexus ids and ISIDs.  Targets A
// (LUN 0: a 1 MiB file-backed unit, LUN 1: a unit with no file) and B
// (LUN 0: no file).
class Harness {
 public:
  explicit Harness(ServerOptions opts = {}) : options(std::move(opts)) {
    std::string error;
    scsi::BackingOptions b;
    b.block_size = 512;
    b.create_size = 2048 * 512;
    auto file = scsi::BackingFile::open(dir_.file("lun.img"), b, error);
    EXPECT_NE(file, nullptr) << error;
    std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>> a;
    if (file) {
      a[0] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("a,0"), scsi::UnitOptions{},
                                                 std::move(file), pool_);
    }
    a[1] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("a,1"), 512, 2048);
    std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>> bm;
    bm[0] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("b,0"), 512, 2048);
    targets.push_back({kTargetA, "disk-a", std::make_shared<scsi::LunMap>(std::move(a))});
    targets.push_back({kTargetB, "", std::make_shared<scsi::LunMap>(std::move(bm))});
  }

  ConnectionServices services() {
    ConnectionServices s;
    s.options = &options;
    s.targets = &targets;
    s.post = [this](std::function<void()> fn) {
      std::lock_guard lock(mu_);
      posted_.push_back(std::move(fn));
    };
    s.next_tsih = [this] { return next_tsih_++; };
    s.next_nexus = [this] { return next_nexus_++; };
    s.in_flight = &in_flight;
    s.sessions = &sessions;
    return s;
  }

  // kIsid for the first initiator, then others: each Initiator is a
  // session of its own unless a test gives two the same ISID.
  Isid next_isid() {
    Isid isid;
    std::copy(std::begin(kIsid), std::end(kIsid), isid.begin());
    isid[5] = static_cast<uint8_t>(isid[5] + next_isid_++);
    return isid;
  }

  // Runs what the I/O threads posted; how many closures ran.
  size_t run_posted() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(posted_);
    }
    for (auto& fn : batch) fn();
    return batch.size();
  }

  // Keeps the I/O threads busy until release() (or the end of the
  // hold): commands on the file-backed unit wait, so a test sees the
  // connection while they run.
  class IoHold {
   public:
    explicit IoHold(scsi::IoPool& pool) {
      std::shared_future<void> f = gate_.get_future().share();
      for (unsigned i = 0; i < kPoolThreads; ++i) pool.post([f] { f.wait(); });
    }
    ~IoHold() { release(); }
    void release() {
      if (!released_) gate_.set_value();
      released_ = true;
    }

   private:
    std::promise<void> gate_;
    bool released_ = false;
  };
  std::unique_ptr<IoHold> hold_io() { return std::make_unique<IoHold>(pool_); }

  // Until nothing is in flight or posted (false on a timeout).
  bool drain(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      run_posted();
      if (in_flight.load() == 0) {
        std::lock_guard lock(mu_);
        if (posted_.empty()) return true;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return false;
  }

 private:
  // Destroyed last: the units' I/O threads post here until they stop.
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  uint16_t next_tsih_ = 0x0101;
  uint64_t next_nexus_ = 1;
  uint8_t next_isid_ = 0;
  offcopy::testing::TempDir dir_;  // the LUN's file
  static constexpr unsigned kPoolThreads = 2;
  scsi::IoPool pool_{kPoolThreads};

 public:
  std::atomic<int64_t> in_flight{0};
  ServerOptions options;
  SessionRegistry sessions{options.max_sessions};
  std::vector<TargetConfig> targets;  // destroyed first: the units wait for their I/O
};

// Login text builders.
inline KeyValues security_keys(const std::string& target = kTargetA) {
  return {{"InitiatorName", kInitiator},
          {"InitiatorAlias", "test"},
          {"SessionType", "Normal"},
          {"TargetName", target},
          {"AuthMethod", "None"}};
}
// What libiscsi offers in the operational stage.
inline KeyValues libiscsi_operational_keys() {
  return {{"HeaderDigest", "None,CRC32C"},
          {"DataDigest", "None"},
          {"MaxRecvDataSegmentLength", "262144"},
          {"ImmediateData", "Yes"},
          {"InitialR2T", "No"},
          {"FirstBurstLength", "262144"},
          {"MaxBurstLength", "16776192"},
          {"MaxOutstandingR2T", "1"},
          {"ErrorRecoveryLevel", "0"},
          {"DefaultTime2Wait", "2"},
          {"DefaultTime2Retain", "0"},
          {"IFMarker", "No"},
          {"OFMarker", "No"},
          {"MaxConnections", "1"},
          {"DataPDUInOrder", "Yes"},
          {"DataSequenceInOrder", "Yes"}};
}
// `base` with `changes` replacing (or added to) its values.
inline KeyValues with(KeyValues base, const KeyValues& changes) {
  for (const auto& [k, v] : changes) {
    bool found = false;
    for (auto& [bk, bv] : base) {
      if (bk == k) bv = v, found = true;
    }
    if (!found) base.emplace_back(k, v);
  }
  return base;
}

struct LoginPdu {
  int csg = 0, nsg = 1;
  bool transit = true, more = false;
  uint32_t itt = 0x10, cmd_sn = 0x500, exp_stat_sn = 0x1000;
  uint16_t tsih = 0;
  uint8_t version_min = 0;
  Isid isid{kIsid[0], kIsid[1], kIsid[2], kIsid[3], kIsid[4], kIsid[5]};
};

inline Pdu login_request(const LoginPdu& l, const std::vector<uint8_t>& text) {
  Pdu p;
  p.bhs[0] = 0x40 | uint8_t(Opcode::login);
  p.bhs[1] = static_cast<uint8_t>((l.transit ? 0x80 : 0) | (l.more ? 0x40 : 0) | l.csg << 2 |
                                  (l.transit ? l.nsg : 0));
  p.bhs[2] = 0;              // VersionMax
  p.bhs[3] = l.version_min;  // VersionMin
  std::copy(l.isid.begin(), l.isid.end(), p.bhs.begin() + 8);
  p.bhs[14] = static_cast<uint8_t>(l.tsih >> 8);
  p.bhs[15] = static_cast<uint8_t>(l.tsih);
  p.set_field32(16, l.itt);
  p.set_field32(24, l.cmd_sn);
  p.set_field32(28, l.exp_stat_sn);
  p.data = text;
  return p;
}
inline Pdu login_request(const LoginPdu& l, const KeyValues& kv) {
  return login_request(l, format_text(kv));
}

// Login Response fields.
inline uint8_t status_class(const Pdu& p) { return p.bhs[36]; }
inline uint8_t status_detail(const Pdu& p) { return p.bhs[37]; }
inline uint16_t tsih_of(const Pdu& p) { return static_cast<uint16_t>(p.bhs[14] << 8 | p.bhs[15]); }
inline uint32_t stat_sn(const Pdu& p) { return p.field32(24); }
inline uint32_t exp_cmd_sn(const Pdu& p) { return p.field32(28); }
inline uint32_t max_cmd_sn(const Pdu& p) { return p.field32(32); }

// CDBs.
inline std::vector<uint8_t> tur() { return {0x00, 0, 0, 0, 0, 0}; }
inline std::vector<uint8_t> inquiry(uint16_t allocation) {
  return {0x12, 0, 0, static_cast<uint8_t>(allocation >> 8), static_cast<uint8_t>(allocation), 0};
}
inline std::vector<uint8_t> read_capacity10() { return {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}; }
inline std::vector<uint8_t> rw10(uint8_t op, uint32_t lba, uint16_t blocks) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  scsi::put_be32(c, 2, lba);
  scsi::put_be16(c, 7, blocks);
  return c;
}
inline std::vector<uint8_t> read10(uint32_t lba, uint16_t blocks) {
  return rw10(0x28, lba, blocks);
}
inline std::vector<uint8_t> write10(uint32_t lba, uint16_t blocks) {
  return rw10(0x2a, lba, blocks);
}

inline void set_lun(Pdu& p, uint16_t lun) {
  // Peripheral addressing (SAM-5 4.7.1), as Linux sends LUNs below 256.
  p.bhs[8] = static_cast<uint8_t>(lun >> 8);
  p.bhs[9] = static_cast<uint8_t>(lun);
}

// Bytes 0..n-1 of a recognizable pattern.
inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    b[i] = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

// One initiator connection: builds PDUs with its CmdSN/ExpStatSN, sends
// their bytes to a Connection and takes the PDUs that come back.
class Initiator {
 public:
  explicit Initiator(Harness& h)
      : isid(h.next_isid()), harness_(h), conn_(std::make_shared<Connection>(h.services(), link)) {}
  ~Initiator() {
    // Commands still on the units end unanswered; their completions are
    // dropped with the connection.
    conn_->closed();
    harness_.drain(std::chrono::seconds(5));
  }

  Connection& conn() { return *conn_; }

  void send_bytes(const std::vector<uint8_t>& bytes) {
    conn_->received(bytes.data(), bytes.size());
  }
  void send(const Pdu& p) { send_bytes(serialize(p, digests)); }

  // The next PDU from the target: runs posted completions until one comes
  // (null after `timeout`).
  std::optional<Pdu> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (link.pdus.empty()) {
      harness_.run_posted();
      if (!link.pdus.empty()) break;
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    Pdu p = std::move(link.pdus.front());
    link.pdus.pop_front();
    if (p.opcode() != Opcode::data_in && p.opcode() != Opcode::r2t &&
        !(p.opcode() == Opcode::nop_in && p.itt() == kNoTag)) {
      exp_stat_sn = p.field32(24) + 1;
    } else if (p.opcode() == Opcode::data_in && (p.bhs[1] & 0x01)) {
      exp_stat_sn = p.field32(24) + 1;
    }
    return p;
  }
  // The next PDU, which must be of `op` (a failure and an empty PDU if not).
  Pdu expect(Opcode op, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::optional<Pdu> p = next(timeout);
    if (!p) {
      ADD_FAILURE() << "no PDU from the target (wanted opcode " << std::hex << int(op) << ")";
      return Pdu{};
    }
    EXPECT_EQ(int(p->opcode()), int(op)) << "opcode (ITT " << std::hex << p->itt() << ")";
    return *p;
  }
  // Nothing comes (completions run for `wait`).
  bool silent(std::chrono::milliseconds wait = std::chrono::milliseconds(50)) {
    harness_.drain(wait);
    return link.pdus.empty();
  }

  // Login in two stages (security, then operational to the full feature
  // phase); the digests it settles are turned on both ways.  Returns the
  // final response.
  Pdu login(const std::string& target = kTargetA,
            const KeyValues& operational = libiscsi_operational_keys()) {
    Pdu r1 = login_start(target);
    EXPECT_EQ(status_class(r1), 0) << "detail " << int(status_detail(r1));
    return login_finish(operational);
  }
  // The security stage of login() alone (its response), and the rest.
  Pdu login_start(const std::string& target = kTargetA) {
    LoginPdu l;
    l.isid = isid;
    l.itt = next_itt++;
    l.cmd_sn = cmd_sn;
    l.exp_stat_sn = exp_stat_sn;
    send(login_request(l, security_keys(target)));
    return expect(Opcode::login_response);
  }
  Pdu login_finish(const KeyValues& operational = libiscsi_operational_keys()) {
    send_login_finish(operational);
    return login_finished(expect(Opcode::login_response));
  }
  // The operational stage's request alone, and what its response settles.
  void send_login_finish(const KeyValues& operational = libiscsi_operational_keys()) {
    LoginPdu l;
    l.isid = isid;
    l.itt = next_itt - 1;
    l.cmd_sn = cmd_sn;
    l.csg = 1;
    l.nsg = 3;
    l.exp_stat_sn = exp_stat_sn;
    send(login_request(l, operational));
  }
  Pdu login_finished(const Pdu& r2) {
    EXPECT_EQ(status_class(r2), 0) << "detail " << int(status_detail(r2));
    EXPECT_TRUE(conn_->logged_in());
    cmd_sn = exp_cmd_sn(r2);
    const auto keys = keys_of(r2);
    const Digests d{keys.count("HeaderDigest") && keys.at("HeaderDigest") == "CRC32C",
                    keys.count("DataDigest") && keys.at("DataDigest") == "CRC32C"};
    digests = d;
    link.digests = d;
    return r2;
  }
  // A discovery session, straight from the security stage.
  Pdu login_discovery() {
    LoginPdu l;
    l.isid = isid;
    l.itt = next_itt++;
    l.cmd_sn = cmd_sn;
    l.exp_stat_sn = exp_stat_sn;
    l.nsg = 3;
    send(login_request(l, KeyValues{{"InitiatorName", kInitiator},
                                    {"SessionType", "Discovery"},
                                    {"AuthMethod", "None"}}));
    Pdu r = expect(Opcode::login_response);
    cmd_sn = exp_cmd_sn(r);
    return r;
  }

  // A SCSI Command PDU: `rw` 0x40 read, 0x20 write.  Takes the next ITT
  // and (unless immediate) the next CmdSN.
  Pdu command(const std::vector<uint8_t>& cdb, uint32_t edtl, uint8_t rw, uint16_t lun = 0,
              std::vector<uint8_t> immediate_data = {}, bool immediate = false) {
    Pdu p;
    p.bhs[0] = static_cast<uint8_t>((immediate ? 0x40 : 0) | uint8_t(Opcode::scsi_command));
    p.bhs[1] = static_cast<uint8_t>(0x80 | rw | 0x01);  // F, R/W, SIMPLE
    set_lun(p, lun);
    p.set_field32(16, next_itt++);
    p.set_field32(20, edtl);
    p.set_field32(24, immediate ? cmd_sn : cmd_sn++);
    p.set_field32(28, exp_stat_sn);
    std::copy(cdb.begin(), cdb.end(), p.bhs.begin() + 32);
    p.data = std::move(immediate_data);
    return p;
  }
  Pdu data_out(uint32_t itt, uint32_t ttt, uint32_t data_sn, uint32_t offset,
               std::vector<uint8_t> data, bool final_pdu, uint16_t lun = 0) {
    Pdu p;
    p.set_opcode(Opcode::data_out);
    p.bhs[1] = final_pdu ? 0x80 : 0;
    set_lun(p, lun);
    p.set_field32(16, itt);
    p.set_field32(20, ttt);
    p.set_field32(28, exp_stat_sn);
    p.set_field32(36, data_sn);
    p.set_field32(40, offset);
    p.data = std::move(data);
    return p;
  }
  // An immediate NOP-Out (a ping when `itt` is not 0xffffffff).
  Pdu nop_out(uint32_t itt, uint32_t ttt, std::vector<uint8_t> data = {}) {
    Pdu p;
    p.bhs[0] = 0x40 | uint8_t(Opcode::nop_out);
    p.bhs[1] = 0x80;
    p.set_field32(16, itt);
    p.set_field32(20, ttt);
    p.set_field32(24, cmd_sn);
    p.set_field32(28, exp_stat_sn);
    p.data = std::move(data);
    return p;
  }
  Pdu tmf(uint8_t function, uint16_t lun, uint32_t referenced_itt, uint32_t ref_cmd_sn) {
    Pdu p;
    p.bhs[0] = 0x40 | uint8_t(Opcode::task_management);
    p.bhs[1] = static_cast<uint8_t>(0x80 | function);
    set_lun(p, lun);
    p.set_field32(16, next_itt++);
    p.set_field32(20, referenced_itt);
    p.set_field32(24, cmd_sn);
    p.set_field32(28, exp_stat_sn);
    p.set_field32(32, ref_cmd_sn);
    return p;
  }
  Pdu text(const KeyValues& kv) {
    Pdu p;
    p.bhs[0] = 0x40 | uint8_t(Opcode::text);
    p.bhs[1] = 0x80;
    p.set_field32(16, next_itt++);
    p.set_field32(20, kNoTag);
    p.set_field32(24, cmd_sn);
    p.set_field32(28, exp_stat_sn);
    p.data = format_text(kv);
    return p;
  }
  Pdu logout(uint8_t reason = 0) {
    Pdu p;
    p.bhs[0] = 0x40 | uint8_t(Opcode::logout);
    p.bhs[1] = static_cast<uint8_t>(0x80 | reason);
    p.set_field32(16, next_itt++);
    p.set_field32(24, cmd_sn);
    p.set_field32(28, exp_stat_sn);
    return p;
  }

  Isid isid;  // the Harness's next: a session of its own
  FakeLink link;
  Digests digests;  // what this initiator's PDUs carry
  uint32_t cmd_sn = 0x500;
  uint32_t exp_stat_sn = 0x1000;
  uint32_t next_itt = 0x10;

 private:
  Harness& harness_;
  std::shared_ptr<Connection> conn_;
};

}  // namespace offcopy::iscsi::testing

#endif  // OFFCOPY_TESTS_TARGET_ISCSI_ISCSI_TESTING_H_
