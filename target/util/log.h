// offcopy-target's log: one line per event on stderr, with a level.
// -q shows only errors, -v adds debug.  Secrets never reach it.
//
// Thread-safety: each line is written whole by one write(2).
#ifndef OFFCOPY_TARGET_UTIL_LOG_H_
#define OFFCOPY_TARGET_UTIL_LOG_H_

namespace offcopy::tlog {

enum class Level { error = 0, warning = 1, info = 2, debug = 3 };

void set_level(Level level);
bool enabled(Level level);
// printf-style; prefixed with the level's name, ended with a newline.
void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace offcopy::tlog

#define OFFCOPY_TLOG(level, ...)                                            \
  do {                                                                      \
    if (::offcopy::tlog::enabled(::offcopy::tlog::Level::level))            \
      ::offcopy::tlog::write(::offcopy::tlog::Level::level, __VA_ARGS__);   \
  } while (0)

#endif  // OFFCOPY_TARGET_UTIL_LOG_H_
