// Sessions (over the memory and SQLite stores) and LoginThrottle, on fake
// clocks.
#include "server/api/sessions.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "server/util/sha256.h"
#include "tests/server/store_fixture.h"
#include "server/store/memory_store.h"
#include "server/store/sqlite_store.h"

namespace gantry {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSecond;

// What Check says, which must not be an error.
SessionState StateOf(Sessions& sessions, std::string_view id) {
  auto state = sessions.Check(id);
  EXPECT_TRUE(state.ok()) << state.status().ToString();
  return state.ok() ? *state : SessionState::kUnknown;
}

class SessionsTest : public StoreTest {
 protected:
  SessionsTest() : StoreTest("gantry-sessions") {}

  // Options on the test's clock (starting at a plausible wall time).
  SessionsOptions Options(int64_t lifetime_ns = 12 * kHour) {
    SessionsOptions o;
    o.lifetime_ns = lifetime_ns;
    o.binding = "the-token";
    o.now_ns = [this] { return now_; };
    return o;
  }
  std::string MustCreate(Sessions& s) {
    auto c = s.Create();
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c->id : "";
  }
  // Sessions stored (sweeps them all by claiming the end of time).
  int64_t CountAndClear() {
    auto n = store_->DeleteExpiredSessions(INT64_MAX);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }

  int64_t now_ = int64_t{1'800'000'000} * kSecond;
};

TEST_P(SessionsTest, CreateCheckRevoke) {
  Sessions sessions(store_.get(), Options());
  auto created = sessions.Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(Sessions::WellFormed(created->id)) << created->id;
  EXPECT_EQ(created->id.size(), 2 * Sessions::kIdBytes);
  EXPECT_EQ(created->expires_ns, now_ + 12 * kHour);
  EXPECT_EQ(created->max_age_seconds, 12 * 3600);
  EXPECT_EQ(StateOf(sessions, created->id), SessionState::kLive);
  // Fresh ids every time.
  const std::string other = MustCreate(sessions);
  EXPECT_NE(other, created->id);

  ASSERT_TRUE(sessions.Revoke(created->id).ok());
  EXPECT_EQ(StateOf(sessions, created->id), SessionState::kUnknown);
  EXPECT_EQ(StateOf(sessions, other), SessionState::kLive);  // only that one ended
  // Revoking again, or something that is no session, is fine.
  EXPECT_TRUE(sessions.Revoke(created->id).ok());
  EXPECT_TRUE(sessions.Revoke("nonsense").ok());
  EXPECT_EQ(CountAndClear(), 1);
}

TEST_P(SessionsTest, MalformedIdsAreRefused) {
  Sessions sessions(store_.get(), Options());
  const std::string id = MustCreate(sessions);
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  for (const std::string& bad : {std::string(), std::string("x"), id + "0", id.substr(1), upper,
                                 std::string(64, 'g'), std::string(100000, 'a')}) {
    if (bad == id) continue;  // an id of digits only
    EXPECT_EQ(StateOf(sessions, bad), SessionState::kUnknown) << bad.substr(0, 70);
  }
  // A well-formed id that was never made.
  EXPECT_EQ(StateOf(sessions, std::string(64, 'a')), SessionState::kUnknown);
  EXPECT_EQ(StateOf(sessions, id), SessionState::kLive);
}

TEST_P(SessionsTest, ExpiredSessionsAreRefusedAndRemoved) {
  Sessions sessions(store_.get(), Options(kHour));
  const std::string id = MustCreate(sessions);
  now_ += kHour - kSecond;
  EXPECT_EQ(StateOf(sessions, id), SessionState::kLive);  // read from the store and cached again
  now_ += kSecond;  // exactly at expiry: refused, although it is cached
  EXPECT_EQ(StateOf(sessions, id), SessionState::kExpired);
  EXPECT_EQ(sessions.cached(), 0u);
  // ...and deleted from the store there and then, not at the next sweep.
  EXPECT_EQ(CountAndClear(), 0);

  // One that is not cached (another process's view) expires the same way.
  const std::string second = MustCreate(sessions);
  Sessions fresh(store_.get(), Options(kHour));
  now_ += 2 * kHour;
  EXPECT_EQ(StateOf(fresh, second), SessionState::kExpired);
  EXPECT_NE(std::string(SessionStateMessage(SessionState::kExpired)).find("expired"),
            std::string::npos);
  EXPECT_EQ(CountAndClear(), 0);
}

TEST_P(SessionsTest, CreateSweepsExpiredSessions) {
  SessionsOptions options = Options(kHour);
  options.sweep_every_ns = 90 * 60 * kSecond;
  Sessions sessions(store_.get(), options);
  MustCreate(sessions);  // the first create sweeps (nothing yet)
  MustCreate(sessions);
  now_ += kHour + kSecond;  // both expired; no sweep is due
  MustCreate(sessions);
  now_ += 30 * 60 * kSecond;  // a sweep is due: the first two go, the third stays
  MustCreate(sessions);
  EXPECT_EQ(CountAndClear(), 2);  // the third and the fourth
  // Sweep() on demand.
  MustCreate(sessions);
  now_ += 2 * kHour;
  auto swept = sessions.Sweep();
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  EXPECT_EQ(*swept, 1);
}

// "Any replica": a session made by one Sessions is accepted by another over
// the same store; a revoke by one is seen by the other once its cache entry
// is older than cache_ttl.
TEST_P(SessionsTest, AnotherInstanceOverTheSameStoreAcceptsAndRevokes) {
  Sessions a(store_.get(), Options());
  Sessions b(store_.get(), Options());
  const std::string id = MustCreate(a);
  EXPECT_EQ(StateOf(b, id), SessionState::kLive);
  ASSERT_TRUE(a.Revoke(id).ok());
  EXPECT_EQ(StateOf(a, id), SessionState::kUnknown);  // at once where revoked
  EXPECT_EQ(StateOf(b, id), SessionState::kLive);     // b still trusts what it read 0 s ago
  now_ += 10 * kSecond;                               // cache_ttl later: b asks the store again
  EXPECT_EQ(StateOf(b, id), SessionState::kUnknown);

  // b never saw this one: a revoke by a is refused by b at once.
  const std::string second = MustCreate(a);
  ASSERT_TRUE(a.Revoke(second).ok());
  EXPECT_EQ(StateOf(b, second), SessionState::kUnknown);
}

// A session is bound to the token it was made under: a server started with
// another token refuses it.
TEST_P(SessionsTest, SessionsOfAnotherTokenAreRefused) {
  Sessions a(store_.get(), Options());
  const std::string id = MustCreate(a);
  SessionsOptions rotated = Options();
  rotated.binding = "a-new-token";
  Sessions b(store_.get(), rotated);
  EXPECT_EQ(StateOf(b, id), SessionState::kUnknown);
  EXPECT_EQ(StateOf(b, MustCreate(b)), SessionState::kLive);
}

// A session remembers whose it is: from the store, from the cache, and on
// another instance over the same store.
TEST_P(SessionsTest, ASessionCarriesItsPrincipal) {
  Sessions a(store_.get(), Options());
  Sessions b(store_.get(), Options());
  auto created = a.Create("alice 00ff");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string who;
  ASSERT_EQ(*a.Check(created->id, &who), SessionState::kLive);  // cached by Create
  EXPECT_EQ(who, "alice 00ff");
  who.clear();
  ASSERT_EQ(*b.Check(created->id, &who), SessionState::kLive);  // read from the store
  EXPECT_EQ(who, "alice 00ff");
  who.clear();
  ASSERT_EQ(*b.Check(created->id, &who), SessionState::kLive);  // from b's cache
  EXPECT_EQ(who, "alice 00ff");
  EXPECT_EQ(a.Create(std::string(201, 'x')).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(SessionsTest, TheCacheIsBounded) {
  SessionsOptions options = Options();
  options.cache_entries = 3;
  Sessions sessions(store_.get(), options);
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(MustCreate(sessions));
  EXPECT_LE(sessions.cached(), 3u);
  for (const std::string& id : ids) EXPECT_EQ(StateOf(sessions, id), SessionState::kLive);
  EXPECT_LE(sessions.cached(), 3u);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, SessionsTest,
    ::testing::Values(StoreFactory{"memory",
                                   [](const std::string&) -> std::unique_ptr<Store> {
                                     return std::make_unique<MemoryStore>();
                                   }},
                      StoreFactory{"sqlite",
                                   [](const std::string& dir) -> std::unique_ptr<Store> {
                                     auto s = SqliteStore::Open(dir);
                                     EXPECT_TRUE(s.ok()) << s.status().ToString();
                                     return s.ok() ? std::move(s).value() : nullptr;
                                   }}),
    [](const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; });

// The database never holds a session id, only a hash that is not even the
// id's plain SHA-256.
TEST(SessionsSqliteTest, TheDatabaseHoldsNoId) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sessions-db-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  std::string id;
  {
    auto store = SqliteStore::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    SessionsOptions options;
    options.binding = "tok";
    Sessions sessions(store->get(), options);
    auto created = sessions.Create();
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    id = created->id;
    EXPECT_EQ(StateOf(sessions, id), SessionState::kLive);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/gantry.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT id_hash FROM sessions", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  const std::string stored(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_TRUE(IsSha256Hex(stored));
  EXPECT_NE(stored, id);
  EXPECT_NE(stored, Sha256Hex(id));
  // Nor anywhere in the files.
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(id), std::string::npos) << f.path();
  }
  fs::remove_all(dir);
}

// A store that cannot be read is an error, not "no such session" (the
// caller answers 503, not 401), and Create fails rather than hand out an
// unstored id.
TEST(SessionsSqliteTest, AStoreFailureIsAnErrorNotARefusal) {
  const std::string dir =
      (fs::temp_directory_path() / ("gantry-sessions-fail-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  auto store = SqliteStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Sessions sessions(store->get(), SessionsOptions{});
  auto created = sessions.Create();
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  SessionsOptions uncached;
  uncached.cache_entries = 0;
  Sessions other(store->get(), uncached);
  ASSERT_EQ(StateOf(other, created->id), SessionState::kLive);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/gantry.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE sessions", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto state = other.Check(created->id);
  EXPECT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), StatusCode::kInternal) << state.status().ToString();
  EXPECT_FALSE(sessions.Create().ok());
  store->reset();
  fs::remove_all(dir);
}

// --- LoginThrottle ---

class LoginThrottleTest : public ::testing::Test {
 protected:
  LoginThrottleOptions Options() {
    LoginThrottleOptions o;
    o.now_ns = [this] { return now_; };
    return o;
  }
  int64_t now_ = 1000 * kSecond;
};

TEST_F(LoginThrottleTest, DelaysGrowAfterFiveFailuresUpToTheCap) {
  LoginThrottle t(Options());
  const std::string a = "192.0.2.7";
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(t.RetryAfterSeconds(a), std::nullopt);
    EXPECT_EQ(t.Failed(a), std::nullopt) << "failure " << i + 1;
  }
  // The 5th failure: 1 s, then 2, 4, 8, 16, 32, 60, 60, ...
  std::vector<int> delays;
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(t.RetryAfterSeconds(a), std::nullopt);
    const auto d = t.Failed(a);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(t.RetryAfterSeconds(a), d);
    delays.push_back(*d);
    now_ += int64_t{*d} * kSecond - 1;
    EXPECT_EQ(t.RetryAfterSeconds(a), 1);  // 1 ns left rounds up
    now_ += 1;
  }
  EXPECT_EQ(delays, (std::vector<int>{1, 2, 4, 8, 16, 32, 60, 60, 60}));
  // Part of a second left counts as a whole one.
  t.Failed(a);
  now_ += 59 * kSecond + kSecond / 2;
  EXPECT_EQ(t.RetryAfterSeconds(a), 1);
  // Other addresses are not affected.
  EXPECT_EQ(t.RetryAfterSeconds("192.0.2.8"), std::nullopt);
}

TEST_F(LoginThrottleTest, ASuccessForgetsTheFailures) {
  LoginThrottle t(Options());
  for (int i = 0; i < 7; ++i) t.Failed("198.51.100.1");
  ASSERT_TRUE(t.RetryAfterSeconds("198.51.100.1").has_value());
  t.Succeeded("198.51.100.1");
  EXPECT_EQ(t.RetryAfterSeconds("198.51.100.1"), std::nullopt);
  EXPECT_EQ(t.size(), 0u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.Failed("198.51.100.1"), std::nullopt);
  EXPECT_EQ(t.Failed("198.51.100.1"), 1);
}

TEST_F(LoginThrottleTest, FailuresFurtherApartThanTheWindowStartOver) {
  LoginThrottle t(Options());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(t.Failed("203.0.113.5"), std::nullopt) << i;
    if (i % 4 == 3) now_ += 15 * 60 * kSecond + 1;  // a quiet window: forgotten
  }
  // Within the window they add up, however slowly they come.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(t.Failed("203.0.113.6"), std::nullopt);
    now_ += 14 * 60 * kSecond;
  }
  EXPECT_EQ(t.Failed("203.0.113.6"), 1);
}

// The figure from the issue: 300 wrong logins on one connection took 8 s.
// Now an attacker that retries as soon as it is allowed gets 5 guesses at
// once, then one after 1, 2, 4, ... 32 s: 11 in the first two minutes, and
// one a minute after that.
TEST_F(LoginThrottleTest, ABruteForceIsSlowedDown) {
  LoginThrottle t(Options());
  const int64_t start = now_;
  int guesses = 0, refused = 0;
  while (now_ - start < 120 * kSecond) {
    if (auto wait = t.RetryAfterSeconds("192.0.2.1")) {
      ++refused;
      now_ += int64_t{*wait} * kSecond;  // the client honours Retry-After
      continue;
    }
    ++guesses;
    t.Failed("192.0.2.1");
    now_ += kSecond / 1000;  // a guess takes 1 ms
  }
  EXPECT_EQ(guesses, 11);
  EXPECT_EQ(refused, 7);
}

TEST_F(LoginThrottleTest, AtMostMaxAddressesAreRemembered) {
  LoginThrottleOptions options = Options();
  options.max_addresses = 100;
  LoginThrottle t(options);
  for (int i = 0; i < 5; ++i) t.Failed("10.0.0.1");  // blocked
  ASSERT_TRUE(t.RetryAfterSeconds("10.0.0.1").has_value());
  for (int i = 0; i < 250; ++i) {
    t.Failed("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    EXPECT_LE(t.size(), 100u);
  }
  EXPECT_EQ(t.size(), 100u);
  // The least recently failed went first: 10.0.0.1, and the first 150 others.
  EXPECT_EQ(t.RetryAfterSeconds("10.0.0.1"), std::nullopt);
  for (int i = 0; i < 4; ++i) t.Failed("10.1.0.249");  // its 5th: kept, so counted
  EXPECT_EQ(t.RetryAfterSeconds("10.1.0.249"), 1);
  for (int i = 0; i < 4; ++i) t.Failed("10.1.0.0");  // evicted: starts over at 1
  EXPECT_EQ(t.RetryAfterSeconds("10.1.0.0"), std::nullopt);
}

TEST_F(LoginThrottleTest, AddressesAreKeyedByHostOrIpv6Network) {
  EXPECT_EQ(LoginThrottle::KeyOf("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::KeyOf("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(LoginThrottle::KeyOf("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::KeyOf("[2001:db8:1:2::1]"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginThrottle::KeyOf("fe80::1%eth0"), "fe80::/64");
  EXPECT_EQ(LoginThrottle::KeyOf("::1"), "::/64");
  EXPECT_EQ(LoginThrottle::KeyOf(std::string(500, 'x')), std::string(64, 'x'));
  // One host of a /64 cannot dodge the count by changing its address.
  LoginThrottle t(Options());
  for (int i = 0; i < 5; ++i) t.Failed("2001:db8:1:2::" + std::to_string(i + 1));
  EXPECT_EQ(t.RetryAfterSeconds("2001:db8:1:2::ffff"), 1);
  EXPECT_EQ(t.RetryAfterSeconds("2001:db8:1:3::1"), std::nullopt);
}

}  // namespace
}  // namespace gantry
