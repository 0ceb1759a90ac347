// Building an Error that names a file, the step and the errno in one call.
#ifndef OFFCOPY_UTIL_ERROR_H_
#define OFFCOPY_UTIL_ERROR_H_

#include <string>

#include "offcopy/result.h"

namespace offcopy::util {

inline Error path_error(int code, std::string op, Role role, std::string path,
                        std::string detail = {}) {
  Error e;
  e.code = code;
  e.op = std::move(op);
  e.role = role;
  e.path = std::move(path);
  e.detail = std::move(detail);
  return e;
}

}  // namespace offcopy::util

#endif  // OFFCOPY_UTIL_ERROR_H_
