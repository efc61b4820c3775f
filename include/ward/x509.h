/*
 * ward/x509.h — certificates, CSRs, CRLs and EST's PKCS#7 "certs-only", behind
 * the crypto boundary (implemented in lib/crypto/x509.c; only lib/crypto/
 * includes OpenSSL).
 *
 * ward's PKI: an offline CA root (self-signed, CA:TRUE), an online issuing CA
 * (CA:TRUE, pathlen 0) that signs device certificates (CA:FALSE, digitalSignature,
 * clientAuth, short-lived) and ward-server's TLS certificate (serverAuth, SAN).
 * Every key is ECDSA P-256 (or ed25519 where a peer supports it); every
 * signature SHA-256. Serial numbers are 128 random bits. A device certificate's
 * subject is CN=<device serial>, serialNumber=<device serial>, OU=<model>; it
 * may carry the MUD URL extension (id-pe-mud-url, RFC 8520).
 */
#ifndef WARD_X509_H
#define WARD_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"

#define WARD_X509_MAX_DER (64u * 1024)   /* largest certificate/CSR accepted */
#define WARD_X509_SERIAL_HEX 40          /* at most 20 bytes */

struct ward_cert;  /* opaque: one X.509 certificate */
struct ward_csr;   /* opaque: one verified PKCS#10 request */

/* Names ward puts in and reads from subjects. NULL or "" = absent. */
struct ward_name {
	const char *cn;     /* commonName */
	const char *serial; /* serialNumber (the device serial) */
	const char *ou;     /* organizationalUnitName (the device model) */
	const char *o;      /* organizationName */
};

/* What ward reads from a certificate or a CSR (all NUL-terminated, "" when absent). */
struct ward_cert_info {
	char cn[128];
	char serial_number[128];          /* subject serialNumber attribute */
	char ou[128];
	char o[128];
	char issuer_cn[128];
	char serial_hex[WARD_X509_SERIAL_HEX + 1]; /* the certificate's serial, lower-case hex */
	time_t not_before, not_after;     /* 0 for CSRs */
	bool is_ca;
	char mud_url[256];                /* id-pe-mud-url, "" when absent */
	enum ward_key_type key_type;
};

/* ---- certificates ---- */
ward_err ward_x509_cert_from_pem(const char *pem, size_t len, struct ward_cert **out,
				 struct ward_msg *m) WARD_MUST_USE;
ward_err ward_x509_cert_from_der(const uint8_t *der, size_t len, struct ward_cert **out,
				 struct ward_msg *m) WARD_MUST_USE;
/* PEM of one certificate appended to out (caller initialised it). */
ward_err ward_x509_cert_to_pem(const struct ward_cert *c, struct ward_buf *out) WARD_MUST_USE;
ward_err ward_x509_cert_to_der(const struct ward_cert *c, struct ward_buf *out) WARD_MUST_USE;
void ward_x509_cert_free(struct ward_cert *c); /* accepts NULL */
ward_err ward_x509_cert_info(const struct ward_cert *c, struct ward_cert_info *out) WARD_MUST_USE;
/* The certificate's public key (caller frees). */
ward_err ward_x509_cert_key(const struct ward_cert *c, struct ward_key **out) WARD_MUST_USE;
/* Read every certificate of a PEM bundle file (at most max certs). Caller frees each and the array. */
ward_err ward_x509_certs_from_pem_file(const char *path, size_t max, struct ward_cert ***out,
				       size_t *n, struct ward_msg *m) WARD_MUST_USE;
/*
 * Verify leaf up to trust anchor root through intermediates (may be NULL/0)
 * at time now (0 = current time): signatures, validity periods, CA flags,
 * path length. WARD_OK only when the whole chain verifies.
 */
ward_err ward_x509_verify(const struct ward_cert *leaf, struct ward_cert *const *intermediates,
			  size_t n, const struct ward_cert *root, time_t now,
			  struct ward_msg *m) WARD_MUST_USE;

/* ---- CSRs ---- */
/* A PKCS#10 request for key's public half, signed by key (SHA-256), DER into out. */
ward_err ward_x509_csr_create(const struct ward_key *key, const struct ward_name *subject,
			      struct ward_buf *out, struct ward_msg *m) WARD_MUST_USE;
/*
 * Parse a DER request (at most WARD_X509_MAX_DER): refuses anything but a
 * P-256 or ed25519 key, and a request whose self-signature (proof of
 * possession) does not verify. Caller frees with ward_x509_csr_free.
 */
ward_err ward_x509_csr_parse(const uint8_t *der, size_t len, struct ward_csr **out,
			     struct ward_msg *m) WARD_MUST_USE;
void ward_x509_csr_free(struct ward_csr *r); /* accepts NULL */
ward_err ward_x509_csr_info(const struct ward_csr *r, struct ward_cert_info *out) WARD_MUST_USE;
ward_err ward_x509_csr_key(const struct ward_csr *r, struct ward_key **out) WARD_MUST_USE;

/* ---- issuing ---- */
enum ward_cert_profile {
	WARD_CERT_ROOT_CA,   /* self-signed, CA:TRUE */
	WARD_CERT_ISSUING_CA, /* CA:TRUE, pathlen:0, keyCertSign+cRLSign */
	WARD_CERT_DEVICE,    /* CA:FALSE, digitalSignature, clientAuth */
	WARD_CERT_SERVER,    /* CA:FALSE, digitalSignature, serverAuth, SAN */
};

struct ward_issue {
	enum ward_cert_profile profile;
	struct ward_name subject;
	const struct ward_key *subject_key; /* public key to certify */
	time_t not_before, not_after;
	const char *san_dns;  /* server: a DNS name, or NULL */
	const char *san_ip;   /* server: an IP address, or NULL */
	const char *mud_url;  /* device: id-pe-mud-url, or NULL */
};

/*
 * Issue a certificate signed by issuer_key; issuer NULL means self-signed
 * (profile WARD_CERT_ROOT_CA). Random 128-bit serial; subject/authority key
 * identifiers. Caller frees *out.
 */
ward_err ward_x509_issue(const struct ward_cert *issuer, const struct ward_key *issuer_key,
			 const struct ward_issue *p, struct ward_cert **out,
			 struct ward_msg *m) WARD_MUST_USE;

/* ---- CRLs ---- */
struct ward_crl_entry {
	char serial_hex[WARD_X509_SERIAL_HEX + 1]; /* revoked certificate's serial */
	time_t revoked_at;
};

/* A v2 CRL signed by issuer_key, DER into out. */
ward_err ward_x509_crl_create(const struct ward_cert *issuer, const struct ward_key *issuer_key,
			      const struct ward_crl_entry *entries, size_t n, uint64_t crl_number,
			      time_t this_update, time_t next_update, struct ward_buf *out,
			      struct ward_msg *m) WARD_MUST_USE;

/* ---- EST (RFC 7030) encodings ---- */
/* A degenerate PKCS#7 SignedData holding certs (EST "certs-only"), DER into out. */
ward_err ward_x509_p7_certs(struct ward_cert *const *certs, size_t n, struct ward_buf *out,
			    struct ward_msg *m) WARD_MUST_USE;
/* Certificates of a certs-only PKCS#7 (at most max). Caller frees each and the array. */
ward_err ward_x509_p7_parse(const uint8_t *der, size_t len, size_t max, struct ward_cert ***out,
			    size_t *n, struct ward_msg *m) WARD_MUST_USE;
/* The CsrAttrs ward asks for: P-256 key, ecdsa-with-SHA256, serialNumber. DER into out. */
ward_err ward_x509_csrattrs(struct ward_buf *out, struct ward_msg *m) WARD_MUST_USE;

#endif
