#include "server/api/principals.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "core/memory.h"
#include "server/util/sha256.h"

namespace gantry {
namespace {

// The largest credentials file read: thousands of principals fit.
constexpr int64_t kMaxFileBytes = 1 << 20;

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 63 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The fingerprint of a token's SHA-256 (hex): a digest of it under a label
// of its own, so that neither the token nor the credentials file's hash can
// be read back from a session row.
std::string Fingerprint(std::string_view token_hash) {
  return Sha256Hex("gantry session principal\n" + std::string(token_hash)).substr(0, 32);
}

// One quota word, "queued=N", "running=N" or "memory=SIZE", into *quota.
Status ParseQuota(const std::string& word, const std::string& at, Quota* quota) {
  const size_t eq = word.find('=');
  const std::string key = word.substr(0, eq), value = eq == std::string::npos ? "" : word.substr(eq + 1);
  int64_t* field = key == "queued" ? &quota->queued
                   : key == "running" ? &quota->running
                   : key == "memory" ? &quota->memory_bytes : nullptr;
  if (field == nullptr || eq == std::string::npos) {
    return Status::InvalidArgument(at + "'" + word.substr(0, 64) +
                                   "' is not a quota (queued=N, running=N or memory=SIZE)");
  }
  if (*field >= 0) return Status::InvalidArgument(at + "the quota " + key + " is given twice");
  int64_t n = -1;
  if (key == "memory") {
    if (!ParseBytes(value, &n) || n < 0) {
      return Status::InvalidArgument(at + "memory=" + value.substr(0, 32) +
                                     " is not a size (e.g. 512MiB, 4GiB)");
    }
  } else {
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || n < 0 || n > 1'000'000) {
      return Status::InvalidArgument(at + key + "=" + value.substr(0, 32) +
                                     " is not a whole number in 0..1000000");
    }
  }
  *field = n;
  return Status::Ok();
}

}  // namespace

Principal OpenServerCaller() { return Principal{"", Role::kAdmin, ""}; }

std::string SessionPrincipal(const Principal& who) { return who.name + " " + who.fingerprint; }

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kMember: return "member";
    case Role::kAdmin: return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kViewer, Role::kMember, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

bool Allowed(const Principal& who, Action what, std::string_view owner) {
  switch (who.role) {
    case Role::kAdmin: return true;
    case Role::kMember:
      return what == Action::kRead || what == Action::kCreate || (!owner.empty() && owner == who.name);
    case Role::kViewer: return what == Action::kRead;
  }
  return false;
}

StatusOr<std::shared_ptr<const Principals>> Principals::Parse(std::string_view text, const std::string& path) {
  auto out = std::make_shared<Principals>();
  std::set<std::string> names;
  size_t line_no = 0;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const std::vector<std::string> w = Words(line);
    if (w.empty()) continue;
    const std::string at = path + ":" + std::to_string(line_no) + ": ";
    if (w.size() < 3) {
      return Status::InvalidArgument(at + "expected NAME ROLE sha256:HEX|cert:COMMON_NAME [queued=N] "
                                          "[running=N] [memory=SIZE], found " + std::to_string(w.size()) +
                                     " words");
    }
    if (!ValidName(w[0])) {
      return Status::InvalidArgument(at + "'" + w[0].substr(0, 64) +
                                     "' is not a name (1..63 of [A-Za-z0-9._-], starting with a letter or digit)");
    }
    const std::optional<Role> role = ParseRole(w[1]);
    if (!role) return Status::InvalidArgument(at + "'" + w[1].substr(0, 64) + "' is not one of admin, member, viewer");
    if (!names.insert(w[0]).second) return Status::InvalidArgument(at + "'" + w[0] + "' is named twice");
    // The credentials (a token's hash, a client certificate's common
    // name, or both), then the quotas.
    std::string digest, cert;
    Principal who{w[0], *role, ""};
    for (size_t i = 2; i < w.size(); ++i) {
      const std::string_view word = w[i];
      if (word.substr(0, 7) == "sha256:") {
        if (!digest.empty()) return Status::InvalidArgument(at + "'" + w[0] + "' has two tokens");
        digest = std::string(word.substr(7));
        if (!IsSha256Hex(digest) || digest == Sha256Hex("")) {
          return Status::InvalidArgument(at + "the token must be given as sha256:HEX (64 lower-case hex digits "
                                              "of its SHA-256, e.g. from `printf %s TOKEN | sha256sum`), never "
                                              "itself");
        }
      } else if (word.substr(0, 5) == "cert:") {
        if (!cert.empty()) return Status::InvalidArgument(at + "'" + w[0] + "' has two certificates");
        cert = std::string(word.substr(5));
        if (cert.empty() || cert.size() > 255) {
          return Status::InvalidArgument(at + "cert: needs the client certificate's common name (1..255 "
                                              "characters, no spaces)");
        }
      } else if (i == 2) {
        return Status::InvalidArgument(at + "the token must be given as sha256:HEX (64 lower-case hex digits of "
                                            "its SHA-256, e.g. from `printf %s TOKEN | sha256sum`), never itself, "
                                            "or a client certificate as cert:COMMON_NAME");
      } else {
        GANTRY_RETURN_IF_ERROR(ParseQuota(w[i], at, &who.quota));
      }
    }
    if (!digest.empty()) {
      who.fingerprint = Fingerprint(digest);
      if (!out->by_hash_.emplace(digest, who).second) {
        return Status::InvalidArgument(at + "'" + w[0] + "' has the token of another principal");
      }
    }
    if (!cert.empty() && !out->by_cert_.emplace(cert, who).second) {
      return Status::InvalidArgument(at + "'" + w[0] + "' has the certificate of another principal");
    }
    out->by_name_.emplace(who.name, who);
  }
  return std::shared_ptr<const Principals>(std::move(out));
}

std::shared_ptr<const Principals> Principals::SingleToken(std::string_view token) {
  auto out = std::make_shared<Principals>();
  const std::string hash = Sha256Hex(token);
  const Principal admin{"admin", Role::kAdmin, Fingerprint(hash)};
  out->by_hash_.emplace(hash, admin);
  out->by_name_.emplace(admin.name, admin);
  return out;
}

std::optional<Principal> Principals::Find(std::string_view token) const {
  auto it = by_hash_.find(Sha256Hex(token));
  if (it == by_hash_.end()) return std::nullopt;
  return it->second;
}

RunningLimits Principals::Running() const {
  RunningLimits out;
  for (const auto& [name, who] : by_name_) {
    if (who.quota.running >= 0) out[name] = who.quota.running;
  }
  return out;
}

std::optional<Principal> Principals::FindName(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

std::optional<Principal> Principals::FindCertificate(std::string_view common_name) const {
  auto it = by_cert_.find(common_name);
  if (it == by_cert_.end()) return std::nullopt;
  return it->second;
}

std::optional<Principal> Principals::FindSession(std::string_view stored) const {
  const size_t space = stored.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto it = by_name_.find(stored.substr(0, space));
  if (it == by_name_.end() || it->second.fingerprint.empty() ||
      it->second.fingerprint != stored.substr(space + 1)) {
    return std::nullopt;
  }
  return it->second;
}

StatusOr<std::unique_ptr<PrincipalsFile>> PrincipalsFile::Open(std::string path) {
  std::unique_ptr<PrincipalsFile> f(new PrincipalsFile(std::move(path)));
  GANTRY_RETURN_IF_ERROR(f->Reload());
  return f;
}

std::shared_ptr<const Principals> PrincipalsFile::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

Status PrincipalsFile::Reload(bool* changed, bool force) {
  if (changed != nullptr) *changed = false;
  MutexLock reading(&reload_mu_);  // one reload at a time: the newest read is kept
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return Status::NotFound(path_ + ": cannot read it: " + std::strerror(errno));
  }
  // The change time and the inode too: a copy that keeps the modification
  // time (cp -p, rsync -a) or a rename over the file still counts.
  const Stamp stamp{int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                    int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec,
                    static_cast<int64_t>(st.st_ino), static_cast<int64_t>(st.st_size)};
  {
    MutexLock lock(&mu_);
    if (current_ && !force && stamp == stamp_) return Status::Ok();
  }
  if (st.st_size > kMaxFileBytes) {
    return Status::InvalidArgument(path_ + ": larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
  }
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::NotFound(path_ + ": cannot read it: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  const std::string digest = Sha256Hex(text.str());
  auto parsed = Principals::Parse(text.str(), path_);
  if (!parsed.ok()) return parsed.status();
  MutexLock lock(&mu_);
  stamp_ = stamp;
  if (current_ && digest == digest_) return Status::Ok();  // the same text
  current_ = std::move(parsed).value();
  digest_ = digest;
  if (changed != nullptr) *changed = true;
  return Status::Ok();
}

}  // namespace gantry
