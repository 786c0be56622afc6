/* tcpreasm: per-flow TCP reassembly (policy in tcpreasm.h). Sequence numbers
 * are compared modulo 2^32 (RFC 9293 3.4): "a before b" is
 * (int32_t)(a - b) < 0, so a connection may wrap freely. */
#include "config.h"
#include "capture/tcpreasm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A segment kept until the hole before it fills. */
struct seg {
	struct seg *next;
	uint32_t seq;
	uint32_t len;
	int64_t ts_us;
	uint8_t data[];
};

/* One direction's states. Every change goes through half_set(). */
#define HALF_STATES(X)                                                \
	X(UNKNOWN, "unknown")  /* no sequence number known yet */        \
	X(OPEN, "open")        /* `next` is valid */                     \
	X(CLOSING, "fin seen") /* a FIN came; bytes before it may be missing */ \
	X(DONE, "done")        /* every byte up to the FIN delivered */

enum half_state {
#define HALF_STATE_ENUM(name, text) HALF_##name,
	HALF_STATES(HALF_STATE_ENUM)
#undef HALF_STATE_ENUM
};

struct half {
	enum half_state state;
	bool aligned;         /* the first byte is the first byte of the stream */
	bool started;         /* data delivered (or a gap) already */
	bool syn;
	uint32_t isn;
	uint32_t base;        /* sequence number of the first byte (for messages) */
	uint32_t next;        /* next sequence number expected */
	uint32_t fin_seq;     /* sequence number of the FIN */
	struct seg *ooo;      /* kept segments, sorted, all after `next` */
	uint32_t ooo_bytes;
	uint32_t hist_len;    /* valid bytes in hist: those just before `next` */
	uint8_t hist[TCPREASM_HISTORY];
};

struct tcpreasm_flow {
	struct tcpreasm_flow *hnext;             /* hash chain */
	struct tcpreasm_flow *prev, *next;       /* all flows, in the order they started */
	uint8_t family;
	uint8_t addr[2][16];
	uint16_t port[2];
	uint32_t hash;
	struct half h[2];
	void *owner;
	bool ignored;
	int64_t last_us;
};

struct tcpreasm {
	struct tcpreasm_sink sink;
	struct tcpreasm_flow **tab;
	uint32_t tab_size;             /* a power of two */
	uint32_t nflows;
	struct tcpreasm_flow *first, *last;
	struct tcpreasm_counters c;
};

static const char *const end_names[] = {
#define TCPREASM_END_NAME(name, text) text,
	TCPREASM_ENDS(TCPREASM_END_NAME)
#undef TCPREASM_END_NAME
};

const char *tcpreasm_end_name(enum tcpreasm_end e)
{
	if ((unsigned)e >= sizeof end_names / sizeof end_names[0])
		return "?";
	return end_names[e];
}

/* For debugging and messages. */
__attribute__((unused)) static const char *half_state_name(enum half_state st)
{
	static const char *const names[] = {
#define HALF_STATE_NAME(name, text) text,
		HALF_STATES(HALF_STATE_NAME)
#undef HALF_STATE_NAME
	};
	return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

/* The only place a direction's state changes. */
static void half_set(struct half *h, enum half_state st)
{
	h->state = st;
}

static bool before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static bool after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static void notice(struct tcpreasm *r, struct tcpreasm_flow *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void notice(struct tcpreasm *r, struct tcpreasm_flow *f, const char *fmt, ...)
{
	if (!r->sink.notice || f->ignored)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->sink.notice(r->sink.ctx, f->owner, msg);
}

/* ---- the flow table ---- */

static size_t addr_len(uint8_t family)
{
	return family == 6 ? 16 : 4;
}

static int cmp_end(uint8_t family, const uint8_t *a1, uint16_t p1, const uint8_t *a2, uint16_t p2)
{
	int c = memcmp(a1, a2, addr_len(family));
	if (c)
		return c;
	return p1 < p2 ? -1 : p1 > p2;
}

/* FNV-1a over both endpoints, lower one first, so both directions hash alike. */
static uint32_t hash_seg(const struct tcp_segment *s)
{
	const uint8_t *a = s->src, *b = s->dst;
	uint16_t pa = s->sport, pb = s->dport;
	if (cmp_end(s->family, a, pa, b, pb) > 0) {
		a = s->dst;
		b = s->src;
		pa = s->dport;
		pb = s->sport;
	}
	uint32_t h = 2166136261u ^ s->family;
	size_t n = addr_len(s->family);
	for (size_t i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	h = (h ^ (pa >> 8)) * 16777619u;
	h = (h ^ (pa & 0xff)) * 16777619u;
	h = (h ^ (pb >> 8)) * 16777619u;
	h = (h ^ (pb & 0xff)) * 16777619u;
	return h;
}

/* The flow of a segment and the side it came from (0 or 1), or NULL. */
static struct tcpreasm_flow *lookup(struct tcpreasm *r, const struct tcp_segment *s, uint32_t h, int *side)
{
	if (!r->tab)
		return NULL;
	size_t n = addr_len(s->family);
	for (struct tcpreasm_flow *f = r->tab[h & (r->tab_size - 1)]; f; f = f->hnext) {
		if (f->hash != h || f->family != s->family)
			continue;
		if (f->port[0] == s->sport && f->port[1] == s->dport && !memcmp(f->addr[0], s->src, n) &&
		    !memcmp(f->addr[1], s->dst, n)) {
			*side = 0;
			return f;
		}
		if (f->port[1] == s->sport && f->port[0] == s->dport && !memcmp(f->addr[1], s->src, n) &&
		    !memcmp(f->addr[0], s->dst, n)) {
			*side = 1;
			return f;
		}
	}
	return NULL;
}

static bool grow_table(struct tcpreasm *r)
{
	uint32_t nsize = r->tab_size ? r->tab_size * 2 : 1024;
	struct tcpreasm_flow **nt = calloc(nsize, sizeof *nt);
	if (!nt)
		return false;
	for (uint32_t i = 0; i < r->tab_size; i++) {
		struct tcpreasm_flow *f = r->tab[i];
		while (f) {
			struct tcpreasm_flow *nx = f->hnext;
			f->hnext = nt[f->hash & (nsize - 1)];
			nt[f->hash & (nsize - 1)] = f;
			f = nx;
		}
	}
	free(r->tab);
	r->tab = nt;
	r->tab_size = nsize;
	return true;
}

static void unlink_flow(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	struct tcpreasm_flow **pp = &r->tab[f->hash & (r->tab_size - 1)];
	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	if (f->prev)
		f->prev->next = f->next;
	else
		r->first = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		r->last = f->prev;
	r->nflows--;
}

static void free_segs(struct tcpreasm *r, struct half *h)
{
	while (h->ooo) {
		struct seg *s = h->ooo;
		h->ooo = s->next;
		r->c.kept_bytes -= s->len;
		free(s);
	}
	h->ooo_bytes = 0;
}

/* ---- delivering bytes ---- */

static void remember(struct half *h, const uint8_t *p, size_t n)
{
	if (n >= TCPREASM_HISTORY) {
		memcpy(h->hist, p + n - TCPREASM_HISTORY, TCPREASM_HISTORY);
		h->hist_len = TCPREASM_HISTORY;
		return;
	}
	uint32_t keep = h->hist_len;
	if (keep + n > TCPREASM_HISTORY)
		keep = TCPREASM_HISTORY - (uint32_t)n;
	memmove(h->hist, h->hist + h->hist_len - keep, keep);
	memcpy(h->hist + keep, p, n);
	h->hist_len = keep + (uint32_t)n;
}

static void deliver(struct tcpreasm *r, struct tcpreasm_flow *f, int side, const uint8_t *p, uint32_t n,
		    int64_t ts)
{
	struct half *h = &f->h[side];
	if (n == 0)
		return;
	bool mid = !h->started && !h->aligned;
	h->started = true;
	if (!f->ignored)
		r->sink.data(r->sink.ctx, f->owner, side, p, n, ts, mid);
	remember(h, p, n);
	h->next += n;
}

static void gap(struct tcpreasm *r, struct tcpreasm_flow *f, int side, uint32_t n, int64_t ts)
{
	struct half *h = &f->h[side];
	if (n == 0)
		return;
	r->c.gaps++;
	r->c.gap_bytes += n;
	h->started = true;
	h->hist_len = 0;
	h->next += n;
	if (!f->ignored)
		r->sink.gap(r->sink.ctx, f->owner, side, n, ts);
}

/* Compare bytes that arrived again at `seq` with what was delivered. */
static void compare_old(struct tcpreasm *r, struct tcpreasm_flow *f, struct half *h, uint32_t seq,
			const uint8_t *p, uint32_t n)
{
	uint32_t back = h->next - seq; /* bytes from seq to next */
	if (n == 1 && back == 1)
		return; /* a keep-alive probe carries one byte of whatever */
	if (back > h->hist_len) {
		/* Older than the history: compare what overlaps it. */
		uint32_t skipb = back - h->hist_len;
		if (skipb >= n)
			return;
		p += skipb;
		n -= skipb;
		back = h->hist_len;
	}
	uint32_t m = n < back ? n : back;
	if (memcmp(h->hist + h->hist_len - back, p, m) != 0) {
		r->c.conflicts++;
		notice(r, f, "retransmitted bytes at stream offset %u differ from those seen first: kept the first",
		       seq - h->base);
	}
}

static void check_done(struct half *h)
{
	if (h->state == HALF_CLOSING && !after(h->fin_seq, h->next) && !h->ooo)
		half_set(h, HALF_DONE);
}

/* Deliver the kept segments that the stream has reached. */
static void drain(struct tcpreasm *r, struct tcpreasm_flow *f, int side)
{
	struct half *h = &f->h[side];
	while (h->ooo && !after(h->ooo->seq, h->next)) {
		struct seg *s = h->ooo;
		h->ooo = s->next;
		h->ooo_bytes -= s->len;
		r->c.kept_bytes -= s->len;
		uint32_t old = h->next - s->seq;
		if (old < s->len)
			deliver(r, f, side, s->data + old, s->len - old, s->ts_us);
		free(s);
	}
	check_done(h);
}

/* Declare holes up to `limit` as gaps, delivering kept segments between. */
static void flush_to(struct tcpreasm *r, struct tcpreasm_flow *f, int side, uint32_t limit, int64_t ts)
{
	struct half *h = &f->h[side];
	while (after(limit, h->next)) {
		drain(r, f, side);
		if (!after(limit, h->next))
			break;
		uint32_t end = limit;
		if (h->ooo && before(h->ooo->seq, limit))
			end = h->ooo->seq;
		gap(r, f, side, end - h->next, ts);
		drain(r, f, side);
	}
	check_done(h);
}

/* Flush every kept segment of a side, holes becoming gaps. */
static void flush_all(struct tcpreasm *r, struct tcpreasm_flow *f, int side, int64_t ts)
{
	struct half *h = &f->h[side];
	while (h->ooo) {
		drain(r, f, side);
		if (h->ooo)
			gap(r, f, side, h->ooo->seq - h->next, ts);
	}
	check_done(h);
}

static bool keep_seg(struct tcpreasm *r, struct half *h, struct seg **pp, uint32_t seq,
		     const uint8_t *p, uint32_t n, int64_t ts)
{
	struct seg *s = malloc(sizeof *s + n);
	if (!s)
		return false;
	s->seq = seq;
	s->len = n;
	s->ts_us = ts;
	memcpy(s->data, p, n);
	s->next = *pp;
	*pp = s;
	h->ooo_bytes += n;
	r->c.kept_bytes += n;
	if (r->c.kept_bytes > r->c.kept_peak)
		r->c.kept_peak = r->c.kept_bytes;
	return true;
}

/* Keep a segment that is ahead of `next`. Where it overlaps kept bytes, the
 * kept bytes win; differing bytes are a conflict. False when out of memory. */
static bool insert(struct tcpreasm *r, struct tcpreasm_flow *f, struct half *h, uint32_t seq,
		   const uint8_t *p, uint32_t n, int64_t ts)
{
	struct seg **pp = &h->ooo;
	bool conflict = false;
	while (n > 0) {
		struct seg *e = *pp;
		uint32_t end = seq + n;
		if (!e || !after(end, e->seq)) {
			if (!keep_seg(r, h, pp, seq, p, n, ts))
				return false;
			break;
		}
		uint32_t e_end = e->seq + e->len;
		if (!after(e_end, seq)) {
			pp = &e->next;
			continue;
		}
		if (before(seq, e->seq)) {
			uint32_t piece = e->seq - seq;
			if (!keep_seg(r, h, pp, seq, p, piece, ts))
				return false;
			pp = &(*pp)->next; /* now at e again */
			seq += piece;
			p += piece;
			n -= piece;
			continue;
		}
		/* seq is inside e: compare the overlap. */
		uint32_t off = seq - e->seq;
		uint32_t m = e->len - off < n ? e->len - off : n;
		if (memcmp(e->data + off, p, m) != 0)
			conflict = true;
		r->c.retransmitted++;
		seq += m;
		p += m;
		n -= m;
		pp = &e->next;
	}
	if (conflict) {
		r->c.conflicts++;
		notice(r, f, "overlapping segments near stream offset %u carry different bytes: kept the first",
		       seq - h->base);
	}
	return true;
}

/* Payload of side `side` at `seq`: n bytes on the wire, `cap` of them captured. */
static void data_in(struct tcpreasm *r, struct tcpreasm_flow *f, int side, uint32_t seq, const uint8_t *p,
		    uint32_t n, uint32_t cap, int64_t ts)
{
	struct half *h = &f->h[side];
	if (h->state == HALF_UNKNOWN) {
		half_set(h, HALF_OPEN);
		h->next = h->base = seq;
	}
	if (h->state == HALF_DONE)
		return;
	if (before(seq, h->next)) {
		uint32_t old = h->next - seq;
		compare_old(r, f, h, seq, p, cap < old ? cap : old);
		r->c.retransmitted++;
		if (old >= n)
			return;
		seq += old;
		p += old;
		n -= old;
		cap = cap > old ? cap - old : 0;
	}
	if (seq == h->next) {
		deliver(r, f, side, p, cap, ts);
		if (cap < n) /* cut by the snapshot length */
			gap(r, f, side, n - cap, ts);
		drain(r, f, side);
		return;
	}
	/* Ahead of the stream: keep it. */
	if (f->ignored || cap == 0)
		return;
	r->c.out_of_order++;
	if (h->ooo_bytes + cap > TCPREASM_FLOW_BYTES ||
	    r->c.kept_bytes + cap > TCPREASM_TOTAL_BYTES) {
		r->c.forced++;
		notice(r, f, "more than %u bytes waiting for a missing segment: declared missing",
		       h->ooo_bytes);
		flush_all(r, f, side, ts);
		if (after(seq, h->next))
			gap(r, f, side, seq - h->next, ts);
		data_in(r, f, side, seq, p, n, cap, ts);
		return;
	}
	if (!insert(r, f, h, seq, p, cap, ts)) {
		flush_all(r, f, side, ts);
		gap(r, f, side, seq - h->next, ts);
		data_in(r, f, side, seq, p, n, cap, ts);
	}
}

static void close_flow(struct tcpreasm *r, struct tcpreasm_flow *f, enum tcpreasm_end why, int64_t ts)
{
	for (int side = 0; side < 2; side++)
		flush_all(r, f, side, ts);
	unlink_flow(r, f);
	if (f->owner && r->sink.close)
		r->sink.close(r->sink.ctx, f->owner, why, ts);
	for (int side = 0; side < 2; side++)
		free_segs(r, &f->h[side]);
	free(f);
}

static struct tcpreasm_flow *open_flow(struct tcpreasm *r, const struct tcp_segment *s, uint32_t hash,
			      int *side)
{
	if (r->nflows >= r->tab_size && !grow_table(r))
		return NULL;
	struct tcpreasm_flow *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	/* Side 0 is the client: the SYN's sender, the SYN-ACK's receiver, or
	 * without either the first segment's sender. */
	bool synack = (s->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
	int me = synack ? 1 : 0;
	size_t n = addr_len(s->family);
	f->family = s->family;
	memcpy(f->addr[me], s->src, n);
	memcpy(f->addr[!me], s->dst, n);
	f->port[me] = s->sport;
	f->port[!me] = s->dport;
	f->hash = hash;
	f->last_us = s->ts_us;
	f->hnext = r->tab[hash & (r->tab_size - 1)];
	r->tab[hash & (r->tab_size - 1)] = f;
	f->prev = r->last;
	if (r->last)
		r->last->next = f;
	else
		r->first = f;
	r->last = f;
	r->nflows++;
	r->c.flows++;
	*side = me;

	struct tcpreasm_flow_info fi;
	memset(&fi, 0, sizeof fi);
	fi.family = f->family;
	memcpy(fi.addr, f->addr, sizeof fi.addr);
	fi.port[0] = f->port[0];
	fi.port[1] = f->port[1];
	fi.syn[0] = (s->flags & TCP_SYN) && !synack;
	fi.syn[1] = synack;
	fi.ts_us = s->ts_us;
	fi.flow = f;
	f->owner = r->sink.open ? r->sink.open(r->sink.ctx, &fi) : NULL;
	if (!f->owner) {
		f->ignored = true;
		r->c.ignored_flows++;
	}
	return f;
}

/* A flow whose bytes nobody wants: only watch for its end. */
static void ignored_segment(struct tcpreasm *r, struct tcpreasm_flow *f, int side,
			    const struct tcp_segment *s)
{
	if (s->flags & TCP_RST) {
		close_flow(r, f, TCPREASM_END_RST, s->ts_us);
		return;
	}
	if (s->flags & TCP_FIN)
		half_set(&f->h[side], HALF_DONE);
	if (f->h[0].state == HALF_DONE && f->h[1].state == HALF_DONE)
		close_flow(r, f, TCPREASM_END_FIN, s->ts_us);
}

void tcpreasm_segment(struct tcpreasm *r, const struct tcp_segment *s)
{
	r->c.segments++;
	if (s->captured < s->len)
		r->c.truncated++;
	uint32_t hash = hash_seg(s);
	int side = 0;
	struct tcpreasm_flow *f = lookup(r, s, hash, &side);
	bool syn = s->flags & TCP_SYN, ack = s->flags & TCP_ACK;
	if (f && syn && f->h[side].syn && f->h[side].isn != s->seq) {
		/* A new connection on the same address and ports. */
		close_flow(r, f, TCPREASM_END_REUSED, s->ts_us);
		f = NULL;
	} else if (f && syn && !ack && side == 0 && !f->h[0].syn &&
		   (f->h[0].started || f->h[1].started)) {
		/* A SYN after data of a flow whose start we did not see. */
		close_flow(r, f, TCPREASM_END_REUSED, s->ts_us);
		f = NULL;
	}
	if (!f) {
		if (s->flags & TCP_RST)
			return;
		if (!syn && s->len == 0)
			return; /* a bare ACK or FIN of a flow we do not know */
		f = open_flow(r, s, hash, &side);
		if (!f)
			return;
	}
	f->last_us = s->ts_us;
	if (f->ignored) {
		ignored_segment(r, f, side, s);
		return;
	}
	struct half *h = &f->h[side];
	struct half *o = &f->h[!side];
	uint32_t seq = s->seq;

	if (syn) {
		if (!h->syn) {
			h->syn = true;
			h->isn = seq;
			if (h->state == HALF_UNKNOWN) {
				half_set(h, HALF_OPEN);
				h->aligned = true;
				h->next = h->base = seq + 1;
			}
		}
		seq += 1; /* the SYN takes one sequence number */
		/* A SYN-ACK acknowledges the client's SYN: the client's bytes start there. */
		if (ack && o->state == HALF_UNKNOWN) {
			half_set(o, HALF_OPEN);
			o->aligned = true;
			o->next = o->base = s->ack;
		}
	}
	/* The other side's bytes up to this ACK were received: any hole there
	 * is bytes the capture missed. */
	if (ack && (o->state == HALF_OPEN || o->state == HALF_CLOSING)) {
		uint32_t limit = s->ack;
		if (o->state == HALF_CLOSING && after(limit, o->fin_seq))
			limit = o->fin_seq;
		/* An ACK far ahead is not about this stream's bytes (a bogus or
		 * reused flow): leave it. */
		if (after(limit, o->next) && (uint32_t)(limit - o->next) < (1u << 30))
			flush_to(r, f, !side, limit, s->ts_us);
	}
	if (s->len > 0)
		data_in(r, f, side, seq, s->payload, s->len, s->captured, s->ts_us);
	if (s->flags & TCP_FIN) {
		if (h->state == HALF_UNKNOWN) {
			h->next = h->base = seq + s->len;
			half_set(h, HALF_OPEN);
		}
		if (h->state == HALF_OPEN) {
			h->fin_seq = seq + s->len;
			half_set(h, HALF_CLOSING);
		}
		check_done(h);
	}
	if (s->flags & TCP_RST) {
		close_flow(r, f, TCPREASM_END_RST, s->ts_us);
		return;
	}
	if (f->h[0].state == HALF_DONE && f->h[1].state == HALF_DONE)
		close_flow(r, f, TCPREASM_END_FIN, s->ts_us);
}

struct tcpreasm *tcpreasm_new(const struct tcpreasm_sink *sink)
{
	struct tcpreasm *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->sink = *sink;
	if (!grow_table(r)) {
		free(r);
		return NULL;
	}
	return r;
}

void tcpreasm_ignore(struct tcpreasm *r, struct tcpreasm_flow *f)
{
	if (f->ignored)
		return;
	f->ignored = true;
	r->c.ignored_flows++;
	free_segs(r, &f->h[0]);
	free_segs(r, &f->h[1]);
}


void tcpreasm_expire(struct tcpreasm *r, int64_t now_us)
{
	struct tcpreasm_flow *f = r->first;
	while (f) {
		struct tcpreasm_flow *nx = f->next;
		if (now_us - f->last_us > TCPREASM_IDLE_US)
			close_flow(r, f, TCPREASM_END_IDLE, now_us);
		f = nx;
	}
}

void tcpreasm_finish(struct tcpreasm *r, int64_t ts_us)
{
	while (r->first)
		close_flow(r, r->first, TCPREASM_END_EOF, ts_us);
}

void tcpreasm_free(struct tcpreasm *r)
{
	if (!r)
		return;
	while (r->first) {
		struct tcpreasm_flow *f = r->first;
		unlink_flow(r, f);
		free_segs(r, &f->h[0]);
		free_segs(r, &f->h[1]);
		free(f);
	}
	free(r->tab);
	free(r);
}

void tcpreasm_get_counters(const struct tcpreasm *r, struct tcpreasm_counters *c)
{
	*c = r->c;
}
