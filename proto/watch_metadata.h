// The initial metadata a WatchJob stream carries, shared by the server and
// the CLI (this header needs nothing).
//
// Thread-safety: constants only.
#pragma once

namespace gantry {

// A key of the initial metadata that gantryd sends as soon as it accepted a
// WatchJob call (the job exists, the caller may see it), before any event:
// the CLI's sign that the stream is established, so that a later failure is
// an outage to ride out rather than an error to report at once. A call that
// is refused ends without it.
inline constexpr char kWatchMetadata[] = "gantry-watch";

}  // namespace gantry
