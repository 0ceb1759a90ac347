// What a tree copy tells: the TreeReport it builds and the TreeObserver's
// calls (done, skipped, failed, warnings, progress a few times a second,
// the -i question).  The observer is called under this class's lock, so
// its calls never overlap (TreeObserver's contract) -- except overwrite(),
// asked under a lock of its own so that completions go on meanwhile.
//
// Thread-safety: every method may be called from any thread.
#ifndef OFFCOPY_TREE_REPORTER_H_
#define OFFCOPY_TREE_REPORTER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "offcopy/tree.h"
#include "tree/counter.h"
#include "util/mutex.h"

namespace offcopy::tree {

class Reporter {
 public:
  // `observer` may be null; `counter` gives progress its totals.
  Reporter(TreeObserver* observer, Counter& counter, std::chrono::milliseconds interval)
      : observer_(observer), counter_(counter), interval_(interval) {}

  void done(EntryKind kind, const std::string& src, const std::string& dst,
            const Report* rep = nullptr);
  // A regular file copied: its report, bytes and warnings too.
  void file_copied(const std::string& src, const std::string& dst, int64_t size,
                   const Report& rep);
  // A btrfs snapshot taken for a whole root.
  void snapshot(const std::string& src, const std::string& dst, const Report& rep);
  void failed(const Error& e);
  void skipped(EntryKind kind, const std::string& src, const std::string& why);
  void warnings(const std::string& dst, const std::vector<Warning>& ws);
  void file_cancelled();
  void set_copy_threads(int n);
  bool ask_overwrite(EntryKind kind, const std::string& src, const std::string& dst);

  // Progress when due (a few times a second), naming `current`.
  void tick(const std::string& current);
  // Progress now (while finish() waits for the last files).
  void progress_now();
  // The last update, when everything is done: if the pre-walk is still
  // counting (a copy can outrun it, a snapshot always does), what was done
  // is the total, and the pre-walk is stopped rather than waited for.
  void final_tick();

  TreeReport report() const;

 private:
  using Clock = std::chrono::steady_clock;

  void done_locked(EntryKind kind, const std::string& src, const std::string& dst,
                   const Report* rep) OFFCOPY_REQUIRES(mu_);
  void warnings_locked(const std::string& dst, const std::vector<Warning>& ws)
      OFFCOPY_REQUIRES(mu_);

  TreeObserver* const observer_;
  Counter& counter_;
  const std::chrono::milliseconds interval_;
  mutable util::Mutex mu_;
  TreeReport report_ OFFCOPY_GUARDED_BY(mu_);
  TreeProgress prog_ OFFCOPY_GUARDED_BY(mu_);
  std::atomic<int64_t> next_tick_{0};  // Clock ticks; written under mu_
  util::Mutex ask_mu_;                 // held while observer_->overwrite runs
};

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_REPORTER_H_
