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
void print_stats(std::FILE* out, const std::vector<FileResult>& all, double seconds);
void print_json(std::FILE* out, const std::vector<FileResult>& all, double seconds);
// The tree form: "files" lists regular files, snapshots and failures;
// "totals" adds the tree's counts by kind.
void print_tree_json(std::FILE* out, const std::vector<FileResult>& files,
                     const TreeReport& tree, double seconds);

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_RENDER_H_
