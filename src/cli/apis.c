/* apis: `kafkatap apis [--json]` lists the API keys this build decodes, from
 * the tables generated from Kafka's message schemas (src/proto/schema.h):
 * key, name, version range and first flexible (KIP-482) version. */
#include "config.h"
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "proto/schema.h"

const char apis_usage[] =
	"usage: kafkatap apis [--json] [-h|--help]\n"
	"\n"
	"List the Kafka API keys this build decodes: key, name, the range of\n"
	"versions, and the first flexible version (\"-\" when never flexible).\n"
	"\n"
	"options:\n"
	"  --json       print a JSON array of objects with the keys api_key, name,\n"
	"               min_version, max_version and flexible_min (null when the\n"
	"               API has no flexible version)\n"
	"  -h, --help   show this help\n";

/* The first flexible version inside the valid range, or -1. */
static int flexible_min(const struct schema_api *a)
{
	const struct schema_message *m = a->request;
	int lo = m->flexible.min > m->valid.min ? m->flexible.min : m->valid.min;
	int hi = m->flexible.max < m->valid.max ? m->flexible.max : m->valid.max;
	return lo <= hi ? lo : -1;
}

int apis_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	int ch;
	opterr = 0; /* cli_usage_error says what was wrong */
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(apis_usage, stdout);
			return 0;
		default: {
			/* A long option is named by its word, a short one by its letter
			 * (it may sit inside a cluster such as -hx). */
			const char *arg = argv[optind - 1];
			if (strncmp(arg, "--", 2) == 0)
				return cli_usage_error("apis", "unknown option '%s'", arg);
			return cli_usage_error("apis", "unknown option '-%c'", optopt);
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("apis", "unexpected argument '%s'", argv[optind]);

	if (json) {
		fputs("[", stdout);
		for (unsigned i = 0; i < schema_api_count; i++) {
			const struct schema_api *a = &schema_apis[i];
			int fmin = flexible_min(a);
			printf("%s\n  {\"api_key\": %d, \"name\": \"%s\", \"min_version\": %d, "
			       "\"max_version\": %d, \"flexible_min\": ",
			       i ? "," : "", a->api_key, a->name, a->request->valid.min,
			       a->request->valid.max);
			if (fmin < 0)
				fputs("null}", stdout);
			else
				printf("%d}", fmin);
		}
		fputs("\n]\n", stdout);
	} else {
		printf("%4s  %-32s  %-8s  %s\n", "KEY", "NAME", "VERSIONS", "FLEXIBLE");
		for (unsigned i = 0; i < schema_api_count; i++) {
			const struct schema_api *a = &schema_apis[i];
			char range[16];
			snprintf(range, sizeof range, "%d-%d", a->request->valid.min,
				 a->request->valid.max);
			int fmin = flexible_min(a);
			if (fmin < 0)
				printf("%4d  %-32s  %-8s  -\n", a->api_key, a->name, range);
			else
				printf("%4d  %-32s  %-8s  %d+\n", a->api_key, a->name, range, fmin);
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("kafkatap apis: stdout");
		return 1;
	}
	return 0;
}
