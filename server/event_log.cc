#include "server/event_log.h"

#include <algorithm>
#include <chrono>

#include "server/convert.h"

namespace gantry {

void Notifier::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fn_) fn_();
}

void Notifier::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  fn_ = nullptr;
}

bool Notifier::detached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !fn_;
}

bool IsTerminalEvent(const v1::JobEvent& event) {
  return event.has_state() && IsTerminal(event.state().state());
}

void EventLog::Stamp(v1::JobEvent* event) const {
  std::lock_guard<std::mutex> lock(mu_);
  event->set_seq(static_cast<int64_t>(events_.size()) + 1);
  event->set_job_id(job_id_);
  if (!event->has_time()) SetTimestamp(std::chrono::system_clock::now(), event->mutable_time());
}

int64_t EventLog::Append(v1::JobEvent event) {
  if (event.seq() == 0) Stamp(&event);
  int64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = static_cast<int64_t>(events_.size()) + 1;
    event.set_seq(seq);
    if (IsTerminalEvent(event)) terminal_seq_ = seq;
    events_.push_back(std::make_shared<const v1::JobEvent>(std::move(event)));
  }
  NotifyAll();
  return seq;
}

void EventLog::Restore(v1::JobEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (IsTerminalEvent(event)) terminal_seq_ = event.seq();
  events_.push_back(std::make_shared<const v1::JobEvent>(std::move(event)));
}

std::shared_ptr<const v1::JobEvent> EventLog::At(int64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (seq < 1 || seq > static_cast<int64_t>(events_.size())) return nullptr;
  return events_[seq - 1];
}

int64_t EventLog::last_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(events_.size());
}

int64_t EventLog::terminal_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return terminal_seq_;
}

bool EventLog::interrupted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return interrupted_;
}

void EventLog::Subscribe(std::shared_ptr<Notifier> notifier) {
  std::lock_guard<std::mutex> lock(mu_);
  notifiers_.erase(std::remove_if(notifiers_.begin(), notifiers_.end(),
                                  [](const auto& n) { return n->detached(); }),
                   notifiers_.end());
  notifiers_.push_back(std::move(notifier));
}

void EventLog::Interrupt() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted_ = true;
  }
  NotifyAll();
}

void EventLog::NotifyAll() {
  std::vector<std::shared_ptr<Notifier>> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    notifiers_.erase(std::remove_if(notifiers_.begin(), notifiers_.end(),
                                    [](const auto& n) { return n->detached(); }),
                     notifiers_.end());
    targets = notifiers_;
  }
  for (const auto& n : targets) n->Notify();
}

}  // namespace gantry
