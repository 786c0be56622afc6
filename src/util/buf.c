/* buf: growable byte buffer and JSON/hex/base64 writers. */
#include "config.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

bool buf_grow(struct buf *b, size_t extra)
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

/* Eight bytes at a time: true when every byte is printable ASCII
 * (0x20..0x7e) other than '"' and '\\' (JSON-safe) — the common case of
 * keys and values, checked without a branch per byte. */
static inline bool plain8(const uint8_t *p, bool json)
{
	uint64_t v;
	memcpy(&v, p, 8);
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	/* a byte < 0x20, a byte >= 0x7f (0x7f itself and non-ASCII) */
	uint64_t lt20 = (v - ones * 0x20) & ~v & high;
	uint64_t ge7f = (v + ones * 0x01) & high;
	ge7f |= v & high;
	if (lt20 | ge7f)
		return false;
	if (!json)
		return true;
	uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
	uint64_t hasq = (q - ones) & ~q & high, hasbs = (bs - ones) & ~bs & high;
	return !(hasq | hasbs);
}

/* Length of the leading run of "plain" bytes: printable ASCII other than '"'
 * and '\\', which JSON takes as they are. Keys and values of real traffic
 * are mostly that, so the run is checked 16 bytes at a time with SSE2
 * (baseline on x86-64), else 8 at a time. */
static size_t plain_run(const uint8_t *p, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
	const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	while (n - i >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		/* Signed compare: bytes >= 0x80 are negative, so below 0x20 too. */
		__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, sp), _mm_cmpeq_epi8(v, del)),
					   _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
		unsigned m = (unsigned)_mm_movemask_epi8(bad);
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
#endif
	while (n - i >= 8 && plain8(p + i, true))
		i += 8;
	while (i < n && p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\')
		i++;
	return i;
}

bool buf_is_printable_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		i += plain_run(p + i, n - i);
		if (i == n)
			break;
		uint8_t c = p[i];
		/* '"' and '\\' end a plain run but are printable. */
		if (c >= 0x20 && c < 0x7F) {
			i++;
			continue;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return false;
		if (c == 0x7F)
			return false;
		size_t l = c < 0x80 ? 1 : utf8_seq(p + i, n - i);
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

bool buf_is_plain_word(const uint8_t *p, size_t n, bool spaces)
{
	if (n == 0 || !buf_is_printable_utf8(p, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < ' ' || (p[i] == ' ' && !spaces) || p[i] == 0x7f ||
		    (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0))
			return false;
	return true;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The SSE2 loop below, 32 bytes a step: record values of a few hundred
 * bytes are most of `decode --json`'s output. n >= 32. */
__attribute__((target("avx2"))) static bool plain_copy_avx2(uint8_t *o, const uint8_t *p, size_t n)
{
	const __m256i sp = _mm256_set1_epi8(0x20), del = _mm256_set1_epi8(0x7f);
	const __m256i q = _mm256_set1_epi8('"'), bs = _mm256_set1_epi8('\\');
	size_t i = 0;
	for (;;) {
		if (n - i < 32)
			i = n - 32;
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
		/* Signed compares: bytes >= 0x80 are negative, so below 0x20 too. */
		__m256i bad = _mm256_or_si256(
			_mm256_or_si256(_mm256_cmpgt_epi8(sp, v), _mm256_cmpeq_epi8(v, del)),
			_mm256_or_si256(_mm256_cmpeq_epi8(v, q), _mm256_cmpeq_epi8(v, bs)));
		if (_mm256_movemask_epi8(bad))
			return false;
		_mm256_storeu_si256((__m256i *)(void *)(o + i), v);
		i += 32;
		if (i == n)
			return true;
	}
}
#define HAVE_PLAIN_AVX2 1
#endif

bool buf_json_plain(struct buf *b, const uint8_t *p, size_t n)
{
	if (n > BUF_MAX - 3) {
		b->failed = true;
		return plain_run(p, n) == n;
	}
	if (!buf_reserve(b, n + 2))
		return plain_run(p, n) == n;
	/* Check and copy in one pass; b->len moves only when all of it was
	 * plain, so a refusal leaves nothing behind. */
	uint8_t *o = b->p + b->len + 1;
	size_t i = 0;
#ifdef HAVE_PLAIN_AVX2
	/* __builtin_cpu_supports is a load and a bit test once initialised. */
	if (n >= 32 && __builtin_cpu_supports("avx2")) {
		if (!plain_copy_avx2(o, p, n))
			return false;
		i = n;
	}
#endif
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
	const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
	if (n >= 16 && i < n) {
		/* 16 bytes a step; the last step overlaps the one before it
		 * instead of finishing byte by byte. */
		for (;;) {
			if (n - i < 16)
				i = n - 16;
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			__m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, sp), _mm_cmpeq_epi8(v, del)),
						   _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
			if (_mm_movemask_epi8(bad))
				return false;
			_mm_storeu_si128((__m128i *)(void *)(o + i), v);
			i += 16;
			if (i == n)
				break;
		}
	}
#endif
	while (n - i >= 16) {
		if (!plain8(p + i, true))
			return false;
		memcpy(o + i, p + i, 8);
		i += 8;
	}
	if (n - i >= 8) {
		/* 8 to 15 bytes: two overlapping 8-byte steps. */
		if (!plain8(p + i, true) || !plain8(p + n - 8, true))
			return false;
		memcpy(o + i, p + i, 8);
		memcpy(o + n - 8, p + n - 8, 8);
		i = n;
	}
	for (; i < n; i++) {
		uint8_t c = p[i];
		if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
			return false;
		o[i] = c;
	}
	o[-1] = '"';
	o[n] = '"';
	b->len += n + 2;
	return true;
}

void buf_json_string(struct buf *b, const uint8_t *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	/* Reserve the worst case (every byte a 6-byte escape) once, then write
	 * straight into the buffer. */
	if (n > (BUF_MAX - 3) / 6) {
		b->failed = true;
		return;
	}
	if (!buf_reserve(b, n * 6 + 2))
		return;
	uint8_t *o = b->p + b->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = plain_run(p + i, n - i);
		memcpy(o, p + i, run);
		o += run;
		i += run;
		if (i == n)
			break;
		uint8_t c = p[i];
		size_t l = c >= 0x80 ? utf8_seq(p + i, n - i) : 0;
		if (l == 2 && c == 0xc2 && p[i + 1] < 0xa0) {
			/* A C1 control (U+0080-U+009F): valid JSON as it is, but some
			 * terminals obey it (U+009B is CSI), and this text is printed. */
			memcpy(o, "\\u00", 4);
			o[4] = (uint8_t)hexd[p[i + 1] >> 4];
			o[5] = (uint8_t)hexd[p[i + 1] & 15];
			o += 6;
			i += 2;
			continue;
		}
		if (l) {
			memcpy(o, p + i, l);
			o += l;
			i += l;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = c;
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = (uint8_t)hexd[c >> 4];
			*o++ = (uint8_t)hexd[c & 15];
		}
		i++;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
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
