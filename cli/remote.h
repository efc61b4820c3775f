/*
 * cli/remote.h — `ward --server URL`: operator commands through ward-server's
 * operator API (docs/api.md) instead of a deployment's database.
 *
 * Connect settings, first found wins: --server / WARD_SERVER, --ca, and
 * WARD_TOKEN in the environment, else the saved login
 * ($XDG_CONFIG_HOME/ward/login.json, default ~/.config/ward/login.json,
 * written by `ward login`, mode 0600). TLS always verifies the server: against
 * --ca (e.g. DIR/ca/root.pem) or, without one, the system's trust store. The
 * token is wiped when the handle is freed and never printed.
 *
 *	struct cli_remote *r = NULL;
 *	json_t *reply = NULL;
 *	if (cli_remote_open(&r, &m) == WARD_OK &&
 *	    cli_remote_call(r, "GET", "/api/v1/campaigns", NULL, &reply, &m) == WARD_OK)
 *		...;
 *	json_decref(reply);
 *	cli_remote_free(r);
 */
#ifndef WARD_CLI_REMOTE_H
#define WARD_CLI_REMOTE_H

#include <jansson.h>
#include <stdbool.h>

#include "ward/err.h"

/* Is an API server wanted for this command? True when --server / WARD_SERVER was given, or when no
 * deployment DIR was given and a saved login exists. (`ward` passes --server/--ca on to ward-fleet
 * as WARD_SERVER / WARD_CA in the environment.) */
bool cli_remote_wanted(void);

/* The same, for a command whose arguments may name a deployment (-c DIR/ward.conf): with conf
 * set, only --server / WARD_SERVER make it remote. */
bool cli_remote_wanted_for(const char *conf);

struct cli_remote;

/* Connect settings from --server/WARD_SERVER, --ca/WARD_CA, WARD_TOKEN, else the saved login.
 * WARD_E_NOTFOUND (with what to do) when there is no server or no token. Caller frees *out with
 * cli_remote_free(). */
ward_err cli_remote_open(struct cli_remote **out, struct ward_msg *m) WARD_MUST_USE;
void cli_remote_free(struct cli_remote *r); /* accepts NULL; wipes the token */

/* method "GET" or "POST"; path "/api/v1/..." with its query; body NULL or a JSON object (borrowed).
 * 2xx: *reply = the JSON reply (caller decrefs). Otherwise an error with the server's one-line reason
 * in m: WARD_E_DENIED (401/403), WARD_E_NOTFOUND (404), WARD_E_INVAL (400, 405, 409, 413, 415),
 * WARD_E_IO (other, network). Replies are capped at CLI_REMOTE_REPLY_MAX bytes. */
#define CLI_REMOTE_REPLY_MAX (64u * 1024 * 1024)
ward_err cli_remote_call(struct cli_remote *r, const char *method, const char *path, const json_t *body,
			 json_t **reply, struct ward_msg *m) WARD_MUST_USE;

/* Append "NAME=VALUE" to a query string being built in buf (size bytes; "?" or "&" as needed),
 * percent-encoding VALUE. WARD_E_TOOBIG when it does not fit. */
ward_err cli_remote_query(char *buf, size_t size, const char *name, const char *value) WARD_MUST_USE;

/* ---- for `ward login` / `ward logout` (cli/login.c) ---- */
/* $XDG_CONFIG_HOME/ward/login.json, else $HOME/.config/ward/login.json, into out (n bytes). */
ward_err cli_login_path(char *out, size_t n, struct ward_msg *m) WARD_MUST_USE;
/* The saved login (checked: a regular file of this user, mode 0600 or stricter, with server and
 * token); WARD_E_NOTFOUND when there is none. Caller releases it with cli_login_free(). */
ward_err cli_login_load(json_t **out, struct ward_msg *m) WARD_MUST_USE;
void cli_login_free(json_t *login); /* wipes the token; accepts NULL */
/* A handle on server (https://...) verified with ca (NULL: the system's trust store), sending token
 * (NULL: none, as for the login request itself). */
ward_err cli_remote_connect(const char *server, const char *ca, const char *token, struct cli_remote **out,
			    struct ward_msg *m) WARD_MUST_USE;

#endif
