/* Round trip of every (api key, version, request/response) in the generated
 * tables (STYLE.md "Tests"): a sample tree (codec_sample.c) is encoded,
 * decoded and compared with tree_equal, re-encoded and compared byte for byte;
 * every proper prefix of the body must decode as NEED_MORE or MALFORMED,
 * never OK; trailing bytes must be reported; and whole frames (header + body)
 * must round-trip through codec_encode_* / codec_decode_*.
 *
 *   test_codec_roundtrip [--dump-seeds DIR]
 *
 * --dump-seeds writes one fuzz seed per (api, version, direction) in the
 * input format of tests/fuzz/fuzz_codec.c and exits. */
#include "config.h"
#include "proto/codec.h"
#include "codec_sample.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

static char ctx[128];

#define FAILX(...)                                                               \
	do {                                                                     \
		unit_failures++;                                                 \
		fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, ctx);        \
		fprintf(stderr, __VA_ARGS__);                                    \
		fputc('\n', stderr);                                             \
	} while (0)

static bool same_bytes(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void diag_print(const struct codec_diag *d)
{
	char s[512];
	fprintf(stderr, "    diag: %s (%s)\n", codec_diag_format(d, s, sizeof s),
		codec_status_name(d->status));
}

/* Body-level checks. Returns true when everything held. */
static bool check_body(int api, int v, bool response, int variant)
{
	struct tree t1, t2;
	struct buf b1, b2;
	struct codec_diag d;
	bool ok = true;
	tree_init(&t1);
	tree_init(&t2);
	buf_init(&b1);
	buf_init(&b2);

	tree_ref r1 = sample_body(&t1, api, v, response, variant);
	unit_checks++;
	if (!r1 || !codec_encode_body(&t1, r1, api, v, response, &b1)) {
		FAILX("sample does not encode");
		ok = false;
		goto out;
	}
	tree_ref r2;
	enum codec_status st = codec_decode_body(b1.p, b1.len, 0, api, v, response, &t2, &r2, NULL, &d);
	unit_checks++;
	if (st != CODEC_OK || d.trailing != 0) {
		FAILX("decode gives %s, trailing %u", codec_status_name(st), d.trailing);
		diag_print(&d);
		ok = false;
		goto out;
	}
	unit_checks++;
	if (!tree_equal(&t1, r1, &t2, r2)) {
		FAILX("decoded tree differs from the sample");
		ok = false;
	}
	unit_checks++;
	if (!codec_encode_body(&t2, r2, api, v, response, &b2) || !same_bytes(&b1, &b2)) {
		FAILX("re-encoding gives different bytes (%zu vs %zu)", b2.len, b1.len);
		ok = false;
	}

	/* Every proper prefix is incomplete or malformed, never a message. */
	for (size_t n = 0; n < b1.len; n++) {
		tree_reset(&t2);
		st = codec_decode_body(b1.p, n, 0, api, v, response, &t2, &r2, NULL, &d);
		unit_checks++;
		if (st != CODEC_NEED_MORE && st != CODEC_MALFORMED) {
			FAILX("prefix of %zu of %zu bytes decodes as %s", n, b1.len,
			      codec_status_name(st));
			ok = false;
			break;
		}
	}

	/* Trailing bytes are reported, not ignored. */
	buf_append(&b1, "\x01\x02\x03", 3);
	tree_reset(&t2);
	st = codec_decode_body(b1.p, b1.len, 0, api, v, response, &t2, &r2, NULL, &d);
	unit_checks++;
	if (st != CODEC_OK || d.trailing != 3 || d.offset != b1.len - 3) {
		FAILX("trailing bytes: %s, trailing %u, offset %u", codec_status_name(st), d.trailing,
		      d.offset);
		ok = false;
	}
out:
	tree_free(&t1);
	tree_free(&t2);
	buf_free(&b1);
	buf_free(&b2);
	return ok;
}

static bool same_header(const struct codec_header *a, const struct codec_header *b)
{
	if (a->api_key != b->api_key || a->api_version != b->api_version ||
	    a->correlation_id != b->correlation_id || a->header_version != b->header_version)
		return false;
	if (a->response)
		return true;
	if (a->has_client_id != b->has_client_id || a->client_id_null != b->client_id_null)
		return false;
	return a->client_id_len == b->client_id_len &&
	       (a->client_id_len == 0 || memcmp(a->client_id, b->client_id, a->client_id_len) == 0);
}

/* Whole frames: header + body. */
static bool check_frame(int api, int v, bool response, int variant)
{
	struct tree t1, t2;
	struct buf b1, b2;
	struct codec_header h1, h2;
	struct codec_diag d;
	bool ok = true;
	tree_init(&t1);
	tree_init(&t2);
	buf_init(&b1);
	buf_init(&b2);
	sample_header(&h1, &t1, api, v, response, variant);
	tree_ref r1 = sample_body(&t1, api, v, response, variant), r2;
	unit_checks++;
	if (!r1 || !(response ? codec_encode_response(&h1, &t1, r1, &b1)
			      : codec_encode_request(&h1, &t1, r1, &b1))) {
		FAILX("frame does not encode");
		ok = false;
		goto out;
	}
	enum codec_status st =
		response ? codec_decode_response(b1.p, b1.len, api, v, &t2, &h2, &r2, NULL, &d)
			 : codec_decode_request(b1.p, b1.len, &t2, &h2, &r2, NULL, &d);
	unit_checks++;
	if (st != CODEC_OK || d.trailing) {
		FAILX("frame decodes as %s, trailing %u", codec_status_name(st), d.trailing);
		diag_print(&d);
		ok = false;
		goto out;
	}
	unit_checks++;
	if (!same_header(&h1, &h2) || h2.response != response) {
		FAILX("header differs");
		ok = false;
	}
	unit_checks++;
	if (!tree_equal(&t1, r1, &t2, r2)) {
		FAILX("frame body tree differs");
		ok = false;
	}
	unit_checks++;
	if ((h1.header_tags != TREE_NONE) &&
	    (h2.header_tags == TREE_NONE || !tree_equal(&t1, h1.header_tags, &t2, h2.header_tags))) {
		FAILX("header tagged fields differ");
		ok = false;
	}
	unit_checks++;
	if (!(response ? codec_encode_response(&h2, &t2, r2, &b2)
		       : codec_encode_request(&h2, &t2, r2, &b2)) ||
	    !same_bytes(&b1, &b2)) {
		FAILX("frame re-encodes differently");
		ok = false;
	}
	/* The peek helpers agree with the full decode. */
	int16_t k, ver;
	int32_t corr;
	unit_checks++;
	if (response ? !codec_peek_response(b1.p, b1.len, &corr) || corr != h1.correlation_id
		     : !codec_peek_request(b1.p, b1.len, &k, &ver, &corr) || k != api || ver != v ||
			       corr != h1.correlation_id) {
		FAILX("peek disagrees");
		ok = false;
	}
out:
	tree_free(&t1);
	tree_free(&t2);
	buf_free(&b1);
	buf_free(&b2);
	return ok;
}

/* Fuzz seed: [flags][api key BE16][version BE16][frame], see fuzz_codec.c. */
static int dump_seeds(const char *dir)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "test_codec_roundtrip: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	unsigned n = 0;
	for (unsigned i = 0; i < schema_api_count; i++) {
		const struct schema_api *a = &schema_apis[i];
		for (int v = a->request->valid.min; v <= a->request->valid.max; v++) {
			for (int resp = 0; resp < 2; resp++) {
				struct buf b;
				buf_init(&b);
				uint8_t pre[5] = {(uint8_t)resp, (uint8_t)(a->api_key >> 8),
						  (uint8_t)a->api_key, (uint8_t)(v >> 8), (uint8_t)v};
				buf_append(&b, pre, sizeof pre);
				/* Alternate variants so both forms are in the corpus. */
				if (!sample_frame(&b, a->api_key, v, resp, (v + resp) % SAMPLE_VARIANTS)) {
					fprintf(stderr, "no sample for %s v%d\n", a->name, v);
					buf_free(&b);
					return 1;
				}
				char path[512];
				snprintf(path, sizeof path, "%s/%s-v%d-%s", dir, a->name, v,
					 resp ? "response" : "request");
				FILE *f = fopen(path, "wb");
				if (!f || fwrite(b.p, 1, b.len, f) != b.len || fclose(f) != 0) {
					fprintf(stderr, "test_codec_roundtrip: cannot write %s\n", path);
					buf_free(&b);
					return 1;
				}
				buf_free(&b);
				n++;
			}
		}
	}
	printf("wrote %u seeds to %s\n", n, dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--dump-seeds") == 0)
		return dump_seeds(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: test_codec_roundtrip [--dump-seeds DIR]\n");
		return 2;
	}
	unsigned pairs = 0, covered = 0;
	for (unsigned i = 0; i < schema_api_count; i++) {
		const struct schema_api *a = &schema_apis[i];
		CHECK(a->request && a->response);
		CHECK(a->request->valid.min == a->response->valid.min &&
		      a->request->valid.max == a->response->valid.max);
		for (int v = a->request->valid.min; v <= a->request->valid.max; v++) {
			bool all = true;
			pairs++;
			for (int resp = 0; resp < 2; resp++) {
				for (int var = 0; var < SAMPLE_VARIANTS; var++) {
					snprintf(ctx, sizeof ctx, "%s v%d %s variant %d", a->name, v,
						 resp ? "response" : "request", var);
					all &= check_body(a->api_key, v, resp, var);
					all &= check_frame(a->api_key, v, resp, var);
				}
			}
			covered += all;
		}
	}
	printf("covered %u of %u (api, version) pairs in %u api keys\n", covered, pairs,
	       schema_api_count);
	CHECK(schema_api_count == 88);
	CHECK_EQ_INT(covered, pairs);
	return unit_done("test_codec_roundtrip");
}
