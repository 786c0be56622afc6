/* sha256: a compact SHA-256 (FIPS 180-4), used by the store to replace record
 * values by their digest when recording with --values=hash. Not constant-time
 * and not meant for secrets: SASL credentials are never hashed, only elided. */
#ifndef KT_SHA256_H
#define KT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t len;       /* bytes hashed so far */
	uint8_t block[64];
	size_t fill;        /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *p, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);
/* One-shot digest of p[0..n). */
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);
/* Lower-case hex digest, NUL-terminated (65 bytes). */
void sha256_hex(const void *p, size_t n, char out[2 * SHA256_LEN + 1]);

#endif
