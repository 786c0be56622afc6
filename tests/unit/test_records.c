/* Unit tests for records/: CRC-32C and CRC-32 against their check values;
 * every codec round-trips (incl. snappy xerial framing and the KAFKA-3160
 * lz4 header checksum); record batches built here with the cursor writer
 * decode to exactly the values put in (uncompressed and each codec, null
 * keys/values, headers, control batches, transactional and LogAppendTime
 * attributes); legacy magic 0/1 message sets plain and compressed; every kind
 * of damage gives its located error while the next batch still decodes;
 * records_encode_batch gives back the bytes it was decoded from; and the same
 * bytes decode the same whatever the thread decoded before. */
#include "config.h"
#include "records/records.h"
#include "records/compress.h"
#include "records/crc32c.h"
#include "proto/cursor.h"
#include "output/view.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

#define FRAME_OFF 1000 /* where the records bytes sit in the pretend frame */

/* ---- builders ---- */

struct thdr {
	const char *k;
	const char *v;
	int32_t vlen; /* -1: null */
};

struct trec {
	int64_t tsd;
	int32_t od;
	const char *key;
	int32_t klen; /* -1: null */
	const char *val;
	int32_t vlen; /* -1: null */
	int nh;
	struct thdr h[3];
};

static void put_var_bytes(struct buf *b, const void *p, int32_t len)
{
	cursor_write_varint(b, len);
	if (len > 0)
		buf_append(b, p, (size_t)len);
}

static void put_record(struct buf *b, const struct trec *r)
{
	struct buf x;
	buf_init(&x);
	cursor_write_u8(&x, 0);
	cursor_write_varlong(&x, r->tsd);
	cursor_write_varint(&x, r->od);
	put_var_bytes(&x, r->key, r->klen);
	put_var_bytes(&x, r->val, r->vlen);
	cursor_write_varint(&x, r->nh);
	for (int i = 0; i < r->nh; i++) {
		put_var_bytes(&x, r->h[i].k, (int32_t)strlen(r->h[i].k));
		put_var_bytes(&x, r->h[i].v, r->h[i].vlen);
	}
	cursor_write_varint(b, (int32_t)x.len);
	buf_append(b, x.p, x.len);
	buf_free(&x);
}

struct tbatch {
	int64_t base_offset;
	int32_t ple;
	int16_t attr;
	int32_t lod;
	int64_t base_ts, max_ts, pid;
	int16_t epoch;
	int32_t seq;
	int32_t count;       /* 0: the number of records */
	unsigned enc_flags;  /* compress_encode flags */
	const uint8_t *raw;  /* record bytes to use instead of recs */
	size_t rawlen;
	bool as_is;          /* raw is already compressed: write it unchanged */
};

static const struct tbatch batch_defaults = {
	100, 7, 0, 2, 1700000000000, 1700000000030, 4242, 3, 17, 0, 0, NULL, 0, false,
};

/* A RecordBatch; returns its offset in out. */
static size_t put_batch(struct buf *out, const struct tbatch *s, const struct trec *recs, int n)
{
	struct buf body;
	buf_init(&body);
	if (s->raw)
		buf_append(&body, s->raw, s->rawlen);
	for (int i = 0; i < n; i++)
		put_record(&body, &recs[i]);
	size_t at = out->len;
	cursor_write_i64(out, s->base_offset);
	cursor_write_i32(out, 0);
	cursor_write_i32(out, s->ple);
	cursor_write_u8(out, 2);
	cursor_write_u32(out, 0);
	cursor_write_i16(out, s->attr);
	cursor_write_i32(out, s->lod);
	cursor_write_i64(out, s->base_ts);
	cursor_write_i64(out, s->max_ts);
	cursor_write_i64(out, s->pid);
	cursor_write_i16(out, s->epoch);
	cursor_write_i32(out, s->seq);
	cursor_write_i32(out, s->count ? s->count : n);
	int codec = s->attr & 7;
	if (codec >= 1 && codec <= 4 && compress_built_in(codec) && !s->as_is)
		CHECK(compress_encode(codec, body.p, body.len, s->enc_flags, out));
	else
		buf_append(out, body.p, body.len);
	buf_free(&body);
	cursor_patch_i32(out, at + 8, (int32_t)(out->len - at - 12));
	cursor_patch_i32(out, at + 17,
			 (int32_t)crc32c_update(0, out->p + at + 21, out->len - at - 21));
	return at;
}

/* A legacy message (magic 0 or 1); returns its offset in out. */
static size_t put_message(struct buf *out, int64_t off, int8_t magic, int8_t attr, int64_t ts,
			  const void *k, int32_t klen, const void *v, int32_t vlen)
{
	size_t at = out->len;
	cursor_write_i64(out, off);
	cursor_write_i32(out, 0);
	cursor_write_u32(out, 0);
	cursor_write_u8(out, (uint8_t)magic);
	cursor_write_u8(out, (uint8_t)attr);
	if (magic == 1)
		cursor_write_i64(out, ts);
	cursor_write_i32(out, klen);
	if (klen > 0)
		buf_append(out, k, (size_t)klen);
	cursor_write_i32(out, vlen);
	if (vlen > 0)
		buf_append(out, v, (size_t)vlen);
	cursor_patch_i32(out, at + 8, (int32_t)(out->len - at - 12));
	cursor_patch_i32(out, at + 12,
			 (int32_t)crc32c_ieee_update(0, out->p + at + 16, out->len - at - 16));
	return at;
}

/* ---- decode and look ---- */

static tree_ref decode_opts(struct tree *t, const struct buf *b, const struct records_opts *o)
{
	tree_reset(t);
	tree_ref root = tree_add(t, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
	tree_node(t, root)->v.b.p = b->p;
	tree_node(t, root)->v.b.len = (uint32_t)b->len;
	CHECK(records_decode(t, root, FRAME_OFF, (void *)(uintptr_t)o));
	return root;
}

static tree_ref decode(struct tree *t, const struct buf *b) { return decode_opts(t, b, NULL); }

static int64_t geti(const struct tree *t, tree_ref p, const char *name)
{
	return tree_get_int(t, p, name, -999999);
}

/* A string/bytes child as a C string ("(absent)", "(null)"). */
static const char *gets(const struct tree *t, tree_ref p, const char *name)
{
	static char bufs[4][1024];
	static int k;
	char *s = bufs[k++ & 3];
	tree_ref n = tree_child(t, p, name);
	if (!n)
		return "(absent)";
	const struct tree_node *nd = tree_node(t, n);
	if (nd->flags & TREE_F_NULL)
		return "(null)";
	size_t len = nd->v.b.len < 1023 ? nd->v.b.len : 1023;
	memcpy(s, nd->v.b.p, len);
	s[len] = '\0';
	return s;
}

static const struct tree_node *child(const struct tree *t, tree_ref p, const char *name)
{
	tree_ref n = tree_child(t, p, name);
	return n ? tree_node(t, n) : NULL;
}

/* Every node under r is flagged TREE_F_SYNTH. */
static bool all_synth(const struct tree *t, tree_ref r)
{
	for (tree_ref c = tree_node(t, r)->first; c; c = tree_node(t, c)->next) {
		if (!(tree_node(t, c)->flags & TREE_F_SYNTH) || !all_synth(t, c))
			return false;
	}
	return true;
}

/* Every bytes/string value under r points inside [lo, lo + n). */
static bool all_values_in(const struct tree *t, tree_ref r, const uint8_t *lo, size_t n,
			  bool inside)
{
	for (tree_ref c = tree_node(t, r)->first; c; c = tree_node(t, c)->next) {
		const struct tree_node *nd = tree_node(t, c);
		if ((nd->type == SCHEMA_BYTES || (nd->type == SCHEMA_STRING && nd->name &&
						  strcmp(nd->name, "key") == 0)) &&
		    !(nd->flags & TREE_F_NULL)) {
			bool in = nd->v.b.p >= lo && nd->v.b.p + nd->v.b.len <= lo + n;
			if (in != inside)
				return false;
		}
		if (!all_values_in(t, c, lo, n, inside))
			return false;
	}
	return true;
}

/* ---- fixtures ---- */

static const struct trec sample[3] = {
	{0, 0, "k0", 2, "v0", 2, 2, {{"h1", "x", 1}, {"h2", NULL, -1}, {NULL, NULL, 0}}},
	{12, 1, NULL, -1, "hello", 5, 0, {{NULL, NULL, 0}}},
	{30, 2, "k2", 2, NULL, -1, 1, {{"trace", "", 0}, {NULL, NULL, 0}}},
};

/* Check a batch node decoded from put_batch(batch_defaults + attr, sample). */
static void check_sample(const struct tree *t, tree_ref b, int16_t attr, const char *codec)
{
	CHECK_EQ_INT(geti(t, b, "baseOffset"), 100);
	CHECK_EQ_INT(geti(t, b, "partitionLeaderEpoch"), 7);
	CHECK_EQ_INT(geti(t, b, "magic"), 2);
	CHECK_EQ_INT(geti(t, b, "crcValid"), 1);
	CHECK(!tree_child(t, b, "crcComputed"));
	CHECK(!tree_child(t, b, "error"));
	CHECK_EQ_INT(geti(t, b, "attributes"), attr);
	CHECK_EQ_STR(gets(t, b, "compression"), codec);
	CHECK_EQ_STR(gets(t, b, "timestampType"), "CreateTime");
	CHECK_EQ_INT(geti(t, b, "isTransactional"), 0);
	CHECK_EQ_INT(geti(t, b, "isControl"), 0);
	CHECK_EQ_INT(geti(t, b, "lastOffsetDelta"), 2);
	CHECK_EQ_INT(geti(t, b, "baseTimestamp"), 1700000000000);
	CHECK_EQ_INT(geti(t, b, "maxTimestamp"), 1700000000030);
	CHECK_EQ_INT(geti(t, b, "producerId"), 4242);
	CHECK_EQ_INT(geti(t, b, "producerEpoch"), 3);
	CHECK_EQ_INT(geti(t, b, "baseSequence"), 17);
	CHECK_EQ_INT(geti(t, b, "recordCount"), 3);
	tree_ref recs = tree_child(t, b, "records");
	CHECK(recs && tree_node(t, recs)->type == SCHEMA_ARRAY);
	CHECK_EQ_INT(tree_node(t, recs)->count, 3);
	tree_ref r0 = tree_child_at(t, recs, 0), r1 = tree_child_at(t, recs, 1),
		 r2 = tree_child_at(t, recs, 2);
	CHECK(r0 && tree_node(t, r0)->name == NULL && tree_node(t, r0)->type == SCHEMA_STRUCT);
	CHECK_EQ_INT(geti(t, r0, "offset"), 100);
	CHECK_EQ_INT(geti(t, r0, "timestamp"), 1700000000000);
	CHECK_EQ_INT(geti(t, r0, "offsetDelta"), 0);
	CHECK_EQ_INT(geti(t, r0, "timestampDelta"), 0);
	CHECK_EQ_INT(geti(t, r0, "attributes"), 0);
	CHECK_EQ_STR(gets(t, r0, "key"), "k0");
	CHECK_EQ_STR(gets(t, r0, "value"), "v0");
	tree_ref hs = tree_child(t, r0, "headers");
	CHECK(hs && tree_node(t, hs)->count == 2);
	CHECK_EQ_STR(gets(t, tree_child_at(t, hs, 0), "key"), "h1");
	CHECK_EQ_STR(gets(t, tree_child_at(t, hs, 0), "value"), "x");
	CHECK_EQ_STR(gets(t, tree_child_at(t, hs, 1), "key"), "h2");
	CHECK_EQ_STR(gets(t, tree_child_at(t, hs, 1), "value"), "(null)");
	CHECK(child(t, tree_child_at(t, hs, 0), "key")->type == SCHEMA_STRING);
	CHECK(child(t, r0, "key")->type == SCHEMA_BYTES);
	CHECK_EQ_INT(geti(t, r1, "offset"), 101);
	CHECK_EQ_INT(geti(t, r1, "timestamp"), 1700000000012);
	CHECK_EQ_STR(gets(t, r1, "key"), "(null)");
	CHECK_EQ_STR(gets(t, r1, "value"), "hello");
	CHECK_EQ_INT(tree_node(t, tree_child(t, r1, "headers"))->count, 0);
	CHECK_EQ_INT(geti(t, r2, "offset"), 102);
	CHECK_EQ_INT(geti(t, r2, "timestamp"), 1700000000030);
	CHECK_EQ_STR(gets(t, r2, "key"), "k2");
	CHECK_EQ_STR(gets(t, r2, "value"), "(null)");
	hs = tree_child(t, r2, "headers");
	CHECK_EQ_STR(gets(t, tree_child_at(t, hs, 0), "key"), "trace");
	CHECK_EQ_STR(gets(t, tree_child_at(t, hs, 0), "value"), "");
	CHECK(!tree_child(t, r0, "controlType"));
}

/* ---- tests ---- */

static void test_crc(void)
{
	const uint8_t *nine = (const uint8_t *)"123456789";
	CHECK_EQ_INT(crc32c_update(0, nine, 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c_update_sw(0, nine, 9), 0xE3069283u);
	CHECK_EQ_INT(crc32c_ieee_update(0, nine, 9), 0xCBF43926u);
	CHECK_EQ_INT(crc32c_update(crc32c_update(0, nine, 4), nine + 4, 5), 0xE3069283u);
	static uint8_t data[100003];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 131 + 7 + (i >> 9));
	/* The hardware and table paths agree at every length and alignment,
	 * including around the interleaved blocks (3 x 256 and 3 x 8192 bytes). */
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= 1031; n += 37)
			CHECK_EQ_INT(crc32c_update(0, data + off, n), crc32c_update_sw(0, data + off, n));
	static const size_t lens[] = {767, 768, 769, 1600, 24575, 24576, 24577, 50000, 100000};
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		CHECK_EQ_INT(crc32c_update(0, data + 3, lens[k]), crc32c_update_sw(0, data + 3, lens[k]));
		CHECK_EQ_INT(crc32c_update(0x12345678, data, lens[k]),
			     crc32c_update_sw(0x12345678, data, lens[k]));
	}
}

static void test_compress_roundtrip(void)
{
	size_t n = 200000;
	uint8_t *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)((i / 7) % 251 ^ (i % 13));
	static const unsigned flags[] = {0, COMPRESS_ENC_SNAPPY_RAW, COMPRESS_ENC_LZ4_KAFKA_HC};
	for (int codec = 0; codec <= 4; codec++) {
		if (!compress_built_in(codec))
			continue;
		for (size_t f = 0; f < 3; f++) {
			struct buf c, d;
			buf_init(&c);
			buf_init(&d);
			CHECK(compress_encode(codec, in, n, flags[f], &c));
			char err[128];
			CHECK_EQ_INT(compress_decode(codec, c.p, c.len, n, &d, err, sizeof err), COMPRESS_OK);
			CHECK(d.len == n && memcmp(d.p, in, n) == 0);
			/* One byte less than the data is refused, not overrun. */
			buf_reset(&d);
			CHECK_EQ_INT(compress_decode(codec, c.p, c.len, n - 1, &d, err, sizeof err),
				     COMPRESS_LIMIT);
			CHECK(d.len <= n - 1 + 1);
			/* Truncated compressed data is an error, never a crash. */
			if (codec != COMPRESS_NONE) {
				buf_reset(&d);
				CHECK_EQ_INT(compress_decode(codec, c.p, c.len / 2, n, &d, err, sizeof err),
					     COMPRESS_CORRUPT);
			}
			buf_free(&c);
			buf_free(&d);
		}
	}
#ifdef HAVE_SNAPPY
	{ /* xerial framing: the magic, two version ints, 32 KiB blocks */
		struct buf c;
		buf_init(&c);
		CHECK(compress_encode(COMPRESS_SNAPPY, in, n, 0, &c));
		CHECK(c.len > 16 && memcmp(c.p, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16) == 0);
		buf_free(&c);
	}
#endif
#ifdef HAVE_LZ4
	{ /* KAFKA-3160: the checksum byte differs, and both decode */
		struct buf a, b, d;
		buf_init(&a);
		buf_init(&b);
		buf_init(&d);
		CHECK(compress_encode(COMPRESS_LZ4, in, 1000, 0, &a));
		CHECK(compress_encode(COMPRESS_LZ4, in, 1000, COMPRESS_ENC_LZ4_KAFKA_HC, &b));
		CHECK(a.len == b.len && a.p[6] != b.p[6] && memcmp(a.p + 7, b.p + 7, a.len - 7) == 0);
		CHECK_EQ_INT(compress_decode(COMPRESS_LZ4, b.p, b.len, 1000, &d, NULL, 0), COMPRESS_OK);
		CHECK(d.len == 1000 && memcmp(d.p, in, 1000) == 0);
		/* any other wrong checksum is still refused */
		b.p[6] ^= 0x55;
		buf_reset(&d);
		CHECK_EQ_INT(compress_decode(COMPRESS_LZ4, b.p, b.len, 1000, &d, NULL, 0),
			     COMPRESS_CORRUPT);
		buf_free(&a);
		buf_free(&b);
		buf_free(&d);
	}
#endif
	{
		char err[128];
		struct buf d;
		buf_init(&d);
		CHECK_EQ_INT(compress_decode(7, in, 10, 100, &d, err, sizeof err), COMPRESS_UNSUPPORTED);
		CHECK_EQ_STR(err, "unknown compression codec 7");
		buf_free(&d);
	}
	free(in);
}

static void test_uncompressed(void)
{
	struct tree t;
	tree_init(&t);
	struct buf b;
	buf_init(&b);
	put_batch(&b, &batch_defaults, sample, 3);
	tree_ref root = decode(&t, &b);
	CHECK_EQ_INT(tree_node(&t, root)->count, 1);
	tree_ref bt = tree_child_at(&t, root, 0);
	CHECK(tree_node(&t, bt)->name == NULL && tree_node(&t, bt)->type == SCHEMA_STRUCT);
	CHECK_EQ_INT(geti(&t, bt, "batchLength"), b.len - 12);
	CHECK_EQ_INT(geti(&t, bt, "crc"), crc32c_update(0, b.p + 21, b.len - 21));
	CHECK(child(&t, bt, "crc")->type == SCHEMA_UINT32);
	check_sample(&t, bt, 0, "none");
	CHECK(all_synth(&t, root));
	/* Offsets are frame offsets: the batch at FRAME_OFF, the first record's
	 * key after the 61-byte header, length, attributes, 2 deltas, key length. */
	CHECK_EQ_INT(tree_node(&t, bt)->offset, FRAME_OFF);
	CHECK_EQ_INT(child(&t, bt, "recordCount")->offset, FRAME_OFF + 57);
	tree_ref r0 = tree_child_at(&t, tree_child(&t, bt, "records"), 0);
	CHECK_EQ_INT(child(&t, r0, "key")->offset, FRAME_OFF + 61 + 5);
	/* Zero-copy: values point into the frame, nothing is owned. */
	CHECK(all_values_in(&t, root, b.p, b.len, true));
	CHECK_EQ_INT(t.blob_bytes, 0);
	buf_free(&b);
	tree_free(&t);
}

static void test_codecs(void)
{
	static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
	struct tree t;
	tree_init(&t);
	for (int codec = 1; codec <= 4; codec++) {
		if (!compress_built_in(codec))
			continue;
		for (unsigned raw = 0; raw < (codec == COMPRESS_SNAPPY ? 2u : 1u); raw++) {
			struct buf b;
			buf_init(&b);
			struct tbatch s = batch_defaults;
			s.attr = (int16_t)codec;
			s.enc_flags = raw ? COMPRESS_ENC_SNAPPY_RAW : 0;
			put_batch(&b, &s, sample, 3);
			put_batch(&b, &batch_defaults, sample, 3); /* and a plain one after */
			tree_ref root = decode(&t, &b);
			CHECK_EQ_INT(tree_node(&t, root)->count, 2);
			check_sample(&t, tree_child_at(&t, root, 0), (int16_t)codec, names[codec]);
			check_sample(&t, tree_child_at(&t, root, 1), 0, "none");
			/* Decompressed values live in owned memory, not the frame. */
			CHECK(t.blob_bytes > 0);
			CHECK(all_values_in(&t, tree_child_at(&t, root, 0), b.p, b.len, false));
			CHECK(all_values_in(&t, tree_child_at(&t, root, 1), b.p, b.len, true));
			CHECK(all_synth(&t, root));
			buf_free(&b);
		}
	}
	tree_free(&t);
}

static void test_control_and_attrs(void)
{
	struct tree t;
	tree_init(&t);
	struct buf b;
	buf_init(&b);
	/* COMMIT then ABORT markers: key (version 0, type), value (version 0, epoch). */
	static const char commit_key[] = {0, 0, 0, 1}, abort_key[] = {0, 0, 0, 0};
	static const char marker_val[] = {0, 0, 0, 0, 0, 9};
	struct trec m = {0, 0, commit_key, 4, marker_val, 6, 0, {{NULL, NULL, 0}}};
	struct tbatch s = batch_defaults;
	s.attr = 0x30; /* transactional control batch */
	s.lod = 0;
	put_batch(&b, &s, &m, 1);
	m.key = abort_key;
	put_batch(&b, &s, &m, 1);
	/* LogAppendTime, transactional: record timestamps are maxTimestamp. */
	s = batch_defaults;
	s.attr = 0x18;
	put_batch(&b, &s, sample, 3);
	tree_ref root = decode(&t, &b);
	CHECK_EQ_INT(tree_node(&t, root)->count, 3);
	tree_ref c0 = tree_child_at(&t, root, 0), c1 = tree_child_at(&t, root, 1);
	CHECK_EQ_INT(geti(&t, c0, "isControl"), 1);
	CHECK_EQ_INT(geti(&t, c0, "isTransactional"), 1);
	tree_ref rec = tree_child_at(&t, tree_child(&t, c0, "records"), 0);
	CHECK_EQ_STR(gets(&t, rec, "controlType"), "COMMIT");
	CHECK_EQ_INT(geti(&t, rec, "coordinatorEpoch"), 9);
	rec = tree_child_at(&t, tree_child(&t, c1, "records"), 0);
	CHECK_EQ_STR(gets(&t, rec, "controlType"), "ABORT");
	CHECK_EQ_INT(geti(&t, rec, "coordinatorEpoch"), 9);
	tree_ref la = tree_child_at(&t, root, 2);
	CHECK_EQ_STR(gets(&t, la, "timestampType"), "LogAppendTime");
	CHECK_EQ_INT(geti(&t, la, "isTransactional"), 1);
	CHECK_EQ_INT(geti(&t, la, "isControl"), 0);
	for (uint32_t i = 0; i < 3; i++) {
		rec = tree_child_at(&t, tree_child(&t, la, "records"), i);
		CHECK_EQ_INT(geti(&t, rec, "timestamp"), 1700000000030);
	}
	CHECK_EQ_INT(geti(&t, rec, "timestampDelta"), 30);
	CHECK(all_synth(&t, root));
	CHECK_EQ_INT(t.blob_bytes, 0);

	/* A control type Kafka does not know yet, and a short key. */
	buf_reset(&b);
	static const char odd_key[] = {0, 0, 0, 42};
	m.key = odd_key;
	s = batch_defaults;
	s.attr = 0x30;
	put_batch(&b, &s, &m, 1);
	m.key = "x";
	m.klen = 1;
	put_batch(&b, &s, &m, 1);
	root = decode(&t, &b);
	rec = tree_child_at(&t, tree_child(&t, tree_child_at(&t, root, 0), "records"), 0);
	CHECK_EQ_STR(gets(&t, rec, "controlType"), "UNKNOWN(42)");
	CHECK(!tree_child(&t, rec, "coordinatorEpoch"));
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 1), "error"),
		     "record 0: control record key of 1 bytes, expected 4 at offset 1144");
	/* 1144 = FRAME_OFF + 78 (the first batch) + 61 (header) + 5 (to the key) */
	buf_free(&b);
	tree_free(&t);
}

static void test_legacy(void)
{
	struct tree t;
	tree_init(&t);
	struct buf b, inner, z;
	buf_init(&b);
	buf_init(&inner);
	buf_init(&z);
	/* magic 0: no timestamp; magic 1: timestamp */
	put_message(&b, 5, 0, 0, 0, "k", 1, "v0", 2);
	put_message(&b, 6, 1, 0, 1600000000000, NULL, -1, "v1", 2);
	put_message(&b, 7, 1, 0x08, 1600000000001, "k", 1, NULL, -1);
	tree_ref root = decode(&t, &b);
	CHECK_EQ_INT(tree_node(&t, root)->count, 3);
	tree_ref m0 = tree_child_at(&t, root, 0), m1 = tree_child_at(&t, root, 1),
		 m2 = tree_child_at(&t, root, 2);
	CHECK_EQ_INT(geti(&t, m0, "offset"), 5);
	CHECK_EQ_INT(geti(&t, m0, "messageSize"), 4 + 1 + 1 + 4 + 1 + 4 + 2);
	CHECK_EQ_INT(geti(&t, m0, "crcValid"), 1);
	CHECK_EQ_INT(geti(&t, m0, "magic"), 0);
	CHECK_EQ_INT(geti(&t, m0, "attributes"), 0);
	CHECK_EQ_STR(gets(&t, m0, "compression"), "none");
	CHECK(!tree_child(&t, m0, "timestamp"));
	CHECK_EQ_STR(gets(&t, m0, "key"), "k");
	CHECK_EQ_STR(gets(&t, m0, "value"), "v0");
	CHECK_EQ_INT(geti(&t, m1, "magic"), 1);
	CHECK_EQ_INT(geti(&t, m1, "timestamp"), 1600000000000);
	CHECK_EQ_STR(gets(&t, m1, "timestampType"), "CreateTime");
	CHECK_EQ_STR(gets(&t, m1, "key"), "(null)");
	CHECK_EQ_STR(gets(&t, m2, "timestampType"), "LogAppendTime");
	CHECK_EQ_STR(gets(&t, m2, "value"), "(null)");
	CHECK_EQ_INT(t.blob_bytes, 0);
	CHECK(all_synth(&t, root));

	/* Compressed wrappers. magic 0: inner offsets are absolute. magic 1:
	 * relative (KIP-31), the wrapper carrying the last inner offset. */
	for (int codec = 1; codec <= 3; codec++) {
		if (!compress_built_in(codec))
			continue;
		for (int magic = 0; magic <= 1; magic++) {
			buf_reset(&inner);
			buf_reset(&z);
			buf_reset(&b);
			int64_t first = magic ? 0 : 50;
			for (int i = 0; i < 3; i++) {
				char v[16];
				snprintf(v, sizeof v, "val%d", i);
				put_message(&inner, first + i, (int8_t)magic, 0, 1600000000000 + i, NULL, -1,
					    v, 4);
			}
			/* Old lz4 (magic 0) used the broken header checksum. */
			unsigned fl = (codec == COMPRESS_LZ4 && magic == 0) ? COMPRESS_ENC_LZ4_KAFKA_HC : 0;
			CHECK(compress_encode(codec, inner.p, inner.len, fl, &z));
			put_message(&b, 52, (int8_t)magic, (int8_t)(codec | (magic ? 0x08 : 0)),
				    1600000009999, NULL, -1, z.p, (int32_t)z.len);
			put_message(&b, 53, 0, 0, 0, NULL, -1, "after", 5);
			root = decode(&t, &b);
			CHECK_EQ_INT(tree_node(&t, root)->count, 2);
			tree_ref w = tree_child_at(&t, root, 0);
			CHECK(!tree_child(&t, w, "error"));
			CHECK_EQ_INT(geti(&t, w, "crcValid"), 1);
			CHECK_EQ_STR(gets(&t, w, "compression"), compress_name(codec));
			tree_ref ms = tree_child(&t, w, "messages");
			CHECK(ms && tree_node(&t, ms)->count == 3);
			for (uint32_t i = 0; i < 3; i++) {
				tree_ref im = tree_child_at(&t, ms, i);
				char v[16];
				snprintf(v, sizeof v, "val%u", i);
				CHECK_EQ_INT(geti(&t, im, "offset"), 50 + i);
				CHECK_EQ_STR(gets(&t, im, "value"), v);
				CHECK_EQ_INT(geti(&t, im, "crcValid"), 1);
				if (magic) {
					CHECK_EQ_INT(geti(&t, im, "relativeOffset"), i);
					/* the wrapper's LogAppendTime replaces inner timestamps */
					CHECK_EQ_INT(geti(&t, im, "timestamp"), 1600000009999);
				}
			}
			CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 1), "value"), "after");
			CHECK(all_synth(&t, root));
			CHECK(t.blob_bytes > 0);
		}
	}
	/* A producer's magic 1 wrapper (offset 0): inner offsets stay as written. */
	if (compress_built_in(COMPRESS_GZIP)) {
		buf_reset(&inner);
		buf_reset(&z);
		buf_reset(&b);
		put_message(&inner, 0, 1, 0, 1, NULL, -1, "a", 1);
		put_message(&inner, 1, 1, 0, 2, NULL, -1, "b", 1);
		CHECK(compress_encode(COMPRESS_GZIP, inner.p, inner.len, 0, &z));
		put_message(&b, 0, 1, 1, 3, NULL, -1, z.p, (int32_t)z.len);
		root = decode(&t, &b);
		tree_ref ms = tree_child(&t, tree_child_at(&t, root, 0), "messages");
		CHECK_EQ_INT(geti(&t, tree_child_at(&t, ms, 1), "offset"), 1);
		CHECK_EQ_INT(geti(&t, tree_child_at(&t, ms, 1), "timestamp"), 2);
		CHECK(!tree_child(&t, tree_child_at(&t, ms, 1), "relativeOffset"));
	}
	/* Damage: a legacy CRC mismatch and a cut-short last message. */
	buf_reset(&b);
	put_message(&b, 1, 1, 0, 5, "k", 1, "v", 1);
	b.p[b.len - 1] ^= 1;
	put_message(&b, 2, 0, 0, 0, "k", 1, "value", 5);
	b.len -= 3;
	root = decode(&t, &b);
	CHECK_EQ_INT(tree_node(&t, root)->count, 2);
	m0 = tree_child_at(&t, root, 0);
	CHECK_EQ_INT(geti(&t, m0, "crcValid"), 0);
	char want[128];
	snprintf(want, sizeof want, "CRC-32 mismatch: message says 0x%08x, computed 0x%08x",
		 (unsigned)geti(&t, m0, "crc"), (unsigned)geti(&t, m0, "crcComputed"));
	CHECK_EQ_STR(gets(&t, m0, "error"), want);
	m1 = tree_child_at(&t, root, 1);
	CHECK(tree_node(&t, m1)->flags & TREE_F_PARTIAL);
	CHECK_EQ_INT(geti(&t, m1, "partial"), 1);
	CHECK(!tree_child(&t, m1, "error"));
	buf_free(&b);
	buf_free(&inner);
	buf_free(&z);
	tree_free(&t);
}

/* Damaged batches: each gives its located error; the next batch decodes. */
static void check_next_ok(const struct tree *t, tree_ref root, uint32_t i)
{
	CHECK_EQ_INT(tree_node(t, root)->count, i + 1);
	check_sample(t, tree_child_at(t, root, i), 0, "none");
}

static void test_damage(void)
{
	struct tree t;
	tree_init(&t);
	struct buf b;
	buf_init(&b);
	char want[256];

	/* CRC mismatch: both values in the message; records still decoded. */
	put_batch(&b, &batch_defaults, sample, 3);
	b.p[61 + 5] ^= 0x20; /* record 0's key "k0" becomes "K0" */
	uint32_t computed = crc32c_update(0, b.p + 21, b.len - 21);
	put_batch(&b, &batch_defaults, sample, 3);
	tree_ref root = decode(&t, &b);
	tree_ref bt = tree_child_at(&t, root, 0);
	CHECK_EQ_INT(geti(&t, bt, "crcValid"), 0);
	CHECK_EQ_INT(geti(&t, bt, "crcComputed"), computed);
	snprintf(want, sizeof want, "CRC-32C mismatch: batch says 0x%08x, computed 0x%08x",
		 (unsigned)geti(&t, bt, "crc"), computed);
	CHECK_EQ_STR(gets(&t, bt, "error"), want);
	CHECK_EQ_INT(tree_node(&t, tree_child(&t, bt, "records"))->count, 3);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, tree_child(&t, bt, "records"), 0), "key"), "K0");
	check_next_ok(&t, root, 1);
	/* ... and not checked when verify_crc is off */
	struct records_opts o = records_opts_default();
	o.verify_crc = false;
	root = decode_opts(&t, &b, &o);
	CHECK(!tree_child(&t, tree_child_at(&t, root, 0), "crcValid"));
	CHECK(!tree_child(&t, tree_child_at(&t, root, 0), "error"));

	/* Truncated last batch (Fetch): partial, not an error. */
	buf_reset(&b);
	put_batch(&b, &batch_defaults, sample, 3);
	size_t second = put_batch(&b, &batch_defaults, sample, 3);
	b.len = second + 30;
	root = decode(&t, &b);
	CHECK_EQ_INT(tree_node(&t, root)->count, 2);
	check_sample(&t, tree_child_at(&t, root, 0), 0, "none");
	bt = tree_child_at(&t, root, 1);
	CHECK(tree_node(&t, bt)->flags & TREE_F_PARTIAL);
	CHECK_EQ_INT(geti(&t, bt, "partial"), 1);
	CHECK_EQ_INT(geti(&t, bt, "baseOffset"), 100);
	CHECK_EQ_INT(geti(&t, bt, "producerId"), -999999); /* not reached */
	CHECK_EQ_INT(geti(&t, bt, "attributes"), 0);
	CHECK(!tree_child(&t, bt, "crcValid"));
	CHECK(!tree_child(&t, bt, "error"));
	CHECK(!tree_child(&t, bt, "records"));
	/* ... even when fewer than 17 bytes are left */
	b.len = second + 10;
	root = decode(&t, &b);
	bt = tree_child_at(&t, root, 1);
	CHECK(tree_node(&t, bt)->flags & TREE_F_PARTIAL);
	CHECK_EQ_INT(geti(&t, bt, "baseOffset"), 100);
	CHECK(!tree_child(&t, bt, "batchLength"));

	/* Bad varint: record 0's timestampDelta is 11 bytes of continuation. */
	buf_reset(&b);
	uint8_t bad[16] = {24, 0}; /* length 12: attributes, then the varlong */
	memset(bad + 2, 0xFF, 11);
	struct tbatch s = batch_defaults;
	s.raw = bad;
	s.rawlen = 13;
	s.count = 1;
	put_batch(&b, &s, NULL, 0);
	put_batch(&b, &batch_defaults, sample, 3);
	root = decode(&t, &b);
	snprintf(want, sizeof want, "record 0: bad timestampDelta at offset %d", FRAME_OFF + 63);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
	CHECK_EQ_INT(geti(&t, tree_child_at(&t, root, 0), "crcValid"), 1);
	check_next_ok(&t, root, 1);

	/* Key length past the record: record 1 says 900 bytes of key. */
	buf_reset(&b);
	struct buf raw;
	buf_init(&raw);
	put_record(&raw, &sample[0]);
	size_t r1 = raw.len;
	static const uint8_t rec1[] = {26, 0, 0, 2, 0x88, 0x0E, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
	buf_append(&raw, rec1, sizeof rec1); /* key length varint 0x88 0x0E = zigzag 900 */
	s = batch_defaults;
	s.raw = raw.p;
	s.rawlen = raw.len;
	s.count = 2;
	put_batch(&b, &s, NULL, 0);
	put_batch(&b, &batch_defaults, sample, 3);
	root = decode(&t, &b);
	snprintf(want, sizeof want, "record 1: key length 900 exceeds the 8 bytes left at offset %zu",
		 FRAME_OFF + 61 + r1 + 4);
	bt = tree_child_at(&t, root, 0);
	CHECK_EQ_STR(gets(&t, bt, "error"), want);
	CHECK_EQ_INT(tree_node(&t, tree_child(&t, bt, "records"))->count, 1); /* record 0 kept */
	check_next_ok(&t, root, 1);
	buf_free(&raw);

	/* Record-level damage, one batch each, each followed by a good batch:
	 * the record's bytes (length varint first; at least 7 so the count
	 * check passes) and the error, `at` bytes into the record. */
	static const struct {
		uint8_t rec[16];
		size_t len;
		const char *msg;
		int at;
	} recdmg[] = {
		{{14, 0, 0, 0, 3, 0, 0, 0}, 8, "record 0: key length -2 is negative at offset %zu", 4},
		{{14, 0, 0, 0, 1, 20, 'x', 'x'}, 8,
		 "record 0: value length 10 exceeds the 2 bytes left at offset %zu", 5},
		{{14, 0, 0, 0, 1, 1, 6, 0}, 8,
		 "record 0: header count 3 exceeds the 1 bytes left at offset %zu", 6},
		{{16, 0, 0, 0, 1, 1, 2, 1, 1}, 9,
		 "record 0: header 0 key length -1 is negative at offset %zu", 7},
		{{16, 0, 0, 0, 1, 1, 2, 0, 0x80}, 9,
		 "record 0: bad varint for header 0 value length at offset %zu", 8},
		{{16, 0, 0, 0, 1, 1, 0, 7, 7}, 9,
		 "record 0: 2 bytes left over after the headers at offset %zu", 7},
		{{12, 0, 0, 0x80, 0x80, 0x80, 0x80}, 7, "record 0: bad offsetDelta at offset %zu", 3},
	};
	for (size_t k = 0; k < sizeof recdmg / sizeof recdmg[0]; k++) {
		buf_reset(&b);
		s = batch_defaults;
		s.raw = recdmg[k].rec;
		s.rawlen = recdmg[k].len;
		s.count = 1;
		put_batch(&b, &s, NULL, 0);
		put_batch(&b, &batch_defaults, sample, 3);
		root = decode(&t, &b);
		snprintf(want, sizeof want, recdmg[k].msg, (size_t)(FRAME_OFF + 61 + recdmg[k].at));
		CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
		check_next_ok(&t, root, 1);
	}

	/* Unknown codec id 6: the records are not decoded; the next batch is. */
	buf_reset(&b);
	s = batch_defaults;
	s.attr = 6;
	put_batch(&b, &s, sample, 3);
	put_batch(&b, &batch_defaults, sample, 3);
	root = decode(&t, &b);
	bt = tree_child_at(&t, root, 0);
	snprintf(want, sizeof want,
		 "unknown compression codec 6 (attributes 0x0006) at offset %d", FRAME_OFF + 21);
	CHECK_EQ_STR(gets(&t, bt, "error"), want);
	CHECK_EQ_STR(gets(&t, bt, "compression"), "unknown");
	CHECK(!tree_child(&t, bt, "records"));
	check_next_ok(&t, root, 1);

	/* A record count of 2^31-1 with three records' bytes. */
	buf_reset(&b);
	s = batch_defaults;
	s.count = INT32_MAX;
	size_t first_len;
	put_batch(&b, &s, sample, 3);
	first_len = b.len;
	put_batch(&b, &batch_defaults, sample, 3);
	root = decode(&t, &b);
	bt = tree_child_at(&t, root, 0);
	snprintf(want, sizeof want,
		 "recordCount 2147483647 exceeds what the %zu bytes of records can hold (at least 7 "
		 "bytes a record) at offset %d",
		 first_len - 61, FRAME_OFF + 57);
	CHECK_EQ_STR(gets(&t, bt, "error"), want);
	CHECK_EQ_INT(tree_node(&t, tree_child(&t, bt, "records"))->count, 3);
	check_next_ok(&t, root, 1);

	/* Fewer records than the count says, and bytes left over. */
	buf_reset(&b);
	s = batch_defaults;
	s.count = 4;
	put_batch(&b, &s, sample, 3);
	uint8_t extra[3] = {1, 2, 3};
	s = batch_defaults;
	s.raw = extra;
	s.rawlen = 3;
	s.count = 0;
	put_batch(&b, &s, sample, 3);
	root = decode(&t, &b);
	snprintf(want, sizeof want, "record 3: the records end after 3 of 4 records at offset %zu",
		 FRAME_OFF + first_len);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
	/* raw bytes come first, so record 0 is garbage here: 1 = zigzag -1 */
	snprintf(want, sizeof want, "record 0: length -1 is negative at offset %zu",
		 FRAME_OFF + first_len + 61);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 1), "error"), want);

	/* A batchLength below the header: skipped with an error, then go on. */
	buf_reset(&b);
	cursor_write_i64(&b, 1);
	cursor_write_i32(&b, 8);
	cursor_write_i32(&b, 0);
	cursor_write_u8(&b, 2);
	cursor_write_u8(&b, 0);
	cursor_write_u16(&b, 0);
	put_batch(&b, &batch_defaults, sample, 3);
	root = decode(&t, &b);
	snprintf(want, sizeof want, "batchLength 8 is below the 49-byte batch header at offset %d",
		 FRAME_OFF + 8);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
	check_next_ok(&t, root, 1);

	/* Unknown magic 3 with a sane length: skipped. */
	buf_reset(&b);
	put_batch(&b, &batch_defaults, sample, 3);
	b.p[16] = 3;
	put_batch(&b, &batch_defaults, sample, 3);
	root = decode(&t, &b);
	snprintf(want, sizeof want, "unknown magic 3 at offset %d", FRAME_OFF + 16);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
	check_next_ok(&t, root, 1);

	/* Corrupt compressed data. */
	if (compress_built_in(COMPRESS_ZSTD)) {
		buf_reset(&b);
		s = batch_defaults;
		s.attr = COMPRESS_ZSTD;
		put_batch(&b, &s, sample, 3);
		memset(b.p + 61, 0xAB, 4); /* the zstd magic */
		cursor_patch_i32(&b, 17, (int32_t)crc32c_update(0, b.p + 21, b.len - 21));
		first_len = b.len;
		put_batch(&b, &batch_defaults, sample, 3);
		root = decode(&t, &b);
		snprintf(want, sizeof want,
			 "zstd: Unknown frame descriptor (%zu bytes of compressed data at offset %d)",
			 first_len - 61, FRAME_OFF + 61);
		CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
		check_next_ok(&t, root, 1);
	}
	buf_free(&b);
	tree_free(&t);
}

/* A decompression bomb: 100 MB of zeros in one record. */
static void test_bomb(void)
{
	if (!compress_built_in(COMPRESS_GZIP))
		return;
	size_t n = 100u * 1000 * 1000;
	char *zeros = calloc(1, n);
	struct trec big = {0, 0, NULL, -1, zeros, (int32_t)n, 0, {{NULL, NULL, 0}}};
	struct tree t;
	tree_init(&t);
	struct buf b;
	buf_init(&b);
	struct tbatch s = batch_defaults;
	s.attr = COMPRESS_GZIP;
	s.lod = 0;
	put_batch(&b, &s, &big, 1);
	size_t first_len = b.len;
	free(zeros);
	put_batch(&b, &batch_defaults, sample, 3);
	char want[256];

	/* By ratio: 200:1 of ~100 KB. */
	tree_ref root = decode(&t, &b);
	tree_ref bt = tree_child_at(&t, root, 0);
	size_t clen = first_len - 61;
	snprintf(want, sizeof want,
		 "gzip data of %zu bytes at offset %d decompresses to more than %zu bytes, over "
		 "200:1 (max_ratio)",
		 clen, FRAME_OFF + 61, clen * 200);
	CHECK_EQ_STR(gets(&t, bt, "error"), want);
	CHECK(!tree_child(&t, bt, "records"));
	CHECK(t.blob_bytes < 4096); /* nothing of it kept */
	check_next_ok(&t, root, 1);

	/* By the per-batch cap once the ratio allows it. */
	struct records_opts o = records_opts_default();
	o.max_ratio = 100000;
	root = decode_opts(&t, &b, &o);
	snprintf(want, sizeof want,
		 "gzip data of %zu bytes at offset %d decompresses to more than %zu bytes "
		 "(max_decompressed)",
		 clen, FRAME_OFF + 61, RECORDS_DEFAULT_MAX_DECOMPRESSED);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
	check_next_ok(&t, root, 1);

	/* ... and decodes when both allow it. */
	o.max_decompressed = 200u * 1000 * 1000;
	root = decode_opts(&t, &b, &o);
	bt = tree_child_at(&t, root, 0);
	CHECK(!tree_child(&t, bt, "error"));
	tree_ref rec = tree_child_at(&t, tree_child(&t, bt, "records"), 0);
	CHECK_EQ_INT(child(&t, rec, "value")->v.b.len, n);
	check_next_ok(&t, root, 1);

	/* Many small batches, each under the cap: the message budget stops them. */
	buf_reset(&b);
	char *mb = calloc(1, 1000000);
	struct trec r1 = {0, 0, NULL, -1, mb, 1000000, 0, {{NULL, NULL, 0}}};
	for (int i = 0; i < 8; i++)
		put_batch(&b, &s, &r1, 1);
	free(mb);
	o = records_opts_default();
	o.max_decompressed = 3100u * 1000; /* 3 batches of 1,000,010 bytes */
	root = decode_opts(&t, &b, &o);
	CHECK_EQ_INT(tree_node(&t, root)->count, 8);
	int ok = 0, refused = 0;
	for (uint32_t i = 0; i < 8; i++) {
		const char *e = gets(&t, tree_child_at(&t, root, i), "error");
		if (strcmp(e, "(absent)") == 0)
			ok++;
		else if (strstr(e, "of this message's budget of 200:1 of its size (max_ratio)"))
			refused++;
	}
	CHECK_EQ_INT(ok, 3); /* the budget is max(max_decompressed, 200 x ~10 KB) */
	CHECK_EQ_INT(refused, 5);
	CHECK(t.blob_bytes <= o.max_decompressed + 4096); /* + the error texts */
	buf_free(&b);
	tree_free(&t);
}

static void test_encode(void)
{
	struct tree t;
	tree_init(&t);
	for (int codec = 0; codec <= 4; codec++) {
		if (!compress_built_in(codec))
			continue;
		struct buf b, e;
		buf_init(&b);
		buf_init(&e);
		struct tbatch s = batch_defaults;
		s.attr = (int16_t)(codec | 0x10);
		put_batch(&b, &s, sample, 3);
		tree_ref root = decode(&t, &b);
		tree_ref bt = tree_child_at(&t, root, 0);
		char err[128];
		CHECK(records_encode_batch(&t, bt, &e, err, sizeof err));
		CHECK(e.len == b.len && memcmp(e.p, b.p, b.len) == 0);

		/* Change record 1's value and drop record 0's first header. */
		tree_ref rec1 = tree_child_at(&t, tree_child(&t, bt, "records"), 1);
		struct tree_node *v = tree_node(&t, tree_child(&t, rec1, "value"));
		v->v.b.p = (const uint8_t *)"rewritten";
		v->v.b.len = 9;
		tree_ref hs = tree_child(&t, tree_child_at(&t, tree_child(&t, bt, "records"), 0),
					 "headers");
		tree_node(&t, hs)->first = tree_node(&t, tree_node(&t, hs)->first)->next;
		tree_node(&t, hs)->count = 1;
		buf_reset(&e);
		CHECK(records_encode_batch(&t, bt, &e, err, sizeof err));
		struct tree t2;
		tree_init(&t2);
		root = decode(&t2, &e);
		bt = tree_child_at(&t2, root, 0);
		CHECK_EQ_INT(geti(&t2, bt, "crcValid"), 1);
		CHECK(!tree_child(&t2, bt, "error"));
		CHECK_EQ_INT(geti(&t2, bt, "attributes"), codec | 0x10);
		tree_ref recs = tree_child(&t2, bt, "records");
		CHECK_EQ_STR(gets(&t2, tree_child_at(&t2, recs, 1), "value"), "rewritten");
		hs = tree_child(&t2, tree_child_at(&t2, recs, 0), "headers");
		CHECK_EQ_INT(tree_node(&t2, hs)->count, 1);
		CHECK_EQ_STR(gets(&t2, tree_child_at(&t2, hs, 0), "key"), "h2");
		tree_free(&t2);
		buf_free(&b);
		buf_free(&e);
	}
	/* Refused: a partial batch, and a legacy message. */
	struct buf b, e;
	buf_init(&b);
	buf_init(&e);
	put_batch(&b, &batch_defaults, sample, 3);
	b.len -= 5;
	tree_ref root = decode(&t, &b);
	char err[128];
	CHECK(!records_encode_batch(&t, tree_child_at(&t, root, 0), &e, err, sizeof err));
	CHECK_EQ_STR(err, "the batch was not fully decoded");
	buf_reset(&b);
	put_message(&b, 0, 1, 0, 0, NULL, -1, "x", 1);
	root = decode(&t, &b);
	CHECK(!records_encode_batch(&t, tree_child_at(&t, root, 0), &e, err, sizeof err));
	CHECK_EQ_STR(err, "not a magic-2 record batch");
	CHECK_EQ_INT(e.len, 0);
	buf_free(&b);
	buf_free(&e);
	tree_free(&t);
}

/* A codec this build lacks: an error on that batch only. (Runs only in a
 * build configured without one of the codec libraries.) */
static void test_not_built_in(void)
{
	struct tree t;
	tree_init(&t);
	for (int codec = 1; codec <= 4; codec++) {
		if (compress_built_in(codec))
			continue;
		struct buf b;
		buf_init(&b);
		struct tbatch s = batch_defaults;
		s.attr = (int16_t)codec;
		put_batch(&b, &s, sample, 3);
		put_batch(&b, &batch_defaults, sample, 3);
		tree_ref root = decode(&t, &b);
		char want[64];
		snprintf(want, sizeof want, "%s support not built in", compress_name(codec));
		CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "error"), want);
		CHECK_EQ_STR(gets(&t, tree_child_at(&t, root, 0), "compression"), compress_name(codec));
		check_next_ok(&t, root, 1);
		buf_free(&b);
	}
	tree_free(&t);
}

/* Null, empty and node-starved inputs. */
static void test_edges(void)
{
	struct tree t;
	tree_init(&t);
	tree_ref root = tree_add(&t, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
	tree_node(&t, root)->flags |= TREE_F_NULL;
	CHECK(records_decode(&t, root, 0, NULL));
	CHECK_EQ_INT(tree_node(&t, root)->count, 0);
	struct buf b;
	buf_init(&b);
	put_batch(&b, &batch_defaults, sample, 3);
	/* Out of nodes: false, and no crash. */
	t.max_nodes = 20;
	tree_reset(&t);
	root = tree_add(&t, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
	tree_node(&t, root)->v.b.p = b.p;
	tree_node(&t, root)->v.b.len = (uint32_t)b.len;
	CHECK(!records_decode(&t, root, 0, NULL));

	/* Every node cap around what the batch needs: the decoder fails
	 * exactly when the cap is short (records take a run of nodes at once,
	 * or one at a time near the cap) and otherwise builds the same tree. */
	struct tree full;
	tree_init(&full);
	tree_ref froot = tree_add(&full, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
	tree_node(&full, froot)->v.b.p = b.p;
	tree_node(&full, froot)->v.b.len = (uint32_t)b.len;
	CHECK(records_decode(&full, froot, 0, NULL));
	uint32_t need = full.n; /* index 0 is reserved, so this is the cap that fits */
	for (uint32_t cap = 2; cap <= need + 2; cap++) {
		tree_free(&t);
		t.max_nodes = cap;
		root = tree_add(&t, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
		tree_node(&t, root)->v.b.p = b.p;
		tree_node(&t, root)->v.b.len = (uint32_t)b.len;
		bool ok = records_decode(&t, root, 0, NULL);
		CHECK(ok == (cap >= need));
		if (ok)
			CHECK(tree_equal(&t, root, &full, froot));
	}
	tree_free(&full);
	buf_free(&b);
	tree_free(&t);
}

/* ---- decoding does not depend on what the thread decoded before ---- */

/* Two zstd frames written by hand. `wide` is sound: no content size, a
 * 1 MiB window (so it is decoded through a stream buffer of that size) and
 * one raw block of `n` bytes. `damaged` says it holds 8 bytes (single
 * segment), then has an RLE block of 1000 and ends without a last block. */
static void zstd_wide(struct buf *out, const uint8_t *p, size_t n)
{
	static const uint8_t head[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50};
	uint32_t bh = 1 | (uint32_t)n << 3; /* last block, raw, n bytes */
	buf_append(out, head, sizeof head);
	cursor_write_u8(out, (uint8_t)bh);
	cursor_write_u8(out, (uint8_t)(bh >> 8));
	cursor_write_u8(out, (uint8_t)(bh >> 16));
	buf_append(out, p, n);
}

static const uint8_t zstd_damaged[] = {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x08, 0x42, 0x1f, 0x00, 'x'};

/* A zstd batch with the damaged frame, then a sound one with the wide frame:
 * decoding it left a reused context with a stream buffer large enough for
 * the damaged frame's block, so a second decode of the same bytes failed
 * differently ("Data corruption detected" instead of "Destination buffer is
 * too small"). The fuzz target found it as lazy and expanded JSON that
 * differed. */
static void put_zstd_history(struct buf *b)
{
	struct buf rec, z;
	buf_init(&rec);
	buf_init(&z);
	struct tbatch s = batch_defaults;
	s.attr = COMPRESS_ZSTD;
	s.as_is = true;
	s.count = 1;
	s.raw = zstd_damaged;
	s.rawlen = sizeof zstd_damaged;
	put_batch(b, &s, NULL, 0);
	put_record(&rec, &sample[1]);
	zstd_wide(&z, rec.p, rec.len);
	s.base_offset = 200;
	s.raw = z.p;
	s.rawlen = z.len;
	put_batch(b, &s, NULL, 0);
	buf_free(&rec);
	buf_free(&z);
}

/* Fuzzing seeds: one option byte (0) and a records field per file. */
static void write_seed(const char *dir, const char *name, const struct buf *b)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		unit_failures++;
		return;
	}
	fputc(0, f);
	fwrite(b->p, 1, b->len, f);
	fclose(f);
}

static int write_seeds(const char *dir)
{
	static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
	struct buf b, inner, z;
	buf_init(&b);
	buf_init(&inner);
	buf_init(&z);
	char name[64];
	for (int codec = 0; codec <= 4; codec++) {
		for (unsigned raw = 0; raw < (codec == COMPRESS_SNAPPY ? 2u : 1u); raw++) {
			if (!compress_built_in(codec))
				continue;
			struct tbatch s = batch_defaults;
			s.attr = (int16_t)codec;
			s.enc_flags = raw ? COMPRESS_ENC_SNAPPY_RAW : 0;
			buf_reset(&b);
			put_batch(&b, &s, sample, 3);
			snprintf(name, sizeof name, "batch-%s%s", names[codec], raw ? "-raw" : "");
			write_seed(dir, name, &b);
		}
	}
	/* control batch, then a LogAppendTime batch cut short */
	static const char commit_key[] = {0, 0, 0, 1}, marker_val[] = {0, 0, 0, 0, 0, 9};
	struct trec m = {0, 0, commit_key, 4, marker_val, 6, 0, {{NULL, NULL, 0}}};
	struct tbatch s = batch_defaults;
	s.attr = 0x30;
	buf_reset(&b);
	put_batch(&b, &s, &m, 1);
	s.attr = 0x08;
	put_batch(&b, &s, sample, 3);
	b.len -= 20;
	write_seed(dir, "control-and-partial", &b);
	/* legacy sets: plain magic 0 and 1, then a compressed wrapper per codec */
	buf_reset(&b);
	put_message(&b, 5, 0, 0, 0, "k", 1, "v0", 2);
	put_message(&b, 6, 1, 0x08, 1600000000000, NULL, -1, "v1", 2);
	write_seed(dir, "legacy-plain", &b);
	for (int codec = 1; codec <= 3; codec++) {
		if (!compress_built_in(codec))
			continue;
		int magic = codec == COMPRESS_LZ4 ? 0 : 1;
		buf_reset(&inner);
		buf_reset(&z);
		buf_reset(&b);
		for (int i = 0; i < 3; i++)
			put_message(&inner, i, (int8_t)magic, 0, 1600000000000 + i, "k", 1, "val", 3);
		CHECK(compress_encode(codec, inner.p, inner.len,
				      codec == COMPRESS_LZ4 ? COMPRESS_ENC_LZ4_KAFKA_HC : 0, &z));
		put_message(&b, 52, (int8_t)magic, (int8_t)codec, 1600000009999, NULL, -1, z.p,
			    (int32_t)z.len);
		snprintf(name, sizeof name, "legacy-magic%d-%s", magic, names[codec]);
		write_seed(dir, name, &b);
	}
	if (compress_built_in(COMPRESS_ZSTD)) {
		buf_reset(&b);
		put_zstd_history(&b);
		write_seed(dir, "zstd-damaged-then-wide-window", &b);
	}
	buf_free(&b);
	buf_free(&inner);
	buf_free(&z);
	return unit_failures ? 1 : 0;
}

/* ---- lazy records ---- */

static unsigned count_lazy(const struct tree *t, tree_ref r)
{
	unsigned n = (tree_node(t, r)->flags & TREE_F_LAZY) ? 1 : 0;
	for (tree_ref c = tree_node(t, r)->first; c; c = tree_node(t, c)->next)
		n += count_lazy(t, c);
	return n;
}

/* view_json of records bytes decoded with lazy on or off; the number of lazy
 * nodes in *nlazy. */
static void json_of(const struct buf *b, bool lazy, bool crc, struct buf *out, unsigned *nlazy)
{
	struct tree t;
	tree_init(&t);
	struct records_opts o = records_opts_default();
	o.lazy = lazy;
	o.verify_crc = crc;
	tree_ref root = decode_opts(&t, b, &o);
	buf_reset(out);
	view_json(out, &t, root, NULL);
	*nlazy = count_lazy(&t, root);
	tree_free(&t);
}

/* Lazy and expanded records give the same JSON; returns the lazy nodes made. */
static unsigned same_json(const struct buf *b, bool crc)
{
	struct buf x, y;
	buf_init(&x);
	buf_init(&y);
	unsigned nx, ny;
	json_of(b, false, crc, &x, &nx);
	json_of(b, true, crc, &y, &ny);
	CHECK_EQ_INT(nx, 0);
	bool same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
	if (!same)
		fprintf(stderr, "expanded: %.*s\nlazy:     %.*s\n", (int)x.len, (const char *)x.p,
			(int)y.len, (const char *)y.p);
	CHECK(same);
	buf_free(&x);
	buf_free(&y);
	return ny;
}

static void test_lazy(void)
{
	struct buf b, cut;
	buf_init(&b);
	buf_init(&cut);
	/* Sound batches of every kind, a control batch (always expanded) and
	 * records whose deltas wrap the offset and time around. */
	unsigned sound = 0;
	put_batch(&b, &batch_defaults, sample, 3);
	sound++;
	struct tbatch s = batch_defaults;
	s.attr = 0x18; /* LogAppendTime, transactional */
	put_batch(&b, &s, sample, 3);
	sound++;
	for (int codec = 1; codec <= 4; codec++) {
		if (!compress_built_in(codec))
			continue;
		s = batch_defaults;
		s.attr = (int16_t)codec;
		put_batch(&b, &s, sample, 3);
		sound++;
	}
	static const char commit_key[] = {0, 0, 0, 1}, marker_val[] = {0, 0, 0, 0, 0, 9};
	struct trec m = {0, 0, commit_key, 4, marker_val, 6, 0, {{NULL, NULL, 0}}};
	s = batch_defaults;
	s.attr = 0x30;
	put_batch(&b, &s, &m, 1);
	struct trec wrap[2] = {
		{INT64_MIN, INT32_MAX, "", 0, "", 0, 0, {{NULL, NULL, 0}}},
		{INT64_MAX, -5, NULL, -1, NULL, -1, 3, {{"a", "1", 1}, {"", NULL, -1}, {"c", "\x01\xff", 2}}},
	};
	s = batch_defaults;
	s.base_offset = INT64_MAX;
	s.base_ts = INT64_MIN + 1;
	put_batch(&b, &s, wrap, 2);
	sound++;
	for (int crc = 0; crc < 2; crc++)
		CHECK_EQ_INT(same_json(&b, crc), sound);

	/* Offsets and timestamps counted up across a carry, a new digit and
	 * zero, repeated, and jumping: the writer reuses the last digits. */
	static const int64_t bases[] = {95, 1095, 99999999999, -3, INT64_MAX - 4};
	struct trec run[12];
	for (int i = 0; i < 12; i++) {
		struct trec r = {i < 6 ? 0 : i * 7, i == 9 ? 40 : i, "k", 1, "v", 1, 0, {{NULL, NULL, 0}}};
		run[i] = r;
	}
	buf_reset(&b);
	for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++) {
		s = batch_defaults;
		s.base_offset = bases[k];
		s.base_ts = bases[k];
		put_batch(&b, &s, run, 12);
	}
	CHECK_EQ_INT(same_json(&b, true), 5);

	/* Damage: every cut of the plain and the wrapping batch, and every byte
	 * of them changed, with and without CRC checking. A damaged batch is
	 * expanded, so its errors read as before. */
	buf_reset(&b);
	put_batch(&b, &batch_defaults, sample, 3);
	put_batch(&b, &s, wrap, 2);
	for (size_t n = 0; n <= b.len; n++) {
		buf_reset(&cut);
		buf_append(&cut, b.p, n);
		same_json(&cut, true);
	}
	static const uint8_t flips[] = {0xFF, 0x80, 0x01, 0x7F};
	for (size_t i = 0; i < b.len; i++) {
		for (size_t f = 0; f < sizeof flips; f++) {
			buf_reset(&cut);
			buf_append(&cut, b.p, b.len);
			cut.p[i] ^= flips[f];
			same_json(&cut, f & 1);
		}
	}
	buf_free(&cut);
	buf_free(&b);
}

/* The same bytes decode the same, whatever was decoded before on the thread
 * (compress.c keeps per-thread contexts). */
static void test_history(void)
{
	if (!compress_built_in(COMPRESS_ZSTD))
		return;
	/* Start from no cached contexts, as a new thread does. */
	compress_release_thread();
	struct buf d, w, b;
	buf_init(&d);
	buf_init(&w);
	buf_init(&b);
	char e1[128], e2[128];
	CHECK_EQ_INT(compress_decode(COMPRESS_ZSTD, zstd_damaged, sizeof zstd_damaged, 1 << 20, &d,
				     e1, sizeof e1),
		     COMPRESS_CORRUPT);
	size_t n1 = d.len;
	zstd_wide(&w, (const uint8_t *)"a", 1);
	buf_reset(&d);
	CHECK_EQ_INT(compress_decode(COMPRESS_ZSTD, w.p, w.len, 1 << 20, &d, NULL, 0), COMPRESS_OK);
	CHECK(d.len == 1 && d.p[0] == 'a');
	buf_reset(&d);
	CHECK_EQ_INT(compress_decode(COMPRESS_ZSTD, zstd_damaged, sizeof zstd_damaged, 1 << 20, &d,
				     e2, sizeof e2),
		     COMPRESS_CORRUPT);
	CHECK_EQ_STR(e2, e1);
	CHECK_EQ_INT(d.len, n1);

	/* The fuzz target's check: expanded, then lazy, from no cached contexts. */
	compress_release_thread();
	put_zstd_history(&b);
	for (int crc = 0; crc < 2; crc++)
		CHECK_EQ_INT(same_json(&b, crc), 1);
	struct tree t;
	tree_init(&t);
	tree_ref root = decode(&t, &b);
	tree_ref b0 = tree_child_at(&t, root, 0);
	/* The error a new context gives (zstd's own text; 1.5.4 says
	 * "Destination buffer is too small"). */
	char want[192];
	snprintf(want, sizeof want, "%s (10 bytes of compressed data at offset 1061)", e1);
	CHECK_EQ_STR(gets(&t, b0, "error"), want);
	CHECK_EQ_INT(tree_node(&t, root)->count, 2);
	tree_ref b1 = tree_child_at(&t, root, 1);
	CHECK_EQ_STR(gets(&t, b1, "error"), "(absent)");
	tree_ref recs = tree_child(&t, b1, "records");
	CHECK(recs && tree_node(&t, recs)->count == 1);
	CHECK_EQ_STR(gets(&t, tree_child_at(&t, recs, 0), "value"), "hello");
	tree_free(&t);
	buf_free(&d);
	buf_free(&w);
	buf_free(&b);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2]);
	test_crc();
	test_compress_roundtrip();
	test_uncompressed();
	test_codecs();
	test_control_and_attrs();
	test_legacy();
	test_damage();
	test_bomb();
	test_encode();
	test_not_built_in();
	test_edges();
	test_lazy();
	test_history();
	return unit_done("test_records");
}
