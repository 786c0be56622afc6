/* extract: what the store keeps of one exchange, computed on the store's
 * decoding thread — the request's client id, the first error code of the
 * response, the JSON of both bodies (as `kafkatap decode --json` prints them, without
 * the batches' records where they are rows of the records table),
 * the raw frames as they may be kept, and the records of Produce requests and
 * Fetch responses (docs/store.md, "What is stored").
 *
 * Redaction happens here, before anything reaches SQLite:
 *   - SASL secrets are never kept in clear: the tokens of SaslAuthenticate
 *     (authBytes), raw SASL tokens after SaslHandshake v0 (EXCHANGE_SASL_RAW),
 *     delegation token HMACs and SCRAM salts/salted passwords
 *     (AlterUserScramCredentials) are replaced by "[redacted N bytes]" in the
 *     JSON and in the raw frame (re-encoded; a frame that does not decode is
 *     not kept at all). They are not hashed: a hash of a password can be
 *     brute-forced.
 *   - record values are kept, hashed ("sha256:<hex>") or dropped per
 *     store_opts.values; with hash/drop the raw frames holding values
 *     (Produce requests, Fetch responses) are not kept.
 *
 * Not thread-safe: one extract per thread. Pointers in the output are
 * valid until the next extract_exchange() call. */
#ifndef KT_EXTRACT_H
#define KT_EXTRACT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "store/store.h"
#include "stream/exchange.h"

struct extract_out {
	const char *client_id;      /* NULL when absent / null */
	size_t client_id_len;
	int error_code;             /* first non-zero error code of the response, else 0 */
	bool error_known;           /* the response decoded far enough to say */
	uint32_t flags;             /* EXCHANGE_REQ_MALFORMED / RESP_MALFORMED / UNSUPPORTED found */
	const uint8_t *request_raw; /* NULL: not kept */
	size_t request_raw_len;
	const uint8_t *response_raw;
	size_t response_raw_len;
	const char *request_json;   /* NULL when the body did not decode at all */
	size_t request_json_len;
	const char *response_json;
	size_t response_json_len;
	bool has_records;           /* extract_records() has something to walk */
	size_t nrecords;            /* how many records it walks */
};

/* One record for the records table. */
struct extract_record {
	bool fetch;                 /* false: produced (Produce request); true: fetched */
	const char *topic;          /* NULL when the message names topics by id */
	size_t topic_len;
	const char *topic_id;       /* URL-safe base64 uuid, or NULL */
	int32_t partition;
	bool has_offset;
	int64_t offset;             /* fetched: as the batch says (base offset + delta); produced:
				     * as the broker's response assigned; !has_offset: none
				     * (no response, an error, acks=0) */
	bool has_timestamp;
	int64_t timestamp;          /* ms since the epoch */
	const uint8_t *key;         /* NULL: null key */
	size_t key_len;
	int64_t key_size;           /* original length; -1 for null */
	const uint8_t *value;       /* NULL: null value, or dropped by redaction */
	size_t value_len;
	bool value_text;            /* value is text ("sha256:..."), not bytes */
	int64_t value_size;         /* original length; -1 for null */
	const char *headers_json;   /* JSON array of {"key","value"} objects, or NULL */
	size_t headers_json_len;
};

typedef bool (*extract_record_fn)(void *ctx, const struct extract_record *r);

struct extract;

struct extract *extract_new(const struct store_opts *o);
void extract_free(struct extract *e);
void extract_exchange(struct extract *e, const struct exchange *x, struct extract_out *out);
/* Call fn for every record of the last exchange; stops when fn returns false. */
void extract_records(struct extract *e, extract_record_fn fn, void *ctx);

#endif
