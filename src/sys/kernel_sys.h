// The real kernel behind the syscall seam (src/sys/sys.cc, sys_tree.cc,
// sys_durable.cc).  Each call turns errno into a negative return at the
// call, so errno never travels.  Reached through Sys::real(); nothing else
// names this class.
//
// Thread-safety: stateless; one instance serves every thread.
#ifndef OFFCOPY_SYS_KERNEL_SYS_H_
#define OFFCOPY_SYS_KERNEL_SYS_H_

#include <memory>
#include <string>
#include <vector>

#include "sys/sys.h"

namespace offcopy::sys {

class KernelSys final : public Sys {
 public:
  int clone(int dst, int src) override;
  int clone_range(int dst, int src, int64_t src_off, int64_t len, int64_t dst_off) override;
  int64_t copy_file_range(int src, int64_t* src_off, int dst, int64_t* dst_off,
                          int64_t len) override;
  int64_t pread(int fd, void* buf, int64_t len, int64_t off) override;
  int64_t pwrite(int fd, const void* buf, int64_t len, int64_t off) override;
  int64_t read(int fd, void* buf, int64_t len) override;
  int64_t write(int fd, const void* buf, int64_t len) override;
  int64_t lseek(int fd, int64_t off, int whence) override;
  int64_t make_pipe(int fds[2], int64_t size) override;
  int64_t splice_read(int fd, int64_t off, int pipe_w, int64_t len) override;
  int64_t splice_write(int pipe_r, int fd, int64_t off, int64_t len) override;
  int fstat(int fd, struct stat* st) override;
  int fstatfs(int fd, struct statfs* st) override;
  int fcntl_getfl(int fd) override;
  int fcntl_setfl(int fd, int flags) override;
  int poll_in(int fd, int timeout_ms) override;
  int fallocate(int fd, int mode, int64_t off, int64_t len) override;
  int ftruncate(int fd, int64_t len) override;
  int open(const char* path, int flags, unsigned mode) override;
  int close(int fd) override;
  int eventfd() override;
  int unlink(const char* path) override;
  int stat(const char* path, struct stat* st) override;
  int open_at(int dir, const char* name, int flags, unsigned mode) override;
  int unlink_at(int dir, const char* name) override;
  int stat_at(int dir, const char* name, struct stat* st, bool follow) override;
  int lstat(const char* path, struct stat* st) override;
  int realpath(const char* path, std::string* out) override;
  int64_t open_files_limit() override;
  mode_t read_umask() override;
  int list_dir(const char* path, DirList* out) override;
  int list_dir_fd(int dir, DirList* out) override;
  int mkdir(const char* path, unsigned mode) override;
  int rmdir(const char* path) override;
  int symlink(const char* target, const char* path) override;
  int readlink(const char* path, std::string* target) override;
  int mknod(const char* path, unsigned mode, dev_t dev) override;
  int link(const char* from, const char* to) override;
  int chown(MetaTarget t, uid_t uid, gid_t gid) override;
  int chmod(MetaTarget t, unsigned mode) override;
  int utimens(MetaTarget t, const struct timespec times[2]) override;
  int list_xattrs(MetaTarget t, std::string* names) override;
  int get_xattr(MetaTarget t, const char* name, std::string* value) override;
  int set_xattr(MetaTarget t, const char* name, const std::string& value) override;
  int btrfs_snapshot(int src_fd, int parent_fd, const char* name) override;
  int btrfs_has_child_subvolumes(int fd) override;
  std::unique_ptr<Ring> make_ring(unsigned depth, int* err) override;
  int fsync(int fd) override;
  int fdatasync(int fd) override;
  int fadvise_dontneed(int fd) override;
  int rename(const char* from, const char* to, bool noreplace) override;
  int extents(int fd, std::vector<Extent>* out) override;
};

}  // namespace offcopy::sys

#endif  // OFFCOPY_SYS_KERNEL_SYS_H_
