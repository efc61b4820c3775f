/*
 * server/conf.h — a deployment's ward.conf (INI), read by ward-server and by
 * the `ward` commands that act on a deployment directory (ward init writes
 * it). Relative paths are relative to the directory holding ward.conf.
 *
 *   [server]
 *   listen = 127.0.0.1:8443        ; ADDR:PORT (IPv4 or [IPv6])
 *   workers = 0                    ; processes, each with its own event loop; 0 = one per core
 *   max_connections = 10000        ; per worker
 *   request_timeout = 10           ; seconds to receive a request (slow clients are cut off)
 *   max_body = 65536               ; bytes of a request body
 *   user = ward                    ; workers drop to this user when started as root
 *                                  ; (default: none; docs/ward-server.md "Privileges")
 *
 *   [database]
 *   uri = sqlite:ward.db           ; or postgresql://user@host:port/db
 *
 *   [ca]
 *   root = ca/root.pem             ; fleet trust anchor (its key stays in keys/, encrypted)
 *   issuing_cert = ca/issuing.pem  ; online issuing CA
 *   issuing_key = ca/issuing.key   ; its key (PKCS#8 PEM, 0600)
 *   server_cert = ca/server.pem    ; ward-server's TLS chain (server + issuing)
 *   server_key = ca/server.key
 *   crl = ca/crl.der               ; published at /crl, rewritten on revocation
 *
 *   [devices]
 *   cert_lifetime = 30d            ; device certificate validity
 *   renew_before = 10d             ; devices renew when less than this is left
 *   checkin_interval = 300         ; seconds between check-ins (the server adds +-10% jitter)
 *
 *   [web]
 *   root = /usr/share/ward/web     ; the dashboard's static files (default: see server/web.c)
 */
#ifndef WARD_SRV_CONF_H
#define WARD_SRV_CONF_H

#include <stdint.h>

#include "ward/err.h"

#define SRV_PATH_MAX 4096

struct srv_conf {
	char dir[SRV_PATH_MAX];        /* directory of ward.conf (absolute) */
	char listen_addr[256];         /* host part of listen */
	uint16_t listen_port;
	unsigned workers;              /* 0 = nproc */
	unsigned max_connections;
	unsigned request_timeout;      /* seconds */
	uint64_t max_body;             /* bytes */
	char user[33];                 /* [server] user: workers run as it; "" = none */
	char db_uri[SRV_PATH_MAX];     /* with sqlite paths made absolute */
	char ca_root[SRV_PATH_MAX];
	char issuing_cert[SRV_PATH_MAX];
	char issuing_key[SRV_PATH_MAX];
	char server_cert[SRV_PATH_MAX];
	char server_key[SRV_PATH_MAX];
	char crl[SRV_PATH_MAX];
	uint64_t cert_lifetime;        /* seconds */
	uint64_t renew_before;         /* seconds */
	unsigned checkin_interval;     /* seconds */
	char web_root[SRV_PATH_MAX];   /* [web] root; "" = the default search (server/web.c) */
};

ward_err srv_conf_load(const char *path, struct srv_conf *c, struct ward_msg *m) WARD_MUST_USE;
/* "ADDR:PORT" / "[ADDR]:PORT" into c->listen_addr / c->listen_port. */
ward_err srv_conf_listen(struct srv_conf *c, const char *s, struct ward_msg *m) WARD_MUST_USE;

#endif
