// The CLI's commands. Each returns the process exit code (exit_codes.h);
// results go to stdout, diagnostics to stderr.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/connection.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

struct SubmitArgs {
  v1::JobSpec spec;          // from -f and the flags
  std::string name;
  std::string request_id;
  std::map<std::string, std::string> labels;  // --label key=value
  std::string priority;                        // --priority low|normal|high ("" : normal)
  bool watch = false;
};
int Submit(Connection& conn, const SubmitArgs& args);

// The job as key: value lines or (-o json) JSON. `full`: the FULL view, user
// points included (JSON shows them); else BASIC (their count, dataset_rows).
int GetJob(Connection& conn, const std::string& id, bool full);
// `state` "" or a state's name; `selector` "" or "key=value[,...]" (the
// server checks it and names a bad term).
int ListJobs(Connection& conn, const std::string& state, const std::string& selector,
             const std::string& owner = "");

// Calls `fn` with every job ListJobs returns for `req` (BASIC view, in pages
// that fit the CLI's receive limit), newest first, until `fn` returns false.
grpc::Status ForEachJob(Connection& conn, v1::ListJobsRequest req,
                        const std::function<bool(const v1::Job&)>& fn);

struct WatchArgs {
  std::string id;
  int64_t from_seq = 0;
  double reconnect_seconds = 120;  // keep trying this long after the connection is lost
  // The server is known to answer already (submit --watch: its CreateJob
  // did), so a first failed stream is retried like a later one.
  bool established = false;
};
// Follows a job's events to its end. A dropped stream is resumed from the
// next seq; when no connection works for reconnect_seconds after it was lost
// (every retry waits only for the time left), it exits kExitUnavailable.
// Until a stream was established (the server sent its initial metadata
// (kWatchMetadata) or an event) a failure is reported at once instead.
int Watch(Connection& conn, const WatchArgs& args);

struct SampleArgs {
  std::string id;
  int64_t count = 100;
  std::optional<uint64_t> seed;
  std::optional<int64_t> epoch;
  bool best = false;  // the best evaluated epoch's snapshot (--epoch best)
  std::string out;    // file, or "" for stdout
  std::string plot;   // .png or .svg, or ""
  std::pair<int, int> dims = {0, 1};  // the two dimensions --plot draws (--dims)
  // Table jobs: conditions COLUMN=VALUE or COLUMN=LO..HI (--where).
  std::vector<std::pair<std::string, std::string>> where;
};
// Point jobs: CSV x0,x1,... (or JSON). Without -o json the seed and epoch
// that reproduce the sample go to stderr. --plot draws dims.first against
// dims.second (x0 and x1 by default) and its title names them. Table jobs: the table's columns as
// CSV with its header (missing cells empty), or with -o json one JSON
// object per row with typed values (null when missing).
int Sample(Connection& conn, const SampleArgs& args);

// Writes the losses and quality by epoch to `out`; says "plotted to OUT" on
// stderr, as sample --plot does.
int Plot(Connection& conn, const std::string& id, const std::string& out);

// Cancels (cancel) or deletes (delete) every job of `ids`, then every job
// that `selector` ("key=value[,...]", "" for none) matches: for cancel the
// queued and running ones, for delete the ended ones. One line per job on
// stdout ("cancelling ID", "deleted ID"; -o json: cancel prints the job),
// failures on stderr, and a summary line on stderr when more than one job
// was acted on. Exit 0 when each succeeded, else the first failure's code;
// kExitNotFound (with a message) when the selector matches no such job.
int CancelJobs(Connection& conn, const std::vector<std::string>& ids, const std::string& selector);
int DeleteJobs(Connection& conn, const std::vector<std::string>& ids, const std::string& selector);
// Writes the generator to `out` atomically (temp file, fsync, rename); a
// failed write or rename is kExitUsage with a message naming the path.
// `best`: the best evaluated epoch's snapshot (--epoch best).
int Export(Connection& conn, const std::string& id, std::optional<int64_t> epoch, bool best,
           const std::string& out);
int Health(Connection& conn);
// `gantry dashboard` without --url: asks gantryd where its HTTP side
// listens (GetServerInfo) and prints (or opens) that URL; a gantryd that
// serves no HTTP is an error saying so; one that cannot say (older, or
// unreachable) gets dashboard.h's guess, said to be one.
int AskDashboard(Connection& conn, bool open);

// Writes `bytes` to `path` atomically: a temp file beside it, written,
// fsynced and closed, then renamed over it. "" or what failed, naming the
// path ("no such directory: D/" when its directory is missing).
std::string WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace gantry::cli
