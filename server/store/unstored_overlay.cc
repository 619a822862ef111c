#include "server/store/unstored_overlay.h"

#include <algorithm>

namespace gantry {
namespace {

bool Applies(const JobRow& row, int64_t lease) {
  return !IsTerminalState(row.state) && row.lease == lease;
}

int64_t EventNs(const v1::JobEvent& event) {
  return event.time().seconds() * 1'000'000'000 + event.time().nanos();
}

}  // namespace

void UnstoredOverlay::Record(const JobRow& row, const v1::JobEvent& failed) {
  MutexLock lock(&mu_);
  if (entries_.count(row.id) == 0) order_.push_back(row.id);
  entries_[row.id] = Entry{row.lease, failed};
  while (order_.size() > kMaxUnstored) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<UnstoredOverlay::Entry> UnstoredOverlay::Find(const std::string& id) const {
  MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void UnstoredOverlay::Forget(const std::string& id) const {
  MutexLock lock(&mu_);
  if (entries_.erase(id) == 0) return;
  order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
}

void UnstoredOverlay::LayOver(JobRow* row) const {
  const auto entry = Find(row->id);
  if (!entry) return;
  if (!Applies(*row, entry->lease)) {
    if (IsTerminalState(row->state) || row->lease > entry->lease) Forget(row->id);
    return;
  }
  row->state = v1::JOB_STATE_FAILED;
  row->error = entry->event.state().error();
  row->last_seq = entry->event.seq();
  row->end_ns = EventNs(entry->event);
}

StatusOr<JobRow> UnstoredOverlay::GetJob(const std::string& id, ReadPoints points) const {
  auto row = inner_->GetJob(id, points);
  if (row.ok()) LayOver(&*row);
  return row;
}

StatusOr<std::vector<JobRow>> UnstoredOverlay::ListJobs(const ListQuery& query) const {
  auto rows = inner_->ListJobs(query);
  if (!rows.ok()) return rows;
  // A state filter saw the stored state: a RUNNING listing may show a job
  // that reads FAILED here (so pages keep their sizes and tokens).
  for (JobRow& row : *rows) LayOver(&row);
  return rows;
}

StatusOr<std::vector<v1::JobEvent>> UnstoredOverlay::ReadEvents(const std::string& id,
                                                                int64_t from_seq,
                                                                int limit) const {
  auto events = inner_->ReadEvents(id, from_seq, limit);
  if (!events.ok()) return events;
  const auto entry = Find(id);
  if (!entry || static_cast<int>(events->size()) >= limit) return events;
  const int64_t seq = entry->event.seq();
  const int64_t next = events->empty() ? std::max<int64_t>(from_seq, 1) : events->back().seq() + 1;
  if (next != seq) return events;
  auto row = inner_->GetJob(id, ReadPoints::kNo);
  if (row.ok() && Applies(*row, entry->lease)) events->push_back(entry->event);
  return events;
}

Status UnstoredOverlay::DeleteJob(const std::string& id) {
  if (const auto entry = Find(id)) {
    auto row = inner_->GetJob(id, ReadPoints::kNo);
    if (row.ok() && Applies(*row, entry->lease)) {
      JobRow ended = *row;
      ended.state = v1::JOB_STATE_FAILED;
      ended.error = entry->event.state().error();
      ended.end_ns = EventNs(entry->event);
      const Status stored = inner_->AppendEvent(ended, entry->event);
      if (!stored.ok()) return stored;
    }
    Forget(id);
  }
  return inner_->DeleteJob(id);
}

}  // namespace gantry
