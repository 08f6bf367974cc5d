#include "http/server.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "http/parse.hpp"

namespace troupe::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

std::string_view request::header(std::string_view name) const {
  auto i = headers.find(name);
  return i == headers.end() ? std::string_view{} : std::string_view{i->second};
}

response error_response(int status, std::string_view code,
                        std::string_view message) {
  nlohmann::json j{
    {"error", {{"code", std::string{code}}, {"message", std::string{message}}}}};
  return {status, "application/json", j.dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace),
          {}};
}

namespace {

/// Whether replies may still post work to the I/O threads: the server's
/// destructor flips it under the lock, so no post races the shutdown.
struct lifeline {
  std::shared_mutex mutex;
  bool running = true;
};

/// Most a stream's unsent events may take before it is cut off (a client
/// that does not read must not grow the server's memory).
constexpr size_t max_stream_backlog = 1 << 20;

std::string status_line(int status) {
  auto reason = bhttp::obsolete_reason(bhttp::int_to_status(
    static_cast<unsigned>(status)));
  return "HTTP/1.1 " + std::to_string(status) + " " +
         std::string{reason.data(), reason.size()} + "\r\n";
}

std::string serialize(const response& res, bool keep_alive) {
  std::string out = status_line(res.status);
  out += "Content-Type: " + res.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  for (auto& [k, v] : res.headers)
    out += k + ": " + v + "\r\n";
  if (!keep_alive)
    out += "Connection: close\r\n";
  out += "\r\n";
  out += res.body;
  return out;
}

} // namespace

class session;

struct server::impl {
  server_config cfg;
  handler on_request;
  std::shared_ptr<net::io_context> ioc = std::make_shared<net::io_context>();
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor{*ioc};
  std::vector<std::thread> threads;
  std::shared_ptr<lifeline> life = std::make_shared<lifeline>();
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> total{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> streams{0};
  std::mutex sessions_mutex;
  std::set<std::shared_ptr<session>> sessions;

  void accept();
};

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, server::impl* srv)
    : ioc_(srv->ioc),
      stream_(std::move(socket)),
      read_timer_(stream_.get_executor()),
      srv_(srv),
      life_(srv->life) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec)
      remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void start() {
    read();
  }

  void reject_busy() {
    auto res = error_response(503, "overloaded",
                              "the server has too many open connections");
    queue(serialize(res, false));
    close_after_ = true;
    write();
  }

  /// Runs `f` on this connection's strand, unless the server is stopping.
  template <class F>
  void post(F&& f) {
    std::shared_lock lock{life_->mutex};
    if (life_->running)
      net::post(stream_.get_executor(), std::forward<F>(f));
  }

  void respond(response res) {
    post([self = shared_from_this(), res = std::move(res)]() mutable {
      self->queue(serialize(res, self->keep_alive_));
      if (!self->keep_alive_)
        self->close_after_ = true;
      self->responded_ = true;
      self->write();
    });
  }

  void begin_stream() {
    post([self = shared_from_this()] {
      self->streaming_ = true;
      self->close_after_ = false;
      self->srv_->streams.fetch_add(1);
      self->queue(status_line(200) +
                  "Content-Type: text/event-stream\r\n"
                  "Cache-Control: no-cache\r\n"
                  "X-Accel-Buffering: no\r\n"
                  "Connection: close\r\n\r\n");
      self->write();
      self->watch_peer();
    });
  }

  void stream_event(std::string text) {
    post([self = shared_from_this(), text = std::move(text)]() mutable {
      if (self->closed_)
        return;
      if (self->backlog_ + text.size() > max_stream_backlog) {
        self->shut(); // the client does not keep up
        return;
      }
      self->queue(std::move(text));
      self->write();
    });
  }

  void end_stream() {
    post([self = shared_from_this()] {
      self->close_after_ = true;
      if (!self->writing_)
        self->shut();
    });
  }

  void close_now() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->shut();
    });
  }

  bool closed() const {
    return closed_.load();
  }

private:
  void read() {
    parser_.emplace();
    limit(*parser_, srv_->cfg);
    // Our own timer, not the stream's: the stream's closes the socket, and
    // a client that stalled mid-request is owed a 408.
    timed_out_ = false;
    read_timer_.expires_after(srv_->cfg.io_timeout);
    read_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec)
        return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    bhttp::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) {
        self->on_read(ec);
      });
  }

  void fail_request(int status, std::string_view code, std::string message) {
    keep_alive_ = false;
    respond(error_response(status, code, message));
  }

  void on_read(beast::error_code ec) {
    read_timer_.cancel();
    if (timed_out_ && ec)
      ec = beast::error::timeout;
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      shut();
      return;
    }
    if (ec == beast::error::timeout) {
      // A client that sent part of a request and stalled gets told why;
      // an idle keep-alive connection just closes.
      if (parser_->got_some())
        fail_request(408, "request_timeout",
                     "the request did not arrive within " +
                       std::to_string(srv_->cfg.io_timeout.count()) + " ms");
      else
        shut();
      return;
    }
    if (ec) {
      keep_alive_ = false;
      respond(refusal(ec, srv_->cfg));
      return;
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    auto req = to_request(std::move(msg), remote_);
    srv_->requests.fetch_add(1);
    responded_ = false;
    srv_->on_request(std::move(req), make_reply());
  }

  std::shared_ptr<reply> make_reply();

  void queue(std::string text) {
    backlog_ += text.size();
    out_.push_back(std::move(text));
  }

  void write() {
    if (writing_ || out_.empty() || closed_)
      return;
    writing_ = true;
    stream_.expires_after(srv_->cfg.io_timeout);
    net::async_write(stream_, net::buffer(out_.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_write(ec);
                     });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      shut();
      return;
    }
    backlog_ -= out_.front().size();
    out_.pop_front();
    if (!out_.empty()) {
      write();
      return;
    }
    if (streaming_) {
      stream_.expires_never();
      if (close_after_)
        shut();
      return;
    }
    if (close_after_) {
      shut();
      return;
    }
    if (responded_)
      read();
  }

  /// While streaming, a read that ends tells that the client went away.
  void watch_peer() {
    stream_.socket().async_read_some(
      net::buffer(scratch_),
      [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec)
          self->shut();
        else
          self->watch_peer();
      });
  }

  void shut() {
    if (closed_.exchange(true))
      return;
    read_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    srv_->open.fetch_sub(1);
    if (streaming_)
      srv_->streams.fetch_sub(1);
    std::lock_guard guard{srv_->sessions_mutex};
    srv_->sessions.erase(shared_from_this());
  }

  /// Keeps the I/O context alive as long as a socket of it is. Declared
  /// first, so destroyed last: the socket and timer need its services in
  /// their destructors (UBSan caught a timer outliving them).
  std::shared_ptr<net::io_context> ioc_;
  beast::tcp_stream stream_;
  net::steady_timer read_timer_;
  bool timed_out_ = false;
  server::impl* srv_;
  std::shared_ptr<lifeline> life_;
  beast::flat_buffer buffer_;
  std::optional<request_parser> parser_;
  std::deque<std::string> out_;
  size_t backlog_ = 0;
  bool writing_ = false;
  bool keep_alive_ = true;
  bool close_after_ = false;
  bool streaming_ = false;
  bool responded_ = false;
  std::atomic<bool> closed_{false};
  std::string remote_;
  char scratch_[256];
};

std::string sse_format(std::string_view event, std::string_view data,
                       std::string_view id) {
  std::string text;
  text.reserve(event.size() + data.size() + id.size() + 24);
  if (!id.empty())
    text.append("id: ").append(id).append("\n");
  if (!event.empty())
    text.append("event: ").append(event).append("\n");
  size_t pos = 0;
  while (pos <= data.size()) {
    auto nl = data.find('\n', pos);
    auto line = data.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    text.append("data: ").append(line).append("\n");
    if (nl == std::string_view::npos)
      break;
    pos = nl + 1;
  }
  text += "\n";
  return text;
}

bool event_stream::send(std::string_view event, std::string_view data,
                        std::string_view id) {
  return send_raw(sse_format(event, data, id));
}

namespace {

class stream_impl : public event_stream {
public:
  explicit stream_impl(std::shared_ptr<session> s) : session_(std::move(s)) {}

  ~stream_impl() override {
    close();
  }

  bool send_raw(std::string_view bytes) override {
    if (closed())
      return false;
    session_->stream_event(std::string{bytes});
    return true;
  }

  void close() override {
    if (!ended_.exchange(true))
      session_->end_stream();
  }

  bool closed() const override {
    return ended_.load() || session_->closed();
  }

private:
  std::shared_ptr<session> session_;
  std::atomic<bool> ended_{false};
};

class reply_impl : public reply {
public:
  explicit reply_impl(std::shared_ptr<session> s) : session_(std::move(s)) {}

  ~reply_impl() override {
    // A handler that dropped its reply still answers the client.
    if (!used_.exchange(true))
      session_->respond(error_response(500, "internal",
                                       "the request was dropped unanswered"));
  }

  void send(response res) override {
    if (!used_.exchange(true))
      session_->respond(std::move(res));
  }

  std::shared_ptr<event_stream> open_stream() override {
    auto out = std::make_shared<stream_impl>(session_);
    if (!used_.exchange(true))
      session_->begin_stream();
    else
      out->close();
    return out;
  }

private:
  std::shared_ptr<session> session_;
  std::atomic<bool> used_{false};
};

} // namespace

std::shared_ptr<reply> session::make_reply() {
  return std::make_shared<reply_impl>(shared_from_this());
}

void server::impl::accept() {
  acceptor.async_accept(
    net::make_strand(*ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open())
        return;
      if (!ec) {
        auto s = std::make_shared<session>(std::move(socket), this);
        total.fetch_add(1);
        bool busy = open.fetch_add(1) >= cfg.max_connections;
        {
          std::lock_guard guard{sessions_mutex};
          sessions.insert(s);
        }
        if (busy)
          s->reject_busy();
        else
          s->start();
      }
      accept();
    });
}

server::server(std::unique_ptr<impl> im) : impl_(std::move(im)) {}

result<std::unique_ptr<server>> server::start(server_config cfg,
                                              handler on_request) {
  auto im = std::make_unique<impl>();
  im->cfg = std::move(cfg);
  im->on_request = std::move(on_request);
  auto where = im->cfg.host + ":" + std::to_string(im->cfg.port);
  beast::error_code ec;
  tcp::resolver resolver{*im->ioc};
  auto endpoints = resolver.resolve(im->cfg.host, std::to_string(im->cfg.port),
                                    tcp::resolver::passive, ec);
  if (ec || endpoints.empty())
    return failure{errc::invalid_config,
                   "cannot resolve listen address " + where + ": " +
                     ec.message()};
  auto ep = endpoints.begin()->endpoint();
  im->acceptor.open(ep.protocol(), ec);
  if (!ec)
    im->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    im->acceptor.bind(ep, ec);
  if (!ec)
    im->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return failure{errc::invalid_config,
                   "cannot listen on " + where + ": " + ec.message()};
  im->work.emplace(im->ioc->get_executor());
  im->accept();
  auto threads = std::max(1u, im->cfg.io_threads);
  for (unsigned i = 0; i < threads; ++i)
    im->threads.emplace_back([ioc = im->ioc] { ioc->run(); });
  return std::unique_ptr<server>{new server{std::move(im)}};
}

server::~server() {
  auto& im = *impl_;
  {
    std::unique_lock lock{im.life->mutex};
    im.life->running = false;
  }
  net::post(*im.ioc, [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
  });
  std::vector<std::shared_ptr<session>> open;
  {
    std::lock_guard guard{im.sessions_mutex};
    open.assign(im.sessions.begin(), im.sessions.end());
  }
  for (auto& s : open)
    s->close_now();
  open.clear();
  im.work.reset();
  // Every operation ends once its socket is closed; then run() returns.
  for (auto& t : im.threads)
    t.join();
}

uint16_t server::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void server::stop_accepting() {
  net::post(*impl_->ioc, [im = impl_.get()] {
    beast::error_code ec;
    im->acceptor.close(ec);
  });
}

server_stats server::stats() const {
  return {impl_->open.load(), impl_->total.load(), impl_->requests.load(),
          impl_->streams.load()};
}

} // namespace troupe::http
