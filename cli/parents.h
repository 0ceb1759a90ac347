// cp --parents: SOURCE is copied to DIR/SOURCE, and the directories on the
// way that are missing are made after SOURCE's own.  They are made 0700
// and given their modes (and with -p owner and times) only after the
// copy, so that nobody else enters them while they are being filled
// (cp's parent-perm-race rule).
#ifndef OFFCOPY_CLI_PARENTS_H_
#define OFFCOPY_CLI_PARENTS_H_

#include <sys/stat.h>

#include <string>
#include <vector>

#include "options.h"

namespace offcopy::cli {

class ParentDirs {
 public:
  explicit ParentDirs(const Options& o) : o_(o) {}
  // Makes the missing directories between `dir` and the last component of
  // `src` (in DIR/SRC).  False after an error, told on stderr.
  bool make(const std::string& dir, const std::string& src);
  // The modes, owners and times of the directories made, deepest first.
  void finish();

 private:
  struct Made {
    std::string dst;
    struct stat st;  // of the source directory
    bool created;    // by this copy (else an existing one, under -p)
  };
  const Options& o_;
  std::vector<Made> made_;
};

}  // namespace offcopy::cli

#endif  // OFFCOPY_CLI_PARENTS_H_
