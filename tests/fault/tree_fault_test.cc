// The tree copier under injected faults, through its seam (a Context with
// a FaultSys over a wrapper of the test's own) instead of a loop mount:
// a clone that fails with EIO on one file, ENOSPC when a directory's
// metadata is set, a directory that cannot be opened mid-walk.  Each is
// the failure of one entry (or a warning), told to the observer; the rest
// of the tree is copied.  Files live on /dev/shm.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mech/context.h"
#include "mech/probe.h"
#include "offcopy/tree.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"
#include "sys/sys_wrapper.h"
#include "tree/open_tree.h"

namespace offcopy {
namespace {

bool ends_with(const char* path, const std::string& suffix) {
  if (path == nullptr) return false;
  const std::string p(path);
  return p.size() >= suffix.size() &&
         p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Fails the path calls this test cares about, for paths ending in a given
// suffix; every other call goes to the kernel.
class PathFaults : public sys::SysWrapper {
 public:
  PathFaults() : SysWrapper(sys::Sys::real()) {}

  std::string fail_open_dir;  // a directory that cannot be opened (EACCES)
  std::string fail_utimens;   // a path whose times cannot be set (ENOSPC)

  int open(const char* path, int flags, unsigned mode) override {
    if (!fail_open_dir.empty() && (flags & O_DIRECTORY) != 0 && ends_with(path, fail_open_dir)) {
      return -EACCES;
    }
    return SysWrapper::open(path, flags, mode);
  }
  int list_dir(const char* path, sys::DirList* out) override {
    if (!fail_open_dir.empty() && ends_with(path, fail_open_dir)) return -EACCES;
    return SysWrapper::list_dir(path, out);
  }
  int utimens(MetaTarget t, const struct timespec times[2]) override {
    if (!fail_utimens.empty() && t.fd < 0 && ends_with(t.path, fail_utimens)) return -ENOSPC;
    return SysWrapper::utimens(t, times);
  }
};

class Recorder : public TreeObserver {
 public:
  void failed(const Error& e) override {
    std::lock_guard lk(mu);
    errors.push_back(e);
  }
  void warning(const std::string& dst, const Warning& w) override {
    std::lock_guard lk(mu);
    warnings.emplace_back(dst, w);
  }
  std::mutex mu;
  std::vector<Error> errors;
  std::vector<std::pair<std::string, Warning>> warnings;
};

class TreeFault : public ::testing::Test {
 protected:
  void SetUp() override {
    // src/{a,b,c}/f0..f3, each file different.
    ASSERT_EQ(::mkdir(dir_.file("src").c_str(), 0755), 0);
    for (const char* d : {"a", "b", "c"}) {
      ASSERT_EQ(::mkdir(dir_.file(std::string("src/") + d).c_str(), 0755), 0) << d;
    }
    int seed = 1;
    for (const char* d : {"a", "b", "c"}) {
      for (int i = 0; i < 4; ++i) {
        const std::string rel = std::string(d) + "/f" + std::to_string(i);
        files_[rel] = testing::pattern(64 << 10, seed++);
        testing::write_file(dir_.file("src/" + rel), files_[rel]);
      }
    }
    ctx_.sys = &faults_;
    ctx_.probes = &probes_;
  }

  TreeReport copy(TreeOptions o = {}) {
    o.file.preserve = Preserve::all();
    auto tc = tree::TreeAccess::open(o, &rec_, ctx_);
    EXPECT_TRUE(tc) << tc.error().message();
    if (!tc) return {};
    EXPECT_TRUE((*tc)->copy(dir_.file("src"), dir_.file("dst")));
    return (*tc)->finish();
  }

  // The files copied whole, and the names of those that are missing.
  std::vector<std::string> missing_files() {
    std::vector<std::string> missing;
    for (const auto& [rel, data] : files_) {
      struct stat st {};
      if (::stat(dir_.file("dst/" + rel).c_str(), &st) != 0) {
        missing.push_back(rel);
        continue;
      }
      EXPECT_EQ(testing::read_file(dir_.file("dst/" + rel)), data) << rel;
    }
    return missing;
  }

  testing::TempDir dir_{"/dev/shm"};
  std::map<std::string, std::string> files_;
  PathFaults paths_;
  sys::FaultSys faults_{paths_};
  mech::ProbeCache probes_;
  mech::Context ctx_;
  Recorder rec_;
};

TEST_F(TreeFault, CloneEioFailsThatFileOnlyAndItsCopyIsRemoved) {
  faults_.add({sys::Call::clone, sys::Fault::Kind::fail, EIO, 0, 1, 1});
  const TreeReport rep = copy();
  ASSERT_EQ(rec_.errors.size(), 1u);
  const Error& e = rec_.errors[0];
  EXPECT_EQ(e.code, EIO);
  EXPECT_EQ(e.op, "FICLONE");
  EXPECT_EQ(rep.errors, 1);
  // The failed file is not left half-made under its name; the other 11
  // are copied whole.
  const std::vector<std::string> missing = missing_files();
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(e.path.find(missing[0]), std::string::npos) << e.path << " vs " << missing[0];
  EXPECT_GE(faults_.count(sys::Call::clone), 1);
}

TEST_F(TreeFault, EnospcOnADirectorysTimesIsAWarningAndTheTreeIsCopied) {
  paths_.fail_utimens = "/dst/b";
  struct timespec t[2] = {{1000000000, 0}, {1000000000, 0}};
  for (const char* d : {"src/a", "src/b", "src/c"}) {
    ASSERT_EQ(::utimensat(AT_FDCWD, dir_.file(d).c_str(), t, 0), 0);
  }
  const TreeReport rep = copy();
  EXPECT_TRUE(rec_.errors.empty());
  EXPECT_EQ(rep.errors, 0);
  ASSERT_EQ(rec_.warnings.size(), 1u);
  EXPECT_EQ(rec_.warnings[0].first, dir_.file("dst/b"));
  EXPECT_EQ(rec_.warnings[0].second.code, ENOSPC);
  EXPECT_EQ(rec_.warnings[0].second.op, "utimensat");
  EXPECT_EQ(rep.warnings, 1);
  EXPECT_TRUE(missing_files().empty());
  // The other directories got their times.
  struct stat st {};
  ASSERT_EQ(::stat(dir_.file("dst/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
  ASSERT_EQ(::stat(dir_.file("dst/c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
}

TEST_F(TreeFault, ADirectoryThatCannotBeOpenedMidWalkIsReportedAndTheRestCopied) {
  paths_.fail_open_dir = "/src/b";
  const TreeReport rep = copy();
  ASSERT_EQ(rec_.errors.size(), 1u);
  EXPECT_EQ(rec_.errors[0].code, EACCES);
  EXPECT_EQ(rec_.errors[0].op, "opendir");
  EXPECT_EQ(rec_.errors[0].path, dir_.file("src/b"));
  EXPECT_EQ(rep.errors, 1);
  // b was made (before it was read) and is empty; a and c are whole.
  std::vector<std::string> missing = missing_files();
  EXPECT_EQ(missing, (std::vector<std::string>{"b/f0", "b/f1", "b/f2", "b/f3"}));
  struct stat st {};
  EXPECT_EQ(::stat(dir_.file("dst/b").c_str(), &st), 0);
}

}  // namespace
}  // namespace offcopy
