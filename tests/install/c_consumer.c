/* c_consumer: a C11 program built against an installed liboffcopy through
 * pkg-config, shared and static.  Run by install_test.sh and deb_test.sh.
 *
 *   c_consumer DIR     (DIR: an empty scratch directory)
 *
 * Copies DIR/src with offcopy_copy_file, then to two more destinations
 * with the engine (fd + poll + reap), and checks every copy's content.
 * Exit status 0 when all is well; prints what failed otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offcopy/offcopy.h>

#define SIZE (256 * 1024 + 17)

static char expect[SIZE];

static int fail(const char *what) {
  fprintf(stderr, "c_consumer: %s\n", what);
  return 1;
}

static int same_content(const char *path) {
  static char got[SIZE + 1];
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  size_t n = fread(got, 1, sizeof got, f);
  fclose(f);
  return n == SIZE && memcmp(got, expect, SIZE) == 0;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static int copy_with_engine(const char *src, const char *d1, const char *d2) {
  struct offcopy_engine *e = NULL;
  struct offcopy_engine_options o = {0};
  o.workers = 2;
  if (offcopy_engine_new(&o, &e) != 0) return fail("offcopy_engine_new");
  const char *dsts[2] = {d1, d2};
  uint64_t id = 0;
  int rc = offcopy_engine_submit_file(e, src, dsts, 2, NULL, &id);
  if (rc != 0) {
    offcopy_engine_free(e);
    return fail("offcopy_engine_submit_file");
  }
  struct pollfd p = {offcopy_engine_fd(e), POLLIN, 0};
  struct offcopy_completion c = {0};
  int got = 0;
  for (int tries = 0; got == 0 && tries < 100; ++tries) {
    if (poll(&p, 1, 100) < 0 && errno != EINTR) break;
    got = offcopy_engine_reap(e, &c, 1);
  }
  int bad = got != 1 || c.id != id || c.n_results != 2;
  for (size_t i = 0; !bad && i < c.n_results; ++i) {
    if (c.results[i].status != 0 || c.results[i].bytes != SIZE) {
      fprintf(stderr, "c_consumer: destination %zu: %d %s\n", i, c.results[i].status,
              c.results[i].report.message);
      bad = 1;
    }
  }
  offcopy_completion_release(&c);
  offcopy_engine_free(e);
  return bad ? fail("engine completion") : 0;
}

int main(int argc, char **argv) {
  if (argc != 2) return fail("usage: c_consumer DIR");
  char src[4096], dst[4096], d1[4096], d2[4096];
  path_in(src, sizeof src, argv[1], "src");
  path_in(dst, sizeof dst, argv[1], "dst");
  path_in(d1, sizeof d1, argv[1], "engine1");
  path_in(d2, sizeof d2, argv[1], "engine2");
  for (int i = 0; i < SIZE; ++i) expect[i] = (char)(i * 7 + i / 251);
  FILE *f = fopen(src, "wb");
  if (f == NULL || fwrite(expect, 1, SIZE, f) != SIZE || fclose(f) != 0) return fail("write src");

  if (offcopy_version_number() != OFFCOPY_VERSION_NUMBER) return fail("version mismatch");
  struct offcopy_report rep;
  int64_t n = offcopy_copy_file(src, dst, NULL, &rep);
  if (n != SIZE) {
    fprintf(stderr, "c_consumer: offcopy_copy_file: %lld %s\n", (long long)n, rep.message);
    return 1;
  }
  if (!same_content(dst)) return fail("offcopy_copy_file: content differs");
  if (offcopy_copy_file(src, "/nonexistent-dir/x", NULL, &rep) != -ENOENT || rep.error != ENOENT)
    return fail("expected -ENOENT");
  if (copy_with_engine(src, d1, d2) != 0) return 1;
  if (!same_content(d1) || !same_content(d2)) return fail("engine: content differs");
  printf("c_consumer: ok (offcopy %s", offcopy_version());
  for (int m = 0; m < OFFCOPY_MECH_COUNT; ++m) {
    if (rep.bytes_by[m] != 0) printf(", %s", offcopy_mechanism_name(m));
  }
  printf(")\n");
  return 0;
}
