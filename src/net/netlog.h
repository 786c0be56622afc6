/* netlog: the proxy's log lines on stderr. One line per event, with a UTC
 * timestamp, a level and a message that names the addresses involved, e.g.
 *
 *   2026-11-21T16:50:35.123Z warn  conn 12 client 127.0.0.1:53422: upstream
 *       127.0.0.1:9092 refused the connection; closing the client connection
 *
 * Output of exchanges (-v/--json) goes to stdout, so logs never mix with it.
 * Safe to call from any thread (one fputs per line). */
#ifndef KT_NETLOG_H
#define KT_NETLOG_H

#define NETLOG_LEVELS(X)      \
	X(ERROR, "error")     \
	X(WARN, "warn")       \
	X(INFO, "info")       \
	X(DEBUG, "debug")

enum netlog_level {
#define NETLOG_ENUM(id, name) NETLOG_##id,
	NETLOG_LEVELS(NETLOG_ENUM)
#undef NETLOG_ENUM
};

/* Lines above this level are dropped (default NETLOG_INFO). */
void netlog_set_level(enum netlog_level max);
enum netlog_level netlog_get_level(void);
const char *netlog_level_name(enum netlog_level l);
void netlog(enum netlog_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define netlog_error(...) netlog(NETLOG_ERROR, __VA_ARGS__)
#define netlog_warn(...) netlog(NETLOG_WARN, __VA_ARGS__)
#define netlog_info(...) netlog(NETLOG_INFO, __VA_ARGS__)
#define netlog_debug(...)                                \
	do {                                             \
		if (netlog_get_level() >= NETLOG_DEBUG)  \
			netlog(NETLOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
