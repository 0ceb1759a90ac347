#include "meta/metadata.h"

#include <errno.h>

#include <cstring>
#include <string>

namespace offcopy::meta {
namespace {

bool is_acl(const char* name) {
  return std::strcmp(name, "system.posix_acl_access") == 0 ||
         std::strcmp(name, "system.posix_acl_default") == 0;
}

bool starts_with(const char* s, const char* prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

// Names cp leaves out of --preserve=xattr, after libattr's /etc/xattr.conf:
// a filesystem's private copies of its ACLs and capabilities (XFS shows
// them as trusted.SGI_*), integrity and security labels that belong to the
// destination's policy, and permission-like attributes that come with the
// mode (POSIX ACLs: is_acl; NFSv4 and rich ACLs do not carry over to other
// filesystems).
bool cp_skips(const char* name) {
  return is_acl(name) || starts_with(name, "trusted.SGI_") ||
         starts_with(name, "xfsroot.") || starts_with(name, "user.Beagle.") ||
         starts_with(name, "afs.") || std::strcmp(name, "security.evm") == 0 ||
         std::strcmp(name, "security.selinux") == 0 ||
         std::strcmp(name, "system.nfs4_acl") == 0 ||
         std::strcmp(name, "system.nfs4acl") == 0 ||
         std::strcmp(name, "system.richacl") == 0;
}

void warn(std::vector<Warning>* out, std::string op, int err, std::string detail = {}) {
  if (out != nullptr) out->push_back(Warning{std::move(op), err, std::move(detail)});
}

// Returns whether the owner (or at least the group) was given.
bool copy_owner(sys::Sys& s, const struct stat& st, sys::Sys::MetaTarget dst,
                std::vector<Warning>* warnings) {
  const char* op = dst.fd >= 0 ? "fchown" : "lchown";
  int r = s.chown(dst, st.st_uid, st.st_gid);
  if (r == 0) return true;
  if (r == -EPERM) {
    // An unprivileged user may still give a group of their own (cp -a).
    s.chown(dst, static_cast<uid_t>(-1), st.st_gid);
    return false;
  }
  warn(warnings, op, -r);
  return false;
}

}  // namespace

void copy_xattrs(sys::Sys& s, sys::Sys::MetaTarget src, sys::Sys::MetaTarget dst,
                 bool acls, bool others, std::vector<Warning>* warnings) {
  std::string names;
  if (int r = s.list_xattrs(src, &names); r < 0) {
    // A source filesystem without xattrs has none to copy.
    if (r != -EOPNOTSUPP) warn(warnings, "listxattr", -r);
    return;
  }
  std::string value;
  for (size_t at = 0; at < names.size(); at += std::strlen(names.c_str() + at) + 1) {
    const char* name = names.c_str() + at;
    const bool wanted = is_acl(name) ? acls : others && !cp_skips(name);
    if (*name == '\0' || !wanted) continue;
    if (int r = s.get_xattr(src, name, &value); r < 0) {
      if (r != -ENODATA) warn(warnings, "getxattr", -r, name);  // ENODATA: removed since
      continue;
    }
    if (int r = s.set_xattr(dst, name, value); r < 0) {
      warn(warnings, dst.fd >= 0 ? "fsetxattr" : "lsetxattr", -r, name);
    }
  }
}

void apply(sys::Sys& s, const struct stat& st, sys::Sys::MetaTarget src,
           sys::Sys::MetaTarget dst, const Preserve& what,
           std::vector<Warning>* warnings, const struct stat* dst_now) {
  const bool link = S_ISLNK(st.st_mode);
  bool owned = true;
  // A chown may clear set-id bits, so after one the mode is always set.
  bool mode_known = dst_now != nullptr;
  if (what.ownership &&
      (dst_now == nullptr || dst_now->st_uid != st.st_uid || dst_now->st_gid != st.st_gid)) {
    owned = copy_owner(s, st, dst, warnings);
    mode_known = false;
  }
  // --preserve=mode carries the POSIX ACLs (cp's copy_acl); =xattr the
  // other attributes (cp's copy_attr).
  const bool acls = what.mode && !link;
  if (acls || what.xattr) copy_xattrs(s, src, dst, acls, what.xattr, warnings);
  if (what.mode && !link) {
    mode_t mode = st.st_mode & 07777;
    // Set-id bits for an owner the copy could not give would hand the
    // copier's identity to whoever runs it.
    if (!owned) mode &= ~mode_t{S_ISUID | S_ISGID};
    if (mode_known && (dst_now->st_mode & 07777) == mode) {
      // already so
    } else if (int r = s.chmod(dst, mode); r < 0) {
      warn(warnings, dst.fd >= 0 ? "fchmod" : "chmod", -r);
    }
  }
  if (what.timestamps) {
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (int r = s.utimens(dst, times); r < 0) {
      warn(warnings, dst.fd >= 0 ? "futimens" : "utimensat", -r);
    }
  }
}

}  // namespace offcopy::meta
