/*
 * fuzz/keyfile.c — private key files (include/ward/keyfile.h).
 *
 * Input: the bytes of a key file (at most WARD_KEYFILE_MAX + 1, so the size
 * limit is hit too), written to a scratch file that ward_keyfile_read opens
 * (the API reads paths). Read without a passphrase, which covers the two-line
 * envelope, the base64 and the record header, and the PKCS#8 parser for
 * unencrypted files; an encrypted record must be refused without running
 * scrypt, so inputs cannot make the fuzzer spend memory on the KDF.
 * Properties: a successful read yields a private key, and never happens for a
 * file that ward_keyfile_is_encrypted() calls encrypted.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ward/keyfile.h"

static char scratch[64]; /* path of this process's scratch file, "" until made */

static void remove_scratch(void)
{
	if (scratch[0] != '\0')
		unlink(scratch);
}

static int make_scratch(void)
{
	const char *tmp = getenv("TMPDIR");
	int fd, w;

	if (scratch[0] != '\0')
		return 1;
	w = snprintf(scratch, sizeof(scratch), "%s/ward-fuzz-keyfile.XXXXXX",
		     tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (w < 0 || (size_t)w >= sizeof(scratch))
		abort();
	fd = mkstemp(scratch);
	if (fd < 0) {
		scratch[0] = '\0';
		return 0;
	}
	close(fd);
	atexit(remove_scratch);
	return 1;
}

static int write_scratch(const uint8_t *data, size_t size)
{
	int fd = open(scratch, O_WRONLY | O_TRUNC);
	size_t off = 0;

	if (fd < 0)
		return 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0) {
			close(fd);
			return 0;
		}
		off += (size_t)n;
	}
	close(fd);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_msg m = {0};
	struct ward_key *k = NULL;
	bool enc = false;

	if (size > WARD_KEYFILE_MAX + 1)
		return 0;
	if (!make_scratch() || !write_scratch(data, size))
		abort(); /* the fuzzer's own environment is broken, not ward */
	if (ward_keyfile_is_encrypted(scratch, &enc, &m) != WARD_OK)
		enc = false;
	if (ward_keyfile_read(scratch, NULL, 0, &k, &m) == WARD_OK) {
		if (k == NULL || !ward_crypto_key_has_private(k))
			abort();
		if (enc)
			abort(); /* an encrypted file opened without its passphrase */
	} else if (k != NULL) {
		abort(); /* outputs are untouched on failure */
	}
	ward_crypto_key_free(k);
	return 0;
}
