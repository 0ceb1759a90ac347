// Backup names, as cp and GNU's backupfile.c make them: FILE~ (simple) or
// FILE.~N~ (numbered), and "existing" choosing numbered for a file that
// has numbered backups already.
#include <dirent.h>

#include <cstdlib>
#include <string>

#include "offcopy/tree.h"
#include "tree/nodes.h"

namespace offcopy {
namespace {

// The highest N of the NAME.~N~ entries in `dir`; 0 when there are none.
long highest_numbered(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  const std::string prefix = name + ".~";
  long highest = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() <= prefix.size() + 1 || n.compare(0, prefix.size(), prefix) != 0 ||
        n.back() != '~') {
      continue;
    }
    const std::string digits = n.substr(prefix.size(), n.size() - prefix.size() - 1);
    if (digits.empty() || digits[0] == '0' ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    highest = std::max(highest, std::strtol(digits.c_str(), nullptr, 10));
  }
  ::closedir(d);
  return highest;
}

}  // namespace

std::string backup_name(const std::string& path, Backup backup, const std::string& suffix) {
  if (backup == Backup::none) return {};
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  long n = 0;
  if (backup != Backup::simple) n = highest_numbered(tree::parent_of(p), tree::base_of(p));
  if (backup == Backup::simple || (backup == Backup::existing && n == 0)) return p + suffix;
  return p + ".~" + std::to_string(n + 1) + "~";
}

}  // namespace offcopy
