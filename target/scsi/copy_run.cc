#include "scsi/copy_run.h"

#include <cerrno>
#include <set>

namespace offcopy::scsi {

Result copy_aborted(Asc asc, uint16_t segment) {
  Result r = check_condition(SenseKey::copy_aborted, asc);
  r.sense[10] = static_cast<uint8_t>(segment >> 8);
  r.sense[11] = static_cast<uint8_t>(segment);
  return r;
}

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void LogicalUnit::Impl::CopyRun::go() {
  if (next == steps.size()) return finish(Result{});
  Step& s = steps[next];
  if (op->abort->requested()) return finish(copy_aborted(kNoAdditionalSense, s.segment));
  if (s.piece.length == 0) return advance(s, CopyOutcome{});
  auto self = shared_from_this();
  // Read before start(): the piece may end, and the whole copy with it
  // (its unit then free to go), before start() returns.
  CopyEngine* engine = manager->copy_engine;
  const uint64_t id =
      engine->start(s.piece, [self](CopyOutcome out) { self->advance(self->steps[self->next], out); });
  op->abort->on_request([engine, id] { engine->cancel(id); });
}

void LogicalUnit::Impl::CopyRun::advance(const Step& s, const CopyOutcome& out) {
  // A step with no destination unit stages bytes in a hidden file: it
  // is not what the copy wrote.
  if (s.destination != nullptr) {
    LogicalUnit::Impl::Counters& c = s.destination->counters;
    c.bytes_cloned.fetch_add(out.cloned, std::memory_order_relaxed);
    c.bytes_kernel_copied.fetch_add(out.kernel_copied, std::memory_order_relaxed);
    c.bytes_host_copied.fetch_add(out.host_copied, std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(manager->copy_mu);
    if (s.destination != nullptr) op->bytes_done += out.bytes();
    if (out.error == 0 && s.ends_segment) ++op->segments_done;
  }
  if (out.error == ECANCELED) return finish(copy_aborted(kNoAdditionalSense, s.segment));
  if (out.error != 0) {
    // The cause in the additional sense code (a full thin pool, a
    // medium error), under COPY ABORTED: the copy is what failed.
    const Result cause = sense_for_errno(out.error, true);
    return finish(copy_aborted(Asc{cause.sense[12], cause.sense[13]}, s.segment));
  }
  ++next;
  go();
}

void LogicalUnit::Impl::CopyRun::finish(Result r) {
  // Where writes are not cached, the copy is on the disk before GOOD.
  std::set<LogicalUnit::Impl*> destinations;
  for (const Step& s : steps) {
    if (s.destination != nullptr) destinations.insert(s.destination);
  }
  for (LogicalUnit::Impl* d : destinations) {
    if (r.status == Status::good && !d->write_cache) {
      if (int err = d->file->sync(); err != 0) r = copy_aborted(kWriteError, 0);
    }
    d->counters.copies.fetch_add(1, std::memory_order_relaxed);
  }
  if (finishing) r = finishing(std::move(r));
  manager->end_copy(op, r);
  if (done) done(std::move(r));
}

std::shared_ptr<CopyOperation> LogicalUnit::Impl::new_copy_operation(const Command& cmd,
                                                                     uint32_t list_id,
                                                                     bool immediate, bool hold) {
  auto op = std::make_shared<CopyOperation>();
  op->nexus = cmd.nexus;
  op->list_id = list_id;
  op->service_action = cmd.cdb[1] & 0x1f;
  op->block_size = block_size();
  op->immediate = immediate;
  op->hold = hold;
  // An IMMED copy outlives its command: only COPY OPERATION ABORT (or a
  // reset) stops it, not an abort of the command that started it.
  op->abort = cmd.abort && !immediate ? cmd.abort : std::make_shared<AbortSignal>();
  return op;
}

void LogicalUnit::Impl::end_copy(const std::shared_ptr<CopyOperation>& op, const Result& r) {
  std::vector<Completion> waiting;  // COPY OPERATION ABORTs: GOOD once it has ended
  {
    std::lock_guard lock(copy_mu);
    op->state = r.status == Status::good ? CopyOperation::State::succeeded
                : op->abort->requested() ? CopyOperation::State::aborted
                                         : CopyOperation::State::failed;
    op->failure = r;
    op->ended = std::chrono::steady_clock::now();
    waiting.swap(op->on_end);
    // LIST ID USAGE 10b: nothing is kept once it ends -- but an IMMED
    // copy's status is the only way to learn how it ended, so that is
    // kept a while (kDiscardedKeptFor) to be polled.
    if (!op->hold && !op->immediate) {
      const auto it = copy_operations.find({op->nexus, op->list_id});
      if (it != copy_operations.end() && it->second == op) copy_operations.erase(it);
    }
  }
  for (Completion& w : waiting) w(Result{});
}

Completion LogicalUnit::Impl::answer_now(Completion done) {
  {
    std::lock_guard lock(flight_mu);
    ++in_flight;
  }
  done(Result{});
  return [this](Result) {
    std::lock_guard lock(flight_mu);
    --in_flight;
    idle.notify_all();
  };
}

Plan LogicalUnit::Impl::start_run(std::shared_ptr<CopyRun> run) {
  Plan plan;
  plan.start = [this, run = std::move(run)](Completion done) {
    run->done = run->op->immediate ? answer_now(std::move(done)) : std::move(done);
    run->go();
  };
  return plan;
}

Plan LogicalUnit::Impl::start_on_pool(bool immediate, std::function<Result()> work) {
  Plan plan;
  plan.start = [this, immediate, work = std::move(work)](Completion done) {
    if (immediate) done = answer_now(std::move(done));
    pool->post([work, done = std::move(done)] { done(work()); });
  };
  return plan;
}

// Registers `op` under its nexus and list identifier (when `named`): a
// list identifier a running copy of that nexus holds is refused (SPC-4
// 6.3.1: OPERATION IN PROGRESS, as ddpt expects); an ended one's kept
// status is replaced.
std::optional<Result> LogicalUnit::Impl::register_copy(const std::shared_ptr<CopyOperation>& op,
                                                       bool named, bool shared_id) {
  std::lock_guard lock(copy_mu);
  const auto now = std::chrono::steady_clock::now();
  size_t running = 0;
  for (auto it = copy_operations.begin(); it != copy_operations.end();) {
    const CopyOperation& o = *it->second;
    if (o.state != CopyOperation::State::running && !o.hold && now - o.ended > kDiscardedKeptFor) {
      it = copy_operations.erase(it);
      continue;
    }
    if (o.state == CopyOperation::State::running) ++running;
    ++it;
  }
  if (running >= kMaxConcurrentCopies) {
    return check_condition(SenseKey::illegal_request, kInsufficientResources);
  }
  if (!named) return std::nullopt;
  const auto key = std::make_pair(op->nexus, op->list_id);
  const auto it = copy_operations.find(key);
  if (it != copy_operations.end() && it->second->state == CopyOperation::State::running) {
    // QEMU sends every EXTENDED COPY with list identifier 1 and LIST ID
    // USAGE 10b, several at once; LIO ignores list identifiers.  A
    // discarded list's status is not kept anyway, so the second runs
    // unnamed rather than being refused (and QEMU falling back to a
    // host copy).
    if (shared_id) return std::nullopt;
    return check_condition(SenseKey::illegal_request, kOperationInProgress);
  }
  if (copy_operations.size() >= kMaxKeptCopies) {
    // The one that ended longest ago makes room.
    auto oldest = copy_operations.end();
    for (auto o = copy_operations.begin(); o != copy_operations.end(); ++o) {
      if (o->second->state == CopyOperation::State::running) continue;
      if (oldest == copy_operations.end() || o->second->ended < oldest->second->ended) oldest = o;
    }
    if (oldest != copy_operations.end()) copy_operations.erase(oldest);
  }
  copy_operations[key] = op;
  return std::nullopt;
}

}  // namespace offcopy::scsi
