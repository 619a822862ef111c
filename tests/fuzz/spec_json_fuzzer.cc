// A CreateJobRequest from arbitrary JSON, as the HTTP gateway reads request
// bodies (enum values' short names rewritten to canonical ones by
// server/api/enum_names.h, then protobuf's JSON mapping, unknown fields
// refused), then the spec
// through conversion, validation and the admission estimate.
#include <google/protobuf/util/json_util.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/memory.h"
#include "server/api/enum_names.h"
#include "server/jobs/convert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;  // the JSON parser's cost grows with size, not its paths
  gantry::v1::CreateJobRequest request;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const std::string raw(reinterpret_cast<const char*>(data), size);
  auto body = gantry::CanonicalEnumsInJson(raw, *request.GetDescriptor());
  if (!body.ok()) return 0;
  if (!google::protobuf::util::JsonStringToMessage(*body, &request, options).ok()) return 0;
  auto spec = gantry::SpecFromProto(request.spec());
  if (!spec.ok() || !gantry::Validate(*spec).ok()) return 0;
  (void)gantry::EstimateMemory(*spec).ToString();
  return 0;
}
