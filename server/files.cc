#include "server/files.h"

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

Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", tmp, errno);
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
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string Frame(const std::string& payload) {
  std::string out(kMagic, sizeof kMagic);
  const uint64_t len = payload.size();
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  out.append(reinterpret_cast<const char*>(&len), sizeof len);
  out.append(reinterpret_cast<const char*>(&crc), sizeof crc);
  out += payload;
  return out;
}

StatusOr<std::string> Unframe(const std::string& bytes, const std::string& what) {
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
  std::string payload = bytes.substr(header);
  const uint32_t actual = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  if (actual != crc) return Status::DataLoss(what + " is corrupt: checksum mismatch");
  return payload;
}

}  // namespace gantry
