/* tree: the decoded form of one Kafka message — a compact, arena-allocated
 * tree of nodes, each carrying its field's name, type and value. Nodes are
 * addressed by index (tree_ref) so the arena can grow; 0 means "none".
 * String, bytes and records values point into the decoded frame (zero-copy)
 * or into blobs the tree owns (decompressed record data), so the frame must
 * outlive the tree.
 *
 * Schema-driven nodes have `field` set; nodes the records decoder synthesises
 * (batches, records, headers) and array elements have field == NULL and take
 * their name from `name`. */
#ifndef KT_TREE_H
#define KT_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "proto/schema.h"

typedef uint32_t tree_ref;
#define TREE_NONE 0u

/* Node flags. */
#define TREE_F_NULL        0x01 /* a null string/bytes/array/struct/records */
#define TREE_F_TAGGED      0x02 /* decoded from (and re-encoded into) a tagged-field section */
#define TREE_F_UNKNOWN_TAG 0x04 /* an unknown tagged field kept raw: v.b holds its bytes, tag in `tag` */
#define TREE_F_ERROR       0x08 /* decoding stopped inside this node (see the message diag) */
#define TREE_F_SYNTH       0x10 /* synthesised by a sub-decoder (records); not part of the schema encoding */
#define TREE_F_PARTIAL     0x20 /* a partial trailing record batch (normal at the end of Fetch) */

struct tree_node {
	const char *name;                 /* JSON name (lowerCamelCase); NULL for array elements */
	const struct schema_field *field; /* NULL for synthesised nodes and array elements */
	uint8_t type;                     /* enum schema_type */
	uint8_t flags;                    /* TREE_F_* */
	uint16_t pad_;
	int32_t tag;                      /* tag number for tagged / unknown-tag nodes */
	uint32_t offset;                  /* byte offset of the value in the frame */
	tree_ref first, last, next;       /* first child, last child, next sibling */
	uint32_t count;                   /* number of children */
	union {
		int64_t i;                    /* bool, int8..int64, uint16, uint32 */
		double f;                     /* float64 */
		struct {
			const uint8_t *p;
			uint32_t len;
		} b;                          /* string, bytes, records, raw tag */
		uint8_t uuid[16];
	} v;
};

struct tree_blob;

struct tree {
	struct tree_node *nodes;  /* nodes[0] is unused so that 0 can mean "none" */
	uint32_t n, cap;
	uint32_t max_nodes;       /* hard cap; tree_add fails past it (default 4M) */
	struct tree_blob *blobs;  /* owned memory, freed by tree_reset/tree_free */
	size_t blob_bytes;        /* total owned bytes */
};

void tree_init(struct tree *t);
void tree_reset(struct tree *t);   /* drop all nodes and blobs, keep the node array */
void tree_free(struct tree *t);

/* Append a child to `parent` (TREE_NONE for a root). Returns TREE_NONE when the
 * node cap is reached or memory runs out. */
tree_ref tree_add(struct tree *t, tree_ref parent, const char *name,
		  const struct schema_field *field, enum schema_type type);
static inline struct tree_node *tree_node(const struct tree *t, tree_ref r) { return &t->nodes[r]; }
/* Memory owned by the tree until reset (e.g. decompressed records). NULL on failure. */
uint8_t *tree_alloc(struct tree *t, size_t n);

/* Navigation helpers. */
tree_ref tree_child(const struct tree *t, tree_ref parent, const char *name); /* by JSON name */
tree_ref tree_child_at(const struct tree *t, tree_ref parent, uint32_t i);
/* Integer value of a named child, or `dflt` when absent/null. */
int64_t tree_get_int(const struct tree *t, tree_ref parent, const char *name, int64_t dflt);
/* Deep equality of two subtrees (names, types, flags, values; offsets ignored). */
bool tree_equal(const struct tree *a, tree_ref ra, const struct tree *b, tree_ref rb);

#endif
