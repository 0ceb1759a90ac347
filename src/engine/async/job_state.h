// One admitted job as the scheduler and the worker running it see it.
//
// Thread-safety: `cancel`, `done`, `total` and `mech` are atomics, read by
// any thread (cancel(), progress()) and written by the one worker running
// the job; the fields marked "guarded by Scheduler::mu_" are touched only
// under that mutex; `job` and `notify` belong to whoever holds the job:
// the submitter until it is queued, then the worker that dequeued it.
#ifndef OFFCOPY_ENGINE_ASYNC_JOB_STATE_H_
#define OFFCOPY_ENGINE_ASYNC_JOB_STATE_H_

#include <atomic>
#include <cstdint>
#include <future>
#include <variant>

#include "offcopy/engine.h"

namespace offcopy::engine::async {

// How the completion is delivered: queued for reap(), a callback, a future.
using Notify = std::variant<std::monostate, CompletionCallback,
                            std::promise<Completion>>;

struct JobState {
  JobState(JobId i, ::offcopy::Job j, Notify n)
      : id(i), job(std::move(j)), notify(std::move(n)) {}

  const JobId id;
  ::offcopy::Job job;
  Notify notify;

  std::atomic<bool> cancel{false};   // Control::cancel for every destination
  std::atomic<int64_t> done{0};      // Progress::bytes_done
  std::atomic<int64_t> total{-1};    // Progress::bytes_total
  std::atomic<int> mech{-1};         // Progress::mechanism, -1 for none

  int64_t bytes_counted = 0;  // guarded by Scheduler::mu_: in bytes_in_flight_

  Progress snapshot() const {
    Progress p;
    p.bytes_done = done.load(std::memory_order_relaxed);
    p.bytes_total = total.load(std::memory_order_relaxed);
    const int m = mech.load(std::memory_order_relaxed);
    if (m >= 0) p.mechanism = static_cast<Mechanism>(m);
    return p;
  }
};

}  // namespace offcopy::engine::async

#endif  // OFFCOPY_ENGINE_ASYNC_JOB_STATE_H_
