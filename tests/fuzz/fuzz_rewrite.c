/* fuzz_rewrite: libFuzzer target for cluster mode's address rewrite
 * (src/net/rewrite_addr.c), the one place where the proxy changes bytes a
 * broker sent without being told to by a rule.
 *
 * Input: the fuzz_codec format, [flags:1][api key:2 BE][api version:2 BE]
 * [response frame], so its Metadata, FindCoordinator and DescribeCluster
 * seeds serve as they are. An api key the rewrite does not apply to is taken
 * as one of the three (key % 3). Flags bit 1: the mapping declines odd node
 * ids; bit 2: it advertises a 255-byte host (the longest it may give) instead
 * of a short one; bit 3: it gives back the broker's own address for even node
 * ids (a mapping that changes nothing for them).
 *
 * Oracle (anything else aborts):
 *   - FAILED only for a frame the codec does not decode (a mapping's host
 *     never makes a response unencodable), with a message;
 *   - UNCHANGED only when the mapping changed no broker;
 *   - DONE: the output decodes, and rewriting it again with the inverse
 *     mapping (each broker back to its original host and port, in the order
 *     the first pass saw them) gives back the input frame byte for byte,
 *     trailing bytes included, after reporting the same brokers with the
 *     addresses the first pass advertised. So only host and port changed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/rewrite_addr.h"
#include "proto/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CALLS 4096

struct call {
	int32_t node_id;
	char host[256];
	int32_t port;
	char new_host[256];
	int32_t new_port;
	bool mapped;
};

struct fz {
	unsigned flags;
	bool inverse;   /* second pass: map back */
	int n;          /* calls so far in this pass */
	int overflow;   /* calls past MAX_CALLS */
	struct call *calls;
};

static void fail(const char *what, int api, int version)
{
	fprintf(stderr, "fuzz_rewrite: %s (api %d v%d)\n", what, api, version);
	abort();
}

static bool map(void *ctx, int32_t node_id, const char *host, int32_t port, char *new_host,
		size_t new_host_size, int32_t *new_port)
{
	struct fz *f = ctx;
	if (f->n >= MAX_CALLS) {
		f->overflow++;
		return false;
	}
	struct call *c = &f->calls[f->n++];
	if (f->inverse) {
		/* The same broker, in the same place, with what we advertised. */
		if (c->node_id != node_id)
			abort();
		if (!c->mapped)
			return false;
		if (strcmp(host, c->new_host) != 0 || port != c->new_port)
			abort();
		snprintf(new_host, new_host_size, "%s", c->host);
		*new_port = c->port;
		return true;
	}
	if (strlen(host) > 255)
		abort();
	c->node_id = node_id;
	snprintf(c->host, sizeof c->host, "%s", host);
	c->port = port;
	c->mapped = false;
	if ((f->flags & 2) && (node_id & 1))
		return false;
	if ((f->flags & 8) && !(node_id & 1)) {
		snprintf(c->new_host, sizeof c->new_host, "%s", host);
		c->new_port = port;
	} else if (f->flags & 4) {
		memset(c->new_host, 'h', 255);
		c->new_host[255] = '\0';
		c->new_port = 40000 + (node_id & 1023);
	} else {
		snprintf(c->new_host, sizeof c->new_host, "p%d.proxy", (int)(node_id % 100000));
		c->new_port = 30000 + (node_id & 1023);
	}
	if (c->new_host[0] == '\0' && new_host_size)
		return false;
	snprintf(new_host, new_host_size, "%s", c->new_host);
	*new_port = c->new_port;
	c->mapped = true;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	static const int apis[3] = {3, 10, 60};
	unsigned flags = data[0];
	int api = (data[1] << 8) | data[2];
	int version = (data[3] << 8) | data[4];
	if (!rewrite_addr_applies(api))
		api = apis[api % 3];
	size -= 5;
	/* A private copy, so that reads past the end hit ASan's redzone. */
	uint8_t *frame = malloc(size ? size : 1);
	if (!frame)
		return 0;
	memcpy(frame, data + 5, size);

	struct fz f = {.flags = flags};
	f.calls = calloc(MAX_CALLS, sizeof *f.calls);
	struct buf out, back;
	buf_init(&out);
	buf_init(&back);
	char err[512] = "";
	if (!f.calls)
		goto done;

	enum rewrite_result r =
		rewrite_addr_response(api, version, frame, size, map, &f, &out, err, sizeof err);
	int changed = 0;
	for (int i = 0; i < f.n; i++) {
		const struct call *c = &f.calls[i];
		if (c->mapped && (strcmp(c->host, c->new_host) != 0 || c->port != c->new_port))
			changed++;
	}

	struct tree t;
	struct codec_header h;
	struct codec_diag d;
	tree_ref root = TREE_NONE;
	tree_init(&t);
	memset(&d, 0, sizeof d);
	enum codec_status st =
		codec_decode_response(frame, size, api, version, &t, &h, &root, NULL, &d);
	tree_free(&t);

	switch (r) {
	case REWRITE_FAILED:
		if (st == CODEC_OK)
			fail("a frame that decodes was not rewritten", api, version);
		if (!err[0])
			fail("failed without saying why", api, version);
		break;
	case REWRITE_UNCHANGED:
		if (changed)
			fail("a broker was mapped elsewhere but the frame was left as it was", api,
			     version);
		break;
	case REWRITE_DONE:
		if (st != CODEC_OK)
			fail("rewrote a frame that does not decode", api, version);
		if (!changed || f.overflow)
			fail("rewrote a frame with no broker mapped elsewhere", api, version);
		memset(&d, 0, sizeof d);
		tree_init(&t);
		st = codec_decode_response(out.p, out.len, api, version, &t, &h, &root, NULL, &d);
		tree_free(&t);
		if (st != CODEC_OK)
			fail("the rewritten frame does not decode", api, version);
		int first = f.n;
		f.inverse = true;
		f.n = 0;
		r = rewrite_addr_response(api, version, out.p, out.len, map, &f, &back, err,
					  sizeof err);
		if (f.n != first)
			fail("the rewritten frame advertises other brokers", api, version);
		if (r != REWRITE_DONE)
			fail("mapping back changed nothing", api, version);
		if (back.len != size || memcmp(back.p, frame, size) != 0)
			fail("mapping back did not give the original frame", api, version);
		break;
	}
done:
	buf_free(&out);
	buf_free(&back);
	free(f.calls);
	free(frame);
	return 0;
}
