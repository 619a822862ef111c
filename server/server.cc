#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/util/files.h"
#include "server/util/ids.h"
#include "server/util/safe_text.h"
#include "server/store/cached_store.h"
#include "server/store/memory_store.h"
#include "server/store/pg_store.h"
#include "server/store/sqlite_store.h"
#include "server/api/tls.h"

namespace gantry {
namespace {

// Threads that take the WatchJob streams' steps their notifiers post.
constexpr int kFollowerThreads = 2;
// How often the health check looks at Calls::NotServing().
constexpr auto kHealthEvery = std::chrono::milliseconds(200);
// --credentials-file is looked at every this many health ticks (1 s).
constexpr int64_t kCredentialsEvery = 5;

// GetServerInfo's answer; `http_port` is the port HTTP bound (0: none).
v1::ServerInfo Info(const ServerOptions& options, int http_port) {
  v1::ServerInfo info;
  info.set_version(options.version);
  if (http_port != 0) {
    const std::string& listen = options.http_listen;
    info.set_http_address(listen.substr(0, listen.rfind(':')) + ":" + std::to_string(http_port));
    info.set_http_tls(!options.tls_cert_file.empty());
  }
  info.set_storage(!options.store_uri.empty() ? "postgresql"
                   : options.data_dir.empty() ? "memory"
                                              : "sqlite");
  return info;
}

// Removes gRPC's reflection plugin from a ServerBuilder.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(
        std::remove_if(plugins->begin(), plugins->end(),
                       [](const auto& p) { return p->name() == "proto_server_reflection"; }),
        plugins->end());
  }
};

}  // namespace

StatusOr<std::unique_ptr<GantryServer>> GantryServer::Start(const ServerOptions& options) {
  if (options.manager.max_concurrent_jobs < 1) {
    return Status::InvalidArgument(
        "--max-concurrent-jobs: " + std::to_string(options.manager.max_concurrent_jobs) +
        " is out of range 1..");
  }
  if (options.manager.max_queued_jobs < 0) {
    return Status::InvalidArgument(
        "--max-queued-jobs: " + std::to_string(options.manager.max_queued_jobs) +
        " is out of range 0..");
  }
  if (options.tables.max_table_bytes < 1 || options.tables.max_table_bytes > kMaxTableBytesLimit) {
    return Status::InvalidArgument("--max-table-bytes: " +
                                   std::to_string(options.tables.max_table_bytes) +
                                   " is out of range 1.." + std::to_string(kMaxTableBytesLimit));
  }
  if (options.tables.max_uploads < 1) {
    return Status::InvalidArgument("max_uploads: " + std::to_string(options.tables.max_uploads) +
                                   " is out of range 1..");
  }
  if (options.session_lifetime_ns < 60'000'000'000) {
    return Status::InvalidArgument("--session-hours: a session must last at least a minute");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together; one of them is missing");
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty()) {
    auto cert = ReadFile(options.tls_cert_file);
    auto key = ReadFile(options.tls_key_file);
    if (!cert.ok()) return Status::InvalidArgument("--tls-cert: " + cert.status().message());
    if (!key.ok()) return Status::InvalidArgument("--tls-key: " + key.status().message());
    GANTRY_RETURN_IF_ERROR(CheckKeyPair(options.tls_cert_file, *cert, options.tls_key_file, *key));
    grpc::SslServerCredentialsOptions ssl(options.tls_client_ca_file.empty()
                                              ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                              : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options.tls_client_ca_file.empty()) {
      if (options.credentials_file.empty()) {
        return Status::InvalidArgument("--tls-client-ca: client certificates name principals of a "
                                       "--credentials-file (cert:COMMON_NAME); give one");
      }
      auto ca = ReadFile(options.tls_client_ca_file);
      if (!ca.ok()) return Status::InvalidArgument("--tls-client-ca: " + ca.status().message());
      if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        return Status::InvalidArgument("--tls-client-ca: " + options.tls_client_ca_file +
                                       " holds no PEM certificate");
      }
      ssl.pem_root_certs = *ca;
    }
    credentials = grpc::SslServerCredentials(ssl);
  } else if (!options.tls_client_ca_file.empty()) {
    return Status::InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key (client "
                                   "certificates are a TLS matter)");
  }
  grpc::EnableDefaultHealthCheckService(true);
  // Reflection serves the whole schema to anyone: only without a token, and
  // not with --no-reflection.
  if (options.reflection && options.auth_token.empty() && options.credentials_file.empty()) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }

  std::unique_ptr<GantryServer> s(new GantryServer());
  if (!options.metrics_listen.empty() || !options.http_listen.empty()) {
    s->metrics_ = std::make_unique<Metrics>();
  }
  if (!options.store_uri.empty()) {
    if (options.store_uri.rfind("postgresql://", 0) != 0 &&
        options.store_uri.rfind("postgres://", 0) != 0) {
      return Status::InvalidArgument("--store: '" + SafeText(options.store_uri.substr(0, 40)) +
                                     "' is not a postgresql:// URI");
    }
    auto store = PgStore::Open(options.store_uri);
    if (!store.ok()) return store.status();
    s->store_ = std::move(store).value();
  } else if (options.data_dir.empty()) {
    s->store_ = std::make_unique<MemoryStore>();
  } else {
    auto store =
        SqliteStore::Open(options.data_dir, options.sync_full ? SqliteStore::Sync::kFull
                                                              : SqliteStore::Sync::kNormal);
    if (!store.ok()) return store.status();
    s->store_ = std::move(store).value();
  }
  // GetJob rows from memory (an exclusive store; a shared one passes through).
  s->store_ = std::make_unique<CachedStore>(std::move(s->store_));
  s->monitored_ = std::make_unique<MonitoredStore>(s->store_.get());
  Calls::PrincipalsSource principals;
  if (!options.credentials_file.empty()) {
    if (!options.auth_token.empty()) {
      return Status::InvalidArgument("--credentials-file and --auth-token: give one of the two (the "
                                     "file may name an admin in place of the token)");
    }
    auto file = PrincipalsFile::Open(options.credentials_file);
    if (!file.ok()) return Status(file.status().code(), "--credentials-file: " + file.status().message());
    s->principals_ = std::move(file).value();
    PrincipalsFile* read = s->principals_.get();
    principals = [read] { return read->Current(); };
    spdlog::info("credentials file {}: {} principals", options.credentials_file,
                 read->Current()->size());
  } else if (!options.auth_token.empty()) {
    principals = [single = Principals::SingleToken(options.auth_token)] { return single; };
  }
  ManagerOptions manager_options = options.manager;
  if (principals) {
    // Quotas on running jobs, as the principals say now (a reload applies
    // to the next claim).
    manager_options.running_limits = [principals] {
      const std::shared_ptr<const Principals> known = principals();
      return known ? known->Running() : RunningLimits();
    };
  }
  auto manager = JobManager::Create(manager_options, s->monitored_.get(), s->metrics_.get());
  if (!manager.ok()) return manager.status();
  s->manager_ = std::move(manager).value();
  StudyOptions study_options;
  study_options.holder = ProcessName();  // as the jobs' leases
  study_options.lease_ms = options.manager.lease_ms;
  if (principals) {
    // Trials are created with their study's owner's quota, as it is now.
    study_options.quota_of = [principals](const std::string& name) -> std::optional<Quota> {
      const std::shared_ptr<const Principals> known = principals();
      const std::optional<Principal> who = known ? known->FindName(name) : std::nullopt;
      if (!who || who->role == Role::kViewer) return std::nullopt;
      return who->quota;
    };
  }
  s->studies_ = std::make_unique<StudyManager>(std::move(study_options), s->monitored_.get(),
                                               s->manager_.get());
  s->calls_ = std::make_unique<Calls>(s->manager_.get(), principals, s->metrics_.get());
  s->calls_->set_studies(s->studies_.get());
  s->manager_->set_on_run_end([studies = s->studies_.get()] { studies->Poke(); });
  s->calls_->set_store(s->monitored_.get());
  // After JobManager::Create: an exclusive store has expired the previous
  // holder's leases, deliveries' included.
  DispatcherOptions webhooks = options.webhooks;
  webhooks.user_agent = "gantryd/" + options.version;
  s->calls_->set_webhooks_allow_private(webhooks.allow_private);
  WebhookDispatcher::MaySend may_send;
  if (principals) {
    // A webhook of a principal removed from the file, or now a viewer,
    // sends nothing more.
    may_send = [principals](const std::string& name) {
      const std::shared_ptr<const Principals> known = principals();
      const std::optional<Principal> who = known ? known->FindName(name) : std::nullopt;
      return who.has_value() && who->role != Role::kViewer;
    };
  }
  // Started with the manager, once nothing can fail the start: a server
  // that does not start sends nothing.
  s->webhooks_ = std::make_unique<WebhookDispatcher>(s->monitored_.get(), webhooks,
                                                     s->metrics_.get(), std::move(may_send));
  SessionsOptions sessions;
  sessions.lifetime_ns = options.session_lifetime_ns;
  sessions.binding = options.auth_token;
  s->sessions_ = std::make_unique<Sessions>(s->monitored_.get(), std::move(sessions));
  s->login_throttle_ = std::make_unique<LoginThrottle>();
  s->calls_->set_sessions(s->sessions_.get(), s->login_throttle_.get());
  s->tables_ = std::make_unique<Tables>(s->monitored_.get(), options.tables);
  s->calls_->set_tables(s->tables_.get());
  s->pool_ =
      std::make_unique<WorkPool>(options.work_threads, static_cast<size_t>(options.work_queue));
  // WatchJob's steps, posted by notifiers: at the RPC threads' priority, and
  // never behind the heavy calls of pool_.
  s->calls_->set_work_pool(s->pool_.get());
  s->followers_pool_ = std::make_unique<WorkPool>(kFollowerThreads, 0, /*nice=*/0);
  s->service_ =
      std::make_unique<GantryService>(s->calls_.get(), s->followers_pool_.get());
  // The HTTP servers start before gRPC, so a bad --http-listen fails the
  // start before anything is served.
  HttpOptions http;
  http.tls_cert_file = options.tls_cert_file;
  http.tls_key_file = options.tls_key_file;
  http.tls_client_ca_file = options.tls_client_ca_file;
  http.max_event_streams = options.http_max_event_streams;
  http.max_body_bytes = static_cast<size_t>(options.max_message_bytes);
  http.body_budget_bytes = static_cast<size_t>(options.http_body_budget_bytes);
  http.max_connections = options.http_max_connections;
  http.max_connections_per_address = options.http_max_connections_per_address;
  http.allowed_hosts = options.http_allowed_hosts;
  http.head_timeout_ms = options.http_head_timeout_ms;
  s->calls_->set_starting(true);  // until the gRPC listener is up (below)
  if (!options.http_listen.empty()) {
    http.listen = options.http_listen;
    auto server = HttpServer::Start(http, s->calls_.get(), s->metrics_.get());
    if (!server.ok()) {
      s->manager_->Drain();
      return server.status();
    }
    s->http_ = std::move(server).value();
  }
  s->calls_->set_server_info(Info(options, s->http_ ? s->http_->port() : 0));
  if (!options.metrics_listen.empty()) {
    http.listen = options.metrics_listen;
    http.metrics_only = true;
    auto server = HttpServer::Start(http, s->calls_.get(), s->metrics_.get());
    if (!server.ok()) {
      s->manager_->Drain();
      return server.status();
    }
    s->metrics_http_ = std::move(server).value();
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &s->port_);
  builder.RegisterService(s->service_.get());
  if (!(options.reflection && options.auth_token.empty() && options.credentials_file.empty())) {
    // Linking gRPC's reflection library registers its plugin for every
    // server at load time; take it out of this one.
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  // A second server on the same port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (options.max_connection_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, options.max_connection_age_ms);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 100);
  }
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    s->manager_->Drain();
    return Status::Unavailable("cannot listen on " + options.listen +
                               " (address in use, or not a HOST:PORT this machine has)");
  }
  s->calls_->set_starting(false);
  s->manager_->Start();
  s->studies_->Start();
  s->webhooks_->Start();
  s->shut_down_ = false;
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  s->health_ = std::thread([raw = s.get()] { raw->HealthLoop(); });
  spdlog::info("gantryd listening on {} (port {}, {}{}), {} training workers, queue {}",
               options.listen, s->port_, options.tls_cert_file.empty() ? "plaintext" : "TLS",
               options.auth_token.empty() && options.credentials_file.empty() ? "" : ", bearer tokens required",
               options.manager.max_concurrent_jobs, options.manager.max_queued_jobs);
  return s;
}

Status GantryServer::ReloadCredentials(bool force) {
  if (!principals_) return Status::Ok();
  bool changed = false;
  const Status read = principals_->Reload(&changed, force);
  MutexLock lock(&credentials_mu_);
  if (!read.ok()) {
    // Said once per distinct error, not every second.
    if (read.message() != credentials_error_) {
      spdlog::error("credentials file not reloaded, the principals read last stay: {}", read.message());
      credentials_error_ = read.message();
    }
    return read;
  }
  credentials_error_.clear();
  if (changed) {
    spdlog::info("credentials file reloaded: {} principals", principals_->Current()->size());
    manager_->Poke();
  }
  return Status::Ok();
}

void GantryServer::HealthLoop() {
  int64_t ticks = 0;
  bool serving = true;
  MutexLock lock(&health_mu_);
  while (!health_stop_) {
    const auto deadline = std::chrono::steady_clock::now() + kHealthEvery;
    while (!health_stop_ && health_cv_.WaitUntil(&health_mu_, deadline)) {
    }
    if (health_stop_) break;
    if (principals_ && ++ticks % kCredentialsEvery == 0) (void)ReloadCredentials();  // it logs its own failure
    const auto why = calls_->NotServing();
    if (why.has_value() == !serving) continue;
    serving = !why;
    server_->GetHealthCheckService()->SetServingStatus(serving);
    if (serving) {
      spdlog::info("health SERVING again: the store's writes succeed");
    } else {
      spdlog::error("health NOT_SERVING: {}", *why);
    }
  }
}

GantryServer::~GantryServer() { Shutdown(std::chrono::seconds(1)); }

void GantryServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  {
    MutexLock lock(&health_mu_);
    health_stop_ = true;
  }
  health_cv_.SignalAll();
  if (health_.joinable()) health_.join();
  spdlog::info("shutting down: health NOT_SERVING");
  server_->GetHealthCheckService()->SetServingStatus(false);
  webhooks_->Stop();  // a POST in flight is sent again by the next holder
  studies_->Stop();   // its decisions are taken again by the next holder
  manager_->Drain();  // interrupts every event log: watch and SSE streams end
  if (http_) http_->Shutdown();
  if (metrics_http_) metrics_http_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  pool_->Stop();
  followers_pool_->Stop();
  spdlog::info("shut down");
}

}  // namespace gantry
