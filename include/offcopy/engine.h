// liboffcopy's asynchronous copy engine, shaped like the kernel's dm-kcopyd:
// submit a copy, get told when it is done.
//
//   auto engine = offcopy::Engine::open({.workers = 2});
//   auto id = (*engine)->submit(offcopy::FileJob{"a", {"b", "c"}},
//                               [](offcopy::Completion c) { ... });
//
// A job is one source copied to ONE OR MORE destinations: a whole file to
// several paths (FileJob), or a range of an open file to several open files
// at given offsets (RangeJob).  Each destination is copied with the whole
// mechanism ladder of offcopy/copy.h (clone, kernel copy, splice,
// io_uring, read/write) and gets its own Result: an error in one destination fails
// that destination only; the others are still copied.
//
// Completion is notified one of three ways, chosen per job by the submit
// call used:
//   submit(job, callback)  the callback runs on an engine worker thread;
//   submit_future(job)     a std::future<Completion> becomes ready;
//   submit(job)            the completion is queued: fd() (an eventfd)
//                          becomes readable, and reap() returns it.  For
//                          epoll / poll / libuv / asio loops.
// Every admitted job is completed exactly once -- also when it is cancelled
// or the engine is destroyed.
//
// Limits.  A job is "in flight" from the moment submit admits it until its
// completion is delivered: the callback is about to be called, the future
// is about to be made ready, or reap() has returned it.  At most
// EngineOptions::max_jobs_in_flight jobs (and max_bytes_in_flight bytes)
// are in flight; beyond that, submit blocks (OnFull::block) or fails at
// once with EBUSY (OnFull::busy).  Because a poll-mode job holds its slot
// until reaped, an event loop that submits and reaps on one thread must use
// OnFull::busy (and reap, then retry, on EBUSY): blocking in submit there
// would wait for itself.  Files are opened only while a destination is
// being copied, so a whole-file job holds no descriptor while it waits.
//
// Thread-safety: all methods may be called concurrently from any thread,
// including from completion callbacks and the progress observer -- except
// the destructor, which must not run concurrently with other calls nor on
// an engine thread (from a callback).
//
// Errors are values (offcopy/result.h); the engine never throws for I/O,
// never prints and never exits.
//
// Bandwidth cap.  EngineOptions::max_bytes_per_second caps the data all
// workers move together (see there).
//
// Not in this version (later increments): tree jobs, io_uring-issued host copies, reading a source once for many
// destinations.
#ifndef OFFCOPY_ENGINE_H_
#define OFFCOPY_ENGINE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "offcopy/copy.h"
#include "offcopy/export.h"
#include "offcopy/result.h"

namespace offcopy {

namespace engine {
class Scheduler;      // src/engine/scheduler.h
struct EngineAccess;  // src/engine/open_engine.h: the library's own entry points
}  // namespace engine

// Names a job for the life of an engine.  Never 0; never reused.
using JobId = uint64_t;

// Copies the file `source` to every path in `destinations`, each as
// copy_file(source, destination, options) would (created or replaced; a
// destination this job created is removed again if its copy fails or is
// cancelled).  The source is opened once per destination.
struct FileJob {
  std::string source;
  std::vector<std::string> destinations;
  FileOptions options;
};

// One destination of a RangeJob: an open file and where to write.
struct RangeDestination {
  int fd = -1;
  int64_t offset = 0;
};

// Copies `length` bytes at `source_offset` of `source_fd` to every
// destination, each as copy_range(source_fd, &off, dst.fd, &dst_off,
// length, flags) would with its own offset copies: no file position moves,
// destinations are never truncated.  With flags.whole_file the copy runs to
// the source's end of file and `length` is ignored.
// Ownership: the descriptors are borrowed.  They must stay open, and must
// not be reused for another file, until the job's completion is delivered;
// the engine never closes them and never touches them afterwards.
struct RangeJob {
  int source_fd = -1;
  int64_t source_offset = 0;
  int64_t length = 0;
  std::vector<RangeDestination> destinations;
  CopyFlags flags;
};

using Job = std::variant<FileJob, RangeJob>;

// A job's progress over all its destinations (they are copied in order).
struct Progress {
  int64_t bytes_done = 0;    // finished bytes, holes included, all destinations
  // Source length x destinations; -1 until a worker has looked at the
  // source, or when it has no size (a FIFO).  For a RangeJob without
  // whole_file it is length x destinations even if the source ends sooner.
  int64_t bytes_total = -1;
  std::optional<Mechanism> mechanism;  // the rung moving bytes now, if any
};

// The result of a job: one entry per destination, in the job's order.  A
// cancelled destination is an Error with code ECANCELED whose bytes_done
// (and report, when its copy had started) say what was copied; one never
// started has bytes_done 0 and no report.
struct OFFCOPY_API Completion {
  JobId id = 0;
  std::vector<Result<Report>> results;

  bool ok() const;         // every destination succeeded
  bool cancelled() const;  // some destination ended with ECANCELED
};

enum class OnFull {
  block,  // submit waits for room
  busy,   // submit fails at once with EBUSY
};

enum class OnShutdown {
  cancel,  // ~Engine cancels every job (queued ones never start)
  drain,   // ~Engine lets every admitted job finish
};

using CompletionCallback = std::function<void(Completion)>;
using ProgressObserver = std::function<void(JobId, const Progress&)>;

inline constexpr int kMaxWorkers = 256;

struct EngineOptions {
  int workers = 2;               // threads copying; 1..kMaxWorkers (set_workers adds)
  int max_jobs_in_flight = 256;  // >= 1
  // Bytes of admitted, undelivered jobs; 0 = no limit.  A RangeJob counts
  // length x destinations at submit; a FileJob (and a whole_file RangeJob)
  // counts 0 until a worker learns the source's size, so the limit can be
  // overshot by jobs admitted before their size was known.  A job larger
  // than the limit is admitted when nothing else is in flight.
  int64_t max_bytes_in_flight = 0;
  OnFull on_full = OnFull::block;
  // Bandwidth cap over all workers together, bytes per second; 0 = no cap.
  // A token bucket shared by the workers: each charges the bytes it has
  // moved after every chunk and when a destination is over, and sleeps
  // while the bucket is in debt, so the average rate stays at the cap; an
  // engine that was idle may burst ~50 ms worth.  Under a cap the engine
  // copies in chunks of ~50 ms at the cap (at least 64 KiB), so the rate
  // is smooth and a cancel lands within about one chunk plus one sleep
  // slice (<= 50 ms; cancel() also wakes a sleeping worker at once).
  // What is charged: data moved by copy_file_range, io_uring and
  // read/write -- in-kernel copies included, since they cost the device
  // the same bytes.  Not charged: a reflink clone (one-shot or ranged),
  // which moves no data and so is never slowed down, and holes (a hole
  // between two chunks may be charged as the copy passes it).  The
  // sleep happens on the worker, after the bytes moved and with no chunk
  // in progress: a throttled job still holds its in-flight slot, and its
  // completion is delivered when its bytes have been paid for.
  int64_t max_bytes_per_second = 0;
  OnShutdown shutdown = OnShutdown::cancel;
  // How long a worker that finds the queue empty keeps watching it before
  // it goes to sleep; at most one worker watches at a time.  A job
  // submitted meanwhile starts without a wake-up, which costs the
  // submitter a futex call and the job tens of microseconds on a virtual
  // machine (measured: docs/bench/history.md).  The price is up to this much
  // CPU each time the queue runs dry.  0: sleep at once.
  std::chrono::microseconds idle_spin{50};
  // Called on the worker running a job with coalesced updates: at most one
  // per progress_interval per job, plus a final one when the job's copying
  // is over, before its completion is delivered.  Must not throw; should
  // be quick (it delays the copy).
  ProgressObserver on_progress;
  std::chrono::milliseconds progress_interval{250};
};

// Counters, for tests and monitoring.
struct EngineStats {
  int64_t jobs_in_flight = 0;   // exact at the call
  int64_t bytes_in_flight = 0;  // exact at the call
  // The most in flight when a job was admitted (or its size learned),
  // counted against the completions the submitter had seen by then: never
  // below the true peak, possibly above it by jobs whose completion was
  // being delivered at that moment.  peak_jobs_in_flight never exceeds
  // max_jobs_in_flight.
  int64_t peak_jobs_in_flight = 0;
  int64_t peak_bytes_in_flight = 0;
  int64_t completed = 0;  // completions delivered or queued for reap()
};

// What submit_future returns.
struct FutureJob {
  JobId id = 0;
  std::future<Completion> completion;
};

class OFFCOPY_API Engine {
 public:
  // Starts the worker threads and creates the eventfd.  Errors: EINVAL for
  // options out of range; EMFILE/ENFILE/ENOMEM (op "eventfd"); EAGAIN
  // (op "pthread_create") when a thread cannot be started.
  static Result<std::unique_ptr<Engine>> open(EngineOptions options = {});

  // Shuts down as options.shutdown says, then joins the threads.  Every
  // callback and progress update has returned, and every future is ready,
  // before the destructor returns; poll-mode completions not yet reaped are
  // discarded.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Admits `job` and returns its id at once (or after waiting for room,
  // under OnFull::block).  Errors: EBUSY (OnFull::busy, limits reached),
  // EINVAL (no destinations, empty source path, negative fd, offset or
  // length), ESHUTDOWN (the engine is being destroyed).  Problems with the
  // files themselves are reported in the completion, per destination.
  //
  // Poll mode: the completion waits in a queue for reap().
  Result<JobId> submit(Job job);
  // Callback mode: `done` runs once on an engine thread.  It must not
  // throw, and must not destroy the engine; it may call any other method.
  // The job's slot is already free when it runs.  (A callback that submits
  // under OnFull::block when the engine is full waits for room that only
  // other workers or reap() can make; prefer OnFull::busy there.)
  Result<JobId> submit(Job job, CompletionCallback done);
  // Future mode.
  Result<FutureJob> submit_future(Job job);

  // Asks job `id` to stop at its next chunk boundary (a queued job never
  // starts).  It completes with ECANCELED in each unfinished destination.
  // Returns false, and does nothing, when the job is unknown or its
  // completion is being or has been delivered.  True means the request was
  // recorded; a job that was finishing its last chunk at that moment may
  // still complete without ECANCELED.
  bool cancel(JobId id);
  // Cancels every job submitted and not yet delivered, as cancel() would
  // each; returns how many.  Jobs submitted afterwards are not affected.
  int cancel_all();

  // A snapshot, or nullopt once the job's completion is being or has been
  // delivered (or for an unknown id).  Cheap: one lock, three atomic loads.
  std::optional<Progress> progress(JobId id) const;

  // An eventfd, readable (level-triggered) while completions wait for
  // reap().  Owned by the engine: do not read, write or close it.
  int fd() const;
  // Takes every waiting poll-mode completion (possibly none) and frees
  // their slots.  Never blocks for long.
  std::vector<Completion> reap();

  EngineStats stats() const;

  // Starts worker threads until there are `workers` (never stops any):
  // for a caller that learns, once copies are under way, that they wait
  // on the device rather than on the CPU -- a tree copy that turns out not
  // to clone -- and wants more of them in flight.  Any thread, callbacks
  // included.  Errors: EINVAL (outside 1..kMaxWorkers), ESHUTDOWN (the
  // engine is being destroyed), EAGAIN (op "pthread_create"; the workers
  // started before the failure stay).
  Status set_workers(int workers);

 private:
  friend struct engine::EngineAccess;
  explicit Engine(std::unique_ptr<engine::Scheduler> s);
  std::unique_ptr<engine::Scheduler> s_;
};

}  // namespace offcopy

#endif  // OFFCOPY_ENGINE_H_
