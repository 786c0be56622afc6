/* test_tcpreasm: TCP reassembly (src/capture/tcpreasm): ordering,
 * retransmissions, conflicting overlaps, gaps, sequence wrap, flows without
 * a SYN, snapshot-length cuts, and the buffer bound. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "capture/tcpreasm.h"
#include "unit.h"

struct side_out {
	uint8_t data[1 << 16];
	size_t n;
	uint64_t gap_bytes;
	unsigned gaps;
	bool mid_first;
	unsigned events;
};

struct flowrec {
	struct side_out s[2];
	bool closed;
	enum tcpreasm_end why;
	uint16_t port0;
};

static struct flowrec flows[8];
static unsigned nflows;
static unsigned notices;

static void *on_open(void *ctx, const struct tcpreasm_flow_info *fi)
{
	(void)ctx;
	(void)fi;
	if (nflows >= sizeof flows / sizeof flows[0])
		return NULL;
	struct flowrec *f = &flows[nflows++];
	memset(f, 0, sizeof *f);
	f->port0 = fi->port[0];
	return f;
}

static void on_data(void *ctx, void *flow, int from, const uint8_t *p, size_t n, int64_t ts, bool mid)
{
	(void)ctx;
	(void)ts;
	struct flowrec *f = flow;
	struct side_out *s = &f->s[from];
	if (s->events++ == 0)
		s->mid_first = mid;
	if (n > sizeof s->data - 1 - s->n)
		n = sizeof s->data - 1 - s->n;
	memcpy(s->data + s->n, p, n);
	s->n += n;
}

static void on_gap(void *ctx, void *flow, int from, uint64_t n, int64_t ts)
{
	(void)ctx;
	(void)ts;
	struct flowrec *f = flow;
	f->s[from].gaps++;
	f->s[from].gap_bytes += n;
	f->s[from].events++;
	/* Mark the gap in the data so that tests see where it was. */
	if (f->s[from].n < sizeof f->s[from].data - 1)
		f->s[from].data[f->s[from].n++] = '#';
}

static void on_close(void *ctx, void *flow, enum tcpreasm_end why, int64_t ts)
{
	(void)ctx;
	(void)ts;
	struct flowrec *f = flow;
	f->closed = true;
	f->why = why;
}

static void on_notice(void *ctx, void *flow, const char *msg)
{
	(void)ctx;
	(void)flow;
	(void)msg;
	notices++;
}

static struct tcpreasm *fresh(void)
{
	nflows = 0;
	notices = 0;
	struct tcpreasm_sink sink = {.open = on_open, .data = on_data, .gap = on_gap, .close = on_close,
				     .notice = on_notice, .ctx = NULL};
	return tcpreasm_new(&sink);
}

/* Client 10.0.0.1:5000 <-> broker 10.0.0.2:9092. from_client picks the direction. */
static void seg(struct tcpreasm *r, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
		const char *payload)
{
	struct tcp_segment s;
	memset(&s, 0, sizeof s);
	s.family = 4;
	uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
	memcpy(s.src, from_client ? a : b, 4);
	memcpy(s.dst, from_client ? b : a, 4);
	s.sport = from_client ? 5000 : 9092;
	s.dport = from_client ? 9092 : 5000;
	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.payload = (const uint8_t *)payload;
	s.len = s.captured = payload ? (uint32_t)strlen(payload) : 0;
	s.ts_us = 1;
	tcpreasm_segment(r, &s);
}

static bool got(const struct side_out *s, const char *want)
{
	return s->n == strlen(want) && memcmp(s->data, want, s->n) == 0;
}

static void handshake(struct tcpreasm *r, uint32_t cisn, uint32_t sisn)
{
	seg(r, true, TCP_SYN, cisn, 0, NULL);
	seg(r, false, TCP_SYN | TCP_ACK, sisn, cisn + 1, NULL);
	seg(r, true, TCP_ACK, cisn + 1, sisn + 1, NULL);
}

static void test_in_order_and_fin(void)
{
	struct tcpreasm *r = fresh();
	handshake(r, 1000, 5000);
	seg(r, true, TCP_ACK | TCP_PSH, 1001, 5001, "hello ");
	seg(r, true, TCP_ACK | TCP_PSH, 1007, 5001, "world");
	seg(r, false, TCP_ACK | TCP_PSH, 5001, 1012, "reply");
	seg(r, true, TCP_ACK | TCP_FIN, 1012, 5006, NULL);
	CHECK(!flows[0].closed);
	seg(r, false, TCP_ACK | TCP_FIN, 5006, 1013, NULL);
	CHECK_EQ_INT(nflows, 1);
	CHECK(flows[0].closed);
	CHECK_EQ_INT(flows[0].why, TCPREASM_END_FIN);
	CHECK(got(&flows[0].s[0], "hello world"));
	CHECK(got(&flows[0].s[1], "reply"));
	CHECK(!flows[0].s[0].mid_first);
	CHECK(!flows[0].s[1].mid_first);
	CHECK_EQ_INT(flows[0].port0, 5000);
	tcpreasm_free(r);
}

static void test_out_of_order(void)
{
	struct tcpreasm *r = fresh();
	handshake(r, 1000, 5000);
	seg(r, true, TCP_ACK, 1011, 5001, "CCCCC");
	seg(r, true, TCP_ACK, 1001, 5001, "AAAAA");
	CHECK(got(&flows[0].s[0], "AAAAA"));
	seg(r, true, TCP_ACK, 1006, 5001, "BBBBB");
	CHECK(got(&flows[0].s[0], "AAAAABBBBBCCCCC"));
	struct tcpreasm_counters c;
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.out_of_order, 1);
	CHECK_EQ_INT(c.kept_bytes, 0);
	CHECK_EQ_INT(c.gaps, 0);
	tcpreasm_finish(r, 2);
	CHECK(flows[0].closed);
	CHECK_EQ_INT(flows[0].why, TCPREASM_END_EOF);
	tcpreasm_free(r);
}

static void test_retransmission_and_conflicts(void)
{
	struct tcpreasm *r = fresh();
	handshake(r, 1000, 5000);
	seg(r, true, TCP_ACK, 1001, 5001, "abcdef");
	seg(r, true, TCP_ACK, 1001, 5001, "abcdef");    /* the same again */
	seg(r, true, TCP_ACK, 1004, 5001, "defghi");    /* overlaps: new part "ghi" */
	struct tcpreasm_counters c;
	tcpreasm_get_counters(r, &c);
	CHECK(got(&flows[0].s[0], "abcdefghi"));
	CHECK_EQ_INT(c.conflicts, 0);
	CHECK(c.retransmitted >= 2);
	/* Bytes already delivered come again, different: reported, first kept. */
	seg(r, true, TCP_ACK, 1002, 5001, "XYZ");
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.conflicts, 1);
	CHECK(got(&flows[0].s[0], "abcdefghi"));
	CHECK_EQ_INT(notices, 1);
	/* Two kept segments that overlap with different bytes. */
	seg(r, true, TCP_ACK, 1015, 5001, "11111");      /* 1015..1019 */
	seg(r, true, TCP_ACK, 1013, 5001, "22222222");   /* 1013..1020: overlaps 1015..1019 */
	seg(r, true, TCP_ACK, 1010, 5001, "jkl");        /* fills 1010..1012 */
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.conflicts, 2);
	CHECK(got(&flows[0].s[0], "abcdefghijkl22111112"));
	CHECK_EQ_INT(c.kept_bytes, 0);
	/* A keep-alive probe: one byte before the next expected. */
	seg(r, true, TCP_ACK, 1020, 5001, "?");
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.conflicts, 2);
	tcpreasm_free(r);
}

static void test_gaps(void)
{
	struct tcpreasm *r = fresh();
	handshake(r, 1000, 5000);
	seg(r, true, TCP_ACK, 1001, 5001, "one");
	/* 1004..1008 ("two..") never captured. */
	seg(r, true, TCP_ACK, 1009, 5001, "three");
	CHECK(got(&flows[0].s[0], "one"));
	/* The broker acknowledges past it: those bytes were sent, the capture missed them. */
	seg(r, false, TCP_ACK, 5001, 1014, "ok");
	CHECK(got(&flows[0].s[0], "one#three"));
	CHECK_EQ_INT(flows[0].s[0].gap_bytes, 5);
	/* A hole at the end of the capture with bytes after it. */
	seg(r, false, TCP_ACK, 5010, 1014, "late");
	CHECK(got(&flows[0].s[1], "ok"));
	tcpreasm_finish(r, 3);
	CHECK(got(&flows[0].s[1], "ok#late"));
	CHECK_EQ_INT(flows[0].s[1].gap_bytes, 7);
	struct tcpreasm_counters c;
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.gaps, 2);
	CHECK_EQ_INT(c.gap_bytes, 12);
	tcpreasm_free(r);
}

static void test_wraparound(void)
{
	struct tcpreasm *r = fresh();
	uint32_t isn = 0xfffffff8u;
	handshake(r, isn, 7);
	/* isn+1 = 0xfffffff9: 10 bytes cross zero. Deliver the second half first. */
	seg(r, true, TCP_ACK, 0xfffffff9u + 5, 8, "FGHIJ");
	seg(r, true, TCP_ACK, 0xfffffff9u, 8, "ABCDE");
	seg(r, true, TCP_ACK, 0xfffffff9u + 10, 8, "KL");
	seg(r, true, TCP_ACK, 0xfffffff9u + 3, 8, "DEFG"); /* old: a retransmission across zero */
	CHECK(got(&flows[0].s[0], "ABCDEFGHIJKL"));
	struct tcpreasm_counters c;
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.conflicts, 0);
	CHECK_EQ_INT(c.gaps, 0);
	tcpreasm_free(r);
}

static void test_no_syn(void)
{
	struct tcpreasm *r = fresh();
	/* The capture starts mid-connection, with the broker speaking first. */
	seg(r, false, TCP_ACK, 90000, 3000, "tail-of-response");
	seg(r, true, TCP_ACK, 3000, 90016, "request");
	seg(r, false, TCP_ACK, 90016, 3007, "response");
	CHECK_EQ_INT(nflows, 1);
	/* Side 0 is the first sender. */
	CHECK_EQ_INT(flows[0].port0, 9092);
	CHECK(got(&flows[0].s[0], "tail-of-responseresponse"));
	CHECK(got(&flows[0].s[1], "request"));
	CHECK(flows[0].s[0].mid_first);
	CHECK(flows[0].s[1].mid_first);
	/* A bare ACK of an unknown flow opens nothing. */
	struct tcp_segment s;
	memset(&s, 0, sizeof s);
	s.family = 4;
	s.src[0] = 1;
	s.dst[0] = 2;
	s.sport = 1;
	s.dport = 2;
	s.flags = TCP_ACK;
	tcpreasm_segment(r, &s);
	CHECK_EQ_INT(nflows, 1);
	/* RST ends the flow. */
	seg(r, true, TCP_RST, 3007, 0, NULL);
	CHECK(flows[0].closed);
	CHECK_EQ_INT(flows[0].why, TCPREASM_END_RST);
	tcpreasm_free(r);
}

static void test_snaplen_and_reuse(void)
{
	struct tcpreasm *r = fresh();
	handshake(r, 1000, 5000);
	struct tcp_segment s;
	memset(&s, 0, sizeof s);
	s.family = 4;
	s.src[0] = 10;
	s.src[3] = 1;
	s.dst[0] = 10;
	s.dst[3] = 2;
	s.sport = 5000;
	s.dport = 9092;
	s.seq = 1001;
	s.ack = 5001;
	s.flags = TCP_ACK;
	s.payload = (const uint8_t *)"0123456789";
	s.len = 10;
	s.captured = 4; /* the snapshot length cut it */
	tcpreasm_segment(r, &s);
	seg(r, true, TCP_ACK, 1011, 5001, "next");
	CHECK(got(&flows[0].s[0], "0123#next"));
	CHECK_EQ_INT(flows[0].s[0].gap_bytes, 6);
	/* A new SYN on the same ports: the old flow ends, a new one starts. */
	seg(r, true, TCP_SYN, 777, 0, NULL);
	CHECK(flows[0].closed);
	CHECK_EQ_INT(flows[0].why, TCPREASM_END_REUSED);
	CHECK_EQ_INT(nflows, 2);
	seg(r, true, TCP_ACK, 778, 1, "fresh");
	CHECK(got(&flows[1].s[0], "fresh"));
	CHECK(!flows[1].s[0].mid_first);
	/* A retransmitted SYN is not a new flow. */
	seg(r, true, TCP_SYN, 777, 0, NULL);
	CHECK_EQ_INT(nflows, 2);
	tcpreasm_free(r);
}

static void test_bounded(void)
{
	struct tcpreasm *r = fresh();
	handshake(r, 1000, 5000);
	static char chunk[60001];
	memset(chunk, 'x', sizeof chunk - 1);
	/* A hole at 1001, then far more than the per-direction bound after it. */
	uint32_t seq = 1101;
	unsigned n = (TCPREASM_FLOW_BYTES / 60000) + 5;
	for (unsigned i = 0; i < n; i++, seq += 60000)
		seg(r, true, TCP_ACK, seq, 5001, chunk);
	struct tcpreasm_counters c;
	tcpreasm_get_counters(r, &c);
	CHECK(c.forced >= 1);
	CHECK(c.kept_peak <= TCPREASM_FLOW_BYTES);
	CHECK_EQ_INT(flows[0].s[0].gaps, 1);
	CHECK_EQ_INT(flows[0].s[0].gap_bytes, 100);
	tcpreasm_finish(r, 9);
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.kept_bytes, 0);
	tcpreasm_free(r);
}

/* Random segments never crash and leave nothing kept after finish. */
static void test_noise(void)
{
	uint32_t rnd = 99;
	static char pay[2000];
	memset(pay, 'z', sizeof pay - 1);
	struct tcpreasm *r = fresh();
	for (int i = 0; i < 20000; i++) {
		rnd = rnd * 1103515245u + 12345u;
		bool cl = rnd & 1;
		uint8_t flags = (uint8_t)((rnd >> 3) & 0x1f) | TCP_ACK;
		if (nflows >= 7)
			flags &= (uint8_t)~TCP_SYN;
		uint32_t seq = 1000 + ((rnd >> 8) % 20000);
		uint32_t ack = 1000 + ((rnd >> 12) % 20000);
		size_t len = (rnd >> 16) % 1500;
		pay[len] = 0;
		seg(r, cl, flags, seq, ack, pay);
		pay[len] = 'z';
	}
	tcpreasm_finish(r, 5);
	struct tcpreasm_counters c;
	tcpreasm_get_counters(r, &c);
	CHECK_EQ_INT(c.kept_bytes, 0);
	tcpreasm_free(r);
}

int main(void)
{
	test_in_order_and_fin();
	test_out_of_order();
	test_retransmission_and_conflicts();
	test_gaps();
	test_wraparound();
	test_no_syn();
	test_snaplen_and_reuse();
	test_bounded();
	test_noise();
	return unit_done("test_tcpreasm");
}
