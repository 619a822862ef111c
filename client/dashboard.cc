#include "client/dashboard.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <iostream>

#include "client/exit_codes.h"

extern char** environ;

namespace gantry::cli {

std::string DashboardUrl(const std::string& url, const std::string& server, bool tls, bool* guessed) {
  *guessed = false;
  std::string out = url;
  if (out.empty()) {
    if (const char* env = std::getenv("GANTRY_HTTP"); env != nullptr && *env != '\0') out = env;
  }
  if (out.empty()) {
    std::string host = server;
    if (const auto scheme = host.find("://"); scheme != std::string::npos) {
      host = host.substr(scheme + 3);  // "dns:///host:port" and friends
      host.erase(0, host.find_first_not_of('/'));
    }
    if (!host.empty() && host.front() == '[') {
      host = host.substr(0, host.find(']') + 1);  // "[::1]:50051"
    } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
      host = host.substr(0, colon);
    }
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    out = std::string(tls ? "https" : "http") + "://" + host + ":8080";
    *guessed = true;
  }
  if (out.back() != '/') out += '/';
  return out;
}

int Dashboard(const std::string& url, bool guessed, bool open) {
  std::cout << url << std::endl;
  if (guessed) {
    std::cerr << "gantry: dashboard: gantryd does not report its HTTP address; this is the default "
                 "port 8080 on the --server host (give --url or GANTRY_HTTP when gantryd runs "
                 "with another --http-listen)\n";
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
