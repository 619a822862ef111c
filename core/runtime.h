// Process and thread settings for LibTorch and BLAS.
//
// gantry runs jobs side by side, each on one thread, instead of spreading one
// job over many threads: one intra-op thread and one OpenBLAS thread.
//
// Thread-safety: safe from any thread.
#pragma once

namespace gantry {

// Sets one OpenBLAS thread for the process (once) and one ATen intra-op
// thread for the calling thread (OpenMP keeps this per thread). Cheap after
// the first call on a thread; call it at the top of every entry point that
// runs tensor ops.
void UseSingleThreadedMath();

}  // namespace gantry
