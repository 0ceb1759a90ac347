#!/usr/bin/env python3
"""Tree generator and comparator for tests/cli/tree_test.sh (stdlib only).

  tree_compare.py gen DIR
      Creates DIR (must not exist) holding every kind of entry a tree copy
      has to get right (see gen() below), and prints one "key=value" line
      per feature it could or could not make (acl=..., device=..., ...).

  tree_compare.py compare A B [options]
      Walks A and B with lstat (bytes paths, no symlink is followed) and
      compares them entry by entry: names, type, mode (all 07777 bits),
      uid, gid, size and content (sha256) of regular files, symlink
      targets, rdev of devices, mtime_ns of every entry (directories and
      symlinks too; atime is not compared), xattrs (names and values, ACLs
      included as system.posix_acl_* xattrs) and the hard-link structure
      (which paths share an inode).  Prints one line per difference and
      exits 1 if there is any, 0 otherwise.
        --skip-socket        leave sockets out on both sides
        --ignore-xattrs      do not compare xattrs at all
        --ignore-user-xattrs do not compare user.* xattrs
        --ignore F[,F...]    do not compare these fields
        --only F[,F...]      compare only these fields (names and types are
                             always compared)
        --ignore-root        do not compare the fields of A and B themselves
        --exclude REL        leave out REL (relative to A/B) and all below it
        --baseline C         a difference between A and B is tolerated when
                             A and C differ in the same path and field (C is
                             typically `cp -a A C`: what cp could not keep
                             either); tolerated ones are listed as notes
      Fields: mode owner size content target rdev mtime xattrs links

  tree_compare.py count DIR [--skip-socket]
      Prints a JSON object counting the entries of DIR by kind:
      regular_paths, regular_inodes, hardlinks (regular_paths -
      regular_inodes), directories (DIR included), symlinks, fifos,
      devices, sockets.

  tree_compare.py fill DIR N
      Creates N small files in DIR (in subdirectories of 1000), for the
      snapshot timing test.

  tree_compare.py alloc FILE
      Prints "ALLOCATED SIZE" (st_blocks * 512, st_size).
"""

import hashlib
import json
import os
import random
import socket
import stat
import struct
import sys

FIELDS = ("mode", "owner", "size", "content", "target", "rdev", "mtime",
          "xattrs", "links")

# --------------------------------------------------------------- helpers


def show(rel):
    """A printable, bounded rendering of a relative bytes path."""
    if rel == b"":
        return "."
    s = repr(rel)[2:-1]  # escapes \n, \xff, quotes
    if len(s) > 110:
        s = s[:50] + "..." + s[-50:] + " (%d bytes)" % len(rel)
    return s


def short(v, n=60):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "...(%d)" % len(s)


def kind_of(mode):
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "chardev"
    if stat.S_ISBLK(mode):
        return "blockdev"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "unknown(%o)" % stat.S_IFMT(mode)


def file_hash(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
    except OSError as e:
        return "unreadable: %s" % (e.strerror,)
    return h.hexdigest()


def read_xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        return {"<listxattr error>": e.strerror}
    for n in sorted(names):
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            out[n] = "<getxattr error: %s>" % e.strerror
    return out


def scan(root, skip_socket=False, exclude=()):
    """relpath (bytes) -> dict of the entry's fields, root included (b"")."""
    root = os.fsencode(root)
    exclude = set(os.fsencode(e).strip(b"/") for e in exclude)
    entries = {}

    def rec(rel):
        p = os.path.join(root, rel) if rel else root
        st = os.lstat(p)
        k = kind_of(st.st_mode)
        if k == "socket" and skip_socket:
            return
        e = {
            "type": k,
            "mode": stat.S_IMODE(st.st_mode),
            "owner": (st.st_uid, st.st_gid),
            "mtime": st.st_mtime_ns,
            "xattrs": read_xattrs(p),
            "ino": (st.st_dev, st.st_ino),
        }
        if k == "symlink":
            e["target"] = os.readlink(p)
            del e["mode"]  # always 0777 on Linux, and cannot be set
        elif k == "file":
            e["size"] = st.st_size
            e["content"] = file_hash(p)
        elif k in ("chardev", "blockdev"):
            e["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
        entries[rel] = e
        if k == "dir":
            for name in sorted(os.listdir(p)):
                r = os.path.join(rel, name) if rel else name
                if r in exclude:
                    continue
                rec(r)

    rec(b"")
    # Hard links: for each non-directory, the other paths sharing its inode.
    groups = {}
    for rel, e in entries.items():
        if e["type"] != "dir":
            groups.setdefault(e["ino"], []).append(rel)
    for g in groups.values():
        for rel in g:
            entries[rel]["links"] = tuple(sorted(x for x in g if x != rel))
    return entries


def diff_trees(a, b, fields, ignore_root=False, ignore_user_xattrs=False):
    """Differences as a list of (relpath, field, message)."""
    out = []
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    for side, only, src in (("A", only_a, a), ("B", only_b, b)):
        miss = set(only)
        for rel in only:
            parent = os.path.dirname(rel)
            if rel and parent in miss:
                continue  # reported through its parent
            below = sum(1 for x in only if x.startswith(rel + b"/")) if rel else 0
            extra = " (and %d entries below it)" % below if below else ""
            out.append((rel, "exists", "%s: %s only in %s%s" %
                        (show(rel), src[rel]["type"], side, extra)))
    for rel in sorted(set(a) & set(b)):
        ea, eb = a[rel], b[rel]
        if ea["type"] != eb["type"]:
            out.append((rel, "type", "%s: type %s in A, %s in B" %
                        (show(rel), ea["type"], eb["type"])))
            continue
        if rel == b"" and ignore_root:
            continue
        t = ea["type"]
        for f in fields:
            if f not in ea and f not in eb:
                continue
            va, vb = ea.get(f), eb.get(f)
            if f == "xattrs" and ignore_user_xattrs:
                va = {k: v for k, v in va.items() if not k.startswith("user.")}
                vb = {k: v for k, v in vb.items() if not k.startswith("user.")}
            if f == "links":
                # Compare which *other* paths of the tree share the inode;
                # paths missing from either side are reported already.
                va = tuple(x for x in va if x in b)
                vb = tuple(x for x in vb if x in a)
            if va == vb:
                continue
            if f == "xattrs":
                names = sorted(set(va) | set(vb))
                for n in names:
                    if va.get(n) != vb.get(n):
                        out.append((rel, "xattrs:" + n,
                                    "%s (%s): xattr %s: A=%s B=%s" %
                                    (show(rel), t, n,
                                     short(va.get(n, "<absent>")),
                                     short(vb.get(n, "<absent>")))))
                continue
            if f == "mode":
                m = "A=%04o B=%04o" % (va, vb)
            elif f == "owner":
                m = "A=%d:%d B=%d:%d" % (va + vb)
            elif f == "mtime":
                d = vb - va
                m = "A=%d B=%d (ns; B-A=%s%d.%09d s)" % (
                    va, vb, "-" if d < 0 else "+", abs(d) // 10**9, abs(d) % 10**9)
            elif f == "links":
                m = "A shares its inode with [%s], B with [%s]" % (
                    ", ".join(show(x) for x in va), ", ".join(show(x) for x in vb))
            else:
                m = "A=%s B=%s" % (short(va), short(vb))
            out.append((rel, f, "%s (%s): %s: %s" % (show(rel), t, f, m)))
    return out


def parse_fields(s):
    fs = [x for x in s.split(",") if x]
    for f in fs:
        if f not in FIELDS:
            sys.exit("tree_compare: unknown field %r (fields: %s)" % (f, " ".join(FIELDS)))
    return fs


def cmd_compare(argv):
    pos = []
    skip_socket = ignore_root = ignore_user = False
    fields = list(FIELDS)
    exclude = []
    baseline = None
    i = 0
    while i < len(argv):
        x = argv[i]
        if x == "--skip-socket":
            skip_socket = True
        elif x == "--ignore-root":
            ignore_root = True
        elif x == "--ignore-xattrs":
            fields = [f for f in fields if f != "xattrs"]
        elif x == "--ignore-user-xattrs":
            ignore_user = True
        elif x in ("--ignore", "--only", "--exclude", "--baseline"):
            if i + 1 >= len(argv):
                sys.exit("tree_compare: %s needs an argument" % x)
            v = argv[i + 1]
            i += 1
            if x == "--ignore":
                drop = parse_fields(v)
                fields = [f for f in fields if f not in drop]
            elif x == "--only":
                keep = parse_fields(v)
                fields = [f for f in fields if f in keep]
            elif x == "--exclude":
                exclude.append(v)
            else:
                baseline = v
        elif x.startswith("--"):
            sys.exit("tree_compare: unknown option " + x)
        else:
            pos.append(x)
        i += 1
    if len(pos) != 2:
        sys.exit("usage: tree_compare.py compare A B [options]")
    a = scan(pos[0], skip_socket, exclude)
    b = scan(pos[1], skip_socket, exclude)
    diffs = diff_trees(a, b, fields, ignore_root, ignore_user)
    tolerated = []
    if baseline is not None:
        c = scan(baseline, skip_socket, exclude)
        base = set((rel, f) for rel, f, _ in diff_trees(a, c, fields, ignore_root, ignore_user))
        keep = []
        for d in diffs:
            (tolerated if (d[0], d[1]) in base else keep).append(d)
        diffs = keep
    limit = 60
    for _, _, m in diffs[:limit]:
        print("DIFF " + m)
    if len(diffs) > limit:
        print("DIFF ... and %d more differences" % (len(diffs) - limit))
    for _, _, m in tolerated[:limit]:
        print("note (the baseline differs the same way): " + m)
    print("compare: %d entries in A, %d in B, %d differences%s" %
          (len(a), len(b), len(diffs),
           ", %d tolerated" % len(tolerated) if tolerated else ""))
    return 1 if diffs else 0


def cmd_count(argv):
    skip_socket = "--skip-socket" in argv
    pos = [x for x in argv if not x.startswith("--")]
    e = scan(pos[0], skip_socket)
    c = {"regular_paths": 0, "directories": 0, "symlinks": 0, "fifos": 0,
         "devices": 0, "sockets": 0}
    inodes = set()
    for v in e.values():
        t = v["type"]
        if t == "file":
            c["regular_paths"] += 1
            inodes.add(v["ino"])
        elif t == "dir":
            c["directories"] += 1
        elif t == "symlink":
            c["symlinks"] += 1
        elif t == "fifo":
            c["fifos"] += 1
        elif t in ("chardev", "blockdev"):
            c["devices"] += 1
        elif t == "socket":
            c["sockets"] += 1
    c["regular_inodes"] = len(inodes)
    c["hardlinks"] = c["regular_paths"] - c["regular_inodes"]
    print(json.dumps(c, sort_keys=True))
    return 0


# -------------------------------------------------------------- generator

ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20)
ACL_UNDEFINED_ID = 0xFFFFFFFF


def acl_xattr(entries):
    """The kernel's posix_acl_xattr format: version 2, then (tag, perm, id)."""
    data = struct.pack("<I", 2)
    for tag, perm, uid in entries:
        data += struct.pack("<HHI", tag, perm, uid)
    return data


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def gen(top):
    top = os.fsencode(top)
    if os.path.lexists(top):
        sys.exit("tree_compare: gen: %r exists" % top)
    is_root = os.geteuid() == 0
    rnd = random.Random(20240611)
    info = {}
    J = lambda *p: os.path.join(top, *[os.fsencode(x) for x in p])

    os.mkdir(top, 0o755)
    os.chmod(top, 0o755)

    # Regular files of several sizes.
    write_file(J("empty"), b"")
    write_file(J("one_byte"), b"x")
    write_file(J("f4097"), rnd.randbytes(4097))
    write_file(J("big"), rnd.randbytes(3 * 1024 * 1024 + 17))
    # Sparse: 8 MiB, 64 KiB of data at the start and at the end.
    with open(J("sparse"), "wb") as f:
        f.truncate(8 * 1024 * 1024)
        os.pwrite(f.fileno(), rnd.randbytes(65536), 0)
        os.pwrite(f.fileno(), rnd.randbytes(65536), 8 * 1024 * 1024 - 65536)

    # Directories.
    os.mkdir(J("empty_dir"))
    os.makedirs(J("sub", "x"))
    write_file(J("sub", "x", "leaf"), b"leaf\n")

    # Symlinks: absolute, relative, dangling, to a directory.
    os.mkdir(J("links"))
    os.symlink(os.path.abspath(J("one_byte")), J("links", "abs"))
    os.symlink(b"../f4097", J("links", "rel"))
    os.symlink(b"no/such/target", J("links", "dangling"))
    os.symlink(b"../sub", J("links", "todir"))

    # Hard-link groups: two links in one directory; three links in three
    # directories.
    os.mkdir(J("hard"))
    write_file(J("hard", "a1"), b"group a\n")
    os.link(J("hard", "a1"), J("hard", "a2"))
    write_file(J("hard", "b1"), rnd.randbytes(10000))
    os.link(J("hard", "b1"), J("sub", "x", "b2"))
    os.link(J("hard", "b1"), J("b3"))

    # Special files.
    os.mkfifo(J("fifo"), 0o640)
    os.chmod(J("fifo"), 0o640)
    if is_root:
        os.mknod(J("chardev"), 0o644 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(J("chardev"), 0o644)
        info["device"] = "yes"
    else:
        info["device"] = "no (not root)"
    # A unix socket, bound inside the tree (relative name: sun_path is
    # limited to 107 bytes).
    cwd = os.getcwd()
    try:
        os.chdir(top)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("a-socket")
        s.close()
        info["socket"] = "a-socket"
    except OSError as e:
        info["socket"] = "no (%s)" % e.strerror
    finally:
        os.chdir(cwd)

    # Deep nesting: 110 levels below deep/.
    d = J("deep")
    os.mkdir(d)
    for _ in range(110):
        d = os.path.join(d, b"d")
        os.mkdir(d)
    write_file(os.path.join(d, b"bottom"), b"bottom\n")

    # Awkward names.
    write_file(J("name with spaces"), b"spaces\n")
    write_file(J("new\nline"), b"newline\n")
    write_file(os.path.join(top, b"bad\xff\xfeutf8"), b"invalid utf-8\n")
    os.mkdir(os.path.join(top, b"dir\xe9latin1"))
    write_file(os.path.join(top, b"dir\xe9latin1", b"inner"), b"x\n")
    write_file(J("-dash"), b"dash\n")
    write_file(J("star*?[x]"), b"glob\n")
    write_file(os.path.join(top, b"n" * 255), b"255-byte name\n")

    # xattrs on a file and a directory (an empty value and a binary one too).
    write_file(J("xattr_file"), b"xattrs\n")
    os.mkdir(J("xattr_dir"))
    write_file(J("xattr_dir", "inside"), b"y\n")
    try:
        for p in (J("xattr_file"), J("xattr_dir")):
            os.setxattr(p, b"user.test", b"value")
            os.setxattr(p, b"user.empty", b"")
            os.setxattr(p, b"user.binary", bytes(range(256)))
        info["xattr"] = "yes"
    except OSError as e:
        info["xattr"] = "no (%s)" % e.strerror

    # Odd modes.  Ownership first: chown clears set-user-ID.
    os.mkdir(J("modes"))
    write_file(J("modes", "setuid"), b"#!/bin/sh\n")
    write_file(J("modes", "setgid"), b"#!/bin/sh\n")
    write_file(J("modes", "zero"), b"no permissions\n")
    os.mkdir(J("modes", "zerodir"))
    write_file(J("modes", "zerodir", "inner"), b"inside a 000 directory\n")
    os.mkdir(J("modes", "sticky"))
    write_file(J("modes", "sticky", "f"), b"sticky\n")
    os.mkdir(J("modes", "readonly_dir"))
    write_file(J("modes", "readonly_dir", "f"), b"ro\n")
    os.mkdir(J("modes", "sgid_dir"))
    if is_root:
        os.chown(J("modes", "setuid"), 1234, 1234)
        os.chown(J("modes", "setgid"), 1234, 5678)
        os.chown(J("modes", "sgid_dir"), 0, 5678)
        write_file(J("owned"), b"owned by 1234:5678\n")
        os.chown(J("owned"), 1234, 5678)
        os.mkdir(J("owned_dir"))
        os.chown(J("owned_dir"), 4321, 8765)
        os.symlink(b"owned", J("owned_link"))
        os.chown(J("owned_link"), 1234, 5678, follow_symlinks=False)
        info["ownership"] = "yes"
    else:
        info["ownership"] = "no (not root)"
    os.chmod(J("modes", "setuid"), 0o4755)
    os.chmod(J("modes", "setgid"), 0o2750)
    os.chmod(J("modes", "sgid_dir"), 0o2775)
    write_file(J("modes", "sgid_dir", "child"), b"c\n")
    if is_root:
        os.chown(J("modes", "sgid_dir", "child"), 0, 0)
    os.chmod(J("modes", "zero"), 0)
    os.chmod(J("modes", "zerodir"), 0)
    os.chmod(J("modes", "sticky"), 0o1777)
    os.chmod(J("modes", "readonly_dir"), 0o555)
    write_file(J("modes", "mode0604"), b"z\n")
    os.chmod(J("modes", "mode0604"), 0o604)

    # POSIX ACLs, written as the kernel's xattr (no setfacl needed): an
    # access ACL on a file, access and default ACLs on a directory whose
    # child was made before the default ACL (so it has no ACL itself; a copy
    # that sets the directory's default ACL before making the child would
    # give the child one).
    write_file(J("acl_file"), b"acl\n")
    os.mkdir(J("acl_dir"))
    write_file(J("acl_dir", "child"), b"child\n")
    os.chmod(J("acl_dir", "child"), 0o644)
    try:
        U = ACL_UNDEFINED_ID
        os.setxattr(J("acl_file"), b"system.posix_acl_access", acl_xattr(
            [(ACL_USER_OBJ, 6, U), (ACL_USER, 4, 65534), (ACL_GROUP_OBJ, 4, U),
             (ACL_MASK, 4, U), (ACL_OTHER, 0, U)]))
        os.setxattr(J("acl_dir"), b"system.posix_acl_access", acl_xattr(
            [(ACL_USER_OBJ, 7, U), (ACL_USER, 5, 65534), (ACL_GROUP_OBJ, 5, U),
             (ACL_GROUP, 7, 5678), (ACL_MASK, 7, U), (ACL_OTHER, 0, U)]))
        os.setxattr(J("acl_dir"), b"system.posix_acl_default", acl_xattr(
            [(ACL_USER_OBJ, 7, U), (ACL_USER, 5, 65534), (ACL_GROUP_OBJ, 5, U),
             (ACL_MASK, 5, U), (ACL_OTHER, 5, U)]))
        info["acl"] = "yes"
    except OSError as e:
        info["acl"] = "no (system.posix_acl_access: %s)" % e.strerror

    # Timestamps before 1970 and after 2038.
    write_file(J("mtime_1960"), b"old\n")
    write_file(J("mtime_2040"), b"future\n")

    # Every entry gets a distinct mtime in the past with nanoseconds
    # (directories last: after their contents, bottom-up), symlinks too.
    base = 1_500_000_000_123_456_789
    atime = 1_600_000_000_987_654_321
    paths = []
    for dirpath, dirnames, filenames in os.walk(top, topdown=False):
        for n in sorted(filenames) + sorted(x for x in dirnames
                                            if os.path.islink(os.path.join(dirpath, x))):
            paths.append(os.path.join(dirpath, n))
        paths.append(dirpath)
    for i, p in enumerate(paths):
        m = base + i * 86_400_000_001_337
        if p == J("mtime_1960"):
            m = -315_619_200_000_000_000 + 123_456_789
        elif p == J("mtime_2040"):
            m = 2_208_988_800_000_000_000 + 987_654_321
        os.utime(p, ns=(atime, m), follow_symlinks=False)

    for k in sorted(info):
        print("%s=%s" % (k, info[k]))
    return 0


def cmd_fill(argv):
    top, n = os.fsencode(argv[0]), int(argv[1])
    os.makedirs(top, exist_ok=True)
    d = None
    for i in range(n):
        if i % 1000 == 0:
            d = os.path.join(top, b"d%03d" % (i // 1000))
            os.mkdir(d)
        fd = os.open(os.path.join(d, b"f%05d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"file %d\n" % i)
        os.close(fd)
    os.link(os.path.join(top, b"d000", b"f00000"), os.path.join(top, b"hardlink"))
    os.symlink(b"d000/f00001", os.path.join(top, b"symlink"))
    os.utime(os.path.join(top, b"d000", b"f00002"), ns=(1, 1_234_567_890_123_456_789))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, rest = argv[1], argv[2:]
    if cmd == "gen" and len(rest) == 1:
        return gen(rest[0])
    if cmd == "compare":
        return cmd_compare(rest)
    if cmd == "count" and rest:
        return cmd_count(rest)
    if cmd == "fill" and len(rest) == 2:
        return cmd_fill(rest)
    if cmd == "alloc" and len(rest) == 1:
        st = os.lstat(rest[0])
        print(st.st_blocks * 512, st.st_size)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
