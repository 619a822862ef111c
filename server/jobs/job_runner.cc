#include "server/jobs/job_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <chrono>
#include <deque>
#include <thread>

#include "core/spec_params.h"
#include "server/jobs/convert.h"
#include "server/jobs/table_jobs.h"
#include "server/jobs/write_behind.h"

namespace gantry {
namespace {

// How often a job whose store is unreachable (UNAVAILABLE) tries its write
// again; it waits until the store answers, the server drains or its lease is
// lost.
constexpr auto kStoreRetryEvery = std::chrono::seconds(1);

// Why the job ends FAILED after this epoch: its losses became non-finite on
// it (the non_finite alarm) and the spec does not ask to continue; else empty.
std::string NonFiniteFailure(const EpochReport& r, const JobSpec& spec) {
  if (spec.continue_on_non_finite) return "";
  for (const Alarm& a : r.alarms) {
    if (a.kind == "non_finite" && a.epoch == r.epoch) {
      return a.message + "; the spec's on_non_finite \"continue\" keeps such a job training";
    }
  }
  return "";
}

// The spec a Trainer is built with: the job's own without its start and
// schedule, which the runner applies (and which were validated when the job
// was created; validating them again at every rebuild costs O(changes^2)).
JobSpec TrainerSpec(JobSpec spec, TrainerPath default_path) {
  spec.init_job_id.clear();
  spec.init_epoch = 0;
  spec.schedule.clear();
  if (spec.trainer_path == TrainerPath::kAuto) spec.trainer_path = default_path;
  return spec;
}

}  // namespace

v1::JobEvent StateEvent(v1::JobState state, const std::string& error) {
  v1::JobEvent ev;
  ev.mutable_state()->set_state(state);
  ev.mutable_state()->set_error(error);
  return ev;
}

void StampEvent(const JobRow& row, v1::JobEvent* event) {
  event->set_seq(row.last_seq + 1);
  event->set_job_id(row.id);
  SetTimestamp(NowNs(), event->mutable_time());
}

namespace {

class Runner {
 public:
  Runner(const RunnerContext& ctx, ActiveJob& job) : ctx_(ctx), job_(job) {}

  RunResult Run();

 private:
  // Stores the event with the job's row, then publishes it. On failure the
  // job is over for this process (job_.lease_lost or result_ say how).
  bool Publish(v1::JobEvent event);
  // Ends the job: its latest snapshot stored (so that an ended job serves it
  // from the store), the terminal event, then its checkpoints deleted.
  // `reason`: why a SUCCEEDED job stopped early (its StateChange.reason).
  void End(v1::JobState state, const std::string& error = "", const std::string& reason = "");
  bool StoreSnapshot(const std::shared_ptr<const GeneratorSnapshot>& snapshot);
  bool WriteCheckpoint(int64_t epoch, const StatusOr<std::string>& state);
  // Queues `write` (a Publish, End, StoreSnapshot or WriteCheckpoint) on the
  // job's writer: it runs after everything queued before it, on the
  // writer's thread, which alone touches job_.row, kept_ and over_ while
  // the loop runs.
  void Later(std::function<void()> write) {
    writer_->Push([this, write = std::move(write)] {
      write();
      return !over_;
    });
  }
  // The newest usable checkpoint of the job; with none, init_from's (the
  // other job's kept one); else epoch 0.
  StatusOr<int64_t> RestoreCheckpoint(Trainer& trainer);
  // The trainer for the spec in effect after its epochs_done() (the
  // schedule's changes up to it), continuing from its exact state.
  StatusOr<std::unique_ptr<Trainer>> Rebuild(std::unique_ptr<Trainer> trainer);
  // Keeps only the checkpoint of epoch `e` (keep_checkpoint).
  void KeepOnlyCheckpoint(int64_t e);
  // A preempted job, checkpointed at epoch `e`: QUEUED again with the
  // preemption's reason, unless a cancel came meanwhile (then CANCELLED).
  void Requeue(int64_t e);
  // Whether the job's last stored event queued it again (a preemption).
  bool RequeuedLast() const {
    auto last = ctx_.store->ReadEvents(job_.row.id, job_.row.last_seq, 1);
    return last.ok() && !last->empty() && last->back().has_state() &&
           last->back().state().state() == v1::JOB_STATE_QUEUED;
  }
  // The job's blob, fenced by its lease (store.h).
  BlobKey Key(BlobKind kind, int64_t epoch) const { return {job_.row.id, kind, epoch, job_.row.lease}; }
  // Runs a store write, and again every second while the store is
  // unreachable (UNAVAILABLE: the job pauses here, its trainer waits on the
  // bounded queue) until it answers, the server drains or the lease is lost.
  Status Durably(const std::function<Status()>& write);
  // Moves the job's count in the metrics to `to`.
  void Count(v1::JobState to) {
    if (ctx_.metrics != nullptr && metric_state_ != to) ctx_.metrics->JobState(metric_state_, to);
    metric_state_ = to;
  }

  const RunnerContext& ctx_;
  ActiveJob& job_;
  RunResult result_;
  bool over_ = false;  // nothing more may be written
  // The state the metrics count the job in: QUEUED for a first claim
  // (lease 1), else RUNNING (as counted when the server started).
  v1::JobState metric_state_ = job_.row.lease == 1 ? v1::JOB_STATE_QUEUED : v1::JOB_STATE_RUNNING;
  std::deque<int64_t> kept_;  // epochs of the stored snapshots, ascending
  int64_t best_epoch_ = 0;    // its snapshot is never pruned
  // The epoch loop's writes, behind its training (write_behind.h): events,
  // snapshots and checkpoints, at most 4 queued (one checkpoint at a time).
  std::unique_ptr<WriteBehind> writer_;
  std::atomic<int> checkpoints_queued_{0};
};

Status Runner::Durably(const std::function<Status()>& write) {
  Status s = write();
  bool waited = false;
  while (s.code() == StatusCode::kUnavailable && !ctx_.drain.stop_requested() && !job_.lease_lost) {
    if (!waited) {
      spdlog::warn("job {}: the store is unreachable ({}); the job waits for it", job_.row.id,
                   s.message());
    }
    waited = true;
    std::this_thread::sleep_for(kStoreRetryEvery);
    s = write();
  }
  if (s.code() == StatusCode::kUnavailable && job_.lease_lost) {
    return Status::FailedPrecondition("job " + job_.row.id + ": its lease was lost while the store "
                                      "was unreachable");
  }
  if (waited && s.ok()) spdlog::info("job {}: the store answers again; the job goes on", job_.row.id);
  return s;
}

bool Runner::Publish(v1::JobEvent event) {
  if (over_) return false;
  StampEvent(job_.row, &event);
  bool retried = false;
  Status s = Durably([&] {
    Status w = ctx_.store->AppendEvent(job_.row, event);
    // A retry after a commit whose answer was lost finds its own event
    // stored (only the lease holder writes the job's events).
    if (w.code() == StatusCode::kAlreadyExists && retried) return Status::Ok();
    retried = true;
    return w;
  });
  if (!s.ok()) {
    over_ = true;
    if (s.code() == StatusCode::kFailedPrecondition) {
      // Fenced out: another replica holds the job now. Training stops at once.
      job_.lease_lost = true;
      job_.stop = true;
      spdlog::warn("job {}: {}; stopping it here", job_.row.id, s.message());
      return false;
    }
    // The store cannot record the job's progress (a full disk, say): the
    // end is published to followers but not stored, so on the next start
    // the job resumes from what was stored, with no gap in its events.
    spdlog::error("job {}: event {} not stored: {}", job_.row.id, event.seq(), s.message());
    const std::string error = "cannot store the job's progress: " + s.message();
    v1::JobEvent failed = StateEvent(v1::JOB_STATE_FAILED, error);
    StampEvent(job_.row, &failed);
    Count(v1::JOB_STATE_FAILED);
    result_.unstored_failure = failed;
    ctx_.hub->Publish(job_.row.id, std::move(failed));
    spdlog::error("job {} FAILED (not stored; it resumes on restart): {}", job_.row.id, error);
    return false;
  }
  job_.row.last_seq = event.seq();
  ctx_.hub->Publish(job_.row.id, std::move(event));
  return true;
}

void Runner::End(v1::JobState state, const std::string& error, const std::string& reason) {
  if (over_) return;
  if (auto latest = job_.latest_snapshot(); latest && state != v1::JOB_STATE_FAILED) {
    if (kept_.empty() || kept_.back() != latest->epoch()) (void)StoreSnapshot(latest);
    if (over_) return;
  }
  job_.row.state = state;
  job_.row.error = error;
  job_.row.end_ns = NowNs();
  v1::JobEvent ended = StateEvent(state, error);
  ended.mutable_state()->set_reason(reason);
  if (!Publish(std::move(ended))) return;
  over_ = true;
  Count(state);
  if (!reason.empty()) {
    spdlog::info("job {} {}: {}", job_.row.id, JobStateName(state), reason);
  } else if (error.empty()) {
    spdlog::info("job {} {}", job_.row.id, JobStateName(state));
  } else {
    spdlog::warn("job {} {}: {}", job_.row.id, JobStateName(state), error);
  }
  if (state == v1::JOB_STATE_SUCCEEDED && job_.spec.keep_checkpoint) {
    KeepOnlyCheckpoint(job_.row.epochs_done);  // for init_from
  } else {
    DeleteCheckpoints(ctx_.store, job_.row.id, job_.row.lease);  // an ended job resumes nowhere
  }
}

void Runner::KeepOnlyCheckpoint(int64_t e) {
  auto all = ctx_.store->ListBlobs(job_.row.id, BlobKind::kCheckpoint);
  if (!all.ok()) return;  // best effort, as DeleteCheckpoints
  for (int64_t c : *all) {
    if (c != e) (void)ctx_.store->DeleteBlob(Key(BlobKind::kCheckpoint, c));
  }
}

bool Runner::StoreSnapshot(const std::shared_ptr<const GeneratorSnapshot>& snapshot) {
  const int64_t e = snapshot->epoch();
  auto bytes = SerializeSnapshot(*snapshot);
  const Status s = bytes.ok() ? Durably([&] {
    return ctx_.store->PutBlob(Key(BlobKind::kSnapshot, e), *bytes);
  })
                              : bytes.status();
  if (!s.ok()) {
    End(v1::JOB_STATE_FAILED,
        "cannot store the generator snapshot of epoch " + std::to_string(e) + ": " + s.message());
    return false;
  }
  if (kept_.empty() || kept_.back() < e) kept_.push_back(e);
  while (kept_.size() > kMaxKeptSnapshots) {
    // The oldest, unless it is the best epoch's: then the one after it.
    auto victim = kept_.begin();
    if (*victim == best_epoch_) ++victim;
    // Best effort: a snapshot left behind only takes space until the job is
    // deleted.
    (void)ctx_.store->DeleteBlob(Key(BlobKind::kSnapshot, *victim));
    kept_.erase(victim);
  }
  return true;
}

bool Runner::WriteCheckpoint(int64_t e, const StatusOr<std::string>& state) {
  Status s = state.ok() ? Durably([&] {
    return ctx_.store->PutBlob(Key(BlobKind::kCheckpoint, e), *state);
  })
                        : state.status();
  if (!s.ok()) {
    End(v1::JOB_STATE_FAILED,
        "cannot store the checkpoint of epoch " + std::to_string(e) + ": " + s.message());
    return false;
  }
  if (auto all = ctx_.store->ListBlobs(job_.row.id, BlobKind::kCheckpoint); all.ok()) {
    // Checkpoints past this one are stale (their events were lost, e.g. to
    // a power cut, and trained again): they go first, then the oldest
    // beyond checkpoints_kept. Best effort: one left behind is deleted by the
    // next checkpoint's pruning or at the job's end.
    std::vector<int64_t> keep;
    for (int64_t c : *all) {
      if (c > e) {
        (void)ctx_.store->DeleteBlob(Key(BlobKind::kCheckpoint, c));
      } else {
        keep.push_back(c);
      }
    }
    const int64_t extra = static_cast<int64_t>(keep.size()) - ctx_.checkpoints_kept;
    for (int64_t i = 0; i < extra; ++i) {
      (void)ctx_.store->DeleteBlob(
          Key(BlobKind::kCheckpoint, keep[static_cast<size_t>(i)]));
    }
  }
  return true;
}

StatusOr<int64_t> Runner::RestoreCheckpoint(Trainer& trainer) {
  auto epochs = ctx_.store->ListBlobs(job_.row.id, BlobKind::kCheckpoint);
  if (!epochs.ok()) return epochs.status();
  std::string first_error;
  int tried = 0;
  for (auto it = epochs->rbegin(); it != epochs->rend(); ++it) {
    // A checkpoint past the last stored event (its commit was lost, e.g. to
    // a power cut) would leave a gap in the events: resume from an older one.
    if (*it > job_.row.epochs_done) {
      spdlog::warn(
          "job {}: checkpoint of epoch {} is newer than its stored events (epoch {}); "
          "skipping it",
          job_.row.id, *it, job_.row.epochs_done);
      continue;
    }
    ++tried;
    auto bytes = ctx_.store->GetBlob(Key(BlobKind::kCheckpoint, *it));
    const Status s = bytes.ok() ? trainer.RestoreState(*bytes) : bytes.status();
    if (s.ok()) return trainer.epochs_done();
    spdlog::warn("job {}: {}; trying an older checkpoint", job_.row.id, s.message());
    if (first_error.empty()) first_error = s.message();
  }
  if (tried > 0) {
    return Status::DataLoss("all " + std::to_string(tried) + " checkpoints of job " + job_.row.id +
                            " are unreadable (newest: " + first_error + ")");
  }
  if (job_.spec.init_job_id.empty()) return int64_t{0};
  // None of its own yet: it starts where init_from says, from that job's
  // kept checkpoint (read unfenced: it is another job's).
  const BlobKey parent{job_.spec.init_job_id, BlobKind::kCheckpoint, job_.spec.init_epoch, 0};
  auto bytes = ctx_.store->GetBlob(parent);
  if (!bytes.ok()) {
    return Status(bytes.status().code() == StatusCode::kNotFound ? StatusCode::kFailedPrecondition
                                                                 : bytes.status().code(),
                  "init_from: the checkpoint of job " + parent.job_id + " at epoch " +
                      std::to_string(parent.epoch) + " cannot be read (" +
                      bytes.status().message() + "); was that job deleted?");
  }
  GANTRY_RETURN_IF_ERROR(trainer.RestoreState(*bytes));
  if (trainer.epochs_done() != parent.epoch) {
    return Status::DataLoss("init_from: the checkpoint of job " + parent.job_id + " at epoch " +
                            std::to_string(parent.epoch) + " holds epoch " +
                            std::to_string(trainer.epochs_done()));
  }
  return trainer.epochs_done();
}

StatusOr<std::unique_ptr<Trainer>> Runner::Rebuild(std::unique_ptr<Trainer> trainer) {
  auto spec = SpecAfter(job_.spec, trainer->epochs_done());
  if (!spec.ok()) return spec.status();
  auto state = trainer->SaveState();
  if (!state.ok()) return state.status();
  auto next = Trainer::Create(TrainerSpec(*std::move(spec), ctx_.default_path));
  if (!next.ok()) return next.status();
  GANTRY_RETURN_IF_ERROR((*next)->RestoreState(*state));
  return std::move(next).value();
}

void Runner::Requeue(int64_t e) {
  // Set before the cancel is looked at (JobManager::Cancel looks at them
  // the other way round): a cancel is never lost.
  job_.requeued = true;
  if (job_.cancel_requested.load()) return End(v1::JOB_STATE_CANCELLED);
  job_.row.state = v1::JOB_STATE_QUEUED;
  job_.row.queued_ns = NowNs();
  const std::string why = job_.preempt_reason() + " after epoch " + std::to_string(e);
  v1::JobEvent queued = StateEvent(v1::JOB_STATE_QUEUED, "");
  queued.mutable_state()->set_reason(why);
  if (!Publish(std::move(queued))) return;
  job_.requeue_stored = true;
  spdlog::info("job {} QUEUED again: {}", job_.row.id, why);
  Count(v1::JOB_STATE_QUEUED);
  over_ = true;  // this run writes nothing more for it
}

RunResult Runner::Run() {
  const std::string& id = job_.row.id;
  auto parsed = SpecFromProto(job_.row.spec);
  job_.row.spec.Clear();                      // the core spec holds the points from here on
  const bool resume = job_.row.last_seq > 1;  // RUNNING was stored: a restart
  if (ctx_.drain.stop_requested()) {
    // Claimed while the server began to drain: it stays claimable for the
    // next start, with nothing written.
    return result_;
  }
  const bool requeued = resume && RequeuedLast();
  if (requeued) metric_state_ = v1::JOB_STATE_QUEUED;  // counted QUEUED when it was preempted
  Count(v1::JOB_STATE_RUNNING);
  // Cancelled while queued, or (shared store) while another replica held it.
  if (job_.cancel_requested) {
    End(v1::JOB_STATE_CANCELLED);
    return result_;
  }
  if (!resume || requeued) {
    // New, or queued again by a preemption: its watchers see it run again.
    if (!Publish(StateEvent(v1::JOB_STATE_RUNNING, ""))) return result_;
    spdlog::info("job {} RUNNING", id);
  }
  if (resume) spdlog::info("job {} resuming after epoch {}", id, job_.row.epochs_done);
  if (!parsed.ok()) {
    End(v1::JOB_STATE_FAILED, parsed.status().message());
    return result_;
  }
  job_.spec = std::move(parsed).value();
  if (job_.spec.dataset.kind == DatasetKind::kTable) {
    if (Status loaded = LoadJobTable(*ctx_.store, &job_.spec); !loaded.ok()) {
      End(v1::JOB_STATE_FAILED, loaded.message());
      return result_;
    }
  }
  auto created = Trainer::Create(TrainerSpec(job_.spec, ctx_.default_path));
  if (!created.ok()) {
    End(v1::JOB_STATE_FAILED, created.status().message());
    return result_;
  }
  std::unique_ptr<Trainer> trainer_ptr = std::move(created).value();
  if (trainer_ptr->path() == TrainerPath::kFast) {
    spdlog::info("job {} trains on the fast path", id);
  } else {
    spdlog::info("job {} trains on the ATen path ({})", id, trainer_ptr->path_note());
  }
  if (auto kept = ctx_.store->ListBlobs(id, BlobKind::kSnapshot); kept.ok()) {
    kept_.assign(kept->begin(), kept->end());
  }
  const int64_t epochs = job_.spec.epochs;
  const int64_t stored_through = job_.row.epochs_done;  // events stored up to this epoch
  if (resume || !job_.spec.init_job_id.empty()) {
    auto from = RestoreCheckpoint(*trainer_ptr);
    if (!from.ok()) {
      End(v1::JOB_STATE_FAILED, from.status().message());
      return result_;
    }
    spdlog::info("job {} restored checkpoint of epoch {}; events stored through epoch {}", id,
                 *from, stored_through);
  }
  // Whether a change of the schedule takes effect after `done` epochs that
  // the trainer does not have yet (those up to applied_through are in it).
  int64_t applied_through = 0;
  auto pending_change = [&](int64_t done) {
    for (const JobSpec::Change& c : job_.spec.schedule) {
      if (c.after_epoch > applied_through && c.after_epoch <= done) return true;
    }
    return false;
  };
  if (pending_change(trainer_ptr->epochs_done())) {
    auto rebuilt = Rebuild(std::move(trainer_ptr));
    if (!rebuilt.ok()) {
      End(v1::JOB_STATE_FAILED, "schedule: " + rebuilt.status().message());
      return result_;
    }
    trainer_ptr = std::move(rebuilt).value();
  }
  applied_through = trainer_ptr->epochs_done();
  Trainer* trainer = trainer_ptr.get();
  // From here the store writes run behind the training, in the order queued;
  // a failed write ends the job there (End, or a lost lease) and the loop
  // stops at its next epoch, nothing more being written.
  const int64_t resumed_at = trainer->epochs_done();  // 0, or the restored checkpoint's epoch
  writer_ = std::make_unique<WriteBehind>(4);
  std::string stop_reason;  // set by the epoch after which early stopping ended training
  auto finish = [this] {
    writer_->Wait();
    writer_.reset();
    return result_;
  };
  while (!trainer->finished()) {
    if (writer_->stopped()) return finish();
    // Stopped at this epoch boundary with a checkpoint of this very epoch:
    // for a drain (the next start resumes it), or for a preemption, after
    // at least one epoch of this run (queued again, the next claim resumes
    // it). Either way nothing is trained twice and the result is the
    // uninterrupted run's.
    const bool drain = ctx_.drain.stop_requested();
    if (drain || (job_.preempt.load() && trainer->epochs_done() > resumed_at)) {
      const int64_t e = trainer->epochs_done();
      auto state = trainer->SaveState();
      writer_->Wait();
      Later([this, e, state = std::move(state), id, drain] {
        const bool stored = WriteCheckpoint(e, state);
        if (drain) {
          if (stored) spdlog::info("job {} stopped for shutdown after epoch {}", id, e);
          over_ = true;  // this process writes nothing more for it
        } else if (stored) {
          Requeue(e);
        }
      });
      return finish();
    }
    if (pending_change(trainer->epochs_done())) {
      auto rebuilt = Rebuild(std::move(trainer_ptr));
      if (!rebuilt.ok()) {
        Later([this, error = rebuilt.status().message()] { End(v1::JOB_STATE_FAILED, "schedule: " + error); });
        return finish();
      }
      trainer_ptr = std::move(rebuilt).value();
      trainer = trainer_ptr.get();
      applied_through = trainer->epochs_done();
    }
    auto report = trainer->RunEpoch(&job_.stop);
    if (!report.ok()) {
      if (report.status().code() == StatusCode::kCancelled && job_.lease_lost) {
        spdlog::warn("job {}: its lease was lost (another replica holds it now); stopped after "
                     "epoch {}, writing nothing more",
                     id, trainer->epochs_done());
      } else if (report.status().code() == StatusCode::kCancelled && !job_.cancel_requested) {
        spdlog::info("job {} stopped mid-epoch for shutdown after epoch {}", id,
                     trainer->epochs_done());
      } else if (report.status().code() == StatusCode::kCancelled) {
        Later([this] { End(v1::JOB_STATE_CANCELLED); });
      } else {
        Later([this, error = report.status().message()] { End(v1::JOB_STATE_FAILED, error); });
      }
      return finish();
    }
    const int64_t e = report->epoch;
    if (ctx_.metrics != nullptr) ctx_.metrics->EpochTrained(report->seconds);
    auto snapshot = trainer->Snapshot();
    job_.set_latest_snapshot(snapshot);
    // A new best epoch's snapshot is stored before the event that names it,
    // so Sample(best) finds it as soon as GetJob reports it.
    const bool keep = e % job_.spec.checkpoint_every == 0 || e == epochs || trainer->finished() ||
                      (report->metrics && report->best_epoch == e);
    if (keep) {
      Later([this, best = report->best_epoch, snapshot] {
        best_epoch_ = best;  // what pruning spares
        (void)StoreSnapshot(snapshot);
      });
    }
    stop_reason = report->stop_reason;
    if (e > stored_through) {  // else trained again after a restart: already stored
      v1::JobEvent event;
      ReportToProto(*report, epochs, event.mutable_epoch());
      // Each alarm raised on this epoch follows it as an event of its own.
      std::vector<v1::JobEvent> alarms;
      for (const v1::Alarm& a : event.epoch().alarms()) {
        if (a.epoch() == e) *alarms.emplace_back().mutable_alarm() = a;
      }
      Later([this, e, event = std::move(event), alarms = std::move(alarms)]() mutable {
        job_.row.epochs_done = e;
        job_.row.latest = event.epoch();
        if (!Publish(std::move(event))) return;
        for (v1::JobEvent& alarm : alarms) {
          spdlog::warn("job {} alarm {} at epoch {}: {}", job_.row.id, alarm.alarm().kind(), e,
                       alarm.alarm().message());
          if (!Publish(std::move(alarm))) return;
        }
      });
    }
    if (const std::string why = NonFiniteFailure(*report, job_.spec); !why.empty()) {
      Later([this, why] { End(v1::JOB_STATE_FAILED, why); });
      return finish();
    }
    // A cancel that came during the epoch's last batch (or a one-batch
    // epoch) is never lost: the job ends CANCELLED, not SUCCEEDED.
    if (job_.cancel_requested) {
      Later([this] { End(v1::JOB_STATE_CANCELLED); });
      return finish();
    }
    // Queued after the event, so a restart never resumes past a missing
    // event; one checkpoint's bytes wait at a time.
    if (e % job_.spec.checkpoint_every == 0 && !trainer->finished()) {
      if (!writer_->WaitUntil([this] { return checkpoints_queued_.load() == 0; })) return finish();
      auto state = trainer->SaveState();
      ++checkpoints_queued_;
      Later([this, e, state = std::move(state)] {
        (void)WriteCheckpoint(e, state);
        --checkpoints_queued_;
      });
    }
  }
  if (job_.spec.keep_checkpoint) {
    // The last epoch's state, kept by End for jobs that start from it.
    const int64_t e = trainer->epochs_done();
    auto state = trainer->SaveState();
    if (!writer_->WaitUntil([this] { return checkpoints_queued_.load() == 0; })) return finish();
    Later([this, e, state = std::move(state)] { (void)WriteCheckpoint(e, state); });
  }
  Later([this, stop_reason] { End(v1::JOB_STATE_SUCCEEDED, "", stop_reason); });
  return finish();
}

}  // namespace

RunResult RunJob(const RunnerContext& context, ActiveJob& job) {
  return Runner(context, job).Run();
}

}  // namespace gantry
