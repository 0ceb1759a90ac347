// Internal to target/scsi: what a LogicalUnit is made of, shared by
// logical_unit.cc (dispatch, unit attentions), inquiry.cc (the commands
// that describe the unit) and block_io.cc (the commands that need the
// backing file).  Not part of the library's API.
#ifndef OFFCOPY_TARGET_SCSI_UNIT_IMPL_H_
#define OFFCOPY_TARGET_SCSI_UNIT_IMPL_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <vector>

#include "scsi/backing_file.h"
#include "scsi/cdb.h"
#include "scsi/command.h"
#include "scsi/copy_engine.h"
#include "scsi/io_pool.h"
#include "scsi/logical_unit.h"
#include "scsi/reservations.h"
#include "scsi/rod_tokens.h"
#include "scsi/sense.h"

namespace offcopy::scsi {

// What the Block Limits VPD page (0xB0) promises, in blocks, and what the
// commands enforce: a limit advertised is a limit kept.
struct BlockLimits {
  explicit BlockLimits(uint32_t block_size);

  uint32_t max_transfer;  // READ / WRITE: 32 MiB (a command's data is held in memory)
  uint32_t optimal_transfer;  // OPTIMAL TRANSFER LENGTH: 8 MiB
  uint32_t granularity;   // optimal transfer and unmap granularity: 4 KiB
  uint32_t max_unmap;     // LBAs per UNMAP command: 256 MiB
  uint32_t max_unmap_descriptors = 256;
  uint64_t max_write_same;  // WRITE SAME: 1 GiB (a pattern is written on one I/O thread)
  // COMPARE AND WRITE: its NUMBER OF LOGICAL BLOCKS is one byte, so 255
  // is the most a CDB can ask; VMware's ATS uses 1.
  uint8_t max_compare_and_write = 255;
};

// A decoded command: answered at once (`io` empty: a bad CDB, a range
// error, a describing command), or the backing-file I/O to run on the pool.
// `fast`, when set, is tried first on the caller's thread: it must not
// block (RWF_NOWAIT), and gives a Result only if it finished -- data in
// the page cache, a write the cache takes at once -- else `io` runs.
struct Plan {
  Result now;
  std::function<Result()> io;
  std::function<std::optional<Result>()> fast;
  // Once `io` has run, and before its completion, wait until every
  // command submitted to the pool before it has ended: PREEMPT AND ABORT
  // answers GOOD only when no command the preempted nexuses had running
  // can still write (the ones after it conflict).
  bool drain_earlier = false;
  // A command that ends when something else says so -- a copy, on the
  // copy engine: started on the caller's thread with the completion,
  // which it calls exactly once, from any thread.  Counted in flight.
  std::function<void(Completion)> start;
};
inline Plan answer(Result r) { return Plan{std::move(r), nullptr}; }

// A copy operation a unit runs as copy manager (EXTENDED COPY), known by
// its nexus and list identifier while RECEIVE COPY STATUS may ask of it.
struct CopyOperation {
  enum class State { running, succeeded, failed, aborted };
  uint64_t nexus = 0;
  uint32_t list_id = 0;
  // The command that started it (THIRD-PARTY COPY OUT service action:
  // EXTENDED COPY LID1 or LID4, POPULATE TOKEN, WRITE USING TOKEN).
  uint8_t service_action = 0;
  uint32_t block_size = 512;  // RECEIVE ROD TOKEN INFORMATION counts blocks of it
  bool immediate = false;     // IMMED: GOOD was returned before it ran
  bool hold = false;       // LIST ID USAGE 00b: kept until its status is read
  std::shared_ptr<AbortSignal> abort;
  // Guarded by the unit's copy_mu.
  State state = State::running;
  uint16_t segments_done = 0;
  uint64_t bytes_done = 0;
  Result failure;  // its CHECK CONDITION, when it failed or was aborted
  std::shared_ptr<RodToken> token;  // what POPULATE TOKEN made
  std::chrono::steady_clock::time_point ended;
  std::vector<Completion> on_end;  // COPY OPERATION ABORTs waiting for it
};

struct LogicalUnit::Impl {
  Impl(Identity id, UnitOptions options, std::unique_ptr<BackingFile> file, IoPool* pool,
       CopyEngine* copy_engine, uint64_t blocks);

  const Identity id;
  const UnitOptions options;
  const BlockLimits limits;
  const std::unique_ptr<BackingFile> file;  // null: a unit with no backing file (tests)
  IoPool* const pool;                       // null: I/O runs on the caller's thread
  CopyEngine* const copy_engine;            // null: no third-party copy (3PC is 0)
  std::atomic<uint64_t> blocks;             // refresh_capacity() changes it
  // What MODE SELECT changes (not saved: a restart is a power on, and the
  // config's values come back): the write cache (caching page WCE), and
  // software write protection (control page SWP).
  std::atomic<bool> write_cache;
  std::atomic<bool> software_write_protect{false};
  // Commands posted to the pool and not yet completed: the destructor
  // waits for them (they point at this).
  std::mutex flight_mu;
  std::condition_variable idle;  // notified as each command ends
  uint64_t in_flight = 0;        // guarded by flight_mu
  // Each command posted to the pool gets the next ticket; those still
  // running, for drain_earlier.  Guarded by flight_mu.
  uint64_t next_ticket = 0;
  std::set<uint64_t> running_tickets;

  // The commands that read, change and write blocks back (COMPARE AND
  // WRITE, ORWRITE) must be atomic against every other write to the unit
  // (SBC-3 5.2): they hold this exclusively, and every write (WRITE,
  // WRITE AND VERIFY, WRITE SAME, UNMAP) holds it shared while it
  // changes the file.  Reads do not take it.  The loop thread's fast path
  // only ever tries it (Plan::fast must not block).
  std::shared_mutex rmw_lock;

  // What stats() reports; counted as commands end.
  struct Counters {
    std::atomic<uint64_t> bytes_read{0}, bytes_written{0}, copies{0};
    std::atomic<uint64_t> bytes_cloned{0}, bytes_kernel_copied{0}, bytes_host_copied{0};
  };
  Counters counters;

  // PERSISTENT RESERVE and RESERVE/RELEASE; plan() asks it of every
  // command.
  Reservations reservations;

  // A nexus seen: the initiator port it is (unit attentions owed to a
  // port reach each of its nexuses), and its pending unit attentions in
  // the order they are reported.
  struct Nexus {
    std::string port;
    std::deque<Asc> attentions;
  };
  std::mutex mu;
  std::map<uint64_t, Nexus> nexuses;  // guarded by mu
  // The copy operations that RECEIVE COPY STATUS can be asked of: those
  // running, and those ended whose status is kept (third_party_copy.cc).
  std::mutex copy_mu;
  std::map<std::pair<uint64_t, uint32_t>, std::shared_ptr<CopyOperation>> copy_operations;

  // Unit attentions owed to an initiator port none of whose nexuses this
  // unit knows now, for its next one (persistent reservations belong to
  // ports, which outlive sessions).  Guarded by mu.
  std::map<std::string, std::deque<Asc>> port_attentions;

  uint32_t block_size() const { return options.block_size; }
  uint64_t capacity() const { return blocks.load(std::memory_order_relaxed); }
  // Thin provisioned: UNMAP and WRITE SAME's UNMAP bit punch holes, and
  // LBPME / LBPU / LBPWS are advertised.  Only when the file can punch.
  bool thin() const { return file && file->can_punch() && !options.read_only; }
  // Whether writes are refused now, and with which sense: a read-only
  // unit's WRITE PROTECTED, or SWP's LOGICAL UNIT SOFTWARE WRITE PROTECTED.
  bool writes_refused() const { return options.read_only || software_write_protect; }
  Result write_refusal() const {
    return options.read_only ? write_protected()
                             : check_condition(SenseKey::data_protect, kSoftwareWriteProtected);
  }

  // One command this unit has: the one table that dispatch (plan) and
  // REPORT SUPPORTED OPERATION CODES both read, so they cannot disagree.
  struct CommandSpec {
    uint8_t opcode;
    int service_action;  // -1: the operation code has none
    // Decodes the command; null: answered before plan() (REQUEST SENSE
    // by submit(), REPORT LUNS by the LunMap).
    Plan (*plan)(Impl& unit, const Command& cmd);
    // Whether this unit has it (UNMAP only where holes can be punched);
    // null: always.
    bool (*available)(const Impl& unit);
    // CDB USAGE DATA (SPC-4 6.35.3): the operation code (and service
    // action), then a bit set for each CDB bit the device server looks at.
    // As long as the CDB.
    std::array<uint8_t, 16> usage;
    // How reservations judge it; a command that changes something unless
    // said otherwise, so a new command conflicts until it is classed.
    Access access = Access::write;
  };

  // logical_unit.cc
  void submit(const Command& cmd, Completion done);

  // commands.cc
  static std::span<const CommandSpec> commands();
  static bool has_service_actions(uint8_t opcode);
  // The command `opcode` (and `service_action`) names, if this unit has it.
  const CommandSpec* find_command(uint8_t opcode, int service_action) const;
  Plan plan(const Command& cmd);
  Result report_supported_opcodes(const Command& cmd) const;
  Result report_supported_tmfs(const Command& cmd) const;
  // Takes the unit attention the command must report, if any, and records
  // the nexus as seen.  INQUIRY and REPORT LUNS neither report nor clear.
  std::optional<Asc> take_attention(const Command& cmd);
  Result request_sense(const Command& cmd, std::optional<Asc> attention) const;
  // Queues `asc` for `nexus` in the standard's order (SAM-5 5.14): a
  // reset's before the others, each at most once.  Under mu.
  static void queue_attention(Nexus& nexus, Asc asc);
  // PERSISTENT RESERVE OUT, run off the loop (it may write the APTPL
  // file); the unit attentions it owes other ports are queued.
  Plan persistent_reserve_out(const Command& cmd);

  // inquiry.cc
  Result inquiry(const Command& cmd) const;
  Result vpd_page(uint8_t page) const;
  Result read_capacity_10(const Command& cmd) const;
  Result read_capacity_16(const Command& cmd) const;
  Result mode_sense(const Command& cmd) const;
  // The bytes of one mode page (0x08, 0x0A, 0x1C) for a page control
  // (0 current, 1 changeable, 2 default).
  std::vector<uint8_t> mode_page(uint8_t page, uint8_t pc) const;
  Result mode_select(const Command& cmd);
  Result prevent_allow_medium_removal(const Command& cmd) const;
  Result read_defect_data(const Command& cmd) const;
  Result report_target_port_groups(const Command& cmd) const;

  // block_io.cc
  Plan read_write(const Command& cmd, bool write);
  Plan synchronize_cache(const Command& cmd);
  Plan unmap(const Command& cmd);
  Plan write_same(const Command& cmd);
  Plan get_lba_status(const Command& cmd);
  Plan prefetch(const Command& cmd);
  Plan start_stop_unit(const Command& cmd);

  // copy_run.cc
  struct CopyTarget;
  struct CopyRun;
  // Registers a copy under its nexus and list identifier (when `named`),
  // or says why it may not run.  With `shared_id`, a list identifier a
  // running copy holds is no refusal: the copy runs unnamed.
  std::optional<Result> register_copy(const std::shared_ptr<CopyOperation>& op, bool named,
                                      bool shared_id = false);
  // A copy operation of `cmd` (its nexus and THIRD-PARTY COPY OUT service
  // action), not yet registered.
  std::shared_ptr<CopyOperation> new_copy_operation(const Command& cmd, uint32_t list_id,
                                                    bool immediate, bool hold);
  // The copy has ended with `r`: its status says so, and the COPY
  // OPERATION ABORTs waiting for it are answered.
  void end_copy(const std::shared_ptr<CopyOperation>& op, const Result& r);
  // IMMED: answers GOOD through `done` now, and returns the completion to
  // call when the work has really ended (the unit counts it in flight
  // until then: its destructor waits for it).
  Completion answer_now(Completion done);
  // The Plan of a copy run on the copy engine, or of work on the unit's
  // I/O threads; either answered when it ends, or at once if IMMED.
  Plan start_run(std::shared_ptr<CopyRun> run);
  Plan start_on_pool(bool immediate, std::function<Result()> work);

  // third_party_copy.cc
  bool copies() const { return copy_engine != nullptr && file != nullptr; }
  Plan extended_copy(const Command& cmd);
  Plan copy_operation_abort(const Command& cmd);
  Result receive_copy_operating_parameters(const Command& cmd) const;
  // RECEIVE COPY STATUS (LID1 and LID4), RECEIVE COPY FAILURE DETAILS and
  // RECEIVE ROD TOKEN INFORMATION.
  Result receive_copy_status(const Command& cmd);
  std::vector<uint8_t> third_party_copy_vpd() const;  // VPD page 0x8F's descriptors
  // A nexus that ended: the copy status kept for it goes (its copies run on).
  void forget_copies(uint64_t nexus);

  // token_copy.cc
  Plan populate_token(const Command& cmd);
  Plan write_using_token(const Command& cmd);
  Result report_all_rod_tokens(const Command& cmd) const;
  // A write to [lba, lba + blocks) is about to be made: the tokens that
  // would see it change (point in time, no snapshot) are revoked.  Called
  // by every write's plan, before the bytes can land.
  void before_write(uint64_t lba, uint64_t blocks, const RodToken* except = nullptr) {
    if (copy_engine == nullptr || watched_by_tokens->load(std::memory_order_relaxed) == 0) return;
    copy_engine->tokens().revoke_overlapping(id.naa, block_size(), lba, blocks, except);
  }
  // How many live tokens would be revoked by a write to this unit: 0, the
  // common case, costs a write one load.
  std::shared_ptr<std::atomic<uint32_t>> watched_by_tokens =
      std::make_shared<std::atomic<uint32_t>>(0);

  // verify_io.cc
  Plan verify(const Command& cmd);
  // What WRITE AND VERIFY and ORWRITE check before they touch the file, in
  // the standard's order (length, range, write protection); a Plan when
  // the command is answered already, else the range and the whole blocks
  // of data-out it can use.
  struct WriteRange {
    uint64_t offset = 0, bytes = 0;
    uint32_t wanted = 0;  // the data-out the CDB names
  };
  std::optional<Plan> check_write(const Transfer& t, const Command& cmd, WriteRange& w);
  Plan write_and_verify(const Command& cmd);
  Plan compare_and_write(const Command& cmd);
  Plan or_write(const Command& cmd);
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_UNIT_IMPL_H_
