#include "progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "render.h"

namespace offcopy::cli {
namespace {

int terminal_width() {
  struct winsize ws {};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
}

}  // namespace

std::string format_duration(double secs) {
  const long s = static_cast<long>(secs + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

ProgressLine::ProgressLine(bool enabled)
    : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

std::string ProgressLine::format(const TreeProgress& p, double secs) const {
  std::string line = human_bytes(p.bytes_done);
  const bool totals = p.files_total >= 0;
  if (totals) line += " / " + human_bytes(p.bytes_total);
  line += "  " + std::to_string(p.files_done);
  if (totals) line += " / " + std::to_string(p.files_total);
  line += " files";
  if (secs > 0.5) {
    line += "  " + human_bytes(static_cast<int64_t>(p.bytes_done / secs)) + "/s";
  }
  if (totals) {
    // Clones move bytes in no time, so whichever of bytes and entries is
    // further along is the better guess of how far the copy is.
    const double by_bytes = p.bytes_total > 0 ? double(p.bytes_done) / p.bytes_total : 1;
    const double by_files = p.files_total > 0 ? double(p.files_done) / p.files_total : 1;
    const double frac = std::clamp(std::max(by_bytes, by_files), 0.0, 1.0);
    if (frac > 0.01 && frac < 1) line += "  ETA " + format_duration(secs * (1 - frac) / frac);
  } else {
    line += "  (counting)";
  }
  return line;
}

void ProgressLine::show(const TreeProgress& p) {
  if (!enabled_) return;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = format(p, secs);
  const size_t width = static_cast<size_t>(terminal_width()) - 1;
  if (!p.current.empty() && line.size() + 4 < width) {
    std::string cur = p.current;
    // A name with a newline or an escape must not move the cursor.
    for (char& c : cur) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    const size_t room = width - line.size() - 2;
    if (cur.size() > room) cur = "..." + cur.substr(cur.size() - (room - 3));
    line += "  " + cur;
  }
  if (line.size() > width) line.resize(width);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace offcopy::cli
