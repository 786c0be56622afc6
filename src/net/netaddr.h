/* netaddr: HOST:PORT strings as the proxy's options and Kafka's broker
 * addresses write them, and socket addresses shown in logs.
 *
 * Accepted forms: "host:port", "1.2.3.4:port", "[::1]:port"; for listening
 * addresses also ":port" and "port", which mean the loopback address. */
#ifndef KT_NETADDR_H
#define KT_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NETADDR_HOST_MAX 256
#define NETADDR_STR_MAX (NETADDR_HOST_MAX + 8)

struct netaddr {
	char host[NETADDR_HOST_MAX]; /* without brackets */
	uint16_t port;
};

/* Parse s. `default_host` fills an omitted host (NULL: a host is required).
 * On failure writes a reason to err. */
bool netaddr_parse(const char *s, const char *default_host, struct netaddr *a, char *err,
		   size_t errlen);
/* True for a host of n bytes that can be connected to and written in a
 * HOST:PORT: 1-255 bytes of printable ASCII without spaces or brackets. */
bool netaddr_host_valid(const char *host, size_t n);
/* "host:port", with brackets around an IPv6 literal. */
const char *netaddr_format(const struct netaddr *a, char *out, size_t n);
/* The numeric "ip:port" of a socket address. */
const char *netaddr_format_sa(const struct sockaddr *sa, char *out, size_t n);
/* Fill a sockaddr when host is a numeric IPv4/IPv6 address; false otherwise
 * (a name, to be resolved). */
bool netaddr_to_sockaddr(const struct netaddr *a, struct sockaddr_storage *ss, int *len);
/* True for 0.0.0.0 and :: (a wildcard listening address). */
bool netaddr_is_wildcard(const struct netaddr *a);
bool netaddr_equal(const struct netaddr *a, const struct netaddr *b);

#endif
