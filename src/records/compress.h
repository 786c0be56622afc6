/* compress: the four record-data codecs Kafka uses, in both directions.
 *
 * Codec ids are those of the attributes field (protocol guide, "Record
 * Batch": bits 0-2; "Old Message Format": the same ids for magic 0/1):
 *   1 gzip    RFC 1952 gzip members (Java's GZIPOutputStream).
 *   2 snappy  either one raw snappy block (librdkafka) or the xerial
 *             snappy-java stream framing the Java client writes:
 *             "\x82SNAPPY\0", int32 version, int32 compatible version, then
 *             [int32 length][raw snappy block]...  Both decode.
 *   3 lz4     the LZ4 frame format. Kafka before 0.10 (magic 0 sets) wrote a
 *             wrong header checksum, taken over the 4 magic bytes as well as
 *             the frame descriptor (KAFKA-3160); decoding accepts it.
 *   4 zstd    zstd frames (KIP-110).
 *
 * Decoding is bounded: it stops as soon as the output would exceed `limit`
 * bytes, so a decompression bomb costs at most `limit` bytes of memory. A
 * codec whose library was not found by configure reports
 * COMPRESS_UNSUPPORTED ("lz4 support not built in"). */
#ifndef KT_COMPRESS_H
#define KT_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "util/buf.h"

enum compress_codec {
	COMPRESS_NONE = 0,
	COMPRESS_GZIP = 1,
	COMPRESS_SNAPPY = 2,
	COMPRESS_LZ4 = 3,
	COMPRESS_ZSTD = 4,
};

enum compress_status {
	COMPRESS_OK = 0,
	COMPRESS_UNSUPPORTED, /* unknown codec id, or its library is not built in */
	COMPRESS_CORRUPT,     /* the compressed data is damaged or truncated */
	COMPRESS_LIMIT,       /* the output would exceed the caller's limit */
	COMPRESS_NOMEM,       /* out of memory */
};

/* "none", "gzip", "snappy", "lz4", "zstd"; NULL for other ids. */
const char *compress_name(int codec);
/* True when this build can decode and encode the codec (0 always is). */
bool compress_built_in(int codec);

/* Decompress in[0..inlen) and append the result to `out`, writing at most
 * `limit` bytes. On failure `out` keeps what was produced and err (if not
 * NULL) gets a message without location, e.g. "zstd: Data corruption
 * detected" or "snappy support not built in". */
enum compress_status compress_decode(int codec, const uint8_t *in, size_t inlen, size_t limit,
				     struct buf *out, char *err, size_t errlen);

/* The gzip and lz4 decoders keep one context per thread (freed when the
 * thread ends; zstd makes a new one per call, compress.c says why). A
 * long-lived thread that is done decoding may free them now. */
void compress_release_thread(void);

/* Encoder flags. */
#define COMPRESS_ENC_SNAPPY_RAW 0x01    /* one raw snappy block, not xerial framing */
#define COMPRESS_ENC_LZ4_KAFKA_HC 0x02  /* the pre-0.10 (KAFKA-3160) lz4 header checksum */

/* Compress in[0..inlen) with `codec` and append to `out`. Snappy is written in
 * xerial framing with 32 KiB blocks (as the Java client does) unless
 * COMPRESS_ENC_SNAPPY_RAW; lz4 as one frame of independent 64 KiB blocks
 * (as the Java client does). COMPRESS_NONE copies. False on an unknown or
 * not-built-in codec, a library error, or when `out` failed. */
bool compress_encode(int codec, const uint8_t *in, size_t inlen, unsigned flags,
		     struct buf *out);

#endif
