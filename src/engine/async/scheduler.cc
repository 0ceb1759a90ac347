// Scheduling: admission against the in-flight limits, a FIFO queue served
// by a fixed pool of workers, and delivery of each completion exactly once.
//
// Why a plain mutex + two condition variables rather than a lock-free
// queue: a job is a file copy (tens of microseconds for 4 KiB on tmpfs, far
// more otherwise); one uncontended lock per submit and per completion is
// noise next to it, and one lock makes the invariants below easy to keep:
//   jobs_in_flight_ == live_.size() + (jobs copied, delivery pending)
//                      + ready_.size()
//   the eventfd is readable  <=>  !ready_.empty()
#include "engine/async/scheduler.h"

#include <errno.h>

#include <algorithm>
#include <system_error>
#include <utility>

#include "engine/async/run_job.h"

namespace offcopy::engine::async {
namespace {

Error submit_error(int code, const char* detail) {
  Error e;
  e.code = code;
  e.op = "submit";
  e.detail = detail;
  return e;
}

Status check_options(const EngineOptions& o) {
  if (o.workers < 1 || o.max_jobs_in_flight < 1 || o.max_bytes_in_flight < 0 ||
      o.max_bytes_per_second < 0 || o.progress_interval.count() < 0) {
    Error e;
    e.code = EINVAL;
    e.op = "engine";
    e.detail = "workers and max_jobs_in_flight must be >= 1, limits >= 0";
    return e;
  }
  return Ok{};
}

// Under a bandwidth cap the ladder's chunks shrink to ~50 ms of transfer
// at the cap (Throttle::chunk_for), so the cap is charged, and a cancel
// looked at, often enough.  Without one, `ctx` is used as given.
Context engine_context(const Context& ctx, int64_t bytes_per_second) {
  Context c = ctx;
  if (bytes_per_second > 0) {
    c.tun.kernel_chunk = Throttle::chunk_for(bytes_per_second, c.tun.kernel_chunk);
    c.tun.uring_buffer = Throttle::chunk_for(bytes_per_second, c.tun.uring_buffer);
    c.tun.rw_buffer = Throttle::chunk_for(bytes_per_second, c.tun.rw_buffer);
  }
  return c;
}

}  // namespace

Scheduler::Scheduler(const Context& ctx, EngineOptions options)
    : ctx_(engine_context(ctx, options.max_bytes_per_second)),
      options_(std::move(options)) {
  if (options_.max_bytes_per_second > 0) {
    throttle_ = std::make_unique<Throttle>(options_.max_bytes_per_second);
  }
}

Result<std::unique_ptr<Scheduler>> Scheduler::start(const Context& ctx,
                                                     EngineOptions options) {
  if (Status s = check_options(options); !s) return s.error();
  std::unique_ptr<Scheduler> s(new Scheduler(ctx, std::move(options)));
  if (int r = s->wakeup_.open(); r < 0) {
    Error e;
    e.code = -r;
    e.op = "eventfd";
    return e;
  }
  // On failure the destructor stops and joins the threads already started.
  if (Status st = s->start_workers(); !st) return st.error();
  return s;
}

Status Scheduler::start_workers() {
  try {
    for (int i = 0; i < options_.workers; ++i) {
      threads_.emplace_back([this] { worker_loop(); });
    }
  } catch (const std::system_error& err) {
    Error e;
    e.code = err.code().value();
    e.op = "pthread_create";
    return e;
  }
  return Ok{};
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    if (options_.shutdown == OnShutdown::cancel) {
      for (auto& [id, js] : live_) js->cancel.store(true);
    }
  }
  if (throttle_) throttle_->interrupt();
  work_cv_.notify_all();
  space_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool Scheduler::has_room_locked(int64_t bytes) const {
  if (jobs_in_flight_ >= options_.max_jobs_in_flight) return false;
  if (options_.max_bytes_in_flight == 0 || jobs_in_flight_ == 0) return true;
  return bytes_in_flight_ + bytes <= options_.max_bytes_in_flight;
}

void Scheduler::admit_locked(JobState& js, int64_t bytes) {
  js.bytes_counted = bytes;
  ++jobs_in_flight_;
  bytes_in_flight_ += bytes;
  peak_jobs_ = std::max(peak_jobs_, jobs_in_flight_);
  peak_bytes_ = std::max(peak_bytes_, bytes_in_flight_);
}

void Scheduler::release_locked(int64_t bytes) {
  --jobs_in_flight_;
  bytes_in_flight_ -= bytes;
}

Result<JobId> Scheduler::submit(::offcopy::Job job, Notify notify) {
  if (auto bad = validate(job)) return *bad;
  const int64_t bytes = bytes_at_submit(job);
  std::unique_lock lk(mu_);
  if (options_.on_full == OnFull::block) {
    space_cv_.wait(lk, [&] { return stopping_ || has_room_locked(bytes); });
  }
  if (stopping_) return submit_error(ESHUTDOWN, "the engine is shutting down");
  if (!has_room_locked(bytes)) {
    return submit_error(EBUSY, "jobs or bytes in flight at the engine's limit");
  }
  auto js = std::make_shared<JobState>(next_id_++, std::move(job), std::move(notify));
  admit_locked(*js, bytes);
  live_.emplace(js->id, js);
  queue_.push_back(js);
  const JobId id = js->id;
  lk.unlock();
  work_cv_.notify_one();
  return id;
}

bool Scheduler::cancel(JobId id) {
  {
    std::lock_guard lk(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return false;
    it->second->cancel.store(true);
  }
  // A worker sleeping under the bandwidth cap looks at its flag now.
  if (throttle_) throttle_->interrupt();
  return true;
}

int Scheduler::cancel_all() {
  int n = 0;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, js] : live_) {
      js->cancel.store(true);
      ++n;
    }
  }
  if (throttle_) throttle_->interrupt();
  return n;
}

std::optional<Progress> Scheduler::progress(JobId id) const {
  std::lock_guard lk(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return std::nullopt;
  return it->second->snapshot();
}

std::vector<Completion> Scheduler::reap() {
  std::vector<Completion> out;
  {
    std::lock_guard lk(mu_);
    if (ready_.empty()) return out;
    out.reserve(ready_.size());
    for (Ready& r : ready_) {
      release_locked(r.bytes);
      out.push_back(std::move(r.completion));
    }
    ready_.clear();
    wakeup_.clear();
  }
  space_cv_.notify_all();
  return out;
}

EngineStats Scheduler::stats() const {
  std::lock_guard lk(mu_);
  EngineStats s;
  s.jobs_in_flight = jobs_in_flight_;
  s.bytes_in_flight = bytes_in_flight_;
  s.peak_jobs_in_flight = peak_jobs_;
  s.peak_bytes_in_flight = peak_bytes_;
  s.completed = completed_;
  return s;
}

std::shared_ptr<JobState> Scheduler::next_job() {
  std::unique_lock lk(mu_);
  work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
  // Under OnShutdown::drain the queue is emptied before workers exit;
  // under cancel, queued jobs are flagged and complete without copying.
  if (queue_.empty()) return nullptr;
  std::shared_ptr<JobState> js = std::move(queue_.front());
  queue_.pop_front();
  return js;
}

void Scheduler::learned_total(JobState& js, int64_t total) {
  std::lock_guard lk(mu_);
  bytes_in_flight_ += total - js.bytes_counted;
  js.bytes_counted = total;
  peak_bytes_ = std::max(peak_bytes_, bytes_in_flight_);
}

void Scheduler::worker_loop() {
  RunHooks hooks;
  hooks.observer = options_.on_progress;
  hooks.interval = options_.progress_interval;
  hooks.throttle = throttle_.get();
  hooks.learned_total = [this](JobState& js, int64_t total) { learned_total(js, total); };
  std::shared_ptr<JobState> js = next_job();
  while (js) {
    Completion c = run_job(ctx_, *js, hooks);
    if (options_.on_progress) options_.on_progress(js->id, js->snapshot());
    js = deliver(std::move(js), std::move(c));
  }
}

// Delivers a completion and, under the same lock, takes the next queued
// job (one lock per job on the worker, not two).  The slot of a callback
// or future job is freed before the caller's code runs, so a callback may
// submit again without waiting for itself.
std::shared_ptr<JobState> Scheduler::deliver(std::shared_ptr<JobState> js, Completion c) {
  Notify notify = std::move(js->notify);
  const bool polled = std::holds_alternative<std::monostate>(notify);
  std::shared_ptr<JobState> next;
  {
    std::lock_guard lk(mu_);
    live_.erase(js->id);
    ++completed_;
    if (polled) {
      // The fd is readable exactly while ready_ is non-empty: reap()
      // clears both under mu_, so only the first completion after it writes.
      if (ready_.empty()) wakeup_.signal();
      ready_.push_back(Ready{std::move(c), js->bytes_counted});
    } else {
      release_locked(js->bytes_counted);
    }
    if (!queue_.empty()) {
      next = std::move(queue_.front());
      queue_.pop_front();
    }
  }
  if (!polled) {
    space_cv_.notify_all();
    if (auto* done = std::get_if<CompletionCallback>(&notify)) {
      if (*done) (*done)(std::move(c));
    } else {
      std::get<std::promise<Completion>>(notify).set_value(std::move(c));
    }
  }
  return next ? next : next_job();
}

}  // namespace offcopy::engine::async
