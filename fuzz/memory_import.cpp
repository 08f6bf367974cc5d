// Long-term memory's import (memory::long_term_store::import_jsonl, what
// `troupe memory import` runs) on a store opened once in a temp dir. After
// an import, each namespace it touched (up to four) keeps to its cap, its
// export imports again, and a search in it returns only its own unexpired
// memories, at most the limit asked.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "core/log.hpp"
#include "memory/long_term.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

/// Small, so eviction runs often and an export stays short.
constexpr size_t cap = 50;

/// Records imported before the store starts over (its file only grows).
constexpr uint64_t records_per_store = 20000;

std::unique_ptr<memory::long_term_store> store;
uint64_t imported = 0;

std::filesystem::path store_file() {
  return fuzz::temp_dir() / "memory.db";
}

void open_store() {
  store.reset();
  for (auto suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(store_file().string() + suffix);
  memory::long_term_config cfg;
  cfg.file = store_file();
  cfg.max_entry_bytes = 8192;
  cfg.max_per_namespace = cap;
  cfg.durable = false;
  auto s = memory::long_term_store::open(cfg);
  if (!s) {
    std::fprintf(stderr, "fuzz: %s\n", s.error().message.c_str());
    std::abort();
  }
  store = std::move(*s);
  imported = 0;
}

/// The namespaces and the first text the input's lines name (as far as
/// they parse), at most four namespaces.
std::set<std::string> namespaces(std::string_view input, std::string& text) {
  std::set<std::string> out;
  for (auto line : fuzz::lines(input)) {
    auto j = parse_object(line, "line");
    if (!j || !j->contains("namespace") || !(*j)["namespace"].is_string())
      continue;
    out.insert((*j)["namespace"].get<std::string>());
    if (text.empty() && j->contains("text") && (*j)["text"].is_string())
      text = (*j)["text"].get<std::string>();
    if (out.size() == 4)
      break;
  }
  return out;
}

void check_namespace(const std::string& ns, const std::string& text) {
  std::ostringstream exported;
  auto n = store->export_jsonl(exported, ns);
  if (!n)
    fuzz::broken("a namespace that was just imported cannot be exported");
  if (*n > cap)
    fuzz::broken("a namespace holds more memories than its cap");
  std::istringstream again{exported.str()};
  if (!store->import_jsonl(again))
    fuzz::broken("an export does not import again");
  imported += *n;
  auto now = memory::now_ms();
  auto hits = store->search(ns, text, 5, now);
  if (!hits)
    return;
  if (hits->size() > 5)
    fuzz::broken("a search returned more than its limit");
  for (auto& h : *hits) {
    if (h.rec.ns != ns)
      fuzz::broken("a search returned another namespace's memory");
    if (h.rec.expires_ms != 0 && h.rec.expires_ms <= now)
      fuzz::broken("a search returned an expired memory");
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Warnings on bad records would flood the fuzzer's output.
  log::set_level("off");
  fuzz::temp_dir();
  open_store();
  // After temp_dir's handler was registered: runs first, closing the
  // database before its directory goes.
  std::atexit([] { store.reset(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (imported >= records_per_store)
    open_store();
  std::string_view input{reinterpret_cast<const char*>(data), size};
  std::istringstream in{std::string{input}};
  auto n = store->import_jsonl(in);
  if (!n) {
    auto code = n.error().code;
    if (code != errc::invalid_input && code != errc::too_large)
      fuzz::broken("an import failed with a code other than invalid_input "
                   "or too_large");
    return 0;
  }
  imported += *n;
  std::string text;
  for (auto& ns : namespaces(input, text))
    check_namespace(ns, text);
  return 0;
}
