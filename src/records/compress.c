/* compress: gzip, snappy (raw and xerial), lz4 (frame, incl. the KAFKA-3160
 * header checksum) and zstd for record data (see compress.h).
 *
 * Every decoder streams into `out` in pieces and checks the running size
 * against the caller's limit after each piece, so it never holds more than
 * limit + one piece, whatever the compressed data claims. Snappy is the
 * exception that proves the rule: a raw block states its decompressed size
 * up front, which is checked before anything is allocated. */
#include "config.h"
#include "records/compress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef HAVE_SNAPPY
#include <snappy-c.h>
#endif
#ifdef HAVE_LZ4
#include <lz4frame.h>
#endif
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

/* struct buf cannot hold more than 2 GiB; limits beyond that mean "up to that". */
#define OUT_MAX (((size_t)1 << 31) - 2)
/* For helpers that a build with no streaming codec (gzip, lz4, zstd) lacks. */
#define MAYBE_UNUSED __attribute__((unused))
/* The first output piece; later pieces double the output so far. */
#define FIRST_PIECE (64u * 1024)

static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};

const char *compress_name(int codec)
{
	if (codec < 0 || codec > COMPRESS_ZSTD)
		return NULL;
	return names[codec];
}

bool compress_built_in(int codec)
{
	switch (codec) {
	case COMPRESS_NONE:
		return true;
#ifdef HAVE_ZLIB
	case COMPRESS_GZIP:
		return true;
#endif
#ifdef HAVE_SNAPPY
	case COMPRESS_SNAPPY:
		return true;
#endif
#ifdef HAVE_LZ4
	case COMPRESS_LZ4:
		return true;
#endif
#ifdef HAVE_ZSTD
	case COMPRESS_ZSTD:
		return true;
#endif
	default:
		return false;
	}
}

static enum compress_status fail(enum compress_status st, char *err, size_t errlen,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum compress_status fail(enum compress_status st, char *err, size_t errlen,
				 const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* Output state shared by the streaming decoders: `base` is out->len when the
 * call started, so the limit applies to what this call adds. */
struct sink {
	struct buf *out;
	size_t base;
	size_t limit;
};

static size_t sink_produced(const struct sink *s) { return s->out->len - s->base; }

/* Room for the next piece: at most limit + 1 bytes in total, so that a
 * decoder which fills it shows the limit was crossed. False on no memory. */
static MAYBE_UNUSED bool sink_room(struct sink *s, uint8_t **dst, size_t *room)
{
	struct buf *b = s->out;
	size_t produced = sink_produced(s);
	size_t allowed = s->limit + 1 - produced; /* produced <= limit here */
	size_t want = produced < FIRST_PIECE ? FIRST_PIECE : produced;
	if (want > allowed)
		want = allowed;
	/* buf keeps one byte spare for a NUL; stay clear of it. */
	if (b->cap - b->len <= want && !buf_reserve(b, want))
		return false;
	size_t have = b->cap - b->len - 1;
	*dst = b->p + b->len;
	*room = have < allowed ? have : allowed;
	return true;
}

static MAYBE_UNUSED enum compress_status sink_over(const struct sink *s, const char *codec,
						   char *err, size_t errlen)
{
	return fail(COMPRESS_LIMIT, err, errlen, "%s data decompresses to more than %zu bytes",
		    codec, s->limit);
}

/* ---- per-thread decoder contexts ----
 * Creating an lz4 context (and zlib's window) costs about as much as
 * decompressing a typical 16-64 KiB batch, so each thread keeps one of each
 * and resets it between uses. A reset one decodes exactly as a new one does:
 * what bounds a decode (lz4's block size, zlib's 32 KiB window) comes from
 * the frame or the init, not from what the context decoded before.
 * pthread_key's destructor frees them when the thread ends;
 * compress_release_thread() frees them earlier. When the cache cannot be set
 * up, a decoder falls back to a context of its own.
 *
 * zstd is not cached: see zstd_decode. */
struct dcache {
#ifdef HAVE_ZLIB
	z_stream zs;
	bool zs_ready;
#endif
#ifdef HAVE_LZ4
	LZ4F_dctx *lz4;
#endif
	int unused_;
};

static pthread_key_t dcache_key;
static bool dcache_key_ok;
static pthread_once_t dcache_once = PTHREAD_ONCE_INIT;

static void dcache_free(void *p)
{
	struct dcache *c = p;
	if (!c)
		return;
#ifdef HAVE_ZLIB
	if (c->zs_ready)
		inflateEnd(&c->zs);
#endif
#ifdef HAVE_LZ4
	if (c->lz4)
		LZ4F_freeDecompressionContext(c->lz4);
#endif
	free(c);
}

static void dcache_make_key(void) { dcache_key_ok = pthread_key_create(&dcache_key, dcache_free) == 0; }

static MAYBE_UNUSED struct dcache *dcache_get(void)
{
	pthread_once(&dcache_once, dcache_make_key);
	if (!dcache_key_ok)
		return NULL;
	struct dcache *c = pthread_getspecific(dcache_key);
	if (!c) {
		c = calloc(1, sizeof *c);
		if (c && pthread_setspecific(dcache_key, c) != 0) {
			free(c);
			c = NULL;
		}
	}
	return c;
}

void compress_release_thread(void)
{
	pthread_once(&dcache_once, dcache_make_key);
	if (!dcache_key_ok)
		return;
	dcache_free(pthread_getspecific(dcache_key));
	pthread_setspecific(dcache_key, NULL);
}

/* ---- gzip ---- */
#ifdef HAVE_ZLIB
static enum compress_status gzip_decode(const uint8_t *in, size_t inlen, struct sink *s,
					char *err, size_t errlen)
{
	if (inlen > UINT32_MAX)
		return fail(COMPRESS_CORRUPT, err, errlen, "gzip: input too large");
	struct dcache *dc = dcache_get();
	z_stream own, *zp = dc ? &dc->zs : &own;
	if (dc && dc->zs_ready) {
		inflateReset(zp);
	} else {
		memset(zp, 0, sizeof *zp);
		/* 15 + 16: a gzip wrapper, which is what Kafka clients write. */
		if (inflateInit2(zp, 15 + 16) != Z_OK)
			return fail(COMPRESS_NOMEM, err, errlen, "gzip: out of memory");
		if (dc)
			dc->zs_ready = true;
	}
	zp->next_in = (Bytef *)(uintptr_t)in;
	zp->avail_in = (uInt)inlen;
	enum compress_status st = COMPRESS_OK;
	for (;;) {
		uint8_t *dst;
		size_t room;
		if (!sink_room(s, &dst, &room)) {
			st = fail(COMPRESS_NOMEM, err, errlen, "gzip: out of memory");
			break;
		}
		if (room > UINT32_MAX)
			room = UINT32_MAX;
		zp->next_out = dst;
		zp->avail_out = (uInt)room;
		int r = inflate(zp, Z_NO_FLUSH);
		s->out->len += room - zp->avail_out;
		if (sink_produced(s) > s->limit) {
			st = sink_over(s, "gzip", err, errlen);
			break;
		}
		if (r == Z_STREAM_END) {
			if (zp->avail_in == 0)
				break;
			/* Concatenated members are one stream (as Java's GZIPInputStream
			 * reads them); anything else after the end is damage. */
			if (zp->avail_in >= 2 && zp->next_in[0] == 0x1f && zp->next_in[1] == 0x8b) {
				inflateReset(zp);
				continue;
			}
			st = fail(COMPRESS_CORRUPT, err, errlen,
				  "gzip: %u bytes of garbage after the compressed data", zp->avail_in);
			break;
		}
		if (r == Z_BUF_ERROR || (r == Z_OK && zp->avail_in == 0 && zp->avail_out > 0)) {
			st = fail(COMPRESS_CORRUPT, err, errlen, "gzip: compressed data ends early");
			break;
		}
		if (r != Z_OK) {
			st = fail(r == Z_MEM_ERROR ? COMPRESS_NOMEM : COMPRESS_CORRUPT, err, errlen,
				  "gzip: %s", zp->msg ? zp->msg : "invalid data");
			break;
		}
	}
	if (!dc)
		inflateEnd(zp);
	return st;
}

static bool gzip_encode(const uint8_t *in, size_t inlen, struct buf *out)
{
	if (inlen > UINT32_MAX / 2)
		return false;
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return false;
	uLong bound = deflateBound(&zs, (uLong)inlen) + 32;
	bool ok = buf_reserve(out, bound);
	if (ok) {
		zs.next_in = (Bytef *)(uintptr_t)in;
		zs.avail_in = (uInt)inlen;
		zs.next_out = out->p + out->len;
		zs.avail_out = (uInt)bound;
		ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
		if (ok)
			out->len += bound - zs.avail_out;
	}
	deflateEnd(&zs);
	return ok;
}
#endif

/* ---- snappy ---- */
#ifdef HAVE_SNAPPY
static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER 16
#define XERIAL_BLOCK (32u * 1024)

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One raw snappy block, whose varint prefix states its decompressed size. */
static enum compress_status snappy_block(const uint8_t *in, size_t inlen, struct sink *s,
					 unsigned blockno, char *err, size_t errlen)
{
	size_t n;
	if (snappy_uncompressed_length((const char *)in, inlen, &n) != SNAPPY_OK)
		return fail(COMPRESS_CORRUPT, err, errlen, "snappy: block %u has a bad length header",
			    blockno);
	if (n > s->limit - sink_produced(s))
		return fail(COMPRESS_LIMIT, err, errlen,
			    "snappy data decompresses to more than %zu bytes", s->limit);
	if (!buf_reserve(s->out, n))
		return fail(COMPRESS_NOMEM, err, errlen, "snappy: out of memory");
	size_t got = n;
	if (snappy_uncompress((const char *)in, inlen, (char *)s->out->p + s->out->len, &got) !=
		    SNAPPY_OK ||
	    got != n)
		return fail(COMPRESS_CORRUPT, err, errlen, "snappy: block %u is corrupt", blockno);
	s->out->len += n;
	return COMPRESS_OK;
}

static enum compress_status snappy_decode(const uint8_t *in, size_t inlen, struct sink *s,
					  char *err, size_t errlen)
{
	if (inlen < XERIAL_HEADER || memcmp(in, xerial_magic, sizeof xerial_magic) != 0)
		return snappy_block(in, inlen, s, 0, err, errlen);
	/* xerial: the version ints after the magic are not checked, as
	 * snappy-java itself only refuses a compatible version below 1. */
	size_t pos = XERIAL_HEADER;
	unsigned blockno = 0;
	while (pos < inlen) {
		if (4 > inlen - pos)
			return fail(COMPRESS_CORRUPT, err, errlen,
				    "snappy: xerial block %u length cut short", blockno);
		uint32_t n = load_be32(in + pos);
		pos += 4;
		if (n > inlen - pos)
			return fail(COMPRESS_CORRUPT, err, errlen,
				    "snappy: xerial block %u length %u exceeds the %zu bytes left",
				    blockno, n, inlen - pos);
		enum compress_status st = snappy_block(in + pos, n, s, blockno, err, errlen);
		if (st != COMPRESS_OK)
			return st;
		pos += n;
		blockno++;
	}
	return COMPRESS_OK;
}

static bool snappy_encode(const uint8_t *in, size_t inlen, unsigned flags, struct buf *out)
{
	if (flags & COMPRESS_ENC_SNAPPY_RAW) {
		size_t n = snappy_max_compressed_length(inlen);
		if (!buf_reserve(out, n))
			return false;
		if (snappy_compress((const char *)in, inlen, (char *)out->p + out->len, &n) !=
		    SNAPPY_OK)
			return false;
		out->len += n;
		return true;
	}
	static const uint8_t ver[8] = {0, 0, 0, 1, 0, 0, 0, 1}; /* version 1, compatible 1 */
	buf_append(out, xerial_magic, sizeof xerial_magic);
	buf_append(out, ver, sizeof ver);
	for (size_t pos = 0; pos < inlen;) {
		size_t k = inlen - pos < XERIAL_BLOCK ? inlen - pos : XERIAL_BLOCK;
		size_t n = snappy_max_compressed_length(k);
		if (!buf_reserve(out, 4 + n))
			return false;
		size_t at = out->len;
		out->len += 4;
		if (snappy_compress((const char *)in + pos, k, (char *)out->p + out->len, &n) !=
		    SNAPPY_OK)
			return false;
		out->p[at] = (uint8_t)(n >> 24);
		out->p[at + 1] = (uint8_t)(n >> 16);
		out->p[at + 2] = (uint8_t)(n >> 8);
		out->p[at + 3] = (uint8_t)n;
		out->len += n;
		pos += k;
	}
	return !out->failed;
}
#endif

/* ---- lz4 ---- */
#ifdef HAVE_LZ4
#define LZ4_MAGIC 0x184D2204u

/* xxHash32 (Yann Collet's spec), needed to recompute the lz4 frame header
 * checksum; liblz4 keeps its copy private. */
#define XXP1 2654435761u
#define XXP2 2246822519u
#define XXP3 3266489917u
#define XXP4 668265263u
#define XXP5 374761393u

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t xxh_round(uint32_t acc, uint32_t in)
{
	acc += in * XXP2;
	return rotl32(acc, 13) * XXP1;
}

static uint32_t xxh32(const uint8_t *p, size_t len, uint32_t seed)
{
	size_t i = 0;
	uint32_t h;
	if (len >= 16) {
		uint32_t v1 = seed + XXP1 + XXP2, v2 = seed + XXP2, v3 = seed, v4 = seed - XXP1;
		for (; len - i >= 16; i += 16) {
			v1 = xxh_round(v1, load_le32(p + i));
			v2 = xxh_round(v2, load_le32(p + i + 4));
			v3 = xxh_round(v3, load_le32(p + i + 8));
			v4 = xxh_round(v4, load_le32(p + i + 12));
		}
		h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
	} else {
		h = seed + XXP5;
	}
	h += (uint32_t)len;
	for (; len - i >= 4; i += 4)
		h = rotl32(h + load_le32(p + i) * XXP3, 17) * XXP4;
	for (; i < len; i++)
		h = rotl32(h + p[i] * XXP5, 11) * XXP1;
	h ^= h >> 15;
	h *= XXP2;
	h ^= h >> 13;
	h *= XXP3;
	h ^= h >> 16;
	return h;
}

/* Length of an lz4 frame header (magic .. HC) at p, or 0 if p[0..n) does not
 * hold a whole one. Layout: magic(4) FLG BD [content size(8)] [dict id(4)] HC. */
static size_t lz4_header_len(const uint8_t *p, size_t n)
{
	if (n < 7 || load_le32(p) != LZ4_MAGIC)
		return 0;
	size_t len = 4 + 2 + ((p[4] & 0x08) ? 8 : 0) + ((p[4] & 0x01) ? 4 : 0) + 1;
	return len <= n ? len : 0;
}

static uint8_t lz4_hc(const uint8_t *p, size_t n) { return (uint8_t)(xxh32(p, n, 0) >> 8); }

/* KAFKA-3160: when the header checksum at p is the old Kafka one (taken from
 * the magic bytes on), write a corrected header copy to fixed[] and return its
 * length; else 0 (a correct or otherwise wrong checksum is left to liblz4). */
static size_t lz4_fix_header(const uint8_t *p, size_t n, uint8_t fixed[19])
{
	size_t len = lz4_header_len(p, n);
	if (len == 0)
		return 0;
	uint8_t hc = p[len - 1];
	uint8_t good = lz4_hc(p + 4, len - 5);
	if (hc == good || hc != lz4_hc(p, len - 1))
		return 0;
	memcpy(fixed, p, len);
	fixed[len - 1] = good;
	return len;
}

static enum compress_status lz4_decode(const uint8_t *in, size_t inlen, struct sink *s,
				       char *err, size_t errlen)
{
	struct dcache *dc = dcache_get();
	LZ4F_dctx *dctx = dc ? dc->lz4 : NULL;
	if (dctx) {
		LZ4F_resetDecompressionContext(dctx);
	} else {
		if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
			return fail(COMPRESS_NOMEM, err, errlen, "lz4: out of memory");
		if (dc)
			dc->lz4 = dctx;
	}
	enum compress_status st = COMPRESS_OK;
	size_t pos = 0;
	unsigned frame = 0;
	/* One iteration per frame; Kafka writes one, but concatenation is legal. */
	while (st == COMPRESS_OK && pos < inlen) {
		uint8_t fixed[19];
		size_t hlen = lz4_fix_header(in + pos, inlen - pos, fixed);
		if (hlen) {
			uint8_t dummy;
			size_t srcn = hlen, dstn = 0;
			size_t r = LZ4F_decompress(dctx, &dummy, &dstn, fixed, &srcn, NULL);
			if (LZ4F_isError(r) || srcn != hlen) {
				st = fail(COMPRESS_CORRUPT, err, errlen, "lz4: frame %u: %s", frame,
					  LZ4F_isError(r) ? LZ4F_getErrorName(r) : "bad header");
				break;
			}
			pos += hlen;
		}
		for (;;) {
			uint8_t *dst;
			size_t room;
			if (!sink_room(s, &dst, &room)) {
				st = fail(COMPRESS_NOMEM, err, errlen, "lz4: out of memory");
				break;
			}
			size_t srcn = inlen - pos, dstn = room;
			size_t r = LZ4F_decompress(dctx, dst, &dstn, in + pos, &srcn, NULL);
			if (LZ4F_isError(r)) {
				st = fail(COMPRESS_CORRUPT, err, errlen, "lz4: frame %u: %s", frame,
					  LZ4F_getErrorName(r));
				break;
			}
			pos += srcn;
			s->out->len += dstn;
			if (sink_produced(s) > s->limit) {
				st = sink_over(s, "lz4", err, errlen);
				break;
			}
			if (r == 0)
				break; /* frame complete */
			if (pos == inlen && dstn < room) {
				st = fail(COMPRESS_CORRUPT, err, errlen,
					  "lz4: frame %u: compressed data ends early", frame);
				break;
			}
		}
		frame++;
	}
	if (!dc)
		LZ4F_freeDecompressionContext(dctx);
	return st;
}

static bool lz4_encode(const uint8_t *in, size_t inlen, unsigned flags, struct buf *out)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	size_t bound = LZ4F_compressFrameBound(inlen, &prefs);
	if (!buf_reserve(out, bound))
		return false;
	uint8_t *dst = out->p + out->len;
	size_t r = LZ4F_compressFrame(dst, bound, in, inlen, &prefs);
	if (LZ4F_isError(r))
		return false;
	if (flags & COMPRESS_ENC_LZ4_KAFKA_HC) {
		size_t hlen = lz4_header_len(dst, r);
		if (hlen == 0)
			return false;
		dst[hlen - 1] = lz4_hc(dst, hlen - 1);
	}
	out->len += r;
	return true;
}
#endif

/* ---- zstd ---- */
#ifdef HAVE_ZSTD
static enum compress_status zstd_decode(const uint8_t *in, size_t inlen, struct sink *s,
					char *err, size_t errlen)
{
	/* A new context every time, not a reset cached one. A context keeps
	 * the stream buffers it grew for earlier frames (a reset keeps them;
	 * zstd shrinks them only after 128 frames that need less), and decodes
	 * a block into as much of them as there is. So a damaged frame failed
	 * with "Destination buffer is too small" in a new context but with
	 * "Data corruption detected" after a frame with a large window: the
	 * same batch decoded differently depending on what the thread had
	 * decoded before (test_records' test_history). Creating one is cheap:
	 * a 16 KiB batch in Java's form (no content size, 2 MiB window) took
	 * 0.4% more instructions than with the cached context, a 64 KiB one
	 * 0.1% (callgrind). */
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (!d)
		return fail(COMPRESS_NOMEM, err, errlen, "zstd: out of memory");
	/* The window a frame may ask for stays at zstd's default bound (2^27):
	 * Java's streaming compressor at level 22 uses all of it. */
	ZSTD_inBuffer ib = {in, inlen, 0};
	enum compress_status st = COMPRESS_OK;
	size_t last = 1;
	for (;;) {
		if (ib.pos == ib.size && last == 0)
			break;
		uint8_t *dst;
		size_t room;
		if (!sink_room(s, &dst, &room)) {
			st = fail(COMPRESS_NOMEM, err, errlen, "zstd: out of memory");
			break;
		}
		ZSTD_outBuffer ob = {dst, room, 0};
		size_t r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r)) {
			st = fail(COMPRESS_CORRUPT, err, errlen, "zstd: %s", ZSTD_getErrorName(r));
			break;
		}
		s->out->len += ob.pos;
		if (sink_produced(s) > s->limit) {
			st = sink_over(s, "zstd", err, errlen);
			break;
		}
		last = r;
		if (ib.pos == ib.size && r != 0 && ob.pos < room) {
			st = fail(COMPRESS_CORRUPT, err, errlen, "zstd: compressed data ends early");
			break;
		}
	}
	ZSTD_freeDCtx(d);
	return st;
}

static bool zstd_encode(const uint8_t *in, size_t inlen, struct buf *out)
{
	size_t bound = ZSTD_compressBound(inlen);
	if (!buf_reserve(out, bound))
		return false;
	size_t r = ZSTD_compress(out->p + out->len, bound, in, inlen, ZSTD_CLEVEL_DEFAULT);
	if (ZSTD_isError(r))
		return false;
	out->len += r;
	return true;
}
#endif

enum compress_status compress_decode(int codec, const uint8_t *in, size_t inlen, size_t limit,
				     struct buf *out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (out->failed)
		return fail(COMPRESS_NOMEM, err, errlen, "output buffer failed");
	struct sink s = {out, out->len, limit > OUT_MAX ? OUT_MAX : limit};
	if (codec != COMPRESS_NONE && inlen == 0)
		return fail(COMPRESS_CORRUPT, err, errlen, "%s: no compressed data",
			    compress_name(codec) ? compress_name(codec) : "?");
	switch (codec) {
	case COMPRESS_NONE:
		if (inlen > s.limit)
			return fail(COMPRESS_LIMIT, err, errlen, "data exceeds %zu bytes", s.limit);
		buf_append(out, in, inlen);
		return out->failed ? fail(COMPRESS_NOMEM, err, errlen, "out of memory") : COMPRESS_OK;
#ifdef HAVE_ZLIB
	case COMPRESS_GZIP:
		return gzip_decode(in, inlen, &s, err, errlen);
#endif
#ifdef HAVE_SNAPPY
	case COMPRESS_SNAPPY:
		return snappy_decode(in, inlen, &s, err, errlen);
#endif
#ifdef HAVE_LZ4
	case COMPRESS_LZ4:
		return lz4_decode(in, inlen, &s, err, errlen);
#endif
#ifdef HAVE_ZSTD
	case COMPRESS_ZSTD:
		return zstd_decode(in, inlen, &s, err, errlen);
#endif
	default:
		if (compress_name(codec))
			return fail(COMPRESS_UNSUPPORTED, err, errlen, "%s support not built in",
				    compress_name(codec));
		return fail(COMPRESS_UNSUPPORTED, err, errlen, "unknown compression codec %d",
			    codec);
	}
}

bool compress_encode(int codec, const uint8_t *in, size_t inlen, unsigned flags,
		     struct buf *out)
{
	if (out->failed)
		return false;
	bool ok;
	switch (codec) {
	case COMPRESS_NONE:
		buf_append(out, in, inlen);
		ok = true;
		break;
#ifdef HAVE_ZLIB
	case COMPRESS_GZIP:
		ok = gzip_encode(in, inlen, out);
		break;
#endif
#ifdef HAVE_SNAPPY
	case COMPRESS_SNAPPY:
		ok = snappy_encode(in, inlen, flags, out);
		break;
#endif
#ifdef HAVE_LZ4
	case COMPRESS_LZ4:
		ok = lz4_encode(in, inlen, flags, out);
		break;
#endif
#ifdef HAVE_ZSTD
	case COMPRESS_ZSTD:
		ok = zstd_encode(in, inlen, out);
		break;
#endif
	default:
		ok = false;
		break;
	}
	return ok && !out->failed;
}
