/* test_proxy_rewrite: cluster mode's address rewrite (src/net/rewrite_addr)
 * on responses hand-built through the codec's encoder: Metadata v0-v12,
 * FindCoordinator v0-v5 (one coordinator, then the coordinators array) and
 * DescribeCluster v0-v1, each in two sample variants (nullable fields set /
 * null with unknown tagged fields in flexible versions).
 *
 * For every response: the brokers get known ids, hosts and ports; after the
 * rewrite each host/port is the proxy's, every broker was reported with its
 * real address, and everything else — header, other fields, tagged fields —
 * decodes exactly as before. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "codec_sample.h"
#include "net/rewrite_addr.h"
#include "proto/codec.h"
#include "proto/schema.h"
#include "proto/tree.h"
#include "unit.h"
#include "util/buf.h"

#define API_PRODUCE 0
#define API_METADATA 3
#define API_FIND_COORDINATOR 10
#define API_DESCRIBE_CLUSTER 60

#define MAX_SEEN 16

struct learned {
	int n;
	int32_t node[MAX_SEEN];
	char host[MAX_SEEN][64];
	int32_t port[MAX_SEEN];
	bool refuse; /* map returns false */
};

static bool map(void *ctx, int32_t node_id, const char *host, int32_t port, char *new_host,
		size_t new_host_size, int32_t *new_port)
{
	struct learned *l = ctx;
	if (l->n < MAX_SEEN) {
		l->node[l->n] = node_id;
		snprintf(l->host[l->n], sizeof l->host[0], "%s", host);
		l->port[l->n] = port;
		l->n++;
	}
	if (l->refuse)
		return false;
	snprintf(new_host, new_host_size, "proxy.local");
	*new_port = 40000 + node_id;
	return true;
}

static void set_string(struct tree *t, tree_ref node, const char *s)
{
	size_t n = strlen(s);
	uint8_t *p = tree_alloc(t, n);
	memcpy(p, s, n);
	tree_node(t, node)->v.b.p = p;
	tree_node(t, node)->v.b.len = (uint32_t)n;
	tree_node(t, node)->flags &= (uint8_t)~TREE_F_NULL;
}

/* The broker entries of a response body, in order. */
static int entries(const struct tree *t, tree_ref root, int api, int version, tree_ref *out,
		   int max)
{
	int n = 0;
	const char *arr = NULL;
	if (api == API_METADATA || api == API_DESCRIBE_CLUSTER)
		arr = "brokers";
	else if (api == API_FIND_COORDINATOR && version >= 4)
		arr = "coordinators";
	if (!arr) {
		out[0] = root;
		return 1;
	}
	tree_ref a = tree_child(t, root, arr);
	for (tree_ref e = a ? tree_node(t, a)->first : TREE_NONE; e && n < max;
	     e = tree_node(t, e)->next)
		out[n++] = e;
	return n;
}

static const char *id_name(int api)
{
	return api == API_DESCRIBE_CLUSTER ? "brokerId" : "nodeId";
}

/* Give entry i the id i+1, host "broker-<i+1>.real", port 9092+i; or, with
 * `transform`, the values the proxy should have put there. */
static void set_entries(struct tree *t, tree_ref root, int api, int version, bool transform)
{
	tree_ref e[MAX_SEEN];
	int n = entries(t, root, api, version, e, MAX_SEEN);
	for (int i = 0; i < n; i++) {
		char host[64];
		if (!transform) {
			tree_node(t, tree_child(t, e[i], id_name(api)))->v.i = i + 1;
			snprintf(host, sizeof host, "broker-%d.real", i + 1);
			set_string(t, tree_child(t, e[i], "host"), host);
			tree_node(t, tree_child(t, e[i], "port"))->v.i = 9092 + i;
		} else {
			set_string(t, tree_child(t, e[i], "host"), "proxy.local");
			tree_node(t, tree_child(t, e[i], "port"))->v.i = 40000 + i + 1;
		}
	}
}

static bool build(struct buf *frame, int api, int version, int variant, int32_t force_id)
{
	struct tree t;
	struct codec_header h;
	tree_init(&t);
	sample_header(&h, &t, api, version, true, variant);
	h.correlation_id = 4242;
	tree_ref root = sample_body(&t, api, version, true, variant);
	if (root == TREE_NONE) {
		tree_free(&t);
		return false;
	}
	set_entries(&t, root, api, version, false);
	if (force_id != 0) {
		tree_ref e[MAX_SEEN];
		int n = entries(&t, root, api, version, e, MAX_SEEN);
		for (int i = 0; i < n; i++)
			tree_node(&t, tree_child(&t, e[i], id_name(api)))->v.i = force_id;
	}
	buf_reset(frame);
	bool ok = codec_encode_response(&h, &t, root, frame) && !frame->failed;
	tree_free(&t);
	return ok;
}

/* The sample with the first broker's host "bro\0ker": 7 bytes, one a NUL. */
static bool build_nul_host(struct buf *frame, int api, int version, int variant)
{
	struct tree t;
	struct codec_header h;
	struct codec_diag d;
	tree_ref root = TREE_NONE, e[MAX_SEEN];
	struct buf src; /* the tree points into it while the frame is written anew */
	buf_init(&src);
	tree_init(&t);
	memset(&d, 0, sizeof d);
	bool ok = build(&src, api, version, variant, 0) &&
		  codec_decode_response(src.p, src.len, api, version, &t, &h, &root, NULL, &d) ==
			  CODEC_OK &&
		  entries(&t, root, api, version, e, MAX_SEEN) >= 1;
	if (ok) {
		struct tree_node *hn = tree_node(&t, tree_child(&t, e[0], "host"));
		hn->v.b.p = (const uint8_t *)"bro\0ker";
		hn->v.b.len = 7;
		buf_reset(frame);
		ok = codec_encode_response(&h, &t, root, frame) && !frame->failed;
	}
	tree_free(&t);
	buf_free(&src);
	return ok;
}

static void check_one(int api, int version, int variant)
{
	char what[96];
	snprintf(what, sizeof what, "%s v%d variant %d", schema_api_name(api), version, variant);
	struct buf frame, out;
	buf_init(&frame);
	buf_init(&out);
	if (!build(&frame, api, version, variant, 0)) {
		fprintf(stderr, "%s: could not build the sample\n", what);
		CHECK(false);
		goto done;
	}
	struct learned l;
	memset(&l, 0, sizeof l);
	char err[512] = "";
	enum rewrite_result r =
		rewrite_addr_response(api, version, frame.p, frame.len, map, &l, &out, err, sizeof err);
	if (r != REWRITE_DONE)
		fprintf(stderr, "%s: result %d (%s)\n", what, (int)r, err);
	CHECK_EQ_INT(r, REWRITE_DONE);
	if (r != REWRITE_DONE)
		goto done;

	/* Every broker reported with its real address. */
	struct tree t0, t1;
	struct codec_header h0, h1;
	struct codec_diag d0, d1;
	tree_ref r0, r1;
	tree_init(&t0);
	tree_init(&t1);
	CHECK_EQ_INT(codec_decode_response(frame.p, frame.len, api, version, &t0, &h0, &r0, NULL, &d0),
		     CODEC_OK);
	CHECK_EQ_INT(codec_decode_response(out.p, out.len, api, version, &t1, &h1, &r1, NULL, &d1),
		     CODEC_OK);
	tree_ref e[MAX_SEEN];
	int n = entries(&t0, r0, api, version, e, MAX_SEEN);
	CHECK(n >= 1);
	CHECK_EQ_INT(l.n, n);
	for (int i = 0; i < n && i < l.n; i++) {
		char host[64];
		snprintf(host, sizeof host, "broker-%d.real", i + 1);
		CHECK_EQ_INT(l.node[i], i + 1);
		CHECK_EQ_STR(l.host[i], host);
		CHECK_EQ_INT(l.port[i], 9092 + i);
	}
	/* The rewritten response is the original with only host and port changed. */
	CHECK_EQ_INT(h1.correlation_id, 4242);
	CHECK_EQ_INT(h1.header_version, h0.header_version);
	set_entries(&t0, r0, api, version, true);
	if (!tree_equal(&t0, r0, &t1, r1)) {
		fprintf(stderr, "%s: the rewritten response differs beyond host and port\n", what);
		CHECK(false);
	}
	/* And it encodes back to exactly the bytes the proxy sent. */
	struct buf again;
	buf_init(&again);
	CHECK(codec_encode_response(&h1, &t1, r1, &again));
	CHECK(again.len == out.len && memcmp(again.p, out.p, out.len) == 0);
	buf_free(&again);
	tree_free(&t0);
	tree_free(&t1);

	/* Run it again on the output: already rewritten, nothing changes. */
	struct buf out2;
	buf_init(&out2);
	struct learned l2;
	memset(&l2, 0, sizeof l2);
	CHECK_EQ_INT(rewrite_addr_response(api, version, out.p, out.len, map, &l2, &out2, err,
					   sizeof err),
		     REWRITE_UNCHANGED);
	buf_free(&out2);

	/* The mapping may decline a broker: then nothing changes. */
	memset(&l, 0, sizeof l);
	l.refuse = true;
	CHECK_EQ_INT(rewrite_addr_response(api, version, frame.p, frame.len, map, &l, &out, err,
					   sizeof err),
		     REWRITE_UNCHANGED);
	CHECK_EQ_INT(l.n, n);

	/* A truncated frame is reported, not rewritten. */
	memset(&l, 0, sizeof l);
	CHECK_EQ_INT(rewrite_addr_response(api, version, frame.p, frame.len - 3, map, &l, &out, err,
					   sizeof err),
		     REWRITE_FAILED);
	CHECK(err[0] != '\0');

	/* Bytes after the body (found by fuzz_rewrite) follow the rewritten body
	 * unchanged, as they followed the original. */
	{
		struct buf plain, tail;
		buf_init(&plain);
		buf_init(&tail);
		memset(&l, 0, sizeof l);
		CHECK_EQ_INT(rewrite_addr_response(api, version, frame.p, frame.len, map, &l,
						   &plain, err, sizeof err),
			     REWRITE_DONE);
		static const uint8_t extra[3] = {0x01, 0x00, 0xfe};
		buf_append(&frame, extra, sizeof extra);
		memset(&l, 0, sizeof l);
		CHECK_EQ_INT(rewrite_addr_response(api, version, frame.p, frame.len, map, &l, &tail,
						   err, sizeof err),
			     REWRITE_DONE);
		CHECK(tail.len == plain.len + sizeof extra);
		CHECK(tail.len == plain.len + sizeof extra &&
		      memcmp(tail.p, plain.p, plain.len) == 0 &&
		      memcmp(tail.p + plain.len, extra, sizeof extra) == 0);
		frame.len -= sizeof extra;
		buf_free(&plain);
		buf_free(&tail);
	}

	/* A host with a NUL byte in it (found by fuzz_rewrite) cannot be given
	 * to the mapping as a string: that broker stays as it is, the others are
	 * rewritten. */
	if (build_nul_host(&frame, api, version, variant)) {
		memset(&l, 0, sizeof l);
		r = rewrite_addr_response(api, version, frame.p, frame.len, map, &l, &out, err,
					  sizeof err);
		CHECK_EQ_INT(r, n > 1 ? REWRITE_DONE : REWRITE_UNCHANGED);
		CHECK_EQ_INT(l.n, n - 1);
		for (int i = 0; i < l.n; i++)
			CHECK_EQ_INT(l.node[i], i + 2);
		if (r == REWRITE_DONE) {
			/* The first broker's host is still its 7 bytes, NUL and all. */
			tree_init(&t1);
			CHECK_EQ_INT(codec_decode_response(out.p, out.len, api, version, &t1, &h1,
							   &r1, NULL, &d1),
				     CODEC_OK);
			tree_ref e1[MAX_SEEN];
			CHECK_EQ_INT(entries(&t1, r1, api, version, e1, MAX_SEEN), n);
			const struct tree_node *hn = tree_node(&t1, tree_child(&t1, e1[0], "host"));
			CHECK(hn->v.b.len == 7 && memcmp(hn->v.b.p, "bro\0ker", 7) == 0);
			tree_free(&t1);
		}
		CHECK(build(&frame, api, version, variant, 0));
	}

	/* Node id -1 (FindCoordinator's "no coordinator") is left alone. */
	if (build(&frame, api, version, variant, -1)) {
		memset(&l, 0, sizeof l);
		CHECK_EQ_INT(rewrite_addr_response(api, version, frame.p, frame.len, map, &l, &out,
						   err, sizeof err),
			     REWRITE_UNCHANGED);
		CHECK_EQ_INT(l.n, 0);
	}
done:
	buf_free(&frame);
	buf_free(&out);
}

static int run_api(int api, int want_min, int want_max)
{
	const struct schema_message *m = schema_message_find(api, SCHEMA_RESPONSE);
	CHECK(m != NULL);
	if (!m)
		return 0;
	/* The issue asks for these ranges; the schemas may know more. */
	CHECK(m->valid.min <= want_min && m->valid.max >= want_max);
	int count = 0;
	for (int v = m->valid.min; v <= m->valid.max; v++)
		for (int variant = 0; variant < SAMPLE_VARIANTS; variant++) {
			check_one(api, v, variant);
			count++;
		}
	return count;
}

int main(void)
{
	int n = 0;
	n += run_api(API_METADATA, 0, 12);
	n += run_api(API_FIND_COORDINATOR, 0, 5);
	n += run_api(API_DESCRIBE_CLUSTER, 0, 1);
	printf("rewrote %d sample responses\n", n);

	/* The host as the mapping and discovery get it: null, too long and
	 * NUL-holding hosts are not given at all. */
	{
		char h[8];
		struct tree_node hn;
		memset(&hn, 0, sizeof hn);
		hn.type = SCHEMA_STRING;
		hn.v.b.p = (const uint8_t *)"kafka";
		hn.v.b.len = 5;
		CHECK(rewrite_addr_host(&hn, h, sizeof h) && strcmp(h, "kafka") == 0);
		hn.v.b.len = 0;
		CHECK(rewrite_addr_host(&hn, h, sizeof h) && h[0] == '\0');
		hn.v.b.p = (const uint8_t *)"kafka-12";
		hn.v.b.len = 8;
		CHECK(!rewrite_addr_host(&hn, h, sizeof h)); /* 8 bytes and the NUL: no room */
		hn.v.b.p = (const uint8_t *)"ka\0fka";
		hn.v.b.len = 6;
		CHECK(!rewrite_addr_host(&hn, h, sizeof h));
		hn.v.b.p = (const uint8_t *)"kafka";
		hn.v.b.len = 5;
		hn.flags = TREE_F_NULL;
		CHECK(!rewrite_addr_host(&hn, h, sizeof h));
	}

	/* Only the three address-bearing apis are touched. */
	CHECK(rewrite_addr_applies(API_METADATA));
	CHECK(rewrite_addr_applies(API_FIND_COORDINATOR));
	CHECK(rewrite_addr_applies(API_DESCRIBE_CLUSTER));
	CHECK(!rewrite_addr_applies(API_PRODUCE));
	CHECK(!rewrite_addr_applies(18));
	struct buf frame, out;
	buf_init(&frame);
	buf_init(&out);
	struct learned l;
	memset(&l, 0, sizeof l);
	char err[256];
	CHECK(sample_frame(&frame, API_PRODUCE, 7, true, 0));
	CHECK_EQ_INT(rewrite_addr_response(API_PRODUCE, 7, frame.p, frame.len, map, &l, &out, err,
					   sizeof err),
		     REWRITE_UNCHANGED);
	/* An unknown version of Metadata is reported as a failure (forwarded untouched). */
	CHECK(sample_frame(&frame, API_METADATA, 1, true, 0));
	CHECK_EQ_INT(rewrite_addr_response(API_METADATA, 999, frame.p, frame.len, map, &l, &out, err,
					   sizeof err),
		     REWRITE_FAILED);
	/* Garbage. */
	static const uint8_t junk[] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f};
	CHECK_EQ_INT(rewrite_addr_response(API_METADATA, 1, junk, sizeof junk, map, &l, &out, err,
					   sizeof err),
		     REWRITE_FAILED);
	CHECK_EQ_INT(rewrite_addr_response(API_METADATA, 1, junk, 0, map, &l, &out, err, sizeof err),
		     REWRITE_FAILED);
	buf_free(&frame);
	buf_free(&out);
	return unit_done("test_proxy_rewrite");
}
