/* test_ipfrag: IP fragment reassembly (src/capture/ipfrag): IPv4 and IPv6
 * datagrams in and out of order, duplicates, conflicting overlaps (first
 * kept), refused fragments, the per-datagram fragment cap, the time-out,
 * the memory budget with eviction, datagrams left at the end, and pcapin
 * describing fragments (pcapin_parse_frag). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "capture/ipfrag.h"
#include "capture/pcapin.h"
#include "unit.h"

static unsigned notices;
static char last_notice[512];

static void on_notice(void *ctx, const char *msg)
{
	(void)ctx;
	notices++;
	snprintf(last_notice, sizeof last_notice, "%s", msg);
}

static uint16_t csum(const uint8_t *h, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)h[i] << 8 | h[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* An IPv4 datagram: 20-byte header, `n` bytes of payload. */
static size_t make_v4(uint8_t *out, size_t n, uint16_t id, uint8_t fill)
{
	memset(out, 0, 20);
	out[0] = 0x45;
	out[2] = (uint8_t)((20 + n) >> 8);
	out[3] = (uint8_t)(20 + n);
	out[4] = (uint8_t)(id >> 8);
	out[5] = (uint8_t)id;
	out[8] = 64;
	out[9] = 6;
	memcpy(out + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	uint16_t s = csum(out, 20);
	out[10] = (uint8_t)(s >> 8);
	out[11] = (uint8_t)s;
	for (size_t i = 0; i < n; i++)
		out[20 + i] = (uint8_t)(fill + i * 7);
	return 20 + n;
}

/* The piece of a v4 datagram covering payload [off, off+len). */
static struct ipfrag_piece v4_piece(const uint8_t *dg, uint32_t off, uint32_t len, bool more)
{
	struct ipfrag_piece p;
	memset(&p, 0, sizeof p);
	p.family = 4;
	p.proto = dg[9];
	memcpy(p.src, dg + 12, 4);
	memcpy(p.dst, dg + 16, 4);
	p.id = (uint32_t)dg[4] << 8 | dg[5];
	p.offset = off;
	p.more = more;
	p.hdr = dg; /* the fields pcapin would see differ, but ipfrag rewrites them */
	p.hdr_len = 20;
	p.data = dg + 20 + off;
	p.len = len;
	p.captured = len;
	return p;
}

static struct ipfrag *fresh(uint32_t max_frags, size_t budget, int64_t timeout)
{
	struct ipfrag_config cfg = {.max_frags = max_frags, .budget = budget, .timeout_us = timeout};
	notices = 0;
	last_notice[0] = '\0';
	return ipfrag_new(&cfg, on_notice, NULL);
}

static void test_v4_orders(void)
{
	static const uint32_t orders[][3] = {{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}};
	uint8_t dg[20 + 100];
	size_t n = make_v4(dg, 100, 77, 3);
	for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
		struct ipfrag *f = fresh(0, 0, 0);
		struct ipfrag_piece ps[3] = {v4_piece(dg, 0, 40, true), v4_piece(dg, 40, 40, true),
					     v4_piece(dg, 80, 20, false)};
		const uint8_t *out = NULL;
		size_t olen = 0;
		CHECK_EQ_INT(ipfrag_add(f, &ps[orders[o][0]], 1, &out, &olen), IPFRAG_HELD);
		CHECK_EQ_INT(ipfrag_add(f, &ps[orders[o][1]], 2, &out, &olen), IPFRAG_HELD);
		CHECK(ipfrag_held_bytes(f) > 0);
		CHECK_EQ_INT(ipfrag_add(f, &ps[orders[o][2]], 3, &out, &olen), IPFRAG_DONE);
		CHECK_EQ_INT(olen, n);
		CHECK(out && memcmp(out, dg, n) == 0);
		CHECK_EQ_INT(ipfrag_held_bytes(f), 0);
		struct ipfrag_counters c;
		ipfrag_get_counters(f, &c);
		CHECK_EQ_INT(c.fragments, 3);
		CHECK_EQ_INT(c.reassembled, 1);
		CHECK_EQ_INT(c.incomplete + c.refused + c.conflicts + c.duplicates, 0);
		ipfrag_finish(f);
		CHECK_EQ_INT(notices, 0);
		ipfrag_free(f);
	}
}

static void test_v4_overlaps(void)
{
	uint8_t dg[20 + 64], other[20 + 64];
	size_t n = make_v4(dg, 64, 5, 1);
	make_v4(other, 64, 5, 99); /* same key, other bytes */
	struct ipfrag *f = fresh(0, 0, 0);
	const uint8_t *out;
	size_t olen;
	struct ipfrag_piece a = v4_piece(dg, 0, 32, true), dup = v4_piece(dg, 0, 32, true),
			    bad = v4_piece(other, 16, 32, true), last = v4_piece(dg, 48, 16, false);
	CHECK_EQ_INT(ipfrag_add(f, &a, 1, &out, &olen), IPFRAG_HELD);
	CHECK_EQ_INT(ipfrag_add(f, &dup, 2, &out, &olen), IPFRAG_HELD);
	/* Bytes 16..31 conflict (kept from `a`), 32..47 are new (from `other`). */
	CHECK_EQ_INT(ipfrag_add(f, &bad, 3, &out, &olen), IPFRAG_HELD);
	CHECK_EQ_INT(notices, 1);
	CHECK(strstr(last_notice, "other bytes") != NULL);
	CHECK(strstr(last_notice, "IPv4 datagram 10.0.0.1 > 10.0.0.2 id 5") != NULL);
	/* A second last fragment that ends elsewhere is ignored. */
	struct ipfrag_piece wrong_end = v4_piece(dg, 48, 8, false);
	CHECK_EQ_INT(ipfrag_add(f, &last, 4, &out, &olen), IPFRAG_DONE);
	CHECK_EQ_INT(olen, n);
	CHECK(memcmp(out, dg, 20 + 32) == 0);            /* the first copy won */
	CHECK(memcmp(out + 52, other + 52, 16) == 0);    /* new bytes taken from the overlap */
	CHECK(memcmp(out + 68, dg + 68, 16) == 0);
	struct ipfrag_counters c;
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.duplicates, 1);
	CHECK_EQ_INT(c.conflicts, 1);
	CHECK_EQ_INT(c.reassembled, 1);
	/* Disagreeing ends on a datagram still open. */
	CHECK_EQ_INT(ipfrag_add(f, &last, 5, &out, &olen), IPFRAG_HELD);
	CHECK_EQ_INT(ipfrag_add(f, &wrong_end, 6, &out, &olen), IPFRAG_HELD);
	uint8_t big[20 + 96];
	make_v4(big, 96, 5, 1);
	struct ipfrag_piece past = v4_piece(big, 64, 16, true); /* past the known end */
	CHECK_EQ_INT(ipfrag_add(f, &past, 7, &out, &olen), IPFRAG_HELD);
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.conflicts, 3);
	ipfrag_finish(f);
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.incomplete, 1);
	CHECK_EQ_INT(c.lost, 3);
	CHECK(strstr(last_notice, "incomplete (16 of 64 bytes in 3 fragments, no first fragment), dropped at "
				  "the end of the capture") != NULL);
	ipfrag_free(f);
}

static void test_refused(void)
{
	uint8_t dg[20 + 64];
	make_v4(dg, 64, 9, 0);
	struct ipfrag *f = fresh(0, 0, 0);
	const uint8_t *out;
	size_t olen;
	struct ipfrag_piece p = v4_piece(dg, 0, 30, true); /* not a multiple of 8 */
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_REFUSED);
	p = v4_piece(dg, 0, 32, true);
	p.captured = 20; /* cut by the snapshot length */
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_REFUSED);
	p = v4_piece(dg, 0, 0, true);
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_REFUSED);
	p = v4_piece(dg, 0, 16, false);
	p.offset = 65512; /* 65512 + 16 > 65535 - 20 */
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_REFUSED);
	p.offset = 65496; /* ends at 65512: fits */
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_HELD);
	p = v4_piece(dg, 0, 16, true);
	p.hdr_len = 64; /* an IPv4 header is at most 60 */
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_REFUSED);
	struct ipfrag_counters c;
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.refused, 5);
	CHECK_EQ_INT(c.fragments, 6);
	ipfrag_free(f);
}

static void test_max_frags(void)
{
	uint8_t dg[20 + 64];
	make_v4(dg, 64, 11, 0);
	struct ipfrag *f = fresh(4, 0, 0);
	const uint8_t *out;
	size_t olen;
	for (uint32_t i = 0; i < 4; i++) {
		struct ipfrag_piece p = v4_piece(dg, i * 8, 8, true);
		CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_HELD);
	}
	struct ipfrag_piece p = v4_piece(dg, 32, 32, false);
	CHECK_EQ_INT(ipfrag_add(f, &p, 1, &out, &olen), IPFRAG_REFUSED);
	struct ipfrag_counters c;
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.refused, 1);
	ipfrag_finish(f);
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.lost, 4);
	ipfrag_free(f);
}

static void test_timeout(void)
{
	uint8_t dg[20 + 64];
	make_v4(dg, 64, 12, 0);
	struct ipfrag *f = fresh(0, 0, 1000000);
	const uint8_t *out;
	size_t olen;
	struct ipfrag_piece a = v4_piece(dg, 0, 32, true), b = v4_piece(dg, 32, 32, false);
	CHECK_EQ_INT(ipfrag_add(f, &a, 0, &out, &olen), IPFRAG_HELD);
	/* 1.5 s later: the first fragment timed out, b starts a new datagram. */
	CHECK_EQ_INT(ipfrag_add(f, &b, 1500000, &out, &olen), IPFRAG_HELD);
	struct ipfrag_counters c;
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.timed_out, 1);
	CHECK_EQ_INT(c.incomplete, 1);
	CHECK(strstr(last_notice, "after the reassembly time-out") != NULL);
	/* Within the time-out it completes. */
	CHECK_EQ_INT(ipfrag_add(f, &a, 2000000, &out, &olen), IPFRAG_DONE);
	ipfrag_expire(f, 100000000);
	ipfrag_get_counters(f, &c);
	CHECK_EQ_INT(c.reassembled, 1);
	CHECK_EQ_INT(c.incomplete, 1);
	ipfrag_free(f);
}

static void test_budget(void)
{
	/* Big first fragments of many datagrams: the budget evicts the oldest. */
	static uint8_t dg[20 + 60000];
	make_v4(dg, 60000, 0, 0);
	struct ipfrag *f = fresh(0, IPFRAG_MIN_BUDGET, 0);
	const uint8_t *out;
	size_t olen;
	for (uint16_t id = 0; id < 20; id++) {
		dg[4] = (uint8_t)(id >> 8);
		dg[5] = (uint8_t)id;
		struct ipfrag_piece p = v4_piece(dg, 0, 59000, true);
		CHECK_EQ_INT(ipfrag_add(f, &p, id, &out, &olen), IPFRAG_HELD);
		CHECK(ipfrag_held_bytes(f) <= IPFRAG_MIN_BUDGET);
	}
	struct ipfrag_counters c;
	ipfrag_get_counters(f, &c);
	CHECK(c.evicted >= 15);
	CHECK_EQ_INT(c.evicted, c.incomplete);
	CHECK(strstr(last_notice, "memory budget") != NULL);
	/* The newest one is still there and completes. */
	struct ipfrag_piece p = v4_piece(dg, 59000, 1000, false);
	CHECK_EQ_INT(ipfrag_add(f, &p, 30, &out, &olen), IPFRAG_DONE);
	CHECK_EQ_INT(olen, 60020);
	ipfrag_free(f);
}

/* IPv6 with a hop-by-hop header before the fragment header. */
static void test_v6(void)
{
	uint8_t dg[40 + 8 + 200];
	memset(dg, 0, sizeof dg);
	dg[0] = 0x60;
	dg[4] = 0;
	dg[5] = 8 + 200;
	dg[6] = 0; /* hop-by-hop */
	dg[7] = 64;
	dg[23] = 1;
	dg[39] = 1;
	dg[40] = 6; /* then TCP */
	dg[42] = 1; /* PadN */
	dg[43] = 4;
	for (int i = 0; i < 200; i++)
		dg[48 + i] = (uint8_t)(i * 13);
	/* What the fragments carry as their header: hop-by-hop naming 44. */
	uint8_t h[48];
	memcpy(h, dg, 48);
	h[40] = 44;
	struct ipfrag *f = fresh(0, 0, 0);
	const uint8_t *out;
	size_t olen;
	enum ipfrag_result r = IPFRAG_HELD;
	for (int k = 2; k >= 0; k--) {
		struct ipfrag_piece p;
		memset(&p, 0, sizeof p);
		p.family = 6;
		p.proto = 6;
		memcpy(p.src, dg + 8, 16);
		memcpy(p.dst, dg + 24, 16);
		p.id = 0xdeadbeef;
		p.offset = (uint32_t)k * 80;
		p.len = k == 2 ? 40 : 80;
		p.captured = p.len;
		p.more = k != 2;
		p.hdr = h;
		p.hdr_len = 48;
		p.nh_at = 40;
		p.data = dg + 48 + p.offset;
		r = ipfrag_add(f, &p, 1, &out, &olen);
		CHECK_EQ_INT(r, k == 0 ? IPFRAG_DONE : IPFRAG_HELD);
	}
	CHECK_EQ_INT(olen, sizeof dg);
	CHECK(r == IPFRAG_DONE && memcmp(out, dg, sizeof dg) == 0);
	ipfrag_free(f);
}

/* pcapin describes fragments for ipfrag. */
static void test_pcapin_pieces(void)
{
	uint8_t frame[14 + 20 + 48];
	memset(frame, 0, 14);
	frame[12] = 0x08;
	uint8_t *ip = frame + 14;
	make_v4(ip, 48, 321, 0);
	ip[6] = 0x20 | 0x00; /* MF, offset 5 units (40 bytes) */
	ip[7] = 5;
	struct tcp_segment seg;
	enum pcapin_skip why;
	struct ipfrag_piece p;
	CHECK(!pcapin_parse_frag(1, frame, sizeof frame, sizeof frame, 1, &seg, &why, &p));
	CHECK_EQ_INT(why, PCAPIN_SKIP_FRAGMENT);
	CHECK_EQ_INT(p.family, 4);
	CHECK_EQ_INT(p.id, 321);
	CHECK_EQ_INT(p.offset, 40);
	CHECK(p.more);
	CHECK_EQ_INT(p.len, 48);
	CHECK_EQ_INT(p.captured, 48);
	CHECK_EQ_INT(p.hdr_len, 20);
	CHECK(p.hdr == ip && p.data == ip + 20);
	/* Cut by the snapshot length. */
	CHECK(!pcapin_parse_frag(1, frame, sizeof frame - 10, sizeof frame, 1, &seg, &why, &p));
	CHECK_EQ_INT(p.captured, 38);
	/* Not TCP: not described. */
	ip[9] = 17;
	CHECK(!pcapin_parse_frag(1, frame, sizeof frame, sizeof frame, 1, &seg, &why, &p));
	CHECK_EQ_INT(why, PCAPIN_SKIP_NOT_TCP);

	/* IPv6 (raw) with a destination options header, then a fragment header. */
	uint8_t v6[40 + 8 + 8 + 16];
	memset(v6, 0, sizeof v6);
	v6[0] = 0x60;
	v6[5] = 8 + 8 + 16;
	v6[6] = 60;
	v6[40] = 44;
	v6[48] = 6;     /* fragment header: next header TCP */
	v6[50] = 0x00;  /* offset 2 units (16 bytes), no more */
	v6[51] = 0x10;
	v6[52] = 0x01;  /* id 0x01020304 */
	v6[53] = 0x02;
	v6[54] = 0x03;
	v6[55] = 0x04;
	CHECK(!pcapin_parse_frag(229, v6, sizeof v6, sizeof v6, 1, &seg, &why, &p));
	CHECK_EQ_INT(why, PCAPIN_SKIP_FRAGMENT);
	CHECK_EQ_INT(p.family, 6);
	CHECK_EQ_INT(p.proto, 6);
	CHECK_EQ_INT(p.id, 0x01020304);
	CHECK_EQ_INT(p.offset, 16);
	CHECK(!p.more);
	CHECK_EQ_INT(p.hdr_len, 48);
	CHECK_EQ_INT(p.nh_at, 40);
	CHECK_EQ_INT(p.len, 16);
	CHECK(p.data == v6 + 56);
	/* The plain call still just says "fragment". */
	CHECK(!pcapin_parse(229, v6, sizeof v6, sizeof v6, 1, &seg, &why));
	CHECK_EQ_INT(why, PCAPIN_SKIP_FRAGMENT);
}

int main(void)
{
	test_v4_orders();
	test_v4_overlaps();
	test_refused();
	test_max_frags();
	test_timeout();
	test_budget();
	test_v6();
	test_pcapin_pieces();
	return unit_done("test_ipfrag");
}
