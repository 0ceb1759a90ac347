// One job slot of the scheduler: the job it holds and what other threads
// may read of it while it runs.  Slots are pooled: submit takes a free one,
// the queue hands it to a worker, and the worker returns it to the pool
// when the completion is delivered; a later submit reuses it.
//
// Thread-safety, by field:
//   slot                 fixed at creation.
//   id, job, notify,     written by the submitter before the slot is
//   bytes_counted        queued; then the worker's that popped it (the
//                        queue's release/acquire orders the two).
//   live                 the id while the job is admitted and not yet
//                        delivered, else 0: written by the submitter and
//                        the worker, read by cancel()/progress() under
//                        Scheduler::slots_mu_.
//   cancel, done, total, read by any thread while the slot is live,
//   mech                 written by the worker running the job (cancel
//                        also by cancel()).
//   uses, next_free      guarded by Scheduler::slots_mu_, except that a
//                        worker returning the slot writes next_free before
//                        publishing it (Scheduler::returned_).
// None of this is annotated for clang's -Wthread-safety: an attribute here
// cannot name the scheduler's private mutex, and most fields change hands
// through the queue rather than under a lock.
#ifndef OFFCOPY_ENGINE_JOB_STATE_H_
#define OFFCOPY_ENGINE_JOB_STATE_H_

#include <atomic>
#include <cstdint>
#include <future>
#include <variant>

#include "engine/job_queue.h"
#include "offcopy/engine.h"

namespace offcopy::engine {

// How the completion is delivered: queued for reap(), a callback, a future.
using Notify = std::variant<std::monostate, CompletionCallback,
                            std::promise<Completion>>;

// Cache-line aligned: the slot a worker is running is never on a line that
// a submitter is filling for another job.
struct alignas(64) JobState : QueueNode {
  explicit JobState(uint32_t s) : slot(s) {}
  JobState(const JobState&) = delete;
  JobState& operator=(const JobState&) = delete;

  const uint32_t slot;  // index in Scheduler::slots_
  JobId id = 0;
  // The job.  It stays in the slot after its completion, until a submit
  // reuses the slot and destroys it there: on the submitting thread, which
  // is usually the one that allocated its strings and vectors.  (A worker
  // freeing them defeats malloc's per-thread caches.)
  ::offcopy::Job job;
  Notify notify;
  int64_t bytes_counted = 0;  // in the scheduler's bytes in flight

  std::atomic<JobId> live{0};
  std::atomic<bool> cancel{false};   // mech::Control::cancel for every destination
  std::atomic<int64_t> done{0};      // Progress::bytes_done
  std::atomic<int64_t> total{-1};    // Progress::bytes_total
  std::atomic<int> mech{-1};         // Progress::mechanism, -1 for none

  uint64_t uses = 0;            // jobs this slot has held (names the next id)
  JobState* next_free = nullptr;  // link among free or returned slots

  // Readies a free slot for job `i` (whose `job` the submitter has moved
  // in already).  No other thread can reach the slot meanwhile.
  void admit(JobId i, Notify n, int64_t bytes) {
    id = i;
    notify = std::move(n);
    bytes_counted = bytes;
    cancel.store(false, std::memory_order_relaxed);
    done.store(0, std::memory_order_relaxed);
    total.store(-1, std::memory_order_relaxed);
    mech.store(-1, std::memory_order_relaxed);
    live.store(i, std::memory_order_relaxed);
  }

  Progress snapshot() const {
    Progress p;
    p.bytes_done = done.load(std::memory_order_relaxed);
    p.bytes_total = total.load(std::memory_order_relaxed);
    const int m = mech.load(std::memory_order_relaxed);
    if (m >= 0) p.mechanism = static_cast<Mechanism>(m);
    return p;
  }
};

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_JOB_STATE_H_
