#include "server/store/quota.h"

#include "core/memory.h"

namespace gantry {

Status CheckQuota(const std::string& owner, const Quota& quota, const QuotaUse& use,
                  int64_t memory_bytes) {
  if (quota.queued >= 0 && use.queued + 1 > quota.queued) {
    return Status::ResourceExhausted(
        std::string(kQuotaRefusal) + owner + " has " + std::to_string(use.queued) +
        " queued jobs, as many as its queued=" + std::to_string(quota.queued) +
        " allows; wait for one to start, or cancel one");
  }
  if (quota.memory_bytes >= 0 && use.memory_bytes + memory_bytes > quota.memory_bytes) {
    return Status::ResourceExhausted(
        std::string(kQuotaRefusal) + "the job needs an estimated " + FormatBytes(memory_bytes) +
        ", and the queued and running jobs of " + owner + " hold " + FormatBytes(use.memory_bytes) +
        " of the " + FormatBytes(quota.memory_bytes) + " its memory quota allows");
  }
  return Status::Ok();
}

}  // namespace gantry
