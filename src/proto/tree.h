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
#include <string.h>

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
#define TREE_F_LAZY        0x40 /* records left unexpanded: v.b.p is a struct records_lazy (records.h) */

struct tree_node {
	const char *name;                 /* JSON name (lowerCamelCase); NULL for array elements */
	const struct schema_field *field; /* NULL for synthesised nodes and array elements */
	uint8_t type;                     /* enum schema_type */
	uint8_t flags;                    /* TREE_F_* */
	uint16_t name_len;                /* strlen(name), capped at UINT16_MAX (0 when no name) */
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
	uint32_t max_nodes;       /* hard cap; tree_add fails past it (default 16M) */
	struct tree_blob *blobs;  /* owned memory, freed by tree_reset/tree_free */
	size_t blob_bytes;        /* owned bytes (records.c leaves its lazy descriptors out) */
};

void tree_init(struct tree *t);
void tree_reset(struct tree *t);   /* drop all nodes and blobs, keep the node array */
void tree_free(struct tree *t);

/* Append the k siblings first..first+k-1 (already linked among themselves)
 * to parent's children; parent TREE_NONE: a root, nothing to link. */
static inline void tree_link(struct tree *t, tree_ref parent, tree_ref first, uint32_t k)
{
	if (parent == TREE_NONE)
		return;
	struct tree_node *pn = &t->nodes[parent];
	if (pn->last)
		t->nodes[pn->last].next = first;
	else
		pn->first = first;
	pn->last = first + k - 1;
	pn->count += k;
}

/* Append a child to `parent` (TREE_NONE for a root). Returns TREE_NONE when the
 * node cap is reached or memory runs out. Inline: the records decoder adds
 * about eight nodes per record, and with a literal name the length folds to
 * a constant. */
tree_ref tree_grow(struct tree *t); /* the slow path of tree_add: room for one more node */
static inline tree_ref tree_add(struct tree *t, tree_ref parent, const char *name,
				const struct schema_field *field, enum schema_type type)
{
	if (__builtin_expect(t->n >= t->cap || t->n >= t->max_nodes || t->n == 0, 0) &&
	    tree_grow(t) == TREE_NONE)
		return TREE_NONE;
	tree_ref r = t->n++;
	struct tree_node *nd = &t->nodes[r];
	size_t nl = name ? strlen(name) : 0;
	/* Every member is set (no memset: this runs millions of times). */
	nd->name = name;
	nd->field = field;
	nd->type = (uint8_t)type;
	nd->flags = 0;
	nd->name_len = nl > UINT16_MAX ? UINT16_MAX : (uint16_t)nl;
	nd->tag = SCHEMA_NO_TAG;
	nd->offset = 0;
	nd->first = nd->last = nd->next = TREE_NONE;
	nd->count = 0;
	memset(&nd->v, 0, sizeof nd->v);
	tree_link(t, parent, r, 1);
	return r;
}
static inline struct tree_node *tree_node(const struct tree *t, tree_ref r) { return &t->nodes[r]; }

/* Room for k more nodes, so that k tree_add calls or one tree_add_run of k
 * cannot fail. False when the node cap or memory does not allow it. */
bool tree_grow_by(struct tree *t, uint32_t k); /* the slow path of tree_reserve */
static inline bool tree_reserve(struct tree *t, uint32_t k)
{
	if (__builtin_expect(t->n != 0 && t->n <= t->max_nodes && k <= t->cap - t->n &&
			     k <= t->max_nodes - t->n, 1))
		return true;
	return tree_grow_by(t, k);
}
/* Append k >= 1 children to `parent` at once, copied from tmpl[0..k) and
 * linked in order; returns the first, the others are the refs that follow
 * it. Template nodes are childless (first, last and count 0); their `next`
 * is ignored. The caller must have made room with tree_reserve. For the
 * records decoder, whose every record has the same eight members. */
static inline tree_ref tree_add_run(struct tree *t, tree_ref parent, const struct tree_node *tmpl,
				    uint32_t k)
{
	tree_ref r = t->n;
	struct tree_node *nd = &t->nodes[r];
	memcpy(nd, tmpl, k * sizeof *nd);
	for (uint32_t i = 0; i + 1 < k; i++)
		nd[i].next = r + i + 1;
	nd[k - 1].next = TREE_NONE;
	t->n += k;
	tree_link(t, parent, r, k);
	return r;
}
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
