/* storeopt: the shared --store-* options (see storeopt.h). */
#include "config.h"
#include "cli/storeopt.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/cli.h"

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	if (!*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

int storeopt_parse(const char *cmd, int ch, const char *arg, struct store_opts *o)
{
	switch (ch) {
	case STOREOPT_NO_RAW:
		o->keep_raw = false;
		return 0;
	case STOREOPT_NO_RECORDS:
		o->keep_records = false;
		return 0;
	case STOREOPT_MAX_VALUE:
		if (!parse_size(arg, &o->max_value_bytes))
			return cli_usage_error(cmd, "bad --store-max-value-bytes '%s'", arg);
		return 0;
	case STOREOPT_VALUES:
		if (!store_redact_parse(arg, &o->values))
			return cli_usage_error(cmd, "--store-values takes none, hash or drop, not '%s'", arg);
		return 0;
	case STOREOPT_WHEN_FULL:
		if (!store_full_parse(arg, &o->when_full))
			return cli_usage_error(cmd, "--store-when-full takes block or drop, not '%s'", arg);
		return 0;
	default:
		return -1;
	}
}
