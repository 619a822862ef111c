#include "server/store/store.h"

#include <algorithm>

#include "server/util/safe_text.h"
#include "server/util/sha256.h"

namespace gantry {

const char* BlobKindName(BlobKind kind) {
  return kind == BlobKind::kCheckpoint ? "checkpoint" : "snapshot";
}

v1::JobSpec WithoutPoints(const v1::JobSpec& spec) {
  v1::JobSpec out = spec;
  if (out.dataset().points().values_size() > 0)
    out.mutable_dataset()->mutable_points()->clear_values();
  return out;
}

Status Store::RequestCancel(const std::string& id) {
  return Status::FailedPrecondition("job " + id + ": this store is not shared; cancel it where it runs");
}

StatusOr<std::vector<std::string>> Store::CancelRequests(const std::string&) const {
  return std::vector<std::string>{};
}

StatusOr<std::optional<JobRow>> Store::ClaimCancelled(const std::string&, const std::string&,
                                                      int64_t) {
  return std::optional<JobRow>{};
}

void DeleteCheckpoints(Store* store, const std::string& job_id, int64_t lease) {
  auto epochs = store->ListBlobs(job_id, BlobKind::kCheckpoint);
  if (!epochs.ok()) return;
  // Best effort (see store.h): a checkpoint left behind only takes space.
  for (int64_t e : *epochs) (void)store->DeleteBlob({job_id, BlobKind::kCheckpoint, e, lease});
}

const std::string& TableIdOf(const v1::JobSpec& spec) { return spec.dataset().table().table_id(); }

Status CheckTableRow(const TableRow& row, const std::string& bytes) {
  if (row.size_bytes != static_cast<int64_t>(bytes.size())) {
    return Status::InvalidArgument("table " + row.id + ": size_bytes " +
                                   std::to_string(row.size_bytes) + " is not the size of its " +
                                   std::to_string(bytes.size()) + " bytes");
  }
  if (row.id != Sha256Hex(bytes)) {
    return Status::InvalidArgument("table id '" + row.id +
                                   "' is not the SHA-256 of its bytes (" + Sha256Hex(bytes) + ")");
  }
  return Status::Ok();
}

Status CheckTableBytes(const std::string& id, const std::string& bytes) {
  if (Sha256Hex(bytes) == id) return Status::Ok();
  return Status::DataLoss("table " + id + ": its stored bytes do not match its SHA-256 (corrupted)");
}

Status TableNotFound(const std::string& id) {
  return Status::NotFound("table " + SafeText(id) + " not found");
}

Status TableInUse(const std::string& table_id, const std::string& job_id, v1::JobState state) {
  return Status::FailedPrecondition(
      "table " + table_id + " is used by job " + job_id + ", which is " +
      (state == v1::JOB_STATE_RUNNING ? "RUNNING" : "QUEUED") +
      "; cancel it or wait for it to end before deleting the table");
}

Status JobTableNotFound(const std::string& table_id) {
  return Status::NotFound("dataset.table.table_id: table " + SafeText(table_id) +
                          " not found (upload it first: UploadTable, gantry data push)");
}

Status CheckSessionRow(const SessionRow& row) {
  if (!IsSha256Hex(row.id_hash)) {
    return Status::InvalidArgument("session: the id hash is not 64 lower-case hex digits");
  }
  return Status::Ok();
}

// Never names the hash: a log line must not help anyone find a row.
Status SessionNotFound() { return Status::NotFound("session not found"); }

int AgedPriority(const JobRow& row, int64_t now_ns, int64_t aging_ns) {
  int64_t p = row.priority;
  if (aging_ns > 0 && now_ns > row.queued_ns) p += (now_ns - row.queued_ns) / aging_ns;
  return static_cast<int>(std::min<int64_t>(p, v1::PRIORITY_HIGH));
}

}  // namespace gantry
