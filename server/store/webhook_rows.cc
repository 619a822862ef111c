// The webhook outbox's shared part (store.h): which events cause
// deliveries, to which webhooks, with what payload.
#include "server/jobs/labels.h"
#include "server/store/store.h"
#include "server/util/api_json.h"

namespace gantry {
namespace {

// The kinds of webhook event `event` is (bits 1 << v1::WebhookEvent).
uint32_t EventKinds(const v1::JobEvent& event) {
  uint32_t kinds = 0;
  if (event.has_state() && IsTerminalState(event.state().state())) {
    kinds |= 1u << v1::WEBHOOK_EVENT_JOB_ENDED;
  }
  if (event.has_epoch() && event.epoch().best_epoch() > 0 &&
      event.epoch().best_epoch() == event.epoch().epoch()) {
    kinds |= 1u << v1::WEBHOOK_EVENT_NEW_BEST;
  }
  // An alarm goes with the epoch event that raised it (its alarms of that
  // epoch), which is stored atomically; the alarm events that follow it
  // are separate writes a crash can cut off.
  if (event.has_epoch()) {
    for (const v1::Alarm& a : event.epoch().alarms()) {
      if (a.epoch() == event.epoch().epoch()) kinds |= 1u << v1::WEBHOOK_EVENT_ALARM;
    }
  }
  return kinds;
}

bool Selects(const WebhookRow& hook, const JobRow& row) {
  if (!hook.job_id.empty() && hook.job_id != row.id) return false;
  if (!hook.owner.empty() && hook.owner != row.created_by) return false;
  if (hook.label_selector.empty()) return true;
  // Checked when the webhook was created; a selector that no longer parses
  // selects nothing.
  auto wanted = ParseLabelSelector(hook.label_selector);
  if (!wanted.ok()) return false;
  for (const auto& [key, value] : *wanted) {
    auto it = row.labels.find(key);
    if (it == row.labels.end() || it->second != value) return false;
  }
  return true;
}

std::string PayloadJson(const WebhookRow& hook, const JobRow& row, const v1::JobEvent& event,
                        v1::WebhookEvent type, const std::string& key) {
  v1::WebhookPayload payload;
  payload.set_id(key);
  payload.set_webhook_id(hook.id);
  payload.set_type(type);
  payload.set_job_id(row.id);
  payload.set_job_name(row.name);
  payload.set_owner(row.created_by);
  payload.mutable_labels()->insert(row.labels.begin(), row.labels.end());
  payload.set_state(row.state);
  payload.set_epochs_done(row.epochs_done);
  *payload.mutable_event() = event;
  if (payload.event().has_epoch()) payload.mutable_event()->mutable_epoch()->clear_preview();
  return ApiJson(payload);  // as the HTTP API writes its messages
}

}  // namespace

bool MayNotifyWebhooks(const v1::JobEvent& event) { return EventKinds(event) != 0; }

std::vector<DeliveryRow> WebhookDeliveries(const std::vector<WebhookRow>& hooks, const JobRow& row,
                                           const v1::JobEvent& event, int64_t now_ns) {
  std::vector<DeliveryRow> out;
  const uint32_t kinds = EventKinds(event);
  if (kinds == 0) return out;
  for (const WebhookRow& hook : hooks) {
    if ((hook.events & kinds) == 0 || !Selects(hook, row)) continue;
    for (int type = v1::WEBHOOK_EVENT_JOB_ENDED; type <= v1::WEBHOOK_EVENT_ALARM; ++type) {
      if ((hook.events & kinds & (1u << type)) == 0) continue;
      DeliveryRow d;
      d.webhook_id = hook.id;
      d.type = type;
      d.job_id = row.id;
      d.event_seq = event.seq();
      d.key = hook.id + "/" + row.id + "/" + std::to_string(event.seq()) + "/" +
              v1::WebhookEvent_Name(static_cast<v1::WebhookEvent>(type));
      d.payload = PayloadJson(hook, row, event, static_cast<v1::WebhookEvent>(type), d.key);
      d.state = v1::DELIVERY_STATE_PENDING;
      d.create_ns = now_ns;
      d.next_attempt_ns = now_ns;
      out.push_back(std::move(d));
    }
  }
  return out;
}

void MarkBacklogFull(DeliveryRow* row) {
  row->state = v1::DELIVERY_STATE_FAILED;
  row->next_attempt_ns = 0;
  row->last_error = "not sent: the webhook's backlog is full (" +
                    std::to_string(kMaxPendingDeliveries) + " deliveries pending)";
}

DeliveryRow NextDeliveryState(const DeliveryOutcome& o, int64_t create_ns, int64_t now_ns) {
  DeliveryRow next;
  next.last_status = o.status;
  if (o.delivered) {
    next.state = v1::DELIVERY_STATE_DELIVERED;
    return next;
  }
  next.last_error = o.error.substr(0, 500);
  if (now_ns - create_ns >= o.give_up_after_ns) {
    next.state = v1::DELIVERY_STATE_FAILED;
    next.last_error = "gave up after " + std::to_string(o.attempts) + " attempts: " + next.last_error;
  } else {
    next.state = v1::DELIVERY_STATE_PENDING;
    next.next_attempt_ns = now_ns + o.retry_after_ns;
  }
  return next;
}

Status CheckWebhookCount(const std::string& principal, int64_t count) {
  if (count < kMaxWebhooksPerPrincipal) return Status::Ok();
  return Status::ResourceExhausted(std::string(kQuotaRefusal) + "'" + principal + "' has " +
                                   std::to_string(count) + " webhooks, as many as a principal may have (" +
                                   std::to_string(kMaxWebhooksPerPrincipal) + "); delete one first");
}

Status WebhookNotFound(const std::string& id) {
  return Status::NotFound("webhook " + id + " not found");
}

}  // namespace gantry
