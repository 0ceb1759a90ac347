// The C API (offcopy/offcopy.h), exercised from C++: synchronous copies with
// copy_file_range's offset semantics, reports and -errno returns, and the
// engine (submit, fd, reap with batches, cancel, progress, free), and its
// completion and progress callbacks.
#include "offcopy/offcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_files.h"

namespace offcopy {
namespace {

using testing::pattern;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

int64_t sum(const offcopy_report& r) {
  int64_t s = 0;
  for (int64_t b : r.bytes_by) s += b;
  return s;
}

// Waits (up to 10 s) for the engine's fd to become readable.
bool wait_readable(offcopy_engine* e) {
  pollfd p{offcopy_engine_fd(e), POLLIN, 0};
  return ::poll(&p, 1, 10000) == 1 && (p.revents & POLLIN);
}

// Polls and reaps until `n` completions arrived (or 10 s passed).
std::vector<offcopy_completion> reap_n(offcopy_engine* e, size_t n) {
  std::vector<offcopy_completion> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    if (!wait_readable(e)) continue;
    offcopy_completion batch[4] = {};
    int k;
    while ((k = offcopy_engine_reap(e, batch, 4)) > 0) {
      got.insert(got.end(), batch, batch + k);
      if (k < 4) break;
    }
    EXPECT_GE(k, 0);
  }
  return got;
}

void release_all(std::vector<offcopy_completion>& cs) {
  for (offcopy_completion& c : cs) offcopy_completion_release(&c);
}

struct EngineDeleter {
  void operator()(offcopy_engine* e) const { offcopy_engine_free(e); }
};
using EnginePtr = std::unique_ptr<offcopy_engine, EngineDeleter>;

EnginePtr new_engine(offcopy_engine_options o = {}) {
  offcopy_engine* e = nullptr;
  EXPECT_EQ(offcopy_engine_new(&o, &e), 0);
  return EnginePtr(e);
}

TEST(CApiTest, VersionAndNames) {
  EXPECT_STREQ(offcopy_version(), OFFCOPY_VERSION_STRING);
  EXPECT_EQ(offcopy_version_number(), OFFCOPY_VERSION_NUMBER);
  EXPECT_STREQ(offcopy_mechanism_name(OFFCOPY_MECH_CLONE), "clone");
  EXPECT_STREQ(offcopy_mechanism_name(OFFCOPY_MECH_READ_WRITE), "read_write");
  EXPECT_EQ(offcopy_mechanism_name(OFFCOPY_MECH_COUNT), nullptr);
  EXPECT_EQ(offcopy_mechanism_name(-1), nullptr);
}

TEST(CApiTest, CopyRangeWithOffsetsLeavesFilePositions) {
  TempDir dir;
  const std::string data = pattern(100000, 7);
  write_file(dir.file("src"), data);
  const int in = ::open(dir.file("src").c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(dir.file("dst").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  int64_t src_off = 1000, dst_off = 500;
  offcopy_report rep;
  memset(&rep, 0xff, sizeof rep);  // every field must be written
  EXPECT_EQ(offcopy_copy_range(in, &src_off, out, &dst_off, 5000, nullptr, &rep), 5000);
  EXPECT_EQ(src_off, 6000);
  EXPECT_EQ(dst_off, 5500);
  EXPECT_EQ(::lseek(in, 0, SEEK_CUR), 0);
  EXPECT_EQ(::lseek(out, 0, SEEK_CUR), 0);
  EXPECT_EQ(rep.error, 0);
  EXPECT_EQ(rep.bytes_done, 5000);
  EXPECT_EQ(sum(rep), 5000);
  EXPECT_EQ(rep.message[0], '\0');
  EXPECT_EQ(read_file(dir.file("dst")), std::string(500, '\0') + data.substr(1000, 5000));

  // Short at end of file: not an error.
  src_off = 99000;
  EXPECT_EQ(offcopy_copy_range(in, &src_off, out, &dst_off, 5000, nullptr, nullptr), 1000);
  EXPECT_EQ(src_off, 100000);
  ::close(in);
  ::close(out);
}

TEST(CApiTest, CopyRangeWithoutOffsetsUsesFilePositions) {
  TempDir dir;
  const std::string data = pattern(4096, 3);
  write_file(dir.file("src"), data);
  const int in = ::open(dir.file("src").c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(dir.file("dst").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_EQ(::lseek(in, 10, SEEK_SET), 10);
  offcopy_flags flags = {};
  flags.reflink = OFFCOPY_REFLINK_NEVER;
  EXPECT_EQ(offcopy_copy_range(in, nullptr, out, nullptr, 100, &flags, nullptr), 100);
  EXPECT_EQ(::lseek(in, 0, SEEK_CUR), 110);
  EXPECT_EQ(::lseek(out, 0, SEEK_CUR), 100);
  flags.whole_file = 1;  // to the end, whatever len says
  EXPECT_EQ(offcopy_copy_range(in, nullptr, out, nullptr, 1, &flags, nullptr), 4096 - 110);
  EXPECT_EQ(read_file(dir.file("dst")), data.substr(10));
  ::close(in);
  ::close(out);
}

TEST(CApiTest, CopyRangeErrorsAreNegativeErrnoWithAReport) {
  TempDir dir;
  write_file(dir.file("src"), "abc");
  const int in = ::open(dir.file("src").c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(dir.file("dst").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  offcopy_report rep;
  int64_t off = 0;

  EXPECT_EQ(offcopy_copy_range(in, &off, 9999, &off, 3, nullptr, &rep), -EBADF);
  EXPECT_EQ(rep.error, EBADF);
  EXPECT_EQ(rep.bytes_done, 0);
  EXPECT_NE(rep.op[0], '\0');
  EXPECT_NE(std::string(rep.message).find("EBADF"), std::string::npos) << rep.message;

  EXPECT_EQ(offcopy_copy_range(in, nullptr, out, nullptr, -1, nullptr, &rep), -EINVAL);
  EXPECT_EQ(rep.error, EINVAL);

  offcopy_flags bad = {};
  bad.reflink = 7;
  EXPECT_EQ(offcopy_copy_range(in, nullptr, out, nullptr, 3, &bad, &rep), -EINVAL);
  bad = {};
  bad.sparse = -1;
  EXPECT_EQ(offcopy_copy_range(in, nullptr, out, nullptr, 3, &bad, nullptr), -EINVAL);

  const int d = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_EQ(offcopy_copy_range(d, nullptr, out, nullptr, 3, nullptr, &rep), -EISDIR);
  ::close(d);
  ::close(in);
  ::close(out);
}

TEST(CApiTest, NoFallbackFromAPipeIsOffloadUnsupported) {
  TempDir dir;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  ASSERT_EQ(::write(p[1], "hello", 5), 5);
  ::close(p[1]);
  const int out = ::open(dir.file("dst").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  offcopy_flags flags = {};
  flags.no_fallback = 1;
  flags.whole_file = 1;
  offcopy_report rep;
  EXPECT_EQ(offcopy_copy_range(p[0], nullptr, out, nullptr, 0, &flags, &rep), -EOPNOTSUPP);
  EXPECT_EQ(rep.offload_unsupported, 1) << rep.message;
  EXPECT_EQ(rep.error_kind, OFFCOPY_ERROR_OFFLOAD_UNSUPPORTED);
  EXPECT_EQ(rep.bytes_done, 0);
  EXPECT_EQ(read_file(dir.file("dst")), "");
  ::close(p[0]);
  ::close(out);
}

TEST(CApiTest, CopyFile) {
  TempDir dir;
  const std::string data = pattern(300000, 11);
  write_file(dir.file("a"), data);
  offcopy_report rep;
  EXPECT_EQ(offcopy_copy_file(dir.file("a").c_str(), dir.file("b").c_str(), nullptr, &rep),
            300000);
  EXPECT_EQ(read_file(dir.file("b")), data);
  EXPECT_EQ(sum(rep), 300000);
  EXPECT_EQ(rep.error, 0);

  offcopy_file_options o = {};
  o.overwrite = OFFCOPY_OVERWRITE_NO_CLOBBER;
  EXPECT_EQ(offcopy_copy_file(dir.file("a").c_str(), dir.file("b").c_str(), &o, &rep), -EEXIST);
  EXPECT_EQ(rep.error, EEXIST);
  o.overwrite = 3;
  EXPECT_EQ(offcopy_copy_file(dir.file("a").c_str(), dir.file("c").c_str(), &o, &rep), -EINVAL);

  EXPECT_EQ(offcopy_copy_file(dir.file("none").c_str(), dir.file("c").c_str(), nullptr, &rep),
            -ENOENT);
  EXPECT_EQ(rep.role, OFFCOPY_ROLE_SOURCE);
  EXPECT_NE(std::string(rep.message).find("none"), std::string::npos) << rep.message;
  EXPECT_EQ(offcopy_copy_file(dir.file("a").c_str(), dir.file("a").c_str(), nullptr, &rep),
            -EINVAL);
  EXPECT_EQ(offcopy_copy_file(nullptr, dir.file("c").c_str(), nullptr, &rep), -EINVAL);
  EXPECT_NE(::access(dir.file("c").c_str(), F_OK), 0);
}

TEST(CApiTest, CopyFileAtomicVerifiedAndDurable) {
  TempDir dir;
  const std::string data = pattern(300000, 12);
  write_file(dir.file("a"), data);
  write_file(dir.file("b"), "old");
  struct stat before {};
  ASSERT_EQ(::stat(dir.file("b").c_str(), &before), 0);
  offcopy_file_options o = {};
  o.atomic = 1;
  o.fsync = 1;
  o.verify = 1;
  offcopy_report rep;
  EXPECT_EQ(offcopy_copy_file(dir.file("a").c_str(), dir.file("b").c_str(), &o, &rep), 300000)
      << rep.message;
  EXPECT_EQ(read_file(dir.file("b")), data);
  struct stat after {};
  ASSERT_EQ(::stat(dir.file("b").c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino);  // renamed into place
}

TEST(CApiTest, EngineCopiesAFileToSeveralDestinations) {
  TempDir dir;
  const std::string data = pattern(200000, 5);
  write_file(dir.file("src"), data);
  EnginePtr e = new_engine();
  ASSERT_TRUE(e);
  ASSERT_GE(offcopy_engine_fd(e.get()), 0);
  const std::string d1 = dir.file("d1"), d2 = dir.file("no/such/dir/d2"), d3 = dir.file("d3");
  const char* dsts[] = {d1.c_str(), d2.c_str(), d3.c_str()};
  uint64_t id = 0;
  ASSERT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dsts, 3, nullptr, &id),
            0);
  EXPECT_NE(id, 0u);
  auto cs = reap_n(e.get(), 1);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].id, id);
  ASSERT_EQ(cs[0].n_results, 3u);
  EXPECT_EQ(cs[0].results[0].status, 0);
  EXPECT_EQ(cs[0].results[0].bytes, 200000);
  EXPECT_EQ(sum(cs[0].results[0].report), 200000);
  EXPECT_EQ(cs[0].results[1].status, -ENOENT);  // that destination only
  EXPECT_EQ(cs[0].results[1].report.error, ENOENT);
  EXPECT_EQ(cs[0].results[1].report.role, OFFCOPY_ROLE_DESTINATION);
  EXPECT_EQ(cs[0].results[2].status, 0);
  EXPECT_EQ(read_file(d1), data);
  EXPECT_EQ(read_file(d3), data);
  EXPECT_EQ(offcopy_engine_cancel(e.get(), id), -ENOENT);  // already done
  offcopy_progress pr;
  EXPECT_EQ(offcopy_engine_progress(e.get(), id, &pr), -ENOENT);
  release_all(cs);
  EXPECT_EQ(cs[0].results, nullptr);
  EXPECT_EQ(cs[0].n_results, 0u);
  offcopy_completion_release(&cs[0]);  // twice is harmless
  offcopy_completion_release(nullptr);
}

TEST(CApiTest, EngineRangeJobWritesAtEachOffset) {
  TempDir dir;
  const std::string data = pattern(10000, 9);
  write_file(dir.file("src"), data);
  const int in = ::open(dir.file("src").c_str(), O_RDONLY | O_CLOEXEC);
  const int o1 = ::open(dir.file("o1").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  const int o2 = ::open(dir.file("o2").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  EnginePtr e = new_engine({.workers = 1});
  const offcopy_range_dest dsts[] = {{o1, 0}, {o2, 100}};
  uint64_t id = 0;
  ASSERT_EQ(offcopy_engine_submit_range(e.get(), in, 2000, 3000, dsts, 2, nullptr, &id), 0);
  auto cs = reap_n(e.get(), 1);
  ASSERT_EQ(cs.size(), 1u);
  ASSERT_EQ(cs[0].n_results, 2u);
  EXPECT_EQ(cs[0].results[0].status, 0);
  EXPECT_EQ(cs[0].results[1].bytes, 3000);
  EXPECT_EQ(read_file(dir.file("o1")), data.substr(2000, 3000));
  EXPECT_EQ(read_file(dir.file("o2")), std::string(100, '\0') + data.substr(2000, 3000));
  EXPECT_EQ(::lseek(in, 0, SEEK_CUR), 0);
  release_all(cs);
  EXPECT_EQ(offcopy_engine_submit_range(e.get(), -1, 0, 1, dsts, 2, nullptr, &id), -EINVAL);
  EXPECT_EQ(offcopy_engine_submit_range(e.get(), in, 0, 1, dsts, 0, nullptr, &id), -EINVAL);
  ::close(in);
  ::close(o1);
  ::close(o2);
}

TEST(CApiTest, EngineIsBusyAtItsLimitAndReapFreesTheSlot) {
  TempDir dir;
  write_file(dir.file("src"), "x");
  EnginePtr e = new_engine({.max_jobs_in_flight = 1});
  const std::string d = dir.file("d");
  const char* dsts[] = {d.c_str()};
  ASSERT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dsts, 1, nullptr,
                                       nullptr),
            0);
  // The slot is held until the completion is reaped, finished or not.
  EXPECT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dsts, 1, nullptr,
                                       nullptr),
            -EBUSY);
  auto cs = reap_n(e.get(), 1);
  ASSERT_EQ(cs.size(), 1u);
  release_all(cs);
  EXPECT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dsts, 1, nullptr,
                                       nullptr),
            0);
}

TEST(CApiTest, ReapHandsOverInBatchesOfMax) {
  TempDir dir;
  write_file(dir.file("src"), pattern(1000));
  EnginePtr e = new_engine({.workers = 2});
  std::vector<std::string> names;
  std::vector<uint64_t> ids(5);
  for (int i = 0; i < 5; ++i) {
    names.push_back(dir.file("d" + std::to_string(i)));
    const char* dsts[] = {names.back().c_str()};
    ASSERT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dsts, 1, nullptr,
                                         &ids[i]),
              0);
  }
  // Wait until every job's copy is over, so one engine reap takes them all.
  offcopy_progress pr;
  for (uint64_t id : ids) {
    for (int t = 0; t < 1000 && offcopy_engine_progress(e.get(), id, &pr) == 0; ++t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_TRUE(wait_readable(e.get()));
  std::vector<uint64_t> got;
  offcopy_completion c[2];
  int k;
  while ((k = offcopy_engine_reap(e.get(), c, 2)) > 0) {
    for (int i = 0; i < k; ++i) {
      got.push_back(c[i].id);
      EXPECT_EQ(c[i].results[0].status, 0);
      offcopy_completion_release(&c[i]);
    }
    if (k < 2) break;
  }
  EXPECT_EQ(k, 1);  // 2 + 2 + 1
  // Ids name pooled slots, so they do not grow in submission order.
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(got, ids);
  EXPECT_EQ(offcopy_engine_reap(e.get(), c, 2), 0);
  EXPECT_EQ(offcopy_engine_reap(e.get(), nullptr, 0), 0);
  EXPECT_EQ(offcopy_engine_reap(e.get(), nullptr, 1), -EINVAL);
}

// A job stuck reading a FIFO (the test holds its write end open) keeps the
// only worker busy, so a second job is certainly still queued.
TEST(CApiTest, CancelAQueuedJobAndFreeWithAJobPending) {
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int w = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // never blocks
  ASSERT_GE(w, 0);
  write_file(dir.file("src"), pattern(5000));
  EnginePtr e = new_engine({.workers = 1});
  const std::string d1 = dir.file("d1"), d2 = dir.file("d2");
  const char* dst1[] = {d1.c_str()};
  const char* dst2[] = {d2.c_str()};
  uint64_t stuck = 0, queued = 0;
  ASSERT_EQ(offcopy_engine_submit_file(e.get(), fifo.c_str(), dst1, 1, nullptr, &stuck), 0);
  ASSERT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dst2, 1, nullptr,
                                       &queued),
            0);
  offcopy_progress pr;
  EXPECT_EQ(offcopy_engine_progress(e.get(), queued, &pr), 0);
  EXPECT_EQ(pr.bytes_done, 0);
  EXPECT_EQ(offcopy_engine_cancel(e.get(), queued), 0);
  EXPECT_EQ(offcopy_engine_cancel(e.get(), 987654), -ENOENT);

  // Unblock the FIFO job: some data, then (once the worker has read it, so
  // its open has happened) end of file.
  ASSERT_EQ(::write(w, "fifo data", 9), 9);
  int unread = 9;
  for (int t = 0; t < 1000 && ::ioctl(w, FIONREAD, &unread) == 0 && unread > 0; ++t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(unread, 0) << "the engine never read the FIFO";
  ::close(w);
  auto cs = reap_n(e.get(), 2);
  ASSERT_EQ(cs.size(), 2u);
  for (const offcopy_completion& c : cs) {
    ASSERT_EQ(c.n_results, 1u);
    if (c.id == queued) {
      EXPECT_EQ(c.results[0].status, -ECANCELED);
      EXPECT_EQ(c.results[0].report.error, ECANCELED);
      EXPECT_EQ(c.results[0].bytes, 0);
    } else {
      EXPECT_EQ(c.id, stuck);
      EXPECT_EQ(c.results[0].status, 0) << c.results[0].report.message;
      EXPECT_EQ(read_file(d1), "fifo data");
    }
  }
  release_all(cs);
  EXPECT_NE(::access(d2.c_str(), F_OK), 0);  // the cancelled job never started

  // Free with a job submitted and not reaped: cancels, joins, discards.
  const char* dst3[] = {d2.c_str()};
  ASSERT_EQ(offcopy_engine_submit_file(e.get(), dir.file("src").c_str(), dst3, 1, nullptr,
                                       nullptr),
            0);
  e.reset();
  offcopy_engine_free(nullptr);
}

// What the callbacks below saw, filled on engine threads.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> done_ids;
  std::vector<int> statuses;
  std::vector<int64_t> bytes;
  int64_t last_progress_done = -1;
  int64_t last_progress_total = -1;
  int progress_calls = 0;
  offcopy_engine* engine = nullptr;  // for a callback that submits again
  std::string resubmit_src, resubmit_dst;
};

void on_done(const offcopy_completion* c, void* user) {
  auto* s = static_cast<Seen*>(user);
  std::lock_guard lk(s->mu);
  s->done_ids.push_back(c->id);
  for (size_t i = 0; i < c->n_results; ++i) {
    s->statuses.push_back(c->results[i].status);
    s->bytes.push_back(c->results[i].bytes);
  }
  s->cv.notify_all();
}

void on_progress(uint64_t, const offcopy_progress* p, void* user) {
  auto* s = static_cast<Seen*>(user);
  std::lock_guard lk(s->mu);
  ++s->progress_calls;
  s->last_progress_done = p->bytes_done;
  s->last_progress_total = p->bytes_total;
}

// Submits one more job from inside the callback (its slot is free by then).
// Records this completion first: the new job may finish on another engine
// thread before this callback returns.
void on_done_resubmit(const offcopy_completion* c, void* user) {
  auto* s = static_cast<Seen*>(user);
  on_done(c, user);
  if (s->engine != nullptr) {
    const char* dst = s->resubmit_dst.c_str();
    offcopy_engine* e = s->engine;
    s->engine = nullptr;  // once
    EXPECT_EQ(offcopy_engine_submit_file_cb(e, s->resubmit_src.c_str(), &dst, 1, nullptr,
                                            on_done, s, nullptr),
              0);
  }
}

bool wait_done(Seen& s, size_t n) {
  std::unique_lock lk(s.mu);
  return s.cv.wait_for(lk, std::chrono::seconds(10), [&] { return s.done_ids.size() >= n; });
}

TEST(CApiTest, CompletionAndProgressCallbacks) {
  TempDir dir;
  const std::string src = dir.file("src"), a = dir.file("a"), b = dir.file("b");
  const std::string data = pattern(3 * 1024 * 1024 + 5, 11);
  write_file(src, data);
  Seen seen;
  offcopy_engine_options o{};
  o.on_progress = on_progress;
  o.progress_user = &seen;
  o.progress_interval_ms = 1;
  offcopy_engine* e = nullptr;
  ASSERT_EQ(offcopy_engine_new(&o, &e), 0);
  const char* dsts[] = {a.c_str(), b.c_str()};
  uint64_t id = 0;
  ASSERT_EQ(offcopy_engine_submit_file_cb(e, src.c_str(), dsts, 2, nullptr, on_done, &seen, &id),
            0);
  ASSERT_TRUE(wait_done(seen, 1));
  {
    std::lock_guard lk(seen.mu);
    EXPECT_EQ(seen.done_ids, std::vector<uint64_t>{id});
    EXPECT_EQ(seen.statuses, (std::vector<int>{0, 0}));
    EXPECT_EQ(seen.bytes, (std::vector<int64_t>{(int64_t)data.size(), (int64_t)data.size()}));
    // The last update comes before the completion and covers both copies.
    EXPECT_GE(seen.progress_calls, 1);
    EXPECT_EQ(seen.last_progress_done, 2 * (int64_t)data.size());
    EXPECT_EQ(seen.last_progress_total, 2 * (int64_t)data.size());
  }
  EXPECT_EQ(read_file(a), data);
  EXPECT_EQ(read_file(b), data);
  // A callback job is not reaped: the fd stays quiet, reap finds nothing.
  pollfd p{offcopy_engine_fd(e), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  offcopy_completion none[1] = {};
  EXPECT_EQ(offcopy_engine_reap(e, none, 1), 0);
  offcopy_engine_free(e);
}

TEST(CApiTest, CompletionCallbackMaySubmitAndSeesErrors) {
  TempDir dir;
  const std::string src = dir.file("src"), missing = dir.file("nodir/x"), c = dir.file("c");
  write_file(src, "data");
  Seen seen;
  offcopy_engine* e = nullptr;
  ASSERT_EQ(offcopy_engine_new(nullptr, &e), 0);
  seen.engine = e;
  seen.resubmit_src = src;
  seen.resubmit_dst = c;
  const char* bad = missing.c_str();
  ASSERT_EQ(offcopy_engine_submit_file_cb(e, src.c_str(), &bad, 1, nullptr, on_done_resubmit,
                                          &seen, nullptr),
            0);
  ASSERT_TRUE(wait_done(seen, 2));
  {
    std::lock_guard lk(seen.mu);
    EXPECT_EQ(seen.statuses, (std::vector<int>{-ENOENT, 0}));
  }
  EXPECT_EQ(read_file(c), "data");
  // No callback: EINVAL, and nothing runs.
  const char* d = c.c_str();
  EXPECT_EQ(offcopy_engine_submit_file_cb(e, src.c_str(), &d, 1, nullptr, nullptr, nullptr,
                                          nullptr),
            -EINVAL);
  const offcopy_range_dest rd{-1, 0};
  EXPECT_EQ(offcopy_engine_submit_range_cb(e, 0, 0, 1, &rd, 1, nullptr, nullptr, nullptr,
                                           nullptr),
            -EINVAL);
  offcopy_engine_free(e);
}

TEST(CApiTest, EngineArgumentErrors) {
  offcopy_engine* e = nullptr;
  offcopy_engine_options o = {};
  o.workers = -1;
  EXPECT_EQ(offcopy_engine_new(&o, &e), -EINVAL);
  EXPECT_EQ(e, nullptr);
  EXPECT_EQ(offcopy_engine_new(nullptr, nullptr), -EINVAL);
  ASSERT_EQ(offcopy_engine_new(nullptr, &e), 0);
  EnginePtr owned(e);
  uint64_t id = 0;
  const char* dsts[] = {"/tmp/x", nullptr};
  EXPECT_EQ(offcopy_engine_submit_file(e, "/tmp/src", dsts, 0, nullptr, &id), -EINVAL);
  EXPECT_EQ(offcopy_engine_submit_file(e, "/tmp/src", dsts, 2, nullptr, &id), -EINVAL);
  EXPECT_EQ(offcopy_engine_submit_file(e, nullptr, dsts, 1, nullptr, &id), -EINVAL);
  EXPECT_EQ(offcopy_engine_submit_file(e, "", dsts, 1, nullptr, &id), -EINVAL);
  EXPECT_EQ(offcopy_engine_progress(e, 12345, nullptr), -EINVAL);
}

}  // namespace
}  // namespace offcopy
