// The walkers of a tree copy: a pool of threads that read the directories
// queued to them, so a cold cache sees several directory and inode reads in
// flight at once.  Reading a directory queues its subdirectories in turn.
//
// The queue is bounded: a wide directory (cp's link-heap test: 10,000
// subdirectories) would otherwise hold every one in memory.  Past
// kQueuedDirs a walker that finds more waits while another walker is free
// to drain the queue; the last one that cannot wait reads the queue's head
// itself, a few levels deep at most (then it queues anyway).
//
// Thread-safety: every method may be called from any thread, read()
// included (it runs on the walkers).
#ifndef OFFCOPY_TREE_WALKERS_H_
#define OFFCOPY_TREE_WALKERS_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "tree/dirs.h"
#include "util/mutex.h"

namespace offcopy::tree {

class Walkers {
 public:
  using Read = std::function<void(DirTask)>;
  // `read` reads one directory; `cancelled` set means queued directories
  // are dropped unread (their Dirs finished as they go).
  Walkers(Read read, const std::atomic<bool>& cancelled)
      : read_(std::move(read)), cancelled_(cancelled) {}
  ~Walkers();  // stops and joins the threads
  Walkers(const Walkers&) = delete;
  Walkers& operator=(const Walkers&) = delete;

  // As many threads as the system gives, up to n (a memory limit can
  // refuse a thread's stack); false when it gives none.
  bool start(int n);
  void enqueue(DirTask t) OFFCOPY_EXCLUDES(mu_);
  // Waits until every directory queued so far (and all they queue) is
  // read, calling `tick` every `interval` meanwhile.
  void wait_walked(std::chrono::milliseconds interval, const std::function<void()>& tick)
      OFFCOPY_EXCLUDES(mu_);
  // Wakes every waiting walker (after a cancel).
  void wake();

 private:
  static constexpr size_t kQueuedDirs = 1024;
  static constexpr int kNestedReads = 4;

  void loop();
  // Reads `t` on this thread with mu_ released; returns with it held.
  void read_unlocked(DirTask t) OFFCOPY_REQUIRES(mu_);

  const Read read_;
  const std::atomic<bool>& cancelled_;
  util::Mutex mu_;
  util::CondVar cv_;         // a task was queued or taken, or stopping
  util::CondVar walked_cv_;  // the queue ran dry with none busy
  std::deque<DirTask> tasks_ OFFCOPY_GUARDED_BY(mu_);
  int busy_ OFFCOPY_GUARDED_BY(mu_) = 0;     // reading a directory
  int waiting_ OFFCOPY_GUARDED_BY(mu_) = 0;  // waiting in enqueue()
  bool stopping_ OFFCOPY_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // written by start() before any enqueue
};

}  // namespace offcopy::tree

#endif  // OFFCOPY_TREE_WALKERS_H_
