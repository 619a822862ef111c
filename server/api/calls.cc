#include "server/api/calls.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <random>

#include "core/errors.h"
#include "core/export.h"
#include "core/table_codec.h"
#include "server/metrics.h"
#include "server/jobs/convert.h"
#include "server/jobs/table_jobs.h"
#include "server/util/mutex.h"
#include "server/util/clock.h"
#include "server/util/page_token.h"
#include "server/util/safe_text.h"

namespace gantry {
namespace {

std::atomic<int64_t> open_streams{0};

// Shape checks: what a request must look like before the jobs domain sees
// it (the domain answers what the request means).
constexpr size_t kMaxNameChars = 200;

// Characters (UTF-8 code points), not bytes: 200 emoji are a valid name.
size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Status CheckJobId(const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("job_id: must not be empty");
  return Status::Ok();
}

Status CheckName(const char* field, const std::string& value) {
  const size_t chars = Utf8Length(value);
  if (chars > kMaxNameChars || value.size() > 4 * kMaxNameChars) {
    return Status::InvalidArgument(std::string(field) + ": " + std::to_string(chars) +
                                   " characters is out of range 0.." +
                                   std::to_string(kMaxNameChars));
  }
  return Status::Ok();
}

Status CheckView(v1::JobView view) {
  if (v1::JobView_IsValid(view)) return Status::Ok();
  return Status::InvalidArgument("view: " + std::to_string(view) + " is not a JobView");
}

// Mapping the domain's rows to the API's messages.
constexpr int kDefaultPageSize = 100;

// A stored job as gantry.v1.Job: a USER dataset's points only in the FULL
// view (the row must have been read with them), a table job's schema once
// (in Job.table_schema; none in SUMMARY), the latest epoch's report (its
// preview points not in SUMMARY) and best epoch.
v1::Job JobToProto(const JobRow& r, v1::JobView view) {
  v1::Job out;
  out.set_id(r.id);
  out.set_name(r.name);
  out.set_state(r.state);
  *out.mutable_spec() = r.spec;
  const bool user = r.spec.dataset().kind() == v1::DATASET_KIND_USER;
  if (user && view != v1::JOB_VIEW_FULL) {
    out.mutable_spec()->mutable_dataset()->mutable_points()->clear_values();
    out.set_points_omitted(true);
  }
  if (r.spec.dataset().kind() == v1::DATASET_KIND_TABLE) {
    // The effective schema once, in Job.table_schema (the spec's copy is output only).
    if (view != v1::JOB_VIEW_SUMMARY) {
      out.mutable_table_schema()->Swap(out.mutable_spec()->mutable_dataset()->mutable_table()->mutable_schema());
    }
    out.mutable_spec()->mutable_dataset()->mutable_table()->clear_schema();
  }
  out.set_dataset_rows(r.dataset_rows);
  out.set_epochs_done(r.epochs_done);
  if (r.epochs_done > 0 && r.latest) {
    *out.mutable_latest() = *r.latest;
    if (view == v1::JOB_VIEW_SUMMARY) out.mutable_latest()->clear_preview();
    out.set_best_epoch(r.latest->best_epoch());
    if (r.latest->has_best_metrics()) *out.mutable_best_metrics() = r.latest->best_metrics();
    out.set_stop_reason(r.latest->stop_reason());
    *out.mutable_alarms() = r.latest->alarms();
  }
  out.set_error(r.error);
  SetTimestamp(r.create_ns, out.mutable_create_time());
  if (r.start_ns != 0) SetTimestamp(r.start_ns, out.mutable_start_time());
  if (r.end_ns != 0) SetTimestamp(r.end_ns, out.mutable_end_time());
  out.set_last_seq(r.last_seq);
  out.set_memory_estimate_bytes(r.memory_bytes);
  out.mutable_labels()->insert(r.labels.begin(), r.labels.end());
  out.set_owner(r.created_by);
  out.set_priority(static_cast<v1::Priority>(r.priority));
  return out;
}

uint64_t RandomSeed() {
  static Mutex mu;
  static std::mt19937_64 rng GUARDED_BY(mu){std::random_device{}()};
  MutexLock lock(&mu);
  return rng();
}

}  // namespace

Status FillSample(const SamplePlan& plan, int64_t offset, int64_t count, v1::SampleResponse* out) {
  out->set_seed(plan.seed);
  out->set_epoch(plan.snapshot->epoch());
  out->set_offset(offset);
  if (plan.rows) {
    std::vector<std::vector<double>> columns;
    try {
      GANTRY_RETURN_IF_ERROR(plan.rows->Next(count, &columns));
    } catch (const std::exception& e) {  // a LibTorch error: never past the pool's thread
      return StatusFromException("sampling table rows", e);
    }
    RowsToProto(plan.snapshot->table()->schema(), columns, out->mutable_rows());
    return Status::Ok();
  }
  v1::Points* points = out->mutable_points();
  points->set_dim(static_cast<int32_t>(plan.snapshot->data_dim()));
  points->mutable_values()->Resize(static_cast<int>(count * plan.snapshot->data_dim()), 0.0f);
  plan.snapshot->SampleInto(plan.seed, offset, count, points->mutable_values()->mutable_data());
  return Status::Ok();
}

grpc::Status Calls::Authenticate(const std::optional<std::string_view>& authorization,
                                 Principal* who, std::string_view client_cert) const {
  if (!principals_) {
    if (who != nullptr) *who = OpenServerCaller();
    return grpc::Status::OK;
  }
  if (!authorization && !client_cert.empty()) {
    const std::shared_ptr<const Principals> known = principals_();
    std::optional<Principal> found = known ? known->FindCertificate(client_cert) : std::nullopt;
    if (!found) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the client certificate '" + SafeText(client_cert, 255) +
                              "' names no principal");
    }
    if (who != nullptr) *who = std::move(*found);
    return grpc::Status::OK;
  }
  if (!authorization) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing 'authorization: Bearer <token>' metadata");
  }
  // "Bearer <token>": the scheme in any case (RFC 7235), then the token.
  std::string_view value = *authorization;
  const size_t space = value.find(' ');
  std::string scheme(value.substr(0, space));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer" || space == std::string_view::npos) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token");
  }
  value.remove_prefix(space);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  // Looked up by the token's SHA-256: what is compared is a digest, which
  // tells a guesser nothing about how close the guess was.
  const std::shared_ptr<const Principals> known = principals_();
  std::optional<Principal> found = known ? known->Find(value) : std::nullopt;
  if (!found) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token");
  if (who != nullptr) *who = std::move(*found);
  return grpc::Status::OK;
}

std::optional<Principal> Calls::SessionCaller(std::string_view stored) const {
  if (!principals_) return OpenServerCaller();
  const std::shared_ptr<const Principals> known = principals_();
  return known ? known->FindSession(stored) : std::nullopt;
}

Status Calls::Authorize(const Principal& who, Action what, std::string_view action,
                        const std::string& target, std::string_view owner,
                        std::string_view ownerless) const {
  if (Allowed(who, what, owner)) return Status::Ok();
  std::string why =
      std::string(action) + ": " + RoleName(who.role) + " '" + who.name + "' may not ";
  switch (what) {
    case Action::kRead: why += "read"; break;
    case Action::kCreate: why += "create jobs, tables or webhooks"; break;
    case Action::kCancel:
    case Action::kDelete:
      why += what == Action::kCancel ? "cancel " : "delete ";
      if (who.role == Role::kViewer) {
        why += "anything (viewers only read)";
      } else if (owner.empty()) {
        why += target.empty() ? "this" : SafeText(target);
        why += ": ";
        why += ownerless;
      } else {
        why += "job " + SafeText(target) + ", which belongs to '" + std::string(owner) +
               "' (members act on their own jobs only)";
      }
      break;
  }
  Status denied = Status::PermissionDenied(std::move(why));
  Audit(who, action, target, denied, /*allowed=*/false);
  return denied;
}

void Calls::Audit(const Principal& who, std::string_view action, const std::string& target,
                  const Status& outcome, bool allowed) const {
  if (store_ == nullptr) return;
  AuditRow row;
  row.time_ns = NowNs();
  row.principal = who.name;
  row.role = RoleName(who.role);
  row.action = std::string(action);
  row.target = SafeText(target, 256);  // a refused call's id is the client's text
  row.allowed = allowed;
  row.code = StatusCodeName(outcome.code());
  row.message = SafeText(outcome.message(), 300);
  const auto stored = store_->AppendAudit(row, kAuditKeep);
  if (!stored.ok()) {
    spdlog::error("audit: cannot store {} {} by '{}' ({}): {}", row.action, SafeText(row.target),
                  SafeText(row.principal), row.code, stored.status().ToString());
    if (metrics_ != nullptr) metrics_->AuditFailed();
  }
}

bool Calls::Offload(std::function<void()> task) const {
  if (pool_ == nullptr) {
    task();
    return true;
  }
  return pool_->Submit(std::move(task));
}

bool Calls::Continue(std::function<void()> task) const {
  if (pool_ == nullptr) {
    task();
    return true;
  }
  return pool_->Continue(std::move(task));
}

Status Calls::Busy() const {
  return Status::ResourceExhausted(
      "the server is busy: " + std::to_string(pool_ == nullptr ? 0 : pool_->max_queued()) +
      " sample, dataset, report and export requests are waiting; retry later");
}

std::optional<std::string> Calls::NotServing() const {
  if (starting_.load()) return std::string("the server is starting");
  if (manager_->draining()) return std::string("the server is shutting down");
  if (store_ != nullptr) {
    if (auto trouble = store_->Trouble()) return "the store is failing: " + *trouble;
  }
  return std::nullopt;
}

StatusOr<v1::Job> Calls::CreateJob(const Principal& who, const v1::CreateJobRequest& request) {
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kCreate, "CreateJob", "", ""));
  auto created = CreateJobAs(who, request);
  Audit(who, "CreateJob", created.ok() ? created->id() : std::string(), created.status());
  return created;
}

StatusOr<v1::Job> Calls::CreateJobAs(const Principal& who, const v1::CreateJobRequest& request) {
  GANTRY_RETURN_IF_ERROR(CheckName("name", request.name()));
  GANTRY_RETURN_IF_ERROR(CheckName("request_id", request.request_id()));
  NewJob job;
  job.spec = request.spec();
  job.name = request.name();
  job.request_id = request.request_id();
  job.labels = Labels(request.labels().begin(), request.labels().end());
  job.created_by = who.name;
  job.quota = who.quota;
  if (!v1::Priority_IsValid(request.priority())) {
    return Status::InvalidArgument("priority: " + std::to_string(request.priority()) +
                                   " is not a Priority (LOW, NORMAL, HIGH)");
  }
  job.priority =
      request.priority() == v1::PRIORITY_UNSPECIFIED ? v1::PRIORITY_NORMAL : request.priority();
  auto row = manager_->Create(job);
  if (!row.ok()) return row.status();
  return JobToProto(*row, v1::JOB_VIEW_BASIC);
}

StatusOr<v1::Job> Calls::GetJob(const v1::GetJobRequest& request) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(request.job_id()));
  GANTRY_RETURN_IF_ERROR(CheckView(request.view()));
  auto row = manager_->Get(request.job_id(), request.view() == v1::JOB_VIEW_FULL
                                                  ? ReadPoints::kYes
                                                  : ReadPoints::kNo);
  if (!row.ok()) return row.status();
  return JobToProto(*row, request.view());
}

StatusOr<v1::ListSnapshotsResponse> Calls::ListSnapshots(const v1::ListSnapshotsRequest& request) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(request.job_id()));
  auto listed = manager_->ListSnapshots(request.job_id());
  if (!listed.ok()) return listed.status();
  v1::ListSnapshotsResponse out;
  out.mutable_epochs()->Add(listed->epochs.begin(), listed->epochs.end());
  out.set_best_epoch(listed->best_epoch);
  return out;
}

v1::ServerInfo Calls::GetServerInfo(const Principal& who) const {
  v1::ServerInfo out;
  {
    MutexLock lock(&info_mu_);
    out = server_info_;
  }
  if (principals_) {
    out.set_principal(who.name);
    out.set_role(RoleName(who.role));
  }
  return out;
}

void Calls::set_server_info(v1::ServerInfo info) {
  MutexLock lock(&info_mu_);
  server_info_ = std::move(info);
}

StatusOr<v1::ListJobsResponse> Calls::ListJobs(const v1::ListJobsRequest& request) const {
  auto page_size = PageSize(request.page_size(), kMaxJobsPageSize, kDefaultPageSize);
  if (!page_size.ok()) return page_size.status();
  if (!v1::JobState_IsValid(request.state())) {
    return Status::InvalidArgument("state: " + std::to_string(request.state()) +
                                   " is not a JobState");
  }
  GANTRY_RETURN_IF_ERROR(CheckView(request.view()));
  JobsQuery query;
  query.state = request.state();
  query.label_selector = request.label_selector();
  query.created_by = request.owner();
  query.page_size = *page_size;
  auto before = PageBefore(request.page_token());
  if (!before.ok()) return before.status();
  query.before_index = *before;
  auto rows = manager_->List(query);
  if (!rows.ok()) return rows.status();
  v1::ListJobsResponse out;
  size_t bytes = 0;
  for (JobRow& row : *rows) {
    if (out.jobs_size() == query.page_size) {
      out.set_next_page_token(MakePageToken(row.index));
      break;
    }
    if (request.view() == v1::JOB_VIEW_FULL && row.spec.dataset().kind() == v1::DATASET_KIND_USER) {
      // The points one job at a time, so that a page stops at its bytes
      // before reading the next job's.
      auto full = manager_->Get(row.id, ReadPoints::kYes);
      if (!full.ok()) {
        if (full.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
        return full.status();
      }
      row = std::move(full).value();
    }
    v1::Job job = JobToProto(row, request.view());
    if (!PageTakes(out.jobs_size(), job.ByteSizeLong(), &bytes)) {
      out.set_next_page_token(MakePageToken(row.index));  // the rest on the next page
      break;
    }
    *out.add_jobs() = std::move(job);
  }
  return out;
}

Status Calls::AuthorizeOnJob(const Principal& who, Action what, const char* action,
                             const std::string& job_id) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(job_id));
  if (who.role == Role::kAdmin) return Status::Ok();
  std::string owner;
  if (who.role != Role::kViewer) {
    // The owner never changes: reading it before acting leaves no gap.
    auto row = manager_->Get(job_id, ReadPoints::kNo);
    if (!row.ok()) return row.status();
    owner = row->created_by;
  }
  return Authorize(who, what, action, job_id, owner);
}

StatusOr<v1::Job> Calls::CancelJob(const Principal& who, const v1::CancelJobRequest& request) {
  GANTRY_RETURN_IF_ERROR(AuthorizeOnJob(who, Action::kCancel, "CancelJob", request.job_id()));
  auto row = manager_->Cancel(request.job_id());
  Audit(who, "CancelJob", request.job_id(), row.status());
  if (!row.ok()) return row.status();
  return JobToProto(*row, v1::JOB_VIEW_BASIC);
}

StatusOr<v1::DeleteJobResponse> Calls::DeleteJob(const Principal& who,
                                                 const v1::DeleteJobRequest& request) {
  GANTRY_RETURN_IF_ERROR(AuthorizeOnJob(who, Action::kDelete, "DeleteJob", request.job_id()));
  const Status deleted = manager_->Delete(request.job_id());
  Audit(who, "DeleteJob", request.job_id(), deleted);
  GANTRY_RETURN_IF_ERROR(deleted);
  return v1::DeleteJobResponse();
}

StatusOr<v1::ListAuditResponse> Calls::ListAudit(const Principal& who,
                                                 const v1::ListAuditRequest& request) const {
  auto page = PageSize(request.page_size(), kMaxJobsPageSize, kDefaultPageSize);
  if (!page.ok()) return page.status();
  if (store_ == nullptr) return Status::FailedPrecondition("this server keeps no audit log");
  AuditQuery query;
  query.principal = request.principal();
  query.target = request.target();
  if (who.role != Role::kAdmin) {
    if (!query.principal.empty() && query.principal != who.name) {
      return Status::PermissionDenied("ListAudit: " + std::string(RoleName(who.role)) + " '" +
                                      who.name + "' may read only its own audit entries");
    }
    query.principal = who.name;
  }
  const int page_size = *page;
  query.limit = page_size + 1;
  auto before = PageBefore(request.page_token(), "ListAudit");
  if (!before.ok()) return before.status();
  query.before_seq = *before;
  auto rows = store_->ListAudit(query);
  if (!rows.ok()) return rows.status();
  v1::ListAuditResponse out;
  for (const AuditRow& row : *rows) {
    if (out.entries_size() == page_size) {
      out.set_next_page_token(MakePageToken(row.seq));
      break;
    }
    v1::AuditEntry* e = out.add_entries();
    e->set_seq(row.seq);
    SetTimestamp(row.time_ns, e->mutable_time());
    e->set_principal(row.principal);
    e->set_role(row.role);
    e->set_action(row.action);
    e->set_target(row.target);
    e->set_allowed(row.allowed);
    e->set_code(row.code);
    e->set_message(row.message);
  }
  return out;
}

StatusOr<v1::GetDatasetResponse> Calls::GetDataset(const v1::GetDatasetRequest& request) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(request.job_id()));
  return manager_->Dataset(request.job_id(), request.max_points());
}

StatusOr<SamplePlan> Calls::PlanSample(const v1::SampleRequest& req, bool unary,
                                       std::optional<SnapshotChoice>* chosen,
                                       bool from_memory) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(req.job_id()));
  const int64_t limit = manager_->options().max_sample_points;
  if (req.count() < 1 || req.count() > limit) {
    const std::string msg =
        "count: " + std::to_string(req.count()) + " is out of range 1.." + std::to_string(limit);
    if (req.count() > limit) return Status::ResourceExhausted(msg + " (--max-sample-points)");
    return Status::InvalidArgument(msg);
  }
  std::optional<SnapshotChoice> here;
  std::optional<SnapshotChoice>& choice = chosen != nullptr ? *chosen : here;
  if (!choice) {
    std::optional<int64_t> epoch;
    if (req.has_epoch()) epoch = req.epoch();
    auto chose = manager_->ChooseSnapshot(req.job_id(), epoch, req.best());
    if (!chose.ok()) return chose.status();
    choice = std::move(chose).value();
  }
  if (from_memory && choice->snapshot == nullptr) return SamplePlan{};  // not in memory
  auto snapshot = manager_->LoadSnapshot(*choice);
  if (!snapshot.ok()) return snapshot.status();
  SamplePlan plan;
  plan.snapshot = *snapshot;
  plan.count = req.count();
  plan.seed = req.has_seed() ? req.seed() : RandomSeed();
  if (plan.snapshot->table()) {
    const TableSchema& schema = plan.snapshot->table()->schema();
    if (req.where_size() > static_cast<int>(schema.columns.size())) {
      return Status::InvalidArgument("where: " + std::to_string(req.where_size()) +
                                     " conditions for " + std::to_string(schema.columns.size()) + " columns");
    }
    std::vector<std::pair<std::string, std::string>> where;
    for (const v1::Condition& c : req.where()) where.emplace_back(c.column(), c.value());
    auto conditions = ParseConditions(schema, where);
    if (!conditions.ok()) return conditions.status();
    const int64_t row_bytes = RowBytes(schema);
    if (unary && plan.count * row_bytes > kMaxUnaryRowBytes) {
      return Status::ResourceExhausted(
          "count: " + std::to_string(plan.count) + " rows of this table may take " +
          std::to_string(plan.count * row_bytes) + " bytes, over Sample's limit of " +
          std::to_string(kMaxUnaryRowBytes) + " bytes per message; use SampleStream");
    }
    plan.chunk = std::max<int64_t>(1, kStreamChunkBytes / row_bytes);
    plan.rows = std::make_shared<TableRowStream>(plan.snapshot, plan.seed, std::move(conditions).value(), 0,
                                                 plan.count);
    return plan;
  }
  if (req.where_size() > 0) {
    return Status::InvalidArgument("where: conditions apply to table jobs only");
  }
  plan.chunk = std::max<int64_t>(1, kStreamChunkBytes / 4 / plan.snapshot->data_dim());
  const int64_t values = plan.count * plan.snapshot->data_dim();
  if (unary && values > kMaxUnarySampleValues) {
    return Status::ResourceExhausted(
        "count: " + std::to_string(plan.count) + " points of dimension " +
        std::to_string(plan.snapshot->data_dim()) + " is " + std::to_string(values) +
        " values, over Sample's limit of " + std::to_string(kMaxUnarySampleValues) +
        " values per message; use SampleStream");
  }
  return plan;
}

StatusOr<v1::SampleResponse> Calls::Sample(const v1::SampleRequest& request,
                                           const std::optional<SnapshotChoice>& chosen) const {
  std::optional<SnapshotChoice> choice = chosen;
  auto plan = PlanSample(request, /*unary=*/true, &choice);
  if (!plan.ok()) return plan.status();
  v1::SampleResponse response;
  GANTRY_RETURN_IF_ERROR(FillSample(*plan, 0, plan->count, &response));
  CountPoints(plan->count);
  return response;
}

std::optional<StatusOr<v1::SampleResponse>> Calls::QuickSample(
    const v1::SampleRequest& request, std::optional<SnapshotChoice>* chosen) const {
  if (request.count() < 1 || request.count() > kSampleBlock) return std::nullopt;
  auto plan = PlanSample(request, /*unary=*/true, chosen, /*from_memory=*/true);
  if (!plan.ok() || plan->snapshot == nullptr || !plan->snapshot->QuickToSample(plan->count)) {
    return std::nullopt;  // errors too: Sample answers them
  }
  v1::SampleResponse response;
  GANTRY_RETURN_IF_ERROR(FillSample(*plan, 0, plan->count, &response));
  CountPoints(plan->count);
  return response;
}

StatusOr<SamplePlan> Calls::PlanSampleStream(const v1::SampleRequest& request) const {
  return PlanSample(request, /*unary=*/false);
}

StatusOr<std::unique_ptr<EventCursor>> Calls::WatchJob(const v1::WatchJobRequest& request) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(request.job_id()));
  if (request.from_seq() < 0) {
    return Status::InvalidArgument("from_seq: " + std::to_string(request.from_seq()) +
                                   " is out of range 0..");
  }
  return manager_->Watch(request.job_id(), request.from_seq());
}

StatusOr<ExportedGenerator> Calls::ExportGenerator(
    const v1::ExportGeneratorRequest& request) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(request.job_id()));
  std::optional<int64_t> epoch;
  if (request.has_epoch()) epoch = request.epoch();
  auto snapshot = manager_->Snapshot(request.job_id(), epoch, request.best());
  if (!snapshot.ok()) return snapshot.status();
  auto bytes = ExportTorchScript(**snapshot);
  if (!bytes.ok()) return bytes.status();
  return ExportedGenerator{std::move(bytes).value(), (*snapshot)->epoch()};
}

StatusOr<v1::TableReport> Calls::GetTableReport(const v1::GetTableReportRequest& request) const {
  GANTRY_RETURN_IF_ERROR(CheckJobId(request.job_id()));
  std::optional<int64_t> epoch;
  if (request.has_epoch()) epoch = request.epoch();
  return manager_->TableReport(request.job_id(), epoch);
}

namespace {

Status NoTables() {
  return Status::FailedPrecondition("this server does not serve tables");
}

}  // namespace

StatusOr<std::unique_ptr<Tables::Upload>> Calls::StartTableUpload(const Principal& who) {
  if (tables_ == nullptr) return NoTables();
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kCreate, "UploadTable", "", ""));
  if (manager_->draining()) return Status::Unavailable("the server is shutting down");
  return tables_->StartUpload();
}

StatusOr<v1::TableInfo> Calls::FinishTableUpload(const Principal& who, Tables::Upload& upload) {
  if (tables_ == nullptr) return NoTables();
  auto info = tables_->Finish(upload);
  Audit(who, "UploadTable", info.ok() ? info->id() : std::string(), info.status());
  return info;
}

StatusOr<v1::TableInfo> Calls::UploadTable(const Principal& who, const std::string& name,
                                           const std::string& delimiter, const std::string& bytes) {
  if (tables_ == nullptr) return NoTables();
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kCreate, "UploadTable", "", ""));
  if (manager_->draining()) return Status::Unavailable("the server is shutting down");
  auto info = tables_->Put(name, delimiter, bytes);
  Audit(who, "UploadTable", info.ok() ? info->id() : std::string(), info.status());
  return info;
}

StatusOr<v1::TableInfo> Calls::GetTable(const v1::GetTableRequest& request) const {
  if (tables_ == nullptr) return NoTables();
  return tables_->Get(request.table_id());
}

StatusOr<v1::ListTablesResponse> Calls::ListTables(const v1::ListTablesRequest& request) const {
  if (tables_ == nullptr) return NoTables();
  return tables_->List(request);
}

StatusOr<v1::DeleteTableResponse> Calls::DeleteTable(const Principal& who,
                                                     const v1::DeleteTableRequest& request) {
  if (tables_ == nullptr) return NoTables();
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kDelete, "DeleteTable", request.table_id(), "",
                                   "tables have no owner (one file is one table, whoever "
                                   "uploaded it), so only admins delete them"));
  const Status deleted = tables_->Delete(request.table_id());
  Audit(who, "DeleteTable", request.table_id(), deleted);
  GANTRY_RETURN_IF_ERROR(deleted);
  return v1::DeleteTableResponse();
}

void Calls::Log(const char* method, const std::string& job_id, const grpc::Status& status,
                Clock::time_point start) const {
  if (metrics_ != nullptr) metrics_->Rpc(method, static_cast<int>(status.error_code()));
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  // The id and the message may carry what a client sent: escaped and cut.
  const std::string id = job_id.empty() ? "-" : SafeText(job_id);
  if (status.ok()) {
    spdlog::info("rpc {} job={} OK {:.1f}ms", method, id, ms);
  } else {
    spdlog::info("rpc {} job={} code={} {:.1f}ms: {}", method, id,
                 static_cast<int>(status.error_code()), ms, SafeText(status.error_message(), 512));
  }
}

void Calls::CountPoints(int64_t count) const {
  if (metrics_ != nullptr) metrics_->PointsSampled(count);
}

void Calls::StreamOpened() const {
  open_streams.fetch_add(1);
  if (metrics_ != nullptr) metrics_->WatchOpened();
}

void Calls::StreamClosed() const {
  open_streams.fetch_sub(1);
  if (metrics_ != nullptr) metrics_->WatchClosed();
}

int64_t Calls::OpenStreams() { return open_streams.load(); }

}  // namespace gantry
