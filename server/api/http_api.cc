#include "server/util/api_json.h"
#include "server/api/http_api.h"

#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>
#include <optional>

#include "core/json_text.h"
#include "server/util/safe_text.h"
#include "server/api/enum_names.h"
#include "server/api/status_map.h"

namespace gantry {
namespace {

using Clock = Calls::Clock;
using Request = HttpRequest;
using Response = HttpResponse;

constexpr char kJson[] = "application/json";

std::string ToJson(const google::protobuf::Message& message) { return ApiJson(message); }

// The request body (empty: the message's defaults) as `message`, or
// INVALID_ARGUMENT with the JSON parser's message.
Status ParseBody(const Request& req, google::protobuf::Message* message) {
  if (req.body.empty()) return Status::Ok();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  // Enum values in their short spellings too (two_moons, running).
  auto body = CanonicalEnumsInJson(req.body, *message->GetDescriptor());
  if (!body.ok()) return Status::InvalidArgument("request body: " + body.status().message());
  const auto st = google::protobuf::util::JsonStringToMessage(*body, message, options);
  if (!st.ok()) return Status::InvalidArgument("request body: " + std::string(st.message()));
  return Status::Ok();
}

// ?view=basic|full (or JOB_VIEW_..., any case); absent: BASIC.
StatusOr<v1::JobView> QueryView(const Request& req) {
  if (!req.has_param("view")) return v1::JOB_VIEW_BASIC;
  auto view = ParseEnumName(*v1::JobView_descriptor(), req.get_param_value("view"), "view");
  if (!view.ok()) return view.status();
  return static_cast<v1::JobView>((*view)->number());
}

// An integer query parameter: nullopt when absent, INVALID_ARGUMENT when
// not an integer.
template <typename Int>
StatusOr<std::optional<Int>> QueryInt(const Request& req, const char* name) {
  if (!req.has_param(name)) return std::optional<Int>();
  const std::string text = req.get_param_value(name);
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument(std::string(name) + ": '" + text + "' is not an integer");
  }
  return std::optional<Int>(value);
}

// A query parameter's value taken from the raw target, so that a value
// holding '=' ("?label_selector=sweep=s1,seed=3") reads whole: httplib
// splits a parameter at every '=' and keeps the last piece. Percent-escapes
// are decoded ('+' is a space). "" when absent.
std::vector<std::string> RawQueryValues(const Request& req, const std::string& name);

std::string RawQueryValue(const Request& req, const std::string& name) {
  const std::vector<std::string> values = RawQueryValues(req, name);
  return values.empty() ? "" : values.front();
}

// Every value of a repeated query parameter, from the raw target ("?where=
// occupation=3&where=age=20..30"), percent-escapes decoded.
std::vector<std::string> RawQueryValues(const Request& req, const std::string& name) {
  std::vector<std::string> out;
  const size_t q = req.target.find('?');
  if (q == std::string::npos) return out;
  const std::string query = req.target.substr(q + 1);
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string item = query.substr(start, end - start);
    if (item.size() > name.size() && item.compare(0, name.size() + 1, name + "=") == 0) {
      out.push_back(PercentDecode(item.substr(name.size() + 1), true));
    }
    start = end + 1;
  }
  return out;
}

// Table rows as CSV with the table's header; missing cells empty.
std::string RowsToCsv(const v1::Rows& rows) {
  std::string out;
  for (int c = 0; c < rows.columns_size(); ++c) out += (c ? "," : "") + CsvField(rows.columns(c).name());
  out += '\n';
  char buf[40];
  for (int64_t r = 0; r < rows.count(); ++r) {
    for (int c = 0; c < rows.columns_size(); ++c) {
      const v1::Column& col = rows.columns(c);
      if (c) out += ',';
      const int i = static_cast<int>(r);
      if (col.missing_size() > i && col.missing(i)) continue;
      if (col.strings_size() > i) {
        out += CsvField(col.strings(i));
      } else if (col.ints_size() > i) {
        out += std::to_string(col.ints(i));
      } else if (col.doubles_size() > i) {
        out.append(buf, std::to_chars(buf, buf + sizeof buf, col.doubles(i)).ptr);  // shortest round trip
      }
    }
    out += '\n';
  }
  return out;
}

// ?epoch=best: the best evaluated epoch's snapshot (SampleRequest.best).
bool BestEpoch(const Request& req) { return req.get_param_value("epoch") == "best"; }

#define GANTRY_ASSIGN_QUERY(var, type, req, name) \
  auto var##_or = QueryInt<type>(req, name);      \
  if (!var##_or.ok()) return var##_or.status();   \
  const std::optional<type> var = *var##_or

// Runs one unary call: `fn` returns StatusOr<Message>; logs and counts it,
// replies with write(message, res) or the error.
template <typename Fn, typename Write>
void Unary(const Calls& calls, const char* method, const std::string& job_id, Response& res,
           Fn&& fn, Write&& write) {
  const auto start = Clock::now();
  auto result = fn();
  const grpc::Status status = ToGrpcStatus(result.status());
  calls.Log(method, job_id, status, start);
  if (!status.ok()) return ReplyError(res, status);
  write(*result, res);
}

// ... replying with the message's JSON.
template <typename Fn>
void Unary(const Calls& calls, const char* method, const std::string& job_id, Response& res,
           Fn&& fn) {
  Unary(calls, method, job_id, res, std::forward<Fn>(fn),
        [](const google::protobuf::Message& m, Response& r) { r.set_content(ToJson(m), kJson); });
}

std::string JobId(const Request& req) { return req.matches.size() > 1 ? req.matches[1] : ""; }

bool WantsCsv(const Request& req) {
  return req.get_header_value("Accept").find("text/csv") != std::string::npos;
}

// Points as CSV, the header `names` (Dataset.columns) when there is one per
// dimension, else x0, x1, ...
std::string ToCsv(const v1::Points& points, const google::protobuf::RepeatedPtrField<std::string>& names) {
  const int dim = std::max(1, points.dim());
  std::string out;
  for (int c = 0; c < dim; ++c) {
    out += c ? "," : "";
    out += names.size() == dim ? CsvField(names[c]) : "x" + std::to_string(c);
  }
  out += '\n';
  char buf[32];
  for (int i = 0; i < points.values_size(); ++i) {
    const int n = std::snprintf(buf, sizeof buf, "%.9g", points.values(i));
    out.append(buf, static_cast<size_t>(n));
    out += (i % dim == dim - 1) ? '\n' : ',';
  }
  return out;
}

// Last-Event-ID: N resumes at N + 1; else ?from_seq= (default 0: from the start).
StatusOr<int64_t> FromSeq(const Request& req) {
  if (req.has_header("Last-Event-ID")) {
    const std::string text = req.get_header_value("Last-Event-ID");
    int64_t last = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), last);
    if (ec != std::errc() || end != text.data() + text.size() || last < 0 ||
        last == std::numeric_limits<int64_t>::max()) {
      return Status::InvalidArgument("Last-Event-ID: '" + SafeText(text) +
                                     "' is not the seq of an event (an integer from 0 to " +
                                     std::to_string(std::numeric_limits<int64_t>::max() - 1) +
                                     ")");
    }
    return last + 1;
  }
  auto from = QueryInt<int64_t>(req, "from_seq");
  if (!from.ok()) return from.status();
  return from->value_or(0);
}

void Events(Calls& calls, EventStreams& streams, const Request& req, Response& res) {
  const std::string id = JobId(req);
  auto from_seq = FromSeq(req);
  v1::WatchJobRequest request;
  request.set_job_id(id);
  if (from_seq.ok()) request.set_from_seq(*from_seq);
  auto cursor = from_seq.ok() ? calls.WatchJob(request)
                              : StatusOr<std::unique_ptr<EventCursor>>(from_seq.status());
  if (!cursor.ok()) {
    const grpc::Status status = ToGrpcStatus(cursor.status());
    calls.Log("WatchJob(http)", id, status, Clock::now());
    return ReplyError(res, status);
  }
  const int64_t terminal = (*cursor)->terminal_seq();
  if (terminal > 0 && request.from_seq() > terminal) {
    // Everything was sent: 204 tells EventSource not to reconnect.
    res.status = 204;
    calls.Log("WatchJob(http)", id, grpc::Status::OK, Clock::now());
    return;
  }
  if (!streams.TryReserve()) {
    const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                              streams.stopped()
                                  ? std::string("the server is shutting down; reconnect to resume")
                                  : "too many event streams are open (--http-max-event-streams " +
                                        std::to_string(streams.max_streams()) + "); retry later");
    calls.Log("WatchJob(http)", id, status, Clock::now());
    res.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
    return ReplyError(res, status);
  }
  streams.Serve(std::move(cursor).value(), id, res);
}

}  // namespace

void ReplyError(Response& res, const grpc::Status& status, int http_status) {
  res.status = http_status != 0 ? http_status : HttpStatusOf(status.error_code());
  res.set_content("{\"error\":{\"code\":" + std::to_string(res.status) + ",\"status\":\"" +
                      GrpcCodeName(status.error_code()) +
                      "\",\"message\":" + JsonString(status.error_message()) + "}}\n",
                  kJson);
}

void RegisterApiRoutes(HttpRouter& server, Calls& calls, EventStreams& streams) {
  constexpr char kJob[] = R"(/v1/jobs/([^/:]+))";
  const std::string job = kJob;

  server.Post("/v1/jobs", [&calls](const Request& req, Response& res) {
    Unary(calls, "CreateJob", "", res, [&]() -> StatusOr<v1::Job> {
      v1::CreateJobRequest request;
      GANTRY_RETURN_IF_ERROR(ParseBody(req, &request));
      return calls.CreateJob(req.caller, request);
    });
  });

  server.Get("/v1/jobs", [&calls](const Request& req, Response& res) {
    Unary(calls, "ListJobs", "", res, [&]() -> StatusOr<v1::ListJobsResponse> {
      v1::ListJobsRequest request;
      GANTRY_ASSIGN_QUERY(page_size, int32_t, req, "page_size");
      if (page_size) request.set_page_size(*page_size);
      request.set_page_token(req.get_param_value("page_token"));
      request.set_label_selector(RawQueryValue(req, "label_selector"));
      request.set_owner(req.get_param_value("owner"));
      auto view = QueryView(req);
      if (!view.ok()) return view.status();
      request.set_view(*view);
      if (req.has_param("state")) {
        // running, RUNNING or JOB_STATE_RUNNING (any case).
        auto state = ParseEnumName(*v1::JobState_descriptor(), req.get_param_value("state"), "state");
        if (!state.ok()) return state.status();
        request.set_state(static_cast<v1::JobState>((*state)->number()));
      }
      return calls.ListJobs(request);
    });
  });

  server.Get(job, [&calls](const Request& req, Response& res) {
    v1::GetJobRequest request;
    request.set_job_id(JobId(req));
    Unary(calls, "GetJob", request.job_id(), res, [&]() -> StatusOr<v1::Job> {
      auto view = QueryView(req);
      if (!view.ok()) return view.status();
      request.set_view(*view);
      return calls.GetJob(request);
    });
  });

  server.Post(job + ":cancel", [&calls](const Request& req, Response& res) {
    v1::CancelJobRequest request;
    request.set_job_id(JobId(req));
    Unary(calls, "CancelJob", request.job_id(), res, [&] { return calls.CancelJob(req.caller, request); });
  });

  server.Delete(job, [&calls](const Request& req, Response& res) {
    v1::DeleteJobRequest request;
    request.set_job_id(JobId(req));
    Unary(calls, "DeleteJob", request.job_id(), res, [&] { return calls.DeleteJob(req.caller, request); });
  });

  server.Get(job + "/samples", [&calls](const Request& req, Response& res) {
    const std::string id = JobId(req);
    Unary(
        calls, "Sample", id, res,
        [&]() -> StatusOr<v1::SampleResponse> {
          v1::SampleRequest request;
          request.set_job_id(id);
          GANTRY_ASSIGN_QUERY(count, int64_t, req, "count");
          GANTRY_ASSIGN_QUERY(seed, uint64_t, req, "seed");
          request.set_count(count.value_or(1000));
          if (seed) request.set_seed(*seed);
          for (const std::string& w : RawQueryValues(req, "where")) {
            const size_t eq = w.find('=');
            if (eq == std::string::npos || eq == 0) {
              return Status::InvalidArgument("where: '" + w.substr(0, 64) + "' is not COLUMN=VALUE");
            }
            v1::Condition* c = request.add_where();
            c->set_column(w.substr(0, eq));
            c->set_value(w.substr(eq + 1));
          }
          if (BestEpoch(req)) {
            request.set_best(true);
          } else {
            GANTRY_ASSIGN_QUERY(epoch, int64_t, req, "epoch");
            if (epoch) request.set_epoch(*epoch);
          }
          // A quick one on this thread, as gRPC's: the pool's hop would cost more.
          std::optional<SnapshotChoice> chosen;  // what QuickSample read, for Sample
          if (auto quick = calls.QuickSample(request, &chosen)) return std::move(*quick);
          return calls.OnPool<v1::SampleResponse>([&] { return calls.Sample(request, chosen); });
        },
        [&](const v1::SampleResponse& response, Response& r) {
          r.set_header("Vary", "Accept");  // CSV or JSON by Accept: caches keep both apart
          if (!WantsCsv(req)) return r.set_content(ToJson(response), kJson);
          r.set_header("Content-Disposition", "attachment; filename=\"" + id + "-samples.csv\"");
          r.set_header("X-Gantry-Seed", std::to_string(response.seed()));
          r.set_header("X-Gantry-Epoch", std::to_string(response.epoch()));
          if (response.has_rows()) return r.set_content(RowsToCsv(response.rows()), "text/csv");
          // The job's names for its dimensions, if it has them.
          v1::GetJobRequest get;
          get.set_job_id(id);
          static const google::protobuf::RepeatedPtrField<std::string> kUnnamed;
          auto job = calls.GetJob(get);
          r.set_content(ToCsv(response.points(), job.ok() ? job->spec().dataset().columns() : kUnnamed),
                        "text/csv");
        });
  });

  server.Get(job + "/dataset", [&calls](const Request& req, Response& res) {
    const std::string id = JobId(req);
    Unary(calls, "GetDataset", id, res, [&]() -> StatusOr<v1::GetDatasetResponse> {
      v1::GetDatasetRequest request;
      request.set_job_id(id);
      GANTRY_ASSIGN_QUERY(max_points, int64_t, req, "max_points");
      if (max_points) request.set_max_points(*max_points);
      return calls.OnPool<v1::GetDatasetResponse>([&] { return calls.GetDataset(request); });
    });
  });

  server.Get(job + "/report", [&calls](const Request& req, Response& res) {
    const std::string id = JobId(req);
    Unary(calls, "GetTableReport", id, res, [&]() -> StatusOr<v1::TableReport> {
      v1::GetTableReportRequest request;
      request.set_job_id(id);
      if (!BestEpoch(req)) {
        GANTRY_ASSIGN_QUERY(epoch, int64_t, req, "epoch");
        if (epoch) request.set_epoch(*epoch);
      }
      return calls.OnPool<v1::TableReport>([&] { return calls.GetTableReport(request); });
    });
  });

  server.Get(job + "/generator", [&calls](const Request& req, Response& res) {
    const std::string id = JobId(req);
    const auto start = Clock::now();
    StatusOr<ExportedGenerator> exported = [&]() -> StatusOr<ExportedGenerator> {
      v1::ExportGeneratorRequest request;
      request.set_job_id(id);
      if (BestEpoch(req)) {
        request.set_best(true);
      } else {
        GANTRY_ASSIGN_QUERY(epoch, int64_t, req, "epoch");
        if (epoch) request.set_epoch(*epoch);
      }
      return calls.OnPool<ExportedGenerator>([&] { return calls.ExportGenerator(request); });
    }();
    const grpc::Status status = ToGrpcStatus(exported.status());
    calls.Log("ExportGenerator", id, status, start);
    if (!status.ok()) return ReplyError(res, status);
    res.set_header("Content-Disposition", "attachment; filename=\"" + id + "-generator-epoch" +
                                              std::to_string(exported->epoch) + ".pt\"");
    res.set_header("X-Gantry-Epoch", std::to_string(exported->epoch));
    res.set_content(std::move(exported->bytes), "application/octet-stream");
  });

  server.Get(job + "/snapshots", [&calls](const Request& req, Response& res) {
    v1::ListSnapshotsRequest request;
    request.set_job_id(JobId(req));
    Unary(calls, "ListSnapshots", request.job_id(), res, [&] { return calls.ListSnapshots(request); });
  });

  server.Get("/v1/server", [&calls](const Request& req, Response& res) {
    Unary(calls, "GetServerInfo", "", res,
          [&]() -> StatusOr<v1::ServerInfo> { return calls.GetServerInfo(req.caller); });
  });

  server.Get("/v1/audit", [&calls](const Request& req, Response& res) {
    Unary(calls, "ListAudit", "", res, [&]() -> StatusOr<v1::ListAuditResponse> {
      v1::ListAuditRequest request;
      GANTRY_ASSIGN_QUERY(page_size, int32_t, req, "page_size");
      if (page_size) request.set_page_size(*page_size);
      request.set_page_token(req.get_param_value("page_token"));
      request.set_principal(req.get_param_value("principal"));
      request.set_target(req.get_param_value("target"));
      return calls.ListAudit(req.caller, request);
    });
  });

  // Webhooks: POST's body is the Webhook itself (url, events, filters).
  constexpr char kWebhook[] = R"(/v1/webhooks/([^/:]+))";
  server.Post("/v1/webhooks", [&calls](const Request& req, Response& res) {
    Unary(calls, "CreateWebhook", "", res, [&]() -> StatusOr<v1::Webhook> {
      v1::CreateWebhookRequest request;
      GANTRY_RETURN_IF_ERROR(ParseBody(req, request.mutable_webhook()));
      return calls.CreateWebhook(req.caller, request);
    });
  });
  server.Get("/v1/webhooks", [&calls](const Request& req, Response& res) {
    Unary(calls, "ListWebhooks", "", res, [&] { return calls.ListWebhooks(req.caller); });
  });
  server.Delete(kWebhook, [&calls](const Request& req, Response& res) {
    v1::DeleteWebhookRequest request;
    request.set_webhook_id(JobId(req));  // the path's id
    Unary(calls, "DeleteWebhook", "", res, [&] { return calls.DeleteWebhook(req.caller, request); });
  });
  server.Get(std::string(kWebhook) + "/deliveries", [&calls](const Request& req, Response& res) {
    Unary(calls, "ListDeliveries", "", res, [&]() -> StatusOr<v1::ListDeliveriesResponse> {
      v1::ListDeliveriesRequest request;
      request.set_webhook_id(JobId(req));  // the path's id
      GANTRY_ASSIGN_QUERY(page_size, int32_t, req, "page_size");
      if (page_size) request.set_page_size(*page_size);
      request.set_page_token(req.get_param_value("page_token"));
      return calls.ListDeliveries(req.caller, request);
    });
  });

  // Studies: POST's body is a CreateStudyRequest (spec, name, labels);
  // :replay's body, if any, names the trial ({"trial": 3}).
  constexpr char kStudy[] = R"(/v1/studies/([^/:]+))";
  const std::string study = kStudy;
  server.Post("/v1/studies", [&calls](const Request& req, Response& res) {
    Unary(calls, "CreateStudy", "", res, [&]() -> StatusOr<v1::Study> {
      v1::CreateStudyRequest request;
      GANTRY_RETURN_IF_ERROR(ParseBody(req, &request));
      return calls.CreateStudy(req.caller, request);
    });
  });
  server.Get("/v1/studies", [&calls](const Request& req, Response& res) {
    Unary(calls, "ListStudies", "", res, [&]() -> StatusOr<v1::ListStudiesResponse> {
      v1::ListStudiesRequest request;
      GANTRY_ASSIGN_QUERY(page_size, int32_t, req, "page_size");
      if (page_size) request.set_page_size(*page_size);
      request.set_page_token(req.get_param_value("page_token"));
      request.set_owner(req.get_param_value("owner"));
      return calls.ListStudies(request);
    });
  });
  server.Get(study, [&calls](const Request& req, Response& res) {
    v1::GetStudyRequest request;
    request.set_study_id(JobId(req));  // the path's id
    Unary(calls, "GetStudy", request.study_id(), res, [&] { return calls.GetStudy(request); });
  });
  server.Post(study + ":cancel", [&calls](const Request& req, Response& res) {
    v1::CancelStudyRequest request;
    request.set_study_id(JobId(req));
    Unary(calls, "CancelStudy", request.study_id(), res,
          [&] { return calls.CancelStudy(req.caller, request); });
  });
  server.Delete(study, [&calls](const Request& req, Response& res) {
    v1::DeleteStudyRequest request;
    request.set_study_id(JobId(req));
    Unary(calls, "DeleteStudy", request.study_id(), res,
          [&] { return calls.DeleteStudy(req.caller, request); });
  });
  server.Post(study + ":replay", [&calls](const Request& req, Response& res) {
    Unary(calls, "ReplayTrial", JobId(req), res, [&]() -> StatusOr<v1::Job> {
      v1::ReplayTrialRequest request;
      if (!req.body.empty()) GANTRY_RETURN_IF_ERROR(ParseBody(req, &request));
      request.set_study_id(JobId(req));
      return calls.ReplayTrial(req.caller, request);
    });
  });

  server.Get(job + "/events", [&calls, &streams](const Request& req, Response& res) {
    Events(calls, streams, req, res);
  });

  constexpr char kTable[] = R"(/v1/tables/([^/:]+))";

  server.Post("/v1/tables", [&calls](const Request& req, Response& res) {
    Unary(calls, "UploadTable", "", res, [&]() -> StatusOr<v1::TableInfo> {
      // Raw values: a name may hold '=' and a tab delimiter comes as %09.
      return calls.OnPool<v1::TableInfo>([&] {
        return calls.UploadTable(req.caller, RawQueryValue(req, "name"),
                                 RawQueryValue(req, "delimiter"), req.body);
      });
    });
  });

  server.Get("/v1/tables", [&calls](const Request& req, Response& res) {
    Unary(calls, "ListTables", "", res, [&]() -> StatusOr<v1::ListTablesResponse> {
      v1::ListTablesRequest request;
      GANTRY_ASSIGN_QUERY(page_size, int32_t, req, "page_size");
      if (page_size) request.set_page_size(*page_size);
      request.set_page_token(req.get_param_value("page_token"));
      return calls.ListTables(request);
    });
  });

  server.Get(kTable, [&calls](const Request& req, Response& res) {
    v1::GetTableRequest request;
    request.set_table_id(JobId(req));
    Unary(calls, "GetTable", request.table_id(), res, [&] { return calls.GetTable(request); });
  });

  server.Delete(kTable, [&calls](const Request& req, Response& res) {
    v1::DeleteTableRequest request;
    request.set_table_id(JobId(req));
    Unary(calls, "DeleteTable", request.table_id(), res,
          [&] { return calls.DeleteTable(req.caller, request); });
  });
}

}  // namespace gantry
