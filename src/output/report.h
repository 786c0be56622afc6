/* report: how an exchange (stream/exchange.h) is shown — shared by
 * `kafkatap decode`, `sniff`, `show` (from the store) and `proxy -v/--json`,
 * so that every command prints the same thing for the same bytes, and the
 * store keeps exactly the JSON that `decode --json` prints.
 *
 * An exchange is decoded once (report_decode: request and response through
 * the codec, record data through the records decoder), then filtered
 * (report_match) and formatted:
 *   line     one line: time, connection, api, correlation id, client id,
 *            key facts (view_facts), latency and flags
 *   verbose  the line, then the request and response trees (view_verbose)
 *   JSON     one object (report_exchange_json; docs/decode.md lists the keys)
 * Times are UTC, ISO 8601 with microseconds. */
#ifndef KT_REPORT_H
#define KT_REPORT_H

#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>

#include "output/view.h"
#include "proto/codec.h"
#include "proto/tree.h"
#include "stream/exchange.h"
#include "util/buf.h"

struct report_opts {
	struct view_opts view;   /* bytes as auto/hex/base64, max bytes shown */
	bool no_records;         /* keep record data as raw bytes (no records decoding) */
	bool lazy_records;       /* records_opts.lazy: set by report_out for JSON and lines */
};

/* An exchange with its request and response decoded. The trees are reused
 * from one report_decode to the next; `x` and the frames must outlive the
 * use of the result. */
struct report_decoded {
	const struct exchange *x;
	struct report_opts opts;
	uint32_t flags;                 /* x->flags plus what decoding found */
	struct tree req_tree, resp_tree;
	struct codec_header req_h, resp_h;
	tree_ref req_root, resp_root;   /* TREE_NONE when not decoded */
	enum codec_status req_status, resp_status;
	struct codec_diag req_diag, resp_diag;
	bool req_tried, resp_tried;     /* a decode was attempted */
};

void report_init(struct report_decoded *d);
void report_free(struct report_decoded *d);
/* Decode x's request and response. o may be NULL for the defaults. */
void report_decode(struct report_decoded *d, const struct exchange *x, const struct report_opts *o);

/* Which exchanges to show. All conditions must hold. */
#define REPORT_MAX_APIS 64
struct report_filter {
	int16_t apis[REPORT_MAX_APIS];  /* --api: any of these keys */
	unsigned napis;
	const char *topic;              /* --topic: the request or response names it */
	const char *client_id;          /* --client-id: exact */
	bool errors;                    /* --errors: an error code in the response, or malformed */
	int64_t slower_than_us;         /* --slower-than: latency above; < 0 = off */
};
void report_filter_init(struct report_filter *f);
/* Add an --api argument: a name ("Produce", case-insensitive) or a key
 * number. False (with nothing added) when unknown or too many. */
bool report_filter_add_api(struct report_filter *f, const char *arg);
/* Parse --slower-than MS (a decimal number of milliseconds). */
bool report_filter_set_slower(struct report_filter *f, const char *arg);
bool report_match(const struct report_filter *f, const struct report_decoded *d);

/* Formats. Each appends to b and ends with a newline, except the JSON
 * object, which the caller ends as it likes (the store keeps it bare). */
void report_line(struct buf *b, const struct report_decoded *d);
void report_verbose(struct buf *b, const struct report_decoded *d);
void report_exchange_json(struct buf *b, const struct report_decoded *d);

/* "2024-05-01T10:00:00.000123Z" */
void report_time(struct buf *b, int64_t us);
/* Latency in microseconds, or -1 when there is no request/response pair. */
int64_t report_latency_us(const struct exchange *x);
/* The error names in a response body, distinct, in order of appearance;
 * calls fn for each (code, name) and returns how many. */
unsigned report_errors(const struct tree *t, tree_ref root,
		       void (*fn)(void *ctx, int code, const char *name), void *ctx);

/* A ready-made sink: decode, filter, format and write to a FILE (buffered:
 * call report_out_flush before the FILE is used otherwise). */
enum report_format { REPORT_LINE = 0, REPORT_VERBOSE, REPORT_JSON, REPORT_NONE };

struct report_counters {
	uint64_t exchanges;   /* seen */
	uint64_t shown;       /* passed the filter */
	uint64_t malformed;   /* request or response did not decode */
	uint64_t unsupported;
};

struct report_out {
	FILE *f;
	enum report_format fmt;
	struct report_opts opts;
	struct report_filter filter;
	struct report_decoded d;
	struct buf b;
	struct report_counters c;
	bool write_failed;
	bool dirty;            /* written to f since the last fflush */
};
void report_out_init(struct report_out *r, FILE *f, enum report_format fmt,
		     const struct report_opts *o, const struct report_filter *flt);
/* Returns true when the exchange passed the filter (and was written). */
bool report_out_exchange(struct report_out *r, const struct exchange *x);
/* Write what is buffered; false when writing failed (e.g. a closed pipe). */
bool report_out_flush(struct report_out *r);
void report_out_free(struct report_out *r);

#endif
