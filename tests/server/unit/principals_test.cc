// Principals: the credentials file's format and errors, token lookup, the
// role policy, and reloading a changed file (keeping the old principals
// when the new file is bad).
#include "server/api/principals.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "server/util/sha256.h"

namespace gantry {
namespace {

std::string Line(const std::string& name, const std::string& role, const std::string& token) {
  return name + " " + role + " sha256:" + Sha256Hex(token) + "\n";
}

TEST(Principals, ParsesNamesRolesAndTokenHashes) {
  const std::string text = "# the team\n\n" + Line("alice", "admin", "a-token") +
                           "  " + Line("ci-bot", "member", "b-token") + Line("v.1", "viewer", "c") +
                           "# trailing comment\n";
  auto p = Principals::Parse(text, "creds");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->size(), 3u);
  auto alice = (*p)->Find("a-token");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->role, Role::kAdmin);
  EXPECT_EQ((*p)->Find("b-token")->role, Role::kMember);
  EXPECT_EQ((*p)->Find("c")->name, "v.1");
  EXPECT_FALSE((*p)->Find("a-token ").has_value());
  EXPECT_FALSE((*p)->Find("").has_value());
}

TEST(Principals, ErrorsNameTheFileTheLineAndTheProblem) {
  const std::string ok = Line("alice", "admin", "t1");
  auto err = [](const std::string& text) { return Principals::Parse(text, "creds").status().message(); };
  EXPECT_EQ(err(ok + "bob member\n"),
            "creds:2: expected NAME ROLE sha256:HEX|cert:COMMON_NAME [queued=N] [running=N] [memory=SIZE], found 2 words");
  EXPECT_EQ(err(ok + Line("-bob", "member", "t2")),
            "creds:2: '-bob' is not a name (1..63 of [A-Za-z0-9._-], starting with a letter or digit)");
  EXPECT_EQ(err(ok + Line("bob", "owner", "t2")), "creds:2: 'owner' is not one of admin, member, viewer");
  EXPECT_EQ(err("bob member t2\n"),
            "creds:1: the token must be given as sha256:HEX (64 lower-case hex digits of its SHA-256, e.g. "
            "from `printf %s TOKEN | sha256sum`), never itself, or a client certificate as cert:COMMON_NAME");
  // The hash of the empty token would let "Bearer " with nothing after it in.
  EXPECT_EQ(err(Line("bob", "member", "")),
            "creds:1: the token must be given as sha256:HEX (64 lower-case hex digits of its SHA-256, e.g. "
            "from `printf %s TOKEN | sha256sum`), never itself");
  EXPECT_EQ(err(ok + Line("alice", "viewer", "t2")), "creds:2: 'alice' is named twice");
  EXPECT_EQ(err(ok + Line("bob", "viewer", "t1")), "creds:2: 'bob' has the token of another principal");
  EXPECT_TRUE(Principals::Parse("", "creds").ok());  // nobody: every token is refused
}

TEST(Principals, TheSingleTokenIsOneAdmin) {
  auto p = Principals::SingleToken("s3cret");
  auto admin = p->Find("s3cret");
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->name, "admin");
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_FALSE(p->Find("s3cre").has_value());
}

// A session stores "NAME FINGERPRINT": it finds its principal while the
// file names it with the same token, and never holds the token's hash.
TEST(Principals, SessionsFindTheirPrincipalWhileItsTokenIsUnchanged) {
  auto p = Principals::Parse(Line("alice", "admin", "a-token") + Line("bob", "member", "b-token"), "creds");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const Principal alice = *(*p)->Find("a-token");
  const std::string stored = SessionPrincipal(alice);
  EXPECT_EQ(stored.rfind("alice ", 0), 0u);
  EXPECT_EQ(stored.find(Sha256Hex("a-token")), std::string::npos);
  EXPECT_EQ(stored.find(Sha256Hex("a-token").substr(0, 16)), std::string::npos);
  auto found = (*p)->FindSession(stored);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->role, Role::kAdmin);
  EXPECT_FALSE((*p)->FindSession("alice").has_value());
  EXPECT_FALSE((*p)->FindSession("bob " + alice.fingerprint).has_value());
  EXPECT_FALSE((*p)->FindSession("").has_value());
  // alice's token changed: her old sessions no longer find her.
  auto rotated = Principals::Parse(Line("alice", "admin", "new-token"), "creds");
  ASSERT_TRUE(rotated.ok());
  EXPECT_FALSE((*rotated)->FindSession(stored).has_value());
  // The single token's admin too.
  auto single = Principals::SingleToken("s3cret");
  EXPECT_TRUE(single->FindSession(SessionPrincipal(*single->Find("s3cret"))).has_value());
  EXPECT_FALSE(Principals::SingleToken("other")->FindSession(SessionPrincipal(*single->Find("s3cret"))).has_value());
  // A server without credentials: an unnamed admin.
  EXPECT_EQ(OpenServerCaller().role, Role::kAdmin);
  EXPECT_EQ(OpenServerCaller().name, "");
}

TEST(Principals, ClientCertificatesNamePrincipalsWithOrWithoutATokenToo) {
  auto p = Principals::Parse("ci-bot member cert:ci-bot.example.com\n"
                             "alice admin sha256:" + Sha256Hex("a") + " cert:alice queued=3\n", "creds");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)->size(), 2u);
  auto bot = (*p)->FindCertificate("ci-bot.example.com");
  ASSERT_TRUE(bot.has_value());
  EXPECT_EQ(bot->name, "ci-bot");
  EXPECT_EQ(bot->role, Role::kMember);
  EXPECT_FALSE((*p)->FindCertificate("ci-bot").has_value());
  EXPECT_EQ((*p)->FindCertificate("alice")->quota.queued, 3);
  EXPECT_EQ((*p)->Find("a")->name, "alice");
  // A certificate-only principal has no token fingerprint: no session finds it.
  EXPECT_FALSE((*p)->FindSession(SessionPrincipal(*bot)).has_value());
  for (const auto& [line, message] : std::vector<std::pair<std::string, std::string>>{
           {"x member cert:\n", "creds:1: cert: needs the client certificate's common name (1..255 characters, no spaces)"},
           {"x member cert:a cert:b\n", "creds:1: 'x' has two certificates"},
           {"x member cert:a\ny member cert:a\n", "creds:2: 'y' has the certificate of another principal"},
           {"x member queued=1\n", "creds:1: the token must be given as sha256:HEX (64 lower-case hex digits of its SHA-256, e.g. from `printf %s TOKEN | sha256sum`), never itself, or a client certificate as cert:COMMON_NAME"}}) {
    auto bad = Principals::Parse(line, "creds");
    ASSERT_FALSE(bad.ok()) << line;
    EXPECT_EQ(bad.status().message(), message);
  }
}

TEST(Principals, QuotasFollowTheTokenHash) {
  const std::string hash = " sha256:" + Sha256Hex("t1");
  auto p = Principals::Parse("bob member" + hash + " queued=10 running=2 memory=4GiB\n"
                             "carol member sha256:" + Sha256Hex("t2") + " running=0\n"
                             "vic viewer sha256:" + Sha256Hex("t3") + "\n", "creds");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const Principal bob = *(*p)->Find("t1");
  EXPECT_EQ(bob.quota.queued, 10);
  EXPECT_EQ(bob.quota.running, 2);
  EXPECT_EQ(bob.quota.memory_bytes, int64_t{4} << 30);
  EXPECT_FALSE((*p)->Find("t3")->quota.any());
  EXPECT_EQ((*p)->Running(), (RunningLimits{{"bob", 2}, {"carol", 0}}));
  for (const auto& [extra, message] : std::vector<std::pair<std::string, std::string>>{
           {"queued=x", "creds:1: queued=x is not a whole number in 0..1000000"},
           {"running=-1", "creds:1: running=-1 is not a whole number in 0..1000000"},
           {"memory=lots", "creds:1: memory=lots is not a size (e.g. 512MiB, 4GiB)"},
           {"cpus=4", "creds:1: 'cpus=4' is not a quota (queued=N, running=N or memory=SIZE)"},
           {"queued", "creds:1: 'queued' is not a quota (queued=N, running=N or memory=SIZE)"},
           {"queued=1 queued=2", "creds:1: the quota queued is given twice"}}) {
    auto bad = Principals::Parse("bob member" + hash + " " + extra + "\n", "creds");
    ASSERT_FALSE(bad.ok()) << extra;
    EXPECT_EQ(bad.status().message(), message);
  }
}

TEST(Principals, RolesAllowWhatTheIssueSays) {
  const Principal admin{"root", Role::kAdmin}, member{"bob", Role::kMember}, viewer{"eve", Role::kViewer};
  for (Action a : {Action::kRead, Action::kCreate, Action::kCancel, Action::kDelete}) {
    EXPECT_TRUE(Allowed(admin, a, "bob"));
    EXPECT_TRUE(Allowed(admin, a, ""));
  }
  EXPECT_TRUE(Allowed(member, Action::kRead, "alice"));
  EXPECT_TRUE(Allowed(member, Action::kCreate, ""));
  EXPECT_TRUE(Allowed(member, Action::kCancel, "bob"));
  EXPECT_TRUE(Allowed(member, Action::kDelete, "bob"));
  EXPECT_FALSE(Allowed(member, Action::kCancel, "alice"));
  EXPECT_FALSE(Allowed(member, Action::kDelete, "alice"));
  EXPECT_FALSE(Allowed(member, Action::kDelete, ""));  // a job from before owners: admins only
  EXPECT_TRUE(Allowed(viewer, Action::kRead, "bob"));
  for (Action a : {Action::kCreate, Action::kCancel, Action::kDelete}) {
    EXPECT_FALSE(Allowed(viewer, a, "eve"));
  }
  EXPECT_EQ(ParseRole("member"), Role::kMember);
  EXPECT_FALSE(ParseRole("Member").has_value());
}

TEST(PrincipalsFile, ReloadsAChangedFileAndKeepsTheOldOnAnError) {
  char dir[] = "/tmp/gantry-principals-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/credentials";
  auto write = [&](const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  };
  write(Line("alice", "admin", "t1"));
  auto f = PrincipalsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE((*f)->Current()->Find("t1").has_value());
  bool changed = true;
  ASSERT_TRUE((*f)->Reload(&changed).ok());
  EXPECT_FALSE(changed);  // nothing new: not read again

  write(Line("alice", "admin", "t1") + Line("bob", "member", "t2"));
  ASSERT_TRUE((*f)->Reload(&changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_EQ((*f)->Current()->Find("t2")->name, "bob");

  write(Line("alice", "admin", "t1") + "bob member\n");
  const Status bad = (*f)->Reload(&changed);
  EXPECT_EQ(bad.message(), path + ":2: expected NAME ROLE sha256:HEX|cert:COMMON_NAME [queued=N] [running=N] [memory=SIZE], found 2 words");
  EXPECT_FALSE(changed);
  EXPECT_EQ((*f)->Current()->Find("t2")->name, "bob");  // the last good file still holds

  // A rotated token: the same size, and the modification time put back (as
  // cp -p or rsync -a would); its change time still tells.
  write(Line("alice", "admin", "t1"));
  ASSERT_TRUE((*f)->Reload(&changed).ok());
  struct stat before {};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  write(Line("alice", "admin", "t7"));
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  ASSERT_TRUE((*f)->Reload(&changed).ok());
  EXPECT_TRUE(changed);
  EXPECT_TRUE((*f)->Current()->Find("t7").has_value());
  EXPECT_FALSE((*f)->Current()->Find("t1").has_value());
  // Forced (SIGHUP) with the same text: read, but nothing changed.
  ASSERT_TRUE((*f)->Reload(&changed, /*force=*/true).ok());
  EXPECT_FALSE(changed);

  EXPECT_EQ(PrincipalsFile::Open(std::string(dir) + "/missing").status().code(), StatusCode::kNotFound);
  std::remove(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace gantry
