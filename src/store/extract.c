/* extract: decoding, redaction and record extraction for the store (see
 * extract.h). Frames are decoded by the report module (report_decode), the
 * same call `kafkatap decode` makes, and bodies are written with view_json
 * and the default view options, so request_json / response_json are the
 * "request" / "response" members of `kafkatap decode --json`, but for the
 * records arrays of record batches on the side that fills the records table
 * when its raw frame is kept (view_opts.omit_batch_records).
 *
 * The records tree follows src/records/records.c: a records field has one
 * child per RecordBatch (magic 2: attributes/isControl, records[] each with
 * absolute offset and timestamp, key, value, headers[]) or per legacy message
 * (magic 0/1: offset, timestamp, key, value; a compressed wrapper holds
 * messages[]).
 *
 * When redaction changes a frame, the changed tree is encoded again (record
 * batches with records_encode_batch, the message with the codec) and the new
 * frame is decoded once more for the JSON, so the stored raw frame always
 * decodes to the stored JSON. A frame that cannot be re-encoded (malformed,
 * legacy message sets) is not kept raw. */
#include "config.h"
#include "store/extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/report.h"
#include "output/view.h"
#include "proto/codec.h"
#include "records/records.h"
#include "store/sha256.h"
#include "util/buf.h"

#define API_PRODUCE 0
#define API_FETCH 1

/* A record as collected; text lives in e->text at the given offsets, since
 * that buffer may move while it grows. */
struct rec {
	struct extract_record r;
	size_t headers_off;   /* in e->text; SIZE_MAX: none */
	size_t value_off;     /* hashed value text in e->text; SIZE_MAX: none */
	size_t topic_id_off;  /* in e->text; SIZE_MAX: none */
};

struct extract {
	struct store_opts o;
	struct view_opts vopts;
	struct report_opts ropts;     /* lazy records unless values are redacted */
	struct report_decoded d;      /* the exchange as decode sees it */
	struct report_decoded d2;     /* a redacted frame decoded again */
	struct exchange x2;
	struct buf jreq, jresp;       /* JSON */
	struct buf rawreq, rawresp;   /* re-encoded frames (redaction) */
	struct buf batches;           /* re-encoded record data */
	struct buf text;              /* headers JSON, hashes */
	struct rec *recs;
	size_t nrecs, caprecs;
};

struct extract *extract_new(const struct store_opts *o)
{
	struct extract *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->o = *o;
	e->vopts.bytes = VIEW_BYTES_AUTO;
	e->vopts.max_bytes = 0;
	/* Sound batches stay unexpanded (records.h, "Lazy records"): the records
	 * table and the JSON are written from their bytes, without the nine tree
	 * nodes a record that a 50 MB Fetch of small records multiplied into
	 * hundreds of MB. Redacting values edits the nodes, so it expands. */
	e->ropts.lazy_records = o->values == STORE_REDACT_NONE;
	report_init(&e->d);
	report_init(&e->d2);
	buf_init(&e->jreq);
	buf_init(&e->jresp);
	buf_init(&e->rawreq);
	buf_init(&e->rawresp);
	buf_init(&e->batches);
	buf_init(&e->text);
	return e;
}

void extract_free(struct extract *e)
{
	if (!e)
		return;
	report_free(&e->d);
	report_free(&e->d2);
	buf_free(&e->jreq);
	buf_free(&e->jresp);
	buf_free(&e->rawreq);
	buf_free(&e->rawresp);
	buf_free(&e->batches);
	buf_free(&e->text);
	free(e->recs);
	free(e);
}

/* ---- redaction ---------------------------------------------------------- */

/* Fields that carry credentials, by api key. */
static bool secret_field(int api_key, const char *json_name)
{
	switch (api_key) {
	case 36: /* SaslAuthenticate: the SASL tokens themselves */
		return strcmp(json_name, "authBytes") == 0;
	case 38: /* CreateDelegationToken (response) */
	case 39: /* RenewDelegationToken */
	case 40: /* ExpireDelegationToken */
	case 41: /* DescribeDelegationToken (response) */
		return strcmp(json_name, "hmac") == 0;
	case 51: /* AlterUserScramCredentials */
		return strcmp(json_name, "salt") == 0 || strcmp(json_name, "saltedPassword") == 0;
	default:
		return false;
	}
}

static bool secret_api(int api_key)
{
	return api_key == 36 || (api_key >= 38 && api_key <= 41) || api_key == 51;
}

/* Point a string/bytes node at a copy of p[0..n) owned by the tree. */
static bool set_bytes(struct tree *t, tree_ref r, const void *p, size_t n)
{
	uint8_t *q = tree_alloc(t, n ? n : 1);
	struct tree_node *nd = tree_node(t, r);
	if (!q) {
		nd->flags |= TREE_F_NULL;
		return false;
	}
	memcpy(q, p, n);
	nd->v.b.p = q;
	nd->v.b.len = (uint32_t)n;
	nd->flags &= (uint8_t)~TREE_F_NULL;
	return true;
}

/* Replace every secret field in the subtree by "[redacted N bytes]";
 * returns how many were replaced. */
static int redact_secrets(struct tree *t, tree_ref r, int api_key)
{
	const struct tree_node *nd = tree_node(t, r);
	if (nd->field && (nd->type == SCHEMA_BYTES || nd->type == SCHEMA_STRING) &&
	    secret_field(api_key, nd->field->json_name)) {
		if (!(nd->flags & TREE_F_NULL)) {
			char tmp[48];
			int len = snprintf(tmp, sizeof tmp, "[redacted %u bytes]", (unsigned)nd->v.b.len);
			set_bytes(t, r, tmp, (size_t)len);
		}
		return 1;
	}
	int n = 0;
	for (tree_ref c = nd->first; c != TREE_NONE; c = tree_node(t, c)->next)
		n += redact_secrets(t, c, api_key);
	return n;
}

/* The value of one record or legacy message, as store_opts.values says. */
static void redact_value(struct extract *e, struct tree *t, tree_ref rec)
{
	tree_ref v = tree_child(t, rec, "value");
	if (v == TREE_NONE || (tree_node(t, v)->flags & TREE_F_NULL))
		return;
	if (e->o.values == STORE_REDACT_DROP) {
		tree_node(t, v)->flags |= TREE_F_NULL;
		return;
	}
	char text[7 + 2 * SHA256_LEN + 1] = "sha256:";
	sha256_hex(tree_node(t, v)->v.b.p, tree_node(t, v)->v.b.len, text + 7);
	set_bytes(t, v, text, sizeof text - 1);
}

static void redact_entries(struct extract *e, struct tree *t, tree_ref list)
{
	for (tree_ref b = tree_node(t, list)->first; b != TREE_NONE; b = tree_node(t, b)->next) {
		tree_ref recs = tree_child(t, b, "records");
		tree_ref msgs = tree_child(t, b, "messages");
		if (recs != TREE_NONE) {
			for (tree_ref r = tree_node(t, recs)->first; r; r = tree_node(t, r)->next)
				redact_value(e, t, r);
		} else if (msgs != TREE_NONE && tree_node(t, msgs)->count) {
			/* A compressed wrapper: its own value is the compressed inner set. */
			redact_entries(e, t, msgs);
			redact_value(e, t, b);
		} else {
			redact_value(e, t, b);
		}
	}
}

/* Rebuild a records field's bytes from its (redacted) batches. Trailing
 * partial batches are left out: their bytes may hold values. False when a
 * batch cannot be encoded (legacy message sets, damaged batches). */
static bool reencode_records(struct extract *e, struct tree *t, tree_ref recs)
{
	buf_reset(&e->batches);
	for (tree_ref b = tree_node(t, recs)->first; b != TREE_NONE; b = tree_node(t, b)->next) {
		if (tree_child(t, b, "partial") != TREE_NONE)
			continue;
		char err[128];
		if (!records_encode_batch(t, b, &e->batches, err, sizeof err))
			return false;
	}
	if (e->batches.failed)
		return false;
	return set_bytes(t, recs, e->batches.p ? e->batches.p : (const uint8_t *)"", e->batches.len);
}

/* Redact the values of every records field in the subtree; false when one
 * could not be re-encoded. *changed counts the fields touched. */
static bool redact_values(struct extract *e, struct tree *t, tree_ref r, int *changed)
{
	struct tree_node *nd = tree_node(t, r);
	if (nd->type == SCHEMA_RECORDS) {
		if ((nd->flags & TREE_F_NULL) || nd->v.b.len == 0)
			return true;
		(*changed)++;
		if (nd->first == TREE_NONE) {
			/* Not decoded: the bytes may hold values. The frame is not kept,
			 * and the JSON, which would print these bytes whole, shows what
			 * a value would: nothing, or their hash. (The records decoder
			 * gives every non-empty field children, so this is a guard;
			 * fuzz_extract checks the JSON either way.) */
			if (e->o.values == STORE_REDACT_DROP) {
				nd->flags |= TREE_F_NULL;
			} else {
				char text[7 + 2 * SHA256_LEN + 1] = "sha256:";
				sha256_hex(nd->v.b.p, nd->v.b.len, text + 7);
				set_bytes(t, r, text, sizeof text - 1);
			}
			return false;
		}
		redact_entries(e, t, r);
		return reencode_records(e, t, r);
	}
	bool ok = true;
	for (tree_ref c = nd->first; c != TREE_NONE; c = tree_node(t, c)->next)
		ok &= redact_values(e, t, c, changed);
	return ok;
}

/* ---- records ------------------------------------------------------------ */

static struct rec *rec_add(struct extract *e)
{
	if (e->nrecs == e->caprecs) {
		size_t nc = e->caprecs ? e->caprecs * 2 : 64;
		struct rec *nr = realloc(e->recs, nc * sizeof *nr);
		if (!nr)
			return NULL;
		e->recs = nr;
		e->caprecs = nc;
	}
	struct rec *r = &e->recs[e->nrecs++];
	memset(r, 0, sizeof *r);
	r->headers_off = SIZE_MAX;
	r->value_off = SIZE_MAX;
	r->topic_id_off = SIZE_MAX;
	return r;
}

/* A string/bytes child: pointer and length, or NULL for null/absent. */
static const uint8_t *child_bytes(const struct tree *t, tree_ref parent, const char *name, size_t *len)
{
	tree_ref c = tree_child(t, parent, name);
	*len = 0;
	if (c == TREE_NONE)
		return NULL;
	const struct tree_node *n = tree_node(t, c);
	if (n->flags & TREE_F_NULL)
		return NULL;
	*len = n->v.b.len;
	return n->v.b.p ? n->v.b.p : (const uint8_t *)"";
}

struct where {
	bool fetch;
	const uint8_t *topic;
	size_t topic_len;
	size_t topic_id_off;  /* in e->text; SIZE_MAX: none */
	int32_t partition;
};

/* A record for the table, but for its headers: where it is, its offset,
 * timestamp, key and value (as store_opts.values and max_value_bytes say);
 * NULL when out of memory. k / v NULL: null. */
static struct rec *rec_start(struct extract *e, const struct where *w, int64_t offset,
			     bool has_timestamp, int64_t timestamp, const uint8_t *k, size_t kl,
			     const uint8_t *v, size_t vl)
{
	struct rec *r = rec_add(e);
	if (!r)
		return NULL;
	r->r.fetch = w->fetch;
	r->r.topic = (const char *)w->topic;
	r->r.topic_len = w->topic_len;
	r->topic_id_off = w->topic_id_off;
	r->r.partition = w->partition;
	r->r.offset = offset;
	r->r.has_offset = true;
	r->r.has_timestamp = has_timestamp;
	r->r.timestamp = timestamp;
	size_t max = e->o.max_value_bytes;
	r->r.key = k;
	r->r.key_size = k ? (int64_t)kl : -1;
	r->r.key_len = k && max && kl > max ? max : kl;
	r->r.value_size = v ? (int64_t)vl : -1;
	if (v && e->o.values == STORE_REDACT_NONE) {
		r->r.value = v;
		r->r.value_len = max && vl > max ? max : vl;
	} else if (v && e->o.values == STORE_REDACT_HASH) {
		char hex[2 * SHA256_LEN + 1];
		sha256_hex(v, vl, hex);
		r->value_off = e->text.len;
		buf_puts(&e->text, "sha256:");
		buf_puts(&e->text, hex);
		r->r.value_len = 7 + 2 * SHA256_LEN;
		r->r.value_text = true;
	}
	return r;
}

/* A record of the decoded tree (a legacy message, or a batch expanded). */
static void take_record(struct extract *e, const struct tree *t, tree_ref rn, const struct where *w)
{
	size_t kl, vl;
	const uint8_t *k = child_bytes(t, rn, "key", &kl);
	const uint8_t *v = child_bytes(t, rn, "value", &vl);
	struct rec *r = rec_start(e, w, tree_get_int(t, rn, "offset", -1),
				  tree_child(t, rn, "timestamp") != TREE_NONE,
				  tree_get_int(t, rn, "timestamp", 0), k, kl, v, vl);
	if (!r)
		return;
	tree_ref hs = tree_child(t, rn, "headers");
	if (hs != TREE_NONE && tree_node(t, hs)->count > 0) {
		r->headers_off = e->text.len;
		buf_putc(&e->text, '[');
		for (tree_ref h = tree_node(t, hs)->first; h != TREE_NONE; h = tree_node(t, h)->next) {
			if (h != tree_node(t, hs)->first)
				buf_putc(&e->text, ',');
			view_json(&e->text, t, h, &e->vopts);
		}
		buf_putc(&e->text, ']');
		r->r.headers_json_len = e->text.len - r->headers_off;
	}
}

/* The records of a batch left unexpanded, read from its bytes: the same
 * rows as take_record makes of the expanded nodes. */
static void take_lazy(struct extract *e, const struct records_lazy *z, const struct where *w)
{
	struct records_iter it;
	struct records_rec rec;
	struct records_hdr h;
	records_iter_init(&it, z);
	for (uint32_t i = 0; i < z->count && records_iter_next(&it, &rec); i++) {
		struct rec *r = rec_start(e, w, rec.offset, true, rec.timestamp, rec.key,
					  rec.key ? (size_t)rec.key_len : 0, rec.value,
					  rec.value ? (size_t)rec.value_len : 0);
		if (!r)
			return;
		if (rec.nheaders > 0) {
			r->headers_off = e->text.len;
			buf_putc(&e->text, '[');
			for (int32_t k = 0; k < rec.nheaders && records_iter_header(&it, &h); k++) {
				if (k)
					buf_putc(&e->text, ',');
				view_json_record_header(&e->text, h.key, h.key_len, h.value,
							h.value_len, &e->vopts);
			}
			buf_putc(&e->text, ']');
			r->r.headers_json_len = e->text.len - r->headers_off;
		}
	}
}

static void walk_entries(struct extract *e, const struct tree *t, tree_ref list, const struct where *w)
{
	for (tree_ref b = tree_node(t, list)->first; b != TREE_NONE; b = tree_node(t, b)->next) {
		tree_ref recs = tree_child(t, b, "records");
		tree_ref msgs = tree_child(t, b, "messages");
		if (recs != TREE_NONE) {
			/* Control batches (transaction markers) hold no application records. */
			if (records_is_control(t, b))
				continue;
			const struct records_lazy *z = records_lazy_of(tree_node(t, recs));
			if (z) {
				take_lazy(e, z, w);
				continue;
			}
			for (tree_ref r = tree_node(t, recs)->first; r; r = tree_node(t, r)->next)
				take_record(e, t, r, w);
		} else if (msgs != TREE_NONE && tree_node(t, msgs)->count) {
			walk_entries(e, t, msgs, w);
		} else if (tree_child(t, b, "value") != TREE_NONE) {
			take_record(e, t, b, w);
		}
	}
}

/* Kafka's uuid text, URL-safe base64 without padding (22 characters),
 * NUL-terminated in `text`; returns its offset or SIZE_MAX. */
static size_t topic_id_text(struct buf *text, const struct tree *t, tree_ref parent)
{
	tree_ref id = tree_child(t, parent, "topicId");
	if (id == TREE_NONE || tree_node(t, id)->type != SCHEMA_UUID)
		return SIZE_MAX;
	struct buf b;
	buf_init(&b);
	buf_base64(&b, tree_node(t, id)->v.uuid, 16);
	size_t off = text->len;
	for (size_t i = 0; i < b.len; i++) {
		char c = (char)b.p[i];
		if (c != '=')
			buf_putc(text, c == '+' ? '-' : c == '/' ? '_' : c);
	}
	buf_putc(text, '\0');
	buf_free(&b);
	return off;
}

/* The Produce response's partitions, searched in the request's order: a
 * broker answers topics and partitions in the order asked, so each search
 * starts after the last match and a request of n partitions costs O(n), not
 * O(n^2); another order is still found (the search wraps). */
struct answers {
	const struct tree *t;
	tree_ref list;    /* responses[]; TREE_NONE: no response */
	tree_ref topic;   /* last topic matched */
	tree_ref part;    /* last partition matched in it */
};

static tree_ref next_wrap(const struct tree *t, tree_ref list, tree_ref from)
{
	tree_ref n = from != TREE_NONE ? tree_node(t, from)->next : TREE_NONE;
	return n != TREE_NONE ? n : tree_node(t, list)->first;
}

static bool same_topic(const struct tree *qt, tree_ref q, const struct tree *at, tree_ref a)
{
	size_t ql, al;
	const uint8_t *qn = child_bytes(qt, q, "name", &ql);
	const uint8_t *an = child_bytes(at, a, "name", &al);
	if (qn && an)
		return ql == al && memcmp(qn, an, ql) == 0;
	tree_ref qi = tree_child(qt, q, "topicId"), ai = tree_child(at, a, "topicId");
	return qi != TREE_NONE && ai != TREE_NONE && tree_node(qt, qi)->type == SCHEMA_UUID &&
	       tree_node(at, ai)->type == SCHEMA_UUID &&
	       memcmp(tree_node(qt, qi)->v.uuid, tree_node(at, ai)->v.uuid, 16) == 0;
}

/* The offset the broker gave the first record of request topic `qtp`'s
 * partition `partition`, or -1: no answer, an error, or no offset. */
static int64_t base_offset(struct answers *a, const struct tree *qt, tree_ref qtp, int32_t partition)
{
	const struct tree *t = a->t;
	if (a->list == TREE_NONE || tree_node(t, a->list)->count == 0)
		return -1;
	uint32_t nt = tree_node(t, a->list)->count;
	tree_ref tp = a->topic != TREE_NONE ? a->topic : tree_node(t, a->list)->first;
	for (uint32_t i = 0; i < nt; i++, tp = next_wrap(t, a->list, tp)) {
		if (!same_topic(qt, qtp, t, tp))
			continue;
		tree_ref parts = tree_child(t, tp, "partitionResponses");
		if (parts == TREE_NONE || tree_node(t, parts)->count == 0)
			return -1;
		if (tp != a->topic)
			a->part = TREE_NONE;
		a->topic = tp;
		uint32_t np = tree_node(t, parts)->count;
		tree_ref p = next_wrap(t, parts, a->part);
		for (uint32_t j = 0; j < np; j++, p = next_wrap(t, parts, p)) {
			if (tree_get_int(t, p, "index", -1) != partition)
				continue;
			a->part = p;
			if (tree_get_int(t, p, "errorCode", -1) != 0)
				return -1;
			return tree_get_int(t, p, "baseOffset", -1);
		}
		return -1;
	}
	return -1;
}

/* A Produce request's records from the n0-th on, all of one partition: the
 * offsets the broker assigned them (the first at base, the others after it
 * in order; producers number them from 0, which says nothing), else none. */
static void assign_offsets(struct extract *e, size_t n0, int64_t base)
{
	for (size_t i = n0; i < e->nrecs; i++) {
		e->recs[i].r.has_offset = base >= 0 && (uint64_t)(i - n0) <= (uint64_t)INT64_MAX - (uint64_t)base;
		e->recs[i].r.offset = e->recs[i].r.has_offset ? base + (int64_t)(i - n0) : 0;
	}
}

/* Produce request: topicData[].{name|topicId, partitionData[].{index, records}}
 * (and its response, for the offsets: responses[].{name|topicId,
 * partitionResponses[].{index, errorCode, baseOffset}}).
 * Fetch response: responses[].{topic|topicId, partitions[].{partitionIndex, records}}. */
static void collect(struct extract *e, const struct tree *t, tree_ref root, bool fetch,
		    struct answers *ans)
{
	tree_ref topics = tree_child(t, root, fetch ? "responses" : "topicData");
	if (topics == TREE_NONE)
		return;
	for (tree_ref tp = tree_node(t, topics)->first; tp != TREE_NONE; tp = tree_node(t, tp)->next) {
		struct where w = {.fetch = fetch};
		w.topic = child_bytes(t, tp, fetch ? "topic" : "name", &w.topic_len);
		w.topic_id_off = topic_id_text(&e->text, t, tp);
		tree_ref parts = tree_child(t, tp, fetch ? "partitions" : "partitionData");
		if (parts == TREE_NONE)
			continue;
		for (tree_ref p = tree_node(t, parts)->first; p != TREE_NONE; p = tree_node(t, p)->next) {
			w.partition = (int32_t)tree_get_int(t, p, fetch ? "partitionIndex" : "index", -1);
			tree_ref recs = tree_child(t, p, "records");
			size_t n0 = e->nrecs;
			if (recs != TREE_NONE && !(tree_node(t, recs)->flags & TREE_F_NULL))
				walk_entries(e, t, recs, &w);
			if (!fetch && e->nrecs > n0)
				assign_offsets(e, n0, base_offset(ans, t, tp, w.partition));
		}
	}
}

void extract_records(struct extract *e, extract_record_fn fn, void *ctx)
{
	if (e->text.failed)
		return;
	for (size_t i = 0; i < e->nrecs; i++) {
		struct extract_record r = e->recs[i].r;
		if (e->recs[i].topic_id_off != SIZE_MAX)
			r.topic_id = (const char *)e->text.p + e->recs[i].topic_id_off;
		if (e->recs[i].headers_off != SIZE_MAX)
			r.headers_json = (const char *)e->text.p + e->recs[i].headers_off;
		if (e->recs[i].value_off != SIZE_MAX)
			r.value = e->text.p + e->recs[i].value_off;
		if (!fn(ctx, &r))
			return;
	}
}

/* ---- one exchange --------------------------------------------------------- */

/* A raw SASL token of the same length: "[redacted]" then '*'. */
static void sasl_placeholder(struct buf *b, uint32_t n)
{
	static const char tag[] = "[redacted]";
	for (uint32_t i = 0; i < n; i++)
		buf_putc(b, i < sizeof tag - 1 ? tag[i] : '*');
}

/* One side (request or response) after decoding: redaction, raw and JSON. */
struct side {
	const uint8_t *frame;
	uint32_t len;
	struct tree *t;
	tree_ref root;
	enum codec_status st;
	const struct codec_header *h;
	bool response;
	struct buf *raw, *json;
	/* out */
	const uint8_t *out_raw;
	size_t out_raw_len;
	const char *out_json;
	size_t out_json_len;
};

static void do_side(struct extract *e, const struct exchange *x, struct side *s)
{
	bool keep = e->o.keep_raw;
	int changed = 0;
	bool encodable = s->root != TREE_NONE && s->st == CODEC_OK;
	if (secret_api(x->api_key)) {
		if (s->root != TREE_NONE)
			changed += redact_secrets(s->t, s->root, x->api_key);
		if (s->st != CODEC_OK)
			keep = false; /* undecoded bytes may hold the secret */
	}
	if (e->o.values != STORE_REDACT_NONE && s->root != TREE_NONE) {
		if (!redact_values(e, s->t, s->root, &changed))
			encodable = false;
	}
	/* Not decoded, or only in part (found by fuzz_extract: a Fetch response
	 * malformed before its records was kept whole): the bytes past where
	 * decoding stopped may hold values. */
	if (e->o.values != STORE_REDACT_NONE && s->st != CODEC_OK &&
	    (s->response ? x->api_key == API_FETCH : x->api_key == API_PRODUCE))
		keep = false;

	const struct tree *jt = s->t;
	tree_ref jroot = s->root;
	s->out_raw = s->frame;
	s->out_raw_len = s->len;
	if (changed) {
		bool ok = encodable &&
			  (s->response ? codec_encode_response(s->h, s->t, s->root, s->raw)
				       : codec_encode_request(s->h, s->t, s->root, s->raw)) &&
			  !s->raw->failed;
		if (ok) {
			/* Decode the new frame, so that raw and JSON agree. */
			e->x2 = *x;
			e->x2.flags &= ~(uint32_t)EXCHANGE_SASL_RAW;
			e->x2.request = s->response ? NULL : s->raw->p;
			e->x2.request_len = s->response ? 0 : (uint32_t)s->raw->len;
			e->x2.response = s->response ? s->raw->p : NULL;
			e->x2.response_len = s->response ? (uint32_t)s->raw->len : 0;
			report_decode(&e->d2, &e->x2, NULL);
			jt = s->response ? &e->d2.resp_tree : &e->d2.req_tree;
			jroot = s->response ? e->d2.resp_root : e->d2.req_root;
			s->out_raw = s->raw->p;
			s->out_raw_len = s->raw->len;
		} else {
			keep = false;
		}
	}
	if (!keep) {
		s->out_raw = NULL;
		s->out_raw_len = 0;
	}
	if (jroot != TREE_NONE) {
		/* The side whose records fill the records table, kept raw: its
		 * JSON leaves the batches' records out, so that each value is
		 * stored twice (frame, records row) rather than three times. */
		struct view_opts vo = e->vopts;
		vo.omit_batch_records = e->o.keep_records && s->out_raw &&
					(s->response ? x->api_key == API_FETCH : x->api_key == API_PRODUCE);
		view_json(s->json, jt, jroot, &vo);
		if (!s->json->failed) {
			s->out_json = (const char *)s->json->p;
			s->out_json_len = s->json->len;
		}
	}
}

void extract_exchange(struct extract *e, const struct exchange *x, struct extract_out *out)
{
	memset(out, 0, sizeof *out);
	buf_reset(&e->jreq);
	buf_reset(&e->jresp);
	buf_reset(&e->rawreq);
	buf_reset(&e->rawresp);
	buf_reset(&e->text);
	e->nrecs = 0;

	/* Raw SASL tokens (PLAIN carries the password): only their length. */
	if (x->flags & EXCHANGE_SASL_RAW) {
		out->flags = x->flags;
		if (x->request && e->o.keep_raw) {
			sasl_placeholder(&e->rawreq, x->request_len);
			out->request_raw = e->rawreq.failed ? NULL : e->rawreq.p;
			out->request_raw_len = e->rawreq.len;
		}
		if (x->response && e->o.keep_raw) {
			sasl_placeholder(&e->rawresp, x->response_len);
			out->response_raw = e->rawresp.failed ? NULL : e->rawresp.p;
			out->response_raw_len = e->rawresp.len;
		}
		return;
	}

	struct report_decoded *d = &e->d;
	report_decode(d, x, &e->ropts);
	out->flags = d->flags;
	if (d->req_h.has_client_id && !d->req_h.client_id_null) {
		out->client_id = (const char *)d->req_h.client_id;
		out->client_id_len = d->req_h.client_id_len;
	}
	if (d->resp_root != TREE_NONE) {
		out->error_code = view_first_error(&d->resp_tree, d->resp_root);
		out->error_known = d->resp_status == CODEC_OK || out->error_code != 0;
	}
	/* Records first: they need the values before redaction. */
	if (e->o.keep_records) {
		struct answers ans = {&d->resp_tree, TREE_NONE, TREE_NONE, TREE_NONE};
		if (x->api_key == API_PRODUCE && d->req_root != TREE_NONE) {
			if (d->resp_root != TREE_NONE)
				ans.list = tree_child(&d->resp_tree, d->resp_root, "responses");
			collect(e, &d->req_tree, d->req_root, false, &ans);
		}
		if (x->api_key == API_FETCH && d->resp_root != TREE_NONE)
			collect(e, &d->resp_tree, d->resp_root, true, &ans);
	}
	out->has_records = e->nrecs > 0 && !e->text.failed;
	out->nrecords = out->has_records ? e->nrecs : 0;

	if (x->request) {
		struct side s = {x->request, x->request_len, &d->req_tree, d->req_root, d->req_status,
				 &d->req_h, false, &e->rawreq, &e->jreq, NULL, 0, NULL, 0};
		do_side(e, x, &s);
		out->request_raw = s.out_raw;
		out->request_raw_len = s.out_raw_len;
		out->request_json = s.out_json;
		out->request_json_len = s.out_json_len;
	}
	if (x->response) {
		struct side s = {x->response, x->response_len, &d->resp_tree, d->resp_root,
				 d->resp_status, &d->resp_h, true, &e->rawresp, &e->jresp, NULL, 0, NULL, 0};
		do_side(e, x, &s);
		out->response_raw = s.out_raw;
		out->response_raw_len = s.out_raw_len;
		out->response_json = s.out_json;
		out->response_json_len = s.out_json_len;
	}
}
