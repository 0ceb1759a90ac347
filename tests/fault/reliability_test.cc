// copy_file's guarantees under faults, through the syscall seam: atomic
// copies leave the old destination or the new one; a failed copy removes
// what it created; --fsync and --verify do what they say; a source that
// changes while it is copied is copied again, or reported -- never
// half-copied in silence.  Each test would fail without its feature.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ladder/copier.h"
#include "mech/context.h"
#include "mech/probe.h"
#include "offcopy/copy.h"
#include "support/test_files.h"
#include "sys/fault_sys.h"

namespace offcopy {
namespace {

using testing::pattern;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

constexpr int64_t kSize = 3 * 1024 * 1024 + 17;

// A FaultSys with hooks on the calls these tests need to meddle with.
class HookSys : public sys::FaultSys {
 public:
  std::function<void()> before_copy;     // each copy_file_range call
  std::function<void(int dst)> after_copy;
  std::function<int(int fd)> on_fsync;   // returns what fsync returns
  std::function<void(const char* to)> before_rename;
  int fsyncs = 0;

  int64_t copy_file_range(int src, int64_t* src_off, int dst, int64_t* dst_off,
                          int64_t len) override {
    if (before_copy) before_copy();
    const int64_t r = FaultSys::copy_file_range(src, src_off, dst, dst_off, len);
    if (after_copy) after_copy(dst);
    return r;
  }
  int fsync(int fd) override {
    ++fsyncs;
    return on_fsync ? on_fsync(fd) : FaultSys::fsync(fd);
  }
  int rename(const char* from, const char* to, bool noreplace) override {
    if (before_rename) before_rename(to);
    return FaultSys::rename(from, to, noreplace);
  }
  // Every open and unlink by path, and by name in an open directory.
  std::vector<std::string> by_path, by_name;
  int open(const char* path, int flags, unsigned mode) override {
    by_path.push_back(std::string("open ") + path);
    return FaultSys::open(path, flags, mode);
  }
  int unlink(const char* path) override {
    by_path.push_back(std::string("unlink ") + path);
    return FaultSys::unlink(path);
  }
  int open_at(int dir, const char* name, int flags, unsigned mode) override {
    by_name.push_back(std::string("open ") + name);
    return FaultSys::open_at(dir, name, flags, mode);
  }
  int unlink_at(int dir, const char* name) override {
    by_name.push_back(std::string("unlink ") + name);
    return FaultSys::unlink_at(dir, name);
  }
};

class ReliabilityTest : public ::testing::Test {
 protected:
  ReliabilityTest() {
    ctx_.sys = &sys_;
    ctx_.probes = &probes_;
    // Clone is not what is under test; skip straight to copy_file_range
    // (64 KiB per call, so hooks run many times per file).
    sys_.add({.call = sys::Call::clone, .err = EOPNOTSUPP, .times = 0});
    ctx_.tun.kernel_chunk = 64 * 1024;
    write_file(src_, source_);
  }

  Result<Report> copy(const FileOptions& o) { return ladder::copy_file(ctx_, src_, dst_, o); }

  // Names in the directory other than the source and the destination.
  std::vector<std::string> strays() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir_.path().c_str());
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != ".." && n != "src" && n != "dst") out.push_back(n);
    }
    ::closedir(d);
    return out;
  }

  static ino_t inode(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
  }

  HookSys sys_;
  mech::ProbeCache probes_;
  mech::Context ctx_;
  TempDir dir_;
  std::string src_ = dir_.file("src");
  std::string dst_ = dir_.file("dst");
  std::string source_ = pattern(kSize, 7);
};

FileOptions atomic_options() {
  FileOptions o;
  o.atomic = true;
  return o;
}

TEST_F(ReliabilityTest, AtomicFailureKeepsOldDestinationAndLeavesNoTemporary) {
  write_file(dst_, "the old contents");
  const ino_t before = inode(dst_);
  sys_.add({.call = sys::Call::copy_file_range, .kind = sys::Fault::Kind::error_after,
            .err = EIO, .bytes = 1 << 20});
  auto r = copy(atomic_options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_NE(r.error().detail.find("unchanged"), std::string::npos) << r.error().message();
  EXPECT_EQ(read_file(dst_), "the old contents");
  EXPECT_EQ(inode(dst_), before);
  EXPECT_TRUE(strays().empty());
  EXPECT_EQ(read_file(src_), source_);
}

TEST_F(ReliabilityTest, WithoutAtomicTheSameFailureDestroysTheOldDestination) {
  // The control for the test above: in place, the old bytes are gone.
  write_file(dst_, "the old contents");
  sys_.add({.call = sys::Call::copy_file_range, .kind = sys::Fault::Kind::error_after,
            .err = EIO, .bytes = 1 << 20});
  ASSERT_FALSE(copy(FileOptions{}));
  EXPECT_NE(read_file(dst_), "the old contents");
}

TEST_F(ReliabilityTest, AtomicSuccessReplacesByRenameKeepingModeOfOldFile) {
  write_file(dst_, "old");
  ASSERT_EQ(::chmod(dst_.c_str(), 0604), 0);
  const ino_t before = inode(dst_);
  auto r = copy(atomic_options());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_file(dst_), source_);
  EXPECT_NE(inode(dst_), before);  // a new file renamed over the old one
  struct stat st {};
  ASSERT_EQ(::stat(dst_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_TRUE(strays().empty());
  EXPECT_GE(sys_.fsyncs, 1);  // durable before the rename publishes it
}

TEST_F(ReliabilityTest, AtomicWithNoClobberNeverReplacesAFileThatAppearsMeanwhile) {
  FileOptions o = atomic_options();
  o.overwrite = Overwrite::no_clobber;
  sys_.before_rename = [&](const char*) { write_file(dst_, "raced in"); };
  auto r = copy(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EEXIST);
  EXPECT_EQ(read_file(dst_), "raced in");
  EXPECT_TRUE(strays().empty());
}

TEST_F(ReliabilityTest, AtomicTemporaryNameFitsBesideALongName) {
  dst_ = dir_.file(std::string(255, 'n'));
  auto r = copy(atomic_options());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_file(dst_), source_);
}

TEST_F(ReliabilityTest, FailedCopyRemovesTheFileItCreated) {
  sys_.add({.call = sys::Call::copy_file_range, .kind = sys::Fault::Kind::error_after,
            .err = ENOSPC, .bytes = 1 << 20});
  auto r = copy(FileOptions{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOSPC);
  EXPECT_EQ(r.error().path, dst_);
  EXPECT_NE(r.error().detail.find("removed the partly written"), std::string::npos);
  EXPECT_NE(::access(dst_.c_str(), F_OK), 0);
}

// FileOptions::source_dir / destination_dir: the files are opened by name
// in the directories given (here a second directory whose "src" differs,
// so that the copy shows which one was read), errors still name the full
// paths, and a failed copy removes its file by name too.
TEST_F(ReliabilityTest, FilesInOpenDirectoriesAreOpenedAndRemovedByName) {
  TempDir other;
  write_file(other.file("src"), "the other source");
  sys::UniqueFd sdir(::open(other.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  sys::UniqueFd ddir(::open(other.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(sdir.valid() && ddir.valid());
  FileOptions o;
  o.create_new = true;
  o.source_dir = sdir.get();
  o.destination_dir = ddir.get();
  auto r = copy(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_file(other.file("dst")), "the other source");
  EXPECT_NE(::access(dst_.c_str(), F_OK), 0);
  EXPECT_EQ(sys_.by_path, std::vector<std::string>{});
  EXPECT_EQ(sys_.by_name, (std::vector<std::string>{"open src", "open dst"}));

  // Without create_new the destination goes by path: an existing file
  // must be looked at first.
  sys_.by_name.clear();
  o.create_new = false;
  r = copy(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(sys_.by_name, std::vector<std::string>{"open src"});
  EXPECT_EQ(sys_.by_path, std::vector<std::string>{"open " + dst_});

  ASSERT_EQ(::unlink(dst_.c_str()), 0);
  o.create_new = true;
  sys_.by_path.clear();

  // A failure: the error names the path given, the file goes by name.
  ASSERT_EQ(::unlink(other.file("dst").c_str()), 0);
  write_file(other.file("src"), source_);
  sys_.by_name.clear();
  sys_.add({.call = sys::Call::copy_file_range, .kind = sys::Fault::Kind::error_after,
            .err = ENOSPC, .bytes = 1 << 20});
  r = copy(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOSPC);
  EXPECT_EQ(r.error().path, dst_);
  EXPECT_NE(r.error().detail.find("removed the partly written"), std::string::npos);
  EXPECT_NE(::access(other.file("dst").c_str(), F_OK), 0);
  EXPECT_EQ(sys_.by_path, std::vector<std::string>{});
  EXPECT_EQ(sys_.by_name, (std::vector<std::string>{"open src", "open dst", "unlink dst"}));
}

TEST_F(ReliabilityTest, FsyncIsCalledOnlyWhenAskedAndItsFailureFailsTheCopy) {
  ASSERT_TRUE(copy(FileOptions{}));
  EXPECT_EQ(sys_.fsyncs, 0);
  ASSERT_EQ(::unlink(dst_.c_str()), 0);
  FileOptions o;
  o.fsync = true;
  sys_.on_fsync = [](int) { return -EIO; };
  auto r = copy(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().op, "fsync");
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_NE(::access(dst_.c_str(), F_OK), 0) << "a copy not made durable is not kept";
}

TEST_F(ReliabilityTest, FsyncCoversTheFileAndItsDirectory) {
  FileOptions o;
  o.fsync = true;
  ASSERT_TRUE(copy(o));
  EXPECT_EQ(sys_.fsyncs, 2);  // the new file, then the directory naming it
}

// Corrupts one byte of the destination behind the copier's back, as a
// buggy filesystem or device would (OpenZFS returned zeros for copied
// chunks; a clone after EIO could share stale data).
void corrupt_after_first_chunk(HookSys& s, int64_t at) {
  s.after_copy = [at, done = false](int dst) mutable {
    if (done) return;
    done = true;
    const char bad = 0x5a;
    ASSERT_EQ(::pwrite(dst, &bad, 1, at), 1);
  };
}

TEST_F(ReliabilityTest, VerifyCatchesCorruptionAndRemovesTheCopy) {
  source_ = std::string(kSize, '\0');  // zeros: the corrupting byte differs
  write_file(src_, source_);
  corrupt_after_first_chunk(sys_, 1000);
  FileOptions o;
  o.verify = true;
  auto r = copy(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().op, "verify");
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_EQ(r.error().offset, 1000);
  EXPECT_NE(::access(dst_.c_str(), F_OK), 0);
}

TEST_F(ReliabilityTest, WithoutVerifyTheSameCorruptionGoesUnnoticed) {
  source_ = std::string(kSize, '\0');
  write_file(src_, source_);
  corrupt_after_first_chunk(sys_, 1000);
  ASSERT_TRUE(copy(FileOptions{}));
  EXPECT_NE(read_file(dst_), source_);
}

TEST_F(ReliabilityTest, VerifyReadsEverythingWhenNothingIsShared) {
  FileOptions o;
  o.verify = true;
  auto r = copy(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->verified_bytes + r->verify_skipped_bytes, kSize);
  EXPECT_EQ(r->verified_bytes, kSize);  // /tmp copy_file_range: no sharing
}

TEST_F(ReliabilityTest, SourceChangedOnceIsCopiedAgain) {
  int calls = 0;
  sys_.before_copy = [&] {
    if (++calls == 3) write_file(src_, source_ + "grown");  // mid first pass
  };
  auto r = copy(FileOptions{});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->retries, 1);
  EXPECT_EQ(read_file(dst_), source_ + "grown");
}

// The kernel's own EAGAIN (a source that answers it forever) is told apart
// from offcopy's "source changed", which carries the same code.
TEST_F(ReliabilityTest, ARealEagainIsASystemErrorNotSourceChanged) {
  sys_.add({.call = sys::Call::copy_file_range, .err = EAGAIN, .times = 0});
  auto r = copy(FileOptions{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EAGAIN);
  EXPECT_EQ(r.error().kind, ErrorKind::system);
  EXPECT_EQ(r.error().op, "copy_file_range");
}

TEST_F(ReliabilityTest, SourceThatKeepsChangingIsReportedNotHalfCopied) {
  int calls = 0;
  sys_.before_copy = [&] {
    // Grows: a rewrite of the same size within one timestamp tick (a few
    // ms, coarse clock) would not show in mtime/ctime -- see
    // docs/reliability.md.
    if (++calls % 3 == 0) {
      const int fd = ::open(src_.c_str(), O_WRONLY | O_APPEND);
      ASSERT_EQ(::write(fd, "x", 1), 1);
      ::close(fd);
    }
  };
  write_file(dst_, "old");
  auto r = copy(atomic_options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kSourceChanged);
  EXPECT_EQ(r.error().kind, ErrorKind::source_changed);
  EXPECT_EQ(r.error().path, src_);
  EXPECT_NE(r.error().detail.find("changed while it was copied"), std::string::npos);
  EXPECT_EQ(read_file(dst_), "old");  // atomic: the old one stays
  EXPECT_TRUE(strays().empty());
}

TEST_F(ReliabilityTest, CancelledCopyLeavesNothingBehind) {
  std::atomic<bool> cancel{false};
  mech::Control control;
  control.cancel = &cancel;
  int calls = 0;
  sys_.before_copy = [&] {
    if (++calls == 4) cancel = true;
  };
  write_file(dst_, "old");
  auto r = ladder::copy_file(ctx_, src_, dst_, atomic_options(), &control);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECANCELED);
  EXPECT_EQ(read_file(dst_), "old");
  EXPECT_TRUE(strays().empty());
}

// copy_range on fds it did not open reads their flags only when it must
// (Job::flags_assumed): two regular files copied by the offload rungs take
// no fcntl at all, and an O_APPEND destination -- which the kernel's
// offload calls refuse with EBADF -- is still appended to, the flags read
// and the copy started over, with the report the flags call for.
TEST(LazyFlagsTest, FlagsAreReadOnlyWhenACopyNeedsThem) {
  struct CountingSys : sys::FaultSys {
    int getfl = 0;
    int fcntl_getfl(int fd) override {
      ++getfl;
      return FaultSys::fcntl_getfl(fd);
    }
  } sys;
  mech::ProbeCache probes;
  mech::Context ctx;
  ctx.sys = &sys;
  ctx.probes = &probes;
  TempDir dir;
  const std::string data = pattern(64 * 1024, 3);
  write_file(dir.file("src"), data);
  write_file(dir.file("dst"), "hello");
  sys::UniqueFd in(::open(dir.file("src").c_str(), O_RDONLY | O_CLOEXEC));
  sys::UniqueFd out(::open(dir.file("dst").c_str(), O_WRONLY | O_CLOEXEC));
  int64_t so = 0, dof = 0;
  auto r = ladder::copy_range(ctx, in.get(), &so, out.get(), &dof, 100000, {});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_file(dir.file("dst")), data);
  EXPECT_EQ(sys.getfl, 0);

  write_file(dir.file("dst"), "hello");
  sys::UniqueFd app(::open(dir.file("dst").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  so = 0;
  r = ladder::copy_range(ctx, in.get(), &so, app.get(), nullptr, 100000, {});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(read_file(dir.file("dst")), "hello" + data);
  EXPECT_EQ(so, static_cast<int64_t>(data.size()));
  EXPECT_EQ(r->bytes(Mechanism::kernel_copy), 0);
  EXPECT_GT(sys.getfl, 0);
  bool said_append = false;
  for (const Step& st : r->steps) said_append |= st.why.find("O_APPEND") != std::string::npos;
  EXPECT_TRUE(said_append) << "the report of the attempt that read the flags";

  // A source open only for writing: the same clear error as before.
  sys::UniqueFd wronly(::open(dir.file("src").c_str(), O_WRONLY | O_CLOEXEC));
  so = 0;
  dof = 0;
  r = ladder::copy_range(ctx, wronly.get(), &so, out.get(), &dof, 100, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EBADF);
  EXPECT_NE(r.error().detail.find("not open for reading"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(read_file(dir.file("src")), data);
}

}  // namespace
}  // namespace offcopy
