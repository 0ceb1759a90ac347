// CRC32C (Castagnoli, polynomial 0x1EDC6F41), the iSCSI header and data
// digest (RFC 7143 13.1).  The digest of a PDU part is crc32c(bytes) sent
// little-endian: the byte order RFC 3720's Appendix B.4 examples show.
#ifndef OFFCOPY_TARGET_ISCSI_CRC32C_H_
#define OFFCOPY_TARGET_ISCSI_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace offcopy::iscsi {

// Continues `crc` (0 to start) over `len` bytes.
uint32_t crc32c(const void* data, size_t len, uint32_t crc = 0);

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_CRC32C_H_
