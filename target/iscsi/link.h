// The seam between a connection's protocol and the network: what a
// Connection writes its PDUs to.  The server's Link is a socket; a test's
// collects the bytes.  PDUs leave as a header part and a view into a data
// buffer the Link keeps alive until it is on the wire, so a READ's data
// is not copied into PDUs on its way out.
//
// A PDU may also hold a share of its session's buffer bound (HeldData):
// the Data-In of a READ counts against max_session_data until the last PDU
// framed over its buffer is gone -- written to the socket, or dropped with
// the link -- so an initiator that does not read its socket cannot make
// the target queue data without bound.
//
// Thread-safety: a Link is used on its connection's thread only.
#ifndef OFFCOPY_TARGET_ISCSI_LINK_H_
#define OFFCOPY_TARGET_ISCSI_LINK_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iscsi/pdu.h"

namespace offcopy::iscsi {

// A share of a session's buffer bound held by queued data (connection.cc);
// the PDUs framed over one buffer share one, and the session gets the
// bytes back when the last of them is destroyed.  Opaque to a Link.
struct HeldData;

struct OutPdu {
  std::vector<uint8_t> head;  // BHS, AHS, header digest
  std::shared_ptr<const std::vector<uint8_t>> buffer;  // holds the data segment
  size_t data_offset = 0, data_length = 0;
  std::array<uint8_t, 8> tail{};  // padding to 4 bytes, then the data digest
  uint8_t tail_length = 0;
  // Non-null: the data segment is counted against its session's bound
  // until this PDU (and every other holding it) is gone, so a Link need not
  // count it against its own limits (server.cc).
  std::shared_ptr<HeldData> held;

  size_t wire_length() const { return head.size() + data_length + tail_length; }
  // The PDU's bytes in one vector (tests, small PDUs).
  std::vector<uint8_t> bytes() const;
};

// `header`'s BHS and AHS (its data ignored) framed with `length` bytes of
// `buffer` from `offset` as the data segment.
OutPdu frame(const Pdu& header, std::shared_ptr<const std::vector<uint8_t>> buffer,
             size_t offset, size_t length, Digests digests);
// A PDU whose data segment is its own `data`.
OutPdu frame(Pdu pdu, Digests digests);

class Link {
 public:
  virtual ~Link() = default;
  virtual void send(OutPdu pdu) = 0;
  // Close once what was sent is on the wire (a refused login, a logout).
  virtual void close_after_send() = 0;
  // This end's address, "ip:port" ("[ip6]:port"), as SendTargets gives it.
  virtual std::string local_address() const = 0;
  // The initiator's address, for the log.
  virtual std::string peer_address() const = 0;
};

}  // namespace offcopy::iscsi

#endif  // OFFCOPY_TARGET_ISCSI_LINK_H_
