/* rewrite_addr: decode → change host/port nodes → encode, for the responses
 * that advertise brokers (see rewrite_addr.h). Field names are those of
 * Kafka's JSON schemas (MetadataResponse.json, FindCoordinatorResponse.json,
 * DescribeClusterResponse.json), in the codec's lowerCamelCase form. */
#include "config.h"
#include "net/rewrite_addr.h"

#include <stdio.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/tree.h"

#define API_METADATA 3
#define API_FIND_COORDINATOR 10
#define API_DESCRIBE_CLUSTER 60

bool rewrite_addr_applies(int api_key)
{
	return api_key == API_METADATA || api_key == API_FIND_COORDINATOR ||
	       api_key == API_DESCRIBE_CLUSTER;
}

bool rewrite_addr_host(const struct tree_node *hn, char *out, size_t outsize)
{
	if ((hn->flags & TREE_F_NULL) || hn->v.b.len >= outsize ||
	    (hn->v.b.len && memchr(hn->v.b.p, '\0', hn->v.b.len)))
		return false;
	memcpy(out, hn->v.b.p, hn->v.b.len);
	out[hn->v.b.len] = '\0';
	return true;
}

struct rewrite_ctx {
	struct tree *t;
	rewrite_map_fn map;
	void *ctx;
	int changed;
	bool failed;
};

/* One broker entry: a struct node with an id field, "host" and "port". */
static void rewrite_entry(struct rewrite_ctx *rc, tree_ref entry, const char *id_name)
{
	struct tree *t = rc->t;
	tree_ref id_ref = tree_child(t, entry, id_name);
	tree_ref host_ref = tree_child(t, entry, "host");
	tree_ref port_ref = tree_child(t, entry, "port");
	if (!id_ref || !host_ref || !port_ref)
		return;
	struct tree_node *hn = tree_node(t, host_ref);
	struct tree_node *pn = tree_node(t, port_ref);
	int32_t node_id = (int32_t)tree_node(t, id_ref)->v.i;
	if (node_id < 0)
		return; /* e.g. FindCoordinator's error answer: nodeId -1, host "" */
	char host[256];
	if (!rewrite_addr_host(hn, host, sizeof host))
		return;
	char new_host[256];
	int32_t new_port = 0;
	if (!rc->map(rc->ctx, node_id, host, (int32_t)pn->v.i, new_host, sizeof new_host,
		     &new_port))
		return;
	size_t nl = strlen(new_host);
	if (nl == hn->v.b.len && memcmp(new_host, hn->v.b.p, nl) == 0 && new_port == pn->v.i)
		return;
	/* The frame's bytes stay untouched: the new string lives in the tree. */
	uint8_t *p = tree_alloc(t, nl ? nl : 1);
	if (!p) {
		rc->failed = true;
		return;
	}
	memcpy(p, new_host, nl);
	hn = tree_node(t, host_ref); /* tree_alloc does not move nodes, but be safe */
	hn->v.b.p = p;
	hn->v.b.len = (uint32_t)nl;
	tree_node(t, port_ref)->v.i = new_port;
	rc->changed++;
}

static void rewrite_array(struct rewrite_ctx *rc, tree_ref parent, const char *array_name,
			  const char *id_name)
{
	tree_ref arr = tree_child(rc->t, parent, array_name);
	if (!arr)
		return;
	for (tree_ref e = tree_node(rc->t, arr)->first; e; e = tree_node(rc->t, e)->next)
		rewrite_entry(rc, e, id_name);
}

enum rewrite_result rewrite_addr_response(int api_key, int api_version, const uint8_t *frame,
					  size_t len, rewrite_map_fn map, void *ctx,
					  struct buf *out, char *err, size_t errlen)
{
	if (!rewrite_addr_applies(api_key))
		return REWRITE_UNCHANGED;
	struct tree t;
	tree_init(&t);
	struct codec_header h;
	struct codec_diag d;
	tree_ref root = TREE_NONE;
	memset(&d, 0, sizeof d);
	enum codec_status st =
		codec_decode_response(frame, len, api_key, api_version, &t, &h, &root, NULL, &d);
	if (st != CODEC_OK || root == TREE_NONE) {
		char msg[512];
		snprintf(err, errlen, "%s", codec_diag_format(&d, msg, sizeof msg));
		tree_free(&t);
		return REWRITE_FAILED;
	}
	struct rewrite_ctx rc = {.t = &t, .map = map, .ctx = ctx};
	switch (api_key) {
	case API_METADATA:
		rewrite_array(&rc, root, "brokers", "nodeId");
		break;
	case API_FIND_COORDINATOR:
		if (api_version < 4)
			rewrite_entry(&rc, root, "nodeId");
		else
			rewrite_array(&rc, root, "coordinators", "nodeId");
		break;
	case API_DESCRIBE_CLUSTER:
		rewrite_array(&rc, root, "brokers", "brokerId");
		break;
	}
	enum rewrite_result res = REWRITE_UNCHANGED;
	if (rc.failed) {
		snprintf(err, errlen, "out of memory");
		res = REWRITE_FAILED;
	} else if (rc.changed) {
		buf_reset(out);
		/* Bytes after the body are the broker's too: they follow the
		 * rewritten body as they followed the original (d.trailing <= len). */
		bool ok = codec_encode_response(&h, &t, root, out);
		if (ok && d.trailing)
			buf_append(out, frame + len - d.trailing, d.trailing);
		if (!ok || out->failed) {
			snprintf(err, errlen, "%s v%d response: the rewritten tree did not encode",
				 schema_api_name(api_key) ? schema_api_name(api_key) : "?",
				 api_version);
			res = REWRITE_FAILED;
		} else {
			res = REWRITE_DONE;
		}
	}
	tree_free(&t);
	return res;
}
