// `gantry dashboard`: the address of gantryd's web dashboard (gantryd
// --http-listen), printed or opened in the desktop's browser.
//
// Thread-safety: pure functions (Dashboard() starts a process with --open).
#pragma once

#include <string>

namespace gantry::cli {

// The dashboard's URL, ending in "/": `url` when given (a trailing "/" is
// added), else $GANTRY_HTTP, else the --server host on port 8080 (https with
// TLS), which is where the container image, compose and k8s serve it.
// gantryd does not report its HTTP address over gRPC, so the last is a
// guess: *guessed says so.
std::string DashboardUrl(const std::string& url, const std::string& server, bool tls, bool* guessed);

// Prints the URL (and, when `guessed`, on stderr that it is the default
// port, not what the server reported); with `open`, also opens it with
// xdg-open. Exit code.
int Dashboard(const std::string& url, bool guessed, bool open);

}  // namespace gantry::cli
