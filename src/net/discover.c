/* discover: ApiVersions v0 then Metadata vN (N ≤ 8, non-flexible) to one
 * bootstrap broker (see discover.h). Request layouts from the protocol guide:
 *
 *   ApiVersions v0:  header v1 (api 18, version 0, correlation id, client id)
 *   Metadata v1-v8:  header v1 | topics: int32 0 (none; v0: all)
 *                    | v4+: allow_auto_topic_creation int8
 *                    | v8+: include_cluster/topic_authorized_operations int8 x2 */
#include "config.h"
#include "net/discover.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "net/netlog.h"
#include "net/rewrite_addr.h"
#include "proto/codec.h"
#include "proto/cursor.h"
#include "proto/tree.h"
#include "util/buf.h"

#define API_METADATA 3
#define API_VERSIONS 18
#define DISCOVER_TIMEOUT_S 5
#define CLIENT_ID "kafkatap-proxy"

enum discover_step { STEP_IDLE, STEP_VERSIONS, STEP_METADATA };

struct discover {
	struct event_base *base;
	struct evdns_base *dns;
	const struct netaddr *ups;
	int n;
	uint32_t max_frame;
	discover_fn fn;
	void *ctx;
	struct bufferevent *bev;
	enum discover_step step;
	int idx;                   /* upstream being asked */
	int tried;
	int16_t md_version;
	struct timeval last_end;
	bool stopped;
};

static void request(struct buf *b, int16_t api, int16_t version, int32_t corr)
{
	cursor_write_i32(b, 0); /* size, patched below */
	cursor_write_i16(b, api);
	cursor_write_i16(b, version);
	cursor_write_i32(b, corr);
	cursor_write_i16(b, (int16_t)strlen(CLIENT_ID));
	buf_append(b, CLIENT_ID, strlen(CLIENT_ID));
}

static void send_request(struct discover *d, struct buf *b)
{
	cursor_patch_i32(b, 0, (int32_t)(b->len - 4));
	bufferevent_write(d->bev, b->p, b->len);
	buf_free(b);
}

static void finish(struct discover *d)
{
	if (d->bev)
		bufferevent_free(d->bev);
	d->bev = NULL;
	d->step = STEP_IDLE;
	event_base_gettimeofday_cached(d->base, &d->last_end);
}

static void try_next(struct discover *d, const char *why);

static void fail(struct discover *d, const char *why)
{
	char as[NETADDR_STR_MAX];
	netlog_info("broker discovery through %s: %s",
		    netaddr_format(&d->ups[d->idx], as, sizeof as), why);
	if (d->bev)
		bufferevent_free(d->bev);
	d->bev = NULL;
	d->idx = (d->idx + 1) % d->n;
	try_next(d, why);
}

static void on_versions(struct discover *d, const uint8_t *frame, size_t len)
{
	struct tree t;
	struct codec_header h;
	struct codec_diag diag;
	tree_ref root;
	tree_init(&t);
	memset(&diag, 0, sizeof diag);
	int16_t lo = -1, hi = -1;
	if (codec_decode_response(frame, len, API_VERSIONS, 0, &t, &h, &root, NULL, &diag) ==
	    CODEC_OK) {
		tree_ref arr = tree_child(&t, root, "apiKeys");
		for (tree_ref e = arr ? tree_node(&t, arr)->first : TREE_NONE; e;
		     e = tree_node(&t, e)->next)
			if (tree_get_int(&t, e, "apiKey", -1) == API_METADATA) {
				lo = (int16_t)tree_get_int(&t, e, "minVersion", -1);
				hi = (int16_t)tree_get_int(&t, e, "maxVersion", -1);
			}
	}
	tree_free(&t);
	if (hi < 0 || lo > 8) {
		fail(d, "no Metadata version in 0-8 in its ApiVersions answer");
		return;
	}
	d->md_version = hi > 8 ? 8 : hi;
	struct buf b;
	buf_init(&b);
	request(&b, API_METADATA, d->md_version, 2);
	cursor_write_i32(&b, 0);
	if (d->md_version >= 4)
		cursor_write_u8(&b, 0);
	if (d->md_version >= 8) {
		cursor_write_u8(&b, 0);
		cursor_write_u8(&b, 0);
	}
	send_request(d, &b);
	d->step = STEP_METADATA;
}

static void on_metadata(struct discover *d, const uint8_t *frame, size_t len)
{
	struct tree t;
	struct codec_header h;
	struct codec_diag diag;
	tree_ref root;
	tree_init(&t);
	memset(&diag, 0, sizeof diag);
	if (codec_decode_response(frame, len, API_METADATA, d->md_version, &t, &h, &root, NULL,
				  &diag) != CODEC_OK) {
		char msg[512];
		tree_free(&t);
		fail(d, codec_diag_format(&diag, msg, sizeof msg));
		return;
	}
	tree_ref arr = tree_child(&t, root, "brokers");
	int n = 0;
	for (tree_ref e = arr ? tree_node(&t, arr)->first : TREE_NONE; e; e = tree_node(&t, e)->next) {
		tree_ref hr = tree_child(&t, e, "host");
		if (!hr)
			continue;
		const struct tree_node *hn = tree_node(&t, hr);
		char host[NETADDR_HOST_MAX];
		if (!rewrite_addr_host(hn, host, sizeof host))
			continue;
		d->fn(d->ctx, (int32_t)tree_get_int(&t, e, "nodeId", -1), host,
		      (int32_t)tree_get_int(&t, e, "port", -1));
		n++;
	}
	tree_free(&t);
	char as[NETADDR_STR_MAX];
	netlog_info("broker discovery through %s: %d brokers (Metadata v%d)",
		    netaddr_format(&d->ups[d->idx], as, sizeof as), n, d->md_version);
	finish(d);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct discover *d = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[4];
	if (evbuffer_copyout(in, hdr, 4) < 4)
		return;
	uint32_t size = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (size > d->max_frame || size < 4) {
		fail(d, "answered with a frame of impossible size");
		return;
	}
	if (evbuffer_get_length(in) < 4 + (size_t)size)
		return;
	const uint8_t *p = evbuffer_pullup(in, 4 + (ev_ssize_t)size);
	if (!p) {
		fail(d, "out of memory");
		return;
	}
	if (d->step == STEP_VERSIONS)
		on_versions(d, p + 4, size);
	else if (d->step == STEP_METADATA)
		on_metadata(d, p + 4, size);
	/* on_* may have freed this bufferevent (then `in` is not touched again). */
	if (d->bev == bev)
		evbuffer_drain(in, 4 + (size_t)size);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct discover *d = arg;
	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (netlog_get_level() >= NETLOG_DEBUG) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			char local[NETADDR_STR_MAX] = "?", as[NETADDR_STR_MAX];
			if (getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &sl) == 0)
				netaddr_format_sa((struct sockaddr *)&ss, local, sizeof local);
			netlog_debug("broker discovery: connected to broker %s from %s",
				     netaddr_format(&d->ups[d->idx], as, sizeof as), local);
		}
		struct buf b;
		buf_init(&b);
		request(&b, API_VERSIONS, 0, 1);
		send_request(d, &b);
		d->step = STEP_VERSIONS;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		fail(d, "timed out");
	else if (what & BEV_EVENT_EOF)
		fail(d, "the broker closed the connection");
	else
		fail(d, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void try_next(struct discover *d, const char *why)
{
	if (d->stopped)
		return;
	if (d->tried >= d->n) {
		netlog_warn("could not learn the cluster's brokers (%s); they will be learned from the "
			    "clients' Metadata requests",
			    why);
		finish(d);
		return;
	}
	d->tried++;
	d->bev = bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!d->bev) {
		finish(d);
		return;
	}
	d->step = STEP_VERSIONS;
	bufferevent_setcb(d->bev, read_cb, NULL, event_cb, d);
	struct timeval tmo = {DISCOVER_TIMEOUT_S, 0};
	bufferevent_set_timeouts(d->bev, &tmo, &tmo);
	bufferevent_enable(d->bev, EV_READ);
	const struct netaddr *a = &d->ups[d->idx];
	struct sockaddr_storage ss;
	int sslen;
	/* Deferred callbacks: an immediate failure is reported after we return. */
	if (netaddr_to_sockaddr(a, &ss, &sslen))
		(void)bufferevent_socket_connect(d->bev, (struct sockaddr *)&ss, sslen);
	else
		(void)bufferevent_socket_connect_hostname(d->bev, d->dns, AF_UNSPEC, a->host, a->port);
}

struct discover *discover_new(struct event_base *base, struct evdns_base *dns,
			      const struct netaddr *upstreams, int n, uint32_t max_frame,
			      discover_fn fn, void *ctx)
{
	if (n <= 0)
		return NULL;
	struct discover *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->base = base;
	d->dns = dns;
	d->ups = upstreams;
	d->n = n;
	d->max_frame = max_frame;
	d->fn = fn;
	d->ctx = ctx;
	return d;
}

void discover_start(struct discover *d)
{
	if (!d || d->stopped || d->step != STEP_IDLE)
		return;
	struct timeval now;
	event_base_gettimeofday_cached(d->base, &now);
	if (d->last_end.tv_sec && now.tv_sec - d->last_end.tv_sec < 1)
		return;
	d->tried = 0;
	try_next(d, "no upstream");
}

void discover_stop(struct discover *d)
{
	if (!d)
		return;
	d->stopped = true;
	if (d->bev)
		bufferevent_free(d->bev);
	d->bev = NULL;
	d->step = STEP_IDLE;
}

void discover_free(struct discover *d)
{
	discover_stop(d);
	free(d);
}
