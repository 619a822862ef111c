// The CLI's flag checks and errors around CLI11 (main.cc defines the
// flags): readable range errors, the command word, did-you-means for
// unknown flags, and the --label/--sweep/--epoch flags shared by commands.
// Functions that print do so to stderr as "gantry: COMMAND: ...".
//
// Thread-safety: main's thread only (they print).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gantry::cli {

// --label key=value (repeatable) into `labels`; false after printing the error.
bool ParseLabels(const std::string& command, const std::vector<std::string>& texts,
                 std::map<std::string, std::string>* labels);

// --label and --sweep of list, cancel and delete as a selector
// "key=value[,...]"; false after printing the error.
bool BuildSelector(const std::string& command, const std::vector<std::string>& labels,
                   const CLI::Option* sweep_opt, const std::string& sweep, std::string* selector);

// A number flag's bounds, said readably ("--count: 0 is out of range (at
// least 1)") where CLI11's own checks print a 300-digit bound. `above`: the
// lower bound itself is out of range.
CLI::Validator InRange(double lo, double hi, bool above, const std::string& range);
// As InRange, for an integer flag: decimal digits with an optional '-' and
// nothing else ("1e3", "0x10", "1.5" and "12abc" are not whole numbers);
// lo and hi are in range.
CLI::Validator IntInRange(int64_t lo, int64_t hi, const std::string& range);

// The first argument that is not a global option or its value: the command
// word, or "" when there is none.
std::string CommandWord(int argc, char** argv);

// The names of `app`'s commands.
std::vector<std::string> CommandNames(CLI::App& app);

// After CLI11 found arguments it did not expect: names the first unknown
// flag of `cmd` (the command word's subcommand, or its nested command such
// as data push) with a did-you-mean, and returns true; false when none of
// them is a flag.
bool ExplainUnknownFlag(CLI::App& app, CLI::App* cmd, int argc, char** argv);

// --epoch N|best of sample and export; false after printing the error.
bool ParseEpochFlag(const std::string& command, const std::string& text, int64_t* epoch, bool* best);

}  // namespace gantry::cli
