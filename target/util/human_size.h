// Sizes as people read them: "64 MiB", "1.5 GiB", "512 bytes" (powers of
// 1024).  For the log and for `offcopy-target status`; anything a program
// reads gets the exact number of bytes instead.
//
// Thread-safety: a pure function.
#ifndef OFFCOPY_TARGET_UTIL_HUMAN_SIZE_H_
#define OFFCOPY_TARGET_UTIL_HUMAN_SIZE_H_

#include <cstdint>
#include <string>

namespace offcopy {

// Below 1 KiB the exact bytes; above, one decimal unless the value is whole.
std::string human_size(uint64_t bytes);

}  // namespace offcopy

#endif  // OFFCOPY_TARGET_UTIL_HUMAN_SIZE_H_
