// verify_copy: which ranges need reading (extent maps), then chunk by chunk
// digests of both sides.
#include "ladder/verify.h"

#include <errno.h>
#include <linux/fiemap.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#define XXH_INLINE_ALL  // header-only: no libxxhash for consumers to link
#include <xxhash.h>

#include "util/error.h"

namespace offcopy::ladder {

using mech::Context;
using mech::Control;
namespace {

using Range = std::pair<int64_t, int64_t>;  // [first, second)

constexpr int64_t kChunk = 1 << 20;

// Flags under which an extent's physical address says nothing certain
// about its bytes: not yet placed, packed with other data, or encoded
// (compressed: equal addresses need not mean equal offsets within).
constexpr uint32_t kUnprovable = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                                 FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE |
                                 FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_NOT_ALIGNED;

// Ranges of [0, size) both files are proven to hold alike: holes in both,
// or the very same shared blocks on the device at the same file offsets.
std::vector<Range> proven_equal(const std::vector<sys::Extent>& a,
                                const std::vector<sys::Extent>& b, int64_t size) {
  std::vector<Range> out;
  // Sweep over every boundary of both maps; between two boundaries each
  // file is either in one extent or in a hole.
  std::vector<int64_t> cuts{0, size};
  for (const auto* m : {&a, &b}) {
    for (const sys::Extent& e : *m) {
      cuts.push_back(std::clamp<int64_t>(e.logical, 0, size));
      cuts.push_back(std::clamp<int64_t>(e.logical + e.length, 0, size));
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  // Extents come sorted by offset: one cursor per map follows the sweep.
  size_t ia = 0, ib = 0;
  auto at = [](const std::vector<sys::Extent>& m, size_t* i, int64_t off) -> const sys::Extent* {
    while (*i < m.size() && m[*i].logical + m[*i].length <= off) ++*i;
    return *i < m.size() && m[*i].logical <= off ? &m[*i] : nullptr;
  };
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const sys::Extent* x = at(a, &ia, cuts[i]);
    const sys::Extent* y = at(b, &ib, cuts[i]);
    bool equal = !x && !y;
    if (x && y) {
      equal = (x->flags & FIEMAP_EXTENT_SHARED) && (y->flags & FIEMAP_EXTENT_SHARED) &&
              !((x->flags | y->flags) & kUnprovable) &&
              x->physical - x->logical == y->physical - y->logical;
    }
    if (!equal) continue;
    if (!out.empty() && out.back().second == cuts[i]) {
      out.back().second = cuts[i + 1];
    } else {
      out.push_back({cuts[i], cuts[i + 1]});
    }
  }
  return out;
}

// Without FIEMAP (tmpfs): the data ranges by SEEK_DATA/SEEK_HOLE, which
// prove holes but no sharing (flags UNKNOWN).
int data_ranges(sys::Sys& s, int fd, int64_t size, std::vector<sys::Extent>* out) {
  out->clear();
  for (int64_t pos = 0; pos < size;) {
    const int64_t data = s.lseek(fd, pos, SEEK_DATA);
    if (data == -ENXIO) break;  // only a hole remains
    if (data < 0) return static_cast<int>(data);
    int64_t hole = s.lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    out->push_back({data, 0, hole - data, FIEMAP_EXTENT_UNKNOWN});
    pos = hole;
  }
  return 0;
}

// The extent map of one file, by FIEMAP or else by SEEK_DATA.
int map_of(sys::Sys& s, int fd, int64_t size, std::vector<sys::Extent>* out) {
  if (s.extents(fd, out) == 0) return 0;
  return data_ranges(s, fd, size, out);
}

// Reads exactly `len` bytes at `off` (short only at end of file).
int64_t read_full(sys::Sys& s, int fd, char* buf, int64_t len, int64_t off) {
  int64_t got = 0;
  while (got < len) {
    const int64_t r = s.pread(fd, buf + got, len - got, off + got);
    if (r < 0) return r;
    if (r == 0) break;
    got += r;
  }
  return got;
}

Error mismatch(int64_t off, const std::string& why) {
  Error e = util::path_error(EIO, "verify", Role::destination, "", why);
  e.offset = off;
  return e;
}

class Comparer {
 public:
  Comparer(const Context& ctx, int src, int dst, const Control* control)
      : s_(*ctx.sys), src_(src), dst_(dst), control_(control), a_(kChunk), b_(kChunk) {}

  // Compares [from, to) chunk by chunk.
  Status range(int64_t from, int64_t to, int64_t* compared) {
    for (int64_t off = from; off < to; off += kChunk) {
      if (control_ != nullptr && control_->cancelled()) {
        return util::path_error(ECANCELED, "verify", Role::none, "");
      }
      const int64_t want = std::min(kChunk, to - off);
      if (Status st = chunk(off, want); !st) return st;
      *compared += want;
    }
    return Ok{};
  }

 private:
  Status chunk(int64_t off, int64_t want) {
    const int64_t ra = read_full(s_, src_, a_.data(), want, off);
    if (ra < 0) return util::path_error(static_cast<int>(-ra), "read", Role::source, "");
    const int64_t rb = read_full(s_, dst_, b_.data(), want, off);
    if (rb < 0) return util::path_error(static_cast<int>(-rb), "read", Role::destination, "");
    if (ra != want) return mismatch(off + ra, "the source got shorter while it was verified");
    if (rb != want) return mismatch(off + rb, "the copy is shorter than the source");
    const XXH128_hash_t ha = XXH3_128bits(a_.data(), want);
    const XXH128_hash_t hb = XXH3_128bits(b_.data(), want);
    if (XXH128_isEqual(ha, hb)) return Ok{};
    const auto diff = std::mismatch(a_.begin(), a_.begin() + want, b_.begin());
    const int64_t at = off + (diff.first - a_.begin());
    return mismatch(at, "the copy differs from the source at byte " + std::to_string(at));
  }

  sys::Sys& s_;
  int src_;
  int dst_;
  const Control* control_;
  std::vector<char> a_;
  std::vector<char> b_;
};

}  // namespace

Result<Verified> verify_copy(const Context& ctx, int src_fd, int dst_fd, int64_t size,
                             const Control* control) {
  sys::Sys& s = *ctx.sys;
  struct stat dst_st {};
  if (int r = s.fstat(dst_fd, &dst_st); r < 0) {
    return util::path_error(-r, "fstat", Role::destination, "");
  }
  if (dst_st.st_size != size) {
    return mismatch(std::min<int64_t>(dst_st.st_size, size),
                    "the copy has " + std::to_string(dst_st.st_size) + " bytes, the source " +
                        std::to_string(size));
  }
  // Written back first, so dropping the cache cannot lose dirty pages and
  // the read-back comes from the device.
  if (int r = s.fdatasync(dst_fd); r < 0) {
    return util::path_error(-r, "fdatasync", Role::destination, "");
  }
  s.fadvise_dontneed(dst_fd);
  std::vector<sys::Extent> a, b;
  std::vector<Range> skip;
  if (map_of(s, src_fd, size, &a) == 0 && map_of(s, dst_fd, size, &b) == 0) {
    skip = proven_equal(a, b, size);
  }
  Verified v;
  Comparer cmp(ctx, src_fd, dst_fd, control);
  int64_t pos = 0;
  skip.push_back({size, size});
  for (const Range& r : skip) {
    if (Status st = cmp.range(pos, r.first, &v.compared); !st) return st.error();
    v.skipped += r.second - r.first;
    pos = r.second;
  }
  return v;
}

}  // namespace offcopy::ladder
