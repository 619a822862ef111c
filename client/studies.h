// `gantry study create|list|get|watch|cancel|delete|replay|leaderboard`: the
// server's studies (server/studies/), hyper-parameter searches that gantryd
// runs itself (grid, random, ASHA, Hyperband, PBT) over trials that are
// ordinary jobs labelled study=ID. Each returns the process exit code
// (exit_codes.h); results go to stdout, diagnostics to stderr.
//
// Thread-safety: main's thread only (they print).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/connection.h"
#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

// One --param NAME=KIND:ARGS as a SearchParam:
//   learning_rate=log_uniform:1e-4:1e-2   dropout=uniform:0:0.5
//   batch_size=int:16:128                 loss=choice:bce|hinge
//   generator_hidden=choice:16,32|64,64   (choice values separated by '|',
//                                          so layer lists keep their commas)
// Numbers are strict (finite decimals; int's bounds whole numbers). Whether
// NAME is a searchable JobSpec field and KIND fits it is the server's
// check (INVALID_ARGUMENT naming space[i]). False with *error (the text and
// what is wrong) for a bad form.
bool ParseSearchParam(const std::string& text, v1::SearchParam* out, std::string* error);

struct StudyArgs {
  // create
  v1::JobSpec base;                           // the spec flags of submit (--job-seed for its seed)
  std::vector<std::string> params;            // --param, as given
  v1::StudySpec spec;                         // the study's own flags (space filled from params)
  std::string name;
  std::map<std::string, std::string> labels;  // --label key=value
  bool watch = false;                         // create, replay: follow it afterwards
  // list
  std::string owner;
  // get, watch, cancel, delete, replay, leaderboard
  std::string id;
  double reconnect_seconds = 120;             // watch: keep reconnecting this long
  // replay
  int64_t trial = 0;                          // 0: the study's best trial
  std::string job_name;                       // --name of replay
  // leaderboard
  std::string pareto;                         // "METRIC_A,METRIC_B" or ""
};

// Builds the space from args.params (exit 2 naming --param on a bad form),
// creates the study and prints its id (-o json: the Study); with watch,
// then follows it as WatchStudy does.
int CreateStudy(Connection& conn, const StudyArgs& args);
// Every study, newest first, through all pages: ID, NAME, ALGORITHM, STATE,
// TRIALS (created/max), EPOCHS (spent), BEST (the objective's name and
// best value), AGE; an OWNER column when studies have owners. -o json: one
// Study per line.
int ListStudies(Connection& conn, const StudyArgs& args);
// A header (algorithm, objective and direction, space, state, error,
// summary, best trial) and a table of trials: TRIAL, STATUS, EPOCHS,
// OBJECTIVE, PARAMS, SEGMENTS, for pbt LINEAGE ("3@10 5@20": the trials
// its segments started from at those epochs), and JOB (the latest
// segment's). -o json: the Study.
int GetStudy(Connection& conn, const StudyArgs& args);
// Follows WatchStudy: on a terminal the study's line and its trial table
// redrawn in place; otherwise a line per trial that changed and a line for
// the study when its state, trial count or best changed; -o json one Study
// per line. A dropped stream is reopened (it starts again with the study
// as it is now) for up to reconnect_seconds. Exit 0 when the study ended
// SUCCEEDED, kExitJobFailed when FAILED, kExitJobCancelled when CANCELLED.
int WatchStudy(Connection& conn, const StudyArgs& args);
// "cancelled study ID" (-o json: the Study).
int CancelStudy(Connection& conn, const StudyArgs& args);
// "deleted study ID" (-o json: {"deleted":"ID"}).
int DeleteStudy(Connection& conn, const StudyArgs& args);
// ReplayTrial: prints the new job's id (-o json: the Job); with watch,
// follows it as `gantry watch` does.
int ReplayTrial(Connection& conn, const StudyArgs& args);
// The trials ranked by objective (best first; trials without a result and
// then failed or cancelled ones last, unranked) with their parameters and
// latest metrics; with pareto, only the trials on the Pareto front of the
// two metrics (sliced_w1, mmd, column_distance, dcr_share lower is better,
// the others higher), sorted by the first. -o json: one object per line.
int StudyLeaderboard(Connection& conn, const StudyArgs& args);

}  // namespace gantry::cli
