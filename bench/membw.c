// membw: memory copy bandwidth of one thread, the limit for a copy within
// tmpfs (every byte is read from one page and written to another).
//
//   membw [MIB] [SECONDS]    prints bytes copied per second (default 256 MiB
//                            buffers, 1 s)
//
// Copies one buffer into another with memcpy, over and over, and reports the
// best pass, so a moment of contention from other processes does not count.
// The buffers are much larger than any CPU cache, so this is DRAM bandwidth.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  size_t n = (size_t)(argc > 1 ? atol(argv[1]) : 256) << 20;
  double seconds = argc > 2 ? atof(argv[2]) : 1.0, best = 0;
  char *a = malloc(n), *b = malloc(n);
  if (!a || !b || n == 0) {
    fprintf(stderr, "membw: cannot allocate 2 x %zu bytes\n", n);
    return 1;
  }
  memset(a, 1, n);  // fault every page in before timing
  memset(b, 2, n);
  for (double end = now() + seconds; now() < end;) {
    double t0 = now();
    memcpy(b, a, n);
    double t = now() - t0;
    if (t > 0 && n / t > best) best = n / t;
    a[n / 2] = b[n / 3];  // keep the copy observable
  }
  printf("%.0f\n", best);
  return 0;
}
