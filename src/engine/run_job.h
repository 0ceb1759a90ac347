// Runs one job on the calling (worker) thread: every destination in turn,
// through ladder::copy_file / ladder::copy_range with a mech::Control carrying
// the job's cancel flag and a progress hook.
#ifndef OFFCOPY_ENGINE_RUN_JOB_H_
#define OFFCOPY_ENGINE_RUN_JOB_H_

#include <chrono>
#include <functional>

#include "engine/job_state.h"
#include "engine/throttle.h"
#include "mech/context.h"

namespace offcopy::engine {

struct RunHooks {
  // Told the job's total bytes once its first copy has looked at the
  // source -- only when submit could not know them (a FileJob, a
  // whole_file RangeJob).  Set once per worker.
  std::function<void(JobState& js, int64_t total)> learned_total;
  ProgressObserver observer;  // may be empty
  std::chrono::milliseconds interval{250};
  Throttle* throttle = nullptr;  // the bandwidth cap; null when unlimited
};

// Copies js.job, updating js.done / js.total / js.mech as it goes and
// stopping at a chunk boundary once js.cancel reads true.  Never fails as
// a whole: every destination gets its own Result.  With hooks.throttle,
// the bytes moved by every rung but clone are charged to it between chunks
// and when each destination is over (the worker sleeps there, not while
// holding a file open for the next chunk's syscall).
Completion run_job(const mech::Context& ctx, JobState& js, const RunHooks& hooks);

// Asks the CPU for the memory a job's description points to (paths, the
// destination list) ahead of its run: __builtin_prefetch, no loads wait.
void prefetch_job(const ::offcopy::Job& job);

// The bytes a job counts toward max_bytes_in_flight at submit (0 when the
// size is learned later), and an EINVAL Error for a malformed job.
int64_t bytes_at_submit(const ::offcopy::Job& job);
std::optional<Error> validate(const ::offcopy::Job& job);

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_RUN_JOB_H_
