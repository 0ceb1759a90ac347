// The process-wide defaults the CLI sets for the threads and heap the
// library uses, before any thread starts.  A library must not change them
// for the program that links it; the CLI is the program.
//
// Why: cp's own tests (link-heap.sh) run `cp -al` of a 20,000-entry tree
// under `ulimit -v` = a one-file copy + 4 MB, and admins run copies under
// memory limits.  Address space, not memory touched, is what counts there:
// glibc reserves 64 MB of it for each extra malloc arena (one per thread
// that allocates, up to 8 per CPU) and 8 MB for each thread's stack.
#ifndef OFFCOPY_CLI_FOOTPRINT_H_
#define OFFCOPY_CLI_FOOTPRINT_H_

namespace offcopy::cli {

// One malloc arena for all threads (unless MALLOC_ARENA_MAX or
// GLIBC_TUNABLES says otherwise), and small stacks for threads started
// from now on.  Call first thing in main().
void keep_footprint_small();

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_FOOTPRINT_H_
