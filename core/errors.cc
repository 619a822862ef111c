#include "core/errors.h"

#include <c10/util/Exception.h>

#include <string>

namespace gantry {

Status StatusFromException(const char* context, const std::exception& e, StatusCode code) {
  std::string msg;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    msg = c10_error->what_without_backtrace();
  } else {
    msg = e.what();
  }
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  while (!msg.empty() && msg.front() == '\n') msg.erase(0, 1);
  return Status(code, std::string(context) + ": " + msg);
}

}  // namespace gantry
