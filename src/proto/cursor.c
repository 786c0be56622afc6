/* cursor: bounds-checked reads and the matching writers (see cursor.h). */
#include "config.h"
#include "proto/cursor.h"

#include <string.h>

bool cursor_read_uvar(struct cursor *c, unsigned maxbytes, unsigned bits, uint64_t *v)
{
	uint64_t x = 0;
	size_t pos = c->pos;
	for (unsigned i = 0; i < maxbytes; i++) {
		if (pos >= c->end)
			return false;
		uint8_t b = c->base[pos++];
		unsigned shift = 7 * i;
		uint64_t part = (uint64_t)(b & 0x7F);
		/* The last byte may only carry the bits that fit. */
		if (shift + 7 > bits && (part >> (bits - shift)) != 0)
			return false;
		x |= part << shift;
		if (!(b & 0x80)) {
			c->pos = pos;
			*v = x;
			return true;
		}
	}
	return false;
}

static void write_be(struct buf *b, uint64_t v, size_t n)
{
	uint8_t tmp[8];
	for (size_t i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	buf_append(b, tmp, n);
}

void cursor_write_u8(struct buf *b, uint8_t v) { write_be(b, v, 1); }
void cursor_write_i16(struct buf *b, int16_t v) { write_be(b, (uint16_t)v, 2); }
void cursor_write_u16(struct buf *b, uint16_t v) { write_be(b, v, 2); }
void cursor_write_i32(struct buf *b, int32_t v) { write_be(b, (uint32_t)v, 4); }
void cursor_write_u32(struct buf *b, uint32_t v) { write_be(b, v, 4); }
void cursor_write_i64(struct buf *b, int64_t v) { write_be(b, (uint64_t)v, 8); }

void cursor_write_f64(struct buf *b, double v)
{
	uint64_t x;
	memcpy(&x, &v, sizeof x);
	write_be(b, x, 8);
}

void cursor_write_uuid(struct buf *b, const uint8_t v[16])
{
	buf_append(b, v, 16);
}

void cursor_write_uvarlong(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	buf_append(b, tmp, n);
}

void cursor_write_uvarint(struct buf *b, uint32_t v)
{
	cursor_write_uvarlong(b, v);
}

void cursor_write_varint(struct buf *b, int32_t v)
{
	uint32_t u = (uint32_t)v;
	cursor_write_uvarint(b, (u << 1) ^ (uint32_t)(v >> 31));
}

void cursor_write_varlong(struct buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;
	cursor_write_uvarlong(b, (u << 1) ^ (uint64_t)(v >> 63));
}

void cursor_patch_i32(struct buf *b, size_t at, int32_t v)
{
	if (b->failed || at > b->len || 4 > b->len - at)
		return;
	uint32_t u = (uint32_t)v;
	b->p[at] = (uint8_t)(u >> 24);
	b->p[at + 1] = (uint8_t)(u >> 16);
	b->p[at + 2] = (uint8_t)(u >> 8);
	b->p[at + 3] = (uint8_t)u;
}
