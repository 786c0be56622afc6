/* fuzz_extract: libFuzzer target for what the store keeps of an exchange
 * (src/store/extract.c): the decode on the recording's thread, the redaction
 * of credentials and record values, the re-encoded frames, the JSON and the
 * records table's rows.
 *
 * Input: [flags:1][request length:2 BE][request frame][response frame]. The
 * api key and version come from the request's header (Produce v3 when it has
 * none). Flags bits 0-1: record values kept, hashed, dropped, kept
 * (store_opts.values); bit 2: raw frames not kept; bit 3: no records table;
 * bit 4: keys and values cut to 16 bytes; bit 5: the exchange is a raw SASL
 * token (EXCHANGE_SASL_RAW); bit 6: no response; bit 7: no request.
 *
 * Oracle (anything else aborts):
 *   - extract_records walks exactly out.nrecords records, of the right
 *     direction, each key and value within the cut; a produced record has
 *     an offset only from a response, and never a negative one;
 *   - every JSON text it gives (bodies, record headers) is valid JSON
 *     (SQLite's json_valid, as the store's readers will parse it);
 *   - a raw SASL token is kept only as "[redacted]" and stars, same length;
 *   - a kept frame of a credential-bearing api decodes, and each credential
 *     field in it is null or "[redacted N bytes]";
 *   - with values hashed or dropped, a kept Produce request or Fetch response
 *     decodes, its record batches are whole, and every record value in them
 *     is null (dropped) or "sha256:" and 64 hex digits (hashed). */
#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/report.h"
#include "proto/codec.h"
#include "proto/tree.h"
#include "store/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define API_PRODUCE 0
#define API_FETCH 1

static sqlite3 *db;
static sqlite3_stmt *valid;
static struct report_decoded again;

static void fail(const char *what, int api, int version)
{
	fprintf(stderr, "fuzz_extract: %s (api %d v%d)\n", what, api, version);
	abort();
}

static void check_json(const char *j, size_t n, int api, int version)
{
	if (!j)
		return;
	sqlite3_reset(valid);
	sqlite3_bind_text(valid, 1, j, (int)n, SQLITE_STATIC);
	if (sqlite3_step(valid) != SQLITE_ROW || sqlite3_column_int(valid, 0) != 1)
		fail("invalid JSON", api, version);
}

/* With values hashed or dropped, the JSON of a Produce request or Fetch
 * response shows no value: every "records" member is an array of batches,
 * null, or a hash; every record's "value" (not a header's) null or a hash. */
static void check_json_values(const char *j, size_t n, int api, int version)
{
	static sqlite3_stmt *q;
	if (!j)
		return;
	if (!q && sqlite3_prepare_v2(db,
				     "SELECT count(*) FROM json_tree(?) WHERE key IN ('records', 'value')"
				     " AND fullkey NOT LIKE '%.headers[%'"
				     " AND type NOT IN ('array', 'null')"
				     " AND NOT (type = 'text' AND (atom = '' OR atom GLOB 'sha256:*'))",
				     -1, &q, NULL) != SQLITE_OK)
		abort();
	sqlite3_reset(q);
	sqlite3_bind_text(q, 1, j, (int)n, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int(q, 0) != 0)
		fail("the JSON shows record values", api, version);
}

/* The credential fields, as the store's docs list them (docs/store.md). */
static bool secret(int api, const char *name)
{
	if (!name)
		return false;
	if (api == 36)
		return strcmp(name, "authBytes") == 0;
	if (api >= 38 && api <= 41)
		return strcmp(name, "hmac") == 0;
	if (api == 51)
		return strcmp(name, "salt") == 0 || strcmp(name, "saltedPassword") == 0;
	return false;
}

static void check_secrets(const struct tree *t, tree_ref r, int api, int version)
{
	const struct tree_node *n = tree_node(t, r);
	if (secret(api, n->name) && !(n->flags & TREE_F_NULL)) {
		static const char tag[] = "[redacted ";
		if (n->v.b.len < sizeof tag - 1 || memcmp(n->v.b.p, tag, sizeof tag - 1) != 0)
			fail("a credential was kept", api, version);
	}
	for (tree_ref c = n->first; c; c = tree_node(t, c)->next)
		check_secrets(t, c, api, version);
}

/* Inside a records field: every batch whole, every value redacted. */
static void check_values(const struct tree *t, tree_ref r, bool in_records, bool hashed, int api,
			 int version)
{
	const struct tree_node *n = tree_node(t, r);
	if (n->type == SCHEMA_RECORDS)
		in_records = true;
	if (in_records && n->name && strcmp(n->name, "headers") == 0)
		return; /* header values are kept (docs/store.md) */
	if (in_records && n->name) {
		if ((n->flags & TREE_F_PARTIAL) || (n->flags & TREE_F_ERROR) ||
		    strcmp(n->name, "partial") == 0 || strcmp(n->name, "error") == 0)
			fail("a kept frame with values redacted holds a damaged batch", api, version);
		if (strcmp(n->name, "value") == 0 && !(n->flags & TREE_F_NULL) &&
		    n->type != SCHEMA_RECORDS) {
			bool ok = hashed && n->v.b.len == 71 && memcmp(n->v.b.p, "sha256:", 7) == 0;
			for (uint32_t i = 7; ok && i < 71; i++)
				ok = (n->v.b.p[i] >= '0' && n->v.b.p[i] <= '9') ||
				     (n->v.b.p[i] >= 'a' && n->v.b.p[i] <= 'f');
			if (!ok)
				fail("a record value was kept", api, version);
		}
	}
	if (in_records && n->type == SCHEMA_RECORDS && !(n->flags & TREE_F_NULL) && n->v.b.len &&
	    n->first == TREE_NONE)
		fail("a kept frame with values redacted holds undecoded records", api, version);
	for (tree_ref c = n->first; c; c = tree_node(t, c)->next)
		check_values(t, c, in_records, hashed, api, version);
}

struct walk {
	size_t n;
	bool fetch;
	bool answered;   /* the exchange has a response */
	size_t cut;
	int api, version;
};

static bool on_record(void *ctx, const struct extract_record *r)
{
	struct walk *w = ctx;
	w->n++;
	if (r->fetch != w->fetch)
		fail("a record of the wrong direction", w->api, w->version);
	if (w->cut && (r->key_len > w->cut || (!r->value_text && r->value_len > w->cut)))
		fail("a key or value over the cut", w->api, w->version);
	/* A fetched record's offset is its batch's; a produced one's, the
	 * broker's answer, which is never negative and needs a response. */
	if (r->fetch ? !r->has_offset : r->has_offset && (r->offset < 0 || !w->answered))
		fail("a record offset the batch or the response did not give", w->api, w->version);
	/* Touch both ends so that ASan sees a short view. */
	volatile uint8_t x;
	if (r->key && r->key_len)
		x = r->key[0], x = r->key[r->key_len - 1];
	if (r->value && r->value_len)
		x = r->value[0], x = r->value[r->value_len - 1];
	if (r->topic && r->topic_len)
		x = (uint8_t)r->topic[r->topic_len - 1];
	(void)x;
	check_json(r->headers_json, r->headers_json_len, w->api, w->version);
	return true;
}

/* Decode a kept frame again, as a reader of the recording would. */
static void check_kept(const struct exchange *x, const uint8_t *raw, size_t len, bool response,
		       enum store_redact values)
{
	if (!raw)
		return;
	int api = x->api_key, version = x->api_version;
	bool secret_api = api == 36 || (api >= 38 && api <= 41) || api == 51;
	bool value_side = response ? api == API_FETCH : api == API_PRODUCE;
	if (!secret_api && !(values != STORE_REDACT_NONE && value_side))
		return;
	struct exchange y = *x;
	y.flags = 0;
	y.own = NULL;
	y.request = response ? NULL : raw;
	y.request_len = response ? 0 : (uint32_t)len;
	y.response = response ? raw : NULL;
	y.response_len = response ? (uint32_t)len : 0;
	report_decode(&again, &y, NULL);
	const struct tree *t = response ? &again.resp_tree : &again.req_tree;
	tree_ref root = response ? again.resp_root : again.req_root;
	enum codec_status st = response ? again.resp_status : again.req_status;
	if (st != CODEC_OK || root == TREE_NONE)
		fail("a redacted frame was kept that does not decode", api, version);
	if (secret_api)
		check_secrets(t, root, api, version);
	if (values != STORE_REDACT_NONE && value_side)
		check_values(t, root, false, values == STORE_REDACT_HASH, api, version);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!db) {
		if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
		    sqlite3_prepare_v2(db, "SELECT json_valid(?)", -1, &valid, NULL) != SQLITE_OK)
			abort();
		report_init(&again);
	}
	if (size < 3)
		return 0;
	unsigned flags = data[0];
	size_t reqlen = ((size_t)data[1] << 8) | data[2];
	data += 3;
	size -= 3;
	if (reqlen > size)
		reqlen = size;
	/* Private copies, so that reads past the end hit ASan's redzone. */
	uint8_t *req = malloc(reqlen ? reqlen : 1);
	uint8_t *resp = malloc(size - reqlen ? size - reqlen : 1);
	if (!req || !resp) {
		free(req);
		free(resp);
		return 0;
	}
	memcpy(req, data, reqlen);
	memcpy(resp, data + reqlen, size - reqlen);

	static const enum store_redact modes[4] = {STORE_REDACT_NONE, STORE_REDACT_HASH,
						   STORE_REDACT_DROP, STORE_REDACT_NONE};
	struct store_opts o;
	store_opts_default(&o);
	o.values = modes[flags & 3];
	o.keep_raw = !(flags & 4);
	o.keep_records = !(flags & 8);
	o.max_value_bytes = (flags & 16) ? 16 : 0;

	struct exchange_conn conn = {.id = 1, .client = "c", .broker = "b", .broker_node_id = 1};
	struct exchange x = {.conn = &conn, .seq = 1, .request_us = 1000, .response_us = 2000};
	int16_t api = API_PRODUCE, version = 3;
	int32_t corr = 0;
	if (!codec_peek_request(req, reqlen, &api, &version, &corr)) {
		api = API_PRODUCE;
		version = 3;
	}
	x.api_key = api;
	x.api_version = version;
	x.correlation_id = corr;
	if (!(flags & 0x80)) {
		x.request = req;
		x.request_len = (uint32_t)reqlen;
	}
	if (!(flags & 0x40)) {
		x.response = resp;
		x.response_len = (uint32_t)(size - reqlen);
	}
	if (flags & 0x20)
		x.flags |= EXCHANGE_SASL_RAW;

	struct extract *e = extract_new(&o);
	if (!e)
		abort();
	struct extract_out out;
	extract_exchange(e, &x, &out);

	struct walk w = {.fetch = api == API_FETCH, .answered = x.response != NULL,
			 .cut = o.max_value_bytes, .api = api, .version = version};
	extract_records(e, on_record, &w);
	if (w.n != out.nrecords)
		fail("extract_records walked another count than nrecords", api, version);
	if (!o.keep_records && out.nrecords)
		fail("records without the records table", api, version);
	if (!o.keep_raw && (out.request_raw || out.response_raw))
		fail("raw frames kept against keep_raw", api, version);
	check_json(out.request_json, out.request_json_len, api, version);
	check_json(out.response_json, out.response_json_len, api, version);
	if (o.values != STORE_REDACT_NONE && !(x.flags & EXCHANGE_SASL_RAW)) {
		if (api == API_PRODUCE)
			check_json_values(out.request_json, out.request_json_len, api, version);
		if (api == API_FETCH)
			check_json_values(out.response_json, out.response_json_len, api, version);
	}

	if (x.flags & EXCHANGE_SASL_RAW) {
		const uint8_t *raws[2] = {out.request_raw, out.response_raw};
		size_t lens[2] = {out.request_raw_len, out.response_raw_len};
		size_t want[2] = {x.request_len, x.response_len};
		for (int k = 0; k < 2; k++) {
			if (!raws[k])
				continue;
			if (lens[k] != want[k])
				fail("a raw SASL token's placeholder of another length", api, version);
			static const char tag[] = "[redacted]";
			for (size_t i = 0; i < lens[k]; i++)
				if (raws[k][i] != (i < sizeof tag - 1 ? (uint8_t)tag[i] : '*'))
					fail("a raw SASL token was kept", api, version);
		}
	} else {
		check_kept(&x, out.request_raw, out.request_raw_len, false, o.values);
		check_kept(&x, out.response_raw, out.response_raw_len, true, o.values);
	}
	extract_free(e);
	free(req);
	free(resp);
	return 0;
}
