// A fresh directory for a test, removed (recursively) by the destructor.
// Header-only, so that tests which do not link liboffcopy (the target's)
// share it too.
#ifndef OFFCOPY_TESTS_SUPPORT_TEMP_DIR_H_
#define OFFCOPY_TESTS_SUPPORT_TEMP_DIR_H_

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace offcopy::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& parent = "/tmp") {
    std::string tmpl = parent + "/offcopy-test.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp in " << parent << ": " << std::strerror(errno);
      return;
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace offcopy::testing

#endif  // OFFCOPY_TESTS_SUPPORT_TEMP_DIR_H_
