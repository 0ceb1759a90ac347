#include "messages.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

namespace offcopy::cli {
namespace {

std::string g_program = "offcopy";

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Steps that read the source or write the destination, whatever the rung.
bool is_data_step(const std::string& op) {
  static const char* const kSteps[] = {
      "read", "write", "pread", "pwrite", "copy_file_range", "FICLONE", "FICLONERANGE",
      "splice", "io_uring", "fallocate", "ftruncate", "lseek", "fsync", "fdatasync", "fstat"};
  for (const char* s : kSteps) {
    if (op == s) return true;
  }
  return false;
}

// The library's refusals whose detail is already cp's whole sentence:
// the same file, -r missing, a directory into itself, a dangling link,
// a name this run just made.
bool detail_is_sentence(const Error& e) {
  if (e.detail.empty()) return false;
  if (e.op == "copy") return e.kind != ErrorKind::source_changed;  // offcopy's own
  if (e.op == "create") return true;
  return e.op == "open" && (e.code == EEXIST || e.code == EISDIR) &&
         e.role == Role::destination;
}

}  // namespace

void set_program_name(const char* argv0) {
  if (argv0 == nullptr || *argv0 == '\0') return;
  const char* slash = strrchr(argv0, '/');
  g_program = slash != nullptr ? slash + 1 : argv0;
}

const char* program_name() { return g_program.c_str(); }

namespace {

// cp's words for the steps that name only the entry: "<words> 'PATH'".
const char* entry_words(const std::string& op) {
  static const std::pair<const char*, const char*> kWords[] = {
      {"stat", "cannot stat"},           {"lstat", "cannot stat"},
      {"mkdir", "cannot create directory"}, {"mknod", "cannot create special file"},
      {"mkfifo", "cannot create fifo"},  {"opendir", "cannot access"},
      {"walk", "cannot access"},         {"readlink", "cannot read symbolic link"},
      {"unlink", "cannot remove"}};
  for (const auto& [step, words] : kWords) {
    if (op == step) return words;
  }
  return nullptr;
}

// A failed open: cp stats a source first (a missing one is "cannot
// stat"), and tells a destination it creates from one it rewrites.
std::string open_words(const Error& e, const std::string& p, const std::string& why) {
  struct stat st {};
  if (e.role == Role::source) {
    if (::stat(e.path.c_str(), &st) != 0) return "cannot stat " + p + ": " + strerror(errno);
    return "cannot open " + p + " for reading" + why;
  }
  if (::lstat(e.path.c_str(), &st) == 0) return "cannot open " + p + " for writing" + why;
  return "cannot create regular file " + p + why;
}

}  // namespace

std::string cp_words(const Error& e) {
  const std::string why = std::string(": ") + strerror(e.code);
  if (e.op == "create" && e.code == ENOTDIR) return e.detail + why;  // "b/": no such dir
  if (detail_is_sentence(e)) return e.detail;
  // Refusals whose detail is cp's sentence: a non-directory in the way of
  // a directory; -s with a relative source into another directory.
  if ((e.op == "mkdir" && e.code == ENOTDIR) || (e.op == "symlink" && e.code == EINVAL)) {
    if (!e.detail.empty()) return e.detail;
  }
  const std::string p = quoted(e.path);
  if (e.kind == ErrorKind::source_changed) return "cannot copy " + p + ": " + e.detail;
  if (e.op == "open") return open_words(e, p, why);
  if (e.op == "symlink" || e.op == "link") {
    const char* kind = e.op == "link" ? "hard link " : "symbolic link ";
    return "cannot create " + std::string(kind) + p + (e.detail.empty() ? "" : " " + e.detail) +
           why;
  }
  if (const char* words = entry_words(e.op)) return words + (" " + p) + why;
  if (is_data_step(e.op)) {
    return (e.role == Role::source ? "error reading " : "error writing ") + p + why;
  }
  return e.message();
}

void reserve_std_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) continue;
    const int got = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got >= 0 && got != fd) ::close(got);  // fd was not the lowest free one
  }
}

int close_stdout(int code) {
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) != 0;
  const int err = errno;
  if (std::fclose(stdout) != 0 || failed) {
    const int why = failed ? err : errno;
    if (why != 0) {
      std::fprintf(stderr, "%s: write error: %s\n", program_name(), strerror(why));
    } else {
      std::fprintf(stderr, "%s: write error\n", program_name());
    }
    return code == 0 ? 1 : code;
  }
  return code;
}

void print_failure(const Error& e, bool debug) {
  // Offload required and impossible is offcopy's own (exit 3): its account
  // is the message.
  if (e.offload_unsupported()) {
    std::fprintf(stderr, "%s: %s\n", program_name(), e.message().c_str());
    return;
  }
  std::fprintf(stderr, "%s: %s\n", program_name(), cp_words(e).c_str());
  if (debug) std::fprintf(stderr, "%s: (debug) %s\n", program_name(), e.message().c_str());
}

}  // namespace offcopy::cli
