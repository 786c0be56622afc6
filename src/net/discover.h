/* discover: the proxy asks the cluster for its brokers itself, at start and
 * when a client reaches a per-broker listener whose broker is not known yet,
 * so per-broker listeners exist before any client needs them (clients that
 * kept metadata across a proxy restart connect straight to them).
 *
 * It connects to the bootstrap upstreams in turn, sends ApiVersions v0, then
 * Metadata at the highest non-flexible version both sides know (v0-v8) with
 * no topics, and reports every broker of the answer. Failures are logged and
 * harmless: brokers are also learned from the clients' own Metadata. */
#ifndef KT_DISCOVER_H
#define KT_DISCOVER_H

#include <stdint.h>

#include "net/netaddr.h"

struct event_base;
struct evdns_base;
struct discover;

typedef void (*discover_fn)(void *ctx, int32_t node_id, const char *host, int32_t port);

struct discover *discover_new(struct event_base *base, struct evdns_base *dns,
			      const struct netaddr *upstreams, int n, uint32_t max_frame,
			      discover_fn fn, void *ctx);
/* Start a round unless one is running or one ended less than a second ago. */
void discover_start(struct discover *d);
void discover_stop(struct discover *d);
void discover_free(struct discover *d);

#endif
