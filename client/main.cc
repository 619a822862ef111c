// gantry: the command-line client of gantryd. Parses flags and runs one
// command (commands.h).
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/commands.h"
#include "client/csv.h"
#include "client/dashboard.h"
#include "client/exit_codes.h"
#include "core/api_limits.h"

namespace {

using gantry::cli::kExitUsage;
namespace v1 = gantry::v1;

static_assert(v1::DatasetKind_MAX == static_cast<int>(gantry::kDatasetKindCount),
              "core/api_limits.h names every DatasetKind of the proto");

// --dataset's values, in the proto enum's order (core/api_limits.h).
std::vector<std::string> DatasetNames() {
  std::vector<std::string> names;
  for (const auto& k : gantry::kDatasetKindNames) names.emplace_back(k.name);
  return names;
}

v1::DatasetKind ParseDatasetKind(const std::string& name) {
  for (const auto& k : gantry::kDatasetKindNames) {
    if (name == k.name) return static_cast<v1::DatasetKind>(k.proto_value);
  }
  return v1::DATASET_KIND_UNSPECIFIED;  // not reached: CLI11 checked the name
}

// "sine (default), circle, ..." for --dataset's help.
std::string DatasetHelp() {
  std::string help;
  for (const auto& name : DatasetNames()) {
    if (!help.empty()) help += ", ";
    help += name;
    if (name == "sine") help += " (default)";
    if (name == "user") help += " (with --data)";
  }
  return help;
}

// Every JobSpec field as a flag; only the flags given override the -f file.
struct SpecFlags {
  std::string file, dataset, data, trainer_path, seed, generator_hidden, discriminator_hidden;
  int64_t size = 0, latent_dim = 0, batch_size = 0, epochs = 0, preview_points = 0,
          checkpoint_every = 0;
  double noise = 0, dropout = 0, learning_rate = 0, beta1 = 0, beta2 = 0;
  std::map<std::string, CLI::Option*> opts;

  void Add(CLI::App* cmd) {
    cmd->add_option("-f,--file", file, "JobSpec as JSON (protobuf's JSON form); flags override it");
    opts["dataset"] =
        cmd->add_option("--dataset", dataset, DatasetHelp())->check(CLI::IsMember(DatasetNames()));
    cmd->add_option("--data", data, "user points: a CSV file, one point per row (header optional)")
        ->check(CLI::ExistingFile);
    opts["size"] = cmd->add_option("--size", size, "points to draw for a built-in dataset (1024)");
    opts["noise"] = cmd->add_option("--noise", noise, "Gaussian noise of a built-in dataset");
    opts["latent_dim"] = cmd->add_option("--latent-dim", latent_dim, "latent dimension (2)");
    opts["generator_hidden"] = cmd->add_option("--generator-hidden", generator_hidden, "generator hidden sizes (16,32)");
    opts["discriminator_hidden"] = cmd->add_option("--discriminator-hidden", discriminator_hidden, "discriminator hidden sizes (256,128,64)");
    opts["dropout"] = cmd->add_option("--dropout", dropout, "discriminator dropout (0.3)");
    opts["learning_rate"] = cmd->add_option("--learning-rate,--lr", learning_rate, "Adam learning rate (0.001)");
    opts["beta1"] = cmd->add_option("--beta1", beta1, "Adam beta1 (0.9)");
    opts["beta2"] = cmd->add_option("--beta2", beta2, "Adam beta2 (0.999)");
    opts["batch_size"] = cmd->add_option("--batch-size", batch_size, "batch size (32)");
    opts["epochs"] = cmd->add_option("--epochs", epochs, "epochs (300)");
    opts["seed"] = cmd->add_option("--seed", seed, "random seed (111)");
    opts["preview_points"] = cmd->add_option("--preview-points", preview_points, "generated points in each epoch event (64)");
    opts["checkpoint_every"] = cmd->add_option("--checkpoint-every", checkpoint_every, "epochs between checkpoints (10)");
    opts["trainer_path"] = cmd->add_option("--trainer-path", trainer_path, "training loop: auto (default), fast, aten; same results")
                               ->check(CLI::IsMember({"auto", "fast", "aten"}));
  }

  bool Given(const std::string& name) const { return opts.at(name)->count() > 0; }

  // Builds the spec; on error prints it and returns false.
  bool Build(v1::JobSpec* spec) const {
    if (!file.empty()) {
      std::ifstream in(file);
      if (!in) {
        std::cerr << "gantry: submit: " << file << ": cannot open it\n";
        return false;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      const auto st = google::protobuf::util::JsonStringToMessage(ss.str(), spec);
      if (!st.ok()) {
        std::cerr << "gantry: submit: " << file << ": not a JobSpec in JSON: " << st.message() << "\n";
        return false;
      }
    }
    v1::Dataset* d = spec->mutable_dataset();
    if (Given("dataset")) d->set_kind(ParseDatasetKind(dataset));
    if (!data.empty()) {
      const auto points = gantry::cli::ReadPointsCsv(data);
      if (!points.error.empty()) {
        std::cerr << "gantry: submit: --data " << points.error << "\n";
        return false;
      }
      d->set_kind(v1::DATASET_KIND_USER);
      d->mutable_points()->set_dim(points.dim);
      d->mutable_points()->mutable_values()->Assign(points.values.begin(), points.values.end());
    }
    if (Given("size")) d->set_size(size);
    if (Given("noise")) d->set_noise(noise);
    if (Given("latent_dim")) spec->set_latent_dim(latent_dim);
    std::string error;
    std::vector<int64_t> sizes;
    if (Given("generator_hidden")) {
      if (!gantry::cli::ParseSizes(generator_hidden, &sizes, &error)) {
        std::cerr << "gantry: submit: --generator-hidden: " << error << "\n";
        return false;
      }
      spec->mutable_generator_hidden()->mutable_sizes()->Assign(sizes.begin(), sizes.end());
    }
    if (Given("discriminator_hidden")) {
      if (!gantry::cli::ParseSizes(discriminator_hidden, &sizes, &error)) {
        std::cerr << "gantry: submit: --discriminator-hidden: " << error << "\n";
        return false;
      }
      spec->mutable_discriminator_hidden()->mutable_sizes()->Assign(sizes.begin(), sizes.end());
    }
    if (Given("dropout")) spec->set_dropout(dropout);
    if (Given("learning_rate")) spec->set_learning_rate(learning_rate);
    if (Given("beta1")) spec->set_beta1(beta1);
    if (Given("beta2")) spec->set_beta2(beta2);
    if (Given("batch_size")) spec->set_batch_size(batch_size);
    if (Given("epochs")) spec->set_epochs(epochs);
    if (Given("seed")) {
      uint64_t v = 0;
      if (!gantry::cli::ParseUint64(seed, &v, &error)) {
        std::cerr << "gantry: submit: --seed: " << error << "\n";
        return false;
      }
      spec->set_seed(v);
    }
    if (Given("preview_points")) spec->set_preview_points(preview_points);
    if (Given("checkpoint_every")) spec->set_checkpoint_every(checkpoint_every);
    if (Given("trainer_path")) spec->set_trainer_path(trainer_path);
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  gantry::cli::GlobalOptions global;
  if (const char* env = std::getenv("GANTRY_SERVER"); env != nullptr && *env != '\0') {
    global.server = env;
  } else {
    global.server = "127.0.0.1:50051";
  }
  std::string log_level = "error";
  if (const char* env = std::getenv("GANTRY_TOKEN"); env != nullptr) global.token = env;

  CLI::App app{"gantry: train GANs on a gantryd server, watch them, sample them"};
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--server", global.server, "gantryd address (env GANTRY_SERVER)")->capture_default_str();
  app.add_option("--timeout", global.timeout, "seconds to wait for each request")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("-o,--output", global.output, "table, json, or csv (sample)")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "csv"}));
  app.add_option("--tls-ca", global.tls_ca, "PEM CA certificate: connect with TLS, trusting it")
      ->check(CLI::ExistingFile);
  app.add_flag("--tls", global.tls, "connect with TLS, trusting the system's CAs");
  app.add_option("--token", global.token, "bearer token for a server with --auth-token-file (env GANTRY_TOKEN)");
  app.add_option("--log-level", log_level, "gRPC's own logging: debug, info, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "error"}));

  SpecFlags spec_flags;
  gantry::cli::SubmitArgs submit;
  auto* submit_cmd = app.add_subcommand("submit", "submit a training job (defaults: the tutorial's seed job)");
  spec_flags.Add(submit_cmd);
  submit_cmd->add_option("--name", submit.name, "display name");
  submit_cmd->add_option("--request-id", submit.request_id, "idempotency key: a retry returns the same job");
  submit_cmd->add_flag("--watch,-w", submit.watch, "follow the job until it ends");

  std::string id;
  auto* get_cmd = app.add_subcommand("get", "show one job");
  get_cmd->add_option("id", id, "job id")->required();

  std::string state;
  auto* list_cmd = app.add_subcommand("list", "list jobs, newest first");
  list_cmd->add_option("--state", state, "only jobs in this state (queued, running, succeeded, failed, cancelled)");

  gantry::cli::WatchArgs watch;
  auto* watch_cmd = app.add_subcommand("watch", "follow a job's progress until it ends");
  watch_cmd->add_option("id", watch.id, "job id")->required();
  watch_cmd->add_option("--from-seq", watch.from_seq, "first event to show")->check(CLI::NonNegativeNumber);
  watch_cmd
      ->add_option("--reconnect-timeout", watch.reconnect_seconds,
                   "seconds to keep reconnecting after the connection is lost; then exit 3")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));

  gantry::cli::SampleArgs sample;
  std::string sample_seed;
  int64_t sample_epoch = 0;
  auto* sample_cmd = app.add_subcommand("sample", "generate points from a job's generator (CSV by default)");
  sample_cmd->add_option("id", sample.id, "job id")->required();
  sample_cmd->add_option("--count,-n", sample.count, "points")->capture_default_str()->check(CLI::PositiveNumber);
  auto* seed_opt = sample_cmd->add_option("--seed", sample_seed, "same seed, same points (default: the server picks and prints it)");
  auto* epoch_opt = sample_cmd->add_option("--epoch", sample_epoch, "a kept snapshot's epoch (default: the latest)");
  sample_cmd->add_option("--out", sample.out, "write the points to this file instead of stdout");
  sample_cmd->add_option("--plot", sample.plot, "draw the points over the job's real data (.png or .svg)");

  std::string plot_out;
  auto* plot_cmd = app.add_subcommand("plot", "plot a job's losses and quality over epochs");
  plot_cmd->add_option("id", id, "job id")->required();
  plot_cmd->add_option("--out", plot_out, "file (.png or .svg)")->required();

  auto* cancel_cmd = app.add_subcommand("cancel", "cancel a queued or running job");
  cancel_cmd->add_option("id", id, "job id")->required();
  auto* delete_cmd = app.add_subcommand("delete", "delete an ended job and its data");
  delete_cmd->add_option("id", id, "job id")->required();

  std::string export_out = "generator.pt";
  int64_t export_epoch = 0;
  auto* export_cmd = app.add_subcommand("export", "download the generator as TorchScript for Python");
  export_cmd->add_option("id", id, "job id")->required();
  export_cmd->add_option("--out", export_out, "file")->capture_default_str();
  auto* export_epoch_opt = export_cmd->add_option("--epoch", export_epoch, "a kept snapshot's epoch (default: the latest)");

  auto* health_cmd = app.add_subcommand("health", "check that gantryd is serving (exit 0) or not (exit 3)");
  auto* version_cmd = app.add_subcommand("version", "print the client's version");

  std::string dashboard_url;
  bool dashboard_open = false;
  auto* dashboard_cmd = app.add_subcommand(
      "dashboard", "print the web dashboard's URL (gantryd --http-listen; default: the --server "
                   "host on port 8080)");
  dashboard_cmd->add_option("--url", dashboard_url, "the dashboard's URL (env GANTRY_HTTP)");
  dashboard_cmd->add_flag("--open", dashboard_open, "open it in the desktop's browser (xdg-open)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  setenv("GRPC_VERBOSITY", log_level.c_str(), 0);
  {
    std::string error;
    if (!gantry::cli::CleanToken(global.token, &global.token, &error)) {
      std::cerr << "gantry: --token/GANTRY_TOKEN: " << error << "\n";
      return kExitUsage;
    }
  }

  if (version_cmd->parsed()) {
    std::cout << "gantry " << GANTRY_VERSION << std::endl;
    return 0;
  }
  if (dashboard_cmd->parsed()) {
    const bool tls = global.tls || !global.tls_ca.empty();
    return gantry::cli::Dashboard(gantry::cli::DashboardUrl(dashboard_url, global.server, tls),
                                  dashboard_open);
  }
  gantry::cli::Connection conn(global);
  if (!conn.error().empty()) {
    std::cerr << "gantry: " << conn.error() << "\n";
    return kExitUsage;
  }
  if (submit_cmd->parsed()) {
    if (!spec_flags.Build(&submit.spec)) return kExitUsage;
    return gantry::cli::Submit(conn, submit);
  }
  if (get_cmd->parsed()) return gantry::cli::GetJob(conn, id);
  if (list_cmd->parsed()) return gantry::cli::ListJobs(conn, state);
  if (watch_cmd->parsed()) return gantry::cli::Watch(conn, watch);
  if (sample_cmd->parsed()) {
    if (seed_opt->count() > 0) {
      uint64_t v = 0;
      std::string error;
      if (!gantry::cli::ParseUint64(sample_seed, &v, &error)) {
        std::cerr << "gantry: sample: --seed: " << error << "\n";
        return kExitUsage;
      }
      sample.seed = v;
    }
    if (epoch_opt->count() > 0) sample.epoch = sample_epoch;
    return gantry::cli::Sample(conn, sample);
  }
  if (plot_cmd->parsed()) return gantry::cli::Plot(conn, id, plot_out);
  if (cancel_cmd->parsed()) return gantry::cli::Cancel(conn, id);
  if (delete_cmd->parsed()) return gantry::cli::Delete(conn, id);
  if (export_cmd->parsed()) {
    std::optional<int64_t> epoch;
    if (export_epoch_opt->count() > 0) epoch = export_epoch;
    return gantry::cli::Export(conn, id, epoch, export_out);
  }
  if (health_cmd->parsed()) return gantry::cli::Health(conn);
  return kExitUsage;
}
