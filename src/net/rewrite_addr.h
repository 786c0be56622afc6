/* rewrite_addr: cluster mode's address rewrite. The responses that tell a
 * client where brokers are — Metadata (brokers[]: nodeId, host, port, all
 * versions), FindCoordinator (v0-v3: nodeId, host, port; v4+: coordinators[])
 * and DescribeCluster (brokers[]: brokerId, host, port) — are decoded with the
 * codec, each advertised broker is reported to a mapping function (which
 * learns the real address and names the proxy listener for that node id),
 * the host and port nodes are changed in the tree and the response is encoded
 * again. Nothing else in the response changes (bytes after the body follow
 * the new one as they were; a host the mapping cannot be given, over 255
 * bytes or with a NUL byte, stays as it is); the caller recomputes the
 * 4-byte size prefix. tests/fuzz/fuzz_rewrite.c checks that mapping the
 * output back gives the input frame byte for byte. */
#ifndef KT_REWRITE_ADDR_H
#define KT_REWRITE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum rewrite_result {
	REWRITE_DONE = 0,  /* out holds the new frame (without size prefix) */
	REWRITE_UNCHANGED, /* nothing to change: forward the original */
	REWRITE_FAILED,    /* did not decode or encode: forward the original (err says why) */
};

/* For one advertised broker: learn (node_id, host, port) and fill the
 * address to advertise instead. Return false to leave this broker as it is. */
typedef bool (*rewrite_map_fn)(void *ctx, int32_t node_id, const char *host, int32_t port,
			       char *new_host, size_t new_host_size, int32_t *new_port);

struct tree_node;

/* Copy an advertised host (a string node of a decoded response) into out as
 * a C string. False when it is null, does not fit, or holds a NUL byte (it
 * would be cut short): such a broker is left as it is, here and in the
 * proxy's own discovery (discover.c). */
bool rewrite_addr_host(const struct tree_node *host, char *out, size_t outsize);

/* True for the api keys whose responses carry broker addresses. */
bool rewrite_addr_applies(int api_key);

enum rewrite_result rewrite_addr_response(int api_key, int api_version, const uint8_t *frame,
					  size_t len, rewrite_map_fn map, void *ctx,
					  struct buf *out, char *err, size_t errlen);

#endif
