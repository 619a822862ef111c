// Tensor files: named tensors as bytes, the payload of gantry's trainer
// checkpoints and generator snapshots (inside server/util/files.h's checksummed
// frame).
//
//   "GTENSOR1" | u32 count | count records:
//     u16 name length | name | u8 dtype (1 float32, 2 int64, 3 uint8) |
//     u8 ndim (0..8) | i64 dims[ndim] | the elements, row-major
//   (integers and elements in the machine's byte order: little-endian on the
//   x86-64 machines gantry runs on)
//
// The reader trusts nothing: every length, dimension and element count is
// checked against what is left, and anything malformed (truncated, an
// unknown dtype, a duplicate name, trailing bytes) is DATA_LOSS naming it.
// It replaces LibTorch's archives (TorchScript's zip and pickle), whose
// loader a fuzzer crashed with crafted bytes; files written before it are
// still read through LibTorch (IsTensorFile tells them apart).
//
// Thread-safety: values; the functions are pure.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace gantry {

class TensorFileWriter {
 public:
  // `bytes_hint`: the tensors' total size, so that the string is allocated once.
  explicit TensorFileWriter(size_t bytes_hint = 0);
  // A contiguous CPU tensor of float32, int64 or uint8; names are unique.
  void Add(const std::string& name, const at::Tensor& tensor);
  std::string Finish() &&;

 private:
  std::string out_;
  uint32_t count_ = 0;
};

// Whether `bytes` start like a tensor file (else: an older LibTorch archive).
bool IsTensorFile(const std::string& bytes);

// The named tensors, or DATA_LOSS saying what is wrong and where.
StatusOr<std::map<std::string, at::Tensor>> ReadTensorFile(const std::string& bytes);

// The int64 scalar named `name` in `tensors`, or nullopt when it is absent or
// not one int64.
std::optional<int64_t> Int64Scalar(const std::map<std::string, at::Tensor>& tensors,
                                   const std::string& name);

// Doubles travel bit-cast in int64 tensors (tensor files hold no doubles).
inline int64_t DoubleBits(double d) {
  int64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}
inline double BitsDouble(int64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}

// The elements of the 1-D int64 tensor named `name`: NOT_FOUND when it is
// absent, DATA_LOSS when it is another type or shape.
StatusOr<std::vector<int64_t>> Int64Words(const std::map<std::string, at::Tensor>& tensors,
                                          const std::string& name);

// ReadTensorFile for a tensor file; for anything else, a LibTorch archive as
// gantry wrote them before tensor files, of which the tensors named in
// `legacy_names` that it holds are read (DATA_LOSS when it is unreadable).
StatusOr<std::map<std::string, at::Tensor>> ReadTensors(const std::string& bytes,
                                                        const std::vector<std::string>& legacy_names);

}  // namespace gantry
