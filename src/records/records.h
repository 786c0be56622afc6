/* records: the decoder for Kafka's record data — the bytes of every
 * `records` field (Produce requests, Fetch responses, ...). It follows the
 * Kafka documentation, "Implementation" section 5.3: RecordBatch (magic 2),
 * Record, Record Header, control batches, and the old message sets (magic 0
 * and 1, including compressed wrapper messages).
 *
 * records_decode() is the codec's records hook (codec_records_fn). Under the
 * records node it adds one synthesised child per batch (magic 2) or per
 * message (magic 0/1), every node flagged TREE_F_SYNTH; docs/records.md
 * draws the tree. String and bytes values point into the frame; only
 * decompressed data (and error texts) live in memory the tree owns.
 *
 * Damage is reported, never fatal: a batch that cannot be decoded gets an
 * `error` string child naming the byte offset in the frame, and decoding goes
 * on with the next batch. A batch cut short at the end of the data (normal at
 * the end of a Fetch response) is flagged TREE_F_PARTIAL with `partial: true`.
 * The hook returns false only when the tree runs out of nodes or memory. */
#ifndef KT_RECORDS_H
#define KT_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "proto/tree.h"
#include "util/buf.h"

struct records_opts {
	/* Most bytes one batch (or legacy wrapper message) may decompress to;
	 * 0 means the default, 64 MiB. */
	size_t max_decompressed;
	/* Most bytes of decompressed data per compressed byte, enforced once a
	 * batch passes 1 MiB (small batches of repetitive data legitimately
	 * compress further). The same ratio bounds the decompressed total of a
	 * whole message against the message's size. 0 means the default, 200. */
	unsigned max_ratio;
	/* Check CRC-32C (magic 2) / CRC-32 (magic 0/1) and add crcValid. */
	bool verify_crc;
};

#define RECORDS_DEFAULT_MAX_DECOMPRESSED ((size_t)64 * 1024 * 1024)
#define RECORDS_DEFAULT_MAX_RATIO 200u
/* Below this many decompressed bytes a batch is never refused for its ratio. */
#define RECORDS_RATIO_FLOOR ((size_t)1024 * 1024)

/* The defaults: 64 MiB, 200:1, CRCs verified. */
struct records_opts records_opts_default(void);

/* codec_records_fn: decode the records bytes of `node` (node->v.b), which
 * start at `frame_offset` in the frame. ctx is a const struct records_opts *
 * or NULL for the defaults. */
bool records_decode(struct tree *t, tree_ref node, size_t frame_offset, void *ctx);

/* Re-create a magic-2 RecordBatch from a batch node as records_decode built
 * it, possibly modified since: header fields from the node, records from its
 * `records` array (attributes, timestampDelta, offsetDelta, key, value,
 * headers), compressed with the codec its `attributes` name, recordCount and
 * batchLength recounted and the CRC-32C recomputed. Appends to `out`. For a
 * batch that has not changed, write the original bytes instead (the codec
 * does: it re-emits the records field's v.b), since re-compression need not
 * give the same bytes as the producer's compressor. False (with a message in
 * err) when the node is not a complete, decodable magic-2 batch, or the codec
 * is not built in. */
bool records_encode_batch(const struct tree *t, tree_ref batch, struct buf *out, char *err,
			  size_t errlen);

#endif
