#include "tree/counter.h"

#include <system_error>
#include <utility>

namespace offcopy::tree {

Counter::~Counter() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Counter::start(std::vector<std::string> roots) {
  try {
    thread_ = std::thread([this, r = std::move(roots)] { run(r); });
  } catch (const std::system_error&) {
    // No thread to spare (a memory limit): the totals stay unknown, and
    // progress shows what is done without them.
  }
}

void Counter::totals(int64_t* files, int64_t* bytes) const {
  *bytes = bytes_.load(std::memory_order_acquire);
  *files = files_.load(std::memory_order_acquire);
}

void Counter::run(const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (stop_.load(std::memory_order_relaxed)) return;
    count_root(root);
  }
  bytes_.store(bytes_seen_, std::memory_order_release);
  files_.store(files_seen_, std::memory_order_release);
}

// Counts as the copy will see it: the same link-following rule, -x, and
// hard-linked files once when links are kept.  An entry it cannot read is
// simply not counted (the copy reports it).
void Counter::count_root(const std::string& root) {
  std::vector<std::pair<std::string, bool>> stack{{root, true}};
  dev_t root_dev = 0;
  sys::DirList entries;
  while (!stack.empty() && !stop_.load(std::memory_order_relaxed)) {
    auto [path, is_root] = std::move(stack.back());
    stack.pop_back();
    struct stat st {};
    const bool follow = opt_.deref == Deref::always ||
                        (is_root && opt_.deref == Deref::command_line);
    if ((follow ? sys_.stat(path.c_str(), &st) : sys_.lstat(path.c_str(), &st)) < 0) continue;
    if (is_root) root_dev = st.st_dev;
    ++files_seen_;
    if (S_ISREG(st.st_mode)) {
      if (!opt_.preserve_links || st.st_nlink < 2 ||
          linked_.insert({st.st_dev, st.st_ino}).second) {
        bytes_seen_ += st.st_size;
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue;
    if (opt_.one_file_system && st.st_dev != root_dev) continue;
    entries.clear();
    if (sys_.list_dir(path.c_str(), &entries) < 0) continue;
    for (const sys::DirEntry e : entries) stack.emplace_back(path + "/" + e.name, false);
  }
}

}  // namespace offcopy::tree
