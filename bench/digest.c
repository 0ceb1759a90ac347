// digest: what bench/suite.py compares after every run to decide whether a
// copy is right.
//
//   digest FILE      prints "SIZE ALLOCATED HASH"
//   digest -r DIR    prints one line per entry below DIR (not DIR itself):
//                    "f\tSIZE\tHASH\tPATH", "l\t-\tTARGET\tPATH", "d\t-\t-\tPATH"
//                    or "o\t-\tMODE\tPATH" (FIFOs, devices, sockets); PATH is
//                    relative to DIR; the order is the walk's, unsorted
//
// HASH is XXH3-128 of the bytes a reader of the file sees, so a copy that
// keeps holes and one that writes them out as zeros hash alike; holes
// (found with SEEK_DATA/SEEK_HOLE) are hashed from a zero buffer, not read,
// so an 8 GiB sparse file costs only its data.  ALLOCATED is st_blocks * 512:
// it shows whether a copy kept the holes.
//
// Why C and not Python: the suite checks every copy of every run, tens of
// GiB in a full run; Python's fastest hash here (zlib.crc32) does ~1 GB/s,
// XXH3 is limited by read().  Files are opened with O_NOATIME so checking a
// source does not dirty its inodes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

enum { CHUNK = 1 << 20 };
static char buf[CHUNK];
static const char zeros[CHUNK];
static size_t root_len;

static void feed_zeros(XXH3_state_t *st, off_t n) {
  while (n > 0) {
    size_t k = n < CHUNK ? (size_t)n : CHUNK;
    XXH3_128bits_update(st, zeros, k);
    n -= (off_t)k;
  }
}

// Reads [off, end) into the hash; -1 if the file ended early or read failed.
static int feed_data(XXH3_state_t *st, int fd, off_t off, off_t end) {
  while (off < end) {
    size_t want = end - off < CHUNK ? (size_t)(end - off) : CHUNK;
    ssize_t got = pread(fd, buf, want, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    XXH3_128bits_update(st, buf, (size_t)got);
    off += got;
  }
  return 0;
}

// Hash of the file's bytes, holes included as zeros.  Returns -1 on error.
static int hash_fd(int fd, off_t size, XXH128_hash_t *out) {
  XXH3_state_t st;
  XXH3_128bits_reset(&st);
  off_t pos = 0;
  while (pos < size) {
    off_t data = lseek(fd, pos, SEEK_DATA), hole;
    if (data < 0 && errno == ENXIO) data = size;        // only a hole is left
    if (data < 0) { data = pos; hole = size; }          // no SEEK_DATA: read all
    else if (data >= size) hole = size;
    else if ((hole = lseek(fd, data, SEEK_HOLE)) <= data || hole > size) hole = size;
    feed_zeros(&st, data - pos);
    if (data < size && feed_data(&st, fd, data, hole) < 0) return -1;
    pos = data < size ? hole : size;
  }
  *out = XXH3_128bits_digest(&st);
  return 0;
}

static int hash_path(const char *path, const struct stat *sb, XXH128_hash_t *out) {
  int fd = open(path, O_RDONLY | O_NOATIME | O_CLOEXEC);
  if (fd < 0 && errno == EPERM) fd = open(path, O_RDONLY | O_CLOEXEC);  // not the owner
  if (fd < 0) return -1;
  int rc = hash_fd(fd, sb->st_size, out);
  close(fd);
  return rc;
}

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  if (ftw->level == 0) return 0;  // the root itself: its name differs per copy
  const char *rel = path + root_len + 1;
  XXH128_hash_t h;
  char target[PATH_MAX + 1];
  ssize_t n;
  switch (type) {
    case FTW_F:
      if (!S_ISREG(sb->st_mode)) {
        printf("o\t-\t%o\t%s\n", (unsigned)(sb->st_mode & S_IFMT), rel);
        return 0;
      }
      if (hash_path(path, sb, &h) < 0) { perror(path); return 1; }
      printf("f\t%lld\t%016llx%016llx\t%s\n", (long long)sb->st_size,
             (unsigned long long)h.high64, (unsigned long long)h.low64, rel);
      return 0;
    case FTW_SL:
    case FTW_SLN:
      if ((n = readlink(path, target, PATH_MAX)) < 0) { perror(path); return 1; }
      target[n] = 0;
      printf("l\t-\t%s\t%s\n", target, rel);
      return 0;
    case FTW_D:
      printf("d\t-\t-\t%s\n", rel);
      return 0;
    default:  // FTW_DNR, FTW_NS: unreadable entry
      fprintf(stderr, "digest: cannot read %s\n", path);
      return 1;
  }
}

int main(int argc, char **argv) {
  struct stat sb;
  XXH128_hash_t h;
  if (argc == 3 && strcmp(argv[1], "-r") == 0) {
    root_len = strlen(argv[2]);
    while (root_len > 1 && argv[2][root_len - 1] == '/') root_len--;
    return nftw(argv[2], visit, 64, FTW_PHYS) == 0 ? 0 : 1;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: digest FILE | digest -r DIR\n");
    return 2;
  }
  if (stat(argv[1], &sb) < 0 || hash_path(argv[1], &sb, &h) < 0) {
    perror(argv[1]);
    return 1;
  }
  printf("%lld %lld %016llx%016llx\n", (long long)sb.st_size, (long long)sb.st_blocks * 512,
         (unsigned long long)h.high64, (unsigned long long)h.low64);
  return 0;
}
