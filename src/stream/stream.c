/* stream: framing (frame.c) of both directions of one connection, and
 * pairing of requests with responses (corr.c) into exchanges. See stream.h
 * for what is handled; the policies:
 *
 * - Pairing follows Kafka's ordering guarantee (responses come back in
 *   request order on a connection): a response is matched to the oldest
 *   request in flight with its correlation id, and requests older than the
 *   match are reported unanswered at once (their responses cannot come
 *   any more — typically a capture gap swallowed them).
 * - Produce with acks=0 (no response will come) is emitted at once, flagged
 *   ACKS0, and never kept in flight.
 * - SaslHandshake v0: the client then sends raw SASL tokens, each with a
 *   4-byte size but no Kafka header, and the broker answers each the same
 *   way. While that mode is on, a client frame that is not a plausible
 *   request header is a token; a token and the broker's next frame form an
 *   exchange flagged SASL_RAW. The first plausible request ends the mode.
 * - Memory: at most max_inflight requests and max_inflight_bytes of request
 *   bytes are kept; past either, the oldest request is reported unanswered
 *   (with a notice) to make room.
 * - Frames over max_frame are not buffered (frame.h): an oversized request
 *   keeps its header (api, version, correlation id) so that its response
 *   still pairs; the exchange is flagged OVERSIZED and carries no bytes for
 *   that side. Frames cut by a capture gap are handled the same way, flagged
 *   GAP, and so are frames the proxy sheds (stream_shed), flagged SHED. */
#include "config.h"
#include "stream/stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/cursor.h"
#include "stream/corr.h"
#include "stream/frame.h"

#define STREAM_DEFAULT_INFLIGHT 1024u
#define STREAM_DEFAULT_INFLIGHT_BYTES (64ull * 1024 * 1024)

#define API_PRODUCE 0
#define API_SASL_HANDSHAKE 17
/* acks=0 Produce requests remembered in case a response comes anyway. */
#define STREAM_ACKS0_RING 16

struct side {
	struct stream *s;
	enum stream_dir d;
};

struct stream {
	struct stream_config cfg;
	struct stream_sink sink;
	struct exchange_conn conn;
	struct side side[2];
	struct framer fr[2];
	struct corr corr;
	uint64_t seq;
	uint64_t exchanges, unanswered, orphans;
	bool sasl;               /* raw SASL tokens may follow (after SaslHandshake v0) */
	bool gap_seen[2];        /* a gap happened in this direction */
	bool warned_full;
	/* The last acks=0 Produce requests (no bytes kept): a broker should not
	 * answer them, but some do (librdkafka's mock cluster). Such a response
	 * becomes its own exchange, flagged ACKS0, rather than an orphan. */
	struct {
		int16_t api_version;
		int32_t correlation_id;
		int64_t ts_us;
	} acks0[STREAM_ACKS0_RING];
	unsigned acks0_n, acks0_next;
};

static void notice(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct stream *s, const char *fmt, ...)
{
	if (!s->sink.notice)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->sink.notice(s->sink.ctx, &s->conn, msg);
}

static void emit_x(struct stream *s, struct corr_entry *owned_req, const struct corr_entry *req,
		   const uint8_t *resp, uint32_t resp_len, int64_t resp_ts, uint32_t flags)
{
	struct exchange x;
	memset(&x, 0, sizeof x);
	x.conn = &s->conn;
	x.seq = s->seq++;
	x.api_key = -1;
	x.api_version = -1;
	x.correlation_id = -1;
	/* A response time exists when a response (or what is left of one) came. */
	bool resp_seen = resp || (flags & (EXCHANGE_GAP | EXCHANGE_OVERSIZED | EXCHANGE_SHED));
	if (req) {
		x.api_key = req->api_key;
		x.api_version = req->api_version;
		x.correlation_id = req->correlation_id;
		x.request_us = req->ts_us;
		x.request_len = req->len; /* a lost frame's: the size it declared */
		if (req->has_bytes)
			x.request = req->bytes;
		flags |= req->flags;
	}
	x.response = resp;
	x.response_len = resp_len;
	x.response_us = resp_seen ? resp_ts : 0;
	if (!req && resp) {
		int32_t corr;
		if (codec_peek_response(resp, resp_len, &corr) && !(flags & EXCHANGE_SASL_RAW))
			x.correlation_id = corr;
	}
	x.flags = flags;
	/* The request table's buffer and a response the framer gathered are
	 * blocks of their own; anything else points into someone's chunk. */
	struct framer *rf = &s->fr[STREAM_TO_CLIENT];
	bool resp_owned = resp && resp_len && frame_gathered(rf, resp);
	struct exchange_own own = {
		.request = owned_req && owned_req->has_bytes ? owned_req->bytes : NULL,
		.response = resp_owned ? (uint8_t *)resp : NULL,
	};
	if (own.request || own.response)
		x.own = &own;
	s->exchanges++;
	if (flags & EXCHANGE_UNANSWERED)
		s->unanswered++;
	if (flags & EXCHANGE_ORPHAN)
		s->orphans++;
	s->sink.exchange(s->sink.ctx, &x);
	if (owned_req && owned_req->has_bytes && owned_req->bytes && !own.request) {
		owned_req->bytes = NULL; /* taken: the slot allocates anew */
		owned_req->cap = 0;
	}
	if (resp_owned && !own.response) {
		uint8_t *none = NULL;
		uint32_t zero = 0;
		frame_swap_body(rf, &none, &zero); /* taken: none now holds it */
	}
}

static void emit(struct stream *s, const struct corr_entry *req, const uint8_t *resp,
		 uint32_t resp_len, int64_t resp_ts, uint32_t flags)
{
	emit_x(s, NULL, req, resp, resp_len, resp_ts, flags);
}

/* The oldest request leaves unanswered. */
static void pop_unanswered(struct stream *s, int64_t ts)
{
	struct corr_entry *e = corr_at(&s->corr, 0);
	if (!e)
		return;
	emit_x(s, e, e, NULL, 0, ts, EXCHANGE_UNANSWERED);
	corr_pop(&s->corr);
}

/* Read the acks of a Produce request: after the header (client id and, for
 * flexible versions, tagged fields), v3+ has a transactional id before acks. */
static bool produce_acks(const uint8_t *frame, size_t len, int version, int16_t *acks)
{
	struct cursor c;
	cursor_init(&c, frame, len);
	int hv = codec_request_header_version(API_PRODUCE, version);
	if (hv < 1 || !cursor_skip(&c, 8))
		return false;
	int16_t n;
	if (!cursor_read_i16(&c, &n) || (n > 0 && !cursor_skip(&c, (size_t)n)))
		return false;
	bool flexible = hv >= 2;
	if (flexible) {
		uint32_t tags, tag, size;
		if (!cursor_read_uvarint(&c, &tags))
			return false;
		for (uint32_t i = 0; i < tags; i++)
			if (!cursor_read_uvarint(&c, &tag) || !cursor_read_uvarint(&c, &size) ||
			    !cursor_skip(&c, size))
				return false;
	}
	if (version >= 3) {
		if (flexible) {
			uint32_t clen;
			if (!cursor_read_uvarint(&c, &clen) || (clen > 1 && !cursor_skip(&c, clen - 1)))
				return false;
		} else {
			int16_t tlen;
			if (!cursor_read_i16(&c, &tlen) || (tlen > 0 && !cursor_skip(&c, (size_t)tlen)))
				return false;
		}
	}
	return cursor_read_i16(&c, acks);
}

static void remember_acks0(struct stream *s, int16_t ver, int32_t corr, int64_t ts)
{
	unsigned i = s->acks0_next;
	s->acks0[i].api_version = ver;
	s->acks0[i].correlation_id = corr;
	s->acks0[i].ts_us = ts;
	s->acks0_next = (i + 1) % STREAM_ACKS0_RING;
	if (s->acks0_n < STREAM_ACKS0_RING)
		s->acks0_n++;
}

/* A response to a remembered acks=0 request: emit it, forget the request. */
static bool answer_acks0(struct stream *s, int32_t corr, const uint8_t *p, uint32_t n, int64_t ts)
{
	for (unsigned k = 0; k < s->acks0_n; k++) {
		unsigned i = (s->acks0_next + STREAM_ACKS0_RING - 1 - k) % STREAM_ACKS0_RING;
		if (s->acks0[i].correlation_id != corr)
			continue;
		struct corr_entry tmp = {.api_key = API_PRODUCE, .api_version = s->acks0[i].api_version,
					 .correlation_id = corr, .ts_us = s->acks0[i].ts_us};
		s->acks0[i].correlation_id = -1;
		emit(s, &tmp, p, n, ts, EXCHANGE_ACKS0);
		return true;
	}
	return false;
}

/* Make room for one more request of `len` bytes. */
static void make_room(struct stream *s, uint32_t len, int64_t ts)
{
	while (!corr_fits(&s->corr, len) && s->corr.count > 0) {
		if (!s->warned_full) {
			s->warned_full = true;
			notice(s, "more than %u requests or %llu bytes in flight: the oldest are reported unanswered",
			       s->corr.max_entries, (unsigned long long)s->corr.max_bytes);
		}
		pop_unanswered(s, ts);
	}
}

/* Into the request table: a frame the framer gathered (it spanned chunks)
 * changes hands without a copy; one handed on in place is copied. */
static struct corr_entry *push_request(struct stream *s, const uint8_t *p, uint32_t n)
{
	struct framer *fr = &s->fr[STREAM_TO_BROKER];
	if (!p || !frame_gathered(fr, p))
		return corr_push(&s->corr, p, n);
	uint8_t *buf = NULL;
	uint32_t cap = 0;
	frame_swap_body(fr, &buf, &cap);          /* buf: the frame */
	struct corr_entry *e = corr_push_own(&s->corr, &buf, &cap, n);
	frame_swap_body(fr, &buf, &cap);          /* the framer: the slot's old buffer, or the frame back */
	return e;
}

/* Keep a request until its response comes. p NULL: the frame itself was
 * lost, and n is the size it declared. */
static void keep_request(struct stream *s, int16_t api, int16_t ver, int32_t corr,
			 const uint8_t *p, uint32_t n, int64_t ts, uint32_t flags, bool no_id)
{
	if (!no_id && corr_find(&s->corr, corr) >= 0)
		flags |= EXCHANGE_CORR_REUSED;
	make_room(s, p ? n : 0, ts);
	struct corr_entry *e = push_request(s, p, n);
	if (!e) {
		/* Out of memory: report it now rather than lose it. */
		struct corr_entry tmp = {.api_key = api, .api_version = ver, .correlation_id = corr,
					 .ts_us = ts, .flags = flags, .has_bytes = p != NULL,
					 .bytes = (uint8_t *)p, .len = n};
		emit(s, &tmp, NULL, 0, ts, EXCHANGE_UNANSWERED);
		return;
	}
	e->api_key = api;
	e->api_version = ver;
	e->correlation_id = corr;
	e->ts_us = ts;
	e->flags = flags;
	e->no_id = no_id;
	if (!p)
		e->len = n; /* the lost frame's declared size; no bytes, none counted */
}

static void on_request(struct stream *s, const uint8_t *p, uint32_t n, int64_t ts)
{
	if (s->sasl) {
		if (frame_check_request_header(p, n, n) != FRAME_YES) {
			keep_request(s, -1, -1, -1, p, n, ts, EXCHANGE_SASL_RAW, true);
			return;
		}
		s->sasl = false;
	}
	int16_t api, ver;
	int32_t corr;
	if (!codec_peek_request(p, n, &api, &ver, &corr)) {
		struct corr_entry tmp = {.api_key = -1, .api_version = -1, .correlation_id = -1,
					 .ts_us = ts, .has_bytes = true, .bytes = (uint8_t *)p, .len = n};
		emit(s, &tmp, NULL, 0, 0, EXCHANGE_REQ_MALFORMED);
		return;
	}
	int16_t acks;
	if (api == API_PRODUCE && produce_acks(p, n, ver, &acks) && acks == 0) {
		struct corr_entry tmp = {.api_key = api, .api_version = ver, .correlation_id = corr,
					 .ts_us = ts, .has_bytes = true, .bytes = (uint8_t *)p, .len = n};
		emit(s, &tmp, NULL, 0, 0, EXCHANGE_ACKS0);
		remember_acks0(s, ver, corr, ts);
		return;
	}
	if (api == API_SASL_HANDSHAKE && ver == 0)
		s->sasl = true;
	keep_request(s, api, ver, corr, p, n, ts, 0, false);
}

/* A response (or a lost one: p NULL) with this correlation id. */
static void answer(struct stream *s, long idx, const uint8_t *p, uint32_t n, int64_t ts,
		   uint32_t flags)
{
	while (idx-- > 0)
		pop_unanswered(s, ts);
	struct corr_entry *e = corr_at(&s->corr, 0);
	emit_x(s, e, e, p, n, ts, flags);
	corr_pop(&s->corr);
}

static void on_response(struct stream *s, const uint8_t *p, uint32_t n, int64_t ts)
{
	struct corr_entry *front = corr_at(&s->corr, 0);
	if (front && front->no_id) {
		answer(s, 0, p, n, ts, EXCHANGE_SASL_RAW);
		return;
	}
	int32_t corr;
	long idx = -1;
	if (codec_peek_response(p, n, &corr))
		idx = corr_find(&s->corr, corr);
	if (idx >= 0) {
		answer(s, idx, p, n, ts, 0);
		return;
	}
	if (n >= 4 && answer_acks0(s, corr, p, n, ts))
		return;
	uint32_t flags = EXCHANGE_ORPHAN;
	if (n < 4)
		flags |= EXCHANGE_RESP_MALFORMED;
	if (s->sasl)
		flags |= EXCHANGE_SASL_RAW;
	if (s->gap_seen[STREAM_TO_BROKER])
		flags |= EXCHANGE_GAP;
	emit(s, NULL, p, n, ts, flags);
}

static void on_frame(void *ctx, const uint8_t *p, uint32_t n, int64_t ts)
{
	struct side *sd = ctx;
	if (sd->d == STREAM_TO_BROKER)
		on_request(sd->s, p, n, ts);
	else
		on_response(sd->s, p, n, ts);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_lost(void *ctx, const uint8_t *head, uint32_t head_len, uint32_t size,
		    enum frame_loss why, int64_t ts)
{
	struct side *sd = ctx;
	struct stream *s = sd->s;
	uint32_t flag = why == FRAME_LOSS_OVERSIZED ? EXCHANGE_OVERSIZED
			: why == FRAME_LOSS_SHED    ? EXCHANGE_SHED
						    : EXCHANGE_GAP;
	if (sd->d == STREAM_TO_BROKER) {
		int16_t api, ver;
		int32_t corr;
		if (s->sasl || !codec_peek_request(head, head_len, &api, &ver, &corr))
			return; /* nothing to pair it with: counted by the framer */
		int16_t acks;
		if (api == API_PRODUCE && produce_acks(head, head_len, ver, &acks) && acks == 0) {
			struct corr_entry tmp = {.api_key = api, .api_version = ver,
						 .correlation_id = corr, .ts_us = ts, .len = size};
			emit(s, &tmp, NULL, 0, 0, EXCHANGE_ACKS0 | flag);
			return;
		}
		keep_request(s, api, ver, corr, NULL, size, ts, flag, false);
		return;
	}
	struct corr_entry *front = corr_at(&s->corr, 0);
	if (front && front->no_id) {
		answer(s, 0, NULL, size, ts, flag);
		return;
	}
	if (head_len < 4)
		return;
	long idx = corr_find(&s->corr, (int32_t)be32(head));
	if (idx >= 0)
		answer(s, idx, NULL, size, ts, flag);
}

/* Hunting in the response direction: a frame can start here if its
 * correlation id is one of a request in flight. */
static enum frame_verdict check_response(const uint8_t *p, size_t avail, const struct stream *s)
{
	if (avail < 8)
		return FRAME_MORE;
	if (be32(p) < 4)
		return FRAME_NO;
	return corr_find(&s->corr, (int32_t)be32(p + 4)) >= 0 ? FRAME_YES : FRAME_NO;
}

static enum frame_verdict on_check(void *ctx, const uint8_t *p, size_t avail)
{
	struct side *sd = ctx;
	if (sd->d == STREAM_TO_BROKER)
		return frame_check_request(p, avail, 0);
	return check_response(p, avail, sd->s);
}

static void on_notice(void *ctx, const char *msg)
{
	struct side *sd = ctx;
	notice(sd->s, "%s: %s", sd->d == STREAM_TO_BROKER ? "requests" : "responses", msg);
}

struct stream *stream_new(const struct stream_config *cfg, const struct stream_sink *sink,
			  const struct exchange_conn *conn)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	if (cfg)
		s->cfg = *cfg;
	if (!s->cfg.max_frame)
		s->cfg.max_frame = STREAM_DEFAULT_MAX_FRAME;
	if (!s->cfg.max_inflight)
		s->cfg.max_inflight = STREAM_DEFAULT_INFLIGHT;
	if (!s->cfg.max_inflight_bytes)
		s->cfg.max_inflight_bytes = STREAM_DEFAULT_INFLIGHT_BYTES;
	if (s->cfg.max_inflight_bytes < s->cfg.max_frame)
		s->cfg.max_inflight_bytes = s->cfg.max_frame;
	s->sink = *sink;
	if (conn)
		s->conn = *conn;
	else
		s->conn.broker_node_id = -1;
	corr_init(&s->corr, s->cfg.max_inflight, s->cfg.max_inflight_bytes);
	for (int d = 0; d < 2; d++) {
		s->side[d].s = s;
		s->side[d].d = (enum stream_dir)d;
		struct frame_sink fs = {.frame = on_frame, .lost = on_lost, .check = on_check,
					.notice = on_notice, .ctx = &s->side[d]};
		frame_init(&s->fr[d], s->cfg.max_frame, s->cfg.resync, &fs);
	}
	return s;
}

void stream_feed(struct stream *s, enum stream_dir d, const uint8_t *p, size_t n, int64_t ts_us)
{
	frame_feed(&s->fr[d & 1], p, n, ts_us);
}

size_t stream_body_room(struct stream *s, enum stream_dir d, uint8_t **p, size_t want)
{
	return frame_body_room(&s->fr[d & 1], p, want);
}

void stream_body_commit(struct stream *s, enum stream_dir d, size_t n, int64_t ts_us)
{
	frame_body_commit(&s->fr[d & 1], n, ts_us);
}

bool stream_shed(struct stream *s, enum stream_dir d, int64_t ts_us)
{
	return frame_shed(&s->fr[d & 1], ts_us);
}

uint64_t stream_pass_room(const struct stream *s, enum stream_dir d)
{
	return frame_pass_room(&s->fr[d & 1]);
}

void stream_pass(struct stream *s, enum stream_dir d, uint64_t n)
{
	frame_pass(&s->fr[d & 1], n);
}

void stream_gap(struct stream *s, enum stream_dir d, uint64_t nbytes, int64_t ts_us)
{
	if (nbytes == 0)
		return;
	d &= 1;
	s->gap_seen[d] = true;
	if (d == STREAM_TO_CLIENT) {
		/* Any request in flight may have lost its response in the gap. */
		for (uint32_t i = 0; i < s->corr.count; i++)
			corr_at(&s->corr, i)->flags |= EXCHANGE_GAP;
	}
	notice(s, "%s: %llu bytes missing from the capture", d == STREAM_TO_BROKER ? "requests" : "responses",
	       (unsigned long long)nbytes);
	frame_gap(&s->fr[d], nbytes, ts_us);
}

void stream_resync(struct stream *s, enum stream_dir d)
{
	frame_hunt(&s->fr[d & 1]);
}

void stream_close(struct stream *s, int64_t ts_us)
{
	frame_close(&s->fr[STREAM_TO_BROKER], ts_us);
	frame_close(&s->fr[STREAM_TO_CLIENT], ts_us);
	while (s->corr.count > 0)
		pop_unanswered(s, ts_us);
}

void stream_free(struct stream *s)
{
	if (!s)
		return;
	frame_free(&s->fr[0]);
	frame_free(&s->fr[1]);
	corr_free(&s->corr);
	free(s);
}

void stream_get_counters(const struct stream *s, struct stream_counters *c)
{
	memset(c, 0, sizeof *c);
	for (int d = 0; d < 2; d++) {
		const struct frame_counters *f = &s->fr[d].c;
		c->frames[d] = f->frames;
		c->bytes[d] = f->bytes;
		c->bad_frames += f->bad_sizes;
		c->skipped_bytes += f->skipped_bytes;
		c->gaps += f->gaps;
		c->shed_frames += f->shed_frames;
	}
	c->exchanges = s->exchanges;
	c->unanswered = s->unanswered;
	c->orphans = s->orphans;
}

struct exchange_conn *stream_conn(struct stream *s)
{
	return &s->conn;
}
