// BackingFile on real files in a temporary directory, and IoPool.
#include "scsi/backing_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "scsi/io_pool.h"
#include "scsi_testing.h"

namespace offcopy::scsi {
namespace {

using testing::TempDir;

std::unique_ptr<BackingFile> open_file(const std::string& path, BackingOptions o,
                                       std::string& error) {
  return BackingFile::open(path, o, error);
}

void make_file(const std::string& path, off_t size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, size), 0);
  ::close(fd);
}

TEST(BackingFileTest, AMissingFileIsAnErrorNamingItAndTheCause) {
  TempDir dir;
  std::string error;
  EXPECT_EQ(open_file(dir.file("nope.img"), {}, error), nullptr);
  EXPECT_NE(error.find(dir.file("nope.img")), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
}

// The non-blocking tries (Plan::fast): data the page cache holds is read
// at once; a range past the end is "would block" (the pool reads it, as
// zeros); a write either lands or says EAGAIN, and on a filesystem that
// cannot tell (ext4's EOPNOTSUPP) the file stops being asked.
TEST(BackingFileTest, NowaitReadsCachedDataAndWritesLandOrSayEagain) {
  TempDir dir;
  BackingOptions o;
  o.create_size = 1 << 20;
  std::string error;
  auto f = open_file(dir.file("nowait.img"), o, error);
  ASSERT_NE(f, nullptr) << error;
  const std::vector<uint8_t> data(4096, 0x5a);
  ASSERT_EQ(f->write(8192, data.data(), data.size()), 0);  // now in the page cache
  std::vector<uint8_t> back(4096, 0);
  ASSERT_EQ(f->read_nowait(8192, back.data(), back.size()), 0);
  EXPECT_EQ(back, data);
  EXPECT_EQ(f->read_nowait((1 << 20) - 2048, back.data(), back.size()), EAGAIN)
      << "short: past EOF";
  const std::vector<uint8_t> more(4096, 0xa5);
  const int w = f->write_nowait(16384, more.data(), more.size());
  ASSERT_TRUE(w == 0 || w == EAGAIN) << w;
  if (w == 0) {
    ASSERT_EQ(f->read(16384, back.data(), back.size()), 0);
    EXPECT_EQ(back, more);
  }
  if (!f->can_write_nowait()) {
    EXPECT_EQ(w, EAGAIN);
  }
}

TEST(BackingFileTest, CreateMakesASparseFileOfTheSize) {
  TempDir dir;
  BackingOptions o;
  o.create_size = 64 << 20;
  std::string error;
  auto f = open_file(dir.file("new.img"), o, error);
  ASSERT_NE(f, nullptr) << error;
  EXPECT_EQ(f->size(), uint64_t{64} << 20);
  struct stat st;
  ASSERT_EQ(stat(dir.file("new.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);  // sparse
  // An existing file is opened as it is, not made again.
  o.create_size = 4096;
  auto again = open_file(dir.file("new.img"), o, error);
  ASSERT_NE(again, nullptr) << error;
  EXPECT_EQ(again->size(), uint64_t{64} << 20);
  // A size that is not whole blocks is refused before anything is made.
  o.create_size = 1000;
  EXPECT_EQ(open_file(dir.file("odd.img"), o, error), nullptr);
  EXPECT_NE(error.find("block size"), std::string::npos) << error;
  EXPECT_NE(access(dir.file("odd.img").c_str(), F_OK), 0);
}

TEST(BackingFileTest, DirectoriesDevicesEmptyAndPartBlockFilesAreRefused) {
  TempDir dir;
  std::string error;
  for (bool ro : {false, true}) {
    BackingOptions o;
    o.read_only = ro;
    EXPECT_EQ(open_file(dir.path(), o, error), nullptr);
    EXPECT_NE(error.find("Is a directory"), std::string::npos) << error;
  }
  EXPECT_EQ(open_file("/dev/null", {}, error), nullptr);
  EXPECT_NE(error.find("not a regular file or a block device"), std::string::npos) << error;
  make_file(dir.file("empty.img"), 0);
  EXPECT_EQ(open_file(dir.file("empty.img"), {}, error), nullptr);
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
  make_file(dir.file("odd.img"), 4096 + 100);
  EXPECT_EQ(open_file(dir.file("odd.img"), {}, error), nullptr);
  EXPECT_NE(error.find("not a multiple of the block size 512"), std::string::npos) << error;
  BackingOptions big;
  big.block_size = 4096;
  make_file(dir.file("k.img"), 4096 + 512);
  EXPECT_EQ(open_file(dir.file("k.img"), big, error), nullptr);
  EXPECT_NE(error.find(dir.file("k.img")), std::string::npos) << error;
}

TEST(BackingFileTest, ReadsWhatWasWrittenAndZerosPastTheEnd) {
  TempDir dir;
  make_file(dir.file("a.img"), 8192);
  std::string error;
  auto f = open_file(dir.file("a.img"), {}, error);
  ASSERT_NE(f, nullptr) << error;
  std::vector<uint8_t> w(1024, 0xab), r(2048, 0xff);
  EXPECT_EQ(f->write(7168, w.data(), w.size()), 0);
  EXPECT_EQ(f->read(7168, r.data(), r.size()), 0);
  EXPECT_EQ(std::vector<uint8_t>(r.begin(), r.begin() + 1024), w);
  EXPECT_EQ(std::vector<uint8_t>(r.begin() + 1024, r.end()), std::vector<uint8_t>(1024, 0));
}

TEST(BackingFileTest, ReadOnlyFilesReadButDoNotWriteOrPunch) {
  TempDir dir;
  make_file(dir.file("ro.img"), 8192);
  BackingOptions o;
  o.read_only = true;
  std::string error;
  auto f = open_file(dir.file("ro.img"), o, error);
  ASSERT_NE(f, nullptr) << error;
  uint8_t b[512] = {1};
  EXPECT_EQ(f->read(0, b, sizeof b), 0);
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(f->write(0, b, sizeof b), EBADF);
  EXPECT_FALSE(f->can_punch());
  EXPECT_EQ(f->sync(), 0);
}

TEST(BackingFileTest, PunchedRangesAreHolesThatReadAsZeros) {
  TempDir dir;
  BackingOptions o;
  o.block_size = 4096;
  o.create_size = 1 << 20;
  std::string error;
  auto f = open_file(dir.file("p.img"), o, error);
  ASSERT_NE(f, nullptr) << error;
  ASSERT_TRUE(f->can_punch()) << "/tmp's filesystem should punch holes";
  EXPECT_EQ(f->size(), uint64_t{1} << 20);  // the probe past the end changed nothing
  bool mapped = true;
  uint64_t run = 0;
  ASSERT_EQ(f->extent_at(0, 1 << 20, mapped, run), 0);
  EXPECT_FALSE(mapped);
  EXPECT_EQ(run, uint64_t{1} << 20);

  std::vector<uint8_t> w(64 << 10, 0x5a);
  ASSERT_EQ(f->write(0, w.data(), w.size()), 0);
  ASSERT_EQ(f->extent_at(0, 1 << 20, mapped, run), 0);
  EXPECT_TRUE(mapped);
  EXPECT_EQ(run, w.size());
  ASSERT_EQ(f->punch_hole(16 << 10, 16 << 10), 0);
  ASSERT_EQ(f->extent_at(0, 1 << 20, mapped, run), 0);
  EXPECT_TRUE(mapped);
  EXPECT_EQ(run, 16u << 10);
  ASSERT_EQ(f->extent_at(16 << 10, 1 << 20, mapped, run), 0);
  EXPECT_FALSE(mapped);
  EXPECT_EQ(run, 16u << 10);
  ASSERT_EQ(f->extent_at(40 << 10, 4096, mapped, run), 0);  // capped at max_len
  EXPECT_TRUE(mapped);
  EXPECT_EQ(run, 4096u);
  ASSERT_EQ(f->extent_at(64 << 10, 1 << 20, mapped, run), 0);  // a hole to the end
  EXPECT_FALSE(mapped);
  EXPECT_EQ(run, (1u << 20) - (64u << 10));
  std::vector<uint8_t> r(16 << 10, 0xff);
  ASSERT_EQ(f->read(16 << 10, r.data(), r.size()), 0);
  EXPECT_EQ(r, std::vector<uint8_t>(16 << 10, 0));
}

TEST(BackingFileTest, SyncsAreCountedAndRefreshSeesGrowth) {
  TempDir dir;
  make_file(dir.file("s.img"), 4096);
  std::string error;
  auto f = open_file(dir.file("s.img"), {}, error);
  ASSERT_NE(f, nullptr) << error;
  EXPECT_EQ(f->syncs(), 0u);
  EXPECT_EQ(f->sync(), 0);
  EXPECT_EQ(f->sync(), 0);
  EXPECT_EQ(f->syncs(), 2u);
  ASSERT_EQ(truncate(dir.file("s.img").c_str(), 16384), 0);
  EXPECT_EQ(f->size(), 4096u);
  EXPECT_EQ(f->refresh_size(), 16384u);
  EXPECT_EQ(f->size(), 16384u);
}

TEST(IoPoolTest, RunsEverythingPostedBeforeItIsDestroyed) {
  std::atomic<int> ran{0};
  {
    IoPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.post([&ran] { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(IoPoolTest, RunsWorkOnSeveralThreadsAtOnce) {
  // Two tasks that each wait for the other can only finish on two threads.
  std::atomic<int> arrived{0};
  std::atomic<int> done{0};
  {
    IoPool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.post([&] {
        arrived.fetch_add(1);
        while (arrived.load() < 2) std::this_thread::yield();
        done.fetch_add(1);
      });
    }
  }
  EXPECT_EQ(done.load(), 2);
}

}  // namespace
}  // namespace offcopy::scsi
