// Sessions and LoginThrottle: the dashboard's logins, independent of any
// transport (the HTTP server calls them for /login, /logout and every
// request that carries a session cookie).
//
// Sessions. A successful login makes a session: a fresh random id (256 bits
// from OpenSSL's CSPRNG, as 64 lower-case hex digits) that the browser
// keeps in its cookie instead of the API token. The store holds only a
// SHA-256 over the id (keyed with a digest of the token, see
// SessionsOptions::binding), its creation time and its expiry, never the id
// itself, so neither a copy of the database nor its logs yield a usable
// cookie. Sessions live in the store (Store::PutSession ...), so a session
// made by one replica is accepted by every replica on the same store.
//
//   Create()    a new session: its id and when it expires (a fixed lifetime,
//               --session-hours, 12 h by default; using it does not extend
//               it).
//   Check(id)   kLive for a live session; kUnknown for a malformed id or an
//               unknown or revoked one; kExpired for an expired one (which
//               is deleted on the spot). The store's error (UNAVAILABLE, ...)
//               when it cannot be read: not an answer about the session
//               (answer 503, not 401).
//   Revoke(id)  deletes the session (logout): every later Check of it on
//               this process fails at once, and on other replicas within
//               cache_ttl (see below).
//
// Expired rows are deleted by Check when it meets one, and all of them by a
// sweep that Create runs at most once every sweep_every (and Sweep() on
// demand), so the table holds at most the sessions made within one lifetime
// plus one sweep interval.
//
// Cache: a positive Check is remembered for cache_ttl (10 s), so a page that
// makes many requests reads the store once; at most cache_entries (4096)
// sessions are remembered, least recently used out first. A session revoked
// on another replica is therefore still accepted here for at most
// cache_ttl; one revoked here is refused here at once. Refusals are not
// cached.
//
// LoginThrottle. Failed logins are counted per client address (an IPv6
// address counts as its /64 network, which one host usually holds whole).
// After free_failures (5) failures, each within window (15 min) of the
// previous one, the address must wait before its next attempt: 1 s after
// the 5th failure, 2 s after the 6th, doubling up to max_delay (60 s). The
// caller asks RetryAfterSeconds(address) before it looks at the credentials
// and, when it says to wait, answers at once (HTTP 429 with Retry-After:
// seconds) without checking them and without sleeping; it reports the
// outcome with Failed() or Succeeded() (a success forgets the address).
// At most max_addresses (10,000) addresses are remembered, least recently
// failed out first. Counts are this process's: each replica throttles on
// its own.
//
// Thread-safety: every method of both classes is safe from any thread
// (each object has one mutex, never held across a store call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/status.h"
#include "server/store/store.h"
#include "server/util/mutex.h"

namespace gantry {

// Nanoseconds from some clock. Sessions: since the Unix epoch (the times
// are stored and compared across replicas); LoginThrottle: any monotonic
// clock.
using NanoClock = std::function<int64_t()>;

// What Check says about a session id.
enum class SessionState {
  kLive,
  kUnknown,  // malformed, never made, revoked (logged out), or swept
  kExpired,
};
// For a 401's message: "the session has expired; log in again", ... (never
// the id).
const char* SessionStateMessage(SessionState state);

struct SessionsOptions {
  int64_t lifetime_ns = int64_t{12} * 3600 * 1'000'000'000;  // --session-hours
  // A session is bound to this secret (gantryd passes its API token): the
  // stored hash covers a digest of it, so when the token changes, every
  // session made under the old one is refused (and swept when it expires).
  std::string binding;
  int64_t cache_ttl_ns = int64_t{10} * 1'000'000'000;
  size_t cache_entries = 4096;
  int64_t sweep_every_ns = int64_t{600} * 1'000'000'000;
  NanoClock now_ns;  // null: the system clock (wall time)
};

class Sessions {
 public:
  static constexpr size_t kIdBytes = 32;  // random bytes; the id is twice as many hex digits

  // `store` outlives this object.
  Sessions(Store* store, SessionsOptions options);
  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;

  struct Created {
    std::string id;               // the cookie's value: 64 lower-case hex digits
    int64_t expires_ns = 0;       // since the Unix epoch, on this object's clock
    int64_t max_age_seconds = 0;  // the lifetime, for the cookie's Max-Age
  };
  // A new session of `principal` (stored with it as it is, at most 200
  // bytes: SessionPrincipal's text), stored. The store's error when it
  // cannot be stored; INTERNAL when the CSPRNG fails.
  StatusOr<Created> Create(const std::string& principal = "") EXCLUDES(mu_);
  // See above: kLive, kUnknown or kExpired, or the store's error. A live
  // session's principal in *principal (when given).
  StatusOr<SessionState> Check(std::string_view id, std::string* principal = nullptr) EXCLUDES(mu_);
  // Deletes the session. OK for an unknown, expired or malformed id too;
  // the store's error when it cannot delete (the session may then live on
  // until it expires).
  Status Revoke(std::string_view id) EXCLUDES(mu_);
  // Deletes every expired session now; returns how many.
  StatusOr<int64_t> Sweep();

  // Whether `id` has the form of a session id (64 lower-case hex digits).
  static bool WellFormed(std::string_view id);
  int64_t lifetime_ns() const { return options_.lifetime_ns; }
  // Sessions remembered by the cache (for tests).
  size_t cached() const EXCLUDES(mu_);

 private:
  int64_t Now() const;
  std::string HashOf(std::string_view id) const;
  void Remember(const std::string& hash, int64_t expires_ns, const std::string& principal,
                int64_t now) REQUIRES(mu_);

  Store* const store_;
  const SessionsOptions options_;
  const std::string binding_digest_;  // SHA-256 of options_.binding

  struct Cached {
    int64_t expires_ns = 0;
    int64_t checked_ns = 0;  // when the store last said it is live
    std::string principal;
    std::list<std::string>::iterator lru;
  };
  mutable Mutex mu_;
  std::unordered_map<std::string, Cached> cache_ GUARDED_BY(mu_);  // by hash
  std::list<std::string> lru_ GUARDED_BY(mu_);                     // most recent first
  // Bumped by every Revoke: a Check that read the store before a revoke
  // does not cache what it read.
  uint64_t revocations_ GUARDED_BY(mu_) = 0;
  int64_t last_sweep_ns_ GUARDED_BY(mu_) = 0;
};

struct LoginThrottleOptions {
  int free_failures = 5;
  int64_t window_ns = int64_t{15} * 60 * 1'000'000'000;
  int64_t base_delay_ns = 1'000'000'000;
  int64_t max_delay_ns = int64_t{60} * 1'000'000'000;
  size_t max_addresses = 10'000;
  NanoClock now_ns;  // null: std::chrono::steady_clock
};

class LoginThrottle {
 public:
  explicit LoginThrottle(LoginThrottleOptions options = {});
  LoginThrottle(const LoginThrottle&) = delete;
  LoginThrottle& operator=(const LoginThrottle&) = delete;

  // nullopt: `address` may try now. Else the whole seconds (at least 1) it
  // must wait: refuse the attempt without checking its credentials.
  std::optional<int> RetryAfterSeconds(std::string_view address) EXCLUDES(mu_);
  // A failed attempt from `address`. Returns the seconds it must now wait
  // before the next one (nullopt: none), e.g. for a Retry-After on the
  // refusal itself.
  std::optional<int> Failed(std::string_view address) EXCLUDES(mu_);
  // A successful login from `address`: its failures are forgotten.
  void Succeeded(std::string_view address) EXCLUDES(mu_);

  // The key an address is counted under: an IPv4 address as it is (also
  // one written as ::ffff:a.b.c.d), an IPv6 address as its /64 network
  // ("2001:db8:1:2::/64"), anything else cut to 64 bytes.
  static std::string KeyOf(std::string_view address);
  // Addresses remembered (at most max_addresses).
  size_t size() const EXCLUDES(mu_);

 private:
  int64_t Now() const;
  static int Seconds(int64_t ns);

  const LoginThrottleOptions options_;
  struct Entry {
    int failures = 0;
    int64_t last_failure_ns = 0;
    int64_t blocked_until_ns = 0;
    std::list<std::string>::iterator lru;
  };
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::list<std::string> lru_ GUARDED_BY(mu_);  // most recent first
};

}  // namespace gantry
