/// bench/memory: the long-term store (SQLite WAL + FTS5) at scale.
///
/// - `insert`: memories/s, batched 1,000 per transaction, synced commits
///   (the default `durable` setting), into one namespace.
/// - `size`: database bytes per memory after the inserts.
/// - `recall`: p50/p99 of ranked recall (top 5) over all of them, with 2-3
///   word queries drawn like the texts (Zipf-distributed words).
/// - `recall_during_writes`: the same while another connection keeps
///   inserting, plus the write rate meanwhile.
///
/// Usage: memory [--quick] [--memories N]. One JSON line per scenario.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <unistd.h>

#include "memory/long_term.hpp"
#include "support/output.hpp"
#include "support/stats.hpp"
#include "support/timing.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace troupe;
using bench::ms_since;
using bench::print_figure;

/// Pronounceable pseudo-words, and a Zipf sampler over them: texts and
/// queries share the word distribution of natural language.
class corpus {
public:
  explicit corpus(size_t words, uint32_t seed = 42) : rng_(seed) {
    static constexpr std::string_view onsets[] = {"b", "d", "f", "g", "k",
                                                  "l", "m", "n", "p", "r",
                                                  "s", "t", "v", "z", "br",
                                                  "st", "tr", "pl"};
    static constexpr std::string_view vowels[] = {"a", "e", "i", "o", "u",
                                                  "ai", "ou"};
    std::uniform_int_distribution<size_t> on(0, std::size(onsets) - 1);
    std::uniform_int_distribution<size_t> vo(0, std::size(vowels) - 1);
    std::uniform_int_distribution<int> syl(2, 4);
    while (words_.size() < words) {
      std::string w;
      for (int i = syl(rng_); i > 0; --i)
        w += std::string{onsets[on(rng_)]} + std::string{vowels[vo(rng_)]};
      words_.push_back(std::move(w));
    }
    std::vector<double> weights(words);
    for (size_t i = 0; i < words; ++i)
      weights[i] = 1.0 / static_cast<double>(i + 1);
    zipf_ = std::discrete_distribution<size_t>(weights.begin(), weights.end());
  }

  std::string text(size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      if (i > 0)
        out += ' ';
      out += words_[zipf_(rng_)];
    }
    return out;
  }

  std::mt19937& rng() {
    return rng_;
  }

private:
  std::mt19937 rng_;
  std::vector<std::string> words_;
  std::discrete_distribution<size_t> zipf_;
};

std::vector<memory::record> make_batch(corpus& c, size_t n) {
  std::uniform_int_distribution<size_t> len(8, 14);
  std::vector<memory::record> out(n);
  for (auto& r : out) {
    r.ns = "bench/default";
    r.text = c.text(len(c.rng()));
  }
  return out;
}

/// Recall latencies (ms) of `n` queries of 2-3 words.
std::vector<double> recall_latencies(memory::long_term_store& s, corpus& c,
                                     size_t n, size_t* hits_out = nullptr) {
  std::uniform_int_distribution<size_t> words(2, 3);
  std::vector<double> ms;
  ms.reserve(n);
  size_t hits = 0;
  for (size_t i = 0; i < n; ++i) {
    auto q = c.text(words(c.rng()));
    auto t0 = clock_type::now();
    auto r = s.search("bench/default", q, 5);
    ms.push_back(ms_since(t0));
    if (r)
      hits += r->size();
  }
  if (hits_out)
    *hits_out = hits;
  return ms;
}

} // namespace

int main(int argc, char** argv) {
  size_t memories = 1'000'000;
  for (int i = 1; i < argc; ++i) {
    std::string_view a{argv[i]};
    if (a == "--quick") {
      memories = 100'000;
    } else if (a == "--memories" && i + 1 < argc) {
      memories = std::stoul(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: memory [--quick] [--memories N]\n");
      return 2;
    }
  }
  auto dir = std::filesystem::temp_directory_path() /
             ("troupe-bench-memory-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  memory::long_term_config cfg;
  cfg.file = dir / "memory.db";
  cfg.max_per_namespace = memories * 2;
  cfg.durable = std::getenv("NODURABLE") == nullptr;
  auto store = memory::long_term_store::open(cfg);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message.c_str());
    return 1;
  }
  corpus c{20000};
  constexpr size_t batch_size = 1000;
  // Texts are made in chunks outside the timed part: the figure is the
  // store's insert rate, not the generator's.
  double insert_ms = 0;
  constexpr size_t chunk = 100'000;
  for (size_t done = 0; done < memories; done += chunk) {
    std::vector<std::vector<memory::record>> batches;
    for (size_t i = done; i < std::min(done + chunk, memories); i += batch_size)
      batches.push_back(make_batch(c, std::min(batch_size, memories - i)));
    auto t0 = clock_type::now();
    for (auto& batch : batches)
      if (auto ok = (*store)->insert(batch); !ok) {
        std::fprintf(stderr, "%s\n", ok.error().message.c_str());
        return 1;
      }
    insert_ms += ms_since(t0);
  }
  print_figure("{\"scenario\":\"insert\",\"memories\":%zu,\"batch\":%zu,"
               "\"durable\":true,\"wall_ms\":%.1f,\"memories_per_s\":%.0f}\n",
               memories, batch_size, insert_ms,
               static_cast<double>(memories) / (insert_ms / 1000));
  (*store)->compact();
  auto st = (*store)->stats();
  print_figure("{\"scenario\":\"size\",\"memories\":%llu,\"file_bytes\":%llu,"
               "\"bytes_per_memory\":%.1f}\n",
               static_cast<unsigned long long>(st->memories),
               static_cast<unsigned long long>(st->file_bytes),
               static_cast<double>(st->file_bytes) /
                 static_cast<double>(st->memories));
  auto reader =
    memory::long_term_store::open(cfg, memory::long_term_store::mode::read_only);
  if (!reader) {
    std::fprintf(stderr, "%s\n", reader.error().message.c_str());
    return 1;
  }
  corpus queries{20000, 7};
  recall_latencies(**reader, queries, 200); // warm the page cache
  size_t hits = 0;
  auto ms = recall_latencies(**reader, queries, 2000, &hits);
  auto recall = bench::summarize(ms);
  print_figure("{\"scenario\":\"recall\",\"memories\":%zu,\"queries\":%zu,"
               "\"top_k\":5,\"avg_hits\":%.2f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
               memories, ms.size(),
               static_cast<double>(hits) / static_cast<double>(ms.size()),
               recall.p50, recall.p99);
  // Recall on one connection while another writes.
  std::atomic<bool> stop{false};
  std::atomic<size_t> written{0};
  std::thread writer{[&] {
    corpus wc{20000, 99};
    while (!stop.load()) {
      auto batch = make_batch(wc, 100);
      if ((*store)->insert(batch))
        written += batch.size();
    }
  }};
  auto w0 = clock_type::now();
  auto during = recall_latencies(**reader, queries, 2000);
  stop = true;
  writer.join();
  auto during_ms = ms_since(w0);
  auto during_summary = bench::summarize(during);
  print_figure("{\"scenario\":\"recall_during_writes\",\"queries\":%zu,"
               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"writes_per_s\":%.0f}\n",
               during.size(), during_summary.p50, during_summary.p99,
               static_cast<double>(written.load()) / (during_ms / 1000));
  reader->reset();
  store->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
