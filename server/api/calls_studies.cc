// Calls' study methods (calls.h): the Study resource over StudyManager
// (server/studies/study_manager.h), with roles and the audit log.
#include "server/api/calls.h"
#include "server/util/page_token.h"
#include "server/util/safe_text.h"

namespace gantry {
namespace {

Status NoStudies() { return Status::FailedPrecondition("this server runs no studies"); }

Status CheckStudyId(const std::string& id) {
  if (id.empty()) return Status::InvalidArgument("study_id is required");
  if (id.size() > 64) return Status::InvalidArgument("study_id: longer than 64 characters");
  return Status::Ok();
}

}  // namespace

StatusOr<StudyRow> Calls::OwnStudy(const Principal& who, Action what, const char* action,
                                   const std::string& id) const {
  if (studies_ == nullptr || store_ == nullptr) return NoStudies();
  GANTRY_RETURN_IF_ERROR(CheckStudyId(id));
  auto row = store_->GetStudy(id);
  if (row.status().code() == StatusCode::kNotFound) return StudyNotFound(SafeText(id, 64));
  if (!row.ok()) return row.status();
  if (Allowed(who, what, row->study.owner())) return row;
  Status denied = Status::PermissionDenied(
      std::string(action) + ": " + RoleName(who.role) + " '" + who.name + "' may not act on study " +
      id + (row->study.owner().empty() ? ", which has no owner (only admins act on it)"
                                       : ", which belongs to '" + row->study.owner() +
                                             "' (members act on their own studies only)"));
  Audit(who, action, id, denied, /*allowed=*/false);
  return denied;
}

StatusOr<v1::Study> Calls::CreateStudy(const Principal& who, const v1::CreateStudyRequest& request) {
  if (studies_ == nullptr) return NoStudies();
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kCreate, "CreateStudy", "", ""));
  auto created = studies_->Create(request, who.name);
  Audit(who, "CreateStudy", created.ok() ? created->id() : std::string(), created.status());
  return created;
}

StatusOr<v1::Study> Calls::GetStudy(const v1::GetStudyRequest& request) const {
  if (studies_ == nullptr) return NoStudies();
  GANTRY_RETURN_IF_ERROR(CheckStudyId(request.study_id()));
  auto study = studies_->Get(request.study_id());
  if (study.status().code() == StatusCode::kNotFound) return StudyNotFound(SafeText(request.study_id(), 64));
  return study;
}

StatusOr<v1::ListStudiesResponse> Calls::ListStudies(const v1::ListStudiesRequest& request) const {
  if (studies_ == nullptr) return NoStudies();
  auto page = PageSize(request.page_size(), kMaxJobsPageSize);
  if (!page.ok()) return page.status();
  auto before = PageBefore(request.page_token(), "ListStudies");
  if (!before.ok()) return before.status();
  StudyQuery query;
  query.before_index = *before;
  query.limit = *page + 1;
  query.owner = request.owner();
  auto rows = studies_->List(query);
  if (!rows.ok()) return rows.status();
  v1::ListStudiesResponse out;
  for (const StudyRow& row : *rows) {
    if (out.studies_size() == *page) {
      out.set_next_page_token(MakePageToken(row.index));
      break;
    }
    *out.add_studies() = row.study;
  }
  return out;
}

StatusOr<v1::Study> Calls::CancelStudy(const Principal& who, const v1::CancelStudyRequest& request) {
  auto row = OwnStudy(who, Action::kCancel, "CancelStudy", request.study_id());
  if (!row.ok()) return row.status();
  auto cancelled = studies_->Cancel(row->study.id());
  Audit(who, "CancelStudy", row->study.id(), cancelled.status());
  return cancelled;
}

StatusOr<v1::DeleteStudyResponse> Calls::DeleteStudy(const Principal& who,
                                                     const v1::DeleteStudyRequest& request) {
  auto row = OwnStudy(who, Action::kDelete, "DeleteStudy", request.study_id());
  if (!row.ok()) return row.status();
  const Status deleted = studies_->Delete(row->study.id());
  Audit(who, "DeleteStudy", row->study.id(), deleted);
  GANTRY_RETURN_IF_ERROR(deleted);
  return v1::DeleteStudyResponse();
}

StatusOr<v1::Job> Calls::ReplayTrial(const Principal& who, const v1::ReplayTrialRequest& request) {
  if (studies_ == nullptr) return NoStudies();
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kCreate, "ReplayTrial", request.study_id(), ""));
  GANTRY_RETURN_IF_ERROR(CheckStudyId(request.study_id()));
  if (request.trial() < 0) {
    return Status::InvalidArgument("trial: " + std::to_string(request.trial()) + " is negative");
  }
  if (store_ != nullptr) {
    auto row = store_->GetStudy(request.study_id());
    if (row.status().code() == StatusCode::kNotFound) return StudyNotFound(SafeText(request.study_id(), 64));
    if (!row.ok()) return row.status();
  }
  int64_t trial = request.trial();
  auto spec = studies_->ReplaySpec(request.study_id(), &trial);
  if (!spec.ok()) return spec.status();
  v1::CreateJobRequest create;
  *create.mutable_spec() = *std::move(spec);
  create.set_name(request.name().empty()
                      ? "replay of " + request.study_id() + " trial " + std::to_string(trial)
                      : request.name());
  (*create.mutable_labels())["replay-of"] = request.study_id();
  (*create.mutable_labels())["trial"] = std::to_string(trial);
  auto created = CreateJobAs(who, create);
  Audit(who, "ReplayTrial", created.ok() ? created->id() : request.study_id(), created.status());
  return created;
}

StatusOr<std::unique_ptr<StudyManager::Watch>> Calls::WatchStudy(
    const v1::WatchStudyRequest& request, StudyManager::WatchFn fn) const {
  if (studies_ == nullptr) return NoStudies();
  GANTRY_RETURN_IF_ERROR(CheckStudyId(request.study_id()));
  auto watch = studies_->WatchStudy(request.study_id(), std::move(fn));
  if (watch.status().code() == StatusCode::kNotFound) return StudyNotFound(SafeText(request.study_id(), 64));
  return watch;
}

}  // namespace gantry
