// The edge between LibTorch's exceptions and gantry's Status: core catches
// std::exception (c10::Error included) at its public functions and converts
// it here, so no exception crosses core's API.
#pragma once

#include <exception>

#include "core/status.h"

namespace gantry {

// `context`: what was being done, e.g. "training". The message is the
// exception's text without LibTorch's C++ backtrace.
Status StatusFromException(const char* context, const std::exception& e,
                           StatusCode code = StatusCode::kInternal);

}  // namespace gantry
