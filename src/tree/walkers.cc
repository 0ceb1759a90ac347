#include "tree/walkers.h"

#include <system_error>
#include <utility>

namespace offcopy::tree {
namespace {

// How deep the current thread is in reads made from enqueue().
thread_local int nested_reads = 0;

}  // namespace

Walkers::~Walkers() {
  {
    util::MutexLock lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool Walkers::start(int n) {
  try {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  } catch (const std::system_error&) {
  }
  return !threads_.empty();
}

void Walkers::wake() { cv_.notify_all(); }

void Walkers::read_unlocked(DirTask t) {
  mu_.unlock();
  read_(std::move(t));  // dropped by then: finished if nothing else holds it
  mu_.lock();
}

void Walkers::loop() {
  util::MutexLock lk(mu_);
  for (;;) {
    while (!stopping_ && tasks_.empty()) cv_.wait(mu_);
    if (tasks_.empty()) return;  // stopping
    if (cancelled_.load()) {
      // Dropped outside mu_: dropping finishes their directories.
      std::deque<DirTask> dropped;
      dropped.swap(tasks_);
      mu_.unlock();
      dropped.clear();
      mu_.lock();
    }
    if (tasks_.empty()) {
      if (busy_ == 0) walked_cv_.notify_all();
      continue;
    }
    DirTask t = std::move(tasks_.front());
    tasks_.pop_front();
    if (waiting_ > 0) cv_.notify_all();
    ++busy_;
    read_unlocked(std::move(t));
    if (--busy_ == 0 && tasks_.empty()) walked_cv_.notify_all();
  }
}

void Walkers::enqueue(DirTask t) {
  {
    util::MutexLock lk(mu_);
    while (tasks_.size() >= kQueuedDirs && !stopping_ && !cancelled_.load()) {
      if (waiting_ + 1 < static_cast<int>(threads_.size())) {
        ++waiting_;
        cv_.notify_all();  // an idle walker takes the queue's head
        cv_.wait(mu_);
        --waiting_;
        continue;
      }
      if (nested_reads >= kNestedReads) break;
      DirTask head = std::move(tasks_.front());
      tasks_.pop_front();
      if (waiting_ > 0) cv_.notify_all();
      ++nested_reads;
      read_unlocked(std::move(head));
      --nested_reads;
    }
    tasks_.push_back(std::move(t));
  }
  cv_.notify_all();
}

void Walkers::wait_walked(std::chrono::milliseconds interval,
                          const std::function<void()>& tick) {
  util::MutexLock lk(mu_);
  while (!tasks_.empty() || busy_ > 0) {
    walked_cv_.wait_for(mu_, interval);
    mu_.unlock();
    tick();
    mu_.lock();
  }
}

}  // namespace offcopy::tree
