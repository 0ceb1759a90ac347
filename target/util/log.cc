#include "util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace offcopy::tlog {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
const char* const kNames[] = {"error", "warning", "info", "debug"};
}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool enabled(Level level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void write(Level level, const char* fmt, ...) {
  char line[1024];
  int n = std::snprintf(line, sizeof line, "offcopy-target: %s: ", kNames[static_cast<int>(level)]);
  va_list ap;
  va_start(ap, fmt);
  const int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  n += m < 0 ? 0 : (m > int(sizeof line - n - 2) ? int(sizeof line - n - 2) : m);
  line[n++] = '\n';
  // One write, so lines from several threads do not interleave.
  ssize_t ignored = ::write(2, line, n);
  (void)ignored;
}

}  // namespace offcopy::tlog
