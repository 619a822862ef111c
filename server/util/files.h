// Durable files: atomic replacement and checksummed framing.
//
// WriteFileAtomically writes a temporary file in the same directory, fsyncs
// it, renames it over `path` and fsyncs the directory, so a crash leaves
// either the old file or the new one, never a torn one. Framed files carry a
// magic, a length and a CRC-32 of the payload, so truncation and corruption
// are detected on read.
//
// Thread-safety: functions of their arguments; callers serialise writes to
// the same path.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gantry {

// RESOURCE_EXHAUSTED when the disk is full, INTERNAL for other I/O errors.
// The file's bytes are `pieces` one after another (so that a large payload
// is written behind its header without being copied into one string).
Status WriteFileAtomically(const std::string& path, std::initializer_list<std::string_view> pieces);
StatusOr<std::string> ReadFile(const std::string& path);

// A framed file is FrameHeader(payload) then payload:
// magic | u64 length | u32 crc32 | payload.
std::string FrameHeader(std::string_view payload);
// Writes FrameHeader(payload) and payload with WriteFileAtomically.
Status WriteFramedFile(const std::string& path, std::string_view payload);
// DATA_LOSS naming the file when the frame is truncated or its checksum fails.
StatusOr<std::string> Unframe(std::string bytes, const std::string& what);

}  // namespace gantry
