#include "llm/http_client.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace troupe::llm {

namespace {

using clock_type = std::chrono::steady_clock;

struct transfer {
  uint64_t id = 0;
  /// The multi handle (shard) it runs on.
  size_t shard = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  http_request req;
  http_client::chunk_fn chunk;
  http_client::done_fn done;
  http_reply reply;
  /// Whether the body goes to `chunk` (decided at its first byte).
  bool decided = false;
  bool streaming = false;
  bool aborted = false;

  ~transfer() {
    if (easy != nullptr)
      curl_easy_cleanup(easy);
    if (headers != nullptr)
      curl_slist_free_all(headers);
  }
};

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  if (!t->decided) {
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->reply.status = code;
    t->streaming = t->chunk && code >= 200 && code < 300;
    t->decided = true;
  }
  if (t->streaming) {
    if (!t->chunk(std::string_view{data, len})) {
      t->aborted = true;
      return 0; // makes curl end the transfer
    }
    return len;
  }
  auto room = http_client::max_kept_body - std::min(http_client::max_kept_body,
                                                    t->reply.body.size());
  t->reply.body.append(data, std::min(len, room));
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  std::string_view line{data, len};
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    t->reply.headers.clear(); // a new response (after 100 Continue)
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos)
    return len;
  std::string name{line.substr(0, colon)};
  for (auto& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  t->reply.headers[name] = std::string{value};
  return len;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// Requests spread over this many multi handles. libcurl looks for a
/// reusable connection by scanning every connection its multi handle holds
/// to the host, so thousands of connections to one API in one handle cost
/// quadratic time; shards divide it.
constexpr size_t shard_count = 16;

/// Marks the wake-up descriptor in epoll's data.
constexpr uint64_t wake_tag = ~uint64_t{0};

struct shard {
  CURLM* multi = nullptr;
  http_client::impl* owner = nullptr;
  size_t index = 0;
  /// When curl wants its timeout handled (none if max()).
  clock_type::time_point deadline = clock_type::time_point::max();
};

} // namespace

struct http_client::impl {
  std::vector<shard> shards = std::vector<shard>(shard_count);
  size_t next_shard = 0;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<transfer>> incoming;
  std::vector<uint64_t> cancels;
  bool stopping = false;
  std::atomic<uint64_t> next_id{1};
  std::atomic<size_t> in_flight{0};
  /// Owned by the I/O thread.
  std::unordered_map<uint64_t, std::unique_ptr<transfer>> active;

  void add(std::unique_ptr<transfer> t) {
    auto* e = curl_easy_init();
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, t->req.url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (t->req.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(t->req.body.size()));
    } else if (t->req.method != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method.c_str());
    }
    for (auto& h : t->req.headers)
      t->headers = curl_slist_append(t->headers, h.c_str());
    // No "Expect: 100-continue" round trip before the body.
    t->headers = curl_slist_append(t->headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(t->req.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(t->req.total_timeout.count()));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    t->shard = next_shard++ % shards.size();
    curl_multi_add_handle(shards[t->shard].multi, e);
    active.emplace(t->id, std::move(t));
  }

  void finish(std::unique_ptr<transfer> t) {
    curl_multi_remove_handle(shards[t->shard].multi, t->easy);
    auto done = std::move(t->done);
    auto reply = std::move(t->reply);
    t.reset();
    in_flight.fetch_sub(1);
    done(std::move(reply));
  }

  void cancel_now(uint64_t id) {
    auto it = active.find(id);
    if (it == active.end())
      return;
    auto t = std::move(it->second);
    active.erase(it);
    t->reply.cancelled = true;
    t->reply.error = "the request was cancelled";
    finish(std::move(t));
  }

  /// Event-driven (curl's socket interface on epoll): the cost of a wake
  /// is what became ready, not the number of requests in flight.
  int epfd = -1;
  int wake_fd = -1;

  static int on_socket(CURL*, curl_socket_t s, int what, void* user,
                       void* known) {
    auto* sh = static_cast<shard*>(user);
    auto epfd = sh->owner->epfd;
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.u64 = (uint64_t{sh->index} << 32) | static_cast<uint32_t>(s);
    if (known == nullptr) {
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev) != 0)
        epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
      curl_multi_assign(sh->multi, s, sh);
    } else {
      epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
    }
    return 0;
  }

  static int on_timer(CURLM*, long ms, void* user) {
    auto* sh = static_cast<shard*>(user);
    sh->deadline = ms < 0 ? clock_type::time_point::max()
                          : clock_type::now() + std::chrono::milliseconds{ms};
    return 0;
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  void drain_done(CURLM* multi) {
    int queued = 0;
    while (auto* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      transfer* raw = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
      auto it = active.find(raw->id);
      auto t = std::move(it->second);
      active.erase(it);
      auto code = msg->data.result;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->reply.status);
      if (code != CURLE_OK) {
        t->reply.timed_out = code == CURLE_OPERATION_TIMEDOUT;
        t->reply.error = t->aborted ? "the reader stopped the transfer"
                                    : curl_easy_strerror(code);
      }
      finish(std::move(t));
    }
  }

  void run() {
    std::vector<epoll_event> events(512);
    int running = 0;
    for (;;) {
      std::vector<std::unique_ptr<transfer>> fresh;
      std::vector<uint64_t> cancelled;
      bool stop = false;
      {
        std::lock_guard guard{mutex};
        fresh.swap(incoming);
        cancelled.swap(cancels);
        stop = stopping;
      }
      for (auto& t : fresh)
        add(std::move(t));
      for (auto id : cancelled)
        cancel_now(id);
      if (stop) {
        std::vector<uint64_t> ids;
        for (auto& [id, t] : active)
          ids.push_back(id);
        for (auto id : ids)
          cancel_now(id);
        return;
      }
      auto deadline = clock_type::time_point::max();
      for (auto& sh : shards)
        deadline = std::min(deadline, sh.deadline);
      int wait = 1000;
      if (deadline != clock_type::time_point::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - clock_type::now())
                      .count();
        wait = static_cast<int>(std::clamp<int64_t>(left, 0, 1000));
      }
      int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()),
                         wait);
      for (int i = 0; i < n; ++i) {
        auto tag = events[i].data.u64;
        if (tag == wake_tag) {
          uint64_t count;
          [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof(count));
          continue;
        }
        int flags = 0;
        if (events[i].events & EPOLLIN)
          flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT)
          flags |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP))
          flags |= CURL_CSELECT_ERR;
        auto& sh = shards[tag >> 32];
        curl_multi_socket_action(sh.multi,
                                 static_cast<curl_socket_t>(tag & 0xffffffff),
                                 flags, &running);
      }
      auto now = clock_type::now();
      for (auto& sh : shards)
        if (now >= sh.deadline) {
          sh.deadline = clock_type::time_point::max();
          curl_multi_socket_action(sh.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
      for (auto& sh : shards)
        drain_done(sh.multi);
    }
  }
};

http_client::http_client() : impl_(std::make_unique<impl>()) {
  global_init();
  impl_->epfd = epoll_create1(EPOLL_CLOEXEC);
  impl_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = wake_tag;
  epoll_ctl(impl_->epfd, EPOLL_CTL_ADD, impl_->wake_fd, &ev);
  for (size_t i = 0; i < impl_->shards.size(); ++i) {
    auto& sh = impl_->shards[i];
    sh.multi = curl_multi_init();
    sh.owner = impl_.get();
    sh.index = i;
    // Keep connections for reuse, as many as are in flight at once.
    curl_multi_setopt(sh.multi, CURLMOPT_MAXCONNECTS, 2048L);
    curl_multi_setopt(sh.multi, CURLMOPT_SOCKETFUNCTION, &impl::on_socket);
    curl_multi_setopt(sh.multi, CURLMOPT_SOCKETDATA, &sh);
    curl_multi_setopt(sh.multi, CURLMOPT_TIMERFUNCTION, &impl::on_timer);
    curl_multi_setopt(sh.multi, CURLMOPT_TIMERDATA, &sh);
  }
  impl_->thread = std::thread{[im = impl_.get()] { im->run(); }};
}

http_client::~http_client() {
  {
    std::lock_guard guard{impl_->mutex};
    impl_->stopping = true;
  }
  impl_->wake();
  impl_->thread.join();
  for (auto& sh : impl_->shards)
    curl_multi_cleanup(sh.multi);
  ::close(impl_->epfd);
  ::close(impl_->wake_fd);
}

uint64_t http_client::start(http_request req, chunk_fn chunk, done_fn done) {
  auto t = std::make_unique<transfer>();
  t->id = impl_->next_id.fetch_add(1);
  t->req = std::move(req);
  t->chunk = std::move(chunk);
  t->done = std::move(done);
  auto id = t->id;
  impl_->in_flight.fetch_add(1);
  {
    std::lock_guard guard{impl_->mutex};
    impl_->incoming.push_back(std::move(t));
  }
  impl_->wake();
  return id;
}

void http_client::cancel(uint64_t id) {
  {
    std::lock_guard guard{impl_->mutex};
    impl_->cancels.push_back(id);
  }
  impl_->wake();
}

size_t http_client::in_flight() const {
  return impl_->in_flight.load();
}

std::optional<std::chrono::milliseconds>
retry_after(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("retry-after");
  if (it == headers.end() || it->second.empty())
    return std::nullopt;
  auto& v = it->second;
  if (v.find_first_not_of("0123456789") == std::string::npos && v.size() < 10)
    return std::chrono::milliseconds{std::stoll(v) * 1000};
  auto when = curl_getdate(v.c_str(), nullptr);
  if (when < 0)
    return std::nullopt;
  auto now = std::time(nullptr);
  return std::chrono::milliseconds{std::max<int64_t>(0, (when - now) * 1000)};
}

} // namespace troupe::llm
