// The JobSpec flags of `gantry submit` and `gantry sweep`, declared once
// (spec_flags.cc's table): every JobSpec field is a flag with the seed
// program's default in its help, and only the flags given override the -f
// file (protobuf's JSON form of JobSpec) and --data (a points file).
//
// submit takes one value per flag. sweep takes a list of alternatives per
// flag: comma-separated ("1e-3,5e-4", "bce,wgan_gp"), integer flags also
// inclusive ranges ("1..8", "1..4,10"), and the layer-size flags, whose one
// value is itself a comma list, alternatives separated by '/'
// ("16,32/64,64"). -f and --data stay single: they are the sweep's base.
//
// Values are parsed strictly (no hex, no trailing text, finite numbers);
// an error names the flag and the value.
//
// Thread-safety: a SpecFlags belongs to one thread (CLI11 writes into it).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gantry/v1/gantry.pb.h"

namespace gantry::cli {

// One alternative of a flag: its text as jobs show it ("0.001") and what it
// sets in a spec.
struct SpecValue {
  std::string text;
  std::function<void(v1::JobSpec*)> apply;
};

// A swept flag: its key ("learning_rate") and its alternatives, in the
// order given.
struct SweepAxis {
  std::string key;
  std::vector<SpecValue> values;
};

// At most this many values in one integer range of a sweep (the whole sweep
// is bounded again by the product of its axes).
inline constexpr uint64_t kMaxRangeValues = 256;

class SpecFlags {
 public:
  // kStudy: as kSubmit (one value per flag: a study's base spec), but the
  // job spec's seed is --job-seed, --seed being the study's own.
  enum class Mode { kSubmit, kSweep, kStudy };
  explicit SpecFlags(Mode mode) : mode_(mode) {}
  SpecFlags(const SpecFlags&) = delete;
  SpecFlags& operator=(const SpecFlags&) = delete;

  // Declares -f, --data and every spec flag on `cmd`.
  void Add(CLI::App* cmd);
  // Whether any spec flag, -f, --data or --table was given.
  bool AnyGiven() const;
  // --table FILE: a CSV file to upload (data.h's PushTable) before the job
  // is created; Build() makes the job a table job, and the caller sets
  // dataset.table.table_id once the upload answered. "" when not given.
  const std::string& table_file() const { return table_file_; }

  // submit and study: the spec from -f, --data and the flags. On error prints
  // "gantry: <command>: ..." and returns false.
  bool Build(const std::string& command, v1::JobSpec* spec) const;
  // sweep: the base spec (-f and --data) and one axis per spec flag given,
  // in the table's order. On error prints it and returns false.
  bool BuildSweep(const std::string& command, v1::JobSpec* base,
                  std::vector<SweepAxis>* axes) const;

 private:
  bool BuildBase(const std::string& command, v1::JobSpec* spec) const;

  Mode mode_;
  std::string file_, data_, table_file_, table_id_;
  // --categorical, --integer, --continuous, --datetime, --boolean: column
  // names (comma-separated) whose type overrides the inferred one.
  std::vector<std::string> overrides_[5];
  std::vector<std::string> texts_;  // one per flag of the table
  std::vector<CLI::Option*> opts_;  // one per flag of the table
};

// Every spec flag's key and its value in `spec` (as jobs show it), in the
// table's order: ("dataset", "ring8"), ("learning_rate", "0.001"), ...
std::vector<std::pair<std::string, std::string>> SpecValues(const v1::JobSpec& spec);

}  // namespace gantry::cli
