#include "tools/files.hpp"

#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/checks.hpp"
#include "tools/unique_fd.hpp"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

namespace troupe::tools {

namespace fs = std::filesystem;

namespace {

// Quotes a path for messages; NUL bytes show as \0.
std::string quote(std::string_view path) {
  std::string out = "'";
  for (char c : path)
    if (c == '\0')
      out += "\\0";
    else
      out += c;
  return out + "'";
}

// Opens `path` beneath `dirfd`: the kernel refuses (EXDEV) any resolution
// step that leaves `dirfd`'s tree, through `..`, an absolute path or a
// symlink, and refuses /proc magic links.
int open_beneath(int dirfd, const std::string& path, uint64_t flags,
                 uint64_t mode = 0) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: a rename raced with the lookup; the kernel asks to retry.
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0)
      return static_cast<int>(fd);
    if (errno != EAGAIN && errno != EINTR)
      return -1;
  }
  return -1;
}

failure escape(std::string_view path) {
  return {errc::path_escape,
          "path " + quote(path) + " leads outside the workspace"};
}

// Turns a failed open's errno into the tool's error for `path`.
failure open_failure(int err, std::string_view path) {
  switch (err) {
    case EXDEV:
    case ELOOP: // a symlink loop, or a link followed where none may be
      return escape(path);
    case ENOENT:
    case ENOTDIR:
      return {errc::not_found, "path " + quote(path) + " does not exist"};
    case ENOSYS:
      return {errc::tool_failed,
              "the kernel lacks openat2, which the file tools need"};
    default:
      return {errc::tool_failed,
              "cannot open " + quote(path) + ": " + std::strerror(err)};
  }
}

result<unique_fd> open_root(const files_config& cfg) {
  unique_fd fd{::open(cfg.workspace.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0)
    return failure{errc::invalid_config, "cannot open workspace " +
                                           quote(cfg.workspace.string()) +
                                           ": " + std::strerror(errno)};
  return fd;
}

// The components of a checked relative path, without empty and "."
// components.
std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos)
      next = path.size();
    auto part = path.substr(pos, next - pos);
    if (!part.empty() && part != ".")
      out.emplace_back(part);
    pos = next + 1;
  }
  return out;
}

// Reads all of `fd` (at most `limit` + 1 bytes, enough to tell it is too
// large) and appends it to `out`.
result<bool> read_all(int fd, uint64_t limit, std::string_view path,
                      std::string& out) {
  char buf[65536];
  uint64_t got = 0;
  for (;;) {
    uint64_t remaining = limit - got;
    size_t want = remaining >= sizeof(buf) ? sizeof(buf)
                                           : static_cast<size_t>(remaining + 1);
    auto n = ::read(fd, buf, want);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return failure{errc::tool_failed, "cannot read " + quote(path) + ": " +
                                          std::strerror(errno)};
    }
    if (n == 0)
      return true;
    out.append(buf, static_cast<size_t>(n));
    got += static_cast<uint64_t>(n);
    if (got > limit)
      return failure{errc::too_large, "file " + quote(path) +
                                        " has more than " +
                                        std::to_string(limit) + " bytes"};
  }
}

result<bool> write_all(int fd, std::string_view data, std::string_view path) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return failure{errc::tool_failed, "cannot write " + quote(path) + ": " +
                                          std::strerror(errno)};
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Opens (creating what is missing) the directory that holds the last of
// `parts`, each step confined beneath `root`.
result<unique_fd> open_parent(int root, const std::vector<std::string>& parts,
                              std::string_view path) {
  unique_fd dir{::fcntl(root, F_DUPFD_CLOEXEC, 0)};
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (prefix.empty() ? "" : "/") + parts[i];
    // Resolve from the root each time, so a symlink to a sibling directory
    // inside the workspace works while one leading out still fails.
    unique_fd next{open_beneath(root, prefix, O_PATH | O_DIRECTORY)};
    if (next.get() < 0 && errno == ENOENT) {
      // mkdirat never follows a link in its last component, and `dir` is
      // confined: the new directory lands inside the workspace.
      if (::mkdirat(dir.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        return failure{errc::tool_failed, "cannot create directory " +
                                            quote(prefix) + ": " +
                                            std::strerror(errno)};
      next = unique_fd{open_beneath(root, prefix, O_PATH | O_DIRECTORY)};
    }
    if (next.get() < 0) {
      if (errno == ENOTDIR)
        return failure{errc::invalid_arguments,
                       "path " + quote(prefix) + " is not a directory"};
      return open_failure(errno, path);
    }
    dir = std::move(next);
  }
  return dir;
}

std::string temp_name() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, ".troupe-tmp-%016llx",
                static_cast<unsigned long long>(gen()));
  return buf;
}

} // namespace

result<bool> validate(const files_config& cfg) {
  if (auto ok = require_directory("workspace", cfg.workspace); !ok)
    return ok;
  if (auto ok = require_positive("max_read_bytes", cfg.max_read_bytes); !ok)
    return ok;
  if (auto ok = require_positive("max_write_bytes", cfg.max_write_bytes); !ok)
    return ok;
  return require_positive("max_list_entries", cfg.max_list_entries);
}

result<bool> check_relative_path(std::string_view path) {
  if (path.empty())
    return failure{errc::invalid_arguments, "path must not be empty"};
  if (path.find('\0') != std::string_view::npos)
    return failure{errc::path_escape,
                   "path " + quote(path) + " contains a NUL byte"};
  if (path.front() == '/')
    return failure{errc::path_escape,
                   "path " + quote(path) +
                     " is outside the workspace (absolute paths are not "
                     "allowed)"};
  for (size_t pos = 0; pos <= path.size();) {
    auto next = path.find('/', pos);
    if (next == std::string_view::npos)
      next = path.size();
    if (path.substr(pos, next - pos) == "..")
      return failure{errc::path_escape,
                     "path " + quote(path) +
                       " is outside the workspace ('..' is not allowed)"};
    pos = next + 1;
  }
  return true;
}

result<std::string> read_workspace_file(const files_config& cfg,
                                        std::string_view path) {
  if (auto ok = check_relative_path(path); !ok)
    return ok.error();
  auto root = open_root(cfg);
  if (!root)
    return root.error();
  // O_NONBLOCK keeps a FIFO from blocking the open (fstat rejects it next).
  unique_fd fd{
    open_beneath(root->get(), std::string{path}, O_RDONLY | O_NONBLOCK)};
  if (fd.get() < 0)
    return open_failure(errno, path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return failure{errc::tool_failed,
                   "cannot stat " + quote(path) + ": " + std::strerror(errno)};
  if (!S_ISREG(st.st_mode))
    return failure{errc::invalid_arguments,
                   "path " + quote(path) + " is not a regular file"};
  auto size = static_cast<uint64_t>(st.st_size);
  if (size > cfg.max_read_bytes)
    return failure{errc::too_large, "file " + quote(path) + " has " +
                                      std::to_string(size) + " bytes, limit " +
                                      std::to_string(cfg.max_read_bytes)};
  std::string content;
  content.reserve(static_cast<size_t>(size));
  if (auto ok = read_all(fd.get(), cfg.max_read_bytes, path, content); !ok)
    return ok.error();
  if (content.find('\0') != std::string::npos)
    return failure{errc::invalid_arguments,
                   "file " + quote(path) + " is a binary file"};
  return content;
}

result<write_outcome> write_workspace_file(const files_config& cfg,
                                           std::string_view path,
                                           std::string_view content,
                                           bool append) {
  if (auto ok = check_relative_path(path); !ok)
    return ok.error();
  if (content.size() > cfg.max_write_bytes)
    return failure{errc::too_large, "content for " + quote(path) + " has " +
                                      std::to_string(content.size()) +
                                      " bytes, limit " +
                                      std::to_string(cfg.max_write_bytes)};
  auto parts = components(path);
  if (parts.empty())
    return failure{errc::invalid_arguments,
                   "path " + quote(path) + " is the workspace directory"};
  auto root = open_root(cfg);
  if (!root)
    return root.error();
  auto dir = open_parent(root->get(), parts, path);
  if (!dir)
    return dir.error();
  const auto& name = parts.back();
  struct stat st {};
  bool exists =
    ::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT)
    return failure{errc::tool_failed,
                   "cannot stat " + quote(path) + ": " + std::strerror(errno)};
  if (exists && S_ISLNK(st.st_mode)) {
    // Say "outside" for links that lead out; others are refused too, since
    // the rename would replace the link rather than write through it.
    unique_fd target{open_beneath(root->get(), std::string{path}, O_PATH)};
    if (target.get() < 0 && (errno == EXDEV || errno == ELOOP))
      return escape(path);
    return failure{errc::invalid_arguments,
                   "path " + quote(path) +
                     " is a symbolic link; write to the file it names"};
  }
  if (exists && S_ISDIR(st.st_mode))
    return failure{errc::invalid_arguments,
                   "path " + quote(path) + " is a directory"};
  if (exists && !S_ISREG(st.st_mode))
    return failure{errc::invalid_arguments,
                   "path " + quote(path) + " is not a regular file"};
  std::string old;
  if (append && exists) {
    auto size = static_cast<uint64_t>(st.st_size);
    if (size + content.size() > cfg.max_write_bytes)
      return failure{errc::too_large,
                     "appending " + std::to_string(content.size()) +
                       " bytes to " + quote(path) + " (" +
                       std::to_string(size) + " bytes) exceeds the limit of " +
                       std::to_string(cfg.max_write_bytes)};
    unique_fd in{
      open_beneath(dir->get(), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)};
    if (in.get() < 0)
      return open_failure(errno, path);
    auto ok =
      read_all(in.get(), cfg.max_write_bytes - content.size(), path, old);
    if (!ok)
      return ok.error();
  }
  auto tmp = temp_name();
  unique_fd out{
    open_beneath(dir->get(), tmp, O_WRONLY | O_CREAT | O_EXCL, 0644)};
  if (out.get() < 0)
    return failure{errc::tool_failed, "cannot create a temporary file for " +
                                        quote(path) + ": " +
                                        std::strerror(errno)};
  auto written = [&]() -> result<bool> {
    if (exists && ::fchmod(out.get(), st.st_mode & 07777) != 0)
      return failure{errc::tool_failed, "cannot set the mode of " +
                                          quote(path) + ": " +
                                          std::strerror(errno)};
    if (auto ok = write_all(out.get(), old, path); !ok)
      return ok;
    if (auto ok = write_all(out.get(), content, path); !ok)
      return ok;
    // The data must be on disk before the rename makes it the file.
    if (::fsync(out.get()) != 0)
      return failure{errc::tool_failed, "cannot sync " + quote(path) + ": " +
                                          std::strerror(errno)};
    if (::renameat(dir->get(), tmp.c_str(), dir->get(), name.c_str()) != 0)
      return failure{errc::tool_failed, "cannot replace " + quote(path) + ": " +
                                          std::strerror(errno)};
    return true;
  }();
  if (!written) {
    ::unlinkat(dir->get(), tmp.c_str(), 0);
    return written.error();
  }
  return write_outcome{old.size() + content.size(), !exists};
}

result<json> list_workspace_dir(const files_config& cfg,
                                std::string_view path) {
  std::string dir_path = path.empty() ? "." : std::string{path};
  if (auto ok = check_relative_path(dir_path); !ok)
    return ok.error();
  auto root = open_root(cfg);
  if (!root)
    return root.error();
  unique_fd fd{open_beneath(root->get(), dir_path, O_RDONLY | O_DIRECTORY)};
  if (fd.get() < 0) {
    if (errno == ENOTDIR)
      return failure{errc::invalid_arguments,
                     "path " + quote(dir_path) + " is not a directory"};
    return open_failure(errno, dir_path);
  }
  DIR* dir = ::fdopendir(fd.get());
  if (dir == nullptr)
    return failure{errc::tool_failed, "cannot list " + quote(dir_path) + ": " +
                                        std::strerror(errno)};
  fd.release(); // closedir closes it
  // Keep the first max_list_entries names in order without holding every
  // name of a huge directory.
  std::set<std::string> kept;
  uint64_t total = 0;
  while (auto* de = ::readdir(dir)) {
    std::string_view name{de->d_name};
    if (name == "." || name == "..")
      continue;
    ++total;
    kept.emplace(name);
    if (kept.size() > cfg.max_list_entries)
      kept.erase(std::prev(kept.end()));
  }
  json entries = json::array();
  for (auto& name : kept) {
    json e{{"name", name}};
    struct stat st {};
    if (::fstatat(::dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      e["type"] = "other";
    else if (S_ISREG(st.st_mode)) {
      e["type"] = "file";
      e["bytes"] = static_cast<uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode))
      e["type"] = "dir";
    else if (S_ISLNK(st.st_mode))
      e["type"] = "symlink";
    else
      e["type"] = "other";
    entries.push_back(std::move(e));
  }
  ::closedir(dir);
  json out;
  out["path"] = dir_path;
  out["entries"] = std::move(entries);
  out["total"] = total;
  out["truncated"] = total > kept.size();
  return out;
}

std::vector<entry> file_tools(files_config cfg) {
  auto path_param = [](std::string what) {
    return json{{"type", "string"}, {"description", std::move(what)}};
  };
  std::vector<entry> out(3);

  auto& rd = out[0];
  rd.spec.name = "read_file";
  rd.spec.description =
    "Reads a text file from the workspace and returns its content. The "
    "path is relative to the workspace root; paths outside it, binary "
    "files and files over " +
    std::to_string(cfg.max_read_bytes) + " bytes are refused.";
  rd.spec.parameters = object_schema(
    {{"path", path_param("Path of the file relative to the workspace, e.g. "
                         "\"notes.txt\".")}},
    {"path"});
  // Reading twice is harmless (the file may have changed in between, as
  // it may between any two reads).
  rd.spec.idempotent = true;
  rd.spec.permissions = {"access_files"};
  rd.fn = [cfg](const json& args, const context&) -> result<json> {
    if (auto ok = only_args(args, {"path"}); !ok)
      return ok.error();
    auto path = string_arg(args, "path");
    if (!path)
      return path.error();
    auto content = read_workspace_file(cfg, *path);
    if (!content)
      return content.error();
    json res;
    res["path"] = *path;
    res["bytes"] = content->size();
    res["content"] = std::move(*content);
    return res;
  };

  auto& wr = out[1];
  wr.spec.name = "write_file";
  wr.spec.description =
    "Writes a text file in the workspace, replacing it (or appending to it "
    "with append: true) atomically and creating missing directories. The "
    "path is relative to the workspace root; the file may hold at most " +
    std::to_string(cfg.max_write_bytes) + " bytes.";
  wr.spec.parameters = object_schema(
    {{"path", path_param("Path of the file relative to the workspace.")},
     {"content", {{"type", "string"}, {"description", "The text to write."}}},
     {"append",
      {{"type", "boolean"},
       {"description", "Append to the file instead of replacing it."},
       {"default", false}}}},
    {"path", "content"});
  // Appending twice appends twice.
  wr.spec.idempotent = false;
  wr.spec.permissions = {"access_files"};
  wr.fn = [cfg](const json& args, const context&) -> result<json> {
    if (auto ok = only_args(args, {"path", "content", "append"}); !ok)
      return ok.error();
    auto path = string_arg(args, "path");
    if (!path)
      return path.error();
    auto content = string_arg(args, "content");
    if (!content)
      return content.error();
    auto append = bool_arg(args, "append", false);
    if (!append)
      return append.error();
    auto done = write_workspace_file(cfg, *path, *content, *append);
    if (!done)
      return done.error();
    json res;
    res["path"] = *path;
    res["bytes_written"] = content->size();
    res["size"] = done->size;
    res["created"] = done->created;
    return res;
  };

  auto& ls = out[2];
  ls.spec.name = "list_files";
  ls.spec.description =
    "Lists a directory of the workspace: names, types (file, dir, symlink, "
    "other) and file sizes, sorted by name, at most " +
    std::to_string(cfg.max_list_entries) + " entries.";
  ls.spec.parameters = object_schema(
    {{"path",
      {{"type", "string"},
       {"description", "Directory relative to the workspace; \".\" (the "
                       "default) is the workspace itself."},
       {"default", "."}}}},
    {});
  ls.spec.idempotent = true;
  ls.spec.permissions = {"access_files"};
  ls.fn = [cfg](const json& args, const context&) -> result<json> {
    if (auto ok = only_args(args, {"path"}); !ok)
      return ok.error();
    auto path = string_arg(args, "path", ".");
    if (!path)
      return path.error();
    return list_workspace_dir(cfg, *path);
  };

  for (auto& e : out)
    e.mode = run_mode::blocking;
  return out;
}

} // namespace troupe::tools
