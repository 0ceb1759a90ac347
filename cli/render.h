// Output: the CLI owns the terminal.  The library reports; these functions
// turn reports into cp-style lines, --debug blocks, --stats and --json.
#ifndef OFFCOPY_CLI_RENDER_H_
#define OFFCOPY_CLI_RENDER_H_

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "offcopy/copy.h"
#include "offcopy/tree.h"

namespace offcopy::cli {

// cancelled: stopped (or never started) by a signal; not an error line.
enum class FileStatus { copied, skipped, failed, cancelled };

struct FileResult {
  std::string src;
  std::string dst;
  FileStatus status = FileStatus::copied;
  Report report;
  std::optional<Error> error;
  double seconds = 0;
};

// "1.00 GiB" style, exact below 1 KiB.
std::string human_bytes(int64_t n);

void print_verbose(std::FILE* out, const FileResult& r);
void print_debug(std::FILE* out, const FileResult& r);
void print_error(const FileResult& r, bool debug);
// "offcopy: warning: cannot preserve metadata of 'DST': OP [NAME]: ERROR (ENAME)"
void print_warning(const std::string& dst, const Warning& w);
// ", verified 1.00 GiB (512 MiB proven shared), 1 retried" -- or "" when
// nothing was verified or retried.
std::string verify_summary(const Report& r);
// "cloned X, kernel-copied Y, spliced Z, io_uring U, read/write W, holes H"
// and verify_summary: the --stats line's account of how the bytes moved.
std::string moved_summary(const Report& r);
// "offcopy: stopped by SIGINT: N files copied, M stopped or not started ..."
void print_stopped(const std::string& signal, int64_t copied, int64_t stopped);

// What --stats and --json sum up, from the results of plain file copies or
// from a tree copy's report: one struct, so that one printer of each kind
// serves both.
struct Totals {
  int64_t copied = 0;  // regular files
  int64_t skipped = 0;
  int64_t failed = 0;
  int64_t cancelled = 0;  // stopped or never started by a signal
  int64_t bytes = 0;      // data moved; a tree's: the size of its regular
                          // files copied, holes included
  Report data;            // the files' reports merged
  // Only a tree copy counts the entries it made by kind.
  struct Tree {
    int64_t directories = 0;
    int64_t symlinks = 0;
    int64_t hardlinks = 0;
    int64_t specials = 0;
    int64_t snapshots = 0;
    int64_t warnings = 0;
    int copy_threads = 0;
  };
  std::optional<Tree> tree;
};
Totals totals(const std::vector<FileResult>& all);
Totals totals(const TreeReport& t);

// The --stats line; a tree copy's counts by kind come first, on a line of
// their own (docs/offcopy.1.scd, "--stats").
void print_stats(std::FILE* out, const Totals& t, double seconds);
// "files" lists `files` (for a tree: regular files, snapshots and
// failures), "totals" is `t`.
void print_json(std::FILE* out, const std::vector<FileResult>& files, const Totals& t,
                double seconds);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_RENDER_H_
