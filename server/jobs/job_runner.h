// JobRunner: trains one claimed job (ActiveJob) on its worker's thread, from
// its newest usable checkpoint, until it ends, the server drains, or its
// lease is lost.
//
// Every epoch: the event is stored (Store::AppendEvent under the job's
// lease) and then published to followers (EventHub); generator snapshots
// are stored as blobs every checkpoint_every epochs and at the last epoch
// (at most kMaxKeptSnapshots per job: older ones are deleted), trainer
// checkpoints after the epoch's event is stored (the newest
// checkpoints_kept), so a checkpoint is never newer than the stored events
// it resumes after. A resumed job restores the newest checkpoint at or
// before its last stored epoch and trains the epochs after it again; they
// reproduce the stored events exactly, so those are not stored twice.
//
// Failures: a snapshot or checkpoint that cannot be stored (a full disk)
// ends the job FAILED, naming the cause. An event the store refuses ends the
// job FAILED for its followers, unstored (RunResult::unstored_failure, which
// the manager lays over the store: store/unstored_overlay.h): on the
// next start it resumes from what was stored. A lost lease (another replica
// took the job) stops it at once, writing nothing more.
//
// Thread-safety: Run() is called by one worker per job; the context's parts
// are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/trainer.h"
#include "server/jobs/active_job.h"
#include "server/jobs/event_hub.h"
#include "server/jobs/stop_token.h"
#include "server/metrics.h"
#include "server/store/store.h"
#include "server/util/clock.h"

namespace gantry {

inline constexpr size_t kMaxKeptSnapshots = 1000;

struct RunnerContext {
  Store* store = nullptr;
  EventHub* hub = nullptr;
  Metrics* metrics = nullptr;  // may be null
  StopToken drain;  // the server drains: stop after this epoch
  TrainerPath default_path = TrainerPath::kAuto;  // for specs that say "auto"
  int checkpoints_kept = 3;
};

struct RunResult {
  // Set when the job FAILED but the store could not record it: the FAILED
  // event its followers were sent (not stored; the job resumes on restart).
  std::optional<v1::JobEvent> unstored_failure;
};

RunResult RunJob(const RunnerContext& context, ActiveJob& job);

// Shared by everything that writes a job's events.
v1::JobEvent StateEvent(v1::JobState state, const std::string& error);
// Numbers the event as the job's next one (row.last_seq + 1) and stamps its
// job id and time.
void StampEvent(const JobRow& row, v1::JobEvent* event);

}  // namespace gantry
