#include "client/spec_flags.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <type_traits>

#include "client/args.h"
#include "client/csv.h"
#include "core/api_limits.h"

namespace gantry::cli {
namespace {

enum class Kind { kInt, kUint, kDouble, kBool, kChoice, kSizes, kString };

// One parsed value of a flag (the member its Kind names).
struct Parsed {
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::string s;
  std::vector<int64_t> sizes;
};

struct FlagDef {
  const char* names;  // CLI11's names, the long name first
  const char* key;    // job names, leaderboard columns: the long name with '_'
  const char* help;
  Kind kind;
  std::vector<std::string> choices;  // kChoice
  std::function<void(v1::JobSpec*, const Parsed&)> set;
  std::function<std::string(const v1::JobSpec&)> get;
};

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string FormatSizes(const v1::LayerSizes& sizes) {
  std::string out;
  for (int64_t s : sizes.sizes()) out += (out.empty() ? "" : ",") + std::to_string(s);
  return out.empty() ? "none" : out;
}

// --dataset's values, in the proto enum's order (core/api_limits.h).
std::vector<std::string> DatasetNames() {
  std::vector<std::string> names;
  for (const auto& k : kDatasetKindNames) names.emplace_back(k.name);
  return names;
}

v1::DatasetKind ParseDatasetKind(const std::string& name) {
  for (const auto& k : kDatasetKindNames) {
    if (name == k.name) return static_cast<v1::DatasetKind>(k.proto_value);
  }
  return v1::DATASET_KIND_UNSPECIFIED;  // not reached: the name was checked
}

// "sine (default), circle, ..." for --dataset's help.
std::string DatasetHelp() {
  static const std::string help = [] {
    std::string h;
    for (const auto& name : DatasetNames()) {
      if (!h.empty()) h += ", ";
      h += name;
      if (name == "sine") h += " (default)";
      if (name == "user") h += " (with --data)";
      if (name == "table") h += " (with --table or --table-id)";
    }
    return h;
  }();
  return help;
}

std::string DatasetOf(const v1::JobSpec& s) {
  const char* name = DatasetKindNameOfProto(s.dataset().kind());
  return name != nullptr ? name : std::to_string(static_cast<int>(s.dataset().kind()));
}

// Every JobSpec field, in the order of the help and of a sweep's axes.
const std::vector<FlagDef>& Flags() {
  using S = v1::JobSpec;
  using P = Parsed;
  // One flag per entry, its fields packed.
  // clang-format off
  static const std::vector<FlagDef> flags = {
      {"--dataset", "dataset", nullptr, Kind::kChoice, DatasetNames(),
       [](S* s, const P& p) { s->mutable_dataset()->set_kind(ParseDatasetKind(p.s)); }, DatasetOf},
      {"--size", "size", "points to draw for a built-in dataset (1024)", Kind::kInt, {},
       [](S* s, const P& p) { s->mutable_dataset()->set_size(p.i); },
       [](const S& s) { return std::to_string(s.dataset().size()); }},
      {"--noise", "noise", "Gaussian noise of a built-in dataset", Kind::kDouble, {},
       [](S* s, const P& p) { s->mutable_dataset()->set_noise(p.d); },
       [](const S& s) { return FormatDouble(s.dataset().noise()); }},
      {"--latent-dim", "latent_dim", "latent dimension (2)", Kind::kInt, {},
       [](S* s, const P& p) { s->set_latent_dim(p.i); },
       [](const S& s) { return std::to_string(s.latent_dim()); }},
      {"--generator-hidden", "generator_hidden", "generator hidden sizes (16,32)", Kind::kSizes, {},
       [](S* s, const P& p) {
         s->mutable_generator_hidden()->mutable_sizes()->Assign(p.sizes.begin(), p.sizes.end());
       },
       [](const S& s) { return FormatSizes(s.generator_hidden()); }},
      {"--discriminator-hidden", "discriminator_hidden", "discriminator hidden sizes (256,128,64)",
       Kind::kSizes, {},
       [](S* s, const P& p) {
         s->mutable_discriminator_hidden()->mutable_sizes()->Assign(p.sizes.begin(),
                                                                    p.sizes.end());
       },
       [](const S& s) { return FormatSizes(s.discriminator_hidden()); }},
      {"--dropout", "dropout", "discriminator dropout (0.3)", Kind::kDouble, {},
       [](S* s, const P& p) { s->set_dropout(p.d); },
       [](const S& s) { return FormatDouble(s.dropout()); }},
      {"--learning-rate,--lr", "learning_rate", "Adam learning rate (0.001)", Kind::kDouble, {},
       [](S* s, const P& p) { s->set_learning_rate(p.d); },
       [](const S& s) { return FormatDouble(s.learning_rate()); }},
      {"--beta1", "beta1", "Adam beta1 (0.9)", Kind::kDouble, {},
       [](S* s, const P& p) { s->set_beta1(p.d); },
       [](const S& s) { return FormatDouble(s.beta1()); }},
      {"--beta2", "beta2", "Adam beta2 (0.999)", Kind::kDouble, {},
       [](S* s, const P& p) { s->set_beta2(p.d); },
       [](const S& s) { return FormatDouble(s.beta2()); }},
      {"--batch-size", "batch_size", "batch size (32)", Kind::kInt, {},
       [](S* s, const P& p) { s->set_batch_size(p.i); },
       [](const S& s) { return std::to_string(s.batch_size()); }},
      {"--epochs", "epochs", "epochs (300)", Kind::kInt, {},
       [](S* s, const P& p) { s->set_epochs(p.i); },
       [](const S& s) { return std::to_string(s.epochs()); }},
      {"--seed", "seed", "random seed (111)", Kind::kUint, {},
       [](S* s, const P& p) { s->set_seed(p.u); },
       [](const S& s) { return std::to_string(s.seed()); }},
      {"--preview-points", "preview_points", "generated points in each epoch event (64)",
       Kind::kInt, {},
       [](S* s, const P& p) { s->set_preview_points(p.i); },
       [](const S& s) { return std::to_string(s.preview_points()); }},
      {"--checkpoint-every", "checkpoint_every", "epochs between checkpoints (10)", Kind::kInt, {},
       [](S* s, const P& p) { s->set_checkpoint_every(p.i); },
       [](const S& s) { return std::to_string(s.checkpoint_every()); }},
      {"--trainer-path", "trainer_path", "training loop: auto (default), fast, aten; same results",
       Kind::kChoice, {"auto", "fast", "aten"},
       [](S* s, const P& p) { s->set_trainer_path(p.s); },
       [](const S& s) { return s.trainer_path(); }},
      {"--loss", "loss",
       "loss: bce (default: the seed program's), non_saturating, hinge, wgan_gp (a critic with a "
       "gradient penalty)",
       Kind::kChoice, {"bce", "non_saturating", "hinge", "wgan_gp"},
       [](S* s, const P& p) { s->set_loss(p.s); }, [](const S& s) { return s.loss(); }},
      {"--on-non-finite", "on_non_finite",
       "a job whose losses become NaN or infinite: fail (default: it ends FAILED naming the "
       "epoch) or continue (it trains on; the alarm is raised either way)",
       Kind::kChoice, {"fail", "continue"},
       [](S* s, const P& p) { s->set_on_non_finite(p.s); }, [](const S& s) { return s.on_non_finite(); }},
      {"--gp-weight", "gp_weight", "wgan_gp's gradient penalty weight, 0..1000 (10)",
       Kind::kDouble, {},
       [](S* s, const P& p) { s->set_gp_weight(p.d); },
       [](const S& s) { return FormatDouble(s.gp_weight()); }},
      {"--n-critic", "n_critic",
       "discriminator steps per generator step, 1..100 (5 for wgan_gp, else 1)", Kind::kInt, {},
       [](S* s, const P& p) { s->set_n_critic(p.i); },
       [](const S& s) { return std::to_string(s.n_critic()); }},
      {"--spectral-norm", "spectral_norm",
       "spectral normalisation of the discriminator's layers: true or false (false; the flag "
       "alone: true)",
       Kind::kBool, {},
       [](S* s, const P& p) { s->set_spectral_norm(p.b); },
       [](const S& s) { return std::string(s.spectral_norm() ? "true" : "false"); }},
      {"--eval-every", "eval_every",
       "epochs between held-out evaluations, 1..100000 (10; the first and last are evaluated too)",
       Kind::kInt, {},
       [](S* s, const P& p) { s->set_eval_every(p.i); },
       [](const S& s) { return std::to_string(s.eval_every()); }},
      {"--eval-fraction", "eval_fraction",
       "user data only: the fraction held out for evaluation, 0..0.5 (0: the training set)",
       Kind::kDouble, {},
       [](S* s, const P& p) { s->set_eval_fraction(p.d); },
       [](const S& s) { return FormatDouble(s.eval_fraction()); }},
      {"--eval-points", "eval_points", "generated points per evaluation, 16..10000 (512)",
       Kind::kInt, {},
       [](S* s, const P& p) { s->set_eval_points(p.i); },
       [](const S& s) { return std::to_string(s.eval_points()); }},
      {"--select-by", "select_by",
       "metric that picks the best epoch and drives early stopping: sliced_w1 (default), mmd "
       "(lower is better), precision, recall, density, coverage (higher is better); table jobs: "
       "quality (default), column_shapes, column_pairs, utility (needs --target; higher is better), "
       "dcr_share, column_distance (lower is better)",
       Kind::kChoice, {"sliced_w1", "mmd", "precision", "recall", "density", "coverage", "column_distance",
                       "quality", "column_shapes", "column_pairs", "utility", "dcr_share"},
       [](S* s, const P& p) { s->set_select_by(p.s); }, [](const S& s) { return s.select_by(); }},
      {"--patience", "patience",
       "early stopping: stop after this many epochs without an improvement of --min-delta, "
       "0..100000 (0: off)",
       Kind::kInt, {},
       [](S* s, const P& p) { s->set_patience(p.i); },
       [](const S& s) { return std::to_string(s.patience()); }},
      {"--min-delta", "min_delta", "early stopping: the least improvement that counts, 0..1e6 (0)",
       Kind::kDouble, {},
       [](S* s, const P& p) { s->set_min_delta(p.d); },
       [](const S& s) { return FormatDouble(s.min_delta()); }},
      {"--weight-decay", "weight_decay", "table jobs: Adam's weight decay, 0..1 (1e-6)", Kind::kDouble, {},
       [](S* s, const P& p) { s->set_weight_decay(p.d); },
       [](const S& s) { return FormatDouble(s.weight_decay()); }},
      {"--pac", "pac", "table jobs: rows the discriminator judges together, 1..64 (10)", Kind::kInt, {},
       [](S* s, const P& p) { s->set_pac(p.i); },
       [](const S& s) { return std::to_string(s.pac()); }},
      {"--max-modes", "max_modes", "table jobs: Gaussian-mixture modes per numeric column, 1..32 (10)",
       Kind::kInt, {},
       [](S* s, const P& p) { s->set_max_modes(p.i); },
       [](const S& s) { return std::to_string(s.max_modes()); }},
      {"--target", "target",
       "table jobs: a column to predict; stratifies the held-out split and adds utility "
       "(train on synthetic, test on real) to every evaluation",
       Kind::kString, {},
       [](S* s, const P& p) { s->set_target(p.s); },
       [](const S& s) { return s.target(); }},
      {"--max-dcr-share", "max_dcr_share",
       "table jobs: the privacy constraint; the best epoch and early stopping only consider epochs "
       "whose DCR share is at most this, (0, 1] (0: off)",
       Kind::kDouble, {},
       [](S* s, const P& p) { s->set_max_dcr_share(p.d); },
       [](const S& s) { return FormatDouble(s.max_dcr_share()); }},
  };
  // clang-format on
  return flags;
}

// The flag's CLI11 names and help in `mode`: `gantry study create` has a
// --seed of its own (the study's), so there the job spec's is --job-seed.
std::string NamesIn(const FlagDef& def, SpecFlags::Mode mode) {
  if (mode == SpecFlags::Mode::kStudy && def.key == std::string("seed")) return "--job-seed";
  return def.names;
}

std::string HelpIn(const FlagDef& def, SpecFlags::Mode mode) {
  if (mode == SpecFlags::Mode::kStudy && def.key == std::string("seed")) {
    return "the trials' random seed, every trial's the same (111); --seed is the study's";
  }
  return def.help != nullptr ? def.help : DatasetHelp();
}

std::string LongName(const FlagDef& def, SpecFlags::Mode mode = SpecFlags::Mode::kSubmit) {
  const std::string names = NamesIn(def, mode);
  return names.substr(0, names.find(','));
}

// A decimal int64: an optional '-', then digits only.
bool ParseInt64(const std::string& text, int64_t* out, std::string* error) {
  const size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
  bool ok = text.size() > digits && text.size() <= digits + 19;
  for (size_t i = digits; ok && i < text.size(); ++i) ok = text[i] >= '0' && text[i] <= '9';
  if (ok) {
    errno = 0;
    const long long v = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == 0) {
      *out = v;
      return true;
    }
  }
  *error = "'" + text + "' is not a decimal integer";
  return false;
}

// A finite decimal number ("0.001", "1e-3", "-2"): no hex, no nan or inf.
bool ParseDouble(const std::string& text, double* out, std::string* error) {
  bool ok = !text.empty() && text.find_first_not_of("0123456789+-.eE") == std::string::npos;
  if (ok) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text.c_str(), &end);
    ok = end == text.c_str() + text.size() && errno == 0 && std::isfinite(v);
    if (ok) *out = v;
  }
  if (!ok) *error = "'" + text + "' is not a finite decimal number";
  return ok;
}

// One value of `def`: parsed into a SpecValue, or false with *error.
bool ParseValue(const FlagDef& def, const std::string& text, SpecValue* out, std::string* error) {
  Parsed p;
  switch (def.kind) {
    case Kind::kInt:
      if (!ParseInt64(text, &p.i, error)) return false;
      break;
    case Kind::kUint:
      if (!ParseUint64(text, &p.u, error)) return false;
      break;
    case Kind::kDouble:
      if (!ParseDouble(text, &p.d, error)) return false;
      break;
    case Kind::kBool:
      if (text != "true" && text != "false") {
        *error = "'" + text + "' is not true or false";
        return false;
      }
      p.b = text == "true";
      break;
    case Kind::kChoice: {
      // Any case; --dataset also takes the proto's DATASET_KIND_TWO_MOONS.
      size_t index = 0;
      const std::string prefix = def.key == std::string("dataset") ? "DATASET_KIND_" : "";
      if (!ParseEnumName(text, def.choices, prefix, &index, error)) return false;
      p.s = def.choices[index];
      break;
    }
    case Kind::kSizes:
      if (!ParseSizes(text, &p.sizes, error)) return false;
      break;
    case Kind::kString:
      if (text.empty()) {
        *error = "the value is empty";
        return false;
      }
      p.s = text;
      break;
  }
  auto set = def.set;
  out->text = def.kind == Kind::kChoice ? p.s : text;  // a choice as jobs show it
  out->apply = [set, p](v1::JobSpec* spec) { set(spec, p); };
  return true;
}

// "a..b" of an integer flag as its values (a <= b, at most kMaxRangeValues),
// or false with *error.
template <typename Int>
bool ExpandRange(const std::string& item, size_t dots, std::vector<std::string>* out,
                 std::string* error) {
  const std::string a = item.substr(0, dots), b = item.substr(dots + 2);
  Int lo{}, hi{};
  bool ok;
  if constexpr (std::is_same_v<Int, uint64_t>) {
    ok = ParseUint64(a, &lo, error) && ParseUint64(b, &hi, error);
  } else {
    ok = ParseInt64(a, &lo, error) && ParseInt64(b, &hi, error);
  }
  if (!ok) {
    *error = "range '" + item + "': " + *error;
    return false;
  }
  if (lo > hi) {
    *error = "range '" + item + "' is empty (its start is past its end)";
    return false;
  }
  // hi - lo in the unsigned type: no overflow for any int64 range.
  using U = std::make_unsigned_t<Int>;
  if (static_cast<U>(hi) - static_cast<U>(lo) >= kMaxRangeValues) {
    *error = "range '" + item + "' has more than " + std::to_string(kMaxRangeValues) + " values";
    return false;
  }
  for (Int v = lo;; ++v) {
    out->push_back(std::to_string(v));
    if (v == hi) break;
  }
  return true;
}

// The alternatives of a sweep flag's text: split on ',' ('/' for layer
// sizes), integer ranges expanded.
bool Alternatives(const FlagDef& def, const std::string& text, std::vector<std::string>* out,
                  std::string* error) {
  const char sep = def.kind == Kind::kSizes ? '/' : ',';
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    const std::string item =
        text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const size_t dots = item.find("..");
    if (dots != std::string::npos && (def.kind == Kind::kInt || def.kind == Kind::kUint)) {
      const bool ok = def.kind == Kind::kInt ? ExpandRange<int64_t>(item, dots, out, error)
                                             : ExpandRange<uint64_t>(item, dots, out, error);
      if (!ok) return false;
    } else {
      out->push_back(item);
    }
    if (out->size() > kMaxRangeValues) {
      *error = "'" + text + "' has more than " + std::to_string(kMaxRangeValues) + " values";
      return false;
    }
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

}  // namespace

void SpecFlags::Add(CLI::App* cmd) {
  cmd->add_option("-f,--file", file_, "JobSpec as JSON (protobuf's JSON form); flags override it");
  cmd->add_option("--data", data_, "user points: a CSV file, one point per row (header optional)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--table", table_file_,
                  "a table (CSV with a header): uploaded, then trained with the CTGAN-class model "
                  "(CTGAN's defaults: latent 128, layers 256,256, lr 2e-4, batch 500, 300 epochs)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--table-id", table_id_, "an uploaded table's id (gantry data push) to train on");
  const char* types[5] = {"categorical", "integer", "continuous", "datetime", "boolean"};
  for (int i = 0; i < 5; ++i) {
    cmd->add_option(std::string("--") + types[i], overrides_[i],
                    std::string("table jobs: columns to read as ") + types[i] + " (comma-separated)")
        ->delimiter(',')
        ->type_name("COLUMNS");
  }
  const auto& flags = Flags();
  texts_.assign(flags.size(), "");
  opts_.assign(flags.size(), nullptr);
  for (size_t i = 0; i < flags.size(); ++i) {
    const FlagDef& def = flags[i];
    CLI::Option* opt = cmd->add_option(NamesIn(def, mode_), texts_[i], HelpIn(def, mode_));
    switch (def.kind) {
      case Kind::kInt:
        opt->type_name(mode_ == Mode::kSweep ? "INT,...|A..B" : "INT");
        break;
      case Kind::kUint:
        opt->type_name(mode_ == Mode::kSweep ? "UINT,...|A..B" : "UINT");
        break;
      case Kind::kDouble:
        opt->type_name(mode_ == Mode::kSweep ? "FLOAT,..." : "FLOAT");
        break;
      case Kind::kBool:
        opt->type_name(mode_ == Mode::kSweep ? "BOOL,..." : "BOOL");
        opt->expected(0, 1)->default_str("true");
        break;
      case Kind::kChoice:
        opt->type_name(mode_ == Mode::kSweep ? "NAME,..." : "NAME");
        break;
      case Kind::kSizes:
        opt->type_name(mode_ == Mode::kSweep ? "SIZES/..." : "SIZES");
        break;
      case Kind::kString:
        opt->type_name(mode_ == Mode::kSweep ? "NAME,..." : "NAME");
        break;
    }
    opts_[i] = opt;
  }
}

bool SpecFlags::AnyGiven() const {
  if (!file_.empty() || !data_.empty() || !table_file_.empty() || !table_id_.empty()) return true;
  for (const CLI::Option* opt : opts_) {
    if (opt->count() > 0) return true;
  }
  return false;
}

bool SpecFlags::BuildBase(const std::string& command, v1::JobSpec* spec) const {
  if (!file_.empty()) {
    std::ifstream in(file_);
    if (!in) {
      std::cerr << "gantry: " << command << ": " << file_ << ": cannot open it\n";
      return false;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const auto st = google::protobuf::util::JsonStringToMessage(ss.str(), spec);
    if (!st.ok()) {
      std::cerr << "gantry: " << command << ": " << file_
                << ": not a JobSpec in JSON: " << st.message() << "\n";
      return false;
    }
  }
  if (!data_.empty()) {
    const auto points = ReadPointsCsv(data_);
    if (!points.error.empty()) {
      std::cerr << "gantry: " << command << ": --data " << points.error << "\n";
      return false;
    }
    v1::Dataset* d = spec->mutable_dataset();
    d->set_kind(v1::DATASET_KIND_USER);
    d->mutable_points()->set_dim(points.dim);
    d->mutable_points()->mutable_values()->Assign(points.values.begin(), points.values.end());
    d->mutable_columns()->Assign(points.columns.begin(), points.columns.end());
  }
  const bool any_override = std::any_of(std::begin(overrides_), std::end(overrides_),
                                        [](const std::vector<std::string>& v) { return !v.empty(); });
  if (!table_file_.empty() || !table_id_.empty()) {
    if (!data_.empty()) {
      std::cerr << "gantry: " << command << ": --data and --table: give one of them\n";
      return false;
    }
    if (!table_file_.empty() && !table_id_.empty()) {
      std::cerr << "gantry: " << command << ": --table and --table-id: give one of them\n";
      return false;
    }
    v1::Dataset* d = spec->mutable_dataset();
    d->set_kind(v1::DATASET_KIND_TABLE);
    d->mutable_table()->set_table_id(table_id_);
  } else if (any_override && spec->dataset().kind() != v1::DATASET_KIND_TABLE) {
    std::cerr << "gantry: " << command
              << ": --categorical, --integer, --continuous, --datetime and --boolean apply to a --table\n";
    return false;
  }
  if (spec->dataset().kind() == v1::DATASET_KIND_TABLE) {  // from --table, --table-id or -f
    v1::TableSource* t = spec->mutable_dataset()->mutable_table();
    for (const auto& name : overrides_[0]) t->add_categorical(name);
    for (const auto& name : overrides_[1]) t->add_integer(name);
    for (const auto& name : overrides_[2]) t->add_continuous(name);
    for (const auto& name : overrides_[3]) t->add_datetime(name);
    for (const auto& name : overrides_[4]) t->add_boolean(name);
  }
  return true;
}

bool SpecFlags::Build(const std::string& command, v1::JobSpec* spec) const {
  if (!BuildBase(command, spec)) return false;
  const auto& flags = Flags();
  for (size_t i = 0; i < flags.size(); ++i) {
    if (opts_[i]->count() == 0) continue;
    SpecValue value;
    std::string error;
    if (!ParseValue(flags[i], texts_[i], &value, &error)) {
      std::cerr << "gantry: " << command << ": " << LongName(flags[i], mode_) << ": " << error << "\n";
      return false;
    }
    // --dataset after --data names the kind: as before, --data wins (and --table).
    if (flags[i].key == std::string("dataset") && (!data_.empty() || !table_file_.empty() || !table_id_.empty())) continue;
    value.apply(spec);
  }
  return true;
}

bool SpecFlags::BuildSweep(const std::string& command, v1::JobSpec* base,
                           std::vector<SweepAxis>* axes) const {
  if (!BuildBase(command, base)) return false;
  const auto& flags = Flags();
  axes->clear();
  for (size_t i = 0; i < flags.size(); ++i) {
    if (opts_[i]->count() == 0) continue;
    const std::string flag = LongName(flags[i]);
    if (flags[i].key == std::string("dataset") && !data_.empty()) {
      std::cerr << "gantry: " << command << ": --dataset and --data: give one of them\n";
      return false;
    }
    std::vector<std::string> texts;
    std::string error;
    if (!Alternatives(flags[i], texts_[i], &texts, &error)) {
      std::cerr << "gantry: " << command << ": " << flag << ": " << error << "\n";
      return false;
    }
    SweepAxis axis;
    axis.key = flags[i].key;
    for (const auto& text : texts) {
      SpecValue value;
      if (!ParseValue(flags[i], text, &value, &error)) {
        std::cerr << "gantry: " << command << ": " << flag << ": " << error << "\n";
        return false;
      }
      for (const auto& seen : axis.values) {
        if (seen.text == value.text) {
          std::cerr << "gantry: " << command << ": " << flag << ": '" << text
                    << "' is given twice\n";
          return false;
        }
      }
      axis.values.push_back(std::move(value));
    }
    axes->push_back(std::move(axis));
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> SpecValues(const v1::JobSpec& spec) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const FlagDef& def : Flags()) out.emplace_back(def.key, def.get(spec));
  return out;
}

}  // namespace gantry::cli
