/* admin: the proxy's HTTP endpoint (libevent evhttp, on the proxy's own
 * event loop; loopback unless told otherwise):
 *
 *   GET /metrics   Prometheus text format (metrics.h lists every metric)
 *   GET /healthz   200 "ok" while serving, 503 "draining" during shutdown
 *
 * Anything else is 404. Rendering reads counters only, so it cannot stall
 * forwarding for long. */
#ifndef KT_ADMIN_H
#define KT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "net/metrics.h"
#include "net/netaddr.h"

struct event_base;
struct admin;

/* healthy(): true while serving. NULL with err set when the address cannot
 * be bound. `bound` (may be NULL) gets the address actually bound. */
struct admin *admin_open(struct event_base *base, const struct netaddr *addr, struct metrics *m,
			 bool (*healthy)(void *ctx), void *ctx, struct netaddr *bound, char *err,
			 size_t errlen);
void admin_close(struct admin *a);

#endif
