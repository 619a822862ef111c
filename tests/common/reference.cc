#include "tests/common/reference.h"

#include <array>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>

#include "tests/common/paths.h"

namespace gantry::testing {

std::string RunCommand(const std::string& command, int* exit_code) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (exit_code != nullptr) {
    *exit_code = code;
  } else if (code != 0) {
    throw std::runtime_error("command failed (exit " + std::to_string(code) + "): " + command +
                             "\n" + out);
  }
  return out;
}

namespace {

ReferenceRun RunReferenceProgram(unsigned long long seed, int epochs) {
  const std::string cmd = std::string("OPENBLAS_NUM_THREADS=1 ") + kPython + " " + kSourceDir +
                          "/tests/reference/seed_program.py --seed " + std::to_string(seed) +
                          " --epochs " + std::to_string(epochs) + " 2>&1";
  std::istringstream in(RunCommand(cmd));
  ReferenceRun run;
  std::string word;
  while (in >> word) {
    if (word == "epoch") {
      int e;
      std::string ld, lg;
      ReferenceLosses l;
      in >> e >> ld >> l.loss_d >> lg >> l.loss_g;
      if (e != static_cast<int>(run.epochs.size())) throw std::runtime_error("reference: bad epoch");
      run.epochs.push_back(l);
    } else if (word == "train_seconds") {
      in >> run.train_seconds;
    }
  }
  if (static_cast<int>(run.epochs.size()) != epochs) {
    throw std::runtime_error("reference printed " + std::to_string(run.epochs.size()) +
                             " epochs, expected " + std::to_string(epochs));
  }
  return run;
}

}  // namespace

ReferenceRun RunReference(unsigned long long seed, int epochs) {
  static std::mutex mu;
  static std::map<std::pair<unsigned long long, int>, std::shared_future<ReferenceRun>> runs;
  std::shared_future<ReferenceRun> run;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto [it, first] = runs.try_emplace({seed, epochs});
    if (first) it->second = std::async(std::launch::async, RunReferenceProgram, seed, epochs).share();
    run = it->second;
  }
  return run.get();
}

}  // namespace gantry::testing
