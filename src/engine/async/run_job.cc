// Why destinations are copied one after another, each with the full
// ladder: offload mechanisms (FICLONE, copy_file_range) take one source and
// one destination, so a "read once, write many" fan-out would only help the
// host-copy rungs.  It is left for a later increment, with the io_uring
// pipeline issuing the writes.
#include "engine/async/run_job.h"

#include <errno.h>
#include <sys/stat.h>

#include <optional>
#include <string>

#include "engine/copier.h"

namespace offcopy::engine::async {
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

// Source bytes per destination, or -1 when they cannot be known ahead
// (not a regular file, or the source cannot be looked at -- the copy
// itself will then report why).
int64_t source_length(const Context& ctx, const ::offcopy::Job& job) {
  struct stat st {};
  if (const auto* f = std::get_if<FileJob>(&job)) {
    if (ctx.sys->stat(f->source.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) return -1;
    return st.st_size;
  }
  const auto& r = std::get<RangeJob>(job);
  if (!r.flags.whole_file) return r.length;
  if (ctx.sys->fstat(r.source_fd, &st) < 0 || !S_ISREG(st.st_mode)) return -1;
  return st.st_size > r.source_offset ? st.st_size - r.source_offset : 0;
}

size_t destination_count(const ::offcopy::Job& job) {
  if (const auto* f = std::get_if<FileJob>(&job)) return f->destinations.size();
  return std::get<RangeJob>(job).destinations.size();
}

std::string destination_name(const ::offcopy::Job& job, size_t i) {
  if (const auto* f = std::get_if<FileJob>(&job)) return f->destinations[i];
  return "fd " + std::to_string(std::get<RangeJob>(job).destinations[i].fd);
}

Result<Report> copy_one(const Context& ctx, const ::offcopy::Job& job, size_t i,
                        const Control* control) {
  if (const auto* f = std::get_if<FileJob>(&job)) {
    return engine::copy_file(ctx, f->source, f->destinations[i], f->options, control);
  }
  const auto& r = std::get<RangeJob>(job);
  int64_t src_off = r.source_offset;
  int64_t dst_off = r.destinations[i].offset;
  return engine::copy_range(ctx, r.source_fd, &src_off, r.destinations[i].fd,
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

Completion run_job(const Context& ctx, JobState& js, const RunHooks& hooks) {
  Completion c;
  c.id = js.id;
  const size_t n = destination_count(js.job);
  c.results.reserve(n);
  if (!js.cancel.load()) {
    const int64_t len = source_length(ctx, js.job);
    const int64_t total = len < 0 ? -1 : len * static_cast<int64_t>(n);
    js.total.store(total, std::memory_order_relaxed);
    // A RangeJob's bytes were counted at submit; telling the scheduler
    // again would only cost a lock per job.
    if (total > 0 && total != bytes_at_submit(js.job) && hooks.learned_total) {
      hooks.learned_total(js, total);
    }
  }
  Tracker tracker(js, hooks);
  Control control;
  control.cancel = &js.cancel;
  control.progress = [&tracker](int64_t done, Mechanism m) { tracker.chunk(done, m); };
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

}  // namespace offcopy::engine::async
