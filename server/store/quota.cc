#include "server/store/quota.h"

#include "core/memory.h"

namespace gantry {

Status CheckQuota(const std::string& owner, const Quota& quota, const QuotaUse& use,
                  int64_t memory_bytes) {
  if (quota.queued >= 0 && use.queued + 1 > quota.queued) {
    return Status::ResourceExhausted(
        "quota: '" + owner + "' may have " + std::to_string(quota.queued) +
        " queued jobs at once (queued=" + std::to_string(quota.queued) +
        " in the credentials file) and has " + std::to_string(use.queued) +
        "; wait for one to start, or cancel one");
  }
  if (quota.memory_bytes >= 0 && use.memory_bytes + memory_bytes > quota.memory_bytes) {
    return Status::ResourceExhausted(
        "quota: the job needs an estimated " + FormatBytes(memory_bytes) + ", and '" + owner +
        "''s queued and running jobs hold " + FormatBytes(use.memory_bytes) + " of the " +
        FormatBytes(quota.memory_bytes) + " it may hold (its memory quota in the credentials file)");
  }
  return Status::Ok();
}

}  // namespace gantry
