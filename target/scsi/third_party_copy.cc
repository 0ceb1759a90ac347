// Third-party copy (SPC-4 5.17, 6.3, 6.4, 6.18; 7.8.17): the unit as copy
// manager.  EXTENDED COPY (LID1 and LID4) names the units to copy between
// by their NAA designators (identification descriptors, 0xE4) and the
// ranges by segment descriptors (block to block 0x02, with byte offsets
// 0x0A); RECEIVE COPY STATUS, FAILURE DETAILS and OPERATING PARAMETERS
// report on it; COPY OPERATION ABORT stops it.
//
// The bytes never pass through this process when the backing files allow
// it: each range is handed to the copy engine (copy_engine.h), which
// reflinks on btrfs and xfs and uses copy_file_range elsewhere.  Every
// check is made before the first byte moves, so a copy refused for a bad
// descriptor, a range past the end or a write-protected destination has
// changed nothing.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <set>

#include "scsi/cdb.h"
#include "scsi/copy_run.h"
#include "scsi/lun_map.h"

namespace offcopy::scsi {
namespace {

// What RECEIVE COPY OPERATING PARAMETERS and VPD page 0x8F promise, and
// what the parser holds every list to.
constexpr uint16_t kMaxCscdDescriptors = 64;
constexpr uint16_t kMaxSegmentDescriptors = 256;
constexpr uint32_t kMaxDescriptorListLength =
    kMaxCscdDescriptors * 32 + kMaxSegmentDescriptors * 32;
// One segment's bytes.  A reflink of any size costs nearly nothing, but
// where the filesystem cannot share extents the bytes are copied, and a
// command should end in well under a second or two (Windows gives an
// offload 4 s); 256 MiB is LIO's and SCST's limit too.
constexpr uint32_t kMaxSegmentLength = 256u << 20;
// Overlapping ranges on one unit are copied in pieces no longer than their
// distance; when that would be more pieces than this (a distance of one
// byte: 2^28 copy jobs, and their list in memory), the range goes through
// a hidden file instead.
constexpr uint64_t kMaxOverlapPieces = 64;
constexpr int kStagingFd = -2;  // stands for the hidden file until it is made

constexpr uint8_t kIdentificationDescriptor = 0xE4;
constexpr uint8_t kBlockToBlock = 0x02;
constexpr uint8_t kBlockToBlockWithOffsets = 0x0A;
constexpr uint16_t kThisUnit = 0xFFFF;  // a CSCD ID that names the copy manager's own unit
constexpr size_t kCscdLength = 32;

// LIST ID USAGE (SPC-4 6.3.2).
enum ListIdUsage : uint8_t { kHold = 0, kReserved = 1, kDiscard = 2, kNoListId = 3 };

Result illegal(Asc asc) { return check_condition(SenseKey::illegal_request, asc); }
Result parameter_list_length_error() { return illegal(kParameterListLength); }

// The TRANSFER COUNT UNITS and TRANSFER COUNT of RECEIVE COPY STATUS
// (LID1): bytes while they fit in 32 bits, else the smallest power of
// 1024 that makes them fit.
std::pair<uint8_t, uint32_t> scaled_count(uint64_t bytes) {
  uint8_t units = 0;
  while (bytes > std::numeric_limits<uint32_t>::max()) {
    bytes >>= 10;
    ++units;
  }
  return {units, static_cast<uint32_t>(bytes)};
}

}  // namespace

// EXTENDED COPY (SPC-4 6.3 LID1, 6.4 LID4).  Checked in the order
// libiscsi's suite and LIO agree on: lengths, then descriptor counts and
// types, then what the descriptors name.
Plan LogicalUnit::Impl::extended_copy(const Command& cmd) {
  const bool lid4 = (cmd.cdb[1] & 0x1f) == op::kExtendedCopyLid4;
  const uint32_t list_length = be32(cmd.cdb, 10);
  // No parameter list: nothing to do (SPC-4 6.3.1), and not an error.
  if (list_length == 0) return answer({});
  const std::span<const uint8_t> p =
      cmd.data_out.first(std::min<size_t>(list_length, cmd.data_out.size()));
  const size_t header = lid4 ? 48 : 16;
  if (p.size() < header) return answer(parameter_list_length_error());

  uint32_t list_id;
  size_t cscd_length, segment_length, inline_length;
  bool immediate = false;
  if (lid4) {
    if (p[0] != 0x01) return answer(invalid_field_in_parameters(0));  // LIST FORMAT
    // A header CSCD descriptor names a copy manager elsewhere (a ROD).
    if (be16(p, 2) != 0) return answer(invalid_field_in_parameters(2));
    immediate = p[15] & 0x01;
    list_id = be32(p, 20);
    cscd_length = be16(p, 42);
    segment_length = be16(p, 44);
    inline_length = be16(p, 46);
  } else {
    list_id = p[0];
    cscd_length = be16(p, 2);
    segment_length = be32(p, 8);
    inline_length = be32(p, 12);
  }
  const uint8_t usage = (p[1] >> 3) & 0x03;
  if (usage == kReserved) return answer(invalid_field_in_parameters(1, 3));
  // No list identifier: it must be 0, and nothing can ask of the copy
  // later, so it cannot be IMMED.
  if (usage == kNoListId && (list_id != 0 || immediate)) {
    return answer(invalid_field_in_parameters(list_id != 0 ? (lid4 ? 20 : 0) : 15));
  }
  if (cscd_length + segment_length > kMaxDescriptorListLength) {
    return answer(parameter_list_length_error());
  }
  if (header + cscd_length + segment_length + inline_length > p.size()) {
    return answer(parameter_list_length_error());
  }
  if (inline_length != 0) return answer(illegal(kInlineDataLengthExceeded));

  // The CSCD descriptors: each 32 bytes (every type this unit knows is).
  const std::span<const uint8_t> cscds = p.subspan(header, cscd_length);
  if (cscd_length / kCscdLength > kMaxCscdDescriptors) {
    return answer(illegal(kTooManyTargetDescriptors));
  }
  for (size_t at = 0; at < cscd_length; at += kCscdLength) {
    if (cscds[at] != kIdentificationDescriptor || cscd_length - at < kCscdLength) {
      return answer(illegal(kUnsupportedTargetDescriptorType));
    }
  }
  // The segment descriptors: a 4-byte header whose DESCRIPTOR LENGTH
  // counts the rest.
  const std::span<const uint8_t> segments = p.subspan(header + cscd_length, segment_length);
  std::vector<size_t> segment_at;
  for (size_t at = 0; at < segment_length;) {
    if (segment_length - at < 4) return answer(illegal(kUnsupportedSegmentDescriptorType));
    const uint8_t type = segments[at];
    const size_t length = 4 + size_t{be16(segments, at + 2)};
    const size_t wanted = type == kBlockToBlock ? 28 : type == kBlockToBlockWithOffsets ? 32 : 0;
    if (wanted == 0 || length != wanted || segment_length - at < length) {
      return answer(illegal(kUnsupportedSegmentDescriptorType));
    }
    segment_at.push_back(at);
    at += length;
    if (segment_at.size() > kMaxSegmentDescriptors) {
      return answer(illegal(kTooManySegmentDescriptors));
    }
  }

  // What the CSCD descriptors name: units the nexus may reach, and no
  // other (CVE-2020-28374).  The LU ID TYPE is ignored, as SPC-4 has it.
  std::vector<CopyTarget> targets;
  for (size_t at = 0; at < cscd_length; at += kCscdLength) {
    const std::span<const uint8_t> d = cscds.subspan(at, kCscdLength);
    const uint16_t segment = 0;
    if ((d[1] & 0x1f) != kDirectAccessBlock) {
      return answer(copy_aborted(kIncorrectCopyTargetType, segment));
    }
    // The designator: NAA (type 3), of the logical unit (association 0),
    // binary (code set 1), as VPD page 0x83 gives it.
    const uint8_t length = d[7];
    const bool naa = (d[4] & 0x0f) == 0x01 && (d[5] & 0x3f) == 0x03 && length == id.naa.size();
    CopyTarget t;
    if (naa) {
      const std::span<const uint8_t> designator = d.subspan(8, length);
      if (std::equal(designator.begin(), designator.end(), id.naa.begin(), id.naa.end())) {
        t.unit = this;
      } else if (cmd.units) {
        if ((t.hold = cmd.units->find_by_naa(designator))) t.unit = t.hold->impl_.get();
      }
    }
    if (t.unit == nullptr) return answer(copy_aborted(kCopyTargetNotReachable, segment));
    const uint32_t disk_block_length = uint32_t{d[29]} << 16 | uint32_t{d[30]} << 8 | d[31];
    if (disk_block_length != 0 && disk_block_length != t.unit->block_size()) {
      return answer(invalid_field_in_parameters(static_cast<uint16_t>(header + at + 29)));
    }
    if (!t.unit->file) return answer(copy_aborted(kCopyTargetNotReachable, segment));
    targets.push_back(std::move(t));
  }

  // The segments, each checked whole before anything is copied.
  auto run = std::make_shared<CopyRun>();
  run->manager = this;
  std::set<LogicalUnit::Impl*> readers, writers;
  struct Written {
    Impl* unit;
    uint64_t lba, blocks;
  };
  std::vector<Written> written;
  Impl* staging_unit = nullptr;  // the unit beside whose file the hidden file is made
  for (size_t n = 0; n < segment_at.size(); ++n) {
    const std::span<const uint8_t> d = segments.subspan(segment_at[n]);
    const auto segment = static_cast<uint16_t>(n);
    const auto resolve = [&](uint16_t cscd) -> LogicalUnit::Impl* {
      if (cscd == kThisUnit) return this;
      return cscd < targets.size() ? targets[cscd].unit : nullptr;
    };
    Impl* src = resolve(be16(d, 4));
    Impl* dst = resolve(be16(d, 6));
    if (src == nullptr || dst == nullptr) {
      return answer(copy_aborted(kUnreachableCopyTarget, segment));
    }
    uint64_t from, to, bytes;
    // LBAs past what a byte offset can hold are past every unit's end (a
    // product that wrapped would name LBA 0).
    const uint64_t far = std::numeric_limits<uint64_t>::max() / 8192;
    if (d[0] == kBlockToBlock) {
      const bool dc = d[1] & 0x02;  // the count is in destination blocks
      bytes = uint64_t{be16(d, 10)} * (dc ? dst->block_size() : src->block_size());
      from = std::min(be64(d, 12), far) * src->block_size();
      to = std::min(be64(d, 20), far) * dst->block_size();
      // Part of a block on one side is what CAT and PAD would settle;
      // this copy manager takes whole blocks on both.
      if (bytes % src->block_size() != 0 || bytes % dst->block_size() != 0) {
        return answer(copy_aborted(kUnexpectedInexactSegment, segment));
      }
    } else {
      bytes = be32(d, 8);
      const uint16_t from_offset = be16(d, 28), to_offset = be16(d, 30);
      if (from_offset >= src->block_size()) {
        return answer(invalid_field_in_parameters(
            static_cast<uint16_t>(header + cscd_length + segment_at[n] + 28)));
      }
      if (to_offset >= dst->block_size()) {
        return answer(invalid_field_in_parameters(
            static_cast<uint16_t>(header + cscd_length + segment_at[n] + 30)));
      }
      from = std::min(be64(d, 12), far) * src->block_size() + from_offset;
      to = std::min(be64(d, 20), far) * dst->block_size() + to_offset;
    }
    if (bytes > kMaxSegmentLength) return answer(invalid_field_in_parameters(
        static_cast<uint16_t>(header + cscd_length + segment_at[n] + 8)));
    const uint64_t src_end = src->capacity() * src->block_size();
    const uint64_t dst_end = dst->capacity() * dst->block_size();
    if (from > src_end || bytes > src_end - from || to > dst_end || bytes > dst_end - to) {
      return answer(copy_aborted(kNoAdditionalSense, segment));
    }
    readers.insert(src);
    writers.insert(dst);
    // The tokens over the blocks it will write see it coming -- once the
    // copy is sure to run (a refused one has changed nothing).
    if (bytes > 0) {
      const uint32_t dbs = dst->block_size();
      written.push_back({dst, to / dbs, (to + bytes + dbs - 1) / dbs - to / dbs});
    }
    // On one unit with overlapping ranges the copy is as if the source
    // were read whole first (SPC-4 6.3.7.1): pieces no longer than the
    // distance, the last ones first when the destination is after the
    // source, so none reads what an earlier one wrote.
    if (src == dst && from == to) bytes = 0;  // a range onto itself: nothing moves
    const uint64_t distance = from > to ? from - to : to - from;
    const bool overlap = src == dst && distance < bytes;
    const uint64_t piece = overlap ? distance : bytes;
    const int from_fd = src->file->fd(), to_fd = dst->file->fd();
    std::vector<CopyRun::Step> steps;
    if (overlap && bytes / distance > kMaxOverlapPieces) {
      // Whole into the hidden file, then out of it.  Segments run one
      // after another, so each may use it from offset 0.
      steps.push_back({{from_fd, from, kStagingFd, 0, bytes}, nullptr, segment});
      steps.push_back({{kStagingFd, 0, to_fd, to, bytes}, dst, segment});
      if (staging_unit == nullptr) staging_unit = src;
    } else {
      if (bytes == 0) steps.push_back({{from_fd, from, to_fd, to, 0}, dst, segment});
      for (uint64_t done = 0; done < bytes;) {
        const uint64_t len = std::min(piece, bytes - done);
        steps.push_back({{from_fd, from + done, to_fd, to + done, len}, dst, segment});
        done += len;
      }
      if (overlap && to > from) std::reverse(steps.begin(), steps.end());
    }
    steps.back().ends_segment = true;
    run->steps.insert(run->steps.end(), steps.begin(), steps.end());
  }
  // A copy reads its sources and writes its destinations as the nexus
  // would: reservations and write protection apply.
  for (Impl* u : readers) {
    if (u->reservations.conflicts(cmd, Access::read)) {
      return answer({Status::reservation_conflict});
    }
  }
  for (Impl* u : writers) {
    if (u->reservations.conflicts(cmd, Access::write)) {
      return answer({Status::reservation_conflict});
    }
    if (u->writes_refused()) return answer(u->write_refusal());
  }
  run->targets = std::move(targets);

  int staging_fd = -1;
  if (staging_unit != nullptr) {
    staging_fd = ::open(directory_of(staging_unit->file->path()).c_str(),
                        O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (staging_fd < 0) return answer(sense_for_errno(errno, true));
    for (CopyRun::Step& s : run->steps) {
      if (s.piece.source_fd == kStagingFd) s.piece.source_fd = staging_fd;
      if (s.piece.destination_fd == kStagingFd) s.piece.destination_fd = staging_fd;
    }
    run->finishing = [staging_fd](Result r) {
      ::close(staging_fd);
      return r;
    };
  }

  // Its list identifier: one in use by a running copy of this nexus is
  // refused (SPC-4 6.3.1); an ended one's kept status is replaced.
  auto op = new_copy_operation(cmd, list_id, immediate, usage == kHold);
  if (std::optional<Result> refused =
          register_copy(op, usage != kNoListId, usage == kDiscard && !immediate)) {
    if (staging_fd >= 0) ::close(staging_fd);
    return answer(std::move(*refused));
  }
  for (const Written& w : written) w.unit->before_write(w.lba, w.blocks);
  run->op = std::move(op);
  // IMMED: GOOD now, and the copy runs on; RECEIVE COPY STATUS tells how
  // it ends.
  return start_run(std::move(run));
}

// COPY OPERATION ABORT (SPC-4 6.2): the copy this nexus started with that
// list identifier stops at its next chunk; GOOD once it has.
Plan LogicalUnit::Impl::copy_operation_abort(const Command& cmd) {
  const uint32_t list_id = be32(cmd.cdb, 2);
  std::shared_ptr<CopyOperation> op;
  {
    std::lock_guard lock(copy_mu);
    const auto it = copy_operations.find({cmd.nexus, list_id});
    if (it == copy_operations.end() || it->second->state != CopyOperation::State::running) {
      return answer(invalid_field_in_cdb(2));
    }
    op = it->second;
  }
  Plan plan;
  plan.start = [this, op](Completion done) {
    {
      std::lock_guard lock(copy_mu);
      if (op->state != CopyOperation::State::running) return done(Result{});
      op->on_end.push_back(std::move(done));
    }
    op->abort->request();
  };
  return plan;
}

// RECEIVE COPY OPERATING PARAMETERS (SPC-4 6.18.4): the limits the
// parser above keeps.
Result LogicalUnit::Impl::receive_copy_operating_parameters(const Command& cmd) const {
  const std::vector<uint8_t> descriptors = {kBlockToBlock, kBlockToBlockWithOffsets,
                                            kIdentificationDescriptor};
  std::vector<uint8_t> b(44, 0);
  b[4] = 0x01;  // SNLID: LIST ID USAGE 11b is supported
  put_be16(b, 8, kMaxCscdDescriptors);
  put_be16(b, 10, kMaxSegmentDescriptors);
  put_be32(b, 12, kMaxDescriptorListLength);
  put_be32(b, 16, kMaxSegmentLength);
  // 20-31: no inline data, no held data, no stream devices.
  put_be16(b, 34, kMaxConcurrentCopies);  // TOTAL CONCURRENT COPIES
  b[36] = kMaxConcurrentCopies;           // MAXIMUM CONCURRENT COPIES
  // 37-39: data, inline and held data segment granularity, log2: bytes.
  b[43] = static_cast<uint8_t>(descriptors.size());
  b.insert(b.end(), descriptors.begin(), descriptors.end());
  put_be32(b, 0, static_cast<uint32_t>(b.size() - 4));  // AVAILABLE DATA
  return data_in(std::move(b), be32(cmd.cdb, 10), cmd);
}

// RECEIVE COPY STATUS (LID1: SPC-4 6.18.3; LID4: 6.18.5) and RECEIVE COPY
// FAILURE DETAILS (6.18.2).  The status of an ended copy is given once,
// then forgotten (the list identifier is free again).
Result LogicalUnit::Impl::receive_copy_status(const Command& cmd) {
  const uint8_t sa = cmd.cdb[1] & 0x1f;
  const bool rrti = sa == op::kReceiveRodTokenInformation;
  const bool lid4 = sa == op::kReceiveCopyStatusLid4 || rrti;
  const uint32_t list_id = lid4 ? be32(cmd.cdb, 2) : cmd.cdb[2];
  const uint32_t allocation = be32(cmd.cdb, 10);
  std::lock_guard lock(copy_mu);
  const auto it = copy_operations.find({cmd.nexus, list_id});
  if (it == copy_operations.end()) return invalid_field_in_cdb(2);
  const CopyOperation& o = *it->second;
  const bool running = o.state == CopyOperation::State::running;
  const bool failed = !running && o.state != CopyOperation::State::succeeded;
  std::vector<uint8_t> b;
  if (sa == op::kReceiveCopyFailureDetails) {
    // Only for a copy that ended with CHECK CONDITION.
    if (!failed) return invalid_field_in_cdb(2);
    b.assign(60, 0);
    b[56] = static_cast<uint8_t>(o.failure.status);  // COPY COMMAND STATUS
    put_be16(b, 58, static_cast<uint16_t>(o.failure.sense.size()));
    b.insert(b.end(), o.failure.sense.begin(), o.failure.sense.end());
  } else if (!lid4) {
    b.assign(12, 0);
    b[4] = running ? 0x00 : failed ? 0x02 : 0x01;  // COPY MANAGER STATUS, HDD 0
    put_be16(b, 5, o.segments_done);
    const auto [units, count] = scaled_count(o.bytes_done);
    b[7] = units;
    put_be32(b, 8, count);
  } else {
    b.assign(32, 0);
    b[4] = o.service_action;  // RESPONSE TO SERVICE ACTION
    // COPY OPERATION STATUS: in progress (foreground, or background for
    // IMMED), completed, completed with errors, or terminated.
    b[5] = running ? (o.immediate ? 0x12 : 0x11)
           : o.state == CopyOperation::State::succeeded ? 0x01
           : o.state == CopyOperation::State::aborted   ? 0x60
                                                        : 0x02;
    // ESTIMATED STATUS UPDATE DELAY: when to ask again, in milliseconds.
    put_be32(b, 8, running ? 100 : 0);
    if (!running) b[12] = static_cast<uint8_t>(o.failure.status);
    if (failed) {
      b[13] = b[14] = static_cast<uint8_t>(o.failure.sense.size());
      b.insert(b.end(), o.failure.sense.begin(), o.failure.sense.end());
    }
    // TRANSFER COUNT UNITS: bytes, or for RECEIVE ROD TOKEN INFORMATION
    // logical blocks (0xF1), as Windows reads them.
    b[15] = rrti ? 0xF1 : 0;
    put_be64(b, 16, rrti ? o.bytes_done / o.block_size : o.bytes_done);
    put_be16(b, 24, o.segments_done);
    if (rrti) {
      // The ROD token descriptors: the token POPULATE TOKEN made, after
      // its length and two reserved bytes (SBC-3 6.5.4).
      const size_t at = b.size();
      const bool token = o.token && o.state == CopyOperation::State::succeeded;
      b.resize(at + 4 + (token ? 2 + kRodTokenSize : 0), 0);
      if (token) {
        put_be32(b, at, 2 + kRodTokenSize);
        std::copy(o.token->bytes.begin(), o.token->bytes.end(), b.begin() + at + 6);
      }
    }
  }
  put_be32(b, 0, static_cast<uint32_t>(b.size() - 4));  // AVAILABLE DATA
  if (!running) copy_operations.erase(it);
  return data_in(std::move(b), allocation, cmd);
}

void LogicalUnit::Impl::forget_copies(uint64_t nexus) {
  std::lock_guard lock(copy_mu);
  std::erase_if(copy_operations, [nexus](const auto& entry) { return entry.first.first == nexus; });
}

// The Third-party Copy VPD page's descriptors (SPC-4 7.8.17): the
// commands, the parameter limits, the descriptor types and CSCD IDs, and
// the general copy operations, as RECEIVE COPY OPERATING PARAMETERS
// gives them.
std::vector<uint8_t> LogicalUnit::Impl::third_party_copy_vpd() const {
  std::vector<uint8_t> b;
  const auto descriptor = [&b](uint16_t type, std::vector<uint8_t> body) {
    body.resize((body.size() + 4 + 3) / 4 * 4 - 4, 0);  // whole descriptors are 4-byte multiples
    const size_t at = b.size();
    b.resize(at + 4, 0);
    put_be16(b, at, type);
    put_be16(b, at + 2, static_cast<uint16_t>(body.size()));
    b.insert(b.end(), body.begin(), body.end());
  };
  // Block Device ROD Limits: what POPULATE TOKEN and
  // WRITE USING TOKEN take (token_copy.cc).
  std::vector<uint8_t> whole(36, 0);
  const TokenLimits tl = token_limits();
  put_be16(whole, 10, tl.max_ranges);
  put_be32(whole, 12, tl.max_inactivity);
  put_be32(whole, 16, tl.default_inactivity);
  put_be64(whole, 20, tl.max_token_bytes / block_size());  // MAXIMUM TOKEN TRANSFER SIZE
  put_be64(whole, 28, tl.optimal_bytes / block_size());    // OPTIMAL TRANSFER COUNT
  descriptor(0x0000, {whole.begin() + 4, whole.end()});
  // Supported Commands: each operation code with its service actions.
  const std::vector<uint8_t> commands = {
      op::kThirdPartyCopyOut, 5, op::kExtendedCopyLid1, op::kExtendedCopyLid4,
      op::kPopulateToken, op::kWriteUsingToken, op::kCopyOperationAbort,
      op::kThirdPartyCopyIn, 6, op::kReceiveCopyStatusLid1, op::kReceiveCopyOperatingParameters,
      op::kReceiveCopyFailureDetails, op::kReceiveCopyStatusLid4,
      op::kReceiveRodTokenInformation, op::kReportAllRodTokens};
  std::vector<uint8_t> body = {static_cast<uint8_t>(commands.size())};
  body.insert(body.end(), commands.begin(), commands.end());
  descriptor(0x0001, body);
  // Parameter Data.
  whole.assign(32, 0);
  put_be16(whole, 8, kMaxCscdDescriptors);
  put_be16(whole, 10, kMaxSegmentDescriptors);
  put_be32(whole, 12, kMaxDescriptorListLength);
  descriptor(0x0004, {whole.begin() + 4, whole.end()});
  // Supported Descriptors.
  descriptor(0x0008, {3, kBlockToBlock, kBlockToBlockWithOffsets, kIdentificationDescriptor});
  // Supported CSCD Descriptor IDs: 0xFFFF, this unit.
  descriptor(0x000C, {0x00, 0x02, 0xFF, 0xFF});
  // General Copy Operations.
  whole.assign(36, 0);
  put_be32(whole, 4, kMaxConcurrentCopies);   // TOTAL CONCURRENT COPIES
  put_be32(whole, 8, kMaxConcurrentCopies);   // MAXIMUM IDENTIFIED CONCURRENT COPIES
  put_be32(whole, 12, kMaxSegmentLength);
  // 16, 17: data and inline data segment granularity, log2: bytes.
  descriptor(0x8001, {whole.begin() + 4, whole.end()});
  // ROD Token Features: no remote tokens; lifetimes; then the block
  // device's features (SPC-4 7.8.17.7).
  whole.assign(96, 0);
  put_be32(whole, 16, 1);                  // MINIMUM TOKEN LIFETIME (s)
  put_be32(whole, 20, tl.max_inactivity);  // MAXIMUM TOKEN LIFETIME
  put_be32(whole, 24, tl.max_inactivity);  // MAXIMUM TOKEN INACTIVITY TIMEOUT
  put_be16(whole, 46, 48);                 // TYPE-SPECIFIC FEATURES LENGTH
  whole[48] = kDirectAccessBlock;
  put_be16(whole, 50, 44);
  put_be16(whole, 54, 1);                          // OPTIMAL LENGTH GRANULARITY (blocks)
  put_be64(whole, 56, tl.max_token_bytes);         // MAXIMUM BYTES IN BLOCK ROD
  put_be64(whole, 64, tl.optimal_bytes);           // OPTIMAL BYTES IN BLOCK ROD TRANSFER
  put_be64(whole, 72, tl.optimal_bytes);           // OPTIMAL BYTES TO TOKEN PER SEGMENT
  put_be64(whole, 80, tl.optimal_bytes);           // OPTIMAL BYTES FROM TOKEN PER SEGMENT
  descriptor(0x0106, {whole.begin() + 4, whole.end()});
  // Supported ROD Types: each {type, TOKEN_IN / TOKEN_OUT, preference}.
  const std::pair<uint32_t, uint8_t> types[] = {
      {kRodAccessUponReference, 0x03},
      {kRodPointInTime, 0x03},
      {kRodPointInTimeVulnerable, 0x03},
      {kRodBlockDeviceZero, 0x02},  // used by WRITE USING TOKEN, never made
  };
  whole.assign(8, 0);
  for (const auto& [type, flags] : types) {
    const size_t at = whole.size();
    whole.resize(at + 64, 0);
    put_be32(whole, at, type);
    whole[at + 4] = flags;
  }
  put_be16(whole, 6, static_cast<uint16_t>(whole.size() - 8));
  descriptor(0x0108, {whole.begin() + 4, whole.end()});
  return b;
}

}  // namespace offcopy::scsi
