/*
 * server/crl.c — publishing the CRL: every revoked certificate in the
 * registry, signed by the issuing CA, written atomically to conf.crl (which
 * ward-server serves at /crl). Used by `ward device revoke|decommission|crl`
 * and by ward-server itself (after a revocation through the operator API, and
 * once a day so that nextUpdate never passes).
 *
 * The CRL number comes from the registry (crl_state), taken last, so a
 * number is spent only on a CRL that could be signed; several servers may
 * publish at once: each write is a complete CRL (rename over the old one),
 * and the registry decides which number each gets; on one host, publishers
 * take turns (flock on CRL.lock), so an older list never replaces a newer one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "conf.h"
#include "crl.h"
#include "store.h"
#include "ward/buf.h"
#include "ward/x509.h"

#define CRL_MAX (16u * 1024 * 1024) /* a CRL: about 40 bytes per revoked certificate */

ward_err srv_crl_publish(const struct srv_conf *c, struct srv_store *s, const struct ward_cert *issuer,
			 const struct ward_key *key, time_t now, struct ward_msg *m)
{
	struct srv_revoked *rev = NULL;
	struct ward_crl_entry *entries = NULL;
	struct ward_buf der;
	size_t n = 0;
	uint64_t number = 0;
	char lock[PATH_MAX];
	int lfd = -1;
	ward_err e;

	ward_buf_init(&der, CRL_MAX);
	/* One publisher at a time on this host (workers, servers, `ward device revoke`): the
	 * list read here and the file renamed below belong together, so a publisher holding a
	 * list from before a revocation cannot rename its CRL over a newer one. */
	if (ward_snprintf(lock, sizeof(lock), "%s.lock", c->crl)) {
		e = ward_msg_set(m, WARD_E_TOOBIG, "CRL path too long");
		goto out;
	}
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "%s: %s", lock, strerror(errno));
		goto out;
	}
	if ((e = srv_revoked(s, &rev, &n, m)) != WARD_OK)
		goto out;
	if (n > 0 && !(entries = calloc(n, sizeof(*entries)))) {
		e = ward_msg_set(m, WARD_E_NOMEM, "out of memory for %zu CRL entries", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(entries[i].serial_hex, rev[i].cert_serial, sizeof(entries[i].serial_hex));
		entries[i].serial_hex[sizeof(entries[i].serial_hex) - 1] = '\0';
		entries[i].revoked_at = rev[i].revoked_at;
	}
	/* Taken last: a number is spent only when the CRL can be signed. */
	if ((e = srv_crl_number(s, &number, m)) != WARD_OK ||
	    (e = ward_x509_crl_create(issuer, key, entries, n, number, now, now + SRV_CRL_LIFETIME, &der, m)) !=
		    WARD_OK)
		goto out;
	e = ward_file_write_atomic(c->crl, der.p, der.len, 0644, m);
out:
	if (lfd >= 0)
		close(lfd); /* releases the lock */
	ward_buf_free(&der);
	free(entries);
	free(rev);
	return e;
}
