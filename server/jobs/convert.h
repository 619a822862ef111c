// The one place where gantry.v1 messages and core structs meet (server side).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "core/report.h"
#include "core/spec.h"
#include "core/status.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry {

// A core JobSpec from the request's spec: unset fields take the seed
// program's defaults. INVALID_ARGUMENT for values that cannot be represented
// (an unknown dataset kind, a negative point dimension); range checks are
// core's Validate(), which the caller runs.
StatusOr<JobSpec> SpecFromProto(const v1::JobSpec& proto);
// The effective spec with every field set.
v1::JobSpec SpecToProto(const JobSpec& spec);

// Held-out metrics (core/report.h) into the proto.
void MetricsToProto(const EvalMetrics& m, v1::Metrics* out);
void ReportToProto(const EpochReport& report, int64_t epochs, v1::EpochReport* out);

// `ns` nanoseconds since the Unix epoch (as the store keeps times).
void SetTimestamp(int64_t ns, google::protobuf::Timestamp* out);

// "QUEUED", "RUNNING", ... (the enum name without its prefix).
const char* JobStateName(v1::JobState state);

}  // namespace gantry
