#include "server/api/http_transport.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <map>
#include <optional>
#include <thread>

#include "server/api/work_pool.h"
#include "server/util/mutex.h"

namespace gantry {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = beast::error_code;

namespace {

// The subject common name of the client certificate the handshake verified
// (--tls-client-ca), or "" when the client sent none.
std::string PeerCommonName(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string out;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    char cn[256] = {};
    const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (n > 0) out.assign(cn, static_cast<size_t>(n));
  }
  X509_free(cert);
  return out;
}

constexpr size_t kMiB = 1 << 20;
constexpr size_t kMaxBuffer = 1 << 20;  // a connection's read buffer
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);
constexpr auto kLinger = std::chrono::seconds(5);  // at most, after an error reply
constexpr size_t kSmallResponse = 64 << 10;  // replies under it are not counted
constexpr size_t kWriteRate = 256 << 10;     // bytes per second a reader must take
// At shutdown, how long handlers in flight get to finish and have their
// replies written, and how often that is checked.
constexpr auto kShutdownGrace = std::chrono::seconds(2);
constexpr auto kShutdownCheckEvery = std::chrono::milliseconds(10);

// The peer went away or the read was cancelled: nothing to answer.
bool Gone(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::operation_aborted || ec == net::error::connection_reset ||
         ec == net::ssl::error::stream_truncated;
}

std::string AddressText(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  net::ip::address address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

// A request body as a string that grows as bytes arrive (Beast's
// string_body reserves the declared length up front, before one byte came),
// each piece admitted first: `admit` counts it against the body budget.
struct CountedBody {
  struct value_type {
    std::string text;
    std::function<bool(size_t)> admit;  // false: refuse the piece
  };
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>&, error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    size_t put(const ConstBufferSequence& buffers, error_code& ec) {
      const size_t n = net::buffer_size(buffers);
      if (body_.admit && !body_.admit(n)) {
        ec = http::error::body_limit;
        return 0;
      }
      const size_t at = body_.text.size();
      body_.text.resize(at + n);
      net::buffer_copy(net::buffer(&body_.text[at], n), buffers);
      ec = {};
      return n;
    }
    void finish(error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

}  // namespace

// ---------------------------------------------------------------------------

class HttpTransport::Impl {
 public:
  Impl(const Options& options, Handler handler, IsInline is_inline, Screen screen,
       OnError on_error)
      : limits(options.limits),
        handler(std::move(handler)),
        is_inline(std::move(is_inline)),
        screen(std::move(screen)),
        on_error(std::move(on_error)) {}
  ~Impl() { Shutdown(); }

  Status Listen(const Options& options);
  void Run();
  void Shutdown();

  // Connection accounting: false when the address or the server is full.
  bool Admit(const std::string& address) EXCLUDES(mu_);
  void Release(const std::string& address) EXCLUDES(mu_);
  // The body budget: false when `bytes` more would pass it, or pass the
  // share one client address may hold.
  bool Reserve(const std::string& address, size_t bytes) EXCLUDES(mu_);
  void Unreserve(const std::string& address, size_t bytes) EXCLUDES(mu_);
  // The response budget (responses built and not yet written).
  bool ReserveResponse(size_t bytes);
  // The most body bytes one client address may hold at once.
  size_t AddressShare() const;
  void UnreserveResponse(size_t bytes) { response_bytes.fetch_sub(bytes); }

  const HttpLimits limits;
  const Handler handler;
  const IsInline is_inline;
  const Screen screen;
  const OnError on_error;

  std::optional<net::io_context> ioc;  // made in Listen(), for io_threads
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_timer;
  std::unique_ptr<net::ssl::context> ssl;
  std::unique_ptr<WorkPool> workers;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> body_bytes{0};
  std::atomic<size_t> response_bytes{0};
  std::atomic<int> in_flight{0};  // requests handed to a handler, not yet answered

 private:
  void Accept();
  void OnAccept(tcp::socket socket);
  void Serve(tcp::socket socket, const std::string& address);
  void Refuse(tcp::socket& socket, const std::string& why) EXCLUDES(mu_);

  std::vector<std::thread> threads_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
  bool shut_down_ = false;

  struct Address {
    int connections = 0;
    size_t body_bytes = 0;
  };
  Mutex mu_;  // connection and body accounting; never held across I/O
  int open_ GUARDED_BY(mu_) = 0;
  // An entry per address with a connection open: at most max_connections.
  std::map<std::string, Address> per_address_ GUARDED_BY(mu_);
  int64_t refused_ GUARDED_BY(mu_) = 0;  // for the log's rate
};

// ---------------------------------------------------------------------------
// One connection: reads requests one after another (HTTP/1.1 keep-alive),
// hands each whole request to the handler, writes its response or stream.
// Every member is used on the connection's strand, except where noted.

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpTransport::Impl& impl, Stream stream, std::string address, bool tls)
      : impl_(impl),
        stream_(std::move(stream)),
        address_(std::move(address)),
        tls_(tls),
        buffer_(kMaxBuffer),
        deadline_(stream_.get_executor()),
        timer_(stream_.get_executor()) {}

  ~Session() {
    if (reserved_ > 0) impl_.Unreserve(address_, reserved_);
    if (response_reserved_ > 0) impl_.UnreserveResponse(response_reserved_);
    if (counted_) impl_.in_flight.fetch_sub(1);
    if (source_ && !closed_) source_->Closed(!impl_.stopping.load());
    impl_.Release(address_);
  }

  void Run() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      ReadHead();
    } else {
      beast::get_lowest_layer(stream_).expires_after(impl_.limits.head_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) return self->Close();
                                self->client_cert_ = PeerCommonName(self->stream_.native_handle());
                                self->ReadHead();
                              });
    }
  }

 private:
  const HttpLimits& limits() const { return impl_.limits; }
  auto Self() { return this->shared_from_this(); }

  // A deadline for reading (the head, or the body) that, unlike the
  // stream's own timeout, leaves the socket open for the 408 reply.
  void StartDeadline(std::chrono::steady_clock::duration after) {
    timed_out_ = false;
    const uint64_t generation = ++deadline_generation_;
    beast::get_lowest_layer(stream_).expires_never();
    deadline_.expires_after(after);
    deadline_.async_wait([weak = std::weak_ptr<Session>(Self()), generation](error_code ec) {
      auto self = weak.lock();
      // A deadline that fired just as its read completed is stale: the read's
      // handler ran first and moved on.
      if (ec || !self || self->deadline_generation_ != generation) return;
      self->timed_out_ = true;
      error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().cancel(ignored);
    });
  }

  void ReadHead() {
    if (impl_.stopping) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().max_head_bytes));
    parser_->body_limit(limits().max_body_bytes);
    over_budget_ = false;
    head_request_ = false;
    parser_->get().body().admit = [this](size_t n) {
      if (!impl_.Reserve(address_, n)) {
        over_budget_ = true;
        return false;
      }
      reserved_ += n;
      return true;
    };
    StartDeadline(limits().head_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = Self()](error_code ec, size_t) { self->OnHead(ec); });
  }

  void StopDeadline() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  void OnHead(error_code ec) {
    StopDeadline();
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return Fail(431, "the request head is over " +
                           std::to_string(limits().max_head_bytes >> 10) + " KiB");
    }
    if (ec == http::error::body_limit) return FailBodyLimit();
    if (ec && timed_out_) {
      if (buffer_.size() == 0) return Close();  // an idle keep-alive connection
      return Fail(408, "the request head did not arrive within " +
                           std::to_string(limits().head_timeout.count() / 1000) + " s");
    }
    if (ec) {
      if (Gone(ec)) return Close();
      return Fail(400, "malformed request (" + ec.message() + ")");
    }
    keep_alive_ = parser_->get().keep_alive();
    version_ = parser_->get().version();
    head_request_ = parser_->get().method() == http::verb::head;
    size_t declared = 0;
    if (const auto length = parser_->content_length()) {
      if (*length > limits().max_body_bytes) return FailBodyLimit();
      declared = static_cast<size_t>(*length);
    } else if (parser_->chunked()) {
      declared = limits().max_body_bytes;
    }
    // Refusals that need no body (credentials, origin, route) are given
    // before a byte of it is read, so a refused client holds no budget.
    request_ = Describe(parser_->get());
    {
      HttpResponse refusal;
      if (impl_.screen && impl_.screen(*request_, refusal)) {
        keep_alive_ = false;
        linger_ = declared > 0;
        return Respond(std::move(refusal));
      }
    }
    if (parser_->is_done()) return Dispatch();
    const auto deadline = limits().body_timeout + std::chrono::seconds(declared / kMiB);
    auto read_body = [self = Self(), deadline] {
      self->StartDeadline(deadline);
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](error_code ec, size_t) { self->OnBody(ec); });
    };
    const auto expect = parser_->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::get_lowest_layer(stream_).expires_after(limits().write_timeout);
      return net::async_write(stream_, net::buffer(kContinue),
                              [self = Self(), read_body](error_code ec, size_t) {
                                if (ec) return self->Close();
                                read_body();
                              });
    }
    read_body();
  }

  void OnBody(error_code ec) {
    StopDeadline();
    if (ec == http::error::body_limit) {
      if (over_budget_) return FailBudget();
      return FailBodyLimit();
    }
    if (ec && timed_out_) {
      return Fail(408, "the request body did not arrive in time (" +
                           std::to_string(limits().body_timeout.count() / 1000) +
                           " s plus 1 s per MiB)");
    }
    if (ec) {
      if (Gone(ec)) return Close();
      return Fail(400, "malformed request body (" + ec.message() + ")");
    }
    Dispatch();
  }

  // The head as an HttpRequest (no body yet).
  std::shared_ptr<HttpRequest> Describe(const http::request<CountedBody>& message) const {
    auto req = std::make_shared<HttpRequest>();
    req->method = std::string(message.method_string());
    req->target = std::string(message.target());
    const size_t q = req->target.find('?');
    req->path = PercentDecode(req->target.substr(0, q), false);
    if (q != std::string::npos) req->params = ParseUrlEncoded(req->target.substr(q + 1));
    for (const auto& field : message) {
      req->headers.emplace_back(AsciiLower(std::string(field.name_string())),
                                std::string(field.value()));
    }
    req->remote_addr = address_;
    req->tls = tls_;
    req->client_cert = client_cert_;
    return req;
  }

  void FailBodyLimit() {
    Fail(413, "the request body is over the server's limit of " +
                  std::to_string(limits().max_body_bytes) + " bytes");
  }
  void FailBudget() {
    Fail(503,
         "the server is receiving too many request bodies at once (its budget is " +
             std::to_string(limits().body_budget_bytes) + " bytes, " +
             std::to_string(impl_.AddressShare()) + " from one address); retry later",
         /*retry_after=*/true);
  }

  // Replies with a transport-level error and closes the connection (the
  // rest of the request is not read).
  void Fail(int status, const std::string& message, bool retry_after = false) {
    HttpResponse res;
    impl_.on_error(status, message, res);
    res.status = status;
    if (retry_after) res.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
    keep_alive_ = false;
    linger_ = true;
    Respond(std::move(res));
  }

  void Dispatch() {
    auto req = request_;
    request_.reset();
    req->body = std::move(parser_->get().body().text);
    parser_.reset();
    if (impl_.is_inline(*req)) {
      HttpResponse res;
      Handle(impl_, *req, res);
      return Respond(std::move(res));
    }
    counted_ = true;
    impl_.in_flight.fetch_add(1);
    const bool queued = impl_.workers->Submit([self = Self(), req] {
      auto res = std::make_shared<HttpResponse>();
      Handle(self->impl_, *req, *res);
      req->body = std::string();  // free the body before the write waits
      self->ChargeResponse(*res);
      net::post(self->stream_.get_executor(),
                [self, res] { self->Respond(std::move(*res)); });
    });
    if (!queued) {
      Fail(503,
           "the server is busy (" + std::to_string(impl_.workers->max_queued()) +
               " requests are waiting); retry later",
           true);
    }
  }

  // On the handler's thread: a large response is counted against the
  // response budget until written, or replaced by a 503 when it does not fit.
  void ChargeResponse(HttpResponse& res) {
    if (res.stream || res.body.size() < kSmallResponse) return;
    if (impl_.ReserveResponse(res.body.size())) {
      response_reserved_ = res.body.size();
      return;
    }
    const size_t size = res.body.size();
    res = HttpResponse();
    impl_.on_error(503,
                   "the server is sending too much at once (a reply of " + std::to_string(size) +
                       " bytes would pass its budget of " +
                       std::to_string(limits().response_budget_bytes) + "); retry later",
                   res);
    res.status = 503;
    res.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
  }

  static void Handle(HttpTransport::Impl& impl, HttpRequest& req, HttpResponse& res) {
    try {
      impl.handler(req, res);
    } catch (const std::exception& e) {
      res = HttpResponse();
      impl.on_error(500, std::string("internal error: ") + e.what(), res);
      res.status = 500;
    } catch (...) {
      res = HttpResponse();
      impl.on_error(500, "internal error", res);
      res.status = 500;
    }
  }

  void Respond(HttpResponse res) {
    if (reserved_ > 0) {
      impl_.Unreserve(address_, reserved_);
      reserved_ = 0;
    }
    parser_.reset();
    if (res.stream && head_request_) {
      res.stream->Closed(false);  // HEAD: the stream's head, no stream
      res.stream.reset();
    }
    if (res.stream) return StartStream(std::move(res));
    auto out = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(res.status), version_);
    for (const auto& [name, value] : res.headers) out->insert(name, value);
    if (!res.content_type.empty()) out->set(http::field::content_type, res.content_type);
    out->body() = std::move(res.body);
    if (impl_.stopping) keep_alive_ = false;
    out->keep_alive(keep_alive_);
    // A 304 has no body, and no Content-Length but the 200's (RFC 9110 8.6).
    if (out->result() != http::status::not_modified) out->prepare_payload();
    if (head_request_) out->body().clear();  // Content-Length stays the GET's
    // A deadline that grows with the reply: a slow reader of a large one is
    // not cut off, one that reads nothing is.
    beast::get_lowest_layer(stream_).expires_after(
        limits().write_timeout + std::chrono::seconds(out->body().size() / kWriteRate));
    http::async_write(stream_, *out, [self = Self(), out](error_code ec, size_t) {
      if (self->response_reserved_ > 0) {
        self->impl_.UnreserveResponse(self->response_reserved_);
        self->response_reserved_ = 0;
      }
      if (self->counted_) {
        self->counted_ = false;
        self->impl_.in_flight.fetch_sub(1);
      }
      if (!ec && self->linger_) return self->Linger();
      if (ec || !self->keep_alive_) return self->Close();
      self->ReadHead();
    });
  }

  // --- streams -------------------------------------------------------------

  void StartStream(HttpResponse res) {
    if (counted_) {
      counted_ = false;
      impl_.in_flight.fetch_sub(1);
    }
    source_ = std::move(res.stream);
    std::weak_ptr<Session> weak = Self();
    auto executor = stream_.get_executor();
    source_->set_waker([weak, executor] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->OnKick();
      });
    });
    head_.emplace(static_cast<http::status>(res.status), version_);
    for (const auto& [name, value] : res.headers) head_->insert(name, value);
    if (!res.content_type.empty()) head_->set(http::field::content_type, res.content_type);
    head_->keep_alive(false);
    head_->chunked(true);
    serializer_.emplace(*head_);
    beast::get_lowest_layer(stream_).expires_after(limits().write_timeout);
    http::async_write_header(stream_, *serializer_, [self = Self()](error_code ec, size_t) {
      if (ec) return self->EndStream(true);
      self->Pull();
    });
  }

  void Pull() {
    kicked_ = false;
    const bool queued = impl_.workers->Continue([self = Self()] {
      auto out = std::make_shared<std::string>();
      HttpStream::Poll poll = HttpStream::Poll::kEnd;
      try {
        poll = self->source_->Next(out.get());
      } catch (const std::exception& e) {
        spdlog::warn("http: an event stream failed: {}", e.what());
      }
      net::post(self->stream_.get_executor(),
                [self, out, poll] { self->OnPulled(std::move(*out), poll); });
    });
    if (!queued) EndStream(false);
  }

  void OnPulled(std::string text, HttpStream::Poll poll) {
    if (text.empty()) return AfterPull(poll);
    WriteChunk(std::move(text), [self = Self(), poll] { self->AfterPull(poll); });
  }

  template <typename Then>
  void WriteChunk(std::string text, Then then) {
    chunk_ = std::move(text);
    beast::get_lowest_layer(stream_).expires_after(limits().write_timeout);
    net::async_write(stream_, http::make_chunk(net::buffer(chunk_)),
                     [self = Self(), then](error_code ec, size_t) {
                       if (ec) return self->EndStream(true);
                       then();
                     });
  }

  void AfterPull(HttpStream::Poll poll) {
    switch (poll) {
      case HttpStream::Poll::kMore:
        return Pull();
      case HttpStream::Poll::kWait:
        if (kicked_) return Pull();
        waiting_ = true;
        beast::get_lowest_layer(stream_).expires_never();
        timer_.expires_after(limits().keep_alive_interval);
        timer_.async_wait([self = Self()](error_code ec) { self->OnKeepAlive(ec); });
        return;
      case HttpStream::Poll::kEnd:
        beast::get_lowest_layer(stream_).expires_after(limits().write_timeout);
        net::async_write(stream_, http::make_chunk_last(), [self = Self()](error_code, size_t) {
          self->EndStream(false);
        });
        return;
    }
  }

  void OnKick() {
    kicked_ = true;
    if (!waiting_) return;  // a Pull or a write is in flight; it sees kicked_
    waiting_ = false;
    timer_.cancel();
    Pull();
  }

  void OnKeepAlive(error_code ec) {
    if (ec || !waiting_) return;
    waiting_ = false;
    std::string text = source_->KeepAlive();
    if (text.empty()) return Pull();
    WriteChunk(std::move(text), [self = Self()] { self->Pull(); });
  }

  void EndStream(bool client_gone) {
    if (source_ && !closed_) {
      closed_ = true;
      source_->Closed(client_gone);
    }
    Close();
  }

  // After an error reply to a request whose body was not read: stop
  // sending, and read and drop what the client still sends for a while, so
  // that it reads the reply instead of a reset (a lingering close).
  void Linger() {
    error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger_deadline_ == std::chrono::steady_clock::time_point()) {
      linger_deadline_ = std::chrono::steady_clock::now() + kLinger;
      beast::get_lowest_layer(stream_).expires_after(kLinger);
    }
    if (!discard_) discard_ = std::make_unique<std::array<char, 16384>>();
    beast::get_lowest_layer(stream_).async_read_some(
        net::buffer(*discard_), [self = Self()](error_code e, size_t) {
          if (e) return self->Close();
          self->Linger();
        });
  }

  void Close() {
    error_code ec;
    timer_.cancel();
    deadline_.cancel();
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
  }

  HttpTransport::Impl& impl_;
  Stream stream_;
  const std::string address_;
  const bool tls_;
  std::string client_cert_;  // the verified client certificate's common name, if any
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<CountedBody>> parser_;
  std::shared_ptr<HttpRequest> request_;  // the head being read, until dispatched
  bool over_budget_ = false;
  size_t reserved_ = 0;           // body bytes held against the budget
  size_t response_reserved_ = 0;  // reply bytes held against the response budget
  bool counted_ = false;          // in impl_.in_flight
  bool keep_alive_ = false;
  bool head_request_ = false;  // HEAD: the reply's head only
  unsigned version_ = 11;      // the request's HTTP version, for the reply
  net::steady_timer deadline_;
  bool timed_out_ = false;  // deadline_ fired and cancelled the read
  uint64_t deadline_generation_ = 0;  // which StartDeadline a firing belongs to
  bool linger_ = false;  // an error reply: drop the unread rest, then close
  std::chrono::steady_clock::time_point linger_deadline_;
  std::unique_ptr<std::array<char, 16384>> discard_;

  std::shared_ptr<HttpStream> source_;
  std::optional<http::response<http::empty_body>> head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::string chunk_;
  net::steady_timer timer_;
  bool waiting_ = false;  // between a kWait and the next Pull
  bool kicked_ = false;   // the waker ran since the last Pull started
  bool closed_ = false;   // source_->Closed() was called
};

// ---------------------------------------------------------------------------

Status HttpTransport::Impl::Listen(const Options& options) {
  ioc.emplace(std::max(1, limits.io_threads));
  if (!options.tls_cert_file.empty()) {
    ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1);
    error_code ec;
    ssl->use_certificate_chain_file(options.tls_cert_file, ec);
    if (!ec) ssl->use_private_key_file(options.tls_key_file, net::ssl::context::pem, ec);
    if (ec) {
      return Status::InvalidArgument("cannot load --tls-cert " + options.tls_cert_file +
                                     " with --tls-key " + options.tls_key_file + ": " +
                                     ec.message());
    }
    if (!options.tls_client_ca_file.empty()) {
      // Asked for and verified when sent; a client without one uses a token.
      ssl->load_verify_file(options.tls_client_ca_file, ec);
      if (ec) {
        return Status::InvalidArgument("cannot load --tls-client-ca " + options.tls_client_ca_file +
                                       ": " + ec.message());
      }
      ssl->set_verify_mode(net::ssl::verify_peer, ec);
    }
  }
  error_code ec;
  tcp::resolver resolver(*ioc);
  const auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service,
                                          ec);
  if (ec) return Status::InvalidArgument("'" + options.host + "' is not a host: " + ec.message());
  std::string why = "no address";
  for (const auto& entry : endpoints) {
    tcp::acceptor a(*ioc);
    // SO_REUSEADDR only (rebinding over TIME_WAIT); never SO_REUSEPORT,
    // which would let a second server share the port silently.
    if (a.open(entry.endpoint().protocol(), ec) ||
        a.set_option(net::socket_base::reuse_address(true), ec) || a.bind(entry.endpoint(), ec) ||
        a.listen(net::socket_base::max_listen_connections, ec)) {
      why = ec.message();
      continue;
    }
    port = a.local_endpoint().port();
    acceptor.emplace(std::move(a));
    break;
  }
  if (!acceptor) return Status::Unavailable("cannot listen: " + why);
  accept_timer.emplace(*ioc);
  workers = std::make_unique<WorkPool>(limits.handler_threads, limits.max_queued, /*nice=*/0);
  return Status::Ok();
}

void HttpTransport::Impl::Run() {
  guard_.emplace(ioc->get_executor());
  Accept();
  for (int i = 0; i < std::max(1, limits.io_threads); ++i) {
    threads_.emplace_back([this] { ioc->run(); });
  }
}

void HttpTransport::Impl::Accept() {
  acceptor->async_accept(net::make_strand(*ioc), [this](error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (ec) {
      if (ec == net::error::operation_aborted) return;
      // Out of descriptors, most likely: try again shortly, not in a spin.
      spdlog::warn("http: accept failed: {}", ec.message());
      accept_timer->expires_after(kAcceptRetry);
      accept_timer->async_wait([this](error_code e) {
        if (!e && !stopping) Accept();
      });
      return;
    }
    OnAccept(std::move(socket));
    Accept();
  });
}

void HttpTransport::Impl::OnAccept(tcp::socket socket) {
  const std::string address = AddressText(socket);
  if (!Admit(address)) return Refuse(socket, address);
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  try {
    Serve(std::move(socket), address);
  } catch (const std::exception& e) {
    // The session was not made (SSL_new failed, out of memory): the
    // connection's slot is given back here, since no session will.
    spdlog::warn("http: cannot serve a connection from {}: {}", address, e.what());
    Release(address);
  }
}

void HttpTransport::Impl::Serve(tcp::socket socket, const std::string& address) {
  if (ssl) {
    using Tls = beast::ssl_stream<beast::tcp_stream>;
    std::make_shared<Session<Tls>>(*this, Tls(beast::tcp_stream(std::move(socket)), *ssl),
                                   address, true)
        ->Run();
  } else {
    std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)),
                                                 address, false)
        ->Run();
  }
}

// A refused connection gets a short 503 when it is plain HTTP and the
// kernel takes the bytes at once, then is closed.
void HttpTransport::Impl::Refuse(tcp::socket& socket, const std::string& address) {
  int64_t refused = 0;
  {
    MutexLock lock(&mu_);
    refused = ++refused_;
  }
  if ((refused & (refused - 1)) == 0) {  // the 1st, 2nd, 4th, 8th, ... time
    spdlog::warn(
        "http: connection from {} refused: at most {} connections ({} per address) "
        "(refused {} so far)",
        address, limits.max_connections, limits.max_connections_per_address, refused);
  }
  error_code ec;
  if (!ssl) {
    static const std::string kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: " +
        std::to_string(kRetryAfterSeconds) +
        "\r\nConnection: close\r\nContent-Length: 37\r\n\r\ntoo many connections; retry later.\n\n";
    socket.non_blocking(true, ec);
    if (!ec) socket.write_some(net::buffer(kBusy), ec);
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

bool HttpTransport::Impl::Admit(const std::string& address) {
  MutexLock lock(&mu_);
  if (open_ >= limits.max_connections) return false;
  auto [it, added] = per_address_.try_emplace(address);
  if (it->second.connections >= limits.max_connections_per_address) return false;
  ++it->second.connections;
  ++open_;
  return true;
}

void HttpTransport::Impl::Release(const std::string& address) {
  MutexLock lock(&mu_);
  --open_;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second.connections <= 0) per_address_.erase(it);
}

size_t HttpTransport::Impl::AddressShare() const {
  return std::max(limits.max_body_bytes, limits.body_budget_bytes / 2);
}

bool HttpTransport::Impl::Reserve(const std::string& address, size_t bytes) {
  MutexLock lock(&mu_);
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return false;
  const size_t used = body_bytes.load();
  if (used + bytes > limits.body_budget_bytes || it->second.body_bytes + bytes > AddressShare()) {
    return false;
  }
  body_bytes.fetch_add(bytes);
  it->second.body_bytes += bytes;
  return true;
}

void HttpTransport::Impl::Unreserve(const std::string& address, size_t bytes) {
  MutexLock lock(&mu_);
  body_bytes.fetch_sub(bytes);
  auto it = per_address_.find(address);
  if (it != per_address_.end()) it->second.body_bytes -= std::min(bytes, it->second.body_bytes);
}

bool HttpTransport::Impl::ReserveResponse(size_t bytes) {
  size_t used = response_bytes.load();
  while (used + bytes <= limits.response_budget_bytes) {
    if (response_bytes.compare_exchange_weak(used, used + bytes)) return true;
  }
  return false;
}

void HttpTransport::Impl::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stopping = true;
  if (acceptor) {
    net::post(*ioc, [this] {
      error_code ec;
      acceptor->close(ec);
      accept_timer->cancel();
    });
  }
  // Handlers in flight finish, and their replies get a moment to be written
  // (a created job's answer is not lost); then the connections close.
  if (workers) workers->Stop();
  for (auto waited = std::chrono::milliseconds(0); waited < kShutdownGrace && in_flight.load() > 0;
       waited += kShutdownCheckEvery) {
    std::this_thread::sleep_for(kShutdownCheckEvery);
  }
  guard_.reset();
  ioc->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Destroying the context destroys the connections still open (and calls
  // their streams' Closed) while this object is whole.
  accept_timer.reset();
  acceptor.reset();
  ioc.reset();
}

// ---------------------------------------------------------------------------

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpTransport::~HttpTransport() { Shutdown(); }

StatusOr<std::unique_ptr<HttpTransport>> HttpTransport::Start(const Options& options,
                                                              Handler handler, IsInline is_inline,
                                                              Screen screen, OnError on_error) {
  auto impl = std::make_unique<Impl>(options, std::move(handler), std::move(is_inline),
                                     std::move(screen), std::move(on_error));
  GANTRY_RETURN_IF_ERROR(impl->Listen(options));
  impl->Run();
  return std::unique_ptr<HttpTransport>(new HttpTransport(std::move(impl)));
}

int HttpTransport::port() const { return impl_->port; }
bool HttpTransport::tls() const { return impl_->ssl != nullptr; }
void HttpTransport::Shutdown() { impl_->Shutdown(); }

// ---------------------------------------------------------------------------

}  // namespace gantry
