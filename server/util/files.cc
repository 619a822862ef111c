#include "server/util/files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gantry {
namespace {

constexpr char kMagic[8] = {'G', 'A', 'N', 'T', 'R', 'Y', 'F', '1'};

Status IoError(const std::string& what, const std::string& path, int err) {
  const std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
    return Status::ResourceExhausted("disk full: " + msg);
  }
  return Status::Internal(msg);
}

}  // namespace

Status WriteFileAtomically(const std::string& path,
                           std::initializer_list<std::string_view> pieces) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", tmp, errno);
  for (std::string_view bytes : pieces) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return IoError("cannot write", tmp, err);
      }
      done += static_cast<size_t>(n);
    }
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return IoError("cannot fsync", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return IoError("cannot rename to", path, err);
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  // A regular file in one allocation of its size (a checkpoint can be
  // gigabytes); a pipe or /dev/fd/N (a TLS key from a process) as it comes.
  std::string bytes;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec) bytes.reserve(static_cast<size_t>(size));
  }
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    bytes.append(buf, static_cast<size_t>(in.gcount()));
  if (in.bad()) return Status::Internal("cannot read " + path);
  return bytes;
}

std::string FrameHeader(std::string_view payload) {
  std::string out(kMagic, sizeof kMagic);
  const uint64_t len = payload.size();
  // crc32_z takes a size_t length: payloads of 4 GiB and more are whole.
  const uint32_t crc = static_cast<uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(payload.data()), payload.size()));
  out.append(reinterpret_cast<const char*>(&len), sizeof len);
  out.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  return out;
}

Status WriteFramedFile(const std::string& path, std::string_view payload) {
  return WriteFileAtomically(path, {FrameHeader(payload), payload});
}

StatusOr<std::string> Unframe(std::string bytes, const std::string& what) {
  const size_t header = sizeof kMagic + sizeof(uint64_t) + sizeof(uint32_t);
  if (bytes.size() < header || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Status::DataLoss(what + " is not a gantry file (" + std::to_string(bytes.size()) +
                            " bytes, bad header)");
  }
  uint64_t len;
  uint32_t crc;
  std::memcpy(&len, bytes.data() + sizeof kMagic, sizeof len);
  std::memcpy(&crc, bytes.data() + sizeof kMagic + sizeof len, sizeof crc);
  if (bytes.size() - header != len) {
    return Status::DataLoss(what + " is truncated: " + std::to_string(bytes.size() - header) +
                            " of " + std::to_string(len) + " bytes");
  }
  bytes.erase(0, header);  // in place: no second copy of a large payload
  const uint32_t actual = static_cast<uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
  if (actual != crc) return Status::DataLoss(what + " is corrupt: checksum mismatch");
  return bytes;
}

}  // namespace gantry
