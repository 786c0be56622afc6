/* codec: the generic, table-driven Kafka message codec. Decoding walks the
 * generated schema tables (schema.h) for an (api key, version) and builds a
 * tree (tree.h); encoding walks the tree and writes the same bytes back, so
 * that codec_encode(codec_decode(b)) == b byte for byte.
 *
 * Headers follow the protocol guide: request header v0 (no client id; only
 * ControlledShutdown v0), v1 (client id, a nullable *classic* string even in
 * flexible versions), v2 (v1 + tagged fields); response header v0
 * (correlation id) and v1 (+ tagged fields). A flexible (api, version) uses
 * request header v2 / response header v1, except that ApiVersions responses
 * always use response header v0.
 *
 * Three outcomes are kept apart: CODEC_NEED_MORE (the bytes end before the
 * message does — only meaningful to a caller that has a partial frame),
 * CODEC_MALFORMED (with api, version, offset and field path) and
 * CODEC_UNSUPPORTED (unknown api key or version). On a malformed body the
 * nodes decoded so far stay in the tree and the raw frame stays with the
 * caller. */
#ifndef KT_CODEC_H
#define KT_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "proto/tree.h"
#include "util/buf.h"

enum codec_status {
	CODEC_OK = 0,
	CODEC_NEED_MORE,
	CODEC_MALFORMED,
	CODEC_UNSUPPORTED,
};
const char *codec_status_name(enum codec_status s);

/* Where and why a decode failed. */
struct codec_diag {
	enum codec_status status;
	int16_t api_key;
	int16_t api_version;
	bool response;
	uint32_t offset;         /* byte offset in the frame (after the 4-byte size) */
	uint32_t trailing;       /* bytes left over after a successful body decode */
	char path[192];          /* e.g. "topics[3].partitions[1].replicaNodes" */
	char msg[192];           /* e.g. "count 1000000 exceeds the 12 bytes left" */
};
/* "Metadata v12 response: topics[3]...: count ... at offset 417" */
const char *codec_diag_format(const struct codec_diag *d, char *out, size_t n);

/* A sub-decoder for "records" fields (record batches / message sets).
 * Called with the node of the records field (whose v.b holds the raw bytes)
 * and the absolute offset of those bytes in the frame. It adds synthesised
 * children (TREE_F_SYNTH) and returns false only on internal failure; data
 * problems are reported inside the subtree, not as a message failure. */
typedef bool (*codec_records_fn)(struct tree *t, tree_ref node, size_t frame_offset, void *ctx);

struct codec_opts {
	codec_records_fn records;  /* NULL: keep records as raw bytes */
	void *records_ctx;
	uint32_t max_depth;        /* struct nesting bound; 0 = default (64) */
};

/* What a header says. */
struct codec_header {
	int16_t api_key;           /* for responses: as given by the caller */
	int16_t api_version;
	int32_t correlation_id;
	bool response;
	uint8_t header_version;    /* request 0..2, response 0..1 */
	bool has_client_id;
	bool client_id_null;
	const uint8_t *client_id;  /* points into the frame */
	uint16_t client_id_len;
	uint32_t body_offset;      /* where the body starts in the frame */
	tree_ref header_tags;      /* tagged fields of a flexible header (a SCHEMA_STRUCT node) or TREE_NONE */
};

/* Header versions for an (api, version). -1 when the api key is unknown. */
int codec_request_header_version(int api_key, int api_version);
int codec_response_header_version(int api_key, int api_version);

/* Read just api key, version and correlation id of a request frame, or the
 * correlation id of a response frame, without decoding anything else. The
 * frame excludes the 4-byte size prefix. Used by the stream layer. */
bool codec_peek_request(const uint8_t *frame, size_t len, int16_t *api_key,
			int16_t *api_version, int32_t *correlation_id);
bool codec_peek_response(const uint8_t *frame, size_t len, int32_t *correlation_id);

/* Decode a whole request frame (header + body). On return *root is the body's
 * struct node (TREE_NONE if the header itself failed) and d says how it went. */
enum codec_status codec_decode_request(const uint8_t *frame, size_t len, struct tree *t,
				       struct codec_header *h, tree_ref *root,
				       const struct codec_opts *o, struct codec_diag *d);
/* Decode a whole response frame; the api key and version come from the
 * paired request. */
enum codec_status codec_decode_response(const uint8_t *frame, size_t len, int api_key,
					int api_version, struct tree *t, struct codec_header *h,
					tree_ref *root, const struct codec_opts *o,
					struct codec_diag *d);
/* Decode only a body for (api, version, kind) from `c`-style bytes. */
enum codec_status codec_decode_body(const uint8_t *body, size_t len, size_t frame_offset,
				    int api_key, int api_version, bool response, struct tree *t,
				    tree_ref *root, const struct codec_opts *o,
				    struct codec_diag *d);

/* Encode header + body (no 4-byte size prefix). Returns false when the tree
 * does not fit the schema for that version or b failed. */
bool codec_encode_request(const struct codec_header *h, const struct tree *t, tree_ref root,
			  struct buf *b);
bool codec_encode_response(const struct codec_header *h, const struct tree *t, tree_ref root,
			   struct buf *b);
bool codec_encode_body(const struct tree *t, tree_ref root, int api_key, int api_version,
		       bool response, struct buf *b);

#endif
