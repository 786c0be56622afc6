/* show: `kafkatap show FILE.db` — print the exchanges recorded in a store
 * (docs/store.md). Each exchange is rebuilt from its stored raw frames and
 * printed by the report module, so the output is the output `kafkatap decode`
 * printed for the same traffic (except for secrets, which the store never
 * kept). Exchanges recorded without raw frames (--no-raw, value redaction)
 * are shown from the stored JSON.
 *
 * The filters that the database can answer (session, connection, time, api,
 * client id, errors, latency) become SQL conditions; --topic and the exact
 * --errors rule are the report module's (report_match), as in decode. */
#include "config.h"
#include "cli/cli.h"
#include "cli/filteropt.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "output/report.h"
#include "store/store.h"
#include "util/buf.h"

const char show_usage[] =
	"usage: kafkatap show [options] FILE.db\n"
	"\n"
	"Print the exchanges recorded in a kafkatap SQLite store (kafkatap decode -w,\n"
	"kafkatap proxy -w), in the order they were recorded, as kafkatap decode prints\n"
	"them.\n"
	"\n"
	"output:\n"
	"  -V, --verbose          the exchange line, then every field of request and response\n"
	"      --json             one JSON object per exchange (as kafkatap decode --json)\n"
	"      --bytes MODE       bytes values as auto, hex or base64 (default auto)\n"
	"      --max-bytes N      show at most N bytes of each bytes or string value\n"
	"      --no-records       keep record batches as raw bytes\n"
	"selection:\n"
	"      --session ID       only this recording session (see kafkatap stats)\n"
	"      --connection ID    only this connection (connections.id)\n"
	"      --since TIME       only exchanges at or after TIME\n"
	"      --until TIME       only exchanges before TIME\n"
	"                         TIME: ISO 8601 UTC (2024-05-01T10:00:00Z, 2024-05-01) or Unix seconds\n"
	"      --limit N          stop after N exchanges\n"
	"filters (all must hold):\n"
	FILTEROPT_USAGE
	"  -h, --help             show this help\n";

enum {
	OPT_JSON = 256,
	OPT_BYTES,
	OPT_MAX_BYTES,
	OPT_NO_RECORDS,
	OPT_SESSION,
	OPT_CONNECTION,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_LIMIT,
};

struct show_args {
	enum report_format fmt;
	struct report_opts ropts;
	struct report_filter filter;
	int64_t session, connection, since, until, limit; /* -1: not given */
	const char *path;
};

static int parse_args(struct show_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"verbose", no_argument, NULL, 'V'},
		{"json", no_argument, NULL, OPT_JSON},
		{"bytes", required_argument, NULL, OPT_BYTES},
		{"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
		{"no-records", no_argument, NULL, OPT_NO_RECORDS},
		{"session", required_argument, NULL, OPT_SESSION},
		{"connection", required_argument, NULL, OPT_CONNECTION},
		{"since", required_argument, NULL, OPT_SINCE},
		{"until", required_argument, NULL, OPT_UNTIL},
		{"limit", required_argument, NULL, OPT_LIMIT},
		FILTEROPT_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof *a);
	a->fmt = REPORT_LINE;
	report_filter_init(&a->filter);
	a->session = a->connection = a->since = a->until = a->limit = -1;
	bool verbose = false, json = false;
	int ch;
	int64_t v;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":Vh", longopts, NULL)) != -1) {
		int frc = filteropt_parse("show", ch, optarg, &a->filter);
		if (frc > 0)
			return frc;
		if (frc == 0)
			continue;
		switch (ch) {
		case 'V':
			verbose = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_BYTES:
			if (!view_bytes_parse(optarg, &a->ropts.view.bytes))
				return cli_usage_error("show", "--bytes takes auto, hex or base64, not '%s'", optarg);
			break;
		case OPT_MAX_BYTES:
			if (!cli_parse_i64(optarg, &v))
				return cli_usage_error("show", "bad --max-bytes '%s'", optarg);
			a->ropts.view.max_bytes = (size_t)v;
			break;
		case OPT_NO_RECORDS:
			a->ropts.no_records = true;
			break;
		case OPT_SESSION:
			if (!cli_parse_i64(optarg, &a->session))
				return cli_usage_error("show", "bad --session '%s' (a session id)", optarg);
			break;
		case OPT_CONNECTION:
			if (!cli_parse_i64(optarg, &a->connection))
				return cli_usage_error("show", "bad --connection '%s' (a connection id)", optarg);
			break;
		case OPT_SINCE:
			if (!store_parse_time(optarg, &a->since))
				return cli_usage_error("show", "bad --since '%s' (ISO 8601 UTC or Unix seconds)", optarg);
			break;
		case OPT_UNTIL:
			if (!store_parse_time(optarg, &a->until))
				return cli_usage_error("show", "bad --until '%s' (ISO 8601 UTC or Unix seconds)", optarg);
			break;
		case OPT_LIMIT:
			if (!cli_parse_i64(optarg, &a->limit))
				return cli_usage_error("show", "bad --limit '%s'", optarg);
			break;
		case 'h':
			fputs(show_usage, stdout);
			return 0;
		case ':':
			return cli_usage_error("show", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("show", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (verbose && json)
		return cli_usage_error("show", "--verbose and --json do not go together");
	a->fmt = json ? REPORT_JSON : verbose ? REPORT_VERBOSE : REPORT_LINE;
	if (optind >= argc)
		return cli_usage_error("show", "no store file given");
	if (optind + 1 < argc)
		return cli_usage_error("show", "one store file at a time ('%s' is extra)", argv[optind + 1]);
	a->path = argv[optind];
	return -1;
}

/* The query: filters the database can answer, in recording order. */
static void build_query(struct buf *q, const struct show_args *a)
{
	buf_puts(q, "SELECT e.seq, e.api_key, e.api_version, e.correlation_id, e.request_us,"
		    " e.response_us, e.flags, e.request_raw, e.response_raw, e.request_size,"
		    " e.response_size, e.request_json, e.response_json, c.conn_id, c.client_addr,"
		    " c.broker_addr, c.broker_node_id"
		    " FROM exchanges e LEFT JOIN connections c ON c.id = e.connection_id WHERE 1");
	if (a->session >= 0)
		buf_printf(q, " AND e.session_id = %lld", (long long)a->session);
	if (a->connection >= 0)
		buf_printf(q, " AND e.connection_id = %lld", (long long)a->connection);
	/* A lone response (orphan) has only a response time. */
	if (a->since >= 0)
		buf_printf(q, " AND coalesce(e.request_us, e.response_us) >= %lld", (long long)a->since);
	if (a->until >= 0)
		buf_printf(q, " AND coalesce(e.request_us, e.response_us) < %lld", (long long)a->until);
	if (a->filter.napis) {
		buf_puts(q, " AND e.api_key IN (");
		for (unsigned i = 0; i < a->filter.napis; i++)
			buf_printf(q, "%s%d", i ? "," : "", a->filter.apis[i]);
		buf_putc(q, ')');
	}
	if (a->filter.client_id)
		buf_puts(q, " AND e.client_id = ?1");
	if (a->filter.errors)
		buf_printf(q, " AND (e.has_error OR (e.flags & %d) <> 0)",
			   EXCHANGE_REQ_MALFORMED | EXCHANGE_RESP_MALFORMED);
	if (a->filter.slower_than_us >= 0)
		buf_printf(q, " AND e.latency_us > %lld", (long long)a->filter.slower_than_us);
	buf_puts(q, " ORDER BY e.id");
}

static const uint8_t *col_blob(sqlite3_stmt *st, int i, uint32_t *len)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL) {
		*len = 0;
		return NULL;
	}
	const void *p = sqlite3_column_blob(st, i);
	*len = (uint32_t)sqlite3_column_bytes(st, i);
	return p ? p : (const uint8_t *)"";
}

/* A connection's address from the file, for the line format, which prints
 * it as it is: anything but printable ASCII becomes '?' (a recording may
 * come from anywhere; see stored_json). */
static void addr_text(char *out, size_t n, const unsigned char *s)
{
	snprintf(out, n, "%s", s ? (const char *)s : "?");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
}

/* A stored JSON body as show prints it: minified by SQLite's json(), so it
 * stays on one line of --json output, or NULL when it is not JSON at all.
 * kafkatap wrote it valid and on one line, but a recording may come from
 * anywhere (a copy, a hand edit, another tool), and its text goes to the
 * terminal. Checked only for the exchanges whose JSON is printed. */
static const char *stored_json(sqlite3 *db, sqlite3_stmt **chk, sqlite3_stmt *row, int col,
			       struct buf *keep)
{
	if (sqlite3_column_type(row, col) == SQLITE_NULL)
		return NULL;
	if (!*chk && sqlite3_prepare_v2(db, "SELECT CASE WHEN json_valid(?1) THEN json(?1) END",
					-1, chk, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_reset(*chk);
	sqlite3_bind_text(*chk, 1, (const char *)sqlite3_column_text(row, col),
			  sqlite3_column_bytes(row, col), SQLITE_STATIC);
	const char *j = NULL;
	if (sqlite3_step(*chk) == SQLITE_ROW && sqlite3_column_type(*chk, 0) != SQLITE_NULL) {
		buf_reset(keep);
		buf_append(keep, sqlite3_column_text(*chk, 0), (size_t)sqlite3_column_bytes(*chk, 0));
		j = keep->failed ? NULL : buf_cstr(keep);
	}
	sqlite3_reset(*chk);
	return j;
}

/* An exchange kept without raw frames: the report's JSON with the stored
 * bodies in place of "request": null / "response": null. */
static void json_from_stored(struct buf *b, const struct report_decoded *d, const char *req_json,
			     const char *resp_json)
{
	static const char tail[] = ",\"request\":null,\"response\":null}";
	size_t start = b->len;
	report_exchange_json(b, d);
	size_t tl = sizeof tail - 1;
	if (b->len - start >= tl && memcmp(b->p + b->len - tl, tail, tl) == 0) {
		b->len -= tl;
		buf_puts(b, ",\"request\":");
		buf_puts(b, req_json ? req_json : "null");
		buf_puts(b, ",\"response\":");
		buf_puts(b, resp_json ? resp_json : "null");
		buf_putc(b, '}');
	}
	buf_putc(b, '\n');
}

int show_main(int argc, char **argv)
{
	struct show_args a;
	int rc = parse_args(&a, argc, argv);
	if (rc >= 0)
		return rc;
	char err[512];
	int version = 0;
	sqlite3 *db = store_open_read(a.path, &version, err, sizeof err);
	if (!db) {
		fprintf(stderr, "kafkatap show: %s\n", err);
		return 1;
	}
	struct buf q;
	buf_init(&q);
	build_query(&q, &a);
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(db, buf_cstr(&q), -1, &st, NULL);
	buf_free(&q);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "kafkatap show: %s: %s\n", a.path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return 1;
	}
	if (a.filter.client_id)
		sqlite3_bind_text(st, 1, a.filter.client_id, -1, SQLITE_STATIC);

	struct report_out out;
	report_out_init(&out, stdout, a.fmt, &a.ropts, &a.filter);
	struct report_decoded fd; /* for exchanges kept without raw frames */
	report_init(&fd);
	sqlite3_stmt *chk = NULL; /* stored_json */
	struct buf rjb, sjb;
	buf_init(&rjb);
	buf_init(&sjb);
	uint64_t shown = 0, from_json = 0;
	int status = 0;
	rc = SQLITE_DONE;
	while ((a.limit < 0 || shown < (uint64_t)a.limit) && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct exchange_conn conn;
		memset(&conn, 0, sizeof conn);
		conn.id = (uint64_t)sqlite3_column_int64(st, 13);
		const unsigned char *cl = sqlite3_column_text(st, 14), *br = sqlite3_column_text(st, 15);
		addr_text(conn.client, sizeof conn.client, cl);
		addr_text(conn.broker, sizeof conn.broker, br);
		conn.broker_node_id = sqlite3_column_type(st, 16) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 16);
		struct exchange x;
		memset(&x, 0, sizeof x);
		x.conn = &conn;
		x.seq = (uint64_t)sqlite3_column_int64(st, 0);
		x.api_key = (int16_t)sqlite3_column_int(st, 1);
		x.api_version = (int16_t)sqlite3_column_int(st, 2);
		x.correlation_id = sqlite3_column_int(st, 3);
		x.request_us = sqlite3_column_int64(st, 4);
		x.response_us = sqlite3_column_int64(st, 5);
		x.flags = (uint32_t)sqlite3_column_int64(st, 6);
		x.request = col_blob(st, 7, &x.request_len);
		x.response = col_blob(st, 8, &x.response_len);
		/* A frame never kept (oversized, gap, shed) has its size but no
		 * bytes and no JSON either: not one left out of the recording. */
		bool lost = x.flags & (EXCHANGE_OVERSIZED | EXCHANGE_GAP | EXCHANGE_SHED);
		bool req_missing = !x.request && !lost && sqlite3_column_type(st, 9) != SQLITE_NULL;
		bool resp_missing = !x.response && !lost && sqlite3_column_type(st, 10) != SQLITE_NULL;
		if (!req_missing && !resp_missing) {
			if (report_out_exchange(&out, &x))
				shown++;
		} else {
			/* Frames not kept: filter on what the JSON-less decode gives,
			 * print the stored bodies. */
			report_decode(&fd, &x, &a.ropts);
			if (!report_match(&a.filter, &fd))
				continue;
			shown++;
			from_json++;
			const char *rj = stored_json(db, &chk, st, 11, &rjb);
			const char *sj = stored_json(db, &chk, st, 12, &sjb);
			if (a.fmt == REPORT_JSON) {
				json_from_stored(&out.b, &fd, rj, sj);
			} else {
				report_line(&out.b, &fd);
				if (a.fmt == REPORT_VERBOSE) {
					buf_printf(&out.b, "  request (stored JSON): %s\n", rj ? rj : "null");
					buf_printf(&out.b, "  response (stored JSON): %s\n", sj ? sj : "null");
				}
			}
		}
		if (out.b.len >= 256 * 1024 && !report_out_flush(&out))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		fprintf(stderr, "kafkatap show: %s: reading: %s\n", a.path, sqlite3_errmsg(db));
		status = 1;
	}
	if (!report_out_flush(&out)) {
		fprintf(stderr, "kafkatap show: writing the output failed: %s\n", strerror(errno));
		status = 1;
	}
	if (from_json)
		fprintf(stderr, "kafkatap show: %llu exchanges were recorded without raw frames; "
				"their bodies come from the stored JSON\n", (unsigned long long)from_json);
	report_free(&fd);
	report_out_free(&out);
	buf_free(&rjb);
	buf_free(&sjb);
	sqlite3_finalize(chk);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return status;
}
