// EventHub, LiveEvents and Notifier: the live tail's bounds, terminal and
// non-consecutive events, Detach waiting for a call in progress, Nudge and
// InterruptAll.
#include "server/jobs/event_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "tests/server/unit/unit_util.h"

namespace gantry {
namespace {

using unit::EpochEvent;
using unit::StateEvent;

// A notifier that counts its calls.
struct Counted {
  std::atomic<int> calls{0};
  std::shared_ptr<Notifier> notifier = std::make_shared<Notifier>([this] { ++calls; });
};

TEST(EventHubTest, LiveEventsLastWhileHeldAndStartEmptyAfter) {
  EventHub hub;
  auto live = hub.Live("j");
  EXPECT_EQ(hub.Live("j"), live) << "one log per job while anyone holds it";
  EXPECT_NE(hub.Live("k"), live);
  hub.Publish("j", EpochEvent(1, 1));
  EXPECT_EQ(live->last_seq(), 1);
  live.reset();
  hub.Publish("j", EpochEvent(2, 2));  // nobody follows: dropped (it is stored)
  auto again = hub.Live("j");
  EXPECT_EQ(again->last_seq(), 0);
  EXPECT_EQ(again->At(2), nullptr);
}

TEST(EventHubTest, TailKeepsTheNewestKTailEvents) {
  EventHub hub;
  auto live = hub.Live("j");
  const int64_t n = LiveEvents::kTailEvents + 44;
  for (int64_t seq = 1; seq <= n; ++seq) hub.Publish("j", EpochEvent(seq, seq));
  const int64_t first = n - static_cast<int64_t>(LiveEvents::kTailEvents) + 1;
  EXPECT_EQ(live->At(first - 1), nullptr);
  ASSERT_NE(live->At(first), nullptr);
  EXPECT_EQ(live->At(first)->seq(), first);
  ASSERT_NE(live->At(n), nullptr);
  EXPECT_EQ(live->At(n)->epoch().epoch(), n);
  EXPECT_EQ(live->At(n + 1), nullptr);
  EXPECT_EQ(live->last_seq(), n);
  EXPECT_EQ(live->terminal_seq(), 0);
}

TEST(EventHubTest, TailKeepsAtMostKTailBytes) {
  EventHub hub;
  auto live = hub.Live("j");
  const std::string big(100 * 1024, 'x');
  const size_t size = StateEvent(1, v1::JOB_STATE_RUNNING, big).ByteSizeLong();
  const int64_t n = 100;  // about 10 MiB
  for (int64_t seq = 1; seq <= n; ++seq) {
    hub.Publish("j", StateEvent(seq, v1::JOB_STATE_RUNNING, big));
  }
  const int64_t kept = static_cast<int64_t>(LiveEvents::kTailBytes / size);
  EXPECT_EQ(live->At(n - kept), nullptr);
  ASSERT_NE(live->At(n - kept + 1), nullptr);
  ASSERT_NE(live->At(n), nullptr);
  std::printf("[ figures  ] tail of %zu-byte events: %lld kept (%zu bytes, limit %zu)\n", size,
              static_cast<long long>(kept), static_cast<size_t>(kept) * size,
              LiveEvents::kTailBytes);
}

TEST(EventHubTest, TerminalAndNonConsecutiveEvents) {
  EventHub hub;
  auto live = hub.Live("j");
  hub.Publish("j", EpochEvent(1, 1));
  hub.Publish("j", EpochEvent(2, 2));
  // Not consecutive: the tail starts again from it.
  hub.Publish("j", EpochEvent(5, 5));
  EXPECT_EQ(live->At(2), nullptr);
  ASSERT_NE(live->At(5), nullptr);
  EXPECT_EQ(live->last_seq(), 5);
  hub.Publish("j", StateEvent(6, v1::JOB_STATE_FAILED));
  EXPECT_EQ(live->terminal_seq(), 6);
  EXPECT_TRUE(IsTerminalEvent(*live->At(6)));
  EXPECT_FALSE(IsTerminalEvent(StateEvent(1, v1::JOB_STATE_RUNNING)));
  EXPECT_FALSE(IsTerminalEvent(EpochEvent(1, 1)));
}

TEST(EventHubTest, PublishNotifiesFollowersUntilTheyDetach) {
  EventHub hub;
  auto live = hub.Live("j");
  Counted a, b;
  live->Subscribe(a.notifier);
  live->Subscribe(b.notifier);
  hub.Publish("j", EpochEvent(1, 1));
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(b.calls, 1);
  a.notifier->Detach();
  EXPECT_TRUE(a.notifier->detached());
  hub.Publish("j", EpochEvent(2, 2));
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(b.calls, 2);
  // A detached follower is dropped at the next Subscribe: the log no longer
  // holds it.
  Counted c;
  live->Subscribe(c.notifier);
  EXPECT_EQ(a.notifier.use_count(), 1);
  EXPECT_EQ(b.notifier.use_count(), 2);
}

TEST(EventHubTest, DetachWaitsForACallInProgress) {
  unit::Gate entered, release;
  std::atomic<bool> detach_returned{false};
  std::atomic<bool> detached_during_call{false};
  std::atomic<int> calls{0};
  auto notifier = std::make_shared<Notifier>([&] {
    ++calls;
    entered.Open();
    EXPECT_TRUE(release.Wait());
    detached_during_call = detach_returned.load();
  });
  std::thread notifying([&] { notifier->Notify(); });
  ASSERT_TRUE(entered.Wait());
  std::thread detaching([&] {
    notifier->Detach();
    detach_returned = true;
  });
  // Give Detach the chance to return early (it must not).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(detach_returned);
  release.Open();
  notifying.join();
  detaching.join();
  EXPECT_FALSE(detached_during_call) << "Detach returned while the call was still running";
  EXPECT_TRUE(detach_returned);
  notifier->Notify();  // no call after Detach
  EXPECT_EQ(calls, 1);
}

TEST(EventHubTest, NudgeWakesOneJobsFollowersOrEveryone) {
  EventHub hub;
  auto j = hub.Live("j"), k = hub.Live("k");
  Counted fj, fk;
  j->Subscribe(fj.notifier);
  k->Subscribe(fk.notifier);
  hub.Nudge("j");
  EXPECT_EQ(fj.calls, 1);
  EXPECT_EQ(fk.calls, 0);
  hub.Nudge("nobody");
  hub.Nudge("");
  EXPECT_EQ(fj.calls, 2);
  EXPECT_EQ(fk.calls, 1);
  EXPECT_EQ(j->last_seq(), 0) << "a nudge publishes nothing";
}

TEST(EventHubTest, InterruptAllEndsEveryWaitIncludingLaterOnes) {
  EventHub hub;
  auto j = hub.Live("j");
  Counted f;
  j->Subscribe(f.notifier);
  EXPECT_FALSE(j->interrupted());
  hub.InterruptAll();
  EXPECT_TRUE(j->interrupted());
  EXPECT_EQ(f.calls, 1);
  EXPECT_TRUE(hub.Live("later")->interrupted());
}

}  // namespace
}  // namespace gantry
