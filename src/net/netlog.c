/* netlog: timestamped log lines on stderr (see netlog.h). */
#include "config.h"
#include "net/netlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static enum netlog_level max_level = NETLOG_INFO;

static const char *const level_names[] = {
#define NETLOG_NAME(id, name) name,
	NETLOG_LEVELS(NETLOG_NAME)
#undef NETLOG_NAME
};

void netlog_set_level(enum netlog_level max)
{
	max_level = max;
}

enum netlog_level netlog_get_level(void)
{
	return max_level;
}

const char *netlog_level_name(enum netlog_level l)
{
	if ((unsigned)l >= sizeof level_names / sizeof level_names[0])
		return "?";
	return level_names[l];
}

void netlog(enum netlog_level l, const char *fmt, ...)
{
	if (l > max_level)
		return;
	char line[1024];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(tv.tv_usec / 1000), netlog_level_name(l));
	if (n < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	line[len] = '\0';
	/* One call per line: stdio locks the stream, so threads do not interleave. */
	fputs(line, stderr);
}
