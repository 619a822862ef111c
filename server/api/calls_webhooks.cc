// Calls' webhook methods (calls.h): the resource's CRUD and its delivery
// log. The deliveries themselves are the store's outbox, POSTed by
// server/webhooks/dispatcher.h.
#include "server/api/calls.h"
#include "server/util/clock.h"
#include "server/util/page_token.h"
#include "server/util/safe_text.h"
#include "server/webhooks/webhooks.h"

namespace gantry {
namespace {

Status NoWebhooks() { return Status::FailedPrecondition("this server keeps no webhooks"); }

}  // namespace

StatusOr<v1::Webhook> Calls::CreateWebhook(const Principal& who,
                                           const v1::CreateWebhookRequest& request) {
  GANTRY_RETURN_IF_ERROR(Authorize(who, Action::kCreate, "CreateWebhook", "", ""));
  if (store_ == nullptr) return NoWebhooks();
  auto row = NewWebhook(request.webhook(), who.name, NowNs(), webhooks_allow_private_);
  if (!row.ok()) return row.status();
  if (!row->job_id.empty()) {
    auto job = manager_->Get(row->job_id, ReadPoints::kNo);
    if (!job.ok()) return job.status();
  }
  const Status stored = store_->PutWebhook(*row);
  Audit(who, "CreateWebhook", row->id, stored);
  GANTRY_RETURN_IF_ERROR(stored);
  return WebhookToProto(*row, /*with_secret=*/true);
}

StatusOr<v1::ListWebhooksResponse> Calls::ListWebhooks(const Principal& who) const {
  if (store_ == nullptr) return NoWebhooks();
  auto rows = store_->ListWebhooks(who.role == Role::kAdmin ? "" : who.name);
  if (!rows.ok()) return rows.status();
  v1::ListWebhooksResponse out;
  for (const WebhookRow& row : *rows) *out.add_webhooks() = WebhookToProto(row, false);
  return out;
}

StatusOr<WebhookRow> Calls::OwnWebhook(const Principal& who, const std::string& id,
                                       const char* action, bool audit) const {
  if (store_ == nullptr) return NoWebhooks();
  if (id.empty()) return Status::InvalidArgument("webhook_id is required");
  auto row = store_->GetWebhook(id);
  if (row.status().code() == StatusCode::kNotFound) return WebhookNotFound(SafeText(id, 64));
  if (!row.ok()) return row.status();
  // The rule of a job's delete (principals.h Allowed): its creator or an admin.
  if (Allowed(who, Action::kDelete, row->principal)) return row;
  Status denied = Status::PermissionDenied(
      std::string(action) + ": " + RoleName(who.role) + " '" + who.name + "' may not act on webhook " +
      row->id + ", which belongs to '" + row->principal + "' (webhooks are their creator's)");
  if (audit) Audit(who, action, id, denied, /*allowed=*/false);
  return denied;
}

StatusOr<v1::DeleteWebhookResponse> Calls::DeleteWebhook(const Principal& who,
                                                         const v1::DeleteWebhookRequest& request) {
  auto row = OwnWebhook(who, request.webhook_id(), "DeleteWebhook", /*audit=*/true);
  if (!row.ok()) return row.status();
  const Status deleted = store_->DeleteWebhook(row->id);
  Audit(who, "DeleteWebhook", row->id, deleted);
  GANTRY_RETURN_IF_ERROR(deleted);
  return v1::DeleteWebhookResponse();
}

StatusOr<v1::ListDeliveriesResponse> Calls::ListDeliveries(
    const Principal& who, const v1::ListDeliveriesRequest& request) const {
  auto page = PageSize(request.page_size(), kMaxJobsPageSize);
  if (!page.ok()) return page.status();
  auto before = PageBefore(request.page_token(), "ListDeliveries");
  if (!before.ok()) return before.status();
  auto hook = OwnWebhook(who, request.webhook_id(), "ListDeliveries", /*audit=*/false);
  if (!hook.ok()) return hook.status();
  const int page_size = *page;
  auto rows = store_->ListDeliveries(hook->id, *before, page_size + 1);
  if (!rows.ok()) return rows.status();
  v1::ListDeliveriesResponse out;
  for (const DeliveryRow& row : *rows) {
    if (out.deliveries_size() == page_size) {
      out.set_next_page_token(MakePageToken(row.seq));
      break;
    }
    *out.add_deliveries() = DeliveryToProto(row);
  }
  return out;
}

}  // namespace gantry
