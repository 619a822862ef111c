// `gantry webhook create|list|delete|deliveries`: the server's webhooks
// (server/webhooks/README.md): signed POSTs when a job ends, reaches a new
// best epoch or raises an alarm, and each one's delivery log. Each returns
// the process exit code (exit_codes.h); results go to stdout, diagnostics
// to stderr.
#pragma once

#include <string>
#include <vector>

#include "client/connection.h"

namespace gantry::cli {

struct WebhookArgs {
  std::string url;
  std::vector<std::string> events;  // ended, best, alarm (or the enum names); none: all
  std::string job_id;
  std::vector<std::string> labels;  // key=value, every one required
  std::string owner;
  std::string secret;               // "": the server makes one
  std::string id;                   // delete, deliveries
  int limit = 50;                   // deliveries
};

// Prints the new webhook's id and, once, its secret (-o json: the Webhook).
int CreateWebhook(Connection& conn, const WebhookArgs& args);
// A table (ID, URL, EVENTS, FILTER, PRINCIPAL, PENDING).
int ListWebhooks(Connection& conn);
int DeleteWebhook(Connection& conn, const WebhookArgs& args);
// A table (SEQ, AGE, TYPE, JOB, EVENT, STATE, ATTEMPTS, STATUS, ERROR),
// newest first, or one WebhookDelivery per line with -o json.
int ListDeliveries(Connection& conn, const WebhookArgs& args);

}  // namespace gantry::cli
