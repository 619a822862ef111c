#include "server/jobs/event_hub.h"

#include <algorithm>
#include <iterator>

namespace gantry {

void Notifier::Notify() {
  MutexLock lock(&mu_);
  if (fn_) fn_();
}

void Notifier::Detach() {
  MutexLock lock(&mu_);
  fn_ = nullptr;
  detached_ = true;
}

bool Notifier::detached() const { return detached_; }

bool IsTerminalEvent(const v1::JobEvent& event) {
  return event.has_state() && IsTerminalState(event.state().state());
}

std::shared_ptr<const v1::JobEvent> LiveEvents::At(int64_t seq) const {
  MutexLock lock(&mu_);
  if (tail_.empty()) return nullptr;
  const int64_t first = tail_.front()->seq();
  if (seq < first || seq > last_seq_) return nullptr;
  return tail_[static_cast<size_t>(seq - first)];
}

int64_t LiveEvents::last_seq() const {
  MutexLock lock(&mu_);
  return last_seq_;
}

int64_t LiveEvents::terminal_seq() const {
  MutexLock lock(&mu_);
  return terminal_seq_;
}

bool LiveEvents::interrupted() const {
  MutexLock lock(&mu_);
  return interrupted_;
}

void LiveEvents::Subscribe(std::shared_ptr<Notifier> notifier) {
  MutexLock lock(&mu_);
  // Followers that went away are dropped here, so the list stays as long as
  // the live followers.
  notifiers_.erase(std::remove_if(notifiers_.begin(), notifiers_.end(),
                                  [](const auto& n) { return n->detached(); }),
                   notifiers_.end());
  notifiers_.push_back(std::move(notifier));
}

void LiveEvents::Publish(std::shared_ptr<const v1::JobEvent> event) {
  {
    MutexLock lock(&mu_);
    if (!tail_.empty() && event->seq() != last_seq_ + 1) {
      tail_.clear();  // not consecutive (cannot happen for one writer): restart the tail
      tail_bytes_ = 0;
    }
    last_seq_ = event->seq();
    if (IsTerminalEvent(*event)) terminal_seq_ = event->seq();
    tail_bytes_ += event->ByteSizeLong();
    tail_.push_back(std::move(event));
    while (tail_.size() > 1 && (tail_.size() > kTailEvents || tail_bytes_ > kTailBytes)) {
      tail_bytes_ -= tail_.front()->ByteSizeLong();
      tail_.pop_front();
    }
  }
  NotifyAll();
}

void LiveEvents::Interrupt() {
  {
    MutexLock lock(&mu_);
    interrupted_ = true;
  }
  NotifyAll();
}

void LiveEvents::NotifyAll() {
  std::vector<std::shared_ptr<Notifier>> notifiers;
  {
    MutexLock lock(&mu_);
    notifiers = notifiers_;
  }
  for (auto& n : notifiers) n->Notify();
}

std::shared_ptr<LiveEvents> EventHub::Live(const std::string& job_id) {
  MutexLock lock(&mu_);
  auto& weak = live_[job_id];
  auto live = weak.lock();
  if (!live) {
    live = std::make_shared<LiveEvents>();
    if (interrupted_) {
      MutexLock live_lock(&live->mu_);  // not shared yet: taken for the analysis only
      live->interrupted_ = true;
    }
    weak = live;
    // Entries nobody holds any more go when the map has doubled since the
    // last sweep, so it stays proportional to the live jobs and followers.
    if (live_.size() >= 2 * swept_size_ + 16) {
      for (auto it = live_.begin(); it != live_.end();) {
        it = it->second.expired() ? live_.erase(it) : std::next(it);
      }
      swept_size_ = live_.size();
    }
  }
  return live;
}

void EventHub::Publish(const std::string& job_id, v1::JobEvent event) {
  std::shared_ptr<LiveEvents> live;
  {
    MutexLock lock(&mu_);
    auto it = live_.find(job_id);
    if (it != live_.end()) live = it->second.lock();
  }
  if (live) live->Publish(std::make_shared<const v1::JobEvent>(std::move(event)));
}

void EventHub::Nudge(const std::string& job_id) {
  std::vector<std::shared_ptr<LiveEvents>> all;
  {
    MutexLock lock(&mu_);
    if (!job_id.empty()) {
      auto it = live_.find(job_id);
      if (it != live_.end()) {
        if (auto live = it->second.lock()) all.push_back(std::move(live));
      }
    } else {
      for (auto& [id, weak] : live_) {
        if (auto live = weak.lock()) all.push_back(std::move(live));
      }
    }
  }
  for (auto& live : all) live->NotifyAll();
}

void EventHub::InterruptAll() {
  std::vector<std::shared_ptr<LiveEvents>> all;
  {
    MutexLock lock(&mu_);
    interrupted_ = true;
    for (auto& [id, weak] : live_) {
      if (auto live = weak.lock()) all.push_back(std::move(live));
    }
  }
  for (auto& live : all) live->Interrupt();
}

}  // namespace gantry
