/*
 * server/crl.h — publishing the CRL (server/crl.c).
 */
#ifndef WARD_SRV_CRL_H
#define WARD_SRV_CRL_H

#include <time.h>

#include "ward/err.h"

#define SRV_CRL_LIFETIME (30L * 24 * 3600) /* nextUpdate of every CRL ward publishes */
#define SRV_CRL_REFRESH (24L * 3600)       /* ward-server re-publishes a CRL older than this */

struct srv_conf;
struct srv_store;
struct ward_cert;
struct ward_key;
/* Sign a CRL of every revoked certificate with the issuing CA (issuer, key: borrowed) and write
 * it atomically to c->crl. */
ward_err srv_crl_publish(const struct srv_conf *c, struct srv_store *s, const struct ward_cert *issuer,
			 const struct ward_key *key, time_t now, struct ward_msg *m) WARD_MUST_USE;

#endif
