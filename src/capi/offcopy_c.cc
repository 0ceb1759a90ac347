// The C API (include/offcopy/offcopy.h) over the C++ one.
//
// Every entry point is a thin translation: C structs to offcopy:: values,
// Result<T> to a value or -errno, and a catch-all so no exception crosses
// into C (std::bad_alloc -> -ENOMEM; anything else -> -EIO, which the
// library never throws for I/O, so it only marks a bug).
#include "offcopy/offcopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "offcopy/copy.h"
#include "offcopy/engine.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

static_assert(OFFCOPY_MECH_COUNT == offcopy::kMechanismCount);
static_assert(OFFCOPY_MECH_CLONE == static_cast<int>(offcopy::Mechanism::clone));
static_assert(OFFCOPY_MECH_KERNEL_COPY == static_cast<int>(offcopy::Mechanism::kernel_copy));
static_assert(OFFCOPY_MECH_URING == static_cast<int>(offcopy::Mechanism::uring));
static_assert(OFFCOPY_MECH_READ_WRITE == static_cast<int>(offcopy::Mechanism::read_write));
static_assert(OFFCOPY_MECH_SPLICE == static_cast<int>(offcopy::Mechanism::splice));
static_assert(OFFCOPY_MECH_DEVICE == static_cast<int>(offcopy::Mechanism::device));
static_assert(offcopy::kOffloadUnsupported == EOPNOTSUPP);
static_assert(offcopy::kSourceChanged == EAGAIN);
static_assert(OFFCOPY_ERROR_SYSTEM == static_cast<int>(offcopy::ErrorKind::system));
static_assert(OFFCOPY_ERROR_OFFLOAD_UNSUPPORTED ==
              static_cast<int>(offcopy::ErrorKind::offload_unsupported));
static_assert(OFFCOPY_ERROR_SOURCE_CHANGED ==
              static_cast<int>(offcopy::ErrorKind::source_changed));

// The C handle: the engine, plus completions taken from Engine::reap() (which
// returns all of them) that did not fit in the caller's array yet.
struct offcopy_engine {
  std::unique_ptr<offcopy::Engine> engine;
  offcopy::util::Mutex mu;
  std::deque<offcopy::Completion> backlog OFFCOPY_GUARDED_BY(mu);
};

namespace {

// Runs `f`, turning any exception into a negative errno of f's return type.
template <typename F>
auto no_throw(F f) noexcept -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (const std::system_error& e) {
    return e.code().value() > 0 ? -e.code().value() : -EIO;
  } catch (...) {
    return -EIO;
  }
}

int neg(const offcopy::Error& e) { return e.code > 0 ? -e.code : -EIO; }

// Copies `s` into the fixed buffer, truncated and NUL-terminated.
template <size_t N>
void put(char (&buf)[N], const std::string& s) {
  const size_t n = std::min(s.size(), N - 1);
  memcpy(buf, s.data(), n);
  buf[n] = '\0';
}

void fill_counts(const offcopy::Report& r, offcopy_report* out) {
  for (int m = 0; m < OFFCOPY_MECH_COUNT; ++m) out->bytes_by[m] = r.bytes_by[m];
  out->hole_bytes = r.hole_bytes;
}

void fill_report(const offcopy::Result<offcopy::Report>& r, offcopy_report* out) {
  if (out == nullptr) return;
  memset(out, 0, sizeof *out);
  if (r) {
    fill_counts(*r, out);
    out->bytes_done = r->total_bytes();
    return;
  }
  const offcopy::Error& e = r.error();
  if (e.report) fill_counts(*e.report, out);
  out->bytes_done = e.bytes_done;
  out->error = e.code > 0 ? e.code : EIO;
  out->offload_unsupported = e.offload_unsupported() ? 1 : 0;
  out->error_kind = static_cast<int>(e.kind);
  out->role = static_cast<int>(e.role);
  out->error_offset = e.offset;
  put(out->op, e.op);
  put(out->message, e.message());
}

// The return value of a synchronous copy.
int64_t finish(const offcopy::Result<offcopy::Report>& r, offcopy_report* out) {
  fill_report(r, out);
  return r ? r->total_bytes() : neg(r.error());
}

bool to_flags(const offcopy_flags* in, offcopy::CopyFlags* out) {
  *out = {};
  if (in == nullptr) return true;
  if (in->reflink < OFFCOPY_REFLINK_AUTO || in->reflink > OFFCOPY_REFLINK_NEVER ||
      in->sparse < OFFCOPY_SPARSE_AUTO || in->sparse > OFFCOPY_SPARSE_NEVER) {
    return false;
  }
  static constexpr offcopy::Reflink kReflink[] = {
      offcopy::Reflink::auto_, offcopy::Reflink::always, offcopy::Reflink::never};
  static constexpr offcopy::Sparse kSparse[] = {
      offcopy::Sparse::auto_, offcopy::Sparse::always, offcopy::Sparse::never};
  out->whole_file = in->whole_file != 0;
  out->no_fallback = in->no_fallback != 0;
  out->reflink = kReflink[in->reflink];
  out->sparse = kSparse[in->sparse];
  return true;
}

bool to_file_options(const offcopy_file_options* in, offcopy::FileOptions* out) {
  *out = {};
  if (in == nullptr) return true;
  if (!to_flags(&in->flags, &out->flags)) return false;
  out->flags.whole_file = true;  // a file copy is always whole (len is 0)
  static constexpr offcopy::Overwrite kOverwrite[] = {
      offcopy::Overwrite::replace, offcopy::Overwrite::force,
      offcopy::Overwrite::no_clobber};
  if (in->overwrite < 0 || in->overwrite > OFFCOPY_OVERWRITE_NO_CLOBBER) return false;
  out->overwrite = kOverwrite[in->overwrite];
  out->atomic = in->atomic != 0;
  out->fsync = in->fsync != 0;
  out->verify = in->verify != 0;
  return true;
}

bool to_c(const offcopy::Completion& c, offcopy_completion* out);

// Submits to poll mode, or to `done` when one is given.
int submit(offcopy_engine* e, offcopy::Job job, uint64_t* id_out, offcopy_done_fn done = nullptr,
           void* user = nullptr) {
  offcopy::Result<offcopy::JobId> id = offcopy::JobId{0};
  if (done == nullptr) {
    id = e->engine->submit(std::move(job));
  } else {
    id = e->engine->submit(std::move(job), [done, user](offcopy::Completion c) {
      offcopy_completion cc{};
      if (!to_c(c, &cc)) cc = {c.id, 0, nullptr};  // out of memory: the id at least
      done(&cc, user);
      offcopy_completion_release(&cc);
    });
  }
  if (!id) return neg(id.error());
  if (id_out != nullptr) *id_out = *id;
  return 0;
}

void to_c(const offcopy::Progress& p, offcopy_progress* out) {
  out->bytes_done = p.bytes_done;
  out->bytes_total = p.bytes_total;
  out->mechanism = p.mechanism ? static_cast<int>(*p.mechanism) : -1;
}

// The two submit calls' checks and translation, shared by the _cb forms.
int submit_file(offcopy_engine* engine, const char* src, const char* const* dsts,
                size_t n_dsts, const offcopy_file_options* options, uint64_t* id_out,
                offcopy_done_fn done, void* user) {
  offcopy::FileJob job;
  if (engine == nullptr || src == nullptr || (dsts == nullptr && n_dsts > 0) ||
      !to_file_options(options, &job.options)) {
    return -EINVAL;
  }
  job.source = src;
  for (size_t i = 0; i < n_dsts; ++i) {
    if (dsts[i] == nullptr) return -EINVAL;
    job.destinations.emplace_back(dsts[i]);
  }
  return submit(engine, std::move(job), id_out, done, user);
}

int submit_range(offcopy_engine* engine, int src_fd, int64_t src_off, int64_t len,
                 const offcopy_range_dest* dsts, size_t n_dsts, const offcopy_flags* flags,
                 uint64_t* id_out, offcopy_done_fn done, void* user) {
  offcopy::RangeJob job{.source_fd = src_fd, .source_offset = src_off, .length = len};
  if (engine == nullptr || (dsts == nullptr && n_dsts > 0) || !to_flags(flags, &job.flags)) {
    return -EINVAL;
  }
  for (size_t i = 0; i < n_dsts; ++i) job.destinations.push_back({dsts[i].fd, dsts[i].offset});
  return submit(engine, std::move(job), id_out, done, user);
}

// Builds the C form of `c`; false (and nothing allocated) when out of memory.
bool to_c(const offcopy::Completion& c, offcopy_completion* out) {
  const size_t n = c.results.size();
  offcopy_dest_result* rs = nullptr;
  if (n > 0) {
    rs = static_cast<offcopy_dest_result*>(calloc(n, sizeof *rs));
    if (rs == nullptr) return false;
  }
  for (size_t i = 0; i < n; ++i) {
    const offcopy::Result<offcopy::Report>& r = c.results[i];
    fill_report(r, &rs[i].report);
    rs[i].status = r ? 0 : neg(r.error());
    rs[i].bytes = rs[i].report.bytes_done;
  }
  *out = {c.id, n, rs};
  return true;
}

// Hands up to `max` completions from the backlog to the caller.  All or
// nothing: on ENOMEM the backlog is left as it was.
int hand_over(std::deque<offcopy::Completion>& backlog, offcopy_completion* out,
              size_t max) {
  const size_t n = std::min(max, backlog.size());
  for (size_t i = 0; i < n; ++i) {
    if (to_c(backlog[i], &out[i])) continue;
    while (i > 0) offcopy_completion_release(&out[--i]);
    return -ENOMEM;
  }
  backlog.erase(backlog.begin(), backlog.begin() + static_cast<ptrdiff_t>(n));
  return static_cast<int>(n);
}

}  // namespace

extern "C" {

const char* offcopy_version(void) { return OFFCOPY_VERSION_STRING; }

int offcopy_version_number(void) { return OFFCOPY_VERSION_NUMBER; }

const char* offcopy_mechanism_name(int mechanism) {
  if (mechanism < 0 || mechanism >= OFFCOPY_MECH_COUNT) return nullptr;
  return offcopy::mechanism_name(static_cast<offcopy::Mechanism>(mechanism));
}

int64_t offcopy_copy_range(int src_fd, int64_t* src_off, int dst_fd, int64_t* dst_off,
                           int64_t len, const struct offcopy_flags* flags,
                           struct offcopy_report* report_out) {
  return no_throw([&]() -> int64_t {
    offcopy::CopyFlags f;
    if (!to_flags(flags, &f)) return finish(offcopy::Error{.code = EINVAL, .op = "flags"}, report_out);
    return finish(offcopy::copy_range(src_fd, src_off, dst_fd, dst_off, len, f), report_out);
  });
}

int64_t offcopy_copy_file(const char* src, const char* dst,
                          const struct offcopy_file_options* options,
                          struct offcopy_report* report_out) {
  return no_throw([&]() -> int64_t {
    offcopy::FileOptions o;
    if (!to_file_options(options, &o)) {
      return finish(offcopy::Error{.code = EINVAL, .op = "options"}, report_out);
    }
    if (src == nullptr || dst == nullptr) {
      return finish(offcopy::Error{.code = EINVAL, .op = "path", .detail = "NULL path"},
                    report_out);
    }
    return finish(offcopy::copy_file(src, dst, o), report_out);
  });
}

int offcopy_engine_new(const struct offcopy_engine_options* options,
                       struct offcopy_engine** out) {
  return no_throw([&]() -> int {
    const offcopy_engine_options o = options ? *options : offcopy_engine_options{};
    if (out == nullptr || o.workers < 0 || o.max_jobs_in_flight < 0 ||
        o.max_bytes_in_flight < 0 || o.progress_interval_ms < 0) {
      return -EINVAL;
    }
    offcopy::EngineOptions eo;
    if (o.workers > 0) eo.workers = o.workers;
    if (o.max_jobs_in_flight > 0) eo.max_jobs_in_flight = o.max_jobs_in_flight;
    eo.max_bytes_in_flight = o.max_bytes_in_flight;
    eo.on_full = offcopy::OnFull::busy;
    eo.shutdown = o.drain_on_free ? offcopy::OnShutdown::drain : offcopy::OnShutdown::cancel;
    if (o.on_progress != nullptr) {
      eo.on_progress = [fn = o.on_progress, user = o.progress_user](offcopy::JobId id,
                                                                    const offcopy::Progress& p) {
        offcopy_progress cp;
        to_c(p, &cp);
        fn(id, &cp, user);
      };
    }
    if (o.progress_interval_ms > 0) {
      eo.progress_interval = std::chrono::milliseconds(o.progress_interval_ms);
    }
    auto engine = offcopy::Engine::open(std::move(eo));
    if (!engine) return neg(engine.error());
    auto handle = std::make_unique<offcopy_engine>();
    handle->engine = std::move(*engine);
    *out = handle.release();
    return 0;
  });
}

void offcopy_engine_free(struct offcopy_engine* engine) {
  // ~Engine cancels or drains, then joins; it does not throw.
  delete engine;
}

int offcopy_engine_submit_file(struct offcopy_engine* engine, const char* src,
                               const char* const* dsts, size_t n_dsts,
                               const struct offcopy_file_options* options,
                               uint64_t* id_out) {
  return no_throw([&]() -> int {
    return submit_file(engine, src, dsts, n_dsts, options, id_out, nullptr, nullptr);
  });
}

int offcopy_engine_submit_file_cb(struct offcopy_engine* engine, const char* src,
                                  const char* const* dsts, size_t n_dsts,
                                  const struct offcopy_file_options* options,
                                  offcopy_done_fn done, void* user, uint64_t* id_out) {
  return no_throw([&]() -> int {
    if (done == nullptr) return -EINVAL;
    return submit_file(engine, src, dsts, n_dsts, options, id_out, done, user);
  });
}

int offcopy_engine_submit_range(struct offcopy_engine* engine, int src_fd, int64_t src_off,
                                int64_t len, const struct offcopy_range_dest* dsts,
                                size_t n_dsts, const struct offcopy_flags* flags,
                                uint64_t* id_out) {
  return no_throw([&]() -> int {
    return submit_range(engine, src_fd, src_off, len, dsts, n_dsts, flags, id_out, nullptr,
                        nullptr);
  });
}

int offcopy_engine_submit_range_cb(struct offcopy_engine* engine, int src_fd, int64_t src_off,
                                   int64_t len, const struct offcopy_range_dest* dsts,
                                   size_t n_dsts, const struct offcopy_flags* flags,
                                   offcopy_done_fn done, void* user, uint64_t* id_out) {
  return no_throw([&]() -> int {
    if (done == nullptr) return -EINVAL;
    return submit_range(engine, src_fd, src_off, len, dsts, n_dsts, flags, id_out, done, user);
  });
}

int offcopy_engine_cancel(struct offcopy_engine* engine, uint64_t id) {
  return no_throw([&]() -> int {
    if (engine == nullptr) return -EINVAL;
    return engine->engine->cancel(id) ? 0 : -ENOENT;
  });
}

int offcopy_engine_progress(const struct offcopy_engine* engine, uint64_t id,
                            struct offcopy_progress* out) {
  return no_throw([&]() -> int {
    if (engine == nullptr || out == nullptr) return -EINVAL;
    auto p = engine->engine->progress(id);
    if (!p) return -ENOENT;
    to_c(*p, out);
    return 0;
  });
}

int offcopy_engine_fd(const struct offcopy_engine* engine) {
  return engine == nullptr ? -EINVAL : engine->engine->fd();
}

int offcopy_engine_reap(struct offcopy_engine* engine, struct offcopy_completion* out,
                        size_t max) {
  return no_throw([&]() -> int {
    if (engine == nullptr || (out == nullptr && max > 0)) return -EINVAL;
    max = std::min<size_t>(max, 1 << 20);  // the count must fit the int result
    offcopy::util::MutexLock lock(engine->mu);
    // Only ask the engine when the backlog cannot fill `out` by itself: it
    // keeps the backlog below max + max_jobs_in_flight.
    if (engine->backlog.size() < max) {
      for (offcopy::Completion& c : engine->engine->reap()) {
        engine->backlog.push_back(std::move(c));
      }
    }
    return hand_over(engine->backlog, out, max);
  });
}

void offcopy_completion_release(struct offcopy_completion* completion) {
  if (completion == nullptr) return;
  free(completion->results);
  *completion = {};
}

}  // extern "C"
