/*
 * server/campaign_api.c — the campaign endpoints of the operator API. Not
 * built yet: 501 until they are.
 */
#include <event2/http.h>

#include "srv.h"

void srv_campaign_api(struct evhttp_request *req, struct srv *s, const char *path)
{
	(void)s;
	(void)path;
	srv_error(req, 501, "Not Implemented", "campaigns are not built yet");
}
