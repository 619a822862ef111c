// gantry sweep: the cross product of spec flag values (spec_flags.h) as
// ordinary jobs that share the label sweep=NAME, one progress display for
// all of them, and a leaderboard.
//
// Each job gets request_id NAME-<i> (i = 1..N in the cross product's order,
// the last flag varying fastest), so rerunning the same sweep command with
// --name NAME submits nothing twice; its name is "NAME-<i> key=value ..."
// with the swept values.
//
// The leaderboard ranks the jobs by their best epoch's value of their
// spec.select_by metric (sliced_w1 and mmd ascending, the others
// descending; jobs with no evaluated epoch last, unranked), with the
// parameters that differ between the jobs as columns. --output table (a
// header line and a table), json (one object per line, like `list -o json`)
// or csv (a header row, RFC 4180 quoting).
//
// Exit codes (exit_codes.h): a usage error (a bad flag, more than
// kMaxSweepJobs jobs) before anything is submitted is kExitUsage; a refused
// submission or a lost server, the code of its status; after watching, 0
// when every job SUCCEEDED, kExitJobFailed when one FAILED, else
// kExitJobCancelled when one was CANCELLED.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/connection.h"
#include "client/spec_flags.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

inline constexpr int64_t kMaxSweepJobs = 256;
// The most jobs one leaderboard reads (a label can be set on any job).
inline constexpr size_t kMaxLeaderboardJobs = 1000;

struct SweepArgs {
  v1::JobSpec base;                           // -f and --data
  std::vector<SweepAxis> axes;                // one per spec flag given
  std::string name;                           // --name; "" makes sweep-YYYYMMDD-HHMMSS (local time)
  std::map<std::string, std::string> labels;  // --label: more labels for every job
  bool no_watch = false;                      // submit, print the name, exit
  std::string leaderboard;                    // --leaderboard NAME (main.cc calls Leaderboard)
};

int Sweep(Connection& conn, const SweepArgs& args);
// The leaderboard of the jobs labelled sweep=NAME; kExitNotFound when none is.
int Leaderboard(Connection& conn, const std::string& name);

// The leaderboard of `jobs` (in creation order) as `format` (table, json,
// csv). *note: "" or what the reader should know (the jobs select by
// different metrics, so they are ranked by sliced_w1).
std::string FormatLeaderboard(const std::vector<v1::Job>& jobs, const std::string& format,
                              std::string* note);

}  // namespace gantry::cli
