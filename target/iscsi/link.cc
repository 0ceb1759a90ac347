#include "iscsi/link.h"

#include "iscsi/crc32c.h"

namespace offcopy::iscsi {
namespace {

void put_digest(uint8_t* at, uint32_t c) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<uint8_t>(c >> (8 * i));
}

}  // namespace

std::vector<uint8_t> OutPdu::bytes() const {
  std::vector<uint8_t> out(head);
  if (data_length > 0) {
    out.insert(out.end(), buffer->begin() + data_offset,
               buffer->begin() + data_offset + data_length);
  }
  out.insert(out.end(), tail.begin(), tail.begin() + tail_length);
  return out;
}

OutPdu frame(const Pdu& header, std::shared_ptr<const std::vector<uint8_t>> buffer,
             size_t offset, size_t length, Digests digests) {
  OutPdu out;
  out.head.assign(header.bhs.begin(), header.bhs.end());
  out.head[4] = static_cast<uint8_t>(header.ahs.size() / 4);
  out.head[5] = static_cast<uint8_t>(length >> 16);
  out.head[6] = static_cast<uint8_t>(length >> 8);
  out.head[7] = static_cast<uint8_t>(length);
  out.head.insert(out.head.end(), header.ahs.begin(), header.ahs.end());
  if (digests.header) {
    out.head.resize(out.head.size() + 4);
    put_digest(out.head.data() + out.head.size() - 4, crc32c(out.head.data(), out.head.size() - 4));
  }
  if (length == 0) return out;
  const size_t pad = (4 - length % 4) % 4;
  out.tail_length = static_cast<uint8_t>(pad);  // tail is zeroed
  if (digests.data) {
    uint32_t c = crc32c(buffer->data() + offset, length);
    c = crc32c(out.tail.data(), pad, c);
    put_digest(out.tail.data() + pad, c);
    out.tail_length = static_cast<uint8_t>(pad + 4);
  }
  out.buffer = std::move(buffer);
  out.data_offset = offset;
  out.data_length = length;
  return out;
}

OutPdu frame(Pdu pdu, Digests digests) {
  const size_t n = pdu.data.size();
  auto data = std::make_shared<const std::vector<uint8_t>>(std::move(pdu.data));
  return frame(pdu, std::move(data), 0, n, digests);
}

}  // namespace offcopy::iscsi
