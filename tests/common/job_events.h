// Job events as the tests of the stores and of the server's internals store
// them: a state change or an epoch report with a given seq. Header-only.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "gantry/v1/gantry.pb.h"

namespace gantry::test {

inline v1::JobEvent StateEvent(int64_t seq, v1::JobState state, std::string reason = "") {
  v1::JobEvent event;
  event.set_seq(seq);
  event.mutable_state()->set_state(state);
  if (!reason.empty()) event.mutable_state()->set_reason(std::move(reason));
  return event;
}

inline v1::JobEvent EpochEvent(int64_t seq, int64_t epoch) {
  v1::JobEvent event;
  event.set_seq(seq);
  event.mutable_epoch()->set_epoch(epoch);
  return event;
}

}  // namespace gantry::test
