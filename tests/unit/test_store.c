/* Unit tests for the SQLite store (src/store): a round trip of hand-made
 * frames (Heartbeat, Produce with a record batch, Fetch, an unanswered
 * request) read back with SQL; row and record order through the multi-row
 * inserts; WAL checkpoints while recording; file mode 0600; the queue-full
 * policies;
 * redaction of SASL secrets and record values; reopen (log rotation);
 * migration from schema version 1; files that are not kafkatap databases;
 * a full disk (the max_db_bytes cap, and a tiny tmpfs when mounting is
 * allowed) and a read-only file system. Also SHA-256 test vectors. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include "cli/cli.h"
#include "proto/schema.h"
#include "records/crc32c.h"
#include "store/sha256.h"
#include "store/store.h"
#include "unit.h"

/* ---- frame building ---- */

struct fb {
	uint8_t p[16384];
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
static void bytes32(struct fb *b, const void *p, size_t n)
{
	be32(b, (int64_t)n);
	put(b, p, n);
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
static void req_header(struct fb *b, int api, int ver, int corr, const char *client)
{
	b->n = 0;
	be16(b, api);
	be16(b, ver);
	be32(b, corr);
	str(b, client);
}

#define BASE_TS 1700000000000LL

/* A RecordBatch (magic 2, uncompressed) of two records. */
static void record_batch(struct fb *out, int64_t base_offset)
{
	struct fb recs = {.n = 0};
	const char *keys[2] = {"k1", "k2"}, *vals[2] = {"v1", "value-two"};
	for (int i = 0; i < 2; i++) {
		struct fb r = {.n = 0};
		u8(&r, 0);        /* attributes */
		varint(&r, i * 5); /* timestampDelta */
		varint(&r, i);     /* offsetDelta */
		varint(&r, (int64_t)strlen(keys[i]));
		put(&r, keys[i], strlen(keys[i]));
		varint(&r, (int64_t)strlen(vals[i]));
		put(&r, vals[i], strlen(vals[i]));
		varint(&r, 1); /* one header */
		varint(&r, 1);
		put(&r, "h", 1);
		varint(&r, 1);
		put(&r, "x", 1);
		varint(&recs, (int64_t)r.n);
		put(&recs, r.p, r.n);
	}
	size_t start = out->n;
	be64(out, base_offset);
	be32(out, 0); /* batchLength, patched */
	be32(out, 0); /* partitionLeaderEpoch */
	u8(out, 2);
	be32(out, 0); /* crc, patched */
	be16(out, 0); /* attributes */
	be32(out, 1); /* lastOffsetDelta */
	be64(out, BASE_TS);
	be64(out, BASE_TS + 5);
	be64(out, -1);
	be16(out, -1);
	be32(out, -1);
	be32(out, 2);
	put(out, recs.p, recs.n);
	size_t len = out->n - start;
	uint8_t *p = out->p + start;
	uint32_t bl = (uint32_t)(len - 12);
	p[8] = (uint8_t)(bl >> 24), p[9] = (uint8_t)(bl >> 16), p[10] = (uint8_t)(bl >> 8), p[11] = (uint8_t)bl;
	uint32_t crc = crc32c_update(0, p + 21, len - 21);
	p[17] = (uint8_t)(crc >> 24), p[18] = (uint8_t)(crc >> 16), p[19] = (uint8_t)(crc >> 8), p[20] = (uint8_t)crc;
}

static struct fb hb_req, hb_resp, pr_req, pr_resp, fe_req, fe_resp, sa_req, sa_resp;

static void build_frames(void)
{
	req_header(&hb_req, 12, 0, 1, "test-client");
	str(&hb_req, "g1");
	be32(&hb_req, 5);
	str(&hb_req, "m1");
	hb_resp.n = 0;
	be32(&hb_resp, 1);
	be16(&hb_resp, 27); /* REBALANCE_IN_PROGRESS */

	struct fb batch = {.n = 0};
	record_batch(&batch, 0);
	req_header(&pr_req, 0, 3, 2, "test-client");
	str(&pr_req, NULL); /* transactionalId */
	be16(&pr_req, -1);  /* acks */
	be32(&pr_req, 30000);
	be32(&pr_req, 1);
	str(&pr_req, "orders");
	be32(&pr_req, 1);
	be32(&pr_req, 2);
	bytes32(&pr_req, batch.p, batch.n);
	pr_resp.n = 0;
	be32(&pr_resp, 2);
	be32(&pr_resp, 1);
	str(&pr_resp, "orders");
	be32(&pr_resp, 1);
	be32(&pr_resp, 2);
	be16(&pr_resp, 0);
	be64(&pr_resp, 100);
	be64(&pr_resp, -1);
	be32(&pr_resp, 0); /* throttle */

	req_header(&fe_req, 1, 4, 3, "test-client");
	be32(&fe_req, -1);
	be32(&fe_req, 500);
	be32(&fe_req, 1);
	be32(&fe_req, 1 << 20);
	u8(&fe_req, 0);
	be32(&fe_req, 1);
	str(&fe_req, "orders");
	be32(&fe_req, 1);
	be32(&fe_req, 2);
	be64(&fe_req, 100);
	be32(&fe_req, 1 << 20);
	batch.n = 0;
	record_batch(&batch, 100);
	fe_resp.n = 0;
	be32(&fe_resp, 3);
	be32(&fe_resp, 0); /* throttle */
	be32(&fe_resp, 1);
	str(&fe_resp, "orders");
	be32(&fe_resp, 1);
	be32(&fe_resp, 2);
	be16(&fe_resp, 0);
	be64(&fe_resp, 102);
	be64(&fe_resp, 102);
	be32(&fe_resp, -1); /* abortedTransactions: null */
	bytes32(&fe_resp, batch.p, batch.n);

	req_header(&sa_req, 36, 1, 4, "test-client");
	bytes32(&sa_req, "\0alice\0s3cret-pw", 16);
	sa_resp.n = 0;
	be32(&sa_resp, 4);
	be16(&sa_resp, 0);
	str(&sa_resp, NULL);
	bytes32(&sa_resp, "server-final-secret", 19);
	be64(&sa_resp, 0);
}

static const struct exchange_conn conn7 = {7, "127.0.0.1:5000", "127.0.0.1:9092", 1};

static struct exchange mkx(const struct exchange_conn *c, int api, int ver, int corr,
			   const struct fb *rq, const struct fb *rs, int64_t t)
{
	struct exchange x;
	memset(&x, 0, sizeof x);
	x.conn = c;
	x.seq = (uint64_t)corr;
	x.api_key = (int16_t)api;
	x.api_version = (int16_t)ver;
	x.correlation_id = corr;
	x.request_us = t;
	x.response_us = rs ? t + 1500 : 0;
	x.request = rq ? rq->p : NULL;
	x.request_len = rq ? (uint32_t)rq->n : 0;
	x.response = rs ? rs->p : NULL;
	x.response_len = rs ? (uint32_t)rs->n : 0;
	if (!rs)
		x.flags |= EXCHANGE_UNANSWERED;
	return x;
}

/* ---- SQL helpers ---- */

static char tmpdir[256];

static sqlite3 *dbopen(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "cannot open %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static long long q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -999999;
	if (!db || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "SQL error in %s: %s\n", sql, db ? sqlite3_errmsg(db) : "no db");
		return v;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -424242 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char qbuf[4096];

/* The EXPLAIN QUERY PLAN details of SQL, joined by "; ". */
static const char *q_plan(sqlite3 *db, const char *sql)
{
	char eqp[1024];
	sqlite3_stmt *st;
	size_t n = 0;
	qbuf[0] = '\0';
	snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(db, eqp, -1, &st, NULL) != SQLITE_OK)
		return "(error)";
	while (sqlite3_step(st) == SQLITE_ROW && n < sizeof qbuf - 1) {
		const unsigned char *d = sqlite3_column_text(st, 3);
		n += (size_t)snprintf(qbuf + n, sizeof qbuf - n, "%s; ", d ? (const char *)d : "");
		if (n >= sizeof qbuf)
			n = sizeof qbuf - 1;
	}
	sqlite3_finalize(st);
	return qbuf;
}

static const char *q_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	snprintf(qbuf, sizeof qbuf, "(error)");
	if (!db || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "SQL error in %s: %s\n", sql, db ? sqlite3_errmsg(db) : "no db");
		return qbuf;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(qbuf, sizeof qbuf, "%s", t ? (const char *)t : "(null)");
	}
	sqlite3_finalize(st);
	return qbuf;
}

static char *path_in(const char *name)
{
	static char p[8][512];
	static int i;
	i = (i + 1) % 8;
	snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
	return p[i];
}

/* Does the file contain the bytes? */
static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	static char data[1 << 22];
	size_t n = fread(data, 1, sizeof data, f);
	fclose(f);
	return memmem(data, n, needle, strlen(needle)) != NULL;
}

static char logged[1024];
static void capture_log(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(logged, sizeof logged, "%s", msg);
}

/* ---- tests ---- */

static void test_sha256(void)
{
	char hex[65];
	sha256_hex("", 0, hex);
	CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_hex(m, strlen(m), hex);
	CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* One million 'a', fed in uneven pieces. */
	struct sha256 s;
	uint8_t d[32], a[997];
	memset(a, 'a', sizeof a);
	sha256_init(&s);
	size_t left = 1000000;
	for (size_t k = 1; left; k = k % 997 + 1) {
		size_t n = k < left ? k : left;
		sha256_update(&s, a, n);
		left -= n;
	}
	sha256_final(&s, d);
	static const uint8_t want[4] = {0xcd, 0xc7, 0x6e, 0x5c};
	CHECK(memcmp(d, want, 4) == 0);
}

static void test_round_trip(void)
{
	const char *path = path_in("rt.db");
	char err[512] = "";
	char *argv[] = {"kafkatap", "decode", "-w", "x y.db", NULL};
	struct store *s = store_open(path, NULL, "decode", 4, argv, err, sizeof err);
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "store_open: %s\n", err);
		return;
	}
	int64_t t0 = 1700000000000000LL;
	store_connection(s, &conn7, t0);
	struct exchange x = mkx(&conn7, 12, 0, 1, &hb_req, &hb_resp, t0 + 10);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 0, 3, 2, &pr_req, &pr_resp, t0 + 20);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 1, 4, 3, &fe_req, &fe_resp, t0 + 30);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 12, 0, 9, &hb_req, NULL, t0 + 40);
	CHECK(store_append(s, &x));
	store_connection_end(s, 7, t0 + 100, 1000, 2000, "client closed");
	CHECK_EQ_INT(store_flush(s), 0);
	struct store_counters c;
	store_get_counters(s, &c);
	CHECK_EQ_INT(c.written, 4);
	CHECK_EQ_INT(c.records, 4);
	CHECK_EQ_INT(c.queued, 0);
	CHECK_EQ_INT(store_close(s), 0);

	struct stat stt;
	CHECK(stat(path, &stt) == 0);
	CHECK_EQ_INT(stt.st_mode & 0777, 0600);
	CHECK(access(path_in("rt.db-wal"), F_OK) != 0); /* checkpointed and removed on close */

	sqlite3 *db = dbopen(path);
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	CHECK_EQ_STR(q_text(db, "PRAGMA journal_mode"), "wal");
	CHECK_EQ_INT(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CHECK_EQ_INT(q_int(db, "PRAGMA application_id"), STORE_APPLICATION_ID);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sessions WHERE mode = 'decode' AND ended_us IS NOT NULL"), 1);
	CHECK_EQ_STR(q_text(db, "SELECT command_line FROM sessions"), "kafkatap decode -w 'x y.db'");
	CHECK_EQ_STR(q_text(db, "SELECT kafkatap_version FROM sessions"), PACKAGE_VERSION);
	CHECK_EQ_STR(q_text(db, "SELECT client_addr || ' ' || broker_addr || ' ' || broker_node_id || ' '"
				" || conn_id || ' ' || started_us || ' ' || ended_us || ' ' || bytes_to_broker"
				" || ' ' || bytes_to_client || ' ' || close_reason FROM connections"),
		     "127.0.0.1:5000 127.0.0.1:9092 1 7 1700000000000000 1700000000000100 1000 2000 client closed");
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 4);
	CHECK_EQ_INT(q_int(db, "SELECT count(DISTINCT connection_id) FROM exchanges"), 1);
	CHECK_EQ_STR(q_text(db, "SELECT api_name || ' ' || api_version || ' ' || client_id || ' ' || error_code"
				" || ' ' || has_error || ' ' || error_name || ' ' || latency_us"
				" FROM exchanges WHERE correlation_id = 1"),
		     "Heartbeat 0 test-client 27 1 REBALANCE_IN_PROGRESS 1500");
	CHECK_EQ_STR(q_text(db, "SELECT json_extract(request_json, '$.groupId') || json_extract(request_json,"
				" '$.generationId') FROM exchanges WHERE correlation_id = 1"), "g15");
	CHECK_EQ_INT(q_int(db, "SELECT json_extract(response_json, '$.errorCode') FROM exchanges WHERE correlation_id = 1"), 27);
	CHECK_EQ_INT(q_int(db, "SELECT json_valid(request_json) AND json_valid(response_json) FROM exchanges WHERE correlation_id = 3"), 1);
	CHECK_EQ_STR(q_text(db, "SELECT json_extract(request_json, '$.topicData[0].name') FROM exchanges WHERE api_key = 0"),
		     "orders");
	CHECK_EQ_INT(q_int(db, "SELECT error_code FROM exchanges WHERE api_key = 0"), 0);
	CHECK_EQ_INT(q_int(db, "SELECT has_error FROM exchanges WHERE api_key = 0"), 0);
	/* The raw frames are the bytes given. */
	sqlite3_stmt *st;
	CHECK(sqlite3_prepare_v2(db, "SELECT request_raw, response_raw, request_size FROM exchanges WHERE api_key = 1",
				 -1, &st, NULL) == SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW) {
		CHECK_EQ_INT(sqlite3_column_bytes(st, 0), fe_req.n);
		CHECK(memcmp(sqlite3_column_blob(st, 0), fe_req.p, fe_req.n) == 0);
		CHECK_EQ_INT(sqlite3_column_bytes(st, 1), fe_resp.n);
		CHECK(memcmp(sqlite3_column_blob(st, 1), fe_resp.p, fe_resp.n) == 0);
		CHECK_EQ_INT(sqlite3_column_int(st, 2), fe_req.n);
	} else {
		CHECK(!"no Fetch row");
	}
	sqlite3_finalize(st);
	/* The unanswered request. */
	CHECK_EQ_INT(q_int(db, "SELECT unanswered FROM exchanges WHERE correlation_id = 9"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT response_us FROM exchanges WHERE correlation_id = 9"), -424242);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges WHERE unanswered"), 1);
	/* Records: produced (at the offsets the response assigned: 100, 101)
	 * and fetched. */
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records WHERE direction = 'produce'"), 2);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records WHERE direction = 'fetch'"), 2);
	CHECK_EQ_STR(q_text(db, "SELECT group_concat(\"offset\" || ':' || CAST(key AS TEXT) || '=' ||"
				" CAST(value AS TEXT) || '@' || (timestamp - 1700000000000), ',') FROM"
				" (SELECT * FROM records WHERE direction = 'fetch' ORDER BY \"offset\")"),
		     "100:k1=v1@0,101:k2=value-two@5");
	CHECK_EQ_STR(q_text(db, "SELECT topic || '/' || partition || ' ' || key_size || ' ' || value_size FROM records"
				" WHERE direction = 'produce' AND \"offset\" = 101"), "orders/2 2 9");
	CHECK_EQ_STR(q_text(db, "SELECT json_extract(headers_json, '$[0].key') || '=' ||"
				" json_extract(headers_json, '$[0].value') FROM records LIMIT 1"), "h=x");
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records r JOIN exchanges e ON e.id = r.exchange_id"
			       " WHERE r.direction = 'fetch' AND e.api_key = 1"), 2);
	CHECK_EQ_STR(q_text(db, "SELECT group_concat(name, ',') FROM (SELECT name FROM flags ORDER BY bit LIMIT 2)"),
		     "unanswered,acks0");
	sqlite3_close(db);
}

/* store_connection_node: the broker node id of a connection, known only
 * after it opened (the proxy's bootstrap connections), or of a connection
 * not announced at all. */
static void test_connection_node(void)
{
	const char *path = path_in("node.db");
	char err[512];
	struct store *s = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	int64_t t0 = 1700000000000000LL;
	struct exchange_conn boot = {20, "127.0.0.1:5001", "127.0.0.1:9092", -1};
	struct exchange_conn later = {21, "127.0.0.1:5002", "127.0.0.1:9093", -1};
	struct exchange_conn known = {22, "127.0.0.1:5003", "127.0.0.1:9094", 4};
	store_connection(s, &boot, t0);
	store_connection(s, &known, t0);
	struct exchange x = mkx(&boot, 12, 0, 1, &hb_req, &hb_resp, t0 + 10);
	CHECK(store_append(s, &x));
	store_connection_node(s, 20, 3);
	x = mkx(&boot, 12, 0, 2, &hb_req, &hb_resp, t0 + 20); /* the exchange still says -1 */
	CHECK(store_append(s, &x));
	/* Not announced: the event makes the row, the exchange finds it. */
	store_connection_node(s, 21, 5);
	x = mkx(&later, 12, 0, 3, &hb_req, &hb_resp, t0 + 30);
	CHECK(store_append(s, &x));
	store_connection_node(s, 22, -1);
	store_connection_end(s, 20, t0 + 100, 10, 20, "client closed");
	CHECK_EQ_INT(store_close(s), 0);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM connections"), 3);
	CHECK_EQ_INT(q_int(db, "SELECT broker_node_id FROM connections WHERE conn_id = 20"), 3);
	CHECK_EQ_STR(q_text(db, "SELECT client_addr || ' ' || started_us || ' ' || close_reason FROM connections"
				" WHERE conn_id = 20"), "127.0.0.1:5001 1700000000000000 client closed");
	CHECK_EQ_INT(q_int(db, "SELECT count(DISTINCT connection_id) FROM exchanges e JOIN connections c"
			       " ON c.id = e.connection_id WHERE c.conn_id = 20"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges e JOIN connections c ON c.id = e.connection_id"
			       " WHERE c.conn_id = 20"), 2);
	CHECK_EQ_INT(q_int(db, "SELECT broker_node_id FROM connections WHERE conn_id = 21"), 5);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges e JOIN connections c ON c.id = e.connection_id"
			       " WHERE c.conn_id = 21 AND c.broker_node_id = 5"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT broker_node_id FROM connections WHERE conn_id = 22"), -424242);
	sqlite3_close(db);
}

/* Exchange rows are INSERTed several at a time; those with records one by
 * one: row ids still follow the order of store_append, across batches. */
static void test_row_order(void)
{
	const char *path = path_in("order.db");
	struct store_opts o;
	store_opts_default(&o);
	o.batch_rows = 70; /* batches end between multi-row groups */
	char err[512];
	struct store *s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	int n = 1000;
	for (int i = 0; i < n; i++) {
		struct exchange x = i % 37 == 5 ? mkx(&conn7, 0, 3, i, &pr_req, &pr_resp, 1700000000000000LL + i)
						: mkx(&conn7, 12, 0, i, &hb_req, i % 3 ? &hb_resp : NULL,
						      1700000000000000LL + i);
		CHECK(store_append(s, &x));
		if (i == 500)
			CHECK_EQ_INT(store_flush(s), 0); /* a short batch */
	}
	CHECK_EQ_INT(store_close(s), 0);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), n);
	/* seq = correlation id = position in the append order. */
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges WHERE id <> seq + 1 OR correlation_id <> seq"), 0);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges WHERE (seq % 3 = 0) <> (response_raw IS NULL)"
			       " AND api_key = 12"), 0);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records r JOIN exchanges e ON e.id = r.exchange_id"
			       " WHERE e.api_key = 0 AND e.seq % 37 = 5"), 2 * ((n - 5 + 36) / 37));
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges WHERE api_key = 12 AND"
			       " (api_name <> 'Heartbeat' OR request_size <> length(request_raw)"
			       " OR NOT json_valid(request_json))"), 0);
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	sqlite3_close(db);
}

/* Records are INSERTed several at a time, across exchanges and across the
 * multi-row and one-by-one statements: each record keeps its own exchange's
 * row id, in order. Produce requests of two records each, some batches
 * ending in the middle of a group. */
static void test_records_multi(void)
{
	const char *path = path_in("recs.db");
	struct store_opts o;
	store_opts_default(&o);
	o.batch_rows = 45;
	char err[512];
	struct store *s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	int n = 300, nproduce = 0;
	for (int i = 0; i < n; i++) {
		bool produce = i % 5 != 3;
		struct exchange x = produce ? mkx(&conn7, 0, 3, i, &pr_req, &pr_resp, 1700000000000000LL + i)
					    : mkx(&conn7, 12, 0, i, &hb_req, &hb_resp, 1700000000000000LL + i);
		nproduce += produce;
		CHECK(store_append(s, &x));
		if (i == 77)
			CHECK_EQ_INT(store_flush(s), 0);
	}
	struct store_counters c;
	CHECK_EQ_INT(store_close_counters(s, &c), 0);
	CHECK_EQ_INT(c.records, 2 * nproduce);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records"), 2 * nproduce);
	/* Every record belongs to a Produce exchange, two each, offsets 100 and 101
	 * in record id order, and record ids follow exchange ids. */
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records r JOIN exchanges e ON e.id = r.exchange_id"
			       " WHERE e.api_key = 0 AND e.seq % 5 <> 3"), 2 * nproduce);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM (SELECT exchange_id, count(*) AS n, min(id) AS a,"
			       " max(id) AS b, min(\"offset\") AS o0, max(\"offset\") AS o1 FROM records"
			       " GROUP BY exchange_id) WHERE n <> 2 OR b <> a + 1 OR o0 <> 100 OR o1 <> 101"), 0);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records a JOIN records b ON b.id = a.id + 1"
			       " WHERE b.exchange_id < a.exchange_id OR (b.exchange_id = a.exchange_id"
			       " AND b.\"offset\" <> a.\"offset\" + 1)"), 0);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records WHERE topic <> 'orders' OR partition <> 2"
			       " OR direction <> 'produce' OR key_size IS NULL OR headers_json IS NULL"), 0);
	CHECK_EQ_STR(q_text(db, "SELECT group_concat(CAST(value AS TEXT), ',') FROM"
			    " (SELECT value FROM records WHERE exchange_id = (SELECT min(id) FROM exchanges"
			    " WHERE api_key = 0) ORDER BY id)"), "v1,value-two");
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	sqlite3_close(db);
}

/* Record one Produce and one Fetch exchange (two records each) into a new
 * file with these options; the file opened for reading, or NULL. */
/* Record one exchange with options o into a new file; the file, opened. */
static sqlite3 *record_one(const char *path, const struct store_opts *o, const struct exchange *x)
{
	char err[512];
	struct store *s = store_open(path, o, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return NULL;
	CHECK(store_append(s, x));
	CHECK_EQ_INT(store_close(s), 0);
	return dbopen(path);
}

static sqlite3 *record_produce_fetch(const char *path, const struct store_opts *o)
{
	char err[512];
	struct store *s = store_open(path, o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return NULL;
	struct exchange x = mkx(&conn7, 0, 3, 2, &pr_req, &pr_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 1, 4, 3, &fe_req, &fe_resp, 1700000000001000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_close(s), 0);
	return dbopen(path);
}

/* A produced record's offset is the one the broker's response assigned:
 * its partition's baseOffset plus the record's place in the partition's
 * data (over several batches), whatever order the response answers in; NULL
 * when the partition failed or nothing answered. */
static void test_produce_offsets(void)
{
	struct fb one = {.n = 0}, two = {.n = 0}, rq = {.n = 0}, rs = {.n = 0};
	record_batch(&one, 0);
	record_batch(&two, 0);
	record_batch(&two, 0); /* a second batch, numbered from 0 as well */
	req_header(&rq, 0, 3, 5, "test-client");
	str(&rq, NULL);
	be16(&rq, -1);
	be32(&rq, 30000);
	be32(&rq, 2);
	str(&rq, "a");
	be32(&rq, 2);
	be32(&rq, 0);
	bytes32(&rq, one.p, one.n);
	be32(&rq, 1);
	bytes32(&rq, two.p, two.n);
	str(&rq, "b");
	be32(&rq, 1);
	be32(&rq, 5);
	bytes32(&rq, one.p, one.n);
	/* Topics and partitions answered in the other order; b/5 failed. */
	be32(&rs, 5);
	be32(&rs, 2);
	str(&rs, "b");
	be32(&rs, 1);
	be32(&rs, 5);
	be16(&rs, 6); /* NOT_LEADER_OR_FOLLOWER */
	be64(&rs, -1);
	be64(&rs, -1);
	str(&rs, "a");
	be32(&rs, 2);
	be32(&rs, 1);
	be16(&rs, 0);
	be64(&rs, 20);
	be64(&rs, -1);
	be32(&rs, 0);
	be16(&rs, 0);
	be64(&rs, 10);
	be64(&rs, -1);
	be32(&rs, 0); /* throttle */
	static const char *const sql =
		"SELECT group_concat(topic || '/' || partition || '@' || coalesce(\"offset\", 'null')"
		" || '=' || CAST(key AS TEXT), ' ') FROM (SELECT * FROM records ORDER BY id)";
	struct store_opts o;
	store_opts_default(&o);
	struct exchange x = mkx(&conn7, 0, 3, 5, &rq, &rs, 1700000000000000LL);
	sqlite3 *db = record_one(path_in("po1.db"), &o, &x);
	if (db) {
		CHECK_EQ_STR(q_text(db, sql), "a/0@10=k1 a/0@11=k2 a/1@20=k1 a/1@21=k2 a/1@22=k1"
					      " a/1@23=k2 b/5@null=k1 b/5@null=k2");
		sqlite3_close(db);
	}
	/* No response (acks=0, or the connection closed first): no offsets. */
	x = mkx(&conn7, 0, 3, 5, &rq, NULL, 1700000000000000LL);
	db = record_one(path_in("po2.db"), &o, &x);
	if (db) {
		CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records WHERE \"offset\" IS NULL"), 8);
		sqlite3_close(db);
	}
}

/* Records rows read from unexpanded batches (lazy, the default) equal those
 * of expanded nodes (the path taken when values are hashed), but for the
 * hashed value itself. */
static void test_lazy_rows(void)
{
	static const char *const rows_sql =
		"SELECT group_concat(direction || '|' || topic || '|' || partition || '|' || \"offset\""
		" || '|' || timestamp || '|' || hex(key) || '|' || key_size || '|' || value_size"
		" || '|' || coalesce(headers_json, '-'), ';') FROM (SELECT * FROM records ORDER BY id)";
	char *got[2] = {NULL, NULL};
	for (int k = 0; k < 2; k++) {
		struct store_opts o;
		store_opts_default(&o);
		o.values = k ? STORE_REDACT_HASH : STORE_REDACT_NONE;
		sqlite3 *db = record_produce_fetch(path_in(k ? "lz1.db" : "lz0.db"), &o);
		if (!db)
			return;
		const char *t = q_text(db, rows_sql);
		got[k] = t ? strdup(t) : NULL;
		sqlite3_close(db);
	}
	CHECK(got[0] && strstr(got[0], "[{\"key\":\"h\",\"value\":\"x\"}]") != NULL);
	CHECK_EQ_STR(got[0], got[1]);
	free(got[0]);
	free(got[1]);
}

/* Two recorders on one file take turns: each batch numbers its rows after
 * what the other wrote, and records still name their own exchange. */
static void test_records_two_writers(void)
{
	const char *path = path_in("recs2.db");
	char err[512];
	struct store *a = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	struct store *b = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(a != NULL && b != NULL);
	if (!a || !b)
		return;
	for (int i = 0; i < 60; i++) {
		struct store *s = i % 2 ? b : a;
		for (int j = 0; j < 3; j++) {
			struct exchange x = j == 1 ? mkx(&conn7, 12, 0, 10 * i + j, &hb_req, &hb_resp, 1700000000000000LL + i)
						   : mkx(&conn7, 0, 3, 10 * i + j, &pr_req, &pr_resp, 1700000000000000LL + i);
			CHECK(store_append(s, &x));
		}
		CHECK_EQ_INT(store_flush(s), 0);
	}
	CHECK_EQ_INT(store_close(a), 0);
	CHECK_EQ_INT(store_close(b), 0);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 180);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records"), 240);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges e WHERE api_key = 0 AND"
			       " (SELECT count(*) FROM records r WHERE r.exchange_id = e.id) <> 2"), 0);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges WHERE id <> (SELECT count(*) FROM exchanges e2"
			       " WHERE e2.correlation_id / 10 < exchanges.correlation_id / 10 OR"
			       " (e2.correlation_id / 10 = exchanges.correlation_id / 10 AND"
			       " e2.correlation_id <= exchanges.correlation_id))"), 0);
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	sqlite3_close(db);
}

/* WAL checkpoints run on the checkpointer thread while recording: pages
 * reach the database file before the close, readers see every committed
 * exchange meanwhile, and the close checkpoints the rest and removes the
 * WAL. */
static void test_checkpointer(void)
{
	const char *path = path_in("ckpt.db");
	char err[512];
	struct store *s = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	int n = 20000; /* about 6 MB, more than the checkpointer's step */
	for (int i = 0; i < n; i++) {
		struct exchange x = mkx(&conn7, 12, 0, i, &hb_req, &hb_resp, 1700000000000000LL + i);
		CHECK(store_append(s, &x));
	}
	CHECK_EQ_INT(store_flush(s), 0);
	struct stat st;
	bool copied = false;
	for (int t = 0; t < 500 && !copied; t++) {
		copied = stat(path, &st) == 0 && st.st_size > 1024 * 1024;
		if (!copied)
			usleep(10000);
	}
	CHECK(copied);
	CHECK(access(path_in("ckpt.db-wal"), F_OK) == 0);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), n);
	sqlite3_close(db);
	CHECK_EQ_INT(store_close(s), 0);
	CHECK(access(path_in("ckpt.db-wal"), F_OK) != 0);
	CHECK(stat(path, &st) == 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), n);
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	sqlite3_close(db);
}

/* A second connection holds the write lock, so the writer waits in BEGIN
 * with one item queued: with queue_max 1 the rest is dropped and counted. */
static void test_queue_drop(void)
{
	const char *path = path_in("drop.db");
	struct store_opts o;
	store_opts_default(&o);
	o.queue_max = 1;
	o.when_full = STORE_FULL_DROP;
	o.log = capture_log;
	char err[512];
	struct store *s = store_open(path, &o, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	sqlite3 *db = dbopen(path);
	CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	int accepted = 0;
	for (int i = 0; i < 50; i++) {
		struct exchange x = mkx(&conn7, 12, 0, i, &hb_req, &hb_resp, 1700000000000000LL + i);
		accepted += store_append(s, &x);
	}
	struct store_counters c;
	store_get_counters(s, &c);
	CHECK(accepted <= 2);
	CHECK_EQ_INT(c.dropped, 50 - accepted);
	CHECK_EQ_INT(c.appended, accepted);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	CHECK_EQ_INT(store_flush(s), 0);
	store_get_counters(s, &c);
	CHECK_EQ_INT(c.written, accepted);
	CHECK_EQ_INT(store_close(s), -1); /* some were dropped */
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), accepted);
	sqlite3_close(db);

	/* Blocking: a tiny queue loses nothing. */
	o.when_full = STORE_FULL_BLOCK;
	o.queue_max = 2;
	path = path_in("block.db");
	s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 3000; i++) {
		struct exchange x = mkx(&conn7, 12, 0, i, &hb_req, &hb_resp, 1700000000000000LL + i);
		CHECK(store_append(s, &x));
	}
	store_get_counters(s, &c);
	CHECK(c.queued <= 2);
	CHECK_EQ_INT(store_close(s), 0);
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 3000);
	sqlite3_close(db);
}

/* Large frames offered in x->own are taken over, not copied: the store
 * keeps the caller's block (and frees it), small ones it copies and leaves
 * with the caller. A dropped exchange's taken blocks are freed too (the
 * ASan build's leak check). */
static uint8_t *padded(const struct fb *f, size_t n, uint8_t fill)
{
	uint8_t *p = malloc(n);
	if (p) {
		memcpy(p, f->p, f->n);
		memset(p + f->n, fill, n - f->n);
	}
	return p;
}

static void test_taken_frames(void)
{
	const char *path = path_in("taken.db");
	char err[512];
	struct store *s = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	const size_t big = 40000;
	uint8_t *rq = padded(&hb_req, big, 0xAB), *rs = padded(&hb_resp, big, 0xCD);
	uint8_t *small = padded(&hb_req, hb_req.n, 0);
	CHECK(rq && rs && small);
	if (!rq || !rs || !small)
		return;
	struct exchange x = mkx(&conn7, 12, 0, 1, &hb_req, &hb_resp, 1700000000000000LL);
	x.request = rq;
	x.request_len = (uint32_t)big;
	x.response = rs;
	x.response_len = (uint32_t)big;
	struct exchange_own own = {rq, rs};
	x.own = &own;
	CHECK(store_append(s, &x));
	CHECK(own.request == NULL && own.response == NULL);
	x = mkx(&conn7, 12, 0, 2, &hb_req, NULL, 1700000000000001LL);
	x.request = small;
	struct exchange_own own2 = {small, NULL};
	x.own = &own2;
	CHECK(store_append(s, &x));
	CHECK(own2.request == small); /* copied: still the caller's */
	memset(small, 0x55, hb_req.n);
	free(small);
	CHECK_EQ_INT(store_close(s), 0);
	sqlite3 *db = dbopen(path);
	uint8_t *want_rq = padded(&hb_req, big, 0xAB), *want_rs = padded(&hb_resp, big, 0xCD);
	sqlite3_stmt *st;
	CHECK(sqlite3_prepare_v2(db, "SELECT request_raw, response_raw FROM exchanges ORDER BY correlation_id",
				 -1, &st, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK_EQ_INT(sqlite3_column_bytes(st, 0), big);
	CHECK_EQ_INT(sqlite3_column_bytes(st, 1), big);
	CHECK(want_rq && memcmp(sqlite3_column_blob(st, 0), want_rq, big) == 0);
	CHECK(want_rs && memcmp(sqlite3_column_blob(st, 1), want_rs, big) == 0);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK_EQ_INT(sqlite3_column_bytes(st, 0), hb_req.n);
	CHECK(memcmp(sqlite3_column_blob(st, 0), hb_req.p, hb_req.n) == 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(want_rq);
	free(want_rs);

	/* Dropped (the writer held up, a queue of one): taken, then freed. */
	struct store_opts o;
	store_opts_default(&o);
	o.queue_max = 1;
	o.when_full = STORE_FULL_DROP;
	o.log = capture_log;
	path = path_in("taken-drop.db");
	s = store_open(path, &o, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	db = dbopen(path);
	CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	int accepted = 0;
	for (int i = 0; i < 5; i++) {
		uint8_t *b = padded(&hb_req, big, (uint8_t)i);
		x = mkx(&conn7, 12, 0, i, &hb_req, NULL, 1700000000000000LL + i);
		x.request = b;
		x.request_len = (uint32_t)big;
		struct exchange_own o3 = {b, NULL};
		x.own = &o3;
		accepted += store_append(s, &x);
		CHECK(o3.request == NULL);
	}
	CHECK(accepted < 5);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	CHECK_EQ_INT(store_close(s), -1);
}

static void test_redaction(void)
{
	const char *path = path_in("sasl.db");
	char err[512];
	struct store *s = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	struct exchange x = mkx(&conn7, 36, 1, 4, &sa_req, &sa_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	/* A raw SASL/PLAIN token after SaslHandshake v0. */
	struct fb tok = {.n = 0}, tokr = {.n = 0};
	put(&tok, "\0bob\0hunter2-pw", 15);
	x = mkx(&conn7, 17, 0, 0, &tok, &tokr, 1700000000000100LL);
	x.flags |= EXCHANGE_SASL_RAW;
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_close(s), 0);
	CHECK(!file_has(path, "s3cret-pw"));
	CHECK(!file_has(path, "hunter2"));
	CHECK(!file_has(path, "server-final-secret"));
	CHECK(file_has(path, "alice") == false);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_STR(q_text(db, "SELECT json_extract(request_json, '$.authBytes') FROM exchanges WHERE api_key = 36"),
		     "[redacted 16 bytes]");
	CHECK_EQ_STR(q_text(db, "SELECT json_extract(response_json, '$.authBytes') FROM exchanges WHERE api_key = 36"),
		     "[redacted 19 bytes]");
	/* The raw frames are kept, re-encoded with the placeholder. */
	CHECK_EQ_INT(q_int(db, "SELECT instr(request_raw, CAST('[redacted 16 bytes]' AS BLOB)) > 0 FROM exchanges WHERE api_key = 36"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT instr(response_raw, CAST('[redacted 19 bytes]' AS BLOB)) > 0 FROM exchanges WHERE api_key = 36"), 1);
	CHECK_EQ_STR(q_text(db, "SELECT client_id FROM exchanges WHERE api_key = 36"), "test-client");
	CHECK_EQ_INT(q_int(db, "SELECT request_size FROM exchanges WHERE api_key = 36"), sa_req.n);
	/* The raw token keeps its length, not its bytes. */
	CHECK_EQ_STR(q_text(db, "SELECT CAST(request_raw AS TEXT) FROM exchanges WHERE api_key = 17"), "[redacted]*****");
	CHECK_EQ_INT(q_int(db, "SELECT request_json IS NULL FROM exchanges WHERE api_key = 17"), 1);
	sqlite3_close(db);

	/* Record values: hashed, then dropped. */
	struct store_opts o;
	store_opts_default(&o);
	o.values = STORE_REDACT_HASH;
	path = path_in("hash.db");
	s = store_open(path, &o, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	x = mkx(&conn7, 0, 3, 2, &pr_req, &pr_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 1, 4, 3, &fe_req, &fe_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_close(s), 0);
	CHECK(!file_has(path, "value-two"));
	CHECK(file_has(path, "k2")); /* keys are kept */
	char want[80], hex[65], sql[300];
	sha256_hex("value-two", 9, hex);
	snprintf(want, sizeof want, "sha256:%s", hex);
	db = dbopen(path);
	CHECK_EQ_STR(q_text(db, "SELECT value FROM records WHERE direction = 'fetch' AND \"offset\" = 101"), want);
	CHECK_EQ_INT(q_int(db, "SELECT value_size FROM records WHERE direction = 'fetch' AND \"offset\" = 101"), 9);
	CHECK_EQ_STR(q_text(db, "SELECT value FROM records WHERE direction = 'produce' AND \"offset\" = 101"), want);
	/* The frames were re-encoded with the digests: still kept, still decodable. */
	CHECK_EQ_INT(q_int(db, "SELECT request_raw IS NOT NULL AND response_raw IS NOT NULL FROM exchanges WHERE api_key = 0"), 1);
	snprintf(sql, sizeof sql, "SELECT instr(response_raw, CAST('%s' AS BLOB)) > 0 AND"
		 " instr(response_raw, CAST('value-two' AS BLOB)) = 0 FROM exchanges WHERE api_key = 1", want);
	CHECK_EQ_INT(q_int(db, sql), 1);
	sqlite3_close(db);

	o.values = STORE_REDACT_DROP;
	path = path_in("dropv.db");
	x = mkx(&conn7, 1, 4, 3, &fe_req, &fe_resp, 1700000000000000LL);
	db = record_one(path, &o, &x);
	if (!db)
		return;
	CHECK(!file_has(path, "value-two"));
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records WHERE value IS NULL AND value_size = 9"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT response_raw IS NOT NULL FROM exchanges"), 1);
	sqlite3_close(db);

	/* A Fetch response that stops decoding before its records (a count
	 * past the end) still holds the values in its bytes: it is not kept
	 * raw (found by fuzz_extract; before, the frame was kept whole). */
	static struct fb bad;
	bad = fe_resp;
	bad.p[8] = 0x7f; /* responses: count 0x7f000001 */
	path = path_in("dropbad.db");
	x = mkx(&conn7, 1, 4, 3, &fe_req, &bad, 1700000000000000LL);
	db = record_one(path, &o, &x);
	if (!db)
		return;
	CHECK(!file_has(path, "value-two"));
	CHECK_EQ_INT(q_int(db, "SELECT response_raw IS NULL AND request_raw IS NOT NULL"
			       " AND flags & 16 = 16 FROM exchanges"), 1);
	sqlite3_close(db);
}

static void test_reopen(void)
{
	const char *path = path_in("rot.db"), *moved = path_in("rot.db.1");
	char err[512];
	struct store *s = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	struct exchange x = mkx(&conn7, 12, 0, 1, &hb_req, &hb_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_flush(s), 0);
	CHECK(rename(path, moved) == 0);
	rename(path_in("rot.db-wal"), path_in("rot.db.1-wal"));
	rename(path_in("rot.db-shm"), path_in("rot.db.1-shm"));
	CHECK_EQ_INT(store_reopen(s), 0);
	x = mkx(&conn7, 12, 0, 2, &hb_req, &hb_resp, 1700000000001000LL);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 12, 0, 3, &hb_req, &hb_resp, 1700000000002000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_close(s), 0);
	sqlite3 *db = dbopen(moved);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sessions WHERE ended_us IS NOT NULL"), 1);
	sqlite3_close(db);
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 2);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM connections"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sessions WHERE ended_us IS NOT NULL"), 1);
	sqlite3_close(db);
}

/* A bulk load builds its indexes at the end; a writer that finds them
 * missing (a bulk load killed before its end) builds them on open. */
static void test_deferred_indexes(void)
{
	const char *path = path_in("bulk.db");
	struct store_opts o;
	store_opts_default(&o);
	o.defer_indexes = true;
	char err[512];
	struct store *s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 100; i++) {
		struct exchange x = mkx(&conn7, 0, 3, i, &pr_req, &pr_resp, 1700000000000000LL + i);
		CHECK(store_append(s, &x));
	}
	CHECK_EQ_INT(store_flush(s), 0);
	sqlite3 *db = dbopen(path);
	const char *q = "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN ("
			" 'exchanges_api', 'exchanges_error', 'exchanges_time', 'exchanges_client',"
			" 'records_topic', 'records_exchange')";
	CHECK_EQ_INT(q_int(db, q), 0);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records"), 200);
	sqlite3_close(db);
	CHECK_EQ_INT(store_close(s), 0);
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, q), 6);
	/* As if killed before the end: no indexes; the next writer adds them. */
	CHECK(sqlite3_exec(db, "DROP INDEX exchanges_api; DROP INDEX records_topic", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	s = store_open(path, NULL, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	CHECK_EQ_INT(store_close(s), 0);
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, q), 6);
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	sqlite3_close(db);
}

static void test_migration(void)
{
	const char *path = path_in("v1.db");
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	char *em = NULL;
	CHECK(sqlite3_exec(db, store_migration_sql(1), NULL, NULL, &em) == SQLITE_OK);
	char sql[1024];
	snprintf(sql, sizeof sql,
		 "PRAGMA application_id = %d; PRAGMA user_version = 1;"
		 "INSERT INTO schema_migrations VALUES(1, 0, 'v1');"
		 "INSERT INTO meta VALUES('application', 'kafkatap');"
		 "INSERT INTO sessions VALUES(1, '0.0.1', 'decode', 'old', 1, 2);"
		 "INSERT INTO exchanges(id, session_id, api_key, api_name, client_id, request_us,"
		 " response_us, latency_us, error_code, has_error, flags)"
		 " VALUES(1, 1, 3, 'Metadata', 'old-client', 1000, 1250, 250, 3, 1, 1);"
		 "INSERT INTO records(exchange_id, direction, topic, \"offset\", key, value)"
		 " VALUES(1, 'fetch', 't', 7, 'ab', 'hello'), (1, 'produce', 't', 0, 'ab', 'hello');",
		 STORE_APPLICATION_ID);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, &em) == SQLITE_OK);
	if (em)
		fprintf(stderr, "%s\n", em);
	sqlite3_free(em);
	sqlite3_close(db);

	char err[512];
	struct store *s = store_open(path, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	struct exchange x = mkx(&conn7, 12, 0, 1, &hb_req, &hb_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_close(s), 0);
	db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM schema_migrations"), STORE_SCHEMA_VERSION);
	CHECK_EQ_STR(q_text(db, "SELECT error_name FROM exchanges WHERE id = 1"), "UNKNOWN_TOPIC_OR_PARTITION");
	CHECK_EQ_INT(q_int(db, "SELECT unanswered FROM exchanges WHERE id = 1"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records WHERE exchange_id = 1 AND value_size = 5"), 2);
	/* Version 5: a produced record's offset is the broker's or NULL; the
	 * producer's numbering of older rows is gone, fetched ones are kept. */
	CHECK_EQ_STR(q_text(db, "SELECT group_concat(direction || '=' || coalesce(\"offset\", 'null'))"
			    " FROM records WHERE exchange_id = 1"), "fetch=7,produce=null");
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 2);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sessions"), 2);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'exchanges_api'"), 1);
	/* Version 4: the rows moved to exchange_rows, exchanges is a view
	 * computing the derived columns; the time index (version 3 dropped the
	 * one on request_us) is on the expression show filters on, and a time
	 * or client query through the view uses its index. */
	CHECK_EQ_STR(q_text(db, "SELECT type FROM sqlite_schema WHERE name = 'exchanges'"), "view");
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchange_rows"), 2);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'exchanges_client'"), 1);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'exchanges_time'"), 1);
	CHECK(strstr(q_plan(db, "SELECT id FROM exchanges WHERE coalesce(request_us, response_us) >= 5"),
		     "exchanges_time") != NULL);
	CHECK(strstr(q_plan(db, "SELECT id FROM exchanges WHERE client_id = 'x'"), "exchanges_client") != NULL);
	CHECK_EQ_STR(q_text(db, "SELECT api_name || ',' || client_id || ',' || latency_us || ',' ||"
			    " has_error || ',' || acks0 || ',' || malformed FROM exchanges WHERE id = 1"),
		     "Metadata,old-client,250,1,0,0");
	CHECK_EQ_STR(q_text(db, "SELECT api_name || ',' || (latency_us = response_us - request_us) || ','"
			    " || has_error || ',' || unanswered FROM exchanges WHERE id = 2"), "Heartbeat,1,1,0");
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges WHERE id = 1 AND api_key = 3"), 1);
	CHECK_EQ_STR(q_text(db, "SELECT error_name FROM exchanges WHERE id = 2"), "REBALANCE_IN_PROGRESS");
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	/* The view names every API this build knows (a new API needs a
	 * migration that recreates the view with its name). */
	int missing = 0;
	for (int k = 0; k < 32768; k++) {
		const char *name = schema_api_name(k);
		if (!name)
			continue;
		snprintf(sql, sizeof sql, "INSERT INTO exchange_rows(id, session_id, api_key) VALUES(%d, 1, %d)",
			 100000 + k, k);
		CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
		snprintf(sql, sizeof sql, "SELECT api_name FROM exchanges WHERE id = %d", 100000 + k);
		const char *got = q_text(db, sql);
		if (strcmp(got, name) != 0) {
			fprintf(stderr, "exchanges.api_name of API %d: %s, expected %s\n", k, got, name);
			missing++;
		}
	}
	CHECK_EQ_INT(missing, 0);
	CHECK(sqlite3_exec(db, "INSERT INTO exchange_rows(id, session_id, api_key) VALUES(99999, 1, 32767)",
			   NULL, NULL, NULL) == SQLITE_OK);
	CHECK_EQ_STR(q_text(db, "SELECT api_name FROM exchanges WHERE id = 99999"), "(null)");
	sqlite3_close(db);
}

static void test_bad_files(void)
{
	char err[512];
	/* Not SQLite at all. */
	const char *path = path_in("garbage.db");
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not a database ", f);
	fclose(f);
	struct store *s = store_open(path, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "not a database") != NULL);
	/* SQLite, but someone else's. */
	path = path_in("other.db");
	sqlite3 *db;
	sqlite3_open(path, &db);
	sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
	sqlite3_close(db);
	s = store_open(path, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "not a kafkatap database") != NULL);
	/* From a newer kafkatap. */
	path = path_in("newer.db");
	sqlite3_open(path, &db);
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE TABLE t(x); PRAGMA application_id = %d; PRAGMA user_version = 99",
		 STORE_APPLICATION_ID);
	sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	s = store_open(path, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer kafkatap") != NULL);
	/* A directory that does not exist. */
	path = path_in("no/such/dir.db");
	s = store_open(path, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, "no/such/dir.db") != NULL);
	CHECK(strstr(err, "No such file") != NULL);
}

/* Fill the store until writes fail; what was committed before stays. */
static void fill_until_full(const char *path, uint64_t max_db_bytes)
{
	struct store_opts o;
	store_opts_default(&o);
	o.max_db_bytes = max_db_bytes;
	o.batch_rows = 50;
	o.log = capture_log;
	logged[0] = '\0';
	char err[512];
	struct store *s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	static struct fb big;
	req_header(&big, 12, 0, 1, "test-client");
	memset(big.p + big.n, 'z', 2000);
	big.n += 2000; /* trailing bytes: reported, kept raw */
	struct store_counters c;
	for (int i = 0; i < 4000; i++) {
		struct exchange x = mkx(&conn7, 12, 0, i, &big, &hb_resp, 1700000000000000LL + i);
		store_append(s, &x);
		if (i % 200 == 199) {
			store_flush(s);
			store_get_counters(s, &c);
			if (c.errors)
				break;
		}
	}
	store_flush(s);
	store_get_counters(s, &c);
	CHECK(c.errors > 0);
	CHECK(c.written > 0);
	if (!c.written)
		fprintf(stderr, "%s: nothing written: %s\n", path, c.last_error);
	CHECK(strstr(c.last_error, path) != NULL);
	CHECK(strstr(c.last_error, "full") != NULL);
	CHECK(strstr(logged, "full") != NULL);
	uint64_t written = c.written;
	CHECK_EQ_INT(store_close(s), -1);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_STR(q_text(db, "PRAGMA integrity_check"), "ok");
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), written);
	sqlite3_close(db);
}

/* Another process holds the write lock longer than busy_ms: the batch
 * fails with a clear error, and writing resumes once the lock is gone. */
static void test_locked(void)
{
	const char *path = path_in("locked.db");
	struct store_opts o;
	store_opts_default(&o);
	o.busy_ms = 100;
	o.log = capture_log;
	char err[512];
	struct store *s = store_open(path, &o, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	sqlite3 *db = dbopen(path);
	CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
	struct exchange x = mkx(&conn7, 12, 0, 1, &hb_req, &hb_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_flush(s), -1);
	struct store_counters c;
	store_get_counters(s, &c);
	CHECK_EQ_INT(c.errors, 1);
	CHECK(strstr(c.last_error, path) != NULL);
	CHECK(strstr(c.last_error, "locked") != NULL);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	x = mkx(&conn7, 12, 0, 2, &hb_req, &hb_resp, 1700000000001000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_flush(s), 0);
	store_get_counters(s, &c);
	CHECK_EQ_INT(c.written, 1);
	CHECK_EQ_INT(store_close(s), -1);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 1);
	sqlite3_close(db);
}

/* A damaged file: a clear error naming it, at open or when writing; no crash. */
static void test_corrupt(void)
{
	const char *path = path_in("corrupt.db");
	char err[512];
	struct store *s = store_open(path, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 300; i++) {
		struct exchange x = mkx(&conn7, 0, 3, i, &pr_req, &pr_resp, 1700000000000000LL + i);
		store_append(s, &x);
	}
	CHECK_EQ_INT(store_close(s), 0);
	/* Scribble over every page but the first. */
	int fd = open(path, O_WRONLY);
	struct stat st;
	fstat(fd, &st);
	char junk[512];
	memset(junk, 0xA5, sizeof junk);
	for (off_t off = 4096 + 100; off + (off_t)sizeof junk < st.st_size; off += 4096)
		CHECK(pwrite(fd, junk, sizeof junk, off) == (ssize_t)sizeof junk);
	close(fd);
	struct store_opts o;
	store_opts_default(&o);
	o.log = capture_log;
	s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	if (!s) {
		CHECK(strstr(err, path) != NULL);
		return;
	}
	for (int i = 0; i < 300; i++) {
		struct exchange x = mkx(&conn7, 0, 3, i, &pr_req, &pr_resp, 1700000000000000LL + i);
		store_append(s, &x);
	}
	store_flush(s);
	struct store_counters c;
	store_get_counters(s, &c);
	if (c.errors) {
		CHECK(strstr(c.last_error, path) != NULL);
		CHECK(strstr(c.last_error, "malformed") != NULL || strstr(c.last_error, "corrupt") != NULL ||
		      strstr(c.last_error, "damaged") != NULL);
	}
	store_close(s);
}

static void test_full_and_readonly(void)
{
	fill_until_full(path_in("cap.db"), 1024 * 1024);

	/* A real full file system and a read-only one, when we may mount. */
	const char *mnt = path_in("mnt");
	mkdir(mnt, 0700);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
		printf("test_store: skipping the tmpfs checks (mount: %s)\n", strerror(errno));
		return;
	}
	char p[600];
	snprintf(p, sizeof p, "%s/full.db", mnt);
	fill_until_full(p, 0);

	unlink(p);
	strcat(p, "-wal");
	unlink(p);
	snprintf(p, sizeof p, "%s/full.db-shm", mnt);
	unlink(p);
	snprintf(p, sizeof p, "%s/ro.db", mnt);
	char err[512];
	struct store *s = store_open(p, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		fprintf(stderr, "%s\n", err);
	store_close(s);
	CHECK(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m") == 0);
	s = store_open(p, NULL, "decode", 0, NULL, err, sizeof err);
	CHECK(s == NULL);
	CHECK(strstr(err, p) != NULL);
	CHECK(strstr(err, "Read-only") != NULL || strstr(err, "read-only") != NULL);
	CHECK(umount(mnt) == 0);
}

/* Run a command's main with stdout going to a file; returns its status and
 * the output (static buffer). */
static char cmd_out[1 << 20];
static int run_cmd(int (*fn)(int, char **), int argc, char **argv)
{
	fflush(stdout);
	int saved = dup(1);
	const char *p = path_in("cmd.out");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	close(fd);
	int rc = fn(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(cmd_out, 1, sizeof cmd_out - 1, f) : 0;
	cmd_out[n] = '\0';
	if (f)
		fclose(f);
	return rc;
}

/* Several producer threads at once, through a tiny blocking queue. */
struct producer {
	struct store *s;
	int id;
};

static void *produce_thread(void *arg)
{
	struct producer *p = arg;
	struct exchange_conn c = {(uint64_t)(100 + p->id), "10.0.0.1:1", "10.0.0.2:9092", -1};
	for (int i = 0; i < 2000; i++) {
		struct exchange x = mkx(&c, 12, 0, i, &hb_req, &hb_resp, 1700000000000000LL + i);
		if (!store_append(p->s, &x))
			return (void *)1;
		if (i % 500 == 0)
			store_connection(p->s, &c, 1700000000000000LL);
	}
	store_connection_end(p->s, c.id, 1700000001000000LL, 1, 2, "done");
	return NULL;
}

static void test_threads(void)
{
	const char *path = path_in("threads.db");
	struct store_opts o;
	store_opts_default(&o);
	o.queue_max = 16;
	o.batch_rows = 100;
	char err[512];
	struct store *s = store_open(path, &o, "proxy", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	pthread_t th[4];
	struct producer pr[4];
	for (int i = 0; i < 4; i++) {
		pr[i] = (struct producer){s, i};
		pthread_create(&th[i], NULL, produce_thread, &pr[i]);
	}
	struct store_counters c;
	for (int i = 0; i < 20; i++) {
		store_get_counters(s, &c);
		CHECK(c.queued <= 16);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		CHECK(r == NULL);
	}
	CHECK_EQ_INT(store_close_counters(s, &c), 0);
	CHECK_EQ_INT(c.written, 8000);
	sqlite3 *db = dbopen(path);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges"), 8000);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM connections"), 4);
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM connections WHERE close_reason = 'done'"), 4);
	/* Each producer's exchanges are in its own order. */
	CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM exchanges a JOIN exchanges b ON a.connection_id ="
			       " b.connection_id AND a.seq < b.seq AND a.id > b.id"), 0);
	sqlite3_close(db);
}

/* show and stats on a recording without raw frames, and on a version-1 file. */
/* The JSON of the side whose records fill the records table leaves the
 * batches' records out when the raw frame is kept (each value is then
 * stored twice, not three times), and only then. */
static void test_json_records(void)
{
	static const char *const want_sql =
		"SELECT count(*) FROM exchanges WHERE api_key = 0 AND"
		" json_extract(request_json, '$.topicData[0].partitionData[0].records[0].recordCount') = 2"
		" AND json_type(request_json, '$.topicData[0].partitionData[0].records[0].records') %s";
	char sql[400];
	for (int k = 0; k < 3; k++) {
		struct store_opts o;
		store_opts_default(&o);
		o.keep_raw = k != 1;
		o.keep_records = k != 2;
		const char *path = path_in(k == 0 ? "js0.db" : k == 1 ? "js1.db" : "js2.db");
		sqlite3 *db = record_produce_fetch(path, &o);
		if (!db)
			return;
		bool omitted = k == 0;
		snprintf(sql, sizeof sql, want_sql, omitted ? "IS NULL" : "= 'array'");
		CHECK_EQ_INT(q_int(db, sql), 1);
		CHECK_EQ_INT(q_int(db, "SELECT json_type(response_json,"
				       " '$.responses[0].partitions[0].records[0].records') IS NULL"
				       " AND json_extract(response_json,"
				       " '$.responses[0].partitions[0].records[0].baseOffset') = 100"
				       " FROM exchanges WHERE api_key = 1"), omitted);
		CHECK_EQ_INT(q_int(db, "SELECT count(*) FROM records"), k == 2 ? 0 : 4);
		sqlite3_close(db);
		/* show rebuilds whole bodies from the raw frames. */
		if (k == 0) {
			char *a[] = {"show", "--json", (char *)path, NULL};
			CHECK_EQ_INT(run_cmd(show_main, 3, a), 0);
			CHECK(strstr(cmd_out, "\"value\":\"value-two\"") != NULL);
		}
	}
}

static void test_show_stats(void)
{
	const char *path = path_in("noraw.db");
	struct store_opts o;
	store_opts_default(&o);
	o.keep_raw = false;
	char err[512];
	struct store *s = store_open(path, &o, "decode", 0, NULL, err, sizeof err);
	CHECK(s != NULL);
	if (!s)
		return;
	struct exchange x = mkx(&conn7, 12, 0, 1, &hb_req, &hb_resp, 1700000000000000LL);
	CHECK(store_append(s, &x));
	x = mkx(&conn7, 0, 3, 2, &pr_req, &pr_resp, 1700000000001000LL);
	CHECK(store_append(s, &x));
	CHECK_EQ_INT(store_close(s), 0);
	char *a1[] = {"show", "--json", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(show_main, 3, a1), 0);
	CHECK(strstr(cmd_out, "\"request\":{\"groupId\":\"g1\",\"generationId\":5,\"memberId\":\"m1\"}") != NULL);
	CHECK(strstr(cmd_out, "\"name\":\"orders\"") != NULL);
	/* Without raw frames the stored JSON keeps the batches' records. */
	CHECK(strstr(cmd_out, "\"value\":\"value-two\"") != NULL);
	CHECK(strstr(cmd_out, "\"response\":{\"errorCode\":27}") != NULL);
	char *a2[] = {"show", "--api", "Produce", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(show_main, 4, a2), 0);
	CHECK(strstr(cmd_out, "Produce v3") != NULL);
	CHECK(strstr(cmd_out, "Heartbeat") == NULL);
	/* A recording edited by hand (or written by another tool): stored JSON
	 * spread over lines is printed on one, and text that is not JSON at all
	 * as null, so that --json output stays one JSON value per line. */
	sqlite3 *ed = dbopen(path);
	CHECK(sqlite3_exec(ed, "UPDATE exchange_rows SET request_json = '{\"groupId\":\n  \"g1\"}',"
			       " response_json = 'not json' || char(27) || '[2J' WHERE api_key = 12",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(ed);
	char *a6[] = {"show", "--json", "--api", "Heartbeat", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(show_main, 5, a6), 0);
	CHECK(strstr(cmd_out, "\"request\":{\"groupId\":\"g1\"},\"response\":null}\n") != NULL);
	CHECK(strchr(cmd_out, '\n') == cmd_out + strlen(cmd_out) - 1);
	CHECK(strchr(cmd_out, 27) == NULL);
	ed = dbopen(path);
	CHECK(sqlite3_exec(ed, "UPDATE connections SET client_addr = 'c' || char(27) || ']0;x' || char(7)",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(ed);
	char *a7[] = {"show", "--api", "Heartbeat", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(show_main, 4, a7), 0);
	CHECK(strstr(cmd_out, "c?]0;x? > ") != NULL);
	CHECK(strchr(cmd_out, 27) == NULL && strchr(cmd_out, 7) == NULL);
	/* Client ids are whatever a client sent: stats prints one with control
	 * characters escaped, as a JSON string. */
	ed = dbopen(path);
	CHECK(sqlite3_exec(ed, "UPDATE exchange_rows SET client_id = 'app' || char(27) || '[2J'"
			       " WHERE api_key = 0", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(ed);
	char *a3[] = {"stats", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(stats_main, 2, a3), 0);
	CHECK(strstr(cmd_out, "\"app\\u001b[2J\"") != NULL);
	CHECK(strchr(cmd_out, 27) == NULL);
	CHECK(strstr(cmd_out, "REBALANCE_IN_PROGRESS 1") != NULL);
	CHECK(strstr(cmd_out, "orders") != NULL);

	/* A version-1 file, read as it is (show and stats never migrate). */
	path = path_in("v1-read.db");
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, store_migration_sql(1), NULL, NULL, NULL) == SQLITE_OK);
	char sql[600];
	snprintf(sql, sizeof sql,
		 "PRAGMA application_id = %d; PRAGMA user_version = 1;"
		 "INSERT INTO sessions VALUES(1, '0.0.1', 'decode', 'old', 1, 2);"
		 "INSERT INTO connections(id, session_id, conn_id, client_addr, broker_addr)"
		 " VALUES(1, 1, 1, 'c:1', 'b:2');"
		 "INSERT INTO exchanges(id, session_id, connection_id, api_key, api_version, request_us,"
		 " response_us, latency_us, error_code, has_error, flags, correlation_id)"
		 " VALUES(1, 1, 1, 12, 0, 1700000000000000, 1700000000001000, 1000, 27, 1, 0, 1);"
		 "INSERT INTO records(exchange_id, direction, topic, key, value) VALUES(1, 'fetch', 't', 'ab', 'hello');",
		 STORE_APPLICATION_ID);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	char *a4[] = {"stats", "--json", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(stats_main, 3, a4), 0);
	CHECK(strstr(cmd_out, "\"fetched_bytes\":7") != NULL);
	CHECK(strstr(cmd_out, "\"REBALANCE_IN_PROGRESS\":1") != NULL);
	char *a5[] = {"show", (char *)path, NULL};
	CHECK_EQ_INT(run_cmd(show_main, 2, a5), 0);
	CHECK(strstr(cmd_out, "Heartbeat v0 corr=1") != NULL);
	sqlite3 *chk = dbopen(path);
	CHECK_EQ_INT(q_int(chk, "PRAGMA user_version"), 1); /* not migrated by readers */
	sqlite3_close(chk);
}

static void test_parse_time(void)
{
	int64_t us = 0;
	CHECK(store_parse_time("2024-05-01", &us));
	CHECK_EQ_INT(us, 1714521600000000LL);
	CHECK(store_parse_time("2024-05-01T10:00:00Z", &us));
	CHECK_EQ_INT(us, 1714557600000000LL);
	CHECK(store_parse_time("2024-05-01 10:00:00.25", &us));
	CHECK_EQ_INT(us, 1714557600250000LL);
	CHECK(store_parse_time("2024-05-01T10:00+00:00", &us));
	CHECK_EQ_INT(us, 1714557600000000LL);
	CHECK(store_parse_time("1714557600", &us));
	CHECK_EQ_INT(us, 1714557600000000LL);
	CHECK(store_parse_time("1714557600.5", &us));
	CHECK_EQ_INT(us, 1714557600500000LL);
	CHECK(!store_parse_time("yesterday", &us));
	CHECK(!store_parse_time("2024-13-01", &us));
	CHECK(!store_parse_time("2024-05-01T25:00", &us));
	CHECK(!store_parse_time("", &us));
	CHECK(!store_parse_time("-5", &us));
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/kt-test-store-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	build_frames();
	test_sha256();
	test_round_trip();
	test_connection_node();
	test_row_order();
	test_records_multi();
	test_json_records();
	test_lazy_rows();
	test_produce_offsets();
	test_records_two_writers();
	test_checkpointer();
	test_queue_drop();
	test_taken_frames();
	test_redaction();
	test_reopen();
	test_deferred_indexes();
	test_migration();
	test_bad_files();
	test_threads();
	test_show_stats();
	test_parse_time();
	test_locked();
	test_corrupt();
	test_full_and_readonly();
	if (!unit_failures) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	} else {
		fprintf(stderr, "files kept in %s\n", tmpdir);
	}
	return unit_done("test_store");
}
