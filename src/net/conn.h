/* conn: one proxied connection — a client socket, an upstream socket to a
 * broker, and the bytes between them. Bytes are forwarded as they came, in
 * both directions (evbuffer chains move without copying); a light framer per
 * direction reads only frame sizes and request headers (api key, version,
 * correlation id, Produce acks) to count requests, time them, enforce
 * --max-frame and find the responses cluster mode rewrites (those are held
 * until complete, re-encoded by the proxy's rewrite hook and sent with a new
 * size). When recording or printing, the same bytes feed the stream layer.
 *
 * Backpressure: when one side's output buffer grows over CONN_HIGH_WATER the
 * other side is no longer read until it drains under CONN_LOW_WATER, so a
 * connection holds at most about CONN_HIGH_WATER + one read per direction
 * (plus one frame being rewritten), and nothing when idle.
 *
 * States (pgbouncer style: every change goes through conn_set_state):
 *
 *   CONNECTING ──connected──> ACTIVE ──SIGTERM──> DRAINING
 *        │                      │  │                 │
 *        │      broker EOF/error│  │client EOF       │responses done / grace over
 *        │                      v  v                 v
 *        │             FLUSH_CLIENT FLUSH_UPSTREAM ─> CLOSED
 *        └──connect failed (no other upstream)──────> CLOSED
 */
#ifndef KT_CONN_H
#define KT_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/metrics.h"
#include "net/netaddr.h"
#include "net/rewrite_addr.h"
#include "stream/exchange.h"
#include "stream/stream.h"

struct event_base;
struct event;
struct evdns_base;
struct bufferevent;
struct evbuffer;
struct tap;
struct conn;

#define CONN_STATES(X)                                                                  \
	X(CONNECTING, "connecting", "the upstream connection to the broker is being opened") \
	X(ACTIVE, "active", "forwarding both ways")                                      \
	X(DRAINING, "draining", "shutting down: no new requests, waiting for responses")  \
	X(FLUSH_CLIENT, "flush_client", "the broker side ended: writing what is left to the client") \
	X(FLUSH_UPSTREAM, "flush_upstream", "the client ended: writing what is left to the broker") \
	X(CLOSED, "closed", "both sockets closed")

enum conn_side { SIDE_CLIENT = 0, SIDE_UPSTREAM = 1 };

enum conn_state {
#define CONN_STATE_ENUM(id, name, desc) CONN_##id,
	CONN_STATES(CONN_STATE_ENUM)
#undef CONN_STATE_ENUM
	CONN_STATE_COUNT
};
const char *conn_state_name(enum conn_state s);

#define CONN_HIGH_WATER (512u * 1024)
#define CONN_LOW_WATER (128u * 1024)
#define CONN_MAX_INFLIGHT 1024
#define CONN_MAX_IO (256u * 1024)    /* largest single write */
#define CONN_READ_SIZE (64u * 1024 - 256) /* one read (an evbuffer chain of 64 KiB) */
#define CONN_READ_MAX (256u * 1024 - 256) /* one read inside a large frame */
#define CONN_MAX_LOWAT (128u * 1024) /* SO_RCVLOWAT inside a large frame */
#define CONN_MIN_LOWAT (16u * 1024)  /* below this the receive mark stays 1 */
#define CONN_SPLICE_MIN (64u * 1024)  /* frame bytes left worth splicing */
#define CONN_SPLICE_MAX (1024u * 1024) /* bytes per splice (the pipe's size) */
#define CONN_HEAD_READ (4u + 320)      /* a read at a frame start after a large frame */
#define CONN_CONNECT_TIMEOUT_S 10

/* What every connection shares with the proxy. */
struct conn_env {
	struct event_base *base;
	struct evdns_base *dns;
	struct metrics *metrics;
	struct tap *tap;             /* NULL: no stream layer */
	struct stream_config scfg;
	uint32_t max_frame;
	bool rewrite;                /* cluster mode: rewrite broker addresses */
	bool learn;                  /* hand address-bearing responses to `rewrite` even when not rewriting */
	/* Rewrite hook for Metadata/FindCoordinator/DescribeCluster responses. */
	enum rewrite_result (*rewrite_fn)(void *ctx, struct conn *c, int api_key, int api_version,
					  const uint8_t *frame, size_t len, struct buf *out);
	/* Another upstream to try after a failed connect (bootstrap lists); false: none. */
	bool (*next_upstream_fn)(void *ctx, struct conn *c, struct netaddr *out);
	/* The upstream connection is open (upstream_peer is set). May be NULL. */
	void (*connected_fn)(void *ctx, struct conn *c);
	/* The connection is about to be freed: unlink it. */
	void (*closed_fn)(void *ctx, struct conn *c);
	/* The recording's queue is full (--store-when-full pause): stop reading.
	 * May be NULL. */
	void (*recording_full_fn)(void *ctx);
	bool reading_paused;         /* no connection reads from its sockets (set by the proxy) */
	void *ctx;
};

struct inflight {
	int32_t corr;
	int16_t api_key;
	int16_t api_version;
	uint64_t t_ns; /* monotonic time of the request's first byte */
};

struct framer {
	uint64_t left;      /* bytes of the current frame still to forward */
	int32_t size;       /* size of the frame being rewritten */
	bool hold;          /* holding a whole response frame for the rewrite */
	struct inflight req; /* the request the held response answers */
};

struct conn {
	struct conn_env *env;
	enum conn_state state;
	enum conn_reason reason;
	struct bufferevent *client;
	struct bufferevent *upstream;
	struct exchange_conn xc;
	struct netaddr upstream_addr;
	/* The numeric address the upstream socket is connected to (upstream_addr
	 * may be a host name), once have_peer. */
	struct netaddr upstream_peer;
	bool have_peer;
	struct stream *stream;
	struct framer fr[2];          /* [STREAM_TO_BROKER], [STREAM_TO_CLIENT] */
	struct inflight *q;           /* ring buffer of requests awaiting a response */
	uint32_t q_head, q_len, q_cap;
	uint64_t last_active_ms;
	uint64_t requests;
	uint64_t bytes[2];            /* forwarded, per direction */
	uint32_t tries;               /* upstream connect attempts */
	bool paused[2];               /* reading side d stopped by backpressure */
	bool full[2];                 /* reading side d stopped: d's destination socket is full */
	struct event *wev[2];         /* waits for d's destination to take bytes again */
	bool big[2];                  /* d's last frame was moved kernel to kernel */
	uint32_t lowat[2];            /* SO_RCVLOWAT set on the reading side of d (0/1: none) */
	struct event *rev[2];         /* read events: [SIDE_CLIENT], [SIDE_UPSTREAM] */
	struct evbuffer *in[2];       /* bytes read, per direction, not yet forwarded */
	bool reading[2];
	bool feeding_rewritten;       /* the stream is being fed a rewritten response */
	bool client_stopped;          /* draining: the client is no longer read */
	bool upstream_connected;
	bool in_start;                /* inside bufferevent_socket_connect*() */
	short sync_event;             /* an upstream event reported from inside it */
	struct conn *prev, *next;     /* the proxy's list */
	bool bootstrap;               /* accepted on the bootstrap listener */
};

/* Take over an accepted client socket (to be connected to `upstream` by
 * conn_start). NULL (the fd closed) when memory runs out. */
struct conn *conn_new(struct conn_env *env, int fd, const struct sockaddr *client_sa,
		      uint64_t id, const struct netaddr *upstream, int32_t node_id);
/* Connect upstream and start forwarding. False when the connection was
 * closed already (the broker refused at once): closed_fn has run. */
bool conn_start(struct conn *c);
/* Close both sockets now, count `reason`, free the connection. */
void conn_close(struct conn *c, enum conn_reason reason);
/* Start or stop reading after env->reading_paused changed. */
void conn_update_reading(struct conn *c);
/* SIGTERM: stop taking requests; close once in-flight responses are through. */
void conn_drain(struct conn *c);
/* Whether the connection has nothing in flight and nothing buffered. */
bool conn_idle(const struct conn *c);
/* The broker node id of the upstream, learned after the connection opened
 * (a bootstrap connection, from Metadata): kept for the exchanges and the
 * recorded connection row. */
void conn_set_node_id(struct conn *c, int32_t node_id);
/* Bytes held in the connection's buffers right now (for tests and limits). */
size_t conn_buffered(const struct conn *c);

#endif
