#include "server/store/store.h"

namespace gantry {

const char* BlobKindName(BlobKind kind) {
  return kind == BlobKind::kCheckpoint ? "checkpoint" : "snapshot";
}

v1::JobSpec WithoutPoints(const v1::JobSpec& spec) {
  v1::JobSpec out = spec;
  if (out.dataset().points().values_size() > 0)
    out.mutable_dataset()->mutable_points()->clear_values();
  return out;
}

Status Store::RequestCancel(const std::string& id) {
  return Status::FailedPrecondition("job " + id + ": this store is not shared; cancel it where it runs");
}

StatusOr<std::vector<std::string>> Store::CancelRequests(const std::string&) const {
  return std::vector<std::string>{};
}

bool IsTerminalState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

}  // namespace gantry
