// GantryServer: a running gRPC server with the Gantry service, gRPC health
// checking (SERVING, NOT_SERVING while draining) and server reflection, and
// optionally the HTTP server (dashboard, JSON API, SSE, /metrics, /healthz)
// that shares its Calls.
//
// Thread-safety: Start() and Shutdown() from one controlling thread; the
// server itself serves from gRPC's threads.
#pragma once

#include <grpcpp/server.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <memory>
#include <string>

#include "core/status.h"
#include "server/api/calls.h"
#include "server/api/http_server.h"
#include "server/jobs/job_manager.h"
#include "server/metrics.h"
#include "server/api/service.h"
#include "server/api/sessions.h"
#include "server/jobs/tables.h"
#include "server/store/monitored_store.h"
#include "server/store/store.h"
#include "server/api/work_pool.h"
#include "server/util/mutex.h"
#include "server/studies/study_manager.h"
#include "server/webhooks/dispatcher.h"

namespace gantry {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";  // HOST:PORT; port 0 picks a free one
  // Storage directory (SqliteStore); empty keeps everything in memory only
  // (MemoryStore).
  std::string data_dir;
  // A PostgreSQL connection URI (postgresql://...): jobs, events and blobs
  // in PostgreSQL (store/pg_store.h), shared with other replicas; data_dir
  // is then unused. Empty: data_dir as above.
  std::string store_uri;
  // synchronous=FULL: every commit is fsynced, so acknowledged jobs and
  // events survive power loss too (see store/sqlite_store.h).
  bool sync_full = false;
  // Threads for Sample, SampleStream, GetDataset and ExportGenerator, and
  // how many such requests may wait for them.
  int work_threads = 2;
  int work_queue = 64;
  ManagerOptions manager;
  // Uploaded tables: the largest file (--max-table-bytes) and how many
  // uploads may be in progress at once.
  TablesOptions tables;
  bool reflection = true;  // off whenever auth_token is set (it cannot check tokens)
  // TLS: PEM files of the server's certificate chain and key (both or none).
  std::string tls_cert_file, tls_key_file;
  // With TLS, PEM CA certificates: a client certificate they sign
  // authenticates the principal named by its subject common name
  // (credentials_file's cert:NAME); a client without one uses a token.
  std::string tls_client_ca_file;
  // Every RPC except grpc.health.v1 needs "authorization: Bearer <token>":
  // the single auth_token (one admin principal, "admin"), or the token of a
  // principal in credentials_file (server/api/principals.h; read again on
  // SIGHUP and when it changes). At most one of the two.
  std::string auth_token;
  std::string credentials_file;
  // HOST:PORT for the HTTP server (dashboard, JSON API, SSE, /metrics,
  // /healthz; TLS and token as for gRPC), or empty for none.
  std::string http_listen;
  std::string version;  // what GetServerInfo reports (gantryd's)
  int http_max_event_streams = 64;  // open SSE streams; 503 beyond
  int http_max_connections = 1000;   // HTTP connections open at once
  int http_max_connections_per_address = 256;  // ... from one client address
  std::vector<std::string> http_allowed_hosts;   // Host names besides the loopback ones
  int64_t http_body_budget_bytes = 128 << 20;  // request bodies in flight, together
  int http_head_timeout_ms = 10'000;           // a request head's total deadline
  // HOST:PORT serving only /metrics (and /healthz), without a token; or
  // empty for none. --http-listen serves /metrics too.
  std::string metrics_listen;
  int max_message_bytes = 64 << 20;  // largest request accepted (user points)
  // When > 0, connections are closed after this age (with a short grace), so
  // clients reconnect: spreads load behind a proxy; tests use it to cut
  // streams. 0 = never.
  int max_connection_age_ms = 0;
  // Dashboard login sessions (sessions.h): how long one lasts
  // (--session-hours). The sessions are bound to auth_token.
  int64_t session_lifetime_ns = int64_t{12} * 3600 * 1'000'000'000;
  // Webhook deliveries (webhooks/dispatcher.h): workers, timeout, backoff.
  // workers 0: this replica sends none (others sharing the store do).
  DispatcherOptions webhooks;
};

class GantryServer {
 public:
  // Binds and starts serving. UNAVAILABLE if the address cannot be bound.
  static StatusOr<std::unique_ptr<GantryServer>> Start(const ServerOptions& options);
  ~GantryServer();
  GantryServer(const GantryServer&) = delete;
  GantryServer& operator=(const GantryServer&) = delete;

  // The bound port (useful with port 0).
  int port() const { return port_; }
  JobManager& manager() { return *manager_; }
  // The login sessions (in the store, shared by replicas) and the failed
  // login throttle; the HTTP server reaches them through Calls too.
  Sessions& sessions() { return *sessions_; }
  LoginThrottle& login_throttle() { return *login_throttle_; }

  // Reads --credentials-file again if it changed (the health loop looks
  // once a second), or whatever its stamp says when `force` (main() on
  // SIGHUP). A file that no longer parses keeps the principals read last;
  // the error is returned and logged once. A changed file wakes idle
  // workers (a raised running quota may let a queued job start).
  Status ReloadCredentials(bool force = false) EXCLUDES(credentials_mu_);
  bool has_credentials_file() const { return principals_ != nullptr; }

  // Drains: health goes NOT_SERVING, new jobs are refused, running jobs stop
  // between batches, open streams end with a status; then in-flight calls
  // get `grace` to finish before they are cancelled. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  GantryServer() = default;

  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<MonitoredStore> monitored_;  // store_, watched for health
  std::unique_ptr<WebhookDispatcher> webhooks_;  // over monitored_
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<StudyManager> studies_;  // over manager_ and monitored_
  std::unique_ptr<Tables> tables_;
  std::unique_ptr<Sessions> sessions_;  // over monitored_
  std::unique_ptr<LoginThrottle> login_throttle_;
  std::unique_ptr<PrincipalsFile> principals_;  // --credentials-file, if any
  Mutex credentials_mu_;
  std::string credentials_error_ GUARDED_BY(credentials_mu_);  // the last reload's, logged once
  std::unique_ptr<Calls> calls_;
  std::unique_ptr<WorkPool> pool_;
  std::unique_ptr<WorkPool> followers_pool_;  // WatchJob steps (service.cc)
  std::unique_ptr<GantryService> service_;
  std::unique_ptr<HttpServer> http_;          // --http-listen
  std::unique_ptr<HttpServer> metrics_http_;  // --metrics-listen
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = true;  // until Start() succeeds
  // Keeps grpc.health.v1 in step with Calls::NotServing() (the store's
  // trouble), every 200 ms until Shutdown().
  void HealthLoop();
  Mutex health_mu_;
  CondVar health_cv_;
  bool health_stop_ GUARDED_BY(health_mu_) = false;
  std::thread health_;
};

}  // namespace gantry
