/* proxy: listeners, broker learning, limits, signals (see proxy.h).
 *
 * Cluster mode port mapping: node id N listens at --broker-map N=HOST:PORT
 * when given, else at the --listen host and port (--port-base) + N, where
 * --port-base defaults to the --listen port + 1. A port that cannot be bound
 * (in use, out of range) falls back to one the kernel picks, with a warning. */
#include "config.h"
#include "net/proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netfilter_ipv4.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "net/admin.h"
#include "net/conn.h"
#include "net/discover.h"
#include "net/metrics.h"
#include "net/netlog.h"
#include "net/rewrite_addr.h"
#include "net/tap.h"
#include "util/reserve.h"

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

struct proxy;

struct plistener {
	struct proxy *p;
	int32_t node_id;           /* -1: the bootstrap (or transparent) listener */
	struct evconnlistener *l;
	struct netaddr bound;      /* as bound (the real port when 0 was asked) */
	struct netaddr advertised; /* what clients are told */
	struct event *retry;       /* re-enable after an accept error */
	struct plistener *next;
};

struct pbroker {
	int32_t node_id;
	bool known;                /* real address learned */
	struct netaddr real;
	struct plistener *l;
};

struct proxy {
	const struct proxy_config *cfg;
	struct event_base *base;
	struct evdns_base *dns;
	struct metrics metrics;
	struct conn_env env;
	struct tap *tap;
	struct admin *admin;
	struct discover *discover;
	struct plistener *listeners;
	struct pbroker *brokers;
	size_t nbrokers, capbrokers;
	struct conn *conns;
	uint32_t nconns;
	uint32_t max_connections;
	uint64_t next_id;
	unsigned rr;               /* next bootstrap upstream */
	int port_base;
	char advertise_host[NETADDR_HOST_MAX];
	bool draining;
	struct event *sig[3];
	struct event *grace;
	struct event *sweep;
	struct event *resume;      /* --store-when-full pause: polls the recording's queue */
	uint64_t paused_since_ms;
	uint64_t paused_ms;        /* in all */
};

void proxy_config_init(struct proxy_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->grace_s = PROXY_DEFAULT_GRACE_S;
}

/* --- brokers ---------------------------------------------------------- */

static struct pbroker *broker_find(struct proxy *p, int32_t node_id)
{
	for (size_t i = 0; i < p->nbrokers; i++)
		if (p->brokers[i].node_id == node_id)
			return &p->brokers[i];
	return NULL;
}

static struct pbroker *broker_get(struct proxy *p, int32_t node_id)
{
	struct pbroker *b = broker_find(p, node_id);
	if (b)
		return b;
	if (p->nbrokers == p->capbrokers) {
		size_t ncap = p->capbrokers ? p->capbrokers * 2 : 16;
		struct pbroker *nb = realloc(p->brokers, ncap * sizeof *nb);
		if (!nb)
			return NULL;
		/* Listeners point at nothing in here, so moving the array is safe. */
		p->brokers = nb;
		p->capbrokers = ncap;
	}
	b = &p->brokers[p->nbrokers++];
	memset(b, 0, sizeof *b);
	b->node_id = node_id;
	return b;
}

/* The node id of a broker at `a`, or -1. */
static int32_t broker_by_addr(struct proxy *p, const struct netaddr *a)
{
	for (size_t i = 0; i < p->nbrokers; i++)
		if (p->brokers[i].known && netaddr_equal(&p->brokers[i].real, a))
			return p->brokers[i].node_id;
	return -1;
}

/* Whether c's upstream is the broker advertised at `real`: by the address
 * it was asked to connect to, or by the numeric address it connected to
 * (--upstream may name a host that brokers advertise by IP address). */
static bool conn_goes_to(const struct conn *c, const struct netaddr *real)
{
	return netaddr_equal(&c->upstream_addr, real) ||
	       (c->have_peer && netaddr_equal(&c->upstream_peer, real));
}

/* --- listeners -------------------------------------------------------- */

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plistener *pl = arg;
	(void)fd;
	(void)what;
	if (pl->l && !pl->p->draining)
		evconnlistener_enable(pl->l);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct plistener *pl = arg;
	int err = EVUTIL_SOCKET_ERROR();
	char as[NETADDR_STR_MAX];
	netlog_warn("listener %s: accept failed: %s; pausing it for 100 ms",
		    netaddr_format(&pl->bound, as, sizeof as), evutil_socket_error_to_string(err));
	pl->p->metrics.refused[REASON_RESOURCES]++;
	/* EMFILE and friends leave the socket readable: back off instead of spinning. */
	evconnlistener_disable(l);
	struct timeval tv = {0, 100000};
	event_add(pl->retry, &tv);
}

static const char *host_to_advertise(struct proxy *p, const struct netaddr *listen)
{
	if (p->advertise_host[0])
		return p->advertise_host;
	if (!netaddr_is_wildcard(listen))
		return listen->host;
	static char hn[NETADDR_HOST_MAX];
	if (!hn[0] && gethostname(hn, sizeof hn - 1) != 0)
		snprintf(hn, sizeof hn, "localhost");
	return hn;
}

static struct plistener *listener_open(struct proxy *p, const struct netaddr *a, int32_t node_id,
				       char *err, size_t errlen)
{
	char as[NETADDR_STR_MAX];
	netaddr_format(a, as, sizeof as);
	struct sockaddr_storage ss;
	int sslen;
	if (!netaddr_to_sockaddr(a, &ss, &sslen)) {
		snprintf(err, errlen, "cannot listen on %s: give a numeric IP address", as);
		return NULL;
	}
	struct plistener *pl = calloc(1, sizeof *pl);
	if (!pl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pl->p = p;
	pl->node_id = node_id;
	pl->retry = evtimer_new(p->base, retry_cb, pl);
	pl->l = evconnlistener_new_bind(p->base, accept_cb, pl,
					LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
						LEV_OPT_REUSEABLE,
					1024, (struct sockaddr *)&ss, sslen);
	if (!pl->l || !pl->retry) {
		snprintf(err, errlen, "cannot listen on %s: %s", as,
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		if (pl->l)
			evconnlistener_free(pl->l);
		if (pl->retry)
			event_free(pl->retry);
		free(pl);
		return NULL;
	}
	evconnlistener_set_error_cb(pl->l, accept_error_cb);
	pl->bound = *a;
	struct sockaddr_storage bs;
	socklen_t blen = sizeof bs;
	if (getsockname(evconnlistener_get_fd(pl->l), (struct sockaddr *)&bs, &blen) == 0) {
		if (bs.ss_family == AF_INET)
			pl->bound.port = ntohs(((struct sockaddr_in *)&bs)->sin_port);
		else if (bs.ss_family == AF_INET6)
			pl->bound.port = ntohs(((struct sockaddr_in6 *)&bs)->sin6_port);
	}
	pl->advertised = pl->bound;
	snprintf(pl->advertised.host, sizeof pl->advertised.host, "%s",
		 host_to_advertise(p, &pl->bound));
	pl->next = p->listeners;
	p->listeners = pl;
	p->metrics.v[METRIC_LISTENERS]++;
	return pl;
}

static void listeners_close(struct proxy *p)
{
	while (p->listeners) {
		struct plistener *pl = p->listeners;
		p->listeners = pl->next;
		evconnlistener_free(pl->l);
		event_free(pl->retry);
		free(pl);
	}
	for (size_t i = 0; i < p->nbrokers; i++)
		p->brokers[i].l = NULL;
	p->metrics.v[METRIC_LISTENERS] = 0;
}

static const struct netaddr *map_for(struct proxy *p, int32_t node_id)
{
	for (int i = 0; i < p->cfg->n_maps; i++)
		if (p->cfg->maps[i].node_id == node_id)
			return &p->cfg->maps[i].listen;
	return NULL;
}

/* The listener for node id N, opened on first use. */
static struct plistener *node_listener(struct proxy *p, struct pbroker *b)
{
	if (b->l || p->draining)
		return b->l;
	struct netaddr a;
	const struct netaddr *m = map_for(p, b->node_id);
	char err[256], as[NETADDR_STR_MAX];
	if (m) {
		a = *m;
	} else {
		a = p->cfg->listen;
		long port = (long)p->port_base + b->node_id;
		if (port < 1 || port > 65535) {
			netlog_warn("broker %d: port %ld (--port-base %d + node id) is out of range; "
				    "using a port the kernel picks",
				    b->node_id, port, p->port_base);
			port = 0;
		}
		a.port = (uint16_t)port;
	}
	b->l = listener_open(p, &a, b->node_id, err, sizeof err);
	if (!b->l && a.port != 0) {
		netlog_warn("broker %d: %s; using a port the kernel picks", b->node_id, err);
		a.port = 0;
		b->l = listener_open(p, &a, b->node_id, err, sizeof err);
	}
	if (!b->l) {
		netlog_error("broker %d: %s; its address is passed to clients unchanged", b->node_id,
			     err);
		return NULL;
	}
	char rs[NETADDR_STR_MAX];
	netlog_info("broker %d (%s) is reachable through %s", b->node_id,
		    b->known ? netaddr_format(&b->real, rs, sizeof rs) : "address not known yet",
		    netaddr_format(&b->l->advertised, as, sizeof as));
	return b->l;
}

/* Learn that node_id is at host:port. */
static struct pbroker *learn(struct proxy *p, int32_t node_id, const char *host, int32_t port)
{
	/* A broker's own answer may carry anything: an address the proxy could
	 * not connect to or write back (empty, control bytes) is not learned,
	 * and its entry is forwarded as the broker sent it. */
	if (port < 0 || port > 65535 || !netaddr_host_valid(host, strlen(host)))
		return NULL;
	struct pbroker *b = broker_get(p, node_id);
	if (!b)
		return NULL;
	struct netaddr real;
	memset(&real, 0, sizeof real);
	snprintf(real.host, sizeof real.host, "%s", host);
	real.port = (uint16_t)port;
	if (b->known && netaddr_equal(&b->real, &real))
		return b;
	char rs[NETADDR_STR_MAX], os[NETADDR_STR_MAX];
	if (b->known)
		netlog_info("broker %d moved from %s to %s", node_id,
			    netaddr_format(&b->real, os, sizeof os),
			    netaddr_format(&real, rs, sizeof rs));
	else
		netlog_info("learned broker %d at %s", node_id, netaddr_format(&real, rs, sizeof rs));
	if (!b->known)
		p->metrics.v[METRIC_BROKERS_KNOWN]++;
	b->known = true;
	b->real = real;
	/* Bootstrap connections to that address now know their node id (and
	 * so do their recorded connection rows). */
	for (struct conn *c = p->conns; c; c = c->next)
		if (c->xc.broker_node_id < 0 && conn_goes_to(c, &real))
			conn_set_node_id(c, node_id);
	return b;
}

static bool map_broker(void *ctx, int32_t node_id, const char *host, int32_t port,
		       char *new_host, size_t new_host_size, int32_t *new_port)
{
	struct proxy *p = ctx;
	struct pbroker *b = learn(p, node_id, host, port);
	if (!b || p->cfg->transparent)
		return false;
	struct plistener *pl = node_listener(p, b);
	if (!pl)
		return false;
	snprintf(new_host, new_host_size, "%s", pl->advertised.host);
	*new_port = pl->advertised.port;
	return true;
}

static enum rewrite_result rewrite_cb(void *ctx, struct conn *c, int api_key, int api_version,
				      const uint8_t *frame, size_t len, struct buf *out)
{
	struct proxy *p = ctx;
	char err[512];
	enum rewrite_result r = rewrite_addr_response(api_key, api_version, frame, len, map_broker,
						      p, out, err, sizeof err);
	if (r == REWRITE_FAILED)
		netlog_warn("conn %llu broker %s: cannot rewrite the broker addresses of a response "
			    "(%s); forwarding it unchanged",
			    (unsigned long long)c->xc.id, c->xc.broker, err);
	return p->cfg->transparent && r == REWRITE_DONE ? REWRITE_UNCHANGED : r;
}

static void discovered(void *ctx, int32_t node_id, const char *host, int32_t port)
{
	char h[NETADDR_HOST_MAX];
	int32_t np;
	(void)map_broker(ctx, node_id, host, port, h, sizeof h, &np);
}

/* --- connections ------------------------------------------------------ */

static bool next_upstream_cb(void *ctx, struct conn *c, struct netaddr *out)
{
	struct proxy *p = ctx;
	/* Only bootstrap connections have a list to go through. */
	if (!c->bootstrap || p->cfg->transparent || c->tries >= (uint32_t)p->cfg->n_upstreams)
		return false;
	*out = p->cfg->upstreams[p->rr++ % (unsigned)p->cfg->n_upstreams];
	return true;
}

/* A connection opened before its broker's address was learned, or to a
 * host name: its numeric peer may be a known broker. */
static void connected_cb(void *ctx, struct conn *c)
{
	struct proxy *p = ctx;
	if (c->xc.broker_node_id >= 0 || !c->have_peer)
		return;
	int32_t node_id = broker_by_addr(p, &c->upstream_peer);
	if (node_id >= 0)
		conn_set_node_id(c, node_id);
}

static void closed_cb(void *ctx, struct conn *c)
{
	struct proxy *p = ctx;
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->nconns--;
	if (p->draining && p->nconns == 0)
		event_base_loopbreak(p->base);
}

static void refuse(struct proxy *p, evutil_socket_t fd, const char *client, const char *lis,
		   enum conn_reason r, const char *detail)
{
	p->metrics.refused[r]++;
	netlog_warn("refused connection from %s on %s: %s%s%s", client, lis, conn_reason_text(r),
		    detail ? ": " : "", detail ? detail : "");
	evutil_closesocket(fd);
}

static bool original_dst(evutil_socket_t fd, struct netaddr *out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len) != 0) {
		len = sizeof ss;
		if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len) != 0)
			return false;
	}
	char s[NETADDR_STR_MAX];
	netaddr_format_sa((struct sockaddr *)&ss, s, sizeof s);
	char err[128];
	return netaddr_parse(s, NULL, out, err, sizeof err);
}

static bool is_own_listener(struct proxy *p, evutil_socket_t fd, const struct netaddr *dst)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char s[NETADDR_STR_MAX], err[128];
	struct netaddr local;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	netaddr_format_sa((struct sockaddr *)&ss, s, sizeof s);
	if (!netaddr_parse(s, NULL, &local, err, sizeof err))
		return false;
	if (netaddr_equal(&local, dst))
		return true;
	for (struct plistener *pl = p->listeners; pl; pl = pl->next)
		if (pl->bound.port == dst->port && netaddr_equal(&pl->bound, dst))
			return true;
	return false;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct plistener *pl = arg;
	struct proxy *p = pl->p;
	char client[NETADDR_STR_MAX], lis[NETADDR_STR_MAX];
	(void)l;
	(void)salen;
	netaddr_format_sa(sa, client, sizeof client);
	netaddr_format(&pl->bound, lis, sizeof lis);
	if (p->draining) {
		refuse(p, fd, client, lis, REASON_SHUTDOWN, NULL);
		return;
	}
	if (p->nconns >= p->max_connections) {
		char d[64];
		snprintf(d, sizeof d, "%u connections open", p->nconns);
		refuse(p, fd, client, lis, REASON_MAX_CONNECTIONS, d);
		return;
	}
	struct netaddr up;
	int32_t node_id = pl->node_id;
	if (p->cfg->transparent) {
		bool have = original_dst(fd, &up);
		if (have && is_own_listener(p, fd, &up)) {
			if (p->cfg->n_upstreams == 0) {
				refuse(p, fd, client, lis, REASON_LOOP,
				       "not redirected by iptables and no --upstream to fall back to");
				return;
			}
			have = false;
		}
		if (!have) {
			if (p->cfg->n_upstreams == 0) {
				refuse(p, fd, client, lis, REASON_NO_ORIGINAL_DST,
				       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
				return;
			}
			up = p->cfg->upstreams[p->rr++ % (unsigned)p->cfg->n_upstreams];
		}
		node_id = broker_by_addr(p, &up);
	} else if (pl->node_id >= 0) {
		struct pbroker *b = broker_find(p, pl->node_id);
		if (!b || !b->known) {
			refuse(p, fd, client, lis, REASON_NO_ROUTE,
			       "the broker's address is not known yet (clients learn it through the "
			       "bootstrap listener)");
			if (p->discover)
				discover_start(p->discover);
			return;
		}
		up = b->real;
	} else {
		up = p->cfg->upstreams[p->rr++ % (unsigned)p->cfg->n_upstreams];
		node_id = broker_by_addr(p, &up);
	}
	p->metrics.v[METRIC_CONNECTIONS_ACCEPTED]++;
	struct conn *c = conn_new(&p->env, fd, sa, ++p->next_id, &up, node_id);
	if (!c) {
		p->metrics.refused[REASON_RESOURCES]++;
		netlog_warn("refused connection from %s on %s: out of memory", client, lis);
		return;
	}
	c->bootstrap = pl->node_id < 0;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	p->nconns++;
	char us[NETADDR_STR_MAX];
	netlog_debug("conn %llu: accepted %s on %s, broker %s (node %d)",
		     (unsigned long long)c->xc.id, client, lis, netaddr_format(&up, us, sizeof us),
		     node_id);
	(void)conn_start(c);
}

/* --- timers and signals ----------------------------------------------- */

static uint64_t now_ms(struct proxy *p)
{
	struct timeval tv;
	event_base_gettimeofday_cached(p->base, &tv);
	return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;
	(void)fd;
	(void)what;
	/* While reading is paused for the recording, silence is the proxy's doing. */
	if (p->env.reading_paused)
		return;
	uint64_t limit = (uint64_t)p->cfg->idle_timeout_s * 1000u;
	uint64_t now = now_ms(p);
	struct conn *next;
	for (struct conn *c = p->conns; c; c = next) {
		next = c->next;
		if (now - c->last_active_ms < limit)
			continue;
		bool flushing = c->state == CONN_FLUSH_CLIENT || c->state == CONN_FLUSH_UPSTREAM;
		if (!flushing && !conn_idle(c))
			continue; /* a request is waiting for its response */
		netlog_warn("conn %llu: client %s, broker %s: no traffic for %u s (--idle-timeout); "
			    "closing",
			    (unsigned long long)c->xc.id, c->xc.client, c->xc.broker,
			    p->cfg->idle_timeout_s);
		conn_close(c, REASON_IDLE_TIMEOUT);
	}
}

/* --- pausing for the recording (--store-when-full pause) --------------- */

#define RESUME_POLL_US 5000

static void reading_all(struct proxy *p)
{
	for (struct conn *c = p->conns; c; c = c->next)
		conn_update_reading(c);
}

static void arm_resume(struct proxy *p)
{
	struct timeval tv = {0, RESUME_POLL_US};
	event_add(p->resume, &tv);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;
	(void)fd;
	(void)what;
	if (!tap_recording_drained(p->tap)) {
		arm_resume(p);
		return;
	}
	p->env.reading_paused = false;
	metrics_set(&p->metrics, METRIC_RECORDING_PAUSED, 0);
	uint64_t ms = now_ms(p) - p->paused_since_ms;
	p->paused_ms += ms;
	netlog_debug("recording: reading resumes after %llu ms", (unsigned long long)ms);
	reading_all(p);
}

/* The recording's queue reached its limit: no connection reads until it
 * has drained to half. The loop goes on (writes, timers, the admin
 * endpoint); clients and brokers see TCP backpressure, as from a slow peer. */
static void recording_full_cb(void *ctx)
{
	struct proxy *p = ctx;
	if (p->env.reading_paused || !p->resume)
		return;
	if (p->metrics.v[METRIC_RECORDING_PAUSES] == 0)
		netlog_warn("recording: the queue is full; reading from every connection pauses "
			    "until the recording catches up (--store-when-full pause; counted in "
			    "kafkatap_recording_pauses_total)");
	p->env.reading_paused = true;
	p->paused_since_ms = now_ms(p);
	metrics_inc(&p->metrics, METRIC_RECORDING_PAUSES);
	metrics_set(&p->metrics, METRIC_RECORDING_PAUSED, 1);
	reading_all(p);
	arm_resume(p);
}

static void close_all(struct proxy *p, enum conn_reason r)
{
	while (p->conns)
		conn_close(p->conns, r);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *p = arg;
	(void)fd;
	(void)what;
	netlog_warn("grace period (%u s) over: closing %u connections that still had requests in "
		    "flight",
		    p->cfg->grace_s, p->nconns);
	close_all(p, REASON_SHUTDOWN);
	event_base_loopbreak(p->base);
}

static void begin_shutdown(struct proxy *p, const char *why)
{
	if (p->draining) {
		netlog_warn("%s again: closing %u connections now", why, p->nconns);
		close_all(p, REASON_SHUTDOWN);
		event_base_loopbreak(p->base);
		return;
	}
	p->draining = true;
	p->metrics.v[METRIC_SHUTTING_DOWN] = 1;
	netlog_info("%s: no longer accepting connections; draining %u connections (--grace %u s)",
		    why, p->nconns, p->cfg->grace_s);
	listeners_close(p);
	if (p->discover)
		discover_stop(p->discover);
	struct conn *next;
	for (struct conn *c = p->conns; c; c = next) {
		next = c->next;
		conn_drain(c);
	}
	if (p->nconns == 0) {
		event_base_loopbreak(p->base);
		return;
	}
	struct timeval tv = {(time_t)p->cfg->grace_s, 0};
	event_add(p->grace, &tv);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct proxy *p = arg;
	(void)what;
	if (sig == SIGHUP) {
		char err[512];
		if (!p->cfg->tap.record_path) {
			netlog_info("SIGHUP: no recording to reopen");
		} else if (tap_reopen(p->tap, err, sizeof err) == 0) {
			netlog_info("SIGHUP: reopened the recording %s", p->cfg->tap.record_path);
		} else {
			netlog_error("SIGHUP: cannot reopen the recording %s: %s",
				     p->cfg->tap.record_path, err);
		}
		return;
	}
	begin_shutdown(p, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static bool healthy_cb(void *ctx)
{
	struct proxy *p = ctx;
	return !p->draining;
}

static void refresh_cb(void *ctx, struct metrics *m)
{
	struct proxy *p = ctx;
	if (p->tap)
		tap_refresh_metrics(p->tap, m);
}

/* --- run -------------------------------------------------------------- */

static uint32_t fd_budget(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1u << 24 ? 1u << 24 : (uint32_t)rl.rlim_cur;
}

static void libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		netlog_warn("libevent: %s", msg);
	else
		netlog_debug("libevent: %s", msg);
}

static void proxy_free(struct proxy *p)
{
	close_all(p, REASON_SHUTDOWN);
	listeners_close(p);
	if (p->discover)
		discover_free(p->discover);
	admin_close(p->admin);
	for (int i = 0; i < 3; i++)
		if (p->sig[i])
			event_free(p->sig[i]);
	if (p->grace)
		event_free(p->grace);
	if (p->sweep)
		event_free(p->sweep);
	if (p->resume)
		event_free(p->resume);
	uint64_t pauses = p->metrics.v[METRIC_RECORDING_PAUSES];
	if (p->env.reading_paused && p->base)
		p->paused_ms += now_ms(p) - p->paused_since_ms;
	if (pauses)
		netlog_info("recording: reading was paused %llu times, %.1f s in all, to let the "
			    "recording keep up",
			    (unsigned long long)pauses, (double)p->paused_ms / 1000.0);
	if (p->dns)
		evdns_base_free(p->dns, 0);
	if (p->tap)
		tap_close(p->tap);
	free(p->brokers);
	metrics_destroy(&p->metrics);
	if (p->base)
		event_base_free(p->base);
}

int proxy_run(const struct proxy_config *cfg)
{
	struct proxy px;
	struct proxy *p = &px;
	char err[512], as[NETADDR_STR_MAX];
	memset(p, 0, sizeof *p);
	p->cfg = cfg;
	metrics_init(&p->metrics);
	p->metrics.refresh = refresh_cb;
	p->metrics.refresh_ctx = p;
	struct timeval start;
	gettimeofday(&start, NULL);
	p->metrics.v[METRIC_START_TIME] = (uint64_t)start.tv_sec;
	event_set_log_callback(libevent_log);
	signal(SIGPIPE, SIG_IGN);

	uint32_t fds = fd_budget();
	uint32_t fd_max = fds > 64 ? (fds - 64) / 2 : 16;
	p->max_connections = cfg->max_connections ? cfg->max_connections
						  : PROXY_DEFAULT_MAX_CONNECTIONS;
	if (p->max_connections > fd_max && cfg->max_connections) {
		netlog_warn("--max-connections %u needs %u file descriptors but the limit is %u "
			    "(ulimit -n); using %u",
			    p->max_connections, p->max_connections * 2 + 64, fds, fd_max);
		p->max_connections = fd_max;
	} else if (p->max_connections > fd_max) {
		p->max_connections = fd_max;
	}
	snprintf(p->advertise_host, sizeof p->advertise_host, "%s", cfg->advertise_host);
	p->port_base = cfg->port_base ? cfg->port_base : cfg->listen.port + 1;

	p->base = event_base_new();
	if (!p->base) {
		netlog_error("cannot create the event loop");
		proxy_free(p);
		return 1;
	}
	p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!p->dns)
		p->dns = evdns_base_new(p->base, 0); /* no resolv.conf: numeric addresses only */

	if (cfg->tap.record_path || cfg->tap.output != TAP_OUTPUT_NONE) {
		p->tap = tap_open(&cfg->tap, &p->metrics, err, sizeof err);
		if (!p->tap) {
			netlog_error("%s", err);
			proxy_free(p);
			return 1;
		}
	}
	if (cfg->store_reserve && cfg->tap.record_path) {
		const struct store_opts *so = cfg->tap.store;
		size_t queue = so && so->queue_max_bytes ? so->queue_max_bytes : STORE_DEFAULT_QUEUE_BYTES;
		/* A full queue holds more than its frame bytes: the frame being
		 * gathered on each connection, the queue's items, the event loop's
		 * own buffers. A quarter more covered them in the benchmark. */
		size_t bytes = queue + queue / 4;
		if (bytes > RESERVE_MAX)
			bytes = RESERVE_MAX;
		/* Here, on the event loop's thread: the frames are its blocks. */
		if (reserve_heap(bytes, err, sizeof err))
			netlog_info("holding %zu MiB for the recording's queue (--store-reserve)",
				    bytes >> 20);
		else
			netlog_warn("--store-reserve: %s; the queue takes memory as it fills", err);
	}
	p->env.base = p->base;
	p->env.dns = p->dns;
	p->env.metrics = &p->metrics;
	p->env.tap = p->tap;
	p->env.max_frame = cfg->max_frame ? cfg->max_frame : STREAM_DEFAULT_MAX_FRAME;
	p->env.scfg.max_frame = p->env.max_frame;
	p->env.rewrite = !cfg->transparent;
	p->env.learn = true;
	p->env.rewrite_fn = rewrite_cb;
	p->env.next_upstream_fn = next_upstream_cb;
	p->env.connected_fn = connected_cb;
	p->env.closed_fn = closed_cb;
	if (tap_pauses(p->tap)) {
		p->env.recording_full_fn = recording_full_cb;
		p->resume = evtimer_new(p->base, resume_cb, p);
	}
	p->env.ctx = p;

	if (!listener_open(p, &cfg->listen, -1, err, sizeof err)) {
		netlog_error("%s", err);
		proxy_free(p);
		return 1;
	}
	struct netaddr bound = p->listeners->bound;
	if (!cfg->transparent) {
		if (cfg->port_base == 0 && cfg->listen.port == 0)
			p->port_base = 0; /* ephemeral bootstrap port: node listeners too */
		for (int i = 0; i < cfg->n_maps; i++) {
			struct pbroker *b = broker_get(p, cfg->maps[i].node_id);
			if (!b || !node_listener(p, b)) {
				netlog_error("--broker-map %d=%s: cannot listen", cfg->maps[i].node_id,
					     netaddr_format(&cfg->maps[i].listen, as, sizeof as));
				proxy_free(p);
				return 1;
			}
		}
	}
	if (cfg->have_admin) {
		struct netaddr ab;
		p->admin = admin_open(p->base, &cfg->admin, &p->metrics, healthy_cb, p, &ab, err,
				      sizeof err);
		if (!p->admin) {
			netlog_error("%s", err);
			proxy_free(p);
			return 1;
		}
		netlog_info("admin endpoint on http://%s/metrics and /healthz",
			    netaddr_format(&ab, as, sizeof as));
	}
	static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
	for (int i = 0; i < 3; i++) {
		p->sig[i] = evsignal_new(p->base, sigs[i], signal_cb, p);
		if (!p->sig[i] || event_add(p->sig[i], NULL) != 0) {
			netlog_error("cannot install signal handlers");
			proxy_free(p);
			return 1;
		}
	}
	p->grace = evtimer_new(p->base, grace_cb, p);
	if (cfg->idle_timeout_s) {
		p->sweep = event_new(p->base, -1, EV_PERSIST, sweep_cb, p);
		struct timeval tv = {1, 0};
		if (cfg->idle_timeout_s < 5)
			tv = (struct timeval){0, 250000};
		if (p->sweep)
			event_add(p->sweep, &tv);
	}

	char ups[1024] = "";
	size_t ul = 0;
	for (int i = 0; i < cfg->n_upstreams && ul < sizeof ups - NETADDR_STR_MAX - 2; i++) {
		ul += (size_t)snprintf(ups + ul, sizeof ups - ul, "%s%s", i ? "," : "",
				       netaddr_format(&cfg->upstreams[i], as, sizeof as));
	}
	if (cfg->transparent)
		netlog_info("transparent proxy listening on %s (original destinations%s%s)",
			    netaddr_format(&bound, as, sizeof as),
			    cfg->n_upstreams ? "; otherwise " : "", ups);
	else
		netlog_info("listening on %s for bootstrap connections to %s; broker node N on port "
			    "%d+N%s",
			    netaddr_format(&bound, as, sizeof as), ups, p->port_base,
			    cfg->n_maps ? " unless --broker-map says otherwise" : "");
	if (!cfg->transparent && cfg->n_upstreams > 0) {
		p->discover = discover_new(p->base, p->dns, cfg->upstreams, cfg->n_upstreams,
					   p->env.max_frame, discovered, p);
		if (p->discover)
			discover_start(p->discover);
	}
	if (cfg->ready)
		cfg->ready(cfg->ready_ctx, &bound);

	event_base_dispatch(p->base);

	netlog_info("stopped: %llu connections served", (unsigned long long)p->next_id);
	proxy_free(p);
	if (cfg->tap.record_path)
		netlog_info("recording written to %s", cfg->tap.record_path);
	return 0;
}
