#include "server/api/enum_names.h"

#include <cctype>
#include <optional>
#include <vector>

#include "server/util/safe_text.h"

namespace gantry {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;

// Deeper JSON is left to protobuf's parser (its own limit is 100).
constexpr int kMaxDepth = 64;

// The prefix every value of `type` shares, ending at an '_'.
size_t PrefixLength(const EnumDescriptor& type) {
  const std::string& first = type.value(0)->name();
  size_t common = first.size();
  for (int i = 1; i < type.value_count(); ++i) {
    const std::string& name = type.value(i)->name();
    size_t n = 0;
    while (n < common && n < name.size() && name[n] == first[n]) ++n;
    common = n;
  }
  const size_t underscore = first.rfind('_', common == 0 ? 0 : common - 1);
  return underscore == std::string::npos || common == 0 ? 0 : underscore + 1;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool IsUnspecified(const EnumValueDescriptor& value) { return value.number() == 0; }

// Copies JSON from `in` to `out`, rewriting enum fields' strings. Any
// scanning failure sets `malformed` (the caller then returns the input).
class Rewriter {
 public:
  explicit Rewriter(std::string_view in) : in_(in) { out_.reserve(in.size()); }

  Status Run(const Descriptor& message) {
    Ws();
    GANTRY_RETURN_IF_ERROR(Value(nullptr, &message, 0));
    Ws();
    if (pos_ != in_.size()) malformed_ = true;
    // A bad value counts only in JSON that scans: else the parser's syntax
    // error says what is wrong.
    if (!malformed_ && bad_value_) return *bad_value_;
    return Status::Ok();
  }
  bool malformed() const { return malformed_; }
  std::string Take() { return std::move(out_); }

 private:
  void Ws() {
    size_t start = pos_;
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' ||
                                 in_[pos_] == '\r')) {
      ++pos_;
    }
    out_.append(in_.substr(start, pos_ - start));
  }

  bool Peek(char c) const { return pos_ < in_.size() && in_[pos_] == c; }

  // A string token at pos_: its raw text (quotes included) and, when it
  // holds no escape, its contents. False when it does not scan.
  bool String(std::string_view* raw, std::optional<std::string_view>* plain) {
    if (!Peek('"')) return false;
    size_t i = pos_ + 1;
    bool escaped = false;
    while (i < in_.size() && in_[i] != '"') {
      if (in_[i] == '\\') {
        escaped = true;
        ++i;
      }
      ++i;
    }
    if (i >= in_.size()) return false;
    *raw = in_.substr(pos_, i + 1 - pos_);
    if (escaped) {
      plain->reset();
    } else {
      *plain = in_.substr(pos_ + 1, i - pos_ - 1);
    }
    pos_ = i + 1;
    return true;
  }

  // The value of `field` (nullptr: not a field of a known message; then
  // `message` is the top-level message, or nullptr for unknown JSON).
  Status Value(const FieldDescriptor* field, const Descriptor* message, int depth) {
    if (depth > kMaxDepth || pos_ >= in_.size()) {
      malformed_ = true;
      return Status::Ok();
    }
    const char c = in_[pos_];
    if (c == '{') {
      if (field != nullptr && field->is_map()) {
        return Object(nullptr, field->message_type()->map_value(), depth);
      }
      const Descriptor* d = field != nullptr ? field->message_type() : message;
      // Well-known types (Timestamp, Struct, ...) have JSON forms of their own.
      if (d != nullptr && d->file()->package() == "google.protobuf") d = nullptr;
      return Object(d, nullptr, depth);
    }
    if (c == '[') return Items(']', [&] { return Value(field, nullptr, depth + 1); });
    if (c == '"') {
      std::string_view raw;
      std::optional<std::string_view> plain;
      if (!String(&raw, &plain)) {
        malformed_ = true;
        return Status::Ok();
      }
      // A number in quotes is protobuf's to read, as an enum's number.
      const bool digits = plain && !plain->empty() &&
                          plain->find_first_not_of("-0123456789") == std::string_view::npos;
      if (field != nullptr && field->type() == FieldDescriptor::TYPE_ENUM && plain && !digits) {
        auto value = ParseEnumName(*field->enum_type(), *plain, Path(field));
        if (!value.ok()) {
          if (!bad_value_) bad_value_ = value.status();
          out_.append(raw);
          return Status::Ok();
        }
        out_ += '"';
        out_ += (*value)->name();
        out_ += '"';
        return Status::Ok();
      }
      out_.append(raw);
      return Status::Ok();
    }
    // A number or a literal: up to the next delimiter.
    const size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] != ',' && in_[pos_] != '}' && in_[pos_] != ']' &&
           in_[pos_] != ' ' && in_[pos_] != '\t' && in_[pos_] != '\n' && in_[pos_] != '\r') {
      ++pos_;
    }
    if (pos_ == start) malformed_ = true;
    out_.append(in_.substr(start, pos_ - start));
    return Status::Ok();
  }

  // An object of `message` (its keys are fields), or a map's (its values
  // are `map_value`), or of unknown JSON (both null).
  Status Object(const Descriptor* message, const FieldDescriptor* map_value, int depth) {
    return Items('}', [&]() -> Status {
      std::string_view raw;
      std::optional<std::string_view> key;
      if (!String(&raw, &key)) {
        malformed_ = true;
        return Status::Ok();
      }
      out_.append(raw);
      Ws();
      if (!Peek(':')) {
        malformed_ = true;
        return Status::Ok();
      }
      out_ += ':';
      ++pos_;
      Ws();
      const FieldDescriptor* field = map_value;
      if (message != nullptr && key) field = FindField(*message, *key);
      path_.push_back(field != nullptr && field != map_value ? field->name() : std::string());
      const Status s = Value(field, nullptr, depth + 1);
      path_.pop_back();
      return s;
    });
  }

  // An array's or object's items: from its opening bracket at pos_ to
  // `close`, each read by `item` (which sets malformed_ when it does not
  // scan), separated by commas.
  template <typename Item>
  Status Items(char close, Item item) {
    out_ += in_[pos_];
    ++pos_;
    Ws();
    if (Peek(close)) {
      out_ += close;
      ++pos_;
      return Status::Ok();
    }
    while (!malformed_) {
      GANTRY_RETURN_IF_ERROR(item());
      if (malformed_) break;
      Ws();
      if (Peek(',')) {
        out_ += ',';
        ++pos_;
        Ws();
        continue;
      }
      if (Peek(close)) {
        out_ += close;
        ++pos_;
      } else {
        malformed_ = true;
      }
      break;
    }
    return Status::Ok();
  }

  static const FieldDescriptor* FindField(const Descriptor& message, std::string_view key) {
    for (int i = 0; i < message.field_count(); ++i) {
      const FieldDescriptor* f = message.field(i);
      if (f->name() == key || f->json_name() == key) return f;
    }
    return nullptr;
  }

  // "spec.dataset.kind": the fields down to this one.
  std::string Path(const FieldDescriptor* field) const {
    std::string out;
    for (const std::string& name : path_) {
      if (name.empty()) continue;
      if (!out.empty()) out += '.';
      out += name;
    }
    return out.empty() ? field->name() : out;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::string out_;
  bool malformed_ = false;
  std::optional<Status> bad_value_;  // the first enum string no value has
  std::vector<std::string> path_;
};

}  // namespace

std::string ShortEnumName(const EnumValueDescriptor& value) {
  std::string name = value.name().substr(PrefixLength(*value.type()));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

StatusOr<const EnumValueDescriptor*> ParseEnumName(const EnumDescriptor& type,
                                                   std::string_view text, std::string_view field) {
  for (int i = 0; i < type.value_count(); ++i) {
    const EnumValueDescriptor* value = type.value(i);
    if (EqualsIgnoreCase(text, value->name())) return value;
    if (!IsUnspecified(*value) && EqualsIgnoreCase(text, ShortEnumName(*value))) return value;
  }
  std::string valid;
  for (int i = 0; i < type.value_count(); ++i) {
    if (IsUnspecified(*type.value(i))) continue;
    valid += (valid.empty() ? "" : ", ") + ShortEnumName(*type.value(i));
  }
  return Status::InvalidArgument(std::string(field) + ": '" + SafeText(text) +
                                 "' is not one of " + valid);
}

StatusOr<std::string> CanonicalEnumsInJson(std::string_view json, const Descriptor& message) {
  Rewriter rewriter(json);
  GANTRY_RETURN_IF_ERROR(rewriter.Run(message));
  if (rewriter.malformed()) return std::string(json);
  return rewriter.Take();
}

}  // namespace gantry
