#include "parents.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>

#include "messages.h"

namespace offcopy::cli {

bool ParentDirs::make(const std::string& dir, const std::string& src) {
  const size_t last = src.find_last_of('/');
  if (last == std::string::npos) return true;  // no directory on the way
  // A source that is not there (or a file on its way): the copy says so,
  // and no directory is made for it.
  struct stat src_st {};
  if (::lstat(src.c_str(), &src_st) != 0) return true;
  const bool keep = o_.preserve.mode || o_.preserve.ownership || o_.preserve.timestamps;
  for (size_t at = src.find_first_not_of('/'); at != std::string::npos && at < last;) {
    const size_t end = std::min(src.find('/', at), last);
    const std::string src_dir = src.substr(0, end);
    const std::string dst_dir = dir + "/" + src.substr(src.find_first_not_of('/'), end - src.find_first_not_of('/'));
    at = src.find_first_not_of('/', end);
    struct stat st {};
    if (::lstat(dst_dir.c_str(), &st) == 0) {
      // cp -p gives existing directories on the way the source's too.
      if (S_ISDIR(st.st_mode) && keep && ::stat(src_dir.c_str(), &st) == 0) {
        made_.push_back(Made{dst_dir, st, false});
      }
      if (S_ISDIR(st.st_mode)) continue;
      std::fprintf(stderr, "%s: '%s' exists but is not a directory\n", program_name(),
                   dst_dir.c_str());
      return false;
    }
    if (::stat(src_dir.c_str(), &st) != 0) {
      std::fprintf(stderr, "%s: failed to get attributes of '%s': %s\n", program_name(),
                   src_dir.c_str(), strerror(errno));
      return false;
    }
    if (::mkdir(dst_dir.c_str(), 0700) != 0) {
      std::fprintf(stderr, "%s: cannot make directory '%s': %s\n", program_name(),
                   dst_dir.c_str(), strerror(errno));
      return false;
    }
    if (o_.verbose) std::printf("'%s' -> '%s'\n", src_dir.c_str(), dst_dir.c_str());
    made_.push_back(Made{dst_dir, st, true});
  }
  return true;
}

void ParentDirs::finish() {
  const mode_t umask = ::umask(0);
  ::umask(umask);
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    const char* d = it->dst.c_str();
    const struct stat& st = it->st;
    if (o_.preserve.ownership && ::lchown(d, st.st_uid, st.st_gid) != 0) {
      ::lchown(d, static_cast<uid_t>(-1), st.st_gid);  // the group, at least (as cp)
    }
    // Without --preserve=mode, a new directory as mkdir would make it (the
    // source's mode, or 0777 under --no-preserve=mode, less the umask); an
    // existing one keeps its mode.
    const mode_t from = o_.no_preserve_mode ? 0777 : st.st_mode & 0777;
    const mode_t mode = o_.preserve.mode ? st.st_mode & 07777 : from & ~umask;
    if ((o_.preserve.mode || it->created) && ::chmod(d, mode) != 0) {
      std::fprintf(stderr, "%s: failed to preserve permissions for '%s': %s\n", program_name(), d,
                   strerror(errno));
    }
    if (o_.preserve.timestamps) {
      const struct timespec times[2] = {st.st_atim, st.st_mtim};
      ::utimensat(AT_FDCWD, d, times, 0);
    }
  }
  made_.clear();
}

}  // namespace offcopy::cli
