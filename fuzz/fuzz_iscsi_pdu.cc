// libFuzzer target: the parsers under iscsi::Connection, alone and fast
// (no threads, no units): PduReader framing bytes split anywhere, the
// text of Login and Text PDUs (parse_text, parse_number, CHAP's binary
// values), and a Login negotiating with each PDU framed.
//
// The input is one byte of setup, then the bytes an initiator sends:
//
//   setup  bit 0: header digests; bit 1: data digests; bit 2: the reader
//          takes at most 512 data bytes (else 8192); bits 4-7: the bytes
//          arrive in pieces of that many (0: at once)
//
// What must hold: a PDU read, serialized again and read back is the same
// PDU; text formatted and parsed again is the same pairs; a Login answers
// every request with a Login Response for the same ITT, and a refusal
// has a status class that says so; the parameters it settles are in the
// ranges RFC 7143 allows.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "iscsi/chap.h"
#include "iscsi/login.h"
#include "iscsi/pdu.h"
#include "iscsi/server.h"
#include "iscsi/text.h"
#include "scsi/lun_map.h"
#include "util/log.h"

namespace offcopy::fuzz {
namespace {

using iscsi::Opcode;
using iscsi::Pdu;

struct Process {
  iscsi::ServerOptions options;
  std::vector<iscsi::TargetConfig> targets;
  Process() {
    auto no_units = std::make_shared<scsi::LunMap>(
        std::map<uint16_t, std::shared_ptr<scsi::LogicalUnit>>{});
    targets.push_back({"iqn.2026-12.org.offcopy:open", "open", no_units, {}, {}});
    targets.push_back({"iqn.2026-12.org.offcopy:chap", "", no_units,
                       {"fuzz-user", "fuzz-secret-1234", "fuzz-target", "fuzz-mutual-5678"},
                       {"iqn.1994-05.com.redhat:fuzz", "iqn.2026-12.org.offcopy:fuzz-a"}});
  }
};
Process* process;

void check_text(const std::vector<uint8_t>& data) {
  const iscsi::KeyValues pairs = iscsi::parse_text(data);
  FUZZ_CHECK(iscsi::parse_text(iscsi::format_text(pairs)) == pairs);
  for (const auto& [key, value] : pairs) {
    if (const auto n = iscsi::parse_number(value, 0, UINT64_MAX)) {
      FUZZ_CHECK(iscsi::parse_number(std::to_string(*n), 0, UINT64_MAX) == n);
    }
    if (key.starts_with("CHAP_")) {
      if (const auto b = iscsi::chap::decode(value)) {
        FUZZ_CHECK(!b->empty());
        FUZZ_CHECK(iscsi::chap::decode(iscsi::chap::encode_hex(*b)) == b);
        FUZZ_CHECK(iscsi::chap::decode(iscsi::chap::encode_base64(*b)) == b);
      }
    }
  }
}

void check_login(iscsi::Login& login, const Pdu& request) {
  if (login.complete() || login.failed()) return;
  const Pdu r = login.respond(request);
  FUZZ_CHECK(r.opcode() == Opcode::login_response);
  FUZZ_CHECK(r.itt() == request.itt());
  const uint8_t status_class = r.bhs[36];
  FUZZ_CHECK(login.failed() == (status_class != 0));
  if (login.failed()) FUZZ_CHECK(!(r.bhs[1] & 0x80));  // a refusal never transits
  check_text(r.data);
  if (login.complete()) {
    FUZZ_CHECK((r.bhs[1] & 0x83) == 0x83);  // T, NSG full feature phase
    const iscsi::SessionParams& p = login.params();
    const iscsi::ServerOptions& o = process->options;
    FUZZ_CHECK(p.send_max_data >= 512 && p.send_max_data < (1u << 24));
    FUZZ_CHECK(p.recv_max_data == o.max_recv_data_segment);
    FUZZ_CHECK(p.first_burst >= 512 && p.first_burst <= o.first_burst);
    FUZZ_CHECK(p.max_burst >= 512 && p.max_burst <= o.max_burst);
    FUZZ_CHECK(p.max_outstanding_r2t >= 1 && p.max_outstanding_r2t <= o.max_outstanding_r2t);
    FUZZ_CHECK(login.discovery() || login.target() != nullptr);
    if (login.target() && login.target()->auth.chap() && !login.discovery()) {
      // Only a CHAP exchange gets a login to this target this far, and
      // only an initiator in its ACL.
      FUZZ_CHECK(login.target()->admits(login.initiator_name()));
    }
  }
}

void run(Bytes& in) {
  const uint8_t setup = in.u8();
  const iscsi::Digests digests{(setup & 1) != 0, (setup & 2) != 0};
  iscsi::PduReader reader(setup & 4 ? 512 : 8192);
  reader.set_digests(digests);
  iscsi::Login login(process->options, process->targets, 0x0101);
  size_t piece = setup >> 4;
  if (piece == 0) piece = in.left();
  while (in.left() > 0) {
    size_t n = piece;
    const uint8_t* bytes = in.take(n);
    size_t at = 0;
    while (at < n) {
      at += reader.feed(bytes + at, n - at);
      const iscsi::PduReader::Fault fault = reader.fault();
      if (fault == iscsi::PduReader::Fault::too_long ||
          fault == iscsi::PduReader::Fault::header_digest) {
        return;  // where a connection ends
      }
      if (!reader.ready()) continue;
      const Pdu p = reader.take();
      if (fault == iscsi::PduReader::Fault::data_digest) {
        FUZZ_CHECK(p.data.empty());  // a data segment whose digest failed is never handed on
        continue;
      }
      // Serialized again and read back: the same PDU.
      const std::vector<uint8_t> wire = iscsi::serialize(p, digests);
      iscsi::PduReader again(1u << 24);
      again.set_digests(digests);
      FUZZ_CHECK(again.feed(wire.data(), wire.size()) == wire.size());
      FUZZ_CHECK(again.ready() && again.fault() == iscsi::PduReader::Fault::none);
      const Pdu q = again.take();
      FUZZ_CHECK(q.bhs == p.bhs && q.ahs == p.ahs && q.data == p.data);
      check_text(p.data);
      if (p.opcode() == Opcode::login) check_login(login, p);
    }
  }
}

}  // namespace
}  // namespace offcopy::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  offcopy::fuzz::quiet_log();
  offcopy::fuzz::process = new offcopy::fuzz::Process;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  offcopy::fuzz::Bytes in(data, size);
  offcopy::fuzz::run(in);
  return 0;
}
