// The JSON form of gantry's messages that the HTTP API, its event streams
// and webhook payloads share: protobuf's JSON mapping with lowerCamelCase
// names, every scalar printed (defaults too), int64 as strings.
//
// Thread-safety: a pure function.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace gantry {

std::string ApiJson(const google::protobuf::Message& message);

}  // namespace gantry
