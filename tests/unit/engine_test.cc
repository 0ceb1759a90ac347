// offcopy::Engine: the three completion paths, per-destination errors,
// cancellation at random points, limits, progress and shutdown.
#include "offcopy/engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/open_engine.h"
#include "mech/context.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"

namespace offcopy {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

std::unique_ptr<Engine> open_engine(EngineOptions o = {}) {
  auto e = Engine::open(std::move(o));
  EXPECT_TRUE(e) << e.error().message();
  return e ? std::move(*e) : nullptr;
}

std::unique_ptr<Engine> open_engine(EngineOptions o, const mech::Context& ctx) {
  auto e = engine::EngineAccess::open(std::move(o), ctx);
  EXPECT_TRUE(e) << e.error().message();
  return e ? std::move(*e) : nullptr;
}

int open_or_die(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0) << path;
  return fd;
}

// Entries of /proc/self/fd (the directory's own fd included, always 1).
int count_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n - 2;  // "." and ".."
}

int64_t rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Blocks until `n` reaches `want` or 60 s pass.
void wait_for(const std::atomic<int>& n, int want) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (n.load() < want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
}

class EngineTest : public ::testing::Test {
 protected:
  testing::TempDir shm_{"/dev/shm"};
  testing::TempDir tmp_{::testing::TempDir()};
};

TEST_F(EngineTest, CallbackRunsOnAnEngineThreadOncePerJob) {
  const std::string data = testing::pattern(1 << 20, 1);
  testing::write_file(shm_.file("src"), data);
  auto engine = open_engine();
  ASSERT_TRUE(engine);
  std::promise<std::pair<Completion, std::thread::id>> got;
  std::atomic<int> calls{0};
  auto id = engine->submit(
      FileJob{shm_.file("src"), {shm_.file("a"), tmp_.file("b")}},
      [&](Completion c) {
        if (calls.fetch_add(1) == 0) got.set_value({std::move(c), std::this_thread::get_id()});
      });
  ASSERT_TRUE(id) << id.error().message();
  auto [c, thread] = got.get_future().get();
  EXPECT_NE(thread, std::this_thread::get_id());
  EXPECT_EQ(c.id, *id);
  ASSERT_EQ(c.results.size(), 2u);
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.results[0]->total_bytes(), 1 << 20);
  EXPECT_EQ(testing::read_file(shm_.file("a")), data);
  EXPECT_EQ(testing::read_file(tmp_.file("b")), data);
  engine.reset();
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(EngineTest, FutureCompletesARangeJobToTwoOffsets) {
  const std::string data = testing::pattern(300000, 2);
  testing::write_file(shm_.file("src"), data);
  auto engine = open_engine();
  ASSERT_TRUE(engine);
  const int src = open_or_die(shm_.file("src"), O_RDONLY);
  const int dst = open_or_die(shm_.file("dst"), O_RDWR | O_CREAT | O_TRUNC);
  auto job = engine->submit_future(
      RangeJob{src, 1000, 100000, {{dst, 0}, {dst, 200000}}, {}});
  ASSERT_TRUE(job) << job.error().message();
  Completion c = job->completion.get();
  EXPECT_EQ(c.id, job->id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(lseek(src, 0, SEEK_CUR), 0) << "file positions are left alone";
  const std::string out = testing::read_file(shm_.file("dst"));
  ASSERT_EQ(out.size(), 300000u);
  EXPECT_EQ(out.substr(0, 100000), data.substr(1000, 100000));
  EXPECT_EQ(out.substr(200000), data.substr(1000, 100000));
  ::close(src);
  ::close(dst);
}

TEST_F(EngineTest, EventfdIsReadableExactlyWhileCompletionsWait) {
  constexpr int kJobs = 20;
  const std::string data = testing::pattern(64 << 10, 3);
  testing::write_file(shm_.file("src"), data);
  auto engine = open_engine({.workers = 2, .max_jobs_in_flight = 4,
                             .on_full = OnFull::busy});
  ASSERT_TRUE(engine);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, engine->fd(), &ev), 0);
  epoll_event got{};
  EXPECT_EQ(epoll_wait(ep, &got, 1, 0), 0) << "readable with nothing to reap";
  std::set<JobId> pending, seen;
  int next = 0, busy = 0;
  while (next < kJobs || !pending.empty()) {
    for (; next < kJobs; ++next) {
      auto id = engine->submit(
          FileJob{shm_.file("src"), {shm_.file("d" + std::to_string(next))}});
      if (!id) {
        ASSERT_EQ(id.error().code, EBUSY) << id.error().message();
        ++busy;
        break;
      }
      pending.insert(*id);
    }
    ASSERT_EQ(epoll_wait(ep, &got, 1, 10000), 1) << "no completion in 10 s";
    for (Completion& c : engine->reap()) {
      EXPECT_TRUE(c.ok());
      EXPECT_EQ(pending.erase(c.id), 1u);
      EXPECT_TRUE(seen.insert(c.id).second) << "delivered twice";
    }
    // Reaped everything queued at that moment; only a completion that
    // arrived since may make it readable again.
    if (epoll_wait(ep, &got, 1, 0) == 1) {
      EXPECT_GT(engine->stats().jobs_in_flight, 0);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kJobs));
  EXPECT_GT(busy, 0) << "the busy path was never taken";
  EXPECT_TRUE(engine->reap().empty());
  EXPECT_EQ(epoll_wait(ep, &got, 1, 0), 0);
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(testing::read_file(shm_.file("d" + std::to_string(i))), data);
  }
  ::close(ep);
}

TEST_F(EngineTest, DestinationInAMissingDirectoryFailsOnlyItself) {
  const std::string data = testing::pattern(200000, 4);
  testing::write_file(shm_.file("src"), data);
  auto engine = open_engine();
  ASSERT_TRUE(engine);
  auto job = engine->submit_future(FileJob{
      shm_.file("src"), {shm_.file("a"), shm_.file("no/such/dir/b"), tmp_.file("c")}});
  ASSERT_TRUE(job);
  Completion c = job->completion.get();
  ASSERT_EQ(c.results.size(), 3u);
  EXPECT_FALSE(c.ok());
  ASSERT_TRUE(c.results[0]);
  ASSERT_FALSE(c.results[1]);
  EXPECT_EQ(c.results[1].error().code, ENOENT);
  EXPECT_EQ(c.results[1].error().role, Role::destination);
  ASSERT_TRUE(c.results[2]) << testing::describe(c.results[2].error());
  EXPECT_EQ(testing::read_file(shm_.file("a")), data);
  EXPECT_EQ(testing::read_file(tmp_.file("c")), data);
}

TEST_F(EngineTest, ReadOnlyDestinationFdFailsOnlyItself) {
  const std::string data = testing::pattern(100000, 5);
  testing::write_file(shm_.file("src"), data);
  testing::write_file(shm_.file("ro"), "");
  auto engine = open_engine();
  ASSERT_TRUE(engine);
  const int src = open_or_die(shm_.file("src"), O_RDONLY);
  const int a = open_or_die(shm_.file("a"), O_RDWR | O_CREAT | O_TRUNC);
  const int ro = open_or_die(shm_.file("ro"), O_RDONLY);
  const int b = open_or_die(tmp_.file("b"), O_RDWR | O_CREAT | O_TRUNC);
  auto job = engine->submit_future(RangeJob{src, 0, 0, {{a, 0}, {ro, 0}, {b, 0}},
                                            CopyFlags{.whole_file = true}});
  ASSERT_TRUE(job);
  Completion c = job->completion.get();
  ASSERT_EQ(c.results.size(), 3u);
  EXPECT_TRUE(c.results[0]);
  ASSERT_FALSE(c.results[1]);
  EXPECT_EQ(c.results[1].error().code, EBADF);
  EXPECT_TRUE(c.results[2]);
  EXPECT_EQ(testing::read_file(shm_.file("a")), data);
  EXPECT_EQ(testing::read_file(tmp_.file("b")), data);
  EXPECT_EQ(testing::read_file(shm_.file("ro")), "");
  for (int fd : {src, a, ro, b}) ::close(fd);
}

// The seam's faults are counted per Sys, not per file: with one worker the
// destinations run in order, so "the second copy_file_range" is the second
// destination's (each 64 KiB copy takes one call with a 1 MiB chunk).
TEST_F(EngineTest, InjectedEioInOneDestinationFailsOnlyItself) {
  const std::string data = testing::pattern(64 << 10, 6);
  testing::write_file(shm_.file("src"), data);
  sys::FaultSys fault;
  fault.add({.call = sys::Call::copy_file_range, .kind = sys::Fault::Kind::fail,
             .err = EIO, .first = 2, .times = 1});
  mech::ProbeCache probes;
  mech::Context ctx;
  ctx.sys = &fault;
  ctx.probes = &probes;
  ctx.tun.kernel_chunk = 1 << 20;
  auto engine = open_engine({.workers = 1}, ctx);
  ASSERT_TRUE(engine);
  auto job = engine->submit_future(
      FileJob{shm_.file("src"), {shm_.file("a"), shm_.file("b"), shm_.file("c")}});
  ASSERT_TRUE(job);
  Completion c = job->completion.get();
  ASSERT_EQ(c.results.size(), 3u);
  ASSERT_TRUE(c.results[0]) << testing::describe(c.results[0].error());
  ASSERT_FALSE(c.results[1]);
  EXPECT_EQ(c.results[1].error().code, EIO) << "EIO is terminal: no fallback";
  ASSERT_TRUE(c.results[2]) << testing::describe(c.results[2].error());
  EXPECT_EQ(testing::read_file(shm_.file("a")), data);
  EXPECT_EQ(testing::read_file(shm_.file("c")), data);
  EXPECT_NE(access(shm_.file("b").c_str(), F_OK), 0) << "a created, failed copy is removed";
}

TEST_F(EngineTest, MalformedJobsAndOptionsAreEinval) {
  EXPECT_EQ(Engine::open({.workers = 0}).error().code, EINVAL);
  EXPECT_EQ(Engine::open({.max_jobs_in_flight = 0}).error().code, EINVAL);
  auto engine = open_engine();
  ASSERT_TRUE(engine);
  EXPECT_EQ(engine->submit(FileJob{"x", {}}).error().code, EINVAL);
  EXPECT_EQ(engine->submit(FileJob{"", {"y"}}).error().code, EINVAL);
  EXPECT_EQ(engine->submit(RangeJob{-1, 0, 1, {{1, 0}}}).error().code, EINVAL);
  EXPECT_EQ(engine->submit(RangeJob{0, 0, -1, {{1, 0}}}).error().code, EINVAL);
  EXPECT_EQ(engine->stats().jobs_in_flight, 0);
}

TEST_F(EngineTest, BusyWhenJobsOrBytesAreAtTheLimit) {
  testing::write_file(shm_.file("src"), testing::pattern(1 << 20, 7));
  auto engine = open_engine({.max_jobs_in_flight = 2, .max_bytes_in_flight = 1 << 20,
                             .on_full = OnFull::busy});
  ASSERT_TRUE(engine);
  const int src = open_or_die(shm_.file("src"), O_RDONLY);
  const int dst = open_or_die(shm_.file("dst"), O_RDWR | O_CREAT | O_TRUNC);
  // Poll-mode jobs hold their slots until reaped, finished or not.
  ASSERT_TRUE(engine->submit(RangeJob{src, 0, 768 << 10, {{dst, 0}}}));
  auto busy = engine->submit(RangeJob{src, 0, 512 << 10, {{dst, 0}}});
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, EBUSY) << "bytes limit";
  ASSERT_TRUE(engine->submit(RangeJob{src, 0, 256 << 10, {{dst, 0}}}));
  busy = engine->submit(RangeJob{src, 0, 1, {{dst, 0}}});
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, EBUSY) << "jobs limit";
  EXPECT_EQ(engine->stats().jobs_in_flight, 2);
  size_t reaped = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (reaped < 2 && std::chrono::steady_clock::now() < deadline) {
    reaped += engine->reap().size();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(reaped, 2u);
  EXPECT_EQ(engine->stats().jobs_in_flight, 0);
  // Larger than the byte limit: admitted when alone.
  auto big = engine->submit_future(RangeJob{src, 0, 2 << 20, {{dst, 0}}});
  ASSERT_TRUE(big);
  EXPECT_TRUE(big->completion.get().ok());
  ::close(src);
  ::close(dst);
}

TEST_F(EngineTest, CancelOfAFinishedOrUnknownJobIsHarmless) {
  testing::write_file(shm_.file("src"), testing::pattern(4096, 8));
  auto engine = open_engine();
  ASSERT_TRUE(engine);
  EXPECT_FALSE(engine->cancel(12345));
  EXPECT_FALSE(engine->progress(12345));
  auto job = engine->submit_future(FileJob{shm_.file("src"), {shm_.file("d")}});
  ASSERT_TRUE(job);
  EXPECT_TRUE(job->completion.get().ok());
  EXPECT_FALSE(engine->cancel(job->id));
  EXPECT_FALSE(engine->progress(job->id));
  EXPECT_EQ(engine->stats().completed, 1);
}

TEST_F(EngineTest, ProgressSnapshotsAndCoalescedObserver) {
  constexpr int64_t kSize = 32 << 20;
  testing::write_file(shm_.file("src"), testing::pattern(kSize, 9));
  mech::ProbeCache probes;
  mech::Context ctx;
  ctx.probes = &probes;
  ctx.tun.rw_buffer = 64 << 10;
  ctx.tun.uring_min = 1ll << 40;  // read/write: many small chunks
  ctx.tun.splice_min = 1ll << 40;
  std::mutex mu;
  std::vector<Progress> updates;  // guarded by mu
  constexpr auto kInterval = 5ms;
  auto engine = open_engine({.workers = 1,
                             .on_progress = [&](JobId, const Progress& p) {
                               std::lock_guard lk(mu);
                               updates.push_back(p);
                             },
                             .progress_interval = kInterval},
                            ctx);
  ASSERT_TRUE(engine);
  const auto start = std::chrono::steady_clock::now();
  auto job = engine->submit_future(
      FileJob{shm_.file("src"), {shm_.file("a"), shm_.file("b")},
              FileOptions{.flags = {.whole_file = true, .reflink = Reflink::never}}});
  ASSERT_TRUE(job);
  int64_t last = 0;
  while (auto p = engine->progress(job->id)) {
    EXPECT_GE(p->bytes_done, last);
    last = p->bytes_done;
    if (p->bytes_total >= 0) {
      EXPECT_EQ(p->bytes_total, 2 * kSize);
    }
    if (p->mechanism) {
      EXPECT_EQ(*p->mechanism, Mechanism::read_write);
    }
    std::this_thread::sleep_for(100us);
  }
  ASSERT_TRUE(job->completion.get().ok());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::lock_guard lk(mu);
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().bytes_done, 2 * kSize) << "the final update";
  EXPECT_EQ(updates.back().bytes_total, 2 * kSize);
  EXPECT_LE(static_cast<int64_t>(updates.size()), elapsed / kInterval + 1);
  for (size_t i = 1; i < updates.size(); ++i) {
    EXPECT_GE(updates[i].bytes_done, updates[i - 1].bytes_done);
  }
}

// Cancel at random points of a 64 MiB copy on /dev/shm, on each host rung:
// the destination's first bytes_done bytes are the source's, and nothing
// changes in the destination once the completion has been delivered.
struct Rung {
  const char* name;
  Reflink reflink;
  int64_t uring_min;
  int64_t splice_min;
  Mechanism mech;  // the rung an uncancelled copy must use
};

class EngineCancelTest : public ::testing::TestWithParam<Rung> {};

TEST_P(EngineCancelTest, RandomCancelsKeepAnExactPrefixAndStopWriting) {
  const int64_t kSize = kTsan ? 16 << 20 : 64 << 20;
  constexpr int kIterations = 70;  // x 4 rungs
  testing::TempDir dir("/dev/shm");
  const std::string data = testing::pattern(kSize, 10);
  testing::write_file(dir.file("src"), data);
  mech::ProbeCache probes;
  mech::Context ctx;
  ctx.probes = &probes;
  ctx.tun.kernel_chunk = 1 << 20;
  ctx.tun.uring_buffer = 256 << 10;
  ctx.tun.rw_buffer = 256 << 10;
  ctx.tun.uring_min = GetParam().uring_min;
  ctx.tun.splice_min = GetParam().splice_min;
  ctx.tun.splice_pipe = 256 << 10;
  auto engine = open_engine({.workers = 1}, ctx);
  ASSERT_TRUE(engine);
  const int src = open_or_die(dir.file("src"), O_RDONLY);
  const CopyFlags flags{.reflink = GetParam().reflink};
  std::string out(kSize, '\0');  // reused: one 64 MiB buffer, no regrowth
  std::chrono::microseconds copy_time{0};
  // Copies with a cancel after `delay` (none if negative); checks the
  // prefix and that the destination stays as the completion left it.
  auto copy_once = [&](std::chrono::microseconds delay) -> int64_t {
    const int dst = open_or_die(dir.file("dst"), O_RDWR | O_CREAT | O_TRUNC);
    const auto t0 = std::chrono::steady_clock::now();
    auto job = engine->submit_future(RangeJob{src, 0, kSize, {{dst, 0}}, flags});
    EXPECT_TRUE(job);
    if (!job) return -1;
    if (delay.count() >= 0) {
      std::this_thread::sleep_for(delay);
      engine->cancel(job->id);
    }
    Completion c = job->completion.get();
    copy_time = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    struct stat at_completion {}, later {};
    EXPECT_EQ(fstat(dst, &at_completion), 0);
    const Result<Report>& r = c.results.at(0);
    if (!r) {
      EXPECT_EQ(r.error().code, ECANCELED) << r.error().message();
    } else {
      EXPECT_EQ(r->bytes(GetParam().mech), r->total_bytes()) << testing::describe(*r);
    }
    const int64_t done = r ? r->total_bytes() : r.error().bytes_done;
    EXPECT_GE(at_completion.st_size, done);
    EXPECT_EQ(pread(dst, out.data(), done, 0), done);
    EXPECT_EQ(memcmp(out.data(), data.data(), done), 0) << "prefix of " << done;
    std::this_thread::sleep_for(200us);
    EXPECT_EQ(fstat(dst, &later), 0);
    EXPECT_EQ(later.st_size, at_completion.st_size) << "written after the completion";
    EXPECT_EQ(later.st_mtim.tv_nsec, at_completion.st_mtim.tv_nsec)
        << "written after the completion";
    EXPECT_EQ(later.st_mtim.tv_sec, at_completion.st_mtim.tv_sec);
    ::close(dst);
    return done;
  };
  // Cancel points are drawn over the quicker of two uncancelled copies, so
  // most of them land inside the copy.
  ASSERT_EQ(copy_once(-1us), kSize);
  auto full = copy_time;
  ASSERT_EQ(copy_once(-1us), kSize);
  full = std::min(full, copy_time);
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int64_t> pick(0, full.count());
  int partial = 0;
  for (int i = 0; i < kIterations && !HasFailure(); ++i) {
    const int64_t done = copy_once(std::chrono::microseconds(pick(rng)));
    partial += done > 0 && done < kSize;
  }
  EXPECT_GT(partial, kIterations / 4) << "full copy took " << full.count() << " us";
  ::close(src);
}

INSTANTIATE_TEST_SUITE_P(
    Engine, EngineCancelTest,
    ::testing::Values(
        Rung{"kernel_copy", Reflink::auto_, 1ll << 40, 1ll << 40, Mechanism::kernel_copy},
        Rung{"splice", Reflink::never, 1ll << 40, 0, Mechanism::splice},
        Rung{"uring", Reflink::never, 0, 1ll << 40, Mechanism::uring},
        Rung{"read_write", Reflink::never, 1ll << 40, 1ll << 40, Mechanism::read_write}),
    [](const auto& info) { return std::string(info.param.name); });

// 10,000 4 KiB jobs submitted at once (blocking when full): each completes
// exactly once, the in-flight count never passes the limit, and descriptors
// stay bounded.  Whole-file jobs open their two files only while a worker
// copies them, so at most 2 * min(workers, max_jobs_in_flight) descriptors
// are the engine's at any time, plus its eventfd.
TEST_F(EngineTest, TenThousandSmallJobsCompleteOnceWithBoundedResources) {
  constexpr int kJobs = 10000, kSources = 100, kWorkers = 2, kMaxJobs = 64;
  std::vector<std::string> sources;
  for (int i = 0; i < kSources; ++i) {
    sources.push_back(testing::pattern(4096, 100 + i));
    testing::write_file(shm_.file("s" + std::to_string(i)), sources.back());
  }
  const int base_fds = count_fds();
  const int64_t base_rss = rss_kib();
  std::atomic<bool> stop{false};
  std::atomic<int> max_fds{0};
  std::atomic<int64_t> max_rss{0};
  std::thread sampler([&] {
    while (!stop.load()) {
      max_fds.store(std::max(max_fds.load(), count_fds()));
      max_rss.store(std::max(max_rss.load(), rss_kib()));
      std::this_thread::sleep_for(200us);
    }
  });
  std::vector<std::atomic<int>> calls(kJobs);
  std::vector<JobId> submitted(kJobs), delivered(kJobs);
  std::vector<char> ok(kJobs);
  std::atomic<int> done{0};
  auto engine = open_engine({.workers = kWorkers, .max_jobs_in_flight = kMaxJobs});
  ASSERT_TRUE(engine);
  for (int i = 0; i < kJobs; ++i) {
    auto id = engine->submit(
        FileJob{shm_.file("s" + std::to_string(i % kSources)),
                {shm_.file("d" + std::to_string(i))}},
        [&, i](Completion c) {
          delivered[i] = c.id;
          ok[i] = c.ok();
          calls[i].fetch_add(1);
          done.fetch_add(1);
        });
    ASSERT_TRUE(id) << id.error().message();
    submitted[i] = *id;
  }
  wait_for(done, kJobs);
  const EngineStats stats = engine->stats();
  engine.reset();
  stop.store(true);
  sampler.join();
  EXPECT_EQ(done.load(), kJobs);
  EXPECT_EQ(stats.completed, kJobs);
  EXPECT_LE(stats.peak_jobs_in_flight, kMaxJobs);
  EXPECT_EQ(stats.jobs_in_flight, 0);
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_EQ(calls[i].load(), 1) << "job " << i;
    ASSERT_EQ(delivered[i], submitted[i]);
    ASSERT_TRUE(ok[i]);
    ASSERT_EQ(testing::read_file(shm_.file("d" + std::to_string(i))), sources[i % kSources]);
  }
  const int fd_bound = base_fds + 1 + 2 * std::min(kWorkers, kMaxJobs);
  EXPECT_LE(max_fds.load(), fd_bound) << "baseline " << base_fds;
  // The jobs' state is ~1 KiB each at most; 64 in flight.  TSan's shadow
  // memory makes RSS meaningless there, and so does ASan's quarantine,
  // which keeps freed blocks resident (up to 256 MiB) to catch their reuse.
  if (!kTsan && !kAsan) {
    EXPECT_LT(max_rss.load() - base_rss, 32 * 1024) << "KiB";
  }
}

TEST_F(EngineTest, DrainOnDestructionCompletesEverything) {
  constexpr int kJobs = 200;
  const std::string data = testing::pattern(64 << 10, 11);
  testing::write_file(shm_.file("src"), data);
  std::atomic<int> ok{0}, calls{0};
  {
    auto engine = open_engine({.workers = 1, .shutdown = OnShutdown::drain});
    ASSERT_TRUE(engine);
    for (int i = 0; i < kJobs; ++i) {
      ASSERT_TRUE(engine->submit(FileJob{shm_.file("src"), {shm_.file(std::to_string(i))}},
                                 [&](Completion c) {
                                   ok.fetch_add(c.ok());
                                   calls.fetch_add(1);
                                 }));
    }
  }
  EXPECT_EQ(calls.load(), kJobs);
  EXPECT_EQ(ok.load(), kJobs);
  EXPECT_EQ(testing::read_file(shm_.file(std::to_string(kJobs - 1))), data);
}

TEST_F(EngineTest, CancelOnDestructionLeavesNoCallbackAfterReturn) {
  constexpr int kJobs = 50;
  testing::write_file(shm_.file("src"), testing::pattern(8 << 20, 12));
  mech::ProbeCache probes;
  mech::Context ctx;
  ctx.probes = &probes;
  ctx.tun.kernel_chunk = 256 << 10;
  std::atomic<bool> destroyed{false};
  std::atomic<int> calls{0}, cancelled{0}, late{0};
  auto engine = open_engine({.workers = 2}, ctx);
  ASSERT_TRUE(engine);
  std::vector<std::future<Completion>> futures;
  for (int i = 0; i < kJobs; ++i) {
    const FileJob job{shm_.file("src"), {shm_.file(std::to_string(i))}};
    ASSERT_TRUE(engine->submit(job, [&](Completion c) {
      std::this_thread::sleep_for(1ms);  // widen the window for a late call
      late.fetch_add(destroyed.load());
      cancelled.fetch_add(c.cancelled());
      calls.fetch_add(1);
    }));
    auto f = engine->submit_future(job);
    ASSERT_TRUE(f);
    futures.push_back(std::move(f->completion));
  }
  engine.reset();
  destroyed.store(true);
  EXPECT_EQ(calls.load(), kJobs);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), kJobs);
  EXPECT_EQ(late.load(), 0);
  EXPECT_GT(cancelled.load(), kJobs / 2);
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(0s), std::future_status::ready);
  }
}

TEST_F(EngineTest, EpollCopyExampleCopiesFiles) {
  std::string args;
  for (int i = 0; i < 9; ++i) {
    const std::string src = shm_.file("s" + std::to_string(i));
    testing::write_file(src, testing::pattern(1000 * (i + 1) * (i + 1), 20 + i));
    args += " " + src + " " + (i % 2 ? tmp_.file("d") : shm_.file("d")) + std::to_string(i);
  }
  const std::string cmd = std::string(OFFCOPY_EPOLL_COPY) + args + " > " +
                          tmp_.file("out") + " 2>&1";
  const int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << testing::read_file(tmp_.file("out"));
  for (int i = 0; i < 9; ++i) {
    const std::string dst = (i % 2 ? tmp_.file("d") : shm_.file("d")) + std::to_string(i);
    EXPECT_EQ(testing::read_file(dst), testing::read_file(shm_.file("s" + std::to_string(i))));
  }
  const std::string bad = std::string(OFFCOPY_EPOLL_COPY) + " " + shm_.file("s0") + " " +
                          shm_.file("missing/dir") + " > /dev/null 2>&1";
  const int st2 = std::system(bad.c_str());
  ASSERT_TRUE(WIFEXITED(st2));
  EXPECT_EQ(WEXITSTATUS(st2), 1);
}

// The bandwidth cap (max_bytes_per_second).  Bounds are loose on purpose:
// the lower ones follow from the token bucket (it starts empty), the upper
// ones only guard against "never finishes" on a loaded machine.
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST_F(EngineTest, BandwidthCapSlowsCopiesAndUncappedIsFast) {
  EXPECT_EQ(Engine::open({.max_bytes_per_second = -1}).error().code, EINVAL);
  const std::string data = testing::pattern(8 << 20, 21);
  testing::write_file(shm_.file("src"), data);
  {
    auto engine = open_engine({.workers = 1});
    ASSERT_TRUE(engine);
    const auto t0 = std::chrono::steady_clock::now();
    auto job = engine->submit_future(FileJob{shm_.file("src"), {shm_.file("fast")}});
    ASSERT_TRUE(job);
    EXPECT_TRUE(job->completion.get().ok());
    EXPECT_LT(seconds_since(t0), 0.4) << "uncapped 8 MiB on tmpfs";
  }
  auto engine = open_engine({.workers = 1, .max_bytes_per_second = 16 << 20});
  ASSERT_TRUE(engine);
  const auto t0 = std::chrono::steady_clock::now();
  auto job = engine->submit_future(FileJob{shm_.file("src"), {shm_.file("capped")}});
  ASSERT_TRUE(job);
  Completion c = job->completion.get();
  const double took = seconds_since(t0);
  ASSERT_TRUE(c.ok()) << testing::describe(c.results[0].error());
  EXPECT_GE(took, 0.45) << "8 MiB at 16 MiB/s";
  EXPECT_LT(took, 2.0);
  EXPECT_EQ(testing::read_file(shm_.file("capped")), data);
}

// The bucket is shared: two workers copying 4 MiB each at once still take
// ~8 MiB / 16 MiB/s; and a job of one small file is charged too (its copy
// is a single chunk, with no progress call in between).
TEST_F(EngineTest, BandwidthCapIsSharedByWorkersAndCoversSmallFiles) {
  const std::string big = testing::pattern(4 << 20, 22);
  testing::write_file(shm_.file("big"), big);
  auto engine = open_engine({.workers = 2, .max_bytes_per_second = 16 << 20});
  ASSERT_TRUE(engine);
  auto t0 = std::chrono::steady_clock::now();
  auto a = engine->submit_future(FileJob{shm_.file("big"), {shm_.file("a")}});
  auto b = engine->submit_future(FileJob{shm_.file("big"), {shm_.file("b")}});
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->completion.get().ok());
  EXPECT_TRUE(b->completion.get().ok());
  double took = seconds_since(t0);
  EXPECT_GE(took, 0.45) << "2 x 4 MiB at 16 MiB/s over two workers";
  EXPECT_LT(took, 2.0);
  EXPECT_EQ(testing::read_file(shm_.file("b")), big);
  // 64 files of 64 KiB = 4 MiB: ~0.25 s at the cap.
  testing::write_file(shm_.file("small"), testing::pattern(64 << 10, 23));
  std::atomic<int> done{0};
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(engine->submit(
        FileJob{shm_.file("small"), {shm_.file("s" + std::to_string(i))}},
        [&done](Completion c) { done.fetch_add(c.ok() ? 1 : 1000); }));
  }
  wait_for(done, 64);
  took = seconds_since(t0);
  EXPECT_EQ(done.load(), 64);
  EXPECT_GE(took, 0.2) << "64 x 64 KiB at 16 MiB/s";
  EXPECT_LT(took, 2.0);
}

// A throttled worker spends nearly all its time asleep; a cancel must wake
// it and land within about one chunk (64 KiB at 1 MiB/s) plus one sleep
// slice, leaving an exact prefix and nothing written afterwards.
TEST_F(EngineTest, CancelIsPromptWhileThrottled) {
  constexpr int64_t kSize = 8 << 20;  // 8 s at the cap
  const std::string data = testing::pattern(kSize, 24);
  testing::write_file(shm_.file("src"), data);
  auto engine = open_engine({.workers = 1, .max_bytes_per_second = 1 << 20});
  ASSERT_TRUE(engine);
  const int src = open_or_die(shm_.file("src"), O_RDONLY);
  const int dst = open_or_die(shm_.file("dst"), O_RDWR | O_CREAT | O_TRUNC);
  auto job = engine->submit_future(RangeJob{src, 0, kSize, {{dst, 0}}, {}});
  ASSERT_TRUE(job);
  std::this_thread::sleep_for(300ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(engine->cancel(job->id));
  Completion c = job->completion.get();
  EXPECT_LT(seconds_since(t0), 0.5) << "cancel while throttled";
  ASSERT_EQ(c.results.size(), 1u);
  ASSERT_FALSE(c.results[0]);
  EXPECT_EQ(c.results[0].error().code, ECANCELED);
  const int64_t done = c.results[0].error().bytes_done;
  EXPECT_GT(done, 0);
  EXPECT_LT(done, kSize / 4) << "about 0.3 s worth at 1 MiB/s";
  struct stat at_completion {}, later {};
  ASSERT_EQ(fstat(dst, &at_completion), 0);
  std::string out(done, '\0');
  EXPECT_EQ(pread(dst, out.data(), done, 0), done);
  EXPECT_EQ(out, data.substr(0, done));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(fstat(dst, &later), 0);
  EXPECT_EQ(later.st_size, at_completion.st_size) << "written after the completion";
  // Destroying a throttled engine (OnShutdown::cancel) is prompt too.
  auto job2 = engine->submit_future(RangeJob{src, 0, kSize, {{dst, 0}}, {}});
  ASSERT_TRUE(job2);
  std::this_thread::sleep_for(100ms);
  const auto t1 = std::chrono::steady_clock::now();
  engine.reset();
  EXPECT_LT(seconds_since(t1), 0.5) << "destructor while throttled";
  EXPECT_TRUE(job2->completion.get().cancelled());
  ::close(src);
  ::close(dst);
}

}  // namespace
}  // namespace offcopy
