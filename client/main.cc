// gantry: the command-line client of gantryd. Parses flags and runs one
// command (commands.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "client/access.h"
#include "client/webhooks.h"
#include "client/args.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/dashboard.h"
#include "client/data.h"
#include "client/exit_codes.h"
#include "client/report.h"
#include "client/spec_flags.h"
#include "client/studies.h"
#include "client/sweep.h"
#include "core/api_limits.h"

namespace {

using gantry::cli::BuildSelector;
using gantry::cli::CommandNames;
using gantry::cli::CommandWord;
using gantry::cli::ExplainUnknownFlag;
using gantry::cli::InRange;
using gantry::cli::IntInRange;
using gantry::cli::kExitUsage;
using gantry::cli::ParseEpochFlag;
using gantry::cli::ParseLabels;
namespace v1 = gantry::v1;

static_assert(v1::DatasetKind_MAX == static_cast<int>(gantry::kDatasetKindCount),
              "core/api_limits.h names every DatasetKind of the proto");

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
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "gantry: " + std::string(e.what()) + "\n";
  });
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--server", global.server, "gantryd address (env GANTRY_SERVER)")->capture_default_str();
  app.add_option("--timeout", global.timeout, "seconds to wait for each request")
      ->capture_default_str()
      ->check(InRange(0, 1e6, true, "more than 0 seconds, at most 1000000"));
  auto* output_opt = app.add_option("-o,--output", global.output, "table, json, or csv (sample, sweep)")
                         ->capture_default_str()
                         ->check(CLI::IsMember({"table", "json", "csv"}, CLI::ignore_case));
  app.add_option("--tls-ca", global.tls_ca, "PEM CA certificate: connect with TLS, trusting it")
      ->check(CLI::ExistingFile);
  app.add_flag("--tls", global.tls, "connect with TLS, trusting the system's CAs");
  app.add_option("--token", global.token, "bearer token for a server with --auth-token-file (env GANTRY_TOKEN)");
  app.add_option("--log-level", log_level, "gRPC's own logging: debug, info, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "error"}));

  gantry::cli::SpecFlags spec_flags(gantry::cli::SpecFlags::Mode::kSubmit);
  gantry::cli::SubmitArgs submit;
  std::vector<std::string> submit_labels;
  auto* submit_cmd = app.add_subcommand("submit", "submit a training job (defaults: the tutorial's seed job)");
  spec_flags.Add(submit_cmd);
  submit_cmd->add_option("--name", submit.name, "display name");
  submit_cmd->add_option("--request-id", submit.request_id, "idempotency key: a retry returns the same job");
  submit_cmd->add_option("--priority", submit.priority,
                         "low, normal (the default) or high: a high job waiting for a worker makes a "
                         "lower one stop at its next epoch (it resumes later, bit-exact)");
  submit_cmd->add_option("--label", submit_labels, "label key=value (repeatable; at most 16)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  submit_cmd->add_flag("--watch,-w", submit.watch, "follow the job until it ends");

  std::string id;
  bool get_full = false;
  auto* get_cmd = app.add_subcommand("get", "show one job");
  get_cmd->add_option("id", id, "job id")->required();
  get_cmd->add_flag("--full", get_full, "-o json: the FULL view, every user point included");

  std::string state, list_sweep;
  std::vector<std::string> list_labels;
  auto* list_cmd = app.add_subcommand("list", "list jobs, newest first");
  list_cmd->add_option("--state", state, "only jobs in this state (queued, running, succeeded, failed, cancelled; any case, or JOB_STATE_RUNNING)");
  list_cmd->add_option("--label", list_labels, "only jobs with label key=value (repeatable: all must match)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  auto* list_sweep_opt = list_cmd->add_option("--sweep", list_sweep, "only the jobs of this sweep (--label sweep=NAME)");
  std::string list_owner;
  list_cmd->add_option("--owner", list_owner, "only the jobs this principal created");

  gantry::cli::WatchArgs watch;
  auto* watch_cmd = app.add_subcommand("watch", "follow a job's progress until it ends");
  watch_cmd->add_option("id", watch.id, "job id")->required();
  watch_cmd->add_option("--from-seq", watch.from_seq, "first event to show (inclusive)")
      ->check(IntInRange(0, 9'000'000'000'000'000'000, "0..9000000000000000000"));
  watch_cmd
      ->add_option("--reconnect-timeout", watch.reconnect_seconds,
                   "seconds to keep reconnecting after the connection is lost; then exit 3")
      ->capture_default_str()
      ->check(InRange(0, 1e9, false, "0..1000000000 seconds"));

  gantry::cli::SampleArgs sample;
  std::string sample_seed;
  std::string sample_epoch;
  auto* sample_cmd = app.add_subcommand("sample", "generate points from a job's generator (CSV by default)");
  sample_cmd->add_option("id", sample.id, "job id")->required();
  sample_cmd->add_option("--count,-n", sample.count, "points")
      ->capture_default_str()
      ->check(IntInRange(1, INT64_MAX, "at least 1 (the server's --max-sample-points bounds it)"));
  auto* seed_opt = sample_cmd->add_option("--seed", sample_seed, "same seed, same points (default: the server picks and prints it)");
  auto* epoch_opt = sample_cmd->add_option("--epoch", sample_epoch, "a kept snapshot's epoch, or best: the best evaluated epoch (default: the latest)");
  sample_cmd->add_option("--out", sample.out, "write the points to this file instead of stdout");
  sample_cmd->add_option("--plot", sample.plot, "draw the points over the job's real data (.png or .svg)");
  std::string sample_dims;
  auto* dims_opt = sample_cmd->add_option("--dims", sample_dims, "--plot: the two dimensions drawn, I,J (0,1)");
  std::vector<std::string> sample_where;
  sample_cmd->add_option("--where", sample_where, "table jobs: COLUMN=VALUE or COLUMN=LO..HI that every row meets (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);

  std::string plot_out;
  auto* plot_cmd = app.add_subcommand("plot", "plot a job's losses and quality over epochs");
  plot_cmd->add_option("id", id, "job id")->required();
  plot_cmd->add_option("--out", plot_out, "file (.png or .svg)")->required();

  gantry::cli::ReportArgs report;
  std::string report_epoch;
  auto* report_cmd = app.add_subcommand(
      "report", "a table job's report: scores, privacy, utility, per-column charts, association "
                "heatmaps (.html .png .pdf .svg .json by --out's extension; without --out a summary)");
  report_cmd->add_option("id", report.id, "job id");
  auto* report_epoch_opt = report_cmd->add_option("--epoch", report_epoch, "an evaluated kept epoch, or best (the default)");
  report_cmd->add_option("--out", report.out, "file: .html, .png, .pdf, .svg or .json");
  report_cmd->add_option("--input", report.input, "render a report saved as JSON (--out x.json) instead; no server");

  std::vector<std::string> ids, act_labels;
  std::string act_sweep;
  auto* cancel_cmd = app.add_subcommand("cancel", "cancel queued or running jobs: by id, --label or --sweep");
  auto* delete_cmd = app.add_subcommand("delete", "delete ended jobs and their data: by id, --label or --sweep");
  CLI::Option* act_sweep_opt[2];
  int n = 0;
  for (CLI::App* cmd : {cancel_cmd, delete_cmd}) {
    cmd->add_option("ids", ids, "job ids");
    cmd->add_option("--label", act_labels, "every job with label key=value (repeatable: all must match)")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false);
    act_sweep_opt[n++] = cmd->add_option("--sweep", act_sweep, "every job of this sweep (--label sweep=NAME)");
  }

  std::string export_out = "generator.pt";
  std::string export_epoch;
  auto* export_cmd = app.add_subcommand("export", "download the generator as TorchScript for Python");
  export_cmd->add_option("id", id, "job id")->required();
  export_cmd->add_option("--out", export_out, "file")->capture_default_str();
  auto* export_epoch_opt = export_cmd->add_option("--epoch", export_epoch, "a kept snapshot's epoch, or best: the best evaluated epoch (default: the latest)");

  gantry::cli::SpecFlags sweep_flags(gantry::cli::SpecFlags::Mode::kSweep);
  gantry::cli::SweepArgs sweep;
  std::vector<std::string> sweep_labels;
  auto* sweep_cmd = app.add_subcommand(
      "sweep",
      "run the cross product of spec flag values as one grid study labelled sweep=NAME, follow "
      "it, rank its jobs: a study's parameters take a comma list (integer flags also ranges "
      "A..B; layer sizes: alternatives separated by /), other flags one value");
  sweep_flags.Add(sweep_cmd);
  sweep_cmd->add_option("--name", sweep.name, "the sweep's name, the label sweep=NAME (default: sweep-DATE-TIME); the same command with the same --name follows its study again");
  sweep_cmd->add_option("--label", sweep_labels, "another label key=value for the study and every job (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  sweep_cmd->add_flag("--no-watch", sweep.no_watch, "create (or find) the study, print the sweep's name and the study's id and exit");
  auto* leaderboard_opt = sweep_cmd->add_option("--leaderboard", sweep.leaderboard, "print the leaderboard of the existing sweep NAME (nothing is created)");

  auto* data_cmd = app.add_subcommand(
      "data", "uploaded tables (CSV datasets) that table jobs use: push, list, get, rm");
  data_cmd->require_subcommand(1);
  gantry::cli::DataPushArgs data_push;
  auto* data_push_cmd = data_cmd->add_subcommand(
      "push", "upload a CSV file (streamed; the same bytes again return the same table); prints its id");
  data_push_cmd->add_option("file", data_push.file, "the CSV file")->required();
  data_push_cmd->add_option("--name", data_push.name, "display name (default: the file's name)");
  data_push_cmd->add_option("--delimiter", data_push.delimiter, "field delimiter: , ; | or tab (default: detected)")
      ->check(CLI::IsMember({",", ";", "|", "tab", "\\t"}));
  auto* data_list_cmd = data_cmd->add_subcommand("list", "list uploaded tables, newest first");
  auto* data_get_cmd = data_cmd->add_subcommand("get", "show one table and its columns");
  data_get_cmd->add_option("id", id, "table id")->required();
  auto* data_rm_cmd = data_cmd->add_subcommand("rm", "delete a table no queued or running job uses");
  data_rm_cmd->add_option("id", id, "table id")->required();

  auto* health_cmd = app.add_subcommand("health", "check that gantryd is serving (exit 0) or not (exit 3)");
  auto* version_cmd = app.add_subcommand("version", "print the client's version");
  auto* whoami_cmd = app.add_subcommand("whoami", "print the principal and role the token names on the server");
  gantry::cli::AuditArgs audit;
  auto* audit_cmd = app.add_subcommand(
      "audit", "list the server's audit log of state-changing calls, newest first (admins: everyone's; others: their own)");
  audit_cmd->add_option("--principal", audit.principal, "only this principal's entries");
  audit_cmd->add_option("--target", audit.target, "only entries naming this job or table id");
  audit_cmd->add_option("--limit", audit.limit, "at most this many entries (default 50)");
  gantry::cli::WebhookArgs webhook;
  auto* webhook_cmd = app.add_subcommand(
      "webhook", "signed POSTs to a URL when jobs end, reach a new best epoch or raise an alarm");
  webhook_cmd->require_subcommand(1);
  auto* webhook_create = webhook_cmd->add_subcommand("create", "subscribe a URL; prints the webhook's id and secret");
  webhook_create->add_option("url", webhook.url, "where to POST (http:// or https://)")->required();
  webhook_create->add_option("--event", webhook.events,
                             "ended, best or alarm (repeat for several; default all three)");
  webhook_create->add_option("--job", webhook.job_id, "only this job's events");
  webhook_create->add_option("--label", webhook.labels, "only jobs carrying KEY=VALUE (repeatable: all of them)");
  webhook_create->add_option("--owner", webhook.owner, "only jobs this principal created");
  webhook_create->add_option("--secret", webhook.secret,
                             "the HMAC-SHA256 key (16..200 characters); default: one made by the server");
  auto* webhook_list = webhook_cmd->add_subcommand("list", "list webhooks (admins: everyone's; others: their own)");
  auto* webhook_delete = webhook_cmd->add_subcommand("delete", "delete a webhook and its delivery log");
  webhook_delete->add_option("id", webhook.id, "the webhook's id (wh-...)")->required();
  auto* webhook_deliveries = webhook_cmd->add_subcommand("deliveries", "a webhook's delivery log, newest first");
  webhook_deliveries->add_option("id", webhook.id, "the webhook's id (wh-...)")->required();
  webhook_deliveries->add_option("--limit", webhook.limit, "at most this many deliveries (default 50)");

  // gantry study: a search that gantryd runs (server/studies/).
  gantry::cli::StudyArgs study;
  gantry::cli::SpecFlags study_flags(gantry::cli::SpecFlags::Mode::kStudy);
  std::vector<std::string> study_labels;
  std::string study_seed;
  auto* study_cmd = app.add_subcommand(
      "study", "hyper-parameter searches that gantryd runs (grid, random, asha, hyperband, pbt) over "
               "trial jobs labelled study=ID");
  study_cmd->require_subcommand(1);
  auto* study_create = study_cmd->add_subcommand(
      "create", "start a study: the spec flags of submit are its base (--job-seed is the job spec's "
                "seed), --param its search space; prints its id");
  study_flags.Add(study_create);
  study_create->add_option("--algorithm", *study.spec.mutable_algorithm(), "grid (the default), random, asha, hyperband or pbt")
      ->check(CLI::IsMember({"grid", "random", "asha", "hyperband", "pbt"}));
  study_create
      ->add_option("--param", study.params,
                   "a searched parameter NAME=KIND:ARGS (repeatable): learning_rate=log_uniform:1e-4:1e-2, "
                   "dropout=uniform:0:0.5, batch_size=int:16:128, loss=choice:bce|hinge, "
                   "generator_hidden=choice:16,32|64,64")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  study_create->add_option("--objective", *study.spec.mutable_objective(),
                           "the metric the study optimises (default: the base's --select-by)");
  study_create->add_option("--direction", *study.spec.mutable_direction(), "min or max (default: the objective's own)")
      ->check(CLI::IsMember({"min", "max"}));
  const auto whole = [](int64_t lo, const std::string& range) {
    return IntInRange(lo, INT64_MAX, range);
  };
  int64_t study_max_trials = 0, study_max_epochs = 0, study_concurrency = 0, study_min_epochs = 0,
          study_reduction = 0, study_population = 0, study_interval = 0;
  double study_truncation = 0, study_resample = 0;
  study_create->add_option("--max-trials", study_max_trials, "configurations tried, 1..1000 (grid: its size; else 16)")
      ->check(whole(1, "at least 1"));
  study_create->add_option("--max-epochs", study_max_epochs, "epochs trained over all trials (0: no limit, the default)")
      ->check(whole(0, "at least 0"));
  study_create->add_option("--concurrency", study_concurrency, "trial jobs at once, 1..64 (2)")
      ->check(whole(1, "at least 1"));
  study_create->add_option("--seed", study_seed, "the study's seed: the same seed, the same study (0)")
      ->type_name("UINT");
  study_create->add_option("--min-epochs", study_min_epochs, "asha, hyperband: the first rung's epochs (epochs / 27)")
      ->check(whole(1, "at least 1"));
  study_create->add_option("--reduction-factor", study_reduction, "asha, hyperband: eta, 2..10 (3)")
      ->check(whole(1, "at least 1"));
  study_create->add_option("--population", study_population, "pbt: the population, 2..64 (8)")
      ->check(whole(1, "at least 1"));
  study_create->add_option("--perturb-interval", study_interval, "pbt: epochs between exploits (epochs / 10)")
      ->check(whole(1, "at least 1"));
  study_create->add_option("--truncation", study_truncation, "pbt: the share of the population that copies the best, (0, 0.5] (0.25)")
      ->check(InRange(0, 0.5, true, "more than 0, at most 0.5"));
  study_create->add_option("--resample-probability", study_resample,
                           "pbt: how often a copied parameter is drawn again rather than perturbed, (0, 1] (0.25)")
      ->check(InRange(0, 1, true, "more than 0, at most 1 (0 reads as unset: the default 0.25)"));
  study_create->add_option("--name", study.name, "display name");
  study_create->add_option("--label", study_labels, "label key=value for the study and its trials (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  study_create->add_flag("--watch,-w", study.watch, "follow the study until it ends (as study watch)");
  auto* study_list = study_cmd->add_subcommand("list", "list studies, newest first");
  study_list->add_option("--owner", study.owner, "only the studies this principal created");
  auto* study_get = study_cmd->add_subcommand("get", "show a study and its trials");
  study_get->add_option("id", study.id, "study id (st-...)")->required();
  auto* study_watch = study_cmd->add_subcommand(
      "watch", "follow a study until it ends: exit 0 SUCCEEDED, 5 FAILED, 6 CANCELLED");
  study_watch->add_option("id", study.id, "study id (st-...)")->required();
  for (CLI::App* cmd : {study_create, study_watch}) {
    cmd->add_option("--reconnect-timeout", study.reconnect_seconds,
                    "seconds to keep reconnecting after the connection is lost; then exit 3")
        ->capture_default_str()
        ->check(InRange(0, 1e9, false, "0..1000000000 seconds"));
  }
  auto* study_cancel = study_cmd->add_subcommand("cancel", "end a running study CANCELLED and cancel its trials");
  study_cancel->add_option("id", study.id, "study id (st-...)")->required();
  auto* study_delete = study_cmd->add_subcommand("delete", "delete an ended study and all its trials' jobs");
  study_delete->add_option("id", study.id, "study id (st-...)")->required();
  auto* study_replay = study_cmd->add_subcommand(
      "replay", "one job that retraces a trial's whole history (its parameter changes, its parents) "
                "and ends bit-identical to it; prints the job id");
  study_replay->add_option("id", study.id, "study id (st-...)")->required();
  study_replay->add_option("--trial", study.trial, "the trial's number (default: the study's best)")
      ->check(whole(1, "at least 1"));
  study_replay->add_option("--name", study.job_name, "the job's name (default: replay of ID trial N)");
  study_replay->add_flag("--watch,-w", study.watch, "follow the job until it ends (as watch)");
  auto* study_leaderboard = study_cmd->add_subcommand(
      "leaderboard", "a study's trials ranked by objective, with their parameters and latest metrics");
  study_leaderboard->add_option("id", study.id, "study id (st-...)")->required();
  study_leaderboard->add_option("--pareto", study.pareto,
                                "METRIC_A,METRIC_B: only the trials on the two metrics' Pareto front, by METRIC_A");

  std::string dashboard_url;
  bool dashboard_open = false;
  auto* dashboard_cmd = app.add_subcommand(
      "dashboard", "print the web dashboard's URL (gantryd --http-listen; default: the --server "
                   "host on port 8080)");
  dashboard_cmd->add_option("--url", dashboard_url, "the dashboard's URL (env GANTRY_HTTP)");
  dashboard_cmd->add_flag("--open", dashboard_open, "open it in the desktop's browser (xdg-open)");

  {
    // No command, or one gantry does not have: the help, then what is wrong.
    const std::string word = CommandWord(argc, argv);
    bool asked_for_help = false;
    for (int i = 1; i < argc; ++i) {
      asked_for_help = asked_for_help || std::string(argv[i]) == "-h" || std::string(argv[i]) == "--help";
    }
    const std::vector<std::string> names = CommandNames(app);
    if (!asked_for_help && std::find(names.begin(), names.end(), word) == names.end()) {
      std::cerr << app.help();
      if (word.empty()) {
        std::cerr << "gantry: give a command (above)\n";
      } else {
        std::cerr << "gantry: unknown command '" << word << "'";
        const std::string near = gantry::cli::ClosestMatch(word, names);
        if (!near.empty()) std::cerr << "; did you mean '" << near << "'?";
        std::cerr << "\n";
      }
      return kExitUsage;
    }
    try {
      app.parse(argc, argv);
    } catch (const CLI::ExtrasError& e) {
      if (ExplainUnknownFlag(app, app.get_subcommand(word), argc, argv)) return kExitUsage;
      const int rc = app.exit(e);
      return rc == 0 ? 0 : kExitUsage;
    } catch (const CLI::ParseError& e) {
      const int rc = app.exit(e);
      return rc == 0 ? 0 : kExitUsage;
    }
  }
  for (char& c : global.output) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (output_opt->count() > 0) {
    // -o VALUE only where the command prints it.
    struct Formats {
      const CLI::App* cmd;
      std::vector<std::string> values;
    };
    const std::vector<std::string> all = {"table", "json", "csv"}, no_csv = {"table", "json"};
    const Formats formats[] = {{sample_cmd, all}, {sweep_cmd, all}, {version_cmd, {"table"}},
                               {dashboard_cmd, {"table"}}, {plot_cmd, {"table"}},
                               {export_cmd, {"table"}}};
    for (CLI::App* cmd : app.get_subcommands()) {
      std::vector<std::string> supported = no_csv;
      for (const Formats& f : formats) {
        if (f.cmd == cmd) supported = f.values;
      }
      if (std::find(supported.begin(), supported.end(), global.output) == supported.end()) {
        std::string list;
        for (const auto& v : supported) list += (list.empty() ? "" : ", ") + v;
        std::cerr << "gantry: " << cmd->get_name() << ": -o " << global.output << " is not supported; "
                  << cmd->get_name() << " prints " << list << "\n";
        return kExitUsage;
      }
    }
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
    std::string url = gantry::cli::GivenDashboardUrl(dashboard_url);
    if (!url.empty()) return gantry::cli::Dashboard(url, false, dashboard_open);
    gantry::cli::Connection conn(global);
    return gantry::cli::AskDashboard(conn, dashboard_open);
  }
  if (report_cmd->parsed()) {
    if (report.id.empty() == report.input.empty()) {
      std::cerr << "gantry: report: give a job id or --input FILE (one of them)\n";
      return kExitUsage;
    }
    if (report_epoch_opt->count() > 0) {
      if (!report.input.empty()) {
        std::cerr << "gantry: report: --epoch is for a job; a saved report has its epoch\n";
        return kExitUsage;
      }
      int64_t epoch = 0;
      bool best = false;
      if (!ParseEpochFlag("report", report_epoch, &epoch, &best)) return kExitUsage;
      if (!best) report.epoch = epoch;
    }
    if (!report.input.empty()) return gantry::cli::Report(nullptr, report, global.output == "json");
  }
  gantry::cli::Connection conn(global);
  if (!conn.error().empty()) {
    std::cerr << "gantry: " << conn.error() << "\n";
    return kExitUsage;
  }
  if (submit_cmd->parsed()) {
    if (!spec_flags.Build("submit", &submit.spec)) return kExitUsage;
    if (!ParseLabels("submit", submit_labels, &submit.labels)) return kExitUsage;
    if (!spec_flags.table_file().empty()) {
      std::string table_id;
      if (int rc = gantry::cli::PushTable(conn, "submit", spec_flags.table_file(), &table_id); rc != 0) return rc;
      submit.spec.mutable_dataset()->mutable_table()->set_table_id(table_id);
    }
    return gantry::cli::Submit(conn, submit);
  }
  if (get_cmd->parsed()) return gantry::cli::GetJob(conn, id, get_full);
  if (list_cmd->parsed()) {
    std::string selector;
    if (!BuildSelector("list", list_labels, list_sweep_opt, list_sweep, &selector)) return kExitUsage;
    return gantry::cli::ListJobs(conn, state, selector, list_owner);
  }
  if (cancel_cmd->parsed() || delete_cmd->parsed()) {
    const bool cancel = cancel_cmd->parsed();
    const std::string verb = cancel ? "cancel" : "delete";
    std::string selector;
    if (!BuildSelector(verb, act_labels, act_sweep_opt[cancel ? 0 : 1], act_sweep, &selector)) return kExitUsage;
    if (ids.empty() && selector.empty()) {
      std::cerr << "gantry: " << verb << ": give job ids, --label key=value or --sweep NAME\n";
      return kExitUsage;
    }
    return cancel ? gantry::cli::CancelJobs(conn, ids, selector) : gantry::cli::DeleteJobs(conn, ids, selector);
  }
  if (sweep_cmd->parsed()) {
    if (leaderboard_opt->count() > 0) {
      if (sweep_flags.AnyGiven() || !sweep_labels.empty() || sweep.no_watch || !sweep.name.empty()) {
        std::cerr << "gantry: sweep: --leaderboard prints an existing sweep: give it no spec "
                     "flags, --name, --label or --no-watch\n";
        return kExitUsage;
      }
      return gantry::cli::Leaderboard(conn, sweep.leaderboard);
    }
    if (!sweep_flags.BuildSweep("sweep", &sweep.base, &sweep.axes)) return kExitUsage;
    if (!ParseLabels("sweep", sweep_labels, &sweep.labels)) return kExitUsage;
    // Refused before anything (the table too) is uploaded or created.
    if (int rc = gantry::cli::CheckSweep(sweep); rc != 0) return rc;
    if (!sweep_flags.table_file().empty()) {  // uploaded once: the study's base uses it
      std::string table_id;
      if (int rc = gantry::cli::PushTable(conn, "sweep", sweep_flags.table_file(), &table_id); rc != 0) return rc;
      sweep.base.mutable_dataset()->mutable_table()->set_table_id(table_id);
    }
    return gantry::cli::Sweep(conn, sweep);
  }
  if (watch_cmd->parsed()) return gantry::cli::Watch(conn, watch);
  if (sample_cmd->parsed()) {
    for (const std::string& w : sample_where) {
      const size_t eq = w.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "gantry: sample: --where '" << w << "' is not COLUMN=VALUE\n";
        return kExitUsage;
      }
      sample.where.emplace_back(w.substr(0, eq), w.substr(eq + 1));
    }
    if (seed_opt->count() > 0) {
      uint64_t v = 0;
      std::string error;
      if (!gantry::cli::ParseUint64(sample_seed, &v, &error)) {
        std::cerr << "gantry: sample: --seed: " << error << "\n";
        return kExitUsage;
      }
      sample.seed = v;
    }
    if (epoch_opt->count() > 0) {
      int64_t epoch = 0;
      if (!ParseEpochFlag("sample", sample_epoch, &epoch, &sample.best)) return kExitUsage;
      if (!sample.best) sample.epoch = epoch;
    }
    if (dims_opt->count() > 0) {
      std::vector<int64_t> dims;
      std::string error;
      const size_t comma = sample_dims.find(',');
      uint64_t a = 0, b = 0;
      if (comma == std::string::npos || !gantry::cli::ParseUint64(sample_dims.substr(0, comma), &a, &error) ||
          !gantry::cli::ParseUint64(sample_dims.substr(comma + 1), &b, &error) || a == b || a > 63 || b > 63) {
        std::cerr << "gantry: sample: --dims '" << sample_dims
                  << "' is not two different dimensions I,J (0..63), e.g. 0,2\n";
        return kExitUsage;
      }
      if (sample.plot.empty()) {
        std::cerr << "gantry: sample: --dims picks what --plot draws; give --plot FILE\n";
        return kExitUsage;
      }
      sample.dims = {static_cast<int>(a), static_cast<int>(b)};
    }
    return gantry::cli::Sample(conn, sample);
  }
  if (plot_cmd->parsed()) return gantry::cli::Plot(conn, id, plot_out);
  if (report_cmd->parsed()) return gantry::cli::Report(&conn, report, global.output == "json");
  if (export_cmd->parsed()) {
    std::optional<int64_t> epoch;
    bool best = false;
    if (export_epoch_opt->count() > 0) {
      int64_t e = 0;
      if (!ParseEpochFlag("export", export_epoch, &e, &best)) return kExitUsage;
      if (!best) epoch = e;
    }
    return gantry::cli::Export(conn, id, epoch, best, export_out);
  }
  if (data_push_cmd->parsed()) {
    if (data_push.delimiter == "\\t") data_push.delimiter = "tab";
    return gantry::cli::DataPush(conn, data_push);
  }
  if (data_list_cmd->parsed()) return gantry::cli::DataList(conn);
  if (data_get_cmd->parsed()) return gantry::cli::DataGet(conn, id);
  if (data_rm_cmd->parsed()) return gantry::cli::DataRemove(conn, id);
  if (health_cmd->parsed()) return gantry::cli::Health(conn);
  if (whoami_cmd->parsed()) return gantry::cli::WhoAmI(conn);
  if (audit_cmd->parsed()) return gantry::cli::Audit(conn, audit);
  if (study_create->parsed()) {
    if (!study_flags.Build("study create", &study.base)) return kExitUsage;
    if (!ParseLabels("study create", study_labels, &study.labels)) return kExitUsage;
    if (!study_seed.empty()) {
      uint64_t v = 0;
      std::string error;
      if (!gantry::cli::ParseUint64(study_seed, &v, &error)) {
        std::cerr << "gantry: study create: --seed: " << error << "\n";
        return kExitUsage;
      }
      study.spec.set_seed(v);
    }
    study.spec.set_max_trials(study_max_trials);
    study.spec.set_max_epochs(study_max_epochs);
    study.spec.set_concurrency(study_concurrency);
    study.spec.set_min_epochs(study_min_epochs);
    study.spec.set_reduction_factor(study_reduction);
    study.spec.set_population(study_population);
    study.spec.set_perturb_interval(study_interval);
    // Optional fields: set only when given (a set one outside pbt is refused).
    if (study_truncation > 0) study.spec.set_truncation(study_truncation);
    if (study_resample > 0) study.spec.set_resample_probability(study_resample);
    if (!study_flags.table_file().empty()) {  // uploaded once: every trial uses it
      std::string table_id;
      if (int rc = gantry::cli::PushTable(conn, "study create", study_flags.table_file(), &table_id); rc != 0) return rc;
      study.base.mutable_dataset()->mutable_table()->set_table_id(table_id);
    }
    return gantry::cli::CreateStudy(conn, study);
  }
  if (study_list->parsed()) return gantry::cli::ListStudies(conn, study);
  if (study_get->parsed()) return gantry::cli::GetStudy(conn, study);
  if (study_watch->parsed()) return gantry::cli::WatchStudy(conn, study);
  if (study_cancel->parsed()) return gantry::cli::CancelStudy(conn, study);
  if (study_delete->parsed()) return gantry::cli::DeleteStudy(conn, study);
  if (study_replay->parsed()) return gantry::cli::ReplayTrial(conn, study);
  if (study_leaderboard->parsed()) return gantry::cli::StudyLeaderboard(conn, study);
  if (webhook_create->parsed()) return gantry::cli::CreateWebhook(conn, webhook);
  if (webhook_list->parsed()) return gantry::cli::ListWebhooks(conn);
  if (webhook_delete->parsed()) return gantry::cli::DeleteWebhook(conn, webhook);
  if (webhook_deliveries->parsed()) return gantry::cli::ListDeliveries(conn, webhook);
  return kExitUsage;
}
