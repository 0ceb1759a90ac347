// The live progress line: bytes and entries done / total, rate, ETA and the
// current file, redrawn in place on stderr and cleared before anything else
// is printed and at the end.
//
// Thread-safety: none; the caller serializes (TreeObserver calls are).
#ifndef OFFCOPY_CLI_PROGRESS_H_
#define OFFCOPY_CLI_PROGRESS_H_

#include <chrono>
#include <string>

#include "offcopy/tree.h"

namespace offcopy::cli {

class ProgressLine {
 public:
  explicit ProgressLine(bool enabled);
  void show(const TreeProgress& p);
  // Erases the line (if shown) so other output starts on a clean line.
  void clear();

 private:
  std::string format(const TreeProgress& p, double secs) const;

  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
};

// "1:02:03" or "2:03".
std::string format_duration(double secs);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_PROGRESS_H_
