/*
 * server/director.h — the director of Uptane's split of TUF: one small TUF
 * repository per device, signed online by the director key, whose targets
 * name the one image that device should install. Shared by ward-server
 * (which renders and serves it, server/director_api.c) and `ward` (which
 * writes the key and root at init and records assignments, cli/assign.c).
 *
 * The director can only name what the release key signed: an assignment
 * copies the image repository's own entry for the target (length, hashes,
 * custom {hardware_id, version}), read from DIR/repo/ with libward's TUF
 * client, and the device checks that both repositories agree anyway
 * (agent/update.c), so a compromised director key chooses among signed
 * images at most, never older than a device's floor.
 *
 * Files of the deployment directory:
 *   DIR/keys/director.key       the director key (ed25519, PKCS#8 PEM, 0600, online)
 *   DIR/ca/director-root.json   the director's root metadata, pinned by devices
 *   DIR/repo/metadata, targets  the image repository (`ward repo` layout), served read-only
 *   DIR/director/image-tuf/     the trusted copy of the image repository's metadata
 *                               (started from DIR/repo/metadata/1.root.json)
 *
 * Versions only go up: targets and snapshot carry the assignment's version
 * (1 = no assignment, empty targets; each new assignment +1); timestamp's is
 * that plus the hours since the epoch, so it moves on every hour (a fresh,
 * short expiry) and with every assignment, whichever worker renders it.
 */
#ifndef WARD_SRV_DIRECTOR_H
#define WARD_SRV_DIRECTOR_H

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "store.h"
#include "ward/buf.h"
#include "ward/crypto.h"
#include "ward/err.h"

#define SRV_DIRECTOR_KEY "keys/director.key"
#define SRV_DIRECTOR_ROOT_KEY "keys/director-root.key" /* offline: signs director roots only */
#define SRV_DIRECTOR_ROOT "ca/director-root.json"
#define SRV_DIRECTOR_REPO "repo"
#define SRV_DIRECTOR_IMAGE_TRUST "director/image-tuf"
#define SRV_DIRECTOR_TIMESTAMP_LIFETIME (24L * 3600)        /* past the end of its hour */
#define SRV_DIRECTOR_TARGETS_LIFETIME (365L * 24 * 3600)    /* from the assignment */
#define SRV_DIRECTOR_ROOT_LIFETIME (3650L * 24 * 3600)
#define SRV_DIRECTOR_FILEINFO_MAX 4095

/* One device's assignment (device_assignments). */
struct srv_assignment {
	char serial[128];                              /* the device */
	char target[256];                              /* image repository target path */
	char fileinfo[SRV_DIRECTOR_FILEINFO_MAX + 1]; /* its signed entry, canonical JSON */
	int64_t version;                               /* director targets/snapshot version, >= 2 */
	time_t assigned;                               /* when */
};

/* ---- store (server/store_director.c) ---- */
/* Record (or replace) serial's assignment, bumping its version; *version gets the new one.
 * With detail (a JSON object, borrowed) an "assign" audit record with it plus
 * "director_version" is appended in the same transaction.
 * WARD_E_NOTFOUND for a device not enrolled, WARD_E_DENIED for one not active. */
struct json_t;
ward_err srv_assignment_set(struct srv_store *s, const char *serial, const char *target,
			    const char *fileinfo, const struct json_t *detail, time_t now, int64_t *version,
			    struct ward_msg *m) WARD_MUST_USE;
/* serial's assignment; WARD_E_NOTFOUND when it has none. */
ward_err srv_assignment_get(struct srv_store *s, const char *serial, struct srv_assignment *out,
			    struct ward_msg *m) WARD_MUST_USE;

/* ---- the repository (server/director.c) ---- */
enum srv_director_role {
	SRV_DIRECTOR_TIMESTAMP,
	SRV_DIRECTOR_SNAPSHOT,
	SRV_DIRECTOR_TARGETS,
};

/* A new director root, version 1, signed by root_key: the root role is root_key's (kept
 * offline), timestamp, snapshot and targets are k's (online); threshold 1 each. Canonical
 * JSON into out (initialised here). */
ward_err srv_director_root_create(const struct ward_key *root_key, const struct ward_key *k, time_t now,
				  struct ward_buf *out, struct ward_msg *m) WARD_MUST_USE;
/* DIR/keys/director.key. Caller frees with ward_crypto_key_free(). */
ward_err srv_director_key_load(const struct srv_conf *c, struct ward_key **out,
			       struct ward_msg *m) WARD_MUST_USE;
/* Render and sign one role of serial's director repository at time now, into out
 * (initialised here). a is the device's assignment, or NULL for none. */
ward_err srv_director_render(const struct ward_key *k, const struct srv_device *dev,
			     const struct srv_assignment *a, enum srv_director_role role, time_t now,
			     struct ward_buf *out, struct ward_msg *m) WARD_MUST_USE;
/*
 * Verify the image repository in DIR/repo/ with the TUF client (through a
 * file fetcher) and return target's signed entry {"length", "hashes",
 * "custom"} as canonical JSON (caller frees with free()), with its
 * custom.hardware_id copied into hw[128] and custom.version into version[64].
 * WARD_E_NOTFOUND when the repository does not list the target.
 */
ward_err srv_director_image_entry(const struct srv_conf *c, const char *target, char **fileinfo,
				  char hw[128], char version[64], struct ward_msg *m) WARD_MUST_USE;
/*
 * Verify the image repository in DIR/repo/ as srv_director_image_entry does
 * and call fn with the refreshed client (borrowed for the call: its trusted
 * targets are what the release key signed); fn's result is returned. The
 * operator API's image listing (server/ops_api.c) reads the top-level
 * targets this way.
 */
struct ward_tuf_client;
typedef ward_err (*srv_director_image_fn)(void *ctx, struct ward_tuf_client *cl, struct ward_msg *m);
ward_err srv_director_image_with(const struct srv_conf *c, srv_director_image_fn fn, void *ctx,
				 struct ward_msg *m) WARD_MUST_USE;

/*
 * Have the director name target (an image the verified image repository lists) for
 * serial: the device must be active, and an image for other hardware than the device
 * reported is refused (it would refuse it anyway). The assignment and its "assign"
 * audit record (with actor) commit together. *out (caller decrefs) gets {"serial",
 * "target", "version", "hardware_id", "director_version"}. WARD_E_NOTFOUND (device,
 * or an image the repository does not list), WARD_E_DENIED.
 */
struct srv_store;
ward_err srv_director_assign(struct srv_store *s, const struct srv_conf *c, const char *serial, const char *target,
			     const char *actor, struct json_t **out, struct ward_msg *m) WARD_MUST_USE;

#endif
