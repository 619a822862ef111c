// `gantry dashboard`: the address of gantryd's web dashboard (gantryd
// --http-listen), printed or opened in the desktop's browser.
//
// Thread-safety: pure functions (Dashboard() starts a process with --open).
#pragma once

#include <string>

namespace gantry::cli {

// `url` when given, else $GANTRY_HTTP, else empty; a trailing "/" added.
std::string GivenDashboardUrl(const std::string& url);

// The URL of the HTTP address gantryd reports (GetServerInfo's
// http_address, "HOST:PORT"): a wildcard or empty host (0.0.0.0, ::) is
// replaced by the host of `server` (the --server target), which is where
// the client reached gantryd. Ends in "/".
std::string ReportedDashboardUrl(const std::string& http_address, bool https, const std::string& server);

// A guess, for a gantryd that does not report its address (older than
// GetServerInfo): the --server host on port 8080 (https with TLS), which is
// where the container image, compose and k8s serve it. Ends in "/".
std::string GuessedDashboardUrl(const std::string& server, bool tls);

// Prints the URL (and, when `guessed`, on stderr that it is the default
// port, not what the server reported); with `open`, also opens it with
// xdg-open. Exit code.
int Dashboard(const std::string& url, bool guessed, bool open);

}  // namespace gantry::cli
