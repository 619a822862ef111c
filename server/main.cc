// gantryd: the gantry training server. Parses flags, starts the server,
// waits for SIGINT or SIGTERM, drains and exits 0.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "core/memory.h"
#include "core/self_test.h"
#include "core/spec.h"
#include "server/server.h"

namespace {

std::string DefaultDataDir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/gantry";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.local/share/gantry";
  }
  return "/var/lib/gantry";
}

// "30d", "12h", "90m", "45s": an age; "100": a count.
// --retention: an age (30d, 12h, 90m, 45s, at most 100 years: it is kept in
// nanoseconds) or a count of jobs. Empty on success, else what is wrong.
std::string ParseRetention(const std::string& text, gantry::ManagerOptions* out) {
  const std::string what = "'" + text + "' is neither an age (30d, 12h, 90m, 45s) nor a count of jobs (100)";
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return what;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::out_of_range&) {
    return "'" + text + "' is out of range";
  } catch (const std::exception&) {
    return what;
  }
  if (n <= 0) return what;
  const std::string unit = text.substr(used);
  if (unit.empty()) {
    out->retention_count = n;
    return "";
  }
  constexpr long long kMaxSeconds = 100LL * 365 * 86400;
  const std::map<std::string, long long> seconds = {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  auto it = seconds.find(unit);
  if (it == seconds.end()) return what;
  if (n > kMaxSeconds / it->second) return "'" + text + "' is over 100 years";
  out->retention_seconds = n * it->second;
  return "";
}

int g_signal_pipe[2] = {-1, -1};

// SIGINT, SIGTERM and SIGHUP: the signal, written to the pipe main() reads.
void OnSignal(int sig) {
  const char c = static_cast<char>(sig);
  const int saved = errno;
  (void)!write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

// Every HTTP connection holds a descriptor: lift the soft limit to the hard
// one (commonly 1024 -> 1048576), so that --http-max-connections, not the
// descriptor table, bounds them, and say so when that does not suffice.
void RaiseOpenFileLimit(const gantry::ServerOptions& options) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  const rlim_t wanted = 2 * static_cast<rlim_t>(options.http_max_connections) + 256;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    std::cerr << "warning: the open-file limit (" << limit.rlim_cur
              << ") is under what --http-max-connections " << options.http_max_connections
              << " needs (" << wanted << "); raise it (ulimit -n)\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Blocks of 1 MiB and more (snapshots and checkpoints read or written,
  // large batches) are mapped and unmapped on their own, and free memory
  // above 1 MiB at the top of a heap goes back to the system: otherwise
  // glibc raises its mmap threshold as such blocks are freed and keeps them
  // in its per-thread arenas, and an idle gantryd stays at its peak.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
  gantry::ServerOptions options;
  options.manager.max_concurrent_jobs =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string data_dir = DefaultDataDir();
  std::string retention;
  std::string auth_token_file;
  std::string log_level = "info";
  bool no_reflection = false;

  CLI::App app{"gantryd: the gantry GAN training server"};
  app.set_version_flag("--version", std::string("gantryd ") + GANTRY_VERSION);
  options.version = GANTRY_VERSION;
  app.add_option("--listen", options.listen, "HOST:PORT to serve gRPC on")->capture_default_str();
  app.add_option("--data-dir", data_dir, "where jobs and checkpoints are stored")
      ->capture_default_str();
  app.add_option("--store", options.store_uri,
                 "a PostgreSQL URI (postgresql://USER:PASSWORD@HOST:PORT/DB): keep jobs, events "
                 "and checkpoints there, shared by any number of gantryd replicas, instead of "
                 "SQLite in --data-dir")
      ->envname("GANTRY_STORE");
  double lease_seconds = 30;
  app.add_option("--lease-seconds", lease_seconds,
                 "with --store: how long a replica's claim on a job holds without renewal (it "
                 "renews every third of it); a dead replica's jobs move after it")
      ->capture_default_str()
      ->check(CLI::Range(0.3, 3600.0));
  app.add_option("--max-concurrent-jobs", options.manager.max_concurrent_jobs,
                 "jobs trained at once (one thread each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-queued-jobs", options.manager.max_queued_jobs,
                 "jobs waiting for a worker before CreateJob answers RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--max-sample-points", options.manager.max_sample_points,
                 "most points one Sample or SampleStream call may ask for")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  app.add_option("--retention", retention,
                 "delete ended jobs automatically: an age (30d, 12h, 90m, 45s) or a count of "
                 "ended jobs to keep (100)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--max-connection-age-ms", options.max_connection_age_ms,
                 "close client connections after this age so they reconnect (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("--tls-cert", options.tls_cert_file, "PEM certificate chain: serve TLS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", options.tls_key_file, "PEM private key for --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", options.tls_client_ca_file,
                 "PEM CA certificates: a client certificate they sign authenticates the "
                 "--credentials-file principal named cert:COMMON_NAME (gRPC and HTTP)")
      ->check(CLI::ExistingFile);
  app.add_option("--auth-token-file", auth_token_file,
                 "file holding a token; every RPC but health then needs "
                 "'authorization: Bearer <token>' (reflection is turned off)")
      ->check(CLI::ExistingFile);
  double priority_aging_minutes = 10;
  app.add_option("--priority-aging-minutes", priority_aging_minutes,
                 "a queued job gains a priority level (low, normal, high) for every this many "
                 "minutes it waits, so low never starves; 0: never")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 525600.0));
  app.add_option("--credentials-file", options.credentials_file,
                 "file of principals, one 'NAME ROLE sha256:HEX' per line (roles admin, member, "
                 "viewer); every RPC but health then needs a principal's token. Read again on "
                 "SIGHUP and when it changes")
      ->check(CLI::ExistingFile)
      ->excludes("--auth-token-file");
  app.add_option("--http-listen", options.http_listen,
                 "HOST:PORT to serve HTTP on: the dashboard, the JSON API, event streams, "
                 "/metrics and /healthz (TLS and token as for gRPC)");
  double session_hours = 12;
  app.add_option("--session-hours", session_hours,
                 "how long a dashboard login (its session cookie) lasts; logging out ends it "
                 "at once")
      ->capture_default_str()
      ->check(CLI::Range(0.02, 8760.0));
  app.add_option("--webhook-workers", options.webhooks.workers,
                 "webhook deliveries POSTed at once by this gantryd; 0: none (replicas sharing "
                 "the store send them)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_flag("--webhook-allow-private", options.webhooks.allow_private,
               "let webhooks POST to loopback, private and link-local addresses (refused by "
               "default: a member could otherwise reach gantryd's own network)");
  double webhook_timeout_s = 10, webhook_first_retry_s = 1, webhook_max_retry_s = 300,
         webhook_give_up_hours = 24;
  app.add_option("--webhook-timeout-seconds", webhook_timeout_s,
                 "how long one webhook POST may take, connecting included")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 300.0));
  app.add_option("--webhook-first-retry-seconds", webhook_first_retry_s,
                 "a failed webhook delivery is tried again after this long, doubling each time "
                 "up to --webhook-max-retry-seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--webhook-max-retry-seconds", webhook_max_retry_s,
                 "the longest wait between two attempts at a webhook delivery")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 86400.0));
  app.add_option("--webhook-give-up-hours", webhook_give_up_hours,
                 "a webhook delivery still failing this long after its event ends FAILED")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 720.0));
  app.add_option("--http-max-event-streams", options.http_max_event_streams,
                 "event streams (/v1/jobs/ID/events) open at once; 503 beyond")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--http-max-connections", options.http_max_connections,
                 "HTTP connections open at once (--http-listen and --metrics-listen each); "
                 "beyond it a new connection is closed at once")
      ->capture_default_str()
      ->check(CLI::Range(8, 100000));
  app.add_option("--http-max-connections-per-address", options.http_max_connections_per_address,
                 "HTTP connections open at once from one client address")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--http-allowed-hosts", options.http_allowed_hosts,
                 "host names (comma-separated) that requests may carry as Host, besides "
                 "localhost, 127.0.0.1 and ::1; given, or when --http-listen is a loopback "
                 "address, any other Host is refused (DNS rebinding)")
      ->delimiter(',');
  std::string http_body_budget;
  app.add_option("--http-body-budget", http_body_budget,
                 "HTTP request bodies being received or handled at once (a size, default "
                 "128MiB, at least --max-message-bytes); a body that would pass it is refused "
                 "with 503");
  app.add_option("--http-head-timeout-ms", options.http_head_timeout_ms,
                 "how long an HTTP request's head may take to arrive, in total (408 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
  app.add_option("--metrics-listen", options.metrics_listen,
                 "HOST:PORT serving only Prometheus metrics (/metrics), without a token; "
                 "--http-listen serves /metrics too");
  app.add_option("--drain-grace-ms", options.manager.drain_grace_ms,
                 "on SIGTERM, how long running jobs may take to finish their epoch and "
                 "checkpoint before they stop mid-epoch")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3'600'000}));
  app.add_option("--max-message-bytes", options.max_message_bytes,
                 "largest request accepted (inline user points)")
      ->capture_default_str()
      ->check(CLI::Range(1 << 20, 1 << 30));
  std::string max_job_memory, max_memory;
  app.add_option("--max-job-memory", max_job_memory,
                 "refuse a job whose estimated peak memory exceeds this (e.g. 4GiB; 0: no "
                 "limit; default: --max-memory)");
  app.add_option("--max-memory", max_memory,
                 "the running jobs' estimates together stay within this; a queued job waits "
                 "for room (e.g. 16GiB; 0: no limit; default: 80% of the machine's or the "
                 "container's memory)");
  std::string max_table_bytes;
  app.add_option("--max-table-bytes", max_table_bytes,
                 "largest table (CSV file) UploadTable accepts (e.g. 64MiB; at most 512MiB; "
                 "default 256MiB); an HTTP upload is also bounded by --max-message-bytes");
  std::string snapshot_cache;
  app.add_option("--snapshot-cache", snapshot_cache,
                 "memory for generator snapshots read back for Sample and Export (least "
                 "recently used go first; default 256MiB)");
  std::string sync = "normal";
  app.add_option("--sync", sync,
                 "normal: what was acknowledged survives gantryd being killed; full: it also "
                 "survives power loss (every commit fsynced; slower)")
      ->capture_default_str()
      ->check(CLI::IsMember({"normal", "full"}));
  app.add_option("--work-threads", options.work_threads,
                 "threads computing Sample, SampleStream, GetDataset and ExportGenerator")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_flag("--no-reflection", no_reflection, "turn gRPC server reflection off");
  std::string trainer_path = "auto";
  app.add_option("--trainer-path", trainer_path,
                 "training loop for jobs that say auto: auto (fast where its self-test "
                 "passed), fast, aten; results are identical")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fast", "aten"}));
  CLI11_PARSE(app, argc, argv);
  RaiseOpenFileLimit(options);
  // A size flag's value, or `fallback` when it was not given; false (after
  // saying why) when it is not a size.
  auto size_flag = [](const char* flag, const std::string& text, int64_t fallback, int64_t* out) {
    if (text.empty()) {
      *out = fallback;
      return true;
    }
    if (gantry::ParseBytes(text, out)) return true;
    std::cerr << flag << ": '" << text << "' is not a size (bytes, or with KiB, MiB, GiB, TiB)\n";
    return false;
  };
  if (!size_flag("--max-memory", max_memory, gantry::AvailableMemory() / 10 * 8,
                 &options.manager.max_memory) ||
      !size_flag("--max-job-memory", max_job_memory, options.manager.max_memory,
                 &options.manager.max_job_memory) ||
      !size_flag("--snapshot-cache", snapshot_cache, options.manager.snapshot_cache_bytes,
                 &options.manager.snapshot_cache_bytes) ||
      !size_flag("--max-table-bytes", max_table_bytes, gantry::kDefaultMaxTableBytes,
                 &options.tables.max_table_bytes) ||
      !size_flag("--http-body-budget", http_body_budget, options.http_body_budget_bytes,
                 &options.http_body_budget_bytes)) {
    return 2;
  }
  if (options.tables.max_table_bytes < 1 ||
      options.tables.max_table_bytes > gantry::kMaxTableBytesLimit) {
    std::cerr << "--max-table-bytes: '" << max_table_bytes << "' is out of range 1B..512MiB\n";
    return 2;
  }
  options.sync_full = sync == "full";
  options.manager.trainer_path = *gantry::ParseTrainerPath(trainer_path);
  options.reflection = !no_reflection;
  options.data_dir = data_dir;
  options.manager.lease_ms = static_cast<int64_t>(lease_seconds * 1000);
  options.session_lifetime_ns = static_cast<int64_t>(session_hours * 3600) * 1'000'000'000;
  const auto ms = [](double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  };
  options.webhooks.timeout = ms(webhook_timeout_s);
  options.webhooks.first_retry = ms(webhook_first_retry_s);
  options.webhooks.max_retry = ms(webhook_max_retry_s);
  options.webhooks.give_up = ms(webhook_give_up_hours * 3600);
  options.manager.priority_aging_ms = static_cast<int64_t>(priority_aging_minutes * 60'000);
  if (!auth_token_file.empty()) {
    std::ifstream in(auth_token_file);
    std::getline(in, options.auth_token);
    while (!options.auth_token.empty() &&
           std::isspace(static_cast<unsigned char>(options.auth_token.back()))) {
      options.auth_token.pop_back();
    }
    if (options.auth_token.empty()) {
      std::cerr << "--auth-token-file " << auth_token_file << ": the file holds no token\n";
      return 2;
    }
  }
  if (!retention.empty()) {
    if (const std::string error = ParseRetention(retention, &options.manager); !error.empty()) {
      std::cerr << "--retention: " << error << "\n";
      return 2;
    }
  }

  auto logger = spdlog::stderr_color_mt("gantryd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // SIGINT and SIGTERM: a handler writes the signal to a pipe that this
  // thread reads. The threads started from here on block them; threads that
  // libraries started before main (OpenBLAS's) do not, and a handler keeps
  // a signal they take from ending the process with the default action.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) {
    std::cerr << "cannot create the signal pipe\n";
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (options.manager.trainer_path != gantry::TrainerPath::kAten) {
    const gantry::SelfTestResult& t = gantry::FastPathSelfTest();
    if (t.passed) {
      spdlog::info("fast trainer self-test passed in {:.0f} ms: {}", t.seconds * 1000, t.detail);
    } else {
      spdlog::warn("fast trainer self-test FAILED ({}); jobs train on the ATen path", t.detail);
    }
  }
  auto server = gantry::GantryServer::Start(options);
  if (!server.ok()) {
    spdlog::error("{}", server.status().message());
    return 1;
  }
  if (options.store_uri.empty()) spdlog::info("data directory {}", data_dir);
  auto limit = [](int64_t b) { return b > 0 ? gantry::FormatBytes(b) : std::string("no limit"); };
  spdlog::info("memory admission: {} per job, {} for all running jobs",
               limit(options.manager.max_job_memory), limit(options.manager.max_memory));
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  char sig = 0;
  for (;;) {
    sig = 0;
    ssize_t n = 0;
    while ((n = read(g_signal_pipe[0], &sig, 1)) != 1 && errno == EINTR) {
    }
    if (n != 1 || sig != SIGHUP) break;  // a failed read shuts down, as before
    if (!(*server)->has_credentials_file()) {
      spdlog::info("received SIGHUP: no --credentials-file to read again");
      continue;
    }
    spdlog::info("received SIGHUP: reading the credentials file again");
    (void)(*server)->ReloadCredentials(/*force=*/true);  // logged there
  }
  spdlog::info("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Shutdown();
  return 0;
}
