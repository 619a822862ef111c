// UnstoredOverlay: a Store decorator that lays over the stored jobs the
// ends this process could not store (a full or failing disk), so that every
// reader sees the FAILED end the job's followers were sent.
//
// Record(row, failed) remembers a job's FAILED event that the store
// refused, under the lease the job ran with (the newest kMaxUnstored jobs).
// While the stored row still has that lease and has not ended:
//   GetJob, ListJobs  the row reads FAILED, with the event's error and seq;
//   ReadEvents        the event follows the stored ones;
//   DeleteJob         stores the end first (a store deletes only ended
//                     jobs), then deletes.
// A stored end, or a claim under a newer lease (the job resumes, here or on
// another replica), makes the entry moot; it is dropped when seen so. The
// overlay is memory only: after a restart the job resumes from what was
// stored, with no gap in its events.
//
// Thread-safety: as the wrapped store; the overlay's own lock is never held
// during the wrapped store's calls.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>

#include "server/store/forwarding_store.h"
#include "server/util/mutex.h"

namespace gantry {

class UnstoredOverlay final : public ForwardingStore {
 public:
  static constexpr size_t kMaxUnstored = 1000;

  explicit UnstoredOverlay(Store* inner) : ForwardingStore(inner) {}

  // `failed` (a FAILED state event, stamped with its seq) ends the job of
  // `row` (its lease as claimed) for every reader.
  void Record(const JobRow& row, const v1::JobEvent& failed);

  StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const override;
  StatusOr<std::vector<JobRow>> ListJobs(const ListQuery& query) const override;
  StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& id, int64_t from_seq,
                                                 int limit) const override;
  Status DeleteJob(const std::string& id) override;

 private:
  struct Entry {
    int64_t lease = 0;
    v1::JobEvent event;
  };
  std::optional<Entry> Find(const std::string& id) const EXCLUDES(mu_);
  // Lays the entry for row.id over `row` when it applies; drops a moot one.
  void LayOver(JobRow* row) const EXCLUDES(mu_);
  void Forget(const std::string& id) const EXCLUDES(mu_);

  mutable Mutex mu_;
  mutable std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
  mutable std::deque<std::string> order_ GUARDED_BY(mu_);  // oldest first
};

}  // namespace gantry
