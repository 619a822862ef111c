#include "client/args.h"

#include <cctype>
#include <algorithm>
#include <limits>

namespace gantry::cli {

bool ParseUint64(const std::string& text, uint64_t* out, std::string* error) {
  if (text.empty() || text.size() > 20) {
    *error = "'" + text + "' is not an unsigned decimal integer";
    return false;
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      *error = "'" + text + "' is not an unsigned decimal integer (0..18446744073709551615)";
      return false;
    }
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      *error = "'" + text + "' is larger than 18446744073709551615";
      return false;
    }
    v = v * 10 + digit;
  }
  *out = v;
  return true;
}

bool ParseSizes(const std::string& text, std::vector<int64_t>* out, std::string* error) {
  out->clear();
  if (text.empty()) return true;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    uint64_t v = 0;
    std::string why;
    if (item.empty()) {
      *error = "'" + text + "' has an empty item";
      return false;
    }
    if (!ParseUint64(item, &v, &why) || v == 0 || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *error = "'" + item + "' in '" + text + "' is not a positive integer";
      return false;
    }
    out->push_back(static_cast<int64_t>(v));
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool CleanToken(const std::string& raw, std::string* token, std::string* error) {
  size_t b = 0, e = raw.size();
  while (b < e && std::isspace(static_cast<unsigned char>(raw[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(raw[e - 1]))) --e;
  const std::string t = raw.substr(b, e - b);
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f) {
      *error = "the token holds a control character";
      return false;
    }
  }
  *token = t;
  return true;
}

bool ParseLabel(const std::string& text, std::string* key, std::string* value, std::string* error) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) {
    *error = "'" + text + "' is not key=value";
    return false;
  }
  if (eq == 0) {
    *error = "'" + text + "' has an empty key";
    return false;
  }
  if (text.find(',') != std::string::npos) {
    *error = "'" + text + "' holds a ',' (give one --label per label)";
    return false;
  }
  *key = text.substr(0, eq);
  *value = text.substr(eq + 1);
  return true;
}

bool ParseEpoch(const std::string& text, int64_t* epoch, bool* best, std::string* error) {
  *best = false;
  if (text == "best") {
    *best = true;
    return true;
  }
  uint64_t v = 0;
  std::string why;
  if (!ParseUint64(text, &v, &why) || v == 0 ||
      v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    *error = "'" + text + "' is neither an epoch (an integer >= 1) nor best";
    return false;
  }
  *epoch = static_cast<int64_t>(v);
  return true;
}

namespace {

std::string Lower(const std::string& s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Edits (insert, delete, substitute, swap two neighbours) from a to b.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string w = Lower(word);
  std::string best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& c : candidates) {
    const std::string lc = Lower(c);
    size_t d = EditDistance(w, lc);
    if (w.size() >= 2 && lc.compare(0, w.size(), w) == 0) d = std::min<size_t>(d, 1);  // a prefix
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  const bool close = best_distance <= 2 && best_distance * 2 <= w.size();
  return close ? best : "";
}

bool ParseEnumName(const std::string& text, const std::vector<std::string>& names,
                   const std::string& prefix, size_t* index, std::string* error) {
  std::string t = Lower(text);
  const std::string p = Lower(prefix);
  if (!p.empty() && t.size() > p.size() && t.compare(0, p.size(), p) == 0) t = t.substr(p.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (t == Lower(names[i])) {
      *index = i;
      return true;
    }
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  *error = "'" + text + "' is not one of " + list;
  if (!prefix.empty()) *error += " (or " + prefix + "NAME)";
  const std::string near = ClosestMatch(t, names);
  if (!near.empty()) *error += "; did you mean " + near + "?";
  return false;
}

}  // namespace gantry::cli
