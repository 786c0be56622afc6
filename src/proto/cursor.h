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

#include "util/buf.h"

#define KT_WUR __attribute__((warn_unused_result))

struct cursor {
	const uint8_t *base; /* start of the buffer the window is in */
	size_t pos;          /* next byte to read, relative to base */
	size_t end;          /* one past the last readable byte, relative to base */
	size_t origin;       /* absolute offset of base[0] in the frame, for errors */
};

void cursor_init(struct cursor *c, const uint8_t *p, size_t len);
/* Bytes left to read. */
static inline size_t cursor_left(const struct cursor *c) { return c->end - c->pos; }
/* Absolute offset of the next byte, counted from the start of the frame. */
static inline size_t cursor_offset(const struct cursor *c) { return c->origin + c->pos; }
/* Pointer to the next byte (for zero-copy views of string/bytes data). */
static inline const uint8_t *cursor_ptr(const struct cursor *c) { return c->base + c->pos; }

bool cursor_skip(struct cursor *c, size_t n) KT_WUR;
/* Narrow: `sub` covers the next n bytes; the parent moves past them. */
bool cursor_sub(struct cursor *c, size_t n, struct cursor *sub) KT_WUR;
/* Zero-copy: *p points at the next n bytes; the cursor moves past them. */
bool cursor_read_bytes(struct cursor *c, size_t n, const uint8_t **p) KT_WUR;

bool cursor_read_u8(struct cursor *c, uint8_t *v) KT_WUR;
bool cursor_read_i8(struct cursor *c, int8_t *v) KT_WUR;
bool cursor_read_i16(struct cursor *c, int16_t *v) KT_WUR;
bool cursor_read_u16(struct cursor *c, uint16_t *v) KT_WUR;
bool cursor_read_i32(struct cursor *c, int32_t *v) KT_WUR;
bool cursor_read_u32(struct cursor *c, uint32_t *v) KT_WUR;
bool cursor_read_i64(struct cursor *c, int64_t *v) KT_WUR;
bool cursor_read_f64(struct cursor *c, double *v) KT_WUR;
bool cursor_read_uuid(struct cursor *c, uint8_t v[16]) KT_WUR;
/* Unsigned varint of at most 5 bytes (32 bits); a longer or overflowing
 * encoding fails. */
bool cursor_read_uvarint(struct cursor *c, uint32_t *v) KT_WUR;
/* Unsigned varlong of at most 10 bytes. */
bool cursor_read_uvarlong(struct cursor *c, uint64_t *v) KT_WUR;
/* Zig-zag signed varint (32 bits) and varlong (64 bits). */
bool cursor_read_varint(struct cursor *c, int32_t *v) KT_WUR;
bool cursor_read_varlong(struct cursor *c, int64_t *v) KT_WUR;

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
