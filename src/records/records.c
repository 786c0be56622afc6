/* records: RecordBatch / Record / legacy MessageSet decoder and the batch
 * encoder (see records.h). Layouts are from the Kafka documentation,
 * "Implementation", 5.3.1 - 5.3.3:
 *
 *   RecordBatch (magic 2)                 Record
 *     baseOffset            int64           length          varint
 *     batchLength           int32  -+       attributes      int8
 *     partitionLeaderEpoch  int32   |       timestampDelta  varlong
 *     magic                 int8    |       offsetDelta     varint
 *     crc (CRC-32C)         uint32  |       keyLength       varint (-1: null)
 *     attributes            int16  -+ crc   key             bytes
 *     lastOffsetDelta       int32   | from  valueLength     varint (-1: null)
 *     baseTimestamp         int64   | here  value           bytes
 *     maxTimestamp          int64   | to    headersCount    varint
 *     producerId            int64   | the     keyLength     varint
 *     producerEpoch         int16   | end     key           string
 *     baseSequence          int32   |         valueLength   varint (-1: null)
 *     recordCount           int32   |         value         bytes
 *     records (maybe compressed)   -+
 *
 *   Message (magic 0/1): offset int64, messageSize int32, crc (CRC-32 from
 *   magic on) uint32, magic int8, attributes int8, [timestamp int64 if
 *   magic 1], key bytes (int32 length), value bytes (int32 length). A
 *   compressed "wrapper" message holds a compressed message set as its value.
 *
 * The magic byte sits at offset 16 in both layouts, so each entry's format is
 * chosen by peeking there. Every batch, record and message is read through a
 * sub-cursor of exactly its stated size, so no inner length can reach past
 * its parent. Errors accumulate per top-level entry and become one `error`
 * child at its end (a JSON object must not repeat a key). */
#include "config.h"
#include "records/records.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/cursor.h"
#include "records/compress.h"
#include "records/crc32c.h"

#define MAGIC_OFFSET 16     /* of the magic byte, in both layouts */
#define V2_HEADER 49        /* batch bytes after batchLength up to the records */
#define RECORD_MIN 7        /* length, attributes, 2 deltas, 2 lengths, count */
#define HEADER_MIN 2        /* key length and value length */
#define ERR_MAX 640         /* error text kept per entry */

struct rctx {
	struct tree *t;
	size_t max_decompressed;
	unsigned max_ratio;
	bool verify_crc;
	bool lazy;           /* records_opts.lazy */
	size_t frame_bytes;  /* frame bytes up to the end of this records field */
	struct buf scratch;  /* decompression output, reused batch after batch */
	char err[ERR_MAX];
	size_t errlen;
	char prefix[40];     /* "inner message 3: " while inside a wrapper */
	bool oom;            /* the tree ran out of nodes or memory */
};

/* Where the bytes being decoded came from, for node offsets and messages. */
struct region {
	bool decompressed;
	size_t data_at;      /* frame offset of the compressed data, if decompressed */
};

/* ---- nodes ---- */

static inline __attribute__((always_inline)) tree_ref add(struct rctx *r, tree_ref parent,
							   const char *name, enum schema_type type,
							   size_t off)
{
	if (r->oom)
		return TREE_NONE;
	tree_ref n = tree_add(r->t, parent, name, NULL, type);
	if (n == TREE_NONE) {
		r->oom = true;
		return TREE_NONE;
	}
	struct tree_node *nd = tree_node(r->t, n);
	nd->flags = TREE_F_SYNTH;
	nd->offset = (uint32_t)off;
	return n;
}

static inline __attribute__((always_inline)) void add_int(struct rctx *r, tree_ref parent,
							  const char *name, enum schema_type type,
							  size_t off, int64_t v)
{
	tree_ref n = add(r, parent, name, type, off);
	if (n)
		tree_node(r->t, n)->v.i = v;
}

/* A string that outlives the tree (a literal). */
static void add_str(struct rctx *r, tree_ref parent, const char *name, size_t off,
		    const char *s)
{
	tree_ref n = add(r, parent, name, SCHEMA_STRING, off);
	if (n) {
		struct tree_node *nd = tree_node(r->t, n);
		nd->v.b.p = (const uint8_t *)s;
		nd->v.b.len = (uint32_t)strlen(s);
	}
}

/* Bytes or string; len < 0 is null. p points into the frame or owned memory. */
static inline __attribute__((always_inline)) void add_bytes(struct rctx *r, tree_ref parent,
							    const char *name,
							    enum schema_type type, size_t off,
							    const uint8_t *p, int32_t len)
{
	tree_ref n = add(r, parent, name, type, off);
	if (!n)
		return;
	struct tree_node *nd = tree_node(r->t, n);
	if (len < 0) {
		nd->flags |= TREE_F_NULL;
	} else {
		nd->v.b.p = p;
		nd->v.b.len = (uint32_t)len;
	}
}

/* The members every record has, in the order they are shown; the slow path
 * in decode_record adds the same ones one by one. */
enum {
	REC_OFFSET,
	REC_TIMESTAMP,
	REC_OFFSET_DELTA,
	REC_TIMESTAMP_DELTA,
	REC_ATTRIBUTES,
	REC_KEY,
	REC_VALUE,
	REC_HEADERS,
	REC_NMEMBERS
};
#define REC_MEMBER(nm, ty) \
	{.name = nm, .name_len = sizeof nm - 1, .type = ty, .flags = TREE_F_SYNTH, .tag = SCHEMA_NO_TAG}
static const struct tree_node rec_members[REC_NMEMBERS] = {
	[REC_OFFSET] = REC_MEMBER("offset", SCHEMA_INT64),
	[REC_TIMESTAMP] = REC_MEMBER("timestamp", SCHEMA_INT64),
	[REC_OFFSET_DELTA] = REC_MEMBER("offsetDelta", SCHEMA_INT32),
	[REC_TIMESTAMP_DELTA] = REC_MEMBER("timestampDelta", SCHEMA_INT64),
	[REC_ATTRIBUTES] = REC_MEMBER("attributes", SCHEMA_INT8),
	[REC_KEY] = REC_MEMBER("key", SCHEMA_BYTES),
	[REC_VALUE] = REC_MEMBER("value", SCHEMA_BYTES),
	[REC_HEADERS] = REC_MEMBER("headers", SCHEMA_ARRAY),
};
#undef REC_MEMBER

/* A bytes value of a template node (len < 0: null), as add_bytes sets it. */
static inline void set_bytes(struct tree_node *nd, size_t off, const uint8_t *p, int32_t len)
{
	nd->offset = (uint32_t)off;
	if (len < 0) {
		nd->flags |= TREE_F_NULL;
	} else {
		nd->v.b.p = p;
		nd->v.b.len = (uint32_t)len;
	}
}

/* ---- errors ---- */

static void err_add(struct rctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void err_add(struct rctx *r, const char *fmt, ...)
{
	if (r->errlen + 8 >= sizeof r->err)
		return; /* the first errors are the ones that explain the rest */
	int k = 0;
	if (r->errlen)
		k = snprintf(r->err + r->errlen, sizeof r->err - r->errlen, "; ");
	if (k > 0)
		r->errlen += (size_t)k;
	if (r->prefix[0]) {
		k = snprintf(r->err + r->errlen, sizeof r->err - r->errlen, "%s", r->prefix);
		if (k > 0)
			r->errlen += (size_t)k;
	}
	if (r->errlen >= sizeof r->err) {
		r->errlen = sizeof r->err - 1;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	k = vsnprintf(r->err + r->errlen, sizeof r->err - r->errlen, fmt, ap);
	va_end(ap);
	if (k > 0)
		r->errlen += (size_t)k;
	if (r->errlen >= sizeof r->err)
		r->errlen = sizeof r->err - 1;
}

/* Turn the errors of one entry into its `error` child. */
static void err_flush(struct rctx *r, tree_ref node, size_t off)
{
	if (!r->errlen || !node)
		return;
	uint8_t *m = tree_alloc(r->t, r->errlen);
	if (!m) {
		r->oom = true;
		return;
	}
	memcpy(m, r->err, r->errlen);
	tree_ref n = add(r, node, "error", SCHEMA_STRING, off);
	if (n) {
		tree_node(r->t, n)->v.b.p = m;
		tree_node(r->t, n)->v.b.len = (uint32_t)r->errlen;
	}
	r->errlen = 0;
}

/* "offset 4711", or for decompressed bytes "offset 12 of the data
 * decompressed from offset 4711". */
static const char *where(const struct region *g, size_t off, char *w, size_t n)
{
	if (g->decompressed)
		snprintf(w, n, "offset %zu of the data decompressed from offset %zu", off, g->data_at);
	else
		snprintf(w, n, "offset %zu", off);
	return w;
}

/* The frame offset recorded in a node for data at cursor offset `off`. */
static size_t noff(const struct region *g, size_t off) { return g->decompressed ? g->data_at : off; }

/* ---- fixed headers ---- */

struct hfield {
	const char *name;
	uint8_t type;
	uint8_t size;
};

enum {
	V2_PLE, V2_MAGIC, V2_CRC, V2_ATTR, V2_LOD, V2_BASETS, V2_MAXTS, V2_PID, V2_PEPOCH,
	V2_BASESEQ, V2_COUNT, V2_NFIELDS
};
static const struct hfield v2_fields[V2_NFIELDS] = {
	{"partitionLeaderEpoch", SCHEMA_INT32, 4},
	{"magic", SCHEMA_INT8, 1},
	{"crc", SCHEMA_UINT32, 4},
	{"attributes", SCHEMA_INT16, 2},
	{"lastOffsetDelta", SCHEMA_INT32, 4},
	{"baseTimestamp", SCHEMA_INT64, 8},
	{"maxTimestamp", SCHEMA_INT64, 8},
	{"producerId", SCHEMA_INT64, 8},
	{"producerEpoch", SCHEMA_INT16, 2},
	{"baseSequence", SCHEMA_INT32, 4},
	{"recordCount", SCHEMA_INT32, 4},
};

enum { M_CRC, M_MAGIC, M_ATTR, M_TS, M_NFIELDS };
static const struct hfield msg_fields[M_NFIELDS] = {
	{"crc", SCHEMA_UINT32, 4},
	{"magic", SCHEMA_INT8, 1},
	{"attributes", SCHEMA_INT8, 1},
	{"timestamp", SCHEMA_INT64, 8},
};

static bool read_fixed(struct cursor *c, const struct hfield *f, int64_t *v)
{
	switch (f->size) {
	case 1: {
		int8_t x;
		if (!cursor_read_i8(c, &x))
			return false;
		*v = x;
		return true;
	}
	case 2: {
		int16_t x;
		if (!cursor_read_i16(c, &x))
			return false;
		*v = x;
		return true;
	}
	case 4:
		if (f->type == SCHEMA_UINT32) {
			uint32_t x;
			if (!cursor_read_u32(c, &x))
				return false;
			*v = x;
		} else {
			int32_t x;
			if (!cursor_read_i32(c, &x))
				return false;
			*v = x;
		}
		return true;
	default:
		return cursor_read_i64(c, v);
	}
}

/* Read fields in order until one does not fit; returns how many were read.
 * crc_from/crc_len get the bytes after field `crc_field` (what the CRC covers). */
static unsigned read_header(struct cursor *c, const struct hfield *f, unsigned n, int64_t *v,
			    size_t *voff, unsigned crc_field, const uint8_t **crc_from,
			    size_t *crc_len)
{
	unsigned k;
	for (k = 0; k < n; k++) {
		voff[k] = cursor_offset(c);
		if (!read_fixed(c, &f[k], &v[k]))
			break;
		if (k == crc_field) {
			*crc_from = cursor_ptr(c);
			*crc_len = cursor_left(c);
		}
	}
	return k;
}

static const char *codec_str(int codec)
{
	const char *s = compress_name(codec);
	return s ? s : "unknown";
}

/* ---- decompression ---- */

static size_t mul_sat(size_t a, size_t b)
{
	if (b && a > SIZE_MAX / b)
		return SIZE_MAX;
	return a * b;
}

/* Decompress into memory the tree owns. The output limit is the smallest of
 * the per-batch cap, the ratio to this batch's compressed size (never below
 * RECORDS_RATIO_FLOOR) and what is left of the message's budget (the ratio to
 * the frame bytes so far, never below the per-batch cap), so that neither one
 * batch nor many small ones can turn a small frame into a lot of memory. */
static bool decompress(struct rctx *r, int codec, const uint8_t *in, size_t inlen, size_t at,
		       const uint8_t **out, size_t *outlen)
{
	enum { BY_CAP, BY_RATIO, BY_MESSAGE } why = BY_CAP;
	size_t limit = r->max_decompressed;
	size_t by_ratio = mul_sat(inlen, r->max_ratio);
	if (by_ratio < RECORDS_RATIO_FLOOR)
		by_ratio = RECORDS_RATIO_FLOOR;
	if (by_ratio < limit) {
		limit = by_ratio;
		why = BY_RATIO;
	}
	size_t budget = mul_sat(r->frame_bytes, r->max_ratio);
	if (budget < r->max_decompressed)
		budget = r->max_decompressed;
	size_t budget_left = budget > r->t->blob_bytes ? budget - r->t->blob_bytes : 0;
	if (budget_left < limit) {
		limit = budget_left;
		why = BY_MESSAGE;
	}

	buf_reset(&r->scratch);
	char msg[160];
	enum compress_status st =
		compress_decode(codec, in, inlen, limit, &r->scratch, msg, sizeof msg);
	if (st == COMPRESS_LIMIT) {
		const char *name = codec_str(codec);
		if (why == BY_CAP)
			err_add(r,
				"%s data of %zu bytes at offset %zu decompresses to more than %zu "
				"bytes (max_decompressed)",
				name, inlen, at, limit);
		else if (why == BY_RATIO)
			err_add(r,
				"%s data of %zu bytes at offset %zu decompresses to more than %zu "
				"bytes, over %u:1 (max_ratio)",
				name, inlen, at, limit, r->max_ratio);
		else
			err_add(r,
				"%s data of %zu bytes at offset %zu decompresses past what is left "
				"(%zu bytes) of this message's budget of %u:1 of its size (max_ratio)",
				name, inlen, at, limit, r->max_ratio);
		return false;
	}
	if (st == COMPRESS_UNSUPPORTED) {
		err_add(r, "%s", msg);
		return false;
	}
	if (st != COMPRESS_OK) {
		err_add(r, "%s (%zu bytes of compressed data at offset %zu)", msg, inlen, at);
		return false;
	}
	size_t n = r->scratch.len;
	uint8_t *p = tree_alloc(r->t, n ? n : 1);
	if (!p) {
		r->oom = true;
		return false;
	}
	if (n)
		memcpy(p, r->scratch.p, n);
	*out = p;
	*outlen = n;
	return true;
}

/* ---- records (magic 2) ---- */

struct batch_info {
	int64_t base_offset;
	int64_t base_ts;
	int64_t max_ts;
	bool log_append;
	bool control;
};

static void __attribute__((noinline, cold))
rec_bytes_error(struct rctx *r, struct cursor *x, const struct region *g, uint32_t i, int h,
		const char *what, size_t at, const int32_t *len);

/* A varint-length byte field of record i (header h when h >= 0). Inline:
 * it runs for every key and value. */
static inline bool read_rec_bytes(struct rctx *r, struct cursor *x, const struct region *g,
				  uint32_t i, int h, const char *what, bool nullable,
				  const uint8_t **p, int32_t *len, size_t *data_off)
{
	size_t at = cursor_offset(x);
	if (cursor_read_varint(x, len)) {
		*data_off = cursor_offset(x);
		if (*len >= 0 && cursor_read_bytes(x, (size_t)*len, p))
			return true;
		if (*len == -1 && nullable) {
			*p = NULL;
			return true;
		}
	}
	rec_bytes_error(r, x, g, i, h, what, at, len);
	return false;
}

/* The error path of read_rec_bytes: name the field. */
static void rec_bytes_error(struct rctx *r, struct cursor *x, const struct region *g, uint32_t i,
			    int h, const char *what, size_t at, const int32_t *len)
{
	char w[96], hs[24] = "";
	if (h >= 0)
		snprintf(hs, sizeof hs, "header %d ", h);
	where(g, at, w, sizeof w);
	if (cursor_offset(x) == at)
		err_add(r, "record %u: bad varint for %s%s length at %s", i, hs, what, w);
	else if (*len < 0)
		err_add(r, "record %u: %s%s length %d is negative at %s", i, hs, what, *len, w);
	else
		err_add(r, "record %u: %s%s length %d exceeds the %zu bytes left at %s", i, hs, what,
			*len, cursor_left(x), w);
}

static const char *control_name(int16_t type)
{
	/* ControlRecordType in Kafka's clients: 0 and 1 are transaction markers,
	 * 2.. are KRaft's. */
	static const char *const names[] = {"ABORT", "COMMIT", "LEADER_CHANGE", "SNAPSHOT_HEADER",
					    "SNAPSHOT_FOOTER", "KRAFT_VERSION", "KRAFT_VOTERS"};
	if (type >= 0 && (size_t)type < sizeof names / sizeof names[0])
		return names[type];
	return NULL;
}

/* Control record key: version int16, type int16; value of ABORT/COMMIT:
 * version int16, coordinatorEpoch int32 (EndTransactionMarker). */
static void decode_control(struct rctx *r, tree_ref rec, const struct region *g, uint32_t i,
			   const uint8_t *key, int32_t klen, size_t koff, const uint8_t *val,
			   int32_t vlen, size_t voff)
{
	char w[96];
	struct cursor kc;
	int16_t kver, type;
	cursor_init(&kc, key, klen > 0 ? (size_t)klen : 0);
	if (!key) {
		err_add(r, "record %u: control record with a null key at %s", i,
			where(g, koff, w, sizeof w));
		return;
	}
	if (!cursor_read_i16(&kc, &kver) || !cursor_read_i16(&kc, &type)) {
		err_add(r, "record %u: control record key of %d bytes, expected 4 at %s", i, klen,
			where(g, koff, w, sizeof w));
		return;
	}
	const char *name = control_name(type);
	if (name) {
		add_str(r, rec, "controlType", noff(g, koff), name);
	} else {
		char tmp[24];
		int k = snprintf(tmp, sizeof tmp, "UNKNOWN(%d)", type);
		uint8_t *m = k > 0 ? tree_alloc(r->t, (size_t)k) : NULL;
		if (!m) {
			r->oom = true;
			return;
		}
		memcpy(m, tmp, (size_t)k);
		add_bytes(r, rec, "controlType", SCHEMA_STRING, noff(g, koff), m, k);
	}
	if (type != 0 && type != 1)
		return;
	struct cursor vc;
	int16_t vver;
	int32_t epoch;
	cursor_init(&vc, val, vlen > 0 ? (size_t)vlen : 0);
	if (!val || !cursor_read_i16(&vc, &vver) || !cursor_read_i32(&vc, &epoch)) {
		err_add(r, "record %u: %s marker value of %d bytes, expected 6 at %s", i, name,
			val ? vlen : 0, where(g, voff, w, sizeof w));
		return;
	}
	add_int(r, rec, "coordinatorEpoch", SCHEMA_INT32, noff(g, voff + 2), epoch);
}

/* One record at rc; false (with the error added) when it is damaged. */
static bool decode_record(struct rctx *r, struct cursor *rc, tree_ref arr, uint32_t i,
			  const struct batch_info *bi, const struct region *g)
{
	char w[96];
	size_t at = cursor_offset(rc);
	int32_t len;
	if (!cursor_read_varint(rc, &len)) {
		err_add(r, "record %u: bad varint for length at %s", i, where(g, at, w, sizeof w));
		return false;
	}
	if (len < 0) {
		err_add(r, "record %u: length %d is negative at %s", i, len, where(g, at, w, sizeof w));
		return false;
	}
	struct cursor x;
	if (!cursor_sub(rc, (size_t)len, &x)) {
		err_add(r, "record %u: length %d exceeds the %zu bytes left at %s", i, len,
			cursor_left(rc), where(g, at, w, sizeof w));
		return false;
	}
	int8_t attr;
	int64_t tsd;
	int32_t od;
	size_t f_ts = 0, f_od = 0;
	const char *bad = NULL;
	size_t f_attr = cursor_offset(&x);
	if (!cursor_read_i8(&x, &attr))
		bad = "attributes";
	else if ((f_ts = cursor_offset(&x)), !cursor_read_varlong(&x, &tsd))
		bad = "timestampDelta";
	else if ((f_od = cursor_offset(&x)), !cursor_read_varint(&x, &od))
		bad = "offsetDelta";
	if (bad) {
		err_add(r, "record %u: bad %s at %s", i, bad,
			where(g, cursor_offset(&x), w, sizeof w));
		return false;
	}
	const uint8_t *key, *val;
	int32_t klen, vlen, hcount;
	size_t koff, voff;
	if (!read_rec_bytes(r, &x, g, i, -1, "key", true, &key, &klen, &koff) ||
	    !read_rec_bytes(r, &x, g, i, -1, "value", true, &val, &vlen, &voff))
		return false;
	size_t f_hc = cursor_offset(&x);
	if (!cursor_read_varint(&x, &hcount)) {
		err_add(r, "record %u: bad varint for the header count at %s", i,
			where(g, f_hc, w, sizeof w));
		return false;
	}
	if (hcount < 0 || (size_t)hcount > cursor_left(&x) / HEADER_MIN) {
		err_add(r, "record %u: header count %d exceeds the %zu bytes left at %s", i, hcount,
			cursor_left(&x), where(g, f_hc, w, sizeof w));
		return false;
	}

	/* Deltas are added with wrap-around: hostile values must not be UB. */
	int64_t off = (int64_t)((uint64_t)bi->base_offset + (uint64_t)(int64_t)od);
	/* With LogAppendTime the broker's time is the batch's maxTimestamp and
	 * the deltas are stale (as Java's DefaultRecord reads it). */
	int64_t ts = bi->log_append ? bi->max_ts
				    : (int64_t)((uint64_t)bi->base_ts + (uint64_t)tsd);
	tree_ref rec, hs;
	if (!r->oom && tree_reserve(r->t, 1 + REC_NMEMBERS)) {
		/* The fast path: the eight members from a template, in one run. */
		rec = add(r, arr, NULL, SCHEMA_STRUCT, noff(g, at));
		tree_ref m = tree_add_run(r->t, rec, rec_members, REC_NMEMBERS);
		struct tree_node *mn = tree_node(r->t, m);
		mn[REC_OFFSET].offset = (uint32_t)noff(g, f_od);
		mn[REC_OFFSET].v.i = off;
		mn[REC_TIMESTAMP].offset = (uint32_t)noff(g, f_ts);
		mn[REC_TIMESTAMP].v.i = ts;
		mn[REC_OFFSET_DELTA].offset = (uint32_t)noff(g, f_od);
		mn[REC_OFFSET_DELTA].v.i = od;
		mn[REC_TIMESTAMP_DELTA].offset = (uint32_t)noff(g, f_ts);
		mn[REC_TIMESTAMP_DELTA].v.i = tsd;
		mn[REC_ATTRIBUTES].offset = (uint32_t)noff(g, f_attr);
		mn[REC_ATTRIBUTES].v.i = attr;
		set_bytes(&mn[REC_KEY], noff(g, koff), key, klen);
		set_bytes(&mn[REC_VALUE], noff(g, voff), val, vlen);
		mn[REC_HEADERS].offset = (uint32_t)noff(g, f_hc);
		hs = m + REC_HEADERS;
	} else {
		rec = add(r, arr, NULL, SCHEMA_STRUCT, noff(g, at));
		add_int(r, rec, "offset", SCHEMA_INT64, noff(g, f_od), off);
		add_int(r, rec, "timestamp", SCHEMA_INT64, noff(g, f_ts), ts);
		add_int(r, rec, "offsetDelta", SCHEMA_INT32, noff(g, f_od), od);
		add_int(r, rec, "timestampDelta", SCHEMA_INT64, noff(g, f_ts), tsd);
		add_int(r, rec, "attributes", SCHEMA_INT8, noff(g, f_attr), attr);
		add_bytes(r, rec, "key", SCHEMA_BYTES, noff(g, koff), key, klen);
		add_bytes(r, rec, "value", SCHEMA_BYTES, noff(g, voff), val, vlen);
		hs = add(r, rec, "headers", SCHEMA_ARRAY, noff(g, f_hc));
	}
	for (int h = 0; h < hcount && !r->oom; h++) {
		const uint8_t *hk, *hv;
		int32_t hklen, hvlen;
		size_t hkoff, hvoff;
		if (!read_rec_bytes(r, &x, g, i, h, "key", false, &hk, &hklen, &hkoff) ||
		    !read_rec_bytes(r, &x, g, i, h, "value", true, &hv, &hvlen, &hvoff))
			return false;
		tree_ref hn = add(r, hs, NULL, SCHEMA_STRUCT, noff(g, hkoff));
		add_bytes(r, hn, "key", SCHEMA_STRING, noff(g, hkoff), hk, hklen);
		add_bytes(r, hn, "value", SCHEMA_BYTES, noff(g, hvoff), hv, hvlen);
	}
	if (bi->control)
		decode_control(r, rec, g, i, key, klen, koff, val, vlen, voff);
	if (cursor_left(&x) > 0) {
		err_add(r, "record %u: %zu bytes left over after the headers at %s", i,
			cursor_left(&x), where(g, cursor_offset(&x), w, sizeof w));
		return false;
	}
	return true;
}

/* Do all `count` records in the data decode without an error, headers and
 * all, filling it exactly? The iterator fails where decode_record reports. */
static bool records_sound(const struct records_lazy *z)
{
	struct records_iter it;
	struct records_rec rec;
	struct records_hdr h;
	records_iter_init(&it, z);
	for (uint32_t i = 0; i < z->count; i++) {
		if (!records_iter_next(&it, &rec))
			return false;
		for (int32_t k = 0; k < rec.nheaders; k++)
			if (!records_iter_header(&it, &h))
				return false;
		if (cursor_left(&it.x) > 0)
			return false;
	}
	return cursor_left(&it.c) == 0;
}

/* The lazy form of a sound batch's records (records.h); false when the batch
 * must be expanded: damaged, a control batch, or lazy is off. */
static bool lazy_records(struct rctx *r, tree_ref b, const struct cursor *rc, int32_t count,
			 const struct batch_info *bi, size_t arr_off)
{
	if (!r->lazy || bi->control || count < 0 || r->oom ||
	    (size_t)count > cursor_left(rc) / RECORD_MIN)
		return false;
	struct records_lazy z = {cursor_ptr(rc), cursor_left(rc), (uint32_t)count, bi->base_offset,
				 bi->base_ts, bi->max_ts, bi->log_append};
	if (!records_sound(&z))
		return false;
	struct records_lazy *m = (struct records_lazy *)(void *)tree_alloc(r->t, sizeof z);
	if (!m) {
		r->oom = true;
		return true;
	}
	*m = z;
	/* The descriptor is bookkeeping, not record data: leave it out of the
	 * decompression budget (blob_bytes) so both modes refuse the same batches. */
	r->t->blob_bytes -= sizeof z;
	tree_ref arr = add(r, b, "records", SCHEMA_ARRAY, arr_off);
	if (arr) {
		struct tree_node *nd = tree_node(r->t, arr);
		nd->flags |= TREE_F_LAZY;
		nd->v.b.p = (const uint8_t *)(const void *)m;
		nd->v.b.len = (uint32_t)sizeof z;
	}
	return true;
}

/* The records of a batch: rc covers exactly the (decompressed) record data. */
static void decode_records(struct rctx *r, tree_ref b, struct cursor *rc, int32_t count,
			   size_t count_at, const struct batch_info *bi, const struct region *g,
			   size_t arr_off)
{
	char w[96];
	if (lazy_records(r, b, rc, count, bi, arr_off))
		return;
	tree_ref arr = add(r, b, "records", SCHEMA_ARRAY, arr_off);
	size_t left = cursor_left(rc);
	/* Bound the loop by what the bytes can hold before trusting the count. */
	uint32_t n;
	bool over = false;
	if (count < 0) {
		err_add(r, "recordCount %d is negative at offset %zu", count, count_at);
		return;
	}
	if ((size_t)count > left / RECORD_MIN) {
		err_add(r,
			"recordCount %d exceeds what the %zu bytes of records can hold (at least %d "
			"bytes a record) at offset %zu",
			count, left, RECORD_MIN, count_at);
		n = (uint32_t)(left / RECORD_MIN);
		over = true;
	} else {
		n = (uint32_t)count;
	}
	uint32_t i;
	for (i = 0; i < n && !r->oom; i++) {
		if (cursor_left(rc) == 0) {
			if (!over)
				err_add(r, "record %u: the records end after %u of %d records at %s", i,
					i, count, where(g, cursor_offset(rc), w, sizeof w));
			return;
		}
		if (!decode_record(r, rc, arr, i, bi, g))
			return;
	}
	if (cursor_left(rc) > 0 && !r->oom)
		err_add(r, "%zu bytes left over after %u records at %s", cursor_left(rc), i,
			where(g, cursor_offset(rc), w, sizeof w));
}

enum step { STEP_NEXT, STEP_STOP };

static enum step decode_batch(struct rctx *r, struct cursor *c, tree_ref parent)
{
	size_t at = cursor_offset(c);
	int64_t base;
	int32_t blen;
	if (!cursor_read_i64(c, &base) || !cursor_read_i32(c, &blen))
		return STEP_STOP; /* the caller checked 17 bytes are there */
	tree_ref b = add(r, parent, NULL, SCHEMA_STRUCT, at);
	add_int(r, b, "baseOffset", SCHEMA_INT64, at, base);
	add_int(r, b, "batchLength", SCHEMA_INT32, at + 8, blen);
	if (blen < 0) {
		err_add(r, "batchLength %d is negative at offset %zu", blen, at + 8);
		err_flush(r, b, at);
		return STEP_STOP;
	}
	bool partial = (size_t)blen > cursor_left(c);
	struct cursor bc;
	if (!cursor_sub(c, partial ? cursor_left(c) : (size_t)blen, &bc))
		return STEP_STOP;

	int64_t v[V2_NFIELDS];
	size_t voff[V2_NFIELDS];
	const uint8_t *crc_from = NULL;
	size_t crc_len = 0;
	unsigned nread = read_header(&bc, v2_fields, V2_NFIELDS, v, voff, V2_CRC, &crc_from,
				     &crc_len);
	for (unsigned k = 0; k < nread; k++) {
		add_int(r, b, v2_fields[k].name, v2_fields[k].type, voff[k], v[k]);
		if (k == V2_CRC && !partial && r->verify_crc) {
			uint32_t got = crc32c_update(0, crc_from, crc_len);
			add_int(r, b, "crcValid", SCHEMA_BOOL, voff[k], got == (uint32_t)v[k]);
			if (got != (uint32_t)v[k]) {
				add_int(r, b, "crcComputed", SCHEMA_UINT32, voff[k], got);
				err_add(r, "CRC-32C mismatch: batch says 0x%08x, computed 0x%08x",
					(uint32_t)v[k], got);
			}
		} else if (k == V2_ATTR) {
			int a = (int)v[k];
			add_str(r, b, "compression", voff[k], codec_str(a & 7));
			add_str(r, b, "timestampType", voff[k],
				(a & 0x08) ? "LogAppendTime" : "CreateTime");
			add_int(r, b, "isTransactional", SCHEMA_BOOL, voff[k], (a & 0x10) != 0);
			add_int(r, b, "isControl", SCHEMA_BOOL, voff[k], (a & 0x20) != 0);
		}
	}
	if (partial) {
		/* Fetch responses may end inside the last batch; that is not damage. */
		if (b)
			tree_node(r->t, b)->flags |= TREE_F_PARTIAL;
		add_int(r, b, "partial", SCHEMA_BOOL, at, 1);
		err_flush(r, b, at);
		return STEP_STOP;
	}
	if (nread < V2_NFIELDS) {
		err_add(r, "batchLength %d is below the %d-byte batch header at offset %zu", blen,
			V2_HEADER, at + 8);
		err_flush(r, b, at);
		return STEP_NEXT;
	}

	int attr = (int)v[V2_ATTR];
	int codec = attr & 7;
	struct batch_info bi = {base, v[V2_BASETS], v[V2_MAXTS],
				(attr & 0x08) != 0, (attr & 0x20) != 0};
	size_t data_at = cursor_offset(&bc);
	struct region g = {false, data_at};
	if (codec == COMPRESS_NONE) {
		decode_records(r, b, &bc, (int32_t)v[V2_COUNT], voff[V2_COUNT], &bi, &g, data_at);
	} else if (!compress_name(codec)) {
		err_add(r, "unknown compression codec %d (attributes 0x%04x) at offset %zu", codec,
			(unsigned)(attr & 0xFFFF), voff[V2_ATTR]);
	} else if (cursor_left(&bc) == 0 && v[V2_COUNT] == 0) {
		/* An empty batch (e.g. left by compaction) has nothing to decompress. */
		add(r, b, "records", SCHEMA_ARRAY, data_at);
	} else {
		const uint8_t *p;
		size_t n;
		if (decompress(r, codec, cursor_ptr(&bc), cursor_left(&bc), data_at, &p, &n)) {
			struct cursor dc;
			cursor_init(&dc, p, n);
			g.decompressed = true;
			decode_records(r, b, &dc, (int32_t)v[V2_COUNT], voff[V2_COUNT], &bi, &g,
				       data_at);
		}
	}
	err_flush(r, b, at);
	return STEP_NEXT;
}

/* ---- legacy message sets (magic 0/1) ---- */

struct wrapper {
	int64_t abs_base;  /* absolute offset of relative offset 0, or -1 */
	bool log_append;   /* the wrapper's timestamp replaces the inner ones */
	int64_t timestamp;
	uint32_t index;    /* of the next inner message */
};

static enum step decode_set(struct rctx *r, struct cursor *c, tree_ref parent,
			    const struct region *g, struct wrapper *w);

/* A bytes field with an int32 length (-1: null). */
static bool read_msg_bytes(struct rctx *r, struct cursor *mc, const struct region *g,
			   const char *what, const uint8_t **p, int32_t *len, size_t *data_off)
{
	char wb[96];
	size_t at = cursor_offset(mc);
	if (!cursor_read_i32(mc, len)) {
		err_add(r, "%s length cut short at %s", what, where(g, at, wb, sizeof wb));
		return false;
	}
	*data_off = cursor_offset(mc);
	if (*len == -1) {
		*p = NULL;
		return true;
	}
	if (*len < 0 || !cursor_read_bytes(mc, (size_t)*len, p)) {
		err_add(r, "%s length %d exceeds the %zu bytes left at %s", what, *len,
			cursor_left(mc), where(g, at, wb, sizeof wb));
		return false;
	}
	return true;
}

/* Magic 1 wrappers carry relative inner offsets (KIP-31): the wrapper's
 * offset is that of the last inner message. Find the last relative offset. */
static int64_t last_inner_offset(const uint8_t *p, size_t n)
{
	struct cursor c;
	cursor_init(&c, p, n);
	int64_t last = 0, off;
	int32_t size;
	while (cursor_read_i64(&c, &off) && cursor_read_i32(&c, &size) && size >= 0 &&
	       cursor_skip(&c, (size_t)size))
		last = off;
	return last;
}

static enum step decode_message(struct rctx *r, struct cursor *c, tree_ref parent,
				const struct region *g, struct wrapper *w, int8_t magic)
{
	char wb[96];
	size_t at = cursor_offset(c);
	int64_t off;
	int32_t size;
	if (!cursor_read_i64(c, &off) || !cursor_read_i32(c, &size))
		return STEP_STOP; /* the caller checked 17 bytes are there */
	if (w)
		snprintf(r->prefix, sizeof r->prefix, "inner message %u: ", w->index++);
	tree_ref m = add(r, parent, NULL, SCHEMA_STRUCT, noff(g, at));
	if (w && w->abs_base >= 0) {
		add_int(r, m, "offset", SCHEMA_INT64, noff(g, at),
			(int64_t)((uint64_t)w->abs_base + (uint64_t)off));
		add_int(r, m, "relativeOffset", SCHEMA_INT64, noff(g, at), off);
	} else {
		add_int(r, m, "offset", SCHEMA_INT64, noff(g, at), off);
	}
	add_int(r, m, "messageSize", SCHEMA_INT32, noff(g, at + 8), size);
	enum step step = STEP_NEXT;
	if (size < 0) {
		err_add(r, "messageSize %d is negative at %s", size, where(g, at + 8, wb, sizeof wb));
		step = STEP_STOP;
		goto out;
	}
	bool partial = (size_t)size > cursor_left(c);
	if (partial && w) {
		err_add(r, "messageSize %d exceeds the %zu bytes left at %s", size, cursor_left(c),
			where(g, at + 8, wb, sizeof wb));
		step = STEP_STOP;
		goto out;
	}
	struct cursor mc;
	if (!cursor_sub(c, partial ? cursor_left(c) : (size_t)size, &mc))
		return STEP_STOP;

	/* The magic byte (peeked by the caller) decides whether there is a
	 * timestamp. */
	unsigned nf = magic == 1 ? M_NFIELDS : M_TS;
	int64_t v[M_NFIELDS];
	size_t voff[M_NFIELDS];
	const uint8_t *crc_from = NULL;
	size_t crc_len = 0;
	unsigned nread = read_header(&mc, msg_fields, nf, v, voff, M_CRC, &crc_from, &crc_len);
	for (unsigned k = 0; k < nread; k++) {
		int64_t val = v[k];
		if (k == M_TS && w && w->log_append)
			val = w->timestamp; /* as Java's AbstractLegacyRecordBatch does */
		add_int(r, m, msg_fields[k].name, msg_fields[k].type, noff(g, voff[k]), val);
		if (k == M_CRC && !partial && r->verify_crc) {
			uint32_t got = crc32c_ieee_update(0, crc_from, crc_len);
			add_int(r, m, "crcValid", SCHEMA_BOOL, noff(g, voff[k]), got == (uint32_t)v[k]);
			if (got != (uint32_t)v[k]) {
				add_int(r, m, "crcComputed", SCHEMA_UINT32, noff(g, voff[k]), got);
				err_add(r, "CRC-32 mismatch: message says 0x%08x, computed 0x%08x",
					(uint32_t)v[k], got);
			}
		} else if (k == M_ATTR) {
			add_str(r, m, "compression", noff(g, voff[k]), codec_str((int)v[k] & 7));
			if (magic == 1)
				add_str(r, m, "timestampType", noff(g, voff[k]),
					(v[k] & 0x08) ? "LogAppendTime" : "CreateTime");
		}
	}
	if (partial) {
		if (m)
			tree_node(r->t, m)->flags |= TREE_F_PARTIAL;
		add_int(r, m, "partial", SCHEMA_BOOL, noff(g, at), 1);
		step = STEP_STOP;
		goto out;
	}
	if (nread < nf) {
		err_add(r, "messageSize %d is below the %u-byte message header at %s", size,
			magic == 1 ? 22u : 14u, where(g, at + 8, wb, sizeof wb));
		goto out;
	}
	const uint8_t *key, *val;
	int32_t klen, vlen;
	size_t koff, vdoff;
	if (!read_msg_bytes(r, &mc, g, "key", &key, &klen, &koff) ||
	    !read_msg_bytes(r, &mc, g, "value", &val, &vlen, &vdoff))
		goto out;
	add_bytes(r, m, "key", SCHEMA_BYTES, noff(g, koff), key, klen);
	add_bytes(r, m, "value", SCHEMA_BYTES, noff(g, vdoff), val, vlen);
	if (cursor_left(&mc) > 0) {
		err_add(r, "%zu bytes left over after the value at %s", cursor_left(&mc),
			where(g, cursor_offset(&mc), wb, sizeof wb));
		goto out;
	}

	int codec = (int)v[M_ATTR] & 7;
	if (codec == COMPRESS_NONE)
		goto out;
	if (!compress_name(codec)) {
		err_add(r, "unknown compression codec %d (attributes 0x%02x) at %s", codec,
			(unsigned)(v[M_ATTR] & 0xFF), where(g, voff[M_ATTR], wb, sizeof wb));
		goto out;
	}
	if (w) {
		/* Kafka never nests wrappers; one level of decompression is the bound. */
		err_add(r, "a compressed message inside a compressed message at %s",
			where(g, at, wb, sizeof wb));
		goto out;
	}
	if (!val) {
		err_add(r, "compressed message without a value at %s", where(g, at, wb, sizeof wb));
		goto out;
	}
	const uint8_t *p;
	size_t n;
	if (!decompress(r, codec, val, (size_t)vlen, vdoff, &p, &n))
		goto out;
	struct wrapper inner = {-1, false, 0, 0};
	if (magic == 1) {
		int64_t base = (int64_t)((uint64_t)off - (uint64_t)last_inner_offset(p, n));
		/* A producer's wrapper offset is not assigned yet; keep the inner
		 * offsets as they are then, as Java does for a negative base. */
		inner.abs_base = base >= 0 ? base : -1;
		inner.log_append = (v[M_ATTR] & 0x08) != 0;
		inner.timestamp = v[M_TS];
	}
	struct region ig = {true, vdoff};
	struct cursor ic;
	cursor_init(&ic, p, n);
	tree_ref arr = add(r, m, "messages", SCHEMA_ARRAY, vdoff);
	decode_set(r, &ic, arr, &ig, &inner);
	r->prefix[0] = '\0';

out:
	if (!w)
		err_flush(r, m, at);
	return step;
}

/* An entry of unknown magic: show what can be read and skip it if its
 * length allows. */
static enum step decode_unknown(struct rctx *r, struct cursor *c, tree_ref parent,
				const struct region *g, int8_t magic)
{
	char wb[96];
	size_t at = cursor_offset(c);
	int64_t off;
	int32_t len;
	if (!cursor_read_i64(c, &off) || !cursor_read_i32(c, &len))
		return STEP_STOP;
	tree_ref b = add(r, parent, NULL, SCHEMA_STRUCT, noff(g, at));
	add_int(r, b, "baseOffset", SCHEMA_INT64, noff(g, at), off);
	add_int(r, b, "batchLength", SCHEMA_INT32, noff(g, at + 8), len);
	add_int(r, b, "magic", SCHEMA_INT8, noff(g, at + MAGIC_OFFSET), magic);
	err_add(r, "unknown magic %d at %s", magic, where(g, at + MAGIC_OFFSET, wb, sizeof wb));
	err_flush(r, b, noff(g, at));
	if (len < 0 || !cursor_skip(c, (size_t)len))
		return STEP_STOP;
	return STEP_NEXT;
}

/* The entries of a records field (w == NULL) or of a wrapper's inner message
 * set (w != NULL, errors go to the wrapper). */
static enum step decode_set(struct rctx *r, struct cursor *c, tree_ref parent,
			    const struct region *g, struct wrapper *w)
{
	char wb[96];
	while (cursor_left(c) > 0 && !r->oom) {
		size_t at = cursor_offset(c);
		struct cursor peek = *c;
		int8_t magic;
		enum step s;
		if (!cursor_skip(&peek, MAGIC_OFFSET) || !cursor_read_i8(&peek, &magic)) {
			/* Too short to say which format: at the end of a Fetch
			 * response this is a batch cut short. */
			if (w) {
				snprintf(r->prefix, sizeof r->prefix, "inner message %u: ", w->index);
				err_add(r, "only %zu bytes left at %s", cursor_left(c),
					where(g, at, wb, sizeof wb));
				return STEP_STOP;
			}
			tree_ref b = add(r, parent, NULL, SCHEMA_STRUCT, at);
			struct cursor rest = *c;
			int64_t off;
			int32_t len;
			if (cursor_read_i64(&rest, &off)) {
				add_int(r, b, "baseOffset", SCHEMA_INT64, at, off);
				if (cursor_read_i32(&rest, &len))
					add_int(r, b, "batchLength", SCHEMA_INT32, at + 8, len);
			}
			if (b)
				tree_node(r->t, b)->flags |= TREE_F_PARTIAL;
			add_int(r, b, "partial", SCHEMA_BOOL, at, 1);
			return STEP_STOP;
		}
		if (magic == 2 && !w)
			s = decode_batch(r, c, parent);
		else if (magic == 0 || magic == 1)
			s = decode_message(r, c, parent, g, w, magic);
		else if (w) {
			snprintf(r->prefix, sizeof r->prefix, "inner message %u: ", w->index);
			err_add(r, "magic %d is not a legacy message at %s", magic,
				where(g, at + MAGIC_OFFSET, wb, sizeof wb));
			return STEP_STOP;
		} else
			s = decode_unknown(r, c, parent, g, magic);
		if (s == STEP_STOP)
			return STEP_STOP;
	}
	return STEP_NEXT;
}

/* ---- entry points ---- */

struct records_opts records_opts_default(void)
{
	struct records_opts o = {RECORDS_DEFAULT_MAX_DECOMPRESSED, RECORDS_DEFAULT_MAX_RATIO, true, false};
	return o;
}

bool records_decode(struct tree *t, tree_ref node, size_t frame_offset, void *ctx)
{
	struct records_opts dflt = records_opts_default();
	const struct records_opts *o = ctx ? (const struct records_opts *)ctx : &dflt;
	if (node == TREE_NONE)
		return true;
	const struct tree_node *n = tree_node(t, node);
	if ((n->flags & TREE_F_NULL) || n->v.b.len == 0 || !n->v.b.p)
		return true;

	struct rctx r;
	r.t = t;
	r.max_decompressed = o->max_decompressed ? o->max_decompressed : dflt.max_decompressed;
	r.max_ratio = o->max_ratio ? o->max_ratio : dflt.max_ratio;
	r.verify_crc = o->verify_crc;
	r.lazy = o->lazy;
	r.frame_bytes = frame_offset + n->v.b.len;
	buf_init(&r.scratch);
	r.errlen = 0;
	r.err[0] = '\0';
	r.prefix[0] = '\0';
	r.oom = false;

	struct cursor c;
	cursor_init(&c, n->v.b.p, n->v.b.len);
	c.origin = frame_offset;
	struct region g = {false, frame_offset};
	decode_set(&r, &c, node, &g, NULL);
	buf_free(&r.scratch);
	return !r.oom;
}

/* ---- encoder ---- */

static bool enc_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool enc_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* A bytes/string child as a varint-length field (-1: null or absent). */
static void enc_var_bytes(struct buf *b, const struct tree *t, tree_ref parent,
			  const char *name)
{
	tree_ref n = tree_child(t, parent, name);
	const struct tree_node *nd = n ? tree_node(t, n) : NULL;
	if (!nd || (nd->flags & TREE_F_NULL)) {
		cursor_write_varint(b, -1);
		return;
	}
	cursor_write_varint(b, (int32_t)nd->v.b.len);
	buf_append(b, nd->v.b.p, nd->v.b.len);
}

static void enc_record(struct buf *rb, const struct tree *t, tree_ref rec)
{
	cursor_write_u8(rb, (uint8_t)tree_get_int(t, rec, "attributes", 0));
	cursor_write_varlong(rb, tree_get_int(t, rec, "timestampDelta", 0));
	cursor_write_varint(rb, (int32_t)tree_get_int(t, rec, "offsetDelta", 0));
	enc_var_bytes(rb, t, rec, "key");
	enc_var_bytes(rb, t, rec, "value");
	tree_ref hs = tree_child(t, rec, "headers");
	uint32_t hn = hs ? tree_node(t, hs)->count : 0;
	cursor_write_varint(rb, (int32_t)hn);
	for (tree_ref h = hs ? tree_node(t, hs)->first : TREE_NONE; h; h = tree_node(t, h)->next) {
		enc_var_bytes(rb, t, h, "key");
		enc_var_bytes(rb, t, h, "value");
	}
}

bool records_is_control(const struct tree *t, tree_ref batch)
{
	return tree_get_int(t, batch, "isControl", 0) ||
	       (tree_get_int(t, batch, "attributes", 0) & 0x20);
}

bool records_encode_batch(const struct tree *t, tree_ref batch, struct buf *out, char *err,
			  size_t errlen)
{
	if (batch == TREE_NONE || tree_node(t, batch)->type != SCHEMA_STRUCT)
		return enc_fail(err, errlen, "not a record batch node");
	if (tree_get_int(t, batch, "magic", -1) != 2)
		return enc_fail(err, errlen, "not a magic-2 record batch");
	if (tree_child(t, batch, "partial") || tree_child(t, batch, "error"))
		return enc_fail(err, errlen, "the batch was not fully decoded");
	tree_ref recs = tree_child(t, batch, "records");
	if (!recs || tree_node(t, recs)->type != SCHEMA_ARRAY)
		return enc_fail(err, errlen, "the batch has no records array");
	int attr = (int)tree_get_int(t, batch, "attributes", 0);
	int codec = attr & 7;
	if (!compress_built_in(codec))
		return enc_fail(err, errlen, "%s support not built in", codec_str(codec));

	struct buf body, rb;
	buf_init(&body);
	buf_init(&rb);
	uint32_t count = 0;
	for (tree_ref rec = tree_node(t, recs)->first; rec; rec = tree_node(t, rec)->next) {
		buf_reset(&rb);
		enc_record(&rb, t, rec);
		if (rb.failed || rb.len > INT32_MAX)
			break;
		cursor_write_varint(&body, (int32_t)rb.len);
		buf_append(&body, rb.p, rb.len);
		count++;
	}
	bool ok = !rb.failed && !body.failed;
	buf_free(&rb);

	size_t start = out->len;
	if (ok) {
		cursor_write_i64(out, tree_get_int(t, batch, "baseOffset", 0));
		cursor_write_i32(out, 0); /* batchLength, patched below */
		cursor_write_i32(out, (int32_t)tree_get_int(t, batch, "partitionLeaderEpoch", -1));
		cursor_write_u8(out, 2);
		cursor_write_u32(out, 0); /* crc, patched below */
		cursor_write_i16(out, (int16_t)attr);
		cursor_write_i32(out, (int32_t)tree_get_int(t, batch, "lastOffsetDelta", 0));
		cursor_write_i64(out, tree_get_int(t, batch, "baseTimestamp", 0));
		cursor_write_i64(out, tree_get_int(t, batch, "maxTimestamp", 0));
		cursor_write_i64(out, tree_get_int(t, batch, "producerId", -1));
		cursor_write_i16(out, (int16_t)tree_get_int(t, batch, "producerEpoch", -1));
		cursor_write_i32(out, (int32_t)tree_get_int(t, batch, "baseSequence", -1));
		cursor_write_i32(out, (int32_t)count);
		ok = compress_encode(codec, body.p, body.len, 0, out) && !out->failed;
	}
	buf_free(&body);
	if (!ok)
		return enc_fail(err, errlen, "out of memory or %s compression failed",
				codec_str(codec));
	size_t len = out->len - start;
	if (len - 12 > INT32_MAX)
		return enc_fail(err, errlen, "the batch would exceed 2 GiB");
	cursor_patch_i32(out, start + 8, (int32_t)(len - 12));
	/* CRC-32C from attributes (batch offset 21) to the end. */
	uint32_t crc = crc32c_update(0, out->p + start + 21, len - 21);
	cursor_patch_i32(out, start + 17, (int32_t)crc);
	return true;
}
