// Hyper-parameters by name: what a study searches (server/studies/) and
// what a job's schedule changes during training (JobSpec::schedule).
//
// A parameter is a JobSpec field named as in the API, its value as text:
// learning_rate, beta1, beta2, dropout, gp_weight, weight_decay (reals),
// latent_dim, batch_size, n_critic, pac (integers), generator_hidden and
// discriminator_hidden (layer sizes "16,32"; "" for none), loss (a name) and
// spectral_norm ("true"/"false"), and seed (an integer >= 0: the job's seed,
// e.g. to repeat a configuration). The mutable ones (IsMutableParam) change
// no shape, so a trainer's exact state carries over to a spec with other
// values: learning_rate, beta1, beta2, dropout, gp_weight, weight_decay and
// n_critic.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/spec.h"
#include "core/status.h"

namespace gantry {

bool IsParam(const std::string& name);
bool IsMutableParam(const std::string& name);
// Whether a real (true) or an integer parameter; false for the others.
bool IsRealParam(const std::string& name);
bool IsIntParam(const std::string& name);
// The parameters' names, in the order above.
const std::vector<std::string>& ParamNames();

// Sets `name` to `value` in `spec`. INVALID_ARGUMENT naming the parameter
// and the value when the name is unknown or the text is not a value of its
// type (ranges are Validate()'s).
Status SetParam(const std::string& name, const std::string& value, JobSpec* spec);
// The parameter's value in `spec`, as SetParam reads it ("" for an unknown name).
std::string GetParam(const std::string& name, const JobSpec& spec);

// The shortest text that reads back as exactly `v` ("0.001", "1e-05").
std::string FormatReal(double v);

// The spec in effect after `epoch` epochs: spec with the params of every
// schedule change whose after_epoch <= epoch set.
StatusOr<JobSpec> SpecAfter(const JobSpec& spec, int64_t epoch);

// Validate()'s part for init_job_id, init_epoch and schedule.
Status ValidateStart(const JobSpec& spec);

}  // namespace gantry
