#include "scsi/sense.h"

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

}  // namespace offcopy::scsi
