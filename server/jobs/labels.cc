#include "server/jobs/labels.h"

#include "server/util/safe_text.h"

namespace gantry {
namespace {

constexpr char kKeyRule[] =
    "must be 1..63 characters of [A-Za-z0-9._-] starting with a letter or digit";
constexpr char kValueRule[] = "must be 0..63 characters of [A-Za-z0-9._-]";

bool Alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool LabelChar(char c) { return Alnum(c) || c == '.' || c == '_' || c == '-'; }

bool AllLabelChars(const std::string& s) {
  for (char c : s) {
    if (!LabelChar(c)) return false;
  }
  return true;
}

bool ValidKey(const std::string& key) {
  return !key.empty() && key.size() <= kMaxLabelKeyLength && Alnum(key[0]) && AllLabelChars(key);
}

bool ValidValue(const std::string& value) {
  return value.size() <= kMaxLabelValueLength && AllLabelChars(value);
}

// 'text' escaped and cut (SafeText), quoted.
std::string Quote(const std::string& text) { return "'" + SafeText(text, 80) + "'"; }

// "" or why key=value is not a label.
std::string LabelError(const std::string& key, const std::string& value) {
  if (!ValidKey(key)) {
    return "key " + Quote(key) + " (value " + Quote(value) + ") " + kKeyRule;
  }
  if (!ValidValue(value)) {
    return "value " + Quote(value) + " of key " + Quote(key) + " " + kValueRule;
  }
  return "";
}

}  // namespace

Status ValidateLabels(const Labels& labels) {
  if (labels.size() > kMaxLabels) {
    return Status::InvalidArgument("labels: " + std::to_string(labels.size()) +
                                   " labels is more than the " + std::to_string(kMaxLabels) +
                                   " a job may carry");
  }
  // In key order (a map's), so the error names the same label every time.
  for (const auto& [key, value] : labels) {
    const std::string error = LabelError(key, value);
    if (!error.empty()) return Status::InvalidArgument("labels: " + error);
  }
  return Status::Ok();
}

StatusOr<Labels> ParseLabelSelector(const std::string& selector) {
  Labels out;
  if (selector.empty()) return out;
  size_t start = 0, terms = 0;
  while (true) {
    const size_t comma = selector.find(',', start);
    const std::string term =
        selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (++terms > kMaxLabels) {
      return Status::InvalidArgument("label_selector: more than " + std::to_string(kMaxLabels) +
                                     " terms (a job carries at most " + std::to_string(kMaxLabels) +
                                     " labels)");
    }
    const std::string bad = "label_selector: term " + Quote(term);
    const size_t eq = term.find('=');
    if (eq == std::string::npos) return Status::InvalidArgument(bad + " is not key=value");
    const std::string key = term.substr(0, eq), value = term.substr(eq + 1);
    if (key.empty()) return Status::InvalidArgument(bad + " has an empty key");
    const std::string error = LabelError(key, value);
    if (!error.empty()) return Status::InvalidArgument(bad + ": " + error);
    if (!out.emplace(key, value).second) {
      return Status::InvalidArgument(bad + ": key " + Quote(key) + " is given twice");
    }
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace gantry
