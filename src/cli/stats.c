/* stats: `kafkatap stats FILE.db` — a summary of a recording (docs/store.md):
 * per API (count, errors by name, latency percentiles, bytes), per topic
 * (records and bytes produced and fetched), per client id, and the rate of
 * exchanges over time. Everything comes from SQL over the store's columns;
 * nothing is decoded again. Percentiles are nearest-rank over the exchanges
 * that have both a request and a response. */
#include "config.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "output/report.h"
#include "proto/schema.h"
#include "store/store.h"
#include "util/buf.h"

const char stats_usage[] =
	"usage: kafkatap stats [options] FILE.db\n"
	"\n"
	"Summarise a kafkatap SQLite store: per API (count, errors by name, latency\n"
	"p50/p90/p99/max, bytes), per topic (records and bytes produced and fetched),\n"
	"per client id, and exchanges over time.\n"
	"\n"
	"options:\n"
	"      --json             one JSON object instead of tables\n"
	"      --session ID       only this recording session\n"
	"      --since TIME       only exchanges at or after TIME\n"
	"      --until TIME       only exchanges before TIME\n"
	"                         TIME: ISO 8601 UTC (2024-05-01T10:00:00Z, 2024-05-01) or Unix seconds\n"
	"      --bucket SECONDS   width of the rate buckets (default: 1 s up to 2 minutes\n"
	"                         recorded, 1 min up to 2 hours, 1 h up to 2 days, then 1 day)\n"
	"  -h, --help             show this help\n";

enum { OPT_JSON = 256, OPT_SESSION, OPT_SINCE, OPT_UNTIL, OPT_BUCKET };

struct stats {
	sqlite3 *db;
	const char *path;
	int version;
	bool json;
	struct buf where;   /* " AND ..." conditions on exchanges e */
	struct buf out;
	bool failed;
};

static sqlite3_stmt *prep(struct stats *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static sqlite3_stmt *prep(struct stats *s, const char *fmt, ...)
{
	struct buf q;
	buf_init(&q);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&q, fmt, ap);
	va_end(ap);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, buf_cstr(&q), -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "kafkatap stats: %s: %s\n", s->path, sqlite3_errmsg(s->db));
		s->failed = true;
		st = NULL;
	}
	buf_free(&q);
	return st;
}

static bool step(struct stats *s, sqlite3_stmt *st)
{
	if (!st)
		return false;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return true;
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "kafkatap stats: %s: reading: %s\n", s->path, sqlite3_errmsg(s->db));
		s->failed = true;
	}
	return false;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : NULL;
}

static void put_time(struct buf *b, int64_t us, bool json)
{
	if (!us) {
		buf_puts(b, json ? "null" : "-");
		return;
	}
	if (json)
		buf_putc(b, '"');
	report_time(b, us);
	if (json)
		buf_putc(b, '"');
}

static void put_str(struct buf *b, const char *s, bool json)
{
	if (json) {
		if (s)
			buf_json_cstr(b, s);
		else
			buf_puts(b, "null");
	} else {
		buf_puts(b, s ? s : "-");
	}
}

/* A name from the recording in a text table, left-aligned in `width`
 * bytes. Client ids and topic names are whatever the clients sent: one with
 * control characters or broken UTF-8 is printed as a JSON string, escapes
 * and all, so it cannot move the cursor or retitle the terminal. */
static void put_cell(struct buf *b, const char *s, int width, bool spaces)
{
	size_t start = b->len;
	if (!s)
		buf_putc(b, '-');
	else if (!*s || buf_is_plain_word((const uint8_t *)s, strlen(s), spaces))
		buf_puts(b, s);
	else
		buf_json_cstr(b, s);
	for (size_t w = b->len - start; w < (size_t)width; w++)
		buf_putc(b, ' ');
}

/* ---- overview ---- */

static int64_t overview(struct stats *s)
{
	struct buf *b = &s->out;
	bool js = s->json;
	sqlite3_stmt *st = prep(s, "SELECT id, mode, kafkatap_version, started_us, ended_us, command_line"
				   " FROM sessions WHERE id IN (SELECT DISTINCT session_id FROM exchanges e"
				   " WHERE 1%s) ORDER BY id", buf_cstr(&s->where));
	buf_puts(b, js ? "{\"file\":" : "");
	if (js)
		buf_json_cstr(b, s->path);
	else
		buf_printf(b, "%s\n\nsessions:\n", s->path);
	buf_puts(b, js ? ",\"sessions\":[" : "");
	bool first = true;
	while (step(s, st)) {
		if (js) {
			buf_printf(b, "%s{\"id\":%lld,\"mode\":", first ? "" : ",", sqlite3_column_int64(st, 0));
			put_str(b, col_text(st, 1), true);
			buf_puts(b, ",\"kafkatap_version\":");
			put_str(b, col_text(st, 2), true);
			buf_puts(b, ",\"started\":");
			put_time(b, sqlite3_column_int64(st, 3), true);
			buf_puts(b, ",\"ended\":");
			put_time(b, sqlite3_column_int64(st, 4), true);
			buf_puts(b, ",\"command_line\":");
			put_str(b, col_text(st, 5), true);
			buf_putc(b, '}');
		} else {
			buf_printf(b, "  %lld  ", sqlite3_column_int64(st, 0));
			put_cell(b, col_text(st, 1), 6, false);
			buf_putc(b, ' ');
			put_time(b, sqlite3_column_int64(st, 3), false);
			buf_puts(b, " .. ");
			put_time(b, sqlite3_column_int64(st, 4), false);
			buf_puts(b, "  ");
			put_cell(b, col_text(st, 5) ? col_text(st, 5) : "", 0, true);
			buf_putc(b, '\n');
		}
		first = false;
	}
	sqlite3_finalize(st);
	if (js)
		buf_putc(b, ']');

	st = prep(s, "SELECT count(*), coalesce(sum(has_error), 0), coalesce(sum((flags & 1) <> 0), 0),"
		     " coalesce(sum((flags & 24) <> 0), 0), min(coalesce(request_us, response_us)),"
		     " max(coalesce(response_us, request_us)), count(DISTINCT connection_id),"
		     " coalesce(sum(request_size), 0), coalesce(sum(response_size), 0)"
		     " FROM exchanges e WHERE 1%s", buf_cstr(&s->where));
	int64_t span = 0;
	if (step(s, st)) {
		int64_t t0 = sqlite3_column_int64(st, 4), t1 = sqlite3_column_int64(st, 5);
		span = t1 > t0 ? t1 - t0 : 0;
		if (js) {
			buf_printf(b, ",\"exchanges\":%lld,\"errors\":%lld,\"unanswered\":%lld,\"malformed\":%lld,"
				      "\"connections\":%lld,\"request_bytes\":%lld,\"response_bytes\":%lld,\"first\":",
				   sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
				   sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
				   sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 7),
				   sqlite3_column_int64(st, 8));
			put_time(b, t0, true);
			buf_puts(b, ",\"last\":");
			put_time(b, t1, true);
			buf_printf(b, ",\"seconds\":%.6f", (double)span / 1e6);
		} else {
			buf_printf(b, "\nexchanges: %lld (%lld with errors, %lld unanswered, %lld malformed) on %lld connections\n",
				   sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
				   sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
				   sqlite3_column_int64(st, 6));
			buf_puts(b, "time: ");
			put_time(b, t0, false);
			buf_puts(b, " .. ");
			put_time(b, t1, false);
			buf_printf(b, " (%.3f s)\nbytes: %lld to brokers, %lld to clients\n", (double)span / 1e6,
				   sqlite3_column_int64(st, 7), sqlite3_column_int64(st, 8));
		}
	}
	sqlite3_finalize(st);
	return span;
}

/* ---- per API ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the values at or below it. */
static int64_t pct(const int64_t *v, size_t n, double q)
{
	if (!n)
		return -1;
	size_t k = (size_t)ceil(q * (double)n);
	return v[k ? k - 1 : 0];
}

struct lat {
	int64_t *v;
	size_t n, cap;
};

static void put_ms(struct buf *b, int64_t us, bool json)
{
	if (us < 0)
		buf_puts(b, json ? "null" : "      -");
	else
		buf_printf(b, json ? "%.3f" : "%9.3f", (double)us / 1000.0);
}

static void per_api(struct stats *s)
{
	struct buf *b = &s->out;
	bool js = s->json;
	/* Latencies of every API at once, sorted in C. */
	enum { NAPIS = 1 << 15 };
	struct lat *lats = calloc(NAPIS, sizeof *lats);
	if (!lats) {
		s->failed = true;
		return;
	}
	sqlite3_stmt *st = prep(s, "SELECT api_key, latency_us FROM exchanges e WHERE latency_us IS NOT NULL"
				   " AND api_key BETWEEN 0 AND 32767%s", buf_cstr(&s->where));
	while (step(s, st)) {
		struct lat *l = &lats[sqlite3_column_int(st, 0)];
		if (l->n == l->cap) {
			size_t nc = l->cap ? l->cap * 2 : 256;
			int64_t *nv = realloc(l->v, nc * sizeof *nv);
			if (!nv) {
				s->failed = true;
				break;
			}
			l->v = nv;
			l->cap = nc;
		}
		l->v[l->n++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);

	sqlite3_stmt *es = prep(s, "SELECT error_code, count(*) FROM exchanges e WHERE api_key = ?1"
				   " AND error_code <> 0%s GROUP BY error_code ORDER BY 2 DESC, 1",
				buf_cstr(&s->where));
	st = prep(s, "SELECT api_key, count(*), coalesce(sum(has_error), 0), min(api_version),"
		     " max(api_version), coalesce(sum(request_size), 0), coalesce(sum(response_size), 0)"
		     " FROM exchanges e WHERE 1%s GROUP BY api_key ORDER BY 2 DESC, 1", buf_cstr(&s->where));
	if (js)
		buf_puts(b, ",\"apis\":[");
	else
		buf_printf(b, "\nper API%-22s %9s %7s %9s %9s %9s %9s %12s %12s\n", "", "count", "errors",
			   "p50 ms", "p90 ms", "p99 ms", "max ms", "req bytes", "resp bytes");
	bool first = true;
	while (step(s, st)) {
		int api = sqlite3_column_int(st, 0);
		const char *name = api >= 0 ? schema_api_name(api) : NULL;
		struct lat *l = api >= 0 && api < NAPIS ? &lats[api] : NULL;
		size_t n = l ? l->n : 0;
		if (n)
			qsort(l->v, n, sizeof *l->v, cmp_i64);
		int64_t p50 = n ? pct(l->v, n, 0.50) : -1, p90 = n ? pct(l->v, n, 0.90) : -1;
		int64_t p99 = n ? pct(l->v, n, 0.99) : -1, mx = n ? l->v[n - 1] : -1;
		if (js) {
			buf_printf(b, "%s{\"api_key\":", first ? "" : ",");
			if (api >= 0)
				buf_printf(b, "%d", api);
			else
				buf_puts(b, "null");
			buf_puts(b, ",\"api_name\":");
			put_str(b, name, true);
			buf_printf(b, ",\"min_version\":%d,\"max_version\":%d,\"count\":%lld,\"errors\":%lld,"
				      "\"request_bytes\":%lld,\"response_bytes\":%lld,\"latency_count\":%zu,"
				      "\"latency_ms\":{\"p50\":",
				   sqlite3_column_int(st, 3), sqlite3_column_int(st, 4), sqlite3_column_int64(st, 1),
				   sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 5),
				   sqlite3_column_int64(st, 6), n);
			put_ms(b, p50, true);
			buf_puts(b, ",\"p90\":");
			put_ms(b, p90, true);
			buf_puts(b, ",\"p99\":");
			put_ms(b, p99, true);
			buf_puts(b, ",\"max\":");
			put_ms(b, mx, true);
			buf_puts(b, "},\"errors_by_name\":{");
		} else {
			char label[40];
			if (name)
				snprintf(label, sizeof label, "%s", name);
			else if (api >= 0)
				snprintf(label, sizeof label, "api%d", api);
			else
				snprintf(label, sizeof label, "(no request)");
			char vers[24] = "";
			if (api >= 0) {
				int v0 = sqlite3_column_int(st, 3), v1 = sqlite3_column_int(st, 4);
				if (v0 == v1)
					snprintf(vers, sizeof vers, " v%d", v0);
				else
					snprintf(vers, sizeof vers, " v%d-%d", v0, v1);
			}
			char full[64];
			snprintf(full, sizeof full, "%s%s", label, vers);
			buf_printf(b, "  %-27s %9lld %7lld ", full, sqlite3_column_int64(st, 1),
				   sqlite3_column_int64(st, 2));
			put_ms(b, p50, false);
			buf_putc(b, ' ');
			put_ms(b, p90, false);
			buf_putc(b, ' ');
			put_ms(b, p99, false);
			buf_putc(b, ' ');
			put_ms(b, mx, false);
			buf_printf(b, " %12lld %12lld\n", sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6));
		}
		/* Errors by name (the first error code of each response). */
		bool efirst = true;
		if (es) {
			sqlite3_reset(es);
			sqlite3_bind_int(es, 1, api);
			while (step(s, es)) {
				int code = sqlite3_column_int(es, 0);
				const char *en = schema_error_name(code);
				char unk[32];
				if (!en) {
					snprintf(unk, sizeof unk, "UNKNOWN_%d", code);
					en = unk;
				}
				if (js) {
					buf_puts(b, efirst ? "" : ",");
					buf_json_cstr(b, en);
					buf_printf(b, ":%lld", sqlite3_column_int64(es, 1));
				} else {
					buf_printf(b, "%s%s %lld", efirst ? "      errors: " : ", ", en,
						   sqlite3_column_int64(es, 1));
				}
				efirst = false;
			}
		}
		if (js)
			buf_puts(b, "}}");
		else if (!efirst)
			buf_putc(b, '\n');
		first = false;
	}
	if (js)
		buf_putc(b, ']');
	sqlite3_finalize(st);
	sqlite3_finalize(es);
	for (size_t i = 0; i < NAPIS; i++)
		free(lats[i].v);
	free(lats);
}

/* ---- per topic ---- */

static void per_topic(struct stats *s)
{
	struct buf *b = &s->out;
	bool js = s->json;
	/* Sizes of keys and values as they were on the wire (schema 2 keeps
	 * them even when values are hashed or dropped). */
	const char *size = s->version >= 2
				   ? "coalesce(r.key_size, 0) + coalesce(r.value_size, 0)"
				   : "coalesce(length(r.key), 0) + coalesce(length(r.value), 0)";
	const char *topic = s->version >= 2 ? "coalesce(r.topic, r.topic_id)" : "r.topic";
	bool join = s->where.len > 0;
	sqlite3_stmt *st = prep(s,
		"SELECT %s AS t, sum(r.direction = 'produce'), coalesce(sum(CASE WHEN r.direction = 'produce'"
		" THEN %s END), 0), sum(r.direction = 'fetch'), coalesce(sum(CASE WHEN r.direction = 'fetch'"
		" THEN %s END), 0) FROM records r%s WHERE 1%s GROUP BY t ORDER BY 2 + 4 DESC, 1",
		topic, size, size, join ? " JOIN exchanges e ON e.id = r.exchange_id" : "",
		buf_cstr(&s->where));
	if (js)
		buf_puts(b, ",\"topics\":[");
	else
		buf_printf(b, "\nper topic%-20s %12s %14s %12s %14s\n", "", "produced", "produced bytes",
			   "fetched", "fetched bytes");
	bool first = true;
	while (step(s, st)) {
		const char *t = col_text(st, 0);
		if (js) {
			buf_printf(b, "%s{\"topic\":", first ? "" : ",");
			put_str(b, t, true);
			buf_printf(b, ",\"produced_records\":%lld,\"produced_bytes\":%lld,\"fetched_records\":%lld,"
				      "\"fetched_bytes\":%lld}",
				   sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				   sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
		} else {
			buf_puts(b, "  ");
			put_cell(b, t, 27, false);
			buf_printf(b, " %12lld %14lld %12lld %14lld\n",
				   sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				   sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
		}
		first = false;
	}
	if (js)
		buf_putc(b, ']');
	else if (first)
		buf_puts(b, "  (no records)\n");
	sqlite3_finalize(st);
}

/* ---- per client id ---- */

static void per_client(struct stats *s)
{
	struct buf *b = &s->out;
	bool js = s->json;
	sqlite3_stmt *st = prep(s, "SELECT client_id, count(*), coalesce(sum(has_error), 0),"
				   " coalesce(sum(request_size), 0), coalesce(sum(response_size), 0),"
				   " count(DISTINCT api_key), count(DISTINCT connection_id)"
				   " FROM exchanges e WHERE 1%s GROUP BY client_id ORDER BY 2 DESC, 1",
				buf_cstr(&s->where));
	if (js)
		buf_puts(b, ",\"clients\":[");
	else
		buf_printf(b, "\nper client id%-16s %9s %7s %12s %12s %5s %11s\n", "", "exchanges", "errors",
			   "req bytes", "resp bytes", "apis", "connections");
	bool first = true;
	while (step(s, st)) {
		const char *c = col_text(st, 0);
		if (js) {
			buf_printf(b, "%s{\"client_id\":", first ? "" : ",");
			put_str(b, c, true);
			buf_printf(b, ",\"exchanges\":%lld,\"errors\":%lld,\"request_bytes\":%lld,"
				      "\"response_bytes\":%lld,\"apis\":%lld,\"connections\":%lld}",
				   sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				   sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
				   sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6));
		} else {
			buf_puts(b, "  ");
			put_cell(b, c, 27, true);
			buf_printf(b, " %9lld %7lld %12lld %12lld %5lld %11lld\n",
				   sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
				   sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
				   sqlite3_column_int64(st, 5), sqlite3_column_int64(st, 6));
		}
		first = false;
	}
	if (js)
		buf_putc(b, ']');
	sqlite3_finalize(st);
}

/* ---- rate over time ---- */

static void rate(struct stats *s, int64_t span_us, int64_t bucket_s)
{
	struct buf *b = &s->out;
	bool js = s->json;
	if (bucket_s <= 0) {
		int64_t sec = span_us / 1000000;
		bucket_s = sec <= 120 ? 1 : sec <= 7200 ? 60 : sec <= 172800 ? 3600 : 86400;
	}
	sqlite3_stmt *st = prep(s, "SELECT coalesce(request_us, response_us) / %lld AS bk, count(*),"
				   " coalesce(sum(has_error), 0),"
				   " coalesce(sum(request_size), 0) + coalesce(sum(response_size), 0)"
				   " FROM exchanges e WHERE coalesce(request_us, response_us) IS NOT NULL%s"
				   " GROUP BY bk ORDER BY bk",
				(long long)(bucket_s * 1000000), buf_cstr(&s->where));
	if (js)
		buf_printf(b, ",\"rate\":{\"bucket_seconds\":%lld,\"buckets\":[", (long long)bucket_s);
	else
		buf_printf(b, "\nexchanges per %lld s%-10s %9s %7s %12s %12s\n", (long long)bucket_s, "",
			   "exchanges", "errors", "per second", "bytes");
	bool first = true;
	while (step(s, st)) {
		int64_t start = sqlite3_column_int64(st, 0) * bucket_s * 1000000;
		int64_t n = sqlite3_column_int64(st, 1);
		if (js) {
			buf_printf(b, "%s{\"start\":", first ? "" : ",");
			put_time(b, start, true);
			buf_printf(b, ",\"start_us\":%lld,\"exchanges\":%lld,\"errors\":%lld,\"bytes\":%lld}",
				   (long long)start, (long long)n, sqlite3_column_int64(st, 2),
				   sqlite3_column_int64(st, 3));
		} else {
			buf_puts(b, "  ");
			put_time(b, start, false);
			buf_printf(b, " %9lld %7lld %12.1f %12lld\n", (long long)n, sqlite3_column_int64(st, 2),
				   (double)n / (double)bucket_s, sqlite3_column_int64(st, 3));
		}
		first = false;
	}
	if (js)
		buf_puts(b, "]}");
	sqlite3_finalize(st);
}

int stats_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"session", required_argument, NULL, OPT_SESSION},
		{"since", required_argument, NULL, OPT_SINCE},
		{"until", required_argument, NULL, OPT_UNTIL},
		{"bucket", required_argument, NULL, OPT_BUCKET},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct stats s;
	memset(&s, 0, sizeof s);
	buf_init(&s.where);
	buf_init(&s.out);
	int64_t session = -1, since = -1, until = -1, bucket = 0;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_JSON:
			s.json = true;
			break;
		case OPT_SESSION:
			if (!cli_parse_i64(optarg, &session))
				return cli_usage_error("stats", "bad --session '%s' (a session id)", optarg);
			break;
		case OPT_SINCE:
			if (!store_parse_time(optarg, &since))
				return cli_usage_error("stats", "bad --since '%s' (ISO 8601 UTC or Unix seconds)", optarg);
			break;
		case OPT_UNTIL:
			if (!store_parse_time(optarg, &until))
				return cli_usage_error("stats", "bad --until '%s' (ISO 8601 UTC or Unix seconds)", optarg);
			break;
		case OPT_BUCKET:
			if (!cli_parse_i64(optarg, &bucket) || bucket < 1)
				return cli_usage_error("stats", "bad --bucket '%s' (seconds, at least 1)", optarg);
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		case ':':
			return cli_usage_error("stats", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("stats", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("stats", "no store file given");
	if (optind + 1 < argc)
		return cli_usage_error("stats", "one store file at a time ('%s' is extra)", argv[optind + 1]);
	s.path = argv[optind];
	char err[512];
	s.db = store_open_read(s.path, &s.version, err, sizeof err);
	if (!s.db) {
		fprintf(stderr, "kafkatap stats: %s\n", err);
		return 1;
	}
	if (session >= 0)
		buf_printf(&s.where, " AND e.session_id = %lld", (long long)session);
	if (since >= 0)
		buf_printf(&s.where, " AND coalesce(e.request_us, e.response_us) >= %lld", (long long)since);
	if (until >= 0)
		buf_printf(&s.where, " AND coalesce(e.request_us, e.response_us) < %lld", (long long)until);
	/* One read transaction: every section sees the same rows while a
	 * recorder keeps writing. */
	sqlite3_exec(s.db, "BEGIN", NULL, NULL, NULL);
	int64_t span = overview(&s);
	per_api(&s);
	per_topic(&s);
	per_client(&s);
	rate(&s, span, bucket);
	sqlite3_exec(s.db, "COMMIT", NULL, NULL, NULL);
	if (s.json)
		buf_puts(&s.out, "}\n");
	int status = s.failed ? 1 : 0;
	if (s.out.failed || fwrite(s.out.p, 1, s.out.len, stdout) != s.out.len || fflush(stdout) != 0) {
		fprintf(stderr, "kafkatap stats: writing the output failed: %s\n", strerror(errno));
		status = 1;
	}
	buf_free(&s.where);
	buf_free(&s.out);
	sqlite3_close(s.db);
	return status;
}
