# Writes OUT, a C++ file defining troupe::daemon::service::openapi() as the
# text of IN (docs/openapi.json), at build time: the daemon serves the
# document that is checked in.
file(READ "${IN}" text)
file(WRITE "${OUT}.tmp"
"// Generated from docs/openapi.json by cmake/embed_openapi.cmake.
#include \"daemon/service.hpp\"

std::string_view troupe::daemon::service::openapi() {
  static constexpr std::string_view text = R\"troupe_openapi(${text})troupe_openapi\";
  return text;
}
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
