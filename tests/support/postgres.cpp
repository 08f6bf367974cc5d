#include "support/postgres.hpp"

#include <catch2/catch.hpp>

#include <pwd.h>
#include <unistd.h>

#include <vector>

#include "store/pg.hpp"
#include "support/http_client.hpp"
#include "support/subprocess.hpp"

namespace troupe::test {

namespace {

/// Where Debian puts the server's programs (only pg_ctl and psql are on
/// PATH): the newest version installed.
std::filesystem::path bindir() {
  std::filesystem::path best;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator{"/usr/lib/postgresql", ec})
    if (std::filesystem::exists(e.path() / "bin" / "initdb") &&
        e.path() > best.parent_path())
      best = e.path() / "bin";
  return best;
}

/// `args`, as the postgres user when this process is root.
process_result as_server_user(std::vector<std::string> args) {
  if (::geteuid() == 0)
    args.insert(args.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  return run_process(args, std::chrono::seconds{60});
}

} // namespace

postgres_server::postgres_server() {
  auto bin = bindir();
  REQUIRE_FALSE(bin.empty()); // scripts/setup installs postgresql-15
  static int n = 0;
  dir_ =
    std::filesystem::temp_directory_path() /
    ("troupe-pg-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  if (::geteuid() == 0) {
    auto* pw = ::getpwnam("postgres");
    REQUIRE(pw != nullptr);
    REQUIRE(::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) == 0);
  }
  auto init = as_server_user(
    {(bin / "initdb").string(), "-D", (dir_ / "data").string(), "-U", "troupe",
     "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"});
  INFO(init.out << init.err);
  REQUIRE(init.exit_code == 0);
  port_ = free_port();
  start();
}

postgres_server::~postgres_server() {
  if (running_)
    stop("immediate");
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void postgres_server::start() {
  auto opts = "-p " + std::to_string(port_) +
              " -c listen_addresses=127.0.0.1 -k " + dir_.string() +
              " -c fsync=off -c max_connections=200";
  auto r = as_server_user(
    {(bindir() / "pg_ctl").string(), "-D", (dir_ / "data").string(), "-l",
     (dir_ / "log").string(), "-w", "-t", "60", "-o", opts, "start"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  running_ = true;
}

void postgres_server::stop(const std::string& mode) {
  auto r = as_server_user({(bindir() / "pg_ctl").string(), "-D",
                           (dir_ / "data").string(), "-w", "-t", "60", "-m",
                           mode, "stop"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  running_ = false;
}

std::string postgres_server::dsn(const std::string& name) const {
  return "postgresql://troupe@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

std::string postgres_server::database() {
  auto name = "t" + std::to_string(++next_);
  store::pg_settings cfg;
  cfg.dsn = dsn("postgres");
  auto c = store::pg_connection::open(cfg);
  INFO((c ? std::string{} : c.error().message));
  REQUIRE(c);
  auto made = (*c)->exec("CREATE DATABASE " + name);
  INFO((made ? std::string{} : made.error().message));
  REQUIRE(made);
  return dsn(name);
}

} // namespace troupe::test
