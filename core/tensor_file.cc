#include "core/tensor_file.h"

#include <ATen/ATen.h>
#include <torch/serialize/input-archive.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace gantry {
namespace {

constexpr char kMagic[8] = {'G', 'T', 'E', 'N', 'S', 'O', 'R', '1'};
constexpr int kMaxDims = 8;

uint8_t DtypeCode(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return 1;
    case at::kLong: return 2;
    case at::kByte: return 3;
    default: return 0;
  }
}

template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads from bytes[pos..], advancing pos; false when too few are left.
class Cursor {
 public:
  explicit Cursor(const std::string& bytes) : bytes_(bytes) {}
  template <typename T>
  bool Get(T* v) {
    if (left() < sizeof(T)) return false;
    std::memcpy(v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Take(size_t n, const char** p) {
    if (left() < n) return false;
    *p = bytes_.data() + pos_;
    pos_ += n;
    return true;
  }
  size_t left() const { return bytes_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  const std::string& bytes_;
  size_t pos_ = 0;
};

}  // namespace

TensorFileWriter::TensorFileWriter(size_t bytes_hint) {
  out_.reserve(bytes_hint + 4096);
  out_.append(kMagic, sizeof kMagic);
  Put<uint32_t>(out_, 0);  // the count, filled in by Finish()
}

void TensorFileWriter::Add(const std::string& name, const at::Tensor& tensor) {
  const uint8_t code = DtypeCode(tensor.scalar_type());
  TORCH_CHECK(code != 0, "tensor file: unsupported dtype for ", name);
  TORCH_CHECK(tensor.dim() <= kMaxDims, "tensor file: too many dimensions for ", name);
  TORCH_CHECK(name.size() <= std::numeric_limits<uint16_t>::max(), "tensor file: name too long");
  const at::Tensor t = tensor.contiguous();
  Put<uint16_t>(out_, static_cast<uint16_t>(name.size()));
  out_ += name;
  Put<uint8_t>(out_, code);
  Put<uint8_t>(out_, static_cast<uint8_t>(t.dim()));
  for (int64_t d : t.sizes()) Put<int64_t>(out_, d);
  out_.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  ++count_;
}

std::string TensorFileWriter::Finish() && {
  std::memcpy(out_.data() + sizeof kMagic, &count_, sizeof count_);
  return std::move(out_);
}

bool IsTensorFile(const std::string& bytes) {
  return bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
}

StatusOr<std::map<std::string, at::Tensor>> ReadTensorFile(const std::string& bytes) {
  if (!IsTensorFile(bytes)) return Status::DataLoss("not a tensor file (bad magic)");
  Cursor in(bytes);
  const char* skip;
  in.Take(sizeof kMagic, &skip);
  uint32_t count = 0;
  if (!in.Get(&count)) return Status::DataLoss("tensor file truncated in its header");
  std::map<std::string, at::Tensor> out;
  for (uint32_t r = 0; r < count; ++r) {
    const std::string where = "tensor file record " + std::to_string(r) + " (at byte " +
                              std::to_string(in.pos()) + ")";
    uint16_t name_len = 0;
    const char* name_p = nullptr;
    uint8_t code = 0, ndim = 0;
    if (!in.Get(&name_len) || !in.Take(name_len, &name_p) || !in.Get(&code) || !in.Get(&ndim)) {
      return Status::DataLoss(where + " is truncated");
    }
    const std::string name(name_p, name_len);
    at::ScalarType type;
    switch (code) {
      case 1: type = at::kFloat; break;
      case 2: type = at::kLong; break;
      case 3: type = at::kByte; break;
      default: return Status::DataLoss(where + " has unknown dtype " + std::to_string(code));
    }
    if (ndim > kMaxDims) return Status::DataLoss(where + " has " + std::to_string(ndim) + " dimensions");
    std::vector<int64_t> dims(ndim);
    const size_t elem = at::elementSize(type);
    // The product of the dimensions, zeros counted as ones, is bounded by
    // what is left of the file (or 2^40, for an empty tensor's shape): that
    // bounds the element count and every stride, so no shape overflows; the
    // elements themselves must then be there.
    size_t bound = 1, numel = 1;
    for (auto& d : dims) {
      if (!in.Get(&d)) return Status::DataLoss(where + " is truncated in its shape");
      if (d < 0) return Status::DataLoss(where + " has a negative dimension");
      const size_t at_least_one = d == 0 ? 1 : static_cast<size_t>(d);
      const size_t limit = std::max<size_t>(in.left() / elem, size_t{1} << 40);
      if (bound > limit / at_least_one) {
        return Status::DataLoss(where + " (" + name + ") is larger than the file");
      }
      bound *= at_least_one;
      numel *= static_cast<size_t>(d);
    }
    const char* data = nullptr;
    if (!in.Take(numel * elem, &data)) return Status::DataLoss(where + " (" + name + ") is truncated");
    if (out.count(name) != 0) return Status::DataLoss(where + " repeats the name " + name);
    at::Tensor t = at::empty(dims, at::TensorOptions().dtype(type));
    if (numel != 0) std::memcpy(t.data_ptr(), data, numel * elem);
    out.emplace(name, std::move(t));
  }
  if (in.left() != 0) return Status::DataLoss("tensor file has " + std::to_string(in.left()) + " bytes after its last record");
  return out;
}

std::optional<int64_t> Int64Scalar(const std::map<std::string, at::Tensor>& tensors,
                                   const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end() || it->second.numel() != 1 || it->second.scalar_type() != at::kLong) {
    return std::nullopt;
  }
  return it->second.item<int64_t>();
}

StatusOr<std::vector<int64_t>> Int64Words(const std::map<std::string, at::Tensor>& tensors,
                                          const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end()) return Status::NotFound("state holds no " + name);
  if (it->second.scalar_type() != at::kLong || it->second.dim() != 1) {
    return Status::DataLoss("state holds " + name + " as another type or shape");
  }
  const at::Tensor words = it->second.contiguous();
  return std::vector<int64_t>(words.data_ptr<int64_t>(), words.data_ptr<int64_t>() + words.numel());
}

StatusOr<std::map<std::string, at::Tensor>> ReadTensors(const std::string& bytes,
                                                        const std::vector<std::string>& legacy_names) {
  if (IsTensorFile(bytes)) {
    try {
      return ReadTensorFile(bytes);
    } catch (const std::exception& e) {  // e.g. memory for a tensor the file does hold
      return Status::DataLoss(std::string("tensor file cannot be read: ") + e.what());
    }
  }
  std::map<std::string, at::Tensor> out;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(bytes.data(), bytes.size());
    for (const std::string& name : legacy_names) {
      at::Tensor t;
      if (ar.try_read(name, t)) out.emplace(name, std::move(t));
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return Status::DataLoss("neither a tensor file nor a LibTorch archive: " + what.substr(0, 200));
  }
  return out;
}

}  // namespace gantry
