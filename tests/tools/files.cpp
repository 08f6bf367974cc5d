// The file tools: reads, writes and listings confined to the workspace by
// the kernel (openat2 RESOLVE_BENEATH), their size limits and their output.

#include "tools/files.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::tools;

namespace fs = std::filesystem;

namespace {

void put(const fs::path& p, const std::string& content) {
  std::ofstream out{p, std::ios::binary};
  out << content;
}

std::string get(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A workspace with files in it, next to an "outside" directory with a
// secret the tools must never touch.
struct fixture {
  test::temp_dir tmp{"files"};
  fs::path ws = tmp.path / "ws";
  fs::path outside = tmp.path / "outside";
  files_config cfg;

  fixture() {
    fs::create_directories(ws / "sub");
    fs::create_directories(outside);
    put(ws / "hello.txt", "hello, world\n");
    put(ws / "sub" / "nested.txt", "nested");
    put(outside / "secret.txt", "secret");
    cfg.workspace = ws;
    cfg.max_read_bytes = 64;
    cfg.max_write_bytes = 32;
    cfg.max_list_entries = 3;
  }
};

errc code_of(const result<std::string>& r) {
  return r ? errc::unspecified : r.error().code;
}

} // namespace

TEST_CASE("file tools validate their config", "[tools][files]") {
  fixture f;
  CHECK(validate(f.cfg));
  auto res = validate(files_config{"/nope/does/not/exist"});
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_config);
  CHECK(res.error().message ==
        "workspace '/nope/does/not/exist' does not exist");
  res = validate(files_config{f.ws / "hello.txt"});
  REQUIRE_FALSE(res);
  CHECK(res.error().message.find("is not a directory") != std::string::npos);
  for (auto key : {"max_read_bytes", "max_write_bytes", "max_list_entries"}) {
    auto cfg = f.cfg;
    if (key == std::string{"max_read_bytes"})
      cfg.max_read_bytes = 0;
    else if (key == std::string{"max_write_bytes"})
      cfg.max_write_bytes = 0;
    else
      cfg.max_list_entries = 0;
    res = validate(cfg);
    REQUIRE_FALSE(res);
    CHECK(res.error().message ==
          std::string{key} + " must be greater than 0, got 0");
  }
}

TEST_CASE("paths are refused up front: absolute, '..', NUL", "[tools][files]") {
  CHECK(check_relative_path("a/b.txt"));
  CHECK(check_relative_path("./a/..b/c.."));
  for (auto& p : std::vector<std::string>{"/etc/passwd", "../x", "a/../b",
                                          "a/..", std::string("a\0b", 3)}) {
    INFO(p);
    auto res = check_relative_path(p);
    REQUIRE_FALSE(res);
    CHECK(res.error().code == errc::path_escape);
  }
  CHECK(check_relative_path("/etc/passwd").error().message ==
        "path '/etc/passwd' is outside the workspace (absolute paths are "
        "not allowed)");
  CHECK(check_relative_path("a/../b").error().message ==
        "path 'a/../b' is outside the workspace ('..' is not allowed)");
  CHECK(check_relative_path(std::string("a\0b", 3)).error().message ==
        "path 'a\\0b' contains a NUL byte");
  CHECK(check_relative_path("").error().code == errc::invalid_arguments);
}

TEST_CASE("read_file reads inside the workspace only", "[tools][files]") {
  fixture f;
  CHECK(*read_workspace_file(f.cfg, "hello.txt") == "hello, world\n");
  CHECK(*read_workspace_file(f.cfg, "./sub//nested.txt") == "nested");
  CHECK(code_of(read_workspace_file(f.cfg, "../outside/secret.txt")) ==
        errc::path_escape);
  CHECK(code_of(read_workspace_file(
          f.cfg, (f.outside / "secret.txt").string())) == errc::path_escape);
  CHECK(code_of(read_workspace_file(f.cfg, (f.ws / "hello.txt").string())) ==
        errc::path_escape);
  fs::create_symlink(f.outside / "secret.txt", f.ws / "link.txt");
  fs::create_directory_symlink(f.outside, f.ws / "linkdir");
  fs::create_symlink("../outside/secret.txt", f.ws / "rel.txt");
  fs::create_symlink("/proc/self/root/etc/passwd", f.ws / "magic.txt");
  fs::create_symlink("hello.txt", f.ws / "inner.txt");
  fs::create_symlink("../hello.txt", f.ws / "sub" / "up.txt");
  for (auto p : {"link.txt", "linkdir/secret.txt", "linkdir/no-such-file",
                 "rel.txt", "magic.txt"}) {
    INFO(p);
    auto res = read_workspace_file(f.cfg, p);
    REQUIRE_FALSE(res);
    CHECK(res.error().code == errc::path_escape);
    CHECK(res.error().message ==
          "path '" + std::string{p} + "' leads outside the workspace");
  }
  // Symlinks that stay inside the workspace work.
  CHECK(*read_workspace_file(f.cfg, "inner.txt") == "hello, world\n");
  CHECK(*read_workspace_file(f.cfg, "sub/up.txt") == "hello, world\n");
}

TEST_CASE("read_file refuses missing, large, binary and non-files",
          "[tools][files]") {
  fixture f;
  auto res = read_workspace_file(f.cfg, "missing.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::not_found);
  CHECK(res.error().message == "path 'missing.txt' does not exist");
  put(f.ws / "big.txt", std::string(65, 'x'));
  CHECK(code_of(read_workspace_file(f.cfg, "big.txt")) == errc::too_large);
  put(f.ws / "exact.txt", std::string(64, 'x'));
  CHECK(read_workspace_file(f.cfg, "exact.txt"));
  put(f.ws / "blob.bin", std::string("ab\0cd", 5));
  res = read_workspace_file(f.cfg, "blob.bin");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_arguments);
  CHECK(res.error().message == "file 'blob.bin' is a binary file");
  CHECK(code_of(read_workspace_file(f.cfg, "sub")) == errc::invalid_arguments);
  CHECK(code_of(read_workspace_file(f.cfg, "")) == errc::invalid_arguments);
}

TEST_CASE("write_file writes atomically, creating directories",
          "[tools][files]") {
  fixture f;
  auto res = write_workspace_file(f.cfg, "new/deep/a.txt", "one", false);
  REQUIRE(res);
  CHECK(res->created);
  CHECK(res->size == 3);
  CHECK(get(f.ws / "new" / "deep" / "a.txt") == "one");
  res = write_workspace_file(f.cfg, "new/deep/a.txt", "+two", true);
  REQUIRE(res);
  CHECK_FALSE(res->created);
  CHECK(get(f.ws / "new" / "deep" / "a.txt") == "one+two");
  fs::permissions(f.ws / "hello.txt", fs::perms::owner_read |
                                        fs::perms::owner_write |
                                        fs::perms::owner_exec);
  REQUIRE(write_workspace_file(f.cfg, "hello.txt", "bye", false));
  CHECK(get(f.ws / "hello.txt") == "bye");
  CHECK((fs::status(f.ws / "hello.txt").permissions() &
         fs::perms::owner_exec) == fs::perms::owner_exec);
  // No temporary file is left behind.
  size_t n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator{f.ws / "new" / "deep"})
    ++n;
  CHECK(n == 1);
}

TEST_CASE("write_file refuses escapes, oversize content and links",
          "[tools][files]") {
  fixture f;
  fs::create_directory_symlink(f.outside, f.ws / "linkdir");
  fs::create_symlink(f.outside / "secret.txt", f.ws / "link.txt");
  fs::create_symlink("hello.txt", f.ws / "inner.txt");
  for (auto p : {"../outside/x.txt", "/tmp/x.txt", "linkdir/x.txt",
                 "linkdir/new/x.txt", "link.txt"}) {
    INFO(p);
    auto res = write_workspace_file(f.cfg, p, "pwned", false);
    REQUIRE_FALSE(res);
    CHECK(res.error().code == errc::path_escape);
  }
  CHECK(get(f.outside / "secret.txt") == "secret");
  CHECK_FALSE(fs::exists(f.outside / "x.txt"));
  CHECK_FALSE(fs::exists(f.outside / "new"));
  auto res = write_workspace_file(f.cfg, "inner.txt", "x", false);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_arguments);
  CHECK(fs::is_symlink(f.ws / "inner.txt"));
  res = write_workspace_file(f.cfg, "sub", "x", false);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_arguments);
  res = write_workspace_file(f.cfg, "big.txt", std::string(33, 'x'), false);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::too_large);
  CHECK_FALSE(fs::exists(f.ws / "big.txt"));
  // An append that would grow the file past the limit writes nothing.
  res = write_workspace_file(f.cfg, "hello.txt", std::string(20, 'x'), true);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::too_large);
  CHECK(get(f.ws / "hello.txt") == "hello, world\n");
}

TEST_CASE("list_files lists by name, truncates and stays inside",
          "[tools][files]") {
  fixture f;
  fs::create_symlink("hello.txt", f.ws / "a-link");
  auto res = list_workspace_dir(f.cfg, ".");
  REQUIRE(res);
  CHECK(
    dump(*res) ==
    R"({"entries":[{"name":"a-link","type":"symlink"},)"
    R"({"bytes":13,"name":"hello.txt","type":"file"},)"
    R"({"name":"sub","type":"dir"}],"path":".","total":3,"truncated":false})");
  put(f.ws / "z.txt", "");
  res = list_workspace_dir(f.cfg, "");
  REQUIRE(res);
  CHECK((*res)["entries"].size() == 3);
  CHECK((*res)["entries"][2]["name"] == "sub");
  CHECK((*res)["total"] == 4);
  CHECK((*res)["truncated"] == true);
  res = list_workspace_dir(f.cfg, "sub");
  REQUIRE(res);
  CHECK((*res)["entries"][0]["name"] == "nested.txt");
  fs::create_directory_symlink(f.outside, f.ws / "linkdir");
  CHECK(list_workspace_dir(f.cfg, "linkdir").error().code == errc::path_escape);
  CHECK(list_workspace_dir(f.cfg, "..").error().code == errc::path_escape);
  CHECK(list_workspace_dir(f.cfg, "nope").error().code == errc::not_found);
  CHECK(list_workspace_dir(f.cfg, "hello.txt").error().code ==
        errc::invalid_arguments);
}

TEST_CASE("the file tools through a registry", "[tools][files]") {
  fixture f;
  registry reg;
  for (auto& e : file_tools(f.cfg)) {
    CHECK(e.mode == run_mode::blocking);
    CHECK(e.spec.permissions == std::vector<std::string>{"access_files"});
    auto schema = json::parse(e.spec.parameters);
    CHECK(schema["additionalProperties"] == false);
    REQUIRE(reg.add(std::move(e)));
  }
  auto res = reg.invoke({"c1", "read_file", R"({"path":"hello.txt"})"}, {});
  REQUIRE(res.ok);
  CHECK(res.output ==
        R"({"bytes":13,"content":"hello, world\n","path":"hello.txt"})");
  res = reg.invoke(
    {"c2", "write_file", R"({"path":"out/n.txt","content":"hi"})"}, {});
  REQUIRE(res.ok);
  CHECK(res.output ==
        R"({"bytes_written":2,"created":true,"path":"out/n.txt","size":2})");
  res = reg.invoke(
    {"c3", "write_file", R"({"path":"out/n.txt","content":"!","append":true})"},
    {});
  REQUIRE(res.ok);
  CHECK(json::parse(res.output)["size"] == 3);
  res = reg.invoke({"c4", "list_files", "{}"}, {});
  REQUIRE(res.ok);
  CHECK(json::parse(res.output)["total"] == 3);
  res =
    reg.invoke({"c5", "read_file", R"({"path":"../outside/secret.txt"})"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "path_escape");
  for (auto args :
       {R"({"path": 42})", R"({"path":"a","extra":1})", "{}", "{not json"}) {
    INFO(args);
    res = reg.invoke({"c6", "read_file", args}, {});
    REQUIRE_FALSE(res.ok);
    CHECK(json::parse(res.output)["code"] == "invalid_arguments");
  }
  res = reg.invoke(
    {"c7", "write_file", R"({"path":"a","content":"x","append":"yes"})"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "invalid_arguments");
}
