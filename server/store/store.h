// Store: everything gantryd keeps about jobs, behind one narrow interface:
// job rows, each job's numbered events, the lease of the replica training a
// job, blobs (trainer checkpoints and generator snapshots), and uploaded
// tables (CSV files that jobs reference).
//
// Implementations: SqliteStore (the embedded default: SQLite plus files in
// --data-dir), MemoryStore (nothing survives the process) and PgStore
// (PostgreSQL, shared by many gantryd replicas). All pass the same
// conformance suite (tests/server/store_conformance_test.cc).
//
// Contracts every implementation keeps:
// - A write returns OK only once it is stored as durably as the
//   implementation promises (SqliteStore: it survives the process being
//   killed; see its header for power loss).
// - InsertJob is idempotent on a non-empty request_id: a second insert with
//   the same request_id stores nothing and returns the first job's row.
// - Every write of a job's progress (AppendEvent) names the lease it holds;
//   it is refused with FAILED_PRECONDITION, writing nothing, when the job's
//   lease has changed since (fencing). Appending an event whose seq is not
//   the job's last_seq + 1 is refused too (ALREADY_EXISTS for a seq that is
//   stored already): events are never overwritten and never have gaps.
// - ClaimNext takes the oldest claimable job: a RUNNING job whose lease has
//   expired first (its replica died), else the oldest QUEUED job. Claiming
//   increments the lease number, so every claim fences out the previous
//   holder.
// - Reads never return partial writes.
// - Every row read carries the job's labels; InsertJob stores them with the
//   job and DeleteJob deletes them with it.
// - A shared store (Shared(): several processes use it at once) also fences
//   blob writes and deletes: a BlobKey naming a lease (lease > 0) is
//   refused with FAILED_PRECONDITION when the job's lease has changed; the
//   check and the write are one transaction that holds the job's row, so a
//   claim either waits for the write or the write sees the claim. Its
//   lease times come from the store's own clock, never a replica's.
// - Tables are content-addressed: a table's id is the lower-case hex SHA-256
//   of its bytes. PutTable is idempotent (a second put of an id stores
//   nothing and returns the stored row); ReadTableBytes checks the bytes
//   against the id (DATA_LOSS when they differ). A job whose spec names a
//   table (spec.dataset().table().table_id()) is stored only while that
//   table exists (InsertJob: NOT_FOUND naming the table), and a table is
//   deleted only while no QUEUED or RUNNING job names it (DeleteTable:
//   FAILED_PRECONDITION naming a job); each check is atomic with its write.
//   Tables belong to no job, so nothing about them is fenced by leases.
// - Sessions (server/api/sessions.h) are known to the store only by a hash of
//   their id: it never sees an id. Their times are the caller's (the
//   Sessions clock), not the store's; nothing about them is fenced.
//
// Thread-safety: every method of every implementation is safe from any
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "proto/job_state.h"
#include "server/store/quota.h"

namespace gantry {

struct JobRow {
  std::string id;
  int64_t index = 0;  // assigned by InsertJob: 1, 2, 3, ... in creation order
  std::string name;
  std::string request_id;
  std::string request_fingerprint;
  // The effective spec. Rows read without points (ReadPoints::kNo) carry a
  // USER dataset's dim but no values.
  v1::JobSpec spec;
  int64_t dataset_rows = 0;  // training points
  int64_t memory_bytes = 0;  // admission's estimate
  v1::JobState state = v1::JOB_STATE_QUEUED;
  std::string error;
  int64_t create_ns = 0, start_ns = 0, end_ns = 0;
  int64_t epochs_done = 0;
  std::optional<v1::EpochReport> latest;
  int64_t last_seq = 0;  // seq of the newest stored event
  // The lease: who trains the job, the claim number, and until when
  // (nanoseconds on the store's clock). 0 / "" while never claimed.
  int64_t lease = 0;
  std::string owner;
  int64_t lease_expires_ns = 0;
  // Labels (server/jobs/labels.h: at most 16, each key and value at most 63
  // characters), stored with the job and never changed.
  std::map<std::string, std::string> labels;
  // A cancel was asked for while another process trained the job (shared
  // stores: Store::RequestCancel); its next holder ends it CANCELLED.
  bool cancel_requested = false;
  // The principal that created the job (server/api/principals.h); "" on a
  // server without credentials. Stored with the job and never changed (the
  // API's Job.owner; not `owner` above, the replica holding the lease).
  std::string created_by;
  // v1::Priority (LOW 1, NORMAL 2, HIGH 3), never changed; and when the job
  // last entered QUEUED (created, or requeued by a preemption), for aging.
  int priority = v1::PRIORITY_NORMAL;
  int64_t queued_ns = 0;
};

enum class ReadPoints { kNo, kYes };

enum class BlobKind { kCheckpoint, kSnapshot };
const char* BlobKindName(BlobKind kind);

struct BlobKey {
  std::string job_id;
  BlobKind kind = BlobKind::kSnapshot;
  int64_t epoch = 0;
  // The writer's lease, for fencing in a shared store (0: unfenced, e.g. an
  // ended job's blobs deleted with it). Exclusive stores ignore it.
  int64_t lease = 0;
};

// A change another process made to a shared store (Store::Subscribe).
struct StoreChange {
  enum Kind {
    kEvent,   // job_id's event `seq` was stored
    kJob,     // job_id was created (a claim may find it)
    kCancel,  // a cancel of job_id was requested
    kResync,  // changes may have been missed (the store reconnected)
  };
  Kind kind = kResync;
  std::string job_id;
  int64_t seq = 0;
};

struct InsertResult {
  JobRow row;            // the stored row (the first job's, for a repeated request_id)
  bool inserted = true;  // false: request_id was used already; nothing was stored
};

// An uploaded table (a CSV file) without its bytes (Store::ReadTableBytes).
struct TableRow {
  std::string id;          // lower-case hex SHA-256 of the bytes
  int64_t index = 0;       // assigned by PutTable: 1, 2, 3, ... in upload order
  std::string name;        // a display name (the uploaded file's)
  int64_t size_bytes = 0;  // of the file
  v1::TableSchema schema;  // inferred when it was uploaded
  int64_t create_ns = 0;
};

struct PutTableResult {
  TableRow row;          // the stored row (the first upload's, for bytes stored already)
  bool inserted = true;  // false: the id was stored already; nothing was stored
};

struct TableListQuery {
  int64_t before_index = 0;  // only tables with index < before_index (0: from the newest)
  int limit = 100;           // at most this many rows
};

// A dashboard login session (server/api/sessions.h), without its id.
struct SessionRow {
  std::string id_hash;     // 64 lower-case hex digits: a SHA-256 over the session id
  int64_t create_ns = 0;   // nanoseconds since the Unix epoch
  int64_t expires_ns = 0;  // refused from this moment on
  // Whose session it is (Sessions: the principal's name and credential
  // fingerprint); at most 200 bytes.
  std::string principal;
};

// One entry of the audit log: a state-changing call, allowed or refused.
struct AuditRow {
  int64_t seq = 0;          // assigned by AppendAudit: 1, 2, 3, ...
  int64_t time_ns = 0;      // since the Unix epoch (the caller's clock)
  std::string principal;    // "" on a server without credentials
  std::string role;
  std::string action;       // the call: "CancelJob", "Login", ...
  std::string target;       // the job or table id, if any
  bool allowed = true;      // false: the caller's role refused it
  std::string code;         // "OK", "PERMISSION_DENIED", ...
  std::string message;      // the error's message, if any
};

struct AuditQuery {
  int64_t before_seq = 0;   // only entries with seq < before_seq (0: from the newest)
  int limit = 100;          // at most this many rows
  std::string principal;    // only this principal's entries, if set
  std::string target;       // only entries naming this target, if set
};

// A webhook subscription (server/webhooks/README.md).
struct WebhookRow {
  std::string id;            // "wh-" and 16 hex digits
  int64_t index = 0;         // assigned by PutWebhook: 1, 2, 3, ... in creation order
  std::string principal;     // who created it
  std::string url;
  std::string secret;        // the HMAC key
  uint32_t events = 0;       // bit (1 << v1::WebhookEvent) for each kind it sends
  // Filters ("" for any): one job; a label selector ("k=v,k=v",
  // server/jobs/labels.h); the jobs' creator.
  std::string job_id;
  std::string label_selector;
  std::string owner;
  int64_t create_ns = 0;
  int64_t pending = 0;       // ListWebhooks: its PENDING deliveries
};

// One delivery of a webhook: an event of a job, to be POSTed (the outbox)
// or tried already (the delivery log).
struct DeliveryRow {
  int64_t seq = 0;           // assigned when stored: 1, 2, 3, ... (all webhooks)
  std::string webhook_id;
  std::string key;           // the Idempotency-Key: "WEBHOOK/JOB/SEQ/TYPE"
  int type = 0;              // v1::WebhookEvent
  std::string job_id;
  int64_t event_seq = 0;
  std::string payload;       // the JSON body (v1::WebhookPayload)
  int state = 1;             // v1::DeliveryState (PENDING 1, DELIVERED 2, FAILED 3)
  int attempts = 0;          // claims so far (ClaimDeliveries counts one each)
  int last_status = 0;       // the last attempt's HTTP status, 0 for none
  std::string last_error;
  int64_t create_ns = 0, last_attempt_ns = 0, next_attempt_ns = 0;  // the store's clock
  // ClaimDeliveries fills these from the webhook, for the POST.
  std::string url, secret, principal;
};

// What became of a claimed delivery (Store::FinishDelivery).
struct DeliveryOutcome {
  int64_t seq = 0;
  int attempts = 0;          // as claimed: a later claim fences this one out
  bool delivered = false;
  int status = 0;            // the HTTP status, 0 for none
  std::string error;         // why it failed
  // Not delivered: tried again this long after now, unless it was created
  // give_up_after_ns ago or more (then it ends FAILED).
  int64_t retry_after_ns = 0;
  int64_t give_up_after_ns = 0;
};

// The bounds of the webhooks' tables.
inline constexpr int kMaxWebhooksPerPrincipal = 100;
inline constexpr int64_t kMaxPendingDeliveries = 10000;  // per webhook; beyond, FAILED at once
inline constexpr int64_t kKeepEndedDeliveries = 1000;    // per webhook, newest kept

// A study (server/studies/README.md): its API form without trials, and the
// lease of the replica that takes its decisions.
struct StudyRow {
  // id, name, spec, state, error, labels, owner, create and end times,
  // summary; never trials (they are derived from the study's jobs).
  v1::Study study;
  int64_t index = 0;  // assigned by InsertStudy: 1, 2, 3, ... in creation order
  int64_t lease = 0;  // the claim number (0: never claimed)
  std::string holder;           // the replica holding the lease
  int64_t lease_expires_ns = 0;  // the store's clock
};

struct StudyQuery {
  int64_t before_index = 0;  // only studies with index < before_index (0: from the newest)
  int limit = 100;           // at most this many rows
  std::string owner;         // only this principal's studies, if set
};

// At most this many RUNNING studies in a store (InsertStudy refuses more).
inline constexpr int64_t kMaxRunningStudies = 100;

// How ClaimNext picks the next queued job.
struct ClaimPolicy {
  // A queued job whose creator already runs this many is passed over.
  RunningLimits running;
  // A queued job's priority rises a level for every priority_aging_ns it has
  // waited (since queued_ns), up to HIGH; 0: no aging.
  int64_t priority_aging_ns = 0;
};

struct ListQuery {
  int64_t before_index = 0;  // only jobs with index < before_index (0: from the newest)
  int limit = 100;           // at most this many rows
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;  // only this state, if set
  // Only jobs carrying every one of these labels (key -> value), if any.
  std::map<std::string, std::string> labels;
  std::string created_by;  // only jobs this principal created, if set
};

class Store {
 public:
  virtual ~Store() = default;

  // What and where, for logs: "SQLite /var/lib/gantry/gantry.db", "memory".
  virtual std::string Describe() const = 0;

  // --- jobs ---
  // Stores the job (its index assigned here, last_seq 1) and its first
  // event (seq 1) together. row.id must be new. `quota`: row.created_by's
  // limits (quota.h), checked against its stored QUEUED and RUNNING jobs
  // in the same transaction (RESOURCE_EXHAUSTED naming the quota and the
  // use), after a repeated request_id is answered.
  virtual StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first,
                                           const Quota& quota) = 0;
  StatusOr<InsertResult> InsertJob(const JobRow& row, const v1::JobEvent& first) {
    return InsertJob(row, first, Quota());
  }
  // The job created with this request_id (without points), if any.
  virtual StatusOr<std::optional<JobRow>> FindRequest(const std::string& request_id) const = 0;
  // NOT_FOUND for an unknown id.
  virtual StatusOr<JobRow> GetJob(const std::string& id, ReadPoints points) const = 0;
  // Newest first (descending index), without points.
  virtual StatusOr<std::vector<JobRow>> ListJobs(const ListQuery& query) const = 0;
  // QUEUED and RUNNING jobs, oldest first, without points.
  virtual StatusOr<std::vector<JobRow>> ActiveJobs() const = 0;
  // Ids of ended jobs that retention removes: those that ended before
  // `ended_before_ns` (0: none by age) and all but the newest `keep_newest`
  // ended ones (0: none by count), at most `limit`.
  virtual StatusOr<std::vector<std::string>> ExpiredJobs(int64_t ended_before_ns,
                                                         int64_t keep_newest, int limit) const = 0;
  // How many jobs are in each state.
  virtual StatusOr<std::map<v1::JobState, int64_t>> CountJobs() const = 0;
  // Deletes an ended job with its events and blobs. NOT_FOUND for an
  // unknown id, FAILED_PRECONDITION for a job that has not ended.
  virtual Status DeleteJob(const std::string& id) = 0;

  // --- events ---
  // Appends `event` (seq row.last_seq + 1, as stored) and replaces the
  // job's row fields (state, error, times and queued_ns, epochs_done, latest) with row's,
  // in one transaction, if the stored lease is still row.lease. On success
  // the stored last_seq is event.seq().
  virtual Status AppendEvent(const JobRow& row, const v1::JobEvent& event) = 0;
  // Events with seq >= from_seq in order, at most `limit` (none for an
  // unknown job).
  virtual StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& id, int64_t from_seq,
                                                         int limit) const = 0;

  // --- leases ---
  // Claims the next claimable job (see above) whose memory_bytes is at most
  // `max_memory_bytes` (< 0: any): sets it RUNNING (start_ns now if it was
  // QUEUED), owner, lease + 1 and lease_expires_ns = now + lease_ns, and
  // returns it with its points. nullopt when nothing is claimable, or when
  // the next job does not fit (it is not overtaken). Queued jobs go by
  // their aged priority (ClaimPolicy), highest first, then oldest first; a
  // QUEUED job whose creator already has policy.running's many RUNNING jobs
  // is passed over (the count and the claim are one transaction, atomic
  // across replicas). start_ns is set at the first claim only.
  virtual StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner,
                                                    int64_t max_memory_bytes, int64_t lease_ns,
                                                    const ClaimPolicy& policy) = 0;
  StatusOr<std::optional<JobRow>> ClaimNext(const std::string& owner, int64_t max_memory_bytes,
                                            int64_t lease_ns) {
    return ClaimNext(owner, max_memory_bytes, lease_ns, ClaimPolicy());
  }
  // Extends the lease to now + lease_ns. FAILED_PRECONDITION when the lease
  // is no longer `lease` (the job was taken over).
  virtual Status RenewLease(const std::string& id, int64_t lease, int64_t lease_ns) = 0;
  // Makes every RUNNING job claimable at once, as if its lease had expired:
  // for a store whose last holder is known to be dead (the embedded store
  // at start-up: its directory lock proves it). Where it can, the store
  // writes nothing for this (SqliteStore remembers the jobs in memory), so
  // a server restarts on a full disk.
  virtual Status ExpireAllLeases() = 0;

  // --- blobs ---
  virtual Status PutBlob(const BlobKey& key, const std::string& bytes) = 0;
  // NOT_FOUND when absent, DATA_LOSS when stored but unreadable.
  virtual StatusOr<std::string> GetBlob(const BlobKey& key) const = 0;
  // The epochs of the job's blobs of this kind, ascending.
  virtual StatusOr<std::vector<int64_t>> ListBlobs(const std::string& job_id,
                                                   BlobKind kind) const = 0;
  // OK when absent too.
  virtual Status DeleteBlob(const BlobKey& key) = 0;

  // --- tables ---
  // Stores the table (its index assigned here) and its bytes together,
  // unless row.id is stored already (then returns that row, inserted =
  // false). INVALID_ARGUMENT when row.id is not the SHA-256 hex of `bytes`
  // or row.size_bytes is not their size.
  virtual StatusOr<PutTableResult> PutTable(const TableRow& row, const std::string& bytes) = 0;
  // NOT_FOUND for an unknown id.
  virtual StatusOr<TableRow> GetTable(const std::string& id) const = 0;
  // The table's bytes. NOT_FOUND for an unknown id, DATA_LOSS when the
  // stored bytes do not hash to the id.
  virtual StatusOr<std::string> ReadTableBytes(const std::string& id) const = 0;
  // Newest first (descending index).
  virtual StatusOr<std::vector<TableRow>> ListTables(const TableListQuery& query) const = 0;
  // Deletes the table and its bytes. NOT_FOUND for an unknown id,
  // FAILED_PRECONDITION naming a QUEUED or RUNNING job that uses it.
  virtual Status DeleteTable(const std::string& id) = 0;

  // --- shared stores ---
  // True when other processes use the store at the same time (PgStore):
  // their jobs and events change under this one, its leases need renewing,
  // and ExpireAllLeases does nothing (a restarted replica cannot know that
  // another one's jobs are dead; their leases expire instead).
  virtual bool Shared() const { return false; }
  // Reaches the store: OK, or UNAVAILABLE naming why not.
  virtual Status Ping() const { return Status::Ok(); }
  // Marks a RUNNING job's cancel as requested and tells its owner
  // (StoreChange::kCancel). FAILED_PRECONDITION for a job that is not
  // RUNNING, NOT_FOUND for an unknown one.
  virtual Status RequestCancel(const std::string& id);
  // The RUNNING jobs `owner` holds whose cancel was requested.
  virtual StatusOr<std::vector<std::string>> CancelRequests(const std::string& owner) const;
  // Claims, to end it CANCELLED without training it, a RUNNING job whose
  // cancel was requested and whose lease has expired (its holder died or
  // stalled): like ClaimNext (owner, lease + 1, lease_expires_ns = now +
  // lease_ns), so the last holder is fenced out, but only such a job,
  // whatever its memory. `id`: that job only; "": the oldest such job.
  // nullopt when there is none (the lease still holds, the job ended, no
  // cancel was requested, or another process is claiming it). Exclusive
  // stores have none: their leases expire only by ExpireAllLeases.
  virtual StatusOr<std::optional<JobRow>> ClaimCancelled(const std::string& id,
                                                         const std::string& owner,
                                                         int64_t lease_ns);
  // Calls `fn` on a thread of the store's for each change another process
  // makes (as far as the store can tell; kResync when some may have been
  // missed); `fn` must not block. Subscribe(nullptr) stops the calls and
  // returns once none is in progress (call it before what `fn` uses goes).
  // Exclusive stores never call it.
  virtual void Subscribe(std::function<void(const StoreChange&)> fn) { (void)fn; }

  // --- sessions ---
  // Stores a new session. ALREADY_EXISTS when row.id_hash is stored already
  // (nothing changes), INVALID_ARGUMENT when it is not 64 lower-case hex
  // digits.
  virtual Status PutSession(const SessionRow& row) = 0;
  // NOT_FOUND when no session has this hash (never made, deleted, or swept
  // as expired). An expired row that is still stored is returned as it is:
  // the caller compares expires_ns with its clock.
  virtual StatusOr<SessionRow> GetSession(const std::string& id_hash) const = 0;
  // OK when absent too.
  virtual Status DeleteSession(const std::string& id_hash) = 0;
  // Deletes every session whose expires_ns <= now_ns; returns how many.
  virtual StatusOr<int64_t> DeleteExpiredSessions(int64_t now_ns) = 0;

  // --- audit log ---
  // Stores `row` with the next seq (returned) and, in the same transaction,
  // deletes the entries older than the newest `keep` (the log's bound).
  virtual StatusOr<int64_t> AppendAudit(const AuditRow& row, int64_t keep) = 0;
  // Newest first (descending seq).
  virtual StatusOr<std::vector<AuditRow>> ListAudit(const AuditQuery& query) const = 0;

  // --- webhooks ---
  // Stores a new webhook. ALREADY_EXISTS for a stored id,
  // RESOURCE_EXHAUSTED when row.principal has kMaxWebhooksPerPrincipal
  // already (the count and the insert are one transaction).
  virtual Status PutWebhook(const WebhookRow& row) = 0;
  // NOT_FOUND for an unknown id.
  virtual StatusOr<WebhookRow> GetWebhook(const std::string& id) const = 0;
  // Oldest first, with their pending counts: `principal`'s, or all ("").
  virtual StatusOr<std::vector<WebhookRow>> ListWebhooks(const std::string& principal) const = 0;
  // Deletes the webhook and all its deliveries. NOT_FOUND for an unknown id.
  virtual Status DeleteWebhook(const std::string& id) = 0;
  // The webhook's deliveries with seq < before_seq (0: from the newest),
  // newest first, at most `limit`.
  virtual StatusOr<std::vector<DeliveryRow>> ListDeliveries(const std::string& webhook_id,
                                                            int64_t before_seq,
                                                            int limit) const = 0;
  // Claims at most `limit` PENDING deliveries that are due (next_attempt_ns
  // <= now) and not claimed by another attempt (their lease, now +
  // lease_ns from the last claim, has expired; in an exclusive store, every
  // claim made before ExpireAllLeases has), oldest first: counts an
  // attempt, sets last_attempt_ns to now, and returns them with their
  // webhook's url and secret. AppendEvent stores them (the outbox): for
  // each webhook whose events and filters match the event (job ended, a new
  // best epoch, an alarm), a PENDING delivery with payload, due at once,
  // in the event's transaction; FAILED instead ("backlog full", and the
  // log trimmed as FinishDelivery does) when the webhook has
  // kMaxPendingDeliveries pending. Deliveries of `skip_webhooks` are
  // passed over (the caller's own in flight: one slow receiver holds one
  // worker, not all).
  virtual StatusOr<std::vector<DeliveryRow>> ClaimDeliveries(
      int64_t lease_ns, int limit, const std::vector<std::string>& skip_webhooks) = 0;
  // Records an attempt's outcome and returns the delivery's state after it
  // (v1::DeliveryState: PENDING for a retry, DELIVERED, FAILED once given
  // up), unless the delivery was claimed again since (its attempts differ)
  // or is gone (webhook deleted): then nothing is written and it returns
  // UNSPECIFIED (0). Deletes the webhook's ended deliveries beyond the
  // newest kKeepEndedDeliveries in the same transaction.
  virtual StatusOr<int> FinishDelivery(const DeliveryOutcome& outcome) = 0;

  // --- studies ---
  // Stores a new study (RUNNING, never claimed) and returns it with its
  // index. ALREADY_EXISTS for a stored id; RESOURCE_EXHAUSTED when
  // kMaxRunningStudies are RUNNING (the count and the insert are one
  // transaction).
  virtual StatusOr<StudyRow> InsertStudy(const StudyRow& row) = 0;
  // NOT_FOUND for an unknown id.
  virtual StatusOr<StudyRow> GetStudy(const std::string& id) const = 0;
  // Newest first (descending index).
  virtual StatusOr<std::vector<StudyRow>> ListStudies(const StudyQuery& query) const = 0;
  // Claims the oldest RUNNING study whose lease has expired (never claimed,
  // or its holder died; in an exclusive store also every claim made before
  // ExpireAllLeases), whose id is not in `skip`: lease + 1, holder, and
  // lease_expires_ns = now + lease_ns. nullopt when there is none.
  virtual StatusOr<std::optional<StudyRow>> ClaimStudy(const std::string& holder,
                                                       int64_t lease_ns,
                                                       const std::vector<std::string>& skip) = 0;
  // Extends the lease to now + lease_ns. FAILED_PRECONDITION when the lease
  // is no longer `lease` (taken over, or the study was ended by EndStudy).
  virtual Status RenewStudy(const std::string& id, int64_t lease, int64_t lease_ns) = 0;
  // Replaces the study's state, error, end_time and summary with row's
  // (fenced): FAILED_PRECONDITION, writing nothing, when the stored lease is
  // no longer row.lease or the study has ended.
  virtual Status UpdateStudy(const StudyRow& row) = 0;
  // Ends a RUNNING study with `state` and `error` at end_ns, whoever holds
  // it: the lease is incremented, so the holder is fenced out. The ended
  // row; FAILED_PRECONDITION for an ended study, NOT_FOUND for an unknown one.
  virtual StatusOr<StudyRow> EndStudy(const std::string& id, v1::JobState state,
                                      const std::string& error, int64_t end_ns) = 0;
  // Deletes an ended study's row (its jobs are deleted by the caller).
  // NOT_FOUND for an unknown id, FAILED_PRECONDITION for a RUNNING one.
  virtual Status DeleteStudy(const std::string& id) = 0;
};

// Deletes every trainer checkpoint of job `job_id` under `lease` (an ended
// job resumes nowhere; its generator snapshots stay). Best effort: a blob
// that cannot be deleted (a lost lease, a failing store) is left.
void DeleteCheckpoints(Store* store, const std::string& job_id, int64_t lease);

// A queued job's priority after waiting since row.queued_ns: a level more
// for every aging_ns (0: none), at most HIGH (3).
int AgedPriority(const JobRow& row, int64_t now_ns, int64_t aging_ns);

// Copies of the store's shared helpers.
//
// The spec without a USER dataset's values (dim kept).
v1::JobSpec WithoutPoints(const v1::JobSpec& spec);
// The table a job's spec uses ("" for none).
const std::string& TableIdOf(const v1::JobSpec& spec);
// PutTable's precondition: OK, or INVALID_ARGUMENT saying which part of the
// row does not match `bytes`.
Status CheckTableRow(const TableRow& row, const std::string& bytes);
// ReadTableBytes' check: OK, or DATA_LOSS naming the table.
Status CheckTableBytes(const std::string& id, const std::string& bytes);
// The messages every store uses.
Status TableNotFound(const std::string& id);
Status TableInUse(const std::string& table_id, const std::string& job_id, v1::JobState state);
Status JobTableNotFound(const std::string& table_id);
// Whether `event` can cause a webhook delivery (a terminal state, an epoch
// that became the best, an epoch that raised an alarm): the stores read the
// webhooks only then.
bool MayNotifyWebhooks(const v1::JobEvent& event);
// The deliveries that `event` of job `row` (its row after the event) causes
// for `hooks`, PENDING and due at now_ns, with their payloads; seq unset.
std::vector<DeliveryRow> WebhookDeliveries(const std::vector<WebhookRow>& hooks, const JobRow& row,
                                           const v1::JobEvent& event, int64_t now_ns);
// A delivery stored FAILED at once because its webhook's backlog is full.
void MarkBacklogFull(DeliveryRow* row);
// What FinishDelivery stores for outcome `o` of a delivery created at
// create_ns: state, last_status, last_error and next_attempt_ns.
DeliveryRow NextDeliveryState(const DeliveryOutcome& o, int64_t create_ns, int64_t now_ns);
// PutWebhook's bound: OK, or RESOURCE_EXHAUSTED (a quota refusal) when
// `principal` has kMaxWebhooksPerPrincipal webhooks.
Status CheckWebhookCount(const std::string& principal, int64_t count);
Status WebhookNotFound(const std::string& id);
Status StudyNotFound(const std::string& id);
// The messages of InsertStudy's bound and of UpdateStudy's and EndStudy's
// refusals.
Status TooManyStudies(int64_t running);
Status StudyFenced(const std::string& id);
Status StudyEnded(const std::string& id, v1::JobState state);
// DeleteStudy's refusal of a study that has not ended.
Status StudyNotEnded(const std::string& id, v1::JobState state);
// The stores' shared rules: a write under `lease` to `row` is refused
// when the study ended (StudyEnded) or was taken over (StudyFenced);
// UpdateStudy copies state, error, end_time (cleared when unset) and
// summary from `from`; EndStudy ends `row` and increments its lease.
Status CheckStudyHeld(const StudyRow& row, int64_t lease);
void ApplyStudyUpdate(const v1::Study& from, v1::Study* to);
void EndStudyRow(v1::JobState state, const std::string& error, int64_t end_ns, StudyRow* row);
// What a shared store keeps of a study: it without trials, serialized.
std::string StudyBody(const v1::Study& study);
// PutSession's precondition: OK, or INVALID_ARGUMENT.
Status CheckSessionRow(const SessionRow& row);
Status SessionNotFound();

}  // namespace gantry
