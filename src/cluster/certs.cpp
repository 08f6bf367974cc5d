#include "cluster/certs.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace troupe::cluster {

namespace {

namespace fs = std::filesystem;

struct pkey_free {
  void operator()(EVP_PKEY* p) const {
    EVP_PKEY_free(p);
  }
};
struct x509_free {
  void operator()(X509* p) const {
    X509_free(p);
  }
};
struct store_free {
  void operator()(X509_STORE* p) const {
    X509_STORE_free(p);
  }
};
struct store_ctx_free {
  void operator()(X509_STORE_CTX* p) const {
    X509_STORE_CTX_free(p);
  }
};
struct file_close {
  void operator()(FILE* f) const {
    std::fclose(f);
  }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using file_ptr = std::unique_ptr<FILE, file_close>;

/// OpenSSL's queued errors as one line (and the queue emptied).
std::string ssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string{buf};
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

failure bad(const std::string& what) {
  return failure{errc::invalid_config, what};
}

pkey_ptr new_key() {
  return pkey_ptr{EVP_EC_gen("P-256")};
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  auto ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    return false;
  auto ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A certificate for `key` named `cn`, signed by `issuer_key` (`issuer`
/// null: self-signed, a CA).
x509_ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer,
                   EVP_PKEY* issuer_key, long serial, int days) {
  x509_ptr cert{X509_new()};
  if (!cert)
    return nullptr;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * days);
  X509_set_pubkey(cert.get(), key);
  auto name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("troupe"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  auto self_signed = issuer == nullptr;
  X509_set_issuer_name(cert.get(), self_signed ? name
                                               : X509_get_subject_name(issuer));
  auto signer = self_signed ? cert.get() : issuer;
  bool ok = self_signed
              ? add_ext(cert.get(), signer, NID_basic_constraints,
                        "critical,CA:TRUE") &&
                  add_ext(cert.get(), signer, NID_key_usage,
                          "critical,keyCertSign,cRLSign")
              : add_ext(cert.get(), signer, NID_basic_constraints,
                        "critical,CA:FALSE") &&
                  add_ext(cert.get(), signer, NID_ext_key_usage,
                          "serverAuth,clientAuth") &&
                  add_ext(cert.get(), signer, NID_subject_alt_name,
                          ("DNS:" + cn + ",DNS:localhost,IP:127.0.0.1").c_str());
  if (!ok || X509_sign(cert.get(), self_signed ? key : issuer_key,
                       EVP_sha256()) == 0)
    return nullptr;
  return cert;
}

result<bool> write_pem(const fs::path& path, EVP_PKEY* key, X509* cert) {
  // Keys are created 0600 from the start, never readable by others.
  auto mode = key != nullptr ? 0600 : 0644;
  auto fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   mode);
  if (fd < 0)
    return bad("cannot write '" + path.string() + "': " +
               std::strerror(errno));
  ::fchmod(fd, static_cast<mode_t>(mode));
  file_ptr f{::fdopen(fd, "w")};
  if (!f) {
    ::close(fd);
    return bad("cannot write '" + path.string() + "'");
  }
  auto ok = key != nullptr
              ? PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0,
                                     nullptr, nullptr) == 1
              : PEM_write_X509(f.get(), cert) == 1;
  if (!ok || std::fflush(f.get()) != 0)
    return bad("cannot write '" + path.string() + "': " + ssl_errors());
  return true;
}

bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || name == "ca")
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '.')
      return false;
  return name.front() != '.';
}

template <class T, class F>
result<T> read_pem(const fs::path& path, const char* what, F read) {
  file_ptr f{std::fopen(path.c_str(), "r")};
  if (!f)
    return bad(std::string{what} + " '" + path.string() +
               "' cannot be read: " + std::strerror(errno));
  T x{read(f.get())};
  if (!x)
    return bad(std::string{what} + " '" + path.string() +
               "' is not a PEM " + what + ": " + ssl_errors());
  return x;
}

} // namespace

result<bool> generate_certs(const fs::path& dir,
                            const std::vector<std::string>& nodes, int days) {
  for (auto& n : nodes)
    if (!valid_node_name(n))
      return bad("node name '" + n +
                 "' is invalid: use 1 to 63 of A-Z a-z 0-9 - _ . (not 'ca')");
  if (days <= 0)
    return bad("days must be > 0");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return bad("cannot create '" + dir.string() + "': " + ec.message());
  auto ca_key = new_key();
  if (!ca_key)
    return bad("cannot make a key: " + ssl_errors());
  auto ca = make_cert(ca_key.get(), "troupe cluster CA", nullptr, nullptr, 1,
                      days);
  if (!ca)
    return bad("cannot make the CA certificate: " + ssl_errors());
  if (auto ok = write_pem(dir / "ca.key", ca_key.get(), nullptr); !ok)
    return ok;
  if (auto ok = write_pem(dir / "ca.pem", nullptr, ca.get()); !ok)
    return ok;
  long serial = 2;
  for (auto& n : nodes) {
    auto key = new_key();
    if (!key)
      return bad("cannot make a key: " + ssl_errors());
    auto cert = make_cert(key.get(), n, ca.get(), ca_key.get(), serial++, days);
    if (!cert)
      return bad("cannot make the certificate of '" + n + "': " +
                 ssl_errors());
    if (auto ok = write_pem(dir / (n + ".key"), key.get(), nullptr); !ok)
      return ok;
    if (auto ok = write_pem(dir / (n + ".pem"), nullptr, cert.get()); !ok)
      return ok;
  }
  return true;
}

result<bool> check(const tls_files& x) {
  if (x.certificate.empty() || x.key.empty() || x.cafile.empty())
    return bad("TLS needs all of certificate, key and cafile");
  auto cert = read_pem<x509_ptr>(x.certificate, "certificate", [](FILE* f) {
    return PEM_read_X509(f, nullptr, nullptr, nullptr);
  });
  if (!cert)
    return cert.error();
  auto key = read_pem<pkey_ptr>(x.key, "key", [](FILE* f) {
    return PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  });
  if (!key)
    return key.error();
  auto ca = read_pem<x509_ptr>(x.cafile, "CA certificate", [](FILE* f) {
    return PEM_read_X509(f, nullptr, nullptr, nullptr);
  });
  if (!ca)
    return ca.error();
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return bad("key '" + x.key.string() + "' does not belong to certificate '" +
               x.certificate.string() + "'");
  }
  std::unique_ptr<X509_STORE, store_free> store{X509_STORE_new()};
  std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1)
    return bad("cannot check the certificate: " + ssl_errors());
  if (X509_verify_cert(ctx.get()) != 1) {
    auto why = X509_verify_cert_error_string(
      X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return bad("certificate '" + x.certificate.string() +
               "' is not valid under CA '" + x.cafile.string() + "': " + why);
  }
  return true;
}

} // namespace troupe::cluster
