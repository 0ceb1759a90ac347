// The commands that need the backing file: READ, WRITE, SYNCHRONIZE
// CACHE, UNMAP, WRITE SAME, GET LBA STATUS, PRE-FETCH, START STOP UNIT
// (SBC-3 5); the ones that compare are in verify_io.cc.  Each is checked on
// the caller's thread -- a bad CDB or range is answered at once -- and its
// I/O runs on the pool.
//
// The order of the checks: the CDB's fields, then the transfer length
// against the Block Limits page, then the LBA range, then write
// protection, then the data-out.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "scsi/cdb.h"
#include "scsi/unit_impl.h"

namespace offcopy::scsi {
namespace {

// READ and WRITE up to this size try the caller's thread first, without
// blocking (Plan::fast): a 64 KiB copy costs about what a hand-off to a
// pool thread and back does.
constexpr size_t kFastLimit = 64 << 10;

// WRITE SAME writes its pattern this many bytes at a time (at most).
constexpr size_t kPatternChunk = 1 << 20;

}  // namespace

Plan LogicalUnit::Impl::read_write(const Command& cmd, bool write) {
  const Transfer t = decode_transfer(cmd.cdb);
  // RDPROTECT / WRPROTECT: this unit has no protection information.
  if (cdb_length(cmd.cdb[0]) > 6 && (cmd.cdb[1] & 0xe0)) return answer(invalid_field_in_cdb(1, 7));
  if (t.blocks > limits.max_transfer) return answer(invalid_field_in_cdb(t.length_byte));
  if (!in_range(t.lba, t.blocks, capacity())) return answer(lba_out_of_range());
  if (write && writes_refused()) return answer(write_refusal());
  const uint64_t offset = t.lba * block_size();
  size_t bytes = size_t{t.blocks} * block_size();
  Result wanted;
  if (write) wanted.data_out_wanted = static_cast<uint32_t>(bytes);
  if (write) {
    // Less data-out than the CDB names: the whole blocks sent are
    // written, and the transport reports the rest as a residual overflow
    // (libiscsi's residual tests; what LIO and tgt do).  Part of a block
    // is never written.
    bytes = std::min(bytes, cmd.data_out.size() / block_size() * block_size());
  }
  if (bytes == 0) return answer(wanted);  // no transfer, not an error
  if (!file) return answer(sense_for_errno(EIO, write));

  // Up to this size a transfer is first tried on the caller's thread
  // without blocking (Plan::fast): more would hold the event loop.
  const bool small = bytes <= kFastLimit;
  if (!write) {
    Plan p{{},
           [this, offset, bytes] {
             // Allocated here, once, at its size, and read straight into.
             Result r;
             r.data_in.resize(bytes);
             const int err = file->read(offset, r.data_in.data(), bytes);
             if (err != 0) return sense_for_errno(err, false);
             counters.bytes_read.fetch_add(bytes, std::memory_order_relaxed);
             return r;  // moved, not copied (no conditional operator here)
           },
           nullptr};
    if (small) {
      p.fast = [this, offset, bytes]() -> std::optional<Result> {
        Result r;
        r.data_in.resize(bytes);
        const int err = file->read_nowait(offset, r.data_in.data(), bytes);
        if (err == EAGAIN) return std::nullopt;
        if (err != 0) return sense_for_errno(err, false);
        counters.bytes_read.fetch_add(bytes, std::memory_order_relaxed);
        return r;
      };
    }
    return p;
  }
  before_write(t.lba, bytes / block_size());
  // FUA, or no write cache: on the disk before GOOD.  The data is written
  // straight from the data-out (valid until the completion).
  const bool sync = t.fua || !write_cache;
  const uint8_t* data = cmd.data_out.data();
  const uint32_t want = *wanted.data_out_wanted;
  Plan p{{},
         [this, offset, data, bytes, sync, want] {
           int err;
           {
             std::shared_lock lock(rmw_lock);  // not inside a COMPARE AND WRITE
             err = file->write(offset, data, bytes);
           }
           if (err == 0 && sync) err = file->sync();
           if (err == 0) counters.bytes_written.fetch_add(bytes, std::memory_order_relaxed);
           Result r = status_of(err, true);
           r.data_out_wanted = want;
           return r;
         },
         nullptr};
  if (small && !sync && file->can_write_nowait()) {
    p.fast = [this, offset, data, bytes, want]() -> std::optional<Result> {
      // A COMPARE AND WRITE or ORWRITE holds the unit: the pool waits for
      // it, the loop thread never does.
      std::shared_lock lock(rmw_lock, std::try_to_lock);
      if (!lock.owns_lock()) return std::nullopt;
      const int err = file->write_nowait(offset, data, bytes);
      if (err == EAGAIN) return std::nullopt;
      if (err == 0) counters.bytes_written.fetch_add(bytes, std::memory_order_relaxed);
      Result r = status_of(err, true);
      r.data_out_wanted = want;
      return r;
    };
  }
  return p;
}

Plan LogicalUnit::Impl::synchronize_cache(const Command& cmd) {
  const bool sixteen = cmd.cdb[0] == op::kSynchronizeCache16;
  const uint64_t lba = sixteen ? be64(cmd.cdb, 2) : be32(cmd.cdb, 2);
  const uint32_t blocks = sixteen ? be32(cmd.cdb, 10) : be16(cmd.cdb, 7);
  // Blocks 0: to the end.  The range is checked, then the whole file is
  // synced (fdatasync has no range).  IMMED is accepted and the sync is
  // done before GOOD anyway.
  if (!in_range(lba, blocks, capacity())) return answer(lba_out_of_range());
  if (!file) return answer({});
  return {{}, [this] { return status_of(file->sync(), true); }};
}

// UNMAP (SBC-3 5.28): an 8-byte header, then 16-byte block descriptors
// (LBA, number of blocks), each punched as a hole.  The whole list is
// checked before anything is punched.
Plan LogicalUnit::Impl::unmap(const Command& cmd) {
  if (writes_refused()) return answer(write_refusal());
  // LBPU is advertised only when the file punches holes; otherwise UNMAP
  // is not there at all (libiscsi's Unmap.VPD checks the two agree).
  if (!thin()) return answer(check_condition(SenseKey::illegal_request, kInvalidOpcode));
  if (cmd.cdb[1] & 0x01) return answer(invalid_field_in_cdb(1, 0));  // ANCHOR: ANC_SUP is 0
  const uint16_t list_length = be16(cmd.cdb, 7);
  if (list_length == 0) return answer({});  // nothing to unmap, not an error
  const std::span<const uint8_t> list = cmd.data_out.first(
      std::min<size_t>(list_length, cmd.data_out.size()));
  if (list.size() < 8) {
    return answer(check_condition(SenseKey::illegal_request, kParameterListLength));
  }
  const uint16_t descriptor_bytes = be16(list, 2);
  if (descriptor_bytes > list.size() - 8) {
    return answer(check_condition(SenseKey::illegal_request, kParameterListLength));
  }
  // An incomplete last descriptor is ignored (SBC-3 5.28.2).
  const size_t count = descriptor_bytes / 16;
  if (count > limits.max_unmap_descriptors) return answer(invalid_field_in_parameters(2));
  std::vector<std::pair<uint64_t, uint32_t>> ranges;
  uint64_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t at = 8 + 16 * i;
    const uint64_t lba = be64(list, at);
    const uint32_t blocks = be32(list, at + 8);
    if (!in_range(lba, blocks, capacity())) return answer(lba_out_of_range());
    total += blocks;
    if (total > limits.max_unmap) return answer(invalid_field_in_parameters(at + 8));
    if (blocks > 0) ranges.emplace_back(lba, blocks);
  }
  if (ranges.empty()) return answer({});
  for (auto [lba, blocks] : ranges) before_write(lba, blocks);
  return {{}, [this, ranges = std::move(ranges)] {
            const uint64_t bs = block_size();
            int err = 0;
            std::shared_lock lock(rmw_lock);
            for (auto [lba, blocks] : ranges) {
              if ((err = file->punch_hole(lba * bs, blocks * bs)) != 0) break;
            }
            lock.unlock();
            if (err == 0 && !write_cache) err = file->sync();
            return status_of(err, true);
          }};
}

// WRITE SAME (10) and (16) (SBC-3 5.41, 5.42): one block of data-out
// written to every block of the range; with UNMAP and a block of zeros
// (or NDOB) the range is punched instead, since a punched block reads as
// zeros (LBPRZ).
Plan LogicalUnit::Impl::write_same(const Command& cmd) {
  const bool sixteen = cmd.cdb[0] == op::kWriteSame16;
  const uint8_t flags = cmd.cdb[1];
  if (flags & 0xe0) return answer(invalid_field_in_cdb(1, 7));  // WRPROTECT
  if (flags & 0x10) return answer(invalid_field_in_cdb(1, 4));  // ANCHOR: ANC_SUP is 0
  if (flags & 0x04) return answer(invalid_field_in_cdb(1, 2));  // PBDATA: obsolete
  if (flags & 0x02) return answer(invalid_field_in_cdb(1, 1));  // LBDATA: obsolete
  const bool unmap_bit = flags & 0x08;
  const bool ndob = sixteen && (flags & 0x01);  // no data-out: a block of zeros
  const uint64_t lba = sixteen ? be64(cmd.cdb, 2) : be32(cmd.cdb, 2);
  uint64_t blocks = sixteen ? be32(cmd.cdb, 10) : be16(cmd.cdb, 7);
  const uint16_t length_byte = sixteen ? 10 : 7;
  const uint64_t cap = capacity();
  if (lba > cap) return answer(lba_out_of_range());
  // 0 blocks: to the last LBA (WSNZ is 0 in the Block Limits page).
  if (blocks == 0) blocks = cap - lba;
  if (!in_range(lba, blocks, cap)) return answer(lba_out_of_range());
  if (blocks > limits.max_write_same) return answer(invalid_field_in_cdb(length_byte));
  if (writes_refused()) return answer(write_refusal());
  const uint32_t bs = block_size();
  // Exactly one block of data-out: less cannot be replicated, and more is
  // refused too (libiscsi's WriteSame*.InvalidDataOutSize expects both).
  if (!ndob && cmd.data_out.size() != bs) return answer(short_data_out());
  if (blocks == 0) return answer({});
  if (!file) return answer(sense_for_errno(EIO, true));

  before_write(lba, blocks);
  const uint64_t offset = lba * bs, bytes = blocks * bs;
  // UNMAP on a thin unit deallocates whatever the data-out holds, as LIO
  // does and libiscsi's WriteSame*.UnmapUntilEnd expects (it sends 0xFF
  // blocks and reads back zeros: LBPRZ); a thick unit writes the pattern.
  if (unmap_bit && thin()) {
    return {{}, [this, offset, bytes] {
              std::shared_lock lock(rmw_lock);
              int err = file->punch_hole(offset, bytes);
              lock.unlock();
              if (err == 0 && !write_cache) err = file->sync();
              return status_of(err, true);
            }};
  }
  // The pattern, copied (it is one block), replicated into a buffer of up
  // to kPatternChunk bytes on the I/O thread and written chunk by chunk.
  std::vector<uint8_t> pattern(bs, 0);
  if (!ndob) std::memcpy(pattern.data(), cmd.data_out.data(), bs);
  return {{}, [this, offset, bytes, pattern = std::move(pattern)] {
            const size_t bs = pattern.size();
            const size_t chunk = std::min<uint64_t>(bytes, kPatternChunk / bs * bs);
            std::vector<uint8_t> buf(chunk);
            for (size_t at = 0; at < chunk; at += bs) std::memcpy(&buf[at], pattern.data(), bs);
            int err = 0;
            std::shared_lock lock(rmw_lock);
            for (uint64_t done = 0; done < bytes && err == 0; done += chunk) {
              err = file->write(offset + done, buf.data(), std::min<uint64_t>(chunk, bytes - done));
            }
            lock.unlock();
            if (err == 0 && !write_cache) err = file->sync();
            return status_of(err, true);
          }};
}

// GET LBA STATUS (SBC-3 5.6): from the LBA on, runs of mapped and
// deallocated blocks, as SEEK_DATA / SEEK_HOLE see them.  A block only
// partly in a hole is mapped.
Plan LogicalUnit::Impl::get_lba_status(const Command& cmd) {
  const uint64_t lba = be64(cmd.cdb, 2);
  const uint32_t allocation = be32(cmd.cdb, 10);
  const uint64_t cap = capacity();
  if (lba >= cap) return answer(lba_out_of_range());
  // As many descriptors as the allocation length holds (at least one,
  // cut), and no more than 64: the initiator asks again from where it ends.
  const size_t room = allocation >= 24 ? (allocation - 8) / 16 : 1;
  const size_t max_descriptors = std::min<size_t>(room, 64);
  const uint32_t limit = std::min(allocation, cmd.allocation_limit);
  auto status = [this, lba, cap, max_descriptors, limit] {
    const uint64_t bs = block_size();
    std::vector<uint8_t> b(8, 0);
    uint64_t at = lba;
    bool last_mapped = false;
    while (at < cap && (b.size() - 8) / 16 < max_descriptors) {
      bool mapped = true;
      uint64_t run = (cap - at) * bs;
      if (file) {
        if (const int err = file->extent_at(at * bs, run, mapped, run); err != 0) {
          return sense_for_errno(err, false);
        }
        if (run == 0) {  // the file shrank under the unit: say the rest is mapped
          run = (cap - at) * bs;
          mapped = true;
        }
      }
      uint64_t n = mapped ? (run + bs - 1) / bs : run / bs;
      if (n == 0) {  // a hole smaller than a block: the block is mapped
        n = 1;
        mapped = true;
      }
      n = std::min(n, cap - at);
      // Runs of the same status after rounding are one descriptor.
      const size_t last = b.size() - 16;  // the last descriptor, if there is one
      if (b.size() > 8 && last_mapped == mapped && be32(b, last + 8) + n <= 0xffffffffULL) {
        put_be32(b, last + 8, static_cast<uint32_t>(be32(b, last + 8) + n));
      } else {
        n = std::min<uint64_t>(n, 0xffffffffULL);
        b.resize(b.size() + 16, 0);
        put_be64(b, b.size() - 16, at);
        put_be32(b, b.size() - 8, static_cast<uint32_t>(n));
        b[b.size() - 4] = mapped ? 0x0 : 0x1;  // PROVISIONING STATUS: mapped, deallocated
      }
      last_mapped = mapped;
      at += n;
    }
    put_be32(b, 0, static_cast<uint32_t>(b.size() - 4));  // PARAMETER DATA LENGTH
    Result r;
    b.resize(std::min<size_t>(b.size(), limit));
    r.data_in = std::move(b);
    return r;
  };
  if (!file) return answer(status());
  return {{}, std::move(status)};
}

// PRE-FETCH (10) and (16) (SBC-3 5.9, 5.10): the range is checked, then
// asked into the page cache (POSIX_FADV_WILLNEED), which returns once the
// reads are started.  GOOD, never CONDITION MET: the page cache promises
// nothing about keeping it (SBC-3 allows GOOD when the cache cannot
// say), and libiscsi's Prefetch tests expect GOOD.  IMMED changes nothing.
Plan LogicalUnit::Impl::prefetch(const Command& cmd) {
  const bool sixteen = cmd.cdb[0] == op::kPrefetch16;
  const uint64_t lba = sixteen ? be64(cmd.cdb, 2) : be32(cmd.cdb, 2);
  const uint32_t blocks = sixteen ? be32(cmd.cdb, 10) : be16(cmd.cdb, 7);
  if (!in_range(lba, blocks, capacity())) return answer(lba_out_of_range());
  if (!file || blocks == 0) return answer({});
  const uint64_t offset = lba * block_size(), bytes = uint64_t{blocks} * block_size();
  // On the pool: WILLNEED may wait for the filesystem's mapping.
  return {{}, [this, offset, bytes] { return status_of(file->prefetch(offset, bytes), false); }};
}

// START STOP UNIT (SBC-3 5.25) on a unit that is always ready and whose
// medium cannot be removed: START 1 is GOOD at once; START 0 (stop) flushes
// the cache (what a stop does, SBC-3 4.15) unless NO_FLUSH, and the unit
// stays ready -- there is no stopped state to leave.  LOEJ (load or eject)
// and a POWER CONDITION are refused as invalid fields: there is no medium
// to move and no power condition to enter.  IMMED is accepted.
Plan LogicalUnit::Impl::start_stop_unit(const Command& cmd) {
  const uint8_t b4 = cmd.cdb[4];
  if (b4 & 0xf0) return answer(invalid_field_in_cdb(4, 7));  // POWER CONDITION
  if (b4 & 0x02) return answer(invalid_field_in_cdb(4, 1));  // LOEJ: not removable
  const bool start = b4 & 0x01, no_flush = b4 & 0x04;
  if (start || no_flush || !file) return answer({});
  return {{}, [this] { return status_of(file->sync(), true); }};
}

}  // namespace offcopy::scsi
