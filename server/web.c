/*
 * server/web.c — the dashboard's static files (web/). Not built yet: every
 * request is answered 404 until it is.
 */
#include <event2/http.h>

#include "srv.h"

void srv_web_get(struct evhttp_request *req, struct srv *s, const char *path)
{
	(void)s;
	(void)path;
	srv_error(req, 404, "Not Found", "no such resource");
}
