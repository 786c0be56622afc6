/* report: decode, filter and format exchanges (see report.h; the JSON keys
 * and the line format are documented in docs/decode.md). */
#include "config.h"
#include "output/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/schema.h"
#include "records/records.h"

/* Output is written in chunks of about this size. */
#define REPORT_FLUSH_AT (256u * 1024)

void report_init(struct report_decoded *d)
{
	memset(d, 0, sizeof *d);
	tree_init(&d->req_tree);
	tree_init(&d->resp_tree);
}

void report_free(struct report_decoded *d)
{
	tree_free(&d->req_tree);
	tree_free(&d->resp_tree);
}

static uint32_t status_flags(enum codec_status st, bool response)
{
	switch (st) {
	case CODEC_OK:
		return 0;
	case CODEC_UNSUPPORTED:
		return EXCHANGE_UNSUPPORTED;
	case CODEC_NEED_MORE: /* the frame is whole: a body that ends early is malformed */
	case CODEC_MALFORMED:
		break;
	}
	return response ? EXCHANGE_RESP_MALFORMED : EXCHANGE_REQ_MALFORMED;
}

void report_decode(struct report_decoded *d, const struct exchange *x, const struct report_opts *o)
{
	static const struct report_opts dflt;
	d->x = x;
	d->opts = o ? *o : dflt;
	d->flags = x->flags;
	d->req_root = d->resp_root = TREE_NONE;
	d->req_tried = d->resp_tried = false;
	d->req_status = d->resp_status = CODEC_OK;
	memset(&d->req_h, 0, sizeof d->req_h);
	memset(&d->resp_h, 0, sizeof d->resp_h);
	tree_reset(&d->req_tree);
	tree_reset(&d->resp_tree);

	struct codec_opts co;
	memset(&co, 0, sizeof co);
	/* The defaults, with lazy records (records.h) when the output allows. */
	struct records_opts ro = records_opts_default();
	ro.lazy = d->opts.lazy_records;
	if (!d->opts.no_records) {
		co.records = records_decode;
		co.records_ctx = &ro;
	}
	/* Raw SASL tokens carry no Kafka header: nothing to decode. */
	bool sasl = x->flags & EXCHANGE_SASL_RAW;
	if (x->request && !sasl) {
		d->req_tried = true;
		d->req_status = codec_decode_request(x->request, x->request_len, &d->req_tree, &d->req_h,
						     &d->req_root, &co, &d->req_diag);
		d->flags |= status_flags(d->req_status, false);
	}
	if (x->response && !sasl && x->api_key >= 0) {
		d->resp_tried = true;
		d->resp_status = codec_decode_response(x->response, x->response_len, x->api_key,
						       x->api_version, &d->resp_tree, &d->resp_h,
						       &d->resp_root, &co, &d->resp_diag);
		d->flags |= status_flags(d->resp_status, true);
	}
}

/* ---- filters ---- */

void report_filter_init(struct report_filter *f)
{
	memset(f, 0, sizeof *f);
	f->slower_than_us = -1;
}

bool report_filter_add_api(struct report_filter *f, const char *arg)
{
	if (f->napis >= REPORT_MAX_APIS || !arg || !*arg)
		return false;
	char *end;
	errno = 0;
	long k = strtol(arg, &end, 10);
	if (*end == '\0' && errno == 0) {
		if (k < 0 || k > INT16_MAX)
			return false;
	} else {
		k = schema_api_by_name(arg);
		if (k < 0)
			return false;
	}
	f->apis[f->napis++] = (int16_t)k;
	return true;
}

bool report_filter_set_slower(struct report_filter *f, const char *arg)
{
	char *end;
	errno = 0;
	double ms = strtod(arg, &end);
	if (end == arg || *end || errno || !(ms >= 0) || ms > 1e12)
		return false;
	f->slower_than_us = (int64_t)(ms * 1000.0 + 0.5);
	return true;
}

/* Does the subtree name the topic? A topic name is a string field called
 * "topic" or "topicName", or a "name" in an element of an array whose name
 * says topics ("topics", "topicData", "creatableTopics"...). */
static bool names_topic(const struct tree *t, tree_ref r, const char *topic, size_t tlen,
			bool in_topic_elem, unsigned depth)
{
	if (depth > 256)
		return false;
	for (tree_ref c = tree_node(t, r)->first; c; c = tree_node(t, c)->next) {
		const struct tree_node *n = tree_node(t, c);
		if (n->type == SCHEMA_STRING && n->name && !(n->flags & TREE_F_NULL)) {
			bool is_topic = strcmp(n->name, "topic") == 0 || strcmp(n->name, "topicName") == 0 ||
					(in_topic_elem && strcmp(n->name, "name") == 0);
			if (is_topic && n->v.b.len == tlen && memcmp(n->v.b.p, topic, tlen) == 0)
				return true;
		} else if (n->type == SCHEMA_ARRAY) {
			bool topics = n->name && strstr(n->name, "opic") != NULL;
			for (tree_ref e = n->first; e; e = tree_node(t, e)->next)
				if (tree_node(t, e)->type == SCHEMA_STRUCT &&
				    names_topic(t, e, topic, tlen, topics, depth + 1))
					return true;
		} else if (n->type == SCHEMA_STRUCT && !(n->flags & TREE_F_SYNTH)) {
			if (names_topic(t, c, topic, tlen, false, depth + 1))
				return true;
		}
	}
	return false;
}

int64_t report_latency_us(const struct exchange *x)
{
	if (!x->request_us || !x->response_us || (x->flags & EXCHANGE_ORPHAN))
		return -1;
	return x->response_us - x->request_us;
}

struct err_walk {
	int codes[64];
	unsigned n;
	void (*fn)(void *ctx, int code, const char *name);
	void *ctx;
};

static void walk_errors(const struct tree *t, tree_ref r, struct err_walk *w, unsigned depth)
{
	if (depth > 256)
		return;
	for (tree_ref c = tree_node(t, r)->first; c; c = tree_node(t, c)->next) {
		const struct tree_node *n = tree_node(t, c);
		if (n->flags & TREE_F_SYNTH)
			continue; /* record data holds no error codes */
		if (n->type == SCHEMA_INT16 && n->name && n->v.i != 0) {
			size_t l = strlen(n->name);
			if (l >= 9 && strcmp(n->name + l - 9, "errorCode") != 0 &&
			    strcmp(n->name + l - 9, "ErrorCode") != 0)
				continue;
			if (l < 9)
				continue;
			int code = (int)n->v.i;
			bool seen = false;
			for (unsigned i = 0; i < w->n && !seen; i++)
				seen = w->codes[i] == code;
			if (seen || w->n >= sizeof w->codes / sizeof w->codes[0])
				continue;
			w->codes[w->n++] = code;
			if (w->fn)
				w->fn(w->ctx, code, schema_error_name(code));
		} else if (n->type == SCHEMA_STRUCT || n->type == SCHEMA_ARRAY) {
			walk_errors(t, c, w, depth + 1);
		}
	}
}

unsigned report_errors(const struct tree *t, tree_ref root,
		       void (*fn)(void *ctx, int code, const char *name), void *ctx)
{
	if (root == TREE_NONE)
		return 0;
	struct err_walk w;
	w.n = 0;
	w.fn = fn;
	w.ctx = ctx;
	walk_errors(t, root, &w, 0);
	return w.n;
}

bool report_match(const struct report_filter *f, const struct report_decoded *d)
{
	const struct exchange *x = d->x;
	if (f->napis) {
		bool any = false;
		for (unsigned i = 0; i < f->napis && !any; i++)
			any = f->apis[i] == x->api_key;
		if (!any)
			return false;
	}
	if (f->client_id) {
		size_t l = strlen(f->client_id);
		if (!d->req_h.has_client_id || d->req_h.client_id_null || !d->req_h.client_id ||
		    d->req_h.client_id_len != l || memcmp(d->req_h.client_id, f->client_id, l) != 0)
			return false;
	}
	if (f->slower_than_us >= 0) {
		int64_t lat = report_latency_us(x);
		if (lat < 0 || lat <= f->slower_than_us)
			return false;
	}
	if (f->errors) {
		bool bad = d->flags & (EXCHANGE_REQ_MALFORMED | EXCHANGE_RESP_MALFORMED);
		if (!bad && !report_errors(&d->resp_tree, d->resp_root, NULL, NULL))
			return false;
	}
	if (f->topic) {
		size_t l = strlen(f->topic);
		if (!(d->req_root && names_topic(&d->req_tree, d->req_root, f->topic, l, false, 0)) &&
		    !(d->resp_root && names_topic(&d->resp_tree, d->resp_root, f->topic, l, false, 0)))
			return false;
	}
	return true;
}

/* ---- formats ---- */

void report_time(struct buf *b, int64_t us)
{
	/* One gmtime per distinct second: output of a busy capture has many
	 * exchanges per second. */
	static __thread int64_t last_sec = INT64_MIN;
	static __thread char last[80];
	int64_t sec = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	if (sec != last_sec) {
		time_t tt = (time_t)sec;
		struct tm tm;
		if (!gmtime_r(&tt, &tm))
			memset(&tm, 0, sizeof tm);
		snprintf(last, sizeof last, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		last_sec = sec;
	}
	buf_printf(b, "%s.%06dZ", last, (int)frac);
}

static const char *api_name(int api)
{
	const char *n = api >= 0 ? schema_api_name(api) : NULL;
	return n;
}

static void put_flag_names(struct buf *b, uint32_t flags, bool json)
{
	bool first = true;
#define REPORT_FLAG(name, bit, jname, desc)                    \
	if (flags & (bit)) {                                   \
		if (json) {                                    \
			buf_puts(b, first ? "\"" jname "\"" : ",\"" jname "\""); \
		} else {                                       \
			buf_puts(b, first ? jname : "," jname); \
		}                                              \
		first = false;                                 \
	}
	EXCHANGE_FLAGS(REPORT_FLAG)
#undef REPORT_FLAG
}

static void put_client_id(struct buf *b, const struct report_decoded *d)
{
	const struct codec_header *h = &d->req_h;
	if (!h->has_client_id || h->client_id_null || !h->client_id)
		buf_puts(b, "-");
	else if (h->client_id_len == 0)
		buf_puts(b, "\"\"");
	else if (buf_is_plain_word(h->client_id, h->client_id_len, false))
		buf_append(b, h->client_id, h->client_id_len);
	else
		buf_json_string(b, h->client_id, h->client_id_len);
}

static void put_latency(struct buf *b, int64_t us)
{
	buf_printf(b, "%lld.%03lld ms", (long long)(us / 1000), (long long)(us % 1000));
}

static void diag_text(struct buf *b, const struct codec_diag *dg)
{
	char tmp[512];
	buf_puts(b, codec_diag_format(dg, tmp, sizeof tmp));
}

void report_line(struct buf *b, const struct report_decoded *d)
{
	const struct exchange *x = d->x;
	int64_t t = x->request_us ? x->request_us : x->response_us;
	report_time(b, t);
	buf_printf(b, " %s > %s", x->conn ? x->conn->client : "?", x->conn ? x->conn->broker : "?");
	uint32_t fl = d->flags;
	if (fl & EXCHANGE_SASL_RAW) {
		buf_printf(b, " SASL token %u bytes", x->request ? x->request_len : 0);
		if (x->response)
			buf_printf(b, ", reply %u bytes", x->response_len);
	} else {
		const char *name = api_name(x->api_key);
		if (name)
			buf_printf(b, " %s v%d", name, x->api_version);
		else if (x->api_key >= 0)
			buf_printf(b, " api%d v%d", x->api_key, x->api_version);
		else if (x->response && !x->request)
			buf_printf(b, " response of %u bytes to an unseen request,", x->response_len);
		else
			buf_printf(b, " request of %u bytes,", x->request_len);
		buf_printf(b, " corr=%d", x->correlation_id);
		if (d->req_h.has_client_id) {
			buf_puts(b, " client=");
			put_client_id(b, d);
		}
		size_t before = b->len;
		buf_putc(b, ' ');
		view_facts(b, x->api_key, &d->req_tree, d->req_root, &d->resp_tree, d->resp_root);
		if (b->len == before + 1)
			b->len = before; /* no facts */
	}
	int64_t lat = report_latency_us(x);
	if (lat >= 0) {
		buf_puts(b, " ");
		put_latency(b, lat);
	}
	if (fl) {
		buf_puts(b, " [");
		put_flag_names(b, fl, false);
		buf_putc(b, ']');
	}
	if (d->req_tried && d->req_status != CODEC_OK) {
		buf_puts(b, " request: ");
		diag_text(b, &d->req_diag);
	} else if (d->req_tried && d->req_diag.trailing) {
		buf_printf(b, " request: %u bytes left over", d->req_diag.trailing);
	}
	if (d->resp_tried && d->resp_status != CODEC_OK) {
		buf_puts(b, " response: ");
		diag_text(b, &d->resp_diag);
	} else if (d->resp_tried && d->resp_diag.trailing) {
		buf_printf(b, " response: %u bytes left over", d->resp_diag.trailing);
	}
	buf_putc(b, '\n');
}

static void put_raw(struct buf *b, const struct report_opts *o, const uint8_t *p, size_t n)
{
	size_t show = n;
	if (o->view.max_bytes && show > o->view.max_bytes)
		show = o->view.max_bytes;
	if (o->view.bytes == VIEW_BYTES_HEX)
		buf_hex(b, p, show);
	else
		buf_base64(b, p, show);
}

void report_verbose(struct buf *b, const struct report_decoded *d)
{
	const struct exchange *x = d->x;
	report_line(b, d);
	if (d->req_root) {
		buf_puts(b, "  request:\n");
		view_verbose(b, &d->req_tree, d->req_root, 2, &d->opts.view);
	} else if (x->request) {
		buf_printf(b, "  request: %u bytes ", x->request_len);
		put_raw(b, &d->opts, x->request, x->request_len);
		buf_putc(b, '\n');
	}
	if (d->resp_root) {
		buf_puts(b, "  response:\n");
		view_verbose(b, &d->resp_tree, d->resp_root, 2, &d->opts.view);
	} else if (x->response) {
		buf_printf(b, "  response: %u bytes ", x->response_len);
		put_raw(b, &d->opts, x->response, x->response_len);
		buf_putc(b, '\n');
	}
}

struct json_errs {
	struct buf *b;
	bool first;
};

static void json_error_name(void *ctx, int code, const char *name)
{
	struct json_errs *je = ctx;
	if (!je->first)
		buf_putc(je->b, ',');
	je->first = false;
	if (name)
		buf_json_cstr(je->b, name);
	else
		buf_printf(je->b, "\"UNKNOWN_%d\"", code);
}

static void json_time(struct buf *b, const char *key, int64_t us)
{
	buf_printf(b, ",\"%s_time\":", key);
	if (us) {
		buf_putc(b, '"');
		report_time(b, us);
		buf_putc(b, '"');
		buf_printf(b, ",\"%s_us\":%lld", key, (long long)us);
	} else {
		buf_printf(b, "null,\"%s_us\":null", key);
	}
}

static void json_raw(struct buf *b, const struct report_opts *o, const char *key,
		     const uint8_t *p, size_t n)
{
	buf_printf(b, ",\"%s\":\"", key);
	put_raw(b, o, p, n);
	buf_putc(b, '"');
}

void report_exchange_json(struct buf *b, const struct report_decoded *d)
{
	const struct exchange *x = d->x;
	const char *name = api_name(x->api_key);
	if (x->api_key >= 0)
		buf_printf(b, "{\"api_key\":%d,\"api_name\":", x->api_key);
	else
		buf_puts(b, "{\"api_key\":null,\"api_name\":");
	if (name)
		buf_json_cstr(b, name);
	else
		buf_puts(b, "null");
	if (x->api_key >= 0)
		buf_printf(b, ",\"api_version\":%d", x->api_version);
	else
		buf_puts(b, ",\"api_version\":null");
	if (x->correlation_id >= 0 || x->api_key >= 0 || x->response)
		buf_printf(b, ",\"correlation_id\":%d", x->correlation_id);
	else
		buf_puts(b, ",\"correlation_id\":null");
	buf_puts(b, ",\"client_id\":");
	if (d->req_h.has_client_id && !d->req_h.client_id_null && d->req_h.client_id)
		buf_json_string(b, d->req_h.client_id, d->req_h.client_id_len);
	else
		buf_puts(b, "null");
	json_time(b, "request", x->request_us);
	json_time(b, "response", x->response_us);
	int64_t lat = report_latency_us(x);
	if (lat >= 0)
		buf_printf(b, ",\"latency_us\":%lld", (long long)lat);
	else
		buf_puts(b, ",\"latency_us\":null");
	buf_puts(b, ",\"connection\":{");
	if (x->conn) {
		buf_printf(b, "\"id\":%llu,\"client\":", (unsigned long long)x->conn->id);
		buf_json_cstr(b, x->conn->client);
		buf_puts(b, ",\"broker\":");
		buf_json_cstr(b, x->conn->broker);
		if (x->conn->broker_node_id >= 0)
			buf_printf(b, ",\"broker_node_id\":%d}", x->conn->broker_node_id);
		else
			buf_puts(b, ",\"broker_node_id\":null}");
	} else {
		buf_puts(b, "\"id\":null,\"client\":null,\"broker\":null,\"broker_node_id\":null}");
	}
	buf_puts(b, ",\"flags\":[");
	put_flag_names(b, d->flags, true);
	buf_puts(b, "],\"errors\":[");
	struct json_errs je = {b, true};
	report_errors(&d->resp_tree, d->resp_root, json_error_name, &je);
	buf_putc(b, ']');
	char tmp[512];
	if (d->req_tried && d->req_status != CODEC_OK) {
		buf_puts(b, ",\"request_error\":");
		buf_json_cstr(b, codec_diag_format(&d->req_diag, tmp, sizeof tmp));
	} else if (d->req_tried && d->req_diag.trailing) {
		buf_printf(b, ",\"request_trailing\":%u", d->req_diag.trailing);
	}
	if (d->resp_tried && d->resp_status != CODEC_OK) {
		buf_puts(b, ",\"response_error\":");
		buf_json_cstr(b, codec_diag_format(&d->resp_diag, tmp, sizeof tmp));
	} else if (d->resp_tried && d->resp_diag.trailing) {
		buf_printf(b, ",\"response_trailing\":%u", d->resp_diag.trailing);
	}
	/* Frames that could not be decoded at all are kept raw. */
	if (x->request && !d->req_root)
		json_raw(b, &d->opts, "request_raw", x->request, x->request_len);
	if (x->response && !d->resp_root)
		json_raw(b, &d->opts, "response_raw", x->response, x->response_len);
	buf_puts(b, ",\"request\":");
	if (d->req_root)
		view_json(b, &d->req_tree, d->req_root, &d->opts.view);
	else
		buf_puts(b, "null");
	buf_puts(b, ",\"response\":");
	if (d->resp_root)
		view_json(b, &d->resp_tree, d->resp_root, &d->opts.view);
	else
		buf_puts(b, "null");
	buf_putc(b, '}');
}

/* ---- the FILE sink ---- */

void report_out_init(struct report_out *r, FILE *f, enum report_format fmt,
		     const struct report_opts *o, const struct report_filter *flt)
{
	memset(r, 0, sizeof *r);
	r->f = f;
	r->fmt = fmt;
	if (o)
		r->opts = *o;
	/* JSON reads the trees through view_json, and lines read a batch's
	 * recordCount, never its records; nor do the filters. Only the verbose
	 * view walks every record node. (-q keeps expanding them: it is the
	 * measure of what a full decode costs.) */
	r->opts.lazy_records = fmt == REPORT_JSON || fmt == REPORT_LINE;
	if (flt)
		r->filter = *flt;
	else
		report_filter_init(&r->filter);
	report_init(&r->d);
	buf_init(&r->b);
}

static void write_out(struct report_out *r)
{
	if (r->b.failed)
		r->write_failed = true;
	if (r->b.len && r->f && !r->write_failed) {
		if (fwrite(r->b.p, 1, r->b.len, r->f) != r->b.len)
			r->write_failed = true;
		r->dirty = true;
	}
	buf_reset(&r->b);
}

bool report_out_flush(struct report_out *r)
{
	write_out(r);
	/* Only when something was written: live captures call this often. */
	if (r->dirty && r->f && fflush(r->f) != 0)
		r->write_failed = true;
	r->dirty = false;
	return !r->write_failed;
}

bool report_out_exchange(struct report_out *r, const struct exchange *x)
{
	r->c.exchanges++;
	report_decode(&r->d, x, &r->opts);
	if (r->d.flags & (EXCHANGE_REQ_MALFORMED | EXCHANGE_RESP_MALFORMED))
		r->c.malformed++;
	if (r->d.flags & EXCHANGE_UNSUPPORTED)
		r->c.unsupported++;
	if (!report_match(&r->filter, &r->d))
		return false;
	r->c.shown++;
	switch (r->fmt) {
	case REPORT_LINE:
		report_line(&r->b, &r->d);
		break;
	case REPORT_VERBOSE:
		report_verbose(&r->b, &r->d);
		break;
	case REPORT_JSON:
		report_exchange_json(&r->b, &r->d);
		buf_putc(&r->b, '\n');
		break;
	case REPORT_NONE:
		break;
	}
	if (r->b.len >= REPORT_FLUSH_AT)
		write_out(r);
	return true;
}

void report_out_free(struct report_out *r)
{
	report_free(&r->d);
	buf_free(&r->b);
}
