// Writes the seed corpus of fuzz_peer_message: sample messages as a peer
// node sends them, through caf::binary_serializer, each file the index of
// its type in fuzz/peer_types.hpp (one byte) and then CAF's bytes.
//
//   clang++-14 -std=c++20 -Isrc -DTROUPE_VERSION='"0"' \
//     fuzz/seeds/peer_message_seeds.cpp src/actors/protocol.cpp \
//     src/core/errc.cpp src/core/types.cpp -lcaf_core -lpthread \
//     -o /tmp/peer_message_seeds
//   /tmp/peer_message_seeds fuzz/corpus/peer_message
//
// (or link it against the troupe library instead of those sources).

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>

#include "../peer_types.hpp"

using namespace troupe;

namespace {

/// The index of `T` in `peer_types`.
template <class T, size_t I = 0>
constexpr size_t index_of() {
  if constexpr (std::is_same_v<std::tuple_element_t<I, fuzz::peer_types>, T>)
    return I;
  else
    return index_of<T, I + 1>();
}

class writer {
public:
  writer(caf::actor_system& sys, std::filesystem::path dir)
    : sys_(sys), dir_(std::move(dir)) {}

  /// Writes `x` as `<type>_<label>`.
  template <class T>
  void operator()(const std::string& label, T x) {
    constexpr auto index = index_of<T>();
    std::vector<char> buf{static_cast<char>(index)};
    caf::binary_serializer sink{sys_, buf};
    if (auto err = sink(x)) {
      std::fprintf(stderr, "cannot serialize %s\n", label.c_str());
      std::exit(1);
    }
    auto file =
      dir_ / (std::string{fuzz::peer_type_names[index]} + "_" + label);
    std::ofstream{file, std::ios::binary}.write(
      buf.data(), static_cast<std::streamsize>(buf.size()));
    std::printf("%s (%zu bytes)\n", file.c_str(), buf.size());
  }

private:
  caf::actor_system& sys_;
  std::filesystem::path dir_;
};

tool_call sample_call() {
  return {"call_1", "calculator", R"({"expression":"17*23+4"})"};
}

tool_result sample_result() {
  return {"call_1", "calculator", true,
          R"({"expression":"17*23+4","result":395,"text":"395"})"};
}

} // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : "fuzz/corpus/peer_message";
  std::filesystem::create_directories(dir);
  caf::actor_system_config cfg;
  register_types(cfg);
  caf::actor_system sys{cfg};
  writer put{sys, dir};
  chat_message user{chat_role::user, "What is 17 * 23 + 4?", {}, {}};
  chat_message asked{chat_role::assistant, "", {sample_call()}, {}};
  chat_message answered{chat_role::tool, sample_result().output, {}, "call_1"};
  tool_spec calc{"calculator", "Evaluates arithmetic",
                 R"({"type":"object","properties":{"expression":)"
                 R"({"type":"string"}},"required":["expression"]})",
                 true};
  task_request task{
    42,        "s1",
    "alice",   "What is 17 * 23 + 4?",
    "default", {user, asked, answered},
    {step_record{{sample_call()}, {sample_result()}}},
    true};
  tool_invocation inv{sample_call(),
                      42,
                      "s1",
                      "alice",
                      "default",
                      approval{1767225600000, 7, std::string(64, 'a')},
                      "engine-1/42/call_1"};
  task_result done{42,
                   task_status::completed,
                   "17 * 23 + 4 = 395",
                   "",
                   {step_record{{sample_call()}, {sample_result()}}},
                   {"memory recall skipped: timeout"},
                   {memory_hit{1, "the launch is on Friday", 1.5, "long_term"}},
                   {40, 9},
                   "rule_based"};
  member_info member{"node-a", "127.0.0.1:4242", {"api", "planner"}, 99, {},
                     {}};
  // A handful, one per kind of traffic; the fuzzer's first byte reaches
  // every other type.
  put("run_task", caf::make_message(run_atom::value, task));
  put("call_tool", caf::make_message(call_atom::value, inv));
  put("hello", caf::make_message(hello_atom::value, member));
  put("recall",
      caf::make_message(recall_atom::value,
                        recall_query{"s1", "launch", 3, "alice", "default"},
                        std::vector<memory_hit>{}));
  put("forbidden",
      make_error(errc::forbidden, "principal 'bob' lacks run_shell"));
  put("completed", done);
  put("conversation", chat_request{{user, asked, answered}, tool_list{{calc}},
                                   "agent-model", R"({"type":"object"})"});
  put("two",
      std::vector<memory_hit>{{1, "the launch is on Friday", 1.5, "long_term"},
                              {2, "lunch at noon", 0.25, "session"}});
  put("two_nodes",
      std::vector<member_info>{member, {"node-b", "", {"tools"}, 7, {}, {}}});
  return 0;
}
