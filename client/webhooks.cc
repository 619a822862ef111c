#include "client/webhooks.h"

#include <algorithm>
#include <cctype>
#include <iostream>

#include "client/exit_codes.h"
#include "client/output.h"

namespace gantry::cli {
namespace {

// "ended", "best", "alarm", or an enum name in any case.
bool ParseEvent(std::string word, v1::WebhookEvent* out) {
  std::transform(word.begin(), word.end(), word.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (word == "ENDED" || word == "JOB_ENDED") word = "WEBHOOK_EVENT_JOB_ENDED";
  if (word == "BEST" || word == "NEW_BEST") word = "WEBHOOK_EVENT_NEW_BEST";
  if (word == "ALARM") word = "WEBHOOK_EVENT_ALARM";
  return v1::WebhookEvent_Parse(word, out) && *out != v1::WEBHOOK_EVENT_UNSPECIFIED;
}

std::string ShortEvent(int e) {
  switch (e) {
    case v1::WEBHOOK_EVENT_JOB_ENDED: return "ended";
    case v1::WEBHOOK_EVENT_NEW_BEST: return "best";
    case v1::WEBHOOK_EVENT_ALARM: return "alarm";
    default: return std::to_string(e);
  }
}

std::string ShortState(v1::DeliveryState s) {
  switch (s) {
    case v1::DELIVERY_STATE_PENDING: return "pending";
    case v1::DELIVERY_STATE_DELIVERED: return "delivered";
    case v1::DELIVERY_STATE_FAILED: return "failed";
    default: return "?";
  }
}

std::string Filter(const v1::Webhook& w) {
  std::vector<std::string> parts;
  if (!w.job_id().empty()) parts.push_back("job=" + w.job_id());
  if (!w.label_selector().empty()) parts.push_back("labels " + w.label_selector());
  if (!w.owner().empty()) parts.push_back("owner=" + w.owner());
  if (parts.empty()) return "every job";
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

int CreateWebhook(Connection& conn, const WebhookArgs& args) {
  v1::CreateWebhookRequest req;
  v1::Webhook* w = req.mutable_webhook();
  w->set_url(args.url);
  for (const std::string& e : args.events) {
    v1::WebhookEvent event;
    if (!ParseEvent(e, &event)) {
      std::cerr << "gantry: webhook create: --event '" << e << "' is not one of ended, best, alarm\n";
      return kExitUsage;
    }
    w->add_events(event);
  }
  w->set_job_id(args.job_id);
  std::string selector;
  for (const std::string& l : args.labels) selector += (selector.empty() ? "" : ",") + l;
  w->set_label_selector(selector);
  w->set_owner(args.owner);
  w->set_secret(args.secret);
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::Webhook created;
  const grpc::Status s = conn.stub().CreateWebhook(&ctx, req, &created);
  if (!s.ok()) return conn.Fail("webhook create", s);
  if (JsonOut(conn)) {
    std::cout << ToJson(created) << std::endl;
    return kExitOk;
  }
  std::string events;
  for (int e : created.events()) events += (events.empty() ? "" : ",") + ShortEvent(e);
  std::cout << "webhook " << created.id() << ": POST " << created.url() << " on " << events
            << " (" << Filter(created) << ")\n"
            << "secret (shown only now; X-Gantry-Signature is keyed by it): " << created.secret()
            << std::endl;
  return kExitOk;
}

int ListWebhooks(Connection& conn) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::ListWebhooksResponse resp;
  const grpc::Status s = conn.stub().ListWebhooks(&ctx, v1::ListWebhooksRequest(), &resp);
  if (!s.ok()) return conn.Fail("webhook list", s);
  if (JsonOut(conn)) {
    for (const v1::Webhook& w : resp.webhooks()) std::cout << ToJson(w) << "\n";
    std::cout << std::flush;
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "URL", "EVENTS", "FILTER", "PRINCIPAL", "PENDING"}};
  for (const v1::Webhook& w : resp.webhooks()) {
    std::string events;
    for (int e : w.events()) events += (events.empty() ? "" : ",") + ShortEvent(e);
    rows.push_back({w.id(), w.url(), events, Filter(w), w.principal().empty() ? "-" : w.principal(),
                    std::to_string(w.pending())});
  }
  std::cout << Table(rows) << std::flush;
  return kExitOk;
}

int DeleteWebhook(Connection& conn, const WebhookArgs& args) {
  v1::DeleteWebhookRequest req;
  req.set_webhook_id(args.id);
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::DeleteWebhookResponse resp;
  const grpc::Status s = conn.stub().DeleteWebhook(&ctx, req, &resp);
  if (!s.ok()) return conn.Fail("webhook delete", s);
  if (!JsonOut(conn)) std::cout << "deleted webhook " << args.id << std::endl;
  return kExitOk;
}

int ListDeliveries(Connection& conn, const WebhookArgs& args) {
  if (args.limit < 1 || args.limit > 100000) {
    std::cerr << "gantry: webhook deliveries: --limit " << args.limit << " is out of range 1..100000\n";
    return kExitUsage;
  }
  v1::ListDeliveriesRequest req;
  req.set_webhook_id(args.id);
  std::vector<std::vector<std::string>> rows = {
      {"SEQ", "AGE", "TYPE", "JOB", "EVENT", "STATE", "ATTEMPTS", "STATUS", "ERROR"}};
  const grpc::Status s = EachPage<v1::ListDeliveriesRequest, v1::ListDeliveriesResponse>(
      conn, req, args.limit,
      [&](grpc::ClientContext* ctx, const v1::ListDeliveriesRequest& r,
          v1::ListDeliveriesResponse* out) { return conn.stub().ListDeliveries(ctx, r, out); },
      [](const v1::ListDeliveriesResponse& page) -> const auto& { return page.deliveries(); },
      [&](const v1::WebhookDelivery& d) {
        if (JsonOut(conn)) {
          std::cout << ToJson(d) << "\n";
        } else {
          rows.push_back({std::to_string(d.seq()), Age(d.create_time()), ShortEvent(d.type()),
                          d.job_id(), std::to_string(d.event_seq()), ShortState(d.state()),
                          std::to_string(d.attempts()),
                          d.last_status() == 0 ? "-" : std::to_string(d.last_status()),
                          d.last_error().empty() ? "-" : d.last_error()});
        }
      });
  if (!s.ok()) {
    std::cout << std::flush;
    return conn.Fail("webhook deliveries", s);
  }
  if (!JsonOut(conn)) std::cout << Table(rows);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace gantry::cli
