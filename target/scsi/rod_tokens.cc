#include "scsi/rod_tokens.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "scsi/command.h"

namespace offcopy::scsi {
namespace {

using Clock = std::chrono::steady_clock;

// How long an ended token is remembered, so that using it says why it
// ended (expired, revoked, deleted) rather than "unknown"; and how many.
constexpr auto kRememberedFor = std::chrono::hours(1);
constexpr size_t kMaxRemembered = 4096;

void fill_random(uint8_t* out, size_t n) {
  while (n > 0) {
    const ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::abort();  // no kernel randomness: no token may be made guessable
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
}

// Whether two 512-byte tokens are equal, in a time that does not depend
// on where they differ.
bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < kRodTokenSize; ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

}  // namespace

RodTokens::RodTokens() {
  fill_random(instance_.data(), instance_.size());
  reaper_ = std::thread([this] { reap(); });
}

RodTokens::~RodTokens() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [serial, t] : tokens_) end(*t, RodToken::State::expired);
  }
  wake_.notify_all();
  reaper_.join();
}

bool RodTokens::add(const std::shared_ptr<RodToken>& token) {
  RodToken& t = *token;
  std::lock_guard lock(mu_);
  const auto live = std::count_if(tokens_.begin(), tokens_.end(), [](const auto& e) {
    return e.second->state == RodToken::State::live;
  });
  if (static_cast<size_t>(live) >= kMaxLiveTokens) return false;
  const uint64_t serial = next_serial_++;
  // The format docs/target.md documents.
  std::vector<uint8_t> b(kRodTokenSize, 0);
  put_be32(b, 0, t.rod_type);
  put_be16(b, 6, kRodTokenSize - 8);  // ROD TOKEN LENGTH
  put_be64(b, 8, serial);
  // 16-47: an identification CSCD descriptor naming the source unit.
  b[16] = 0xE4;
  b[20] = 0x01;  // binary
  b[21] = 0x03;  // logical unit, NAA
  b[23] = static_cast<uint8_t>(t.source_naa.size());
  std::copy(t.source_naa.begin(), t.source_naa.end(), b.begin() + 24);
  b[45] = static_cast<uint8_t>(t.block_size >> 16);
  b[46] = static_cast<uint8_t>(t.block_size >> 8);
  b[47] = static_cast<uint8_t>(t.block_size);
  put_be64(b, 56, t.blocks * t.block_size);  // 48-63: the bytes it stands for
  std::copy(instance_.begin(), instance_.end(), b.begin() + 64);
  fill_random(b.data() + 128, kRodTokenSize - 128);
  std::copy(b.begin(), b.end(), t.bytes.begin());
  t.last_used = Clock::now();
  if (t.vulnerable) t.watched->fetch_add(1, std::memory_order_relaxed);
  tokens_[serial] = token;
  return true;
}

std::shared_ptr<RodToken> RodTokens::acquire(std::span<const uint8_t> bytes,
                                             RodToken::State& state) {
  if (bytes.size() != kRodTokenSize) return nullptr;
  std::lock_guard lock(mu_);
  const auto it = tokens_.find(be64(bytes, 8));
  if (it == tokens_.end() || !same_bytes(it->second->bytes, bytes)) return nullptr;
  RodToken& t = *it->second;
  // The reaper looks once a second; a token past its time is past it now.
  if (t.state == RodToken::State::live && t.in_use == 0 &&
      Clock::now() >= t.last_used + t.inactivity_timeout) {
    end(t, RodToken::State::expired);
  }
  state = t.state;
  if (state == RodToken::State::live) ++t.in_use;
  return it->second;
}

void RodTokens::release(const std::shared_ptr<RodToken>& token, bool remove) {
  std::lock_guard lock(mu_);
  RodToken& t = *token;
  --t.in_use;
  t.last_used = Clock::now();
  if (remove && t.state == RodToken::State::live) {
    end(t, RodToken::State::deleted);
  } else if (t.state != RodToken::State::live && t.in_use == 0 && t.vulnerable) {
    t.watched->fetch_sub(1, std::memory_order_relaxed);  // ended while read: watched until now
  }
}

RodToken::State RodTokens::state(const RodToken& token) {
  std::lock_guard lock(mu_);
  return token.state;
}

void RodTokens::revoke_overlapping(std::span<const uint8_t> naa, uint32_t block_size,
                                   uint64_t lba, uint64_t blocks, const RodToken* except) {
  std::lock_guard lock(mu_);
  // In bytes: exact whatever the block sizes.
  const uint64_t from = lba * block_size, to = (lba + blocks) * block_size;
  for (auto& entry : tokens_) {
    RodToken& t = *entry.second;
    if (!t.vulnerable || &t == except) continue;
    // An ended token still matters while a WRITE USING TOKEN reads it
    // (another's DEL_TKN ended it): that copy must not succeed with
    // data written after POPULATE TOKEN.
    if (t.state != RodToken::State::live && t.in_use == 0) continue;
    if (!std::equal(naa.begin(), naa.end(), t.source_naa.begin(), t.source_naa.end())) continue;
    const uint64_t bs = t.block_size;
    const bool overlaps = std::any_of(t.ranges.begin(), t.ranges.end(), [&](const RodRange& r) {
      return from < (r.lba + r.blocks) * bs && r.lba * bs < to;
    });
    if (!overlaps) continue;
    if (t.state == RodToken::State::live) {
      end(t, RodToken::State::revoked);
    } else {
      t.state = RodToken::State::revoked;  // so the copy still reading it fails
    }
  }
}

void RodTokens::revoke_if_vulnerable(const std::shared_ptr<RodToken>& token) {
  std::lock_guard lock(mu_);
  if (token->vulnerable && token->state == RodToken::State::live) {
    end(*token, RodToken::State::revoked);
  }
}

void RodTokens::end(RodToken& t, RodToken::State why) {
  if (t.state != RodToken::State::live) return;
  t.state = why;
  t.ended = Clock::now();
  // One being read stays watched until its readers let go (release()):
  // a write meanwhile must still fail them.
  if (t.vulnerable && t.in_use == 0) t.watched->fetch_sub(1, std::memory_order_relaxed);
  // A WRITE USING TOKEN reading the snapshot keeps it open: its run holds
  // the token, and the file is closed when the last holder lets go.
  if (t.snapshot_fd >= 0 && t.in_use == 0) {
    ::close(t.snapshot_fd);
    t.snapshot_fd = -1;
  }
}

void RodTokens::reap() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::seconds(1));
    const Clock::time_point now = Clock::now();
    for (auto it = tokens_.begin(); it != tokens_.end();) {
      RodToken& t = *it->second;
      if (t.state == RodToken::State::live && t.in_use == 0 &&
          now >= t.last_used + t.inactivity_timeout) {
        end(t, RodToken::State::expired);
      }
      // A snapshot whose readers have finished since the token ended.
      if (t.state != RodToken::State::live && t.in_use == 0 && t.snapshot_fd >= 0) {
        ::close(t.snapshot_fd);
        t.snapshot_fd = -1;
      }
      const bool forget = t.state != RodToken::State::live && t.in_use == 0 &&
                          (now - t.ended > kRememberedFor || tokens_.size() > kMaxRemembered);
      it = forget ? tokens_.erase(it) : std::next(it);
    }
  }
}

}  // namespace offcopy::scsi
