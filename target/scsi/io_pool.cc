#include "scsi/io_pool.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace offcopy::scsi {

struct IoPool::Impl {
  std::mutex mu;
  std::condition_variable ready;
  std::deque<std::function<void()>> queue;  // guarded by mu
  bool stopping = false;                    // guarded by mu
  std::vector<std::thread> threads;

  void run() {
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock lock(mu);
        ready.wait(lock, [&] { return stopping || !queue.empty(); });
        // Stopping still drains the queue: every posted command completes.
        if (queue.empty()) return;
        work = std::move(queue.front());
        queue.pop_front();
      }
      work();
    }
  }
};

IoPool::IoPool(unsigned threads) : impl_(std::make_unique<Impl>()) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->run(); });
}

IoPool::~IoPool() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->ready.notify_all();
  for (std::thread& t : impl_->threads) t.join();
}

void IoPool::post(std::function<void()> work) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->queue.push_back(std::move(work));
  }
  impl_->ready.notify_one();
}

}  // namespace offcopy::scsi
