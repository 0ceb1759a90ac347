// The queue of admitted jobs waiting for a worker: an intrusive FIFO after
// Dmitry Vyukov's multi-producer, single-consumer queue.  A producer pushes
// with one atomic exchange and never waits; consumers are serialized by
// the caller (Scheduler::pop_lock_), so several workers share one queue.
//
// Why not a list under the scheduler's lock: submitters and workers run on
// different cores, and one shared lock moved the same cache lines between
// them on every submit and every completion (docs/bench/history.md, "engine
// per-job overhead").  Here a producer writes the queue's head and the node
// before its own; the consumer writes only the tail.
//
// A node is free to be pushed again as soon as pop() has returned it.
#ifndef OFFCOPY_ENGINE_JOB_QUEUE_H_
#define OFFCOPY_ENGINE_JOB_QUEUE_H_

#include <atomic>

namespace offcopy::engine {

struct QueueNode {
  std::atomic<QueueNode*> qnext{nullptr};
};

class JobQueue {
 public:
  JobQueue() : head_(&stub_), tail_(&stub_) {}
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Any thread.  The exchange is sequentially consistent: the scheduler's
  // wake-up protocol pairs it with its idle-worker count.
  void push(QueueNode* n) {
    n->qnext.store(nullptr, std::memory_order_relaxed);
    QueueNode* prev = head_.exchange(n);
    prev->qnext.store(n, std::memory_order_release);
  }

  enum class Empty { no, yes, for_now };

  // Consumer only.  The oldest node, or null with `why`: yes when nothing
  // was pushed (a sequentially consistent look at the head), for_now when
  // a producer is between its exchange and its link -- a few instructions,
  // unless it was preempted there; the caller retries.
  QueueNode* pop(Empty& why) {
    why = Empty::no;
    QueueNode* tail = tail_;
    QueueNode* next = tail->qnext.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) {
        why = head_.load() == &stub_ ? Empty::yes : Empty::for_now;
        return nullptr;
      }
      tail_ = tail = next;
      next = next->qnext.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    // `tail` is the last node linked: it can go only with the stub behind
    // it, so that the queue is never without a node.
    if (tail != head_.load()) {
      why = Empty::for_now;
      return nullptr;
    }
    push(&stub_);
    next = tail->qnext.load(std::memory_order_acquire);
    if (next == nullptr) {
      why = Empty::for_now;  // a producer came between the head and the stub
      return nullptr;
    }
    tail_ = next;
    return tail;
  }

  // Any thread: whether anything was pushed since the queue last ran
  // empty (after the last pop the head is the stub).  A hint to spin on;
  // pop() decides.
  bool maybe_nonempty() const {
    return head_.load(std::memory_order_relaxed) != &stub_;
  }

  // Consumer only: the node pop() would return next, if it is linked
  // already (for prefetching; may be null while jobs wait).
  const QueueNode* peek() const {
    return tail_ != &stub_ ? tail_ : tail_->qnext.load(std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<QueueNode*> head_;  // the node pushed last
  alignas(64) QueueNode* tail_;  // consumer's: the next to pop, or the stub
  QueueNode stub_;
};

}  // namespace offcopy::engine

#endif  // OFFCOPY_ENGINE_JOB_QUEUE_H_
