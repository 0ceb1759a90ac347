// What the target/scsi tests share: units backed by real files in a
// temporary directory (the project's TempDir), CDB builders, sense checks.
#ifndef OFFCOPY_TESTS_TARGET_SCSI_SCSI_TESTING_H_
#define OFFCOPY_TESTS_TARGET_SCSI_SCSI_TESTING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scsi/backing_file.h"
#include "scsi/command.h"
#include "scsi/io_pool.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "support/temp_dir.h"

namespace offcopy::scsi::testing {

using ::offcopy::testing::TempDir;  // tests/support/temp_dir.h

inline Result run(LogicalUnit& lu, const std::vector<uint8_t>& cdb,
                  const std::vector<uint8_t>& data_out = {}, uint64_t nexus = 0,
                  uint32_t limit = UINT32_MAX) {
  Command c;
  c.cdb = cdb;
  c.data_out = data_out;
  c.nexus = nexus;
  c.allocation_limit = limit;
  return lu.execute(c);
}

// Sense key, ASC, ASCQ of a CHECK CONDITION.
inline void expect_sense(const Result& r, SenseKey key, Asc asc) {
  ASSERT_EQ(r.status, Status::check_condition);
  ASSERT_GE(r.sense.size(), 18u);
  EXPECT_EQ(r.sense[0], 0x70);
  EXPECT_EQ(r.sense[2] & 0x0f, static_cast<uint8_t>(key));
  EXPECT_EQ(r.sense[12], asc.code);
  EXPECT_EQ(r.sense[13], asc.qualifier);
}

// The sense-key specific field pointer: SKSV, C/D as given, this byte.
inline void expect_field(const Result& r, uint16_t byte, bool in_cdb = true) {
  ASSERT_GE(r.sense.size(), 18u);
  EXPECT_EQ(r.sense[15] & 0xc0, in_cdb ? 0xc0 : 0x80);
  EXPECT_EQ(be16(r.sense, 16), byte);
}

inline void expect_good(const Result& r) {
  EXPECT_EQ(r.status, Status::good);
  if (r.status != Status::good && r.sense.size() >= 18) {
    ADD_FAILURE() << "sense key " << int(r.sense[2] & 0x0f) << " asc " << std::hex
                  << int(r.sense[12]) << "/" << int(r.sense[13]);
  }
}

// CDBs.  `flags` is byte 1 (RDPROTECT/WRPROTECT, DPO, FUA; or WRITE SAME's).
inline std::vector<uint8_t> cdb6(uint8_t op, uint32_t lba, uint8_t blocks) {
  return {op,
          static_cast<uint8_t>(lba >> 16 & 0x1f),
          static_cast<uint8_t>(lba >> 8),
          static_cast<uint8_t>(lba),
          blocks,
          0};
}
inline std::vector<uint8_t> cdb10(uint8_t op, uint32_t lba, uint16_t blocks, uint8_t flags = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = flags;
  put_be32(c, 2, lba);
  put_be16(c, 7, blocks);
  return c;
}
inline std::vector<uint8_t> cdb12(uint8_t op, uint32_t lba, uint32_t blocks, uint8_t flags = 0) {
  std::vector<uint8_t> c(12, 0);
  c[0] = op;
  c[1] = flags;
  put_be32(c, 2, lba);
  put_be32(c, 6, blocks);
  return c;
}
inline std::vector<uint8_t> cdb16(uint8_t op, uint64_t lba, uint32_t blocks, uint8_t flags = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = op;
  c[1] = flags;
  put_be64(c, 2, lba);
  put_be32(c, 10, blocks);
  return c;
}
// GET LBA STATUS from `lba`.
inline std::vector<uint8_t> get_lba_status(uint64_t lba, uint32_t allocation = 4096) {
  std::vector<uint8_t> c = cdb16(0x9E, lba, allocation);
  c[1] = 0x12;
  return c;
}
// An UNMAP parameter list of (LBA, blocks) descriptors.
inline std::vector<uint8_t> unmap_list(const std::vector<std::pair<uint64_t, uint32_t>>& ranges) {
  std::vector<uint8_t> b(8 + 16 * ranges.size(), 0);
  put_be16(b, 0, static_cast<uint16_t>(b.size() - 2));
  put_be16(b, 2, static_cast<uint16_t>(16 * ranges.size()));
  for (size_t i = 0; i < ranges.size(); ++i) {
    put_be64(b, 8 + 16 * i, ranges[i].first);
    put_be32(b, 16 + 16 * i, ranges[i].second);
  }
  return b;
}
inline std::vector<uint8_t> unmap_cdb(uint16_t list_length, uint8_t flags = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x42;
  c[1] = flags;
  put_be16(c, 7, list_length);
  return c;
}

// A unit on a sparse file of `blocks` blocks in a temporary directory,
// its I/O on a pool of its own.
class FileUnit {
 public:
  explicit FileUnit(uint64_t blocks, UnitOptions options = {}, bool create = true)
      : options_(options) {
    path_ = dir_.file("lun0.img");
    if (create) {
      BackingOptions b;
      b.block_size = options.block_size;
      b.create_size = blocks * options.block_size;
      std::string error;
      // Made read-write first, so a read-only unit has a file to open.
      EXPECT_NE(BackingFile::open(path_, b, error), nullptr) << error;
    }
    reopen();
  }

  // Opens the file again as a new unit (the same file, a fresh unit).
  void reopen() {
    unit_.reset();
    BackingOptions b;
    b.block_size = options_.block_size;
    b.read_only = options_.read_only;
    std::string error;
    std::unique_ptr<BackingFile> f = BackingFile::open(path_, b, error);
    ASSERT_NE(f, nullptr) << error;
    file_ = f.get();
    unit_ = std::make_unique<LogicalUnit>(identity_for(path_), options_, std::move(f), pool_);
  }

  LogicalUnit& unit() { return *unit_; }
  BackingFile& file() { return *file_; }
  const std::string& path() const { return path_; }
  uint32_t bs() const { return options_.block_size; }

 private:
  TempDir dir_;
  UnitOptions options_;
  std::string path_;
  IoPool pool_{4};
  BackingFile* file_ = nullptr;  // owned by unit_
  std::unique_ptr<LogicalUnit> unit_;
};

}  // namespace offcopy::scsi::testing

#endif  // OFFCOPY_TESTS_TARGET_SCSI_SCSI_TESTING_H_
