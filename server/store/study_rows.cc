// The studies' shared part (store.h): the messages every store answers
// with.
#include "server/jobs/convert.h"
#include "server/store/store.h"

namespace gantry {

Status StudyNotFound(const std::string& id) {
  return Status::NotFound("study " + id + " not found");
}

// A quota's refusal (IsQuotaRefusal): an answer, not the store failing.
Status TooManyStudies(int64_t running) {
  return Status::ResourceExhausted(std::string(kQuotaRefusal) + std::to_string(running) +
                                   " studies are RUNNING already, as many as a server keeps (" +
                                   std::to_string(kMaxRunningStudies) +
                                   "); wait for one to end or cancel one");
}

Status StudyFenced(const std::string& id) {
  return Status::FailedPrecondition("study " + id + ": its lease was taken over");
}

Status StudyEnded(const std::string& id, v1::JobState state) {
  return Status::FailedPrecondition("study " + id + " has ended (" + JobStateName(state) + ")");
}

}  // namespace gantry
