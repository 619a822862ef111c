#include "server/util/api_json.h"

#include <google/protobuf/util/json_util.h>

namespace gantry {

std::string ApiJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  // Cannot fail: gantry's messages have no Any field to resolve.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace gantry
