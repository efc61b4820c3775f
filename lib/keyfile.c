/*
 * lib/keyfile.c — private keys at rest, in the signify-style format that
 * include/ward/keyfile.h lays out: an untrusted comment line, then one base64
 * line holding a 44-byte header and a PKCS#8 payload, AES-256-GCM-sealed under
 * an scrypt key with the header as associated data (so no header byte can be
 * changed without the tag failing). Invariants: a key file is created 0600
 * with O_EXCL and never overwritten; the derived key, the DER and every buffer
 * that held plaintext key material are wiped on every path; scrypt parameters
 * read from a file are bounded before any memory is committed to them. This
 * file calls ward_crypto_* only, never OpenSSL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/keyfile.h"

#define KF_MAGIC "WARDKEY1"
#define KF_MAGIC_LEN 8
#define KF_SALT_LEN 16
#define KF_HDR_LEN 44 /* magic 8, kdf/log2n/r/p 4, salt 16, nonce 12, length 4 */
#define KF_KDF_NONE 0
#define KF_KDF_SCRYPT 1
#define KF_SCRYPT_R 8
#define KF_SCRYPT_P 1
#define KF_COMMENT_PREFIX "untrusted comment: "
#define KF_COMMENT_MAX 1024
#define KF_DEFAULT_COMMENT "ward secret key"

/* Bounds on scrypt parameters read from a file: room for stronger settings than
 * ward writes, but a hostile file cannot ask for more than 1 GiB or hours of work. */
#define KF_READ_LOG2N_MAX 22
#define KF_READ_R_MAX 32
#define KF_READ_P_MAX 4
#define KF_READ_MEM_MAX ((uint64_t)1 << 30)

_Static_assert(KF_MAGIC_LEN + 4 + KF_SALT_LEN + WARD_AEAD_NONCE_LEN + 4 == KF_HDR_LEN,
	       "key file header layout");

/* The header of a key file record, decoded. */
struct kf_hdr {
	uint8_t kdf;                         /* KF_KDF_NONE or KF_KDF_SCRYPT */
	uint8_t log2n;                       /* scrypt cost, 0 when kdf is none */
	uint8_t r;                           /* scrypt block size */
	uint8_t p;                           /* scrypt parallelism */
	uint8_t salt[KF_SALT_LEN];           /* scrypt salt, zeros when kdf is none */
	uint8_t nonce[WARD_AEAD_NONCE_LEN];  /* AES-GCM nonce, zeros when kdf is none */
	uint32_t length;                     /* payload bytes after the header */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void hdr_encode(const struct kf_hdr *h, uint8_t out[KF_HDR_LEN])
{
	memcpy(out, KF_MAGIC, KF_MAGIC_LEN);
	out[8] = h->kdf;
	out[9] = h->log2n;
	out[10] = h->r;
	out[11] = h->p;
	memcpy(out + 12, h->salt, KF_SALT_LEN);
	memcpy(out + 28, h->nonce, WARD_AEAD_NONCE_LEN);
	put_be32(out + 40, h->length);
}

static void hdr_decode(const uint8_t in[KF_HDR_LEN], struct kf_hdr *h)
{
	h->kdf = in[8];
	h->log2n = in[9];
	h->r = in[10];
	h->p = in[11];
	memcpy(h->salt, in + 12, KF_SALT_LEN);
	memcpy(h->nonce, in + 28, WARD_AEAD_NONCE_LEN);
	h->length = get_be32(in + 40);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Check the header fields against the kdf they belong to. */
static ward_err hdr_check(const char *path, const struct kf_hdr *h, struct ward_msg *m)
{
	uint64_t mem;

	switch (h->kdf) {
	case KF_KDF_NONE:
		if (h->log2n != 0 || h->r != 0 || h->p != 0 || !all_zero(h->salt, KF_SALT_LEN) ||
		    !all_zero(h->nonce, WARD_AEAD_NONCE_LEN))
			return ward_msg_set(m, WARD_E_PARSE,
					    "%s: corrupted key file (unencrypted, but kdf "
					    "parameters are set)",
					    path);
		if (h->length == 0)
			return ward_msg_set(m, WARD_E_PARSE, "%s: key file holds no key", path);
		return WARD_OK;
	case KF_KDF_SCRYPT:
		mem = 128 * (uint64_t)h->r << (h->log2n < 63 ? h->log2n : 63);
		if (h->log2n < 1 || h->log2n > KF_READ_LOG2N_MAX || h->r < 1 ||
		    h->r > KF_READ_R_MAX || h->p < 1 || h->p > KF_READ_P_MAX ||
		    mem > KF_READ_MEM_MAX)
			return ward_msg_set(m, WARD_E_UNSUPPORTED,
					    "%s: scrypt parameters out of range (log2n %u, r %u, "
					    "p %u; at most log2n %d, r %d, p %d and 1 GiB)",
					    path, h->log2n, h->r, h->p, KF_READ_LOG2N_MAX,
					    KF_READ_R_MAX, KF_READ_P_MAX);
		if (h->length <= WARD_AEAD_TAG_LEN)
			return ward_msg_set(m, WARD_E_PARSE,
					    "%s: key file is truncated (payload shorter than its "
					    "authentication tag)",
					    path);
		return WARD_OK;
	default:
		return ward_msg_set(m, WARD_E_UNSUPPORTED,
				    "%s: unknown kdf %u in key file (this ward reads 0 = none and "
				    "1 = scrypt); was it written by a newer version?",
				    path, h->kdf);
	}
}

/*
 * Read path and decode its record into rec (a secret buffer, initialised here;
 * caller frees) and h. Every way a file can fail to be a key file ends here
 * with a message naming the file and what is wrong with it.
 */
static ward_err kf_load(const char *path, struct ward_buf *rec, struct kf_hdr *h,
			struct ward_msg *m)
{
	static const char prefix[] = KF_COMMENT_PREFIX;
	ward_err err;
	struct ward_buf file, dec, tmp;
	const char *text, *nl1, *line2, *nl2;
	size_t len, l2len;

	ward_buf_init(&file, WARD_KEYFILE_MAX);
	ward_buf_init(&dec, WARD_KEYFILE_MAX);
	ward_buf_init_secret(&tmp, WARD_KEYFILE_MAX);
	if (path == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "no key file path given");
		goto out;
	}
	err = ward_file_read(path, WARD_KEYFILE_MAX, &file, m);
	if (err == WARD_E_TOOBIG) {
		err = ward_msg_set(m, err,
				   "%s: larger than %d bytes; not a ward key file (or corrupted)",
				   path, WARD_KEYFILE_MAX);
		goto out;
	}
	if (err != WARD_OK)
		goto out;
	err = WARD_E_PARSE;
	text = (const char *)file.p;
	len = file.len;
	if (len == 0) {
		err = ward_msg_set(m, err, "%s: file is empty; not a ward key file", path);
		goto out;
	}
	if (memchr(text, '\0', len) != NULL || len < sizeof(prefix) - 1 ||
	    memcmp(text, prefix, sizeof(prefix) - 1) != 0) {
		err = ward_msg_set(m, err,
				   "%s: not a ward key file (the first line must start with "
				   "\"untrusted comment: \")",
				   path);
		goto out;
	}
	nl1 = memchr(text, '\n', len);
	if (nl1 == NULL || (size_t)(nl1 + 1 - text) == len) {
		err = ward_msg_set(m, err, "%s: key file is truncated (no key line)", path);
		goto out;
	}
	line2 = nl1 + 1;
	nl2 = memchr(line2, '\n', len - (size_t)(line2 - text));
	if (nl2 == NULL) {
		err = ward_msg_set(m, err,
				   "%s: key file is truncated (the key line has no final newline)",
				   path);
		goto out;
	}
	if ((size_t)(nl2 + 1 - text) != len) {
		err = ward_msg_set(m, err,
				   "%s: not a ward key file (unexpected text after the second "
				   "line)",
				   path);
		goto out;
	}
	l2len = (size_t)(nl2 - line2);
	err = ward_crypto_base64_decode(line2, l2len, WARD_KEYFILE_MAX, &dec);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err == WARD_E_NOMEM ? err : WARD_E_PARSE,
				   "%s: the key line is not valid base64 (truncated or corrupted "
				   "key file?)",
				   path);
		goto out;
	}
	err = ward_buf_append(&tmp, dec.p, dec.len);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "%s: %s", path, ward_err_name(err));
		goto out;
	}
	err = WARD_E_PARSE;
	if (memcmp(tmp.p, KF_MAGIC, tmp.len < KF_MAGIC_LEN ? tmp.len : KF_MAGIC_LEN) != 0) {
		err = ward_msg_set(m, err, "%s: not a ward key file (bad magic; expected %s)",
				   path, KF_MAGIC);
		goto out;
	}
	if (tmp.len < KF_HDR_LEN) {
		err = ward_msg_set(m, err,
				   "%s: key file is truncated (record is %zu bytes, the header "
				   "alone is %d)",
				   path, tmp.len, KF_HDR_LEN);
		goto out;
	}
	hdr_decode(tmp.p, h);
	err = hdr_check(path, h, m);
	if (err != WARD_OK)
		goto out;
	if (tmp.len - KF_HDR_LEN < h->length) {
		err = ward_msg_set(m, WARD_E_PARSE,
				   "%s: key file is truncated (header announces %u payload bytes, "
				   "%zu present)",
				   path, (unsigned)h->length, tmp.len - KF_HDR_LEN);
		goto out;
	}
	if (tmp.len - KF_HDR_LEN > h->length) {
		err = ward_msg_set(m, WARD_E_PARSE,
				   "%s: corrupted key file (%zu unexpected bytes after the "
				   "payload)",
				   path, tmp.len - KF_HDR_LEN - h->length);
		goto out;
	}
	*rec = tmp;
	ward_buf_init_secret(&tmp, WARD_KEYFILE_MAX); /* ownership moved to *rec */
	err = WARD_OK;
out:
	/* An unencrypted key file holds the key in plain: wipe every copy. */
	if (file.p != NULL)
		ward_wipe(file.p, file.len);
	if (dec.p != NULL)
		ward_wipe(dec.p, dec.len);
	ward_buf_free(&file);
	ward_buf_free(&dec);
	ward_buf_free(&tmp);
	return err;
}

ward_err ward_keyfile_write(const char *path, const struct ward_key *k, const char *pass,
			    size_t passlen, const char *comment, struct ward_msg *m)
{
	static const uint8_t zero16[WARD_AEAD_TAG_LEN];
	ward_err err = WARD_E_INVAL;
	struct ward_buf der, rec, b64, file;
	struct kf_hdr h;
	uint8_t hdr[KF_HDR_LEN];
	uint8_t key[WARD_AEAD_KEY_LEN];
	size_t payload;
	struct stat st;

	memset(&h, 0, sizeof(h));
	ward_buf_init_secret(&der, WARD_KEYFILE_MAX);
	ward_buf_init_secret(&rec, WARD_KEYFILE_MAX);
	ward_buf_init(&b64, WARD_KEYFILE_MAX);
	ward_buf_init_secret(&file, WARD_KEYFILE_MAX);
	if (path == NULL || k == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "key file: missing path or key");
		goto out;
	}
	if (!ward_crypto_key_has_private(k)) {
		err = ward_msg_set(m, WARD_E_INVAL,
				   "%s: the key has no private half; nothing to write", path);
		goto out;
	}
	if (pass != NULL && passlen == 0) {
		err = ward_msg_set(m, WARD_E_INVAL,
				   "%s: empty passphrase; give a passphrase, or explicitly ask "
				   "for an unencrypted key file",
				   path);
		goto out;
	}
	/* Fail before the slow scrypt; ward_file_create_excl still closes the race. */
	if (lstat(path, &st) == 0) {
		err = ward_msg_set(m, WARD_E_EXISTS, "%s: already exists; refusing to overwrite",
				   path);
		goto out;
	}
	if (comment == NULL)
		comment = KF_DEFAULT_COMMENT;
	if (strlen(comment) > KF_COMMENT_MAX || strpbrk(comment, "\r\n") != NULL) {
		err = ward_msg_set(m, WARD_E_INVAL,
				   "%s: the comment must be one line of at most %d bytes", path,
				   KF_COMMENT_MAX);
		goto out;
	}

	err = ward_crypto_key_private_der(k, &der);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "%s: cannot encode the private key (%s)", path,
				   ward_err_name(err));
		goto out;
	}
	payload = der.len + (pass != NULL ? WARD_AEAD_TAG_LEN : 0);
	if (payload > WARD_KEYFILE_MAX) {
		err = ward_msg_set(m, WARD_E_TOOBIG, "%s: the key is too large for a key file",
				   path);
		goto out;
	}
	h.length = (uint32_t)payload;
	if (pass != NULL) {
		h.kdf = KF_KDF_SCRYPT;
		h.log2n = WARD_KEYFILE_LOG2N;
		h.r = KF_SCRYPT_R;
		h.p = KF_SCRYPT_P;
		err = ward_crypto_random(h.salt, sizeof(h.salt));
		if (err == WARD_OK)
			err = ward_crypto_random(h.nonce, sizeof(h.nonce));
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "%s: no randomness for salt and nonce", path);
			goto out;
		}
	}
	hdr_encode(&h, hdr);

	/* rec = header || DER (|| room for the tag); sealed in place when encrypting. */
	err = ward_buf_append(&rec, hdr, sizeof(hdr));
	if (err == WARD_OK)
		err = ward_buf_append(&rec, der.p, der.len);
	if (err == WARD_OK && pass != NULL)
		err = ward_buf_append(&rec, zero16, sizeof(zero16));
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "%s: %s", path, ward_err_name(err));
		goto out;
	}
	if (pass != NULL) {
		err = ward_crypto_scrypt(pass, passlen, h.salt, sizeof(h.salt), h.log2n, h.r, h.p,
					 key, sizeof(key));
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "%s: key derivation (scrypt) failed: %s", path,
					   ward_err_name(err));
			goto out;
		}
		err = ward_crypto_aead_seal(key, h.nonce, rec.p, KF_HDR_LEN, rec.p + KF_HDR_LEN,
					    der.len, rec.p + KF_HDR_LEN);
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "%s: encryption failed: %s", path,
					   ward_err_name(err));
			goto out;
		}
	}

	err = ward_crypto_base64_encode(rec.p, rec.len, &b64);
	if (err == WARD_OK)
		err = ward_buf_append(&file, KF_COMMENT_PREFIX, strlen(KF_COMMENT_PREFIX));
	if (err == WARD_OK)
		err = ward_buf_append(&file, comment, strlen(comment));
	if (err == WARD_OK)
		err = ward_buf_append(&file, "\n", 1);
	if (err == WARD_OK)
		err = ward_buf_append(&file, b64.p, b64.len);
	if (err == WARD_OK)
		err = ward_buf_append(&file, "\n", 1);
	if (err != WARD_OK) {
		err = ward_msg_set(m, err, "%s: cannot encode the key file: %s", path,
				   ward_err_name(err));
		goto out;
	}
	err = ward_file_create_excl(path, file.p, file.len, 0600, m);
out:
	ward_wipe(key, sizeof(key));
	if (b64.p != NULL)
		ward_wipe(b64.p, b64.len); /* an unencrypted file's key line is the key */
	ward_buf_free(&der);
	ward_buf_free(&rec);
	ward_buf_free(&b64);
	ward_buf_free(&file);
	return err;
}

ward_err ward_keyfile_read(const char *path, const char *pass, size_t passlen,
			   struct ward_key **out, struct ward_msg *m)
{
	ward_err err;
	struct ward_buf rec;
	struct kf_hdr h;
	uint8_t key[WARD_AEAD_KEY_LEN];
	uint8_t *payload;
	size_t derlen;

	memset(&h, 0, sizeof(h));
	ward_buf_init_secret(&rec, WARD_KEYFILE_MAX);
	if (out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "key file: nowhere to put the key");
		goto out;
	}
	err = kf_load(path, &rec, &h, m);
	if (err != WARD_OK)
		goto out;
	payload = rec.p + KF_HDR_LEN;
	derlen = h.length;
	if (h.kdf == KF_KDF_SCRYPT) {
		if (pass == NULL || passlen == 0) {
			err = ward_msg_set(m, WARD_E_INVAL,
					   "%s: key file is encrypted; a passphrase is required",
					   path);
			goto out;
		}
		err = ward_crypto_scrypt(pass, passlen, h.salt, sizeof(h.salt), h.log2n, h.r, h.p,
					 key, sizeof(key));
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "%s: key derivation (scrypt) failed: %s", path,
					   ward_err_name(err));
			goto out;
		}
		/* Decrypt in place; the header bytes are the associated data. */
		err = ward_crypto_aead_open(key, h.nonce, rec.p, KF_HDR_LEN, payload, h.length,
					    payload);
		if (err == WARD_E_VERIFY) {
			err = ward_msg_set(m, err, "%s: wrong passphrase or corrupted key file",
					   path);
			goto out;
		}
		if (err != WARD_OK) {
			err = ward_msg_set(m, err, "%s: decryption failed: %s", path,
					   ward_err_name(err));
			goto out;
		}
		derlen = h.length - WARD_AEAD_TAG_LEN;
	}
	err = ward_crypto_key_from_private_der(payload, derlen, out, m);
	if (err != WARD_OK)
		err = ward_msg_prefix(m, err, "%s: ", path);
out:
	ward_wipe(key, sizeof(key));
	ward_buf_free(&rec); /* secret: wiped */
	return err;
}

ward_err ward_keyfile_is_encrypted(const char *path, bool *out, struct ward_msg *m)
{
	ward_err err;
	struct ward_buf rec;
	struct kf_hdr h;

	memset(&h, 0, sizeof(h));
	ward_buf_init_secret(&rec, WARD_KEYFILE_MAX);
	if (out == NULL) {
		err = ward_msg_set(m, WARD_E_INVAL, "key file: nowhere to put the answer");
		goto out;
	}
	err = kf_load(path, &rec, &h, m);
	if (err != WARD_OK)
		goto out;
	*out = h.kdf == KF_KDF_SCRYPT;
out:
	ward_buf_free(&rec);
	return err;
}
