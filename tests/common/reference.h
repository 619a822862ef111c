// Runs the tutorial's seed program (tests/reference/seed_program.py) with
// Debian's python3-torch and parses its per-epoch last-batch losses.
#pragma once

#include <string>
#include <vector>

namespace gantry::testing {

struct ReferenceLosses {
  double loss_d = 0;
  double loss_g = 0;
};

struct ReferenceRun {
  std::vector<ReferenceLosses> epochs;  // index 0 is the reference's epoch 0
  double train_seconds = 0;             // as the program measured it
};

// Runs the program once per (seed, epochs) in a process (the parity tests of
// both training paths compare with the same run, about 40 s of Python), and
// returns its losses; aborts the test (via exception) when it fails.
// Thread-safe: a second caller waits for the first's run.
ReferenceRun RunReference(unsigned long long seed, int epochs);

// Runs `command` through /bin/sh, returns its stdout; throws on non-zero exit.
std::string RunCommand(const std::string& command, int* exit_code = nullptr);

}  // namespace gantry::testing
