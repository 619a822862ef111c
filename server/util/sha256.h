// SHA-256 (OpenSSL's libcrypto), the one helper gantryd uses for content
// addresses (table ids), checksums (PostgreSQL blobs) and request
// fingerprints.
//
// Thread-safety: the functions are pure; a Sha256Hasher is one caller's.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace gantry {

// The 32-byte digest of `bytes`.
std::string Sha256(std::string_view bytes);
// The digest as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view bytes);
// `digest`'s bytes as lower-case hex.
std::string ToHex(std::string_view digest);
// Whether `text` is 64 lower-case hex digits (the form of Sha256Hex).
bool IsSha256Hex(std::string_view text);

// An incremental SHA-256: Update() with the pieces in order, then HexDigest()
// once.
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything given, as 64 lower-case hex digits. The hasher
  // is spent afterwards.
  std::string HexDigest();

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

}  // namespace gantry
