/* test_stream: framing and request/response pairing (src/stream). Frames are
 * built by hand here; bodies only need to be real where the stream looks
 * inside (Produce acks, request headers while hunting). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"
#include "unit.h"

/* ---- building frames ---- */

struct bytes {
	uint8_t p[8192];
	size_t n;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put16(struct bytes *b, int v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 2);
}

static void put32(struct bytes *b, int64_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 4);
}

/* A request frame (with its size prefix). body/bodylen follow the header. */
static void request(struct bytes *b, int api, int ver, int32_t corr, const char *client,
		    const void *body, size_t bodylen)
{
	size_t at = b->n;
	put32(b, 0);
	put16(b, api);
	put16(b, ver);
	put32(b, corr);
	put16(b, (int)strlen(client));
	put(b, client, strlen(client));
	if (body)
		put(b, body, bodylen);
	uint32_t size = (uint32_t)(b->n - at - 4);
	b->p[at] = (uint8_t)(size >> 24);
	b->p[at + 1] = (uint8_t)(size >> 16);
	b->p[at + 2] = (uint8_t)(size >> 8);
	b->p[at + 3] = (uint8_t)size;
}

static void response(struct bytes *b, int32_t corr, const void *body, size_t bodylen)
{
	put32(b, (int64_t)(4 + bodylen));
	put32(b, corr);
	if (body)
		put(b, body, bodylen);
}

/* A Produce v3 body up to acks: null transactional id, acks, timeout, no topics. */
static void produce(struct bytes *b, int32_t corr, int acks)
{
	struct bytes body = {.n = 0};
	put16(&body, -1);
	put16(&body, acks);
	put32(&body, 30000);
	put32(&body, 0);
	request(b, 0, 3, corr, "prod", body.p, body.n);
}

/* ---- collecting exchanges ---- */

struct seen {
	int api, ver;
	int32_t corr;
	uint32_t flags;
	uint32_t req_len, resp_len;
	bool has_req, has_resp;
	uint8_t req0, resp_last;
	uint32_t req_hash, resp_hash; /* FNV-1a of the bytes */
	uint64_t seq;
};

struct collect {
	struct seen x[256];
	unsigned n;
	unsigned notices;
};

static uint32_t fnv(const uint8_t *p, uint32_t n)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; p && i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void on_exchange(void *ctx, const struct exchange *x)
{
	struct collect *c = ctx;
	if (c->n >= 256)
		return;
	struct seen *s = &c->x[c->n++];
	s->api = x->api_key;
	s->ver = x->api_version;
	s->corr = x->correlation_id;
	s->flags = x->flags;
	s->has_req = x->request != NULL;
	s->has_resp = x->response != NULL;
	s->req_len = x->request_len;
	s->resp_len = x->response_len;
	s->req0 = x->request && x->request_len ? x->request[x->request_len - 1] : 0;
	s->resp_last = x->response && x->response_len ? x->response[x->response_len - 1] : 0;
	s->req_hash = fnv(x->request, x->request_len);
	s->resp_hash = fnv(x->response, x->response_len);
	s->seq = x->seq;
}

static void on_notice(void *ctx, const struct exchange_conn *conn, const char *msg)
{
	struct collect *c = ctx;
	(void)conn;
	(void)msg;
	c->notices++;
}

static struct stream *open_stream(struct collect *c, bool resync, uint32_t max_frame,
				  uint32_t max_inflight)
{
	memset(c, 0, sizeof *c);
	struct stream_config cfg = {.max_frame = max_frame, .max_inflight = max_inflight,
				    .resync = resync};
	struct stream_sink sink = {.exchange = on_exchange, .notice = on_notice, .ctx = c};
	struct exchange_conn conn = {.id = 1, .client = "10.0.0.1:5000", .broker = "10.0.0.2:9092",
				     .broker_node_id = -1};
	return stream_new(&cfg, &sink, &conn);
}

static bool same(const struct collect *a, const struct collect *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++) {
		const struct seen *x = &a->x[i], *y = &b->x[i];
		if (x->api != y->api || x->ver != y->ver || x->corr != y->corr || x->flags != y->flags ||
		    x->req_len != y->req_len || x->resp_len != y->resp_len || x->has_req != y->has_req ||
		    x->has_resp != y->has_resp || x->req0 != y->req0 || x->resp_last != y->resp_last ||
		    x->req_hash != y->req_hash || x->resp_hash != y->resp_hash || x->seq != y->seq)
			return false;
	}
	return true;
}

/* A conversation: events in order, each one direction's bytes. */
struct event {
	enum stream_dir d;
	struct bytes b;
};

static struct event script[16];
static unsigned nscript;

static struct bytes *ev(enum stream_dir d)
{
	struct event *e = &script[nscript++];
	e->d = d;
	e->b.n = 0;
	return &e->b;
}

static void build_script(void)
{
	nscript = 0;
	request(ev(STREAM_TO_BROKER), 18, 3, 1, "rdkafka", "\x00\x00\x00", 3);
	response(ev(STREAM_TO_CLIENT), 1, "\x00\x23\x00", 3);
	request(ev(STREAM_TO_BROKER), 3, 1, 2, "rdkafka", "\xff\xff\xff\xff", 4);
	response(ev(STREAM_TO_CLIENT), 2, "\x00\x00\x00\x00\x00\x00\x00\x00\xAA", 9);
	/* Pipelined: three requests in one event, then their responses. */
	struct bytes *b = ev(STREAM_TO_BROKER);
	produce(b, 3, 1);
	produce(b, 4, 0); /* acks=0: no response */
	produce(b, 5, -1);
	b = ev(STREAM_TO_CLIENT);
	response(b, 3, "\x01", 1);
	response(b, 5, "\x02", 1);
	request(ev(STREAM_TO_BROKER), 12, 0, 6, "c", "\x00\x01g\x00\x00\x00\x01\x00\x01m", 10);
}

static void run_script(struct stream *s, size_t split_event, size_t split_at)
{
	for (unsigned i = 0; i < nscript; i++) {
		struct event *e = &script[i];
		if (i == split_event && split_at > 0 && split_at < e->b.n) {
			stream_feed(s, e->d, e->b.p, split_at, 1000 + i);
			stream_feed(s, e->d, e->b.p + split_at, e->b.n - split_at, 1000 + i);
		} else {
			stream_feed(s, e->d, e->b.p, e->b.n, 1000 + i);
		}
	}
	stream_close(s, 5000);
}

static void test_baseline(struct collect *base)
{
	build_script();
	struct stream *s = open_stream(base, false, 0, 0);
	run_script(s, ~(size_t)0, 0);
	struct stream_counters c;
	stream_get_counters(s, &c);
	stream_free(s);
	CHECK_EQ_INT(base->n, 6);
	/* ApiVersions, Metadata, then the acks=0 Produce emitted at once, then
	 * the two answered Produce requests, then the unanswered Heartbeat. */
	CHECK_EQ_INT(base->x[0].api, 18);
	CHECK_EQ_INT(base->x[0].corr, 1);
	CHECK(base->x[0].has_req && base->x[0].has_resp);
	CHECK_EQ_INT(base->x[1].api, 3);
	CHECK_EQ_INT(base->x[2].corr, 4);
	CHECK_EQ_INT(base->x[2].flags, EXCHANGE_ACKS0);
	CHECK(!base->x[2].has_resp);
	CHECK_EQ_INT(base->x[3].corr, 3);
	CHECK_EQ_INT(base->x[3].resp_last, 1);
	CHECK_EQ_INT(base->x[4].corr, 5);
	CHECK_EQ_INT(base->x[4].resp_last, 2);
	CHECK_EQ_INT(base->x[4].flags, 0);
	CHECK_EQ_INT(base->x[5].api, 12);
	CHECK_EQ_INT(base->x[5].flags, EXCHANGE_UNANSWERED);
	CHECK_EQ_INT(c.exchanges, 6);
	CHECK_EQ_INT(c.unanswered, 1);
	CHECK_EQ_INT(c.frames[0], 6);
	CHECK_EQ_INT(c.frames[1], 4);
	CHECK_EQ_INT(c.skipped_bytes, 0);
}

/* The same exchanges whichever way the bytes are cut, with and without
 * resynchronisation armed at the start. */
static void test_splits(const struct collect *base)
{
	static struct collect c;
	unsigned bad = 0, runs = 0;
	for (int resync = 0; resync < 2; resync++) {
		for (unsigned e = 0; e < nscript; e++) {
			for (size_t at = 1; at < script[e].b.n; at++) {
				struct stream *s = open_stream(&c, resync, 0, 0);
				if (resync) {
					stream_resync(s, STREAM_TO_BROKER);
					stream_resync(s, STREAM_TO_CLIENT);
				}
				run_script(s, e, at);
				stream_free(s);
				runs++;
				if (!same(base, &c)) {
					bad++;
					if (bad < 5)
						fprintf(stderr, "split: resync=%d event %u at %zu differs\n", resync, e, at);
				}
			}
		}
	}
	/* And one byte at a time. */
	struct stream *s = open_stream(&c, false, 0, 0);
	for (unsigned i = 0; i < nscript; i++)
		for (size_t k = 0; k < script[i].b.n; k++)
			stream_feed(s, script[i].d, script[i].b.p + k, 1, 1000 + i);
	stream_close(s, 5000);
	stream_free(s);
	CHECK(same(base, &c));
	CHECK_EQ_INT(bad, 0);
	CHECK(runs > 100);
}

static void test_orphan_and_reuse(void)
{
	struct collect c;
	struct stream *s = open_stream(&c, false, 0, 0);
	struct bytes b = {.n = 0};
	response(&b, 77, "\x00\x00", 2);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 1);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.x[0].flags, EXCHANGE_ORPHAN);
	CHECK_EQ_INT(c.x[0].corr, 77);
	CHECK_EQ_INT(c.x[0].api, -1);

	/* The same correlation id twice in flight: both kept, answered in order. */
	b.n = 0;
	request(&b, 3, 1, 9, "x", "\xff\xff\xff\xff", 4);
	request(&b, 3, 1, 9, "x", "\xff\xff\xff\xfe", 4);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 2);
	b.n = 0;
	response(&b, 9, "\x01", 1);
	response(&b, 9, "\x02", 1);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 3);
	CHECK_EQ_INT(c.n, 3);
	CHECK_EQ_INT(c.x[1].flags, 0);
	CHECK_EQ_INT(c.x[1].req0, 0xff);
	CHECK_EQ_INT(c.x[1].resp_last, 1);
	CHECK_EQ_INT(c.x[2].flags, EXCHANGE_CORR_REUSED);
	CHECK_EQ_INT(c.x[2].req0, 0xfe);
	CHECK_EQ_INT(c.x[2].resp_last, 2);

	/* A response to a later request: the earlier ones cannot be answered any more. */
	b.n = 0;
	request(&b, 3, 1, 10, "x", NULL, 0);
	request(&b, 3, 1, 11, "x", NULL, 0);
	request(&b, 3, 1, 12, "x", NULL, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 4);
	b.n = 0;
	response(&b, 12, NULL, 0);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 5);
	CHECK_EQ_INT(c.n, 6);
	CHECK_EQ_INT(c.x[3].corr, 10);
	CHECK_EQ_INT(c.x[3].flags, EXCHANGE_UNANSWERED);
	CHECK_EQ_INT(c.x[4].corr, 11);
	CHECK_EQ_INT(c.x[4].flags, EXCHANGE_UNANSWERED);
	CHECK_EQ_INT(c.x[5].corr, 12);
	CHECK_EQ_INT(c.x[5].flags, 0);
	stream_close(s, 6);
	CHECK_EQ_INT(c.n, 6);
	struct stream_counters k;
	stream_get_counters(s, &k);
	CHECK_EQ_INT(k.orphans, 1);
	CHECK_EQ_INT(k.unanswered, 2);
	stream_free(s);
}

static void test_bad_sizes(void)
{
	struct collect c;
	/* Proxy mode: a negative size ends framing of that direction. */
	struct stream *s = open_stream(&c, false, 0, 0);
	struct bytes b = {.n = 0};
	put32(&b, -5);
	put(&b, "garbage!", 8);
	request(&b, 3, 1, 1, "x", NULL, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	struct stream_counters k;
	stream_get_counters(s, &k);
	CHECK_EQ_INT(k.bad_frames, 1);
	CHECK_EQ_INT(k.frames[0], 0);
	CHECK_EQ_INT(k.skipped_bytes, b.n);
	CHECK(c.notices >= 1);
	stream_close(s, 2);
	CHECK_EQ_INT(c.n, 0);
	stream_free(s);

	/* Capture mode: the same bytes; it hunts and finds the request. */
	s = open_stream(&c, true, 0, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	stream_get_counters(s, &k);
	CHECK_EQ_INT(k.bad_frames, 1);
	CHECK_EQ_INT(k.frames[0], 1);
	CHECK_EQ_INT(k.skipped_bytes, 12);
	stream_close(s, 2);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.x[0].api, 3);
	CHECK_EQ_INT(c.x[0].flags, EXCHANGE_UNANSWERED);
	stream_free(s);

	/* Over max_frame: not buffered; the header still pairs the response. */
	s = open_stream(&c, false, 64, 0);
	b.n = 0;
	static uint8_t big[200];
	memset(big, 'v', sizeof big);
	request(&b, 0, 3, 7, "x", big, sizeof big);
	request(&b, 3, 1, 8, "x", NULL, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, 50, 1);
	stream_feed(s, STREAM_TO_BROKER, b.p + 50, b.n - 50, 1);
	b.n = 0;
	response(&b, 7, big, 100); /* over 64 too */
	response(&b, 8, "\x05", 1);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 2);
	stream_get_counters(s, &k);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.x[0].api, 0);
	CHECK_EQ_INT(c.x[0].corr, 7);
	CHECK_EQ_INT(c.x[0].flags, EXCHANGE_OVERSIZED);
	CHECK(!c.x[0].has_req && !c.x[0].has_resp);
	CHECK_EQ_INT(c.x[1].corr, 8);
	CHECK_EQ_INT(c.x[1].resp_last, 5);
	CHECK_EQ_INT(k.bad_frames, 2);
	CHECK_EQ_INT(k.skipped_bytes, 4 + 8 + 3 + 200 + 4 + 4 + 100);
	stream_free(s);
}

static void test_midstream(void)
{
	struct collect c;
	/* The capture starts 17 bytes into a request; then two whole exchanges. */
	struct bytes first = {.n = 0}, rest = {.n = 0}, resp = {.n = 0};
	request(&first, 1, 11, 40, "consumer-1", "\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03", 12);
	request(&rest, 3, 1, 41, "consumer-1", "\xff\xff\xff\xff", 4);
	request(&rest, 18, 2, 42, "consumer-1", NULL, 0);
	response(&resp, 40, "\x09", 1); /* its request was not seen: skipped while hunting */
	response(&resp, 41, "\x01", 1);
	response(&resp, 42, "\x02", 1);
	struct bytes all = {.n = 0};
	put(&all, first.p + 17, first.n - 17);
	put(&all, rest.p, rest.n);
	for (size_t chunk = 1; chunk <= all.n; chunk += (chunk < 8 ? 1 : 13)) {
		struct stream *s = open_stream(&c, true, 0, 0);
		stream_resync(s, STREAM_TO_BROKER);
		stream_resync(s, STREAM_TO_CLIENT);
		for (size_t at = 0; at < all.n; at += chunk)
			stream_feed(s, STREAM_TO_BROKER, all.p + at, all.n - at < chunk ? all.n - at : chunk, 1);
		stream_feed(s, STREAM_TO_CLIENT, resp.p, resp.n, 2);
		stream_close(s, 3);
		struct stream_counters k;
		stream_get_counters(s, &k);
		CHECK_EQ_INT(k.skipped_bytes, (first.n - 17) + 9);
		CHECK_EQ_INT(c.n, 2);
		CHECK_EQ_INT(c.x[0].corr, 41);
		CHECK_EQ_INT(c.x[0].resp_last, 1);
		CHECK_EQ_INT(c.x[1].corr, 42);
		CHECK_EQ_INT(c.x[1].resp_last, 2);
		CHECK_EQ_INT(c.x[1].flags, 0);
		stream_free(s);
	}
}

static void test_gap(void)
{
	struct collect c;
	struct stream *s = open_stream(&c, true, 0, 0);
	struct bytes b = {.n = 0}, r = {.n = 0};
	request(&b, 3, 1, 1, "x", NULL, 0);
	request(&b, 3, 1, 2, "x", NULL, 0);
	request(&b, 3, 1, 3, "x", NULL, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	static uint8_t body[100];
	response(&r, 1, body, sizeof body);
	size_t cut = r.n;
	response(&r, 2, "\x02", 1);
	response(&r, 3, "\x03", 1);
	/* 30 bytes missing inside the first response's body. */
	stream_feed(s, STREAM_TO_CLIENT, r.p, 20, 2);
	stream_gap(s, STREAM_TO_CLIENT, 30, 3);
	stream_feed(s, STREAM_TO_CLIENT, r.p + 50, r.n - 50, 4);
	stream_close(s, 5);
	CHECK_EQ_INT(c.n, 3);
	CHECK_EQ_INT(c.x[0].corr, 1);
	CHECK(c.x[0].flags & EXCHANGE_GAP);
	CHECK(!c.x[0].has_resp);
	CHECK_EQ_INT(c.x[1].corr, 2);
	CHECK_EQ_INT(c.x[1].resp_last, 2);
	CHECK_EQ_INT(c.x[2].corr, 3);
	CHECK_EQ_INT(c.x[2].resp_last, 3);
	struct stream_counters k;
	stream_get_counters(s, &k);
	CHECK_EQ_INT(k.gaps, 1);
	CHECK_EQ_INT(k.skipped_bytes, (cut - 50) + 16);
	stream_free(s);

	/* A gap that swallows a frame boundary: hunt again. */
	s = open_stream(&c, true, 0, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	stream_feed(s, STREAM_TO_CLIENT, r.p, 20, 2);
	stream_gap(s, STREAM_TO_CLIENT, cut - 20 + 3, 3);
	stream_feed(s, STREAM_TO_CLIENT, r.p + cut + 3, r.n - cut - 3, 4);
	stream_close(s, 5);
	CHECK_EQ_INT(c.n, 3);
	CHECK(c.x[0].flags & EXCHANGE_GAP);
	CHECK_EQ_INT(c.x[1].corr, 2);
	CHECK(c.x[1].flags & EXCHANGE_UNANSWERED);
	CHECK_EQ_INT(c.x[2].corr, 3);
	CHECK_EQ_INT(c.x[2].resp_last, 3);
	stream_free(s);
}

static void test_sasl_v0(void)
{
	struct collect c;
	struct stream *s = open_stream(&c, false, 0, 0);
	struct bytes b = {.n = 0};
	request(&b, 17, 0, 1, "rdkafka", "\x00\x05PLAIN", 7);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	b.n = 0;
	response(&b, 1, "\x00\x00\x00\x00\x00\x01\x00\x05PLAIN", 13);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 2);
	/* The PLAIN token: authzid NUL user NUL password, no Kafka header. */
	b.n = 0;
	put32(&b, 15);
	put(&b, "\0alice\0secret!!", 15);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 3);
	b.n = 0;
	put32(&b, 0); /* the broker's empty reply */
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 4);
	b.n = 0;
	request(&b, 3, 1, 2, "rdkafka", "\xff\xff\xff\xff", 4);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 5);
	b.n = 0;
	response(&b, 2, "\x07", 1);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 6);
	stream_close(s, 7);
	CHECK_EQ_INT(c.n, 3);
	CHECK_EQ_INT(c.x[0].api, 17);
	CHECK_EQ_INT(c.x[0].flags, 0);
	CHECK_EQ_INT(c.x[1].flags, EXCHANGE_SASL_RAW);
	CHECK_EQ_INT(c.x[1].req_len, 15);
	CHECK(c.x[1].has_resp);
	CHECK_EQ_INT(c.x[1].resp_len, 0);
	CHECK_EQ_INT(c.x[2].api, 3);
	CHECK_EQ_INT(c.x[2].corr, 2);
	CHECK_EQ_INT(c.x[2].flags, 0);
	CHECK_EQ_INT(c.x[2].resp_last, 7);
	stream_free(s);
}

/* Produce with acks=0 is emitted at once; a broker that answers anyway (the
 * librdkafka mock does) gives a second exchange, not an orphan. */
static void test_acks0_answered(void)
{
	struct collect c;
	struct stream *s = open_stream(&c, false, 0, 0);
	struct bytes b = {.n = 0};
	produce(&b, 30, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.x[0].flags, EXCHANGE_ACKS0);
	CHECK(c.x[0].has_req && !c.x[0].has_resp);
	b.n = 0;
	response(&b, 30, "\x09", 1);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 2);
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.x[1].api, 0);
	CHECK_EQ_INT(c.x[1].ver, 3);
	CHECK_EQ_INT(c.x[1].corr, 30);
	CHECK_EQ_INT(c.x[1].flags, EXCHANGE_ACKS0);
	CHECK(!c.x[1].has_req && c.x[1].has_resp);
	/* The same correlation id again is an orphan: each answer is used once. */
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 3);
	CHECK_EQ_INT(c.n, 3);
	CHECK_EQ_INT(c.x[2].flags, EXCHANGE_ORPHAN);
	stream_close(s, 4);
	struct stream_counters k;
	stream_get_counters(s, &k);
	CHECK_EQ_INT(k.unanswered, 0);
	stream_free(s);
}

static void test_bounded_inflight(void)
{
	struct collect c;
	struct stream *s = open_stream(&c, false, 0, 4);
	struct bytes b = {.n = 0};
	for (int i = 0; i < 6; i++)
		request(&b, 3, 1, 100 + i, "x", NULL, 0);
	stream_feed(s, STREAM_TO_BROKER, b.p, b.n, 1);
	/* Two had to leave to keep four in flight. */
	CHECK_EQ_INT(c.n, 2);
	CHECK_EQ_INT(c.x[0].corr, 100);
	CHECK_EQ_INT(c.x[0].flags, EXCHANGE_UNANSWERED);
	CHECK_EQ_INT(c.x[1].corr, 101);
	CHECK(c.notices >= 1);
	b.n = 0;
	for (int i = 2; i < 6; i++)
		response(&b, 100 + i, NULL, 0);
	stream_feed(s, STREAM_TO_CLIENT, b.p, b.n, 2);
	CHECK_EQ_INT(c.n, 6);
	for (int i = 2; i < 6; i++) {
		CHECK_EQ_INT(c.x[i].corr, 100 + i);
		CHECK_EQ_INT(c.x[i].flags, 0);
	}
	stream_free(s);
}

/* Requests that span chunks are kept without a copy (the framer's buffer
 * changes hands with a request slot): many in flight at once, of different
 * sizes, each must still hold its own bytes when its response comes, fed in
 * small pieces and whole, interleaved with requests handed on in place. */
static void test_gathered_requests(void)
{
	static struct bytes reqs, resps;
	static struct collect c;
	reqs.n = resps.n = 0;
	uint32_t want[24];
	for (int i = 0; i < 24; i++) {
		uint8_t body[300];
		size_t len = (size_t)(i * 11 % 300);
		for (size_t k = 0; k < len; k++)
			body[k] = (uint8_t)(i * 31 + k * 7);
		size_t at = reqs.n + 4;
		request(&reqs, 3, 1, 500 + i, "g", body, len);
		want[i] = fnv(reqs.p + at, (uint32_t)(reqs.n - at));
		response(&resps, 500 + i, body, len / 2);
	}
	for (size_t piece = 1; piece <= 64; piece = piece * 2 + 1) {
		struct stream *s = open_stream(&c, false, 0, 0);
		for (size_t at = 0; at < reqs.n; at += piece) {
			/* Every third piece is a large one: some frames whole in it. */
			size_t n = (at / piece) % 3 == 2 ? piece * 40 : piece;
			if (n > reqs.n - at)
				n = reqs.n - at;
			stream_feed(s, STREAM_TO_BROKER, reqs.p + at, n, 1);
			at += n - piece;
		}
		stream_feed(s, STREAM_TO_CLIENT, resps.p, resps.n, 2);
		stream_close(s, 3);
		stream_free(s);
		CHECK_EQ_INT(c.n, 24);
		for (unsigned i = 0; i < c.n && i < 24; i++) {
			CHECK_EQ_INT(c.x[i].corr, 500 + (int)i);
			CHECK_EQ_INT(c.x[i].flags, 0);
			CHECK_EQ_INT(c.x[i].req_hash, want[i]);
		}
	}
}

/* A sink that takes the frames offered in x->own (the store does): they
 * must be the exchange's own bytes, stay intact after the stream has gone
 * on with later frames (so the stream never reuses a taken block), and
 * what comes after a take must still pair and hash as without taking. */
struct taker {
	struct collect c;
	struct {
		uint8_t *p;
		uint32_t n, hash;
	} kept[64];
	unsigned nkept, offered_req, offered_resp;
};

static void on_exchange_take(void *ctx, const struct exchange *x)
{
	struct taker *t = ctx;
	on_exchange(&t->c, x);
	if (!x->own)
		return;
	uint8_t **slot[2] = {&x->own->request, &x->own->response};
	const uint8_t *frame[2] = {x->request, x->response};
	uint32_t len[2] = {x->request_len, x->response_len};
	for (int i = 0; i < 2; i++) {
		if (!*slot[i])
			continue;
		CHECK(*slot[i] == frame[i]);
		i == 0 ? t->offered_req++ : t->offered_resp++;
		if (t->nkept < 64 && *slot[i] == frame[i]) {
			t->kept[t->nkept].p = *slot[i];
			t->kept[t->nkept].n = len[i];
			t->kept[t->nkept].hash = fnv(frame[i], len[i]);
			t->nkept++;
			*slot[i] = NULL;
		}
	}
}

static void test_taken_frames(void)
{
	static struct bytes reqs, resps;
	static struct collect plain;
	static struct taker t;
	reqs.n = resps.n = 0;
	for (int i = 0; i < 12; i++) {
		uint8_t body[600];
		size_t len = (size_t)(100 + i * 41 % 500);
		for (size_t k = 0; k < len; k++)
			body[k] = (uint8_t)(i * 13 + k * 5);
		request(&reqs, 1, 4, 700 + i, "t", body, len);
		response(&resps, 700 + i, body, len - 50);
	}
	struct exchange_conn conn = {.id = 1, .broker_node_id = -1};
	for (int take = 0; take < 2; take++) {
		memset(&t, 0, sizeof t);
		struct stream_sink sink = {.exchange = take ? on_exchange_take : on_exchange,
					   .notice = on_notice, .ctx = take ? (void *)&t : (void *)&plain};
		if (!take)
			memset(&plain, 0, sizeof plain);
		struct stream *s = stream_new(NULL, &sink, &conn);
		/* Requests in 37-byte pieces (gathered), responses alternately in
		 * 53-byte pieces and whole, one request and response at a time. */
		size_t rq = 0, rs = 0;
		for (int i = 0; i < 12; i++) {
			size_t rq_end = rq + 4 + (reqs.p[rq] << 24 | reqs.p[rq + 1] << 16 | reqs.p[rq + 2] << 8 | reqs.p[rq + 3]);
			size_t rs_end = rs + 4 + (resps.p[rs] << 24 | resps.p[rs + 1] << 16 | resps.p[rs + 2] << 8 | resps.p[rs + 3]);
			for (; rq < rq_end; rq += 37)
				stream_feed(s, STREAM_TO_BROKER, reqs.p + rq, rq + 37 < rq_end ? 37 : rq_end - rq, 1);
			rq = rq_end;
			if (i & 1) {
				stream_feed(s, STREAM_TO_CLIENT, resps.p + rs, rs_end - rs, 2);
			} else {
				for (; rs < rs_end; rs += 53)
					stream_feed(s, STREAM_TO_CLIENT, resps.p + rs, rs + 53 < rs_end ? 53 : rs_end - rs, 2);
			}
			rs = rs_end;
		}
		stream_close(s, 3);
		stream_free(s);
	}
	CHECK(same(&plain, &t.c));
	CHECK_EQ_INT(t.c.n, 12);
	CHECK_EQ_INT(t.offered_req, 12); /* every request is in a block of its own */
	CHECK_EQ_INT(t.offered_resp, 6); /* the gathered responses; whole ones are in place */
	for (unsigned i = 0; i < t.nkept; i++) {
		CHECK_EQ_INT(fnv(t.kept[i].p, t.kept[i].n), t.kept[i].hash);
		free(t.kept[i].p);
	}
}

/* Writing a frame's rest straight into its block (stream_body_room +
 * stream_body_commit, the recording proxy's tee path) is the same as
 * feeding those bytes: the same exchanges, hashes and sequence, whatever
 * the piece sizes; and there is no room where no frame body is being
 * gathered (at a frame boundary, or once a frame is complete). */
static size_t bytes_written;

static void feed_or_write(struct stream *s, enum stream_dir d, const uint8_t *p, size_t n,
			  int64_t ts, bool write)
{
	while (n) {
		uint8_t *at = NULL;
		size_t room = write ? stream_body_room(s, d, &at, n) : 0;
		if (room) {
			size_t k = n < room ? n : room;
			memcpy(at, p, k);
			stream_body_commit(s, d, k, ts);
			bytes_written += k;
			p += k;
			n -= k;
			continue;
		}
		/* Up to the next frame's first bytes only, so that the rest can be written. */
		size_t k = n < 9 ? n : 9;
		stream_feed(s, d, p, k, ts);
		p += k;
		n -= k;
	}
}

static void test_body_room(void)
{
	static struct bytes reqs, resps;
	static struct collect fed, written;
	reqs.n = resps.n = 0;
	for (int i = 0; i < 16; i++) {
		uint8_t body[700];
		size_t len = (size_t)(i * 43 % 700);
		for (size_t k = 0; k < len; k++)
			body[k] = (uint8_t)(i * 7 + k * 3);
		request(&reqs, i % 2 ? 1 : 0, 4, 900 + i, "w", body, len);
		response(&resps, 900 + i, body, len / 3);
	}
	struct exchange_conn conn = {.id = 1, .broker_node_id = -1};
	for (int w = 0; w < 2; w++) {
		struct collect *c = w ? &written : &fed;
		memset(c, 0, sizeof *c);
		struct stream_sink sink = {.exchange = on_exchange, .notice = on_notice, .ctx = c};
		struct stream *s = stream_new(NULL, &sink, &conn);
		uint8_t *at;
		CHECK_EQ_INT(stream_body_room(s, STREAM_TO_BROKER, &at, 100), 0); /* at a boundary */
		feed_or_write(s, STREAM_TO_BROKER, reqs.p, reqs.n, 1, w);
		CHECK_EQ_INT(stream_body_room(s, STREAM_TO_BROKER, &at, 100), 0); /* all complete */
		feed_or_write(s, STREAM_TO_CLIENT, resps.p, resps.n, 2, w);
		stream_close(s, 3);
		stream_free(s);
	}
	CHECK_EQ_INT(fed.n, 16);
	CHECK(same(&fed, &written));
	CHECK(bytes_written > (reqs.n + resps.n) / 2); /* most bytes took the write path */
}

/* A Produce v3 request with acks and `pad` bytes of (topic) data after the
 * header fields, so that the frame is large. */
static void big_produce(struct bytes *b, int32_t corr, int acks, size_t pad)
{
	struct bytes body = {.n = 0};
	put16(&body, -1);
	put16(&body, acks);
	put32(&body, 30000);
	for (size_t i = 0; i < pad; i++)
		body.p[body.n++] = (uint8_t)(i * 13);
	request(b, 0, 3, corr, "prod", body.p, body.n);
}

/* The proxy sheds a large frame its recording has no room for: the framer
 * reports it with its head, passes over the rest whether the bytes bypass
 * it (stream_pass, spliced) or are fed (a plain read), and the frames after
 * it are framed in step. A request keeps what pairs its response; an acks=0
 * Produce is emitted at once; a shed response completes its exchange. */
static void test_shed(void)
{
	static struct bytes req, resp, tail_req, tail_resp, acks0;
	req.n = resp.n = tail_req.n = tail_resp.n = acks0.n = 0;
	big_produce(&req, 7, 1, 3000);
	request(&req, 1, 4, 8, "prod", "\x00\x01", 2); /* a Fetch, answered by a large response */
	static uint8_t fetched[2500];
	for (size_t i = 0; i < sizeof fetched; i++)
		fetched[i] = (uint8_t)i;
	response(&resp, 7, "\x00\x00", 2);
	response(&resp, 8, fetched, sizeof fetched);
	request(&tail_req, 18, 0, 9, "prod", NULL, 0);
	response(&tail_resp, 9, "\x00\x00", 2);
	big_produce(&acks0, 10, 0, 2000);

	struct collect c;
	struct stream *s = open_stream(&c, false, 0, 0);
	CHECK(!stream_shed(s, STREAM_TO_BROKER, 1)); /* at a boundary: nothing to shed */
	CHECK_EQ_INT(stream_pass_room(s, STREAM_TO_BROKER), 0);
	size_t first = 4 + 14 + 8 + 3000; /* the Produce frame: prefix, header, fields, data */
	stream_feed(s, STREAM_TO_BROKER, req.p, 40, 1);
	CHECK(stream_shed(s, STREAM_TO_BROKER, 1));
	CHECK(!stream_shed(s, STREAM_TO_BROKER, 1)); /* already shed */
	CHECK_EQ_INT(stream_pass_room(s, STREAM_TO_BROKER), first - 40);
	stream_pass(s, STREAM_TO_BROKER, 1000);                       /* spliced */
	stream_feed(s, STREAM_TO_BROKER, req.p + 1040, 500, 1);       /* read */
	CHECK_EQ_INT(stream_pass_room(s, STREAM_TO_BROKER), first - 1540);
	stream_pass(s, STREAM_TO_BROKER, first - 1540 + 100);         /* no further than the frame */
	CHECK_EQ_INT(stream_pass_room(s, STREAM_TO_BROKER), 0);
	stream_feed(s, STREAM_TO_BROKER, req.p + first, req.n - first, 1); /* the Fetch, whole */
	size_t small = 4 + 4 + 2;
	stream_feed(s, STREAM_TO_CLIENT, resp.p, small + 30, 2);
	CHECK(stream_shed(s, STREAM_TO_CLIENT, 2));
	stream_pass(s, STREAM_TO_CLIENT, stream_pass_room(s, STREAM_TO_CLIENT));
	stream_feed(s, STREAM_TO_BROKER, tail_req.p, tail_req.n, 3);
	stream_feed(s, STREAM_TO_CLIENT, tail_resp.p, tail_resp.n, 4);
	stream_feed(s, STREAM_TO_BROKER, acks0.p, 100, 5);
	CHECK(stream_shed(s, STREAM_TO_BROKER, 5));
	stream_feed(s, STREAM_TO_BROKER, acks0.p + 100, acks0.n - 100, 5);
	struct stream_counters k;
	stream_get_counters(s, &k);
	CHECK_EQ_INT(k.shed_frames, 3);
	CHECK_EQ_INT(k.skipped_bytes, 0); /* shed bytes are passed over, not skipped */
	CHECK_EQ_INT(k.bytes[STREAM_TO_BROKER], req.n + tail_req.n + acks0.n);
	CHECK_EQ_INT(k.bytes[STREAM_TO_CLIENT], resp.n + tail_resp.n);
	stream_close(s, 6);
	stream_free(s);

	CHECK_EQ_INT(c.n, 4);
	CHECK_EQ_INT(c.x[0].api, 0);
	CHECK_EQ_INT(c.x[0].corr, 7);
	CHECK_EQ_INT(c.x[0].flags, EXCHANGE_SHED);
	CHECK(!c.x[0].has_req && c.x[0].has_resp);
	CHECK_EQ_INT(c.x[0].req_len, first - 4); /* the size it declared */
	CHECK_EQ_INT(c.x[1].api, 1);
	CHECK_EQ_INT(c.x[1].corr, 8);
	CHECK_EQ_INT(c.x[1].flags, EXCHANGE_SHED);
	CHECK(c.x[1].has_req && !c.x[1].has_resp);
	CHECK_EQ_INT(c.x[1].resp_len, 4 + sizeof fetched);
	CHECK_EQ_INT(c.x[2].api, 18);
	CHECK_EQ_INT(c.x[2].flags, 0);
	CHECK(c.x[2].has_req && c.x[2].has_resp);
	CHECK_EQ_INT(c.x[3].corr, 10);
	CHECK_EQ_INT(c.x[3].flags, EXCHANGE_ACKS0 | EXCHANGE_SHED);
	CHECK_EQ_INT(c.notices, 0);
}

/* Hostile input never crashes: random bytes into both directions, in
 * random pieces, with gaps. */
static void test_noise(void)
{
	struct collect c;
	uint32_t seed = 12345;
	static uint8_t junk[65536];
	for (int round = 0; round < 40; round++) {
		for (size_t i = 0; i < sizeof junk; i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (uint8_t)(seed >> 16);
			/* Small sizes now and then, so frames do get cut. */
			if (round & 1 && i % 97 == 0)
				junk[i] = 0;
		}
		struct stream *s = open_stream(&c, round & 2, (round & 4) ? 1000 : 0, 8);
		size_t at = 0;
		while (at < sizeof junk) {
			seed = seed * 1103515245u + 12345u;
			size_t n = 1 + (seed >> 8) % 3000;
			if (n > sizeof junk - at)
				n = sizeof junk - at;
			enum stream_dir d = (seed >> 4) & 1 ? STREAM_TO_BROKER : STREAM_TO_CLIENT;
			stream_feed(s, d, junk + at, n, (int64_t)at);
			if ((seed >> 20) % 17 == 0)
				stream_gap(s, d, (seed >> 3) % 5000, (int64_t)at);
			at += n;
		}
		stream_close(s, 1);
		stream_free(s);
	}
	CHECK(1);
}

int main(void)
{
	static struct collect base;
	test_baseline(&base);
	test_splits(&base);
	test_orphan_and_reuse();
	test_bad_sizes();
	test_midstream();
	test_gap();
	test_sasl_v0();
	test_acks0_answered();
	test_bounded_inflight();
	test_gathered_requests();
	test_taken_frames();
	test_body_room();
	test_shed();
	test_noise();
	return unit_done("test_stream");
}
