/* export.h -- OFFCOPY_API, the mark of liboffcopy's public symbols.
 *
 * The library is compiled with -fvisibility=hidden, so liboffcopy.so
 * exports only what the headers in include/offcopy/ mark OFFCOPY_API: its
 * internals stay private and may change without breaking the ABI.  For a
 * program the mark changes nothing.  C and C++.
 */
#ifndef OFFCOPY_EXPORT_H_
#define OFFCOPY_EXPORT_H_

#define OFFCOPY_API __attribute__((visibility("default")))

#endif /* OFFCOPY_EXPORT_H_ */
