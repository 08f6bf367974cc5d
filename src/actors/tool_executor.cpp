#include "actors/tool_executor.hpp"

#include "actors/fail_fast.hpp"

#include "core/json.hpp"
#include "memory/long_term.hpp"

#include <caf/send.hpp>
#include <caf/system_messages.hpp>

namespace troupe {

namespace {

using executor_ptr =
  local_tool_executor_actor::stateful_pointer<tool_executor_state>;

tool_result failed_result(const tool_call& call, failure f) {
  return tools::to_tool_result(call, std::move(f));
}

/// Keeps the outcome of the call with idempotency key `key` for retries.
void remember(const tool_executor_setup& setup, const std::string& key,
              const tool_result& r) {
  if (setup.done_keys)
    setup.done_keys->put(key, (r.ok ? "1" : "0") + r.output, setup.done_ttl);
}

/// Ends running call `id` with `r` (if it is still running): caches a good
/// result, counts a bad one, answers the caller.
void settle(executor_ptr self, uint64_t id, tool_result r) {
  auto& st = self->state;
  auto i = st.running.find(id);
  if (i == st.running.end())
    return; // timed out or cancelled before: the late result is dropped
  auto& rc = i->second;
  if (r.ok && rc.cache_ttl_ms > 0 && st.setup->cache)
    st.setup->cache->put(rc.cache_key, r.output,
                         std::chrono::milliseconds{rc.cache_ttl_ms});
  if (!r.ok)
    st.setup->counters->failed.fetch_add(1, std::memory_order_relaxed);
  if (!rc.idempotency_key.empty()) {
    remember(*st.setup, rc.idempotency_key, r);
    st.running_keys.erase(rc.idempotency_key);
    for (auto& [promise, call_id] : rc.waiters) {
      auto copy = r;
      copy.call_id = call_id;
      promise.deliver(std::move(copy));
    }
  }
  rc.promise.deliver(std::move(r));
  st.deadlines.erase(rc.deadline);
  st.running.erase(i);
}

/// How often a busy executor looks for calls past their deadlines.
constexpr auto tick = std::chrono::milliseconds{10};

/// Fails every running call with `err` (the executor is going away).
void fail_running(executor_ptr self, const caf::error& err) {
  auto& st = self->state;
  for (auto& [id, rc] : st.running) {
    rc.cancel->cancel();
    rc.promise.deliver(err);
    for (auto& w : rc.waiters)
      w.first.deliver(err);
  }
  st.running.clear();
  st.running_keys.clear();
  st.deadlines.clear();
}

/// Ends running call `id` early with `code` (deadline or cancellation) and
/// tells the tool to stop.
void abort_call(executor_ptr self, uint64_t id, errc code, std::string why) {
  auto& st = self->state;
  auto i = st.running.find(id);
  if (i == st.running.end())
    return;
  auto& rc = i->second;
  rc.cancel->cancel();
  auto& counter = code == errc::timeout ? st.setup->counters->timeouts
                                        : st.setup->counters->cancelled;
  counter.fetch_add(1, std::memory_order_relaxed);
  tool_call call{rc.call_id, rc.name, {}};
  settle(self, id, failed_result(call, {code, std::move(why)}));
}

caf::result<tool_result> run_call(executor_ptr self, tool_invocation& inv) {
  auto& st = self->state;
  auto& setup = *st.setup;
  setup.counters->calls.fetch_add(1, std::memory_order_relaxed);
  auto& call = inv.call;
  // No approved call, no run: whatever sent it (a planner bug, a remote
  // node, a forged or replayed message).
  if (auto ok = setup.verifier->verify(inv, memory::now_ms()); !ok)
    return failed_result(call, ok.error());
  // A call this executor ran (or is running) already: its outcome, not a
  // second run.
  auto& idem = inv.idempotency_key;
  if (!idem.empty()) {
    if (setup.done_keys)
      if (auto hit = setup.done_keys->get(idem)) {
        tool_result r;
        r.call_id = call.id;
        r.name = call.name;
        r.ok = !hit->empty() && (*hit)[0] == '1';
        r.output = hit->empty() ? std::string{} : hit->substr(1);
        return r;
      }
    if (auto i = st.running_keys.find(idem); i != st.running_keys.end()) {
      auto rp = self->make_response_promise<tool_result>();
      st.running.at(i->second).waiters.emplace_back(rp, call.id);
      return rp;
    }
  }
  // The registry in force now; the call keeps it alive while it runs.
  auto reg = setup.catalog->snapshot();
  auto prepared = reg->prepare(call);
  if (!prepared) {
    setup.counters->failed.fetch_add(1, std::memory_order_relaxed);
    return failed_result(call, prepared.error());
  }
  auto& tool = *prepared->tool;
  auto& spec = tool.spec;
  std::string key;
  if (spec.cache_ttl_ms > 0 && setup.cache) {
    key = tools::result_cache::key(spec.name, prepared->args);
    if (auto hit = setup.cache->get(key)) {
      tool_result r;
      r.call_id = call.id;
      r.name = call.name;
      r.ok = true;
      r.output = std::move(*hit);
      return r;
    }
  }
  tools::context ctx;
  ctx.task_id = inv.task_id;
  ctx.session = inv.session;
  ctx.principal = inv.principal;
  auto timeout = std::chrono::milliseconds{spec.timeout_ms};
  ctx.deadline = std::chrono::steady_clock::now() + timeout;
  if (tool.mode == tools::run_mode::immediate) {
    auto r = tools::to_tool_result(call, tools::registry::run(*prepared, ctx));
    if (!idem.empty())
      remember(setup, idem, r);
    if (r.ok && !key.empty())
      setup.cache->put(key, r.output, std::chrono::milliseconds{
                                        spec.cache_ttl_ms});
    if (!r.ok)
      setup.counters->failed.fetch_add(1, std::memory_order_relaxed);
    return r;
  }
  if (tool.mode == tools::run_mode::async ? !tool.async_fn : !tool.fn)
    return failed_result(call, {errc::unknown_tool, "tool '" + call.name +
                                                      "' is not served here"});
  auto id = st.ids();
  while (st.running.count(id) > 0)
    id = st.ids();
  ctx.cancel = std::make_shared<tools::cancellation>();
  auto rp = self->make_response_promise<tool_result>();
  st.running.emplace(id, running_call{rp, call.id, call.name, inv.task_id,
                                      ctx.cancel, std::move(key),
                                      spec.cache_ttl_ms, spec.timeout_ms, idem,
                                      {},
                                      st.deadlines.emplace(ctx.deadline, id)});
  if (!idem.empty())
    st.running_keys.emplace(idem, id);
  if (!st.ticking) {
    st.ticking = true;
    self->delayed_send(self, tick, tick_atom::value);
  }
  // Finished off this thread: the outcome comes back as a message.
  auto me = caf::actor_cast<local_tool_executor_actor>(self);
  // Only what the result names: the arguments stay behind.
  auto done = [me, id, call = tool_call{call.id, call.name, {}}](
                result<json> r) {
    caf::anon_send(me, done_atom::value, id,
                   tools::to_tool_result(call, std::move(r)));
  };
  if (tool.mode == tools::run_mode::async) {
    try {
      tool.async_fn(prepared->args, ctx, done);
    } catch (const std::exception& ex) {
      settle(self, id,
             failed_result(call, {errc::tool_failed, "tool '" + call.name +
                                                       "' threw: " + ex.what()}));
      return rp;
    }
  } else {
    auto job = [reg, p = std::move(*prepared), ctx, done]() mutable {
      done(tools::registry::run(p, ctx));
    };
    if (!setup.pool->submit(std::move(job))) {
      setup.counters->overloaded.fetch_add(1, std::memory_order_relaxed);
      settle(self, id,
             failed_result(call,
                           {errc::overloaded,
                            "tool '" + call.name +
                              "' was not run: all " +
                              std::to_string(setup.pool->threads()) +
                              " tool workers are busy and the queue is full"}));
      return rp;
    }
  }
  return rp;
}

} // namespace

local_tool_executor_actor::behavior_type tool_executor_role(
  executor_ptr self, std::shared_ptr<const tool_executor_setup> setup,
  fault_spec faults) {
  self->state.setup = std::move(setup);
  self->state.faults = fault_injector{"tools", faults};
  // A crash answers the call at hand (answer_on_crash) and every call still
  // running: without this, their callers would wait forever.
  self->set_exception_handler([self](std::exception_ptr& eptr) -> caf::error {
    auto err = make_error(errc::role_down, "role 'tools' crashed: " +
                                             describe_exception(eptr));
    auto current = self->current_mailbox_element();
    if (current != nullptr && current->mid.is_request() &&
        !current->mid.is_answered())
      self->make_response_promise().deliver(err);
    fail_running(self, err);
    return err;
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    fail_running(self, make_error(errc::role_down,
                                  "the tool executor is shutting down"));
    self->quit(msg.reason);
  });
  return {
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      if (auto r = inject_fault<tool_result>(self, self->state.faults)) {
        // An `exit` fault: the executor quits, and so do its calls.
        if (r->flag == caf::rt_error)
          fail_running(self, r->err);
        return std::move(*r);
      }
      return run_call(self, inv);
    },
    [=](list_atom) {
      // What this executor runs: not the tools listed here but served
      // elsewhere (memory's, another node's).
      std::vector<tool_spec> out;
      auto reg = self->state.setup->catalog->snapshot();
      for (auto& [name, e] : reg->entries())
        if (e.fn || e.async_fn)
          out.push_back(e.spec);
      return out;
    },
    [=](cancel_atom, uint64_t task_id) {
      std::vector<uint64_t> ids;
      for (auto& [id, rc] : self->state.running)
        if (rc.task_id == task_id)
          ids.push_back(id);
      for (auto id : ids) {
        auto& rc = self->state.running.at(id);
        abort_call(self, id, errc::cancelled,
                   "tool '" + rc.name + "' was cancelled with its task");
      }
    },
    [=](done_atom, uint64_t id, tool_result& r) {
      settle(self, id, std::move(r));
    },
    [=](tick_atom) {
      // Only its own timer: a stray tick would start a second chain.
      if (self->current_sender().get() != self->ctrl())
        return;
      auto& st = self->state;
      auto now = std::chrono::steady_clock::now();
      while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
        auto id = st.deadlines.begin()->second;
        auto& rc = st.running.at(id);
        abort_call(self, id, errc::timeout,
                   "tool '" + rc.name + "' did not finish within " +
                     std::to_string(rc.timeout_ms) + " ms and was stopped");
      }
      st.ticking = !st.running.empty();
      if (st.ticking)
        self->delayed_send(self, tick, tick_atom::value);
    },
  };
}

} // namespace troupe
