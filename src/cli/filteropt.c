/* filteropt: the shared exchange filter options (see filteropt.h). */
#include "config.h"
#include "cli/filteropt.h"

#include "cli/cli.h"

int filteropt_parse(const char *cmd, int ch, const char *arg, struct report_filter *f)
{
	switch (ch) {
	case FILTEROPT_API:
		if (!report_filter_add_api(f, arg))
			return cli_usage_error(cmd, "unknown API '%s' (see 'kafkatap apis')", arg);
		return 0;
	case FILTEROPT_TOPIC:
		f->topic = arg;
		return 0;
	case FILTEROPT_CLIENT_ID:
		f->client_id = arg;
		return 0;
	case FILTEROPT_ERRORS:
		f->errors = true;
		return 0;
	case FILTEROPT_SLOWER:
		if (!report_filter_set_slower(f, arg))
			return cli_usage_error(cmd, "bad --slower-than '%s' (milliseconds)", arg);
		return 0;
	default:
		return -1;
	}
}
