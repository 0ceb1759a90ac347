// libFuzzer target: CDBs with their data-out, from several I_T nexuses
// and initiator ports, into a target's units (target/scsi), each answer
// checked against what SPC-4 promises of any answer.
//
// The input is a sequence of records:
//
//   [who] [where] [limit] [CDB] [data-out length: 2 bytes, big-endian] [data-out]
//
//   who    bits 0-1: the nexus (1-4); bits 2-3: the initiator port (one of
//          4 names; a nexus may change port, as a reinstated session
//          does); bit 7: do not wait for this command before the next
//          (commands overlap on the I/O pool)
//   where  bits 0-2: 0-3 a unit (0: 512-byte blocks; 1: 4096-byte blocks,
//          no write cache; 2: read-only; 3: no backing file), 4 a LUN with
//          no unit, 5-7 an event instead of a command: 5 a LUN reset of unit
//          (bits 3-4) by this nexus, 6 the nexus ends (its unit attentions
//          go), 7 the files grow by a block and every unit sees it
//   limit  the transport's allocation limit: 255 none, else 16 * limit
//   CDB    as long as its operation code's group says (16 for the groups
//          that have no length, which the unit refuses)
//
// Every input starts on fresh units over zeroed files, so it does the
// same thing each time it runs (but for the order of overlapping
// commands).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "scsi/backing_file.h"
#include "scsi/command.h"
#include "scsi/copy_engine.h"
#include "scsi/io_pool.h"
#include "scsi/logical_unit.h"
#include "scsi/lun_map.h"
#include "util/log.h"

namespace offcopy::fuzz {
namespace {

using scsi::be16;
using scsi::be32;
using scsi::Status;

constexpr uint64_t kFileSize = 1 << 20;

const char* const kPorts[] = {
    "iqn.2026-12.org.offcopy:fuzz-a,i,0x00023d000001",
    "iqn.2026-12.org.offcopy:fuzz-a,i,0x00023d000002",
    "iqn.2026-12.org.offcopy:fuzz-b,i,0x00023d000001",
    "iqn.1994-05.com.redhat:fuzz-c,i,0x400001370000",
};

// The process's part: the I/O threads and the files, made once.
struct Process {
  scsi::IoPool pool{2};
  std::unique_ptr<scsi::CopyEngine> copies = [] {
    std::string error;
    auto engine = scsi::CopyEngine::open(2, error);
    FUZZ_CHECK(engine != nullptr);
    return engine;
  }();
  ScratchFile file512{kFileSize};
  ScratchFile file4k{kFileSize};
};
Process* process;

// The CDB's length from its group (SPC-4 4.2.5.1); 16 where it has none.
size_t cdb_bytes(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 5: return 12;
    default: return 16;
  }
}

// Where a CDB keeps its allocation length, for the commands that have
// one: data-in is never longer (SPC-4 4.2.5.6).  0: none known.
uint32_t allocation_length(const std::vector<uint8_t>& cdb) {
  switch (cdb[0]) {
    case 0x03:                                          // REQUEST SENSE
    case 0x1A: return cdb[4];                           // MODE SENSE (6)
    case 0x12: return be16(cdb, 3);                     // INQUIRY
    case 0x37:                                          // READ DEFECT DATA (10)
    case 0x5A:                                          // MODE SENSE (10)
    case 0x5E: return be16(cdb, 7);                     // PERSISTENT RESERVE IN
    case 0xA0:                                          // REPORT LUNS
    case 0xA3:                                          // MAINTENANCE IN
    case 0xB7: return be32(cdb, 6);                     // READ DEFECT DATA (12)
    case 0x9E:                                          // READ CAPACITY (16), GET LBA STATUS
    case 0x84: return be32(cdb, 10);                    // RECEIVE COPY STATUS and the like
    case 0x25: return 8;                                // READ CAPACITY (10)
    default: return UINT32_MAX;
  }
}

// The commands that never return data-in.
bool without_data_in(uint8_t opcode) {
  switch (opcode) {
    case 0x00:  // TEST UNIT READY
    case 0x0A:  // WRITE (6)
    case 0x15:  // MODE SELECT (6)
    case 0x1B:  // START STOP UNIT
    case 0x1E:  // PREVENT ALLOW MEDIUM REMOVAL
    case 0x2A:  // WRITE (10)
    case 0x2E:  // WRITE AND VERIFY (10)
    case 0x2F:  // VERIFY (10)
    case 0x34:  // PRE-FETCH (10)
    case 0x35:  // SYNCHRONIZE CACHE (10)
    case 0x41:  // WRITE SAME (10)
    case 0x42:  // UNMAP
    case 0x55:  // MODE SELECT (10)
    case 0x5F:  // PERSISTENT RESERVE OUT
    case 0x83:  // EXTENDED COPY, COPY OPERATION ABORT
    case 0x89:  // COMPARE AND WRITE
    case 0x8A:  // WRITE (16)
    case 0x8B:  // ORWRITE (16)
    case 0x8E:  // WRITE AND VERIFY (16)
    case 0x8F:  // VERIFY (16)
    case 0x90:  // PRE-FETCH (16)
    case 0x91:  // SYNCHRONIZE CACHE (16)
    case 0x93:  // WRITE SAME (16)
    case 0xAA:  // WRITE (12)
    case 0xAE:  // WRITE AND VERIFY (12)
    case 0xAF:  // VERIFY (12)
      return true;
    default: return false;
  }
}

bool is_read(uint8_t opcode) {
  return opcode == 0x08 || opcode == 0x28 || opcode == 0xA8 || opcode == 0x88;
}

// The most a READ's data-in can be: its blocks.
std::optional<uint64_t> read_bytes(const std::vector<uint8_t>& cdb, uint32_t block_size) {
  switch (cdb[0]) {
    case 0x08: return uint64_t{cdb[4] == 0 ? 256u : cdb[4]} * block_size;
    case 0x28: return uint64_t{be16(cdb, 7)} * block_size;
    case 0xA8: return uint64_t{be32(cdb, 6)} * block_size;
    case 0x88: return uint64_t{be32(cdb, 10)} * block_size;
    default: return std::nullopt;
  }
}

// One command: its bytes live here until its completion has run.
struct Submitted {
  std::vector<uint8_t> cdb, data_out;
  scsi::Command command;
  uint32_t block_size = 0;  // of the unit it went to; 0: no unit
  std::atomic<int> completions{0};
};

// What any answer must be.
void check(const Submitted& s, const scsi::Result& r) {
  const scsi::Command& c = s.command;
  FUZZ_CHECK(r.status == Status::good || r.status == Status::check_condition ||
             r.status == Status::busy || r.status == Status::reservation_conflict ||
             r.status == Status::task_set_full);
  // Cut to the transport's limit -- but for a READ, whose blocks are its
  // data and whose overflow the transport reports (command.h).
  if (!is_read(s.cdb[0])) FUZZ_CHECK(r.data_in.size() <= c.allocation_limit);
  if (r.status != Status::good) FUZZ_CHECK(r.data_in.empty());
  if (r.status != Status::check_condition) FUZZ_CHECK(r.sense.empty());
  if (r.status == Status::check_condition) {
    // Fixed format, current error (VALID may be set), its additional
    // length saying where it ends, a sense key that is one.
    FUZZ_CHECK(r.sense.size() >= 18);
    FUZZ_CHECK((r.sense[0] & 0x7f) == 0x70);
    FUZZ_CHECK(size_t{r.sense[7]} + 8 == r.sense.size());
    FUZZ_CHECK((r.sense[2] & 0x0f) != 0);
    // A field pointer into the CDB points into the CDB.
    if ((r.sense[15] & 0xc0) == 0xc0) FUZZ_CHECK(be16(r.sense, 16) < s.cdb.size());
  }
  if (s.cdb.size() < cdb_bytes(s.cdb[0])) return;  // cut short: its fields are not there
  FUZZ_CHECK(r.data_in.size() <= allocation_length(s.cdb));
  if (without_data_in(s.cdb[0])) FUZZ_CHECK(r.data_in.empty());
  if (s.block_size != 0) {
    if (const auto most = read_bytes(s.cdb, s.block_size)) FUZZ_CHECK(r.data_in.size() <= *most);
  }
}

// Waits for the overlapping commands still on the pool.
class Outstanding {
 public:
  void add() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void done() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) idle_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    // A command whose completion never comes is a bug too.
    FUZZ_CHECK(idle_.wait_for(lock, std::chrono::seconds(20), [this] { return n_ == 0; }));
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int n_ = 0;
};

void run(Bytes& in) {
  Process& p = *process;
  p.file512.reset();
  p.file4k.reset();
  scsi::UnitOptions no_cache{.block_size = 4096, .write_cache = false};
  scsi::UnitOptions read_only{.read_only = true};
  std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>> units;
  units[0] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("fuzz,0"), scsi::UnitOptions{},
                                                 p.file512.open(512), p.pool, p.copies.get());
  units[1] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("fuzz,1"), no_cache,
                                                 p.file4k.open(4096), p.pool, p.copies.get());
  units[2] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("fuzz,2"), read_only,
                                                 p.file512.open(512, true), p.pool,
                                                 p.copies.get());
  units[3] = std::make_shared<scsi::LogicalUnit>(scsi::identity_for("fuzz,3"), 512, 2048);
  const scsi::LunMap luns(units);

  std::deque<Submitted> submitted;  // a deque: its elements never move
  Outstanding outstanding;
  while (in.left() > 0) {
    const uint8_t who = in.u8(), where = in.u8(), limit = in.u8();
    const uint64_t nexus = 1 + (who & 3);
    const uint8_t target = where & 7;
    if (target >= 5) {
      outstanding.wait();  // events happen between commands
      if (target == 5) {
        units[(where >> 3) & 3]->reset(nexus);
      } else if (target == 6) {
        for (auto& [n, u] : units) u->forget(nexus);
      } else {
        p.file512.grow(4096);
        p.file4k.grow(4096);
        for (auto& [n, u] : units) u->refresh_capacity();
      }
      continue;
    }
    Submitted& s = submitted.emplace_back();
    size_t cdb_len = cdb_bytes(in.peek());
    const uint8_t* cdb = in.take(cdb_len);
    s.cdb.assign(cdb, cdb + cdb_len);
    if (s.cdb.empty()) s.cdb.push_back(0);
    size_t data_len = in.u16();
    const uint8_t* data = in.take(data_len);
    s.data_out.assign(data, data + data_len);
    s.command.cdb = s.cdb;
    s.command.data_out = s.data_out;
    s.command.allocation_limit = limit == 255 ? UINT32_MAX : 16u * limit;
    s.command.nexus = nexus;
    s.command.initiator_port = kPorts[(who >> 2) & 3];
    s.command.units = &luns;  // copy descriptors may name the others
    s.command.abort = std::make_shared<scsi::AbortSignal>();
    if (who & 0x40) s.command.abort->request();  // aborted as it is submitted
    const uint16_t lun_number = target == 4 ? 7 : target;
    if (target < 4) s.block_size = units[target]->block_size();
    outstanding.add();
    luns.submit(scsi::lun_field(lun_number), s.command, [&s, &outstanding](scsi::Result r) {
      FUZZ_CHECK(s.completions.fetch_add(1) == 0);  // exactly once
      check(s, r);
      outstanding.done();
    });
    if (!(who & 0x80)) outstanding.wait();
  }
  outstanding.wait();
  for (const Submitted& s : submitted) FUZZ_CHECK(s.completions.load() == 1);
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
