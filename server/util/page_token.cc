#include "server/util/page_token.h"

#include <cerrno>
#include <cstdlib>

#include "server/util/safe_text.h"

namespace gantry {

Status ParsePageToken(const std::string& token, int64_t* start, const char* list) {
  // Digits only: no sign, no spaces, no hexadecimal (strtoll would take them).
  bool digits = !token.empty() && token.size() <= 19;
  for (char c : token) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    errno = 0;
    const long long v = std::strtoll(token.c_str(), nullptr, 10);
    if (errno == 0 && v >= 1) {
      *start = v;
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("page_token: '" + SafeText(token) + "' is not a token from a previous " +
                                 list);
}

std::string MakePageToken(int64_t index) { return std::to_string(index); }

StatusOr<int64_t> PageBefore(const std::string& token, const char* list) {
  if (token.empty()) return int64_t{0};
  int64_t start = 0;
  GANTRY_RETURN_IF_ERROR(ParsePageToken(token, &start, list));
  return start == INT64_MAX ? 0 : start + 1;
}

StatusOr<int> PageSize(int64_t requested, int max, int fallback) {
  if (requested < 0 || requested > max) {
    return Status::InvalidArgument("page_size: " + std::to_string(requested) + " is out of range 0.." +
                                   std::to_string(max));
  }
  return requested == 0 ? fallback : static_cast<int>(requested);
}

bool PageTakes(int count, size_t size, size_t* bytes) {
  if (count > 0 && *bytes + size > kMaxPageBytes) return false;
  *bytes += size;
  return true;
}

}  // namespace gantry
