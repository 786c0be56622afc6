/* capture: packets -> TCP flows -> Kafka connections -> exchanges. The rules
 * for telling Kafka flows and their broker side are in capture.h. */
#include "config.h"
#include "capture/capture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/tree.h"
#include "stream/frame.h"
#include "util/buf.h"

/* How often (capture time) idle flows are looked for. */
#define CAPTURE_EXPIRE_EVERY_US (10ll * 1000000)
/* Broker addresses learnt from Metadata responses. */
#define CAPTURE_MAX_BROKERS 256
#define API_METADATA 3
/* LINKTYPE_RAW: what reassembled datagrams are parsed as. */
#define CAPTURE_DLT_RAW 101

#define CFLOW_STATES(X)                                   \
	X(DETECT, "detecting")  /* keeping bytes to decide */ \
	X(KAFKA, "kafka")       /* a stream decodes it */     \
	X(IGNORED, "not kafka")

enum cflow_state {
#define CFLOW_STATE_ENUM(name, text) CFLOW_##name,
	CFLOW_STATES(CFLOW_STATE_ENUM)
#undef CFLOW_STATE_ENUM
};

/* For debugging and messages. */
__attribute__((unused)) static const char *cflow_state_name(enum cflow_state s)
{
	static const char *const names[] = {
#define CFLOW_STATE_NAME(name, text) text,
		CFLOW_STATES(CFLOW_STATE_NAME)
#undef CFLOW_STATE_NAME
	};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* Something that happened on a flow while it was being detected. */
struct pend {
	uint8_t side;
	bool is_gap;
	bool mid;
	uint32_t off;      /* data: offset in the side's kept bytes */
	uint64_t n;        /* data: length; gap: bytes missing */
	int64_t ts_us;
};

struct cflow {
	struct capture *cap;
	struct tcpreasm_flow *handle;
	struct tcpreasm_flow_info fi;
	enum cflow_state state;
	int broker;                 /* side (0/1) of the broker once decided */
	struct stream *s;
	struct exchange_conn conn;
	/* DETECT */
	struct pend *ev;
	unsigned nev, evcap;
	struct buf kept[2];         /* each side's bytes, in order */
	uint32_t contig[2];         /* of which before the side's first gap */
	bool gapped[2];
	uint64_t kept_total;
};

/* A broker as Metadata responses advertise it: "host:port" and node id. */
struct broker_addr {
	char addr[64];
	int32_t node_id;
};

struct capture {
	struct capture_opts o;
	struct tcpreasm *r;
	struct ipfrag *frag;
	struct capture_counters c;
	uint64_t next_conn_id;
	struct broker_addr brokers[CAPTURE_MAX_BROKERS];
	unsigned nbrokers;
	struct tree meta;                   /* for decoding Metadata responses */
	int64_t last_ts;
	int64_t last_expire;
};

void capture_format_endpoint(char *out, size_t n, uint8_t family, const uint8_t *addr, uint16_t port)
{
	char ip[INET6_ADDRSTRLEN];
	if (family == 6) {
		if (!inet_ntop(AF_INET6, addr, ip, sizeof ip))
			snprintf(ip, sizeof ip, "?");
		snprintf(out, n, "[%s]:%u", ip, port);
	} else {
		snprintf(out, n, "%u.%u.%u.%u:%u", addr[0], addr[1], addr[2], addr[3], port);
	}
}

static bool port_listed(const struct capture *c, uint16_t port)
{
	for (unsigned i = 0; i < c->o.nports; i++)
		if (c->o.ports[i] == port)
			return true;
	return false;
}

/* ---- state changes ---- */

static void free_detect(struct cflow *f)
{
	free(f->ev);
	f->ev = NULL;
	f->nev = f->evcap = 0;
	buf_free(&f->kept[0]);
	buf_free(&f->kept[1]);
}

static enum stream_dir dir_of(const struct cflow *f, int side)
{
	return side == f->broker ? STREAM_TO_CLIENT : STREAM_TO_BROKER;
}

static void feed(struct cflow *f, int side, const uint8_t *p, size_t n, int64_t ts, bool mid)
{
	if (mid)
		stream_resync(f->s, dir_of(f, side));
	stream_feed(f->s, dir_of(f, side), p, n, ts);
}

static int32_t broker_lookup(const struct capture *c, const char *addr)
{
	for (unsigned i = 0; i < c->nbrokers; i++)
		if (strcmp(c->brokers[i].addr, addr) == 0)
			return c->brokers[i].node_id;
	return -1;
}

static void broker_learn(struct capture *c, const char *addr, int32_t node_id)
{
	for (unsigned i = 0; i < c->nbrokers; i++) {
		if (strcmp(c->brokers[i].addr, addr) == 0) {
			c->brokers[i].node_id = node_id;
			return;
		}
	}
	if (c->nbrokers >= CAPTURE_MAX_BROKERS)
		return;
	snprintf(c->brokers[c->nbrokers].addr, sizeof c->brokers[0].addr, "%s", addr);
	c->brokers[c->nbrokers++].node_id = node_id;
}

/* Metadata responses say which node id each broker address is: connections
 * to those addresses opened afterwards carry it (exchange_conn.broker_node_id).
 * A connection keeps the id it started with, so that every exchange of it
 * (and the store's connection row) says the same. */
static void learn_brokers(struct capture *c, const struct exchange *x)
{
	struct codec_header h;
	struct codec_diag d;
	tree_ref root;
	tree_reset(&c->meta);
	if (codec_decode_response(x->response, x->response_len, API_METADATA, x->api_version, &c->meta,
				  &h, &root, NULL, &d) != CODEC_OK)
		return;
	tree_ref brokers = tree_child(&c->meta, root, "brokers");
	if (!brokers)
		return;
	for (tree_ref b = tree_node(&c->meta, brokers)->first; b; b = tree_node(&c->meta, b)->next) {
		tree_ref host = tree_child(&c->meta, b, "host");
		int64_t node = tree_get_int(&c->meta, b, "nodeId", -1);
		int64_t port = tree_get_int(&c->meta, b, "port", -1);
		if (!host || node < 0 || node > INT32_MAX || port < 0 || port > 65535)
			continue;
		const struct tree_node *hn = tree_node(&c->meta, host);
		if (hn->type != SCHEMA_STRING || hn->v.b.len == 0 || hn->v.b.len > 45)
			continue;
		char name[48], addr[64];
		memcpy(name, hn->v.b.p, hn->v.b.len);
		name[hn->v.b.len] = '\0';
		if (strchr(name, ':'))
			snprintf(addr, sizeof addr, "[%s]:%d", name, (int)port);
		else
			snprintf(addr, sizeof addr, "%s:%d", name, (int)port);
		broker_learn(c, addr, (int32_t)node);
	}
}

static void on_stream_exchange(void *ctx, const struct exchange *x)
{
	struct cflow *f = ctx;
	if (x->api_key == API_METADATA && x->response && !(x->flags & EXCHANGE_SASL_RAW))
		learn_brokers(f->cap, x);
	if (f->cap->o.exchange)
		f->cap->o.exchange(f->cap->o.ctx, x);
}

static void on_stream_notice(void *ctx, const struct exchange_conn *conn, const char *msg)
{
	struct cflow *f = ctx;
	if (f->cap->o.notice)
		f->cap->o.notice(f->cap->o.ctx, conn, msg);
}

/* The only place a flow's state changes. */
static void set_state(struct cflow *f, enum cflow_state to, int broker)
{
	struct capture *c = f->cap;
	if (f->state == to)
		return;
	if (to == CFLOW_KAFKA) {
		f->broker = broker;
		f->conn.id = ++c->next_conn_id;
		capture_format_endpoint(f->conn.client, sizeof f->conn.client, f->fi.family,
					f->fi.addr[!broker], f->fi.port[!broker]);
		capture_format_endpoint(f->conn.broker, sizeof f->conn.broker, f->fi.family,
					f->fi.addr[broker], f->fi.port[broker]);
		f->conn.broker_node_id = broker_lookup(c, f->conn.broker);
		struct stream_config cfg = c->o.stream;
		cfg.resync = true;
		struct stream_sink sink = {.exchange = on_stream_exchange, .notice = on_stream_notice,
					   .ctx = f};
		f->s = stream_new(&cfg, &sink, &f->conn);
		if (!f->s) {
			if (c->o.notice)
				c->o.notice(c->o.ctx, &f->conn, "out of memory: connection not decoded");
			to = CFLOW_IGNORED;
		} else {
			c->c.kafka_flows++;
			if (c->o.conn_start)
				c->o.conn_start(c->o.ctx, &f->conn, f->fi.ts_us);
		}
	}
	enum cflow_state from = f->state;
	f->state = to;
	if (to == CFLOW_KAFKA && from == CFLOW_DETECT) {
		/* Replay what was kept while deciding, in capture order. */
		for (unsigned i = 0; i < f->nev; i++) {
			const struct pend *e = &f->ev[i];
			if (e->is_gap)
				stream_gap(f->s, dir_of(f, e->side), e->n, e->ts_us);
			else
				feed(f, e->side, f->kept[e->side].p + e->off, (size_t)e->n, e->ts_us, e->mid);
		}
	}
	if (to != CFLOW_DETECT)
		free_detect(f);
	if (to == CFLOW_IGNORED) {
		c->c.not_kafka++;
		tcpreasm_ignore(c->r, f->handle);
	}
}

/* ---- deciding ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Does side `side` start with a plausible request? */
static enum frame_verdict starts_with_request(const struct cflow *f, int side)
{
	if (f->contig[side] == 0 && f->gapped[side])
		return FRAME_NO;
	return frame_check_request(f->kept[side].p, f->contig[side], f->cap->o.stream.max_frame);
}

/* Does the other side's first frame answer side `req`'s first request? */
static bool first_corr_matches(const struct cflow *f, int req)
{
	int rsp = !req;
	if (f->contig[req] < 12 || f->contig[rsp] < 8)
		return false;
	return be32(f->kept[req].p + 8) == be32(f->kept[rsp].p + 4);
}

/* First offset in side's bytes where a plausible request starts and the
 * frame after it (when the bytes reach that far) is plausible too. */
static bool find_request(const struct cflow *f, int side, size_t *at)
{
	const uint8_t *p = f->kept[side].p;
	size_t n = f->contig[side];
	uint32_t maxf = f->cap->o.stream.max_frame;
	for (size_t i = 0; i + 4 <= n; i++) {
		if (frame_check_request(p + i, n - i, maxf) != FRAME_YES)
			continue;
		size_t end = i + 4 + (size_t)be32(p + i);
		if (end + 4 <= n && frame_check_request(p + end, n - end, maxf) == FRAME_NO)
			continue;
		*at = i;
		return true;
	}
	return false;
}

static bool both_ports_listed(const struct cflow *f)
{
	return port_listed(f->cap, f->fi.port[0]) && port_listed(f->cap, f->fi.port[1]);
}

/* The fallback when the bytes say nothing. */
static void give_up(struct cflow *f)
{
	if (!both_ports_listed(f) && !port_listed(f->cap, f->fi.port[0]) &&
	    !port_listed(f->cap, f->fi.port[1])) {
		set_state(f, CFLOW_IGNORED, 0);
		return;
	}
	/* Both ports are Kafka ports: the lower one is the broker's. */
	set_state(f, CFLOW_KAFKA, f->fi.port[0] < f->fi.port[1] ? 0 : 1);
}

/* Try to decide from what is kept; `final`: no more bytes will come (the
 * flow ended or the kept bytes reached their limit). */
static void decide(struct cflow *f, bool final)
{
	if (f->state != CFLOW_DETECT)
		return;
	if (f->fi.syn[0] || f->fi.syn[1]) {
		/* The SYN said who the client is; only "is it Kafka" is open. */
		enum frame_verdict v = starts_with_request(f, 0);
		if (v == FRAME_YES)
			set_state(f, CFLOW_KAFKA, 1);
		else if (v == FRAME_NO || final)
			set_state(f, CFLOW_IGNORED, 0);
		return;
	}
	enum frame_verdict v0 = starts_with_request(f, 0), v1 = starts_with_request(f, 1);
	if (v0 == FRAME_YES && v1 == FRAME_YES) {
		if (first_corr_matches(f, 0))
			set_state(f, CFLOW_KAFKA, 1);
		else if (first_corr_matches(f, 1))
			set_state(f, CFLOW_KAFKA, 0);
		else if (final)
			set_state(f, CFLOW_KAFKA, 1);
		return;
	}
	if (v0 == FRAME_YES && (v1 == FRAME_NO || first_corr_matches(f, 0))) {
		set_state(f, CFLOW_KAFKA, 1);
		return;
	}
	if (v1 == FRAME_YES && (v0 == FRAME_NO || first_corr_matches(f, 1))) {
		set_state(f, CFLOW_KAFKA, 0);
		return;
	}
	if (!final)
		return;
	if (v0 == FRAME_YES || v1 == FRAME_YES) {
		set_state(f, CFLOW_KAFKA, v0 == FRAME_YES ? 1 : 0);
		return;
	}
	/* Neither side starts on a frame: search. */
	size_t a0 = 0, a1 = 0;
	bool f0 = find_request(f, 0, &a0), f1 = find_request(f, 1, &a1);
	if (f0 && (!f1 || a0 <= a1))
		set_state(f, CFLOW_KAFKA, 1);
	else if (f1)
		set_state(f, CFLOW_KAFKA, 0);
	else
		give_up(f);
}

static bool keep_event(struct cflow *f, const struct pend *e)
{
	if (f->nev == f->evcap) {
		unsigned ncap = f->evcap ? f->evcap * 2 : 16;
		struct pend *nev = realloc(f->ev, ncap * sizeof *nev);
		if (!nev)
			return false;
		f->ev = nev;
		f->evcap = ncap;
	}
	f->ev[f->nev++] = *e;
	return true;
}

/* ---- tcpreasm callbacks ---- */

static void *on_open(void *ctx, const struct tcpreasm_flow_info *fi)
{
	struct capture *c = ctx;
	bool p0 = port_listed(c, fi->port[0]), p1 = port_listed(c, fi->port[1]);
	if (!p0 && !p1 && !c->o.auto_detect)
		return NULL;
	struct cflow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->cap = c;
	f->fi = *fi;
	f->handle = fi->flow;
	f->state = CFLOW_DETECT;
	buf_init(&f->kept[0]);
	buf_init(&f->kept[1]);
	bool syn = fi->syn[0] || fi->syn[1];
	if (syn && (p0 || p1))
		set_state(f, CFLOW_KAFKA, 1);  /* the SYN's receiver is the broker */
	else if (!syn && p0 != p1)
		set_state(f, CFLOW_KAFKA, p1 ? 1 : 0);
	return f;
}

static void on_data(void *ctx, void *owner, int side, const uint8_t *p, size_t n, int64_t ts,
		    bool mid)
{
	struct cflow *f = owner;
	(void)ctx;
	if (f->state == CFLOW_KAFKA) {
		feed(f, side, p, n, ts, mid);
		return;
	}
	if (f->state != CFLOW_DETECT)
		return;
	struct pend e = {.side = (uint8_t)side, .mid = mid, .off = (uint32_t)f->kept[side].len,
			 .n = n, .ts_us = ts};
	size_t room = CAPTURE_DETECT_MAX - f->kept_total;
	size_t take = n < room ? n : room;
	buf_append(&f->kept[side], p, take);
	e.n = take;
	if (f->kept[side].failed || !keep_event(f, &e)) {
		set_state(f, CFLOW_IGNORED, 0);
		return;
	}
	f->kept_total += take;
	if (!f->gapped[side])
		f->contig[side] += (uint32_t)take;
	bool full = f->kept_total >= CAPTURE_DETECT_MAX;
	decide(f, full);
	if (f->state == CFLOW_KAFKA && take < n)
		feed(f, side, p + take, n - take, ts, false);
}

static void on_gap(void *ctx, void *owner, int side, uint64_t n, int64_t ts)
{
	struct cflow *f = owner;
	(void)ctx;
	if (f->state == CFLOW_KAFKA) {
		stream_gap(f->s, dir_of(f, side), n, ts);
		return;
	}
	if (f->state != CFLOW_DETECT)
		return;
	f->gapped[side] = true;
	struct pend e = {.side = (uint8_t)side, .is_gap = true, .n = n, .ts_us = ts};
	if (!keep_event(f, &e))
		set_state(f, CFLOW_IGNORED, 0);
}

static void on_close(void *ctx, void *owner, enum tcpreasm_end why, int64_t ts)
{
	struct capture *c = ctx;
	struct cflow *f = owner;
	decide(f, true);
	if (f->state == CFLOW_KAFKA) {
		stream_close(f->s, ts);
		struct stream_counters k;
		stream_get_counters(f->s, &k);
		struct stream_counters *t = &c->c.stream;
		for (int d = 0; d < 2; d++) {
			t->frames[d] += k.frames[d];
			t->bytes[d] += k.bytes[d];
		}
		t->exchanges += k.exchanges;
		t->unanswered += k.unanswered;
		t->orphans += k.orphans;
		t->bad_frames += k.bad_frames;
		t->skipped_bytes += k.skipped_bytes;
		t->gaps += k.gaps;
		if (c->o.conn_end)
			c->o.conn_end(c->o.ctx, &f->conn, ts, k.bytes[STREAM_TO_BROKER],
				      k.bytes[STREAM_TO_CLIENT], tcpreasm_end_name(why));
		stream_free(f->s);
	}
	free_detect(f);
	free(f);
}

static void on_tcp_notice(void *ctx, void *owner, const char *msg)
{
	struct capture *c = ctx;
	struct cflow *f = owner;
	if (f && f->state == CFLOW_KAFKA && c->o.notice)
		c->o.notice(c->o.ctx, &f->conn, msg);
}

/* ---- IP fragments ---- */

static void on_frag_notice(void *ctx, const char *msg)
{
	struct capture *c = ctx;
	if (c->o.notice)
		c->o.notice(c->o.ctx, NULL, msg);
}

/* A TCP segment, from a packet or a reassembled datagram. */
static void take_segment(struct capture *c, const struct tcp_segment *seg)
{
	if (!c->o.auto_detect && !port_listed(c, seg->sport) && !port_listed(c, seg->dport)) {
		c->c.other_ports++;
		return;
	}
	tcpreasm_segment(c->r, seg);
}

/* A fragment goes to ipfrag; a whole datagram is parsed again as raw IP
 * (the reassembled one has no fragment fields left, so this cannot loop). */
static void take_fragment(struct capture *c, const struct ipfrag_piece *fp, int64_t ts)
{
	const uint8_t *dg;
	size_t n;
	if (ipfrag_add(c->frag, fp, ts, &dg, &n) != IPFRAG_DONE)
		return;
	struct tcp_segment seg;
	enum pcapin_skip why;
	if (!pcapin_parse(CAPTURE_DLT_RAW, dg, (uint32_t)n, (uint32_t)n, ts, &seg, &why)) {
		c->c.skipped[why]++;
		return;
	}
	take_segment(c, &seg);
}

/* ---- the public side ---- */

struct capture *capture_new(const struct capture_opts *o)
{
	struct capture *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->o = *o;
	if (c->o.nports == 0) {
		c->o.ports[0] = CAPTURE_DEFAULT_PORT;
		c->o.nports = 1;
	}
	if (!c->o.stream.max_frame)
		c->o.stream.max_frame = STREAM_DEFAULT_MAX_FRAME;
	struct tcpreasm_sink sink = {.open = on_open, .data = on_data, .gap = on_gap,
				     .close = on_close, .notice = on_tcp_notice, .ctx = c};
	c->r = tcpreasm_new(&sink);
	c->frag = ipfrag_new(NULL, on_frag_notice, c);
	if (!c->r || !c->frag) {
		tcpreasm_free(c->r);
		ipfrag_free(c->frag);
		free(c);
		return NULL;
	}
	c->last_expire = INT64_MIN;
	tree_init(&c->meta);
	return c;
}

void capture_packet(struct capture *c, int dlt, const struct pcapin_packet *pkt)
{
	c->c.packets++;
	c->c.bytes += pkt->caplen;
	c->last_ts = pkt->ts_us;
	if (c->last_expire == INT64_MIN)
		c->last_expire = pkt->ts_us;
	else if (pkt->ts_us - c->last_expire > CAPTURE_EXPIRE_EVERY_US)
		capture_expire(c, pkt->ts_us);
	if (pkt->own_dlt)
		dlt = pkt->dlt;
	struct tcp_segment seg;
	struct ipfrag_piece fp;
	enum pcapin_skip why;
	if (!pcapin_parse_frag(dlt, pkt->data, pkt->caplen, pkt->len, pkt->ts_us, &seg, &why, &fp)) {
		if (why == PCAPIN_SKIP_FRAGMENT)
			take_fragment(c, &fp, pkt->ts_us);
		else
			c->c.skipped[why]++;
		return;
	}
	take_segment(c, &seg);
}

void capture_expire(struct capture *c, int64_t now_us)
{
	c->last_expire = now_us;
	ipfrag_expire(c->frag, now_us);
	tcpreasm_expire(c->r, now_us);
}

void capture_finish(struct capture *c)
{
	/* Datagrams still waiting for fragments are reported before the flows
	 * end (their bytes are gaps there). */
	ipfrag_finish(c->frag);
	tcpreasm_finish(c->r, c->last_ts);
}

void capture_get_counters(const struct capture *c, struct capture_counters *out)
{
	*out = c->c;
	tcpreasm_get_counters(c->r, &out->tcp);
	ipfrag_get_counters(c->frag, &out->frag);
	/* Fragments that gave no datagram: the summary's "IP fragments not
	 * decoded". Those of datagrams still waiting count once they are
	 * dropped (capture_finish). */
	out->skipped[PCAPIN_SKIP_FRAGMENT] = out->frag.refused + out->frag.lost;
}

void capture_free(struct capture *c)
{
	if (!c)
		return;
	/* Flows still open (capture_finish was not called) end here. */
	tcpreasm_finish(c->r, c->last_ts);
	tcpreasm_free(c->r);
	ipfrag_free(c->frag);
	tree_free(&c->meta);
	free(c);
}
