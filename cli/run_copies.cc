#include "run_copies.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "offcopy/engine.h"
#include "messages.h"
#include "signals.h"

namespace offcopy::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A pair refused before any copy starts, with cp's wording in the detail.
FileResult refused(const Pair& p, int code, const char* op, const std::string& path,
                   std::string detail) {
  FileResult r{p.src, p.dst, FileStatus::failed};
  Error e;
  e.code = code;
  e.op = op;
  e.path = path;
  e.detail = std::move(detail);
  r.error = std::move(e);
  return r;
}

// What cp refuses without trying, for each pair; nullopt where it copies.
std::vector<std::optional<FileResult>> refusals(const std::vector<Pair>& pairs) {
  std::vector<std::optional<FileResult>> out(pairs.size());
  std::set<std::string> planned;  // cp: never overwrite a file this run made
  for (size_t i = 0; i < pairs.size(); ++i) {
    const Pair& p = pairs[i];
    if (is_dir(p.src)) {
      out[i] = refused(p, EISDIR, "copy", p.src,
                       "-r not specified; omitting directory '" + p.src + "'");
    } else if (p.dst.back() == '/') {  // "b/" names a directory not there
      out[i] = refused(p, ENOTDIR, "create", p.dst,
                       "cannot create regular file '" + p.dst + "'");
    } else if (!planned.insert(p.dst).second) {
      out[i] = refused(p, EEXIST, "create", p.dst,
                       "will not overwrite just-created '" + p.dst + "' with '" +
                           p.src + "'");
    }
  }
  return out;
}

FileResult to_result(const Options& o, const Pair& p, Result<Report> rep, double secs) {
  FileResult r{p.src, p.dst};
  r.seconds = secs;
  if (rep) {
    r.report = std::move(rep.value());
  } else if (rep.error().code == ECANCELED && stop_signal() != 0) {
    r.status = FileStatus::cancelled;  // told once, in the summary
    r.error = rep.error();
  } else if (rep.error().code == EEXIST && o.overwrite == Overwrite::no_clobber) {
    r.status = FileStatus::skipped;  // cp -n skips silently
  } else {
    r.status = FileStatus::failed;
    r.error = rep.error();
    if (rep.error().report) r.report = *rep.error().report;  // what ran
  }
  return r;
}

// Results filled in by engine threads, taken in order by the caller.
class Mailbox {
 public:
  explicit Mailbox(size_t n) : slots_(n) {}
  void put(size_t i, FileResult r) {
    std::lock_guard lock(mu_);
    slots_[i] = std::move(r);
    cv_.notify_all();
  }
  // The result of pair i; waits for it when `wait`, else may return none.
  std::optional<FileResult> take(size_t i, bool wait) {
    std::unique_lock lock(mu_);
    if (wait) cv_.wait(lock, [&] { return slots_[i].has_value(); });
    std::optional<FileResult> r = std::move(slots_[i]);
    slots_[i].reset();
    return r;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<FileResult>> slots_;  // guarded by mu_
};

int worker_count() {
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n, 1u, 8u));
}

}  // namespace

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool run_copies(const Options& o, const std::vector<Pair>& pairs,
                const std::function<void(FileResult)>& on_result) {
  std::vector<std::optional<FileResult>> pre = refusals(pairs);
  Mailbox box(pairs.size());
  // Declared after the mailbox so that it is destroyed (its threads joined)
  // before the mailbox its callbacks write to.
  auto engine = Engine::open({.workers = worker_count()});
  if (!engine) {
    std::fprintf(stderr, "%s: cannot start the copy engine: %s\n", program_name(),
                 engine.error().message().c_str());
    return false;
  }
  const FileOptions fo = file_options(o);
  // A signal stops what runs; nothing more is submitted.  The hook is
  // cleared before the engine goes.
  Engine* eng = engine->get();
  on_stop([eng] { eng->cancel_all(); });
  struct ClearHook {
    ~ClearHook() { on_stop(nullptr); }
  } clear_hook;
  size_t next_out = 0;
  // Hands on every result that is ready, in order; waits when `wait`.
  auto flush = [&](size_t upto, bool wait) {
    for (; next_out < upto; ++next_out) {
      if (pre[next_out]) {
        on_result(std::move(*pre[next_out]));
        continue;
      }
      std::optional<FileResult> r = box.take(next_out, wait);
      if (!r) return;
      on_result(std::move(*r));
    }
  };
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (!pre[i] && stop_signal() != 0) {
      pre[i] = FileResult{pairs[i].src, pairs[i].dst, FileStatus::cancelled};
    } else if (!pre[i]) {
      const Pair& p = pairs[i];
      const auto start = Clock::now();
      auto id = (*engine)->submit(FileJob{p.src, {p.dst}, fo}, [&, i, start](Completion c) {
        const double secs = std::chrono::duration<double>(Clock::now() - start).count();
        box.put(i, to_result(o, pairs[i], std::move(c.results.at(0)), secs));
      });
      if (!id) pre[i] = to_result(o, p, id.error(), 0);
    }
    flush(i + 1, false);
  }
  flush(pairs.size(), true);
  return true;
}

}  // namespace offcopy::cli
