/* tree: arena of decoded nodes (see tree.h). */
#include "config.h"
#include "proto/tree.h"

#include <stdlib.h>
#include <string.h>

/* Enough for any real message (a 100 MiB Fetch of 100-byte records is about
 * 8 nodes per record, ~8M nodes) while bounding memory to a few hundred MiB
 * on hostile input; callers can lower it. */
#define TREE_DEFAULT_MAX_NODES (16u * 1024 * 1024)

struct tree_blob {
	struct tree_blob *next;
	size_t len;
	uint8_t data[];
};

void tree_init(struct tree *t)
{
	memset(t, 0, sizeof *t);
	t->max_nodes = TREE_DEFAULT_MAX_NODES;
}

static void free_blobs(struct tree *t)
{
	struct tree_blob *b = t->blobs;
	while (b) {
		struct tree_blob *next = b->next;
		free(b);
		b = next;
	}
	t->blobs = NULL;
	t->blob_bytes = 0;
}

void tree_reset(struct tree *t)
{
	t->n = t->cap ? 1 : 0;
	free_blobs(t);
}

void tree_free(struct tree *t)
{
	free_blobs(t);
	free(t->nodes);
	uint32_t max = t->max_nodes;
	tree_init(t);
	t->max_nodes = max;
}

tree_ref tree_grow(struct tree *t)
{
	if (t->n == 0)
		t->n = 1; /* reserve index 0 */
	if (t->n >= t->max_nodes)
		return TREE_NONE;
	if (t->n >= t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 256;
		if (cap > t->max_nodes)
			cap = t->max_nodes;
		struct tree_node *nodes = realloc(t->nodes, (size_t)cap * sizeof *nodes);
		if (!nodes)
			return TREE_NONE;
		t->nodes = nodes;
		t->cap = cap;
	}
	return t->n;
}

bool tree_grow_by(struct tree *t, uint32_t k)
{
	if (t->n == 0)
		t->n = 1; /* reserve index 0 */
	if (k > t->max_nodes || t->n > t->max_nodes - k)
		return false;
	if (t->n + k > t->cap) {
		uint32_t cap = t->cap ? t->cap : 256;
		while (cap < t->n + k)
			cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
		if (cap > t->max_nodes)
			cap = t->max_nodes;
		struct tree_node *nodes = realloc(t->nodes, (size_t)cap * sizeof *nodes);
		if (!nodes)
			return false;
		t->nodes = nodes;
		t->cap = cap;
	}
	return true;
}

uint8_t *tree_alloc(struct tree *t, size_t n)
{
	if (n > SIZE_MAX - sizeof(struct tree_blob))
		return NULL;
	struct tree_blob *b = malloc(sizeof *b + n);
	if (!b)
		return NULL;
	b->len = n;
	b->next = t->blobs;
	t->blobs = b;
	t->blob_bytes += n;
	return b->data;
}

tree_ref tree_child(const struct tree *t, tree_ref parent, const char *name)
{
	if (parent == TREE_NONE)
		return TREE_NONE;
	for (tree_ref c = t->nodes[parent].first; c; c = t->nodes[c].next)
		if (t->nodes[c].name && strcmp(t->nodes[c].name, name) == 0)
			return c;
	return TREE_NONE;
}

tree_ref tree_child_at(const struct tree *t, tree_ref parent, uint32_t i)
{
	if (parent == TREE_NONE)
		return TREE_NONE;
	tree_ref c = t->nodes[parent].first;
	while (c && i--)
		c = t->nodes[c].next;
	return c;
}

int64_t tree_get_int(const struct tree *t, tree_ref parent, const char *name, int64_t dflt)
{
	tree_ref c = tree_child(t, parent, name);
	if (!c || (t->nodes[c].flags & TREE_F_NULL))
		return dflt;
	return t->nodes[c].v.i;
}

static bool value_equal(const struct tree_node *a, const struct tree_node *b)
{
	if ((a->flags & TREE_F_NULL) || (b->flags & TREE_F_NULL))
		return (a->flags & TREE_F_NULL) == (b->flags & TREE_F_NULL);
	if (a->flags & TREE_F_UNKNOWN_TAG)
		return a->v.b.len == b->v.b.len && memcmp(a->v.b.p, b->v.b.p, a->v.b.len) == 0;
	switch (a->type) {
	case SCHEMA_FLOAT64:
		return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
	case SCHEMA_UUID:
		return memcmp(a->v.uuid, b->v.uuid, 16) == 0;
	case SCHEMA_STRING:
	case SCHEMA_BYTES:
	case SCHEMA_RECORDS:
		return a->v.b.len == b->v.b.len &&
		       (a->v.b.len == 0 || memcmp(a->v.b.p, b->v.b.p, a->v.b.len) == 0);
	case SCHEMA_STRUCT:
	case SCHEMA_ARRAY:
		return true;
	default:
		return a->v.i == b->v.i;
	}
}

bool tree_equal(const struct tree *a, tree_ref ra, const struct tree *b, tree_ref rb)
{
	/* Iterative over siblings, recursive over depth: the decoder bounds depth. */
	if (!ra || !rb)
		return ra == rb;
	const struct tree_node *na = &a->nodes[ra], *nb = &b->nodes[rb];
	if (na->type != nb->type || na->flags != nb->flags || na->tag != nb->tag ||
	    na->count != nb->count)
		return false;
	if ((na->name == NULL) != (nb->name == NULL) ||
	    (na->name && strcmp(na->name, nb->name) != 0))
		return false;
	if (!value_equal(na, nb))
		return false;
	tree_ref ca = na->first, cb = nb->first;
	while (ca && cb) {
		if (!tree_equal(a, ca, b, cb))
			return false;
		ca = a->nodes[ca].next;
		cb = b->nodes[cb].next;
	}
	return ca == cb;
}
