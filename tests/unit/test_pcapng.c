/* test_pcapng: the pcapng block reader (src/capture/pcapng): two sections in
 * both byte orders, interfaces of different link types and time
 * resolutions (decimal, binary, if_tsoffset), Enhanced / Simple / obsolete
 * Packet blocks, unknown blocks skipped, and every damaged length refused
 * with a message rather than read past. Every damaged file is read twice,
 * through stdio (a memory stream) and mapped (a real file), and both must
 * end the same way; a mapped file that shrinks under the reader ends it
 * with an error, not SIGBUS. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/pcapng.h"
#include "unit.h"

struct out {
	uint8_t b[4096];
	size_t n;
	bool be;
};

static void put(struct out *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void u16(struct out *o, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	if (o->be) {
		b[0] = (uint8_t)(v >> 8);
		b[1] = (uint8_t)v;
	}
	put(o, b, 2);
}

static void u32(struct out *o, uint32_t v)
{
	if (o->be) {
		u16(o, (uint16_t)(v >> 16));
		u16(o, (uint16_t)v);
	} else {
		u16(o, (uint16_t)v);
		u16(o, (uint16_t)(v >> 16));
	}
}

/* A block: type, body (padded to 4), lengths around. */
static void block(struct out *o, uint32_t type, const struct out *body)
{
	size_t pad = (4 - body->n % 4) % 4;
	uint32_t total = (uint32_t)(12 + body->n + pad);
	u32(o, type);
	u32(o, total);
	put(o, body->b, body->n);
	static const uint8_t zero[4];
	put(o, zero, pad);
	u32(o, total);
}

static void shb(struct out *o)
{
	struct out b = {.be = o->be};
	u32(&b, 0x1A2B3C4D);
	u16(&b, 1);
	u16(&b, 0);
	u32(&b, 0xffffffff);
	u32(&b, 0xffffffff);
	block(o, 0x0A0D0D0A, &b);
}

/* tsresol < 0: none. */
static void idb(struct out *o, uint16_t lt, int tsresol, bool offset100)
{
	struct out b = {.be = o->be};
	u16(&b, lt);
	u16(&b, 0);
	u32(&b, 262144);
	if (tsresol >= 0) {
		u16(&b, 9);
		u16(&b, 1);
		uint8_t v[4] = {(uint8_t)tsresol, 0, 0, 0};
		put(&b, v, 4);
	}
	if (offset100) {
		u16(&b, 14);
		u16(&b, 8);
		if (o->be) {
			u32(&b, 0);
			u32(&b, 100);
		} else {
			u32(&b, 100);
			u32(&b, 0);
		}
	}
	u16(&b, 0);
	u16(&b, 0);
	block(o, 1, &b);
}

static void epb(struct out *o, uint32_t iface, uint64_t ts, const char *data, uint32_t orig)
{
	struct out b = {.be = o->be};
	u32(&b, iface);
	u32(&b, (uint32_t)(ts >> 32));
	u32(&b, (uint32_t)ts);
	u32(&b, (uint32_t)strlen(data));
	u32(&b, orig);
	put(&b, data, strlen(data));
	block(o, 6, &b);
}

static FILE *open_mem(struct out *o)
{
	return fmemopen(o->b, o->n, "rb");
}

static void test_good(void)
{
	struct out o = {.be = false};
	shb(&o);
	idb(&o, 1, 9, false);    /* Ethernet, nanoseconds */
	idb(&o, 101, -1, false); /* raw IP, microseconds */
	epb(&o, 0, 1700000000123456789ull, "eth-packet", 10);
	struct out unk = {.be = false};
	u32(&unk, 42);
	block(&o, 0x0BAD, &unk); /* unknown: skipped */
	epb(&o, 1, 1700000001000001ull, "raw", 60);
	struct out spb = {.be = false};
	u32(&spb, 5);
	put(&spb, "simple", 6); /* 6 bytes in the block, 5 on the wire */
	block(&o, 3, &spb);
	struct out pb = {.be = false};
	u16(&pb, 1);
	u16(&pb, 0);
	u32(&pb, 0);
	u32(&pb, 7000000);
	u32(&pb, 3);
	u32(&pb, 3);
	put(&pb, "old", 3);
	block(&o, 2, &pb);
	/* A second section, big-endian: interfaces numbered anew. */
	o.be = true;
	shb(&o);
	idb(&o, 113, 0x80 | 10, true); /* Linux SLL, 2^-10 s, +100 s */
	epb(&o, 0, (5ull << 10) | 512, "sll", 3);

	FILE *fp = open_mem(&o);
	char err[256];
	bool notng = true;
	struct pcapng *r = pcapng_open(fp, err, sizeof err, &notng);
	CHECK(r != NULL);
	CHECK(!notng);
	if (!r) {
		fclose(fp);
		return;
	}
	CHECK_EQ_INT(pcapng_first_linktype(r), 1);
	struct pcapng_packet p;
	CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
	CHECK_EQ_INT(p.linktype, 1);
	CHECK_EQ_INT(p.ts_us, 1700000000123456ll);
	CHECK_EQ_INT(p.caplen, 10);
	CHECK(memcmp(p.data, "eth-packet", 10) == 0);
	CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
	CHECK_EQ_INT(p.linktype, 101);
	CHECK_EQ_INT(p.iface, 1);
	CHECK_EQ_INT(p.ts_us, 1700000001000001ll);
	CHECK_EQ_INT(p.len, 60);
	CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
	CHECK_EQ_INT(p.linktype, 1); /* SPB: interface 0 */
	CHECK_EQ_INT(p.caplen, 5);
	CHECK_EQ_INT(p.len, 5);
	CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
	CHECK_EQ_INT(p.linktype, 101); /* PB on interface 1 */
	CHECK_EQ_INT(p.ts_us, 7000000);
	CHECK(memcmp(p.data, "old", 3) == 0);
	CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
	CHECK_EQ_INT(p.linktype, 113);
	CHECK_EQ_INT(p.ts_us, 105500000); /* 5.5 s + 100 s */
	CHECK(memcmp(p.data, "sll", 3) == 0);
	CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_END);
	CHECK_EQ_INT(pcapng_offset(r), o.n);
	pcapng_close(r);
	fclose(fp);
}

/* A real file holding o's bytes (it is mapped when read), or NULL. */
static FILE *open_file(const void *b, size_t n)
{
	char path[] = "/tmp/test_pcapng.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	unlink(path);
	FILE *fp = fdopen(fd, "w+b");
	if (!fp) {
		close(fd);
		return NULL;
	}
	if ((n && fwrite(b, 1, n, fp) != n) || fflush(fp) != 0 || fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		return NULL;
	}
	return fp;
}

/* Read fp to the end; the status that ended it. */
static enum pcapng_status read_fp(FILE *fp, char *err, size_t errlen, bool *truncated, uint64_t *packets)
{
	bool notng;
	*packets = 0;
	struct pcapng *r = pcapng_open(fp, err, errlen, &notng);
	if (!r) {
		fclose(fp);
		*truncated = false;
		return PCAPNG_ERROR;
	}
	struct pcapng_packet p;
	enum pcapng_status st;
	while ((st = pcapng_next(r, &p)) == PCAPNG_PACKET)
		++*packets;
	snprintf(err, errlen, "%s", pcapng_error(r));
	*truncated = pcapng_truncated(r);
	pcapng_close(r);
	fclose(fp);
	return st;
}

/* Read o to the end, from memory and from a file: both ways must agree. */
static enum pcapng_status read_all(struct out *o, char *err, size_t errlen, bool *truncated)
{
	char ferr[256];
	bool ftr;
	uint64_t n, fn;
	enum pcapng_status st = read_fp(open_mem(o), err, errlen, truncated, &n);
	FILE *fp = open_file(o->b, o->n);
	CHECK(fp != NULL);
	if (!fp)
		return st;
	enum pcapng_status fst = read_fp(fp, ferr, sizeof ferr, &ftr, &fn);
	CHECK_EQ_INT(fst, st);
	CHECK_EQ_INT(fn, n);
	CHECK(ftr == *truncated);
	CHECK_EQ_STR(ferr, err);
	return st;
}

static void base(struct out *o)
{
	memset(o, 0, sizeof *o);
	shb(o);
	idb(o, 1, -1, false);
}

static void test_damaged(void)
{
	char err[256];
	bool tr;
	struct out o;

	/* Cut inside a packet block: libpcap's words. */
	base(&o);
	epb(&o, 0, 1, "0123456789abcdef", 16);
	o.n -= 10;
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(tr);
	CHECK_EQ_STR(err, "truncated pcapng dump file; tried to read 40 bytes, only got 30");

	/* Cut inside a block header. */
	base(&o);
	o.n += 3;
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(tr);

	/* A length that is not a multiple of 4, or too small. */
	base(&o);
	epb(&o, 0, 1, "abcd", 4);
	size_t at = o.n - 36;
	o.b[at + 4] = 37;
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(strstr(err, "length of 37") != NULL);
	o.b[at + 4] = 8;
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);

	/* A captured length past the block. */
	base(&o);
	epb(&o, 0, 1, "abcd", 4);
	o.b[o.n - 36 + 8 + 12] = 200;
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(strstr(err, "run past the block") != NULL);

	/* An interface the section does not describe. */
	base(&o);
	epb(&o, 3, 1, "abcd", 4);
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(strstr(err, "interface 3") != NULL);

	/* Leading and trailing lengths that differ. */
	base(&o);
	epb(&o, 0, 1, "abcd", 4);
	o.b[o.n - 4] = 40;
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(strstr(err, "trailing length") != NULL);

	/* An option running past its block. */
	memset(&o, 0, sizeof o);
	shb(&o);
	struct out b = {.be = false};
	u16(&b, 1);
	u16(&b, 0);
	u32(&b, 65535);
	u16(&b, 9);
	u16(&b, 100);
	block(&o, 1, &b);
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(strstr(err, "runs past the block") != NULL);

	/* A huge block length is refused before allocating. */
	base(&o);
	u32(&o, 6);
	u32(&o, 0x7ffffffc);
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(!tr);

	/* No interface at all; a packet before any interface. */
	memset(&o, 0, sizeof o);
	shb(&o);
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);
	CHECK(strstr(err, "no interface") != NULL);
	epb(&o, 0, 1, "abcd", 4);
	CHECK_EQ_INT(read_all(&o, err, sizeof err, &tr), PCAPNG_ERROR);

	/* No byte-order magic: not pcapng at all. */
	memset(&o, 0, sizeof o);
	shb(&o);
	o.b[8] = 0x55;
	FILE *fp = open_mem(&o);
	bool notng = false;
	CHECK(pcapng_open(fp, err, sizeof err, &notng) == NULL);
	CHECK(notng);
	fclose(fp);

	/* Every prefix of a good file ends cleanly or with an error. */
	base(&o);
	epb(&o, 0, 1, "abcdefgh", 8);
	idb(&o, 228, 6, true);
	epb(&o, 1, 2, "ip", 2);
	size_t full = o.n;
	for (size_t n = 0; n <= full; n++) {
		o.n = n;
		enum pcapng_status st = read_all(&o, err, sizeof err, &tr);
		CHECK(st == PCAPNG_ERROR || (st == PCAPNG_END && n == full) || (st == PCAPNG_END && tr == false));
	}
}

/* Timestamps far out are clamped, not overflowed (the layers above take
 * differences of them). */
static void test_far_timestamps(void)
{
	struct out o = {.be = false};
	shb(&o);
	idb(&o, 1, 0, false); /* whole seconds */
	epb(&o, 0, UINT64_MAX, "x", 1);
	FILE *fp = open_mem(&o);
	char err[256];
	struct pcapng *r = pcapng_open(fp, err, sizeof err, NULL);
	CHECK(r != NULL);
	struct pcapng_packet p;
	if (r) {
		CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
		CHECK_EQ_INT(p.ts_us, ((int64_t)1 << 40) * 1000000);
		pcapng_close(r);
	}
	fclose(fp);
}

/* A mapped file cut short while it is read: the packets before the cut
 * come out, then an error; the process is not killed by SIGBUS. */
static void test_shrinks(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t page = ps > 0 ? (size_t)ps : 4096;
	struct out hdr;
	base(&hdr);
	char data[1001];
	memset(data, 'k', 1000);
	data[1000] = 0;
	struct out pkt = {.be = false};
	epb(&pkt, 0, 1, data, 1000);
	size_t total = hdr.n + 16 * pkt.n;
	uint8_t *b = malloc(total);
	CHECK(b != NULL);
	if (!b)
		return;
	memcpy(b, hdr.b, hdr.n);
	for (size_t i = 0; i < 16; i++)
		memcpy(b + hdr.n + i * pkt.n, pkt.b, pkt.n);
	FILE *fp = open_file(b, total);
	CHECK(fp != NULL);
	if (!fp) {
		free(b);
		return;
	}
	char err[256];
	struct pcapng *r = pcapng_open(fp, err, sizeof err, NULL);
	CHECK(r != NULL);
	if (r) {
		struct pcapng_packet p;
		CHECK_EQ_INT(pcapng_next(r, &p), PCAPNG_PACKET);
		CHECK(ftruncate(fileno(fp), (off_t)page) == 0);
		uint64_t n = 1;
		enum pcapng_status st;
		while ((st = pcapng_next(r, &p)) == PCAPNG_PACKET)
			n++;
		CHECK_EQ_INT(st, PCAPNG_ERROR);
		CHECK(pcapng_truncated(r));
		CHECK(strstr(pcapng_error(r), "shrank") != NULL);
		CHECK(n < 16);
		pcapng_close(r);
	}
	fclose(fp);
	free(b);
}

int main(void)
{
	test_shrinks();
	test_good();
	test_far_timestamps();
	test_damaged();
	return unit_done("test_pcapng");
}
