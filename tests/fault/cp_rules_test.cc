// cp's safety rules in the library, below the CLI: copy_file does not write
// through a dangling symlink, replaces a symlink loop only when forced, and
// creates a file whose owner is to be preserved without group and other
// permissions until it is complete; the tree copier never replaces a file
// by a link to itself.  (tests/cli/cp_compat_test.sh checks the same from
// the command line, with cp's messages.)
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "mech/context.h"
#include "mech/probe.h"
#include "offcopy/copy.h"
#include "offcopy/tree.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"

namespace offcopy {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

// Records the mode of every open that creates a file.
class ModeSys : public sys::FaultSys {
 public:
  std::vector<unsigned> created_modes;
  int open(const char* path, int flags, unsigned mode) override {
    if (flags & O_CREAT) created_modes.push_back(mode);
    return FaultSys::open(path, flags, mode);
  }
  int open_at(int dir, const char* name, int flags, unsigned mode) override {
    if (flags & O_CREAT) created_modes.push_back(mode);
    return FaultSys::open_at(dir, name, flags, mode);
  }
};

class CpRulesTest : public ::testing::Test {
 protected:
  CpRulesTest() {
    ctx_.sys = &sys_;
    ctx_.probes = &probes_;
    write_file(src_, "the data");
    ::chmod(src_.c_str(), 0644);
    old_umask_ = ::umask(027);
  }
  ~CpRulesTest() override { ::umask(old_umask_); }
  Result<Report> copy(const FileOptions& o) { return ladder::copy_file(ctx_, src_, dst_, o); }

  mode_t old_umask_;
  ModeSys sys_;
  mech::ProbeCache probes_;
  mech::Context ctx_;
  TempDir dir_;
  std::string src_ = dir_.file("src");
  std::string dst_ = dir_.file("dst");
};

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

TEST_F(CpRulesTest, DanglingSymlinkIsNotWrittenThrough) {
  ASSERT_EQ(::symlink("target", dst_.c_str()), 0);
  for (Overwrite ow : {Overwrite::replace, Overwrite::force}) {
    FileOptions o;
    o.overwrite = ow;
    auto r = copy(o);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EEXIST);
    EXPECT_NE(r.error().detail.find("not writing through dangling symlink"), std::string::npos);
    EXPECT_FALSE(exists(dir_.file("target")));
    char buf[16] = {};
    EXPECT_EQ(::readlink(dst_.c_str(), buf, sizeof buf), 6);  // the link is untouched
  }
}

TEST_F(CpRulesTest, DanglingSymlinkIsWrittenThroughWhenAsked) {
  ASSERT_EQ(::symlink("target", dst_.c_str()), 0);
  FileOptions o;
  o.write_through_dangling = true;
  ASSERT_TRUE(copy(o));
  EXPECT_EQ(read_file(dir_.file("target")), "the data");
  struct stat st {};
  ASSERT_EQ(::lstat(dst_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(CpRulesTest, SymlinkLoopIsReplacedOnlyWhenForced) {
  ASSERT_EQ(::symlink("dst", dst_.c_str()), 0);
  auto r = copy(FileOptions{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ELOOP);
  FileOptions forced;
  forced.overwrite = Overwrite::force;
  ASSERT_TRUE(copy(forced));
  EXPECT_EQ(read_file(dst_), "the data");
}

TEST_F(CpRulesTest, PreservedOwnerMeansOwnerOnlyUntilComplete) {
  for (bool atomic : {false, true}) {
    ::unlink(dst_.c_str());
    sys_.created_modes.clear();
    FileOptions o;
    o.preserve.ownership = true;
    o.atomic = atomic;
    ASSERT_TRUE(copy(o));
    ASSERT_EQ(sys_.created_modes.size(), 1u);
    EXPECT_EQ(sys_.created_modes[0], 0600u) << "atomic " << atomic;
    struct stat st {};
    ASSERT_EQ(::stat(dst_.c_str(), &st), 0);
    // Without --preserve=mode the copy ends as a new file would: 0644
    // less the umask (027 here).
    EXPECT_EQ(st.st_mode & 07777, 0640u) << "atomic " << atomic;
  }
}

TEST_F(CpRulesTest, WithoutOwnershipTheSourceModeIsUsedAtOnce) {
  ASSERT_TRUE(copy(FileOptions{}));
  ASSERT_EQ(sys_.created_modes.size(), 1u);
  EXPECT_EQ(sys_.created_modes[0], 0644u);
}

TEST_F(CpRulesTest, ExistingDestinationKeepsItsModeUnderOwnership) {
  write_file(dst_, "old");
  ::chmod(dst_.c_str(), 0640);
  FileOptions o;
  o.preserve.ownership = true;
  ASSERT_TRUE(copy(o));
  struct stat st {};
  ASSERT_EQ(::stat(dst_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(read_file(dst_), "the data");
}

// The tree copier, copying links as links: a link onto the file it points
// to is the same file, refused, and the file keeps its data.
TEST(TreeSameFileTest, LinkOntoItsTargetIsRefused) {
  TempDir dir;
  const std::string f = dir.file("f"), s = dir.file("s");
  write_file(f, "data");
  ASSERT_EQ(::symlink("f", s.c_str()), 0);
  struct Failures : TreeObserver {
    std::vector<Error> errors;
    void failed(const Error& e) override { errors.push_back(e); }
  } obs;
  TreeOptions opt;
  opt.deref = Deref::never;
  auto tc = TreeCopy::open(opt, &obs);
  ASSERT_TRUE(tc);
  EXPECT_TRUE((*tc)->copy(s, f));
  TreeReport rep = (*tc)->finish();
  EXPECT_EQ(rep.errors, 1);
  ASSERT_EQ(obs.errors.size(), 1u);
  EXPECT_NE(obs.errors[0].detail.find("are the same file"), std::string::npos);
  EXPECT_EQ(read_file(f), "data");
  struct stat st {};
  ASSERT_EQ(::lstat(f.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

}  // namespace
}  // namespace offcopy
