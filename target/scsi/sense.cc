#include "scsi/sense.h"

#include <cerrno>

namespace offcopy::scsi {

Result check_condition(SenseKey key, Asc asc, std::optional<FieldPointer> field) {
  Result r;
  r.status = Status::check_condition;
  r.sense.assign(18, 0);
  r.sense[0] = 0x70;  // current error, fixed format
  r.sense[2] = static_cast<uint8_t>(key);
  r.sense[7] = 10;  // additional sense length: bytes 8-17
  r.sense[12] = asc.code;
  r.sense[13] = asc.qualifier;
  if (field) {
    // SKSV, C/D, BPV and the bit pointer, then the byte pointer.
    r.sense[15] = 0x80 | (field->in_cdb ? 0x40 : 0) |
                  (field->bit ? 0x08 | (*field->bit & 0x07) : 0);
    r.sense[16] = static_cast<uint8_t>(field->byte >> 8);
    r.sense[17] = static_cast<uint8_t>(field->byte);
  }
  return r;
}

Result invalid_field_in_cdb(uint16_t byte, std::optional<uint8_t> bit) {
  return check_condition(SenseKey::illegal_request, kInvalidFieldInCdb,
                         FieldPointer{true, byte, bit});
}

Result invalid_field_in_parameters(uint16_t byte, std::optional<uint8_t> bit) {
  return check_condition(SenseKey::illegal_request, kInvalidFieldInParameters,
                         FieldPointer{false, byte, bit});
}

Result miscompare(uint32_t offset) {
  Result r = check_condition(SenseKey::miscompare, kMiscompareDuringVerify);
  r.sense[0] |= 0x80;  // VALID: the INFORMATION field means something
  r.sense[3] = static_cast<uint8_t>(offset >> 24);
  r.sense[4] = static_cast<uint8_t>(offset >> 16);
  r.sense[5] = static_cast<uint8_t>(offset >> 8);
  r.sense[6] = static_cast<uint8_t>(offset);
  return r;
}

Result sense_for_errno(int err, bool writing) {
  switch (err) {
    case EIO:
      return check_condition(SenseKey::medium_error, writing ? kWriteError : kUnrecoveredReadError);
    case ENOSPC:
    case EDQUOT: return check_condition(SenseKey::data_protect, kSpaceAllocationFailed);
    case EROFS: return check_condition(SenseKey::data_protect, kWriteProtected);
    default: return check_condition(SenseKey::hardware_error, kInternalTargetFailure);
  }
}

std::vector<uint8_t> descriptor_sense(const std::vector<uint8_t>& fixed) {
  std::vector<uint8_t> d(8, 0);
  d[0] = 0x72;  // current error, descriptor format
  if (fixed.size() < 18) return d;
  d[1] = fixed[2] & 0x0f;
  d[2] = fixed[12];
  d[3] = fixed[13];
  if (fixed[15] & 0x80) {
    // The sense key specific descriptor (SPC-4 4.5.2.4): type 2, length 6,
    // then the same three bytes the fixed format has at 15-17.
    d.insert(d.end(), {0x02, 0x06, 0x00, fixed[15], fixed[16], fixed[17], 0x00, 0x00});
  }
  d[7] = static_cast<uint8_t>(d.size() - 8);
  return d;
}

}  // namespace offcopy::scsi
