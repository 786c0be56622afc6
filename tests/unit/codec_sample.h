/* codec_sample: sample messages built from the schema tables, for the codec
 * round-trip test, the fuzz seed corpus and the codec benchmark. A sample
 * sets every field present in the version to a value different from its
 * schema default, gives every array one or two elements and every known
 * tagged field a value. Variant 0 fills nullable fields; variant 1 makes them
 * null and adds an unknown tagged field to every flexible struct (and to a
 * flexible header). */
#ifndef KT_CODEC_SAMPLE_H
#define KT_CODEC_SAMPLE_H

#include <stdbool.h>

#include "proto/codec.h"
#include "proto/schema.h"
#include "proto/tree.h"
#include "util/buf.h"

#define SAMPLE_VARIANTS 2

/* The body tree; TREE_NONE when the tree runs out of room. */
tree_ref sample_body(struct tree *t, int api_key, int version, bool response, int variant);
/* A header matching the sample (its tagged fields, if any, go into t). */
void sample_header(struct codec_header *h, struct tree *t, int api_key, int version,
		   bool response, int variant);
/* Header + body encoded (no 4-byte size prefix). */
bool sample_frame(struct buf *b, int api_key, int version, bool response, int variant);

#endif
