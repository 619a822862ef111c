#include "server/util/ids.h"

#include <unistd.h>

#include <random>

#include "server/util/mutex.h"

namespace gantry {

std::string NewId(const std::string& prefix) {
  static Mutex mu;
  static std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  MutexLock lock(&mu);
  std::string id = prefix;
  for (int i = 0; i < 10; ++i) id += kAlphabet[rng() % 36];
  return id;
}

std::string ProcessName() {
  char host[256] = {0};
  (void)gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace gantry
