#include "server/store/monitored_store.h"

namespace gantry {

void MonitoredStore::Note(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: {
      std::lock_guard<std::mutex> lock(mu_);
      error_.reset();
      return;
    }
    case StatusCode::kInternal:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDataLoss:
    case StatusCode::kUnavailable: {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = status.message();
      when_ = Clock::now();
      return;
    }
    default:
      return;  // an answer (not found, fenced, duplicate): the store works
  }
}

std::optional<std::string> MonitoredStore::Trouble() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_ && Clock::now() - when_ < std::chrono::seconds(kTroubleSeconds)) return error_;
  return std::nullopt;
}

}  // namespace gantry
