/* codec: the generic, table-driven Kafka message codec (see codec.h).
 *
 * Follows the Kafka protocol guide: "Protocol Primitive Types" for the
 * classic and compact (flexible, KIP-482) encodings, "Headers" for the
 * request/response header versions, and the message schemas' README for
 * nullable struct fields (an int8 presence marker: -1 null, 1 present) and
 * tagged-field sections:
 *
 *   tagged fields := count:uvarint { tag:uvarint size:uvarint value[size] }*
 *
 * written at the end of every struct in flexible versions. A known tag is
 * decoded as its field (TREE_F_TAGGED); an unknown tag is kept raw
 * (TREE_F_UNKNOWN_TAG) so that encoding gives back the same bytes.
 *
 * Limits follow Kafka's own generated readers: an array count larger than the
 * bytes left is malformed (every element takes at least a byte), so the tree
 * grows at most linearly with the input. Decoding allocates only tree nodes;
 * strings, bytes and records point into the frame. */
#include "config.h"
#include "proto/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/cursor.h"

#define DEFAULT_DEPTH 64u
/* Path entries kept for diagnostics; also the hard bound on nesting. */
#define PATH_SLOTS 64u

struct path_entry {
	const char *name;
	int32_t idx; /* array index, or -1 */
};

struct dec {
	struct tree *t;
	const struct codec_opts *o;
	struct codec_diag *d;
	int version;
	bool flex;            /* the message version is flexible */
	uint32_t max_depth;
	uint32_t depth;       /* structs entered */
	uint32_t region;      /* >0 inside a tagged field's sized region */
	uint32_t plen;        /* valid entries in path */
	struct path_entry path[PATH_SLOTS];
};

const char *codec_status_name(enum codec_status s)
{
	switch (s) {
	case CODEC_OK:
		return "ok";
	case CODEC_NEED_MORE:
		return "need-more";
	case CODEC_MALFORMED:
		return "malformed";
	case CODEC_UNSUPPORTED:
		return "unsupported";
	}
	return "unknown";
}

static void diag_start(struct codec_diag *d, int api_key, int api_version, bool response)
{
	memset(d, 0, sizeof *d);
	d->api_key = (int16_t)api_key;
	d->api_version = (int16_t)api_version;
	d->response = response;
}

static void diag_msg(struct codec_diag *d, enum codec_status st, size_t offset, const char *fmt,
		     va_list ap)
{
	d->status = st;
	d->offset = offset > UINT32_MAX ? UINT32_MAX : (uint32_t)offset;
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
}

/* Record the first failure: where (path, offset) and why. Cold path. */
static enum codec_status fail(struct dec *x, enum codec_status st, size_t offset, const char *fmt,
			      ...) __attribute__((format(printf, 4, 5), cold, noinline));
static enum codec_status fail(struct dec *x, enum codec_status st, size_t offset, const char *fmt,
			      ...)
{
	struct codec_diag *d = x->d;
	va_list ap;
	va_start(ap, fmt);
	diag_msg(d, st, offset, fmt, ap);
	va_end(ap);
	size_t n = 0;
	d->path[0] = 0;
	for (uint32_t i = 0; i < x->plen && i < PATH_SLOTS && n < sizeof d->path; i++) {
		const struct path_entry *p = &x->path[i];
		int w;
		if (p->idx >= 0)
			w = snprintf(d->path + n, sizeof d->path - n, "%s%s[%d]", i ? "." : "",
				     p->name ? p->name : "?", (int)p->idx);
		else
			w = snprintf(d->path + n, sizeof d->path - n, "%s%s", i ? "." : "",
				     p->name ? p->name : "?");
		if (w < 0)
			break;
		n += (size_t)w;
	}
	return st;
}

/* The bytes ran out: the message goes on past what we were given (need more),
 * unless we are inside a sized region, whose size then lied (malformed). */
static enum codec_status __attribute__((cold, noinline))
short_read(struct dec *x, const struct cursor *c, size_t at, size_t need)
{
	return fail(x, x->region ? CODEC_MALFORMED : CODEC_NEED_MORE, at,
		    "needs %zu bytes, %zu left", need, cursor_left(c));
}

static enum codec_status read_uvarint(struct dec *x, struct cursor *c, uint32_t *v, const char *what)
{
	size_t at = cursor_offset(c);
	size_t pos = c->pos;
	if (cursor_read_uvarint(c, v)) {
		/* Kafka writes minimal varints; a padded one (0x81 0x00 for 1)
		 * could not be written back byte for byte, so it is refused. */
		size_t used = c->pos - pos, need = 1;
		for (uint32_t k = *v; k >= 0x80; k >>= 7)
			need++;
		if (used != need)
			return fail(x, CODEC_MALFORMED, at, "overlong varint in %s", what);
		return CODEC_OK;
	}
	/* Tell an unfinished varint at the end of the bytes from a bad one. */
	struct cursor k = *c;
	uint8_t b;
	for (int i = 0; i < 5; i++) {
		if (!cursor_read_u8(&k, &b))
			return fail(x, x->region ? CODEC_MALFORMED : CODEC_NEED_MORE, at,
				    "%s: varint ends after %d bytes", what, i);
		if (!(b & 0x80))
			break;
	}
	return fail(x, CODEC_MALFORMED, at, "bad varint in %s", what);
}

static inline tree_ref add_node(struct dec *x, tree_ref parent, const char *name,
			 const struct schema_field *f, enum schema_type type, size_t at)
{
	tree_ref r = tree_add(x->t, parent, name, f, type);
	if (r)
		x->t->nodes[r].offset = at > UINT32_MAX ? UINT32_MAX : (uint32_t)at;
	return r;
}

static enum codec_status __attribute__((cold, noinline)) no_node(struct dec *x, size_t at)
{
	return fail(x, CODEC_MALFORMED, at, "too many nodes (tree limit %u)", x->t->max_nodes);
}

static enum codec_status dec_struct(struct dec *x, struct cursor *c, const struct schema_struct *s,
				    tree_ref node, uint32_t level);

/* A length-prefixed value (string, bytes, records): classic int16/int32
 * length or compact uvarint length+1; -1 / 0 is null. */
static enum codec_status dec_blob(struct dec *x, struct cursor *c, enum schema_type type,
				  bool nullable, bool flex, tree_ref node)
{
	size_t at = cursor_offset(c);
	int64_t len;
	if (flex) {
		uint32_t n;
		enum codec_status st = read_uvarint(x, c, &n, "compact length");
		if (st)
			return st;
		len = (int64_t)n - 1;
	} else if (type == SCHEMA_STRING) {
		int16_t n;
		if (!cursor_read_i16(c, &n))
			return short_read(x, c, at, 2);
		len = n;
	} else {
		int32_t n;
		if (!cursor_read_i32(c, &n))
			return short_read(x, c, at, 4);
		len = n;
	}
	struct tree_node *nd = &x->t->nodes[node];
	if (len < 0) {
		if (len != -1)
			return fail(x, CODEC_MALFORMED, at, "%s length %lld", schema_type_name(type),
				    (long long)len);
		if (!nullable)
			return fail(x, CODEC_MALFORMED, at, "null in a non-nullable %s",
				    schema_type_name(type));
		nd->flags |= TREE_F_NULL;
		return CODEC_OK;
	}
	if ((uint64_t)len > cursor_left(c))
		return fail(x, x->region ? CODEC_MALFORMED : CODEC_NEED_MORE, at,
			    "%s length %lld exceeds the %zu bytes left", schema_type_name(type),
			    (long long)len, cursor_left(c));
	size_t data_at = cursor_offset(c);
	const uint8_t *p;
	if (!cursor_read_bytes(c, (size_t)len, &p))
		return short_read(x, c, at, (size_t)len);
	nd->v.b.p = p;
	nd->v.b.len = (uint32_t)len;
	if (type == SCHEMA_RECORDS && x->o && x->o->records) {
		if (!x->o->records(x->t, node, data_at, x->o->records_ctx))
			return fail(x, CODEC_MALFORMED, data_at, "records decoder failed");
	}
	return CODEC_OK;
}

static enum codec_status dec_array(struct dec *x, struct cursor *c, const struct schema_field *f,
				   bool nullable, bool flex, tree_ref node, uint32_t level);

/* Decode one value of `type` into the (already added) node. */
static enum codec_status dec_value(struct dec *x, struct cursor *c, const struct schema_field *f,
				   enum schema_type type, bool nullable, bool flex, tree_ref node,
				   uint32_t level)
{
	size_t at = cursor_offset(c);
	struct tree_node *nd = &x->t->nodes[node];
	switch (type) {
	case SCHEMA_BOOL:
	case SCHEMA_INT8: {
		int8_t v;
		if (!cursor_read_i8(c, &v))
			return short_read(x, c, at, 1);
		/* A bool keeps its byte: anything but 0 is true, and re-encoding
		 * gives the same byte back. */
		nd->v.i = type == SCHEMA_BOOL ? (uint8_t)v : v;
		return CODEC_OK;
	}
	case SCHEMA_INT16: {
		int16_t v;
		if (!cursor_read_i16(c, &v))
			return short_read(x, c, at, 2);
		nd->v.i = v;
		return CODEC_OK;
	}
	case SCHEMA_UINT16: {
		uint16_t v;
		if (!cursor_read_u16(c, &v))
			return short_read(x, c, at, 2);
		nd->v.i = v;
		return CODEC_OK;
	}
	case SCHEMA_INT32: {
		int32_t v;
		if (!cursor_read_i32(c, &v))
			return short_read(x, c, at, 4);
		nd->v.i = v;
		return CODEC_OK;
	}
	case SCHEMA_UINT32: {
		uint32_t v;
		if (!cursor_read_u32(c, &v))
			return short_read(x, c, at, 4);
		nd->v.i = v;
		return CODEC_OK;
	}
	case SCHEMA_INT64: {
		int64_t v;
		if (!cursor_read_i64(c, &v))
			return short_read(x, c, at, 8);
		nd->v.i = v;
		return CODEC_OK;
	}
	case SCHEMA_FLOAT64:
		if (!cursor_read_f64(c, &nd->v.f))
			return short_read(x, c, at, 8);
		return CODEC_OK;
	case SCHEMA_UUID:
		if (!cursor_read_uuid(c, nd->v.uuid))
			return short_read(x, c, at, 16);
		return CODEC_OK;
	case SCHEMA_STRING:
	case SCHEMA_BYTES:
	case SCHEMA_RECORDS:
		return dec_blob(x, c, type, nullable, flex, node);
	case SCHEMA_STRUCT:
		if (nullable) {
			int8_t m;
			if (!cursor_read_i8(c, &m))
				return short_read(x, c, at, 1);
			if (m == -1) {
				nd->flags |= TREE_F_NULL;
				return CODEC_OK;
			}
			if (m != 1)
				return fail(x, CODEC_MALFORMED, at,
					    "presence marker %d (expected -1 or 1)", m);
		}
		return dec_struct(x, c, f->sub, node, level + 1);
	case SCHEMA_ARRAY:
		return dec_array(x, c, f, nullable, flex, node, level);
	default:
		return fail(x, CODEC_MALFORMED, at, "field of unknown type %d", type);
	}
}

static enum codec_status dec_array(struct dec *x, struct cursor *c, const struct schema_field *f,
				   bool nullable, bool flex, tree_ref node, uint32_t level)
{
	size_t at = cursor_offset(c);
	int64_t count;
	if (flex) {
		uint32_t n;
		enum codec_status st = read_uvarint(x, c, &n, "compact array count");
		if (st)
			return st;
		count = (int64_t)n - 1;
	} else {
		int32_t n;
		if (!cursor_read_i32(c, &n))
			return short_read(x, c, at, 4);
		count = n;
	}
	if (count < 0) {
		if (count != -1)
			return fail(x, CODEC_MALFORMED, at, "array count %lld", (long long)count);
		if (!nullable)
			return fail(x, CODEC_MALFORMED, at, "null in a non-nullable array");
		x->t->nodes[node].flags |= TREE_F_NULL;
		return CODEC_OK;
	}
	/* As Kafka's readers do: each element takes at least one byte. */
	if ((uint64_t)count > cursor_left(c))
		return fail(x, CODEC_MALFORMED, at, "count %lld exceeds the %zu bytes left",
			    (long long)count, cursor_left(c));
	enum schema_type et = (enum schema_type)f->elem;
	bool in_path = level < PATH_SLOTS;
	for (int64_t i = 0; i < count; i++) {
		if (in_path)
			x->path[level].idx = (int32_t)i;
		size_t eat = cursor_offset(c);
		tree_ref el = add_node(x, node, NULL, NULL, et, eat);
		if (!el)
			return no_node(x, eat);
		enum codec_status st;
		if (et == SCHEMA_STRUCT)
			st = dec_struct(x, c, f->sub, el, level + 1);
		else
			st = dec_value(x, c, f, et, false, flex, el, level);
		if (st)
			return st;
	}
	if (in_path)
		x->path[level].idx = -1;
	return CODEC_OK;
}

static inline __attribute__((always_inline)) enum codec_status
dec_field(struct dec *x, struct cursor *c, const struct schema_field *f, tree_ref parent,
	  uint32_t level, tree_ref *out)
{
	size_t at = cursor_offset(c);
	if (level < PATH_SLOTS) {
		x->path[level].name = f->json_name;
		x->path[level].idx = -1;
		x->plen = level + 1;
	}
	tree_ref node = add_node(x, parent, f->json_name, f, (enum schema_type)f->type, at);
	if (!node)
		return no_node(x, at);
	*out = node;
	bool flex = x->flex && !(f->flags & SCHEMA_F_CLASSIC);
	return dec_value(x, c, f, (enum schema_type)f->type, schema_in(f->nullable, x->version), flex,
			 node, level);
}

/* The tagged-field section at the end of a struct in a flexible version. */
static enum codec_status dec_tags(struct dec *x, struct cursor *c, const struct schema_struct *s,
				  tree_ref node, uint32_t level)
{
	size_t at = cursor_offset(c);
	uint32_t n;
	enum codec_status st = read_uvarint(x, c, &n, "tagged field count");
	if (st)
		return st;
	if (n > cursor_left(c))
		return fail(x, CODEC_MALFORMED, at, "tagged field count %u exceeds the %zu bytes left",
			    n, cursor_left(c));
	uint64_t seen = 0; /* known tags below 64 already decoded */
	for (uint32_t i = 0; i < n; i++) {
		if (level < PATH_SLOTS)
			x->plen = level;
		size_t tat = cursor_offset(c);
		uint32_t tag, size;
		if ((st = read_uvarint(x, c, &tag, "tag")) || (st = read_uvarint(x, c, &size, "tag size")))
			return st;
		struct cursor sub;
		if (!cursor_sub(c, size, &sub))
			return fail(x, x->region ? CODEC_MALFORMED : CODEC_NEED_MORE, tat,
				    "tag %u: size %u exceeds the %zu bytes left", tag, size,
				    cursor_left(c));
		const struct schema_field *f = NULL;
		for (uint16_t k = 0; k < s->nfields; k++) {
			const struct schema_field *g = &s->fields[k];
			if (g->tag == (int32_t)tag && tag <= INT32_MAX && schema_in(g->tagged, x->version) &&
			    schema_in(g->versions, x->version)) {
				f = g;
				break;
			}
		}
		if (!f) {
			tree_ref u = add_node(x, node, NULL, NULL, SCHEMA_BYTES, tat);
			if (!u)
				return no_node(x, tat);
			struct tree_node *un = &x->t->nodes[u];
			un->flags |= TREE_F_UNKNOWN_TAG;
			un->tag = (int32_t)tag;
			const uint8_t *p;
			if (!cursor_read_bytes(&sub, size, &p))
				return short_read(x, &sub, tat, size); /* cannot happen: sub is exactly size */
			un->v.b.p = p;
			un->v.b.len = size;
			continue;
		}
		/* Java keeps the last of duplicate tags; a tree cannot hold both
		 * under one name, and no correct writer sends them. */
		if (tag < 64) {
			if (seen & ((uint64_t)1 << tag))
				return fail(x, CODEC_MALFORMED, tat, "tag %u appears twice", tag);
			seen |= (uint64_t)1 << tag;
		}
		tree_ref fn = TREE_NONE;
		x->region++;
		st = dec_field(x, &sub, f, node, level, &fn);
		x->region--;
		if (st)
			return st;
		struct tree_node *fnd = &x->t->nodes[fn];
		fnd->flags |= TREE_F_TAGGED;
		fnd->tag = f->tag;
		if (cursor_left(&sub))
			return fail(x, CODEC_MALFORMED, cursor_offset(&sub),
				    "tag %u: %zu of its %u bytes left over", tag, cursor_left(&sub), size);
	}
	return CODEC_OK;
}

static enum codec_status dec_struct(struct dec *x, struct cursor *c, const struct schema_struct *s,
				    tree_ref node, uint32_t level)
{
	if (++x->depth > x->max_depth)
		return fail(x, CODEC_MALFORMED, cursor_offset(c), "structs nested deeper than %u levels",
			    x->max_depth);
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct schema_field *f = &s->fields[i];
		/* Tagged fields live only in the section at the end. */
		if (!schema_in(f->versions, x->version) || schema_in(f->tagged, x->version))
			continue;
		tree_ref fn = TREE_NONE;
		enum codec_status st = dec_field(x, c, f, node, level, &fn);
		if (st)
			return st;
	}
	if (level < PATH_SLOTS)
		x->plen = level;
	if (x->flex) {
		enum codec_status st = dec_tags(x, c, s, node, level);
		if (st)
			return st;
	}
	x->depth--;
	return CODEC_OK;
}

static const char *kind_name(bool response)
{
	return response ? "response" : "request";
}

static enum codec_status unsupported(struct codec_diag *d, int api_key, int api_version,
				     bool response, const struct schema_message *m, size_t at)
{
	d->status = CODEC_UNSUPPORTED;
	d->offset = (uint32_t)at;
	if (!m)
		snprintf(d->msg, sizeof d->msg, "api key %d is not known to this build", api_key);
	else
		snprintf(d->msg, sizeof d->msg, "version %d is not known to this build (%d-%d)",
			 api_version, m->valid.min, m->valid.max);
	(void)response;
	return CODEC_UNSUPPORTED;
}

/* Decode a body whose message is known; the diag is already started. */
static enum codec_status decode_body(const struct schema_message *m, struct cursor *c,
				     int api_version, struct tree *t, tree_ref *root,
				     const struct codec_opts *o, struct codec_diag *d)
{
	struct dec x;
	x.t = t;
	x.o = o;
	x.d = d;
	x.version = api_version;
	x.flex = schema_is_flexible(m, api_version);
	x.max_depth = o && o->max_depth ? o->max_depth : DEFAULT_DEPTH;
	if (x.max_depth > PATH_SLOTS - 1)
		x.max_depth = PATH_SLOTS - 1;
	x.depth = 0;
	x.region = 0;
	x.plen = 0;
	size_t at = cursor_offset(c);
	tree_ref r = add_node(&x, TREE_NONE, NULL, NULL, SCHEMA_STRUCT, at);
	*root = r;
	if (!r)
		return no_node(&x, at);
	enum codec_status st = dec_struct(&x, c, m->root, r, 0);
	if (st)
		return st;
	d->status = CODEC_OK;
	if (cursor_left(c)) {
		d->trailing = (uint32_t)cursor_left(c);
		d->offset = (uint32_t)cursor_offset(c);
		snprintf(d->msg, sizeof d->msg, "%u bytes left over after the body", d->trailing);
	}
	return CODEC_OK;
}

enum codec_status codec_decode_body(const uint8_t *body, size_t len, size_t frame_offset,
				    int api_key, int api_version, bool response, struct tree *t,
				    tree_ref *root, const struct codec_opts *o,
				    struct codec_diag *d)
{
	diag_start(d, api_key, api_version, response);
	*root = TREE_NONE;
	const struct schema_message *m =
		schema_message_find(api_key, response ? SCHEMA_RESPONSE : SCHEMA_REQUEST);
	if (!m || !schema_in(m->valid, api_version))
		return unsupported(d, api_key, api_version, response, m, frame_offset);
	struct cursor c;
	cursor_init(&c, body, len);
	c.origin = frame_offset;
	return decode_body(m, &c, api_version, t, root, o, d);
}

int codec_request_header_version(int api_key, int api_version)
{
	const struct schema_message *m = schema_message_find(api_key, SCHEMA_REQUEST);
	if (!m)
		return -1;
	/* Header v0 (no client id) survives only in ControlledShutdown v0. */
	if (api_key == 7 && api_version == 0)
		return 0;
	return schema_is_flexible(m, api_version) ? 2 : 1;
}

int codec_response_header_version(int api_key, int api_version)
{
	const struct schema_message *m = schema_message_find(api_key, SCHEMA_RESPONSE);
	if (!m)
		return -1;
	/* ApiVersions responses keep header v0 so that a client which does not
	 * yet know the broker's versions can always read them (KIP-511). */
	if (api_key == 18)
		return 0;
	return schema_is_flexible(m, api_version) ? 1 : 0;
}

bool codec_peek_request(const uint8_t *frame, size_t len, int16_t *api_key, int16_t *api_version,
			int32_t *correlation_id)
{
	struct cursor c;
	cursor_init(&c, frame, len);
	int16_t k, v;
	int32_t corr;
	if (!cursor_read_i16(&c, &k) || !cursor_read_i16(&c, &v) || !cursor_read_i32(&c, &corr))
		return false;
	*api_key = k;
	*api_version = v;
	*correlation_id = corr;
	return true;
}

bool codec_peek_response(const uint8_t *frame, size_t len, int32_t *correlation_id)
{
	struct cursor c;
	cursor_init(&c, frame, len);
	return cursor_read_i32(&c, correlation_id);
}

/* The header's tagged-field section: no header field is tagged today, so
 * every entry is kept raw under a struct node named "header". */
static enum codec_status dec_header_tags(struct cursor *c, struct tree *t, struct codec_header *h,
					 const struct codec_opts *o, struct codec_diag *d)
{
	static const struct schema_struct none = {"Header", NULL, 0};
	struct dec x;
	memset(&x, 0, sizeof x);
	x.t = t;
	x.o = o;
	x.d = d;
	x.flex = true;
	x.max_depth = DEFAULT_DEPTH;
	size_t at = cursor_offset(c);
	tree_ref r = add_node(&x, TREE_NONE, "header", NULL, SCHEMA_STRUCT, at);
	if (!r)
		return no_node(&x, at);
	h->header_tags = r;
	enum codec_status st = dec_tags(&x, c, &none, r, 0);
	if (st)
		snprintf(d->path, sizeof d->path, "header");
	return st;
}

enum codec_status codec_decode_request(const uint8_t *frame, size_t len, struct tree *t,
				       struct codec_header *h, tree_ref *root,
				       const struct codec_opts *o, struct codec_diag *d)
{
	memset(h, 0, sizeof *h);
	*root = TREE_NONE;
	diag_start(d, -1, -1, false);
	struct cursor c;
	cursor_init(&c, frame, len);
	int16_t k, v;
	int32_t corr;
	if (!cursor_read_i16(&c, &k) || !cursor_read_i16(&c, &v) || !cursor_read_i32(&c, &corr)) {
		d->status = CODEC_NEED_MORE;
		snprintf(d->path, sizeof d->path, "header");
		snprintf(d->msg, sizeof d->msg, "needs 8 bytes, %zu left", len);
		return CODEC_NEED_MORE;
	}
	h->api_key = k;
	h->api_version = v;
	h->correlation_id = corr;
	d->api_key = k;
	d->api_version = v;
	const struct schema_message *m = schema_message_find(k, SCHEMA_REQUEST);
	if (!m)
		return unsupported(d, k, v, false, NULL, 0);
	int hv = codec_request_header_version(k, v);
	h->header_version = (uint8_t)hv;
	if (hv >= 1) {
		size_t at = cursor_offset(&c);
		int16_t n;
		if (!cursor_read_i16(&c, &n)) {
			d->status = CODEC_NEED_MORE;
			d->offset = (uint32_t)at;
			snprintf(d->path, sizeof d->path, "header.clientId");
			snprintf(d->msg, sizeof d->msg, "needs 2 bytes, %zu left", cursor_left(&c));
			return CODEC_NEED_MORE;
		}
		h->has_client_id = true;
		const uint8_t *p = NULL;
		if (n == -1) {
			h->client_id_null = true;
		} else if (n < 0 || !cursor_read_bytes(&c, (size_t)n, &p)) {
			enum codec_status st = n < 0 ? CODEC_MALFORMED : CODEC_NEED_MORE;
			d->status = st;
			d->offset = (uint32_t)at;
			snprintf(d->path, sizeof d->path, "header.clientId");
			if (n < 0)
				snprintf(d->msg, sizeof d->msg, "string length %d", n);
			else
				snprintf(d->msg, sizeof d->msg, "string length %d exceeds the %zu bytes left",
					 n, cursor_left(&c));
			return st;
		} else {
			h->client_id = p;
			h->client_id_len = (uint16_t)n;
		}
	}
	if (hv >= 2) {
		enum codec_status st = dec_header_tags(&c, t, h, o, d);
		if (st)
			return st;
	}
	h->body_offset = (uint32_t)cursor_offset(&c);
	if (!schema_in(m->valid, v))
		return unsupported(d, k, v, false, m, h->body_offset);
	return decode_body(m, &c, v, t, root, o, d);
}

/* The error code an ApiVersions response starts with, or 0. */
static int apiversions_error(const uint8_t *body, size_t len)
{
	struct cursor c;
	int16_t e;
	cursor_init(&c, body, len);
	return cursor_read_i16(&c, &e) ? e : 0;
}

enum codec_status codec_decode_response(const uint8_t *frame, size_t len, int api_key,
					int api_version, struct tree *t, struct codec_header *h,
					tree_ref *root, const struct codec_opts *o,
					struct codec_diag *d)
{
	memset(h, 0, sizeof *h);
	*root = TREE_NONE;
	h->api_key = (int16_t)api_key;
	h->api_version = (int16_t)api_version;
	h->response = true;
	diag_start(d, api_key, api_version, true);
	struct cursor c;
	cursor_init(&c, frame, len);
	if (!cursor_read_i32(&c, &h->correlation_id)) {
		d->status = CODEC_NEED_MORE;
		snprintf(d->path, sizeof d->path, "header");
		snprintf(d->msg, sizeof d->msg, "needs 4 bytes, %zu left", len);
		return CODEC_NEED_MORE;
	}
	const struct schema_message *m = schema_message_find(api_key, SCHEMA_RESPONSE);
	if (!m)
		return unsupported(d, api_key, api_version, true, NULL, 0);
	int hv = codec_response_header_version(api_key, api_version);
	h->header_version = (uint8_t)hv;
	if (hv >= 1) {
		enum codec_status st = dec_header_tags(&c, t, h, o, d);
		if (st)
			return st;
	}
	h->body_offset = (uint32_t)cursor_offset(&c);
	if (!schema_in(m->valid, api_version))
		return unsupported(d, api_key, api_version, true, m, h->body_offset);
	uint32_t mark = t->n; /* nodes added from here belong to the body */
	enum codec_status st = decode_body(m, &c, api_version, t, root, o, d);
	if (api_key != 18 || api_version == 0 || (st == CODEC_OK && d->trailing == 0))
		return st;
	/* A broker that does not support the requested ApiVersions version
	 * answers with an error in a version 0 body (KIP-511), which is what
	 * Kafka's clients fall back to parsing. Try that before calling the
	 * frame malformed. */
	const uint8_t *body = frame + h->body_offset;
	size_t blen = len - h->body_offset;
	if (apiversions_error(body, blen) == 0)
		return st;
	{
		struct codec_diag d0;
		tree_ref r0;
		/* Drop the first attempt's nodes: they all hang under its own
		 * root, added after `mark`, so no earlier node points at them. */
		t->n = mark ? mark : 1;
		struct cursor c0;
		cursor_init(&c0, body, blen);
		c0.origin = h->body_offset;
		diag_start(&d0, api_key, 0, true);
		enum codec_status st0 = decode_body(m, &c0, 0, t, &r0, o, &d0);
		if (st0 == CODEC_OK && d0.trailing == 0) {
			h->api_version = 0;
			*root = r0;
			*d = d0;
			return CODEC_OK;
		}
		/* Neither fits: report the requested version's reading. Its
		 * nodes are gone, so decode it once more for the caller. */
		t->n = mark ? mark : 1;
		cursor_init(&c, body, blen);
		c.origin = h->body_offset;
		diag_start(d, api_key, api_version, true);
		st = decode_body(m, &c, api_version, t, root, o, d);
	}
	if (st == CODEC_OK && d->trailing) {
		/* An error reply with bytes after the body fits no version. */
		d->status = CODEC_MALFORMED;
		snprintf(d->msg, sizeof d->msg,
			 "%u bytes left over after the body, and it is no version 0 error reply either",
			 d->trailing);
		return CODEC_MALFORMED;
	}
	return st;
}

/* ---- encoding ---- */

struct enc {
	const struct tree *t;
	struct buf *b;
	int version;
	bool flex;
	uint32_t depth;
};

static bool enc_struct(struct enc *e, const struct schema_struct *s, tree_ref node);

static bool enc_blob(struct enc *e, const struct tree_node *nd, enum schema_type type,
		     bool nullable, bool flex)
{
	if (nd->flags & TREE_F_NULL) {
		if (!nullable)
			return false;
		if (flex)
			cursor_write_uvarint(e->b, 0);
		else if (type == SCHEMA_STRING)
			cursor_write_i16(e->b, -1);
		else
			cursor_write_i32(e->b, -1);
		return true;
	}
	uint32_t len = nd->v.b.len;
	if (flex) {
		if (len == UINT32_MAX)
			return false;
		cursor_write_uvarint(e->b, len + 1);
	} else if (type == SCHEMA_STRING) {
		if (len > INT16_MAX)
			return false;
		cursor_write_i16(e->b, (int16_t)len);
	} else {
		if (len > INT32_MAX)
			return false;
		cursor_write_i32(e->b, (int32_t)len);
	}
	if (len)
		buf_append(e->b, nd->v.b.p, len);
	return true;
}

static bool enc_value(struct enc *e, const struct schema_field *f, enum schema_type type,
		      bool nullable, bool flex, tree_ref node)
{
	const struct tree_node *nd = &e->t->nodes[node];
	if (nd->type != type)
		return false;
	switch (type) {
	case SCHEMA_BOOL:
	case SCHEMA_INT8:
		cursor_write_u8(e->b, (uint8_t)nd->v.i);
		return true;
	case SCHEMA_INT16:
		cursor_write_i16(e->b, (int16_t)nd->v.i);
		return true;
	case SCHEMA_UINT16:
		cursor_write_u16(e->b, (uint16_t)nd->v.i);
		return true;
	case SCHEMA_INT32:
		cursor_write_i32(e->b, (int32_t)nd->v.i);
		return true;
	case SCHEMA_UINT32:
		cursor_write_u32(e->b, (uint32_t)nd->v.i);
		return true;
	case SCHEMA_INT64:
		cursor_write_i64(e->b, nd->v.i);
		return true;
	case SCHEMA_FLOAT64:
		cursor_write_f64(e->b, nd->v.f);
		return true;
	case SCHEMA_UUID:
		cursor_write_uuid(e->b, nd->v.uuid);
		return true;
	case SCHEMA_STRING:
	case SCHEMA_BYTES:
	case SCHEMA_RECORDS:
		return enc_blob(e, nd, type, nullable, flex);
	case SCHEMA_STRUCT:
		if (nullable) {
			if (nd->flags & TREE_F_NULL) {
				cursor_write_u8(e->b, 0xFF);
				return true;
			}
			cursor_write_u8(e->b, 1);
		} else if (nd->flags & TREE_F_NULL) {
			return false;
		}
		return enc_struct(e, f->sub, node);
	case SCHEMA_ARRAY: {
		if (nd->flags & TREE_F_NULL) {
			if (!nullable)
				return false;
			if (flex)
				cursor_write_uvarint(e->b, 0);
			else
				cursor_write_i32(e->b, -1);
			return true;
		}
		uint32_t count = nd->count;
		if (flex) {
			if (count == UINT32_MAX)
				return false;
			cursor_write_uvarint(e->b, count + 1);
		} else {
			if (count > INT32_MAX)
				return false;
			cursor_write_i32(e->b, (int32_t)count);
		}
		enum schema_type et = (enum schema_type)f->elem;
		for (tree_ref el = nd->first; el; el = e->t->nodes[el].next) {
			bool ok = et == SCHEMA_STRUCT
					  ? e->t->nodes[el].type == SCHEMA_STRUCT &&
						    !(e->t->nodes[el].flags & TREE_F_NULL) &&
						    enc_struct(e, f->sub, el)
					  : enc_value(e, f, et, false, flex, el);
			if (!ok)
				return false;
		}
		return true;
	}
	default:
		return false;
	}
}

static bool enc_field(struct enc *e, const struct schema_field *f, tree_ref node)
{
	bool flex = e->flex && !(f->flags & SCHEMA_F_CLASSIC);
	return enc_value(e, f, (enum schema_type)f->type, schema_in(f->nullable, e->version), flex,
			 node);
}

#define TAGGED_ANY (TREE_F_TAGGED | TREE_F_UNKNOWN_TAG)

/* Write uvarint `v` in front of the bytes appended since `at`. */
static void insert_uvarint(struct buf *b, size_t at, uint32_t v)
{
	uint8_t tmp[5];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	if (!buf_reserve(b, n))
		return;
	memmove(b->p + at + n, b->p + at, b->len - at);
	memcpy(b->p + at, tmp, n);
	b->len += n;
}

static bool enc_tags(struct enc *e, const struct schema_struct *s, tree_ref node)
{
	const struct tree_node *nd = &e->t->nodes[node];
	uint32_t n = 0;
	for (tree_ref c = nd->first; c; c = e->t->nodes[c].next)
		if ((e->t->nodes[c].flags & TAGGED_ANY) && !(e->t->nodes[c].flags & TREE_F_SYNTH))
			n++;
	cursor_write_uvarint(e->b, n);
	/* In the order decoded, which for Kafka's writers is ascending tags. */
	for (tree_ref c = nd->first; c; c = e->t->nodes[c].next) {
		const struct tree_node *cn = &e->t->nodes[c];
		if (!(cn->flags & TAGGED_ANY) || (cn->flags & TREE_F_SYNTH))
			continue;
		cursor_write_uvarint(e->b, (uint32_t)cn->tag);
		if (cn->flags & TREE_F_UNKNOWN_TAG) {
			cursor_write_uvarint(e->b, cn->v.b.len);
			if (cn->v.b.len)
				buf_append(e->b, cn->v.b.p, cn->v.b.len);
			continue;
		}
		const struct schema_field *f = cn->field;
		if (!f || !s->nfields || f < s->fields || f >= s->fields + s->nfields ||
		    !schema_in(f->versions, e->version) || !schema_in(f->tagged, e->version) ||
		    cn->tag != f->tag)
			return false;
		size_t at = e->b->len;
		if (!enc_field(e, f, c))
			return false;
		insert_uvarint(e->b, at, (uint32_t)(e->b->len - at));
	}
	return !e->b->failed;
}

static bool enc_struct(struct enc *e, const struct schema_struct *s, tree_ref node)
{
	if (++e->depth > PATH_SLOTS)
		return false;
	const struct tree_node *nd = &e->t->nodes[node];
	tree_ref c = nd->first;
	for (uint16_t i = 0; i < s->nfields; i++) {
		const struct schema_field *f = &s->fields[i];
		if (!schema_in(f->versions, e->version) || schema_in(f->tagged, e->version))
			continue;
		while (c && (e->t->nodes[c].flags & (TAGGED_ANY | TREE_F_SYNTH)))
			c = e->t->nodes[c].next;
		if (!c || e->t->nodes[c].field != f)
			return false;
		if (!enc_field(e, f, c))
			return false;
		c = e->t->nodes[c].next;
	}
	/* Anything else that is not tagged has no place in this version. */
	while (c && (e->t->nodes[c].flags & (TAGGED_ANY | TREE_F_SYNTH)))
		c = e->t->nodes[c].next;
	if (c)
		return false;
	if (e->flex && !enc_tags(e, s, node))
		return false;
	e->depth--;
	return !e->b->failed;
}

bool codec_encode_body(const struct tree *t, tree_ref root, int api_key, int api_version,
		       bool response, struct buf *b)
{
	const struct schema_message *m =
		schema_message_find(api_key, response ? SCHEMA_RESPONSE : SCHEMA_REQUEST);
	if (!m || !schema_in(m->valid, api_version) || root == TREE_NONE ||
	    t->nodes[root].type != SCHEMA_STRUCT)
		return false;
	struct enc e = {t, b, api_version, schema_is_flexible(m, api_version), 0};
	return enc_struct(&e, m->root, root) && !b->failed;
}

/* A header's tagged-field section (header_tags may be TREE_NONE: none). */
static bool enc_header_tags(const struct tree *t, tree_ref tags, struct buf *b)
{
	static const struct schema_struct none = {"Header", NULL, 0};
	if (tags == TREE_NONE) {
		cursor_write_uvarint(b, 0);
		return true;
	}
	struct enc e = {t, b, 0, true, 0};
	return enc_tags(&e, &none, tags);
}

bool codec_encode_request(const struct codec_header *h, const struct tree *t, tree_ref root,
			  struct buf *b)
{
	int hv = codec_request_header_version(h->api_key, h->api_version);
	if (hv < 0)
		return false;
	cursor_write_i16(b, h->api_key);
	cursor_write_i16(b, h->api_version);
	cursor_write_i32(b, h->correlation_id);
	if (hv >= 1) {
		/* The client id stays a classic string even in flexible headers. */
		if (!h->has_client_id || h->client_id_null) {
			cursor_write_i16(b, -1);
		} else {
			if (h->client_id_len > INT16_MAX)
				return false;
			cursor_write_i16(b, (int16_t)h->client_id_len);
			if (h->client_id_len)
				buf_append(b, h->client_id, h->client_id_len);
		}
	}
	if (hv >= 2 && !enc_header_tags(t, h->header_tags, b))
		return false;
	return codec_encode_body(t, root, h->api_key, h->api_version, false, b);
}

bool codec_encode_response(const struct codec_header *h, const struct tree *t, tree_ref root,
			   struct buf *b)
{
	int hv = codec_response_header_version(h->api_key, h->api_version);
	if (hv < 0)
		return false;
	cursor_write_i32(b, h->correlation_id);
	if (hv >= 1 && !enc_header_tags(t, h->header_tags, b))
		return false;
	return codec_encode_body(t, root, h->api_key, h->api_version, true, b);
}

const char *codec_diag_format(const struct codec_diag *d, char *out, size_t n)
{
	if (!out || n == 0)
		return "";
	const char *api = schema_api_name(d->api_key);
	char apibuf[24];
	if (!api) {
		snprintf(apibuf, sizeof apibuf, "api %d", d->api_key);
		api = apibuf;
	}
	const char *msg = d->msg[0] ? d->msg : codec_status_name(d->status);
	if (d->path[0])
		snprintf(out, n, "%s v%d %s: %s: %s at offset %u", api, d->api_version,
			 kind_name(d->response), d->path, msg, d->offset);
	else
		snprintf(out, n, "%s v%d %s: %s at offset %u", api, d->api_version,
			 kind_name(d->response), msg, d->offset);
	return out;
}
