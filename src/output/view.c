/* view: JSON, verbose and one-line renderings of a decoded message tree (see
 * view.h). The JSON form follows Kafka's own JSON converters (the
 * *JsonConverter classes generated from the message schemas): lowerCamelCase
 * field names, int64 as numbers, uuids as Uuid.toString() (URL-safe base64
 * without padding); the forms for bytes, truncation, unknown tagged fields and
 * decoded record data are ours and documented in docs/json.md.
 *
 * Every renderer walks the tree generically, by node name, type and value, so
 * that nodes synthesised by the records decoder need no special casing. */
#include "config.h"
#include "output/view.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/schema.h"
#include "records/records.h"

bool view_bytes_parse(const char *s, enum view_bytes *out)
{
	if (!s)
		return false;
	if (strcmp(s, "auto") == 0)
		*out = VIEW_BYTES_AUTO;
	else if (strcmp(s, "hex") == 0)
		*out = VIEW_BYTES_HEX;
	else if (strcmp(s, "base64") == 0)
		*out = VIEW_BYTES_BASE64;
	else
		return false;
	return true;
}

static const struct view_opts default_opts = {VIEW_BYTES_AUTO, 0, false};

/* Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, no padding. */
static void put_uuid(struct buf *b, const uint8_t u[16])
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char out[22];
	size_t o = 0;
	for (int i = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = tbl[(v >> 6) & 63];
		out[o++] = tbl[v & 63];
	}
	uint32_t v = (uint32_t)u[15] << 16;
	out[o++] = tbl[v >> 18];
	out[o++] = tbl[(v >> 12) & 63];
	buf_append(b, out, sizeof out);
}

static void put_double(struct buf *b, double f)
{
	/* JSON has no NaN or infinities; Jackson would write bare NaN, which is
	 * not JSON, so they become strings. */
	if (isnan(f))
		buf_puts(b, "\"NaN\"");
	else if (isinf(f))
		buf_puts(b, f > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else {
		/* The shortest form that reads back as the same double. */
		char tmp[32];
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(tmp, sizeof tmp, "%.*g", prec, f);
			if (strtod(tmp, NULL) == f)
				break;
		}
		buf_puts(b, tmp);
	}
}

/* How many of n bytes to show under max_bytes, not cutting a UTF-8 sequence
 * of text in half. */
static size_t shown_len(const uint8_t *p, size_t n, size_t max, bool text)
{
	if (max == 0 || n <= max)
		return n;
	size_t k = max;
	if (text)
		while (k > 0 && (p[k] & 0xC0) == 0x80)
			k--;
	return k;
}

/* A string/bytes/records value in JSON: strings as JSON strings; bytes by
 * mode (auto: text when printable UTF-8, else {"base64": ...}; hex or base64:
 * a plain string). Longer than max_bytes: {"<form>": ..., "length": N,
 * "truncated": true}. */
static void json_blob_general(struct buf *b, const uint8_t *p, size_t n, bool is_string,
			      const struct view_opts *o);

static inline void json_blob(struct buf *b, const uint8_t *p, size_t n, bool is_string,
			     const struct view_opts *o)
{
	/* The common case, printable ASCII that needs no escaping and no
	 * shortening, is one scan and one copy; it prints what the general
	 * path would. */
	if ((is_string || o->bytes == VIEW_BYTES_AUTO) && (o->max_bytes == 0 || n <= o->max_bytes) &&
	    buf_json_plain(b, p, n))
		return;
	json_blob_general(b, p, n, is_string, o);
}

static void json_blob_general(struct buf *b, const uint8_t *p, size_t n, bool is_string,
			      const struct view_opts *o)
{
	bool text = is_string || (o->bytes == VIEW_BYTES_AUTO && buf_is_printable_utf8(p, n));
	size_t k = shown_len(p, n, o->max_bytes, text);
	bool cut = k < n;
	const char *form = text ? "text" : o->bytes == VIEW_BYTES_HEX ? "hex" : "base64";
	bool object = cut || (!text && o->bytes == VIEW_BYTES_AUTO);
	if (object)
		buf_printf(b, "{\"%s\":", form);
	if (text) {
		buf_json_string(b, p, k);
	} else {
		buf_putc(b, '"');
		if (o->bytes == VIEW_BYTES_HEX)
			buf_hex(b, p, k);
		else
			buf_base64(b, p, k);
		buf_putc(b, '"');
	}
	if (cut)
		buf_printf(b, ",\"length\":%zu,\"truncated\":true", n);
	if (object)
		buf_putc(b, '}');
}

static void json_node(struct buf *b, const struct tree *t, tree_ref r, const struct view_opts *o);

/* Room that any comma + scalar value (null, a bool, an int64) fits in. */
#define SCALAR_ROOM 32

static const char digits2[200] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Integers without printf, two digits a step: they are most of the values
 * in JSON output. Writes at o (room for 20 bytes) and returns the end. */
static inline uint8_t *put_i64_at(uint8_t *o, int64_t v)
{
	uint64_t u = (uint64_t)v;
	if (v < 0) {
		*o++ = '-';
		u = (uint64_t)0 - u;
	}
	/* Digits from the bit length: log10(2) ~ 1233/4096, then one compare
	 * corrects the estimate. */
	static const uint64_t pow10[20] = {0,
					   10ull,
					   100ull,
					   1000ull,
					   10000ull,
					   100000ull,
					   1000000ull,
					   10000000ull,
					   100000000ull,
					   1000000000ull,
					   10000000000ull,
					   100000000000ull,
					   1000000000000ull,
					   10000000000000ull,
					   100000000000000ull,
					   1000000000000000ull,
					   10000000000000000ull,
					   100000000000000000ull,
					   1000000000000000000ull,
					   10000000000000000000ull};
	unsigned t = (unsigned)(64 - __builtin_clzll(u | 1)) * 1233 >> 12;
	unsigned n = t + 1 - (u < pow10[t]);
	uint8_t *e = o + n, *q = e;
	while (u >= 100) {
		unsigned d = (unsigned)(u % 100);
		u /= 100;
		q -= 2;
		q[0] = (uint8_t)digits2[2 * d];
		q[1] = (uint8_t)digits2[2 * d + 1];
	}
	if (u >= 10) {
		q[-2] = (uint8_t)digits2[2 * u];
		q[-1] = (uint8_t)digits2[2 * u + 1];
	} else {
		q[-1] = (uint8_t)('0' + u);
	}
	return e;
}

/* memcpy for the short names of fields, without a call: two overlapping
 * fixed-size copies cover every length from 4 to 16. */
static inline void copy_short(uint8_t *d, const char *s, size_t n)
{
	if (n >= 8 && n <= 16) {
		memcpy(d, s, 8);
		memcpy(d + n - 8, s + n - 8, 8);
	} else if (n >= 4 && n < 8) {
		memcpy(d, s, 4);
		memcpy(d + n - 4, s + n - 4, 4);
	} else if (n < 4) {
		for (size_t i = 0; i < n; i++)
			d[i] = (uint8_t)s[i];
	} else {
		memcpy(d, s, n);
	}
}

/* A value that needs no more than SCALAR_ROOM bytes (null, bool, integer)
 * written at o; NULL when the node is something else. */
static inline __attribute__((always_inline)) uint8_t *scalar_at(uint8_t *o,
								 const struct tree_node *nd)
{
	if ((nd->flags & TREE_F_NULL) && !nd->first) {
		memcpy(o, "null", 4);
		return o + 4;
	}
	/* The integer types are contiguous in enum schema_type. */
	if (nd->type >= SCHEMA_INT8 && nd->type <= SCHEMA_INT64) {
		int64_t v = nd->v.i;
		/* Small values (deltas, attributes, indexes) without the general path. */
		if (v >= 0 && v < 10) {
			*o = (uint8_t)('0' + v);
			return o + 1;
		}
		return put_i64_at(o, v);
	}
	if (nd->type == SCHEMA_BOOL) {
		if (nd->v.i) {
			memcpy(o, "true", 4);
			return o + 4;
		}
		memcpy(o, "false", 5);
		return o + 5;
	}
	return NULL;
}

/* A null or a bytes value, as json_node writes a BYTES/STRING node. */
static inline void json_lazy_blob(struct buf *b, const uint8_t *p, int32_t len, bool is_string,
				  const struct view_opts *o)
{
	if (!p)
		buf_puts(b, "null");
	else
		json_blob(b, p, (size_t)len, is_string, o);
}

static void json_header(struct buf *b, const uint8_t *key, int32_t key_len,
			const uint8_t *value, int32_t value_len, const struct view_opts *o)
{
	buf_puts(b, "{\"key\":");
	json_blob(b, key, (size_t)key_len, true, o);
	buf_puts(b, ",\"value\":");
	json_lazy_blob(b, value, value_len, false, o);
	buf_putc(b, '}');
}

void view_json_record_header(struct buf *b, const uint8_t *key, int32_t key_len,
			     const uint8_t *value, int32_t value_len, const struct view_opts *o)
{
	json_header(b, key, key_len, value, value_len, o ? o : &default_opts);
}

/* The last integer written and its digits. Consecutive records mostly
 * repeat a timestamp or count an offset up by one; reusing the digits saves
 * the divisions, which were the larger part of writing a record. */
struct memo {
	int64_t v;
	bool ok;
	uint8_t len;
	uint8_t d[24];
};

/* Write v at o (room for 24 bytes) and return the end. The digits are
 * copied to o before any is changed, and changed in both places: reading
 * m->d right after storing into it would stall on the store. */
static inline uint8_t *memo_put(uint8_t *o, struct memo *m, int64_t v)
{
	if (m->ok) {
		if (v == m->v) {
			memcpy(o, m->d, sizeof m->d);
			return o + m->len;
		}
		if (m->v >= 0 && m->v < INT64_MAX && v == m->v + 1) {
			/* Count up in decimal; all nines grows a digit: start over. */
			int k = m->len - 1;
			while (k >= 0 && m->d[k] == '9')
				k--;
			if (k >= 0) {
				memcpy(o, m->d, sizeof m->d);
				o[k] = ++m->d[k];
				for (int j = k + 1; j < m->len; j++)
					o[j] = m->d[j] = '0';
				m->v = v;
				return o + m->len;
			}
		}
	}
	uint8_t *e = put_i64_at(o, v);
	m->len = (uint8_t)(e - o);
	memcpy(m->d, o, sizeof m->d);
	m->v = v;
	m->ok = true;
	return e;
}

/* Records left unexpanded (records.h, "Lazy records"), written as the
 * expanded nodes would be: {"offset", "timestamp", "offsetDelta",
 * "timestampDelta", "attributes", "key", "value", "headers"}. The records
 * were checked sound when the node was made; should the iterator stop early
 * anyway, the array just ends there. */
static void json_lazy_records(struct buf *b, const struct records_lazy *z, const struct view_opts *o)
{
	struct records_iter it;
	struct records_rec rec;
	struct records_hdr h;
	struct memo m_off = {0}, m_ts = {0}, m_od = {0};
	records_iter_init(&it, z);
	buf_putc(b, '[');
	for (uint32_t i = 0; i < z->count && records_iter_next(&it, &rec); i++) {
		/* A comma, 74 bytes of keys, and five integers of at most 20
		 * bytes (memo_put stores 24). */
		if (!buf_reserve(b, 256))
			return;
		uint8_t *w = b->p + b->len;
		if (i)
			*w++ = ',';
#define LIT(s) (memcpy(w, s, sizeof s - 1), w += sizeof s - 1)
		LIT("{\"offset\":");
		w = memo_put(w, &m_off, rec.offset);
		LIT(",\"timestamp\":");
		w = memo_put(w, &m_ts, rec.timestamp);
		LIT(",\"offsetDelta\":");
		w = memo_put(w, &m_od, rec.offset_delta);
		LIT(",\"timestampDelta\":");
		w = put_i64_at(w, rec.ts_delta);
		LIT(",\"attributes\":");
		w = put_i64_at(w, rec.attributes);
		LIT(",\"key\":");
		b->len = (size_t)(w - b->p);
		json_lazy_blob(b, rec.key, rec.key_len, false, o);
		buf_puts(b, ",\"value\":");
		json_lazy_blob(b, rec.value, rec.value_len, false, o);
		if (rec.nheaders == 0) {
			buf_puts(b, ",\"headers\":[]}");
			continue;
		}
		buf_puts(b, ",\"headers\":[");
		for (int32_t k = 0; k < rec.nheaders && records_iter_header(&it, &h); k++) {
			if (k)
				buf_putc(b, ',');
			json_header(b, h.key, h.key_len, h.value, h.value_len, o);
		}
		buf_puts(b, "]}");
#undef LIT
	}
	buf_putc(b, ']');
}

/* Members of a struct, but for `skip` (TREE_NONE: none). */
static void json_members(struct buf *b, const struct tree *t, tree_ref r, tree_ref skip,
			 const struct view_opts *o)
{
	const struct tree_node *nd = &t->nodes[r];
	unsigned unknown = 0, unnamed = 0;
	/* Each member starts with sep: the opening brace, then commas. */
	uint8_t sep = '{';
	for (tree_ref c = nd->first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (cn->flags & TREE_F_UNKNOWN_TAG) {
			unknown++;
			continue;
		}
		if (c == skip)
			continue;
		/* Comma, key and a scalar value in one reservation. Schema and
		 * records names are plain identifiers: no escaping. */
		size_t nl = cn->name_len == UINT16_MAX ? strlen(cn->name) : cn->name_len;
		if (!buf_reserve(b, nl + 3 + SCALAR_ROOM))
			return;
		uint8_t *w = b->p + b->len;
		*w++ = sep;
		sep = ',';
		if (cn->name) {
			*w++ = '"';
			copy_short(w, cn->name, nl);
			w += nl;
			*w++ = '"';
			*w++ = ':';
		} else {
			b->len = (size_t)(w - b->p);
			buf_printf(b, "\"_%u\":", unnamed++);
			if (!buf_reserve(b, SCALAR_ROOM))
				return;
			w = b->p + b->len;
		}
		uint8_t *e = scalar_at(w, cn);
		if (e) {
			b->len = (size_t)(e - b->p);
			continue;
		}
		if (cn->type == SCHEMA_ARRAY && !cn->first && !(cn->flags & TREE_F_LAZY)) {
			/* An empty array (the headers of most records). */
			w[0] = '[';
			w[1] = ']';
			b->len = (size_t)(w + 2 - b->p);
			continue;
		}
		b->len = (size_t)(w - b->p);
		/* Keys and values of records: straight to the blob writer. */
		if (cn->type == SCHEMA_BYTES && !cn->first)
			json_blob(b, cn->v.b.p, cn->v.b.len, false, o);
		else
			json_node(b, t, c, o);
	}
	bool first = sep == '{';
	if (first)
		buf_putc(b, '{');
	if (nd->flags & TREE_F_PARTIAL) {
		buf_puts(b, first ? "\"_partial\":true" : ",\"_partial\":true");
		first = false;
	}
	if (nd->flags & TREE_F_ERROR) {
		buf_puts(b, first ? "\"_error\":true" : ",\"_error\":true");
		first = false;
	}
	if (unknown) {
		buf_puts(b, first ? "\"_unknownTaggedFields\":[" : ",\"_unknownTaggedFields\":[");
		bool f2 = true;
		for (tree_ref c = nd->first; c; c = t->nodes[c].next) {
			const struct tree_node *cn = &t->nodes[c];
			if (!(cn->flags & TREE_F_UNKNOWN_TAG))
				continue;
			buf_printf(b, "%s{\"tag\":%" PRIu32 ",\"data\":\"", f2 ? "" : ",",
				   (uint32_t)cn->tag);
			buf_hex(b, cn->v.b.p, cn->v.b.len);
			buf_puts(b, "\"}");
			f2 = false;
		}
		buf_putc(b, ']');
	}
	buf_putc(b, '}');
}

/* The records array of a record batch that holds application records (not
 * a control batch, not a legacy message); TREE_NONE otherwise. The same
 * batches whose records the store puts in its records table. */
static tree_ref batch_records(const struct tree *t, tree_ref entry)
{
	tree_ref recs = tree_child(t, entry, "records");
	if (recs == TREE_NONE || t->nodes[recs].type != SCHEMA_ARRAY || records_is_control(t, entry))
		return TREE_NONE;
	return recs;
}

/* Decoded record data with view_opts.omit_batch_records: the batches
 * without their records arrays. */
static void json_batches(struct buf *b, const struct tree *t, tree_ref r, const struct view_opts *o)
{
	buf_putc(b, '[');
	for (tree_ref c = t->nodes[r].first; c; c = t->nodes[c].next) {
		if (c != t->nodes[r].first)
			buf_putc(b, ',');
		tree_ref skip = t->nodes[c].type == SCHEMA_STRUCT ? batch_records(t, c) : TREE_NONE;
		if (skip != TREE_NONE)
			json_members(b, t, c, skip, o);
		else
			json_node(b, t, c, o);
	}
	buf_putc(b, ']');
}

static void json_node(struct buf *b, const struct tree *t, tree_ref r, const struct view_opts *o)
{
	const struct tree_node *nd = &t->nodes[r];
	if (!buf_reserve(b, SCALAR_ROOM))
		return;
	uint8_t *e = scalar_at(b->p + b->len, nd);
	if (e) {
		b->len = (size_t)(e - b->p);
		return;
	}
	switch (nd->type) {
	case SCHEMA_FLOAT64:
		put_double(b, nd->v.f);
		return;
	case SCHEMA_UUID:
		buf_putc(b, '"');
		put_uuid(b, nd->v.uuid);
		buf_putc(b, '"');
		return;
	case SCHEMA_STRING:
		json_blob(b, nd->v.b.p, nd->v.b.len, true, o);
		return;
	case SCHEMA_BYTES:
	case SCHEMA_RECORDS:
		if (!nd->first) {
			json_blob(b, nd->v.b.p, nd->v.b.len, false, o);
			return;
		}
		/* Decoded record data: an array of what the records decoder added. */
		if (nd->type == SCHEMA_RECORDS && o->omit_batch_records) {
			json_batches(b, t, r, o);
			return;
		}
		/* fall through */
	case SCHEMA_ARRAY: {
		if (nd->flags & TREE_F_LAZY) {
			json_lazy_records(b, records_lazy_of(nd), o);
			return;
		}
		buf_putc(b, '[');
		bool first = true;
		for (tree_ref c = nd->first; c; c = t->nodes[c].next) {
			if (!buf_reserve(b, 1 + SCALAR_ROOM))
				return;
			uint8_t *w = b->p + b->len;
			if (!first)
				*w++ = ',';
			first = false;
			e = scalar_at(w, &t->nodes[c]);
			b->len = (size_t)((e ? e : w) - b->p);
			if (!e)
				json_node(b, t, c, o);
		}
		buf_putc(b, ']');
		return;
	}
	case SCHEMA_STRUCT:
	default:
		json_members(b, t, r, TREE_NONE, o);
		return;
	}
}

void view_json(struct buf *b, const struct tree *t, tree_ref root, const struct view_opts *o)
{
	if (!o)
		o = &default_opts;
	if (root == TREE_NONE) {
		buf_puts(b, "null");
		return;
	}
	json_node(b, t, root, o);
}

/* ---- verbose ---- */

static void indent_to(struct buf *b, int level)
{
	for (int i = 0; i < level; i++)
		buf_puts(b, "  ");
}

/* A scalar value as verbose text: strings quoted, bytes by mode. */
static void text_blob(struct buf *b, const uint8_t *p, size_t n, bool is_string,
		      const struct view_opts *o)
{
	bool text = is_string || (o->bytes == VIEW_BYTES_AUTO && buf_is_printable_utf8(p, n));
	size_t k = shown_len(p, n, o->max_bytes, text);
	if (text) {
		buf_json_string(b, p, k);
	} else if (o->bytes == VIEW_BYTES_HEX) {
		buf_puts(b, "hex:");
		buf_hex(b, p, k);
	} else {
		buf_puts(b, "base64:");
		buf_base64(b, p, k);
	}
	if (k < n)
		buf_printf(b, " ... (%zu bytes, truncated)", n);
}

static void verbose_node(struct buf *b, const struct tree *t, tree_ref r, const char *name,
			 int32_t idx, int level, const struct view_opts *o);

static void verbose_children(struct buf *b, const struct tree *t, tree_ref r, int level,
			     const struct view_opts *o)
{
	const struct tree_node *nd = &t->nodes[r];
	unsigned unnamed = 0;
	for (tree_ref c = nd->first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (cn->flags & TREE_F_UNKNOWN_TAG) {
			indent_to(b, level);
			buf_printf(b, "unknown tag %" PRIu32 ": hex:", (uint32_t)cn->tag);
			buf_hex(b, cn->v.b.p, cn->v.b.len);
			buf_putc(b, '\n');
			continue;
		}
		char tmp[16];
		const char *nm = cn->name;
		if (!nm) {
			snprintf(tmp, sizeof tmp, "_%u", unnamed++);
			nm = tmp;
		}
		verbose_node(b, t, c, nm, -1, level, o);
	}
}

static void verbose_label(struct buf *b, const char *name, int32_t idx, int level)
{
	indent_to(b, level);
	if (idx >= 0)
		buf_printf(b, "%s[%d]", name, (int)idx);
	else
		buf_puts(b, name);
}

static void verbose_node(struct buf *b, const struct tree *t, tree_ref r, const char *name,
			 int32_t idx, int level, const struct view_opts *o)
{
	const struct tree_node *nd = &t->nodes[r];
	bool null = (nd->flags & TREE_F_NULL) && !nd->first;
	/* Arrays, and record data the records decoder expanded, list their
	 * elements as name[i]. */
	bool list = !null && (nd->type == SCHEMA_ARRAY ||
			      ((nd->type == SCHEMA_BYTES || nd->type == SCHEMA_RECORDS) && nd->first));
	if (list && nd->first && idx < 0) {
		int32_t i = 0;
		for (tree_ref c = nd->first; c; c = t->nodes[c].next)
			verbose_node(b, t, c, name, i++, level, o);
		return;
	}
	verbose_label(b, name, idx, level);
	if (null) {
		buf_puts(b, ": null\n");
		return;
	}
	if (list) {
		if (!nd->first) {
			buf_puts(b, ": []\n");
			return;
		}
		/* An array inside an array does not occur in Kafka's schemas. */
		buf_puts(b, ":\n");
		int32_t i = 0;
		for (tree_ref c = nd->first; c; c = t->nodes[c].next)
			verbose_node(b, t, c, "_", i++, level + 1, o);
		return;
	}
	switch (nd->type) {
	case SCHEMA_STRUCT:
		buf_puts(b, nd->flags & TREE_F_PARTIAL ? ": (partial)\n" : ":\n");
		verbose_children(b, t, r, level + 1, o);
		return;
	case SCHEMA_BYTES:
	case SCHEMA_RECORDS:
		buf_puts(b, ": ");
		text_blob(b, nd->v.b.p, nd->v.b.len, false, o);
		buf_putc(b, '\n');
		return;
	case SCHEMA_BOOL:
		buf_puts(b, nd->v.i ? ": true\n" : ": false\n");
		return;
	case SCHEMA_FLOAT64:
		buf_puts(b, ": ");
		put_double(b, nd->v.f);
		buf_putc(b, '\n');
		return;
	case SCHEMA_UUID:
		buf_puts(b, ": ");
		put_uuid(b, nd->v.uuid);
		buf_putc(b, '\n');
		return;
	case SCHEMA_STRING:
		buf_puts(b, ": ");
		text_blob(b, nd->v.b.p, nd->v.b.len, true, o);
		buf_putc(b, '\n');
		return;
	default:
		buf_printf(b, ": %" PRId64 "\n", nd->v.i);
		return;
	}
}

void view_verbose(struct buf *b, const struct tree *t, tree_ref root, int indent,
		  const struct view_opts *o)
{
	if (!o)
		o = &default_opts;
	if (root == TREE_NONE)
		return;
	verbose_children(b, t, root, indent < 0 ? 0 : indent, o);
}

/* ---- summaries ---- */

#define MAX_TOPICS_SHOWN 8
#define MAX_PARTS_SHOWN 16
#define MAX_ERRORS_SHOWN 4

/* Facts are separated by one space; `start` is where the facts begin. */
static void sep(struct buf *b, size_t start)
{
	if (b->len > start)
		buf_putc(b, ' ');
}

static bool name_is(const struct tree_node *n, const char *s)
{
	return n->name && strcmp(n->name, s) == 0;
}

static tree_ref child_of(const struct tree *t, tree_ref r, const char *const *names)
{
	for (tree_ref c = t->nodes[r].first; c; c = t->nodes[c].next)
		for (const char *const *n = names; *n; n++)
			if (name_is(&t->nodes[c], *n))
				return c;
	return TREE_NONE;
}

/* Number of records under a records node: the recordCount of each batch the
 * records decoder added, or the length of its records array; -1 when the
 * data was not decoded. */
static int64_t records_count(const struct tree *t, tree_ref r)
{
	const struct tree_node *nd = &t->nodes[r];
	if (!nd->first)
		return -1;
	int64_t n = 0;
	for (tree_ref c = nd->first; c; c = t->nodes[c].next) {
		tree_ref rc = tree_child(t, c, "recordCount");
		if (rc && !(t->nodes[rc].flags & TREE_F_NULL)) {
			n += t->nodes[rc].v.i;
			continue;
		}
		tree_ref arr = tree_child(t, c, "records");
		if (arr)
			n += t->nodes[arr].count;
	}
	return n;
}

struct rec_tally {
	int64_t records; /* in decoded record data */
	int64_t bytes;   /* of record data left undecoded */
	bool any;        /* a records field was seen */
};

static void records_under(const struct tree *t, tree_ref r, struct rec_tally *k)
{
	for (tree_ref c = t->nodes[r].first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (cn->flags & TREE_F_SYNTH)
			continue;
		if (cn->type == SCHEMA_RECORDS) {
			k->any = true;
			if (cn->flags & TREE_F_NULL)
				continue;
			int64_t n = records_count(t, c);
			if (n >= 0)
				k->records += n;
			else
				k->bytes += cn->v.b.len;
		} else if (cn->type == SCHEMA_STRUCT || cn->type == SCHEMA_ARRAY) {
			records_under(t, c, k);
		}
	}
}

/* ": 3 records" (or ": 512 bytes" while the data is not decoded). */
static void put_tally(struct buf *b, const struct rec_tally *k)
{
	if (!k->any)
		return;
	if (k->bytes)
		buf_printf(b, ": %" PRId64 " bytes", k->bytes);
	else
		buf_printf(b, ": %" PRId64 " record%s", k->records, k->records == 1 ? "" : "s");
}

static const char *const topic_arrays[] = {"topics", "topicData", "responses", NULL};
static const char *const topic_names[] = {"name", "topic", "topicName", "topicId", NULL};
static const char *const part_arrays[] = {"partitions", "partitionData", "partitionResponses",
					  "partitionIndexes", NULL};

/* The top-level array of topics (with a name or id) if the body has one. */
static tree_ref topic_array(const struct tree *t, tree_ref root)
{
	tree_ref a = child_of(t, root, topic_arrays);
	if (!a || t->nodes[a].type != SCHEMA_ARRAY || !t->nodes[a].field ||
	    t->nodes[a].field->elem != SCHEMA_STRUCT || (t->nodes[a].flags & TREE_F_NULL))
		return TREE_NONE;
	const struct schema_struct *s = t->nodes[a].field->sub;
	for (uint16_t i = 0; i < s->nfields; i++)
		for (const char *const *n = topic_names; *n; n++)
			if (strcmp(s->fields[i].json_name, *n) == 0)
				return a;
	return TREE_NONE;
}

static void put_scalar(struct buf *b, const struct tree_node *n)
{
	if (n->flags & TREE_F_NULL) {
		buf_puts(b, "null");
	} else if (n->type == SCHEMA_UUID) {
		put_uuid(b, n->v.uuid);
	} else if (n->type == SCHEMA_STRING) {
		/* One line, one word: plain when it is printable and has no
		 * space, else quoted and escaped. */
		if (buf_is_plain_word(n->v.b.p, n->v.b.len, false))
			buf_append(b, n->v.b.p, n->v.b.len);
		else
			buf_json_string(b, n->v.b.p, n->v.b.len);
	} else if (n->type == SCHEMA_BOOL) {
		buf_puts(b, n->v.i ? "true" : "false");
	} else {
		buf_printf(b, "%" PRId64, n->v.i);
	}
}

/* "t1[0,1]: 3 records, t2[4]: 0 records" from a topics array. */
static void put_topics(struct buf *b, const struct tree *t, tree_ref arr, bool counts)
{
	uint32_t shown = 0;
	for (tree_ref tp = t->nodes[arr].first; tp; tp = t->nodes[tp].next) {
		if (shown == MAX_TOPICS_SHOWN) {
			buf_printf(b, ", +%" PRIu32 " more topics", t->nodes[arr].count - shown);
			break;
		}
		if (shown++)
			buf_puts(b, ", ");
		tree_ref nm = child_of(t, tp, topic_names);
		if (nm)
			put_scalar(b, &t->nodes[nm]);
		else
			buf_putc(b, '?');
		tree_ref parts = child_of(t, tp, part_arrays);
		if (parts && t->nodes[parts].type == SCHEMA_ARRAY &&
		    !(t->nodes[parts].flags & TREE_F_NULL)) {
			buf_putc(b, '[');
			uint32_t k = 0;
			for (tree_ref p = t->nodes[parts].first; p; p = t->nodes[p].next, k++) {
				if (k == MAX_PARTS_SHOWN) {
					buf_printf(b, ",+%" PRIu32, t->nodes[parts].count - k);
					break;
				}
				const struct tree_node *pn = &t->nodes[p];
				int64_t idx = pn->v.i; /* an array of partition ids */
				if (pn->type == SCHEMA_STRUCT)
					idx = tree_get_int(t, p, "partitionIndex",
							   tree_get_int(t, p, "index",
									tree_get_int(t, p, "partition", -1)));
				buf_printf(b, "%s%" PRId64, k ? "," : "", idx);
			}
			buf_putc(b, ']');
		}
		if (counts) {
			struct rec_tally k = {0, 0, false};
			records_under(t, tp, &k);
			put_tally(b, &k);
		}
	}
}

/* Distinct non-zero errorCode values, in document order. */
struct err_set {
	int codes[MAX_ERRORS_SHOWN];
	unsigned n, more;
};

static void collect_errors(const struct tree *t, tree_ref r, struct err_set *e)
{
	for (tree_ref c = t->nodes[r].first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (cn->flags & TREE_F_SYNTH)
			continue;
		if (cn->type == SCHEMA_INT16 && cn->v.i != 0 && name_is(cn, "errorCode")) {
			bool seen = false;
			for (unsigned i = 0; i < e->n; i++)
				seen |= e->codes[i] == (int)cn->v.i;
			if (seen)
				continue;
			if (e->n < MAX_ERRORS_SHOWN)
				e->codes[e->n++] = (int)cn->v.i;
			else
				e->more++;
		} else if (cn->type == SCHEMA_STRUCT || cn->type == SCHEMA_ARRAY) {
			collect_errors(t, c, e);
		}
	}
}

static void put_errors(struct buf *b, size_t start, const struct tree *t, tree_ref root)
{
	struct err_set e = {{0}, 0, 0};
	collect_errors(t, root, &e);
	if (!e.n)
		return;
	sep(b, start);
	buf_puts(b, "errors=");
	for (unsigned i = 0; i < e.n; i++) {
		const char *nm = schema_error_name(e.codes[i]);
		if (i)
			buf_putc(b, ',');
		if (nm)
			buf_puts(b, nm);
		else
			buf_printf(b, "%d", e.codes[i]);
	}
	if (e.more)
		buf_printf(b, ",+%u more", e.more);
}

/* Top-level scalars worth a place on a one-line summary. */
static const char *const key_scalars[] = {
	"acks", "groupId", "generationId", "memberId", "transactionalId", "key", "keyType",
	"producerId", "mechanism", NULL};

static void put_key_scalars(struct buf *b, size_t start, const struct tree *t, tree_ref root)
{
	for (tree_ref c = t->nodes[root].first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (!cn->name || cn->type == SCHEMA_STRUCT || cn->type == SCHEMA_ARRAY ||
		    cn->type == SCHEMA_BYTES || cn->type == SCHEMA_RECORDS)
			continue;
		/* A null string (no transactional id) says nothing. */
		if (cn->flags & TREE_F_NULL)
			continue;
		for (const char *const *k = key_scalars; *k; k++) {
			if (strcmp(cn->name, *k) == 0) {
				sep(b, start);
				buf_printf(b, "%s=", cn->name);
				put_scalar(b, cn);
				break;
			}
		}
	}
}

/* "brokers=3 topics=1": the sizes of non-empty top-level arrays except `skip`. */
static void put_array_counts(struct buf *b, size_t start, const struct tree *t, tree_ref root,
			     tree_ref skip)
{
	for (tree_ref c = t->nodes[root].first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (cn->type != SCHEMA_ARRAY || c == skip || !cn->name)
			continue;
		if (cn->flags & TREE_F_NULL) {
			sep(b, start);
			buf_printf(b, "%s=null", cn->name);
		} else if (cn->count) {
			sep(b, start);
			buf_printf(b, "%s=%" PRIu32, cn->name, cn->count);
		}
	}
}

/* Does this body carry record data (Produce requests, Fetch responses)? */
static bool has_records(const struct tree *t, tree_ref root)
{
	struct rec_tally k = {0, 0, false};
	records_under(t, root, &k);
	return k.any;
}

void view_summary(struct buf *b, const struct codec_header *h, const struct tree *t, tree_ref root)
{
	const char *api = schema_api_name(h->api_key);
	if (api)
		buf_puts(b, api);
	else
		buf_printf(b, "api%d", h->api_key);
	buf_printf(b, " v%d %s corr=%" PRId32, h->api_version, h->response ? "response" : "request",
		   h->correlation_id);
	if (!h->response && h->has_client_id && !h->client_id_null) {
		struct tree_node tmp;
		memset(&tmp, 0, sizeof tmp);
		tmp.type = SCHEMA_STRING;
		tmp.v.b.p = h->client_id;
		tmp.v.b.len = h->client_id_len;
		buf_puts(b, " client=");
		put_scalar(b, &tmp);
	}
	if (root == TREE_NONE)
		return;
	/* Every fact follows the header after a space. */
	size_t start = b->len ? b->len - 1 : 0;
	/* Messages that carry records list their topics and partitions with
	 * record counts; the others show the sizes of their top-level arrays. */
	tree_ref topics = has_records(t, root) ? topic_array(t, root) : TREE_NONE;
	put_key_scalars(b, start, t, root);
	put_array_counts(b, start, t, root, topics);
	if (topics && t->nodes[topics].count) {
		sep(b, start);
		put_topics(b, t, topics, true);
	}
	if (h->response)
		put_errors(b, start, t, root);
}

void view_facts(struct buf *b, int api_key, const struct tree *t_req, tree_ref req_root,
		const struct tree *t_resp, tree_ref resp_root)
{
	(void)api_key;
	size_t start = b->len;
	/* Topics with record counts from the side that carries records (the
	 * request of a Produce, the response of a Fetch); otherwise the topics
	 * as the request names them, or the request's key scalars. */
	const struct tree *tt = NULL;
	tree_ref topics = TREE_NONE;
	bool counts = false;
	if (resp_root && has_records(t_resp, resp_root) && (topics = topic_array(t_resp, resp_root))) {
		tt = t_resp;
		counts = true;
	} else if (req_root && (topics = topic_array(t_req, req_root))) {
		tt = t_req;
		counts = has_records(t_req, req_root);
	} else if (resp_root && (topics = topic_array(t_resp, resp_root))) {
		tt = t_resp;
	}
	if (req_root)
		put_key_scalars(b, start, t_req, req_root);
	if (topics && tt->nodes[topics].count) {
		sep(b, start);
		put_topics(b, tt, topics, counts);
	}
	if (resp_root)
		put_errors(b, start, t_resp, resp_root);
}

static int first_error(const struct tree *t, tree_ref r)
{
	for (tree_ref c = t->nodes[r].first; c; c = t->nodes[c].next) {
		const struct tree_node *cn = &t->nodes[c];
		if (cn->flags & TREE_F_SYNTH)
			continue;
		if (cn->type == SCHEMA_INT16 && name_is(cn, "errorCode") && cn->v.i != 0)
			return (int)cn->v.i;
		if (cn->type == SCHEMA_STRUCT || cn->type == SCHEMA_ARRAY) {
			int e = first_error(t, c);
			if (e)
				return e;
		}
	}
	return 0;
}

int view_first_error(const struct tree *t, tree_ref root)
{
	if (root == TREE_NONE)
		return 0;
	return first_error(t, root);
}
