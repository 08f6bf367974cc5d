#include "actors/http_provider.hpp"

#include <caf/send.hpp>

#include <cstdlib>
#include <random>

#include "actors/fail_fast.hpp"
#include "core/json.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace troupe {

namespace {

using self_ptr = http_provider_actor::stateful_pointer<http_provider_state>;
using clock_type = std::chrono::steady_clock;

/// What the I/O thread needs to turn one HTTP exchange into an answer.
struct exchange {
  http_provider_actor provider;
  uint64_t id = 0;
  llm::wire_format format = llm::wire_format::openai;
  bool stream = true;
  std::string secret;
  std::chrono::milliseconds timeout{0};
  llm::sse_parser parser;
  llm::stream_assembler assembler{llm::wire_format::openai};
  /// Where the answer's text goes as it streams (null: nowhere).
  caf::actor sink;
  /// Set when the stream itself went wrong (bad event, error event).
  std::optional<failure> broken;
};

void fail(const exchange& x, errc code, std::string why, int64_t retry_ms,
          bool retryable) {
  caf::anon_send(x.provider, http_fail_atom::value, x.id,
                 make_error(code, without_secret(std::move(why), x.secret)),
                 retry_ms, retryable);
}

/// Runs on the I/O thread when the exchange ends.
void conclude(exchange& x, llm::http_reply& reply) {
  if (reply.cancelled)
    return fail(x, errc::provider_failed, "the call was cancelled", -1, false);
  if (reply.status == 0) {
    auto why = reply.timed_out
                 ? "the model API did not answer within " +
                     std::to_string(x.timeout.count()) + " ms"
                 : "cannot reach the model API: " + reply.error;
    return fail(x, errc::provider_failed, why, -1, true);
  }
  auto wait = llm::retry_after(reply.headers);
  auto wait_ms = wait ? static_cast<int64_t>(wait->count()) : int64_t{-1};
  auto status = reply.status;
  if (status < 200 || status >= 300) {
    auto msg = llm::error_message(reply.body);
    auto head = "the model API answered " + std::to_string(status);
    if (status == 401 || status == 403)
      return fail(x, errc::provider_failed,
                  head + " (the API key was refused): " + msg, -1, false);
    bool transient = status == 408 || status == 409 || status == 429 ||
                     status >= 500;
    return fail(x, errc::provider_failed, head + ": " + msg, wait_ms,
                transient);
  }
  result<chat_response> answer = failure{};
  if (x.stream) {
    if (x.broken)
      return fail(x, x.broken->code, x.broken->message, -1, false);
    if (!reply.error.empty() && !x.assembler.done())
      // Cut mid-stream by the network: worth another try.
      return fail(x, errc::provider_failed,
                  "the model's stream broke off: " + reply.error, -1, true);
    answer = x.assembler.finish();
  } else {
    answer = llm::parse_response(x.format, reply.body);
  }
  if (!answer)
    return fail(x, answer.error().code, answer.error().message, -1, false);
  caf::anon_send(x.provider, http_ok_atom::value, x.id, std::move(*answer));
}

void launch(self_ptr self, uint64_t id);

/// Starts waiting calls while there is room.
void pump(self_ptr self) {
  auto& st = self->state;
  while (!st.waiting.empty() && st.running < st.settings.max_concurrency) {
    auto id = st.waiting.front();
    st.waiting.pop_front();
    launch(self, id);
  }
}

void launch(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto it = st.calls.find(id);
  if (it == st.calls.end())
    return;
  ++st.running;
  llm::http_request req;
  auto base = st.settings.url();
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  req.url = base + (st.format == llm::wire_format::openai ? "/chat/completions"
                                                           : "/messages");
  req.body = it->second.body;
  req.connect_timeout = st.settings.connect_timeout;
  req.total_timeout = st.settings.timeout;
  req.headers.push_back("Content-Type: application/json");
  if (st.settings.stream)
    req.headers.push_back("Accept: text/event-stream");
  if (st.format == llm::wire_format::anthropic) {
    req.headers.push_back("anthropic-version: 2023-06-01");
    if (!st.api_key.empty())
      req.headers.push_back("x-api-key: " + st.api_key);
  } else if (!st.api_key.empty()) {
    req.headers.push_back("Authorization: Bearer " + st.api_key);
  }
  auto x = std::make_shared<exchange>();
  x->provider = caf::actor_cast<http_provider_actor>(self);
  x->id = id;
  x->format = st.format;
  x->stream = st.settings.stream;
  x->secret = st.api_key;
  x->timeout = st.settings.timeout;
  x->assembler = llm::stream_assembler{st.format};
  // A retry after text went out would send it twice: only the first
  // attempt streams (a retried call's answer comes whole).
  if (it->second.attempt == 0)
    x->sink = it->second.sink;
  llm::http_client::chunk_fn chunk;
  if (st.settings.stream)
    chunk = [x](std::string_view bytes) {
      std::vector<llm::sse_event> events;
      if (auto ok = x->parser.feed(bytes, events); !ok) {
        x->broken = ok.error();
        return false;
      }
      for (auto& e : events)
        if (auto ok = x->assembler.on_event(e); !ok) {
          x->broken = ok.error();
          return false;
        }
      if (x->sink)
        if (auto text = x->assembler.take_text(); !text.empty())
          caf::anon_send(x->sink, token_atom::value, std::move(text));
      return true;
    };
  st.client->start(std::move(req), std::move(chunk),
                   [x](llm::http_reply reply) { conclude(*x, reply); });
}

/// Exponential backoff with jitter (0.5–1.5×) for attempt `n` (1-based).
std::chrono::milliseconds backoff(const llm::provider_config& s, uint32_t n) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter{0.5, 1.5};
  auto base = static_cast<double>(s.retry_base.count()) *
              static_cast<double>(uint64_t{1} << std::min(n - 1, 20u));
  auto ms = std::min(base * jitter(rng), static_cast<double>(s.retry_max.count()));
  return std::chrono::milliseconds{static_cast<int64_t>(ms)};
}

} // namespace

std::string without_secret(std::string text, const std::string& secret) {
  if (secret.size() < 4)
    return text;
  for (size_t pos; (pos = text.find(secret)) != std::string::npos;)
    text.replace(pos, secret.size(), "[REDACTED]");
  return text;
}

http_provider_actor::behavior_type
http_provider(self_ptr self, std::string role, llm::provider_config settings,
              std::shared_ptr<llm::http_client> client, fault_spec faults) {
  answer_on_crash(self, role);
  auto& st = self->state;
  st.role = role;
  st.format = settings.kind == "anthropic" ? llm::wire_format::anthropic
                                           : llm::wire_format::openai;
  if (auto var = settings.key_variable(); !var.empty())
    if (auto* v = std::getenv(var.c_str()))
      st.api_key = v;
  st.settings = std::move(settings);
  st.client = std::move(client);
  st.faults = fault_injector{std::move(role), faults};
  auto describe_role = [self] {
    auto& st = self->state;
    return "model provider '" + st.role + "' (" + st.settings.kind + ", " +
           st.settings.model + ")";
  };
  auto complete = [=](const chat_request& req,
                      caf::actor sink) -> caf::result<chat_response> {
    if (auto r = inject_fault<chat_response>(self, self->state.faults))
      return std::move(*r);
    auto& st = self->state;
    auto now = clock_type::now();
    if (st.failures >= st.settings.breaker_failures) {
      // Open: fail at once, so the task falls back without waiting.
      // Past the cooldown one call goes through as a probe.
      if (now < st.open_until || st.probing) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          st.open_until - now);
        return make_error(
          errc::provider_failed,
          describe_role() + " is unavailable: " +
            std::to_string(st.failures) +
            " calls failed in a row (circuit open" +
            (now < st.open_until
               ? ", next try in " + std::to_string(left.count()) + " ms)"
               : ", a probe call is under way)"));
      }
      st.probing = true;
    }
    auto id = st.next_call++;
    auto& c = st.calls[id];
    c.promise = self->make_response_promise<chat_response>();
    c.body = llm::request_body(
      st.format, req, {st.settings.model, st.settings.max_tokens, st.settings.stream});
    c.structured = !req.response_schema.empty();
    c.sink = std::move(sink);
    if (st.running < st.settings.max_concurrency)
      launch(self, id);
    else
      st.waiting.push_back(id);
    return c.promise;
  };
  return {
    [=](complete_atom, const chat_request& req) -> caf::result<chat_response> {
      return complete(req, caf::actor{});
    },
    [=](complete_atom, const chat_request& req,
        caf::actor& sink) -> caf::result<chat_response> {
      return complete(req, std::move(sink));
    },
    [=](http_ok_atom, uint64_t id, chat_response& resp) {
      auto& st = self->state;
      --st.running;
      st.failures = 0;
      st.probing = false;
      if (auto it = st.calls.find(id); it != st.calls.end()) {
        if (it->second.structured)
          llm::unwrap_final_answer(resp);
        it->second.promise.deliver(std::move(resp));
        st.calls.erase(it);
      }
      pump(self);
    },
    [=](http_fail_atom, uint64_t id, caf::error& err, int64_t retry_ms,
        bool retryable) {
      auto& st = self->state;
      --st.running;
      auto it = st.calls.find(id);
      if (it == st.calls.end()) {
        pump(self);
        return;
      }
      auto& c = it->second;
      auto wait = backoff(st.settings, c.attempt + 1);
      if (retry_ms >= 0)
        wait = std::max(wait, std::chrono::milliseconds{retry_ms});
      if (retryable && c.attempt < st.settings.max_retries &&
          wait <= st.settings.retry_max) {
        ++c.attempt;
        log::get()->warn(R"("event":"provider_retry","provider":"{}","attempt":{},"wait_ms":{},"reason":{})",
                         st.role, c.attempt, wait.count(),
                         json(describe(err)).dump());
        self->delayed_send(self, wait, retry_atom::value, id);
        pump(self);
        return;
      }
      ++st.failures;
      st.probing = false;
      if (st.failures >= st.settings.breaker_failures) {
        st.open_until = clock_type::now() + st.settings.breaker_cooldown;
        log::get()->error(R"("event":"provider_circuit_open","provider":"{}","failures":{})",
                          st.role, st.failures);
      }
      auto why = describe_role() + ": " + describe(err) +
                 (c.attempt > 0
                    ? " (after " + std::to_string(c.attempt) + " retries)"
                    : "");
      log::get()->error(R"("event":"provider_failed","provider":"{}","error":{})",
                        st.role, json(why).dump());
      c.promise.deliver(make_error(code_of(err), why));
      st.calls.erase(it);
      pump(self);
    },
    [=](retry_atom, uint64_t id) {
      auto& st = self->state;
      if (st.running < st.settings.max_concurrency)
        launch(self, id);
      else
        st.waiting.push_front(id);
    },
  };
}

} // namespace troupe
