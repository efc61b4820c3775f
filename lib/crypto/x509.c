/*
 * lib/crypto/x509.c — certificates, PKCS#10 requests, CRLs and EST's
 * certs-only PKCS#7 (OpenSSL 3).
 *
 * Every DER input is bounded before OpenSSL sees it and must be consumed
 * exactly. A struct ward_cert's extensions decoded cleanly; a struct ward_csr
 * has an ed25519 or P-256 key and a self-signature that verified at parse time
 * (holding one is proof of possession). Issuing follows the four profiles of
 * ward/x509.h, copies nothing from a request, and checks the issuer key against
 * the issuer certificate. Names read out are UTF-8, one of each attribute at
 * most; serials are lower-case hex of the minimal magnitude. cert_to_pem/der
 * append to a caller-initialised buffer, every other "DER into out"
 * initialises out (as crypto.h does); outputs are untouched on failure.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/x509.h"

#include "internal.h"

#define PEM_MAX       (2u * WARD_X509_MAX_DER) /* PEM text of one certificate */
#define BUNDLE_MAX    (1024u * 1024)           /* a PEM bundle file */
#define P7_MAX        (1024u * 1024)           /* a certs-only PKCS#7 */
#define CRL_MAX       (16u * 1024 * 1024)      /* a CRL we write */
#define CSRATTRS_MAX  256u                     /* our CsrAttrs is 40 bytes */
#define NAME_ATTR_MAX 64                       /* RFC 5280 ub-common-name etc. */
#define SERIAL_BYTES  16                       /* 128 random bits, first bit clear */
#define DNS_NAME_MAX  253
#define MUD_URL_MAX   255                  /* fits ward_cert_info.mud_url */
#define MUD_URL_OID   "1.3.6.1.5.5.7.1.25" /* id-pe-mud-url, RFC 8520 section 10 */

struct ward_cert {
	X509 *x; /* owned reference; extensions decoded without error */
};

struct ward_csr {
	X509_REQ *req;              /* owned; self-signature verified at parse time */
	struct ward_key *key;       /* its public key, ed25519 or P-256 */
	struct ward_cert_info info; /* read once at parse time */
};

/* Record "what (openssl: reason)" and clear OpenSSL's error queue. */
static ward_err ossl_fail(struct ward_msg *m, ward_err e, const char *what)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code != 0 ? ERR_reason_error_string(code) : NULL;

	ERR_clear_error();
	if (reason == NULL)
		return ward_msg_set(m, e, "%s", what);
	return ward_msg_set(m, e, "%s (openssl: %s)", what, reason);
}

/* Move tmp into *out (which is overwritten, never freed: it was not initialised). */
static void buf_move(struct ward_buf *tmp, struct ward_buf *out)
{
	*out = *tmp;
	ward_buf_init(tmp, 0);
}

/* Copy the short constant s into dst (cut, never overflowed, when dst is too small). */
static void set_text(char *dst, size_t dstlen, const char *s)
{
	if (ward_snprintf(dst, dstlen, "%s", s) != WARD_OK && dstlen > 0)
		dst[0] = '\0';
}

/* A fresh ASN1_OBJECT for id-pe-mud-url (caller frees). */
static ASN1_OBJECT *mud_oid(void)
{
	return OBJ_txt2obj(MUD_URL_OID, 1);
}

/* ---- names, serials, times ------------------------------------------- */

/* A subject attribute value ward writes: 1..64 characters, no control characters. */
static ward_err name_value_check(const char *label, const char *v, struct ward_msg *m)
{
	size_t n = strlen(v);

	if (n > NAME_ATTR_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "subject %s is %zu bytes, more than %d", label,
		                    n, NAME_ATTR_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "subject %s contains a control character", label);
	return WARD_OK;
}

/* The X.500 name of n: O, OU, CN, serialNumber (absent ones left out). Caller frees. */
static ward_err name_build(const struct ward_name *n, X509_NAME **out, struct ward_msg *m)
{
	const struct {
		const char *label;
		const char *value;
		int nid;
	} attrs[] = {
	    {"O", n->o, NID_organizationName},
	    {"OU", n->ou, NID_organizationalUnitName},
	    {"CN", n->cn, NID_commonName},
	    {"serialNumber", n->serial, NID_serialNumber},
	};
	ward_err err = WARD_E_INVAL;
	X509_NAME *name = X509_NAME_new();
	int count = 0;

	if (name == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if (attrs[i].value == NULL || attrs[i].value[0] == '\0')
			continue;
		err = name_value_check(attrs[i].label, attrs[i].value, m);
		if (err != WARD_OK)
			goto out;
		/* serialNumber is a PrintableString (X.520); OpenSSL refuses other characters. */
		if (X509_NAME_add_entry_by_NID(name, attrs[i].nid, MBSTRING_UTF8,
		                               (const unsigned char *)attrs[i].value, -1, -1,
		                               0) != 1) {
			err = ossl_fail(m, WARD_E_INVAL, "value not allowed for this attribute");
			err = ward_msg_prefix(m, err, "subject %s \"%s\": ", attrs[i].label,
			                      attrs[i].value);
			goto out;
		}
		count++;
	}
	if (count == 0) {
		err = ward_msg_set(m, WARD_E_INVAL,
		                   "empty subject: give at least a CN or a serialNumber");
		goto out;
	}
	*out = name;
	name = NULL;
	err = WARD_OK;
out:
	X509_NAME_free(name);
	return err;
}

/*
 * The one value of attribute nid in nm, as UTF-8 into dst ("" when absent).
 * Two values (which one is the identity?), an embedded NUL or a value that
 * does not fit are refused rather than cut.
 */
static ward_err name_get(const X509_NAME *nm, int nid, char *dst, size_t dstlen)
{
	ward_err err = WARD_E_PARSE;
	unsigned char *utf8 = NULL;
	int idx, len = -1;

	dst[0] = '\0';
	if (nm == NULL)
		return WARD_OK;
	idx = X509_NAME_get_index_by_NID(nm, nid, -1);
	if (idx < 0)
		return WARD_OK;
	if (X509_NAME_get_index_by_NID(nm, nid, idx) >= 0)
		goto out;
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, idx)));
	if (len < 0 || utf8 == NULL)
		goto out;
	if (memchr(utf8, '\0', (size_t)len) != NULL)
		goto out;
	if ((size_t)len >= dstlen) {
		err = WARD_E_TOOBIG;
		goto out;
	}
	memcpy(dst, utf8, (size_t)len);
	dst[len] = '\0';
	err = WARD_OK;
out:
	ERR_clear_error();
	OPENSSL_free(utf8);
	return err;
}

/* Lower-case hex of a positive serial (at most 20 bytes) into hex[41]. */
static ward_err serial_to_hex(const ASN1_INTEGER *ai, char *hex)
{
	ward_err err = WARD_E_PARSE;
	BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
	uint8_t bytes[WARD_X509_SERIAL_HEX / 2];
	int n;

	if (bn == NULL || BN_is_negative(bn))
		goto out;
	n = BN_num_bytes(bn);
	if (n > (int)sizeof(bytes)) {
		err = WARD_E_TOOBIG;
		goto out;
	}
	if (n == 0) { /* zero is not a conforming serial, but it has a spelling */
		memcpy(hex, "00", 3);
		err = WARD_OK;
		goto out;
	}
	if (BN_bn2bin(bn, bytes) != n)
		goto out;
	ward_hex_encode(bytes, (size_t)n, hex);
	err = WARD_OK;
out:
	ERR_clear_error();
	BN_free(bn);
	return err;
}

/* Parse 1..40 hex digits (either case) into a new positive ASN1_INTEGER. */
static ward_err serial_from_hex(const char *hex, ASN1_INTEGER **out)
{
	ward_err err = WARD_E_PARSE;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	size_t n = strnlen(hex, WARD_X509_SERIAL_HEX + 1);

	if (n == 0 || n > WARD_X509_SERIAL_HEX)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char c = hex[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			goto out;
	}
	if (BN_hex2bn(&bn, hex) != (int)n)
		goto out;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	if (ai == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	*out = ai;
	ai = NULL;
	err = WARD_OK;
out:
	ERR_clear_error();
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return err;
}

static ward_err time_from_asn1(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;
	time_t v;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		ERR_clear_error();
		return WARD_E_PARSE;
	}
	v = timegm(&tm);
	if (v == (time_t)-1)
		return WARD_E_PARSE;
	*out = v;
	return WARD_OK;
}

/* ---- the MUD URL extension -------------------------------------------- */

/* RFC 8520: an https URL; ward also wants printable ASCII and at most 255 bytes. */
static ward_err mud_url_check(const char *url, struct ward_msg *m)
{
	size_t n = strlen(url);

	if (n <= strlen("https://") || strncmp(url, "https://", strlen("https://")) != 0)
		return ward_msg_set(m, WARD_E_INVAL, "MUD URL must be an https:// URL (RFC 8520)");
	if (n > MUD_URL_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "MUD URL is %zu bytes, more than %d", n,
		                    MUD_URL_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "MUD URL contains a space or a non-ASCII character");
	return WARD_OK;
}

/* Decode an id-pe-mud-url extension value (DER IA5String) into dst. */
static ward_err mud_url_decode(X509_EXTENSION *ext, char *dst, size_t dstlen)
{
	ward_err err = WARD_E_PARSE;
	const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
	const unsigned char *p;
	ASN1_IA5STRING *ia5 = NULL;
	int len;

	if (os == NULL)
		goto out;
	p = ASN1_STRING_get0_data(os);
	len = ASN1_STRING_length(os);
	ia5 = d2i_ASN1_IA5STRING(NULL, &p, len);
	if (ia5 == NULL || p != ASN1_STRING_get0_data(os) + len)
		goto out;
	len = ASN1_STRING_length(ia5);
	if (len <= 0 || (size_t)len >= dstlen) {
		err = len <= 0 ? WARD_E_PARSE : WARD_E_TOOBIG;
		goto out;
	}
	for (int i = 0; i < len; i++) {
		unsigned char c = ASN1_STRING_get0_data(ia5)[i];

		if (c <= 0x20 || c >= 0x7f)
			goto out;
	}
	memcpy(dst, ASN1_STRING_get0_data(ia5), (size_t)len);
	dst[len] = '\0';
	err = WARD_OK;
out:
	ERR_clear_error();
	ASN1_IA5STRING_free(ia5);
	return err;
}

/* The MUD URL among exts into dst ("" when absent; two of them are refused). */
static ward_err mud_url_find(const STACK_OF(X509_EXTENSION) * exts, char *dst, size_t dstlen)
{
	ward_err err = WARD_E_NOMEM;
	ASN1_OBJECT *oid = mud_oid();
	int idx;

	dst[0] = '\0';
	if (oid == NULL)
		goto out;
	err = WARD_OK;
	idx = X509v3_get_ext_by_OBJ(exts, oid, -1);
	if (idx < 0)
		goto out;
	if (X509v3_get_ext_by_OBJ(exts, oid, idx) >= 0) {
		err = WARD_E_PARSE;
		goto out;
	}
	err = mud_url_decode(X509v3_get_ext(exts, idx), dst, dstlen);
out:
	ASN1_OBJECT_free(oid);
	return err;
}

/* ---- certificates ----------------------------------------------------- */

/* Wrap x (taking one reference) after the checks every certificate passes. */
static ward_err cert_adopt(X509 *x, struct ward_cert **out, struct ward_msg *m)
{
	struct ward_cert *c;

	/* Caches the decoded extensions; a malformed or duplicated one sets EXFLAG_INVALID. */
	if ((X509_get_extension_flags(x) & EXFLAG_INVALID) != 0) {
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_PARSE,
		                    "certificate: malformed or duplicated extension");
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (X509_up_ref(x) != 1) {
		free(c);
		return ossl_fail(m, WARD_E_CRYPTO, "certificate: cannot take a reference");
	}
	c->x = x;
	*out = c;
	return WARD_OK;
}

X509 *ward_x509_cert_x509(const struct ward_cert *c)
{
	return c != NULL ? c->x : NULL;
}

ward_err ward_x509_cert_from_x509(X509 *x, struct ward_cert **out, struct ward_msg *m)
{
	if (x == NULL || out == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "certificate: none given");
	return cert_adopt(x, out, m);
}

ward_err ward_x509_cert_from_der(const uint8_t *der, size_t len, struct ward_cert **out,
                                 struct ward_msg *m)
{
	ward_err err = WARD_E_PARSE;
	const unsigned char *p = der;
	X509 *x = NULL;

	if (der == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "certificate: no DER given");
		goto out;
	}
	if (len == 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "certificate: empty input");
		goto out;
	}
	if (len > WARD_X509_MAX_DER) {
		err = ward_msg_set(m, WARD_E_TOOBIG, "certificate: %zu bytes, more than %u", len,
		                   WARD_X509_MAX_DER);
		goto out;
	}
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL) {
		err = ossl_fail(m, WARD_E_PARSE, "certificate: malformed DER");
		goto out;
	}
	if (p != der + len) {
		err = ward_msg_set(m, WARD_E_PARSE, "certificate: %zu trailing bytes after the DER",
		                   (size_t)(der + len - p));
		goto out;
	}
	err = cert_adopt(x, out, m);
out:
	X509_free(x);
	return err;
}

/*
 * Read the next PEM block of bio, which must be a CERTIFICATE without
 * headers. *eof is set (and WARD_OK returned) when no further block exists.
 * Caller frees *der with OPENSSL_free.
 */
static ward_err pem_next_cert(BIO *bio, const char *what, unsigned char **der, long *derlen,
                              bool *eof, struct ward_msg *m)
{
	ward_err err = WARD_E_PARSE;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;

	*eof = false;
	if (PEM_read_bio_ex(bio, &name, &header, &data, &len, PEM_FLAG_EAY_COMPATIBLE) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
			ERR_clear_error();
			*eof = true;
			err = WARD_OK;
			goto out;
		}
		err = ossl_fail(m, WARD_E_PARSE, "malformed PEM block");
		err = ward_msg_prefix(m, err, "%s: ", what);
		goto out;
	}
	if (strcmp(name, PEM_STRING_X509) != 0) {
		err = ward_msg_set(m, WARD_E_PARSE,
		                   "%s: expected -----BEGIN CERTIFICATE----- blocks only, found "
		                   "\"%.40s\"",
		                   what, name);
		goto out;
	}
	if (header != NULL && header[0] != '\0') {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: PEM block has headers", what);
		goto out;
	}
	*der = data;
	*derlen = len;
	data = NULL;
	err = WARD_OK;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return err;
}

ward_err ward_x509_cert_from_pem(const char *pem, size_t len, struct ward_cert **out,
                                 struct ward_msg *m)
{
	static const char what[] = "certificate";
	ward_err err = WARD_E_PARSE;
	BIO *bio = NULL;
	unsigned char *der = NULL, *more = NULL;
	long derlen = 0, morelen = 0;
	bool eof = false;
	struct ward_cert *c = NULL;

	if (pem == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "%s: no PEM given", what);
		goto out;
	}
	if (len > PEM_MAX) {
		err = ward_msg_set(m, WARD_E_TOOBIG, "%s: PEM text is %zu bytes, more than %u",
		                   what, len, PEM_MAX);
		goto out;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	err = pem_next_cert(bio, what, &der, &derlen, &eof, m);
	if (err != WARD_OK)
		goto out;
	if (eof) {
		err =
		    ward_msg_set(m, WARD_E_PARSE, "%s: no -----BEGIN CERTIFICATE----- block", what);
		goto out;
	}
	/* One certificate means one: a second block is a bundle, read with another call. */
	err = pem_next_cert(bio, what, &more, &morelen, &eof, m);
	if (err != WARD_OK)
		goto out;
	if (!eof) {
		err = ward_msg_set(m, WARD_E_PARSE, "%s: more than one certificate in the PEM text",
		                   what);
		goto out;
	}
	err = ward_x509_cert_from_der(der, (size_t)derlen, &c, m);
	if (err != WARD_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	ward_x509_cert_free(c);
	OPENSSL_free(der);
	OPENSSL_free(more);
	BIO_free(bio);
	return err;
}

ward_err ward_x509_cert_to_pem(const struct ward_cert *c, struct ward_buf *out)
{
	ward_err err = WARD_E_CRYPTO;
	BIO *bio = NULL;
	char *data = NULL;
	long n;

	if (c == NULL || out == NULL)
		return WARD_E_INVAL;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		err = WARD_E_NOMEM;
		goto out;
	}
	if (PEM_write_bio_X509(bio, c->x) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || data == NULL)
		goto out;
	err = ward_buf_append(out, data, (size_t)n);
out:
	ERR_clear_error();
	BIO_free(bio);
	return err;
}

ward_err ward_x509_cert_to_der(const struct ward_cert *c, struct ward_buf *out)
{
	ward_err err = WARD_E_CRYPTO;
	unsigned char *der = NULL;
	int n;

	if (c == NULL || out == NULL)
		return WARD_E_INVAL;
	n = i2d_X509(c->x, &der);
	if (n > 0 && der != NULL)
		err = ward_buf_append(out, der, (size_t)n);
	ERR_clear_error();
	OPENSSL_free(der);
	return err;
}

void ward_x509_cert_free(struct ward_cert *c)
{
	if (c == NULL)
		return;
	X509_free(c->x);
	free(c);
}

/*
 * The ward key type of pkey, or WARD_E_UNSUPPORTED. Only reads the algorithm
 * and the curve name: this runs for every request's client certificate
 * (already verified by the handshake), and wrapping the key into a struct
 * ward_key (a DER round trip and a public-key check) cost about 200 us there.
 * Keys that are used (CSR keys, certificate keys) go through
 * ward_crypto_key_from_evp with its full checks.
 */
static ward_err evp_key_type(EVP_PKEY *pkey, enum ward_key_type *type)
{
	char group[32];
	size_t glen = 0;

	if (pkey == NULL)
		return WARD_E_UNSUPPORTED;
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_ED25519:
		*type = WARD_KEY_ED25519;
		return WARD_OK;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) == 1 &&
		    (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"))) {
			*type = WARD_KEY_ECDSA_P256;
			return WARD_OK;
		}
		return WARD_E_UNSUPPORTED;
	default:
		return WARD_E_UNSUPPORTED;
	}
}

ward_err ward_x509_cert_info(const struct ward_cert *c, struct ward_cert_info *out)
{
	ward_err err = WARD_E_INVAL;
	struct ward_cert_info info;
	const X509_NAME *subj, *iss;

	memset(&info, 0, sizeof(info));
	if (c == NULL || out == NULL)
		goto out;
	subj = X509_get_subject_name(c->x);
	iss = X509_get_issuer_name(c->x);
	if ((err = name_get(subj, NID_commonName, info.cn, sizeof(info.cn))) != WARD_OK ||
	    (err = name_get(subj, NID_serialNumber, info.serial_number,
	                    sizeof(info.serial_number))) != WARD_OK ||
	    (err = name_get(subj, NID_organizationalUnitName, info.ou, sizeof(info.ou))) !=
	        WARD_OK ||
	    (err = name_get(subj, NID_organizationName, info.o, sizeof(info.o))) != WARD_OK ||
	    (err = name_get(iss, NID_commonName, info.issuer_cn, sizeof(info.issuer_cn))) !=
	        WARD_OK)
		goto out;
	err = serial_to_hex(X509_get0_serialNumber(c->x), info.serial_hex);
	if (err != WARD_OK)
		goto out;
	if ((err = time_from_asn1(X509_get0_notBefore(c->x), &info.not_before)) != WARD_OK ||
	    (err = time_from_asn1(X509_get0_notAfter(c->x), &info.not_after)) != WARD_OK)
		goto out;
	info.is_ca = (X509_get_extension_flags(c->x) & EXFLAG_CA) != 0;
	err = mud_url_find(X509_get0_extensions(c->x), info.mud_url, sizeof(info.mud_url));
	if (err != WARD_OK)
		goto out;
	err = evp_key_type(X509_get0_pubkey(c->x), &info.key_type);
	if (err != WARD_OK)
		goto out;
	*out = info;
out:
	ERR_clear_error();
	return err;
}

ward_err ward_x509_cert_key(const struct ward_cert *c, struct ward_key **out)
{
	EVP_PKEY *pkey;
	ward_err err;

	if (c == NULL || out == NULL)
		return WARD_E_INVAL;
	pkey = X509_get0_pubkey(c->x);
	if (pkey == NULL) {
		ERR_clear_error();
		return WARD_E_UNSUPPORTED;
	}
	err = ward_crypto_key_from_evp(pkey, false, "certificate key", out, NULL);
	ERR_clear_error();
	return err;
}

ward_err ward_x509_certs_from_pem_file(const char *path, size_t max, struct ward_cert ***out,
                                       size_t *n, struct ward_msg *m)
{
	ward_err err = WARD_E_PARSE;
	struct ward_buf text;
	BIO *bio = NULL;
	struct ward_cert **certs = NULL, **grown;
	size_t count = 0, cap = 0;
	unsigned char *der = NULL;
	long derlen = 0;
	bool eof = false;

	ward_buf_init(&text, BUNDLE_MAX);
	if (path == NULL || out == NULL || n == NULL || max == 0) {
		err = ward_msg_set(m, WARD_E_INVAL, "certificate bundle: missing argument");
		goto out;
	}
	err = ward_file_read(path, BUNDLE_MAX, &text, m);
	if (err != WARD_OK)
		goto out;
	bio = BIO_new_mem_buf(text.p, (int)text.len);
	if (bio == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		err = pem_next_cert(bio, path, &der, &derlen, &eof, m);
		if (err != WARD_OK || eof)
			break;
		if (count == max) {
			err = ward_msg_set(m, WARD_E_TOOBIG, "%s: more than %zu certificates", path,
			                   max);
			break;
		}
		if (count == cap) {
			size_t ncap = cap == 0 ? 4 : cap * 2;

			if (ncap > max)
				ncap = max;
			grown = realloc(certs, ncap * sizeof(*certs));
			if (grown == NULL) {
				err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
				break;
			}
			certs = grown;
			cap = ncap;
		}
		err = ward_x509_cert_from_der(der, (size_t)derlen, &certs[count], m);
		if (err != WARD_OK) {
			err = ward_msg_prefix(m, err, "%s: certificate %zu: ", path, count + 1);
			break;
		}
		count++;
		OPENSSL_free(der);
		der = NULL;
	}
	if (err != WARD_OK)
		goto out;
	if (count == 0) {
		err =
		    ward_msg_set(m, WARD_E_PARSE, "%s: no -----BEGIN CERTIFICATE----- block", path);
		goto out;
	}
	*out = certs;
	*n = count;
	certs = NULL;
	count = 0;
out:
	for (size_t i = 0; i < count; i++)
		ward_x509_cert_free(certs[i]);
	free(certs);
	OPENSSL_free(der);
	BIO_free(bio);
	ward_buf_free(&text);
	return err;
}

/* "CN=<cn>" of x for messages, or "(no CN)". */
static void cn_for_msg(const X509 *x, char *dst, size_t dstlen)
{
	if (x == NULL ||
	    name_get(X509_get_subject_name(x), NID_commonName, dst, dstlen) != WARD_OK ||
	    dst[0] == '\0')
		set_text(dst, dstlen, "(no CN)");
}

ward_err ward_x509_verify(const struct ward_cert *leaf, struct ward_cert *const *intermediates,
                          size_t n, const struct ward_cert *root, time_t now, struct ward_msg *m)
{
	ward_err result = WARD_E_VERIFY;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	char cn[128];
	int code, depth;

	if (leaf == NULL || root == NULL || (intermediates == NULL && n > 0)) {
		result = ward_msg_set(m, WARD_E_INVAL, "verify: missing certificate");
		goto out;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_new_null();
	if (store == NULL || ctx == NULL || untrusted == NULL) {
		result = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (intermediates[i] == NULL) {
			result =
			    ward_msg_set(m, WARD_E_INVAL, "verify: intermediate %zu is NULL", i);
			goto out;
		}
		if (sk_X509_push(untrusted, intermediates[i]->x) <= 0) { /* borrowed */
			result = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if (X509_STORE_add_cert(store, root->x) != 1) {
		result = ossl_fail(m, WARD_E_CRYPTO, "verify: cannot add the trust anchor");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf->x, untrusted) != 1) {
		result = ossl_fail(m, WARD_E_CRYPTO, "verify: cannot set up");
		goto out;
	}
	/* Strict RFC 5280 checks, and the trust anchor's own signature too. */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
	if (X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
		result = ossl_fail(m, WARD_E_CRYPTO, "verify: cannot set the purpose");
		goto out;
	}
	if (now != 0)
		X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) != 1) {
		code = X509_STORE_CTX_get_error(ctx);
		depth = X509_STORE_CTX_get_error_depth(ctx);
		cn_for_msg(X509_STORE_CTX_get_current_cert(ctx), cn, sizeof(cn));
		result = ward_msg_set(
		    m, code == X509_V_ERR_CERT_HAS_EXPIRED ? WARD_E_EXPIRED : WARD_E_VERIFY,
		    "certificate \"%s\" (chain depth %d) does not verify: %s", cn, depth,
		    X509_verify_cert_error_string(code));
		goto out;
	}
	result = WARD_OK;
out:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return result;
}

/* ---- signing helpers -------------------------------------------------- */

/* A digest-sign context for key: SHA-256 for P-256, none (pure) for ed25519. */
static ward_err sign_ctx_new(const struct ward_key *key, EVP_MD_CTX **out, struct ward_msg *m)
{
	EVP_MD_CTX *ctx;
	const char *md = ward_crypto_key_type(key) == WARD_KEY_ECDSA_P256 ? "SHA256" : NULL;

	if (!ward_crypto_key_has_private(key))
		return ward_msg_set(m, WARD_E_INVAL, "cannot sign: the key has no private half");
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if (EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, ward_crypto_key_evp(key), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return ossl_fail(m, WARD_E_CRYPTO, "cannot start signing");
	}
	*out = ctx;
	return WARD_OK;
}

/* ---- CSRs ------------------------------------------------------------- */

ward_err ward_x509_csr_create(const struct ward_key *key, const struct ward_name *subject,
                              struct ward_buf *out, struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	EVP_MD_CTX *sctx = NULL;
	unsigned char *der = NULL;
	int derlen = 0;
	struct ward_buf tmp;

	ward_buf_init(&tmp, WARD_X509_MAX_DER);
	if (key == NULL || subject == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "CSR: missing argument");
		goto out;
	}
	err = name_build(subject, &name, m);
	if (err != WARD_OK)
		goto out;
	err = sign_ctx_new(key, &sctx, m);
	if (err != WARD_OK)
		goto out;
	req = X509_REQ_new();
	if (req == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	/* version 0 is PKCS#10 v1, the only one; attributes stay an empty SET. */
	if (X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, ward_crypto_key_evp(key)) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CSR: cannot fill in the request");
		goto out;
	}
	if (X509_REQ_sign_ctx(req, sctx) <= 0) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CSR: signing failed");
		goto out;
	}
	derlen = i2d_X509_REQ(req, &der);
	if (derlen <= 0 || der == NULL) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CSR: cannot encode");
		goto out;
	}
	err = ward_buf_append(&tmp, der, (size_t)derlen);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "CSR: %s", ward_err_name(err));
		goto out;
	}
	buf_move(&tmp, out);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(sctx);
	X509_REQ_free(req);
	X509_NAME_free(name);
	ward_buf_free(&tmp);
	return err;
}

/* The signature algorithm ward expects for key: ecdsa-with-SHA256 or ed25519, no parameters. */
static ward_err csr_sigalg_check(const X509_REQ *req, enum ward_key_type type, struct ward_msg *m)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	const void *pval = NULL;
	int ptype = V_ASN1_UNDEF;
	int want = type == WARD_KEY_ECDSA_P256 ? NID_ecdsa_with_SHA256 : NID_ED25519;
	char name[80] = "";

	X509_REQ_get0_signature(req, NULL, &alg);
	if (alg == NULL)
		return ward_msg_set(m, WARD_E_PARSE, "CSR: no signature algorithm");
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != want) {
		if (obj == NULL || OBJ_obj2txt(name, sizeof(name), obj, 0) <= 0)
			set_text(name, sizeof(name), "(unreadable)");
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_UNSUPPORTED,
		                    "CSR: signature algorithm %s is not supported for a %s key; "
		                    "ward accepts %s",
		                    name, type == WARD_KEY_ECDSA_P256 ? "P-256" : "ed25519",
		                    type == WARD_KEY_ECDSA_P256 ? "ecdsa-with-SHA256" : "ED25519");
	}
	if (ptype != V_ASN1_UNDEF) /* RFC 5758 and RFC 8410: parameters absent */
		return ward_msg_set(m, WARD_E_PARSE,
		                    "CSR: signature algorithm carries parameters; it must not");
	return WARD_OK;
}

/* Fill info from a parsed request (subject, MUD URL from requested extensions, key type). */
static ward_err csr_read_info(X509_REQ *req, enum ward_key_type type, struct ward_cert_info *info,
                              struct ward_msg *m)
{
	ward_err err;
	const X509_NAME *subj = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = NULL;

	memset(info, 0, sizeof(*info));
	if ((err = name_get(subj, NID_commonName, info->cn, sizeof(info->cn))) != WARD_OK ||
	    (err = name_get(subj, NID_serialNumber, info->serial_number,
	                    sizeof(info->serial_number))) != WARD_OK ||
	    (err = name_get(subj, NID_organizationalUnitName, info->ou, sizeof(info->ou))) !=
	        WARD_OK ||
	    (err = name_get(subj, NID_organizationName, info->o, sizeof(info->o))) != WARD_OK) {
		err = ward_msg_set(m, err,
		                   "CSR: subject has a repeated, oversized or unreadable CN, "
		                   "serialNumber, OU or O");
		goto out;
	}
	exts = X509_REQ_get_extensions(req);
	if (exts != NULL) {
		err = mud_url_find(exts, info->mud_url, sizeof(info->mud_url));
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "CSR: malformed MUD URL extension request");
			goto out;
		}
	}
	info->key_type = type;
	err = WARD_OK;
out:
	ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return err;
}

ward_err ward_x509_csr_parse(const uint8_t *der, size_t len, struct ward_csr **out,
                             struct ward_msg *m)
{
	ward_err err = WARD_E_PARSE;
	const unsigned char *p = der;
	X509_REQ *req = NULL;
	EVP_PKEY *pkey;
	struct ward_key *key = NULL;
	struct ward_csr *r = NULL;
	struct ward_cert_info info;
	char alg[80] = "";
	ASN1_OBJECT *algobj = NULL;

	if (der == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "CSR: no DER given");
		goto out;
	}
	if (len == 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "CSR: empty input");
		goto out;
	}
	if (len > WARD_X509_MAX_DER) {
		err = ward_msg_set(m, WARD_E_TOOBIG, "CSR: %zu bytes, more than %u", len,
		                   WARD_X509_MAX_DER);
		goto out;
	}
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req == NULL) {
		err = ossl_fail(m, WARD_E_PARSE, "CSR: not a DER PKCS#10 request");
		goto out;
	}
	if (p != der + len) {
		err = ward_msg_set(m, WARD_E_PARSE, "CSR: %zu trailing bytes after the request",
		                   (size_t)(der + len - p));
		goto out;
	}
	if (X509_REQ_get_version(req) != 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "CSR: version %ld; PKCS#10 knows only v1 (0)",
		                   X509_REQ_get_version(req));
		goto out;
	}
	pkey = X509_REQ_get0_pubkey(req);
	if (pkey == NULL) {
		X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(req);

		if (xpk == NULL || X509_PUBKEY_get0_param(&algobj, NULL, NULL, NULL, xpk) != 1 ||
		    algobj == NULL || OBJ_obj2txt(alg, sizeof(alg), algobj, 0) <= 0)
			set_text(alg, sizeof(alg), "(unreadable)");
		ERR_clear_error();
		err = ward_msg_set(m, WARD_E_UNSUPPORTED,
		                   "CSR: public key algorithm %s is not supported; ward accepts "
		                   "ed25519 and ECDSA P-256",
		                   alg);
		goto out;
	}
	err = ward_crypto_key_from_evp(pkey, false, "CSR public key", &key, m);
	if (err != WARD_OK)
		goto out;
	err = csr_sigalg_check(req, ward_crypto_key_type(key), m);
	if (err != WARD_OK)
		goto out;
	/* Proof of possession: the request is signed by the key it asks to certify. */
	if (X509_REQ_verify(req, ward_crypto_key_evp(key)) != 1) {
		ERR_clear_error();
		err = ward_msg_set(m, WARD_E_VERIFY,
		                   "CSR: signature does not verify with the request's own key "
		                   "(no proof of possession)");
		goto out;
	}
	err = csr_read_info(req, ward_crypto_key_type(key), &info, m);
	if (err != WARD_OK)
		goto out;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	r->req = req;
	r->key = key;
	r->info = info;
	req = NULL;
	key = NULL;
	*out = r;
	err = WARD_OK;
out:
	ERR_clear_error();
	ward_crypto_key_free(key);
	X509_REQ_free(req);
	return err;
}

void ward_x509_csr_free(struct ward_csr *r)
{
	if (r == NULL)
		return;
	X509_REQ_free(r->req);
	ward_crypto_key_free(r->key);
	free(r);
}

ward_err ward_x509_csr_info(const struct ward_csr *r, struct ward_cert_info *out)
{
	if (r == NULL || out == NULL)
		return WARD_E_INVAL;
	*out = r->info;
	return WARD_OK;
}

ward_err ward_x509_csr_key(const struct ward_csr *r, struct ward_key **out)
{
	if (r == NULL || out == NULL)
		return WARD_E_INVAL;
	return ward_crypto_key_public_copy(r->key, out);
}

/* ---- issuing ---------------------------------------------------------- */

/* Add one extension written in OpenSSL's config syntax (constant strings only). */
static ward_err add_ext_conf(X509 *x, X509V3_CTX *v3, int nid, const char *value,
                             struct ward_msg *m)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	ward_err err = WARD_OK;

	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		err = ossl_fail(m, WARD_E_CRYPTO, "cannot add an extension");
	if (err != WARD_OK)
		err = ward_msg_prefix(m, err, "issue: %s: ", OBJ_nid2sn(nid));
	X509_EXTENSION_free(ext);
	return err;
}

/* A DNS name for a SAN: letters, digits, '-' and '.', no empty label, at most 253 bytes. */
static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DNS_NAME_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.' && s[i + 1] == '.')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* subjectAltName with the server's DNS name and/or IP address (built, never parsed from text). */
static ward_err add_san(X509 *x, const char *dns, const char *ip, struct ward_msg *m)
{
	ward_err err = WARD_E_NOMEM;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_OCTET_STRING *addr = NULL;

	if (gens == NULL)
		goto out;
	if (dns != NULL) {
		if (!dns_name_ok(dns)) {
			err = ward_msg_set(m, WARD_E_INVAL,
			                   "issue: \"%s\" is not a DNS name (letters, digits, '-' "
			                   "and '.')",
			                   dns);
			goto out;
		}
		g = GENERAL_NAME_new();
		ia5 = ASN1_IA5STRING_new();
		if (g == NULL || ia5 == NULL || ASN1_STRING_set(ia5, dns, (int)strlen(dns)) != 1)
			goto out;
		GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
		ia5 = NULL;
		if (sk_GENERAL_NAME_push(gens, g) <= 0)
			goto out;
		g = NULL;
	}
	if (ip != NULL) {
		addr = a2i_IPADDRESS(ip);
		if (addr == NULL) {
			ERR_clear_error();
			err =
			    ward_msg_set(m, WARD_E_INVAL, "issue: \"%s\" is not an IP address", ip);
			goto out;
		}
		g = GENERAL_NAME_new();
		if (g == NULL)
			goto out;
		GENERAL_NAME_set0_value(g, GEN_IPADD, addr);
		addr = NULL;
		if (sk_GENERAL_NAME_push(gens, g) <= 0)
			goto out;
		g = NULL;
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "issue: cannot add subjectAltName");
		goto out;
	}
	err = WARD_OK;
out:
	if (err == WARD_E_NOMEM)
		err = ward_msg_set(m, err, "out of memory");
	ERR_clear_error();
	ASN1_OCTET_STRING_free(addr);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return err;
}

/* id-pe-mud-url: non-critical, extnValue = DER of an IA5String (RFC 8520 section 10). */
static ward_err add_mud_url(X509 *x, const char *url, struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = mud_oid();
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	int derlen;

	if (ia5 == NULL || os == NULL || oid == NULL ||
	    ASN1_STRING_set(ia5, url, (int)strlen(url)) != 1) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	derlen = i2d_ASN1_IA5STRING(ia5, &der);
	if (derlen <= 0 || ASN1_OCTET_STRING_set(os, der, derlen) != 1)
		goto fail;
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		goto fail;
	err = WARD_OK;
	goto out;
fail:
	err = ossl_fail(m, WARD_E_CRYPTO, "issue: cannot add the MUD URL extension");
out:
	ERR_clear_error();
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(os);
	ASN1_IA5STRING_free(ia5);
	return err;
}

/* A random positive 128-bit serial: first bit cleared so the DER INTEGER needs no 0x00. */
static ward_err random_serial(ASN1_INTEGER **out, struct ward_msg *m)
{
	uint8_t bytes[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	ward_err err;

	err = ward_crypto_random(bytes, sizeof(bytes));
	if (err != WARD_OK)
		return ward_msg_set(m, err, "issue: no randomness for the serial");
	bytes[0] &= 0x7f;
	bytes[sizeof(bytes) - 1] |= 0x01; /* never zero, whatever the other 127 bits say */
	bn = BN_bin2bn(bytes, (int)sizeof(bytes), NULL);
	if (bn != NULL)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	if (ai == NULL)
		return ossl_fail(m, WARD_E_NOMEM, "issue: cannot make the serial");
	*out = ai;
	return WARD_OK;
}

/* The issuer must be a CA allowed to sign certificates (and, for a CA profile, CAs). */
static ward_err issuer_check(const struct ward_cert *issuer, const struct ward_key *issuer_key,
                             enum ward_cert_profile profile, time_t not_after, struct ward_msg *m)
{
	uint32_t flags = X509_get_extension_flags(issuer->x);
	EVP_PKEY *ipub = X509_get0_pubkey(issuer->x);
	time_t ina = 0;

	if ((flags & EXFLAG_CA) == 0)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: the issuer certificate is not a CA (basicConstraints "
		                    "CA:TRUE missing)");
	if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(issuer->x) & KU_KEY_CERT_SIGN) == 0)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: the issuer certificate's keyUsage lacks keyCertSign");
	if (profile == WARD_CERT_ISSUING_CA && X509_get_pathlen(issuer->x) == 0)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: the issuer has pathlen 0 and cannot sign a CA");
	if (ipub == NULL || EVP_PKEY_eq(ipub, ward_crypto_key_evp(issuer_key)) != 1) {
		ERR_clear_error();
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: the issuer key does not match the issuer certificate's "
		                    "public key");
	}
	if (time_from_asn1(X509_get0_notAfter(issuer->x), &ina) != WARD_OK)
		return ward_msg_set(m, WARD_E_PARSE, "issue: unreadable issuer validity");
	if (not_after > ina)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: the certificate would outlive its issuer (notAfter "
		                    "%lld > issuer notAfter %lld)",
		                    (long long)not_after, (long long)ina);
	return WARD_OK;
}

/* Check p against its profile before anything is built. */
static ward_err issue_args_check(const struct ward_cert *issuer, const struct ward_key *issuer_key,
                                 const struct ward_issue *p, struct ward_msg *m)
{
	ward_err err;

	if (p->subject_key == NULL || issuer_key == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "issue: missing subject or issuer key");
	if (!ward_crypto_key_has_private(issuer_key))
		return ward_msg_set(m, WARD_E_INVAL, "issue: the issuer key has no private half");
	if (p->not_before <= 0 || p->not_after <= p->not_before)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: validity must have 0 < notBefore < notAfter");
	switch (p->profile) {
	case WARD_CERT_ROOT_CA:
		if (issuer != NULL)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "issue: a root CA is self-signed; pass no issuer");
		if (!ward_crypto_key_equal(issuer_key, p->subject_key))
			return ward_msg_set(m, WARD_E_INVAL,
			                    "issue: a root CA must be signed by its own key");
		break;
	case WARD_CERT_ISSUING_CA:
	case WARD_CERT_DEVICE:
	case WARD_CERT_SERVER:
		if (issuer == NULL)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "issue: only a root CA is self-signed; give an issuer");
		err = issuer_check(issuer, issuer_key, p->profile, p->not_after, m);
		if (err != WARD_OK)
			return err;
		break;
	default:
		return ward_msg_set(m, WARD_E_INVAL, "issue: unknown profile %d", (int)p->profile);
	}
	if (p->profile == WARD_CERT_SERVER) {
		if (p->san_dns == NULL && p->san_ip == NULL)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "issue: a server certificate needs a DNS name or an IP "
			                    "address");
	} else if (p->san_dns != NULL || p->san_ip != NULL) {
		return ward_msg_set(m, WARD_E_INVAL,
		                    "issue: subjectAltName is only for server certificates");
	}
	if (p->mud_url != NULL) {
		if (p->profile != WARD_CERT_DEVICE)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "issue: a MUD URL is only for device certificates");
		return mud_url_check(p->mud_url, m);
	}
	return WARD_OK;
}

/* The profile's fixed extensions, in OpenSSL config syntax (no caller text reaches it). */
static ward_err add_profile_exts(X509 *x, X509V3_CTX *v3, enum ward_cert_profile profile,
                                 struct ward_msg *m)
{
	const char *bc = "critical,CA:FALSE", *ku = "critical,digitalSignature", *eku = NULL;
	ward_err err;

	switch (profile) {
	case WARD_CERT_ROOT_CA:
		bc = "critical,CA:TRUE";
		ku = "critical,keyCertSign,cRLSign";
		break;
	case WARD_CERT_ISSUING_CA:
		bc = "critical,CA:TRUE,pathlen:0";
		ku = "critical,keyCertSign,cRLSign";
		break;
	case WARD_CERT_DEVICE:
		eku = "clientAuth";
		break;
	case WARD_CERT_SERVER:
		eku = "serverAuth"; /* ECDSA and ed25519 keys: digitalSignature only */
		break;
	}
	if ((err = add_ext_conf(x, v3, NID_basic_constraints, bc, m)) != WARD_OK ||
	    (err = add_ext_conf(x, v3, NID_key_usage, ku, m)) != WARD_OK)
		return err;
	if (eku != NULL && (err = add_ext_conf(x, v3, NID_ext_key_usage, eku, m)) != WARD_OK)
		return err;
	/* The subject key id first: a root's authority key id is its own subject key id. */
	if ((err = add_ext_conf(x, v3, NID_subject_key_identifier, "hash", m)) != WARD_OK ||
	    (err = add_ext_conf(x, v3, NID_authority_key_identifier, "keyid:always", m)) != WARD_OK)
		return err;
	return WARD_OK;
}

ward_err ward_x509_issue(const struct ward_cert *issuer, const struct ward_key *issuer_key,
                         const struct ward_issue *p, struct ward_cert **out, struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	X509 *x = NULL;
	X509_NAME *subject = NULL;
	ASN1_INTEGER *serial = NULL;
	EVP_MD_CTX *sctx = NULL;
	X509V3_CTX v3;

	if (p == NULL || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "issue: missing argument");
		goto out;
	}
	err = issue_args_check(issuer, issuer_key, p, m);
	if (err != WARD_OK)
		goto out;
	err = name_build(&p->subject, &subject, m);
	if (err != WARD_OK)
		goto out;
	err = random_serial(&serial, m);
	if (err != WARD_OK)
		goto out;
	err = sign_ctx_new(issuer_key, &sctx, m);
	if (err != WARD_OK)
		goto out;
	x = X509_new();
	if (x == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer->x) : subject) !=
	        1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), p->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), p->not_after) == NULL ||
	    X509_set_pubkey(x, ward_crypto_key_evp(p->subject_key)) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "issue: cannot fill in the certificate");
		goto out;
	}
	X509V3_set_ctx(&v3, issuer != NULL ? issuer->x : x, x, NULL, NULL, 0);
	err = add_profile_exts(x, &v3, p->profile, m);
	if (err != WARD_OK)
		goto out;
	if (p->profile == WARD_CERT_SERVER) {
		err = add_san(x, p->san_dns, p->san_ip, m);
		if (err != WARD_OK)
			goto out;
	}
	if (p->mud_url != NULL) {
		err = add_mud_url(x, p->mud_url, m);
		if (err != WARD_OK)
			goto out;
	}
	if (X509_sign_ctx(x, sctx) <= 0) {
		err = ossl_fail(m, WARD_E_CRYPTO, "issue: signing failed");
		goto out;
	}
	err = cert_adopt(x, out, m);
out:
	ERR_clear_error();
	X509_free(x);
	EVP_MD_CTX_free(sctx);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(subject);
	return err;
}

/* ---- CRLs ------------------------------------------------------------- */

/* Add one revoked serial to crl. */
static ward_err crl_add_entry(X509_CRL *crl, const struct ward_crl_entry *e, size_t i,
                              struct ward_msg *m)
{
	ward_err err;
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;

	err = serial_from_hex(e->serial_hex, &serial);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err == WARD_E_PARSE ? WARD_E_INVAL : err,
		                   "CRL entry %zu: serial \"%.48s\" is not 1-40 hex digits", i,
		                   e->serial_hex);
		goto out;
	}
	if (e->revoked_at <= 0) {
		err = ward_msg_set(m, WARD_E_INVAL, "CRL entry %zu: no revocation date", i);
		goto out;
	}
	err = WARD_E_CRYPTO;
	rev = X509_REVOKED_new();
	when = ASN1_TIME_set(NULL, e->revoked_at);
	if (rev == NULL || when == NULL || X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
	    X509_REVOKED_set_revocationDate(rev, when) != 1 ||
	    X509_CRL_add0_revoked(crl, rev) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CRL: cannot add an entry");
		goto out;
	}
	rev = NULL; /* owned by crl */
	err = WARD_OK;
out:
	X509_REVOKED_free(rev);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	return err;
}

ward_err ward_x509_crl_create(const struct ward_cert *issuer, const struct ward_key *issuer_key,
                              const struct ward_crl_entry *entries, size_t n, uint64_t crl_number,
                              time_t this_update, time_t next_update, struct ward_buf *out,
                              struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	X509_CRL *crl = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	EVP_MD_CTX *sctx = NULL;
	STACK_OF(X509_REVOKED) * revs;
	X509V3_CTX v3;
	X509_EXTENSION *akid = NULL;
	unsigned char *der = NULL;
	int derlen = 0;
	uint32_t flags;
	struct ward_buf tmp;

	ward_buf_init(&tmp, CRL_MAX);
	if (issuer == NULL || issuer_key == NULL || out == NULL || (entries == NULL && n > 0)) {
		err = ward_msg_set(m, WARD_E_INVAL, "CRL: missing argument");
		goto out;
	}
	if (this_update <= 0 || next_update <= this_update) {
		err = ward_msg_set(m, WARD_E_INVAL, "CRL: need 0 < thisUpdate < nextUpdate");
		goto out;
	}
	flags = X509_get_extension_flags(issuer->x);
	if ((flags & EXFLAG_CA) == 0 ||
	    ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(issuer->x) & KU_CRL_SIGN) == 0)) {
		err = ward_msg_set(m, WARD_E_INVAL, "CRL: the issuer is not a CA with cRLSign");
		goto out;
	}
	if (X509_get0_pubkey(issuer->x) == NULL ||
	    EVP_PKEY_eq(X509_get0_pubkey(issuer->x), ward_crypto_key_evp(issuer_key)) != 1) {
		ERR_clear_error();
		err = ward_msg_set(m, WARD_E_INVAL,
		                   "CRL: the issuer key does not match the issuer certificate");
		goto out;
	}
	err = sign_ctx_new(issuer_key, &sctx, m);
	if (err != WARD_OK)
		goto out;
	crl = X509_CRL_new();
	if (crl == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->x)) != 1 ||
	    (t = ASN1_TIME_set(NULL, this_update)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 || ASN1_TIME_set(t, next_update) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CRL: cannot fill in the header");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		err = crl_add_entry(crl, &entries[i], i, m);
		if (err != WARD_OK)
			goto out;
	}
	/* Sorted by serial, so a repeated serial sits next to its twin. */
	if (X509_CRL_sort(crl) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CRL: cannot sort the entries");
		goto out;
	}
	revs = X509_CRL_get_REVOKED(crl);
	for (int i = 1; i < sk_X509_REVOKED_num(revs); i++) {
		if (ASN1_INTEGER_cmp(
		        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, i - 1)),
		        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, i))) == 0) {
			err = ward_msg_set(m, WARD_E_INVAL, "CRL: a serial is listed twice");
			goto out;
		}
	}
	num = ASN1_INTEGER_new();
	if (num == NULL || ASN1_INTEGER_set_uint64(num, crl_number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CRL: cannot add crlNumber");
		goto out;
	}
	X509V3_set_ctx(&v3, issuer->x, NULL, NULL, crl, 0);
	akid = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
	if (akid == NULL || X509_CRL_add_ext(crl, akid, -1) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO,
		                "CRL: cannot add authorityKeyIdentifier (does the issuer have a "
		                "subjectKeyIdentifier?)");
		goto out;
	}
	if (X509_CRL_sign_ctx(crl, sctx) <= 0) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CRL: signing failed");
		goto out;
	}
	derlen = i2d_X509_CRL(crl, &der);
	if (derlen <= 0 || der == NULL) {
		err = ossl_fail(m, WARD_E_CRYPTO, "CRL: cannot encode");
		goto out;
	}
	err = ward_buf_append(&tmp, der, (size_t)derlen);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "CRL: %d bytes, more than %u", derlen, CRL_MAX);
		goto out;
	}
	buf_move(&tmp, out);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_EXTENSION_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	EVP_MD_CTX_free(sctx);
	ward_buf_free(&tmp);
	return err;
}

/* ---- EST encodings ----------------------------------------------------- */

/*
 * certs-only (RFC 7030 section 4.1.3, RFC 5652 degenerate SignedData):
 * version 1, no digest algorithms, encapsulated content id-data with the
 * content absent, the certificates, no CRLs, no signers — the form of
 * `openssl crl2pkcs7 -nocrl`.
 */
ward_err ward_x509_p7_certs(struct ward_cert *const *certs, size_t n, struct ward_buf *out,
                            struct ward_msg *m)
{
	ward_err err = WARD_E_CRYPTO;
	PKCS7 *p7 = NULL;
	unsigned char *der = NULL;
	int derlen = 0;
	struct ward_buf tmp;

	ward_buf_init(&tmp, P7_MAX);
	if (certs == NULL || n == 0 || out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "PKCS#7: no certificates given");
		goto out;
	}
	p7 = PKCS7_new();
	if (p7 == NULL || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1 || PKCS7_set_detached(p7, 1) != 1) {
		err = ossl_fail(m, WARD_E_CRYPTO, "PKCS#7: cannot set up SignedData");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (certs[i] == NULL) {
			err = ward_msg_set(m, WARD_E_INVAL, "PKCS#7: certificate %zu is NULL", i);
			goto out;
		}
		if (PKCS7_add_certificate(p7, certs[i]->x) != 1) {
			err = ossl_fail(m, WARD_E_CRYPTO, "PKCS#7: cannot add a certificate");
			goto out;
		}
	}
	derlen = i2d_PKCS7(p7, &der);
	if (derlen <= 0 || der == NULL) {
		err = ossl_fail(m, WARD_E_CRYPTO, "PKCS#7: cannot encode");
		goto out;
	}
	err = ward_buf_append(&tmp, der, (size_t)derlen);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "PKCS#7: %d bytes, more than %u", derlen, P7_MAX);
		goto out;
	}
	buf_move(&tmp, out);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	PKCS7_free(p7);
	ward_buf_free(&tmp);
	return err;
}

ward_err ward_x509_p7_parse(const uint8_t *der, size_t len, size_t max, struct ward_cert ***out,
                            size_t *n, struct ward_msg *m)
{
	ward_err err = WARD_E_PARSE;
	const unsigned char *p = der;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) * xs;
	struct ward_cert **certs = NULL;
	size_t count = 0;
	int num;

	if (der == NULL || out == NULL || n == NULL || max == 0) {
		err = ward_msg_set(m, WARD_E_INVAL, "PKCS#7: missing argument");
		goto out;
	}
	if (len == 0 || len > P7_MAX) {
		err = ward_msg_set(m, len == 0 ? WARD_E_PARSE : WARD_E_TOOBIG,
		                   "PKCS#7: %zu bytes; expected 1 to %u", len, P7_MAX);
		goto out;
	}
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 == NULL) {
		err = ossl_fail(m, WARD_E_PARSE, "PKCS#7: malformed DER");
		goto out;
	}
	if (p != der + len) {
		err = ward_msg_set(m, WARD_E_PARSE, "PKCS#7: trailing bytes after the structure");
		goto out;
	}
	if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL) {
		err = ward_msg_set(m, WARD_E_PARSE, "PKCS#7: not a SignedData");
		goto out;
	}
	if (sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) > 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "PKCS#7: has signers; EST certs-only has none");
		goto out;
	}
	xs = p7->d.sign->cert;
	num = sk_X509_num(xs);
	if (num <= 0) {
		err = ward_msg_set(m, WARD_E_PARSE, "PKCS#7: holds no certificate");
		goto out;
	}
	if ((size_t)num > max) {
		err = ward_msg_set(m, WARD_E_TOOBIG, "PKCS#7: %d certificates, more than %zu", num,
		                   max);
		goto out;
	}
	certs = calloc((size_t)num, sizeof(*certs));
	if (certs == NULL) {
		err = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	for (count = 0; count < (size_t)num; count++) {
		err = cert_adopt(sk_X509_value(xs, (int)count), &certs[count], m);
		if (err != WARD_OK) {
			err = ward_msg_prefix(m, err, "PKCS#7: certificate %zu: ", count + 1);
			goto out;
		}
	}
	*out = certs;
	*n = count;
	certs = NULL;
	count = 0;
	err = WARD_OK;
out:
	ERR_clear_error();
	for (size_t i = 0; i < count; i++)
		ward_x509_cert_free(certs[i]);
	free(certs);
	PKCS7_free(p7);
	return err;
}

/*
 * CsrAttrs (RFC 7030 section 4.5.2, ASN.1 as clarified by RFC 8951 section 3.4):
 *
 *   30 26                                   CsrAttrs ::= SEQUENCE OF AttrOrOID
 *      06 08 2a8648ce3d040302               oid ecdsa-with-SHA256 (1.2.840.10045.4.3.2):
 *                                              sign the CSR with it
 *      30 15                                attribute:
 *         06 07 2a8648ce3d0201                 type id-ecPublicKey (1.2.840.10045.2.1)
 *         31 0a                                values SET {
 *            06 08 2a8648ce3d030107               prime256v1 (1.2.840.10045.3.1.7) }
 *                                              : a P-256 key
 *      06 03 550405                         oid serialNumber (2.5.4.5): put the device
 *                                              serial in the subject
 *
 * The same shape as RFC 7030's own example (which asks for secp384r1 and
 * ecdsa-with-SHA384); `openssl asn1parse -inform DER` reads it.
 */
/* clang-format off */
static const uint8_t CSRATTRS_DER[] = {
	0x30, 0x26,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
	0x30, 0x15,
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x31, 0x0a,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	0x06, 0x03, 0x55, 0x04, 0x05,
};
/* clang-format on */

ward_err ward_x509_csrattrs(struct ward_buf *out, struct ward_msg *m)
{
	struct ward_buf tmp;
	ward_err err;

	if (out == NULL)
		return ward_msg_set(m, WARD_E_INVAL, "csrattrs: nowhere to write");
	ward_buf_init(&tmp, CSRATTRS_MAX);
	err = ward_buf_append(&tmp, CSRATTRS_DER, sizeof(CSRATTRS_DER));
	if (err != WARD_OK) {
		ward_buf_free(&tmp);
		return ward_msg_set(m, err, "csrattrs: %s", ward_err_name(err));
	}
	buf_move(&tmp, out);
	return WARD_OK;
}
