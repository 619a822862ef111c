// Checkpoint and snapshot payloads from arbitrary bytes, as a restarting
// gantryd reads them once their frame's checksum passed (the frame has its
// own target; a checksum would stop every mutation here): the trainer state
// (Trainer::RestoreState) or the generator snapshot (DeserializeSnapshot).
// Each either fails with a status or restores; nothing crashes. Only
// tensor files (core/tensor_file.h) are fed on: archives of LibTorch, which
// gantry wrote before them and still reads, go to LibTorch's loader, which
// this target crashed in its TorchScript type parser within a few hundred
// inputs; that is why gantry writes tensor files now. The trainer's job is a
// tiny spec (generator 2-2-2, discriminator 2-2-1) whose checkpoints are
// small enough to mutate. The tensor-file reader is compiled here, with the
// sanitizers and coverage; the rest of core is the main build's (GCC)
// library.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/snapshot.h"
#include "core/tensor_file.h"
#include "core/trainer.h"

namespace {

gantry::Trainer& TinyTrainer() {
  static std::unique_ptr<gantry::Trainer> trainer = [] {
    gantry::JobSpec spec;
    spec.dataset.size = 16;
    spec.batch_size = 8;
    spec.epochs = 100000;  // as the seed corpus's job (its checkpoint is of epoch 466)
    spec.generator_hidden = {2};
    spec.discriminator_hidden = {2};
    auto t = gantry::Trainer::Create(spec);
    if (!t.ok()) __builtin_trap();
    return std::move(t).value();
  }();
  return *trainer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the kind; the rest is the payload.
  const bool checkpoint = data[0] & 1;
  const std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!gantry::IsTensorFile(payload)) return 0;
  if (checkpoint) {
    // Refusing the payload is a correct answer too: the target looks for
    // crashes and sanitizer reports, not for a verdict.
    (void)TinyTrainer().RestoreState(payload);
  } else {
    auto snap = gantry::DeserializeSnapshot(payload);
    if (snap.ok() && (*snap)->tensors().empty()) __builtin_trap();
  }
  return 0;
}
