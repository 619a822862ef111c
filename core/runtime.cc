#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <mutex>

namespace gantry {

void UseSingleThreadedMath() {
  static std::once_flag blas_once;
  std::call_once(blas_once, [] {
    using SetThreads = void (*)(int);
    if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
      fn(1);
    }
  });
  thread_local bool done = false;
  if (!done) {
    at::set_num_threads(1);
    done = true;
  }
}

}  // namespace gantry
