// The asynchronous engine on real filesystems: a one-shot clone reports its
// bytes when it finishes, and one source copied to destinations on every
// filesystem gets a per-destination report naming the rung each used.
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/engine.h"
#include "support/test_files.h"

namespace offcopy {
namespace {

using testing::describe;
using testing::mount_for;

constexpr int64_t kSize = (32 << 20) + 4097;

struct Update {
  int64_t done;
  std::optional<Mechanism> mech;
};

class EngineCloneTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineCloneTest, OneShotCloneReportsItsBytesWhenItFinishes) {
  std::string why;
  const std::string mnt = mount_for(GetParam(), &why);
  if (mnt.empty()) GTEST_SKIP() << why;
  testing::TempDir dir(mnt);
  const std::string data = testing::pattern(kSize, 5);
  testing::write_file(dir.file("src"), data);

  std::mutex mu;
  std::vector<Update> updates;
  EngineOptions opt;
  opt.workers = 1;
  opt.on_progress = [&](JobId, const Progress& p) {
    std::lock_guard lock(mu);
    updates.push_back({p.bytes_done, p.mechanism});
  };
  auto engine = Engine::open(opt);
  ASSERT_TRUE(engine) << engine.error().message();
  auto job = (*engine)->submit_future(FileJob{dir.file("src"), {dir.file("dst")}});
  ASSERT_TRUE(job) << job.error().message();
  Completion c = job->completion.get();
  ASSERT_EQ(c.results.size(), 1u);
  ASSERT_TRUE(c.results[0]) << c.results[0].error().message();
  EXPECT_EQ(c.results[0]->bytes(Mechanism::clone), kSize) << describe(*c.results[0]);
  EXPECT_EQ(testing::read_file(dir.file("dst")), data);

  std::lock_guard lock(mu);
  ASSERT_FALSE(updates.empty()) << "no progress update for a clone";
  EXPECT_EQ(updates.back().done, kSize) << "the final update carries the clone's bytes";
  bool saw_clone = false;
  for (const Update& u : updates) saw_clone |= u.mech == Mechanism::clone;
  EXPECT_TRUE(saw_clone) << "no update named the clone rung";
}

INSTANTIATE_TEST_SUITE_P(Fs, EngineCloneTest, ::testing::Values("btrfs", "xfs"),
                         [](const auto& info) { return info.param; });

TEST(EngineMultiFsTest, OneSourceToEveryFilesystemReportsEachRung) {
  std::string why;
  const std::string btrfs = mount_for("btrfs", &why);
  if (btrfs.empty()) GTEST_SKIP() << why;
  std::vector<std::unique_ptr<testing::TempDir>> dirs;
  std::vector<std::string> fss = {"btrfs", "ext4", "xfs", "tmpfs"};
  std::vector<std::string> dsts;
  for (const std::string& fs : fss) {
    const std::string mnt = mount_for(fs, &why);
    if (mnt.empty()) GTEST_SKIP() << why;
    dirs.push_back(std::make_unique<testing::TempDir>(mnt));
    dsts.push_back(dirs.back()->file("dst"));
  }
  const std::string src = dirs[0]->file("src");
  const std::string data = testing::pattern(kSize, 6);
  testing::write_file(src, data);

  auto engine = Engine::open({.workers = 2});
  ASSERT_TRUE(engine) << engine.error().message();
  auto job = (*engine)->submit_future(FileJob{src, dsts});
  ASSERT_TRUE(job) << job.error().message();
  Completion c = job->completion.get();
  ASSERT_EQ(c.results.size(), dsts.size());
  for (size_t i = 0; i < dsts.size(); ++i) {
    ASSERT_TRUE(c.results[i]) << fss[i] << ": " << c.results[i].error().message();
    const Report& r = *c.results[i];
    EXPECT_EQ(testing::read_file(dsts[i]), data) << fss[i];
    if (i == 0) {
      EXPECT_EQ(r.bytes(Mechanism::clone), kSize) << describe(r);
      continue;
    }
    EXPECT_EQ(r.bytes(Mechanism::clone) + r.bytes(Mechanism::kernel_copy), 0)
        << fss[i] << ": " << describe(r);
    EXPECT_EQ(r.bytes(Mechanism::splice), kSize) << fss[i] << ": " << describe(r);
    const Step* clone = testing::find_step(r, Mechanism::clone);
    ASSERT_NE(clone, nullptr) << describe(r);
    EXPECT_EQ(clone->outcome, Outcome::skipped) << describe(r);
    EXPECT_NE(clone->why.find("EXDEV"), std::string::npos) << describe(r);
  }
}

}  // namespace
}  // namespace offcopy
