// StopSource and StopToken: one flag, set once by its owner and read by
// many (a small C++20 std::stop_source / std::stop_token). The scheduler owns
// the server's drain as a StopSource; runners and the manager hold tokens.
//
// Thread-safety: every method is safe from any thread.
#pragma once

#include <atomic>
#include <memory>

namespace gantry {

class StopToken {
 public:
  StopToken() = default;  // never stops
  bool stop_requested() const { return flag_ != nullptr && flag_->load(); }

 private:
  friend class StopSource;
  explicit StopToken(std::shared_ptr<const std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  std::shared_ptr<const std::atomic<bool>> flag_;
};

class StopSource {
 public:
  StopSource() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  // True for the call that stopped it (later ones: false).
  bool request_stop() { return !flag_->exchange(true); }
  bool stop_requested() const { return flag_->load(); }
  StopToken token() const { return StopToken(flag_); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace gantry
