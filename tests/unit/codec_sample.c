/* codec_sample: sample messages from the schema tables (see codec_sample.h). */
#include "config.h"
#include "codec_sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tag number that no schema uses, for the unknown tagged fields. */
#define SAMPLE_UNKNOWN_TAG 90

struct sampler {
	struct tree *t;
	int version;
	bool flex;
	int variant;
	uint32_t n; /* value counter: every value differs from the last */
};

static const uint8_t *sample_text(struct sampler *s, const char *prefix, uint32_t *len)
{
	char tmp[64];
	int w = snprintf(tmp, sizeof tmp, "%s-%u", prefix, ++s->n);
	uint8_t *p = tree_alloc(s->t, (size_t)w);
	if (!p) {
		*len = 0;
		return NULL;
	}
	memcpy(p, tmp, (size_t)w);
	*len = (uint32_t)w;
	return p;
}

static int64_t dflt_int(const struct schema_field *f)
{
	if (!f || !f->dflt)
		return 0;
	if (strcmp(f->dflt, "true") == 0)
		return 1;
	if (strcmp(f->dflt, "false") == 0)
		return 0;
	return strtoll(f->dflt, NULL, 0);
}

/* A value for an integer type that is not the field's default. */
static int64_t int_value(struct sampler *s, const struct schema_field *f, enum schema_type type)
{
	int64_t d = dflt_int(f);
	int64_t v;
	s->n++;
	switch (type) {
	case SCHEMA_BOOL:
		return d ? 0 : 1;
	case SCHEMA_INT8:
		v = (int8_t)(s->n * 7 + 1);
		break;
	case SCHEMA_INT16:
		v = (int16_t)(s->n * 301 + 3);
		break;
	case SCHEMA_UINT16:
		v = (uint16_t)(s->n * 40503u + 5);
		break;
	case SCHEMA_INT32:
		v = (int32_t)(s->n * 2654435761u);
		break;
	case SCHEMA_UINT32:
		v = (uint32_t)(s->n * 2246822519u + 7);
		break;
	default:
		v = (int64_t)((uint64_t)s->n * 0x9E3779B97F4A7C15ull);
		break;
	}
	if (v == d)
		v ^= 1;
	return v;
}

static bool fill_value(struct sampler *s, const struct schema_field *f, enum schema_type type,
		       bool nullable, tree_ref node);

static bool fill_struct(struct sampler *s, const struct schema_struct *st, tree_ref node)
{
	/* Regular fields first, then the tagged ones, as the decoder lays them out. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint16_t i = 0; i < st->nfields; i++) {
			const struct schema_field *f = &st->fields[i];
			if (!schema_in(f->versions, s->version))
				continue;
			bool tagged = schema_in(f->tagged, s->version);
			if (tagged != (pass == 1) || (tagged && !s->flex))
				continue;
			tree_ref c = tree_add(s->t, node, f->json_name, f, (enum schema_type)f->type);
			if (!c)
				return false;
			if (tagged) {
				s->t->nodes[c].flags |= TREE_F_TAGGED;
				s->t->nodes[c].tag = f->tag;
			}
			if (!fill_value(s, f, (enum schema_type)f->type,
					schema_in(f->nullable, s->version), c))
				return false;
		}
	}
	if (s->flex && s->variant == 1) {
		tree_ref u = tree_add(s->t, node, NULL, NULL, SCHEMA_BYTES);
		if (!u)
			return false;
		uint32_t len;
		const uint8_t *p = sample_text(s, "tag", &len);
		struct tree_node *un = &s->t->nodes[u];
		un->flags |= TREE_F_UNKNOWN_TAG;
		un->tag = SAMPLE_UNKNOWN_TAG;
		un->v.b.p = p;
		un->v.b.len = len;
	}
	return true;
}

static bool fill_value(struct sampler *s, const struct schema_field *f, enum schema_type type,
		       bool nullable, tree_ref node)
{
	if (nullable && s->variant == 1) {
		s->t->nodes[node].flags |= TREE_F_NULL;
		return true;
	}
	switch (type) {
	case SCHEMA_BOOL:
	case SCHEMA_INT8:
	case SCHEMA_INT16:
	case SCHEMA_UINT16:
	case SCHEMA_INT32:
	case SCHEMA_UINT32:
	case SCHEMA_INT64: {
		int64_t v = int_value(s, f, type);
		s->t->nodes[node].v.i = v;
		return true;
	}
	case SCHEMA_FLOAT64:
		s->t->nodes[node].v.f = 0.5 + (double)++s->n;
		return true;
	case SCHEMA_UUID:
		s->n++;
		for (int i = 0; i < 16; i++)
			s->t->nodes[node].v.uuid[i] = (uint8_t)(s->n * 31 + (unsigned)i * 17 + 1);
		return true;
	case SCHEMA_STRING:
	case SCHEMA_BYTES:
	case SCHEMA_RECORDS: {
		uint32_t len;
		const uint8_t *p = sample_text(s, type == SCHEMA_RECORDS ? "records" : "v", &len);
		if (!p)
			return false;
		s->t->nodes[node].v.b.p = p;
		s->t->nodes[node].v.b.len = len;
		return true;
	}
	case SCHEMA_STRUCT:
		return fill_struct(s, f->sub, node);
	case SCHEMA_ARRAY: {
		int n = s->variant == 0 ? 2 : 1;
		enum schema_type et = (enum schema_type)f->elem;
		for (int i = 0; i < n; i++) {
			tree_ref el = tree_add(s->t, node, NULL, NULL, et);
			if (!el)
				return false;
			bool ok = et == SCHEMA_STRUCT ? fill_struct(s, f->sub, el)
						      : fill_value(s, NULL, et, false, el);
			if (!ok)
				return false;
		}
		return true;
	}
	default:
		return false;
	}
}

tree_ref sample_body(struct tree *t, int api_key, int version, bool response, int variant)
{
	const struct schema_message *m =
		schema_message_find(api_key, response ? SCHEMA_RESPONSE : SCHEMA_REQUEST);
	if (!m)
		return TREE_NONE;
	struct sampler s = {t, version, schema_is_flexible(m, version), variant,
			    (uint32_t)(api_key * 1000 + version * 10 + variant)};
	tree_ref root = tree_add(t, TREE_NONE, NULL, NULL, SCHEMA_STRUCT);
	if (!root || !fill_struct(&s, m->root, root))
		return TREE_NONE;
	return root;
}

void sample_header(struct codec_header *h, struct tree *t, int api_key, int version,
		   bool response, int variant)
{
	memset(h, 0, sizeof *h);
	h->api_key = (int16_t)api_key;
	h->api_version = (int16_t)version;
	h->correlation_id = 1000 + api_key * 100 + version;
	h->response = response;
	int hv = response ? codec_response_header_version(api_key, version)
			  : codec_request_header_version(api_key, version);
	h->header_version = (uint8_t)(hv < 0 ? 0 : hv);
	if (!response && hv >= 1) {
		h->has_client_id = true;
		if (variant == 1) {
			h->client_id_null = true;
		} else {
			h->client_id = (const uint8_t *)"sample-client";
			h->client_id_len = 13;
		}
	}
	if (variant == 1 && ((response && hv >= 1) || (!response && hv >= 2))) {
		tree_ref r = tree_add(t, TREE_NONE, "header", NULL, SCHEMA_STRUCT);
		tree_ref u = r ? tree_add(t, r, NULL, NULL, SCHEMA_BYTES) : TREE_NONE;
		if (u) {
			struct tree_node *un = &t->nodes[u];
			un->flags |= TREE_F_UNKNOWN_TAG;
			un->tag = SAMPLE_UNKNOWN_TAG;
			un->v.b.p = (const uint8_t *)"hdr";
			un->v.b.len = 3;
			h->header_tags = r;
		}
	}
}

bool sample_frame(struct buf *b, int api_key, int version, bool response, int variant)
{
	struct tree t;
	struct codec_header h;
	tree_init(&t);
	sample_header(&h, &t, api_key, version, response, variant);
	tree_ref root = sample_body(&t, api_key, version, response, variant);
	bool ok = root && (response ? codec_encode_response(&h, &t, root, b)
				    : codec_encode_request(&h, &t, root, b));
	tree_free(&t);
	return ok;
}
