// The engine's one owner of scheduling state: admission (the in-flight
// limits), the queue of jobs waiting for a worker, the worker threads, and
// the delivery of completions.  offcopy::Engine forwards to it.
//
// Locking: one mutex, mu_, guards every member marked so below.  It is
// never held while a copy runs or while caller code (callbacks, the
// progress observer, futures' continuations) runs; it is held across the
// eventfd write/read, which keeps the fd readable exactly while ready_ is
// non-empty.
#ifndef OFFCOPY_ENGINE_ASYNC_SCHEDULER_H_
#define OFFCOPY_ENGINE_ASYNC_SCHEDULER_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/async/job_state.h"
#include "engine/async/throttle.h"
#include "engine/async/wakeup.h"
#include "engine/job.h"
#include "offcopy/engine.h"

namespace offcopy::engine::async {

class Scheduler {
 public:
  // Creates the eventfd and starts options.workers threads.
  static Result<std::unique_ptr<Scheduler>> start(const Context& ctx,
                                                  EngineOptions options);
  // Cancels or drains (options.shutdown), then joins every worker.
  ~Scheduler();

  Result<JobId> submit(::offcopy::Job job, Notify notify);
  bool cancel(JobId id);
  int cancel_all();
  std::optional<Progress> progress(JobId id) const;
  int fd() const { return wakeup_.fd(); }
  std::vector<Completion> reap();
  EngineStats stats() const;

 private:
  // A poll-mode completion and the bytes its slot still counts.
  struct Ready {
    Completion completion;
    int64_t bytes = 0;
  };

  Scheduler(const Context& ctx, EngineOptions options);
  Status start_workers();
  void worker_loop();
  std::shared_ptr<JobState> next_job();  // null: time to exit
  void learned_total(JobState& js, int64_t total);
  // Delivers c; returns the next job to run (null: time to exit).
  std::shared_ptr<JobState> deliver(std::shared_ptr<JobState> js, Completion c);
  bool has_room_locked(int64_t bytes) const;
  void admit_locked(JobState& js, int64_t bytes);
  void release_locked(int64_t bytes);

  // A copy of the caller's context (whose sys and probes must outlive the
  // engine), with chunks shrunk under a bandwidth cap.
  const Context ctx_;
  const EngineOptions options_;
  std::unique_ptr<Throttle> throttle_;  // null without a bandwidth cap;
                                        // set in the constructor
  WakeupFd wakeup_;  // set up before the workers start, then only under mu_

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // queue_ gained a job, or stopping_
  std::condition_variable space_cv_;  // a slot was freed, or stopping_
  std::deque<std::shared_ptr<JobState>> queue_;                 // guarded by mu_
  std::unordered_map<JobId, std::shared_ptr<JobState>> live_;   // guarded by mu_:
                                                // admitted, copying not over
  std::vector<Ready> ready_;       // guarded by mu_
  JobId next_id_ = 1;              // guarded by mu_
  int64_t jobs_in_flight_ = 0;     // guarded by mu_
  int64_t bytes_in_flight_ = 0;    // guarded by mu_
  int64_t peak_jobs_ = 0;          // guarded by mu_
  int64_t peak_bytes_ = 0;         // guarded by mu_
  int64_t completed_ = 0;          // guarded by mu_
  bool stopping_ = false;          // guarded by mu_

  // Written by start_workers() before any other thread can see the
  // Scheduler, read by the destructor after; never touched by workers.
  std::vector<std::thread> threads_;
};

}  // namespace offcopy::engine::async

#endif  // OFFCOPY_ENGINE_ASYNC_SCHEDULER_H_
