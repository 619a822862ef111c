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
std::string DashboardUrl(const std::string& url, const std::string& server, bool tls);

// Prints the URL; with `open`, also opens it with xdg-open. Exit code.
int Dashboard(const std::string& url, bool open);

}  // namespace gantry::cli
