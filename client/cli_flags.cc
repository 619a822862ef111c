#include "client/cli_flags.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <system_error>
#include <cstdlib>
#include <iostream>

#include "client/args.h"

namespace gantry::cli {

// --label key=value (repeatable) into `labels`; false after printing the error.
bool ParseLabels(const std::string& command, const std::vector<std::string>& texts,
                 std::map<std::string, std::string>* labels) {
  for (const auto& text : texts) {
    std::string key, value, error;
    if (!ParseLabel(text, &key, &value, &error)) {
      std::cerr << "gantry: " << command << ": --label " << error << "\n";
      return false;
    }
    if (!labels->emplace(key, value).second) {
      std::cerr << "gantry: " << command << ": --label " << key << " is given twice\n";
      return false;
    }
  }
  return true;
}

namespace {

// "TEXT is out of range 0..9" or "...: at least 1".
std::string OutOfRange(const std::string& text, const std::string& range) {
  return text + " is out of range" + (std::isdigit(static_cast<unsigned char>(range[0])) ? " " : ": ") + range;
}

}  // namespace

// A number flag's bounds, said readably ("--count: 0 is out of range (at
// least 1)") where CLI11's own checks print a 300-digit bound. `above`: the
// lower bound itself is out of range.
CLI::Validator InRange(double lo, double hi, bool above, const std::string& range) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end == nullptr || *end != '\0' || v != v) return "'" + text + "' is not a number";
        if (v < lo || v > hi || (above && v == lo)) return OutOfRange(text, range);
        return std::string();
      },
      range);
}

// As InRange, for an integer flag: decimal digits with an optional '-',
// nothing else (no exponent, hex, fraction or trailing text).
CLI::Validator IntInRange(int64_t lo, int64_t hi, const std::string& range) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (ec == std::errc::result_out_of_range && ptr == end) return OutOfRange(text, range);
        if (text.empty() || ec != std::errc() || ptr != end) return "'" + text + "' is not a whole number";
        if (v < lo || v > hi) return OutOfRange(text, range);
        return std::string();
      },
      range);
}

// The first argument that is not a global option or its value: the command
// word, or "" when there is none.
std::string CommandWord(int argc, char** argv) {
  static const std::vector<std::string> with_value = {"--server", "--timeout", "-o",   "--output",
                                                      "--tls-ca", "--token",   "--log-level"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] != '-') return a;
    if (a.find('=') == std::string::npos &&
        std::find(with_value.begin(), with_value.end(), a) != with_value.end()) {
      ++i;  // its value
    }
  }
  return "";
}

// The names of `app`'s commands.
std::vector<std::string> CommandNames(CLI::App& app) {
  std::vector<std::string> names;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

// After CLI11 found arguments it did not expect: names the first unknown
// flag of `cmd` (the command word's subcommand, or its nested command such
// as data push) with a did-you-mean, and returns true; false when none of
// them is a flag.
bool ExplainUnknownFlag(CLI::App& app, CLI::App* cmd, int argc, char** argv) {
  bool after = false;
  std::string name = cmd->get_name();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (!after) {
      after = a == cmd->get_name();
      continue;
    }
    if (!a.empty() && a[0] != '-') {  // a nested command ("data push") owns the flags after it
      for (CLI::App* sub : cmd->get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == a) {
          name += " " + a;
          cmd = sub;
        }
      }
      continue;
    }
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9') || a[1] == '.') continue;
    a = a.substr(0, a.find('='));
    if (cmd->get_option_no_throw(a) != nullptr || app.get_option_no_throw(a) != nullptr) continue;
    std::vector<std::string> names;
    for (const CLI::Option* opt : cmd->get_options([](const CLI::Option*) { return true; })) {
      for (const std::string& n : opt->get_lnames()) names.push_back("--" + n);
    }
    std::cerr << "gantry: " << name << ": unknown flag " << a;
    const std::string near = ClosestMatch(a, names);
    if (!near.empty()) std::cerr << "; did you mean " << near << "?";
    std::cerr << " (gantry " << name << " --help lists its flags)\n";
    return true;
  }
  return false;
}

// --label and --sweep of list, cancel and delete as a selector
// "key=value[,...]"; false after printing the error.
bool BuildSelector(const std::string& command, const std::vector<std::string>& labels,
                   const CLI::Option* sweep_opt, const std::string& sweep, std::string* selector) {
  std::string error;
  for (const auto& text : labels) {
    std::string key, value;
    if (!ParseLabel(text, &key, &value, &error)) {
      std::cerr << "gantry: " << command << ": --label " << error << "\n";
      return false;
    }
    *selector += (selector->empty() ? "" : ",") + text;
  }
  if (sweep_opt->count() > 0) {
    if (sweep.empty() || sweep.find(',') != std::string::npos) {
      std::cerr << "gantry: " << command << ": --sweep '" << sweep << "' is empty or holds a ','\n";
      return false;
    }
    *selector += (selector->empty() ? "" : ",") + ("sweep=" + sweep);
  }
  return true;
}

// --epoch N|best of sample and export; false after printing the error.
bool ParseEpochFlag(const std::string& command, const std::string& text, int64_t* epoch, bool* best) {
  std::string error;
  if (ParseEpoch(text, epoch, best, &error)) return true;
  std::cerr << "gantry: " << command << ": --epoch " << error << "\n";
  return false;
}

}  // namespace gantry::cli
