// CheckKeyPair: that --tls-cert and --tls-key are a PEM certificate chain
// and the private key of its first certificate, before any server tries
// them (gRPC would only fail to listen, which reads like a busy port).
//
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "core/status.h"

namespace gantry {

// INVALID_ARGUMENT naming the flag, the file and what is wrong.
Status CheckKeyPair(const std::string& cert_file, const std::string& cert_pem,
                    const std::string& key_file, const std::string& key_pem);

}  // namespace gantry
