// Export of a generator as a TorchScript file that Python runs directly:
//
//   g = torch.jit.load("generator.pt"); x = g(torch.randn(n, g.latent_dim))
//
// The scripted forward uses the same ops as gantry's own (linear, relu), so
// Python gets the C++ generator's outputs for the same z. The module also
// carries `latent_dim`, `data_dim` and `epoch` attributes.
//
// Thread-safety: safe from any thread (the snapshot is immutable).
#pragma once

#include <string>

#include "core/snapshot.h"
#include "core/status.h"

namespace gantry {

// The TorchScript archive's bytes.
StatusOr<std::string> ExportTorchScript(const GeneratorSnapshot& snapshot);

}  // namespace gantry
