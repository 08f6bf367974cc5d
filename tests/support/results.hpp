#pragma once

#include "core/types.hpp"

namespace troupe::test {

/// A completed task with one step: a memory_store call that succeeded and
/// a calculator call whose arguments are not JSON and whose result failed.
inline task_result sample_result() {
  task_result r;
  r.id = 3;
  r.status = task_status::completed;
  r.answer = "done";
  r.steps.push_back(
    {{{"c1", "memory_store", R"({"text":"a fact"})"},
      {"c2", "calculator", "not json"}},
     {{"c1", "memory_store", true, R"({"id":1,"text":"a fact"})"},
      {"c2", "calculator", false, R"({"error":"bad","code":"tool_failed"})"}}});
  return r;
}

} // namespace troupe::test
