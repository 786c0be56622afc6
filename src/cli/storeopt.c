/* storeopt: the shared --store-* options (see storeopt.h). */
#include "config.h"
#include "cli/storeopt.h"

#include <stdint.h>

#include "cli/cli.h"

int storeopt_parse(const char *cmd, int ch, const char *arg, struct store_opts *o)
{
	uint64_t v;
	switch (ch) {
	case STOREOPT_NO_RAW:
		o->keep_raw = false;
		return 0;
	case STOREOPT_NO_RECORDS:
		o->keep_records = false;
		return 0;
	case STOREOPT_MAX_VALUE:
		if (!cli_parse_u64(arg, SIZE_MAX, &v))
			return cli_usage_error(cmd, "bad --store-max-value-bytes '%s'", arg);
		o->max_value_bytes = (size_t)v;
		return 0;
	case STOREOPT_VALUES:
		if (!store_redact_parse(arg, &o->values))
			return cli_usage_error(cmd, "--store-values takes none, hash or drop, not '%s'", arg);
		return 0;
	case STOREOPT_WHEN_FULL:
		if (!store_full_parse(arg, &o->when_full))
			return cli_usage_error(cmd, "--store-when-full takes block, drop or pause, not '%s'",
					       arg);
		return 0;
	case STOREOPT_QUEUE:
		if (!cli_parse_size(arg, SIZE_MAX, &v) || v < 64 * 1024)
			return cli_usage_error(cmd, "--store-queue '%s': expected at least 64k bytes",
					       arg);
		o->queue_max_bytes = (size_t)v;
		return 0;
	default:
		return -1;
	}
}
