// Status and StatusOr: the error currency of gantry's core.
//
// A Status is a code plus a human-readable message that names what is wrong
// (a field, its value, the allowed range). Core functions never throw across
// their public API: LibTorch's c10::Error and std::exception are caught at the
// edge and returned as kInternal (or a more precise code). The server maps
// each code to a gRPC status in exactly one place (server/api/status_map.cc).
//
// Both are [[nodiscard]]: a call whose Status is not wanted says why in a
// comment and discards it explicitly with (void).
//
// Thread-safety: Status and StatusOr are values; distinct objects may be used
// from distinct threads freely.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace gantry {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kResourceExhausted,
  kCancelled,
  kUnavailable,
  kDataLoss,
  kInternal,
  kPermissionDenied,  // the caller's role does not allow the call
};

// Returns a stable, upper-case name for `code`, e.g. "INVALID_ARGUMENT".
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK" or "INVALID_ARGUMENT: epochs: 0 is out of range 1..100000".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status. Constructed from an OK Status (a bug in
// the caller: there is no value to hold) it holds an INTERNAL error naming the
// mistake instead, as absl::StatusOr does, so it never reads as a success
// without a value.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status)  // NOLINT: implicit by design
      : status_(status.ok() ? OkStatusWithoutValue() : std::move(status)) {}

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  static Status OkStatusWithoutValue() {
    return Status::Internal("StatusOr constructed from an OK Status without a value");
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace gantry

#define GANTRY_RETURN_IF_ERROR(expr)           \
  do {                                         \
    ::gantry::Status _gantry_status = (expr);  \
    if (!_gantry_status.ok()) return _gantry_status; \
  } while (0)
