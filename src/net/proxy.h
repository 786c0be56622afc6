/* proxy: `kafkatap proxy` — listeners, upstream brokers, cluster mode's
 * per-broker listeners, transparent mode, limits, signals and the admin
 * endpoint, around one libevent loop. Each accepted client gets a conn
 * (conn.h) to its broker.
 *
 * Cluster mode (the default): clients bootstrap through --listen, which
 * connects to one of the --upstream brokers. Every broker advertised in a
 * Metadata, FindCoordinator or DescribeCluster response is learned (node id →
 * real host:port) and replaced by a proxy listener for that node id, opened
 * on demand at --broker-map's address or at port-base + node id, which
 * connects to the broker's real address. So every client connection stays in
 * the proxy.
 *
 * Transparent mode: connections redirected by iptables (REDIRECT/TPROXY to
 * --listen) go to their original destination (SO_ORIGINAL_DST); nothing is
 * rewritten. */
#ifndef KT_PROXY_H
#define KT_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "net/netaddr.h"
#include "net/tap.h"

#define PROXY_MAX_UPSTREAMS 64
#define PROXY_MAX_BROKER_MAP 256
#define PROXY_DEFAULT_MAX_CONNECTIONS 10000
#define PROXY_DEFAULT_GRACE_S 10

struct proxy_broker_map {
	int32_t node_id;
	struct netaddr listen;
};

struct proxy_config {
	struct netaddr upstreams[PROXY_MAX_UPSTREAMS];
	int n_upstreams;
	struct netaddr listen;
	char advertise_host[NETADDR_HOST_MAX]; /* "" = the listening host */
	struct proxy_broker_map maps[PROXY_MAX_BROKER_MAP];
	int n_maps;
	int port_base;              /* 0: the --listen port + 1 */
	bool transparent;
	bool have_admin;
	struct netaddr admin;
	uint32_t max_frame;         /* 0: STREAM_DEFAULT_MAX_FRAME */
	uint32_t max_connections;   /* 0: PROXY_DEFAULT_MAX_CONNECTIONS */
	uint32_t idle_timeout_s;    /* 0: none */
	uint32_t grace_s;
	bool store_reserve;         /* take the recording queue's memory at start (util/reserve.h) */
	struct tap_config tap;
	/* Called once listening (tests print the ports from here). May be NULL. */
	void (*ready)(void *ctx, const struct netaddr *listen);
	void *ready_ctx;
};

void proxy_config_init(struct proxy_config *cfg);
/* Run until SIGINT/SIGTERM and the drain that follows. Returns the exit
 * status: 0 after a clean shutdown, 1 when it could not start. */
int proxy_run(const struct proxy_config *cfg);

#endif
