// StudyManager: the Study resource (server/studies/README.md). Studies are
// rows in the store (Store::InsertStudy ...); their trials are jobs
// labelled study=ID, trial=N, segment=K, created through the JobManager
// like any other, owned by the study's creator and counted in its quotas.
//
// Decisions: a controller thread claims RUNNING studies whose lease has
// expired (Store::ClaimStudy), renews their leases, and every tick
// reconciles each one it holds: it reads the study's jobs, computes the
// plan (plan.h: a pure function of the spec and the trials' metrics),
// creates the segments the plan issues that have no job yet (at most
// `concurrency` queued or running, each with a request_id of its own, so a
// repeated creation is answered with the first job), stores the summary,
// and ends the study once the plan is done. Nothing else is stored: a
// replica that takes a study over computes the same plan from the same
// metrics, so no decision is taken twice or differently, and no trial runs
// twice.
//
// Thread-safety: every public method is safe from any thread. The
// controller and watch threads hold no lock during store I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/jobs/job_manager.h"
#include "server/store/store.h"
#include "server/studies/plan.h"
#include "server/util/mutex.h"

namespace gantry {

// At most this many WatchStudy streams at once (RESOURCE_EXHAUSTED beyond).
inline constexpr int kMaxStudyWatches = 256;

struct StudyOptions {
  std::string holder;        // this process, as the studies' lease holder
  int64_t lease_ms = 30'000;  // how long a claim holds without renewal
  std::chrono::milliseconds tick{200};  // between two reconciliations
  // A principal's quota when it creates trial jobs; nullopt when it no
  // longer exists (its studies then end FAILED). Null: no principals.
  std::function<std::optional<Quota>(const std::string&)> quota_of;
};

class StudyManager {
 public:
  // `store` and `jobs` outlive the manager.
  StudyManager(StudyOptions options, Store* store, JobManager* jobs);
  ~StudyManager();  // Stop()
  StudyManager(const StudyManager&) = delete;
  StudyManager& operator=(const StudyManager&) = delete;
  void Start();
  // Stops the controller and watch threads (idempotent); the other methods
  // keep working (a drained server still answers reads).
  void Stop();
  // Something a study may wait for happened (a job's run ended here): the
  // controller reconciles at once rather than at its next tick (watches
  // keep their own 500 ms pace).
  void Poke() EXCLUDES(mu_);

  // Validates and stores a new study (RUNNING); its first trials are
  // created by the controller within a tick.
  StatusOr<v1::Study> Create(const v1::CreateStudyRequest& request, const std::string& owner);
  // The study with its trials (reads its jobs). NOT_FOUND for an unknown id.
  StatusOr<v1::Study> Get(const std::string& id) const;
  // A page of studies, newest first, without trials; page_size + 1 rows at
  // most (a row past page_size says more follow).
  StatusOr<std::vector<StudyRow>> List(const StudyQuery& query) const;
  // Ends the study CANCELLED and cancels its queued and running jobs.
  StatusOr<v1::Study> Cancel(const std::string& id);
  // Deletes an ended study and its jobs (FAILED_PRECONDITION while a job is
  // still ending).
  Status Delete(const std::string& id);
  // The job spec that replays trial *trial of the study to its last
  // finished segment, or (0) the study's best result to its epoch (*trial
  // set to its number):
  // the base with the trial's first parameters and a schedule of every
  // change along its lineage (PBT's exploits: the parents' histories
  // before they were copied). FAILED_PRECONDITION before the trial has a
  // finished segment.
  StatusOr<v1::JobSpec> ReplaySpec(const std::string& id, int64_t* trial) const;

  // WatchStudy: `fn` is called on the watch thread with the study now (at
  // the next tick), then at every change, and last with the ended study
  // (or an error, e.g. NOT_FOUND once deleted); `fn` must not block. The
  // calls stop when the returned handle is destroyed. RESOURCE_EXHAUSTED
  // beyond kMaxStudyWatches.
  class Watch {
   public:
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    friend class StudyManager;
    Watch(StudyManager* m, int64_t key) : manager_(m), key_(key) {}
    StudyManager* manager_;
    int64_t key_;
  };
  using WatchFn = std::function<void(const StatusOr<v1::Study>& study, bool last)>;
  StatusOr<std::unique_ptr<Watch>> WatchStudy(const std::string& id, WatchFn fn);

 private:
  struct Loaded;
  // The study's jobs, results and plan.
  StatusOr<Loaded> Load(const StudyRow& row) const;
  v1::Study View(const StudyRow& row, const Loaded& loaded) const;
  void ControllerLoop();
  void WatchLoop();
  // One study held by this process: creates what the plan issues, stores
  // the summary, ends it when done. false: it is no longer held.
  bool Reconcile(StudyRow* row);
  // Cancels those of `jobs` that are QUEUED or RUNNING (best effort, logged).
  void CancelActive(const std::map<studies::SegmentKey, JobRow>& jobs);
  // An ended study's jobs: CancelActive, and their kept checkpoints deleted.
  void EndJobs(const std::map<studies::SegmentKey, JobRow>& jobs);
  // Waits `period`, or until signalled (for the controller: until poked,
  // even by a Poke that came before the wait); false once stopped.
  bool Wait(std::chrono::milliseconds period, bool controller) EXCLUDES(mu_);

  const StudyOptions options_;
  Store* const store_;
  JobManager* const jobs_;
  std::thread controller_;
  std::thread watcher_;
  mutable Mutex mu_;
  CondVar cv_;        // the controller's wake-up
  CondVar watch_cv_;  // the watch thread's
  bool stop_ GUARDED_BY(mu_) = false;
  bool poked_ GUARDED_BY(mu_) = false;  // the controller has work before its tick
  struct Watcher {
    std::string id;
    WatchFn fn;
    size_t last = 0;    // a hash of the serialized study last sent
    bool sent = false;  // anything sent yet
  };
  int64_t next_watch_ GUARDED_BY(mu_) = 1;
  std::map<int64_t, Watcher> watches_ GUARDED_BY(mu_);
  // Serialises the watch thread's calls of fn with ~Watch.
  Mutex watch_call_mu_;
  // Held by a reconciliation and by Cancel, so that in one process a
  // cancel never races a trial's creation (across replicas, the holder
  // cancels what it created once it sees the study ended). Store I/O
  // happens under it; only Cancel waits for it.
  Mutex reconcile_mu_;
  // When each held study's summary was last stored (the controller's thread only).
  std::map<std::string, std::chrono::steady_clock::time_point> last_summary_;
  static constexpr std::chrono::seconds kSummaryEvery{3};
  // Studies of a newer plan version than this server's, never claimed again
  // here (the controller's thread only; cleared beyond kMaxRunningStudies).
  std::set<std::string> too_new_;
};

}  // namespace gantry
