/* conn: a proxied connection (see conn.h). The frame layout the framer reads
 * is the protocol guide's ("Protocol: Requests and Responses"):
 *
 *   request:  int32 size | int16 api_key | int16 api_version | int32 correlation_id
 *             | nullable string client_id | [tagged fields, header v2] | body
 *   response: int32 size | int32 correlation_id | ...
 *
 * Brokers answer the requests of one connection in order, and a Produce with
 * acks=0 gets no answer, so responses are matched against a FIFO of the
 * requests in flight (entries passed over are requests that got no answer). */
#include "config.h"
#include "net/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "net/netlog.h"
#include "net/tap.h"
#include "proto/codec.h"
#include "proto/cursor.h"

#define DIR_REQ STREAM_TO_BROKER
#define DIR_RESP STREAM_TO_CLIENT
/* Request bytes read at a frame start: header + client id + Produce's
 * transactional id and acks in the usual cases. */
#define PEEK_REQ 320
_Static_assert(CONN_HEAD_READ >= 4 + PEEK_REQ, "a head read holds what pump peeks at");
#define API_PRODUCE 0

static const char *const state_names[] = {
#define CONN_STATE_NAME(id, name, desc) name,
	CONN_STATES(CONN_STATE_NAME)
#undef CONN_STATE_NAME
};

const char *conn_state_name(enum conn_state s)
{
	return (unsigned)s < CONN_STATE_COUNT ? state_names[s] : "?";
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Exchange timestamps: libevent's cached time is only as fine as the
 * coarse monotonic clock (4 ms), too coarse for latencies. */
static int64_t wall_us(struct conn *c)
{
	struct timespec ts;
	(void)c;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void touch(struct conn *c)
{
	struct timeval tv;
	event_base_gettimeofday_cached(c->env->base, &tv);
	c->last_active_ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* The one place a connection changes state. */
static void conn_set_state(struct conn *c, enum conn_state s)
{
	static const uint8_t allowed[CONN_STATE_COUNT] = {
		[CONN_CONNECTING] = 1u << CONN_ACTIVE | 1u << CONN_DRAINING |
				    1u << CONN_FLUSH_UPSTREAM | 1u << CONN_CLOSED,
		[CONN_ACTIVE] = 1u << CONN_DRAINING | 1u << CONN_FLUSH_CLIENT |
				1u << CONN_FLUSH_UPSTREAM | 1u << CONN_CLOSED,
		[CONN_DRAINING] = 1u << CONN_FLUSH_CLIENT | 1u << CONN_FLUSH_UPSTREAM |
				  1u << CONN_CLOSED,
		[CONN_FLUSH_CLIENT] = 1u << CONN_CLOSED,
		[CONN_FLUSH_UPSTREAM] = 1u << CONN_CLOSED,
		[CONN_CLOSED] = 0,
	};
	if (!(allowed[c->state] & (1u << s)))
		netlog_error("conn %llu: unexpected state change %s -> %s",
			     (unsigned long long)c->xc.id, conn_state_name(c->state),
			     conn_state_name(s));
	netlog_debug("conn %llu client %s broker %s: %s -> %s", (unsigned long long)c->xc.id,
		     c->xc.client, c->xc.broker, conn_state_name(c->state), conn_state_name(s));
	c->state = s;
}

/* --- requests in flight ---------------------------------------------- */

static void q_push(struct conn *c, const struct inflight *e)
{
	if (c->q_len == c->q_cap) {
		if (c->q_cap >= CONN_MAX_INFLIGHT) {
			/* Forget the oldest: its response will be an orphan. */
			c->q_head = (c->q_head + 1) % c->q_cap;
			c->q_len--;
			metrics_inc(c->env->metrics, METRIC_INFLIGHT_OVERFLOW);
		} else {
			uint32_t ncap = c->q_cap ? c->q_cap * 2 : 4;
			struct inflight *nq = malloc(ncap * sizeof *nq);
			if (!nq) {
				metrics_inc(c->env->metrics, METRIC_INFLIGHT_OVERFLOW);
				return;
			}
			for (uint32_t i = 0; i < c->q_len; i++)
				nq[i] = c->q[(c->q_head + i) % c->q_cap];
			free(c->q);
			c->q = nq;
			c->q_cap = ncap;
			c->q_head = 0;
		}
	}
	c->q[(c->q_head + c->q_len) % c->q_cap] = *e;
	c->q_len++;
}

/* Take the request a response with correlation id `corr` answers, dropping
 * the requests before it (they got no answer). False for an orphan. */
static bool q_take(struct conn *c, int32_t corr, struct inflight *out)
{
	for (uint32_t i = 0; i < c->q_len; i++) {
		const struct inflight *e = &c->q[(c->q_head + i) % c->q_cap];
		if (e->corr == corr) {
			*out = *e;
			c->q_head = (c->q_head + i + 1) % c->q_cap;
			c->q_len -= i + 1;
			if (c->q_len == 0 && c->q_cap > 4) {
				/* Give the memory back once a burst is over. */
				free(c->q);
				c->q = NULL;
				c->q_cap = c->q_head = 0;
			}
			return true;
		}
	}
	return false;
}

/* acks of a Produce request from its first bytes (after the size). False
 * when they do not reach that far: then a response is assumed. */
static bool produce_acks(const uint8_t *p, size_t n, int version, int16_t *acks)
{
	struct cursor cur;
	int16_t cid_len;
	cursor_init(&cur, p, n);
	if (!cursor_skip(&cur, 8) || !cursor_read_i16(&cur, &cid_len))
		return false;
	if (cid_len > 0 && !cursor_skip(&cur, (size_t)cid_len))
		return false;
	bool flexible = codec_request_header_version(API_PRODUCE, version) >= 2;
	if (flexible) {
		uint32_t ntags;
		if (!cursor_read_uvarint(&cur, &ntags))
			return false;
		for (uint32_t i = 0; i < ntags; i++) {
			uint32_t tag, size;
			if (!cursor_read_uvarint(&cur, &tag) || !cursor_read_uvarint(&cur, &size) ||
			    !cursor_skip(&cur, size))
				return false;
		}
	}
	if (version >= 3) { /* transactional_id */
		if (flexible) {
			uint32_t l;
			if (!cursor_read_uvarint(&cur, &l) || (l > 1 && !cursor_skip(&cur, l - 1)))
				return false;
		} else {
			int16_t l;
			if (!cursor_read_i16(&cur, &l) || (l > 0 && !cursor_skip(&cur, (size_t)l)))
				return false;
		}
	}
	return cursor_read_i16(&cur, acks);
}

static void on_request(struct conn *c, const uint8_t *p, size_t n)
{
	struct inflight e = {.api_key = -1, .api_version = -1, .t_ns = now_ns()};
	struct cursor cur;
	cursor_init(&cur, p, n);
	c->requests++;
	if (!cursor_read_i16(&cur, &e.api_key) || !cursor_read_i16(&cur, &e.api_version) ||
	    !cursor_read_i32(&cur, &e.corr)) {
		metrics_request(c->env->metrics, -1, -1);
		return;
	}
	metrics_request(c->env->metrics, e.api_key, e.api_version);
	int16_t acks;
	if (e.api_key == API_PRODUCE && produce_acks(p, n, e.api_version, &acks) && acks == 0)
		return; /* no response will come */
	q_push(c, &e);
}

/* A response's first bytes: match it to its request. */
static bool on_response(struct conn *c, const uint8_t *p, size_t n, struct inflight *req)
{
	struct cursor cur;
	int32_t corr;
	cursor_init(&cur, p, n);
	if (!cursor_read_i32(&cur, &corr) || !q_take(c, corr, req))
		return false;
	metrics_duration(c->env->metrics, req->api_key, now_ns() - req->t_ns);
	return true;
}

/* --- feeding the stream layer ----------------------------------------- */

static void feed_stream(struct conn *c, int d, struct evbuffer *in, size_t n)
{
	int64_t ts = wall_us(c);
	struct evbuffer_ptr pos;
	evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
	while (n) {
		struct evbuffer_iovec v[16];
		int k = evbuffer_peek(in, (ev_ssize_t)n, &pos, v, 16);
		if (k <= 0)
			break;
		if (k > 16)
			k = 16;
		for (int i = 0; i < k && n; i++) {
			size_t len = v[i].iov_len < n ? v[i].iov_len : n;
			stream_feed(c->stream, (enum stream_dir)d, v[i].iov_base, len, ts);
			n -= len;
			if (evbuffer_ptr_set(in, &pos, len, EVBUFFER_PTR_ADD) < 0)
				n = 0;
		}
	}
}

static void sink_exchange(void *ctx, const struct exchange *x)
{
	struct conn *c = ctx;
	if (c->feeding_rewritten && x->response) {
		struct exchange y = *x;
		y.flags |= EXCHANGE_REWRITTEN;
		tap_exchange(c->env->tap, &y);
	} else {
		tap_exchange(c->env->tap, x);
	}
	metrics_inc(c->env->metrics, METRIC_EXCHANGES);
	if (c->env->recording_full_fn && !c->env->reading_paused &&
	    tap_recording_full(c->env->tap))
		c->env->recording_full_fn(c->env->ctx);
}

static void sink_notice(void *ctx, const struct exchange_conn *xc, const char *msg)
{
	(void)ctx;
	netlog_warn("conn %llu client %s broker %s: %s", (unsigned long long)xc->id, xc->client,
		    xc->broker, msg);
}

/* --- forwarding ------------------------------------------------------- */

static struct bufferevent *src_of(struct conn *c, int d)
{
	return d == DIR_REQ ? c->client : c->upstream;
}

static struct bufferevent *dst_of(struct conn *c, int d)
{
	return d == DIR_REQ ? c->upstream : c->client;
}

static void set_reading(struct conn *c, int side, bool on)
{
	struct event *ev = c->rev[side];
	if (!ev || c->reading[side] == on)
		return;
	if (on)
		event_add(ev, NULL);
	else
		event_del(ev);
	c->reading[side] = on;
}

/* Reading is done by the proxy itself (read_side), not by the bufferevents:
 * libevent 2.1 reads at most 4 KiB per call, which costs a wake-up and
 * three system calls per 4 KiB of a large Fetch or Produce. */
static void update_reading(struct conn *c)
{
	bool flushing = c->state == CONN_FLUSH_UPSTREAM || c->state == CONN_FLUSH_CLIENT;
	bool stop = flushing || c->env->reading_paused;
	set_reading(c, SIDE_CLIENT,
		    !c->paused[DIR_REQ] && !c->full[DIR_REQ] &&
			    !(c->client_stopped && c->fr[DIR_REQ].left == 0) && !stop);
	set_reading(c, SIDE_UPSTREAM,
		    c->upstream_connected && !c->paused[DIR_RESP] && !c->full[DIR_RESP] && !stop);
}

void conn_update_reading(struct conn *c)
{
	update_reading(c);
}

/* Move n bytes from the front of `in` to the other side. When nothing is
 * queued for that side they are written to its socket at once: no copy
 * into the output buffer, no write event to arm and disarm, and no extra
 * trip through the event loop (latency). What the socket does not take is
 * queued for the bufferevent; an error shows up on its next read or write. */
static void forward(struct conn *c, int d, struct evbuffer *in, size_t n)
{
	if (c->stream)
		feed_stream(c, d, in, n);
	struct bufferevent *dst = dst_of(c, d);
	struct evbuffer *out = bufferevent_get_output(dst);
	size_t done = 0;
	if (evbuffer_get_length(out) == 0 && (d == DIR_RESP || c->upstream_connected)) {
		int w = evbuffer_write_atmost(in, bufferevent_getfd(dst), (ev_ssize_t)n);
		if (w > 0)
			done = (size_t)w;
	}
	if (n > done)
		evbuffer_remove_buffer(in, out, n - done);
	c->env->metrics->bytes[d] += n;
	c->bytes[d] += n;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void copy_at(struct evbuffer *in, size_t off, uint8_t *out, size_t n)
{
	struct evbuffer_ptr pos;
	evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
	evbuffer_copyout_from(in, &pos, out, n);
}

static bool wants_whole_response(struct conn *c, int api_key)
{
	return c->env->rewrite_fn && (c->env->rewrite || c->env->learn) &&
	       rewrite_addr_applies(api_key);
}

/* The held response is complete at the front of `in`: rewrite and send it. */
static void send_held(struct conn *c, struct evbuffer *in)
{
	struct framer *f = &c->fr[DIR_RESP];
	size_t total = 4 + (size_t)f->size;
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)total);
	struct buf nb;
	buf_init(&nb);
	enum rewrite_result r = p ? c->env->rewrite_fn(c->env->ctx, c, f->req.api_key,
						       f->req.api_version, p + 4, (size_t)f->size, &nb)
				  : REWRITE_FAILED;
	if (r == REWRITE_DONE && nb.len <= INT32_MAX) {
		uint8_t sz[4] = {(uint8_t)(nb.len >> 24), (uint8_t)(nb.len >> 16),
				 (uint8_t)(nb.len >> 8), (uint8_t)nb.len};
		struct evbuffer *out = bufferevent_get_output(c->client);
		evbuffer_add(out, sz, 4);
		evbuffer_add(out, nb.p, nb.len);
		if (c->stream) {
			int64_t ts = wall_us(c);
			c->feeding_rewritten = true;
			stream_feed(c->stream, STREAM_TO_CLIENT, sz, 4, ts);
			stream_feed(c->stream, STREAM_TO_CLIENT, nb.p, nb.len, ts);
			c->feeding_rewritten = false;
		}
		evbuffer_drain(in, total);
		c->env->metrics->bytes[DIR_RESP] += 4 + nb.len;
		c->bytes[DIR_RESP] += 4 + nb.len;
		metrics_inc(c->env->metrics, METRIC_RESPONSES_REWRITTEN);
	} else {
		if (r == REWRITE_FAILED)
			metrics_inc(c->env->metrics, METRIC_REWRITE_FAILURES);
		forward(c, DIR_RESP, in, total);
	}
	buf_free(&nb);
	f->hold = false;
}

static void bad_frame(struct conn *c, int d, int32_t size)
{
	netlog_warn("conn %llu: %s %s sent a frame of %ld bytes (allowed: 0 to %lu, --max-frame); "
		    "closing the connection (client %s, broker %s)",
		    (unsigned long long)c->xc.id, d == DIR_REQ ? "client" : "broker",
		    d == DIR_REQ ? c->xc.client : c->xc.broker, (long)size,
		    (unsigned long)c->env->max_frame, c->xc.client, c->xc.broker);
	conn_close(c, REASON_MAX_FRAME);
}

static void pause_dir(struct conn *c, int d)
{
	if (c->paused[d])
		return;
	c->paused[d] = true;
	bufferevent_setwatermark(dst_of(c, d), EV_WRITE, CONN_LOW_WATER, 0);
	update_reading(c);
}

static bool check_drained(struct conn *c);

/* Inside a large frame, more bytes are certain to come: ask the kernel not
 * to wake us before a good chunk of them is there (SO_RCVLOWAT, which epoll
 * honours), instead of once per TCP segment. At a frame boundary the mark is
 * 1 again, so small requests and responses are not delayed, and the last
 * chunk of a frame is never waited for beyond the frame's end. End of
 * stream and errors wake us whatever the mark. */
static void set_lowat(struct conn *c, int d, struct bufferevent *src)
{
	const struct framer *f = &c->fr[d];
	uint64_t want = 1;
	if (f->left)
		want = f->left;
	else if (f->hold)
		want = 4 + (uint64_t)f->size - evbuffer_get_length(c->in[d]);
	if (want > CONN_MAX_LOWAT)
		want = CONN_MAX_LOWAT;
	if (want < CONN_MIN_LOWAT)
		want = 1; /* not worth a system call */
	if (want == c->lowat[d])
		return;
	int v = (int)want;
	if (setsockopt(bufferevent_getfd(src), SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
		c->lowat[d] = (uint32_t)want;
}

/* After bytes went on in direction d: backpressure, the receive mark, the
 * end of draining. False when the connection was closed (and freed). */
static bool forwarded(struct conn *c, int d)
{
	struct evbuffer *out = bufferevent_get_output(dst_of(c, d));
	if (evbuffer_get_length(out) >= CONN_HIGH_WATER)
		pause_dir(c, d);
	set_lowat(c, d, src_of(c, d));
	if (d == DIR_REQ && c->client_stopped && c->fr[d].left == 0)
		update_reading(c);
	if (c->state == CONN_DRAINING && check_drained(c))
		return false;
	return true;
}

/* Forward what `src` has read in direction d. Returns false when the
 * connection was closed (and freed). */
static bool pump(struct conn *c, int d)
{
	struct evbuffer *in = c->in[d];
	struct framer *f = &c->fr[d];
	if ((d == DIR_REQ && (c->state == CONN_FLUSH_CLIENT)) ||
	    (d == DIR_RESP && (c->state == CONN_FLUSH_UPSTREAM))) {
		/* The other side is gone: nowhere to send this. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return true;
	}
	size_t len = evbuffer_get_length(in);
	size_t off = 0;
	uint8_t head[4 + PEEK_REQ];
	while (off < len) {
		if (f->hold) {
			if (off) {
				forward(c, d, in, off);
				len -= off;
				off = 0;
			}
			if (len < 4 + (size_t)f->size)
				break;
			send_held(c, in);
			len = evbuffer_get_length(in);
			continue;
		}
		if (f->left) {
			size_t take = len - off < f->left ? len - off : (size_t)f->left;
			off += take;
			f->left -= take;
			continue;
		}
		if (d == DIR_REQ && c->client_stopped)
			break; /* draining: no new requests */
		size_t avail = len - off;
		if (avail < 4)
			break;
		copy_at(in, off, head, 4);
		int32_t size = (int32_t)be32(head);
		if (size < 0 || (uint32_t)size > c->env->max_frame) {
			if (off)
				forward(c, d, in, off);
			bad_frame(c, d, size);
			return false;
		}
		if (d == DIR_REQ) {
			size_t want = 4 + ((size_t)size < PEEK_REQ ? (size_t)size : PEEK_REQ);
			if (avail < want)
				break;
			copy_at(in, off, head, want);
			on_request(c, head + 4, want - 4);
		} else {
			size_t want = 4 + ((size_t)size < 4 ? (size_t)size : 4);
			if (avail < want)
				break;
			copy_at(in, off, head, want);
			struct inflight req;
			if (on_response(c, head + 4, want - 4, &req) &&
			    wants_whole_response(c, req.api_key)) {
				f->hold = true;
				f->size = size;
				f->req = req;
				continue;
			}
		}
		f->left = 4 + (uint64_t)size;
	}
	if (off)
		forward(c, d, in, off);
	return forwarded(c, d);
}

/* --- closing ---------------------------------------------------------- */

void conn_close(struct conn *c, enum conn_reason reason)
{
	if (!c || c->state == CONN_CLOSED)
		return;
	c->reason = reason;
	netlog_debug("conn %llu client %s broker %s closed: %s (%lld requests)",
		     (unsigned long long)c->xc.id, c->xc.client, c->xc.broker,
		     conn_reason_text(reason), (long long)c->requests);
	conn_set_state(c, CONN_CLOSED);
	c->env->metrics->closed[reason]++;
	if (c->env->metrics->v[METRIC_CONNECTIONS_ACTIVE])
		c->env->metrics->v[METRIC_CONNECTIONS_ACTIVE]--;
	if (c->stream) {
		stream_close(c->stream, wall_us(c));
		tap_conn_close(c->env->tap, stream_conn(c->stream), c->bytes,
			       conn_reason_text(reason));
		stream_free(c->stream);
		c->stream = NULL;
	}
	for (int i = 0; i < 2; i++) {
		if (c->rev[i])
			event_free(c->rev[i]);
		if (c->wev[i])
			event_free(c->wev[i]);
		if (c->in[i])
			evbuffer_free(c->in[i]);
	}
	if (c->client)
		bufferevent_free(c->client);
	if (c->upstream)
		bufferevent_free(c->upstream);
	c->client = c->upstream = NULL;
	free(c->q);
	c->q = NULL;
	if (c->env->closed_fn)
		c->env->closed_fn(c->env->ctx, c);
	free(c);
}

static bool buffers_empty(const struct conn *c)
{
	return (!c->client || evbuffer_get_length(bufferevent_get_output(c->client)) == 0) &&
	       (!c->upstream || evbuffer_get_length(bufferevent_get_output(c->upstream)) == 0);
}

bool conn_idle(const struct conn *c)
{
	return c->q_len == 0 && c->fr[DIR_REQ].left == 0 && c->fr[DIR_RESP].left == 0 &&
	       !c->fr[DIR_RESP].hold && buffers_empty(c);
}

size_t conn_buffered(const struct conn *c)
{
	size_t n = 0;
	if (c->client)
		n += evbuffer_get_length(c->in[DIR_REQ]) +
		     evbuffer_get_length(bufferevent_get_output(c->client));
	if (c->upstream)
		n += evbuffer_get_length(c->in[DIR_RESP]) +
		     evbuffer_get_length(bufferevent_get_output(c->upstream));
	return n;
}

/* True when the connection was closed. */
static bool check_drained(struct conn *c)
{
	if (c->state == CONN_DRAINING && conn_idle(c)) {
		conn_close(c, REASON_SHUTDOWN);
		return true;
	}
	return false;
}

/* One side ended: write what is buffered for the other side, then close.
 * True when the connection was closed (and freed) at once. */
static bool flush_then_close(struct conn *c, enum conn_state s, enum conn_reason reason)
{
	struct bufferevent *to = s == CONN_FLUSH_CLIENT ? c->client : c->upstream;
	if (!to || evbuffer_get_length(bufferevent_get_output(to)) == 0) {
		conn_close(c, reason);
		return true;
	}
	c->reason = reason;
	conn_set_state(c, s);
	bufferevent_setwatermark(to, EV_WRITE, 0, 0);
	update_reading(c);
	return false;
}

/* --- callbacks -------------------------------------------------------- */

static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static bool upstream_event(struct conn *c, short what);

/* --- splicing -------------------------------------------------------- */

/* One pipe for the whole proxy (one event-loop thread): it is empty again
 * before splice_side returns, whatever happened, so no connection ever
 * finds another's bytes in it. */
static int splice_pipe[2] = {-1, -1};
static int splice_state; /* 0: not tried yet, 1: ready, -1: off */

static bool splice_ready(void)
{
	if (splice_state == 0) {
		const char *no = getenv("KAFKATAP_NO_SPLICE");
		splice_state = -1;
		if ((!no || !*no || !strcmp(no, "0")) &&
		    pipe2(splice_pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
			/* The default 64 KiB pipe would take four times the calls. */
			(void)fcntl(splice_pipe[1], F_SETPIPE_SZ, (int)CONN_SPLICE_MAX);
			splice_state = 1;
		}
	}
	return splice_state == 1;
}

/* A second pipe, for tee(2): also empty again whenever tee_side returns. */
static int tee_pipe[2] = {-1, -1};
static int tee_state; /* 0: not tried yet, 1: ready, -1: off */
static size_t tee_cap;

/* Close one of the pipes for good, saying why and what happens instead. */
static void pipe_off(int fds[2], int *state, const char *why, const char *what)
{
	netlog_warn("%s: %s; %s by read and write from now on", fds == tee_pipe ? "tee" : "splice",
		    why, what);
	if (fds[0] >= 0) {
		close(fds[0]);
		close(fds[1]);
	}
	fds[0] = fds[1] = -1;
	*state = -1;
}

static void splice_off(const char *why)
{
	pipe_off(splice_pipe, &splice_state, why, "forwarding");
}

/* Bytes may move kernel to kernel: a good part of a frame is still to come,
 * nothing is queued ahead of it on either side (order), and the connection
 * forwards both ways. */
static bool can_move(struct conn *c, int d)
{
	const struct framer *f = &c->fr[d];
	return f->left >= CONN_SPLICE_MIN && !f->hold && c->upstream_connected &&
	       (c->state == CONN_ACTIVE || c->state == CONN_DRAINING) &&
	       evbuffer_get_length(c->in[d]) == 0 &&
	       evbuffer_get_length(bufferevent_get_output(dst_of(c, d))) == 0;
}

/* Splice when nobody needs to see the bytes: no stream layer, or one that
 * passes over the rest of this frame (shed, see tee_or_shed). */
static bool can_splice(struct conn *c, int d)
{
	return can_move(c, d) && (!c->stream || stream_pass_room(c->stream, (enum stream_dir)d)) &&
	       splice_ready();
}

/* One readv of up to `want` bytes from fd onto the end of b, without the
 * copy evbuffer_read's small reads make. Returns what readv returned; -1
 * with errno ENOMEM when b could not make room. */
static ssize_t read_into(struct evbuffer *b, evutil_socket_t fd, size_t want)
{
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(b, (ev_ssize_t)want, v, 2);
	if (nv <= 0) {
		errno = ENOMEM;
		return -1;
	}
	struct iovec iov[2];
	size_t room = 0;
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
		if (room + iov[i].iov_len > want)
			iov[i].iov_len = want - room;
		room += iov[i].iov_len;
	}
	ssize_t r = readv(fd, iov, nv);
	size_t left = r > 0 ? (size_t)r : 0;
	int used = 0;
	for (int i = 0; i < nv && left; i++, used++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	if (used)
		evbuffer_commit_space(b, v, used);
	return r;
}

/* Read the n bytes a pipe holds into an evbuffer, in calls of up to
 * CONN_SPLICE_MAX: evbuffer_read reads 4 KiB per call (libevent's
 * EVBUFFER_MAX_READ) and asks FIONREAD before each, which made a 600 KiB
 * rest 300 system calls. Returns how many could not be read (0 normally). */
static size_t pipe_to_buffer(struct evbuffer *out, int fd, size_t n)
{
	while (n) {
		ssize_t r = read_into(out, fd, n < CONN_SPLICE_MAX ? n : CONN_SPLICE_MAX);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n -= (size_t)r;
	}
	return n;
}

/* Send the n bytes waiting in the pipe on to the destination; what its
 * socket does not take is read out of the pipe into its output buffer, as
 * forward() queues what a write did not take. *sent: the bytes spliced.
 * Returns how many could not be kept (0 normally). */
static size_t pipe_out(struct conn *c, int d, size_t n, size_t *sent)
{
	struct bufferevent *dstb = dst_of(c, d);
	size_t done = 0;
	while (done < n) {
		ssize_t w = splice(splice_pipe[0], NULL, bufferevent_getfd(dstb), NULL, n - done,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (w <= 0)
			break; /* full (or an error, which its next write reports) */
		done += (size_t)w;
	}
	*sent = done;
	return pipe_to_buffer(bufferevent_get_output(dstb), splice_pipe[0], n - done);
}

/* Send n bytes from p on to the destination, queueing what its socket does
 * not take. Returns how many could not be kept (0 normally). */
static size_t send_block(struct conn *c, int d, const uint8_t *p, size_t n)
{
	struct bufferevent *dstb = dst_of(c, d);
	ssize_t w = write(bufferevent_getfd(dstb), p, n);
	size_t done = w > 0 ? (size_t)w : 0;
	if (done < n && evbuffer_add(bufferevent_get_output(dstb), p + done, n - done) != 0)
		return n - done;
	return 0;
}

static void tee_off(const char *why)
{
	pipe_off(tee_pipe, &tee_state, why, "recording");
}

/* Bytes that went through the pipe could not be kept (out of memory, or the
 * pipe misbehaved): the frame cannot be completed, and the pipes must not
 * carry bytes over to another connection. */
static void not_kept(struct conn *c, size_t rest)
{
	netlog_error("conn %llu client %s broker %s: %zu spliced bytes could not be kept; closing",
		     (unsigned long long)c->xc.id, c->xc.client, c->xc.broker, rest);
	splice_off("the pipe could not be emptied");
	if (tee_pipe[0] >= 0)
		tee_off("the pipe could not be emptied");
	conn_close(c, REASON_RESOURCES);
}

/* Splice up to `want` bytes from the source socket into the pipe. Returns
 * how many; 0 when none are there yet; -1 when the plain read should look
 * at the socket instead (end of stream, an error, splice unusable). */
static ssize_t splice_in(struct conn *c, int d, size_t want)
{
	ssize_t n = splice(bufferevent_getfd(src_of(c, d)), NULL, splice_pipe[1], NULL, want,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
		splice_off(strerror(errno));
	return n > 0 ? n : -1;
}

/* n bytes of the current frame went on (sent of them spliced). */
static void moved(struct conn *c, int d, size_t n, size_t sent)
{
	c->fr[d].left -= (uint64_t)n;
	c->env->metrics->bytes[d] += (uint64_t)n;
	c->bytes[d] += (uint64_t)n;
	metrics_add(c->env->metrics, METRIC_SPLICED_BYTES, sent);
	touch(c);
}

/* A full destination can take bytes again: read its source again. The
 * socket tells the direction (the upstream is written by requests). */
static void dst_writable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)what;
	c->full[c->upstream && fd == bufferevent_getfd(c->upstream) ? DIR_REQ : DIR_RESP] = false;
	update_reading(c);
}

/* How many bytes of `want` to move now. Bytes spliced in that the
 * destination socket does not take are read out of the pipe into its output
 * buffer and written from there: two copies, and every read after them is
 * a copy too until that buffer is empty (can_move). With librdkafka's
 * Produce into a busy broker that was a third of the bytes. So take no more
 * than the destination's send buffer has room for (its size less what waits
 * in it, SIOCOUTQ); when that is under a quarter of the buffer, stop reading
 * the source until the destination is writable, which for TCP means a third
 * of the buffer is free (sk_stream_is_writeable), so this cannot spin.
 * 0: nothing now (waiting). */
static size_t room_for(struct conn *c, int d, size_t want)
{
#ifdef SIOCOUTQ
	evutil_socket_t fd = bufferevent_getfd(dst_of(c, d));
	int sndbuf = 0, queued = 0;
	socklen_t len = sizeof sndbuf;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) != 0 || sndbuf <= 0 ||
	    ioctl(fd, SIOCOUTQ, &queued) != 0 || queued < 0)
		return want; /* cannot tell: a rest goes through the output buffer */
	size_t room = queued < sndbuf ? (size_t)(sndbuf - queued) : 0;
	if (room >= want)
		return want;
	if (room >= (size_t)sndbuf / 4 && room > 0)
		return room;
	if (!c->wev[d]) {
		c->wev[d] = event_new(c->env->base, fd, EV_WRITE, dst_writable, c);
		if (!c->wev[d])
			return want;
	}
	if (event_add(c->wev[d], NULL) != 0)
		return want;
	c->full[d] = true;
	metrics_inc(c->env->metrics, METRIC_SPLICE_WAITS);
	update_reading(c);
	return 0;
#else
	(void)c;
	(void)d;
	return want;
#endif
}

/* Splice up to `want` bytes of a large frame into the pipe, no more than
 * the destination has room for (room_for). Returns as splice_in does, 0
 * also when waiting for the destination. */
static ssize_t fill_pipe(struct conn *c, int d, size_t want)
{
	want = room_for(c, d, want);
	if (!want)
		return 0;
	ssize_t n = splice_in(c, d, want);
	if (n > 0)
		c->big[d] = true;
	return n;
}

/* Move up to CONN_SPLICE_MAX bytes of the current frame from the source
 * socket to the destination socket through the pipe. What the destination
 * does not take at once is read out of the pipe into its output buffer, as
 * forward() queues what a write did not take; backpressure then works as
 * for read bytes. False when nothing was moved and a plain read should look
 * at the socket instead (end of stream, an error, splice unusable). */
static bool splice_side(struct conn *c, int d)
{
	struct framer *f = &c->fr[d];
	uint64_t want = f->left < CONN_SPLICE_MAX ? f->left : CONN_SPLICE_MAX;
	if (c->stream) {
		uint64_t pass = stream_pass_room(c->stream, (enum stream_dir)d);
		want = pass < want ? pass : want;
	}
	ssize_t n = fill_pipe(c, d, (size_t)want);
	if (n <= 0)
		return n == 0;
	size_t sent = 0;
	size_t rest = pipe_out(c, d, (size_t)n, &sent);
	moved(c, d, (size_t)n, sent);
	if (c->stream)
		stream_pass(c->stream, (enum stream_dir)d, (uint64_t)n);
	if (rest) {
		not_kept(c, rest);
		return true;
	}
	(void)forwarded(c, d);
	return true;
}

/* --- recording without copies ------------------------------------------ */

static bool tee_ready(void)
{
	if (tee_state == 0) {
		tee_state = -1;
		if (splice_ready() && pipe2(tee_pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
			(void)fcntl(tee_pipe[1], F_SETPIPE_SZ, (int)CONN_SPLICE_MAX);
			int a = fcntl(tee_pipe[1], F_GETPIPE_SZ), b = fcntl(splice_pipe[1], F_GETPIPE_SZ);
			int m = a < b ? a : b;
			tee_cap = m > 0 ? (size_t)m : 0;
			tee_state = tee_cap >= CONN_SPLICE_MIN ? 1 : -1;
		}
	}
	return tee_state == 1 && splice_state == 1;
}

/* Read exactly n bytes out of a pipe that holds them. Returns how many of
 * them could not be read (0 when all were). */
static size_t pipe_read(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		p += r;
		n -= (size_t)r;
	}
	return n;
}

static bool can_tee(struct conn *c, int d)
{
	return c->stream && can_move(c, d) && tee_ready();
}

/* Recording, inside a large frame: while the stream layer gathers a frame,
 * splice the next part of it into the pipe, tee(2) a second reference to
 * the same pages into tee_pipe, splice the first on to the destination
 * (as splice_side does) and read the second straight into the block where
 * the stream layer keeps the frame. One copy instead of three (socket to
 * evbuffer, evbuffer to the block, evbuffer to socket). False when this
 * does not apply and the plain read should run instead. */
static bool tee_side(struct conn *c, int d)
{
	struct framer *f = &c->fr[d];
	uint8_t *p;
	size_t room = stream_body_room(c->stream, (enum stream_dir)d, &p, 0);
	if (room < CONN_SPLICE_MIN)
		return false; /* not where the stream layer gathers a large frame */
	size_t want = f->left < tee_cap ? (size_t)f->left : tee_cap;
	ssize_t n = fill_pipe(c, d, want < room ? want : room);
	if (n <= 0)
		return n == 0;
	(void)stream_body_room(c->stream, (enum stream_dir)d, &p, (size_t)n); /* back just these */
	ssize_t t = tee(splice_pipe[0], tee_pipe[1], (size_t)n, SPLICE_F_NONBLOCK);
	size_t sent = 0, rest;
	if (t == n) {
		rest = pipe_out(c, d, (size_t)n, &sent);
		if (!rest)
			rest = pipe_read(tee_pipe[0], p, (size_t)n);
	} else {
		/* tee took fewer bytes (or none): read them all out of the first
		 * pipe into the block and send them from there. */
		if (t < 0 && (errno == EINVAL || errno == ENOSYS))
			tee_off(strerror(errno));
		rest = t > 0 ? pipe_read(tee_pipe[0], p, (size_t)t) : 0;
		if (!rest)
			rest = pipe_read(splice_pipe[0], p, (size_t)n);
		if (!rest)
			rest = send_block(c, d, p, (size_t)n);
	}
	moved(c, d, (size_t)n, sent);
	if (rest) {
		not_kept(c, rest);
		return true;
	}
	/* Last: the exchange this completes may hand the block to the store. */
	stream_body_commit(c->stream, (enum stream_dir)d, (size_t)n, wall_us(c));
	(void)forwarded(c, d);
	return true;
}

/* Recording a large frame: tee it, or, when the recording has no room for
 * it (tap_sheds), shed it and splice it like an unrecorded one. Under a
 * load the store cannot keep up with, every frame it would drop once
 * complete cost the event loop a copy into fresh memory; a shed one costs
 * what forwarding alone does, and its exchange keeps the header. */
static bool tee_or_shed(struct conn *c, int d)
{
	if (tap_sheds(c->env->tap, (size_t)c->fr[d].left) &&
	    stream_shed(c->stream, (enum stream_dir)d, wall_us(c))) {
		metrics_inc(c->env->metrics, METRIC_RECORDING_SHED);
		return can_splice(c, d) && splice_side(c, d);
	}
	return tee_side(c, d);
}

/* Move bytes of a large frame kernel to kernel (spliced, or tee'd for the
 * stream layer). False when the plain read should run instead. */
static bool move_side(struct conn *c, int d)
{
	return (can_splice(c, d) && splice_side(c, d)) || (can_tee(c, d) && tee_or_shed(c, d));
}

/* One read on the client (side 0) or upstream (side 1) socket, then pump. */
static void read_side(struct conn *c, int side)
{
	int d = side == SIDE_CLIENT ? DIR_REQ : DIR_RESP;
	if (move_side(c, d))
		return;
	struct bufferevent *src = src_of(c, d);
	struct evbuffer *in = c->in[d];
	/* Inside a large frame more bytes are certain to come: read them in
	 * fewer, larger calls (with librdkafka's Produce and Fetch, less than
	 * half the reads, wakeups and writes, and 10-20% less CPU per MB
	 * consumed). Elsewhere a read may bring a few bytes only, and each
	 * read's chain can end up queued for the other side whole, so reads
	 * stay small there. */
	size_t want = CONN_READ_SIZE;
	if (c->fr[d].left > CONN_READ_SIZE)
		want = c->fr[d].left < CONN_READ_MAX ? (size_t)c->fr[d].left : CONN_READ_MAX;
	/* At the start of a frame after one that moved kernel to kernel, read
	 * only the head pump needs: the next frame is likely large too, and
	 * whatever of it a full read brought would be copied twice (in, out)
	 * instead of moved (with librdkafka's Produce, some 40 KiB a frame). */
	bool head = c->big[d] && c->fr[d].left == 0 && !c->fr[d].hold &&
		    evbuffer_get_length(in) == 0;
	if (head)
		want = CONN_HEAD_READ;
	ssize_t r = read_into(in, bufferevent_getfd(src), want);
	if (r < 0 && errno == ENOMEM) {
		netlog_warn("conn %llu client %s: out of memory reading; closing",
			    (unsigned long long)c->xc.id, c->xc.client);
		conn_close(c, REASON_RESOURCES);
		return;
	}
	if (r > 0) {
		touch(c);
		if (!pump(c, d))
			return;
		if (head) {
			/* Not a large frame after all: full reads again. If it
			 * is, move the rest now rather than after another wait. */
			c->big[d] = false;
			(void)move_side(c, d);
		}
		return;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		/* Give back the chain reserved for nothing: idle connections hold
		 * no buffers. */
		if (evbuffer_get_length(in) == 0)
			evbuffer_drain(in, 0);
		return;
	}
	short what = BEV_EVENT_READING | (r == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
	if (side == SIDE_CLIENT)
		client_event_cb(c->client, what, c);
	else
		(void)upstream_event(c, what);
}

static void client_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_side(arg, SIDE_CLIENT);
}

static void upstream_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_side(arg, SIDE_UPSTREAM);
}

/* An output buffer drained to its low watermark. */
static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	int d = bev == c->upstream ? DIR_REQ : DIR_RESP; /* the direction that writes here */
	if (c->state == CONN_FLUSH_CLIENT && bev == c->client) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_close(c, c->reason);
		return;
	}
	if (c->state == CONN_FLUSH_UPSTREAM && bev == c->upstream) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_close(c, c->reason);
		return;
	}
	if (c->paused[d]) {
		c->paused[d] = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		update_reading(c);
		/* Bytes may be waiting in the input (a held frame completes only on read). */
		if (!pump(c, d))
			return;
	}
	if (c->state == CONN_DRAINING)
		(void)check_drained(c);
}

static const char *sock_err(void)
{
	return evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (what & BEV_EVENT_EOF) {
		netlog_debug("conn %llu: client %s closed the connection",
			     (unsigned long long)c->xc.id, c->xc.client);
		(void)flush_then_close(c, CONN_FLUSH_UPSTREAM, REASON_CLIENT_CLOSED);
	} else if (what & BEV_EVENT_ERROR) {
		netlog_info("conn %llu: client %s: %s; closing the connection to broker %s",
			    (unsigned long long)c->xc.id, c->xc.client, sock_err(), c->xc.broker);
		conn_close(c, REASON_CLIENT_ERROR);
	}
}

static bool start_connect(struct conn *c);
static bool connect_upstream(struct conn *c, struct evbuffer *carry);

/* What happened on the upstream socket. False when c was closed. */
static bool upstream_event(struct conn *c, short what)
{
	char addr[NETADDR_STR_MAX];
	netaddr_format(&c->upstream_addr, addr, sizeof addr);
	if (what & BEV_EVENT_CONNECTED) {
		c->upstream_connected = true;
		metrics_inc(c->env->metrics, METRIC_UPSTREAM_CONNECTS);
		int one = 1;
		evutil_socket_t fd = bufferevent_getfd(c->upstream);
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		bufferevent_set_timeouts(c->upstream, NULL, NULL);
		c->rev[SIDE_UPSTREAM] = event_new(c->env->base, fd, EV_READ | EV_PERSIST,
						  upstream_readable, c);
		if (!c->rev[SIDE_UPSTREAM]) {
			netlog_warn("conn %llu client %s: out of memory", (unsigned long long)c->xc.id,
				    c->xc.client);
			conn_close(c, REASON_RESOURCES);
			return false;
		}
		if (c->state == CONN_CONNECTING)
			conn_set_state(c, CONN_ACTIVE);
		update_reading(c);
		struct sockaddr_storage ps;
		socklen_t psl = sizeof ps;
		char pstr[NETADDR_STR_MAX], perr[128];
		if (getpeername(fd, (struct sockaddr *)&ps, &psl) == 0 &&
		    netaddr_parse(netaddr_format_sa((struct sockaddr *)&ps, pstr, sizeof pstr), NULL,
				  &c->upstream_peer, perr, sizeof perr))
			c->have_peer = true;
		if (c->env->connected_fn)
			c->env->connected_fn(c->env->ctx, c);
		if (netlog_get_level() >= NETLOG_DEBUG) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			char local[NETADDR_STR_MAX] = "?";
			if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
				netaddr_format_sa((struct sockaddr *)&ss, local, sizeof local);
			netlog_debug("conn %llu: connected client %s to broker %s from %s",
				     (unsigned long long)c->xc.id, c->xc.client, addr, local);
		}
		return true;
	}
	if (!c->upstream_connected) {
		const char *why;
		int dnserr = bufferevent_socket_get_dns_error(c->upstream);
		if (dnserr)
			why = evutil_gai_strerror(dnserr);
		else if (what & BEV_EVENT_TIMEOUT)
			why = "connection timed out";
		else
			why = sock_err();
		metrics_inc(c->env->metrics, METRIC_UPSTREAM_CONNECT_FAILURES);
		struct netaddr next;
		if (c->state == CONN_CONNECTING && c->env->next_upstream_fn &&
		    c->env->next_upstream_fn(c->env->ctx, c, &next)) {
			char naddr[NETADDR_STR_MAX];
			netlog_warn("conn %llu client %s: cannot connect to broker %s: %s; trying %s",
				    (unsigned long long)c->xc.id, c->xc.client, addr, why,
				    netaddr_format(&next, naddr, sizeof naddr));
			struct bufferevent *old = c->upstream;
			c->upstream = NULL;
			c->upstream_addr = next;
			netaddr_format(&next, c->xc.broker, sizeof c->xc.broker);
			if (c->stream)
				netaddr_format(&next, stream_conn(c->stream)->broker,
					       sizeof stream_conn(c->stream)->broker);
			/* Keep what the client already sent. */
			struct evbuffer *carry = evbuffer_new();
			if (carry)
				evbuffer_add_buffer(carry, bufferevent_get_output(old));
			bufferevent_free(old);
			bool alive = connect_upstream(c, carry);
			if (carry)
				evbuffer_free(carry);
			return alive;
		}
		netlog_warn("conn %llu client %s: cannot connect to broker %s: %s; closing the client "
			    "connection",
			    (unsigned long long)c->xc.id, c->xc.client, addr, why);
		conn_close(c, REASON_UPSTREAM_UNREACHABLE);
		return false;
	}
	if (what & BEV_EVENT_EOF) {
		netlog_info("conn %llu: broker %s closed the connection; closing client %s",
			    (unsigned long long)c->xc.id, addr, c->xc.client);
		return !flush_then_close(c, CONN_FLUSH_CLIENT, REASON_UPSTREAM_CLOSED);
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		netlog_warn("conn %llu: broker %s: %s; closing client %s",
			    (unsigned long long)c->xc.id, addr,
			    (what & BEV_EVENT_TIMEOUT) ? "timed out" : sock_err(), c->xc.client);
		return !flush_then_close(c, CONN_FLUSH_CLIENT, REASON_UPSTREAM_ERROR);
	}
	return true;
}

static void upstream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (c->in_start) {
		/* libevent reported the connect's outcome from inside
		 * bufferevent_socket_connect*(): handle it after that returns. */
		c->sync_event |= what;
		return;
	}
	(void)upstream_event(c, what);
}

static bool start_connect(struct conn *c)
{
	c->tries++;
	c->upstream_connected = false;
	c->upstream = bufferevent_socket_new(c->env->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->upstream)
		return false;
	bufferevent_setcb(c->upstream, NULL, write_cb, upstream_event_cb, c);
	bufferevent_set_max_single_write(c->upstream, CONN_MAX_IO);
	struct timeval tmo = {CONN_CONNECT_TIMEOUT_S, 0};
	bufferevent_set_timeouts(c->upstream, &tmo, &tmo);
	struct sockaddr_storage ss;
	int sslen;
	/* A failure is reported through upstream_event_cb (possibly at once). */
	if (netaddr_to_sockaddr(&c->upstream_addr, &ss, &sslen))
		(void)bufferevent_socket_connect(c->upstream, (struct sockaddr *)&ss, sslen);
	else
		(void)bufferevent_socket_connect_hostname(c->upstream, c->env->dns, AF_UNSPEC,
							  c->upstream_addr.host,
							  c->upstream_addr.port);
	return true;
}

/* Open the upstream connection, with `carry` (may be NULL) queued for it.
 * False when c was closed. */
static bool connect_upstream(struct conn *c, struct evbuffer *carry)
{
	c->in_start = true;
	c->sync_event = 0;
	bool ok = start_connect(c);
	c->in_start = false;
	if (!ok) {
		netlog_warn("conn %llu client %s: out of memory connecting to %s",
			    (unsigned long long)c->xc.id, c->xc.client, c->xc.broker);
		conn_close(c, REASON_RESOURCES);
		return false;
	}
	if (carry)
		evbuffer_add_buffer(bufferevent_get_output(c->upstream), carry);
	if (c->sync_event) {
		short ev = c->sync_event;
		c->sync_event = 0;
		return upstream_event(c, ev);
	}
	return true;
}

/* --- public ----------------------------------------------------------- */

struct conn *conn_new(struct conn_env *env, int fd, const struct sockaddr *client_sa,
		      uint64_t id, const struct netaddr *upstream, int32_t node_id)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		evutil_closesocket(fd);
		return NULL;
	}
	c->env = env;
	c->state = CONN_CONNECTING;
	c->xc.id = id;
	c->xc.broker_node_id = node_id;
	netaddr_format_sa(client_sa, c->xc.client, sizeof c->xc.client);
	netaddr_format(upstream, c->xc.broker, sizeof c->xc.broker);
	c->upstream_addr = *upstream;
	evutil_make_socket_nonblocking(fd);
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->client = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->client) {
		evutil_closesocket(fd);
		free(c);
		return NULL;
	}
	bufferevent_setcb(c->client, NULL, write_cb, client_event_cb, c);
	c->rev[SIDE_CLIENT] = event_new(env->base, fd, EV_READ | EV_PERSIST, client_readable, c);
	c->in[DIR_REQ] = evbuffer_new();
	c->in[DIR_RESP] = evbuffer_new();
	if (!c->rev[SIDE_CLIENT] || !c->in[DIR_REQ] || !c->in[DIR_RESP]) {
		if (c->rev[SIDE_CLIENT])
			event_free(c->rev[SIDE_CLIENT]);
		for (int i = 0; i < 2; i++)
			if (c->in[i])
				evbuffer_free(c->in[i]);
		bufferevent_free(c->client);
		free(c);
		return NULL;
	}
	bufferevent_set_max_single_write(c->client, CONN_MAX_IO);
	env->metrics->v[METRIC_CONNECTIONS_ACTIVE]++;
	touch(c);
	if (env->tap && tap_active(env->tap)) {
		struct stream_sink sink = {.exchange = sink_exchange, .notice = sink_notice, .ctx = c};
		c->stream = stream_new(&env->scfg, &sink, &c->xc);
		if (c->stream)
			tap_conn_open(env->tap, stream_conn(c->stream));
	}
	return c;
}

bool conn_start(struct conn *c)
{
	if (!connect_upstream(c, NULL))
		return false;
	update_reading(c);
	return true;
}

void conn_drain(struct conn *c)
{
	if (c->state != CONN_CONNECTING && c->state != CONN_ACTIVE)
		return;
	conn_set_state(c, CONN_DRAINING);
	c->client_stopped = true;
	update_reading(c);
	check_drained(c);
}

void conn_set_node_id(struct conn *c, int32_t node_id)
{
	if (c->xc.broker_node_id == node_id)
		return;
	netlog_debug("conn %llu client %s broker %s: broker node id %d", (unsigned long long)c->xc.id,
		     c->xc.client, c->xc.broker, node_id);
	c->xc.broker_node_id = node_id;
	if (c->stream) {
		stream_conn(c->stream)->broker_node_id = node_id;
		tap_conn_node(c->env->tap, c->xc.id, node_id);
	}
}
