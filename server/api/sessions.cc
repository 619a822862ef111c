#include "server/api/sessions.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "server/util/clock.h"
#include "server/util/sha256.h"

namespace gantry {

// --- Sessions ---

const char* SessionStateMessage(SessionState state) {
  switch (state) {
    case SessionState::kLive:
      return "the session is live";
    case SessionState::kExpired:
      return "the session has expired; log in again";
    case SessionState::kUnknown:
      break;
  }
  return "no session (logged out, expired or never made); log in";
}

Sessions::Sessions(Store* store, SessionsOptions options)
    : store_(store), options_(std::move(options)), binding_digest_(Sha256(options_.binding)) {}

int64_t Sessions::Now() const {
  if (options_.now_ns) return options_.now_ns();
  return NowNs();
}

bool Sessions::WellFormed(std::string_view id) { return IsSha256Hex(id); }

std::string Sessions::HashOf(std::string_view id) const {
  // The binding's digest has a fixed length, so the concatenation is
  // unambiguous.
  std::string keyed = binding_digest_;
  keyed.append(id.data(), id.size());
  return Sha256Hex(keyed);
}

size_t Sessions::cached() const {
  MutexLock lock(&mu_);
  return cache_.size();
}

void Sessions::Remember(const std::string& hash, int64_t expires_ns, const std::string& principal,
                        int64_t now) {
  if (options_.cache_entries == 0 || options_.cache_ttl_ns <= 0) return;
  auto it = cache_.find(hash);
  if (it != cache_.end()) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
  }
  while (cache_.size() >= options_.cache_entries) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(hash);
  cache_[hash] = Cached{expires_ns, now, principal, lru_.begin()};
}

StatusOr<Sessions::Created> Sessions::Create(const std::string& principal) {
  if (principal.size() > 200) return Status::InvalidArgument("session: the principal is longer than 200 bytes");
  unsigned char bytes[kIdBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Status::Internal("session: the random number generator failed");
  }
  Created out;
  out.id = ToHex(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  OPENSSL_cleanse(bytes, sizeof bytes);
  const int64_t now = Now();
  SessionRow row;
  row.id_hash = HashOf(out.id);
  row.create_ns = now;
  row.expires_ns = now + options_.lifetime_ns;
  row.principal = principal;
  GANTRY_RETURN_IF_ERROR(store_->PutSession(row));
  out.expires_ns = row.expires_ns;
  out.max_age_seconds = options_.lifetime_ns / 1'000'000'000;
  bool sweep = false;
  {
    MutexLock lock(&mu_);
    Remember(row.id_hash, row.expires_ns, row.principal, now);
    if (now - last_sweep_ns_ >= options_.sweep_every_ns) {
      last_sweep_ns_ = now;
      sweep = true;
    }
  }
  if (sweep) {
    // The session is made; a failed sweep is tried again next time.
    auto n = Sweep();
    if (!n.ok()) spdlog::warn("sessions: sweeping expired sessions: {}", n.status().message());
  }
  return out;
}

StatusOr<int64_t> Sessions::Sweep() {
  auto n = store_->DeleteExpiredSessions(Now());
  if (n.ok() && *n > 0) spdlog::info("sessions: {} expired sessions deleted", *n);
  return n;
}

StatusOr<SessionState> Sessions::Check(std::string_view id, std::string* principal) {
  if (!WellFormed(id)) return SessionState::kUnknown;
  const std::string hash = HashOf(id);
  const int64_t now = Now();
  uint64_t revocations;
  {
    MutexLock lock(&mu_);
    revocations = revocations_;
    auto it = cache_.find(hash);
    if (it != cache_.end()) {
      if (now < it->second.expires_ns && now - it->second.checked_ns < options_.cache_ttl_ns) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);  // most recently used
        if (principal != nullptr) *principal = it->second.principal;
        return SessionState::kLive;
      }
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
  }
  auto row = store_->GetSession(hash);
  if (!row.ok()) {
    if (row.status().code() == StatusCode::kNotFound) return SessionState::kUnknown;
    return row.status();
  }
  if (now >= row->expires_ns) {
    // Deleted now rather than at the next sweep; a failure leaves it to the sweep.
    (void)store_->DeleteSession(hash);
    return SessionState::kExpired;
  }
  if (principal != nullptr) *principal = row->principal;
  MutexLock lock(&mu_);
  if (revocations == revocations_) Remember(hash, row->expires_ns, row->principal, now);
  return SessionState::kLive;
}

Status Sessions::Revoke(std::string_view id) {
  if (!WellFormed(id)) return Status::Ok();
  const std::string hash = HashOf(id);
  {
    MutexLock lock(&mu_);
    ++revocations_;
    auto it = cache_.find(hash);
    if (it != cache_.end()) {
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
  }
  return store_->DeleteSession(hash);
}

// --- LoginThrottle ---

LoginThrottle::LoginThrottle(LoginThrottleOptions options) : options_(std::move(options)) {}

int64_t LoginThrottle::Now() const {
  if (options_.now_ns) return options_.now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int LoginThrottle::Seconds(int64_t ns) {
  const int64_t s = (ns + 999'999'999) / 1'000'000'000;
  return static_cast<int>(std::clamp<int64_t>(s, 1, INT32_MAX));
}

std::string LoginThrottle::KeyOf(std::string_view address) {
  std::string text(address.substr(0, 64));
  // "[::1]" and a zone ("fe80::1%eth0") are not part of the address.
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  const size_t zone = text.find('%');
  const std::string bare = zone == std::string::npos ? text : text.substr(0, zone);
  unsigned char v6[16];
  if (inet_pton(AF_INET6, bare.c_str(), v6) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char out[INET6_ADDRSTRLEN];
    if (std::memcmp(v6, kMapped, sizeof kMapped) == 0) {
      return inet_ntop(AF_INET, v6 + 12, out, sizeof out) ? std::string(out) : text;
    }
    std::memset(v6 + 8, 0, 8);
    return inet_ntop(AF_INET6, v6, out, sizeof out) ? std::string(out) + "/64" : text;
  }
  return text;
}

size_t LoginThrottle::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

std::optional<int> LoginThrottle::RetryAfterSeconds(std::string_view address) {
  const std::string key = KeyOf(address);
  const int64_t now = Now();
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || now >= it->second.blocked_until_ns) return std::nullopt;
  return Seconds(it->second.blocked_until_ns - now);
}

std::optional<int> LoginThrottle::Failed(std::string_view address) {
  std::string key = KeyOf(address);
  const int64_t now = Now();
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (options_.max_addresses == 0) return std::nullopt;
    while (entries_.size() >= options_.max_addresses) {
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = entries_.emplace(std::move(key), Entry{}).first;
    it->second.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  if (e.failures > 0 && now - e.last_failure_ns > options_.window_ns) e.failures = 0;
  e.failures = std::min(e.failures + 1, 1 << 20);
  e.last_failure_ns = now;
  if (e.failures < options_.free_failures) return std::nullopt;
  const int doublings = std::min(e.failures - options_.free_failures, 40);
  int64_t delay = options_.base_delay_ns;
  for (int i = 0; i < doublings && delay < options_.max_delay_ns; ++i) delay *= 2;
  delay = std::min(delay, options_.max_delay_ns);
  e.blocked_until_ns = std::max(e.blocked_until_ns, now + delay);
  return Seconds(e.blocked_until_ns - now);
}

void LoginThrottle::Succeeded(std::string_view address) {
  const std::string key = KeyOf(address);
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

}  // namespace gantry
