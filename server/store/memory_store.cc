#include "server/store/memory_store.h"

#include <algorithm>

#include "server/jobs/convert.h"
#include "server/util/clock.h"

namespace gantry {
namespace {

Status NotFound(const std::string& id) { return Status::NotFound("job " + id + " not found"); }

// Whether the job carries every one of `wanted`.
bool HasLabels(const JobRow& row, const std::map<std::string, std::string>& wanted) {
  for (const auto& [key, value] : wanted) {
    auto it = row.labels.find(key);
    if (it == row.labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

JobRow MemoryStore::Copy(const Job& job, ReadPoints points) {
  JobRow row = job.row;
  if (points == ReadPoints::kYes && job.points.values_size() > 0) {
    *row.spec.mutable_dataset()->mutable_points() = job.points;
  }
  return row;
}

StatusOr<InsertResult> MemoryStore::InsertJob(const JobRow& row, const v1::JobEvent& first,
                                              const Quota& quota) {
  MutexLock lock(&mu_);
  InsertResult out;
  if (!row.request_id.empty()) {
    auto it = request_ids_.find(row.request_id);
    if (it != request_ids_.end()) {
      out.row = Copy(jobs_.at(it->second), ReadPoints::kNo);
      out.inserted = false;
      return out;
    }
  }
  if (jobs_.count(row.id) != 0) return Status::AlreadyExists("job " + row.id + " exists");
  if (quota.any() && !row.created_by.empty()) {
    QuotaUse use;
    for (const auto& [id, job] : jobs_) {
      if (job.row.created_by != row.created_by || IsTerminalState(job.row.state)) continue;
      use.queued += job.row.state == v1::JOB_STATE_QUEUED;
      use.memory_bytes += job.row.memory_bytes;
    }
    GANTRY_RETURN_IF_ERROR(CheckQuota(row.created_by, quota, use, row.memory_bytes));
  }
  const std::string& table_id = TableIdOf(row.spec);
  if (!table_id.empty() && tables_.count(table_id) == 0) return JobTableNotFound(table_id);
  Job job;
  job.row = row;
  if (row.spec.dataset().points().values_size() > 0) {
    job.points = row.spec.dataset().points();
    job.row.spec.mutable_dataset()->mutable_points()->clear_values();
  }
  job.row.index = by_index_.empty() ? 1 : by_index_.rbegin()->first + 1;
  job.row.last_seq = first.seq();
  job.row.lease = 0;
  job.row.owner.clear();
  job.row.lease_expires_ns = 0;
  job.events.push_back(first);
  by_index_[job.row.index] = row.id;
  if (!row.request_id.empty()) request_ids_[row.request_id] = row.id;
  out.row = Copy(job, ReadPoints::kNo);
  jobs_[row.id] = std::move(job);
  return out;
}

StatusOr<JobRow> MemoryStore::GetJob(const std::string& id, ReadPoints points) const {
  MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFound(id);
  return Copy(it->second, points);
}

StatusOr<std::vector<JobRow>> MemoryStore::ListJobs(const ListQuery& q) const {
  MutexLock lock(&mu_);
  std::vector<JobRow> out;
  auto end = q.before_index > 0 ? by_index_.lower_bound(q.before_index) : by_index_.end();
  for (auto it = std::make_reverse_iterator(end);
       it != by_index_.rend() && static_cast<int>(out.size()) < q.limit; ++it) {
    const Job& job = jobs_.at(it->second);
    if (q.state != v1::JOB_STATE_UNSPECIFIED && job.row.state != q.state) continue;
    if (!HasLabels(job.row, q.labels)) continue;
    if (!q.created_by.empty() && job.row.created_by != q.created_by) continue;
    out.push_back(Copy(job, ReadPoints::kNo));
  }
  return out;
}

StatusOr<std::vector<JobRow>> MemoryStore::ActiveJobs() const {
  MutexLock lock(&mu_);
  std::vector<JobRow> out;
  for (const auto& [index, id] : by_index_) {
    const Job& job = jobs_.at(id);
    if (!IsTerminalState(job.row.state)) out.push_back(Copy(job, ReadPoints::kNo));
  }
  return out;
}

StatusOr<std::vector<std::string>> MemoryStore::ExpiredJobs(int64_t ended_before_ns,
                                                            int64_t keep_newest, int limit) const {
  MutexLock lock(&mu_);
  std::vector<std::pair<std::pair<int64_t, int64_t>, std::string>> ended;
  for (const auto& [id, job] : jobs_) {
    if (IsTerminalState(job.row.state)) ended.push_back({{job.row.end_ns, job.row.index}, id});
  }
  std::sort(ended.rbegin(), ended.rend());  // newest first
  std::vector<std::string> out;
  for (size_t i = 0; i < ended.size() && static_cast<int>(out.size()) < limit; ++i) {
    const bool too_many = keep_newest > 0 && static_cast<int64_t>(i) >= keep_newest;
    const bool too_old = ended_before_ns > 0 && ended[i].first.first < ended_before_ns;
    if (too_many || too_old) out.push_back(ended[i].second);
  }
  return out;
}

Status MemoryStore::DeleteJob(const std::string& id) {
  MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFound(id);
  if (!IsTerminalState(it->second.row.state)) {
    return Status::FailedPrecondition("job " + id + " has not ended");
  }
  by_index_.erase(it->second.row.index);
  if (!it->second.row.request_id.empty()) request_ids_.erase(it->second.row.request_id);
  jobs_.erase(it);
  return Status::Ok();
}

Status MemoryStore::AppendEvent(const JobRow& r, const v1::JobEvent& event) {
  MutexLock lock(&mu_);
  auto it = jobs_.find(r.id);
  if (it == jobs_.end()) return NotFound(r.id);
  JobRow& row = it->second.row;
  if (row.lease != r.lease) {
    return Status::FailedPrecondition("job " + r.id + ": lease " + std::to_string(r.lease) +
                                      " is no longer held (now " + std::to_string(row.lease) + ")");
  }
  if (event.seq() <= row.last_seq) {
    return Status::AlreadyExists("job " + r.id + ": event " + std::to_string(event.seq()) +
                                 " is stored already");
  }
  if (event.seq() != row.last_seq + 1) {
    return Status::FailedPrecondition("job " + r.id + ": event " + std::to_string(event.seq()) +
                                      " would leave a gap after " + std::to_string(row.last_seq));
  }
  it->second.events.push_back(event);
  row.state = r.state;
  row.error = r.error;
  row.start_ns = r.start_ns;
  row.end_ns = r.end_ns;
  row.queued_ns = r.queued_ns;
  row.epochs_done = r.epochs_done;
  row.latest = r.latest;
  row.last_seq = event.seq();
  if (!MayNotifyWebhooks(event)) return Status::Ok();
  std::vector<WebhookRow> hooks;
  for (const auto& [id, hook] : webhooks_) hooks.push_back(hook);
  std::sort(hooks.begin(), hooks.end(),
            [](const WebhookRow& a, const WebhookRow& b) { return a.index < b.index; });
  for (DeliveryRow& d : WebhookDeliveries(hooks, row, event, NowNs())) {
    int64_t pending = 0;
    for (const auto& [seq, other] : deliveries_) {
      pending += other.row.webhook_id == d.webhook_id &&
                 other.row.state == v1::DELIVERY_STATE_PENDING;
    }
    if (pending >= kMaxPendingDeliveries) MarkBacklogFull(&d);
    d.seq = ++delivery_seq_;
    const std::string webhook_id = d.webhook_id;
    const bool ended = d.state != v1::DELIVERY_STATE_PENDING;
    deliveries_[d.seq].row = std::move(d);
    if (ended) TrimDeliveries(webhook_id);
  }
  return Status::Ok();
}

void MemoryStore::TrimDeliveries(const std::string& webhook_id) {
  int64_t ended = 0;
  for (auto r = deliveries_.rbegin(); r != deliveries_.rend();) {
    const DeliveryRow& x = r->second.row;
    if (x.webhook_id == webhook_id && x.state != v1::DELIVERY_STATE_PENDING &&
        ++ended > kKeepEndedDeliveries) {
      r = std::make_reverse_iterator(deliveries_.erase(std::next(r).base()));
    } else {
      ++r;
    }
  }
}

StatusOr<std::vector<v1::JobEvent>> MemoryStore::ReadEvents(const std::string& id, int64_t from_seq,
                                                            int limit) const {
  MutexLock lock(&mu_);
  std::vector<v1::JobEvent> out;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return out;  // an unknown job has no events
  const auto& events = it->second.events;
  for (int64_t i = std::max<int64_t>(1, from_seq) - 1;
       i < static_cast<int64_t>(events.size()) && static_cast<int>(out.size()) < limit; ++i) {
    out.push_back(events[static_cast<size_t>(i)]);
  }
  return out;
}

StatusOr<std::optional<JobRow>> MemoryStore::ClaimNext(const std::string& owner,
                                                       int64_t max_memory_bytes, int64_t lease_ns,
                                                       const ClaimPolicy& policy) {
  MutexLock lock(&mu_);
  const RunningLimits& limits = policy.running;
  std::map<std::string, int64_t> running;  // of the limited creators
  if (!limits.empty()) {
    for (const auto& [id, job] : jobs_) {
      if (job.row.state == v1::JOB_STATE_RUNNING && limits.count(job.row.created_by) != 0) {
        ++running[job.row.created_by];
      }
    }
  }
  auto at_limit = [&](const JobRow& r) {
    auto it = limits.find(r.created_by);
    return it != limits.end() && running[r.created_by] >= it->second;
  };
  const int64_t now = NowNs();
  Job* next = nullptr;
  for (const auto& [index, id] : by_index_) {
    Job& job = jobs_.at(id);
    if (job.row.state == v1::JOB_STATE_RUNNING && job.row.lease_expires_ns < now) {
      next = &job;
      break;
    }
  }
  if (next == nullptr) {
    // The highest aged priority, the oldest among equals.
    int best = 0;
    for (const auto& [index, id] : by_index_) {
      Job& job = jobs_.at(id);
      if (job.row.state != v1::JOB_STATE_QUEUED || at_limit(job.row)) continue;
      const int p = AgedPriority(job.row, now, policy.priority_aging_ns);
      if (p > best) {
        best = p;
        next = &job;
      }
    }
  }
  if (next == nullptr || (max_memory_bytes >= 0 && next->row.memory_bytes > max_memory_bytes)) {
    return std::optional<JobRow>();
  }
  JobRow& row = next->row;
  if (row.start_ns == 0) row.start_ns = now;
  row.state = v1::JOB_STATE_RUNNING;
  row.owner = owner;
  row.lease += 1;
  row.lease_expires_ns = now + lease_ns;
  return std::optional<JobRow>(Copy(*next, ReadPoints::kYes));
}

Status MemoryStore::RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) {
  MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.row.lease != lease ||
      it->second.row.state != v1::JOB_STATE_RUNNING) {
    return Status::FailedPrecondition("job " + id + ": lease " + std::to_string(lease) +
                                      " is no longer held");
  }
  it->second.row.lease_expires_ns = NowNs() + lease_ns;
  return Status::Ok();
}

Status MemoryStore::ExpireAllLeases() {
  MutexLock lock(&mu_);
  for (auto& [id, job] : jobs_) {
    if (job.row.state == v1::JOB_STATE_RUNNING) job.row.lease_expires_ns = 0;
  }
  for (auto& [seq, d] : deliveries_) d.lease_expires_ns = 0;
  for (auto& [id, study] : studies_) study.lease_expires_ns = 0;
  return Status::Ok();
}

Status MemoryStore::PutBlob(const BlobKey& key, const std::string& bytes) {
  MutexLock lock(&mu_);
  auto it = jobs_.find(key.job_id);
  if (it == jobs_.end()) return NotFound(key.job_id);
  it->second.blobs[{key.kind, key.epoch}] = bytes;
  return Status::Ok();
}

StatusOr<std::string> MemoryStore::GetBlob(const BlobKey& key) const {
  MutexLock lock(&mu_);
  auto it = jobs_.find(key.job_id);
  if (it != jobs_.end()) {
    auto b = it->second.blobs.find({key.kind, key.epoch});
    if (b != it->second.blobs.end()) return b->second;
  }
  return Status::NotFound(std::string(BlobKindName(key.kind)) + " of job " + key.job_id +
                          " for epoch " + std::to_string(key.epoch) + " not found");
}

StatusOr<std::vector<int64_t>> MemoryStore::ListBlobs(const std::string& job_id,
                                                      BlobKind kind) const {
  MutexLock lock(&mu_);
  std::vector<int64_t> out;
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return out;
  for (const auto& [k, bytes] : it->second.blobs) {
    if (k.first == kind) out.push_back(k.second);
  }
  return out;  // the map orders by (kind, epoch)
}

Status MemoryStore::DeleteBlob(const BlobKey& key) {
  MutexLock lock(&mu_);
  auto it = jobs_.find(key.job_id);
  if (it != jobs_.end()) it->second.blobs.erase({key.kind, key.epoch});
  return Status::Ok();
}

}  // namespace gantry

namespace gantry {

StatusOr<std::map<v1::JobState, int64_t>> MemoryStore::CountJobs() const {
  MutexLock lock(&mu_);
  std::map<v1::JobState, int64_t> out;
  for (const auto& [id, job] : jobs_) ++out[job.row.state];
  return out;
}

}  // namespace gantry

namespace gantry {

StatusOr<std::optional<JobRow>> MemoryStore::FindRequest(const std::string& request_id) const {
  MutexLock lock(&mu_);
  auto it = request_ids_.find(request_id);
  if (request_id.empty() || it == request_ids_.end()) return std::optional<JobRow>();
  return std::optional<JobRow>(Copy(jobs_.at(it->second), ReadPoints::kNo));
}

StatusOr<PutTableResult> MemoryStore::PutTable(const TableRow& row, const std::string& bytes) {
  GANTRY_RETURN_IF_ERROR(CheckTableRow(row, bytes));
  MutexLock lock(&mu_);
  PutTableResult out;
  auto it = tables_.find(row.id);
  if (it != tables_.end()) {
    out.row = it->second.row;
    out.inserted = false;
    return out;
  }
  Table table{row, bytes};
  // Indexes are never reused, even after the newest table is deleted.
  table.row.index = ++last_table_index_;
  tables_by_index_[table.row.index] = row.id;
  out.row = table.row;
  tables_[row.id] = std::move(table);
  return out;
}

StatusOr<TableRow> MemoryStore::GetTable(const std::string& id) const {
  MutexLock lock(&mu_);
  auto it = tables_.find(id);
  if (it == tables_.end()) return TableNotFound(id);
  return it->second.row;
}

StatusOr<std::string> MemoryStore::ReadTableBytes(const std::string& id) const {
  std::string bytes;
  {
    MutexLock lock(&mu_);
    auto it = tables_.find(id);
    if (it == tables_.end()) return TableNotFound(id);
    bytes = it->second.bytes;
  }
  GANTRY_RETURN_IF_ERROR(CheckTableBytes(id, bytes));
  return bytes;
}

StatusOr<std::vector<TableRow>> MemoryStore::ListTables(const TableListQuery& q) const {
  MutexLock lock(&mu_);
  std::vector<TableRow> out;
  auto end = q.before_index > 0 ? tables_by_index_.lower_bound(q.before_index)
                                : tables_by_index_.end();
  for (auto it = std::make_reverse_iterator(end);
       it != tables_by_index_.rend() && static_cast<int>(out.size()) < q.limit; ++it) {
    out.push_back(tables_.at(it->second).row);
  }
  return out;
}

Status MemoryStore::DeleteTable(const std::string& id) {
  MutexLock lock(&mu_);
  auto it = tables_.find(id);
  if (it == tables_.end()) return TableNotFound(id);
  for (const auto& [index, job_id] : by_index_) {
    const JobRow& job = jobs_.at(job_id).row;
    if (!IsTerminalState(job.state) && TableIdOf(job.spec) == id) {
      return TableInUse(id, job_id, job.state);
    }
  }
  tables_by_index_.erase(it->second.row.index);
  tables_.erase(it);
  return Status::Ok();
}

Status MemoryStore::PutSession(const SessionRow& row) {
  GANTRY_RETURN_IF_ERROR(CheckSessionRow(row));
  MutexLock lock(&mu_);
  if (!sessions_.emplace(row.id_hash, row).second) {
    return Status::AlreadyExists("session: this id is stored already");
  }
  return Status::Ok();
}

StatusOr<SessionRow> MemoryStore::GetSession(const std::string& id_hash) const {
  MutexLock lock(&mu_);
  auto it = sessions_.find(id_hash);
  if (it == sessions_.end()) return SessionNotFound();
  return it->second;
}

Status MemoryStore::DeleteSession(const std::string& id_hash) {
  MutexLock lock(&mu_);
  sessions_.erase(id_hash);
  return Status::Ok();
}

StatusOr<int64_t> MemoryStore::DeleteExpiredSessions(int64_t now_ns) {
  MutexLock lock(&mu_);
  int64_t n = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second.expires_ns <= now_ns) {
      it = sessions_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

StatusOr<int64_t> MemoryStore::AppendAudit(const AuditRow& row, int64_t keep) {
  MutexLock lock(&mu_);
  AuditRow stored = row;
  stored.seq = ++audit_seq_;
  audit_.emplace(stored.seq, std::move(stored));
  while (!audit_.empty() && audit_.begin()->first <= audit_seq_ - keep) audit_.erase(audit_.begin());
  return audit_seq_;
}

StatusOr<std::vector<AuditRow>> MemoryStore::ListAudit(const AuditQuery& q) const {
  MutexLock lock(&mu_);
  std::vector<AuditRow> out;
  auto end = q.before_seq > 0 ? audit_.lower_bound(q.before_seq) : audit_.end();
  for (auto it = std::make_reverse_iterator(end);
       it != audit_.rend() && static_cast<int>(out.size()) < q.limit; ++it) {
    const AuditRow& r = it->second;
    if (!q.principal.empty() && r.principal != q.principal) continue;
    if (!q.target.empty() && r.target != q.target) continue;
    out.push_back(r);
  }
  return out;
}

Status MemoryStore::PutWebhook(const WebhookRow& row) {
  MutexLock lock(&mu_);
  if (webhooks_.count(row.id)) return Status::AlreadyExists("webhook " + row.id + " exists");
  int64_t count = 0;
  for (const auto& [id, hook] : webhooks_) count += hook.principal == row.principal;
  GANTRY_RETURN_IF_ERROR(CheckWebhookCount(row.principal, count));
  WebhookRow stored = row;
  stored.index = ++last_webhook_index_;
  stored.pending = 0;
  webhooks_[row.id] = std::move(stored);
  return Status::Ok();
}

StatusOr<WebhookRow> MemoryStore::GetWebhook(const std::string& id) const {
  MutexLock lock(&mu_);
  auto it = webhooks_.find(id);
  if (it == webhooks_.end()) return WebhookNotFound(id);
  return it->second;
}

StatusOr<std::vector<WebhookRow>> MemoryStore::ListWebhooks(const std::string& principal) const {
  MutexLock lock(&mu_);
  std::vector<WebhookRow> out;
  for (const auto& [id, hook] : webhooks_) {
    if (!principal.empty() && hook.principal != principal) continue;
    WebhookRow& w = out.emplace_back(hook);
    for (const auto& [seq, d] : deliveries_) {
      w.pending += d.row.webhook_id == id && d.row.state == v1::DELIVERY_STATE_PENDING;
    }
  }
  std::sort(out.begin(), out.end(),
            [](const WebhookRow& a, const WebhookRow& b) { return a.index < b.index; });
  return out;
}

Status MemoryStore::DeleteWebhook(const std::string& id) {
  MutexLock lock(&mu_);
  if (webhooks_.erase(id) == 0) return WebhookNotFound(id);
  for (auto it = deliveries_.begin(); it != deliveries_.end();) {
    it = it->second.row.webhook_id == id ? deliveries_.erase(it) : std::next(it);
  }
  return Status::Ok();
}

StatusOr<std::vector<DeliveryRow>> MemoryStore::ListDeliveries(const std::string& webhook_id,
                                                               int64_t before_seq,
                                                               int limit) const {
  MutexLock lock(&mu_);
  std::vector<DeliveryRow> out;
  auto end = before_seq > 0 ? deliveries_.lower_bound(before_seq) : deliveries_.end();
  for (auto it = std::make_reverse_iterator(end);
       it != deliveries_.rend() && static_cast<int>(out.size()) < limit; ++it) {
    if (it->second.row.webhook_id == webhook_id) out.push_back(it->second.row);
  }
  return out;
}

StatusOr<std::vector<DeliveryRow>> MemoryStore::ClaimDeliveries(
    int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) {
  MutexLock lock(&mu_);
  const int64_t now = NowNs();
  std::vector<Delivery*> due;
  for (auto& [seq, d] : deliveries_) {
    if (d.row.state == v1::DELIVERY_STATE_PENDING && d.row.next_attempt_ns <= now &&
        d.lease_expires_ns <= now &&
        std::find(skip_webhooks.begin(), skip_webhooks.end(), d.row.webhook_id) ==
            skip_webhooks.end()) {
      due.push_back(&d);
    }
  }
  std::stable_sort(due.begin(), due.end(), [](const Delivery* a, const Delivery* b) {
    return a->row.next_attempt_ns < b->row.next_attempt_ns;
  });
  std::vector<DeliveryRow> out;
  for (Delivery* d : due) {
    if (static_cast<int>(out.size()) == limit) break;
    d->row.attempts += 1;
    d->row.last_attempt_ns = now;
    d->lease_expires_ns = now + lease_ns;
    DeliveryRow& claimed = out.emplace_back(d->row);
    const WebhookRow& hook = webhooks_.at(d->row.webhook_id);
    claimed.url = hook.url;
    claimed.secret = hook.secret;
    claimed.principal = hook.principal;
  }
  return out;
}

StatusOr<int> MemoryStore::FinishDelivery(const DeliveryOutcome& o) {
  MutexLock lock(&mu_);
  auto it = deliveries_.find(o.seq);
  if (it == deliveries_.end()) return int{v1::DELIVERY_STATE_UNSPECIFIED};  // its webhook was deleted
  DeliveryRow& d = it->second.row;
  if (d.attempts != o.attempts || d.state != v1::DELIVERY_STATE_PENDING) {
    return int{v1::DELIVERY_STATE_UNSPECIFIED};  // claimed again since
  }
  const DeliveryRow next = NextDeliveryState(o, d.create_ns, NowNs());
  d.state = next.state;
  d.last_status = next.last_status;
  d.last_error = next.last_error;
  d.next_attempt_ns = next.next_attempt_ns;
  it->second.lease_expires_ns = 0;
  const int state = d.state;
  if (state != v1::DELIVERY_STATE_PENDING) TrimDeliveries(std::string(d.webhook_id));
  return state;
}

// --- studies ---

StatusOr<StudyRow> MemoryStore::InsertStudy(const StudyRow& row) {
  MutexLock lock(&mu_);
  const std::string& id = row.study.id();
  if (studies_.count(id) != 0) return Status::AlreadyExists("study " + id + " exists");
  int64_t running = 0;
  for (const auto& [other, study] : studies_) {
    running += study.study.state() == v1::JOB_STATE_RUNNING;
  }
  if (running >= kMaxRunningStudies) return TooManyStudies(running);
  StudyRow stored;
  stored.study = row.study;
  stored.study.clear_trials();
  stored.study.set_state(v1::JOB_STATE_RUNNING);
  stored.index = ++last_study_index_;
  studies_by_index_[stored.index] = id;
  studies_[id] = stored;
  return stored;
}

StatusOr<StudyRow> MemoryStore::GetStudy(const std::string& id) const {
  MutexLock lock(&mu_);
  auto it = studies_.find(id);
  if (it == studies_.end()) return StudyNotFound(id);
  return it->second;
}

StatusOr<std::vector<StudyRow>> MemoryStore::ListStudies(const StudyQuery& q) const {
  MutexLock lock(&mu_);
  std::vector<StudyRow> out;
  auto end = q.before_index > 0 ? studies_by_index_.lower_bound(q.before_index)
                                : studies_by_index_.end();
  for (auto it = std::make_reverse_iterator(end);
       it != studies_by_index_.rend() && static_cast<int>(out.size()) < q.limit; ++it) {
    const StudyRow& row = studies_.at(it->second);
    if (!q.owner.empty() && row.study.owner() != q.owner) continue;
    out.push_back(row);
  }
  return out;
}

StatusOr<std::optional<StudyRow>> MemoryStore::ClaimStudy(const std::string& holder,
                                                          int64_t lease_ns,
                                                          const std::vector<std::string>& skip) {
  MutexLock lock(&mu_);
  const int64_t now = NowNs();
  for (const auto& [index, id] : studies_by_index_) {
    StudyRow& row = studies_.at(id);
    if (row.study.state() != v1::JOB_STATE_RUNNING || row.lease_expires_ns >= now ||
        std::find(skip.begin(), skip.end(), id) != skip.end()) {
      continue;
    }
    row.lease += 1;
    row.holder = holder;
    row.lease_expires_ns = now + lease_ns;
    return std::optional<StudyRow>(row);
  }
  return std::optional<StudyRow>();
}

StatusOr<StudyRow*> MemoryStore::HeldStudy(const std::string& id, int64_t lease) {
  auto it = studies_.find(id);
  if (it == studies_.end()) return StudyNotFound(id);
  GANTRY_RETURN_IF_ERROR(CheckStudyHeld(it->second, lease));
  return &it->second;
}

Status MemoryStore::RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) {
  MutexLock lock(&mu_);
  auto held = HeldStudy(id, lease);
  if (!held.ok()) return held.status();
  (*held)->lease_expires_ns = NowNs() + lease_ns;
  return Status::Ok();
}

Status MemoryStore::UpdateStudy(const StudyRow& row) {
  MutexLock lock(&mu_);
  auto held = HeldStudy(row.study.id(), row.lease);
  if (!held.ok()) return held.status();
  v1::Study& study = (*held)->study;
  ApplyStudyUpdate(row.study, &study);
  return Status::Ok();
}

StatusOr<StudyRow> MemoryStore::EndStudy(const std::string& id, v1::JobState state,
                                         const std::string& error, int64_t end_ns) {
  MutexLock lock(&mu_);
  auto it = studies_.find(id);
  if (it == studies_.end()) return StudyNotFound(id);
  StudyRow& row = it->second;
  if (IsTerminalState(row.study.state())) return StudyEnded(id, row.study.state());
  EndStudyRow(state, error, end_ns, &row);
  return row;
}

Status MemoryStore::DeleteStudy(const std::string& id) {
  MutexLock lock(&mu_);
  auto it = studies_.find(id);
  if (it == studies_.end()) return StudyNotFound(id);
  if (!IsTerminalState(it->second.study.state())) return StudyNotEnded(id, it->second.study.state());
  studies_by_index_.erase(it->second.index);
  studies_.erase(it);
  return Status::Ok();
}

}  // namespace gantry
