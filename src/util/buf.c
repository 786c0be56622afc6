/* buf: growable byte buffer and JSON/hex/base64 writers. */
#include "config.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No single output object may exceed this: it bounds memory even when a
 * caller loops over hostile counts. */
#define BUF_MAX ((size_t)1 << 31)

void buf_init(struct buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

void buf_free(struct buf *b)
{
	free(b->p);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = false;
}

bool buf_reserve(struct buf *b, size_t extra)
{
	if (b->failed)
		return false;
	/* +1 keeps room for the NUL of buf_cstr(). */
	if (extra < b->cap - b->len)
		return true;
	if (extra > BUF_MAX - b->len - 1) {
		b->failed = true;
		return false;
	}
	size_t need = b->len + extra + 1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0 || !buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void buf_putc(struct buf *b, char c)
{
	if (!buf_reserve(b, 1))
		return;
	b->p[b->len++] = (uint8_t)c;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	if (n < 0) {
		b->failed = true;
	} else if ((size_t)n < sizeof small) {
		buf_append(b, small, (size_t)n);
	} else if (buf_reserve(b, (size_t)n + 1)) {
		vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap2);
		b->len += (size_t)n;
	}
	va_end(ap2);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *buf_cstr(struct buf *b)
{
	if (!buf_reserve(b, 1))
		return "";
	b->p[b->len] = 0;
	return (const char *)b->p;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

bool buf_is_printable_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
		if (p[i] == 0x7F)
			return false;
		size_t l = utf8_seq(p + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

void buf_json_string(struct buf *b, const uint8_t *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	buf_putc(b, '"');
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t l = utf8_seq(p + i, n - i);
		if (c == '"' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
			i++;
		} else if (c == '\n') {
			buf_puts(b, "\\n");
			i++;
		} else if (c == '\r') {
			buf_puts(b, "\\r");
			i++;
		} else if (c == '\t') {
			buf_puts(b, "\\t");
			i++;
		} else if (c < 0x20 || c == 0x7F || l == 0) {
			char e[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
			buf_append(b, e, 6);
			i++;
		} else {
			buf_append(b, p + i, l);
			i += l;
		}
	}
	buf_putc(b, '"');
}

void buf_json_cstr(struct buf *b, const char *s)
{
	buf_json_string(b, (const uint8_t *)s, strlen(s));
}

void buf_hex(struct buf *b, const uint8_t *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	if (n > (BUF_MAX / 2) || !buf_reserve(b, n * 2))
		return;
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = (uint8_t)hexd[p[i] >> 4];
		b->p[b->len++] = (uint8_t)hexd[p[i] & 15];
	}
}

void buf_base64(struct buf *b, const uint8_t *p, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (n > (BUF_MAX / 2) || !buf_reserve(b, (n + 2) / 3 * 4))
		return;
	size_t i = 0;
	while (n - i >= 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		b->p[b->len++] = (uint8_t)tbl[v >> 18];
		b->p[b->len++] = (uint8_t)tbl[(v >> 12) & 63];
		b->p[b->len++] = (uint8_t)tbl[(v >> 6) & 63];
		b->p[b->len++] = (uint8_t)tbl[v & 63];
		i += 3;
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		b->p[b->len++] = (uint8_t)tbl[v >> 18];
		b->p[b->len++] = (uint8_t)tbl[(v >> 12) & 63];
		b->p[b->len++] = '=';
		b->p[b->len++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		b->p[b->len++] = (uint8_t)tbl[v >> 18];
		b->p[b->len++] = (uint8_t)tbl[(v >> 12) & 63];
		b->p[b->len++] = (uint8_t)tbl[(v >> 6) & 63];
		b->p[b->len++] = '=';
	}
}
