// Helpers shared by the tests: temporary files with known content, whole-file
// reads, FIEMAP extent queries, and the loop-mounted filesystems handed over
// by scripts/fsfixture.sh through OFFCOPY_TEST_MOUNTS.
#ifndef OFFCOPY_TESTS_SUPPORT_TEST_FILES_H_
#define OFFCOPY_TESTS_SUPPORT_TEST_FILES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "offcopy/copy.h"
#include "support/temp_dir.h"

namespace offcopy::testing {

// Deterministic pseudo-random bytes (seeded), so failures reproduce.
std::string pattern(int64_t len, uint64_t seed = 1);

// Writes content to path (created/truncated).  Aborts the test on error.
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// Creates a sparse file: size bytes, with data written only at the given
// (offset, length) extents, pattern-filled.  Returns the expected content.
std::string make_sparse(const std::string& path, int64_t size,
                        const std::vector<std::pair<int64_t, int64_t>>& data);

// Bytes actually allocated (st_blocks * 512).
int64_t allocated_bytes(const std::string& path);

struct ExtentInfo {
  int64_t extents = 0;
  int64_t shared_bytes = 0;  // bytes in extents with FIEMAP_EXTENT_SHARED
  int64_t mapped_bytes = 0;
};
// FIEMAP of the whole file (after fsync so delayed allocation is mapped).
ExtentInfo extent_info(const std::string& path);

// OFFCOPY_TEST_MOUNTS parsed: fs name -> mount point.  Empty when unset.
std::map<std::string, std::string> test_mounts();

// The mount point of `fs` from test_mounts(), or "" with a reason to skip
// in *why.
std::string mount_for(const std::string& fs, std::string* why);

// Filesystems whose extents can be shared (FICLONE): btrfs and xfs.
bool can_clone(const std::string& fs);

// Readable accounts of a report and an error, for failure messages.
std::string describe(const Report& r);
std::string describe(const Error& e);

// The step of rung m in r, or null.
const Step* find_step(const Report& r, Mechanism m);

}  // namespace offcopy::testing

#endif  // OFFCOPY_TESTS_SUPPORT_TEST_FILES_H_
