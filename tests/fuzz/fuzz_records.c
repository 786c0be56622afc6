/* fuzz_records: libFuzzer target for the records decoder. The input is the
 * raw bytes of a records field (record batches or legacy message sets),
 * after one option byte: bit 0 set turns CRC checking off (so the fuzzer
 * also runs the no-CRC path), bits 1-2 pick max_decompressed (default,
 * 64 KiB, 1 KiB, 64 MiB) so the limit paths are reached with small inputs.
 * Decoding must never crash, read out of bounds or leak; every node it adds
 * must be flagged TREE_F_SYNTH; a batch that decoded cleanly must encode
 * again; and decoding with lazy records must give the same JSON, whole and
 * in the store's form (view_opts.omit_batch_records). Seeds:
 * tests/fuzz/corpus/fuzz_records/, written by
 * `tests/unit/test_records --write-seeds DIR`. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/view.h"
#include "proto/tree.h"
#include "records/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct tree *t, tree_ref r)
{
	for (tree_ref c = tree_node(t, r)->first; c; c = tree_node(t, c)->next) {
		const struct tree_node *n = tree_node(t, c);
		if (!(n->flags & TREE_F_SYNTH))
			abort();
		/* Touch every value so ASan sees a dangling or short view. */
		if ((n->type == SCHEMA_STRING || n->type == SCHEMA_BYTES) &&
		    !(n->flags & TREE_F_NULL) && n->v.b.len) {
			volatile uint8_t x = n->v.b.p[0];
			x = n->v.b.p[n->v.b.len - 1];
			(void)x;
		}
		walk(t, c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const size_t caps[4] = {0, 64 * 1024, 1024, 64u * 1024 * 1024};
	struct records_opts o = records_opts_default();
	o.verify_crc = !(data[0] & 1);
	o.max_decompressed = caps[(data[0] >> 1) & 3];
	data++;
	size--;

	/* A private copy, so that reads past the end hit ASan's redzone. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct tree t;
	tree_init(&t);
	t.max_nodes = 1u << 20;
	tree_ref root = tree_add(&t, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
	bool decoded = false; /* without running out of nodes */
	if (root) {
		tree_node(&t, root)->v.b.p = copy;
		tree_node(&t, root)->v.b.len = (uint32_t)size;
		if (records_decode(&t, root, 4, &o)) {
			decoded = true;
			walk(&t, root);
			/* Whatever decoded cleanly as a batch must encode again. */
			for (tree_ref b = tree_node(&t, root)->first; b; b = tree_node(&t, b)->next) {
				if (tree_get_int(&t, b, "magic", -1) != 2 || tree_child(&t, b, "error") ||
				    tree_child(&t, b, "partial") || !tree_child(&t, b, "records"))
					continue;
				struct buf out;
				buf_init(&out);
				char err[128];
				if (!records_encode_batch(&t, b, &out, err, sizeof err) &&
				    strstr(err, "out of memory") == NULL)
					abort();
				buf_free(&out);
			}
		}
	}
	/* Lazy records (records.h) must read exactly as the expanded ones. */
	struct buf ja, jb;
	buf_init(&ja);
	buf_init(&jb);
	if (decoded)
		view_json(&ja, &t, root, NULL);
	struct tree lz;
	tree_init(&lz);
	lz.max_nodes = 1u << 20;
	tree_ref lroot = tree_add(&lz, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
	o.lazy = true;
	if (lroot) {
		tree_node(&lz, lroot)->v.b.p = copy;
		tree_node(&lz, lroot)->v.b.len = (uint32_t)size;
		if (records_decode(&lz, lroot, 4, &o) && decoded) {
			view_json(&jb, &lz, lroot, NULL);
			bool ok = !ja.failed && !jb.failed;
			if (ok && (ja.len != jb.len || memcmp(ja.p, jb.p, ja.len) != 0))
				abort();
			/* The store's form (batches without their records) alike,
			 * and never longer than the whole. */
			struct view_opts so = {.omit_batch_records = true};
			size_t full = ja.len;
			buf_reset(&ja);
			buf_reset(&jb);
			view_json(&ja, &t, root, &so);
			view_json(&jb, &lz, lroot, &so);
			if (ok && !ja.failed && !jb.failed &&
			    (ja.len != jb.len || memcmp(ja.p, jb.p, ja.len) != 0 || ja.len > full))
				abort();
		}
	}
	tree_free(&lz);
	buf_free(&ja);
	buf_free(&jb);
	tree_free(&t);
	free(copy);
	return 0;
}
