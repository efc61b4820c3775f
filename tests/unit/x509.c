/*
 * tests/unit/x509.c — certificates, CSRs, CRLs and EST encodings against a
 * real PKI built here (root -> issuing CA -> device and server), forgeries
 * made with OpenSSL directly, and the openssl command line as an independent
 * reader of what ward writes (CRL, certs-only PKCS#7, CsrAttrs).
 *
 * Fixtures: the CSRs below were made once with the openssl command line and
 * are committed as base64 (DER):
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
 *       -subj "/CN=dev-p384/serialNumber=P384" -outform DER          (P-384)
 *   openssl req -new -newkey rsa:2048 -nodes \
 *       -subj "/CN=dev-rsa/serialNumber=RSA1" -outform DER           (RSA)
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:brainpoolP256r1 -nodes \
 *       -subj "/CN=dev-bp/serialNumber=BP1" -outform DER             (brainpool)
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha384 \
 *       -subj "/CN=dev-p256/serialNumber=P256SHA384" -outform DER    (P-256, SHA-384)
 *   openssl req -new -key <that P-256 key> \
 *       -subj "/CN=dev-0042/serialNumber=0042/OU=model-x/O=Acme" -outform DER
 *   openssl req -new -newkey ed25519 -nodes -subj "/CN=dev-ed/serialNumber=ED1" -outform DER
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/x509.h"

/* ---- fixtures ------------------------------------------------------------ */

static const char CSR_P384_B64[] =
    "MIIBGzCBoQIBADAiMREwDwYDVQQDDAhkZXYtcDM4NDENMAsGA1UEBRMEUDM4NDB2MBAGByqG"
    "SM49AgEGBSuBBAAiA2IABNGkqpZkRVu+H19shkqCx9j46vCSRT5L8Q3xgeuQYgiauLv62XA+"
    "fNXGBv2IZm61PjefO8xoVidfzsp8gyZDlxzjXEqWAlTjKRemAxMaqyg3OiXfxCKT7cK+bcTJ"
    "GdfSLKAAMAoGCCqGSM49BAMCA2kAMGYCMQCNhN7A5qYltgbjK9LegBLFmwdkrHIg0QjhdUWI"
    "O1chyyMH8iAdhIFcCkUKvn4FPl8CMQCkyq4JYjso/hEITkSplaHUN5Qzg4H3CgcoKOB+k6KU"
    "SX0vDKbicfF7HiMbtEUSu1M=";
static const char CSR_RSA2048_B64[] =
    "MIICZjCCAU4CAQAwITEQMA4GA1UEAwwHZGV2LXJzYTENMAsGA1UEBRMEUlNBMTCCASIwDQYJ"
    "KoZIhvcNAQEBBQADggEPADCCAQoCggEBAKe6nK7hSwULNESFuGaH/O6kVRPIxWEn9Cjq80EA"
    "GzcMjdnnqCoHrw4Tm23GjclHHDCsvpJAc5bH3GignFeuTSYlcMyo9cVP5IjxMLTnUbB44T7S"
    "FQfhmsqpE9eVoQl6AuCY6jaQL5n9W5nc0Bvx3KwtvGr1yHMhDJ1eio1dXh0A7ZYYAi2ioEt3"
    "ASJFax7Ws6AthJNcYPxkUjmbKjVO0I9BU6p8IuS5YlRxkX7m62DNKKSljeauYLma4awkVaOe"
    "ZRt4MsBP/bzvTrKgxSY2XC0zfLH5iWYzLcLtt2YQCAwuJQuNGTdfpS9217v18OKueUz4PDfX"
    "FH4NnzW1c+/7i08CAwEAAaAAMA0GCSqGSIb3DQEBCwUAA4IBAQCODVmhYMArhsWWKCoy7cRL"
    "lhZGTH4HNEDTQtfzmupqGVEhwYTkLLGSfy8iq7GhQ+cDwsJ6VtmNfWXIg7i/NRhRGqgEjjGt"
    "GKej2DHcp7q9XBR+aY91LWqXRyF3nJm6cZJ8GvTCQ3ZnI/gC87GaQ4G7Mlp1fLKjLMl5mDEo"
    "pbul2fuUc6AJHDx8PvlKVPGWHMIXOq2pwnKhtLpoNskTYP8F5zgrBdF7eT5slxLcPgFGhtmI"
    "7Zs4TUo6hdR6jLIQf3aDd/ke66zcnbPF+bV8bDpyTN/DMGuUHw6xmHeC6joZ6d16H6zRRCNu"
    "WAZSgEZoqPzTzEydIFa3kX6FSVk7TYpd";
static const char CSR_BRAINPOOL_B64[] =
    "MIHaMIGCAgEAMB8xDzANBgNVBAMMBmRldi1icDEMMAoGA1UEBRMDQlAxMFowFAYHKoZIzj0C"
    "AQYJKyQDAwIIAQEHA0IABJx3enVw6sofGAuxshNxSmcSeW0R5z81A+hFcNADNEkwl2DAOhuL"
    "KWLvVckWXD6XGVG8JcKB/PGRdJmgROxuTwegADAKBggqhkjOPQQDAgNHADBEAiAHE/aA/4oD"
    "uZZbP436rTyIk52iBk45rB2WpDXPtpT63gIgUQ6dQUKVDtVKNnI4ZU5kbBbKClTLUsK9SCDl"
    "hDvYhxk=";
static const char CSR_P256_SHA384_B64[] =
    "MIHjMIGKAgEAMCgxETAPBgNVBAMMCGRldi1wMjU2MRMwEQYDVQQFEwpQMjU2U0hBMzg0MFkw"
    "EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvD0o+T6/8anD4SCg600D4y5b0pcC70zFeTJajgmw"
    "SbWmJ3NoDPUsoCpvyyiwOHRc0ATpskwWEdjtO8LBbEKJuKAAMAoGCCqGSM49BAMDA0gAMEUC"
    "IQCkxOONGMnIEldZdCw9iStK5OScJtvcpeukwuOGg0UFAAIgWJARvKs7EzdDCOpeLiw3rS0k"
    "ZpBW4hkKHIiJJfS2jXs=";
static const char CSR_P256_OPENSSL_B64[] =
    "MIH/MIGlAgEAMEMxETAPBgNVBAMMCGRldi0wMDQyMQ0wCwYDVQQFEwQwMDQyMRAwDgYDVQQL"
    "DAdtb2RlbC14MQ0wCwYDVQQKDARBY21lMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvD0o"
    "+T6/8anD4SCg600D4y5b0pcC70zFeTJajgmwSbWmJ3NoDPUsoCpvyyiwOHRc0ATpskwWEdjt"
    "O8LBbEKJuKAAMAoGCCqGSM49BAMCA0kAMEYCIQDSiKJg7saPWU0iMqsyVMvYMot/n+aaWdz2"
    "ADN9V4OTjwIhAPrRA3xk3jWiXMmG3GDS7E0mqXaQZC1FXXe2Qa0R92k+";
static const char CSR_ED25519_OPENSSL_B64[] =
    "MIGeMFICAQAwHzEPMA0GA1UEAwwGZGV2LWVkMQwwCgYDVQQFEwNFRDEwKjAFBgMrZXADIQAz"
    "r1tWvSpMgxiYQ63IFua9TENTrlOY3mk+mEkA1GygvKAAMAUGAytlcANBAH+fQymQfqF3yMNB"
    "w7JwWjPvNDkhNY4YcjTKucT5zoLYXHtf//67Jl+nSqSzzaHWqdWOaiCvqQD2UGPJ7O5zQA4=";

#define DAY     86400
#define OUT_MAX (256u * 1024)

/* The PKI every test shares, built once by setup(). */
struct pki {
	time_t now;
	char dir[64]; /* scratch directory for files handed to openssl */
	struct ward_key *root_key, *iss_key, *dev_key, *srv_key, *other_key;
	struct ward_cert *root, *iss, *dev, *srv;
	struct ward_key *oroot_key, *oiss_key; /* another, unrelated CA */
	struct ward_cert *oroot, *oiss;
};

static struct pki P;

static void must(ward_err e, const struct ward_msg *m, const char *what)
{
	if (e != WARD_OK)
		fail_msg("%s: %s: %s", what, ward_err_name(e), m != NULL ? m->text : "");
}

static struct ward_key *keygen(enum ward_key_type t)
{
	struct ward_msg m = {{0}};
	struct ward_key *k = NULL;

	must(ward_crypto_key_generate(t, &k, &m), &m, "keygen");
	return k;
}

/* Fill p for profile with the usual validity; names as given. */
static void issue_args(struct ward_issue *p, enum ward_cert_profile prof, const char *cn,
                       const char *serial, const struct ward_key *subject_key, time_t nb, time_t na)
{
	memset(p, 0, sizeof(*p));
	p->profile = prof;
	p->subject.cn = cn;
	p->subject.serial = serial;
	p->subject.ou = prof == WARD_CERT_DEVICE ? "model-x" : NULL;
	p->subject.o = "Acme Devices";
	p->subject_key = subject_key;
	p->not_before = nb;
	p->not_after = na;
}

static struct ward_cert *issue_ok(const struct ward_cert *issuer, const struct ward_key *ikey,
                                  const struct ward_issue *p)
{
	struct ward_msg m = {{0}};
	struct ward_cert *c = NULL;

	must(ward_x509_issue(issuer, ikey, p, &c, &m), &m, "issue");
	assert_non_null(c);
	return c;
}

static struct ward_cert *make_device(const struct ward_cert *issuer, const struct ward_key *ikey,
                                     const struct ward_key *k, const char *serial, time_t nb,
                                     time_t na)
{
	struct ward_issue p;

	issue_args(&p, WARD_CERT_DEVICE, serial, serial, k, nb, na);
	return issue_ok(issuer, ikey, &p);
}

/* An OpenSSL copy of c, for looking at what ward wrote (caller frees). */
static X509 *x509_of(const struct ward_cert *c)
{
	struct ward_buf b;
	const unsigned char *p;
	X509 *x;

	ward_buf_init(&b, OUT_MAX);
	assert_int_equal(ward_x509_cert_to_der(c, &b), WARD_OK);
	p = b.p;
	x = d2i_X509(NULL, &p, (long)b.len);
	assert_non_null(x);
	ward_buf_free(&b);
	return x;
}

/* An OpenSSL copy of a ward private key, for forging things ward would not make. */
static EVP_PKEY *evp_private(const struct ward_key *k)
{
	struct ward_buf pem;
	BIO *bio;
	EVP_PKEY *pkey;

	assert_int_equal(ward_crypto_key_private_pem(k, &pem), WARD_OK);
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	BIO_free(bio);
	ward_buf_free(&pem);
	return pkey;
}

static EVP_PKEY *evp_public(const struct ward_key *k)
{
	struct ward_buf pem;
	BIO *bio;
	EVP_PKEY *pkey;

	assert_int_equal(ward_crypto_key_public_pem(k, &pem), WARD_OK);
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	BIO_free(bio);
	ward_buf_free(&pem);
	return pkey;
}

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A certificate ward would never issue: subject cn with subject's key, naming
 * issuer as its issuer (and its key id as the authority key id), signed by
 * signer with SHA-256, whoever signer really is.
 */
static struct ward_cert *forge(const struct ward_cert *issuer, const struct ward_key *signer,
                               const struct ward_key *subject, const char *cn, int ca)
{
	X509 *ix = x509_of(issuer), *x = X509_new();
	EVP_PKEY *sk = evp_private(signer), *pub = evp_public(subject);
	X509V3_CTX v3;
	unsigned char *der = NULL;
	int len;
	struct ward_cert *c = NULL;
	struct ward_msg m = {{0}};

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                                            (const unsigned char *)cn, -1, -1, 0),
	                 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ix)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	X509V3_set_ctx(&v3, ix, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &v3, NID_key_usage,
	        ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, sk, EVP_sha256()) > 0);
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	must(ward_x509_cert_from_der(der, (size_t)len, &c, &m), &m, "forged DER");
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(sk);
	X509_free(x);
	X509_free(ix);
	return c;
}

/* Decode a committed base64 fixture into out (initialised here). */
static void b64(const char *s, struct ward_buf *out)
{
	assert_int_equal(ward_crypto_base64_decode(s, strlen(s), WARD_X509_MAX_DER, out), WARD_OK);
}

/* Write data to P.dir/name; the path goes into path (PATH_MAX-ish). */
static void write_file(const char *name, const void *data, size_t len, char *path, size_t pathlen)
{
	FILE *f;

	assert_int_equal(ward_snprintf(path, pathlen, "%s/%s", P.dir, name), WARD_OK);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/*
 * Run a shell command (an independent tool reading ward's output) and keep
 * its output; returns its exit status, or -1 when it could not run.
 */
static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0, r;
	int st;

	out[0] = '\0';
	if (f == NULL)
		return -1;
	while (n + 1 < outlen && (r = fread(out + n, 1, outlen - 1 - n, f)) > 0)
		n += r;
	out[n] = '\0';
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Offset of the first occurrence of text in p[0..n), or n when absent. */
static size_t find(const uint8_t *p, size_t n, const char *text)
{
	size_t t = strlen(text);

	for (size_t i = 0; i + t <= n; i++)
		if (memcmp(p + i, text, t) == 0)
			return i;
	return n;
}

static int have_openssl(void)
{
	char out[256];

	return run("openssl version 2>&1", out, sizeof(out)) == 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* nftw callback: remove one entry of the scratch directory (children first). */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct ward_issue p;
	time_t now = time(NULL);

	(void)state;
	memset(&P, 0, sizeof(P));
	P.now = now;
	memcpy(P.dir, "/tmp/ward-x509-XXXXXX", sizeof("/tmp/ward-x509-XXXXXX"));
	if (mkdtemp(P.dir) == NULL)
		return -1;
	P.root_key = keygen(WARD_KEY_ECDSA_P256);
	P.iss_key = keygen(WARD_KEY_ECDSA_P256);
	P.dev_key = keygen(WARD_KEY_ECDSA_P256);
	P.srv_key = keygen(WARD_KEY_ECDSA_P256);
	P.other_key = keygen(WARD_KEY_ECDSA_P256);
	P.oroot_key = keygen(WARD_KEY_ECDSA_P256);
	P.oiss_key = keygen(WARD_KEY_ECDSA_P256);

	issue_args(&p, WARD_CERT_ROOT_CA, "ward root CA", NULL, P.root_key, now - DAY,
	           now + 3650 * DAY);
	P.root = issue_ok(NULL, P.root_key, &p);
	issue_args(&p, WARD_CERT_ISSUING_CA, "ward issuing CA", NULL, P.iss_key, now - DAY,
	           now + 1000 * DAY);
	P.iss = issue_ok(P.root, P.root_key, &p);
	P.dev = make_device(P.iss, P.iss_key, P.dev_key, "DEV-0001", now - 60, now + 30 * DAY);
	issue_args(&p, WARD_CERT_SERVER, "ward.example", NULL, P.srv_key, now - 60, now + 90 * DAY);
	p.san_dns = "ward.example";
	p.san_ip = "127.0.0.1";
	P.srv = issue_ok(P.iss, P.iss_key, &p);

	issue_args(&p, WARD_CERT_ROOT_CA, "other root CA", NULL, P.oroot_key, now - DAY,
	           now + 3650 * DAY);
	P.oroot = issue_ok(NULL, P.oroot_key, &p);
	issue_args(&p, WARD_CERT_ISSUING_CA, "ward issuing CA", NULL, P.oiss_key, now - DAY,
	           now + 1000 * DAY); /* same name as ours, on purpose */
	P.oiss = issue_ok(P.oroot, P.oroot_key, &p);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ward_x509_cert_free(P.root);
	ward_x509_cert_free(P.iss);
	ward_x509_cert_free(P.dev);
	ward_x509_cert_free(P.srv);
	ward_x509_cert_free(P.oroot);
	ward_x509_cert_free(P.oiss);
	ward_crypto_key_free(P.root_key);
	ward_crypto_key_free(P.iss_key);
	ward_crypto_key_free(P.dev_key);
	ward_crypto_key_free(P.srv_key);
	ward_crypto_key_free(P.other_key);
	ward_crypto_key_free(P.oroot_key);
	ward_crypto_key_free(P.oiss_key);
	if (strncmp(P.dir, "/tmp/ward-x509-", 15) == 0)
		(void)nftw(P.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- the PKI ------------------------------------------------------------- */

static void test_chain_verifies(void **state)
{
	struct ward_msg m = {{0}};
	struct ward_cert *chain[1];

	(void)state;
	chain[0] = P.iss;
	must(ward_x509_verify(P.dev, chain, 1, P.root, 0, &m), &m, "device chain");
	must(ward_x509_verify(P.srv, chain, 1, P.root, 0, &m), &m, "server chain");
	must(ward_x509_verify(P.iss, NULL, 0, P.root, 0, &m), &m, "issuing CA");
	must(ward_x509_verify(P.root, NULL, 0, P.root, 0, &m), &m, "root itself");
	/* At an explicit time inside every validity period. */
	must(ward_x509_verify(P.dev, chain, 1, P.root, P.now + DAY, &m), &m, "explicit time");
	/* Without the intermediate the chain is incomplete. */
	assert_int_equal(ward_x509_verify(P.dev, NULL, 0, P.root, 0, &m), WARD_E_VERIFY);
	/* The issuing CA is not a trust anchor (not self-signed, no partial chains). */
	assert_int_equal(ward_x509_verify(P.dev, NULL, 0, P.iss, 0, &m), WARD_E_VERIFY);
	assert_int_equal(ward_x509_verify(NULL, NULL, 0, P.root, 0, &m), WARD_E_INVAL);
	assert_int_equal(ward_x509_verify(P.dev, NULL, 1, P.root, 0, &m), WARD_E_INVAL);
}

static void test_info(void **state)
{
	struct ward_cert_info i, r;
	struct ward_key *k = NULL;

	(void)state;
	assert_int_equal(ward_x509_cert_info(P.dev, &i), WARD_OK);
	assert_string_equal(i.cn, "DEV-0001");
	assert_string_equal(i.serial_number, "DEV-0001");
	assert_string_equal(i.ou, "model-x");
	assert_string_equal(i.o, "Acme Devices");
	assert_string_equal(i.issuer_cn, "ward issuing CA");
	assert_int_equal(i.not_before, P.now - 60);
	assert_int_equal(i.not_after, P.now + 30 * DAY);
	assert_false(i.is_ca);
	assert_string_equal(i.mud_url, "");
	assert_int_equal(i.key_type, WARD_KEY_ECDSA_P256);
	/* 128 random bits with the first cleared: at most 32 hex digits, first below 8. */
	assert_true(strlen(i.serial_hex) <= 32 && strlen(i.serial_hex) >= 2);
	assert_true(strlen(i.serial_hex) < 32 || i.serial_hex[0] <= '7');
	assert_int_equal(strspn(i.serial_hex, "0123456789abcdef"), strlen(i.serial_hex));

	assert_int_equal(ward_x509_cert_info(P.root, &r), WARD_OK);
	assert_true(r.is_ca);
	assert_string_equal(r.cn, "ward root CA");
	assert_string_equal(r.issuer_cn, "ward root CA");
	assert_string_equal(r.serial_number, "");
	assert_string_not_equal(r.serial_hex, i.serial_hex);

	assert_int_equal(ward_x509_cert_key(P.dev, &k), WARD_OK);
	assert_true(ward_crypto_key_equal(k, P.dev_key));
	assert_false(ward_crypto_key_has_private(k));
	ward_crypto_key_free(k);
	assert_int_equal(ward_x509_cert_info(NULL, &i), WARD_E_INVAL);
}

/* Each profile has exactly the extensions ward/x509.h promises. */
static void test_profiles(void **state)
{
	X509 *root = x509_of(P.root), *iss = x509_of(P.iss), *dev = x509_of(P.dev),
	     *srv = x509_of(P.srv);
	X509 *all[] = {root, iss, dev, srv};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		X509 *x = all[i];
		int bc = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
		int ku = X509_get_ext_by_NID(x, NID_key_usage, -1);

		assert_int_equal(X509_get_version(x), X509_VERSION_3);
		assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
		assert_true(bc >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, bc)) == 1);
		assert_true(ku >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, ku)) == 1);
		assert_non_null(X509_get0_subject_key_id(x));
		assert_non_null(X509_get0_authority_key_id(x));
		assert_int_equal(X509_get_extension_flags(x) & EXFLAG_INVALID, 0);
		/* Positive serial, 128 bits at most. */
		assert_int_equal(ASN1_STRING_type(X509_get0_serialNumber(x)), V_ASN1_INTEGER);
		assert_true(ASN1_STRING_length(X509_get0_serialNumber(x)) <= 16);
	}
	/* root: self-signed CA, keyCertSign + cRLSign, no path length, AKID = SKID. */
	assert_int_equal(X509_check_issued(root, root), X509_V_OK);
	assert_true((X509_get_extension_flags(root) & EXFLAG_CA) != 0);
	assert_int_equal(X509_get_key_usage(root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_pathlen(root), -1);
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(root), X509_get0_subject_key_id(root)),
	    0);
	/* issuing: CA, pathlen 0, issued by root (AKID = root's SKID). */
	assert_int_equal(X509_check_issued(root, iss), X509_V_OK);
	assert_true((X509_get_extension_flags(iss) & EXFLAG_CA) != 0);
	assert_int_equal(X509_get_pathlen(iss), 0);
	assert_int_equal(X509_get_key_usage(iss), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(iss), X509_get0_subject_key_id(root)),
	    0);
	/* device: end entity, digitalSignature, clientAuth only. */
	assert_int_equal(X509_check_issued(iss, dev), X509_V_OK);
	assert_int_equal(X509_get_extension_flags(dev) & EXFLAG_CA, 0);
	assert_int_equal(X509_check_ca(dev), 0);
	assert_int_equal(X509_get_key_usage(dev), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(dev), XKU_SSL_CLIENT);
	assert_int_equal(X509_check_purpose(dev, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_purpose(dev, X509_PURPOSE_SSL_SERVER, 0), 0);
	assert_int_equal(X509_get_ext_by_NID(dev, NID_subject_alt_name, -1), -1);
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(dev), X509_get0_subject_key_id(iss)),
	    0);
	/* server: serverAuth, SAN with the DNS name and the IP address. */
	assert_int_equal(X509_get_key_usage(srv), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(srv), XKU_SSL_SERVER);
	assert_int_equal(X509_check_host(srv, "ward.example", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(srv, "other.example", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	for (size_t i = 0; i < 4; i++)
		X509_free(all[i]);
}

static void test_ed25519_pki(void **state)
{
	struct ward_key *rk = keygen(WARD_KEY_ED25519), *dk = keygen(WARD_KEY_ED25519);
	struct ward_cert *root, *dev, *chain[1];
	struct ward_issue p;
	struct ward_cert_info i;
	struct ward_msg m = {{0}};
	X509 *x;

	(void)state;
	issue_args(&p, WARD_CERT_ROOT_CA, "ed root", NULL, rk, P.now - DAY, P.now + 10 * DAY);
	root = issue_ok(NULL, rk, &p);
	issue_args(&p, WARD_CERT_DEVICE, "ED-1", "ED-1", dk, P.now - DAY, P.now + DAY);
	dev = issue_ok(root, rk, &p);
	x = x509_of(dev);
	assert_int_equal(X509_get_signature_nid(x), NID_ED25519);
	X509_free(x);
	must(ward_x509_verify(dev, NULL, 0, root, 0, &m), &m, "ed25519 chain");
	assert_int_equal(ward_x509_cert_info(dev, &i), WARD_OK);
	assert_int_equal(i.key_type, WARD_KEY_ED25519);
	/* A P-256 device under our P-256 issuing CA does not chain to the ed25519 root. */
	chain[0] = P.iss;
	assert_int_equal(ward_x509_verify(P.dev, chain, 1, root, 0, &m), WARD_E_VERIFY);
	ward_x509_cert_free(dev);
	ward_x509_cert_free(root);
	ward_crypto_key_free(dk);
	ward_crypto_key_free(rk);
}

/* Serials: distinct, positive, at most 128 bits, so the DER INTEGER never needs a 0x00 pad. */
static void test_serials(void **state)
{
	char seen[32][WARD_X509_SERIAL_HEX + 1];
	struct ward_cert_info i;

	(void)state;
	for (size_t k = 0; k < 32; k++) {
		struct ward_cert *c =
		    make_device(P.iss, P.iss_key, P.dev_key, "DEV-S", P.now, P.now + DAY);
		X509 *x = x509_of(c);
		unsigned char *der = NULL;
		int len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);

		assert_true(len > 2 && len <= 2 + 16); /* tag, length, at most 16 content bytes */
		assert_true(der[2] < 0x80);            /* positive */
		OPENSSL_free(der);
		X509_free(x);
		assert_int_equal(ward_x509_cert_info(c, &i), WARD_OK);
		assert_true(strlen(i.serial_hex) < 32 || i.serial_hex[0] <= '7');
		for (size_t j = 0; j < k; j++)
			assert_string_not_equal(seen[j], i.serial_hex);
		memcpy(seen[k], i.serial_hex, sizeof(seen[k]));
		ward_x509_cert_free(c);
	}
}

/* Two CNs (or two serialNumbers): which one is the identity? Refused, never guessed. */
static void test_duplicate_names(void **state)
{
	EVP_PKEY *k = evp_private(P.other_key);
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	int len;
	struct ward_csr *r = NULL;
	struct ward_msg m = {{0}};
	struct ward_cert *c;
	struct ward_cert_info i;

	(void)state;
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                            (const unsigned char *)"DEV-A", -1, -1, 0),
	                 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                                            (const unsigned char *)"DEV-B", -1, -1, 0),
	                 1);
	assert_int_equal(X509_REQ_set_version(req, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	len = i2d_X509_REQ(req, &der);
	assert_true(len > 0);
	assert_int_equal(ward_x509_csr_parse(der, (size_t)len, &r, &m), WARD_E_PARSE);
	assert_null(r);
	OPENSSL_free(der);
	/* The same for a certificate someone else issued. */
	c = forge(P.iss, P.iss_key, P.other_key, "DEV-A", 0);
	{
		X509 *x = x509_of(c);
		struct ward_msg m2 = {{0}};
		struct ward_cert *c2 = NULL;

		assert_int_equal(
		    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
		                               (const unsigned char *)"DEV-B", -1, -1, 0),
		    1);
		assert_true(X509_sign(x, k, EVP_sha256()) > 0); /* re-encodes the changed name */
		der = NULL;
		len = i2d_X509(x, &der);
		assert_true(len > 0);
		must(ward_x509_cert_from_der(der, (size_t)len, &c2, &m2), &m2, "two CNs parse");
		memset(&i, 0x5a, sizeof(i));
		assert_int_equal(ward_x509_cert_info(c2, &i), WARD_E_PARSE);
		assert_int_equal((unsigned char)i.cn[0], 0x5a); /* untouched on failure */
		OPENSSL_free(der);
		ward_x509_cert_free(c2);
		X509_free(x);
	}
	ward_x509_cert_free(c);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

/* ---- what must not verify ------------------------------------------------ */

static void test_expired_device(void **state)
{
	struct ward_cert *old, *chain[1] = {P.iss};
	struct ward_msg m = {{0}};

	(void)state;
	old = make_device(P.iss, P.iss_key, P.dev_key, "DEV-OLD", P.now - 20 * 3600, P.now - 3600);
	assert_int_equal(ward_x509_verify(old, chain, 1, P.root, 0, &m), WARD_E_EXPIRED);
	assert_non_null(strstr(m.text, "DEV-OLD"));
	assert_non_null(strstr(m.text, "expired"));
	/* The same certificate was fine while it was valid. */
	must(ward_x509_verify(old, chain, 1, P.root, P.now - 10 * 3600, &m), &m, "in its time");
	/* The good device certificate, checked after it expires or before it starts. */
	assert_int_equal(ward_x509_verify(P.dev, chain, 1, P.root, P.now + 31 * DAY, &m),
	                 WARD_E_EXPIRED);
	assert_int_equal(ward_x509_verify(P.dev, chain, 1, P.root, P.now - 3600, &m),
	                 WARD_E_VERIFY);
	assert_non_null(strstr(m.text, "not yet valid"));
	ward_x509_cert_free(old);
}

static void test_other_ca(void **state)
{
	struct ward_key *k = keygen(WARD_KEY_ECDSA_P256);
	struct ward_cert *odev, *chain[1];
	struct ward_msg m = {{0}};

	(void)state;
	odev = make_device(P.oiss, P.oiss_key, k, "DEV-0001", P.now - 60, P.now + DAY);
	chain[0] = P.oiss;
	must(ward_x509_verify(odev, chain, 1, P.oroot, 0, &m), &m, "other PKI on its own");
	/* Same subject names as ours, other keys: refused under our root. */
	assert_int_equal(ward_x509_verify(odev, chain, 1, P.root, 0, &m), WARD_E_VERIFY);
	chain[0] = P.iss;
	assert_int_equal(ward_x509_verify(odev, chain, 1, P.root, 0, &m), WARD_E_VERIFY);
	/* And our device under their root. */
	assert_int_equal(ward_x509_verify(P.dev, chain, 1, P.oroot, 0, &m), WARD_E_VERIFY);
	ward_x509_cert_free(odev);
	ward_crypto_key_free(k);
}

static void test_non_ca_as_issuer(void **state)
{
	struct ward_cert *rogue = NULL, *chain[2];
	struct ward_issue p;
	struct ward_msg m = {{0}};

	(void)state;
	/* ward will not issue under an end-entity certificate... */
	issue_args(&p, WARD_CERT_DEVICE, "ROGUE", "ROGUE", P.other_key, P.now - 60, P.now + DAY);
	assert_int_equal(ward_x509_issue(P.dev, P.dev_key, &p, &rogue, &m), WARD_E_INVAL);
	assert_null(rogue);
	assert_non_null(strstr(m.text, "not a CA"));
	/* ...and a certificate someone else made that way does not verify. */
	rogue = forge(P.dev, P.dev_key, P.other_key, "ROGUE", 0);
	chain[0] = P.dev;
	chain[1] = P.iss;
	assert_int_equal(ward_x509_verify(rogue, chain, 2, P.root, 0, &m), WARD_E_VERIFY);
	assert_non_null(strstr(m.text, "CA"));
	ward_x509_cert_free(rogue);
}

static void test_wrong_issuer_key(void **state)
{
	struct ward_cert *c = NULL, *chain[1] = {P.iss};
	struct ward_issue p;
	struct ward_msg m = {{0}};
	struct ward_key *pub = NULL;

	(void)state;
	issue_args(&p, WARD_CERT_DEVICE, "DEV-X", "DEV-X", P.other_key, P.now - 60, P.now + DAY);
	/* The root's key with the issuing CA's certificate: refused before signing. */
	assert_int_equal(ward_x509_issue(P.iss, P.root_key, &p, &c, &m), WARD_E_INVAL);
	assert_null(c);
	assert_non_null(strstr(m.text, "does not match"));
	/* A public key cannot sign. */
	assert_int_equal(ward_crypto_key_public_copy(P.iss_key, &pub), WARD_OK);
	assert_int_equal(ward_x509_issue(P.iss, pub, &p, &c, &m), WARD_E_INVAL);
	assert_null(c);
	ward_crypto_key_free(pub);
	/* A certificate naming our issuing CA but signed by another key does not verify. */
	c = forge(P.iss, P.other_key, P.dev_key, "DEV-FORGED", 0);
	assert_int_equal(ward_x509_verify(c, chain, 1, P.root, 0, &m), WARD_E_VERIFY);
	assert_non_null(strstr(m.text, "signature"));
	ward_x509_cert_free(c);
	/* An intermediate CA forged the same way breaks the chain too. */
	c = forge(P.root, P.other_key, P.other_key, "fake issuing CA", 1);
	assert_int_equal(ward_x509_verify(c, NULL, 0, P.root, 0, &m), WARD_E_VERIFY);
	ward_x509_cert_free(c);
}

static void test_issue_refusals(void **state)
{
	static int sentinel_storage; /* only its address is used, as a marker */
	struct ward_cert *const sentinel = (struct ward_cert *)(void *)&sentinel_storage;
	struct ward_cert *c;
	struct ward_issue p;
	struct ward_msg m = {{0}};
	char longname[80];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

#define REFUSED(issuer, key, want)                                                                 \
	do {                                                                                       \
		c = sentinel;                                                                      \
		m.text[0] = '\0';                                                                  \
		assert_int_equal(ward_x509_issue((issuer), (key), &p, &c, &m), (want));            \
		assert_ptr_equal(c, sentinel); /* untouched on failure */                          \
		assert_true(m.text[0] != '\0');                                                    \
	} while (0)

	/* A root must be self-signed by its own key and name no issuer. */
	issue_args(&p, WARD_CERT_ROOT_CA, "r", NULL, P.root_key, P.now, P.now + DAY);
	REFUSED(P.root, P.root_key, WARD_E_INVAL);
	REFUSED(NULL, P.iss_key, WARD_E_INVAL);
	/* Every other profile needs an issuer. */
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now, P.now + DAY);
	REFUSED(NULL, P.iss_key, WARD_E_INVAL);
	/* The issuing CA has pathlen 0: it cannot make another CA. */
	issue_args(&p, WARD_CERT_ISSUING_CA, "sub", NULL, P.other_key, P.now, P.now + DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	/* Validity: inverted, empty, unset, or longer than the issuer's. */
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now + DAY, P.now);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now, P.now);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, 0, P.now);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now, P.now + 5000 * DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	assert_non_null(strstr(m.text, "outlive"));
	/* Names: empty subject, oversized, control characters, serialNumber outside
	 * PrintableString. */
	issue_args(&p, WARD_CERT_DEVICE, NULL, NULL, P.dev_key, P.now, P.now + DAY);
	p.subject.o = NULL;
	p.subject.ou = "";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, longname, "d", P.dev_key, P.now, P.now + DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "bad\nname", "d", P.dev_key, P.now, P.now + DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "d", "under_score", P.dev_key, P.now, P.now + DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	assert_non_null(strstr(m.text, "serialNumber"));
	/* SAN only on servers, and a server needs one; MUD URL only on devices. */
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now, P.now + DAY);
	p.san_dns = "d.example";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_SERVER, "s", NULL, P.srv_key, P.now, P.now + DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	p.san_dns = "bad name,DNS:evil.example";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	p.san_dns = "a..b";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	p.san_dns = NULL;
	p.san_ip = "300.1.2.3";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	p.san_ip = "::1";
	p.mud_url = "https://mud.example/x.json";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now, P.now + DAY);
	p.mud_url = "http://mud.example/x.json";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	p.mud_url = "https://mud.example/a b";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	p.mud_url = "https://";
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	/* Missing arguments. */
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", NULL, P.now, P.now + DAY);
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	issue_args(&p, WARD_CERT_DEVICE, "d", "d", P.dev_key, P.now, P.now + DAY);
	REFUSED(P.iss, NULL, WARD_E_INVAL);
	p.profile = (enum ward_cert_profile)42;
	REFUSED(P.iss, P.iss_key, WARD_E_INVAL);
	assert_int_equal(ward_x509_issue(P.iss, P.iss_key, NULL, &c, &m), WARD_E_INVAL);
#undef REFUSED
	/* IPv6 SAN works. */
	issue_args(&p, WARD_CERT_SERVER, "s", NULL, P.srv_key, P.now, P.now + DAY);
	p.san_ip = "::1";
	c = issue_ok(P.iss, P.iss_key, &p);
	ward_x509_cert_free(c);
}

/* ---- encodings ----------------------------------------------------------- */

static void test_pem_der(void **state)
{
	struct ward_buf pem, der, der2, two;
	struct ward_cert *c = NULL;
	struct ward_msg m = {{0}};
	uint8_t *big;
	static const char key_pem[] =
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

	(void)state;
	ward_buf_init(&pem, OUT_MAX);
	ward_buf_init(&der, OUT_MAX);
	ward_buf_init(&der2, OUT_MAX);
	ward_buf_init(&two, OUT_MAX);
	assert_int_equal(ward_x509_cert_to_pem(P.dev, &pem), WARD_OK);
	assert_non_null(strstr((char *)pem.p, "-----BEGIN CERTIFICATE-----"));
	assert_int_equal(ward_x509_cert_to_der(P.dev, &der), WARD_OK);
	must(ward_x509_cert_from_pem((char *)pem.p, pem.len, &c, &m), &m, "from PEM");
	assert_int_equal(ward_x509_cert_to_der(c, &der2), WARD_OK);
	assert_int_equal(der.len, der2.len);
	assert_memory_equal(der.p, der2.p, der.len);
	ward_x509_cert_free(c);
	c = NULL;
	must(ward_x509_cert_from_der(der.p, der.len, &c, &m), &m, "from DER");
	ward_x509_cert_free(c);
	c = NULL;

	/* Text around the block is fine; a second certificate is not. */
	assert_int_equal(ward_buf_append(&two, "subject=...\n", 12), WARD_OK);
	assert_int_equal(ward_buf_append(&two, pem.p, pem.len), WARD_OK);
	must(ward_x509_cert_from_pem((char *)two.p, two.len, &c, &m), &m, "text before");
	ward_x509_cert_free(c);
	c = NULL;
	assert_int_equal(ward_buf_append(&two, pem.p, pem.len), WARD_OK);
	assert_int_equal(ward_x509_cert_from_pem((char *)two.p, two.len, &c, &m), WARD_E_PARSE);
	assert_null(c);
	assert_int_equal(ward_x509_cert_from_pem(key_pem, strlen(key_pem), &c, &m), WARD_E_PARSE);
	assert_int_equal(ward_x509_cert_from_pem("", 0, &c, &m), WARD_E_PARSE);
	assert_int_equal(ward_x509_cert_from_pem((char *)pem.p, pem.len / 2, &c, &m), WARD_E_PARSE);
	assert_null(c);

	/* DER: trailing byte, every truncation, garbage, empty, oversized. */
	assert_int_equal(ward_buf_append(&der, "\0", 1), WARD_OK);
	assert_int_equal(ward_x509_cert_from_der(der.p, der.len, &c, &m), WARD_E_PARSE);
	for (size_t n = 0; n + 1 < der.len; n++)
		assert_int_not_equal(ward_x509_cert_from_der(der.p, n, &c, &m), WARD_OK);
	assert_int_equal(ward_x509_cert_from_der((const uint8_t *)"garbage!", 8, &c, &m),
	                 WARD_E_PARSE);
	big = calloc(1, WARD_X509_MAX_DER + 1);
	assert_non_null(big);
	assert_int_equal(ward_x509_cert_from_der(big, WARD_X509_MAX_DER + 1, &c, &m),
	                 WARD_E_TOOBIG);
	free(big);
	assert_null(c);

	/* Appending keeps what the buffer held. */
	assert_int_equal(ward_x509_cert_to_pem(P.root, &pem), WARD_OK);
	assert_int_equal(count((char *)pem.p, "BEGIN CERTIFICATE"), 2);
	ward_buf_free(&pem);
	ward_buf_free(&der);
	ward_buf_free(&der2);
	ward_buf_free(&two);
}

static void test_bundle_file(void **state)
{
	struct ward_buf text, key;
	struct ward_cert **certs = NULL;
	size_t n = 0;
	char path[256];
	struct ward_msg m = {{0}};
	struct ward_cert_info i;
	FILE *f;

	(void)state;
	ward_buf_init(&text, OUT_MAX);
	assert_int_equal(ward_buf_append(&text, "# ward CA bundle\n", 17), WARD_OK);
	assert_int_equal(ward_x509_cert_to_pem(P.srv, &text), WARD_OK);
	assert_int_equal(ward_x509_cert_to_pem(P.iss, &text), WARD_OK);
	assert_int_equal(ward_x509_cert_to_pem(P.root, &text), WARD_OK);
	write_file("bundle.pem", text.p, text.len, path, sizeof(path));
	must(ward_x509_certs_from_pem_file(path, 3, &certs, &n, &m), &m, "bundle");
	assert_int_equal(n, 3);
	assert_int_equal(ward_x509_cert_info(certs[1], &i), WARD_OK);
	assert_string_equal(i.cn, "ward issuing CA");
	for (size_t k = 0; k < n; k++)
		ward_x509_cert_free(certs[k]);
	free(certs);
	certs = NULL;
	n = 0;
	/* More than max. */
	assert_int_equal(ward_x509_certs_from_pem_file(path, 2, &certs, &n, &m), WARD_E_TOOBIG);
	assert_null(certs);
	assert_int_equal(n, 0);
	assert_int_equal(ward_x509_certs_from_pem_file(path, 0, &certs, &n, &m), WARD_E_INVAL);
	/* A private key in a certificate bundle is refused, not skipped. */
	assert_int_equal(ward_crypto_key_private_pem(P.other_key, &key), WARD_OK);
	assert_int_equal(ward_buf_append(&text, key.p, key.len), WARD_OK);
	ward_buf_free(&key);
	write_file("withkey.pem", text.p, text.len, path, sizeof(path));
	assert_int_equal(ward_x509_certs_from_pem_file(path, 8, &certs, &n, &m), WARD_E_PARSE);
	ward_buf_free(&text);
	/* Empty, missing, larger than 1 MiB. */
	write_file("empty.pem", "", 0, path, sizeof(path));
	assert_int_equal(ward_x509_certs_from_pem_file(path, 8, &certs, &n, &m), WARD_E_PARSE);
	assert_int_equal(ward_snprintf(path, sizeof(path), "%s/missing.pem", P.dir), WARD_OK);
	assert_int_equal(ward_x509_certs_from_pem_file(path, 8, &certs, &n, &m), WARD_E_NOTFOUND);
	write_file("big.pem", "", 0, path, sizeof(path));
	f = fopen(path, "wb");
	assert_non_null(f);
	for (int k = 0; k < 1100; k++)
		fprintf(f, "%01023d\n", 0);
	fclose(f);
	assert_int_equal(ward_x509_certs_from_pem_file(path, 8, &certs, &n, &m), WARD_E_TOOBIG);
	assert_null(certs);
}

/* ---- CSRs ---------------------------------------------------------------- */

static void csr_roundtrip(enum ward_key_type t)
{
	struct ward_key *k = keygen(t), *rk = NULL;
	struct ward_name name = {
	    .cn = "DEV-0100", .serial = "DEV-0100", .ou = "model-y", .o = NULL};
	struct ward_buf der;
	struct ward_csr *r = NULL;
	struct ward_cert_info i;
	struct ward_msg m = {{0}};
	const unsigned char *p;
	X509_REQ *req;

	must(ward_x509_csr_create(k, &name, &der, &m), &m, "csr_create");
	assert_true(der.len > 0 && der.len <= WARD_X509_MAX_DER);
	must(ward_x509_csr_parse(der.p, der.len, &r, &m), &m, "csr_parse");
	assert_int_equal(ward_x509_csr_info(r, &i), WARD_OK);
	assert_string_equal(i.cn, "DEV-0100");
	assert_string_equal(i.serial_number, "DEV-0100");
	assert_string_equal(i.ou, "model-y");
	assert_string_equal(i.o, "");
	assert_string_equal(i.issuer_cn, "");
	assert_string_equal(i.serial_hex, "");
	assert_int_equal(i.not_before, 0);
	assert_int_equal(i.not_after, 0);
	assert_false(i.is_ca);
	assert_int_equal(i.key_type, t);
	assert_int_equal(ward_x509_csr_key(r, &rk), WARD_OK);
	assert_true(ward_crypto_key_equal(rk, k));
	assert_false(ward_crypto_key_has_private(rk));
	/* OpenSSL reads it as a v1 request with the right signature algorithm. */
	p = der.p;
	req = d2i_X509_REQ(NULL, &p, (long)der.len);
	assert_non_null(req);
	assert_int_equal(X509_REQ_get_version(req), 0);
	assert_int_equal(X509_REQ_get_signature_nid(req),
	                 t == WARD_KEY_ECDSA_P256 ? NID_ecdsa_with_SHA256 : NID_ED25519);
	assert_int_equal(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	X509_REQ_free(req);
	/* A CSR turns into a device certificate for the same key. */
	{
		struct ward_issue ip;
		struct ward_cert *c, *chain[1] = {P.iss};
		struct ward_key *ck = NULL;

		issue_args(&ip, WARD_CERT_DEVICE, i.serial_number, i.serial_number, rk, P.now - 60,
		           P.now + DAY);
		c = issue_ok(P.iss, P.iss_key, &ip);
		must(ward_x509_verify(c, chain, 1, P.root, 0, &m), &m, "issued from CSR");
		assert_int_equal(ward_x509_cert_key(c, &ck), WARD_OK);
		assert_true(ward_crypto_key_equal(ck, k));
		ward_crypto_key_free(ck);
		ward_x509_cert_free(c);
	}
	ward_crypto_key_free(rk);
	ward_x509_csr_free(r);
	ward_buf_free(&der);
	ward_crypto_key_free(k);
}

static void test_csr_roundtrip_p256(void **state)
{
	(void)state;
	csr_roundtrip(WARD_KEY_ECDSA_P256);
}

static void test_csr_roundtrip_ed25519(void **state)
{
	(void)state;
	csr_roundtrip(WARD_KEY_ED25519);
}

static void test_csr_from_openssl(void **state)
{
	struct ward_buf der;
	struct ward_csr *r = NULL;
	struct ward_cert_info i;
	struct ward_msg m = {{0}};

	(void)state;
	b64(CSR_P256_OPENSSL_B64, &der);
	must(ward_x509_csr_parse(der.p, der.len, &r, &m), &m, "openssl P-256 CSR");
	assert_int_equal(ward_x509_csr_info(r, &i), WARD_OK);
	assert_string_equal(i.cn, "dev-0042");
	assert_string_equal(i.serial_number, "0042");
	assert_string_equal(i.ou, "model-x");
	assert_string_equal(i.o, "Acme");
	assert_int_equal(i.key_type, WARD_KEY_ECDSA_P256);
	ward_x509_csr_free(r);
	r = NULL;
	ward_buf_free(&der);
	b64(CSR_ED25519_OPENSSL_B64, &der);
	must(ward_x509_csr_parse(der.p, der.len, &r, &m), &m, "openssl ed25519 CSR");
	assert_int_equal(ward_x509_csr_info(r, &i), WARD_OK);
	assert_int_equal(i.key_type, WARD_KEY_ED25519);
	assert_string_equal(i.serial_number, "ED1");
	ward_x509_csr_free(r);
	ward_buf_free(&der);
}

static void test_csr_foreign_keys(void **state)
{
	const struct {
		const char *b64;
		ward_err want;
		const char *named;
	} cases[] = {
	    {CSR_P384_B64, WARD_E_UNSUPPORTED, "secp384r1"},
	    {CSR_RSA2048_B64, WARD_E_UNSUPPORTED, "RSA"},
	    {CSR_BRAINPOOL_B64, WARD_E_UNSUPPORTED, "brainpoolP256r1"},
	    {CSR_P256_SHA384_B64, WARD_E_UNSUPPORTED, "ecdsa-with-SHA384"},
	};
	struct ward_buf der;
	struct ward_csr *r;
	struct ward_msg m;

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(&m, 0, sizeof(m));
		r = NULL;
		b64(cases[k].b64, &der);
		assert_int_equal(ward_x509_csr_parse(der.p, der.len, &r, &m), cases[k].want);
		assert_null(r);
		if (strstr(m.text, cases[k].named) == NULL)
			fail_msg("case %zu: message \"%s\" does not name %s", k, m.text,
			         cases[k].named);
		ward_buf_free(&der);
	}
}

static void test_csr_bad_signature(void **state)
{
	struct ward_key *k = keygen(WARD_KEY_ECDSA_P256), *e = keygen(WARD_KEY_ED25519);
	struct ward_name name = {.cn = "DEV-9", .serial = "DEV-9"};
	struct ward_buf der;
	struct ward_csr *r = NULL;
	struct ward_msg m = {{0}};
	uint8_t *copy;
	size_t at;

	(void)state;
	must(ward_x509_csr_create(k, &name, &der, &m), &m, "csr_create");
	copy = malloc(der.len);
	assert_non_null(copy);
	/* The last byte belongs to the signature's s value. */
	memcpy(copy, der.p, der.len);
	copy[der.len - 1] ^= 0x01;
	assert_int_equal(ward_x509_csr_parse(copy, der.len, &r, &m), WARD_E_VERIFY);
	assert_null(r);
	assert_non_null(strstr(m.text, "possession"));
	/* A changed subject (inside the signed part) breaks the signature too. */
	memcpy(copy, der.p, der.len);
	at = find(copy, der.len, "DEV-9");
	assert_true(at < der.len);
	copy[at + 4] = '8';
	assert_int_equal(ward_x509_csr_parse(copy, der.len, &r, &m), WARD_E_VERIFY);
	assert_null(r);
	free(copy);
	ward_buf_free(&der);

	must(ward_x509_csr_create(e, &name, &der, &m), &m, "csr_create ed25519");
	copy = malloc(der.len);
	assert_non_null(copy);
	memcpy(copy, der.p, der.len);
	copy[der.len - 10] ^= 0x80;
	assert_int_equal(ward_x509_csr_parse(copy, der.len, &r, &m), WARD_E_VERIFY);
	assert_null(r);
	free(copy);
	ward_buf_free(&der);

	/* A public-only key cannot make a CSR; an empty subject is refused. */
	{
		struct ward_key *pub = NULL;
		struct ward_name empty = {0};
		struct ward_buf none;

		assert_int_equal(ward_crypto_key_public_copy(k, &pub), WARD_OK);
		assert_int_equal(ward_x509_csr_create(pub, &name, &none, &m), WARD_E_INVAL);
		assert_int_equal(ward_x509_csr_create(k, &empty, &none, &m), WARD_E_INVAL);
		ward_crypto_key_free(pub);
	}
	ward_crypto_key_free(k);
	ward_crypto_key_free(e);
}

static void test_csr_malformed(void **state)
{
	struct ward_key *k = keygen(WARD_KEY_ECDSA_P256);
	struct ward_name name = {.cn = "DEV-7", .serial = "DEV-7"};
	struct ward_buf der;
	struct ward_csr *r = NULL;
	struct ward_msg m = {{0}};
	uint8_t *big;
	ward_err e;

	(void)state;
	must(ward_x509_csr_create(k, &name, &der, &m), &m, "csr_create");
	/* Every truncation fails cleanly with a message. */
	for (size_t n = 0; n < der.len; n++) {
		memset(&m, 0, sizeof(m));
		e = ward_x509_csr_parse(der.p, n, &r, &m);
		assert_int_not_equal(e, WARD_OK);
		assert_null(r);
		assert_true(m.text[0] != '\0');
	}
	/* A trailing byte. */
	assert_int_equal(ward_buf_append(&der, "\x00", 1), WARD_OK);
	assert_int_equal(ward_x509_csr_parse(der.p, der.len, &r, &m), WARD_E_PARSE);
	/* Every single-byte corruption of the structure fails (no crash, no accept). */
	for (size_t n = 0; n + 1 < der.len; n++) {
		uint8_t saved = der.p[n];

		der.p[n] ^= 0xff;
		e = ward_x509_csr_parse(der.p, der.len - 1, &r, &m);
		if (e == WARD_OK)
			fail_msg("corrupting byte %zu was accepted", n);
		der.p[n] = saved;
	}
	assert_null(r);
	/* Garbage, oversized, NULL. */
	assert_int_equal(ward_x509_csr_parse((const uint8_t *)"\x30\x03\x02\x01\x00", 5, &r, &m),
	                 WARD_E_PARSE);
	assert_int_equal(ward_x509_csr_parse((const uint8_t *)"not a csr", 9, &r, &m),
	                 WARD_E_PARSE);
	big = calloc(1, WARD_X509_MAX_DER + 1);
	assert_non_null(big);
	big[0] = 0x30;
	assert_int_equal(ward_x509_csr_parse(big, WARD_X509_MAX_DER + 1, &r, &m), WARD_E_TOOBIG);
	free(big);
	assert_int_equal(ward_x509_csr_parse(NULL, 10, &r, &m), WARD_E_INVAL);
	assert_null(r);
	ward_buf_free(&der);
	ward_crypto_key_free(k);
}

/* ---- MUD URL ------------------------------------------------------------- */

static void test_mud_url(void **state)
{
	static const char url[] = "https://mud.example.com/model-x/v1.json";
	struct ward_issue p;
	struct ward_cert *c, *chain[1] = {P.iss};
	struct ward_cert_info i;
	struct ward_msg m = {{0}};
	X509 *x;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.25", 1);
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *val;
	const unsigned char *q;
	ASN1_IA5STRING *ia5;
	int idx;

	(void)state;
	issue_args(&p, WARD_CERT_DEVICE, "DEV-MUD", "DEV-MUD", P.dev_key, P.now - 60, P.now + DAY);
	p.mud_url = url;
	c = issue_ok(P.iss, P.iss_key, &p);
	assert_int_equal(ward_x509_cert_info(c, &i), WARD_OK);
	assert_string_equal(i.mud_url, url);
	must(ward_x509_verify(c, chain, 1, P.root, 0, &m), &m, "MUD device verifies");
	/* As RFC 8520 section 10 says: non-critical, value a DER IA5String. */
	x = x509_of(c);
	idx = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(idx >= 0);
	ext = X509_get_ext(x, idx);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 0);
	val = X509_EXTENSION_get_data(ext);
	q = ASN1_STRING_get0_data(val);
	ia5 = d2i_ASN1_IA5STRING(NULL, &q, ASN1_STRING_length(val));
	assert_non_null(ia5);
	assert_int_equal(ASN1_STRING_length(ia5), (int)strlen(url));
	assert_memory_equal(ASN1_STRING_get0_data(ia5), url, strlen(url));
	ASN1_IA5STRING_free(ia5);
	X509_free(x);
	ASN1_OBJECT_free(oid);
	ward_x509_cert_free(c);
}

/* ---- CRL ----------------------------------------------------------------- */

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
}

static void test_crl(void **state)
{
	struct ward_cert_info di, si;
	struct ward_crl_entry e[3];
	struct ward_buf der, ca;
	struct ward_msg m = {{0}};
	const unsigned char *q;
	X509_CRL *crl;
	X509 *iss;
	EVP_PKEY *pub;
	ASN1_INTEGER *num;
	AUTHORITY_KEYID *akid;
	char path[256], capath[256], cmd[700], out[16384];

	(void)state;
	assert_int_equal(ward_x509_cert_info(P.dev, &di), WARD_OK);
	assert_int_equal(ward_x509_cert_info(P.srv, &si), WARD_OK);
	memset(e, 0, sizeof(e));
	memcpy(e[0].serial_hex, di.serial_hex, sizeof(di.serial_hex));
	e[0].revoked_at = P.now - 3600;
	memcpy(e[1].serial_hex, si.serial_hex, sizeof(si.serial_hex));
	e[1].revoked_at = P.now - 60;
	must(ward_x509_crl_create(P.iss, P.iss_key, e, 2, 7, P.now, P.now + 7 * DAY, &der, &m), &m,
	     "crl_create");

	/* OpenSSL's own reading: v2, issuer, times, signature, entries, extensions. */
	q = der.p;
	crl = d2i_X509_CRL(NULL, &q, (long)der.len);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_get_version(crl), 1);
	iss = x509_of(P.iss);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(iss)), 0);
	pub = X509_get0_pubkey(iss);
	assert_int_equal(X509_CRL_verify(crl, pub), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_non_null(num);
	assert_int_equal(ASN1_INTEGER_get(num), 7);
	ASN1_INTEGER_free(num);
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(iss)), 0);
	AUTHORITY_KEYID_free(akid);
	{
		X509_REVOKED *rev = NULL;
		X509 *dev = x509_of(P.dev);

		assert_int_equal(X509_CRL_get0_by_cert(crl, &rev, dev), 1);
		assert_non_null(rev);
		X509_free(dev);
	}
	X509_CRL_free(crl);
	X509_free(iss);

	/* And the openssl command line, verifying it against the issuing CA. */
	if (have_openssl()) {
		write_file("crl.der", der.p, der.len, path, sizeof(path));
		ward_buf_init(&ca, OUT_MAX);
		assert_int_equal(ward_x509_cert_to_pem(P.iss, &ca), WARD_OK);
		assert_int_equal(ward_x509_cert_to_pem(P.root, &ca), WARD_OK);
		write_file("ca.pem", ca.p, ca.len, capath, sizeof(capath));
		ward_buf_free(&ca);
		assert_int_equal(ward_snprintf(cmd, sizeof(cmd),
		                               "openssl crl -inform DER -in '%s' -noout -text "
		                               "-CAfile '%s' 2>&1",
		                               path, capath),
		                 WARD_OK);
		assert_int_equal(run(cmd, out, sizeof(out)), 0);
		if (strstr(out, "verify OK") == NULL || strstr(out, "Version 2") == NULL ||
		    strstr(out, "X509v3 CRL Number") == NULL ||
		    strstr(out, "X509v3 Authority Key Identifier") == NULL)
			fail_msg("openssl crl says:\n%s", out);
		upper(di.serial_hex);
		upper(si.serial_hex);
		assert_non_null(strstr(out, di.serial_hex));
		assert_non_null(strstr(out, si.serial_hex));
	}
	ward_buf_free(&der);

	/* Refusals: repeated serial, bad hex, bad times, wrong key, non-CA issuer. */
	memcpy(e[2].serial_hex, di.serial_hex, sizeof(di.serial_hex));
	e[2].revoked_at = P.now;
	assert_int_equal(
	    ward_x509_crl_create(P.iss, P.iss_key, e, 3, 8, P.now, P.now + DAY, &der, &m),
	    WARD_E_INVAL);
	memcpy(e[2].serial_hex, "xyz", 4);
	assert_int_equal(
	    ward_x509_crl_create(P.iss, P.iss_key, e, 3, 8, P.now, P.now + DAY, &der, &m),
	    WARD_E_INVAL);
	memset(e[2].serial_hex, 0, sizeof(e[2].serial_hex));
	assert_int_equal(
	    ward_x509_crl_create(P.iss, P.iss_key, e, 3, 8, P.now, P.now + DAY, &der, &m),
	    WARD_E_INVAL);
	assert_int_equal(ward_x509_crl_create(P.iss, P.iss_key, e, 2, 8, P.now, P.now, &der, &m),
	                 WARD_E_INVAL);
	assert_int_equal(
	    ward_x509_crl_create(P.iss, P.root_key, e, 2, 8, P.now, P.now + DAY, &der, &m),
	    WARD_E_INVAL);
	assert_int_equal(
	    ward_x509_crl_create(P.dev, P.dev_key, e, 2, 8, P.now, P.now + DAY, &der, &m),
	    WARD_E_INVAL);
	assert_int_equal(
	    ward_x509_crl_create(P.iss, P.iss_key, NULL, 2, 8, P.now, P.now + DAY, &der, &m),
	    WARD_E_INVAL);
	/* An empty CRL is a CRL. */
	must(ward_x509_crl_create(P.iss, P.iss_key, NULL, 0, 9, P.now, P.now + DAY, &der, &m), &m,
	     "empty CRL");
	ward_buf_free(&der);
}

/* ---- EST encodings ------------------------------------------------------- */

static void test_p7(void **state)
{
	struct ward_cert *in[2] = {P.iss, P.root};
	struct ward_cert **certs = NULL;
	size_t n = 0;
	struct ward_buf der, a, b;
	struct ward_msg m = {{0}};
	char path[256], cmd[512], out[16384];

	(void)state;
	must(ward_x509_p7_certs(in, 2, &der, &m), &m, "p7_certs");
	must(ward_x509_p7_parse(der.p, der.len, 4, &certs, &n, &m), &m, "p7_parse");
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 2; i++) {
		ward_buf_init(&a, OUT_MAX);
		ward_buf_init(&b, OUT_MAX);
		assert_int_equal(ward_x509_cert_to_der(in[i], &a), WARD_OK);
		assert_int_equal(ward_x509_cert_to_der(certs[i], &b), WARD_OK);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		ward_buf_free(&a);
		ward_buf_free(&b);
		ward_x509_cert_free(certs[i]);
	}
	free(certs);
	certs = NULL;
	n = 0;
	/* Bounded count, exact length, garbage. */
	assert_int_equal(ward_x509_p7_parse(der.p, der.len, 1, &certs, &n, &m), WARD_E_TOOBIG);
	assert_null(certs);
	for (size_t k = 0; k < der.len; k += 7)
		assert_int_not_equal(ward_x509_p7_parse(der.p, k, 4, &certs, &n, &m), WARD_OK);
	assert_int_equal(ward_x509_p7_parse((const uint8_t *)"junk", 4, 4, &certs, &n, &m),
	                 WARD_E_PARSE);
	assert_null(certs);
	assert_int_equal(n, 0);
	assert_int_equal(ward_x509_p7_certs(in, 0, &a, &m), WARD_E_INVAL);

	/* openssl pkcs7 -print_certs lists both. */
	if (have_openssl()) {
		write_file("cacerts.p7", der.p, der.len, path, sizeof(path));
		assert_int_equal(ward_snprintf(cmd, sizeof(cmd),
		                               "openssl pkcs7 -inform DER -in '%s' -print_certs "
		                               "-noout 2>&1",
		                               path),
		                 WARD_OK);
		assert_int_equal(run(cmd, out, sizeof(out)), 0);
		if (count(out, "subject=") != 2 || strstr(out, "ward issuing CA") == NULL ||
		    strstr(out, "ward root CA") == NULL)
			fail_msg("openssl pkcs7 says:\n%s", out);
	}
	ward_buf_free(&der);

	/* A SignedData with a signer is not certs-only. */
	{
		EVP_PKEY *k = evp_private(P.dev_key);
		X509 *x = x509_of(P.dev);
		BIO *data = BIO_new_mem_buf("hello", 5);
		PKCS7 *signed7 = PKCS7_sign(x, k, NULL, data, PKCS7_BINARY);
		unsigned char *sd = NULL;
		int sdlen;

		assert_non_null(signed7);
		sdlen = i2d_PKCS7(signed7, &sd);
		assert_true(sdlen > 0);
		assert_int_equal(ward_x509_p7_parse(sd, (size_t)sdlen, 4, &certs, &n, &m),
		                 WARD_E_PARSE);
		assert_non_null(strstr(m.text, "signers"));
		OPENSSL_free(sd);
		PKCS7_free(signed7);
		BIO_free(data);
		X509_free(x);
		EVP_PKEY_free(k);
	}
}

static void test_csrattrs(void **state)
{
	static const uint8_t want[] = {
	    0x30, 0x26, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30, 0x15,
	    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x31, 0x0a, 0x06, 0x08, 0x2a,
	    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x06, 0x03, 0x55, 0x04, 0x05,
	};
	struct ward_buf der;
	struct ward_msg m = {{0}};
	char path[256], cmd[512], out[4096];
	const unsigned char *q;
	ASN1_TYPE *t;

	(void)state;
	must(ward_x509_csrattrs(&der, &m), &m, "csrattrs");
	assert_int_equal(der.len, sizeof(want));
	assert_memory_equal(der.p, want, sizeof(want));
	/* One complete DER value, nothing after it. */
	q = der.p;
	t = d2i_ASN1_TYPE(NULL, &q, (long)der.len);
	assert_non_null(t);
	assert_ptr_equal(q, der.p + der.len);
	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
	ASN1_TYPE_free(t);
	if (have_openssl()) {
		write_file("csrattrs.der", der.p, der.len, path, sizeof(path));
		assert_int_equal(ward_snprintf(cmd, sizeof(cmd),
		                               "openssl asn1parse -inform DER -in '%s' 2>&1", path),
		                 WARD_OK);
		assert_int_equal(run(cmd, out, sizeof(out)), 0);
		if (strstr(out, ":ecdsa-with-SHA256") == NULL ||
		    strstr(out, ":id-ecPublicKey") == NULL || strstr(out, ":prime256v1") == NULL ||
		    strstr(out, ":serialNumber") == NULL || strstr(out, "SET") == NULL ||
		    strstr(out, "error") != NULL)
			fail_msg("openssl asn1parse says:\n%s", out);
	}
	ward_buf_free(&der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_verifies),
	    cmocka_unit_test(test_info),
	    cmocka_unit_test(test_profiles),
	    cmocka_unit_test(test_ed25519_pki),
	    cmocka_unit_test(test_serials),
	    cmocka_unit_test(test_duplicate_names),
	    cmocka_unit_test(test_expired_device),
	    cmocka_unit_test(test_other_ca),
	    cmocka_unit_test(test_non_ca_as_issuer),
	    cmocka_unit_test(test_wrong_issuer_key),
	    cmocka_unit_test(test_issue_refusals),
	    cmocka_unit_test(test_pem_der),
	    cmocka_unit_test(test_bundle_file),
	    cmocka_unit_test(test_csr_roundtrip_p256),
	    cmocka_unit_test(test_csr_roundtrip_ed25519),
	    cmocka_unit_test(test_csr_from_openssl),
	    cmocka_unit_test(test_csr_foreign_keys),
	    cmocka_unit_test(test_csr_bad_signature),
	    cmocka_unit_test(test_csr_malformed),
	    cmocka_unit_test(test_mud_url),
	    cmocka_unit_test(test_crl),
	    cmocka_unit_test(test_p7),
	    cmocka_unit_test(test_csrattrs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
