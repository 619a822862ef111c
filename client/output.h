// Formatting of jobs and events for people (tables, progress lines) and for
// scripts (JSON, one object per line).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

// protobuf's JSON form, on one line, with the .proto field names.
std::string ToJson(const google::protobuf::Message& message);
std::string StateName(v1::JobState state);  // "SUCCEEDED"
std::string DatasetName(v1::DatasetKind kind);          // "two_moons" (core/api_limits.h)
std::string Age(const google::protobuf::Timestamp& t);  // "5s", "3m", "2h", "4d"

// A table with a header row and left-aligned columns.
std::string Table(const std::vector<std::vector<std::string>>& rows);
// An OWNER column after NAME (the third) when any row's owner is set (a
// server with credentials): rows[0] is the header, owners[i] row i+1's.
void AddOwnerColumn(std::vector<std::vector<std::string>>* rows, const std::vector<std::string>& owners);

// The row `gantry list` shows: ID, NAME, STATE, EPOCH, LOSS_D, LOSS_G, AGE.
void JobTableRow(const v1::Job& job, std::vector<std::string>* row);
std::string DescribeJob(const v1::Job& job);  // multi-line "key: value" text

// The held-out metrics in Metrics' order, and which way is better.
inline constexpr const char* kMetricNames[] = {"sliced_w1", "mmd",     "precision",
                                               "recall",    "density", "coverage"};
double MetricValue(const v1::Metrics& m, const std::string& name);  // 0 for an unknown name
bool LowerIsBetter(const std::string& metric);                      // sliced_w1 and mmd
// "sliced_w1 0.01234 mmd 0.000123 precision 0.95 recall 0.93 density 1.01 coverage 0.95"
std::string DescribeMetrics(const v1::Metrics& m);

// Follows a stream of epoch events to print progress. On a terminal it
// rewrites one line; otherwise it prints one line per event.
class Progress {
 public:
  explicit Progress(bool terminal) : terminal_(terminal) {}
  void Event(const v1::JobEvent& event);
  void Done();  // ends the progress line

 private:
  bool terminal_;
  bool line_open_ = false;
  std::vector<std::pair<double, int64_t>> recent_;  // (event time, epoch)
};

}  // namespace gantry::cli
