#include "client/dashboard.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <iostream>

#include "client/exit_codes.h"

extern char** environ;

namespace gantry::cli {

namespace {

std::string WithSlash(std::string url) {
  if (url.empty() || url.back() != '/') url += '/';
  return url;
}

// The host of a "HOST:PORT" address or gRPC target ("dns:///host:port",
// "[::1]:50051"): brackets kept, the port dropped.
std::string HostOf(std::string address) {
  if (const auto scheme = address.find("://"); scheme != std::string::npos) {
    address = address.substr(scheme + 3);
    address.erase(0, address.find_first_not_of('/'));
  }
  if (!address.empty() && address.front() == '[') return address.substr(0, address.find(']') + 1);
  if (const auto colon = address.rfind(':'); colon != std::string::npos) return address.substr(0, colon);
  return address;
}

bool Wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

}  // namespace

std::string GivenDashboardUrl(const std::string& url) {
  if (!url.empty()) return WithSlash(url);
  if (const char* env = std::getenv("GANTRY_HTTP"); env != nullptr && *env != '\0') return WithSlash(env);
  return "";
}

std::string ReportedDashboardUrl(const std::string& http_address, bool https, const std::string& server) {
  std::string host = HostOf(http_address);
  const std::string port = http_address.substr(http_address.rfind(':') + 1);
  if (Wildcard(host)) host = HostOf(server);
  if (Wildcard(host)) host = "127.0.0.1";
  return std::string(https ? "https" : "http") + "://" + host + ":" + port + "/";
}

std::string GuessedDashboardUrl(const std::string& server, bool tls) {
  std::string host = HostOf(server);
  if (Wildcard(host)) host = "127.0.0.1";
  return std::string(tls ? "https" : "http") + "://" + host + ":8080/";
}

int Dashboard(const std::string& url, bool guessed, bool open) {
  std::cout << url << std::endl;
  if (guessed) {
    std::cerr << "gantry: dashboard: gantryd did not report its HTTP address (it is older than "
                 "GetServerInfo, or unreachable); this is the default port 8080 on the --server "
                 "host (give --url or GANTRY_HTTP when gantryd runs with another --http-listen)\n";
  }
  if (!open) return kExitOk;
  const char* argv[] = {"xdg-open", url.c_str(), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "xdg-open", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    std::cerr << "gantry: dashboard --open: cannot run xdg-open; open " << url << " yourself\n";
    return kExitError;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "gantry: dashboard --open: xdg-open failed; open " << url << " yourself\n";
    return kExitError;
  }
  return kExitOk;
}

}  // namespace gantry::cli
