// A Sys that forwards every call to another Sys (leveldb's EnvWrapper, for
// syscalls).  A seam that changes a few calls -- FaultSys injecting faults,
// a test counting opens -- derives from it and overrides only those; every
// other call reaches the Sys it wraps, not the kernel behind its back.
//
// Thread-safety: as the wrapped Sys.
#ifndef OFFCOPY_SYS_SYS_WRAPPER_H_
#define OFFCOPY_SYS_SYS_WRAPPER_H_

#include <memory>
#include <string>
#include <vector>

#include "sys/sys.h"

namespace offcopy::sys {

class SysWrapper : public Sys {
 public:
  explicit SysWrapper(Sys& target) : target_(target) {}
  // The Sys calls are forwarded to.
  Sys& target() const { return target_; }

  int clone(int dst, int src) override { return target_.clone(dst, src); }
  int clone_range(int dst, int src, int64_t src_off, int64_t len, int64_t dst_off) override {
    return target_.clone_range(dst, src, src_off, len, dst_off);
  }
  int64_t copy_file_range(int src, int64_t* src_off, int dst, int64_t* dst_off,
                          int64_t len) override {
    return target_.copy_file_range(src, src_off, dst, dst_off, len);
  }
  int64_t pread(int fd, void* buf, int64_t len, int64_t off) override {
    return target_.pread(fd, buf, len, off);
  }
  int64_t pwrite(int fd, const void* buf, int64_t len, int64_t off) override {
    return target_.pwrite(fd, buf, len, off);
  }
  int64_t read(int fd, void* buf, int64_t len) override { return target_.read(fd, buf, len); }
  int64_t write(int fd, const void* buf, int64_t len) override {
    return target_.write(fd, buf, len);
  }
  int64_t lseek(int fd, int64_t off, int whence) override { return target_.lseek(fd, off, whence); }
  int64_t make_pipe(int fds[2], int64_t size) override { return target_.make_pipe(fds, size); }
  int64_t splice_read(int fd, int64_t off, int pipe_w, int64_t len) override {
    return target_.splice_read(fd, off, pipe_w, len);
  }
  int64_t splice_write(int pipe_r, int fd, int64_t off, int64_t len) override {
    return target_.splice_write(pipe_r, fd, off, len);
  }
  int fstat(int fd, struct stat* st) override { return target_.fstat(fd, st); }
  int fstatfs(int fd, struct statfs* st) override { return target_.fstatfs(fd, st); }
  int fcntl_getfl(int fd) override { return target_.fcntl_getfl(fd); }
  int fcntl_setfl(int fd, int flags) override { return target_.fcntl_setfl(fd, flags); }
  int poll_in(int fd, int timeout_ms) override { return target_.poll_in(fd, timeout_ms); }
  int fallocate(int fd, int mode, int64_t off, int64_t len) override {
    return target_.fallocate(fd, mode, off, len);
  }
  int ftruncate(int fd, int64_t len) override { return target_.ftruncate(fd, len); }
  int open(const char* path, int flags, unsigned mode) override {
    return target_.open(path, flags, mode);
  }
  int close(int fd) override { return target_.close(fd); }
  int eventfd() override { return target_.eventfd(); }
  int unlink(const char* path) override { return target_.unlink(path); }
  int stat(const char* path, struct stat* st) override { return target_.stat(path, st); }
  int open_at(int dir, const char* name, int flags, unsigned mode) override {
    return target_.open_at(dir, name, flags, mode);
  }
  int unlink_at(int dir, const char* name) override { return target_.unlink_at(dir, name); }
  int stat_at(int dir, const char* name, struct stat* st, bool follow) override {
    return target_.stat_at(dir, name, st, follow);
  }
  int lstat(const char* path, struct stat* st) override { return target_.lstat(path, st); }
  int realpath(const char* path, std::string* out) override { return target_.realpath(path, out); }
  int64_t open_files_limit() override { return target_.open_files_limit(); }
  mode_t read_umask() override { return target_.read_umask(); }
  int list_dir(const char* path, DirList* out) override { return target_.list_dir(path, out); }
  int list_dir_fd(int dir, DirList* out) override { return target_.list_dir_fd(dir, out); }
  int mkdir(const char* path, unsigned mode) override { return target_.mkdir(path, mode); }
  int rmdir(const char* path) override { return target_.rmdir(path); }
  int symlink(const char* target, const char* path) override {
    return target_.symlink(target, path);
  }
  int readlink(const char* path, std::string* target) override {
    return target_.readlink(path, target);
  }
  int mknod(const char* path, unsigned mode, dev_t dev) override {
    return target_.mknod(path, mode, dev);
  }
  int link(const char* from, const char* to) override { return target_.link(from, to); }
  int chown(MetaTarget t, uid_t uid, gid_t gid) override { return target_.chown(t, uid, gid); }
  int chmod(MetaTarget t, unsigned mode) override { return target_.chmod(t, mode); }
  int utimens(MetaTarget t, const struct timespec times[2]) override {
    return target_.utimens(t, times);
  }
  int list_xattrs(MetaTarget t, std::string* names) override {
    return target_.list_xattrs(t, names);
  }
  int get_xattr(MetaTarget t, const char* name, std::string* value) override {
    return target_.get_xattr(t, name, value);
  }
  int set_xattr(MetaTarget t, const char* name, const std::string& value) override {
    return target_.set_xattr(t, name, value);
  }
  int btrfs_snapshot(int src_fd, int parent_fd, const char* name) override {
    return target_.btrfs_snapshot(src_fd, parent_fd, name);
  }
  int btrfs_has_child_subvolumes(int fd) override { return target_.btrfs_has_child_subvolumes(fd); }
  std::unique_ptr<Ring> make_ring(unsigned depth, int* err) override {
    return target_.make_ring(depth, err);
  }
  int fsync(int fd) override { return target_.fsync(fd); }
  int fdatasync(int fd) override { return target_.fdatasync(fd); }
  int fadvise_dontneed(int fd) override { return target_.fadvise_dontneed(fd); }
  int rename(const char* from, const char* to, bool noreplace) override {
    return target_.rename(from, to, noreplace);
  }
  int extents(int fd, std::vector<Extent>* out) override { return target_.extents(fd, out); }

 private:
  Sys& target_;
};

}  // namespace offcopy::sys

#endif  // OFFCOPY_SYS_SYS_WRAPPER_H_
