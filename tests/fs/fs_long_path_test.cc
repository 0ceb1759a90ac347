// Paths longer than PATH_MAX (issue 5).  The kernel refuses such a path
// whole (ENAMETOOLONG); the syscall seam resolves it piecewise and uses
// the *at() calls (src/sys/long_path.h).  Checked here: every path call of
// sys::Sys does on a ~6000-byte path what it does on a short one, and a
// tree whose deepest file lies more than 8000 bytes down copies whole
// through TreeCopy, metadata, hard links and symlinks included.
//
// The test builds and checks its deep trees with *at() calls from open
// directory fds, never with a whole path, and removes them the same way:
// std::filesystem (TempDir's cleanup) gives up on them.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "offcopy/tree.h"
#include "support/test_files.h"
#include "sys/sys.h"

namespace offcopy {
namespace {

using sys::Sys;
using sys::UniqueFd;

// A 200-byte name: well under NAME_MAX, so depth alone makes paths long.
std::string component(int i) { return std::string(200, static_cast<char>('a' + i % 26)); }

// Removes dirfd/name and everything under it, by *at() calls only.
void remove_at(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    ::unlinkat(dirfd, name.c_str(), 0);
    return;
  }
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return;
  std::vector<std::string> names;
  if (DIR* d = ::fdopendir(::dup(fd.get()))) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  for (const std::string& n : names) remove_at(fd.get(), n);
  ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
}

// A TempDir whose contents are removed by remove_at() first.
class DeepTemp {
 public:
  explicit DeepTemp(const std::string& parent) : dir_(parent) {}
  ~DeepTemp() { remove_at(AT_FDCWD, dir_.path()); }
  std::string file(const std::string& name) const { return dir_.file(name); }

 private:
  testing::TempDir dir_;
};

// Makes the directories of `rel` under base/; returns the open last one.
UniqueFd make_chain(const std::string& base, const std::vector<std::string>& rel) {
  UniqueFd fd(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_TRUE(fd.valid()) << base << ": " << strerror(errno);
  for (const std::string& n : rel) {
    EXPECT_EQ(::mkdirat(fd.get(), n.c_str(), 0755), 0) << strerror(errno);
    fd.reset(::openat(fd.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << strerror(errno);
  }
  return fd;
}

// Opens base/rel... (a chain made by make_chain, or its copy).
UniqueFd open_chain(const std::string& base, const std::vector<std::string>& rel) {
  UniqueFd fd(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (const std::string& n : rel) {
    if (!fd.valid()) break;
    fd.reset(::openat(fd.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  EXPECT_TRUE(fd.valid()) << strerror(errno);
  return fd;
}

// Components enough for a relative path of at least `bytes` bytes.
std::vector<std::string> chain_of(size_t bytes) {
  std::vector<std::string> rel;
  for (size_t len = 0; len < bytes; len += 201) {
    rel.push_back(component(static_cast<int>(rel.size())));
  }
  return rel;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep = "/") {
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : sep) + p;
  return s;
}

std::string res(int r) { return r < 0 ? sys::errno_name(-r) : "ok"; }

std::string xattr_names(Sys& s, Sys::MetaTarget t) {
  std::string list;
  if (int r = s.list_xattrs(t, &list); r < 0) return res(r);
  // Only ours: a filesystem or LSM may add security.* names of its own.
  std::vector<std::string> names;
  for (size_t at = 0; at < list.size(); at += strlen(list.c_str() + at) + 1) {
    const std::string n = list.c_str() + at;
    if (n.rfind("user.", 0) == 0 || n.rfind("trusted.", 0) == 0) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return join(names, ",");
}

std::string xattr_value(Sys& s, Sys::MetaTarget t, const char* name) {
  std::string v;
  const int r = s.get_xattr(t, name, &v);
  return r < 0 ? res(r) : v;
}

// Every path call of the seam in directory `dir` (empty, any length),
// one line per observable result.
std::vector<std::string> exercise(Sys& s, const std::string& dir) {
  const auto p = [&](const char* name) { return dir + "/" + name; };
  std::vector<std::string> out;
  const auto log = [&](const std::string& what, const std::string& got) {
    out.push_back(what + ": " + got);
  };
  struct stat st {}, st2 {};

  int fd = s.open(p("file").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
  log("open create", res(fd));
  if (fd >= 0) {
    s.write(fd, "hello", 5);
    s.close(fd);
  }
  log("open create again", res(s.open(p("file").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640)));
  fd = s.open(p("file").c_str(), O_RDONLY, 0);
  char buf[16] = {};
  if (fd >= 0) {
    s.read(fd, buf, sizeof buf - 1);
    s.close(fd);
  }
  log("open read", buf);
  // (Each call before its log line: the operands of + are unsequenced.)
  int r = s.stat(p("file").c_str(), &st);
  log("stat file", res(r) + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_size));
  log("stat file/", res(s.stat(p("file/").c_str(), &st)));
  log("stat file/x", res(s.stat(p("file/x").c_str(), &st)));
  log("stat missing/x", res(s.stat(p("missing/x").c_str(), &st)));

  log("mkdir", res(s.mkdir(p("sub").c_str(), 0750)));
  log("mkdir again", res(s.mkdir(p("sub").c_str(), 0750)));
  r = s.lstat(p("sub/").c_str(), &st);
  log("lstat sub/", res(r) + " " + std::to_string(st.st_mode));

  log("symlink", res(s.symlink("file", p("sym").c_str())));
  std::string target;
  r = s.readlink(p("sym").c_str(), &target);
  log("readlink", res(r) + " " + target);
  r = s.lstat(p("sym").c_str(), &st);
  log("lstat sym", res(r) + (S_ISLNK(st.st_mode) ? " link" : " not a link"));
  r = s.stat(p("sym").c_str(), &st);
  log("stat sym", res(r) + " " + std::to_string(st.st_size));
  // A symlink to a directory in the middle of a path is followed.
  log("symlink to dir", res(s.symlink("sub", p("dirsym").c_str())));
  fd = s.open(p("dirsym/inner").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  log("open through dirsym", res(fd));
  if (fd >= 0) s.close(fd);
  log("lstat sub/inner", res(s.lstat(p("sub/inner").c_str(), &st)));

  log("mknod fifo", res(s.mknod(p("fifo").c_str(), S_IFIFO | 0600, 0)));
  r = s.lstat(p("fifo").c_str(), &st);
  log("lstat fifo", res(r) + (S_ISFIFO(st.st_mode) ? " fifo" : " not a fifo"));
  log("mknod chr", res(s.mknod(p("null").c_str(), S_IFCHR | 0600, makedev(1, 3))));
  r = s.stat(p("null").c_str(), &st);
  log("stat chr", res(r) + " " + std::to_string(major(st.st_rdev)) + "," +
                      std::to_string(minor(st.st_rdev)));

  log("link", res(s.link(p("file").c_str(), p("sub/hard").c_str())));
  s.stat(p("file").c_str(), &st);
  s.stat(p("sub/hard").c_str(), &st2);
  log("link nlink", std::to_string(st.st_nlink) + (st.st_ino == st2.st_ino ? " same" : " other"));
  log("link again", res(s.link(p("file").c_str(), p("sub/hard").c_str())));

  // Path targets: chown and utimens act on a symlink itself, chmod on
  // what it points to.
  log("chown sym", res(s.chown({-1, p("sym").c_str()}, 1234, 5678)));
  s.lstat(p("sym").c_str(), &st);
  s.stat(p("file").c_str(), &st2);
  log("chown owners", std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + " " +
                          std::to_string(st2.st_uid) + ":" + std::to_string(st2.st_gid));
  log("chmod sym", res(s.chmod({-1, p("sym").c_str()}, 0604)));
  s.stat(p("file").c_str(), &st);
  log("chmod mode", std::to_string(st.st_mode & 07777));
  const struct timespec times[2] = {{1000, 0}, {2000, 5}};
  log("utimens sym", res(s.utimens({-1, p("sym").c_str()}, times)));
  s.lstat(p("sym").c_str(), &st);
  s.stat(p("file").c_str(), &st2);
  log("utimens times", std::to_string(st.st_mtim.tv_sec) + "." +
                           std::to_string(st.st_mtim.tv_nsec) +
                           (st2.st_mtim.tv_sec == 2000 ? " target too" : " target kept"));
  log("utimens missing", res(s.utimens({-1, p("missing").c_str()}, times)));

  // xattrs by path: the l-calls' semantics (a symlink's own attributes).
  // trusted.* because user.* is refused on symlinks; the test runs as root.
  log("set user.k", res(s.set_xattr({-1, p("file").c_str()}, "user.k", "v1")));
  log("set trusted.k on sym", res(s.set_xattr({-1, p("sym").c_str()}, "trusted.k", "v2")));
  log("list file", xattr_names(s, {-1, p("file").c_str()}));
  log("list sym", xattr_names(s, {-1, p("sym").c_str()}));
  log("get file user.k", xattr_value(s, {-1, p("file").c_str()}, "user.k"));
  log("get sym trusted.k", xattr_value(s, {-1, p("sym").c_str()}, "trusted.k"));
  log("get file trusted.k", xattr_value(s, {-1, p("file").c_str()}, "trusted.k"));
  log("get sym user.k", xattr_value(s, {-1, p("sym").c_str()}, "user.k"));
  log("get missing", xattr_value(s, {-1, p("missing").c_str()}, "user.k"));

  sys::DirList entries;
  r = s.list_dir(dir.c_str(), &entries);
  std::vector<std::string> names;
  for (const sys::DirEntry e : entries) {
    names.push_back(std::string(e.name) + "=" + std::to_string(e.type));
  }
  std::sort(names.begin(), names.end());
  log("list_dir", res(r) + " " + join(names, " "));
  log("list_dir file", res(s.list_dir(p("file").c_str(), &entries)));

  log("rmdir full", res(s.rmdir(p("sub").c_str())));
  log("unlink sym", res(s.unlink(p("sym").c_str())));
  log("lstat sym gone", res(s.lstat(p("sym").c_str(), &st)));
  log("unlink dir", res(s.unlink(p("sub").c_str())));
  log("unlink inner", res(s.unlink(p("sub/inner").c_str())));
  log("unlink hard", res(s.unlink(p("sub/hard").c_str())));
  log("rmdir", res(s.rmdir(p("sub").c_str())));
  log("rmdir gone", res(s.rmdir(p("sub").c_str())));
  return out;
}

// What exercise() sees on a short path: the reference for the long ones.
const std::vector<std::string> kExpected = {
    "open create: ok",
    "open create again: EEXIST",
    "open read: hello",
    "stat file: ok " + std::to_string(S_IFREG | 0640) + " 5",
    "stat file/: ENOTDIR",
    "stat file/x: ENOTDIR",
    "stat missing/x: ENOENT",
    "mkdir: ok",
    "mkdir again: EEXIST",
    "lstat sub/: ok " + std::to_string(S_IFDIR | 0750),
    "symlink: ok",
    "readlink: ok file",
    "lstat sym: ok link",
    "stat sym: ok 5",
    "symlink to dir: ok",
    "open through dirsym: ok",
    "lstat sub/inner: ok",
    "mknod fifo: ok",
    "lstat fifo: ok fifo",
    "mknod chr: ok",
    "stat chr: ok 1,3",
    "link: ok",
    "link nlink: 2 same",
    "link again: EEXIST",
    "chown sym: ok",
    "chown owners: 1234:5678 0:0",
    "chmod sym: ok",
    "chmod mode: 388",  // 0604
    "utimens sym: ok",
    "utimens times: 2000.5 target kept",
    "utimens missing: ENOENT",
    "set user.k: ok",
    "set trusted.k on sym: ok",
    "list file: user.k",
    "list sym: trusted.k",
    "get file user.k: v1",
    "get sym trusted.k: v2",
    "get file trusted.k: ENODATA",
    "get sym user.k: ENODATA",
    "get missing: ENOENT",
    "list_dir: ok dirsym=10 fifo=1 file=8 null=2 sub=4 sym=10",
    "list_dir file: ENOTDIR",
    "rmdir full: ENOTEMPTY",
    "unlink sym: ok",
    "lstat sym gone: ENOENT",
    "unlink dir: EISDIR",
    "unlink inner: ok",
    "unlink hard: ok",
    "rmdir: ok",
    "rmdir gone: ENOENT",
};

class LongPathTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown, trusted.* xattrs, mknod)";
    std::string why;
    mnt_ = testing::mount_for(GetParam(), &why);
    if (mnt_.empty()) GTEST_SKIP() << why;
  }
  std::string mnt_;
};

TEST_P(LongPathTest, EverySysPathCallActsOnALongPathAsOnAShortOne) {
  DeepTemp dir(mnt_);
  Sys& s = Sys::real();
  ASSERT_EQ(::mkdir(dir.file("short").c_str(), 0755), 0);
  EXPECT_EQ(exercise(s, dir.file("short")), kExpected);

  // ~6000 bytes down: longer than the kernel's PATH_MAX of 4096.
  const std::vector<std::string> rel = chain_of(6000);
  UniqueFd deep = make_chain(dir.file(""), rel);
  ASSERT_TRUE(deep.valid());
  for (const char* name : {"abs", "dbl", "rel"}) ASSERT_EQ(::mkdirat(deep.get(), name, 0755), 0);
  const std::string abs = dir.file(join(rel)) + "/abs";
  ASSERT_GT(abs.size(), 6000u);
  EXPECT_EQ(exercise(s, abs), kExpected) << "absolute long path";

  // Runs of slashes, one of them long enough to be cut in the middle
  // when the path is opened a stretch at a time.
  EXPECT_EQ(exercise(s, dir.file(std::string(5000, '/') + join(rel, "//")) + "//dbl"), kExpected)
      << "runs of slashes";

  // Relative to the working directory, as `offcopy -a deep dst` passes it.
  char cwd[PATH_MAX];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.file("").c_str()), 0);
  const std::vector<std::string> got = exercise(s, join(rel) + "/rel");
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(got, kExpected) << "relative long path";

  // A component longer than NAME_MAX is refused as the kernel refuses it.
  struct stat st {};
  const std::string too_long = dir.file(join(rel)) + "/" + std::string(NAME_MAX + 1, 'x') + "/f";
  EXPECT_EQ(s.stat(too_long.c_str(), &st), -ENAMETOOLONG);
}

// The deepest file more than 8000 bytes below the root: TreeCopy (cp -a)
// copies its data, mode and times, a hard-link pair, a symlink and a FIFO
// next to it, and the directories' metadata on the way down.
TEST_P(LongPathTest, TreeCopyCopiesATreeDeeperThanPathMax) {
  DeepTemp dir(mnt_);
  ASSERT_EQ(::mkdir(dir.file("src").c_str(), 0755), 0);
  const std::vector<std::string> rel = chain_of(8000);
  {
    UniqueFd deep = make_chain(dir.file("src"), rel);
    ASSERT_TRUE(deep.valid());
    const std::string data = testing::pattern(300000, 5);
    UniqueFd f(::openat(deep.get(), "data", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    ASSERT_TRUE(f.valid());
    ASSERT_EQ(::write(f.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::fchmod(f.get(), 0640), 0);  // whatever the umask
    const struct timespec t[2] = {{1111, 0}, {2222, 7}};
    ASSERT_EQ(::futimens(f.get(), t), 0);
    f.reset(::openat(deep.get(), "h1", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_EQ(::write(f.get(), "linked", 6), 6);
    ASSERT_EQ(::linkat(deep.get(), "h1", deep.get(), "h2", 0), 0);
    ASSERT_EQ(::symlinkat("data", deep.get(), "sym"), 0);
    ASSERT_EQ(::fchownat(deep.get(), "sym", 1234, 5678, AT_SYMLINK_NOFOLLOW), 0);
    const struct timespec l[2] = {{5555, 0}, {6666, 3}};
    ASSERT_EQ(::utimensat(deep.get(), "sym", l, AT_SYMLINK_NOFOLLOW), 0);
    ASSERT_EQ(::mkfifoat(deep.get(), "fifo", 0600), 0);
    ASSERT_EQ(::fsetxattr(deep.get(), "user.k", "deep", 4, 0), 0);
    ASSERT_EQ(::fchmod(deep.get(), 0750), 0);
    const struct timespec d[2] = {{3333, 0}, {4444, 9}};
    ASSERT_EQ(::futimens(deep.get(), d), 0);  // last: the entries above changed it
  }
  ASSERT_GT((join(rel) + "/data").size(), 8000u);

  struct Failures : TreeObserver {
    void failed(const Error& e) override {
      std::lock_guard lk(mu);
      text += e.op + " " + sys::errno_name(e.code) + " " + e.path.substr(0, 80) + "...\n";
    }
    void warning(const std::string&, const Warning& w) override {
      std::lock_guard lk(mu);
      text += "warning " + w.op + " " + sys::errno_name(w.code) + "\n";
    }
    std::mutex mu;
    std::string text;
  } obs;
  TreeOptions opt;
  opt.file.preserve = Preserve::all();
  opt.preserve_links = true;
  opt.count_totals = true;
  auto tc = TreeCopy::open(opt, &obs);
  ASSERT_TRUE(tc) << tc.error().message();
  (*tc)->plan({dir.file("src")});
  Status st = (*tc)->copy(dir.file("src"), dir.file("dst"));
  ASSERT_TRUE(st) << st.error().message();
  const TreeReport r = (*tc)->finish();
  EXPECT_EQ(r.errors, 0) << obs.text;
  EXPECT_EQ(r.warnings, 0) << obs.text;
  EXPECT_EQ(r.files, 2);
  EXPECT_EQ(r.hardlinks, 1);
  EXPECT_EQ(r.symlinks, 1);
  EXPECT_EQ(r.specials, 1);
  EXPECT_EQ(r.directories, static_cast<int64_t>(rel.size()) + 1);

  UniqueFd deep = open_chain(dir.file("dst"), rel);
  ASSERT_TRUE(deep.valid());
  struct stat s {};
  ASSERT_EQ(::fstatat(deep.get(), "data", &s, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(s.st_mode, S_IFREG | 0640);
  EXPECT_EQ(s.st_mtim.tv_sec, 2222);
  EXPECT_EQ(s.st_mtim.tv_nsec, 7);
  std::string got(300001, '\0');
  UniqueFd f(::openat(deep.get(), "data", O_RDONLY | O_CLOEXEC));
  const ssize_t n = ::pread(f.get(), got.data(), got.size(), 0);
  got.resize(static_cast<size_t>(std::max<ssize_t>(0, n)));
  EXPECT_TRUE(got == testing::pattern(300000, 5)) << "data differs, " << got.size() << " bytes";

  struct stat h1 {}, h2 {};
  ASSERT_EQ(::fstatat(deep.get(), "h1", &h1, AT_SYMLINK_NOFOLLOW), 0);
  ASSERT_EQ(::fstatat(deep.get(), "h2", &h2, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(h1.st_ino, h2.st_ino);
  EXPECT_EQ(h1.st_nlink, 2u);
  char link[16] = {};
  EXPECT_EQ(::readlinkat(deep.get(), "sym", link, sizeof link - 1), 4);
  EXPECT_STREQ(link, "data");
  // A symlink's metadata is set by path (lchown, utimensat).
  ASSERT_EQ(::fstatat(deep.get(), "sym", &s, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(s.st_uid, 1234u);
  EXPECT_EQ(s.st_gid, 5678u);
  EXPECT_EQ(s.st_mtim.tv_sec, 6666);
  EXPECT_EQ(s.st_mtim.tv_nsec, 3);
  ASSERT_EQ(::fstatat(deep.get(), "fifo", &s, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_TRUE(S_ISFIFO(s.st_mode));
  EXPECT_EQ(s.st_mode & 07777, 0600u);

  // The directories' metadata, set by path after their contents: xattrs
  // read and written by path too.
  char value[16] = {};
  EXPECT_EQ(::fgetxattr(deep.get(), "user.k", value, sizeof value - 1), 4);
  EXPECT_STREQ(value, "deep");
  ASSERT_EQ(::fstat(deep.get(), &s), 0);
  EXPECT_EQ(s.st_mode, S_IFDIR | 0750);
  EXPECT_EQ(s.st_mtim.tv_sec, 4444);
  EXPECT_EQ(s.st_mtim.tv_nsec, 9);
}

INSTANTIATE_TEST_SUITE_P(Fs, LongPathTest, ::testing::Values("btrfs", "xfs", "ext4", "tmpfs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace offcopy
