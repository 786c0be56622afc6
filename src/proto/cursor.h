/* cursor: every read of bytes that came from the network or a capture goes
 * through here. A cursor is a window [pos, end) over a buffer; reads check the
 * bytes left first (as `n > end - pos`, which cannot wrap) and return false
 * without moving when there are not enough. Nested regions (a record batch, a
 * tagged field) are read through a narrowed sub-cursor so that an inner length
 * can never reach past its parent.
 *
 * Wire primitives follow the Kafka protocol guide ("Protocol Primitive
 * Types"): big-endian integers, unsigned varints (LEB128, 7 bits a byte),
 * zig-zag varints/varlongs (record format), compact lengths stored as N+1.
 *
 * The writer half appends the same primitives to a struct buf. */
#ifndef KT_CURSOR_H
#define KT_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include "util/buf.h"

#define KT_WUR __attribute__((warn_unused_result))

struct cursor {
	const uint8_t *base; /* start of the buffer the window is in */
	size_t pos;          /* next byte to read, relative to base */
	size_t end;          /* one past the last readable byte, relative to base */
	size_t origin;       /* absolute offset of base[0] in the frame, for errors */
};

static inline void cursor_init(struct cursor *c, const uint8_t *p, size_t len)
{
	c->base = p;
	c->pos = 0;
	c->end = len;
	c->origin = 0;
}
/* Bytes left to read. */
static inline size_t cursor_left(const struct cursor *c) { return c->end - c->pos; }
/* Absolute offset of the next byte, counted from the start of the frame. */
static inline size_t cursor_offset(const struct cursor *c) { return c->origin + c->pos; }
/* Pointer to the next byte (for zero-copy views of string/bytes data). */
static inline const uint8_t *cursor_ptr(const struct cursor *c) { return c->base + c->pos; }

/* The readers are inline: they run once per field of every record, and a
 * call per field costs more than the read itself. */

static inline KT_WUR bool cursor_skip(struct cursor *c, size_t n)
{
	if (n > c->end - c->pos)
		return false;
	c->pos += n;
	return true;
}

/* Narrow: `sub` covers the next n bytes; the parent moves past them. */
static inline KT_WUR bool cursor_sub(struct cursor *c, size_t n, struct cursor *sub)
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

/* Zero-copy: *p points at the next n bytes; the cursor moves past them. */
static inline KT_WUR bool cursor_read_bytes(struct cursor *c, size_t n, const uint8_t **p)
{
	if (n > c->end - c->pos)
		return false;
	*p = c->base + c->pos;
	c->pos += n;
	return true;
}

/* Fixed-width big-endian read of n <= 8 bytes (n is a constant at every
 * call, so the loop unrolls). */
static inline KT_WUR bool cursor_read_be(struct cursor *c, size_t n, uint64_t *v)
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

#define CURSOR_READ_FIXED_(name, type, n)                                        \
	static inline KT_WUR bool cursor_read_##name(struct cursor *c, type *v) \
	{                                                                       \
		uint64_t x;                                                     \
		if (!cursor_read_be(c, n, &x))                                 \
			return false;                                           \
		*v = (type)x;                                                   \
		return true;                                                    \
	}
CURSOR_READ_FIXED_(u8, uint8_t, 1)
CURSOR_READ_FIXED_(i8, int8_t, 1)
CURSOR_READ_FIXED_(u16, uint16_t, 2)
CURSOR_READ_FIXED_(i16, int16_t, 2)
CURSOR_READ_FIXED_(u32, uint32_t, 4)
CURSOR_READ_FIXED_(i32, int32_t, 4)
CURSOR_READ_FIXED_(i64, int64_t, 8)
#undef CURSOR_READ_FIXED_

static inline KT_WUR bool cursor_read_f64(struct cursor *c, double *v)
{
	uint64_t x;
	if (!cursor_read_be(c, 8, &x))
		return false;
	memcpy(v, &x, sizeof *v);
	return true;
}

static inline KT_WUR bool cursor_read_uuid(struct cursor *c, uint8_t v[16])
{
	if (16 > c->end - c->pos)
		return false;
	memcpy(v, c->base + c->pos, 16);
	c->pos += 16;
	return true;
}

/* The general varint reader (cursor.c): at most maxbytes bytes, and the
 * last byte may only carry the bits that fit in `bits`. */
bool cursor_read_uvar(struct cursor *c, unsigned maxbytes, unsigned bits, uint64_t *v) KT_WUR;

/* Unsigned varint of at most 5 bytes (32 bits); a longer or overflowing
 * encoding fails. One- and two-byte values (most lengths and deltas) take no
 * call. */
static inline KT_WUR bool cursor_read_uvarint(struct cursor *c, uint32_t *v)
{
	if (c->pos < c->end && c->base[c->pos] < 0x80) {
		*v = c->base[c->pos++];
		return true;
	}
	if (c->end - c->pos >= 2 && c->base[c->pos + 1] < 0x80) {
		*v = (uint32_t)(c->base[c->pos] & 0x7F) | (uint32_t)c->base[c->pos + 1] << 7;
		c->pos += 2;
		return true;
	}
	uint64_t x;
	if (!cursor_read_uvar(c, 5, 32, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

/* Unsigned varlong of at most 10 bytes. */
static inline KT_WUR bool cursor_read_uvarlong(struct cursor *c, uint64_t *v)
{
	if (c->pos < c->end && c->base[c->pos] < 0x80) {
		*v = c->base[c->pos++];
		return true;
	}
	if (c->end - c->pos >= 2 && c->base[c->pos + 1] < 0x80) {
		*v = (uint64_t)(c->base[c->pos] & 0x7F) | (uint64_t)c->base[c->pos + 1] << 7;
		c->pos += 2;
		return true;
	}
	return cursor_read_uvar(c, 10, 64, v);
}

/* Zig-zag signed varint (32 bits) and varlong (64 bits). */
static inline KT_WUR bool cursor_read_varint(struct cursor *c, int32_t *v)
{
	uint32_t x;
	if (!cursor_read_uvarint(c, &x))
		return false;
	*v = (int32_t)((x >> 1) ^ (~(x & 1) + 1));
	return true;
}

static inline KT_WUR bool cursor_read_varlong(struct cursor *c, int64_t *v)
{
	uint64_t x;
	if (!cursor_read_uvarlong(c, &x))
		return false;
	*v = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
	return true;
}

/* Writers. They append to b; failure is sticky in b->failed. */
void cursor_write_u8(struct buf *b, uint8_t v);
void cursor_write_i16(struct buf *b, int16_t v);
void cursor_write_u16(struct buf *b, uint16_t v);
void cursor_write_i32(struct buf *b, int32_t v);
void cursor_write_u32(struct buf *b, uint32_t v);
void cursor_write_i64(struct buf *b, int64_t v);
void cursor_write_f64(struct buf *b, double v);
void cursor_write_uuid(struct buf *b, const uint8_t v[16]);
void cursor_write_uvarint(struct buf *b, uint32_t v);
void cursor_write_uvarlong(struct buf *b, uint64_t v);
void cursor_write_varint(struct buf *b, int32_t v);
void cursor_write_varlong(struct buf *b, int64_t v);
/* Overwrite 4 bytes at `at` (e.g. a size prefix written after the body). */
void cursor_patch_i32(struct buf *b, size_t at, int32_t v);

#endif
