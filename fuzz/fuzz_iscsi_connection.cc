// libFuzzer target: bytes from initiators into iscsi::Connection, the
// whole target/iscsi protocol on top of target/scsi's units -- login and
// negotiation (CHAP included), SendTargets, commands with immediate,
// unsolicited and R2T-solicited Data-Out, Data-In, task management, NOP,
// logout, malformed PDUs -- with no socket, as the tests drive it.
//
// The input is one byte of server options, then records:
//
//   [flags] [length: 2 bytes, big-endian] [bytes]
//
//   options  bit 0: the target asks for InitialR2T; bit 1: it refuses
//            ImmediateData; bit 2: no NOP-In pings; bit 3: it takes PDUs of
//            at most 512 data bytes (else 8192)
//   flags    bit 0: which of two connections the bytes go to; bit 1: wait
//            after them for the commands running on the I/O pool; bits
//            2-3: time passes (1: 31 s, 2: 62 s, 3: 5 s), for NOP-In
//            pings, their timeout and the login timeout; bits 4-6: the
//            bytes arrive in pieces of 1, 2, 3, 7, 13, 48 or 100 bytes
//            (0: at once); bit 7: the connection drops first, and a new
//            one takes its place
//
// The bytes are PDUs as an initiator sends them (fuzz/make_corpus.py
// writes such inputs), split wherever the records split them.  Two
// targets: one open (LUN 0 a file of 512-byte blocks, LUN 1 no file), one
// behind CHAP (mutual too) and an ACL (LUN 0 a file of 4096-byte blocks
// without a write cache).  The CHAP challenge is fixed in this build
// (chap.cc), so a seed can answer it.
//
// What must hold: every PDU the target sends is framed right (lengths,
// padding, digests that match, an opcode a target sends); every command
// handed to a unit completes; nothing is in flight once the connections
// are closed; and ASan/UBSan find nothing.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_support.h"
#include "iscsi/connection.h"
#include "iscsi/crc32c.h"
#include "iscsi/link.h"
#include "iscsi/pdu.h"
#include "iscsi/server.h"
#include "scsi/io_pool.h"
#include "scsi/logical_unit.h"
#include "scsi/lun_map.h"
#include "util/log.h"

namespace offcopy::fuzz {
namespace {

using iscsi::Connection;
using iscsi::Opcode;

constexpr uint64_t kFileSize = 1 << 20;

// The process's part: the I/O threads and the files, made once.
struct Process {
  scsi::IoPool pool{2};
  ScratchFile file512{kFileSize};
  ScratchFile file4k{kFileSize};
};
Process* process;

bool sent_by_a_target(uint8_t op) {
  switch (static_cast<Opcode>(op)) {
    case Opcode::nop_in:
    case Opcode::scsi_response:
    case Opcode::task_management_response:
    case Opcode::login_response:
    case Opcode::text_response:
    case Opcode::data_in:
    case Opcode::logout_response:
    case Opcode::r2t:
    case Opcode::async_message:
    case Opcode::reject: return true;
    default: return false;
  }
}

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint32_t le32(const uint8_t* p) {  // a digest's byte order
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Checks each PDU the target sends, then drops it.
class CheckingLink : public iscsi::Link {
 public:
  void send(iscsi::OutPdu out) override {
    const std::vector<uint8_t>& h = out.head;
    // A BHS, no AHS, and a header digest or none.
    FUZZ_CHECK(h.size() == iscsi::kBhsLength || h.size() == iscsi::kBhsLength + 4);
    FUZZ_CHECK(h[4] == 0);
    FUZZ_CHECK(sent_by_a_target(h[0] & 0x3f));
    if (h.size() > iscsi::kBhsLength) {
      FUZZ_CHECK(le32(h.data() + iscsi::kBhsLength) == iscsi::crc32c(h.data(), iscsi::kBhsLength));
    }
    const size_t length = size_t{h[5]} << 16 | size_t{h[6]} << 8 | h[7];
    FUZZ_CHECK(length == out.data_length);
    if (length == 0) {
      FUZZ_CHECK(out.tail_length == 0);
    } else {
      // The data is a view into a buffer: it must lie inside it.
      FUZZ_CHECK(out.buffer != nullptr);
      FUZZ_CHECK(out.data_offset + out.data_length <= out.buffer->size());
      const size_t pad = (4 - length % 4) % 4;
      FUZZ_CHECK(out.tail_length == pad || out.tail_length == pad + 4);
      if (out.tail_length == pad + 4) {
        uint32_t c = iscsi::crc32c(out.buffer->data() + out.data_offset, length);
        c = iscsi::crc32c(out.tail.data(), pad, c);
        FUZZ_CHECK(le32(out.tail.data() + pad) == c);
      }
    }
    // Every byte read once, so that ASan sees a bad view.
    const std::vector<uint8_t> wire = out.bytes();
    FUZZ_CHECK(wire.size() == out.wire_length());
    if (verbose) {
      // Opcode, flags, byte 2 and 3 (response, status), ITT, TTT, data length.
      std::fprintf(stderr, "  <- %02x %02x %02x %02x itt %08x ttt %08x len %zu\n", h[0], h[1],
                   h[2], h[3], be32(h.data() + 16), be32(h.data() + 20), length);
    }
  }
  void close_after_send() override {}
  std::string local_address() const override { return "192.0.2.1:3260"; }
  std::string peer_address() const override { return "192.0.2.9:51000"; }

  bool verbose = std::getenv("OFFCOPY_FUZZ_LOG") != nullptr;  // each PDU to stderr
};

// The server's part for one input: options, targets, completions posted
// by the I/O threads (run here, on the connections' thread), TSIHs and
// nexus ids.
class Server {
 public:
  explicit Server(uint8_t setup) {
    options.initial_r2t = setup & 1;
    options.immediate_data = !(setup & 2);
    options.nop_interval_s = setup & 4 ? 0 : 30;
    options.max_recv_data_segment = setup & 8 ? 512 : 8192;
    // Small bursts and a short queue, so that a short input reaches R2Ts,
    // several bursts, a full window and TASK SET FULL -- and a command's
    // data-out (up to 32 MiB each) cannot take more than a few hundred MiB.
    options.first_burst = 4096;
    options.max_burst = 8192;
    options.max_outstanding_r2t = 2;
    options.queue_depth = 4;

    Process& p = *process;
    p.file512.reset();
    p.file4k.reset();
    std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>> open_luns, chap_luns;
    open_luns[0] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("open,0"),
                                                       scsi::UnitOptions{}, p.file512.open(512),
                                                       p.pool);
    open_luns[1] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("open,1"), 512, 64);
    chap_luns[0] = std::make_shared<scsi::LogicalUnit>(
        scsi::identity_for("chap,0"), scsi::UnitOptions{.block_size = 4096, .write_cache = false},
        p.file4k.open(4096), p.pool);
    iscsi::TargetConfig open{"iqn.2026-12.org.offcopy:open", "open",
                             std::make_shared<scsi::LunMap>(std::move(open_luns)), {}, {}};
    iscsi::TargetConfig chap{"iqn.2026-12.org.offcopy:chap", "",
                             std::make_shared<scsi::LunMap>(std::move(chap_luns)),
                             {"fuzz-user", "fuzz-secret-1234", "fuzz-target", "fuzz-mutual-5678"},
                             {"iqn.1994-05.com.redhat:fuzz", "iqn.2026-12.org.offcopy:fuzz-a"}};
    targets.push_back(std::move(open));
    targets.push_back(std::move(chap));
  }

  iscsi::ConnectionServices services() {
    iscsi::ConnectionServices s;
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

  void run_posted() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(posted_);
    }
    for (auto& fn : batch) fn();
  }

  // Until every command handed to a unit has completed and its completion
  // has run.  One that never completes is a bug.
  void drain() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      run_posted();
      if (in_flight.load() == 0) {
        std::lock_guard lock(mu_);
        if (posted_.empty()) return;
      }
      FUZZ_CHECK(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  iscsi::ServerOptions options;
  std::atomic<int64_t> in_flight{0};
  iscsi::SessionRegistry sessions{options.max_sessions};

 private:
  // Before the targets, so destroyed after them: a unit's I/O thread may
  // still be on its way out of a command that posted here.
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  uint16_t next_tsih_ = 1;
  uint64_t next_nexus_ = 1;

 public:
  std::vector<iscsi::TargetConfig> targets;
};

struct Slot {
  CheckingLink link;
  std::shared_ptr<Connection> conn;  // after the link: goes first
};

void feed(Connection& conn, const uint8_t* bytes, size_t len, size_t piece) {
  if (piece == 0) piece = len;
  for (size_t at = 0; at < len; at += piece) conn.received(bytes + at, std::min(piece, len - at));
}

void run(Bytes& in) {
  Server server(in.u8());
  Slot slots[2];
  for (Slot& s : slots) s.conn = std::make_shared<Connection>(server.services(), s.link);
  static constexpr size_t kPieces[] = {0, 1, 2, 3, 7, 13, 48, 100};
  while (in.left() > 0) {
    const uint8_t flags = in.u8();
    size_t len = in.u16();
    const uint8_t* bytes = in.take(len);
    Slot& slot = slots[flags & 1];
    if (flags & 0x80) {
      slot.conn->closed();
      slot.conn = std::make_shared<Connection>(server.services(), slot.link);
    }
    feed(*slot.conn, bytes, len, kPieces[(flags >> 4) & 7]);
    server.run_posted();
    if (flags & 2) server.drain();
    static constexpr int kSeconds[] = {0, 31, 62, 5};
    if (const int s = kSeconds[(flags >> 2) & 3]) {
      slot.conn->tick(Connection::Clock::now() + std::chrono::seconds(s));
    }
  }
  for (Slot& s : slots) s.conn->closed();
  server.drain();
  FUZZ_CHECK(server.in_flight.load() == 0);
}

}  // namespace
}  // namespace offcopy::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  offcopy::fuzz::quiet_log();
  offcopy::fuzz::process = new offcopy::fuzz::Process;  // never freed: it serves every input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  offcopy::fuzz::Bytes in(data, size);
  offcopy::fuzz::run(in);
  return 0;
}
