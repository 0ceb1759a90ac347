#include "tree/reporter.h"

namespace offcopy::tree {

void Reporter::done_locked(EntryKind kind, const std::string& src, const std::string& dst,
                           const Report* rep) {
  ++prog_.files_done;
  switch (kind) {
    case EntryKind::directory: ++report_.directories; break;
    case EntryKind::regular: ++report_.files; break;
    case EntryKind::symlink: ++report_.symlinks; break;
    case EntryKind::hardlink: ++report_.hardlinks; break;
    case EntryKind::fifo:
    case EntryKind::device: ++report_.specials; break;
    case EntryKind::snapshot: ++report_.snapshots; break;
    case EntryKind::socket: break;
  }
  if (observer_) observer_->done(kind, src, dst, rep);
}

void Reporter::warnings_locked(const std::string& dst, const std::vector<Warning>& ws) {
  report_.warnings += static_cast<int64_t>(ws.size());
  if (observer_) {
    for (const Warning& w : ws) observer_->warning(dst, w);
  }
}

void Reporter::done(EntryKind kind, const std::string& src, const std::string& dst,
                    const Report* rep) {
  util::MutexLock lk(mu_);
  done_locked(kind, src, dst, rep);
}

void Reporter::file_copied(const std::string& src, const std::string& dst, int64_t size,
                           const Report& rep) {
  util::MutexLock lk(mu_);
  report_.data.merge(rep);
  report_.bytes += size;
  prog_.bytes_done += size;
  warnings_locked(dst, rep.warnings);
  done_locked(EntryKind::regular, src, dst, &rep);
}

void Reporter::snapshot(const std::string& src, const std::string& dst, const Report& rep) {
  util::MutexLock lk(mu_);
  report_.data.merge(rep);
  done_locked(EntryKind::snapshot, src, dst, &rep);
}

void Reporter::failed(const Error& e) {
  util::MutexLock lk(mu_);
  ++report_.errors;
  if (observer_) observer_->failed(e);
}

void Reporter::skipped(EntryKind kind, const std::string& src, const std::string& why) {
  util::MutexLock lk(mu_);
  ++report_.skipped;
  if (observer_) observer_->skipped(kind, src, why);
}

void Reporter::warnings(const std::string& dst, const std::vector<Warning>& ws) {
  if (ws.empty()) return;
  util::MutexLock lk(mu_);
  warnings_locked(dst, ws);
}

void Reporter::file_cancelled() {
  util::MutexLock lk(mu_);
  ++report_.cancelled;
}

void Reporter::set_copy_threads(int n) {
  util::MutexLock lk(mu_);
  report_.copy_threads = n;
}

bool Reporter::ask_overwrite(EntryKind kind, const std::string& src, const std::string& dst) {
  if (observer_ == nullptr) return true;
  util::MutexLock lk(ask_mu_);
  return observer_->overwrite(kind, src, dst);
}

void Reporter::tick(const std::string& current) {
  if (observer_ == nullptr) return;
  // Called for every entry: the clock check stays outside mu_, which the
  // copies' completions take too.
  const int64_t now = Clock::now().time_since_epoch().count();
  if (now < next_tick_.load(std::memory_order_relaxed)) return;
  util::MutexLock lk(mu_);
  if (now < next_tick_.load(std::memory_order_relaxed)) return;
  next_tick_.store(now + std::chrono::duration_cast<Clock::duration>(interval_).count(),
                   std::memory_order_relaxed);
  counter_.totals(&prog_.files_total, &prog_.bytes_total);
  prog_.current = current;
  observer_->progress(prog_);
}

void Reporter::progress_now() {
  if (observer_ == nullptr) return;
  util::MutexLock lk(mu_);
  counter_.totals(&prog_.files_total, &prog_.bytes_total);
  observer_->progress(prog_);
}

void Reporter::final_tick() {
  if (observer_ == nullptr) return;
  util::MutexLock lk(mu_);
  counter_.totals(&prog_.files_total, &prog_.bytes_total);
  if (prog_.files_total < 0) {
    counter_.stop();
    prog_.files_total = prog_.files_done;
    prog_.bytes_total = prog_.bytes_done;
  }
  prog_.current.clear();
  observer_->progress(prog_);
}

TreeReport Reporter::report() const {
  util::MutexLock lk(mu_);
  return report_;
}

}  // namespace offcopy::tree
