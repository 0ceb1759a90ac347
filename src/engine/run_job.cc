// Why destinations are copied one after another, each with the full
// ladder: offload mechanisms (FICLONE, copy_file_range) take one source and
// one destination, so a "read once, write many" fan-out would only help the
// host-copy rungs.  It is left for a later increment, with the io_uring
// pipeline issuing the writes.
#include "engine/run_job.h"

#include <errno.h>

#include <optional>
#include <string>

#include "ladder/copier.h"

namespace offcopy::engine {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes of one destination's range that are finished, holes included.
int64_t finished_bytes(const Result<Report>& r) {
  if (r) return r->total_bytes() + r->hole_bytes;
  return r.error().bytes_done;
}

Error not_started(const std::string& path) {
  Error e;
  e.code = ECANCELED;
  e.op = "cancel";
  e.role = Role::destination;
  e.path = path;
  e.detail = "cancelled before this destination started";
  return e;
}

size_t destination_count(const ::offcopy::Job& job) {
  if (const auto* f = std::get_if<FileJob>(&job)) return f->destinations.size();
  return std::get<RangeJob>(job).destinations.size();
}

std::string destination_name(const ::offcopy::Job& job, size_t i) {
  if (const auto* f = std::get_if<FileJob>(&job)) return f->destinations[i];
  return "fd " + std::to_string(std::get<RangeJob>(job).destinations[i].fd);
}

Result<Report> copy_one(const mech::Context& ctx, const ::offcopy::Job& job, size_t i,
                        const mech::Control* control) {
  if (const auto* f = std::get_if<FileJob>(&job)) {
    return ladder::copy_file(ctx, f->source, f->destinations[i], f->options, control);
  }
  const auto& r = std::get<RangeJob>(job);
  int64_t src_off = r.source_offset;
  int64_t dst_off = r.destinations[i].offset;
  return ladder::copy_range(ctx, r.source_fd, &src_off, r.destinations[i].fd,
                            &dst_off, r.length, r.flags, control);
}

// Data bytes a finished (or failed) destination moved by the rungs the
// bandwidth cap charges: all but clone, which moves no data.  Holes are
// not data.
int64_t charged_bytes(const Result<Report>& r) {
  const Report* rep = r ? &*r : r.error().report.get();
  if (rep == nullptr) return r ? 0 : r.error().bytes_done;
  return rep->total_bytes() - rep->bytes(Mechanism::clone);
}

// The per-chunk hook: publishes the snapshot, charges the bandwidth cap
// and, at most once per interval, tells the observer.  Runs on the worker
// only.
class Tracker {
 public:
  Tracker(JobState& js, const RunHooks& hooks) : js_(js), hooks_(hooks) {
    // A clock read per job only when someone is told about progress.
    if (hooks_.observer) last_ = Clock::now();
  }

  void chunk(int64_t done_in_destination, Mechanism m) {
    js_.done.store(base_ + done_in_destination, std::memory_order_relaxed);
    js_.mech.store(static_cast<int>(m), std::memory_order_relaxed);
    if (hooks_.throttle != nullptr) throttle(done_in_destination, m);
    if (!hooks_.observer) return;
    const auto now = Clock::now();
    if (now - last_ < hooks_.interval) return;
    last_ = now;
    hooks_.observer(js_.id, js_.snapshot());
  }

  // Settles the cap for this destination: charges what the chunks did not
  // (a one-chunk copy reports no progress at all), then starts afresh.
  void destination_over(const Result<Report>& r) {
    if (hooks_.throttle != nullptr) {
      hooks_.throttle->charge(charged_bytes(r) - charged_, js_.cancel);
    }
    seen_ = 0;
    charged_ = 0;
    base_ += finished_bytes(r);
    js_.done.store(base_, std::memory_order_relaxed);
  }

 private:
  // Progress is "bytes of the range finished, in order", holes and clones
  // included; what advanced under a data-moving rung is charged now (a
  // hole skipped between two chunks may count until destination_over).
  void throttle(int64_t done_in_destination, Mechanism m) {
    const int64_t delta = done_in_destination - seen_;
    seen_ = done_in_destination;
    if (m == Mechanism::clone || delta <= 0) return;
    charged_ += delta;
    hooks_.throttle->charge(delta, js_.cancel);
  }

  JobState& js_;
  const RunHooks& hooks_;
  int64_t base_ = 0;     // bytes of the destinations already over
  int64_t seen_ = 0;     // progress of this destination last looked at
  int64_t charged_ = 0;  // bytes of this destination charged to the cap
  Clock::time_point last_;
};

}  // namespace

void prefetch_job(const ::offcopy::Job& job) {
  if (const auto* f = std::get_if<FileJob>(&job)) {
    __builtin_prefetch(f->source.data());
    __builtin_prefetch(f->destinations.data());
  } else {
    __builtin_prefetch(std::get<RangeJob>(job).destinations.data());
  }
}

int64_t bytes_at_submit(const ::offcopy::Job& job) {
  const auto* r = std::get_if<RangeJob>(&job);
  if (r == nullptr || r->flags.whole_file) return 0;
  return r->length * static_cast<int64_t>(r->destinations.size());
}

std::optional<Error> validate(const ::offcopy::Job& job) {
  Error e;
  e.code = EINVAL;
  e.op = "submit";
  if (destination_count(job) == 0) {
    e.detail = "a job needs at least one destination";
  } else if (const auto* f = std::get_if<FileJob>(&job)) {
    if (f->source.empty()) e.detail = "empty source path";
  } else {
    const auto& r = std::get<RangeJob>(job);
    if (r.source_fd < 0 || r.source_offset < 0 || r.length < 0) {
      e.detail = "negative source fd, offset or length";
    }
    for (const RangeDestination& d : r.destinations) {
      if (d.fd < 0 || d.offset < 0) e.detail = "negative destination fd or offset";
    }
  }
  if (e.detail.empty()) return std::nullopt;
  return e;
}

Completion run_job(const mech::Context& ctx, JobState& js, const RunHooks& hooks) {
  Completion c;
  c.id = js.id;
  const size_t n = destination_count(js.job);
  c.results.reserve(n);
  // A RangeJob's bytes were counted at submit; any other job's total is
  // learned from the first destination's copy, once it has looked at the
  // source (no extra stat of our own), and told to the scheduler.
  const int64_t at_submit = bytes_at_submit(js.job);
  js.total.store(at_submit > 0 ? at_submit : -1, std::memory_order_relaxed);
  Tracker tracker(js, hooks);
  mech::Control control;
  control.cancel = &js.cancel;
  control.progress = [&tracker](int64_t done, Mechanism m) { tracker.chunk(done, m); };
  if (at_submit == 0) {
    control.length = [&js, &hooks, n](int64_t len) {
      if (js.total.load(std::memory_order_relaxed) >= 0) return;
      const int64_t total = len * static_cast<int64_t>(n);
      js.total.store(total, std::memory_order_relaxed);
      if (total > 0 && hooks.learned_total) hooks.learned_total(js, total);
    };
  }
  for (size_t i = 0; i < n; ++i) {
    if (js.cancel.load()) {
      c.results.emplace_back(not_started(destination_name(js.job, i)));
      continue;
    }
    c.results.push_back(copy_one(ctx, js.job, i, &control));
    tracker.destination_over(c.results.back());
  }
  return c;
}

}  // namespace offcopy::engine
