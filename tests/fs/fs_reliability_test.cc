// Verification and cancellation on real filesystems: --verify skips only
// what the extent maps prove equal (shared blocks after a reflink, holes
// in both files) and reads the rest; a tree copy cancelled half way leaves
// only complete files, no temporaries, and directories with their final
// modes.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "offcopy/copy.h"
#include "offcopy/tree.h"
#include "support/test_files.h"

namespace offcopy {
namespace {

using testing::mount_for;
using testing::read_file;

constexpr int64_t kMiB = 1 << 20;

class VerifyFsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(VerifyFsTest, SkipsOnlyProvenEqualRanges) {
  std::string why;
  const std::string mnt = mount_for(GetParam(), &why);
  if (mnt.empty()) GTEST_SKIP() << why;
  testing::TempDir dir(mnt);
  // 2 MiB of data, an 8 MiB hole, 1 MiB of data, a 1 MiB hole at the end.
  const std::string src = dir.file("src");
  const std::string expect =
      testing::make_sparse(src, 12 * kMiB, {{0, 2 * kMiB}, {10 * kMiB, kMiB}});
  FileOptions o;
  o.verify = true;
  auto r = copy_file(src, dir.file("dst"), o);
  ASSERT_TRUE(r) << testing::describe(r.error());
  EXPECT_EQ(read_file(dir.file("dst")), expect);
  EXPECT_EQ(r->verified_bytes + r->verify_skipped_bytes, 12 * kMiB);
  if (testing::can_clone(GetParam())) {
    // Reflinked: every block shared, holes in both -- nothing to read.
    EXPECT_EQ(r->verified_bytes, 0) << testing::describe(*r);
  } else {
    // ext4, tmpfs: the holes were recreated (proven by FIEMAP, or by
    // SEEK_DATA on tmpfs), the data was written: read 3 MiB.
    EXPECT_EQ(r->verified_bytes, 3 * kMiB) << testing::describe(*r);
  }
}

TEST_P(VerifyFsTest, ReflinkWithNeverReadsTheData) {
  std::string why;
  const std::string mnt = mount_for(GetParam(), &why);
  if (mnt.empty()) GTEST_SKIP() << why;
  testing::TempDir dir(mnt);
  testing::write_file(dir.file("src"), testing::pattern(3 * kMiB + 5, 3));
  FileOptions o;
  o.verify = true;
  o.flags.reflink = Reflink::never;  // written, not shared: must be read
  auto r = copy_file(dir.file("src"), dir.file("dst"), o);
  ASSERT_TRUE(r) << testing::describe(r.error());
  EXPECT_EQ(r->verified_bytes, 3 * kMiB + 5);
  EXPECT_EQ(r->verify_skipped_bytes, 0);
}

INSTANTIATE_TEST_SUITE_P(Fs, VerifyFsTest,
                         ::testing::Values("btrfs", "xfs", "ext4", "tmpfs"));

// Counts finished files so a test thread can cancel part way.
class Counting : public TreeObserver {
 public:
  void done(EntryKind k, const std::string&, const std::string&, const Report*) override {
    if (k == EntryKind::regular) ++files;
  }
  void failed(const Error& e) override {
    ADD_FAILURE() << "cancelled files must not be told as failures: " << e.message();
  }
  std::atomic<int> files{0};
};

void expect_clean(const std::string& src_dir, const std::string& dst_dir, int* complete) {
  DIR* d = ::opendir(dst_dir.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    EXPECT_EQ(n.find(".offcopy-"), std::string::npos) << "temporary left: " << n;
    EXPECT_EQ(read_file(dst_dir + "/" + n), read_file(src_dir + "/" + n)) << n;
    ++*complete;
  }
  ::closedir(d);
}

TEST(TreeCancelTest, StopsSoonLeavingOnlyCompleteFiles) {
  std::string why;
  const std::string mnt = mount_for("ext4", &why);
  if (mnt.empty()) GTEST_SKIP() << why;
  testing::TempDir dir(mnt);
  const std::string src = dir.file("src");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src + "/sub").c_str(), 0750), 0);
  constexpr int kFiles = 300;
  for (int i = 0; i < kFiles; ++i) {
    testing::write_file(src + "/sub/f" + std::to_string(i), testing::pattern(256 << 10, i));
  }
  Counting obs;
  TreeOptions opt;
  opt.file.flags.reflink = Reflink::never;
  opt.file.atomic = true;
  opt.file.verify = true;  // slow enough to be cancelled part way
  opt.jobs = 2;
  auto tc = TreeCopy::open(opt, &obs);
  ASSERT_TRUE(tc);
  std::thread stopper([&] {
    while (obs.files < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    (*tc)->cancel();
  });
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*tc)->copy(src, dir.file("dst")));
  TreeReport rep = (*tc)->finish();
  stopper.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE((*tc)->cancelled());
  EXPECT_LT(rep.files, kFiles);
  EXPECT_GT(rep.cancelled, 0);
  EXPECT_EQ(rep.errors, 0);
  int complete = 0;
  expect_clean(src + "/sub", dir.file("dst/sub"), &complete);
  EXPECT_EQ(complete, rep.files);  // every file told done is there, whole
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("dst/sub").c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 07777, 0750u & ~mask) << "directory modes are still set";
  EXPECT_LT(secs, 30);
}

}  // namespace
}  // namespace offcopy
