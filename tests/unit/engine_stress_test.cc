// The scheduler under concurrency: its job queue on its own (many
// producers, one consumer at a time), then the whole engine with several
// submitter threads, workers, a reaper and a thread cancelling and asking
// for progress at random, under tight limits.  Both run under
// ThreadSanitizer in CI (scripts/test-sanitizers.sh runs Engine*).
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/job_queue.h"
#include "offcopy/engine.h"
#include "support/test_files.h"

namespace offcopy {
namespace {

using namespace std::chrono_literals;
using engine::JobQueue;
using engine::QueueNode;

struct Item : QueueNode {
  int producer = 0;
  int seq = 0;
};

// Producers push while consumers, serialized by a mutex as the scheduler
// serializes its workers, pop; every item comes out exactly once and each
// producer's items in the order pushed.  Items are pushed again once
// popped, as the scheduler reuses its slots.
TEST(EngineJobQueueTest, ManyProducersEachItemOnceInOrder) {
  constexpr int kProducers = 4, kItems = 20000, kReuse = 64;
  JobQueue q;
  std::vector<std::vector<Item>> items(kProducers);
  for (auto& v : items) v = std::vector<Item>(kReuse);
  // A producer reuses item k only after the consumer has returned it.
  std::vector<std::vector<std::atomic<bool>>> out(kProducers);
  for (auto& v : out) v = std::vector<std::atomic<bool>>(kReuse);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kItems; ++i) {
        Item& it = items[p][i % kReuse];
        while (out[p][i % kReuse].load(std::memory_order_acquire)) std::this_thread::yield();
        it.producer = p;
        it.seq = i;
        out[p][i % kReuse].store(true, std::memory_order_relaxed);
        q.push(&it);
      }
    });
  }
  std::mutex consumer_mu;
  std::vector<int> next_seq(kProducers, 0);
  std::atomic<int> popped{0};
  std::atomic<bool> bad{false};
  auto consume = [&] {
    while (popped.load() < kProducers * kItems) {
      std::lock_guard lk(consumer_mu);
      JobQueue::Empty why;
      QueueNode* n = q.pop(why);
      if (n == nullptr) continue;
      auto* it = static_cast<Item*>(n);
      if (it->seq != next_seq[it->producer]) bad.store(true);
      next_seq[it->producer] = it->seq + 1;
      out[it->producer][it->seq % kReuse].store(false, std::memory_order_release);
      popped.fetch_add(1);
    }
  };
  std::thread c1(consume), c2(consume);
  for (auto& t : producers) t.join();
  c1.join();
  c2.join();
  EXPECT_FALSE(bad.load()) << "an item came out twice or out of order";
  EXPECT_EQ(popped.load(), kProducers * kItems);
  JobQueue::Empty why;
  EXPECT_EQ(q.pop(why), nullptr);
  EXPECT_EQ(why, JobQueue::Empty::yes);
  EXPECT_FALSE(q.maybe_nonempty());
}

class EngineStressTest : public ::testing::Test {
 protected:
  testing::TempDir shm_{"/dev/shm"};
};

// What one job ended as, as seen by whoever received its completion.
struct Seen {
  std::mutex mu;
  std::map<JobId, int> deliveries;
  int ok = 0, cancelled = 0, other = 0;

  void add(const Completion& c) {
    std::lock_guard lk(mu);
    ++deliveries[c.id];
    if (c.ok()) {
      ++ok;
    } else if (c.cancelled() && c.results[0].error().bytes_done <= 4096) {
      ++cancelled;
    } else {
      ++other;
    }
  }
};

// Four submitters (callback, future and poll jobs mixed) against three
// workers with room for eight jobs, blocking when full; a reaper drains
// the poll-mode completions, a fourth thread cancels and asks progress of
// random recent ids.  Every admitted job completes exactly once, the limit
// holds, nothing is left in flight, and the copies are right.
TEST_F(EngineStressTest, SubmittersWorkersCancelsAndReapsKeepEveryInvariant) {
  constexpr int kSubmitters = 4, kJobsEach = 1500, kMaxJobs = 8;
  constexpr int64_t kBlock = 4096, kBlocks = 16;
  const std::string data = testing::pattern(kBlock * kBlocks, 21);
  testing::write_file(shm_.file("src"), data);
  const int src = ::open(shm_.file("src").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(src, 0);
  std::vector<int> dst(kSubmitters);
  for (int s = 0; s < kSubmitters; ++s) {
    dst[s] = ::open(shm_.file("d" + std::to_string(s)).c_str(),
                    O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(dst[s], 0);
  }
  auto opened = Engine::open({.workers = 3, .max_jobs_in_flight = kMaxJobs});
  ASSERT_TRUE(opened) << opened.error().message();
  Engine& engine = **opened;

  Seen seen;
  std::mutex ids_mu;
  std::vector<JobId> ids;  // every id submit returned
  std::atomic<int> polled_submitted{0}, submitters_done{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubmitters; ++s) {
    threads.emplace_back([&, s] {
      std::vector<std::future<Completion>> futures;
      for (int i = 0; i < kJobsEach; ++i) {
        const int64_t off = (i % kBlocks) * kBlock;
        RangeJob job{src, off, kBlock, {{dst[s], off}}, {}};
        Result<JobId> id = Error{};
        switch (i % 3) {
          case 0:
            id = engine.submit(job, [&seen](Completion c) { seen.add(c); });
            break;
          case 1: {
            auto f = engine.submit_future(job);
            if (f) {
              id = f->id;
              futures.push_back(std::move(f->completion));
            }
            break;
          }
          default:
            id = engine.submit(job);
            if (id) polled_submitted.fetch_add(1);
        }
        ASSERT_TRUE(id) << id.error().message();
        std::lock_guard lk(ids_mu);
        ids.push_back(*id);
      }
      for (auto& f : futures) seen.add(f.get());
      submitters_done.fetch_add(1);
    });
  }
  std::atomic<int> reaped{0};
  std::thread reaper([&] {
    while (submitters_done.load() < kSubmitters || reaped.load() < polled_submitted.load()) {
      struct pollfd p {engine.fd(), POLLIN, 0};
      ::poll(&p, 1, 10);
      for (const Completion& c : engine.reap()) {
        seen.add(c);
        reaped.fetch_add(1);
      }
    }
  });
  std::atomic<bool> stop{false};
  std::atomic<int> cancels{0};
  std::thread canceller([&] {
    std::mt19937_64 rng(7);
    while (!stop.load()) {
      JobId id = 0;
      {
        std::lock_guard lk(ids_mu);
        if (!ids.empty()) id = ids[ids.size() - 1 - rng() % std::min<size_t>(ids.size(), 16)];
      }
      if (id != 0 && rng() % 4 == 0 && engine.cancel(id)) cancels.fetch_add(1);
      if (id != 0) (void)engine.progress(id);
      if (rng() % 64 == 0) std::this_thread::sleep_for(50us);
    }
  });
  for (auto& t : threads) t.join();
  reaper.join();
  stop.store(true);
  canceller.join();

  const int total = kSubmitters * kJobsEach;
  EXPECT_EQ(std::set<JobId>(ids.begin(), ids.end()).size(), static_cast<size_t>(total))
      << "an id was handed out twice";
  EXPECT_EQ(seen.deliveries.size(), static_cast<size_t>(total));
  for (const auto& [id, n] : seen.deliveries) ASSERT_EQ(n, 1) << "job " << id;
  EXPECT_EQ(seen.other, 0);
  EXPECT_EQ(seen.ok + seen.cancelled, total);
  EXPECT_GT(seen.ok, 0);
  const EngineStats st = engine.stats();
  EXPECT_EQ(st.jobs_in_flight, 0);
  EXPECT_EQ(st.bytes_in_flight, 0);
  EXPECT_EQ(st.completed, total);
  EXPECT_LE(st.peak_jobs_in_flight, kMaxJobs);
  EXPECT_GT(st.peak_jobs_in_flight, 1);
  EXPECT_FALSE(engine.cancel(ids.back()));
  // Every job wrote the same bytes at its offset; a cancelled one a prefix.
  for (int s = 0; s < kSubmitters; ++s) {
    EXPECT_EQ(testing::read_file(shm_.file("d" + std::to_string(s))), data) << "dst " << s;
  }
  std::printf("%d jobs: %d ok, %d cancelled (%d cancel calls took), peak %lld in flight\n",
              total, seen.ok, seen.cancelled, cancels.load(),
              static_cast<long long>(st.peak_jobs_in_flight));
  opened->reset();
  ::close(src);
  for (int fd : dst) ::close(fd);
}

// Submitters racing for the last slots under OnFull::busy: some are told
// EBUSY, none is admitted beyond the limit, and every admitted job ends.
TEST_F(EngineStressTest, BusySubmittersNeverOvershootTheLimit) {
  constexpr int kSubmitters = 3, kAdmitEach = 300, kMaxJobs = 2;
  const std::string data = testing::pattern(8192, 22);
  testing::write_file(shm_.file("src"), data);
  const int src = ::open(shm_.file("src").c_str(), O_RDONLY | O_CLOEXEC);
  const int dst = ::open(shm_.file("dst").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(src, 0);
  ASSERT_GE(dst, 0);
  auto opened = Engine::open(
      {.workers = 2, .max_jobs_in_flight = kMaxJobs, .on_full = OnFull::busy});
  ASSERT_TRUE(opened);
  Engine& engine = **opened;
  std::atomic<int> admitted{0}, busy{0}, done{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubmitters; ++s) {
    threads.emplace_back([&] {
      // Until this thread got its share in, however the workers' wake-ups
      // are timed (a try takes well under a microsecond).
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      for (int mine = 0; mine < kAdmitEach && std::chrono::steady_clock::now() < deadline;) {
        auto id = engine.submit(RangeJob{src, 0, 8192, {{dst, 0}}, {}},
                                [&done](Completion c) {
                                  EXPECT_TRUE(c.ok());
                                  done.fetch_add(1);
                                });
        if (id) {
          admitted.fetch_add(1);
          ++mine;
        } else {
          ASSERT_EQ(id.error().code, EBUSY);
          busy.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (done.load() < admitted.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(done.load(), admitted.load());
  EXPECT_GT(busy.load(), 0);
  EXPECT_EQ(admitted.load(), kSubmitters * kAdmitEach);
  std::printf("%d admitted, %d told EBUSY\n", admitted.load(), busy.load());
  EXPECT_LE(engine.stats().peak_jobs_in_flight, kMaxJobs);
  EXPECT_EQ(engine.stats().jobs_in_flight, 0);
  opened->reset();
  ::close(src);
  ::close(dst);
}


// set_workers adds a thread that takes queued jobs while every other
// worker is busy: the one worker here is stuck reading a FIFO nobody
// writes, so the second job runs only if a new worker exists.
TEST_F(EngineStressTest, SetWorkersStartsMoreWhileOthersAreBusy) {
  const std::string fifo = shm_.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  testing::write_file(shm_.file("src"), testing::pattern(4096, 23));
  auto opened = Engine::open({.workers = 1});
  ASSERT_TRUE(opened);
  Engine& engine = **opened;
  EXPECT_EQ(engine.set_workers(0).error().code, EINVAL);
  EXPECT_EQ(engine.set_workers(kMaxWorkers + 1).error().code, EINVAL);
  auto stuck = engine.submit_future(FileJob{fifo, {shm_.file("from-fifo")}, {}});
  ASSERT_TRUE(stuck);
  // Jobs start in order: the second waits behind the first's worker.
  auto queued = engine.submit_future(FileJob{shm_.file("src"), {shm_.file("dst")}, {}});
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->completion.wait_for(300ms), std::future_status::timeout)
      << "with one worker blocked, nothing else should run";
  ASSERT_TRUE(engine.set_workers(2));
  ASSERT_EQ(queued->completion.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(queued->completion.get().ok());
  EXPECT_TRUE(engine.set_workers(1)) << "never fewer: not an error";
  EXPECT_TRUE(engine.cancel(stuck->id));
  EXPECT_TRUE(stuck->completion.get().cancelled());
}

}  // namespace
}  // namespace offcopy
