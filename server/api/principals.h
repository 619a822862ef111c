// Principals: who may call gantryd, and what each may do (issue 26, point 1).
//
// A credentials file names each principal, its role and the SHA-256 of its
// token, one per line; the server never stores a token itself:
//
//   # NAME   ROLE    TOKEN'S SHA-256 (sha256:HEX, 64 lower-case hex digits)  [QUOTAS]
//   alice    admin   sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//   ci-bot   member  sha256:...  queued=10 running=2 memory=4GiB
//
// In place of the token, or beside it, `cert:COMMON_NAME` names the subject
// common name of a client certificate (gantryd --tls-client-ca verifies it)
// that authenticates the principal without a token:
//
//   ci-bot   member  cert:ci-bot.example.com
//
// Quotas (server/store/quota.h), optional, each at most once: queued=N and
// running=N jobs at once, memory=SIZE (admission's estimates of the queued
// and running jobs together; 512MiB, 4GiB, ...). The store counts and
// enforces them, across replicas.
//
// Names are 1..63 characters of [A-Za-z0-9._-] starting with a letter or a
// digit; roles are admin (everything), member (create; read everything;
// cancel and delete its own jobs) and viewer (read). `#` starts a comment.
// A bad line is an error naming the file, the line and what is wrong; two
// principals with one name or one token are an error. The single
// --auth-token of older set-ups is one admin principal, "admin".
//
// Thread-safety: a Principals is immutable once built; share it with
// shared_ptr<const Principals>. PrincipalsFile swaps in a new one on Reload
// and is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "server/store/quota.h"
#include "server/util/mutex.h"

namespace gantry {

enum class Role { kViewer, kMember, kAdmin };

// "viewer", "member", "admin".
const char* RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

struct Principal {
  std::string name;
  Role role = Role::kViewer;
  // A digest of the principal's token (never the token, nor the hash the
  // credentials file holds): a dashboard session stores it, so a session
  // made with a token that has since changed is refused.
  std::string fingerprint;
  Quota quota;  // none by default
};

// The caller of a server that requires no credentials: no name, and every
// call allowed.
Principal OpenServerCaller();

// What a session stores about its principal: "NAME FINGERPRINT".
std::string SessionPrincipal(const Principal& who);

// What a call does, for the policy below.
enum class Action {
  kRead,    // GetJob, ListJobs, WatchJob, Sample, exports, reports, tables
  kCreate,  // CreateJob, UploadTable, CreateWebhook
  kCancel,  // CancelJob
  kDelete,  // DeleteJob, DeleteTable
};

// Whether `who` may do `what` to something owned by `owner` (empty: no
// owner, e.g. a job from before principals, which only admins may cancel
// or delete).
bool Allowed(const Principal& who, Action what, std::string_view owner);

class Principals {
 public:
  // The principals of a credentials file's `text`; errors name `path` and
  // the line.
  static StatusOr<std::shared_ptr<const Principals>> Parse(std::string_view text, const std::string& path);
  // The single-token set-up: one admin principal, "admin".
  static std::shared_ptr<const Principals> SingleToken(std::string_view token);

  // The principal whose token this is (by its SHA-256), if any.
  std::optional<Principal> Find(std::string_view token) const;
  // The principal of this name, if any.
  std::optional<Principal> FindName(std::string_view name) const;
  // The principal whose client certificate has this subject common name.
  std::optional<Principal> FindCertificate(std::string_view common_name) const;
  // The principal a session was made for (SessionPrincipal's text), while
  // it is still named here with the same token.
  std::optional<Principal> FindSession(std::string_view stored) const;
  size_t size() const { return by_name_.size(); }
  // The principals with a running quota, by name.
  RunningLimits Running() const;

 private:
  std::map<std::string, Principal> by_hash_;  // SHA-256 hex of the token -> principal
  std::map<std::string, Principal, std::less<>> by_name_;
  std::map<std::string, Principal, std::less<>> by_cert_;  // by the certificate's common name
};

// A credentials file, read at start and again on Reload() (SIGHUP, or when
// its modification time changed): a file that no longer parses keeps the
// principals read last and says why.
class PrincipalsFile {
 public:
  static StatusOr<std::unique_ptr<PrincipalsFile>> Open(std::string path);

  std::shared_ptr<const Principals> Current() const;
  // Reads the file again if its modification time, change time, inode or
  // size changed, or whatever they say when `force` (SIGHUP). OK (with
  // *changed: its text differs) or the error that kept the old principals.
  Status Reload(bool* changed = nullptr, bool force = false) EXCLUDES(reload_mu_, mu_);

 private:
  explicit PrincipalsFile(std::string path) : path_(std::move(path)) {}
  struct Stamp {
    int64_t mtime_ns = -1, ctime_ns = -1, inode = -1, size = -1;
    bool operator==(const Stamp& o) const {
      return mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns && inode == o.inode && size == o.size;
    }
  };
  std::string path_;
  Mutex reload_mu_ ACQUIRED_BEFORE(mu_);
  mutable Mutex mu_;
  std::shared_ptr<const Principals> current_ GUARDED_BY(mu_);
  Stamp stamp_ GUARDED_BY(mu_);
  std::string digest_ GUARDED_BY(mu_);  // SHA-256 of the text read last
};

}  // namespace gantry
