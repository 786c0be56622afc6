/* Unit tests for proto/cursor: every primitive round-trips through the
 * writer and reader; short input fails without moving; varints reject
 * overlong and overflowing encodings; sub-cursors cannot escape their parent. */
#include "config.h"
#include "proto/cursor.h"
#include "unit.h"

#include <stdint.h>

static void test_roundtrip(void)
{
	struct buf b;
	buf_init(&b);
	cursor_write_u8(&b, 0xfe);
	cursor_write_i16(&b, -2);
	cursor_write_u16(&b, 65000);
	cursor_write_i32(&b, INT32_MIN);
	cursor_write_u32(&b, 4000000000u);
	cursor_write_i64(&b, INT64_MIN + 5);
	cursor_write_f64(&b, 3.25);
	uint8_t u[16];
	for (int i = 0; i < 16; i++)
		u[i] = (uint8_t)(i * 17);
	cursor_write_uuid(&b, u);
	cursor_write_uvarint(&b, UINT32_MAX);
	cursor_write_uvarlong(&b, UINT64_MAX);
	cursor_write_varint(&b, INT32_MIN);
	cursor_write_varint(&b, -1);
	cursor_write_varlong(&b, INT64_MAX);
	cursor_write_varlong(&b, -300);
	CHECK(!b.failed);

	struct cursor c;
	cursor_init(&c, b.p, b.len);
	uint8_t v8;
	int16_t v16;
	uint16_t vu16;
	int32_t v32;
	uint32_t vu32;
	int64_t v64;
	uint64_t vu64;
	double f;
	uint8_t u2[16];
	CHECK(cursor_read_u8(&c, &v8) && v8 == 0xfe);
	CHECK(cursor_read_i16(&c, &v16) && v16 == -2);
	CHECK(cursor_read_u16(&c, &vu16) && vu16 == 65000);
	CHECK(cursor_read_i32(&c, &v32) && v32 == INT32_MIN);
	CHECK(cursor_read_u32(&c, &vu32) && vu32 == 4000000000u);
	CHECK(cursor_read_i64(&c, &v64) && v64 == INT64_MIN + 5);
	CHECK(cursor_read_f64(&c, &f) && f == 3.25);
	CHECK(cursor_read_uuid(&c, u2) && memcmp(u, u2, 16) == 0);
	CHECK(cursor_read_uvarint(&c, &vu32) && vu32 == UINT32_MAX);
	CHECK(cursor_read_uvarlong(&c, &vu64) && vu64 == UINT64_MAX);
	CHECK(cursor_read_varint(&c, &v32) && v32 == INT32_MIN);
	CHECK(cursor_read_varint(&c, &v32) && v32 == -1);
	CHECK(cursor_read_varlong(&c, &v64) && v64 == INT64_MAX);
	CHECK(cursor_read_varlong(&c, &v64) && v64 == -300);
	CHECK_EQ_INT(cursor_left(&c), 0);
	CHECK(!cursor_read_u8(&c, &v8));
	buf_free(&b);
}

static void test_short_reads(void)
{
	const uint8_t p[3] = {1, 2, 3};
	struct cursor c;
	cursor_init(&c, p, sizeof p);
	int32_t v32;
	CHECK(!cursor_read_i32(&c, &v32));
	CHECK_EQ_INT(c.pos, 0); /* a failed read does not move */
	const uint8_t *q;
	CHECK(!cursor_read_bytes(&c, SIZE_MAX, &q)); /* would wrap as pos + len */
	CHECK(!cursor_skip(&c, 4));
	CHECK(cursor_skip(&c, 3));
}

static void test_varint_limits(void)
{
	/* 6-byte uvarint: too long for 32 bits. */
	const uint8_t longv[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	/* 5-byte uvarint whose last byte carries bits past 32. */
	const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
	/* Truncated: continuation bit set on the last byte. */
	const uint8_t trunc[] = {0x80, 0x80};
	struct cursor c;
	uint32_t v;
	cursor_init(&c, longv, sizeof longv);
	CHECK(!cursor_read_uvarint(&c, &v));
	cursor_init(&c, over, sizeof over);
	CHECK(!cursor_read_uvarint(&c, &v));
	cursor_init(&c, trunc, sizeof trunc);
	CHECK(!cursor_read_uvarint(&c, &v));
	CHECK_EQ_INT(c.pos, 0);
	/* Zig-zag: 1 -> -1, 2 -> 1, 3 -> -2. */
	const uint8_t zz[] = {1, 2, 3};
	int32_t s;
	cursor_init(&c, zz, sizeof zz);
	CHECK(cursor_read_varint(&c, &s) && s == -1);
	CHECK(cursor_read_varint(&c, &s) && s == 1);
	CHECK(cursor_read_varint(&c, &s) && s == -2);

	/* Around the one- and two-byte fast paths: every value up to 3 bytes
	 * reads back and moves the cursor by its length, also as the last
	 * bytes of the window; cut one byte short, it fails without moving. */
	for (uint32_t x = 0; x < (1u << 17); x += x < 20000 ? 1 : 61) {
		struct buf b;
		buf_init(&b);
		cursor_write_uvarint(&b, x);
		size_t n = b.len;
		cursor_write_uvarint(&b, x);
		cursor_init(&c, b.p, b.len);
		uint64_t v64;
		CHECK(cursor_read_uvarint(&c, &v) && v == x && c.pos == n);
		CHECK(cursor_read_uvarlong(&c, &v64) && v64 == x && c.pos == 2 * n);
		cursor_init(&c, b.p, n - 1);
		CHECK(!cursor_read_uvarint(&c, &v) && c.pos == 0);
		CHECK(!cursor_read_uvarlong(&c, &v64) && c.pos == 0);
		buf_free(&b);
	}
}

static void test_sub(void)
{
	const uint8_t p[8] = {0, 0, 0, 1, 0, 0, 0, 2};
	struct cursor c, sub;
	cursor_init(&c, p, sizeof p);
	CHECK(cursor_skip(&c, 2));
	CHECK(cursor_sub(&c, 4, &sub));
	CHECK_EQ_INT(cursor_offset(&sub), 2);
	CHECK_EQ_INT(cursor_left(&sub), 4);
	int32_t v;
	CHECK(cursor_read_i32(&sub, &v) && v == 0x00010000);
	CHECK(!cursor_read_i32(&sub, &v)); /* cannot read into the parent's bytes */
	CHECK_EQ_INT(cursor_offset(&c), 6);
	CHECK(!cursor_sub(&c, 3, &sub));

	struct buf b;
	buf_init(&b);
	cursor_write_i32(&b, 0);
	cursor_write_i32(&b, 7);
	cursor_patch_i32(&b, 0, 0x01020304);
	CHECK(b.p[0] == 1 && b.p[3] == 4);
	cursor_patch_i32(&b, 6, 1); /* out of range: ignored */
	CHECK(b.len == 8);
	buf_free(&b);
}

int main(void)
{
	test_roundtrip();
	test_short_reads();
	test_varint_limits();
	test_sub();
	return unit_done("test_cursor");
}
