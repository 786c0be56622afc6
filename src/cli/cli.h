/* cli: the `kafkatap COMMAND [options]` dispatcher. Every command is one row
 * of CLI_COMMANDS, so the usage text, `help` and the dispatch table cannot
 * drift apart. A command module provides `int NAME_main(int argc, char **argv)`
 * and `extern const char NAME_usage[]`; a row whose module is not built yet
 * uses cli_not_built, which says so and exits 1. */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* X(name, main function, usage text, one-line summary) */
#define CLI_COMMANDS(X)                                                                         \
	X(proxy, proxy_main, proxy_usage, "forward and record traffic between clients and a cluster") \
	X(decode, decode_main, decode_usage, "decode Kafka traffic in pcap/pcapng captures")        \
	X(sniff, sniff_main, sniff_usage, "decode Kafka traffic live from a network interface")      \
	X(show, show_main, show_usage, "show the exchanges recorded in a SQLite store")              \
	X(stats, stats_main, stats_usage, "summarise a recording: per API, topic and client")       \
	X(apis, apis_main, apis_usage, "list the API keys and versions this build decodes")             \
	X(version, version_main, version_usage, "print the version and the features built in")      \
	X(help, help_main, help_usage, "show help for kafkatap or one command")

int cli_not_built(int argc, char **argv);
extern const char cli_no_usage[];

/* Command entry points and usage texts. */
int apis_main(int argc, char **argv);
extern const char apis_usage[];
int decode_main(int argc, char **argv);
extern const char decode_usage[];
int sniff_main(int argc, char **argv);
extern const char sniff_usage[];
int proxy_main(int argc, char **argv);
extern const char proxy_usage[];
int show_main(int argc, char **argv);
extern const char show_usage[];
int stats_main(int argc, char **argv);
extern const char stats_usage[];
int version_main(int argc, char **argv);
extern const char version_usage[];
int help_main(int argc, char **argv);
extern const char help_usage[];

/* Run kafkatap with argv[0] = "kafkatap". Returns the exit status. */
int cli_run(int argc, char **argv);
/* Print the top-level usage to `f`. */
void cli_usage(FILE *f);
/* For a command's own option errors: print "kafkatap CMD: MSG" and the
 * command's usage to stderr; returns 2 (the exit status for usage errors). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal option value in [0, max] (no sign); false when it is not. */
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* BYTES with an optional k/M/G suffix (powers of 1024; "KiB", "kB" too), at most max. */
bool cli_parse_size(const char *s, uint64_t max, uint64_t *out);
/* The same for a non-negative id or count kept as int64_t. */
bool cli_parse_i64(const char *s, int64_t *out);
/* Print a command's usage text to `f`; false when the command is unknown. */
int cli_command_usage(const char *cmd, FILE *f);

#endif
