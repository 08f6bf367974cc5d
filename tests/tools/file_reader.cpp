#include "tools/file_reader.hpp"

#include <fstream>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace troupe;
using namespace troupe::tools;

namespace fs = std::filesystem;

namespace {

// A unique temporary directory, removed with everything in it at scope exit.
struct temp_dir {
  fs::path path;

  temp_dir() {
    std::random_device rd;
    path =
      fs::temp_directory_path() / ("troupe-test-" + std::to_string(::getpid()) +
                                   "-" + std::to_string(rd()));
    fs::create_directories(path);
  }

  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out{p, std::ios::binary};
  out << content;
}

// A workspace with a file in it, next to an "outside" directory with a
// secret the tool must never read.
struct fixture {
  temp_dir tmp;
  fs::path ws = tmp.path / "ws";
  fs::path outside = tmp.path / "outside";
  file_reader_config cfg;

  fixture() {
    fs::create_directories(ws / "sub");
    fs::create_directories(outside);
    write_file(ws / "hello.txt", "hello, world\n");
    write_file(ws / "sub" / "nested.txt", "nested");
    write_file(outside / "secret.txt", "secret");
    cfg.workspace = ws;
    cfg.max_bytes = 64;
  }
};

} // namespace

TEST_CASE("file reader validates its config", "[tools]") {
  fixture f;
  CHECK(validate(f.cfg));
  auto res = validate(file_reader_config{"/nope/does/not/exist", 10});
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_config);
  CHECK(res.error().message ==
        "workspace '/nope/does/not/exist' does not exist");
  res = validate(file_reader_config{f.ws / "hello.txt", 10});
  REQUIRE_FALSE(res);
  CHECK(res.error().message.find("is not a directory") != std::string::npos);
  res = validate(file_reader_config{f.ws, 0});
  REQUIRE_FALSE(res);
  CHECK(res.error().message.find("max_bytes") != std::string::npos);
}

TEST_CASE("file reader reads files inside the workspace", "[tools]") {
  fixture f;
  auto res = read_workspace_file(f.cfg, "hello.txt");
  REQUIRE(res);
  CHECK(*res == "hello, world\n");
  res = read_workspace_file(f.cfg, "sub/../sub/nested.txt");
  REQUIRE(res);
  CHECK(*res == "nested");
  res = read_workspace_file(f.cfg, (f.ws / "hello.txt").string());
  REQUIRE(res);
  CHECK(*res == "hello, world\n");
  write_file(f.ws / "empty.txt", "");
  res = read_workspace_file(f.cfg, "empty.txt");
  REQUIRE(res);
  CHECK(res->empty());
}

TEST_CASE("file reader rejects paths that escape the workspace", "[tools]") {
  fixture f;
  auto res = read_workspace_file(f.cfg, "../outside/secret.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  CHECK(res.error().message ==
        "path '../outside/secret.txt' is outside the workspace");
  res = read_workspace_file(f.cfg, "../etc/passwd");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  res = read_workspace_file(f.cfg, (f.outside / "secret.txt").string());
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  res = read_workspace_file(f.cfg, "/etc/passwd");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
}

TEST_CASE("file reader rejects symlinks that point outside", "[tools]") {
  fixture f;
  fs::create_symlink(f.outside / "secret.txt", f.ws / "link.txt");
  fs::create_directory_symlink(f.outside, f.ws / "linkdir");
  fs::create_symlink(f.ws / "hello.txt", f.ws / "inner.txt");
  auto res = read_workspace_file(f.cfg, "link.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  res = read_workspace_file(f.cfg, "linkdir/secret.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  // A missing directory before `..` must not hide the link behind it.
  res = read_workspace_file(f.cfg, "nope/../linkdir/secret.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  // Missing files outside are "outside", not "missing".
  res = read_workspace_file(f.cfg, "linkdir/no-such-file");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::path_escape);
  // A symlink that stays inside the workspace is fine.
  res = read_workspace_file(f.cfg, "inner.txt");
  REQUIRE(res);
  CHECK(*res == "hello, world\n");
}

TEST_CASE("file reader rejects missing, large, binary and non-files",
          "[tools]") {
  fixture f;
  auto res = read_workspace_file(f.cfg, "missing.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::not_found);
  write_file(f.ws / "big.txt", std::string(65, 'x'));
  res = read_workspace_file(f.cfg, "big.txt");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::too_large);
  write_file(f.ws / "exact.txt", std::string(64, 'x'));
  CHECK(read_workspace_file(f.cfg, "exact.txt"));
  write_file(f.ws / "blob.bin", std::string("ab\0cd", 5));
  res = read_workspace_file(f.cfg, "blob.bin");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_arguments);
  CHECK(res.error().message == "file 'blob.bin' is a binary file");
  res = read_workspace_file(f.cfg, "sub");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_arguments);
  res = read_workspace_file(f.cfg, "");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::invalid_arguments);
}

TEST_CASE("read_file tool returns path, bytes and content", "[tools]") {
  fixture f;
  registry reg;
  REQUIRE(reg.add(file_reader_tool(f.cfg)));
  REQUIRE(reg.find("read_file") != nullptr);
  auto res = reg.invoke({"call_1", "read_file", R"({"path":"hello.txt"})"}, {});
  REQUIRE(res.ok);
  auto out = json::parse(res.output);
  CHECK(out["path"] == "hello.txt");
  CHECK(out["bytes"] == 13);
  CHECK(out["content"] == "hello, world\n");
  res = reg.invoke(
    {"call_2", "read_file", R"({"path":"../outside/secret.txt"})"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "path_escape");
  res = reg.invoke({"call_3", "read_file", R"({"path": 42})"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "invalid_arguments");
  res = reg.invoke({"call_4", "read_file", "{not json"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "invalid_arguments");
}
