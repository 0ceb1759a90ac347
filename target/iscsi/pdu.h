// One iSCSI PDU (RFC 7143 11.1): a 48-byte Basic Header Segment, any
// Additional Header Segments, a data segment padded to 4 bytes, and the
// header and data digests (CRC32C) when the login negotiated them.
//
// PduReader frames PDUs out of bytes as they arrive, split anywhere, so a
// connection -- or a test with no socket -- feeds it whatever it read; it
// checks the lengths and digests before a PDU is handed on.
//
// Thread-safety: a PduReader belongs to one connection's thread.
#ifndef OFFCOPY_TARGET_ISCSI_PDU_H_
#define OFFCOPY_TARGET_ISCSI_PDU_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace offcopy::iscsi {

enum class Opcode : uint8_t {
  // From the initiator.
  nop_out = 0x00,
  scsi_command = 0x01,
  task_management = 0x02,
  login = 0x03,
  text = 0x04,
  data_out = 0x05,
  logout = 0x06,
  snack = 0x10,
  // From the target.
  nop_in = 0x20,
  scsi_response = 0x21,
  task_management_response = 0x22,
  login_response = 0x23,
  text_response = 0x24,
  data_in = 0x25,
  logout_response = 0x26,
  r2t = 0x31,
  async_message = 0x32,
  reject = 0x3f,
};

inline constexpr size_t kBhsLength = 48;

struct Pdu {
  std::array<uint8_t, kBhsLength> bhs{};
  std::vector<uint8_t> ahs;   // a multiple of 4 bytes
  std::vector<uint8_t> data;  // the data segment, without its padding

  Opcode opcode() const { return static_cast<Opcode>(bhs[0] & 0x3f); }
  void set_opcode(Opcode op) { bhs[0] = static_cast<uint8_t>((bhs[0] & 0xc0) | uint8_t(op)); }
  bool immediate() const { return (bhs[0] & 0x40) != 0; }
  bool final_bit() const { return (bhs[1] & 0x80) != 0; }
  uint32_t itt() const { return field32(16); }  // Initiator Task Tag
  uint32_t field32(size_t at) const {
    return uint32_t{bhs[at]} << 24 | uint32_t{bhs[at + 1]} << 16 |
           uint32_t{bhs[at + 2]} << 8 | bhs[at + 3];
  }
  void set_field32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bhs[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }
};

// Which digests a connection uses (negotiated at login; none before).
struct Digests {
  bool header = false;
  bool data = false;
};

// The PDU as it goes on the wire: TotalAHSLength and DataSegmentLength
// set from `ahs` and `data`, the data padded with zeros to 4 bytes, and
// the digests appended (a data digest only when there is data).
std::vector<uint8_t> serialize(const Pdu& pdu, Digests digests);

class PduReader {
 public:
  enum class Fault {
    none,
    too_long,        // DataSegmentLength past MaxRecvDataSegmentLength
    header_digest,   // the PDU is lost; at ErrorRecoveryLevel 0 so is the connection
    data_digest,     // the header is sound: the PDU can be rejected by its ITT
  };

  // `max_data`: the MaxRecvDataSegmentLength this side declared.
  explicit PduReader(uint32_t max_data) : max_data_(max_data) {}

  void set_digests(Digests d) { digests_ = d; }
  void set_max_data(uint32_t max_data) { max_data_ = max_data; }

  // Takes up to `len` bytes and returns how many it took: it stops at the
  // end of a PDU (ready()) or at a fault, so the caller keeps the rest.
  size_t feed(const uint8_t* bytes, size_t len);

  bool ready() const { return ready_; }
  // The PDU read (ready(), or the PDU a data-digest fault concerns, its
  // header sound); the reader starts on the next one.
  Pdu take();
  Fault fault() const { return fault_; }

 private:
  size_t wire_length() const;  // the whole PDU's, once the BHS is in
  void finish();

  uint32_t max_data_;
  Digests digests_;
  std::vector<uint8_t> buf_;
  bool ready_ = false;
  Fault fault_ = Fault::none;
};

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_PDU_H_
