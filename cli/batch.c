/*
 * cli/batch.c — `ward batch create`: a production authorization, "this
 * factory may enrol N devices of model M until T" (ARCHITECTURE.md, trust
 * model).
 *
 * A batch is a row of the registry: a random id (16 bytes, hex), the EST
 * user name "batch-<first 8 hex of the id>", and a password of 24 random
 * bytes (base64url, no padding: 32 characters, 192 bits). The password is
 * printed once and stored only as the salted hash of server/credentials.h;
 * nothing but this process's memory ever holds it, and that is wiped. The
 * batch and an audit record "batch-create" (which never names the password)
 * are written before the password is shown: a credential the audit log does
 * not know about is never handed out.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "credentials.h"
#include "store.h"
#include "ward/buf.h"
#include "ward/crypto.h"

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define BATCH_ID_BYTES 16           /* random id, printed as 32 hex digits */
#define BATCH_PASS_BYTES 24         /* 192 random bits */
#define BATCH_PASS_CHARS 32         /* their base64url, no padding (24 is a multiple of 3) */
#define BATCH_MODEL_MAX 63          /* struct srv_batch's model[64] */
#define BATCH_COUNT_MAX 100000000ULL /* devices in one batch */

static const char batch_help[] =
    "usage: ward batch create -c DIR/ward.conf --model M --count N --expires DURATION [--json]\n"
    "\n"
    "Authorize a factory to enrol COUNT devices of model M until now + DURATION.\n"
    "Prints the batch's EST user name and password once; only a hash is stored.\n"
    "\n"
    "  -c, --config FILE       the deployment's ward.conf\n"
    "  --model M               device model (1-63 of A-Z a-z 0-9 . _ -); the CSR's OU must match\n"
    "  --count N               devices the batch may enrol (1-100000000)\n"
    "  --expires DURATION      validity: 30s, 15m, 12h, 7d, 2w, 1y\n"
    "  --json                  print {\"id\",\"username\",\"password\",\"model\",\"count\",\"expires\"}\n";

/* A fresh password: base64url of BATCH_PASS_BYTES random bytes into out (NUL-terminated). */
static WARD_MUST_USE ward_err make_password(char out[BATCH_PASS_CHARS + 1], struct ward_msg *m)
{
	uint8_t raw[BATCH_PASS_BYTES];
	struct ward_buf b64;
	ward_err e;

	ward_buf_init(&b64, 0);
	if ((e = ward_crypto_random(raw, sizeof(raw))) != WARD_OK ||
	    (e = ward_crypto_base64_encode(raw, sizeof(raw), &b64)) != WARD_OK) {
		e = ward_msg_set(m, e, "cannot make a random password");
		goto out;
	}
	if (b64.len != BATCH_PASS_CHARS) {
		e = ward_msg_set(m, WARD_E_CRYPTO, "base64 of %d bytes is not %d characters",
		                 BATCH_PASS_BYTES, BATCH_PASS_CHARS);
		goto out;
	}
	for (size_t i = 0; i < b64.len; i++) {
		char c = (char)b64.p[i];
		out[i] = c == '+' ? '-' : c == '/' ? '_' : c; /* RFC 4648 section 5 */
	}
	out[BATCH_PASS_CHARS] = '\0';
out:
	ward_wipe(raw, sizeof(raw));
	if (b64.p)
		ward_wipe(b64.p, b64.len);
	ward_buf_free(&b64);
	return e;
}

static int batch_create(const char *conf_path, const char *model, const char *count_s,
                        const char *expires_s, bool json)
{
	struct srv_conf *conf = NULL;
	struct srv_store *store = NULL;
	struct srv_batch b;
	struct ward_msg m = {0};
	uint8_t id[BATCH_ID_BYTES];
	char pass[BATCH_PASS_CHARS + 1], expires[21];
	uint64_t count;
	long long life;
	time_t now = time(NULL);
	int rc = EX_FAIL;
	ward_err e;

	memset(&b, 0, sizeof(b));
	memset(pass, 0, sizeof(pass));
	if (!cli_ident_ok(model, BATCH_MODEL_MAX)) {
		cli_error("batch create: --model '%s' must be 1-%d of A-Z a-z 0-9 . _ -", model,
		          BATCH_MODEL_MAX);
		return EX_USAGE;
	}
	if (ward_parse_u64(count_s, &count) != WARD_OK || count < 1 || count > BATCH_COUNT_MAX) {
		cli_error("batch create: --count '%s' is not a number from 1 to %llu", count_s,
		          BATCH_COUNT_MAX);
		return EX_USAGE;
	}
	if (cli_parse_duration(expires_s, &life) != WARD_OK) {
		cli_error("batch create: --expires '%s' is not a duration like 30s, 15m, 12h, 7d, "
		          "2w or 1y",
		          expires_s);
		return EX_USAGE;
	}
	if (!(conf = malloc(sizeof(*conf)))) {
		cli_error("batch create: out of memory");
		return EX_FAIL;
	}
	if ((e = cli_deploy_open(conf_path, conf, &store, &m)) != WARD_OK)
		goto out;

	if ((e = ward_crypto_random(id, sizeof(id))) != WARD_OK) {
		e = ward_msg_set(&m, e, "no randomness from the operating system");
		goto out;
	}
	ward_hex_encode(id, sizeof(id), b.id);
	if ((e = ward_snprintf(b.username, sizeof(b.username), "batch-%.8s", b.id)) != WARD_OK ||
	    (e = ward_snprintf(b.model, sizeof(b.model), "%s", model)) != WARD_OK) {
		e = ward_msg_set(&m, e, "batch name too long");
		goto out;
	}
	if ((e = make_password(pass, &m)) != WARD_OK)
		goto out;
	if ((e = srv_batch_password_hash(pass, b.pass_hash, sizeof(b.pass_hash))) != WARD_OK) {
		e = ward_msg_set(&m, e, "cannot hash the password");
		goto out;
	}
	b.count = (int64_t)count;
	b.used = 0;
	b.created = now;
	b.expires = now + (time_t)life;
	cli_utc(b.expires, expires);
	/* stored together with its audit record, in one transaction */
	if ((e = srv_batch_create(store, &b, &m)) != WARD_OK)
		goto out;

	/* The one place the password leaves this process. Every value is [A-Za-z0-9._-]. */
	if (json)
		printf("{\"id\":\"%s\",\"username\":\"%s\",\"password\":\"%s\",\"model\":\"%s\","
		       "\"count\":%llu,\"expires\":\"%s\"}\n",
		       b.id, b.username, pass, b.model, (unsigned long long)count, expires);
	else
		printf("created production batch %s\n"
		       "  model     %s\n"
		       "  count     %llu devices\n"
		       "  expires   %s\n"
		       "  username  %s\n"
		       "  password  %s\n"
		       "The password is shown only this once and cannot be recovered: hand it to the\n"
		       "factory over a secure channel (ward provision --user %s --password-file F).\n",
		       b.id, b.model, (unsigned long long)count, expires, b.username, pass,
		       b.username);
	if (fflush(stdout) != 0) {
		e = ward_msg_set(&m, WARD_E_IO, "cannot write the password to standard output");
		goto out;
	}
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("batch create: %s", m.text[0] ? m.text : ward_err_name(e));
	ward_wipe(pass, sizeof(pass));
	ward_wipe(&b, sizeof(b));
	srv_store_close(store);
	free(conf);
	return rc;
}

int cli_batch(int argc, char **argv)
{
	enum { O_MODEL = 256, O_COUNT, O_EXPIRES, O_JSON };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"model", required_argument, NULL, O_MODEL},
	    {"count", required_argument, NULL, O_COUNT},
	    {"expires", required_argument, NULL, O_EXPIRES},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *model = NULL, *count = NULL, *expires = NULL;
	bool json = false;
	int c;

	if (argc < 2) {
		fputs(batch_help, stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(batch_help, stdout);
		return EX_SUCCESS;
	}
	if (strcmp(argv[1], "create") != 0) {
		cli_error("batch: unknown command '%s'; `ward batch --help` lists them", argv[1]);
		return EX_USAGE;
	}
	opterr = 0;
	optind = 1;
	argc--;
	argv++; /* argv[0] is now "create" */
	while ((c = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case O_MODEL:
			model = optarg;
			break;
		case O_COUNT:
			count = optarg;
			break;
		case O_EXPIRES:
			expires = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case 'h':
			fputs(batch_help, stdout);
			return EX_SUCCESS;
		case ':':
			cli_error("batch create: %s needs a value", argv[optind - 1]);
			return EX_USAGE;
		default:
			cli_error("batch create: unknown option '%s'; `ward batch --help` lists them",
			          argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("batch create: unexpected argument '%s'", argv[optind]);
		return EX_USAGE;
	}
	if (!conf || !model || !count || !expires) {
		cli_error("batch create: %s is required; `ward batch --help` shows the usage",
		          !conf ? "-c DIR/ward.conf" : !model ? "--model" : !count ? "--count"
		                                                                   : "--expires");
		return EX_USAGE;
	}
	return batch_create(conf, model, count, expires, json);
}
