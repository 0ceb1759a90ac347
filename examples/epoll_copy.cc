// epoll_copy: copies files with offcopy::Engine from a single-threaded
// epoll loop -- the integration an event loop (libuv, asio, ...) would do.
//
//   epoll_copy SRC DST [SRC DST ...]
//
// The loop owns no copying thread: it submits jobs in poll mode, waits on
// Engine::fd() together with whatever else it would watch, and reaps.
// Because a poll-mode job holds its slot until reaped, it submits with
// OnFull::busy and, on EBUSY, goes back to the loop to reap first.
//
// Prints one line per file: how many bytes moved and by which mechanism.
// Exit status: 0 all copied, 1 some copy failed, 2 usage or setup error.
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "offcopy/engine.h"

namespace {

struct Pair {
  std::string src, dst;
};

std::string describe(const offcopy::Report& r) {
  std::string s = std::to_string(r.total_bytes()) + " bytes";
  for (int m = 0; m < offcopy::kMechanismCount; ++m) {
    if (r.bytes_by[m] == 0) continue;
    s += std::string(" ") + offcopy::mechanism_name(static_cast<offcopy::Mechanism>(m)) +
         "=" + std::to_string(r.bytes_by[m]);
  }
  return s;
}

// Submits pairs[next...] until the engine says busy.  Returns false on any
// other submit error.
bool submit_some(offcopy::Engine& engine, const std::vector<Pair>& pairs, size_t& next,
                 std::map<offcopy::JobId, size_t>& pending) {
  for (; next < pairs.size(); ++next) {
    auto id = engine.submit(offcopy::FileJob{pairs[next].src, {pairs[next].dst}, {}});
    if (!id && id.error().code == EBUSY) return true;
    if (!id) {
      fprintf(stderr, "epoll_copy: %s\n", id.error().message().c_str());
      return false;
    }
    pending[*id] = next;
  }
  return true;
}

// Reports one completion; returns whether it succeeded.
bool report(const offcopy::Completion& c, const Pair& p) {
  const auto& r = c.results.front();
  if (r) {
    printf("%s -> %s: %s\n", p.src.c_str(), p.dst.c_str(), describe(*r).c_str());
    return true;
  }
  fprintf(stderr, "epoll_copy: %s -> %s: %s\n", p.src.c_str(), p.dst.c_str(),
          r.error().message().c_str());
  return false;
}

int run(const std::vector<Pair>& pairs) {
  auto engine = offcopy::Engine::open(
      {.workers = 2, .max_jobs_in_flight = 4, .on_full = offcopy::OnFull::busy});
  if (!engine) {
    fprintf(stderr, "epoll_copy: %s\n", engine.error().message().c_str());
    return 2;
  }
  offcopy::Engine& e = **engine;
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, e.fd(), &ev) < 0) {
    perror("epoll_copy: epoll");
    return 2;
  }
  std::map<offcopy::JobId, size_t> pending;
  size_t next = 0;
  bool all_ok = true;
  while (next < pairs.size() || !pending.empty()) {
    if (!submit_some(e, pairs, next, pending)) return 2;
    epoll_event got{};
    const int n = epoll_wait(ep, &got, 1, -1);
    if (n < 0 && errno != EINTR) {
      perror("epoll_copy: epoll_wait");
      return 2;
    }
    for (const offcopy::Completion& c : e.reap()) {
      all_ok &= report(c, pairs[pending.at(c.id)]);
      pending.erase(c.id);
    }
  }
  close(ep);
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc % 2 == 0) {
    fprintf(stderr, "usage: epoll_copy SRC DST [SRC DST ...]\n");
    return 2;
  }
  std::vector<Pair> pairs;
  for (int i = 1; i + 1 < argc; i += 2) pairs.push_back({argv[i], argv[i + 1]});
  return run(pairs);
}
