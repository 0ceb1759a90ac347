// TreeCopy through the library API on real filesystems: the observer's
// contract (every entry told once, progress with totals, a final call),
// hard links across roots, per-entry failures that do not stop the walk,
// directory times set after their contents, and rung 0 (btrfs snapshot)
// as the report shows it.  tests/cli/tree_test.sh compares whole trees with
// cp -a; this file checks what a library user relies on.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/tree.h"
#include "support/test_files.h"

namespace offcopy {
namespace {

using testing::mount_for;

class Recorder : public TreeObserver {
 public:
  void done(EntryKind k, const std::string& src, const std::string&,
            const Report* rep) override {
    std::lock_guard lk(mu);
    ++done_count[src];
    kinds[src] = k;
    if (rep != nullptr) reports[src] = *rep;
  }
  void skipped(EntryKind, const std::string& src, const std::string&) override {
    std::lock_guard lk(mu);
    skipped_src.push_back(src);
  }
  void failed(const Error& e) override {
    std::lock_guard lk(mu);
    errors.push_back(e);
  }
  void progress(const TreeProgress& p) override {
    std::lock_guard lk(mu);
    updates.push_back(p);
  }

  std::mutex mu;
  std::map<std::string, int> done_count;
  std::map<std::string, EntryKind> kinds;
  std::map<std::string, Report> reports;
  std::vector<std::string> skipped_src;
  std::vector<Error> errors;
  std::vector<TreeProgress> updates;
};

struct stat lstat_of(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

TreeOptions archive() {
  TreeOptions o;
  o.file.preserve = Preserve::all();
  o.preserve_links = true;
  o.count_totals = true;
  o.progress_interval = std::chrono::milliseconds(1);
  return o;
}

class TreeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    mnt_ = mount_for(GetParam(), &why);
    if (mnt_.empty()) GTEST_SKIP() << why;
  }
  std::string mnt_;
};

TEST_P(TreeTest, EveryEntryToldOnceWithProgressTotalsAndLinksAcrossRoots) {
  testing::TempDir dir(mnt_);
  const std::string a = dir.file("a"), b = dir.file("b");
  ASSERT_EQ(::mkdir(a.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(b.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((a + "/sub").c_str(), 0750), 0);
  for (int i = 0; i < 50; ++i) {
    testing::write_file(a + "/sub/f" + std::to_string(i), testing::pattern(1000 + i, i));
  }
  ASSERT_EQ(::link((a + "/sub/f0").c_str(), (b + "/link-to-f0").c_str()), 0);
  ASSERT_EQ(::symlink("sub/f1", (a + "/sym").c_str()), 0);

  Recorder rec;
  auto tc = TreeCopy::open(archive(), &rec);
  ASSERT_TRUE(tc) << tc.error().message();
  (*tc)->plan({a, b});
  ASSERT_TRUE((*tc)->copy(a, dir.file("A")));
  ASSERT_TRUE((*tc)->copy(b, dir.file("B")));
  const TreeReport r = (*tc)->finish();

  EXPECT_EQ(r.files, 50);
  EXPECT_EQ(r.hardlinks, 1);  // b/link-to-f0 became a link to A/sub/f0
  EXPECT_EQ(r.symlinks, 1);
  EXPECT_EQ(r.directories, 3);
  EXPECT_EQ(r.errors, 0);
  for (const auto& [src, n] : rec.done_count) EXPECT_EQ(n, 1) << src;
  EXPECT_EQ(rec.done_count.size(), 55u);
  EXPECT_EQ(lstat_of(dir.file("A/sub/f0")).st_ino, lstat_of(dir.file("B/link-to-f0")).st_ino);
  EXPECT_EQ(testing::read_file(dir.file("A/sub/f7")), testing::pattern(1007, 7));
  ASSERT_FALSE(rec.updates.empty());
  const TreeProgress& last = rec.updates.back();
  EXPECT_EQ(last.files_done, 55);
  EXPECT_EQ(last.files_total, 55);  // roots and links included, as files_done
  EXPECT_EQ(last.bytes_done, r.bytes);
  EXPECT_EQ(last.bytes_total, r.bytes);
}

TEST_P(TreeTest, FailedEntryIsReportedAndTheRestIsCopied) {
  testing::TempDir dir(mnt_);
  const std::string src = dir.file("src"), dst = dir.file("dst");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  for (const char* n : {"a", "b", "c"}) testing::write_file(src + "/" + n, n);
  // A non-empty directory where file "b" should go: that one copy fails.
  ASSERT_EQ(::mkdir(dst.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((dst + "/b").c_str(), 0755), 0);
  testing::write_file(dst + "/b/keep", "keep");

  Recorder rec;
  auto tc = TreeCopy::open(archive(), &rec);
  ASSERT_TRUE(tc);
  ASSERT_TRUE((*tc)->copy(src, dst));
  const TreeReport r = (*tc)->finish();
  EXPECT_EQ(r.errors, 1);
  ASSERT_EQ(rec.errors.size(), 1u);
  EXPECT_EQ(rec.errors[0].code, EISDIR);
  EXPECT_NE(rec.errors[0].path.find("/b"), std::string::npos) << rec.errors[0].message();
  EXPECT_EQ(testing::read_file(dst + "/a"), "a");
  EXPECT_EQ(testing::read_file(dst + "/c"), "c");
  EXPECT_EQ(testing::read_file(dst + "/b/keep"), "keep");
}

TEST_P(TreeTest, DirectoryTimesAndModeAreSetAfterTheirContents) {
  testing::TempDir dir(mnt_);
  const std::string src = dir.file("src");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src + "/ro").c_str(), 0755), 0);
  testing::write_file(src + "/ro/f", "x");
  const struct timespec t[2] = {{1000000000, 123456789}, {1000000000, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/ro").c_str(), t, 0), 0);
  ASSERT_EQ(::chmod((src + "/ro").c_str(), 0555), 0);  // no write: filled anyway

  auto tc = TreeCopy::open(archive(), nullptr);
  ASSERT_TRUE(tc);
  ASSERT_TRUE((*tc)->copy(src, dir.file("dst")));
  EXPECT_EQ((*tc)->finish().errors, 0);
  const struct stat st = lstat_of(dir.file("dst/ro"));
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  EXPECT_EQ(testing::read_file(dir.file("dst/ro/f")), "x");
}

// Past 1024 queued directories the walkers read before they queue, and a
// directory is finished by whichever holder lets go last (its walker, its
// files' jobs, its hard links made in finish(), its subdirectories): on a
// wide directory and a deep chain, every directory still gets its times
// after its contents, including those a deferred hard link lands in.
TEST_P(TreeTest, WideAndDeepTreesFinishEveryDirectoryAfterItsContents) {
  testing::TempDir dir(mnt_);
  const std::string src = dir.file("src");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  std::vector<std::string> dirs;  // relative to src, parents first
  ASSERT_EQ(::mkdir((src + "/wide").c_str(), 0755), 0);
  dirs.push_back("wide");
  testing::write_file(src + "/first", "linked");
  constexpr int kWide = 3000;
  for (int i = 0; i < kWide; ++i) {
    const std::string d = "wide/" + std::to_string(i);
    ASSERT_EQ(::mkdir((src + "/" + d).c_str(), 0755), 0);
    dirs.push_back(d);
    if (i % 100 == 0) {
      ASSERT_EQ(::link((src + "/first").c_str(), (src + "/" + d + "/link").c_str()), 0);
    } else if (i % 10 == 0) {
      testing::write_file(src + "/" + d + "/f", d);
    }
  }
  std::string chain = "deep";
  ASSERT_EQ(::mkdir((src + "/" + chain).c_str(), 0755), 0);
  dirs.push_back(chain);
  for (int i = 0; i < 1500; ++i) {
    chain += "/d";
    ASSERT_EQ(::mkdir((src + "/" + chain).c_str(), 0755), 0);
    dirs.push_back(chain);
  }
  testing::write_file(src + "/" + chain + "/bottom", "b");
  // Children first, so that setting a child's times does not move its
  // parent's.
  for (size_t i = dirs.size(); i-- > 0;) {
    const struct timespec t[2] = {{1000000000, 0}, {1000000000 + static_cast<time_t>(i), 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/" + dirs[i]).c_str(), t, 0), 0) << dirs[i];
  }

  Recorder rec;
  auto tc = TreeCopy::open(archive(), &rec);
  ASSERT_TRUE(tc);
  ASSERT_TRUE((*tc)->copy(src, dir.file("dst")));
  EXPECT_EQ((*tc)->finish().errors, 0);
  EXPECT_TRUE(rec.errors.empty());
  int wrong = 0;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const struct stat st = lstat_of(dir.file("dst/" + dirs[i]));
    if (st.st_mtim.tv_sec != 1000000000 + static_cast<time_t>(i) && ++wrong <= 5) {
      ADD_FAILURE() << dirs[i] << ": mtime " << st.st_mtim.tv_sec;
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(lstat_of(dir.file("dst/wide/100/link")).st_ino,
            lstat_of(dir.file("dst/first")).st_ino);
  EXPECT_EQ(testing::read_file(dir.file("dst/" + chain + "/bottom")), "b");
}

TEST_P(TreeTest, DirectoryIntoItselfIsRefused) {
  testing::TempDir dir(mnt_);
  const std::string src = dir.file("src");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  auto tc = TreeCopy::open(archive(), nullptr);
  ASSERT_TRUE(tc);
  Status s = (*tc)->copy(src, src + "/inner");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_NE(s.error().detail.find("into itself"), std::string::npos);
  (*tc)->finish();
  struct stat st {};
  EXPECT_NE(::lstat((src + "/inner").c_str(), &st), 0);
}

INSTANTIATE_TEST_SUITE_P(Fs, TreeTest, ::testing::Values("btrfs", "xfs", "ext4", "tmpfs"),
                         [](const auto& info) { return info.param; });

// Rung 0 through the API: a subvolume root becomes a snapshot, reported as
// one entry of kind snapshot with a "used" step for Mechanism::snapshot.
// With the default -j, a tree whose files are copied (ext4, tmpfs: no
// reflink) raises its copying threads to io_jobs() once 32 files are done;
// one whose files are cloned (btrfs, xfs) keeps default_jobs().  An
// explicit jobs count is kept either way.
TEST_P(TreeTest, CopyingThreadsGrowOnlyWhenDataMoves) {
  testing::TempDir dir(mnt_);
  const std::string a = dir.file("a");
  ASSERT_EQ(::mkdir(a.c_str(), 0755), 0);
  for (int i = 0; i < 100; ++i) {
    testing::write_file(a + "/f" + std::to_string(i), testing::pattern(8192, i));
  }
  auto run = [&](int jobs, const std::string& to) {
    TreeOptions o = archive();
    o.jobs = jobs;
    auto tc = TreeCopy::open(o, nullptr);
    EXPECT_TRUE(tc);
    EXPECT_TRUE((*tc)->copy(a, to));
    return (*tc)->finish();
  };
  const TreeReport r = run(0, dir.file("A"));
  EXPECT_EQ(r.files, 100);
  EXPECT_EQ(r.errors, 0);
  const bool cloned = r.data.bytes(Mechanism::clone) == r.bytes;
  const int grown = std::max(default_jobs(), io_jobs());
  EXPECT_EQ(r.copy_threads, cloned ? default_jobs() : grown)
      << GetParam() << ": cloned " << r.data.bytes(Mechanism::clone) << " of " << r.bytes;
  EXPECT_EQ(cloned, GetParam() == "btrfs" || GetParam() == "xfs") << GetParam();
  EXPECT_EQ(run(3, dir.file("B")).copy_threads, 3);
  EXPECT_EQ(testing::read_file(dir.file("A/f99")), testing::pattern(8192, 99));
}

TEST(TreeSnapshot, SubvolumeRootBecomesASnapshotAndAPlainDirectoryDoesNot) {
  std::string why;
  const std::string mnt = mount_for("btrfs", &why);
  if (mnt.empty()) GTEST_SKIP() << why;
  testing::TempDir dir(mnt);
  const std::string sv = dir.file("sv");
  const std::string cmd = "btrfs subvolume create '" + sv + "' >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  testing::write_file(sv + "/f", "data");

  Recorder rec;
  auto tc = TreeCopy::open(archive(), &rec);
  ASSERT_TRUE(tc);
  ASSERT_TRUE((*tc)->copy(sv, dir.file("snap")));
  ASSERT_TRUE((*tc)->copy(dir.path() + "/sv/", dir.file("copy-of-dir-path")));
  const TreeReport r = (*tc)->finish();
  EXPECT_EQ(r.snapshots, 2);  // "sv/" names the same subvolume root
  EXPECT_EQ(rec.kinds[sv], EntryKind::snapshot);
  const Report& rep = rec.reports[sv];
  ASSERT_FALSE(rep.steps.empty());
  EXPECT_EQ(rep.steps[0].mech, Mechanism::snapshot);
  EXPECT_EQ(rep.steps[0].outcome, Outcome::used);
  EXPECT_EQ(lstat_of(dir.file("snap")).st_ino, 256u);  // a subvolume root
  EXPECT_EQ(testing::read_file(dir.file("snap/f")), "data");

  // A plain directory under always: a clear error, nothing made.
  TreeOptions always = archive();
  always.snapshot = SnapshotMode::always;
  ASSERT_EQ(::mkdir(dir.file("plain").c_str(), 0755), 0);
  auto tc2 = TreeCopy::open(always, nullptr);
  ASSERT_TRUE(tc2);
  Status s = (*tc2)->copy(dir.file("plain"), dir.file("plain-copy"));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("not a subvolume root"), std::string::npos)
      << s.error().message();
  (*tc2)->finish();
  struct stat st {};
  EXPECT_NE(::lstat(dir.file("plain-copy").c_str(), &st), 0);
  for (const char* sub : {"snap", "copy-of-dir-path", "sv"}) {
    std::system(("btrfs subvolume delete '" + dir.file(sub) + "' >/dev/null 2>&1").c_str());
  }
}

}  // namespace
}  // namespace offcopy
