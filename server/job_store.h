// JobStore: gantryd's durable storage in --data-dir.
//
// Layout:
//   DIR/LOCK                      held (flock) by the one gantryd using DIR; holds its pid
//   DIR/gantry.db                 SQLite (WAL): jobs and every job's events
//   DIR/jobs/<id>/checkpoint-<epoch>.ckpt   full trainer state (last 3 kept; none
//                                           once the job has ended)
//   DIR/jobs/<id>/snapshot-<epoch>.snap     generator weights served by Sample
//
// The schema is versioned (PRAGMA user_version) and migrated forward on open.
// A row or event is committed before the RPC or the job's progress that it
// records is acknowledged; files are replaced atomically and checksummed.
//
// DIR and its folders are 0700 and every file 0600, whatever the umask.
//
// Thread-safety: every method is safe from any thread (one connection,
// guarded by mu_).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gantry/v1/gantry.pb.h"

struct sqlite3;

namespace gantry {

inline constexpr int kSchemaVersion = 2;

struct JobRow {
  std::string id;
  int64_t index = 0;
  std::string name;
  std::string request_id;
  std::string request_fingerprint;
  v1::JobSpec spec;  // effective
  v1::JobState state = v1::JOB_STATE_QUEUED;
  std::string error;
  int64_t create_ns = 0, start_ns = 0, end_ns = 0;
  int64_t epochs_done = 0;
  std::optional<v1::EpochReport> latest;
};

struct StoredJob {
  JobRow row;
  std::vector<v1::JobEvent> events;  // in seq order
};

class JobStore {
 public:
  // Takes DIR/LOCK (FAILED_PRECONDITION naming the directory and the pid
  // that holds it), opens or creates the database and migrates it.
  static StatusOr<std::unique_ptr<JobStore>> Open(const std::string& dir);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  const std::string& dir() const { return dir_; }

  StatusOr<std::vector<StoredJob>> LoadAll();
  // Inserts the job and its first event in one transaction.
  Status InsertJob(const JobRow& row, const v1::JobEvent& event);
  // Inserts the event and updates the job's row to `row`, in one transaction.
  Status RecordEvent(const JobRow& row, const v1::JobEvent& event);
  // Removes the job's rows and files.
  Status DeleteJob(const std::string& id);

  // Files under DIR/jobs/<id>/.
  Status WriteCheckpoint(const std::string& id, int64_t epoch, const std::string& state,
                         int keep);
  // (epoch, path), newest first.
  std::vector<std::pair<int64_t, std::string>> Checkpoints(const std::string& id) const;
  // Writes the snapshot's file; its path is SnapshotPath(id, epoch).
  Status WriteSnapshot(const std::string& id, int64_t epoch, const std::string& bytes);
  std::string SnapshotPath(const std::string& id, int64_t epoch) const;
  // Removes the job's trainer checkpoints (an ended job needs none).
  void DeleteCheckpoints(const std::string& id);
  std::vector<std::pair<int64_t, std::string>> Snapshots(const std::string& id) const;

 private:
  JobStore() = default;
  Status Exec(const std::string& sql);
  Status Migrate();
  std::string JobDir(const std::string& id) const;

  std::string dir_;
  int lock_fd_ = -1;
  mutable std::mutex mu_;
  sqlite3* db_ = nullptr;  // Guarded by mu_.
};

}  // namespace gantry
