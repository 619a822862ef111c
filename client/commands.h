// The CLI's commands. Each returns the process exit code (exit_codes.h);
// results go to stdout, diagnostics to stderr.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/connection.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

struct SubmitArgs {
  v1::JobSpec spec;          // from -f and the flags
  std::string name;
  std::string request_id;
  std::map<std::string, std::string> labels;  // --label key=value
  bool watch = false;
};
int Submit(Connection& conn, const SubmitArgs& args);

int GetJob(Connection& conn, const std::string& id);
// `state` "" or a state's name; `selector` "" or "key=value[,...]" (the
// server checks it and names a bad term).
int ListJobs(Connection& conn, const std::string& state, const std::string& selector);

// Calls `fn` with every job ListJobs returns for `req` (BASIC view, in pages
// that fit the CLI's receive limit), newest first, until `fn` returns false.
grpc::Status ForEachJob(Connection& conn, v1::ListJobsRequest req,
                        const std::function<bool(const v1::Job&)>& fn);

struct WatchArgs {
  std::string id;
  int64_t from_seq = 0;
  double reconnect_seconds = 120;  // keep trying this long after the connection is lost
};
// Follows a job's events to its end. A dropped stream is resumed from the
// next seq; when no connection works for reconnect_seconds after it was lost
// (every retry waits only for the time left), it exits kExitUnavailable.
int Watch(Connection& conn, const WatchArgs& args);

struct SampleArgs {
  std::string id;
  int64_t count = 100;
  std::optional<uint64_t> seed;
  std::optional<int64_t> epoch;
  bool best = false;  // the best evaluated epoch's snapshot (--epoch best)
  std::string out;    // file, or "" for stdout
  std::string plot;   // .png or .svg, or ""
  // Table jobs: conditions COLUMN=VALUE or COLUMN=LO..HI (--where).
  std::vector<std::pair<std::string, std::string>> where;
};
// Point jobs: CSV x0,x1,... (or JSON). Table jobs: the table's columns as
// CSV with its header (missing cells empty), or with -o json one JSON
// object per row with typed values (null when missing).
int Sample(Connection& conn, const SampleArgs& args);

int Plot(Connection& conn, const std::string& id, const std::string& out);
int Cancel(Connection& conn, const std::string& id);
int Delete(Connection& conn, const std::string& id);
// Writes the generator to `out` atomically (temp file, fsync, rename); a
// failed write or rename is kExitUsage with a message naming the path.
// `best`: the best evaluated epoch's snapshot (--epoch best).
int Export(Connection& conn, const std::string& id, std::optional<int64_t> epoch, bool best,
           const std::string& out);
int Health(Connection& conn);

// Writes `bytes` to `path` atomically: a temp file beside it, written,
// fsynced and closed, then renamed over it. "" or what failed, naming the path.
std::string WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace gantry::cli
