/* crc32c: the two checksums Kafka puts on record data.
 *
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) covers a magic-2
 * RecordBatch from its attributes to its end (protocol guide, "Record Batch").
 * CRC-32 (IEEE 802.3, zlib's crc32(), reflected polynomial 0xEDB88320) covers
 * a magic 0/1 message from its magic byte to the end of its value ("Old
 * Message Format").
 *
 * Both take and return the finalised value, so a checksum can be computed in
 * pieces: crc = crc32c_update(crc32c_update(0, a, n), b, m). */
#ifndef KT_CRC32C_H
#define KT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C: uses the SSE4.2 crc32 instruction when the CPU has it, else
 * slicing-by-8 tables. */
uint32_t crc32c_update(uint32_t crc, const uint8_t *p, size_t n);
/* The portable table-driven path alone (for tests that compare the two). */
uint32_t crc32c_update_sw(uint32_t crc, const uint8_t *p, size_t n);
/* CRC-32 (IEEE), identical to zlib's crc32(); zlib's is used when built in. */
uint32_t crc32c_ieee_update(uint32_t crc, const uint8_t *p, size_t n);

#endif
