// Uses the installed offcopy's C++ API (copy_file, Engine with a future) and
// its C header from C++.  consumer DIR: DIR is an empty scratch directory.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <offcopy/copy.h>
#include <offcopy/engine.h>
#include <offcopy/offcopy.h>

static std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>('a' + i % 26);
  std::ofstream(dir + "/src", std::ios::binary) << data;

  auto r = offcopy::copy_file(dir + "/src", dir + "/cpp", {});
  if (!r || slurp(dir + "/cpp") != data) {
    std::fprintf(stderr, "consumer: copy_file failed\n");
    return 1;
  }
  auto engine = offcopy::Engine::open({.workers = 1});
  if (!engine) return 1;
  auto job = (*engine)->submit_future(offcopy::FileJob{dir + "/src", {dir + "/engine"}, {}});
  if (!job || !job->completion.get().ok() || slurp(dir + "/engine") != data) {
    std::fprintf(stderr, "consumer: engine copy failed\n");
    return 1;
  }
  if (offcopy_copy_file((dir + "/src").c_str(), (dir + "/c").c_str(), nullptr, nullptr) !=
          static_cast<int64_t>(data.size()) ||
      slurp(dir + "/c") != data) {
    std::fprintf(stderr, "consumer: offcopy_copy_file failed\n");
    return 1;
  }
  std::printf("consumer: ok (offcopy %s)\n", offcopy_version());
  return 0;
}
