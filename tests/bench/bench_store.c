/* bench_store: how fast the store writes exchanges to SQLite (not a test).
 *
 * Each scenario appends N exchanges as fast as store_append takes them
 * (STORE_FULL_BLOCK, so nothing is dropped and the rate is the writer
 * thread's: decoding, JSON, SQLite) and stops the clock when store_close has
 * committed everything. Prints a markdown table: exchanges/s (wall clock),
 * records/s, the CPU time per exchange of the store's threads together
 * (decoding, writer, checkpointer) and of the SQLite (writer) thread alone,
 * the rate the slower of writer and the rest would sustain on a free core
 * each, file size per exchange, and the process's peak RSS.
 *
 * usage: bench_store [-n EXCHANGES] [-d DIR] [-s SCENARIO-NUMBER] [-k]
 *   -n  exchanges per scenario (default 500000; scenarios with records use N/5)
 *   -s  run only scenario 1..7 (table order)
 *   -k  keep the database files (bench-store-N.db in DIR, default /tmp)
 *   -b  batch_ms (default the store's 50): under valgrind, which runs ~50
 *       times slower, -b 5000 keeps batches at batch_rows as in a real run */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "records/crc32c.h"
#include "store/store.h"

struct fb {
	uint8_t p[65536];
	size_t n;
};

static void put(struct fb *b, const void *p, size_t n)
{
	memcpy(b->p + b->n, p, n);
	b->n += n;
}
static void u8(struct fb *b, uint8_t v) { b->p[b->n++] = v; }
static void be16(struct fb *b, int v) { u8(b, (uint8_t)(v >> 8)), u8(b, (uint8_t)v); }
static void be32(struct fb *b, int64_t v)
{
	for (int i = 3; i >= 0; i--)
		u8(b, (uint8_t)((uint64_t)v >> (8 * i)));
}
static void be64(struct fb *b, int64_t v)
{
	for (int i = 7; i >= 0; i--)
		u8(b, (uint8_t)((uint64_t)v >> (8 * i)));
}
static void str(struct fb *b, const char *s)
{
	if (!s) {
		be16(b, -1);
		return;
	}
	be16(b, (int)strlen(s));
	put(b, s, strlen(s));
}
static void varint(struct fb *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	while (z >= 0x80) {
		u8(b, (uint8_t)(z | 0x80));
		z >>= 7;
	}
	u8(b, (uint8_t)z);
}
static void header(struct fb *b, int api, int ver, int corr)
{
	b->n = 0;
	be16(b, api);
	be16(b, ver);
	be32(b, corr);
	str(b, "bench-client");
}

/* An uncompressed batch of `n` records with `vsize`-byte values. */
static void batch(struct fb *out, int n, size_t vsize)
{
	static struct fb recs;
	recs.n = 0;
	for (int i = 0; i < n; i++) {
		struct fb r = {.n = 0};
		u8(&r, 0);
		varint(&r, i);
		varint(&r, i);
		varint(&r, 8);
		char key[9];
		snprintf(key, sizeof key, "key%05d", i);
		put(&r, key, 8);
		varint(&r, (int64_t)vsize);
		for (size_t k = 0; k < vsize; k++)
			u8(&r, (uint8_t)('a' + (k + (size_t)i) % 26));
		varint(&r, 0);
		varint(&recs, (int64_t)r.n);
		put(&recs, r.p, r.n);
	}
	size_t start = out->n;
	be64(out, 0);
	be32(out, 0);
	be32(out, 0);
	u8(out, 2);
	be32(out, 0);
	be16(out, 0);
	be32(out, n - 1);
	be64(out, 1700000000000LL);
	be64(out, 1700000000000LL + n);
	be64(out, -1);
	be16(out, -1);
	be32(out, -1);
	be32(out, n);
	put(out, recs.p, recs.n);
	size_t len = out->n - start;
	uint8_t *p = out->p + start;
	uint32_t bl = (uint32_t)(len - 12), crc;
	p[8] = (uint8_t)(bl >> 24), p[9] = (uint8_t)(bl >> 16), p[10] = (uint8_t)(bl >> 8), p[11] = (uint8_t)bl;
	crc = crc32c_update(0, p + 21, len - 21);
	p[17] = (uint8_t)(crc >> 24), p[18] = (uint8_t)(crc >> 16), p[19] = (uint8_t)(crc >> 8), p[20] = (uint8_t)crc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct scenario {
	const char *name;
	int api, ver;
	struct fb req, resp;
	int records;      /* per exchange */
	bool keep_raw;
	bool keep_records;
	bool defer_indexes;
	size_t base_at;   /* > 0: where the response's baseOffset is, advanced
			   * by `records` per exchange as a broker's log grows */
};

static bool keep;
static unsigned batch_ms; /* -b: 0 = the store's default */

static void run(const struct scenario *sc, int num, long n, const char *dir)
{
	char path[512];
	snprintf(path, sizeof path, "%s/bench-store-%d.db", dir, num);
	unlink(path);
	struct store_opts o;
	store_opts_default(&o);
	o.keep_raw = sc->keep_raw;
	o.keep_records = sc->keep_records;
	o.defer_indexes = sc->defer_indexes;
	if (batch_ms)
		o.batch_ms = batch_ms;
	char err[512];
	struct store *s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	if (!s) {
		fprintf(stderr, "bench_store: %s\n", err);
		exit(1);
	}
	struct exchange_conn conn = {1, "127.0.0.1:40000", "127.0.0.1:9092", 1};
	struct exchange x;
	memset(&x, 0, sizeof x);
	x.conn = &conn;
	x.api_key = (int16_t)sc->api;
	x.api_version = (int16_t)sc->ver;
	x.request = sc->req.p;
	x.request_len = (uint32_t)sc->req.n;
	x.response = sc->resp.p;
	x.response_len = (uint32_t)sc->resp.n;
	struct fb resp = sc->resp;
	x.response = resp.p;
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		if (sc->base_at) {
			uint64_t base = 1000 + (uint64_t)i * (uint64_t)sc->records;
			for (int k = 0; k < 8; k++)
				resp.p[sc->base_at + (size_t)k] = (uint8_t)(base >> (56 - 8 * k));
		}
		x.seq = (uint64_t)i;
		x.correlation_id = (int32_t)i; /* the frames keep theirs: the store does not care */
		x.request_us = 1700000000000000LL + i * 10;
		x.response_us = x.request_us + 700 + i % 300;
		store_append(s, &x);
	}
	struct store_counters c;
	store_flush(s);
	/* The writer's CPU time is only final after the close (index builds). */
	int rc = store_close_counters(s, &c);
	double t = now_s() - t0;
	struct stat st;
	off_t size = stat(path, &st) == 0 ? st.st_size : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	/* CPU time per exchange depends less on what else the machine runs than
	 * the wall clock: 1e6 / the slower's is the rate the writer (SQLite) and
	 * the other threads (decoding, checkpoints; mostly decoding) would
	 * sustain with a free core each. */
	double cpu = (double)c.cpu_us / (double)n, wcpu = (double)c.writer_cpu_us / (double)n;
	double slow = wcpu > cpu - wcpu ? wcpu : cpu - wcpu;
	printf("| %s | %ld | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f | %ld |%s\n", sc->name, n,
	       (double)n / t, (double)n * sc->records / t, cpu, wcpu, 1e6 / slow,
	       (double)size / (double)n, ru.ru_maxrss / 1024, rc ? " (errors)" : "");
	fflush(stdout);
	if (!keep)
		unlink(path);
}

int main(int argc, char **argv)
{
	long n = 500000;
	const char *dir = "/tmp";
	int ch, only = 0;
	while ((ch = getopt(argc, argv, "n:d:s:kb:")) != -1) {
		if (ch == 'n')
			n = atol(optarg);
		else if (ch == 'd')
			dir = optarg;
		else if (ch == 's')
			only = atoi(optarg);
		else if (ch == 'k')
			keep = true;
		else if (ch == 'b')
			batch_ms = (unsigned)atol(optarg);
		else {
			fprintf(stderr, "usage: bench_store [-n EXCHANGES] [-d DIR] [-s SCENARIO-NUMBER] [-k] [-b BATCH-MS]\n");
			return 2;
		}
	}
	static struct scenario hb = {"Heartbeat v0 (no records)", 12, 0, {{0}, 0}, {{0}, 0}, 0, true, true, false, 0};
	header(&hb.req, 12, 0, 1);
	str(&hb.req, "bench-group");
	be32(&hb.req, 7);
	str(&hb.req, "bench-member-0123456789");
	be32(&hb.resp, 1);
	be16(&hb.resp, 0);

	static struct scenario hbnr = {"Heartbeat v0, no raw frames", 12, 0, {{0}, 0}, {{0}, 0}, 0, false, true, false, 0};
	hbnr.req = hb.req;
	hbnr.resp = hb.resp;
	static struct scenario hbd = {"Heartbeat v0, indexes built at the end (decode -w)", 12, 0, {{0}, 0}, {{0}, 0}, 0, true, true, true, 0};
	hbd.req = hb.req;
	hbd.resp = hb.resp;

	static struct scenario oc = {"OffsetCommit v2, 4 partitions (no records)", 8, 2, {{0}, 0}, {{0}, 0}, 0, true, true, false, 0};
	header(&oc.req, 8, 2, 1);
	str(&oc.req, "bench-group");
	be32(&oc.req, 7);
	str(&oc.req, "bench-member");
	be64(&oc.req, -1);
	be32(&oc.req, 1);
	str(&oc.req, "bench-topic");
	be32(&oc.req, 4);
	for (int p = 0; p < 4; p++) {
		be32(&oc.req, p);
		be64(&oc.req, 123456 + p);
		str(&oc.req, NULL);
	}
	be32(&oc.resp, 1);
	be32(&oc.resp, 1);
	str(&oc.resp, "bench-topic");
	be32(&oc.resp, 4);
	for (int p = 0; p < 4; p++) {
		be32(&oc.resp, p);
		be16(&oc.resp, 0);
	}

	static struct scenario pr = {"Produce v3, 10 records x 100 B", 0, 3, {{0}, 0}, {{0}, 0}, 10, true, true, false, 0};
	struct fb b = {.n = 0};
	batch(&b, 10, 100);
	header(&pr.req, 0, 3, 1);
	str(&pr.req, NULL);
	be16(&pr.req, -1);
	be32(&pr.req, 30000);
	be32(&pr.req, 1);
	str(&pr.req, "bench-topic");
	be32(&pr.req, 1);
	be32(&pr.req, 0);
	be32(&pr.req, (int64_t)b.n);
	put(&pr.req, b.p, b.n);
	be32(&pr.resp, 1);
	be32(&pr.resp, 1);
	str(&pr.resp, "bench-topic");
	be32(&pr.resp, 1);
	be32(&pr.resp, 0);
	be16(&pr.resp, 0);
	pr.base_at = pr.resp.n;
	be64(&pr.resp, 1000);
	be64(&pr.resp, -1);
	be32(&pr.resp, 0);

	static struct scenario prn = {"Produce v3, 10 records x 100 B, records table off", 0, 3, {{0}, 0}, {{0}, 0}, 10, true, false, false, 0};
	prn.req = pr.req;
	prn.resp = pr.resp;
	prn.base_at = pr.base_at;
	static struct scenario prd = {"Produce v3, 10 records x 100 B, indexes built at the end", 0, 3, {{0}, 0}, {{0}, 0}, 10, true, true, true, 0};
	prd.req = pr.req;
	prd.resp = pr.resp;
	prd.base_at = pr.base_at;

	printf("| scenario | exchanges | exchanges/s | records/s | store CPU us/exchange | of which SQLite thread |"
	       " exchanges/s, a core per thread | bytes/exchange | peak RSS MiB |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	const struct scenario *all[] = {&hb, &hbd, &hbnr, &oc, &pr, &prd, &prn};
	for (int i = 0; i < 7; i++)
		if (!only || only == i + 1)
			run(all[i], i + 1, all[i]->records ? n / 5 : n, dir);
	printf("\nDatabase in %s; WAL, synchronous=NORMAL, batches of %u rows / %u ms; the clock stops when "
	       "store_close has committed everything.\n", dir, STORE_DEFAULT_BATCH_ROWS, STORE_DEFAULT_BATCH_MS);
	return 0;
}
