#include "tree/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include "tree/nodes.h"

namespace offcopy::tree {
namespace {

// The inode number of every btrfs subvolume's root directory
// (BTRFS_FIRST_FREE_OBJECTID).
constexpr ino_t kSubvolRootIno = 256;

bool preserves_all(const TreeOptions& opt) {
  const Preserve& p = opt.file.preserve;
  return p.mode && p.ownership && p.timestamps && p.xattr && opt.preserve_links;
}

// Why a snapshot would not be what the copy makes ("" when it would).
std::string unequal_reason(sys::Sys& s, int src_fd, const std::string& dst,
                           const TreeOptions& opt) {
  struct stat dst_st {};
  if (s.lstat(dst.c_str(), &dst_st) == 0) return "the destination exists";
  if (opt.snapshot == SnapshotMode::always) return {};
  if (!preserves_all(opt)) return "a snapshot keeps all metadata; the copy would not (use -a)";
  if (opt.deref == Deref::always) return "-L follows links; a snapshot keeps them";
  if (!opt.one_file_system) {
    const int kids = s.btrfs_has_child_subvolumes(src_fd);
    if (kids != 0) {
      return kids > 0 ? "subvolumes below the source would be empty in a snapshot"
                      : std::string("cannot list subvolumes below the source: ") +
                            sys::errno_name(-kids);
    }
  }
  return {};
}

Result<SnapshotOutcome> not_taken(const TreeOptions& opt, const std::string& src,
                                  std::string why, int code = EINVAL) {
  if (opt.snapshot == SnapshotMode::always) {
    return entry_error(code, "snapshot", Role::source, src, why);
  }
  return SnapshotOutcome{false, std::move(why)};
}

}  // namespace

Result<SnapshotOutcome> try_snapshot(sys::Sys& s, const std::string& src,
                                     const struct stat& st, const std::string& dst,
                                     const TreeOptions& opt) {
  if (opt.snapshot == SnapshotMode::never) return SnapshotOutcome{false, "--snapshot=never"};
  if (!S_ISDIR(st.st_mode)) return not_taken(opt, src, "not a directory", ENOTDIR);
  const int sfd = s.open(src.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (sfd < 0) return not_taken(opt, src, "open: " + std::string(sys::errno_name(-sfd)), -sfd);
  sys::UniqueFd src_fd(sfd);
  struct statfs fs {};
  if (s.fstatfs(sfd, &fs) < 0 || fs.f_type != BTRFS_SUPER_MAGIC) {
    return not_taken(opt, src, "not on btrfs", EXDEV);
  }
  if (st.st_ino != kSubvolRootIno) return not_taken(opt, src, "not a subvolume root");
  if (std::string why = unequal_reason(s, sfd, dst, opt); !why.empty()) {
    return not_taken(opt, src, why, why == "the destination exists" ? EEXIST : EINVAL);
  }
  const std::string parent = parent_of(dst);
  const int pfd = s.open(parent.c_str(), O_RDONLY | O_DIRECTORY, 0);
  if (pfd < 0) return entry_error(-pfd, "open", Role::destination, parent);
  sys::UniqueFd parent_fd(pfd);
  const int r = s.btrfs_snapshot(sfd, pfd, base_of(dst).c_str());
  if (r == 0) return SnapshotOutcome{true, {}};
  // Another filesystem, or not allowed to this user: copy instead.
  if (r == -EXDEV || r == -EPERM || r == -EACCES || r == -ENOTTY || r == -EOPNOTSUPP) {
    return not_taken(opt, src, std::string("BTRFS_IOC_SNAP_CREATE_V2: ") + sys::errno_name(-r),
                     -r);
  }
  return entry_error(-r, "snapshot", Role::destination, dst);
}

}  // namespace offcopy::tree
