// Helpers about gantry.v1's JobState shared by the server and the CLI (both
// link gantry_proto; this header needs nothing else).
//
// Thread-safety: pure functions.
#pragma once

#include "gantry/v1/gantry.pb.h"

namespace gantry {

// SUCCEEDED, FAILED or CANCELLED: the job has ended and never changes again.
// The stores keep the enum's numbers, and their SQL reads `state >= 3` (an
// index's predicate too) as this test.
static_assert(v1::JOB_STATE_SUCCEEDED == 3 && v1::JOB_STATE_FAILED == 4 &&
                  v1::JOB_STATE_CANCELLED == 5 && v1::JobState_MAX == 5,
              "the stores' SQL reads state >= 3 as ended");
inline bool IsTerminalState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

}  // namespace gantry
