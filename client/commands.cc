#include "client/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "client/args.h"
#include "client/dashboard.h"
#include "client/exit_codes.h"
#include "client/output.h"
#include "client/plot.h"
#include "core/api_limits.h"
#include "core/json_text.h"
#include "proto/job_state.h"
#include "proto/watch_metadata.h"

namespace gantry::cli {
namespace {

// The largest Job a BASIC view (no user points) can be: its latest epoch's
// preview, at most 4096 points of dim 64 (JobSpec.preview_points and
// Dataset.points in gantry.proto), 1 MiB of floats, plus a generous 1 MiB for
// everything else (the spec without points, name, error, times).
constexpr int64_t kMaxBasicJobBytes = int64_t{4096} * 64 * sizeof(float) + (1 << 20);
// Jobs per ListJobs page (BASIC view): a page of the largest jobs still fits
// the channel's receive limit.
constexpr int32_t kListPageSize = static_cast<int32_t>(kMaxReceiveMessageBytes / kMaxBasicJobBytes);
static_assert(kListPageSize >= 1 && kListPageSize <= 1000, "ListJobsRequest.page_size is 1..1000");
static_assert(kListPageSize * kMaxBasicJobBytes <= kMaxReceiveMessageBytes);


// JobState's values 1..5 as the CLI spells them.
const std::vector<std::string> kStateNames = {"queued", "running", "succeeded", "failed", "cancelled"};

// Fetches every point of a sample: unary when it fits one message (the job's
// dimension is known from its spec), else streamed.
grpc::Status FetchSample(Connection& conn, const v1::SampleRequest& req, int dim_hint,
                         v1::SampleResponse* out) {
  if (req.count() * std::max(1, dim_hint) <= kMaxMessageValues) {
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    return conn.stub().Sample(&ctx, req, out);
  }
  grpc::ClientContext ctx;
  conn.Authorize(&ctx);
  auto reader = conn.stub().SampleStream(&ctx, req);
  v1::SampleResponse chunk;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) {
      out->set_seed(chunk.seed());
      out->set_epoch(chunk.epoch());
      out->mutable_points()->set_dim(chunk.points().dim());
      first = false;
    }
    out->mutable_points()->mutable_values()->MergeFrom(chunk.points().values());
  }
  return reader->Finish();
}

// Table rows of a SampleStream, chunk by chunk into one Rows: each column's
// arrays appended, its missing mask padded where a chunk had none.
grpc::Status FetchRows(Connection& conn, const v1::SampleRequest& req, v1::SampleResponse* out) {
  grpc::ClientContext ctx;
  conn.Authorize(&ctx);
  auto reader = conn.stub().SampleStream(&ctx, req);
  v1::SampleResponse chunk;
  v1::Rows* rows = out->mutable_rows();
  while (reader->Read(&chunk)) {
    const v1::Rows& c = chunk.rows();
    if (rows->columns_size() == 0) {
      out->set_seed(chunk.seed());
      out->set_epoch(chunk.epoch());
      for (const auto& col : c.columns()) {
        v1::Column* o = rows->add_columns();
        o->set_name(col.name());
        o->set_type(col.type());
      }
    }
    for (int i = 0; i < c.columns_size() && i < rows->columns_size(); ++i) {
      const v1::Column& in = c.columns(i);
      v1::Column* o = rows->mutable_columns(i);
      if (in.missing_size() > 0 || o->missing_size() > 0) {
        while (o->missing_size() < rows->count()) o->add_missing(false);
        for (int64_t r = 0; r < c.count(); ++r) o->add_missing(in.missing_size() > r && in.missing(static_cast<int>(r)));
      }
      o->mutable_doubles()->MergeFrom(in.doubles());
      o->mutable_ints()->MergeFrom(in.ints());
      o->mutable_strings()->MergeFrom(in.strings());
      o->mutable_bools()->MergeFrom(in.bools());
    }
    rows->set_count(rows->count() + c.count());
  }
  return reader->Finish();
}

// Rows as CSV (the header, missing cells empty) or JSON lines.
std::string WriteRows(const v1::Rows& rows, bool json) {
  std::ostringstream os;
  if (!json) {
    for (int c = 0; c < rows.columns_size(); ++c) os << (c ? "," : "") << CsvField(rows.columns(c).name());
    os << "\n";
  }
  for (int r = 0; r < static_cast<int>(rows.count()); ++r) {
    if (json) os << "{";
    for (int c = 0; c < rows.columns_size(); ++c) {
      const v1::Column& col = rows.columns(c);
      const bool missing = col.missing_size() > r && col.missing(r);
      if (json) os << (c ? "," : "") << JsonString(col.name()) << ":";
      if (!json && c) os << ",";
      if (missing) {
        if (json) os << "null";
        continue;
      }
      if (col.type() == v1::COLUMN_TYPE_BOOLEAN && col.bools_size() > r) {
        if (json) {
          os << (col.bools(r) ? "true" : "false");
        } else {
          os << CsvField(col.strings_size() > r ? col.strings(r) : (col.bools(r) ? "true" : "false"));
        }
      } else if (col.strings_size() > r) {
        os << (json ? JsonString(col.strings(r)) : CsvField(col.strings(r)));
      } else if (col.ints_size() > r) {
        os << col.ints(r);
      } else if (col.doubles_size() > r) {
        char buf[32];  // the shortest text that reads back as the same double
        const auto end = std::to_chars(buf, buf + sizeof buf, col.doubles(r)).ptr;
        os << std::string_view(buf, static_cast<size_t>(end - buf));
      }
    }
    os << (json ? "}\n" : "\n");
  }
  return os.str();
}

// Tells stderr the seed and epoch that reproduce a sample (the server picks
// the seed when none was given).
void NoteSeed(const v1::SampleResponse& r) {
  std::cerr << "gantry: sample seed " << r.seed() << " (epoch " << r.epoch() << "); --seed "
            << r.seed() << " --epoch " << r.epoch() << " reproduces it\n";
}

// Dimensions a and b of every point (both < set.dim).
PointSet Project(const PointSet& set, int a, int b) {
  PointSet out{2, {}};
  const size_t dim = static_cast<size_t>(std::max(1, set.dim));
  for (size_t i = 0; i + dim <= set.values.size(); i += dim) {
    out.values.push_back(set.values[i + static_cast<size_t>(a)]);
    out.values.push_back(set.values[i + static_cast<size_t>(b)]);
  }
  return out;
}

// The name of dimension d: the job's (Dataset.columns, one per dimension) or xD.
std::string DimName(const google::protobuf::RepeatedPtrField<std::string>& names, int dim, int d) {
  return names.size() == dim && d < dim ? names[d] : "x" + std::to_string(d);
}

std::string WriteSample(const v1::SampleResponse& r, const std::string& job_id, bool json,
                        const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::ostringstream os;
  os.precision(9);
  const int dim = std::max(1, r.points().dim());
  const auto& v = r.points().values();
  if (json) {
    os << "{\"job_id\":\"" << job_id << "\",\"seed\":" << r.seed() << ",\"epoch\":" << r.epoch()
       << ",\"dim\":" << dim << ",\"points\":[";
    for (int i = 0; i + dim <= v.size(); i += dim) {
      os << (i ? "," : "") << "[";
      for (int d = 0; d < dim; ++d) os << (d ? "," : "") << v[i + d];
      os << "]";
    }
    os << "]}\n";
  } else {
    for (int d = 0; d < dim; ++d) os << (d ? "," : "") << CsvField(DimName(names, dim, d));
    os << "\n";
    for (int i = 0; i + dim <= v.size(); i += dim) {
      for (int d = 0; d < dim; ++d) os << (d ? "," : "") << v[i + d];
      os << "\n";
    }
  }
  return os.str();
}

// BASIC (no user points) unless the caller needs the points themselves.
grpc::Status GetJobProto(Connection& conn, const std::string& id, v1::Job* job,
                         v1::JobView view = v1::JOB_VIEW_BASIC) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::GetJobRequest req;
  req.set_job_id(id);
  req.set_view(view);
  return conn.stub().GetJob(&ctx, req, job);
}

}  // namespace

std::string WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  const auto failed = [&](const std::string& what, const std::string& file) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot " + what + " " + file + ": " + reason;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {  // the only component that can be missing is the directory
    const size_t slash = path.rfind('/');
    return "no such directory: " + (slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1));
  }
  if (fd < 0) return "cannot create " + path + " (its temporary file " + tmp + "): " + std::strerror(errno);
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      const std::string err = failed("write", tmp);
      ::close(fd);
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string err = failed("write", tmp);
    ::close(fd);
    return err;
  }
  if (::close(fd) != 0) return failed("write", tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return failed("rename " + tmp + " to", path);
  return "";
}


namespace {

// What SIGINT prints while submit --watch follows its job; written before
// the handler is installed, read by it (only async-signal-safe calls there).
char g_interrupt_note[256];
size_t g_interrupt_note_size = 0;
bool g_interrupt_newline = false;  // a progress line is being rewritten on stdout

extern "C" void OnInterrupt(int) {
  if (g_interrupt_newline) (void)!::write(STDOUT_FILENO, "\n", 1);
  (void)!::write(STDERR_FILENO, g_interrupt_note, g_interrupt_note_size);
  ::_exit(kExitInterrupted);
}

// Ctrl-C from now on ends the line and says that the job goes on.
void NoteJobGoesOnWhenInterrupted(const std::string& id, bool terminal) {
  const std::string note = "gantry: interrupted; the job goes on: gantry watch " + id +
                           " (gantry cancel " + id + " stops it)\n";
  g_interrupt_note_size = std::min(note.size(), sizeof g_interrupt_note);
  std::memcpy(g_interrupt_note, note.data(), g_interrupt_note_size);
  g_interrupt_newline = terminal;
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
}

}  // namespace

int Submit(Connection& conn, const SubmitArgs& args) {
  v1::CreateJobRequest req;
  *req.mutable_spec() = args.spec;
  req.set_name(args.name);
  req.set_request_id(args.request_id);
  req.mutable_labels()->insert(args.labels.begin(), args.labels.end());
  if (!args.priority.empty()) {
    size_t index = 0;
    std::string error;
    if (!ParseEnumName(args.priority, {"low", "normal", "high"}, "PRIORITY_", &index, &error)) {
      std::cerr << "gantry: submit: --priority " << error << "\n";
      return kExitUsage;
    }
    req.set_priority(static_cast<v1::Priority>(index + 1));
  }
  v1::Job job;
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  const grpc::Status s = conn.stub().CreateJob(&ctx, req, &job);
  if (!s.ok()) return conn.Fail("submit", s);
  if (JsonOut(conn)) {
    std::cout << ToJson(job) << std::endl;
  } else {
    std::cout << job.id() << std::endl;
  }
  if (!args.watch) return kExitOk;
  NoteJobGoesOnWhenInterrupted(job.id(), !JsonOut(conn) && isatty(STDOUT_FILENO));
  WatchArgs w;
  w.id = job.id();
  w.established = true;  // CreateJob reached the server
  return Watch(conn, w);
}

int GetJob(Connection& conn, const std::string& id, bool full) {
  v1::Job job;
  const grpc::Status s = GetJobProto(conn, id, &job, full ? v1::JOB_VIEW_FULL : v1::JOB_VIEW_BASIC);
  if (!s.ok()) return conn.Fail("get " + id, s);
  std::cout << (JsonOut(conn) ? ToJson(job) + "\n" : DescribeJob(job));
  return kExitOk;
}

grpc::Status ForEachJob(Connection& conn, v1::ListJobsRequest req,
                        const std::function<bool(const v1::Job&)>& fn) {
  req.set_page_size(kListPageSize);
  req.set_view(v1::JOB_VIEW_BASIC);
  for (;;) {
    v1::ListJobsResponse resp;
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    const grpc::Status s = conn.stub().ListJobs(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && req.page_size() > 1) {
      // Over the receive limit: a server that ignores the view sent user
      // points. Ask again for half as many jobs.
      req.set_page_size(req.page_size() / 2);
      continue;
    }
    if (!s.ok()) return s;
    for (const auto& job : resp.jobs()) {
      if (!fn(job)) return grpc::Status::OK;
    }
    if (resp.next_page_token().empty()) return grpc::Status::OK;
    req.set_page_token(resp.next_page_token());
  }
}

int ListJobs(Connection& conn, const std::string& state, const std::string& selector,
             const std::string& owner) {
  v1::ListJobsRequest req;
  req.set_label_selector(selector);
  req.set_owner(owner);
  if (!state.empty()) {
    size_t index = 0;
    std::string error;
    if (!ParseEnumName(state, kStateNames, "JOB_STATE_", &index, &error)) {
      std::cerr << "gantry: list: --state " << error << "\n";
      return kExitUsage;
    }
    req.set_state(static_cast<v1::JobState>(index + 1));
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "STATE", "EPOCH", "LOSS_D", "LOSS_G", "AGE"}};
  std::vector<std::string> owners;
  const grpc::Status s = ForEachJob(conn, req, [&](const v1::Job& job) {
    if (JsonOut(conn)) {
      std::cout << ToJson(job) << "\n";
    } else {
      rows.emplace_back();
      JobTableRow(job, &rows.back());
      owners.push_back(job.owner());
    }
    return true;
  });
  if (!s.ok()) {
    std::cout << std::flush;
    return conn.Fail("list", s);
  }
  if (!JsonOut(conn)) {
    AddOwnerColumn(&rows, owners);
    std::cout << Table(rows);
  }
  std::cout << std::flush;
  return kExitOk;
}

int Watch(Connection& conn, const WatchArgs& args) {
  using Clock = std::chrono::steady_clock;
  Progress progress(!JsonOut(conn) && isatty(STDOUT_FILENO));
  int64_t next = args.from_seq;
  std::optional<v1::JobState> end;
  const auto reconnect = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::clamp(args.reconnect_seconds, 0.0, 1e9)));
  // When the connection was lost; unset while a stream works. Only a stream
  // that delivered an event, or that the server accepted and that stayed
  // open for a while, resets it, so a server that accepts connections but
  // fails every call is given up on too.
  std::optional<Clock::time_point> lost_at;
  // Whether the server ever accepted a stream (its initial metadata) or sent
  // an event; until then a failure is reported at once, like any other
  // command's.
  bool established = args.established;
  grpc::Status last;
  const auto give_up = [&]() {
    progress.Done();
    std::cerr << "gantry: watch " << args.id << ": gave up after --reconnect-timeout "
              << args.reconnect_seconds << " s: cannot reach gantryd at " << conn.target() << " ("
              << (last.error_message().empty() ? "not connected" : last.error_message()) << ")\n";
    return kExitUnavailable;
  };
  for (int failures = 0;; ++failures) {
    if (lost_at.has_value()) {
      // Every retry waits for the channel only as long as is left.
      const auto left = *lost_at + reconnect - Clock::now();
      if (left <= Clock::duration::zero()) return give_up();
      if (!conn.WaitForConnected(std::chrono::system_clock::now() + left)) return give_up();
    }
    grpc::ClientContext ctx;
    conn.Authorize(&ctx);
    v1::WatchJobRequest req;
    req.set_job_id(args.id);
    req.set_from_seq(next);
    const auto opened = Clock::now();
    auto reader = conn.stub().WatchJob(&ctx, req);
    // Sent at once by a server that accepted the call; a call refused or
    // failed before that (unreachable, unknown job) ends without it.
    reader->WaitForInitialMetadata();
    const bool accepted = ctx.GetServerInitialMetadata().count(kWatchMetadata) > 0;
    v1::JobEvent ev;
    bool got_event = false;
    while (reader->Read(&ev)) {
      got_event = true;
      next = ev.seq() + 1;
      if (JsonOut(conn)) {
        std::cout << ToJson(ev) << std::endl;
      } else {
        progress.Event(ev);
      }
      if (ev.has_state()) {
        const auto st = ev.state().state();
        if (IsTerminalState(st)) end = st;
      }
    }
    last = reader->Finish();
    if (last.ok() || end.has_value()) break;
    const bool transient = last.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           last.error_code() == grpc::StatusCode::INTERNAL ||
                           last.error_code() == grpc::StatusCode::UNKNOWN;
    if (!transient) {
      progress.Done();
      return conn.Fail("watch " + args.id, last);
    }
    const auto now = Clock::now();
    const bool worked = got_event || (accepted && now - opened >= std::chrono::seconds(1));
    established = established || accepted || got_event;
    if (!established) {
      progress.Done();
      return conn.Fail("watch " + args.id, last);
    }
    if (worked || !lost_at.has_value()) lost_at = now;
    if (got_event) failures = 0;
    const auto left = *lost_at + reconnect - now;
    if (left <= Clock::duration::zero()) return give_up();
    progress.Done();
    std::cerr << "gantry: watch " << args.id << ": stream ended (" << last.error_message()
              << "); resuming from seq " << next << "\n";
    const auto backoff =
        std::chrono::milliseconds(std::min(2000, 100 * (1 << std::min(failures, 4))));
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, left));
  }
  progress.Done();
  if (!end.has_value()) return kExitOk;  // from_seq past the end of an ended job
  if (*end == v1::JOB_STATE_FAILED) return kExitJobFailed;
  if (*end == v1::JOB_STATE_CANCELLED) return kExitJobCancelled;
  return kExitOk;
}

int Sample(Connection& conn, const SampleArgs& args) {
  v1::Job job;
  grpc::Status s = GetJobProto(conn, args.id, &job);
  if (!s.ok()) return conn.Fail("sample " + args.id, s);
  const int dim = job.spec().dataset().kind() == v1::DATASET_KIND_USER
                      ? job.spec().dataset().points().dim()
                      : 2;
  v1::SampleRequest req;
  req.set_job_id(args.id);
  req.set_count(args.count);
  if (args.seed) req.set_seed(*args.seed);
  if (args.epoch) req.set_epoch(*args.epoch);
  req.set_best(args.best);
  for (const auto& [column, value] : args.where) {
    v1::Condition* c = req.add_where();
    c->set_column(column);
    c->set_value(value);
  }
  v1::SampleResponse resp;
  if (job.spec().dataset().kind() == v1::DATASET_KIND_TABLE) {
    if (!args.plot.empty()) {
      std::cerr << "gantry: sample: --plot draws point clouds; job " << args.id << " is a table job\n";
      return kExitUsage;
    }
    s = FetchRows(conn, req, &resp);
    if (!s.ok()) return conn.Fail("sample " + args.id, s);
    const std::string text = WriteRows(resp.rows(), JsonOut(conn));
    if (!JsonOut(conn)) NoteSeed(resp);
    if (args.out.empty()) {
      std::cout << text << std::flush;
    } else {
      std::ofstream f(args.out);
      f << text;
      if (!f) {
        std::cerr << "gantry: sample: cannot write " << args.out << "\n";
        return kExitUsage;
      }
      std::cerr << "wrote " << resp.rows().count() << " rows to " << args.out << "\n";
    }
    return kExitOk;
  }
  if (!args.where.empty()) {
    std::cerr << "gantry: sample: --where applies to table jobs; job " << args.id << " trains on points\n";
    return kExitUsage;
  }
  s = FetchSample(conn, req, dim, &resp);
  if (!s.ok()) return conn.Fail("sample " + args.id, s);
  const auto& names = job.spec().dataset().columns();
  const std::string text = WriteSample(resp, args.id, JsonOut(conn), names);
  if (!JsonOut(conn)) NoteSeed(resp);  // JSON carries it
  if (args.out.empty()) {
    if (args.plot.empty()) std::cout << text << std::flush;
  } else {
    std::ofstream f(args.out);
    f << text;
    if (!f) {
      std::cerr << "gantry: sample: cannot write " << args.out << "\n";
      return kExitUsage;
    }
    std::cerr << "wrote " << args.count << " points to " << args.out << "\n";
  }
  if (!args.plot.empty()) {
    v1::GetDatasetRequest dreq;
    dreq.set_job_id(args.id);
    dreq.set_max_points(std::min<int64_t>(5000, kMaxMessageValues / std::max(1, dim)));
    v1::GetDatasetResponse data;
    grpc::ClientContext ctx;
    conn.Prepare(&ctx);
    s = conn.stub().GetDataset(&ctx, dreq, &data);
    if (!s.ok()) return conn.Fail("sample " + args.id, s);
    PointSet real{data.points().dim(), {data.points().values().begin(), data.points().values().end()}};
    PointSet gen{resp.points().dim(), {resp.points().values().begin(), resp.points().values().end()}};
    std::string title = "job " + args.id + ": " + std::to_string(args.count) +
                        " generated points, epoch " + std::to_string(resp.epoch()) + ", seed " +
                        std::to_string(resp.seed());
    const int shown = std::max(real.dim, gen.dim);
    std::string x_name = DimName(names, shown, 0), y_name = DimName(names, shown, 1);
    if (shown > 2 || args.dims != std::make_pair(0, 1)) {
      const auto [a, b] = args.dims;
      if (a >= shown || b >= shown) {
        std::cerr << "gantry: sample: --dims " << a << "," << b << ": the job's points have "
                  << shown << " dimensions (0.." << shown - 1 << ")\n";
        return kExitUsage;
      }
      real = Project(real, a, b);
      gen = Project(gen, a, b);
      x_name = DimName(names, shown, a);
      y_name = DimName(names, shown, b);
      title += ", " + x_name + " vs " + y_name + " of " + std::to_string(shown) + " dims";
    }
    const std::string err = PlotSamples(args.plot, title, real, gen, x_name, y_name);
    if (!err.empty()) {
      std::cerr << "gantry: sample: " << err << "\n";
      return kExitUsage;
    }
    std::cerr << "plotted to " << args.plot << "\n";
  }
  return kExitOk;
}

int Plot(Connection& conn, const std::string& id, const std::string& out) {
  v1::Job job;
  grpc::Status s = GetJobProto(conn, id, &job);
  if (!s.ok()) return conn.Fail("plot " + id, s);
  TrainingCurves curves;
  grpc::ClientContext ctx;
  conn.Authorize(&ctx);
  v1::WatchJobRequest req;
  req.set_job_id(id);
  auto reader = conn.stub().WatchJob(&ctx, req);
  v1::JobEvent ev;
  while (reader->Read(&ev)) {
    if (ev.has_epoch()) {
      curves.epoch.push_back(static_cast<double>(ev.epoch().epoch()));
      curves.loss_d.push_back(ev.epoch().loss_d());
      curves.loss_g.push_back(ev.epoch().loss_g());
      curves.quality.push_back(ev.epoch().quality());
    }
    if (ev.seq() >= job.last_seq()) {
      ctx.TryCancel();  // everything known when we asked; do not follow a running job
      break;
    }
  }
  s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) return conn.Fail("plot " + id, s);
  if (curves.epoch.empty()) {
    std::cerr << "gantry: plot " << id << ": the job has no finished epoch yet ("
              << StateName(job.state()) << ")\n";
    return kExitError;
  }
  const std::string err = PlotTraining(
      out, "job " + id + ": losses and quality, " + std::to_string(curves.epoch.size()) + " epochs",
      curves);
  if (!err.empty()) {
    std::cerr << "gantry: plot: " << err << "\n";
    return kExitUsage;
  }
  std::cerr << "plotted to " << out << "\n";
  return kExitOk;
}

namespace {

// Cancels one job; prints its line. The exit code.
int CancelOne(Connection& conn, const std::string& id) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::CancelJobRequest req;
  req.set_job_id(id);
  v1::Job job;
  const grpc::Status s = conn.stub().CancelJob(&ctx, req, &job);
  if (!s.ok()) return conn.Fail("cancel " + id, s);
  std::cout << (JsonOut(conn) ? ToJson(job) : "cancelling " + id) << std::endl;
  return kExitOk;
}

// Deletes one job; prints its line. The exit code.
int DeleteOne(Connection& conn, const std::string& id) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::DeleteJobRequest req;
  req.set_job_id(id);
  v1::DeleteJobResponse resp;
  const grpc::Status s = conn.stub().DeleteJob(&ctx, req, &resp);
  if (!s.ok()) return conn.Fail("delete " + id, s);
  std::cout << (JsonOut(conn) ? "{\"deleted\":" + JsonString(id) + "}" : "deleted " + id) << std::endl;
  return kExitOk;
}

// The ids, then the jobs `selector` matches whose state `wanted` accepts;
// each job goes through `act` once, in that order (an id given twice, or
// also matched, is not repeated).
int ForJobs(Connection& conn, const std::string& verb, const std::vector<std::string>& ids,
            const std::string& selector, const std::function<bool(v1::JobState)>& wanted,
            const std::string& wanted_words, const std::function<int(const std::string&)>& act) {
  std::vector<std::string> todo;
  std::unordered_set<std::string> seen;
  const auto add = [&](const std::string& id) {
    if (seen.insert(id).second) todo.push_back(id);
  };
  for (const std::string& id : ids) add(id);
  if (!selector.empty()) {
    v1::ListJobsRequest req;
    req.set_label_selector(selector);
    int64_t matched = 0, skipped = 0;
    const grpc::Status s = ForEachJob(conn, req, [&](const v1::Job& job) {
      ++matched;
      if (wanted(job.state())) {
        add(job.id());
      } else {
        ++skipped;
      }
      return true;
    });
    if (!s.ok()) return conn.Fail(verb, s);
    if (matched == 0) {
      std::cerr << "gantry: " << verb << ": no job has the labels " << selector << "\n";
      if (ids.empty()) return kExitNotFound;  // else the named jobs still go ahead
    }
    if (skipped > 0) {
      std::cerr << "gantry: " << verb << ": " << selector << ": skipping " << skipped << " of "
                << matched << " jobs that are not " << wanted_words << "\n";
    }
    if (skipped == matched && ids.empty()) {
      std::cerr << "gantry: " << verb << ": no job with the labels " << selector << " is "
                << wanted_words << "\n";
      return kExitNotFound;
    }
  }
  int rc = kExitOk;
  int64_t failed = 0;
  for (const std::string& id : todo) {
    const int r = act(id);
    if (r != kExitOk) {
      ++failed;
      if (rc == kExitOk) rc = r;
    }
  }
  if (todo.size() > 1) {
    std::cerr << "gantry: " << verb << ": " << todo.size() << " jobs, "
              << todo.size() - static_cast<size_t>(failed) << " ok, " << failed << " failed\n";
  }
  return rc;
}

}  // namespace

int CancelJobs(Connection& conn, const std::vector<std::string>& ids, const std::string& selector) {
  return ForJobs(
      conn, "cancel", ids, selector, [](v1::JobState st) { return !IsTerminalState(st); },
      "queued or running", [&](const std::string& id) { return CancelOne(conn, id); });
}

int DeleteJobs(Connection& conn, const std::vector<std::string>& ids, const std::string& selector) {
  return ForJobs(
      conn, "delete", ids, selector, [](v1::JobState st) { return IsTerminalState(st); },
      "ended (cancel them first)", [&](const std::string& id) { return DeleteOne(conn, id); });
}

int Export(Connection& conn, const std::string& id, std::optional<int64_t> epoch, bool best,
           const std::string& out) {
  grpc::ClientContext ctx;
  conn.Authorize(&ctx);
  v1::ExportGeneratorRequest req;
  req.set_job_id(id);
  if (epoch) req.set_epoch(*epoch);
  req.set_best(best);
  auto reader = conn.stub().ExportGenerator(&ctx, req);
  std::string bytes;
  int64_t exported_epoch = 0;
  v1::ExportChunk chunk;
  while (reader->Read(&chunk)) {
    bytes += chunk.data();
    exported_epoch = chunk.epoch();
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return conn.Fail("export " + id, s);
  const std::string err = WriteFileAtomically(out, bytes);
  if (!err.empty()) {
    std::cerr << "gantry: export: " << err << "\n";
    return kExitUsage;
  }
  std::cout << out << " (epoch " << exported_epoch << ", " << bytes.size()
            << " bytes; in Python: torch.jit.load(\"" << out << "\")(torch.randn(n, latent_dim)))"
            << std::endl;
  return kExitOk;
}

int Health(Connection& conn) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status s = conn.health().Check(&ctx, req, &resp);
  if (!s.ok()) return conn.Fail("health", s);
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
  std::cout << (JsonOut(conn) ? "{\"status\":\"" + name + "\"}" : name) << std::endl;
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk
                                                                          : kExitUnavailable;
}

int AskDashboard(Connection& conn, bool open) {
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  v1::ServerInfo info;
  const grpc::Status s = conn.stub().GetServerInfo(&ctx, v1::GetServerInfoRequest(), &info);
  if (!s.ok()) {
    const GlobalOptions& o = conn.options();
    return Dashboard(GuessedDashboardUrl(o.server, o.tls || !o.tls_ca.empty()), true, open);
  }
  if (info.http_address().empty()) {
    std::cerr << "gantry: dashboard: gantryd at " << conn.target()
              << " serves no dashboard (start it with --http-listen HOST:PORT)\n";
    return kExitError;
  }
  return Dashboard(ReportedDashboardUrl(info.http_address(), info.http_tls(), conn.target()), false, open);
}

}  // namespace gantry::cli
