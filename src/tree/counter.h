// The pre-walk behind progress totals: counts the entries and regular-file
// bytes of the roots on a thread of its own, while the copy runs.
//
// Thread-safety: start() and the destructor on the owner's thread;
// totals() and stop() from any thread.
#ifndef OFFCOPY_TREE_COUNTER_H_
#define OFFCOPY_TREE_COUNTER_H_

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "offcopy/tree.h"
#include "sys/sys.h"

namespace offcopy::tree {

class Counter {
 public:
  Counter(sys::Sys& s, const TreeOptions& opt) : sys_(s), opt_(opt) {}
  ~Counter();  // stops the walk early and joins
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void start(std::vector<std::string> roots);
  // Entries and bytes; -1 for both until the walk is over.
  void totals(int64_t* files, int64_t* bytes) const;
  // Asks the walk to end early (any thread); totals() stays -1 then.
  void stop() { stop_.store(true); }

 private:
  void run(const std::vector<std::string>& roots);
  void count_root(const std::string& root);

  sys::Sys& sys_;
  const TreeOptions opt_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> files_{-1};
  std::atomic<int64_t> bytes_{-1};
  int64_t files_seen_ = 0;  // thread only
  int64_t bytes_seen_ = 0;  // thread only
  // Multiply-linked files already counted (links kept: across roots too).
  std::set<std::pair<dev_t, ino_t>> linked_;  // thread only
};

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_COUNTER_H_
