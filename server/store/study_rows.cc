// The studies' shared part (store.h): the messages every store answers
// with.
#include "proto/job_state.h"
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

Status StudyNotEnded(const std::string& id, v1::JobState state) {
  return Status::FailedPrecondition("study " + id + " is " + JobStateName(state) +
                                    "; cancel it before deleting it");
}

Status CheckStudyHeld(const StudyRow& row, int64_t lease) {
  if (IsTerminalState(row.study.state())) return StudyEnded(row.study.id(), row.study.state());
  if (row.lease != lease) return StudyFenced(row.study.id());
  return Status::Ok();
}

void ApplyStudyUpdate(const v1::Study& from, v1::Study* to) {
  to->set_state(from.state());
  to->set_error(from.error());
  if (from.has_end_time()) {
    *to->mutable_end_time() = from.end_time();
  } else {
    to->clear_end_time();
  }
  *to->mutable_summary() = from.summary();
}

void EndStudyRow(v1::JobState state, const std::string& error, int64_t end_ns, StudyRow* row) {
  row->study.set_state(state);
  row->study.set_error(error);
  SetTimestamp(end_ns, row->study.mutable_end_time());
  row->lease += 1;  // fences the holder out
}

std::string StudyBody(const v1::Study& study) {
  v1::Study body = study;
  body.clear_trials();
  return body.SerializeAsString();
}

}  // namespace gantry
