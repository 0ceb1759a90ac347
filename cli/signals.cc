#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

namespace offcopy::cli {
namespace {

std::mutex hook_mu;
std::function<void()> hook;  // guarded by hook_mu
std::atomic<int> taken{0};

// The stop signals this process was not told to ignore: a script's
// background job (SIGINT ignored) or nohup (SIGHUP ignored) keeps them
// ignored, as every tool does.
sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (sigaction(s, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaddset(&set, s);
  }
  return set;
}

void watch(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (taken.exchange(sig) != 0) {
      // Asked twice: the user wants out now, whatever is left behind.
      const char msg[] = "offcopy: interrupted again; exiting at once\n";
      [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      _exit(128 + sig);
    }
    std::lock_guard lk(hook_mu);
    if (hook) hook();
  }
}

}  // namespace

void watch_signals() {
  ::signal(SIGXFSZ, SIG_IGN);
  sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  try {
    std::thread(watch, set).detach();
  } catch (const std::system_error&) {
    // No thread (a memory limit): the signals keep their default action,
    // which ends the copy without its cleanup, as it would end cp.
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
}

void on_stop(std::function<void()> h) {
  std::lock_guard lk(hook_mu);
  hook = std::move(h);
  if (hook && taken.load() != 0) hook();
}

int stop_signal() { return taken.load(); }

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace offcopy::cli
