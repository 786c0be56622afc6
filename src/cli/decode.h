/* decode: what `kafkatap decode` (capture files) and `kafkatap sniff` (a
 * live interface) share — the options that choose connections, output and
 * filters, and a run that turns packets into printed (and optionally
 * recorded) exchanges with a summary at the end. */
#ifndef KT_CLI_DECODE_H
#define KT_CLI_DECODE_H

#include <stdbool.h>

#include "capture/capture.h"
#include "output/report.h"
#include "store/store.h"

struct decode_args {
	const char *cmd;               /* "decode" or "sniff", for messages */
	struct capture_opts cap;
	enum report_format fmt;
	struct report_opts ropts;
	struct report_filter filter;
	const char *bpf;               /* -f */
	const char *write_path;        /* -w */
	struct store_opts sopts;       /* --store-* */
	const char *iface;             /* sniff -i */
	bool quiet;                    /* -q */
	int first_arg;                 /* index of the first non-option argument */
};

/* Parse the shared options (live: sniff's, with -i). Returns -1 to go on,
 * or the exit status (0 after --help, 2 on a usage error). */
int decode_parse_args(struct decode_args *a, int argc, char **argv, bool live);

struct decode_run;

/* Start: open the store (-w) and set up the capture. NULL on failure
 * (the message is printed). */
struct decode_run *decode_run_start(struct decode_args *a, int argc, char **argv);
struct capture *decode_run_capture(struct decode_run *r);
/* After each packet: a progress line on a terminal, output flushed for live runs. */
void decode_run_tick(struct decode_run *r, uint64_t file_bytes, bool live);
/* Writing the output failed (a closed pipe): time to stop. */
bool decode_run_failed(const struct decode_run *r);
/* The source ended (or was interrupted): close every connection, flush,
 * print the summary on stderr. Returns false when writing output or the
 * store failed. Frees r. */
bool decode_run_finish(struct decode_run *r, const char *extra);

#endif
