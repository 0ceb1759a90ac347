#include "support/test_files.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

namespace offcopy::testing {

std::string pattern(int64_t len, uint64_t seed) {
  std::string s(static_cast<size_t>(len), '\0');
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  for (; i < s.size(); ++i) s[i] = static_cast<char>(rng() | 1);
  return s;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  ASSERT_TRUE(f) << "cannot create " << path;
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(f) << "cannot write " << path;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string make_sparse(const std::string& path, int64_t size,
                        const std::vector<std::pair<int64_t, int64_t>>& data) {
  std::string expect(static_cast<size_t>(size), '\0');
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
  if (fd < 0) return expect;
  EXPECT_EQ(::ftruncate(fd, size), 0);
  uint64_t seed = 7;
  for (auto [off, len] : data) {
    std::string chunk = pattern(len, seed++);
    EXPECT_EQ(::pwrite(fd, chunk.data(), chunk.size(), off), len);
    expect.replace(static_cast<size_t>(off), static_cast<size_t>(len), chunk);
  }
  ::fsync(fd);
  ::close(fd);
  return expect;
}

int64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_blocks) * 512;
}

ExtentInfo extent_info(const std::string& path) {
  ExtentInfo info;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return info;
  ::fsync(fd);
  constexpr int kMax = 512;
  std::unique_ptr<char[]> buf(new char[sizeof(fiemap) + kMax * sizeof(fiemap_extent)]());
  auto* fm = reinterpret_cast<fiemap*>(buf.get());
  uint64_t start = 0;
  for (;;) {
    std::memset(fm, 0, sizeof(fiemap));
    fm->fm_start = start;
    fm->fm_length = ~0ull - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kMax;
    if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0 || fm->fm_mapped_extents == 0) break;
    bool last = false;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      ++info.extents;
      info.mapped_bytes += static_cast<int64_t>(e.fe_length);
      if (e.fe_flags & FIEMAP_EXTENT_SHARED) info.shared_bytes += e.fe_length;
      if (e.fe_flags & FIEMAP_EXTENT_LAST) last = true;
      start = e.fe_logical + e.fe_length;
    }
    if (last) break;
  }
  ::close(fd);
  return info;
}

std::map<std::string, std::string> test_mounts() {
  std::map<std::string, std::string> out;
  const char* env = getenv("OFFCOPY_TEST_MOUNTS");
  if (env == nullptr) return out;
  std::istringstream ss(env);
  std::string item;
  while (ss >> item) {
    const size_t eq = item.find('=');
    if (eq != std::string::npos) out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

std::string mount_for(const std::string& fs, std::string* why) {
  const auto mounts = test_mounts();
  if (mounts.empty()) {
    *why = "OFFCOPY_TEST_MOUNTS is not set: run under scripts/fsfixture.sh (needs root and loop devices)";
    return {};
  }
  auto it = mounts.find(fs);
  if (it == mounts.end()) {
    *why = "no " + fs + " mount in OFFCOPY_TEST_MOUNTS";
    return {};
  }
  return it->second;
}

bool can_clone(const std::string& fs) { return fs == "btrfs" || fs == "xfs"; }

std::string describe(const Report& r) {
  std::ostringstream os;
  os << "bytes:";
  for (int i = 0; i < kMechanismCount; ++i) {
    os << ' ' << mechanism_name(static_cast<Mechanism>(i)) << '=' << r.bytes_by[i];
  }
  os << " holes=" << r.hole_bytes << "; steps:";
  for (const Step& s : r.steps) {
    const char* o = s.outcome == Outcome::used      ? "used"
                    : s.outcome == Outcome::skipped ? "skipped"
                                                    : "failed";
    os << " [" << mechanism_name(s.mech) << ' ' << o << " bytes=" << s.bytes
       << " err=" << s.err << " why='" << s.why << "']";
  }
  return os.str();
}

std::string describe(const Error& e) {
  std::ostringstream os;
  os << e.message() << " {code=" << e.code << " op='" << e.op << "' role="
     << static_cast<int>(e.role) << " path='" << e.path << "' bytes_done=" << e.bytes_done
     << " offload_unsupported=" << e.offload_unsupported() << "}";
  return os.str();
}

const Step* find_step(const Report& r, Mechanism m) {
  for (const Step& s : r.steps) {
    if (s.mech == m) return &s;
  }
  return nullptr;
}

}  // namespace offcopy::testing
