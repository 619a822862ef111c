// Webhooks (README.md here): the API's side of them, shared by Calls'
// CreateWebhook, ListWebhooks, DeleteWebhook and ListDeliveries, and the
// signature the dispatcher puts on each POST.
//
// Thread-safety: pure functions (NewWebhook draws from OpenSSL's
// thread-safe generator).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "gantry/v1/gantry.pb.h"
#include "server/store/store.h"

struct sockaddr;

namespace gantry {

inline constexpr size_t kMaxWebhookUrlLength = 2000;
inline constexpr size_t kMinWebhookSecretLength = 16;
inline constexpr size_t kMaxWebhookSecretLength = 200;

// The row to store for `request` made by `principal` at now_ns: a new id,
// the events (all three when none is named), the filters, and the secret
// (a new one when the request has none). INVALID_ARGUMENT naming the field
// for a URL that is not http(s)://HOST..., an unknown or repeated event, a
// bad label selector or job id, a secret outside 16..200 printable
// characters, or a field the server sets; and, unless `allow_private`, for
// a host that is "localhost" or an address IsPrivateAddress refuses (a
// name is checked again at each POST, on the address it resolves to).
StatusOr<WebhookRow> NewWebhook(const v1::Webhook& request, const std::string& principal,
                                int64_t now_ns, bool allow_private);

// Whether a webhook may not go to `addr` (unless --webhook-allow-private):
// loopback, unspecified, private (10/8, 172.16/12, 192.168/16, fc00::/7),
// link-local (169.254/16, fe80::/10: cloud metadata), carrier-grade NAT
// (100.64/10), multicast and broadcast, IPv4-mapped IPv6 of any of these,
// and any family but IPv4 and IPv6.
bool IsPrivateAddress(const struct sockaddr* addr);

// The API's view: the secret only when `with_secret` (CreateWebhook's answer).
v1::Webhook WebhookToProto(const WebhookRow& row, bool with_secret);
v1::WebhookDelivery DeliveryToProto(const DeliveryRow& row);

// X-Gantry-Signature's value for `body` sent at unix_seconds:
// "t=UNIX_SECONDS,v1=HEX", HEX the lower-case HMAC-SHA256 keyed by `secret`
// of "UNIX_SECONDS." followed by the body.
std::string WebhookSignature(std::string_view secret, int64_t unix_seconds, std::string_view body);

}  // namespace gantry
