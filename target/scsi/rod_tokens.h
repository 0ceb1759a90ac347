// The ROD tokens this target has made (SBC-3 token copy: POPULATE TOKEN
// makes one, WRITE USING TOKEN uses it, perhaps from another session or
// another LUN of the target).  A token is 512 bytes, 384 of them random,
// so it cannot be guessed; it lives until its inactivity timeout, its
// deletion, or -- for a point-in-time token the filesystem could not
// snapshot -- the first write to its ranges.
//
// Point in time: where the backing filesystem can reflink (btrfs, xfs)
// a token holds its ranges in a hidden, unlinked file that shares their
// extents (O_TMPFILE beside the LUN), so later writes to the LUN do not
// change what it copies.  Elsewhere it is "change-vulnerable": a write to
// its ranges revokes it, and WRITE USING TOKEN then fails rather than copy
// changed data.
//
// Thread-safety: every method may be called from any thread.  A reaper
// thread ends tokens whose inactivity timeout has passed.
#ifndef OFFCOPY_TARGET_SCSI_ROD_TOKENS_H_
#define OFFCOPY_TARGET_SCSI_ROD_TOKENS_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace offcopy::scsi {

// ROD types (SPC-4 Table 129, as sg3_utils names them).
inline constexpr uint32_t kRodAccessUponReference = 0x00010000;
inline constexpr uint32_t kRodPointInTime = 0x00800000;
inline constexpr uint32_t kRodPointInTimeVulnerable = 0x00800001;
inline constexpr uint32_t kRodPointInTimeAny = 0x0080FFFF;
inline constexpr uint32_t kRodBlockDeviceZero = 0xFFFF0001;
inline constexpr size_t kRodTokenSize = 512;

// A range of a unit's blocks a token stands for, and where its bytes are
// in the token's snapshot file (when it has one).
struct RodRange {
  uint64_t lba = 0;
  uint64_t blocks = 0;
  uint64_t snapshot_offset = 0;
};

struct RodToken {
  enum class State { live, revoked, expired, deleted };

  std::array<uint8_t, kRodTokenSize> bytes{};
  uint32_t rod_type = kRodPointInTime;
  std::array<uint8_t, 16> source_naa{};  // the unit it was made from
  uint32_t block_size = 512;
  std::vector<RodRange> ranges;
  uint64_t blocks = 0;  // all ranges
  // The snapshot of the ranges, or -1: WRITE USING TOKEN reads the unit.
  int snapshot_fd = -1;
  // A point-in-time token with no snapshot: a write to its ranges revokes
  // it.  Counted in its unit's `watched` while live or read (in_use).
  bool vulnerable = false;
  std::shared_ptr<std::atomic<uint32_t>> watched;
  std::chrono::seconds inactivity_timeout{60};
  // Guarded by RodTokens' lock.
  State state = State::live;
  std::chrono::steady_clock::time_point last_used, ended;
  int in_use = 0;  // WRITE USING TOKENs reading it now: it does not expire under them
};

class RodTokens {
 public:
  static constexpr size_t kMaxLiveTokens = 1024;

  RodTokens();
  ~RodTokens();  // closes the snapshots; stops the reaper

  RodTokens(const RodTokens&) = delete;
  RodTokens& operator=(const RodTokens&) = delete;

  // Registers `token` (its fields but `bytes`, which this fills in: type,
  // length, serial, the source's CSCD descriptor, its size, this target's
  // instance id, the random tail).  False when kMaxLiveTokens are live.
  bool add(const std::shared_ptr<RodToken>& token);

  // The token these bytes are, and its state, or null when no token of
  // this target has them.  A live one is marked in use (release() it).
  std::shared_ptr<RodToken> acquire(std::span<const uint8_t> bytes, RodToken::State& state);
  // A WRITE USING TOKEN is done with it: its inactivity clock starts
  // again, or with `remove` (DEL_TKN) it is deleted.
  void release(const std::shared_ptr<RodToken>& token, bool remove);
  RodToken::State state(const RodToken& token);

  // A write to [lba, lba + blocks) of the unit `naa` is about to be
  // made: the vulnerable tokens over it are revoked (but `except`).
  void revoke_overlapping(std::span<const uint8_t> naa, uint32_t block_size, uint64_t lba,
                          uint64_t blocks, const RodToken* except = nullptr);
  // `token`'s data changed under it (its own WRITE USING TOKEN wrote
  // into its ranges): revoked, unless it holds a snapshot.
  void revoke_if_vulnerable(const std::shared_ptr<RodToken>& token);

  // The first 96 bytes (the ROD management token) of each live token
  // whose source `reachable` accepts.
  template <typename Reachable>
  std::vector<std::array<uint8_t, 96>> management_tokens(Reachable reachable) {
    std::vector<std::array<uint8_t, 96>> out;
    std::lock_guard lock(mu_);
    for (const auto& [serial, t] : tokens_) {
      if (t->state != RodToken::State::live || !reachable(t->source_naa)) continue;
      std::array<uint8_t, 96>& m = out.emplace_back();
      std::copy_n(t->bytes.begin(), 96, m.begin());
    }
    return out;
  }

 private:
  // Ends `t` (under mu_): its snapshot closed, its unit no longer watched.
  void end(RodToken& t, RodToken::State why);
  void reap();  // the reaper thread's loop

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t next_serial_ = 1;
  std::array<uint8_t, 32> instance_{};  // random, per start: binds tokens to this target
  // Live tokens and, for a while, ended ones (so their end is reported
  // precisely), by serial.
  std::map<uint64_t, std::shared_ptr<RodToken>> tokens_;
  std::thread reaper_;
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_ROD_TOKENS_H_
