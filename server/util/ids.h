// Ids the server makes: a resource's random id, and this process's name as
// a lease holder.
//
// Thread-safety: both are safe from any thread.
#pragma once

#include <string>

namespace gantry {

// `prefix` and 10 random characters of [0-9a-z] ("j-" for jobs, "st-" for
// studies): about 52 bits, so a clash is rare and retried by the caller.
std::string NewId(const std::string& prefix);

// "HOST:PID": this process, as the stores record a lease's holder.
std::string ProcessName();

}  // namespace gantry
