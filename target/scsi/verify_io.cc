// The commands that read blocks back to compare or combine them: VERIFY,
// WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE (SBC-3 5.2, 5.22, 5.27,
// 5.38-5.40).  A difference is MISCOMPARE with the offset of its first
// byte in INFORMATION.  Checked in block_io.cc's order: the CDB's fields,
// the transfer length, the LBA range, write protection, the data-out.
#include <algorithm>
#include <cerrno>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "scsi/cdb.h"
#include "scsi/unit_impl.h"

namespace offcopy::scsi {
namespace {

// The file is read (and compared) this many bytes at a time, so a verify of
// 32 MiB does not hold 32 MiB.
constexpr size_t kCompareChunk = 1 << 20;

// Reads [offset, offset + len) and compares it with `want`: its first len
// bytes, or, with `one_block`, its one block against every block.  An empty
// `want` only reads (a medium check).  Returns 0 or the read's errno; sets
// `mismatch` to the offset of the first byte that differs, if one does.
int read_and_compare(const BackingFile& file, uint64_t offset, uint64_t len, uint32_t block_size,
                     std::span<const uint8_t> want, bool one_block,
                     std::optional<uint64_t>& mismatch) {
  const size_t chunk = std::max<size_t>(block_size, kCompareChunk / block_size * block_size);
  std::vector<uint8_t> buf(std::min<uint64_t>(chunk, len));
  for (uint64_t done = 0; done < len;) {
    const size_t n = std::min<uint64_t>(chunk, len - done);
    if (const int err = file.read(offset + done, buf.data(), n); err != 0) return err;
    if (!want.empty()) {
      // Block by block when one block is the pattern; chunks are whole blocks.
      const size_t step = one_block ? block_size : n;
      for (size_t at = 0; at < n; at += step) {
        const uint8_t* expected = one_block ? want.data() : want.data() + done + at;
        const auto [got, _] = std::mismatch(buf.begin() + at, buf.begin() + at + step, expected);
        if (got != buf.begin() + at + step) {
          mismatch = done + static_cast<uint64_t>(got - buf.begin());
          return 0;
        }
      }
    }
    done += n;
  }
  return 0;
}

}  // namespace

// VERIFY (10), (12), (16) (SBC-3 5.38-5.40).  BYTCHK 00b reads the range
// (a medium check: GOOD unless the read fails), 01b compares it with the
// data-out, 11b compares every block with the one block of data-out.  Less
// data-out than that: the whole blocks sent are compared and the
// transport reports the rest as a residual, as WRITE does.
Plan LogicalUnit::Impl::verify(const Command& cmd) {
  const Transfer t = decode_transfer(cmd.cdb);
  const uint8_t flags = cmd.cdb[1];
  if (flags & 0xe0) return answer(invalid_field_in_cdb(1, 7));  // VRPROTECT: no protection info
  const uint8_t bytchk = (flags >> 1) & 0x03;
  if (bytchk == 0x02) return answer(invalid_field_in_cdb(1, 2));  // reserved
  if (t.blocks > limits.max_transfer) return answer(invalid_field_in_cdb(t.length_byte));
  if (!in_range(t.lba, t.blocks, capacity())) return answer(lba_out_of_range());
  const uint32_t bs = block_size();
  uint64_t bytes = uint64_t{t.blocks} * bs;
  const uint32_t want_out = bytchk == 0x00   ? 0
                            : bytchk == 0x01 ? static_cast<uint32_t>(bytes)
                            : t.blocks       ? bs
                                             : 0;
  std::span<const uint8_t> want;
  if (bytchk == 0x01) {
    bytes = std::min<uint64_t>(bytes, cmd.data_out.size() / bs * bs);
    want = cmd.data_out.first(bytes);
  } else if (bytchk == 0x03) {
    if (cmd.data_out.size() < bs) bytes = 0;  // no block to compare with
    want = cmd.data_out.first(std::min<size_t>(bs, cmd.data_out.size()));
  }
  Result wanted;
  wanted.data_out_wanted = want_out;
  if (bytes == 0) return answer(wanted);
  if (!file) return answer(sense_for_errno(EIO, false));
  const uint64_t offset = t.lba * bs;
  return {{}, [this, offset, bytes, bs, want, one_block = bytchk == 0x03, want_out] {
            std::optional<uint64_t> mismatch;
            const int err = read_and_compare(*file, offset, bytes, bs, want, one_block, mismatch);
            Result r = err != 0   ? sense_for_errno(err, false)
                       : mismatch ? miscompare(static_cast<uint32_t>(*mismatch))
                                  : Result{};
            r.data_out_wanted = want_out;
            return r;
          }};
}

std::optional<Plan> LogicalUnit::Impl::check_write(const Transfer& t, const Command& cmd,
                                                   WriteRange& w) {
  if (t.blocks > limits.max_transfer) return answer(invalid_field_in_cdb(t.length_byte));
  if (!in_range(t.lba, t.blocks, capacity())) return answer(lba_out_of_range());
  if (writes_refused()) return answer(write_refusal());
  const uint32_t bs = block_size();
  w.wanted = t.blocks * bs;
  w.offset = t.lba * bs;
  // Short data-out: the whole blocks sent, as WRITE takes it.
  w.bytes = std::min<uint64_t>(w.wanted, cmd.data_out.size() / bs * bs);
  Result wanted;
  wanted.data_out_wanted = w.wanted;
  if (w.bytes == 0) return answer(wanted);
  if (!file) return answer(sense_for_errno(EIO, true));
  before_write(t.lba, w.bytes / bs);
  return std::nullopt;
}

// WRITE AND VERIFY (10), (12), (16) (SBC-3 5.43-5.45): the blocks are
// written, synced (the verify is of the medium, not of the page cache's
// copy), then read back -- and with BYTCHK 1 compared with the data-out.
// Short data-out is handled as WRITE handles it.  There is no FUA bit:
// the sync makes every WRITE AND VERIFY durable before GOOD.
Plan LogicalUnit::Impl::write_and_verify(const Command& cmd) {
  const Transfer t = decode_transfer(cmd.cdb);
  const uint8_t flags = cmd.cdb[1];
  if (flags & 0xe0) return answer(invalid_field_in_cdb(1, 7));  // WRPROTECT
  const uint8_t bytchk = (flags >> 1) & 0x03;
  if (bytchk > 0x01) return answer(invalid_field_in_cdb(1, 2));  // reserved values
  WriteRange w;
  if (std::optional<Plan> answered = check_write(t, cmd, w)) return std::move(*answered);
  const uint32_t bs = block_size();
  const uint64_t offset = w.offset, bytes = w.bytes;
  const uint32_t want_out = w.wanted;
  const std::span<const uint8_t> data = cmd.data_out.first(bytes);
  return {{}, [this, offset, bytes, bs, data, compare = bytchk == 0x01, want_out] {
            // Held through the read-back, so that no COMPARE AND WRITE
            // changes the blocks between the write and the compare.
            std::shared_lock lock(rmw_lock);
            int err = file->write(offset, data.data(), bytes);
            if (err == 0) err = file->sync();
            Result r = status_of(err, true);
            if (err == 0) {
              std::optional<uint64_t> mismatch;
              const std::span<const uint8_t> want = compare ? data : std::span<const uint8_t>{};
              err = read_and_compare(*file, offset, bytes, bs, want, false, mismatch);
              if (err != 0) r = sense_for_errno(err, false);
              if (mismatch) r = miscompare(static_cast<uint32_t>(*mismatch));
            }
            r.data_out_wanted = want_out;
            return r;
          }};
}

// COMPARE AND WRITE (SBC-3 5.2): the data-out is NUMBER OF LOGICAL BLOCKS
// to compare with the range, then as many to write there if they all
// matched -- atomically: the unit is held exclusively (rmw_lock) from the
// read to the write, so no other write lands in between.  A difference
// writes nothing and reports the offset of its first byte.  FUA, or no
// write cache, syncs the write before GOOD.
Plan LogicalUnit::Impl::compare_and_write(const Command& cmd) {
  const uint8_t flags = cmd.cdb[1];
  if (flags & 0xe0) return answer(invalid_field_in_cdb(1, 7));  // WRPROTECT
  const uint64_t lba = be64(cmd.cdb, 2);
  const uint8_t blocks = cmd.cdb[13];
  if (blocks > limits.max_compare_and_write) return answer(invalid_field_in_cdb(13));
  if (!in_range(lba, blocks, capacity())) return answer(lba_out_of_range());
  if (writes_refused()) return answer(write_refusal());
  const uint32_t bs = block_size();
  const uint64_t bytes = uint64_t{blocks} * bs;
  Result wanted;
  wanted.data_out_wanted = static_cast<uint32_t>(2 * bytes);
  // Exactly the compare and the write blocks, else the CDB's NUMBER OF
  // LOGICAL BLOCKS is not what the initiator meant: half of either cannot
  // be told apart.  INVALID FIELD IN CDB pointing at it, as LIO answers a
  // write CDB whose length disagrees with its data-out; libiscsi's
  // CompareAndWrite tests send 256 blocks' data-out with the byte-wide
  // field wrapped to 0, and InvalidDataOutSize 4 blocks for 1 and 3.
  if (cmd.data_out.size() != 2 * bytes) {
    Result r = invalid_field_in_cdb(13);
    r.data_out_wanted = wanted.data_out_wanted;
    return answer(std::move(r));
  }
  // 0 blocks (and no data-out): nothing compared or written, not an error
  // (SBC-3 5.2).
  if (blocks == 0) return answer(wanted);
  if (!file) return answer(sense_for_errno(EIO, false));
  before_write(lba, blocks);  // it may not write, but a token cannot wait to know
  const uint64_t offset = lba * bs;
  const bool sync = (flags & 0x08) || !write_cache;  // FUA
  const std::span<const uint8_t> data = cmd.data_out;
  const uint32_t want_out = *wanted.data_out_wanted;
  return {{}, [this, offset, bytes, bs, data, sync, want_out] {
            Result r;
            std::unique_lock lock(rmw_lock);
            std::optional<uint64_t> mismatch;
            int err = read_and_compare(*file, offset, bytes, bs, data.first(bytes), false,
                                       mismatch);
            if (err != 0) {
              r = sense_for_errno(err, false);
            } else if (mismatch) {
              r = miscompare(static_cast<uint32_t>(*mismatch));
            } else {
              err = file->write(offset, data.data() + bytes, bytes);
              lock.unlock();
              if (err == 0 && sync) err = file->sync();
              r = status_of(err, true);
            }
            r.data_out_wanted = want_out;
            return r;
          }};
}

// ORWRITE (16) (SBC-3 5.8): each block becomes itself OR the data-out's --
// read, combined and written under the exclusive hold COMPARE AND WRITE
// takes, since it is a read-modify-write.  Short data-out is handled as
// WRITE handles it; FUA as WRITE's.  (ORWRITE (32), the multiple-
// operation form with its BMOP field, is not here.)
Plan LogicalUnit::Impl::or_write(const Command& cmd) {
  const Transfer t = decode_transfer(cmd.cdb);
  if (cmd.cdb[1] & 0xe0) return answer(invalid_field_in_cdb(1, 7));  // ORPROTECT
  WriteRange w;
  if (std::optional<Plan> answered = check_write(t, cmd, w)) return std::move(*answered);
  const uint64_t offset = w.offset, bytes = w.bytes;
  const uint32_t want_out = w.wanted;
  const bool sync = t.fua || !write_cache;
  const std::span<const uint8_t> data = cmd.data_out.first(bytes);
  return {{}, [this, offset, bytes, data, sync, want_out] {
            std::vector<uint8_t> buf(bytes);
            std::unique_lock lock(rmw_lock);
            int err = file->read(offset, buf.data(), bytes);
            if (err != 0) {
              Result r = sense_for_errno(err, false);
              r.data_out_wanted = want_out;
              return r;
            }
            for (size_t i = 0; i < bytes; ++i) buf[i] |= data[i];
            err = file->write(offset, buf.data(), bytes);
            lock.unlock();
            if (err == 0 && sync) err = file->sync();
            Result r = status_of(err, true);
            r.data_out_wanted = want_out;
            return r;
          }};
}

}  // namespace offcopy::scsi
