#include "cli/render.hpp"

#include "core/codec.hpp"

namespace troupe::cli {

std::string to_text(const task_result& r) {
  std::string out = r.answer;
  out += '\n';
  for (auto& n : r.notes)
    out += "(note: " + n + ")\n";
  if (!r.memories.empty()) {
    out += "\nRecalled:\n";
    for (auto& m : r.memories)
      out += "  - " + m.text +
             (m.origin == "long_term" ? " (long-term)\n" : " (this session)\n");
  }
  auto mem = remembered(r);
  if (!mem.empty()) {
    out += "\nRemembered:\n";
    for (auto& m : mem)
      out += "  - " + m + "\n";
  }
  return out;
}

namespace {

/// Display width of UTF-8 text without wide characters: its code points.
size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

/// Spaces that take text of `width` columns to `column` (at least one).
std::string padding(size_t width, size_t column) {
  return std::string(width < column ? column - width : 1, ' ');
}

void tree_lines(const std::vector<child_status>& rows, const std::string& parent,
                const std::string& indent, int depth, std::string& out) {
  std::vector<const child_status*> kids;
  for (auto& r : rows)
    if (r.parent == parent)
      kids.push_back(&r);
  // Names are unique in the engine's tree; the depth bound guards against a
  // cycle in hand-made input.
  if (depth > 16)
    return;
  for (size_t i = 0; i < kids.size(); ++i) {
    auto& k = *kids[i];
    bool last = i + 1 == kids.size();
    auto label = indent + (last ? "└── " : "├── ") + k.name;
    auto state = k.state.empty() ? std::string{"unknown"} : k.state;
    out += label + padding(columns(label), 28) + state +
           padding(state.size(), 12) + "restarts " +
           std::to_string(k.restarts);
    if (!k.last_exit.empty())
      out += "  last exit: " + k.last_exit;
    out += "\n";
    tree_lines(rows, k.name, indent + (last ? "    " : "│   "), depth + 1, out);
  }
}

} // namespace

std::string supervision_text(const std::vector<child_status>& rows) {
  std::string out = "root\n";
  tree_lines(rows, "root", "", 0, out);
  return out;
}

} // namespace troupe::cli
