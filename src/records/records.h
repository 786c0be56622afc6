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

#include "proto/cursor.h"
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
	/* Leave the records of a sound batch unexpanded (see "Lazy records"
	 * below). Only for trees that nothing but view_json reads. */
	bool lazy;
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

/* Is this entry of a decoded records field a control batch (a transaction
 * marker)? Its records are markers, not application records: the store
 * leaves them out of its records table. */
bool records_is_control(const struct tree *t, tree_ref batch);

/* ---- Lazy records ----
 *
 * Building nine tree nodes per record only for view_json to walk them again
 * is most of the cost of `decode --json`. With records_opts.lazy, a magic-2
 * batch whose records all decode cleanly (and that is not a control batch)
 * gets a `records` array node flagged TREE_F_LAZY with no children; its v.b
 * points to a struct records_lazy in memory the tree owns, and view_json
 * writes the records straight from their bytes, exactly as it would write the
 * expanded nodes. A batch with any damage is expanded as usual, so every error
 * is reported the same way in both modes. The iterator below is the one
 * parser of both the soundness check and the writer. */
struct records_lazy {
	const uint8_t *p;     /* the (decompressed) record data */
	size_t len;
	uint32_t count;       /* records in it, all sound */
	int64_t base_offset;
	int64_t base_ts;
	int64_t max_ts;
	bool log_append;      /* LogAppendTime: every timestamp is max_ts */
};

struct records_rec {
	int64_t offset, timestamp, ts_delta;
	int32_t offset_delta;
	int8_t attributes;
	const uint8_t *key, *value; /* NULL: null */
	int32_t key_len, value_len;
	int32_t nheaders;
};

struct records_hdr {
	const uint8_t *key, *value; /* value NULL: null */
	int32_t key_len, value_len;
};

struct records_iter {
	const struct records_lazy *z;
	struct cursor c;  /* the record data */
	struct cursor x;  /* the current record, after its value */
};

/* The lazy data of a TREE_F_LAZY node, else NULL. */
static inline const struct records_lazy *records_lazy_of(const struct tree_node *n)
{
	return (n->flags & TREE_F_LAZY) ? (const struct records_lazy *)(const void *)n->v.b.p : NULL;
}

static inline void records_iter_init(struct records_iter *it, const struct records_lazy *z)
{
	it->z = z;
	cursor_init(&it->c, z->p, z->len);
	cursor_init(&it->x, NULL, 0);
}

/* A varint-length byte field; -1 is null where allowed. */
static inline bool records_iter_bytes(struct cursor *x, bool nullable, const uint8_t **p,
				      int32_t *len)
{
	if (!cursor_read_varint(x, len))
		return false;
	if (*len >= 0)
		return cursor_read_bytes(x, (size_t)*len, p);
	*p = NULL;
	return *len == -1 && nullable;
}

/* The next record up to its headers; false when the data ends or a record
 * is damaged (the same conditions under which the records decoder reports
 * an error). Read its nheaders headers with records_iter_header. */
static inline bool records_iter_next(struct records_iter *it, struct records_rec *r)
{
	int32_t len;
	if (!cursor_read_varint(&it->c, &len) || len < 0 ||
	    !cursor_sub(&it->c, (size_t)len, &it->x))
		return false;
	struct cursor *x = &it->x;
	if (!cursor_read_i8(x, &r->attributes) || !cursor_read_varlong(x, &r->ts_delta) ||
	    !cursor_read_varint(x, &r->offset_delta) ||
	    !records_iter_bytes(x, true, &r->key, &r->key_len) ||
	    !records_iter_bytes(x, true, &r->value, &r->value_len) ||
	    !cursor_read_varint(x, &r->nheaders) || r->nheaders < 0 ||
	    (size_t)r->nheaders > cursor_left(x) / 2)
		return false;
	/* Wrap-around arithmetic and LogAppendTime as the decoder does them. */
	const struct records_lazy *z = it->z;
	r->offset = (int64_t)((uint64_t)z->base_offset + (uint64_t)(int64_t)r->offset_delta);
	r->timestamp = z->log_append ? z->max_ts : (int64_t)((uint64_t)z->base_ts + (uint64_t)r->ts_delta);
	return true;
}

static inline bool records_iter_header(struct records_iter *it, struct records_hdr *h)
{
	return records_iter_bytes(&it->x, false, &h->key, &h->key_len) &&
	       records_iter_bytes(&it->x, true, &h->value, &h->value_len);
}

#endif
