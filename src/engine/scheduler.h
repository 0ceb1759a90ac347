// The engine's one owner of scheduling state: admission (the in-flight
// limits), the queue of jobs waiting for a worker, the worker threads, and
// the delivery of completions.  offcopy::Engine forwards to it.
//
// The state is split by who writes it, so that a submitter and a worker on
// different cores do not pass cache lines back and forth for every job:
//   - submitters' side, under slots_mu_: admission counts, the slots, ids;
//   - workers' side, atomics: what has been released and returned;
//   - the queue between them (job_queue.h), and pop_lock_ among workers;
//   - mu_ only for sleeping and waking (idle workers, blocked submitters);
//   - ready_mu_ for poll-mode completions and the eventfd.
// No lock is held while a copy runs or while caller code (callbacks, the
// progress observer, futures' continuations) runs.  Only one nesting:
// pop_lock_ may be taken with mu_ held (a worker looking at the queue once
// more before it sleeps); every other lock is taken alone.
//
// The locks are util::Mutex / SpinLock and the members they guard are
// annotated (OFFCOPY_GUARDED_BY, OFFCOPY_REQUIRES): clang's -Wthread-safety
// checks them (scripts/test-clang-tsa.sh).  The atomics written under a
// lock but read without it, and the queue (lock-free for producers), are
// not expressible as "guarded by" and are described where declared.
#ifndef OFFCOPY_ENGINE_SCHEDULER_H_
#define OFFCOPY_ENGINE_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "engine/job_queue.h"
#include "engine/job_state.h"
#include "engine/spin_lock.h"
#include "engine/throttle.h"
#include "engine/wakeup.h"
#include "mech/context.h"
#include "offcopy/engine.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace offcopy::engine {

class Scheduler {
 public:
  // Creates the eventfd and starts options.workers threads.
  static Result<std::unique_ptr<Scheduler>> start(const mech::Context& ctx,
                                                  EngineOptions options);
  // Cancels or drains (options.shutdown), then joins every worker.
  ~Scheduler();

  Result<JobId> submit(::offcopy::Job job, Notify notify);
  bool cancel(JobId id);
  int cancel_all();
  std::optional<Progress> progress(JobId id) const;
  int fd() const;
  std::vector<Completion> reap();
  EngineStats stats() const;
  Status set_workers(int workers);

 private:
  // A poll-mode completion and the bytes its slot still counts.
  struct Ready {
    Completion completion;
    int64_t bytes = 0;
  };

  Scheduler(const mech::Context& ctx, EngineOptions options);
  Status start_workers(int workers) OFFCOPY_REQUIRES(threads_mu_);

  // Submitters' side.
  bool has_room_locked(int64_t bytes) OFFCOPY_REQUIRES(slots_mu_);
  // Drops slots_mu_ while it sleeps; holds it again when it returns.
  void wait_for_room() OFFCOPY_REQUIRES(slots_mu_) OFFCOPY_EXCLUDES(mu_);
  JobState* take_slot_locked() OFFCOPY_REQUIRES(slots_mu_);
  JobState* find_live_locked(JobId id) const OFFCOPY_REQUIRES(slots_mu_);

  // What one worker has counted, written only by that worker: plain
  // stores rather than a locked instruction per job, summed by readers.
  struct alignas(64) WorkerCounts {
    std::atomic<int64_t> released_bytes{0};  // of callback and future jobs
    std::atomic<int64_t> learned_bytes{0};   // sizes learned after submit
    std::atomic<int64_t> completed{0};
  };
  // One field summed over the started workers, each load relaxed.
  int64_t sum(std::atomic<int64_t> WorkerCounts::*field) const;
  int64_t released_bytes() const;  // and reap()'s
  int64_t learned_bytes() const;

  // Workers' side.  The EXCLUDES say which lock a function takes itself
  // (taking it again while held would deadlock).
  void worker_loop(WorkerCounts& mine);
  // Sleeps while nothing is queued; null: time to exit.
  JobState* next_job() OFFCOPY_EXCLUDES(mu_);
  bool spin_for_job();  // EngineOptions::idle_spin
  // The oldest queued job; null: nothing queued.
  JobState* take_job() OFFCOPY_EXCLUDES(mu_, pop_lock_);
  JobState* try_pop(bool& more) OFFCOPY_EXCLUDES(pop_lock_);
  // A job waits: wake an idle worker unless one is coming.
  void wake_one() OFFCOPY_EXCLUDES(mu_);
  void learned_total(WorkerCounts& mine, JobState& js, int64_t total);
  // Delivers c; returns the next job to run (null: time to exit).
  JobState* deliver(WorkerCounts& mine, JobState* js, Completion c)
      OFFCOPY_EXCLUDES(ready_mu_, mu_, pop_lock_);
  void return_slot(JobState* js);
  void released(int64_t jobs) OFFCOPY_EXCLUDES(mu_);

  // A copy of the caller's context (whose sys and probes must outlive the
  // engine), with chunks shrunk under a bandwidth cap.
  const mech::Context ctx_;
  const EngineOptions options_;
  // A JobId is (uses of its slot << slot_bits_) | slot index: cancel() and
  // progress() find the slot without a map, and an id is never reused (a
  // slot would have to hold 2^(64 - slot_bits_) jobs).
  const int slot_bits_;
  std::unique_ptr<Throttle> throttle_;  // null without a bandwidth cap
  // Readable while ready_ is not empty.  Opened before the workers start;
  // fd() reads its descriptor, which never changes, unlocked.
  WakeupFd wakeup_ OFFCOPY_GUARDED_BY(ready_mu_);

  // Submitters' side.  Admission compares what was admitted with what the
  // workers had released when last looked at: the estimate is never below
  // the truth, so the limits hold, and the workers' counters are read only
  // when the estimate says "full" (or under a byte limit, every time).
  alignas(64) mutable util::Mutex slots_mu_;
  // Every slot made so far (at most max_jobs_in_flight: a slot in use is a
  // job in flight), indexed by JobState::slot; freed with the scheduler.
  std::vector<std::unique_ptr<JobState>> slots_ OFFCOPY_GUARDED_BY(slots_mu_);
  JobState* free_ OFFCOPY_GUARDED_BY(slots_mu_) = nullptr;   // via next_free
  int64_t admitted_jobs_ OFFCOPY_GUARDED_BY(slots_mu_) = 0;  // ever admitted
  std::atomic<int64_t> admitted_bytes_{0};                   // written under slots_mu_
  // released_jobs_, and released_bytes() - learned_bytes(), when last read.
  int64_t seen_jobs_ OFFCOPY_GUARDED_BY(slots_mu_) = 0;
  int64_t seen_bytes_ OFFCOPY_GUARDED_BY(slots_mu_) = 0;
  int64_t peak_jobs_ OFFCOPY_GUARDED_BY(slots_mu_) = 0;
  std::atomic<int64_t> peak_bytes_{0};
  std::atomic<bool> stopping_{false};  // written under slots_mu_

  // Workers' side (reap() releases too).  released_jobs_ is the one
  // counter every release adds to with a locked instruction: a blocked
  // submitter waits for it to move (see mu_ below).
  alignas(64) std::atomic<int64_t> released_jobs_{0};  // ever released
  std::atomic<int64_t> reaped_bytes_{0};  // released by reap()
  std::atomic<JobState*> returned_{nullptr};  // slots freed by workers,
                                              // linked by next_free
  // kMaxWorkers of them; counts_[i] belongs to worker i, the first
  // started_ are in use.
  std::unique_ptr<WorkerCounts[]> counts_;
  std::atomic<int> started_{0};

  // One consumer of queue_ at a time.  Held for one pop; a spin lock, so
  // that its release is a plain store (a mutex's is a locked instruction).
  // queue_ is not OFFCOPY_GUARDED_BY(pop_lock_): its producers push without
  // any lock, and the analysis has no "guarded for some methods only".
  alignas(64) SpinLock pop_lock_;
  JobQueue queue_;

  // Sleeping and waking.  idle_workers_ and blocked_submitters_ change only
  // under mu_ but are read without it: a submitter looks at idle_workers_
  // after queueing a job, a worker at blocked_submitters_ after a release
  // -- each sequentially consistent against the other side's "count myself,
  // then look at the queue (the counters)", so no wake-up is lost.
  alignas(64) util::Mutex mu_;
  util::CondVar work_cv_;   // a job was queued, or stopping_
  util::CondVar space_cv_;  // a job was released, or stopping_
  std::atomic<int> idle_workers_{0};
  std::atomic<int> blocked_submitters_{0};
  // The released_jobs_ count at which the earliest blocked submitter wants
  // to look again (kNever: none waiting).  Written under mu_.
  static constexpr int64_t kNever = INT64_MAX;
  std::atomic<int64_t> wake_submitters_at_{kNever};
  int waking_ OFFCOPY_GUARDED_BY(mu_) = 0;  // notified, not yet back (0 or 1)
  std::atomic<bool> spinning_{false};       // a worker is in spin_for_job()

  alignas(64) util::Mutex ready_mu_;
  std::vector<Ready> ready_ OFFCOPY_GUARDED_BY(ready_mu_);

  // The worker threads.  Added to by start_workers(); the destructor
  // seals the list (no more are started) and joins them unlocked.
  util::Mutex threads_mu_;
  std::vector<std::thread> threads_ OFFCOPY_GUARDED_BY(threads_mu_);
  bool sealed_ OFFCOPY_GUARDED_BY(threads_mu_) = false;
};

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_SCHEDULER_H_
