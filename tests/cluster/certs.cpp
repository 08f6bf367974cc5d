#include "cluster/certs.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

using namespace troupe;

TEST_CASE("gen-certs makes a CA and node certificates that check out",
          "[cluster][tls]") {
  test::temp_dir dir{"certs"};
  REQUIRE(cluster::generate_certs(dir.path, {"a", "b"}));
  auto files = [&](const char* n) {
    return cluster::tls_files{dir.path / (std::string{n} + ".pem"),
                              dir.path / (std::string{n} + ".key"),
                              dir.path / "ca.pem"};
  };
  CHECK(cluster::check(files("a")));
  CHECK(cluster::check(files("b")));
  // Keys are private to their owner.
  struct stat st{};
  REQUIRE(::stat((dir.path / "a.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir.path / "ca.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Another cluster's certificate is not valid under this CA.
  test::temp_dir other{"certs-other"};
  REQUIRE(cluster::generate_certs(other.path, {"x"}));
  auto foreign = cluster::check({other.path / "x.pem", other.path / "x.key",
                                 dir.path / "ca.pem"});
  REQUIRE_FALSE(foreign);
  CHECK_THAT(foreign.error().message,
             Catch::Contains("is not valid under CA") &&
               Catch::Contains("x.pem"));
  // A key that belongs to another certificate.
  auto swapped = cluster::check({dir.path / "a.pem", dir.path / "b.key",
                                 dir.path / "ca.pem"});
  REQUIRE_FALSE(swapped);
  CHECK_THAT(swapped.error().message, Catch::Contains("does not belong"));
  // Missing and malformed files, and incomplete settings.
  auto missing = cluster::check({dir.path / "nope.pem", dir.path / "a.key",
                                 dir.path / "ca.pem"});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message,
             Catch::Contains("nope.pem") && Catch::Contains("cannot be read"));
  auto garbage = cluster::check({dir.path / "a.key", dir.path / "a.key",
                                 dir.path / "ca.pem"});
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error().message, Catch::Contains("not a PEM"));
  auto partial = cluster::check({dir.path / "a.pem", {}, {}});
  REQUIRE_FALSE(partial);
  CHECK_THAT(partial.error().message, Catch::Contains("needs all of"));
  auto bad_name = cluster::generate_certs(dir.path, {"../evil"});
  REQUIRE_FALSE(bad_name);
  CHECK_THAT(bad_name.error().message, Catch::Contains("'../evil'"));
}
