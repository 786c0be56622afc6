/* cli: command dispatch, usage and help (see cli.h), plus the small
 * built-in commands `version` and `help`. */
#include "config.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char cli_no_usage[] = "";

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *summary;
};

#define CLI_ROW(name, fn, usage, summary) {#name, fn, usage, summary},
static const struct cli_command commands[] = {CLI_COMMANDS(CLI_ROW)};
#undef CLI_ROW
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Which command is running, for cli_not_built's message. */
static const char *current_command = "";

int cli_not_built(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "kafkatap %s: this command is not built in this version of kafkatap (%s)\n",
		current_command, PACKAGE_VERSION);
	return 1;
}

void cli_usage(FILE *f)
{
	fprintf(f, "usage: kafkatap COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s  %s%s\n", commands[i].name, commands[i].summary,
			commands[i].run == cli_not_built ? " (not built yet)" : "");
	fprintf(f, "\n'kafkatap help COMMAND' or 'kafkatap COMMAND --help' shows a command's options.\n"
		   "The manual page is kafkatap(1).\n");
}

int cli_command_usage(const char *cmd, FILE *f)
{
	const struct cli_command *c = find_command(cmd);
	if (!c)
		return 0;
	if (c->usage[0])
		fputs(c->usage, f);
	else
		fprintf(f, "kafkatap %s: %s (not built yet)\n", c->name, c->summary);
	return 1;
}

bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	/* Digits only: strtoull alone would take " 5", "+5" and " -1" (as 2^64-1). */
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

bool cli_parse_size(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	unsigned long long mul = 1;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1024ull; break;
		case 'm': case 'M': mul = 1024ull * 1024; break;
		case 'g': case 'G': mul = 1024ull * 1024 * 1024; break;
		default: return false;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return false;
	}
	if (v > max / mul)
		return false;
	*out = v * mul;
	return true;
}

bool cli_parse_i64(const char *s, int64_t *out)
{
	uint64_t v;
	if (!cli_parse_u64(s, INT64_MAX, &v))
		return false;
	*out = (int64_t)v;
	return true;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "kafkatap %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_command_usage(cmd, stderr);
	return 2;
}

const char version_usage[] =
	"usage: kafkatap version\n"
	"\n"
	"Print the version of kafkatap and the compression codecs built in.\n"
	"\n"
	"options:\n"
	"  -h, --help   show this help\n";

int version_main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(version_usage, stdout);
			return 0;
		}
		return cli_usage_error("version", "unknown option");
	}
	if (optind < argc)
		return cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
	printf("kafkatap %s\n", PACKAGE_VERSION);
	printf("codecs: gzip=%s snappy=%s lz4=%s zstd=%s\n",
#ifdef HAVE_ZLIB
	       "yes",
#else
	       "no",
#endif
#ifdef HAVE_SNAPPY
	       "yes",
#else
	       "no",
#endif
#ifdef HAVE_LZ4
	       "yes",
#else
	       "no",
#endif
#ifdef HAVE_ZSTD
	       "yes"
#else
	       "no"
#endif
	);
	return 0;
}

const char help_usage[] =
	"usage: kafkatap help [COMMAND]\n"
	"\n"
	"Show the list of commands, or the options of one command.\n"
	"\n"
	"options:\n"
	"  -h, --help   show this help\n";

int help_main(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(help_usage, stdout);
		return 0;
	}
	if (!cli_command_usage(argv[1], stdout)) {
		fprintf(stderr, "kafkatap help: unknown command '%s'\n", argv[1]);
		cli_usage(stderr);
		return 2;
	}
	return 0;
}

int cli_run(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0)
		name = "version";
	const struct cli_command *c = find_command(name);
	if (!c) {
		fprintf(stderr, "kafkatap: unknown command '%s'\n", name);
		cli_usage(stderr);
		return 2;
	}
	current_command = c->name;
	/* The command sees argv[0] = its own name, like a program of its own. */
	optind = 1;
	return c->run(argc - 1, argv + 1);
}
