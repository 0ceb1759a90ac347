// The threads a logical unit's backing-file I/O runs on, so that the
// event loop that reads PDUs never waits on a disk and one slow LUN does
// not stall another session's commands.
//
// Thread-safety: post() may be called from any thread; the destructor
// runs what was posted and joins the threads.
#ifndef OFFCOPY_TARGET_SCSI_IO_POOL_H_
#define OFFCOPY_TARGET_SCSI_IO_POOL_H_

#include <functional>
#include <memory>

namespace offcopy::scsi {

class IoPool {
 public:
  explicit IoPool(unsigned threads);
  ~IoPool();

  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  void post(std::function<void()> work);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace offcopy::scsi

#endif  // OFFCOPY_TARGET_SCSI_IO_POOL_H_
