/* fuzz_codec: libFuzzer target for the schema-driven codec (src/proto/codec.c)
 * and the views over its trees (src/output/view.c).
 *
 * Input: [flags:1][api key:2 BE][api version:2 BE][frame...]. Bit 0 of flags
 * picks a response (decoded with the given api key and version, as the
 * stream layer does with the paired request's); otherwise a request, whose
 * api key and version come from its own header. Bit 1 also decodes the frame
 * as a bare body of (api key, version). Bits 2-3 set opts.max_depth (0 =
 * default, 2, 4, 8) so the nesting bound is reached with small inputs.
 *
 * Whatever the codec accepts must encode back to the same bytes (minus any
 * trailing bytes it reported), and decoding that again must give an equal
 * tree: anything else aborts. Seeds: tests/fuzz/corpus/fuzz_codec, one per
 * (api, version, direction), written by test_codec_roundtrip --dump-seeds. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/view.h"
#include "proto/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int api, int version, bool response)
{
	fprintf(stderr, "fuzz_codec: %s (api %d v%d %s)\n", what, api, version,
		response ? "response" : "request");
	abort();
}

static void exercise_views(const struct codec_header *h, const struct tree *t, tree_ref root)
{
	struct buf b;
	buf_init(&b);
	struct view_opts o = {.bytes = (enum view_bytes)(h->correlation_id & 3) % 3,
			      .max_bytes = (size_t)(h->correlation_id >> 4) & 15};
	view_json(&b, t, root, &o);
	view_verbose(&b, t, root, 1, &o);
	view_summary(&b, h, t, root);
	view_facts(&b, h->api_key, t, h->response ? TREE_NONE : root, t,
		   h->response ? root : TREE_NONE);
	(void)view_first_error(t, root);
	if (b.failed)
		fail("view output failed", h->api_key, h->api_version, h->response);
	buf_free(&b);
}

static void check_frame(const uint8_t *frame, size_t len, bool response, int api, int version,
			const struct codec_opts *o)
{
	struct tree t, t2;
	struct codec_header h, h2;
	struct codec_diag d, d2;
	tree_ref root, root2;
	char text[512];
	tree_init(&t);
	t.max_nodes = 1u << 20;
	enum codec_status st =
		response ? codec_decode_response(frame, len, api, version, &t, &h, &root, o, &d)
			 : codec_decode_request(frame, len, &t, &h, &root, o, &d);
	codec_diag_format(&d, text, sizeof text);
	if (st != d.status)
		fail("status and diag disagree", api, version, response);
	if (st != CODEC_OK) {
		tree_free(&t);
		return;
	}
	if (d.trailing > len)
		fail("trailing beyond the frame", h.api_key, h.api_version, response);
	struct buf b;
	buf_init(&b);
	bool ok = response ? codec_encode_response(&h, &t, root, &b)
			   : codec_encode_request(&h, &t, root, &b);
	if (!ok)
		fail("decoded tree does not encode", h.api_key, h.api_version, response);
	if (b.len != len - d.trailing || memcmp(b.p, frame, b.len) != 0)
		fail("re-encoding differs from the input", h.api_key, h.api_version, response);
	tree_init(&t2);
	st = response ? codec_decode_response(b.p, b.len, h.api_key, h.api_version, &t2, &h2, &root2,
					      o, &d2)
		      : codec_decode_request(b.p, b.len, &t2, &h2, &root2, o, &d2);
	if (st != CODEC_OK || d2.trailing || !tree_equal(&t, root, &t2, root2))
		fail("re-decoding differs", h.api_key, h.api_version, response);
	exercise_views(&h, &t, root);
	tree_free(&t2);
	tree_free(&t);
	buf_free(&b);
}

static void check_body(const uint8_t *body, size_t len, bool response, int api, int version,
		       const struct codec_opts *o)
{
	struct tree t;
	struct codec_diag d;
	tree_ref root;
	tree_init(&t);
	t.max_nodes = 1u << 20;
	enum codec_status st =
		codec_decode_body(body, len, 5, api, version, response, &t, &root, o, &d);
	if (st == CODEC_OK) {
		struct buf b;
		buf_init(&b);
		if (!codec_encode_body(&t, root, api, version, response, &b))
			fail("decoded body does not encode", api, version, response);
		if (b.len != len - d.trailing || (b.len && memcmp(b.p, body, b.len) != 0))
			fail("body re-encoding differs", api, version, response);
		buf_free(&b);
	}
	tree_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	uint8_t flags = data[0];
	int api = (int16_t)(data[1] << 8 | data[2]);
	int version = (int16_t)(data[3] << 8 | data[4]);
	static const uint32_t depths[4] = {0, 2, 4, 8};
	struct codec_opts o = {NULL, NULL, depths[(flags >> 2) & 3]};
	bool response = flags & 1;
	check_frame(data + 5, size - 5, response, api, version, &o);
	if (flags & 2)
		check_body(data + 5, size - 5, response, api, version, &o);
	return 0;
}
