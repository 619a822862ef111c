// A study's spec: its checks and defaults, the planner's Config, and the
// job spec of each trial segment.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>

#include "core/api_limits.h"
#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/studies/plan.h"

namespace gantry::studies {

// The newest decision rules (StudySpec.plan_version): a new study's.
inline constexpr int32_t kPlanVersion = 2;
inline constexpr int64_t kMaxTrials = 1000;
inline constexpr int64_t kMaxParams = 16;
inline constexpr int64_t kMaxChoices = ::gantry::kMaxStudyChoices;
inline constexpr int64_t kMaxConcurrency = ::gantry::kMaxStudyConcurrency;
inline constexpr int64_t kMaxPopulation = 64;
// A study's jobs (segments) at most: PBT's population x generations, ASHA's
// trials x rungs.
inline constexpr int64_t kMaxStudyJobs = 5000;
// Labels the trials' jobs carry: the study's (at most 13) and these three.
inline constexpr char kStudyLabel[] = "study";
inline constexpr char kTrialLabel[] = "trial";
inline constexpr char kSegmentLabel[] = "segment";
inline constexpr size_t kMaxStudyLabels = ::gantry::kMaxStudyOwnLabels;

// Checks `spec` (INVALID_ARGUMENT naming the field, the value and what is
// allowed) and fills its defaults (study.proto's comments) in place.
Status NormalizeStudySpec(v1::StudySpec* spec);

// The planner's view of a normalized spec.
Config ConfigOf(const v1::StudySpec& spec);

// The job spec of segment `s`: the base with the segment's parameters,
// epochs = s.end, init_from (`parent_job_id`, s.start) when it has a
// parent, and keep_checkpoint (a later segment may start from it).
StatusOr<v1::JobSpec> SegmentSpec(const v1::StudySpec& spec, const Segment& s,
                                  const std::string& parent_job_id);

// The objective's value in `metrics` (nullopt when it is not set there).
std::optional<double> ObjectiveOf(const std::string& objective, const v1::Metrics& metrics);

}  // namespace gantry::studies
