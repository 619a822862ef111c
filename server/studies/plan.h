// The studies' algorithms (grid, random, ASHA, Hyperband, PBT) as one pure
// function: given a study's configuration and the results known so far,
// which trial segments exist. A segment is one job: a trial's epochs
// start+1..end with its parameters, starting from scratch or from a
// parent segment's kept checkpoint (a promotion, or a PBT exploit).
//
// MakePlan is deterministic: the same configuration and results give the
// same segments in the same order, whatever the order the results came
// in, the machine's speed, or which process asks. That is what lets any
// replica take a study over after a crash and take the decisions the dead
// one would have taken, with nothing but the trials' metrics stored:
// - grid and random issue every trial at once (the caller runs at most
//   `concurrency` at a time);
// - Hyperband runs its brackets one after the other, each a synchronous
//   successive halving (a rung is decided once all its results are in);
// - PBT is synchronous: a generation's exploits are decided once every
//   member has finished it;
// - ASHA is asynchronous, so its decisions depend on the order results
//   arrive in. That order is a virtual clock counted in epochs: with
//   `concurrency` workers, each segment of n epochs finishes n ticks after
//   it starts (ties by the order issued). A result is used at its virtual
//   time even if it came earlier in reality; a worker whose virtual
//   predecessor is still training waits (so a study trains a little less
//   in parallel than a free-running ASHA, and is exactly reproducible).
//   Once max_trials have started, each rung promotes at least its best
//   result, so the study ends with a trial trained to the last epoch.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gantry::studies {

struct Param {
  std::string name;
  std::string kind;  // "choice", "int", "uniform", "log_uniform"
  std::vector<std::string> values;
  double min = 0, max = 0;
};

// A study's configuration with its defaults filled (study_spec.h).
struct Config {
  std::string algorithm;  // "grid", "random", "asha", "hyperband", "pbt"
  std::vector<Param> space;
  bool maximize = false;
  // The jobs' best epochs follow the objective (plan_version 2, and the
  // direction is the metric's own): every result knows its lineage's best.
  bool track_best = false;
  // Decisions use that best so far (every algorithm but PBT, whose exploits
  // compare the members as they are now).
  bool best_so_far = false;
  int64_t epochs = 0;      // a trial's most (the base spec's)
  int64_t max_trials = 0;  // >= 1
  int64_t max_epochs = 0;  // 0: no limit
  int64_t concurrency = 1;
  uint64_t seed = 0;
  int64_t min_epochs = 1;  // asha, hyperband
  int64_t eta = 3;
  int64_t population = 8;  // pbt
  int64_t interval = 1;
  double truncation = 0.25;
  double resample = 0.25;
};

using Params = std::map<std::string, std::string>;

struct Segment {
  int64_t trial = 0;  // 1, 2, ...
  int64_t index = 0;  // 0, 1, ... within the trial
  int64_t start = 0, end = 0;
  Params params;
  // Whose kept checkpoint of epoch `start` it starts from (trial 0: none).
  int64_t parent_trial = 0;
  int64_t parent_index = 0;
};

// A segment's outcome, or failed (the job failed or was cancelled, or its
// metric is missing). `objective` is what decisions use: with
// Config::best_so_far the best evaluated value of the segment's lineage up
// to `end` (the segments' jobs pick their best epoch by the objective),
// else the value at `end`. `best` is the lineage's best with track_best,
// else the objective: what the study reports as its best.
struct Result {
  bool ok = false;
  double objective = 0;
  int64_t epoch = 0;  // where the objective was measured (0: unknown, read as `end`)
  double best = 0;
  int64_t best_epoch = 0;
};
using SegmentKey = std::pair<int64_t, int64_t>;  // (trial, index)
using Results = std::map<SegmentKey, Result>;

struct Plan {
  std::vector<Segment> segments;  // in the order issued
  // Nothing more will be issued, and every issued segment has a result.
  bool done = false;
};

Plan MakePlan(const Config& config, const Results& results);

// `s`'s lineage: `s`, its parent, the parent's parent, ... back to a
// segment trained from scratch (or to a parent the plan does not have:
// then the last one's parent_trial is not 0).
std::vector<const Segment*> Lineage(const Plan& plan, const Segment& s);
// The segment of `s`'s lineage that trained `epoch` (start < epoch <= end);
// `s` itself when none does.
const Segment* LineageSegment(const Plan& plan, const Segment& s, int64_t epoch);

// Whether `a` is a better result than `b` under `config` (a failed one is
// worse than any other).
bool Better(const Config& config, const Result& a, const Result& b);

// The grid's size (product of the choice and int parameters' counts; 0
// when a parameter is continuous), capped at 1e6.
int64_t GridSize(const std::vector<Param>& space);
// ASHA's and Hyperband's rungs: min_epochs * eta^k below epochs, then epochs.
std::vector<int64_t> Rungs(const Config& config);
// Parameters drawn from the space with `seed` (PBT's resampling draws so;
// a trial's first parameters too, unless the space is finite: then random,
// ASHA, Hyperband and PBT try every combination once, in a seeded order,
// before any twice).
Params SampleParams(const std::vector<Param>& space, uint64_t seed, int64_t trial, uint64_t salt);

}  // namespace gantry::studies
