#include "messages.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

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
  if (e.op == "copy") return e.code != kSourceChanged;  // that one is offcopy's own
  if (e.op == "create") return true;
  return e.op == "open" && (e.code == EEXIST || e.code == EISDIR) &&
         e.role == Role::destination;
}

// A destination that exists is opened for writing; one that does not is
// created (cp tells the two apart in its message).
bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

void set_program_name(const char* argv0) {
  if (argv0 == nullptr || *argv0 == '\0') return;
  const char* slash = strrchr(argv0, '/');
  g_program = slash != nullptr ? slash + 1 : argv0;
}

const char* program_name() { return g_program.c_str(); }

std::string cp_words(const Error& e) {
  const std::string why = std::string(": ") + strerror(e.code);
  if (e.op == "create" && e.code == ENOTDIR) return e.detail + why;  // "b/": no such dir
  if (detail_is_sentence(e)) return e.detail;
  const std::string p = quoted(e.path);
  if (e.op == "copy" && e.code == kSourceChanged) return "cannot copy " + p + ": " + e.detail;
  const bool src = e.role == Role::source;
  if (e.op == "stat" || e.op == "lstat") return "cannot stat " + p + why;
  if (e.op == "open" && src) {
    // cp stats the source before it opens it: a missing one is told so.
    struct stat st {};
    if (::stat(e.path.c_str(), &st) != 0) return "cannot stat " + p + ": " + strerror(errno);
    return "cannot open " + p + " for reading" + why;
  }
  if (e.op == "open") {
    return (exists(e.path) ? "cannot open " + p + " for writing" : "cannot create regular file " + p) +
           why;
  }
  if (e.op == "mkdir") {
    if (e.code == ENOTDIR && !e.detail.empty()) return e.detail;
    return "cannot create directory " + p + why;
  }
  if (e.op == "symlink") {
    if (e.code == EINVAL && !e.detail.empty()) return e.detail;  // -s: relative, elsewhere
    return "cannot create symbolic link " + p + (e.detail.empty() ? "" : " " + e.detail) + why;
  }
  if (e.op == "link") return "cannot create hard link " + p + " " + e.detail + why;
  if (e.op == "mknod") return "cannot create special file " + p + why;
  if (e.op == "mkfifo") return "cannot create fifo " + p + why;
  if (e.op == "opendir" || e.op == "walk") return "cannot access " + p + why;
  if (e.op == "readlink") return "cannot read symbolic link " + p + why;
  if (e.op == "unlink") return "cannot remove " + p + why;
  if (is_data_step(e.op)) return (src ? "error reading " : "error writing ") + p + why;
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
  if (e.offload_unsupported) {
    std::fprintf(stderr, "%s: %s\n", program_name(), e.message().c_str());
    return;
  }
  std::fprintf(stderr, "%s: %s\n", program_name(), cp_words(e).c_str());
  if (debug) std::fprintf(stderr, "%s: (debug) %s\n", program_name(), e.message().c_str());
}

}  // namespace offcopy::cli
