#include "tools/file_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace troupe::tools {

namespace fs = std::filesystem;

namespace {

// Closes a POSIX file descriptor on scope exit.
struct fd_guard {
  int fd = -1;

  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

std::string quote(std::string_view path) {
  return "'" + std::string{path} + "'";
}

// True if `p` equals `root` or lies below it; both must be canonical (no
// `.`, `..` or symlinks), so a component-wise prefix test is enough.
bool is_inside(const fs::path& root, const fs::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

} // namespace

result<bool> validate(const file_reader_config& cfg) {
  if (cfg.workspace.empty())
    return failure{errc::invalid_config, "workspace must not be empty"};
  std::error_code ec;
  auto st = fs::status(cfg.workspace, ec);
  if (!fs::exists(st))
    return failure{errc::invalid_config, "workspace " +
                                           quote(cfg.workspace.string()) +
                                           " does not exist"};
  if (!fs::is_directory(st))
    return failure{errc::invalid_config, "workspace " +
                                           quote(cfg.workspace.string()) +
                                           " is not a directory"};
  if (cfg.max_bytes == 0)
    return failure{errc::invalid_config,
                   "max_bytes must be greater than 0, got 0"};
  return true;
}

result<std::string> read_workspace_file(const file_reader_config& cfg,
                                        std::string_view path) {
  if (auto ok = validate(cfg); !ok)
    return ok.error();
  if (path.empty())
    return failure{errc::invalid_arguments, "path must not be empty"};
  if (path.find('\0') != std::string_view::npos)
    return failure{errc::invalid_arguments,
                   "path " + quote(path) + " contains a NUL byte"};
  std::error_code ec;
  auto root = fs::canonical(cfg.workspace, ec);
  if (ec)
    return failure{errc::invalid_config, "cannot resolve workspace " +
                                           quote(cfg.workspace.string()) +
                                           ": " + ec.message()};
  fs::path requested{std::string{path}};
  auto target = requested.is_absolute() ? requested : root / requested;
  // canonical resolves `..` and every symlink of an existing path, so the
  // containment test sees where the path really leads. (weakly_canonical is
  // not enough: it resolves only the existing prefix and tidies the rest as
  // text, so "missing/../link/file" would slip past a link that points out.)
  auto resolved = fs::canonical(target, ec);
  if (ec) {
    // Say "outside" rather than "missing" for paths that lead out, so the
    // tool does not reveal what exists beyond the workspace.
    std::error_code ec2;
    auto lexical = fs::weakly_canonical(target.lexically_normal(), ec2);
    if (ec2 || !is_inside(root, lexical))
      return failure{errc::path_escape,
                     "path " + quote(path) + " is outside the workspace"};
    if (ec == std::errc::no_such_file_or_directory ||
        ec == std::errc::not_a_directory)
      return failure{errc::not_found,
                     "file " + quote(path) + " does not exist"};
    return failure{errc::tool_failed,
                   "cannot resolve path " + quote(path) + ": " + ec.message()};
  }
  if (!is_inside(root, resolved))
    return failure{errc::path_escape,
                   "path " + quote(path) + " is outside the workspace"};
  // O_NOFOLLOW refuses a final symlink swapped in after the check above;
  // O_NONBLOCK keeps a FIFO from blocking the open (fstat rejects it next).
  fd_guard fd{
    ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)};
  if (fd.fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return failure{errc::not_found,
                     "file " + quote(path) + " does not exist"};
    if (err == ELOOP)
      return failure{errc::path_escape,
                     "path " + quote(path) +
                       " is a symbolic link that does not resolve inside "
                       "the workspace"};
    return failure{errc::tool_failed,
                   "cannot open " + quote(path) + ": " + std::strerror(err)};
  }
  // A directory on the way may have been swapped for a link between the
  // check and the open: ask the kernel what was actually opened.
  auto opened = fs::read_symlink("/proc/self/fd/" + std::to_string(fd.fd), ec);
  if (!ec && !is_inside(root, opened))
    return failure{errc::path_escape,
                   "path " + quote(path) + " is outside the workspace"};
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0)
    return failure{errc::tool_failed,
                   "cannot stat " + quote(path) + ": " + std::strerror(errno)};
  if (!S_ISREG(st.st_mode))
    return failure{errc::invalid_arguments,
                   "path " + quote(path) + " is not a regular file"};
  auto size = static_cast<uint64_t>(st.st_size);
  if (size > cfg.max_bytes)
    return failure{errc::too_large, "file " + quote(path) + " has " +
                                      std::to_string(size) + " bytes, limit " +
                                      std::to_string(cfg.max_bytes)};
  // The file may grow after fstat: read at most max_bytes + 1 bytes, which
  // is enough to tell that it is too large.
  std::string content;
  content.reserve(static_cast<size_t>(size));
  char buf[65536];
  for (;;) {
    uint64_t remaining = cfg.max_bytes - content.size();
    size_t want = remaining >= sizeof(buf) ? sizeof(buf)
                                           : static_cast<size_t>(remaining + 1);
    auto n = ::read(fd.fd, buf, want);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return failure{errc::tool_failed, "cannot read " + quote(path) + ": " +
                                          std::strerror(errno)};
    }
    if (n == 0)
      break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > cfg.max_bytes)
      return failure{errc::too_large,
                     "file " + quote(path) + " has more than " +
                       std::to_string(cfg.max_bytes) + " bytes"};
  }
  if (content.find('\0') != std::string::npos)
    return failure{errc::invalid_arguments,
                   "file " + quote(path) + " is a binary file"};
  return content;
}

entry file_reader_tool(file_reader_config cfg) {
  entry out;
  out.spec.name = "read_file";
  out.spec.description =
    "Reads a text file from the workspace and returns its content. The "
    "path is relative to the workspace root; paths outside it, binary "
    "files and files over " +
    std::to_string(cfg.max_bytes) + " bytes are refused.";
  json params = {
    {"type", "object"},
    {"properties",
     {{"path",
       {{"type", "string"},
        {"description",
         "Path of the file relative to the workspace, e.g. \"notes.txt\"."}}}}},
    {"required", json::array({"path"})},
    {"additionalProperties", false},
  };
  out.spec.parameters = dump(params);
  // Reading twice is harmless (the file may have changed in between, as
  // it may between any two reads).
  out.spec.idempotent = true;
  out.spec.permissions = {"execute_tools", "access_files"};
  out.fn = [cfg = std::move(cfg)](const json& args,
                                  const context&) -> result<json> {
    for (auto& [key, value] : args.items())
      if (key != "path")
        return failure{errc::invalid_arguments,
                       "unexpected argument '" + key + "'"};
    auto path = string_arg(args, "path");
    if (!path)
      return path.error();
    auto content = read_workspace_file(cfg, *path);
    if (!content)
      return content.error();
    json out;
    out["path"] = *path;
    out["bytes"] = content->size();
    out["content"] = std::move(*content);
    return out;
  };
  return out;
}

} // namespace troupe::tools
