// A unit's submission path and its unit attentions; the table of its
// commands and their dispatch are in commands.cc, the commands themselves
// in inquiry.cc (those that describe the unit), block_io.cc and
// verify_io.cc (those that need the backing file).
#include "scsi/logical_unit.h"

#include <algorithm>
#include <future>

#include "scsi/cdb.h"
#include "scsi/unit_impl.h"
#include "util/log.h"

namespace offcopy::scsi {

BlockLimits::BlockLimits(uint32_t block_size)
    // 32 MiB: libiscsi's WriteSame16.Unmap writes 65536 512-byte blocks in one
    // command, whatever this page says.
    : max_transfer((32u << 20) / block_size),
      optimal_transfer((8u << 20) / block_size),
      granularity(std::max(1u, 4096 / block_size)),
      // 256 MiB: libiscsi calls a count over 2^20 LBAs "insanely big".
      max_unmap((256u << 20) / block_size),
      max_write_same((1u << 30) / block_size) {}

LogicalUnit::Impl::Impl(Identity id, UnitOptions options, std::unique_ptr<BackingFile> file,
                        IoPool* pool, CopyEngine* copy_engine, uint64_t blocks)
    : id(std::move(id)),
      options(options),
      limits(options.block_size),
      file(std::move(file)),
      pool(pool),
      copy_engine(copy_engine),
      blocks(blocks),
      write_cache(this->options.write_cache),
      reservations(this->options.reservations_file) {
  if (!reservations.load_error().empty()) {
    OFFCOPY_TLOG(warning, "%s: ignored, the unit starts with no persistent reservations",
                 reservations.load_error().c_str());
  }
}

void LogicalUnit::Impl::submit(const Command& cmd, Completion done) {
  if (cmd.cdb.empty()) return done(check_condition(SenseKey::illegal_request, kInvalidOpcode));
  const uint8_t opcode = cmd.cdb[0];
  const size_t len = cdb_length(opcode);
  if (len == 0) return done(check_condition(SenseKey::illegal_request, kInvalidOpcode));
  if (cmd.cdb.size() < len) return done(invalid_field_in_cdb(0));

  // A unit attention goes before anything else the command could get
  // (SAM-5 5.14); REQUEST SENSE returns it as its data.
  const std::optional<Asc> attention = take_attention(cmd);
  if (opcode == op::kRequestSense) return done(request_sense(cmd, attention));
  if (attention) return done(check_condition(SenseKey::unit_attention, *attention));
  // NACA: this target has no ACA (NormACA is 0 in INQUIRY).
  if (cmd.cdb[len - 1] & 0x04) return done(invalid_field_in_cdb(len - 1, 2));

  Plan p = plan(cmd);
  if (p.start) {
    {
      std::lock_guard lock(flight_mu);
      ++in_flight;
    }
    return p.start([this, done = std::move(done)](Result r) {
      done(std::move(r));
      std::lock_guard lock(flight_mu);
      --in_flight;
      idle.notify_all();
    });
  }
  if (!p.io) return done(std::move(p.now));
  if (!pool) return done(p.io());
  if (p.fast) {
    // Small I/O the page cache can serve without blocking is done here:
    // handing it to a pool thread and back costs more than the copy
    // (4 KiB random reads: 63k IOPS through the pool, 130k on the loop;
    // docs/benchmarks.md).
    if (std::optional<Result> r = p.fast()) return done(std::move(*r));
  }
  uint64_t ticket;
  {
    std::lock_guard lock(flight_mu);
    ++in_flight;
    ticket = next_ticket++;
    running_tickets.insert(ticket);
  }
  pool->post([this, io = std::move(p.io), done = std::move(done), ticket,
              drain = p.drain_earlier] {
    Result r = io();
    if (drain) {
      // The pool is first in, first out: every earlier command has been
      // taken by a thread, so this waits for no command behind it.
      std::unique_lock lock(flight_mu);
      idle.wait(lock, [&] { return *running_tickets.begin() == ticket; });
    }
    done(std::move(r));
    // Under the lock, so the destructor cannot return (and free this)
    // between the count reaching 0 and the notification.
    std::lock_guard lock(flight_mu);
    running_tickets.erase(ticket);
    --in_flight;
    idle.notify_all();
  });
}

std::optional<Asc> LogicalUnit::Impl::take_attention(const Command& cmd) {
  std::lock_guard lock(mu);
  Nexus& nexus = nexuses[cmd.nexus];  // seen: a reset now tells it
  if (nexus.port.empty() && !cmd.initiator_port.empty()) {
    nexus.port = cmd.initiator_port;
    const auto owed = port_attentions.find(nexus.port);
    if (owed != port_attentions.end()) {
      for (Asc a : owed->second) queue_attention(nexus, a);
      port_attentions.erase(owed);
    }
  }
  std::deque<Asc>& pending = nexus.attentions;
  const uint8_t opcode = cmd.cdb[0];
  if (opcode == op::kInquiry || opcode == op::kReportLuns || pending.empty()) return std::nullopt;
  const Asc a = pending.front();
  pending.pop_front();
  return a;
}

void LogicalUnit::Impl::queue_attention(Nexus& nexus, Asc asc) {
  std::deque<Asc>& pending = nexus.attentions;
  if (std::find(pending.begin(), pending.end(), asc) != pending.end()) return;
  // POWER ON, RESET (29h) outranks every other condition (SAM-5 5.14).
  auto at = pending.end();
  if (asc.code == kPowerOnReset.code) {
    at = std::find_if(pending.begin(), pending.end(),
                      [](Asc a) { return a.code != kPowerOnReset.code; });
  }
  pending.insert(at, asc);
}

Plan LogicalUnit::Impl::persistent_reserve_out(const Command& cmd) {
  constexpr uint8_t kPreemptAndAbort = 5;
  return Plan{{},
              [this, cmd] {
                std::vector<PortNotice> notices;
                Result r = reservations.persistent_reserve_out(cmd, notices);
                std::lock_guard lock(mu);
                for (const PortNotice& n : notices) {
                  bool told = false;
                  for (auto& [id, nexus] : nexuses) {
                    if (nexus.port != n.port) continue;
                    queue_attention(nexus, n.asc);
                    told = true;
                  }
                  // A registrant with no nexus here now (reconnecting, or
                  // not yet seen by this unit) is told when it comes.
                  if (!told) {
                    std::deque<Asc>& owed = port_attentions[n.port];
                    if (std::find(owed.begin(), owed.end(), n.asc) == owed.end()) {
                      owed.push_back(n.asc);
                    }
                  }
                }
                return r;
              },
              nullptr,
              (cmd.cdb[1] & 0x1f) == kPreemptAndAbort};
}

Result LogicalUnit::Impl::request_sense(const Command& cmd, std::optional<Asc> attention) const {
  const bool desc = cmd.cdb[1] & 0x01;
  // With nothing pending: NO SENSE (autosense has already reported every
  // CHECK CONDITION, so there is no other sense to keep).
  const Result pending = attention ? check_condition(SenseKey::unit_attention, *attention)
                                   : check_condition(SenseKey::no_sense, kNoAdditionalSense);
  return data_in(desc ? descriptor_sense(pending.sense) : pending.sense, cmd.cdb[4], cmd);
}

LogicalUnit::LogicalUnit(Identity id, UnitOptions options, std::unique_ptr<BackingFile> file,
                         IoPool& pool, CopyEngine* copies) {
  const uint64_t blocks = file->size() / options.block_size;
  impl_ = std::make_unique<Impl>(std::move(id), options, std::move(file), &pool, copies, blocks);
}

LogicalUnit::LogicalUnit(Identity id, uint32_t block_size, uint64_t blocks)
    : impl_(std::make_unique<Impl>(std::move(id), UnitOptions{.block_size = block_size}, nullptr,
                                   nullptr, nullptr, blocks)) {}

LogicalUnit::~LogicalUnit() {
  // The pool's threads may still be running this unit's commands.
  std::unique_lock lock(impl_->flight_mu);
  impl_->idle.wait(lock, [this] { return impl_->in_flight == 0; });
}

void LogicalUnit::submit(const Command& cmd, Completion done) {
  impl_->submit(cmd, std::move(done));
}

Result LogicalUnit::execute(const Command& cmd) {
  std::promise<Result> result;
  std::future<Result> f = result.get_future();
  submit(cmd, [&result](Result r) { result.set_value(std::move(r)); });
  return f.get();
}

void LogicalUnit::reset(uint64_t nexus) {
  impl_->reservations.reset();  // a RESERVE ends; persistent reservations stay
  // Its copy operations end too, IMMED ones included, whose commands the
  // transport no longer knows (SAM-5 5.14; the status keeps what each did).
  abort_copies();
  std::lock_guard lock(impl_->mu);
  impl_->nexuses[nexus];  // the nexus that reset is one seen, too
  // Every nexus is told, the one that asked as well (its other commands
  // were aborted too; libiscsi's MultipathIO.Reset checks each path).  A
  // reset supersedes what was pending (SAM-5 5.14: it has the highest
  // precedence, and the state those attentions reported is gone).
  for (auto& [n, each] : impl_->nexuses) each.attentions.assign(1, kPowerOnReset);
}

void LogicalUnit::abort_copies() {
  std::vector<std::shared_ptr<AbortSignal>> running;
  {
    std::lock_guard lock(impl_->copy_mu);
    for (const auto& [key, op] : impl_->copy_operations) {
      if (op->state == CopyOperation::State::running) running.push_back(op->abort);
    }
  }
  for (const auto& abort : running) abort->request();
}

void LogicalUnit::commands_cleared(uint64_t nexus) {
  std::lock_guard lock(impl_->mu);
  Impl::Nexus& n = impl_->nexuses[nexus];
  const bool reset_pending =
      !n.attentions.empty() && n.attentions.front().code == kPowerOnReset.code;
  if (!reset_pending) Impl::queue_attention(n, kCommandsClearedByAnother);
}

void LogicalUnit::forget(uint64_t nexus) {
  impl_->reservations.nexus_lost(nexus);
  impl_->forget_copies(nexus);
  std::lock_guard lock(impl_->mu);
  impl_->nexuses.erase(nexus);
}

bool LogicalUnit::refresh_capacity() {
  if (!impl_->file) return false;
  const uint64_t blocks = impl_->file->refresh_size() / impl_->block_size();
  if (impl_->blocks.exchange(blocks) == blocks) return false;
  std::lock_guard lock(impl_->mu);
  for (auto& [n, nexus] : impl_->nexuses) Impl::queue_attention(nexus, kCapacityChanged);
  return true;
}

int LogicalUnit::flush() { return impl_->file ? impl_->file->sync() : 0; }

UnitStats LogicalUnit::stats() const {
  const Impl::Counters& c = impl_->counters;
  constexpr auto kRelaxed = std::memory_order_relaxed;
  return {c.bytes_read.load(kRelaxed),         c.bytes_written.load(kRelaxed),
          c.copies.load(kRelaxed),             c.bytes_cloned.load(kRelaxed),
          c.bytes_kernel_copied.load(kRelaxed), c.bytes_host_copied.load(kRelaxed)};
}

uint32_t LogicalUnit::block_size() const { return impl_->block_size(); }
uint64_t LogicalUnit::blocks() const { return impl_->capacity(); }
const Identity& LogicalUnit::identity() const { return impl_->id; }

}  // namespace offcopy::scsi
