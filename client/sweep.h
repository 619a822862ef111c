// gantry sweep: the cross product of spec flag values as ONE grid study
// (server/studies/) named NAME and labelled sweep=NAME, one progress display
// for its jobs, and a leaderboard. gantryd runs the study, so the sweep goes
// on when the CLI dies (Ctrl-C, kill -9, a closed terminal).
//
// Every spec flag given is an axis. An axis with one value is set in the
// study's base spec; one with several values is a choice parameter of the
// study's space (in the flags' order, values as given; the base takes its
// first value), so only a study's parameters (learning_rate, ..., seed:
// sweep.cc's StudyParams) may take several values. The grid varies the
// last parameter fastest: trial i is the i-th combination. A sweep with no
// several-valued axis is a one-trial study over its first parameter flag
// (else over seed).
//
// Rerunning with --name NAME attaches to the grid study labelled sweep=NAME
// whose space is the same (names and values in order): nothing is created
// twice. One with another space is refused (kExitError). CreateStudyRequest
// has no request id: that client-side check (the newest kMaxStudiesRead
// studies) is what keeps a rerun from creating a second study.
//
// The leaderboard ranks the jobs by their best epoch's value of their
// spec.select_by metric (sliced_w1 and mmd ascending, the others
// descending; jobs with no evaluated epoch last, unranked), with the
// parameters that differ between the jobs as columns. --output table (a
// header line and a table), json (one object per line, like `list -o json`)
// or csv (a header row, RFC 4180 quoting).
//
// Exit codes (exit_codes.h): a usage error (a bad flag, a several-valued
// axis that is not a parameter, more than kMaxSweepJobs combinations)
// before anything is created is kExitUsage; NAME taken by a study with
// other values kExitError; a refused study or a lost server, the code of
// its status; after following, 0 when every job SUCCEEDED, kExitJobFailed
// when one FAILED (or the study FAILED), else kExitJobCancelled when one
// was CANCELLED (or the study was); Ctrl-C kExitInterrupted (the study
// goes on).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/connection.h"
#include "core/api_limits.h"
#include "client/spec_flags.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

inline constexpr int64_t kMaxSweepJobs = 256;
// The most values one axis may have (a study's choice takes 1..100).
inline constexpr size_t kMaxSweepAxisValues = static_cast<size_t>(kMaxStudyChoices);
// The most studies read to find an existing sweep of the same name.
inline constexpr size_t kMaxStudiesRead = 1000;
// The most jobs one leaderboard reads (a label can be set on any job).
inline constexpr size_t kMaxLeaderboardJobs = 1000;

struct SweepArgs {
  v1::JobSpec base;                           // -f and --data
  std::vector<SweepAxis> axes;                // one per spec flag given
  std::string name;                           // --name; "" makes sweep-YYYYMMDD-HHMMSS (local time)
  std::map<std::string, std::string> labels;  // --label: more labels for the study and its jobs
  bool no_watch = false;                      // create (or find) the study, print name and id, exit
  std::string leaderboard;                    // --leaderboard NAME (main.cc calls Leaderboard)
};

// The checks that need no server (name, labels, axes, size): kExitOk, or
// kExitUsage after printing why. Sweep() runs them again; main calls this
// before it uploads a --table.
int CheckSweep(const SweepArgs& args);
int Sweep(Connection& conn, const SweepArgs& args);
// The leaderboard of the jobs labelled sweep=NAME; kExitNotFound when none is.
int Leaderboard(Connection& conn, const std::string& name);

// The leaderboard of `jobs` (in creation order) as `format` (table, json,
// csv). *note: "" or what the reader should know (the jobs select by
// different metrics, so they are ranked by sliced_w1).
std::string FormatLeaderboard(const std::vector<v1::Job>& jobs, const std::string& format,
                              std::string* note);

}  // namespace gantry::cli
