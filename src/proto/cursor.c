/* cursor: bounds-checked reads and the matching writers (see cursor.h). */
#include "config.h"
#include "proto/cursor.h"

#include <string.h>

void cursor_init(struct cursor *c, const uint8_t *p, size_t len)
{
	c->base = p;
	c->pos = 0;
	c->end = len;
	c->origin = 0;
}

bool cursor_skip(struct cursor *c, size_t n)
{
	if (n > c->end - c->pos)
		return false;
	c->pos += n;
	return true;
}

bool cursor_sub(struct cursor *c, size_t n, struct cursor *sub)
{
	if (n > c->end - c->pos)
		return false;
	sub->base = c->base + c->pos;
	sub->pos = 0;
	sub->end = n;
	sub->origin = c->origin + c->pos;
	c->pos += n;
	return true;
}

bool cursor_read_bytes(struct cursor *c, size_t n, const uint8_t **p)
{
	if (n > c->end - c->pos)
		return false;
	*p = c->base + c->pos;
	c->pos += n;
	return true;
}

/* Fixed-width big-endian read of n <= 8 bytes. */
static bool read_be(struct cursor *c, size_t n, uint64_t *v)
{
	if (n > c->end - c->pos)
		return false;
	const uint8_t *p = c->base + c->pos;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | p[i];
	c->pos += n;
	*v = x;
	return true;
}

bool cursor_read_u8(struct cursor *c, uint8_t *v)
{
	uint64_t x;
	if (!read_be(c, 1, &x))
		return false;
	*v = (uint8_t)x;
	return true;
}

bool cursor_read_i8(struct cursor *c, int8_t *v)
{
	uint8_t x;
	if (!cursor_read_u8(c, &x))
		return false;
	*v = (int8_t)x;
	return true;
}

bool cursor_read_u16(struct cursor *c, uint16_t *v)
{
	uint64_t x;
	if (!read_be(c, 2, &x))
		return false;
	*v = (uint16_t)x;
	return true;
}

bool cursor_read_i16(struct cursor *c, int16_t *v)
{
	uint16_t x;
	if (!cursor_read_u16(c, &x))
		return false;
	*v = (int16_t)x;
	return true;
}

bool cursor_read_u32(struct cursor *c, uint32_t *v)
{
	uint64_t x;
	if (!read_be(c, 4, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

bool cursor_read_i32(struct cursor *c, int32_t *v)
{
	uint32_t x;
	if (!cursor_read_u32(c, &x))
		return false;
	*v = (int32_t)x;
	return true;
}

bool cursor_read_i64(struct cursor *c, int64_t *v)
{
	uint64_t x;
	if (!read_be(c, 8, &x))
		return false;
	*v = (int64_t)x;
	return true;
}

bool cursor_read_f64(struct cursor *c, double *v)
{
	uint64_t x;
	if (!read_be(c, 8, &x))
		return false;
	memcpy(v, &x, sizeof *v);
	return true;
}

bool cursor_read_uuid(struct cursor *c, uint8_t v[16])
{
	if (16 > c->end - c->pos)
		return false;
	memcpy(v, c->base + c->pos, 16);
	c->pos += 16;
	return true;
}

static bool read_uvar(struct cursor *c, unsigned maxbytes, unsigned bits, uint64_t *v)
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

bool cursor_read_uvarint(struct cursor *c, uint32_t *v)
{
	uint64_t x;
	if (!read_uvar(c, 5, 32, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

bool cursor_read_uvarlong(struct cursor *c, uint64_t *v)
{
	return read_uvar(c, 10, 64, v);
}

bool cursor_read_varint(struct cursor *c, int32_t *v)
{
	uint32_t x;
	if (!cursor_read_uvarint(c, &x))
		return false;
	*v = (int32_t)((x >> 1) ^ (~(x & 1) + 1));
	return true;
}

bool cursor_read_varlong(struct cursor *c, int64_t *v)
{
	uint64_t x;
	if (!cursor_read_uvarlong(c, &x))
		return false;
	*v = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
	return true;
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
