#include "server/store/monitored_store.h"

namespace gantry {

void MonitoredStore::Note(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: {
      MutexLock lock(&mu_);
      failing_ = false;
      return;
    }
    case StatusCode::kInternal:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDataLoss:
    case StatusCode::kUnavailable: {
      MutexLock lock(&mu_);
      error_ = status.message();
      when_ = Clock::now();
      failing_ = true;
      return;
    }
    default:
      return;  // an answer (not found, fenced, duplicate): the store works
  }
}

std::optional<std::string> MonitoredStore::Trouble() const {
  MutexLock lock(&mu_);
  if (!error_) return std::nullopt;
  const auto age = Clock::now() - when_;
  if (age < std::chrono::seconds(kRecentSeconds)) return error_;
  if (failing_ && age < std::chrono::seconds(kTroubleSeconds)) return error_;
  return std::nullopt;
}

}  // namespace gantry
