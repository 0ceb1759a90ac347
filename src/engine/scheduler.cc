// Scheduling: admission against the in-flight limits, a FIFO queue served
// by a pool of workers (set_workers adds to it), and delivery of each
// completion exactly once.
//
// Per job, a submitter takes slots_mu_ once (its own side) and pushes onto
// the queue; a worker pops under pop_lock_ (shared only with other workers),
// and on delivery adds to its side's counters and returns the slot to a
// lock-free stack.  mu_ is taken only when a worker may be asleep or a
// submitter is blocked.  Invariants:
//   jobs in flight = admitted_jobs_ - released_jobs_
//                  = live slots + (copied, delivery pending) + ready_.size()
//   the eventfd is readable  <=>  !ready_.empty()   (both under ready_mu_)
// Measured against the single-lock version it replaces in
// docs/bench/history.md ("engine per-job overhead").
#include "engine/scheduler.h"

#include <errno.h>

#include <algorithm>
#include <bit>
#include <system_error>
#include <utility>

#include "engine/run_job.h"

namespace offcopy::engine {
namespace {

Error submit_error(int code, const char* detail) {
  Error e;
  e.code = code;
  e.op = "submit";
  e.detail = detail;
  return e;
}

Status check_options(const EngineOptions& o) {
  if (o.workers < 1 || o.workers > kMaxWorkers || o.max_jobs_in_flight < 1 ||
      o.max_bytes_in_flight < 0 || o.max_bytes_per_second < 0 ||
      o.progress_interval.count() < 0 || o.idle_spin.count() < 0) {
    Error e;
    e.code = EINVAL;
    e.op = "engine";
    e.detail = "workers must be 1..256, max_jobs_in_flight >= 1, limits >= 0";
    return e;
  }
  return Ok{};
}

// Under a bandwidth cap the ladder's chunks shrink to ~50 ms of transfer
// at the cap (Throttle::chunk_for), so the cap is charged, and a cancel
// looked at, often enough.  Without one, `ctx` is used as given.
mech::Context engine_context(const mech::Context& ctx, int64_t bytes_per_second) {
  mech::Context c = ctx;
  if (bytes_per_second > 0) {
    c.tun.kernel_chunk = Throttle::chunk_for(bytes_per_second, c.tun.kernel_chunk);
    c.tun.uring_buffer = Throttle::chunk_for(bytes_per_second, c.tun.uring_buffer);
    c.tun.rw_buffer = Throttle::chunk_for(bytes_per_second, c.tun.rw_buffer);
  }
  return c;
}

// The fewest bits that number every slot (at least one).
int bits_for(int slots) {
  return std::max(1, static_cast<int>(std::bit_width(static_cast<unsigned>(slots - 1))));
}

// Asks for what the next jobs will read while this one runs: their slots
// and descriptions were written on the submitter's core, and a worker that
// waits for each line as it goes pays a cross-core miss per line (the
// destination list alone was 2% of a 4 KiB copy).  The slot one ahead was
// asked for by the previous pop, so its description's pointers can be
// followed now without waiting; the slot two ahead is asked for itself.
void prefetch_ahead(const QueueNode* next) {
  if (next == nullptr) return;
  const auto* js = static_cast<const JobState*>(next);
  prefetch_job(js->job);
  const QueueNode* after = js->qnext.load(std::memory_order_acquire);
  if (after == nullptr) return;
  const char* p = reinterpret_cast<const char*>(static_cast<const JobState*>(after));
  for (size_t off = 0; off < sizeof(JobState); off += 64) __builtin_prefetch(p + off);
}

// A counter only its owner thread writes: no locked instruction needed.
void bump(std::atomic<int64_t>& c, int64_t v) {
  c.store(c.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

void store_max(std::atomic<int64_t>& a, int64_t v) {
  int64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

}  // namespace

Scheduler::Scheduler(const mech::Context& ctx, EngineOptions options)
    : ctx_(engine_context(ctx, options.max_bytes_per_second)),
      options_(std::move(options)),
      slot_bits_(bits_for(options_.max_jobs_in_flight)),
      counts_(new WorkerCounts[kMaxWorkers]) {
  if (options_.max_bytes_per_second > 0) {
    throttle_ = std::make_unique<Throttle>(options_.max_bytes_per_second);
  }
}

Result<std::unique_ptr<Scheduler>> Scheduler::start(const mech::Context& ctx,
                                                     EngineOptions options) {
  if (Status s = check_options(options); !s) return s.error();
  std::unique_ptr<Scheduler> s(new Scheduler(ctx, std::move(options)));
  int r = 0;
  {
    // No other thread can see s yet: the lock is uncontended, and taken
    // only so that wakeup_ has no unlocked writer at all.
    util::MutexLock lk(s->ready_mu_);
    r = s->wakeup_.open();
  }
  if (r < 0) {
    Error e;
    e.code = -r;
    e.op = "eventfd";
    return e;
  }
  // On failure the destructor stops and joins the threads already started.
  Status st = Ok{};
  {
    util::MutexLock lk(s->threads_mu_);
    st = s->start_workers(s->options_.workers);
  }
  if (!st) return st.error();
  return s;
}

Status Scheduler::start_workers(int workers) {
  try {
    for (int i = started_.load(std::memory_order_relaxed); i < workers; ++i) {
      threads_.emplace_back([this, i] { worker_loop(counts_[i]); });
      started_.store(i + 1, std::memory_order_release);
    }
  } catch (const std::system_error& err) {
    Error e;
    e.code = err.code().value();
    e.op = "pthread_create";
    return e;
  }
  return Ok{};
}

Status Scheduler::set_workers(int workers) {
  if (workers < 1 || workers > kMaxWorkers) {
    Error e;
    e.code = EINVAL;
    e.op = "set_workers";
    e.detail = "workers must be 1..256";
    return e;
  }
  util::MutexLock lk(threads_mu_);
  if (sealed_ || stopping_.load()) return submit_error(ESHUTDOWN, "the engine is shutting down");
  return start_workers(workers);
}

// Every job admitted before stopping_ was set is in the queue by then
// (submit pushes under slots_mu_), so a worker that sees stopping_ and an
// empty queue has nothing left to run.
Scheduler::~Scheduler() {
  {
    util::MutexLock lk(slots_mu_);
    stopping_.store(true);
    if (options_.shutdown == OnShutdown::cancel) {
      for (const auto& js : slots_) {
        if (js->live.load() != 0) js->cancel.store(true);
      }
    }
  }
  if (throttle_) throttle_->interrupt();
  { util::MutexLock lk(mu_); }
  work_cv_.notify_all();
  space_cv_.notify_all();
  {
    util::MutexLock lk(threads_mu_);
    sealed_ = true;  // a callback's set_workers() starts no more now
  }
  // Unlocked: once sealed_, nothing adds to threads_, and a worker's own
  // set_workers() call may be waiting for threads_mu_.  (clang does not
  // analyse destructors, so this needs no escape.)
  for (std::thread& t : threads_) t.join();
}

// The descriptor is set in start(), before the scheduler is shared, and
// never changes; what ready_mu_ guards is its counter (signal, clear).
int Scheduler::fd() const OFFCOPY_NO_THREAD_SAFETY_ANALYSIS { return wakeup_.fd(); }

// --- Submitters' side ------------------------------------------------------

bool Scheduler::has_room_locked(int64_t bytes) {
  const int64_t limit = options_.max_bytes_in_flight;
  auto fits = [&]() OFFCOPY_REQUIRES(slots_mu_) {
    const int64_t jobs = admitted_jobs_ - seen_jobs_;
    if (jobs >= options_.max_jobs_in_flight) return false;
    if (limit == 0 || jobs == 0) return true;
    return admitted_bytes_.load(std::memory_order_relaxed) - seen_bytes_ + bytes <= limit;
  };
  // The byte count grows behind our back (learned_total), so it is read
  // afresh whenever there is a byte limit to hold.
  if (limit == 0 && fits()) return true;
  seen_jobs_ = released_jobs_.load();
  seen_bytes_ = released_bytes() - learned_bytes();
  return fits();
}

// Sleeps, with slots_mu_ dropped, until enough jobs are released (or the
// engine stops); has_room_locked() has just read the counters.  "Enough"
// is an eighth of max_jobs_in_flight when that limit is what is full: a
// walker far ahead of the copies then wakes once per batch of completions
// rather than once per completion (measured: 2.8 futex calls a file in a
// tree copy, docs/bench/history.md).  Never more than what is in flight, all
// of which will be released.
void Scheduler::wait_for_room() {
  const int64_t in_flight = admitted_jobs_ - seen_jobs_;
  const int64_t batch = in_flight >= options_.max_jobs_in_flight
                            ? std::max(1, options_.max_jobs_in_flight / 8)
                            : 1;
  const int64_t target = seen_jobs_ + std::min(batch, in_flight);
  slots_mu_.unlock();
  {
    util::MutexLock lk(mu_);
    blocked_submitters_.fetch_add(1);
    // Registered again after every wake-up: released() resets it.
    while (!stopping_.load() && released_jobs_.load() < target) {
      if (target < wake_submitters_at_.load()) wake_submitters_at_.store(target);
      space_cv_.wait(mu_);
    }
    blocked_submitters_.fetch_sub(1);
  }
  slots_mu_.lock();
}

// A free slot, or a new one.  There are never more than max_jobs_in_flight
// slots: a slot in use is a job in flight, and a worker returns a slot
// before it counts the job released, so when admission has found room a
// slot is either free, returned, or still to be made.
JobState* Scheduler::take_slot_locked() {
  if (free_ == nullptr) free_ = returned_.exchange(nullptr, std::memory_order_acquire);
  if (JobState* js = free_) {
    free_ = js->next_free;
    return js;
  }
  slots_.push_back(std::make_unique<JobState>(static_cast<uint32_t>(slots_.size())));
  return slots_.back().get();
}

JobState* Scheduler::find_live_locked(JobId id) const {
  const uint64_t slot = id & ((uint64_t{1} << slot_bits_) - 1);
  if (id == 0 || slot >= slots_.size()) return nullptr;
  JobState* js = slots_[slot].get();
  return js->live.load() == id ? js : nullptr;
}

Result<JobId> Scheduler::submit(::offcopy::Job job, Notify notify) {
  if (auto bad = validate(job)) return *bad;
  const int64_t bytes = bytes_at_submit(job);
  ::offcopy::Job retired;  // the slot's previous job, destroyed unlocked
  JobId id = 0;
  {
    lock_spinning(slots_mu_);
    util::MutexLock lk(slots_mu_, std::adopt_lock);
    for (;;) {
      if (stopping_.load()) return submit_error(ESHUTDOWN, "the engine is shutting down");
      if (has_room_locked(bytes)) break;
      if (options_.on_full == OnFull::busy) {
        return submit_error(EBUSY, "jobs or bytes in flight at the engine's limit");
      }
      wait_for_room();
    }
    JobState* js = take_slot_locked();
    id = (++js->uses << slot_bits_) | js->slot;
    retired = std::exchange(js->job, std::move(job));
    js->admit(id, std::move(notify), bytes);
    ++admitted_jobs_;
    const int64_t admitted_bytes = admitted_bytes_.load(std::memory_order_relaxed) + bytes;
    admitted_bytes_.store(admitted_bytes, std::memory_order_relaxed);
    peak_jobs_ = std::max(peak_jobs_, admitted_jobs_ - seen_jobs_);
    store_max(peak_bytes_, admitted_bytes - seen_bytes_);
    queue_.push(js);
  }
  wake_one();
  return id;
}

bool Scheduler::cancel(JobId id) {
  {
    util::MutexLock lk(slots_mu_);
    JobState* js = find_live_locked(id);
    if (js == nullptr) return false;
    js->cancel.store(true);
  }
  // A worker sleeping under the bandwidth cap looks at its flag now.
  if (throttle_) throttle_->interrupt();
  return true;
}

int Scheduler::cancel_all() {
  int n = 0;
  {
    util::MutexLock lk(slots_mu_);
    for (const auto& js : slots_) {
      if (js->live.load() == 0) continue;
      js->cancel.store(true);
      ++n;
    }
  }
  if (throttle_) throttle_->interrupt();
  return n;
}

std::optional<Progress> Scheduler::progress(JobId id) const {
  util::MutexLock lk(slots_mu_);
  const JobState* js = find_live_locked(id);
  if (js == nullptr) return std::nullopt;
  return js->snapshot();
}

EngineStats Scheduler::stats() const {
  util::MutexLock lk(slots_mu_);
  EngineStats s;
  s.jobs_in_flight = admitted_jobs_ - released_jobs_.load();
  s.bytes_in_flight = admitted_bytes_.load() + learned_bytes() - released_bytes();
  s.peak_jobs_in_flight = peak_jobs_;
  s.peak_bytes_in_flight = peak_bytes_.load();
  s.completed = sum(&WorkerCounts::completed);
  return s;
}

int64_t Scheduler::sum(std::atomic<int64_t> WorkerCounts::*field) const {
  int64_t n = 0;
  for (int i = 0, w = started_.load(std::memory_order_acquire); i < w; ++i) {
    n += (counts_[i].*field).load(std::memory_order_relaxed);
  }
  return n;
}

int64_t Scheduler::released_bytes() const {
  return reaped_bytes_.load(std::memory_order_relaxed) + sum(&WorkerCounts::released_bytes);
}

int64_t Scheduler::learned_bytes() const { return sum(&WorkerCounts::learned_bytes); }

// --- Workers' side ---------------------------------------------------------

std::vector<Completion> Scheduler::reap() {
  std::vector<Completion> out;
  int64_t bytes = 0;
  {
    util::MutexLock lk(ready_mu_);
    if (ready_.empty()) return out;
    out.reserve(ready_.size());
    for (Ready& r : ready_) {
      bytes += r.bytes;
      out.push_back(std::move(r.completion));
    }
    ready_.clear();
    wakeup_.clear();
  }
  reaped_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  released(static_cast<int64_t>(out.size()));
  return out;
}

// Counts jobs released (their completion delivered, or reaped; their
// bytes were counted just before) and wakes a submitter waiting for room.
void Scheduler::released(int64_t jobs) {
  const int64_t now = released_jobs_.fetch_add(jobs) + jobs;
  if (blocked_submitters_.load() == 0 || now < wake_submitters_at_.load()) return;
  {
    util::MutexLock lk(mu_);
    wake_submitters_at_.store(kNever);
  }
  space_cv_.notify_all();
}

void Scheduler::learned_total(WorkerCounts& mine, JobState& js, int64_t total) {
  bump(mine.learned_bytes, total - js.bytes_counted);
  js.bytes_counted = total;
  store_max(peak_bytes_, admitted_bytes_.load(std::memory_order_relaxed) + learned_bytes() -
                             released_bytes());
}

// Takes the oldest queued job and, when more are waiting, wakes an idle
// worker for them (one at a time: see wake_one).
JobState* Scheduler::take_job() {
  bool more = false;
  JobState* js = try_pop(more);
  if (more) wake_one();
  return js;
}

JobState* Scheduler::try_pop(bool& more) {
  util::LockGuard lk(pop_lock_);
  for (int spins = 0;; ++spins) {
    JobQueue::Empty why;
    QueueNode* n = queue_.pop(why);
    if (n != nullptr) {
      const QueueNode* after = queue_.peek();
      prefetch_ahead(after);
      more = after != nullptr;
      return static_cast<JobState*>(n);
    }
    if (why == JobQueue::Empty::yes) return nullptr;
    // A submitter is between the two steps of its push.
    if (spins < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

// One worker on its way at a time: a burst of small jobs wakes each idle
// worker once (a worker that takes a job and sees more waiting wakes the
// next), not once per job.  A wake-up costs the waker a futex call and,
// with as many workers as cores, the submitter its CPU for a while:
// measured in docs/bench/history.md.
void Scheduler::wake_one() {
  if (idle_workers_.load() == 0) return;
  {
    util::MutexLock lk(mu_);
    if (idle_workers_.load(std::memory_order_relaxed) == 0 || waking_ > 0) return;
    ++waking_;
  }
  work_cv_.notify_one();
}

// A worker counts itself idle under mu_ and only then looks at the queue
// once more: a submitter that queued a job before that look is seen by it,
// and one that queued after sees the count (wake_one).
JobState* Scheduler::next_job() {
  for (;;) {
    if (JobState* js = take_job()) return js;
    if (spin_for_job()) continue;
    bool more = false;
    JobState* js = nullptr;
    bool sleep = false;
    {
      util::MutexLock lk(mu_);
      idle_workers_.fetch_add(1);
      js = try_pop(more);
      sleep = js == nullptr && !stopping_.load();
      if (sleep) {
        work_cv_.wait(mu_);
        if (waking_ > 0) --waking_;  // whoever leaves the wait stands for it
      }
      idle_workers_.fetch_sub(1);
    }
    if (more) wake_one();
    if (js != nullptr) return js;
    // Under OnShutdown::drain the queue is emptied before workers exit;
    // under cancel, queued jobs are flagged and complete without copying.
    if (!sleep) return take_job();
  }
}

// EngineOptions::idle_spin: one worker at a time watches the queue's head
// for a while before it sleeps.  True: a job may have been queued.
bool Scheduler::spin_for_job() {
  using Clock = std::chrono::steady_clock;
  if (options_.idle_spin.count() == 0 || spinning_.exchange(true)) return false;
  const Clock::time_point deadline = Clock::now() + options_.idle_spin;
  bool queued = false;
  do {
    for (int i = 0; i < 32 && !queued; ++i) {
      queued = queue_.maybe_nonempty();
      cpu_relax();
    }
  } while (!queued && !stopping_.load(std::memory_order_relaxed) && Clock::now() < deadline);
  spinning_.store(false, std::memory_order_relaxed);
  return queued;
}

void Scheduler::worker_loop(WorkerCounts& mine) {
  RunHooks hooks;
  hooks.observer = options_.on_progress;
  hooks.interval = options_.progress_interval;
  hooks.throttle = throttle_.get();
  hooks.learned_total = [this, &mine](JobState& js, int64_t total) {
    learned_total(mine, js, total);
  };
  JobState* js = next_job();
  while (js != nullptr) {
    Completion c = run_job(ctx_, *js, hooks);
    if (options_.on_progress) options_.on_progress(js->id, js->snapshot());
    js = deliver(mine, js, std::move(c));
  }
}

// Lock-free push (a Treiber stack); the submitter takes the whole stack at
// once when its own free list runs dry, so it never pops one at a time.
void Scheduler::return_slot(JobState* js) {
  JobState* head = returned_.load(std::memory_order_relaxed);
  do {
    js->next_free = head;
  } while (!returned_.compare_exchange_weak(head, js, std::memory_order_release,
                                            std::memory_order_relaxed));
}

// Delivers a completion and takes the next queued job.  The slot is free,
// and a callback or future job counted released, before the caller's code
// runs, so a callback may submit again without waiting for itself.  Once
// the slot is returned a submitter may reuse it: nothing here touches it
// afterwards.
JobState* Scheduler::deliver(WorkerCounts& mine, JobState* js, Completion c) {
  Notify notify = std::exchange(js->notify, std::monostate{});
  const bool polled = std::holds_alternative<std::monostate>(notify);
  const int64_t bytes = js->bytes_counted;
  bump(mine.completed, 1);
  if (polled) {
    // Under ready_mu_, which reap() takes: once progress() no longer finds
    // the job, a reap() finds its completion.
    util::MutexLock lk(ready_mu_);
    js->live.store(0, std::memory_order_release);
    return_slot(js);
    if (ready_.empty()) wakeup_.signal();
    ready_.push_back(Ready{std::move(c), bytes});
  } else {
    js->live.store(0, std::memory_order_release);
    return_slot(js);
    bump(mine.released_bytes, bytes);
    released(1);
  }
  JobState* next = take_job();
  if (auto* done = std::get_if<CompletionCallback>(&notify)) {
    if (*done) (*done)(std::move(c));
  } else if (auto* promise = std::get_if<std::promise<Completion>>(&notify)) {
    promise->set_value(std::move(c));
  }
  return next != nullptr ? next : next_job();
}

}  // namespace offcopy::engine
