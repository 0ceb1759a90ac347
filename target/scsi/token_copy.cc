// Token copy (SBC-3 5.17, 5.47; SPC-4 6.18.6-7): POPULATE TOKEN makes a
// ROD token standing for ranges of this unit, RECEIVE ROD TOKEN
// INFORMATION hands it out, WRITE USING TOKEN copies what it stands for
// into ranges of this unit (from any unit of the target), and REPORT ALL
// ROD TOKENS lists them.  Windows' offloaded data transfer (ODX) is this.
//
// Tokens are point in time where the filesystem can reflink: the ranges
// are cloned into a hidden file at POPULATE TOKEN (rod_tokens.h).
// Elsewhere a write to the ranges revokes the token (before_write()), and
// WRITE USING TOKEN fails rather than copy data that changed.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <string>

#include "scsi/cdb.h"
#include "scsi/copy_run.h"
#include "scsi/lun_map.h"

namespace offcopy::scsi {
namespace {

constexpr size_t kPopulateHeader = 16;       // then the range descriptors
constexpr size_t kWriteUsingHeader = 536;    // then the range descriptors
constexpr size_t kRangeDescriptor = 16;
constexpr size_t kMaxRanges = 64;            // Windows sends at most 64 fragments
constexpr uint32_t kDefaultInactivity = 60;  // seconds (VPD 0x8F, ROD limits)
constexpr uint32_t kMaxInactivity = 600;
// What one token may stand for, and what a WRITE USING TOKEN should ask:
// a reflink costs nothing at any size, but where the bytes are copied a
// command must end within Windows' 4 s.
constexpr uint64_t kMaxTokenBytes = 1ull << 30;
constexpr uint64_t kOptimalTransferBytes = 64ull << 20;

constexpr Asc kTokenCauseNotReportable{0x23, 0x00};
constexpr Asc kTokenUnknown{0x23, 0x04};
constexpr Asc kTokenRevoked{0x23, 0x06};
constexpr Asc kTokenExpired{0x23, 0x07};
constexpr Asc kTokenDeleted{0x23, 0x09};
constexpr Asc kInsufficientResourcesForToken{0x55, 0x0D};

Result illegal(Asc asc) { return check_condition(SenseKey::illegal_request, asc); }

struct Range {
  uint64_t lba = 0, blocks = 0;
};

// The range descriptors of a POPULATE TOKEN or WRITE USING TOKEN
// parameter list, checked as FreeBSD's CTL and Windows expect: an answer
// when they are bad, else the ranges.
std::optional<Result> parse_ranges(std::span<const uint8_t> p, size_t header,
                                   uint64_t capacity, std::vector<Range>& out) {
  const size_t length_at = header - 2;
  if (p.size() < header + kRangeDescriptor) {
    return check_condition(SenseKey::illegal_request, kParameterListLength);  // data-out cut short
  }
  const size_t data_length = size_t{be16(p, 0)} + 2;
  if (data_length < header + kRangeDescriptor) return invalid_field_in_parameters(0);
  const size_t length = be16(p, length_at);
  if (length < kRangeDescriptor || length % kRangeDescriptor != 0 ||
      header + length > p.size() || header + length > data_length) {
    return invalid_field_in_parameters(static_cast<uint16_t>(length_at));
  }
  for (size_t at = header; at < header + length; at += kRangeDescriptor) {
    const Range r{be64(p, at), be32(p, at + 8)};
    if (!in_range(r.lba, r.blocks, capacity)) return lba_out_of_range();
    // Ranges of one list may not overlap (SBC-3 5.17.3).
    for (const Range& o : out) {
      if (r.lba < o.lba + o.blocks && o.lba < r.lba + r.blocks) {
        return invalid_field_in_parameters(static_cast<uint16_t>(at));
      }
    }
    if (r.blocks > 0) out.push_back(r);
  }
  return std::nullopt;
}

// The parameter list of a POPULATE TOKEN or WRITE USING TOKEN (`header`
// bytes, then range descriptors), its length checked against the CDB's:
// an answer when it is bad, else `list` and `ranges`.
std::optional<Result> parse_list(const Command& cmd, size_t header, uint64_t capacity,
                                 std::span<const uint8_t>& list, std::vector<Range>& ranges) {
  const uint32_t length = be32(cmd.cdb, 10);
  if (length < header + kRangeDescriptor || length > header + kMaxRanges * kRangeDescriptor) {
    return invalid_field_in_cdb(10);
  }
  list = cmd.data_out.first(std::min<size_t>(length, cmd.data_out.size()));
  return parse_ranges(list, header, capacity, ranges);
}

// A hidden, unlinked file beside the unit's file that shares the extents
// of `ranges` (FICLONERANGE): the token's point-in-time copy.  -1 where
// the filesystem cannot (ext4, tmpfs) or a range is not aligned to its
// blocks.
int snapshot(const BackingFile& file, uint32_t block_size, std::vector<RodRange>& ranges) {
  const int fd = ::open(directory_of(file.path()).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0 || st.st_blksize <= 0) {
    ::close(fd);
    return -1;
  }
  // Clones are whole filesystem blocks: each range's covering blocks are
  // cloned, and the range starts inside them.
  const auto align = static_cast<uint64_t>(st.st_blksize);
  uint64_t at = 0;
  for (RodRange& r : ranges) {
    const uint64_t from = r.lba * block_size, to = (r.lba + r.blocks) * block_size;
    const uint64_t first = from / align * align, last = (to + align - 1) / align * align;
    if (last > static_cast<uint64_t>(st.st_size)) {  // the end of a file not in whole blocks
      ::close(fd);
      return -1;
    }
    file_clone_range clone{};
    clone.src_fd = file.fd();
    clone.src_offset = first;
    clone.src_length = last - first;
    clone.dest_offset = at;
    if (::ioctl(fd, FICLONERANGE, &clone) != 0) {
      ::close(fd);
      return -1;
    }
    r.snapshot_offset = at + (from - first);
    at += last - first;
  }
  return fd;
}

Result token_problem(RodToken::State state) {
  switch (state) {
    case RodToken::State::revoked: return illegal(kTokenRevoked);
    case RodToken::State::expired: return illegal(kTokenExpired);
    case RodToken::State::deleted: return illegal(kTokenDeleted);
    case RodToken::State::live: break;
  }
  return illegal(kTokenUnknown);
}

}  // namespace

TokenLimits token_limits() {
  return {kMaxRanges, kMaxInactivity, kDefaultInactivity, kMaxTokenBytes, kOptimalTransferBytes};
}

// POPULATE TOKEN (SBC-3 5.17).
Plan LogicalUnit::Impl::populate_token(const Command& cmd) {
  const uint32_t list_id = be32(cmd.cdb, 6);
  std::span<const uint8_t> p;
  std::vector<Range> ranges;
  if (auto bad = parse_list(cmd, kPopulateHeader, capacity(), p, ranges)) return answer(*bad);
  const bool immediate = p[2] & 0x01;
  const bool rtv = p[2] & 0x02;
  uint32_t timeout = be32(p, 4);
  if (timeout > kMaxInactivity) return answer(invalid_field_in_parameters(4));
  if (timeout == 0) timeout = kDefaultInactivity;
  uint32_t type = rtv ? be32(p, 8) : kRodPointInTime;
  if (type == kRodPointInTimeAny) type = kRodPointInTime;
  if (type != kRodPointInTime && type != kRodPointInTimeVulnerable &&
      type != kRodAccessUponReference) {
    return answer(invalid_field_in_parameters(8));
  }
  uint64_t blocks = 0;
  for (const Range& r : ranges) blocks += r.blocks;
  if (blocks * block_size() > kMaxTokenBytes) return answer(invalid_field_in_parameters(14));

  // Held: its token is taken by RECEIVE ROD TOKEN INFORMATION.
  auto op = new_copy_operation(cmd, list_id, immediate, true);
  if (std::optional<Result> refused = register_copy(op, true)) return answer(std::move(*refused));

  auto token = std::make_shared<RodToken>();
  token->rod_type = type;
  token->source_naa = id.naa;
  token->block_size = block_size();
  for (const Range& r : ranges) token->ranges.push_back({r.lba, r.blocks, 0});
  token->blocks = blocks;
  token->inactivity_timeout = std::chrono::seconds(timeout);
  token->watched = watched_by_tokens;

  // The clones wait on the disk (the ranges' dirty pages are written
  // first): off the loop, on the unit's I/O threads.  IMMED: GOOD now,
  // RECEIVE ROD TOKEN INFORMATION tells when the token is made.
  return start_on_pool(immediate, [this, op, token] {
    if (token->rod_type != kRodAccessUponReference) {
      if (token->rod_type == kRodPointInTime) {
        token->snapshot_fd = snapshot(*file, block_size(), token->ranges);
      }
      token->vulnerable = token->snapshot_fd < 0;
    }
    Result r;
    if (!copy_engine->tokens().add(token)) {
      if (token->snapshot_fd >= 0) ::close(token->snapshot_fd);
      r = illegal(kInsufficientResourcesForToken);
    } else {
      std::lock_guard lock(copy_mu);
      op->token = token;
      op->bytes_done = token->blocks * token->block_size;
      op->segments_done = 1;
    }
    end_copy(op, r);
    return r;
  });
}

// WRITE USING TOKEN (SBC-3 5.47).
Plan LogicalUnit::Impl::write_using_token(const Command& cmd) {
  const uint32_t list_id = be32(cmd.cdb, 6);
  std::span<const uint8_t> p;
  std::vector<Range> ranges;
  if (auto bad = parse_list(cmd, kWriteUsingHeader, capacity(), p, ranges)) return answer(*bad);
  if (writes_refused()) return answer(write_refusal());
  const bool immediate = p[2] & 0x01;
  const bool delete_token = p[2] & 0x02;
  const uint64_t offset = be64(p, 8);
  const std::span<const uint8_t> token_bytes = p.subspan(16, kRodTokenSize);

  auto op = new_copy_operation(cmd, list_id, immediate, true);

  // The block device zero token: the ranges are zeroed.
  if (be32(token_bytes, 0) == kRodBlockDeviceZero) {
    if (std::optional<Result> refused = register_copy(op, true)) return answer(*refused);
    for (const Range& r : ranges) before_write(r.lba, r.blocks);
    return start_on_pool(immediate, [this, op, ranges] {
      int err = 0;
      uint64_t zeroed = 0;
      for (const Range& r : ranges) {
        const uint64_t from = r.lba * block_size(), bytes = r.blocks * block_size();
        {
          std::shared_lock lock(rmw_lock);  // not inside a COMPARE AND WRITE
          err = file->can_punch() ? file->punch_hole(from, bytes) : EOPNOTSUPP;
          if (err == EOPNOTSUPP) {
            static const std::vector<uint8_t> zeros(1 << 20, 0);
            err = 0;
            for (uint64_t at = 0; at < bytes && err == 0; at += zeros.size()) {
              err = file->write(from + at, zeros.data(), std::min<uint64_t>(zeros.size(), bytes - at));
            }
          }
        }
        if (err != 0) break;
        zeroed += bytes;
      }
      if (err == 0 && !write_cache) err = file->sync();
      counters.bytes_written.fetch_add(zeroed, std::memory_order_relaxed);
      const Result r = err == 0 ? Result{} : sense_for_errno(err, true);
      {
        std::lock_guard lock(copy_mu);
        op->bytes_done = zeroed;
        op->segments_done = static_cast<uint16_t>(std::min<size_t>(ranges.size(), 0xFFFF));
      }
      end_copy(op, r);
      return r;
    });
  }

  // A token of this target, whose source the session may read: any other
  // is unknown to it (it learns nothing of tokens it may not use).
  RodTokens& tokens = copy_engine->tokens();
  RodToken::State state = RodToken::State::live;
  std::shared_ptr<RodToken> token = tokens.acquire(token_bytes, state);
  if (!token) return answer(illegal(kTokenUnknown));
  if (state != RodToken::State::live) return answer(token_problem(state));
  auto run = std::make_shared<CopyRun>();
  run->manager = this;
  CopyTarget source;
  if (token->source_naa == id.naa) {
    source.unit = this;
  } else if (cmd.units) {
    if ((source.hold = cmd.units->find_by_naa(token->source_naa))) {
      source.unit = source.hold->impl_.get();
    }
  }
  const auto refuse = [&](Result r) {
    tokens.release(token, false);
    return answer(std::move(r));
  };
  if (source.unit == nullptr || !source.unit->file) return refuse(illegal(kTokenUnknown));
  if (source.unit->reservations.conflicts(cmd, Access::read)) {
    return refuse({Status::reservation_conflict});
  }
  if (token->block_size != block_size()) return refuse(illegal(kTokenCauseNotReportable));
  if (offset >= token->blocks) return refuse(invalid_field_in_parameters(8));

  // The token's blocks from OFFSET INTO ROD fill the destination ranges
  // in order, as far as they go.
  const uint32_t bs = block_size();
  const bool from_snapshot = token->snapshot_fd >= 0;
  const int source_fd = from_snapshot ? token->snapshot_fd : source.unit->file->fd();
  struct Span {
    uint64_t source_offset, destination_lba, blocks;
  };
  std::vector<Span> spans;
  size_t t = 0;
  uint64_t skip = offset, used = 0;  // blocks into token range t
  while (t < token->ranges.size() && skip >= token->ranges[t].blocks) skip -= token->ranges[t++].blocks;
  used = skip;
  for (const Range& d : ranges) {
    uint64_t filled = 0;
    while (filled < d.blocks && t < token->ranges.size()) {
      const RodRange& s = token->ranges[t];
      const uint64_t n = std::min(d.blocks - filled, s.blocks - used);
      const uint64_t from = from_snapshot ? s.snapshot_offset + used * bs : (s.lba + used) * bs;
      spans.push_back({from, d.lba + filled, n});
      filled += n;
      used += n;
      if (used == s.blocks) {
        ++t;
        used = 0;
      }
    }
  }
  // Writing into the token's own ranges (same unit, no snapshot) would
  // change what later pieces read: the token's part is staged in a
  // hidden file first, so the copy is of the data as it was.
  bool overlaps_source = false;
  if (!from_snapshot && source.unit == this) {
    for (const Span& sp : spans) {
      for (const RodRange& s : token->ranges) {
        const uint64_t d_from = sp.destination_lba * bs, d_to = d_from + sp.blocks * bs;
        if (d_from < (s.lba + s.blocks) * bs && s.lba * bs < d_to) overlaps_source = true;
      }
    }
  }
  int staging_fd = -1;
  if (overlaps_source) {
    staging_fd = ::open(directory_of(file->path()).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (staging_fd < 0) return refuse(sense_for_errno(errno, true));
    uint64_t at = 0;
    for (Span& sp : spans) {
      run->steps.push_back({{source_fd, sp.source_offset, staging_fd, at, sp.blocks * bs}, nullptr, 0});
      sp.source_offset = at;
      at += sp.blocks * bs;
    }
  }
  // Registered last: a copy refused after it would stay "running" for
  // ever (its list identifier taken, COPY OPERATION ABORT never ending).
  if (std::optional<Result> refused = register_copy(op, true)) {
    if (staging_fd >= 0) ::close(staging_fd);
    return refuse(std::move(*refused));
  }
  for (const Span& sp : spans) {
    run->steps.push_back({{staging_fd >= 0 ? staging_fd : source_fd, sp.source_offset, file->fd(),
                           sp.destination_lba * bs, sp.blocks * bs},
                          this,
                          0});
  }
  if (run->steps.empty()) run->steps.push_back({{source_fd, 0, file->fd(), 0, 0}, this, 0});
  run->steps.back().ends_segment = true;
  // Other tokens over the destination see the write coming.
  for (const Range& d : ranges) before_write(d.lba, d.blocks, token.get());
  run->targets.push_back(std::move(source));
  run->op = op;
  run->finishing = [token, all = &tokens, staging_fd, overlaps_source, delete_token](Result r) {
    if (staging_fd >= 0) ::close(staging_fd);
    // Revoked while it copied: a write to its ranges may have been read.
    if (r.status == Status::good && all->state(*token) == RodToken::State::revoked) {
      r = illegal(kTokenRevoked);
    }
    if (overlaps_source) all->revoke_if_vulnerable(token);
    all->release(token, delete_token);
    return r;
  };
  return start_run(std::move(run));
}

// REPORT ALL ROD TOKENS (SPC-4 6.18.6): the ROD management tokens (the
// first 96 bytes, never the random part) of the live tokens whose source
// the session may reach.
Result LogicalUnit::Impl::report_all_rod_tokens(const Command& cmd) const {
  const auto reachable = [&](const std::array<uint8_t, 16>& naa) {
    if (naa == id.naa) return true;
    return cmd.units != nullptr && cmd.units->find_by_naa(naa) != nullptr;
  };
  const std::vector<std::array<uint8_t, 96>> list =
      copy_engine->tokens().management_tokens(reachable);
  std::vector<uint8_t> b(8, 0);
  for (const auto& m : list) b.insert(b.end(), m.begin(), m.end());
  put_be32(b, 0, static_cast<uint32_t>(b.size() - 4));
  return data_in(std::move(b), be32(cmd.cdb, 10), cmd);
}

}  // namespace offcopy::scsi
