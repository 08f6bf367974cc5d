#pragma once

// Test support: a throwaway PostgreSQL server — initdb into a temporary
// directory, started on a free port on 127.0.0.1 (as the unprivileged
// `postgres` user when the tests run as root: PostgreSQL refuses root),
// stopped and removed when the test ends. Each `database()` is a fresh,
// empty database on it.

#include <cstdint>
#include <filesystem>
#include <string>

namespace troupe::test {

class postgres_server {
public:
  /// Initializes and starts the server; REQUIREs that it comes up.
  postgres_server();
  /// Stops it (immediately) and removes its files.
  ~postgres_server();

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  /// A new empty database; returns its connection URI.
  std::string database();

  /// The URI of database `name` (superuser `troupe`, no password).
  std::string dsn(const std::string& name) const;

  uint16_t port() const {
    return port_;
  }

  /// Stops the server (`mode`: fast, immediate) and starts it again on
  /// the same port and files; `start` waits until it accepts connections.
  void stop(const std::string& mode = "fast");
  void start();

private:
  std::filesystem::path dir_;
  uint16_t port_ = 0;
  int next_ = 0;
  bool running_ = false;
};

} // namespace troupe::test
