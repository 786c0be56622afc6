/* decode: `kafkatap decode [options] FILE...` — decode the Kafka traffic in
 * pcap/pcapng captures (docs/decode.md), and the parts `kafkatap sniff`
 * shares (decode.h).
 *
 * Files are read in the order given as one capture: a connection that goes
 * on from one file to the next (a ring of capture files) stays one
 * connection. Exit status: 0 when every file was read (a file cut short in
 * its last record counts as read, with a warning, since captures stopped by
 * a signal end that way); 1 when a file could not be opened, is not a
 * capture, has a link type kafkatap does not know, has a damaged record
 * before its end, or writing the output or the store failed; 2 on a usage
 * error. */
#include "config.h"
#include "cli/decode.h"

#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/filteropt.h"
#include "cli/storeopt.h"
#include "store/store.h"

const char decode_usage[] =
	"usage: kafkatap decode [options] FILE...\n"
	"\n"
	"Decode the Kafka traffic in pcap or pcapng capture files (\"-\" reads standard\n"
	"input): every request paired with its response, one line per exchange.\n"
	"\n"
	"connections:\n"
	"  -p, --port PORT        a Kafka broker port (repeatable; default 9092)\n"
	"      --auto             also find Kafka connections on any other port\n"
	"  -f, --filter EXPR      a BPF filter (pcap-filter(7)) applied while reading\n"
	"      --max-frame BYTES  largest frame decoded; larger ones are skipped (default 104857600)\n"
	"output:\n"
	"  -V, --verbose          the exchange line, then every field of request and response\n"
	"      --json             one JSON object per exchange (docs/decode.md)\n"
	"      --bytes MODE       bytes values as auto, hex or base64 (default auto)\n"
	"      --max-bytes N      show at most N bytes of each bytes or string value\n"
	"      --no-records       keep record batches as raw bytes\n"
	"  -q, --quiet            print only the summary\n"
	"  -w, --write FILE.db    also record every exchange into a SQLite store\n"
	"recording (with -w; docs/store.md):\n"
	STOREOPT_USAGE("block (default) or drop")
	"filters (all must hold; they choose what is printed, not what -w records):\n"
	FILTEROPT_USAGE
	"  -h, --help             show this help\n";

enum {
	OPT_AUTO = 256,
	OPT_JSON,
	OPT_BYTES,
	OPT_MAX_BYTES,
	OPT_MAX_FRAME,
	OPT_NO_RECORDS,
};

int decode_parse_args(struct decode_args *a, int argc, char **argv, bool live)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"auto", no_argument, NULL, OPT_AUTO},
		{"filter", required_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'V'},
		{"json", no_argument, NULL, OPT_JSON},
		{"bytes", required_argument, NULL, OPT_BYTES},
		{"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
		{"max-frame", required_argument, NULL, OPT_MAX_FRAME},
		{"no-records", no_argument, NULL, OPT_NO_RECORDS},
		FILTEROPT_LONGOPTS,
		{"write", required_argument, NULL, 'w'},
		STOREOPT_LONGOPTS,
		{"quiet", no_argument, NULL, 'q'},
		{"interface", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = a->cmd;
	memset(&a->cap, 0, sizeof a->cap);
	a->fmt = REPORT_LINE;
	memset(&a->ropts, 0, sizeof a->ropts);
	report_filter_init(&a->filter);
	a->bpf = a->write_path = a->iface = NULL;
	a->quiet = false;
	store_opts_default(&a->sopts);
	a->sopts.defer_indexes = !live; /* bulk load: indexes built once at the end */
	bool verbose = false, json = false;
	uint64_t v;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, live ? ":p:f:Vw:qi:h" : ":p:f:Vw:qh", longopts, NULL)) != -1) {
		int rc = storeopt_parse(cmd, ch, optarg, &a->sopts);
		if (rc == 0 && ch == STOREOPT_WHEN_FULL && a->sopts.when_full == STORE_FULL_PAUSE)
			return cli_usage_error(cmd, "--store-when-full pause is the proxy's (it pauses "
						    "the traffic); here the reader waits: block");
		if (rc < 0)
			rc = filteropt_parse(cmd, ch, optarg, &a->filter);
		if (rc > 0)
			return rc;
		if (rc == 0)
			continue;
		switch (ch) {
		case 'p':
			if (!cli_parse_u64(optarg, 65535, &v) || v == 0)
				return cli_usage_error(cmd, "bad port '%s'", optarg);
			if (a->cap.nports >= CAPTURE_MAX_PORTS)
				return cli_usage_error(cmd, "at most %d ports", CAPTURE_MAX_PORTS);
			a->cap.ports[a->cap.nports++] = (uint16_t)v;
			break;
		case OPT_AUTO:
			a->cap.auto_detect = true;
			break;
		case 'f':
			a->bpf = optarg;
			break;
		case 'V':
			verbose = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_BYTES:
			if (!view_bytes_parse(optarg, &a->ropts.view.bytes))
				return cli_usage_error(cmd, "--bytes takes auto, hex or base64, not '%s'", optarg);
			break;
		case OPT_MAX_BYTES:
			if (!cli_parse_u64(optarg, SIZE_MAX / 4, &v))
				return cli_usage_error(cmd, "bad --max-bytes '%s'", optarg);
			a->ropts.view.max_bytes = (size_t)v;
			break;
		case OPT_MAX_FRAME:
			if (!cli_parse_u64(optarg, INT32_MAX, &v) || v < 64)
				return cli_usage_error(cmd, "--max-frame takes 64 to %d bytes, not '%s'", INT32_MAX,
						       optarg);
			a->cap.stream.max_frame = (uint32_t)v;
			break;
		case OPT_NO_RECORDS:
			a->ropts.no_records = true;
			break;
		case 'w':
			a->write_path = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'i':
			if (!live)
				return cli_usage_error(cmd, "-i/--interface is for 'kafkatap sniff'");
			a->iface = optarg;
			break;
		case 'h':
			cli_command_usage(cmd, stdout);
			return 0;
		case ':':
			return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (verbose && json)
		return cli_usage_error(cmd, "--verbose and --json do not go together");
	a->fmt = json ? REPORT_JSON : verbose ? REPORT_VERBOSE : REPORT_LINE;
	if (a->quiet)
		a->fmt = REPORT_NONE;
	a->first_arg = optind;
	return -1;
}

/* ---- a run ---- */

struct decode_run {
	struct decode_args *a;
	struct capture *cap;
	struct report_out out;
	struct store *store;
	bool tty;                    /* stderr is a terminal: show progress */
	bool progress_shown;
	struct timespec last_progress;
	uint64_t ticks;
};

static void on_exchange(void *ctx, const struct exchange *x)
{
	struct decode_run *r = ctx;
	report_out_exchange(&r->out, x);
	if (r->store)
		store_append(r->store, x); /* last: it may take the frames (exchange_own) */
}

static void clear_progress(struct decode_run *r)
{
	if (r->progress_shown) {
		fputs("\r\033[K", stderr);
		r->progress_shown = false;
	}
}

static void on_notice(void *ctx, const struct exchange_conn *conn, const char *msg)
{
	struct decode_run *r = ctx;
	if (r->a->quiet)
		return;
	/* Keep notices in step with the exchanges printed before them. */
	report_out_flush(&r->out);
	clear_progress(r);
	if (conn)
		fprintf(stderr, "kafkatap %s: connection %llu %s > %s: %s\n", r->a->cmd,
			(unsigned long long)conn->id, conn->client, conn->broker, msg);
	else
		fprintf(stderr, "kafkatap %s: %s\n", r->a->cmd, msg);
}

static void on_conn_start(void *ctx, const struct exchange_conn *conn, int64_t ts)
{
	struct decode_run *r = ctx;
	if (r->store)
		store_connection(r->store, conn, ts);
}

static void on_conn_end(void *ctx, const struct exchange_conn *conn, int64_t ts, uint64_t to_broker,
			uint64_t to_client, const char *reason)
{
	struct decode_run *r = ctx;
	if (r->store)
		store_connection_end(r->store, conn->id, ts, to_broker, to_client, reason);
}

struct decode_run *decode_run_start(struct decode_args *a, int argc, char **argv)
{
	struct decode_run *r = calloc(1, sizeof *r);
	if (!r) {
		fprintf(stderr, "kafkatap %s: out of memory\n", a->cmd);
		return NULL;
	}
	r->a = a;
	r->tty = isatty(STDERR_FILENO);
	if (a->write_path) {
		char err[512];
		r->store = store_open(a->write_path, &a->sopts, a->cmd, argc, argv, err, sizeof err);
		if (!r->store) {
			fprintf(stderr, "kafkatap %s: %s\n", a->cmd, err);
			free(r);
			return NULL;
		}
	}
	a->cap.exchange = on_exchange;
	a->cap.notice = on_notice;
	a->cap.conn_start = on_conn_start;
	a->cap.conn_end = on_conn_end;
	a->cap.ctx = r;
	r->cap = capture_new(&a->cap);
	if (!r->cap) {
		fprintf(stderr, "kafkatap %s: out of memory\n", a->cmd);
		if (r->store)
			store_close(r->store);
		free(r);
		return NULL;
	}
	report_out_init(&r->out, stdout, a->fmt, &a->ropts, &a->filter);
	return r;
}

struct capture *decode_run_capture(struct decode_run *r)
{
	return r->cap;
}

void decode_run_tick(struct decode_run *r, uint64_t file_bytes, bool live)
{
	if (live)
		report_out_flush(&r->out);
	if (!r->tty || (++r->ticks & 1023) != 0)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (now.tv_sec - r->last_progress.tv_sec) * 1000 +
		  (now.tv_nsec - r->last_progress.tv_nsec) / 1000000;
	if (ms < 500)
		return;
	r->last_progress = now;
	struct capture_counters c;
	capture_get_counters(r->cap, &c);
	report_out_flush(&r->out);
	if (live)
		fprintf(stderr, "\r%llu packets, %llu exchanges\033[K", (unsigned long long)c.packets,
			(unsigned long long)r->out.c.exchanges);
	else
		fprintf(stderr, "\r%.1f MB read, %llu packets, %llu exchanges\033[K", file_bytes / 1e6,
			(unsigned long long)c.packets, (unsigned long long)r->out.c.exchanges);
	r->progress_shown = true;
}

bool decode_run_failed(const struct decode_run *r)
{
	return r->out.write_failed;
}

bool decode_run_finish(struct decode_run *r, const char *extra)
{
	capture_finish(r->cap);
	bool ok = report_out_flush(&r->out);
	clear_progress(r);
	if (!ok)
		fprintf(stderr, "kafkatap %s: writing the output failed: %s\n", r->a->cmd, strerror(errno));
	if (r->store) {
		if (store_close(r->store) != 0) {
			fprintf(stderr, "kafkatap %s: some exchanges could not be recorded in '%s'\n", r->a->cmd,
				r->a->write_path);
			ok = false;
		}
	}
	struct capture_counters c;
	capture_get_counters(r->cap, &c);
	struct buf b;
	buf_init(&b);
	uint64_t flows = c.tcp.flows;
	buf_printf(&b, "kafkatap %s: %llu packets, %llu flows (%llu Kafka), %llu exchanges, %llu unanswered, "
		       "%llu malformed, %llu gaps, %llu bytes skipped",
		   r->a->cmd, (unsigned long long)c.packets, (unsigned long long)flows,
		   (unsigned long long)c.kafka_flows, (unsigned long long)r->out.c.exchanges,
		   (unsigned long long)c.stream.unanswered, (unsigned long long)r->out.c.malformed,
		   (unsigned long long)c.tcp.gaps, (unsigned long long)c.stream.skipped_bytes);
	/* The rarer counts, only when there is something to say. */
	if (r->out.c.shown != r->out.c.exchanges && r->a->fmt != REPORT_NONE)
		buf_printf(&b, ", %llu shown", (unsigned long long)r->out.c.shown);
	if (c.stream.orphans)
		buf_printf(&b, ", %llu orphan responses", (unsigned long long)c.stream.orphans);
	if (r->out.c.unsupported)
		buf_printf(&b, ", %llu unsupported", (unsigned long long)r->out.c.unsupported);
	if (c.stream.bad_frames)
		buf_printf(&b, ", %llu bad frame sizes", (unsigned long long)c.stream.bad_frames);
	if (c.tcp.retransmitted)
		buf_printf(&b, ", %llu retransmissions", (unsigned long long)c.tcp.retransmitted);
	if (c.tcp.conflicts)
		buf_printf(&b, ", %llu conflicting retransmissions", (unsigned long long)c.tcp.conflicts);
	if (c.tcp.truncated)
		buf_printf(&b, ", %llu segments cut by the snapshot length", (unsigned long long)c.tcp.truncated);
	if (c.skipped[PCAPIN_SKIP_FRAGMENT])
		buf_printf(&b, ", %llu IP fragments not decoded",
			   (unsigned long long)c.skipped[PCAPIN_SKIP_FRAGMENT]);
	if (c.frag.conflicts)
		buf_printf(&b, ", %llu conflicting IP fragments", (unsigned long long)c.frag.conflicts);
	if (c.skipped[PCAPIN_SKIP_SHORT] + c.skipped[PCAPIN_SKIP_BAD_HEADER])
		buf_printf(&b, ", %llu damaged packets",
			   (unsigned long long)(c.skipped[PCAPIN_SKIP_SHORT] + c.skipped[PCAPIN_SKIP_BAD_HEADER]));
	if (extra && *extra)
		buf_printf(&b, ", %s", extra);
	fprintf(stderr, "%s\n", buf_cstr(&b));
	if (c.kafka_flows == 0 && c.other_ports > 0) {
		fprintf(stderr, "kafkatap %s: no Kafka connection on port", r->a->cmd);
		const struct capture_opts *o = &r->a->cap;
		if (o->nports == 0)
			fprintf(stderr, " %d", CAPTURE_DEFAULT_PORT);
		for (unsigned i = 0; i < o->nports; i++)
			fprintf(stderr, "%s %u", i ? "," : "", o->ports[i]);
		fprintf(stderr, ", but %llu TCP segments on other ports: give the broker port with -p, or try --auto\n",
			(unsigned long long)c.other_ports);
	}
	buf_free(&b);
	report_out_free(&r->out);
	capture_free(r->cap);
	free(r);
	return ok;
}

/* ---- kafkatap decode ---- */

/* Read one file into the run. Returns false on an error that makes the
 * exit status 1. */
static bool read_file(struct decode_run *r, const char *path)
{
	const char *cmd = r->a->cmd;
	char err[PCAP_ERRBUF_SIZE + 512];
	bool not_capture;
	struct pcapin *p = pcapin_open_file(path, r->a->bpf, err, sizeof err, &not_capture);
	if (!p) {
		fprintf(stderr, "kafkatap %s: %s\n", cmd, err);
		return false;
	}
	int dlt = pcapin_datalink(p);
	if (!pcapin_dlt_supported(dlt)) {
		const char *name = pcap_datalink_val_to_name(dlt);
		fprintf(stderr, "kafkatap %s: '%s': link type %d (%s) is not supported\n", cmd, path, dlt,
			name ? name : "unknown");
		pcapin_close(p);
		return false;
	}
	struct capture *cap = r->cap;
	struct pcapin_packet pkt;
	uint64_t n = 0;
	bool ok = true;
	for (;;) {
		enum pcapin_status st = pcapin_next(p, &pkt);
		if (st == PCAPIN_PACKET) {
			n++;
			capture_packet(cap, dlt, &pkt);
			decode_run_tick(r, pcapin_offset(p), false);
			continue;
		}
		if (st == PCAPIN_ERROR) {
			report_out_flush(&r->out);
			clear_progress(r);
			if (pcapin_truncated(p)) {
				fprintf(stderr, "kafkatap %s: warning: '%s' is cut short after packet %llu: %s\n",
					cmd, path, (unsigned long long)n, pcapin_error(p));
			} else {
				fprintf(stderr, "kafkatap %s: '%s': cannot read past packet %llu: %s\n", cmd, path,
					(unsigned long long)n, pcapin_error(p));
				ok = false;
			}
		}
		break;
	}
	pcapin_close(p);
	return ok;
}

int decode_main(int argc, char **argv)
{
	struct decode_args a;
	a.cmd = "decode";
	int rc = decode_parse_args(&a, argc, argv, false);
	if (rc >= 0)
		return rc;
	if (a.first_arg >= argc)
		return cli_usage_error("decode", "no capture file given");
	/* Output is written in large blocks (report_out buffers), so stdout
	 * gets a buffer to match. */
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	struct decode_run *r = decode_run_start(&a, argc, argv);
	if (!r)
		return 1;
	bool ok = true;
	for (int i = a.first_arg; i < argc; i++)
		if (!read_file(r, argv[i]))
			ok = false;
	if (!decode_run_finish(r, NULL))
		ok = false;
	return ok ? 0 : 1;
}
