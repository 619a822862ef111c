#include "core/spec_params.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <set>

#include "core/api_limits.h"

namespace gantry {
namespace {

const std::set<std::string>& RealParams() {
  static const auto* names = new std::set<std::string>{"learning_rate", "beta1",     "beta2",
                                                       "dropout",       "gp_weight", "weight_decay"};
  return *names;
}
const std::set<std::string>& IntParams() {
  static const auto* names = new std::set<std::string>{"latent_dim", "batch_size", "n_critic", "pac", "seed"};
  return *names;
}

Status BadValue(const std::string& name, const std::string& value, const char* want) {
  return Status::InvalidArgument(name + ": '" + value.substr(0, 64) + "' is not " + want);
}

bool ParseReal(const std::string& text, double* out) {
  if (text.empty() || text.size() > 64) return false;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool ParseInt(const std::string& text, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *out);
  return !text.empty() && ec == std::errc() && p == end;
}

bool ParseLayers(const std::string& text, std::vector<int64_t>* out) {
  out->clear();
  if (text.empty()) return true;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    int64_t v = 0;
    if (!ParseInt(text.substr(start, comma - start), &v)) return false;
    out->push_back(v);
    if (out->size() > 64) return false;
    start = comma + 1;
  }
  return true;
}

std::string Layers(const std::vector<int64_t>& sizes) {
  std::string out;
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? "," : "") + std::to_string(sizes[i]);
  return out;
}

double* RealField(const std::string& name, JobSpec* s) {
  if (name == "learning_rate") return &s->learning_rate;
  if (name == "beta1") return &s->beta1;
  if (name == "beta2") return &s->beta2;
  if (name == "dropout") return &s->dropout;
  if (name == "gp_weight") return &s->gp_weight;
  if (name == "weight_decay") return &s->weight_decay;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& ParamNames() {
  static const auto* names =
      new std::vector<std::string>(std::begin(kStudyParamNames), std::end(kStudyParamNames));
  return *names;
}

bool IsParam(const std::string& name) {
  for (const std::string& n : ParamNames()) {
    if (n == name) return true;
  }
  return false;
}

bool IsMutableParam(const std::string& name) { return RealParams().count(name) || name == "n_critic"; }
bool IsRealParam(const std::string& name) { return RealParams().count(name) > 0; }
bool IsIntParam(const std::string& name) { return IntParams().count(name) > 0; }

Status SetParam(const std::string& name, const std::string& value, JobSpec* spec) {
  if (double* field = RealField(name, spec)) {
    if (!ParseReal(value, field)) return BadValue(name, value, "a finite number");
    return Status::Ok();
  }
  if (IsIntParam(name)) {
    int64_t v = 0;
    if (!ParseInt(value, &v)) return BadValue(name, value, "a whole number");
    if (name == "latent_dim") spec->latent_dim = v;
    if (name == "batch_size") spec->batch_size = v;
    if (name == "n_critic") spec->n_critic = v;
    if (name == "pac") spec->pac = v;
    if (name == "seed") {
      if (v < 0) return BadValue(name, value, "a whole number >= 0");
      spec->seed = static_cast<uint64_t>(v);
    }
    return Status::Ok();
  }
  if (name == "generator_hidden" || name == "discriminator_hidden") {
    std::vector<int64_t> sizes;
    if (!ParseLayers(value, &sizes)) {
      return BadValue(name, value, "layer sizes such as \"16,32\" (\"\" for none)");
    }
    (name == "generator_hidden" ? spec->generator_hidden : spec->discriminator_hidden) = sizes;
    return Status::Ok();
  }
  if (name == "loss") {
    auto loss = ParseLoss(value);
    if (!loss) return BadValue(name, value, "one of bce, non_saturating, hinge, wgan_gp");
    spec->loss = *loss;
    return Status::Ok();
  }
  if (name == "spectral_norm") {
    if (value != "true" && value != "false") return BadValue(name, value, "true or false");
    spec->spectral_norm = value == "true";
    return Status::Ok();
  }
  std::string known;
  for (const std::string& n : ParamNames()) known += (known.empty() ? "" : ", ") + n;
  return Status::InvalidArgument("'" + name.substr(0, 64) + "' is not a parameter: one of " + known);
}

std::string GetParam(const std::string& name, const JobSpec& spec) {
  // RealField only points into the spec: reading through it changes nothing.
  if (const double* field = RealField(name, const_cast<JobSpec*>(&spec))) return FormatReal(*field);
  if (name == "latent_dim") return std::to_string(spec.latent_dim);
  if (name == "batch_size") return std::to_string(spec.batch_size);
  if (name == "n_critic") return std::to_string(NCritic(spec));
  if (name == "pac") return std::to_string(spec.pac);
  if (name == "generator_hidden") return Layers(spec.generator_hidden);
  if (name == "discriminator_hidden") return Layers(spec.discriminator_hidden);
  if (name == "loss") return LossName(spec.loss);
  if (name == "spectral_norm") return spec.spectral_norm ? "true" : "false";
  if (name == "seed") return std::to_string(spec.seed);
  return "";
}

std::string FormatReal(double v) {
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

StatusOr<JobSpec> SpecAfter(const JobSpec& spec, int64_t epoch) {
  JobSpec out = spec;
  for (const JobSpec::Change& c : spec.schedule) {
    if (c.after_epoch > epoch) break;
    for (const auto& [name, value] : c.params) GANTRY_RETURN_IF_ERROR(SetParam(name, value, &out));
  }
  return out;
}

Status ValidateStart(const JobSpec& s) {
  if (!s.init_job_id.empty() && (s.init_epoch < 1 || s.init_epoch >= s.epochs)) {
    return Status::InvalidArgument("init_from.epoch: " + std::to_string(s.init_epoch) +
                                   " is out of range 1.." + std::to_string(s.epochs - 1) +
                                   " (the job trains from it to epochs " +
                                   std::to_string(s.epochs) + ")");
  }
  if (s.init_job_id.empty() && s.init_epoch != 0) {
    return Status::InvalidArgument("init_from.epoch: set without init_from.job_id");
  }
  if (s.schedule.size() > 1000) {
    return Status::InvalidArgument("schedule: " + std::to_string(s.schedule.size()) +
                                   " changes, more than 1000");
  }
  int64_t last = s.init_epoch;
  for (size_t i = 0; i < s.schedule.size(); ++i) {
    const JobSpec::Change& c = s.schedule[i];
    const std::string where = "schedule[" + std::to_string(i) + "]";
    if (c.after_epoch <= last || c.after_epoch >= s.epochs) {
      return Status::InvalidArgument(where + ".after_epoch: " + std::to_string(c.after_epoch) +
                                     " is out of range " + std::to_string(last + 1) + ".." +
                                     std::to_string(s.epochs - 1) +
                                     " (after the start and the change before it, before the last epoch)");
    }
    last = c.after_epoch;
    if (c.params.empty()) return Status::InvalidArgument(where + ".params: empty");
    for (const auto& [name, value] : c.params) {
      if (!IsMutableParam(name)) {
        return Status::InvalidArgument(where + ".params: '" + name.substr(0, 64) +
                                       "' cannot change during training (only learning_rate, "
                                       "beta1, beta2, dropout, gp_weight, weight_decay, n_critic)");
      }
    }
  }
  for (const JobSpec::Change& c : s.schedule) {
    auto after = SpecAfter(s, c.after_epoch);
    if (!after.ok()) return Status::InvalidArgument("schedule: " + after.status().message());
    JobSpec plain = *after;
    plain.schedule.clear();
    plain.init_job_id.clear();
    plain.init_epoch = 0;
    if (Status v = Validate(plain); !v.ok()) {
      return Status::InvalidArgument("schedule, after epoch " + std::to_string(c.after_epoch) +
                                     ": " + v.message());
    }
  }
  return Status::Ok();
}

}  // namespace gantry
