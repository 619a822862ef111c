#include "server/jobs/event_cursor.h"

#include <algorithm>

namespace gantry {

EventCursor::EventCursor(const Store* store, std::string job_id, std::shared_ptr<LiveEvents> live,
                         int64_t terminal_seq, int64_t from_seq)
    : store_(store),
      job_id_(std::move(job_id)),
      live_(std::move(live)),
      terminal_seq_(terminal_seq),
      next_seq_(std::max<int64_t>(1, from_seq)) {}

void EventCursor::Subscribe(std::shared_ptr<Notifier> notifier) {
  if (live_) live_->Subscribe(std::move(notifier));
}

EventCursor::Step EventCursor::Next(std::shared_ptr<const v1::JobEvent>* event) {
  while (!page_.empty() && page_.front()->seq() < next_seq_) page_.pop_front();
  if (!page_.empty() && page_.front()->seq() == next_seq_) {
    *event = page_.front();
    return Step::kEvent;
  }
  page_.clear();
  if (live_) {
    if ((*event = live_->At(next_seq_))) return Step::kEvent;
    if (const int64_t t = live_->terminal_seq(); t > 0) terminal_seq_ = t;
  }
  if (terminal_seq_ > 0 && next_seq_ > terminal_seq_) return Step::kEnd;
  // Ahead of everything published: nothing to read until the next one.
  if (!shared_ && live_ && live_->last_seq() > 0 && next_seq_ > live_->last_seq()) {
    return live_->interrupted() ? Step::kInterrupted : Step::kWait;
  }
  const int limit = static_cast<int>(std::clamp<size_t>(
      event_bytes_ == 0 ? kPageEvents : kPageBytes / event_bytes_, 1, kPageEvents));
  auto events = store_->ReadEvents(job_id_, next_seq_, limit);
  if (!events.ok()) {
    status_ = events.status();
    return Step::kFailed;
  }
  for (auto& ev : *events) {
    if (ev.seq() != next_seq_ + static_cast<int64_t>(page_.size())) break;
    if (IsTerminalEvent(ev)) terminal_seq_ = ev.seq();
    event_bytes_ = std::max<size_t>(1, ev.ByteSizeLong());
    page_.push_back(std::make_shared<const v1::JobEvent>(std::move(ev)));
  }
  if (!page_.empty()) {
    *event = page_.front();
    return Step::kEvent;
  }
  if (!live_) return Step::kEnd;  // an ended job with nothing more stored
  return live_->interrupted() ? Step::kInterrupted : Step::kWait;
}

}  // namespace gantry
