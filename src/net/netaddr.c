/* netaddr: parsing and formatting HOST:PORT (see netaddr.h). */
#include "config.h"
#include "net/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool parse_port(const char *s, uint16_t *port)
{
	if (!*s || strlen(s) > 5)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	long v = strtol(s, NULL, 10);
	if (v < 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

bool netaddr_host_valid(const char *host, size_t n)
{
	if (n == 0 || n >= NETADDR_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c <= ' ' || c > '~' || c == '[' || c == ']')
			return false;
	}
	return true;
}

bool netaddr_parse(const char *s, const char *default_host, struct netaddr *a, char *err,
		   size_t errlen)
{
	memset(a, 0, sizeof *a);
	const char *host = NULL, *port = NULL;
	size_t hostlen = 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "'%s': expected [IPV6]:PORT", s);
			return false;
		}
		host = s + 1;
		hostlen = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) {
			snprintf(err, errlen, "'%s': write an IPv6 address as [ADDR]:PORT", s);
			return false;
		}
		if (colon) {
			host = s;
			hostlen = (size_t)(colon - s);
			port = colon + 1;
		} else {
			port = s;
		}
	}
	if (hostlen == 0) {
		if (!default_host) {
			snprintf(err, errlen, "'%s': expected HOST:PORT", s);
			return false;
		}
		host = default_host;
		hostlen = strlen(default_host);
	}
	if (hostlen >= sizeof a->host) {
		snprintf(err, errlen, "'%s': host name too long", s);
		return false;
	}
	/* A host is printable ASCII without spaces or brackets, and a bracketed
	 * one is an IPv6 address: what format writes, parse reads back the same
	 * (found by fuzz_args: "[[x]:1" gave host "[x", written "[[x:1"). */
	if (!netaddr_host_valid(host, hostlen)) {
		snprintf(err, errlen, "'%s': a host has no spaces, brackets or control characters",
			 s);
		return false;
	}
	if (s[0] == '[' && !memchr(host, ':', hostlen)) {
		snprintf(err, errlen, "'%s': only an IPv6 address goes in brackets", s);
		return false;
	}
	if (!parse_port(port, &a->port)) {
		snprintf(err, errlen, "'%s': '%s' is not a port number (0-65535)", s, port);
		return false;
	}
	memcpy(a->host, host, hostlen);
	a->host[hostlen] = '\0';
	return true;
}

const char *netaddr_format(const struct netaddr *a, char *out, size_t n)
{
	if (strchr(a->host, ':'))
		snprintf(out, n, "[%s]:%u", a->host, (unsigned)a->port);
	else
		snprintf(out, n, "%s:%u", a->host, (unsigned)a->port);
	return out;
}

const char *netaddr_format_sa(const struct sockaddr *sa, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(out, n, "(family %d)", sa->sa_family);
	}
	return out;
}

bool netaddr_to_sockaddr(const struct netaddr *a, struct sockaddr_storage *ss, int *len)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		*len = (int)sizeof *in;
		return true;
	}
	if (inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		*len = (int)sizeof *in6;
		return true;
	}
	if (strcasecmp(a->host, "localhost") == 0) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in->sin_port = htons(a->port);
		*len = (int)sizeof *in;
		return true;
	}
	return false;
}

bool netaddr_is_wildcard(const struct netaddr *a)
{
	return strcmp(a->host, "0.0.0.0") == 0 || strcmp(a->host, "::") == 0 || a->host[0] == '\0';
}

bool netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}
