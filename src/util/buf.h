/* buf: a growable byte buffer used for every piece of output kafkatap builds
 * (encoded frames, JSON, text lines). Appends never fail silently: an
 * allocation failure or a size cap sets `failed`, and later appends are
 * no-ops, so callers check once at the end. */
#ifndef KT_BUF_H
#define KT_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

struct buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool failed;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                 /* len = 0, keeps memory */
/* The slow path of buf_reserve: grow (or fail). */
bool buf_grow(struct buf *b, size_t extra);
/* Room for `extra` more bytes (and the NUL of buf_cstr). The fast path is
 * inline: JSON output reserves once per value. */
static inline bool buf_reserve(struct buf *b, size_t extra)
{
	if (__builtin_expect(!b->failed && extra < b->cap - b->len, 1))
		return true;
	return buf_grow(b, extra);
}
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0 || !buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}
static inline void buf_putc(struct buf *b, char c)
{
	if (!buf_reserve(b, 1))
		return;
	b->p[b->len++] = (uint8_t)c;
}
static inline void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* A NUL-terminated view of the contents (the NUL is not counted in len). */
const char *buf_cstr(struct buf *b);

/* JSON helpers: a quoted, escaped string (invalid UTF-8 bytes become \u00XX
 * escapes of the byte value so output is always valid JSON). */
void buf_json_string(struct buf *b, const uint8_t *p, size_t n);
void buf_json_cstr(struct buf *b, const char *s);
/* The fast case of buf_json_string: when every byte is printable ASCII other
 * than '"' and '\\' (so nothing needs escaping and it is valid UTF-8),
 * append it quoted and return true; otherwise append nothing, return false. */
bool buf_json_plain(struct buf *b, const uint8_t *p, size_t n);
void buf_hex(struct buf *b, const uint8_t *p, size_t n);
void buf_base64(struct buf *b, const uint8_t *p, size_t n);
/* True when p[0..n) is valid UTF-8 with no control characters other than
 * tab, newline and carriage return. */
bool buf_is_printable_utf8(const uint8_t *p, size_t n);
/* True when p[0..n) can be printed bare in a line a terminal shows:
 * non-empty, valid UTF-8, no control character (C0, DEL, or C1
 * U+0080-U+009F, which some terminals obey), and no space unless `spaces`.
 * Text from the wire that is not is printed as a JSON string instead. */
bool buf_is_plain_word(const uint8_t *p, size_t n, bool spaces);

#endif
