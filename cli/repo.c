/*
 * cli/repo.c — `ward repo`, the device maker's TUF image repository tool.
 *
 * A repository is a directory DIR: keys/ holds the private keys (ward key
 * files, 0600, created with O_EXCL and never overwritten; rotated keys move to
 * keys/retired/) with a TUF key JSON .pub beside each, and repo/ holds the
 * static files any web server can serve: metadata/ and targets/.
 *
 * Every change runs under an exclusive flock on DIR/.lock and goes in phases:
 * load the published metadata, change it in memory, load every signing key,
 * sign every new version in memory, and only then write: new key files, the
 * target file, root (<v>.root.json, then root.json), delegated roles, targets,
 * snapshot, and timestamp.json last. A command that fails before the writing
 * phase (bad input, wrong passphrase, missing key) leaves the repository as it
 * was, and a reader never sees a timestamp naming a snapshot that is not there.
 *
 * Metadata files carry the raw role name (metadata/<v>.<role>.json): clients
 * URL-encode it in the request and web servers decode it back, so "qa team"
 * is served from "2.qa team.json"; delegated role names therefore hold no '/'.
 * Key files, which are never served, use the URL-encoded name
 * (ward_tuf_url_encode): keys/qa%20team-1.key.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"
#include "ward/json.h"
#include "ward/key.h"
#include "ward/keyfile.h"
#include "ward/tuf.h"

#define REPO_MAX_ROLES    256 /* top-level and delegated roles of one repository */
#define REPO_MAX_KEYS     16  /* keys of one role */
#define REPO_ROLE_MAX     128 /* bytes of a role name */
#define REPO_ENC_MAX      (3 * REPO_ROLE_MAX + 1) /* a URL-encoded role name and its NUL */
#define REPO_TARGET_MAX   1024                    /* bytes of a target path */
#define REPO_PASS_MAX     1024                    /* bytes of a passphrase */
#define REPO_CUSTOM_MAX   (64u * 1024)            /* bytes of --custom */
#define REPO_MAX_ARGS     16                      /* repetitions of --expires and --role */
#define REPO_MAX_PATTERNS 64                      /* entries of --paths / --hash-prefixes */
#define REPO_MAX_KEYFILES 256                     /* numbered key files of one role in keys/ */
#define REPO_COPY_CHUNK   (64u * 1024)            /* target copy buffer */
#define REPO_PUB_MAX      (16u * 1024)            /* a .pub file */

enum { EX_SUCCESS = 0, EX_FAIL = 1, EX_USAGE = 2 };

/* Fixed indices of the top-level roles in struct repo's roles[]. */
enum { R_ROOT = 0, R_TARGETS = 1, R_SNAPSHOT = 2, R_TIMESTAMP = 3, R_TOPLEVEL = 4 };
static const char *const toplevel_names[R_TOPLEVEL] = {"root", "targets", "snapshot", "timestamp"};
static const enum ward_tuf_role toplevel_types[R_TOPLEVEL] = {
    WARD_TUF_ROOT, WARD_TUF_TARGETS, WARD_TUF_SNAPSHOT, WARD_TUF_TIMESTAMP};

/* Default validity of a new version of each kind of role. */
#define DAY (24LL * 3600)
static long long default_lifetime(int idx)
{
	switch (idx) {
	case R_ROOT:
		return 365 * DAY;
	case R_SNAPSHOT:
		return 7 * DAY;
	case R_TIMESTAMP:
		return 1 * DAY;
	default:
		return 90 * DAY; /* targets and delegated roles */
	}
}

/* ---- command line ---------------------------------------------------- */

enum opt {
	OPT_HELP,
	OPT_KEY_TYPE,
	OPT_ROOT_KEYS,
	OPT_ROOT_THRESHOLD,
	OPT_EXPIRES,
	OPT_NO_CONSISTENT,
	OPT_UNENCRYPTED,
	OPT_PASSFILE,
	OPT_NAME,
	OPT_ROLE,
	OPT_HWID,
	OPT_VERSION,
	OPT_INSTALL_TYPE,
	OPT_CUSTOM,
	OPT_FROM,
	OPT_PATHS,
	OPT_HASH_PREFIXES,
	OPT_KEYS,
	OPT_THRESHOLD,
	OPT_TERMINATING,
	OPT_SNAPSHOT,
	OPT_JSON,
	OPT_COUNT
};

struct optdef {
	const char *name; /* without the leading "--" */
	bool arg;         /* takes a value */
};

static const struct optdef optdefs[OPT_COUNT] = {
    [OPT_HELP] = {"help", false},
    [OPT_KEY_TYPE] = {"key-type", true},
    [OPT_ROOT_KEYS] = {"root-keys", true},
    [OPT_ROOT_THRESHOLD] = {"root-threshold", true},
    [OPT_EXPIRES] = {"expires", true},
    [OPT_NO_CONSISTENT] = {"no-consistent-snapshot", false},
    [OPT_UNENCRYPTED] = {"unencrypted-keys", false},
    [OPT_PASSFILE] = {"passphrase-file", true},
    [OPT_NAME] = {"name", true},
    [OPT_ROLE] = {"role", true},
    [OPT_HWID] = {"hardware-id", true},
    [OPT_VERSION] = {"version", true},
    [OPT_INSTALL_TYPE] = {"install-type", true},
    [OPT_CUSTOM] = {"custom", true},
    [OPT_FROM] = {"from", true},
    [OPT_PATHS] = {"paths", true},
    [OPT_HASH_PREFIXES] = {"hash-prefixes", true},
    [OPT_KEYS] = {"keys", true},
    [OPT_THRESHOLD] = {"threshold", true},
    [OPT_TERMINATING] = {"terminating", false},
    [OPT_SNAPSHOT] = {"snapshot", false},
    [OPT_JSON] = {"json", false},
};

#define O(x) (1u << (x))

/* An --expires value: the role it names and the absolute expiry. */
struct expiry {
	char role[REPO_ROLE_MAX + 1]; /* the role it applies to */
	time_t at;                    /* when that role's new version expires */
};

struct args {
	const char *cmd;                    /* subcommand name */
	const char *pos[3];                 /* positional arguments */
	size_t npos;                        /* how many */
	const char *val[OPT_COUNT];         /* value of each single-valued option */
	bool set[OPT_COUNT];                /* option given */
	const char *expires[REPO_MAX_ARGS]; /* every --expires, in order */
	size_t nexpires;                    /* how many */
	const char *roles[REPO_MAX_ARGS];   /* every --role, in order */
	size_t nroles;                      /* how many */
	struct expiry exp[REPO_MAX_ARGS];   /* --expires, parsed */
	size_t nexp;                        /* how many */
};

struct command {
	const char *name;                 /* second argument: `ward repo NAME` */
	int (*run)(const struct args *a); /* returns the exit status */
	size_t minpos, maxpos;            /* positional arguments (DIR included) */
	uint32_t opts;                    /* accepted options, O(OPT_...) */
	bool multi_role;                  /* --role may repeat */
	const char *synopsis;             /* one line for `ward repo --help` */
	const char *help;                 /* `ward repo CMD --help` */
};

/* ---- small helpers --------------------------------------------------- */

static WARD_MUST_USE ward_err path_join(char *out, size_t n, const char *a, const char *b,
                                        struct ward_msg *m)
{
	if (ward_snprintf(out, n, "%s/%s", a, b) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long: %s/%s", a, b);
	return WARD_OK;
}

static bool is_toplevel_name(const char *name)
{
	for (int i = 0; i < R_TOPLEVEL; i++)
		if (!strcmp(name, toplevel_names[i]))
			return true;
	return false;
}

/* Text that cannot go into metadata: control characters, or not UTF-8 (JSON strings are). */
static bool has_control(const char *s)
{
	json_t *probe = json_string(s); /* NULL when s is not valid UTF-8 */

	if (!probe)
		return true;
	json_decref(probe);
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * A delegated role's name: 1..128 bytes of UTF-8, no control character, not a
 * top-level name, and no '/' or '\\': the metadata file is "<role>.json" under
 * its raw name (see write_role), so the name must be one file name.
 */
static WARD_MUST_USE ward_err check_role_name(const char *name, struct ward_msg *m)
{
	size_t n = strlen(name);

	if (n == 0 || n > REPO_ROLE_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "role name must be 1 to %d bytes",
		                    REPO_ROLE_MAX);
	if (has_control(name))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "role name contains a control character or is not UTF-8");
	if (is_toplevel_name(name))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "'%s' is a top-level role; a delegated role needs another name",
		                    name);
	if (strchr(name, '/') || strchr(name, '\\') || !strcmp(name, ".") || !strcmp(name, ".."))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "role name '%s' cannot name a metadata file: no '/' or '\\', "
		                    "and not '.' or '..'",
		                    name);
	return WARD_OK;
}

/*
 * A target path is what a device asks for and what names a file under
 * repo/targets/: relative, '/'-separated, no empty, "." or ".." component, no
 * backslash and no control character.
 */
static WARD_MUST_USE ward_err check_target_path(const char *p, struct ward_msg *m)
{
	size_t n = strlen(p);

	if (n == 0)
		return ward_msg_set(m, WARD_E_INVAL, "empty target path");
	if (n > REPO_TARGET_MAX)
		return ward_msg_set(m, WARD_E_INVAL, "target path longer than %d bytes",
		                    REPO_TARGET_MAX);
	if (p[0] == '/')
		return ward_msg_set(m, WARD_E_INVAL,
		                    "target path '%s' is absolute; it must be relative", p);
	if (strchr(p, '\\'))
		return ward_msg_set(m, WARD_E_INVAL, "target path '%s' contains a backslash", p);
	if (has_control(p))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "target path contains a control character or is not UTF-8");
	for (const char *c = p;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "target path '%s' has an empty component", p);
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return ward_msg_set(m, WARD_E_INVAL,
			                    "target path '%s' has a '.' or '..' component", p);
		if (!end)
			break;
		c = end + 1;
	}
	return WARD_OK;
}

/* Parse a count option in [1, max]. */
static WARD_MUST_USE ward_err parse_count(const char *opt, const char *s, uint64_t max,
                                          uint64_t *out, struct ward_msg *m)
{
	uint64_t v;

	if (ward_parse_u64(s, &v) != WARD_OK || v < 1 || v > max)
		return ward_msg_set(m, WARD_E_INVAL, "--%s: '%s' is not a number from 1 to %llu",
		                    opt, s, (unsigned long long)max);
	*out = v;
	return WARD_OK;
}

static WARD_MUST_USE ward_err parse_key_type(const char *s, enum ward_key_type *out,
                                             struct ward_msg *m)
{
	if (ward_key_type_parse(s, out) != WARD_OK)
		return ward_msg_set(m, WARD_E_INVAL, "--key-type: '%s' is not ed25519 or ecdsa", s);
	return WARD_OK;
}

/*
 * Parse "ROLE=DURATION" or "ROLE=@YYYY-MM-DDTHH:MM:SSZ"; a bare value is
 * accepted when default_role is given. A time in the past is accepted with a
 * warning (tests and drills need expired metadata).
 */
static WARD_MUST_USE ward_err parse_expiry(const char *arg, const char *default_role, time_t now,
                                           struct expiry *out, struct ward_msg *m)
{
	const char *eq = strrchr(arg, '=');
	const char *val = eq ? eq + 1 : arg;
	size_t rlen = eq ? (size_t)(eq - arg) : 0;
	long long secs;

	if (!eq && !default_role)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--expires '%s': expected ROLE=DURATION (7d, 12h, ...) or "
		                    "ROLE=@YYYY-MM-DDTHH:MM:SSZ",
		                    arg);
	if (eq && (rlen == 0 || rlen > REPO_ROLE_MAX))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--expires '%s': missing or too long role name", arg);
	if (eq) {
		memcpy(out->role, arg, rlen);
		out->role[rlen] = '\0';
	} else if (ward_snprintf(out->role, sizeof(out->role), "%s", default_role) != WARD_OK) {
		return ward_msg_set(m, WARD_E_INVAL, "role name too long");
	}
	if (val[0] == '@') {
		time_t t;
		char when[21];
		if (ward_tuf_time_parse(val + 1, &t) != WARD_OK)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "--expires '%s': '%s' is not YYYY-MM-DDTHH:MM:SSZ", arg,
			                    val + 1);
		if (t <= now) {
			ward_tuf_time_format(t, when);
			fprintf(stderr, "ward: warning: %s will be signed already expired (%s)\n",
			        out->role, when);
		}
		out->at = t;
		return WARD_OK;
	}
	if (cli_parse_duration(val, &secs) != WARD_OK)
		return ward_msg_set(m, WARD_E_INVAL,
		                    "--expires '%s': '%s' is not a positive duration such as 30m, "
		                    "12h, 7d, 2w or 1y",
		                    arg, val);
	out->at = now + (time_t)secs;
	return WARD_OK;
}

/* Lower-case hex SHA-256 of a string (for path_hash_prefixes). */
static WARD_MUST_USE ward_err sha256_hex(const void *data, size_t n,
                                         char out[2 * WARD_SHA256_LEN + 1])
{
	uint8_t d[WARD_SHA256_LEN];
	ward_err e = ward_crypto_hash(WARD_HASH_SHA256, data, n, d);

	if (e == WARD_OK)
		ward_hex_encode(d, sizeof(d), out);
	return e;
}

/* ---- JSON helpers ---------------------------------------------------- */

/* obj[key] = v, stealing v; NULL v (a failed allocation) is WARD_E_NOMEM. */
static WARD_MUST_USE ward_err jset(json_t *obj, const char *key, json_t *v, struct ward_msg *m)
{
	if (!v)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory building metadata");
	if (json_object_set_new(obj, key, v) != 0)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory building metadata");
	return WARD_OK;
}

static WARD_MUST_USE ward_err jappend(json_t *arr, json_t *v, struct ward_msg *m)
{
	if (!v || json_array_append_new(arr, v) != 0)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory building metadata");
	return WARD_OK;
}

static json_t *jint(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static bool json_array_has_string(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) if (json_is_string(v) &&
	                                  !strcmp(json_string_value(v), s)) return true;
	return false;
}

/* {"version": v, "length": len, "hashes": {"sha256": hex}} for snapshot and timestamp. */
static WARD_MUST_USE ward_err meta_entry(uint64_t version, size_t len,
                                         const uint8_t sha[WARD_SHA256_LEN], json_t **out,
                                         struct ward_msg *m)
{
	char hex[2 * WARD_SHA256_LEN + 1];
	json_t *o = json_object(), *h = json_object();
	ward_err e;

	ward_hex_encode(sha, WARD_SHA256_LEN, hex);
	if (!o || !h) {
		json_decref(o);
		json_decref(h);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory building metadata");
	}
	if ((e = jset(h, "sha256", json_string(hex), m)) != WARD_OK ||
	    (e = jset(o, "version", jint(version), m)) != WARD_OK ||
	    (e = jset(o, "length", jint(len), m)) != WARD_OK) {
		json_decref(h);
		json_decref(o);
		return e;
	}
	if ((e = jset(o, "hashes", h, m)) != WARD_OK) {
		json_decref(o);
		return e;
	}
	*out = o;
	return WARD_OK;
}

/* ---- keys ------------------------------------------------------------ */

/* Keys held in memory for signing, with their TUF key ids. Owns the keys. */
struct keyset {
	struct ward_key *k[REPO_MAX_KEYS];              /* private keys */
	char id[REPO_MAX_KEYS][WARD_KEYID_HEX_LEN + 1]; /* key id of each */
	size_t n;                                       /* keys held */
	bool loaded;                                    /* filled from disk already */
};

static void keyset_free(struct keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		ward_crypto_key_free(ks->k[i]);
	ks->n = 0;
	ks->loaded = false;
}

static bool keyset_has(const struct keyset *ks, const char *id)
{
	for (size_t i = 0; i < ks->n; i++)
		if (!strcmp(ks->id[i], id))
			return true;
	return false;
}

/* Numbers n of the files keys/<enc>-<n>.key and .pub of one role, ascending. */
struct keynums {
	unsigned num[REPO_MAX_KEYFILES]; /* the numbers n, ascending */
	size_t n;                        /* how many */
	unsigned max;                    /* highest number seen, 0 when none */
};

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

static WARD_MUST_USE ward_err list_key_files(const char *keysdir, const char *enc,
                                             struct keynums *out, struct ward_msg *m)
{
	size_t elen = strlen(enc);
	struct dirent *de;
	DIR *d;

	out->n = 0;
	out->max = 0;
	d = opendir(keysdir);
	if (!d)
		return ward_msg_set(m, WARD_E_IO, "cannot open %s: %s", keysdir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		const char *s = de->d_name;
		unsigned long v = 0;
		size_t i;

		if (strncmp(s, enc, elen) != 0 || s[elen] != '-')
			continue;
		s += elen + 1;
		for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 7; i++)
			v = v * 10 + (unsigned long)(s[i] - '0');
		if (i == 0 || (strcmp(s + i, ".key") != 0 && strcmp(s + i, ".pub") != 0))
			continue;
		bool dup = false;
		for (size_t j = 0; j < out->n; j++)
			if (out->num[j] == v)
				dup = true;
		if (dup)
			continue;
		if (out->n == REPO_MAX_KEYFILES) {
			closedir(d);
			return ward_msg_set(m, WARD_E_TOOBIG, "more than %d key files for %s in %s",
			                    REPO_MAX_KEYFILES, enc, keysdir);
		}
		out->num[out->n++] = (unsigned)v;
		if (v > out->max)
			out->max = (unsigned)v;
	}
	closedir(d);
	qsort(out->num, out->n, sizeof(out->num[0]), cmp_unsigned);
	return WARD_OK;
}

/* ---- the repository -------------------------------------------------- */

struct role {
	char name[REPO_ROLE_MAX + 1];    /* role name as the metadata writes it */
	char enc[REPO_ENC_MAX];          /* URL-encoded name, for key file names */
	int parent;                      /* index of the delegating role; -1 for top-level roles */
	json_t *sig;                     /* the "signed" object (owned) */
	bool dirty;                      /* to be re-signed and published */
	bool fresh;                      /* created by this command: its version is already set */
	bool has_expires;                /* expires given with --expires */
	time_t expires;                  /* valid when has_expires */
	const struct keyset *signers[2]; /* keys to sign with instead of keys/ (borrowed) */
	size_t nsigners;                 /* 0: load the keys from keys/ */
	struct keyset loaded;            /* keys loaded from keys/ for signing */
	struct ward_buf out;             /* the new file's bytes, once signed */
	uint8_t sha256[WARD_SHA256_LEN]; /* of out */
};

/* Keys generated by this command, written to keys/ in the writing phase. */
struct pending_keys {
	int role;                /* whose keys */
	const struct keyset *ks; /* borrowed */
};

struct repo {
	char dir[PATH_MAX];       /* DIR as given */
	char meta[PATH_MAX];      /* DIR/repo/metadata */
	char keys[PATH_MAX];      /* DIR/keys */
	char targets[PATH_MAX];   /* DIR/repo/targets */
	int lockfd;               /* holds the flock; -1 when not locked */
	bool consistent;          /* root's consistent_snapshot */
	bool encrypted;           /* new keys get the passphrase */
	bool have_keys;           /* keys/ holds a readable key file (else encrypted is a guess) */
	time_t now;               /* one reference time per command */
	struct role *roles;       /* [0..3] top-level, then delegated in load order */
	size_t nroles;            /* roles in use */
	const char *passfile;     /* --passphrase-file or NULL */
	char pass[REPO_PASS_MAX]; /* the repository's passphrase once asked (wiped) */
	size_t passlen;           /* its length */
	bool have_pass;           /* pass holds it */
	struct pending_keys pending[R_TOPLEVEL]; /* new keys to write first */
	size_t npending;                         /* how many */
	struct expiry exp[REPO_MAX_ARGS];        /* --expires, applied when publishing */
	size_t nexp;                             /* how many */
	bool staged;                             /* a target file waits in staged_tmp */
	char staged_tmp[PATH_MAX];               /* its temporary name */
	char staged_final[PATH_MAX];             /* and where it goes */
};

static WARD_MUST_USE ward_err repo_alloc(struct repo *r, const char *dir, struct ward_msg *m)
{
	memset(r, 0, sizeof(*r));
	r->lockfd = -1;
	r->now = time(NULL);
	if (ward_snprintf(r->dir, sizeof(r->dir), "%s", dir) != WARD_OK ||
	    ward_snprintf(r->meta, sizeof(r->meta), "%s/repo/metadata", dir) != WARD_OK ||
	    ward_snprintf(r->keys, sizeof(r->keys), "%s/keys", dir) != WARD_OK ||
	    ward_snprintf(r->targets, sizeof(r->targets), "%s/repo/targets", dir) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long: %s", dir);
	r->roles = calloc(REPO_MAX_ROLES, sizeof(*r->roles));
	if (!r->roles)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	for (int i = 0; i < R_TOPLEVEL; i++) {
		struct role *ro = &r->roles[i];
		if (ward_snprintf(ro->name, sizeof(ro->name), "%s", toplevel_names[i]) != WARD_OK ||
		    ward_snprintf(ro->enc, sizeof(ro->enc), "%s", toplevel_names[i]) != WARD_OK)
			return ward_msg_set(m, WARD_E_INVAL, "role name");
		ro->parent = -1;
	}
	r->nroles = R_TOPLEVEL;
	return WARD_OK;
}

static void repo_free(struct repo *r)
{
	if (r->staged) {
		unlink(r->staged_tmp);
		r->staged = false;
	}
	if (r->roles) {
		for (size_t i = 0; i < r->nroles; i++) {
			json_decref(r->roles[i].sig);
			keyset_free(&r->roles[i].loaded);
			ward_buf_free(&r->roles[i].out);
		}
		free(r->roles);
		r->roles = NULL;
	}
	ward_wipe(r->pass, sizeof(r->pass));
	r->have_pass = false;
	if (r->lockfd >= 0) {
		close(r->lockfd); /* releases the flock */
		r->lockfd = -1;
	}
}

/* Take DIR/.lock: exclusive for changes, shared for reading. Blocks until granted. */
static WARD_MUST_USE ward_err repo_lock(struct repo *r, bool exclusive, struct ward_msg *m)
{
	char path[PATH_MAX];
	ward_err e;

	if ((e = path_join(path, sizeof(path), r->dir, ".lock", m)) != WARD_OK)
		return e;
	r->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (r->lockfd < 0 && !exclusive && (errno == EACCES || errno == EROFS || errno == EPERM))
		r->lockfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (r->lockfd < 0 && !exclusive && (errno == EACCES || errno == EROFS || errno == ENOENT))
		return WARD_OK; /* a read-only copy: readers need no lock, files are replaced
		                   atomically */
	if (r->lockfd < 0)
		return ward_msg_set(m, WARD_E_IO, "cannot open %s: %s", path, strerror(errno));
	while (flock(r->lockfd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno == EINTR)
			continue;
		return ward_msg_set(m, WARD_E_IO, "cannot lock %s: %s", path, strerror(errno));
	}
	return WARD_OK;
}

static WARD_MUST_USE ward_err get_pass(struct repo *r, struct ward_msg *m)
{
	char prompt[PATH_MAX + 64];

	if (r->have_pass)
		return WARD_OK;
	if (ward_snprintf(prompt, sizeof(prompt), "Passphrase for the keys of %s: ", r->dir) !=
	    WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "path too long");
	if (cli_passphrase(r->passfile, prompt, 0, r->pass, sizeof(r->pass), &r->passlen, m) !=
	    WARD_OK)
		return ward_msg_prefix(m, WARD_E_INVAL, "reading the passphrase: ");
	r->have_pass = true;
	return WARD_OK;
}

static int find_role(const struct repo *r, const char *name)
{
	for (size_t i = 0; i < r->nroles; i++)
		if (!strcmp(r->roles[i].name, name))
			return (int)i;
	return -1;
}

static bool is_targets_role(int idx)
{
	return idx == R_TARGETS || idx >= R_TOPLEVEL;
}

/* The entry of delegations.roles in the delegating role that names role idx (idx >= 4). */
static json_t *delegation_entry(const struct repo *r, int idx)
{
	const struct role *ro = &r->roles[idx];
	json_t *dels = json_object_get(r->roles[ro->parent].sig, "delegations");
	json_t *roles = json_object_get(dels, "roles"), *v;
	size_t i;

	json_array_foreach(roles, i, v)
	{
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && !strcmp(n, ro->name))
			return v;
	}
	return NULL;
}

/* Who signs role idx: key ids and threshold from root or the delegating role. */
static WARD_MUST_USE ward_err role_rule(const struct repo *r, int idx, json_t **keyids,
                                        uint64_t *threshold, struct ward_msg *m)
{
	const json_t *rule;
	json_t *t;

	if (idx < R_TOPLEVEL)
		rule = json_object_get(json_object_get(r->roles[R_ROOT].sig, "roles"),
		                       r->roles[idx].name);
	else
		rule = delegation_entry(r, idx);
	*keyids = json_object_get(rule, "keyids");
	t = json_object_get(rule, "threshold");
	if (!json_is_array(*keyids) || !json_is_integer(t) || json_integer_value(t) < 1)
		return ward_msg_set(m, WARD_E_PARSE, "no valid keyids/threshold for role %s",
		                    r->roles[idx].name);
	*threshold = (uint64_t)json_integer_value(t);
	return WARD_OK;
}

/*
 * Load the keys in keys/<enc>-<n>.key whose ids the metadata lists for role
 * idx, asking for the passphrase when a file is encrypted. Fails unless at
 * least the role's threshold of keys is found.
 */
static WARD_MUST_USE ward_err load_role_keys(struct repo *r, int idx, struct keyset *ks,
                                             struct ward_msg *m)
{
	struct role *ro = &r->roles[idx];
	struct keynums nums;
	json_t *keyids;
	uint64_t threshold;
	ward_err e;

	if (ks->loaded)
		return WARD_OK;
	if ((e = role_rule(r, idx, &keyids, &threshold, m)) != WARD_OK)
		return e;
	if ((e = list_key_files(r->keys, ro->enc, &nums, m)) != WARD_OK)
		return e;
	for (size_t i = 0; i < nums.n && ks->n < REPO_MAX_KEYS; i++) {
		char name[REPO_ENC_MAX + 16], path[PATH_MAX], id[WARD_KEYID_HEX_LEN + 1];
		struct ward_key *k = NULL;
		struct stat st;
		bool enc = false;

		if (ward_snprintf(name, sizeof(name), "%s-%u.key", ro->enc, nums.num[i]) !=
		        WARD_OK ||
		    (e = path_join(path, sizeof(path), r->keys, name, m)) != WARD_OK)
			return ward_msg_set(m, WARD_E_TOOBIG, "key file name too long");
		if (stat(path, &st) != 0)
			continue; /* only the .pub is there */
		if ((e = ward_keyfile_is_encrypted(path, &enc, m)) != WARD_OK)
			return e; /* the message names the file */
		if (enc && (e = get_pass(r, m)) != WARD_OK)
			return e;
		e = ward_keyfile_read(path, enc ? r->pass : NULL, enc ? r->passlen : 0, &k, m);
		if (e == WARD_E_VERIFY)
			return ward_msg_set(
			    m, e,
			    "cannot decrypt %s: wrong passphrase (or the key file is "
			    "damaged)",
			    path);
		if (e != WARD_OK)
			return e; /* the message names the file */
		if ((e = ward_key_id(k, id, m)) != WARD_OK) {
			ward_crypto_key_free(k);
			return e;
		}
		if (!json_array_has_string(keyids, id) || keyset_has(ks, id)) {
			ward_crypto_key_free(k); /* a stale key the metadata no longer lists */
			continue;
		}
		ks->k[ks->n] = k;
		memcpy(ks->id[ks->n], id, sizeof(id));
		ks->n++;
	}
	if (ks->n < threshold) {
		e = ward_msg_set(m, WARD_E_NOTFOUND,
		                 "cannot sign %s: %zu of the %llu keys its threshold needs are in "
		                 "%s (files %s-N.key)",
		                 ro->name, ks->n, (unsigned long long)threshold, r->keys, ro->enc);
		keyset_free(ks);
		return e;
	}
	ks->loaded = true;
	return WARD_OK;
}

/* Generate n keys of type t in memory. */
static WARD_MUST_USE ward_err generate_keys(enum ward_key_type t, size_t n, struct keyset *ks,
                                            struct ward_msg *m)
{
	ward_err e;

	for (size_t i = 0; i < n; i++) {
		struct ward_key *k = NULL;
		if ((e = ward_crypto_key_generate(t, &k, m)) != WARD_OK)
			return ward_msg_prefix(m, e, "generating a key: ");
		if ((e = ward_key_id(k, ks->id[ks->n], m)) != WARD_OK) {
			ward_crypto_key_free(k);
			return e;
		}
		ks->k[ks->n++] = k;
	}
	return WARD_OK;
}

/*
 * Write the keys of one role as keys/<enc>-<n>.key (0600, O_EXCL, encrypted
 * unless the repository's keys are plain) and keys/<enc>-<n>.pub, numbering
 * after the highest number already there.
 */
static WARD_MUST_USE ward_err write_keys(struct repo *r, int idx, const struct keyset *ks,
                                         struct ward_msg *m)
{
	const struct role *ro = &r->roles[idx];
	struct ward_buf pub;
	struct keynums nums;
	json_t *obj = NULL;
	ward_err e;

	ward_buf_init(&pub, REPO_PUB_MAX);
	if ((e = list_key_files(r->keys, ro->enc, &nums, m)) != WARD_OK)
		goto out;
	if (r->encrypted && (e = get_pass(r, m)) != WARD_OK)
		goto out;
	for (size_t i = 0; i < ks->n; i++) {
		char name[REPO_ENC_MAX + 16], path[PATH_MAX], comment[REPO_ROLE_MAX + 128];
		unsigned num = nums.max + 1 + (unsigned)i;

		if ((e = ward_snprintf(name, sizeof(name), "%s-%u.key", ro->enc, num)) != WARD_OK ||
		    (e = path_join(path, sizeof(path), r->keys, name, m)) != WARD_OK ||
		    (e = ward_snprintf(comment, sizeof(comment), "ward repo %s key %s", ro->name,
		                       ks->id[i])) != WARD_OK) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "key file name too long");
			goto out;
		}
		e = ward_keyfile_write(path, ks->k[i], r->encrypted ? r->pass : NULL,
		                       r->encrypted ? r->passlen : 0, comment, m);
		if (e != WARD_OK) {
			ward_msg_prefix(m, e, "writing %s: ", path);
			goto out;
		}
		/* The public half, as TUF key JSON, for reference. */
		if ((e = ward_snprintf(name, sizeof(name), "%s-%u.pub", ro->enc, num)) != WARD_OK ||
		    (e = path_join(path, sizeof(path), r->keys, name, m)) != WARD_OK) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "key file name too long");
			goto out;
		}
		if ((e = ward_key_to_tuf(ks->k[i], &obj, m)) != WARD_OK)
			goto out;
		ward_buf_reset(&pub);
		if ((e = ward_json_pretty(obj, &pub, m)) != WARD_OK)
			goto out;
		json_decref(obj);
		obj = NULL;
		if ((e = ward_file_create_excl(path, pub.p, pub.len, 0644, m)) != WARD_OK) {
			ward_msg_prefix(m, e, "writing %s: ", path);
			goto out;
		}
	}
out:
	json_decref(obj);
	ward_buf_free(&pub);
	return e;
}

/*
 * Move the files keys/<enc>-<n>.{key,pub} listed in nums to keys/retired/,
 * never replacing anything there (link, then unlink).
 */
static WARD_MUST_USE ward_err retire_keys(struct repo *r, const char *enc,
                                          const struct keynums *nums, struct ward_msg *m)
{
	static const char *const exts[] = {"key", "pub"};
	char rdir[PATH_MAX];
	ward_err e;

	if ((e = path_join(rdir, sizeof(rdir), r->keys, "retired", m)) != WARD_OK)
		return e;
	if (mkdir(rdir, 0700) != 0 && errno != EEXIST)
		return ward_msg_set(m, WARD_E_IO, "cannot create %s: %s", rdir, strerror(errno));
	for (size_t i = 0; i < nums->n; i++) {
		for (size_t x = 0; x < 2; x++) {
			char name[REPO_ENC_MAX + 32], src[PATH_MAX], dst[PATH_MAX];
			unsigned try;

			if (ward_snprintf(name, sizeof(name), "%s-%u.%s", enc, nums->num[i],
			                  exts[x]) != WARD_OK ||
			    path_join(src, sizeof(src), r->keys, name, m) != WARD_OK)
				return ward_msg_set(m, WARD_E_TOOBIG, "key file name too long");
			if (access(src, F_OK) != 0)
				continue;
			for (try = 0; try < 1000; try++) {
				ward_err pe =
				    try == 0 ? ward_snprintf(dst, sizeof(dst), "%s/%s", rdir, name)
				             : ward_snprintf(dst, sizeof(dst), "%s/%s-%u.%s.%u",
				                             rdir, enc, nums->num[i], exts[x], try);
				if (pe != WARD_OK)
					return ward_msg_set(m, WARD_E_TOOBIG, "path too long in %s",
					                    rdir);
				if (link(src, dst) == 0)
					break;
				if (errno != EEXIST)
					return ward_msg_set(m, WARD_E_IO,
					                    "cannot move %s to %s: %s", src, rdir,
					                    strerror(errno));
			}
			if (try == 1000)
				return ward_msg_set(m, WARD_E_EXISTS, "no free name for %s in %s",
				                    name, rdir);
			if (unlink(src) != 0)
				return ward_msg_set(m, WARD_E_IO, "cannot remove %s: %s", src,
				                    strerror(errno));
			if ((e = ward_fsync_parent(dst, m)) != WARD_OK ||
			    (e = ward_fsync_parent(src, m)) != WARD_OK)
				return e;
		}
	}
	return WARD_OK;
}

/* ---- loading ---------------------------------------------------------- */

static const char *type_name(enum ward_tuf_role t)
{
	switch (t) {
	case WARD_TUF_ROOT:
		return "root";
	case WARD_TUF_TIMESTAMP:
		return "timestamp";
	case WARD_TUF_SNAPSHOT:
		return "snapshot";
	case WARD_TUF_TARGETS:
		return "targets";
	}
	return "?";
}

static size_t max_size(enum ward_tuf_role t)
{
	switch (t) {
	case WARD_TUF_ROOT:
		return WARD_TUF_MAX_ROOT_SIZE;
	case WARD_TUF_TIMESTAMP:
		return WARD_TUF_MAX_TIMESTAMP_SIZE;
	case WARD_TUF_SNAPSHOT:
		return WARD_TUF_MAX_SNAPSHOT_SIZE;
	case WARD_TUF_TARGETS:
		return WARD_TUF_MAX_TARGETS_SIZE;
	}
	return WARD_TUF_MAX_TARGETS_SIZE;
}

static enum ward_tuf_role role_type(int idx)
{
	return idx < R_TOPLEVEL ? toplevel_types[idx] : WARD_TUF_TARGETS;
}

/* Read metadata/<file>; *sig receives its "signed" object after basic checks. */
static WARD_MUST_USE ward_err load_meta(const struct repo *r, const char *file,
                                        enum ward_tuf_role t, json_t **sig, struct ward_msg *m)
{
	struct ward_buf raw = {0};
	json_t *doc = NULL, *s;
	char path[PATH_MAX];
	const char *type;
	uint64_t v;
	ward_err e;

	if ((e = path_join(path, sizeof(path), r->meta, file, m)) != WARD_OK)
		return e;
	if ((e = ward_file_read(path, max_size(t), &raw, m)) != WARD_OK)
		goto out; /* the message names the file */
	if ((e = ward_json_parse(raw.p, raw.len, max_size(t), &doc, m)) != WARD_OK ||
	    (e = ward_json_get_object(doc, "signed", file, &s, m)) != WARD_OK ||
	    (e = ward_json_get_string(s, "_type", file, &type, m)) != WARD_OK ||
	    (e = ward_json_get_u64(s, "version", file, &v, m)) != WARD_OK) {
		ward_msg_prefix(m, e, "%s: ", path);
		goto out;
	}
	if (strcmp(type, type_name(t)) != 0) {
		e = ward_msg_set(m, WARD_E_PARSE, "%s: _type is '%s', expected '%s'", path, type,
		                 type_name(t));
		goto out;
	}
	json_incref(s);
	*sig = s;
out:
	json_decref(doc);
	ward_buf_free(&raw);
	return e;
}

/* Append a delegated role found in role parent's delegations, and load its metadata. */
static WARD_MUST_USE ward_err add_delegated(struct repo *r, int parent, const char *name,
                                            struct ward_msg *m)
{
	char file[REPO_ENC_MAX + 8];
	struct role *ro;
	ward_err e;

	if ((e = check_role_name(name, m)) != WARD_OK)
		return ward_msg_prefix(m, e,
		                       "%s delegates a bad role name: ", r->roles[parent].name);
	if (find_role(r, name) >= 0)
		return ward_msg_set(m, WARD_E_PARSE, "role %s is delegated twice", name);
	if (r->nroles == REPO_MAX_ROLES)
		return ward_msg_set(m, WARD_E_TOOBIG, "more than %d roles", REPO_MAX_ROLES);
	ro = &r->roles[r->nroles];
	memset(ro, 0, sizeof(*ro));
	if (ward_snprintf(ro->name, sizeof(ro->name), "%s", name) != WARD_OK ||
	    ward_tuf_url_encode(name, ro->enc, sizeof(ro->enc)) != WARD_OK ||
	    ward_snprintf(file, sizeof(file), "%s.json", ro->name) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "role name too long: %s", name);
	ro->parent = parent;
	if ((e = load_meta(r, file, WARD_TUF_TARGETS, &ro->sig, m)) != WARD_OK)
		return e;
	r->nroles++;
	return WARD_OK;
}

/* Which kind of keys the repository uses: the first *.key file in keys/ decides. */
static WARD_MUST_USE ward_err detect_encryption(struct repo *r, struct ward_msg *m)
{
	char first[NAME_MAX + 1] = "", path[PATH_MAX];
	struct dirent *de;
	bool enc = true;
	ward_err e;
	DIR *d;

	r->encrypted = true;
	r->have_keys = false;
	d = opendir(r->keys);
	if (!d) {
		if (errno == ENOENT)
			return WARD_OK; /* a copy without keys (a mirror, a status check) */
		return ward_msg_set(m, WARD_E_IO, "cannot open %s: %s", r->keys, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n > 4 && !strcmp(de->d_name + n - 4, ".key") &&
		    (!first[0] || strcmp(de->d_name, first) < 0))
			memcpy(first, de->d_name, n + 1);
	}
	closedir(d);
	if (!first[0])
		return WARD_OK;
	if ((e = path_join(path, sizeof(path), r->keys, first, m)) != WARD_OK)
		return e;
	/* A damaged file is reported when a command needs it, not here. */
	if (ward_keyfile_is_encrypted(path, &enc, NULL) == WARD_OK) {
		r->encrypted = enc;
		r->have_keys = true;
	}
	return WARD_OK;
}

/* Lock DIR and load all published metadata, delegated roles included. */
static WARD_MUST_USE ward_err repo_open(struct repo *r, const char *dir, bool exclusive,
                                        struct ward_msg *m)
{
	static const char *const files[R_TOPLEVEL] = {"root.json", "targets.json", "snapshot.json",
	                                              "timestamp.json"};
	char path[PATH_MAX];
	json_t *cs;
	ward_err e;

	if ((e = repo_alloc(r, dir, m)) != WARD_OK)
		return e;
	if ((e = path_join(path, sizeof(path), r->meta, "root.json", m)) != WARD_OK)
		return e;
	if (access(path, F_OK) != 0)
		return ward_msg_set(m, WARD_E_NOTFOUND,
		                    "%s is not a ward repository (no repo/metadata/root.json); "
		                    "`ward repo init` creates one",
		                    dir);
	if ((e = repo_lock(r, exclusive, m)) != WARD_OK)
		return e;
	for (int i = 0; i < R_TOPLEVEL; i++)
		if ((e = load_meta(r, files[i], toplevel_types[i], &r->roles[i].sig, m)) != WARD_OK)
			return e;
	cs = json_object_get(r->roles[R_ROOT].sig, "consistent_snapshot");
	r->consistent = json_is_true(cs);
	/* Breadth-first through the delegations; r->nroles grows as roles are found. */
	for (size_t i = R_TARGETS; i < r->nroles; i++) {
		json_t *roles, *v;
		size_t j;

		if (!is_targets_role((int)i))
			continue;
		roles = json_object_get(json_object_get(r->roles[i].sig, "delegations"), "roles");
		json_array_foreach(roles, j, v)
		{
			const char *name = json_string_value(json_object_get(v, "name"));
			if (!name)
				return ward_msg_set(m, WARD_E_PARSE,
				                    "%s: delegation without a name",
				                    r->roles[i].name);
			if ((e = add_delegated(r, (int)i, name, m)) != WARD_OK)
				return e;
		}
	}
	return detect_encryption(r, m);
}

/* ---- signing and publishing ------------------------------------------ */

/* Bump version (unless fresh), set expiry and spec_version, sign, serialise. */
static WARD_MUST_USE ward_err sign_role(struct repo *r, int idx, struct ward_msg *m)
{
	struct role *ro = &r->roles[idx];
	struct ward_key *keys[2 * REPO_MAX_KEYS];
	const char *ids[2 * REPO_MAX_KEYS];
	const struct keyset *sets[2];
	size_t nsets, nkeys = 0;
	json_t *env = NULL;
	char when[21];
	uint64_t v;
	ward_err e;

	if ((e = ward_json_get_u64(ro->sig, "version", ro->name, &v, m)) != WARD_OK)
		return e;
	if (!ro->fresh) {
		if (v >= (uint64_t)INT64_MAX)
			return ward_msg_set(m, WARD_E_INVAL, "%s: version cannot grow further",
			                    ro->name);
		v++;
	}
	ward_tuf_time_format(
	    ro->has_expires ? ro->expires
	                    : r->now + (time_t)default_lifetime(idx < R_TOPLEVEL ? idx : R_TARGETS),
	    when);
	if ((e = jset(ro->sig, "version", jint(v), m)) != WARD_OK ||
	    (e = jset(ro->sig, "expires", json_string(when), m)) != WARD_OK ||
	    (e = jset(ro->sig, "spec_version", json_string(WARD_TUF_SPEC_VERSION), m)) != WARD_OK)
		return e;
	if (ro->nsigners) {
		sets[0] = ro->signers[0];
		sets[1] = ro->signers[1];
		nsets = ro->nsigners;
	} else {
		sets[0] = &ro->loaded;
		nsets = 1;
	}
	for (size_t s = 0; s < nsets; s++)
		for (size_t i = 0; i < sets[s]->n; i++) {
			bool dup = false;
			for (size_t j = 0; j < nkeys; j++)
				if (!strcmp(ids[j], sets[s]->id[i]))
					dup = true;
			if (dup)
				continue;
			keys[nkeys] = sets[s]->k[i];
			ids[nkeys++] = sets[s]->id[i];
		}
	if (nkeys == 0)
		return ward_msg_set(m, WARD_E_NOTFOUND, "no keys to sign %s with", ro->name);
	if ((e = ward_tuf_meta_sign(ro->sig, keys, nkeys, &env, m)) != WARD_OK) {
		ward_msg_prefix(m, e, "signing %s: ", ro->name);
		goto out;
	}
	ward_buf_free(&ro->out);
	ward_buf_init(&ro->out, max_size(role_type(idx)));
	if ((e = ward_json_pretty(env, &ro->out, m)) != WARD_OK) {
		ward_msg_prefix(m, e,
		                "%s metadata (a client accepts at most %zu bytes): ", ro->name,
		                max_size(role_type(idx)));
		goto out;
	}
	if ((e = ward_crypto_hash(WARD_HASH_SHA256, ro->out.p, ro->out.len, ro->sha256)) != WARD_OK)
		goto out;
out:
	json_decref(env);
	return e;
}

/* Length and SHA-256 of a published metadata file that this command does not change. */
static WARD_MUST_USE ward_err hash_published(const struct repo *r, const char *file,
                                             enum ward_tuf_role t, size_t *len,
                                             uint8_t sha[WARD_SHA256_LEN], struct ward_msg *m)
{
	struct ward_buf raw = {0};
	char path[PATH_MAX];
	ward_err e;

	if ((e = path_join(path, sizeof(path), r->meta, file, m)) != WARD_OK)
		return e;
	if ((e = ward_file_read(path, max_size(t), &raw, m)) != WARD_OK)
		return e; /* the message names the file */
	*len = raw.len;
	e = ward_crypto_hash(WARD_HASH_SHA256, raw.p, raw.len, sha);
	ward_buf_free(&raw);
	return e;
}

/* snapshot.meta: targets.json and every delegated role, with version, length and sha256. */
static WARD_MUST_USE ward_err build_snapshot_meta(struct repo *r, struct ward_msg *m)
{
	json_t *meta = json_object();
	ward_err e = WARD_OK;

	if (!meta)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	for (size_t i = R_TARGETS; i < r->nroles; i++) {
		struct role *ro = &r->roles[i];
		char name[REPO_ROLE_MAX + 8], file[REPO_ENC_MAX + 8];
		uint8_t sha[WARD_SHA256_LEN];
		json_t *ent = NULL;
		uint64_t v;
		size_t len;

		if (!is_targets_role((int)i))
			continue;
		if (ward_snprintf(name, sizeof(name), "%s.json", ro->name) != WARD_OK ||
		    ward_snprintf(file, sizeof(file), "%s.json", ro->name) != WARD_OK) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "role name too long");
			goto out;
		}
		if ((e = ward_json_get_u64(ro->sig, "version", ro->name, &v, m)) != WARD_OK)
			goto out;
		if (ro->dirty) {
			len = ro->out.len;
			memcpy(sha, ro->sha256, sizeof(sha));
		} else if ((e = hash_published(r, file, WARD_TUF_TARGETS, &len, sha, m)) !=
		           WARD_OK) {
			goto out;
		}
		if ((e = meta_entry(v, len, sha, &ent, m)) != WARD_OK ||
		    (e = jset(meta, name, ent, m)) != WARD_OK)
			goto out;
	}
	e = jset(r->roles[R_SNAPSHOT].sig, "meta", meta, m);
	meta = NULL;
out:
	json_decref(meta);
	return e;
}

static WARD_MUST_USE ward_err build_timestamp_meta(struct repo *r, struct ward_msg *m)
{
	struct role *snap = &r->roles[R_SNAPSHOT];
	uint8_t sha[WARD_SHA256_LEN];
	json_t *meta, *ent = NULL;
	uint64_t v;
	size_t len;
	ward_err e;

	if ((e = ward_json_get_u64(snap->sig, "version", "snapshot", &v, m)) != WARD_OK)
		return e;
	if (snap->dirty) {
		len = snap->out.len;
		memcpy(sha, snap->sha256, sizeof(sha));
	} else if ((e = hash_published(r, "snapshot.json", WARD_TUF_SNAPSHOT, &len, sha, m)) !=
	           WARD_OK) {
		return e;
	}
	if ((e = meta_entry(v, len, sha, &ent, m)) != WARD_OK)
		return e;
	meta = json_object();
	if (!meta) {
		json_decref(ent);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	if ((e = jset(meta, "snapshot.json", ent, m)) != WARD_OK) {
		json_decref(meta);
		return e;
	}
	return jset(r->roles[R_TIMESTAMP].sig, "meta", meta, m);
}

/*
 * Write one signed role: versioned name first (root always, others with
 * consistent snapshots). Files carry the raw role name: a client asks for
 * "<v>.<URL-encoded role>.json" and the web server percent-decodes the request
 * path back to this name before it looks for the file.
 */
static WARD_MUST_USE ward_err write_role(struct repo *r, int idx, struct ward_msg *m)
{
	struct role *ro = &r->roles[idx];
	char file[REPO_ENC_MAX + 32], path[PATH_MAX];
	uint64_t v;
	ward_err e;

	if ((e = ward_json_get_u64(ro->sig, "version", ro->name, &v, m)) != WARD_OK)
		return e;
	if (idx == R_ROOT || (r->consistent && idx != R_TIMESTAMP)) {
		if (ward_snprintf(file, sizeof(file), "%llu.%s.json", (unsigned long long)v,
		                  ro->name) != WARD_OK ||
		    path_join(path, sizeof(path), r->meta, file, m) != WARD_OK)
			return ward_msg_set(m, WARD_E_TOOBIG, "metadata file name too long");
		if ((e = ward_file_write_atomic(path, ro->out.p, ro->out.len, 0644, m)) != WARD_OK)
			return ward_msg_prefix(m, e, "writing %s: ", path);
	}
	if (ward_snprintf(file, sizeof(file), "%s.json", ro->name) != WARD_OK ||
	    path_join(path, sizeof(path), r->meta, file, m) != WARD_OK)
		return ward_msg_set(m, WARD_E_TOOBIG, "metadata file name too long");
	if ((e = ward_file_write_atomic(path, ro->out.p, ro->out.len, 0644, m)) != WARD_OK)
		return ward_msg_prefix(m, e, "writing %s: ", path);
	return WARD_OK;
}

/*
 * Sign every changed role and publish. Phases: settle which roles change
 * (a targets role drags snapshot, snapshot drags timestamp), apply
 * --expires, load keys, sign in memory; then write new key files, the staged
 * target, root, delegated roles, targets, snapshot and timestamp last.
 */
static WARD_MUST_USE ward_err publish(struct repo *r, struct ward_msg *m)
{
	ward_err e;

	for (size_t i = R_TARGETS; i < r->nroles; i++)
		if (is_targets_role((int)i) && r->roles[i].dirty)
			r->roles[R_SNAPSHOT].dirty = true;
	if (r->roles[R_SNAPSHOT].dirty)
		r->roles[R_TIMESTAMP].dirty = true;
	for (size_t i = 0; i < r->nexp; i++) {
		int idx = find_role(r, r->exp[i].role);
		if (idx < 0)
			return ward_msg_set(m, WARD_E_NOTFOUND, "--expires: no role '%s' in %s",
			                    r->exp[i].role, r->dir);
		if (!r->roles[idx].dirty)
			return ward_msg_set(m, WARD_E_INVAL,
			                    "--expires: this command does not re-sign %s",
			                    r->exp[i].role);
		r->roles[idx].has_expires = true;
		r->roles[idx].expires = r->exp[i].at;
	}
	/* Every key before any signature: a wrong passphrase stops us here. */
	for (size_t i = 0; i < r->nroles; i++)
		if (r->roles[i].dirty && !r->roles[i].nsigners &&
		    (e = load_role_keys(r, (int)i, &r->roles[i].loaded, m)) != WARD_OK)
			return e;
	for (size_t i = R_TARGETS; i < r->nroles; i++)
		if (is_targets_role((int)i) && r->roles[i].dirty &&
		    (e = sign_role(r, (int)i, m)) != WARD_OK)
			return e;
	if (r->roles[R_ROOT].dirty && (e = sign_role(r, R_ROOT, m)) != WARD_OK)
		return e;
	if (r->roles[R_SNAPSHOT].dirty && ((e = build_snapshot_meta(r, m)) != WARD_OK ||
	                                   (e = sign_role(r, R_SNAPSHOT, m)) != WARD_OK))
		return e;
	if (r->roles[R_TIMESTAMP].dirty && ((e = build_timestamp_meta(r, m)) != WARD_OK ||
	                                    (e = sign_role(r, R_TIMESTAMP, m)) != WARD_OK))
		return e;

	/* Writing phase. New private keys first: nothing may name a key we could lose. */
	for (size_t i = 0; i < r->npending; i++)
		if ((e = write_keys(r, r->pending[i].role, r->pending[i].ks, m)) != WARD_OK)
			return e;
	if (r->staged) {
		if (rename(r->staged_tmp, r->staged_final) != 0)
			return ward_msg_set(m, WARD_E_IO, "cannot move target into place at %s: %s",
			                    r->staged_final, strerror(errno));
		r->staged = false;
		if ((e = ward_fsync_parent(r->staged_final, m)) != WARD_OK)
			return e;
	}
	if (r->roles[R_ROOT].dirty && (e = write_role(r, R_ROOT, m)) != WARD_OK)
		return e;
	for (size_t i = R_TOPLEVEL; i < r->nroles; i++)
		if (r->roles[i].dirty && (e = write_role(r, (int)i, m)) != WARD_OK)
			return e;
	if (r->roles[R_TARGETS].dirty && (e = write_role(r, R_TARGETS, m)) != WARD_OK)
		return e;
	if (r->roles[R_SNAPSHOT].dirty && (e = write_role(r, R_SNAPSHOT, m)) != WARD_OK)
		return e;
	if (r->roles[R_TIMESTAMP].dirty && (e = write_role(r, R_TIMESTAMP, m)) != WARD_OK)
		return e;
	return WARD_OK;
}

/* Print one line per published role: "<role> version <v>, expires <t>". */
static void print_published(const struct repo *r)
{
	for (size_t i = 0; i < r->nroles; i++) {
		const struct role *ro = &r->roles[i];
		if (!ro->dirty)
			continue;
		printf("  %-12s version %lld, expires %s\n", ro->name,
		       (long long)json_integer_value(json_object_get(ro->sig, "version")),
		       json_string_value(json_object_get(ro->sig, "expires")));
	}
}

/* Hand the parsed --expires to the repository; publish() applies them. */
static void collect_expiries(struct repo *r, const struct args *a)
{
	memcpy(r->exp, a->exp, a->nexp * sizeof(a->exp[0]));
	r->nexp = a->nexp;
}

/* ---- metadata skeletons ----------------------------------------------- */

/* {"_type": t, "spec_version", "version": 1, "expires": placeholder} */
static WARD_MUST_USE ward_err new_signed(const char *type, json_t **out, struct ward_msg *m)
{
	json_t *o = json_object();
	ward_err e;

	if (!o)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	if ((e = jset(o, "_type", json_string(type), m)) != WARD_OK ||
	    (e = jset(o, "spec_version", json_string(WARD_TUF_SPEC_VERSION), m)) != WARD_OK ||
	    (e = jset(o, "version", jint(1), m)) != WARD_OK ||
	    (e = jset(o, "expires", json_string("1970-01-01T00:00:00Z"), m)) != WARD_OK) {
		json_decref(o);
		return e;
	}
	*out = o;
	return WARD_OK;
}

/* Add each key of ks to keysobj ({keyid: key}) and return their ids as a JSON array. */
static WARD_MUST_USE ward_err add_keys(json_t *keysobj, const struct keyset *ks, json_t **ids,
                                       struct ward_msg *m)
{
	json_t *arr = json_array();
	ward_err e = WARD_OK;

	if (!arr)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	for (size_t i = 0; i < ks->n; i++) {
		json_t *k = NULL;
		if ((e = ward_key_to_tuf(ks->k[i], &k, m)) != WARD_OK ||
		    (e = jset(keysobj, ks->id[i], k, m)) != WARD_OK ||
		    (e = jappend(arr, json_string(ks->id[i]), m)) != WARD_OK) {
			json_decref(arr);
			return e;
		}
	}
	*ids = arr;
	return WARD_OK;
}

/* {"keyids": ids, "threshold": t} — steals ids. */
static WARD_MUST_USE ward_err role_rule_obj(json_t *ids, uint64_t threshold, json_t **out,
                                            struct ward_msg *m)
{
	json_t *o = json_object();
	ward_err e;

	if (!o) {
		json_decref(ids);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	if ((e = jset(o, "keyids", ids, m)) != WARD_OK ||
	    (e = jset(o, "threshold", jint(threshold), m)) != WARD_OK) {
		json_decref(o);
		return e;
	}
	*out = o;
	return WARD_OK;
}

/* Remove from keysobj every key id that none of the rules lists. */
static void prune_keys(json_t *keysobj, json_t *const *rules, size_t nrules)
{
	const char *id;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(keysobj, tmp, id, v)
	{
		bool used = false;
		for (size_t i = 0; i < nrules; i++)
			if (json_array_has_string(json_object_get(rules[i], "keyids"), id))
				used = true;
		if (!used)
			json_object_del(keysobj, id);
	}
}

/* Remove from root's keys every key no top-level role lists. */
static void prune_root_keys(struct repo *r)
{
	json_t *roles = json_object_get(r->roles[R_ROOT].sig, "roles");
	json_t *rules[R_TOPLEVEL];

	for (int i = 0; i < R_TOPLEVEL; i++)
		rules[i] = json_object_get(roles, toplevel_names[i]);
	prune_keys(json_object_get(r->roles[R_ROOT].sig, "keys"), rules, R_TOPLEVEL);
}

/* Remove from a delegating role's delegations.keys every key no delegation lists. */
static void prune_delegation_keys(json_t *sig)
{
	json_t *dels = json_object_get(sig, "delegations");
	json_t *roles = json_object_get(dels, "roles"), *v;
	json_t *rules[REPO_MAX_ROLES];
	size_t i, n = 0;

	json_array_foreach(roles, i, v) if (n < REPO_MAX_ROLES) rules[n++] = v;
	prune_keys(json_object_get(dels, "keys"), rules, n);
}

/* ---- commands ----------------------------------------------------------- */

/* Is DIR absent or an empty directory? */
static WARD_MUST_USE ward_err check_empty_dir(const char *dir, bool *exists, struct ward_msg *m)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	*exists = false;
	if (!d) {
		if (errno == ENOENT)
			return WARD_OK;
		return ward_msg_set(m, WARD_E_IO, "cannot open %s: %s", dir, strerror(errno));
	}
	*exists = true;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		closedir(d);
		return ward_msg_set(
		    m, WARD_E_EXISTS,
		    "%s exists and is not empty; init only creates new repositories", dir);
	}
	closedir(d);
	return WARD_OK;
}

static int cmd_init(const struct args *a)
{
	struct ward_msg m = {0};
	struct repo r;
	struct keyset ks[R_TOPLEVEL];
	enum ward_key_type kt = WARD_KEY_ED25519;
	uint64_t nroot = 1, kroot = 1;
	bool exists;
	int rc = EX_FAIL;
	ward_err e;

	memset(ks, 0, sizeof(ks));
	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if ((a->set[OPT_KEY_TYPE] && parse_key_type(a->val[OPT_KEY_TYPE], &kt, &m) != WARD_OK) ||
	    (a->set[OPT_ROOT_KEYS] && parse_count("root-keys", a->val[OPT_ROOT_KEYS], REPO_MAX_KEYS,
	                                          &nroot, &m) != WARD_OK) ||
	    (a->set[OPT_ROOT_THRESHOLD] && parse_count("root-threshold", a->val[OPT_ROOT_THRESHOLD],
	                                               REPO_MAX_KEYS, &kroot, &m) != WARD_OK)) {
		cli_error("repo init: %s", m.text);
		return EX_USAGE;
	}
	if (kroot > nroot) {
		cli_error("repo init: --root-threshold %llu is more than the %llu root keys",
		          (unsigned long long)kroot, (unsigned long long)nroot);
		return EX_USAGE;
	}
	if ((e = repo_alloc(&r, a->pos[0], &m)) != WARD_OK)
		goto out;
	r.consistent = !a->set[OPT_NO_CONSISTENT];
	r.encrypted = !a->set[OPT_UNENCRYPTED];
	r.passfile = a->val[OPT_PASSFILE];
	for (size_t i = 0; i < a->nexp; i++) {
		if (!is_toplevel_name(a->exp[i].role)) {
			cli_error("repo init: --expires: '%s' is not root, targets, snapshot or "
			          "timestamp",
			          a->exp[i].role);
			rc = EX_USAGE;
			goto out;
		}
	}
	collect_expiries(&r, a);
	/* Everything that can fail on input or at the terminal before anything is created. */
	if ((e = check_empty_dir(r.dir, &exists, &m)) != WARD_OK)
		goto out;
	if (r.encrypted) {
		char prompt[PATH_MAX + 64];
		if ((e = ward_snprintf(prompt, sizeof(prompt),
		                       "New passphrase for the keys of %s: ", r.dir)) != WARD_OK) {
			e = ward_msg_set(&m, e, "path too long");
			goto out;
		}
		if ((e = cli_passphrase(r.passfile, prompt, 1, r.pass, sizeof(r.pass), &r.passlen,
		                        &m)) != WARD_OK) {
			ward_msg_prefix(&m, e, "reading the passphrase: ");
			goto out;
		}
		r.have_pass = true;
	}
	if (!exists && (e = ward_mkdir_p(r.dir, 0755, &m)) != WARD_OK)
		goto out;
	if ((e = repo_lock(&r, true, &m)) != WARD_OK)
		goto out;
	/* Another init may have won the race for the lock. */
	if (mkdir(r.keys, 0700) != 0) {
		e = ward_msg_set(&m, WARD_E_EXISTS, "cannot create %s: %s", r.keys,
		                 strerror(errno));
		goto out;
	}
	if ((e = ward_mkdir_p(r.meta, 0755, &m)) != WARD_OK ||
	    (e = ward_mkdir_p(r.targets, 0755, &m)) != WARD_OK)
		goto out;

	/* Keys in memory, then metadata version 1 of every role. */
	for (int i = 0; i < R_TOPLEVEL; i++) {
		if ((e = generate_keys(kt, i == R_ROOT ? (size_t)nroot : 1, &ks[i], &m)) != WARD_OK)
			goto out;
		r.pending[r.npending].role = i;
		r.pending[r.npending++].ks = &ks[i];
		r.roles[i].signers[0] = &ks[i];
		r.roles[i].nsigners = 1;
		r.roles[i].fresh = true;
		r.roles[i].dirty = true;
		if ((e = new_signed(toplevel_names[i], &r.roles[i].sig, &m)) != WARD_OK)
			goto out;
	}
	{
		json_t *root = r.roles[R_ROOT].sig, *keys = json_object(), *roles = json_object();
		if ((e = jset(root, "keys", keys, &m)) != WARD_OK ||
		    (e = jset(root, "roles", roles, &m)) != WARD_OK ||
		    (e = jset(root, "consistent_snapshot", json_boolean(r.consistent), &m)) !=
		        WARD_OK)
			goto out;
		for (int i = 0; i < R_TOPLEVEL; i++) {
			json_t *ids = NULL, *rule = NULL;
			if ((e = add_keys(keys, &ks[i], &ids, &m)) != WARD_OK ||
			    (e = role_rule_obj(ids, i == R_ROOT ? kroot : 1, &rule, &m)) !=
			        WARD_OK ||
			    (e = jset(roles, toplevel_names[i], rule, &m)) != WARD_OK)
				goto out;
		}
		if ((e = jset(r.roles[R_TARGETS].sig, "targets", json_object(), &m)) != WARD_OK ||
		    (e = jset(r.roles[R_SNAPSHOT].sig, "meta", json_object(), &m)) != WARD_OK ||
		    (e = jset(r.roles[R_TIMESTAMP].sig, "meta", json_object(), &m)) != WARD_OK)
			goto out;
	}
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	printf("created repository %s (%s keys, %s, consistent snapshots %s)\n", r.dir,
	       kt == WARD_KEY_ED25519 ? "ed25519" : "ecdsa",
	       r.encrypted ? "passphrase-protected" : "UNENCRYPTED", r.consistent ? "on" : "off");
	print_published(&r);
	printf("keep %s offline: it holds the root and targets keys\n", r.keys);
	rc = EX_SUCCESS;
out:
	if (rc == EX_FAIL)
		cli_error("repo init %s: %s", a->pos[0], m.text);
	for (int i = 0; i < R_TOPLEVEL; i++)
		keyset_free(&ks[i]);
	repo_free(&r);
	return rc;
}

/* Role idx is a targets role that exists; else a message. */
static WARD_MUST_USE ward_err targets_role(const struct repo *r, const char *name, int *idx,
                                           struct ward_msg *m)
{
	int i = find_role(r, name);

	if (i < 0)
		return ward_msg_set(m, WARD_E_NOTFOUND, "no role '%s' in %s", name, r->dir);
	if (!is_targets_role(i))
		return ward_msg_set(m, WARD_E_INVAL,
		                    "%s is not a targets role (it lists no targets)", name);
	*idx = i;
	return WARD_OK;
}

/*
 * A target path added to a delegated role must be one that every delegation
 * on the way from targets allows, or no client would ever look for it there.
 */
static WARD_MUST_USE ward_err check_delegated_path(const struct repo *r, int idx, const char *path,
                                                   struct ward_msg *m)
{
	char hex[2 * WARD_SHA256_LEN + 1];
	ward_err e;

	if ((e = sha256_hex(path, strlen(path), hex)) != WARD_OK)
		return e;
	for (; idx >= R_TOPLEVEL; idx = r->roles[idx].parent) {
		json_t *ent = delegation_entry(r, idx), *v;
		json_t *paths = json_object_get(ent, "paths");
		json_t *prefixes = json_object_get(ent, "path_hash_prefixes");
		bool ok = false;
		size_t i;

		json_array_foreach(paths, i, v) if (json_is_string(v) &&
		                                    ward_tuf_path_match(json_string_value(v), path))
		    ok = true;
		json_array_foreach(prefixes, i, v)
		{
			const char *p = json_string_value(v);
			if (p && !strncmp(hex, p, strlen(p)))
				ok = true;
		}
		if (!ok)
			return ward_msg_set(
			    m, WARD_E_INVAL,
			    "target path '%s' is outside the paths %s delegates to %s", path,
			    r->roles[r->roles[idx].parent].name, r->roles[idx].name);
	}
	return WARD_OK;
}

/*
 * Copy src into a temporary file beside where the target goes, hashing as
 * it is copied (the stored file is exactly what was hashed). publish()
 * renames it into place.
 */
static WARD_MUST_USE ward_err stage_target(struct repo *r, const char *src, const char *tpath,
                                           uint64_t *length, uint8_t sha[WARD_SHA256_LEN],
                                           struct ward_msg *m)
{
	const char *slash = strrchr(tpath, '/');
	const char *base = slash ? slash + 1 : tpath;
	char tdir[PATH_MAX], hex[2 * WARD_SHA256_LEN + 1];
	struct ward_hash *h = NULL;
	uint8_t *buf = NULL;
	uint64_t total = 0;
	int in = -1, out = -1;
	struct stat st;
	ward_err e = WARD_OK;

	in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0) {
		e = ward_msg_set(m, WARD_E_NOTFOUND, "cannot open %s: %s", src, strerror(errno));
		goto out;
	}
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		e = ward_msg_set(m, WARD_E_INVAL, "%s is not a regular file", src);
		goto out;
	}
	if (slash) {
		if (ward_snprintf(tdir, sizeof(tdir), "%s/%.*s", r->targets, (int)(slash - tpath),
		                  tpath) != WARD_OK) {
			e = ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
			goto out;
		}
	} else if (ward_snprintf(tdir, sizeof(tdir), "%s", r->targets) != WARD_OK) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
		goto out;
	}
	if ((e = ward_mkdir_p(tdir, 0755, m)) != WARD_OK) {
		ward_msg_prefix(m, e, "target path '%s' conflicts with a published file: ", tpath);
		goto out;
	}
	if ((e = path_join(r->staged_tmp, sizeof(r->staged_tmp), tdir, ".ward-staging.XXXXXX",
	                   m)) != WARD_OK)
		goto out;
	out = mkstemp(r->staged_tmp);
	if (out < 0) {
		e = ward_msg_set(m, WARD_E_IO, "cannot create a file in %s: %s", tdir,
		                 strerror(errno));
		goto out;
	}
	r->staged = true;
	if (fchmod(out, 0644) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "chmod %s: %s", r->staged_tmp, strerror(errno));
		goto out;
	}
	buf = malloc(REPO_COPY_CHUNK);
	if (!buf) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = ward_crypto_hash_new(WARD_HASH_SHA256, &h)) != WARD_OK) {
		ward_msg_set(m, e, "cannot start a hash");
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, REPO_COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = ward_msg_set(m, WARD_E_IO, "reading %s: %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((e = ward_crypto_hash_update(h, buf, (size_t)n)) != WARD_OK) {
			ward_msg_set(m, e, "hashing %s", src);
			goto out;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				e = ward_msg_set(m, WARD_E_IO, "writing %s: %s", r->staged_tmp,
				                 strerror(errno));
				goto out;
			}
			off += w;
		}
		total += (uint64_t)n;
	}
	if ((e = ward_crypto_hash_final(h, sha)) != WARD_OK) {
		ward_msg_set(m, e, "hashing %s", src);
		goto out;
	}
	if (fsync(out) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "fsync %s: %s", r->staged_tmp, strerror(errno));
		goto out;
	}
	ward_hex_encode(sha, WARD_SHA256_LEN, hex);
	if (r->consistent)
		e = ward_snprintf(r->staged_final, sizeof(r->staged_final), "%s/%s.%s", tdir, hex,
		                  base);
	else
		e = path_join(r->staged_final, sizeof(r->staged_final), r->targets, tpath, m);
	if (e != WARD_OK) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "target path too long");
		goto out;
	}
	if (lstat(r->staged_final, &st) == 0 && !S_ISREG(st.st_mode)) {
		e = ward_msg_set(m, WARD_E_EXISTS, "%s exists and is not a regular file",
		                 r->staged_final);
		goto out;
	}
	*length = total;
out:
	ward_crypto_hash_free(h);
	free(buf);
	if (out >= 0 && close(out) != 0 && e == WARD_OK)
		e = ward_msg_set(m, WARD_E_IO, "closing %s: %s", r->staged_tmp, strerror(errno));
	if (in >= 0)
		close(in);
	if (e != WARD_OK && r->staged) {
		unlink(r->staged_tmp);
		r->staged = false;
	}
	return e;
}

/* The "custom" object of a target: --custom, then the named options over it. */
static WARD_MUST_USE ward_err build_custom(const struct args *a, json_t **out, struct ward_msg *m)
{
	struct ward_buf canon;
	json_t *c = NULL;
	ward_err e = WARD_OK;

	ward_buf_init(&canon, REPO_CUSTOM_MAX * 2);
	if (a->set[OPT_CUSTOM]) {
		const char *s = a->val[OPT_CUSTOM];
		if ((e = ward_json_parse(s, strlen(s), REPO_CUSTOM_MAX, &c, m)) != WARD_OK) {
			ward_msg_prefix(m, e, "--custom: ");
			goto out;
		}
		if (!json_is_object(c)) {
			e = ward_msg_set(m, WARD_E_PARSE, "--custom must be a JSON object");
			goto out;
		}
		/* Canonical JSON has no floats: refuse now rather than when signing. */
		if ((e = ward_json_canonical(c, &canon, m)) != WARD_OK) {
			ward_msg_prefix(m, e, "--custom: ");
			goto out;
		}
	} else if (!(c = json_object())) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if (a->set[OPT_HWID] &&
	    (e = jset(c, "hardware_id", json_string(a->val[OPT_HWID]), m)) != WARD_OK)
		goto out;
	if (a->set[OPT_VERSION] &&
	    (e = jset(c, "version", json_string(a->val[OPT_VERSION]), m)) != WARD_OK)
		goto out;
	if (a->set[OPT_INSTALL_TYPE] &&
	    (e = jset(c, "install_type", json_string(a->val[OPT_INSTALL_TYPE]), m)) != WARD_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	json_decref(c);
	ward_buf_free(&canon);
	return e;
}

/* Values of --hardware-id / --version: non-empty, no control characters, valid UTF-8 left to
 * jansson. */
static WARD_MUST_USE ward_err check_label(const char *opt, const char *v, struct ward_msg *m)
{
	if (!*v || strlen(v) > 256 || has_control(v))
		return ward_msg_set(
		    m, WARD_E_INVAL,
		    "--%s: must be 1 to 256 bytes of UTF-8 without control characters", opt);
	return WARD_OK;
}

/* Everything about `add` that can be checked before the repository is opened. */
static WARD_MUST_USE ward_err check_add_args(const struct args *a, const char *tpath,
                                             json_t **custom, struct ward_msg *m)
{
	const char *it = a->val[OPT_INSTALL_TYPE];
	ward_err e;

	if ((e = check_target_path(tpath, m)) != WARD_OK)
		return e;
	if (a->set[OPT_INSTALL_TYPE] && strcmp(it, "full") != 0 && strcmp(it, "delta") != 0)
		return ward_msg_set(m, WARD_E_INVAL, "--install-type: '%s' is not full or delta",
		                    it);
	if (a->set[OPT_HWID] && (e = check_label("hardware-id", a->val[OPT_HWID], m)) != WARD_OK)
		return e;
	if (a->set[OPT_VERSION] && (e = check_label("version", a->val[OPT_VERSION], m)) != WARD_OK)
		return e;
	return build_custom(a, custom, m);
}

static int cmd_add(const struct args *a)
{
	struct ward_msg m = {0};
	const char *file = a->pos[1], *tpath, *rname;
	uint8_t sha[WARD_SHA256_LEN];
	char hex[2 * WARD_SHA256_LEN + 1];
	json_t *custom = NULL, *ent = NULL, *hashes = NULL, *targets;
	struct repo r;
	uint64_t length = 0;
	bool replaced;
	int idx = 0, rc = EX_FAIL; /* set by targets_role */
	ward_err e;

	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	rname = a->set[OPT_ROLE] ? a->val[OPT_ROLE] : "targets";
	if (a->set[OPT_NAME]) {
		tpath = a->val[OPT_NAME];
	} else {
		const char *s = strrchr(file, '/');
		tpath = s ? s + 1 : file;
	}
	if (check_add_args(a, tpath, &custom, &m) != WARD_OK) {
		cli_error("repo add: %s", m.text);
		return EX_USAGE;
	}
	if ((e = repo_open(&r, a->pos[0], true, &m)) != WARD_OK)
		goto out;
	r.passfile = a->val[OPT_PASSFILE];
	collect_expiries(&r, a);
	if ((e = targets_role(&r, rname, &idx, &m)) != WARD_OK ||
	    (e = check_delegated_path(&r, idx, tpath, &m)) != WARD_OK ||
	    (e = stage_target(&r, file, tpath, &length, sha, &m)) != WARD_OK)
		goto out;
	ward_hex_encode(sha, sizeof(sha), hex);
	ent = json_object();
	hashes = json_object();
	if (!ent || !hashes) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = jset(hashes, "sha256", json_string(hex), &m)) != WARD_OK ||
	    (e = jset(ent, "length", jint(length), &m)) != WARD_OK)
		goto out;
	e = jset(ent, "hashes", hashes, &m);
	hashes = NULL;
	if (e != WARD_OK)
		goto out;
	e = jset(ent, "custom", custom, &m);
	custom = NULL;
	if (e != WARD_OK)
		goto out;
	targets = json_object_get(r.roles[idx].sig, "targets");
	if (!json_is_object(targets)) {
		e = ward_msg_set(&m, WARD_E_PARSE, "%s has no targets object", rname);
		goto out;
	}
	replaced = json_object_get(targets, tpath) != NULL;
	e = jset(targets, tpath, ent, &m);
	ent = NULL;
	if (e != WARD_OK)
		goto out;
	r.roles[idx].dirty = true;
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	printf("%s %s in %s: %llu bytes, sha256 %s\n", replaced ? "replaced" : "added", tpath,
	       rname, (unsigned long long)length, hex);
	print_published(&r);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("repo add %s: %s", tpath, m.text);
	json_decref(custom);
	json_decref(ent);
	json_decref(hashes);
	repo_free(&r);
	return rc;
}

static int cmd_remove(const struct args *a)
{
	struct ward_msg m = {0};
	const char *tpath = a->pos[1];
	const char *rname = a->set[OPT_ROLE] ? a->val[OPT_ROLE] : "targets";
	json_t *targets;
	struct repo r;
	int idx = 0, rc = EX_FAIL; /* set by targets_role */
	ward_err e;

	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if ((e = repo_open(&r, a->pos[0], true, &m)) != WARD_OK)
		goto out;
	r.passfile = a->val[OPT_PASSFILE];
	collect_expiries(&r, a);
	if ((e = targets_role(&r, rname, &idx, &m)) != WARD_OK)
		goto out;
	targets = json_object_get(r.roles[idx].sig, "targets");
	if (!json_object_get(targets, tpath)) {
		e = ward_msg_set(&m, WARD_E_NOTFOUND, "%s lists no target '%s'", rname, tpath);
		goto out;
	}
	json_object_del(targets, tpath);
	r.roles[idx].dirty = true;
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	printf(
	    "removed %s from %s (the file stays in repo/targets/ for clients of older metadata)\n",
	    tpath, rname);
	print_published(&r);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("repo remove %s: %s", tpath, m.text);
	repo_free(&r);
	return rc;
}

/* Split a comma-separated list into a JSON array of non-empty strings. */
static WARD_MUST_USE ward_err split_list(const char *opt, const char *s, bool hex, json_t **out,
                                         struct ward_msg *m)
{
	json_t *arr = json_array();
	ward_err e = WARD_OK;
	size_t count = 0;

	if (!arr)
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	for (const char *c = s;;) {
		const char *end = strchr(c, ',');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		char item[REPO_TARGET_MAX + 1];

		if (len == 0 || len > REPO_TARGET_MAX || (hex && len > 2 * WARD_SHA256_LEN)) {
			e = ward_msg_set(m, WARD_E_INVAL, "--%s: empty or too long entry in '%s'",
			                 opt, s);
			goto out;
		}
		memcpy(item, c, len);
		item[len] = '\0';
		if (has_control(item)) {
			e = ward_msg_set(m, WARD_E_INVAL,
			                 "--%s: control character or invalid UTF-8 in an entry",
			                 opt);
			goto out;
		}
		for (size_t i = 0; hex && i < len; i++) {
			char ch = item[i];
			if (ch >= 'A' && ch <= 'F')
				item[i] = (char)(ch - 'A' + 'a');
			else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
				e = ward_msg_set(m, WARD_E_INVAL, "--%s: '%s' is not hexadecimal",
				                 opt, item);
				goto out;
			}
		}
		if (++count > REPO_MAX_PATTERNS) {
			e = ward_msg_set(m, WARD_E_INVAL, "--%s: more than %d entries", opt,
			                 REPO_MAX_PATTERNS);
			goto out;
		}
		if ((e = jappend(arr, json_string(item), m)) != WARD_OK)
			goto out;
		if (!end)
			break;
		c = end + 1;
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	return e;
}

static int cmd_delegate(const struct args *a)
{
	struct ward_msg m = {0};
	const char *name = a->val[OPT_NAME];
	const char *from = a->set[OPT_FROM] ? a->val[OPT_FROM] : "targets";
	enum ward_key_type kt = WARD_KEY_ED25519;
	uint64_t nkeys = 1, threshold = 1;
	json_t *patterns = NULL, *dels, *dkeys, *droles, *ids = NULL, *ent = NULL;
	struct keyset ks;
	struct repo r;
	struct role *ro;
	int parent = 0, rc = EX_FAIL; /* set by targets_role */
	ward_err e;

	memset(&ks, 0, sizeof(ks));
	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if (!a->set[OPT_NAME]) {
		cli_error("repo delegate: --name ROLE is required");
		return EX_USAGE;
	}
	if (a->set[OPT_PATHS] == a->set[OPT_HASH_PREFIXES]) {
		cli_error("repo delegate: give exactly one of --paths and --hash-prefixes");
		return EX_USAGE;
	}
	if (check_role_name(name, &m) != WARD_OK ||
	    (a->set[OPT_KEY_TYPE] && parse_key_type(a->val[OPT_KEY_TYPE], &kt, &m) != WARD_OK) ||
	    (a->set[OPT_KEYS] &&
	     parse_count("keys", a->val[OPT_KEYS], REPO_MAX_KEYS, &nkeys, &m) != WARD_OK) ||
	    (a->set[OPT_THRESHOLD] && parse_count("threshold", a->val[OPT_THRESHOLD], REPO_MAX_KEYS,
	                                          &threshold, &m) != WARD_OK) ||
	    split_list(a->set[OPT_PATHS] ? "paths" : "hash-prefixes",
	               a->set[OPT_PATHS] ? a->val[OPT_PATHS] : a->val[OPT_HASH_PREFIXES],
	               !a->set[OPT_PATHS], &patterns, &m) != WARD_OK) {
		cli_error("repo delegate: %s", m.text);
		return EX_USAGE;
	}
	if (threshold > nkeys) {
		cli_error("repo delegate: --threshold %llu is more than the %llu keys",
		          (unsigned long long)threshold, (unsigned long long)nkeys);
		json_decref(patterns);
		return EX_USAGE;
	}
	if ((e = repo_open(&r, a->pos[0], true, &m)) != WARD_OK)
		goto out;
	r.passfile = a->val[OPT_PASSFILE];
	collect_expiries(&r, a);
	if ((e = targets_role(&r, from, &parent, &m)) != WARD_OK)
		goto out;
	if (find_role(&r, name) >= 0) {
		e = ward_msg_set(&m, WARD_E_EXISTS, "role %s exists already", name);
		goto out;
	}
	if (r.nroles == REPO_MAX_ROLES) {
		e = ward_msg_set(&m, WARD_E_TOOBIG, "more than %d roles", REPO_MAX_ROLES);
		goto out;
	}
	if ((e = generate_keys(kt, (size_t)nkeys, &ks, &m)) != WARD_OK)
		goto out;

	/* The delegating role gains the keys and an entry. */
	dels = json_object_get(r.roles[parent].sig, "delegations");
	if (!dels) {
		if ((e = jset(r.roles[parent].sig, "delegations", json_object(), &m)) != WARD_OK)
			goto out;
		dels = json_object_get(r.roles[parent].sig, "delegations");
	}
	if (!json_object_get(dels, "keys") &&
	    (e = jset(dels, "keys", json_object(), &m)) != WARD_OK)
		goto out;
	if (!json_object_get(dels, "roles") &&
	    (e = jset(dels, "roles", json_array(), &m)) != WARD_OK)
		goto out;
	dkeys = json_object_get(dels, "keys");
	droles = json_object_get(dels, "roles");
	if (!json_is_object(dkeys) || !json_is_array(droles)) {
		e = ward_msg_set(&m, WARD_E_PARSE, "%s: malformed delegations", from);
		goto out;
	}
	if ((e = add_keys(dkeys, &ks, &ids, &m)) != WARD_OK)
		goto out;
	ent = json_object();
	if (!ent) {
		e = ward_msg_set(&m, WARD_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = jset(ent, "name", json_string(name), &m)) != WARD_OK)
		goto out;
	e = jset(ent, "keyids", ids, &m);
	ids = NULL;
	if (e != WARD_OK || (e = jset(ent, "threshold", jint(threshold), &m)) != WARD_OK ||
	    (e = jset(ent, "terminating", json_boolean(a->set[OPT_TERMINATING]), &m)) != WARD_OK)
		goto out;
	e = jset(ent, a->set[OPT_PATHS] ? "paths" : "path_hash_prefixes", patterns, &m);
	patterns = NULL;
	if (e != WARD_OK)
		goto out;
	e = jappend(droles, ent, &m);
	ent = NULL;
	if (e != WARD_OK)
		goto out;
	r.roles[parent].dirty = true;

	/* The new role: version 1, no targets, signed by its new keys. */
	ro = &r.roles[r.nroles];
	memset(ro, 0, sizeof(*ro));
	if (ward_snprintf(ro->name, sizeof(ro->name), "%s", name) != WARD_OK ||
	    ward_tuf_url_encode(name, ro->enc, sizeof(ro->enc)) != WARD_OK) {
		e = ward_msg_set(&m, WARD_E_TOOBIG, "role name too long");
		goto out;
	}
	ro->parent = parent;
	ro->fresh = true;
	ro->dirty = true;
	ro->signers[0] = &ks;
	ro->nsigners = 1;
	r.nroles++;
	if ((e = new_signed("targets", &ro->sig, &m)) != WARD_OK ||
	    (e = jset(ro->sig, "targets", json_object(), &m)) != WARD_OK)
		goto out;
	r.pending[r.npending].role = (int)(r.nroles - 1);
	r.pending[r.npending++].ks = &ks;
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	printf("delegated %s from %s to %s (%llu of %llu keys%s)\n",
	       a->set[OPT_PATHS] ? a->val[OPT_PATHS] : a->val[OPT_HASH_PREFIXES], from, name,
	       (unsigned long long)threshold, (unsigned long long)nkeys,
	       a->set[OPT_TERMINATING] ? ", terminating" : "");
	print_published(&r);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("repo delegate %s: %s", name, m.text);
	json_decref(patterns);
	json_decref(ids);
	json_decref(ent);
	repo_free(&r);
	keyset_free(&ks);
	return rc;
}

static int cmd_sign(const struct args *a)
{
	struct ward_msg m = {0};
	struct repo r;
	int rc = EX_FAIL;
	ward_err e;

	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if ((e = repo_open(&r, a->pos[0], true, &m)) != WARD_OK)
		goto out;
	r.passfile = a->val[OPT_PASSFILE];
	collect_expiries(&r, a);
	if (a->nroles == 0)
		r.roles[R_TARGETS].dirty = true;
	for (size_t i = 0; i < a->nroles; i++) {
		int idx = find_role(&r, a->roles[i]);
		if (idx < 0) {
			e = ward_msg_set(&m, WARD_E_NOTFOUND, "no role '%s' in %s", a->roles[i],
			                 r.dir);
			goto out;
		}
		r.roles[idx].dirty = true;
	}
	r.roles[R_SNAPSHOT].dirty = true;
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	printf("signed %s\n", r.dir);
	print_published(&r);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("repo sign %s: %s", a->pos[0], m.text);
	repo_free(&r);
	return rc;
}

/* Key type of the first key a rule lists (the default for rotation). */
static enum ward_key_type current_key_type(const json_t *keysobj, const json_t *rule)
{
	const char *id = json_string_value(json_array_get(json_object_get(rule, "keyids"), 0));
	const char *kt =
	    json_string_value(json_object_get(json_object_get(keysobj, id ? id : ""), "keytype"));
	enum ward_key_type t = WARD_KEY_ED25519;

	if (kt && ward_key_type_parse(kt, &t) != WARD_OK)
		t = WARD_KEY_ED25519;
	return t;
}

static int cmd_rotate(const struct args *a)
{
	struct ward_msg m = {0};
	const char *rname = a->val[OPT_ROLE];
	enum ward_key_type kt = WARD_KEY_ED25519;
	uint64_t nkeys = 1, threshold = 1;
	struct keyset newks, oldroot;
	struct keynums oldfiles;
	json_t *keysobj, *rule, *ids = NULL, *newrule = NULL;
	struct repo r;
	int idx, rc = EX_FAIL;
	ward_err e;

	memset(&newks, 0, sizeof(newks));
	memset(&oldroot, 0, sizeof(oldroot));
	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if (!a->set[OPT_ROLE]) {
		cli_error("repo rotate: --role ROLE is required");
		return EX_USAGE;
	}
	if ((a->set[OPT_KEY_TYPE] && parse_key_type(a->val[OPT_KEY_TYPE], &kt, &m) != WARD_OK) ||
	    (a->set[OPT_KEYS] &&
	     parse_count("keys", a->val[OPT_KEYS], REPO_MAX_KEYS, &nkeys, &m) != WARD_OK) ||
	    (a->set[OPT_THRESHOLD] && parse_count("threshold", a->val[OPT_THRESHOLD], REPO_MAX_KEYS,
	                                          &threshold, &m) != WARD_OK)) {
		cli_error("repo rotate: %s", m.text);
		return EX_USAGE;
	}
	if ((e = repo_open(&r, a->pos[0], true, &m)) != WARD_OK)
		goto out;
	r.passfile = a->val[OPT_PASSFILE];
	collect_expiries(&r, a);
	idx = find_role(&r, rname);
	if (idx < 0) {
		e = ward_msg_set(&m, WARD_E_NOTFOUND, "no role '%s' in %s", rname, r.dir);
		goto out;
	}
	if (idx < R_TOPLEVEL) {
		keysobj = json_object_get(r.roles[R_ROOT].sig, "keys");
		rule = json_object_get(json_object_get(r.roles[R_ROOT].sig, "roles"), rname);
	} else {
		keysobj = json_object_get(
		    json_object_get(r.roles[r.roles[idx].parent].sig, "delegations"), "keys");
		rule = delegation_entry(&r, idx);
	}
	if (!json_is_object(keysobj) || !json_is_object(rule)) {
		e = ward_msg_set(&m, WARD_E_PARSE, "no keys for %s in its delegating metadata",
		                 rname);
		goto out;
	}
	/* Defaults: as many keys, the same threshold, the same key type. */
	if (!a->set[OPT_KEYS])
		nkeys = json_array_size(json_object_get(rule, "keyids"));
	if (nkeys < 1 || nkeys > REPO_MAX_KEYS)
		nkeys = 1;
	if (!a->set[OPT_THRESHOLD]) {
		json_int_t t = json_integer_value(json_object_get(rule, "threshold"));
		threshold = t < 1 ? 1 : (uint64_t)t;
		if (threshold > nkeys)
			threshold = nkeys;
	}
	if (threshold > nkeys) {
		cli_error("repo rotate: --threshold %llu is more than the %llu keys",
		          (unsigned long long)threshold, (unsigned long long)nkeys);
		rc = EX_USAGE;
		goto out;
	}
	if (!a->set[OPT_KEY_TYPE])
		kt = current_key_type(keysobj, rule);
	if ((e = list_key_files(r.keys, r.roles[idx].enc, &oldfiles, &m)) != WARD_OK)
		goto out;
	/* A new root must be signed by the old root keys too: load them before anything changes. */
	if (idx == R_ROOT && (e = load_role_keys(&r, R_ROOT, &oldroot, &m)) != WARD_OK)
		goto out;
	if ((e = generate_keys(kt, (size_t)nkeys, &newks, &m)) != WARD_OK ||
	    (e = add_keys(keysobj, &newks, &ids, &m)) != WARD_OK)
		goto out;
	e = role_rule_obj(ids, threshold, &newrule, &m);
	ids = NULL;
	if (e != WARD_OK)
		goto out;
	if (idx < R_TOPLEVEL) {
		e = jset(json_object_get(r.roles[R_ROOT].sig, "roles"), rname, newrule, &m);
		newrule = NULL;
		if (e != WARD_OK)
			goto out;
		prune_root_keys(&r);
		r.roles[R_ROOT].dirty = true;
		if (idx == R_ROOT) {
			r.roles[R_ROOT].signers[0] = &oldroot;
			r.roles[R_ROOT].signers[1] = &newks;
			r.roles[R_ROOT].nsigners = 2;
		} else {
			r.roles[idx].dirty = true;
			r.roles[idx].signers[0] = &newks;
			r.roles[idx].nsigners = 1;
			r.roles[R_SNAPSHOT].dirty = true;
		}
	} else {
		json_t *parent = r.roles[r.roles[idx].parent].sig;
		if ((e = jset(rule, "keyids", json_incref(json_object_get(newrule, "keyids")),
		              &m)) != WARD_OK ||
		    (e = jset(rule, "threshold", jint(threshold), &m)) != WARD_OK)
			goto out;
		prune_delegation_keys(parent);
		r.roles[r.roles[idx].parent].dirty = true;
		r.roles[idx].dirty = true;
		r.roles[idx].signers[0] = &newks;
		r.roles[idx].nsigners = 1;
	}
	r.pending[r.npending].role = idx;
	r.pending[r.npending++].ks = &newks;
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	if ((e = retire_keys(&r, r.roles[idx].enc, &oldfiles, &m)) != WARD_OK) {
		ward_msg_prefix(&m, e,
		                "rotation published, but retiring the old key files failed: ");
		goto out;
	}
	printf("rotated %s: %llu new keys, threshold %llu; old key files moved to %s/retired\n",
	       rname, (unsigned long long)nkeys, (unsigned long long)threshold, r.keys);
	print_published(&r);
	rc = EX_SUCCESS;
out:
	if (rc == EX_FAIL)
		cli_error("repo rotate %s: %s", rname, m.text);
	json_decref(ids);
	json_decref(newrule);
	repo_free(&r);
	keyset_free(&newks);
	keyset_free(&oldroot);
	return rc;
}

static int cmd_timestamp(const struct args *a)
{
	struct ward_msg m = {0};
	struct repo r;
	int rc = EX_FAIL;
	ward_err e;

	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if ((e = repo_open(&r, a->pos[0], true, &m)) != WARD_OK)
		goto out;
	collect_expiries(&r, a);
	r.passfile = a->val[OPT_PASSFILE];
	r.roles[R_TIMESTAMP].dirty = true;
	if (a->set[OPT_SNAPSHOT])
		r.roles[R_SNAPSHOT].dirty = true;
	if ((e = publish(&r, &m)) != WARD_OK)
		goto out;
	print_published(&r);
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("repo timestamp %s: %s", a->pos[0], m.text);
	repo_free(&r);
	return rc;
}

/* ---- status ------------------------------------------------------------- */

static WARD_MUST_USE ward_err status_json(const struct repo *r, json_t **out, struct ward_msg *m)
{
	json_t *o = json_object(), *roles = json_object();
	size_t total = 0;
	ward_err e;

	if (!o || !roles) {
		json_decref(o);
		json_decref(roles);
		return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
	}
	if ((e = jset(o, "roles", roles, m)) != WARD_OK) {
		json_decref(o);
		return e;
	}
	for (size_t i = 0; i < r->nroles; i++) {
		const struct role *ro = &r->roles[i];
		json_t *ent = json_object(), *keyids = NULL;
		const char *exp = json_string_value(json_object_get(ro->sig, "expires"));
		uint64_t threshold = 0;
		time_t t = 0;

		if (!ent || (e = jset(roles, ro->name, ent, m)) != WARD_OK) {
			json_decref(o);
			return ward_msg_set(m, WARD_E_NOMEM, "out of memory");
		}
		if (role_rule(r, (int)i, &keyids, &threshold, m) != WARD_OK) {
			keyids = NULL;
			threshold = 0;
		}
		if ((e = jset(ent, "version", json_incref(json_object_get(ro->sig, "version")),
		              m)) != WARD_OK ||
		    (e = jset(ent, "expires", json_string(exp ? exp : ""), m)) != WARD_OK ||
		    (e = jset(ent, "expired",
		              json_boolean(!exp || ward_tuf_time_parse(exp, &t) != WARD_OK ||
		                           t <= r->now),
		              m)) != WARD_OK ||
		    (e = jset(ent, "threshold", jint(threshold), m)) != WARD_OK ||
		    (e = jset(ent, "keyids", keyids ? json_deep_copy(keyids) : json_array(), m)) !=
		        WARD_OK)
			goto fail;
		if (is_targets_role((int)i)) {
			size_t n = json_object_size(json_object_get(ro->sig, "targets"));
			json_t *dent = i >= R_TOPLEVEL ? delegation_entry(r, (int)i) : NULL;
			total += n;
			if ((e = jset(ent, "targets", jint(n), m)) != WARD_OK)
				goto fail;
			if (dent) {
				json_t *p = json_object_get(dent, "paths");
				json_t *hp = json_object_get(dent, "path_hash_prefixes");
				if ((e = jset(ent, "delegated_by",
				              json_string(r->roles[ro->parent].name), m)) !=
				        WARD_OK ||
				    (e = jset(ent, "terminating",
				              json_boolean(json_is_true(
				                  json_object_get(dent, "terminating"))),
				              m)) != WARD_OK ||
				    (p &&
				     (e = jset(ent, "paths", json_deep_copy(p), m)) != WARD_OK) ||
				    (hp && (e = jset(ent, "path_hash_prefixes", json_deep_copy(hp),
				                     m)) != WARD_OK))
					goto fail;
			}
		}
	}
	if ((e = jset(o, "consistent_snapshot", json_boolean(r->consistent), m)) != WARD_OK ||
	    (e = jset(o, "encrypted_keys", r->have_keys ? json_boolean(r->encrypted) : json_null(),
	              m)) != WARD_OK ||
	    (e = jset(o, "target_count", jint(total), m)) != WARD_OK)
		goto fail;
	*out = o;
	return WARD_OK;
fail:
	json_decref(o);
	return e;
}

static int cmd_status(const struct args *a)
{
	struct ward_msg m = {0};
	struct ward_buf text;
	json_t *st = NULL, *roles;
	struct repo r;
	int rc = EX_FAIL;
	ward_err e;

	ward_buf_init(&text, 16u * 1024 * 1024);
	memset(&r, 0, sizeof(r));
	r.lockfd = -1;
	if ((e = repo_open(&r, a->pos[0], false, &m)) != WARD_OK ||
	    (e = status_json(&r, &st, &m)) != WARD_OK)
		goto out;
	if (a->set[OPT_JSON]) {
		if ((e = ward_json_pretty(st, &text, &m)) != WARD_OK)
			goto out;
		fwrite(text.p, 1, text.len, stdout);
		rc = EX_SUCCESS;
		goto out;
	}
	printf("repository %s: consistent snapshots %s, %s keys, %lld targets\n", r.dir,
	       r.consistent ? "on" : "off",
	       !r.have_keys  ? "no"
	       : r.encrypted ? "passphrase-protected"
	                     : "unencrypted",
	       (long long)json_integer_value(json_object_get(st, "target_count")));
	printf("%-16s %8s  %-21s %-9s %7s  %s\n", "ROLE", "VERSION", "EXPIRES", "THRESHOLD",
	       "TARGETS", "KEY IDS");
	roles = json_object_get(st, "roles");
	for (size_t i = 0; i < r.nroles; i++) {
		json_t *ent = json_object_get(roles, r.roles[i].name), *v;
		json_t *tg = json_object_get(ent, "targets");
		char thr[32], tgs[24];
		size_t j;

		if (ward_snprintf(thr, sizeof(thr), "%lld of %zu",
		                  (long long)json_integer_value(json_object_get(ent, "threshold")),
		                  json_array_size(json_object_get(ent, "keyids"))) != WARD_OK ||
		    ward_snprintf(tgs, sizeof(tgs), "%lld", (long long)json_integer_value(tg)) !=
		        WARD_OK)
			thr[0] = tgs[0] = '\0';
		printf("%-16s %8lld  %-21s %-9s %7s ", r.roles[i].name,
		       (long long)json_integer_value(json_object_get(ent, "version")),
		       json_string_value(json_object_get(ent, "expires")), thr, tg ? tgs : "-");
		json_array_foreach(json_object_get(ent, "keyids"), j, v)
		    printf(" %.16s", json_string_value(v));
		if (json_is_true(json_object_get(ent, "expired")))
			printf("  EXPIRED");
		printf("\n");
		if (i >= R_TOPLEVEL) {
			json_t *p = json_object_get(ent, "paths");
			if (!p)
				p = json_object_get(ent, "path_hash_prefixes");
			printf("%-16s delegated by %s, %s%s:", "",
			       json_string_value(json_object_get(ent, "delegated_by")),
			       json_object_get(ent, "paths") ? "paths" : "hash prefixes",
			       json_is_true(json_object_get(ent, "terminating")) ? " (terminating)"
			                                                         : "");
			json_array_foreach(p, j, v) printf(" %s", json_string_value(v));
			printf("\n");
		}
	}
	rc = EX_SUCCESS;
out:
	if (rc != EX_SUCCESS)
		cli_error("repo status %s: %s", a->pos[0], m.text);
	json_decref(st);
	ward_buf_free(&text);
	repo_free(&r);
	return rc;
}

/* ---- dispatch ----------------------------------------------------------- */

#define O_PASS (O(OPT_PASSFILE) | O(OPT_EXPIRES))

static const struct command commands[] = {
    {"init", cmd_init, 1, 1,
     O(OPT_KEY_TYPE) | O(OPT_ROOT_KEYS) | O(OPT_ROOT_THRESHOLD) | O(OPT_EXPIRES) |
         O(OPT_NO_CONSISTENT) | O(OPT_UNENCRYPTED) | O(OPT_PASSFILE),
     false, "create a repository: keys and signed metadata version 1",
     "usage: ward repo init DIR [options]\n"
     "\n"
     "Create DIR (absent or empty) with new keys in DIR/keys/ and version 1 of\n"
     "root, targets, snapshot and timestamp in DIR/repo/metadata/.\n"
     "\n"
     "  --key-type ed25519|ecdsa    type of every new key (default ed25519)\n"
     "  --root-keys N               number of root keys (default 1, at most 16)\n"
     "  --root-threshold K          root signatures required (default 1, K <= N)\n"
     "  --expires ROLE=DURATION     validity of a role's first version: 30m, 12h, 7d, 2w,\n"
     "                              1y, or ROLE=@YYYY-MM-DDTHH:MM:SSZ; repeatable\n"
     "                              (defaults root=365d targets=90d snapshot=7d timestamp=1d)\n"
     "  --no-consistent-snapshot    publish only unversioned metadata and plain target names\n"
     "  --unencrypted-keys          write the private keys without a passphrase\n"
     "  --passphrase-file F         read the new passphrase from F's first line\n"
     "                              (else $WARD_PASSPHRASE_FILE, else asked twice on the "
     "terminal)\n"},
    {"add", cmd_add, 2, 2,
     O(OPT_NAME) | O(OPT_ROLE) | O(OPT_HWID) | O(OPT_VERSION) | O(OPT_INSTALL_TYPE) |
         O(OPT_CUSTOM) | O_PASS,
     false, "add or replace a target file; re-sign its role, snapshot, timestamp",
     "usage: ward repo add DIR FILE [options]\n"
     "\n"
     "Copy FILE into DIR/repo/targets/, list it with its length and SHA-256 in a\n"
     "targets role, and re-sign that role, snapshot and timestamp.\n"
     "\n"
     "  --name TARGETPATH           the target's path (default: FILE's base name); relative,\n"
     "                              '/'-separated, no empty, '.' or '..' component, no '\\'\n"
     "  --role ROLE                 the targets role that lists it (default targets)\n"
     "  --hardware-id ID            custom.hardware_id: the device models it is for\n"
     "  --version V                 custom.version: the image's version (a string)\n"
     "  --install-type full|delta   custom.install_type\n"
     "  --custom JSON               a JSON object merged into custom (the options above win)\n"
     "  --expires ROLE=DURATION     validity of a re-signed role (repeatable)\n"
     "  --passphrase-file F         the keys' passphrase (else $WARD_PASSPHRASE_FILE, else "
     "asked)\n"},
    {"remove", cmd_remove, 2, 2, O(OPT_ROLE) | O_PASS, false,
     "remove a target from its role; re-sign role, snapshot, timestamp",
     "usage: ward repo remove DIR TARGETPATH [options]\n"
     "\n"
     "Remove TARGETPATH from a targets role and re-sign it, snapshot and timestamp.\n"
     "The file stays in DIR/repo/targets/ for clients that hold older metadata.\n"
     "\n"
     "  --role ROLE                 the targets role that lists it (default targets)\n"
     "  --expires ROLE=DURATION     validity of a re-signed role (repeatable)\n"
     "  --passphrase-file F         the keys' passphrase\n"},
    {"delegate", cmd_delegate, 1, 1,
     O(OPT_NAME) | O(OPT_FROM) | O(OPT_PATHS) | O(OPT_HASH_PREFIXES) | O(OPT_KEYS) |
         O(OPT_THRESHOLD) | O(OPT_KEY_TYPE) | O(OPT_TERMINATING) | O_PASS,
     false, "delegate target paths to a new role with keys of its own",
     "usage: ward repo delegate DIR --name ROLE (--paths P1,P2 | --hash-prefixes H1,H2) "
     "[options]\n"
     "\n"
     "Create role ROLE with new keys, delegate to it from a targets role, publish its\n"
     "version 1 (no targets), and re-sign the delegating role, snapshot and timestamp.\n"
     "\n"
     "  --name ROLE                 the new role's name (required)\n"
     "  --from ROLE                 the delegating targets role (default targets)\n"
     "  --paths 'P1,P2'             shell-style path patterns ('*' does not cross '/')\n"
     "  --hash-prefixes 'ab,cd'     hex prefixes of SHA-256(target path)\n"
     "  --keys N                    number of keys (default 1)\n"
     "  --threshold K               signatures required (default 1, K <= N)\n"
     "  --key-type ed25519|ecdsa    (default ed25519)\n"
     "  --terminating               clients stop searching after this role\n"
     "  --expires ROLE=DURATION     validity of a signed role (repeatable)\n"
     "  --passphrase-file F         the keys' passphrase\n"},
    {"sign", cmd_sign, 1, 1, O(OPT_ROLE) | O_PASS, true,
     "re-sign roles with a new version and expiry",
     "usage: ward repo sign DIR [--role ROLE ...] [options]\n"
     "\n"
     "Re-sign each named role (default targets) with version+1 and a fresh expiry,\n"
     "then snapshot and timestamp.\n"
     "\n"
     "  --role ROLE                 a role to re-sign (repeatable; root allowed)\n"
     "  --expires ROLE=DURATION     validity of a re-signed role (repeatable)\n"
     "  --passphrase-file F         the keys' passphrase\n"},
    {"rotate", cmd_rotate, 1, 1,
     O(OPT_ROLE) | O(OPT_KEYS) | O(OPT_THRESHOLD) | O(OPT_KEY_TYPE) | O_PASS, false,
     "replace a role's keys",
     "usage: ward repo rotate DIR --role ROLE [options]\n"
     "\n"
     "Replace ROLE's keys with new ones; the old key files move to DIR/keys/retired/.\n"
     "root: root version+1 signed by the old and the new root keys.\n"
     "targets, snapshot, timestamp: root version+1, then the role, snapshot, timestamp.\n"
     "a delegated role: its delegating role, the role, snapshot and timestamp.\n"
     "\n"
     "  --role ROLE                 the role (required)\n"
     "  --keys N                    number of new keys (default: as many as now)\n"
     "  --threshold K               signatures required (default: as now, K <= N)\n"
     "  --key-type ed25519|ecdsa    (default: the type of the current keys)\n"
     "  --expires ROLE=DURATION     validity of a re-signed role (repeatable)\n"
     "  --passphrase-file F         the keys' passphrase\n"},
    {"timestamp", cmd_timestamp, 1, 1, O(OPT_SNAPSHOT) | O_PASS, false,
     "re-sign timestamp (and snapshot): the online roles' routine job",
     "usage: ward repo timestamp DIR [--snapshot] [--expires DURATION]\n"
     "\n"
     "Re-sign timestamp with version+1 and a fresh expiry; with --snapshot, snapshot too.\n"
     "Needs only the snapshot and timestamp keys: run it from cron on the online host.\n"
     "\n"
     "  --snapshot                  re-sign snapshot as well\n"
     "  --expires DURATION          timestamp's validity (or ROLE=DURATION; repeatable)\n"
     "  --passphrase-file F         the keys' passphrase\n"},
    {"status", cmd_status, 1, 1, O(OPT_JSON), false,
     "roles, versions, expiries, key ids, thresholds, targets",
     "usage: ward repo status DIR [--json]\n"
     "\n"
     "Show every role's version, expiry, threshold, key ids and target count.\n"
     "\n"
     "  --json                      machine-readable output\n"},
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

static void usage(FILE *out)
{
	fprintf(out, "usage: ward repo <command> DIR [options]\n\n"
	             "The device maker's TUF image repository (docs/ward-repo.md).\n\ncommands:\n");
	for (size_t i = 0; i < ncommands; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].synopsis);
	fprintf(out, "\n`ward repo <command> --help` describes each command's options.\n");
}

/*
 * Parse argv (argv[0] is the subcommand) into a. Options are "--name value"
 * or "--name=value"; "--" ends options. Returns -1 after --help, EX_USAGE on
 * a usage error (reported), 0 otherwise.
 */
static int parse_args(const struct command *c, int argc, char **argv, struct args *a)
{
	bool only_pos = false;

	memset(a, 0, sizeof(*a));
	a->cmd = c->name;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *val = NULL;
		size_t nlen;
		int o;

		if (only_pos || s[0] != '-' || s[1] == '\0') {
			if (a->npos == c->maxpos) {
				cli_error("repo %s: unexpected argument '%s'", c->name, s);
				return EX_USAGE;
			}
			a->pos[a->npos++] = s;
			continue;
		}
		if (!strcmp(s, "--")) {
			only_pos = true;
			continue;
		}
		if (!strcmp(s, "-h")) {
			fputs(c->help, stdout);
			return -1;
		}
		if (s[1] != '-') {
			cli_error("repo %s: unknown option '%s'; `ward repo %s --help` lists them",
			          c->name, s, c->name);
			return EX_USAGE;
		}
		s += 2;
		val = strchr(s, '=');
		nlen = val ? (size_t)(val - s) : strlen(s);
		for (o = 0; o < OPT_COUNT; o++)
			if (strlen(optdefs[o].name) == nlen && !strncmp(optdefs[o].name, s, nlen))
				break;
		if (o == OPT_COUNT || (o != OPT_HELP && !(c->opts & O(o)))) {
			cli_error("repo %s: unknown option '%s'; `ward repo %s --help` lists them",
			          c->name, argv[i], c->name);
			return EX_USAGE;
		}
		if (o == OPT_HELP) {
			fputs(c->help, stdout);
			return -1;
		}
		if (optdefs[o].arg) {
			if (val) {
				val++;
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				cli_error("repo %s: --%s needs a value", c->name, optdefs[o].name);
				return EX_USAGE;
			}
		} else if (val) {
			cli_error("repo %s: --%s takes no value", c->name, optdefs[o].name);
			return EX_USAGE;
		}
		if (o == OPT_EXPIRES || (o == OPT_ROLE && c->multi_role)) {
			const char **list = o == OPT_EXPIRES ? a->expires : a->roles;
			size_t *n = o == OPT_EXPIRES ? &a->nexpires : &a->nroles;
			if (*n == REPO_MAX_ARGS) {
				cli_error("repo %s: --%s given more than %d times", c->name,
				          optdefs[o].name, REPO_MAX_ARGS);
				return EX_USAGE;
			}
			list[(*n)++] = val;
		} else if (a->set[o]) {
			cli_error("repo %s: --%s given twice", c->name, optdefs[o].name);
			return EX_USAGE;
		}
		a->set[o] = true;
		a->val[o] = val;
	}
	if (a->npos < c->minpos) {
		cli_error("repo %s: missing %s; `ward repo %s --help` shows the usage", c->name,
		          a->npos == 0 ? "DIR" : "argument", c->name);
		return EX_USAGE;
	}
	return 0;
}

int cli_repo(int argc, char **argv)
{
	struct args a;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EX_SUCCESS;
	}
	for (size_t i = 0; i < ncommands; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		rc = parse_args(&commands[i], argc - 1, argv + 1, &a);
		if (rc < 0)
			return EX_SUCCESS;
		if (rc != 0)
			return rc;
		for (size_t x = 0; x < a.nexpires; x++) {
			struct ward_msg m = {0};
			const char *def = commands[i].run == cmd_timestamp ? "timestamp" : NULL;
			if (parse_expiry(a.expires[x], def, time(NULL), &a.exp[a.nexp++], &m) !=
			    WARD_OK) {
				cli_error("repo %s: %s", commands[i].name, m.text);
				return EX_USAGE;
			}
		}
		return commands[i].run(&a);
	}
	cli_error("repo: unknown command '%s'; `ward repo --help` lists them", argv[1]);
	return EX_USAGE;
}
