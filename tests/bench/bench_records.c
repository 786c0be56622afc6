/* bench_records: how fast records_decode turns record batches into a tree,
 * uncompressed and per codec. Not a test: `make bench` runs it and puts the
 * markdown table it prints into docs/PERFORMANCE.md.
 *
 * The input is one records field of BATCHES batches of RECORDS records each
 * (a 10-byte key, a 100-byte JSON-ish value that compresses about like real
 * event data, no headers), built in-process with compress_encode. Each row
 * decodes it repeatedly for about a second of CPU time. "wire MB/s" counts the records
 * field as it travels, "record MB/s" the uncompressed record data; the
 * "decompress only" column is compress_decode alone, to show how much of
 * the time is the codec. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/cursor.h"
#include "proto/tree.h"
#include "records/compress.h"
#include "records/crc32c.h"
#include "records/records.h"

#define BATCHES 16
#define RECORDS 500
#define VALUE_LEN 100

static double now(void)
{
	struct timespec ts;
	/* CPU time of this thread: other load on the machine does not count. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

/* The uncompressed record data of one batch. */
static void make_records(struct buf *body, uint32_t batch)
{
	static const char *const events[] = {"click", "view", "purchase", "scroll", "login"};
	struct buf x;
	buf_init(&x);
	for (int i = 0; i < RECORDS; i++) {
		char key[16], val[VALUE_LEN + 64];
		snprintf(key, sizeof key, "user-%05u", next_rand() % 100000);
		int n = snprintf(val, sizeof val,
				 "{\"id\":%u,\"event\":\"%s\",\"ts\":%u,\"page\":\"/p/%u\",\"v\":%u",
				 batch * RECORDS + (uint32_t)i, events[next_rand() % 5],
				 1700000000u + (uint32_t)i, next_rand() % 1000, next_rand());
		while (n < VALUE_LEN - 1)
			val[n++] = ' ';
		val[VALUE_LEN - 1] = '}';
		buf_reset(&x);
		cursor_write_u8(&x, 0);
		cursor_write_varlong(&x, i);
		cursor_write_varint(&x, i);
		cursor_write_varint(&x, 10);
		buf_append(&x, key, 10);
		cursor_write_varint(&x, VALUE_LEN);
		buf_append(&x, val, VALUE_LEN);
		cursor_write_varint(&x, 0);
		cursor_write_varint(body, (int32_t)x.len);
		buf_append(body, x.p, x.len);
	}
	buf_free(&x);
}

static void make_batch(struct buf *out, int codec, const struct buf *body, uint32_t batch)
{
	size_t at = out->len;
	cursor_write_i64(out, (int64_t)batch * RECORDS);
	cursor_write_i32(out, 0);
	cursor_write_i32(out, 0);
	cursor_write_u8(out, 2);
	cursor_write_u32(out, 0);
	cursor_write_i16(out, (int16_t)codec);
	cursor_write_i32(out, RECORDS - 1);
	cursor_write_i64(out, 1700000000000);
	cursor_write_i64(out, 1700000000000 + RECORDS - 1);
	cursor_write_i64(out, -1);
	cursor_write_i16(out, -1);
	cursor_write_i32(out, -1);
	cursor_write_i32(out, RECORDS);
	if (!compress_encode(codec, body->p, body->len, 0, out)) {
		fprintf(stderr, "bench_records: compress_encode(%s) failed\n", compress_name(codec));
		exit(1);
	}
	cursor_patch_i32(out, at + 8, (int32_t)(out->len - at - 12));
	cursor_patch_i32(out, at + 17,
			 (int32_t)crc32c_update(0, out->p + at + 21, out->len - at - 21));
}

static void row(const char *label, int codec, bool verify)
{
	struct buf field, body, scratch;
	buf_init(&field);
	buf_init(&body);
	buf_init(&scratch);
	size_t record_bytes = 0;
	size_t comp_at[BATCHES], comp_len[BATCHES];
	rng = 12345;
	for (uint32_t b = 0; b < BATCHES; b++) {
		buf_reset(&body);
		make_records(&body, b);
		record_bytes += body.len;
		comp_at[b] = field.len + 61;
		make_batch(&field, codec, &body, b);
		comp_len[b] = field.len - comp_at[b];
	}

	struct records_opts o = records_opts_default();
	o.verify_crc = verify;
	struct tree t;
	tree_init(&t);
	long iters = 0;
	double t0 = now(), el;
	do {
		tree_reset(&t);
		tree_ref root = tree_add(&t, TREE_NONE, "records", NULL, SCHEMA_RECORDS);
		tree_node(&t, root)->v.b.p = field.p;
		tree_node(&t, root)->v.b.len = (uint32_t)field.len;
		if (!records_decode(&t, root, 0, &o) || tree_node(&t, root)->count != BATCHES ||
		    tree_child(&t, tree_child_at(&t, root, 0), "error")) {
			fprintf(stderr, "bench_records: %s did not decode\n", label);
			exit(1);
		}
		iters++;
		el = now() - t0;
	} while (el < 1.0);
	double recs = (double)iters * BATCHES * RECORDS / el;
	double wire = (double)iters * (double)field.len / el / 1e6;
	double data = (double)iters * (double)record_bytes / el / 1e6;

	/* The codec alone. */
	char dec[32] = "-";
	if (codec != COMPRESS_NONE) {
		long di = 0;
		double d0 = now(), del;
		do {
			for (int b = 0; b < BATCHES; b++) {
				buf_reset(&scratch);
				if (compress_decode(codec, field.p + comp_at[b], comp_len[b], 1u << 26,
						    &scratch, NULL, 0) != COMPRESS_OK)
					exit(1);
			}
			di++;
			del = now() - d0;
		} while (del < 0.5);
		snprintf(dec, sizeof dec, "%.0f", (double)di * (double)record_bytes / del / 1e6);
	}
	printf("| %s | %.2f | %.1f | %.2f | %.0f | %.0f | %s |\n", label,
	       (double)record_bytes / (double)field.len, (double)field.len / BATCHES / 1024.0,
	       recs / 1e6, wire, data, dec);
	tree_free(&t);
	buf_free(&field);
	buf_free(&body);
	buf_free(&scratch);
}

int main(void)
{
	printf("%d batches of %d records (10-byte key, %d-byte value), decoded into a tree "
	       "for 1 s of CPU time per row.\n\n",
	       BATCHES, RECORDS, VALUE_LEN);
	printf("| codec | ratio | KiB/batch on the wire | M records/s | wire MB/s | record MB/s "
	       "| decompress only, MB/s |\n");
	printf("|---|---|---|---|---|---|---|\n");
	row("none", COMPRESS_NONE, true);
	row("none, CRC not checked", COMPRESS_NONE, false);
	for (int codec = 1; codec <= 4; codec++) {
		if (compress_built_in(codec))
			row(compress_name(codec), codec, true);
		else
			printf("| %s | not built in | | | | | |\n", compress_name(codec));
	}
	return 0;
}
