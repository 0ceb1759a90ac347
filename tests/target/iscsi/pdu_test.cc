// PDU framing through the reader, with no socket: PDUs serialized with
// and without digests come back whole however the bytes are split, and a
// too-long data segment or a bad digest is a fault, never a crash or a
// PDU handed on.
#include "iscsi/pdu.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace offcopy::iscsi {
namespace {

Pdu make_pdu(size_t data_len, uint32_t itt, bool with_ahs = false) {
  Pdu p;
  p.set_opcode(Opcode::scsi_command);
  p.bhs[0] |= 0x40;  // immediate
  p.bhs[1] = 0x80;   // final
  p.set_field32(16, itt);
  if (with_ahs) p.ahs = {0x00, 0x02, 0x01, 0x00};
  for (size_t i = 0; i < data_len; ++i) p.data.push_back(static_cast<uint8_t>(i * 7 + itt));
  return p;
}

// Feeds `wire` in pieces of `piece` bytes (0: at once); returns the PDUs.
std::vector<Pdu> read_all(PduReader& r, const std::vector<uint8_t>& wire, size_t piece) {
  std::vector<Pdu> out;
  size_t at = 0;
  while (at < wire.size()) {
    const size_t n = piece == 0 ? wire.size() - at : std::min(piece, wire.size() - at);
    size_t used = 0;
    while (used < n) {
      used += r.feed(wire.data() + at + used, n - used);
      if (r.fault() != PduReader::Fault::none) return out;
      if (r.ready()) out.push_back(r.take());
    }
    at += n;
  }
  return out;
}

TEST(PduReader, RoundTripsWithAndWithoutDigestsHoweverSplit) {
  for (Digests d : {Digests{false, false}, Digests{true, false}, Digests{false, true},
                    Digests{true, true}}) {
    std::vector<uint8_t> wire;
    std::vector<Pdu> sent;
    uint32_t itt = 1;
    for (size_t len : {0u, 1u, 3u, 4u, 5u, 8192u}) {
      sent.push_back(make_pdu(len, itt++, len == 5));
      const std::vector<uint8_t> one = serialize(sent.back(), d);
      EXPECT_EQ(one.size() % 4, 0u);
      wire.insert(wire.end(), one.begin(), one.end());
    }
    for (size_t piece : {0u, 1u, 3u, 48u, 1000u}) {
      PduReader r(8192);
      r.set_digests(d);
      const std::vector<Pdu> got = read_all(r, wire, piece);
      EXPECT_EQ(r.fault(), PduReader::Fault::none);
      ASSERT_EQ(got.size(), sent.size()) << "piece " << piece;
      for (size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(got[i].opcode(), Opcode::scsi_command);
        EXPECT_TRUE(got[i].immediate());
        EXPECT_TRUE(got[i].final_bit());
        EXPECT_EQ(got[i].itt(), sent[i].itt());
        EXPECT_EQ(got[i].ahs, sent[i].ahs);
        EXPECT_EQ(got[i].data, sent[i].data) << i;
      }
    }
  }
}

TEST(PduReader, StopsAtTheEndOfAPduSoTheCallerKeepsTheRest) {
  std::vector<uint8_t> wire = serialize(make_pdu(10, 1), {});
  const std::vector<uint8_t> second = serialize(make_pdu(0, 2), {});
  wire.insert(wire.end(), second.begin(), second.end());
  PduReader r(8192);
  EXPECT_EQ(r.feed(wire.data(), wire.size()), wire.size() - second.size());
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.take().itt(), 1u);
  EXPECT_EQ(r.feed(second.data(), second.size()), second.size());
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.take().itt(), 2u);
}

TEST(PduReader, ADataSegmentPastTheDeclaredMaximumIsAFaultAfterTheHeader) {
  const std::vector<uint8_t> wire = serialize(make_pdu(8193, 1), {});
  PduReader r(8192);
  EXPECT_EQ(r.feed(wire.data(), wire.size()), kBhsLength);
  EXPECT_EQ(r.fault(), PduReader::Fault::too_long);
  EXPECT_FALSE(r.ready());
}

TEST(PduReader, ABadHeaderDigestIsAFaultAndNoPdu) {
  std::vector<uint8_t> wire = serialize(make_pdu(16, 1), {true, true});
  wire[20] ^= 0x01;  // in the ITT
  PduReader r(8192);
  r.set_digests({true, true});
  r.feed(wire.data(), wire.size());
  EXPECT_EQ(r.fault(), PduReader::Fault::header_digest);
  EXPECT_FALSE(r.ready());
}

TEST(PduReader, ABadDataDigestKeepsTheHeaderForARejectAndGoesOn) {
  std::vector<uint8_t> wire = serialize(make_pdu(16, 7), {true, true});
  wire[kBhsLength + 4 + 3] ^= 0x80;  // in the data
  const std::vector<uint8_t> next = serialize(make_pdu(4, 8), {true, true});
  wire.insert(wire.end(), next.begin(), next.end());
  PduReader r(8192);
  r.set_digests({true, true});
  const size_t used = r.feed(wire.data(), wire.size());
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.fault(), PduReader::Fault::data_digest);
  const Pdu bad = r.take();
  EXPECT_EQ(bad.itt(), 7u);
  EXPECT_TRUE(bad.data.empty());  // not handed on
  EXPECT_EQ(r.fault(), PduReader::Fault::none);
  r.feed(wire.data() + used, wire.size() - used);
  ASSERT_TRUE(r.ready());
  EXPECT_EQ(r.take().data, make_pdu(4, 8).data);
}

TEST(PduReader, RandomBytesNeverCrashOrHandOnAPduPastTheLimits) {
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> junk(rng() % 400);
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng());
    PduReader r(256);
    r.set_digests({round % 2 == 0, round % 3 == 0});
    size_t at = 0;
    while (at < junk.size() && r.fault() == PduReader::Fault::none) {
      const size_t n = r.feed(junk.data() + at, junk.size() - at);
      at += n;
      if (r.ready()) {
        const Pdu p = r.take();
        EXPECT_LE(p.data.size(), 256u);
      } else if (n == 0) {
        break;
      }
    }
  }
}

}  // namespace
}  // namespace offcopy::iscsi
