// Quotas: limits on one principal's jobs (server/api/principals.h names
// them in the credentials file), counted and enforced in the store, so that
// every replica on one store enforces the same totals.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/status.h"

namespace gantry {

struct Quota {
  int64_t queued = -1;        // QUEUED jobs at once (< 0: no limit)
  int64_t running = -1;       // RUNNING jobs at once: enforced when jobs are claimed
  int64_t memory_bytes = -1;  // admission estimates of the QUEUED and RUNNING jobs together
  bool any() const { return queued >= 0 || running >= 0 || memory_bytes >= 0; }
};

// Principals whose RUNNING jobs are limited, by name: a QUEUED job of one
// that already runs its limit is not claimed (later jobs of others are).
using RunningLimits = std::map<std::string, int64_t>;

// What a principal's jobs hold now (Store::InsertJob counts it).
struct QuotaUse {
  int64_t queued = 0;
  int64_t memory_bytes = 0;  // of its QUEUED and RUNNING jobs
};

// OK, or RESOURCE_EXHAUSTED naming the quota and the current use, when a
// new job of `owner` needing `memory_bytes` would pass `quota`. Its message
// starts with kQuotaRefusal.
Status CheckQuota(const std::string& owner, const Quota& quota, const QuotaUse& use,
                  int64_t memory_bytes);
inline constexpr char kQuotaRefusal[] = "quota: ";
// Whether `s` is CheckQuota's refusal: an answer about the caller, not the
// store failing (MonitoredStore keeps health out of it).
inline bool IsQuotaRefusal(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted && s.message().rfind(kQuotaRefusal, 0) == 0;
}

}  // namespace gantry
