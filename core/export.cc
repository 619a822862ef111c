#include "core/export.h"

#include "core/errors.h"

#include <torch/script.h>

#include <sstream>

namespace gantry {

StatusOr<std::string> ExportTorchScript(const GeneratorSnapshot& snapshot) {
  if (snapshot.table()) {
    return Status::FailedPrecondition(
        "export: a table job's generator outputs encoded rows that only its codec decodes; "
        "sample rows with Sample or SampleStream (gantry sample) instead");
  }
  try {
    torch::jit::Module m("GantryGenerator");
    const auto& t = snapshot.tensors();
    const size_t layers = t.size() / 2;
    std::ostringstream src;
    src << "def forward(self, z):\n    h = z\n";
    for (size_t i = 0; i < layers; ++i) {
      m.register_parameter("w" + std::to_string(i), t[2 * i].clone(), /*is_buffer=*/false);
      m.register_parameter("b" + std::to_string(i), t[2 * i + 1].clone(), /*is_buffer=*/false);
      src << "    h = torch.linear(h, self.w" << i << ", self.b" << i << ")\n";
      if (i + 1 < layers) src << "    h = torch.relu(h)\n";
    }
    src << "    return h\n";
    m.register_attribute("latent_dim", c10::IntType::get(), snapshot.latent_dim());
    m.register_attribute("data_dim", c10::IntType::get(), snapshot.data_dim());
    m.register_attribute("epoch", c10::IntType::get(), snapshot.epoch());
    m.define(src.str());
    std::ostringstream out;
    m.save(out);
    return out.str();
  } catch (const std::exception& e) {
    return StatusFromException("exporting the generator", e);
  }
}

}  // namespace gantry
