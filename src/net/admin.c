/* admin: /metrics and /healthz over evhttp (see admin.h). */
#include "config.h"
#include "net/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "util/buf.h"

struct admin {
	struct evhttp *http;
	struct metrics *m;
	bool (*healthy)(void *ctx);
	void *ctx;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
		  const void *body, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(out, body, len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	struct buf b;
	buf_init(&b);
	metrics_render(a->m, &b);
	if (b.failed)
		evhttp_send_error(req, 500, "out of memory");
	else
		reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
	buf_free(&b);
}

static void healthz_cb(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	if (!a->healthy || a->healthy(a->ctx))
		reply(req, 200, "OK", "text/plain; charset=utf-8", "ok\n", 3);
	else
		reply(req, 503, "Service Unavailable", "text/plain; charset=utf-8", "draining\n", 9);
}

static void other_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	static const char body[] = "not found: try /metrics or /healthz\n";
	reply(req, 404, "Not Found", "text/plain; charset=utf-8", body, sizeof body - 1);
}

struct admin *admin_open(struct event_base *base, const struct netaddr *addr, struct metrics *m,
			 bool (*healthy)(void *ctx), void *ctx, struct netaddr *bound, char *err,
			 size_t errlen)
{
	struct admin *a = calloc(1, sizeof *a);
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->m = m;
	a->healthy = healthy;
	a->ctx = ctx;
	a->http = evhttp_new(base);
	char as[NETADDR_STR_MAX];
	netaddr_format(addr, as, sizeof as);
	if (!a->http) {
		snprintf(err, errlen, "admin endpoint %s: out of memory", as);
		free(a);
		return NULL;
	}
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(a->http, "/metrics", metrics_cb, a);
	evhttp_set_cb(a->http, "/healthz", healthz_cb, a);
	evhttp_set_gencb(a->http, other_cb, a);
	evhttp_set_timeout(a->http, 10);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(a->http, addr->host, addr->port);
	if (!bs) {
		snprintf(err, errlen, "admin endpoint: cannot listen on %s: %s", as,
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		evhttp_free(a->http);
		free(a);
		return NULL;
	}
	if (bound) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		*bound = *addr;
		if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET)
				bound->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			else if (ss.ss_family == AF_INET6)
				bound->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	return a;
}

void admin_close(struct admin *a)
{
	if (!a)
		return;
	evhttp_free(a->http);
	free(a);
}
